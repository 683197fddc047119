//! Server-side rules of a folder (MS-OXORULE §2.2.1, the rules table of §3.2.5), stored in
//! Gromox's `rules` table: name, provider, sequence, state, level, user flags, provider data,
//! the condition (a restriction, MS-OXCDATA §2.12) and the actions (MS-OXORULE §2.2.5), both
//! as blobs in their ROP encoding (16-bit counts). Evaluation happens at delivery (lmtpd).

use gromox_mapi::restriction::{self, Restriction};
use gromox_mapi::rule::{self, Action};
use rusqlite::params;

use crate::store::Store;
use crate::{Error, Result};

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `rule_id` (0 for a rule not stored yet).
    pub id: u64,
    pub name: String,
    /// PidTagRuleProvider, e.g. `RuleOrganizer`.
    pub provider: String,
    /// Evaluation order, lowest first.
    pub sequence: u32,
    /// PidTagRuleState bits (`rule::ST_*`).
    pub state: u32,
    pub level: u32,
    pub user_flags: u32,
    pub provider_data: Vec<u8>,
    pub condition: Restriction,
    pub actions: Vec<Action>,
}

impl Rule {
    /// An enabled Outlook rule (`RuleOrganizer`, sequence 1, level 0) not stored yet.
    pub fn new(name: &str, condition: Restriction, actions: Vec<Action>) -> Rule {
        Rule {
            id: 0,
            name: name.into(),
            provider: "RuleOrganizer".into(),
            sequence: 1,
            state: gromox_mapi::rule::ST_ENABLED,
            level: 0,
            user_flags: 0,
            provider_data: vec![],
            condition,
            actions,
        }
    }
}

impl Store {
    /// Add a rule to `folder`; returns its id.
    pub fn add_rule(&mut self, folder: u64, r: &Rule) -> Result<u64> {
        self.conn().execute(
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
        Ok(self.conn().last_insert_rowid() as u64)
    }

    /// Replace a stored rule (by `r.id`).
    pub fn modify_rule(&mut self, r: &Rule) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE rules SET name=?1, provider=?2, sequence=?3, state=?4, level=?5, user_flags=?6, provider_data=?7, \
             condition=?8, actions=?9 WHERE rule_id=?10",
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
                r.id as i64
            ],
        )?;
        if n == 0 {
            return Err(Error::NotFound("rule"));
        }
        Ok(())
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
    use gromox_mapi::rule::{ActionData, OP_MOVE, ST_ENABLED};

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
