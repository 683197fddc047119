//! LMTP delivery throughput and latency against the real lmtpd binary (file-drop backend, so
//! every `250` is a durable mailbox copy: temp file, fdatasync, rename, directory fsync).
//!
//! `cargo bench -p lmtpd --bench throughput` — prints messages/s, p50 and p99 latency for 2 KiB
//! and 5 KB messages over 1, 4 and 8 connections, both with connections kept open and with a
//! new connection per message. `LMTPD_BENCH_SECS` sets the seconds per case (default 3);
//! `LMTPD_BENCH_DIR` puts the state directory on a chosen file system (default: the system
//! temporary directory); `LMTPD_BENCH_BACKEND=store` measures the default backend instead (user
//! directory + MIME → MAPI + the information store, the message readable in the mailbox when
//! `250` is sent).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gromox_testkit::Daemon;

struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let w = TcpStream::connect(addr)?;
        w.set_nodelay(true)?;
        let r = BufReader::new(w.try_clone()?);
        let mut c = Conn { w, r };
        c.expect("220")?;
        c.w.write_all(b"LHLO bench\r\n")?;
        c.expect("250")?;
        Ok(c)
    }

    /// Read one reply (skipping continuation lines) and check its code.
    fn expect(&mut self, code: &str) -> std::io::Result<()> {
        loop {
            let mut l = String::new();
            if self.r.read_line(&mut l)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if l.as_bytes().get(3) == Some(&b'-') {
                continue;
            }
            if !l.starts_with(code) {
                return Err(std::io::Error::other(format!("expected {code}, got {}", l.trim_end())));
            }
            return Ok(());
        }
    }

    fn send(&mut self, body: &[u8]) -> std::io::Result<()> {
        self.w
            .write_all(b"MAIL FROM:<bench@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")?;
        self.expect("250")?;
        self.expect("250")?;
        self.expect("354")?;
        self.w.write_all(body)?;
        self.expect("250")
    }
}

fn message(size: usize, n: usize) -> Vec<u8> {
    let mut m = format!(
        "From: bench@example.org\r\nTo: alice@example.org\r\nSubject: bench {n}\r\nMessage-ID: <{n}@bench>\r\n\r\n"
    )
    .into_bytes();
    while m.len() + 80 < size {
        m.extend_from_slice(&[b'x'; 76]);
        m.extend_from_slice(b"\r\n");
    }
    while m.len() + 5 < size {
        m.push(b'y');
    }
    m.extend_from_slice(b"\r\n.\r\n");
    m
}

fn run_case(addr: SocketAddr, size: usize, conns: usize, reconnect: bool, secs: f64) -> (f64, Duration, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut threads = Vec::new();
    for t in 0..conns {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut lat = Vec::new();
            let mut conn = if reconnect {
                None
            } else {
                Some(Conn::open(addr).expect("connect"))
            };
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = message(size, t * 1_000_000 + i);
                let t0 = Instant::now();
                if reconnect {
                    let mut c = Conn::open(addr).expect("connect");
                    c.send(&body).expect("delivery");
                    let _ = c.w.write_all(b"QUIT\r\n");
                } else if let Some(c) = conn.as_mut() {
                    c.send(&body).expect("delivery");
                }
                lat.push(t0.elapsed());
                i += 1;
            }
            lat
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    (all.len() as f64 / elapsed, pct(0.50), pct(0.99))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs: f64 = std::env::var("LMTPD_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let base = std::env::var_os("LMTPD_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("lmtpd-bench-")
        .tempdir_in(base)
        .expect("temp dir");
    let state = dir.path().display().to_string();
    // `store`: through exmdbd (the default store access); `store-local`: stores opened inside
    // lmtpd; anything else: the file drop.
    let mode = std::env::var("LMTPD_BENCH_BACKEND").unwrap_or_default();
    let store_backend = mode == "store" || mode == "store-local";
    let mut exmdbd = None;
    let cfg = dir.path().join("smtp.cfg");
    let backend = if store_backend {
        // The default backend: the user directory (SQLite) and alice's information store;
        // every 250 follows the store commit.
        let mut c = gromox_base::Config::defaults("bench", &gromox_directory::config_keys());
        c.set("state_path", &state).expect("state_path");
        gromox_directory::ensure_demo(&c, "example.org", "alice", "pw").expect("user");
        let maildir = gromox_base::names::user_maildir(dir.path(), "alice@example.org").expect("maildir");
        exmdbd::Store::create_private(&maildir, "alice@example.org", "en", false, &Default::default()).expect("store");
        if mode == "store-local" {
            "lda_backend = store\nlda_store_access = local\nevent_listen =\n".to_string()
        } else {
            let ecfg = dir.path().join("exmdb_provider.cfg");
            std::fs::write(
                &ecfg,
                format!("state_path = {state}\nexmdb_listen = 127.0.0.1:0\nexmdbd_log_level = warn\n"),
            )
            .expect("config");
            // Built by `cargo build --release -p exmdbd` (see README.md).
            let e = Daemon::start(
                &gromox_testkit::bin("exmdbd"),
                &["-c", ecfg.to_str().unwrap_or("")],
                dir.path(),
            )
            .expect("exmdbd starts");
            let addr = e.addr("exmdb_listen");
            exmdbd = Some(e);
            format!("lda_backend = store\nlda_store_access = exmdb\nexmdb_listen = {addr}\nevent_listen =\n")
        }
    } else {
        let drop = dir.path().join("drop");
        std::fs::create_dir_all(drop.join("alice@example.org")).expect("mailbox dir");
        format!("lda_backend = filedrop\nlda_filedrop_path = {}\n", drop.display())
    };
    std::fs::write(
        &cfg,
        format!(
            "config_file_path = {state}\nstate_path = {state}\nlda_listen = 127.0.0.1:0\n{backend}\
             lmtpd_log_level = warn\nhostname = bench\n"
        ),
    )
    .expect("config");
    let d = Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_lmtpd")),
        &["-c", cfg.to_str().unwrap_or("")],
        dir.path(),
    )
    .expect("lmtpd starts");
    let addr = d.addr("lda_listen");
    println!(
        "lmtpd throughput, {} backend, durable 250, {secs} s per case, state in {state}",
        match mode.as_str() {
            "store" => "information store over exmdb RPC",
            "store-local" => "information store in-process",
            _ => "file-drop",
        }
    );
    println!(
        "{:>6} {:>5} {:>10} {:>10} {:>9} {:>9}",
        "size", "conns", "mode", "msg/s", "p50 ms", "p99 ms"
    );
    for size in [2048usize, 5000] {
        for conns in [1usize, 4, 8] {
            for reconnect in [false, true] {
                let (rate, p50, p99) = run_case(addr, size, conns, reconnect, secs);
                println!(
                    "{:>6} {:>5} {:>10} {:>10.0} {:>9.2} {:>9.2}",
                    size,
                    conns,
                    if reconnect { "new-conn" } else { "kept-open" },
                    rate,
                    p50.as_secs_f64() * 1e3,
                    p99.as_secs_f64() * 1e3
                );
            }
        }
    }
    drop(d);
    drop(exmdbd);
}
