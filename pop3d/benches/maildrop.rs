//! pop3d benchmark: a 50,000-message maildrop, login → STAT → UIDL → QUIT, and RETR
//! throughput in MB/s.
//!
//! `cargo bench -p pop3d --bench maildrop` runs it twice: over the in-memory maildrop (the
//! protocol layer alone: codec, session, streamed listings, dot-stuffing), and over midbd's
//! protocol server in-process on 127.0.0.1 with its in-memory store (the daemon's path:
//! SELECT + streamed FETCH-META over TCP at login, FETCH-MIME per RETR; the index is built by
//! a first SELECT, timed separately). With `POP3_BENCH_MIDB=host:port
//! POP3_BENCH_MAILDIR=/path/to/maildir` it runs over a running midbd holding that mailbox
//! instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gromox_base::acl::HostsAllow;
use gromox_clients::midb::MidbClient;
use gromox_runtime::{Control, Listener, Server, ServerConfig};
use midbd::source::FakeSource;

use pop3d::fuzzing::Driver;
use pop3d::maildrop::{Account, Accounts, Locks, Maildrop, MemAccounts, MemMaildrop};
use pop3d::session::{Settings, Shared};

const MESSAGES: usize = 50_000;
/// 0.9 MB messages after the small ones (part of the 50,000).
const BIG: usize = 20;

struct Fixed(Account);

impl Accounts for Fixed {
    fn login(&self, _: &str, _: &str, _: std::net::SocketAddr, _: &str) -> Result<Account, pop3d::LoginError> {
        Ok(self.0.clone())
    }
}

fn message(i: usize, body_lines: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Sender <sender@example.net>\r\nTo: demo@example.org\r\nSubject: message {i}\r\n\
         Message-ID: <{i}@example.net>\r\nDate: Mon, 23 Nov 2026 00:00:00 +0000\r\n\r\n"
    )
    .into_bytes();
    for l in 0..body_lines {
        m.extend_from_slice(format!("body line {l} of message {i}, some text to fill the line up\r\n").as_bytes());
    }
    m
}

fn run(accounts: Arc<dyn Accounts>, maildrop: Arc<dyn Maildrop>, what: &str) {
    let shared = Arc::new(Shared {
        settings: Settings::default(),
        accounts,
        maildrop,
        locks: Locks::default(),
        log: gromox_base::log::discard(),
        metrics: Default::default(),
    });
    println!("pop3d benchmark over the {what}");

    // Login → STAT → UIDL → QUIT, best of 5.
    let mut best = f64::MAX;
    let mut n_msgs = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let mut d = Driver::new(shared.clone(), false);
        d.cmd("USER bench");
        let r = d.cmd("PASS pw");
        assert!(r.starts_with("+OK"), "{r}");
        let stat = d.cmd("STAT");
        let uidl = d.cmd("UIDL");
        d.cmd("QUIT");
        best = best.min(t.elapsed().as_secs_f64());
        n_msgs = stat
            .split(' ')
            .nth(1)
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        assert_eq!(uidl.lines().count(), n_msgs + 2);
    }
    println!(
        "  login+STAT+UIDL+QUIT, {n_msgs} messages: {:.1} ms (best of 5; target < 500 ms)",
        best * 1000.0
    );

    // RETR throughput: the first 5,000 (small) messages, then the big ones at the end.
    let mut d = Driver::new(shared.clone(), false);
    d.cmd("USER bench");
    d.cmd("PASS pw");
    for (label, range) in [
        ("small", 1..=n_msgs.min(5_000)),
        ("0.9 MB", n_msgs.saturating_sub(BIG) + 1..=n_msgs),
    ] {
        let count = range.clone().count();
        let t = Instant::now();
        let mut bytes = 0usize;
        for i in range {
            bytes += d.cmd(&format!("RETR {i}")).len();
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "  RETR of {count} {label} messages, {:.1} MB: {:.0} MB/s, {:.0} messages/s",
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / secs,
            count as f64 / secs
        );
    }
    d.cmd("QUIT");
}

fn main() {
    let fixed = |maildir: &str| -> Arc<dyn Accounts> {
        Arc::new(Fixed(Account {
            user: "bench@example.org".into(),
            maildir: maildir.into(),
        }))
    };
    if let (Ok(addr), Ok(maildir)) = (std::env::var("POP3_BENCH_MIDB"), std::env::var("POP3_BENCH_MAILDIR")) {
        let addr = addr.parse().expect("POP3_BENCH_MIDB is host:port");
        let client = MidbClient::new(addr, Default::default());
        let drop = Arc::new(pop3d::midb::MidbMaildrop::new(client, None));
        run(fixed(&maildir), drop, &format!("midbd at {addr}, {maildir}"));
        return;
    }

    // In memory.
    let drop = MemMaildrop::new();
    for i in 0..MESSAGES {
        drop.deliver("/mem/bench", &message(i, if i >= MESSAGES - BIG { 14_000 } else { 20 }));
    }
    let mut acc = MemAccounts::new(None);
    acc.add("bench", "pw", true);
    run(Arc::new(acc), Arc::new(drop), "in-memory maildrop");

    // midbd in-process over its in-memory store.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("exmdb")).expect("mkdir");
    std::fs::write(dir.path().join("exmdb/exchange.sqlite3"), b"").expect("write");
    let maildir = dir.path().to_str().expect("utf-8 temp dir").to_string();
    let src = Arc::new(FakeSource::new());
    src.create_mailbox(&maildir);
    for i in 0..MESSAGES {
        let m = message(i, if i >= MESSAGES - BIG { 14_000 } else { 20 });
        src.deliver(&maildir, midbd::index::fid::INBOX, &m, 1_700_000_000);
    }
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let cfg = ServerConfig {
        listeners: vec![Listener {
            name: "midb_listen",
            addr: "127.0.0.1:0".parse().expect("address"),
            tls: false,
            haproxy: false,
        }],
        threads: 2,
        max_input: midbd::codec::MAX_APPEND + midbd::codec::MAX_LINE,
        ..ServerConfig::default()
    };
    let server = Server::bind(cfg, log.clone()).expect("bind");
    let addr = server.local_addrs()[0].1;
    let svc = Arc::new(midbd::Service::new(src, Duration::from_secs(600)));
    let proto = Arc::new(midbd::MidbProtocol::new(
        svc,
        HostsAllow::parse("127.0.0.1").expect("acl"),
        log,
    ));
    let control = Control::new();
    let c2 = control.clone();
    let thread = std::thread::spawn(move || server.run(proto, c2).expect("midbd runs"));
    let client = MidbClient::new(addr, Default::default());
    let t = Instant::now();
    client.select(&maildir, "INBOX").expect("first SELECT");
    println!(
        "midbd: first SELECT indexes {MESSAGES} messages in {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let drop = Arc::new(pop3d::midb::MidbMaildrop::new(client, None));
    run(
        fixed(&maildir),
        drop,
        "midbd protocol (in-process, 127.0.0.1, in-memory store)",
    );
    control.shutdown();
    let _ = thread.join();
}
