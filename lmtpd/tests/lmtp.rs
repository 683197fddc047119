//! lmtpd over real TCP: the real binary on 127.0.0.1 port 0 with the file-drop backend,
//! driven by Python's smtplib.LMTP (tests/py/client.py) and by raw sockets.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gromox_testkit::{python, wait_until, Daemon, TestDir};

const USERS: &[&str] = &[
    "alice@example.org",
    "bob@example.org",
    "disabled@example.org",
    "full@example.org",
    "flaky@example.org",
    "jörg@example.org",
];

fn drop_dir(dir: &TestDir) -> PathBuf {
    dir.path().join("drop")
}

fn start(dir: &TestDir, extra: &[(&str, &str)]) -> Daemon {
    let state = dir.path().display().to_string();
    let drop = drop_dir(dir);
    for u in USERS {
        std::fs::create_dir_all(drop.join(u)).unwrap();
    }
    std::fs::write(drop.join("disabled@example.org/INACTIVE"), "").unwrap();
    std::fs::write(drop.join("full@example.org/OVERQUOTA"), "").unwrap();
    std::fs::write(drop.join("flaky@example.org/TEMPFAIL"), "").unwrap();
    let drops = drop.display().to_string();
    let mut keys = vec![
        ("config_file_path", state.as_str()),
        ("state_path", state.as_str()),
        ("lda_listen", "127.0.0.1:0"),
        ("lda_backend", "filedrop"),
        ("lda_filedrop_path", drops.as_str()),
        ("hostname", "localhost"),
        ("lmtpd_log_level", "debug"),
    ];
    keys.extend_from_slice(extra);
    let cfg = dir.write_config("smtp.cfg", &keys);
    Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_lmtpd")),
        &["-c", cfg.to_str().unwrap()],
        dir.path(),
    )
    .expect("lmtpd starts")
}

fn scenario(name: &str, extra: &[(&str, &str)]) {
    scenario_in(&TestDir::new(), name, extra);
}

fn scenario_in(dir: &TestDir, name: &str, extra: &[(&str, &str)]) {
    let d = start(dir, extra);
    let addr = d.addr("lda_listen");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/client.py");
    let out = Command::new(python())
        .arg(&script)
        .args([name, &addr.ip().to_string(), &addr.port().to_string()])
        .arg(drop_dir(dir))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "scenario {name} failed:\n{}\n{}\n--- lmtpd log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.output()
    );
    // Nothing is left in the spool after LMTP deliveries.
    assert_eq!(std::fs::read_dir(dir.path().join("spool/tmp")).unwrap().count(), 0);
}

#[test]
fn several_recipients_get_one_reply_each() {
    scenario("multi", &[]);
}

#[test]
fn thirty_megabyte_message() {
    scenario("big", &[]);
}

#[test]
fn smtputf8_and_8bit_messages() {
    scenario("utf8", &[]);
}

#[test]
fn broken_mime_is_accepted() {
    scenario("broken", &[]);
}

#[test]
fn pipelined_commands_and_messages() {
    scenario("pipelining", &[]);
}

#[test]
fn size_limit_refusals() {
    scenario("size", &[("mail_max_length", "64K")]);
}

#[test]
fn line_length_refusals() {
    scenario("linelength", &[]);
}

#[test]
fn bdat_chunks() {
    scenario("bdat", &[]);
}

#[test]
fn starttls_upgrades_and_is_required_when_forced() {
    let dir = TestDir::new();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    gromox_runtime::tls::self_signed(&["localhost".to_string()], &cert, &key).expect("certificate");
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    scenario_in(
        &dir,
        "starttls",
        &[
            ("lda_certificate_path", c.as_str()),
            ("lda_private_key_path", k.as_str()),
            ("lda_force_starttls", "yes"),
        ],
    );
}

#[test]
fn idle_connection_gets_421_and_is_closed() {
    scenario("timeout", &[("lda_conn_timeout", "1s")]);
}

/// A minimal raw client: returns the reply lines (last line of each reply).
struct Raw {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Raw {
    fn connect(addr: SocketAddr) -> std::io::Result<Raw> {
        let w = TcpStream::connect(addr)?;
        w.set_read_timeout(Some(Duration::from_secs(30)))?;
        let r = BufReader::new(w.try_clone()?);
        let mut c = Raw { w, r };
        let g = c.reply()?;
        if !g.starts_with("220 ") {
            return Err(std::io::Error::other(g));
        }
        Ok(c)
    }
    fn reply(&mut self) -> std::io::Result<String> {
        loop {
            let mut l = String::new();
            if self.r.read_line(&mut l)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok(l.trim_end().to_string());
            }
        }
    }
    fn cmd(&mut self, c: &str) -> std::io::Result<String> {
        self.w.write_all(format!("{c}\r\n").as_bytes())?;
        self.reply()
    }
}

/// Send one message; `Ok(true)` when it was acknowledged with 250.
fn send_one(c: &mut Raw, rcpt: &str, tag: &str) -> std::io::Result<bool> {
    c.cmd("MAIL FROM:<load@example.org>")?;
    c.cmd(&format!("RCPT TO:<{rcpt}>"))?;
    let r = c.cmd("DATA")?;
    if !r.starts_with("354") {
        return Ok(false);
    }
    let body = format!(
        "Message-ID: <{tag}@test>\r\nSubject: {tag}\r\n\r\n{}.\r\n",
        format!("{}\r\n", "x".repeat(78)).repeat(25)
    );
    c.w.write_all(body.as_bytes())?;
    let r = c.reply()?;
    Ok(r.starts_with("250 "))
}

fn delivered_tags(drop: &Path, who: &str) -> Vec<String> {
    let mut tags = Vec::new();
    if let Ok(rd) = std::fs::read_dir(drop.join(who).join("new")) {
        for e in rd.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            if let Some(i) = text.find("Message-ID: <") {
                let rest = &text[i + 13..];
                if let Some(j) = rest.find('@') {
                    tags.push(rest[..j].to_string());
                }
            }
        }
    }
    tags
}

#[test]
fn sigkill_loses_no_acknowledged_message() {
    let dir = TestDir::new();
    let mut d = start(&dir, &[("lmtpd_log_level", "warn")]);
    let addr = d.addr("lda_listen");
    let acked = Arc::new(Mutex::new(Vec::<(bool, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    // Two LMTP sessions to alice (250 after the mailbox copy) and two SMTP sessions to flaky
    // (250 after the spool commit; flaky's mailbox fails temporarily, so every acknowledged
    // SMTP message is still in the spool when lmtpd is killed and only the recovery pass
    // after the restart can deliver it).
    for t in 0..4 {
        let acked = acked.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let smtp = t >= 2;
            let Ok(mut c) = Raw::connect(addr) else { return };
            if c.cmd(if smtp { "EHLO load" } else { "LHLO load" }).is_err() {
                return;
            }
            let rcpt = if smtp { "flaky@example.org" } else { "alice@example.org" };
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let tag = format!("t{t}m{i}");
                match send_one(&mut c, rcpt, &tag) {
                    Ok(true) => acked.lock().unwrap().push((smtp, tag)),
                    Ok(false) => {}
                    Err(_) => return,
                }
                i += 1;
            }
        }));
    }
    assert!(wait_until(Duration::from_secs(30), || {
        let a = acked.lock().unwrap();
        a.iter().filter(|(smtp, _)| *smtp).count() >= 20 && a.iter().filter(|(smtp, _)| !*smtp).count() >= 20
    }));
    d.kill();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let drop = drop_dir(&dir);
    assert!(delivered_tags(&drop, "flaky@example.org").is_empty());
    std::fs::remove_file(drop.join("flaky@example.org/TEMPFAIL")).unwrap();
    d.restart().expect("lmtpd restarts");
    let missing = || -> Vec<String> {
        let alice = delivered_tags(&drop, "alice@example.org");
        let flaky = delivered_tags(&drop, "flaky@example.org");
        acked
            .iter()
            .filter(|(smtp, t)| !(if *smtp { &flaky } else { &alice }).contains(t))
            .map(|(_, t)| t.clone())
            .collect()
    };
    let ok = wait_until(Duration::from_secs(30), || missing().is_empty());
    assert!(
        ok,
        "acknowledged but not delivered: {:?} (of {})",
        missing(),
        acked.len()
    );
    // The queue drains after recovery.
    assert!(wait_until(Duration::from_secs(10), || lmtpd::spool::mailq(dir.path())
        .unwrap()
        .is_empty()));
}

#[test]
fn smtp_mode_queues_deferred_mail_and_mailq_lists_it() {
    let dir = TestDir::new();
    let d = start(
        &dir,
        &[
            ("command_protocol", "smtp"),
            ("lda_retry_min", "100ms"),
            ("lda_retry_max", "200ms"),
        ],
    );
    let addr = d.addr("lda_listen");
    let mut c = Raw::connect(addr).unwrap();
    assert!(c.cmd("LHLO x").unwrap().starts_with("500 5.5.1"));
    assert!(c.cmd("EHLO x").unwrap().starts_with("250 "));
    assert!(c.cmd("MAIL FROM:<a@example.org>").unwrap().starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<flaky@example.org>").unwrap().starts_with("250 2.1.5"));
    assert!(c.cmd("RCPT TO:<bob@example.org>").unwrap().starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").unwrap().starts_with("354"));
    c.w.write_all(b"Message-ID: <q1@test>\r\n\r\nhi\r\n.\r\n").unwrap();
    let r = c.reply().unwrap();
    assert!(r.starts_with("250 2.0.0 ") && r.ends_with(" queued"), "{r}");
    assert!(wait_until(Duration::from_secs(10), || delivered_tags(
        &drop_dir(&dir),
        "bob@example.org"
    ) == ["q1"]));
    // flaky stays deferred: the queue lists it with only that recipient pending.
    let q = lmtpd::spool::mailq(dir.path()).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].pending, vec!["flaky@example.org".to_string()]);
    assert!(lmtpd::spool::format_mailq(&q).contains("flaky@example.org"));
    // Once the mailbox works again the retry delivers it, to flaky only.
    std::fs::remove_file(drop_dir(&dir).join("flaky@example.org/TEMPFAIL")).unwrap();
    assert!(wait_until(Duration::from_secs(10), || delivered_tags(
        &drop_dir(&dir),
        "flaky@example.org"
    ) == ["q1"]));
    assert!(wait_until(Duration::from_secs(5), || lmtpd::spool::mailq(dir.path())
        .unwrap()
        .is_empty()));
    assert_eq!(delivered_tags(&drop_dir(&dir), "bob@example.org"), ["q1"]);
}

#[test]
fn store_backend_refuses_rather_than_accepting() {
    let dir = TestDir::new();
    let d = start(&dir, &[("lda_backend", "store"), ("lda_max_errors", "3")]);
    let mut c = Raw::connect(d.addr("lda_listen")).unwrap();
    assert!(c.cmd("LHLO x").unwrap().starts_with("250 "));
    assert!(c.cmd("MAIL FROM:<a@example.org>").unwrap().starts_with("250 2.1.0"));
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.org>").unwrap(),
        "451 4.3.0 <alice@example.org> store not available"
    );
    assert!(c.cmd("DATA").unwrap().starts_with("554 5.5.1"));
    // Error limit: the third refused command closes the connection with 421.
    assert!(c.cmd("FOO").unwrap().starts_with("500 5.5.1"));
    assert!(c.cmd("BAR").unwrap().starts_with("500 5.5.1"));
    assert!(c.reply().unwrap().starts_with("421 4.7.0"));
}

#[test]
fn sigterm_stops_cleanly_and_unacknowledged_leftovers_are_discarded() {
    let dir = TestDir::new();
    // A partial LMTP message from an earlier crash: never acknowledged, so it must go.
    std::fs::create_dir_all(dir.path().join("spool/tmp")).unwrap();
    std::fs::write(
        dir.path().join("spool/tmp/dead-1"),
        "GROMOX-SPOOL 1\nrcpt alice@example.org\n",
    )
    .unwrap();
    let mut d = start(&dir, &[]);
    assert!(!dir.path().join("spool/tmp/dead-1").exists());
    let mut c = Raw::connect(d.addr("lda_listen")).unwrap();
    assert!(c.cmd("LHLO x").unwrap().starts_with("250 "));
    drop(c);
    let status = d.terminate(Duration::from_secs(20)).expect("lmtpd exits on SIGTERM");
    assert!(status.success(), "{status:?}\n{}", d.output());
    assert!(delivered_tags(&drop_dir(&dir), "alice@example.org").is_empty());
}

#[test]
fn smtp_mode_permanent_failure_bounces_to_a_local_sender() {
    let dir = TestDir::new();
    let d = start(&dir, &[]);
    std::fs::create_dir_all(drop_dir(&dir).join("broken@example.org")).unwrap();
    std::fs::write(drop_dir(&dir).join("broken@example.org/PERMFAIL"), "").unwrap();
    let mut c = Raw::connect(d.addr("lda_listen")).unwrap();
    assert!(c.cmd("EHLO x").unwrap().starts_with("250 "));
    // From alice (local) to broken (fails permanently at delivery) and bob (fine).
    assert!(c.cmd("MAIL FROM:<alice@example.org>").unwrap().starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<broken@example.org>").unwrap().starts_with("250 2.1.5"));
    assert!(c.cmd("RCPT TO:<bob@example.org>").unwrap().starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").unwrap().starts_with("354"));
    c.w.write_all(b"Message-ID: <b1@test>\r\nSubject: doomed\r\n\r\nhi\r\n.\r\n")
        .unwrap();
    assert!(c.reply().unwrap().starts_with("250 2.0.0 "));
    // A bounce from <> to bob must not bounce again.
    assert!(c.cmd("MAIL FROM:<>").unwrap().starts_with("250 2.1.0"));
    assert!(c.cmd("RCPT TO:<broken@example.org>").unwrap().starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").unwrap().starts_with("354"));
    c.w.write_all(b"Message-ID: <b2@test>\r\n\r\nhi\r\n.\r\n").unwrap();
    assert!(c.reply().unwrap().starts_with("250 2.0.0 "));
    let alice = drop_dir(&dir).join("alice@example.org/new");
    let dsns = || -> Vec<String> {
        std::fs::read_dir(&alice)
            .map(|rd| {
                rd.flatten()
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(wait_until(Duration::from_secs(10), || dsns().len() == 1));
    let dsn = &dsns()[0];
    assert!(
        dsn.starts_with("Return-Path: <>\r\nDelivered-To: alice@example.org\r\n"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Content-Type: multipart/report; report-type=delivery-status;"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Final-Recipient: rfc822; broken@example.org\r\nAction: failed\r\nStatus: 5.3.0\r\n"),
        "{dsn}"
    );
    assert!(!dsn.contains("rfc822; bob@example.org"), "{dsn}");
    assert!(dsn.contains("Message-ID: <b1@test>\r\nSubject: doomed\r\n"), "{dsn}");
    assert_eq!(delivered_tags(&drop_dir(&dir), "bob@example.org"), ["b1"]);
    assert!(wait_until(Duration::from_secs(5), || lmtpd::spool::mailq(dir.path())
        .unwrap()
        .is_empty()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dsns().len(), 1);
}
