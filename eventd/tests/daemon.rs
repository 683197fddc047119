//! eventd over real TCP: the real binary on 127.0.0.1, port 0, temporary configuration.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use gromox_clients::event::{EventClient, EventListener};
use gromox_testkit::{Daemon, LineClient, TestDir};

fn write_cfg(dir: &TestDir, extra: &[(&str, &str)]) -> std::path::PathBuf {
    let dirs = dir.path().display().to_string();
    let mut keys = vec![
        ("config_file_path", dirs.as_str()),
        ("state_path", dirs.as_str()),
        ("event_listen", "127.0.0.1:0"),
        ("event_hosts_allow", "127.0.0.1"),
        ("eventd_log_level", "debug"),
    ];
    keys.extend_from_slice(extra);
    dir.write_config("event.cfg", &keys)
}

fn start(dir: &TestDir, extra: &[(&str, &str)]) -> Daemon {
    let cfg = write_cfg(dir, extra);
    Daemon::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_eventd")),
        &["-c", cfg.to_str().unwrap()],
        dir.path(),
    )
    .expect("eventd starts")
}

fn greet(addr: SocketAddr) -> LineClient {
    let mut c = LineClient::connect(addr).unwrap();
    assert_eq!(c.read_line().unwrap().as_deref(), Some("OK"));
    c
}

/// Read one line, or `None` if nothing arrives within `wait`.
fn try_read(c: &mut LineClient, wait: Duration) -> Option<String> {
    c.stream().set_read_timeout(Some(wait)).unwrap();
    let r = match c.read_line() {
        Ok(l) => l,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        Err(e) => panic!("read: {e}"),
    };
    c.stream().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    r
}

#[test]
fn broadcast_reaches_other_listeners_not_the_sender() {
    let dir = TestDir::new();
    let d = start(&dir, &[]);
    let addr = d.addr("event_listen");

    // Process A (imap:1) and process B (imap:2): one listener and one command connection each.
    let mut la = greet(addr);
    assert_eq!(la.cmd("LISTEN imap:1").unwrap(), "TRUE");
    let mut ca = greet(addr);
    assert_eq!(ca.cmd("ID imap:1").unwrap(), "TRUE");
    assert_eq!(ca.cmd("SELECT alice@example.org inbox").unwrap(), "TRUE");
    let mut lb = greet(addr);
    assert_eq!(lb.cmd("LISTEN imap:2").unwrap(), "TRUE");
    let mut cb = greet(addr);
    assert_eq!(cb.cmd("ID imap:2").unwrap(), "TRUE");
    assert_eq!(cb.cmd("SELECT Alice@Example.ORG inbox").unwrap(), "TRUE");

    // B touches the folder: A hears it, B does not.
    assert_eq!(cb.cmd("FOLDER-TOUCH alice@example.org inbox").unwrap(), "TRUE");
    assert_eq!(la.cmd_reply_line(), "FOLDER-TOUCH alice@example.org inbox");
    la.send("TRUE").unwrap();
    assert_eq!(try_read(&mut lb, Duration::from_millis(500)), None);

    // A expunges: B hears that first (so B's own earlier event was never queued for it).
    assert_eq!(ca.cmd("MESSAGE-EXPUNGE alice@example.org inbox 17").unwrap(), "TRUE");
    assert_eq!(
        lb.read_line().unwrap().as_deref(),
        Some("MESSAGE-EXPUNGE alice@example.org inbox 17")
    );
    lb.send("TRUE").unwrap();

    // Other folders and unselected folders are not delivered.
    assert_eq!(ca.cmd("FOLDER-TOUCH alice@example.org Sent").unwrap(), "TRUE");
    assert_eq!(ca.cmd("UNSELECT alice@example.org inbox").unwrap(), "TRUE");
    assert_eq!(cb.cmd("FOLDER-TOUCH alice@example.org inbox").unwrap(), "TRUE");
    assert_eq!(try_read(&mut lb, Duration::from_millis(300)), None);
    assert_eq!(try_read(&mut la, Duration::from_millis(300)), None);

    // Garbage and over-long lines get FALSE; the session continues.
    assert_eq!(ca.cmd("HELLO there").unwrap(), "FALSE");
    assert_eq!(ca.cmd("FOLDER-TOUCH onlyuser").unwrap(), "FALSE");
    assert_eq!(ca.cmd(&"X".repeat(100_000)).unwrap(), "FALSE");
    assert_eq!(ca.cmd("PING").unwrap(), "TRUE");
    // SELECT without a listener for the id is refused, as in Gromox.
    let mut cc = greet(addr);
    assert_eq!(cc.cmd("ID nobody:9").unwrap(), "TRUE");
    assert_eq!(cc.cmd("SELECT alice@example.org inbox").unwrap(), "FALSE");
    assert_eq!(cc.cmd("QUIT").unwrap(), "BYE");
    assert_eq!(cc.read_line().unwrap(), None);
}

trait ReadOne {
    fn cmd_reply_line(&mut self) -> String;
}
impl ReadOne for LineClient {
    fn cmd_reply_line(&mut self) -> String {
        self.read_line().unwrap().expect("a line")
    }
}

#[test]
fn clients_outside_hosts_allow_are_refused() {
    let dir = TestDir::new();
    let d = start(&dir, &[("event_hosts_allow", "127.0.0.2")]);
    let mut c = LineClient::connect(d.addr("event_listen")).unwrap();
    assert_eq!(c.read_line().unwrap().as_deref(), Some("FALSE Access denied"));
    assert_eq!(c.read_line().unwrap(), None, "connection closed after the refusal");
    assert!(gromox_testkit::wait_until(Duration::from_secs(5), || d
        .output()
        .contains("acl.refused")));
    // The client library reports the refusal.
    match EventClient::connect(d.addr("event_listen"), "imapd:1", Duration::from_secs(5)) {
        Err(gromox_clients::ClientError::Refused(line)) => assert_eq!(line, "FALSE Access denied"),
        other => panic!("expected a refusal, got {:?}", other.err()),
    }
}

#[test]
fn sighup_reloads_hosts_allow_and_sigterm_stops() {
    let dir = TestDir::new();
    let mut d = start(&dir, &[("event_hosts_allow", "127.0.0.2")]);
    let addr = d.addr("event_listen");
    let mut c = LineClient::connect(addr).unwrap();
    assert_eq!(c.read_line().unwrap().as_deref(), Some("FALSE Access denied"));
    // The operator widens the list and sends SIGHUP (same port: the daemon keeps running).
    let port = addr.port().to_string();
    let listen = format!("127.0.0.1:{port}");
    write_cfg(
        &dir,
        &[("event_listen", listen.as_str()), ("event_hosts_allow", "127.0.0.0/8")],
    );
    d.signal(1); // SIGHUP
    assert!(gromox_testkit::wait_until(Duration::from_secs(10), || d
        .output()
        .contains("config.reload")));
    let mut c = greet(addr);
    assert_eq!(c.cmd("PING").unwrap(), "TRUE");
    let status = d.terminate(Duration::from_secs(20)).expect("exits on SIGTERM");
    assert!(status.success(), "{status}");
}

#[test]
fn idle_listeners_are_pinged() {
    let dir = TestDir::new();
    let d = start(&dir, &[("event_ping_interval", "300ms")]);
    let addr = d.addr("event_listen");
    let mut l = greet(addr);
    assert_eq!(l.cmd("LISTEN p:1").unwrap(), "TRUE");
    let mut c = greet(addr);
    c.cmd("ID p:1").unwrap();
    c.cmd("SELECT u f").unwrap();
    assert_eq!(l.read_line().unwrap().as_deref(), Some("PING"));
    l.send("TRUE").unwrap();
    assert_eq!(l.read_line().unwrap().as_deref(), Some("PING"));
    l.send("TRUE").unwrap();
    // Still registered: events arrive (possibly after another PING).
    let mut s = greet(addr);
    s.cmd("ID q:1").unwrap();
    assert_eq!(s.cmd("FOLDER-TOUCH u f").unwrap(), "TRUE");
    loop {
        let line = l.read_line().unwrap().expect("listener open");
        l.send("TRUE").unwrap();
        if line != "PING" {
            assert_eq!(line, "FOLDER-TOUCH u f");
            break;
        }
    }
    // A listener that stops answering is dropped.
    let mut silent = greet(addr);
    assert_eq!(silent.cmd("LISTEN p:2").unwrap(), "TRUE");
    assert_eq!(silent.read_line().unwrap().as_deref(), Some("PING"));
    assert_eq!(silent.read_line().unwrap(), None, "closed after an unanswered PING");
}

#[test]
fn client_library_against_the_daemon() {
    let dir = TestDir::new();
    let d = start(&dir, &[]);
    let addr = d.addr("event_listen");
    let t = Duration::from_secs(5);
    let (listener, rx) = EventListener::channel(addr, "imapd:1", t).unwrap();
    assert!(listener.wait_connected(Duration::from_secs(10)));
    listener.select("bob@example.org", "inbox").unwrap();

    let mut own = EventClient::connect(addr, "imapd:1", t).unwrap();
    let mut lmtp = EventClient::connect(addr, "lmtpd:1", t).unwrap();
    own.folder_touch("bob@example.org", "inbox").unwrap();
    lmtp.message_uflag("BOB@example.org", "inbox", 5).unwrap();
    let ev = rx.recv_timeout(Duration::from_secs(10)).expect("event delivered");
    assert_eq!(
        (
            ev.kind.as_str(),
            ev.user.as_str(),
            ev.folder.as_str(),
            ev.arg.as_deref()
        ),
        ("MESSAGE-UFLAG", "BOB@example.org", "inbox", Some("5")),
        "the listener's own FOLDER-TOUCH must not come back to it"
    );
    lmtp.ping().unwrap();
    listener.unselect("bob@example.org", "inbox").unwrap();
    lmtp.folder_touch("bob@example.org", "inbox").unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
    listener.stop();
}

#[test]
fn listener_reconnects_and_reselects_after_restart() {
    // A fixed port, so the restarted daemon is found at the same address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let dir = TestDir::new();
    let mut d = start(&dir, &[("event_listen", listen.as_str())]);
    let addr = d.addr("event_listen");
    let t = Duration::from_secs(5);
    let (listener, rx) = EventListener::channel(addr, "imapd:7", t).unwrap();
    assert!(listener.wait_connected(Duration::from_secs(10)));
    listener.select("carol@example.org", "inbox").unwrap();
    let mut sender = EventClient::connect(addr, "midbd:1", t).unwrap();
    sender.folder_touch("carol@example.org", "inbox").unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap().kind, "FOLDER-TOUCH");

    d.restart().expect("eventd restarts");
    assert!(
        listener.wait_connects(2, Duration::from_secs(20)),
        "listener reconnected"
    );
    // The old command connection is stale; the client reconnects by itself.
    sender.message_expunge("carol@example.org", "inbox", 9).unwrap();
    let ev = rx.recv_timeout(Duration::from_secs(10)).expect("event after restart");
    assert_eq!((ev.kind.as_str(), ev.arg.as_deref()), ("MESSAGE-EXPUNGE", Some("9")));
}
