//! Decoder of the Transport Neutral Encapsulation Format ([MS-OXTNEF]),
//! the `winmail.dat` / `application/ms-tnef` body part.
//!
//! A TNEF stream ([MS-OXTNEF] section 2.1.3.1) is a signature, a legacy key
//! and a sequence of attributes (level, id, length, data, checksum).
//! Message-level attributes come first, then attachments, each starting
//! with attAttachRendData. Legacy attributes are mapped to properties as in
//! [MS-OXTNEF] section 2.1.4.1; attMAPIProps, attAttachment and
//! attRecipTable carry encoded property lists (section 2.1.3.4) that may
//! contain named and multi-valued properties and, for attachments of
//! method ATTACH_EMBEDDED_MSG, an embedded TNEF stream (decoded
//! recursively).

use crate::charset::codepage_encoding;
use crate::error::{Error, Result};
use crate::props::*;
use encoding_rs::Encoding;

/// TNEF signature ([MS-OXTNEF] section 2.1.3.1).
pub const SIGNATURE: u32 = 0x223E_9F78;

/// Attribute levels.
pub const LVL_MESSAGE: u8 = 1;
pub const LVL_ATTACHMENT: u8 = 2;

// Attribute identifiers (type << 16 | id), [MS-OXTNEF] section 2.1.3.3.
pub const ATT_FROM: u32 = 0x0000_8000;
pub const ATT_SUBJECT: u32 = 0x0001_8004;
pub const ATT_DATE_SENT: u32 = 0x0003_8005;
pub const ATT_DATE_RECD: u32 = 0x0003_8006;
pub const ATT_MESSAGE_STATUS: u32 = 0x0006_8007;
pub const ATT_MESSAGE_CLASS: u32 = 0x0007_8008;
pub const ATT_MESSAGE_ID: u32 = 0x0001_8009;
pub const ATT_BODY: u32 = 0x0002_800C;
pub const ATT_PRIORITY: u32 = 0x0004_800D;
pub const ATT_ATTACH_DATA: u32 = 0x0006_800F;
pub const ATT_ATTACH_TITLE: u32 = 0x0001_8010;
pub const ATT_ATTACH_META_FILE: u32 = 0x0006_8011;
pub const ATT_ATTACH_CREATE_DATE: u32 = 0x0003_8012;
pub const ATT_ATTACH_MODIFY_DATE: u32 = 0x0003_8013;
pub const ATT_DATE_MODIFIED: u32 = 0x0003_8020;
pub const ATT_ATTACH_TRANSPORT_FILENAME: u32 = 0x0006_9001;
pub const ATT_ATTACH_REND_DATA: u32 = 0x0006_9002;
pub const ATT_MAPI_PROPS: u32 = 0x0006_9003;
pub const ATT_RECIP_TABLE: u32 = 0x0006_9004;
pub const ATT_ATTACHMENT: u32 = 0x0006_9005;
pub const ATT_TNEF_VERSION: u32 = 0x0008_9006;
pub const ATT_OEM_CODEPAGE: u32 = 0x0006_9007;

/// IID_IMessage: PtypObject data of an embedded message.
const IID_IMESSAGE: [u8; 16] = [
    0x07, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];

const MAX_DEPTH: usize = 8;

/// One attribute as found in the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub level: u8,
    pub id: u32,
    pub data: Vec<u8>,
}

/// An attachment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TnefAttachment {
    /// Properties from legacy attributes and attAttachment.
    pub props: Vec<Prop>,
    /// Embedded message (PR_ATTACH_DATA_OBJ with IID_IMessage).
    pub embedded: Option<Box<Tnef>>,
}

impl TnefAttachment {
    /// Long file name if present, else the short one.
    pub fn filename(&self) -> Option<&str> {
        get_str(&self.props, 0x3707).or_else(|| get_str(&self.props, 0x3704))
    }
    /// Attachment bytes (PR_ATTACH_DATA_BIN).
    pub fn data(&self) -> Option<&[u8]> {
        match get(&self.props, PR_ATTACH_DATA_BIN) {
            Some(PropVal::Binary(b)) => Some(b),
            _ => None,
        }
    }
}

/// A decoded TNEF stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tnef {
    /// The legacy key (attachment reference key).
    pub key: u16,
    /// Message properties.
    pub props: Vec<Prop>,
    /// Recipients (attRecipTable rows).
    pub recipients: Vec<Vec<Prop>>,
    /// Attachments in stream order.
    pub attachments: Vec<TnefAttachment>,
    /// Attributes that have no property mapping, kept raw.
    pub other_attributes: Vec<Attribute>,
    /// Problems that did not stop decoding (attribute checksum mismatches).
    pub warnings: Vec<String>,
}

/// Decodes a TNEF stream; any structural error fails the whole decode.
/// Checksum mismatches only add to [`Tnef::warnings`].
pub fn decode(data: &[u8]) -> Result<Tnef> {
    let (t, err) = decode_partial(data);
    match err {
        Some(e) => Err(e),
        None => Ok(t),
    }
}

/// Decodes as much of a TNEF stream as possible: returns everything up to
/// the first error, and that error. A stream that is not TNEF at all
/// returns an empty result and [`Error::BadSignature`].
pub fn decode_partial(data: &[u8]) -> (Tnef, Option<Error>) {
    decode_depth(data, 0)
}

struct Rd<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.b.len() - self.p < n {
            return Err(Error::Truncated(what));
        }
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        Ok(s)
    }
    fn u8(&mut self, w: &'static str) -> Result<u8> {
        Ok(self.take(1, w)?[0])
    }
    fn u16(&mut self, w: &'static str) -> Result<u16> {
        let s = self.take(2, w)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self, w: &'static str) -> Result<u32> {
        let s = self.take(4, w)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self, w: &'static str) -> Result<u64> {
        let s = self.take(8, w)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn align4(&mut self, start: usize) {
        let pad = (4 - (self.p - start) % 4) % 4;
        self.p = (self.p + pad).min(self.b.len());
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.p
    }
}

fn decode_depth(data: &[u8], depth: usize) -> (Tnef, Option<Error>) {
    let mut t = Tnef::default();
    let mut r = Rd { b: data, p: 0 };
    let sig = match r.u32("TNEF signature") {
        Ok(s) => s,
        Err(e) => return (t, Some(e)),
    };
    if sig != SIGNATURE {
        return (t, Some(Error::BadSignature("TNEF signature")));
    }
    match r.u16("TNEF key") {
        Ok(k) => t.key = k,
        Err(e) => return (t, Some(e)),
    }
    let mut enc: &'static Encoding = encoding_rs::WINDOWS_1252;
    while r.remaining() > 0 {
        let attr = match read_attribute(&mut r, &mut t.warnings) {
            Ok(a) => a,
            Err(e) => return (t, Some(e)),
        };
        if let Err(e) = apply(&mut t, attr, &mut enc, depth) {
            return (t, Some(e));
        }
    }
    (t, None)
}

fn read_attribute(r: &mut Rd, warnings: &mut Vec<String>) -> Result<Attribute> {
    let level = r.u8("attribute level")?;
    let id = r.u32("attribute id")?;
    let len = r.u32("attribute length")? as usize;
    let data = r.take(len, "attribute data")?;
    let sum = r.u16("attribute checksum")?;
    let computed = data.iter().fold(0u16, |s, &b| s.wrapping_add(b as u16));
    if sum != computed {
        // Writers in the field get this wrong (tnefparse accepts such
        // files too): keep the data, report the mismatch as a warning.
        warnings.push(format!(
            "{}",
            Error::BadChecksum {
                what: "TNEF attribute",
                expected: sum as u32,
                computed: computed as u32
            }
        ));
    }
    if level != LVL_MESSAGE && level != LVL_ATTACHMENT {
        return Err(Error::Invalid(format!("TNEF attribute level {level}")));
    }
    Ok(Attribute {
        level,
        id,
        data: data.to_vec(),
    })
}

fn decode_string(enc: &'static Encoding, b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    enc.decode_without_bom_handling(&b[..end]).0.into_owned()
}

/// atpDate: seven 16-bit fields ([MS-OXTNEF] section 2.1.3.3.16 ff.).
fn decode_date(b: &[u8]) -> Option<u64> {
    if b.len() < 12 {
        return None;
    }
    let f = |i: usize| u16::from_le_bytes([b[2 * i], b[2 * i + 1]]) as u32;
    let (y, mo, d) = (f(0), f(1), f(2));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || f(3) > 23 || f(4) > 59 || f(5) > 60 {
        return None;
    }
    filetime(y as i64, mo, d, f(3), f(4), f(5))
}

fn apply(t: &mut Tnef, a: Attribute, enc: &mut &'static Encoding, depth: usize) -> Result<()> {
    if a.level == LVL_MESSAGE {
        let props = &mut t.props;
        match a.id {
            ATT_OEM_CODEPAGE => {
                if a.data.len() >= 4 {
                    let cp = u32::from_le_bytes([a.data[0], a.data[1], a.data[2], a.data[3]]);
                    *enc = codepage_encoding(cp).unwrap_or(encoding_rs::WINDOWS_1252);
                }
            }
            ATT_SUBJECT => set(props, PR_SUBJECT, PropVal::String(decode_string(enc, &a.data))),
            ATT_BODY => set(props, PR_BODY, PropVal::String(decode_string(enc, &a.data))),
            ATT_MESSAGE_CLASS => {
                let c = decode_string(enc, &a.data);
                let c = match c.as_str() {
                    "IPM.Microsoft Mail.Note" | "IPM" => "IPM.Note".to_string(),
                    "IPM.Microsoft Mail.Read Receipt" => "Report.IPM.Note.IPNRN".to_string(),
                    "IPM.Microsoft Mail.Non-Delivery" => "Report.IPM.Note.NDR".to_string(),
                    "IPM.Microsoft Schedule.MtgReq" => "IPM.Schedule.Meeting.Request".to_string(),
                    "IPM.Microsoft Schedule.MtgRespP" => "IPM.Schedule.Meeting.Resp.Pos".to_string(),
                    "IPM.Microsoft Schedule.MtgRespN" => "IPM.Schedule.Meeting.Resp.Neg".to_string(),
                    "IPM.Microsoft Schedule.MtgRespA" => "IPM.Schedule.Meeting.Resp.Tent".to_string(),
                    "IPM.Microsoft Schedule.MtgCncl" => "IPM.Schedule.Meeting.Canceled".to_string(),
                    _ => c,
                };
                set(props, PR_MESSAGE_CLASS, PropVal::String(c));
            }
            ATT_DATE_SENT | ATT_DATE_RECD | ATT_DATE_MODIFIED => {
                if let Some(ft) = decode_date(&a.data) {
                    let tag = match a.id {
                        ATT_DATE_SENT => PR_CLIENT_SUBMIT_TIME,
                        ATT_DATE_RECD => PR_MESSAGE_DELIVERY_TIME,
                        _ => PR_LAST_MODIFICATION_TIME,
                    };
                    set(props, tag, PropVal::SysTime(ft));
                }
            }
            ATT_PRIORITY if a.data.len() >= 2 => {
                // [MS-OXTNEF] section 2.1.4.1.2: 1 high, 2 normal, 3 low.
                let imp = match u16::from_le_bytes([a.data[0], a.data[1]]) {
                    1 => 2,
                    3 => 0,
                    _ => 1,
                };
                set(props, PR_IMPORTANCE, PropVal::Long(imp));
            }
            ATT_FROM => {
                if let Some((name, addrtype, addr)) = decode_triple(&a.data, enc) {
                    set(props, PR_SENDER_NAME, PropVal::String(name));
                    set(props, PR_SENDER_ADDRTYPE, PropVal::String(addrtype));
                    set(props, PR_SENDER_EMAIL_ADDRESS, PropVal::String(addr));
                }
            }
            ATT_MAPI_PROPS => {
                for p in decode_prop_list(&a.data, enc, depth)?.0 {
                    merge(props, p);
                }
            }
            ATT_RECIP_TABLE => {
                let mut r = Rd { b: &a.data, p: 0 };
                let rows = r.u32("recipient row count")?;
                for _ in 0..rows {
                    if r.remaining() < 4 {
                        return Err(Error::Truncated("recipient row"));
                    }
                    let (row, used) = decode_prop_list(&a.data[r.p..], enc, depth)?;
                    r.p += used;
                    t.recipients.push(row);
                }
            }
            _ => t.other_attributes.push(a),
        }
        return Ok(());
    }
    // Attachment level. attAttachRendData starts a new attachment; other
    // attributes before any attAttachRendData also open one.
    if a.id == ATT_ATTACH_REND_DATA || t.attachments.is_empty() {
        t.attachments.push(TnefAttachment::default());
    }
    let Some(att) = t.attachments.last_mut() else {
        return Ok(());
    };
    let props = &mut att.props;
    match a.id {
        ATT_ATTACH_REND_DATA => {
            let mut r = Rd { b: &a.data, p: 0 };
            let ty = r.u16("attAttachRendData type")?;
            let pos = r.u32("attAttachRendData position")?;
            // AttachType 1 = file, 2 = OLE object ([MS-OXTNEF] 2.1.3.3.19).
            set(props, PR_ATTACH_METHOD, PropVal::Long(if ty == 2 { 6 } else { 1 }));
            set(props, PR_RENDERING_POSITION, PropVal::Long(pos as i32));
        }
        ATT_ATTACH_TITLE => set(props, PR_ATTACH_FILENAME, PropVal::String(decode_string(enc, &a.data))),
        ATT_ATTACH_DATA => set(props, PR_ATTACH_DATA_BIN, PropVal::Binary(a.data)),
        ATT_ATTACH_META_FILE => set(props, PR_ATTACH_RENDERING, PropVal::Binary(a.data)),
        ATT_ATTACH_CREATE_DATE | ATT_ATTACH_MODIFY_DATE => {
            if let Some(ft) = decode_date(&a.data) {
                let tag = if a.id == ATT_ATTACH_CREATE_DATE {
                    PR_CREATION_TIME
                } else {
                    PR_LAST_MODIFICATION_TIME
                };
                set(props, tag, PropVal::SysTime(ft));
            }
        }
        ATT_ATTACHMENT => {
            for p in decode_prop_list(&a.data, enc, depth)?.0 {
                if p.tag == PR_ATTACH_DATA_OBJ && p.name.is_none() {
                    if let PropVal::Object(obj) = &p.value {
                        if obj.len() >= 16 && obj[..16] == IID_IMESSAGE && depth < MAX_DEPTH {
                            let (inner, err) = decode_depth(&obj[16..], depth + 1);
                            if err.is_none() || !inner.props.is_empty() {
                                att.embedded = Some(Box::new(inner));
                                continue;
                            }
                        }
                        // Other objects (OLE storages): keep bytes after the IID.
                        let data = obj.get(16..).unwrap_or(&[]).to_vec();
                        merge(
                            &mut att.props,
                            Prop {
                                tag: p.tag,
                                name: None,
                                value: PropVal::Object(data),
                            },
                        );
                        continue;
                    }
                }
                merge(&mut att.props, p);
            }
        }
        _ => t.other_attributes.push(a),
    }
    Ok(())
}

fn merge(props: &mut Vec<Prop>, p: Prop) {
    if let Some(old) = props.iter_mut().find(|o| o.tag == p.tag && o.name == p.name) {
        *old = p;
    } else {
        props.push(p);
    }
}

/// attFrom: a TRP structure ([MS-OXTNEF] section 2.1.3.3.1): type, size,
/// name length, address length, then name and "addrtype:address".
fn decode_triple(b: &[u8], enc: &'static Encoding) -> Option<(String, String, String)> {
    let mut r = Rd { b, p: 0 };
    let _ty = r.u16("trp").ok()?;
    let _cb = r.u16("trp").ok()?;
    let name_len = r.u16("trp").ok()? as usize;
    let addr_len = r.u16("trp").ok()? as usize;
    let name = decode_string(enc, r.take(name_len, "trp").ok()?);
    let addr = decode_string(enc, r.take(addr_len, "trp").ok()?);
    let (ty, a) = addr.split_once(':').unwrap_or(("SMTP", addr.as_str()));
    Some((name, ty.to_string(), a.to_string()))
}

/// Minimal encoded size of one value of a type, to bound counts.
fn min_size(ty: u16) -> usize {
    match ty {
        PT_DOUBLE | PT_CURRENCY | PT_APPTIME | PT_I8 | PT_SYSTIME => 8,
        PT_CLSID => 16,
        _ => 4,
    }
}

/// Decodes a property list (count, then properties; [MS-OXTNEF] section
/// 2.1.3.4). Returns the properties and the bytes consumed.
pub fn decode_prop_list(b: &[u8], enc: &'static Encoding, depth: usize) -> Result<(Vec<Prop>, usize)> {
    let _ = depth;
    let mut r = Rd { b, p: 0 };
    let count = r.u32("property count")? as usize;
    if count > r.remaining() / 4 {
        return Err(Error::Invalid(format!("property count {count} exceeds data")));
    }
    let mut props = Vec::with_capacity(count);
    for _ in 0..count {
        let ty = r.u16("property type")?;
        let id = r.u16("property id")?;
        let mut name = None;
        if id >= 0x8000 {
            let g: [u8; 16] = r
                .take(16, "named property GUID")?
                .try_into()
                .map_err(|_| Error::Truncated("GUID"))?;
            let kind = r.u32("named property kind")?;
            name = Some(match kind {
                0 => PropName::Id(g, r.u32("named property id")?),
                1 => {
                    let len = r.u32("named property name length")? as usize;
                    let start = r.p;
                    let raw = r.take(len, "named property name")?;
                    r.p = start;
                    r.take(len, "named property name")?;
                    r.align4(start);
                    PropName::Name(g, utf16_z(raw))
                }
                k => return Err(Error::Invalid(format!("named property kind {k}"))),
            });
        }
        let value = if ty & MV_FLAG != 0 {
            let base = ty & !MV_FLAG;
            let n = r.u32("multi-value count")? as usize;
            if n > r.remaining() / min_size(base).min(4) {
                return Err(Error::Invalid(format!("multi-value count {n} exceeds data")));
            }
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(read_value(&mut r, base, enc)?);
            }
            PropVal::Multi(v)
        } else {
            match ty {
                PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT => {
                    let n = r.u32("value count")?;
                    if n != 1 {
                        return Err(Error::Invalid(format!("single-valued property with {n} values")));
                    }
                    read_value(&mut r, ty, enc)?
                }
                _ => read_value(&mut r, ty, enc)?,
            }
        };
        // Tags of string properties are normalised to PtypString.
        let ty_out = match ty & !MV_FLAG {
            PT_STRING8 => (ty & MV_FLAG) | PT_UNICODE,
            _ => ty,
        };
        props.push(Prop {
            tag: tag(id, ty_out),
            name,
            value,
        });
    }
    Ok((props, r.p))
}

fn utf16_z(b: &[u8]) -> String {
    let u: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let end = u.iter().position(|&c| c == 0).unwrap_or(u.len());
    String::from_utf16_lossy(&u[..end])
}

fn read_value(r: &mut Rd, ty: u16, enc: &'static Encoding) -> Result<PropVal> {
    let start = r.p;
    let v = match ty {
        PT_SHORT => PropVal::Short(r.u16("PtypInteger16")? as i16),
        PT_LONG => PropVal::Long(r.u32("PtypInteger32")? as i32),
        PT_FLOAT => PropVal::Float(f32::from_bits(r.u32("PtypFloating32")?)),
        PT_DOUBLE => PropVal::Double(f64::from_bits(r.u64("PtypFloating64")?)),
        PT_APPTIME => PropVal::AppTime(f64::from_bits(r.u64("PtypFloatingTime")?)),
        PT_CURRENCY => PropVal::Currency(r.u64("PtypCurrency")? as i64),
        PT_I8 => PropVal::I8(r.u64("PtypInteger64")? as i64),
        PT_ERROR => PropVal::Error(r.u32("PtypErrorCode")?),
        PT_BOOLEAN => PropVal::Bool(r.u32("PtypBoolean")? & 0xffff != 0),
        PT_SYSTIME => PropVal::SysTime(r.u64("PtypTime")?),
        PT_CLSID => PropVal::Guid(
            r.take(16, "PtypGuid")?
                .try_into()
                .map_err(|_| Error::Truncated("GUID"))?,
        ),
        0x0001 => PropVal::Unknown(r.take(4, "PtypNull")?.to_vec()),
        PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT => {
            let len = r.u32("value length")? as usize;
            let vstart = r.p;
            let raw = r.take(len, "value data")?;
            let v = match ty {
                PT_STRING8 => PropVal::String(decode_string(enc, raw)),
                PT_UNICODE => PropVal::String(utf16_z(raw)),
                PT_BINARY => PropVal::Binary(raw.to_vec()),
                _ => PropVal::Object(raw.to_vec()),
            };
            r.align4(vstart);
            return Ok(v);
        }
        _ => return Err(Error::Invalid(format!("unknown property type {ty:#06x}"))),
    };
    r.align4(start);
    Ok(v)
}

/// A readable dump of a decoded stream, one property per line (used by
/// the golden tests).
pub fn dump(t: &Tnef) -> String {
    let mut out = String::new();
    dump_into(t, "", &mut out);
    out
}

fn dump_into(t: &Tnef, indent: &str, out: &mut String) {
    use std::fmt::Write;
    let _ = writeln!(out, "{indent}message:");
    dump_props(&t.props, &format!("{indent}  "), out);
    for (i, r) in t.recipients.iter().enumerate() {
        let _ = writeln!(out, "{indent}recipient {i}:");
        dump_props(r, &format!("{indent}  "), out);
    }
    for (i, a) in t.attachments.iter().enumerate() {
        let _ = writeln!(out, "{indent}attachment {i}:");
        dump_props(&a.props, &format!("{indent}  "), out);
        if let Some(e) = &a.embedded {
            let _ = writeln!(out, "{indent}  embedded:");
            dump_into(e, &format!("{indent}    "), out);
        }
    }
    for w in &t.warnings {
        let _ = writeln!(out, "{indent}warning: {w}");
    }
    for a in &t.other_attributes {
        let _ = writeln!(
            out,
            "{indent}attribute level {} id {:08x}: {} bytes",
            a.level,
            a.id,
            a.data.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(level: u8, id: u32, data: &[u8]) -> Vec<u8> {
        let mut v = vec![level];
        v.extend_from_slice(&id.to_le_bytes());
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        let sum = data.iter().fold(0u16, |s, &b| s.wrapping_add(b as u16));
        v.extend_from_slice(&sum.to_le_bytes());
        v
    }

    #[test]
    fn synthetic_stream() {
        let mut s = SIGNATURE.to_le_bytes().to_vec();
        s.extend_from_slice(&0x1234u16.to_le_bytes());
        s.extend(attr(1, ATT_OEM_CODEPAGE, &[0xe4, 0x04, 0, 0, 0, 0, 0, 0]));
        s.extend(attr(1, ATT_SUBJECT, b"Gr\xfc\xdfe\0"));
        s.extend(attr(
            1,
            ATT_DATE_SENT,
            &[0xd4, 0x07, 2, 0, 29, 0, 13, 0, 5, 0, 9, 0, 0, 0],
        ));
        // attMAPIProps: one MV_LONG, one named string (MNID_STRING, PtypString).
        let mut mp = 2u32.to_le_bytes().to_vec();
        mp.extend_from_slice(&(0x1003u16).to_le_bytes());
        mp.extend_from_slice(&0x6001u16.to_le_bytes());
        mp.extend_from_slice(&2u32.to_le_bytes());
        mp.extend_from_slice(&7u32.to_le_bytes());
        mp.extend_from_slice(&(-1i32).to_le_bytes());
        mp.extend_from_slice(&PT_UNICODE.to_le_bytes());
        mp.extend_from_slice(&0x8001u16.to_le_bytes());
        mp.extend_from_slice(&[0xAA; 16]);
        mp.extend_from_slice(&1u32.to_le_bytes());
        mp.extend_from_slice(&6u32.to_le_bytes());
        mp.extend_from_slice(&[b'k', 0, b'w', 0, 0, 0, 0, 0]); // "kw\0" padded
        mp.extend_from_slice(&1u32.to_le_bytes());
        mp.extend_from_slice(&6u32.to_le_bytes());
        mp.extend_from_slice(&[b'h', 0, b'i', 0, 0, 0, 0, 0]);
        s.extend(attr(1, ATT_MAPI_PROPS, &mp));
        s.extend(attr(
            2,
            ATT_ATTACH_REND_DATA,
            &[1, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0],
        ));
        s.extend(attr(2, ATT_ATTACH_TITLE, b"a.txt\0"));
        s.extend(attr(2, ATT_ATTACH_DATA, b"hello"));
        let t = decode(&s).unwrap();
        assert_eq!(t.key, 0x1234);
        assert_eq!(get_str(&t.props, 0x0037), Some("Grüße"));
        assert_eq!(
            get(&t.props, PR_CLIENT_SUBMIT_TIME).map(|v| v.to_string()).as_deref(),
            Some("2004-02-29 13:05:09")
        );
        assert_eq!(
            get(&t.props, tag(0x6001, 0x1003)),
            Some(&PropVal::Multi(vec![PropVal::Long(7), PropVal::Long(-1)]))
        );
        let named = t.props.iter().find(|p| p.name.is_some()).unwrap();
        assert_eq!(named.name, Some(PropName::Name([0xAA; 16], "kw".into())));
        assert_eq!(named.value, PropVal::String("hi".into()));
        assert_eq!(t.attachments.len(), 1);
        assert_eq!(t.attachments[0].filename(), Some("a.txt"));
        assert_eq!(t.attachments[0].data(), Some(&b"hello"[..]));

        // Flip one data byte: the checksum catches it, the partial result
        // keeps what came before.
        let mut bad = s.clone();
        let n = bad.len();
        bad[n - 4] ^= 0x20;
        let p = decode(&bad).unwrap();
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("checksum"));
        assert_eq!(get_str(&p.props, 0x0037), Some("Grüße"));
        assert_eq!(p.attachments[0].data(), Some(&b"helLo"[..]));
        for k in 0..s.len() {
            let _ = decode_partial(&s[..k]);
        }
        assert!(matches!(decode(b"not tnef"), Err(Error::BadSignature(_))));
    }
}
