//! Appointments, meeting objects and tasks → iCalendar (RFC 5545), the
//! export direction of [MS-OXCICAL] section 2.1.3 and the inverse of
//! [`crate::ical::ical_to_items`].
//!
//! One VCALENDAR (PRODID, VERSION:2.0, METHOD) holds a VEVENT per
//! appointment / meeting object and a VTODO per task. Times are UTC, DATE
//! values for all-day events; recurring series are written in their local
//! zone (TZID + VTIMEZONE from PidLidTimeZoneStruct, or a fixed-offset zone
//! derived from the recurrence blob) so that RRULE expansion keeps the wall
//! time. PidLidAppointmentRecur ([MS-OXOCAL] section 2.2.1.44) becomes
//! RRULE, EXDATE for deleted instances and one VEVENT with RECURRENCE-ID per
//! modified instance. Text is escaped (RFC 5545 section 3.3.11) and lines
//! are folded at 75 octets (section 3.1).

use crate::ical::{PSETID_APPOINTMENT, PSETID_COMMON, PSETID_MEETING, PSETID_TASK};
use crate::message::MessageContent;
use crate::props::*;
use crate::recur::{self, AppointmentRecur, PatternSpecific};
use crate::tz::TimeZoneStruct;
use std::fmt::Write;

/// PRODID of exported calendars.
pub const PRODID: &str = "-//gromox-rs//gromox-convert//EN";

/// TEXT escaping (RFC 5545 section 3.3.11).
pub fn escape_text(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            ',' => o.push_str("\\,"),
            ';' => o.push_str("\\;"),
            '\n' => o.push_str("\\n"),
            '\r' => {}
            c if (c as u32) < 0x20 && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

/// Parameter value (RFC 5545 section 3.2): quoted when it holds `:;,`,
/// with DQUOTE and control characters removed.
fn param(v: &str) -> String {
    let v: String = v.chars().filter(|c| *c != '"' && !c.is_control()).collect();
    if v.contains([':', ';', ',']) {
        format!("\"{v}\"")
    } else {
        v
    }
}

/// Appends one content line folded at 75 octets (RFC 5545 section 3.1) on
/// character boundaries.
fn line(out: &mut String, l: &str) {
    let mut width = 0;
    for c in l.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// The UID of a PidLidGlobalObjectId ([MS-OXOCAL] section 2.2.1.27), the
/// inverse of [`crate::ical::global_object_id`]: the "vCal-Uid" wrapped
/// UID byte for byte, else the whole id as upper-case hex (as Outlook
/// writes it).
pub fn uid_of_goid(g: &[u8]) -> String {
    if g.len() >= 52 && &g[40..52] == b"vCal-Uid\x01\x00\x00\x00" {
        let size = u32::from_le_bytes([g[36], g[37], g[38], g[39]]) as usize;
        if let Some(data) = g.get(40..40usize.saturating_add(size)).filter(|_| size >= 12) {
            let uid = &data[12..];
            let uid = uid.strip_suffix(&[0]).unwrap_or(uid);
            if let Ok(s) = std::str::from_utf8(uid) {
                return s.to_string();
            }
        }
    }
    let mut s = String::with_capacity(g.len() * 2);
    // The instance date (bytes 16..20) is not part of the series' UID.
    for (i, b) in g.iter().enumerate() {
        let b = if (16..20).contains(&i) { 0 } else { *b };
        let _ = write!(s, "{b:02X}");
    }
    s
}

fn named(m: &MessageContent, set: [u8; 16], lid: u32) -> Option<&PropVal> {
    m.get_named(&PropName::Id(set, lid))
}

fn named_time(m: &MessageContent, set: [u8; 16], lid: u32) -> Option<u64> {
    match named(m, set, lid) {
        Some(PropVal::SysTime(t)) => Some(*t),
        _ => None,
    }
}

fn named_long(m: &MessageContent, set: [u8; 16], lid: u32) -> Option<i32> {
    match named(m, set, lid) {
        Some(PropVal::Long(v)) => Some(*v),
        _ => None,
    }
}

fn named_bool(m: &MessageContent, set: [u8; 16], lid: u32) -> bool {
    matches!(named(m, set, lid), Some(PropVal::Bool(true)))
}

fn named_str(m: &MessageContent, set: [u8; 16], lid: u32) -> Option<&str> {
    match named(m, set, lid) {
        Some(PropVal::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn time(m: &MessageContent, tag: u32) -> Option<u64> {
    match m.get(tag) {
        Some(PropVal::SysTime(t)) => Some(*t),
        _ => None,
    }
}

fn text(m: &MessageContent, id: u16) -> Option<&str> {
    m.get_str(id).filter(|s| !s.is_empty())
}

/// `YYYYMMDDThhmmssZ` of a FILETIME.
pub fn utc_stamp(ft: u64) -> String {
    let s = filetime_str(ft);
    format!(
        "{}{}{}T{}{}{}Z",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19]
    )
}

/// `YYYYMMDDThhmmss` of local minutes since 1601.
fn local_stamp(min: u32) -> String {
    let (y, mo, d, md) = recur::civil_minutes(min);
    format!("{y:04}{mo:02}{d:02}T{:02}{:02}00", md / 60, md % 60)
}

fn date_stamp(ft: u64) -> String {
    let s = filetime_str(ft);
    format!("{}{}{}", &s[0..4], &s[5..7], &s[8..10])
}

/// The zone a recurring series is written in.
enum Zone {
    Utc,
    /// Fixed offset, minutes east.
    Fixed(i64),
    Rules(String, TimeZoneStruct),
}

impl Zone {
    fn offset(&self, local_min: i64) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed(o) => *o,
            Zone::Rules(_, tz) => tz.offset_at_local(local_min),
        }
    }
    fn tzid(&self) -> Option<String> {
        match self {
            Zone::Utc => None,
            Zone::Fixed(o) => Some(format!(
                "UTC{}{:02}{:02}",
                if *o < 0 { '-' } else { '+' },
                o.abs() / 60,
                o.abs() % 60
            )),
            Zone::Rules(id, _) => Some(id.clone()),
        }
    }
    /// UTC FILETIME of local minutes.
    fn to_utc(&self, local_min: u32) -> u64 {
        let l = local_min as i64;
        ((l - self.offset(l)).max(0) as u64).saturating_mul(600_000_000)
    }
    /// A DATE-TIME property with this zone's TZID, or in UTC.
    fn prop(&self, name: &str, local_min: u32) -> String {
        match self.tzid() {
            Some(id) => format!("{name};TZID={}:{}", param(&id), local_stamp(local_min)),
            None => format!("{name}:{}", local_stamp(local_min) + "Z"),
        }
    }
}

/// The zone of a series from PidLidTimeZoneStruct, else the fixed offset
/// between its first local start and PidLidAppointmentStartWhole.
/// PidLidTimeZoneStruct wins over PidLidAppointmentTimeZoneDefinitionRecur
/// ([MS-OXOCAL] section 2.2.1.41), which names the zone.
fn zone_of(m: &MessageContent, r: &AppointmentRecur, start: Option<u64>) -> Zone {
    let def = match named(m, PSETID_APPOINTMENT, 0x8260) {
        Some(PropVal::Binary(b)) => crate::tz::from_tzdefinition(b),
        _ => None,
    };
    if let Some(PropVal::Binary(b)) = named(m, PSETID_APPOINTMENT, 0x8233) {
        if let Some(tz) = TimeZoneStruct::parse(b) {
            let id = named_str(m, PSETID_APPOINTMENT, 0x8234)
                .map(str::to_string)
                .or_else(|| def.as_ref().map(|d| d.0.clone()))
                .filter(|id| !id.trim().is_empty())
                .unwrap_or_else(|| "Custom".into());
            return Zone::Rules(id, tz);
        }
    }
    if let Some((id, tz)) = def {
        let id = if id.trim().is_empty() { "Custom".into() } else { id };
        return Zone::Rules(id, tz);
    }
    let Some(st) = start else { return Zone::Utc };
    let local = r.pattern.start_date as i64 + r.start_time_offset as i64;
    let off = local - (st / 600_000_000) as i64;
    if off == 0 || off.abs() > 18 * 60 {
        Zone::Utc
    } else {
        Zone::Fixed(off)
    }
}

const DAYS: [&str; 7] = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];

fn day_list(mask: u32, prefix: &str) -> String {
    (0..7)
        .filter(|d| mask & (1 << d) != 0)
        .map(|d| format!("{prefix}{}", DAYS[d]))
        .collect::<Vec<_>>()
        .join(",")
}

/// RRULE value of a recurrence pattern ([MS-OXCICAL] section
/// 2.1.3.2.2); `None` for patterns RFC 5545 cannot express (Hijri and
/// other non-Gregorian calendars).
pub fn rrule(r: &AppointmentRecur, zone_until: impl Fn(u32) -> u64) -> Option<String> {
    let p = &r.pattern;
    if p.calendar_type != 0 && p.calendar_type != 1 {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    let nth = |n: u32| if n >= 5 { -1 } else { n as i32 };
    match (p.recur_frequency, &p.pattern_specific) {
        (0x200A, PatternSpecific::None) => {
            parts.push("FREQ=DAILY".into());
            let i = (p.period / 1440).max(1);
            if i > 1 {
                parts.push(format!("INTERVAL={i}"));
            }
        }
        (0x200A | 0x200B, PatternSpecific::Week(mask)) => {
            parts.push("FREQ=WEEKLY".into());
            let i = if p.recur_frequency == 0x200A {
                1
            } else {
                p.period.max(1)
            };
            if i > 1 {
                parts.push(format!("INTERVAL={i}"));
            }
            parts.push(format!("BYDAY={}", day_list(*mask, "")));
        }
        (0x200C | 0x200D, spec) => {
            let yearly = p.recur_frequency == 0x200D;
            let i = if yearly {
                (p.period / 12).max(1)
            } else {
                p.period.max(1)
            };
            parts.push(if yearly { "FREQ=YEARLY" } else { "FREQ=MONTHLY" }.into());
            if i > 1 {
                parts.push(format!("INTERVAL={i}"));
            }
            match spec {
                PatternSpecific::Day(d) => {
                    if p.pattern_type == 4 {
                        parts.push("BYMONTHDAY=-1".into());
                    } else {
                        parts.push(format!("BYMONTHDAY={}", (*d).clamp(1, 31)));
                    }
                }
                PatternSpecific::MonthNth(mask, n) => {
                    if mask.count_ones() == 1 {
                        parts.push(format!("BYDAY={}", day_list(*mask, &nth(*n).to_string())));
                    } else {
                        parts.push(format!("BYDAY={}", day_list(*mask, "")));
                        parts.push(format!("BYSETPOS={}", nth(*n)));
                    }
                }
                _ => return None,
            }
            if yearly {
                let (_, month, _, _) = recur::civil_minutes(p.start_date);
                parts.push(format!("BYMONTH={month}"));
            }
        }
        _ => return None,
    }
    match p.end_type {
        recur::END_AFTER_N => parts.push(format!("COUNT={}", p.occurrence_count.max(1))),
        recur::END_AFTER_DATE => {
            let last = (p.end_date - p.end_date % 1440).saturating_add(r.start_time_offset);
            parts.push(format!("UNTIL={}", utc_stamp(zone_until(last))));
        }
        _ => {}
    }
    if matches!(p.pattern_specific, PatternSpecific::Week(_)) && p.first_dow < 7 {
        parts.push(format!("WKST={}", DAYS[p.first_dow as usize]));
    }
    Some(parts.join(";"))
}

fn method_of(class: &str) -> &'static str {
    let c = class.to_ascii_lowercase();
    if c.starts_with("ipm.schedule.meeting.request") {
        "REQUEST"
    } else if c.starts_with("ipm.schedule.meeting.canceled") {
        "CANCEL"
    } else if c.starts_with("ipm.schedule.meeting.resp.") {
        "REPLY"
    } else {
        "PUBLISH"
    }
}

/// Converts appointments, meeting objects (VEVENT), tasks (VTODO) and
/// journal entries (VJOURNAL, see [`crate::ical`]'s journal mapping) into
/// one iCalendar object ([MS-OXCICAL] section 2.1.3). `method` `None`
/// derives METHOD from the first item's class: meeting request → REQUEST,
/// cancellation → CANCEL, response → REPLY, else PUBLISH. Items of other
/// classes are skipped. CRLF line ends.
pub fn items_to_ical(items: &[MessageContent], method: Option<&str>) -> String {
    let method = method.map(|m| m.trim().to_ascii_uppercase()).unwrap_or_else(|| {
        items
            .first()
            .and_then(|m| m.get_str(0x001A))
            .map(method_of)
            .unwrap_or("PUBLISH")
            .to_string()
    });
    let mut zones: Vec<Vec<String>> = Vec::new();
    let mut body = String::new();
    for m in items {
        let class = m.get_str(0x001A).unwrap_or("IPM.Appointment").to_ascii_lowercase();
        if class.starts_with("ipm.task") {
            todo(&mut body, m);
        } else if class.starts_with("ipm.activity") {
            journal(&mut body, m);
        } else if class.starts_with("ipm.appointment") || class.starts_with("ipm.schedule.meeting") {
            event(&mut body, &mut zones, m, &method);
        }
    }
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, &format!("PRODID:{PRODID}"));
    line(&mut out, "VERSION:2.0");
    line(&mut out, &format!("METHOD:{}", escape_text(&method)));
    for z in &zones {
        for l in z {
            line(&mut out, l);
        }
    }
    out.push_str(&body);
    line(&mut out, "END:VCALENDAR");
    out
}

/// UID, DTSTAMP, SUMMARY, DESCRIPTION, CLASS, PRIORITY, CATEGORIES.
fn common(out: &mut String, m: &MessageContent, uid: &str) {
    line(out, &format!("UID:{}", escape_text(uid)));
    let stamp = time(m, PR_LAST_MODIFICATION_TIME)
        .or_else(|| time(m, PR_CREATION_TIME))
        .or_else(|| time(m, PR_CLIENT_SUBMIT_TIME))
        .unwrap_or(116_444_736_000_000_000);
    line(out, &format!("DTSTAMP:{}", utc_stamp(stamp)));
    if let Some(v) = text(m, 0x0037) {
        line(out, &format!("SUMMARY:{}", escape_text(v)));
    }
    if let Some(v) = text(m, 0x1000) {
        line(out, &format!("DESCRIPTION:{}", escape_text(v)));
    }
    if let Some(PropVal::Long(v)) = m.get(PR_SENSITIVITY) {
        let c = match v {
            2 => "PRIVATE",
            3 => "CONFIDENTIAL",
            _ => "PUBLIC",
        };
        line(out, &format!("CLASS:{c}"));
    }
    if let Some(PropVal::Long(v)) = m.get(PR_IMPORTANCE) {
        // [MS-OXCICAL] 2.1.3.1.1.20.17: high 1, normal 5, low 9.
        let p = match v {
            2 => 1,
            0 => 9,
            _ => 5,
        };
        line(out, &format!("PRIORITY:{p}"));
    }
    if let Some(PropVal::Multi(cats)) = m.get_named(&PropName::Name(PS_PUBLIC_STRINGS, "Keywords".into())) {
        let v: Vec<String> = cats
            .iter()
            .filter_map(|c| match c {
                PropVal::String(s) if !s.is_empty() => Some(escape_text(s)),
                _ => None,
            })
            .collect();
        if !v.is_empty() {
            line(out, &format!("CATEGORIES:{}", v.join(",")));
        }
    }
}

/// File attachments as inline ATTACH ([MS-OXCICAL] 2.1.3.1.1.20.1);
/// exception and embedded-message attachments are not files.
fn attachments(out: &mut String, m: &MessageContent) {
    for a in &m.attachments {
        if a.embedded.is_some() || matches!(get(&a.props, tag(0x7FFD, PT_LONG)), Some(PropVal::Long(f)) if f & 2 != 0) {
            continue;
        }
        let Some(PropVal::Binary(data)) = get(&a.props, PR_ATTACH_DATA_BIN) else {
            continue;
        };
        let mut l = String::from("ATTACH");
        if let Some(t) = get_str(&a.props, 0x370E).filter(|t| t.contains('/') && t.is_ascii()) {
            l.push_str(&format!(";FMTTYPE={}", param(t)));
        }
        l.push_str(";ENCODING=BASE64;VALUE=BINARY");
        let name = get_str(&a.props, 0x3707)
            .or_else(|| get_str(&a.props, 0x3704))
            .or_else(|| get_str(&a.props, 0x3001))
            .filter(|n| !n.is_empty());
        if let Some(n) = name {
            l.push_str(&format!(";X-FILENAME={}", param(n)));
        }
        l.push(':');
        l.push_str(&crate::base64::encode(data, 0));
        line(out, &l);
    }
}

fn alarm(out: &mut String, m: &MessageContent) {
    if named_bool(m, PSETID_COMMON, 0x8503) {
        let delta = named_long(m, PSETID_COMMON, 0x8501).unwrap_or(15).max(0);
        line(out, "BEGIN:VALARM");
        line(out, &format!("TRIGGER:-PT{delta}M"));
        line(out, "ACTION:DISPLAY");
        line(out, "DESCRIPTION:Reminder");
        line(out, "END:VALARM");
    }
}

fn uid(m: &MessageContent) -> String {
    for lid in [0x0023, 0x0003] {
        if let Some(PropVal::Binary(g)) = named(m, PSETID_MEETING, lid) {
            if !g.is_empty() {
                return uid_of_goid(g);
            }
        }
    }
    // No GlobalObjectId: a stable id from what the item shows.
    let mut seed = String::new();
    for p in &m.props {
        if p.name.is_none() && matches!(p.tag >> 16, 0x0037 | 0x0060 | 0x0061 | 0x1000) {
            let _ = write!(seed, "{}|", p.value);
        }
    }
    format!("gromox-{:016x}", fnv(seed.as_bytes()))
}

fn smtp_of(props: &[Prop], smtp: u16, addrtype: u16, email: u16) -> Option<String> {
    if let Some(a) = get_str(props, smtp).filter(|a| !a.is_empty()) {
        return Some(a.to_string());
    }
    let at = get_str(props, addrtype).unwrap_or("SMTP");
    get_str(props, email)
        .filter(|e| !e.is_empty() && at.eq_ignore_ascii_case("SMTP"))
        .map(str::to_string)
}

fn people(out: &mut String, m: &MessageContent, method: &str) {
    let class = m.get_str(0x001A).unwrap_or("").to_ascii_lowercase();
    if let Some(answer) = class.strip_prefix("ipm.schedule.meeting.resp.") {
        // A response: the organizer is its recipient, the sender the
        // attendee whose answer the class carries.
        if let Some(r) = m.recipients.first() {
            if let Some(a) = smtp_of(r, 0x39FE, 0x3002, 0x3003) {
                let cn = get_str(r, 0x3001).filter(|c| !c.is_empty());
                let cn = cn.map(|c| format!(";CN={}", param(c))).unwrap_or_default();
                line(out, &format!("ORGANIZER{cn}:mailto:{a}"));
            }
        }
        let me = smtp_of(&m.props, 0x5D02, 0x0064, 0x0065).or_else(|| smtp_of(&m.props, 0x5D01, 0x0C1E, 0x0C1F));
        if let Some(a) = me {
            let partstat = match answer {
                "neg" => "DECLINED",
                "tent" => "TENTATIVE",
                _ => "ACCEPTED",
            };
            let cn = text(m, 0x0042).or_else(|| text(m, 0x0C1A));
            let cn = cn.map(|c| format!(";CN={}", param(c))).unwrap_or_default();
            line(out, &format!("ATTENDEE;PARTSTAT={partstat}{cn}:mailto:{a}"));
        }
        return;
    }
    let org = smtp_of(&m.props, 0x5D02, 0x0064, 0x0065).or_else(|| smtp_of(&m.props, 0x5D01, 0x0C1E, 0x0C1F));
    if let Some(a) = &org {
        let cn = text(m, 0x0042).or_else(|| text(m, 0x0C1A));
        let cn = cn.map(|c| format!(";CN={}", param(c))).unwrap_or_default();
        line(out, &format!("ORGANIZER{cn}:mailto:{a}"));
    }
    let rsvp = !matches!(m.get(tag(0x0063, PT_BOOLEAN)), Some(PropVal::Bool(false))) && method == "REQUEST";
    for r in &m.recipients {
        let Some(addr) = smtp_of(r, 0x39FE, 0x3002, 0x3003) else {
            continue;
        };
        // recipOrganizer ([MS-OXOCAL] 2.2.4.10.1) is the ORGANIZER already.
        if matches!(get(r, tag(0x5FFD, PT_LONG)), Some(PropVal::Long(f)) if f & 2 != 0) {
            continue;
        }
        let ty = match get(r, PR_RECIPIENT_TYPE) {
            Some(PropVal::Long(t)) => *t & 0xff,
            _ => 1,
        };
        let (role, cutype) = match ty {
            2 => ("OPT-PARTICIPANT", "INDIVIDUAL"),
            3 => ("NON-PARTICIPANT", "RESOURCE"),
            _ => ("REQ-PARTICIPANT", "INDIVIDUAL"),
        };
        let partstat = match get(r, crate::ical::PR_RECIPIENT_TRACKSTATUS) {
            Some(PropVal::Long(1 | 3)) => "ACCEPTED",
            Some(PropVal::Long(2)) => "TENTATIVE",
            Some(PropVal::Long(4)) => "DECLINED",
            _ => "NEEDS-ACTION",
        };
        let cn = get_str(r, 0x3001)
            .filter(|c| !c.is_empty())
            .map(|c| format!(";CN={}", param(c)))
            .unwrap_or_default();
        let rsvp = if rsvp { ";RSVP=TRUE" } else { "" };
        line(
            out,
            &format!("ATTENDEE;CUTYPE={cutype};ROLE={role};PARTSTAT={partstat}{rsvp}{cn}:mailto:{addr}"),
        );
    }
}

fn busy(out: &mut String, b: i32) {
    line(
        out,
        &format!("TRANSP:{}", if b == 0 { "TRANSPARENT" } else { "OPAQUE" }),
    );
    let s = match b {
        0 => "FREE",
        1 => "TENTATIVE",
        3 => "OOF",
        4 => "WORKINGELSEWHERE",
        _ => "BUSY",
    };
    line(out, &format!("X-MICROSOFT-CDO-BUSYSTATUS:{s}"));
}

fn event(out: &mut String, zones: &mut Vec<Vec<String>>, m: &MessageContent, method: &str) {
    let uid = uid(m);
    let start = named_time(m, PSETID_APPOINTMENT, 0x820D).or_else(|| time(m, crate::ical::PR_START_DATE));
    let end = named_time(m, PSETID_APPOINTMENT, 0x820E).or_else(|| time(m, crate::ical::PR_END_DATE));
    let allday = named_bool(m, PSETID_APPOINTMENT, 0x8215);
    let recur = match named(m, PSETID_APPOINTMENT, 0x8216) {
        Some(PropVal::Binary(b)) => recur::parse(b).ok(),
        _ => None,
    };
    let zone = recur.as_ref().map(|r| zone_of(m, r, start)).unwrap_or(Zone::Utc);
    if let (Some(id), Zone::Rules(_, tz)) = (zone.tzid(), &zone) {
        push_zone(zones, tz.vtimezone(&id, escape_text));
    } else if let (Some(id), Zone::Fixed(o)) = (zone.tzid(), &zone) {
        let tz = TimeZoneStruct {
            bias: -*o as i32,
            standard_bias: 0,
            daylight_bias: 0,
            standard: None,
            daylight: None,
        };
        push_zone(zones, tz.vtimezone(&id, escape_text));
    }
    let busy_status = named_long(m, PSETID_APPOINTMENT, 0x8205).unwrap_or(2);
    line(out, "BEGIN:VEVENT");
    common(out, m, &uid);
    if let Some(seq) = named_long(m, PSETID_APPOINTMENT, 0x8201) {
        line(out, &format!("SEQUENCE:{}", seq.max(0)));
    }
    // Start and end: the series' local zone for recurrences, else UTC.
    let local_of = |ft: u64| -> u32 {
        let utc = (ft / 600_000_000) as i64;
        let l = utc + zone.offset(utc + zone.offset(utc));
        l.clamp(0, u32::MAX as i64) as u32
    };
    for (name, t) in [("DTSTART", start), ("DTEND", end)] {
        let Some(t) = t else { continue };
        if allday {
            // Outlook stores local midnight as UTC: without a zone, the
            // nearest midnight is the date (offsets are within ±12 h).
            let local = match zone {
                Zone::Utc => {
                    t.saturating_add(12 * 36_000_000_000) - (t.saturating_add(12 * 36_000_000_000)) % 864_000_000_000
                }
                _ => local_of(t) as u64 * 600_000_000,
            };
            line(out, &format!("{name};VALUE=DATE:{}", date_stamp(local)));
        } else if recur.is_some() && !matches!(zone, Zone::Utc) {
            line(out, &zone.prop(name, local_of(t)));
        } else {
            line(out, &format!("{name}:{}", utc_stamp(t)));
        }
    }
    if let Some(v) = named_str(m, PSETID_APPOINTMENT, 0x8208) {
        line(out, &format!("LOCATION:{}", escape_text(v)));
    }
    if allday {
        line(out, "X-MICROSOFT-CDO-ALLDAYEVENT:TRUE");
    }
    busy(out, busy_status);
    let state = named_long(m, PSETID_APPOINTMENT, 0x8217).unwrap_or(0);
    let status = if method == "CANCEL" || state & 4 != 0 {
        "CANCELLED"
    } else if busy_status == 1 {
        "TENTATIVE"
    } else {
        "CONFIRMED"
    };
    line(out, &format!("STATUS:{status}"));
    people(out, m, method);
    let mut instances = Vec::new();
    match &recur {
        Some(r) => {
            if let Some(rule) = rrule(r, |l| zone.to_utc(l)) {
                line(out, &format!("RRULE:{rule}"));
            }
            // Deleted instances: originals that are not modified ones.
            let moved: Vec<u32> = r.exceptions.iter().map(|e| e.original_start_date / 1440).collect();
            for d in &r.pattern.deleted_instance_dates {
                if moved.contains(&(d / 1440)) {
                    continue;
                }
                let at = (d - d % 1440).saturating_add(r.start_time_offset);
                if allday {
                    line(out, &format!("EXDATE;VALUE=DATE:{}", &local_stamp(at)[..8]));
                } else {
                    line(out, &zone.prop("EXDATE", at));
                }
            }
            instances.extend(r.exceptions.iter().cloned());
        }
        None => {
            // A rule the blob builder could not represent is kept as text.
            if let Some(rule) =
                named_str(m, PSETID_APPOINTMENT, 0x8232).filter(|r| r.to_ascii_uppercase().contains("FREQ="))
            {
                if named_bool(m, PSETID_APPOINTMENT, 0x8223) {
                    line(out, &format!("RRULE:{}", rule.replace(['\r', '\n'], "")));
                }
            }
        }
    }
    // Added instances the recurrence blob cannot hold, as imported from
    // RDATE ([MS-OXCICAL] 2.1.3.1.1.20.18; PidNameICalendarRecurrenceDate).
    if let Some(PropVal::Multi(v)) = m.get_named(&crate::ical::rdate_name()) {
        for t in v.iter().filter_map(|x| match x {
            PropVal::SysTime(t) => Some(*t),
            _ => None,
        }) {
            if allday {
                let local = match zone {
                    Zone::Utc => t.saturating_add(12 * 36_000_000_000) / 864_000_000_000 * 864_000_000_000,
                    _ => local_of(t) as u64 * 600_000_000,
                };
                line(out, &format!("RDATE;VALUE=DATE:{}", date_stamp(local)));
            } else if recur.is_some() && !matches!(zone, Zone::Utc) {
                line(out, &zone.prop("RDATE", local_of(t)));
            } else {
                line(out, &format!("RDATE:{}", utc_stamp(t)));
            }
        }
    }
    attachments(out, m);
    alarm(out, m);
    line(out, "END:VEVENT");
    // Modified instances ([MS-OXCICAL] 2.1.3.1.1.20.13, RECURRENCE-ID).
    for e in instances {
        let att = exception_message(m, &zone, e.original_start_date);
        line(out, "BEGIN:VEVENT");
        line(out, &format!("UID:{}", escape_text(&uid)));
        let stamp = time(m, PR_LAST_MODIFICATION_TIME).unwrap_or(116_444_736_000_000_000);
        line(out, &format!("DTSTAMP:{}", utc_stamp(stamp)));
        if allday {
            line(
                out,
                &format!("RECURRENCE-ID;VALUE=DATE:{}", &local_stamp(e.original_start_date)[..8]),
            );
            line(
                out,
                &format!("DTSTART;VALUE=DATE:{}", &local_stamp(e.start_date_time)[..8]),
            );
            line(out, &format!("DTEND;VALUE=DATE:{}", &local_stamp(e.end_date_time)[..8]));
        } else {
            line(out, &zone.prop("RECURRENCE-ID", e.original_start_date));
            line(out, &zone.prop("DTSTART", e.start_date_time));
            line(out, &zone.prop("DTEND", e.end_date_time));
        }
        let subject = e.subject.as_deref().or_else(|| text(m, 0x0037));
        if let Some(v) = subject.filter(|v| !v.is_empty()) {
            line(out, &format!("SUMMARY:{}", escape_text(v)));
        }
        let body = att.and_then(|a| text(a, 0x1000)).or_else(|| text(m, 0x1000));
        if let Some(v) = body {
            line(out, &format!("DESCRIPTION:{}", escape_text(v)));
        }
        let loc = e
            .location
            .as_deref()
            .or_else(|| named_str(m, PSETID_APPOINTMENT, 0x8208));
        if let Some(v) = loc.filter(|v| !v.is_empty()) {
            line(out, &format!("LOCATION:{}", escape_text(v)));
        }
        busy(out, e.busy_status.map(|b| b as i32).unwrap_or(busy_status));
        people(out, m, method);
        line(out, "END:VEVENT");
    }
}

/// The embedded message of the exception attachment for the instance that
/// originally started at `orig` (local minutes).
fn exception_message<'a>(m: &'a MessageContent, zone: &Zone, orig: u32) -> Option<&'a MessageContent> {
    let want = zone.to_utc(orig);
    m.attachments.iter().find_map(|a| {
        let replace = match get(&a.props, crate::ical::PR_EXCEPTION_REPLACETIME) {
            Some(PropVal::SysTime(t)) => Some(*t),
            _ => None,
        };
        let emb = a.embedded.as_deref()?;
        let inner = named_time(emb, PSETID_APPOINTMENT, 0x8228);
        (replace.or(inner)? / 600_000_000 == want / 600_000_000).then_some(emb)
    })
}

fn push_zone(zones: &mut Vec<Vec<String>>, z: Vec<String>) {
    if !zones.iter().any(|x| x.get(1) == z.get(1)) {
        zones.push(z);
    }
}

fn todo(out: &mut String, m: &MessageContent) {
    line(out, "BEGIN:VTODO");
    common(out, m, &uid(m));
    if let Some(t) = named_time(m, PSETID_TASK, 0x8104).or_else(|| named_time(m, PSETID_COMMON, 0x8516)) {
        line(out, &format!("DTSTART:{}", utc_stamp(t)));
    }
    if let Some(t) = named_time(m, PSETID_TASK, 0x8105).or_else(|| named_time(m, PSETID_COMMON, 0x8517)) {
        line(out, &format!("DUE:{}", utc_stamp(t)));
    }
    if let Some(t) = named_time(m, PSETID_TASK, 0x810F) {
        line(out, &format!("COMPLETED:{}", utc_stamp(t)));
    }
    let st = named_long(m, PSETID_TASK, 0x8101).unwrap_or(0);
    let status = match st {
        1 => "IN-PROCESS",
        2 => "COMPLETED",
        4 => "CANCELLED",
        _ => "NEEDS-ACTION",
    };
    line(out, &format!("STATUS:{status}"));
    if let Some(PropVal::Double(f)) = named(m, PSETID_TASK, 0x8102) {
        if f.is_finite() {
            line(
                out,
                &format!("PERCENT-COMPLETE:{}", (f * 100.0).round().clamp(0.0, 100.0) as i32),
            );
        }
    }
    attachments(out, m);
    alarm(out, m);
    line(out, "END:VTODO");
}

/// A journal entry (IPM.Activity, [MS-OXOJRNL]) as VJOURNAL (RFC 5545
/// section 3.6.3): the inverse of the import in [`crate::ical`].
fn journal(out: &mut String, m: &MessageContent) {
    use crate::ical::{LID_LOG_END, LID_LOG_START, LID_LOG_TYPE, PSETID_LOG};
    line(out, "BEGIN:VJOURNAL");
    common(out, m, &uid(m));
    let start = named_time(m, PSETID_LOG, LID_LOG_START).or_else(|| time(m, crate::ical::PR_START_DATE));
    if let Some(t) = start {
        line(out, &format!("DTSTART:{}", utc_stamp(t)));
    }
    if let Some(t) = named_time(m, PSETID_LOG, LID_LOG_END).filter(|e| start.is_some_and(|s| *e > s)) {
        line(out, &format!("X-GROMOX-LOGEND:{}", utc_stamp(t)));
    }
    if let Some(t) = named_str(m, PSETID_LOG, LID_LOG_TYPE) {
        line(out, &format!("X-GROMOX-LOGTYPE:{}", escape_text(t)));
    }
    attachments(out, m);
    line(out, "END:VJOURNAL");
}

/// FBTYPE of a busy period (RFC 5545 section 3.2.9), in increasing weight:
/// where periods of different types overlap, the heavier one is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FbType {
    /// BUSY-TENTATIVE (PidLidBusyStatus 1, olTentative).
    BusyTentative,
    /// BUSY (2, olBusy).
    Busy,
    /// BUSY-UNAVAILABLE (3, olOutOfOffice).
    BusyUnavailable,
}

impl FbType {
    fn as_str(self) -> &'static str {
        match self {
            FbType::BusyTentative => "BUSY-TENTATIVE",
            FbType::Busy => "BUSY",
            FbType::BusyUnavailable => "BUSY-UNAVAILABLE",
        }
    }
    /// The type of a PidLidBusyStatus value ([MS-OXOCAL] 2.2.1.2); free (0)
    /// and working elsewhere (4) are not busy.
    pub fn from_busy_status(b: i32) -> Option<FbType> {
        match b {
            1 => Some(FbType::BusyTentative),
            2 => Some(FbType::Busy),
            3 => Some(FbType::BusyUnavailable),
            _ => None,
        }
    }
}

/// One busy period: UTC FILETIMEs, `start` < `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPeriod {
    pub start: u64,
    pub end: u64,
    pub fbtype: FbType,
}

/// What a VFREEBUSY publishes: the owner, the covered range and the busy
/// periods (any order, may overlap). The caller supplies UID and DTSTAMP
/// (no clock here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreeBusy {
    pub uid: String,
    /// DTSTAMP, UTC FILETIME.
    pub dtstamp: u64,
    /// DTSTART / DTEND of the published range, UTC FILETIMEs.
    pub start: u64,
    pub end: u64,
    /// ORGANIZER: display name (may be empty) and SMTP address.
    pub organizer: Option<(String, String)>,
    pub periods: Vec<BusyPeriod>,
}

/// Busy periods clipped to `[start, end)` and flattened: where periods
/// overlap the heaviest type wins; adjacent periods of one type merge.
/// Sorted by start.
pub fn flatten_busy(periods: &[BusyPeriod], start: u64, end: u64) -> Vec<BusyPeriod> {
    let mut edges: Vec<(u64, usize, i32)> = Vec::with_capacity(periods.len() * 2);
    for p in periods {
        let (s, e) = (p.start.max(start), p.end.min(end));
        if s < e {
            edges.push((s, p.fbtype as usize, 1));
            edges.push((e, p.fbtype as usize, -1));
        }
    }
    edges.sort_unstable();
    let mut count = [0i64; 3];
    let mut out: Vec<BusyPeriod> = Vec::new();
    let mut i = 0;
    while i < edges.len() {
        let t = edges[i].0;
        while i < edges.len() && edges[i].0 == t {
            count[edges[i].1] += edges[i].2 as i64;
            i += 1;
        }
        let Some(&(next, _, _)) = edges.get(i) else { break };
        let ty = [FbType::BusyUnavailable, FbType::Busy, FbType::BusyTentative]
            .into_iter()
            .find(|ty| count[*ty as usize] > 0);
        let Some(ty) = ty else { continue };
        match out.last_mut() {
            Some(l) if l.end == t && l.fbtype == ty => l.end = next,
            _ => out.push(BusyPeriod {
                start: t,
                end: next,
                fbtype: ty,
            }),
        }
    }
    out
}

/// A VFREEBUSY publication (RFC 5545 section 3.6.4, RFC 5546 section 3.4.1
/// METHOD:PUBLISH): UID, DTSTAMP, DTSTART, DTEND, ORGANIZER and one
/// FREEBUSY property per FBTYPE holding its periods (UTC start/end,
/// section 3.3.9) in ascending order, after [`flatten_busy`]. CRLF line
/// ends, folded at 75 octets.
pub fn freebusy_to_ical(fb: &FreeBusy) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, &format!("PRODID:{PRODID}"));
    line(&mut out, "VERSION:2.0");
    line(&mut out, "METHOD:PUBLISH");
    line(&mut out, "BEGIN:VFREEBUSY");
    line(&mut out, &format!("UID:{}", escape_text(&fb.uid)));
    line(&mut out, &format!("DTSTAMP:{}", utc_stamp(fb.dtstamp)));
    line(&mut out, &format!("DTSTART:{}", utc_stamp(fb.start)));
    line(&mut out, &format!("DTEND:{}", utc_stamp(fb.end.max(fb.start))));
    if let Some((name, addr)) = &fb.organizer {
        let cn = if name.is_empty() {
            String::new()
        } else {
            format!(";CN={}", param(name))
        };
        let addr: String = addr.chars().filter(|c| !c.is_control()).collect();
        line(&mut out, &format!("ORGANIZER{cn}:mailto:{addr}"));
    }
    let flat = flatten_busy(&fb.periods, fb.start, fb.end);
    for ty in [FbType::Busy, FbType::BusyTentative, FbType::BusyUnavailable] {
        let v: Vec<String> = flat
            .iter()
            .filter(|p| p.fbtype == ty)
            .map(|p| format!("{}/{}", utc_stamp(p.start), utc_stamp(p.end)))
            .collect();
        if !v.is_empty() {
            line(&mut out, &format!("FREEBUSY;FBTYPE={}:{}", ty.as_str(), v.join(",")));
        }
    }
    line(&mut out, "END:VFREEBUSY");
    line(&mut out, "END:VCALENDAR");
    out
}

/// The busy periods of appointments within `[start, end)` (UTC FILETIMEs):
/// single appointments by PidLidAppointmentStartWhole/EndWhole and
/// PidLidBusyStatus; recurring series expanded from PidLidAppointmentRecur
/// in their zone (deleted instances left out, modified instances at their
/// new times with their own busy status). Free and working-elsewhere time
/// is not busy; items of other classes are skipped.
pub fn busy_periods(items: &[MessageContent], start: u64, end: u64) -> Vec<BusyPeriod> {
    let mut out = Vec::new();
    for m in items {
        let class = m.get_str(0x001A).unwrap_or("IPM.Appointment").to_ascii_lowercase();
        if !class.starts_with("ipm.appointment") && !class.starts_with("ipm.schedule.meeting.request") {
            continue;
        }
        let busy = named_long(m, PSETID_APPOINTMENT, 0x8205).unwrap_or(2);
        let s = named_time(m, PSETID_APPOINTMENT, 0x820D).or_else(|| time(m, crate::ical::PR_START_DATE));
        let e = named_time(m, PSETID_APPOINTMENT, 0x820E).or_else(|| time(m, crate::ical::PR_END_DATE));
        let recur = match named(m, PSETID_APPOINTMENT, 0x8216) {
            Some(PropVal::Binary(b)) => recur::parse(b).ok(),
            _ => None,
        };
        let Some(r) = recur else {
            if let (Some(s), Some(e), Some(ty)) = (s, e, FbType::from_busy_status(busy)) {
                if s < e && s < end && e > start {
                    out.push(BusyPeriod {
                        start: s,
                        end: e,
                        fbtype: ty,
                    });
                }
            }
            continue;
        };
        let zone = zone_of(m, &r, s);
        let dur = r.end_time_offset.saturating_sub(r.start_time_offset) as u64 * 600_000_000;
        // Local days to visit: the range widened by a day on each side.
        let first = (start / 600_000_000 / 1440).saturating_sub(2) as i64;
        let last = (end / 600_000_000 / 1440 + 2) as i64;
        let mut deleted: Vec<u32> = r.pattern.deleted_instance_dates.iter().map(|d| d / 1440).collect();
        deleted.sort_unstable();
        let mut push = |s: u64, e: u64, b: i32| {
            if let Some(ty) = FbType::from_busy_status(b) {
                if s < e && s < end && e > start {
                    out.push(BusyPeriod {
                        start: s,
                        end: e,
                        fbtype: ty,
                    });
                }
            }
        };
        for day in first.max(0)..=last.min(u32::MAX as i64 / 1440) {
            let d = day as u32;
            if deleted.binary_search(&d).is_ok() || r.occurs_on(day) != Some(true) {
                continue;
            }
            let Some(at) = d.checked_mul(1440).and_then(|x| x.checked_add(r.start_time_offset)) else {
                continue;
            };
            let s = zone.to_utc(at);
            push(s, s.saturating_add(dur), busy);
        }
        for x in &r.exceptions {
            let b = x.busy_status.map(|b| b as i32).unwrap_or(busy);
            push(zone.to_utc(x.start_date_time), zone.to_utc(x.end_date_time), b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ical::{global_object_id, ical_to_items};

    #[test]
    fn uid_inverse_of_global_object_id() {
        for uid in ["abc-1", "ümlaut@example.org", "a\\b"] {
            assert_eq!(uid_of_goid(&global_object_id(uid)), uid);
        }
        assert_eq!(
            uid_of_goid(&global_object_id("040000008200e00074c5b7101a82e00800000000d0")),
            "040000008200E00074C5B7101A82E00800000000D0"
        );
        let outlook = "040000008200E00074C5B7101A82E0080000000080E3F0A0C31AD901000000000000000010000000B8C4E7A1B6E4C7479E4C4FC4E9B2E46A";
        assert_eq!(uid_of_goid(&global_object_id(outlook)), outlook);
    }

    #[test]
    fn escaping_and_folding() {
        assert_eq!(escape_text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
        let mut o = String::new();
        line(&mut o, &format!("SUMMARY:{}", "ä".repeat(60)));
        assert!(o.split("\r\n").all(|l| l.len() <= 75), "{o}");
        let back = crate::contentline::parse(&format!("BEGIN:X\r\n{o}END:X\r\n"));
        assert_eq!(back[0].text("SUMMARY").unwrap(), "ä".repeat(60));
    }

    #[test]
    fn meeting_request_fields() {
        let t = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:m-1\r\nDTSTART:20260301T090000Z\r\nDTEND:20260301T100000Z\r\nSUMMARY:Budget\\, Q2\r\nLOCATION:Room 4\r\nDESCRIPTION:line 1\\nline 2\r\nCLASS:PRIVATE\r\nPRIORITY:1\r\nCATEGORIES:Work,Money\r\nORGANIZER;CN=Boss:mailto:boss@example.org\r\nATTENDEE;CN=Ann;ROLE=REQ-PARTICIPANT:mailto:ann@example.org\r\nATTENDEE;ROLE=OPT-PARTICIPANT:mailto:bob@example.org\r\nATTENDEE;CUTYPE=RESOURCE:mailto:room@example.org\r\nX-MICROSOFT-CDO-BUSYSTATUS:OOF\r\nBEGIN:VALARM\r\nTRIGGER:-PT30M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let items = ical_to_items(t);
        let out = items_to_ical(&items, None);
        assert!(out.split("\r\n").all(|l| l.len() <= 75), "{out}");
        let unfolded = out.replace("\r\n ", "");
        for want in [
            "METHOD:REQUEST\r\n",
            "UID:m-1\r\n",
            "DTSTART:20260301T090000Z\r\n",
            "DTEND:20260301T100000Z\r\n",
            "SUMMARY:Budget\\, Q2\r\n",
            "DESCRIPTION:line 1\\nline 2\r\n",
            "LOCATION:Room 4\r\n",
            "CLASS:PRIVATE\r\n",
            "PRIORITY:1\r\n",
            "CATEGORIES:Work,Money\r\n",
            "ORGANIZER;CN=Boss:mailto:boss@example.org\r\n",
            "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Ann:mailto:ann@example.org\r\n",
            "ROLE=OPT-PARTICIPANT",
            "ATTENDEE;CUTYPE=RESOURCE;ROLE=NON-PARTICIPANT",
            "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\n",
            "TRIGGER:-PT30M\r\n",
        ] {
            assert!(unfolded.contains(want), "missing {want:?} in\n{out}");
        }
        let again = ical_to_items(&out);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].recipients, items[0].recipients);
        assert_eq!(again[0].props.len(), items[0].props.len(), "{out}");
        for p in &items[0].props {
            assert!(again[0].props.contains(p), "lost {p:?}\n{out}");
        }
        let t2 = t.replace("METHOD:REQUEST", "METHOD:CANCEL");
        assert!(items_to_ical(&ical_to_items(&t2), None).contains("METHOD:CANCEL\r\nBEGIN:VEVENT"));
        assert!(items_to_ical(&items, Some("publish")).contains("METHOD:PUBLISH\r\n"));
    }

    #[test]
    fn outlook_zone_definition_names_the_zone() {
        let t = "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nDTSTART:19810329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19961027T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:z\r\nDTSTART;TZID=Berlin:20260105T090000\r\nDTEND;TZID=Berlin:20260105T100000\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let mut items = ical_to_items(t);
        // As Outlook or a PST gives it: only the TZDEFINITION.
        items[0]
            .props
            .retain(|p| !matches!(&p.name, Some(PropName::Id(g, 0x8233 | 0x8234)) if *g == PSETID_APPOINTMENT));
        let out = items_to_ical(&items, None);
        assert!(out.contains("TZID:Berlin\r\n"), "{out}");
        assert!(out.contains("DTSTART;TZID=Berlin:20260105T090000\r\n"), "{out}");
        assert!(out.contains("RRULE:FREQ=DAILY;COUNT=3\r\n"), "{out}");
    }

    #[test]
    fn replies_answer_the_organizer() {
        for (partstat, class) in [("ACCEPTED", "Pos"), ("DECLINED", "Neg"), ("TENTATIVE", "Tent")] {
            let t = format!("BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:r-1\r\nDTSTART:20260301T090000Z\r\nDTEND:20260301T100000Z\r\nSUMMARY:Budget\r\nORGANIZER;CN=Boss:mailto:boss@example.org\r\nATTENDEE;CN=Ann;PARTSTAT={partstat}:mailto:ann@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
            let items = ical_to_items(&t);
            let m = &items[0];
            assert_eq!(
                m.get_str(0x001A),
                Some(format!("IPM.Schedule.Meeting.Resp.{class}").as_str())
            );
            assert_eq!(m.get_str(0x5D02), Some("ann@example.org"));
            assert_eq!(get_str(&m.recipients[0], 0x39FE), Some("boss@example.org"));
            let out = items_to_ical(&items, None);
            assert!(out.contains("METHOD:REPLY\r\n"), "{out}");
            assert!(out.contains("ORGANIZER;CN=Boss:mailto:boss@example.org\r\n"), "{out}");
            assert!(
                out.contains(&format!(
                    "ATTENDEE;PARTSTAT={partstat};CN=Ann:mailto:ann@example.org\r\n"
                )),
                "{out}"
            );
            assert_eq!(ical_to_items(&out), items);
        }
    }

    #[test]
    fn outlook_all_day_dates() {
        let mut m = MessageContent::default();
        m.set(PR_MESSAGE_CLASS, PropVal::String("IPM.Appointment".into()));
        let set = |m: &mut MessageContent, lid, v| m.set_named(PropName::Id(PSETID_APPOINTMENT, lid), PT_SYSTIME, v);
        // Berlin all-day 1 Jan 2026: 2025-12-31 23:00Z to 2026-01-01 23:00Z.
        set(
            &mut m,
            0x820D,
            PropVal::SysTime(filetime(2025, 12, 31, 23, 0, 0).unwrap()),
        );
        set(
            &mut m,
            0x820E,
            PropVal::SysTime(filetime(2026, 1, 1, 23, 0, 0).unwrap()),
        );
        m.set_named(
            PropName::Id(PSETID_APPOINTMENT, 0x8215),
            PT_BOOLEAN,
            PropVal::Bool(true),
        );
        let out = items_to_ical(&[m.clone()], None);
        assert!(
            out.contains("DTSTART;VALUE=DATE:20260101\r\nDTEND;VALUE=DATE:20260102\r\n"),
            "{out}"
        );
        // New York all-day: 05:00Z.
        set(&mut m, 0x820D, PropVal::SysTime(filetime(2026, 1, 1, 5, 0, 0).unwrap()));
        set(&mut m, 0x820E, PropVal::SysTime(filetime(2026, 1, 2, 5, 0, 0).unwrap()));
        let out = items_to_ical(&[m], None);
        assert!(
            out.contains("DTSTART;VALUE=DATE:20260101\r\nDTEND;VALUE=DATE:20260102\r\n"),
            "{out}"
        );
    }

    #[test]
    fn outlook_blob_with_exception() {
        // [MS-OXOCAL] 4.1.1.2 example blob; the series starts 10:00 local
        // at UTC-7.
        let h = "043004300B2001000000C0210000010000000000000032000000222000000C0000000000000001000000A096BC0C01000000A096BC0C8020BC0C20ADBC0C0630000009300000580200007602000001003499BC0C5299BC0CF898BC0C11002200210053696D706C6520526563757272656E6365207769746820657863657074696F6E730800070033342F34313431000000000400000000000000000000003499BC0C5299BC0CF898BC0C2100530069006D0070006C006500200052006500630075007200720065006E006300650020007700690074006800200065007800630065007000740069006F006E0073000700330034002F0034003100340031000000000000000000";
        let blob: Vec<u8> = (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect();
        let r = recur::parse(&blob).unwrap();
        let first = (r.pattern.start_date + r.start_time_offset) as u64 * 600_000_000;
        let mut m = MessageContent::default();
        m.set(PR_MESSAGE_CLASS, PropVal::String("IPM.Appointment".into()));
        m.set(PR_SUBJECT, PropVal::String("Simple Recurrence".into()));
        let set = |m: &mut MessageContent, lid, ty, v| m.set_named(PropName::Id(PSETID_APPOINTMENT, lid), ty, v);
        set(&mut m, 0x820D, PT_SYSTIME, PropVal::SysTime(first + 7 * 36_000_000_000));
        set(
            &mut m,
            0x820E,
            PT_SYSTIME,
            PropVal::SysTime(first + 7 * 36_000_000_000 + 18_000_000_000),
        );
        set(&mut m, 0x8208, PT_UNICODE, PropVal::String("34/4639".into()));
        set(&mut m, 0x8223, PT_BOOLEAN, PropVal::Bool(true));
        set(&mut m, 0x8216, PT_BINARY, PropVal::Binary(blob.clone()));
        let out = items_to_ical(&[m], None);
        for want in [
            "TZID:UTC-0700\r\n",
            "DTSTART;TZID=UTC-0700:20070326T100000\r\n",
            "RRULE:FREQ=WEEKLY;BYDAY=MO,TH,FR;COUNT=12;WKST=SU\r\n",
            "RECURRENCE-ID;TZID=UTC-0700:20070416T100000\r\nDTSTART;TZID=UTC-0700:20070416T110000\r\nDTEND;TZID=UTC-0700:20070416T113000\r\nSUMMARY:Simple Recurrence with exceptions\r\nLOCATION:34/4141\r\n",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        assert!(!out.contains("EXDATE"), "{out}");
        // Imported again: the same pattern and exception.
        let back = ical_to_items(&out);
        let Some(PropVal::Binary(b2)) = back[0].get_named(&PropName::Id(PSETID_APPOINTMENT, 0x8216)) else {
            panic!("{out}")
        };
        let r2 = recur::parse(b2).unwrap();
        assert_eq!(r2.pattern.pattern_specific, r.pattern.pattern_specific);
        assert_eq!(r2.pattern.deleted_instance_dates, r.pattern.deleted_instance_dates);
        assert_eq!(r2.pattern.modified_instance_dates, r.pattern.modified_instance_dates);
        assert_eq!(r2.pattern.end_date, r.pattern.end_date);
        let (e, e2) = (&r.exceptions[0], &r2.exceptions[0]);
        assert_eq!(
            (e2.start_date_time, e2.end_date_time, e2.original_start_date),
            (e.start_date_time, e.end_date_time, e.original_start_date)
        );
        assert_eq!((&e2.subject, &e2.location), (&e.subject, &e.location));
    }

    #[test]
    fn inline_attachments_round_trip() {
        let data: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let b64 = crate::base64::encode(&data, 0);
        let t = format!("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:att\r\nDTSTART:20260101T100000Z\r\nATTACH;FMTTYPE=application/pdf;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=\"Agenda, v2.pdf\":{b64}\r\nATTACH:https://example.org/not-fetched\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
        let items = ical_to_items(&t);
        assert_eq!(items[0].attachments.len(), 1);
        let a = &items[0].attachments[0];
        assert_eq!(get_str(&a.props, 0x3707), Some("Agenda, v2.pdf"));
        assert_eq!(get(&a.props, PR_ATTACH_DATA_BIN), Some(&PropVal::Binary(data)));
        let out = items_to_ical(&items, None);
        assert!(
            out.replace("\r\n ", "")
                .contains("ATTACH;FMTTYPE=application/pdf;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=\"Agenda, v2.pdf\":"),
            "{out}"
        );
        assert!(out.split("\r\n").all(|l| l.len() <= 75));
        assert_eq!(ical_to_items(&out), items);
    }

    #[test]
    fn task_fields() {
        let t = "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:t-1\r\nSUMMARY:Do it\r\nDTSTART:20260101T080000Z\r\nDUE:20260102T120000Z\r\nPERCENT-COMPLETE:40\r\nSTATUS:IN-PROCESS\r\nEND:VTODO\r\nBEGIN:VTODO\r\nUID:t-2\r\nSUMMARY:Done\r\nCOMPLETED:20260103T100000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
        let items = ical_to_items(t);
        let out = items_to_ical(&items, None);
        assert!(out.contains("METHOD:PUBLISH\r\n"));
        assert!(out.contains("BEGIN:VTODO\r\nUID:t-1\r\n"), "{out}");
        assert!(out.contains("DUE:20260102T120000Z\r\n"));
        assert!(out.contains("PERCENT-COMPLETE:40\r\nEND:VTODO"), "{out}");
        assert!(out.contains("STATUS:IN-PROCESS\r\n"));
        assert!(
            out.contains("COMPLETED:20260103T100000Z\r\nSTATUS:COMPLETED\r\nPERCENT-COMPLETE:100\r\n"),
            "{out}"
        );
        assert_eq!(ical_to_items(&out), items);
    }

    const BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nDTSTART:19810329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19961027T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

    fn weekly(extra: &str) -> String {
        format!("BEGIN:VCALENDAR\r\n{BERLIN}BEGIN:VEVENT\r\nUID:rd-1\r\nSUMMARY:Standup\r\nDTSTART;TZID=Europe/Berlin:20260105T100000\r\nDTEND;TZID=Europe/Berlin:20260105T103000\r\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")
    }

    fn blob(m: &MessageContent) -> AppointmentRecur {
        match m.get_named(&PropName::Id(PSETID_APPOINTMENT, 0x8216)) {
            Some(PropVal::Binary(b)) => recur::parse(b).unwrap(),
            _ => panic!("no recurrence blob"),
        }
    }

    fn rdates(m: &MessageContent) -> Vec<String> {
        match m.get_named(&crate::ical::rdate_name()) {
            Some(PropVal::Multi(v)) => v.iter().map(|x| x.to_string()).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn rdate_paired_with_exdate_is_a_moved_instance() {
        // Monday 12 Jan moved to Tuesday 13 Jan, 15:00.
        let t = weekly("EXDATE;TZID=Europe/Berlin:20260112T100000\r\nRDATE;TZID=Europe/Berlin:20260113T150000\r\n");
        let items = ical_to_items(&t);
        assert_eq!(items.len(), 1);
        let m = &items[0];
        let r = blob(m);
        let day = |d| recur::minutes1601(2026, 1, d, 0).unwrap();
        assert_eq!(r.pattern.deleted_instance_dates, vec![day(12)]);
        assert_eq!(r.pattern.modified_instance_dates, vec![day(13)]);
        assert_eq!(r.exceptions.len(), 1);
        let e = &r.exceptions[0];
        assert_eq!(
            (e.original_start_date, e.start_date_time, e.end_date_time),
            (day(12) + 600, day(13) + 900, day(13) + 930)
        );
        assert!(rdates(m).is_empty());
        // The exception attachment as Outlook expects it.
        assert_eq!(m.attachments.len(), 1);
        let emb = m.attachments[0].embedded.as_deref().unwrap();
        assert_eq!(emb.get_str(0x0037), Some("Standup"));
        assert_eq!(
            named_time(emb, PSETID_APPOINTMENT, 0x820D).map(filetime_str).as_deref(),
            Some("2026-01-13 14:00:00")
        );
        assert_eq!(
            named_time(emb, PSETID_APPOINTMENT, 0x8228).map(filetime_str).as_deref(),
            Some("2026-01-12 09:00:00")
        );
        // Exported as a RECURRENCE-ID instance, not as EXDATE + RDATE.
        let out = items_to_ical(&items, None);
        assert!(
            out.contains("RECURRENCE-ID;TZID=Europe/Berlin:20260112T100000\r\nDTSTART;TZID=Europe/Berlin:20260113T150000\r\nDTEND;TZID=Europe/Berlin:20260113T153000\r\n"),
            "{out}"
        );
        assert!(!out.contains("EXDATE") && !out.contains("RDATE"), "{out}");
        let again = ical_to_items(&out);
        let r2 = blob(&again[0]);
        assert_eq!(r2.pattern, r.pattern);
        assert_eq!(r2.exceptions[0].start_date_time, e.start_date_time);
    }

    #[test]
    fn added_rdates_are_kept_and_exported() {
        // Wednesday 21 Jan 15:00 is an added instance (no EXDATE to pair);
        // Thursday 22 Jan cannot take Monday 12 Jan's place (19 Jan lies
        // between); the PERIOD value is ignored.
        let t = weekly("EXDATE;TZID=Europe/Berlin:20260112T100000\r\nRDATE;TZID=Europe/Berlin:20260121T150000,20260122T100000\r\nRDATE;VALUE=PERIOD:20260201T100000Z/PT1H\r\n");
        let items = ical_to_items(&t);
        let m = &items[0];
        assert_eq!(rdates(m), vec!["2026-01-21 14:00:00", "2026-01-22 09:00:00"]);
        let r = blob(m);
        assert!(r.exceptions.is_empty());
        assert_eq!(
            r.pattern.deleted_instance_dates,
            vec![recur::minutes1601(2026, 1, 12, 0).unwrap()]
        );
        let out = items_to_ical(&items, None);
        for want in [
            "EXDATE;TZID=Europe/Berlin:20260112T100000\r\n",
            "RDATE;TZID=Europe/Berlin:20260121T150000\r\n",
            "RDATE;TZID=Europe/Berlin:20260122T100000\r\n",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        assert!(!out.contains("PERIOD"), "{out}");
        let again = ical_to_items(&out);
        assert_eq!(rdates(&again[0]), rdates(m));
        assert_eq!(blob(&again[0]), r);
    }

    #[test]
    fn rdates_without_rrule_are_kept() {
        let t = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:rd-2\r\nDTSTART:20260301T090000Z\r\nDTEND:20260301T100000Z\r\nRDATE:20260305T090000Z\r\nRDATE;VALUE=DATE-TIME:20260310T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let items = ical_to_items(t);
        assert_eq!(rdates(&items[0]), vec!["2026-03-05 09:00:00", "2026-03-10 09:00:00"]);
        let out = items_to_ical(&items, None);
        assert!(
            out.contains("RDATE:20260305T090000Z\r\nRDATE:20260310T090000Z\r\n"),
            "{out}"
        );
        assert_eq!(ical_to_items(&out), items);
        let allday = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:rd-3\r\nDTSTART;VALUE=DATE:20260301\r\nRDATE;VALUE=DATE:20260308\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let out = items_to_ical(&ical_to_items(allday), None);
        assert!(out.contains("RDATE;VALUE=DATE:20260308\r\n"), "{out}");
    }

    #[test]
    fn vjournal_round_trip() {
        use crate::ical::{LID_LOG_DURATION, LID_LOG_END, LID_LOG_START, LID_LOG_TYPE, PSETID_LOG};
        let t = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VJOURNAL\r\nUID:j-1\r\nDTSTAMP:20260302T090000Z\r\nDTSTART:20260302T083000Z\r\nSUMMARY:Call with ACME\r\nDESCRIPTION:Discussed the offer\\, next steps\r\nCATEGORIES:Sales\r\nCLASS:PRIVATE\r\nSTATUS:FINAL\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n";
        let items = ical_to_items(t);
        assert_eq!(items.len(), 1);
        let m = &items[0];
        assert_eq!(m.get_str(0x001A), Some("IPM.Activity"));
        assert_eq!(m.get_str(0x0037), Some("Call with ACME"));
        assert_eq!(m.get_str(0x1000), Some("Discussed the offer, next steps"));
        assert_eq!(m.get(PR_SENSITIVITY), Some(&PropVal::Long(2)));
        let log = |lid| named(m, PSETID_LOG, lid).map(|v| v.to_string()).unwrap_or_default();
        assert_eq!(log(LID_LOG_START), "2026-03-02 08:30:00");
        assert_eq!(log(LID_LOG_END), "2026-03-02 08:30:00");
        assert_eq!(log(LID_LOG_DURATION), "0");
        assert_eq!(log(LID_LOG_TYPE), "\"Note\"");
        let out = items_to_ical(&items, None);
        for want in [
            "METHOD:PUBLISH\r\nBEGIN:VJOURNAL\r\nUID:j-1\r\n",
            "SUMMARY:Call with ACME\r\n",
            "DESCRIPTION:Discussed the offer\\, next steps\r\n",
            "CLASS:PRIVATE\r\n",
            "CATEGORIES:Sales\r\n",
            "DTSTART:20260302T083000Z\r\nX-GROMOX-LOGTYPE:Note\r\nEND:VJOURNAL\r\n",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        assert_eq!(ical_to_items(&out), items);
        // An Outlook phone-call entry keeps its type and length.
        let mut call = m.clone();
        call.set_named(
            PropName::Id(PSETID_LOG, LID_LOG_TYPE),
            PT_UNICODE,
            PropVal::String("Phone call".into()),
        );
        call.set_named(
            PropName::Id(PSETID_LOG, LID_LOG_END),
            PT_SYSTIME,
            PropVal::SysTime(filetime(2026, 3, 2, 9, 15, 0).unwrap()),
        );
        let out = items_to_ical(&[call], None);
        assert!(
            out.contains(
                "DTSTART:20260302T083000Z\r\nX-GROMOX-LOGEND:20260302T091500Z\r\nX-GROMOX-LOGTYPE:Phone call\r\n"
            ),
            "{out}"
        );
        let back = &ical_to_items(&out)[0];
        assert_eq!(named_long(back, PSETID_LOG, LID_LOG_DURATION), Some(45));
        assert_eq!(named_str(back, PSETID_LOG, LID_LOG_TYPE), Some("Phone call"));
    }

    fn at(d: u32, h: u32, mi: u32) -> u64 {
        filetime(2026, 3, d, h, mi, 0).unwrap()
    }

    #[test]
    fn vfreebusy_publish() {
        let p = |s, e, fbtype| BusyPeriod {
            start: s,
            end: e,
            fbtype,
        };
        let fb = FreeBusy {
            uid: "fb-1".into(),
            dtstamp: at(1, 12, 0),
            start: at(2, 0, 0),
            end: at(3, 0, 0),
            organizer: Some(("Ann Doe".into(), "ann@example.org".into())),
            periods: vec![
                p(at(2, 14, 0), at(2, 15, 0), FbType::Busy),
                p(at(2, 9, 0), at(2, 10, 0), FbType::Busy),
                p(at(2, 9, 30), at(2, 11, 0), FbType::BusyTentative),
                p(at(2, 13, 0), at(2, 14, 0), FbType::BusyUnavailable),
                p(at(1, 22, 0), at(2, 1, 0), FbType::Busy),
                p(at(5, 9, 0), at(5, 10, 0), FbType::Busy),
            ],
        };
        let out = freebusy_to_ical(&fb);
        assert_eq!(
            out,
            "BEGIN:VCALENDAR\r\nPRODID:-//gromox-rs//gromox-convert//EN\r\nVERSION:2.0\r\nMETHOD:PUBLISH\r\n\
BEGIN:VFREEBUSY\r\nUID:fb-1\r\nDTSTAMP:20260301T120000Z\r\nDTSTART:20260302T000000Z\r\nDTEND:20260303T000000Z\r\n\
ORGANIZER;CN=Ann Doe:mailto:ann@example.org\r\n\
FREEBUSY;FBTYPE=BUSY:20260302T000000Z/20260302T010000Z,20260302T090000Z/202\r\n 60302T100000Z,20260302T140000Z/20260302T150000Z\r\n\
FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260302T100000Z/20260302T110000Z\r\n\
FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20260302T130000Z/20260302T140000Z\r\n\
END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
        );
        let cal = crate::contentline::parse(&out);
        let vfb = &cal[0].children[0];
        assert_eq!(vfb.name, "VFREEBUSY");
        assert_eq!(vfb.props_named("FREEBUSY").count(), 3);
    }

    #[test]
    fn busy_periods_of_a_series_and_a_meeting() {
        // Weekly Monday 10:00 Berlin, 12 Jan moved to Tuesday 13 Jan 15:00.
        let t = weekly("EXDATE;TZID=Europe/Berlin:20260112T100000\r\nRDATE;TZID=Europe/Berlin:20260113T150000\r\n");
        let mut items = ical_to_items(&t);
        items.extend(ical_to_items("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260114T080000Z\r\nDTEND:20260114T090000Z\r\nX-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:y\r\nDTSTART:20260114T100000Z\r\nDTEND:20260114T110000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"));
        let (s, e) = (
            filetime(2026, 1, 1, 0, 0, 0).unwrap(),
            filetime(2026, 1, 27, 0, 0, 0).unwrap(),
        );
        let got: Vec<String> = flatten_busy(&busy_periods(&items, s, e), s, e)
            .iter()
            .map(|p| format!("{} {} {}", utc_stamp(p.start), utc_stamp(p.end), p.fbtype.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                "20260105T090000Z 20260105T093000Z BUSY",
                "20260113T140000Z 20260113T143000Z BUSY",
                "20260114T080000Z 20260114T090000Z BUSY-TENTATIVE",
                "20260119T090000Z 20260119T093000Z BUSY",
                "20260126T090000Z 20260126T093000Z BUSY",
            ]
        );
    }
}
