//! The engine: one mio poller thread owning listeners and parked connections, a fixed pool of
//! worker threads running sessions, timers in a binary heap, TLS via rustls.
//!
//! Life of a connection: the poller accepts it and either parks it (waiting for a PROXY header
//! or a TLS ClientHello) or hands it to a worker to send the greeting. A parked connection is
//! handed to a worker when its socket becomes ready, a message is pushed to it, or its timer
//! fires. The worker does all socket I/O non-blocking: it flushes output, reads what is there,
//! runs the session while there is input to offer, and returns the connection to the poller
//! (which re-registers its interest) as soon as nothing more can be done without waiting.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slog::{debug, error, info, o, warn, Logger};

use crate::proxy::{parse_proxy_header, ProxyHeader};
use crate::stats::{Counters, StatsHandle};
use crate::{lock, ConnHandle, ConnInfo, Control, Cx, Hub, Next, Protocol, RuntimeError, Session};

/// One listening socket.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Config key naming it, e.g. `imap_listen_tls`; copied into [`ConnInfo::listener`].
    pub name: &'static str,
    /// Address to bind (port 0 picks a free port; see [`Server::local_addrs`]).
    pub addr: SocketAddr,
    /// Implicit TLS: handshake before [`Session::connected`].
    pub tls: bool,
    /// Expect a HAProxy PROXY v2 (or v1) header first.
    pub haproxy: bool,
}

/// Runtime settings of one daemon (plain data; the daemon maps its config keys onto it).
#[derive(Clone)]
pub struct ServerConfig {
    /// Listening sockets.
    pub listeners: Vec<Listener>,
    /// Worker threads (`<daemon>_threads_num`).
    pub threads: usize,
    /// Most connections open at once (`context_num`); more are refused with
    /// [`Protocol::busy_reply`].
    pub context_num: usize,
    /// Default idle timeout; a session may override it through [`Cx::idle_timeout`].
    pub idle_timeout: Duration,
    /// Absolute limit on a connection's lifetime.
    pub session_limit: Option<Duration>,
    /// Most unconsumed input buffered for a session (the protocol's frame cap); beyond it the
    /// connection is closed.
    pub max_input: usize,
    /// Output buffered beyond this stops input processing until it drains.
    pub out_high_water: usize,
    /// [`Session::writable`] is called once output has drained below this.
    pub out_low_water: usize,
    /// TLS server configuration for implicit-TLS listeners and STARTTLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Deadline for the PROXY header and the TLS handshake.
    pub handshake_timeout: Duration,
    /// How long a shutdown waits for busy connections before closing them.
    pub shutdown_grace: Duration,
    /// Most [`ConnHandle::push`] messages queued for one connection (its client not reading);
    /// one more closes the connection and the push returns `false`.
    pub max_queued_pushes: usize,
    /// The daemon's metrics; the runtime attaches its counters, the protocol records requests.
    pub registry: Arc<crate::metrics::Registry>,
    /// Export the registry to a file for httpd's `/metrics` (`None`: don't).
    pub metrics: Option<crate::metrics::MetricsExport>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listeners: Vec::new(),
            threads: 4,
            context_num: 400,
            idle_timeout: Duration::from_secs(180),
            session_limit: None,
            max_input: 64 * 1024,
            out_high_water: 256 * 1024,
            out_low_water: 64 * 1024,
            tls: None,
            handshake_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            max_queued_pushes: 10_000,
            registry: Arc::default(),
            metrics: None,
        }
    }
}

const WAKER: Token = Token(usize::MAX);
/// Connection ids, unique in the process (several servers may run in one daemon).
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
/// Bytes read from a socket per worker round before the session gets to run.
const READ_CHUNK: usize = 64 * 1024;
/// Worker rounds on one connection before it goes to the back of the queue.
const ROUNDS: usize = 64;
/// rustls buffer limit per connection (plaintext waiting + TLS records waiting).
const TLS_BUFFER_LIMIT: usize = 32 * 1024;
/// Output and input buffers above this capacity are freed when a connection parks.
const KEEP_CAPACITY: usize = 4 * 1024;

/// Run a server until `control` shuts it down: bind, then [`Server::run`].
pub fn serve<P: Protocol>(cfg: ServerConfig, proto: Arc<P>, control: Control, log: Logger) -> Result<(), RuntimeError> {
    Server::bind(cfg, log)?.run(proto, control)
}

/// A bound, not yet running server.
pub struct Server {
    cfg: ServerConfig,
    log: Logger,
    poll: Poll,
    waker: Arc<Waker>,
    listeners: Vec<(TcpListener, Listener, SocketAddr)>,
    stats: StatsHandle,
}

impl Server {
    /// Create the poller and bind every listener. Fails on the first listener that cannot be
    /// bound (naming it), or when a TLS listener is configured without TLS material.
    pub fn bind(mut cfg: ServerConfig, log: Logger) -> Result<Server, RuntimeError> {
        cfg.out_high_water = cfg.out_high_water.max(1);
        cfg.out_low_water = cfg.out_low_water.min(cfg.out_high_water);
        let poll = Poll::new().map_err(|e| RuntimeError::io("creating poller", e))?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(|e| RuntimeError::io("creating waker", e))?);
        let mut listeners: Vec<(TcpListener, Listener, SocketAddr)> = Vec::new();
        for (i, l) in cfg.listeners.iter().enumerate() {
            if l.tls && cfg.tls.is_none() {
                return Err(RuntimeError::NoTlsConfig(l.name));
            }
            let mut sock = match TcpListener::bind(l.addr) {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && l.addr.is_ipv4() => {
                    // A dual-stack [::] listener on the same port already covers IPv4.
                    let covered = listeners
                        .iter()
                        .any(|(_, _, a)| a.is_ipv6() && a.ip().is_unspecified() && a.port() == l.addr.port());
                    if covered {
                        info!(log, "IPv4 address covered by dual-stack listener";
                            "event" => "listen.dualstack", "listener" => l.name, "addr" => %l.addr);
                        continue;
                    }
                    return Err(RuntimeError::Bind {
                        listener: l.name,
                        addr: l.addr,
                        source: e,
                    });
                }
                Err(source) => {
                    return Err(RuntimeError::Bind {
                        listener: l.name,
                        addr: l.addr,
                        source,
                    })
                }
            };
            let local = sock.local_addr().map_err(|source| RuntimeError::Bind {
                listener: l.name,
                addr: l.addr,
                source,
            })?;
            poll.registry()
                .register(&mut sock, Token(i), Interest::READABLE)
                .map_err(|e| RuntimeError::io("registering listener", e))?;
            info!(log, "listening"; "event" => "listen", "listener" => l.name, "addr" => %local,
                "tls" => l.tls, "haproxy" => l.haproxy);
            listeners.push((sock, l.clone(), local));
        }
        let stats = StatsHandle::default();
        cfg.registry.set_runtime(stats.clone(), cfg.threads.max(1));
        Ok(Server {
            cfg,
            log,
            poll,
            waker,
            listeners,
            stats,
        })
    }

    /// The bound addresses, by listener name (ports resolved when 0 was asked for).
    pub fn local_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listeners.iter().map(|(_, l, a)| (l.name, *a)).collect()
    }

    /// The counters (live; keep the handle to read them while the server runs).
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// Serve until `control` shuts down, then drain and return.
    pub fn run<P: Protocol>(self, proto: Arc<P>, control: Control) -> Result<(), RuntimeError> {
        let Server {
            cfg,
            log,
            poll,
            waker,
            listeners,
            stats,
        } = self;
        let cfg = Arc::new(cfg);
        let hub = Arc::new(Hub {
            pending: Default::default(),
            waker: waker.clone(),
        });
        let (work_tx, work_rx) = crossbeam_channel::unbounded::<Work<P::Session>>();
        let (back_tx, back_rx) = crossbeam_channel::unbounded::<Back<P::Session>>();
        let mut workers = Vec::new();
        for n in 0..cfg.threads.max(1) {
            let w = Worker {
                cfg: cfg.clone(),
                proto: proto.clone(),
                stats: stats.0.clone(),
                log: log.new(o!("worker" => n)),
                rx: work_rx.clone(),
                back: back_tx.clone(),
                waker: waker.clone(),
                scratch: Vec::new(),
            };
            let h = std::thread::Builder::new()
                .name(format!("worker-{n}"))
                .spawn(move || w.run())
                .map_err(|e| RuntimeError::io("spawning worker", e))?;
            workers.push(h);
        }
        drop(back_tx);
        // Memory freed after a burst goes back to the system (one thread per process).
        crate::sys::spawn_memory_releaser(std::time::Duration::from_secs(2), 32 * 1024);
        let (metrics_stop, metrics_rx) = crossbeam_channel::bounded::<()>(1);
        let exporter = match cfg.metrics.clone() {
            Some(m) => {
                let (reg, l) = (cfg.registry.clone(), log.clone());
                Some(
                    std::thread::Builder::new()
                        .name("metrics".into())
                        .spawn(move || m.run(reg, metrics_rx, l))
                        .map_err(|e| RuntimeError::io("spawning the metrics exporter", e))?,
                )
            }
            None => None,
        };
        control.add_waker(waker.clone());
        let mut poller = Poller {
            cfg: cfg.clone(),
            proto,
            log: log.clone(),
            poll,
            listeners,
            slots: Vec::new(),
            free: Vec::new(),
            timers: BinaryHeap::new(),
            work: work_tx,
            back: back_rx,
            hub,
            stats: stats.0.clone(),
            base: 0,
            draining: None,
        };
        poller.base = poller.listeners.len();
        let res = poller.run(&control);
        for _ in 0..workers.len() {
            let _ = poller.work.send(Work::Stop);
        }
        for h in workers {
            let _ = h.join();
        }
        drop(metrics_stop);
        if let Some(h) = exporter {
            let _ = h.join();
        }
        control.remove_waker(&waker);
        info!(log, "server stopped"; "event" => "server.stop");
        res
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the PROXY header.
    Proxy,
    /// TLS handshake running (implicit TLS or after STARTTLS).
    Handshake,
    /// Session to be created (if not yet) and greeted.
    Greet,
    /// Session running.
    Open,
}

/// What the session waits for (meaningful in [`Phase::Open`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Input,
    Writable,
    StartTls,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fired {
    Idle,
    Limit,
    Handshake,
}

struct Conn<S> {
    token: usize,
    stream: TcpStream,
    info: ConnInfo,
    phase: Phase,
    want: Want,
    tls: Option<Box<rustls::ServerConnection>>,
    session: Option<S>,
    rbuf: Vec<u8>,
    /// Input arrived since the session last consumed nothing.
    fresh: bool,
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
    handle: ConnHandle,
    idle_timeout: Duration,
    started: Instant,
    last_active: Instant,
    deadline: Instant,
    fired: Option<Fired>,
}

enum Work<S> {
    Conn(Box<Conn<S>>),
    Stop,
}

enum Back<S> {
    Park(Box<Conn<S>>),
    Again(Box<Conn<S>>),
    Closed(usize),
}

enum Outcome {
    Park,
    Again,
    Close(&'static str),
}

impl<S: Session> Conn<S> {
    fn pending_out(&self) -> usize {
        self.out.len() - self.out_pos + self.tls.as_ref().map_or(0, |t| t.wants_write() as usize)
    }

    fn wants_read(&self, cfg: &ServerConfig) -> bool {
        if self.eof {
            return false;
        }
        match self.phase {
            Phase::Proxy | Phase::Handshake => true,
            Phase::Greet => false,
            Phase::Open => {
                self.want == Want::Input && self.pending_out() < cfg.out_high_water && self.rbuf.len() <= cfg.max_input
            }
        }
    }

    fn tls_active(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| !t.is_handshaking())
    }

    /// Flush output; returns bytes moved to the socket.
    fn flush(&mut self) -> io::Result<usize> {
        let mut moved = 0;
        if let Some(tls) = self.tls.as_mut() {
            loop {
                let mut now = 0;
                if self.out_pos < self.out.len() && !tls.is_handshaking() {
                    let n = tls.writer().write(&self.out[self.out_pos..])?;
                    self.out_pos += n;
                    now += n;
                }
                let mut blocked = false;
                while tls.wants_write() {
                    match tls.write_tls(&mut self.stream) {
                        Ok(0) => {
                            blocked = true;
                            break;
                        }
                        Ok(n) => {
                            moved += n;
                            now += n;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            blocked = true;
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if blocked || now == 0 {
                    break;
                }
            }
        } else {
            while self.out_pos < self.out.len() {
                match self.stream.write(&self.out[self.out_pos..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.out_pos += n;
                        moved += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        if moved > 0 {
            self.last_active = Instant::now();
        }
        Ok(moved)
    }

    /// Read what is available (up to [`READ_CHUNK`]) into `rbuf`; returns bytes added.
    /// `Err` carries the close reason.
    fn read_some(&mut self, scratch: &mut [u8], stats: &Counters, log: &Logger) -> Result<usize, &'static str> {
        let mut added = 0;
        if self.tls.is_none() {
            while added < READ_CHUNK {
                match self.stream.read(scratch) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => {
                        self.rbuf.extend_from_slice(&scratch[..n]);
                        added += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err("read error"),
                }
            }
        } else {
            let Some(tls) = self.tls.as_mut() else {
                return Ok(0);
            };
            let mut wire = 0;
            while wire < READ_CHUNK {
                match tls.read_tls(&mut self.stream) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => wire += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        stats.tls_failed_total.fetch_add(1, Relaxed);
                        return Err("TLS read error");
                    }
                }
                if let Err(e) = tls.process_new_packets() {
                    stats.tls_failed_total.fetch_add(1, Relaxed);
                    info!(log, "TLS failure"; "event" => "conn.tls_error", "id" => self.info.id,
                        "peer" => %self.info.peer, "error" => %e);
                    // Best effort: send the alert rustls queued.
                    let _ = tls.write_tls(&mut self.stream);
                    return Err("TLS error");
                }
                // Move decrypted plaintext out so rustls' buffer never fills up.
                loop {
                    match tls.reader().read(scratch) {
                        Ok(0) => {
                            self.eof = true;
                            break;
                        }
                        Ok(n) => {
                            self.rbuf.extend_from_slice(&scratch[..n]);
                            added += n;
                        }
                        Err(_) => break, // WouldBlock: no plaintext right now
                    }
                }
            }
            if wire > 0 {
                self.last_active = Instant::now();
            }
            if self.eof && tls.is_handshaking() {
                return Err("peer closed during TLS handshake");
            }
        }
        if added > 0 {
            self.fresh = true;
            self.last_active = Instant::now();
        }
        Ok(added)
    }

    /// Run a session callback with a fresh [`Cx`] and apply the returned [`Next`].
    fn call(&mut self, f: impl FnOnce(&mut S, &mut Cx<'_>) -> Next) {
        let tls_active = self.tls_active();
        let Some(session) = self.session.as_mut() else {
            self.want = Want::Close;
            return;
        };
        if self.out_pos > 0 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        let mut cx = Cx {
            out: &mut self.out,
            info: &self.info,
            tls_active,
            idle_timeout: None,
            handle: self.handle.clone(),
        };
        let next = f(session, &mut cx);
        if let Some(t) = cx.idle_timeout {
            self.idle_timeout = t;
        }
        self.want = match next {
            Next::Read => Want::Input,
            Next::Write => Want::Writable,
            Next::StartTls => Want::StartTls,
            Next::Close => Want::Close,
        };
    }

    fn park_deadline(&self, cfg: &ServerConfig) -> Instant {
        match self.phase {
            Phase::Proxy | Phase::Handshake if self.session.is_none() => self.started + cfg.handshake_timeout,
            _ => {
                let idle = self.last_active + self.idle_timeout;
                match cfg.session_limit {
                    Some(l) => idle.min(self.started + l),
                    None => idle,
                }
            }
        }
    }

    fn interest(&self, cfg: &ServerConfig) -> Interest {
        let r = self.wants_read(cfg);
        let w = self.pending_out() > 0;
        match (r, w) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            _ => Interest::READABLE,
        }
    }

    /// Release memory an idle connection does not need.
    fn trim(&mut self) {
        if self.out_pos == self.out.len() && self.out.capacity() > 0 {
            self.out = Vec::new();
            self.out_pos = 0;
        } else if self.out.capacity() > KEEP_CAPACITY.max(self.out.len() * 2) {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
            self.out.shrink_to_fit();
        }
        if self.rbuf.is_empty() {
            self.rbuf = Vec::new();
        } else if self.rbuf.capacity() > KEEP_CAPACITY.max(self.rbuf.len() * 2) {
            self.rbuf.shrink_to_fit();
        }
    }

    /// Close: tell the session, make pushes fail, count. The socket closes on drop.
    #[allow(clippy::boxed_local)] // consuming the box is the point: the socket closes here
    fn finish(mut self: Box<Self>, reason: &'static str, stats: &Counters, log: &Logger) {
        if let Some(tls) = self.tls.as_mut() {
            if !tls.is_handshaking() {
                tls.send_close_notify();
                let _ = tls.write_tls(&mut self.stream);
            }
        }
        self.handle.mark_closed();
        if let Some(s) = self.session.as_mut() {
            s.closed();
        }
        stats.closed_total.fetch_add(1, Relaxed);
        info!(log, "connection closed"; "event" => "conn.close", "id" => self.info.id,
            "peer" => %self.info.peer, "reason" => reason,
            "secs" => self.started.elapsed().as_secs());
    }
}

struct Worker<P: Protocol> {
    cfg: Arc<ServerConfig>,
    proto: Arc<P>,
    stats: Arc<Counters>,
    log: Logger,
    rx: Receiver<Work<P::Session>>,
    back: Sender<Back<P::Session>>,
    waker: Arc<Waker>,
    scratch: Vec<u8>,
}

impl<P: Protocol> Worker<P> {
    fn run(mut self) {
        self.scratch = vec![0u8; 16 * 1024];
        while let Ok(Work::Conn(mut conn)) = self.rx.recv() {
            self.stats.queue_len.fetch_sub(1, Relaxed);
            self.stats.busy_workers.fetch_add(1, Relaxed);
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.drive(&mut conn)));
            self.stats.busy_workers.fetch_sub(1, Relaxed);
            let outcome = match res {
                Ok(o) => o,
                Err(_) => {
                    error!(self.log, "session panicked"; "event" => "conn.panic", "id" => conn.info.id);
                    conn.session = None; // do not call into a session that panicked
                    Outcome::Close("session panicked")
                }
            };
            let msg = match outcome {
                Outcome::Park => {
                    // Between requests: give back buffer memory. In the middle of a streamed
                    // response the buffer is about to be refilled, keep it.
                    if conn.want == Want::Input || conn.phase != Phase::Open {
                        conn.trim();
                    }
                    Back::Park(conn)
                }
                Outcome::Again => Back::Again(conn),
                Outcome::Close(reason) => {
                    let token = conn.token;
                    conn.finish(reason, &self.stats, &self.log);
                    Back::Closed(token)
                }
            };
            if self.back.send(msg).is_err() {
                return;
            }
            let _ = self.waker.wake();
        }
    }

    fn start_tls(&self, conn: &mut Conn<P::Session>) -> Result<(), &'static str> {
        let Some(cfg) = self.cfg.tls.clone() else {
            return Err("no TLS configuration");
        };
        match rustls::ServerConnection::new(cfg) {
            Ok(mut c) => {
                c.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
                conn.tls = Some(Box::new(c));
                conn.phase = Phase::Handshake;
                Ok(())
            }
            Err(_) => Err("TLS setup failed"),
        }
    }

    fn drive(&mut self, conn: &mut Conn<P::Session>) -> Outcome {
        let cfg = self.cfg.clone();
        for _ in 0..ROUNDS {
            let mut progress = false;
            if conn.handle.overflowed() {
                warn!(self.log, "client does not read its notifications"; "event" => "conn.push_overflow",
                    "id" => conn.info.id, "peer" => %conn.info.peer, "max" => cfg.max_queued_pushes);
                return Outcome::Close("push queue overflow");
            }
            if let Some(f) = conn.fired.take() {
                self.stats.timed_out_total.fetch_add(1, Relaxed);
                progress = true;
                match f {
                    Fired::Handshake => {
                        if conn.phase == Phase::Proxy {
                            self.stats.proxy_failed_total.fetch_add(1, Relaxed);
                        }
                        warn!(self.log, "handshake timeout"; "event" => "conn.handshake_timeout",
                            "id" => conn.info.id, "peer" => %conn.info.peer);
                        return Outcome::Close("handshake timeout");
                    }
                    Fired::Idle | Fired::Limit => {
                        info!(self.log, "connection timed out"; "event" => "conn.timeout",
                            "id" => conn.info.id, "peer" => %conn.info.peer,
                            "limit" => f == Fired::Limit);
                        // Nothing to say on a connection that is not open, already closing,
                        // or stalled in the middle of a response.
                        if conn.phase != Phase::Open
                            || conn.session.is_none()
                            || matches!(conn.want, Want::Close | Want::Writable | Want::StartTls)
                        {
                            return Outcome::Close("timeout");
                        }
                        conn.call(|s, cx| s.timed_out(cx));
                        // The clock restarts: a session that keeps the connection gets a full
                        // timeout again, one that says goodbye gets that long to flush it.
                        conn.last_active = Instant::now();
                        if f == Fired::Limit {
                            conn.want = Want::Close;
                        }
                        if conn.want == Want::Close {
                            conn.eof = true;
                            conn.rbuf.clear();
                        }
                    }
                }
            }
            match conn.flush() {
                Ok(n) => progress |= n > 0,
                Err(_) => return Outcome::Close("write error"),
            }
            if conn.phase == Phase::Open && conn.pending_out() == 0 {
                match conn.want {
                    Want::Close => return Outcome::Close("session closed"),
                    Want::StartTls => {
                        if conn.tls.is_some() {
                            warn!(self.log, "STARTTLS on a TLS connection"; "event" => "conn.starttls_twice",
                                "id" => conn.info.id);
                            return Outcome::Close("STARTTLS twice");
                        }
                        if let Err(r) = self.start_tls(conn) {
                            error!(self.log, "cannot start TLS"; "event" => "conn.starttls_failed",
                                "id" => conn.info.id, "reason" => r);
                            return Outcome::Close(r);
                        }
                        // Plaintext pipelined after the command must not reach the TLS session
                        // (command injection, CVE-2011-0411).
                        if !conn.rbuf.is_empty() {
                            warn!(self.log, "discarding plaintext pipelined after STARTTLS";
                                "event" => "conn.starttls_injection", "id" => conn.info.id,
                                "peer" => %conn.info.peer, "bytes" => conn.rbuf.len());
                        }
                        conn.rbuf = Vec::new();
                        conn.fresh = false;
                        progress = true;
                    }
                    _ => {}
                }
            }
            if conn.wants_read(&cfg) {
                match conn.read_some(&mut self.scratch, &self.stats, &self.log) {
                    Ok(n) => progress |= n > 0,
                    Err(reason) => {
                        debug!(self.log, "read failed"; "event" => "conn.read_error", "id" => conn.info.id,
                            "reason" => reason);
                        return Outcome::Close(reason);
                    }
                }
            }
            match conn.phase {
                Phase::Proxy => match parse_proxy_header(&conn.rbuf) {
                    Ok(ProxyHeader::Incomplete) => {
                        if conn.eof {
                            self.stats.proxy_failed_total.fetch_add(1, Relaxed);
                            return Outcome::Close("eof in PROXY header");
                        }
                    }
                    Ok(ProxyHeader::Done { len, source, dest }) => {
                        if let Some(src) = source {
                            conn.info.peer = src;
                        }
                        if let Some(dst) = dest {
                            conn.info.local = dst;
                        }
                        debug!(self.log, "PROXY header"; "event" => "conn.proxy", "id" => conn.info.id,
                            "peer" => %conn.info.peer);
                        let rest = conn.rbuf.split_off(len);
                        conn.rbuf = Vec::new();
                        if conn.info.implicit_tls {
                            if let Err(r) = self.start_tls(conn) {
                                return Outcome::Close(r);
                            }
                            if !rest.is_empty() {
                                // Feed the start of the ClientHello that came with the header.
                                let Some(tls) = conn.tls.as_mut() else {
                                    return Outcome::Close("TLS setup failed");
                                };
                                let mut r: &[u8] = &rest;
                                while !r.is_empty() {
                                    if tls.read_tls(&mut r).is_err() || tls.process_new_packets().is_err() {
                                        self.stats.tls_failed_total.fetch_add(1, Relaxed);
                                        return Outcome::Close("TLS error");
                                    }
                                }
                            }
                        } else {
                            conn.rbuf = rest;
                            conn.phase = Phase::Greet;
                        }
                        progress = true;
                    }
                    Err(e) => {
                        self.stats.proxy_failed_total.fetch_add(1, Relaxed);
                        warn!(self.log, "bad PROXY header"; "event" => "conn.proxy_error",
                            "id" => conn.info.id, "peer" => %conn.info.peer, "error" => %e);
                        return Outcome::Close("bad PROXY header");
                    }
                },
                Phase::Handshake => {
                    if conn.tls.as_ref().is_some_and(|t| !t.is_handshaking()) {
                        conn.phase = if conn.session.is_none() {
                            Phase::Greet
                        } else {
                            Phase::Open
                        };
                        // TLS plaintext is only ever read after the handshake.
                        conn.want = Want::Input;
                        progress = true;
                    } else if conn.eof {
                        return Outcome::Close("eof during TLS handshake");
                    }
                }
                Phase::Greet => {
                    if conn.session.is_none() {
                        conn.session = Some(self.proto.accept(&conn.info));
                    }
                    conn.phase = Phase::Open;
                    conn.call(|s, cx| s.connected(cx));
                    progress = true;
                }
                Phase::Open => {
                    // Pushes go to a session between requests only (never into the middle of
                    // a streamed response), and not while the client is not reading.
                    if conn.want == Want::Input && conn.pending_out() < cfg.out_high_water {
                        let mut pushes = conn.handle.take_pushes().into_iter();
                        for m in pushes.by_ref() {
                            self.stats.pushed_total.fetch_add(1, Relaxed);
                            conn.call(|s, cx| s.pushed(m, cx));
                            progress = true;
                            if conn.want != Want::Input {
                                break;
                            }
                        }
                        conn.handle.requeue_pushes(pushes);
                    }
                    if conn.want == Want::Writable && conn.pending_out() < cfg.out_low_water {
                        conn.call(|s, cx| s.writable(cx));
                        progress = true;
                    }
                    if conn.want == Want::Input
                        && conn.fresh
                        && !conn.rbuf.is_empty()
                        && conn.pending_out() < cfg.out_high_water
                    {
                        let mut rbuf = std::mem::take(&mut conn.rbuf);
                        let mut consumed = 0;
                        conn.call(|s, cx| {
                            let (n, next) = s.input(&rbuf, cx);
                            consumed = n.min(rbuf.len());
                            next
                        });
                        rbuf.drain(..consumed);
                        conn.rbuf = rbuf;
                        if consumed == 0 {
                            conn.fresh = false;
                        } else {
                            progress = true;
                        }
                        if conn.rbuf.len() > cfg.max_input {
                            self.stats.input_overflow_total.fetch_add(1, Relaxed);
                            warn!(self.log, "input exceeds max_input"; "event" => "conn.input_overflow",
                                "id" => conn.info.id, "peer" => %conn.info.peer,
                                "buffered" => conn.rbuf.len(), "max" => cfg.max_input);
                            return Outcome::Close("input too long");
                        }
                    }
                }
            }
            if !progress {
                if conn.eof && conn.pending_out() == 0 && conn.want != Want::Writable {
                    return Outcome::Close("peer closed");
                }
                return Outcome::Park;
            }
        }
        Outcome::Again
    }
}

enum SlotState<S> {
    Free,
    Parked(Box<Conn<S>>),
    Busy { wake: bool },
}

struct Slot<S> {
    id: u64,
    state: SlotState<S>,
    /// Earliest timer entry in the heap for this slot.
    timer_at: Option<Instant>,
}

struct Poller<P: Protocol> {
    cfg: Arc<ServerConfig>,
    proto: Arc<P>,
    log: Logger,
    poll: Poll,
    listeners: Vec<(TcpListener, Listener, SocketAddr)>,
    slots: Vec<Slot<P::Session>>,
    free: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    work: Sender<Work<P::Session>>,
    back: Receiver<Back<P::Session>>,
    hub: Arc<Hub>,
    stats: Arc<Counters>,
    /// First connection token (listeners use the tokens below).
    base: usize,
    /// Set when shutdown began: the grace deadline.
    draining: Option<Instant>,
}

impl<P: Protocol> Poller<P> {
    fn token_base(&self) -> usize {
        self.base
    }

    fn run(&mut self, control: &Control) -> Result<(), RuntimeError> {
        let mut events = Events::with_capacity(1024);
        loop {
            if control.is_shutdown() && self.draining.is_none() {
                self.begin_drain();
            }
            if let Some(grace) = self.draining {
                if Instant::now() >= grace {
                    self.close_parked(|_| true, "shutdown grace expired");
                }
                if self.stats.open.load(Relaxed) == 0 {
                    return Ok(());
                }
            }
            let now = Instant::now();
            let mut timeout = self
                .timers
                .peek()
                .map(|Reverse((t, _, _))| t.saturating_duration_since(now));
            if let Some(grace) = self.draining.filter(|g| *g > now) {
                // Wake at the end of the grace period (after it, worker returns wake us).
                let g = grace - now;
                timeout = Some(timeout.map_or(g, |t| t.min(g)));
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(RuntimeError::io("polling", e));
            }
            for ev in events.iter() {
                let t = ev.token();
                if t == WAKER {
                    continue;
                }
                if t.0 < self.token_base() {
                    if t.0 < self.listeners.len() {
                        self.accept(t.0);
                    }
                } else {
                    self.ready(t.0 - self.token_base(), None);
                }
            }
            while let Ok(msg) = self.back.try_recv() {
                match msg {
                    Back::Park(conn) => self.park(conn),
                    Back::Again(conn) => self.dispatch(conn),
                    Back::Closed(token) => self.release(token),
                }
            }
            let pushed = std::mem::take(&mut *lock(&self.hub.pending));
            for (token, id) in pushed {
                let idx = token - self.token_base();
                if let Some(slot) = self.slots.get_mut(idx) {
                    if slot.id != id {
                        continue;
                    }
                    match &mut slot.state {
                        SlotState::Busy { wake } => *wake = true,
                        SlotState::Parked(_) => self.ready(idx, None),
                        SlotState::Free => {}
                    }
                }
            }
            self.expire_timers();
        }
    }

    fn begin_drain(&mut self) {
        info!(self.log, "shutting down"; "event" => "server.drain",
            "open" => self.stats.open.load(Relaxed));
        self.draining = Some(Instant::now() + self.cfg.shutdown_grace);
        for (mut l, _, _) in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut l);
        }
        self.close_parked(is_idle, "shutdown");
    }

    fn close_parked(&mut self, pred: impl Fn(&Conn<P::Session>) -> bool, reason: &'static str) {
        for idx in 0..self.slots.len() {
            let close = matches!(&self.slots[idx].state, SlotState::Parked(c) if pred(c));
            if close {
                if let SlotState::Parked(mut c) =
                    std::mem::replace(&mut self.slots[idx].state, SlotState::Busy { wake: false })
                {
                    let _ = self.poll.registry().deregister(&mut c.stream);
                    let token = c.token;
                    c.finish(reason, &self.stats, &self.log);
                    self.release(token);
                }
            }
        }
    }

    fn accept(&mut self, li: usize) {
        loop {
            let (stream, peer) = match self.listeners[li].0.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    error!(self.log, "accept failed"; "event" => "conn.accept_error", "error" => %e);
                    return;
                }
            };
            self.stats.accepted_total.fetch_add(1, Relaxed);
            let (_, l, local) = &self.listeners[li];
            if self.stats.open.load(Relaxed) as usize >= self.cfg.context_num {
                self.stats.refused_total.fetch_add(1, Relaxed);
                warn!(self.log, "too many connections, refusing"; "event" => "conn.refused",
                    "peer" => %peer, "listener" => l.name, "context_num" => self.cfg.context_num);
                let mut s = stream;
                if !l.tls {
                    let _ = s.write(self.proto.busy_reply());
                }
                let _ = s.shutdown(std::net::Shutdown::Write);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let local = stream.local_addr().unwrap_or(*local);
            let id = NEXT_ID.fetch_add(1, Relaxed);
            let info = ConnInfo {
                id,
                peer,
                local,
                implicit_tls: l.tls,
                listener: l.name,
            };
            let (haproxy, tls) = (l.haproxy, l.tls);
            let idx = match self.free.pop() {
                Some(i) => i,
                None => {
                    self.slots.push(Slot {
                        id: 0,
                        state: SlotState::Free,
                        timer_at: None,
                    });
                    self.slots.len() - 1
                }
            };
            let token = idx + self.token_base();
            let now = Instant::now();
            let mut conn = Box::new(Conn {
                token,
                stream,
                info,
                phase: Phase::Greet,
                want: Want::Input,
                tls: None,
                session: None,
                rbuf: Vec::new(),
                fresh: false,
                out: Vec::new(),
                out_pos: 0,
                eof: false,
                handle: ConnHandle::attached(id, token, self.cfg.max_queued_pushes, self.hub.clone()),
                idle_timeout: self.cfg.idle_timeout,
                started: now,
                last_active: now,
                deadline: now,
                fired: None,
            });
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut conn.stream, Token(token), Interest::READABLE)
            {
                error!(self.log, "cannot register connection"; "event" => "conn.register_error", "error" => %e);
                self.free.push(idx);
                continue;
            }
            self.stats.open.fetch_add(1, Relaxed);
            info!(self.log, "connection accepted"; "event" => "conn.accept", "id" => id,
                "peer" => %peer, "listener" => conn.info.listener);
            self.slots[idx].id = id;
            self.slots[idx].timer_at = None;
            if haproxy {
                conn.phase = Phase::Proxy;
                self.slots[idx].state = SlotState::Busy { wake: false };
                self.park(conn);
            } else if tls {
                let Some(cfg) = self.cfg.tls.clone() else {
                    // Checked in bind(); unreachable in practice.
                    self.slots[idx].state = SlotState::Busy { wake: false };
                    conn.finish("no TLS configuration", &self.stats, &self.log);
                    self.release(token);
                    continue;
                };
                match rustls::ServerConnection::new(cfg) {
                    Ok(mut c) => {
                        c.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
                        conn.tls = Some(Box::new(c));
                        conn.phase = Phase::Handshake;
                        self.slots[idx].state = SlotState::Busy { wake: false };
                        self.park(conn);
                    }
                    Err(_) => {
                        self.slots[idx].state = SlotState::Busy { wake: false };
                        conn.finish("TLS setup failed", &self.stats, &self.log);
                        self.release(token);
                    }
                }
            } else {
                self.slots[idx].state = SlotState::Busy { wake: false };
                self.dispatch(conn);
            }
        }
    }

    /// A parked connection has something to do: hand it to a worker.
    fn ready(&mut self, idx: usize, fired: Option<Fired>) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        if !matches!(slot.state, SlotState::Parked(_)) {
            return; // busy (re-registration on return catches up) or free (stale event)
        }
        if let SlotState::Parked(mut conn) = std::mem::replace(&mut slot.state, SlotState::Busy { wake: false }) {
            if fired.is_some() {
                conn.fired = fired;
            }
            self.dispatch(conn);
        }
    }

    fn dispatch(&mut self, conn: Box<Conn<P::Session>>) {
        self.stats.queue_len.fetch_add(1, Relaxed);
        if let Err(crossbeam_channel::SendError(Work::Conn(c))) = self.work.send(Work::Conn(conn)) {
            // Workers are gone (cannot happen while the poller runs).
            self.stats.queue_len.fetch_sub(1, Relaxed);
            let token = c.token;
            c.finish("no workers", &self.stats, &self.log);
            self.release(token);
        }
    }

    fn park(&mut self, mut conn: Box<Conn<P::Session>>) {
        let idx = conn.token - self.token_base();
        let past_grace = self.draining.is_some_and(|g| Instant::now() >= g);
        if self.draining.is_some() && (is_idle(&conn) || past_grace) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            conn.finish("shutdown", &self.stats, &self.log);
            self.release(idx + self.token_base());
            return;
        }
        let interest = conn.interest(&self.cfg);
        if let Err(e) = self
            .poll
            .registry()
            .reregister(&mut conn.stream, Token(conn.token), interest)
        {
            warn!(self.log, "cannot re-register connection"; "event" => "conn.register_error", "error" => %e);
            let token = conn.token;
            conn.finish("register error", &self.stats, &self.log);
            self.release(token);
            return;
        }
        conn.deadline = conn.park_deadline(&self.cfg);
        let deadline = conn.deadline;
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        let wake = matches!(slot.state, SlotState::Busy { wake: true });
        if slot.timer_at.is_none_or(|t| deadline < t) {
            slot.timer_at = Some(deadline);
            self.timers.push(Reverse((deadline, idx, slot.id)));
        }
        slot.state = SlotState::Parked(conn);
        if wake {
            self.ready(idx, None);
        }
    }

    fn release(&mut self, token: usize) {
        let idx = token - self.token_base();
        if let Some(slot) = self.slots.get_mut(idx) {
            slot.state = SlotState::Free;
            slot.id = 0;
            slot.timer_at = None;
            self.free.push(idx);
            self.stats.open.fetch_sub(1, Relaxed);
        }
    }

    fn expire_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((t, idx, id))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let limit = self.cfg.session_limit;
            let Some(slot) = self.slots.get_mut(idx) else {
                continue;
            };
            if slot.id != id {
                continue;
            }
            if slot.timer_at == Some(t) {
                slot.timer_at = None;
            }
            let SlotState::Parked(conn) = &slot.state else {
                continue; // busy: a new timer is set when it parks
            };
            if conn.deadline > now {
                let d = conn.deadline;
                if slot.timer_at.is_none_or(|x| d < x) {
                    slot.timer_at = Some(d);
                    self.timers.push(Reverse((d, idx, id)));
                }
                continue;
            }
            let kind = if matches!(conn.phase, Phase::Proxy | Phase::Handshake) && conn.session.is_none() {
                Fired::Handshake
            } else if limit.is_some_and(|l| now >= conn.started + l) {
                Fired::Limit
            } else {
                Fired::Idle
            };
            self.ready(idx, Some(kind));
        }
    }
}

/// A parked connection nobody is waiting on: no output pending, session waiting for input.
fn is_idle<S: Session>(c: &Conn<S>) -> bool {
    c.pending_out() == 0 && (c.phase != Phase::Open || c.want == Want::Input)
}
