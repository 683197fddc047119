//! Golden tests of the POP3 session over the in-memory maildrop: request bytes in, response
//! bytes out, for every command, the errors, CAPA per state, force_tls, long lines,
//! pipelining, DELE+QUIT versus a dropped connection, and the maildrop lock.

use std::sync::{Arc, Mutex};

use pop3d::fuzzing::Driver;
use pop3d::maildrop::{Locks, MemAccounts, MemMaildrop};
use pop3d::session::{Settings, Shared};

const M1: &[u8] = b"From: a@example.org\r\nSubject: one\r\n\r\nbody 1\r\n.starts with dot\r\nline 3\r\nline 4\r\n";
const M2: &[u8] = b"Subject: two\r\n\r\nsecond\r\n";
const M3: &[u8] = b"Subject: three\r\n\r\nno final newline";

/// A log that captures its lines (for the `login rejected` line).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Env {
    shared: Arc<Shared>,
    drop: Arc<MemMaildrop>,
    log: Captured,
}

fn env(settings: Settings) -> Env {
    use slog::Drain;
    let log = Captured::default();
    let drain = slog_term_like(log.clone());
    let logger = slog::Logger::root(drain.fuse(), slog::o!());
    let drop = Arc::new(MemMaildrop::new());
    for m in [M1, M2, M3] {
        drop.deliver("/mem/alice", m);
    }
    let mut accounts = MemAccounts::new(Some(logger.clone()));
    accounts.add("alice", "secret pw", true);
    accounts.add("bob", "bobpw", false);
    Env {
        shared: Arc::new(Shared {
            settings,
            accounts: Arc::new(accounts),
            maildrop: drop.clone(),
            locks: Locks::default(),
            log: logger,
            metrics: Default::default(),
        }),
        drop,
        log,
    }
}

/// A minimal drain writing the message and key-values of each record as one line.
fn slog_term_like(w: Captured) -> impl slog::Drain<Ok = (), Err = slog::Never> {
    struct D(Mutex<Captured>);
    impl slog::Drain for D {
        type Ok = ();
        type Err = slog::Never;
        fn log(&self, r: &slog::Record<'_>, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
            use std::io::Write;
            let mut w = self.0.lock().unwrap();
            let _ = writeln!(w, "{}", r.msg());
            Ok(())
        }
    }
    D(Mutex::new(w))
}

fn login(d: &mut Driver) {
    assert_eq!(d.cmd("USER alice"), "+OK send your password\r\n");
    assert_eq!(d.cmd("PASS secret pw"), "+OK maildrop has 3 messages (137 octets)\r\n");
}

#[test]
fn greeting_capa_and_login_with_user_pass() {
    let e = env(Settings::default());
    let mut d = Driver::new(e.shared.clone(), false);
    assert_eq!(d.take(), b"+OK gromox-rs POP3 server ready\r\n");
    // No certificate: no STLS.
    assert_eq!(
        d.cmd("CAPA"),
        "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\nSASL PLAIN LOGIN\r\nIMPLEMENTATION gromox-rs\r\n.\r\n"
    );
    login(&mut d);
    assert_eq!(d.idle_timeout, Some(std::time::Duration::from_secs(600)));
    // Logged in: no login or STLS capabilities any more.
    assert_eq!(
        d.cmd("CAPA"),
        "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nIMPLEMENTATION gromox-rs\r\n.\r\n"
    );
    assert_eq!(d.cmd("QUIT"), "+OK bye\r\n");
    assert!(d.closed);
}

#[test]
fn capa_offers_stls_only_before_tls_and_login() {
    let e = env(Settings {
        tls_configured: true,
        ..Settings::default()
    });
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    assert!(d.cmd("CAPA").contains("\r\nSTLS\r\n"));
    d.send(b"STLS\r\nUSER injected\r\n");
    assert_eq!(d.take(), b"+OK begin TLS negotiation\r\n");
    assert!(d.starttls && d.pending.is_empty(), "plaintext after STLS is discarded");
    let caps = d.cmd("CAPA");
    assert!(!caps.contains("STLS") && caps.contains("USER"), "{caps}");
    assert_eq!(d.cmd("STLS"), "-ERR TLS is already active\r\n");
    // The USER before TLS was forgotten.
    assert_eq!(d.cmd("PASS secret pw"), "-ERR send USER first\r\n");
}

#[test]
fn force_tls_refuses_plaintext_login_clearly() {
    let e = env(Settings {
        force_tls: true,
        tls_configured: true,
        ..Settings::default()
    });
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    let caps = d.cmd("CAPA");
    assert!(
        !caps.contains("USER") && !caps.contains("SASL") && caps.contains("STLS"),
        "{caps}"
    );
    let refusal = "-ERR [AUTH] TLS required: use STLS before logging in\r\n";
    assert_eq!(d.cmd("USER alice"), refusal);
    assert_eq!(d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldCBwdw=="), refusal);
    assert_eq!(d.cmd("STLS"), "+OK begin TLS negotiation\r\n");
    assert!(d.cmd("CAPA").contains("USER"));
    login(&mut d);
    d.cmd("QUIT");
    // Implicit TLS (pop3_listen_tls) allows login at once.
    let mut d = Driver::new(e.shared.clone(), true);
    d.take();
    assert!(!d.cmd("CAPA").contains("STLS"));
    login(&mut d);
}

#[test]
fn stat_list_uidl_retr_top() {
    let e = env(Settings::default());
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    login(&mut d);
    assert_eq!(d.cmd("STAT"), "+OK 3 137\r\n");
    assert_eq!(
        d.cmd("LIST"),
        "+OK 3 messages (137 octets)\r\n1 79\r\n2 24\r\n3 34\r\n.\r\n"
    );
    assert_eq!(d.cmd("LIST 2"), "+OK 2 24\r\n");
    assert_eq!(
        d.cmd("UIDL"),
        "+OK unique-id listing follows\r\n1 1700000000.1\r\n2 1700000000.2\r\n3 1700000000.3\r\n.\r\n"
    );
    assert_eq!(d.cmd("UIDL 3"), "+OK 3 1700000000.3\r\n");
    // RETR: dot-stuffed, terminated.
    assert_eq!(
        d.cmd("RETR 1"),
        "+OK 79 octets\r\nFrom: a@example.org\r\nSubject: one\r\n\r\nbody 1\r\n..starts with dot\r\nline 3\r\nline 4\r\n.\r\n"
    );
    // A message without a final line end gets one before the terminator.
    assert_eq!(
        d.cmd("RETR 3"),
        "+OK 34 octets\r\nSubject: three\r\n\r\nno final newline\r\n.\r\n"
    );
    assert_eq!(
        d.cmd("TOP 1 2"),
        "+OK top of message follows\r\nFrom: a@example.org\r\nSubject: one\r\n\r\nbody 1\r\n..starts with dot\r\n.\r\n"
    );
    assert_eq!(
        d.cmd("TOP 1 0"),
        "+OK top of message follows\r\nFrom: a@example.org\r\nSubject: one\r\n\r\n.\r\n"
    );
    assert_eq!(
        d.cmd("TOP 2 100"),
        format!(
            "+OK top of message follows\r\n{}.\r\n",
            std::str::from_utf8(M2).unwrap()
        )
    );
    assert_eq!(d.cmd("NOOP"), "+OK\r\n");
}

#[test]
fn errors_inside_the_protocol() {
    let e = env(Settings::default());
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    assert_eq!(d.cmd("STAT"), "-ERR log in first\r\n");
    assert_eq!(d.cmd("PASS x"), "-ERR send USER first\r\n");
    assert_eq!(d.cmd("APOP alice 0123"), "-ERR unknown command\r\n");
    assert_eq!(
        d.cmd("AUTH CRAM-MD5"),
        "-ERR unsupported SASL mechanism (PLAIN and LOGIN are)\r\n"
    );
    assert_eq!(d.cmd("AUTH"), "+OK SASL mechanisms follow\r\nPLAIN\r\nLOGIN\r\n.\r\n");
    login(&mut d);
    assert_eq!(d.cmd("RETR 4"), "-ERR no such message, only 3 in maildrop\r\n");
    assert_eq!(d.cmd("RETR 0"), "-ERR bad arguments: no such message number\r\n");
    assert_eq!(d.cmd("LIST x"), "-ERR bad arguments: message number expected\r\n");
    assert_eq!(
        d.cmd("TOP 1"),
        "-ERR bad arguments: TOP takes a message number and a line count\r\n"
    );
    assert_eq!(d.cmd("USER bob"), "-ERR already logged in\r\n");
    assert_eq!(d.cmd("STLS"), "-ERR STLS is only allowed before login\r\n");
    assert_eq!(d.cmd("STAT"), "+OK 3 137\r\n", "errors did not disturb the session");
}

#[test]
fn dele_rset_and_quit_removes_atomically() {
    let e = env(Settings::default());
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    login(&mut d);
    assert_eq!(d.cmd("DELE 1"), "+OK message 1 deleted\r\n");
    assert_eq!(d.cmd("DELE 1"), "-ERR message 1 already deleted\r\n");
    assert_eq!(d.cmd("RETR 1"), "-ERR message 1 already deleted\r\n");
    assert_eq!(d.cmd("LIST 1"), "-ERR message 1 already deleted\r\n");
    assert_eq!(d.cmd("STAT"), "+OK 2 58\r\n");
    // Message numbers do not change; deleted ones are left out of listings.
    assert_eq!(d.cmd("LIST"), "+OK 2 messages (58 octets)\r\n2 24\r\n3 34\r\n.\r\n");
    assert_eq!(d.cmd("RSET"), "+OK maildrop has 3 messages (137 octets)\r\n");
    assert_eq!(d.cmd("STAT"), "+OK 3 137\r\n");
    assert_eq!(d.cmd("DELE 2"), "+OK message 2 deleted\r\n");
    assert_eq!(d.cmd("DELE 3"), "+OK message 3 deleted\r\n");
    assert_eq!(e.drop.uids("/mem/alice"), vec![1, 2, 3], "nothing removed before QUIT");
    assert_eq!(d.cmd("QUIT"), "+OK bye, 2 messages removed, 1 left\r\n");
    assert_eq!(e.drop.uids("/mem/alice"), vec![1]);
    assert!(!e.shared.locks.is_locked("/mem/alice"));
    // The next session sees the remaining message with the same UIDL.
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    d.cmd("USER alice");
    assert_eq!(d.cmd("PASS secret pw"), "+OK maildrop has 1 messages (79 octets)\r\n");
    assert_eq!(d.cmd("UIDL 1"), "+OK 1 1700000000.1\r\n");
}

#[test]
fn dropped_connection_or_timeout_removes_nothing() {
    let e = env(Settings::default());
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    login(&mut d);
    d.cmd("DELE 1");
    d.cmd("DELE 2");
    d.drop_connection();
    assert_eq!(e.drop.uids("/mem/alice"), vec![1, 2, 3]);
    assert!(!e.shared.locks.is_locked("/mem/alice"), "lock released");
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    login(&mut d);
    d.cmd("DELE 3");
    assert_eq!(
        d.time_out(),
        "-ERR autologout: idle for too long, closing connection\r\n"
    );
    assert!(d.closed);
    assert_eq!(e.drop.uids("/mem/alice"), vec![1, 2, 3]);
}

#[test]
fn update_failure_is_reported_and_keeps_mail() {
    let e = env(Settings::default());
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    login(&mut d);
    d.cmd("DELE 1");
    e.drop.fail.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        d.cmd("QUIT"),
        "-ERR [SYS/TEMP] deleted messages could not be removed\r\n"
    );
    e.drop.fail.store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(e.drop.uids("/mem/alice"), vec![1, 2, 3]);
    // A store failure at login is a temporary error, not a crash.
    e.drop.fail.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    d.cmd("USER alice");
    assert_eq!(
        d.cmd("PASS secret pw"),
        "-ERR [SYS/TEMP] cannot open the maildrop, try again later\r\n"
    );
    assert!(!d.closed);
    assert!(!e.shared.locks.is_locked("/mem/alice"));
}

#[test]
fn second_session_is_refused_in_use() {
    let e = env(Settings::default());
    let mut a = Driver::new(e.shared.clone(), false);
    a.take();
    login(&mut a);
    let mut b = Driver::new(e.shared.clone(), false);
    b.take();
    b.cmd("USER alice");
    assert_eq!(
        b.cmd("PASS secret pw"),
        "-ERR [IN-USE] another POP3 session is using this maildrop\r\n"
    );
    assert!(!b.closed);
    assert_eq!(a.cmd("QUIT"), "+OK bye\r\n");
    b.cmd("USER alice");
    assert_eq!(b.cmd("PASS secret pw"), "+OK maildrop has 3 messages (137 octets)\r\n");
}

#[test]
fn failed_logins_are_logged_and_close_after_the_limit() {
    let e = env(Settings::default());
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    d.cmd("USER alice");
    assert_eq!(d.cmd("PASS wrong"), "-ERR [AUTH] authentication failed\r\n");
    // The privilege bit / account status: bob is not permitted.
    d.cmd("USER bob");
    assert_eq!(
        d.cmd("PASS bobpw"),
        "-ERR [AUTH] this account may not use POP3 or open that mailbox\r\n"
    );
    assert!(!d.closed);
    d.cmd("USER nobody");
    assert_eq!(
        d.cmd("PASS x"),
        "-ERR [AUTH] authentication failed\r\n-ERR [AUTH] too many failed logins, closing connection\r\n"
    );
    assert!(d.closed);
    let log = String::from_utf8(e.log.0.lock().unwrap().clone()).unwrap();
    assert_eq!(log.matches("POP3 login rejected").count(), 3, "{log}");
    assert!(log.contains("user=alice POP3 login rejected: bad_password"), "{log}");
    assert!(!log.contains("wrong"), "password logged: {log}");
    assert_eq!(e.shared.metrics.auth_failures(), 3);
    let m = e.shared.metrics.render();
    assert!(m.contains(r#"command="PASS",status="ERR"} 3"#), "{m}");
    assert!(m.contains(r#"command="USER",status="OK"} 3"#), "{m}");
}

#[test]
fn sasl_plain_and_login() {
    let e = env(Settings::default());
    // PLAIN with initial response: "\0alice\0secret pw".
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    assert_eq!(
        d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldCBwdw=="),
        "+OK maildrop has 3 messages (137 octets)\r\n"
    );
    d.cmd("QUIT");
    // PLAIN with continuation, authzid = authcid.
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    assert_eq!(d.cmd("AUTH PLAIN"), "+ \r\n");
    assert_eq!(
        d.cmd("YWxpY2UAYWxpY2UAc2VjcmV0IHB3"),
        "+OK maildrop has 3 messages (137 octets)\r\n"
    );
    d.cmd("QUIT");
    // LOGIN.
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    assert_eq!(d.cmd("AUTH LOGIN"), "+ VXNlcm5hbWU6\r\n");
    assert_eq!(d.cmd("YWxpY2U="), "+ UGFzc3dvcmQ6\r\n");
    assert_eq!(d.cmd("c2VjcmV0IHB3"), "+OK maildrop has 3 messages (137 octets)\r\n");
    d.cmd("QUIT");
    // Cancelled, malformed, another authorization identity.
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    d.cmd("AUTH PLAIN");
    assert_eq!(d.cmd("*"), "-ERR authentication cancelled\r\n");
    d.cmd("AUTH PLAIN");
    assert_eq!(d.cmd("!!notbase64"), "-ERR malformed SASL response\r\n");
    // "bob\0alice\0secret pw": alice opening bob's mailbox (`alice!bob`), which these
    // accounts do not allow.
    assert_eq!(
        d.cmd("AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldCBwdw=="),
        "-ERR [AUTH] authentication failed\r\n"
    );
    // "bob\0alice!carol\0secret pw": both forms at once.
    assert_eq!(
        d.cmd("AUTH PLAIN Ym9iAGFsaWNlIWNhcm9sAHNlY3JldCBwdw=="),
        "-ERR [AUTH] use either an authorization identity or user!mailbox\r\n"
    );
    assert_eq!(d.cmd("STAT"), "-ERR log in first\r\n");
}

#[test]
fn long_lines_are_refused_and_the_session_goes_on() {
    let e = env(Settings::default());
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    let long = "X".repeat(100_000);
    // Sent in pieces, as a network would: discarded as it arrives, answered once.
    d.send(b"USER ");
    for c in long.as_bytes().chunks(4096) {
        d.send(c);
    }
    d.send(b"\r\nCAPA\r\n");
    let out = String::from_utf8(d.take()).unwrap();
    assert!(
        out.starts_with("-ERR line too long\r\n+OK capability list follows\r\n"),
        "{out}"
    );
    assert!(d.pending.len() < 8192);
}

#[test]
fn too_many_errors_close_the_connection() {
    let e = env(Settings {
        max_errors: 3,
        ..Settings::default()
    });
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    d.cmd("XYZZ");
    d.cmd("XYZZ");
    assert_eq!(
        d.cmd("XYZZ"),
        "-ERR unknown command\r\n-ERR too many errors, closing connection\r\n"
    );
    assert!(d.closed);
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let e = env(Settings::default());
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    d.send(b"USER alice\r\nPASS secret pw\r\nSTAT\r\nRETR 2\r\nDELE 2\r\nUIDL\r\nLIST 2\r\nQUIT\r\n");
    let out = String::from_utf8(d.take()).unwrap();
    assert_eq!(
        out,
        "+OK send your password\r\n+OK maildrop has 3 messages (137 octets)\r\n+OK 3 137\r\n\
         +OK 24 octets\r\nSubject: two\r\n\r\nsecond\r\n.\r\n+OK message 2 deleted\r\n\
         +OK unique-id listing follows\r\n1 1700000000.1\r\n3 1700000000.3\r\n.\r\n\
         -ERR message 2 already deleted\r\n+OK bye, 1 messages removed, 2 left\r\n"
    );
    assert_eq!(e.drop.uids("/mem/alice"), vec![1, 3]);
}

#[test]
fn big_listing_and_big_message_stream_in_chunks() {
    let e = env(Settings::default());
    for _ in 0..20_000 {
        e.drop.deliver("/mem/alice", b"Subject: x\r\n\r\ny\r\n");
    }
    let big: Vec<u8> = (0..200_000)
        .flat_map(|i| format!(".line {i}\r\n").into_bytes())
        .collect();
    let big_uid = e.drop.deliver("/mem/alice", &big);
    let mut d = Driver::new(e.shared.clone(), false);
    d.take();
    d.cmd("USER alice");
    d.cmd("PASS secret pw");
    let uidl = d.cmd("UIDL");
    assert_eq!(uidl.lines().count(), 20_004 + 2);
    assert!(uidl.ends_with(&format!("20004 1700000000.{big_uid}\r\n.\r\n")));
    let out = d.cmd(&format!("RETR {big_uid}"));
    let body = out.split_once("\r\n").unwrap().1.strip_suffix(".\r\n").unwrap();
    // Un-stuffing gives back the stored bytes.
    let unstuffed: Vec<u8> = body
        .split_inclusive("\r\n")
        .flat_map(|l| l.strip_prefix('.').unwrap_or(l).as_bytes().to_vec())
        .collect();
    assert_eq!(unstuffed, big);
}
