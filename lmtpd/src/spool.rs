//! The spool under `<state_path>/spool/`: every message is streamed to disk while it arrives
//! (bounded memory for any size), and the file carries its envelope so a restart can finish
//! the delivery.
//!
//! Layout: `spool/tmp/<id>` while a message arrives (and, in LMTP mode, while it is delivered);
//! `spool/queue/<id>` once committed; `spool/queue/<id>.done` lists the recipient indexes
//! already finished (delivered or permanently failed) so a retry skips them.
//!
//! # Durability point
//!
//! - SMTP mode: [`SpoolWriter::commit`] writes the file, `fdatasync`s it, renames it into
//!   `queue/` and fsyncs the `queue/` directory. Only after that returns is `250` sent. The
//!   start-up recovery pass ([`Spool::recover`]) delivers everything in `queue/`.
//! - LMTP mode: the message stays in `tmp/` and is delivered before the per-recipient replies
//!   are sent; a recipient gets `250` only after the [`crate::Deliverer`] reported the copy
//!   durable in its mailbox. A crash before that leaves the client without a reply, so it
//!   retries (the message may arrive twice, never vanish). `tmp/` is emptied at start-up.
//!
//! File format: a text header (`GROMOX-SPOOL 1`, then `key value` lines: `mode`, `from`,
//! `rcpt` (repeated), `helo`, `peer`, `time`, `flags`), an empty line, then the message bytes
//! exactly as they will be delivered (Received: header included).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::deliver::DirSyncer;

const MAGIC: &str = "GROMOX-SPOOL 1";
/// Longest spool header accepted when reading (1000 recipients of 320 octets fit).
const MAX_HEADER: u64 = 1 << 20;

/// The envelope of a message (RFC 5321 §2.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// Reverse path (empty for `<>`).
    pub from: String,
    /// Accepted recipients, in RCPT order.
    pub rcpts: Vec<String>,
    /// The client's LHLO/EHLO/HELO name.
    pub helo: String,
    /// Client address.
    pub peer: String,
    /// Unix time of receipt.
    pub time: u64,
    /// Received over LMTP (per-recipient replies, client retries) rather than SMTP.
    pub lmtp: bool,
    /// `BODY=8BITMIME` was given.
    pub body_8bit: bool,
    /// `SMTPUTF8` was given.
    pub smtputf8: bool,
}

/// A message on disk.
#[derive(Debug, Clone)]
pub struct SpooledMessage {
    /// Spool id (file name).
    pub id: String,
    /// The spool file.
    pub path: PathBuf,
    /// Offset of the message bytes in the file.
    pub body_offset: u64,
    /// Message length.
    pub body_len: u64,
}

impl SpooledMessage {
    /// A reader over the message bytes.
    pub fn open_body(&self) -> io::Result<io::Take<BufReader<File>>> {
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(self.body_offset))?;
        Ok(BufReader::with_capacity(64 * 1024, f).take(self.body_len))
    }

    /// The whole message in memory (for backends that need it).
    pub fn read_body(&self) -> io::Result<Vec<u8>> {
        let mut v = Vec::with_capacity(self.body_len.min(1 << 26) as usize);
        self.open_body()?.read_to_end(&mut v)?;
        Ok(v)
    }
}

/// The spool directories.
pub struct Spool {
    tmp: PathBuf,
    queue: PathBuf,
    boot: u64,
    counter: AtomicU64,
    syncer: DirSyncer,
}

/// One queued message, as listed by [`Spool::list`] (`gromox-mailq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// Spool id.
    pub id: String,
    /// Message size in octets.
    pub size: u64,
    /// Envelope.
    pub envelope: Envelope,
    /// Recipients not finished yet.
    pub pending: Vec<String>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Spool {
    /// Open (create) the spool under `state/spool`.
    pub fn open(state: &Path) -> io::Result<Spool> {
        let root = state.join("spool");
        let tmp = root.join("tmp");
        let queue = root.join("queue");
        fs::create_dir_all(&tmp)?;
        fs::create_dir_all(&queue)?;
        let boot = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Ok(Spool {
            tmp,
            queue,
            boot,
            counter: AtomicU64::new(0),
            syncer: DirSyncer::default(),
        })
    }

    /// Remove leftovers in `tmp/` (messages never acknowledged). Returns how many.
    pub fn clean_tmp(&self) -> io::Result<usize> {
        let mut n = 0;
        for e in fs::read_dir(&self.tmp)? {
            let e = e?;
            if fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Start a new spool file for `env`.
    pub fn create(&self, env: &Envelope) -> io::Result<SpoolWriter> {
        let id = format!("{:x}-{:x}", self.boot, self.counter.fetch_add(1, Ordering::Relaxed));
        let path = self.tmp.join(&id);
        let file = OpenOptions::new().write(true).create_new(true).open(&path)?;
        let mut w = BufWriter::with_capacity(64 * 1024, file);
        let header = encode_header(env);
        w.write_all(header.as_bytes())?;
        Ok(SpoolWriter {
            id,
            path,
            w: Some(w),
            body_offset: header.len() as u64,
            body_len: 0,
        })
    }

    /// Path of a queued message.
    pub fn queued_path(&self, id: &str) -> PathBuf {
        self.queue.join(id)
    }

    /// Load a queued (or temporary) spool file's envelope.
    pub fn load(path: &Path) -> io::Result<(SpooledMessage, Envelope)> {
        let f = File::open(path)?;
        let len = f.metadata()?.len();
        let mut r = BufReader::new(f.take(MAX_HEADER));
        let mut header = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = r.read_until(b'\n', &mut line)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "spool header not terminated",
                ));
            }
            header.extend_from_slice(&line);
            if line == b"\n" {
                break;
            }
        }
        let env = parse_header(&header).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let body_offset = header.len() as u64;
        Ok((
            SpooledMessage {
                id,
                path: path.to_path_buf(),
                body_offset,
                body_len: len.saturating_sub(body_offset),
            },
            env,
        ))
    }

    /// Recipient indexes already finished for queued message `id`.
    pub fn done_set(&self, id: &str) -> Vec<usize> {
        fs::read_to_string(self.queue.join(format!("{id}.done")))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Record recipient indexes of `id` as finished (not fsync'd: losing the record only
    /// means a repeated delivery, which the deliverer may deduplicate by spool id).
    pub fn mark_done(&self, id: &str, idx: &[usize]) -> io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.queue.join(format!("{id}.done")))?;
        let mut s = String::new();
        for i in idx {
            s.push_str(&format!("{i}\n"));
        }
        f.write_all(s.as_bytes())
    }

    /// Remove a finished queued message.
    pub fn remove_queued(&self, id: &str) {
        let _ = fs::remove_file(self.queue.join(id));
        let _ = fs::remove_file(self.queue.join(format!("{id}.done")));
    }

    /// Queued messages, oldest first (`gromox-mailq`).
    pub fn list(&self) -> io::Result<Vec<QueueEntry>> {
        list_queue(&self.queue)
    }
}

/// List the queue of the spool under `state` without opening it for writing: the
/// `gromox-mailq` logic.
pub fn mailq(state: &Path) -> io::Result<Vec<QueueEntry>> {
    let q = state.join("spool").join("queue");
    if !q.is_dir() {
        return Ok(Vec::new());
    }
    list_queue(&q)
}

fn list_queue(queue: &Path) -> io::Result<Vec<QueueEntry>> {
    let mut out = Vec::new();
    for e in fs::read_dir(queue)? {
        let path = e?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(String::from) else {
            continue;
        };
        if name.ends_with(".done") {
            continue;
        }
        let Ok((msg, env)) = Spool::load(&path) else {
            continue;
        };
        let done: Vec<usize> = fs::read_to_string(queue.join(format!("{name}.done")))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default();
        let pending = env
            .rcpts
            .iter()
            .enumerate()
            .filter(|(i, _)| !done.contains(i))
            .map(|(_, r)| r.clone())
            .collect();
        out.push(QueueEntry {
            id: name,
            size: msg.body_len,
            envelope: env,
            pending,
        });
    }
    out.sort_by(|a, b| (a.envelope.time, &a.id).cmp(&(b.envelope.time, &b.id)));
    Ok(out)
}

/// Format a queue listing like `mailq`: id, size, time, sender, then pending recipients.
pub fn format_mailq(entries: &[QueueEntry]) -> String {
    if entries.is_empty() {
        return "Mail queue is empty\n".into();
    }
    let mut s = String::new();
    for e in entries {
        let from = if e.envelope.from.is_empty() {
            "<>"
        } else {
            &e.envelope.from
        };
        s.push_str(&format!(
            "{:<24} {:>10} {} {}\n",
            e.id,
            e.size,
            crate::received::rfc5322_date(e.envelope.time),
            from
        ));
        for r in &e.pending {
            s.push_str(&format!("{:>36}{r}\n", ""));
        }
    }
    s.push_str(&format!("-- {} message(s)\n", entries.len()));
    s
}

/// Envelope values never contain line ends (the command parser refuses control characters
/// except TAB, which a quoted local part may hold); map every control character to a space so a
/// header line cannot be forged and always parses again.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Encode a spool header (pub for the fuzz target's round trip).
pub fn encode_header(env: &Envelope) -> String {
    let mut h = format!(
        "{MAGIC}\nmode {}\nfrom {}\n",
        if env.lmtp { "lmtp" } else { "smtp" },
        clean(&env.from)
    );
    for r in &env.rcpts {
        h.push_str(&format!("rcpt {}\n", clean(r)));
    }
    h.push_str(&format!(
        "helo {}\npeer {}\ntime {}\nflags",
        clean(&env.helo),
        clean(&env.peer),
        env.time
    ));
    if env.body_8bit {
        h.push_str(" 8bitmime");
    }
    if env.smtputf8 {
        h.push_str(" smtputf8");
    }
    h.push_str("\n\n");
    h
}

/// Parse a spool header (up to and including the empty line). Pub for the fuzz target.
pub fn parse_header(h: &[u8]) -> Result<Envelope, String> {
    let text = std::str::from_utf8(h).map_err(|_| "spool header is not UTF-8".to_string())?;
    let mut lines = text.split('\n');
    if lines.next() != Some(MAGIC) {
        return Err("not a spool file".into());
    }
    let mut env = Envelope::default();
    let mut seen_time = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.chars().any(char::is_control) {
            return Err("control character in spool header".into());
        }
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        match k {
            "mode" => env.lmtp = v == "lmtp",
            "from" => env.from = v.to_string(),
            "rcpt" => env.rcpts.push(v.to_string()),
            "helo" => env.helo = v.to_string(),
            "peer" => env.peer = v.to_string(),
            "time" => {
                env.time = v.parse().map_err(|_| format!("bad time {v:?}"))?;
                seen_time = true;
            }
            "flags" => {
                for f in v.split(' ') {
                    match f {
                        "8bitmime" => env.body_8bit = true,
                        "smtputf8" => env.smtputf8 = true,
                        _ => {}
                    }
                }
            }
            _ => return Err(format!("unknown spool header key {k:?}")),
        }
    }
    if !seen_time || env.rcpts.is_empty() {
        return Err("spool header lacks time or recipients".into());
    }
    Ok(env)
}

/// A spool file being written. Dropping it without [`SpoolWriter::commit`] or
/// [`SpoolWriter::finish_tmp`] removes the file.
pub struct SpoolWriter {
    id: String,
    path: PathBuf,
    w: Option<BufWriter<File>>,
    body_offset: u64,
    body_len: u64,
}

impl SpoolWriter {
    /// The spool id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Message bytes written so far.
    pub fn len(&self) -> u64 {
        self.body_len
    }

    /// Whether no message bytes were written.
    pub fn is_empty(&self) -> bool {
        self.body_len == 0
    }

    /// Append message bytes.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.w {
            Some(w) => {
                w.write_all(data)?;
                self.body_len += data.len() as u64;
                Ok(())
            }
            None => Err(io::Error::other("spool file already closed")),
        }
    }

    fn close(&mut self) -> io::Result<File> {
        let w = self
            .w
            .take()
            .ok_or_else(|| io::Error::other("spool file already closed"))?;
        w.into_inner().map_err(|e| e.into_error())
    }

    /// LMTP mode: flush (no fsync) and keep the file in `tmp/` for immediate delivery.
    pub fn finish_tmp(mut self) -> io::Result<SpooledMessage> {
        self.close()?;
        Ok(SpooledMessage {
            id: std::mem::take(&mut self.id),
            path: std::mem::take(&mut self.path),
            body_offset: self.body_offset,
            body_len: self.body_len,
        })
    }

    /// SMTP mode: make the message durable in `queue/` (the durability point, see the module
    /// docs): flush, fdatasync, rename, fsync the directory.
    pub fn commit(mut self, spool: &Spool) -> io::Result<SpooledMessage> {
        let f = self.close()?;
        f.sync_data()?;
        drop(f);
        let dest = spool.queue.join(&self.id);
        fs::rename(&self.path, &dest)?;
        self.path = dest.clone();
        spool.syncer.sync(&spool.queue)?;
        Ok(SpooledMessage {
            id: std::mem::take(&mut self.id),
            path: std::mem::take(&mut self.path),
            body_offset: self.body_offset,
            body_len: self.body_len,
        })
    }
}

impl Drop for SpoolWriter {
    fn drop(&mut self) {
        if !self.id.is_empty() {
            self.w = None;
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Current Unix time (seconds).
pub fn unix_now() -> u64 {
    now_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_load_list_and_done() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let env = Envelope {
            from: "a@example.org".into(),
            rcpts: vec!["b@example.org".into(), "c@example.org".into()],
            helo: "mx".into(),
            peer: "127.0.0.1".into(),
            time: 1_700_000_000,
            lmtp: false,
            body_8bit: true,
            smtputf8: false,
        };
        let mut w = spool.create(&env).unwrap();
        w.write(b"Subject: x\r\n\r\nbody\r\n").unwrap();
        let msg = w.commit(&spool).unwrap();
        assert_eq!(msg.read_body().unwrap(), b"Subject: x\r\n\r\nbody\r\n");
        let (m2, e2) = Spool::load(&msg.path).unwrap();
        assert_eq!(e2, env);
        assert_eq!(m2.body_len, msg.body_len);
        spool.mark_done(&msg.id, &[0]).unwrap();
        let q = mailq(dir.path()).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].pending, vec!["c@example.org".to_string()]);
        assert!(format_mailq(&q).contains("c@example.org"));
        spool.remove_queued(&msg.id);
        assert_eq!(format_mailq(&mailq(dir.path()).unwrap()), "Mail queue is empty\n");

        // An abandoned writer leaves nothing behind.
        let w = spool.create(&env).unwrap();
        drop(w);
        assert_eq!(spool.clean_tmp().unwrap(), 0);
    }

    #[test]
    fn header_parser_refuses_garbage() {
        assert!(parse_header(b"nonsense\n\n").is_err());
        assert!(parse_header(b"GROMOX-SPOOL 1\nfrom a@b\n\n").is_err());
        assert!(parse_header(b"GROMOX-SPOOL 1\nbogus 1\n\n").is_err());
        assert!(parse_header(b"GROMOX-SPOOL 1\nrcpt a@b\r\ntime 1\n\n").is_err());
        // What the session can produce always parses again (a TAB in a quoted local part).
        let env = Envelope {
            rcpts: vec!["\"a\tb\"@example.org".into()],
            time: 1,
            ..Envelope::default()
        };
        let back = parse_header(encode_header(&env).as_bytes()).unwrap();
        assert_eq!(back.rcpts, ["\"a b\"@example.org"]);
    }
}
