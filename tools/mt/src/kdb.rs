//! Zarafa/Kopano stores (MySQL/MariaDB database plus attachment directory) → stream frames,
//! for `gromox-kdb2mt`.
//!
//! Kopano keeps every MAPI object of every store as a row of `hierarchy` (`id`, `parent`,
//! `type`: 1 store, 3 folder, 5 message, 6 mail user (recipient), 7 attachment, 8 distribution
//! list (recipient); `flags`: folders 0 root, 1 generic, 2 search; messages 0x40 associated,
//! 0x400 soft-deleted). Single-valued properties live in `properties` (`hierarchyid`, `tag` =
//! property id, `type` = property type) with one typed value column per kind (`val_ulong`,
//! `val_string`, `val_binary`, `val_double`, `val_longint`, `val_hi`/`val_lo` for FILETIME and
//! currency); multi-valued ones in `mvproperties`, one row per element ordered by `orderid`.
//! Named properties have ids `0x8500 + names.id` (`names`: `nameid` = LID or `namestring`,
//! `guid`). Attachment data (`PR_ATTACH_DATA_BIN`) is not a property row: `singleinstances`
//! maps (attachment, tag) to an instance id whose bytes are a file in the attachment directory
//! (`<dir>/<id % 10>/<id / 10 % 20>/<id>`, `.gz` when compressed) or chunks in `lob`.
//! `stores` lists the stores (`hierarchy_id` of the store object, `user_name`, `guid`).
//!
//! The reading is behind [`Source`]: [`MysqlSource`] queries the database (parameterised
//! statements only), [`MemSource`] holds rows in memory (tests and the fuzz target). The walk
//! ([`kdb_to_stream`]) and the value decoding ([`decode_props`]) are the same for both.

use crate::produce::Producer;
use crate::stream::{FolderFrame, MessageFrame, StreamError, MAX_FRAME};
use gromox_convert::mapi::{MapiAttachment, MapiMessage};
use gromox_mapi::{Guid, PropName, PropTag, PropType, PropVal, TaggedVal};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Hierarchy object types (Kopano's `hierarchy.type`, MAPI object types).
pub const T_STORE: u8 = 1;
pub const T_FOLDER: u8 = 3;
pub const T_MESSAGE: u8 = 5;
pub const T_MAILUSER: u8 = 6;
pub const T_ATTACH: u8 = 7;
pub const T_DISTLIST: u8 = 8;
/// `hierarchy.flags` of messages: associated (FAI), soft-deleted.
pub const F_ASSOCIATED: u32 = 0x40;
pub const F_DELETED: u32 = 0x400;
/// `hierarchy.flags` of folders: search folder.
pub const F_SEARCH: u32 = 2;
/// Named-property ids are `NAMED_BASE + names.id`.
pub const NAMED_BASE: u32 = 0x8500;
/// Deepest nesting followed (folders and embedded messages).
const MAX_DEPTH: usize = 64;

const PR_DISPLAY_NAME: u16 = 0x3001;
const PR_CONTAINER_CLASS: u16 = 0x3613;
const PR_ATTACH_DATA_BIN: u16 = 0x3701;

/// One object of `hierarchy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub id: u32,
    pub kind: u8,
    pub flags: u32,
}

/// One row of `properties` or `mvproperties` (`orderid` 0 for single values).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PropRow {
    pub tag: u16,
    pub ty: u16,
    pub orderid: u16,
    pub ulong: Option<u64>,
    pub string: Option<Vec<u8>>,
    pub binary: Option<Vec<u8>>,
    pub double: Option<f64>,
    pub longint: Option<i64>,
    pub hi: Option<i64>,
    pub lo: Option<u64>,
}

/// One row of `names`: `id`, the property-set GUID (16 bytes as stored) and a LID or a name.
#[derive(Debug, Clone, PartialEq)]
pub struct NameRow {
    pub id: u32,
    pub guid: Vec<u8>,
    pub lid: Option<i64>,
    pub name: Option<Vec<u8>>,
}

/// A row of `stores`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreRow {
    pub hierarchy_id: u32,
    pub user_id: u32,
    pub kind: u32,
    pub user_name: String,
    pub guid: Vec<u8>,
}

/// Where a Kopano store is read from.
pub trait Source {
    /// Every store of the database.
    fn stores(&mut self) -> Result<Vec<StoreRow>, String>;
    /// Children of `parent` in `hierarchy`, by id.
    fn children(&mut self, parent: u32) -> Result<Vec<Node>, String>;
    /// Rows of `properties` and `mvproperties` of object `id`.
    fn props(&mut self, id: u32) -> Result<Vec<PropRow>, String>;
    /// The `names` table.
    fn names(&mut self) -> Result<Vec<NameRow>, String>;
    /// The single-instance id holding property `tag` of object `id`, if any.
    fn instance(&mut self, id: u32, tag: u16) -> Result<Option<u32>, String>;
    /// The bytes of single instance `inst` (attachment directory or `lob`); `None`: not found.
    fn instance_data(&mut self, inst: u32, tag: u16) -> Result<Option<Vec<u8>>, String>;
    /// The object whose `PR_ENTRYID` is `eid` (`indexedproperties`), if known.
    fn by_entryid(&mut self, eid: &[u8]) -> Result<Option<u32>, String>;
}

/// Decompresses a gzip file of the attachment directory, refusing more than [`MAX_FRAME`]
/// bytes (a stream frame could not carry more).
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .take(u64::from(MAX_FRAME) + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip: {e}"))?;
    if out.len() > MAX_FRAME as usize {
        return Err(format!("gzip: more than {MAX_FRAME} bytes uncompressed"));
    }
    Ok(out)
}

/// Reads attachment instance `inst` from a Kopano attachment directory: the hashed layout
/// `<dir>/<inst % 10>/<inst / 10 % 20>/<inst>[.gz]` (Kopano's default levels) or a flat
/// `<dir>/<inst>[.gz]`.
pub fn read_attach_file(dir: &Path, inst: u32) -> Result<Option<Vec<u8>>, String> {
    let hashed = dir.join((inst % 10).to_string()).join((inst / 10 % 20).to_string());
    for base in [hashed, dir.to_path_buf()] {
        for gz in [false, true] {
            let p: PathBuf = base.join(if gz { format!("{inst}.gz") } else { inst.to_string() });
            match std::fs::read(&p) {
                Ok(d) => {
                    return if gz {
                        gunzip(&d).map(Some).map_err(|e| format!("{}: {e}", p.display()))
                    } else {
                        Ok(Some(d))
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", p.display())),
            }
        }
    }
    Ok(None)
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// FILETIME/currency from Kopano's `val_hi` (signed high 32 bits) and `val_lo` (unsigned low).
fn hilo(r: &PropRow) -> Option<u64> {
    let hi = r.hi? as u32;
    let lo = u32::try_from(r.lo?).ok()?;
    Some((u64::from(hi) << 32) | u64::from(lo))
}

/// The value of a single-valued row for type `ty`; `None` when the row holds no value of
/// that type (or the type is not one Kopano stores as a value: restrictions, rule actions,
/// objects).
fn single(ty: u16, r: &PropRow) -> Option<PropVal> {
    Some(match ty {
        0x0002 => PropVal::I2(r.ulong? as i16),
        0x0003 => PropVal::I4(r.ulong? as u32 as i32),
        0x0004 => PropVal::R4(r.double? as f32),
        0x0005 => PropVal::R8(r.double?),
        0x0006 => PropVal::Currency(hilo(r)? as i64),
        0x0007 => PropVal::AppTime(r.double?),
        0x000A => PropVal::Error(r.ulong? as u32),
        0x000B => PropVal::Boolean(r.ulong? != 0),
        0x0014 => PropVal::I8(r.longint?),
        // Kopano stores every string as UTF-8 (PT_UNICODE is kept as PT_STRING8 in the table).
        0x001E | 0x001F => PropVal::Unicode(utf8(r.string.as_deref()?)),
        0x0040 => PropVal::SysTime(hilo(r)?),
        0x0048 => PropVal::Clsid(Guid::from_slice(r.binary.as_deref()?).ok()?),
        0x0102 => PropVal::Binary(r.binary.clone()?),
        _ => return None,
    })
}

/// A multi-valued property from its element rows (sorted by `orderid`).
fn multi(ty: u16, rows: &[&PropRow]) -> Option<PropVal> {
    let base = ty & !0x3000;
    let vals: Option<Vec<PropVal>> = rows.iter().map(|r| single(base, r)).collect();
    let vals = vals?;
    macro_rules! mv {
        ($var:ident, $inner:ident) => {
            PropVal::$var(
                vals.into_iter()
                    .filter_map(|v| match v {
                        PropVal::$inner(x) => Some(x),
                        _ => None,
                    })
                    .collect(),
            )
        };
    }
    Some(match base {
        0x0002 => mv!(MvI2, I2),
        0x0003 => mv!(MvI4, I4),
        0x0004 => mv!(MvR4, R4),
        0x0005 => mv!(MvR8, R8),
        0x0006 => mv!(MvCurrency, Currency),
        0x0007 => mv!(MvAppTime, AppTime),
        0x0014 => mv!(MvI8, I8),
        0x001E | 0x001F => mv!(MvUnicode, Unicode),
        0x0040 => mv!(MvSysTime, SysTime),
        0x0048 => mv!(MvClsid, Clsid),
        0x0102 => mv!(MvBinary, Binary),
        _ => return None,
    })
}

/// Kopano's own properties (`PR_EC_*`, 0x6700–0x67FF) and the identifiers the target store
/// assigns itself (entry ids, source/record/search keys, change tracking) are not copied.
fn skipped(id: u16) -> bool {
    matches!(
        id,
        0x0FF6 // PR_INSTANCE_KEY
            | 0x0FF9 // PR_RECORD_KEY
            | 0x0FFF // PR_ENTRYID
            | 0x0E09 // PR_PARENT_ENTRYID
            | 0x0FFB // PR_STORE_ENTRYID
            | 0x0FFA // PR_STORE_RECORD_KEY
            | 0x65E0 // PR_SOURCE_KEY
            | 0x65E1 // PR_PARENT_SOURCE_KEY
            | 0x65E2 // PR_CHANGE_KEY
            | 0x65E3 // PR_PREDECESSOR_CHANGE_LIST
            | 0x0E08 // PR_MESSAGE_SIZE
            | 0x0E20 // PR_ATTACH_SIZE
            | 0x3602 // PR_CONTENT_COUNT
            | 0x3603 // PR_CONTENT_UNREAD
            | 0x360A // PR_SUBFOLDERS
    ) || (0x6700..=0x67FF).contains(&id)
}

/// Decodes an object's rows into plain and named properties. Named ids are resolved with
/// `names` (`0x8500 + names.id`); unknown ones and undecodable rows are counted in the
/// returned number of dropped rows.
pub fn decode_props(
    rows: &[PropRow],
    names: &HashMap<u32, PropName>,
) -> (Vec<TaggedVal>, Vec<(PropName, PropVal)>, usize) {
    let mut plain = Vec::new();
    let mut named = Vec::new();
    let mut dropped = 0;
    let mut mv: Vec<(u16, u16, Vec<&PropRow>)> = Vec::new();
    let push = |tag: u16, val: PropVal, plain: &mut Vec<TaggedVal>, named: &mut Vec<(PropName, PropVal)>| {
        if u32::from(tag) > NAMED_BASE {
            match names.get(&(u32::from(tag) - NAMED_BASE)) {
                Some(n) => named.push((n.clone(), val)),
                None => return false,
            }
        } else if tag < 0x8000 && !skipped(tag) {
            plain.push(TaggedVal::new(PropTag::new(tag, val.ptype()), val));
        }
        true
    };
    for r in rows {
        if r.ty & 0x1000 != 0 {
            match mv.iter_mut().find(|(t, ty, _)| *t == r.tag && *ty == r.ty) {
                Some((_, _, v)) => v.push(r),
                None => mv.push((r.tag, r.ty, vec![r])),
            }
            continue;
        }
        // MVI_FLAG (0x2000) rows are single values of an instanced multi-value property.
        match single(r.ty & !0x2000, r) {
            Some(v) => {
                if !push(r.tag, v, &mut plain, &mut named) {
                    dropped += 1;
                }
            }
            None => dropped += 1,
        }
    }
    for (tag, ty, mut v) in mv {
        v.sort_by_key(|r| r.orderid);
        match multi(ty, &v) {
            Some(val) => {
                if !push(tag, val, &mut plain, &mut named) {
                    dropped += 1;
                }
            }
            None => dropped += 1,
        }
    }
    (plain, named, dropped)
}

/// The named-property map from the `names` table.
pub fn name_map(rows: &[NameRow]) -> HashMap<u32, PropName> {
    let mut out = HashMap::new();
    for r in rows {
        let Ok(g) = Guid::from_slice(&r.guid) else { continue };
        let n = match (&r.name, r.lid) {
            (Some(s), _) => PropName::name(g, &utf8(s)),
            (None, Some(l)) => PropName::lid(g, l as u32),
            (None, None) => continue,
        };
        out.insert(r.id, n);
    }
    out
}

/// Counts of one conversion.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KdbStats {
    pub folders: u64,
    pub messages: u64,
    pub associated: u64,
    /// Objects (folders, messages, attachments, recipients) that could not be read in full.
    pub failed: u64,
}

/// What to convert and how.
#[derive(Debug, Clone, Default)]
pub struct KdbOptions {
    /// Splice the store's top folders into the target's (Inbox → Inbox …) instead of one new
    /// folder `Import of <user>`.
    pub splice: bool,
    /// Print the folder tree (stderr).
    pub tree: bool,
    /// Print every object's properties (stderr).
    pub print_props: bool,
}

/// Errors ending a conversion.
#[derive(Debug, thiserror::Error)]
pub enum KdbError {
    #[error("{0}")]
    Source(String),
    #[error("stream: {0}")]
    Stream(#[from] StreamError),
}

/// Named properties of one object.
type Named = Vec<(PropName, PropVal)>;

struct Walk<'a, S: Source, W: Write> {
    src: &'a mut S,
    p: &'a mut Producer<W>,
    errs: &'a mut dyn Write,
    names: HashMap<u32, PropName>,
    opts: KdbOptions,
    stats: KdbStats,
}

fn prop_str(props: &[TaggedVal], id: u16) -> Option<String> {
    props.iter().find(|t| t.tag.id() == id).and_then(|t| match &t.val {
        PropVal::Unicode(s) | PropVal::String8(s) => Some(s.clone()),
        _ => None,
    })
}

impl<S: Source, W: Write> Walk<'_, S, W> {
    fn fail(&mut self, what: String) {
        let _ = writeln!(self.errs, "{what}");
        self.stats.failed += 1;
    }

    fn decode(&mut self, id: u32, path: &str) -> Result<(Vec<TaggedVal>, Named), String> {
        let rows = self.src.props(id)?;
        let (plain, named, dropped) = decode_props(&rows, &self.names);
        if self.opts.print_props {
            let _ = writeln!(self.errs, "{path}:");
            for t in &plain {
                let _ = writeln!(self.errs, "  {:08x} {:?}", t.tag.0, t.val);
            }
            for (n, v) in &named {
                let _ = writeln!(self.errs, "  {n:?} {v:?}");
            }
            if dropped > 0 {
                let _ = writeln!(self.errs, "  ({dropped} rows without a usable value)");
            }
        }
        Ok((plain, named))
    }

    /// A message with recipients, attachments and embedded messages; problems with parts
    /// are collected in `problems` (the message is still converted).
    fn message(
        &mut self,
        id: u32,
        path: &str,
        depth: usize,
        problems: &mut Vec<String>,
    ) -> Result<MapiMessage, String> {
        let (props, named) = self.decode(id, path)?;
        let mut m = MapiMessage {
            props,
            named,
            ..Default::default()
        };
        for c in self.src.children(id)? {
            match c.kind {
                T_MAILUSER | T_DISTLIST => {
                    let rp = format!("{path}/recipient {}", c.id);
                    match self.decode(c.id, &rp) {
                        Ok((p, _)) => m.recipients.push(p),
                        Err(e) => problems.push(format!("{rp}: {e}")),
                    }
                }
                T_ATTACH => {
                    let ap = format!("{path}/attachment {}", c.id);
                    match self.attachment(c.id, &ap, depth, problems) {
                        Ok(a) => m.attachments.push(a),
                        Err(e) => problems.push(format!("{ap}: {e}")),
                    }
                }
                _ => {}
            }
        }
        Ok(m)
    }

    fn attachment(
        &mut self,
        id: u32,
        path: &str,
        depth: usize,
        problems: &mut Vec<String>,
    ) -> Result<MapiAttachment, String> {
        let (props, named) = self.decode(id, path)?;
        let mut a = MapiAttachment {
            props,
            named,
            embedded: None,
        };
        if let Some(inst) = self.src.instance(id, PR_ATTACH_DATA_BIN)? {
            match self.src.instance_data(inst, PR_ATTACH_DATA_BIN) {
                Ok(Some(d)) => {
                    a.props.retain(|t| t.tag.id() != PR_ATTACH_DATA_BIN);
                    a.props
                        .push(TaggedVal::new(PropTag::new(PR_ATTACH_DATA_BIN, PropType::Binary), PropVal::Binary(d)))
                }
                Ok(None) => problems.push(format!(
                    "{path}: attachment data (single instance {inst}) not found in the attachment directory or the lob table; attachment kept without data"
                )),
                Err(e) => problems.push(format!("{path}: attachment data (single instance {inst}): {e}")),
            }
        }
        if let Some(e) = self.src.children(id)?.into_iter().find(|c| c.kind == T_MESSAGE) {
            if depth >= MAX_DEPTH {
                problems.push(format!("{path}: embedded messages nested too deeply, not converted"));
            } else {
                let ep = format!("{path}/embedded {}", e.id);
                match self.message(e.id, &ep, depth + 1, problems) {
                    Ok(m) => a.embedded = Some(Box::new(m)),
                    Err(err) => problems.push(format!("{ep}: {err}")),
                }
            }
        }
        Ok(a)
    }

    /// Folder `id` (announced as `target`, 0 = base): messages, then subfolders.
    fn folder(&mut self, id: u32, target: u64, path: &str, depth: usize) -> Result<(), KdbError> {
        let children = match self.src.children(id) {
            Ok(c) => c,
            Err(e) => {
                self.fail(format!("{path}: {e}"));
                return Ok(());
            }
        };
        for c in children
            .iter()
            .filter(|c| c.kind == T_MESSAGE && c.flags & F_DELETED == 0)
        {
            let fai = c.flags & F_ASSOCIATED != 0;
            let kind = if fai { "associated message" } else { "message" };
            let mp = format!("{path}/{kind} {}", c.id);
            let mut problems = Vec::new();
            match self.message(c.id, &mp, 0, &mut problems) {
                Ok(m) => {
                    for pr in problems {
                        self.fail(pr);
                    }
                    let message = self.p.to_mt(&m)?;
                    let r = self.p.w.message(&MessageFrame {
                        folder: target,
                        associated: fai,
                        source: mp.clone(),
                        message,
                        mime: None,
                    });
                    match r {
                        // Nothing was written: the message alone is lost, the stream goes on.
                        Err(StreamError::TooLong { .. }) => {
                            self.fail(format!(
                                "{mp}: larger than a stream frame ({MAX_FRAME} bytes), not converted"
                            ));
                            continue;
                        }
                        r => r?,
                    }
                    if fai {
                        self.stats.associated += 1;
                    } else {
                        self.stats.messages += 1;
                    }
                }
                Err(e) => self.fail(format!("{mp}: {e}")),
            }
        }
        let subs: Vec<Node> = children
            .iter()
            .filter(|c| c.kind == T_FOLDER && c.flags & F_DELETED == 0 && c.flags & F_SEARCH == 0)
            .copied()
            .collect();
        if depth >= MAX_DEPTH && !subs.is_empty() {
            self.fail(format!("{path}: folders nested too deeply, subfolders skipped"));
            return Ok(());
        }
        for c in subs {
            let (props, _) = match self.decode(c.id, &format!("{path}/folder {}", c.id)) {
                Ok(x) => x,
                Err(e) => {
                    self.fail(format!("{path}/folder {}: {e}", c.id));
                    continue;
                }
            };
            let name = prop_str(&props, PR_DISPLAY_NAME).unwrap_or_else(|| format!("Folder {}", c.id));
            let sub = format!("{path}/{name}");
            if self.opts.tree {
                let _ = writeln!(self.errs, "{}{name} (folder {})", "  ".repeat(depth + 1), c.id);
            }
            self.p.w.folder(&FolderFrame {
                id: u64::from(c.id),
                parent: target,
                name,
                container_class: prop_str(&props, PR_CONTAINER_CLASS),
            })?;
            self.stats.folders += 1;
            self.folder(c.id, u64::from(c.id), &sub, depth + 1)?;
        }
        Ok(())
    }
}

/// The IPM subtree of the store whose store object is `store`: the folder the store's
/// `PR_IPM_SUBTREE_ENTRYID` names (through `indexedproperties`), else the root folder's child
/// named `IPM_SUBTREE`.
pub fn ipm_subtree<S: Source>(src: &mut S, store: u32) -> Result<u32, String> {
    let names = HashMap::new();
    let (props, _, _) = decode_props(&src.props(store)?, &names);
    let eid = props.iter().find_map(|t| match (&t.val, t.tag.id()) {
        // PR_IPM_SUBTREE_ENTRYID, PR_IPM_PUBLIC_FOLDERS_ENTRYID (Kopano public stores)
        (PropVal::Binary(b), 0x35E0 | 0x6631) => Some(b.clone()),
        _ => None,
    });
    if let Some(eid) = eid {
        if let Some(id) = src.by_entryid(&eid)? {
            return Ok(id);
        }
    }
    let roots: Vec<Node> = src
        .children(store)?
        .into_iter()
        .filter(|c| c.kind == T_FOLDER)
        .collect();
    for r in &roots {
        for c in src.children(r.id)?.into_iter().filter(|c| c.kind == T_FOLDER) {
            let (p, _, _) = decode_props(&src.props(c.id)?, &names);
            if prop_str(&p, PR_DISPLAY_NAME).is_some_and(|n| n == "IPM_SUBTREE") {
                return Ok(c.id);
            }
        }
    }
    Err(format!("store object {store}: no IPM_SUBTREE folder"))
}

/// Converts the store `store` of `src` into frames on `p`. Without `opts.splice` everything
/// goes below one new folder `Import of <label>`; with it the IPM subtree's folders land under
/// the import base, where the importer merges them into the store's folders of the same name.
/// Broken objects are reported on `errs` (one line each, naming the object's path in the
/// source) and counted; the rest is converted.
pub fn kdb_to_stream<S: Source, W: Write>(
    src: &mut S,
    store: &StoreRow,
    p: &mut Producer<W>,
    opts: &KdbOptions,
    errs: &mut dyn Write,
) -> Result<KdbStats, KdbError> {
    let names = name_map(&src.names().map_err(KdbError::Source)?);
    let ipm = ipm_subtree(src, store.hierarchy_id).map_err(KdbError::Source)?;
    let label = if store.user_name.is_empty() {
        format!("store {}", store.hierarchy_id)
    } else {
        store.user_name.clone()
    };
    let mut w = Walk {
        src,
        p,
        errs,
        names,
        opts: opts.clone(),
        stats: KdbStats::default(),
    };
    let top = if opts.splice {
        0
    } else {
        // Above any 32-bit hierarchy id.
        let id = 1u64 << 40;
        w.p.w.folder(&FolderFrame {
            id,
            parent: 0,
            name: format!("Import of {label}"),
            container_class: None,
        })?;
        w.stats.folders += 1;
        id
    };
    w.folder(ipm, top, &format!("kdb:{label}:IPM_SUBTREE"), 0)?;
    Ok(w.stats)
}

/// A Kopano database in memory (tests, fuzzing).
#[derive(Debug, Default, Clone)]
pub struct MemSource {
    pub stores: Vec<StoreRow>,
    /// (parent, node)
    pub hierarchy: Vec<(u32, Node)>,
    pub props: Vec<(u32, PropRow)>,
    pub names: Vec<NameRow>,
    /// (hierarchy id, tag, instance id)
    pub instances: Vec<(u32, u16, u32)>,
    /// instance id → bytes (gzip when `gz`)
    pub data: Vec<(u32, bool, Vec<u8>)>,
}

impl Source for MemSource {
    fn stores(&mut self) -> Result<Vec<StoreRow>, String> {
        Ok(self.stores.clone())
    }
    fn children(&mut self, parent: u32) -> Result<Vec<Node>, String> {
        let mut v: Vec<Node> = self
            .hierarchy
            .iter()
            .filter(|(p, _)| *p == parent)
            .map(|(_, n)| *n)
            .collect();
        v.sort_by_key(|n| n.id);
        Ok(v)
    }
    fn props(&mut self, id: u32) -> Result<Vec<PropRow>, String> {
        Ok(self
            .props
            .iter()
            .filter(|(h, _)| *h == id)
            .map(|(_, r)| r.clone())
            .collect())
    }
    fn names(&mut self) -> Result<Vec<NameRow>, String> {
        Ok(self.names.clone())
    }
    fn instance(&mut self, id: u32, tag: u16) -> Result<Option<u32>, String> {
        Ok(self
            .instances
            .iter()
            .find(|(h, t, _)| *h == id && *t == tag)
            .map(|x| x.2))
    }
    fn instance_data(&mut self, inst: u32, _tag: u16) -> Result<Option<Vec<u8>>, String> {
        match self.data.iter().find(|(i, _, _)| *i == inst) {
            Some((_, true, d)) => gunzip(d).map(Some),
            Some((_, false, d)) => Ok(Some(d.clone())),
            None => Ok(None),
        }
    }
    fn by_entryid(&mut self, _eid: &[u8]) -> Result<Option<u32>, String> {
        Ok(None)
    }
}

/// A Kopano database on MySQL/MariaDB plus its attachment directory.
pub struct MysqlSource {
    conn: mysql::Conn,
    attach_dir: Option<PathBuf>,
}

/// Connection parameters (the password comes from the caller, e.g. `SQLPASS`; never logged).
#[derive(Clone, Default)]
pub struct SqlParams {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub pass: Option<String>,
    pub db: String,
}

impl std::fmt::Debug for SqlParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}/{}", self.user, self.host, self.port, self.db)
    }
}

fn cell_u64(v: mysql::Value) -> Option<u64> {
    match v {
        mysql::Value::Int(i) => u64::try_from(i).ok(),
        mysql::Value::UInt(u) => Some(u),
        mysql::Value::Bytes(b) => std::str::from_utf8(&b).ok()?.trim().parse().ok(),
        mysql::Value::Double(d) => Some(d as u64),
        mysql::Value::Float(d) => Some(d as u64),
        _ => None,
    }
}
fn cell_i64(v: mysql::Value) -> Option<i64> {
    match v {
        mysql::Value::Int(i) => Some(i),
        mysql::Value::UInt(u) => Some(u as i64),
        mysql::Value::Bytes(b) => std::str::from_utf8(&b).ok()?.trim().parse().ok(),
        _ => None,
    }
}
fn cell_f64(v: mysql::Value) -> Option<f64> {
    match v {
        mysql::Value::Double(d) => Some(d),
        mysql::Value::Float(d) => Some(f64::from(d)),
        mysql::Value::Int(i) => Some(i as f64),
        mysql::Value::UInt(u) => Some(u as f64),
        mysql::Value::Bytes(b) => std::str::from_utf8(&b).ok()?.trim().parse().ok(),
        _ => None,
    }
}
fn cell_bytes(v: mysql::Value) -> Option<Vec<u8>> {
    match v {
        mysql::Value::Bytes(b) => Some(b),
        mysql::Value::NULL => None,
        other => Some(other.as_sql(true).into_bytes()),
    }
}

/// The columns of a result row, in order (a missing column reads as NULL).
fn cols(mut row: mysql::Row) -> Vec<mysql::Value> {
    (0..row.len())
        .map(|i| row.take::<mysql::Value, _>(i).unwrap_or(mysql::Value::NULL))
        .collect()
}

fn col(v: &mut [mysql::Value], i: usize) -> mysql::Value {
    v.get_mut(i)
        .map(|x| std::mem::replace(x, mysql::Value::NULL))
        .unwrap_or(mysql::Value::NULL)
}

impl MysqlSource {
    /// Connects to the database and remembers the attachment directory.
    pub fn connect(p: &SqlParams, attach_dir: Option<PathBuf>) -> Result<MysqlSource, String> {
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(p.host.clone()))
            .tcp_port(p.port)
            .user(Some(p.user.clone()))
            .pass(p.pass.clone())
            .db_name(Some(p.db.clone()))
            .prefer_socket(false);
        let conn = mysql::Conn::new(opts).map_err(|e| format!("{p:?}: {e}"))?;
        Ok(MysqlSource { conn, attach_dir })
    }

    fn query(&mut self, sql: &str, params: Vec<mysql::Value>) -> Result<Vec<Vec<mysql::Value>>, String> {
        use mysql::prelude::Queryable;
        let params = if params.is_empty() {
            mysql::Params::Empty
        } else {
            mysql::Params::Positional(params)
        };
        let rows: Vec<mysql::Row> = self.conn.exec(sql, params).map_err(|e| format!("SQL: {e}"))?;
        Ok(rows.into_iter().map(cols).collect())
    }
}

fn prop_row(mut c: Vec<mysql::Value>, mv: bool) -> Option<PropRow> {
    let (tag, ty) = (cell_u64(col(&mut c, 0))?, cell_u64(col(&mut c, 1))?);
    let orderid = if mv { cell_u64(col(&mut c, 9)).unwrap_or(0) } else { 0 };
    Some(PropRow {
        tag: u16::try_from(tag).ok()?,
        ty: u16::try_from(ty).ok()?,
        orderid: u16::try_from(orderid).unwrap_or(u16::MAX),
        ulong: cell_u64(col(&mut c, 2)),
        string: cell_bytes(col(&mut c, 3)),
        binary: cell_bytes(col(&mut c, 4)),
        double: cell_f64(col(&mut c, 5)),
        longint: cell_i64(col(&mut c, 6)),
        hi: cell_i64(col(&mut c, 7)),
        lo: cell_u64(col(&mut c, 8)),
    })
}

impl Source for MysqlSource {
    fn stores(&mut self) -> Result<Vec<StoreRow>, String> {
        let rows = self.query(
            "SELECT hierarchy_id, user_id, type, user_name, guid FROM stores ORDER BY hierarchy_id",
            vec![],
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|mut c| {
                Some(StoreRow {
                    hierarchy_id: u32::try_from(cell_u64(col(&mut c, 0))?).ok()?,
                    user_id: u32::try_from(cell_u64(col(&mut c, 1))?).unwrap_or(0),
                    kind: u32::try_from(cell_u64(col(&mut c, 2))?).unwrap_or(0),
                    user_name: utf8(&cell_bytes(col(&mut c, 3)).unwrap_or_default()),
                    guid: cell_bytes(col(&mut c, 4)).unwrap_or_default(),
                })
            })
            .collect())
    }
    fn children(&mut self, parent: u32) -> Result<Vec<Node>, String> {
        let rows = self.query(
            "SELECT id, type, flags FROM hierarchy WHERE parent = ? ORDER BY id",
            vec![parent.into()],
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|mut c| {
                Some(Node {
                    id: u32::try_from(cell_u64(col(&mut c, 0))?).ok()?,
                    kind: u8::try_from(cell_u64(col(&mut c, 1))?).ok()?,
                    flags: u32::try_from(cell_u64(col(&mut c, 2)).unwrap_or(0)).unwrap_or(0),
                })
            })
            .collect())
    }
    fn props(&mut self, id: u32) -> Result<Vec<PropRow>, String> {
        let mut out: Vec<PropRow> = self
            .query(
                "SELECT tag, type, val_ulong, val_string, val_binary, val_double, val_longint, val_hi, val_lo \
                 FROM properties WHERE hierarchyid = ?",
                vec![id.into()],
            )?
            .into_iter()
            .filter_map(|c| prop_row(c, false))
            .collect();
        out.extend(
            self.query(
                "SELECT tag, type, val_ulong, val_string, val_binary, val_double, val_longint, val_hi, val_lo, orderid \
                 FROM mvproperties WHERE hierarchyid = ? ORDER BY tag, type, orderid",
                vec![id.into()],
            )?
            .into_iter()
            .filter_map(|c| prop_row(c, true)),
        );
        Ok(out)
    }
    fn names(&mut self) -> Result<Vec<NameRow>, String> {
        let rows = self.query("SELECT id, nameid, namestring, guid FROM names", vec![])?;
        Ok(rows
            .into_iter()
            .filter_map(|mut c| {
                Some(NameRow {
                    id: u32::try_from(cell_u64(col(&mut c, 0))?).ok()?,
                    lid: cell_i64(col(&mut c, 1)),
                    name: cell_bytes(col(&mut c, 2)),
                    guid: cell_bytes(col(&mut c, 3))?,
                })
            })
            .collect())
    }
    fn instance(&mut self, id: u32, tag: u16) -> Result<Option<u32>, String> {
        let rows = self.query(
            "SELECT instanceid FROM singleinstances WHERE hierarchyid = ? AND tag = ?",
            vec![id.into(), tag.into()],
        )?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|mut c| cell_u64(col(&mut c, 0)))
            .and_then(|v| u32::try_from(v).ok()))
    }
    fn instance_data(&mut self, inst: u32, tag: u16) -> Result<Option<Vec<u8>>, String> {
        if let Some(dir) = &self.attach_dir {
            if let Some(d) = read_attach_file(dir, inst)? {
                return Ok(Some(d));
            }
        }
        // Attachments kept in the database: chunks of `lob` in chunk order.
        let rows = self.query(
            "SELECT val_binary FROM lob WHERE instanceid = ? AND tag = ? ORDER BY chunkid",
            vec![inst.into(), tag.into()],
        )?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for mut c in rows {
            out.extend(cell_bytes(col(&mut c, 0)).unwrap_or_default());
            if out.len() > MAX_FRAME as usize {
                return Err(format!("lob: more than {MAX_FRAME} bytes"));
            }
        }
        Ok(Some(out))
    }
    fn by_entryid(&mut self, eid: &[u8]) -> Result<Option<u32>, String> {
        // Older databases may lack the table; then the name fallback decides.
        let rows = match self.query(
            "SELECT hierarchyid FROM indexedproperties WHERE tag = 4095 AND val_binary = ?",
            vec![eid.to_vec().into()],
        ) {
            Ok(r) => r,
            Err(_) => return Ok(None),
        };
        Ok(rows
            .into_iter()
            .next()
            .and_then(|mut c| cell_u64(col(&mut c, 0)))
            .and_then(|v| u32::try_from(v).ok()))
    }
}

/// Fuzz entry: the bytes describe a small Kopano database (objects, property rows with all
/// value columns, names, gzip'd attachment data), which is walked like a real one; never
/// panics.
pub fn fuzz(data: &[u8]) {
    let mut src = mem_from_bytes(data);
    if src.stores.is_empty() {
        return;
    }
    let store = src.stores[0].clone();
    if let Ok(mut p) = Producer::new(std::io::sink()) {
        let opts = KdbOptions {
            splice: data.first().is_some_and(|b| b & 1 == 1),
            ..Default::default()
        };
        let _ = kdb_to_stream(&mut src, &store, &mut p, &opts, &mut std::io::sink());
    }
}

/// The fuzzer's byte format: a sequence of records, each a kind byte then fields
/// (u32 little-endian, u16, byte strings as u16 length + bytes):
/// `H parent id type flags`, `P id tag type orderid ulong(u64) string binary double(u64 bits)
/// longint(u64) hi(u32) lo(u32)`, `N id guid(bytes) lid(u32) name(bytes, empty = none)`,
/// `I id tag inst`, `D inst gz(u8) bytes`. A store object 1 is always there.
pub fn mem_from_bytes(data: &[u8]) -> MemSource {
    struct C<'a>(&'a [u8]);
    impl C<'_> {
        fn take(&mut self, n: usize) -> Option<&[u8]> {
            if self.0.len() < n {
                return None;
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Some(a)
        }
        fn u8(&mut self) -> Option<u8> {
            self.take(1).map(|b| b[0])
        }
        fn u16(&mut self) -> Option<u16> {
            self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
        }
        fn u32(&mut self) -> Option<u32> {
            self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        fn u64(&mut self) -> Option<u64> {
            let b = self.take(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Some(u64::from_le_bytes(a))
        }
        fn bytes(&mut self) -> Option<Vec<u8>> {
            let n = self.u16()? as usize;
            self.take(n).map(<[u8]>::to_vec)
        }
    }
    let mut m = MemSource {
        stores: vec![StoreRow {
            hierarchy_id: 1,
            user_id: 1,
            kind: 0,
            user_name: "fuzz".into(),
            guid: vec![0; 16],
        }],
        ..Default::default()
    };
    let mut c = C(data.get(1..).unwrap_or_default());
    let mut go = || -> Option<()> {
        loop {
            match c.u8()? {
                b'H' => {
                    let parent = c.u32()?;
                    let n = Node {
                        id: c.u32()?,
                        kind: c.u8()?,
                        flags: c.u32()?,
                    };
                    // A cycle would never end; the walk relies on a tree like Kopano's.
                    if n.id > parent {
                        m.hierarchy.push((parent, n));
                    }
                }
                b'P' => {
                    let id = c.u32()?;
                    let r = PropRow {
                        tag: c.u16()?,
                        ty: c.u16()?,
                        orderid: c.u16()?,
                        ulong: Some(c.u64()?),
                        string: Some(c.bytes()?),
                        binary: Some(c.bytes()?),
                        double: Some(f64::from_bits(c.u64()?)),
                        longint: Some(c.u64()? as i64),
                        hi: Some(i64::from(c.u32()? as i32)),
                        lo: Some(u64::from(c.u32()?)),
                    };
                    m.props.push((id, r));
                }
                b'N' => {
                    let id = c.u32()?;
                    let guid = c.bytes()?;
                    let lid = c.u32()?;
                    let name = c.bytes()?;
                    m.names.push(NameRow {
                        id,
                        guid,
                        lid: Some(i64::from(lid)),
                        name: (!name.is_empty()).then_some(name),
                    });
                }
                b'I' => {
                    let (id, tag, inst) = (c.u32()?, c.u16()?, c.u32()?);
                    m.instances.push((id, tag, inst));
                }
                b'D' => {
                    let (inst, gz) = (c.u32()?, c.u8()? & 1 == 1);
                    let d = c.bytes()?;
                    m.data.push((inst, gz, d));
                }
                _ => return None,
            }
        }
    };
    let _ = go();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tag: u16, ty: u16) -> PropRow {
        PropRow {
            tag,
            ty,
            ..Default::default()
        }
    }

    #[test]
    fn values_decode_by_type() {
        let mut names = HashMap::new();
        names.insert(1, PropName::name(gromox_mapi::named::PS_PUBLIC_STRINGS, "Keywords"));
        let rows = vec![
            PropRow {
                string: Some("Grüße".as_bytes().to_vec()),
                ..row(0x0037, 0x1E)
            },
            PropRow {
                ulong: Some(0xFFFF_FFFF),
                ..row(0x0E07, 3)
            },
            PropRow {
                hi: Some(0x01D9_0000),
                lo: Some(0x8000_0001),
                ..row(0x0E06, 0x40)
            },
            PropRow {
                string: Some(b"b".to_vec()),
                orderid: 1,
                ..row(0x8501, 0x101E)
            },
            PropRow {
                string: Some(b"a".to_vec()),
                orderid: 0,
                ..row(0x8501, 0x101E)
            },
            // Unknown named id, Kopano-internal property, value column missing.
            PropRow {
                ulong: Some(1),
                ..row(0x8599, 3)
            },
            PropRow {
                ulong: Some(1),
                ..row(0x6701, 3)
            },
            row(0x1000, 0x1E),
        ];
        let (plain, named, dropped) = decode_props(&rows, &names);
        assert_eq!(plain.len(), 3, "{plain:?}");
        assert_eq!(plain[0].val, PropVal::Unicode("Grüße".into()));
        assert_eq!(plain[1].val, PropVal::I4(-1));
        assert_eq!(plain[2].val, PropVal::SysTime(0x01D9_0000_8000_0001));
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].1, PropVal::MvUnicode(vec!["a".into(), "b".into()]));
        assert_eq!(dropped, 2);
    }

    #[test]
    fn gzip_bomb_is_refused() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..65 {
            enc.write_all(&zeros).unwrap();
        }
        let gz = enc.finish().unwrap();
        assert!(gunzip(&gz).unwrap_err().contains("more than"));
        assert!(gunzip(b"not gzip").is_err());
    }
}
