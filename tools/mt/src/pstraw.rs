//! What `outlook-pst` 1.2 cannot hand out, read by hand from the MS-PST structures: messages
//! below attachment objects (`ATTACH_EMBEDDED_MSG`, MS-PST §2.4.6.2, MS-OXCMSG §2.2.2.9) with
//! their recipients, attachments and further embedded messages. The crate's reading code for
//! nodes and subnodes is crate-private and refuses such attachments (it looks for the embedded
//! message among the *message's* subnodes and reports `Missing PidTagAttachMethod`), so:
//!
//! - NDB (§2.2): the header's B-tree roots, the node and block B-trees (§2.2.2.7.7), subnode
//!   B-trees (SLBLOCK/SIBLOCK, §2.2.2.8.3.3) read here; data blocks are decoded by the crate
//!   (`PstFile::read_block`: permute/cyclic encoding and XBLOCK data trees);
//! - LTP (§2.3): heap-on-node over one or several blocks, BTH (any index depth), property
//!   contexts (§2.3.3) and table contexts (§2.3.4) decoded here from bytes ([`Heap`]), which is
//!   what the fuzz target `pstltp` exercises.
//!
//! Every length, offset and count is checked against the data; depth is bounded.

use gromox_mapi::{Guid, PropVal};
use outlook_pst::{AnsiPstFile, PstFile, UnicodePstFile};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::rc::Rc;

/// Nesting bound for B-trees and embedded messages.
const MAX_LEVELS: usize = 16;
/// The data of one block of a multi-block heap (MS-PST §2.2.2.8.3.1: all but the last data
/// block of a data tree are full).
const BLOCK_DATA: usize = 8176;
pub const NID_RECIPIENT_TABLE: u32 = 0x692;
pub const NID_ATTACHMENT_TABLE: u32 = 0x671;

type R<T> = Result<T, String>;

fn u16_at(d: &[u8], o: usize) -> R<u16> {
    d.get(o..o + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| format!("structure runs past its data (offset {o})"))
}
fn u32_at(d: &[u8], o: usize) -> R<u32> {
    d.get(o..o + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("structure runs past its data (offset {o})"))
}
fn u64_at(d: &[u8], o: usize) -> R<u64> {
    let lo = u32_at(d, o)?;
    let hi = u32_at(d, o + 4)?;
    Ok(u64::from(lo) | (u64::from(hi) << 32))
}

/// A node of a subnode tree: data block and (own) subnode block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubNode {
    pub data: u64,
    pub sub: u64,
}

enum File {
    U(Rc<UnicodePstFile>),
    A(Rc<AnsiPstFile>),
}

/// A PST file opened for the hand-read parts.
pub struct Raw {
    file: File,
    raw: std::fs::File,
    wide: bool,
    nbt: u64,
    bbt: u64,
}

impl Raw {
    /// Opens `path` (Unicode or ANSI).
    pub fn open(path: &std::path::Path) -> R<Raw> {
        let mut raw = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut h = vec![0u8; 564];
        raw.read_exact(&mut h).map_err(|e| format!("header: {e}"))?;
        if &h[0..4] != b"!BDN" {
            return Err("not a PST file".into());
        }
        let ver = u16_at(&h, 10)?;
        let wide = ver >= 23;
        let (nbt, bbt, file) = if wide {
            let f = UnicodePstFile::open(path).map_err(|e| e.to_string())?;
            (u64_at(&h, 224)?, u64_at(&h, 240)?, File::U(Rc::new(f)))
        } else {
            let f = AnsiPstFile::open(path).map_err(|e| e.to_string())?;
            (
                u64::from(u32_at(&h, 188)?),
                u64::from(u32_at(&h, 196)?),
                File::A(Rc::new(f)),
            )
        };
        Ok(Raw {
            file,
            raw,
            wide,
            nbt,
            bbt,
        })
    }

    fn page(&mut self, ib: u64) -> R<Vec<u8>> {
        let mut p = vec![0u8; 512];
        self.raw
            .seek(SeekFrom::Start(ib))
            .and_then(|_| self.raw.read_exact(&mut p))
            .map_err(|e| format!("B-tree page at {ib:#x}: {e}"))?;
        Ok(p)
    }

    /// Searches a B-tree (MS-PST §2.2.2.7.7) rooted at page `ib` for `key`; the leaf entry.
    fn bt_find(&mut self, mut ib: u64, key: u64) -> R<Option<Vec<u8>>> {
        let w = self.wide;
        for _ in 0..MAX_LEVELS {
            let p = self.page(ib)?;
            let (area, meta) = if w { (488, 488) } else { (496, 496) };
            let n = usize::from(p[meta]);
            let cb = usize::from(p[meta + 2]);
            let level = p[meta + 3];
            if cb == 0 || n.saturating_mul(cb) > area {
                return Err(format!("B-tree page at {ib:#x}: bad entry count/size"));
            }
            let keyw = if w { 8 } else { 4 };
            let k = |i: usize| -> R<u64> {
                if w {
                    u64_at(&p, i * cb)
                } else {
                    u32_at(&p, i * cb).map(u64::from)
                }
            };
            if level == 0 {
                for i in 0..n {
                    // The lowest bit of a BID is reserved (MS-PST §2.2.2.2).
                    if k(i)? & !1 == key & !1 {
                        return Ok(Some(p[i * cb..(i + 1) * cb].to_vec()));
                    }
                }
                return Ok(None);
            }
            let mut next = None;
            for i in 0..n {
                if k(i)? <= key {
                    next = Some(i);
                } else {
                    break;
                }
            }
            let Some(i) = next else { return Ok(None) };
            // BTENTRY: btkey, BREF (bid, ib).
            ib = if w {
                u64_at(&p, i * cb + keyw + 8)?
            } else {
                u64::from(u32_at(&p, i * cb + keyw + 4)?)
            };
        }
        Err("B-tree nested too deeply".into())
    }

    /// A top-level node: (data BID, subnode BID).
    pub fn node(&mut self, nid: u32) -> R<SubNode> {
        let e = self
            .bt_find(self.nbt, u64::from(nid))?
            .ok_or_else(|| format!("node {nid:#x} not in the node B-tree"))?;
        Ok(if self.wide {
            SubNode {
                data: u64_at(&e, 8)?,
                sub: u64_at(&e, 16)?,
            }
        } else {
            SubNode {
                data: u64::from(u32_at(&e, 4)?),
                sub: u64::from(u32_at(&e, 8)?),
            }
        })
    }

    /// Every top-level node id of the node B-tree (for checks and tools).
    pub fn all_nodes(&mut self) -> R<Vec<u32>> {
        let mut out = Vec::new();
        self.bt_walk(self.nbt, 0, &mut out)?;
        Ok(out)
    }

    fn bt_walk(&mut self, ib: u64, depth: usize, out: &mut Vec<u32>) -> R<()> {
        if depth > MAX_LEVELS {
            return Err("B-tree nested too deeply".into());
        }
        let p = self.page(ib)?;
        let w = self.wide;
        let meta = if w { 488 } else { 496 };
        let (n, cb, level) = (usize::from(p[meta]), usize::from(p[meta + 2]), p[meta + 3]);
        if cb == 0 || n.saturating_mul(cb) > meta {
            return Err(format!("B-tree page at {ib:#x}: bad entry count/size"));
        }
        for i in 0..n {
            let o = i * cb;
            if level == 0 {
                out.push(u32_at(&p, o)?);
            } else {
                let child = if w {
                    u64_at(&p, o + 16)?
                } else {
                    u64::from(u32_at(&p, o + 8)?)
                };
                self.bt_walk(child, depth + 1, out)?;
            }
        }
        Ok(())
    }

    /// The raw bytes of an internal block (subnode blocks are never encoded).
    fn raw_block(&mut self, bid: u64) -> R<Vec<u8>> {
        let e = self
            .bt_find(self.bbt, bid)?
            .ok_or_else(|| format!("block {bid:#x} not in the block B-tree"))?;
        let (ib, cb) = if self.wide {
            (u64_at(&e, 8)?, u16_at(&e, 16)?)
        } else {
            (u64::from(u32_at(&e, 4)?), u16_at(&e, 8)?)
        };
        let mut d = vec![0u8; usize::from(cb)];
        self.raw
            .seek(SeekFrom::Start(ib))
            .and_then(|_| self.raw.read_exact(&mut d))
            .map_err(|e| format!("block {bid:#x}: {e}"))?;
        Ok(d)
    }

    /// The whole data of a node's data BID (decoded, data trees followed) — by the crate.
    pub fn data(&mut self, bid: u64) -> R<Vec<u8>> {
        let r = match &self.file {
            File::U(f) => f.read_block(outlook_pst::ndb::block_id::UnicodeBlockId::from(bid)),
            File::A(f) => {
                let b = u32::try_from(bid).map_err(|_| format!("block {bid:#x}: not an ANSI BID"))?;
                f.read_block(outlook_pst::ndb::block_id::AnsiBlockId::from(b))
            }
        };
        r.map_err(|e| format!("block {bid:#x}: {e}"))
    }

    /// The entries of a subnode B-tree (SLBLOCK/SIBLOCK) rooted at `bid`; empty for 0.
    pub fn subnodes(&mut self, bid: u64) -> R<BTreeMap<u32, SubNode>> {
        let mut out = BTreeMap::new();
        if bid != 0 {
            self.subnodes_into(bid, 0, &mut out)?;
        }
        Ok(out)
    }

    fn subnodes_into(&mut self, bid: u64, depth: usize, out: &mut BTreeMap<u32, SubNode>) -> R<()> {
        if depth > MAX_LEVELS {
            return Err("subnode tree nested too deeply".into());
        }
        let b = self.raw_block(bid)?;
        let w = self.wide;
        let (hdr, nidw, bidw) = if w { (8, 8, 8) } else { (4, 4, 4) };
        let btype = *b.first().ok_or("empty subnode block")?;
        let level = *b.get(1).ok_or("short subnode block")?;
        let n = usize::from(u16_at(&b, 2)?);
        if btype != 2 {
            return Err(format!("block {bid:#x}: not a subnode block (type {btype})"));
        }
        let rd = |o: usize| -> R<u64> {
            if w {
                u64_at(&b, o)
            } else {
                u32_at(&b, o).map(u64::from)
            }
        };
        if level == 0 {
            let cb = nidw + 2 * bidw;
            for i in 0..n {
                let o = hdr + i * cb;
                out.insert(
                    rd(o)? as u32,
                    SubNode {
                        data: rd(o + nidw)?,
                        sub: rd(o + nidw + bidw)?,
                    },
                );
            }
        } else {
            let cb = nidw + bidw;
            for i in 0..n {
                let child = rd(hdr + i * cb + nidw)?;
                self.subnodes_into(child, depth + 1, out)?;
            }
        }
        Ok(())
    }

    /// A heap-on-node from a node's data BID.
    pub fn heap(&mut self, bid: u64) -> R<Heap> {
        Ok(Heap::new(self.data(bid)?))
    }
}

/// BTH records: (key, data).
type Records<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Properties as read: (property id, type, value).
pub type Props = Vec<(u16, u16, PropVal)>;

/// A message read by hand: properties, recipient rows, attachments.
#[derive(Debug, Default)]
pub struct RawMessage {
    pub props: Props,
    pub recipients: Vec<Props>,
    pub attachments: Vec<RawAttachment>,
}

/// An attachment read by hand, with its embedded message (or why that could not be read).
#[derive(Debug, Default)]
pub struct RawAttachment {
    pub props: Props,
    pub embedded: Option<Box<RawMessage>>,
    pub problems: Vec<String>,
}

impl Raw {
    /// Attachment `att` (a subnode) of the top-level message `msg`.
    pub fn attachment_of(&mut self, msg: u32, att: u32) -> R<RawAttachment> {
        let node = self.node(msg)?;
        let subs = self.subnodes(node.sub)?;
        self.attachment(&subs, att, 0)
    }

    fn pc_of(&mut self, node: SubNode, subs: &BTreeMap<u32, SubNode>) -> R<Props> {
        let heap = self.heap(node.data)?;
        let mut get = |n: u32| -> R<Vec<u8>> {
            let s = subs.get(&n).ok_or_else(|| format!("value subnode {n:#x} missing"))?;
            self.data(s.data)
        };
        heap.pc(&mut get)
    }

    fn tc_of(&mut self, node: SubNode) -> R<Vec<Props>> {
        let subs = self.subnodes(node.sub)?;
        let heap = self.heap(node.data)?;
        let mut get = |n: u32| -> R<Vec<u8>> {
            let s = subs.get(&n).ok_or_else(|| format!("row subnode {n:#x} missing"))?;
            self.data(s.data)
        };
        heap.tc(&mut get)
    }

    /// A message node (data and subnode tree): properties, recipient table, attachments.
    pub fn message(&mut self, node: SubNode, depth: usize) -> R<RawMessage> {
        if depth > MAX_LEVELS {
            return Err("embedded messages nested too deeply".into());
        }
        let subs = self.subnodes(node.sub)?;
        let mut m = RawMessage {
            props: self.pc_of(node, &subs)?,
            ..Default::default()
        };
        if let Some(t) = subs.get(&NID_RECIPIENT_TABLE).copied() {
            m.recipients = self.tc_of(t)?;
        }
        if let Some(t) = subs.get(&NID_ATTACHMENT_TABLE).copied() {
            for row in self.tc_of(t)? {
                let id = row.iter().find_map(|(p, _, v)| match (p, v) {
                    (0x67F2, PropVal::I4(x)) => Some(*x as u32),
                    _ => None,
                });
                let Some(id) = id else { continue };
                match self.attachment(&subs, id, depth) {
                    Ok(a) => m.attachments.push(a),
                    Err(e) => m.attachments.push(RawAttachment {
                        props: row.into_iter().filter(|(p, _, _)| *p < 0x67F0).collect(),
                        embedded: None,
                        problems: vec![format!("attachment {id:#x}: {e}")],
                    }),
                }
            }
        }
        Ok(m)
    }

    /// Attachment subnode `id` of a message whose subnodes are `subs`; an embedded message is
    /// looked for in the attachment's own subnodes (MS-PST §2.4.6.2), then in the message's.
    fn attachment(&mut self, subs: &BTreeMap<u32, SubNode>, id: u32, depth: usize) -> R<RawAttachment> {
        let node = *subs
            .get(&id)
            .ok_or_else(|| format!("attachment subnode {id:#x} missing"))?;
        let own = self.subnodes(node.sub)?;
        let props = self.pc_of(node, &own)?;
        let mut a = RawAttachment::default();
        let method = props.iter().find_map(|(p, _, v)| match (p, v) {
            (0x3705, PropVal::I4(x)) => Some(*x),
            _ => None,
        });
        let obj = props.iter().find_map(|(p, _, v)| match (p, v) {
            (0x3701, PropVal::Object(b)) if b.len() >= 4 => Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => None,
        });
        if method == Some(5) {
            match obj.and_then(|n| own.get(&n).or_else(|| subs.get(&n)).copied()) {
                Some(en) => match self.message(en, depth + 1) {
                    Ok(m) => a.embedded = Some(Box::new(m)),
                    Err(e) => a.problems.push(format!("attachment {id:#x}: embedded message: {e}")),
                },
                None => a
                    .problems
                    .push(format!("attachment {id:#x}: embedded message node not found")),
            }
        }
        a.props = props;
        Ok(a)
    }
}

/// A heap-on-node (MS-PST §2.3.1) over the node's data, split into its blocks.
pub struct Heap {
    blocks: Vec<Vec<u8>>,
}

/// A value of a property or table cell before it is typed.
enum Cell<'a> {
    Inline(u64),
    Bytes(&'a [u8]),
    /// Held in a subnode (HNID with a NID).
    Node(u32),
}

impl Heap {
    pub fn new(data: Vec<u8>) -> Heap {
        let blocks = if data.len() <= BLOCK_DATA {
            vec![data]
        } else {
            data.chunks(BLOCK_DATA).map(<[u8]>::to_vec).collect()
        };
        Heap { blocks }
    }

    fn client(&self) -> R<(u8, u32)> {
        let b = self.blocks.first().ok_or("empty heap")?;
        if b.get(2) != Some(&0xEC) {
            return Err("not a heap-on-node (bSig)".into());
        }
        Ok((*b.get(3).ok_or("short heap")?, u32_at(b, 4)?))
    }

    /// The bytes of allocation `hid` (MS-PST §2.3.1.1: hidIndex 1-based, hidBlockIndex).
    fn alloc(&self, hid: u32) -> R<&[u8]> {
        if hid & 0x1F != 0 {
            return Err(format!("HID {hid:#x} is a NID"));
        }
        let idx = ((hid >> 5) & 0x7FF) as usize;
        let blk = (hid >> 16) as usize;
        let b = self
            .blocks
            .get(blk)
            .ok_or_else(|| format!("HID {hid:#x}: no block {blk}"))?;
        let ibhnpm = usize::from(u16_at(b, 0)?);
        let c = usize::from(u16_at(b, ibhnpm)?);
        if idx == 0 || idx > c {
            return Err(format!("HID {hid:#x}: no allocation {idx}"));
        }
        let start = usize::from(u16_at(b, ibhnpm + 4 + 2 * (idx - 1))?);
        let end = usize::from(u16_at(b, ibhnpm + 4 + 2 * idx)?);
        b.get(start..end)
            .ok_or_else(|| format!("HID {hid:#x}: allocation out of its block"))
    }

    /// The records of a BTH (MS-PST §2.3.2) whose header is `hid`: (key, data) pairs.
    fn bth(&self, hid: u32) -> R<(usize, usize, Records<'_>)> {
        let h = self.alloc(hid)?;
        if h.first() != Some(&0xB5) || h.len() < 8 {
            return Err("not a BTH header".into());
        }
        let (ck, ce, levels) = (usize::from(h[1]), usize::from(h[2]), usize::from(h[3]));
        let root = u32_at(h, 4)?;
        if ck == 0 || ck > 16 || ce > 32 {
            return Err("bad BTH key/entry size".into());
        }
        let mut out = Vec::new();
        if root != 0 {
            self.bth_level(root, ck, ce, levels, &mut out)?;
        }
        Ok((ck, ce, out))
    }

    fn bth_level<'a>(
        &'a self,
        hid: u32,
        ck: usize,
        ce: usize,
        level: usize,
        out: &mut Vec<(&'a [u8], &'a [u8])>,
    ) -> R<()> {
        if level > MAX_LEVELS {
            return Err("BTH nested too deeply".into());
        }
        let d = self.alloc(hid)?;
        if level == 0 {
            for r in d.chunks_exact(ck + ce) {
                out.push((&r[..ck], &r[ck..]));
            }
        } else {
            for r in d.chunks_exact(ck + 4) {
                self.bth_level(u32_at(r, ck)?, ck, ce, level - 1, out)?;
            }
        }
        Ok(())
    }

    fn hnid(&self, v: u32) -> R<Cell<'_>> {
        Ok(if v == 0 {
            Cell::Bytes(&[])
        } else if v & 0x1F == 0 {
            Cell::Bytes(self.alloc(v)?)
        } else {
            Cell::Node(v)
        })
    }

    /// A property context (MS-PST §2.3.3): (property id, type, value) for every record;
    /// values held in subnodes are fetched with `node`.
    pub fn pc(&self, node: &mut dyn FnMut(u32) -> R<Vec<u8>>) -> R<Vec<(u16, u16, PropVal)>> {
        let (sig, root) = self.client()?;
        if sig != 0xBC {
            return Err(format!("not a property context (client signature {sig:#x})"));
        }
        let (ck, ce, recs) = self.bth(root)?;
        if ck != 2 || ce != 6 {
            return Err("property context with a bad BTH layout".into());
        }
        let mut out = Vec::new();
        for (k, d) in recs {
            let id = u16_at(k, 0)?;
            let ty = u16_at(d, 0)?;
            let raw = u32_at(d, 2)?;
            let cell = if fixed_size(ty).is_some_and(|n| n <= 4) {
                Cell::Inline(u64::from(raw))
            } else {
                self.hnid(raw)?
            };
            if let Some(v) = value(ty, cell, node)? {
                out.push((id, ty, v));
            }
        }
        Ok(out)
    }

    /// A table context (MS-PST §2.3.4): every row as (property id, type, value) cells; row
    /// matrices held in a subnode are fetched with `node`.
    pub fn tc(&self, node: &mut dyn FnMut(u32) -> R<Vec<u8>>) -> R<Vec<Vec<(u16, u16, PropVal)>>> {
        let (sig, root) = self.client()?;
        if sig != 0x7C {
            return Err(format!("not a table context (client signature {sig:#x})"));
        }
        let info = self.alloc(root)?;
        if info.first() != Some(&0x7C) {
            return Err("bad TCINFO".into());
        }
        let ncols = usize::from(*info.get(1).ok_or("short TCINFO")?);
        let end1 = usize::from(u16_at(info, 6)?);
        let rowlen = usize::from(u16_at(info, 8)?);
        let rows_hnid = u32_at(info, 14)?;
        let mut cols = Vec::with_capacity(ncols);
        for i in 0..ncols {
            let o = 22 + 8 * i;
            cols.push((
                u32_at(info, o)?,
                usize::from(u16_at(info, o + 4)?),
                usize::from(*info.get(o + 6).ok_or("short TCOLDESC")?),
                usize::from(*info.get(o + 7).ok_or("short TCOLDESC")?),
            ));
        }
        if rowlen == 0 || end1 > rowlen || rowlen < end1 + ncols.div_ceil(8) {
            return Err("bad TC row layout".into());
        }
        // The row matrix: in the heap, or a subnode whose blocks each hold whole rows.
        let matrix: Vec<Vec<u8>> = match self.hnid(rows_hnid)? {
            Cell::Bytes(b) => vec![b.to_vec()],
            Cell::Node(n) => {
                let d = node(n)?;
                if d.len() <= BLOCK_DATA {
                    vec![d]
                } else {
                    d.chunks(BLOCK_DATA).map(<[u8]>::to_vec).collect()
                }
            }
            Cell::Inline(_) => Vec::new(),
        };
        let mut out = Vec::new();
        for blk in &matrix {
            for row in blk.chunks_exact(rowlen) {
                let mut cells = Vec::new();
                for &(tag, off, cb, bit) in &cols {
                    let ceb = row.get(end1 + bit / 8).copied().unwrap_or(0);
                    if ceb & (0x80 >> (bit % 8)) == 0 {
                        continue;
                    }
                    let (id, ty) = ((tag >> 16) as u16, tag as u16);
                    let Some(b) = row.get(off..off + cb) else { continue };
                    let mut raw = [0u8; 8];
                    raw[..cb.min(8)].copy_from_slice(&b[..cb.min(8)]);
                    let v = u64::from_le_bytes(raw);
                    let cell = match fixed_size(ty) {
                        Some(_) => Cell::Inline(v),
                        None => self.hnid(v as u32)?,
                    };
                    if let Some(val) = value(ty, cell, node)? {
                        cells.push((id, ty, val));
                    }
                }
                out.push(cells);
            }
        }
        Ok(out)
    }
}

/// Bytes of a fixed-size type, `None` for variable-size and multi-valued types.
fn fixed_size(ty: u16) -> Option<usize> {
    Some(match ty {
        0x0002 => 2,
        0x0003 | 0x0004 | 0x000A => 4,
        0x000B => 1,
        0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => 8,
        _ => return None,
    })
}

fn utf16(b: &[u8]) -> String {
    let u: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16_lossy(&u).trim_end_matches('\0').to_string()
}

/// 8-bit strings are taken as Windows-1252's ASCII/Latin-1 range (as the .msg reader does).
fn string8(b: &[u8]) -> String {
    b.iter()
        .map(|&c| c as char)
        .collect::<String>()
        .trim_end_matches('\0')
        .to_string()
}

fn f64_of(v: u64) -> f64 {
    f64::from_bits(v)
}

/// Elements of a multi-valued property (MS-PST §2.3.3.4.2): fixed-size ones packed;
/// variable-size ones as ulCount, offsets, data.
fn mv_items(b: &[u8], fixed: Option<usize>) -> R<Vec<&[u8]>> {
    if let Some(n) = fixed {
        return Ok(b.chunks_exact(n).collect());
    }
    if b.is_empty() {
        return Ok(Vec::new());
    }
    let n = u32_at(b, 0)? as usize;
    if n.saturating_mul(4).saturating_add(4) > b.len() {
        return Err("multi-value count exceeds its data".into());
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let s = u32_at(b, 4 + 4 * i)? as usize;
        let e = if i + 1 < n {
            u32_at(b, 8 + 4 * i)? as usize
        } else {
            b.len()
        };
        out.push(b.get(s..e).ok_or("multi-value offsets out of range")?);
    }
    Ok(out)
}

fn le(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(a)
}

/// A typed value; `None` for types that carry no value here (objects are read separately,
/// their (NID, size) comes back as a binary of 8 bytes under type 0x000D).
fn value(ty: u16, cell: Cell<'_>, node: &mut dyn FnMut(u32) -> R<Vec<u8>>) -> R<Option<PropVal>> {
    let owned;
    let bytes: &[u8] = match cell {
        Cell::Inline(v) => {
            return Ok(Some(match ty {
                0x0002 => PropVal::I2(v as u16 as i16),
                0x0003 => PropVal::I4(v as u32 as i32),
                0x0004 => PropVal::R4(f32::from_bits(v as u32)),
                0x000A => PropVal::Error(v as u32),
                0x000B => PropVal::Boolean(v & 0xFF != 0),
                0x0005 => PropVal::R8(f64_of(v)),
                0x0006 => PropVal::Currency(v as i64),
                0x0007 => PropVal::AppTime(f64_of(v)),
                0x0014 => PropVal::I8(v as i64),
                0x0040 => PropVal::SysTime(v),
                _ => return Ok(None),
            }))
        }
        Cell::Bytes(b) => b,
        Cell::Node(n) => {
            owned = node(n)?;
            &owned
        }
    };
    let fixed8 = |b: &[u8]| -> R<u64> {
        if b.len() < 8 {
            return Err("8-byte value too short".into());
        }
        Ok(le(b))
    };
    Ok(Some(match ty {
        0x0005 => PropVal::R8(f64_of(fixed8(bytes)?)),
        0x0006 => PropVal::Currency(fixed8(bytes)? as i64),
        0x0007 => PropVal::AppTime(f64_of(fixed8(bytes)?)),
        0x0014 => PropVal::I8(fixed8(bytes)? as i64),
        0x0040 => PropVal::SysTime(fixed8(bytes)?),
        0x001F => PropVal::Unicode(utf16(bytes)),
        0x001E => PropVal::Unicode(string8(bytes)),
        0x0102 => PropVal::Binary(bytes.to_vec()),
        0x0048 => match Guid::from_slice(bytes) {
            Ok(g) => PropVal::Clsid(g),
            Err(_) => return Ok(None),
        },
        0x000D => PropVal::Object(bytes.to_vec()),
        0x1002 => PropVal::MvI2(mv_items(bytes, Some(2))?.iter().map(|b| le(b) as u16 as i16).collect()),
        0x1003 => PropVal::MvI4(mv_items(bytes, Some(4))?.iter().map(|b| le(b) as u32 as i32).collect()),
        0x1004 => PropVal::MvR4(
            mv_items(bytes, Some(4))?
                .iter()
                .map(|b| f32::from_bits(le(b) as u32))
                .collect(),
        ),
        0x1005 => PropVal::MvR8(mv_items(bytes, Some(8))?.iter().map(|b| f64_of(le(b))).collect()),
        0x1006 => PropVal::MvCurrency(mv_items(bytes, Some(8))?.iter().map(|b| le(b) as i64).collect()),
        0x1007 => PropVal::MvAppTime(mv_items(bytes, Some(8))?.iter().map(|b| f64_of(le(b))).collect()),
        0x1014 => PropVal::MvI8(mv_items(bytes, Some(8))?.iter().map(|b| le(b) as i64).collect()),
        0x1040 => PropVal::MvSysTime(mv_items(bytes, Some(8))?.iter().map(|b| le(b)).collect()),
        0x1048 => PropVal::MvClsid(
            mv_items(bytes, Some(16))?
                .iter()
                .filter_map(|b| Guid::from_slice(b).ok())
                .collect(),
        ),
        0x101F => PropVal::MvUnicode(mv_items(bytes, None)?.iter().map(|b| utf16(b)).collect()),
        0x101E => PropVal::MvUnicode(mv_items(bytes, None)?.iter().map(|b| string8(b)).collect()),
        0x1102 => PropVal::MvBinary(mv_items(bytes, None)?.iter().map(|b| b.to_vec()).collect()),
        _ => return Ok(None),
    }))
}

/// Fuzz entry: the bytes as a heap-on-node, read as a property context and as a table
/// context (subnode values answered with the same bytes); never panics.
pub fn fuzz(data: &[u8]) {
    let h = Heap::new(data.to_vec());
    let mut node = |_n: u32| -> R<Vec<u8>> { Ok(data.iter().take(BLOCK_DATA * 2).copied().collect()) };
    let _ = h.pc(&mut node);
    let _ = h.tc(&mut node);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heap with the given allocations (HID i+1 → allocs[i]) and user root.
    fn heap(sig: u8, root: u32, allocs: &[&[u8]]) -> Vec<u8> {
        let mut b = vec![0u8; 12];
        let mut offs = Vec::new();
        for a in allocs {
            offs.push(b.len() as u16);
            b.extend_from_slice(a);
        }
        offs.push(b.len() as u16);
        if b.len() % 2 == 1 {
            b.push(0);
        }
        let ib = b.len() as u16;
        b.extend_from_slice(&(allocs.len() as u16).to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        for o in offs {
            b.extend_from_slice(&o.to_le_bytes());
        }
        b[0..2].copy_from_slice(&ib.to_le_bytes());
        b[2] = 0xEC;
        b[3] = sig;
        b[4..8].copy_from_slice(&root.to_le_bytes());
        b
    }

    #[test]
    fn property_context_values() {
        // HID 1: records; HID 2: BTH header; HID 3: subject; HID 4: 8-byte time.
        let mut recs = Vec::new();
        recs.extend_from_slice(&[0x37, 0x00, 0x1F, 0x00]);
        recs.extend_from_slice(&(3u32 << 5).to_le_bytes());
        recs.extend_from_slice(&[0x05, 0x37, 0x03, 0x00, 5, 0, 0, 0]);
        recs.extend_from_slice(&[0x06, 0x0E, 0x40, 0x00]);
        recs.extend_from_slice(&(4u32 << 5).to_le_bytes());
        recs.extend_from_slice(&[0x00, 0x10, 0x1F, 0x00, 0x41, 0x00, 0x00, 0x00]); // in subnode 0x41
        let mut hdr = vec![0xB5, 2, 6, 0];
        hdr.extend_from_slice(&(1u32 << 5).to_le_bytes());
        let subj: Vec<u8> = "Hi".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let t = 0x01D9_0000_0000_0001u64.to_le_bytes();
        let h = Heap::new(heap(0xBC, 2 << 5, &[&recs, &hdr, &subj, &t]));
        let mut node = |n: u32| -> R<Vec<u8>> {
            assert_eq!(n, 0x41);
            Ok("Body".encode_utf16().flat_map(|u| u.to_le_bytes()).collect())
        };
        let v = h.pc(&mut node).unwrap();
        assert_eq!(
            v,
            vec![
                (0x37, 0x1F, PropVal::Unicode("Hi".into())),
                (0x3705, 3, PropVal::I4(5)),
                (0x0E06, 0x40, PropVal::SysTime(0x01D9_0000_0000_0001)),
                (0x1000, 0x1F, PropVal::Unicode("Body".into())),
            ]
        );
        assert!(h.tc(&mut node).is_err(), "a PC is not a TC");
    }

    #[test]
    fn malformed_heaps_are_errors() {
        for d in [&b""[..], b"\x00\x00\xEC\xBC", b"\xff\xff\xEC\xBC\x20\0\0\0\0\0\0\0"] {
            let h = Heap::new(d.to_vec());
            assert!(h.pc(&mut |_| Ok(Vec::new())).is_err());
            assert!(h.tc(&mut |_| Ok(Vec::new())).is_err());
        }
        assert!(mv_items(&[0xff, 0xff, 0xff, 0x7f], None).is_err());
    }
}
