//! imapd over midbd, end to end in one process: midbd's protocol server over its in-memory
//! store (so the numbers are imapd's and midbd's own cost, not exmdbd's), imapd's
//! `ImapProtocol` with the production `MidbStore`, a real user directory, and a raw IMAP
//! client over loopback. For a folder of `IMAP_BENCH_N` messages (default 20,000; 2 KB
//! messages with a multipart body) it reports: SELECT, `UID FETCH 1:* (UID FLAGS)`,
//! `FETCH 1:* (ENVELOPE BODYSTRUCTURE)` first and second time, the process's RSS growth, and
//! the memory per connection of `IMAP_BENCH_IDLE` clients (default 10,000; held by a child
//! process) sitting in IDLE.
//!
//! Run: `cargo bench -p imapd --bench suite` (`IMAP_BENCH_N=100000` for a bigger folder,
//! `IMAP_BENCH_CACHE=N` for another `imap_summary_cache`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gromox_base::acl::HostsAllow;
use gromox_base::Config;
use gromox_clients::midb::{MidbClient, MidbOptions};
use gromox_runtime::{Control, Listener, Server, ServerConfig};
use imapd::midbstore::MidbStore;
use imapd::session::{Config as SessionConfig, ImapProtocol};
use midbd::index::fid;
use midbd::source::FakeSource;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn listener(name: &'static str) -> Vec<Listener> {
    vec![Listener {
        name,
        addr: "127.0.0.1:0".parse().expect("addr"),
        tls: false,
        haproxy: false,
    }]
}

struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
    n: u32,
}

impl Client {
    /// Send a command; read to its tagged answer; the number of untagged lines.
    fn cmd(&mut self, c: &str) -> usize {
        self.n += 1;
        let tag = format!("b{}", self.n);
        self.w.write_all(format!("{tag} {c}\r\n").as_bytes()).expect("write");
        let mut lines = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            if self.r.read_until(b'\n', &mut line).expect("read") == 0 {
                panic!("connection closed after {c}");
            }
            if line.starts_with(tag.as_bytes()) {
                assert!(
                    line[tag.len()..].starts_with(b" OK"),
                    "{c}: {}",
                    String::from_utf8_lossy(&line)
                );
                return lines;
            }
            if line.starts_with(b"* ") {
                lines += 1;
            }
            // Literals: read exactly the announced octets.
            if let Some(open) = line.iter().rposition(|&b| b == b'{') {
                if line.ends_with(b"}\r\n") {
                    let n: usize = std::str::from_utf8(&line[open + 1..line.len() - 3])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let mut buf = vec![0u8; n];
                    std::io::Read::read_exact(&mut self.r, &mut buf).expect("literal");
                }
            }
        }
    }
}

/// Client mode: hold `IMAP_BENCH_IDLE` connections in IDLE on INBOX of the server at
/// `addr`, say "ready", and keep them until stdin closes.
fn hold_idle_clients(addr: &str) {
    let idle: usize = std::env::var("IMAP_BENCH_IDLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut idlers = Vec::with_capacity(idle);
    for i in 0..idle {
        let s = TcpStream::connect(addr).expect("connect");
        let mut c = Client {
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
            n: 0,
        };
        let mut greeting = String::new();
        c.r.read_line(&mut greeting).expect("greeting");
        c.cmd("LOGIN bench@example.org pw");
        c.cmd("SELECT INBOX");
        c.w.write_all(format!("i{i} IDLE\r\n").as_bytes()).expect("idle");
        let mut cont = String::new();
        c.r.read_line(&mut cont).expect("continuation");
        assert!(cont.starts_with('+'), "{cont}");
        // Only the write half is kept: the reader's buffer is not needed any more.
        idlers.push(c.w);
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink);
    drop(idlers);
}

fn main() {
    if let Ok(addr) = std::env::var("IMAP_BENCH_CLIENTS_OF") {
        hold_idle_clients(&addr);
        return;
    }
    let n: u32 = std::env::var("IMAP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    let mut cfg = Config::defaults("bench", &imapd::config::spec().keys);
    cfg.set("state_path", state.to_str().expect("utf-8"))
        .expect("state_path");
    cfg.set("auth_fail_delay", "0").expect("key");
    if let Ok(v) = std::env::var("IMAP_BENCH_CACHE") {
        cfg.set("imap_summary_cache", &v).expect("imap_summary_cache");
    }
    gromox_directory::ensure_demo(&cfg, "example.org", "bench", "pw").expect("user");
    let maildir = gromox_base::names::user_maildir(&state, "bench@example.org").expect("maildir");
    std::fs::create_dir_all(maildir.join("exmdb")).expect("mkdir");
    std::fs::write(maildir.join("exmdb/exchange.sqlite3"), b"").expect("store file");
    let md = maildir.to_str().expect("utf-8").to_string();
    let src = Arc::new(FakeSource::new());
    src.create_mailbox(&md);
    let t0 = Instant::now();
    for i in 0..n {
        let m = format!(
            "From: Sender {s} <s{s}@example.net>\r\nTo: bench@example.org\r\nSubject: message number {i}\r\n\
             Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{i}@example.net>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/alternative; boundary=\"b{i}\"\r\n\r\n--b{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
             --b{i}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{body}</p>\r\n--b{i}--\r\n",
            s = i % 97,
            body = "lorem ipsum dolor sit amet ".repeat(30)
        );
        src.deliver(&md, fid::INBOX, m.as_bytes(), 1_790_000_000 + i64::from(i));
    }
    println!("(filled {n} messages in {:.1} s)", t0.elapsed().as_secs_f64());

    let log = slog::Logger::root(slog::Discard, slog::o!());
    let midb_server = Server::bind(
        ServerConfig {
            listeners: listener("midb_listen"),
            threads: 4,
            max_input: midbd::codec::MAX_APPEND + midbd::codec::MAX_LINE,
            ..ServerConfig::default()
        },
        log.clone(),
    )
    .expect("bind midb");
    let midb_addr = midb_server.local_addrs()[0].1;
    let svc = Arc::new(midbd::Service::new(src, Duration::from_secs(600)));
    let midb_proto = Arc::new(midbd::MidbProtocol::new(
        svc,
        HostsAllow::parse("127.0.0.1").expect("acl"),
        log.clone(),
    ));
    let midb_control = Control::new();
    let c2 = midb_control.clone();
    let midb_thread = std::thread::spawn(move || midb_server.run(midb_proto, c2));

    let client = MidbClient::new(midb_addr, MidbOptions::default());
    let probe = MidbClient::new(midb_addr, MidbOptions::default());
    let store = Arc::new(MidbStore::new(client, None, &cfg, log.clone()));
    let imap_server = Server::bind(
        ServerConfig {
            listeners: listener("imap_listen"),
            threads: 4,
            context_num: 20_000,
            ..ServerConfig::default()
        },
        log.clone(),
    )
    .expect("bind imap");
    let imap_addr = imap_server.local_addrs()[0].1;
    let proto = Arc::new(ImapProtocol::new(store, SessionConfig::default(), log));
    let imap_control = Control::new();
    let c3 = imap_control.clone();
    let imap_thread = std::thread::spawn(move || imap_server.run(proto, c3));

    let s = TcpStream::connect(imap_addr).expect("connect");
    let mut c = Client {
        r: BufReader::new(s.try_clone().expect("clone")),
        w: s,
        n: 0,
    };
    let mut greeting = String::new();
    c.r.read_line(&mut greeting).expect("greeting");
    c.cmd("LOGIN bench@example.org pw");
    // midbd builds its index on the first request for the folder.
    let t = Instant::now();
    c.cmd("STATUS INBOX (MESSAGES)");
    println!(
        "first access (midbd builds the index of {n}): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let base = rss_kb();
    let row = |label: &str, cmd: &str, c: &mut Client| {
        let t = Instant::now();
        let lines = c.cmd(cmd);
        let dt = t.elapsed().as_secs_f64();
        println!(
            "{label}: {dt:.3} s ({lines} untagged lines, {:.0} msg/s)",
            f64::from(n) / dt
        );
    };
    row("SELECT INBOX", "SELECT INBOX", &mut c);
    row("UID FETCH 1:* (UID FLAGS)", "UID FETCH 1:* (UID FLAGS)", &mut c);
    {
        // The midbd share of that: FETCH-META of every UID through the client library alone.
        let t = Instant::now();
        let mut k = 0u32;
        probe
            .fetch_meta(&md, "INBOX", &[(1..=n).collect::<Vec<u32>>()].concat(), &mut |_| k += 1)
            .expect("fetch-meta");
        println!(
            "  (midbd FETCH-META alone, through the client library: {k} records in {:.3} s)",
            t.elapsed().as_secs_f64()
        );
    }
    row(
        "FETCH 1:* (ENVELOPE BODYSTRUCTURE), first",
        "FETCH 1:* (ENVELOPE BODYSTRUCTURE)",
        &mut c,
    );
    row(
        "FETCH 1:* (ENVELOPE BODYSTRUCTURE), again",
        "FETCH 1:* (ENVELOPE BODYSTRUCTURE)",
        &mut c,
    );
    row(
        "UID SEARCH SUBJECT \"number 1999\"",
        "UID SEARCH SUBJECT \"number 1999\"",
        &mut c,
    );
    println!(
        "RSS growth of imapd + midbd (one process) right after serving: {} MB",
        rss_kb().saturating_sub(base) / 1024
    );
    // The runtime hands freed memory back to the system within a few seconds of a burst.
    std::thread::sleep(std::time::Duration::from_secs(5));
    println!(
        "RSS growth of imapd + midbd (one process) 5 s after serving: {} MB",
        rss_kb().saturating_sub(base) / 1024
    );
    c.cmd("LOGOUT");

    // Idle IDLE clients: memory per connection. The clients live in a child process (this
    // bench re-executed in client mode), so the figure is the server's alone and 10,000 of them
    // fit under a per-process descriptor limit of 20,000.
    let idle: usize = std::env::var("IMAP_BENCH_IDLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let before = rss_kb();
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("IMAP_BENCH_CLIENTS_OF", imap_addr.to_string())
        .env("IMAP_BENCH_IDLE", idle.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("client process");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("client process output");
    assert_eq!(ready.trim(), "ready", "client process: {ready}");
    std::thread::sleep(Duration::from_millis(500));
    let grown = rss_kb().saturating_sub(before);
    println!(
        "{idle} clients in IDLE on the {n}-message folder: imapd + midbd RSS +{} MB, {:.1} KB per connection",
        grown / 1024,
        grown as f64 / idle as f64
    );
    drop(child.stdin.take());
    let _ = child.wait();
    imap_control.shutdown();
    midb_control.shutdown();
    let _ = imap_thread.join();
    let _ = midb_thread.join();
}
