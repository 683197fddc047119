//! MAPI message to Internet message (RFC 5322 / MIME), the reverse of
//! [`crate::mime_in`], after [MS-OXCMAIL] section 2.1 (generating MIME
//! from properties).
//!
//! Structure: text only is `text/plain`; text and HTML become
//! `multipart/alternative`; HTML with inline images (content id or hidden)
//! becomes `multipart/related`; other attachments wrap everything in
//! `multipart/mixed` (`multipart/report` for REPORT.* classes); embedded
//! messages are `message/rfc822`. Text is sent as 7bit when it is ASCII
//! with short lines, else quoted-printable (RFC 2045 section 6.7); binary
//! as base64 with 76-character lines. Non-ASCII header text uses RFC 2047
//! encoded words, non-ASCII file names RFC 2231 parameters. Boundaries are
//! derived from the content (no randomness, no clock). Meeting messages
//! carry a `text/calendar` alternative ([`MimeOptions::calendar`]); a
//! `winmail.dat` TNEF attachment is optional ([`MimeOptions::tnef`]).

use crate::message::{Attachment, MessageContent};
use crate::props::*;
use std::fmt::Write;

/// Options of the MIME generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MimeOptions {
    /// Meeting messages (IPM.Schedule.Meeting.*) carry their meeting as a
    /// `text/calendar; method=...` alternative ([MS-OXCMAIL] section
    /// 2.2.3.4.1, iCalendar per [MS-OXCICAL]), so that Internet clients see
    /// an invitation. Default on.
    pub calendar: bool,
    /// Add the whole message as an `application/ms-tnef` attachment
    /// (`winmail.dat`, [MS-OXTNEF]) for MAPI recipients. Default off.
    pub tnef: bool,
}

impl Default for MimeOptions {
    fn default() -> Self {
        MimeOptions {
            calendar: true,
            tnef: false,
        }
    }
}

/// Converts a MAPI message to MIME bytes (CRLF line ends) with the
/// default [`MimeOptions`].
pub fn mapi_to_mime(m: &MessageContent) -> Vec<u8> {
    mapi_to_mime_with(m, &MimeOptions::default())
}

/// Converts a MAPI message to MIME bytes (CRLF line ends).
pub fn mapi_to_mime_with(m: &MessageContent, opts: &MimeOptions) -> Vec<u8> {
    let mut w = Writer {
        counter: 0,
        seed: seed(m),
        opts: *opts,
    };
    w.message(m, 0)
}

/// afException in PidTagAttachmentFlags, or an embedded exception message.
fn is_exception_attachment(a: &Attachment) -> bool {
    matches!(get(&a.props, tag(0x7FFD, PT_LONG)), Some(PropVal::Long(f)) if f & 2 != 0)
        || a.embedded.as_ref().is_some_and(|e| {
            e.get_str(0x001A)
                .is_some_and(|c| c.eq_ignore_ascii_case(crate::ical::EXCEPTION_CLASS))
        })
}

/// Whether a message class is a meeting object ([MS-OXOCAL] 2.2.6).
fn is_meeting(class: &str) -> bool {
    class.to_ascii_lowercase().starts_with("ipm.schedule.meeting.")
}

fn seed(m: &MessageContent) -> u64 {
    let mut h = fnv(m.get_str(0x0037).unwrap_or("").as_bytes());
    h ^= fnv(m.get_str(0x1035).unwrap_or("").as_bytes()).rotate_left(17);
    h ^ m.attachments.len() as u64
}

struct Writer {
    counter: u32,
    seed: u64,
    opts: MimeOptions,
}

fn str_of(props: &[Prop], id: u16) -> Option<&str> {
    get_str(props, id).filter(|s| !s.is_empty())
}

/// Whether `s` can be written as an RFC 5322 atom sequence.
fn is_atext_phrase(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c))
}

/// A display name as phrase: atoms, quoted string or encoded words.
fn phrase(name: &str) -> String {
    if !name.is_ascii() {
        encode_words(name)
    } else if is_atext_phrase(name) {
        name.to_string()
    } else {
        let mut q = String::from("\"");
        for c in name.chars() {
            if c == '"' || c == '\\' {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    }
}

/// Converts bare CR and bare LF to CRLF.
pub fn canonical_crlf(d: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(d.len() + d.len() / 32);
    let mut i = 0;
    while i < d.len() {
        match d[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if d.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Removes control characters (CR, LF, ...) that would break header framing.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

pub(crate) fn mailbox(name: &str, addr: &str) -> String {
    let (name, addr) = (clean(name), clean(addr));
    let (name, addr) = (name.as_str(), addr.as_str());
    if name.is_empty() || name == addr {
        format!("<{addr}>")
    } else {
        format!("{} <{addr}>", phrase(name))
    }
}

/// RFC 2047 encoded words (UTF-8, base64), each at most 75 characters,
/// separated by folding whitespace.
pub fn encode_words(s: &str) -> String {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", crate::base64::encode(chunk.as_bytes(), 0)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", crate::base64::encode(chunk.as_bytes(), 0)));
    }
    words.join("\r\n ")
}

/// Unstructured header text: as is if ASCII, else encoded words.
pub(crate) fn unstructured(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    if s.is_ascii() {
        s
    } else {
        encode_words(&s)
    }
}

/// Appends `Name: value` folded at spaces so lines stay within 78
/// characters where possible (RFC 5322 section 2.2.3).
pub(crate) fn header(out: &mut String, name: &str, value: &str) {
    let mut line_len = name.len() + 2;
    out.push_str(name);
    out.push_str(": ");
    let mut first = true;
    for (i, seg) in value.split("\r\n ").enumerate() {
        if i > 0 {
            out.push_str("\r\n ");
            line_len = 1;
            first = true;
        }
        for word in seg.split(' ') {
            if !first {
                if line_len + 1 + word.len() > 78 {
                    out.push_str("\r\n ");
                    line_len = 1;
                } else {
                    out.push(' ');
                    line_len += 1;
                }
            }
            out.push_str(word);
            line_len += word.len();
            first = false;
        }
    }
    out.push_str("\r\n");
}

/// RFC 5322 date-time of a FILETIME, in UTC.
pub fn rfc5322_date(ft: u64) -> String {
    let secs = (ft / 10_000_000) as i64 - 11_644_473_600;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let s = filetime_str(ft); // YYYY-MM-DD hh:mm:ss
    let (y, mo, d) = (&s[0..4], &s[5..7], &s[8..10]);
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][mo.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1];
    format!(
        "{wd}, {} {mon} {y} {:02}:{:02}:{:02} +0000",
        d.trim_start_matches('0'),
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Quoted-printable encoding of text with CRLF line ends (RFC 2045
/// section 6.7), lines at most 76 characters.
pub fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let norm = text.replace("\r\n", "\n");
    let mut lines = norm.split('\n').peekable();
    while let Some(line) = lines.next() {
        let bytes = line.as_bytes();
        let mut col = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let enc = match b {
                b'=' => true,
                b' ' | b'\t' => last,
                33..=126 => false,
                _ => true,
            };
            // A leading "." or "From " are harmless in QP; keep simple.
            let piece_len = if enc { 3 } else { 1 };
            if col + piece_len > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            if enc {
                let _ = write!(out, "={b:02X}");
            } else {
                out.push(b as char);
            }
            col += piece_len;
        }
        if lines.peek().is_some() {
            out.push_str("\r\n");
        }
    }
    out
}

fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n").replace('\n', "\r\n")
}

/// A leaf part: headers (without the final empty line) and body.
struct Part {
    headers: String,
    body: Vec<u8>,
}

impl Writer {
    fn boundary(&mut self) -> String {
        self.counter += 1;
        format!("=_gromox_{:016x}_{}", self.seed, self.counter)
    }

    fn text_part(&self, text: &str, subtype: &str) -> Part {
        let text = crlf(text);
        let mut h = String::new();
        header(&mut h, "Content-Type", &format!("text/{subtype}; charset=utf-8"));
        let long = text.split("\r\n").any(|l| l.len() > 998);
        if text.is_ascii() && !long {
            header(&mut h, "Content-Transfer-Encoding", "7bit");
            Part {
                headers: h,
                body: text.into_bytes(),
            }
        } else {
            header(&mut h, "Content-Transfer-Encoding", "quoted-printable");
            Part {
                headers: h,
                body: quoted_printable(&text).into_bytes(),
            }
        }
    }

    fn multipart(&mut self, ctype: &str, parts: Vec<Part>) -> Part {
        let b = self.boundary();
        let mut h = String::new();
        header(&mut h, "Content-Type", &format!("{ctype};\r\n boundary=\"{b}\""));
        let mut body = Vec::new();
        for p in parts {
            body.extend_from_slice(format!("--{b}\r\n").as_bytes());
            body.extend_from_slice(p.headers.as_bytes());
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(&p.body);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
        Part { headers: h, body }
    }

    fn attachment(&mut self, a: &Attachment, inline: bool, depth: usize) -> Part {
        let mut h = String::new();
        if let Some(e) = &a.embedded {
            header(&mut h, "Content-Type", "message/rfc822");
            let name = str_of(&a.props, 0x3001).or_else(|| e.get_str(0x0037)).unwrap_or("");
            if !name.is_empty() {
                header(&mut h, "Content-Description", &unstructured(name));
            }
            header(&mut h, "Content-Disposition", "attachment");
            let body = self.message(e, depth + 1);
            return Part { headers: h, body };
        }
        let mime = str_of(&a.props, 0x370E).unwrap_or("application/octet-stream");
        let mime = if mime.contains('/') && mime.is_ascii() && !mime.contains(['\r', '\n', ';']) {
            mime.to_ascii_lowercase()
        } else {
            "application/octet-stream".into()
        };
        let name = str_of(&a.props, 0x3707)
            .or_else(|| str_of(&a.props, 0x3704))
            .or_else(|| str_of(&a.props, 0x3001));
        let data: &[u8] = match get(&a.props, PR_ATTACH_DATA_BIN) {
            Some(PropVal::Binary(b)) => b,
            _ => match get(&a.props, PR_ATTACH_DATA_OBJ) {
                Some(PropVal::Object(b)) => b,
                _ => &[],
            },
        };
        let mut ct = mime.clone();
        if mime.starts_with("text/") {
            ct.push_str("; charset=utf-8");
        }
        let mut disp = String::from(if inline { "inline" } else { "attachment" });
        if let Some(n) = name {
            let n: String = n.chars().filter(|c| !c.is_control()).collect();
            if n.is_ascii() {
                let q = n.replace('\\', "\\\\").replace('"', "\\\"");
                let _ = write!(ct, ";\r\n name=\"{q}\"");
                let _ = write!(disp, ";\r\n filename=\"{q}\"");
            } else {
                let _ = write!(ct, ";\r\n name=\"{}\"", encode_words(&n).replace("\r\n ", " "));
                let _ = write!(disp, ";\r\n filename*=utf-8''{}", pct_encode(&n));
            }
        }
        header(&mut h, "Content-Type", &ct);
        header(&mut h, "Content-Disposition", &disp);
        if let Some(cid) = str_of(&a.props, 0x3712) {
            header(
                &mut h,
                "Content-ID",
                &format!("<{}>", clean(cid.trim_matches(['<', '>']))),
            );
        }
        if let Some(loc) = str_of(&a.props, 0x3713).filter(|l| l.is_ascii()) {
            header(&mut h, "Content-Location", &clean(loc));
        }
        if let Some(d) = str_of(&a.props, 0x3711) {
            header(&mut h, "Content-Description", &unstructured(d));
        }
        header(&mut h, "Content-Transfer-Encoding", "base64");
        Part {
            headers: h,
            body: crate::base64::encode(data, 76).into_bytes(),
        }
    }

    fn message(&mut self, m: &MessageContent, depth: usize) -> Vec<u8> {
        let mut h = String::new();
        if let Some(PropVal::SysTime(t)) = m.get(PR_CLIENT_SUBMIT_TIME) {
            header(&mut h, "Date", &rfc5322_date(*t));
        }
        let from_addr = str_of(&m.props, 0x5D02).or_else(|| str_of(&m.props, 0x0065));
        let from_name = str_of(&m.props, 0x0042).unwrap_or("");
        match from_addr {
            Some(a) => header(&mut h, "From", &mailbox(from_name, a)),
            // A name without address (as "From: Name" in the source).
            None if !from_name.is_empty() => header(&mut h, "From", &format!("{} <>", phrase(&clean(from_name)))),
            None => {}
        }
        let sender_addr = str_of(&m.props, 0x5D01).or_else(|| str_of(&m.props, 0x0C1F));
        if let Some(s) = sender_addr.filter(|s| Some(*s) != from_addr) {
            header(&mut h, "Sender", &mailbox(str_of(&m.props, 0x0C1A).unwrap_or(""), s));
        }
        let reply_entries: Vec<String> = match m.get(PR_REPLY_RECIPIENT_ENTRIES) {
            Some(PropVal::Binary(b)) => crate::oneoff::parse_flat_entry_list(b)
                .unwrap_or_default()
                .iter()
                .filter_map(|e| crate::oneoff::decode(e).ok())
                .filter(|(_, t, a)| t.eq_ignore_ascii_case("SMTP") && !a.is_empty())
                .map(|(n, _, a)| mailbox(&n, &a))
                .collect(),
            _ => Vec::new(),
        };
        if !reply_entries.is_empty() {
            header(&mut h, "Reply-To", &reply_entries.join(", "));
        } else if let Some(r) = str_of(&m.props, 0x0050) {
            let list: Vec<String> = r
                .split("; ")
                .map(|x| match x.rsplit_once(" <") {
                    Some((n, a)) => mailbox(n, a.trim_end_matches('>')),
                    None => format!("<{}>", clean(x)),
                })
                .collect();
            header(&mut h, "Reply-To", &list.join(", "));
        }
        for (ty, name) in [(1, "To"), (2, "Cc"), (3, "Bcc")] {
            let list: Vec<String> = m
                .recipients
                .iter()
                .filter(|r| get(r, PR_RECIPIENT_TYPE) == Some(&PropVal::Long(ty)))
                .filter_map(|r| {
                    let name = str_of(r, 0x3001).unwrap_or("");
                    match str_of(r, 0x39FE).or_else(|| str_of(r, 0x3003)) {
                        Some(addr) => Some(mailbox(name, addr)),
                        None if !name.is_empty() => Some(format!("{} <>", phrase(&clean(name)))),
                        None => None,
                    }
                })
                .collect();
            if !list.is_empty() {
                header(&mut h, name, &list.join(", "));
            }
        }
        if let Some(s) = m.get_str(0x0037) {
            header(&mut h, "Subject", &unstructured(s));
        }
        for (id, name) in [
            (0x1035u16, "Message-ID"),
            (0x1042, "In-Reply-To"),
            (0x1039, "References"),
        ] {
            if let Some(v) = str_of(&m.props, id).filter(|v| v.is_ascii()) {
                header(&mut h, name, &v.replace(['\r', '\n'], " "));
            }
        }
        if let Some(t) = str_of(&m.props, 0x0070) {
            header(&mut h, "Thread-Topic", &unstructured(t));
        }
        if let Some(PropVal::Binary(b)) = m.get(PR_CONVERSATION_INDEX) {
            header(&mut h, "Thread-Index", &crate::base64::encode(b, 0));
        }
        match m.get(PR_IMPORTANCE) {
            Some(PropVal::Long(2)) => {
                header(&mut h, "Importance", "high");
                header(&mut h, "X-Priority", "1");
            }
            Some(PropVal::Long(0)) => {
                header(&mut h, "Importance", "low");
                header(&mut h, "X-Priority", "5");
            }
            _ => {}
        }
        if let Some(PropVal::Long(s)) = m.get(PR_SENSITIVITY) {
            let v = match s {
                1 => "Personal",
                2 => "Private",
                3 => "Company-Confidential",
                _ => "",
            };
            if !v.is_empty() {
                header(&mut h, "Sensitivity", v);
            }
        }
        if let Some(PropVal::Multi(k)) = m.get_named(&PropName::Name(PS_PUBLIC_STRINGS, "Keywords".into())) {
            let kw: Vec<String> = k
                .iter()
                .filter_map(|v| match v {
                    PropVal::String(s) => Some(unstructured(s)),
                    _ => None,
                })
                .collect();
            if !kw.is_empty() {
                header(&mut h, "Keywords", &kw.join(", "));
            }
        }
        if m.get(PR_READ_RECEIPT_REQUESTED) == Some(&PropVal::Bool(true)) {
            if let Some(a) = from_addr {
                header(&mut h, "Disposition-Notification-To", &mailbox(from_name, a));
            }
        }
        for p in &m.props {
            if let (Some(PropName::Name(g, n)), PropVal::String(v)) = (&p.name, &p.value) {
                if *g == PS_INTERNET_HEADERS && is_header_name(n) && v.is_ascii() {
                    header(&mut h, &canonical_header(n), &v.replace(['\r', '\n'], " "));
                }
            }
        }
        header(&mut h, "MIME-Version", "1.0");

        let class = m.get_str(0x001A).unwrap_or("IPM.Note");
        // S/MIME: the attachment holds the complete entity.
        if class.starts_with("IPM.Note.SMIME") && m.attachments.len() == 1 {
            if let Some(PropVal::Binary(d)) = get(&m.attachments[0].props, PR_ATTACH_DATA_BIN) {
                if d.starts_with(b"Content-Type:") {
                    let mut out = h.into_bytes();
                    // Canonical CRLF line ends, which signatures are
                    // computed over (RFC 8551 section 3.1.1).
                    out.extend_from_slice(&canonical_crlf(d));
                    return out;
                }
            }
        }
        let body = self.body(m, class, depth);
        let mut out = h.into_bytes();
        out.extend_from_slice(body.headers.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body.body);
        out
    }

    fn body(&mut self, m: &MessageContent, class: &str, depth: usize) -> Part {
        let mut text = m.get_str(0x1000).map(str::to_string);
        let mut html = match m.get(PR_HTML) {
            Some(PropVal::Binary(b)) => {
                let cp = match m.get(PR_INTERNET_CPID) {
                    Some(PropVal::Long(c)) => *c as u32,
                    _ => 65001,
                };
                let enc = crate::charset::codepage_encoding(cp).unwrap_or(encoding_rs::UTF_8);
                Some(enc.decode_without_bom_handling(b).0.into_owned())
            }
            _ => m.get_str(0x1013).map(str::to_string),
        };
        if html.is_none() {
            if let Some(PropVal::Binary(c)) = m.get(PR_RTF_COMPRESSED) {
                if let Ok(rtf) = crate::rtfcp::decompress(c) {
                    match crate::rtf::rtf_to_content(&rtf) {
                        crate::rtf::RtfContent::Html(h) => html = Some(h),
                        crate::rtf::RtfContent::Text(t) if text.is_none() => text = Some(t),
                        _ => {}
                    }
                }
            }
        }
        // Meetings: the iCalendar rendition replaces a stored text/calendar
        // attachment (as an import keeps it).
        let calendar = (self.opts.calendar && depth == 0 && is_meeting(class))
            .then(|| crate::ical_export::items_to_ical(std::slice::from_ref(m), None));
        let attachments: Vec<&Attachment> = m
            .attachments
            .iter()
            // Exception attachments of recurring series ([MS-OXOCAL]
            // 2.2.10.1) are no documents: the calendar carries them.
            .filter(|a| !is_exception_attachment(a))
            .filter(|a| {
                calendar.is_none()
                    || a.embedded.is_some()
                    || !str_of(&a.props, 0x370E).is_some_and(|t| t.eq_ignore_ascii_case("text/calendar"))
            })
            .collect();
        let (inline, regular): (Vec<&Attachment>, Vec<&Attachment>) = attachments.into_iter().partition(|a| {
            html.is_some()
                && a.embedded.is_none()
                && (str_of(&a.props, 0x3712).is_some()
                    || get(&a.props, PR_ATTACHMENT_HIDDEN) == Some(&PropVal::Bool(true)))
        });
        let html_part = html.as_ref().map(|h| {
            let hp = self.text_part(h, "html");
            if inline.is_empty() {
                hp
            } else {
                let mut parts = vec![hp];
                for a in &inline {
                    parts.push(self.attachment(a, true, depth));
                }
                self.multipart("multipart/related; type=\"text/html\"", parts)
            }
        });
        let body = match (text, html_part, calendar) {
            (t, hp, Some(cal)) => {
                let mut parts = vec![self.text_part(t.as_deref().unwrap_or(""), "plain")];
                parts.extend(hp);
                parts.push(calendar_part(&cal));
                self.multipart("multipart/alternative", parts)
            }
            (Some(t), Some(hp), None) => {
                let tp = self.text_part(&t, "plain");
                self.multipart("multipart/alternative", vec![tp, hp])
            }
            (None, Some(hp), None) => hp,
            (Some(t), None, None) => self.text_part(&t, "plain"),
            (None, None, None) => self.text_part("", "plain"),
        };
        let tnef = self.opts.tnef && depth == 0;
        if regular.is_empty() && !tnef {
            return body;
        }
        let mut parts = vec![body];
        for a in regular {
            parts.push(self.attachment(a, false, depth));
        }
        if tnef {
            let mut h = String::new();
            header(&mut h, "Content-Type", "application/ms-tnef;\r\n name=\"winmail.dat\"");
            header(
                &mut h,
                "Content-Disposition",
                "attachment;\r\n filename=\"winmail.dat\"",
            );
            header(&mut h, "Content-Transfer-Encoding", "base64");
            let data = crate::tnef_export::encode(m);
            parts.push(Part {
                headers: h,
                body: crate::base64::encode(&data, 76).into_bytes(),
            });
        }
        let container = if class.to_ascii_uppercase().starts_with("REPORT.") {
            if class.contains(".IPNRN") || class.contains(".IPNNRN") {
                "multipart/report; report-type=disposition-notification"
            } else {
                "multipart/report; report-type=delivery-status"
            }
        } else {
            "multipart/mixed"
        };
        self.multipart(container, parts)
    }
}

/// The `text/calendar` part of a meeting message; METHOD from the
/// calendar itself (RFC 6047 section 2.4).
fn calendar_part(cal: &str) -> Part {
    let method = cal
        .lines()
        .find_map(|l| l.strip_prefix("METHOD:"))
        .map(str::trim)
        .filter(|m| m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or("PUBLISH");
    let mut h = String::new();
    header(
        &mut h,
        "Content-Type",
        &format!("text/calendar; charset=utf-8;\r\n method={method}"),
    );
    // Lines are folded at 75 octets; UTF-8 text needs 8-bit-safe transport.
    if cal.is_ascii() {
        header(&mut h, "Content-Transfer-Encoding", "7bit");
        Part {
            headers: h,
            body: cal.as_bytes().to_vec(),
        }
    } else {
        header(&mut h, "Content-Transfer-Encoding", "base64");
        Part {
            headers: h,
            body: crate::base64::encode(cal.as_bytes(), 76).into_bytes(),
        }
    }
}

fn is_header_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

fn canonical_header(n: &str) -> String {
    n.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// RFC 2231 percent-encoding of a parameter value.
fn pct_encode(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qp_and_words() {
        assert_eq!(quoted_printable("a=b ü \r\nx "), "a=3Db =C3=BC=20\r\nx=20");
        let long = "x".repeat(200);
        assert!(quoted_printable(&long).split("\r\n").all(|l| l.len() <= 76));
        let w = encode_words(&"ü".repeat(40));
        assert!(w.split("\r\n ").all(|x| x.len() <= 75 && x.starts_with("=?UTF-8?B?")));
        assert_eq!(
            rfc5322_date(filetime(2026, 11, 22, 9, 5, 0).unwrap()),
            "Sun, 22 Nov 2026 09:05:00 +0000"
        );
        assert_eq!(phrase("Doe, John"), "\"Doe, John\"");
    }

    #[test]
    fn message_roundtrip() {
        let raw = b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\nTo: A <a@example.org>\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\nDate: Sun, 22 Nov 2026 10:00:00 +0100\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n--M\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHall\xc3\xb6chen\r\n--M\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename*=utf-8''%C3%BC.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--M--\r\n";
        let m = crate::mime_in::mime_to_mapi(raw);
        let out = mapi_to_mime(&m);
        let text = String::from_utf8_lossy(&out);
        assert!(text.is_ascii(), "{text}");
        assert!(
            text.contains("From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.org>\r\n"),
            "{text}"
        );
        assert!(text.contains("Date: Sun, 22 Nov 2026 09:00:00 +0000\r\n"), "{text}");
        let m2 = crate::mime_in::mime_to_mapi(&out);
        assert_eq!(m2.get_str(0x0037), Some("Grüße"));
        assert_eq!(m2.get_str(0x0042), Some("Jürgen"));
        assert_eq!(m2.get_str(0x1000), Some("Hallöchen"));
        assert_eq!(get_str(&m2.attachments[0].props, 0x3707), Some("ü.png"));
        assert_eq!(
            get(&m2.attachments[0].props, PR_ATTACH_DATA_BIN),
            get(&m.attachments[0].props, PR_ATTACH_DATA_BIN)
        );
    }
}
