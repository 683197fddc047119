//! Folder permissions (MS-OXCPERM): `permissions` rows per user, with the special members
//! `default` and `anonymous`, and the store-wide defaults in `configurations`.

use crate::error::{Error, Result};
use crate::schema::cfg;
use crate::store::ExecCached;
use crate::store::{folder_exists, Store};
use gromox_exmdb_proto::{PermissionChange, PermissionRow, MEMBER_ID_ANONYMOUS, MEMBER_ID_DEFAULT};
use gromox_mapi::tags::frights;
use rusqlite::{params, OptionalExtension};

/// Who is acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// The mailbox owner (all rights).
    Owner,
    /// An authenticated user by name.
    User(&'a str),
    /// An unauthenticated client.
    Anonymous,
}

/// Upserts a member row by name.
fn put_member(c: &rusqlite::Connection, folder: u64, user: &str, rights: u32) -> Result<()> {
    if user.is_empty() || user.len() > 320 || user.chars().any(|c| c.is_control()) {
        return Err(Error::InvalidName(user.to_owned()));
    }
    c.exec(
        "INSERT INTO permissions (folder_id, username, permission) VALUES (?1, ?2, ?3) \
         ON CONFLICT(folder_id, username) DO UPDATE SET permission=excluded.permission",
        params![folder as i64, user, rights as i64],
    )?;
    Ok(())
}

/// The special member a PidTagMemberId names (MS-OXCPERM §2.2.5), if any.
fn special_member(member_id: i64) -> Option<&'static str> {
    match member_id {
        MEMBER_ID_DEFAULT => Some("default"),
        MEMBER_ID_ANONYMOUS => Some("anonymous"),
        _ => None,
    }
}

impl Store {
    /// Sets a member's rights on a folder (`default`/`anonymous` are the special members).
    pub fn set_permission(&mut self, folder: u64, user: &str, rights: u32) -> Result<()> {
        put_member(&self.conn, folder, user, rights)
    }

    /// The permissions table of a folder (MS-OXCPERM §2.2.1 RopGetPermissionsTable,
    /// §2.2.4 PidTagMemberId/Name/Rights): the default member (id 0) and the anonymous member
    /// (id -1) first, with the store's defaults when the folder has no row for them, then
    /// every other member by its row id.
    pub fn permission_rows(&self, folder: u64) -> Result<Vec<PermissionRow>> {
        if !folder_exists(&self.conn, folder)? {
            return Err(Error::NotFound("folder"));
        }
        let mut out = vec![
            PermissionRow {
                member_id: MEMBER_ID_DEFAULT,
                name: "default".into(),
                rights: match self.member_rights(folder, "default")? {
                    Some(r) => r,
                    None => self.cfg_rights(cfg::DEFAULT_PERMISSION)?,
                },
            },
            PermissionRow {
                member_id: MEMBER_ID_ANONYMOUS,
                name: "anonymous".into(),
                rights: match self.member_rights(folder, "anonymous")? {
                    Some(r) => r,
                    None => self.cfg_rights(cfg::ANONYMOUS_PERMISSION)?,
                },
            },
        ];
        let mut st = self.conn.prepare_cached(
            "SELECT member_id, username, permission FROM permissions \
             WHERE folder_id=?1 AND username NOT IN ('default', 'anonymous') ORDER BY member_id",
        )?;
        let rows = st.query_map([folder as i64], |r| {
            Ok(PermissionRow {
                member_id: r.get(0)?,
                name: r.get(1)?,
                rights: r.get::<_, i64>(2)? as u32,
            })
        })?;
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// MS-OXCPERM §2.2.2 RopModifyPermissions: apply `changes` to a folder's permissions in one
    /// transaction (all or nothing); `replace` (ReplaceRows) first removes every member. Member
    /// ids 0 and -1 are the default and anonymous members; another unknown id is
    /// [`Error::NotFound`].
    pub fn update_permissions(&mut self, folder: u64, replace: bool, changes: &[PermissionChange]) -> Result<()> {
        let tx = self.conn.transaction()?;
        if !folder_exists(&tx, folder)? {
            return Err(Error::NotFound("folder"));
        }
        if replace {
            tx.exec("DELETE FROM permissions WHERE folder_id=?1", [folder as i64])?;
        }
        for c in changes {
            let n = match c {
                PermissionChange::Add { name, rights } => {
                    put_member(&tx, folder, name, *rights)?;
                    1
                }
                PermissionChange::Modify { member_id, rights } => match special_member(*member_id) {
                    Some(name) => {
                        put_member(&tx, folder, name, *rights)?;
                        1
                    }
                    None => tx.exec(
                        "UPDATE permissions SET permission=?1 WHERE folder_id=?2 AND member_id=?3",
                        params![*rights as i64, folder as i64, member_id],
                    )?,
                },
                PermissionChange::Remove { member_id } => match special_member(*member_id) {
                    Some(name) => {
                        tx.exec(
                            "DELETE FROM permissions WHERE folder_id=?1 AND username=?2",
                            params![folder as i64, name],
                        )?;
                        1
                    }
                    None => tx.exec(
                        "DELETE FROM permissions WHERE folder_id=?1 AND member_id=?2",
                        params![folder as i64, member_id],
                    )?,
                },
            };
            if n == 0 {
                return Err(Error::NotFound("permission member"));
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a member.
    pub fn remove_permission(&mut self, folder: u64, user: &str) -> Result<()> {
        self.conn.exec(
            "DELETE FROM permissions WHERE folder_id=?1 AND username=?2",
            params![folder as i64, user],
        )?;
        Ok(())
    }

    fn member_rights(&self, folder: u64, name: &str) -> Result<Option<u32>> {
        Ok(self
            .conn
            .query_row(
                "SELECT permission FROM permissions WHERE folder_id=?1 AND username=?2",
                params![folder as i64, name],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|v| v as u32))
    }

    fn cfg_rights(&self, id: i64) -> Result<u32> {
        let v: Option<i64> = self
            .conn
            .query_row(
                "SELECT config_value FROM configurations WHERE config_id=?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.unwrap_or(0) as u32)
    }

    /// Effective rights of `actor` on `folder`: owner → everything; a user → their own row,
    /// else the folder's `default` row, else the store default; anonymous → the `anonymous`
    /// row, else the store's anonymous default.
    pub fn rights(&self, folder: u64, actor: Actor<'_>) -> Result<u32> {
        match actor {
            Actor::Owner => Ok(frights::ALL | frights::OWNER | frights::CONTACT | frights::VISIBLE),
            Actor::User(u) => match self.member_rights(folder, u)? {
                Some(r) => Ok(r),
                None => match self.member_rights(folder, "default")? {
                    Some(r) => Ok(r),
                    None => self.cfg_rights(cfg::DEFAULT_PERMISSION),
                },
            },
            Actor::Anonymous => match self.member_rights(folder, "anonymous")? {
                Some(r) => Ok(r),
                None => self.cfg_rights(cfg::ANONYMOUS_PERMISSION),
            },
        }
    }

    /// Store-level rights of `user` (MS-OXCPERM rights plus Gromox's store-owner bit): the
    /// user's own row on IPM_SUBTREE — never the `default` member, so granting everyone
    /// folder access cannot make everyone a store owner — with
    /// [`frights::GROMOX_STORE_OWNER`] added when that row holds it or the folder-owner bit.
    pub fn mailbox_rights(&self, user: &str) -> Result<u32> {
        let r = self.member_rights(crate::layout::fid::IPMSUBTREE, user)?.unwrap_or(0);
        Ok(if r & (frights::OWNER | frights::GROMOX_STORE_OWNER) != 0 {
            r | frights::GROMOX_STORE_OWNER
        } else {
            r
        })
    }

    /// [`Error::AccessDenied`] unless `actor` holds every bit of `needed` on `folder`.
    pub fn check_rights(&self, folder: u64, actor: Actor<'_>, needed: u32) -> Result<()> {
        if self.rights(folder, actor)? & needed == needed {
            Ok(())
        } else {
            Err(Error::AccessDenied)
        }
    }
}
