//! Search folders (MS-OXOSRCH; MS-OXCFOLD §2.2.1.4 RopSetSearchCriteria, §2.2.1.5
//! RopGetSearchCriteria, §3.2.5.4 and §3.2.5.5 their server processing).
//!
//! A search folder is a `folders` row with `is_search = 1` (PR_FOLDER_TYPE FOLDER_SEARCH). Its
//! criteria are kept in Gromox's layout: `folders.search_criteria` is the restriction in the
//! MS-OXCDATA §2.12 packet format (16-bit counts, as RopSetSearchCriteria carries it; a 32-bit
//! count encoding is read too), `folders.search_flags` the search state as RopGetSearchCriteria
//! reports it ([`status`]: running, rebuilding, recursive, complete, static), and
//! `search_scopes` the folders searched. The matching messages are rows of `search_result`
//! (search folder, message); a content table over the search folder lists them.
//!
//! **Population** runs in the background: [`Store::set_search_criteria`] clears the results,
//! marks the search SEARCH_REBUILD and queues it; [`Store::search_step`] evaluates a bounded
//! number of messages per call, each batch its own short transaction, and when the last scope
//! folder is done clears SEARCH_REBUILD, sets SEARCH_COMPLETE and emits
//! [`StoreNotice::SearchComplete`]. The daemon calls it from its maintenance thread
//! ([`crate::cache::StoreCache::search_step`]); a search still rebuilding when the store is
//! closed starts over when it is opened again.
//!
//! **Keeping results current** (dynamic searches, MS-OXCFOLD §3.2.5.4): while a running
//! dynamic search exists, temporary triggers on this connection record every message whose
//! row, properties, recipients or attachments change in `search_pending` (a table this
//! implementation adds, committed with the change itself, so nothing is lost to a crash). The
//! queue is worked off — each message re-evaluated against every running search whose scope
//! holds its folder, added to or removed from `search_result` — by [`Store::search_step`] and
//! before anything reads search results (content tables over a search folder,
//! [`Store::search_results`]). So a delivery, a read-state change, a soft delete or a move out
//! of scope shows in the search folder the next time it is read, and the write paths stay as
//! they are. Static searches are populated once and not updated.

use std::cell::Cell;
use std::collections::{HashSet, VecDeque};

use gromox_mapi::restriction::{self, Restriction};
use gromox_mapi::tags::PR_FOLDER_TYPE;
use gromox_mapi::time::now_filetime;
use gromox_mapi::{PropVal, TaggedVal};
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::notify::{Event, StoreNotice};
use crate::store::{create_folder_row, find_child, folder_exists, put_prop_tx, ExecCached, Obj, Store};

/// RopSetSearchCriteria SearchFlags (MS-OXCFOLD §2.2.1.4.1): what the client asks for.
pub mod request {
    /// Stop the search: the results stay as they are and are no longer updated.
    pub const STOP_SEARCH: u32 = 0x0000_0001;
    /// (Re)start the search: the folder is populated again.
    pub const RESTART_SEARCH: u32 = 0x0000_0002;
    /// Search the scope folders and all their subfolders.
    pub const RECURSIVE_SEARCH: u32 = 0x0000_0004;
    /// Search only the scope folders themselves.
    pub const SHALLOW_SEARCH: u32 = 0x0000_0008;
    /// Use a content index (accepted; there is none, every search evaluates messages).
    pub const CONTENT_INDEXED_SEARCH: u32 = 0x0001_0000;
    /// Do not use a content index (accepted, the only way searches run here).
    pub const NON_CONTENT_INDEXED_SEARCH: u32 = 0x0002_0000;
    /// Populate once; later changes to messages are not reflected.
    pub const STATIC_SEARCH: u32 = 0x0004_0000;
}

/// RopGetSearchCriteria SearchFlags (MS-OXCFOLD §2.2.1.5.2): the state of a search, kept in
/// `folders.search_flags`.
pub mod status {
    /// The search is active (results follow changes, unless static).
    pub const SEARCH_RUNNING: u32 = 0x0000_0001;
    /// The initial population is in progress.
    pub const SEARCH_REBUILD: u32 = 0x0000_0002;
    /// The scope folders' subfolders are searched too.
    pub const SEARCH_RECURSIVE: u32 = 0x0000_0004;
    /// The population finished.
    pub const SEARCH_COMPLETE: u32 = 0x0000_1000;
    /// A static search.
    pub const SEARCH_STATIC: u32 = 0x0001_0000;
}

use request::*;
use status::*;

/// PR_FOLDER_TYPE of a search folder (MS-OXCFOLD §2.2.2.2.1.5 FOLDER_SEARCH).
pub const FOLDER_SEARCH: i32 = 2;

/// Most messages one background batch evaluates (one short transaction).
const BATCH: usize = 256;
/// Deepest folder nesting followed when looking for a message's ancestors.
const MAX_DEPTH: usize = 256;

/// What RopGetSearchCriteria answers: the restriction, the scope folders and the state
/// ([`status`] flags).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchCriteria {
    /// `None` before the first RopSetSearchCriteria.
    pub restriction: Option<Restriction>,
    pub scope: Vec<u64>,
    pub status: u32,
}

/// What one [`Store::search_step`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchProgress {
    /// Messages evaluated (queued changes and population).
    pub evaluated: usize,
    /// Search folders whose population finished in this step.
    pub completed: Vec<u64>,
    /// Whether work is left (call again).
    pub more: bool,
}

/// A search folder being populated.
#[derive(Debug)]
struct Population {
    folder: u64,
    restriction: Restriction,
    /// The folders to scan (the scope, with subfolders when recursive).
    folders: Vec<u64>,
    idx: usize,
    after: u64,
}

/// Per-store search state kept in memory (the store's own connection).
#[derive(Debug, Default)]
pub(crate) struct SearchState {
    /// Whether the change-capturing triggers are installed on this connection.
    triggers: Cell<bool>,
    /// The connection's `total_changes` when the change queue was last found empty: while it
    /// has not moved, nothing can have been queued (no SQL needed to know).
    drained_at: Cell<Option<u64>>,
    populations: VecDeque<Population>,
}

/// A search whose results follow changes.
struct Active {
    folder: u64,
    restriction: Restriction,
    scope: HashSet<u64>,
    recursive: bool,
}

/// Decodes stored search criteria: the MS-OXCDATA §2.12 packet with 16-bit counts, else with
/// 32-bit counts (bounded by the restriction decoder: depth, node count, every length checked).
pub fn decode_criteria(b: &[u8]) -> Result<Restriction> {
    match restriction::decode(b, false) {
        Ok(r) => Ok(r),
        Err(e) => restriction::decode(b, true).map_err(|_| Error::from(e)),
    }
}

/// Encodes criteria for `folders.search_criteria`.
pub fn encode_criteria(r: &Restriction) -> Vec<u8> {
    restriction::encode(r, false)
}

/// Fuzz entry point (`search_criteria` target): a stored `search_criteria` blob.
pub fn fuzz_criteria(data: &[u8]) {
    if let Ok(r) = decode_criteria(data) {
        // Whatever decodes can be stored again.
        let _ = decode_criteria(&encode_criteria(&r));
    }
}

/// Row of a folder's search columns: (is_search, is_deleted, search_flags, search_criteria).
type SearchRow = (bool, bool, u32, Option<Vec<u8>>);

fn search_row(c: &Connection, folder: u64) -> Result<Option<SearchRow>> {
    Ok(c.prepare_cached(
        "SELECT COALESCE(is_search,0), COALESCE(is_deleted,0), COALESCE(search_flags,0), search_criteria \
         FROM folders WHERE folder_id=?1",
    )?
    .query_row([folder as i64], |r| {
        Ok((
            r.get::<_, i64>(0)? != 0,
            r.get::<_, i64>(1)? != 0,
            r.get::<_, i64>(2)? as u32,
            r.get::<_, Option<Vec<u8>>>(3)?,
        ))
    })
    .optional()?)
}

fn scope_of(c: &Connection, folder: u64) -> Result<Vec<u64>> {
    let mut st = c.prepare_cached("SELECT included_fid FROM search_scopes WHERE folder_id=?1 ORDER BY rowid")?;
    let v = st
        .query_map([folder as i64], |r| r.get::<_, i64>(0))?
        .map(|r| r.map(|v| v as u64))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// The folder and its ancestors (nearest first), bounded.
fn ancestors(c: &Connection, folder: u64) -> Result<Vec<u64>> {
    let mut out = vec![folder];
    let mut st = c.prepare_cached("SELECT parent_id FROM folders WHERE folder_id=?1")?;
    let mut cur = folder;
    while out.len() < MAX_DEPTH {
        let p: Option<i64> = st.query_row([cur as i64], |r| r.get(0)).optional()?.flatten();
        match p {
            Some(p) if p as u64 != cur && !out.contains(&(p as u64)) => {
                cur = p as u64;
                out.push(cur);
            }
            _ => break,
        }
    }
    Ok(out)
}

/// The live folders of a search's scope: each scope folder and, when recursive, its live
/// subfolders (search folders left out), without duplicates.
fn expand_scope(c: &Connection, scope: &[u64], recursive: bool) -> Result<Vec<u64>> {
    let mut out: Vec<u64> = Vec::new();
    let mut seen = HashSet::new();
    let mut kids = c.prepare_cached(
        "SELECT folder_id FROM folders WHERE parent_id=?1 AND COALESCE(is_deleted,0)=0 AND COALESCE(is_search,0)=0 \
         ORDER BY folder_id",
    )?;
    let mut stack: Vec<u64> = scope.iter().rev().copied().collect();
    while let Some(f) = stack.pop() {
        if !seen.insert(f) || !folder_exists(c, f)? {
            continue;
        }
        out.push(f);
        if recursive {
            let v = kids
                .query_map([f as i64], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            stack.extend(v.into_iter().rev().map(|x| x as u64));
        }
    }
    Ok(out)
}

/// Refuses a search folder as the place of a new or moved message (a search folder lists
/// messages of other folders and holds none itself; MS-OXOSRCH §1.3).
pub(crate) fn refuse_search_target(c: &Connection, private: bool, folder: u64) -> Result<()> {
    if private && search_row(c, folder)?.is_some_and(|r| r.0) {
        return Err(Error::InvalidArgument("a search folder holds no messages"));
    }
    Ok(())
}

/// The running dynamic searches (their results follow changes).
fn load_active(c: &Connection) -> Result<Vec<Active>> {
    let mut st = c.prepare_cached(
        "SELECT folder_id, COALESCE(search_flags,0), search_criteria FROM folders \
         WHERE is_search=1 AND COALESCE(is_deleted,0)=0 AND search_criteria IS NOT NULL",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u32,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for (folder, flags, crit) in rows {
        if flags & SEARCH_RUNNING == 0 || flags & SEARCH_STATIC != 0 {
            continue;
        }
        // Criteria that do not decode (damaged) make no matches rather than fail every write.
        let Ok(restriction) = decode_criteria(&crit) else {
            continue;
        };
        out.push(Active {
            folder,
            restriction,
            scope: scope_of(c, folder)?.into_iter().collect(),
            recursive: flags & SEARCH_RECURSIVE != 0,
        });
    }
    Ok(out)
}

/// The statements that capture changed messages while dynamic searches run (temporary: they
/// exist on this connection only and are not part of the store's schema). No conflict clause:
/// the outer statement's (e.g. a `REPLACE`, or a foreign-key cascade) would override it.
/// The change-capturing temporary triggers: (name, event, table, condition, the changed row).
/// Each queues the row's message in `search_pending` once. Not `INSERT OR IGNORE`: a conflict
/// policy on the statement that fires a trigger (e.g. the `OR REPLACE` of a property write)
/// overrides the trigger's own, so the duplicate check is spelled out.
const TRIGGERS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "gx_search_msg_ins",
        "INSERT",
        "messages",
        "WHEN NEW.parent_fid IS NOT NULL",
        "NEW",
    ),
    (
        "gx_search_msg_upd",
        "UPDATE",
        "messages",
        "WHEN NEW.parent_fid IS NOT NULL",
        "NEW",
    ),
    ("gx_search_prop_ins", "INSERT", "message_properties", "", "NEW"),
    ("gx_search_prop_upd", "UPDATE", "message_properties", "", "NEW"),
    ("gx_search_prop_del", "DELETE", "message_properties", "", "OLD"),
    ("gx_search_att_ins", "INSERT", "attachments", "", "NEW"),
    ("gx_search_att_del", "DELETE", "attachments", "", "OLD"),
    ("gx_search_rcpt_ins", "INSERT", "recipients", "", "NEW"),
    ("gx_search_rcpt_del", "DELETE", "recipients", "", "OLD"),
];

/// The SQL creating the queue table and [`TRIGGERS`].
fn trigger_sql() -> String {
    let mut sql = String::from("CREATE TABLE IF NOT EXISTS search_pending (message_id INTEGER PRIMARY KEY);\n");
    for (name, event, table, when, row) in TRIGGERS {
        sql.push_str(&format!(
            "CREATE TEMP TRIGGER IF NOT EXISTS {name} AFTER {event} ON {table} {when}\n  \
             BEGIN INSERT INTO search_pending (message_id) SELECT {row}.message_id \
             WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE message_id={row}.message_id); END;\n"
        ));
    }
    sql
}

impl Store {
    /// Whether `folder` is a search folder (always false in a public store, which has none).
    pub fn is_search_folder(&self, folder: u64) -> Result<bool> {
        if !self.private {
            return Ok(false);
        }
        Ok(search_row(&self.conn, folder)?.is_some_and(|r| r.0))
    }

    /// Creates a search folder (MS-OXCFOLD §2.2.1.2 RopCreateFolder with FolderType
    /// FOLDER_SEARCH) under `parent` — the Finder folder (Gromox's "Search Root") or any live
    /// generic folder: `folders.is_search = 1`, PR_FOLDER_TYPE 2, no criteria yet. Names are
    /// checked as for [`Store::create_folder`]; a search folder cannot be the parent.
    pub fn create_search_folder(&mut self, parent: u64, name: &str) -> Result<u64> {
        if !self.private {
            return Err(Error::InvalidArgument("search folders exist in private stores only"));
        }
        if name.is_empty() || name.len() > 256 || name.chars().any(|c| c.is_control()) {
            return Err(Error::InvalidName(name.to_owned()));
        }
        let guid = self.guid();
        let tx = self.conn.transaction()?;
        if !folder_exists(&tx, parent)? {
            return Err(Error::NotFound("parent folder"));
        }
        if search_row(&tx, parent)?.is_some_and(|r| r.0) {
            return Err(Error::InvalidArgument("a search folder has no subfolders"));
        }
        if find_child(&tx, parent, name)?.is_some() {
            return Err(Error::NameConflict(name.to_owned()));
        }
        let id = Store::next_store_eid(&tx)?;
        create_folder_row(&tx, guid, id, Some(parent), name, None, now_filetime())?;
        tx.exec("UPDATE folders SET is_search=1 WHERE folder_id=?1", [id as i64])?;
        put_prop_tx(
            &tx,
            &self.dir,
            self.durability,
            Obj::Folder(id),
            &TaggedVal::new(PR_FOLDER_TYPE, PropVal::I4(FOLDER_SEARCH)),
        )?;
        tx.commit()?;
        self.notifier.emit(Event::FolderCreated { folder: id, parent });
        Ok(id)
    }

    /// RopSetSearchCriteria (MS-OXCFOLD §2.2.1.4, §3.2.5.4): sets a search folder's
    /// restriction and scope folders (`None`: keep the previous one; the first call needs
    /// both) and controls the search with [`request`] flags: STOP_SEARCH stops it (results
    /// kept, no longer updated), RESTART_SEARCH restarts it, RECURSIVE_SEARCH/SHALLOW_SEARCH
    /// choose whether subfolders of the scope are searched (default: as before, else
    /// shallow), STATIC_SEARCH populates once. New criteria, or a restart, clear the results
    /// and queue the population ([`Store::search_step`]); this call returns before it is done
    /// (SEARCH_REBUILD set). Scope folders must be live folders other than search folders.
    pub fn set_search_criteria(
        &mut self,
        folder: u64,
        restriction: Option<&Restriction>,
        scope: Option<&[u64]>,
        flags: u32,
    ) -> Result<()> {
        if !self.private {
            return Err(Error::InvalidArgument("search folders exist in private stores only"));
        }
        if flags & STOP_SEARCH != 0 && flags & RESTART_SEARCH != 0 {
            return Err(Error::InvalidArgument("STOP_SEARCH with RESTART_SEARCH"));
        }
        if flags & RECURSIVE_SEARCH != 0 && flags & SHALLOW_SEARCH != 0 {
            return Err(Error::InvalidArgument("RECURSIVE_SEARCH with SHALLOW_SEARCH"));
        }
        let tx = self.conn.unchecked_transaction()?;
        let (is_search, deleted, old, crit) = search_row(&tx, folder)?.ok_or(Error::NotFound("folder"))?;
        if deleted {
            return Err(Error::NotFound("folder"));
        }
        if !is_search {
            return Err(Error::InvalidArgument("not a search folder"));
        }
        let first = crit.is_none();
        let new_r = match (restriction, &crit) {
            (Some(r), _) => r.clone(),
            (None, Some(b)) => decode_criteria(b)?,
            (None, None) => return Err(Error::InvalidArgument("the first search needs a restriction")),
        };
        let new_scope: Vec<u64> = match scope {
            Some(s) => {
                let mut v: Vec<u64> = Vec::with_capacity(s.len());
                for &f in s {
                    if !v.contains(&f) {
                        v.push(f);
                    }
                }
                v
            }
            None => scope_of(&tx, folder)?,
        };
        if new_scope.is_empty() {
            return Err(Error::InvalidArgument("the first search needs scope folders"));
        }
        if scope.is_some() {
            for &f in &new_scope {
                match search_row(&tx, f)? {
                    Some((false, false, _, _)) => {}
                    Some((true, _, _, _)) => return Err(Error::InvalidArgument("a search folder in the scope")),
                    _ => return Err(Error::NotFound("scope folder")),
                }
            }
        }
        let recursive = if flags & RECURSIVE_SEARCH != 0 {
            true
        } else if flags & SHALLOW_SEARCH != 0 {
            false
        } else {
            old & SEARCH_RECURSIVE != 0
        };
        let is_static = flags & STATIC_SEARCH != 0;
        let running = if flags & STOP_SEARCH != 0 {
            false
        } else {
            flags & RESTART_SEARCH != 0 || first || old & SEARCH_RUNNING != 0
        };
        let changed = first || restriction.is_some() || scope.is_some() || is_static != (old & SEARCH_STATIC != 0);
        let rebuild = running && (changed || flags & RESTART_SEARCH != 0 || recursive != (old & SEARCH_RECURSIVE != 0));
        let mut st = 0;
        if running {
            st |= SEARCH_RUNNING;
        }
        if recursive {
            st |= SEARCH_RECURSIVE;
        }
        if is_static {
            st |= SEARCH_STATIC;
        }
        if rebuild {
            st |= SEARCH_REBUILD;
        } else if !changed {
            st |= old & SEARCH_COMPLETE;
        }
        tx.exec(
            "UPDATE folders SET search_flags=?1, search_criteria=?2 WHERE folder_id=?3",
            params![i64::from(st), encode_criteria(&new_r), folder as i64],
        )?;
        if scope.is_some() {
            tx.exec("DELETE FROM search_scopes WHERE folder_id=?1", [folder as i64])?;
            for &f in &new_scope {
                tx.exec(
                    "INSERT INTO search_scopes (folder_id, included_fid) VALUES (?1, ?2)",
                    params![folder as i64, f as i64],
                )?;
            }
        }
        if rebuild || changed {
            tx.exec("DELETE FROM search_result WHERE folder_id=?1", [folder as i64])?;
        }
        let folders = if rebuild {
            expand_scope(&tx, &new_scope, recursive)?
        } else {
            Vec::new()
        };
        tx.commit()?;
        self.search.populations.retain(|p| p.folder != folder);
        if rebuild {
            self.search.populations.push_back(Population {
                folder,
                restriction: new_r,
                folders,
                idx: 0,
                after: 0,
            });
        }
        self.sync_search_triggers()?;
        self.notifier.emit(Event::FolderModified { folder });
        Ok(())
    }

    /// RopGetSearchCriteria (MS-OXCFOLD §2.2.1.5): restriction, scope folders and state
    /// ([`status`] flags) of a search folder.
    pub fn get_search_criteria(&self, folder: u64) -> Result<SearchCriteria> {
        if !self.private {
            return Err(Error::InvalidArgument("search folders exist in private stores only"));
        }
        let (is_search, deleted, flags, crit) = search_row(&self.conn, folder)?.ok_or(Error::NotFound("folder"))?;
        if deleted {
            return Err(Error::NotFound("folder"));
        }
        if !is_search {
            return Err(Error::InvalidArgument("not a search folder"));
        }
        Ok(SearchCriteria {
            restriction: crit.as_deref().map(decode_criteria).transpose()?,
            scope: scope_of(&self.conn, folder)?,
            status: flags,
        })
    }

    /// The live messages a search folder lists, by message id (queued changes applied first).
    pub fn search_results(&self, folder: u64) -> Result<Vec<u64>> {
        self.search_flush()?;
        let mut st = self.conn.prepare_cached(
            "SELECT s.message_id FROM search_result s JOIN messages m ON m.message_id=s.message_id \
             WHERE s.folder_id=?1 AND m.is_deleted=0 ORDER BY s.message_id",
        )?;
        let v = st
            .query_map([folder as i64], |r| r.get::<_, i64>(0))?
            .map(|r| r.map(|v| v as u64))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    /// Whether [`Store::search_step`] has anything to do (no SQL: populations under way, or
    /// writes through this connection since the change queue was last emptied).
    pub fn has_search_work(&self) -> bool {
        !self.search.populations.is_empty() || self.search_queue_may_have_work()
    }

    fn search_queue_may_have_work(&self) -> bool {
        self.search.triggers.get() && self.search.drained_at.get() != Some(self.conn.total_changes())
    }

    /// Background work for search folders, bounded by `budget` message evaluations: first the
    /// queued message changes, then the population of rebuilding searches, each batch of at
    /// most 256 messages its own short transaction. A population that finishes clears
    /// SEARCH_REBUILD, sets SEARCH_COMPLETE and emits [`StoreNotice::SearchComplete`]. Call
    /// until `more` is false (tests), or now and then (the daemon's maintenance thread).
    pub fn search_step(&mut self, budget: usize) -> Result<SearchProgress> {
        let mut prog = SearchProgress {
            evaluated: self.search_drain(budget)?,
            ..Default::default()
        };
        while prog.evaluated < budget {
            let Some(mut p) = self.search.populations.pop_front() else {
                break;
            };
            let n = (budget - prog.evaluated).min(BATCH);
            let tx = self.conn.unchecked_transaction()?;
            let live = matches!(search_row(&tx, p.folder)?, Some((true, false, f, _)) if f & SEARCH_REBUILD != 0);
            if !live {
                continue; // deleted, or its criteria were set again meanwhile
            }
            if p.idx >= p.folders.len() {
                tx.exec(
                    "UPDATE folders SET search_flags=(COALESCE(search_flags,0) & ~?1) | ?2 WHERE folder_id=?3",
                    params![i64::from(SEARCH_REBUILD), i64::from(SEARCH_COMPLETE), p.folder as i64],
                )?;
                tx.commit()?;
                prog.completed.push(p.folder);
                self.notifier.notice(StoreNotice::SearchComplete { folder: p.folder });
                continue;
            }
            let mids: Vec<u64> = {
                // Walk the primary key from where the last batch stopped: a folder index would
                // make SQLite sort all the folder's rows for every batch.
                let mut st = tx.prepare_cached(
                    "SELECT message_id FROM messages NOT INDEXED WHERE message_id>?2 AND parent_fid=?1 \
                     AND is_deleted=0 AND COALESCE(is_associated,0)=0 ORDER BY message_id LIMIT ?3",
                )?;
                let v = st
                    .query_map(params![p.folders[p.idx] as i64, p.after as i64, n as i64], |r| {
                        r.get::<_, i64>(0)
                    })?
                    .map(|r| r.map(|v| v as u64))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                v
            };
            for &m in &mids {
                if crate::table::message_matches(self, m, &p.restriction) {
                    tx.exec(
                        "INSERT OR IGNORE INTO search_result (folder_id, message_id) VALUES (?1, ?2)",
                        params![p.folder as i64, m as i64],
                    )?;
                }
            }
            tx.commit()?;
            prog.evaluated += mids.len().max(1);
            if mids.len() < n {
                p.idx += 1;
                p.after = 0;
            } else if let Some(&last) = mids.last() {
                p.after = last;
            }
            self.search.populations.push_front(p);
        }
        prog.more = !self.search.populations.is_empty() || self.search_pending_count()? > 0;
        Ok(prog)
    }

    /// Applies every queued message change to the search results (before they are read).
    pub(crate) fn search_flush(&self) -> Result<()> {
        while self.search_drain(usize::MAX)? > 0 {}
        Ok(())
    }

    fn search_pending_count(&self) -> Result<i64> {
        if !self.search_queue_may_have_work() {
            return Ok(0);
        }
        Ok(self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM search_pending")?
            .query_row([], |r| r.get(0))?)
    }

    /// Re-evaluates up to `budget` queued messages against the running dynamic searches;
    /// returns how many it took off the queue. Does nothing inside a caller's transaction.
    fn search_drain(&self, budget: usize) -> Result<usize> {
        if !self.search_queue_may_have_work() || !self.conn.is_autocommit() {
            return Ok(0);
        }
        let mut done = 0;
        let mut active: Option<Vec<Active>> = None;
        while done < budget {
            let n = (budget - done).min(BATCH);
            let tx = self.conn.unchecked_transaction()?;
            let mids: Vec<u64> = {
                let mut st = tx.prepare_cached("SELECT message_id FROM search_pending LIMIT ?1")?;
                let v = st
                    .query_map([n as i64], |r| r.get::<_, i64>(0))?
                    .map(|r| r.map(|v| v as u64))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                v
            };
            if mids.is_empty() {
                drop(tx);
                self.search.drained_at.set(Some(self.conn.total_changes()));
                break;
            }
            if active.is_none() {
                active = Some(load_active(&tx)?);
            }
            let act = active.as_deref().unwrap_or_default();
            for &m in &mids {
                self.search_reevaluate(&tx, m, act)?;
                tx.exec("DELETE FROM search_pending WHERE message_id=?1", [m as i64])?;
            }
            tx.commit()?;
            done += mids.len();
        }
        Ok(done)
    }

    /// One changed message against every running dynamic search: in the results exactly when
    /// it is a live normal message of a folder in the search's scope satisfying its restriction.
    fn search_reevaluate(&self, c: &Connection, mid: u64, active: &[Active]) -> Result<()> {
        let row: Option<(Option<i64>, i64, i64)> = c
            .prepare_cached(
                "SELECT parent_fid, COALESCE(is_deleted,0), COALESCE(is_associated,0) FROM messages WHERE message_id=?1",
            )?
            .query_row([mid as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((Some(folder), deleted, assoc)) = row else {
            return Ok(()); // gone (its result rows went with it) or an embedded message
        };
        let live = deleted == 0 && assoc == 0;
        let chain = if active.iter().any(|a| a.recursive) {
            ancestors(c, folder as u64)?
        } else {
            vec![folder as u64]
        };
        for a in active {
            let in_scope = if a.recursive {
                chain.iter().any(|f| a.scope.contains(f))
            } else {
                a.scope.contains(&(folder as u64))
            };
            if live && in_scope && crate::table::message_matches(self, mid, &a.restriction) {
                c.exec(
                    "INSERT OR IGNORE INTO search_result (folder_id, message_id) VALUES (?1, ?2)",
                    params![a.folder as i64, mid as i64],
                )?;
            } else {
                c.exec(
                    "DELETE FROM search_result WHERE folder_id=?1 AND message_id=?2",
                    params![a.folder as i64, mid as i64],
                )?;
            }
        }
        Ok(())
    }

    /// Installs the change-capturing triggers when a running dynamic search exists, and
    /// removes them when none does.
    pub(crate) fn sync_search_triggers(&self) -> Result<()> {
        if !self.private {
            return Ok(());
        }
        let any: bool = self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM folders WHERE is_search=1 AND COALESCE(is_deleted,0)=0 \
             AND (COALESCE(search_flags,0) & ?1)=?1 AND (COALESCE(search_flags,0) & ?2)=0)",
            params![i64::from(SEARCH_RUNNING), i64::from(SEARCH_STATIC)],
            |r| r.get(0),
        )?;
        if any && !self.search.triggers.get() {
            self.conn.execute_batch(&trigger_sql())?;
            self.search.triggers.set(true);
            // Whatever an earlier process left queued is applied first.
            self.search.drained_at.set(None);
        } else if !any && self.search.triggers.get() {
            // Apply what is queued before the queue stops being read.
            self.search_flush()?;
            for (t, ..) in TRIGGERS {
                self.conn.execute_batch(&format!("DROP TRIGGER IF EXISTS temp.{t}"))?;
            }
            self.search.triggers.set(false);
        }
        Ok(())
    }

    /// At open: searches left rebuilding (the store was closed before their population
    /// finished) start over, and the triggers are installed when dynamic searches run.
    pub(crate) fn search_resume(&mut self) -> Result<()> {
        if !self.private {
            return Ok(());
        }
        let rows: Vec<(u64, u32, Vec<u8>)> = {
            let mut st = self.conn.prepare(
                "SELECT folder_id, COALESCE(search_flags,0), search_criteria FROM folders \
                 WHERE is_search=1 AND COALESCE(is_deleted,0)=0 AND search_criteria IS NOT NULL \
                 AND (COALESCE(search_flags,0) & ?1)!=0 ORDER BY folder_id",
            )?;
            let v = st
                .query_map([i64::from(SEARCH_REBUILD)], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u32, r.get(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v
        };
        for (folder, flags, crit) in rows {
            let Ok(restriction) = decode_criteria(&crit) else {
                continue;
            };
            let scope = scope_of(&self.conn, folder)?;
            let folders = expand_scope(&self.conn, &scope, flags & SEARCH_RECURSIVE != 0)?;
            self.search.populations.push_back(Population {
                folder,
                restriction,
                folders,
                idx: 0,
                after: 0,
            });
        }
        self.sync_search_triggers()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_seeds() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/search_criteria");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            fuzz_criteria(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n >= 4);
    }

    #[test]
    fn criteria_round_trip_both_count_widths() {
        use gromox_mapi::restriction::RelOp;
        use gromox_mapi::tags::{PR_HASATTACH, PR_READ};
        let r = Restriction::And(vec![
            Restriction::Property {
                op: RelOp::Eq,
                tag: PR_READ,
                value: TaggedVal::new(PR_READ, PropVal::Boolean(false)),
            },
            Restriction::Property {
                op: RelOp::Eq,
                tag: PR_HASATTACH,
                value: TaggedVal::new(PR_HASATTACH, PropVal::Boolean(true)),
            },
        ]);
        assert_eq!(decode_criteria(&encode_criteria(&r)).unwrap(), r);
        assert_eq!(decode_criteria(&restriction::encode(&r, true)).unwrap(), r);
        assert!(decode_criteria(&[0x00, 0xff, 0xff]).is_err());
    }
}
