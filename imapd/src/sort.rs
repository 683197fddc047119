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
            let n: i64 = zone.get(1..5)?.parse().ok()?;
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
    if !(1..=31).contains(&day) || !(0..=23).contains(&h) || !(0..=59).contains(&mi) {
        return None;
    }
    if !(0..=60).contains(&sec) || !(1..=9999).contains(&year) || off.abs() > 24 * 60 {
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

    fn tm(uid: u32, date: i64, subject: &str, id: &str, refs: &[&str]) -> ThreadMsg {
        ThreadMsg {
            uid,
            date,
            subject: base_subject(subject.as_bytes()),
            is_reply: subject_is_reply(subject.as_bytes()),
            message_id: Some(id.to_string()),
            references: refs.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn thread(msgs: &[ThreadMsg]) -> String {
        let mut out = Vec::new();
        references(msgs, Some, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn references_algorithm() {
        let msgs = vec![
            tm(1, 10, "hello", "a", &[]),
            tm(2, 20, "Re: hello", "b", &["a"]),
            tm(3, 30, "Re: hello", "c", &["a", "b"]),
            tm(4, 40, "Re: hello", "d", &["a"]),
            tm(5, 5, "other", "e", &[]),
            tm(6, 50, "Re: lost", "f", &["zz"]),
            tm(7, 60, "Re: hello", "g", &[]),
        ];
        assert_eq!(thread(&msgs), "(5)(1 (2 3)(4)(7))(6)");
        // Two replies to a missing parent: the dummy root keeps both.
        let msgs = vec![tm(1, 1, "Re: x", "a", &["p"]), tm(2, 2, "Re: x", "b", &["p"])];
        assert_eq!(thread(&msgs), "((1)(2))");
        // Same subject, neither a reply: grouped under a new dummy.
        let msgs = vec![tm(1, 1, "x", "a", &[]), tm(2, 2, "x", "b", &[])];
        assert_eq!(thread(&msgs), "((1)(2))");
        // Loops and duplicate ids do not hang or lose messages.
        let msgs = vec![
            tm(1, 1, "l", "a", &["b"]),
            tm(2, 2, "l", "b", &["a"]),
            tm(3, 3, "l", "a", &[]),
        ];
        let t = thread(&msgs);
        for n in ["1", "2", "3"] {
            assert!(t.contains(n), "{t}");
        }
        assert!(subject_is_reply(b"Re: x"));
        assert!(subject_is_reply(b"x (fwd)"));
        assert!(!subject_is_reply(b"x"));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date(b"Thu, 1 Jan 1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_date(b"1 Jan 1970 01:00 +0100"), Some(0));
        assert_eq!(parse_date(b"Fri, 4 May 2001 14:05:44 -0400"), Some(988_999_544));
        assert_eq!(parse_date(b"garbage"), None);
        assert_eq!(parse_date("1 Jan 2000 00:00 +ü123".as_bytes()), None);
        assert_eq!(parse_date(b"1 Jan 2000 00:00 EST"), Some(946_702_800));
        assert_eq!(parse_date(b"1 Jan 9223372036854775807 00:00:00 +0000"), None);
        assert_eq!(parse_date(b"1 Jan 2000 00:00:9223372036854775807 +0000"), None);
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

/// What THREAD=REFERENCES needs of one message.
#[derive(Debug, Clone)]
pub struct ThreadMsg {
    pub uid: u32,
    pub date: i64,
    pub subject: String,
    /// The subject lost a `Re:`/`Fwd:` leader or `(fwd)` trailer on extraction.
    pub is_reply: bool,
    pub message_id: Option<String>,
    /// References (or the first In-Reply-To id), oldest first.
    pub references: Vec<String>,
}

/// Message ids (`<...>`) in a header value.
pub fn msg_ids(v: &[u8]) -> Vec<String> {
    let s = String::from_utf8_lossy(v);
    let mut out = Vec::new();
    let mut rest: &str = &s;
    while let Some(a) = rest.find('<') {
        let Some(b) = rest[a..].find('>') else { break };
        let id = &rest[a + 1..a + b];
        if !id.is_empty() && !id.contains(char::is_whitespace) {
            out.push(id.to_string());
        }
        rest = &rest[a + b + 1..];
        if out.len() > 1000 {
            break;
        }
    }
    out
}

/// Whether base-subject extraction removed a reply/forward marker (RFC 5256 §2.1 note on
/// "reply or forward" used by THREAD=REFERENCES step 5).
pub fn subject_is_reply(raw: &[u8]) -> bool {
    let decoded = decode_2047(raw);
    let s: String = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = s.to_ascii_lowercase();
    strip_refwd(&s).is_some()
        || lower.trim_end().ends_with("(fwd)")
        || (lower.starts_with("[fwd:") && lower.ends_with(']'))
        || strip_blob(&s).and_then(strip_refwd).is_some()
}

#[derive(Debug, Default, Clone)]
struct Node {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// THREAD=REFERENCES (RFC 5256 §4). Writes the `thread-list`s; `num` maps a UID to the number
/// sent (sequence number or UID).
pub fn references(msgs: &[ThreadMsg], num: impl Fn(u32) -> Option<u32>, out: &mut Vec<u8>) {
    use std::collections::HashMap;
    let mut nodes: Vec<Node> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut get = |nodes: &mut Vec<Node>, id: &str| -> usize {
        if let Some(&n) = by_id.get(id) {
            return n;
        }
        nodes.push(Node::default());
        by_id.insert(id.to_string(), nodes.len() - 1);
        nodes.len() - 1
    };
    fn is_ancestor(nodes: &[Node], anc: usize, mut n: usize) -> bool {
        // Whether `anc` is `n` or one of its ancestors.
        let mut steps = 0;
        loop {
            if n == anc {
                return true;
            }
            match nodes[n].parent {
                Some(p) if steps < nodes.len() => {
                    n = p;
                    steps += 1;
                }
                _ => return false,
            }
        }
    }
    fn unlink(nodes: &mut [Node], c: usize) {
        if let Some(p) = nodes[c].parent.take() {
            nodes[p].children.retain(|&x| x != c);
        }
    }
    fn link(nodes: &mut [Node], p: usize, c: usize) {
        nodes[c].parent = Some(p);
        nodes[p].children.push(c);
    }
    // Step 1
    for (i, m) in msgs.iter().enumerate() {
        // (A) own container; a missing or duplicate id gets a unique one.
        let mut me = m.message_id.as_deref().map(|id| get(&mut nodes, id));
        if me.is_some_and(|n| nodes[n].msg.is_some()) {
            me = None;
        }
        let me = match me {
            Some(n) => n,
            None => {
                nodes.push(Node::default());
                nodes.len() - 1
            }
        };
        nodes[me].msg = Some(i);
        // (B) link the references chain.
        let refs: Vec<usize> = m.references.iter().map(|r| get(&mut nodes, r)).collect();
        for w in refs.windows(2) {
            let (p, c) = (w[0], w[1]);
            if p != c && nodes[c].parent.is_none() && !is_ancestor(&nodes, c, p) {
                link(&mut nodes, p, c);
            }
        }
        // (C) parent of this message = last reference.
        if let Some(&last) = refs.last() {
            if last != me && !is_ancestor(&nodes, me, last) {
                unlink(&mut nodes, me);
                link(&mut nodes, last, me);
            }
        } else {
            unlink(&mut nodes, me);
        }
    }
    // Step 2: roots.
    let roots: Vec<usize> = (0..nodes.len()).filter(|&n| nodes[n].parent.is_none()).collect();
    // Step 3: prune dummies.
    fn prune(nodes: &mut Vec<Node>, list: Vec<usize>, is_root: bool) -> Vec<usize> {
        let mut out = Vec::new();
        for n in list {
            let kids = std::mem::take(&mut nodes[n].children);
            let kids = prune(nodes, kids, false);
            for &k in &kids {
                nodes[k].parent = Some(n);
            }
            if nodes[n].msg.is_none() {
                if kids.is_empty() {
                    continue;
                }
                if !(is_root && kids.len() > 1) {
                    // Promote the children to this level.
                    for &k in &kids {
                        nodes[k].parent = None;
                    }
                    out.extend(kids);
                    continue;
                }
            }
            nodes[n].children = kids;
            out.push(n);
        }
        out
    }
    let mut roots = prune(&mut nodes, roots, true);
    // Dates: a dummy takes the date of its first child (children sorted first).
    fn sort_tree(nodes: &mut Vec<Node>, n: usize, msgs: &[ThreadMsg]) -> (i64, u32) {
        let mut kids = std::mem::take(&mut nodes[n].children);
        let mut keyed: Vec<((i64, u32), usize)> = kids.iter().map(|&k| (sort_tree(nodes, k, msgs), k)).collect();
        keyed.sort();
        kids = keyed.iter().map(|x| x.1).collect();
        let first = keyed.first().map(|x| x.0);
        nodes[n].children = kids;
        match nodes[n].msg {
            Some(i) => (msgs[i].date, msgs[i].uid),
            None => first.unwrap_or((i64::MAX, u32::MAX)),
        }
    }
    let mut keyed: Vec<((i64, u32), usize)> = roots.iter().map(|&r| (sort_tree(&mut nodes, r, msgs), r)).collect();
    keyed.sort();
    roots = keyed.iter().map(|x| x.1).collect();
    // Step 5: group roots by base subject.
    let subject_of = |nodes: &Vec<Node>, n: usize| -> (String, bool) {
        let m = nodes[n]
            .msg
            .or_else(|| nodes[n].children.first().and_then(|&c| nodes[c].msg));
        m.map(|i| (msgs[i].subject.clone(), msgs[i].is_reply))
            .unwrap_or_default()
    };
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in &roots {
        let (subj, reply) = subject_of(&nodes, r);
        if subj.is_empty() {
            continue;
        }
        match table.get(&subj).copied() {
            None => {
                table.insert(subj, r);
            }
            Some(t) => {
                let t_dummy = nodes[t].msg.is_none();
                let r_dummy = nodes[r].msg.is_none();
                let t_reply = subject_of(&nodes, t).1;
                if (!t_dummy && r_dummy) || (t_reply && !reply && !r_dummy) {
                    table.insert(subj, r);
                }
            }
        }
    }
    let mut merged: Vec<usize> = Vec::new();
    let mut replaced: HashMap<usize, usize> = HashMap::new();
    for &r in &roots {
        let (subj, reply) = subject_of(&nodes, r);
        let Some(&t0) = table.get(&subj).filter(|_| !subj.is_empty()) else {
            merged.push(r);
            continue;
        };
        let t = *replaced.get(&t0).unwrap_or(&t0);
        if t == r || t0 == r {
            merged.push(r);
            continue;
        }
        let t_dummy = nodes[t].msg.is_none();
        let r_dummy = nodes[r].msg.is_none();
        let t_reply = subject_of(&nodes, t).1;
        if t_dummy && r_dummy {
            let kids = std::mem::take(&mut nodes[r].children);
            for k in kids {
                link(&mut nodes, t, k);
            }
        } else if t_dummy || (reply && !t_reply) {
            link(&mut nodes, t, r);
        } else {
            nodes.push(Node::default());
            let d = nodes.len() - 1;
            link(&mut nodes, d, t);
            link(&mut nodes, d, r);
            replaced.insert(t0, d);
        }
    }
    // Roots in order, with merged tables' dummies standing in for their entries.
    let mut final_roots: Vec<usize> = Vec::new();
    for r in merged {
        let r = *replaced.get(&r).unwrap_or(&r);
        if nodes[r].parent.is_none() && !final_roots.contains(&r) {
            final_roots.push(r);
        }
    }
    // Step 6: children by date, then roots by date again.
    let mut keyed: Vec<((i64, u32), usize)> = final_roots
        .iter()
        .map(|&r| (sort_tree(&mut nodes, r, msgs), r))
        .collect();
    keyed.sort();
    for (_, r) in keyed {
        out.push(b'(');
        emit(&nodes, r, msgs, &num, out);
        out.push(b')');
    }
    fn emit(nodes: &[Node], n: usize, msgs: &[ThreadMsg], num: &dyn Fn(u32) -> Option<u32>, out: &mut Vec<u8>) {
        use std::io::Write as _;
        let mut wrote = false;
        if let Some(i) = nodes[n].msg {
            if let Some(x) = num(msgs[i].uid) {
                let _ = write!(out, "{x}");
                wrote = true;
            }
        }
        let kids = &nodes[n].children;
        if kids.len() == 1 && wrote {
            out.push(b' ');
            emit(nodes, kids[0], msgs, num, out);
        } else if kids.len() == 1 {
            emit(nodes, kids[0], msgs, num, out);
        } else if !kids.is_empty() {
            if wrote {
                out.push(b' ');
            }
            for &k in kids {
                out.push(b'(');
                emit(nodes, k, msgs, num, out);
                out.push(b')');
            }
        }
    }
}
