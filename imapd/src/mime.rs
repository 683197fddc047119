//! A small MIME (RFC 2045/2046) and RFC 5322 reader for what IMAP needs from a message:
//! the part tree for `BODY[section]` (RFC 9051 §6.4.5), ENVELOPE and BODYSTRUCTURE
//! (RFC 9051 §7.5.2). Parsing is over a borrowed buffer and records byte ranges; it never
//! fails (malformed input yields a best-effort tree) and bounds nesting depth.

use std::ops::Range;

use crate::command::{Section, SectionText};
use crate::encode::{Address, BodyExt, BodyStructure, Disposition, Envelope};

/// Deepest multipart/message nesting followed.
const MAX_DEPTH: usize = 32;
/// Most parts in one multipart.
const MAX_PARTS: usize = 1000;

/// One entity of the part tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Header block, including the blank line that ends it.
    pub header: Range<usize>,
    /// Body octets.
    pub body: Range<usize>,
    /// Lower-cased media type and subtype.
    pub media_type: String,
    pub subtype: String,
    /// Content-Type parameters (names lower-cased).
    pub params: Vec<(String, String)>,
    /// Sub-parts of a multipart.
    pub children: Vec<Part>,
    /// The encapsulated message of a `message/rfc822` part.
    pub message: Option<Box<Part>>,
}

/// Iterate over the header fields of a header block: `(name, raw value)` with folding
/// still in the value.
pub fn fields(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || loop {
        if pos >= header.len() {
            return None;
        }
        let start = pos;
        // Field ends at a newline not followed by WSP.
        let mut end = pos;
        loop {
            match header[end..].iter().position(|&b| b == b'\n') {
                Some(i) => {
                    end += i + 1;
                    if end < header.len() && (header[end] == b' ' || header[end] == b'\t') {
                        continue;
                    }
                    break;
                }
                None => {
                    end = header.len();
                    break;
                }
            }
        }
        pos = end;
        let line = &header[start..end];
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = trim(&line[..colon]);
            if !name.is_empty() && !name.contains(&b' ') {
                return Some((name, trim(&line[colon + 1..])));
            }
        }
    })
}

fn trim(s: &[u8]) -> &[u8] {
    let a = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let b = s.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(a, |i| i + 1);
    &s[a..b]
}

/// Unfold a header value (RFC 5322 §2.2.3): CRLF/LF before whitespace is removed.
pub fn unfold(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\r' && v.get(i + 1) == Some(&b'\n') {
            i += 2;
        } else if v[i] == b'\n' {
            i += 1;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    out
}

/// First value of header `name` (case-insensitive), unfolded.
pub fn header_value(header: &[u8], name: &str) -> Option<Vec<u8>> {
    fields(header)
        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| unfold(v))
}

/// Split header and body: the header ends with the first empty line.
fn split(raw: &[u8], range: Range<usize>) -> (Range<usize>, Range<usize>) {
    let s = &raw[range.clone()];
    if s.starts_with(b"\r\n") {
        return (range.start..range.start + 2, range.start + 2..range.end);
    }
    if s.starts_with(b"\n") {
        return (range.start..range.start + 1, range.start + 1..range.end);
    }
    let mut i = 0;
    while let Some(p) = s[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        let rest = &s[nl + 1..];
        if rest.starts_with(b"\r\n") {
            let h = range.start + nl + 3;
            return (range.start..h, h..range.end);
        }
        if rest.starts_with(b"\n") {
            let h = range.start + nl + 2;
            return (range.start..h, h..range.end);
        }
        i = nl + 1;
    }
    (range.clone(), range.end..range.end)
}

/// Parse `type/subtype; k=v; ...` (RFC 2045 §5.1).
pub fn parse_content_type(v: &[u8]) -> (String, String, Vec<(String, String)>) {
    let s = String::from_utf8_lossy(v);
    let mut it = split_params(&s).into_iter();
    let ty = it.next().unwrap_or_default();
    let (t, st) = match ty.split_once('/') {
        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() => {
            (a.trim().to_ascii_lowercase(), b.trim().to_ascii_lowercase())
        }
        _ => ("text".into(), "plain".into()),
    };
    (t, st, rfc2231(it.filter_map(|p| param(&p)).collect()))
}

/// Join RFC 2231 parameters: `name*=charset'lang'value` (percent-encoded) and continuations
/// `name*0=`, `name*1*=` … become one `name` (the value's bytes taken as UTF-8).
fn rfc2231(params: Vec<(String, String)>) -> Vec<(String, String)> {
    if !params.iter().any(|(k, _)| k.contains('*')) {
        return params;
    }
    let decode = |v: &str, encoded: bool, first: bool| -> String {
        if !encoded {
            return v.to_string();
        }
        // Only the first encoded segment carries charset'language'.
        let v = if first {
            let mut it = v.splitn(3, '\'');
            match (it.next(), it.next(), it.next()) {
                (Some(_), Some(_), Some(rest)) => rest,
                _ => v,
            }
        } else {
            v
        };
        let b = v.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() && v.is_char_boundary(i + 3) {
                if let Ok(x) = u8::from_str_radix(&v[i + 1..i + 3], 16) {
                    out.push(x);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    let mut plain: Vec<(String, String)> = Vec::new();
    let mut joined: Vec<(String, Vec<(u32, String)>)> = Vec::new();
    for (k, v) in params {
        let Some((name, rest)) = k.split_once('*') else {
            plain.push((k, v));
            continue;
        };
        let encoded = rest.ends_with('*') || rest.is_empty();
        let idx: u32 = rest.trim_end_matches('*').parse().unwrap_or(0);
        let value = decode(&v, encoded, idx == 0);
        match joined.iter_mut().find(|(n, _)| n == name) {
            Some((_, segs)) => segs.push((idx, value)),
            None => joined.push((name.to_string(), vec![(idx, value)])),
        }
    }
    for (name, mut segs) in joined {
        segs.sort_by_key(|(i, _)| *i);
        let v: String = segs.into_iter().map(|(_, s)| s).collect();
        plain.retain(|(k, _)| *k != name);
        plain.push((name, v));
    }
    plain
}

fn param(p: &str) -> Option<(String, String)> {
    let (k, v) = p.split_once('=')?;
    let v = v.trim();
    let v = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        let inner = &v[1..v.len() - 1];
        let mut o = String::with_capacity(inner.len());
        let mut esc = false;
        for c in inner.chars() {
            if esc || c != '\\' {
                o.push(c);
                esc = false;
            } else {
                esc = true;
            }
        }
        o
    } else {
        v.to_string()
    };
    Some((k.trim().to_ascii_lowercase(), v))
}

/// Split on `;` outside quotes and comments.
fn split_params(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut q, mut depth, mut esc) = (false, 0usize, false);
    for c in s.chars() {
        if esc {
            cur.push(c);
            esc = false;
            continue;
        }
        match c {
            '\\' if q => {
                cur.push(c);
                esc = true;
            }
            '"' if depth == 0 => {
                q = !q;
                cur.push(c);
            }
            '(' if !q => depth += 1,
            ')' if !q && depth > 0 => depth -= 1,
            ';' if !q && depth == 0 => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ if depth > 0 => {}
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// Parse a message into its part tree.
pub fn parse(raw: &[u8]) -> Part {
    parse_entity(raw, 0..raw.len(), 0, false)
}

fn parse_entity(raw: &[u8], range: Range<usize>, depth: usize, digest: bool) -> Part {
    let (header, body) = split(raw, range);
    let ct = header_value(&raw[header.clone()], "content-type");
    let (media_type, subtype, params) = match ct {
        Some(v) => parse_content_type(&v),
        None if digest => ("message".into(), "rfc822".into(), Vec::new()),
        None => ("text".into(), "plain".into(), Vec::new()),
    };
    let mut part = Part {
        header,
        body: body.clone(),
        media_type,
        subtype,
        params,
        children: Vec::new(),
        message: None,
    };
    if depth >= MAX_DEPTH {
        return part;
    }
    if part.media_type == "multipart" {
        let boundary = part
            .params
            .iter()
            .find(|(k, _)| k == "boundary")
            .map(|(_, v)| v.clone());
        if let Some(b) = boundary.filter(|b| !b.is_empty()) {
            let digest = part.subtype == "digest";
            for r in split_multipart(raw, body, b.as_bytes()) {
                part.children.push(parse_entity(raw, r, depth + 1, digest));
            }
        }
        if part.children.is_empty() {
            // A multipart without parts: treat as text so sections still resolve.
            part.media_type = "text".into();
            part.subtype = "plain".into();
        }
    } else if part.media_type == "message" && (part.subtype == "rfc822" || part.subtype == "global") {
        part.message = Some(Box::new(parse_entity(raw, body, depth + 1, false)));
    }
    part
}

/// Ranges of the body parts between `--boundary` delimiter lines (RFC 2046 §5.1.1).
fn split_multipart(raw: &[u8], body: Range<usize>, boundary: &[u8]) -> Vec<Range<usize>> {
    let s = &raw[body.clone()];
    let mut parts = Vec::new();
    let mut part_start: Option<usize> = None;
    let mut line_start = 0;
    while line_start < s.len() {
        let line_end = s[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(s.len(), |i| line_start + i + 1);
        let line = &s[line_start..line_end];
        if line.len() >= 2 + boundary.len() && line.starts_with(b"--") && &line[2..2 + boundary.len()] == boundary {
            let rest = &line[2 + boundary.len()..];
            let close = rest.starts_with(b"--");
            let rest_ok = trim(if close { &rest[2..] } else { rest }).is_empty();
            if rest_ok {
                if let Some(ps) = part_start {
                    // The CRLF before the delimiter belongs to the delimiter.
                    let mut end = line_start;
                    if end > ps && s[end - 1] == b'\n' {
                        end -= 1;
                        if end > ps && s[end - 1] == b'\r' {
                            end -= 1;
                        }
                    }
                    parts.push(body.start + ps..body.start + end.max(ps));
                    if parts.len() >= MAX_PARTS {
                        return parts;
                    }
                }
                if close {
                    return parts;
                }
                part_start = Some(line_end);
            }
        }
        line_start = line_end;
    }
    if let Some(ps) = part_start {
        parts.push(body.start + ps..body.end);
    }
    parts
}

/// The part a section path names (RFC 9051 §6.4.5 part numbering).
pub fn resolve<'p>(root: &'p Part, path: &[u32]) -> Option<&'p Part> {
    let mut cur = root;
    for &n in path {
        cur = child(cur, n)?;
    }
    Some(cur)
}

fn child(p: &Part, n: u32) -> Option<&Part> {
    if !p.children.is_empty() {
        return p.children.get((n as usize).checked_sub(1)?);
    }
    if let Some(m) = &p.message {
        if !m.children.is_empty() {
            return m.children.get((n as usize).checked_sub(1)?);
        }
        return (n == 1).then_some(&**m);
    }
    (n == 1).then_some(p)
}

/// Select header fields in (`not == false`) or out of a header block; the result ends with
/// the blank line (RFC 9051 §6.4.5 HEADER.FIELDS).
pub fn filter_header(header: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 0;
    // Walk raw field spans so folding and line ends are kept as sent.
    while pos < header.len() {
        let start = pos;
        let mut end = pos;
        loop {
            match header[end..].iter().position(|&b| b == b'\n') {
                Some(i) => {
                    end += i + 1;
                    if end < header.len() && (header[end] == b' ' || header[end] == b'\t') {
                        continue;
                    }
                }
                None => end = header.len(),
            }
            break;
        }
        pos = end;
        let line = &header[start..end];
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        let hit = names.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        if hit != not {
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The bytes `section` names in `raw`, or `None` when the section does not exist
/// (RFC 9051 §6.4.5; such items are answered with an empty string).
pub fn section<'r>(raw: &'r [u8], root: &Part, sec: &Section) -> Option<std::borrow::Cow<'r, [u8]>> {
    use std::borrow::Cow;
    let part = resolve(root, &sec.part)?;
    // HEADER/TEXT/HEADER.FIELDS of a sub-part address its encapsulated message.
    let msg = if sec.part.is_empty() {
        Some(root)
    } else {
        part.message.as_deref()
    };
    Some(match &sec.text {
        None if sec.part.is_empty() => Cow::Borrowed(raw),
        None => Cow::Borrowed(&raw[part.body.clone()]),
        Some(SectionText::Mime) => Cow::Borrowed(&raw[part.header.clone()]),
        Some(SectionText::Header) => Cow::Borrowed(&raw[msg?.header.clone()]),
        Some(SectionText::Text) => Cow::Borrowed(&raw[msg?.body.clone()]),
        Some(SectionText::HeaderFields(n)) => Cow::Owned(filter_header(&raw[msg?.header.clone()], n, false)),
        Some(SectionText::HeaderFieldsNot(n)) => Cow::Owned(filter_header(&raw[msg?.header.clone()], n, true)),
    })
}

/// The Content-Transfer-Encoding of a part, lower-cased (default `7bit`).
pub fn transfer_encoding(raw: &[u8], p: &Part) -> String {
    header_value(&raw[p.header.clone()], "content-transfer-encoding")
        .map(|v| String::from_utf8_lossy(trim(&v)).to_ascii_lowercase())
        .unwrap_or_else(|| "7bit".into())
}

/// Undo a Content-Transfer-Encoding (RFC 2045 §6) for FETCH BINARY (RFC 3516 §4.2).
/// Returns `None` for an unknown encoding (answered `NO [UNKNOWN-CTE]`).
pub fn decode_cte<'a>(body: &'a [u8], encoding: &str) -> Option<std::borrow::Cow<'a, [u8]>> {
    use std::borrow::Cow;
    match encoding {
        "7bit" | "8bit" | "binary" | "" => Some(Cow::Borrowed(body)),
        "base64" => Some(Cow::Owned(decode_base64_lenient(body))),
        "quoted-printable" => Some(Cow::Owned(decode_qp(body))),
        _ => None,
    }
}

/// Base64 as found in mail (RFC 2045 §6.8): line breaks and other non-alphabet characters
/// are skipped; decoding stops at padding.
pub fn decode_base64_lenient(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut n = 0;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        } as u32;
        acc = (acc << 6) | v;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` escapes and soft line breaks; malformed escapes
/// are kept as they are.
pub fn decode_qp(s: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'=' {
            if s.get(i + 1) == Some(&b'\r') && s.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            if s.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if let (Some(h), Some(l)) = (s.get(i + 1).and_then(|&c| hex(c)), s.get(i + 2).and_then(|&c| hex(c))) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Split an address list on commas outside quotes, comments and angle brackets.
fn split_addresses(v: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut q, mut depth, mut angle, mut esc) = (false, 0usize, false, false);
    let mut start = 0;
    for (i, &c) in v.iter().enumerate() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            b'\\' if q || depth > 0 => esc = true,
            b'"' if depth == 0 => q = !q,
            b'(' if !q => depth += 1,
            b')' if !q && depth > 0 => depth -= 1,
            b'<' if !q && depth == 0 => angle = true,
            b'>' if !q && depth == 0 => angle = false,
            b',' | b';' if !q && depth == 0 && !angle => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    out.into_iter().map(trim).filter(|s| !s.is_empty()).collect()
}

fn unquote(s: &[u8]) -> Vec<u8> {
    let s = trim(s);
    if s.len() >= 2 && s[0] == b'"' && s[s.len() - 1] == b'"' {
        let mut o = Vec::new();
        let mut esc = false;
        for &c in &s[1..s.len() - 1] {
            if esc || c != b'\\' {
                o.push(c);
                esc = false;
            } else {
                esc = true;
            }
        }
        o
    } else {
        s.to_vec()
    }
}

fn strip_comments(s: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    let (mut depth, mut q) = (0usize, false);
    for &c in s {
        match c {
            b'"' if depth == 0 => {
                q = !q;
                o.push(c)
            }
            b'(' if !q => depth += 1,
            b')' if !q && depth > 0 => depth -= 1,
            _ if depth == 0 => o.push(c),
            _ => {}
        }
    }
    o
}

fn one_address(item: &[u8]) -> Address {
    let (name, spec) = match (
        item.iter().position(|&b| b == b'<'),
        item.iter().rposition(|&b| b == b'>'),
    ) {
        (Some(a), Some(b)) if a < b => {
            let n = unquote(&strip_comments(&item[..a]));
            (if n.is_empty() { None } else { Some(n) }, item[a + 1..b].to_vec())
        }
        _ => (None, strip_comments(item)),
    };
    let spec = trim(&spec).to_vec();
    // Source route "@a,@b:user@host" goes to adl.
    let (adl, spec) = match spec.iter().position(|&b| b == b':') {
        Some(i) if spec.first() == Some(&b'@') => (Some(spec[..i].to_vec()), spec[i + 1..].to_vec()),
        _ => (None, spec),
    };
    let (mailbox, host) = match spec.iter().rposition(|&b| b == b'@') {
        Some(i) => (unquote(&spec[..i]), spec[i + 1..].to_vec()),
        None => (unquote(&spec), b"MISSING_DOMAIN".to_vec()),
    };
    Address {
        name,
        adl,
        mailbox: Some(mailbox),
        host: Some(host),
    }
}

/// Parse an address list (RFC 5322 §3.4), with groups as RFC 9051 §7.5.2 markers.
pub fn parse_addresses(v: &[u8]) -> Vec<Address> {
    let v = unfold(v);
    let mut out = Vec::new();
    let mut in_group = false;
    for mut item in split_addresses(&v) {
        // "Group: a@b" starts a group (colon outside quotes/brackets, before any '<').
        let lt = item.iter().position(|&b| b == b'<').unwrap_or(item.len());
        let q = item.iter().position(|&b| b == b'"').unwrap_or(item.len());
        if let Some(c) = item[..lt.min(q)].iter().position(|&b| b == b':') {
            if item.first() != Some(&b'@') {
                if in_group {
                    out.push(Address::default());
                }
                out.push(Address {
                    mailbox: Some(unquote(&item[..c])),
                    ..Default::default()
                });
                in_group = true;
                item = trim(&item[c + 1..]);
                if item.is_empty() {
                    continue;
                }
            }
        }
        if item.len() > 1 || item != b";" {
            out.push(one_address(item));
        }
        if out.len() > 1000 {
            break;
        }
    }
    if in_group {
        out.push(Address::default());
    }
    out
}

/// ENVELOPE of a message header block (RFC 9051 §7.5.2).
pub fn envelope(header: &[u8]) -> Envelope {
    let h = |n: &str| header_value(header, n);
    let a = |n: &str| h(n).map(|v| parse_addresses(&v)).unwrap_or_default();
    Envelope {
        date: h("date"),
        subject: h("subject"),
        from: a("from"),
        sender: a("sender"),
        reply_to: a("reply-to"),
        to: a("to"),
        cc: a("cc"),
        bcc: a("bcc"),
        in_reply_to: h("in-reply-to"),
        message_id: h("message-id"),
    }
}

fn text_of(raw: &[u8], header: &[u8], name: &str) -> Option<String> {
    let _ = raw;
    header_value(header, name).map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// BODYSTRUCTURE of a parsed part (RFC 9051 §7.5.2).
pub fn body_structure(raw: &[u8], p: &Part) -> BodyStructure {
    let header = &raw[p.header.clone()];
    let params: Vec<(String, String)> = p
        .params
        .iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
        .collect();
    let disposition = header_value(header, "content-disposition").map(|v| {
        let s = String::from_utf8_lossy(&v);
        let mut it = split_params(&s).into_iter();
        Disposition {
            kind: it.next().unwrap_or_default().to_ascii_uppercase(),
            params: it
                .filter_map(|x| param(&x))
                .map(|(k, v)| (k.to_ascii_uppercase(), v))
                .collect(),
        }
    });
    let language = text_of(raw, header, "content-language")
        .map(|l| {
            l.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let ext = BodyExt {
        md5: text_of(raw, header, "content-md5"),
        disposition,
        language,
        location: text_of(raw, header, "content-location"),
    };
    if !p.children.is_empty() {
        return BodyStructure::Multi {
            parts: p.children.iter().map(|c| body_structure(raw, c)).collect(),
            subtype: p.subtype.to_ascii_uppercase(),
            params,
            ext: BodyExt { md5: None, ..ext },
        };
    }
    let body = &raw[p.body.clone()];
    let lines =
        body.iter().filter(|&&b| b == b'\n').count() as u64 + u64::from(!body.is_empty() && !body.ends_with(b"\n"));
    let is_text = p.media_type == "text";
    let params = if params.is_empty() && is_text && header_value(header, "content-type").is_none() {
        vec![("CHARSET".into(), "US-ASCII".into())]
    } else {
        params
    };
    let message = p
        .message
        .as_ref()
        .map(|m| Box::new((envelope(&raw[m.header.clone()]), body_structure(raw, m))));
    BodyStructure::Single {
        media_type: p.media_type.to_ascii_uppercase(),
        subtype: p.subtype.to_ascii_uppercase(),
        params,
        id: text_of(raw, header, "content-id"),
        description: text_of(raw, header, "content-description"),
        encoding: text_of(raw, header, "content-transfer-encoding")
            .map(|e| e.trim().to_ascii_uppercase())
            .unwrap_or_else(|| "7BIT".into()),
        size: body.len() as u64,
        lines: (is_text || message.is_some()).then_some(lines),
        message,
        ext,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn rfc2231_parameters() {
        let (t, st, p) = parse_content_type(
            b"multipart/signed; micalg*=ansi-x3.4-1968''pgp-md5; boundary*=\"us-ascii'en'Ee%3DQf\"; name*0=\"a b\"; name*1*=%41c",
        );
        assert_eq!((t.as_str(), st.as_str()), ("multipart", "signed"));
        let get = |k: &str| p.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("boundary"), Some("Ee=Qf"));
        assert_eq!(get("micalg"), Some("pgp-md5"));
        assert_eq!(get("name"), Some("a bAc"));
    }

    use super::*;

    const MSG: &[u8] = b"From: \"Doe, John\" <john@example.org>\r\nTo: a@b.c, Team: x@y.z, w@v.u;\r\nSubject: hi\r\n there\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--XX--\r\n";

    #[test]
    fn tree_and_sections() {
        let root = parse(MSG);
        assert_eq!(root.children.len(), 2);
        let s = |p: Vec<u32>, t| {
            section(MSG, &root, &Section { part: p, text: t }).map(|c| String::from_utf8_lossy(&c).into_owned())
        };
        assert_eq!(s(vec![1], None).as_deref(), Some("hello"));
        assert_eq!(
            s(vec![2], Some(SectionText::Header)).as_deref(),
            Some("Subject: inner\r\n\r\n")
        );
        assert_eq!(s(vec![2, 1], None).as_deref(), Some("inner body"));
        assert_eq!(s(vec![3], None), None);
        assert_eq!(
            s(vec![], Some(SectionText::HeaderFields(vec!["subject".into()]))).as_deref(),
            Some("Subject: hi\r\n there\r\n\r\n")
        );
        assert_eq!(
            s(vec![1], Some(SectionText::Mime)).as_deref(),
            Some("Content-Type: text/plain; charset=utf-8\r\n\r\n")
        );
    }

    #[test]
    fn transfer_decoding() {
        assert_eq!(decode_base64_lenient(b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(decode_base64_lenient(b"AA"), vec![0]);
        assert_eq!(decode_qp(b"caf=C3=A9 =\r\nnext=3D=zz"), "café next==zz".as_bytes());
        assert!(decode_cte(b"x", "x-uuencode").is_none());
    }

    #[test]
    fn envelope_addresses_and_groups() {
        let root = parse(MSG);
        let e = envelope(&MSG[root.header.clone()]);
        assert_eq!(e.subject.as_deref(), Some(&b"hi there"[..]));
        assert_eq!(e.from[0].name.as_deref(), Some(&b"Doe, John"[..]));
        assert_eq!(e.from[0].host.as_deref(), Some(&b"example.org"[..]));
        // a@b.c, group start "Team", x@y.z, w@v.u, group end
        assert_eq!(e.to.len(), 5, "{:?}", e.to);
        assert_eq!(e.to[1].mailbox.as_deref(), Some(&b"Team"[..]));
        assert!(e.to[1].host.is_none() && e.to[4].mailbox.is_none());
    }

    #[test]
    fn bodystructure_of_multipart() {
        let root = parse(MSG);
        let mut out = Vec::new();
        body_structure(MSG, &root).write(&mut out, false);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with("((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 1)"),
            "{s}"
        );
        assert!(s.contains("\"MESSAGE\" \"RFC822\""), "{s}");
        assert!(s.ends_with(" \"MIXED\")"), "{s}");
    }
}
