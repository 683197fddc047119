//! pop3d benchmark: a 50,000-message maildrop, login → STAT → UIDL → QUIT, and RETR
//! throughput in MB/s.
//!
//! `cargo bench -p pop3d --bench maildrop` measures the protocol layer over the in-memory
//! maildrop (codec, session, streaming of listings and dot-stuffing). With
//! `POP3_BENCH_MIDB=host:port POP3_BENCH_MAILDIR=/path/to/maildir` it measures the same over a
//! running midbd holding that mailbox (the daemon path: SELECT + FETCH-META at login,
//! FETCH-MIME for RETR); the mailbox must already hold the messages.

use std::sync::Arc;
use std::time::Instant;

use pop3d::fuzzing::Driver;
use pop3d::maildrop::{Account, Accounts, Locks, Maildrop, MemAccounts, MemMaildrop};
use pop3d::session::{Settings, Shared};

const MESSAGES: usize = 50_000;

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

fn main() {
    let (accounts, maildrop, what): (Arc<dyn Accounts>, Arc<dyn Maildrop>, String) =
        match (std::env::var("POP3_BENCH_MIDB"), std::env::var("POP3_BENCH_MAILDIR")) {
            (Ok(addr), Ok(maildir)) => {
                let addr = addr.parse().expect("POP3_BENCH_MIDB is host:port");
                let client = gromox_clients::midb::MidbClient::new(addr, Default::default());
                (
                    Arc::new(Fixed(Account {
                        user: "bench@example.org".into(),
                        maildir: maildir.clone(),
                    })),
                    Arc::new(pop3d::midb::MidbMaildrop::new(client, None)),
                    format!("midbd at {addr}, {maildir}"),
                )
            }
            _ => {
                let drop = MemMaildrop::new();
                let t = Instant::now();
                for i in 0..MESSAGES {
                    drop.deliver("/mem/bench", &message(i, 20));
                }
                eprintln!("filled {MESSAGES} messages in {:?}", t.elapsed());
                let mut acc = MemAccounts::new(None);
                acc.add("bench", "pw", true);
                (Arc::new(acc), Arc::new(drop), "in-memory maildrop".into())
            }
        };
    let shared = Arc::new(Shared {
        settings: Settings::default(),
        accounts,
        maildrop,
        locks: Locks::default(),
        log: gromox_base::log::discard(),
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
        "login+STAT+UIDL+QUIT, {n_msgs} messages: {:.1} ms (best of 5; target < 500 ms)",
        best * 1000.0
    );

    // RETR throughput: every message of the first 5,000 (or fewer).
    let mut d = Driver::new(shared.clone(), false);
    d.cmd("USER bench");
    d.cmd("PASS pw");
    let count = n_msgs.min(5_000);
    let t = Instant::now();
    let mut bytes = 0usize;
    for i in 1..=count {
        bytes += d.cmd(&format!("RETR {i}")).len();
    }
    let secs = t.elapsed().as_secs_f64();
    d.cmd("QUIT");
    println!(
        "RETR of {count} messages, {:.1} MB: {:.0} MB/s, {:.0} messages/s",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs,
        count as f64 / secs
    );
}
