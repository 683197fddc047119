//! Internet message (RFC 5322 / MIME) to MAPI message, after [MS-OXCMAIL]
//! section 2.2 (mapping of MIME headers and parts to properties).
//!
//! Parsing is done by `mail-parser`, which accepts any input: malformed
//! messages are converted as far as they go, never rejected.

use crate::html::{html_to_text, text_to_html};
use crate::message::{Attachment, MessageContent};
use crate::oneoff;
use crate::props::*;
use mail_parser::{Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};

const MAX_DEPTH: usize = 16;

/// Converts an Internet message to a MAPI message. Never fails.
pub fn mime_to_mapi(raw: &[u8]) -> MessageContent {
    match MessageParser::default().parse(raw) {
        Some(m) => convert(&m, 0),
        None => {
            // Not even a header could be parsed: keep the bytes as text.
            let mut mc = MessageContent::default();
            mc.set(PR_MESSAGE_CLASS, PropVal::String("IPM.Note".into()));
            mc.set(PR_BODY, PropVal::String(String::from_utf8_lossy(raw).into_owned()));
            mc
        }
    }
}

fn s(v: &str) -> PropVal {
    PropVal::String(v.to_string())
}

/// Splits a subject into prefix and normalized subject ([MS-OXCMSG]
/// section 2.2.1.9: a prefix is 1-3 characters, no digits or spaces,
/// followed by ": ").
pub fn split_subject(subj: &str) -> (&str, &str) {
    let mut it = subj.char_indices();
    for _ in 0..4 {
        let Some((i, c)) = it.next() else { break };
        if c == ':' {
            if i == 0 {
                break;
            }
            if subj[i + 1..].starts_with(' ') {
                return (&subj[..i + 2], &subj[i + 2..]);
            }
            break;
        }
        if c.is_ascii_digit() || c.is_whitespace() {
            break;
        }
    }
    ("", subj)
}

fn addr_list(a: Option<&Address>) -> Vec<(String, String)> {
    a.map(|a| {
        a.iter()
            .map(|x| {
                (
                    x.name().unwrap_or("").to_string(),
                    x.address().unwrap_or("").to_string(),
                )
            })
            .filter(|(n, e)| !n.is_empty() || !e.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn display(list: &[(String, String)]) -> String {
    list.iter()
        .map(|(n, e)| if n.is_empty() { e.as_str() } else { n.as_str() })
        .collect::<Vec<_>>()
        .join("; ")
}

fn raw_header<'a>(m: &'a Message, name: &'a str) -> Option<&'a str> {
    m.header_raw(name).map(str::trim).filter(|v| !v.is_empty())
}

fn text_value(v: &HeaderValue) -> Option<String> {
    match v {
        HeaderValue::Text(t) => Some(t.to_string()),
        HeaderValue::TextList(l) => Some(l.iter().map(|x| format!("<{x}>")).collect::<Vec<_>>().join(" ")),
        _ => None,
    }
}

fn filetime_of(d: &mail_parser::DateTime) -> Option<u64> {
    let secs = d.to_timestamp().checked_add(11_644_473_600)?;
    u64::try_from(secs).ok()?.checked_mul(10_000_000)
}

fn convert(m: &Message, depth: usize) -> MessageContent {
    let mut mc = MessageContent::default();
    let raw = m.raw_message();
    let root = m.root_part();
    // The header block runs to the first empty line (offsets of nested
    // messages are not relative to their own raw bytes).
    let hdr_end = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| p + 1)
        .into_iter()
        .chain(raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2))
        .min()
        .unwrap_or(raw.len());
    let header_block = String::from_utf8_lossy(&raw[..hdr_end]).into_owned();
    mc.set(PR_TRANSPORT_MESSAGE_HEADERS, PropVal::String(header_block));

    // Subject.
    if let Some(subj) = m.subject() {
        let (prefix, norm) = split_subject(subj);
        mc.set(PR_SUBJECT, s(subj));
        mc.set(PR_SUBJECT_PREFIX, s(prefix));
        mc.set(PR_NORMALIZED_SUBJECT, s(norm));
    }
    // Originator ([MS-OXCMAIL] section 2.2.3.2.1 ff.).
    let from = addr_list(m.from());
    let sender = addr_list(m.sender());
    if let Some((n, e)) = from.first() {
        mc.set(PR_SENT_REPRESENTING_NAME, s(if n.is_empty() { e } else { n }));
        mc.set(PR_SENT_REPRESENTING_ADDRTYPE, s("SMTP"));
        mc.set(PR_SENT_REPRESENTING_EMAIL_ADDRESS, s(e));
        mc.set(PR_SENT_REPRESENTING_SMTP_ADDRESS, s(e));
        let dn = if n.is_empty() { e } else { n };
        mc.set(
            PR_SENT_REPRESENTING_ENTRYID,
            PropVal::Binary(oneoff::encode(dn, "SMTP", e)),
        );
        mc.set(
            PR_SENT_REPRESENTING_SEARCH_KEY,
            PropVal::Binary(oneoff::search_key("SMTP", e)),
        );
    }
    if let Some((n, e)) = sender.first().or(from.first()) {
        mc.set(PR_SENDER_NAME, s(if n.is_empty() { e } else { n }));
        mc.set(PR_SENDER_ADDRTYPE, s("SMTP"));
        mc.set(PR_SENDER_EMAIL_ADDRESS, s(e));
        mc.set(PR_SENDER_SMTP_ADDRESS, s(e));
        let dn = if n.is_empty() { e } else { n };
        mc.set(PR_SENDER_ENTRYID, PropVal::Binary(oneoff::encode(dn, "SMTP", e)));
        mc.set(PR_SENDER_SEARCH_KEY, PropVal::Binary(oneoff::search_key("SMTP", e)));
    }
    let reply_to = addr_list(m.reply_to());
    if !reply_to.is_empty() {
        let names: Vec<String> = reply_to
            .iter()
            .map(|(n, e)| if n.is_empty() { e.clone() } else { format!("{n} <{e}>") })
            .collect();
        mc.set(PR_REPLY_RECIPIENT_NAMES, PropVal::String(names.join("; ")));
        let entries: Vec<Vec<u8>> = reply_to
            .iter()
            .map(|(n, e)| oneoff::encode(if n.is_empty() { e } else { n }, "SMTP", e))
            .collect();
        mc.set(
            PR_REPLY_RECIPIENT_ENTRIES,
            PropVal::Binary(oneoff::flat_entry_list(&entries)),
        );
    }
    // Recipients.
    for (ty, list, disp) in [
        (1, addr_list(m.to()), PR_DISPLAY_TO),
        (2, addr_list(m.cc()), PR_DISPLAY_CC),
        (3, addr_list(m.bcc()), PR_DISPLAY_BCC),
    ] {
        mc.set(disp, PropVal::String(display(&list)));
        for (n, e) in list {
            let dn = if n.is_empty() { e.clone() } else { n };
            let row = [
                (PR_RECIPIENT_TYPE, PropVal::Long(ty)),
                (PR_DISPLAY_NAME, s(&dn)),
                (PR_ADDRTYPE, s("SMTP")),
                (PR_EMAIL_ADDRESS, s(&e)),
                (PR_SMTP_ADDRESS, s(&e)),
                (PR_OBJECT_TYPE, PropVal::Long(6)),
                (PR_DISPLAY_TYPE, PropVal::Long(0)),
                (PR_ENTRYID, PropVal::Binary(oneoff::encode(&dn, "SMTP", &e))),
                (PR_SEARCH_KEY, PropVal::Binary(oneoff::search_key("SMTP", &e))),
            ];
            mc.recipients.push(
                row.into_iter()
                    .map(|(tag, value)| Prop { tag, name: None, value })
                    .collect(),
            );
        }
    }
    if let Some(ft) = m.date().and_then(filetime_of) {
        mc.set(PR_CLIENT_SUBMIT_TIME, PropVal::SysTime(ft));
    }
    if let Some(id) = m.message_id() {
        mc.set(PR_INTERNET_MESSAGE_ID, PropVal::String(format!("<{id}>")));
    }
    if let Some(v) = text_value(m.in_reply_to()) {
        mc.set(
            PR_IN_REPLY_TO_ID,
            PropVal::String(if v.starts_with('<') { v } else { format!("<{v}>") }),
        );
    }
    if let Some(v) = text_value(m.references()) {
        mc.set(
            PR_INTERNET_REFERENCES,
            PropVal::String(if v.starts_with('<') { v } else { format!("<{v}>") }),
        );
    }
    // Importance, priority, sensitivity ([MS-OXCMAIL] 2.2.3.2.9 ff.).
    let importance = raw_header(m, "Importance")
        .and_then(|v| match v.to_ascii_lowercase().as_str() {
            "high" => Some(2),
            "normal" => Some(1),
            "low" => Some(0),
            _ => None,
        })
        .or_else(|| {
            raw_header(m, "X-Priority").and_then(|v| match v.chars().next() {
                Some('1' | '2') => Some(2),
                Some('3') => Some(1),
                Some('4' | '5') => Some(0),
                _ => None,
            })
        })
        .or_else(|| {
            raw_header(m, "X-MSMail-Priority").and_then(|v| match v.to_ascii_lowercase().as_str() {
                "high" => Some(2),
                "normal" => Some(1),
                "low" => Some(0),
                _ => None,
            })
        });
    mc.set(PR_IMPORTANCE, PropVal::Long(importance.unwrap_or(1)));
    if let Some(p) = raw_header(m, "Priority").and_then(|v| match v.to_ascii_lowercase().as_str() {
        "urgent" => Some(1),
        "normal" => Some(0),
        "non-urgent" => Some(-1),
        _ => None,
    }) {
        mc.set(PR_PRIORITY, PropVal::Long(p));
    }
    if let Some(v) = raw_header(m, "Sensitivity").and_then(|v| match v.to_ascii_lowercase().as_str() {
        "personal" => Some(1),
        "private" => Some(2),
        "company-confidential" => Some(3),
        _ => None,
    }) {
        mc.set(PR_SENSITIVITY, PropVal::Long(v));
    }
    // Keywords become categories (PidNameKeywords, [MS-OXCMAIL] 2.2.3.2.11).
    let kw: Vec<PropVal> = match m.keywords() {
        HeaderValue::TextList(l) => l.iter().map(|k| s(k.trim())).collect(),
        HeaderValue::Text(t) => t.split(',').map(|k| s(k.trim())).collect(),
        _ => Vec::new(),
    };
    let kw: Vec<PropVal> = kw
        .into_iter()
        .filter(|v| !matches!(v, PropVal::String(x) if x.is_empty()))
        .collect();
    if !kw.is_empty() {
        mc.set_named(
            PropName::Name(PS_PUBLIC_STRINGS, "Keywords".into()),
            MV_FLAG | PT_UNICODE,
            PropVal::Multi(kw),
        );
    }
    if let Some(t) = m.header("Thread-Topic").and_then(|v| v.as_text()) {
        mc.set(PR_CONVERSATION_TOPIC, s(t));
    } else if let Some(subj) = mc.get_str(0x0E1D).map(str::to_string) {
        mc.set(PR_CONVERSATION_TOPIC, PropVal::String(subj));
    }
    if let Some(t) = raw_header(m, "Thread-Index") {
        let b = crate::base64::decode(t.as_bytes());
        if !b.is_empty() {
            mc.set(PR_CONVERSATION_INDEX, PropVal::Binary(b));
        }
    }
    if raw_header(m, "Disposition-Notification-To").is_some() {
        mc.set(PR_READ_RECEIPT_REQUESTED, PropVal::Bool(true));
    }
    if raw_header(m, "Return-Receipt-To").is_some() {
        mc.set(PR_ORIGINATOR_DELIVERY_REPORT_REQUESTED, PropVal::Bool(true));
    }
    if let Some(v) = raw_header(m, "X-Auto-Response-Suppress") {
        let mut flags = 0u32;
        for f in v.split(',').map(str::trim) {
            flags |= match f.to_ascii_lowercase().as_str() {
                "all" => 0xFFFF_FFFF,
                "dr" => 1,
                "ndr" => 2,
                "rn" => 4,
                "nrn" => 8,
                "oof" => 16,
                "autoreply" => 32,
                _ => 0,
            };
        }
        mc.set(PR_AUTO_RESPONSE_SUPPRESS, PropVal::Long(flags as i32));
    }
    // Headers kept as PS_INTERNET_HEADERS named properties.
    for h in [
        "Auto-Submitted",
        "Content-Class",
        "List-Id",
        "List-Help",
        "List-Subscribe",
        "List-Unsubscribe",
        "List-Post",
        "List-Owner",
        "List-Archive",
        "X-Mailer",
    ] {
        if let Some(v) = raw_header(m, h) {
            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            mc.set_named(
                PropName::Name(PS_INTERNET_HEADERS, h.to_ascii_lowercase()),
                PT_UNICODE,
                PropVal::String(v),
            );
        }
    }

    // Message class from the top-level content type.
    let ct = root.content_type();
    let ctype = ct
        .map(|c| c.ctype().to_ascii_lowercase())
        .unwrap_or_else(|| "text".into());
    let csub = ct
        .and_then(|c| c.subtype())
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or_else(|| "plain".into());
    let mut class = "IPM.Note".to_string();
    let mut smime = false;
    match (ctype.as_str(), csub.as_str()) {
        ("multipart", "signed") => {
            class = "IPM.Note.SMIME.MultipartSigned".into();
            smime = true;
        }
        ("application", "pkcs7-mime" | "x-pkcs7-mime") => {
            class = "IPM.Note.SMIME".into();
            smime = true;
        }
        ("multipart", "report") => {
            class = report_class(m, ct.and_then(|c| c.attribute("report-type")).unwrap_or(""));
        }
        _ => {}
    }
    if raw_header(m, "Content-Class").is_some_and(|c| c.to_ascii_lowercase().starts_with("voice")) {
        class = "IPM.Note.Microsoft.Voicemail".into();
    }

    // Bodies.
    let mut texts = Vec::new();
    let mut htmls = Vec::new();
    let mut cpid = None;
    for &id in &m.text_body {
        if let Some(p) = m.parts.get(id as usize) {
            if let PartType::Text(t) = &p.body {
                let enriched = p
                    .content_type()
                    .and_then(|c| c.subtype())
                    .is_some_and(|s| s.eq_ignore_ascii_case("enriched"));
                texts.push(if enriched { enriched_to_text(t) } else { t.to_string() });
                cpid = cpid.or_else(|| part_cpid(p));
            }
        }
    }
    for &id in &m.html_body {
        if let Some(p) = m.parts.get(id as usize) {
            if let PartType::Html(h) = &p.body {
                htmls.push(h.to_string());
                cpid = cpid.or_else(|| part_cpid(p));
            }
        }
    }
    let text = texts.join("\r\n");
    let html = htmls.join("\r\n");
    if !text.is_empty() || html.is_empty() {
        mc.set(PR_BODY, PropVal::String(text.clone()));
    } else {
        mc.set(PR_BODY, PropVal::String(html_to_text(&html)));
    }
    if !html.is_empty() {
        mc.set(PR_HTML, PropVal::Binary(html.into_bytes()));
    } else if texts.len() > 1 {
        // Several text parts around attachments: keep the order in HTML too.
        mc.set(PR_HTML, PropVal::Binary(text_to_html(&text).into_bytes()));
    }
    // Bodies are stored as UTF-8 (PR_HTML is in PR_INTERNET_CPID); the
    // source charset is only informational.
    let _ = cpid;
    mc.set(PR_INTERNET_CPID, PropVal::Long(65001));

    // Attachments.
    if smime {
        // [MS-OXCMAIL] 2.4.3: the whole S/MIME entity is one attachment.
        let ct_raw = raw_header(m, "Content-Type").unwrap_or("application/octet-stream");
        let body_start = (root.offset_body as usize).min(raw.len());
        let body_end = (root.offset_end as usize).clamp(body_start, raw.len());
        let mut entity = format!("Content-Type: {ct_raw}\r\n\r\n").into_bytes();
        entity.extend_from_slice(&raw[body_start..body_end]);
        // Stored in canonical form (CRLF line ends, RFC 8551 section 3.1.1).
        let data = crate::mime_out::canonical_crlf(&entity);
        let mut a = Attachment::default();
        set(&mut a.props, PR_ATTACH_METHOD, PropVal::Long(1));
        set(
            &mut a.props,
            PR_ATTACH_MIME_TAG,
            s(if csub == "signed" {
                "multipart/signed"
            } else {
                "application/pkcs7-mime"
            }),
        );
        set(
            &mut a.props,
            PR_ATTACH_LONG_FILENAME,
            s(if csub == "signed" { "SMIME.txt" } else { "smime.p7m" }),
        );
        set(&mut a.props, PR_ATTACH_SIZE, PropVal::Long(data.len() as i32));
        set(&mut a.props, PR_ATTACH_DATA_BIN, PropVal::Binary(data));
        mc.attachments.push(a);
    } else {
        let html_ref = mc
            .get(PR_HTML)
            .map(|v| matches!(v, PropVal::Binary(_)))
            .unwrap_or(false);
        let html_text = match mc.get(PR_HTML) {
            Some(PropVal::Binary(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        for &id in &m.attachments {
            let Some(p) = m.parts.get(id as usize) else { continue };
            if let Some(cls) = attach_part(&mut mc, p, depth, html_ref.then_some(html_text.as_str())) {
                class = cls;
            }
        }
    }
    mc.set(PR_MESSAGE_CLASS, PropVal::String(class));
    let has = !mc.attachments.is_empty();
    mc.set(PR_HASATTACH, PropVal::Bool(has));
    mc.set(PR_MESSAGE_FLAGS, PropVal::Long(if has { 0x10 } else { 0 }));
    mc
}

fn part_cpid(p: &MessagePart) -> Option<u32> {
    let cs = p.content_type()?.attribute("charset")?;
    Some(crate::charset::encoding_codepage(encoding_rs::Encoding::for_label(
        cs.as_bytes(),
    )?))
}

/// text/enriched (RFC 1896) to plain text: formatting commands are
/// dropped, `<<` is a literal `<`, a run of n line breaks stands for n-1
/// (a single one is a space); `<param>` contents are dropped.
pub fn enriched_to_text(e: &str) -> String {
    let mut out = String::with_capacity(e.len());
    let norm = e.replace("\r\n", "\n");
    let mut chars = norm.chars().peekable();
    let mut param = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '<' if chars.peek() == Some(&'<') => {
                chars.next();
                if param == 0 {
                    out.push('<');
                }
            }
            '<' => {
                let mut cmd = String::new();
                for c in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                    cmd.push(c);
                }
                let cmd = cmd.to_ascii_lowercase();
                if cmd == "param" {
                    param += 1;
                } else if cmd == "/param" {
                    param = param.saturating_sub(1);
                }
            }
            '\n' => {
                let mut n = 1;
                while chars.peek() == Some(&'\n') {
                    chars.next();
                    n += 1;
                }
                if param == 0 {
                    if n == 1 {
                        out.push(' ');
                    } else {
                        out.push_str(&"\r\n".repeat(n - 1));
                    }
                }
            }
            c if param == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Message class of a multipart/report ([MS-OXCMAIL] section 2.4.1).
fn report_class(m: &Message, report_type: &str) -> String {
    let mut status = String::new();
    for p in &m.parts {
        let is_status = p.content_type().is_some_and(|c| {
            let sub = c.subtype().unwrap_or("").to_ascii_lowercase();
            sub == "delivery-status" || sub == "disposition-notification"
        });
        if is_status {
            status = String::from_utf8_lossy(p.contents()).to_ascii_lowercase();
            if status.is_empty() {
                if let PartType::Message(inner) = &p.body {
                    status = String::from_utf8_lossy(inner.raw_message()).to_ascii_lowercase();
                }
            }
            break;
        }
    }
    if report_type.eq_ignore_ascii_case("disposition-notification") {
        if status.contains("deleted") || status.contains("denied") {
            "REPORT.IPM.Note.IPNNRN".into()
        } else {
            "REPORT.IPM.Note.IPNRN".into()
        }
    } else if report_type.eq_ignore_ascii_case("delivery-status") {
        // Any failed recipient makes it a non-delivery report.
        if status.contains("action: failed") {
            "REPORT.IPM.Note.NDR".into()
        } else if status.contains("action: delivered")
            || status.contains("action: relayed")
            || status.contains("action: expanded")
        {
            "REPORT.IPM.Note.DR".into()
        } else if status.contains("action: delayed") {
            "REPORT.IPM.Note.Delayed.DR".into()
        } else {
            "REPORT.IPM.Note.NDR".into()
        }
    } else {
        "IPM.Note".into()
    }
}

/// Converts one attachment part; returns a message class if the part
/// determines one (text/calendar).
fn attach_part(mc: &mut MessageContent, p: &MessagePart, depth: usize, html: Option<&str>) -> Option<String> {
    let ct = p.content_type();
    let ctype = ct
        .map(|c| c.ctype().to_ascii_lowercase())
        .unwrap_or_else(|| "application".into());
    let csub = ct
        .and_then(|c| c.subtype())
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or_else(|| "octet-stream".into());
    let mime = format!("{ctype}/{csub}");
    let mut class = None;
    let data: Vec<u8> = match &p.body {
        PartType::Message(inner) => {
            let mut a = Attachment::default();
            set(&mut a.props, PR_ATTACH_METHOD, PropVal::Long(5));
            set(&mut a.props, PR_ATTACH_MIME_TAG, s("message/rfc822"));
            let name = p
                .attachment_name()
                .map(str::to_string)
                .or_else(|| inner.subject().map(str::to_string));
            if let Some(n) = name {
                set(&mut a.props, PR_DISPLAY_NAME, PropVal::String(n));
            }
            set(&mut a.props, PR_RENDERING_POSITION, PropVal::Long(-1));
            if depth < MAX_DEPTH {
                a.embedded = Some(Box::new(convert(inner, depth + 1)));
            }
            mc.attachments.push(a);
            return None;
        }
        PartType::Text(t) | PartType::Html(t) => {
            // Re-encode in UTF-8; the charset parameter is gone with it.
            t.as_bytes().to_vec()
        }
        PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
        PartType::Multipart(_) => return None,
    };
    if mime == "application/ms-tnef"
        || p.attachment_name()
            .is_some_and(|n| n.eq_ignore_ascii_case("winmail.dat"))
    {
        let (t, err) = crate::tnef::decode_partial(&data);
        if err.is_none() || !t.props.is_empty() {
            merge_tnef(mc, t);
            return None;
        }
    }
    if mime == "text/calendar" {
        let method = ct
            .and_then(|c| c.attribute("method"))
            .map(str::to_ascii_uppercase)
            .unwrap_or_default();
        // The meeting's times, location and ids go onto the message
        // ([MS-OXCICAL] section 2.1.3.1.1); subject, body and addressing stay
        // those of the MIME message.
        if let Some(item) = crate::ical::ical_to_items(&String::from_utf8_lossy(&data))
            .into_iter()
            .next()
        {
            // Exceptions of a recurring meeting (RECURRENCE-ID overrides)
            // come along as hidden exception attachments.
            mc.attachments.extend(item.attachments);
            for p in item.props {
                let keep = p.name.is_some() || p.tag == crate::ical::PR_START_DATE || p.tag == crate::ical::PR_END_DATE;
                if keep {
                    if let Some(old) = mc.props.iter_mut().find(|o| o.tag == p.tag && o.name == p.name) {
                        *old = p;
                    } else {
                        mc.props.push(p);
                    }
                }
            }
        }
        let text = String::from_utf8_lossy(&data).to_ascii_uppercase();
        let method = if method.is_empty() {
            text.lines()
                .find_map(|l| l.strip_prefix("METHOD:").map(|m| m.trim().to_string()))
                .unwrap_or_default()
        } else {
            method
        };
        class = match method.as_str() {
            "REQUEST" | "ADD" => Some("IPM.Schedule.Meeting.Request".to_string()),
            "CANCEL" => Some("IPM.Schedule.Meeting.Canceled".to_string()),
            "REPLY" => Some(if text.contains("PARTSTAT=DECLINED") {
                "IPM.Schedule.Meeting.Resp.Neg".to_string()
            } else if text.contains("PARTSTAT=TENTATIVE") {
                "IPM.Schedule.Meeting.Resp.Tent".to_string()
            } else {
                "IPM.Schedule.Meeting.Resp.Pos".to_string()
            }),
            _ => None,
        };
    }
    let mut a = Attachment::default();
    set(&mut a.props, PR_ATTACH_METHOD, PropVal::Long(1));
    set(&mut a.props, PR_ATTACH_MIME_TAG, PropVal::String(mime));
    set(&mut a.props, PR_RENDERING_POSITION, PropVal::Long(-1));
    if let Some(n) = p.attachment_name() {
        set(&mut a.props, PR_ATTACH_LONG_FILENAME, s(n));
        set(&mut a.props, PR_ATTACH_FILENAME, s(n));
        set(&mut a.props, PR_DISPLAY_NAME, s(n));
        if let Some(dot) = n.rfind('.') {
            set(&mut a.props, PR_ATTACH_EXTENSION, s(&n[dot..]));
        }
    }
    if let Some(d) = p.content_description() {
        set(&mut a.props, PR_ATTACH_CONTENT_DESCRIPTION, s(d));
    }
    let cid = p
        .content_id()
        .map(|c| c.trim_matches(|c| c == '<' || c == '>').to_string());
    let loc = p.content_location().map(str::to_string);
    if let Some(c) = &cid {
        set(&mut a.props, PR_ATTACH_CONTENT_ID, s(c));
    }
    if let Some(l) = &loc {
        set(&mut a.props, PR_ATTACH_CONTENT_LOCATION, s(l));
    }
    // Inline images referenced from the HTML body are hidden and marked as
    // MHTML references ([MS-OXCMAIL] section 2.2.3.6.1).
    let referenced = html.is_some_and(|h| {
        cid.as_deref()
            .is_some_and(|c| !c.is_empty() && h.contains(&format!("cid:{c}")))
            || loc.as_deref().is_some_and(|l| !l.is_empty() && h.contains(l))
    });
    if referenced {
        set(&mut a.props, PR_ATTACH_FLAGS, PropVal::Long(4));
        set(&mut a.props, PR_ATTACHMENT_HIDDEN, PropVal::Bool(true));
    }
    set(
        &mut a.props,
        PR_ATTACH_SIZE,
        PropVal::Long(data.len().min(i32::MAX as usize) as i32),
    );
    set(&mut a.props, PR_ATTACH_DATA_BIN, PropVal::Binary(data));
    mc.attachments.push(a);
    class
}

/// Folds a decoded winmail.dat into the message ([MS-OXCMAIL] section
/// 2.1.3.4.2): its properties override the MIME-derived ones except the
/// addressing, its attachments are added.
fn merge_tnef(mc: &mut MessageContent, t: crate::tnef::Tnef) {
    for p in t.props {
        let id = (p.tag >> 16) as u16;
        // Keep the transport's view of addressing and headers.
        if p.name.is_none()
            && matches!(
                id,
                0x0C1A | 0x0C1E | 0x0C1F | 0x0042 | 0x0064 | 0x0065 | 0x007D | 0x1035
            )
        {
            continue;
        }
        if let Some(old) = mc.props.iter_mut().find(|o| o.tag == p.tag && o.name == p.name) {
            *old = p;
        } else {
            mc.props.push(p);
        }
    }
    for a in t.attachments {
        mc.attachments.push(Attachment {
            props: a.props,
            embedded: a.embedded.map(|e| Box::new(tnef_to_message(*e))),
        });
    }
}

/// A TNEF stream as a message.
pub fn tnef_to_message(t: crate::tnef::Tnef) -> MessageContent {
    MessageContent {
        props: t.props,
        recipients: t.recipients,
        attachments: t
            .attachments
            .into_iter()
            .map(|a| Attachment {
                props: a.props,
                embedded: a.embedded.map(|e| Box::new(tnef_to_message(*e))),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_charsets_and_encoded_names() {
        let mut raw = b"From: a@b\r\nSubject: =?iso-2022-jp?B?GyRCRnxLXDhsGyhC?=\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n--M\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
        raw.extend_from_slice(b"\xf0\xd2\xc9\xd7\xc5\xd4\r\n--M\r\nContent-Type: application/octet-stream; name=\"=?windows-1252?Q?caf=E9.txt?=\"\r\n\r\nx\r\n--M--\r\n");
        let m = mime_to_mapi(&raw);
        assert_eq!(m.get_str(0x0037), Some("日本語"));
        assert_eq!(m.get_str(0x1000), Some("Привет"));
        assert_eq!(get_str(&m.attachments[0].props, 0x3707), Some("café.txt"));
    }

    #[test]
    fn enriched() {
        assert_eq!(
            enriched_to_text("<bold>Now</bold> is\n<color><param>red</param>the</color> <<time>\n\nfor"),
            "Now is the <time>\r\nfor"
        );
    }

    #[test]
    fn subject_prefix() {
        assert_eq!(split_subject("Re: hello"), ("Re: ", "hello"));
        assert_eq!(split_subject("AW: x"), ("AW: ", "x"));
        assert_eq!(split_subject("Fwd: x"), ("Fwd: ", "x"));
        assert_eq!(split_subject("Ticket: x"), ("", "Ticket: x"));
        assert_eq!(split_subject("12: x"), ("", "12: x"));
        assert_eq!(split_subject("Re:x"), ("", "Re:x"));
        assert_eq!(split_subject("Ä: ü"), ("Ä: ", "ü"));
    }

    #[test]
    fn headers_map_to_properties() {
        let raw = b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\nTo: A <a@example.org>, b@example.org\r\nCc: C <c@example.org>\r\nReply-To: r@example.org\r\nSubject: Re: =?iso-8859-1?q?Gr=FC=DFe?=\r\nDate: Sun, 22 Nov 2026 10:00:00 +0100\r\nMessage-ID: <m1@example.org>\r\nIn-Reply-To: <m0@example.org>\r\nReferences: <a@x> <m0@example.org>\r\nImportance: high\r\nSensitivity: Private\r\nKeywords: red, blue\r\nDisposition-Notification-To: j@example.org\r\nX-Auto-Response-Suppress: DR, OOF\r\nList-Id: <list.example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHall=F6chen\r\n";
        let m = mime_to_mapi(raw);
        assert_eq!(m.get_str(0x0037), Some("Re: Grüße"));
        assert_eq!(m.get_str(0x003D), Some("Re: "));
        assert_eq!(m.get_str(0x0E1D), Some("Grüße"));
        assert_eq!(m.get_str(0x0042), Some("Jürgen"));
        assert_eq!(m.get_str(0x5D02), Some("j@example.org"));
        assert_eq!(m.get_str(0x0E04), Some("A; b@example.org"));
        assert_eq!(m.recipients.len(), 3);
        let Some(PropVal::Binary(eid)) = get(&m.recipients[0], PR_ENTRYID) else {
            panic!("no entry id")
        };
        assert_eq!(
            oneoff::decode(eid).unwrap(),
            ("A".into(), "SMTP".into(), "a@example.org".into())
        );
        let Some(PropVal::Binary(rr)) = m.get(PR_REPLY_RECIPIENT_ENTRIES) else {
            panic!("no reply entries")
        };
        let rr = oneoff::parse_flat_entry_list(rr).unwrap();
        assert_eq!(oneoff::decode(&rr[0]).unwrap().2, "r@example.org");
        assert_eq!(
            m.get(PR_SENDER_SEARCH_KEY),
            Some(&PropVal::Binary(b"SMTP:J@EXAMPLE.ORG\0".to_vec()))
        );
        let out = String::from_utf8(crate::mime_out::mapi_to_mime(&m)).unwrap();
        assert!(out.contains("Reply-To: <r@example.org>\r\n"), "{out}");
        assert_eq!(get(&m.recipients[2], PR_RECIPIENT_TYPE), Some(&PropVal::Long(2)));
        assert_eq!(
            m.get(PR_CLIENT_SUBMIT_TIME).map(|v| v.to_string()).as_deref(),
            Some("2026-11-22 09:00:00")
        );
        assert_eq!(m.get_str(0x1035), Some("<m1@example.org>"));
        assert_eq!(m.get_str(0x1042), Some("<m0@example.org>"));
        assert_eq!(m.get_str(0x1039), Some("<a@x> <m0@example.org>"));
        assert_eq!(m.get(PR_IMPORTANCE), Some(&PropVal::Long(2)));
        assert_eq!(m.get(PR_SENSITIVITY), Some(&PropVal::Long(2)));
        assert_eq!(m.get(PR_READ_RECEIPT_REQUESTED), Some(&PropVal::Bool(true)));
        assert_eq!(m.get(PR_AUTO_RESPONSE_SUPPRESS), Some(&PropVal::Long(17)));
        assert_eq!(
            m.get_named(&PropName::Name(PS_PUBLIC_STRINGS, "Keywords".into())),
            Some(&PropVal::Multi(vec![s("red"), s("blue")]))
        );
        assert_eq!(
            m.get_named(&PropName::Name(PS_INTERNET_HEADERS, "list-id".into())),
            Some(&s("<list.example.org>"))
        );
        assert_eq!(m.get_str(0x1000), Some("Hallöchen\r\n"));
        assert_eq!(m.get(PR_INTERNET_CPID), Some(&PropVal::Long(65001)));
        assert!(m.get_str(0x007D).unwrap().starts_with("From: "));
        assert_eq!(m.get_str(0x001A), Some("IPM.Note"));
    }

    #[test]
    fn alternative_related_and_attachments() {
        let raw = b"From: a@b\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n--M\r\nContent-Type: multipart/alternative; boundary=A\r\n\r\n--A\r\nContent-Type: text/plain\r\n\r\nplain body\r\n--A\r\nContent-Type: multipart/related; boundary=R\r\n\r\n--R\r\nContent-Type: text/html\r\n\r\n<p>html <img src=\"cid:img1@x\"></p>\r\n--R\r\nContent-Type: image/png\r\nContent-ID: <img1@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--R--\r\n--A--\r\n--M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''R%C3%A9sum%C3%A9.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--M\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@x\r\nSubject: inner\r\n\r\ninner body\r\n--M--\r\n";
        let m = mime_to_mapi(raw);
        assert_eq!(m.get_str(0x1000), Some("plain body"));
        let Some(PropVal::Binary(h)) = m.get(PR_HTML) else {
            panic!("no html")
        };
        assert!(String::from_utf8_lossy(h).contains("<p>html"));
        assert_eq!(m.attachments.len(), 3, "{}", crate::message::dump(&m));
        let img = &m.attachments[0];
        assert_eq!(get_str(&img.props, 0x3712), Some("img1@x"));
        assert_eq!(get(&img.props, PR_ATTACHMENT_HIDDEN), Some(&PropVal::Bool(true)));
        assert_eq!(
            get(&img.props, PR_ATTACH_DATA_BIN),
            Some(&PropVal::Binary(b"\x89PNG\r\n\x1a\n".to_vec()))
        );
        let pdf = &m.attachments[1];
        assert_eq!(get_str(&pdf.props, 0x3707), Some("Résumé.pdf"));
        assert_eq!(get_str(&pdf.props, 0x3703), Some(".pdf"));
        assert_eq!(
            get(&pdf.props, PR_ATTACH_DATA_BIN),
            Some(&PropVal::Binary(b"%PDF-".to_vec()))
        );
        let e = m.attachments[2].embedded.as_ref().expect("embedded");
        assert_eq!(e.get_str(0x0037), Some("inner"));
        assert_eq!(e.get_str(0x1000), Some("inner body"));
        assert_eq!(m.get(PR_HASATTACH), Some(&PropVal::Bool(true)));
    }

    #[test]
    fn calendar_smime_and_garbage() {
        let raw = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n--M\r\nContent-Type: text/plain\r\n\r\ninvite\r\n--M\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--M--\r\n";
        assert_eq!(mime_to_mapi(raw).get_str(0x001A), Some("IPM.Schedule.Meeting.Request"));
        let raw2 = b"From: a@b\r\nSubject: Meet\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n--M\r\nContent-Type: text/plain\r\n\r\ninvite\r\n--M\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u1\r\nDTSTART:20261201T100000Z\r\nDTEND:20261201T110000Z\r\nLOCATION:Room\r\nSUMMARY:other\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n--M--\r\n";
        let m = mime_to_mapi(raw2);
        assert_eq!(m.get_str(0x0037), Some("Meet"));
        let loc = PropName::Id(crate::ical::PSETID_APPOINTMENT, 0x8208);
        assert_eq!(m.get_named(&loc), Some(&s("Room")));
        assert_eq!(
            m.get(crate::ical::PR_START_DATE).map(|v| v.to_string()).as_deref(),
            Some("2026-12-01 10:00:00")
        );
        let raw = b"From: a@b\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=S\r\n\r\n--S\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--S\r\nContent-Type: application/pkcs7-signature\r\n\r\nAAAA\r\n--S--\r\n";
        let m = mime_to_mapi(raw);
        assert_eq!(m.get_str(0x001A), Some("IPM.Note.SMIME.MultipartSigned"));
        assert_eq!(m.attachments.len(), 1);
        let Some(PropVal::Binary(d)) = get(&m.attachments[0].props, PR_ATTACH_DATA_BIN) else {
            panic!()
        };
        assert!(d.starts_with(b"Content-Type: multipart/signed;"));
        assert!(d.ends_with(b"--S--\r\n"));
        for g in [
            &b""[..],
            b"\0\0\0",
            b"Subject: x",
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
        ] {
            let _ = mime_to_mapi(g);
        }
    }
}
