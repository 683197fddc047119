//! The daemon runtime every gromox-rs daemon stands on (DESIGN.md §2).
//!
//! One mio acceptor/poller thread owns the listening sockets and every *idle* connection; a
//! connection with input buffered is handed over a crossbeam channel to a fixed pool of worker
//! threads, which run the protocol's [`Session`] synchronously and hand the connection back to the
//! poller when it waits for input again. Idle connections therefore cost buffers, not threads.
//!
//! Protocols are sans-I/O: a [`Session`] is given bytes and writes response bytes into
//! [`Cx::out`]; it never touches a socket. TLS (rustls), PROXY protocol v2, connection caps,
//! timeouts and output back-pressure live here, not in the protocols.
//!
//! Entry points: [`Server::bind`] (then [`Server::local_addrs`], [`Server::run`]) or [`serve`];
//! [`Control`] for shutdown/reload and signal wiring; [`tls`] for certificates; [`proxy`] for
//! the HAProxy PROXY protocol parser; [`sys::raise_nofile_limit`].

use std::any::Any;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod control;
pub mod daemon;
mod error;
pub mod line;
pub mod metrics;
pub mod proxy;
mod server;
pub mod settings;
mod stats;
pub mod sys;
pub mod tls;

pub use control::Control;
pub use error::RuntimeError;
pub use metrics::{MetricsExport, Registry};
pub use server::{serve, Listener, Server, ServerConfig};
pub use stats::{RuntimeStats, StatsHandle};

/// What a session wants the runtime to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Flush pending output, then wait for more input (the connection may be parked).
    Read,
    /// More output will be produced: flush, and call [`Session::writable`] once the output
    /// buffer has drained below its low-water mark (back-pressure for big responses).
    Write,
    /// Flush pending output (e.g. the STARTTLS/STLS go-ahead), then start a TLS handshake as
    /// server on this connection. Buffered plaintext input after the command is discarded.
    StartTls,
    /// Flush pending output, then close the connection.
    Close,
}

/// Facts about an accepted connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// Runtime-unique connection id.
    pub id: u64,
    /// The client address (from the PROXY v2 header where the listener accepts one).
    pub peer: SocketAddr,
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// Whether the connection arrived on an implicit-TLS listener.
    pub implicit_tls: bool,
    /// Name of the listener's config key (e.g. `imap_listen_tls`).
    pub listener: &'static str,
}

/// A message pushed to a connection from another thread (see [`Cx::handle`]).
pub type Push = Box<dyn Any + Send>;

/// Per-call context handed to a session: output buffer and connection controls.
pub struct Cx<'a> {
    /// Bytes to send to the client. The runtime flushes it after each call.
    pub out: &'a mut Vec<u8>,
    /// Facts about the connection.
    pub info: &'a ConnInfo,
    /// Whether TLS is active on the connection now (implicit or after STARTTLS).
    pub tls_active: bool,
    /// Idle timeout to apply from now on (`None` keeps the current one).
    pub idle_timeout: Option<Duration>,
    /// Handle other threads can use to push messages to this connection.
    pub handle: ConnHandle,
}

/// A cloneable, thread-safe handle through which other threads push [`Push`] messages to a
/// connection; the runtime wakes the poller and calls [`Session::pushed`] on a worker.
#[derive(Clone)]
pub struct ConnHandle {
    inner: Option<Arc<HandleInner>>,
}

pub(crate) struct HandleInner {
    pub(crate) id: u64,
    pub(crate) token: usize,
    /// Most messages queued before the connection is dropped.
    pub(crate) cap: usize,
    pub(crate) queue: Mutex<PushQueue>,
    pub(crate) hub: Arc<Hub>,
}

#[derive(Default)]
pub(crate) struct PushQueue {
    pub(crate) msgs: Vec<Push>,
    pub(crate) closed: bool,
    pub(crate) overflow: bool,
}

impl HandleInner {
    /// Tell the poller this connection has pushes (or must be closed).
    fn notify(&self) {
        let mut pending = lock(&self.hub.pending);
        let wake = pending.is_empty();
        pending.push((self.token, self.id));
        drop(pending);
        // The poller takes the whole list at once: only the first entry needs a wake-up
        // (a broadcast to 10,000 connections costs one, not 10,000).
        if wake {
            let _ = self.hub.waker.wake();
        }
    }
}

/// Where pushed-to connections are announced to the poller.
pub(crate) struct Hub {
    pub(crate) pending: Mutex<Vec<(usize, u64)>>,
    pub(crate) waker: Arc<mio::Waker>,
}

// ConnHandle crosses threads (eventd broadcasts, IMAP IDLE notifications).
const _: fn() = || {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<ConnHandle>();
};

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Users of these mutexes only push/take plain data; a panic elsewhere cannot leave
    // them inconsistent, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ConnHandle {
    /// Deliver `msg` to the connection. Returns `false` when the connection is gone.
    /// Messages are queued (in order) and handed to [`Session::pushed`] once the session waits
    /// for input and the client is reading its output; never in the middle of a response.
    pub fn push(&self, msg: Push) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        let mut q = lock(&inner.queue);
        if q.closed {
            return false;
        }
        if q.msgs.len() >= inner.cap {
            // The client does not take its messages: drop them and the connection rather than
            // let memory grow (the worker closes it with `conn.push_overflow`).
            q.closed = true;
            q.overflow = true;
            q.msgs = Vec::new();
            drop(q);
            inner.notify();
            return false;
        }
        let first = q.msgs.is_empty();
        q.msgs.push(msg);
        drop(q);
        if first {
            inner.notify();
        }
        true
    }

    /// A handle not attached to any connection (pushes return `false`); for unit tests of
    /// sessions that build a [`Cx`] by hand.
    pub fn detached() -> Self {
        ConnHandle { inner: None }
    }

    /// The connection id ([`ConnInfo::id`]) this handle pushes to; 0 when detached.
    pub fn id(&self) -> u64 {
        self.inner.as_ref().map_or(0, |i| i.id)
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.as_ref().is_none_or(|i| lock(&i.queue).closed)
    }

    pub(crate) fn attached(id: u64, token: usize, cap: usize, hub: Arc<Hub>) -> Self {
        ConnHandle {
            inner: Some(Arc::new(HandleInner {
                id,
                token,
                cap: cap.max(1),
                queue: Mutex::new(PushQueue::default()),
                hub,
            })),
        }
    }

    pub(crate) fn take_pushes(&self) -> Vec<Push> {
        match &self.inner {
            Some(i) => std::mem::take(&mut lock(&i.queue).msgs),
            None => Vec::new(),
        }
    }

    /// Put back pushes not delivered yet, ahead of any that arrived meanwhile.
    pub(crate) fn requeue_pushes(&self, rest: impl Iterator<Item = Push>) {
        let rest: Vec<Push> = rest.collect();
        if rest.is_empty() {
            return;
        }
        if let Some(i) = &self.inner {
            let mut q = lock(&i.queue);
            let newer = std::mem::replace(&mut q.msgs, rest);
            q.msgs.extend(newer);
        }
    }

    pub(crate) fn overflowed(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| lock(&i.queue).overflow)
    }

    pub(crate) fn mark_closed(&self) {
        if let Some(i) = &self.inner {
            let mut q = lock(&i.queue);
            q.closed = true;
            q.msgs = Vec::new();
        }
    }
}

/// The server side of one connection, in sans-I/O form.
pub trait Session: Send + 'static {
    /// Called once after accept (and after the TLS handshake on implicit-TLS listeners):
    /// write the greeting, if the protocol has one.
    fn connected(&mut self, cx: &mut Cx<'_>) -> Next;

    /// Called with all buffered, not yet consumed input. Consume complete requests only and
    /// return how many bytes were consumed; unconsumed bytes are kept and offered again with
    /// more input. Must not block waiting for the network.
    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next);

    /// Called after [`Next::Write`] once the output buffer has drained.
    fn writable(&mut self, _cx: &mut Cx<'_>) -> Next {
        Next::Read
    }

    /// Called with a message pushed through a [`ConnHandle`]; only while the session waits for
    /// input ([`Next::Read`]), so output written here never interleaves with a response.
    fn pushed(&mut self, _msg: Push, _cx: &mut Cx<'_>) -> Next {
        Next::Read
    }

    /// The idle timeout (or the session limit) expired while the session waited for input:
    /// write a goodbye if the protocol has one. Default: close. Returning [`Next::Read`] keeps
    /// the connection for another full timeout (not possible after the session limit).
    /// A connection stalled in the middle of a response, or already closing, is closed without
    /// this call.
    fn timed_out(&mut self, _cx: &mut Cx<'_>) -> Next {
        Next::Close
    }

    /// The connection is gone (closed by either side). Release resources here.
    fn closed(&mut self) {}
}

/// A protocol: creates sessions for accepted connections.
pub trait Protocol: Send + Sync + 'static {
    /// The session type.
    type Session: Session;

    /// Create the session for a new connection.
    fn accept(&self, info: &ConnInfo) -> Self::Session;

    /// Bytes written to a connection refused because `context_num` connections are open,
    /// e.g. `* BYE too many connections\r\n` or `421 4.3.2 ...\r\n`.
    fn busy_reply(&self) -> &[u8];
}
