//! LMTP into the information store, end to end: Python's `smtplib.LMTP` delivers one message
//! to two directory users and an unknown address and gets one answer per recipient; the
//! message is in each Inbox with its subject and the original MIME kept for IMAP. And SIGKILL
//! during a stream of deliveries loses no message that got its 250.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gromox_base::Config;
use gromox_mapi::tags::PR_SUBJECT;
use gromox_testkit::{python, Daemon, TestDir};

const INBOX: u64 = 0x0d;

/// A state directory with the directory schema, `example.org`, and users with mailboxes.
fn suite(dir: &TestDir, users: &[&str]) -> PathBuf {
    let state = dir.path().join("state");
    let mut cfg = Config::defaults("test", &gromox_directory::config_keys());
    cfg.set("state_path", state.to_str().unwrap()).unwrap();
    for u in users {
        gromox_directory::ensure_demo(&cfg, "example.org", u, "pw 123 456").unwrap();
        let maildir = gromox_base::names::user_maildir(&state, &format!("{u}@example.org")).unwrap();
        exmdbd::Store::create_private(&maildir, &format!("{u}@example.org"), "en", false, &Default::default()).unwrap();
    }
    dir.write_config(
        "smtp.cfg",
        &[
            ("state_path", state.to_str().unwrap()),
            ("lda_listen", "127.0.0.1:0"),
            ("lmtpd_log_level", "debug"),
        ],
    );
    state
}

/// lmtpd with the exmdbd it delivers through (`lda_store_access = exmdb`, the default);
/// derefs to lmtpd.
struct Started {
    lmtpd: Daemon,
    exmdbd: Daemon,
}

impl std::ops::Deref for Started {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.lmtpd
    }
}

impl std::ops::DerefMut for Started {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.lmtpd
    }
}

/// A port free right now (exmdbd keeps it across restarts, so lmtpd's address stays valid).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &TestDir) -> Started {
    start_with(dir, &[])
}

/// Start exmdbd and lmtpd; `extra` are `key=value` overrides for lmtpd.
fn start_with(dir: &TestDir, extra: &[&str]) -> Started {
    let cfg = dir.path().join("smtp.cfg");
    let state = dir.path().join("state"); // as written by `suite`
    let exmdb_addr = format!("127.0.0.1:{}", free_port());
    let ecfg = dir.write_config(
        "exmdb_provider.cfg",
        &[
            ("state_path", state.to_str().unwrap()),
            ("exmdb_listen", exmdb_addr.as_str()),
            ("exmdbd_log_level", "debug"),
        ],
    );
    let exmdbd = Daemon::start(
        &gromox_testkit::bin("exmdbd"),
        &["-c", ecfg.to_str().unwrap()],
        dir.path(),
    )
    .unwrap();
    let listen = format!("exmdb_listen={exmdb_addr}");
    // A fixed port, so a restarted lmtpd is found at the same address.
    let lda = format!("lda_listen=127.0.0.1:{}", free_port());
    let mut args = vec!["-c", cfg.to_str().unwrap(), "-o", listen.as_str(), "-o", lda.as_str()];
    for e in extra {
        args.extend(["-o", e]);
    }
    let lmtpd = Daemon::start(Path::new(env!("CARGO_BIN_EXE_lmtpd")), &args, dir.path()).unwrap();
    Started { lmtpd, exmdbd }
}

fn inbox_subjects(state: &Path, user: &str) -> Vec<String> {
    let maildir = gromox_base::names::user_maildir(state, user).unwrap();
    let store = exmdbd::Store::open(&maildir, &Default::default()).unwrap();
    store
        .list_messages(INBOX, false)
        .unwrap()
        .into_iter()
        .filter_map(|mid| store.read_message(mid).ok())
        .filter_map(|m| m.get(PR_SUBJECT).and_then(|v| v.as_str()).map(str::to_string))
        .collect()
}

/// smtplib.LMTP's `sendmail` reads only the first reply after DATA, so the per-recipient
/// replies of RFC 2033 §4.2 are read one by one here.
const CLIENT: &str = r#"
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
msg = (b"From: Sender <sender@example.net>\r\nTo: alice@example.org, bob@example.org\r\n"
       b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from LMTP\r\nMessage-ID: <e2e-1@example.net>\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n\r\nHallo Welt\r\n")
s = smtplib.LMTP(host, port)
s.ehlo_or_helo_if_needed()
s.mail("sender@example.net")
accepted = []
for rcpt in ["alice@example.org", "Bob+news@Example.org", "nobody@example.org"]:
    code, text = s.rcpt(rcpt)
    print("RCPT", rcpt, code, text.decode())
    if code == 250:
        accepted.append(rcpt)
code, text = s.data(msg)
print("DATA", accepted[0], code, text.decode())
for rcpt in accepted[1:]:
    code, text = s.getreply()
    print("DATA", rcpt, code, text.decode())
s.quit()
"#;

#[test]
fn lmtp_delivers_into_the_stores_with_per_recipient_answers() {
    let dir = TestDir::new();
    let state = suite(&dir, &["alice", "bob"]);
    let d = start(&dir);
    let addr = d.addr("lda_listen");
    let out = Command::new(python())
        .args(["-c", CLIENT, &addr.ip().to_string(), &addr.port().to_string()])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.output()
    );
    // Each recipient has its own answer, at RCPT time and after DATA.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(lines[0].starts_with("RCPT alice@example.org 250 2.1.5"), "{stdout}");
    assert!(lines[1].starts_with("RCPT Bob+news@Example.org 250 2.1.5"), "{stdout}");
    assert!(lines[2].starts_with("RCPT nobody@example.org 550 5.1.1"), "{stdout}");
    assert!(lines[3].starts_with("DATA alice@example.org 250 2."), "{stdout}");
    assert!(lines[4].starts_with("DATA Bob+news@Example.org 250 2."), "{stdout}");

    for user in ["alice@example.org", "bob@example.org"] {
        assert_eq!(
            inbox_subjects(&state, user),
            vec!["Grüße from LMTP".to_string()],
            "{user}"
        );
        let maildir = gromox_base::names::user_maildir(&state, user).unwrap();
        let store = exmdbd::Store::open(&maildir, &Default::default()).unwrap();
        let mid = store.list_messages(INBOX, false).unwrap()[0];
        let mime = store.message_mime(mid).unwrap().expect("original MIME kept");
        let mime = String::from_utf8_lossy(&mime);
        assert!(mime.starts_with("Received: "), "{mime}");
        assert!(
            mime.contains("Message-ID: <e2e-1@example.net>\r\n") && mime.ends_with("Hallo Welt\r\n"),
            "{mime}"
        );
    }
}

fn lmtp_send(addr: std::net::SocketAddr, subject: &str) -> std::io::Result<bool> {
    Ok(lmtp_send_code(addr, subject)? == 250)
}

/// One message to carol on a new connection; the reply code after DATA.
fn lmtp_send_code(addr: std::net::SocketAddr, subject: &str) -> std::io::Result<u16> {
    let s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut w = s;
    let mut line = String::new();
    let mut reply = |r: &mut BufReader<TcpStream>| -> std::io::Result<String> {
        // Multi-line replies: read until "NNN " (space after the code).
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line.clone());
            }
        }
    };
    reply(&mut r)?;
    for cmd in [
        "LHLO test",
        "MAIL FROM:<s@example.net>",
        "RCPT TO:<carol@example.org>",
        "DATA",
    ] {
        w.write_all(format!("{cmd}\r\n").as_bytes())?;
        reply(&mut r)?;
    }
    w.write_all(format!("Subject: {subject}\r\n\r\nbody\r\n.\r\n").as_bytes())?;
    let line = reply(&mut r)?;
    line.get(..3)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad reply {line:?}")))
}

/// 2,000 messages to carol over 4 connections (a new connection per message). Once 200 are
/// acknowledged, `kill` SIGKILLs a daemon and restarts it; the senders keep going, sending a
/// message again when it was refused (4xx) or cut off. Returns what got 250 and how many
/// 4xx answers there were.
fn push_2000(d: &mut Started, kill: impl FnOnce(&mut Started)) -> (std::collections::HashSet<String>, usize) {
    let addr = d.addr("lda_listen");
    let acked = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let temp = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (acked, temp) = (acked.clone(), temp.clone());
            std::thread::spawn(move || {
                for i in 0..500 {
                    let subject = format!("msg {t}-{i}");
                    let mut tries = 0;
                    loop {
                        match lmtp_send_code(addr, &subject) {
                            Ok(250) => break,
                            Ok(c) if (400..500).contains(&c) => {
                                temp.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Ok(c) => panic!("{subject}: permanent refusal {c}"),
                            Err(_) => {} // the daemon is down
                        }
                        tries += 1;
                        assert!(tries < 600, "{subject}: never accepted");
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    acked.lock().unwrap().insert(subject);
                }
            })
        })
        .collect();
    assert!(gromox_testkit::wait_until(Duration::from_secs(60), || acked
        .lock()
        .unwrap()
        .len()
        >= 200));
    kill(d);
    for s in senders {
        s.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 2000);
    (acked, temp.load(std::sync::atomic::Ordering::Relaxed))
}

fn assert_all_stored(state: &Path, acked: &std::collections::HashSet<String>, d: &Started) {
    let stored: std::collections::HashSet<String> = inbox_subjects(state, "carol@example.org").into_iter().collect();
    let missing: Vec<_> = acked.iter().filter(|s| !stored.contains(*s)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages are not in the store, e.g. {:?}\n{}",
        missing.len(),
        missing.first(),
        d.output()
    );
}

#[test]
fn sigkill_of_lmtpd_during_deliveries_loses_nothing_acknowledged() {
    let dir = TestDir::new();
    let state = suite(&dir, &["carol"]);
    let mut d = start(&dir);
    let (acked, _) = push_2000(&mut d, |d| {
        d.lmtpd.kill();
        std::thread::sleep(Duration::from_millis(300));
        d.lmtpd.restart().unwrap();
    });
    assert_all_stored(&state, &acked, &d);
    assert!(lmtp_send(d.addr("lda_listen"), "after restart").unwrap());
    assert!(inbox_subjects(&state, "carol@example.org").contains(&"after restart".to_string()));
}

/// The same with the store daemon: while exmdbd is down lmtpd answers 451 (the senders retry),
/// and once it is back deliveries resume on new connections.
#[test]
fn sigkill_of_exmdbd_during_deliveries_loses_nothing_acknowledged() {
    let dir = TestDir::new();
    let state = suite(&dir, &["carol"]);
    let mut d = start(&dir);
    let (acked, temporary) = push_2000(&mut d, |d| {
        d.exmdbd.kill();
        std::thread::sleep(Duration::from_millis(500));
        d.exmdbd.restart().unwrap();
    });
    assert_all_stored(&state, &acked, &d);
    // lmtpd really depended on exmdbd: deliveries in the gap were answered 4xx.
    assert!(temporary > 0, "no 4xx while exmdbd was down\n{}", d.output());
}

/// `lda_store_access = local`: lmtpd opens the stores itself (one host, no exmdbd needed).
#[test]
fn local_store_access_delivers_without_exmdbd() {
    let dir = TestDir::new();
    let state = suite(&dir, &["carol"]);
    let mut d = start_with(&dir, &["lda_store_access=local"]);
    d.exmdbd.kill();
    assert!(lmtp_send(d.addr("lda_listen"), "in-process").unwrap(), "{}", d.output());
    assert_eq!(
        inbox_subjects(&state, "carol@example.org"),
        vec!["in-process".to_string()]
    );
}

/// An IMAP daemon watching a mailbox learns of new mail through eventd: every delivery is
/// announced as `FOLDER-TOUCH <address> INBOX` (what IDLE sessions wait for).
#[test]
fn deliveries_are_announced_on_eventd() {
    let dir = TestDir::new();
    let state = suite(&dir, &["carol"]);
    // Not `event.cfg`: lmtpd reads that file too, and it holds eventd's own port-0 listener.
    let ecfg = dir.write_config(
        "eventd-test.cfg",
        &[("event_listen", "127.0.0.1:0"), ("event_hosts_allow", "127.0.0.1")],
    );
    let eventd = Daemon::start(
        &gromox_testkit::bin("eventd"),
        &["-c", ecfg.to_str().unwrap()],
        dir.path(),
    )
    .unwrap();
    let eaddr = eventd.addr("event_listen");
    dir.write_config(
        "smtp.cfg",
        &[
            ("state_path", state.to_str().unwrap()),
            ("lda_listen", "127.0.0.1:0"),
            ("event_listen", &eaddr.to_string()),
        ],
    );
    let (listener, events) =
        gromox_clients::event::EventListener::channel(eaddr, "imapd:test", Duration::from_secs(5)).unwrap();
    assert!(listener.wait_connected(Duration::from_secs(10)));
    listener.select("carol@example.org", "INBOX").unwrap();
    let d = start(&dir);
    assert!(lmtp_send(d.addr("lda_listen"), "announced").unwrap(), "{}", d.output());
    let ev = events
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("no event within 5 s\n{}", d.output()));
    assert_eq!(
        (ev.kind.as_str(), ev.user.as_str(), ev.folder.as_str()),
        ("FOLDER-TOUCH", "carol@example.org", "INBOX")
    );
    assert_eq!(
        inbox_subjects(&state, "carol@example.org"),
        vec!["announced".to_string()]
    );
    listener.stop();
}

/// RCPT answers for policy refusals, through Python's smtplib.LMTP: a mailbox over its receive
/// quota gets 452 4.2.2 at RCPT time (the sender keeps the message); a mailing list open to
/// its members only refuses an outsider with 550 5.7.1 and takes a member's mail, which reaches
/// every member.
#[test]
fn over_quota_and_list_privileges_are_answered_at_rcpt() {
    let dir = TestDir::new();
    let state = suite(&dir, &["alice", "bob", "full"]);
    // "full": a receive quota of 1 KiB and 2 KiB already used.
    let maildir = gromox_base::names::user_maildir(&state, "full@example.org").unwrap();
    let mut store = exmdbd::Store::open(&maildir, &Default::default()).unwrap();
    store
        .set_props(
            exmdbd::Obj::Store,
            &[
                gromox_mapi::TaggedVal::new(
                    gromox_mapi::tags::PR_PROHIBIT_RECEIVE_QUOTA,
                    gromox_mapi::PropVal::I4(1),
                ),
                gromox_mapi::TaggedVal::new(
                    gromox_mapi::tags::PR_MESSAGE_SIZE_EXTENDED,
                    gromox_mapi::PropVal::I8(2048),
                ),
            ],
        )
        .unwrap();
    drop(store);
    // team@example.org: members alice and bob, internal privilege (members only).
    let mut cfg = Config::defaults("test", &gromox_directory::config_keys());
    cfg.set("state_path", state.to_str().unwrap()).unwrap();
    let d = gromox_directory::Directory::open(&cfg).unwrap();
    d.mlist_add("team@example.org", 0, gromox_directory::model::MLIST_PRIV_INTERNAL)
        .unwrap();
    d.mlist_member_add("team@example.org", "alice@example.org").unwrap();
    d.mlist_member_add("team@example.org", "bob@example.org").unwrap();
    drop(d);

    let lmtpd = start(&dir);
    let addr = lmtpd.addr("lda_listen");
    let script = r#"
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
s = smtplib.LMTP(host, port)
s.ehlo_or_helo_if_needed()
for sender, rcpt in [("x@example.net", "full@example.org"), ("x@example.net", "team@example.org"),
                     ("alice@example.org", "team@example.org")]:
    s.rset()
    s.mail(sender)
    code, text = s.rcpt(rcpt)
    print(sender, rcpt, code, text.decode())
    if code == 250:
        code, text = s.data(b"Subject: to the team\r\n\r\nhello team\r\n")
        print("DATA", code)
s.quit()
"#;
    let out = Command::new(python())
        .args(["-c", script, &addr.ip().to_string(), &addr.port().to_string()])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("x@example.net full@example.org 452 4.2.2"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("x@example.net team@example.org 550 5.7.1"),
        "{stdout}"
    );
    assert!(lines[1].contains("only list members"), "{stdout}");
    assert!(
        lines[2].starts_with("alice@example.org team@example.org 250"),
        "{stdout}"
    );
    assert!(lines[3].starts_with("DATA 250"), "{stdout}");
    for u in ["alice@example.org", "bob@example.org"] {
        assert_eq!(inbox_subjects(&state, u), vec!["to the team".to_string()], "{u}");
    }
    assert!(inbox_subjects(&state, "full@example.org").is_empty());
}

/// A minimal SMTP sink for the relay: accepts one session per connection and hands each
/// message (envelope sender, recipients, data) to the channel.
fn smtp_sink() -> (
    std::net::SocketAddr,
    std::sync::mpsc::Receiver<(String, Vec<String>, String)>,
) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                let (mut from, mut rcpts, mut data) = (String::new(), Vec::new(), String::new());
                w.write_all(b"220 sink\r\n").unwrap();
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let up = line.to_ascii_uppercase();
                    if up.starts_with("EHLO") {
                        w.write_all(b"250-sink\r\n250 8BITMIME\r\n").unwrap();
                    } else if up.starts_with("MAIL FROM:") {
                        from = line[10..].trim().trim_matches(|c| c == '<' || c == '>').to_string();
                        w.write_all(b"250 ok\r\n").unwrap();
                    } else if up.starts_with("RCPT TO:") {
                        rcpts.push(line[8..].trim().trim_matches(|c| c == '<' || c == '>').to_string());
                        w.write_all(b"250 ok\r\n").unwrap();
                    } else if up.starts_with("DATA") {
                        w.write_all(b"354 go\r\n").unwrap();
                        loop {
                            line.clear();
                            r.read_line(&mut line).unwrap();
                            if line == ".\r\n" {
                                break;
                            }
                            data.push_str(&line);
                        }
                        w.write_all(b"250 queued\r\n").unwrap();
                        let _ = tx.send((from.clone(), rcpts.clone(), data.clone()));
                    } else if up.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        w.write_all(b"250 ok\r\n").unwrap();
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// Start the suite with generated mail for outside recipients relayed to an [`smtp_sink`].
fn start_with_relay(
    dir: &TestDir,
    state: &Path,
) -> (Started, std::sync::mpsc::Receiver<(String, Vec<String>, String)>) {
    let (sink, relayed) = smtp_sink();
    dir.write_config(
        "smtp.cfg",
        &[
            ("state_path", state.to_str().unwrap()),
            ("lda_listen", "127.0.0.1:0"),
            ("outgoing_smtp_url", &format!("smtp://{sink}")),
            ("event_listen", ""),
        ],
    );
    (start(dir), relayed)
}

/// Out-of-office: carol is away. Mail from alice (inside) gets the internal text, delivered
/// into alice's Inbox, once per silence window however often she writes; mail from outside
/// gets the external text through the outgoing relay, from the null sender; list traffic
/// gets nothing.
#[test]
fn out_of_office_replies_once_per_window_inside_and_out() {
    let dir = TestDir::new();
    let state = suite(&dir, &["alice", "carol"]);
    let carol = gromox_base::names::user_maildir(&state, "carol@example.org").unwrap();
    std::fs::create_dir_all(carol.join("config")).unwrap();
    std::fs::write(
        carol.join("config/autoreply.cfg"),
        "OOF_STATE = 1\nALLOW_EXTERNAL_OOF = 1\nEXTERNAL_AUDIENCE = 0\n",
    )
    .unwrap();
    std::fs::write(
        carol.join("config/internal-reply"),
        "Subject: Away (internal)\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBack Monday, colleague.\r\n",
    )
    .unwrap();
    std::fs::write(
        carol.join("config/external-reply"),
        "Subject: Away\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBack Monday.\r\n",
    )
    .unwrap();
    let (d, relayed) = start_with_relay(&dir, &state);
    let addr = d.addr("lda_listen");
    let script = r#"
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
s = smtplib.LMTP(host, port)
for sender, extra in [("alice@example.org", b""), ("alice@example.org", b""),
                      ("x@example.net", b""), ("y@example.net", b"List-Id: <team.example.net>\r\n")]:
    r = s.sendmail(sender, ["carol@example.org"], b"Subject: question\r\nMessage-ID: <q1@example.net>\r\n" + extra + b"\r\nare you there?\r\n")
    print("sent", sender, r)
s.quit()
"#;
    let out = Command::new(python())
        .args(["-c", script, &addr.ip().to_string(), &addr.port().to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.output()
    );
    assert_eq!(inbox_subjects(&state, "carol@example.org").len(), 4);
    // The internal reply reaches alice's Inbox, once.
    assert!(
        gromox_testkit::wait_until(Duration::from_secs(10), || {
            inbox_subjects(&state, "alice@example.org") == vec!["Away (internal)".to_string()]
        }),
        "alice's inbox: {:?}\n{}",
        inbox_subjects(&state, "alice@example.org"),
        d.output()
    );
    // The outside sender gets the external text through the relay, from <>.
    let (from, rcpts, data) = relayed
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("nothing relayed\n{}", d.output()));
    assert_eq!(from, "");
    assert_eq!(rcpts, vec!["x@example.net".to_string()]);
    assert!(data.contains("Subject: Away\r\n"), "{data}");
    assert!(data.contains("Auto-Submitted: auto-replied\r\n"), "{data}");
    assert!(data.contains("In-Reply-To: <q1@example.net>\r\n"), "{data}");
    assert!(data.contains("Back Monday."), "{data}");
    // Nothing for the list message, and no second reply to alice.
    assert!(relayed.recv_timeout(Duration::from_secs(2)).is_err());
    assert_eq!(inbox_subjects(&state, "alice@example.org").len(), 1);
}

/// Forwards from the directory: bob keeps a copy and forwards one to alice; dave redirects to
/// an outside address (nothing kept, the copy goes through the relay with the original
/// sender); erin and frank forward to each other and the loop stops.
#[test]
fn forwards_keep_redirect_and_stop_loops() {
    use gromox_directory::model::Forward;
    let dir = TestDir::new();
    let state = suite(&dir, &["alice", "bob", "dave", "erin", "frank"]);
    let mut cfg = Config::defaults("test", &gromox_directory::config_keys());
    cfg.set("state_path", state.to_str().unwrap()).unwrap();
    let d = gromox_directory::Directory::open(&cfg).unwrap();
    let fwd = |t: u8, dest: &str| Forward {
        forward_type: t,
        destination: dest.into(),
    };
    d.forward_set("bob@example.org", Some(&fwd(0, "alice@example.org")))
        .unwrap();
    d.forward_set("dave@example.org", Some(&fwd(1, "x@example.net")))
        .unwrap();
    d.forward_set("erin@example.org", Some(&fwd(0, "frank@example.org")))
        .unwrap();
    d.forward_set("frank@example.org", Some(&fwd(0, "erin@example.org")))
        .unwrap();
    drop(d);
    let (lmtpd, relayed) = start_with_relay(&dir, &state);
    let addr = lmtpd.addr("lda_listen");
    let script = r#"
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
s = smtplib.LMTP(host, port)
for rcpt in ["bob@example.org", "dave@example.org", "erin@example.org"]:
    print(s.sendmail("s@example.com", [rcpt], b"Subject: for " + rcpt.encode() + b"\r\n\r\nhi\r\n"))
s.quit()
"#;
    let out = Command::new(python())
        .args(["-c", script, &addr.ip().to_string(), &addr.port().to_string()])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let subj = |u: &str| inbox_subjects(&state, u);
    assert!(
        gromox_testkit::wait_until(Duration::from_secs(10), || subj("alice@example.org").len() == 1
            && subj("erin@example.org").len() == 2
            && subj("frank@example.org").len() == 1),
        "alice {:?} erin {:?} frank {:?}\n{}",
        subj("alice@example.org"),
        subj("erin@example.org"),
        subj("frank@example.org"),
        lmtpd.output()
    );
    assert_eq!(subj("bob@example.org"), vec!["for bob@example.org".to_string()]);
    assert_eq!(subj("alice@example.org"), vec!["for bob@example.org".to_string()]);
    assert!(subj("dave@example.org").is_empty(), "a redirect keeps no copy");
    let (from, rcpts, data) = relayed
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("nothing relayed\n{}", lmtpd.output()));
    assert_eq!(
        (from.as_str(), rcpts),
        ("s@example.com", vec!["x@example.net".to_string()])
    );
    assert!(
        data.starts_with("X-Gromox-Forwarded-For: <dave@example.org>\r\n"),
        "{data}"
    );
    assert!(data.contains("Subject: for dave@example.org\r\n"), "{data}");
    // The loop stopped: nothing more arrives.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        (subj("erin@example.org").len(), subj("frank@example.org").len()),
        (2, 1)
    );
}

/// Inbox rules stored in the mailbox run at delivery in sequence order: a subject rule moves
/// invoices into a folder, an "urgent" rule marks read, raises the importance and stops
/// further rules, a catch-all rule copies everything else into another folder.
#[test]
fn inbox_rules_move_mark_tag_copy_and_stop() {
    use gromox_mapi::restriction::{FuzzyLevel, Restriction, FL_IGNORECASE};
    use gromox_mapi::rule::{self, Action, ActionData};
    let dir = TestDir::new();
    let state = suite(&dir, &["alice"]);
    let maildir = gromox_base::names::user_maildir(&state, "alice@example.org").unwrap();
    let mut store = exmdbd::Store::open(&maildir, &Default::default()).unwrap();
    let invoices = store.create_folder(0x09, "Invoices", Some("IPF.Note")).unwrap();
    let all = store.create_folder(0x09, "All", Some("IPF.Note")).unwrap();
    let subject_has = |s: &str| Restriction::Content {
        level: FuzzyLevel::Substring,
        flags: FL_IGNORECASE,
        tag: PR_SUBJECT,
        value: gromox_mapi::TaggedVal::new(PR_SUBJECT, gromox_mapi::PropVal::Unicode(s.into())),
    };
    let act = |kind: u8, data: ActionData| Action {
        kind,
        flavor: 0,
        flags: 0,
        data,
    };
    let to = |f: u64| ActionData::MoveCopy {
        same_store: true,
        store_eid: vec![],
        folder_eid: rule::server_eid(f),
    };
    let mk = |name: &str, seq: u32, state: u32, condition: Restriction, actions: Vec<Action>| exmdbd::rules::Rule {
        id: 0,
        name: name.into(),
        provider: "RuleOrganizer".into(),
        sequence: seq,
        state,
        level: 0,
        user_flags: 0,
        provider_data: vec![],
        condition,
        actions,
    };
    store
        .add_rule(
            INBOX,
            &mk(
                "invoices",
                1,
                rule::ST_ENABLED,
                subject_has("invoice"),
                vec![act(rule::OP_MOVE, to(invoices))],
            ),
        )
        .unwrap();
    store
        .add_rule(
            INBOX,
            &mk(
                "urgent",
                2,
                rule::ST_ENABLED | rule::ST_EXIT_LEVEL,
                subject_has("urgent"),
                vec![
                    act(rule::OP_MARK_AS_READ, ActionData::None),
                    act(
                        rule::OP_TAG,
                        ActionData::Tag(gromox_mapi::TaggedVal::new(
                            gromox_mapi::PropTag(0x0017_0003),
                            gromox_mapi::PropVal::I4(2),
                        )),
                    ),
                ],
            ),
        )
        .unwrap();
    store
        .add_rule(
            INBOX,
            &mk(
                "disabled",
                3,
                0,
                Restriction::Exist(PR_SUBJECT),
                vec![act(rule::OP_DELETE, ActionData::None)],
            ),
        )
        .unwrap();
    store
        .add_rule(
            INBOX,
            &mk(
                "copy all",
                4,
                rule::ST_ENABLED,
                Restriction::Exist(PR_SUBJECT),
                vec![act(rule::OP_COPY, to(all))],
            ),
        )
        .unwrap();
    drop(store);
    let d = start(&dir);
    let addr = d.addr("lda_listen");
    for subject in ["Invoice 42", "URGENT: call me", "hello"] {
        let script = r#"
import smtplib, sys
s = smtplib.LMTP(sys.argv[1], int(sys.argv[2]))
s.sendmail("s@example.com", ["alice@example.org"], ("Subject: " + sys.argv[3] + "\r\n\r\nbody\r\n").encode())
s.quit()
"#;
        let out = Command::new(python())
            .args(["-c", script, &addr.ip().to_string(), &addr.port().to_string(), subject])
            .output()
            .expect("python3 runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let store = exmdbd::Store::open(&maildir, &Default::default()).unwrap();
    let subjects = |f: u64| -> Vec<(String, bool, Option<gromox_mapi::PropVal>)> {
        let mut v: Vec<_> = store
            .list_messages(f, false)
            .unwrap()
            .into_iter()
            .map(|m| {
                let c = store.read_message(m).unwrap();
                (
                    c.get(PR_SUBJECT).and_then(|v| v.as_str()).unwrap_or("").to_string(),
                    store.is_read(m).unwrap(),
                    c.get(gromox_mapi::PropTag(0x0017_0003)).cloned(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let inbox = subjects(INBOX);
    assert_eq!(
        inbox.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["URGENT: call me", "hello"],
        "{}",
        d.output()
    );
    assert!(inbox[0].1, "marked read");
    assert_eq!(inbox[0].2, Some(gromox_mapi::PropVal::I4(2)));
    assert!(!inbox[1].1);
    assert_eq!(
        subjects(invoices).iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["Invoice 42"]
    );
    // "copy all" ran for the invoice and "hello", not after the exit-level "urgent" rule.
    assert_eq!(
        subjects(all).iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["Invoice 42", "hello"]
    );
}

/// A "reply with template" rule (MS-OXORULE §2.2.5.1.2.2): the sender gets the template FAI
/// message's subject and text through the outgoing relay, from the null sender, once per
/// silence window; the message itself is stored as usual.
#[test]
fn reply_rule_answers_with_the_template_once() {
    use gromox_mapi::rule::{self, Action, ActionData};
    let dir = TestDir::new();
    let state = suite(&dir, &["carol"]);
    let maildir = gromox_base::names::user_maildir(&state, "carol@example.org").unwrap();
    let mut store = exmdbd::Store::open(&maildir, &Default::default()).unwrap();
    let guid = [7u8; 16];
    let mut t = exmdbd::MessageContent::default();
    t.set(
        gromox_mapi::tags::PR_MESSAGE_CLASS,
        gromox_mapi::PropVal::Unicode("IPM.Note.rules.ReplyTemplate.Microsoft".into()),
    );
    t.set(
        PR_SUBJECT,
        gromox_mapi::PropVal::Unicode("Danke für Ihre Nachricht".into()),
    );
    t.set(
        gromox_mapi::tags::PR_BODY,
        gromox_mapi::PropVal::Unicode("We answer within two days.\r\n".into()),
    );
    t.set(
        gromox_mapi::PropTag(0x65C2_0102),
        gromox_mapi::PropVal::Binary(guid.to_vec()),
    );
    let tmid = store.create_message(INBOX, &t, true).unwrap();
    let mut data = gromox_mapi::ids::Eid::new(1, INBOX).to_bytes().to_vec();
    data.extend_from_slice(&gromox_mapi::ids::Eid::new(1, tmid).to_bytes());
    data.extend_from_slice(&guid);
    store
        .add_rule(
            INBOX,
            &exmdbd::rules::Rule::new(
                "auto answer",
                gromox_mapi::restriction::Restriction::Exist(PR_SUBJECT),
                vec![Action {
                    kind: rule::OP_REPLY,
                    flavor: 0,
                    flags: 0,
                    data: ActionData::Raw(data),
                }],
            ),
        )
        .unwrap();
    drop(store);
    let (d, relayed) = start_with_relay(&dir, &state);
    let addr = d.addr("lda_listen");
    let script = r#"
import smtplib, sys
s = smtplib.LMTP(sys.argv[1], int(sys.argv[2]))
for i in range(2):
    s.sendmail("x@example.net", ["carol@example.org"], b"Subject: offer\r\nMessage-ID: <o%d@example.net>\r\n\r\nhello\r\n" % i)
s.sendmail("y@example.net", ["carol@example.org"], b"Subject: list\r\nPrecedence: bulk\r\n\r\nnews\r\n")
s.quit()
"#;
    let out = Command::new(python())
        .args(["-c", script, &addr.ip().to_string(), &addr.port().to_string()])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (from, rcpts, data) = relayed
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("no reply relayed\n{}", d.output()));
    assert_eq!((from.as_str(), rcpts), ("", vec!["x@example.net".to_string()]));
    // "Danke für Ihre Nachricht", RFC 2047-encoded.
    assert!(
        data.contains("Subject: =?UTF-8?B?RGFua2UgZsO8ciBJaHJlIE5hY2hyaWNodA==?=\r\n"),
        "{data}"
    );
    assert!(data.contains("In-Reply-To: <o0@example.net>\r\n"), "{data}");
    assert!(data.contains("Auto-Submitted: auto-replied\r\n"), "{data}");
    assert!(data.ends_with("\r\n\r\nWe answer within two days.\r\n"), "{data}");
    // Once per window, and nothing for bulk mail.
    assert!(
        relayed.recv_timeout(Duration::from_millis(800)).is_err(),
        "{}",
        d.output()
    );
    let mut subjects = inbox_subjects(&state, "carol@example.org");
    subjects.sort();
    assert_eq!(subjects, ["list", "offer", "offer"]);
}

/// Through exmdbd into the store: a 30 MB message, SMTPUTF8 with UTF-8 addresses and header
/// fields, and broken MIME are each delivered and readable afterwards — subject and body in
/// the MAPI properties, the original MIME kept byte for byte behind the Received: line.
#[test]
fn large_utf8_and_broken_messages_are_stored_and_readable() {
    let dir = TestDir::new();
    let state = suite(&dir, &["carol"]);
    let d = start(&dir);
    let addr = d.addr("lda_listen");
    let work = dir.path().join("msgs");
    std::fs::create_dir_all(&work).unwrap();
    // 30 MB: a base64 attachment of 22.5 MB.
    let mut big = b"From: a@example.net\r\nTo: carol@example.org\r\nSubject: big one\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n\
--b\r\nContent-Type: application/octet-stream; name=blob.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\r\n";
    while big.len() < 30_000_000 {
        big.extend_from_slice(line);
    }
    big.extend_from_slice(b"--b--\r\n");
    let utf8 = "From: Jürgen <jürgen@example.net>\r\nTo: carol@example.org\r\nSubject: Grüße aus Köln ✓\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nSchöne Grüße\r\n";
    let broken = b"From: x@example.net\r\nSubject: broken\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=nothere\r\n\r\n--wrong\r\nContent-Type: text/plain; charset=bogus-42\r\n\
Content-Transfer-Encoding: base64\r\n\r\n!!!not base64\xff\xfe\r\n";
    std::fs::write(work.join("big.eml"), &big).unwrap();
    std::fs::write(work.join("utf8.eml"), utf8).unwrap();
    std::fs::write(work.join("broken.eml"), broken).unwrap();
    let script = r#"
import smtplib, sys
host, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = smtplib.LMTP(host, port)
s.ehlo_or_helo_if_needed()
for name, sender, opts in [("big.eml", "a@example.net", []), ("utf8.eml", "jürgen@example.net", ["SMTPUTF8", "BODY=8BITMIME"]),
                           ("broken.eml", "x@example.net", [])]:
    data = open(d + "/" + name, "rb").read()
    r = s.sendmail(sender, ["carol@example.org"], data, mail_options=opts)
    print(name, r)
s.quit()
"#;
    let out = Command::new(python())
        .args([
            "-c",
            script,
            &addr.ip().to_string(),
            &addr.port().to_string(),
            work.to_str().unwrap(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.output()
    );
    let maildir = gromox_base::names::user_maildir(&state, "carol@example.org").unwrap();
    let store = exmdbd::Store::open(&maildir, &Default::default()).unwrap();
    let mut seen = Vec::new();
    for mid in store.list_messages(INBOX, false).unwrap() {
        let m = store.read_message(mid).unwrap();
        let subject = m.get(PR_SUBJECT).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let mime = store.message_mime(mid).unwrap().expect("original MIME kept");
        let original: &[u8] = match subject.as_str() {
            "big one" => &big,
            "Grüße aus Köln ✓" => utf8.as_bytes(),
            "broken" => broken,
            s => panic!("unexpected message {s:?}"),
        };
        assert!(mime.starts_with(b"Received: "), "{subject}");
        assert!(mime.ends_with(original), "{subject}: original kept byte for byte");
        if subject.starts_with("Grüße") {
            let body = m.get(gromox_mapi::tags::PR_BODY).and_then(|v| v.as_str()).unwrap_or("");
            assert!(body.contains("Schöne Grüße"), "{body:?}");
        }
        seen.push(subject);
    }
    seen.sort();
    assert_eq!(seen, ["Grüße aus Köln ✓", "big one", "broken"]);
}
