//! gromox-mapi: MAPI data types shared by the store, the converters and the protocol servers.
//!
//! Pure code, no I/O:
//! - [`PropTag`], [`PropType`] and [`PropVal`]: property tags and values of every property type of
//!   MS-OXCDATA §2.11.1, single- and multi-valued;
//! - [`tags`]: constants for the MS-OXPROPS tags used by the store, delivery and IMAP;
//! - [`named`]: named properties (MS-OXCDATA §2.6, MS-OXPROPS property sets) and their
//!   Gromox `named_properties.name_string` form;
//! - [`guid`]: the GUID type (MS-DTYP §2.3.4);
//! - [`ids`]: 48-bit global counters, `replid|GC` ids, XIDs, source/change keys, predecessor
//!   change lists (MS-OXCFXICS §2.2.2), long-term ids (MS-OXCDATA §2.2.1.3);
//! - [`idset`]: IDSETs and change-number sets, the GLOBSET codec (MS-OXCFXICS §2.2.2.4–§2.2.2.6);
//! - [`syncstate`]: the ICS state properties a client holds (MS-OXCFXICS §2.2.1.1);
//! - [`entryid`]: store, folder and message entry ids (MS-OXCDATA §2.2.4);
//! - [`time`]: FILETIME ⇄ Unix time;
//! - [`restriction`]: restrictions (MS-OXCDATA §2.12), their wire format and the reference
//!   evaluator;
//! - [`rule`]: server-side rule actions (MS-OXORULE §2.2.5) and ServerEids;
//! - [`sqlcodec`]: how Gromox 3.10 stores a property value in the `propval` column of its SQLite
//!   tables.

pub mod entryid;
pub mod guid;
pub mod ids;
pub mod idset;
pub mod named;
pub mod props;
pub mod restriction;
pub mod rule;
pub mod sqlcodec;
pub mod syncstate;
pub mod tags;
pub mod time;

pub use guid::Guid;
pub use named::{PropName, PropNameKind};
pub use props::{PropTag, PropType, PropVal, TaggedVal};

/// Errors of the decoders in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Input ended before the structure was complete.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A field holds a value the specification does not allow.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The property type is unknown or cannot be stored this way.
    #[error("unsupported property type 0x{0:04x}")]
    UnsupportedType(u16),
}

/// A named decoder entry point for fuzzing.
pub type FuzzEntry = (&'static str, fn(&[u8]));

/// Decoder entry points used by the fuzz targets (name → function on raw bytes); the seed
/// test runs every seed directory through its function.
pub fn fuzz_entry_points() -> Vec<FuzzEntry> {
    vec![
        ("sql_mv", |d| {
            let _ = sqlcodec::fuzz_decode(d);
        }),
        ("name_string", |d| {
            if let Ok(s) = std::str::from_utf8(d) {
                if let Ok(p) = PropName::parse_name_string(s) {
                    let again = PropName::parse_name_string(&p.to_name_string());
                    assert_eq!(again.as_ref(), Ok(&p));
                }
            }
        }),
        ("restriction", restriction::fuzz),
        ("idset", idset::fuzz),
        ("syncstate", syncstate::fuzz),
        ("rule_actions", rule::fuzz),
        ("pcl", |d| {
            if let Ok(p) = ids::Pcl::parse(d) {
                assert_eq!(ids::Pcl::parse(&p.to_bytes()), Ok(p));
            }
        }),
        ("entryid", |d| {
            if let Ok(f) = entryid::FolderEntryId::parse(d) {
                assert_eq!(entryid::FolderEntryId::parse(&f.to_bytes()), Ok(f));
            }
            if let Ok(m) = entryid::MessageEntryId::parse(d) {
                assert_eq!(entryid::MessageEntryId::parse(&m.to_bytes()), Ok(m));
            }
            let _ = entryid::StoreEntryId::parse(d);
            let _ = ids::LongTermId::parse(d);
            let _ = ids::Xid::parse(d);
        }),
    ]
}
