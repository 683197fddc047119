//! midbd: the IMAP/POP3 message index daemon (Gromox's midb), in sans-I/O form.
//!
//! imapd and pop3d see mailboxes through this service: folder names as IMAP shows them, UIDs,
//! UIDVALIDITY, flags and keywords, modseqs (RFC 7162), and the RFC 5322 rendition of each
//! message. The index of a mailbox is `<maildir>/exmdb/midb.sqlite3` ([`index`]); the store is
//! read and written only through exmdb RPC ([`source::StoreSource`],
//! [`exmdb_source::ExmdbSource`]).
//!
//! Synchronisation: every request that touches a folder first probes the store's folder state
//! `(max change number, message count)`; when it differs from what the index recorded, the
//! folder's messages are paged through and diffed (new messages get UIDs and their rendition
//! size, vanished ones are dropped, changed ones re-read their flags). So a delivery that
//! wrote the store directly is visible on the very next request.
//!
//! - [`codec`]: the request parser (fuzzed, `fuzz/`); answers are built with
//!   [`gromox_clients::midb::wire`], shared with the client.
//! - [`Service`]: the open mailboxes (closed after `midb_cache_interval` idle) and the
//!   operations.
//! - [`MidbProtocol`]/[`MidbSession`]: the runtime protocol; results are streamed in chunks
//!   with back-pressure ([`gromox_runtime::Next::Write`]).
//!
//! The protocol is documented in `PROTOCOL.md`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Component, Path};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gromox_base::acl::HostsAllow;
use gromox_base::log::sanitize;
use gromox_clients::midb::{wire, MidbError};
use gromox_runtime::line::{Frame, LineFramer};
use gromox_runtime::{ConnInfo, Cx, Next, Protocol, Session};
use slog::Logger;

pub mod codec;
pub mod exmdb_source;
pub mod index;
pub mod source;

use codec::{parse_request, Request, Uids};
use index::Mailbox;
use source::StoreSource;

/// Errors of midbd operations; each maps to a `FALSE <code>` answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such mailbox")]
    NoMailbox,
    #[error("no such folder")]
    NoFolder,
    #[error("folder exists")]
    Exists,
    #[error("{0}")]
    Denied(String),
    #[error("over quota")]
    Quota,
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The store (exmdb) failed.
    #[error("store: {0}")]
    Store(String),
    /// The index database failed.
    #[error("index: {0}")]
    Db(#[from] rusqlite::Error),
}

impl Error {
    /// The `FALSE` line for this error.
    pub fn answer(&self) -> String {
        let e = match self {
            Error::NoMailbox => MidbError::NoMailbox,
            Error::NoFolder => MidbError::NoFolder,
            Error::Exists => MidbError::Exists,
            Error::Denied(t) => MidbError::Denied(t.clone()),
            Error::Quota => MidbError::Quota,
            Error::BadRequest(t) => MidbError::Protocol(t.clone()),
            Error::Store(_) | Error::Db(_) => MidbError::Server(String::new()),
        };
        let text = match self {
            Error::Store(_) | Error::Db(_) => "internal error, see the midbd log".to_string(),
            e => e.to_string(),
        };
        let text: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        format!("FALSE {} {text}\r\n", wire::error_code(&e))
    }
}

/// Check a maildir named by a client: absolute, no `..`, holding `exmdb/exchange.sqlite3`.
pub fn validate_maildir(maildir: &str) -> Result<(), Error> {
    let p = Path::new(maildir);
    if !p.is_absolute()
        || maildir.len() > 4096
        || p.components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        || maildir.contains(['\0', '\r', '\n'])
    {
        return Err(Error::NoMailbox);
    }
    Ok(())
}

/// [`validate_maildir`] plus: the directory holds an information store.
fn validate_store_dir(maildir: &str) -> Result<(), Error> {
    validate_maildir(maildir)?;
    if !Path::new(maildir).join("exmdb").join("exchange.sqlite3").is_file() {
        return Err(Error::NoMailbox);
    }
    Ok(())
}

type Shared = Arc<Mutex<Mailbox>>;

/// The open mailboxes and the store.
pub struct Service {
    source: Arc<dyn StoreSource>,
    /// Mailboxes must lie under this directory (`state_path`), if set.
    root: Option<std::path::PathBuf>,
    boxes: Mutex<HashMap<String, (Shared, Instant)>>,
    idle: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a mailbox was locked leaves at worst a partly applied SQLite transaction,
    // which SQLite rolled back; the index stays usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records per streamed chunk.
const CHUNK: usize = 1000;

impl Service {
    /// A service over `source`, closing mailboxes idle for `idle`.
    pub fn new(source: Arc<dyn StoreSource>, idle: Duration) -> Service {
        Service {
            source,
            root: None,
            boxes: Mutex::new(HashMap::new()),
            idle,
        }
    }

    /// Accept only mailboxes under `root` (the daemon passes `state_path`).
    pub fn with_root(mut self, root: std::path::PathBuf) -> Self {
        self.root = Some(root);
        self
    }

    /// The open index of a mailbox (opened on demand; idle ones are closed on the way).
    pub fn mailbox(&self, maildir: &str) -> Result<Shared, Error> {
        validate_maildir(maildir)?;
        if let Some(root) = &self.root {
            if !Path::new(maildir).starts_with(root) {
                return Err(Error::NoMailbox);
            }
        }
        let now = Instant::now();
        let mut b = lock(&self.boxes);
        let idle = self.idle;
        b.retain(|_, (m, t)| now.duration_since(*t) < idle || Arc::strong_count(m) > 1);
        if let Some((m, t)) = b.get_mut(maildir) {
            *t = now;
            return Ok(m.clone());
        }
        // Only a mailbox not open yet is checked on disk (a stat per request showed in profiles).
        validate_store_dir(maildir)?;
        let m = Arc::new(Mutex::new(Mailbox::open(maildir)?));
        b.insert(maildir.to_string(), (m.clone(), now));
        Ok(m)
    }

    /// Number of open mailbox indexes.
    pub fn open_count(&self) -> usize {
        lock(&self.boxes).len()
    }

    /// The store source.
    pub fn source(&self) -> &dyn StoreSource {
        &*self.source
    }

    /// Run one request; records and the final line go to `out`. Returns a continuation when
    /// the answer is streamed in chunks.
    pub fn execute(&self, req: &Request, literal: &[u8], out: &mut Vec<u8>) -> Result<Option<Pending>, Error> {
        let src = &*self.source;
        let rec = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(b"* ");
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        let uid_records = |out: &mut Vec<u8>, uids: &[u32]| {
            for c in uids.chunks(CHUNK) {
                rec(out, &wire::encode_uids(c));
            }
        };
        match req {
            Request::Ping => out.extend_from_slice(b"TRUE\r\n"),
            Request::Quit => out.extend_from_slice(b"TRUE\r\n"),
            Request::List { maildir } => {
                let mb = self.mailbox(maildir)?;
                let list = lock(&mb).list(src)?;
                for f in list {
                    let mut s = String::new();
                    wire::encode_folder(&f, &mut s);
                    rec(out, &s);
                }
                out.extend_from_slice(b"TRUE\r\n");
            }
            Request::Status { maildir, folder } => {
                let mb = self.mailbox(maildir)?;
                let mut m = lock(&mb);
                let f = m.open_folder(src, folder)?;
                let mut s = String::from("TRUE ");
                wire::encode_status(&m.status(f)?, &mut s);
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Request::Select { maildir, folder } => {
                let mb = self.mailbox(maildir)?;
                let mut m = lock(&mb);
                let f = m.open_folder(src, folder)?;
                // Sessions selecting an unchanged folder share one encoded answer.
                if let Some(answer) = m.cached_select(f)? {
                    out.extend_from_slice(&answer);
                    return Ok(None);
                }
                let st = m.select_status(f)?;
                let mut answer = Vec::new();
                let mut after = 0;
                loop {
                    let uids = m.uids_after(f, after, 50_000)?;
                    let Some(&last) = uids.last() else { break };
                    after = last;
                    // One record per run of ranges; the client expands them.
                    let set = wire::encode_uids(&uids);
                    for part in set.split(',').collect::<Vec<_>>().chunks(CHUNK) {
                        rec(&mut answer, &part.join(","));
                    }
                }
                let mut s = String::from("TRUE ");
                wire::encode_status(&st, &mut s);
                answer.extend_from_slice(s.as_bytes());
                answer.extend_from_slice(b"\r\n");
                out.extend_from_slice(&answer);
                if st.recent == 0 {
                    m.keep_select(f, std::sync::Arc::new(answer))?;
                }
            }
            Request::FetchMeta {
                maildir,
                folder,
                uids,
                nosync,
            } => {
                let mb = self.mailbox(maildir)?;
                let f = if *nosync {
                    lock(&mb).folder_id(src, folder)?
                } else {
                    lock(&mb).open_folder(src, folder)?
                };
                let p = Pending::Meta {
                    mb,
                    folder: f,
                    uids: uids.clone(),
                    after: 0,
                };
                return Ok(Some(p));
            }
            Request::FetchMime { maildir, folder, uid } => {
                let mb = self.mailbox(maildir)?;
                let mut m = lock(&mb);
                // A UID the index knows needs no store probe (the client learned it from an
                // earlier, synchronised answer); an unknown one may have arrived since: sync.
                let f = m.folder_id(src, folder)?;
                let found = match m.fetch_mime(src, f, *uid)? {
                    Some(b) => Some(b),
                    None => {
                        let f = m.open_folder(src, folder)?;
                        m.fetch_mime(src, f, *uid)?
                    }
                };
                match found {
                    None => out.extend_from_slice(b"TRUE NIL\r\n"),
                    Some(b) => {
                        out.extend_from_slice(format!("TRUE {{{}}}\r\n", b.len()).as_bytes());
                        out.extend_from_slice(&b);
                    }
                }
            }
            Request::SetFlags {
                maildir,
                folder,
                uids,
                mode,
                flags,
            } => {
                let mb = self.mailbox(maildir)?;
                let mut m = lock(&mb);
                let f = m.open_folder(src, folder)?;
                for meta in m.set_flags(src, f, uids, *mode, flags)? {
                    let mut s = String::new();
                    wire::encode_meta(&meta, &mut s);
                    rec(out, &s);
                }
                out.extend_from_slice(b"TRUE\r\n");
            }
            Request::Vanished {
                maildir,
                folder,
                modseq,
            } => {
                let mb = self.mailbox(maildir)?;
                let mut m = lock(&mb);
                let f = m.open_folder(src, folder)?;
                uid_records(out, &m.vanished_since(f, *modseq)?);
                out.extend_from_slice(b"TRUE\r\n");
            }
            Request::Quota { maildir } => {
                // Checked like any mailbox request, though the answer comes from the store.
                let _mb = self.mailbox(maildir)?;
                match src.quota(maildir).map_err(index::src_err)? {
                    Some((used, limit)) => out.extend_from_slice(format!("TRUE {used} {limit}\r\n").as_bytes()),
                    None => out.extend_from_slice(b"TRUE NIL\r\n"),
                }
            }
            Request::Rights { maildir, user } => {
                let _mb = self.mailbox(maildir)?;
                let r = src.mailbox_rights(maildir, user).map_err(index::src_err)?;
                out.extend_from_slice(format!("TRUE {r}\r\n").as_bytes());
            }
            Request::Changes {
                maildir,
                folder,
                modseq,
            } => {
                let mb = self.mailbox(maildir)?;
                let mut m = lock(&mb);
                let f = m.open_folder(src, folder)?;
                let (hi, v) = m.changes_since(f, *modseq)?;
                for meta in v {
                    let mut s = String::new();
                    wire::encode_meta(&meta, &mut s);
                    rec(out, &s);
                }
                out.extend_from_slice(format!("TRUE {hi}\r\n").as_bytes());
            }
            Request::Expunge { maildir, folder, uids } => {
                let mb = self.mailbox(maildir)?;
                let mut m = lock(&mb);
                let f = m.open_folder(src, folder)?;
                let all: Uids = vec![(1, u32::MAX)];
                let removed = m.remove(src, f, uids.as_deref().unwrap_or(&all), true)?;
                uid_records(out, &removed);
                out.extend_from_slice(b"TRUE\r\n");
            }
            Request::Remove { maildir, folder, uids } => {
                let mb = self.mailbox(maildir)?;
                let mut m = lock(&mb);
                let f = m.open_folder(src, folder)?;
                let removed = m.remove(src, f, uids, false)?;
                uid_records(out, &removed);
                out.extend_from_slice(b"TRUE\r\n");
            }
            Request::Copy {
                maildir,
                folder,
                uids,
                dest,
                is_move,
            } => {
                let mb = self.mailbox(maildir)?;
                let mut m = lock(&mb);
                let f = m.open_folder(src, folder)?;
                let d = m.open_folder(src, dest)?;
                let (v, pairs) = if f == d && !is_move {
                    m.copy(src, f, uids, d, false)?
                } else if f == d {
                    return Err(Error::Denied("source and destination are the same folder".into()));
                } else {
                    m.copy(src, f, uids, d, *is_move)?
                };
                for (a, b) in pairs {
                    rec(out, &format!("{a} {b}"));
                }
                out.extend_from_slice(format!("TRUE {v}\r\n").as_bytes());
            }
            Request::Append {
                maildir,
                folder,
                date,
                flags,
                ..
            } => {
                let mb = self.mailbox(maildir)?;
                let mut m = lock(&mb);
                let f = m.open_folder(src, folder)?;
                let date = date.unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64)
                });
                let (v, u) = m.append(src, f, flags, date, literal)?;
                out.extend_from_slice(format!("TRUE {v} {u}\r\n").as_bytes());
            }
            Request::Create { maildir, folder } => {
                let mb = self.mailbox(maildir)?;
                lock(&mb).create(src, folder)?;
                out.extend_from_slice(b"TRUE\r\n");
            }
            Request::Delete { maildir, folder } => {
                let mb = self.mailbox(maildir)?;
                lock(&mb).delete(src, folder)?;
                out.extend_from_slice(b"TRUE\r\n");
            }
            Request::Rename { maildir, from, to } => {
                let mb = self.mailbox(maildir)?;
                lock(&mb).rename(src, from, to)?;
                out.extend_from_slice(b"TRUE\r\n");
            }
            Request::Subscribe { maildir, folder, on } => {
                let mb = self.mailbox(maildir)?;
                lock(&mb).subscribe(src, folder, *on)?;
                out.extend_from_slice(b"TRUE\r\n");
            }
            Request::Rebuild { maildir } => {
                let mb = self.mailbox(maildir)?;
                lock(&mb).rebuild(src)?;
                out.extend_from_slice(b"TRUE\r\n");
            }
        }
        Ok(None)
    }
}

/// A streamed answer in progress.
pub enum Pending {
    /// FETCH-META: records of UIDs above `after` still to send.
    Meta {
        mb: Shared,
        folder: u64,
        uids: Uids,
        after: u32,
    },
}

impl Pending {
    /// Write the next chunk; `Ok(true)` when the answer is complete (final line written).
    pub fn step(&mut self, out: &mut Vec<u8>) -> Result<bool, Error> {
        match self {
            Pending::Meta {
                mb,
                folder,
                uids,
                after,
            } => {
                let v = lock(mb).meta(*folder, uids, *after, CHUNK)?;
                let mut s = String::new();
                for m in &v {
                    s.clear();
                    wire::encode_meta(m, &mut s);
                    out.extend_from_slice(b"* ");
                    out.extend_from_slice(s.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                match v.last() {
                    Some(m) if v.len() == CHUNK => {
                        *after = m.uid;
                        Ok(false)
                    }
                    _ => {
                        out.extend_from_slice(b"TRUE\r\n");
                        Ok(true)
                    }
                }
            }
        }
    }
}

/// The midb protocol: service, access list, logger.
pub struct MidbProtocol {
    service: Arc<Service>,
    acl: std::sync::RwLock<HostsAllow>,
    metrics: Arc<gromox_runtime::Registry>,
    log: Logger,
}

impl MidbProtocol {
    /// A protocol instance.
    pub fn new(service: Arc<Service>, acl: HostsAllow, log: Logger) -> Self {
        MidbProtocol {
            service,
            acl: std::sync::RwLock::new(acl),
            metrics: Arc::default(),
            log,
        }
    }

    /// Record commands into `m`.
    pub fn with_metrics(mut self, m: Arc<gromox_runtime::Registry>) -> Self {
        self.metrics = m;
        self
    }

    /// Replace the access list (SIGHUP).
    pub fn set_acl(&self, acl: HostsAllow) {
        *self.acl.write().unwrap_or_else(|p| p.into_inner()) = acl;
    }
}

impl Protocol for MidbProtocol {
    type Session = MidbSession;

    fn accept(&self, info: &ConnInfo) -> MidbSession {
        MidbSession {
            service: self.service.clone(),
            metrics: self.metrics.clone(),
            log: self.log.clone(),
            peer: info.peer,
            allowed: self
                .acl
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .allows(info.peer.ip()),
            framer: LineFramer::default(),
            pending: None,
        }
    }

    fn busy_reply(&self) -> &[u8] {
        b"FALSE SERVER maximum number of connections reached\r\n"
    }
}

/// One client connection.
pub struct MidbSession {
    service: Arc<Service>,
    metrics: Arc<gromox_runtime::Registry>,
    log: Logger,
    peer: SocketAddr,
    allowed: bool,
    framer: LineFramer<{ codec::MAX_LINE }>,
    pending: Option<Pending>,
}

impl MidbSession {
    fn fail(&self, req: Option<&Request>, e: &Error, out: &mut Vec<u8>) {
        let cmd = req.map_or("-", Request::name);
        match e {
            Error::Store(_) | Error::Db(_) => {
                slog::error!(self.log, "request failed"; "event" => "midb.failed", "peer" => self.peer.to_string(),
                    "command" => cmd, "error" => e.to_string())
            }
            _ => slog::debug!(self.log, "request refused"; "event" => "midb.refused", "peer" => self.peer.to_string(),
                "command" => cmd, "error" => e.to_string()),
        }
        out.extend_from_slice(e.answer().as_bytes());
    }

    /// Run a request, catching a panic so a bug answers an error instead of killing the worker.
    fn run(&mut self, req: &Request, literal: &[u8], out: &mut Vec<u8>) -> Next {
        let start = Instant::now();
        let svc = self.service.clone();
        let mark = out.len();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| svc.execute(req, literal, out)));
        let outcome = if matches!(r, Ok(Ok(_))) { "ok" } else { "error" };
        self.metrics.request(req.name(), outcome, start.elapsed());
        match r {
            Ok(Ok(None)) => Next::Read,
            Ok(Ok(Some(p))) => {
                self.pending = Some(p);
                self.continue_pending(out)
            }
            Ok(Err(e)) => {
                out.truncate(mark);
                self.fail(Some(req), &e, out);
                Next::Read
            }
            Err(_) => {
                out.truncate(mark);
                self.fail(Some(req), &Error::Store("internal error (panic)".into()), out);
                Next::Read
            }
        }
    }

    fn continue_pending(&mut self, out: &mut Vec<u8>) -> Next {
        let Some(p) = self.pending.as_mut() else {
            return Next::Read;
        };
        match p.step(out) {
            Ok(true) => {
                self.pending = None;
                Next::Read
            }
            Ok(false) => Next::Write,
            Err(e) => {
                // Records were sent already: the error ends the answer in place of TRUE.
                self.pending = None;
                self.fail(None, &e, out);
                Next::Read
            }
        }
    }
}

impl Session for MidbSession {
    fn connected(&mut self, cx: &mut Cx<'_>) -> Next {
        if !self.allowed {
            slog::warn!(self.log, "connection refused by midb_hosts_allow"; "event" => "conn.denied",
                "peer" => self.peer.to_string());
            cx.out.extend_from_slice(b"FALSE DENIED access denied\r\n");
            return Next::Close;
        }
        cx.out.extend_from_slice(b"OK midbd\r\n");
        Next::Read
    }

    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        let mut used = 0;
        loop {
            if self.pending.is_some() {
                return (used, Next::Write);
            }
            let (frame, n) = self.framer.next(&data[used..]);
            match frame {
                None => return (used + n, Next::Read),
                Some(Frame::TooLong) => {
                    used += n;
                    self.fail(None, &Error::BadRequest("request line too long".into()), cx.out);
                }
                Some(Frame::Line(line)) => {
                    let req = match parse_request(line) {
                        Ok(r) => r,
                        Err(e) => {
                            used += n;
                            slog::debug!(self.log, "bad request"; "line" => sanitize(&String::from_utf8_lossy(&line[..line.len().min(120)])));
                            self.fail(None, &Error::BadRequest(e), cx.out);
                            continue;
                        }
                    };
                    let literal: &[u8] = if let Request::Append { len, .. } = req {
                        let rest = &data[used + n..];
                        if rest.len() < len {
                            // Wait for the whole literal (the line is parsed again then).
                            return (used, Next::Read);
                        }
                        &rest[..len]
                    } else {
                        &[]
                    };
                    used += n + literal.len();
                    if req == Request::Quit {
                        cx.out.extend_from_slice(b"TRUE\r\n");
                        return (used, Next::Close);
                    }
                    if self.run(&req, literal, cx.out) == Next::Write {
                        return (used, Next::Write);
                    }
                }
            }
        }
    }

    fn writable(&mut self, cx: &mut Cx<'_>) -> Next {
        self.continue_pending(cx.out)
    }
}
