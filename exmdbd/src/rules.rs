//! Server-side rules of a folder (MS-OXORULE §2.2.1, the rules table of §3.2.5), stored in
//! Gromox's `rules` table: name, provider, sequence, state, level, user flags, provider data,
//! the condition (a restriction, MS-OXCDATA §2.12) and the actions (MS-OXORULE §2.2.5), both
//! as blobs in their ROP encoding (16-bit counts). Evaluation happens at delivery (lmtpd).

use gromox_mapi::restriction::{self, Restriction};
use gromox_mapi::rule;
use rusqlite::{params, Connection};

use crate::store::{folder_exists, Store};
use crate::{Error, Result};

/// One rule (the exmdb protocol's type, so rules cross the RPC without conversion).
pub use gromox_exmdb_proto::Rule;
/// One change of [`Store::update_rules`].
pub use gromox_exmdb_proto::RuleChange;

fn insert_rule(c: &Connection, folder: u64, r: &Rule) -> Result<u64> {
    c.execute(
        "INSERT INTO rules (name, provider, sequence, state, level, user_flags, provider_data, condition, actions, folder_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            r.name,
            r.provider,
            r.sequence as i64,
            r.state as i64,
            r.level as i64,
            r.user_flags as i64,
            r.provider_data,
            restriction::encode(&r.condition, false),
            rule::encode_actions(&r.actions, false),
            folder as i64
        ],
    )?;
    Ok(c.last_insert_rowid() as u64)
}

/// Rewrites rule `r.id` (of `folder` when given); false when there is no such rule.
fn update_rule(c: &Connection, folder: Option<u64>, r: &Rule) -> Result<bool> {
    let n = c.execute(
        "UPDATE rules SET name=?1, provider=?2, sequence=?3, state=?4, level=?5, user_flags=?6, provider_data=?7, \
         condition=?8, actions=?9 WHERE rule_id=?10 AND (?11 IS NULL OR folder_id=?11)",
        params![
            r.name,
            r.provider,
            r.sequence as i64,
            r.state as i64,
            r.level as i64,
            r.user_flags as i64,
            r.provider_data,
            restriction::encode(&r.condition, false),
            rule::encode_actions(&r.actions, false),
            r.id as i64,
            folder.map(|f| f as i64)
        ],
    )?;
    Ok(n != 0)
}

impl Store {
    /// Add a rule to `folder`; returns its id.
    pub fn add_rule(&mut self, folder: u64, r: &Rule) -> Result<u64> {
        insert_rule(self.conn(), folder, r)
    }

    /// Replace a stored rule (by `r.id`).
    pub fn modify_rule(&mut self, r: &Rule) -> Result<()> {
        if !update_rule(self.conn(), None, r)? {
            return Err(Error::NotFound("rule"));
        }
        Ok(())
    }

    /// MS-OXORULE §2.2.2 RopModifyRules: apply `changes` to the rules of `folder` in one
    /// transaction (all or nothing); `replace` first removes every rule of the folder. A
    /// modified or removed rule must belong to the folder ([`Error::NotFound`] otherwise).
    /// Returns the ids of the added rules in order.
    pub fn update_rules(&mut self, folder: u64, replace: bool, changes: &[RuleChange]) -> Result<Vec<u64>> {
        let tx = self.conn.transaction()?;
        if !folder_exists(&tx, folder)? {
            return Err(Error::NotFound("folder"));
        }
        if replace {
            tx.execute("DELETE FROM rules WHERE folder_id=?1", [folder as i64])?;
        }
        let mut added = Vec::new();
        for c in changes {
            match c {
                RuleChange::Add(r) => added.push(insert_rule(&tx, folder, r)?),
                RuleChange::Modify(r) => {
                    if !update_rule(&tx, Some(folder), r)? {
                        return Err(Error::NotFound("rule"));
                    }
                }
                RuleChange::Remove(id) => {
                    let n = tx.execute(
                        "DELETE FROM rules WHERE rule_id=?1 AND folder_id=?2",
                        params![*id as i64, folder as i64],
                    )?;
                    if n == 0 {
                        return Err(Error::NotFound("rule"));
                    }
                }
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// Remove a rule.
    pub fn delete_rule(&mut self, id: u64) -> Result<()> {
        self.conn().execute("DELETE FROM rules WHERE rule_id=?1", [id as i64])?;
        Ok(())
    }

    /// The rules of `folder` in evaluation order (sequence, then id). A rule whose condition
    /// or actions cannot be decoded is returned with the `ST_ERROR` state bit set and an
    /// empty action list, so callers skip it but clients still see it.
    pub fn rules(&self, folder: u64) -> Result<Vec<Rule>> {
        let mut st = self.conn().prepare_cached(
            "SELECT rule_id, name, provider, sequence, state, level, user_flags, provider_data, condition, actions \
             FROM rules WHERE folder_id=?1 ORDER BY sequence, rule_id",
        )?;
        let rows = st.query_map([folder as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, Option<Vec<u8>>>(7)?,
                r.get::<_, Vec<u8>>(8)?,
                r.get::<_, Vec<u8>>(9)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, provider, seq, state, level, uflags, pdata, cond, acts) = row?;
            let mut state = state as u32;
            let condition = restriction::decode(&cond, false).unwrap_or_else(|_| {
                state |= rule::ST_ERROR;
                Restriction::Or(Vec::new())
            });
            let actions = rule::decode_actions(&acts, false).unwrap_or_else(|_| {
                state |= rule::ST_ERROR;
                Vec::new()
            });
            out.push(Rule {
                id: id as u64,
                name: name.unwrap_or_default(),
                provider,
                sequence: seq as u32,
                state,
                level: level.unwrap_or(0) as u32,
                user_flags: uflags.unwrap_or(0) as u32,
                provider_data: pdata.unwrap_or_default(),
                condition,
                actions,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gromox_mapi::rule::{Action, ActionData, OP_MOVE, ST_ENABLED};

    #[test]
    fn stored_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s =
            Store::create_private(&dir.path().join("u"), "u@example.org", "en", false, &Default::default()).unwrap();
        let mk = |name: &str, seq: u32| Rule {
            id: 0,
            name: name.into(),
            provider: "RuleOrganizer".into(),
            sequence: seq,
            state: ST_ENABLED,
            level: 0,
            user_flags: 0,
            provider_data: vec![],
            condition: Restriction::Exist(gromox_mapi::tags::PR_SUBJECT),
            actions: vec![Action {
                kind: OP_MOVE,
                flavor: 0,
                flags: 0,
                data: ActionData::MoveCopy {
                    same_store: true,
                    store_eid: vec![],
                    folder_eid: gromox_mapi::rule::server_eid(0x0b),
                },
            }],
        };
        let b = s.add_rule(0x0d, &mk("second", 20)).unwrap();
        let a = s.add_rule(0x0d, &mk("first", 10)).unwrap();
        let rules = s.rules(0x0d).unwrap();
        assert_eq!(rules.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(rules[0].actions, mk("x", 0).actions);
        let mut r = rules[1].clone();
        r.state = 0;
        s.modify_rule(&r).unwrap();
        assert_eq!(s.rules(0x0d).unwrap()[1].state, 0);
        s.delete_rule(a).unwrap();
        assert_eq!(s.rules(0x0d).unwrap().len(), 1);
        assert!(s.rules(0x0b).unwrap().is_empty());
        // A corrupt row is flagged, not fatal.
        s.conn().execute("UPDATE rules SET actions=x'FFFF'", []).unwrap();
        assert_ne!(s.rules(0x0d).unwrap()[0].state & gromox_mapi::rule::ST_ERROR, 0);
    }
}
