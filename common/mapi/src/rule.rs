//! Server-side rule actions (MS-OXORULE §2.2.5): the `PidTagRuleActions` structure, its
//! wire format (16-bit counts and lengths in ROP buffers, 32-bit in extended rules), and
//! ServerEid folder references (MS-OXCDATA §2.2.4.3) for move and copy in the same store.
//!
//! Action data is decoded for the actions the delivery agent carries out (move, copy, bounce,
//! forward, delegate, tag, delete, mark as read); reply, OOF-reply and deferred actions keep
//! their bytes (`ActionData::Raw`). The decoder is total and bounded like the restriction
//! decoder.

use crate::ids::Eid;
use crate::props::TaggedVal;
use crate::restriction::{read_tagged, write_tagged};
use crate::Error;

/// Action types (MS-OXORULE §2.2.5.1).
pub const OP_MOVE: u8 = 0x01;
pub const OP_COPY: u8 = 0x02;
pub const OP_REPLY: u8 = 0x03;
pub const OP_OOF_REPLY: u8 = 0x04;
pub const OP_DEFER_ACTION: u8 = 0x05;
pub const OP_BOUNCE: u8 = 0x06;
pub const OP_FORWARD: u8 = 0x07;
pub const OP_DELEGATE: u8 = 0x08;
pub const OP_TAG: u8 = 0x09;
pub const OP_DELETE: u8 = 0x0A;
pub const OP_MARK_AS_READ: u8 = 0x0B;

/// Rule states (PidTagRuleState, MS-OXORULE §2.2.1.3.1.3).
pub const ST_ENABLED: u32 = 0x0000_0001;
pub const ST_ERROR: u32 = 0x0000_0002;
pub const ST_ONLY_WHEN_OOF: u32 = 0x0000_0004;
pub const ST_KEEP_OOF_HIST: u32 = 0x0000_0008;
pub const ST_EXIT_LEVEL: u32 = 0x0000_0010;

/// The data of one action.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionData {
    /// OP_MOVE / OP_COPY (§2.2.5.1.2.1).
    MoveCopy {
        same_store: bool,
        store_eid: Vec<u8>,
        folder_eid: Vec<u8>,
    },
    /// OP_BOUNCE: the bounce code (§2.2.5.1.2.3).
    Bounce(u32),
    /// OP_FORWARD / OP_DELEGATE: one property list per recipient (§2.2.5.1.2.4).
    Recipients(Vec<Vec<TaggedVal>>),
    /// OP_TAG: the property to set (§2.2.5.1.2.5).
    Tag(TaggedVal),
    /// OP_DELETE, OP_MARK_AS_READ.
    None,
    /// Reply, OOF reply, deferred action: kept as bytes.
    Raw(Vec<u8>),
}

/// One action block (§2.2.5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub kind: u8,
    pub flavor: u32,
    pub flags: u32,
    pub data: ActionData,
}

/// A ServerEid (MS-OXCDATA §2.2.4.3) for folder `gc` (the store's 48-bit folder id) of this
/// store: `Ours` = 1, FolderId, MessageId 0, Instance 0.
pub fn server_eid(gc: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(21);
    v.push(1);
    v.extend_from_slice(&Eid::new(1, gc).to_bytes());
    v.extend_from_slice(&[0u8; 12]);
    v
}

/// The folder of a same-store ServerEid (its 48-bit global counter).
pub fn server_eid_folder(b: &[u8]) -> Option<u64> {
    if b.len() != 21 || b[0] != 1 {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&b[1..9]);
    Some(Eid(u64::from_le_bytes(id)).gc())
}

type Rd<'a> = crate::restriction::Reader<'a>;

fn tagged(r: &mut Rd<'_>) -> Result<TaggedVal, Error> {
    let (t, n) = read_tagged(&r.b[r.pos..], r.wide)?;
    r.pos += n;
    Ok(t)
}

fn action_data(kind: u8, data: &[u8], wide: bool) -> Result<ActionData, Error> {
    let mut r = Rd::new(data, wide);
    let d = match kind {
        OP_MOVE | OP_COPY => {
            let same_store = r.u8("FolderInThisStore")? != 0;
            let n = usize::from(r.u16("StoreEIDSize")?);
            let store_eid = r.take(n, "StoreEID")?.to_vec();
            let n = usize::from(r.u16("FolderEIDSize")?);
            let folder_eid = r.take(n, "FolderEID")?.to_vec();
            ActionData::MoveCopy {
                same_store,
                store_eid,
                folder_eid,
            }
        }
        OP_BOUNCE => ActionData::Bounce(r.u32("BounceCode")?),
        OP_FORWARD | OP_DELEGATE => {
            let n = r.count("NoOfRecipients")?;
            if n > data.len() {
                return Err(Error::Truncated("recipients"));
            }
            let mut rcpts = Vec::with_capacity(n);
            for _ in 0..n {
                if r.u8("Reserved")? != 1 {
                    return Err(Error::Invalid("recipient block reserved byte"));
                }
                let np = r.count("NoOfProperties")?;
                if np > data.len() {
                    return Err(Error::Truncated("recipient properties"));
                }
                let mut props = Vec::with_capacity(np);
                for _ in 0..np {
                    props.push(tagged(&mut r)?);
                }
                rcpts.push(props);
            }
            ActionData::Recipients(rcpts)
        }
        OP_TAG => ActionData::Tag(tagged(&mut r)?),
        OP_DELETE | OP_MARK_AS_READ => ActionData::None,
        _ => return Ok(ActionData::Raw(data.to_vec())),
    };
    if r.pos != data.len() {
        return Err(Error::Invalid("trailing bytes in action data"));
    }
    Ok(d)
}

/// Decode a RuleAction structure (MS-OXORULE §2.2.5) that fills `b` exactly.
pub fn decode_actions(b: &[u8], wide: bool) -> Result<Vec<Action>, Error> {
    let mut r = Rd::new(b, wide);
    let n = r.count("NoOfActions")?;
    if n > b.len() {
        return Err(Error::Truncated("actions"));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.count("ActionLength")?;
        let block = r.take(len, "action block")?;
        let mut br = Rd::new(block, wide);
        let kind = br.u8("ActionType")?;
        let flavor = br.u32("ActionFlavor")?;
        let flags = br.u32("ActionFlags")?;
        let data = action_data(kind, &block[br.pos..], wide)?;
        out.push(Action {
            kind,
            flavor,
            flags,
            data,
        });
    }
    if r.pos != b.len() {
        return Err(Error::Invalid("trailing bytes after rule actions"));
    }
    Ok(out)
}

fn put_count(out: &mut Vec<u8>, n: usize, wide: bool) {
    if wide {
        out.extend_from_slice(&(n as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(n.min(usize::from(u16::MAX)) as u16).to_le_bytes());
    }
}

/// Encode actions (the inverse of [`decode_actions`]).
pub fn encode_actions(actions: &[Action], wide: bool) -> Vec<u8> {
    let mut out = Vec::new();
    put_count(&mut out, actions.len(), wide);
    for a in actions {
        let mut block = vec![a.kind];
        block.extend_from_slice(&a.flavor.to_le_bytes());
        block.extend_from_slice(&a.flags.to_le_bytes());
        match &a.data {
            ActionData::MoveCopy {
                same_store,
                store_eid,
                folder_eid,
            } => {
                block.push(u8::from(*same_store));
                block.extend_from_slice(&(store_eid.len() as u16).to_le_bytes());
                block.extend_from_slice(store_eid);
                block.extend_from_slice(&(folder_eid.len() as u16).to_le_bytes());
                block.extend_from_slice(folder_eid);
            }
            ActionData::Bounce(c) => block.extend_from_slice(&c.to_le_bytes()),
            ActionData::Recipients(rs) => {
                put_count(&mut block, rs.len(), wide);
                for r in rs {
                    block.push(1);
                    put_count(&mut block, r.len(), wide);
                    r.iter().for_each(|t| write_tagged(&mut block, t, wide));
                }
            }
            ActionData::Tag(t) => write_tagged(&mut block, t, wide),
            ActionData::None => {}
            ActionData::Raw(b) => block.extend_from_slice(b),
        }
        put_count(&mut out, block.len(), wide);
        out.extend_from_slice(&block);
    }
    out
}

/// Fuzz entry: decode (both widths), re-encode, decode again.
pub fn fuzz(data: &[u8]) {
    for wide in [false, true] {
        if let Ok(a) = decode_actions(data, wide) {
            assert!(decode_actions(&encode_actions(&a, wide), wide).is_ok());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::props::{PropTag, PropVal};

    #[test]
    fn round_trips_and_server_eids() {
        let eid = server_eid(0x1234);
        assert_eq!(eid.len(), 21);
        assert_eq!(server_eid_folder(&eid), Some(0x1234));
        assert_eq!(server_eid_folder(&eid[..20]), None);
        let actions = vec![
            Action {
                kind: OP_MOVE,
                flavor: 0,
                flags: 0,
                data: ActionData::MoveCopy {
                    same_store: true,
                    store_eid: vec![],
                    folder_eid: eid,
                },
            },
            Action {
                kind: OP_MARK_AS_READ,
                flavor: 0,
                flags: 0,
                data: ActionData::None,
            },
            Action {
                kind: OP_TAG,
                flavor: 0,
                flags: 0,
                data: ActionData::Tag(TaggedVal::new(PropTag(0x0017_0003), PropVal::I4(2))),
            },
            Action {
                kind: OP_FORWARD,
                flavor: 0,
                flags: 0,
                data: ActionData::Recipients(vec![vec![TaggedVal::new(
                    PropTag(0x39FE_001F),
                    PropVal::Unicode("a@example.org".into()),
                )]]),
            },
            Action {
                kind: OP_BOUNCE,
                flavor: 0,
                flags: 0,
                data: ActionData::Bounce(0x26),
            },
            Action {
                kind: OP_REPLY,
                flavor: 0,
                flags: 0,
                data: ActionData::Raw(vec![1, 2, 3]),
            },
        ];
        for wide in [false, true] {
            let b = encode_actions(&actions, wide);
            assert_eq!(decode_actions(&b, wide).unwrap(), actions);
        }
        // MS-OXORULE §2.2.5: NoOfActions, ActionLength, ActionType, ActionFlavor, ActionFlags.
        let b = encode_actions(&actions[1..2], false);
        assert_eq!(b, vec![1, 0, 9, 0, OP_MARK_AS_READ, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(decode_actions(&[1, 0, 200, 0, 1], false).is_err());
        assert!(decode_actions(&[], false).is_err());
        assert!(decode_actions(&[0, 0, 0], false).is_err(), "trailing byte");
    }
}
