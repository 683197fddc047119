//! Delivery status notifications for queued (SMTP-mode) messages that fail permanently or
//! expire: a `multipart/report` (RFC 6522) with a `message/delivery-status` part (RFC 3464) and
//! the original header, sent from the null reverse path (RFC 5321 §4.5.5) so it never bounces.

use std::io::{BufRead, BufReader, Read};

use crate::received::rfc5322_date;
use crate::reply::Reply;
use crate::spool::{Envelope, SpooledMessage};

/// Most of the original header quoted in a DSN.
const MAX_QUOTED_HEADER: u64 = 64 * 1024;

/// The original message's header (up to the empty line, at most 64 KiB).
pub fn original_header(msg: &SpooledMessage) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(body) = msg.open_body() else {
        return out;
    };
    let mut r = BufReader::new(body.take(MAX_QUOTED_HEADER));
    loop {
        let mut line = Vec::new();
        match r.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if line == b"\r\n" || line == b"\n" {
                    break;
                }
                out.extend_from_slice(&line);
            }
        }
    }
    out
}

/// Build the DSN for `failed` recipients (address and the reply that ended them) of a
/// message with envelope `env` and spool id `id`.
pub fn build(hostname: &str, id: &str, env: &Envelope, failed: &[(String, Reply)], header: &[u8], now: u64) -> Vec<u8> {
    let boundary = format!("{id}/{hostname}");
    let mut m = String::new();
    m.push_str(&format!("From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n"));
    m.push_str(&format!("To: <{}>\r\n", env.from));
    m.push_str("Subject: Undelivered Mail Returned to Sender\r\n");
    m.push_str(&format!("Date: {}\r\n", rfc5322_date(now)));
    m.push_str(&format!("Message-ID: <{id}.dsn@{hostname}>\r\n"));
    m.push_str("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    m.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    ));
    m.push_str(&format!(
        "This is the mail system at host {hostname}.\r\n\r\nYour message could not be delivered to the following recipients:\r\n\r\n"
    ));
    for (rcpt, r) in failed {
        m.push_str(&format!("<{rcpt}>: {r}\r\n"));
    }
    m.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
    ));
    m.push_str(&format!(
        "Reporting-MTA: dns; {hostname}\r\nX-Gromox-Queue-ID: {id}\r\nArrival-Date: {}\r\n",
        rfc5322_date(env.time)
    ));
    for (rcpt, r) in failed {
        let status = if r.code >= 500 { r.enhanced } else { "4.4.7" };
        m.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: {status}\r\nDiagnostic-Code: smtp; {r}\r\n"
        ));
    }
    m.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ));
    let mut out = m.into_bytes();
    out.extend_from_slice(header);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_structure() {
        let env = Envelope {
            from: "alice@example.org".into(),
            rcpts: vec!["bob@example.org".into()],
            time: 0,
            ..Envelope::default()
        };
        let d = build(
            "mx.example.org",
            "abc-1",
            &env,
            &[(
                "bob@example.org".into(),
                Reply::new(554, "5.3.0", "<bob@example.org> broken"),
            )],
            b"Subject: hi\r\n",
            60,
        );
        let t = String::from_utf8(d).unwrap();
        assert!(
            t.starts_with("From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\nTo: <alice@example.org>\r\n")
        );
        assert!(t.contains(
            "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"abc-1/mx.example.org\"\r\n"
        ));
        assert!(t.contains("\r\nFinal-Recipient: rfc822; bob@example.org\r\nAction: failed\r\nStatus: 5.3.0\r\nDiagnostic-Code: smtp; 554 5.3.0 <bob@example.org> broken\r\n"));
        assert!(t.ends_with("text/rfc822-headers\r\n\r\nSubject: hi\r\n\r\n--abc-1/mx.example.org--\r\n"));
    }
}
