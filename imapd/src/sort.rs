//! SORT (RFC 5256): sort keys — base subject (§2.1), sent date, first address mailbox —
//! with the i;ascii-casemap comparator, ties broken by sequence number.

use std::cmp::Ordering;

use crate::command::{DateTime, SortCriterion, SortKey};
use crate::encode::{Address, Envelope};
use crate::store::MessageMeta;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch (UTC) of an internal date.
pub fn epoch(dt: &DateTime) -> i64 {
    let days = days_from_civil(dt.date.year.into(), dt.date.month.into(), dt.date.day.into());
    days * 86_400 + i64::from(dt.hour) * 3600 + i64::from(dt.minute) * 60 + i64::from(dt.second)
        - i64::from(dt.zone_minutes) * 60
}

/// Parse an RFC 5322 §3.3 date (`[Tue, ]1 Jul 2003 10:52:37 +0200`, obsolete zones too)
/// to UTC seconds.
pub fn parse_date(v: &[u8]) -> Option<i64> {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let s = String::from_utf8_lossy(v);
    let s = s.split_once(',').map_or(&*s, |(_, r)| r);
    let mut it = s.split_whitespace();
    let day: i64 = it.next()?.parse().ok()?;
    let mon = it.next()?.to_ascii_lowercase();
    let month = M.iter().position(|x| mon.starts_with(x))? as i64 + 1;
    let mut year: i64 = it.next()?.parse().ok()?;
    if year < 50 {
        year += 2000;
    } else if year < 1000 {
        year += 1900;
    }
    let time = it.next()?;
    let mut t = time.split(':').map(|x| x.parse::<i64>().ok());
    let (h, mi) = (t.next()??, t.next()??);
    let sec = t.next().flatten().unwrap_or(0);
    let zone = it.next().unwrap_or("+0000");
    let off = match zone.as_bytes().first() {
        Some(b'+') | Some(b'-') if zone.len() >= 5 => {
            let n: i64 = zone[1..5].parse().ok()?;
            let m = n / 100 * 60 + n % 100;
            if zone.starts_with('-') {
                -m
            } else {
                m
            }
        }
        _ => match zone.to_ascii_uppercase().as_str() {
            "EDT" => -4 * 60,
            "EST" | "CDT" => -5 * 60,
            "CST" | "MDT" => -6 * 60,
            "MST" | "PDT" => -7 * 60,
            "PST" => -8 * 60,
            _ => 0,
        },
    };
    if !(1..=31).contains(&day) || h > 23 || mi > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + sec - off * 60)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Decode one encoded word's text to a string; `None` for charsets it cannot convert.
fn decode_word(charset: &str, enc: &str, text: &str) -> Option<String> {
    let bytes = match enc {
        "b" | "B" => crate::mime::decode_base64_lenient(text.as_bytes()),
        "q" | "Q" => {
            let t = text.as_bytes();
            let mut out = Vec::with_capacity(t.len());
            let mut i = 0;
            while i < t.len() {
                match t[i] {
                    b'_' => out.push(b' '),
                    b'=' if i + 2 < t.len() => match (hex(t[i + 1]), hex(t[i + 2])) {
                        (Some(a), Some(b)) => {
                            out.push(a << 4 | b);
                            i += 2;
                        }
                        _ => out.push(b'='),
                    },
                    c => out.push(c),
                }
                i += 1;
            }
            out
        }
        _ => return None,
    };
    let cs = charset.split('*').next().unwrap_or("").to_ascii_lowercase();
    match cs.as_str() {
        "utf-8" | "utf8" | "us-ascii" => Some(String::from_utf8_lossy(&bytes).into_owned()),
        "iso-8859-1" | "latin1" | "windows-1252" => Some(bytes.iter().map(|&b| b as char).collect()),
        _ => None,
    }
}

/// Decode RFC 2047 encoded words (UTF-8, US-ASCII, ISO-8859-1; others stay as they are);
/// whitespace between adjacent encoded words is dropped (RFC 2047 §6.2).
pub fn decode_2047(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    let mut out = String::with_capacity(s.len());
    let mut rest: &str = &s;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, from) = rest.split_at(start);
        let parsed = (|| {
            let inner = &from[2..];
            let (charset, inner) = inner.split_once('?')?;
            let (enc, inner) = inner.split_once('?')?;
            let end = inner.find("?=")?;
            let text = &inner[..end];
            let word = decode_word(charset, enc, text)?;
            Some((word, 2 + charset.len() + 1 + enc.len() + 1 + end + 2))
        })();
        match parsed {
            Some((word, len)) => {
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&word);
                rest = &from[len..];
                last_was_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &from[2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Strip a leading `[blob]` and following whitespace.
fn strip_blob(s: &str) -> Option<&str> {
    let r = s.strip_prefix('[')?;
    let end = r.find(']')?;
    if r[..end].contains('[') {
        return None;
    }
    Some(r[end + 1..].trim_start())
}

/// Strip a leading `re:` / `fw:` / `fwd:`, with optional blobs before and in between.
fn strip_refwd(s: &str) -> Option<&str> {
    let mut t = s;
    while let Some(r) = strip_blob(t) {
        t = r;
    }
    let lower = t.to_ascii_lowercase();
    let n = if lower.starts_with("re") {
        2
    } else if lower.starts_with("fwd") {
        3
    } else if lower.starts_with("fw") {
        2
    } else {
        return None;
    };
    let mut r = t[n..].trim_start();
    if let Some(x) = strip_blob(r) {
        r = x;
    }
    r.strip_prefix(':').map(str::trim_start)
}

/// The base subject (RFC 5256 §2.1), upper-cased for i;ascii-casemap comparison.
pub fn base_subject(raw: &[u8]) -> String {
    let decoded = decode_2047(raw);
    let mut s: String = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    loop {
        // (2) trailers
        loop {
            let t = s.trim_end();
            let lower = t.to_ascii_lowercase();
            if lower.ends_with("(fwd)") {
                s = t[..t.len() - 5].to_string();
            } else {
                s = t.to_string();
                break;
            }
        }
        // (3)-(5) leaders and blobs
        loop {
            let before = s.clone();
            while let Some(r) = strip_refwd(&s) {
                s = r.to_string();
            }
            if let Some(r) = strip_blob(&s) {
                if !r.is_empty() {
                    s = r.to_string();
                }
            }
            if s == before {
                break;
            }
        }
        // (6) [fwd: ...]
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].trim().to_string();
            continue;
        }
        break;
    }
    s.to_ascii_uppercase()
}

fn first_mailbox(list: &[Address]) -> String {
    list.iter()
        .find(|a| a.host.is_some())
        .and_then(|a| a.mailbox.as_deref())
        .map(|m| String::from_utf8_lossy(m).to_ascii_uppercase())
        .unwrap_or_default()
}

/// The sort values of one message.
#[derive(Debug, Clone, Default)]
pub struct SortRow {
    pub uid: u32,
    pub arrival: i64,
    pub date: i64,
    pub size: u64,
    pub subject: String,
    pub from: String,
    pub to: String,
    pub cc: String,
}

impl SortRow {
    /// Build from metadata and envelope.
    pub fn new(meta: &MessageMeta, env: &Envelope) -> Self {
        let arrival = epoch(&meta.internal_date);
        SortRow {
            uid: meta.uid,
            arrival,
            // RFC 5256 §3: no valid Date header → the internal date.
            date: env.date.as_deref().and_then(parse_date).unwrap_or(arrival),
            size: meta.size,
            subject: env.subject.as_deref().map(base_subject).unwrap_or_default(),
            from: first_mailbox(&env.from),
            to: first_mailbox(&env.to),
            cc: first_mailbox(&env.cc),
        }
    }
}

/// Compare two rows by the criteria; ties fall back to UID (same order as sequence numbers).
pub fn compare(a: &SortRow, b: &SortRow, criteria: &[SortCriterion]) -> Ordering {
    for c in criteria {
        let o = match c.key {
            SortKey::Arrival => a.arrival.cmp(&b.arrival),
            SortKey::Date => a.date.cmp(&b.date),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Subject => a.subject.cmp(&b.subject),
            SortKey::From => a.from.cmp(&b.from),
            SortKey::To => a.to.cmp(&b.to),
            SortKey::Cc => a.cc.cmp(&b.cc),
        };
        let o = if c.reverse { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.uid.cmp(&b.uid)
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 §4): threads of equal base subject, each headed by its
/// earliest message with the others as its children in date order; threads ordered by the
/// date of their first message. Writes the `thread-list`s; `num` maps a UID to the number
/// sent (sequence number or UID).
pub fn ordered_subject(rows: &mut [SortRow], num: impl Fn(u32) -> Option<u32>, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let by_subject_date = [
        SortCriterion {
            reverse: false,
            key: SortKey::Subject,
        },
        SortCriterion {
            reverse: false,
            key: SortKey::Date,
        },
    ];
    rows.sort_by(|a, b| compare(a, b, &by_subject_date));
    let mut threads: Vec<&[SortRow]> = rows.chunk_by(|a, b| a.subject == b.subject).collect();
    threads.sort_by(|a, b| a[0].date.cmp(&b[0].date).then(a[0].uid.cmp(&b[0].uid)));
    for t in threads {
        let nums: Vec<u32> = t.iter().filter_map(|r| num(r.uid)).collect();
        let Some((first, rest)) = nums.split_first() else {
            continue;
        };
        let _ = write!(out, "({first}");
        match rest.len() {
            0 => {}
            1 => {
                let _ = write!(out, " {}", rest[0]);
            }
            _ => {
                out.push(b' ');
                for n in rest {
                    let _ = write!(out, "({n})");
                }
            }
        }
        out.push(b')');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        assert_eq!(base_subject(b"Re: Fwd: [list] hello world (fwd)"), "HELLO WORLD");
        assert_eq!(base_subject(b"[Fwd: Re: meeting]"), "MEETING");
        assert_eq!(base_subject(b"RE [x]: re: test"), "TEST");
        assert_eq!(base_subject(b"[only blob]"), "[ONLY BLOB]");
        assert_eq!(
            base_subject(b"=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= =?UTF-8?B?IGF1cw==?="),
            "GRüßE AUS"
        );
        assert_eq!(base_subject(b"=?ISO-8859-1?Q?caf=E9?=  tea"), "CAFé TEA");
        assert_eq!(base_subject(b"  a \t b  "), "A B");
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date(b"Thu, 1 Jan 1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_date(b"1 Jan 1970 01:00 +0100"), Some(0));
        assert_eq!(parse_date(b"Fri, 4 May 2001 14:05:44 -0400"), Some(988_999_544));
        assert_eq!(parse_date(b"garbage"), None);
        let dt = DateTime {
            date: crate::command::Date {
                year: 2001,
                month: 5,
                day: 4,
            },
            hour: 14,
            minute: 5,
            second: 44,
            zone_minutes: -240,
        };
        assert_eq!(epoch(&dt), 988_999_544);
    }
}
