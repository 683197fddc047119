//! The POP3 session (RFC 1939 §3–§6) as a sans-I/O `gromox_runtime::Session`.
//!
//! States: AUTHORIZATION (USER/PASS, AUTH PLAIN/LOGIN per RFC 5034, STLS per RFC 2595, CAPA
//! per RFC 2449), TRANSACTION on a [`Snapshot`] of the INBOX taken at login, UPDATE at QUIT:
//! the messages marked with DELE are removed in one [`Maildrop::remove`] call. A connection
//! that ends any other way (dropped, timed out) removes nothing.
//!
//! Exclusive access (RFC 1939 §8): one session per maildrop in the transaction state; a second
//! login is refused with `-ERR [IN-USE]` (RFC 2449 §8.1.2) and may retry once the first ends.
//!
//! Response codes (RFC 2449 §8, RFC 3206): `[AUTH]` on every credential or permission failure
//! (AUTH-RESP-CODE), `[SYS/TEMP]` when the directory or store is unavailable, `[IN-USE]`.
//!
//! Large responses (LIST, UIDL of 50,000 messages, RETR of a big message) are written in
//! bounded chunks with [`Next::Write`] back-pressure, never built whole.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use gromox_runtime::line::{Frame, LineFramer};
use gromox_runtime::{ConnInfo, Cx, Next, Protocol, Session};
use slog::Logger;

use crate::caps::{capa_response, CapState};
use crate::command::{self, Command};
use crate::error::{LoginError, ParseError};
use crate::maildrop::{Account, Accounts, LockGuard, Locks, Maildrop, Snapshot};

/// Longest line accepted: commands are at most 255 octets (RFC 2449 §4), SASL responses
/// (base64 of a user name and password) need more. Longer lines get `-ERR` and are skipped.
pub const LINE_MAX: usize = 2048;
/// Output written per call before yielding to the runtime (back-pressure for big responses).
const OUT_CHUNK: usize = 256 * 1024;
/// Listing lines written per call.
const LIST_CHUNK: usize = 4096;

/// Session settings (see [`crate::config`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Refuse USER/PASS/AUTH before TLS.
    pub force_tls: bool,
    /// A certificate is configured (STLS offered).
    pub tls_configured: bool,
    /// Failed logins after which the connection is closed.
    pub auth_max_failures: u32,
    /// Protocol errors (unknown commands, bad arguments, long lines) after which the
    /// connection is closed.
    pub max_errors: u32,
    /// Idle timeout in the transaction state (RFC 1939 §3: at least 10 minutes).
    pub autologout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            force_tls: false,
            tls_configured: false,
            auth_max_failures: 3,
            max_errors: 20,
            autologout: Duration::from_secs(600),
        }
    }
}

/// Everything sessions share.
pub struct Shared {
    /// Settings.
    pub settings: Settings,
    /// Login.
    pub accounts: Arc<dyn Accounts>,
    /// The mail.
    pub maildrop: Arc<dyn Maildrop>,
    /// Maildrop locks.
    pub locks: Locks,
    /// Logger.
    pub log: Logger,
    /// Per-command counters and latencies, failed logins (the server's registry, exported for
    /// httpd's `/metrics`).
    pub metrics: Arc<gromox_runtime::Registry>,
}

/// The protocol for the runtime.
pub struct Pop3Protocol {
    shared: Arc<Shared>,
}

impl Pop3Protocol {
    /// A protocol over `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Pop3Protocol { shared }
    }
}

impl Protocol for Pop3Protocol {
    type Session = Pop3Session;

    fn accept(&self, info: &ConnInfo) -> Pop3Session {
        Pop3Session::new(self.shared.clone(), info.peer)
    }

    fn busy_reply(&self) -> &[u8] {
        b"-ERR [SYS/TEMP] too many connections, try again later\r\n"
    }
}

/// A SASL exchange in progress.
#[derive(Debug)]
enum Sasl {
    Plain,
    LoginUser,
    LoginPass(String),
}

struct Trans {
    account: Account,
    _lock: LockGuard,
    snap: Snapshot,
    deleted: Vec<bool>,
    n_deleted: usize,
    size_deleted: u64,
    size_total: u64,
}

impl Trans {
    /// The message `n` (1-based) unless missing or deleted, with the error text otherwise.
    fn msg(&self, n: u32) -> Result<usize, String> {
        let i = (n as usize).wrapping_sub(1);
        if i >= self.snap.messages.len() {
            return Err(format!(
                "-ERR no such message, only {} in maildrop\r\n",
                self.snap.messages.len()
            ));
        }
        if self.deleted[i] {
            return Err(format!("-ERR message {n} already deleted\r\n"));
        }
        Ok(i)
    }

    fn count(&self) -> (usize, u64) {
        (
            self.snap.messages.len() - self.n_deleted,
            self.size_total - self.size_deleted,
        )
    }

    fn uidl(&self, i: usize) -> String {
        uidl(self.snap.uidvalidity, self.snap.messages[i].uid)
    }
}

/// The unique-id of a message (RFC 1939 §7): `<UIDVALIDITY>.<UID>` of the IMAP INBOX, in
/// decimal — printable ASCII, at most 21 characters, stable across sessions as long as the
/// IMAP UIDs are, and changing exactly when IMAP clients would have to resynchronise too.
pub fn uidl(uidvalidity: u32, uid: u32) -> String {
    format!("{uidvalidity}.{uid}")
}

enum State {
    Auth { user: Option<String>, sasl: Option<Sasl> },
    Trans(Box<Trans>),
}

/// A big response being written.
enum Job {
    /// LIST or UIDL without argument: next message index.
    Listing { next: usize, uidl: bool },
    /// RETR/TOP: dot-stuffed bytes of `data[pos..end]`.
    Body {
        data: Vec<u8>,
        pos: usize,
        end: usize,
        bol: bool,
    },
}

/// One POP3 connection.
pub struct Pop3Session {
    shared: Arc<Shared>,
    peer: SocketAddr,
    framer: LineFramer<LINE_MAX>,
    state: State,
    job: Option<Job>,
    auth_failures: u32,
    errors: u32,
}

fn ok(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+OK");
    if !text.is_empty() {
        out.push(b' ');
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

fn err(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"-ERR ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Write `data[*pos..end]` dot-stuffed (RFC 1939 §3: a line starting with `.` gets another
/// `.`), at most about `budget` bytes; `bol` says whether `*pos` is at a line start.
pub fn stuff(data: &[u8], pos: &mut usize, end: usize, bol: &mut bool, out: &mut Vec<u8>, budget: usize) {
    let start_len = out.len();
    while *pos < end && out.len() - start_len < budget {
        let rest = &data[*pos..end];
        let nl = rest.iter().position(|&b| b == b'\n');
        let seg = nl.map_or(rest.len(), |i| i + 1);
        if *bol && rest[0] == b'.' {
            out.push(b'.');
        }
        out.extend_from_slice(&rest[..seg]);
        *bol = nl.is_some();
        *pos += seg;
    }
}

/// Where TOP with `n` body lines ends (RFC 1939 §7): the header, the blank line, then `n`
/// lines of the body. A message without a blank line is all header.
pub fn top_cut(msg: &[u8], n: u32) -> usize {
    let mut pos = 0;
    let mut in_header = true;
    let mut left = n;
    while pos < msg.len() {
        if !in_header {
            if left == 0 {
                break;
            }
            left -= 1;
        }
        let e = msg[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(msg.len(), |i| pos + i + 1);
        if in_header && (&msg[pos..e] == b"\r\n" || &msg[pos..e] == b"\n") {
            in_header = false;
        }
        pos = e;
    }
    pos
}

impl Pop3Session {
    /// A session for a client at `peer`.
    pub fn new(shared: Arc<Shared>, peer: SocketAddr) -> Self {
        Pop3Session {
            shared,
            peer,
            framer: LineFramer::default(),
            state: State::Auth { user: None, sasl: None },
            job: None,
            auth_failures: 0,
            errors: 0,
        }
    }

    fn caps(&self, cx: &Cx<'_>) -> CapState {
        CapState {
            authenticated: matches!(self.state, State::Trans(_)),
            tls_active: cx.tls_active,
            tls_configured: self.shared.settings.tls_configured,
            force_tls: self.shared.settings.force_tls,
        }
    }

    /// Count a protocol error; `true` when the connection must close.
    fn error(&mut self, cx: &mut Cx<'_>) -> bool {
        self.errors += 1;
        if self.errors >= self.shared.settings.max_errors {
            err(cx.out, "too many errors, closing connection");
            slog::info!(self.shared.log, "too many protocol errors"; "event" => "pop3.errors", "peer" => self.peer.to_string());
            return true;
        }
        false
    }

    fn line(&mut self, line: &[u8], cx: &mut Cx<'_>) -> Next {
        if let State::Auth { sasl: Some(_), .. } = &self.state {
            return self.sasl_step(line, cx);
        }
        let cmd = match command::parse(line) {
            Ok(c) => c,
            Err(e) => {
                self.shared.metrics.request("other", "ERR", Duration::ZERO);
                let text = match e {
                    ParseError::Empty | ParseError::Unknown => "unknown command".to_string(),
                    e => format!("bad arguments: {e}"),
                };
                err(cx.out, &text);
                return if self.error(cx) { Next::Close } else { Next::Read };
            }
        };
        let (name, t, at) = (cmd.name(), std::time::Instant::now(), cx.out.len());
        let next = match &self.state {
            State::Auth { .. } => self.auth_command(cmd, cx),
            State::Trans(_) => self.trans_command(cmd, cx),
        };
        let outcome = if cx.out[at..].starts_with(b"-ERR") { "ERR" } else { "OK" };
        self.shared.metrics.request(name, outcome, t.elapsed());
        next
    }

    fn auth_command(&mut self, cmd: Command<'_>, cx: &mut Cx<'_>) -> Next {
        let caps = self.caps(cx);
        let State::Auth { user, sasl } = &mut self.state else {
            return Next::Read; // only called in the authorization state
        };
        match cmd {
            Command::Capa => capa_response(caps, cx.out),
            Command::Quit => {
                ok(cx.out, "bye");
                return Next::Close;
            }
            Command::Noop => ok(cx.out, ""),
            Command::Stls => {
                if cx.tls_active {
                    err(cx.out, "TLS is already active");
                } else if !self.shared.settings.tls_configured {
                    err(cx.out, "STLS is not available");
                } else {
                    ok(cx.out, "begin TLS negotiation");
                    // RFC 2595 §4: everything learned before TLS is forgotten.
                    *user = None;
                    return Next::StartTls;
                }
            }
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } if !caps.login_allowed() => {
                err(cx.out, "[AUTH] TLS required: use STLS before logging in");
            }
            Command::User(name) => {
                *user = Some(name.to_string());
                ok(cx.out, "send your password");
            }
            Command::Pass(pw) => {
                let Some(name) = user.take() else {
                    err(cx.out, "send USER first");
                    return if self.error(cx) { Next::Close } else { Next::Read };
                };
                let pw = String::from_utf8_lossy(pw).into_owned();
                return self.login(&name, &pw, cx);
            }
            Command::Auth { mechanism: None, .. } => {
                cx.out
                    .extend_from_slice(b"+OK SASL mechanisms follow\r\nPLAIN\r\nLOGIN\r\n.\r\n");
            }
            Command::Auth {
                mechanism: Some(m),
                initial,
            } => match (m.as_str(), initial) {
                ("PLAIN", None) => {
                    *sasl = Some(Sasl::Plain);
                    cx.out.extend_from_slice(b"+ \r\n");
                }
                ("PLAIN", Some(ir)) => return self.sasl_plain(ir.as_bytes(), cx),
                ("LOGIN", None) => {
                    *sasl = Some(Sasl::LoginUser);
                    cx.out.extend_from_slice(b"+ VXNlcm5hbWU6\r\n");
                }
                ("LOGIN", Some(ir)) => match decode(ir.as_bytes()) {
                    Some(u) => {
                        *sasl = Some(Sasl::LoginPass(u));
                        cx.out.extend_from_slice(b"+ UGFzc3dvcmQ6\r\n");
                    }
                    None => {
                        err(cx.out, "malformed SASL response");
                        return if self.error(cx) { Next::Close } else { Next::Read };
                    }
                },
                _ => {
                    err(cx.out, "unsupported SASL mechanism (PLAIN and LOGIN are)");
                    return if self.error(cx) { Next::Close } else { Next::Read };
                }
            },
            Command::Stat
            | Command::List(_)
            | Command::Retr(_)
            | Command::Dele(_)
            | Command::Rset
            | Command::Top(..)
            | Command::Uidl(_) => {
                err(cx.out, "log in first");
                return if self.error(cx) { Next::Close } else { Next::Read };
            }
        }
        Next::Read
    }

    fn sasl_step(&mut self, line: &[u8], cx: &mut Cx<'_>) -> Next {
        let State::Auth { sasl, .. } = &mut self.state else {
            return Next::Read;
        };
        let Some(step) = sasl.take() else {
            return Next::Read;
        };
        if line == b"*" {
            // RFC 5034 §4: the client cancels the exchange.
            err(cx.out, "authentication cancelled");
            return Next::Read;
        }
        match step {
            Sasl::Plain => self.sasl_plain(line, cx),
            Sasl::LoginUser => match decode(line) {
                Some(u) => {
                    *sasl = Some(Sasl::LoginPass(u));
                    cx.out.extend_from_slice(b"+ UGFzc3dvcmQ6\r\n");
                    Next::Read
                }
                None => self.malformed(cx),
            },
            Sasl::LoginPass(user) => match decode(line) {
                Some(pw) => self.login(&user, &pw, cx),
                None => self.malformed(cx),
            },
        }
    }

    fn malformed(&mut self, cx: &mut Cx<'_>) -> Next {
        err(cx.out, "malformed SASL response");
        if self.error(cx) {
            Next::Close
        } else {
            Next::Read
        }
    }

    /// RFC 4616: `[authzid] NUL authcid NUL passwd`; an authzid other than the user names the
    /// mailbox to open, as `authcid!authzid` would.
    fn sasl_plain(&mut self, b64: &[u8], cx: &mut Cx<'_>) -> Next {
        let raw = if b64 == b"=" {
            Some(Vec::new())
        } else {
            base64::engine::general_purpose::STANDARD.decode(b64).ok()
        };
        let Some(raw) = raw else {
            return self.malformed(cx);
        };
        let parts: Vec<&[u8]> = raw.split(|&b| b == 0).collect();
        let [authz, authc, pw] = parts.as_slice() else {
            return self.malformed(cx);
        };
        let (Ok(authz), Ok(authc), Ok(pw)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(authc),
            std::str::from_utf8(pw),
        ) else {
            return self.malformed(cx);
        };
        let mut authc = authc.to_string();
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(&authc) {
            if authc.contains('!') || authz.contains('!') {
                err(cx.out, "[AUTH] use either an authorization identity or user!mailbox");
                return self.failed(cx);
            }
            authc = format!("{authc}!{authz}");
        }
        let pw = pw.to_string();
        self.login(&authc, &pw, cx)
    }

    /// Count a failed login; close after `auth_max_failures`.
    fn failed(&mut self, cx: &mut Cx<'_>) -> Next {
        self.shared.metrics.auth_failure();
        self.auth_failures += 1;
        if self.auth_failures >= self.shared.settings.auth_max_failures {
            err(cx.out, "[AUTH] too many failed logins, closing connection");
            return Next::Close;
        }
        Next::Read
    }

    fn login(&mut self, user: &str, pw: &str, cx: &mut Cx<'_>) -> Next {
        let account = match self.shared.accounts.login(user, pw, self.peer, "POP3 login") {
            Ok(a) => a,
            Err(LoginError::Temporary(e)) => {
                slog::warn!(self.shared.log, "login not possible"; "event" => "pop3.login_unavailable", "error" => e);
                err(cx.out, "[SYS/TEMP] the user directory is unavailable, try again later");
                return Next::Read;
            }
            Err(LoginError::NotPermitted) => {
                err(cx.out, "[AUTH] this account may not use POP3 or open that mailbox");
                return self.failed(cx);
            }
            Err(LoginError::BadCredentials | LoginError::RateLimited) => {
                err(cx.out, "[AUTH] authentication failed");
                return self.failed(cx);
            }
        };
        let Some(lock) = self.shared.locks.try_lock(&account.maildir) else {
            slog::info!(self.shared.log, "maildrop in use"; "event" => "pop3.in_use", "user" => account.user.clone());
            err(cx.out, "[IN-USE] another POP3 session is using this maildrop");
            return Next::Read;
        };
        let snap = match self.shared.maildrop.open(&account) {
            Ok(s) => s,
            Err(e) => {
                slog::error!(self.shared.log, "cannot open maildrop"; "event" => "pop3.open_failed", "user" => account.user.clone(), "error" => e.to_string());
                err(cx.out, "[SYS/TEMP] cannot open the maildrop, try again later");
                return Next::Read;
            }
        };
        let size_total = snap.messages.iter().map(|m| m.size).sum();
        let n = snap.messages.len();
        slog::info!(self.shared.log, "logged in"; "event" => "pop3.login", "user" => account.user.clone(), "peer" => self.peer.to_string(), "messages" => n);
        ok(cx.out, &format!("maildrop has {n} messages ({size_total} octets)"));
        self.state = State::Trans(Box::new(Trans {
            account,
            _lock: lock,
            deleted: vec![false; n],
            snap,
            n_deleted: 0,
            size_deleted: 0,
            size_total,
        }));
        cx.idle_timeout = Some(self.shared.settings.autologout);
        Next::Read
    }

    fn trans_command(&mut self, cmd: Command<'_>, cx: &mut Cx<'_>) -> Next {
        let caps = self.caps(cx);
        let State::Trans(t) = &mut self.state else {
            return Next::Read; // only called in the transaction state
        };
        let bad = match cmd {
            Command::Capa => {
                capa_response(caps, cx.out);
                false
            }
            Command::Noop => {
                ok(cx.out, "");
                false
            }
            Command::Stat => {
                let (n, s) = t.count();
                ok(cx.out, &format!("{n} {s}"));
                false
            }
            Command::List(Some(n)) | Command::Uidl(Some(n)) => match t.msg(n) {
                Ok(i) => {
                    let v = if matches!(cmd, Command::List(_)) {
                        t.snap.messages[i].size.to_string()
                    } else {
                        t.uidl(i)
                    };
                    ok(cx.out, &format!("{n} {v}"));
                    false
                }
                Err(e) => {
                    cx.out.extend_from_slice(e.as_bytes());
                    true
                }
            },
            Command::List(None) | Command::Uidl(None) => {
                let (n, s) = t.count();
                let uidl = matches!(cmd, Command::Uidl(_));
                if uidl {
                    ok(cx.out, "unique-id listing follows");
                } else {
                    ok(cx.out, &format!("{n} messages ({s} octets)"));
                }
                self.job = Some(Job::Listing { next: 0, uidl });
                return self.run_job(cx);
            }
            Command::Retr(n) | Command::Top(n, _) => {
                let i = match t.msg(n) {
                    Ok(i) => i,
                    Err(e) => {
                        cx.out.extend_from_slice(e.as_bytes());
                        return if self.error(cx) { Next::Close } else { Next::Read };
                    }
                };
                let mut data = Vec::with_capacity(t.snap.messages[i].size.min(64 << 20) as usize);
                match self.shared.maildrop.read(&t.account, t.snap.messages[i].uid, &mut data) {
                    Ok(true) => {}
                    Ok(false) => {
                        err(cx.out, &format!("message {n} is no longer available"));
                        return Next::Read;
                    }
                    Err(e) => {
                        slog::error!(self.shared.log, "cannot read message"; "event" => "pop3.read_failed", "user" => t.account.user.clone(), "uid" => t.snap.messages[i].uid, "error" => e.to_string());
                        err(cx.out, "[SYS/TEMP] cannot read the message, try again later");
                        return Next::Read;
                    }
                }
                let end = match cmd {
                    Command::Top(_, lines) => {
                        ok(cx.out, "top of message follows");
                        top_cut(&data, lines)
                    }
                    _ => {
                        ok(cx.out, &format!("{} octets", data.len()));
                        data.len()
                    }
                };
                self.job = Some(Job::Body {
                    data,
                    pos: 0,
                    end,
                    bol: true,
                });
                return self.run_job(cx);
            }
            Command::Dele(n) => match t.msg(n) {
                Ok(i) => {
                    t.deleted[i] = true;
                    t.n_deleted += 1;
                    t.size_deleted += t.snap.messages[i].size;
                    ok(cx.out, &format!("message {n} deleted"));
                    false
                }
                Err(e) => {
                    cx.out.extend_from_slice(e.as_bytes());
                    true
                }
            },
            Command::Rset => {
                t.deleted.iter_mut().for_each(|d| *d = false);
                t.n_deleted = 0;
                t.size_deleted = 0;
                let (n, s) = t.count();
                ok(cx.out, &format!("maildrop has {n} messages ({s} octets)"));
                false
            }
            Command::Quit => return self.update(cx),
            Command::Stls => {
                err(cx.out, "STLS is only allowed before login");
                true
            }
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } => {
                err(cx.out, "already logged in");
                true
            }
        };
        if bad && self.error(cx) {
            return Next::Close;
        }
        Next::Read
    }

    /// The UPDATE state (RFC 1939 §6): remove the deleted messages in one step.
    fn update(&mut self, cx: &mut Cx<'_>) -> Next {
        let State::Trans(t) = std::mem::replace(&mut self.state, State::Auth { user: None, sasl: None }) else {
            return Next::Close;
        };
        let uids: Vec<u32> = t
            .snap
            .messages
            .iter()
            .zip(&t.deleted)
            .filter(|(_, &d)| d)
            .map(|(m, _)| m.uid)
            .collect();
        if uids.is_empty() {
            ok(cx.out, "bye");
            return Next::Close;
        }
        match self.shared.maildrop.remove(&t.account, &uids) {
            Ok(removed) => {
                slog::info!(self.shared.log, "messages removed"; "event" => "pop3.update", "user" => t.account.user.clone(), "requested" => uids.len(), "removed" => removed.len());
                let (n, _) = t.count();
                ok(cx.out, &format!("bye, {} messages removed, {n} left", uids.len()));
            }
            Err(e) => {
                slog::error!(self.shared.log, "cannot remove messages"; "event" => "pop3.update_failed", "user" => t.account.user.clone(), "error" => e.to_string());
                err(cx.out, "[SYS/TEMP] deleted messages could not be removed");
            }
        }
        // The lock is released when `t` goes out of scope, after the removal.
        drop(t);
        Next::Close
    }

    /// Write the next chunk of the big response in progress.
    fn run_job(&mut self, cx: &mut Cx<'_>) -> Next {
        let Some(job) = &mut self.job else {
            return Next::Read;
        };
        let done = match job {
            Job::Listing { next, uidl } => {
                let State::Trans(t) = &self.state else {
                    self.job = None;
                    return Next::Read;
                };
                let stop = (*next + LIST_CHUNK).min(t.snap.messages.len());
                use std::io::Write;
                for i in *next..stop {
                    if t.deleted[i] {
                        continue;
                    }
                    let m = &t.snap.messages[i];
                    // Writing to a Vec cannot fail.
                    let _ = if *uidl {
                        write!(cx.out, "{} {}.{}\r\n", i + 1, t.snap.uidvalidity, m.uid)
                    } else {
                        write!(cx.out, "{} {}\r\n", i + 1, m.size)
                    };
                }
                *next = stop;
                if stop == t.snap.messages.len() {
                    cx.out.extend_from_slice(b".\r\n");
                    true
                } else {
                    false
                }
            }
            Job::Body { data, pos, end, bol } => {
                stuff(data, pos, *end, bol, cx.out, OUT_CHUNK);
                if *pos >= *end {
                    if !*bol {
                        cx.out.extend_from_slice(b"\r\n");
                    }
                    cx.out.extend_from_slice(b".\r\n");
                    true
                } else {
                    false
                }
            }
        };
        if done {
            self.job = None;
            Next::Read
        } else {
            Next::Write
        }
    }
}

fn decode(b64: &[u8]) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(raw).ok()
}

impl Session for Pop3Session {
    fn connected(&mut self, cx: &mut Cx<'_>) -> Next {
        ok(cx.out, "gromox-rs POP3 server ready");
        Next::Read
    }

    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        let mut used = 0;
        while self.job.is_none() {
            let (frame, n) = self.framer.next(&data[used..]);
            used += n;
            let next = match frame {
                None if n == 0 => break,
                None => continue,
                Some(Frame::TooLong) => {
                    err(cx.out, "line too long");
                    if self.error(cx) {
                        Next::Close
                    } else {
                        Next::Read
                    }
                }
                Some(Frame::Line(l)) => self.line(l, cx),
            };
            if next != Next::Read {
                return (used, next);
            }
        }
        (used, if self.job.is_some() { Next::Write } else { Next::Read })
    }

    fn writable(&mut self, cx: &mut Cx<'_>) -> Next {
        self.run_job(cx)
    }

    fn timed_out(&mut self, cx: &mut Cx<'_>) -> Next {
        err(cx.out, "autologout: idle for too long, closing connection");
        Next::Close
    }

    fn closed(&mut self) {
        if let State::Trans(t) = &self.state {
            if t.n_deleted > 0 {
                slog::info!(self.shared.log, "connection ended without QUIT; nothing removed"; "event" => "pop3.dropped", "user" => t.account.user.clone(), "discarded_deletions" => t.n_deleted);
            }
        }
        // Releases the maildrop lock.
        self.state = State::Auth { user: None, sasl: None };
        self.job = None;
    }
}
