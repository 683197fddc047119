//! `gromox up` end to end: configuration written once, daemons started and supervised,
//! a SIGKILLed daemon restarted, everything stopped by SIGTERM.

use std::fs;
use std::time::Duration;

use gromox_testkit::{bin, wait_until, Daemon, TestDir};

fn pid_of(dir: &std::path::Path, daemon: &str) -> Option<i32> {
    fs::read_to_string(dir.join("run").join(format!("{daemon}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// A plain HTTP/1.1 GET; the whole response as text (empty on failure).
fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn up_starts_supervises_and_stops_the_suite() {
    // The placeholders are part of every build of the workspace.
    let _ = bin("imapd");
    let dir = TestDir::new();
    let state = dir.path().join("state");
    let state_s = state.to_str().unwrap().to_string();
    let mut suite = Daemon::start(&bin("gromox"), &["up", "--state", &state_s, "--any-port"], dir.path()).unwrap();

    // Configuration and certificate exist and are what the daemons read.
    let cfg = fs::read_to_string(state.join("etc/gromox.cfg")).unwrap();
    assert!(cfg.contains(&format!("state_path = {state_s}")), "{cfg}");
    assert!(fs::read_to_string(state.join("etc/imap.cfg"))
        .unwrap()
        .contains("imap_listen = 127.0.0.1:0"));
    assert!(fs::read_to_string(state.join("etc/tls/cert.pem"))
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    let out = suite.output();
    assert!(
        out.contains("imapd") && out.contains("ready; Ctrl-C stops the suite"),
        "{out}"
    );

    // Mail for the demo user, delivered over the suite's LMTP listener by swaks, lands in the
    // demo mailbox (and an unknown recipient is refused).
    let lmtp = suite.addr("lda_listen");
    let swaks = std::process::Command::new("swaks")
        .args([
            "--protocol",
            "LMTP",
            "--server",
            &lmtp.ip().to_string(),
            "--port",
            &lmtp.port().to_string(),
        ])
        .args([
            "--from",
            "someone@example.net",
            "--to",
            "demo@example.org,nobody@example.org",
        ])
        .args(["--header", "Subject: hello from swaks", "--body", "first mail"])
        .output()
        .expect("swaks (Debian package swaks) is installed");
    let transcript = String::from_utf8_lossy(&swaks.stdout);
    assert!(transcript.contains("<** 550 5.1.1"), "{transcript}");
    assert!(
        transcript.contains("<-  250 2.1.5 <demo@example.org> delivered"),
        "{transcript}"
    );
    let inbox = exmdbd::Store::open(&state.join("user/example.org/demo"), &Default::default())
        .unwrap()
        .list_messages(0x0d, false)
        .unwrap();
    assert_eq!(inbox.len(), 1, "{transcript}");

    // The demo user reads that mail over IMAP and POP3 (imapd and pop3d over midbd over exmdbd).
    let password = fs::read_to_string(state.join("etc/demo-password")).unwrap();
    let (imap, pop3) = (suite.addr("imap_listen"), suite.addr("pop3_listen"));
    let script = r#"
import imaplib, poplib, sys
host, iport, pport, pw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
m = imaplib.IMAP4(host, iport)
m.login("demo@example.org", pw)
typ, d = m.select("INBOX")
print("IMAP", d[0].decode())
typ, d = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print("IMAP", d[0][1].decode().strip())
m.logout()
p = poplib.POP3(host, pport)
p.user("demo@example.org")
p.pass_(pw)
print("POP3", p.stat()[0])
print("POP3", b"\n".join(p.retr(1)[1]).decode().count("first mail"))
p.quit()
"#;
    let out = std::process::Command::new(gromox_testkit::python())
        .args([
            "-c",
            script,
            &imap.ip().to_string(),
            &imap.port().to_string(),
            &pop3.port().to_string(),
        ])
        .arg(password.trim())
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        suite.output()
    );
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["IMAP 1", "IMAP Subject: hello from swaks", "POP3 1", "POP3 1"],
        "{text}"
    );
    // curl (Debian package) reads it over POP3 and IMAP too.
    for url in [format!("pop3://{pop3}/1"), format!("imap://{imap}/INBOX;UID=1")] {
        let out = std::process::Command::new("curl")
            .args(["-s", "--max-time", "10", "--user"])
            .arg(format!("demo@example.org:{}", password.trim()))
            .arg(&url)
            .output()
            .expect("curl (Debian package curl) is installed");
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && body.contains("Subject: hello from swaks") && body.contains("first mail"),
            "{url}: {body}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // ... and the daemons behind it counted their commands (httpd's /metrics serves them all).
    let mut metrics = String::new();
    let counted = wait_until(Duration::from_secs(25), || {
        metrics = http_get(suite.addr("http_listen"), "/metrics");
        [
            "gromox_imap_requests_total{command=\"LOGIN\",status=\"OK\"} ",
            "gromox_pop3_requests_total{",
            "gromox_midb_connections_open ",
            "gromox_exmdb_requests_total{command=\"ListMessages\",status=\"OK\"}",
        ]
        .iter()
        .all(|m| metrics.contains(m))
    });
    assert!(counted, "{metrics}");

    // httpd's /metrics serves every daemon's connection counters, not only its own.
    let http = suite.addr("http_listen");
    let mut metrics = String::new();
    // Per-command counters too: swaks' refused RCPT, and lmtpd's new-mail announcement that
    // eventd received (the export runs every metrics_interval = 10 s).
    let all_there = wait_until(Duration::from_secs(25), || {
        metrics = http_get(http, "/metrics");
        let prefixes = [
            "gromox_http_",
            "gromox_lda_",
            "gromox_event_",
            "gromox_timer_",
            "gromox_exmdb_",
        ];
        prefixes
            .iter()
            .all(|p| metrics.contains(&format!("{p}connections_open ")) && metrics.contains(&format!("{p}workers ")))
            && metrics.contains("gromox_lda_requests_total{command=\"RCPT\",status=\"5xx\"} 1\n")
            && metrics.contains("gromox_event_requests_total{command=\"FOLDER-TOUCH\",status=\"TRUE\"} ")
    });
    assert!(all_there, "{metrics}");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");

    // Python's smtplib.LMTP delivers to two mailboxes and an unknown address in one
    // transaction: one answer per recipient (RFC 2033 §4.2), each copy in its own Inbox.
    gromox_tools::install_store_hooks();
    let dcfg = gromox_base::Config::load(
        "gromox",
        Some(&state.join("etc/gromox.cfg")),
        gromox_directory::CONFIG_FILES,
        &gromox_directory::config_keys(),
    )
    .unwrap();
    gromox_directory::ensure_demo(&dcfg, "example.org", "bob@example.org", "bob pw 123").unwrap();
    let script = r#"
import smtplib, sys
s = smtplib.LMTP(sys.argv[1], int(sys.argv[2]))
s.ehlo_or_helo_if_needed()
s.mail("someone@example.net")
for r in ["demo@example.org", "bob@example.org", "nobody@example.org"]:
    print("RCPT", r, s.rcpt(r)[0])
print("DATA", s.data(b"Subject: to two\r\n\r\nhello both\r\n")[0])
print("DATA", s.getreply()[0])
s.quit()
"#;
    let out = std::process::Command::new(gromox_testkit::python())
        .args(["-c", script, &lmtp.ip().to_string(), &lmtp.port().to_string()])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "RCPT demo@example.org 250",
            "RCPT bob@example.org 250",
            "RCPT nobody@example.org 550",
            "DATA 250",
            "DATA 250"
        ],
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (user, n) in [("demo", 2), ("bob", 1)] {
        let store = exmdbd::Store::open(&state.join(format!("user/example.org/{user}")), &Default::default()).unwrap();
        let subjects: Vec<String> = store
            .list_messages(0x0d, false)
            .unwrap()
            .into_iter()
            .filter_map(|m| store.read_message(m).ok())
            .filter_map(|m| {
                m.get(gromox_mapi::tags::PR_SUBJECT)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(subjects.len(), n, "{user}: {subjects:?}");
        assert!(subjects.contains(&"to two".to_string()), "{user}: {subjects:?}");
    }

    // A daemon killed with SIGKILL is restarted.
    let pid = pid_of(&state, "imapd").expect("imapd pid file");
    assert!(alive(pid));
    // SAFETY: kill(2) on a pid our child (the launcher) started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(
        wait_until(Duration::from_secs(15), || pid_of(&state, "imapd")
            .is_some_and(|p| p != pid && alive(p))),
        "imapd was not restarted; launcher output:\n{}",
        suite.output()
    );
    assert!(suite.output().contains("imapd restarted"));

    // SIGTERM stops every child and the launcher itself.
    let children: Vec<i32> = gromox_launcher::DAEMONS
        .iter()
        .filter_map(|(d, _)| pid_of(&state, d))
        .collect();
    assert!(!children.is_empty());
    let status = suite
        .terminate(Duration::from_secs(20))
        .expect("launcher did not stop on SIGTERM");
    assert!(status.success(), "{status}");
    for p in children {
        // Children are reaped by the launcher, so they are gone, not zombies.
        assert!(!alive(p), "child {p} still running after the launcher stopped");
    }

    // A second start keeps the operator's edits.
    fs::write(state.join("etc/gromox.cfg"), format!("{cfg}# operator was here\n")).unwrap();
    let mut again = Daemon::start(&bin("gromox"), &["up", "--state", &state_s, "--any-port"], dir.path()).unwrap();
    assert!(fs::read_to_string(state.join("etc/gromox.cfg"))
        .unwrap()
        .contains("operator was here"));
    again.terminate(Duration::from_secs(20));
}

#[test]
fn bad_arguments_are_refused() {
    let out = std::process::Command::new(bin("gromox"))
        .args(["up", "--port-offset", "99999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--port-offset"));
    let out = std::process::Command::new(bin("gromox"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
