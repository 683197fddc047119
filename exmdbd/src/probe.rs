//! Small store probes and counters behind exmdb calls of their own (Gromox `is_msg_present`,
//! `is_msg_deleted`, `is_folder_present`, `is_folder_deleted`, `get_folder_perm`,
//! `allocate_cn`, `sum_hierarchy`, `sum_content`, `get_all_named_propids`,
//! `check_folder_cycle`).

use gromox_mapi::named::PropName;
use rusqlite::{params, OptionalExtension};

use crate::error::{Error, Result};
use crate::perms::Actor;
use crate::store::{folder_exists, in_subtree, Store};

impl Store {
    /// Whether `mid` is a live top-level message of `folder`.
    pub fn is_msg_present(&self, folder: u64, mid: u64) -> Result<bool> {
        match self.message_info(mid) {
            Ok(i) => Ok(!i.deleted && i.folder == folder),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether top-level message `mid` is soft-deleted ([`Error::NotFound`] if it does not
    /// exist).
    pub fn is_msg_deleted(&self, mid: u64) -> Result<bool> {
        Ok(self.message_info(mid)?.deleted)
    }

    /// Whether `folder` exists and is not soft-deleted.
    pub fn is_folder_present(&self, folder: u64) -> Result<bool> {
        folder_exists(&self.conn, folder)
    }

    /// Whether `folder` is soft-deleted ([`Error::NotFound`] if it does not exist).
    pub fn is_folder_deleted(&self, folder: u64) -> Result<bool> {
        let d: Option<Option<i64>> = self
            .conn
            .prepare_cached("SELECT is_deleted FROM folders WHERE folder_id=?1")?
            .query_row([folder as i64], |r| r.get(0))
            .optional()?;
        Ok(d.ok_or(Error::NotFound("folder"))?.unwrap_or(0) != 0)
    }

    /// The rights `user` has on live `folder` (MS-OXCPERM §2.2.7; [`Store::rights`]).
    pub fn folder_rights(&self, folder: u64, user: &str) -> Result<u32> {
        if !folder_exists(&self.conn, folder)? {
            return Err(Error::NotFound("folder"));
        }
        self.rights(folder, Actor::User(user))
    }

    /// A new change number (Gromox `allocate_cn`).
    pub fn allocate_cn(&mut self) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let cn = Store::next_cn(&tx)?;
        tx.commit()?;
        Ok(cn)
    }

    /// How many live subfolders live `folder` has (all levels when `recursive`).
    pub fn sum_hierarchy(&self, folder: u64, recursive: bool) -> Result<u64> {
        if !folder_exists(&self.conn, folder)? {
            return Err(Error::NotFound("folder"));
        }
        let sql = if recursive {
            "WITH RECURSIVE sub(id, depth) AS (SELECT ?1, 0 UNION ALL \
             SELECT f.folder_id, sub.depth + 1 FROM folders f JOIN sub ON f.parent_id=sub.id \
             WHERE COALESCE(f.is_deleted,0)=0 AND sub.depth < 4096) SELECT COUNT(*) - 1 FROM sub"
        } else {
            "SELECT COUNT(*) FROM folders WHERE parent_id=?1 AND COALESCE(is_deleted,0)=0"
        };
        let n: i64 = self.conn.query_row(sql, [folder as i64], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// How many normal or FAI messages live `folder` holds, live or soft-deleted ones.
    pub fn sum_content(&self, folder: u64, associated: bool, deleted: bool) -> Result<u64> {
        if !folder_exists(&self.conn, folder)? {
            return Err(Error::NotFound("folder"));
        }
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM messages WHERE parent_fid=?1 AND COALESCE(is_associated,0)=?2 \
             AND COALESCE(is_deleted,0)=?3",
            params![folder as i64, associated as i64, deleted as i64],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// Every named property of the store with its id, by id (names that do not parse are
    /// left out).
    pub fn all_named_props(&self) -> Result<Vec<(u16, PropName)>> {
        let ids = self
            .conn
            .prepare_cached("SELECT propid FROM named_properties WHERE propid BETWEEN 32768 AND 65534 ORDER BY propid")?
            .query_map([], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let id = id as u16;
            if let Some(n) = self.get_propname(id)? {
                out.push((id, n));
            }
        }
        Ok(out)
    }

    /// Whether `dest` is `folder` or below it (moving or copying `folder` into `dest` would
    /// make a cycle); both must exist.
    pub fn folder_cycle(&self, folder: u64, dest: u64) -> Result<bool> {
        for f in [folder, dest] {
            if !folder_exists(&self.conn, f)? {
                return Err(Error::NotFound("folder"));
            }
        }
        in_subtree(&self.conn, folder, dest)
    }
}
