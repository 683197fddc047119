//! The per-mailbox index `<maildir>/exmdb/midb.sqlite3` and the mailbox operations over it.
//!
//! Layout: Gromox's midb tables (`configurations`, `folders`, `messages`, `mapping`, same
//! column names) plus columns this implementation needs, documented in `PROTOCOL.md`
//! ("Index"): `folders.uidvalidity`, `folders.msg_count`, `folders.highest_modseq`,
//! `messages.modseq`, `messages.change_num`, `messages.draft`.
//!
//! - UIDs are assigned in store mid order as messages are first seen, from `folders.uidnext`,
//!   and never reused (RFC 3501 §2.3.1.1).
//! - UIDVALIDITY is given to a folder when it first enters the index, from a per-mailbox
//!   counter (`configurations` id 102) seeded with the Unix time when the index file is
//!   created (and never lower than before on a rebuild); it stays for the folder's life.
//! - `\Deleted` and `\Recent` live only here; `\Seen \Answered \Flagged`, `$Forwarded` and
//!   keywords live in the store and are mirrored; `\Draft` comes from the store at first sight.
//! - A per-mailbox modseq counter (`configurations` id 101) stamps every change (RFC 7162).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use gromox_clients::midb::{FlagMode, MidbFolder, MidbMessage, MidbStatus};
use rusqlite::{params, Connection, OptionalExtension};

use crate::source::{FlagChange, NewMessage, SourceError, StoreSource};
use crate::Error;

/// Default folder ids (Gromox's private store layout).
pub mod fid {
    pub const ROOT: u64 = 0x01;
    pub const IPM_SUBTREE: u64 = 0x09;
    pub const SENT: u64 = 0x0a;
    pub const DELETED: u64 = 0x0b;
    pub const OUTBOX: u64 = 0x0c;
    pub const INBOX: u64 = 0x0d;
    pub const DRAFTS: u64 = 0x0e;
    pub const JUNK: u64 = 0x17;
    pub const SYNC_ISSUES: u64 = 0x19;
}

const CFG_SCHEMA: i64 = 100;
const CFG_MODSEQ: i64 = 101;
const CFG_VALIDITY: i64 = 102;
const SCHEMA_VERSION: i64 = 1;

/// Folders with ids below this are Gromox's default folders.
const FIRST_CUSTOM_FOLDER: u64 = 0x100;

/// Messages per `ListMessages` page during synchronisation.
pub const PAGE: u32 = 1000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS configurations (config_id INTEGER PRIMARY KEY, config_value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS folders (folder_id INTEGER PRIMARY KEY, parent_fid INTEGER NOT NULL,
  commit_max INTEGER NOT NULL, name TEXT COLLATE NOCASE UNIQUE, uidnext INTEGER DEFAULT 0,
  unsub INTEGER DEFAULT 1, sort_field INTEGER DEFAULT 0,
  uidvalidity INTEGER NOT NULL DEFAULT 0, msg_count INTEGER NOT NULL DEFAULT -1,
  highest_modseq INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS pid_folders_index ON folders(parent_fid);
CREATE TABLE IF NOT EXISTS messages (message_id INTEGER PRIMARY KEY, folder_id INTEGER NOT NULL,
  mid_string TEXT NOT NULL UNIQUE, idx INTEGER DEFAULT NULL, mod_time INTEGER DEFAULT 0,
  uid INTEGER NOT NULL, unsent INTEGER DEFAULT 0, recent INTEGER DEFAULT 1, read INTEGER DEFAULT 0,
  flagged INTEGER DEFAULT 0, replied INTEGER DEFAULT 0, forwarded INTEGER DEFAULT 0,
  deleted INTEGER DEFAULT 0, subject TEXT NOT NULL, sender TEXT NOT NULL, rcpt TEXT NOT NULL,
  size INTEGER NOT NULL, ext TEXT DEFAULT NULL, received INTEGER NOT NULL, keywords TEXT DEFAULT NULL,
  modseq INTEGER NOT NULL DEFAULT 0, change_num INTEGER NOT NULL DEFAULT 0, draft INTEGER NOT NULL DEFAULT 0,
  FOREIGN KEY (folder_id) REFERENCES folders (folder_id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX IF NOT EXISTS fid_messages_index ON messages(folder_id);
CREATE UNIQUE INDEX IF NOT EXISTS fid_uid_index ON messages(folder_id, uid);
CREATE INDEX IF NOT EXISTS fid_recent_index ON messages(folder_id, recent);
CREATE INDEX IF NOT EXISTS fid_read_index ON messages(folder_id, read);
CREATE INDEX IF NOT EXISTS fid_modseq_index ON messages(folder_id, modseq);
CREATE INDEX IF NOT EXISTS fid_keywords_index ON messages(folder_id) WHERE keywords IS NOT NULL;
CREATE INDEX IF NOT EXISTS fid_forwarded_index ON messages(folder_id) WHERE forwarded=1;
CREATE TABLE IF NOT EXISTS mapping (message_id INTEGER PRIMARY KEY, mid_string TEXT NOT NULL, flag_string TEXT);
CREATE TABLE IF NOT EXISTS expunged (folder_id INTEGER NOT NULL, uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL, PRIMARY KEY (folder_id, uid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fid_expunged_modseq ON expunged(folder_id, modseq);
CREATE TRIGGER IF NOT EXISTS log_expunged AFTER DELETE ON messages BEGIN
  INSERT OR REPLACE INTO expunged VALUES (old.folder_id, old.uid,
    (SELECT COALESCE(MAX(CAST(config_value AS INTEGER)), 0) + 1 FROM configurations WHERE config_id = 101));
END;
CREATE TRIGGER IF NOT EXISTS drop_expunged AFTER DELETE ON folders BEGIN
  DELETE FROM expunged WHERE folder_id = old.folder_id;
END;
";

/// Path of the index inside a mailbox directory.
pub fn index_path(maildir: &Path) -> PathBuf {
    maildir.join("exmdb").join("midb.sqlite3")
}

/// Escape a store folder name for IMAP: `%` → `%25`, `/` → `%2F` (the hierarchy delimiter).
pub fn escape_name(store: &str) -> String {
    store.replace('%', "%25").replace('/', "%2F")
}

/// Reverse of [`escape_name`]: `%2F`/`%2f` → `/`, `%25` → `%`; any other `%` stays.
pub fn unescape_name(imap: &str) -> String {
    let mut out = String::with_capacity(imap.len());
    let mut rest = imap;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let t = &rest[i..];
        if t.len() >= 3 && t[1..3].eq_ignore_ascii_case("2F") {
            out.push('/');
            rest = &t[3..];
        } else if t.len() >= 3 && &t[1..3] == "25" {
            out.push('%');
            rest = &t[3..];
        } else {
            out.push('%');
            rest = &t[1..];
        }
    }
    out.push_str(rest);
    out
}

/// `INBOX` in any case (alone or as the first level) spelled `INBOX`.
pub fn normalize_name(name: &str) -> String {
    if name.len() >= 5 && name[..5].eq_ignore_ascii_case("INBOX") && (name.len() == 5 || name.as_bytes()[5] == b'/') {
        format!("INBOX{}", &name[5..])
    } else {
        name.to_string()
    }
}

/// Whether a mailbox name is acceptable for CREATE/RENAME.
fn valid_new_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 1024
        && !name.split('/').any(|p| p.is_empty() || p.trim() != p || p.len() > 255)
        && !name.chars().any(|c| c.is_control() || c == '*')
}

/// The special-use attribute of a default folder (RFC 6154).
pub fn special_use(folder_id: u64) -> Option<&'static str> {
    match folder_id {
        fid::SENT => Some("\\Sent"),
        fid::DELETED => Some("\\Trash"),
        fid::JUNK => Some("\\Junk"),
        fid::DRAFTS => Some("\\Drafts"),
        _ => None,
    }
}

/// Whether a keyword is an IMAP atom without `\` (RFC 3501 flag-keyword).
pub fn valid_keyword(k: &str) -> bool {
    !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| b > b' ' && b < 0x7f && !b"(){%*\"\\]".contains(&b))
}

/// One parsed set of IMAP flags.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Flags {
    seen: bool,
    answered: bool,
    flagged: bool,
    deleted: bool,
    draft: bool,
    forwarded: bool,
    keywords: BTreeSet<String>,
}

impl Flags {
    fn parse(list: &[String]) -> Result<Flags, Error> {
        let mut f = Flags::default();
        for x in list {
            match x.to_ascii_lowercase().as_str() {
                "\\seen" => f.seen = true,
                "\\answered" => f.answered = true,
                "\\flagged" => f.flagged = true,
                "\\deleted" => f.deleted = true,
                "\\draft" => f.draft = true,
                "\\recent" => {}
                "$forwarded" => f.forwarded = true,
                _ if valid_keyword(x) => {
                    f.keywords.insert(x.clone());
                }
                _ => return Err(Error::BadRequest(format!("invalid flag {}", x.escape_debug()))),
            }
        }
        Ok(f)
    }

    fn apply(&self, mode: FlagMode, change: &Flags) -> Flags {
        match mode {
            FlagMode::Set => change.clone(),
            FlagMode::Add => Flags {
                seen: self.seen || change.seen,
                answered: self.answered || change.answered,
                flagged: self.flagged || change.flagged,
                deleted: self.deleted || change.deleted,
                draft: self.draft || change.draft,
                forwarded: self.forwarded || change.forwarded,
                keywords: self.keywords.union(&change.keywords).cloned().collect(),
            },
            FlagMode::Remove => Flags {
                seen: self.seen && !change.seen,
                answered: self.answered && !change.answered,
                flagged: self.flagged && !change.flagged,
                deleted: self.deleted && !change.deleted,
                draft: self.draft && !change.draft,
                forwarded: self.forwarded && !change.forwarded,
                keywords: self.keywords.difference(&change.keywords).cloned().collect(),
            },
        }
    }

    fn list(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (on, n) in [
            (self.seen, "\\Seen"),
            (self.answered, "\\Answered"),
            (self.flagged, "\\Flagged"),
            (self.deleted, "\\Deleted"),
            (self.draft, "\\Draft"),
            (self.forwarded, "$Forwarded"),
        ] {
            if on {
                v.push(n.to_string());
            }
        }
        v.extend(self.keywords.iter().cloned());
        v
    }

    fn keywords_text(&self) -> Option<String> {
        if self.keywords.is_empty() {
            None
        } else {
            Some(self.keywords.iter().cloned().collect::<Vec<_>>().join(" "))
        }
    }
}

fn keywords_from(text: Option<String>) -> BTreeSet<String> {
    text.map(|t| t.split(' ').filter(|k| !k.is_empty()).map(String::from).collect())
        .unwrap_or_default()
}

/// A message row.
struct Row {
    mid: u64,
    uid: u32,
    flags: Flags,
    received: i64,
    size: u64,
    modseq: u64,
}

const ROW_COLS: &str =
    "message_id, uid, read, replied, flagged, deleted, draft, forwarded, keywords, received, size, modseq";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        mid: r.get::<_, i64>(0)? as u64,
        uid: r.get::<_, i64>(1)? as u32,
        flags: Flags {
            seen: r.get(2)?,
            answered: r.get(3)?,
            flagged: r.get(4)?,
            deleted: r.get(5)?,
            draft: r.get(6)?,
            forwarded: r.get(7)?,
            keywords: keywords_from(r.get(8)?),
        },
        received: r.get(9)?,
        size: r.get::<_, i64>(10)? as u64,
        modseq: r.get::<_, i64>(11)? as u64,
    })
}

impl Row {
    fn meta(&self) -> MidbMessage {
        MidbMessage {
            uid: self.uid,
            flags: self.flags.list(),
            internal_date: self.received,
            size: self.size,
            modseq: self.modseq,
        }
    }
}

/// A store error as an index error.
pub fn src_err(e: SourceError) -> Error {
    match e {
        SourceError::NoMailbox => Error::NoMailbox,
        SourceError::NotFound => Error::NoFolder,
        SourceError::Exists => Error::Exists,
        SourceError::Quota => Error::Quota,
        SourceError::Other(t) => Error::Store(t),
    }
}

/// A full synchronisation pass: the folder's indexed `(mid, change_num)` rows, ascending, and
/// which of them the store still has.
type FullPass<'a> = (&'a [(u64, u64)], &'a mut [bool]);

/// One mailbox's open index.
pub struct Mailbox {
    conn: Connection,
    maildir: String,
    path: PathBuf,
    folders_synced: bool,
    /// Encoded SELECT answers per folder, valid while the index is unchanged (see
    /// [`Mailbox::cached_select`]): every session selecting a big folder would otherwise scan
    /// it again.
    selects: std::collections::HashMap<u64, (IndexVersion, std::sync::Arc<Vec<u8>>)>,
}

/// `PRAGMA data_version` and the connection's `total_changes`.
type IndexVersion = (i64, u64);

impl Mailbox {
    /// Open (creating if needed) the index of `maildir` (already validated).
    pub fn open(maildir: &str) -> Result<Mailbox, Error> {
        let path = index_path(Path::new(maildir));
        let conn = open_db(&path, None)?;
        Ok(Mailbox {
            conn,
            maildir: maildir.to_string(),
            path,
            folders_synced: false,
            selects: Default::default(),
        })
    }

    /// Drop the index file and start a new one (`gromox-mkmidb` recovery); UIDVALIDITYs of the
    /// new index are above the old ones.
    pub fn rebuild(&mut self, src: &dyn StoreSource) -> Result<(), Error> {
        let old = cfg_get(&self.conn, CFG_VALIDITY).unwrap_or(0);
        let mem = Connection::open_in_memory()?;
        drop(std::mem::replace(&mut self.conn, mem));
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Store(format!("cannot remove the old index: {e}"))),
            }
        }
        self.conn = open_db(&self.path, Some(old))?;
        self.folders_synced = false;
        self.sync_folders(src)?;
        let fids: Vec<u64> = self.folder_ids()?;
        for f in fids {
            match self.sync_folder(src, f) {
                Ok(()) | Err(Error::NoFolder) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn folder_ids(&self) -> Result<Vec<u64>, Error> {
        let mut st = self.conn.prepare("SELECT folder_id FROM folders ORDER BY folder_id")?;
        let v = st
            .query_map([], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v.into_iter().map(|x| x as u64).collect())
    }

    /// Re-read the store's folder hierarchy into `folders`.
    pub fn sync_folders(&mut self, src: &dyn StoreSource) -> Result<(), Error> {
        let all = src.list_folders(&self.maildir).map_err(src_err)?;
        let mut children: HashMap<u64, Vec<&crate::source::StoreFolder>> = HashMap::new();
        for f in &all {
            children.entry(f.parent).or_default().push(f);
        }
        for v in children.values_mut() {
            v.sort_by_key(|f| f.id);
        }
        // Depth-first from IPM_SUBTREE: (id, parent, IMAP name).
        let mut want: Vec<(u64, u64, String)> = Vec::new();
        let mut taken: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<(u64, String)> = vec![(fid::IPM_SUBTREE, String::new())];
        while let Some((id, prefix)) = stack.pop() {
            for c in children.get(&id).map(Vec::as_slice).unwrap_or(&[]) {
                if matches!(c.id, fid::OUTBOX | fid::SYNC_ISSUES) {
                    continue;
                }
                let mail = c
                    .class
                    .as_deref()
                    .is_none_or(|k| k.is_empty() || k.starts_with("IPF.Note"));
                // Default folders are never hidden; ask the store about the others.
                if !mail || c.id >= FIRST_CUSTOM_FOLDER && src.folder_hidden(&self.maildir, c.id).map_err(src_err)? {
                    continue;
                }
                let leaf = if c.id == fid::INBOX {
                    "INBOX".to_string()
                } else {
                    escape_name(&c.name)
                };
                let mut name = format!("{prefix}{leaf}");
                if c.id != fid::INBOX && normalize_name(&name) != name || taken.contains(&name.to_lowercase()) {
                    // A second folder named like another (or like INBOX): keep it reachable.
                    name = format!("{name}~{}", c.id);
                }
                taken.insert(name.to_lowercase());
                let parent = if id == fid::IPM_SUBTREE { 0 } else { id };
                want.push((c.id, parent, name.clone()));
                stack.push((c.id, format!("{name}/")));
            }
        }
        let tx = self.conn.transaction()?;
        let have: HashMap<u64, (u64, Option<String>)> = {
            let mut st = tx.prepare("SELECT folder_id, parent_fid, name FROM folders")?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, (r.get::<_, i64>(1)? as u64, r.get(2)?)))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let keep: BTreeSet<u64> = want.iter().map(|w| w.0).collect();
        for id in have.keys().filter(|id| !keep.contains(id)) {
            tx.execute("DELETE FROM messages WHERE folder_id=?1", [*id as i64])?;
            tx.execute("DELETE FROM folders WHERE folder_id=?1", [*id as i64])?;
        }
        // Clear changed names first so renames that swap names do not collide.
        for (id, parent, name) in &want {
            if let Some((p, n)) = have.get(id) {
                if p != parent || n.as_deref() != Some(name) {
                    tx.execute("UPDATE folders SET name=NULL WHERE folder_id=?1", [*id as i64])?;
                }
            }
        }
        for (id, parent, name) in &want {
            match have.get(id) {
                Some((p, n)) if p == parent && n.as_deref() == Some(name) => {}
                Some(_) => {
                    tx.execute(
                        "UPDATE folders SET name=?2, parent_fid=?3 WHERE folder_id=?1",
                        params![*id as i64, name, *parent as i64],
                    )?;
                }
                None => {
                    let v = cfg_get(&tx, CFG_VALIDITY).unwrap_or(1).max(1);
                    cfg_set(&tx, CFG_VALIDITY, v + 1)?;
                    tx.execute(
                        "INSERT INTO folders (folder_id, parent_fid, commit_max, name, uidnext, unsub, uidvalidity, msg_count)
                         VALUES (?1, ?2, 0, ?3, 1, 0, ?4, -1)",
                        params![*id as i64, *parent as i64, name, v],
                    )?;
                }
            }
        }
        tx.commit()?;
        self.folders_synced = true;
        Ok(())
    }

    fn lookup(&self, name: &str) -> Result<Option<u64>, Error> {
        Ok(self
            .conn
            .prepare_cached("SELECT folder_id FROM folders WHERE name=?1")?
            .query_row([name], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|x| x as u64))
    }

    /// The folder id of an IMAP name (re-reading the hierarchy once on a miss).
    pub fn folder_id(&mut self, src: &dyn StoreSource, name: &str) -> Result<u64, Error> {
        let name = normalize_name(name);
        if !self.folders_synced {
            self.sync_folders(src)?;
        }
        if let Some(f) = self.lookup(&name)? {
            return Ok(f);
        }
        self.sync_folders(src)?;
        self.lookup(&name)?.ok_or(Error::NoFolder)
    }

    /// Resolve and synchronise a folder: its id.
    pub fn open_folder(&mut self, src: &dyn StoreSource, name: &str) -> Result<u64, Error> {
        let f = self.folder_id(src, name)?;
        match self.sync_folder(src, f) {
            Err(Error::NoFolder) => {
                // Gone from the store (or renamed): re-read the hierarchy and try the name again.
                self.sync_folders(src)?;
                let f = self.lookup(&normalize_name(name))?.ok_or(Error::NoFolder)?;
                self.sync_folder(src, f)?;
                Ok(f)
            }
            r => r.map(|()| f),
        }
    }

    /// Bring one folder's messages in line with the store (see the crate docs).
    pub fn sync_folder(&mut self, src: &dyn StoreSource, folder: u64) -> Result<(), Error> {
        let (cn, count) = src.folder_state(&self.maildir, folder).map_err(src_err)?;
        let (commit_max, msg_count, mut uidnext): (i64, i64, i64) = self
            .conn
            .prepare_cached("SELECT commit_max, msg_count, uidnext FROM folders WHERE folder_id=?1")?
            .query_row([folder as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
            .ok_or(Error::NoFolder)?;
        if commit_max as u64 == cn && msg_count >= 0 && msg_count as u64 == count {
            return Ok(());
        }
        // Incremental first: only messages whose change number is above the last one seen
        // (new, moved in, flags changed). When the counts then agree, nothing was removed and
        // the folder is in step without listing all its messages.
        if commit_max > 0 && msg_count >= 0 {
            let mut uidnext_inc = uidnext;
            self.apply_pages(src, folder, commit_max as u64 + 1, None, &mut uidnext_inc)?;
            let indexed: i64 = self
                .conn
                .prepare_cached("SELECT COUNT(*) FROM messages WHERE folder_id=?1")?
                .query_row([folder as i64], |r| r.get(0))?;
            if indexed as u64 == count {
                self.conn.execute(
                    "UPDATE folders SET commit_max=?2, msg_count=?3 WHERE folder_id=?1",
                    params![folder as i64, cn as i64, count as i64],
                )?;
                return Ok(());
            }
            uidnext = uidnext_inc;
        }
        // Full pass: every message of the folder, so removed ones are found.
        let existing: Vec<(u64, u64)> = {
            let mut st = self
                .conn
                .prepare("SELECT message_id, change_num FROM messages WHERE folder_id=?1 ORDER BY message_id")?;
            let v = st
                .query_map([folder as i64], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            v
        };
        let mut seen = vec![false; existing.len()];
        self.apply_pages(src, folder, 0, Some((&existing, &mut seen)), &mut uidnext)?;
        let tx = self.conn.transaction()?;
        let gone: Vec<u64> = existing
            .iter()
            .zip(&seen)
            .filter(|(_, s)| !**s)
            .map(|(e, _)| e.0)
            .collect();
        if !gone.is_empty() {
            for mid in &gone {
                tx.execute(
                    "DELETE FROM messages WHERE message_id=?1 AND folder_id=?2",
                    params![*mid as i64, folder as i64],
                )?;
            }
            let m = next_modseq_tx(&tx)?;
            tx.execute(
                "UPDATE folders SET highest_modseq=?2 WHERE folder_id=?1",
                params![folder as i64, m as i64],
            )?;
        }
        tx.execute(
            "UPDATE folders SET commit_max=?2, msg_count=?3 WHERE folder_id=?1",
            params![folder as i64, cn as i64, count as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Page through the store's messages of `folder` with a change number of at least
    /// `min_cn` and bring the index rows in line: new messages get UIDs, changed flags a new
    /// modseq. With `full`, the folder's indexed `(mid, change_num)` rows (ascending) are
    /// looked up there and marked seen; without, each message is looked up in the index.
    fn apply_pages(
        &mut self,
        src: &dyn StoreSource,
        folder: u64,
        min_cn: u64,
        mut full: Option<FullPass<'_>>,
        uidnext: &mut i64,
    ) -> Result<(), Error> {
        let mut after = 0u64;
        let mut hi_modseq: Option<u64> = None;
        loop {
            let page = src
                .list_messages(&self.maildir, folder, after, PAGE, min_cn)
                .map_err(src_err)?;
            let n = page.len();
            let tx = self.conn.transaction()?;
            for s in page {
                after = after.max(s.mid);
                let known: Option<u64> = match full.as_mut() {
                    Some((existing, seen)) => match existing.binary_search_by_key(&s.mid, |e| e.0) {
                        Ok(i) => {
                            seen[i] = true;
                            Some(existing[i].1)
                        }
                        Err(_) => None,
                    },
                    None => tx
                        .prepare_cached("SELECT change_num FROM messages WHERE message_id=?1 AND folder_id=?2")?
                        .query_row(params![s.mid as i64, folder as i64], |r| r.get::<_, i64>(0))
                        .optional()?
                        .map(|c| c as u64),
                };
                if let Some(known_cn) = known {
                    if known_cn == s.change_number {
                        continue;
                    }
                    let (read, flagged, replied, forwarded, kw): (bool, bool, bool, bool, Option<String>) = tx
                        .query_row(
                            "SELECT read, flagged, replied, forwarded, keywords FROM messages WHERE message_id=?1",
                            [s.mid as i64],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                        )?;
                    let new_kw: BTreeSet<String> = s.keywords.iter().filter(|k| valid_keyword(k)).cloned().collect();
                    let differs = (read, flagged, replied, forwarded) != (s.read, s.flagged, s.answered, s.forwarded)
                        || keywords_from(kw) != new_kw;
                    if differs {
                        let m = next_modseq_tx(&tx)?;
                        hi_modseq = Some(m);
                        let kwt = Flags {
                            keywords: new_kw,
                            ..Flags::default()
                        }
                        .keywords_text();
                        tx.execute(
                            "UPDATE messages SET read=?2, flagged=?3, replied=?4, forwarded=?5, keywords=?6,
                             change_num=?7, modseq=?8 WHERE message_id=?1",
                            params![
                                s.mid as i64,
                                s.read,
                                s.flagged,
                                s.answered,
                                s.forwarded,
                                kwt,
                                s.change_number as i64,
                                m as i64
                            ],
                        )?;
                    } else {
                        tx.execute(
                            "UPDATE messages SET change_num=?2 WHERE message_id=?1",
                            params![s.mid as i64, s.change_number as i64],
                        )?;
                    }
                    continue;
                }
                let size = match src.message_rfc822(&self.maildir, s.mid) {
                    Ok(b) => b.len() as u64,
                    Err(SourceError::NotFound) => continue, // gone meanwhile
                    Err(e) => return Err(src_err(e)),
                };
                // A mid the index placed in another folder moved here: drop the stale row and
                // make that folder re-synchronise.
                if let Some(other) = tx
                    .query_row(
                        "SELECT folder_id FROM messages WHERE message_id=?1",
                        [s.mid as i64],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()?
                {
                    tx.execute("DELETE FROM messages WHERE message_id=?1", [s.mid as i64])?;
                    tx.execute("UPDATE folders SET msg_count=-1 WHERE folder_id=?1", [other])?;
                }
                let m = next_modseq_tx(&tx)?;
                hi_modseq = Some(m);
                let flags = Flags {
                    seen: s.read,
                    answered: s.answered,
                    flagged: s.flagged,
                    draft: s.draft,
                    forwarded: s.forwarded,
                    keywords: s.keywords.iter().filter(|k| valid_keyword(k)).cloned().collect(),
                    deleted: false,
                };
                insert_row(
                    &tx,
                    folder,
                    s.mid,
                    *uidnext as u32,
                    &flags,
                    s.delivery_time,
                    size,
                    m,
                    s.change_number,
                )?;
                *uidnext += 1;
            }
            tx.execute(
                "UPDATE folders SET uidnext=?2 WHERE folder_id=?1",
                params![folder as i64, *uidnext],
            )?;
            if let Some(m) = hi_modseq {
                tx.execute(
                    "UPDATE folders SET highest_modseq=?2 WHERE folder_id=?1",
                    params![folder as i64, m as i64],
                )?;
            }
            tx.commit()?;
            if n < PAGE as usize {
                break;
            }
        }
        Ok(())
    }

    /// Every mail folder, INBOX first.
    pub fn list(&mut self, src: &dyn StoreSource) -> Result<Vec<MidbFolder>, Error> {
        self.sync_folders(src)?;
        let mut st = self.conn.prepare(
            "SELECT f.folder_id, f.name, f.unsub, EXISTS (SELECT 1 FROM folders c WHERE c.parent_fid=f.folder_id)
             FROM folders f WHERE f.name IS NOT NULL ORDER BY f.folder_id<>?1, f.name",
        )?;
        let v = st
            .query_map([fid::INBOX as i64], |r| {
                Ok(MidbFolder {
                    special_use: special_use(r.get::<_, i64>(0)? as u64),
                    name: r.get(1)?,
                    subscribed: !r.get::<_, bool>(2)?,
                    has_children: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    /// Counters of a (synchronised) folder.
    pub fn status(&self, folder: u64) -> Result<MidbStatus, Error> {
        let mut st = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(recent),0), COALESCE(SUM(read=0),0), COALESCE(SUM(size),0),
                    COALESCE(SUM(deleted),0), COALESCE(SUM(CASE WHEN deleted THEN size ELSE 0 END),0),
                    MIN(CASE WHEN read=0 THEN uid END)
             FROM messages WHERE folder_id=?1",
            [folder as i64],
            |r| {
                Ok(MidbStatus {
                    messages: r.get::<_, i64>(0)? as u32,
                    recent: r.get::<_, i64>(1)? as u32,
                    unseen: r.get::<_, i64>(2)? as u32,
                    size: r.get::<_, i64>(3)? as u64,
                    deleted: r.get::<_, i64>(4)? as u32,
                    deleted_size: r.get::<_, i64>(5)? as u64,
                    first_unseen: r.get::<_, Option<i64>>(6)?.map(|u| u as u32),
                    ..MidbStatus::default()
                })
            },
        )?;
        let (uidnext, validity, hms): (i64, i64, i64) = self.conn.query_row(
            "SELECT uidnext, uidvalidity, highest_modseq FROM folders WHERE folder_id=?1",
            [folder as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        st.uidnext = uidnext as u32;
        st.uidvalidity = validity as u32;
        st.highest_modseq = hms as u64;
        let mut kws = BTreeSet::new();
        let mut q = self
            .conn
            .prepare("SELECT DISTINCT keywords FROM messages WHERE folder_id=?1 AND keywords IS NOT NULL")?;
        for k in q.query_map([folder as i64], |r| r.get::<_, Option<String>>(0))? {
            kws.extend(keywords_from(k?));
        }
        let fw: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE folder_id=?1 AND forwarded=1)",
            [folder as i64],
            |r| r.get(0),
        )?;
        if fw {
            kws.insert("$Forwarded".into());
        }
        st.keywords = kws.into_iter().collect();
        Ok(st)
    }

    /// SELECT: counters, then `\Recent` is cleared (the first selecting session saw them).
    pub fn select_status(&self, folder: u64) -> Result<MidbStatus, Error> {
        let st = self.status(folder)?;
        if st.recent > 0 {
            self.conn.execute(
                "UPDATE messages SET recent=0 WHERE folder_id=?1 AND recent",
                [folder as i64],
            )?;
        }
        Ok(st)
    }

    /// The index's version: moves with every change through this connection and every commit
    /// by another (`total_changes`, `PRAGMA data_version`).
    fn version(&self) -> Result<IndexVersion, Error> {
        let dv: i64 = self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        Ok((dv, self.conn.total_changes()))
    }

    /// The encoded SELECT answer for `folder` made by `make` last time, if the index has not
    /// changed since.
    pub fn cached_select(&self, folder: u64) -> Result<Option<std::sync::Arc<Vec<u8>>>, Error> {
        let v = self.version()?;
        Ok(self
            .selects
            .get(&folder)
            .filter(|(at, _)| *at == v)
            .map(|(_, r)| r.clone()))
    }

    /// Remember the encoded SELECT answer for `folder` at the index's current version. Only for
    /// answers without \Recent messages: those are shown to one session only.
    pub fn keep_select(&mut self, folder: u64, answer: std::sync::Arc<Vec<u8>>) -> Result<(), Error> {
        let v = self.version()?;
        self.selects.retain(|_, (at, _)| *at == v);
        self.selects.insert(folder, (v, answer));
        Ok(())
    }

    /// UIDs above `after`, ascending, at most `limit`.
    pub fn uids_after(&self, folder: u64, after: u32, limit: usize) -> Result<Vec<u32>, Error> {
        let mut st = self
            .conn
            .prepare_cached("SELECT uid FROM messages WHERE folder_id=?1 AND uid>?2 ORDER BY uid LIMIT ?3")?;
        let v = st
            .query_map(params![folder as i64, after as i64, limit as i64], |r| {
                r.get::<_, i64>(0)
            })?
            .map(|r| r.map(|u| u as u32))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    fn rows_in(
        &self,
        folder: u64,
        ranges: &[(u32, u32)],
        after: u32,
        limit: usize,
        extra: &str,
    ) -> Result<Vec<Row>, Error> {
        let mut out = Vec::new();
        let sql = format!(
            "SELECT {ROW_COLS} FROM messages WHERE folder_id=?1 AND uid>=?2 AND uid<=?3 {extra} ORDER BY uid LIMIT ?4"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        for &(a, b) in ranges {
            if b <= after {
                continue;
            }
            if out.len() >= limit {
                break;
            }
            let lo = a.max(after.saturating_add(1));
            let rows = st.query_map(
                params![folder as i64, lo as i64, b as i64, (limit - out.len()) as i64],
                row,
            )?;
            for r in rows {
                out.push(r?);
            }
        }
        Ok(out)
    }

    /// Metadata of messages in `ranges` with UID above `after`, ascending, at most `limit`.
    pub fn meta(
        &self,
        folder: u64,
        ranges: &[(u32, u32)],
        after: u32,
        limit: usize,
    ) -> Result<Vec<MidbMessage>, Error> {
        Ok(self
            .rows_in(folder, ranges, after, limit, "")?
            .iter()
            .map(Row::meta)
            .collect())
    }

    /// The store mid of a UID.
    pub fn mid_of(&self, folder: u64, uid: u32) -> Result<Option<u64>, Error> {
        Ok(self
            .conn
            .prepare_cached("SELECT message_id FROM messages WHERE folder_id=?1 AND uid=?2")?
            .query_row(params![folder as i64, uid as i64], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|m| m as u64))
    }

    /// The rendition of a UID (`None`: no such UID or the message is gone).
    pub fn fetch_mime(&self, src: &dyn StoreSource, folder: u64, uid: u32) -> Result<Option<Vec<u8>>, Error> {
        let Some(mid) = self.mid_of(folder, uid)? else {
            return Ok(None);
        };
        match src.message_rfc822(&self.maildir, mid) {
            Ok(b) => Ok(Some(b)),
            Err(SourceError::NotFound) => Ok(None),
            Err(e) => Err(src_err(e)),
        }
    }

    /// Change flags of the messages in `ranges`; their metadata afterwards.
    pub fn set_flags(
        &mut self,
        src: &dyn StoreSource,
        folder: u64,
        ranges: &[(u32, u32)],
        mode: FlagMode,
        flags: &[String],
    ) -> Result<Vec<MidbMessage>, Error> {
        let change = Flags::parse(flags)?;
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let rows = self.rows_in(folder, ranges, after, 500, "")?;
            let Some(last) = rows.last() else { break };
            after = last.uid;
            let mut updates: Vec<(Row, Flags)> = Vec::new();
            for r in rows {
                let new = r.flags.apply(mode, &change);
                if new == r.flags {
                    out.push(r.meta());
                    continue;
                }
                let fc = FlagChange {
                    read: (new.seen != r.flags.seen).then_some(new.seen),
                    flagged: (new.flagged != r.flags.flagged).then_some(new.flagged),
                    answered: (new.answered != r.flags.answered).then_some(new.answered),
                    forwarded: (new.forwarded != r.flags.forwarded).then_some(new.forwarded),
                    keywords: (new.keywords != r.flags.keywords).then(|| new.keywords.iter().cloned().collect()),
                };
                if !fc.is_empty() {
                    match src.set_flags(&self.maildir, r.mid, &fc) {
                        Ok(()) => {}
                        Err(SourceError::NotFound) => continue,
                        Err(e) => return Err(src_err(e)),
                    }
                }
                updates.push((r, new));
            }
            if updates.is_empty() {
                continue;
            }
            // One transaction per chunk; every changed message gets its own modseq.
            let tx = self.conn.transaction()?;
            let mut m = 0;
            for (mut r, new) in updates {
                m = next_modseq_tx(&tx)?;
                tx.execute(
                    "UPDATE messages SET read=?2, replied=?3, flagged=?4, deleted=?5, draft=?6, forwarded=?7,
                     keywords=?8, modseq=?9 WHERE message_id=?1",
                    params![
                        r.mid as i64,
                        new.seen,
                        new.answered,
                        new.flagged,
                        new.deleted,
                        new.draft,
                        new.forwarded,
                        new.keywords_text(),
                        m as i64
                    ],
                )?;
                r.flags = new;
                r.modseq = m;
                out.push(r.meta());
            }
            tx.execute(
                "UPDATE folders SET highest_modseq=?2 WHERE folder_id=?1",
                params![folder as i64, m as i64],
            )?;
            tx.commit()?;
        }
        out.sort_by_key(|x| x.uid);
        Ok(out)
    }

    /// Messages changed after `modseq`, and the folder's highest modseq.
    pub fn changes_since(&self, folder: u64, modseq: u64) -> Result<(u64, Vec<MidbMessage>), Error> {
        let hms: i64 = self.conn.query_row(
            "SELECT highest_modseq FROM folders WHERE folder_id=?1",
            [folder as i64],
            |r| r.get(0),
        )?;
        let mut st = self.conn.prepare(&format!(
            "SELECT {ROW_COLS} FROM messages WHERE folder_id=?1 AND modseq>?2 ORDER BY uid"
        ))?;
        let v = st
            .query_map(params![folder as i64, modseq as i64], row)?
            .map(|r| r.map(|r| r.meta()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((hms as u64, v))
    }

    /// UIDs removed from a folder after `modseq` (RFC 7162 §3.2.10, VANISHED (EARLIER)),
    /// ascending. The log is written by a trigger on every removal from the index, with a
    /// mod-sequence at least that of the removal, so nothing removed after `modseq` is missed
    /// (a UID may be reported once more than strictly needed, which RFC 7162 allows).
    pub fn vanished_since(&self, folder: u64, modseq: u64) -> Result<Vec<u32>, Error> {
        let mut st = self
            .conn
            .prepare_cached("SELECT uid FROM expunged WHERE folder_id=?1 AND modseq>?2 ORDER BY uid")?;
        let v = st
            .query_map(params![folder as i64, modseq as i64], |r| r.get::<_, i64>(0))?
            .map(|r| r.map(|u| u as u32))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    /// Delete messages (all in `ranges`, or only those flagged `\Deleted`) from the store and
    /// the index; the removed UIDs ascending.
    pub fn remove(
        &mut self,
        src: &dyn StoreSource,
        folder: u64,
        ranges: &[(u32, u32)],
        only_deleted: bool,
    ) -> Result<Vec<u32>, Error> {
        let extra = if only_deleted { "AND deleted" } else { "" };
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let rows = self.rows_in(folder, ranges, after, 1000, extra)?;
            let Some(last) = rows.last() else { break };
            after = last.uid;
            let mids: Vec<u64> = rows.iter().map(|r| r.mid).collect();
            src.delete_messages(&self.maildir, &mids).map_err(src_err)?;
            let tx = self.conn.transaction()?;
            for r in &rows {
                tx.execute("DELETE FROM messages WHERE message_id=?1", [r.mid as i64])?;
                out.push(r.uid);
            }
            let m = next_modseq_tx(&tx)?;
            tx.execute(
                "UPDATE folders SET highest_modseq=?2 WHERE folder_id=?1",
                params![folder as i64, m as i64],
            )?;
            tx.commit()?;
        }
        Ok(out)
    }

    /// COPY or MOVE: (destination UIDVALIDITY, UID pairs).
    pub fn copy(
        &mut self,
        src: &dyn StoreSource,
        folder: u64,
        ranges: &[(u32, u32)],
        dest: u64,
        is_move: bool,
    ) -> Result<(u32, Vec<(u32, u32)>), Error> {
        let mut pairs = Vec::new();
        let mut after = 0;
        loop {
            let rows = self.rows_in(folder, ranges, after, 500, "")?;
            let Some(last) = rows.last() else { break };
            after = last.uid;
            let mids: Vec<u64> = rows.iter().map(|r| r.mid).collect();
            let new = if is_move {
                src.move_messages(&self.maildir, &mids, dest)
            } else {
                src.copy_messages(&self.maildir, &mids, dest)
            }
            .map_err(src_err)?;
            let tx = self.conn.transaction()?;
            let mut uidnext: i64 =
                tx.query_row("SELECT uidnext FROM folders WHERE folder_id=?1", [dest as i64], |r| {
                    r.get(0)
                })?;
            let m = next_modseq_tx(&tx)?;
            for (r, n) in rows.iter().zip(new) {
                if n == 0 {
                    continue;
                }
                tx.execute("DELETE FROM messages WHERE message_id=?1", [n as i64])?;
                insert_row(&tx, dest, n, uidnext as u32, &r.flags, r.received, r.size, m, 0)?;
                pairs.push((r.uid, uidnext as u32));
                uidnext += 1;
                if is_move {
                    tx.execute("DELETE FROM messages WHERE message_id=?1", [r.mid as i64])?;
                }
            }
            tx.execute(
                "UPDATE folders SET uidnext=?2, highest_modseq=?3 WHERE folder_id=?1",
                params![dest as i64, uidnext, m as i64],
            )?;
            if is_move {
                tx.execute(
                    "UPDATE folders SET highest_modseq=?2 WHERE folder_id=?1",
                    params![folder as i64, m as i64],
                )?;
            }
            tx.commit()?;
        }
        let v: i64 = self.conn.query_row(
            "SELECT uidvalidity FROM folders WHERE folder_id=?1",
            [dest as i64],
            |r| r.get(0),
        )?;
        Ok((v as u32, pairs))
    }

    /// APPEND: (UIDVALIDITY, UID).
    pub fn append(
        &mut self,
        src: &dyn StoreSource,
        folder: u64,
        flags: &[String],
        date: i64,
        mime: &[u8],
    ) -> Result<(u32, u32), Error> {
        let f = Flags::parse(flags)?;
        let mid = src
            .append(
                &self.maildir,
                folder,
                &NewMessage {
                    mime,
                    read: f.seen,
                    flagged: f.flagged,
                    answered: f.answered,
                    forwarded: f.forwarded,
                    draft: f.draft,
                    keywords: f.keywords.iter().cloned().collect(),
                    delivery_time: date,
                },
            )
            .map_err(src_err)?;
        let tx = self.conn.transaction()?;
        let (uidnext, v): (i64, i64) = tx.query_row(
            "SELECT uidnext, uidvalidity FROM folders WHERE folder_id=?1",
            [folder as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let m = next_modseq_tx(&tx)?;
        tx.execute("DELETE FROM messages WHERE message_id=?1", [mid as i64])?;
        insert_row(&tx, folder, mid, uidnext as u32, &f, date, mime.len() as u64, m, 0)?;
        tx.execute(
            "UPDATE folders SET uidnext=?2, highest_modseq=?3 WHERE folder_id=?1",
            params![folder as i64, uidnext + 1, m as i64],
        )?;
        tx.commit()?;
        Ok((v as u32, uidnext as u32))
    }

    /// The store id of a name's parent and the leaf's store name, creating missing parents.
    fn parent_for(&mut self, src: &dyn StoreSource, name: &str) -> Result<(u64, String), Error> {
        let (parent, leaf) = match name.rsplit_once('/') {
            Some((p, l)) => (Some(p), l),
            None => (None, name),
        };
        let pid = match parent {
            None => fid::IPM_SUBTREE,
            Some(p) => match self.folder_id(src, p) {
                Ok(id) => id,
                Err(Error::NoFolder) => {
                    self.create(src, p)?;
                    self.folder_id(src, p)?
                }
                Err(e) => return Err(e),
            },
        };
        Ok((pid, unescape_name(leaf)))
    }

    /// CREATE (parents as needed).
    pub fn create(&mut self, src: &dyn StoreSource, name: &str) -> Result<(), Error> {
        let name = normalize_name(name.trim_end_matches('/'));
        if !valid_new_name(&name) || name == "INBOX" {
            return Err(if name == "INBOX" {
                Error::Exists
            } else {
                Error::BadRequest("invalid folder name".into())
            });
        }
        match self.folder_id(src, &name) {
            Ok(_) => return Err(Error::Exists),
            Err(Error::NoFolder) => {}
            Err(e) => return Err(e),
        }
        let (pid, leaf) = self.parent_for(src, &name)?;
        src.create_folder(&self.maildir, pid, &leaf).map_err(src_err)?;
        self.sync_folders(src)
    }

    /// DELETE: not INBOX, a special folder, or one with subfolders.
    pub fn delete(&mut self, src: &dyn StoreSource, name: &str) -> Result<(), Error> {
        let f = self.folder_id(src, name)?;
        if f == fid::INBOX || special_use(f).is_some() {
            return Err(Error::Denied("special folders cannot be deleted".into()));
        }
        let kids: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM folders WHERE parent_fid=?1)",
            [f as i64],
            |r| r.get(0),
        )?;
        if kids {
            return Err(Error::Denied("folder has subfolders; delete them first".into()));
        }
        src.delete_folder(&self.maildir, f).map_err(src_err)?;
        self.sync_folders(src)
    }

    /// RENAME: the subtree moves along; UIDVALIDITY stays.
    pub fn rename(&mut self, src: &dyn StoreSource, from: &str, to: &str) -> Result<(), Error> {
        let f = self.folder_id(src, from)?;
        if f == fid::INBOX {
            return Err(Error::Denied("INBOX cannot be renamed".into()));
        }
        let to = normalize_name(to.trim_end_matches('/'));
        if !valid_new_name(&to) {
            return Err(Error::BadRequest("invalid folder name".into()));
        }
        match self.folder_id(src, &to) {
            Ok(_) => return Err(Error::Exists),
            Err(Error::NoFolder) => {}
            Err(e) => return Err(e),
        }
        let from_name: String =
            self.conn
                .query_row("SELECT name FROM folders WHERE folder_id=?1", [f as i64], |r| r.get(0))?;
        if to.to_lowercase().starts_with(&format!("{}/", from_name.to_lowercase())) {
            return Err(Error::Denied("cannot move a folder into itself".into()));
        }
        let (pid, leaf) = self.parent_for(src, &to)?;
        src.move_folder(&self.maildir, f, pid, &leaf).map_err(src_err)?;
        self.sync_folders(src)
    }

    /// SUBSCRIBE / UNSUBSCRIBE.
    pub fn subscribe(&mut self, src: &dyn StoreSource, name: &str, on: bool) -> Result<(), Error> {
        let f = self.folder_id(src, name)?;
        self.conn
            .execute("UPDATE folders SET unsub=?2 WHERE folder_id=?1", params![f as i64, !on])?;
        Ok(())
    }
}

fn next_modseq_tx(tx: &Connection) -> Result<u64, Error> {
    let m = cfg_get(tx, CFG_MODSEQ).unwrap_or(0) + 1;
    cfg_set(tx, CFG_MODSEQ, m)?;
    Ok(m as u64)
}

#[allow(clippy::too_many_arguments)]
fn insert_row(
    tx: &Connection,
    folder: u64,
    mid: u64,
    uid: u32,
    f: &Flags,
    received: i64,
    size: u64,
    modseq: u64,
    cn: u64,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO messages (message_id, folder_id, mid_string, mod_time, uid, unsent, recent, read, flagged,
           replied, forwarded, deleted, subject, sender, rcpt, size, received, keywords, modseq, change_num, draft)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, 1, ?6, ?7, ?8, ?9, ?10, '', '', '', ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            mid as i64,
            folder as i64,
            mid.to_string(),
            received,
            uid as i64,
            f.seen,
            f.flagged,
            f.answered,
            f.forwarded,
            f.deleted,
            size as i64,
            received,
            f.keywords_text(),
            modseq as i64,
            cn as i64,
            f.draft
        ],
    )?;
    Ok(())
}

fn cfg_get(c: &Connection, id: i64) -> Option<i64> {
    c.query_row(
        "SELECT config_value FROM configurations WHERE config_id=?1",
        [id],
        |r| r.get(0),
    )
    .ok()
}

fn cfg_set(c: &Connection, id: i64, v: i64) -> Result<(), Error> {
    c.execute(
        "INSERT INTO configurations (config_id, config_value) VALUES (?1, ?2)
         ON CONFLICT(config_id) DO UPDATE SET config_value=excluded.config_value",
        params![id, v],
    )?;
    Ok(())
}

/// Open (create) the index database: WAL, schema, counters.
fn open_db(path: &Path, min_validity: Option<i64>) -> Result<Connection, Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.execute_batch(SCHEMA)?;
    if cfg_get(&conn, CFG_SCHEMA).is_none() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() as i64)
            .clamp(1, i64::from(u32::MAX / 2));
        cfg_set(&conn, CFG_SCHEMA, SCHEMA_VERSION)?;
        cfg_set(&conn, CFG_VALIDITY, now.max(min_validity.unwrap_or(0)))?;
    }
    Ok(conn)
}
