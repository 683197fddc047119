//! The trace header prepended to every message (RFC 5321 §4.4, `with` keywords of RFC 3848).

use gromox_base::log::civil_from_days;

/// RFC 5322 §3.3 date-time in UTC: `Sun, 22 Nov 2026 21:13:04 +0000`.
pub fn rfc5322_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m as usize).clamp(1, 12) - 1],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Facts for the Received: header.
pub struct Trace<'a> {
    /// LHLO/EHLO name.
    pub helo: &'a str,
    /// Client IP.
    pub peer_ip: &'a str,
    /// Our host name.
    pub by: &'a str,
    /// `LMTP`, `ESMTP`, with `S` for TLS and `UTF8` prefix (RFC 3848, RFC 6531 §3.7.3).
    pub with: String,
    /// Spool id.
    pub id: &'a str,
    /// The recipient when there is exactly one.
    pub single_rcpt: Option<&'a str>,
    /// Unix time.
    pub time: u64,
}

/// The `with` protocol name.
pub fn with_keyword(lmtp: bool, helo_ext: bool, tls: bool, utf8: bool) -> String {
    let base = match (lmtp, helo_ext) {
        (true, _) => "LMTP",
        (false, true) => "ESMTP",
        (false, false) => "SMTP",
    };
    format!(
        "{}{}{}",
        if utf8 { "UTF8" } else { "" },
        base,
        if tls && helo_ext { "S" } else { "" }
    )
    .replace("UTF8ESMTP", "UTF8SMTP")
}

/// The complete header field with CRLF, folded.
pub fn received_header(t: &Trace<'_>) -> String {
    let helo: String = t
        .helo
        .chars()
        .filter(|c| !c.is_control() && *c != '(' && *c != ')')
        .take(255)
        .collect();
    let mut h = format!(
        "Received: from {helo} ([{}])\r\n\tby {} with {} id {}",
        t.peer_ip, t.by, t.with, t.id
    );
    if let Some(r) = t.single_rcpt {
        h.push_str(&format!("\r\n\tfor <{r}>"));
    }
    h.push_str(&format!(";\r\n\t{}\r\n", rfc5322_date(t.time)));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_header() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_795_381_984), "Sun, 22 Nov 2026 21:13:04 +0000");
        let h = received_header(&Trace {
            helo: "mx.example",
            peer_ip: "127.0.0.1",
            by: "mail.example.org",
            with: with_keyword(true, true, false, false),
            id: "abc-1",
            single_rcpt: Some("bob@example.org"),
            time: 0,
        });
        assert_eq!(
            h,
            "Received: from mx.example ([127.0.0.1])\r\n\tby mail.example.org with LMTP id abc-1\r\n\tfor <bob@example.org>;\r\n\tThu, 1 Jan 1970 00:00:00 +0000\r\n"
        );
        assert_eq!(with_keyword(false, true, true, true), "UTF8SMTPS");
        assert_eq!(with_keyword(true, true, true, false), "LMTPS");
    }
}
