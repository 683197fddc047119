//! Client of midbd, the IMAP/POP3 message index daemon (protocol: `midbd/PROTOCOL.md`).
//!
//! [`MidbClient`] keeps a small pool of connections to one midbd; a pooled connection the
//! server closed while idle is detected before reuse and replaced, so a request is never sent
//! twice. Every call has a read/write timeout. Multi-record answers (`fetch_meta`, `select`,
//! `changes_since`, …) are read record by record from the socket; [`MidbClient::fetch_meta`]
//! hands each record to a callback and never holds the whole answer. Long UID lists are sent
//! in batches of at most [`MAX_UIDS_PER_REQUEST`] UIDs, so request lines stay bounded.
//!
//! The wire helpers in [`wire`] (argument encoding, UID sets, record parsers) are shared with
//! the server.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Gromox's store-owner permission bit (frightsGromoxStoreOwner), as `RIGHTS` reports it.
pub const STORE_OWNER_RIGHT: u32 = 0x2000;

/// Most UIDs one request carries; longer lists are split into several requests.
pub const MAX_UIDS_PER_REQUEST: usize = 10_000;

/// Client settings.
#[derive(Debug, Clone)]
pub struct MidbOptions {
    /// Connect timeout and read/write timeout of each step of a call.
    pub timeout: Duration,
    /// Most idle connections kept in the pool.
    pub max_idle: usize,
}

impl Default for MidbOptions {
    fn default() -> Self {
        MidbOptions {
            timeout: Duration::from_secs(60),
            max_idle: 8,
        }
    }
}

/// Errors of the midb client.
#[derive(Debug, thiserror::Error)]
pub enum MidbError {
    /// Connect/read/write failed or timed out.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The answer does not parse (or the server called our request malformed).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The maildir is unknown or invalid.
    #[error("no such mailbox")]
    NoMailbox,
    /// The folder does not exist.
    #[error("no such folder")]
    NoFolder,
    /// The CREATE/RENAME target exists.
    #[error("folder exists")]
    Exists,
    /// Not allowed (e.g. deleting INBOX or a special folder).
    #[error("denied: {0}")]
    Denied(String),
    /// The store is over quota.
    #[error("over quota")]
    Quota,
    /// Any other server-side failure.
    #[error("server error: {0}")]
    Server(String),
}

/// How [`MidbClient::set_flags`] applies the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagMode {
    /// Replace the flags (IMAP `FLAGS`).
    Set,
    /// Add the flags (`+FLAGS`).
    Add,
    /// Remove the flags (`-FLAGS`).
    Remove,
}

impl FlagMode {
    /// The protocol spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagMode::Set => "SET",
            FlagMode::Add => "ADD",
            FlagMode::Remove => "REMOVE",
        }
    }

    /// Parse the protocol spelling.
    pub fn parse(s: &str) -> Option<FlagMode> {
        match s {
            "SET" => Some(FlagMode::Set),
            "ADD" => Some(FlagMode::Add),
            "REMOVE" => Some(FlagMode::Remove),
            _ => None,
        }
    }
}

/// A mail folder as IMAP shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MidbFolder {
    /// `INBOX`, `Sent Items`, `Archive/2024`.
    pub name: String,
    /// RFC 6154 special use: `\Sent`, `\Trash`, `\Junk`, `\Drafts`.
    pub special_use: Option<&'static str>,
    pub subscribed: bool,
    pub has_children: bool,
}

/// Counters of one folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MidbStatus {
    pub messages: u32,
    pub recent: u32,
    pub unseen: u32,
    pub uidnext: u32,
    pub uidvalidity: u32,
    /// Total octets of the renditions.
    pub size: u64,
    pub deleted: u32,
    pub deleted_size: u64,
    pub highest_modseq: u64,
    /// UID of the first unseen message.
    pub first_unseen: Option<u32>,
    /// Keywords in use in the folder.
    pub keywords: Vec<String>,
}

/// Metadata of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MidbMessage {
    pub uid: u32,
    /// System flags first, then keywords.
    pub flags: Vec<String>,
    /// Unix seconds (delivery time).
    pub internal_date: i64,
    /// Octets of the RFC 5322 rendition.
    pub size: u64,
    pub modseq: u64,
}

/// Encoding and parsing of the midb protocol's lines, shared by client and server.
pub mod wire {
    use super::{MidbError, MidbFolder, MidbMessage, MidbStatus};

    /// Percent-encode one argument: bytes outside `!`..`~` (space, controls, non-ASCII) and
    /// `%` become `%XX`; the empty string is `%-`, so an argument is never empty.
    pub fn encode_arg(s: &str, out: &mut String) {
        if s.is_empty() {
            out.push_str("%-");
            return;
        }
        for &b in s.as_bytes() {
            if b > b' ' && b < 0x7f && b != b'%' {
                out.push(b as char);
            } else {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }

    const HEX: &[u8; 16] = b"0123456789ABCDEF";

    /// The encoded form of one argument.
    pub fn enc(s: &str) -> String {
        let mut o = String::with_capacity(s.len());
        encode_arg(s, &mut o);
        o
    }

    /// Decode one argument ([`encode_arg`]); `%-` is the empty string.
    pub fn decode_arg(s: &str) -> Result<String, String> {
        if s == "%-" {
            return Ok(String::new());
        }
        if s.is_empty() {
            return Err("empty argument".into());
        }
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let h = b.get(i + 1..i + 3).ok_or("truncated %-escape")?;
                let v = hexval(h[0]).zip(hexval(h[1])).ok_or("bad %-escape")?;
                out.push(v.0 << 4 | v.1);
                i += 3;
            } else if b[i] > b' ' && b[i] < 0x7f {
                out.push(b[i]);
                i += 1;
            } else {
                return Err("unencoded byte in argument".into());
            }
        }
        String::from_utf8(out).map_err(|_| "argument is not UTF-8".into())
    }

    fn hexval(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }

    /// A UID set: ascending UIDs as `1:5,7,9:12` (IMAP sequence-set syntax, no `*`).
    /// `uids` need not be sorted; duplicates collapse. An empty list is `-`.
    pub fn encode_uids(uids: &[u32]) -> String {
        let mut v = uids.to_vec();
        v.sort_unstable();
        v.dedup();
        if v.is_empty() {
            return "-".into();
        }
        let mut out = String::new();
        let mut i = 0;
        while i < v.len() {
            let start = v[i];
            let mut end = start;
            while i + 1 < v.len() && v[i + 1] == end + 1 {
                i += 1;
                end = v[i];
            }
            if !out.is_empty() {
                out.push(',');
            }
            if start == end {
                out.push_str(&start.to_string());
            } else {
                out.push_str(&format!("{start}:{end}"));
            }
            i += 1;
        }
        out
    }

    /// Most ranges a UID set may hold.
    pub const MAX_RANGES: usize = 100_000;

    /// Parse a UID set into ascending, non-overlapping inclusive ranges.
    pub fn parse_uids(s: &str) -> Result<Vec<(u32, u32)>, String> {
        if s == "-" {
            return Ok(Vec::new());
        }
        let mut r: Vec<(u32, u32)> = Vec::new();
        for part in s.split(',') {
            if r.len() >= MAX_RANGES {
                return Err("too many ranges".into());
            }
            let (a, b) = match part.split_once(':') {
                Some((a, b)) => (num::<u32>(a)?, num::<u32>(b)?),
                None => {
                    let a: u32 = num(part)?;
                    (a, a)
                }
            };
            if a == 0 || b == 0 {
                return Err("UID 0".into());
            }
            r.push((a.min(b), a.max(b)));
        }
        r.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(r.len());
        for (a, b) in r {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Ok(merged)
    }

    fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("not a number: {}", &s[..s.len().min(20)]));
        }
        s.parse()
            .map_err(|_| format!("number out of range: {}", &s[..s.len().min(20)]))
    }

    fn inum(s: &str) -> Result<i64, String> {
        let (neg, d) = match s.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, s),
        };
        let v: i64 = num(d)?;
        Ok(if neg { -v } else { v })
    }

    /// A message record: `uid internal_date size modseq [flag ...]`.
    pub fn encode_meta(m: &MidbMessage, out: &mut String) {
        out.push_str(&format!("{} {} {} {}", m.uid, m.internal_date, m.size, m.modseq));
        for f in &m.flags {
            out.push(' ');
            encode_arg(f, out);
        }
    }

    /// Parse a message record ([`encode_meta`]).
    pub fn parse_meta(s: &str) -> Result<MidbMessage, String> {
        let mut it = s.split(' ');
        let mut next = || it.next().ok_or_else(|| "short message record".to_string());
        let uid = num(next()?)?;
        let internal_date = inum(next()?)?;
        let size = num(next()?)?;
        let modseq = num(next()?)?;
        let flags = it.map(decode_arg).collect::<Result<Vec<_>, _>>()?;
        Ok(MidbMessage {
            uid,
            flags,
            internal_date,
            size,
            modseq,
        })
    }

    /// A status record: `messages recent unseen uidnext uidvalidity size deleted deleted_size
    /// highest_modseq first_unseen(0 = none) [keyword ...]`.
    pub fn encode_status(st: &MidbStatus, out: &mut String) {
        out.push_str(&format!(
            "{} {} {} {} {} {} {} {} {} {}",
            st.messages,
            st.recent,
            st.unseen,
            st.uidnext,
            st.uidvalidity,
            st.size,
            st.deleted,
            st.deleted_size,
            st.highest_modseq,
            st.first_unseen.unwrap_or(0)
        ));
        for k in &st.keywords {
            out.push(' ');
            encode_arg(k, out);
        }
    }

    /// Parse a status record ([`encode_status`]).
    pub fn parse_status(s: &str) -> Result<MidbStatus, String> {
        let mut it = s.split(' ');
        let mut next = || it.next().ok_or_else(|| "short status record".to_string());
        let st = MidbStatus {
            messages: num(next()?)?,
            recent: num(next()?)?,
            unseen: num(next()?)?,
            uidnext: num(next()?)?,
            uidvalidity: num(next()?)?,
            size: num(next()?)?,
            deleted: num(next()?)?,
            deleted_size: num(next()?)?,
            highest_modseq: num(next()?)?,
            first_unseen: Some(num::<u32>(next()?)?).filter(|&u| u != 0),
            keywords: Vec::new(),
        };
        let keywords = it.map(decode_arg).collect::<Result<Vec<_>, _>>()?;
        Ok(MidbStatus { keywords, ..st })
    }

    /// The special-use attributes midbd reports.
    pub const SPECIAL_USES: [&str; 4] = ["\\Sent", "\\Trash", "\\Junk", "\\Drafts"];

    /// A folder record: `name special-use|- subscribed(0|1) has_children(0|1)`.
    pub fn encode_folder(f: &MidbFolder, out: &mut String) {
        encode_arg(&f.name, out);
        out.push_str(&format!(
            " {} {} {}",
            f.special_use.unwrap_or("-"),
            u8::from(f.subscribed),
            u8::from(f.has_children)
        ));
    }

    /// Parse a folder record ([`encode_folder`]).
    pub fn parse_folder(s: &str) -> Result<MidbFolder, String> {
        let p: Vec<&str> = s.split(' ').collect();
        let [name, su, sub, ch] = p[..] else {
            return Err("bad folder record".into());
        };
        let special_use = match su {
            "-" => None,
            x => Some(
                *SPECIAL_USES
                    .iter()
                    .find(|&&k| k == x)
                    .ok_or_else(|| format!("unknown special use {}", &x[..x.len().min(20)]))?,
            ),
        };
        let flag = |x: &str| match x {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err("bad folder record".to_string()),
        };
        Ok(MidbFolder {
            name: decode_arg(name)?,
            special_use,
            subscribed: flag(sub)?,
            has_children: flag(ch)?,
        })
    }

    /// Error codes of `FALSE <code> <text>` answers.
    pub fn error_code(e: &MidbError) -> &'static str {
        match e {
            MidbError::Io(_) | MidbError::Server(_) => "SERVER",
            MidbError::Protocol(_) => "PROTOCOL",
            MidbError::NoMailbox => "NOMAILBOX",
            MidbError::NoFolder => "NOFOLDER",
            MidbError::Exists => "EXISTS",
            MidbError::Denied(_) => "DENIED",
            MidbError::Quota => "QUOTA",
        }
    }

    /// Parse a final answer line: `TRUE [args]` gives the args, `FALSE <code> [text]` the
    /// error it stands for.
    pub fn parse_final(line: &str) -> Result<Result<&str, MidbError>, String> {
        if line == "TRUE" {
            return Ok(Ok(""));
        }
        if let Some(rest) = line.strip_prefix("TRUE ") {
            return Ok(Ok(rest));
        }
        let Some(rest) = line.strip_prefix("FALSE ") else {
            return Err(format!("unexpected answer: {}", &line[..line.len().min(80)]));
        };
        let (code, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let text = text.to_string();
        Ok(Err(match code {
            "NOMAILBOX" => MidbError::NoMailbox,
            "NOFOLDER" => MidbError::NoFolder,
            "EXISTS" => MidbError::Exists,
            "DENIED" => MidbError::Denied(text),
            "QUOTA" => MidbError::Quota,
            "PROTOCOL" => MidbError::Protocol(text),
            _ => MidbError::Server(text),
        }))
    }
}

use wire::{enc, encode_uids};

/// A pooled client of one midbd. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct MidbClient {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    opts: MidbOptions,
    pool: Mutex<Vec<Conn>>,
}

struct Conn {
    r: BufReader<TcpStream>,
    line: Vec<u8>,
}

/// Longest answer line accepted (records are short; this only bounds a misbehaving server).
const MAX_LINE: usize = 1 << 20;

impl Conn {
    fn alive(&self) -> bool {
        if !self.r.buffer().is_empty() {
            return false;
        }
        let s = self.r.get_ref();
        if s.set_nonblocking(true).is_err() {
            return false;
        }
        let mut b = [0u8; 1];
        let ok = matches!(s.peek(&mut b), Err(e) if e.kind() == ErrorKind::WouldBlock);
        ok && s.set_nonblocking(false).is_ok()
    }

    fn send(&mut self, data: &[u8]) -> Result<(), MidbError> {
        self.r.get_mut().write_all(data)?;
        Ok(())
    }

    /// Read one line (without CRLF) into `self.line`; returns it as str.
    fn read_line(&mut self) -> Result<&str, MidbError> {
        self.line.clear();
        let n = (&mut self.r)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut self.line)?;
        if n == 0 {
            return Err(MidbError::Io(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed by midbd",
            )));
        }
        if self.line.last() != Some(&b'\n') {
            return Err(MidbError::Protocol("answer line too long or truncated".into()));
        }
        self.line.pop();
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        std::str::from_utf8(&self.line).map_err(|_| MidbError::Protocol("answer is not UTF-8".into()))
    }

    /// Read `* ` records (each given to `rec`) up to the final line; returns the final args.
    fn reply(&mut self, rec: &mut dyn FnMut(&str) -> Result<(), MidbError>) -> Result<String, MidbError> {
        loop {
            let line = self.read_line()?;
            if let Some(r) = line.strip_prefix("* ") {
                // Copy out so the record parser may not borrow the connection buffer.
                let r = r.to_string();
                rec(&r)?;
                continue;
            }
            return match wire::parse_final(line).map_err(MidbError::Protocol)? {
                Ok(args) => Ok(args.to_string()),
                Err(e) => Err(Failed(e).into()),
            };
        }
    }
}

/// A server-side `FALSE` answer: the connection is still in sync and can be pooled.
struct Failed(MidbError);

impl From<Failed> for MidbError {
    fn from(f: Failed) -> MidbError {
        f.0
    }
}

fn proto_err(e: String) -> MidbError {
    MidbError::Protocol(e)
}

fn is_server_answer(e: &MidbError) -> bool {
    !matches!(e, MidbError::Io(_) | MidbError::Protocol(_))
}

impl MidbClient {
    /// A client of the midbd at `addr`. Connections are opened on demand.
    pub fn new(addr: SocketAddr, opts: MidbOptions) -> MidbClient {
        MidbClient {
            inner: Arc::new(Inner {
                addr,
                opts,
                pool: Mutex::new(Vec::new()),
            }),
        }
    }

    fn connect(&self) -> Result<Conn, MidbError> {
        let t = self.inner.opts.timeout;
        let s = TcpStream::connect_timeout(&self.inner.addr, t)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(t))?;
        s.set_write_timeout(Some(t))?;
        let mut c = Conn {
            r: BufReader::with_capacity(64 * 1024, s),
            line: Vec::new(),
        };
        let greet = c.read_line()?;
        if greet == "OK" || greet.starts_with("OK ") {
            Ok(c)
        } else {
            match wire::parse_final(greet) {
                Ok(Err(e)) => Err(e),
                _ => Err(MidbError::Protocol(format!(
                    "bad greeting: {}",
                    &greet[..greet.len().min(80)]
                ))),
            }
        }
    }

    /// Run `f` on a pooled (or new) connection; the connection goes back to the pool unless
    /// the exchange broke (I/O or protocol error), so it never carries a half-read answer.
    fn with_conn<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, MidbError>) -> Result<T, MidbError> {
        let pooled = {
            let mut p = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
            let mut found = None;
            while let Some(c) = p.pop() {
                if c.alive() {
                    found = Some(c);
                    break;
                }
            }
            found
        };
        let mut c = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        let r = f(&mut c);
        let keep = match &r {
            Ok(_) => true,
            Err(e) => is_server_answer(e),
        };
        if keep {
            let mut p = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
            if p.len() < self.inner.opts.max_idle {
                p.push(c);
            }
        }
        r
    }

    /// One request line, records to `rec`, final args returned.
    fn request(&self, line: String, rec: &mut dyn FnMut(&str) -> Result<(), MidbError>) -> Result<String, MidbError> {
        self.with_conn(|c| {
            c.send(format!("{line}\r\n").as_bytes())?;
            c.reply(rec)
        })
    }

    fn simple(&self, line: String) -> Result<String, MidbError> {
        self.request(line, &mut |r| {
            Err(proto_err(format!("unexpected record {}", &r[..r.len().min(40)])))
        })
    }

    /// `PING`.
    pub fn ping(&self) -> Result<(), MidbError> {
        self.simple("PING".into()).map(drop)
    }

    /// Every mail folder under IPM_SUBTREE, INBOX first.
    pub fn list_folders(&self, maildir: &str) -> Result<Vec<MidbFolder>, MidbError> {
        let mut v = Vec::new();
        self.request(format!("LIST {}", enc(maildir)), &mut |r| {
            v.push(wire::parse_folder(r).map_err(proto_err)?);
            Ok(())
        })?;
        Ok(v)
    }

    /// Counters of one folder (synchronised with the store first).
    pub fn status(&self, maildir: &str, folder: &str) -> Result<MidbStatus, MidbError> {
        let a = self.simple(format!("STATUS {} {}", enc(maildir), enc(folder)))?;
        wire::parse_status(&a).map_err(proto_err)
    }

    /// Counters plus every UID ascending, one snapshot.
    pub fn select(&self, maildir: &str, folder: &str) -> Result<(MidbStatus, Vec<u32>), MidbError> {
        let mut uids = Vec::new();
        let a = self.request(format!("SELECT {} {}", enc(maildir), enc(folder)), &mut |r| {
            for (a, b) in wire::parse_uids(r).map_err(proto_err)? {
                uids.extend(a..=b);
            }
            Ok(())
        })?;
        Ok((wire::parse_status(&a).map_err(proto_err)?, uids))
    }

    /// Metadata of the messages with these UIDs, streamed to `sink` in UID order.
    pub fn fetch_meta(
        &self,
        maildir: &str,
        folder: &str,
        uids: &[u32],
        sink: &mut dyn FnMut(MidbMessage),
    ) -> Result<(), MidbError> {
        self.fetch_meta_opt(maildir, folder, uids, true, sink)
    }

    /// [`MidbClient::fetch_meta`]; with `sync == false` midbd answers from its index without
    /// probing the store (`NOSYNC`), for a caller that synchronised the folder a moment ago.
    pub fn fetch_meta_opt(
        &self,
        maildir: &str,
        folder: &str,
        uids: &[u32],
        sync: bool,
        sink: &mut dyn FnMut(MidbMessage),
    ) -> Result<(), MidbError> {
        let opt = if sync { "" } else { " NOSYNC" };
        let mut sorted = uids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        for chunk in sorted.chunks(MAX_UIDS_PER_REQUEST) {
            self.request(
                format!(
                    "FETCH-META {} {} {}{opt}",
                    enc(maildir),
                    enc(folder),
                    encode_uids(chunk)
                ),
                &mut |r| {
                    sink(wire::parse_meta(r).map_err(proto_err)?);
                    Ok(())
                },
            )?;
        }
        Ok(())
    }

    /// The RFC 5322 rendition of one message, appended to `out`; `Ok(false)` if the UID does
    /// not exist.
    pub fn fetch_mime(&self, maildir: &str, folder: &str, uid: u32, out: &mut Vec<u8>) -> Result<bool, MidbError> {
        self.with_conn(|c| {
            c.send(format!("FETCH-MIME {} {} {uid}\r\n", enc(maildir), enc(folder)).as_bytes())?;
            let a = c.reply(&mut |r| Err(proto_err(format!("unexpected record {}", &r[..r.len().min(40)]))))?;
            if a == "NIL" {
                return Ok(false);
            }
            let n: u64 = a
                .strip_prefix('{')
                .and_then(|x| x.strip_suffix('}'))
                .and_then(|x| x.parse().ok())
                .ok_or_else(|| proto_err(format!("bad literal {}", &a[..a.len().min(40)])))?;
            let got = (&mut c.r).take(n).read_to_end(out)?;
            if got as u64 != n {
                return Err(MidbError::Io(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "literal truncated",
                )));
            }
            Ok(true)
        })
    }

    /// The RFC 5322 renditions of several messages, handed to `sink(uid, bytes)` in the given
    /// order (UIDs that do not exist are skipped). Requests are pipelined, 32 per round trip,
    /// so a FETCH of many bodies does not pay one network round trip per message.
    pub fn fetch_mimes(
        &self,
        maildir: &str,
        folder: &str,
        uids: &[u32],
        sink: &mut dyn FnMut(u32, &[u8]),
    ) -> Result<(), MidbError> {
        let (md, fo) = (enc(maildir), enc(folder));
        let mut buf = Vec::new();
        for chunk in uids.chunks(32) {
            self.with_conn(|c| {
                let mut req = String::new();
                for uid in chunk {
                    req.push_str(&format!("FETCH-MIME {md} {fo} {uid}\r\n"));
                }
                c.send(req.as_bytes())?;
                for &uid in chunk {
                    let a = c.reply(&mut |r| Err(proto_err(format!("unexpected record {}", &r[..r.len().min(40)]))))?;
                    if a == "NIL" {
                        continue;
                    }
                    let n: u64 = a
                        .strip_prefix('{')
                        .and_then(|x| x.strip_suffix('}'))
                        .and_then(|x| x.parse().ok())
                        .ok_or_else(|| proto_err(format!("bad literal {}", &a[..a.len().min(40)])))?;
                    buf.clear();
                    let got = (&mut c.r).take(n).read_to_end(&mut buf)?;
                    if got as u64 != n {
                        return Err(MidbError::Io(std::io::Error::new(
                            ErrorKind::UnexpectedEof,
                            "literal truncated",
                        )));
                    }
                    sink(uid, &buf);
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Change flags; each existing message's metadata afterwards.
    pub fn set_flags(
        &self,
        maildir: &str,
        folder: &str,
        uids: &[u32],
        mode: FlagMode,
        flags: &[String],
    ) -> Result<Vec<MidbMessage>, MidbError> {
        let mut fl = String::new();
        for f in flags {
            fl.push(' ');
            wire::encode_arg(f, &mut fl);
        }
        let mut v = Vec::new();
        let mut sorted = uids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        for chunk in sorted.chunks(MAX_UIDS_PER_REQUEST) {
            self.request(
                format!(
                    "SET-FLAGS {} {} {} {}{fl}",
                    enc(maildir),
                    enc(folder),
                    encode_uids(chunk),
                    mode.as_str()
                ),
                &mut |r| {
                    v.push(wire::parse_meta(r).map_err(proto_err)?);
                    Ok(())
                },
            )?;
        }
        Ok(v)
    }

    /// Messages whose metadata changed after `modseq`, and the folder's highest modseq.
    pub fn changes_since(
        &self,
        maildir: &str,
        folder: &str,
        modseq: u64,
    ) -> Result<(u64, Vec<MidbMessage>), MidbError> {
        let mut v = Vec::new();
        let a = self.request(format!("CHANGES {} {} {modseq}", enc(maildir), enc(folder)), &mut |r| {
            v.push(wire::parse_meta(r).map_err(proto_err)?);
            Ok(())
        })?;
        let hi = a
            .parse()
            .map_err(|_| proto_err(format!("bad modseq {}", &a[..a.len().min(40)])))?;
        Ok((hi, v))
    }

    /// UIDs removed from `folder` after `modseq`, ascending (RFC 7162 QRESYNC's VANISHED).
    pub fn vanished(&self, maildir: &str, folder: &str, modseq: u64) -> Result<Vec<u32>, MidbError> {
        self.uid_list_request(format!("VANISHED {} {} {modseq}", enc(maildir), enc(folder)))
    }

    /// `(bytes used, byte limit)` of the mailbox, `None` when no limit is set.
    pub fn quota(&self, maildir: &str) -> Result<Option<(u64, u64)>, MidbError> {
        let a = self.simple(format!("QUOTA {}", enc(maildir)))?;
        if a == "NIL" {
            return Ok(None);
        }
        let mut w = a.split(' ');
        match (
            w.next().and_then(|x| x.parse().ok()),
            w.next().and_then(|x| x.parse().ok()),
            w.next(),
        ) {
            (Some(used), Some(limit), None) => Ok(Some((used, limit))),
            _ => Err(proto_err(format!("bad quota answer {}", &a[..a.len().min(40)]))),
        }
    }

    /// The store-level rights `user` holds on the mailbox at `maildir` (MS-OXCPERM bits plus
    /// Gromox's store-owner bit 0x2000): midbd's `RIGHTS`.
    pub fn rights(&self, maildir: &str, user: &str) -> Result<u32, MidbError> {
        let a = self.simple(format!("RIGHTS {} {}", enc(maildir), enc(user)))?;
        a.parse()
            .map_err(|_| proto_err(format!("bad rights answer {}", &a[..a.len().min(40)])))
    }

    /// Whether `user` holds the store-owner right (Gromox's 0x2000 bit, or folder owner on
    /// IPM_SUBTREE) on the mailbox at `maildir`: the check behind `user!mailbox` logins.
    pub fn is_store_owner(&self, maildir: &str, user: &str) -> Result<bool, MidbError> {
        Ok(self.rights(maildir, user)? & STORE_OWNER_RIGHT != 0)
    }

    fn uid_list_request(&self, line: String) -> Result<Vec<u32>, MidbError> {
        let mut v = Vec::new();
        self.request(line, &mut |r| {
            for (a, b) in wire::parse_uids(r).map_err(proto_err)? {
                v.extend(a..=b);
            }
            Ok(())
        })?;
        Ok(v)
    }

    /// Remove messages flagged `\Deleted` (only those among `only`, if given); the removed
    /// UIDs ascending.
    pub fn expunge(&self, maildir: &str, folder: &str, only: Option<&[u32]>) -> Result<Vec<u32>, MidbError> {
        let (m, f) = (enc(maildir), enc(folder));
        let mut v = match only {
            None => self.uid_list_request(format!("EXPUNGE {m} {f} ALL"))?,
            Some(uids) => {
                let mut s = uids.to_vec();
                s.sort_unstable();
                s.dedup();
                let mut v = Vec::new();
                for chunk in s.chunks(MAX_UIDS_PER_REQUEST) {
                    v.extend(self.uid_list_request(format!("EXPUNGE {m} {f} {}", encode_uids(chunk)))?);
                }
                v
            }
        };
        v.sort_unstable();
        Ok(v)
    }

    /// Remove exactly these messages (flags regardless); the removed UIDs.
    pub fn remove(&self, maildir: &str, folder: &str, uids: &[u32]) -> Result<Vec<u32>, MidbError> {
        let (m, f) = (enc(maildir), enc(folder));
        let mut s = uids.to_vec();
        s.sort_unstable();
        s.dedup();
        let mut v = Vec::new();
        for chunk in s.chunks(MAX_UIDS_PER_REQUEST) {
            v.extend(self.uid_list_request(format!("REMOVE {m} {f} {}", encode_uids(chunk)))?);
        }
        Ok(v)
    }

    fn copy_like(
        &self,
        cmd: &str,
        maildir: &str,
        folder: &str,
        uids: &[u32],
        dest: &str,
    ) -> Result<(u32, Vec<(u32, u32)>), MidbError> {
        let (m, f, d) = (enc(maildir), enc(folder), enc(dest));
        let mut s = uids.to_vec();
        s.sort_unstable();
        s.dedup();
        let mut pairs = Vec::new();
        let mut validity = 0;
        for chunk in s.chunks(MAX_UIDS_PER_REQUEST) {
            let a = self.request(format!("{cmd} {m} {f} {} {d}", encode_uids(chunk)), &mut |r| {
                let (a, b) = r.split_once(' ').ok_or_else(|| proto_err("bad UID pair".into()))?;
                let pa = a.parse().map_err(|_| proto_err("bad UID pair".into()))?;
                let pb = b.parse().map_err(|_| proto_err("bad UID pair".into()))?;
                pairs.push((pa, pb));
                Ok(())
            })?;
            validity = a
                .parse()
                .map_err(|_| proto_err(format!("bad UIDVALIDITY {}", &a[..a.len().min(40)])))?;
        }
        if s.is_empty() {
            validity = self.status(maildir, dest)?.uidvalidity;
        }
        Ok((validity, pairs))
    }

    /// COPY: (destination UIDVALIDITY, [(source UID, destination UID)]).
    pub fn copy(
        &self,
        maildir: &str,
        folder: &str,
        uids: &[u32],
        dest: &str,
    ) -> Result<(u32, Vec<(u32, u32)>), MidbError> {
        self.copy_like("COPY", maildir, folder, uids, dest)
    }

    /// MOVE: (destination UIDVALIDITY, [(source UID, destination UID)]).
    pub fn move_messages(
        &self,
        maildir: &str,
        folder: &str,
        uids: &[u32],
        dest: &str,
    ) -> Result<(u32, Vec<(u32, u32)>), MidbError> {
        self.copy_like("MOVE", maildir, folder, uids, dest)
    }

    /// APPEND: store `mime` byte-identical with flags and internal date (None: now);
    /// (UIDVALIDITY, UID).
    pub fn append(
        &self,
        maildir: &str,
        folder: &str,
        flags: &[String],
        date: Option<i64>,
        mime: &[u8],
    ) -> Result<(u32, u32), MidbError> {
        let mut line = format!(
            "APPEND {} {} {}",
            enc(maildir),
            enc(folder),
            date.map_or("-".to_string(), |d| d.to_string())
        );
        for f in flags {
            line.push(' ');
            wire::encode_arg(f, &mut line);
        }
        line.push_str(&format!(" {{{}}}\r\n", mime.len()));
        self.with_conn(|c| {
            c.send(line.as_bytes())?;
            c.send(mime)?;
            let a = c.reply(&mut |r| Err(proto_err(format!("unexpected record {}", &r[..r.len().min(40)]))))?;
            let (v, u) = a.split_once(' ').ok_or_else(|| proto_err("bad APPEND answer".into()))?;
            Ok((
                v.parse().map_err(|_| proto_err("bad APPEND answer".into()))?,
                u.parse().map_err(|_| proto_err("bad APPEND answer".into()))?,
            ))
        })
    }

    /// Create a folder (parents as needed).
    pub fn create_folder(&self, maildir: &str, folder: &str) -> Result<(), MidbError> {
        self.simple(format!("CREATE {} {}", enc(maildir), enc(folder)))
            .map(drop)
    }

    /// Delete a folder.
    pub fn delete_folder(&self, maildir: &str, folder: &str) -> Result<(), MidbError> {
        self.simple(format!("DELETE {} {}", enc(maildir), enc(folder)))
            .map(drop)
    }

    /// Rename a folder; its subtree moves along.
    pub fn rename_folder(&self, maildir: &str, from: &str, to: &str) -> Result<(), MidbError> {
        self.simple(format!("RENAME {} {} {}", enc(maildir), enc(from), enc(to)))
            .map(drop)
    }

    /// Subscribe (`on`) or unsubscribe a folder.
    pub fn subscribe(&self, maildir: &str, folder: &str, on: bool) -> Result<(), MidbError> {
        self.simple(format!("SUBSCRIBE {} {} {}", enc(maildir), enc(folder), u8::from(on)))
            .map(drop)
    }

    /// Drop and rebuild a mailbox's index from the store (`gromox-mkmidb` recovery). UIDs and
    /// UIDVALIDITYs change: IMAP clients resynchronise.
    pub fn rebuild(&self, maildir: &str) -> Result<(), MidbError> {
        self.simple(format!("REBUILD {}", enc(maildir))).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::wire::*;
    use super::*;

    #[test]
    fn args_round_trip_and_escape() {
        for s in ["INBOX", "Sent Items", "a%b", "Über/Ärger", "x\r\ny", "", "-"] {
            let e = enc(s);
            assert!(!e.contains(' ') && !e.contains('\n') && e.is_ascii(), "{e}");
            assert_eq!(decode_arg(&e).unwrap(), s);
        }
        assert_eq!(enc("Sent Items"), "Sent%20Items");
        assert!(decode_arg("a%2").is_err());
        assert!(decode_arg("a%zz").is_err());
        assert!(decode_arg("").is_err());
        assert!(decode_arg("%FF").is_err()); // not UTF-8
    }

    #[test]
    fn uid_sets() {
        assert_eq!(encode_uids(&[5, 1, 2, 3, 9, 7, 8, 3]), "1:3,5,7:9");
        assert_eq!(encode_uids(&[]), "-");
        assert_eq!(parse_uids("1:3,5,9:7").unwrap(), vec![(1, 3), (5, 5), (7, 9)]);
        assert_eq!(parse_uids("4,1:5").unwrap(), vec![(1, 5)]);
        assert_eq!(parse_uids("-").unwrap(), vec![]);
        assert!(parse_uids("0").is_err());
        assert!(parse_uids("1:").is_err());
        assert!(parse_uids("1,,2").is_err());
        assert!(parse_uids("4294967296").is_err());
        assert!(parse_uids("+1").is_err());
    }

    #[test]
    fn records_round_trip() {
        let m = MidbMessage {
            uid: 7,
            flags: vec!["\\Seen".into(), "$Label1".into()],
            internal_date: 1_700_000_000,
            size: 1234,
            modseq: 9,
        };
        let mut s = String::new();
        encode_meta(&m, &mut s);
        assert_eq!(s, "7 1700000000 1234 9 \\Seen $Label1");
        assert_eq!(parse_meta(&s).unwrap(), m);
        assert_eq!(parse_meta("1 -5 0 0").unwrap().internal_date, -5);
        assert!(parse_meta("1 2 3").is_err());
        assert!(parse_meta("x 2 3 4").is_err());

        let st = MidbStatus {
            messages: 3,
            recent: 1,
            unseen: 2,
            uidnext: 4,
            uidvalidity: 17,
            size: 300,
            deleted: 1,
            deleted_size: 100,
            highest_modseq: 12,
            first_unseen: Some(2),
            keywords: vec!["$Junk".into()],
        };
        let mut s = String::new();
        encode_status(&st, &mut s);
        assert_eq!(parse_status(&s).unwrap(), st);
        let none = parse_status("0 0 0 1 5 0 0 0 0 0").unwrap();
        assert_eq!(none.first_unseen, None);
        assert!(none.keywords.is_empty());
        assert!(parse_status("0 0 0").is_err());

        let f = MidbFolder {
            name: "Sent Items".into(),
            special_use: Some("\\Sent"),
            subscribed: true,
            has_children: false,
        };
        let mut s = String::new();
        encode_folder(&f, &mut s);
        assert_eq!(s, "Sent%20Items \\Sent 1 0");
        assert_eq!(parse_folder(&s).unwrap(), f);
        assert!(parse_folder("x \\Bogus 1 0").is_err());
        assert!(parse_folder("x - 2 0").is_err());
    }

    #[test]
    fn final_lines() {
        assert_eq!(parse_final("TRUE").unwrap().unwrap(), "");
        assert_eq!(parse_final("TRUE 5 6").unwrap().unwrap(), "5 6");
        assert!(matches!(
            parse_final("FALSE NOFOLDER").unwrap(),
            Err(MidbError::NoFolder)
        ));
        assert!(matches!(parse_final("FALSE DENIED cannot delete INBOX").unwrap(),
            Err(MidbError::Denied(t)) if t == "cannot delete INBOX"));
        assert!(matches!(parse_final("FALSE WHATEVER x").unwrap(), Err(MidbError::Server(t)) if t == "x"));
        assert!(parse_final("MAYBE").is_err());
    }

    /// A scripted server: the client's framing against canned answers (records streamed to
    /// the sink, literal reading, pooled connection reuse, errors keep the connection).
    #[test]
    fn client_against_scripted_server() {
        use std::io::{BufRead, BufReader, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            w.write_all(b"OK midbd\r\n").unwrap();
            let mut seen = Vec::new();
            let mut line = String::new();
            while {
                line.clear();
                r.read_line(&mut line).unwrap() > 0
            } {
                let l = line.trim_end().to_string();
                let ans: Vec<u8> = if l.starts_with("FETCH-META") {
                    b"* 1 100 10 3 \\Seen\r\n* 3 101 11 4\r\nTRUE\r\n".to_vec()
                } else if l.starts_with("FETCH-MIME /m INBOX 1") {
                    b"TRUE {5}\r\nhello".to_vec()
                } else if l.starts_with("FETCH-MIME") {
                    b"TRUE NIL\r\n".to_vec()
                } else if l.starts_with("SELECT") {
                    b"* 1:3,5\r\nTRUE 4 0 1 6 99 40 0 0 7 5\r\n".to_vec()
                } else if l.starts_with("APPEND") {
                    let mut body = vec![0u8; 3];
                    std::io::Read::read_exact(&mut r, &mut body).unwrap();
                    assert_eq!(body, b"abc");
                    b"TRUE 99 6\r\n".to_vec()
                } else {
                    b"FALSE NOFOLDER no such folder\r\n".to_vec()
                };
                seen.push(l);
                w.write_all(&ans).unwrap();
            }
            seen
        });
        let c = MidbClient::new(addr, MidbOptions::default());
        let mut got = Vec::new();
        c.fetch_meta("/m", "INBOX", &[3, 1, 2], &mut |m| got.push(m)).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].flags, vec!["\\Seen"]);
        assert_eq!(got[1].uid, 3);
        let mut out = b"x".to_vec();
        assert!(c.fetch_mime("/m", "INBOX", 1, &mut out).unwrap());
        assert_eq!(out, b"xhello");
        assert!(!c.fetch_mime("/m", "INBOX", 2, &mut out).unwrap());
        let (st, uids) = c.select("/m", "INBOX").unwrap();
        assert_eq!(uids, vec![1, 2, 3, 5]);
        assert_eq!((st.messages, st.uidvalidity, st.first_unseen), (4, 99, Some(5)));
        assert_eq!(
            c.append("/m", "INBOX", &["\\Seen".into()], Some(5), b"abc").unwrap(),
            (99, 6)
        );
        assert!(matches!(c.status("/m", "Nope"), Err(MidbError::NoFolder)));
        drop(c);
        let seen = t.join().unwrap();
        // One connection served everything (pooled), and requests were encoded as documented.
        assert_eq!(seen[0], "FETCH-META /m INBOX 1:3");
        assert_eq!(seen[4], "APPEND /m INBOX 5 \\Seen {3}");
        assert_eq!(seen.len(), 6);
    }

    /// A pooled connection the server closed while idle (restart) is replaced, not reused,
    /// and the request is sent once.
    #[test]
    fn reconnects_after_server_closed_idle_connection() {
        use std::io::{BufRead, BufReader, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                let (s, _) = l.accept().unwrap();
                let mut w = s.try_clone().unwrap();
                w.write_all(b"OK midbd\r\n").unwrap();
                let mut line = String::new();
                BufReader::new(s).read_line(&mut line).unwrap();
                got.push(line);
                w.write_all(b"TRUE\r\n").unwrap();
                // Dropping both halves closes the connection while the client holds it idle.
            }
            got
        });
        let c = MidbClient::new(addr, MidbOptions::default());
        c.ping().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        c.ping().unwrap();
        assert_eq!(t.join().unwrap(), vec!["PING\r\n", "PING\r\n"]);
    }
}
