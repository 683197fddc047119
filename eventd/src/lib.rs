//! eventd: the folder-change event bus of Gromox (event(8gx)), in sans-I/O form.
//!
//! IMAP, POP3 and the message index tell each other about changed folders through this
//! service: a process `ID`s a command connection and `LISTEN`s on one or more listener
//! connections under the same resource id, `SELECT`s the folders it shows to its clients, and
//! broadcasts `FOLDER-TOUCH`, `MESSAGE-UFLAG` and `MESSAGE-EXPUNGE` lines that are delivered to
//! every *other* id that selected the folder. See `README.md` for the protocol and keys.
//!
//! - [`codec`]: framing (hard line cap) and the command parser (fuzzed, `fuzz/`).
//! - [`registry`]: listeners (as runtime [`ConnHandle`]s, so a parked listener connection is
//!   woken by a push) and selections.
//! - [`EventProtocol`]/[`EventSession`]: the runtime [`Protocol`] gluing them together.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gromox_base::acl::HostsAllow;
use gromox_base::log::sanitize;
use gromox_runtime::{ConnHandle, ConnInfo, Cx, Next, Protocol, Push, Session};
use slog::Logger;

pub mod codec;
pub mod registry;

use codec::{parse_command, Command, Frame, LineFramer};
use registry::{ListenerMsg, Registry};

/// Greeting sent to an accepted client.
pub const GREETING: &[u8] = b"OK\r\n";
/// Line sent to a client outside `event_hosts_allow` before closing.
pub const ACCESS_DENIED: &[u8] = b"FALSE Access denied\r\n";

/// The event protocol: shared registry, access list and logger.
pub struct EventProtocol {
    registry: Arc<Registry<ConnHandle>>,
    metrics: Arc<gromox_runtime::Registry>,
    acl: std::sync::RwLock<HostsAllow>,
    log: Logger,
    ping_interval: Duration,
}

impl EventProtocol {
    /// A protocol instance. The daemon calls [`Registry::ping_all`] every `ping_interval`;
    /// a listener that has not answered the previous `PING` by then is dropped, and one that
    /// sends nothing for three intervals times out.
    pub fn new(acl: HostsAllow, log: Logger, ping_interval: Duration) -> Self {
        EventProtocol {
            registry: Arc::new(Registry::new()),
            metrics: Arc::default(),
            acl: std::sync::RwLock::new(acl),
            log,
            ping_interval,
        }
    }

    /// Record commands into `m` (the server's registry, exported for httpd's `/metrics`).
    pub fn with_metrics(mut self, m: Arc<gromox_runtime::Registry>) -> Self {
        self.metrics = m;
        self
    }

    /// The shared registry (metrics, tests).
    pub fn registry(&self) -> &Arc<Registry<ConnHandle>> {
        &self.registry
    }

    /// Replace the access list (SIGHUP); existing connections are not affected.
    pub fn set_acl(&self, acl: HostsAllow) {
        *self.acl.write().unwrap_or_else(|p| p.into_inner()) = acl;
    }
}

impl Protocol for EventProtocol {
    type Session = EventSession;

    fn accept(&self, info: &ConnInfo) -> EventSession {
        EventSession {
            registry: self.registry.clone(),
            metrics: self.metrics.clone(),
            log: self.log.clone(),
            peer: info.peer,
            allowed: self
                .acl
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .allows(info.peer.ip()),
            ping_interval: self.ping_interval,
            framer: LineFramer::default(),
            id: None,
            mode: Mode::Command,
        }
    }

    fn busy_reply(&self) -> &[u8] {
        b"FALSE Maximum number of connections reached\r\n"
    }
}

enum Mode {
    /// Gromox's "enqueue mode": commands and broadcasts.
    Command,
    /// Gromox's "dequeue mode": events are pushed, the client acknowledges each with `TRUE`.
    Listen {
        id: String,
        conn: u64,
        outstanding: Arc<AtomicUsize>,
        /// What each unacknowledged line written was: `true` for our `PING`.
        unacked: VecDeque<bool>,
        ping_sent: bool,
    },
}

/// One client connection.
pub struct EventSession {
    registry: Arc<Registry<ConnHandle>>,
    metrics: Arc<gromox_runtime::Registry>,
    log: Logger,
    peer: SocketAddr,
    allowed: bool,
    ping_interval: Duration,
    framer: LineFramer,
    id: Option<String>,
    mode: Mode,
}

const TRUE: &[u8] = b"TRUE\r\n";
/// Command names counted in the metrics (anything else is `other`).
const COMMANDS: &[&str] = &[
    "ID",
    "LISTEN",
    "SELECT",
    "UNSELECT",
    "PING",
    "QUIT",
    "FOLDER-TOUCH",
    "MESSAGE-FLAG",
    "MESSAGE-UFLAG",
    "MESSAGE-EXPUNGE",
];
const FALSE: &[u8] = b"FALSE\r\n";

impl EventSession {
    fn command(&mut self, line: &[u8], cx: &mut Cx<'_>) -> Next {
        let cmd = match parse_command(line) {
            Ok(c) => c,
            Err(e) => {
                slog::debug!(self.log, "command refused"; "event" => "event.bad_command",
                    "peer" => self.peer.to_string(), "reason" => e.to_string(),
                    "line" => sanitize(&String::from_utf8_lossy(&line[..line.len().min(200)])));
                cx.out.extend_from_slice(FALSE);
                return Next::Read;
            }
        };
        let now = Instant::now();
        match cmd {
            Command::Id(id) => {
                self.id = Some(id);
                cx.out.extend_from_slice(TRUE);
            }
            Command::Listen(id) => {
                let conn = cx.info.id;
                let outstanding = self.registry.listen(&id, conn, cx.handle.clone(), now);
                slog::info!(self.log, "listener registered"; "event" => "event.listen",
                    "peer" => self.peer.to_string(), "id" => sanitize(&id));
                self.mode = Mode::Listen {
                    id,
                    conn,
                    outstanding,
                    unacked: VecDeque::new(),
                    ping_sent: false,
                };
                cx.idle_timeout = Some(self.ping_interval.saturating_mul(3));
                cx.out.extend_from_slice(TRUE);
            }
            Command::Select { user, folder } => {
                let ok = self
                    .id
                    .as_deref()
                    .is_some_and(|id| self.registry.select(id, &user, &folder, now));
                cx.out.extend_from_slice(if ok { TRUE } else { FALSE });
            }
            Command::Unselect { user, folder } => {
                if let Some(id) = &self.id {
                    self.registry.unselect(id, &user, &folder);
                }
                cx.out.extend_from_slice(TRUE);
            }
            Command::Ping => cx.out.extend_from_slice(TRUE),
            Command::Quit => {
                cx.out.extend_from_slice(b"BYE\r\n");
                return Next::Close;
            }
            Command::Event(ev) => {
                let from = self.id.as_deref().unwrap_or("");
                let d = self.registry.broadcast(from, &ev, now);
                slog::debug!(self.log, "event broadcast"; "event" => "event.broadcast",
                    "kind" => ev.kind.as_str(), "user" => sanitize(&ev.user),
                    "folder" => sanitize(&ev.folder), "delivered" => d.delivered);
                if d.dropped > 0 {
                    slog::warn!(self.log, "event not delivered: listener full or gone";
                        "event" => "event.dropped", "kind" => ev.kind.as_str(),
                        "user" => sanitize(&ev.user), "count" => d.dropped);
                }
                cx.out.extend_from_slice(TRUE);
            }
        }
        Next::Read
    }
}

impl Session for EventSession {
    fn connected(&mut self, cx: &mut Cx<'_>) -> Next {
        if !self.allowed {
            slog::warn!(self.log, "connection refused by event_hosts_allow";
                "event" => "acl.refused", "peer" => self.peer.to_string());
            cx.out.extend_from_slice(ACCESS_DENIED);
            return Next::Close;
        }
        cx.out.extend_from_slice(GREETING);
        Next::Read
    }

    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        let mut used = 0;
        loop {
            let (frame, n) = self.framer.next(&data[used..]);
            used += n;
            let Some(frame) = frame else {
                if n == 0 {
                    return (used, Next::Read);
                }
                continue;
            };
            match (&mut self.mode, frame) {
                (Mode::Command, Frame::TooLong) => {
                    slog::debug!(self.log, "over-long line discarded"; "event" => "event.line_too_long",
                        "peer" => self.peer.to_string());
                    cx.out.extend_from_slice(FALSE);
                }
                (Mode::Command, Frame::Line(line)) => {
                    let (t, at) = (Instant::now(), cx.out.len());
                    let next = self.command(line, cx);
                    self.metrics.request(
                        gromox_runtime::metrics::word_label(line, COMMANDS),
                        gromox_runtime::metrics::word_label(&cx.out[at..], &["TRUE", "FALSE"]),
                        t.elapsed(),
                    );
                    if next == Next::Close {
                        return (used, Next::Close);
                    }
                }
                (
                    Mode::Listen {
                        outstanding,
                        unacked,
                        ping_sent,
                        ..
                    },
                    Frame::Line(line),
                ) if line.eq_ignore_ascii_case(b"TRUE") => match unacked.pop_front() {
                    Some(true) => *ping_sent = false,
                    Some(false) => {
                        let _ = outstanding.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
                    }
                    None => {}
                },
                (Mode::Listen { .. }, _) => {
                    slog::debug!(self.log, "unexpected input from listener ignored";
                        "event" => "event.listener_input", "peer" => self.peer.to_string());
                }
            }
        }
    }

    fn pushed(&mut self, msg: Push, cx: &mut Cx<'_>) -> Next {
        let Mode::Listen {
            unacked, ping_sent, id, ..
        } = &mut self.mode
        else {
            return Next::Read;
        };
        match msg.downcast::<ListenerMsg>().map(|m| *m) {
            Ok(ListenerMsg::Event(line)) => {
                cx.out.extend_from_slice(line.as_bytes());
                cx.out.extend_from_slice(b"\r\n");
                unacked.push_back(false);
            }
            Ok(ListenerMsg::Ping) if *ping_sent => {
                slog::info!(self.log, "listener did not answer PING, dropped";
                    "event" => "event.listener_timeout", "peer" => self.peer.to_string(),
                    "id" => sanitize(id));
                return Next::Close;
            }
            Ok(ListenerMsg::Ping) => {
                *ping_sent = true;
                unacked.push_back(true);
                cx.out.extend_from_slice(b"PING\r\n");
            }
            Err(_) => {}
        }
        Next::Read
    }

    fn timed_out(&mut self, _cx: &mut Cx<'_>) -> Next {
        if let Mode::Listen { id, .. } = &self.mode {
            slog::info!(self.log, "listener silent, dropped"; "event" => "event.listener_timeout",
                "peer" => self.peer.to_string(), "id" => sanitize(id));
        }
        Next::Close
    }

    fn closed(&mut self) {
        if let Mode::Listen { id, conn, .. } = &self.mode {
            self.registry.unlisten(id, *conn, Instant::now());
            slog::debug!(self.log, "listener gone"; "event" => "event.unlisten", "id" => sanitize(id));
        }
    }
}

/// Entry points for fuzz targets (`fuzz/`); the seed corpus runs as a test.
pub mod fuzzing {
    use crate::codec::{parse_command, Command, Frame, LineFramer};

    /// Frame `data` into lines and parse each: must never panic; a parsed broadcast renders
    /// to a line that parses back to itself.
    pub fn command(data: &[u8]) {
        let mut framer = LineFramer::default();
        let mut rest = data;
        loop {
            let (frame, n) = framer.next(rest);
            rest = &rest[n..];
            match frame {
                Some(Frame::Line(l)) => {
                    if let Ok(Command::Event(e)) = parse_command(l) {
                        let again = parse_command(e.to_string().as_bytes());
                        assert_eq!(again, Ok(Command::Event(e)));
                    }
                }
                Some(Frame::TooLong) => {}
                None if n == 0 => break,
                None => {}
            }
        }
        // The unterminated tail, as if the line ended.
        let _ = parse_command(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(peer: &str) -> ConnInfo {
        ConnInfo {
            id: 7,
            peer: peer.parse().unwrap(),
            local: "127.0.0.1:33333".parse().unwrap(),
            implicit_tls: false,
            listener: "event_listen",
        }
    }

    fn proto(acl: &str) -> EventProtocol {
        EventProtocol::new(
            HostsAllow::parse(acl).unwrap(),
            gromox_base::log::discard(),
            Duration::from_secs(60),
        )
    }

    /// Feed `input` to `s` in one call; return (consumed, next, output).
    fn feed(s: &mut EventSession, ci: &ConnInfo, input: &[u8]) -> (usize, Next, String) {
        let mut out = Vec::new();
        let mut cx = Cx {
            out: &mut out,
            info: ci,
            tls_active: false,
            idle_timeout: None,
            handle: ConnHandle::detached(),
        };
        let (n, next) = s.input(input, &mut cx);
        (n, next, String::from_utf8(out).unwrap())
    }

    fn connect(p: &EventProtocol, ci: &ConnInfo) -> (EventSession, Next, String) {
        let mut s = p.accept(ci);
        let mut out = Vec::new();
        let mut cx = Cx {
            out: &mut out,
            info: ci,
            tls_active: false,
            idle_timeout: None,
            handle: ConnHandle::detached(),
        };
        let next = s.connected(&mut cx);
        (s, next, String::from_utf8(out).unwrap())
    }

    #[test]
    fn greeting_and_acl() {
        let p = proto("127.0.0.1 ::1");
        let (_, next, out) = connect(&p, &info("127.0.0.1:4000"));
        assert_eq!((next, out.as_str()), (Next::Read, "OK\r\n"));
        let (_, next, out) = connect(&p, &info("127.0.0.2:4000"));
        assert_eq!((next, out.as_str()), (Next::Close, "FALSE Access denied\r\n"));
    }

    #[test]
    fn commands_answer_like_gromox() {
        let p = proto("127.0.0.1");
        let ci = info("127.0.0.1:4000");
        let (mut s, _, _) = connect(&p, &ci);
        let input = b"PING\r\nID imap:1\r\nSELECT a@b inbox\r\nbogus\r\nFOLDER-TOUCH a@b inbox\r\nUNSELECT a@b inbox\r\nQUIT\r\nPING\r\n";
        let (n, next, out) = feed(&mut s, &ci, input);
        // SELECT fails: no listener for imap:1 exists yet (as in Gromox).
        assert_eq!(out, "TRUE\r\nTRUE\r\nFALSE\r\nFALSE\r\nTRUE\r\nTRUE\r\nBYE\r\n");
        assert_eq!(next, Next::Close);
        assert_eq!(n, input.len() - b"PING\r\n".len(), "input after QUIT is not consumed");
    }

    #[test]
    fn partial_and_over_long_lines() {
        let p = proto("127.0.0.1");
        let ci = info("127.0.0.1:4000");
        let (mut s, _, _) = connect(&p, &ci);
        assert_eq!(feed(&mut s, &ci, b"PI").0, 0);
        let mut big = vec![b'A'; codec::MAX_LINE * 3];
        let (n, next, out) = feed(&mut s, &ci, &big);
        assert_eq!((n, next, out.as_str()), (big.len(), Next::Read, ""));
        big.truncate(10);
        big.extend_from_slice(b"\r\nPING\r\n");
        let (n, _, out) = feed(&mut s, &ci, &big);
        assert_eq!((n, out.as_str()), (big.len(), "FALSE\r\nTRUE\r\n"));
    }

    #[test]
    fn listener_receives_pushes_and_pings() {
        let p = proto("127.0.0.1");
        let ci = info("127.0.0.1:4000");
        let (mut s, _, _) = connect(&p, &ci);
        let mut out = Vec::new();
        let mut cx = Cx {
            out: &mut out,
            info: &ci,
            tls_active: false,
            idle_timeout: None,
            handle: ConnHandle::detached(),
        };
        assert_eq!(s.input(b"LISTEN h:1\r\n", &mut cx), (12, Next::Read));
        assert_eq!(cx.idle_timeout, Some(Duration::from_secs(180)));
        let ev = ListenerMsg::Event(Arc::from("FOLDER-TOUCH u f"));
        assert_eq!(s.pushed(Box::new(ev), &mut cx), Next::Read);
        assert_eq!(s.pushed(Box::new(ListenerMsg::Ping), &mut cx), Next::Read);
        assert_eq!(cx.out.as_slice(), b"TRUE\r\nFOLDER-TOUCH u f\r\nPING\r\n");
        // Acks for the event and the PING; the listener stays.
        assert_eq!(s.input(b"TRUE\r\nTRUE\r\n", &mut cx).1, Next::Read);
        assert_eq!(s.pushed(Box::new(ListenerMsg::Ping), &mut cx), Next::Read);
        // No answer to this PING: dropped at the next tick.
        assert_eq!(s.pushed(Box::new(ListenerMsg::Ping), &mut cx), Next::Close);
        s.closed();
    }
}
