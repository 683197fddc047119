//! The session on the real runtime engine over TCP, driven by Python's imaplib and by a
//! raw socket for IDLE (imaplib in Python 3.11 has no IDLE).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use gromox_runtime::{Control, Listener, RuntimeError, Server, ServerConfig};
use imapd::memstore::MemStore;
use imapd::session::{Config, ImapProtocol};

const MSG1: &[u8] = include_bytes!("fixtures/cpython-test_email-msg_01.eml");
const MSG4: &[u8] = include_bytes!("fixtures/cpython-test_email-msg_04.eml");

struct Running {
    addr: SocketAddr,
    tls_addr: SocketAddr,
    control: Control,
    join: Option<JoinHandle<Result<(), RuntimeError>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.control.shutdown();
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

fn start(store: MemStore, force_tls: bool) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    gromox_runtime::tls::self_signed(&["localhost".to_string()], &cert, &key).unwrap();
    let tls = gromox_runtime::tls::load_server_config(&cert, &key, "1.2").unwrap();
    let cfg = ServerConfig {
        listeners: vec![
            Listener {
                name: "imap_listen",
                addr: "127.0.0.1:0".parse().unwrap(),
                tls: false,
                haproxy: false,
            },
            Listener {
                name: "imap_listen_tls",
                addr: "127.0.0.1:0".parse().unwrap(),
                tls: true,
                haproxy: false,
            },
        ],
        threads: 2,
        context_num: 50,
        idle_timeout: Duration::from_secs(30),
        tls: Some(tls),
        ..ServerConfig::default()
    };
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let server = Server::bind(cfg, log.clone()).unwrap();
    let addrs = server.local_addrs();
    let addr = addrs.iter().find(|(n, _)| *n == "imap_listen").unwrap().1;
    let tls_addr = addrs.iter().find(|(n, _)| *n == "imap_listen_tls").unwrap().1;
    let proto = Arc::new(ImapProtocol::new(
        Arc::new(store),
        Config {
            force_tls,
            tls_configured: true,
            ..Config::default()
        },
        log,
    ));
    let control = Control::new();
    let c2 = control.clone();
    let join = std::thread::spawn(move || server.run(proto, c2));
    Running {
        addr,
        tls_addr,
        control,
        join: Some(join),
        _dir: dir,
    }
}

fn store() -> MemStore {
    let s = MemStore::new();
    s.add_user("bob", "secret");
    s.deliver("bob", "INBOX", &["\\Seen"], MSG1);
    s.deliver("bob", "INBOX", &[], MSG4);
    s
}

fn imaplib(addr: SocketAddr, mode: &str) -> Vec<(String, String)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/imaplib_client.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(addr.port().to_string())
        .arg(mode)
        .output()
        .expect("python3 must be on PATH for this test");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "imaplib client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn get<'a>(facts: &'a [(String, String)], key: &str) -> &'a str {
    facts
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {facts:?}"))
}

#[test]
fn imaplib_session_over_tcp() {
    let store = store();
    let srv = start(store.clone(), false);
    let f = imaplib(srv.addr, "plain");
    assert!(get(&f, "caps-before").contains("IMAP4REV1"), "{f:?}");
    assert!(get(&f, "caps-before").contains("STARTTLS"), "{f:?}");
    assert!(get(&f, "bad-login").contains("AUTHENTICATIONFAILED"), "{f:?}");
    assert_eq!(get(&f, "auth"), "OK");
    assert!(get(&f, "list").starts_with("OK 5 "), "{f:?}");
    assert!(
        get(&f, "list").contains("(\\HasNoChildren \\Sent) \"/\" \"Sent\""),
        "{f:?}"
    );
    assert_eq!(get(&f, "create"), "OK");
    assert_eq!(get(&f, "select"), "OK 2");
    assert_eq!(
        get(&f, "fetch"),
        "OK 1 (UID 1 FLAGS (\\Seen) RFC822.SIZE 478) 2 (UID 2 FLAGS () RFC822.SIZE 998)"
    );
    assert_eq!(get(&f, "fetch-header"), "Subject: a simple multipart");
    assert_eq!(get(&f, "fetch-rfc822-len"), "478 Return-Path: <bbb@zzz.org>");
    assert!(get(&f, "envelope").contains("\"a simple multipart\""), "{f:?}");
    assert_eq!(get(&f, "search-unseen"), "2");
    assert_eq!(get(&f, "uid-search"), "2");
    assert_eq!(get(&f, "store"), "OK 2 (FLAGS (\\Flagged))");
    assert!(get(&f, "append").starts_with("OK [APPENDUID 1001 3]"), "{f:?}");
    assert!(get(&f, "copy").starts_with("OK [COPYUID 1004 1 1]"), "{f:?}");
    assert_eq!(get(&f, "move"), "OK [b'1']");
    assert_eq!(get(&f, "status"), "OK \"Junk\" (MESSAGES 1 UIDNEXT 2)");
    assert_eq!(get(&f, "expunge"), "OK [b'1']");
    assert_eq!(get(&f, "search-all"), "1");
    assert_eq!(get(&f, "close"), "OK");
    assert_eq!(get(&f, "logout"), "BYE");
    // What the client did is in the store.
    assert_eq!(store.count("bob", "Trash"), Some(1));
    assert_eq!(store.count("bob", "Junk"), Some(1));
    assert_eq!(store.count("bob", "INBOX"), Some(1));
    assert_eq!(store.flags_of("bob", "INBOX", 3), Some(vec!["\\Seen".to_string()]));
}

#[test]
fn imaplib_starttls_with_force_tls() {
    let srv = start(store(), true);
    let f = imaplib(srv.addr, "starttls");
    assert!(get(&f, "caps-before").contains("LOGINDISABLED"), "{f:?}");
    assert!(!get(&f, "caps-before").contains("AUTH=PLAIN"), "{f:?}");
    assert!(get(&f, "login-plaintext").starts_with("refused"), "{f:?}");
    assert_eq!(get(&f, "starttls"), "OK");
    assert!(
        !get(&f, "caps-tls").contains("STARTTLS") && get(&f, "caps-tls").contains("AUTH=PLAIN"),
        "{f:?}"
    );
    assert_eq!(get(&f, "login"), "OK");
}

#[test]
fn imaplib_implicit_tls() {
    let srv = start(store(), true);
    let f = imaplib(srv.tls_addr, "ssl");
    let caps = get(&f, "caps-ssl");
    assert!(
        caps.contains("AUTH=PLAIN") && !caps.contains("STARTTLS") && !caps.contains("LOGINDISABLED"),
        "{f:?}"
    );
    assert_eq!(get(&f, "login"), "OK");
    assert_eq!(get(&f, "examine"), "OK 2");
    assert_eq!(get(&f, "part1"), "a simple kind of mirror");
}

#[test]
fn idle_over_tcp_sees_delivery() {
    let store = store();
    let srv = start(store.clone(), false);
    let s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut read_until = |r: &mut BufReader<TcpStream>, prefix: &str| -> String {
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "connection closed waiting for {prefix}");
            if line.starts_with(prefix) {
                return line.clone();
            }
        }
    };
    read_until(&mut r, "* OK");
    w.write_all(b"a LOGIN bob secret\r\nb SELECT INBOX\r\nc IDLE\r\n")
        .unwrap();
    read_until(&mut r, "b OK");
    assert_eq!(read_until(&mut r, "+"), "+ idling\r\n");
    store.deliver("bob", "INBOX", &[], b"Subject: pushed\r\n\r\nhi\r\n");
    assert_eq!(read_until(&mut r, "* "), "* 3 EXISTS\r\n");
    w.write_all(b"DONE\r\nd FETCH 3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n")
        .unwrap();
    assert_eq!(read_until(&mut r, "c "), "c OK IDLE terminated\r\n");
    assert_eq!(
        read_until(&mut r, "* 3 FETCH"),
        "* 3 FETCH (BODY[HEADER.FIELDS (\"SUBJECT\")] {19}\r\n"
    );
    assert_eq!(read_until(&mut r, "d "), "d OK FETCH completed\r\n");
}

#[test]
fn big_fetch_and_big_append_over_tcp() {
    let store = MemStore::new();
    store.add_user("bob", "secret");
    let body = format!("Subject: big\r\n\r\n{}\r\n", "z".repeat(100_000));
    for _ in 0..50 {
        store.deliver("bob", "INBOX", &[], body.as_bytes());
    }
    let srv = start(store.clone(), false);
    let s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    // A 3 MB APPEND through a non-synchronizing literal: more than the runtime's input cap.
    let big = format!("Subject: upload\r\n\r\n{}\r\n", "u".repeat(3_000_000));
    let mut req = format!("a LOGIN bob secret\r\nb APPEND INBOX {{{}+}}\r\n", big.len()).into_bytes();
    req.extend_from_slice(big.as_bytes());
    req.extend_from_slice(b"\r\nc SELECT INBOX\r\nd FETCH 1:* BODY.PEEK[]\r\ne LOGOUT\r\n");
    let writer = std::thread::spawn(move || w.write_all(&req));
    let mut all = Vec::new();
    std::io::Read::read_to_end(&mut r, &mut all).unwrap();
    writer.join().unwrap().unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.contains("b OK [APPENDUID 1001 51] APPEND completed\r\n"),
        "{}",
        &text[..text.len().min(500)]
    );
    assert_eq!(text.matches(" FETCH (BODY[] {").count(), 51);
    assert!(text.contains(&format!("* 51 FETCH (BODY[] {{{}}}\r\n", big.len())));
    assert!(text.ends_with("e OK LOGOUT completed\r\n"));
    assert_eq!(store.count("bob", "INBOX"), Some(51));
}

#[test]
fn compress_deflate_over_tcp_with_streamed_fetch() {
    use imapd::compress::Deflate;
    use std::io::Read;
    let store = MemStore::new();
    store.add_user("bob", "secret");
    let body = format!("Subject: big\r\n\r\n{}\r\n", "q".repeat(50_000));
    for _ in 0..40 {
        store.deliver("bob", "INBOX", &[], body.as_bytes());
    }
    let srv = start(store, false);
    let s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    w.write_all(b"a LOGIN bob secret\r\nz COMPRESS DEFLATE\r\n").unwrap();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.starts_with("z ") {
            break;
        }
    }
    assert_eq!(line, "z OK DEFLATE active\r\n");
    let mut client = Deflate::new();
    let mut wire = Vec::new();
    client.deflate(
        b"s SELECT INBOX\r\nf FETCH 1:* BODY.PEEK[]\r\nn NOOP\r\ne LOGOUT\r\n",
        &mut wire,
    );
    w.write_all(&wire).unwrap();
    let mut raw = Vec::new();
    r.read_to_end(&mut raw).unwrap();
    let mut view = Deflate::new();
    view.inflate(&raw, 64 << 20).unwrap();
    let text = String::from_utf8_lossy(view.pending()).into_owned();
    assert_eq!(
        text.matches(" FETCH (BODY[] {50018}\r\n").count(),
        40,
        "{}",
        &text[..text.len().min(300)]
    );
    assert!(text.contains("f OK FETCH completed\r\nn OK NOOP completed\r\n"));
    assert!(text.ends_with("e OK LOGOUT completed\r\n"));
    // Highly repetitive bodies: the wire carried far less than the plaintext.
    assert!(
        raw.len() * 20 < text.len(),
        "{} compressed vs {} plain",
        raw.len(),
        text.len()
    );
}
