//! SEARCH keys (RFC 9051 §6.4.4) evaluated against one message: its metadata and, for keys
//! on headers, body or text, its RFC 5322 form. Shared by every [`crate::store::MailStore`].

use crate::command::{Date, DateTime, SearchKey, SeqSet};
use crate::mime;

/// What a search key is tested against.
pub struct Candidate<'a> {
    pub uid: u32,
    pub flags: &'a [String],
    pub internal: &'a DateTime,
    /// RFC822.SIZE.
    pub size: u64,
    pub modseq: u64,
    /// The message, when [`needs_raw`] said the key needs it (`None` counts as empty).
    pub raw: Option<&'a [u8]>,
}

/// Whether evaluating `key` needs the message itself (headers, body, text, sent dates).
pub fn needs_raw(key: &SearchKey) -> bool {
    use SearchKey as K;
    match key {
        K::Bcc(_) | K::Cc(_) | K::From(_) | K::To(_) | K::Subject(_) | K::Header(..) | K::Body(_) | K::Text(_) => true,
        K::SentBefore(_) | K::SentOn(_) | K::SentSince(_) => true,
        K::Not(k) => needs_raw(k),
        K::Or(a, b) => needs_raw(a) || needs_raw(b),
        K::And(v) => v.iter().any(needs_raw),
        _ => false,
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC date-time of Unix time `secs` (zone +0000).
pub fn from_unix(secs: i64) -> DateTime {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    DateTime {
        date: Date {
            year: year.clamp(0, 9999) as u16,
            month: month as u8,
            day: day as u8,
        },
        hour: (rem / 3600) as u8,
        minute: (rem % 3600 / 60) as u8,
        second: (rem % 60) as u8,
        zone_minutes: 0,
    }
}

/// Unix time of a date-time (its zone applied).
pub fn to_unix(dt: &DateTime) -> i64 {
    days_from_civil(
        i64::from(dt.date.year),
        i64::from(dt.date.month),
        i64::from(dt.date.day),
    ) * 86_400
        + i64::from(dt.hour) * 3600
        + i64::from(dt.minute) * 60
        + i64::from(dt.second)
        - i64::from(dt.zone_minutes) * 60
}

fn contains_ci(hay: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    if n.is_empty() {
        return true;
    }
    hay.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Day, month and year of an RFC 5322 date (`Tue, 1 Jul 2003 10:52:37 +0200`).
fn header_date(v: &[u8]) -> Option<Date> {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let s = String::from_utf8_lossy(v);
    let s = s.split_once(',').map_or(&*s, |(_, r)| r);
    let mut it = s.split_whitespace();
    let day: u8 = it.next()?.parse().ok()?;
    let m = it.next()?.to_ascii_lowercase();
    let month = M.iter().position(|x| m.starts_with(x))? as u8 + 1;
    let year: u16 = it.next()?.parse().ok()?;
    Some(Date { year, month, day })
}

fn in_set(set: &SeqSet, uid: u32, max: u32) -> bool {
    set.resolved(max).iter().any(|&(a, b)| a <= uid && uid <= b)
}

pub fn matches(m: &Candidate<'_>, key: &SearchKey, max_uid: u32) -> bool {
    use SearchKey as K;
    let has = |f: &str| m.flags.iter().any(|x| x.eq_ignore_ascii_case(f));
    let raw: &[u8] = m.raw.unwrap_or(&[]);
    let root = || mime::parse(raw);
    let header = |name: &str, needle: &str| {
        let r = root();
        let h = &raw[r.header.clone()];
        mime::fields(h).any(|(n, v)| n.eq_ignore_ascii_case(name.as_bytes()) && contains_ci(&mime::unfold(v), needle))
    };
    let sent = || {
        let r = root();
        mime::header_value(&raw[r.header.clone()], "date").and_then(|v| header_date(&v))
    };
    match key {
        K::All => true,
        K::Answered => has("\\Answered"),
        K::Deleted => has("\\Deleted"),
        K::Draft => has("\\Draft"),
        K::Flagged => has("\\Flagged"),
        K::Seen => has("\\Seen"),
        K::Unanswered => !has("\\Answered"),
        K::Undeleted => !has("\\Deleted"),
        K::Undraft => !has("\\Draft"),
        K::Unflagged => !has("\\Flagged"),
        K::Unseen => !has("\\Seen"),
        K::New | K::Recent => false,
        K::Old => true,
        K::Keyword(k) => has(k),
        K::Unkeyword(k) => !has(k),
        K::Bcc(s) => header("bcc", s),
        K::Cc(s) => header("cc", s),
        K::From(s) => header("from", s),
        K::To(s) => header("to", s),
        K::Subject(s) => header("subject", s),
        K::Header(n, s) => header(n, s),
        K::Body(s) => {
            let r = root();
            contains_ci(&raw[r.body.clone()], s)
        }
        K::Text(s) => contains_ci(raw, s),
        K::Before(d) => m.internal.date < *d,
        K::On(d) => m.internal.date == *d,
        K::Since(d) => m.internal.date >= *d,
        K::SentBefore(d) => sent().is_some_and(|x| x < *d),
        K::SentOn(d) => sent().is_some_and(|x| x == *d),
        K::SentSince(d) => sent().is_some_and(|x| x >= *d),
        K::Larger(n) => m.size > *n,
        K::Smaller(n) => m.size < *n,
        K::Uid(set) => in_set(set, m.uid, max_uid),
        K::ModSeq(n) => m.modseq >= *n,
        // The session rewrites sequence sets to UID sets; an unrewritten one matches nothing.
        K::Seq(_) => false,
        K::Not(k) => !matches(m, k, max_uid),
        K::Or(a, b) => matches(m, a, max_uid) || matches(m, b, max_uid),
        K::And(v) => v.iter().all(|k| matches(m, k, max_uid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_round_trip() {
        for t in [0i64, 951_782_400, 1_790_000_000, 4_102_444_799] {
            assert_eq!(to_unix(&from_unix(t)), t);
        }
        let d = from_unix(951_782_400); // 2000-02-29 00:00:00
        assert_eq!((d.date.year, d.date.month, d.date.day), (2000, 2, 29));
        let mut z = from_unix(3600);
        z.zone_minutes = 60;
        z.hour += 1;
        assert_eq!(to_unix(&z), 3600);
    }
}
