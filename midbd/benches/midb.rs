//! midbd benchmark: fill a folder of the in-memory store with N messages (default 10,000;
//! `MIDB_BENCH_N` overrides; `MIDB_BENCH_BODY` sets the body size, default 2000), then time through the real protocol server and client:
//! the first sync (UIDs, rendition sizes), SELECT, FETCH-META of every UID, a re-sync after
//! one delivery, STATUS when nothing changed, and SET-FLAGS on every message.
//!
//! Run: `cargo bench -p midbd --bench midb` (numbers in README.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gromox_base::acl::HostsAllow;
use gromox_clients::midb::{FlagMode, MidbClient, MidbOptions};
use gromox_runtime::{Control, Listener, Server, ServerConfig};
use midbd::index::fid;
use midbd::source::FakeSource;
use midbd::{MidbProtocol, Service};

fn main() {
    let n: usize = std::env::var("MIDB_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("exmdb")).expect("mkdir");
    std::fs::write(dir.path().join("exmdb/exchange.sqlite3"), b"").expect("store file");
    let md = dir.path().to_str().expect("utf-8 path").to_string();
    let src = Arc::new(FakeSource::new());
    src.create_mailbox(&md);
    let body_len: usize = std::env::var("MIDB_BENCH_BODY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let body = "x".repeat(body_len);
    for i in 0..n {
        let mime = format!("From: a@example.org\r\nSubject: message {i}\r\n\r\n{body}\r\n");
        src.deliver(&md, fid::INBOX, mime.as_bytes(), 1_700_000_000 + i as i64);
    }
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let cfg = ServerConfig {
        listeners: vec![Listener {
            name: "midb_listen",
            addr: "127.0.0.1:0".parse().expect("addr"),
            tls: false,
            haproxy: false,
        }],
        threads: 2,
        max_input: midbd::codec::MAX_APPEND + midbd::codec::MAX_LINE,
        ..ServerConfig::default()
    };
    let server = Server::bind(cfg, log.clone()).expect("bind");
    let addr = server.local_addrs()[0].1;
    let svc = Arc::new(Service::new(src.clone(), Duration::from_secs(600)));
    let proto = Arc::new(MidbProtocol::new(
        svc,
        HostsAllow::parse("127.0.0.1").expect("acl"),
        log,
    ));
    let control = Control::new();
    let c2 = control.clone();
    let t = std::thread::spawn(move || server.run(proto, c2));
    let c = MidbClient::new(addr, MidbOptions::default());

    let time = |what: &str, f: &mut dyn FnMut()| {
        let t0 = Instant::now();
        f();
        let d = t0.elapsed();
        println!("{what:<40} {:>10.1} ms", d.as_secs_f64() * 1000.0);
    };
    println!("midbd benchmark, {n} messages in INBOX (in-memory store, protocol over TCP)");
    time("first sync (STATUS on a new index)", &mut || {
        let st = c.status(&md, "INBOX").expect("status");
        assert_eq!(st.messages as usize, n);
    });
    let mut uids = Vec::new();
    time("SELECT (counters + all UIDs)", &mut || {
        uids = c.select(&md, "INBOX").expect("select").1;
    });
    time("FETCH-META of all UIDs", &mut || {
        let mut k = 0;
        c.fetch_meta(&md, "INBOX", &uids, &mut |_| k += 1).expect("fetch_meta");
        assert_eq!(k, n);
    });
    time("STATUS, folder unchanged", &mut || {
        c.status(&md, "INBOX").expect("status");
    });
    src.deliver(&md, fid::INBOX, b"Subject: new\r\n\r\n", 1);
    time("STATUS after one delivery (re-sync)", &mut || {
        let st = c.status(&md, "INBOX").expect("status");
        assert_eq!(st.messages as usize, n + 1);
    });
    time("SET-FLAGS +\\Seen on every message", &mut || {
        c.set_flags(&md, "INBOX", &uids, FlagMode::Add, &["\\Seen".to_string()])
            .expect("set_flags");
    });
    let size = std::fs::metadata(midbd::index::index_path(dir.path())).map_or(0, |m| m.len());
    println!("{:<40} {:>10.1} KiB", "midb.sqlite3 size", size as f64 / 1024.0);
    control.shutdown();
    let _ = t.join();
}
