//! pop3d end to end: the pop3d binary on 127.0.0.1 port 0 over a real user directory, eventd,
//! and midbd, with Python's poplib and curl as clients. Mail comes out through POP3
//! byte-identical to what was delivered; DELE+QUIT removes it from the store (midbd, i.e. IMAP,
//! no longer lists it), DELE+dropped connection removes nothing; a second session is refused
//! `[IN-USE]`; failed logins are logged and rate-limited; STLS, implicit TLS and
//! `pop3_force_tls`.
//!
//! Two back ends: [`Backend::Fake`] runs midbd's protocol server in-process over midbd's
//! in-memory store (`FakeSource`), mail delivered into that store; [`Backend::Real`] runs the
//! exmdbd, midbd and lmtpd binaries, mail delivered through LMTP (Python's smtplib), and RETR
//! compared byte for byte with the store's kept original.
//!
//! The other daemons' binaries must be built in the same target directory
//! (`cargo build -p exmdbd -p midbd -p lmtpd -p eventd`, or `cargo test --workspace`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use gromox_base::acl::HostsAllow;
use gromox_runtime::{Control, Listener, Server, ServerConfig};
use midbd::index::fid::INBOX as INBOX_FID;
use midbd::source::FakeSource;

use gromox_base::Config;
use gromox_clients::midb::{MidbClient, MidbOptions};
use gromox_testkit::{python, Daemon, TestDir};

const FIXTURES: [&str; 3] = [
    "cpython-test_email-msg_02.eml",
    "cpython-test_email-msg_07.eml",
    "cpython-test_email-msg_16.eml",
];

/// A message with lines starting with dots (dot-stuffing both ways).
const DOTTED: &[u8] = b"From: dots@example.net\r\nTo: alice@example.org\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n";

/// Where the mail comes from.
enum Backend {
    /// midbd's protocol server in-process over its in-memory store.
    Fake {
        src: Arc<FakeSource>,
        control: Control,
        thread: Option<std::thread::JoinHandle<()>>,
    },
    /// The exmdbd, midbd and lmtpd binaries.
    Real(Box<RealDaemons>),
}

struct RealDaemons {
    _exmdbd: Daemon,
    midbd: Daemon,
    lmtpd: Daemon,
}

#[derive(PartialEq)]
enum Kind {
    Fake,
    Real,
}

struct Suite {
    dir: TestDir,
    state: PathBuf,
    backend: Backend,
    _eventd: Daemon,
    pop3d: Daemon,
    midb: SocketAddr,
    event: SocketAddr,
    log: PathBuf,
}

impl Drop for Suite {
    fn drop(&mut self) {
        if let Backend::Fake { control, thread, .. } = &mut self.backend {
            control.shutdown();
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// midbd's protocol server on 127.0.0.1:0 over `src`.
fn fake_midbd(src: Arc<FakeSource>) -> (SocketAddr, Control, std::thread::JoinHandle<()>) {
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let cfg = ServerConfig {
        listeners: vec![Listener {
            name: "midb_listen",
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: false,
            haproxy: false,
        }],
        threads: 2,
        max_input: midbd::codec::MAX_APPEND + midbd::codec::MAX_LINE,
        ..ServerConfig::default()
    };
    let server = Server::bind(cfg, log.clone()).unwrap();
    let addr = server.local_addrs()[0].1;
    let svc = Arc::new(midbd::Service::new(src, Duration::from_secs(60)));
    let proto = Arc::new(midbd::MidbProtocol::new(
        svc,
        HostsAllow::parse("127.0.0.1").unwrap(),
        log,
    ));
    let control = Control::new();
    let c2 = control.clone();
    let thread = std::thread::spawn(move || server.run(proto, c2).unwrap());
    (addr, control, thread)
}

fn conf(dir: &TestDir, sub: &str, name: &str, keys: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    dir.write_config(&format!("{sub}/{name}"), keys)
}

fn start(dir: &TestDir, bin: &Path, cfg: &Path) -> Daemon {
    Daemon::start(bin, &["-c", cfg.to_str().unwrap()], dir.path()).unwrap()
}

/// Users alice (POP3 allowed) and bob (no POP3/IMAP privilege), password "pw 123 456".
fn suite(kind: Kind, pop3_extra: &[(&str, &str)]) -> Suite {
    let dir = TestDir::new();
    let state = dir.path().join("state");
    let st = state.to_str().unwrap().to_string();
    let mut cfg = Config::defaults("test", &gromox_directory::config_keys());
    cfg.set("state_path", &st).unwrap();
    for u in ["alice", "bob"] {
        gromox_directory::ensure_demo(&cfg, "example.org", u, "pw 123 456").unwrap();
        let addr = format!("{u}@example.org");
        let maildir = gromox_base::names::user_maildir(&state, &addr).unwrap();
        exmdbd::Store::create_private(&maildir, &addr, "en", false, &Default::default()).unwrap();
    }
    let d = gromox_directory::Directory::open(&cfg).unwrap();
    d.user_set(
        "bob@example.org",
        &gromox_directory::UserSpec {
            privileges: Some(0),
            ..Default::default()
        },
    )
    .unwrap();
    drop(d);

    let bin = gromox_testkit::bin;
    let c = conf(
        &dir,
        "eventd",
        "event.cfg",
        &[("event_listen", "127.0.0.1:0"), ("event_hosts_allow", "127.0.0.1")],
    );
    let eventd = start(&dir, &bin("eventd"), &c);
    let event = eventd.addr("event_listen");
    let (backend, midb) = if kind == Kind::Fake {
        let src = Arc::new(FakeSource::new());
        for u in ["alice", "bob"] {
            let maildir = gromox_base::names::user_maildir(&state, &format!("{u}@example.org")).unwrap();
            src.create_mailbox(maildir.to_str().unwrap());
        }
        let (addr, control, thread) = fake_midbd(src.clone());
        (
            Backend::Fake {
                src,
                control,
                thread: Some(thread),
            },
            addr,
        )
    } else {
        let c = conf(
            &dir,
            "exmdbd",
            "exmdb_provider.cfg",
            &[("state_path", &st), ("exmdb_listen", "127.0.0.1:0")],
        );
        let exmdbd = start(&dir, &bin("exmdbd"), &c);
        let exmdb = exmdbd.addr("exmdb_listen").to_string();
        let c = conf(
            &dir,
            "midbd",
            "midb.cfg",
            &[
                ("state_path", &st),
                ("midb_listen", "127.0.0.1:0"),
                ("exmdb_listen", &exmdb),
            ],
        );
        let midbd = start(&dir, &bin("midbd"), &c);
        let midb = midbd.addr("midb_listen");
        let c = conf(
            &dir,
            "lmtpd",
            "smtp.cfg",
            &[
                ("state_path", &st),
                ("lda_listen", "127.0.0.1:0"),
                ("event_listen", &event.to_string()),
                ("exmdb_listen", &exmdb),
            ],
        );
        let lmtpd = start(&dir, &bin("lmtpd"), &c);
        (
            Backend::Real(Box::new(RealDaemons {
                _exmdbd: exmdbd,
                midbd,
                lmtpd,
            })),
            midb,
        )
    };

    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    gromox_runtime::tls::self_signed(&["localhost".to_string()], &cert, &key).unwrap();
    let log = dir.path().join("pop3d.log");
    let (midb_s, event_s) = (midb.to_string(), event.to_string());
    let mut keys: Vec<(&str, &str)> = vec![
        ("state_path", &st),
        ("pop3_listen", "127.0.0.1:0"),
        ("pop3_listen_tls", "127.0.0.1:0"),
        ("pop3_certificate_path", cert.to_str().unwrap()),
        ("pop3_private_key_path", key.to_str().unwrap()),
        ("midb_listen", &midb_s),
        ("event_listen", &event_s),
        ("pop3d_log_file", log.to_str().unwrap()),
        ("auth_fail_delay", "0"),
    ];
    keys.extend_from_slice(pop3_extra);
    let c = conf(&dir, "pop3d", "pop3.cfg", &keys);
    let pop3d = Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_pop3d")),
        &["-c", c.to_str().unwrap()],
        dir.path(),
    )
    .unwrap();
    Suite {
        dir,
        state,
        backend,
        _eventd: eventd,
        pop3d,
        midb,
        event,
        log,
    }
}

impl Suite {
    fn maildir(&self, user: &str) -> String {
        gromox_base::names::user_maildir(&self.state, user)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn midb(&self) -> MidbClient {
        MidbClient::new(
            self.midb,
            MidbOptions {
                timeout: Duration::from_secs(20),
                max_idle: 1,
            },
        )
    }

    /// (UIDVALIDITY, UIDs) of alice's INBOX as IMAP sees it.
    fn inbox(&self) -> (u32, Vec<u32>) {
        let (st, uids) = self
            .midb()
            .select(&self.maildir("alice@example.org"), "INBOX")
            .unwrap_or_else(|e| panic!("midbd: {e}\n{}", self.midbd_output()));
        (st.uidvalidity, uids)
    }

    fn midbd_output(&self) -> String {
        match &self.backend {
            Backend::Real(r) => r.midbd.output(),
            Backend::Fake { .. } => String::new(),
        }
    }

    /// Deliver these files to alice with CRLF line ends (as an MTA sends them): through LMTP
    /// (smtplib dot-stuffs), or straight into the fake store.
    fn deliver(&self, files: &[PathBuf]) {
        let lmtpd = match &self.backend {
            Backend::Real(r) => &r.lmtpd,
            Backend::Fake { src, .. } => {
                for f in files {
                    let mime = crlf(&std::fs::read(f).unwrap());
                    src.deliver(&self.maildir("alice@example.org"), INBOX_FID, &mime, 1_700_000_000);
                }
                return;
            }
        };
        let files: Vec<PathBuf> = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let p = self.dir.path().join(format!("sent-{i}.eml"));
                std::fs::write(&p, crlf(&std::fs::read(f).unwrap())).unwrap();
                p
            })
            .collect();
        let script = r#"
import smtplib, sys
s = smtplib.LMTP(sys.argv[1], int(sys.argv[2]))
for f in sys.argv[3:]:
    s.sendmail("sender@example.net", ["alice@example.org"], open(f, "rb").read())
s.quit()
print("delivered")
"#;
        let a = lmtpd.addr("lda_listen");
        let mut cmd = Command::new(python());
        cmd.arg("-c")
            .arg(script)
            .arg(a.ip().to_string())
            .arg(a.port().to_string());
        cmd.args(&files);
        let out = cmd.output().unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("delivered"),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            lmtpd.output()
        );
    }

    /// Run a poplib script; `HOST`, `PORT`, `TLSPORT`, `OUT` (a directory) are defined for it.
    fn poplib(&self, body: &str) -> String {
        let out_dir = self.dir.path().join("out");
        std::fs::create_dir_all(&out_dir).unwrap();
        let plain = self.pop3d.addr("pop3_listen");
        let tls = self.pop3d.addr("pop3_listen_tls");
        let script = format!(
            "import poplib, ssl, sys, os, socket\nHOST={:?}\nPORT={}\nTLSPORT={}\nOUT={:?}\n\
             CTX = ssl.create_default_context()\nCTX.check_hostname = False\nCTX.verify_mode = ssl.CERT_NONE\n{}",
            plain.ip().to_string(),
            plain.port(),
            tls.port(),
            out_dir.to_str().unwrap(),
            body
        );
        let out = Command::new(python()).arg("-c").arg(&script).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "poplib failed:\n{stdout}\n{}\npop3d:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.pop3d.output()
        );
        stdout
    }

    /// Every message as the store keeps it: the real store's kept originals (what LMTP
    /// delivered, trace header included), read through the store library; `None` for the
    /// fake store.
    fn stored_originals(&self) -> Option<Vec<Vec<u8>>> {
        if let Backend::Fake { .. } = self.backend {
            return None;
        }
        let st = exmdbd::Store::open(Path::new(&self.maildir("alice@example.org")), &Default::default()).unwrap();
        let mids = st.list_messages(0x0d, false).unwrap();
        Some(
            mids.into_iter()
                .map(|m| st.message_mime(m).unwrap().expect("kept MIME"))
                .collect(),
        )
    }

    /// RETR `n` over a raw connection: the message bytes exactly as sent, dot-unstuffed.
    fn raw_retr(&self, n: usize) -> Vec<u8> {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(self.pop3d.addr("pop3_listen")).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(c, "USER alice@example.org\r\nPASS pw 123 456\r\nRETR {n}\r\nQUIT\r\n").unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).unwrap();
        let start = all.windows(9).position(|w| w == b" octets\r\n").expect("RETR answer") + 9;
        let end = all.len() - b".\r\n+OK bye\r\n".len();
        assert!(
            all[end..].starts_with(b".\r\n+OK bye"),
            "{}",
            String::from_utf8_lossy(&all)
        );
        let mut msg = Vec::new();
        for line in all[start..end].split_inclusive(|&b| b == b'\n') {
            msg.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
        msg
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// What smtplib sends for a file: every line end CRLF, a final CRLF.
fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 20);
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\r' if data.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `retrieved` is `sent` with only trace header fields (Return-Path, Received, added by the
/// delivery agent) in front.
fn assert_delivered_as_sent(retrieved: &[u8], sent: &[u8], what: &str) {
    assert!(
        retrieved.ends_with(sent),
        "{what}: retrieved message does not end with the delivered bytes\n{}",
        String::from_utf8_lossy(retrieved)
    );
    let prefix = String::from_utf8_lossy(&retrieved[..retrieved.len() - sent.len()]).into_owned();
    for line in prefix.split_inclusive("\r\n") {
        assert!(
            line.starts_with("Received:")
                || line.starts_with("Return-Path:")
                || line.starts_with(' ')
                || line.starts_with('\t'),
            "{what}: unexpected line before the message: {line:?}"
        );
    }
}

#[test]
fn poplib_and_curl_read_what_was_delivered() {
    retrieve_what_was_delivered(suite(Kind::Fake, &[]));
}

#[test]
fn poplib_and_curl_read_what_lmtp_delivered_through_the_real_suite() {
    retrieve_what_was_delivered(suite(Kind::Real, &[]));
}

fn retrieve_what_was_delivered(s: Suite) {
    let dotted = s.dir.path().join("dotted.eml");
    std::fs::write(&dotted, DOTTED).unwrap();
    let mut files: Vec<PathBuf> = FIXTURES.iter().map(|f| fixture(f)).collect();
    files.push(dotted.clone());
    s.deliver(&files);
    let (uidvalidity, uids) = s.inbox();
    assert_eq!(uids.len(), 4);

    let out = s.poplib(
        r#"
p = poplib.POP3(HOST, PORT)
print("CAPA", sorted(p.capa().keys()))
p.user("alice@example.org")
p.pass_("pw 123 456")
print("STAT", *p.stat())
resp, listing, _ = p.uidl()
for l in listing: print("UIDL", l.decode())
resp, listing, _ = p.list()
for l in listing: print("LIST", l.decode())
for i in range(1, 5):
    resp, lines, octets = p.retr(i)
    open(os.path.join(OUT, "retr%d" % i), "wb").write(b"".join(l + b"\r\n" for l in lines))
resp, lines, octets = p.top(1, 2)
open(os.path.join(OUT, "top1"), "wb").write(b"".join(l + b"\r\n" for l in lines))
print(p.quit().decode())
"#,
    );
    assert!(
        out.contains("CAPA ['AUTH-RESP-CODE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'SASL', 'STLS', 'TOP', 'UIDL', 'USER']"),
        "{out}"
    );
    assert!(out.contains("STAT 4 "), "{out}");
    for (i, uid) in uids.iter().enumerate() {
        // UIDLs are the IMAP UIDVALIDITY and UID.
        assert!(out.contains(&format!("UIDL {} {uidvalidity}.{uid}\n", i + 1)), "{out}");
    }
    // Byte for byte what the store kept of the LMTP delivery (real store).
    if let Some(stored) = s.stored_originals() {
        assert_eq!(stored.len(), 4);
        for n in 1..=4 {
            let got = s.raw_retr(n);
            assert!(stored.contains(&got), "RETR {n} differs from every stored original");
        }
    }
    let outdir = s.dir.path().join("out");
    let mut sizes = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let got = std::fs::read(outdir.join(format!("retr{}", i + 1))).unwrap();
        sizes.push(got.len());
        assert_delivered_as_sent(&got, &crlf(&std::fs::read(f).unwrap()), &f.display().to_string());
    }
    // LIST sizes are the exact octet counts RETR sends.
    for (i, n) in sizes.iter().enumerate() {
        assert!(out.contains(&format!("LIST {} {n}\n", i + 1)), "{out}");
    }
    // TOP 1 2: the whole header, the blank line, two body lines.
    let retr1 = std::fs::read(outdir.join("retr1")).unwrap();
    let top = std::fs::read(outdir.join("top1")).unwrap();
    let hdr_end = retr1.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body_lines: Vec<&[u8]> = retr1[hdr_end..].split_inclusive(|&b| b == b'\n').take(2).collect();
    assert_eq!(top, [&retr1[..hdr_end], &body_lines.concat()].concat());
    assert_eq!(s.inbox().1.len(), 4, "reading removes nothing");

    // A second session sees the same UIDLs.
    let again = s.poplib(
        r#"
p = poplib.POP3(HOST, PORT)
p.user("alice@example.org"); p.pass_("pw 123 456")
for l in p.uidl()[1]: print("UIDL", l.decode())
p.quit()
"#,
    );
    for (i, uid) in uids.iter().enumerate() {
        assert!(
            again.contains(&format!("UIDL {} {uidvalidity}.{uid}\n", i + 1)),
            "{again}"
        );
    }

    // curl: RETR of message 4 over pop3://.
    if Command::new("curl").arg("--version").output().is_ok() {
        let a = s.pop3d.addr("pop3_listen");
        let out = Command::new("curl")
            .args(["-s", "-S", "--max-time", "20"])
            .arg(format!("pop3://127.0.0.1:{}/4", a.port()))
            .args(["-u", "alice@example.org:pw 123 456"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_delivered_as_sent(&out.stdout, DOTTED, "curl RETR 4");
        // Without a message number curl lists (LIST).
        let out = Command::new("curl")
            .args(["-s", "-S", "--max-time", "20"])
            .arg(format!("pop3://127.0.0.1:{}/", a.port()))
            .args(["-u", "alice@example.org:pw 123 456"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            text,
            (1..=4).map(|i| format!("{i} {}\r\n", sizes[i - 1])).collect::<String>()
        );
        // pop3s:// (implicit TLS); curl logs in with AUTH PLAIN, which CAPA offers.
        let t = s.pop3d.addr("pop3_listen_tls");
        let out = Command::new("curl")
            .args(["-s", "-S", "-k", "--max-time", "20"])
            .arg(format!("pop3s://127.0.0.1:{}/4", t.port()))
            .args(["-u", "alice@example.org:pw 123 456"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_delivered_as_sent(&out.stdout, DOTTED, "curl pop3s RETR 4");
    }
}

#[test]
fn dele_applies_at_quit_only_and_sessions_are_exclusive() {
    dele_at_quit(&suite(Kind::Fake, &[]));
}

#[test]
fn dele_applies_at_quit_only_through_the_real_suite() {
    let s = suite(Kind::Real, &[]);
    let maildir = s.maildir("alice@example.org");
    dele_at_quit(&s);
    // The information store itself holds one message less.
    let store = exmdbd::Store::open(Path::new(&maildir), &Default::default()).unwrap();
    assert_eq!(store.list_messages(INBOX_FID, false).unwrap().len(), 1);
}

fn dele_at_quit(s: &Suite) {
    s.deliver(&FIXTURES.iter().map(|f| fixture(f)).collect::<Vec<_>>());
    let (_, uids) = s.inbox();
    assert_eq!(uids.len(), 3);
    let (listener, events) =
        gromox_clients::event::EventListener::channel(s.event, "imapd:test", Duration::from_secs(5)).unwrap();
    assert!(listener.wait_connected(Duration::from_secs(10)));
    listener.select("alice@example.org", "INBOX").unwrap();

    // DELE, then the connection drops: nothing is removed.
    let out = s.poplib(
        r#"
p = poplib.POP3(HOST, PORT)
p.user("alice@example.org"); p.pass_("pw 123 456")
print(p.dele(1).decode())
p.sock.close()
print("dropped")
"#,
    );
    assert!(out.contains("+OK message 1 deleted\ndropped"), "{out}");
    assert!(gromox_testkit::wait_until(Duration::from_secs(10), || s
        .log()
        .contains("connection ended without QUIT")));
    assert_eq!(s.inbox().1, uids, "a dropped connection removed mail");

    // A second session while the first holds the maildrop: [IN-USE].
    let out = s.poplib(
        r#"
a = poplib.POP3(HOST, PORT)
a.user("alice@example.org"); a.pass_("pw 123 456")
b = poplib.POP3(HOST, PORT)
b.user("alice@example.org")
try:
    b.pass_("pw 123 456")
except poplib.error_proto as e:
    print("SECOND", e.args[0].decode())
print("FIRST", *a.stat())
print(a.dele(1).decode(), a.dele(3).decode())
print(a.quit().decode())
b.user("alice@example.org")
print("RETRY", b.pass_("pw 123 456").decode())
print("STAT", *b.stat())
b.quit()
"#,
    );
    assert!(
        out.contains("SECOND -ERR [IN-USE] another POP3 session is using this maildrop"),
        "{out}"
    );
    assert!(out.contains("+OK bye, 2 messages removed, 1 left"), "{out}");
    assert!(out.contains("RETRY +OK maildrop has 1 messages"), "{out}");
    // IMAP (midbd) no longer sees the removed messages.
    assert_eq!(s.inbox().1, vec![uids[1]]);
    // The removal was announced for IMAP IDLE.
    let ev = events
        .recv_timeout(Duration::from_secs(10))
        .expect("FOLDER-TOUCH after QUIT");
    assert_eq!(
        (ev.kind.as_str(), ev.user.as_str(), ev.folder.as_str()),
        ("FOLDER-TOUCH", "alice@example.org", "INBOX")
    );
    listener.stop();
}

#[test]
fn logins_are_checked_limited_logged_and_tls_can_be_forced() {
    let s = suite(
        Kind::Fake,
        &[("pop3_force_tls", "yes"), ("userfilter_rl_maxtries", "3")],
    );
    s.deliver(&[fixture(FIXTURES[0])]);
    let out = s.poplib(
        r#"
p = poplib.POP3(HOST, PORT)
caps = p.capa()
print("PLAIN CAPA", sorted(caps.keys()))
try:
    p.user("alice@example.org")
except poplib.error_proto as e:
    print("PLAIN USER", e.args[0].decode())
p.stls(CTX)
print("AFTER STLS", sorted(p.capa().keys()))
p.user("alice@example.org"); p.pass_("pw 123 456")
print("STLS STAT", *p.stat())
p.quit()
# No POP3 privilege.
q = poplib.POP3_SSL(HOST, TLSPORT, context=CTX)
q.user("bob@example.org")
try:
    q.pass_("pw 123 456")
except poplib.error_proto as e:
    print("BOB", e.args[0].decode())
q.quit()
# Three bad passwords (one per connection), then even the right one is refused for a while.
for i in range(4):
    q = poplib.POP3_SSL(HOST, TLSPORT, context=CTX)
    q.user("alice@example.org")
    try:
        q.pass_("pw 123 456" if i == 3 else "wrong")
        print("ATTEMPT", i, "accepted")
    except poplib.error_proto as e:
        print("ATTEMPT", i, e.args[0].decode())
    q.quit()
"#,
    );
    assert!(
        out.contains(
            "PLAIN CAPA ['AUTH-RESP-CODE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'STLS', 'TOP', 'UIDL']"
        ),
        "{out}"
    );
    assert!(
        out.contains("PLAIN USER -ERR [AUTH] TLS required: use STLS before logging in"),
        "{out}"
    );
    assert!(out.contains("AFTER STLS ['AUTH-RESP-CODE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'SASL', 'TOP', 'UIDL', 'USER']"), "{out}");
    assert!(out.contains("STLS STAT 1 "), "{out}");
    assert!(out.contains("BOB -ERR [AUTH] this account may not use POP3"), "{out}");
    for i in 0..3 {
        assert!(
            out.contains(&format!("ATTEMPT {i} -ERR [AUTH] authentication failed")),
            "{out}"
        );
    }
    assert!(
        out.contains("ATTEMPT 3 -ERR [AUTH] authentication failed"),
        "rate limit: {out}"
    );
    let log = s.log();
    assert_eq!(
        log.matches("user=alice@example.org POP3 login rejected: bad_password")
            .count(),
        3,
        "{log}"
    );
    assert!(
        log.contains("user=alice@example.org POP3 login rejected: too_many_failed_attempts"),
        "{log}"
    );
    assert!(
        log.contains("user=bob@example.org POP3 login rejected: service_not_permitted_for_this_user"),
        "{log}"
    );
    assert!(!log.contains("wrong"), "password in the log: {log}");
}

/// Bad input over a real connection: an over-long line and binary junk get `-ERR` and the
/// session goes on; pipelined commands, including a big UIDL, come back in order.
#[test]
fn raw_connection_survives_bad_input_and_pipelines() {
    use std::io::{BufRead, BufReader, Read, Write};
    let s = suite(Kind::Fake, &[]);
    s.deliver(&FIXTURES.iter().map(|f| fixture(f)).collect::<Vec<_>>());
    let mut w = std::net::TcpStream::connect(s.pop3d.addr("pop3_listen")).unwrap();
    w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(w.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "+OK gromox-rs POP3 server ready\r\n");
    w.write_all(&vec![b'A'; 200_000]).unwrap();
    w.write_all(
        b"\r\n\x00\xff\xfe junk\r\nUSER alice@example.org\r\nPASS pw 123 456\r\nSTAT\r\nUIDL\r\nRETR 2\r\nQUIT\r\n",
    )
    .unwrap();
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all).into_owned();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "-ERR line too long", "{text}");
    assert_eq!(lines[1], "-ERR unknown command", "{text}");
    assert_eq!(lines[2], "+OK send your password", "{text}");
    assert!(lines[3].starts_with("+OK maildrop has 3 messages"), "{text}");
    assert!(lines[4].starts_with("+OK 3 "), "{text}");
    assert_eq!(lines[5], "+OK unique-id listing follows", "{text}");
    assert_eq!(lines[9], ".", "{text}");
    assert!(
        lines[10].starts_with("+OK ") && lines[10].ends_with(" octets"),
        "{text}"
    );
    let sent = crlf(&std::fs::read(fixture(FIXTURES[1])).unwrap());
    let body_start = text.find(lines[10]).unwrap() + lines[10].len() + 2;
    assert_eq!(
        &text.as_bytes()[body_start..body_start + sent.len()],
        &sent[..],
        "{text}"
    );
    assert!(text.ends_with(".\r\n+OK bye\r\n"), "{text}");
}

/// An idle connection is told and closed after `pop3_conn_timeout` (before login), and a
/// logged-in one after `pop3_autologout_time`; DELE marks are dropped with it.
#[test]
fn idle_connections_are_closed() {
    use std::io::{BufRead, BufReader, Read, Write};
    let s = suite(
        Kind::Fake,
        &[("pop3_conn_timeout", "1s"), ("pop3_autologout_time", "1s")],
    );
    s.deliver(&[fixture(FIXTURES[0])]);
    let w = std::net::TcpStream::connect(s.pop3d.addr("pop3_listen")).unwrap();
    w.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let mut r = BufReader::new(w);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "-ERR autologout: idle for too long, closing connection\r\n");

    let mut w = std::net::TcpStream::connect(s.pop3d.addr("pop3_listen")).unwrap();
    w.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    w.write_all(b"USER alice@example.org\r\nPASS pw 123 456\r\nDELE 1\r\n")
        .unwrap();
    let mut all = String::new();
    BufReader::new(w).read_to_string(&mut all).unwrap();
    assert!(all.contains("+OK message 1 deleted\r\n-ERR autologout"), "{all}");
    assert_eq!(s.inbox().1.len(), 1, "the timed-out session removed mail");
}

/// `actor!mailbox` (and AUTH PLAIN with the mailbox as authorization identity): the actor's
/// password opens the mailbox only once midbd reports the store-owner right.
#[test]
fn impersonation_needs_the_store_owner_right() {
    let s = suite(Kind::Fake, &[("auth_fail_delay", "0")]);
    s.deliver(&[fixture(FIXTURES[0])]);
    let mut cfg = Config::defaults("test", &gromox_directory::config_keys());
    cfg.set("state_path", s.state.to_str().unwrap()).unwrap();
    gromox_directory::ensure_demo(&cfg, "example.org", "carol", "carol pw").unwrap();
    let script = r#"
import base64
def try_login(user, pw):
    p = poplib.POP3(HOST, PORT)
    p.user(user)
    try:
        r = p.pass_(pw).decode()
        n = p.stat()[0]
        p.quit()
        return "OK %d" % n
    except poplib.error_proto as e:
        return e.args[0].decode()
def try_plain(authz, authc, pw):
    p = poplib.POP3(HOST, PORT)
    tok = base64.b64encode(("%s\0%s\0%s" % (authz, authc, pw)).encode()).decode()
    try:
        p._shortcmd("AUTH PLAIN " + tok)
        n = p.stat()[0]
        p.quit()
        return "OK %d" % n
    except poplib.error_proto as e:
        return e.args[0].decode()
print("IMP", try_login("carol@example.org!alice@example.org", "carol pw"))
print("PLAIN", try_plain("alice@example.org", "carol@example.org", "carol pw"))
print("OWNERPW", try_login("carol@example.org!alice@example.org", "pw 123 456"))
"#;
    let out = s.poplib(script);
    // The password was right: refused as not permitted, not as a bad password.
    assert!(out.contains("IMP -ERR [AUTH] this account may not"), "{out}");
    assert!(out.contains("PLAIN -ERR [AUTH] this account may not"), "{out}");
    let Backend::Fake { src, .. } = &s.backend else {
        unreachable!()
    };
    src.set_mailbox_rights(&s.maildir("alice@example.org"), "carol@example.org", 0x2000);
    let out = s.poplib(script);
    assert!(out.contains("IMP OK 1"), "{out}");
    assert!(out.contains("PLAIN OK 1"), "{out}");
    assert!(out.contains("OWNERPW -ERR"), "{out}");
    let log = s.log();
    assert!(
        log.contains("user=carol@example.org!alice@example.org POP3 login rejected: no_store-owner_right"),
        "{log}"
    );
    assert!(!log.contains("carol pw"), "password in the log");
}
