//! Response encoding (RFC 9051 §7, §9 `response`): strings, NIL, ENVELOPE and BODYSTRUCTURE.
//!
//! Everything writes into a caller-owned, reused `Vec<u8>`; nothing here allocates per call
//! beyond what the output needs.

use std::io::Write as _;

use crate::command::DateTime;

/// Longest string sent as a quoted string; longer ones become literals.
const QUOTED_MAX: usize = 1024;

/// Whether `s` may be sent as a quoted string (RFC 9051 §4.3: no CR, LF or NUL; we also
/// send 8-bit data as literals unless `utf8` is on).
fn quotable(s: &[u8], utf8: bool) -> bool {
    s.len() <= QUOTED_MAX
        && s.iter()
            .all(|&b| b != 0 && b != b'\r' && b != b'\n' && (utf8 || b < 0x80))
        && (!utf8 || std::str::from_utf8(s).is_ok())
}

/// Write `s` as a quoted string when possible, otherwise as a literal (`{n}` CRLF bytes).
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    string_mode(out, s, false)
}

/// [`string`], allowing UTF-8 in quoted strings (IMAP4rev2 / UTF8=ACCEPT).
pub fn string_mode(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    if quotable(s, utf8) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// Write a literal: `{n}` CRLF then the bytes.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    let _ = write!(out, "{{{}}}\r\n", s.len());
    out.extend_from_slice(s);
}

/// `nstring`: NIL or a string.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// A mailbox name: modified UTF-7 (RFC 3501 §5.1.3) unless `utf8` (IMAP4rev2 enabled).
pub fn mailbox(out: &mut Vec<u8>, name: &str, utf8: bool) {
    if utf8 {
        string_mode(out, name.as_bytes(), true)
    } else {
        let e = crate::utf7::encode(name);
        // An atom would do for many names; a quoted string is always valid and clients
        // handle it, so the choice is kept simple.
        string(out, e.as_bytes())
    }
}

/// A parenthesised flag list, e.g. `(\Seen $Junk)`.
pub fn flags<S: AsRef<str>>(out: &mut Vec<u8>, flags: &[S]) {
    out.push(b'(');
    for (i, f) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(f.as_ref().as_bytes());
    }
    out.push(b')');
}

/// A sequence set in compact form from sorted numbers: `1:3,7,9:10`.
pub fn seq_set(out: &mut Vec<u8>, nums: &[u32]) {
    let mut i = 0;
    let mut first = true;
    while i < nums.len() {
        let start = nums[i];
        let mut end = start;
        while i + 1 < nums.len() && nums[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = nums[i];
        }
        if !first {
            out.push(b',');
        }
        first = false;
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}:{end}");
        }
        i += 1;
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `date-time` (RFC 9051 §9), e.g. `"17-Jul-1996 02:44:25 -0700"`.
pub fn date_time(out: &mut Vec<u8>, dt: &DateTime) {
    let z = dt.zone_minutes;
    let sign = if z < 0 { '-' } else { '+' };
    let z = z.unsigned_abs();
    let _ = write!(
        out,
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}\"",
        dt.date.day,
        MONTHS[(dt.date.month.clamp(1, 12) - 1) as usize],
        dt.date.year,
        dt.hour,
        dt.minute,
        dt.second,
        sign,
        z / 60,
        z % 60
    );
}

/// One address of an ENVELOPE (RFC 9051 §7.5.2 `address`). Group syntax (RFC 5322 §3.4) is
/// represented as in RFC 9051: a start marker with `host = None` and the group name in
/// `mailbox`, an end marker with `mailbox = None` and `host = None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

/// ENVELOPE data (RFC 9051 §7.5.2): header values as they appear (not decoded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

fn addresses(out: &mut Vec<u8>, list: &[Address]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        nstring(out, a.name.as_deref());
        out.push(b' ');
        nstring(out, a.adl.as_deref());
        out.push(b' ');
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

impl Envelope {
    /// Serialise as `(date subject from sender reply-to to cc bcc in-reply-to message-id)`.
    /// Per RFC 9051 §7.5.2, empty sender/reply-to default to from.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'(');
        nstring(out, self.date.as_deref());
        out.push(b' ');
        nstring(out, self.subject.as_deref());
        out.push(b' ');
        addresses(out, &self.from);
        out.push(b' ');
        addresses(
            out,
            if self.sender.is_empty() {
                &self.from
            } else {
                &self.sender
            },
        );
        out.push(b' ');
        addresses(
            out,
            if self.reply_to.is_empty() {
                &self.from
            } else {
                &self.reply_to
            },
        );
        out.push(b' ');
        addresses(out, &self.to);
        out.push(b' ');
        addresses(out, &self.cc);
        out.push(b' ');
        addresses(out, &self.bcc);
        out.push(b' ');
        nstring(out, self.in_reply_to.as_deref());
        out.push(b' ');
        nstring(out, self.message_id.as_deref());
        out.push(b')');
    }
}

/// `body-fld-dsp`: disposition type and parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disposition {
    pub kind: String,
    pub params: Vec<(String, String)>,
}

/// Extension data common to all parts (RFC 9051 §7.5.2 `body-ext-1part` / `body-ext-mpart`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BodyExt {
    /// Content-MD5 (single parts only).
    pub md5: Option<String>,
    pub disposition: Option<Disposition>,
    pub language: Vec<String>,
    pub location: Option<String>,
}

/// BODYSTRUCTURE data (RFC 9051 §7.5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    /// A non-multipart part.
    Single {
        /// e.g. `TEXT`
        media_type: String,
        /// e.g. `PLAIN`
        subtype: String,
        params: Vec<(String, String)>,
        id: Option<String>,
        description: Option<String>,
        /// Content-Transfer-Encoding, default `7BIT`.
        encoding: String,
        /// Octets of the (encoded) body.
        size: u64,
        /// Lines of the body, for `TEXT/*` and `MESSAGE/RFC822`.
        lines: Option<u64>,
        /// For `MESSAGE/RFC822`: the encapsulated message's envelope and structure.
        message: Option<Box<(Envelope, BodyStructure)>>,
        ext: BodyExt,
    },
    /// A multipart.
    Multi {
        parts: Vec<BodyStructure>,
        subtype: String,
        params: Vec<(String, String)>,
        ext: BodyExt,
    },
}

fn params(out: &mut Vec<u8>, p: &[(String, String)]) {
    if p.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in p.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, k.as_bytes());
        out.push(b' ');
        string(out, v.as_bytes());
    }
    out.push(b')');
}

fn opt(out: &mut Vec<u8>, s: &Option<String>) {
    nstring(out, s.as_deref().map(str::as_bytes));
}

fn ext_tail(out: &mut Vec<u8>, ext: &BodyExt) {
    out.push(b' ');
    match &ext.disposition {
        Some(d) => {
            out.push(b'(');
            string(out, d.kind.as_bytes());
            out.push(b' ');
            params(out, &d.params);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match ext.language.len() {
        0 => out.extend_from_slice(b"NIL"),
        1 => string(out, ext.language[0].as_bytes()),
        _ => {
            out.push(b'(');
            for (i, l) in ext.language.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, l.as_bytes());
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    opt(out, &ext.location);
}

impl BodyStructure {
    /// Serialise; `extensible` selects BODYSTRUCTURE (with extension data) over BODY.
    pub fn write(&self, out: &mut Vec<u8>, extensible: bool) {
        match self {
            BodyStructure::Single {
                media_type,
                subtype,
                params: p,
                id,
                description,
                encoding,
                size,
                lines,
                message,
                ext,
            } => {
                out.push(b'(');
                string(out, media_type.as_bytes());
                out.push(b' ');
                string(out, subtype.as_bytes());
                out.push(b' ');
                params(out, p);
                out.push(b' ');
                opt(out, id);
                out.push(b' ');
                opt(out, description);
                out.push(b' ');
                string(out, encoding.as_bytes());
                let _ = write!(out, " {size}");
                if let Some(m) = message {
                    out.push(b' ');
                    m.0.write(out);
                    out.push(b' ');
                    m.1.write(out, extensible);
                }
                if let Some(l) = lines {
                    let _ = write!(out, " {l}");
                }
                if extensible {
                    out.push(b' ');
                    opt(out, &ext.md5);
                    ext_tail(out, ext);
                }
                out.push(b')');
            }
            BodyStructure::Multi {
                parts,
                subtype,
                params: p,
                ext,
            } => {
                out.push(b'(');
                for part in parts {
                    part.write(out, extensible);
                }
                out.push(b' ');
                string(out, subtype.as_bytes());
                if extensible {
                    out.push(b' ');
                    params(out, p);
                    ext_tail(out, ext);
                }
                out.push(b')');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Date;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings() {
        assert_eq!(s(|o| string(o, b"a \"q\" \\")), r#""a \"q\" \\""#);
        assert_eq!(s(|o| string(o, b"two\r\nlines")), "{10}\r\ntwo\r\nlines");
        assert_eq!(s(|o| nstring(o, None)), "NIL");
        assert_eq!(s(|o| string_mode(o, "ü".as_bytes(), false)), "{2}\r\nü");
        assert_eq!(s(|o| string_mode(o, "ü".as_bytes(), true)), "\"ü\"");
        assert_eq!(s(|o| mailbox(o, "Entwürfe", false)), "\"Entw&APw-rfe\"");
    }

    #[test]
    fn seqset_and_date() {
        assert_eq!(s(|o| seq_set(o, &[1, 2, 3, 7, 9, 10])), "1:3,7,9:10");
        let dt = DateTime {
            date: Date {
                year: 1996,
                month: 7,
                day: 17,
            },
            hour: 2,
            minute: 44,
            second: 25,
            zone_minutes: -420,
        };
        assert_eq!(s(|o| date_time(o, &dt)), "\"17-Jul-1996 02:44:25 -0700\"");
    }

    #[test]
    fn bodystructure_text_and_multipart() {
        let text = BodyStructure::Single {
            media_type: "TEXT".into(),
            subtype: "PLAIN".into(),
            params: vec![("CHARSET".into(), "US-ASCII".into())],
            id: None,
            description: None,
            encoding: "7BIT".into(),
            size: 3028,
            lines: Some(92),
            message: None,
            ext: BodyExt::default(),
        };
        // RFC 9051 §7.5.2 example
        assert_eq!(
            s(|o| text.write(o, false)),
            r#"("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)"#
        );
        let multi = BodyStructure::Multi {
            parts: vec![text.clone(), text],
            subtype: "MIXED".into(),
            params: vec![("BOUNDARY".into(), "x".into())],
            ext: BodyExt::default(),
        };
        let w = s(|o| multi.write(o, true));
        assert!(w.starts_with("((\"TEXT\""), "{w}");
        assert!(w.ends_with(") \"MIXED\" (\"BOUNDARY\" \"x\") NIL NIL NIL)"), "{w}");
    }
}
