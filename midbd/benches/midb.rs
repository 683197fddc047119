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
use midbd::source::{FakeSource, StoreSource};
use midbd::{MidbProtocol, Service};

/// The store behind midbd, a way to deliver into it, and what keeps it running.
type Setup = (Arc<dyn StoreSource>, Box<dyn Fn(&[u8])>, Option<exmdb::Running>);

fn main() {
    let n: usize = std::env::var("MIDB_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("exmdb")).expect("mkdir");
    std::fs::write(dir.path().join("exmdb/exchange.sqlite3"), b"").expect("store file");
    let md = dir.path().to_str().expect("utf-8 path").to_string();
    let exmdb_mode = std::env::var_os("MIDB_BENCH_EXMDB").is_some();
    let fake = Arc::new(FakeSource::new());
    fake.create_mailbox(&md);
    let body_len: usize = std::env::var("MIDB_BENCH_BODY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let body = "x".repeat(body_len);
    // With MIDB_BENCH_EXMDB set: a real store behind an in-process exmdbd, filled with the
    // store library as lmtpd does.
    let (src, deliver, _exmdb): Setup = if exmdb_mode {
        let (run, src, deliver) = exmdb::start(dir.path());
        (src, deliver, Some(run))
    } else {
        let f2 = fake.clone();
        let md2 = md.clone();
        (
            fake.clone(),
            Box::new(move |m: &[u8]| {
                f2.deliver(&md2, fid::INBOX, m, 1_700_000_000);
            }),
            None,
        )
    };
    let md = if exmdb_mode { exmdb::maildir(dir.path()) } else { md };
    let t0 = Instant::now();
    for i in 0..n {
        let mime = format!("From: a@example.org\r\nSubject: message {i}\r\n\r\n{body}\r\n");
        deliver(mime.as_bytes());
    }
    println!("(filled in {:.1} s)", t0.elapsed().as_secs_f64());
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
    let svc = Arc::new(Service::new(src, Duration::from_secs(600)));
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
    let kind = if exmdb_mode {
        "exmdbd store over RPC"
    } else {
        "in-memory store"
    };
    println!("midbd benchmark, {n} messages in INBOX ({kind}, protocol over TCP)");
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
    deliver(b"Subject: new\r\n\r\n");
    time("STATUS after one delivery (re-sync)", &mut || {
        let st = c.status(&md, "INBOX").expect("status");
        assert_eq!(st.messages as usize, n + 1);
    });
    time("SET-FLAGS +\\Seen on every message", &mut || {
        c.set_flags(&md, "INBOX", &uids, FlagMode::Add, &["\\Seen".to_string()])
            .expect("set_flags");
    });
    let size = std::fs::metadata(midbd::index::index_path(std::path::Path::new(&md))).map_or(0, |m| m.len());
    println!("{:<40} {:>10.1} KiB", "midb.sqlite3 size", size as f64 / 1024.0);
    control.shutdown();
    let _ = t.join();
}

/// An in-process exmdbd over a fresh private store.
mod exmdb {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;

    use exmdbd::cache::StoreCache;
    use exmdbd::rpc::{ExmdbProtocol, ExmdbServer};
    use exmdbd::{MessageContent, Store, StoreOptions};
    use gromox_base::acl::HostsAllow;
    use gromox_clients::exmdb::ExmdbOptions;
    use gromox_runtime::{Control, Listener, Server, ServerConfig};
    use midbd::exmdb_source::ExmdbSource;
    use midbd::source::StoreSource;

    pub struct Running {
        control: Control,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.control.shutdown();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    pub fn maildir(base: &Path) -> String {
        let state = base.join("state");
        exmdbd::paths::user_maildir(&state, "bench@example.org")
            .expect("maildir")
            .to_str()
            .expect("utf-8")
            .to_string()
    }

    #[allow(clippy::type_complexity)]
    pub fn start(base: &Path) -> (Running, Arc<dyn StoreSource>, Box<dyn Fn(&[u8])>) {
        let state = base.join("state");
        let md = PathBuf::from(maildir(base));
        std::fs::create_dir_all(&md).expect("mkdir");
        Store::create_private(&md, "bench@example.org", "en", false, &StoreOptions::default()).expect("store");
        let log = slog::Logger::root(slog::Discard, slog::o!());
        let cfg = ServerConfig {
            listeners: vec![Listener {
                name: "exmdb_listen",
                addr: "127.0.0.1:0".parse().expect("addr"),
                tls: false,
                haproxy: false,
            }],
            threads: 2,
            max_input: gromox_exmdb_proto::MAX_FRAME + 4,
            ..ServerConfig::default()
        };
        let cache = Arc::new(StoreCache::new(StoreOptions::default(), Duration::from_secs(600)));
        let srv = Arc::new(ExmdbServer::new(
            cache,
            state,
            HostsAllow::parse("127.0.0.1").expect("acl"),
            None,
            log.clone(),
        ));
        let server = Server::bind(cfg, log).expect("bind");
        let addr = server.local_addrs()[0].1;
        let control = Control::new();
        let c2 = control.clone();
        let thread = std::thread::spawn(move || {
            let _ = server.run(Arc::new(ExmdbProtocol(srv)), c2);
        });
        let store = std::sync::Mutex::new(Store::open(&md, &StoreOptions::default()).expect("open"));
        let deliver = Box::new(move |mime: &[u8]| {
            let mut c = MessageContent::default();
            c.set(
                gromox_mapi::props::PropTag(0x001A_001F),
                gromox_mapi::props::PropVal::Unicode("IPM.Note".into()),
            );
            let mut st = store.lock().unwrap_or_else(|p| p.into_inner());
            st.deliver_message(Some(0x0d), &c, Some(mime)).expect("deliver");
        });
        (
            Running {
                control,
                thread: Some(thread),
            },
            Arc::new(ExmdbSource::new(addr, ExmdbOptions::default())),
            deliver,
        )
    }
}
