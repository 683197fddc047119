//! Report messages: message disposition notifications (read receipts,
//! RFC 8098) and delivery status notifications (bounces, RFC 3464), both
//! `multipart/report` (RFC 6522) with a human-readable part, the
//! machine-readable status part and the original's header block
//! (`text/rfc822-headers`). [`crate::mime_in::mime_to_mapi`] reads them as
//! REPORT.IPM.Note.IPNRN / IPNNRN and REPORT.IPM.Note.NDR / DR /
//! Delayed.DR ([MS-OXCMAIL] section 2.4.1).
//!
//! Sans-I/O: the caller passes the report's date; boundaries and the
//! report's Message-ID are derived from the content.

use crate::message::MessageContent;
use crate::mime_out::{header, mailbox, rfc5322_date, unstructured};
use crate::props::{fnv, get_str};

/// The disposition type of an MDN (RFC 8098 section 3.2.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Shown to the user (a read receipt).
    Displayed,
    /// Deleted without being shown.
    Deleted,
    /// Sent somewhere else without being shown.
    Dispatched,
    /// Processed without being shown.
    Processed,
}

impl Disposition {
    fn keyword(self) -> &'static str {
        match self {
            Disposition::Displayed => "displayed",
            Disposition::Deleted => "deleted",
            Disposition::Dispatched => "dispatched",
            Disposition::Processed => "processed",
        }
    }
}

/// DSN Action field (RFC 3464 section 2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
    Delivered,
    Relayed,
    Expanded,
}

impl Action {
    fn keyword(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
            Action::Expanded => "expanded",
        }
    }
    /// Status class when the given one is not valid (RFC 3463).
    fn default_status(self) -> &'static str {
        match self {
            Action::Failed => "5.0.0",
            Action::Delayed => "4.0.0",
            _ => "2.0.0",
        }
    }
}

/// One recipient's delivery status (RFC 3464 section 2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStatus {
    /// Final-Recipient address (rfc822 type).
    pub recipient: String,
    pub action: Action,
    /// Status code "class.subject.detail" (RFC 3463), e.g. "5.1.1".
    pub status: String,
    /// Diagnostic-Code text, e.g. "550 5.1.1 User unknown" (smtp type).
    pub diagnostic: Option<String>,
    /// Remote-MTA host name, if the status came from one.
    pub remote_mta: Option<String>,
}

/// Removes CR, LF and other control characters (header injection).
fn field(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

fn valid_status(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The header block of a MIME message (up to the first empty line).
fn header_block(raw: &[u8]) -> Vec<u8> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(raw.len());
    crate::mime_out::canonical_crlf(&raw[..end])
}

/// Assembles the multipart/report message.
fn report(
    headers: String,
    report_type: &str,
    human: &str,
    status_type: &str,
    status: &str,
    original_headers: &[u8],
) -> Vec<u8> {
    let b = format!(
        "=_gromox_report_{:016x}",
        fnv(status.as_bytes()) ^ fnv(original_headers)
    );
    let mut out = headers;
    header(&mut out, "MIME-Version", "1.0");
    header(
        &mut out,
        "Content-Type",
        &format!("multipart/report; report-type={report_type};\r\n boundary=\"{b}\""),
    );
    out.push_str("\r\n");
    let mut v = out.into_bytes();
    let part = |v: &mut Vec<u8>, ctype: &str, body: &[u8]| {
        v.extend_from_slice(format!("--{b}\r\nContent-Type: {ctype}\r\n").as_bytes());
        if !body.is_ascii() {
            v.extend_from_slice(b"Content-Transfer-Encoding: 8bit\r\n");
        }
        v.extend_from_slice(b"\r\n");
        v.extend_from_slice(body);
        if !body.ends_with(b"\r\n") {
            v.extend_from_slice(b"\r\n");
        }
    };
    part(
        &mut v,
        "text/plain; charset=utf-8",
        human.replace('\n', "\r\n").as_bytes(),
    );
    part(&mut v, status_type, status.as_bytes());
    part(&mut v, "text/rfc822-headers", original_headers);
    v.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    v
}

fn sender_of(m: &MessageContent) -> Option<(String, String)> {
    let addr = get_str(&m.props, 0x5D02)
        .or_else(|| get_str(&m.props, 0x0065))
        .or_else(|| get_str(&m.props, 0x5D01))
        .or_else(|| get_str(&m.props, 0x0C1F))
        .filter(|a| !a.is_empty())?;
    let name = get_str(&m.props, 0x0042)
        .or_else(|| get_str(&m.props, 0x0C1A))
        .unwrap_or("");
    Some((name.to_string(), addr.to_string()))
}

/// A message disposition notification for `original` (RFC 8098 section
/// 3): sent by `final_recipient` to the original's sender, with
/// Reporting-UA `reporting_ua`, Original-Message-ID and the disposition
/// (`manual-action/MDN-sent-manually` for [`Disposition::Displayed`], else
/// automatic). `date` is the report's FILETIME. Returns MIME bytes.
pub fn mdn(
    original: &MessageContent,
    disposition: Disposition,
    final_recipient: &str,
    reporting_ua: &str,
    date: u64,
) -> Vec<u8> {
    let final_recipient = field(final_recipient);
    let subject = get_str(&original.props, 0x0037).unwrap_or("");
    let msgid = get_str(&original.props, 0x1035).map(field).filter(|m| !m.is_empty());
    let mut h = String::new();
    header(&mut h, "Date", &rfc5322_date(date));
    header(&mut h, "From", &mailbox("", &final_recipient));
    if let Some((name, addr)) = sender_of(original) {
        header(&mut h, "To", &mailbox(&name, &addr));
    }
    let prefix = match disposition {
        Disposition::Displayed => "Read",
        Disposition::Deleted => "Deleted",
        _ => "Disposition notification",
    };
    header(&mut h, "Subject", &unstructured(&format!("{prefix}: {subject}")));
    let id = fnv(format!("{msgid:?}{final_recipient}{date}").as_bytes());
    header(&mut h, "Message-ID", &format!("<mdn.{id:016x}@gromox>"));
    if let Some(m) = &msgid {
        header(&mut h, "In-Reply-To", m);
        header(&mut h, "References", m);
    }
    header(&mut h, "Auto-Submitted", "auto-replied");
    let mode = match disposition {
        Disposition::Displayed => "manual-action/MDN-sent-manually",
        _ => "automatic-action/MDN-sent-automatically",
    };
    let mut status = String::new();
    status.push_str(&format!("Reporting-UA: {}\r\n", field(reporting_ua)));
    status.push_str(&format!("Final-Recipient: rfc822;{final_recipient}\r\n"));
    if let Some(m) = &msgid {
        status.push_str(&format!("Original-Message-ID: {m}\r\n"));
    }
    status.push_str(&format!("Disposition: {mode}; {}\r\n", disposition.keyword()));
    let human = match disposition {
        Disposition::Displayed => format!(
            "The message\n\n  Subject: {subject}\n\nwas displayed by {final_recipient}. This is no guarantee that it was read or understood.\n"
        ),
        d => format!(
            "The message\n\n  Subject: {subject}\n\nsent to {final_recipient} was {} without being displayed.\n",
            d.keyword()
        ),
    };
    let opts = crate::mime_out::MimeOptions {
        calendar: false,
        tnef: false,
    };
    let orig = header_block(&crate::mime_out::mapi_to_mime_with(original, &opts));
    report(
        h,
        "disposition-notification",
        &human,
        "message/disposition-notification",
        &status,
        &orig,
    )
}

/// A delivery status notification for the message `original` (its raw
/// MIME bytes) per RFC 3464: per-message fields (Reporting-MTA `dns;
/// reporting_mta`) and one block per recipient (Final-Recipient, Action,
/// Status, Remote-MTA, Diagnostic-Code), addressed to `return_path` (the
/// envelope sender; `None` = the original's From). `date` is the report's
/// FILETIME. The subject tells failures, delays and successes apart.
pub fn dsn(
    original: &[u8],
    return_path: Option<&str>,
    statuses: &[RecipientStatus],
    reporting_mta: &str,
    date: u64,
) -> Vec<u8> {
    let mta = field(reporting_mta);
    let parsed = crate::mime_in::mime_to_mapi(original);
    let subject = get_str(&parsed.props, 0x0037).unwrap_or("").to_string();
    let mut h = String::new();
    header(&mut h, "Date", &rfc5322_date(date));
    header(
        &mut h,
        "From",
        &format!(
            "Mail Delivery System <MAILER-DAEMON@{}>",
            field(&mta.replace(['<', '>', ' '], ""))
        ),
    );
    let to = match return_path.map(field).filter(|r| !r.is_empty()) {
        Some(r) => Some(mailbox("", &r)),
        None => sender_of(&parsed).map(|(n, a)| mailbox(&n, &a)),
    };
    if let Some(t) = to {
        header(&mut h, "To", &t);
    }
    let failed = statuses.iter().any(|s| s.action == Action::Failed);
    let delayed = statuses.iter().any(|s| s.action == Action::Delayed);
    let title = if failed {
        "Undelivered Mail Returned to Sender"
    } else if delayed {
        "Delayed Mail (still being retried)"
    } else {
        "Successful Mail Delivery Report"
    };
    header(&mut h, "Subject", &unstructured(&format!("{title}: {subject}")));
    let id = fnv(format!("{mta}{date}{statuses:?}").as_bytes()) ^ fnv(original);
    header(
        &mut h,
        "Message-ID",
        &format!("<dsn.{id:016x}@{}>", field(&mta.replace(['<', '>', ' '], ""))),
    );
    if let Some(m) = get_str(&parsed.props, 0x1035).map(field).filter(|m| !m.is_empty()) {
        header(&mut h, "In-Reply-To", &m);
        header(&mut h, "References", &m);
    }
    header(&mut h, "Auto-Submitted", "auto-replied");
    let mut status = format!("Reporting-MTA: dns; {mta}\r\n");
    let mut human = format!("This is the mail system at host {mta}.\n\n");
    for s in statuses {
        let rcpt = field(&s.recipient);
        let code = if valid_status(s.status.trim()) {
            s.status.trim()
        } else {
            s.action.default_status()
        };
        status.push_str("\r\n");
        status.push_str(&format!("Final-Recipient: rfc822; {rcpt}\r\n"));
        status.push_str(&format!("Action: {}\r\n", s.action.keyword()));
        status.push_str(&format!("Status: {code}\r\n"));
        if let Some(r) = s.remote_mta.as_deref().map(field).filter(|r| !r.is_empty()) {
            status.push_str(&format!("Remote-MTA: dns; {r}\r\n"));
        }
        if let Some(d) = s.diagnostic.as_deref().map(field).filter(|d| !d.is_empty()) {
            status.push_str(&format!("Diagnostic-Code: smtp; {d}\r\n"));
        }
        let what = match s.action {
            Action::Failed => "could not be delivered",
            Action::Delayed => "is delayed, delivery is still being tried",
            Action::Delivered => "was delivered",
            Action::Relayed => "was relayed",
            Action::Expanded => "was expanded",
        };
        human.push_str(&format!("<{rcpt}>: {what}"));
        if let Some(d) = s.diagnostic.as_deref().map(field).filter(|d| !d.is_empty()) {
            human.push_str(&format!(" ({d})"));
        }
        human.push('\n');
    }
    report(
        h,
        "delivery-status",
        &human,
        "message/delivery-status",
        &status,
        &header_block(original),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        assert!(valid_status("5.1.1"));
        assert!(valid_status("4.4.100"));
        assert!(!valid_status("6.1.1"));
        assert!(!valid_status("5.1"));
        assert!(!valid_status("5.1.1\r\nX: y"));
    }
}
