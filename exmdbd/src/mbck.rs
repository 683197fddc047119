//! Store integrity check (`gromox-mbck`): schema version, SQLite integrity and foreign keys,
//! id counters, size counters, summary columns, missing and orphaned content files.

use crate::cid;
use crate::error::Result;
use crate::schema::{self, cfg};
use crate::store::{Store, StoreOptions};
use std::path::Path;

/// Findings of a check.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Damage: missing files, broken keys, counters behind the data.
    pub errors: Vec<String>,
    /// Harmless leftovers (orphaned content files).
    pub warnings: Vec<String>,
    /// What `-p` repaired/removed.
    pub fixed: Vec<String>,
}

impl Report {
    /// Whether the store is sound.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Checks the store in `maildir`; with `purge`, removes orphaned content files and fixes the
/// size counters.
pub fn check(maildir: &Path, purge: bool) -> Result<Report> {
    let mut rep = Report::default();
    let mut st = match Store::open(maildir, &StoreOptions::default()) {
        Ok(s) => s,
        Err(e) => {
            rep.errors.push(format!("cannot open: {e}"));
            return Ok(rep);
        }
    };
    let c = st.conn();
    let v = st.schema_version()?;
    if v != schema::SCHEMA_VERSION {
        rep.errors.push(format!("schema version {v}"));
    }
    for t in schema::REQUIRED_TABLES {
        if !crate::store::table_exists(c, t)? {
            rep.errors.push(format!("table {t} missing"));
        }
    }
    let ic: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if ic != "ok" {
        rep.errors.push(format!("quick_check: {ic}"));
    }
    {
        let mut s = c.prepare("PRAGMA foreign_key_check")?;
        let mut rows = s.query([])?;
        while let Some(r) = rows.next()? {
            let t: String = r.get(0)?;
            let id: Option<i64> = r.get(1)?;
            rep.errors.push(format!("foreign key violation in {t} row {id:?}"));
        }
    }
    let last_cn: i64 = c.query_row(
        "SELECT config_value FROM configurations WHERE config_id=?1",
        [cfg::LAST_CHANGE_NUMBER],
        |r| r.get(0),
    )?;
    let max_cn: i64 = c.query_row(
        "SELECT MAX(x) FROM (SELECT MAX(change_number) x FROM folders UNION ALL SELECT MAX(change_number) FROM messages)",
        [],
        |r| r.get::<_, Option<i64>>(0),
    )?
    .unwrap_or(0);
    if max_cn > last_cn {
        rep.errors
            .push(format!("change number counter {last_cn} behind data ({max_cn})"));
    }
    let bad_folders: i64 = c.query_row(
        "SELECT COUNT(*) FROM folders f WHERE EXISTS(SELECT 1 FROM messages m WHERE m.parent_fid=f.folder_id \
         AND m.message_id >= f.cur_eid AND m.message_id <= f.max_eid)",
        [],
        |r| r.get(0),
    )?;
    if bad_folders > 0 {
        rep.errors.push(format!(
            "{bad_folders} folder(s) with message id counter behind their messages"
        ));
    }
    let root: bool = c.query_row(
        "SELECT EXISTS(SELECT 1 FROM folders WHERE folder_id=1 AND parent_id IS NULL)",
        [],
        |r| r.get(0),
    )?;
    if !root {
        rep.errors.push("root folder 0x01 missing".into());
    }
    let sum: i64 = c.query_row(
        "SELECT COALESCE(SUM(message_size),0) FROM messages WHERE parent_fid IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    let recorded = st.store_size()? as i64;
    let size_off = sum != recorded && st.is_private();
    let (cids, emls) = st.referenced_files()?;
    let inline = st.inline_mime_names()?;
    for name in inline.iter().filter(|n| !emls.contains(*n)) {
        rep.warnings.push(format!("orphaned kept MIME {name}"));
    }
    for (sub, set) in [("cid", &cids), ("eml", &emls)] {
        for name in set.iter() {
            if !cid::valid_name(name) {
                rep.errors.push(format!("bad {sub} reference {name:?}"));
            } else if sub == "eml" && name.starts_with(cid::INLINE_MIME_PREFIX) {
                if !inline.contains(name) {
                    rep.errors.push(format!("missing kept MIME {name}"));
                }
            } else if !cid::path(maildir, sub, name).exists() {
                rep.errors.push(format!("missing {sub}/{name}"));
            }
        }
        for f in cid::list(maildir, sub)? {
            if !set.contains(&f) {
                rep.warnings.push(format!("orphaned {sub}/{f}"));
            }
        }
    }
    // Summary columns (schema::SUMMARY) that drifted from the properties (a writer that
    // bypassed the store): tables would sort and filter by the stale values.
    let stale = if schema::has_summary(c)? {
        schema::summary_stale(c)?
    } else {
        0
    };
    if stale > 0 {
        if purge {
            let n = schema::summary_backfill(&st.conn)?;
            rep.fixed
                .push(format!("summary columns of {n} messages recomputed ({stale} stale)"));
        } else {
            rep.errors.push(format!(
                "{stale} message(s) with summary columns differing from their properties"
            ));
        }
    }
    if size_off {
        if purge {
            let tx = st.conn.unchecked_transaction()?;
            crate::message::recompute_store_size(&tx)?;
            tx.commit()?;
            rep.fixed.push(format!("store size {recorded} -> {sum}"));
        } else {
            rep.errors
                .push(format!("store size counter {recorded}, messages sum to {sum}"));
        }
    }
    if purge {
        let n = st.purge_content()?;
        if n > 0 {
            rep.fixed
                .push(format!("removed {n} orphaned content file(s) or kept MIME"));
        }
    }
    Ok(rep)
}
