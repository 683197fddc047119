//! The persistent state of timerd: an append-only journal, compacted on start and when it
//! holds mostly finished records.
//!
//! Why a journal and not rewriting the whole state per change: `ADD` must be durable before
//! `TRUE <id>` is answered. Appending one short record and `fdatasync`ing it costs one small
//! write however many timers are pending, where a rewrite (temp file, fsync, rename, fsync of
//! the directory) costs O(pending) bytes and three syncs per `ADD`. The rewrite is still used,
//! but only to compact: at start-up and when finished records outnumber pending ones.
//!
//! Format: Gromox's `timer.txt` (one record per line), so a Gromox state file can be taken
//! over: `<id>\t<due>\t<command>` adds a timer due at `<due>` (Unix seconds), with space, tab,
//! backslash and `#` in the command escaped by a backslash; `<id>\t0\t<RESULT>` ends timer
//! `<id>` (`DONE`, `EXEC-FAILURE`, `CANCEL`, …). Lines starting with `#` are comments; a
//! compacted file starts with `#next-id\t<n>` so ids stay unique after finished timers are
//! dropped. A last line without its newline is a write torn by a crash: it is ignored (its
//! `ADD` was never acknowledged).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A pending timer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Due time, Unix seconds.
    pub due: u64,
    /// Shell command.
    pub command: String,
}

/// The result of reading a journal.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// Pending timers by id.
    pub pending: BTreeMap<u64, Record>,
    /// The next unused id.
    pub next_id: u64,
    /// Lines that could not be understood (skipped).
    pub bad_lines: usize,
    /// Whether the last line was torn (no newline).
    pub torn_tail: bool,
}

/// Escape a command for the journal.
pub fn encode(cmd: &str) -> String {
    let mut out = String::with_capacity(cmd.len() + 8);
    for c in cmd.chars() {
        if matches!(c, ' ' | '\\' | '\t' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Undo [`encode`].
pub fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn field(s: &str) -> Option<(&str, &str)> {
    let i = s.find(['\t', ' '])?;
    Some((&s[..i], &s[i + 1..]))
}

/// Parse journal text. Never fails: bad lines are counted and skipped.
pub fn parse(data: &[u8]) -> Loaded {
    let mut l = Loaded {
        next_id: 1,
        ..Loaded::default()
    };
    let (body, torn) = match data.iter().rposition(|&b| b == b'\n') {
        Some(i) => (&data[..=i], i + 1 < data.len()),
        None => (&data[..0], !data.is_empty()),
    };
    l.torn_tail = torn;
    for raw in body.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(raw) else {
            l.bad_lines += 1;
            continue;
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            if let Some(n) = c.strip_prefix("next-id\t").and_then(|n| n.parse::<u64>().ok()) {
                l.next_id = l.next_id.max(n);
            }
            continue;
        }
        let parsed = field(line).and_then(|(id, rest)| {
            let id = id.parse::<u64>().ok().filter(|&i| i > 0 && i < u64::MAX)?;
            let (due, cmd) = field(rest)?;
            Some((id, due.parse::<u64>().ok()?, cmd))
        });
        let Some((id, due, cmd)) = parsed else {
            l.bad_lines += 1;
            continue;
        };
        l.next_id = l.next_id.max(id + 1);
        if due == 0 {
            l.pending.remove(&id);
        } else {
            let command = decode(cmd);
            if command.is_empty() {
                l.bad_lines += 1;
                continue;
            }
            l.pending.insert(id, Record { due, command });
        }
    }
    l
}

/// The open journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Records in the file that no longer describe a pending timer.
    dead: usize,
    /// The last append failed.
    dirty: bool,
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Open (creating directories as needed), read and compact the journal at `path`.
    pub fn open(path: &Path) -> io::Result<(Journal, Loaded)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut data = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut data)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let loaded = parse(&data);
        rewrite(path, &loaded.pending, loaded.next_id)?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                dead: 0,
                dirty: false,
            },
            loaded,
        ))
    }

    fn append(&mut self, line: &str) -> io::Result<()> {
        // After a failed write the file may end in a partial record: start on a fresh line so
        // only that partial record is lost (a blank line is skipped when reading).
        if self.dirty {
            self.file.write_all(b"\n")?;
        }
        let r = self
            .file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data());
        self.dirty = r.is_err();
        r
    }

    /// Record a new timer durably.
    pub fn add(&mut self, id: u64, rec: &Record) -> io::Result<()> {
        self.append(&format!("{id}\t{}\t{}\n", rec.due, encode(&rec.command)))
    }

    /// Record the end of a timer (`result`: one word such as `DONE` or `CANCEL`) durably.
    pub fn finish(&mut self, id: u64, result: &str) -> io::Result<()> {
        self.append(&format!("{id}\t0\t{result}\n"))?;
        self.dead += 2;
        Ok(())
    }

    /// Whether finished records outnumber `live` pending ones enough to compact.
    pub fn wants_compaction(&self, live: usize) -> bool {
        self.dead > 1024 && self.dead > live * 2
    }

    /// Rewrite the file with only `pending` (temp file, fsync, rename, fsync directory).
    pub fn compact(&mut self, pending: &BTreeMap<u64, Record>, next_id: u64) -> io::Result<()> {
        rewrite(&self.path, pending, next_id)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.dead = 0;
        self.dirty = false;
        Ok(())
    }
}

fn rewrite(path: &Path, pending: &BTreeMap<u64, Record>, next_id: u64) -> io::Result<()> {
    let mut text = format!("#next-id\t{next_id}\n");
    for (id, r) in pending {
        text.push_str(&format!("{id}\t{}\t{}\n", r.due, encode(&r.command)));
    }
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    {
        // Commands may carry addresses or paths: readable by the daemon's user only.
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trip() {
        let c = "touch /tmp/a\\ b#c\td";
        assert_eq!(encode(c), "touch\\ /tmp/a\\\\\\ b\\#c\\\td");
        assert_eq!(decode(&encode(c)), c);
    }

    #[test]
    fn parse_gromox_style_state() {
        let text = b"#next-id\t5\n3\t1700000000\techo\\ hi\n4\t1700000100\ttrue\n3\t0\tDONE\ngarbage\n9\t17";
        let l = parse(text);
        assert_eq!(l.pending.len(), 1);
        assert_eq!(l.pending[&4].command, "true");
        assert_eq!(l.next_id, 5);
        assert_eq!(l.bad_lines, 1);
        assert!(l.torn_tail, "the last line has no newline");
    }

    #[test]
    fn append_after_a_failed_write_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timer.txt");
        let (mut j, _) = Journal::open(&path).unwrap();
        let r = Record {
            due: 100,
            command: "true".into(),
        };
        j.add(1, &r).unwrap();
        // What a write cut short by a full disk leaves behind.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"2\t10")
            .unwrap();
        j.dirty = true;
        j.add(3, &r).unwrap();
        let l = parse(&std::fs::read(&path).unwrap());
        assert_eq!(l.pending.keys().copied().collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(l.bad_lines, 1);
    }

    #[test]
    fn journal_survives_reopen_and_compacts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timer/timer.txt");
        let (mut j, l) = Journal::open(&path).unwrap();
        assert_eq!((l.pending.len(), l.next_id), (0, 1));
        let r = Record {
            due: 100,
            command: "echo a b".into(),
        };
        j.add(1, &r).unwrap();
        j.add(2, &r).unwrap();
        j.finish(2, "CANCEL").unwrap();
        drop(j);
        // A torn record at the end, as after SIGKILL in the middle of a write.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"3\t100\tec").unwrap();
        drop(f);
        let (_j, l) = Journal::open(&path).unwrap();
        assert_eq!(l.pending.keys().copied().collect::<Vec<_>>(), vec![1]);
        assert_eq!(l.pending[&1], r);
        assert_eq!(l.next_id, 3);
        assert!(l.torn_tail);
        // Compacted on open: finished records are gone, the id counter is kept.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "#next-id\t3\n1\t100\techo\\ a\\ b\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
