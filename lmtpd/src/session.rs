//! The LMTP/SMTP server session (RFC 5321, RFC 2033), sans-I/O on top of
//! [`gromox_runtime::Session`]: bytes in, replies out, message data streamed into the spool.
//!
//! Framing: commands are lines of at most 512 octets (RFC 5321 §4.5.3.1.4); longer ones are
//! answered `500 5.5.2` and discarded. DATA is read line by line (at most 1000 octets per line
//! are buffered, RFC 5321 §4.5.3.1.6), dot-unstuffed (§4.5.2) and written to the spool file as
//! it arrives; BDAT chunks (RFC 3030) are copied through. Nothing of a message is held in
//! memory beyond one line or one read buffer.

use std::net::SocketAddr;
use std::sync::Arc;

use gromox_runtime::{ConnInfo, Cx, Next, Protocol, Session};
use slog::Logger;

use crate::command::{parse_command, Body, Command, MailParams, MAX_COMMAND_LINE, MAX_TEXT_LINE};
use crate::queue::{resolution_reply, Backend, Queue};
use crate::received::{received_header, with_keyword, Trace};
use crate::reply::Reply;
use crate::spool::{unix_now, Envelope, Spool, SpoolWriter};

/// Which greeting commands are served (`command_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// LHLO only.
    Lmtp,
    /// EHLO/HELO only.
    Smtp,
    /// Any.
    Both,
}

/// Protocol settings from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Our host name (greeting, Received:).
    pub hostname: String,
    /// `mail_max_length`.
    pub max_message: u64,
    /// `lda_max_rcpt`.
    pub max_rcpt: usize,
    /// `lda_max_errors`: close after this many refused commands.
    pub max_errors: u32,
    /// `command_protocol`.
    pub dialect: Dialect,
    /// STARTTLS offered (TLS configured and `lda_support_starttls`).
    pub starttls: bool,
    /// `lda_force_starttls`: MAIL refused before STARTTLS.
    pub force_starttls: bool,
    /// `lda_support_pipeline`: advertise PIPELINING.
    pub pipelining: bool,
    /// `lda_delivery_timeout`: longest wait for the mailbox copies before the LMTP replies.
    pub delivery_timeout: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            hostname: "localhost".into(),
            max_message: 64 << 20,
            max_rcpt: 100,
            max_errors: 10,
            dialect: Dialect::Both,
            starttls: false,
            force_starttls: false,
            pipelining: true,
            delivery_timeout: std::time::Duration::from_secs(300),
        }
    }
}

/// Everything sessions share.
pub struct Shared {
    /// Settings.
    pub settings: Settings,
    /// The spool.
    pub spool: Arc<Spool>,
    /// Delivery workers.
    pub queue: Arc<Queue>,
    /// Resolver and deliverer.
    pub backend: Backend,
    /// Logger.
    pub log: Logger,
    /// Per-command counters and latencies (the server's registry, for httpd's `/metrics`).
    pub metrics: Arc<gromox_runtime::Registry>,
}

/// Command names counted in the metrics (anything else is `other`).
const COMMANDS: &[&str] = &[
    "LHLO", "EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "HELP", "STARTTLS",
];

/// The class of the first reply written (`2xx`, `3xx`, `4xx`, `5xx`; `none` when nothing was
/// written yet, e.g. a pipelined command answered later).
fn reply_class(out: &[u8]) -> &'static str {
    match out.first() {
        Some(b'2') => "2xx",
        Some(b'3') => "3xx",
        Some(b'4') => "4xx",
        Some(b'5') => "5xx",
        _ => "none",
    }
}

/// The LMTP protocol for the runtime.
pub struct LmtpProtocol {
    shared: Arc<Shared>,
    busy: Vec<u8>,
}

impl LmtpProtocol {
    /// A protocol over `shared`.
    pub fn new(shared: Arc<Shared>) -> LmtpProtocol {
        let busy = format!(
            "421 4.3.2 {} too many connections, try again later\r\n",
            shared.settings.hostname
        )
        .into_bytes();
        LmtpProtocol { shared, busy }
    }
}

impl Protocol for LmtpProtocol {
    type Session = LmtpSession;

    fn accept(&self, info: &ConnInfo) -> LmtpSession {
        LmtpSession::new(self.shared.clone(), info.peer)
    }

    fn busy_reply(&self) -> &[u8] {
        &self.busy
    }
}

struct Txn {
    from: String,
    params: MailParams,
    rcpts: Vec<String>,
}

/// Message data being received (DATA or a BDAT series).
struct Incoming {
    writer: Option<SpoolWriter>,
    at_line_start: bool,
    too_long: bool,
    too_big: bool,
    io_error: Option<String>,
}

enum Mode {
    Commands,
    /// Discarding the rest of an overlong command line.
    DiscardLine,
    Data,
    /// Reading a BDAT chunk: its size, octets left, LAST, and whether it is thrown away.
    Bdat {
        size: u64,
        left: u64,
        last: bool,
        discard: bool,
    },
}

/// One connection.
pub struct LmtpSession {
    shared: Arc<Shared>,
    peer: SocketAddr,
    helo: Option<String>,
    lmtp: bool,
    extended: bool,
    tls: bool,
    txn: Option<Txn>,
    incoming: Option<Incoming>,
    /// A BDAT series failed: later chunks are read and refused until RSET/MAIL.
    bdat_failed: bool,
    mode: Mode,
    errors: u32,
}

enum Flow {
    Go,
    Stop(Next),
}

impl LmtpSession {
    /// A session for a client at `peer`.
    pub fn new(shared: Arc<Shared>, peer: SocketAddr) -> LmtpSession {
        LmtpSession {
            shared,
            peer,
            helo: None,
            lmtp: true,
            extended: false,
            tls: false,
            txn: None,
            incoming: None,
            bdat_failed: false,
            mode: Mode::Commands,
            errors: 0,
        }
    }

    fn s(&self) -> &Settings {
        &self.shared.settings
    }

    fn reset(&mut self) {
        self.txn = None;
        self.incoming = None;
        self.bdat_failed = false;
    }

    fn error(&mut self, r: Reply, out: &mut Vec<u8>) -> Flow {
        r.write_to(out);
        self.errors += 1;
        if self.errors >= self.s().max_errors {
            Reply::new(
                421,
                "4.7.0",
                format!("{} too many errors, closing connection", self.s().hostname),
            )
            .write_to(out);
            slog::info!(self.shared.log, "too many errors"; "event" => "lmtp.too_many_errors", "peer" => self.peer.to_string());
            return Flow::Stop(Next::Close);
        }
        Flow::Go
    }

    fn capabilities(&self, out: &mut Vec<u8>) {
        let s = self.s();
        let mut lines = vec![s.hostname.clone()];
        if s.pipelining {
            lines.push("PIPELINING".into());
        }
        lines.push(format!("SIZE {}", s.max_message));
        lines.push("8BITMIME".into());
        lines.push("ENHANCEDSTATUSCODES".into());
        if s.starttls && !self.tls {
            lines.push("STARTTLS".into());
        }
        lines.push("SMTPUTF8".into());
        lines.push("CHUNKING".into());
        lines.push("HELP".into());
        let n = lines.len();
        for (i, l) in lines.into_iter().enumerate() {
            out.extend_from_slice(format!("250{}{l}\r\n", if i + 1 == n { ' ' } else { '-' }).as_bytes());
        }
    }

    fn command(&mut self, line: &[u8], cx: &mut Cx<'_>) -> Flow {
        let cmd = match parse_command(line) {
            Ok(c) => c,
            Err(r) => return self.error(r, cx.out),
        };
        let host = self.s().hostname.clone();
        let is_ehlo = matches!(cmd, Command::Ehlo(_));
        match cmd {
            Command::Lhlo(h) => {
                if self.s().dialect == Dialect::Smtp {
                    return self.error(Reply::new(500, "5.5.1", "LHLO is not accepted here, use EHLO"), cx.out);
                }
                self.reset();
                self.helo = Some(h);
                self.lmtp = true;
                self.extended = true;
                self.capabilities(cx.out);
            }
            Command::Ehlo(h) | Command::Helo(h) => {
                if self.s().dialect == Dialect::Lmtp {
                    return self.error(Reply::new(500, "5.5.1", "this is an LMTP server, use LHLO"), cx.out);
                }
                let ext = is_ehlo;
                self.reset();
                self.helo = Some(h);
                self.lmtp = false;
                self.extended = ext;
                if ext {
                    self.capabilities(cx.out);
                } else {
                    cx.out.extend_from_slice(format!("250 {host}\r\n").as_bytes());
                }
            }
            Command::Mail { from, params } => {
                if self.helo.is_none() {
                    return self.error(Reply::new(503, "5.5.1", "say LHLO first"), cx.out);
                }
                if self.txn.is_some() {
                    return self.error(Reply::new(503, "5.5.1", "nested MAIL command"), cx.out);
                }
                if self.s().force_starttls && !self.tls {
                    return self.error(Reply::new(530, "5.7.0", "must issue a STARTTLS command first"), cx.out);
                }
                if params.size.is_some_and(|n| n > self.s().max_message) {
                    return self.error(
                        Reply::new(552, "5.3.4", "message size exceeds fixed maximum message size"),
                        cx.out,
                    );
                }
                if !from.is_ascii() && !params.smtputf8 {
                    return self.error(Reply::new(553, "5.6.7", "non-ASCII address requires SMTPUTF8"), cx.out);
                }
                self.bdat_failed = false;
                self.incoming = None;
                self.txn = Some(Txn {
                    from,
                    params,
                    rcpts: Vec::new(),
                });
                Reply::new(250, "2.1.0", "sender OK").write_to(cx.out);
            }
            Command::Rcpt { to } => {
                let max = self.s().max_rcpt;
                let Some(txn) = &self.txn else {
                    return self.error(Reply::new(503, "5.5.1", "need MAIL before RCPT"), cx.out);
                };
                if txn.rcpts.len() >= max {
                    Reply::new(452, "4.5.3", "too many recipients").write_to(cx.out);
                    return Flow::Go;
                }
                if !to.is_ascii() && !txn.params.smtputf8 {
                    return self.error(Reply::new(553, "5.6.7", "non-ASCII address requires SMTPUTF8"), cx.out);
                }
                let r = self.shared.backend.resolver.resolve_for(&to, &txn.from);
                if let Some(reply) = resolution_reply(&to, &r) {
                    slog::info!(self.shared.log, "recipient refused"; "event" => "lmtp.rcpt_refused",
                        "peer" => self.peer.to_string(), "rcpt" => gromox_base::log::sanitize(&to), "reply" => reply.to_string());
                    if reply.code >= 500 {
                        return self.error(reply, cx.out);
                    }
                    reply.write_to(cx.out);
                    return Flow::Go;
                }
                if let Some(txn) = &mut self.txn {
                    txn.rcpts.push(to);
                }
                Reply::new(250, "2.1.5", "recipient OK").write_to(cx.out);
            }
            Command::Data => {
                let Some(txn) = &self.txn else {
                    return self.error(Reply::new(503, "5.5.1", "need MAIL and RCPT before DATA"), cx.out);
                };
                if txn.rcpts.is_empty() {
                    return self.error(Reply::new(554, "5.5.1", "no valid recipients"), cx.out);
                }
                if self.incoming.is_some() || self.bdat_failed {
                    return self.error(Reply::new(503, "5.5.1", "DATA cannot follow BDAT"), cx.out);
                }
                match self.open_incoming() {
                    Ok(()) => {
                        Reply::new(354, "2.0.0", "end data with <CR><LF>.<CR><LF>").write_to(cx.out);
                        self.mode = Mode::Data;
                    }
                    Err(r) => r.write_to(cx.out),
                }
            }
            Command::Bdat { size, last } => {
                let ready = self.txn.as_ref().is_some_and(|t| !t.rcpts.is_empty()) && !self.bdat_failed;
                let mut discard = !ready;
                if ready && self.incoming.is_none() {
                    if let Err(r) = self.open_incoming() {
                        // Read and refuse this chunk; the transaction has failed.
                        self.bdat_failed = true;
                        self.incoming = None;
                        discard = true;
                        slog::error!(self.shared.log, "spool unavailable"; "event" => "lmtp.spool_error", "reply" => r.to_string());
                    }
                }
                self.mode = Mode::Bdat {
                    size,
                    left: size,
                    last,
                    discard,
                };
            }
            Command::Rset => {
                self.reset();
                Reply::new(250, "2.0.0", "OK").write_to(cx.out);
            }
            Command::Noop => Reply::new(250, "2.0.0", "OK").write_to(cx.out),
            Command::Quit => {
                Reply::new(221, "2.0.0", format!("{host} closing connection")).write_to(cx.out);
                return Flow::Stop(Next::Close);
            }
            Command::Help => Reply::new(
                214,
                "2.0.0",
                "commands: LHLO EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS",
            )
            .write_to(cx.out),
            Command::Vrfy => Reply::new(
                252,
                "2.5.0",
                "cannot VRFY user, but will accept message and attempt delivery",
            )
            .write_to(cx.out),
            Command::Expn => return self.error(Reply::new(502, "5.5.1", "EXPN not supported"), cx.out),
            Command::StartTls => {
                if !self.s().starttls {
                    return self.error(Reply::new(502, "5.5.1", "STARTTLS not available"), cx.out);
                }
                if self.tls {
                    return self.error(Reply::new(503, "5.5.1", "TLS already active"), cx.out);
                }
                Reply::new(220, "2.0.0", "ready to start TLS").write_to(cx.out);
                // RFC 3207 §4.2: forget everything learnt before the handshake.
                self.reset();
                self.helo = None;
                return Flow::Stop(Next::StartTls);
            }
        }
        Flow::Go
    }

    fn open_incoming(&mut self) -> Result<(), Reply> {
        let Some(txn) = &self.txn else {
            return Err(Reply::new(503, "5.5.1", "no transaction"));
        };
        let env = Envelope {
            from: txn.from.clone(),
            rcpts: txn.rcpts.clone(),
            helo: self.helo.clone().unwrap_or_default(),
            peer: self.peer.ip().to_string(),
            time: unix_now(),
            lmtp: self.lmtp,
            body_8bit: txn.params.body == Body::EightBitMime,
            smtputf8: txn.params.smtputf8,
        };
        let mut w = self.shared.spool.create(&env).map_err(|e| {
            slog::error!(self.shared.log, "cannot create spool file"; "event" => "spool.create_failed", "error" => e.to_string());
            Reply::new(451, "4.3.0", "cannot create spool file")
        })?;
        let utf8 = txn.params.smtputf8;
        let single = (txn.rcpts.len() == 1).then(|| txn.rcpts[0].as_str());
        let header = received_header(&Trace {
            helo: &env.helo,
            peer_ip: &env.peer,
            by: &self.shared.settings.hostname,
            with: with_keyword(self.lmtp, self.extended, self.tls, utf8),
            id: w.id(),
            single_rcpt: single,
            time: env.time,
        });
        w.write(header.as_bytes())
            .map_err(|_| Reply::new(451, "4.3.0", "cannot write spool file"))?;
        self.incoming = Some(Incoming {
            writer: Some(w),
            at_line_start: true,
            too_long: false,
            too_big: false,
            io_error: None,
        });
        Ok(())
    }

    /// Write message bytes, enforcing the size limit.
    fn sink(inc: &mut Incoming, max: u64, data: &[u8]) {
        let Some(w) = &mut inc.writer else {
            return;
        };
        if w.len() + data.len() as u64 > max {
            inc.too_big = true;
            inc.writer = None;
            return;
        }
        if let Err(e) = w.write(data) {
            inc.io_error = Some(e.to_string());
            inc.writer = None;
        }
    }

    /// DATA: consume complete lines; `true` once the terminating dot line was read.
    fn data(&mut self, data: &[u8]) -> (usize, bool) {
        let max = self.s().max_message;
        let Some(inc) = &mut self.incoming else {
            return (0, true);
        };
        let mut pos = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line = &rest[..=i];
                    pos += i + 1;
                    if inc.at_line_start {
                        if line == b".\r\n" || line == b".\n" {
                            return (pos, true);
                        }
                        let body = if line[0] == b'.' { &line[1..] } else { line };
                        if body.len() > MAX_TEXT_LINE {
                            inc.too_long = true;
                        }
                        Self::sink(inc, max, body);
                    } else {
                        Self::sink(inc, max, line);
                    }
                    inc.at_line_start = true;
                }
                None => {
                    if rest.len() >= MAX_TEXT_LINE {
                        inc.too_long = true;
                        let body = if inc.at_line_start && rest[0] == b'.' {
                            &rest[1..]
                        } else {
                            rest
                        };
                        Self::sink(inc, max, body);
                        inc.at_line_start = false;
                        pos = data.len();
                    }
                    break;
                }
            }
        }
        (pos, false)
    }

    /// The end of the message: the final reply (one per recipient in LMTP).
    fn finish(&mut self, out: &mut Vec<u8>) {
        let txn = self.txn.take();
        let inc = self.incoming.take();
        let (Some(txn), Some(mut inc)) = (txn, inc) else {
            Reply::new(503, "5.5.1", "no transaction").write_to(out);
            return;
        };
        let n = if self.lmtp { txn.rcpts.len() } else { 1 };
        let refuse = |r: Reply, out: &mut Vec<u8>| {
            for _ in 0..n {
                r.write_to(out);
            }
        };
        if inc.too_long {
            return refuse(
                Reply::new(500, "5.5.2", "message has a line longer than 1000 octets"),
                out,
            );
        }
        if inc.too_big {
            return refuse(
                Reply::new(552, "5.3.4", "message size exceeds fixed maximum message size"),
                out,
            );
        }
        if let Some(e) = inc.io_error {
            slog::error!(self.shared.log, "spool write failed"; "event" => "spool.write_failed", "error" => e);
            return refuse(Reply::new(451, "4.3.0", "spool write error"), out);
        }
        let Some(w) = inc.writer.take() else {
            return refuse(Reply::new(451, "4.3.0", "spool write error"), out);
        };
        let id = w.id().to_string();
        let env = Envelope {
            from: txn.from,
            rcpts: txn.rcpts,
            helo: self.helo.clone().unwrap_or_default(),
            peer: self.peer.ip().to_string(),
            time: unix_now(),
            lmtp: self.lmtp,
            body_8bit: txn.params.body == Body::EightBitMime,
            smtputf8: txn.params.smtputf8,
        };
        slog::info!(self.shared.log, "message received"; "event" => "lmtp.received", "id" => &id,
            "peer" => self.peer.to_string(), "from" => gromox_base::log::sanitize(&env.from),
            "rcpts" => env.rcpts.len(), "size" => w.len());
        if self.lmtp {
            // LMTP: deliver now; each recipient's 250 follows its durable delivery.
            match w.finish_tmp() {
                Ok(msg) => {
                    let path = msg.path.clone();
                    for r in self.shared.queue.deliver_now(msg, env, self.s().delivery_timeout) {
                        r.write_to(out);
                    }
                    let _ = std::fs::remove_file(path);
                }
                Err(e) => {
                    slog::error!(self.shared.log, "spool write failed"; "event" => "spool.write_failed", "id" => &id, "error" => e.to_string());
                    refuse(Reply::new(451, "4.3.0", "spool write error"), out);
                }
            }
        } else {
            // SMTP: the durability point is the committed spool file.
            match w.commit(&self.shared.spool) {
                Ok(msg) => {
                    Reply::new(250, "2.0.0", format!("{} queued", msg.id)).write_to(out);
                    self.shared.queue.enqueue(msg.path);
                }
                Err(e) => {
                    slog::error!(self.shared.log, "spool commit failed"; "event" => "spool.commit_failed", "id" => &id, "error" => e.to_string());
                    Reply::new(451, "4.3.0", "cannot commit message to the spool").write_to(out);
                }
            }
        }
    }

    /// Process input; see [`Session::input`].
    fn run(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        self.tls = cx.tls_active;
        let mut pos = 0;
        loop {
            match self.mode {
                Mode::Commands => {
                    let rest = &data[pos..];
                    let Some(i) = rest.iter().position(|&b| b == b'\n') else {
                        if rest.len() >= MAX_COMMAND_LINE {
                            self.mode = Mode::DiscardLine;
                            if let Flow::Stop(n) = self.error(Reply::new(500, "5.5.2", "line too long"), cx.out) {
                                return (data.len(), n);
                            }
                            pos = data.len();
                        }
                        return (pos, Next::Read);
                    };
                    let mut line = &rest[..i];
                    pos += i + 1;
                    if line.last() == Some(&b'\r') {
                        line = &line[..line.len() - 1];
                    }
                    if line.len() + 2 > MAX_COMMAND_LINE {
                        if let Flow::Stop(n) = self.error(Reply::new(500, "5.5.2", "line too long"), cx.out) {
                            return (pos, n);
                        }
                        continue;
                    }
                    let (t, at) = (std::time::Instant::now(), cx.out.len());
                    let flow = self.command(line, cx);
                    self.shared.metrics.request(
                        gromox_runtime::metrics::word_label(line, COMMANDS),
                        reply_class(&cx.out[at..]),
                        t.elapsed(),
                    );
                    if let Flow::Stop(n) = flow {
                        return (pos, n);
                    }
                }
                Mode::DiscardLine => match data[pos..].iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        pos += i + 1;
                        self.mode = Mode::Commands;
                    }
                    None => return (data.len(), Next::Read),
                },
                Mode::Data => {
                    let (n, done) = self.data(&data[pos..]);
                    pos += n;
                    if !done {
                        return (pos, Next::Read);
                    }
                    self.mode = Mode::Commands;
                    self.finish(cx.out);
                }
                Mode::Bdat {
                    size,
                    left,
                    last,
                    discard,
                } => {
                    let take = (left.min((data.len() - pos) as u64)) as usize;
                    if !discard {
                        let max = self.s().max_message;
                        if let Some(inc) = &mut self.incoming {
                            Self::sink(inc, max, &data[pos..pos + take]);
                        }
                    }
                    pos += take;
                    let left = left - take as u64;
                    if left > 0 {
                        self.mode = Mode::Bdat {
                            size,
                            left,
                            last,
                            discard,
                        };
                        return (pos, Next::Read);
                    }
                    self.mode = Mode::Commands;
                    if discard {
                        let r = if self.bdat_failed {
                            Reply::new(451, "4.3.0", "transaction failed, chunk discarded")
                        } else if self.txn.is_none() {
                            Reply::new(503, "5.5.1", "need MAIL and RCPT before BDAT")
                        } else {
                            Reply::new(554, "5.5.1", "no valid recipients")
                        };
                        if let Flow::Stop(n) = self.error(r, cx.out) {
                            return (pos, n);
                        }
                    } else if last {
                        self.finish(cx.out);
                    } else {
                        let failed = self.incoming.as_ref().map(|i| i.too_big || i.io_error.is_some());
                        match failed {
                            Some(true) => {
                                let big = self.incoming.as_ref().is_some_and(|i| i.too_big);
                                self.bdat_failed = true;
                                self.txn = None;
                                self.incoming = None;
                                if big {
                                    Reply::new(552, "5.3.4", "message size exceeds fixed maximum message size")
                                        .write_to(cx.out);
                                } else {
                                    Reply::new(451, "4.3.0", "spool write error").write_to(cx.out);
                                }
                            }
                            _ => {
                                Reply::new(250, "2.0.0", format!("{size} octets received")).write_to(cx.out);
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Session for LmtpSession {
    fn connected(&mut self, cx: &mut Cx<'_>) -> Next {
        self.tls = cx.tls_active;
        let s = self.s();
        let what = match s.dialect {
            Dialect::Smtp => "ESMTP",
            _ => "LMTP",
        };
        cx.out
            .extend_from_slice(format!("220 {} {what} service ready\r\n", s.hostname).as_bytes());
        Next::Read
    }

    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        self.run(data, cx)
    }

    fn timed_out(&mut self, cx: &mut Cx<'_>) -> Next {
        Reply::new(
            421,
            "4.4.2",
            format!("{} idle timeout, closing connection", self.s().hostname),
        )
        .write_to(cx.out);
        Next::Close
    }
}

#[cfg(test)]
mod tests {
    //! Golden tests: request bytes in (fed in arbitrary pieces), reply bytes out.
    use super::*;
    use crate::deliver::FileDrop;
    use crate::queue::RetryPolicy;
    use gromox_runtime::ConnHandle;

    struct T {
        s: LmtpSession,
        buf: Vec<u8>,
        info: ConnInfo,
        tls: bool,
        _dir: tempfile::TempDir,
        drop: std::path::PathBuf,
    }

    fn t(settings: Settings) -> T {
        let dir = tempfile::tempdir().unwrap();
        let drop = dir.path().join("drop");
        for u in ["alice@example.org", "bob@example.org"] {
            std::fs::create_dir_all(drop.join(u)).unwrap();
        }
        let spool = Arc::new(Spool::open(dir.path()).unwrap());
        let fd = Arc::new(FileDrop::new(&drop).unwrap());
        let backend = Backend {
            resolver: fd.clone(),
            deliverer: fd,
            relay: None,
        };
        let log = gromox_base::log::discard();
        let policy = RetryPolicy {
            min: Duration::from_secs(60),
            max: Duration::from_secs(60),
            max_age: Duration::from_secs(60),
        };
        let queue = Arc::new(
            Queue::start(
                2,
                backend.clone(),
                spool.clone(),
                policy,
                "localhost".into(),
                log.clone(),
            )
            .unwrap(),
        );
        let shared = Arc::new(Shared {
            settings,
            spool,
            queue,
            backend,
            log,
            metrics: Default::default(),
        });
        let peer: SocketAddr = ([192, 0, 2, 1], 4000).into();
        let mut me = T {
            s: LmtpSession::new(shared, peer),
            buf: Vec::new(),
            info: ConnInfo {
                id: 1,
                peer,
                local: peer,
                implicit_tls: false,
                listener: "lda_listen",
            },
            tls: false,
            _dir: dir,
            drop,
        };
        let (out, _) = me.call(|s, cx| (0, s.connected(cx)));
        assert_eq!(out, "220 localhost LMTP service ready\r\n");
        me
    }

    use std::time::Duration;

    impl T {
        fn call(&mut self, f: impl FnOnce(&mut LmtpSession, &mut Cx<'_>) -> (usize, Next)) -> (String, Next) {
            let mut out = Vec::new();
            let mut cx = Cx {
                out: &mut out,
                info: &self.info,
                tls_active: self.tls,
                idle_timeout: None,
                handle: ConnHandle::detached(),
            };
            let (_, next) = f(&mut self.s, &mut cx);
            (String::from_utf8(out).unwrap(), next)
        }

        /// Feed `data` in pieces of `step` bytes, as the runtime would (unconsumed input kept).
        fn feed(&mut self, data: &[u8], step: usize) -> (String, Next) {
            let mut all = String::new();
            let mut next = Next::Read;
            for piece in data.chunks(step.max(1)) {
                self.buf.extend_from_slice(piece);
                let buf = std::mem::take(&mut self.buf);
                let mut consumed = 0;
                let (out, n) = self.call(|s, cx| {
                    let (c, n) = s.input(&buf, cx);
                    consumed = c;
                    (c, n)
                });
                self.buf = buf[consumed..].to_vec();
                all.push_str(&out);
                next = n;
                if n != Next::Read {
                    break;
                }
            }
            (all, next)
        }

        fn delivered(&self, who: &str) -> Vec<Vec<u8>> {
            let mut v: Vec<Vec<u8>> = std::fs::read_dir(self.drop.join(who).join("new"))
                .map(|rd| rd.flatten().map(|e| std::fs::read(e.path()).unwrap()).collect())
                .unwrap_or_default();
            v.sort();
            v
        }
    }

    const CAPS: &str = "250-localhost\r\n250-PIPELINING\r\n250-SIZE 67108864\r\n250-8BITMIME\r\n\
                        250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250 HELP\r\n";

    #[test]
    fn pipelined_transaction_byte_by_byte() {
        for step in [1, 7, 4096] {
            let mut t = t(Settings::default());
            let (out, next) = t.feed(
                b"LHLO mx\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\n\
                  RCPT TO:<bob@example.org>\r\nDATA\r\nSubject: s\r\n\r\n..one\r\n...\r\nlast\n.\nNOOP\r\n",
                step,
            );
            assert_eq!(next, Next::Read);
            assert_eq!(
                out,
                format!(
                    "{CAPS}250 2.1.0 sender OK\r\n250 2.1.5 recipient OK\r\n550 5.1.1 <nobody@example.org> no such user\r\n\
                     250 2.1.5 recipient OK\r\n354 2.0.0 end data with <CR><LF>.<CR><LF>\r\n\
                     250 2.1.5 <alice@example.org> delivered\r\n250 2.1.5 <bob@example.org> delivered\r\n250 2.0.0 OK\r\n"
                )
            );
            let a = t.delivered("alice@example.org");
            assert_eq!(a.len(), 1);
            let text = String::from_utf8(a[0].clone()).unwrap();
            assert!(text.starts_with("Return-Path: <a@example.org>\r\nDelivered-To: alice@example.org\r\nReceived: from mx ([192.0.2.1])\r\n\tby localhost with LMTP id "), "{text}");
            assert!(text.ends_with("\r\nSubject: s\r\n\r\n.one\r\n..\r\nlast\n"), "{text}");
            assert_eq!(t.delivered("bob@example.org").len(), 1);
        }
    }

    #[test]
    fn bdat_chunks_split_anywhere() {
        let mut t = t(Settings::default());
        let (out, _) = t.feed(
            b"LHLO mx\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nBDAT 6\r\n.a\r\nb\rBDAT 0\r\nBDAT 3 LAST\r\n\nc\nRSET\r\n",
            3,
        );
        assert_eq!(
            out,
            format!(
                "{CAPS}250 2.1.0 sender OK\r\n250 2.1.5 recipient OK\r\n250 2.0.0 6 octets received\r\n\
                 250 2.0.0 0 octets received\r\n250 2.1.5 <bob@example.org> delivered\r\n250 2.0.0 OK\r\n"
            )
        );
        assert!(t.delivered("bob@example.org")[0].ends_with(b"+0000\r\n.a\r\nb\r\nc\n"));
    }

    #[test]
    fn overlong_command_line_is_refused_once_and_the_session_goes_on() {
        let mut t = t(Settings::default());
        let mut data = b"NOOP ".to_vec();
        data.extend(std::iter::repeat_n(b'x', 2000));
        data.extend_from_slice(b"\r\nNOOP\r\n");
        let (out, _) = t.feed(&data, 100);
        assert_eq!(out, "500 5.5.2 line too long\r\n250 2.0.0 OK\r\n");
        // Exactly at the limit: 510 octets + CRLF is fine, 511 is not.
        let ok = format!("NOOP {}\r\n", "y".repeat(505));
        assert_eq!(t.feed(ok.as_bytes(), 4096).0, "250 2.0.0 OK\r\n");
        let bad = format!("NOOP {}\r\n", "y".repeat(506));
        assert_eq!(t.feed(bad.as_bytes(), 4096).0, "500 5.5.2 line too long\r\n");
    }

    #[test]
    fn recipient_limit_and_sequence_errors() {
        let mut t = t(Settings {
            max_rcpt: 1,
            ..Settings::default()
        });
        let (out, _) = t.feed(
            b"MAIL FROM:<a@example.org>\r\nLHLO mx\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nMAIL FROM:<a@example.org>\r\n\
              MAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<alice@example.org>\r\nQUIT\r\nNOOP\r\n",
            4096,
        );
        assert_eq!(
            out,
            format!(
                "503 5.5.1 say LHLO first\r\n{CAPS}503 5.5.1 need MAIL before RCPT\r\n503 5.5.1 need MAIL and RCPT before DATA\r\n\
                 250 2.1.0 sender OK\r\n503 5.5.1 nested MAIL command\r\n250 2.1.5 recipient OK\r\n\
                 452 4.5.3 too many recipients\r\n221 2.0.0 localhost closing connection\r\n"
            )
        );
    }

    #[test]
    fn starttls_when_configured_resets_the_session() {
        let mut t = t(Settings {
            starttls: true,
            ..Settings::default()
        });
        let (out, next) = t.feed(b"LHLO mx\r\nMAIL FROM:<a@example.org>\r\nSTARTTLS\r\nNOOP\r\n", 4096);
        assert_eq!(next, Next::StartTls);
        assert!(out.contains("250-STARTTLS\r\n"), "{out}");
        assert!(
            out.ends_with("250 2.1.0 sender OK\r\n220 2.0.0 ready to start TLS\r\n"),
            "{out}"
        );
        t.buf.clear(); // the runtime discards plaintext after STARTTLS
        t.tls = true;
        let (out, _) = t.feed(b"MAIL FROM:<a@example.org>\r\nLHLO mx\r\nSTARTTLS\r\n", 4096);
        assert!(out.starts_with("503 5.5.1 say LHLO first\r\n"), "{out}");
        assert!(!out.contains("STARTTLS"), "{out}");
        assert!(out.ends_with("503 5.5.1 TLS already active\r\n"), "{out}");
        // Without TLS configured, STARTTLS is neither advertised nor accepted.
        let mut t2 = self::t(Settings::default());
        assert_eq!(t2.feed(b"STARTTLS\r\n", 4096).0, "502 5.5.1 STARTTLS not available\r\n");
    }

    #[test]
    fn oversized_data_is_read_and_refused() {
        let mut t = t(Settings {
            max_message: 1000,
            ..Settings::default()
        });
        let mut data = b"LHLO mx\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n".to_vec();
        for _ in 0..100 {
            data.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
        }
        data.extend_from_slice(b".\r\nNOOP\r\n");
        let (out, _) = t.feed(&data, 333);
        assert!(out.ends_with("354 2.0.0 end data with <CR><LF>.<CR><LF>\r\n552 5.3.4 message size exceeds fixed maximum message size\r\n250 2.0.0 OK\r\n"), "{out}");
        assert!(t.delivered("bob@example.org").is_empty());
    }
}
