//! Identifiers: global counters, folder/message ids, XIDs, source and change keys,
//! predecessor change lists (MS-OXCFXICS §2.2.2), long-term ids (MS-OXCDATA §2.2.1.3).
//!
//! Inside a store, ids are plain 48-bit global counter values (the `folder_id`,
//! `message_id` and `change_number` columns). On the wire (MS-OXCDATA §2.2.1.1/§2.2.1.2) a
//! FID/MID is 8 bytes: ReplicaId (2 bytes, little-endian) followed by the GlobalCounter
//! (6 bytes, big-endian); [`Eid`] holds that 64-bit value read little-endian.

use crate::guid::Guid;
use crate::Error;

/// Largest 48-bit global counter.
pub const GC_MAX: u64 = 0xFFFF_FFFF_FFFF;

/// A folder or message id in wire form: `replid(16) | GC(48)` (MS-OXCDATA §2.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Eid(pub u64);

impl Eid {
    /// Builds an id from replica id and 48-bit counter.
    pub fn new(replid: u16, gc: u64) -> Eid {
        let g = (gc & GC_MAX).to_be_bytes(); // 8 bytes, top two zero
        let mut b = [0u8; 8];
        b[..2].copy_from_slice(&replid.to_le_bytes());
        b[2..].copy_from_slice(&g[2..]);
        Eid(u64::from_le_bytes(b))
    }
    /// The replica id.
    pub fn replid(self) -> u16 {
        (self.0 & 0xFFFF) as u16
    }
    /// The 48-bit global counter.
    pub fn gc(self) -> u64 {
        let b = self.0.to_le_bytes();
        gc_from_bytes(&b[2..8])
    }
    /// Wire bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_le_bytes()
    }
}

/// The 6 big-endian bytes of a global counter.
pub fn gc_to_bytes(gc: u64) -> [u8; 6] {
    let b = (gc & GC_MAX).to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Reads a 6-byte big-endian global counter (shorter input is zero-extended on the left).
pub fn gc_from_bytes(b: &[u8]) -> u64 {
    b.iter().take(6).fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
}

/// An XID (MS-OXCFXICS §2.2.2.2): namespace GUID plus a 1..=8 byte local id.
/// Source keys and change keys are 22-byte XIDs with a 6-byte global counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Xid {
    pub guid: Guid,
    pub local_id: Vec<u8>,
}

impl Xid {
    /// A 22-byte XID from a GUID and a 48-bit counter.
    pub fn from_gc(guid: Guid, gc: u64) -> Xid {
        Xid {
            guid,
            local_id: gc_to_bytes(gc).to_vec(),
        }
    }
    /// Serializes GUID + local id.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16 + self.local_id.len());
        v.extend_from_slice(&self.guid.0);
        v.extend_from_slice(&self.local_id);
        v
    }
    /// Parses an XID occupying the whole slice (17..=24 bytes).
    pub fn parse(b: &[u8]) -> Result<Xid, Error> {
        if b.len() < 17 || b.len() > 24 {
            return Err(Error::Invalid("XID size"));
        }
        Ok(Xid {
            guid: Guid::from_slice(b)?,
            local_id: b[16..].to_vec(),
        })
    }
    /// The local id as a counter value (big-endian).
    pub fn gc(&self) -> u64 {
        self.local_id.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x))
    }
}

/// A predecessor change list (MS-OXCFXICS §2.2.2.3 PidTagPredecessorChangeList): a
/// sequence of SizedXid (1-byte size + XID), at most one per namespace GUID.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pcl(pub Vec<Xid>);

impl Pcl {
    /// Parses the binary form.
    pub fn parse(mut b: &[u8]) -> Result<Pcl, Error> {
        let mut v = Vec::new();
        while let Some((&size, rest)) = b.split_first() {
            let size = usize::from(size);
            let x = rest.get(..size).ok_or(Error::Truncated("PCL entry"))?;
            v.push(Xid::parse(x)?);
            b = &rest[size..];
        }
        Ok(Pcl(v))
    }
    /// Serializes to the binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for x in &self.0 {
            let b = x.to_bytes();
            out.push(b.len() as u8);
            out.extend_from_slice(&b);
        }
        out
    }
    /// Merges a change: keeps the highest local id per namespace (MS-OXCFXICS §3.1.5.6.1),
    /// entries sorted by GUID.
    pub fn merge(&mut self, x: Xid) {
        if let Some(e) = self.0.iter_mut().find(|e| e.guid == x.guid) {
            if x.gc() > e.gc() {
                *e = x;
            }
        } else {
            self.0.push(x);
            self.0.sort_by_key(|a| a.guid);
        }
    }
    /// Whether `other` is included in (dominated by) this list.
    pub fn includes(&self, other: &Pcl) -> bool {
        other
            .0
            .iter()
            .all(|o| self.0.iter().any(|s| s.guid == o.guid && s.gc() >= o.gc()))
    }
}

/// A long-term id (MS-OXCDATA §2.2.1.3.1): database GUID, 6-byte counter, 2 pad bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LongTermId {
    pub guid: Guid,
    pub gc: u64,
}

impl LongTermId {
    /// 24-byte wire form.
    pub fn to_bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..16].copy_from_slice(&self.guid.0);
        b[16..22].copy_from_slice(&gc_to_bytes(self.gc));
        b
    }
    /// Parses the 24-byte wire form.
    pub fn parse(b: &[u8]) -> Result<LongTermId, Error> {
        if b.len() != 24 {
            return Err(Error::Invalid("long-term id size"));
        }
        Ok(LongTermId {
            guid: Guid::from_slice(b)?,
            gc: gc_from_bytes(&b[16..22]),
        })
    }
    /// Short id from a long-term id, given a GUID → replica id mapping.
    pub fn to_eid(&self, replid_of: impl Fn(&Guid) -> Option<u16>) -> Option<Eid> {
        replid_of(&self.guid).map(|r| Eid::new(r, self.gc))
    }
    /// Long-term id from a short id, given a replica id → GUID mapping.
    pub fn from_eid(eid: Eid, guid_of: impl Fn(u16) -> Option<Guid>) -> Option<LongTermId> {
        guid_of(eid.replid()).map(|guid| LongTermId { guid, gc: eid.gc() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn eid_layout() {
        let e = Eid::new(1, 0x0d);
        assert_eq!(e.to_bytes(), [1, 0, 0, 0, 0, 0, 0, 0x0d]);
        assert_eq!(e.gc(), 0x0d);
        assert_eq!(e.replid(), 1);
        let e = Eid::new(5, 0x0102_0304_0506);
        assert_eq!(e.gc(), 0x0102_0304_0506);
    }
    #[test]
    fn pcl_from_reference_store() {
        // PR_PREDECESSOR_CHANGE_LIST of a message in the Gromox 3.10 reference store.
        let raw = [
            0x16, 0x01, 0, 0, 0, 0xa5, 0x18, 0x7b, 0x6f, 0xbc, 0xdc, 0xea, 0x1e, 0xd0, 0x3c, 0x56, 0x57, 0, 0, 0, 0, 0,
            0x20,
        ];
        let p = Pcl::parse(&raw).unwrap();
        assert_eq!(p.0.len(), 1);
        assert_eq!(p.0[0].gc(), 0x20);
        assert_eq!(p.to_bytes(), raw);
        let mut q = p.clone();
        q.merge(Xid::from_gc(p.0[0].guid, 0x30));
        assert!(q.includes(&p));
        assert!(!p.includes(&q));
        assert!(Pcl::parse(&[0x16, 1, 2]).is_err());
    }
    #[test]
    fn long_term() {
        let g = Guid([7; 16]);
        let l = LongTermId { guid: g, gc: 0x1234 };
        assert_eq!(LongTermId::parse(&l.to_bytes()).unwrap(), l);
        let e = l.to_eid(|x| (*x == g).then_some(1)).unwrap();
        assert_eq!(LongTermId::from_eid(e, |r| (r == 1).then_some(g)), Some(l));
    }
}
