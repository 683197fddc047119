//! Entry points of the fuzz targets (`fuzz/fuzz_targets/*.rs`), also run over the seed corpus
//! by `tests/fuzz_seeds.rs`, and [`Driver`], which runs a session over bytes without sockets
//! (the unit tests use it too).

use std::net::SocketAddr;
use std::sync::Arc;

use gromox_runtime::{ConnHandle, ConnInfo, Cx, Next, Session};

use crate::maildrop::{Locks, MemAccounts, MemMaildrop};
use crate::session::{Pop3Session, Settings, Shared};

/// Parse every line of `data` as a command; returns how many parsed.
pub fn command(data: &[u8]) -> usize {
    data.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| crate::command::parse(l).is_ok())
        .count()
}

/// Run a whole session over `data` as client input, against an in-memory maildrop with user
/// `alice` (password `secret`) and three messages; returns the bytes the server wrote.
pub fn session(data: &[u8]) -> usize {
    let drop = Arc::new(MemMaildrop::new());
    for i in 0..3 {
        drop.deliver(
            "/mem/alice",
            format!("Subject: {i}\r\n\r\nline one\r\n.dot line\r\nlast\r\n").as_bytes(),
        );
    }
    let mut accounts = MemAccounts::new(None);
    accounts.add("alice", "secret", true);
    let shared = Arc::new(Shared {
        settings: Settings::default(),
        accounts: Arc::new(accounts),
        maildrop: drop,
        locks: Locks::default(),
        log: gromox_base::log::discard(),
        metrics: Default::default(),
    });
    let mut d = Driver::new(shared, false);
    // Feed in uneven pieces to exercise partial lines.
    let mut total = d.take().len();
    for chunk in data.chunks(7) {
        if d.closed {
            break;
        }
        d.send(chunk);
        total += d.take().len();
    }
    total
}

/// A session driven by hand: input in, output out, [`Next`] followed as the runtime would.
pub struct Driver {
    /// The session.
    pub session: Pop3Session,
    info: ConnInfo,
    /// Unconsumed input.
    pub pending: Vec<u8>,
    out: Vec<u8>,
    /// TLS active (set it to model STLS completing).
    pub tls: bool,
    /// The session asked to close.
    pub closed: bool,
    /// The session asked for STLS.
    pub starttls: bool,
    /// Idle timeout last set by the session.
    pub idle_timeout: Option<std::time::Duration>,
}

impl Driver {
    /// Connect (the greeting is in the output).
    pub fn new(shared: Arc<Shared>, tls: bool) -> Driver {
        let peer: SocketAddr = ([192, 0, 2, 1], 40000).into();
        let info = ConnInfo {
            id: 1,
            peer,
            local: ([192, 0, 2, 2], 110).into(),
            implicit_tls: tls,
            listener: "pop3_listen",
        };
        let mut d = Driver {
            session: Pop3Session::new(shared, peer),
            info,
            pending: Vec::new(),
            out: Vec::new(),
            tls,
            closed: false,
            starttls: false,
            idle_timeout: None,
        };
        let next = d.call(|s, cx| s.connected(cx));
        d.follow(next);
        d
    }

    fn call(&mut self, f: impl FnOnce(&mut Pop3Session, &mut Cx<'_>) -> Next) -> Next {
        let mut cx = Cx {
            out: &mut self.out,
            info: &self.info,
            tls_active: self.tls,
            idle_timeout: None,
            handle: ConnHandle::detached(),
        };
        let next = f(&mut self.session, &mut cx);
        if let Some(t) = cx.idle_timeout {
            self.idle_timeout = Some(t);
        }
        next
    }

    fn follow(&mut self, mut next: Next) {
        loop {
            match next {
                Next::Write => next = self.call(|s, cx| s.writable(cx)),
                Next::Read => {
                    if self.pending.is_empty() {
                        return;
                    }
                    let data = std::mem::take(&mut self.pending);
                    let mut used = 0;
                    next = self.call(|s, cx| {
                        let (n, nx) = s.input(&data, cx);
                        used = n.min(data.len());
                        nx
                    });
                    self.pending = data[used..].to_vec();
                    if used == 0 && next == Next::Read {
                        return;
                    }
                }
                Next::StartTls => {
                    // The runtime discards plaintext buffered after STLS.
                    self.pending.clear();
                    self.starttls = true;
                    self.tls = true;
                    return;
                }
                Next::Close => {
                    self.closed = true;
                    self.session.closed();
                    return;
                }
            }
        }
    }

    /// Send bytes from the client.
    pub fn send(&mut self, data: &[u8]) {
        if self.closed {
            return;
        }
        self.pending.extend_from_slice(data);
        self.follow(Next::Read);
    }

    /// Take what the server wrote so far.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Send one line (CRLF added) and return the server's output as text.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        String::from_utf8_lossy(&self.take()).into_owned()
    }

    /// The connection drops (no QUIT).
    pub fn drop_connection(&mut self) {
        if !self.closed {
            self.closed = true;
            self.session.closed();
        }
    }

    /// The idle timer fires.
    pub fn time_out(&mut self) -> String {
        let next = self.call(|s, cx| s.timed_out(cx));
        self.follow(next);
        String::from_utf8_lossy(&self.take()).into_owned()
    }
}
