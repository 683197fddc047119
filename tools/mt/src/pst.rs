//! PST/OST files (MS-PST) → stream frames, read with Microsoft's `outlook-pst` crate (NDB
//! layer: header, BBT/NBT, blocks incl. `NDB_CRYPT_PERMUTE`/cyclic decoding, XBLOCKs and
//! subnodes; LTP layer: heap-on-node, BTH, property and table contexts; Unicode and ANSI files).
//!
//! The folder tree under the IPM subtree becomes folder frames (display name and
//! `PR_CONTAINER_CLASS` kept); each folder's contents table (MS-PST §2.4.4.5) gives the normal
//! messages and its associated contents table (§2.4.4.6) the FAI messages. Every message is read
//! with its property context, recipient table (§2.4.5.2) and attachment table (§2.4.6.1);
//! attachments keep their data (`PR_ATTACH_DATA_BIN`) or embedded message. Named properties
//! (ids ≥ 0x8000) are resolved through the name-to-id map (§2.4.7) and go out as the stream's
//! named-property frames. Messages are written one at a time (memory bounded by one message).
//!
//! Attachments holding an embedded message (`PidTagAttachMethod` 5) are read by hand
//! ([`crate::pstraw`]): `outlook-pst` 1.2 refuses them when the embedded message is a subnode of
//! the attachment object (as MS-PST §2.4.6.2 has it; it looks among the message's subnodes and
//! fails with `Missing PidTagAttachMethod`), and even where it reads one it hands the message
//! out as a trait object whose attachments cannot be opened (its node reading is
//! crate-private). The hand reader gets the embedded message with its recipients, attachments
//! and further embedded messages. The crate can panic on some malformed structures; each folder/message read is therefore run
//! under `catch_unwind` and a panic is reported like any other broken object.

use crate::produce::Producer;
use crate::stream::{FolderFrame, MessageFrame, StreamError};
use gromox_convert::mapi::{MapiAttachment, MapiMessage};
use gromox_mapi::named::{PropName, PS_MAPI, PS_PUBLIC_STRINGS};
use gromox_mapi::{Guid, PropTag, PropVal, TaggedVal};
use outlook_pst::ltp::prop_context::PropertyValue;
use outlook_pst::ltp::table_context::TableContext;
use outlook_pst::messaging::attachment::{AnsiAttachment, Attachment, AttachmentData, UnicodeAttachment};
use outlook_pst::messaging::message::{AnsiMessage, Message, UnicodeMessage};
use outlook_pst::messaging::store::{AnsiStore, EntryId, Store, UnicodeStore};
use outlook_pst::ndb::node_id::NodeId;
use outlook_pst::{AnsiPstFile, UnicodePstFile};
use std::collections::HashMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::rc::Rc;

/// Deepest folder nesting followed.
const MAX_DEPTH: usize = 64;
const PR_DISPLAY_NAME: u16 = 0x3001;
const PR_CONTAINER_CLASS: u16 = 0x3613;
const PR_ATTACH_DATA_BIN: u16 = 0x3701;

/// Errors of the PST reader.
#[derive(Debug, thiserror::Error)]
pub enum PstError {
    /// The file cannot be opened as a PST at all (header, root B-trees, message store).
    #[error("{path}: not a readable PST/OST file: {msg}")]
    Open { path: String, msg: String },
    /// Writing the stream failed.
    #[error("stream: {0}")]
    Stream(#[from] StreamError),
}

/// Counts of one PST conversion.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PstStats {
    pub folders: u64,
    pub messages: u64,
    pub associated: u64,
    /// Objects (folders, messages, attachments) that could not be read.
    pub failed: u64,
}

enum PstStore {
    U(Rc<UnicodeStore>),
    A(Rc<AnsiStore>),
}

enum PstMsg {
    U(Rc<UnicodeMessage>),
    A(Rc<AnsiMessage>),
}

impl PstStore {
    fn open(path: &Path) -> Result<PstStore, PstError> {
        let err = |msg: String| PstError::Open {
            path: path.display().to_string(),
            msg,
        };
        let r = catch_unwind(|| -> Result<PstStore, String> {
            match UnicodePstFile::open(path) {
                Ok(f) => UnicodeStore::read(Rc::new(f))
                    .map(PstStore::U)
                    .map_err(|e| format!("message store: {e}")),
                Err(ue) => match AnsiPstFile::open(path) {
                    Ok(f) => AnsiStore::read(Rc::new(f))
                        .map(PstStore::A)
                        .map_err(|e| format!("message store: {e}")),
                    Err(ae) => Err(format!("as Unicode PST: {ue}; as ANSI PST: {ae}")),
                },
            }
        });
        match r {
            Ok(x) => x.map_err(err),
            Err(_) => Err(err("internal reader failure (malformed structure)".into())),
        }
    }

    fn store(&self) -> Rc<dyn Store> {
        match self {
            PstStore::U(s) => s.clone(),
            PstStore::A(s) => s.clone(),
        }
    }

    fn message(&self, eid: &EntryId) -> std::io::Result<PstMsg> {
        Ok(match self {
            PstStore::U(s) => PstMsg::U(UnicodeMessage::read(s.clone(), eid, None)?),
            PstStore::A(s) => PstMsg::A(AnsiMessage::read(s.clone(), eid, None)?),
        })
    }
}

impl PstMsg {
    fn m(&self) -> &dyn Message {
        match self {
            PstMsg::U(m) => m.as_ref(),
            PstMsg::A(m) => m.as_ref(),
        }
    }

    fn attachment(&self, nid: NodeId) -> std::io::Result<Rc<dyn Attachment>> {
        Ok(match self {
            PstMsg::U(m) => UnicodeAttachment::read(m.clone(), nid, None)?,
            PstMsg::A(m) => AnsiAttachment::read(m.clone(), nid, None)?,
        })
    }
}

/// The name-to-id map (MS-PST §2.4.7): property id 0x8000 + wPropIdx → name.
fn name_map(store: &dyn Store) -> HashMap<u16, PropName> {
    let mut out = HashMap::new();
    let Ok(map) = store.named_property_map() else {
        return out;
    };
    let p = map.properties();
    let bin = |id: u16| match p.get(id) {
        Some(PropertyValue::Binary(b)) => b.buffer().to_vec(),
        _ => Vec::new(),
    };
    let (guids, entries, strings) = (bin(0x0002), bin(0x0003), bin(0x0004));
    for e in entries.chunks_exact(8) {
        let id = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
        let guid_kind = u16::from_le_bytes([e[4], e[5]]);
        let idx = u16::from_le_bytes([e[6], e[7]]);
        let guid = match guid_kind >> 1 {
            1 => Some(PS_MAPI),
            2 => Some(PS_PUBLIC_STRINGS),
            n if n >= 3 => {
                let i = usize::from(n - 3) * 16;
                guids.get(i..i + 16).and_then(|g| Guid::from_slice(g).ok())
            }
            _ => None,
        };
        let Some(g) = guid else { continue };
        let name = if guid_kind & 1 == 1 {
            let off = id as usize;
            let Some(len) = strings
                .get(off..off.saturating_add(4))
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            else {
                continue;
            };
            let Some(raw) = strings.get(off + 4..(off + 4).saturating_add(len)) else {
                continue;
            };
            let units: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            PropName::name(g, String::from_utf16_lossy(&units).trim_end_matches('\0'))
        } else {
            PropName::lid(g, id)
        };
        if let Some(pid) = idx.checked_add(0x8000) {
            out.insert(pid, name);
        }
    }
    out
}

fn guid(g: &outlook_pst::ltp::prop_context::GuidValue) -> Guid {
    let mut b = [0u8; 16];
    b[0..4].copy_from_slice(&g.data1().to_le_bytes());
    b[4..6].copy_from_slice(&g.data2().to_le_bytes());
    b[6..8].copy_from_slice(&g.data3().to_le_bytes());
    b[8..16].copy_from_slice(g.data4());
    Guid(b)
}

/// A PST property value as a store value (8-bit strings become Unicode, as in .msg import).
fn value(v: &PropertyValue) -> Option<PropVal> {
    use PropertyValue as P;
    Some(match v {
        P::Integer16(x) => PropVal::I2(*x),
        P::Integer32(x) => PropVal::I4(*x),
        P::Floating32(x) => PropVal::R4(*x),
        P::Floating64(x) => PropVal::R8(*x),
        P::Currency(x) => PropVal::Currency(*x),
        P::FloatingTime(x) => PropVal::AppTime(*x),
        P::ErrorCode(x) => PropVal::Error(*x as u32),
        P::Boolean(x) => PropVal::Boolean(*x),
        P::Integer64(x) => PropVal::I8(*x),
        P::String8(s) => PropVal::Unicode(s.to_string()),
        P::Unicode(s) => PropVal::Unicode(s.to_string()),
        P::Time(t) => PropVal::SysTime(*t as u64),
        P::Guid(g) => PropVal::Clsid(guid(g)),
        P::Binary(b) => PropVal::Binary(b.buffer().to_vec()),
        P::MultipleInteger16(v) => PropVal::MvI2(v.clone()),
        P::MultipleInteger32(v) => PropVal::MvI4(v.clone()),
        P::MultipleFloating32(v) => PropVal::MvR4(v.clone()),
        P::MultipleFloating64(v) => PropVal::MvR8(v.clone()),
        P::MultipleCurrency(v) => PropVal::MvCurrency(v.clone()),
        P::MultipleFloatingTime(v) => PropVal::MvAppTime(v.clone()),
        P::MultipleInteger64(v) => PropVal::MvI8(v.clone()),
        P::MultipleString8(v) => PropVal::MvUnicode(v.iter().map(|s| s.to_string()).collect()),
        P::MultipleUnicode(v) => PropVal::MvUnicode(v.iter().map(|s| s.to_string()).collect()),
        P::MultipleTime(v) => PropVal::MvSysTime(v.iter().map(|t| *t as u64).collect()),
        P::MultipleGuid(v) => PropVal::MvClsid(v.iter().map(guid).collect()),
        P::MultipleBinary(v) => PropVal::MvBinary(v.iter().map(|b| b.buffer().to_vec()).collect()),
        // Null placeholders and object references (subnodes read separately) carry no value.
        P::Null | P::Object(_) => return None,
    })
}

/// Sorts `(id, value)` pairs into plain and named properties.
fn props<'a>(
    it: impl Iterator<Item = (&'a u16, &'a PropertyValue)>,
    names: &HashMap<u16, PropName>,
    plain: &mut Vec<TaggedVal>,
    named: &mut Vec<(PropName, PropVal)>,
) {
    for (id, v) in it {
        let Some(mut val) = value(v) else { continue };
        // PR_SUBJECT in a PST may start with U+0001 and a character giving the length of the
        // subject prefix (MS-PST §2.5.3.1.1.1? "Subject" encoding); the marker is not text.
        if *id == 0x0037 {
            if let PropVal::Unicode(s) = &mut val {
                if s.starts_with('\u{1}') {
                    *s = s.chars().skip(2).collect();
                }
            }
        }
        if *id >= 0x8000 {
            if let Some(n) = names.get(id) {
                named.push((n.clone(), val));
            }
        } else {
            plain.push(TaggedVal::new(PropTag::new(*id, val.ptype()), val));
        }
    }
}

type Rows = Vec<(u32, Vec<(u16, PropertyValue)>)>;

/// Every row of a table context as `(row id, properties)`.
fn table_rows(t: &dyn TableContext) -> std::io::Result<Rows> {
    let ctx = t.context();
    let mut out = Vec::new();
    for row in t.rows_matrix() {
        let mut vals = Vec::new();
        for (col, v) in ctx.columns().iter().zip(row.columns(ctx)?) {
            // A cell the reader cannot resolve (e.g. an empty variable-size value, HID 0)
            // is left out rather than failing the row.
            if let Some(Ok(v)) = v.map(|v| t.read_column(&v, col.prop_type())) {
                vals.push((col.prop_id(), v));
            }
        }
        out.push((u32::from(row.id()), vals));
    }
    Ok(out)
}

fn recipients(m: &dyn Message, names: &HashMap<u16, PropName>) -> std::io::Result<Vec<Vec<TaggedVal>>> {
    let mut out = Vec::new();
    if let Some(t) = m.recipient_table() {
        for (_, row) in table_rows(t.as_ref())? {
            let mut plain = Vec::new();
            let mut named = Vec::new();
            props(row.iter().map(|(a, b)| (a, b)), names, &mut plain, &mut named);
            out.push(plain);
        }
    }
    Ok(out)
}

/// Properties and recipients of a message (no attachments).
fn message_body(m: &dyn Message, names: &HashMap<u16, PropName>) -> std::io::Result<MapiMessage> {
    let mut out = MapiMessage::default();
    props(m.properties().iter(), names, &mut out.props, &mut out.named);
    out.recipients = recipients(m, names)?;
    Ok(out)
}

/// An attachment, plus a note when part of it could not be read.
fn attachment(a: &dyn Attachment, names: &HashMap<u16, PropName>) -> std::io::Result<(MapiAttachment, Option<String>)> {
    let mut out = MapiAttachment::default();
    let mut note = None;
    props(a.properties().iter(), names, &mut out.props, &mut out.named);
    match a.data() {
        Some(AttachmentData::Binary(b)) if !out.props.iter().any(|t| t.tag.id() == PR_ATTACH_DATA_BIN) => {
            out.props.push(TaggedVal::new(
                PropTag::new(PR_ATTACH_DATA_BIN, gromox_mapi::PropType::Binary),
                PropVal::Binary(b.buffer().to_vec()),
            ));
        }
        Some(AttachmentData::Message(m)) => {
            let inner = m.attachment_table().map_or(0, |t| t.rows_matrix().count());
            if inner > 0 {
                // Not dropped silently: the message is reported (see the module docs).
                note = Some(format!(
                    "embedded message imported without its {inner} attachment(s) (not readable with outlook-pst 1.2)"
                ));
            }
            out.embedded = Some(Box::new(message_body(m.as_ref(), names)?));
        }
        _ => {}
    }
    Ok((out, note))
}

/// Hand-read properties (see [`crate::pstraw`]) into plain and named ones; object
/// references and the table-row bookkeeping columns are not values.
fn raw_props(
    p: crate::pstraw::Props,
    names: &HashMap<u16, PropName>,
    plain: &mut Vec<TaggedVal>,
    named: &mut Vec<(PropName, PropVal)>,
) {
    for (id, _, mut val) in p {
        if matches!(val, PropVal::Object(_)) || (0x67F0..=0x67FF).contains(&id) {
            continue;
        }
        if id == 0x0037 {
            if let PropVal::Unicode(s) = &mut val {
                if s.starts_with('\u{1}') {
                    *s = s.chars().skip(2).collect();
                }
            }
        }
        if id >= 0x8000 {
            if let Some(n) = names.get(&id) {
                named.push((n.clone(), val));
            }
        } else {
            plain.push(TaggedVal::new(PropTag::new(id, val.ptype()), val));
        }
    }
}

fn raw_message(
    m: crate::pstraw::RawMessage,
    names: &HashMap<u16, PropName>,
    problems: &mut Vec<String>,
) -> MapiMessage {
    let mut out = MapiMessage::default();
    raw_props(m.props, names, &mut out.props, &mut out.named);
    for r in m.recipients {
        let mut plain = Vec::new();
        raw_props(r, names, &mut plain, &mut Vec::new());
        out.recipients.push(plain);
    }
    for a in m.attachments {
        out.attachments.push(raw_attachment(a, names, problems));
    }
    out
}

fn raw_attachment(
    a: crate::pstraw::RawAttachment,
    names: &HashMap<u16, PropName>,
    problems: &mut Vec<String>,
) -> MapiAttachment {
    let mut out = MapiAttachment::default();
    raw_props(a.props, names, &mut out.props, &mut out.named);
    out.embedded = a.embedded.map(|m| Box::new(raw_message(*m, names, problems)));
    problems.extend(a.problems);
    out
}

/// The hand reader of one PST file, opened on first use.
struct RawSlot {
    path: std::path::PathBuf,
    raw: Option<Result<crate::pstraw::Raw, String>>,
}

impl RawSlot {
    /// Attachment `att` of top-level message `msg`, read by hand.
    fn attachment(&mut self, msg: u32, att: u32) -> Result<crate::pstraw::RawAttachment, String> {
        let path = self.path.clone();
        match self.raw.get_or_insert_with(|| crate::pstraw::Raw::open(&path)) {
            Ok(r) => r.attachment_of(msg, att),
            Err(e) => Err(e.clone()),
        }
    }
}

/// A whole message: properties, recipients, attachments. Per-attachment failures are
/// returned as messages next to the (partial) message. Attachments holding an embedded
/// message (`PidTagAttachMethod` 5 in the attachment table) are read by hand, embedded
/// message, its attachments and further embedded messages included (`pstraw`).
fn read_message(
    store: &PstStore,
    eid: &EntryId,
    names: &HashMap<u16, PropName>,
    raw: &mut RawSlot,
) -> std::io::Result<(MapiMessage, Vec<String>)> {
    let msg = store.message(eid)?;
    let mut out = message_body(msg.m(), names)?;
    let mut problems = Vec::new();
    if let Some(t) = msg.m().attachment_table() {
        for (id, row) in table_rows(t.as_ref())? {
            let embedded = row
                .iter()
                .any(|(p, v)| *p == 0x3705 && matches!(v, PropertyValue::Integer32(5)));
            if embedded {
                match raw.attachment(u32::from(eid.node_id()), id) {
                    Ok(a) => {
                        out.attachments.push(raw_attachment(a, names, &mut problems));
                        continue;
                    }
                    Err(e) => problems.push(format!("attachment {id:#x}: embedded message not read: {e}")),
                }
            }
            match msg
                .attachment(NodeId::from(id))
                .and_then(|a| attachment(a.as_ref(), names))
            {
                Ok((a, note)) => {
                    if let Some(n) = note {
                        problems.push(format!("attachment {id:#x}: {n}"));
                    }
                    out.attachments.push(a);
                }
                // outlook-pst 1.2 refuses attachment objects without PidTagAttachMethod; the
                // attachment-table row (MS-PST §2.4.6.1) still describes the attachment.
                Err(e) if e.to_string().contains("PidTagAttachMethod") && !row.is_empty() => {
                    let mut a = MapiAttachment::default();
                    props(row.iter().map(|(a, b)| (a, b)), names, &mut a.props, &mut a.named);
                    out.attachments.push(a);
                }
                Err(e) => problems.push(format!("attachment {id:#x}: {e}")),
            }
        }
    }
    Ok((out, problems))
}

fn guarded<T>(f: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(std::io::Error::other(format!(
            "data missing past the end of the file (truncated?): {e}"
        ))),
        Ok(r) => r,
        Err(_) => Err(std::io::Error::other("malformed structure (reader failure)")),
    }
}

struct Walk<'a, W: Write> {
    src: String,
    store: PstStore,
    names: HashMap<u16, PropName>,
    p: &'a mut Producer<W>,
    errs: &'a mut dyn Write,
    stats: PstStats,
    raw: RawSlot,
}

impl<W: Write> Walk<'_, W> {
    fn fail(&mut self, what: String) {
        let _ = writeln!(self.errs, "{}: {what}", self.src);
        self.stats.failed += 1;
    }

    /// Messages of one table (contents or associated) of folder `node` → frames into `target`.
    fn messages(&mut self, rows: std::io::Result<Rows>, node: u32, target: u64, fai: bool) -> Result<(), PstError> {
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                self.fail(format!("folder {node:#x}: contents table: {e}"));
                return Ok(());
            }
        };
        let kind = if fai { "associated message" } else { "message" };
        for (id, row) in rows {
            let sp = self.store.store();
            let r = guarded(|| {
                let eid = sp.properties().make_entry_id(NodeId::from(id))?;
                read_message(&self.store, &eid, &self.names, &mut self.raw)
            });
            // outlook-pst 1.2 refuses messages without a subnode tree (no recipients, no
            // attachments, no large values); such a message is fully described by the
            // properties its contents-table row carries.
            let r = match r {
                Err(e) if e.to_string().contains("Sub-Node Tree") && !row.is_empty() => {
                    let mut m = MapiMessage::default();
                    props(row.iter().map(|(a, b)| (a, b)), &self.names, &mut m.props, &mut m.named);
                    Ok((m, Vec::new()))
                }
                r => r,
            };
            match r {
                Ok((m, problems)) => {
                    for pr in problems {
                        self.fail(format!("{kind} {id:#x}: {pr}"));
                    }
                    let message = self.p.to_mt(&m)?;
                    let r = self.p.w.message(&MessageFrame {
                        folder: target,
                        associated: fai,
                        source: format!("{}:{kind} {id:#x}", self.src),
                        message,
                        mime: None,
                    });
                    match r {
                        // Nothing was written: the message alone is lost, the stream goes on.
                        Err(StreamError::TooLong { .. }) => {
                            self.fail(format!(
                                "folder {node:#x}: {kind} {id:#x}: larger than a stream frame ({} bytes), not converted",
                                crate::stream::MAX_FRAME
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
                Err(e) => self.fail(format!("folder {node:#x}: {kind} {id:#x}: {e}")),
            }
        }
        Ok(())
    }

    /// Folder `node` (already announced as `target`, 0 = base): its messages, then subfolders.
    fn folder(&mut self, node: u32, target: u64, depth: usize) -> Result<(), PstError> {
        let sp = self.store.store();
        let opened = guarded(|| {
            let eid = sp.properties().make_entry_id(NodeId::from(node))?;
            let f = sp.open_folder(&eid)?;
            let ids = |t: Option<&Rc<dyn TableContext>>| -> std::io::Result<Rows> {
                match t {
                    Some(t) => table_rows(t.as_ref()),
                    None => Ok(Vec::new()),
                }
            };
            let contents = guarded(|| ids(f.contents_table()));
            let fai = guarded(|| ids(f.associated_table()));
            let subs = guarded(|| {
                let mut v = Vec::new();
                if let Some(t) = f.hierarchy_table() {
                    for (id, row) in table_rows(t.as_ref())? {
                        let s = |pid: u16| {
                            row.iter().find(|(p, _)| *p == pid).and_then(|(_, v)| match value(v) {
                                Some(PropVal::Unicode(s)) => Some(s),
                                _ => None,
                            })
                        };
                        v.push((id, s(PR_DISPLAY_NAME), s(PR_CONTAINER_CLASS)));
                    }
                }
                Ok(v)
            });
            Ok((contents, fai, subs))
        });
        let (contents, fai, subs) = match opened {
            Ok(x) => x,
            Err(e) => {
                self.fail(format!("folder {node:#x}: {e}"));
                return Ok(());
            }
        };
        self.messages(contents, node, target, false)?;
        self.messages(fai, node, target, true)?;
        let subs = match subs {
            Ok(s) => s,
            Err(e) => {
                self.fail(format!("folder {node:#x}: hierarchy table: {e}"));
                return Ok(());
            }
        };
        if depth >= MAX_DEPTH && !subs.is_empty() {
            self.fail(format!(
                "folder {node:#x}: folders nested too deeply, subfolders skipped"
            ));
            return Ok(());
        }
        for (id, name, class) in subs {
            self.p.w.folder(&FolderFrame {
                id: u64::from(id),
                parent: target,
                name: name.unwrap_or_else(|| format!("Folder {id:#x}")),
                container_class: class,
            })?;
            self.stats.folders += 1;
            self.folder(id, u64::from(id), depth + 1)?;
        }
        Ok(())
    }
}

/// Converts the PST at `path` into frames on `p`. Without `splice`, everything goes below one
/// new folder `Import of <file name>`; with `splice`, the top folders of the PST's IPM subtree
/// land directly under the import base, where the importer merges them into existing folders of
/// the same name (Inbox → Inbox …). Broken objects are reported on `errs` (one line each) and
/// counted; the rest is converted.
pub fn pst_to_stream<W: Write>(
    path: &Path,
    p: &mut Producer<W>,
    splice: bool,
    errs: &mut dyn Write,
) -> Result<PstStats, PstError> {
    let store = PstStore::open(path)?;
    let sp = store.store();
    let ipm = guarded(|| sp.properties().ipm_sub_tree_entry_id()).map_err(|e| PstError::Open {
        path: path.display().to_string(),
        msg: format!("no IPM subtree: {e}"),
    })?;
    let names = guarded(|| Ok(name_map(sp.as_ref()))).unwrap_or_default();
    let mut w = Walk {
        src: path.display().to_string(),
        store,
        names,
        p,
        errs,
        stats: PstStats::default(),
        raw: RawSlot {
            path: path.to_path_buf(),
            raw: None,
        },
    };
    let top = if splice {
        0
    } else {
        // Above any 32-bit node id of the file.
        let id = 1u64 << 40;
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        w.p.w.folder(&FolderFrame {
            id,
            parent: 0,
            name: format!("Import of {file}"),
            container_class: None,
        })?;
        w.stats.folders += 1;
        id
    };
    w.folder(u32::from(ipm.node_id()), top, 0)?;
    Ok(w.stats)
}

/// Fuzz entry: the bytes as a PST file (through a temporary file, as the reader opens paths);
/// never panics.
pub fn fuzz(data: &[u8]) {
    let path = std::env::temp_dir().join(format!("gromox-pst-fuzz-{}.pst", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(mut p) = Producer::new(std::io::sink()) {
        let _ = pst_to_stream(&path, &mut p, true, &mut std::io::sink());
    }
    let _ = std::fs::remove_file(&path);
}
