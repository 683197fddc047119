//! The IMAP session state machine (RFC 9051 §3: not authenticated → authenticated →
//! selected → logout) as a [`gromox_runtime::Session`], over a [`MailStore`].
//!
//! One framed command is handled per [`Session::input`] call, so the runtime applies its
//! output back-pressure between commands. FETCH output is produced in batches: when the
//! output buffer passes [`Config::out_chunk`] the session returns [`Next::Write`] and
//! continues in [`Session::writable`], so a FETCH over a 250,000-message folder never holds
//! more than one batch of messages nor more than about one chunk of output.

use std::borrow::Cow;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gromox_runtime::{ConnInfo, Cx, Next, Protocol, Push, Session};
use slog::{debug, info, o, warn, Logger};

use crate::caps::{write_capabilities, CapState};
use crate::command::*;
use crate::compress::Deflate;
use crate::encode;
use crate::error::{ParseError, StoreError};
use crate::framer::{Frame, Framer, Limits};
use crate::mime;
use crate::parser::parse_command_mode;
use crate::store::*;
use crate::uidlist::{UidList, UidLists};

/// Session settings (from `imap.cfg`; see the crate README for the keys).
#[derive(Debug, Clone)]
pub struct Config {
    /// Framing limits (`imap_literal_max`, line length, nesting).
    pub limits: Limits,
    /// `imap_force_tls`: refuse LOGIN/AUTHENTICATE without TLS.
    pub force_tls: bool,
    /// Whether TLS material is configured (STARTTLS possible).
    pub tls_configured: bool,
    /// `imap_autologout_time`: idle timeout once authenticated (RFC 9051 §5.4: ≥ 30 min).
    pub autologout: Duration,
    /// `imap_auth_max_failures`: failed logins before the connection is closed.
    pub auth_max_failures: u32,
    /// `imap_idle_keepalive`: interval of `* OK Still here` during IDLE.
    pub idle_keepalive: Duration,
    /// Messages per store fetch call.
    pub fetch_batch: usize,
    /// Output size at which FETCH yields to the runtime.
    pub out_chunk: usize,
}

/// How many times `fetch_batch` messages a FETCH of metadata only (UID, FLAGS, sizes,
/// dates, MODSEQ) asks the store for at once.
const META_BATCH_FACTOR: usize = 32;

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            force_tls: false,
            tls_configured: false,
            autologout: Duration::from_secs(30 * 60),
            auth_max_failures: 3,
            idle_keepalive: Duration::from_secs(120),
            fetch_batch: 64,
            out_chunk: 128 * 1024,
        }
    }
}

/// Literal and command caps before login: enough for LOGIN and AUTHENTICATE, not for an
/// unauthenticated client to make the server buffer megabytes.
pub const PREAUTH_LITERAL_MAX: u64 = 8 * 1024;

fn preauth_limits(l: Limits) -> Limits {
    Limits {
        literal_max: l.literal_max.min(PREAUTH_LITERAL_MAX),
        command_max: l.command_max.min(4 * PREAUTH_LITERAL_MAX),
        ..l
    }
}

/// The IMAP protocol: creates one [`ImapSession`] per connection.
pub struct ImapProtocol<S: MailStore> {
    store: Arc<S>,
    cfg: Arc<Config>,
    uid_lists: Arc<UidLists>,
    log: Logger,
    metrics: Option<Arc<gromox_runtime::Registry>>,
}

impl<S: MailStore> ImapProtocol<S> {
    /// A protocol instance serving `store`.
    pub fn new(store: Arc<S>, cfg: Config, log: Logger) -> Self {
        ImapProtocol {
            store,
            cfg: Arc::new(cfg),
            uid_lists: Arc::new(UidLists::default()),
            log,
            metrics: None,
        }
    }

    /// Record commands into `m` (the server's registry, exported for httpd's `/metrics`).
    pub fn with_metrics(mut self, m: Arc<gromox_runtime::Registry>) -> Self {
        self.metrics = Some(m);
        self
    }
}

impl<S: MailStore> Protocol for ImapProtocol<S> {
    type Session = ImapSession<S>;

    fn accept(&self, info: &ConnInfo) -> ImapSession<S> {
        let mut s = ImapSession::new(
            self.store.clone(),
            self.cfg.clone(),
            self.log.new(o!("conn" => info.id)),
            info.peer,
        );
        s.metrics = self.metrics.clone();
        s.uid_lists = self.uid_lists.clone();
        s
    }

    fn busy_reply(&self) -> &[u8] {
        b"* BYE Too many connections, try again later\r\n"
    }
}

/// A folder change pushed to the session by the store's notifier.
pub struct FolderChanged;

struct Selected {
    name: String,
    read_only: bool,
    /// UIDs by sequence number − 1 (shared with other sessions on the same folder).
    uids: UidList,
    /// SEARCHRES saved result (RFC 5182), as UIDs.
    saved: Vec<u32>,
    /// Store change counter up to which flag changes have been shown.
    modseq: u64,
}

impl Selected {
    fn msn(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }
}

struct FetchJob {
    tag: String,
    items: Vec<FetchAtt>,
    /// Indexes into `Selected::uids`.
    idx: Vec<u32>,
    pos: usize,
    want: FetchWant,
    set_seen: bool,
    /// A BINARY item met an unknown Content-Transfer-Encoding.
    cte_failed: bool,
    /// Only messages with a higher mod-sequence (RFC 7162 CHANGEDSINCE).
    changed_since: Option<u64>,
}

enum Mode {
    Command,
    AuthPlain {
        tag: String,
    },
    /// `since`: when IDLE began; `*OK Still here` keepalives go out until autologout.
    Idle {
        tag: String,
        since: std::time::Instant,
    },
    Fetch(Box<FetchJob>),
    Done,
}

/// One IMAP connection.
pub struct ImapSession<S: MailStore> {
    store: Arc<S>,
    cfg: Arc<Config>,
    log: Logger,
    peer: SocketAddr,
    framer: Framer,
    mode: Mode,
    user: Option<S::User>,
    username: String,
    sel: Option<Selected>,
    rev2: bool,
    /// CONDSTORE enabled (RFC 7162 §3.1): MODSEQ in FETCH responses, HIGHESTMODSEQ on SELECT.
    condstore: bool,
    /// UTF8=ACCEPT enabled (RFC 6855): UTF-8 mailbox names.
    utf8_accept: bool,
    /// QRESYNC enabled (RFC 7162 §3.2): VANISHED instead of EXPUNGE.
    qresync: bool,
    /// COMPRESS=DEFLATE active (RFC 4978).
    deflate: Option<Box<Deflate>>,
    auth_failures: u32,
    metrics: Option<Arc<gromox_runtime::Registry>>,
    uid_lists: Arc<UidLists>,
}

fn tagged(out: &mut Vec<u8>, tag: &str, status: &str, code: Option<&str>, text: &str) {
    out.extend_from_slice(tag.as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.as_bytes());
    if let Some(c) = code {
        let _ = write!(out, " [{c}]");
    }
    let _ = write!(out, " {text}\r\n");
}

fn store_no(out: &mut Vec<u8>, tag: &str, e: &StoreError, log: &Logger, what: &str) {
    if let StoreError::Backend(detail) | StoreError::Unavailable(detail) = e {
        warn!(log, "store failure"; "event" => "imap.store_error", "op" => what, "error" => detail.as_str());
    }
    let (code, text) = e.code_and_text();
    tagged(out, tag, "NO", Some(code), &text);
}

/// Command names counted in the metrics (anything else is `other`).
const COMMANDS: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "ENABLE",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "XLIST",
    "NAMESPACE",
    "STATUS",
    "APPEND",
    "IDLE",
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "MOVE",
    "UID",
    "ID",
    "SORT",
    "THREAD",
    "GETQUOTA",
    "GETQUOTAROOT",
    "SETQUOTA",
    "COMPRESS",
];

/// The command word of a command line (`a1 UID FETCH …` → `UID`).
fn command_label(buf: &[u8]) -> &'static str {
    let rest = buf.iter().position(|b| *b == b' ').map_or(&buf[..0], |i| &buf[i + 1..]);
    gromox_runtime::metrics::word_label(rest, COMMANDS)
}

/// `OK`/`NO`/`BAD` of the tagged response written for the command, `pending` when it has
/// not been written yet (a streamed FETCH, IDLE).
fn outcome_label(buf: &[u8], out: &[u8]) -> &'static str {
    let tag = buf.split(|b| *b == b' ').next().unwrap_or_default();
    out.split(|b| *b == b'\n')
        .filter(|l| !tag.is_empty() && l.starts_with(tag) && l.get(tag.len()) == Some(&b' '))
        .map(|l| gromox_runtime::metrics::word_label(&l[tag.len() + 1..], &["OK", "NO", "BAD"]))
        .next_back()
        .unwrap_or("pending")
}

/// Minimal standard base64 decoder (RFC 4648 §4) for SASL.
fn b64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let s: Vec<u8> = s.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (ci, chunk) in s.chunks(4).enumerate() {
        let last = ci == s.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n: u32 = 0;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Printable form of a client-supplied name for log lines (no control characters).
fn log_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() || c == ' ' { '_' } else { c })
        .take(256)
        .collect()
}

/// LIST pattern matching (RFC 9051 §6.3.9): `*` matches anything, `%` anything but the
/// delimiter. Dynamic programming, O(len(pattern)·len(name)).
fn pattern_match(pattern: &[u8], name: &[u8]) -> bool {
    let (p, n) = (pattern.len(), name.len());
    let mut prev = vec![false; n + 1];
    prev[0] = true;
    for i in 1..=p {
        let mut cur = vec![false; n + 1];
        let c = pattern[i - 1];
        if c == b'*' || c == b'%' {
            cur[0] = prev[0];
            for j in 1..=n {
                cur[j] = prev[j] || (cur[j - 1] && (c == b'*' || name[j - 1] != b'/'));
            }
        } else {
            for j in 1..=n {
                cur[j] = prev[j - 1] && name[j - 1] == c;
            }
        }
        prev = cur;
    }
    prev[n]
}

fn list_match(pattern: &str, name: &str) -> bool {
    // INBOX is case-insensitive, also as the first component of a pattern.
    let norm = |s: &str| -> String {
        if s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("INBOX")) && (s.len() == 5 || s.as_bytes()[5] == b'/') {
            format!("INBOX{}", &s[5..])
        } else {
            s.to_string()
        }
    };
    pattern_match(norm(pattern).as_bytes(), norm(name).as_bytes())
}

/// `* QUOTA "" (STORAGE used limit)` in KiB (RFC 9208 §5.1, §4.3.1).
fn write_quota(out: &mut Vec<u8>, q: &Quota) {
    let _ = write!(
        out,
        "* QUOTA \"\" (STORAGE {} {})\r\n",
        q.used.div_ceil(1024),
        q.limit / 1024
    );
}

/// Whether a search uses the MODSEQ criterion.
fn uses_modseq(k: &SearchKey) -> bool {
    match k {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(v) => v.iter().any(uses_modseq),
        _ => false,
    }
}

fn write_section_spec(out: &mut Vec<u8>, sec: &Section) {
    for (i, p) in sec.part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        let _ = write!(out, "{p}");
    }
    if let Some(t) = &sec.text {
        if !sec.part.is_empty() {
            out.push(b'.');
        }
        let list = |out: &mut Vec<u8>, kw: &str, names: &[String]| {
            let _ = write!(out, "{kw} (");
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                encode::string(out, n.to_ascii_uppercase().as_bytes());
            }
            out.push(b')');
        };
        match t {
            SectionText::Header => out.extend_from_slice(b"HEADER"),
            SectionText::Text => out.extend_from_slice(b"TEXT"),
            SectionText::Mime => out.extend_from_slice(b"MIME"),
            SectionText::HeaderFields(n) => list(out, "HEADER.FIELDS", n),
            SectionText::HeaderFieldsNot(n) => list(out, "HEADER.FIELDS.NOT", n),
        }
    }
}

fn body_data(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        out.extend_from_slice(b"\"\"");
    } else {
        encode::literal(out, data);
    }
}

/// Write one `* n FETCH (...)` response (RFC 9051 §7.5.2).
/// The decoded content of a part for BINARY (RFC 3516 §4.2): `Ok(None)` when the part does
/// not exist, `Err(())` for an unknown Content-Transfer-Encoding.
fn binary_part<'r>(raw: &'r [u8], tree: &mime::Part, part: &[u32]) -> Result<Option<Cow<'r, [u8]>>, ()> {
    if part.is_empty() {
        return Ok(Some(Cow::Borrowed(raw)));
    }
    let Some(p) = mime::resolve(tree, part) else {
        return Ok(None);
    };
    let body = &raw[p.body.clone()];
    if !p.children.is_empty() || p.message.is_some() {
        // Composite parts carry no encoding of their own (RFC 2045 §6.4).
        return Ok(Some(Cow::Borrowed(body)));
    }
    mime::decode_cte(body, &mime::transfer_encoding(raw, p))
        .map(Some)
        .ok_or(())
}

fn write_part_path(out: &mut Vec<u8>, part: &[u32]) {
    for (i, p) in part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        let _ = write!(out, "{p}");
    }
}

/// Write one `* n FETCH (...)` response (RFC 9051 §7.5.2). Returns `false` when a BINARY
/// item met an unknown Content-Transfer-Encoding (sent as NIL; the command ends with
/// `NO [UNKNOWN-CTE]`).
fn write_fetch(out: &mut Vec<u8>, msn: u32, m: &FetchedMessage<'_>, items: &[FetchAtt]) -> bool {
    let mut cte_ok = true;
    let _ = write!(out, "* {msn} FETCH (");
    let raw: &[u8] = m.raw.as_deref().unwrap_or(b"");
    // Parsed at most once per message, and only when an item needs it.
    let mut tree: Option<mime::Part> = None;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match item {
            FetchAtt::Uid => {
                let _ = write!(out, "UID {}", m.meta.uid);
            }
            FetchAtt::ModSeq => {
                let _ = write!(out, "MODSEQ ({})", m.meta.modseq);
            }
            FetchAtt::Flags => {
                out.extend_from_slice(b"FLAGS ");
                encode::flags(out, &m.meta.flags);
            }
            FetchAtt::InternalDate => {
                out.extend_from_slice(b"INTERNALDATE ");
                encode::date_time(out, &m.meta.internal_date);
            }
            FetchAtt::Rfc822Size => {
                let _ = write!(out, "RFC822.SIZE {}", m.meta.size);
            }
            FetchAtt::Envelope => {
                out.extend_from_slice(b"ENVELOPE ");
                if let Some(x) = &m.encoded {
                    out.extend_from_slice(&x.envelope);
                    continue;
                }
                match &m.envelope {
                    Some(e) => e.write(out),
                    None => {
                        let t = &*tree.get_or_insert_with(|| mime::parse(raw));
                        mime::envelope(&raw[t.header.clone()]).write(out)
                    }
                }
            }
            FetchAtt::Body | FetchAtt::BodyStructure => {
                let ext = *item == FetchAtt::BodyStructure;
                out.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
                if let Some(x) = &m.encoded {
                    out.extend_from_slice(if ext { &x.bodystructure } else { &x.body });
                    continue;
                }
                match &m.structure {
                    Some(s) => s.write(out, ext),
                    None => mime::body_structure(raw, tree.get_or_insert_with(|| mime::parse(raw))).write(out, ext),
                }
            }
            FetchAtt::Rfc822 => {
                out.extend_from_slice(b"RFC822 ");
                body_data(out, raw);
            }
            FetchAtt::Rfc822Header => {
                let t = &*tree.get_or_insert_with(|| mime::parse(raw));
                out.extend_from_slice(b"RFC822.HEADER ");
                body_data(out, &raw[t.header.clone()]);
            }
            FetchAtt::Rfc822Text => {
                let t = &*tree.get_or_insert_with(|| mime::parse(raw));
                out.extend_from_slice(b"RFC822.TEXT ");
                body_data(out, &raw[t.body.clone()]);
            }
            FetchAtt::BodySection { section, partial, .. } => {
                let t = &*tree.get_or_insert_with(|| mime::parse(raw));
                let data = mime::section(raw, t, section);
                let data: &[u8] = data.as_deref().unwrap_or(b"");
                out.extend_from_slice(b"BODY[");
                write_section_spec(out, section);
                out.push(b']');
                let data = match partial {
                    Some((start, len)) => {
                        let _ = write!(out, "<{start}>");
                        let s = (*start as usize).min(data.len());
                        let e = s.saturating_add(*len as usize).min(data.len());
                        &data[s..e]
                    }
                    None => data,
                };
                out.push(b' ');
                body_data(out, data);
            }
            FetchAtt::Binary { part, partial, .. } => {
                let t = &*tree.get_or_insert_with(|| mime::parse(raw));
                out.extend_from_slice(b"BINARY[");
                write_part_path(out, part);
                out.push(b']');
                match binary_part(raw, t, part) {
                    Ok(Some(data)) => {
                        let data: &[u8] = match partial {
                            Some((start, len)) => {
                                let _ = write!(out, "<{start}>");
                                let s = (*start as usize).min(data.len());
                                let e = s.saturating_add(*len as usize).min(data.len());
                                &data[s..e]
                            }
                            None => &data,
                        };
                        out.push(b' ');
                        if data.contains(&0) {
                            // literal8 (RFC 3516 §4.3)
                            out.push(b'~');
                        }
                        encode::literal(out, data);
                    }
                    Ok(None) => out.extend_from_slice(b" NIL"),
                    Err(()) => {
                        cte_ok = false;
                        out.extend_from_slice(b" NIL");
                    }
                }
            }
            FetchAtt::BinarySize { part } => {
                let t = &*tree.get_or_insert_with(|| mime::parse(raw));
                out.extend_from_slice(b"BINARY.SIZE[");
                write_part_path(out, part);
                out.push(b']');
                match binary_part(raw, t, part) {
                    Ok(Some(d)) => {
                        let _ = write!(out, " {}", d.len());
                    }
                    Ok(None) => out.extend_from_slice(b" NIL"),
                    Err(()) => {
                        cte_ok = false;
                        out.extend_from_slice(b" NIL");
                    }
                }
            }
        }
    }
    out.extend_from_slice(b")\r\n");
    cte_ok
}

impl<S: MailStore> ImapSession<S> {
    /// A session for a connection from `peer`.
    pub fn new(store: Arc<S>, cfg: Arc<Config>, log: Logger, peer: SocketAddr) -> Self {
        ImapSession {
            store,
            framer: Framer::new(preauth_limits(cfg.limits)),
            cfg,
            log,
            peer,
            mode: Mode::Command,
            user: None,
            username: String::new(),
            sel: None,
            rev2: false,
            condstore: false,
            utf8_accept: false,
            qresync: false,
            deflate: None,
            auth_failures: 0,
            metrics: None,
            uid_lists: Arc::new(UidLists::default()),
        }
    }

    /// Mailbox names travel as UTF-8 (IMAP4rev2 or UTF8=ACCEPT enabled).
    fn utf8(&self) -> bool {
        self.rev2 || self.utf8_accept
    }

    fn cap_state(&self, cx: &Cx<'_>) -> CapState {
        CapState {
            authenticated: self.user.is_some(),
            tls_active: cx.tls_active,
            tls_configured: self.cfg.tls_configured,
            force_tls: self.cfg.force_tls,
            qresync: self.store.supports_qresync(),
        }
    }

    fn caps_code(&self, cx: &Cx<'_>) -> String {
        let mut v = Vec::new();
        write_capabilities(&mut v, self.cap_state(cx));
        String::from_utf8_lossy(&v).into_owned()
    }

    /// Show the client changes the store reported (RFC 9051 §7: EXPUNGE/EXISTS). Only
    /// called where EXPUNGE responses are allowed.
    fn sync(&mut self, out: &mut Vec<u8>) {
        let (Some(sel), Some(user)) = (self.sel.as_mut(), self.user.as_mut()) else {
            return;
        };
        let new = match user.uids(&sel.name) {
            Ok(u) => u,
            Err(e) => {
                warn!(self.log, "resync failed"; "event" => "imap.sync_error", "error" => %e);
                return;
            }
        };
        let old_len = sel.uids.len();
        let mut removed = 0;
        if new[..] == sel.uids[..] {
            // Unchanged (the common case for IDLE and NOOP): no expunge scan; flags may still
            // have changed.
            self.flag_updates(out, |_| false);
            return;
        }
        if self.qresync {
            let gone: Vec<u32> = sel
                .uids
                .iter()
                .copied()
                .filter(|u| new.binary_search(u).is_err())
                .collect();
            removed = gone.len();
            if !gone.is_empty() {
                out.extend_from_slice(b"* VANISHED ");
                encode::seq_set(out, &gone);
                out.extend_from_slice(b"\r\n");
            }
        } else {
            for i in (0..sel.uids.len()).rev() {
                if new.binary_search(&sel.uids[i]).is_err() {
                    let _ = write!(out, "* {} EXPUNGE\r\n", i + 1);
                    removed += 1;
                }
            }
        }
        sel.saved.retain(|u| new.binary_search(u).is_ok());
        if new.len() != old_len - removed {
            let _ = write!(out, "* {} EXISTS\r\n", new.len());
        }
        let new = self.uid_lists.share(&self.username, &sel.name, new);
        let old_uids = std::mem::replace(&mut sel.uids, new);
        // New messages are skipped: the client learns their flags when it fetches them.
        self.flag_updates(out, |uid| old_uids.binary_search(&uid).is_err());
    }

    /// Report flags changed elsewhere since the last report (RFC 9051 §7.5.2: unsolicited
    /// FETCH FLAGS), except for messages `skip` names.
    fn flag_updates(&mut self, out: &mut Vec<u8>, skip: impl Fn(u32) -> bool) {
        let (Some(sel), Some(user)) = (self.sel.as_mut(), self.user.as_mut()) else {
            return;
        };
        match user.flag_changes(&sel.name, sel.modseq) {
            Ok((modseq, changed)) => {
                sel.modseq = modseq;
                for u in changed {
                    if skip(u.uid) {
                        continue;
                    }
                    if let Some(msn) = sel.msn(u.uid) {
                        let _ = write!(out, "* {msn} FETCH (UID {} FLAGS ", u.uid);
                        encode::flags(out, &u.flags);
                        if self.condstore {
                            let _ = write!(out, " MODSEQ ({})", u.modseq);
                        }
                        out.extend_from_slice(b")\r\n");
                    }
                }
            }
            Err(e) => warn!(self.log, "flag resync failed"; "event" => "imap.sync_error", "error" => %e),
        }
    }

    fn deselect(&mut self) {
        if self.sel.take().is_some() {
            if let Some(u) = self.user.as_mut() {
                u.unwatch();
            }
        }
    }

    /// Indexes into the selected folder's UID list named by `set` (ascending, unique).
    /// Non-UID sets with numbers beyond the folder size are an error when `strict`.
    fn indices(&self, set: &SeqSet, uid: bool, strict: bool) -> Result<Vec<u32>, &'static str> {
        let Some(sel) = &self.sel else {
            return Ok(Vec::new());
        };
        let uids = &sel.uids;
        // Half-open index spans, merged before expanding so that a set like
        // "1:*,1:*,..." costs no more than the folder size.
        let mut spans: Vec<(u32, u32)> = Vec::new();
        match set {
            SeqSet::Saved => {
                for u in &sel.saved {
                    if let Ok(i) = uids.binary_search(u) {
                        spans.push((i as u32, i as u32 + 1));
                    }
                }
            }
            SeqSet::Ranges(_) if uid => {
                let largest = uids.last().copied().unwrap_or(0);
                for (lo, hi) in set.resolved(largest) {
                    let a = uids.partition_point(|&u| u < lo);
                    let b = uids.partition_point(|&u| u <= hi);
                    spans.push((a as u32, b as u32));
                }
            }
            SeqSet::Ranges(ranges) => {
                let n = uids.len() as u32;
                for &(a, b) in ranges {
                    // `*` in an empty mailbox names nothing; an explicit number past the
                    // end is a client error for FETCH/STORE/COPY (RFC 9051 §7.1.5 BAD).
                    if n == 0 && (a == SeqNum::Largest || b == SeqNum::Largest) {
                        continue;
                    }
                    let over = |x: SeqNum| matches!(x, SeqNum::Value(v) if v > n);
                    if strict && (over(a) || over(b)) {
                        return Err("Invalid message sequence number");
                    }
                    let (a, b) = (a.resolve(n), b.resolve(n));
                    let (lo, hi) = (a.min(b).max(1), a.max(b).min(n));
                    if lo <= hi {
                        spans.push((lo - 1, hi));
                    }
                }
            }
        }
        spans.sort_unstable();
        let mut out: Vec<u32> = Vec::new();
        let mut next = 0;
        for (a, b) in spans {
            let a = a.max(next);
            if a < b {
                out.extend(a..b);
                next = b;
            }
        }
        Ok(out)
    }

    fn uids_of(&self, idx: &[u32]) -> Vec<u32> {
        match &self.sel {
            Some(sel) => idx.iter().map(|&i| sel.uids[i as usize]).collect(),
            None => Vec::new(),
        }
    }

    /// Rewrite sequence-number and `$` keys into UID keys for the store.
    fn rewrite_key(&self, key: &SearchKey) -> SearchKey {
        use SearchKey as K;
        let to_uid = |idx: Vec<u32>| -> SearchKey {
            let uids = self.uids_of(&idx);
            if uids.is_empty() {
                return K::Not(Box::new(K::All));
            }
            let mut ranges = Vec::new();
            let mut i = 0;
            while i < idx.len() {
                let mut j = i;
                while j + 1 < idx.len() && idx[j + 1] == idx[j] + 1 {
                    j += 1;
                }
                ranges.push((SeqNum::Value(uids[i]), SeqNum::Value(uids[j])));
                i = j + 1;
            }
            K::Uid(SeqSet::Ranges(ranges))
        };
        match key {
            K::Seq(set) => to_uid(self.indices(set, false, false).unwrap_or_default()),
            K::Uid(SeqSet::Saved) => to_uid(self.indices(&SeqSet::Saved, true, false).unwrap_or_default()),
            K::Not(k) => K::Not(Box::new(self.rewrite_key(k))),
            K::Or(a, b) => K::Or(Box::new(self.rewrite_key(a)), Box::new(self.rewrite_key(b))),
            K::And(v) => K::And(v.iter().map(|k| self.rewrite_key(k)).collect()),
            k => k.clone(),
        }
    }

    fn handle_frame(&mut self, buf: &[u8], cx: &mut Cx<'_>) -> Next {
        match std::mem::replace(&mut self.mode, Mode::Command) {
            Mode::Idle { tag, .. } => {
                cx.idle_timeout = Some(self.cfg.autologout);
                let line = buf.strip_suffix(b"\n").unwrap_or(buf);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.eq_ignore_ascii_case(b"DONE") {
                    tagged(cx.out, &tag, "OK", None, "IDLE terminated");
                } else {
                    tagged(cx.out, &tag, "BAD", None, "Expected DONE");
                }
                Next::Read
            }
            Mode::AuthPlain { tag } => {
                let line = buf.strip_suffix(b"\n").unwrap_or(buf);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line == b"*" {
                    tagged(cx.out, &tag, "BAD", None, "Authentication cancelled");
                    return Next::Read;
                }
                self.auth_plain(&tag, line, cx)
            }
            Mode::Command | Mode::Fetch(_) | Mode::Done => {
                let Some(m) = self.metrics.clone() else {
                    return self.command(buf, cx);
                };
                let (t, at) = (std::time::Instant::now(), cx.out.len());
                let next = self.command(buf, cx);
                m.request(command_label(buf), outcome_label(buf, &cx.out[at..]), t.elapsed());
                next
            }
        }
    }

    fn auth_plain(&mut self, tag: &str, b64: &[u8], cx: &mut Cx<'_>) -> Next {
        let decoded = if b64 == b"=" { Some(Vec::new()) } else { b64_decode(b64) };
        let Some(d) = decoded else {
            tagged(cx.out, tag, "BAD", None, "Invalid base64 data");
            return Next::Read;
        };
        // RFC 4616 §2: [authzid] NUL authcid NUL passwd
        let parts: Vec<&[u8]> = d.split(|&b| b == 0).collect();
        if parts.len() != 3 {
            tagged(cx.out, tag, "BAD", None, "Invalid PLAIN response");
            return Next::Read;
        }
        let (authz, authc, pass) = (parts[0], parts[1], parts[2]);
        let mut user = String::from_utf8_lossy(authc).into_owned();
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(authc) {
            // An authorization identity other than the user: the mailbox to open, as with
            // `actor!mailbox` (the store-owner right is checked at login).
            if authc.contains(&b'!') || authz.contains(&b'!') {
                tagged(
                    cx.out,
                    tag,
                    "NO",
                    Some("AUTHORIZATIONFAILED"),
                    "Use either an authorization identity or user!mailbox",
                );
                return Next::Read;
            }
            user = format!("{user}!{}", String::from_utf8_lossy(authz));
        }
        self.do_login(tag, &user, pass, "AUTHENTICATE", cx)
    }

    fn do_login(&mut self, tag: &str, user: &str, pass: &[u8], op: &str, cx: &mut Cx<'_>) -> Next {
        if self.cfg.force_tls && !cx.tls_active {
            tagged(cx.out, tag, "NO", Some("PRIVACYREQUIRED"), "TLS is required to log in");
            return Next::Read;
        }
        match self.store.login(user, pass, self.peer) {
            Ok(u) => {
                self.user = Some(u);
                self.username = user.to_string();
                self.framer.set_limits(self.cfg.limits);
                cx.idle_timeout = Some(self.cfg.autologout);
                info!(self.log, "login"; "event" => "imap.login", "user" => log_safe(user), "rhost" => %self.peer);
                let caps = self.caps_code(cx);
                tagged(cx.out, tag, "OK", Some(&caps), "Logged in");
                Next::Read
            }
            Err(e) => {
                self.auth_failures += 1;
                if let Some(m) = &self.metrics {
                    m.auth_failure();
                }
                // fail2ban-compatible line (DESIGN.md §2), unless the store's authenticator
                // wrote it; the password is never logged.
                if !self.store.logs_auth_failures() {
                    warn!(self.log, "rhost=[{}]:{} user={} {} rejected: {}",
                        self.peer.ip(), self.peer.port(), log_safe(user), op, e;
                        "event" => "imap.auth_failed");
                }
                if let StoreError::AuthFailed = e {
                    tagged(cx.out, tag, "NO", Some("AUTHENTICATIONFAILED"), "Authentication failed");
                } else {
                    store_no(cx.out, tag, &e, &self.log, "login");
                }
                if self.auth_failures >= self.cfg.auth_max_failures {
                    cx.out.extend_from_slice(b"* BYE Too many authentication failures\r\n");
                    self.mode = Mode::Done;
                    return Next::Close;
                }
                Next::Read
            }
        }
    }

    fn command(&mut self, buf: &[u8], cx: &mut Cx<'_>) -> Next {
        let cmd = match parse_command_mode(buf, &self.cfg.limits, self.utf8()) {
            Ok(c) => c,
            Err(e) => {
                self.bad(&e, cx);
                return Next::Read;
            }
        };
        let tag = cmd.tag;
        debug!(self.log, "command"; "event" => "imap.command", "cmd" => cmd.body.name());
        let authed = self.user.is_some();
        let selected = self.sel.is_some();
        let is_examine = matches!(cmd.body, CommandBody::Examine { .. });
        use CommandBody as C;
        match cmd.body {
            C::Capability => {
                cx.out.extend_from_slice(b"* ");
                write_capabilities(cx.out, self.cap_state(cx));
                cx.out.extend_from_slice(b"\r\n");
                tagged(cx.out, tag, "OK", None, "CAPABILITY completed");
            }
            C::Noop | C::Check => {
                if matches!(cmd.body, C::Check) && !selected {
                    tagged(cx.out, tag, "BAD", None, "No mailbox selected");
                    return Next::Read;
                }
                self.sync(cx.out);
                tagged(cx.out, tag, "OK", None, &format!("{} completed", cmd.body.name()));
            }
            C::Logout => {
                cx.out.extend_from_slice(b"* BYE Logging out\r\n");
                tagged(cx.out, tag, "OK", None, "LOGOUT completed");
                self.deselect();
                self.mode = Mode::Done;
                return Next::Close;
            }
            C::Id(_) => {
                cx.out
                    .extend_from_slice(b"* ID (\"name\" \"gromox-rs imapd\" \"version\" \"");
                cx.out.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
                cx.out.extend_from_slice(b"\")\r\n");
                tagged(cx.out, tag, "OK", None, "ID completed");
            }
            C::StartTls | C::Authenticate { .. } | C::Login { .. } if authed => {
                tagged(cx.out, tag, "BAD", None, "Already authenticated");
            }
            C::StartTls => {
                if cx.tls_active || !self.cfg.tls_configured {
                    tagged(cx.out, tag, "BAD", None, "STARTTLS is not available");
                } else {
                    tagged(cx.out, tag, "OK", None, "Begin TLS negotiation now");
                    return Next::StartTls;
                }
            }
            C::Login { user, password } => {
                let user = String::from_utf8_lossy(&user).into_owned();
                return self.do_login(tag, &user, &password, "LOGIN", cx);
            }
            C::Authenticate { mechanism, initial } => {
                if mechanism != "PLAIN" {
                    tagged(
                        cx.out,
                        tag,
                        "NO",
                        Some("CANNOT"),
                        "Unsupported authentication mechanism",
                    );
                } else if self.cfg.force_tls && !cx.tls_active {
                    tagged(cx.out, tag, "NO", Some("PRIVACYREQUIRED"), "TLS is required to log in");
                } else if let Some(ir) = initial {
                    return self.auth_plain(tag, ir, cx);
                } else {
                    cx.out.extend_from_slice(b"+ \r\n");
                    self.mode = Mode::AuthPlain { tag: tag.to_string() };
                }
            }
            _ if !authed => {
                tagged(cx.out, tag, "BAD", None, "Log in first");
            }
            C::Enable(caps) => {
                if selected {
                    tagged(cx.out, tag, "BAD", None, "ENABLE is only valid before SELECT");
                    return Next::Read;
                }
                cx.out.extend_from_slice(b"* ENABLED");
                for c in caps {
                    if c == "IMAP4REV2" && !self.rev2 {
                        self.rev2 = true;
                        cx.out.extend_from_slice(b" IMAP4rev2");
                    }
                    if c == "UTF8=ACCEPT" && !self.utf8_accept {
                        self.utf8_accept = true;
                        cx.out.extend_from_slice(b" UTF8=ACCEPT");
                    }
                    if c == "QRESYNC" && !self.qresync && self.store.supports_qresync() {
                        // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                        self.qresync = true;
                        self.condstore = true;
                        cx.out.extend_from_slice(b" QRESYNC");
                    }
                    if c == "CONDSTORE" && !self.condstore {
                        self.condstore = true;
                        cx.out.extend_from_slice(b" CONDSTORE");
                    }
                }
                cx.out.extend_from_slice(b"\r\n");
                tagged(cx.out, tag, "OK", None, "ENABLE completed");
            }
            C::Select {
                mailbox,
                condstore,
                qresync,
            }
            | C::Examine {
                mailbox,
                condstore,
                qresync,
            } => {
                let read_only = is_examine;
                if qresync.is_some() && !self.qresync {
                    tagged(cx.out, tag, "BAD", None, "ENABLE QRESYNC first");
                    return Next::Read;
                }
                self.condstore |= condstore;
                self.select(tag, &mailbox, read_only, qresync.as_ref(), cx)
            }
            C::Create { mailbox } => {
                let name = mailbox.trim_end_matches('/');
                let r = if name == "INBOX" || name.is_empty() {
                    Err(StoreError::AlreadyExists)
                } else {
                    self.user_mut().create(name)
                };
                self.simple(tag, "CREATE", r, cx);
            }
            C::Delete { mailbox } => {
                if self.sel.as_ref().is_some_and(|s| s.name == mailbox) {
                    self.deselect();
                }
                let r = self.user_mut().delete(&mailbox);
                self.simple(tag, "DELETE", r, cx);
            }
            C::Rename { from, to } => {
                let r = self.user_mut().rename(&from, &to);
                // The selected mailbox (or its parent) was renamed: follow it. Renaming INBOX
                // moves its messages but INBOX itself stays (RFC 9051 §6.3.6).
                if r.is_ok() && from != "INBOX" {
                    let prefix = format!("{from}/");
                    let renamed = self.sel.as_ref().and_then(|sel| {
                        if sel.name == from {
                            Some(to.clone())
                        } else {
                            sel.name.strip_prefix(&prefix).map(|rest| format!("{to}/{rest}"))
                        }
                    });
                    if let Some(new_name) = renamed {
                        let h = cx.handle.clone();
                        let notify: Notifier = Arc::new(move || {
                            h.push(Box::new(FolderChanged));
                        });
                        self.user_mut().watch(&new_name, notify);
                        if let Some(sel) = self.sel.as_mut() {
                            sel.name = new_name;
                        }
                    }
                }
                self.simple(tag, "RENAME", r, cx);
            }
            C::Subscribe { mailbox } => {
                let r = self.user_mut().subscribe(&mailbox, true);
                self.simple(tag, "SUBSCRIBE", r, cx);
            }
            C::Unsubscribe { mailbox } => {
                let r = self.user_mut().subscribe(&mailbox, false);
                self.simple(tag, "UNSUBSCRIBE", r, cx);
            }
            C::List {
                reference,
                patterns,
                select,
                ret,
                xlist,
            } => self.list(tag, &reference, &patterns, select, &ret, xlist, false, cx),
            C::Lsub { reference, pattern } => self.list(
                tag,
                &reference,
                &[pattern],
                ListSelect {
                    subscribed: true,
                    ..Default::default()
                },
                &ListReturn::default(),
                false,
                true,
                cx,
            ),
            C::GetQuota { root } => match self.user_mut().quota() {
                Ok(Some(q)) if root.is_empty() => {
                    write_quota(cx.out, &q);
                    tagged(cx.out, tag, "OK", None, "GETQUOTA completed");
                }
                Ok(_) => tagged(cx.out, tag, "NO", Some("NONEXISTENT"), "No such quota root"),
                Err(e) => store_no(cx.out, tag, &e, &self.log, "getquota"),
            },
            C::GetQuotaRoot { mailbox } => {
                let r = self.user_mut().status(&mailbox).and_then(|_| self.user_mut().quota());
                match r {
                    Ok(q) => {
                        cx.out.extend_from_slice(b"* QUOTAROOT ");
                        encode::mailbox(cx.out, &mailbox, self.utf8());
                        if let Some(q) = q {
                            cx.out.extend_from_slice(b" \"\"\r\n");
                            write_quota(cx.out, &q);
                        } else {
                            cx.out.extend_from_slice(b"\r\n");
                        }
                        tagged(cx.out, tag, "OK", None, "GETQUOTAROOT completed");
                    }
                    Err(e) => store_no(cx.out, tag, &e, &self.log, "getquotaroot"),
                }
            }
            C::SetQuota { .. } => {
                tagged(cx.out, tag, "NO", Some("NOPERM"), "Quotas are set by the administrator");
            }
            C::Compress { mechanism } => {
                if self.deflate.is_some() {
                    tagged(
                        cx.out,
                        tag,
                        "NO",
                        Some("COMPRESSIONACTIVE"),
                        "DEFLATE is already active",
                    );
                } else if mechanism != "DEFLATE" {
                    tagged(cx.out, tag, "BAD", None, "Unknown compression mechanism");
                } else {
                    // The OK goes out uncompressed; everything after it is compressed.
                    tagged(cx.out, tag, "OK", None, "DEFLATE active");
                    self.deflate = Some(Box::new(Deflate::new()));
                }
            }
            C::Namespace => {
                cx.out.extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
                tagged(cx.out, tag, "OK", None, "NAMESPACE completed");
            }
            C::Status { mailbox, items } => match self.user_mut().status(&mailbox) {
                Ok(st) => {
                    self.write_status(cx.out, &mailbox, &st, &items);
                    tagged(cx.out, tag, "OK", None, "STATUS completed");
                }
                Err(e) => store_no(cx.out, tag, &e, &self.log, "status"),
            },
            C::Append { mailbox, messages } => self.append(tag, &mailbox, &messages, cx),
            C::Idle => {
                self.sync(cx.out);
                cx.out.extend_from_slice(b"+ idling\r\n");
                // Keepalives hold NAT mappings open; autologout still applies (RFC 2177).
                cx.idle_timeout = Some(self.cfg.idle_keepalive.min(self.cfg.autologout));
                self.mode = Mode::Idle {
                    tag: tag.to_string(),
                    since: std::time::Instant::now(),
                };
            }
            _ if !selected => {
                tagged(cx.out, tag, "BAD", None, "No mailbox selected");
            }
            C::Close | C::Unselect => {
                let close = matches!(cmd.body, C::Close);
                if let Some(sel) = &self.sel {
                    if close && !sel.read_only {
                        let name = sel.name.clone();
                        if let Err(e) = self.user_mut().expunge(&name, None) {
                            store_no(cx.out, tag, &e, &self.log, "close");
                            return Next::Read;
                        }
                    }
                }
                self.deselect();
                tagged(cx.out, tag, "OK", None, &format!("{} completed", cmd.body.name()));
            }
            C::Expunge { uids } => self.expunge(tag, uids.as_ref(), cx),
            C::Search { uid, charset, ret, key } => self.search(tag, uid, charset.as_deref(), ret.as_deref(), &key, cx),
            C::Sort {
                uid,
                criteria,
                charset,
                key,
            } => self.sort(tag, uid, &criteria, &charset, &key, None, cx),
            C::Thread {
                uid,
                algorithm,
                charset,
                key,
            } => {
                if algorithm == "REFERENCES" {
                    self.thread_references(tag, uid, &charset, &key, cx);
                    return Next::Read;
                }
                if algorithm != "ORDEREDSUBJECT" {
                    tagged(cx.out, tag, "BAD", None, "Unsupported threading algorithm");
                    return Next::Read;
                }
                let criteria = [
                    SortCriterion {
                        reverse: false,
                        key: SortKey::Subject,
                    },
                    SortCriterion {
                        reverse: false,
                        key: SortKey::Date,
                    },
                ];
                self.sort(tag, uid, &criteria, &charset, &key, Some(()), cx)
            }
            C::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => {
                if vanished {
                    if !self.qresync {
                        tagged(cx.out, tag, "BAD", None, "ENABLE QRESYNC first");
                        return Next::Read;
                    }
                    // RFC 7162 §3.2.6: UIDs in the set expunged since CHANGEDSINCE.
                    if let Err(e) = self.vanished_earlier(&set, changed_since.unwrap_or(0), cx.out) {
                        store_no(cx.out, tag, &e, &self.log, "fetch");
                        return Next::Read;
                    }
                }
                return self.fetch(tag, uid, &set, items, changed_since, cx);
            }
            C::Store {
                uid,
                set,
                unchanged_since,
                mode,
                silent,
                flags,
            } => self.store(tag, uid, &set, unchanged_since, mode, silent, &flags, cx),
            C::Copy { uid, set, mailbox } => self.copy_move(tag, uid, &set, &mailbox, false, cx),
            C::Move { uid, set, mailbox } => self.copy_move(tag, uid, &set, &mailbox, true, cx),
        }
        Next::Read
    }

    fn bad(&mut self, e: &ParseError, cx: &mut Cx<'_>) {
        debug!(self.log, "bad command"; "event" => "imap.bad_command", "reason" => e.msg.as_str());
        match &e.tag {
            Some(t) => tagged(cx.out, t, "BAD", None, &e.msg),
            None => tagged(cx.out, "*", "BAD", None, &e.msg),
        }
    }

    fn user_mut(&mut self) -> &mut S::User {
        // Only called after the `authed` check in `command`.
        self.user.as_mut().expect("authenticated state checked by caller")
    }

    fn simple(&mut self, tag: &str, what: &str, r: Result<(), StoreError>, cx: &mut Cx<'_>) {
        match r {
            Ok(()) => tagged(cx.out, tag, "OK", None, &format!("{what} completed")),
            Err(e) => store_no(cx.out, tag, &e, &self.log, what),
        }
    }

    fn write_status(&self, out: &mut Vec<u8>, name: &str, st: &FolderStatus, items: &[StatusItem]) {
        out.extend_from_slice(b"* STATUS ");
        encode::mailbox(out, name, self.utf8());
        out.extend_from_slice(b" (");
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            let v: u64 = match it {
                StatusItem::Messages => st.messages.into(),
                StatusItem::Recent => st.recent.into(),
                StatusItem::UidNext => st.uidnext.into(),
                StatusItem::UidValidity => st.uidvalidity.into(),
                StatusItem::Unseen => st.unseen.into(),
                StatusItem::Deleted => st.deleted.into(),
                StatusItem::Size => st.size,
                StatusItem::HighestModSeq => st.highest_modseq,
                StatusItem::DeletedStorage => st.deleted_size.div_ceil(1024),
            };
            let _ = write!(out, "{} {v}", it.name());
        }
        out.extend_from_slice(b")\r\n");
    }

    /// `* VANISHED (EARLIER) uids` for UIDs in `set` expunged after `since` (RFC 7162 §3.2.10).
    fn vanished_earlier(&mut self, set: &SeqSet, since: u64, out: &mut Vec<u8>) -> Result<(), StoreError> {
        let Some(name) = self.sel.as_ref().map(|s| s.name.clone()) else {
            return Ok(());
        };
        let largest = self.sel.as_ref().and_then(|s| s.uids.last().copied()).unwrap_or(0);
        let gone = self.user_mut().vanished(&name, since)?;
        let ranges = set.resolved(largest.max(gone.last().copied().unwrap_or(0)));
        let gone: Vec<u32> = gone
            .into_iter()
            .filter(|u| ranges.iter().any(|&(a, b)| a <= *u && *u <= b))
            .collect();
        if !gone.is_empty() {
            out.extend_from_slice(b"* VANISHED (EARLIER) ");
            encode::seq_set(out, &gone);
            out.extend_from_slice(b"\r\n");
        }
        Ok(())
    }

    fn select(&mut self, tag: &str, name: &str, read_only: bool, qresync: Option<&QresyncParams>, cx: &mut Cx<'_>) {
        if self.sel.is_some() {
            self.deselect();
            cx.out.extend_from_slice(b"* OK [CLOSED] Previous mailbox closed\r\n");
        }
        let info = match self.user_mut().select(name) {
            Ok(i) => i,
            Err(e) => {
                store_no(cx.out, tag, &e, &self.log, "select");
                return;
            }
        };
        let out = &mut *cx.out;
        let _ = write!(out, "* {} EXISTS\r\n", info.uids.len());
        if !self.rev2 {
            let _ = write!(out, "* {} RECENT\r\n", info.status.recent);
        }
        let mut flags: Vec<&str> = vec!["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];
        flags.extend(info.keywords.iter().map(String::as_str));
        out.extend_from_slice(b"* FLAGS ");
        encode::flags(out, &flags);
        out.extend_from_slice(b"\r\n");
        flags.push("\\*");
        out.extend_from_slice(b"* OK [PERMANENTFLAGS ");
        encode::flags(out, if read_only { &[][..] } else { &flags[..] });
        out.extend_from_slice(b"] Flags permitted\r\n");
        if !self.rev2 {
            if let Some(u) = info.first_unseen {
                if let Ok(i) = info.uids.binary_search(&u) {
                    let _ = write!(out, "* OK [UNSEEN {}] First unseen\r\n", i + 1);
                }
            }
        }
        let _ = write!(out, "* OK [UIDVALIDITY {}] UIDs valid\r\n", info.status.uidvalidity);
        let _ = write!(out, "* OK [UIDNEXT {}] Predicted next UID\r\n", info.status.uidnext);
        if self.condstore {
            if info.modseq > 0 {
                let _ = write!(out, "* OK [HIGHESTMODSEQ {}] Highest\r\n", info.modseq);
            } else {
                out.extend_from_slice(b"* OK [NOMODSEQ] No mod-sequences here\r\n");
            }
        }
        if self.rev2 {
            // RFC 9051 §6.3.2: the server MUST send a LIST response with the mailbox name.
            out.extend_from_slice(b"* LIST () \"/\" ");
            encode::mailbox(out, name, true);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(q) = qresync.filter(|q| q.uidvalidity == info.status.uidvalidity) {
            // RFC 7162 §3.2.5.2: what changed since the client's mod-sequence.
            let set = q
                .known_uids
                .clone()
                .unwrap_or(SeqSet::Ranges(vec![(SeqNum::Value(1), SeqNum::Largest)]));
            let largest = info.status.uidnext.saturating_sub(1);
            let ranges = set.resolved(largest);
            let user = self.user.as_mut().expect("authenticated state checked by caller");
            match user.vanished(name, q.modseq) {
                Ok(gone) => {
                    let gone: Vec<u32> = gone
                        .into_iter()
                        .filter(|u| ranges.iter().any(|&(a, b)| a <= *u && *u <= b))
                        .collect();
                    if !gone.is_empty() {
                        out.extend_from_slice(b"* VANISHED (EARLIER) ");
                        encode::seq_set(out, &gone);
                        out.extend_from_slice(b"\r\n");
                    }
                }
                Err(e) => warn!(self.log, "vanished failed"; "event" => "imap.store_error", "error" => %e),
            }
            if let Ok((_, changed)) = user.flag_changes(name, q.modseq) {
                for u in changed {
                    if let Ok(i) = info.uids.binary_search(&u.uid) {
                        let _ = write!(out, "* {} FETCH (UID {} FLAGS ", i + 1, u.uid);
                        encode::flags(out, &u.flags);
                        let _ = write!(out, " MODSEQ ({}))\r\n", u.modseq);
                    }
                }
            }
        }
        let code = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        let what = if read_only {
            "EXAMINE completed"
        } else {
            "SELECT completed"
        };
        tagged(out, tag, "OK", Some(code), what);
        let h = cx.handle.clone();
        let notify: Notifier = Arc::new(move || {
            h.push(Box::new(FolderChanged));
        });
        self.user_mut().watch(name, notify);
        self.sel = Some(Selected {
            name: name.to_string(),
            read_only,
            uids: self.uid_lists.share(&self.username, name, info.uids),
            saved: Vec::new(),
            modseq: info.modseq,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn list(
        &mut self,
        tag: &str,
        reference: &str,
        patterns: &[String],
        select: ListSelect,
        ret: &ListReturn,
        xlist: bool,
        lsub: bool,
        cx: &mut Cx<'_>,
    ) {
        let cmd = if lsub {
            "LSUB"
        } else if xlist {
            "XLIST"
        } else {
            "LIST"
        };
        if patterns.len() == 1 && patterns[0].is_empty() && !lsub {
            // RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
            let _ = write!(cx.out, "* {cmd} (\\Noselect) \"/\" \"\"\r\n");
            tagged(cx.out, tag, "OK", None, &format!("{cmd} completed"));
            return;
        }
        if patterns.iter().any(|p| p.len() + reference.len() > 1024) {
            tagged(cx.out, tag, "BAD", None, "Pattern too long");
            return;
        }
        let folders = match self.user_mut().list_folders() {
            Ok(f) => f,
            Err(e) => {
                store_no(cx.out, tag, &e, &self.log, "list");
                return;
            }
        };
        for f in &folders {
            let hit = patterns.iter().any(|p| list_match(&format!("{reference}{p}"), &f.name));
            // RFC 5258 §3.5 RECURSIVEMATCH: a parent with a subscribed descendant is listed
            // with CHILDINFO even when it is not subscribed itself.
            let childinfo = select.recursive_match && {
                let prefix = format!("{}/", f.name);
                folders.iter().any(|g| g.subscribed && g.name.starts_with(&prefix))
            };
            if !hit
                || (select.subscribed && !f.subscribed && !childinfo)
                || (select.special_use && f.special_use.is_none())
            {
                continue;
            }
            let mut attrs: Vec<&str> = Vec::new();
            if !lsub {
                attrs.push(if f.has_children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                });
                if xlist && f.name == "INBOX" {
                    attrs.push("\\Inbox");
                }
                if let Some(su) = f.special_use {
                    attrs.push(su);
                }
                if f.subscribed && (ret.subscribed || select.subscribed) {
                    attrs.push("\\Subscribed");
                }
            }
            let _ = write!(cx.out, "* {cmd} ");
            encode::flags(cx.out, &attrs);
            cx.out.extend_from_slice(b" \"/\" ");
            encode::mailbox(cx.out, &f.name, self.utf8());
            if childinfo {
                cx.out.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            cx.out.extend_from_slice(b"\r\n");
            if !ret.status.is_empty() {
                // RFC 5819: STATUS for each listed selectable mailbox.
                if let Ok(st) = self.user_mut().status(&f.name) {
                    self.write_status(cx.out, &f.name, &st, &ret.status);
                }
            }
        }
        tagged(cx.out, tag, "OK", None, &format!("{cmd} completed"));
    }

    fn append(&mut self, tag: &str, mailbox: &str, messages: &[AppendMessage<'_>], cx: &mut Cx<'_>) {
        if messages
            .iter()
            .any(|m| m.flags.iter().any(|f| f == "\\Recent" || f == "\\*"))
        {
            tagged(cx.out, tag, "BAD", None, "\\Recent and \\* cannot be set");
            return;
        }
        let msgs: Vec<NewMessage<'_>> = messages
            .iter()
            .map(|m| NewMessage {
                flags: &m.flags,
                date: m.date,
                data: m.data,
            })
            .collect();
        // RFC 3502: all messages or none.
        let (validity, uids) = match self.user_mut().append_all(mailbox, &msgs) {
            Ok(r) => r,
            Err(StoreError::NoMailbox) => {
                tagged(cx.out, tag, "NO", Some("TRYCREATE"), "Mailbox does not exist");
                return;
            }
            Err(e) => {
                store_no(cx.out, tag, &e, &self.log, "append");
                return;
            }
        };
        if self.sel.as_ref().is_some_and(|s| s.name == mailbox) {
            self.sync(cx.out);
        }
        let mut code = format!("APPENDUID {validity} ").into_bytes();
        encode::seq_set(&mut code, &uids);
        tagged(
            cx.out,
            tag,
            "OK",
            Some(&String::from_utf8_lossy(&code)),
            "APPEND completed",
        );
    }

    fn expunge_responses(&mut self, gone: &[u32], out: &mut Vec<u8>) {
        let Some(sel) = self.sel.as_mut() else {
            return;
        };
        if self.qresync {
            // RFC 7162 §3.2.10: VANISHED replaces EXPUNGE once QRESYNC is enabled.
            let known: Vec<u32> = gone
                .iter()
                .copied()
                .filter(|u| sel.uids.binary_search(u).is_ok())
                .collect();
            if !known.is_empty() {
                out.extend_from_slice(b"* VANISHED ");
                encode::seq_set(out, &known);
                out.extend_from_slice(b"\r\n");
            }
        } else {
            for i in (0..sel.uids.len()).rev() {
                if gone.binary_search(&sel.uids[i]).is_ok() {
                    let _ = write!(out, "* {} EXPUNGE\r\n", i + 1);
                }
            }
        }
        let left: Vec<u32> = sel
            .uids
            .iter()
            .copied()
            .filter(|u| gone.binary_search(u).is_err())
            .collect();
        sel.uids = self.uid_lists.share(&self.username, &sel.name, left);
        sel.saved.retain(|u| gone.binary_search(u).is_err());
    }

    fn expunge(&mut self, tag: &str, uids: Option<&SeqSet>, cx: &mut Cx<'_>) {
        let Some(sel) = &self.sel else { return };
        if sel.read_only {
            tagged(cx.out, tag, "NO", Some("READ-ONLY"), "Mailbox is read-only");
            return;
        }
        let name = sel.name.clone();
        let only = match uids {
            Some(set) => match self.indices(set, true, false) {
                Ok(idx) => Some(self.uids_of(&idx)),
                Err(e) => {
                    tagged(cx.out, tag, "BAD", None, e);
                    return;
                }
            },
            None => None,
        };
        match self.user_mut().expunge(&name, only.as_deref()) {
            Ok(mut gone) => {
                gone.sort_unstable();
                self.expunge_responses(&gone, cx.out);
                tagged(cx.out, tag, "OK", None, "EXPUNGE completed");
            }
            Err(e) => store_no(cx.out, tag, &e, &self.log, "expunge"),
        }
    }

    fn search(
        &mut self,
        tag: &str,
        uid: bool,
        charset: Option<&str>,
        ret: Option<&[SearchReturn]>,
        key: &SearchKey,
        cx: &mut Cx<'_>,
    ) {
        if let Some(cs) = charset {
            if !cs.eq_ignore_ascii_case("UTF-8") && !cs.eq_ignore_ascii_case("US-ASCII") {
                tagged(
                    cx.out,
                    tag,
                    "NO",
                    Some("BADCHARSET (UTF-8 US-ASCII)"),
                    "Unsupported charset",
                );
                return;
            }
        }
        let key = self.rewrite_key(key);
        let Some(name) = self.sel.as_ref().map(|s| s.name.clone()) else {
            return;
        };
        let found = match self.user_mut().search(&name, &key) {
            Ok(f) => f,
            Err(e) => {
                store_no(cx.out, tag, &e, &self.log, "search");
                return;
            }
        };
        // Only messages this session knows about have sequence numbers.
        let found: Vec<u32> = match &self.sel {
            Some(sel) => found
                .into_iter()
                .filter(|u| sel.uids.binary_search(u).is_ok())
                .collect(),
            None => return,
        };
        // RFC 7162 §3.1.5: a MODSEQ criterion enables CONDSTORE and adds the highest
        // mod-sequence of the matches to the response.
        let mut highest = None;
        if uses_modseq(&key) {
            self.condstore = true;
            if !found.is_empty() {
                let mut max = 0;
                let r = self.user_mut().fetch(&name, &found, FetchWant::default(), &mut |m| {
                    max = max.max(m.meta.modseq);
                });
                if let Err(e) = r {
                    store_no(cx.out, tag, &e, &self.log, "search");
                    return;
                }
                highest = Some(max);
            }
        }
        let Some(sel) = self.sel.as_mut() else { return };
        let nums: Vec<u32> = if uid {
            found.clone()
        } else {
            found.iter().filter_map(|&u| sel.msn(u)).collect()
        };
        let opts: Vec<SearchReturn> = match ret {
            Some([]) => vec![SearchReturn::All],
            Some(o) => o.to_vec(),
            None if self.rev2 => vec![SearchReturn::All],
            None => Vec::new(),
        };
        if opts.contains(&SearchReturn::Save) {
            sel.saved = found;
        }
        let out = &mut *cx.out;
        if ret.is_none() && !self.rev2 {
            out.extend_from_slice(b"* SEARCH");
            for n in &nums {
                let _ = write!(out, " {n}");
            }
            if let Some(h) = highest {
                let _ = write!(out, " (MODSEQ {h})");
            }
            out.extend_from_slice(b"\r\n");
        } else if opts != [SearchReturn::Save] {
            // RFC 4731 §3.1 / RFC 9051 §7.3.4
            out.extend_from_slice(b"* ESEARCH (TAG ");
            encode::string(out, tag.as_bytes());
            out.push(b')');
            if uid {
                out.extend_from_slice(b" UID");
            }
            for o in &opts {
                match o {
                    SearchReturn::Min if !nums.is_empty() => {
                        let _ = write!(out, " MIN {}", nums[0]);
                    }
                    SearchReturn::Max if !nums.is_empty() => {
                        let _ = write!(out, " MAX {}", nums[nums.len() - 1]);
                    }
                    SearchReturn::Count => {
                        let _ = write!(out, " COUNT {}", nums.len());
                    }
                    SearchReturn::All if !nums.is_empty() => {
                        out.extend_from_slice(b" ALL ");
                        encode::seq_set(out, &nums);
                    }
                    _ => {}
                }
            }
            if let Some(h) = highest {
                let _ = write!(out, " MODSEQ {h}");
            }
            out.extend_from_slice(b"\r\n");
        }
        tagged(cx.out, tag, "OK", None, "SEARCH completed");
    }

    /// THREAD=REFERENCES (RFC 5256 §4).
    fn thread_references(&mut self, tag: &str, uid: bool, charset: &str, key: &SearchKey, cx: &mut Cx<'_>) {
        if !charset.eq_ignore_ascii_case("UTF-8") && !charset.eq_ignore_ascii_case("US-ASCII") {
            tagged(
                cx.out,
                tag,
                "NO",
                Some("BADCHARSET (UTF-8 US-ASCII)"),
                "Unsupported charset",
            );
            return;
        }
        let key = self.rewrite_key(key);
        let Some(name) = self.sel.as_ref().map(|s| s.name.clone()) else {
            return;
        };
        let found = match self.user_mut().search(&name, &key) {
            Ok(f) => f,
            Err(e) => {
                store_no(cx.out, tag, &e, &self.log, "thread");
                return;
            }
        };
        let found: Vec<u32> = match &self.sel {
            Some(sel) => found
                .into_iter()
                .filter(|u| sel.uids.binary_search(u).is_ok())
                .collect(),
            None => return,
        };
        let want = FetchWant {
            raw: true,
            ..FetchWant::default()
        };
        let mut msgs: Vec<crate::sort::ThreadMsg> = Vec::with_capacity(found.len());
        let r = self.user_mut().fetch(&name, &found, want, &mut |m| {
            let raw: &[u8] = m.raw.as_deref().unwrap_or(b"");
            let t = mime::parse(raw);
            let h = &raw[t.header.clone()];
            let subject = mime::header_value(h, "subject").unwrap_or_default();
            let mut references = mime::header_value(h, "references")
                .map(|v| crate::sort::msg_ids(&v))
                .unwrap_or_default();
            if references.is_empty() {
                references = mime::header_value(h, "in-reply-to")
                    .map(|v| crate::sort::msg_ids(&v))
                    .and_then(|v| v.into_iter().next())
                    .into_iter()
                    .collect();
            }
            let arrival = crate::sort::epoch(&m.meta.internal_date);
            msgs.push(crate::sort::ThreadMsg {
                uid: m.meta.uid,
                date: mime::header_value(h, "date")
                    .and_then(|d| crate::sort::parse_date(&d))
                    .unwrap_or(arrival),
                subject: crate::sort::base_subject(&subject),
                is_reply: crate::sort::subject_is_reply(&subject),
                message_id: mime::header_value(h, "message-id")
                    .and_then(|v| crate::sort::msg_ids(&v).into_iter().next()),
                references,
            });
        });
        if let Err(e) = r {
            store_no(cx.out, tag, &e, &self.log, "thread");
            return;
        }
        let Some(sel) = &self.sel else { return };
        let mut list = Vec::new();
        crate::sort::references(&msgs, |u| if uid { Some(u) } else { sel.msn(u) }, &mut list);
        cx.out.extend_from_slice(b"* THREAD");
        if !list.is_empty() {
            cx.out.push(b' ');
            cx.out.extend_from_slice(&list);
        }
        cx.out.extend_from_slice(b"\r\n");
        tagged(cx.out, tag, "OK", None, "THREAD completed");
    }

    /// SORT (RFC 5256 §3): search, then order the matches by the criteria.
    #[allow(clippy::too_many_arguments)]
    fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: &[SortCriterion],
        charset: &str,
        key: &SearchKey,
        thread: Option<()>,
        cx: &mut Cx<'_>,
    ) {
        if !charset.eq_ignore_ascii_case("UTF-8") && !charset.eq_ignore_ascii_case("US-ASCII") {
            tagged(
                cx.out,
                tag,
                "NO",
                Some("BADCHARSET (UTF-8 US-ASCII)"),
                "Unsupported charset",
            );
            return;
        }
        let key = self.rewrite_key(key);
        let Some(name) = self.sel.as_ref().map(|s| s.name.clone()) else {
            return;
        };
        let found = match self.user_mut().search(&name, &key) {
            Ok(f) => f,
            Err(e) => {
                store_no(cx.out, tag, &e, &self.log, "sort");
                return;
            }
        };
        let found: Vec<u32> = match &self.sel {
            Some(sel) => found
                .into_iter()
                .filter(|u| sel.uids.binary_search(u).is_ok())
                .collect(),
            None => return,
        };
        let want = FetchWant {
            envelope: criteria
                .iter()
                .any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size)),
            ..FetchWant::default()
        };
        let mut rows: Vec<crate::sort::SortRow> = Vec::with_capacity(found.len());
        let r = self.user_mut().fetch(&name, &found, want, &mut |m| {
            let env = match (&m.envelope, &m.raw) {
                (Some(e), _) => e.clone(),
                (None, Some(raw)) if want.envelope => {
                    let t = mime::parse(raw);
                    mime::envelope(&raw[t.header.clone()])
                }
                _ => Default::default(),
            };
            rows.push(crate::sort::SortRow::new(&m.meta, &env));
        });
        if let Err(e) = r {
            store_no(cx.out, tag, &e, &self.log, "sort");
            return;
        }
        let Some(sel) = &self.sel else { return };
        if thread.is_some() {
            // thread-data = "THREAD" [SP 1*thread-list] (RFC 5256 §5)
            let mut list = Vec::new();
            crate::sort::ordered_subject(&mut rows, |u| if uid { Some(u) } else { sel.msn(u) }, &mut list);
            cx.out.extend_from_slice(b"* THREAD");
            if !list.is_empty() {
                cx.out.push(b' ');
                cx.out.extend_from_slice(&list);
            }
            cx.out.extend_from_slice(b"\r\n");
            tagged(cx.out, tag, "OK", None, "THREAD completed");
            return;
        }
        rows.sort_by(|a, b| crate::sort::compare(a, b, criteria));
        cx.out.extend_from_slice(b"* SORT");
        for row in &rows {
            let n = if uid { Some(row.uid) } else { sel.msn(row.uid) };
            if let Some(n) = n {
                let _ = write!(cx.out, " {n}");
            }
        }
        cx.out.extend_from_slice(b"\r\n");
        tagged(cx.out, tag, "OK", None, "SORT completed");
    }

    fn fetch(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SeqSet,
        mut items: Vec<FetchAtt>,
        changed_since: Option<u64>,
        cx: &mut Cx<'_>,
    ) -> Next {
        // RFC 7162 §3.1: CHANGEDSINCE and MODSEQ enable CONDSTORE; CHANGEDSINCE implies MODSEQ.
        if changed_since.is_some() && !items.contains(&FetchAtt::ModSeq) {
            items.push(FetchAtt::ModSeq);
        }
        if items.contains(&FetchAtt::ModSeq) {
            self.condstore = true;
        }
        let idx = match self.indices(set, uid, true) {
            Ok(i) => i,
            Err(e) => {
                tagged(cx.out, tag, "BAD", None, e);
                return Next::Read;
            }
        };
        if uid && !items.contains(&FetchAtt::Uid) {
            items.insert(0, FetchAtt::Uid);
        }
        let read_only = self.sel.as_ref().is_none_or(|s| s.read_only);
        let set_seen = !read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    FetchAtt::BodySection { peek: false, .. }
                        | FetchAtt::Binary { peek: false, .. }
                        | FetchAtt::Rfc822
                        | FetchAtt::Rfc822Text
                )
            });
        if set_seen && !items.contains(&FetchAtt::Flags) {
            items.push(FetchAtt::Flags);
        }
        if set_seen && self.condstore && !items.contains(&FetchAtt::ModSeq) {
            items.push(FetchAtt::ModSeq);
        }
        let want = FetchWant {
            raw: items.iter().any(|i| {
                matches!(
                    i,
                    FetchAtt::BodySection { .. }
                        | FetchAtt::Binary { .. }
                        | FetchAtt::BinarySize { .. }
                        | FetchAtt::Rfc822
                        | FetchAtt::Rfc822Header
                        | FetchAtt::Rfc822Text
                )
            }),
            envelope: items.contains(&FetchAtt::Envelope),
            structure: items
                .iter()
                .any(|i| matches!(i, FetchAtt::Body | FetchAtt::BodyStructure)),
            total: idx.len(),
        };
        self.mode = Mode::Fetch(Box::new(FetchJob {
            tag: tag.to_string(),
            items,
            idx,
            pos: 0,
            want,
            set_seen,
            cte_failed: false,
            changed_since,
        }));
        self.run_fetch(cx)
    }

    /// Produce FETCH responses until done or the output chunk is full.
    fn run_fetch(&mut self, cx: &mut Cx<'_>) -> Next {
        let Mode::Fetch(mut job) = std::mem::replace(&mut self.mode, Mode::Command) else {
            return Next::Read;
        };
        let (Some(sel), Some(user)) = (self.sel.as_ref(), self.user.as_mut()) else {
            return Next::Read;
        };
        while job.pos < job.idx.len() {
            if cx.out.len() >= self.cfg.out_chunk {
                self.mode = Mode::Fetch(job);
                return Next::Write;
            }
            // Metadata-only lines are short: bigger batches, fewer index round trips.
            let meta_only = !(job.want.raw || job.want.envelope || job.want.structure);
            let batch = self.cfg.fetch_batch.max(1) * if meta_only { META_BATCH_FACTOR } else { 1 };
            let end = (job.pos + batch).min(job.idx.len());
            let uids: Vec<u32> = job.idx[job.pos..end].iter().map(|&i| sel.uids[i as usize]).collect();
            job.pos = end;
            if job.set_seen {
                if let Err(e) = user.store_flags(&sel.name, &uids, StoreMode::Add, &["\\Seen".to_string()], None) {
                    warn!(self.log, "setting \\Seen failed"; "event" => "imap.store_error", "error" => %e);
                }
            }
            let out = &mut *cx.out;
            let items = &job.items;
            let cte_failed = &mut job.cte_failed;
            let changed_since = job.changed_since;
            let r = user.fetch(&sel.name, &uids, job.want, &mut |m| {
                if changed_since.is_some_and(|cs| m.meta.modseq <= cs) {
                    return;
                }
                if let Some(msn) = sel.msn(m.meta.uid) {
                    if !write_fetch(out, msn, &m, items) {
                        *cte_failed = true;
                    }
                }
            });
            if let Err(e) = r {
                store_no(cx.out, &job.tag, &e, &self.log, "fetch");
                return Next::Read;
            }
        }
        if job.set_seen {
            // Our own \Seen changes are already shown in the FETCH responses.
            let mine: Vec<u32> = job.idx.iter().map(|&i| sel.uids[i as usize]).collect();
            self.flag_updates(cx.out, |u| mine.binary_search(&u).is_ok());
        }
        if job.cte_failed {
            tagged(
                cx.out,
                &job.tag,
                "NO",
                Some("UNKNOWN-CTE"),
                "Unknown Content-Transfer-Encoding",
            );
        } else {
            tagged(cx.out, &job.tag, "OK", None, "FETCH completed");
        }
        Next::Read
    }

    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SeqSet,
        unchanged_since: Option<u64>,
        mode: StoreMode,
        silent: bool,
        flags: &[String],
        cx: &mut Cx<'_>,
    ) {
        let Some(sel) = &self.sel else { return };
        if sel.read_only {
            tagged(cx.out, tag, "NO", Some("READ-ONLY"), "Mailbox is read-only");
            return;
        }
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let name = sel.name.clone();
        let idx = match self.indices(set, uid, true) {
            Ok(i) => i,
            Err(e) => {
                tagged(cx.out, tag, "BAD", None, e);
                return;
            }
        };
        let uids = self.uids_of(&idx);
        if flags.iter().any(|f| f == "\\*") {
            tagged(cx.out, tag, "BAD", None, "\\* is not a flag");
            return;
        }
        let flags: Vec<String> = flags.iter().filter(|f| *f != "\\Recent").cloned().collect();
        match self.user_mut().store_flags(&name, &uids, mode, &flags, unchanged_since) {
            Ok(outcome) => {
                let condstore = self.condstore;
                if let Some(sel) = &self.sel {
                    for u in &outcome.updated {
                        // With .SILENT, CONDSTORE still reports the new MODSEQ of changed
                        // messages (RFC 7162 §3.1.3).
                        if silent && !(condstore && u.changed) {
                            continue;
                        }
                        let Some(msn) = sel.msn(u.uid) else { continue };
                        let _ = write!(cx.out, "* {msn} FETCH (");
                        if uid || silent {
                            let _ = write!(cx.out, "UID {}", u.uid);
                        }
                        if !silent {
                            if uid {
                                cx.out.push(b' ');
                            }
                            cx.out.extend_from_slice(b"FLAGS ");
                            encode::flags(cx.out, &u.flags);
                        }
                        if condstore {
                            let _ = write!(cx.out, " MODSEQ ({})", u.modseq);
                        }
                        cx.out.extend_from_slice(b")\r\n");
                    }
                }
                // Absorb our own change into the counter; report concurrent ones by others.
                let mine: Vec<u32> = uids;
                self.flag_updates(cx.out, |u| mine.binary_search(&u).is_ok());
                if outcome.modified.is_empty() {
                    tagged(cx.out, tag, "OK", None, "STORE completed");
                } else {
                    let mut nums: Vec<u32> = if uid {
                        outcome.modified.clone()
                    } else {
                        let sel = self.sel.as_ref();
                        outcome
                            .modified
                            .iter()
                            .filter_map(|&u| sel.and_then(|s| s.msn(u)))
                            .collect()
                    };
                    nums.sort_unstable();
                    let mut code = b"MODIFIED ".to_vec();
                    encode::seq_set(&mut code, &nums);
                    tagged(
                        cx.out,
                        tag,
                        "OK",
                        Some(&String::from_utf8_lossy(&code)),
                        "Conditional STORE failed for some messages",
                    );
                }
            }
            Err(e) => store_no(cx.out, tag, &e, &self.log, "store"),
        }
    }

    fn copy_move(&mut self, tag: &str, uid: bool, set: &SeqSet, dest: &str, is_move: bool, cx: &mut Cx<'_>) {
        let Some(sel) = &self.sel else { return };
        if is_move && sel.read_only {
            tagged(cx.out, tag, "NO", Some("READ-ONLY"), "Mailbox is read-only");
            return;
        }
        let name = sel.name.clone();
        let what = if is_move { "MOVE" } else { "COPY" };
        let idx = match self.indices(set, uid, true) {
            Ok(i) => i,
            Err(e) => {
                tagged(cx.out, tag, "BAD", None, e);
                return;
            }
        };
        let uids = self.uids_of(&idx);
        if uids.is_empty() {
            tagged(cx.out, tag, "OK", None, &format!("{what} completed (no messages)"));
            return;
        }
        let r = if is_move {
            self.user_mut().move_messages(&name, &uids, dest)
        } else {
            self.user_mut().copy(&name, &uids, dest)
        };
        match r {
            Ok(res) => {
                let mut code = format!("COPYUID {} ", res.uidvalidity).into_bytes();
                let src: Vec<u32> = res.pairs.iter().map(|p| p.0).collect();
                let dst: Vec<u32> = res.pairs.iter().map(|p| p.1).collect();
                encode::seq_set(&mut code, &src);
                code.push(b' ');
                encode::seq_set(&mut code, &dst);
                let code = String::from_utf8_lossy(&code).into_owned();
                if is_move {
                    // RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs.
                    let _ = write!(cx.out, "* OK [{code}] Moved\r\n");
                    let mut gone = src;
                    gone.sort_unstable();
                    self.expunge_responses(&gone, cx.out);
                    tagged(cx.out, tag, "OK", None, "MOVE completed");
                } else {
                    tagged(cx.out, tag, "OK", Some(&code), "COPY completed");
                }
                if dest == name {
                    self.sync(cx.out);
                }
            }
            Err(StoreError::NoMailbox) => tagged(cx.out, tag, "NO", Some("TRYCREATE"), "Mailbox does not exist"),
            Err(e) => store_no(cx.out, tag, &e, &self.log, what),
        }
    }
}

impl<S: MailStore> ImapSession<S> {
    /// Handle uncompressed input: at most one framing event (one command) per call.
    fn input_plain(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        match self.mode {
            Mode::Done => return (data.len(), Next::Close),
            Mode::Fetch(_) => return (0, Next::Write),
            _ => {}
        }
        let (n, ev) = self.framer.feed(data);
        let next = match ev {
            Frame::Incomplete => Next::Read,
            Frame::Continue => {
                cx.out.extend_from_slice(b"+ Ready for literal data\r\n");
                Next::Read
            }
            Frame::Error(e) => {
                if matches!(self.mode, Mode::Idle { .. }) {
                    cx.idle_timeout = Some(self.cfg.autologout);
                }
                if let Mode::AuthPlain { tag } | Mode::Idle { tag, .. } =
                    std::mem::replace(&mut self.mode, Mode::Command)
                {
                    tagged(cx.out, &tag, "BAD", None, &e.msg);
                } else {
                    self.bad(&e, cx);
                }
                Next::Read
            }
            Frame::Fatal(e) => {
                self.bad(&e, cx);
                cx.out.extend_from_slice(b"* BYE Literal too large\r\n");
                self.deselect();
                self.mode = Mode::Done;
                Next::Close
            }
            Frame::Command => {
                let buf = self.framer.take_command();
                let next = self.handle_frame(&buf, cx);
                self.framer.recycle(buf);
                if next == Next::StartTls {
                    self.framer.reset();
                }
                next
            }
        };
        (n, next)
    }

    fn pushed_plain(&mut self, msg: Push, cx: &mut Cx<'_>) -> Next {
        if msg.downcast_ref::<FolderChanged>().is_some() {
            // Outside IDLE, changes are shown at the next NOOP/CHECK/IDLE (which always
            // resynchronise), where EXPUNGE responses are allowed (RFC 9051 §7.5.1).
            if matches!(self.mode, Mode::Idle { .. }) {
                self.sync(cx.out);
            }
        }
        if matches!(self.mode, Mode::Fetch(_)) {
            Next::Write
        } else if matches!(self.mode, Mode::Done) {
            Next::Close
        } else {
            Next::Read
        }
    }

    /// Run every complete command in the decompressed input (COMPRESS active).
    fn drain_inflated(&mut self, cx: &mut Cx<'_>) -> Next {
        loop {
            if matches!(self.mode, Mode::Fetch(_)) {
                return Next::Write;
            }
            let Some(mut d) = self.deflate.take() else {
                return Next::Read;
            };
            if d.pending().is_empty() {
                self.deflate = Some(d);
                return Next::Read;
            }
            let pending = std::mem::take(&mut d.inbuf);
            let pos = d.inpos;
            self.deflate = Some(d);
            let (n, next) = self.input_plain(&pending[pos..], cx);
            if let Some(d) = self.deflate.as_mut() {
                d.inbuf = pending;
                d.inpos = pos + n;
            }
            if next != Next::Read {
                return next;
            }
            if n == 0 {
                return Next::Read;
            }
        }
    }

    /// Compress what this call wrote (from `start`) when COMPRESS is active.
    fn deflate_since(&mut self, start: usize, out: &mut Vec<u8>) {
        if let Some(d) = self.deflate.as_mut() {
            if out.len() > start {
                let plain = out.split_off(start);
                d.deflate(&plain, out);
            }
        }
    }
}

impl<S: MailStore> Session for ImapSession<S> {
    fn connected(&mut self, cx: &mut Cx<'_>) -> Next {
        let caps = self.caps_code(cx);
        let _ = write!(cx.out, "* OK [{caps}] gromox-rs IMAP service ready\r\n");
        Next::Read
    }

    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        if self.deflate.is_none() {
            return self.input_plain(data, cx);
        }
        let start = cx.out.len();
        let max = (self.cfg.limits.command_max as usize).saturating_add(self.cfg.limits.line_max);
        let ok = self.deflate.as_mut().is_some_and(|d| d.inflate(data, max).is_ok());
        let next = if ok {
            self.drain_inflated(cx)
        } else {
            warn!(self.log, "corrupt compressed input"; "event" => "imap.compress_error");
            cx.out.extend_from_slice(b"* BYE Compression error\r\n");
            self.mode = Mode::Done;
            Next::Close
        };
        self.deflate_since(start, cx.out);
        (data.len(), next)
    }

    fn writable(&mut self, cx: &mut Cx<'_>) -> Next {
        let start = cx.out.len();
        let mut next = if matches!(self.mode, Mode::Fetch(_)) {
            self.run_fetch(cx)
        } else {
            Next::Read
        };
        if next == Next::Read && self.deflate.is_some() {
            // Commands that arrived compressed while the FETCH streamed.
            next = self.drain_inflated(cx);
        }
        self.deflate_since(start, cx.out);
        next
    }

    fn pushed(&mut self, msg: Push, cx: &mut Cx<'_>) -> Next {
        let start = cx.out.len();
        let next = self.pushed_plain(msg, cx);
        self.deflate_since(start, cx.out);
        next
    }

    fn timed_out(&mut self, cx: &mut Cx<'_>) -> Next {
        let start = cx.out.len();
        if let Mode::Idle { since, .. } = &self.mode {
            if since.elapsed() < self.cfg.autologout {
                cx.out.extend_from_slice(b"* OK Still here\r\n");
                self.deflate_since(start, cx.out);
                return Next::Read;
            }
        }
        cx.out.extend_from_slice(b"* BYE Autologout; idle for too long\r\n");
        self.mode = Mode::Done;
        self.deflate_since(start, cx.out);
        Next::Close
    }

    fn closed(&mut self) {
        self.deselect();
        if !self.username.is_empty() {
            debug!(self.log, "session closed"; "event" => "imap.closed", "user" => log_safe(&self.username));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(b64_decode(b"AGJvYgBzZWNyZXQ=").as_deref(), Some(&b"\0bob\0secret"[..]));
        assert_eq!(b64_decode(b"AA=="), Some(vec![0]));
        assert_eq!(b64_decode(b"A==="), None);
        assert_eq!(b64_decode(b"AA==AA=="), None);
        assert_eq!(b64_decode(b"@@@@"), None);
    }

    #[test]
    fn list_patterns() {
        assert!(list_match("*", "a/b/c"));
        assert!(list_match("%", "Sent"));
        assert!(!list_match("%", "a/b"));
        assert!(list_match("a/%", "a/b"));
        assert!(list_match("inbox", "INBOX"));
        assert!(list_match("Inbox/%", "INBOX/x"));
        assert!(!list_match("Sent", "Sent2"));
        assert!(list_match("S*t", "Sent"));
    }
}
