//! Content tables (MS-OXCTABL): a folder's messages restricted, sorted and paged.
//!
//! A [`ContentTable`] is built by one streaming SQL scan of the folder that reads only the
//! properties the restriction and the sort keys need (joined from `message_properties`, plus
//! the computed columns of [`computed`]). Each row is tested with the reference
//! evaluator ([`gromox_mapi::restriction`]) and kept as its sort key and message id; the sort
//! orders integer prefixes of the keys first. The table then holds nothing but that ordered id
//! list (plus the keys while sorting), so a 250,000-message folder costs a few megabytes; rows
//! are read only for the page a client asks for.
//!
//! Operations follow MS-OXCTABL §3.2.5: query rows forward and backward from the cursor
//! (`RopQueryRows`), seek from the beginning, current row or end (`RopSeekRow`), seek by
//! fraction (`RopSeekRowFractional`), bookmarks (`RopCreateBookmark`, `RopSeekRowBookmark`,
//! `RopFreeBookmark`), find row (`RopFindRow`), position and count (`RopQueryPosition`),
//! and reload after the folder changed.
//!
//! [`HierarchyTable`] lists a folder's subfolders (one level or the whole subtree, depth-first
//! with `PR_DEPTH`), restricted and sorted the same way over folder properties.
//!
//! **Categorized views** (MS-OXCTABL §2.2.2.1, RopSortTable with CategorizedCount and
//! ExpandedCount): the leading `categories` sort keys group the rows; each group gets a header
//! row (PR_ROW_TYPE expanded/collapsed, PR_DEPTH, PR_INST_ID = category id, PR_CONTENT_COUNT,
//! PR_CONTENT_UNREAD, the category values) before its members, nested per level. The first
//! `expanded` levels start expanded. RopExpandRow/RopCollapseRow ([`ContentTable::expand_row`],
//! [`ContentTable::collapse_row`]) change what is visible, RopGetCollapseState/
//! RopSetCollapseState ([`ContentTable::collapse_state`], [`ContentTable::set_collapse_state`])
//! save and restore it with the cursor. A category keeps its id and state across reloads.
//!
//! **Multi-value instance rows** (MS-OXCTABL §2.2.1.1): a sort key with the MV_INSTANCE bit
//! (0x2000) on a multi-valued tag, or [`TableSpec::mv_instance`] (a column with that bit),
//! expands each message into one row per value; the instance column (and sort key, and
//! category) shows that one value, PR_INSTANCE_NUM is the value's index, and a message without
//! a value is one row with the column empty. A row stays one `u64` key: the message id (48
//! bits) with the instance number above it. A restriction naming the instance column with the
//! MV_INSTANCE bit tests each row's one value; other restrictions test the whole message.

use std::borrow::Cow;
use std::collections::HashMap;

use gromox_mapi::restriction::{self, Matcher, PropSource, Restriction, SubObject};
use gromox_mapi::tags::{
    PR_CONTENT_UNREAD, PR_HASATTACH, PR_INSTANCE_KEY, PR_MESSAGE_FLAGS, PR_MESSAGE_SIZE, PR_MID, PR_READ,
};
use gromox_mapi::{PropTag, PropType, PropVal, TaggedVal};
use rusqlite::params_from_iter;

use crate::notify::Event;
use crate::store::{Obj, Store};
use crate::Result;

/// Where a seek starts (MS-OXCTABL §2.2.2.1.1 Origin): the exmdb protocol's type.
pub use gromox_exmdb_proto::Origin;
/// One sort key (MS-OXCDATA §2.13.1 SortOrder): the exmdb protocol's type.
pub use gromox_exmdb_proto::SortKey;

/// What a content table shows.
#[derive(Debug, Clone, Default)]
pub struct TableSpec {
    pub folder: u64,
    /// Folder associated information (FAI) instead of normal messages.
    pub associated: bool,
    pub restriction: Option<Restriction>,
    /// Sort keys, most significant first; ties keep message-id order.
    pub sort: Vec<SortKey>,
    /// How many of the leading sort keys are categories (RopSortTable CategorizedCount; 0: a
    /// flat table).
    pub categories: usize,
    /// How many category levels start expanded (RopSortTable ExpandedCount).
    pub expanded: usize,
    /// A multi-valued column with the MV_INSTANCE bit (0x2000) the rows expand on (MS-OXCTABL
    /// §2.2.1.1, RopSetColumns with a multi-value instance column): one row per value. A sort
    /// key with that bit expands the table the same way without naming it here.
    pub mv_instance: Option<PropTag>,
}

/// The MV_INSTANCE bit of a property tag's type (MS-OXCDATA §2.11.1.1).
pub const MV_INSTANCE: u32 = 0x2000;
/// Bits of a row key holding the message id (48-bit global counter values).
const MID_MASK: u64 = (1 << 48) - 1;
/// Most rows one message expands into (the instance number lives in bits 48..63 of the key).
pub const MAX_INSTANCES: usize = 0x7FFF;

/// The tag without the MV_INSTANCE bit.
fn base_tag(t: PropTag) -> PropTag {
    PropTag(t.0 & !MV_INSTANCE)
}

/// Whether `t` is a multi-valued tag with the MV_INSTANCE bit.
fn is_mv_instance(t: PropTag) -> bool {
    t.0 & MV_INSTANCE != 0 && base_tag(t).ptype().is_some_and(|p| p.is_multi())
}

/// The row key of a message row: the message id, with the instance number above it.
fn leaf_key(mid: u64, instance: u32) -> u64 {
    (mid & MID_MASK) | (u64::from(instance) << 48)
}

/// (message id, instance number) of a message row's key.
fn leaf_of(key: u64) -> (u64, u32) {
    (key & MID_MASK, ((key >> 48) & 0x7FFF) as u32)
}

/// Number of values of a multi-valued value (0 for anything else).
fn mv_len(v: &PropVal) -> usize {
    use PropVal as V;
    match v {
        V::MvI2(x) => x.len(),
        V::MvI4(x) => x.len(),
        V::MvR4(x) => x.len(),
        V::MvR8(x) | V::MvAppTime(x) => x.len(),
        V::MvCurrency(x) | V::MvI8(x) => x.len(),
        V::MvString8(x) | V::MvUnicode(x) => x.len(),
        V::MvSysTime(x) => x.len(),
        V::MvClsid(x) => x.len(),
        V::MvBinary(x) => x.len(),
        _ => 0,
    }
}

/// Value `i` of a multi-valued value as a single value of the element type.
fn mv_element(v: &PropVal, i: usize) -> Option<PropVal> {
    use PropVal as V;
    Some(match v {
        V::MvI2(x) => V::I2(*x.get(i)?),
        V::MvI4(x) => V::I4(*x.get(i)?),
        V::MvR4(x) => V::R4(*x.get(i)?),
        V::MvR8(x) => V::R8(*x.get(i)?),
        V::MvAppTime(x) => V::AppTime(*x.get(i)?),
        V::MvCurrency(x) => V::Currency(*x.get(i)?),
        V::MvI8(x) => V::I8(*x.get(i)?),
        V::MvString8(x) => V::String8(x.get(i)?.clone()),
        V::MvUnicode(x) => V::Unicode(x.get(i)?.clone()),
        V::MvSysTime(x) => V::SysTime(*x.get(i)?),
        V::MvClsid(x) => V::Clsid(*x.get(i)?),
        V::MvBinary(x) => V::Binary(x.get(i)?.clone()),
        _ => return None,
    })
}

/// Whether the table's restriction reads its multi-value instance column with the
/// MV_INSTANCE bit: then it tests each row's single value (MS-OXCTABL §2.2.1.1: the column
/// holds one value per row) instead of the message's whole multi-valued property (any value).
fn restricts_instances(spec: &TableSpec) -> bool {
    match (instance_tag(spec), &spec.restriction) {
        (Some(it), Some(r)) => {
            let mut rt = Vec::new();
            restriction_tags(r, &mut rt);
            rt.iter().any(|t| t.id() == it.id() && t.0 & MV_INSTANCE != 0)
        }
        _ => false,
    }
}

/// The multi-valued property a table expands on: [`TableSpec::mv_instance`], else the first
/// sort key with the MV_INSTANCE bit (without the bit).
fn instance_tag(spec: &TableSpec) -> Option<PropTag> {
    spec.mv_instance
        .filter(|t| base_tag(*t).ptype().is_some_and(|p| p.is_multi()))
        .or_else(|| spec.sort.iter().map(|k| k.tag).find(|t| is_mv_instance(*t)))
        .map(base_tag)
}

/// PidTagRowType (MS-OXPROPS): leaf, expanded or collapsed category header.
pub const PR_ROW_TYPE: PropTag = PropTag(0x0FF5_0003);
/// PidTagInstID (MS-OXPROPS): a row's instance id — the message id of a leaf row, the
/// category id of a header row (what RopExpandRow and RopCollapseRow name).
pub const PR_INST_ID: PropTag = PropTag(0x674D_0014);
/// PidTagInstanceNum (MS-OXPROPS).
pub const PR_INSTANCE_NUM: PropTag = PropTag(0x674E_0003);
/// PR_ROW_TYPE of a message row (MS-OXCTABL, mapidefs.h TBL_LEAF_ROW).
pub const TBL_LEAF_ROW: i32 = 1;
/// PR_ROW_TYPE of an expanded category header (TBL_EXPANDED_CATEGORY).
pub const TBL_EXPANDED_CATEGORY: i32 = 3;
/// PR_ROW_TYPE of a collapsed category header (TBL_COLLAPSED_CATEGORY).
pub const TBL_COLLAPSED_CATEGORY: i32 = 4;

/// Category ids have the top bit set, so they never equal a message id.
const CATEGORY_ID_BASE: u64 = 1 << 63;

/// A row of a content table. The table keeps each as a `u64` key (a message id — with its
/// instance number in bits 48..63 when multi-valued rows are expanded — or a category id,
/// which has the top bit set), so cursor and bookmarks work on both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Row {
    /// A message (by message id; [`ContentTable::leaf_rows`] gives the instance numbers).
    Leaf(u64),
    /// A category header, by category id.
    Header(u64),
}

/// A category header of a categorized table.
#[derive(Debug, Clone)]
struct Header {
    /// The category values of levels 0..=level, encoded: identifies the category across
    /// reloads and in a collapse state.
    key: Vec<u8>,
    level: usize,
    values: Vec<Option<PropVal>>,
    count: u32,
    unread: u32,
    expanded: bool,
}

/// The category structure of a categorized table.
#[derive(Debug, Default)]
struct Categories {
    /// Every row key in tree order (a header before its members), collapsed or not.
    all: Vec<u64>,
    headers: HashMap<u64, Header>,
    /// Category key → id, kept across reloads.
    ids: HashMap<Vec<u8>, u64>,
    /// Categories whose expanded state differs from the default of their level.
    flipped: std::collections::HashSet<Vec<u8>>,
    next_id: u64,
}

/// `PidTagMessageFlags` bit for read messages (MS-OXCMSG §2.2.1.6).
const MSGFLAG_READ: i32 = 0x1;
/// `PidTagMessageFlags` bit for messages with attachments.
const MSGFLAG_HASATTACH: i32 = 0x10;

/// Properties the table computes from the `messages` row rather than reading them from
/// `message_properties`: PR_MID, PR_MESSAGE_SIZE, PR_READ, PR_HASATTACH and PR_MESSAGE_FLAGS
/// (stored flags with the read and has-attachment bits made true).
pub fn computed(tag: PropTag) -> bool {
    [PR_MID, PR_MESSAGE_SIZE, PR_READ, PR_HASATTACH, PR_MESSAGE_FLAGS]
        .iter()
        .any(|t| t.id() == tag.id())
}

/// A content table over a folder.
#[derive(Debug)]
pub struct ContentTable {
    spec: TableSpec,
    /// The visible rows' keys in order (message ids; category ids in a categorized table).
    rows: Vec<u64>,
    cat: Option<Categories>,
    nav: Nav,
}

impl Row {
    fn of(key: u64) -> Row {
        if key & CATEGORY_ID_BASE != 0 && key != u64::MAX {
            Row::Header(key)
        } else {
            Row::Leaf(key & MID_MASK)
        }
    }
}

/// The cursor and bookmarks of a table over a list of row keys (message or folder ids), shared
/// by content and hierarchy tables (MS-OXCTABL §3.2.5.7 RopSeekRow, §3.2.5.8
/// RopSeekRowBookmark, §3.2.5.9 RopSeekRowFractional, §3.2.5.11 RopCreateBookmark,
/// §3.2.5.15 RopFreeBookmark). A bookmark remembers the key of its row, so it survives reloads.
#[derive(Debug)]
struct Nav {
    cursor: usize,
    bookmarks: HashMap<u32, u64>,
    next_bookmark: u32,
}

impl Nav {
    fn new() -> Nav {
        Nav {
            cursor: 0,
            bookmarks: HashMap::new(),
            next_bookmark: 1,
        }
    }

    /// After the key list changed: the cursor stays on the row with key `at` when it is still
    /// there, else at the same position (clamped).
    fn relocate(&mut self, at: Option<u64>, keys: &[u64]) {
        let old = self.cursor;
        self.cursor = at
            .and_then(|k| keys.iter().position(|&m| m == k))
            .unwrap_or(old.min(keys.len()));
    }

    fn seek(&mut self, len: usize, origin: Origin, offset: i64) -> i64 {
        let base = match origin {
            Origin::Beginning => 0i64,
            Origin::Current => self.cursor as i64,
            Origin::End => len as i64,
        };
        let target = base.saturating_add(offset).clamp(0, len as i64);
        self.cursor = target as usize;
        target - base
    }

    fn seek_fraction(&mut self, len: usize, numerator: u32, denominator: u32) {
        self.cursor = if denominator == 0 || numerator >= denominator {
            len
        } else {
            (len as u64 * u64::from(numerator) / u64::from(denominator)) as usize
        };
    }

    fn create_bookmark(&mut self, keys: &[u64]) -> u32 {
        let b = self.next_bookmark;
        self.next_bookmark = self.next_bookmark.wrapping_add(1).max(1);
        let key = keys.get(self.cursor).copied().unwrap_or(u64::MAX);
        self.bookmarks.insert(b, key);
        b
    }

    fn seek_bookmark(&mut self, keys: &[u64], bookmark: u32, offset: i64) -> Option<(bool, i64)> {
        let key = *self.bookmarks.get(&bookmark)?;
        let (at, gone) = match keys.iter().position(|&m| m == key) {
            Some(i) => (i, false),
            // The row went away: the next row by key, as a stand-in.
            None => (
                keys.iter().position(|&m| m > key).unwrap_or(keys.len()),
                key != u64::MAX,
            ),
        };
        self.cursor = at;
        Some((gone, self.seek(keys.len(), Origin::Current, offset)))
    }

    /// The row indexes a query of `count` rows from the cursor covers, in the order returned.
    fn span(&self, len: usize, count: usize, forward: bool) -> Vec<usize> {
        if forward {
            (self.cursor.min(len)..len.min(self.cursor.saturating_add(count))).collect()
        } else {
            (self.cursor.min(len).saturating_sub(count)..self.cursor.min(len))
                .rev()
                .collect()
        }
    }

    /// RopQueryRows over any row source: reads up to `count` rows from the cursor with `read`,
    /// stopping early once the rows would take more than `max_bytes` in the exmdb wire form
    /// (MS-OXCTABL §3.2.5.5 lets a server return fewer rows than asked; the first row is always
    /// returned), and moves the cursor past the rows returned unless `no_advance` — or unless
    /// the first row alone is over `max_bytes`, which the caller cannot send.
    fn collect(
        &mut self,
        len: usize,
        count: usize,
        forward: bool,
        no_advance: bool,
        max_bytes: usize,
        mut read: impl FnMut(usize) -> Result<Vec<Option<PropVal>>>,
    ) -> Result<Vec<Vec<Option<PropVal>>>> {
        let idx = self.span(len, count, forward);
        let mut out = Vec::with_capacity(idx.len().min(1024));
        let mut bytes = 0usize;
        for &i in &idx {
            let row = read(i)?;
            let size = row_wire_size(&row);
            if !out.is_empty() && bytes.saturating_add(size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(size);
            out.push(row);
        }
        let unsendable = out.len() == 1 && bytes > max_bytes;
        if !no_advance && !unsendable {
            self.advance(out.len(), forward);
        }
        Ok(out)
    }

    fn advance(&mut self, n: usize, forward: bool) {
        if forward {
            self.cursor += n;
        } else {
            self.cursor -= n;
        }
    }
}

/// Bytes a row takes in an exmdb QueryTable response: `u32` value count, per value an option
/// byte and, when present, `u32` tag, kind byte and the value (8 bytes, or `u32` length + data;
/// multi-valued values as the SQL codec packs them, estimated from above).
fn row_wire_size(row: &[Option<PropVal>]) -> usize {
    use PropVal as V;
    let val = |v: &PropVal| -> usize {
        match v {
            V::String8(s) | V::Unicode(s) => 4 + s.len(),
            V::Binary(b) | V::SvrEid(b) | V::Object(b) | V::Restriction(b) | V::RuleActions(b) => 4 + b.len(),
            V::MvString8(x) | V::MvUnicode(x) => 8 + x.iter().map(|s| 4 + s.len()).sum::<usize>(),
            V::MvBinary(x) => 8 + x.iter().map(|b| 4 + b.len()).sum::<usize>(),
            v if v.ptype() as u32 & 0x1000 != 0 => 8 + 2 * restriction::value_size(v) as usize,
            _ => 8,
        }
    };
    4 + row
        .iter()
        .map(|v| 1 + v.as_ref().map_or(0, |v| 5 + val(v)))
        .sum::<usize>()
}

/// A row being tested during the scan: the joined values, the computed columns, and lazy
/// access to anything else (recipients and attachments for sub-object restrictions).
struct ScanRow<'s> {
    store: &'s Store,
    mid: u64,
    values: &'s [(PropTag, PropVal)],
    /// Tags already looked up: absent from `values` means the message lacks them.
    looked_up: &'s [PropTag],
}

impl PropSource for ScanRow<'_> {
    fn prop(&self, tag: PropTag) -> Option<Cow<'_, PropVal>> {
        if let Some((_, v)) = self.values.iter().find(|(t, _)| t.id() == tag.id()) {
            return Some(Cow::Borrowed(v));
        }
        if self.looked_up.iter().any(|t| t.id() == tag.id()) {
            return None;
        }
        read_prop(self.store, self.mid, tag).ok().flatten().map(Cow::Owned)
    }
    fn any_sub(&self, which: SubObject, f: &mut dyn FnMut(&dyn PropSource) -> bool) -> bool {
        let Ok(m) = self.store.read_message(self.mid) else {
            return false;
        };
        match which {
            SubObject::Recipients => m.recipients.iter().any(|r| f(r)),
            SubObject::Attachments => m.attachments.iter().any(|a| f(&a.props)),
        }
    }
}

/// Whether message `mid` satisfies `r`, its properties read as a table column shows them
/// (computed columns included, sub-object restrictions over its recipients and attachments).
/// Search folders test messages this way.
pub(crate) fn message_matches(store: &Store, mid: u64, r: &Restriction) -> bool {
    let row = ScanRow {
        store,
        mid,
        values: &[],
        looked_up: &[],
    };
    Matcher::new(r).matches(&row)
}

/// Every property tag a restriction reads (the top level; sub-object restrictions read rows
/// of their own).
fn restriction_tags(r: &Restriction, out: &mut Vec<PropTag>) {
    match r {
        Restriction::And(v) | Restriction::Or(v) => v.iter().for_each(|x| restriction_tags(x, out)),
        Restriction::Not(x) | Restriction::Count { restriction: x, .. } => restriction_tags(x, out),
        Restriction::Comment {
            restriction: Some(x), ..
        } => restriction_tags(x, out),
        Restriction::Content { tag, .. }
        | Restriction::Property { tag, .. }
        | Restriction::BitMask { tag, .. }
        | Restriction::Size { tag, .. }
        | Restriction::Exist(tag) => out.push(*tag),
        Restriction::CompareProps { tag1, tag2, .. } => out.extend([*tag1, *tag2]),
        _ => {}
    }
}

/// The stored tags to look for when a client names `tag` (strings are stored as Unicode;
/// PT_UNSPECIFIED matches the stored type).
fn stored_tags(tag: PropTag) -> Vec<i64> {
    match tag.ptype() {
        Some(PropType::String8) | Some(PropType::Unicode) => vec![
            tag.with_type(PropType::Unicode).0 as i64,
            tag.with_type(PropType::String8).0 as i64,
        ],
        Some(PropType::MvString8) | Some(PropType::MvUnicode) => vec![
            tag.with_type(PropType::MvUnicode).0 as i64,
            tag.with_type(PropType::MvString8).0 as i64,
        ],
        _ => vec![tag.0 as i64],
    }
}

/// One property of a message as a table column shows it (computed columns included).
pub fn read_prop(store: &Store, mid: u64, tag: PropTag) -> Result<Option<PropVal>> {
    if crate::message::is_identity_tag(tag) {
        return store.message_identity_prop(mid, tag);
    }
    if computed(tag) {
        let private = store.is_private();
        let sql = if private {
            "SELECT message_size, read_state, EXISTS(SELECT 1 FROM attachments a WHERE a.message_id=m.message_id) \
             FROM messages m WHERE message_id=?1"
        } else {
            "SELECT message_size, 0, EXISTS(SELECT 1 FROM attachments a WHERE a.message_id=m.message_id) \
             FROM messages m WHERE message_id=?1"
        };
        let row: Option<(i64, i64, i64)> = store
            .conn()
            .prepare_cached(sql)?
            .query_row([mid as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .ok();
        let Some((size, read, attach)) = row else {
            return Ok(None);
        };
        let flags = if tag.id() == PR_MESSAGE_FLAGS.id() {
            store
                .get_prop(Obj::Message(mid), PR_MESSAGE_FLAGS)?
                .and_then(|v| v.as_i64())
        } else {
            None
        };
        return Ok(Some(computed_value(tag, mid, size, read != 0, attach != 0, flags)));
    }
    for t in stored_tags(tag) {
        if let Some(v) = store.get_prop(Obj::Message(mid), PropTag(t as u32))? {
            return Ok(Some(v));
        }
    }
    // Gromox keeps the subject as prefix and normalized subject (as read_message shows it).
    if tag.id() == gromox_mapi::tags::PR_SUBJECT.id() {
        let part = |t: PropTag| read_prop(store, mid, t).map(|v| v.and_then(|v| v.as_str().map(str::to_string)));
        if let Some(n) = part(gromox_mapi::tags::PR_NORMALIZED_SUBJECT)? {
            let s = format!("{}{n}", part(gromox_mapi::tags::PR_SUBJECT_PREFIX)?.unwrap_or_default());
            return Ok(Some(match tag.ptype() {
                Some(PropType::String8) => PropVal::String8(s),
                _ => PropVal::Unicode(s),
            }));
        }
    }
    Ok(None)
}

fn computed_value(tag: PropTag, mid: u64, size: i64, read: bool, attach: bool, flags: Option<i64>) -> PropVal {
    match tag.id() {
        id if id == PR_MID.id() => PropVal::I8(mid as i64),
        id if id == PR_MESSAGE_SIZE.id() => PropVal::I4(size.clamp(0, i32::MAX as i64) as i32),
        id if id == PR_READ.id() => PropVal::Boolean(read),
        id if id == PR_HASATTACH.id() => PropVal::Boolean(attach),
        _ => {
            let mut f = flags.unwrap_or(0) as i32;
            f = if read { f | MSGFLAG_READ } else { f & !MSGFLAG_READ };
            if attach {
                f |= MSGFLAG_HASATTACH;
            }
            PropVal::I4(f)
        }
    }
}

impl ContentTable {
    /// Build the table (one scan of the folder).
    pub fn load(store: &Store, spec: TableSpec) -> Result<ContentTable> {
        let cat = (spec.categories > 0).then(Categories::default);
        let mut t = ContentTable {
            spec,
            rows: Vec::new(),
            cat,
            nav: Nav::new(),
        };
        t.reload(store)?;
        Ok(t)
    }

    /// Re-run the scan (the folder changed); the cursor stays on the same row when it is
    /// still there, else at the same position; bookmarks to vanished rows go to the next row.
    /// Categories keep their ids and expanded state.
    pub fn reload(&mut self, store: &Store) -> Result<()> {
        let at = self.rows.get(self.nav.cursor).copied();
        let scanned = scan(store, &self.spec)?;
        match self.cat.as_mut() {
            None => self.rows = scanned.rows.iter().map(|s| leaf_key(s.mid, s.instance)).collect(),
            Some(cat) => {
                let levels = self.spec.categories.min(self.spec.sort.len());
                cat.build(&scanned, levels, self.spec.expanded);
                drop(scanned);
                self.rows = cat.visible();
            }
        }
        self.nav.relocate(at, &self.rows);
        Ok(())
    }

    /// The message ids of the visible message rows, in table order (a message expanded into
    /// several multi-value instance rows appears once per row).
    pub fn mids(&self) -> Vec<u64> {
        self.leaf_rows().into_iter().map(|(m, _)| m).collect()
    }

    /// `(message id, instance number)` of the visible message rows, in table order (the
    /// instance number is PR_INSTANCE_NUM: the index of the row's value of the multi-valued
    /// instance column, 0 in a table without one).
    pub fn leaf_rows(&self) -> Vec<(u64, u32)> {
        self.rows
            .iter()
            .filter(|&&k| matches!(Row::of(k), Row::Leaf(_)))
            .map(|&k| leaf_of(k))
            .collect()
    }

    /// The visible rows (messages and, in a categorized table, category headers) in order.
    pub fn rows(&self) -> Vec<Row> {
        self.rows.iter().map(|&k| Row::of(k)).collect()
    }

    /// Number of rows (RopQueryPosition Denominator).
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// The index of the visible row with PR_INST_ID `inst_id` and PR_INSTANCE_NUM `inst_num`
    /// (Gromox `locate_table`; a category header by its id, a message row by its message id
    /// and instance number). `None` when no visible row has them (a row in a collapsed
    /// category is not visible).
    pub fn locate(&self, inst_id: u64, inst_num: u32) -> Option<usize> {
        let key = if inst_id & CATEGORY_ID_BASE != 0 {
            inst_id
        } else if inst_id > MID_MASK || u64::from(inst_num) >= MAX_INSTANCES as u64 {
            return None;
        } else {
            leaf_key(inst_id, inst_num)
        };
        self.rows.iter().position(|&k| k == key)
    }

    /// Rows the table holds, hidden ones included: in a categorized table every message and
    /// category header whether collapsed or not (what the exmdb server's per-connection row
    /// limit counts), else [`ContentTable::row_count`].
    pub fn held_rows(&self) -> usize {
        self.cat
            .as_ref()
            .map_or(self.rows.len(), |c| c.all.len().max(self.rows.len()))
    }

    /// The cursor (RopQueryPosition Numerator): index of the next row a forward query returns.
    pub fn position(&self) -> usize {
        self.nav.cursor
    }

    /// Number of live bookmarks.
    pub fn bookmark_count(&self) -> usize {
        self.nav.bookmarks.len()
    }

    /// RopQueryRows: up to `count` rows from the cursor, forward, or backward when
    /// `forward` is false (rows before the cursor, nearest first, as MS-OXCTABL
    /// §3.2.5.5 says); the cursor moves past them unless `no_advance`. Each row has one value
    /// per column (`None`: the message lacks the property). Every row answers PR_ROW_TYPE,
    /// PR_INST_ID and PR_INSTANCE_NUM; a category header answers PR_DEPTH,
    /// PR_CONTENT_COUNT, PR_CONTENT_UNREAD and its category columns, nothing else.
    pub fn query_rows(
        &mut self,
        store: &Store,
        columns: &[PropTag],
        count: usize,
        forward: bool,
        no_advance: bool,
    ) -> Result<Vec<Vec<Option<PropVal>>>> {
        self.query_rows_within(store, columns, count, forward, no_advance, usize::MAX)
    }

    /// [`ContentTable::query_rows`] returning fewer rows when more would take over `max_bytes`
    /// in the exmdb wire form (at least one row; the cursor moves past the rows returned).
    pub fn query_rows_within(
        &mut self,
        store: &Store,
        columns: &[PropTag],
        count: usize,
        forward: bool,
        no_advance: bool,
        max_bytes: usize,
    ) -> Result<Vec<Vec<Option<PropVal>>>> {
        let rows = &self.rows;
        let (spec, cat) = (&self.spec, self.cat.as_ref());
        self.nav
            .collect(rows.len(), count, forward, no_advance, max_bytes, |i| {
                read_row(store, spec, cat, rows[i], columns)
            })
    }

    /// The values of `columns` for the row at `index` (as [`ContentTable::query_rows`] shows
    /// it), without moving the cursor: what a table notification's holder sends with
    /// TABLE_ROW_ADDED/MODIFIED (MS-OXCNOTIF §2.2.1.4.1.2 Columns).
    pub fn row_at(&self, store: &Store, index: usize, columns: &[PropTag]) -> Result<Vec<Option<PropVal>>> {
        let key = *self.rows.get(index).ok_or(crate::Error::NotFound("row"))?;
        read_row(store, &self.spec, self.cat.as_ref(), key, columns)
    }

    /// RopSeekRow: move the cursor by `offset` rows from `origin`, clamped to the table;
    /// returns how many rows it actually moved (signed) relative to the origin.
    pub fn seek(&mut self, origin: Origin, offset: i64) -> i64 {
        self.nav.seek(self.rows.len(), origin, offset)
    }

    /// RopSeekRowFractional: to `numerator / denominator` of the table.
    pub fn seek_fraction(&mut self, numerator: u32, denominator: u32) {
        self.nav.seek_fraction(self.rows.len(), numerator, denominator)
    }

    /// RopCreateBookmark: a bookmark at the cursor.
    pub fn create_bookmark(&mut self) -> u32 {
        self.nav.create_bookmark(&self.rows)
    }

    /// RopSeekRowBookmark: to the bookmarked row plus `offset`. Returns `(row_no_longer_visible,
    /// rows moved from the bookmark)`; an unknown bookmark is `None` (ecInvalidBookmark). A
    /// vanished row is stood in for by the next row by message id.
    pub fn seek_bookmark(&mut self, bookmark: u32, offset: i64) -> Option<(bool, i64)> {
        self.nav.seek_bookmark(&self.rows, bookmark, offset)
    }

    /// RopFreeBookmark; whether it existed.
    pub fn free_bookmark(&mut self, bookmark: u32) -> bool {
        self.nav.bookmarks.remove(&bookmark).is_some()
    }

    /// RopFindRow: the first row from the cursor (inclusive; backward: before it) that
    /// satisfies `r`; the cursor moves to it. `None` (cursor unchanged) when there is none.
    pub fn find_row(&mut self, store: &Store, r: &Restriction, forward: bool) -> Result<Option<usize>> {
        let mut m = Matcher::new(r);
        let mut tags = Vec::new();
        restriction_tags(r, &mut tags);
        let cursor = self.nav.cursor.min(self.rows.len());
        let order: Box<dyn Iterator<Item = usize>> = if forward {
            Box::new(cursor..self.rows.len())
        } else {
            Box::new((0..cursor).rev())
        };
        for i in order {
            let Row::Leaf(mid) = Row::of(self.rows[i]) else {
                continue;
            };
            let mut values = Vec::new();
            for &t in &tags {
                if let Some(v) = read_prop(store, mid, t)? {
                    values.push((t, v));
                }
            }
            let row = ScanRow {
                store,
                mid,
                values: &values,
                looked_up: &tags,
            };
            if m.matches(&row) {
                self.nav.cursor = i;
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// RopExpandRow (MS-OXCTABL §2.2.2.17): show the members of category `id`; returns how
    /// many rows became visible (0 when it already was expanded). The cursor stays on its row.
    pub fn expand_row(&mut self, id: u64) -> Result<usize> {
        self.set_expanded(id, true)
    }

    /// RopCollapseRow (MS-OXCTABL §2.2.2.18): hide the members of category `id`; returns how
    /// many rows were hidden. A cursor on a hidden row moves to the row after the header.
    pub fn collapse_row(&mut self, id: u64) -> Result<usize> {
        self.set_expanded(id, false)
    }

    fn set_expanded(&mut self, id: u64, expanded: bool) -> Result<usize> {
        let default_levels = self.spec.expanded;
        let cat = self.cat.as_mut().ok_or(crate::Error::NotFound("category"))?;
        let h = cat.headers.get_mut(&id).ok_or(crate::Error::NotFound("category"))?;
        if h.expanded == expanded {
            return Ok(0);
        }
        h.expanded = expanded;
        if expanded == (h.level < default_levels) {
            cat.flipped.remove(&h.key);
        } else {
            cat.flipped.insert(h.key.clone());
        }
        let before = self.rows.len();
        self.refresh_visible(Some(id));
        Ok(before.abs_diff(self.rows.len()))
    }

    /// Recompute the visible rows after a state change, keeping the cursor on its row, or
    /// just after `fallback`'s header when that row got hidden.
    fn refresh_visible(&mut self, fallback: Option<u64>) {
        let Some(cat) = self.cat.as_ref() else { return };
        let at = self.rows.get(self.nav.cursor).copied();
        self.rows = cat.visible();
        self.nav.cursor = match at.and_then(|r| self.rows.iter().position(|&x| x == r)) {
            Some(i) => i,
            None => fallback
                .and_then(|id| self.rows.iter().position(|&x| x == id))
                .map_or(self.nav.cursor.min(self.rows.len()), |i| i + 1),
        };
    }

    /// RopGetCollapseState (MS-OXCTABL §2.2.2.19): an opaque blob with the expanded state
    /// of every category that differs from its level's default, and the row at the cursor.
    pub fn collapse_state(&self) -> Vec<u8> {
        let mut out = COLLAPSE_MAGIC.to_vec();
        let Some(cat) = self.cat.as_ref() else {
            out.extend_from_slice(&0u32.to_le_bytes());
            out.push(0);
            return out;
        };
        let mut keys: Vec<&Vec<u8>> = cat.flipped.iter().collect();
        keys.sort();
        out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
        for k in keys {
            out.extend_from_slice(&(k.len() as u32).to_le_bytes());
            out.extend_from_slice(k);
        }
        match self.rows.get(self.nav.cursor).map(|&k| (k, Row::of(k))) {
            Some((k, Row::Leaf(_))) => {
                // The row key: message id and instance number.
                out.push(1);
                out.extend_from_slice(&k.to_le_bytes());
            }
            Some((_, Row::Header(id))) => {
                let key = cat.headers.get(&id).map(|h| h.key.as_slice()).unwrap_or_default();
                out.push(2);
                out.extend_from_slice(&(key.len() as u32).to_le_bytes());
                out.extend_from_slice(key);
            }
            None => out.push(0),
        }
        out
    }

    /// RopSetCollapseState (MS-OXCTABL §2.2.2.20): restore a state from
    /// [`ContentTable::collapse_state`]; returns a bookmark on the saved cursor row (or where
    /// it would be). A malformed blob is an error and changes nothing.
    pub fn set_collapse_state(&mut self, blob: &[u8]) -> Result<u32> {
        let parsed = parse_collapse_state(blob)?;
        let flipped = parsed.flipped;
        let anchor: Option<u64> = parsed.anchor.map(|a| match a {
            Anchor::Message(key) => key,
            Anchor::Category(key) => self
                .cat
                .as_ref()
                .and_then(|c| c.ids.get(&key).copied())
                .unwrap_or(u64::MAX),
        });
        if let Some(cat) = self.cat.as_mut() {
            let levels = self.spec.expanded;
            for h in cat.headers.values_mut() {
                h.expanded = (h.level < levels) != flipped.contains(&h.key);
            }
            cat.flipped = flipped;
        }
        self.refresh_visible(None);
        if let Some(a) = anchor {
            if let Some(i) = self.rows.iter().position(|&x| x == a) {
                self.nav.cursor = i;
            }
        }
        Ok(self.create_bookmark())
    }
}

/// A message row named by a table notification (MS-OXCNOTIF §2.2.1.4.1.2 NotificationData:
/// TableRowFolderID, TableRowMessageID, TableRowInstance; the same three name the prior row,
/// InsertAfterTableRow…). `folder` is the message's own folder (in a search folder's table,
/// the folder it lives in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRowId {
    pub folder: u64,
    pub message: u64,
    pub instance: u32,
}

/// TableEventType values (MS-OXCNOTIF §2.2.1.4.1.2).
pub mod table_event {
    /// TableChanged: re-read the table.
    pub const TABLE_CHANGED: u16 = 0x0001;
    /// TableRowAdded.
    pub const TABLE_ROW_ADDED: u16 = 0x0003;
    /// TableRowDeleted.
    pub const TABLE_ROW_DELETED: u16 = 0x0004;
    /// TableRowModified.
    pub const TABLE_ROW_MODIFIED: u16 = 0x0005;
}

/// What a loaded table's subscribers are told after [`ContentTable::apply`] (MS-OXCNOTIF
/// TableModified notifications). `position` is the row's index in the updated table and
/// `prior` the row before it (`None`: it is the first row), which is where a client inserts
/// it; the row's columns come from [`ContentTable::row_at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableNotification {
    /// TABLE_ROW_ADDED.
    RowAdded {
        row: TableRowId,
        prior: Option<TableRowId>,
        position: usize,
    },
    /// TABLE_ROW_MODIFIED: the row's values changed; it now stands after `prior`.
    RowModified {
        row: TableRowId,
        prior: Option<TableRowId>,
        position: usize,
    },
    /// TABLE_ROW_DELETED.
    RowDeleted { row: TableRowId },
    /// TABLE_CHANGED: the table was reloaded (changes that row notifications do not describe:
    /// categorized views, count restrictions); clients re-read it.
    Changed,
}

impl TableNotification {
    /// The TableEventType of the notification.
    pub fn event_type(&self) -> u16 {
        match self {
            TableNotification::RowAdded { .. } => table_event::TABLE_ROW_ADDED,
            TableNotification::RowModified { .. } => table_event::TABLE_ROW_MODIFIED,
            TableNotification::RowDeleted { .. } => table_event::TABLE_ROW_DELETED,
            TableNotification::Changed => table_event::TABLE_CHANGED,
        }
    }
}

/// Whether a restriction holds a Count node (§2.12.12), whose result depends on the rows
/// evaluated before: such tables are reloaded rather than updated row by row.
fn has_count(r: &Restriction) -> bool {
    match r {
        Restriction::Count { .. } => true,
        Restriction::And(v) | Restriction::Or(v) => v.iter().any(has_count),
        Restriction::Not(x) | Restriction::SubObject { restriction: x, .. } => has_count(x),
        Restriction::Comment {
            restriction: Some(x), ..
        } => has_count(x),
        _ => false,
    }
}

impl ContentTable {
    /// Brings the table up to date with one store event (MS-OXCNOTIF §3.1.4.3: table
    /// notifications for a loaded table) and returns the row notifications for its
    /// subscribers. Only the messages the event names are looked at: each is tested against
    /// the table (its folder, or the search folder's results; FAI or not; the restriction)
    /// and its rows removed and/or put at their sort position by binary search over the rows'
    /// current sort values — no rescan of the folder. The cursor and bookmarks stay on their
    /// rows. Categorized views and restrictions with a Count node are reloaded instead and
    /// answer [`TableNotification::Changed`]; events about other folders answer nothing.
    pub fn apply(&mut self, store: &Store, event: &Event) -> Result<Vec<TableNotification>> {
        let f = self.spec.folder;
        let search = store.is_search_folder(f)?;
        let touched: Vec<u64> = match *event {
            Event::NewMail { folder, message, .. }
            | Event::MessageCreated { folder, message }
            | Event::MessageModified { folder, message }
            | Event::MessageDeleted { folder, message } => {
                if folder == f || search {
                    vec![message]
                } else {
                    Vec::new()
                }
            }
            Event::MessageMoved {
                from,
                to,
                message,
                new_message,
            } => {
                let mut v = Vec::new();
                if from == f || search {
                    v.push(message);
                }
                if to == f || search {
                    v.push(new_message);
                }
                v
            }
            Event::MessageCopied { to, new_message, .. } => {
                if to == f || search {
                    vec![new_message]
                } else {
                    Vec::new()
                }
            }
            Event::FolderDeleted { folder } if folder == f => {
                self.reload(store)?;
                return Ok(vec![TableNotification::Changed]);
            }
            _ => Vec::new(),
        };
        if touched.is_empty() {
            return Ok(Vec::new());
        }
        if self.cat.is_some() || self.spec.restriction.as_ref().is_some_and(has_count) {
            // Rows depend on other rows (category headers and their counts, a Count node):
            // rebuilt, and the difference told row by row.
            let old = self.rows.clone();
            let stats: HashMap<u64, (u32, u32, bool)> = self
                .cat
                .as_ref()
                .map(|c| {
                    c.headers
                        .iter()
                        .map(|(&id, h)| (id, (h.count, h.unread, h.expanded)))
                        .collect()
                })
                .unwrap_or_default();
            self.reload(store)?;
            let cat = self.cat.as_ref();
            let changed = |k: u64| match Row::of(k) {
                Row::Leaf(m) => touched.contains(&m),
                Row::Header(id) => {
                    cat.and_then(|c| c.headers.get(&id))
                        .map(|h| (h.count, h.unread, h.expanded))
                        != stats.get(&id).copied()
                }
            };
            let diff = diff_rows(&old, &self.rows, &changed);
            return Ok(diff
                .into_iter()
                .map(|c| c.notification(&self.rows, |k| self.table_row(store, k)))
                .collect());
        }
        let mut out = Vec::new();
        for mid in touched {
            self.apply_message(store, search, mid, &mut out)?;
        }
        Ok(out)
    }

    /// The rows message `mid` should have in this table: `(sort values, instance)` each, none
    /// when it does not belong.
    fn wanted_rows(&self, store: &Store, search: bool, mid: u64) -> Result<Vec<(SortValues, u32)>> {
        let info = match store.message_info(mid) {
            Ok(i) => i,
            Err(crate::Error::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        if info.deleted || info.associated != self.spec.associated {
            return Ok(Vec::new());
        }
        let member = if search {
            store.search_flush()?;
            store
                .conn()
                .prepare_cached("SELECT EXISTS(SELECT 1 FROM search_result WHERE folder_id=?1 AND message_id=?2)")?
                .query_row([self.spec.folder as i64, mid as i64], |r| r.get::<_, bool>(0))?
        } else {
            info.folder == self.spec.folder
        };
        if !member {
            return Ok(Vec::new());
        }
        let per_instance = restricts_instances(&self.spec);
        if let Some(r) = self.spec.restriction.as_ref().filter(|_| !per_instance) {
            if !message_matches(store, mid, r) {
                return Ok(Vec::new());
            }
        }
        let keys: SortValues = self
            .spec
            .sort
            .iter()
            .map(|k| read_prop(store, mid, base_tag(k.tag)))
            .collect::<Result<_>>()?;
        let Some(it) = instance_tag(&self.spec) else {
            return Ok(vec![(keys, 0)]);
        };
        let inst_key = self.spec.sort.iter().position(|k| is_mv_instance(k.tag));
        let mv = read_prop(store, mid, it)?;
        let n = mv.as_ref().map_or(0, mv_len).min(MAX_INSTANCES);
        let restriction = self.spec.restriction.as_ref().filter(|_| per_instance);
        if n == 0 {
            if restriction.is_some_and(|r| !message_matches(store, mid, r)) {
                return Ok(Vec::new());
            }
            let mut k = keys;
            if let Some(p) = inst_key {
                k[p] = None;
            }
            return Ok(vec![(k, 0)]);
        }
        Ok((0..n)
            .filter(|&i| {
                let (Some(r), Some(v)) = (restriction, mv.as_ref()) else {
                    return true;
                };
                // The row as it shows: the instance column holds its one value.
                let values: Vec<_> = mv_element(v, i).map(|e| (it, e)).into_iter().collect();
                let row = ScanRow {
                    store,
                    mid,
                    values: &values,
                    looked_up: &[],
                };
                Matcher::new(r).matches(&row)
            })
            .map(|i| {
                let mut k = keys.clone();
                if let (Some(p), Some(v)) = (inst_key, mv.as_ref()) {
                    k[p] = mv_element(v, i);
                }
                (k, i as u32)
            })
            .collect())
    }

    /// The sort values of the row with key `key` as the store holds them now.
    fn sort_values_of(&self, store: &Store, key: u64) -> Result<SortValues> {
        let (mid, inst) = leaf_of(key);
        self.spec
            .sort
            .iter()
            .map(|k| {
                let v = read_prop(store, mid, base_tag(k.tag))?;
                Ok(if is_mv_instance(k.tag) {
                    v.and_then(|v| mv_element(&v, inst as usize))
                } else {
                    v
                })
            })
            .collect()
    }

    /// Where a row with these sort values and key goes (binary search; ties by message id,
    /// then instance, as the scan orders them).
    fn insert_position(&self, store: &Store, keys: &SortValues, key: u64) -> Result<usize> {
        let (mid, inst) = leaf_of(key);
        let (mut lo, mut hi) = (0usize, self.rows.len());
        while lo < hi {
            let m = lo + (hi - lo) / 2;
            let other = self.rows[m];
            let (omid, oinst) = leaf_of(other);
            let ord = if self.spec.sort.is_empty() {
                (omid, oinst).cmp(&(mid, inst))
            } else {
                let ov = self.sort_values_of(store, other)?;
                cmp_keys(&self.spec.sort, &ov, keys)
                    .then(omid.cmp(&mid))
                    .then(oinst.cmp(&inst))
            };
            if ord == std::cmp::Ordering::Less {
                lo = m + 1;
            } else {
                hi = m;
            }
        }
        Ok(lo)
    }

    /// The notification name of a row: a message row's, or for a category header the table's
    /// folder and the category id (the header's PR_INST_ID), instance 0.
    fn table_row(&self, store: &Store, key: u64) -> TableRowId {
        match Row::of(key) {
            Row::Header(id) => TableRowId {
                folder: self.spec.folder,
                message: id,
                instance: 0,
            },
            Row::Leaf(_) => self.row_id(store, key),
        }
    }

    fn row_id(&self, store: &Store, key: u64) -> TableRowId {
        let (message, instance) = leaf_of(key);
        let folder = store.message_info(message).map_or(self.spec.folder, |i| i.folder);
        TableRowId {
            folder,
            message,
            instance,
        }
    }

    fn remove_at(&mut self, i: usize) {
        self.rows.remove(i);
        if i < self.nav.cursor {
            self.nav.cursor -= 1;
        }
    }

    fn insert_at(&mut self, i: usize, key: u64) {
        self.rows.insert(i, key);
        if i <= self.nav.cursor {
            self.nav.cursor += 1;
        }
    }

    fn apply_message(&mut self, store: &Store, search: bool, mid: u64, out: &mut Vec<TableNotification>) -> Result<()> {
        let wanted = self.wanted_rows(store, search, mid)?;
        // The message's current rows (positions, highest first so removals keep indexes).
        let mut present: Vec<usize> = (0..self.rows.len())
            .filter(|&i| matches!(Row::of(self.rows[i]), Row::Leaf(m) if m == mid))
            .collect();
        present.reverse();
        let mut had: Vec<u64> = Vec::with_capacity(present.len());
        for i in present {
            had.push(self.rows[i]);
            self.remove_at(i);
        }
        let mut kept: Vec<u64> = Vec::new();
        for (keys, inst) in wanted {
            let key = leaf_key(mid, inst);
            let pos = self.insert_position(store, &keys, key)?;
            self.insert_at(pos, key);
            kept.push(key);
        }
        for key in had.iter().filter(|k| !kept.contains(k)) {
            out.push(TableNotification::RowDeleted {
                row: self.row_id(store, *key),
            });
        }
        for key in kept {
            let Some(position) = self.rows.iter().position(|&k| k == key) else {
                continue;
            };
            let prior = position.checked_sub(1).map(|p| self.row_id(store, self.rows[p]));
            let row = self.row_id(store, key);
            out.push(if had.contains(&key) {
                TableNotification::RowModified { row, prior, position }
            } else {
                TableNotification::RowAdded { row, prior, position }
            });
        }
        Ok(())
    }
}

/// One step that takes a client's copy of a table (row keys) towards the table after a change
/// ([`diff_rows`]). Positions are in the new table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowChange {
    Added {
        key: u64,
        position: usize,
    },
    /// Values changed, or the row moved: it now stands at `position`.
    Modified {
        key: u64,
        position: usize,
    },
    Deleted {
        key: u64,
    },
}

impl RowChange {
    /// As a table notification, rows named by `name`, the prior row read from `rows` (the
    /// new table).
    fn notification(self, rows: &[u64], name: impl Fn(u64) -> TableRowId) -> TableNotification {
        let prior = |position: usize| position.checked_sub(1).and_then(|p| rows.get(p)).map(|&k| name(k));
        match self {
            RowChange::Added { key, position } => TableNotification::RowAdded {
                row: name(key),
                prior: prior(position),
                position,
            },
            RowChange::Modified { key, position } => TableNotification::RowModified {
                row: name(key),
                prior: prior(position),
                position,
            },
            RowChange::Deleted { key } => TableNotification::RowDeleted { row: name(key) },
        }
    }
}

/// The row notifications (MS-OXCNOTIF TableModified) that take a client holding `old` to
/// `new` (row keys, each once) when applied in order: the rows gone, then — in new-table order,
/// each after the row before it — the rows that came, the rows that moved and the rows
/// `changed` names (values changed). Only the span between the common head and tail is
/// compared; the rows kept in place there are a longest run in the same order (a longest
/// increasing subsequence), so a row that moved is one TABLE_ROW_MODIFIED and its neighbours
/// are not told anything.
fn diff_rows(old: &[u64], new: &[u64], changed: &dyn Fn(u64) -> bool) -> Vec<RowChange> {
    let head = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let tail = old[head..]
        .iter()
        .rev()
        .zip(new[head..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (ow, nw) = (&old[head..old.len() - tail], &new[head..new.len() - tail]);
    let in_new: std::collections::HashSet<u64> = nw.iter().copied().collect();
    let mut out: Vec<RowChange> = ow
        .iter()
        .filter(|k| !in_new.contains(k))
        .map(|&key| RowChange::Deleted { key })
        .collect();
    // Where each remaining old row stands once the deleted ones are gone.
    let old_at: HashMap<u64, usize> = ow
        .iter()
        .filter(|k| in_new.contains(k))
        .enumerate()
        .map(|(i, &k)| (k, i))
        .collect();
    let common: Vec<usize> = nw.iter().filter_map(|k| old_at.get(k).copied()).collect();
    let mut stays = longest_increasing(&common).into_iter();
    for (i, &key) in nw.iter().enumerate() {
        let position = head + i;
        if !old_at.contains_key(&key) {
            out.push(RowChange::Added { key, position });
        } else if !stays.next().unwrap_or(false) || changed(key) {
            out.push(RowChange::Modified { key, position });
        }
    }
    for (position, &key) in new.iter().enumerate() {
        if (position < head || position >= new.len() - tail) && changed(key) {
            out.push(RowChange::Modified { key, position });
        }
    }
    out
}

/// Which members of `seq` form one longest strictly increasing subsequence (O(n log n)).
fn longest_increasing(seq: &[usize]) -> Vec<bool> {
    // tails[l]: index of the smallest last element of an increasing run of length l + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; seq.len()];
    for i in 0..seq.len() {
        let l = tails.partition_point(|&t| seq[t] < seq[i]);
        prev[i] = l.checked_sub(1).map(|p| tails[p]);
        if l == tails.len() {
            tails.push(i);
        } else {
            tails[l] = i;
        }
    }
    let mut member = vec![false; seq.len()];
    let mut at = tails.last().copied();
    while let Some(i) = at {
        member[i] = true;
        at = prev[i];
    }
    member
}

/// The row a collapse state was taken at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Anchor {
    Message(u64),
    Category(Vec<u8>),
}

/// A decoded collapse state.
#[derive(Debug, Default)]
struct CollapseState {
    flipped: std::collections::HashSet<Vec<u8>>,
    anchor: Option<Anchor>,
}

/// Decodes a collapse state (`GXC1`, u32 count, count × (u32 length, category key), then
/// 0 = no anchor | 1 + u64 message id | 2 + u32 length + category key). Every length is
/// checked against what is left; trailing bytes are an error.
fn parse_collapse_state(blob: &[u8]) -> Result<CollapseState> {
    let bad = || crate::Error::InvalidArgument("collapse state");
    let mut r = blob.strip_prefix(COLLAPSE_MAGIC.as_slice()).ok_or_else(bad)?;
    let mut take = |n: usize| -> Result<&[u8]> {
        if r.len() < n {
            return Err(bad());
        }
        let (a, b) = r.split_at(n);
        r = b;
        Ok(a)
    };
    let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let n = u32_of(take(4)?);
    let mut out = CollapseState::default();
    for _ in 0..n {
        let len = u32_of(take(4)?);
        out.flipped.insert(take(len)?.to_vec());
    }
    out.anchor = match take(1)?[0] {
        0 => None,
        1 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(take(8)?);
            Some(Anchor::Message(u64::from_le_bytes(a)))
        }
        2 => {
            let len = u32_of(take(4)?);
            Some(Anchor::Category(take(len)?.to_vec()))
        }
        _ => return Err(bad()),
    };
    if !r.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Fuzz entry point (`collapse_state` target): a client-supplied RopSetCollapseState blob.
pub fn fuzz_collapse_state(data: &[u8]) {
    if let Ok(st) = parse_collapse_state(data) {
        // Whatever decodes is no bigger than its input.
        assert!(st.flipped.iter().map(|k| k.len() + 4).sum::<usize>() <= data.len());
    }
}

/// First bytes of a collapse state.
const COLLAPSE_MAGIC: &[u8; 4] = b"GXC1";

/// One row of a content table: a message row (by key: message id and instance number) or a
/// category header.
fn read_row(
    store: &Store,
    spec: &TableSpec,
    cat: Option<&Categories>,
    key: u64,
    columns: &[PropTag],
) -> Result<Vec<Option<PropVal>>> {
    let depth = spec.categories.min(spec.sort.len()) as i32;
    let inst_tag = instance_tag(spec);
    match Row::of(key) {
        Row::Leaf(_) => {
            let (mid, inst) = leaf_of(key);
            columns
                .iter()
                .map(|&c| {
                    Ok(match c.id() {
                        id if id == PR_ROW_TYPE.id() => Some(PropVal::I4(TBL_LEAF_ROW)),
                        id if id == PR_INST_ID.id() => Some(PropVal::I8(mid as i64)),
                        id if id == PR_INSTANCE_NUM.id() => Some(PropVal::I4(inst as i32)),
                        id if id == PR_INSTANCE_KEY.id() && inst_tag.is_some() => {
                            Some(PropVal::Binary(key.to_le_bytes().to_vec()))
                        }
                        id if id == PR_DEPTH.id() && cat.is_some() => Some(PropVal::I4(depth)),
                        // The instance column shows the row's one value.
                        id if inst_tag.is_some_and(|t| t.id() == id) && c.0 & MV_INSTANCE != 0 => {
                            read_prop(store, mid, base_tag(c))?.and_then(|v| mv_element(&v, inst as usize))
                        }
                        _ => read_prop(store, mid, base_tag(c))?,
                    })
                })
                .collect()
        }
        Row::Header(id) => {
            let h = cat
                .and_then(|c| c.headers.get(&id))
                .ok_or(crate::Error::NotFound("category"))?;
            Ok(columns.iter().map(|&c| header_value(spec, id, h, c)).collect())
        }
    }
}

/// One column of a category header row.
fn header_value(spec: &TableSpec, id: u64, h: &Header, c: PropTag) -> Option<PropVal> {
    match c.id() {
        x if x == PR_ROW_TYPE.id() => Some(PropVal::I4(if h.expanded {
            TBL_EXPANDED_CATEGORY
        } else {
            TBL_COLLAPSED_CATEGORY
        })),
        x if x == PR_INST_ID.id() => Some(PropVal::I8(id as i64)),
        x if x == PR_INSTANCE_NUM.id() => Some(PropVal::I4(0)),
        x if x == PR_DEPTH.id() => Some(PropVal::I4(h.level as i32)),
        x if x == PR_CONTENT_COUNT.id() => Some(PropVal::I4(h.count as i32)),
        x if x == PR_CONTENT_UNREAD.id() => Some(PropVal::I4(h.unread as i32)),
        _ => spec
            .sort
            .iter()
            .take(h.level + 1)
            .position(|k| k.tag.id() == c.id())
            .and_then(|l| h.values.get(l).cloned().flatten()),
    }
}

/// The bytes identifying a category: its values of levels 0..=level.
fn category_key(values: &[Option<PropVal>]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        match v {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                out.extend_from_slice(&(v.ptype() as u16).to_le_bytes());
                restriction::write_value(&mut out, v, true);
            }
        }
    }
    out
}

fn same_value(a: &Option<PropVal>, b: &Option<PropVal>) -> bool {
    match (a, b) {
        (None, None) => true,
        // Identical values (most neighbours in a category) need no comparison.
        (Some(x), Some(y)) => x == y || restriction::compare(x, y) == Some(std::cmp::Ordering::Equal),
        _ => false,
    }
}

impl Categories {
    /// Group the sorted rows: a header per distinct value of each category level before its
    /// members, with member and unread counts.
    fn build(&mut self, scanned: &Scan, levels: usize, expanded_levels: usize) {
        self.all = Vec::with_capacity(scanned.rows.len() + scanned.rows.len() / 8);
        self.headers.clear();
        // The open headers, one per level: id, member count, unread count (written to the
        // header when it closes).
        let mut open: Vec<(u64, u32, u32)> = Vec::with_capacity(levels);
        let close = |headers: &mut HashMap<u64, Header>, (id, count, unread): (u64, u32, u32)| {
            if let Some(h) = headers.get_mut(&id) {
                h.count = count;
                h.unread = unread;
            }
        };
        let mut prev: Option<&Scanned> = None;
        for (i, s) in scanned.rows.iter().enumerate() {
            // Level 0 by the sort prefixes where they decide (different prefixes: different
            // values; equal exact prefixes: equal values) without touching the values.
            let same = |l: usize, p: &Scanned| match (l, scanned.first.get(i)) {
                (0, Some(&FIRST_SAME)) => true,
                (0, Some(&FIRST_DIFFERENT)) => false,
                _ => scanned.same_key(p, s, l),
            };
            let first_new = match prev {
                None => 0,
                Some(p) => (0..levels).find(|&l| !same(l, p)).unwrap_or(levels),
            };
            for h in open.drain(first_new.min(open.len())..) {
                close(&mut self.headers, h);
            }
            for l in first_new..levels {
                let values: SortValues = (0..=l).map(|j| scanned.key(s, j).clone()).collect();
                let key = category_key(&values);
                let next = &mut self.next_id;
                let id = *self.ids.entry(key.clone()).or_insert_with(|| {
                    *next += 1;
                    CATEGORY_ID_BASE | *next
                });
                let expanded = (l < expanded_levels) != self.flipped.contains(&key);
                self.headers.insert(
                    id,
                    Header {
                        key,
                        level: l,
                        values,
                        count: 0,
                        unread: 0,
                        expanded,
                    },
                );
                self.all.push(id);
                open.push((id, 0, 0));
            }
            for h in &mut open {
                h.1 += 1;
                h.2 += u32::from(!s.read);
            }
            self.all.push(leaf_key(s.mid, s.instance));
            prev = Some(s);
        }
        for h in open.drain(..) {
            close(&mut self.headers, h);
        }
        // Categories that no longer exist forget their state.
        let live: std::collections::HashSet<&Vec<u8>> = self.headers.values().map(|h| &h.key).collect();
        self.flipped.retain(|k| live.contains(k));
        self.ids.retain(|k, _| live.contains(k));
    }

    /// The row keys a client sees: members of collapsed categories left out.
    fn visible(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.all.len());
        let mut hidden_below: Option<usize> = None;
        for &r in &self.all {
            match Row::of(r) {
                Row::Header(id) => {
                    let Some(h) = self.headers.get(&id) else { continue };
                    if let Some(l) = hidden_below {
                        if h.level > l {
                            continue;
                        }
                        hidden_below = None;
                    }
                    out.push(r);
                    if !h.expanded {
                        hidden_below = Some(h.level);
                    }
                }
                Row::Leaf(_) => {
                    if hidden_below.is_none() {
                        out.push(r);
                    }
                }
            }
        }
        out
    }
}

/// The rows a scan kept, in table order once sorted, and their sort-key values, a column per
/// key.
struct Scan {
    rows: Vec<Scanned>,
    /// Per sort key, the rows' values (row `Scanned::at`).
    cols: Vec<KeyCol>,
    /// For a categorized table, once sorted: per row (in order) whether its first key's value
    /// is that of the row before, as the sort prefixes tell ([`FIRST_SAME`],
    /// [`FIRST_DIFFERENT`], else unknown: compare the values); empty otherwise.
    first: Vec<u8>,
}

/// One sort key's values for the scanned rows.
enum KeyCol {
    /// A value per row.
    Values(Vec<Option<PropVal>>),
    /// A grouping column of a categorized table read from a summary column (few distinct
    /// values, a sender or a category): each distinct value decoded once, rows hold its index.
    Interned {
        ids: Vec<u32>,
        distinct: Vec<Option<PropVal>>,
    },
    /// The key the rows were read in the order of (the scan's index-ordered case): its
    /// values are not kept, and read as missing.
    Unkept,
}

impl KeyCol {
    fn get(&self, at: usize) -> &Option<PropVal> {
        match self {
            KeyCol::Values(v) => &v[at],
            KeyCol::Interned { ids, distinct } => &distinct[ids[at] as usize],
            KeyCol::Unkept => &None,
        }
    }

    fn push(&mut self, v: Option<PropVal>) {
        match self {
            KeyCol::Values(col) => col.push(v),
            KeyCol::Interned { ids, distinct } => {
                ids.push(distinct.len() as u32);
                distinct.push(v);
            }
            KeyCol::Unkept => {}
        }
    }
}

/// [`Scan::first`]: equal exact prefixes, so equal values.
const FIRST_SAME: u8 = 1;
/// [`Scan::first`]: different prefixes, so different values.
const FIRST_DIFFERENT: u8 = 2;

impl Scan {
    /// A row's value of sort key `i`.
    fn key(&self, s: &Scanned, i: usize) -> &Option<PropVal> {
        self.cols[i].get(s.at as usize)
    }

    /// Whether two rows have the same value of sort key `i` (as categories group them).
    fn same_key(&self, a: &Scanned, b: &Scanned, i: usize) -> bool {
        match &self.cols[i] {
            KeyCol::Interned { ids, .. } if ids[a.at as usize] == ids[b.at as usize] => true,
            _ => same_value(self.key(a, i), self.key(b, i)),
        }
    }

    /// Rows `a` and `b` ordered by sort keys `from..` of `sort`.
    fn cmp_from(&self, sort: &[SortKey], from: usize, a: &Scanned, b: &Scanned) -> std::cmp::Ordering {
        (from..sort.len())
            .map(|i| cmp_key(&sort[i], self.key(a, i), self.key(b, i)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }

    /// A row with the sort-key values `keys` (one per column).
    fn push(&mut self, keys: impl IntoIterator<Item = Option<PropVal>>, mid: u64, read: bool, instance: u32) {
        let at = self.rows.len() as u32;
        for (c, v) in self.cols.iter_mut().zip(keys) {
            c.push(v);
        }
        self.rows.push(Scanned {
            at,
            mid,
            read,
            instance,
        });
    }
}

/// A row kept by the scan: where its sort-key values are, message id and read state.
#[derive(Debug, Clone, Copy)]
struct Scanned {
    at: u32,
    mid: u64,
    read: bool,
    /// Multi-value instance number (0 without expansion).
    instance: u32,
}

/// Orders two values of sort key `k` (missing values first when ascending).
fn cmp_key(k: &SortKey, a: &Option<PropVal>, b: &Option<PropVal>) -> std::cmp::Ordering {
    let o = cmp_values(a, b);
    if k.descending {
        o.reverse()
    } else {
        o
    }
}

/// Orders two sort values ascending: missing first, then as [`restriction::compare`] orders.
fn cmp_values(a: &Option<PropVal>, b: &Option<PropVal>) -> std::cmp::Ordering {
    match (a, b) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => restriction::compare(x, y).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Orders two rows' sort-key values by `sort`.
fn cmp_keys(sort: &[SortKey], a: &[Option<PropVal>], b: &[Option<PropVal>]) -> std::cmp::Ordering {
    sort.iter()
        .zip(a.iter().zip(b))
        .map(|(k, (x, y))| cmp_key(k, x, y))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The scan: the rows of the folder that satisfy the restriction, in sort order.
fn scan(store: &Store, spec: &TableSpec) -> Result<Scan> {
    let mut tags: Vec<PropTag> = spec.sort.iter().map(|k| base_tag(k.tag)).collect();
    let inst_tag = instance_tag(spec);
    // The sort key that takes the row's single value of the instance column, if any.
    let inst_key = spec.sort.iter().position(|k| is_mv_instance(k.tag));
    tags.extend(inst_tag);
    if let Some(r) = &spec.restriction {
        restriction_tags(r, &mut tags);
    }
    let needs_flags = tags.iter().any(|t| t.id() == PR_MESSAGE_FLAGS.id());
    let mut joined: Vec<PropTag> = Vec::new();
    for t in tags {
        // Identity columns are computed per row when a restriction reads them (ScanRow falls
        // back to read_prop for tags it did not join).
        if !computed(t) && !crate::message::is_identity_tag(t) && !joined.iter().any(|j| j.id() == t.id()) {
            joined.push(base_tag(t));
        }
    }
    // The stored PR_MESSAGE_FLAGS is joined like any column; the computed one overlays the
    // read and attachment bits on it.
    let flags_col = needs_flags.then(|| {
        joined.push(PR_MESSAGE_FLAGS);
        joined.len() - 1
    });
    let private = store.is_private();
    let all: Vec<PropTag> = spec
        .sort
        .iter()
        .map(|k| k.tag)
        .chain(joined.iter().copied())
        .chain(spec.restriction.iter().flat_map(|r| {
            let mut v = Vec::new();
            restriction_tags(r, &mut v);
            v
        }))
        .collect();
    // Size, read state and the attachment probe (an index lookup per row) only when a column,
    // the restriction or the category counts need them: each is a column fetch per row.
    let uses = |c: PropTag| all.iter().any(|t| t.id() == c.id());
    let need_size = uses(PR_MESSAGE_SIZE);
    let need_read = private && (spec.categories > 0 || uses(PR_READ) || uses(PR_MESSAGE_FLAGS));
    let need_attach = uses(PR_HASATTACH) || uses(PR_MESSAGE_FLAGS);
    let mut sql = String::from("SELECT m.message_id");
    sql.push_str(if need_size { ", m.message_size" } else { ", 0" });
    sql.push_str(if need_read { ", m.read_state" } else { ", 0" });
    sql.push_str(if need_attach {
        ", EXISTS(SELECT 1 FROM attachments a WHERE a.message_id=m.message_id)"
    } else {
        ", 0"
    });
    // A search folder lists its `search_result` rows (crate::search), a folder its messages.
    let search = store.is_search_folder(spec.folder)?;
    if search {
        store.search_flush()?;
    }
    let folder_binds = [spec.folder as i64, i64::from(spec.associated)];

    let mut matcher = spec.restriction.as_ref().map(Matcher::new);
    let per_instance = restricts_instances(spec);
    // A grouping column of a categorized table read from a summary string column is interned
    // (KeyCol::Interned) when nothing else reads its values row by row.
    let mut restricted = Vec::new();
    if let Some(r) = &spec.restriction {
        restriction_tags(r, &mut restricted);
    }
    let interned: Vec<bool> = spec
        .sort
        .iter()
        .enumerate()
        .map(|(j, k)| {
            j < spec.categories
                && inst_tag.is_none()
                && store.summary
                && matches!(k.tag.0 & 0xFFFF, 0x001E | 0x001F)
                && crate::schema::summary_column(k.tag.0).is_some()
                && !spec.sort[..j].iter().any(|p| p.tag.id() == k.tag.id())
                && !restricted.iter().any(|t| t.id() == k.tag.id())
        })
        .collect();
    let mut kept = Scan {
        rows: Vec::new(),
        cols: interned
            .iter()
            .map(|&i| match i {
                true => KeyCol::Interned {
                    ids: Vec::new(),
                    distinct: Vec::new(),
                },
                false => KeyCol::Values(Vec::new()),
            })
            .collect(),
        first: Vec::new(),
    };
    // The last sort key in the summary index's order (delivery time), after at most the one
    // interned grouping key: SQLite reads the rows in that order and nothing is sorted but
    // ties (by message id) and the groups (a counting sort).
    let leading = interned.iter().take_while(|&&i| i).count();
    let ordered = (!search
        && inst_tag.is_none()
        && store.summary
        && spec.sort.len() == leading + 1
        && leading == spec.categories.min(spec.sort.len())
        && leading <= 1
        && crate::schema::summary_column(spec.sort[leading].tag.0) == Some("summary_delivery")
        && spec.sort[leading].tag.0 & 0xFFFF == 0x0040
        && index_ordered(store, spec.folder, spec.associated)?)
    .then_some(leading);
    if let Some(t) = ordered {
        kept.cols[t] = KeyCol::Unkept;
    }
    let (from, filter) = match (search, ordered) {
        (true, _) => (
            " FROM search_result s JOIN messages m ON m.message_id=s.message_id",
            " WHERE s.folder_id=? AND m.is_deleted=0 AND COALESCE(m.is_associated,0)=?",
        ),
        // index_ordered checked that no row of the folder lacks is_associated.
        (false, Some(_)) => (
            " FROM messages m",
            " WHERE m.parent_fid=? AND m.is_associated=? AND m.is_deleted=0",
        ),
        (false, None) => (
            " FROM messages m",
            " WHERE m.parent_fid=? AND m.is_deleted=0 AND COALESCE(m.is_associated,0)=?",
        ),
    };
    // One message with the joined values it has: computed columns added, the restriction
    // tested, its row(s) kept.
    // The computed columns the sort keys and the restriction read.
    let computed_cols: Vec<PropTag> = [PR_MID, PR_MESSAGE_SIZE, PR_READ, PR_HASATTACH]
        .into_iter()
        .filter(|c| all.iter().any(|t| t.id() == c.id()))
        .collect();
    // `values` is the caller's buffer, reused from row to row: what a kept row keeps is moved
    // out of it, the rest is cleared by the caller. `ids`: the row's value of each interned key.
    let mut accept = |kept: &mut Scan,
                      mid: u64,
                      size: i64,
                      read: bool,
                      attach: bool,
                      values: &mut Vec<(PropTag, PropVal)>,
                      ids: &[u32]| {
        for &t in &computed_cols {
            values.push((t, computed_value(t, mid, size, read, attach, None)));
        }
        if let Some(col) = flags_col {
            let stored = values
                .iter()
                .position(|(t, _)| *t == joined[col])
                .map(|i| values.remove(i).1)
                .and_then(|v| v.as_i64());
            values.push((
                PR_MESSAGE_FLAGS,
                computed_value(PR_MESSAGE_FLAGS, mid, size, read, attach, stored),
            ));
        }
        let row = ScanRow {
            store,
            mid,
            values,
            looked_up: &joined,
        };
        if let Some(m) = matcher.as_mut().filter(|_| !per_instance) {
            if !m.matches(&row) {
                return;
            }
        }
        let Some(it) = inst_tag else {
            // The row's values move into its sort keys (a key repeating an earlier key's
            // property takes a copy of that one).
            let at = kept.rows.len();
            for (j, k) in spec.sort.iter().enumerate() {
                match &mut kept.cols[j] {
                    KeyCol::Interned { ids: col, .. } => {
                        col.push(ids[j]);
                        continue;
                    }
                    KeyCol::Unkept => continue,
                    KeyCol::Values(_) => {}
                }
                let v = match spec.sort[..j].iter().position(|p| p.tag.id() == k.tag.id()) {
                    Some(p) => kept.cols[p].get(at).clone(),
                    None => values
                        .iter()
                        .position(|(t, _)| t.id() == k.tag.id())
                        .map(|i| values.swap_remove(i).1),
                };
                kept.cols[j].push(v);
            }
            kept.rows.push(Scanned {
                at: kept.rows.len() as u32,
                mid,
                read,
                instance: 0,
            });
            return;
        };
        let keys: SortValues = spec
            .sort
            .iter()
            .map(|k| {
                row.values
                    .iter()
                    .find(|(t, _)| t.id() == k.tag.id())
                    .map(|(_, v)| v.clone())
            })
            .collect();
        // Multi-value instances (MS-OXCTABL §2.2.1.1): a row per value, the instance sort key
        // holding that value; no value: one row with the column empty.
        let mv = row.values.iter().find(|(t, _)| t.id() == it.id()).map(|(_, v)| v);
        let n = mv.map_or(0, mv_len).min(MAX_INSTANCES);
        if n == 0 {
            if let Some(m) = matcher.as_mut().filter(|_| per_instance) {
                if !m.matches(&row) {
                    return;
                }
            }
            let mut k = keys.clone();
            if let Some(p) = inst_key {
                k[p] = None;
            }
            kept.push(k, mid, read, 0);
        }
        for i in 0..n {
            if let (Some(m), Some(v)) = (matcher.as_mut().filter(|_| per_instance), mv) {
                // The row as it shows: the instance column holds its one value.
                let values: Vec<_> = row
                    .values
                    .iter()
                    .map(|(t, x)| match (t.id() == it.id(), mv_element(v, i)) {
                        (true, Some(e)) => (*t, e),
                        _ => (*t, x.clone()),
                    })
                    .collect();
                let one = ScanRow {
                    store,
                    mid,
                    values: &values,
                    looked_up: &joined,
                };
                if !m.matches(&one) {
                    continue;
                }
            }
            let mut k = keys.clone();
            if let (Some(p), Some(v)) = (inst_key, mv) {
                k[p] = mv_element(v, i);
            }
            kept.push(k, mid, read, i as u32);
        }
    };

    let conn = store.conn();
    let stored: Vec<Vec<i64>> = joined.iter().map(|t| stored_tags(*t)).collect();
    let mut binds: Vec<rusqlite::types::Value> = Vec::new();
    // A property with a summary column (crate::schema::SUMMARY) is read from the `messages`
    // row — with only such columns the scan reads the folder's range of the summary index and
    // nothing else — others from `message_properties`, one primary-key descent per row.
    let summary: Vec<Option<&str>> = joined
        .iter()
        .map(|t| store.summary.then(|| crate::schema::summary_column(t.0)).flatten())
        .collect();
    // Result column of each joined property: its value (summary), or its stored tag then value.
    let mut pos = Vec::with_capacity(joined.len());
    for (i, col) in summary.iter().enumerate() {
        pos.push(4 + pos.len() + summary[..i].iter().filter(|c| c.is_none()).count());
        match col {
            Some(col) => sql.push_str(&format!(", m.{col}")),
            None => sql.push_str(&format!(", p{i}.proptag, p{i}.propval")),
        }
    }
    sql.push_str(from);
    for (i, st) in stored.iter().enumerate() {
        if summary[i].is_some() {
            continue;
        }
        // A String8 and a Unicode tag are adjacent: one range is one descent into the
        // primary key where an IN list of two is two.
        let (lo, hi) = (st.iter().min().copied(), st.iter().max().copied());
        match (lo, hi) {
            (Some(lo), Some(hi)) if st.len() > 1 && hi - lo + 1 == st.len() as i64 => {
                sql.push_str(&format!(
                    " LEFT JOIN message_properties p{i} ON p{i}.message_id=m.message_id \
                     AND p{i}.proptag BETWEEN ? AND ?"
                ));
                binds.extend([lo, hi].map(rusqlite::types::Value::Integer));
            }
            _ => {
                let marks: Vec<String> = st.iter().map(|_| "?".to_string()).collect();
                sql.push_str(&format!(
                    " LEFT JOIN message_properties p{i} ON p{i}.message_id=m.message_id AND p{i}.proptag IN ({})",
                    marks.join(",")
                ));
                binds.extend(st.iter().map(|&t| rusqlite::types::Value::Integer(t)));
            }
        }
    }
    sql.push_str(filter);
    binds.extend(folder_binds.map(rusqlite::types::Value::Integer));
    // What SQLite can rule out over the summary columns it does, before a row is read
    // (crate::prefilter); the evaluator below still decides on every row it lets through.
    if let Some(r) = spec.restriction.as_ref().filter(|_| store.summary && !per_instance) {
        let column = |t: PropTag| crate::schema::summary_column(t.0);
        if let Some((cond, b)) = crate::prefilter::prefilter(r, &column) {
            sql.push_str(" AND ");
            sql.push_str(&cond);
            binds.extend(b);
        }
    }
    // No ORDER BY but the index's own: the rows of one message (a String8 and a Unicode copy
    // of a property) come together anyway, and an ORDER BY the index does not give (even a
    // tie-break by message id after the delivery time) would make SQLite copy every joined
    // row into a sorter first. The order is made below.
    if let Some(t) = ordered {
        sql.push_str(if spec.sort[t].descending {
            " ORDER BY m.summary_delivery DESC"
        } else {
            " ORDER BY m.summary_delivery"
        });
    }
    let mut st = conn.prepare(&sql)?;
    let mut rows = st.query(params_from_iter(binds.iter()))?;
    // Interned keys: per joined column the sort key it feeds; the distinct values met (by
    // their stored text; NULL and other kinds each their own entry).
    let intern_of: Vec<Option<usize>> = joined
        .iter()
        .enumerate()
        .map(|(i, t)| {
            summary[i]?;
            (0..spec.sort.len()).find(|&j| interned[j] && spec.sort[j].tag.id() == t.id())
        })
        .collect();
    let mut dictionaries: Vec<Dictionary> = (0..spec.sort.len()).map(|_| Dictionary::default()).collect();
    let mut ids = vec![0u32; spec.sort.len()];
    // The ordered key's column, and whether the restriction reads its values too.
    let ordered_col = ordered.and_then(|t| joined.iter().position(|j| j.id() == spec.sort[t].tag.id()));
    let ordered_read = ordered.is_some_and(|t| restricted.iter().any(|r| r.id() == spec.sort[t].tag.id()));
    // Rows the index gives with equal delivery times (a run starting at `run.0`, time `run.1`)
    // come in index order: each run is put in message-id order when the next begins.
    let mut run: (usize, Option<i64>) = (0, None);
    let mut last_mid = None;
    let mut values: Vec<(PropTag, PropVal)> = Vec::with_capacity(joined.len() + 5);
    while let Some(r) = rows.next()? {
        let mid = r.get::<_, i64>(0)? as u64;
        // Duplicate rows (a String8 and a Unicode copy of one property) are skipped.
        if last_mid == Some(mid) {
            continue;
        }
        last_mid = Some(mid);
        values.clear();
        if let Some(c) = ordered_col {
            let time = r.get::<_, Option<i64>>(pos[c])?;
            if time != run.1 {
                order_run(&mut kept.rows[run.0..]);
                run = (kept.rows.len(), time);
            }
        }
        for (i, t) in joined.iter().enumerate() {
            if ordered_col == Some(i) && !ordered_read {
                continue;
            }
            if let Some(j) = intern_of[i] {
                ids[j] = dictionaries[j].id(store, *t, r.get_ref(pos[i])?)?;
                continue;
            }
            if summary[i].is_some() {
                if let Some(v) = summary_value(store, *t, r.get_ref(pos[i])?)? {
                    values.push((*t, v));
                }
                continue;
            }
            let stored: Option<i64> = r.get(pos[i])?;
            if let Some(stored) = stored {
                let stag = PropTag(stored as u32);
                if let Some(tv) = crate::store::decode_row(store.dir(), stag, r.get_ref(pos[i] + 1)?)? {
                    values.push((*t, tv.val));
                }
            }
        }
        accept(
            &mut kept,
            mid,
            if need_size { r.get(1)? } else { 0 },
            need_read && r.get::<_, i64>(2)? != 0,
            need_attach && r.get::<_, i64>(3)? != 0,
            &mut values,
            &ids,
        );
    }
    for (c, d) in kept.cols.iter_mut().zip(dictionaries) {
        if let KeyCol::Interned { distinct, .. } = c {
            *distinct = d.distinct;
        }
    }
    match ordered {
        Some(0) => order_run(&mut kept.rows[run.0..]),
        Some(_) => {
            order_run(&mut kept.rows[run.0..]);
            group_interned(&spec.sort, &mut kept, true);
        }
        None => sort_scanned(&spec.sort, &mut kept, spec.categories > 0),
    }
    Ok(kept)
}

/// Rows of equal sort values in table order: by message id (then instance).
fn order_run(rows: &mut [Scanned]) {
    if rows.len() > 1 {
        rows.sort_unstable_by_key(|s| (s.mid, s.instance));
    }
}

/// Whether a folder's rows can be read in delivery-time order straight from the summary index
/// (`folder_summary_index8`, which starts parent_fid, is_associated, is_deleted,
/// summary_delivery): every row has `is_associated` (the exact range, not `COALESCE`), and
/// no delivery time is negative or not an integer (SQLite would order those unlike
/// [`restriction::compare`], which orders times unsigned). Three index seeks.
fn index_ordered(store: &Store, folder: u64, associated: bool) -> Result<bool> {
    let odd: bool = store.conn().query_row(
        "SELECT EXISTS(SELECT 1 FROM messages WHERE parent_fid=?1 AND is_associated IS NULL) \
         OR EXISTS(SELECT 1 FROM messages WHERE parent_fid=?1 AND is_associated=?2 AND is_deleted=0 \
                   AND summary_delivery<0) \
         OR EXISTS(SELECT 1 FROM messages WHERE parent_fid=?1 AND is_associated=?2 AND is_deleted=0 \
                   AND summary_delivery>9223372036854775807)",
        rusqlite::params![folder as i64, i64::from(associated)],
        |r| r.get(0),
    )?;
    Ok(!odd)
}

/// The distinct values of an interned sort key ([`KeyCol::Interned`]) met by the scan, by
/// their stored text (each decoded once); NULL one entry, any other kind an entry per row.
#[derive(Default)]
struct Dictionary {
    /// foldhash, seeded per process: a hash per row, SipHash cost ~5 % of a 250,000-row build.
    index: HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    null: Option<u32>,
    distinct: Vec<Option<PropVal>>,
}

impl Dictionary {
    /// The index of summary value `v` (property `tag`) in `distinct`.
    fn id(&mut self, store: &Store, tag: PropTag, v: rusqlite::types::ValueRef<'_>) -> Result<u32> {
        use rusqlite::types::ValueRef as R;
        let next = self.distinct.len() as u32;
        let known = match v {
            R::Text(b) => self.index.get(b).copied(),
            R::Null => self.null,
            _ => None,
        };
        if let Some(id) = known {
            return Ok(id);
        }
        self.distinct.push(summary_value(store, tag, v)?);
        match v {
            R::Text(b) => {
                self.index.insert(b.into(), next);
            }
            R::Null => self.null = Some(next),
            _ => {}
        }
        Ok(next)
    }
}

/// A summary column's value as property `tag` (the requested type: a String8 or Unicode
/// twin reads as the one asked for). The common kinds are read straight from the row; anything
/// else goes through the store's decoder.
fn summary_value(store: &Store, tag: PropTag, v: rusqlite::types::ValueRef<'_>) -> Result<Option<PropVal>> {
    use rusqlite::types::ValueRef as R;
    Ok(match (tag.0 & 0xFFFF, v) {
        (_, R::Null) => None,
        (0x0040, R::Integer(x)) => Some(PropVal::SysTime(x as u64)),
        (0x001F, R::Text(b)) => Some(PropVal::Unicode(String::from_utf8_lossy(b).into_owned())),
        (0x001E, R::Text(b)) => Some(PropVal::String8(String::from_utf8_lossy(b).into_owned())),
        _ => crate::store::decode_row(store.dir(), tag, v)?.map(|tv| tv.val),
    })
}

/// Orders rows by `sort`, ties by message id and instance (a total order, so an unstable sort
/// gives the one result). The values of the first two keys are first reduced to prefixes that
/// order as [`restriction::compare`] does (see [`sort_prefix`]), and a compact array of those
/// prefixes is sorted: most comparisons are of two integers, and only rows whose prefixes cannot
/// tell them apart compare their values.
fn sort_scanned(sort: &[SortKey], kept: &mut Scan, keep_first: bool) {
    if sort.is_empty() {
        kept.rows.sort_unstable_by_key(|s| (s.mid, s.instance));
        return;
    }
    if group_interned(sort, kept, false) {
        return;
    }
    let n = sort.len().min(2);
    // (prefix of key 0, prefix of key 1, bit i set: prefix i is the whole value, row index)
    let mut order: Vec<([u64; 2], [u64; 2], u8, u32)> =
        (0..kept.rows.len()).map(|i| ([0; 2], [0; 2], 0, i as u32)).collect();
    for (i, k) in sort.iter().enumerate().take(n) {
        // A prefix orders only values of one kind: a column mixing kinds (which compare as
        // equal), or with a value without a prefix, compares values only (`uniform` false:
        // the column is done again that way).
        let mut kind = None;
        let mut uniform = true;
        let set = |o: &mut ([u64; 2], [u64; 2], u8, u32), mut p: u128, exact: bool| {
            if k.descending {
                p = !p;
            }
            let p = [(p >> 64) as u64, p as u64];
            if i == 0 {
                o.0 = p;
            } else {
                o.1 = p;
            }
            o.2 = (o.2 & !(1 << i)) | u8::from(exact) << i;
        };
        // An interned column ranks its distinct values once: the rank is an exact prefix.
        if let KeyCol::Interned { ids, distinct } = &kept.cols[i] {
            let rank = ranks(distinct);
            for (o, s) in order.iter_mut().zip(&kept.rows) {
                set(o, u128::from(rank[ids[s.at as usize] as usize]), true);
            }
            continue;
        }
        for (o, s) in order.iter_mut().zip(&kept.rows) {
            // Missing values first, then values (by prefix when there is one).
            let (p, exact) = match kept.key(s, i) {
                None => (0, true),
                Some(v) => match sort_prefix(v) {
                    Some((kd, p, exact)) if uniform && *kind.get_or_insert(kd) == kd => (1 << 127 | p, exact),
                    _ => {
                        uniform = false;
                        (1 << 127, false)
                    }
                },
            };
            set(o, p, exact);
        }
        if !uniform {
            for (o, s) in order.iter_mut().zip(&kept.rows) {
                if kept.key(s, i).is_some() {
                    set(o, 1 << 127, false);
                }
            }
        }
    }
    type Entry = ([u64; 2], [u64; 2], u8, u32);
    let tail = |a: &Entry, b: &Entry, from: usize| {
        let (x, y) = (&kept.rows[a.3 as usize], &kept.rows[b.3 as usize]);
        kept.cmp_from(sort, from, x, y)
            .then(x.mid.cmp(&y.mid))
            .then(x.instance.cmp(&y.instance))
    };
    // Rows from key `from` (1 or 2) on: by prefix of key 1, then by the values from the
    // first key the prefixes leave undecided (equal prefixes are equally exact).
    let rest = |a: &Entry, b: &Entry| {
        if n < 2 {
            return tail(a, b, 1);
        }
        a.1.cmp(&b.1).then_with(|| tail(a, b, if a.2 & 2 != 0 { 2 } else { 1 }))
    };
    // Equal prefixes: equal values when exact, else the values decide from that key on.
    let full = |a: &Entry, b: &Entry| {
        a.0.cmp(&b.0)
            .then_with(|| if a.2 & 1 == 0 { tail(a, b, 0) } else { rest(a, b) })
    };
    // The first key alone: equal exact prefixes are equal values.
    let first_values = |a: &Entry, b: &Entry| {
        if a.2 & 1 != 0 {
            return std::cmp::Ordering::Equal;
        }
        let (x, y) = (&kept.rows[a.3 as usize], &kept.rows[b.3 as usize]);
        kept.cmp_from(&sort[..1], 0, x, y)
    };
    use std::cmp::Ordering::{Greater, Less};
    // The final order: `order` as it ends up, or read through this permutation of it.
    let mut perm: Option<Vec<u32>> = None;
    // The scan reads the summary index in delivery-time order, so rows often come ordered
    // already, or reversed (a table sorted by time), or ordered by every key but the first
    // (grouped by sender, newest first): checked in one pass each, then a reversal, or a
    // stable sort on the first key alone, gives the total order without a full sort.
    // Whether `order` runs one way under `cmp` (then made ascending).
    let presorted = |order: &mut Vec<Entry>, cmp: &dyn Fn(&Entry, &Entry) -> std::cmp::Ordering| {
        for way in [Less, Greater] {
            if order.windows(2).all(|w| cmp(&w[0], &w[1]) == way) {
                if way == Greater {
                    order.reverse();
                }
                return true;
            }
        }
        false
    };
    if presorted(&mut order, &full) {
    } else if sort.len() > 1 && presorted(&mut order, &rest) {
        perm = bucket_by_first(&order);
        if perm.is_none() {
            order.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| first_values(a, b)));
        }
    } else {
        order.sort_unstable_by(full);
    }
    let perm = perm.unwrap_or_else(|| (0..order.len() as u32).collect());
    if keep_first {
        kept.first = perm
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let o = &order[p as usize];
                match i.checked_sub(1).map(|j| &order[perm[j] as usize]) {
                    Some(prev) if prev.0 != o.0 => FIRST_DIFFERENT,
                    Some(_) if o.2 & 1 != 0 => FIRST_SAME,
                    _ => 0,
                }
            })
            .collect();
    }
    kept.rows = perm.iter().map(|&p| kept.rows[order[p as usize].3 as usize]).collect();
}

/// The ranks of distinct values in ascending order (equal values one rank; missing first).
fn ranks(distinct: &[Option<PropVal>]) -> Vec<u32> {
    let asc = cmp_values;
    let mut ranked: Vec<u32> = (0..distinct.len() as u32).collect();
    ranked.sort_by(|&a, &b| asc(&distinct[a as usize], &distinct[b as usize]));
    let mut rank = vec![0u32; distinct.len()];
    for w in 1..ranked.len() {
        let (a, b) = (ranked[w - 1] as usize, ranked[w] as usize);
        rank[b] = rank[a] + u32::from(asc(&distinct[a], &distinct[b]).is_ne());
    }
    rank
}

/// The common categorized view (grouped by an interned column, the rows already in the order
/// of the other keys — the scan reads them in delivery-time order): a stable counting sort by
/// the group's rank, straight on the rows, with [`Scan::first`] from the group boundaries.
/// `false`: not that case (nothing changed).
fn group_interned(sort: &[SortKey], kept: &mut Scan, in_order: bool) -> bool {
    let Some(KeyCol::Interned { ids, distinct }) = kept.cols.first() else {
        return false;
    };
    let rest = |a: &Scanned, b: &Scanned| {
        kept.cmp_from(sort, 1, a, b)
            .then(a.mid.cmp(&b.mid))
            .then(a.instance.cmp(&b.instance))
    };
    let reversed = if in_order || kept.rows.windows(2).all(|w| rest(&w[0], &w[1]).is_lt()) {
        false
    } else if kept.rows.windows(2).all(|w| rest(&w[0], &w[1]).is_gt()) {
        true
    } else {
        return false;
    };
    let mut rank = ranks(distinct);
    if sort[0].descending {
        let top = rank.iter().copied().max().unwrap_or(0);
        rank.iter_mut().for_each(|r| *r = top - *r);
    }
    let group = |s: &Scanned| rank[ids[s.at as usize] as usize] as usize;
    let mut start = vec![0usize; rank.iter().copied().max().map_or(0, |m| m as usize + 1)];
    for s in &kept.rows {
        start[group(s)] += 1;
    }
    let mut at = 0;
    for c in &mut start {
        (*c, at) = (at, at + *c);
    }
    let n = kept.rows.len();
    let mut rows = vec![
        Scanned {
            at: 0,
            mid: 0,
            read: false,
            instance: 0,
        };
        n
    ];
    let mut first = vec![FIRST_SAME; n];
    let mut place = |s: &Scanned| {
        let g = group(s);
        rows[start[g]] = *s;
        start[g] += 1;
    };
    if reversed {
        kept.rows.iter().rev().for_each(&mut place);
    } else {
        kept.rows.iter().for_each(&mut place);
    }
    // `start[g]` is now the end of group g: the next row starts another group.
    for &end in &start {
        if let Some(f) = first.get_mut(end) {
            *f = FIRST_DIFFERENT;
        }
    }
    if let Some(f) = first.first_mut() {
        *f = 0;
    }
    kept.rows = rows;
    kept.first = first;
    true
}

/// A stable sort of `order` by its first-key prefixes when every one is exact and they take
/// few distinct values (a categorized view: one per category): a counting sort, one hash
/// lookup per row instead of a comparison sort. Answers the positions in `order` in sorted
/// order; `None`: not done (the caller sorts).
fn bucket_by_first(order: &[([u64; 2], [u64; 2], u8, u32)]) -> Option<Vec<u32>> {
    let limit = (order.len() / 16).max(16);
    if order.iter().any(|o| o.2 & 1 == 0) {
        return None;
    }
    let mut index: HashMap<[u64; 2], u32, foldhash::fast::RandomState> = HashMap::default();
    let mut distinct: Vec<[u64; 2]> = Vec::new();
    let mut bucket_of: Vec<u32> = Vec::with_capacity(order.len());
    for o in order {
        let b = *index.entry(o.0).or_insert_with(|| {
            distinct.push(o.0);
            distinct.len() as u32 - 1
        });
        if distinct.len() > limit {
            return None;
        }
        bucket_of.push(b);
    }
    // Start of each bucket in prefix order.
    let mut ranked: Vec<u32> = (0..distinct.len() as u32).collect();
    ranked.sort_unstable_by_key(|&b| distinct[b as usize]);
    let mut counts = vec![0usize; distinct.len()];
    for &b in &bucket_of {
        counts[b as usize] += 1;
    }
    let mut start = vec![0usize; distinct.len()];
    let mut at = 0;
    for &b in &ranked {
        start[b as usize] = at;
        at += counts[b as usize];
    }
    let mut perm = vec![0u32; order.len()];
    for (i, &b) in bucket_of.iter().enumerate() {
        perm[start[b as usize]] = i as u32;
        start[b as usize] += 1;
    }
    Some(perm)
}

/// A sort value's kind, a 127-bit prefix of it that orders as [`restriction::compare`] orders
/// two values of that kind (a smaller prefix: a smaller value), and whether the prefix is the
/// whole value (equal prefixes: equal values). `None`: no such prefix (floats, binaries,
/// multi-valued values).
fn sort_prefix(v: &PropVal) -> Option<(u8, u128, bool)> {
    use PropVal as V;
    let int = |x: i64| u128::from((x as u64) ^ (1 << 63)) << 56;
    Some(match v {
        V::I2(x) => (1, int(i64::from(*x)), true),
        V::I4(x) => (1, int(i64::from(*x)), true),
        V::I8(x) => (1, int(*x), true),
        V::Currency(x) => (2, int(*x), true),
        V::SysTime(x) => (3, u128::from(*x) << 56, true),
        V::Boolean(x) => (4, u128::from(*x), true),
        V::Error(x) => (5, u128::from(*x), true),
        V::String8(x) | V::Unicode(x) => {
            // compare() orders strings by their bytes after restriction's case folding
            // (lowercase when the string has an uppercase letter). The first 14 folded bytes
            // (a shorter string's missing bytes 0, below any byte that follows), then the
            // length up to 15: strings that agree on 14 bytes and are no longer are equal but
            // for trailing NULs, and then the shorter one is the smaller.
            let folded: Cow<'_, str> = if !x.is_ascii() && x.chars().any(|c| c.is_uppercase()) {
                Cow::Owned(x.to_lowercase())
            } else {
                Cow::Borrowed(x)
            };
            let mut b = [0u8; 16];
            for (d, c) in b[1..15].iter_mut().zip(folded.bytes()) {
                *d = c.to_ascii_lowercase();
            }
            b[15] = folded.len().min(15) as u8;
            (6, u128::from_be_bytes(b), folded.len() <= 14)
        }
        _ => return None,
    })
}

/// A row's sort-key values (`None`: the row lacks the property).
type SortValues = Vec<Option<PropVal>>;

/// PidTagDepth (MS-OXPROPS): a row's depth below the table's folder (0 = direct child).
pub const PR_DEPTH: PropTag = PropTag(0x3005_0003);
/// PidTagFolderId (MS-OXPROPS).
pub const PR_FOLDER_ID: PropTag = PropTag(0x6748_0014);
/// PidTagSubfolders (MS-OXPROPS).
pub const PR_SUBFOLDERS: PropTag = PropTag(0x360A_000B);
/// PidTagContentCount (MS-OXPROPS).
pub const PR_CONTENT_COUNT: PropTag = PropTag(0x3602_0003);

/// A hierarchy table (MS-OXCFOLD §2.2.1.13 RopGetHierarchyTable): the subfolders of a folder,
/// one level or the whole subtree in depth-first order, soft-deleted folders left out.
/// Computed columns: PR_DEPTH, PR_FOLDER_ID, PR_SUBFOLDERS, PR_CONTENT_COUNT. Paging, seeks,
/// bookmarks, find row and reload work as on content tables (MS-OXCTABL §3.2.5).
#[derive(Debug)]
pub struct HierarchyTable {
    folder: u64,
    recursive: bool,
    restriction: Option<Restriction>,
    sort: Vec<SortKey>,
    /// (folder id, depth) in table order.
    rows: Vec<(u64, u32)>,
    /// The folder ids of `rows` (the keys of the cursor and bookmarks).
    ids: Vec<u64>,
    /// The parent of each row's folder.
    parents: HashMap<u64, u64>,
    nav: Nav,
}

/// The store's folders when `columns` has a column computed from them (PR_SUBFOLDERS,
/// PR_CONTENT_COUNT), else none.
fn folders_for(store: &Store, columns: &[PropTag]) -> Result<Vec<crate::FolderInfo>> {
    let computed = columns
        .iter()
        .any(|c| c.id() == PR_SUBFOLDERS.id() || c.id() == PR_CONTENT_COUNT.id());
    Ok(if computed { store.list_folders()? } else { Vec::new() })
}

/// The values of `columns` of folder `f`'s hierarchy-table row (`all`: [`folders_for`]).
fn hierarchy_row(
    store: &Store,
    all: &[crate::FolderInfo],
    f: u64,
    depth: u32,
    columns: &[PropTag],
) -> Result<Vec<Option<PropVal>>> {
    let mut row = Vec::with_capacity(columns.len());
    for &c in columns {
        row.push(match c.id() {
            id if id == PR_DEPTH.id() => Some(PropVal::I4(depth as i32)),
            id if id == PR_FOLDER_ID.id() => Some(PropVal::I8(f as i64)),
            id if id == PR_SUBFOLDERS.id() => {
                Some(PropVal::Boolean(all.iter().any(|x| x.parent == Some(f) && !x.deleted)))
            }
            id if id == PR_CONTENT_COUNT.id() => {
                Some(PropVal::I4(content_count(store, f)?.min(i32::MAX as usize) as i32))
            }
            _ => match store.get_prop(Obj::Folder(f), c)? {
                Some(v) => Some(v),
                None if matches!(c.ptype(), Some(PropType::String8)) => {
                    store.get_prop(Obj::Folder(f), c.with_type(PropType::Unicode))?
                }
                None => None,
            },
        });
    }
    Ok(row)
}

/// One folder as a hierarchy-table row: its properties plus the computed columns.
fn folder_row(store: &Store, all: &[crate::store::FolderInfo], f: u64, depth: u32) -> Result<Vec<TaggedVal>> {
    let mut row: Vec<TaggedVal> = store.get_props(Obj::Folder(f))?;
    row.retain(|t| {
        ![PR_DEPTH, PR_FOLDER_ID, PR_SUBFOLDERS, PR_CONTENT_COUNT]
            .iter()
            .any(|c| c.id() == t.tag.id())
    });
    let subfolders = all.iter().any(|x| x.parent == Some(f) && !x.deleted);
    let count = content_count(store, f)?;
    row.push(TaggedVal::new(PR_DEPTH, PropVal::I4(depth as i32)));
    row.push(TaggedVal::new(PR_FOLDER_ID, PropVal::I8(f as i64)));
    row.push(TaggedVal::new(PR_SUBFOLDERS, PropVal::Boolean(subfolders)));
    row.push(TaggedVal::new(
        PR_CONTENT_COUNT,
        PropVal::I4(count.min(i32::MAX as usize) as i32),
    ));
    Ok(row)
}

/// PR_CONTENT_COUNT of a folder: its live normal messages, or for a search folder the
/// messages it lists.
fn content_count(store: &Store, f: u64) -> Result<usize> {
    if store.is_search_folder(f)? {
        return Ok(store.search_results(f)?.len());
    }
    Ok(store.list_messages(f, false)?.len())
}

/// The value of `tag` in a row (by property id; strings of either type).
fn row_value(row: &[TaggedVal], tag: PropTag) -> Option<PropVal> {
    row.iter().find(|t| t.tag.id() == tag.id()).map(|t| t.val.clone())
}

impl HierarchyTable {
    /// Build the table of `folder`'s subfolders; `restriction` and `sort` apply to folder
    /// properties (the computed ones included). Sorting keeps each folder's subtree under it
    /// only when unsorted; a sorted recursive table orders all rows by the keys.
    pub fn load(
        store: &Store,
        folder: u64,
        recursive: bool,
        restriction: Option<&Restriction>,
        sort: &[SortKey],
    ) -> Result<HierarchyTable> {
        let mut t = HierarchyTable {
            folder,
            recursive,
            restriction: restriction.cloned(),
            sort: sort.to_vec(),
            rows: Vec::new(),
            ids: Vec::new(),
            parents: HashMap::new(),
            nav: Nav::new(),
        };
        t.reload(store)?;
        Ok(t)
    }

    /// Re-read the hierarchy (folders changed); the cursor stays on the same folder when it is
    /// still there, else at the same position; bookmarks keep their folders.
    pub fn reload(&mut self, store: &Store) -> Result<()> {
        let at = self.ids.get(self.nav.cursor).copied();
        let all = store.list_folders()?;
        let mut rows: Vec<(u64, u32)> = Vec::new();
        let mut stack: Vec<(u64, u32)> = vec![(self.folder, 0)];
        // Depth-first: children in id order.
        let children = |p: u64| -> Vec<u64> {
            let mut v: Vec<u64> = all
                .iter()
                .filter(|f| f.parent == Some(p) && !f.deleted)
                .map(|f| f.id)
                .collect();
            v.sort_unstable();
            v
        };
        while let Some((f, depth)) = stack.pop() {
            if f != self.folder {
                rows.push((f, depth - 1));
            }
            if self.recursive || f == self.folder {
                for &k in children(f).iter().rev() {
                    stack.push((k, depth + 1));
                }
            }
        }
        let mut matcher = self.restriction.as_ref().map(Matcher::new);
        let mut kept: Vec<(SortValues, (u64, u32))> = Vec::new();
        for (f, depth) in rows {
            let row = folder_row(store, &all, f, depth)?;
            if let Some(m) = matcher.as_mut() {
                if !m.matches(&row) {
                    continue;
                }
            }
            let keys = self.sort.iter().map(|k| row_value(&row, k.tag)).collect();
            kept.push((keys, (f, depth)));
        }
        if !self.sort.is_empty() {
            let sort = &self.sort;
            kept.sort_by(|(a, _), (b, _)| cmp_keys(sort, a, b));
        }
        self.rows = kept.into_iter().map(|(_, r)| r).collect();
        self.ids = self.rows.iter().map(|r| r.0).collect();
        let shown: std::collections::HashSet<u64> = self.ids.iter().copied().collect();
        self.parents = all
            .iter()
            .filter(|f| shown.contains(&f.id))
            .filter_map(|f| Some((f.id, f.parent?)))
            .collect();
        self.nav.relocate(at, &self.ids);
        Ok(())
    }

    /// Brings the table up to date after store changes and answers row notifications
    /// (MS-OXCNOTIF §3.1.4.3): the subtree is read again and compared with the rows held, so
    /// new, deleted and moved folders are told row by row, and rows whose values may have
    /// changed are TABLE_ROW_MODIFIED: `touched` (folders an event names: modified folders,
    /// folders whose messages changed), a folder whose depth changed, and the parents of
    /// folders that came or went (PR_SUBFOLDERS). Row ids: the folder id, message 0.
    pub fn apply(&mut self, store: &Store, touched: &std::collections::HashSet<u64>) -> Result<Vec<TableNotification>> {
        let old = self.ids.clone();
        let old_depth: HashMap<u64, u32> = self.rows.iter().copied().collect();
        let old_parents = std::mem::take(&mut self.parents);
        self.reload(store)?;
        let new_set: std::collections::HashSet<u64> = self.ids.iter().copied().collect();
        let old_set: std::collections::HashSet<u64> = old.iter().copied().collect();
        let mut parents: std::collections::HashSet<u64> = std::collections::HashSet::new();
        parents.extend(
            old.iter()
                .filter(|f| !new_set.contains(f))
                .filter_map(|f| old_parents.get(f)),
        );
        parents.extend(
            self.ids
                .iter()
                .filter(|f| !old_set.contains(f))
                .filter_map(|f| self.parents.get(f)),
        );
        for f in &self.ids {
            // Moved folders: the old and the new parent.
            if let (Some(a), Some(b)) = (old_parents.get(f), self.parents.get(f)) {
                if a != b {
                    parents.extend([*a, *b]);
                }
            }
        }
        let depth: HashMap<u64, u32> = self.rows.iter().copied().collect();
        let changed = |f: u64| touched.contains(&f) || parents.contains(&f) || old_depth.get(&f) != depth.get(&f);
        let name = |f: u64| TableRowId {
            folder: f,
            message: 0,
            instance: 0,
        };
        Ok(diff_rows(&old, &self.ids, &changed)
            .into_iter()
            .map(|c| c.notification(&self.ids, name))
            .collect())
    }

    /// `(folder id, depth)` of every row in order.
    pub fn rows(&self) -> &[(u64, u32)] {
        &self.rows
    }

    /// Number of rows.
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// The index of folder `fid`'s row (Gromox `locate_table` on a hierarchy table).
    pub fn locate(&self, fid: u64) -> Option<usize> {
        self.ids.iter().position(|&k| k == fid)
    }

    /// The values of `columns` for the row at `index`, without moving the cursor.
    pub fn row_at(&self, store: &Store, index: usize, columns: &[PropTag]) -> Result<Vec<Option<PropVal>>> {
        let &(fid, depth) = self.rows.get(index).ok_or(crate::Error::NotFound("row"))?;
        hierarchy_row(store, &folders_for(store, columns)?, fid, depth, columns)
    }

    /// The cursor (RopQueryPosition Numerator).
    pub fn position(&self) -> usize {
        self.nav.cursor
    }

    /// Number of live bookmarks.
    pub fn bookmark_count(&self) -> usize {
        self.nav.bookmarks.len()
    }

    /// RopQueryRows: up to `count` rows from the cursor, forward or backward (nearest first),
    /// one value per column; the cursor moves past them unless `no_advance`.
    pub fn query_rows(
        &mut self,
        store: &Store,
        columns: &[PropTag],
        count: usize,
        forward: bool,
        no_advance: bool,
    ) -> Result<Vec<Vec<Option<PropVal>>>> {
        self.query_rows_within(store, columns, count, forward, no_advance, usize::MAX)
    }

    /// [`HierarchyTable::query_rows`] returning fewer rows when more would take over
    /// `max_bytes` in the exmdb wire form (at least one row).
    pub fn query_rows_within(
        &mut self,
        store: &Store,
        columns: &[PropTag],
        count: usize,
        forward: bool,
        no_advance: bool,
        max_bytes: usize,
    ) -> Result<Vec<Vec<Option<PropVal>>>> {
        let all = folders_for(store, columns)?;
        let rows = &self.rows;
        self.nav
            .collect(rows.len(), count, forward, no_advance, max_bytes, |i| {
                let (f, depth) = rows[i];
                hierarchy_row(store, &all, f, depth, columns)
            })
    }

    /// RopSeekRow (see [`ContentTable::seek`]).
    pub fn seek(&mut self, origin: Origin, offset: i64) -> i64 {
        self.nav.seek(self.rows.len(), origin, offset)
    }

    /// RopSeekRowFractional.
    pub fn seek_fraction(&mut self, numerator: u32, denominator: u32) {
        self.nav.seek_fraction(self.rows.len(), numerator, denominator)
    }

    /// RopCreateBookmark: a bookmark at the cursor.
    pub fn create_bookmark(&mut self) -> u32 {
        self.nav.create_bookmark(&self.ids)
    }

    /// RopSeekRowBookmark (see [`ContentTable::seek_bookmark`]).
    pub fn seek_bookmark(&mut self, bookmark: u32, offset: i64) -> Option<(bool, i64)> {
        self.nav.seek_bookmark(&self.ids, bookmark, offset)
    }

    /// RopFreeBookmark; whether it existed.
    pub fn free_bookmark(&mut self, bookmark: u32) -> bool {
        self.nav.bookmarks.remove(&bookmark).is_some()
    }

    /// RopFindRow: the first row from the cursor (inclusive; backward: before it) whose folder
    /// satisfies `r`; the cursor moves to it. `None` (cursor unchanged) when there is none.
    pub fn find_row(&mut self, store: &Store, r: &Restriction, forward: bool) -> Result<Option<usize>> {
        let all = store.list_folders()?;
        let mut m = Matcher::new(r);
        let cursor = self.nav.cursor.min(self.rows.len());
        let order: Box<dyn Iterator<Item = usize>> = if forward {
            Box::new(cursor..self.rows.len())
        } else {
            Box::new((0..cursor).rev())
        };
        for i in order {
            let (f, depth) = self.rows[i];
            if m.matches(&folder_row(store, &all, f, depth)?) {
                self.nav.cursor = i;
                return Ok(Some(i));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a client holding `old` has after applying the notifications in order, placing
    /// each added or modified row after the row before it in the new table (as MS-OXCNOTIF
    /// InsertAfter: the prior row's id, not the position).
    fn replay(old: &[u64], new: &[u64], changes: &[RowChange]) -> Vec<u64> {
        let mut rows = old.to_vec();
        for c in changes {
            let (key, position) = match *c {
                RowChange::Deleted { key } => {
                    rows.retain(|&k| k != key);
                    continue;
                }
                RowChange::Added { key, position } => {
                    assert!(!rows.contains(&key), "added twice: {key}");
                    (key, position)
                }
                RowChange::Modified { key, position } => {
                    let at = rows.iter().position(|&k| k == key).expect("modified row held");
                    rows.remove(at);
                    (key, position)
                }
            };
            let at = match position.checked_sub(1).map(|p| new[p]) {
                None => 0,
                Some(prior) => rows.iter().position(|&k| k == prior).expect("prior row held") + 1,
            };
            rows.insert(at, key);
        }
        rows
    }

    #[test]
    fn row_differences_replay_to_the_new_table() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        for round in 0..2000 {
            let len = rand(40);
            let old: Vec<u64> = (0..len as u64).collect();
            let mut new = old.clone();
            let mut next = 1000;
            for _ in 0..rand(6) {
                match rand(3) {
                    0 if !new.is_empty() => {
                        let i = rand(new.len());
                        new.remove(i);
                    }
                    1 if !new.is_empty() => {
                        let k = new.remove(rand(new.len()));
                        let i = rand(new.len() + 1);
                        new.insert(i, k);
                    }
                    _ => {
                        let i = rand(new.len() + 1);
                        new.insert(i, next);
                        next += 1;
                    }
                }
            }
            let touched: Vec<u64> = (0..rand(3)).map(|_| rand(len) as u64).collect();
            let changed = |k: u64| touched.contains(&k);
            let d = diff_rows(&old, &new, &changed);
            assert_eq!(replay(&old, &new, &d), new, "round {round}: {old:?} → {new:?}: {d:?}");
            // Every changed row still there is told about.
            for k in new.iter().filter(|k| touched.contains(k)) {
                assert!(
                    d.iter().any(
                        |c| matches!(*c, RowChange::Modified { key, .. } | RowChange::Added { key, .. } if key == *k)
                    ),
                    "round {round}: {k} changed but not told"
                );
            }
        }
        // One row moved: one notification, nothing about the rows around it.
        let old: Vec<u64> = (0..100).collect();
        let mut new = old.clone();
        let k = new.remove(10);
        new.insert(80, k);
        assert_eq!(
            diff_rows(&old, &new, &|_| false),
            vec![RowChange::Modified { key: 10, position: 80 }]
        );
        assert_eq!(diff_rows(&old, &old, &|_| false), vec![]);
    }
}
