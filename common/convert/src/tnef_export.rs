//! TNEF encoder ([MS-OXTNEF]), the inverse of [`crate::tnef::decode`]:
//! writes a message as a `winmail.dat` / `application/ms-tnef` stream.
//!
//! Layout ([MS-OXTNEF] section 2.1.3.1): signature, legacy key, then
//! message attributes — attTnefVersion, attOemCodepage, attMessageClass,
//! attMAPIProps with every message property (named ones with their
//! property set and name, section 2.1.3.4), attRecipTable with the
//! recipient rows — and per attachment attAttachRendData, attAttachTitle,
//! attAttachData and attAttachment (all attachment properties; an
//! embedded message is a PtypObject of IID_IMessage followed by its own
//! TNEF stream). Every attribute carries its checksum (section 2.1.3.2).
//! Legacy text attributes are Windows-1252; the MAPI property lists carry
//! the full Unicode values.

use crate::message::{Attachment, MessageContent};
use crate::props::*;
use crate::tnef::*;

/// IID_IMessage: PtypObject data of an embedded message.
const IID_IMESSAGE: [u8; 16] = [
    0x07, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];
/// IID_IStorage: PtypObject data of an OLE attachment.
const IID_ISTORAGE: [u8; 16] = [
    0x0B, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];
/// Nesting limit of embedded messages (as the decoder's).
const MAX_DEPTH: usize = 8;

/// Encodes a message as a TNEF stream ([MS-OXTNEF] section 2.1.3).
pub fn encode(m: &MessageContent) -> Vec<u8> {
    encode_depth(m, 0)
}

fn encode_depth(m: &MessageContent, depth: usize) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&SIGNATURE.to_le_bytes());
    // The legacy key only has to be non-zero ([MS-OXTNEF] 2.1.3.1).
    let key = (fnv(get_str(&m.props, 0x0037).unwrap_or("").as_bytes()) as u16).max(1);
    out.extend_from_slice(&key.to_le_bytes());
    attr(&mut out, LVL_MESSAGE, ATT_TNEF_VERSION, &0x0001_0000u32.to_le_bytes());
    let mut cp = 1252u32.to_le_bytes().to_vec();
    cp.extend_from_slice(&0u32.to_le_bytes());
    attr(&mut out, LVL_MESSAGE, ATT_OEM_CODEPAGE, &cp);
    let class = get_str(&m.props, 0x001A).unwrap_or("IPM.Note");
    attr(&mut out, LVL_MESSAGE, ATT_MESSAGE_CLASS, &string8(class));
    attr(&mut out, LVL_MESSAGE, ATT_MAPI_PROPS, &prop_list(&m.props));
    if !m.recipients.is_empty() {
        let mut t = (m.recipients.len() as u32).to_le_bytes().to_vec();
        for r in &m.recipients {
            t.extend_from_slice(&prop_list(r));
        }
        attr(&mut out, LVL_MESSAGE, ATT_RECIP_TABLE, &t);
    }
    for a in &m.attachments {
        attachment(&mut out, a, depth);
    }
    out
}

fn attachment(out: &mut Vec<u8>, a: &Attachment, depth: usize) {
    let method = match get(&a.props, PR_ATTACH_METHOD) {
        Some(PropVal::Long(v)) => *v,
        _ => 1,
    };
    let pos = match get(&a.props, PR_RENDERING_POSITION) {
        Some(PropVal::Long(v)) => *v as u32,
        _ => u32::MAX,
    };
    // attAttachRendData ([MS-OXTNEF] 2.1.3.3.19): type, position,
    // width, height, flags.
    let mut rend = Vec::with_capacity(14);
    rend.extend_from_slice(&(if method == 6 { 2u16 } else { 1u16 }).to_le_bytes());
    rend.extend_from_slice(&pos.to_le_bytes());
    rend.extend_from_slice(&[0; 8]);
    attr(out, LVL_ATTACHMENT, ATT_ATTACH_REND_DATA, &rend);
    let name = get_str(&a.props, 0x3707)
        .or_else(|| get_str(&a.props, 0x3704))
        .or_else(|| get_str(&a.props, 0x3001));
    if let Some(n) = name {
        attr(out, LVL_ATTACHMENT, ATT_ATTACH_TITLE, &string8(n));
    }
    let data = match get(&a.props, PR_ATTACH_DATA_BIN) {
        Some(PropVal::Binary(b)) => Some(b),
        _ => None,
    };
    if let Some(d) = data {
        attr(out, LVL_ATTACHMENT, ATT_ATTACH_DATA, d);
    }
    // attAttachment: every property but the data already in attAttachData,
    // plus the embedded message as PR_ATTACH_DATA_OBJ.
    let mut props: Vec<Prop> = a
        .props
        .iter()
        .filter(|p| !(p.name.is_none() && p.tag == PR_ATTACH_DATA_BIN))
        .map(|p| match (&p.value, p.name.is_none() && p.tag == PR_ATTACH_DATA_OBJ) {
            // OLE storage bytes were kept without their IID.
            (PropVal::Object(o), true) => {
                let mut v = IID_ISTORAGE.to_vec();
                v.extend_from_slice(o);
                Prop {
                    tag: p.tag,
                    name: None,
                    value: PropVal::Object(v),
                }
            }
            _ => p.clone(),
        })
        .collect();
    if let Some(e) = &a.embedded {
        if depth < MAX_DEPTH {
            let mut v = IID_IMESSAGE.to_vec();
            v.extend_from_slice(&encode_depth(e, depth + 1));
            props.retain(|p| !(p.name.is_none() && p.tag == PR_ATTACH_DATA_OBJ));
            props.push(Prop {
                tag: PR_ATTACH_DATA_OBJ,
                name: None,
                value: PropVal::Object(v),
            });
        }
    }
    attr(out, LVL_ATTACHMENT, ATT_ATTACHMENT, &prop_list(&props));
}

/// One attribute: level, id, length, data, checksum ([MS-OXTNEF] 2.1.3.2).
fn attr(out: &mut Vec<u8>, level: u8, id: u32, data: &[u8]) {
    out.push(level);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    let sum = data.iter().fold(0u16, |s, &b| s.wrapping_add(b as u16));
    out.extend_from_slice(&sum.to_le_bytes());
}

/// NUL-terminated Windows-1252 text of a legacy attribute.
fn string8(s: &str) -> Vec<u8> {
    let (b, _, _) = encoding_rs::WINDOWS_1252.encode(s);
    let mut v: Vec<u8> = b.into_owned();
    v.retain(|c| *c != 0);
    v.push(0);
    v
}

fn pad4(b: &mut Vec<u8>, start: usize) {
    while !(b.len() - start).is_multiple_of(4) {
        b.push(0);
    }
}

/// The property type a value is written as: the tag's type when the
/// value fits it, else one derived from the value; `None` for values
/// that cannot be written.
fn value_type(tag_ty: u16, v: &PropVal) -> Option<u16> {
    let base = |v: &PropVal, hint: u16| -> Option<u16> {
        Some(match v {
            PropVal::Short(_) => PT_SHORT,
            PropVal::Long(_) => PT_LONG,
            PropVal::Float(_) => PT_FLOAT,
            PropVal::Double(_) => PT_DOUBLE,
            PropVal::Currency(_) => PT_CURRENCY,
            PropVal::AppTime(_) => PT_APPTIME,
            PropVal::Error(_) => PT_ERROR,
            PropVal::Bool(_) => PT_BOOLEAN,
            PropVal::I8(_) => PT_I8,
            PropVal::String(_) => PT_UNICODE,
            PropVal::SysTime(_) => PT_SYSTIME,
            PropVal::Guid(_) => PT_CLSID,
            PropVal::Binary(_) => PT_BINARY,
            PropVal::Object(_) => PT_OBJECT,
            PropVal::Unknown(b) if hint == 0x0001 && b.len() == 4 => 0x0001,
            _ => return None,
        })
    };
    match v {
        PropVal::Multi(items) => {
            let want = tag_ty & !MV_FLAG;
            let ty = match items.first() {
                Some(f) => base(f, want)?,
                None if want != 0 => want,
                None => return None,
            };
            // Every element must be of the same type; no multi-valued objects.
            if ty == PT_OBJECT || ty == 0x0001 || items.iter().any(|x| base(x, want) != Some(ty)) {
                return None;
            }
            Some(MV_FLAG | ty)
        }
        v => base(v, tag_ty),
    }
}

fn write_value(b: &mut Vec<u8>, v: &PropVal) {
    let start = b.len();
    match v {
        PropVal::Short(x) => b.extend_from_slice(&x.to_le_bytes()),
        PropVal::Long(x) => b.extend_from_slice(&x.to_le_bytes()),
        PropVal::Float(x) => b.extend_from_slice(&x.to_bits().to_le_bytes()),
        PropVal::Double(x) | PropVal::AppTime(x) => b.extend_from_slice(&x.to_bits().to_le_bytes()),
        PropVal::Currency(x) | PropVal::I8(x) => b.extend_from_slice(&x.to_le_bytes()),
        PropVal::Error(x) => b.extend_from_slice(&x.to_le_bytes()),
        PropVal::Bool(x) => b.extend_from_slice(&(*x as u32).to_le_bytes()),
        PropVal::SysTime(x) => b.extend_from_slice(&x.to_le_bytes()),
        PropVal::Guid(g) => b.extend_from_slice(g),
        PropVal::Unknown(raw) => b.extend_from_slice(raw),
        PropVal::String(s) => {
            let mut u: Vec<u8> = s
                .encode_utf16()
                .filter(|c| *c != 0)
                .flat_map(u16::to_le_bytes)
                .collect();
            u.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&(u.len() as u32).to_le_bytes());
            let vs = b.len();
            b.extend_from_slice(&u);
            pad4(b, vs);
            return;
        }
        PropVal::Binary(d) | PropVal::Object(d) => {
            b.extend_from_slice(&(d.len() as u32).to_le_bytes());
            let vs = b.len();
            b.extend_from_slice(d);
            pad4(b, vs);
            return;
        }
        PropVal::Multi(_) => {}
    }
    pad4(b, start);
}

/// Encodes a property list ([MS-OXTNEF] section 2.1.3.4): count, then per
/// property type, id, for named properties the property set GUID and the
/// LID or UTF-16 name, and the value(s). Named properties get ids from
/// 0x8000 on, one per distinct name.
pub fn prop_list(props: &[Prop]) -> Vec<u8> {
    let mut b = Vec::new();
    let mut count = 0u32;
    b.extend_from_slice(&0u32.to_le_bytes());
    let mut names: Vec<&PropName> = Vec::new();
    for p in props {
        let Some(ty) = value_type((p.tag & 0xFFFF) as u16, &p.value) else {
            continue;
        };
        let id = match &p.name {
            Some(n) => {
                let i = names.iter().position(|x| *x == n).unwrap_or_else(|| {
                    names.push(n);
                    names.len() - 1
                });
                match u16::try_from(0x8000 + i) {
                    Ok(id) => id,
                    Err(_) => continue,
                }
            }
            None if p.tag >> 16 >= 0x8000 => continue, // a named id without its name
            None => (p.tag >> 16) as u16,
        };
        count += 1;
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&id.to_le_bytes());
        match &p.name {
            Some(PropName::Id(g, lid)) => {
                b.extend_from_slice(g);
                b.extend_from_slice(&0u32.to_le_bytes());
                b.extend_from_slice(&lid.to_le_bytes());
            }
            Some(PropName::Name(g, n)) => {
                b.extend_from_slice(g);
                b.extend_from_slice(&1u32.to_le_bytes());
                let mut u: Vec<u8> = n
                    .encode_utf16()
                    .filter(|c| *c != 0)
                    .flat_map(u16::to_le_bytes)
                    .collect();
                u.extend_from_slice(&[0, 0]);
                b.extend_from_slice(&(u.len() as u32).to_le_bytes());
                let s = b.len();
                b.extend_from_slice(&u);
                pad4(&mut b, s);
            }
            None => {}
        }
        match &p.value {
            PropVal::Multi(items) => {
                b.extend_from_slice(&(items.len() as u32).to_le_bytes());
                for x in items {
                    write_value(&mut b, x);
                }
            }
            v @ (PropVal::String(_) | PropVal::Binary(_) | PropVal::Object(_)) => {
                // Single-valued variable-size values carry a count of 1.
                b.extend_from_slice(&1u32.to_le_bytes());
                write_value(&mut b, v);
            }
            v => write_value(&mut b, v),
        }
    }
    b[0..4].copy_from_slice(&count.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_and_framing() {
        let mut m = MessageContent::default();
        m.set(PR_SUBJECT, PropVal::String("Grüße".into()));
        let b = encode(&m);
        assert_eq!(&b[0..4], &SIGNATURE.to_le_bytes());
        let t = decode(&b).unwrap();
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
        assert_eq!(get_str(&t.props, 0x0037), Some("Grüße"));
        assert_eq!(get_str(&t.props, 0x001A), Some("IPM.Note"));
    }
}
