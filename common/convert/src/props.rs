//! A small MAPI property model used by the decoders of this crate until
//! they are moved onto `gromox-mapi`'s types: tags are the usual 32-bit
//! `id << 16 | type` values of [MS-OXCDATA] section 2.9, values follow the
//! property types of [MS-OXCDATA] section 2.11.1.

use std::fmt::{self, Write};

/// PtypInteger16.
pub const PT_SHORT: u16 = 0x0002;
/// PtypInteger32.
pub const PT_LONG: u16 = 0x0003;
/// PtypFloating32.
pub const PT_FLOAT: u16 = 0x0004;
/// PtypFloating64.
pub const PT_DOUBLE: u16 = 0x0005;
/// PtypCurrency.
pub const PT_CURRENCY: u16 = 0x0006;
/// PtypFloatingTime.
pub const PT_APPTIME: u16 = 0x0007;
/// PtypErrorCode.
pub const PT_ERROR: u16 = 0x000A;
/// PtypBoolean.
pub const PT_BOOLEAN: u16 = 0x000B;
/// PtypObject.
pub const PT_OBJECT: u16 = 0x000D;
/// PtypInteger64.
pub const PT_I8: u16 = 0x0014;
/// PtypString8.
pub const PT_STRING8: u16 = 0x001E;
/// PtypString.
pub const PT_UNICODE: u16 = 0x001F;
/// PtypTime.
pub const PT_SYSTIME: u16 = 0x0040;
/// PtypGuid.
pub const PT_CLSID: u16 = 0x0048;
/// PtypBinary.
pub const PT_BINARY: u16 = 0x0102;
/// Multi-value flag.
pub const MV_FLAG: u16 = 0x1000;

/// Builds a tag from id and type.
pub const fn tag(id: u16, ty: u16) -> u32 {
    (id as u32) << 16 | ty as u32
}

// Tags used by the decoders ([MS-OXPROPS]).
pub const PR_MESSAGE_CLASS: u32 = tag(0x001A, PT_UNICODE);
pub const PR_SUBJECT: u32 = tag(0x0037, PT_UNICODE);
pub const PR_IMPORTANCE: u32 = tag(0x0017, PT_LONG);
pub const PR_CLIENT_SUBMIT_TIME: u32 = tag(0x0039, PT_SYSTIME);
pub const PR_MESSAGE_DELIVERY_TIME: u32 = tag(0x0E06, PT_SYSTIME);
pub const PR_LAST_MODIFICATION_TIME: u32 = tag(0x3008, PT_SYSTIME);
pub const PR_CREATION_TIME: u32 = tag(0x3007, PT_SYSTIME);
pub const PR_BODY: u32 = tag(0x1000, PT_UNICODE);
pub const PR_ATTACH_DATA_BIN: u32 = tag(0x3701, PT_BINARY);
pub const PR_ATTACH_DATA_OBJ: u32 = tag(0x3701, PT_OBJECT);
pub const PR_ATTACH_FILENAME: u32 = tag(0x3704, PT_UNICODE);
pub const PR_ATTACH_LONG_FILENAME: u32 = tag(0x3707, PT_UNICODE);
pub const PR_ATTACH_METHOD: u32 = tag(0x3705, PT_LONG);
pub const PR_ATTACH_RENDERING: u32 = tag(0x3709, PT_BINARY);
pub const PR_RENDERING_POSITION: u32 = tag(0x370B, PT_LONG);
pub const PR_DISPLAY_NAME: u32 = tag(0x3001, PT_UNICODE);
pub const PR_SENDER_NAME: u32 = tag(0x0C1A, PT_UNICODE);
pub const PR_SENDER_EMAIL_ADDRESS: u32 = tag(0x0C1F, PT_UNICODE);
pub const PR_SENDER_ADDRTYPE: u32 = tag(0x0C1E, PT_UNICODE);
pub const PR_RTF_COMPRESSED: u32 = tag(0x1009, PT_BINARY);

/// A named property's name ([MS-OXCDATA] section 2.6.1).
#[derive(Debug, Clone, PartialEq)]
pub enum PropName {
    /// MNID_ID: property set GUID and numeric id (LID).
    Id([u8; 16], u32),
    /// MNID_STRING: property set GUID and name.
    Name([u8; 16], String),
}

/// A property value.
#[derive(Debug, Clone, PartialEq)]
pub enum PropVal {
    Short(i16),
    Long(i32),
    Float(f32),
    Double(f64),
    Currency(i64),
    AppTime(f64),
    Error(u32),
    Bool(bool),
    I8(i64),
    String(String),
    /// FILETIME: 100 ns units since 1601-01-01 UTC.
    SysTime(u64),
    Guid([u8; 16]),
    Binary(Vec<u8>),
    /// PtypObject contents (for attachments: IID removed).
    Object(Vec<u8>),
    /// Multi-valued property (elements of the base type).
    Multi(Vec<PropVal>),
    /// A type this crate does not interpret, raw.
    Unknown(Vec<u8>),
}

/// One property: tag (for named properties, the id part is the one the
/// sender used, meaningful only together with `name`), optional name, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Prop {
    pub tag: u32,
    pub name: Option<PropName>,
    pub value: PropVal,
}

/// Sets `tag` in `props`, replacing an existing value of the same tag.
pub fn set(props: &mut Vec<Prop>, tag: u32, value: PropVal) {
    if let Some(p) = props.iter_mut().find(|p| p.tag == tag && p.name.is_none()) {
        p.value = value;
    } else {
        props.push(Prop { tag, name: None, value });
    }
}

/// Looks up an unnamed property by tag.
pub fn get(props: &[Prop], tag: u32) -> Option<&PropVal> {
    props
        .iter()
        .find(|p| p.tag == tag && p.name.is_none())
        .map(|p| &p.value)
}

/// Looks up a string property by id, whatever its string type.
pub fn get_str(props: &[Prop], id: u16) -> Option<&str> {
    props
        .iter()
        .find_map(|p| match (&p.value, p.name.is_none() && (p.tag >> 16) as u16 == id) {
            (PropVal::String(s), true) => Some(s.as_str()),
            _ => None,
        })
}

/// GUID in registry format.
pub fn guid_str(g: &[u8; 16]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        g[8],
        g[9],
        g[10],
        g[11],
        g[12],
        g[13],
        g[14],
        g[15]
    )
}

/// Converts a FILETIME to "YYYY-MM-DD hh:mm:ss" UTC.
pub fn filetime_str(ft: u64) -> String {
    let secs = (ft / 10_000_000) as i64 - 11_644_473_600;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// FILETIME of a UTC civil date and time; `None` if out of range.
pub fn filetime(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<u64> {
    let secs = days_from_civil(y, mo, d) * 86400 + (h * 3600 + mi * 60 + s) as i64;
    let ft = (secs + 11_644_473_600).checked_mul(10_000_000)?;
    u64::try_from(ft).ok()
}

fn hex_short(b: &[u8], out: &mut String) {
    let n = b.len().min(32);
    for x in &b[..n] {
        let _ = write!(out, "{x:02x}");
    }
    if b.len() > n {
        let _ = write!(out, "... ({} bytes, fnv {:016x})", b.len(), fnv(b));
    }
}

/// FNV-1a hash, for compact dumps of long binary values.
pub fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

impl fmt::Display for PropVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropVal::Short(v) => write!(f, "{v}"),
            PropVal::Long(v) => write!(f, "{v}"),
            PropVal::Float(v) => write!(f, "{v}"),
            PropVal::Double(v) | PropVal::AppTime(v) => write!(f, "{v}"),
            PropVal::Currency(v) | PropVal::I8(v) => write!(f, "{v}"),
            PropVal::Error(v) => write!(f, "error {v:#x}"),
            PropVal::Bool(v) => write!(f, "{v}"),
            PropVal::String(s) => {
                let mut e = s.escape_debug().to_string();
                if e.len() > 200 {
                    let mut cut = 200;
                    while !e.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    e = format!(
                        "{}... ({} chars, fnv {:016x})",
                        &e[..cut],
                        s.chars().count(),
                        fnv(s.as_bytes())
                    );
                }
                write!(f, "\"{e}\"")
            }
            PropVal::SysTime(t) => write!(f, "{}", filetime_str(*t)),
            PropVal::Guid(g) => write!(f, "{{{}}}", guid_str(g)),
            PropVal::Binary(b) | PropVal::Object(b) | PropVal::Unknown(b) => {
                let mut s = String::new();
                hex_short(b, &mut s);
                write!(f, "[{s}]")
            }
            PropVal::Multi(v) => {
                write!(f, "[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{x}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// Writes one property per line, `indent`ed, into `out`.
pub fn dump_props(props: &[Prop], indent: &str, out: &mut String) {
    for p in props {
        match &p.name {
            None => {
                let _ = writeln!(out, "{indent}{:08x} = {}", p.tag, p.value);
            }
            Some(PropName::Id(g, id)) => {
                let _ = writeln!(
                    out,
                    "{indent}{{{}}}:{id:#x}/{:04x} = {}",
                    guid_str(g),
                    p.tag & 0xffff,
                    p.value
                );
            }
            Some(PropName::Name(g, n)) => {
                let _ = writeln!(
                    out,
                    "{indent}{{{}}}:\"{}\"/{:04x} = {}",
                    guid_str(g),
                    n.escape_debug(),
                    p.tag & 0xffff,
                    p.value
                );
            }
        }
    }
}

// Tags used by the MIME conversion ([MS-OXPROPS], [MS-OXCMAIL]).
pub const PR_SUBJECT_PREFIX: u32 = tag(0x003D, PT_UNICODE);
pub const PR_NORMALIZED_SUBJECT: u32 = tag(0x0E1D, PT_UNICODE);
pub const PR_SENT_REPRESENTING_NAME: u32 = tag(0x0042, PT_UNICODE);
pub const PR_SENT_REPRESENTING_ADDRTYPE: u32 = tag(0x0064, PT_UNICODE);
pub const PR_SENT_REPRESENTING_EMAIL_ADDRESS: u32 = tag(0x0065, PT_UNICODE);
pub const PR_SENT_REPRESENTING_SMTP_ADDRESS: u32 = tag(0x5D02, PT_UNICODE);
pub const PR_SENDER_SMTP_ADDRESS: u32 = tag(0x5D01, PT_UNICODE);
pub const PR_REPLY_RECIPIENT_NAMES: u32 = tag(0x0050, PT_UNICODE);
pub const PR_DISPLAY_TO: u32 = tag(0x0E04, PT_UNICODE);
pub const PR_DISPLAY_CC: u32 = tag(0x0E03, PT_UNICODE);
pub const PR_DISPLAY_BCC: u32 = tag(0x0E02, PT_UNICODE);
pub const PR_RECIPIENT_TYPE: u32 = tag(0x0C15, PT_LONG);
pub const PR_ADDRTYPE: u32 = tag(0x3002, PT_UNICODE);
pub const PR_EMAIL_ADDRESS: u32 = tag(0x3003, PT_UNICODE);
pub const PR_SMTP_ADDRESS: u32 = tag(0x39FE, PT_UNICODE);
pub const PR_OBJECT_TYPE: u32 = tag(0x0FFE, PT_LONG);
pub const PR_DISPLAY_TYPE: u32 = tag(0x3900, PT_LONG);
pub const PR_INTERNET_MESSAGE_ID: u32 = tag(0x1035, PT_UNICODE);
pub const PR_IN_REPLY_TO_ID: u32 = tag(0x1042, PT_UNICODE);
pub const PR_INTERNET_REFERENCES: u32 = tag(0x1039, PT_UNICODE);
pub const PR_PRIORITY: u32 = tag(0x0026, PT_LONG);
pub const PR_SENSITIVITY: u32 = tag(0x0036, PT_LONG);
pub const PR_CONVERSATION_TOPIC: u32 = tag(0x0070, PT_UNICODE);
pub const PR_CONVERSATION_INDEX: u32 = tag(0x0071, PT_BINARY);
pub const PR_READ_RECEIPT_REQUESTED: u32 = tag(0x0029, PT_BOOLEAN);
pub const PR_ORIGINATOR_DELIVERY_REPORT_REQUESTED: u32 = tag(0x0023, PT_BOOLEAN);
pub const PR_AUTO_RESPONSE_SUPPRESS: u32 = tag(0x3FDF, PT_LONG);
pub const PR_TRANSPORT_MESSAGE_HEADERS: u32 = tag(0x007D, PT_UNICODE);
pub const PR_HTML: u32 = tag(0x1013, PT_BINARY);
pub const PR_INTERNET_CPID: u32 = tag(0x3FDE, PT_LONG);
pub const PR_MESSAGE_FLAGS: u32 = tag(0x0E07, PT_LONG);
pub const PR_HASATTACH: u32 = tag(0x0E1B, PT_BOOLEAN);
pub const PR_ATTACH_EXTENSION: u32 = tag(0x3703, PT_UNICODE);
pub const PR_ATTACH_MIME_TAG: u32 = tag(0x370E, PT_UNICODE);
pub const PR_ATTACH_CONTENT_ID: u32 = tag(0x3712, PT_UNICODE);
pub const PR_ATTACH_CONTENT_LOCATION: u32 = tag(0x3713, PT_UNICODE);
pub const PR_ATTACH_FLAGS: u32 = tag(0x3714, PT_LONG);
pub const PR_ATTACH_SIZE: u32 = tag(0x0E20, PT_LONG);
pub const PR_ATTACHMENT_HIDDEN: u32 = tag(0x7FFE, PT_BOOLEAN);
pub const PR_ATTACH_CONTENT_DESCRIPTION: u32 = tag(0x3711, PT_UNICODE);

pub const PR_SENT_REPRESENTING_ENTRYID: u32 = tag(0x0041, PT_BINARY);
pub const PR_SENT_REPRESENTING_SEARCH_KEY: u32 = tag(0x003B, PT_BINARY);
pub const PR_SENDER_ENTRYID: u32 = tag(0x0C19, PT_BINARY);
pub const PR_SENDER_SEARCH_KEY: u32 = tag(0x0C1D, PT_BINARY);
pub const PR_REPLY_RECIPIENT_ENTRIES: u32 = tag(0x004F, PT_BINARY);
pub const PR_ENTRYID: u32 = tag(0x0FFF, PT_BINARY);
pub const PR_SEARCH_KEY: u32 = tag(0x300B, PT_BINARY);

/// PS_PUBLIC_STRINGS {00020329-0000-0000-C000-000000000046}.
pub const PS_PUBLIC_STRINGS: [u8; 16] = [
    0x29, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];
/// PS_INTERNET_HEADERS {00020386-0000-0000-C000-000000000046}.
pub const PS_INTERNET_HEADERS: [u8; 16] = [
    0x86, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_conversions() {
        let ft = filetime(2004, 2, 29, 13, 5, 9).unwrap();
        assert_eq!(filetime_str(ft), "2004-02-29 13:05:09");
        assert_eq!(filetime(1601, 1, 1, 0, 0, 0), Some(0));
        assert_eq!(filetime(1600, 12, 31, 0, 0, 0), None);
    }
}
