//! Outlook .msg files (MS-OXMSG) → messages: a compound file (MS-CFB, read with the `cfb`
//! crate) whose storages hold the message's properties (`__properties_version1.0` plus one
//! `__substg1.0_IIIITTTT` stream per variable-size value), recipients
//! (`__recip_version1.0_#XXXXXXXX`), attachments (`__attach_version1.0_#XXXXXXXX`, an embedded
//! message in their `__substg1.0_3701000D` storage) and the named-property map
//! (`__nameid_version1.0`: GUID, entry and string streams, MS-OXMSG §2.2.3).
//!
//! Everything readable is returned; a broken stream is reported with the object it belongs to.

use std::io::{Cursor, Read};

use gromox_convert::mapi::{MapiAttachment, MapiMessage};
use gromox_mapi::named::{PropName, PS_MAPI, PS_PUBLIC_STRINGS};
use gromox_mapi::{Guid, PropTag, PropType, PropVal, TaggedVal};

type Cfb<'a> = cfb::CompoundFile<Cursor<&'a [u8]>>;

/// Deepest embedded-message nesting followed.
const MAX_DEPTH: usize = 32;
/// Largest single stream read (bounded memory on hostile files).
const MAX_STREAM: u64 = 256 * 1024 * 1024;

/// Why a .msg file could not be read (with the object path inside the file).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {msg}")]
pub struct OxmError {
    pub path: String,
    pub msg: String,
}

fn err(path: &str, msg: impl Into<String>) -> OxmError {
    OxmError {
        path: path.to_string(),
        msg: msg.into(),
    }
}

fn read_stream(c: &mut Cfb<'_>, path: &str) -> Result<Option<Vec<u8>>, OxmError> {
    if !c.is_stream(path) {
        return Ok(None);
    }
    let mut s = c.open_stream(path).map_err(|e| err(path, e.to_string()))?;
    let mut v = Vec::new();
    (&mut s)
        .take(MAX_STREAM)
        .read_to_end(&mut v)
        .map_err(|e| err(path, e.to_string()))?;
    Ok(Some(v))
}

/// The named-property map: id 0x8000 + n → name.
fn name_map(c: &mut Cfb<'_>) -> Result<Vec<Option<PropName>>, OxmError> {
    let base = "/__nameid_version1.0";
    if !c.is_storage(base) {
        return Ok(Vec::new());
    }
    let guids = read_stream(c, &format!("{base}/__substg1.0_00020102"))?.unwrap_or_default();
    let entries = read_stream(c, &format!("{base}/__substg1.0_00030102"))?.unwrap_or_default();
    let strings = read_stream(c, &format!("{base}/__substg1.0_00040102"))?.unwrap_or_default();
    let mut out = Vec::with_capacity(entries.len() / 8);
    for e in entries.chunks_exact(8) {
        let id = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
        let kind_index = u16::from_le_bytes([e[4], e[5]]);
        let is_string = kind_index & 1 == 1;
        let guid = match kind_index >> 1 {
            1 => Some(PS_MAPI),
            2 => Some(PS_PUBLIC_STRINGS),
            n if n >= 3 => {
                let i = usize::from(n - 3) * 16;
                guids.get(i..i + 16).and_then(|g| Guid::from_slice(g).ok())
            }
            _ => None,
        };
        let name = guid.and_then(|g| {
            if is_string {
                let off = id as usize;
                let len = strings
                    .get(off..off + 4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)?;
                let raw = strings.get(off + 4..off + 4 + len)?;
                Some(PropName::name(g, &utf16(raw)))
            } else {
                Some(PropName::lid(g, id))
            }
        });
        out.push(name);
    }
    Ok(out)
}

fn utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units).trim_end_matches('\0').to_string()
}

fn string8(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Properties of the object at storage `dir`; `header` is the size of the
/// `__properties_version1.0` header (32 top level, 24 embedded message, 8 others).
fn properties(
    c: &mut Cfb<'_>,
    dir: &str,
    header: usize,
    names: &[Option<PropName>],
    out_props: &mut Vec<TaggedVal>,
    out_named: &mut Vec<(PropName, PropVal)>,
) -> Result<(), OxmError> {
    let ppath = format!("{dir}/__properties_version1.0");
    let Some(stream) = read_stream(c, &ppath)? else {
        return Err(err(&ppath, "missing property stream"));
    };
    let body = stream.get(header..).ok_or_else(|| err(&ppath, "truncated header"))?;
    for e in body.chunks_exact(16) {
        let tag = PropTag(u32::from_le_bytes([e[0], e[1], e[2], e[3]]));
        let v = &e[8..16];
        let i32v = i32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        let i64v = i64::from_le_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
        let Some(ty) = tag.ptype() else { continue };
        let sub = |c: &mut Cfb<'_>| read_stream(c, &format!("{dir}/__substg1.0_{:08X}", tag.0));
        let val = match ty {
            PropType::I2 => PropVal::I2(i32v as i16),
            PropType::I4 => PropVal::I4(i32v),
            PropType::R4 => PropVal::R4(f32::from_bits(i32v as u32)),
            PropType::R8 => PropVal::R8(f64::from_bits(i64v as u64)),
            PropType::Currency => PropVal::Currency(i64v),
            PropType::AppTime => PropVal::AppTime(f64::from_bits(i64v as u64)),
            PropType::Error => PropVal::Error(i32v as u32),
            PropType::Boolean => PropVal::Boolean(v[0] != 0),
            PropType::I8 => PropVal::I8(i64v),
            PropType::SysTime => PropVal::SysTime(i64v as u64),
            PropType::Unicode => match sub(c)? {
                Some(b) => PropVal::Unicode(utf16(&b)),
                None => continue,
            },
            PropType::String8 => match sub(c)? {
                Some(b) => PropVal::String8(string8(&b)),
                None => continue,
            },
            PropType::Binary => match sub(c)? {
                Some(b) => PropVal::Binary(b),
                None => continue,
            },
            PropType::Clsid => match sub(c)? {
                Some(b) => match Guid::from_slice(&b) {
                    Ok(g) => PropVal::Clsid(g),
                    Err(_) => continue,
                },
                None => continue,
            },
            PropType::MvI4 => match sub(c)? {
                Some(b) => PropVal::MvI4(
                    b.chunks_exact(4)
                        .map(|x| i32::from_le_bytes([x[0], x[1], x[2], x[3]]))
                        .collect(),
                ),
                None => continue,
            },
            PropType::MvSysTime | PropType::MvI8 => match sub(c)? {
                Some(b) => {
                    let v: Vec<u64> = b
                        .chunks_exact(8)
                        .map(|x| u64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]))
                        .collect();
                    if ty == PropType::MvI8 {
                        PropVal::MvI8(v.into_iter().map(|x| x as i64).collect())
                    } else {
                        PropVal::MvSysTime(v)
                    }
                }
                None => continue,
            },
            PropType::MvUnicode | PropType::MvString8 | PropType::MvBinary => {
                // One stream per value: `__substg1.0_IIIITTTT-NNNNNNNN`; the length stream
                // says how many (4 bytes per string, 8 per binary).
                let Some(lens) = sub(c)? else { continue };
                let per = if ty == PropType::MvBinary { 8 } else { 4 };
                let mut vals = Vec::new();
                for n in 0..lens.len() / per {
                    let p = format!("{dir}/__substg1.0_{:08X}-{n:08X}", tag.0);
                    vals.push(read_stream(c, &p)?.unwrap_or_default());
                }
                match ty {
                    PropType::MvUnicode => PropVal::MvUnicode(vals.iter().map(|b| utf16(b)).collect()),
                    PropType::MvString8 => PropVal::MvString8(vals.iter().map(|b| string8(b)).collect()),
                    _ => PropVal::MvBinary(vals),
                }
            }
            // Objects (attachments' data objects, embedded messages) are storages handled
            // by the caller; other types are not used in .msg files.
            _ => continue,
        };
        // 8-bit strings become Unicode (the store keeps text as UTF-8 with Unicode tags).
        let (tag, val) = match val {
            PropVal::String8(v) => (tag.with_type(PropType::Unicode), PropVal::Unicode(v)),
            PropVal::MvString8(v) => (tag.with_type(PropType::MvUnicode), PropVal::MvUnicode(v)),
            v => (tag, v),
        };
        if tag.is_named() {
            if let Some(Some(n)) = names.get(usize::from(tag.id() - 0x8000)) {
                out_named.push((n.clone(), val));
            }
        } else {
            out_props.push(TaggedVal::new(tag, val));
        }
    }
    Ok(())
}

fn children(c: &Cfb<'_>, dir: &str, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = match c.read_storage(dir) {
        Ok(it) => it
            .filter(|e| e.is_storage() && e.name().starts_with(prefix))
            .map(|e| format!("{}/{}", dir.trim_end_matches('/'), e.name()))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn message(
    c: &mut Cfb<'_>,
    dir: &str,
    header: usize,
    names: &[Option<PropName>],
    depth: usize,
) -> Result<MapiMessage, OxmError> {
    let mut m = MapiMessage::default();
    properties(c, dir, header, names, &mut m.props, &mut m.named)?;
    for r in children(c, dir, "__recip_version1.0_") {
        let mut props = Vec::new();
        let mut named = Vec::new();
        properties(c, &r, 8, names, &mut props, &mut named)?;
        m.recipients.push(props);
    }
    for a in children(c, dir, "__attach_version1.0_") {
        let mut att = MapiAttachment::default();
        properties(c, &a, 8, names, &mut att.props, &mut att.named)?;
        let emb = format!("{a}/__substg1.0_3701000D");
        if c.is_storage(&emb) {
            if depth >= MAX_DEPTH {
                return Err(err(&emb, "embedded messages nested too deeply"));
            }
            att.embedded = Some(Box::new(message(c, &emb, 24, names, depth + 1)?));
        }
        m.attachments.push(att);
    }
    Ok(m)
}

/// Read a .msg file.
pub fn msg_to_mapi(data: &[u8]) -> Result<MapiMessage, OxmError> {
    let mut c =
        cfb::CompoundFile::open(Cursor::new(data)).map_err(|e| err("/", format!("not a compound file: {e}")))?;
    let names = name_map(&mut c)?;
    message(&mut c, "/", 32, &names, 0)
}

/// Fuzz entry: never panics.
pub fn fuzz(data: &[u8]) {
    let _ = msg_to_mapi(data);
}
