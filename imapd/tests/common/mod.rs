//! Drive an `ImapSession` byte-for-byte without sockets.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gromox_runtime::{ConnHandle, ConnInfo, Cx, Next, Session};
use imapd::memstore::MemStore;
use imapd::session::{Config, ImapSession};

pub const MSG1: &[u8] = include_bytes!("../fixtures/cpython-test_email-msg_01.eml");
pub const MSG4: &[u8] = include_bytes!("../fixtures/cpython-test_email-msg_04.eml");

pub fn logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

/// A drain keeping every log line (message and key=value pairs) for assertions.
#[derive(Clone, Default)]
pub struct Capture(pub std::sync::Arc<std::sync::Mutex<Vec<String>>>);

struct KvText(String);

impl slog::Serializer for KvText {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        self.0.push_str(&format!(" {key}={val}"));
        Ok(())
    }
}

impl slog::Drain for Capture {
    type Ok = ();
    type Err = slog::Never;
    fn log(&self, r: &slog::Record<'_>, kv: &slog::OwnedKVList) -> Result<(), slog::Never> {
        use slog::KV;
        let mut t = KvText(format!("{}", r.msg()));
        let _ = r.kv().serialize(r, &mut t);
        let _ = kv.serialize(r, &mut t);
        self.0.lock().unwrap().push(t.0);
        Ok(())
    }
}

pub struct Harness {
    pub sess: ImapSession<MemStore>,
    pub store: MemStore,
    pub info: ConnInfo,
    pub tls: bool,
    pub pending: Vec<u8>,
    pub last: Next,
    pub idle_timeout: Option<Duration>,
    /// Largest output produced by one call into the session.
    pub max_out: usize,
}

/// A store with user `bob`/`secret`, INBOX holding MSG1 (\Seen) and MSG4.
pub fn store() -> MemStore {
    let s = MemStore::new();
    s.add_user("bob", "secret");
    s.deliver("bob", "INBOX", &["\\Seen"], MSG1);
    s.deliver("bob", "INBOX", &[], MSG4);
    s
}

impl Harness {
    pub fn new() -> Self {
        Self::with(store(), Config::default())
    }

    pub fn with(store: MemStore, cfg: Config) -> Self {
        Self::with_log(store, cfg, logger())
    }

    pub fn with_log(store: MemStore, cfg: Config, log: slog::Logger) -> Self {
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let info = ConnInfo {
            id: 1,
            peer,
            local: "127.0.0.1:143".parse().unwrap(),
            implicit_tls: false,
            listener: "imap_listen",
        };
        Harness {
            sess: ImapSession::new(Arc::new(store.clone()), Arc::new(cfg), log, peer),
            store,
            info,
            tls: false,
            pending: Vec::new(),
            last: Next::Read,
            idle_timeout: None,
            max_out: 0,
        }
    }

    fn call(&mut self, f: impl FnOnce(&mut ImapSession<MemStore>, &mut Cx<'_>) -> Next) -> String {
        String::from_utf8_lossy(&self.call_raw(f)).into_owned()
    }

    fn call_raw(&mut self, f: impl FnOnce(&mut ImapSession<MemStore>, &mut Cx<'_>) -> Next) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cx = Cx {
            out: &mut out,
            info: &self.info,
            tls_active: self.tls,
            idle_timeout: None,
            handle: ConnHandle::detached(),
        };
        self.last = f(&mut self.sess, &mut cx);
        if let Some(t) = cx.idle_timeout {
            self.idle_timeout = Some(t);
        }
        self.max_out = self.max_out.max(out.len());
        out
    }

    pub fn greet(&mut self) -> String {
        self.call(|s, cx| s.connected(cx))
    }

    /// Send bytes; run the session as the runtime would (input while it consumes, writable
    /// after Write) and return everything it wrote.
    pub fn send(&mut self, data: &[u8]) -> String {
        String::from_utf8_lossy(&self.send_raw(data)).into_owned()
    }

    /// [`Harness::send`] returning the raw output bytes.
    pub fn send_raw(&mut self, data: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(data);
        let mut all = Vec::new();
        loop {
            if self.last == Next::Write {
                let o = self.call_raw(|s, cx| s.writable(cx));
                all.extend_from_slice(&o);
                continue;
            }
            if self.last == Next::Close || self.last == Next::StartTls || self.pending.is_empty() {
                break;
            }
            let pending = std::mem::take(&mut self.pending);
            let mut n = 0;
            let o = self.call_raw(|s, cx| {
                let (c, next) = s.input(&pending, cx);
                n = c;
                next
            });
            all.extend_from_slice(&o);
            self.pending = pending[n.min(pending.len())..].to_vec();
            if n == 0 && self.last == Next::Read {
                break;
            }
        }
        all
    }

    pub fn send_str(&mut self, s: &str) -> String {
        self.send(s.as_bytes())
    }

    /// Greeted, logged-in harness.
    pub fn logged_in() -> Self {
        let mut h = Harness::new();
        h.greet();
        let r = h.send_str("l LOGIN bob secret\r\n");
        assert!(r.starts_with("l OK"), "{r}");
        h
    }

    /// Greeted, logged-in harness on an existing store.
    pub fn logged_in_with(store: MemStore) -> Self {
        let mut h = Harness::with(store, Config::default());
        h.greet();
        let r = h.send_str("l LOGIN bob secret\r\n");
        assert!(r.starts_with("l OK"), "{r}");
        h
    }

    pub fn selected() -> Self {
        let mut h = Self::logged_in();
        let r = h.send_str("s SELECT INBOX\r\n");
        assert!(r.ends_with("s OK [READ-WRITE] SELECT completed\r\n"), "{r}");
        h
    }
}
