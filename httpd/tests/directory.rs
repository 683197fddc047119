//! httpd authenticates against the user directory (gromox-directory): a directory user gets
//! AutoDiscover with the display name from the directory, a wrong password is refused with
//! exactly one fail2ban line (written by the directory's authenticator, not twice), and httpd
//! starts and serves before the directory exists (logins then get 503, not 401).

mod common;

use common::*;

fn pox_for(email: &str) -> Vec<u8> {
    String::from_utf8(include_bytes!("fixtures/pox-request.xml").to_vec())
        .unwrap()
        .replace("alice@example.org", email)
        .into_bytes()
}

fn directory_at(state: &std::path::Path) -> gromox_base::Config {
    let mut cfg = gromox_base::Config::defaults("test", &gromox_directory::config_keys());
    cfg.set("state_path", state.to_str().unwrap()).unwrap();
    cfg
}

#[test]
fn autodiscover_for_a_directory_user() {
    let h = start("", |etc| {
        let state = etc.parent().unwrap();
        assert!(gromox_directory::ensure_demo(&directory_at(state), "example.org", "demo", "demo pass 1").unwrap());
        std::fs::write(
            etc.join("http.cfg"),
            format!("state_path = {}\nhttp_users_file =\n", state.display()),
        )
        .unwrap();
    });
    let path = "/autodiscover/autodiscover.xml";
    let r = post(
        h.addr,
        path,
        &basic("demo@example.org", "demo pass 1"),
        &pox_for("demo@example.org"),
    );
    assert_eq!(r.status, 200, "{}", r.head);
    let x = r.text();
    assert!(
        x.contains("<AutoDiscoverSMTPAddress>demo@example.org</AutoDiscoverSMTPAddress>"),
        "{x}"
    );

    let r = post(
        h.addr,
        path,
        &basic("demo@example.org", "wrong"),
        &pox_for("demo@example.org"),
    );
    assert_eq!(r.status, 401);
    let log = h.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("rejected:")).collect();
    assert_eq!(lines.len(), 1, "expected one fail2ban line, got:\n{log}");
    assert!(
        lines[0].contains("user=demo@example.org HTTP auth rejected: "),
        "{}",
        lines[0]
    );
    assert!(
        !log.contains("demo pass 1") && !log.contains("wrong"),
        "a password reached the log:\n{log}"
    );
}

#[test]
fn starts_without_a_directory_and_answers_503_to_logins() {
    let h = start("", |etc| {
        let state = etc.parent().unwrap().join("empty-state");
        std::fs::write(
            etc.join("http.cfg"),
            format!("state_path = {}\nhttp_users_file =\n", state.display()),
        )
        .unwrap();
    });
    let r = get(h.addr, "/.well-known/caldav", "");
    assert_eq!(r.status, 301);
    let r = post(
        h.addr,
        "/autodiscover/autodiscover.xml",
        &basic("demo@example.org", "x"),
        &pox_for("demo@example.org"),
    );
    assert_eq!(r.status, 503, "{}", r.head);
}
