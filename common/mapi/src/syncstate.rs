//! The ICS state a client holds between synchronisations (MS-OXCFXICS §2.2.1.1): four
//! REPLGUID-based IDSETs (§2.2.2.4.2), each uploaded and downloaded as one binary property.
//!
//! - MetaTagIdsetGiven (§2.2.1.1.1): ids of the objects the client has;
//! - MetaTagCnsetSeen (§2.2.1.1.2): change numbers of normal messages (or folders) it has seen;
//! - MetaTagCnsetSeenFAI (§2.2.1.1.3): change numbers of FAI messages it has seen;
//! - MetaTagCnsetRead (§2.2.1.1.4): read-state change numbers it has seen.

use crate::idset::ReplGuidSet;
use crate::props::PropTag;
use crate::Error;

/// MetaTagIdsetGiven. The specification gives it type PtypInteger32 although the value is a
/// binary IDSET; clients send it with either type, so [`SyncState::set_property`] accepts both.
pub const META_TAG_IDSET_GIVEN: PropTag = PropTag(0x4017_0003);
/// MetaTagIdsetGiven with the binary type some clients use.
pub const META_TAG_IDSET_GIVEN_BIN: PropTag = PropTag(0x4017_0102);
/// MetaTagCnsetSeen.
pub const META_TAG_CNSET_SEEN: PropTag = PropTag(0x6796_0102);
/// MetaTagCnsetSeenFAI.
pub const META_TAG_CNSET_SEEN_FAI: PropTag = PropTag(0x67DA_0102);
/// MetaTagCnsetRead.
pub const META_TAG_CNSET_READ: PropTag = PropTag(0x67D2_0102);
/// MetaTagIdsetDeleted (§2.2.1.3.1): a REPLID-based IDSET in the download stream.
pub const META_TAG_IDSET_DELETED: PropTag = PropTag(0x67E5_0102);
/// MetaTagIdsetNoLongerInScope (§2.2.1.3.2).
pub const META_TAG_IDSET_NO_LONGER_IN_SCOPE: PropTag = PropTag(0x4021_0102);
/// MetaTagIdsetRead (§2.2.1.3.4).
pub const META_TAG_IDSET_READ: PropTag = PropTag(0x402D_0102);
/// MetaTagIdsetUnread (§2.2.1.3.5).
pub const META_TAG_IDSET_UNREAD: PropTag = PropTag(0x402E_0102);

/// An ICS state (MS-OXCFXICS §2.2.1.1). The empty state asks for everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncState {
    /// MetaTagIdsetGiven: ids (message or folder) the client has.
    pub given: ReplGuidSet,
    /// MetaTagCnsetSeen: change numbers of normal messages (or folders) the client has.
    pub seen: ReplGuidSet,
    /// MetaTagCnsetSeenFAI: change numbers of FAI messages the client has.
    pub seen_fai: ReplGuidSet,
    /// MetaTagCnsetRead: read-state change numbers the client has.
    pub read: ReplGuidSet,
}

impl SyncState {
    /// The empty (initial) state.
    pub fn new() -> SyncState {
        SyncState::default()
    }

    /// Takes one uploaded state property (RopSynchronizationUploadStateStreamBegin/Continue).
    /// Unknown tags are an error; a value that does not decode too.
    pub fn set_property(&mut self, tag: PropTag, value: &[u8]) -> Result<(), Error> {
        let set = ReplGuidSet::parse(value)?;
        match tag {
            META_TAG_IDSET_GIVEN | META_TAG_IDSET_GIVEN_BIN => self.given = set,
            META_TAG_CNSET_SEEN => self.seen = set,
            META_TAG_CNSET_SEEN_FAI => self.seen_fai = set,
            META_TAG_CNSET_READ => self.read = set,
            _ => return Err(Error::Invalid("ICS state property tag")),
        }
        Ok(())
    }

    /// One state property's serialized value (MetaTagIdsetGiven under either type).
    pub fn property(&self, tag: PropTag) -> Option<Vec<u8>> {
        let s = match tag {
            META_TAG_IDSET_GIVEN | META_TAG_IDSET_GIVEN_BIN => &self.given,
            META_TAG_CNSET_SEEN => &self.seen,
            META_TAG_CNSET_SEEN_FAI => &self.seen_fai,
            META_TAG_CNSET_READ => &self.read,
            _ => return None,
        };
        Some(s.to_bytes())
    }

    /// The four state properties in the order a download's final state carries them
    /// (§2.2.4.1.5 state: IdsetGiven, CnsetSeen, CnsetSeenFAI, CnsetRead).
    pub fn to_properties(&self) -> Vec<(PropTag, Vec<u8>)> {
        vec![
            (META_TAG_IDSET_GIVEN, self.given.to_bytes()),
            (META_TAG_CNSET_SEEN, self.seen.to_bytes()),
            (META_TAG_CNSET_SEEN_FAI, self.seen_fai.to_bytes()),
            (META_TAG_CNSET_READ, self.read.to_bytes()),
        ]
    }

    /// A state from uploaded properties; properties not given stay empty.
    pub fn from_properties<'a>(props: impl IntoIterator<Item = (PropTag, &'a [u8])>) -> Result<SyncState, Error> {
        let mut s = SyncState::new();
        for (t, v) in props {
            s.set_property(t, v)?;
        }
        Ok(s)
    }
}

/// Fuzz entry: every state property decodes or errs, and what decodes round-trips.
pub fn fuzz(d: &[u8]) {
    let mut s = SyncState::new();
    if s.set_property(META_TAG_CNSET_SEEN, d).is_ok() {
        let props = s.to_properties();
        let again = SyncState::from_properties(props.iter().map(|(t, v)| (*t, v.as_slice())));
        assert_eq!(again, Ok(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Guid;

    #[test]
    fn state_properties_round_trip() {
        let g = Guid([9; 16]);
        let mut s = SyncState::new();
        s.given.insert_range(g, 0x10000, 0x10010);
        s.seen.insert_range(g, 1, 500);
        s.seen_fai.insert(g, 42);
        s.read.insert_range(g, 1, 3);
        let props = s.to_properties();
        assert_eq!(props[0].0, META_TAG_IDSET_GIVEN);
        let back = SyncState::from_properties(props.iter().map(|(t, v)| (*t, v.as_slice()))).unwrap();
        assert_eq!(back, s);
        let mut t = SyncState::new();
        t.set_property(META_TAG_IDSET_GIVEN_BIN, &s.property(META_TAG_IDSET_GIVEN).unwrap())
            .unwrap();
        assert_eq!(t.given, s.given);
        assert!(t.set_property(PropTag(0x3001_001F), &[]).is_err());
        assert!(t.set_property(META_TAG_CNSET_SEEN, &[1, 2, 3]).is_err());
        assert_eq!(SyncState::from_properties([]).unwrap(), SyncState::new());
    }
}
