//! The HTTP/1.1 connection as a sans-I/O [`Session`] of the runtime (RFC 9112): framing with
//! hard caps, keep-alive, pipelining (answered in order), `Expect: 100-continue`, chunked
//! request bodies, streamed responses, a request-head deadline against slow clients, and one
//! access-log line per request (event `http.access`).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gromox_runtime::{ConnInfo, Cx, Next, Protocol, Session};

use crate::app::{App, Request};
use crate::http::{body_framing, http_date, parse_head, BodyFraming, ChunkedDecoder, Head, Version};
use crate::response::{continue_pending, write_response, Pending, Response};

/// Output produced per call while streaming a body.
const STREAM_BUDGET: usize = 256 * 1024;

/// The protocol: creates [`HttpSession`]s.
pub struct HttpProtocol {
    app: RwLock<Arc<App>>,
}

impl HttpProtocol {
    /// Wrap the application.
    pub fn new(app: Arc<App>) -> Self {
        HttpProtocol { app: RwLock::new(app) }
    }

    /// The current application.
    pub fn app(&self) -> Arc<App> {
        // Only an Arc is swapped under this lock; a poisoned lock still holds a valid one.
        self.app.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replace the application (configuration reload): new connections use the new one,
    /// open connections keep theirs.
    pub fn replace(&self, app: Arc<App>) {
        *self.app.write().unwrap_or_else(|p| p.into_inner()) = app;
    }
}

impl Protocol for HttpProtocol {
    type Session = HttpSession;

    fn accept(&self, info: &ConnInfo) -> HttpSession {
        HttpSession::new(self.app(), info)
    }

    fn busy_reply(&self) -> &[u8] {
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 5\r\n\r\n"
    }
}

enum State {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Reading a Content-Length body.
    Body { head: Head, left: u64, buf: Vec<u8> },
    /// Reading a chunked body.
    Chunked {
        head: Head,
        dec: ChunkedDecoder,
        buf: Vec<u8>,
    },
    /// Streaming a response body.
    Sending { pending: Pending, keep: bool },
    /// Closing.
    Done,
}

/// One HTTP connection.
pub struct HttpSession {
    app: Arc<App>,
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
    state: State,
    /// When the first byte of the current request head arrived.
    head_started: Option<Instant>,
}

thread_local! {
    static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
}

fn now_date() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs || c.1.is_empty() {
            *c = (secs, http_date(secs));
        }
        c.1.clone()
    })
}

impl HttpSession {
    /// A session for a connection.
    pub fn new(app: Arc<App>, info: &ConnInfo) -> Self {
        HttpSession {
            app,
            peer: info.peer,
            local: info.local,
            tls: info.implicit_tls,
            state: State::Head,
            head_started: None,
        }
    }

    /// The client address, from `http_remote_host_hdr` when configured (the last address of a
    /// list, i.e. the one the trusted proxy added).
    fn client(&self, head: &Head) -> SocketAddr {
        let h = &self.app.settings.remote_host_hdr;
        if h.is_empty() {
            return self.peer;
        }
        head.header_list(h)
            .last()
            .and_then(|v| v.trim_matches(['[', ']']).parse::<IpAddr>().ok())
            .map_or(self.peer, |ip| SocketAddr::new(ip, 0))
    }

    /// Answer an error that ends the connection (the request framing is lost).
    fn fatal(&mut self, cx: &mut Cx<'_>, version: Version, status: u16, what: &str) -> Next {
        slog::info!(self.app.log, "request refused"; "event" => "http.bad_request",
            "peer" => self.peer.to_string(), "status" => status, "reason" => what.to_string());
        let resp = Response::status(status).closing().endpoint("error");
        self.app
            .metrics
            .request("error", crate::metrics::code_label(status), Duration::ZERO);
        let date = now_date();
        write_response(
            cx.out,
            version,
            resp,
            false,
            false,
            &date,
            &self.app.settings.server_name,
        );
        self.state = State::Done;
        Next::Close
    }

    fn dispatch(&mut self, head: Head, body: Vec<u8>, cx: &mut Cx<'_>) -> Next {
        let started = Instant::now();
        let peer = self.client(&head);
        let path = head.path().to_string();
        let query = head.query().to_string();
        let mut req = Request {
            head,
            body,
            peer,
            local: self.local,
            tls: self.tls || cx.tls_active,
            path,
            query,
        };
        let resp = self.app.handle(&mut req);
        let took = started.elapsed();
        let head = &req.head;
        let status = resp.status;
        let endpoint = resp.endpoint;
        let user = resp.user.clone().unwrap_or_default();
        let keep_alive = head.keep_alive();
        let date = now_date();
        let (pending, keep, len) = write_response(
            cx.out,
            head.version,
            resp,
            head.method == "HEAD",
            keep_alive,
            &date,
            &self.app.settings.server_name,
        );
        self.app
            .metrics
            .request(endpoint, crate::metrics::code_label(status), took);
        slog::info!(self.app.log, "{} {} {}", head.method, gromox_base::log::sanitize(&head.target), status;
            "event" => "http.access",
            "peer" => peer.to_string(),
            "endpoint" => endpoint,
            "user" => gromox_base::log::sanitize(&user),
            "bytes" => len,
            "us" => took.as_micros() as u64,
            "agent" => gromox_base::log::sanitize(head.header("user-agent").unwrap_or("")));
        match pending {
            Some(pending) => {
                self.state = State::Sending { pending, keep };
                self.pump(cx)
            }
            None if keep => {
                self.state = State::Head;
                Next::Read
            }
            None => {
                self.state = State::Done;
                Next::Close
            }
        }
    }

    /// Produce more of a streamed body.
    fn pump(&mut self, cx: &mut Cx<'_>) -> Next {
        let State::Sending { pending, keep } = &mut self.state else {
            return Next::Read;
        };
        match continue_pending(pending, cx.out, STREAM_BUDGET) {
            Ok(false) => Next::Write,
            Ok(true) => {
                if *keep {
                    self.state = State::Head;
                    Next::Read
                } else {
                    self.state = State::Done;
                    Next::Close
                }
            }
            Err(e) => {
                slog::warn!(self.app.log, "response body failed"; "event" => "http.body_error",
                    "peer" => self.peer.to_string(), "error" => e.to_string());
                self.state = State::Done;
                Next::Close
            }
        }
    }

    /// The request head was not complete in time (slow client): 408 and close.
    fn head_timeout(&mut self, cx: &mut Cx<'_>) -> Next {
        slog::info!(self.app.log, "request head not complete in time"; "event" => "http.request_timeout",
            "peer" => self.peer.to_string());
        self.app.metrics.request("error", "408", Duration::ZERO);
        let date = now_date();
        let resp = Response::status(408).closing();
        write_response(
            cx.out,
            Version::Http11,
            resp,
            false,
            false,
            &date,
            &self.app.settings.server_name,
        );
        self.state = State::Done;
        Next::Close
    }

    /// Set the idle timeout so the request head must be complete `request_timeout` after its
    /// first byte, however slowly it trickles in.
    fn head_deadline(&mut self, cx: &mut Cx<'_>, partial: bool) -> bool {
        if !partial {
            self.head_started = None;
            return true;
        }
        let started = *self.head_started.get_or_insert_with(Instant::now);
        let left = self.app.settings.request_timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return false;
        }
        cx.idle_timeout = Some(left);
        true
    }
}

impl Session for HttpSession {
    fn connected(&mut self, cx: &mut Cx<'_>) -> Next {
        // The first request head is due within http_request_timeout of connecting.
        self.head_started = Some(Instant::now());
        cx.idle_timeout = Some(self.app.settings.request_timeout);
        Next::Read
    }

    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        let mut used = 0;
        loop {
            let rest = &data[used..];
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return (data.len(), Next::Close),
                s @ State::Sending { .. } => {
                    self.state = s;
                    return (used, Next::Write);
                }
                State::Head => {
                    if rest.is_empty() {
                        self.state = State::Head;
                        return (used, Next::Read);
                    }
                    let max = self.app.settings.max_head;
                    match parse_head(rest, max) {
                        Ok(None) => {
                            self.state = State::Head;
                            if !self.head_deadline(cx, true) {
                                return (data.len(), self.head_timeout(cx));
                            }
                            return (used, Next::Read);
                        }
                        Err(e) => return (data.len(), self.fatal(cx, Version::Http11, e.status(), &e.to_string())),
                        Ok(Some((head, n))) => {
                            used += n;
                            self.head_deadline(cx, false);
                            // Back to the connection's idle timeout for body and response.
                            cx.idle_timeout = Some(self.app.settings.idle_timeout);
                            let v = head.version;
                            let framing = match body_framing(&head) {
                                Ok(f) => f,
                                Err(e) => return (data.len(), self.fatal(cx, v, e.status(), &e.to_string())),
                            };
                            if let BodyFraming::Length(n) = framing {
                                if n > self.app.settings.max_body {
                                    // Refused from Content-Length alone: the body is never read.
                                    return (
                                        data.len(),
                                        self.fatal(cx, v, 413, "body larger than http_rqbody_max_size"),
                                    );
                                }
                            }
                            if framing != BodyFraming::None {
                                if let Some(exp) = head.header("expect") {
                                    if !exp.eq_ignore_ascii_case("100-continue") {
                                        return (data.len(), self.fatal(cx, v, 417, "unknown expectation"));
                                    }
                                    if v == Version::Http11 && used == data.len() {
                                        cx.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                                    }
                                }
                            }
                            match framing {
                                BodyFraming::None => {
                                    let next = self.dispatch(head, Vec::new(), cx);
                                    if next != Next::Read {
                                        return (used, next);
                                    }
                                }
                                BodyFraming::Length(n) => {
                                    self.state = State::Body {
                                        head,
                                        left: n,
                                        buf: Vec::with_capacity(n.min(1 << 20) as usize),
                                    };
                                }
                                BodyFraming::Chunked => {
                                    self.state = State::Chunked {
                                        head,
                                        dec: ChunkedDecoder::new(),
                                        buf: Vec::new(),
                                    };
                                }
                            }
                        }
                    }
                }
                State::Body {
                    head,
                    mut left,
                    mut buf,
                } => {
                    let take = (rest.len() as u64).min(left) as usize;
                    buf.extend_from_slice(&rest[..take]);
                    used += take;
                    left -= take as u64;
                    if left > 0 {
                        self.state = State::Body { head, left, buf };
                        return (used, Next::Read);
                    }
                    let next = self.dispatch(head, buf, cx);
                    if next != Next::Read {
                        return (used, next);
                    }
                }
                State::Chunked { head, mut dec, mut buf } => {
                    let v = head.version;
                    match dec.decode(rest, &mut buf) {
                        Err(e) => return (data.len(), self.fatal(cx, v, 400, &e.to_string())),
                        Ok(n) => used += n,
                    }
                    if buf.len() as u64 > self.app.settings.max_body {
                        return (
                            data.len(),
                            self.fatal(cx, v, 413, "chunked body larger than http_rqbody_max_size"),
                        );
                    }
                    if !dec.is_done() {
                        self.state = State::Chunked { head, dec, buf };
                        return (used, Next::Read);
                    }
                    let next = self.dispatch(head, buf, cx);
                    if next != Next::Read {
                        return (used, next);
                    }
                }
            }
        }
    }

    fn writable(&mut self, cx: &mut Cx<'_>) -> Next {
        match self.state {
            State::Sending { .. } => self.pump(cx),
            State::Done => Next::Close,
            _ => Next::Read,
        }
    }

    fn timed_out(&mut self, cx: &mut Cx<'_>) -> Next {
        if matches!(self.state, State::Head) && self.head_started.is_some() {
            return self.head_timeout(cx);
        }
        self.state = State::Done;
        Next::Close
    }
}
