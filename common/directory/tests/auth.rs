//! authenticate(): hashes, status, privilege, delay, rate limit without password check,
//! fail2ban lines, no password in logs; cached lookups with the recipient delimiter.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gromox_directory::{AuthError, Authenticator, Directory};

const FAILREGEX: &str = r"rhost=\[(\S+)\]:\d+ user=\S* .* rejected: ";

fn setup(extra: &str) -> (common::Backend, Arc<Directory>) {
    let b = common::sqlite();
    b.add_config(extra);
    assert_eq!(b.dbop(&["-C"]).0, 0);
    b.ok(&["domain", "add", "example.org"]);
    b.ok(&["domain", "add", "closed.test"]);
    let (c, _, e) = b.admin(
        &[
            "user",
            "add",
            "alice@example.org",
            "--password-stdin",
            "--display-name",
            "Alice",
        ],
        "Sup3r-Secret!",
    );
    assert_eq!(c, 0, "{e}");
    b.admin(&["user", "add", "carol@closed.test", "--password-stdin"], "carolpw");
    b.admin(
        &[
            "user",
            "add",
            "shared@example.org",
            "--type",
            "shared",
            "--password-stdin",
        ],
        "sharedpw",
    );
    b.admin(
        &[
            "user",
            "add",
            "nomail@example.org",
            "--privileges",
            "smtp",
            "--password-stdin",
        ],
        "nomailpw",
    );
    b.ok(&["domain", "set", "closed.test", "--status", "suspended"]);
    let d = Arc::new(Directory::open(&b.config()).unwrap());
    (b, d)
}

fn peer() -> SocketAddr {
    "[::ffff:192.0.2.9]:40123".parse().unwrap()
}

#[test]
fn passwords_status_privileges_and_logs() {
    let (b, dir) = setup("auth_fail_delay = 300ms\n");
    let (log, buf) = common::capture_log();
    let auth = Authenticator::new(&b.config(), dir, log);

    let ok = auth
        .authenticate("Alice@Example.ORG", "Sup3r-Secret!", peer(), "LOGIN")
        .unwrap();
    assert_eq!(ok.user.username, "alice@example.org");
    assert!(!ok.via_ldap);
    assert_eq!(ok.user.display_name, "Alice");

    let t = Instant::now();
    assert_eq!(
        auth.authenticate("alice@example.org", "Sup3r-Secret?", peer(), "LOGIN")
            .unwrap_err(),
        AuthError::BadCredentials
    );
    assert!(t.elapsed() >= Duration::from_millis(300), "no failure delay");

    assert_eq!(
        auth.authenticate("nobody@example.org", "x", peer(), "LOGIN")
            .unwrap_err(),
        AuthError::BadCredentials
    );
    assert_eq!(
        auth.authenticate("carol@closed.test", "carolpw", peer(), "LOGIN")
            .unwrap_err(),
        AuthError::Disabled
    );
    assert_eq!(
        auth.authenticate("shared@example.org", "sharedpw", peer(), "LOGIN")
            .unwrap_err(),
        AuthError::Disabled
    );
    assert_eq!(
        auth.authenticate_for(
            "nomail@example.org",
            "nomailpw",
            peer(),
            "LOGIN",
            gromox_directory::model::PRIV_POP3_IMAP
        )
        .unwrap_err(),
        AuthError::NotPermitted
    );
    assert!(auth
        .authenticate_for(
            "nomail@example.org",
            "nomailpw",
            peer(),
            "AUTH",
            gromox_directory::model::PRIV_SMTP
        )
        .is_ok());
    assert_eq!(
        auth.authenticate("alice@example.org", "", peer(), "LOGIN").unwrap_err(),
        AuthError::BadCredentials
    );
    assert_eq!(
        auth.authenticate("a\r\nb", "x", peer(), "LOGIN").unwrap_err(),
        AuthError::BadCredentials
    );

    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    let re = regex::Regex::new(FAILREGEX).unwrap();
    let rejected: Vec<&str> = text.lines().filter(|l| l.contains("rejected: ")).collect();
    assert!(rejected.len() >= 6, "{text}");
    for l in &rejected {
        let m = re
            .captures(l)
            .unwrap_or_else(|| panic!("fail2ban regex does not match: {l}"));
        assert_eq!(&m[1], "192.0.2.9");
    }
    assert!(
        text.contains("user=alice@example.org LOGIN rejected: bad_password"),
        "{text}"
    );
    for pw in ["Sup3r-Secret", "carolpw", "sharedpw", "nomailpw"] {
        assert!(!text.contains(pw), "password {pw} in the log:\n{text}");
    }
    assert!(!text.contains("a\r\nb"), "log injection");
}

#[test]
fn impersonation_needs_the_actors_password_and_the_store_owner_right() {
    use gromox_directory::model::PRIV_POP3_IMAP;
    let (b, dir) = setup("auth_fail_delay = 0\n");
    let (log, buf) = common::capture_log();
    let auth = Authenticator::new(&b.config(), dir, log);
    // The store says: alice owns the shared mailbox, nobody owns alice's.
    let asked = std::sync::Mutex::new(Vec::new());
    let owner = |a: &gromox_directory::model::User, t: &gromox_directory::model::User| {
        asked.lock().unwrap().push((a.username.clone(), t.username.clone()));
        Ok(a.username == "alice@example.org" && t.username == "shared@example.org")
    };
    let login = |l: &str, pw: &str| auth.authenticate_mailbox(l, pw, peer(), "LOGIN", PRIV_POP3_IMAP, &owner);

    let ok = login("Alice@example.org!Shared@Example.org", "Sup3r-Secret!").unwrap();
    assert_eq!(ok.user.username, "shared@example.org");
    assert_eq!(ok.actor.as_deref(), Some("alice@example.org"));
    assert!(!ok.user.maildir.is_empty());
    // Without '!': an ordinary login; the same user on both sides: no rights check.
    let plain = login("alice@example.org", "Sup3r-Secret!").unwrap();
    assert_eq!((plain.user.username.as_str(), plain.actor), ("alice@example.org", None));
    let me = login("alice@example.org!alice@example.org", "Sup3r-Secret!").unwrap();
    assert_eq!(me.actor, None);
    assert_eq!(asked.lock().unwrap().len(), 1);

    // The shared mailbox's own password does not open it, and a wrong actor password is a
    // password failure (counted) before any rights are asked.
    assert_eq!(
        login("shared@example.org!shared@example.org", "sharedpw").unwrap_err(),
        AuthError::Disabled
    );
    assert_eq!(
        login("alice@example.org!shared@example.org", "wrong").unwrap_err(),
        AuthError::BadCredentials
    );
    assert_eq!(asked.lock().unwrap().len(), 1);
    // Right password, no right / no such mailbox / inactive domain: refused.
    assert_eq!(
        login("nomail@example.org!alice@example.org", "nomailpw").unwrap_err(),
        AuthError::NotPermitted,
        "the actor needs the IMAP/POP3 privilege itself"
    );
    let bob = b.admin(&["user", "add", "bob@example.org", "--password-stdin"], "bobpw");
    assert_eq!(bob.0, 0, "{}", bob.2);
    assert_eq!(
        login("bob@example.org!shared@example.org", "bobpw").unwrap_err(),
        AuthError::NotPermitted
    );
    assert_eq!(
        login("alice@example.org!ghost@example.org", "Sup3r-Secret!").unwrap_err(),
        AuthError::NotPermitted
    );
    assert_eq!(
        login("alice@example.org!carol@closed.test", "Sup3r-Secret!").unwrap_err(),
        AuthError::NotPermitted
    );
    assert_eq!(
        login("!shared@example.org", "x").unwrap_err(),
        AuthError::BadCredentials
    );
    // A store that cannot answer: a temporary failure, not a refusal.
    let broken = |_: &gromox_directory::model::User, _: &gromox_directory::model::User| Err("exmdb down".to_string());
    assert!(matches!(
        auth.authenticate_mailbox(
            "alice@example.org!shared@example.org",
            "Sup3r-Secret!",
            peer(),
            "LOGIN",
            PRIV_POP3_IMAP,
            &broken
        ),
        Err(AuthError::Temporary(_))
    ));

    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("user=bob@example.org!shared@example.org LOGIN rejected: no_store-owner_right"),
        "{text}"
    );
    assert!(text.contains("auth.impersonate"), "{text}");
    let re = regex::Regex::new(FAILREGEX).unwrap();
    for l in text.lines().filter(|l| l.contains("rejected: ")) {
        assert!(re.is_match(l), "fail2ban regex does not match: {l}");
    }
    for pw in ["Sup3r-Secret", "bobpw", "nomailpw"] {
        assert!(!text.contains(pw), "password {pw} in the log:\n{text}");
    }
}

#[test]
fn attempt_after_the_limit_is_refused_without_checking_the_password() {
    // An LDAP "server" that counts connections: checking an LDAP user's password would
    // connect to it.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let acc = accepted.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            acc.fetch_add(1, Ordering::SeqCst);
            drop(c);
        }
    });
    let (b, dir) = setup(&format!(
        "userfilter_rl_maxtries = 3\nuserfilter_rl_window = 1h\nldap_host = ldap://127.0.0.1:{port}\nldap_timeout = 300ms\n\
         userfilter_banlist = mallory@example.org 198.51.100.66\n"
    ));
    b.ok(&["user", "set", "nomail@example.org", "--externid", "nomail"]);
    let (log, buf) = common::capture_log();
    let auth = Authenticator::new(&b.config(), dir, log);

    // Per user: three failures, then even the right password is refused.
    for _ in 0..3 {
        assert_eq!(
            auth.authenticate("alice@example.org", "wrong", peer(), "LOGIN")
                .unwrap_err(),
            AuthError::BadCredentials
        );
    }
    assert_eq!(
        auth.authenticate("alice@example.org", "Sup3r-Secret!", peer(), "LOGIN")
            .unwrap_err(),
        AuthError::RateLimited
    );
    // From another address too (per-user limit).
    let other: SocketAddr = "203.0.113.5:1000".parse().unwrap();
    assert_eq!(
        auth.authenticate("alice@example.org", "Sup3r-Secret!", other, "LOGIN")
            .unwrap_err(),
        AuthError::RateLimited
    );

    // Per address: the same peer has 3 failures, so a different (LDAP) user from it is
    // refused and the LDAP server is never contacted.
    assert_eq!(
        auth.authenticate("nomail@example.org", "x", peer(), "LOGIN")
            .unwrap_err(),
        AuthError::RateLimited
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "password was checked against LDAP");
    // From a fresh address the LDAP user's password is checked (the server is contacted).
    let fresh: SocketAddr = "203.0.113.77:1000".parse().unwrap();
    assert!(matches!(
        auth.authenticate("nomail@example.org", "x", fresh, "LOGIN"),
        Err(AuthError::Temporary(_))
    ));
    assert!(accepted.load(Ordering::SeqCst) >= 1);

    // Ban list: by user and by address.
    assert_eq!(
        auth.authenticate("mallory@example.org", "x", fresh, "LOGIN")
            .unwrap_err(),
        AuthError::RateLimited
    );
    let banned: SocketAddr = "198.51.100.66:5".parse().unwrap();
    assert_eq!(
        auth.authenticate("alice@example.org", "x", banned, "LOGIN")
            .unwrap_err(),
        AuthError::RateLimited
    );

    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    let re = regex::Regex::new(FAILREGEX).unwrap();
    let limited: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("rejected: too_many_failed_attempts"))
        .collect();
    assert_eq!(limited.len(), 3, "{text}");
    for l in limited {
        assert!(re.is_match(l), "{l}");
    }
    assert!(
        text.contains("rhost=[198.51.100.66]:5 user=alice@example.org LOGIN rejected: on_the_ban_list"),
        "{text}"
    );
    assert!(!text.contains("Sup3r-Secret"));
}

#[test]
fn lookups_aliases_delimiter_cache_and_lists() {
    let (b, _) = setup("mysql_object_cache_lifetime = 1h\n");
    b.ok(&["alias", "add", "info@example.org", "alice@example.org"]);
    b.ok(&["altname", "add", "alice@example.org", "ALI"]);
    b.ok(&["server", "add", "store2.example.org"]);
    b.ok(&["user", "set", "alice@example.org", "--homeserver", "1"]);
    b.ok(&["user", "add", "eq@example.org", "--type", "equipment"]);
    b.ok(&[
        "mlist",
        "add",
        "all@example.org",
        "--type",
        "domain",
        "--privilege",
        "domain",
    ]);
    b.ok(&["mlist", "add", "team@example.org", "--privilege", "internal"]);
    b.ok(&["mlist", "member", "add", "team@example.org", "alice@example.org"]);
    let d = Directory::open(&b.config()).unwrap();
    for name in [
        "alice@example.org",
        "ALICE@EXAMPLE.ORG",
        "alice+news@example.org",
        "info@example.org",
        "Info+x@Example.org",
        "ali",
    ] {
        let u = d.lookup(name).unwrap().unwrap_or_else(|| panic!("{name} not found"));
        assert_eq!(u.username, "alice@example.org", "{name}");
    }
    assert!(d.lookup("alice-news@example.org").unwrap().is_none());
    assert!(d.lookup("+x@example.org").unwrap().is_none());
    assert!(d.lookup("../../etc/passwd").unwrap().is_none());
    assert!(d.lookup("x'; DROP TABLE users; --@example.org").unwrap().is_none());
    assert!(
        d.lookup("alice@example.org").unwrap().is_some(),
        "still there after the injection attempt"
    );
    assert_eq!(
        d.homeserver("alice@example.org").unwrap().as_deref(),
        Some("store2.example.org")
    );
    assert!(d
        .maildir("alice@example.org")
        .unwrap()
        .unwrap()
        .ends_with("/user/example.org/alice"));
    let shared = d.lookup("shared@example.org").unwrap().unwrap();
    assert!(shared.can_receive() && !shared.can_login());
    let carol = d.lookup("carol@closed.test").unwrap().unwrap();
    assert!(!carol.can_receive() && !carol.can_login());
    assert_eq!(d.lookup("eq@example.org").unwrap().unwrap().kind(), "equipment");
    assert_eq!(
        d.users(None, Some(gromox_directory::model::DT_EQUIPMENT))
            .unwrap()
            .len(),
        1
    );

    // Cached: a second round of lookups costs no SQL.
    let before = d.round_trips();
    for _ in 0..100 {
        d.lookup("alice+news@example.org").unwrap();
        d.lookup("nobody@example.org").unwrap();
    }
    assert!(
        d.round_trips() - before <= 3,
        "{} round trips",
        d.round_trips() - before
    );

    let all = d.mlist("all@example.org").unwrap().unwrap();
    assert!(
        all.members.contains(&"alice@example.org".to_string())
            && !all.members.contains(&"carol@closed.test".to_string())
    );
    assert!(d.mlist_may_send(&all, "bob@example.org").unwrap());
    assert!(!d.mlist_may_send(&all, "bob@elsewhere.test").unwrap());
    let team = d.mlist("team@example.org").unwrap().unwrap();
    assert_eq!(team.members, vec!["alice@example.org".to_string()]);
    assert!(d.mlist_may_send(&team, "info@example.org").unwrap());
    assert!(d.mlist_may_send(&team, "ALICE+x@example.org").unwrap());
    assert!(
        !d.mlist_may_send(&team, "nomail@example.org").unwrap(),
        "internal: members only"
    );
    assert!(!d.mlist_may_send(&team, "stranger@elsewhere.test").unwrap());
    d.forward_set(
        "alice@example.org",
        Some(&gromox_directory::model::Forward {
            forward_type: 1,
            destination: "a@elsewhere.test".into(),
        }),
    )
    .unwrap();
    assert_eq!(
        d.forward("alice@example.org").unwrap().unwrap().destination,
        "a@elsewhere.test"
    );
}

#[test]
fn ensure_demo_creates_once() {
    let b = common::sqlite();
    let cfg = b.config();
    assert!(gromox_directory::ensure_demo(&cfg, "demo.test", "demo", "demopw").unwrap());
    assert!(!gromox_directory::ensure_demo(&cfg, "demo.test", "demo", "demopw").unwrap());
    let d = Arc::new(Directory::open(&cfg).unwrap());
    let auth = Authenticator::new(&cfg, d, gromox_base::log::discard());
    assert!(auth.authenticate("demo@demo.test", "demopw", peer(), "LOGIN").is_ok());
}

#[test]
fn concurrent_logins_and_lookups_from_worker_threads() {
    let (b, dir) = setup("auth_fail_delay = 0\nmysql_object_cache_lifetime = 0\n");
    let auth = Arc::new(Authenticator::new(
        &b.config(),
        dir.clone(),
        gromox_base::log::discard(),
    ));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (auth, dir) = (auth.clone(), dir.clone());
            std::thread::spawn(move || {
                for _ in 0..4 {
                    let p: SocketAddr = format!("127.0.0.{}:1", i + 1).parse().unwrap();
                    assert!(auth
                        .authenticate("alice@example.org", "Sup3r-Secret!", p, "LOGIN")
                        .is_ok());
                    assert!(dir.lookup("alice+x@example.org").unwrap().is_some());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
