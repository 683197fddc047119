//! iCalendar (RFC 5545) to appointment, meeting and task properties, after
//! [MS-OXCICAL] section 2.1.3 (VEVENT/VTODO to calendar objects), basic
//! coverage: times (UTC, floating, TZID with VTIMEZONE yearly rules, all
//! day), summary, description, location, class, transparency, organizer
//! and attendees, alarm, status/percent of tasks, categories, the UID as
//! PidLidGlobalObjectId. Recurrences set PidLidRecurring, keep the RRULE as
//! text and get PidLidAppointmentRecur from [`crate::recur`]; VEVENTs with
//! RECURRENCE-ID and RDATEs paired with an EXDATE become modified-instance
//! exceptions, other RDATEs are kept (see `add_rdates`).

use crate::contentline::{parse, split_structured, Component, Property};
use crate::message::MessageContent;
use crate::props::*;

/// PSETID_Appointment {00062002-0000-0000-C000-000000000046}.
pub const PSETID_APPOINTMENT: [u8; 16] = [
    0x02, 0x20, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];
/// PSETID_Task {00062003-0000-0000-C000-000000000046}.
pub const PSETID_TASK: [u8; 16] = [
    0x03, 0x20, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];
/// PSETID_Common {00062008-0000-0000-C000-000000000046}.
pub const PSETID_COMMON: [u8; 16] = [
    0x08, 0x20, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];
/// PSETID_Meeting {6ED8DA90-450B-101B-98DA-00AA003F1305}.
pub const PSETID_MEETING: [u8; 16] = [
    0x90, 0xDA, 0xD8, 0x6E, 0x0B, 0x45, 0x1B, 0x10, 0x98, 0xDA, 0x00, 0xAA, 0x00, 0x3F, 0x13, 0x05,
];

pub const PR_START_DATE: u32 = tag(0x0060, PT_SYSTIME);
pub const PR_END_DATE: u32 = tag(0x0061, PT_SYSTIME);
/// PidTagRecipientTrackStatus: 0 none, 2 tentative, 3 accepted, 4 declined.
pub const PR_RECIPIENT_TRACKSTATUS: u32 = tag(0x5FFF, PT_LONG);
/// PidTagAttachmentFlags (afException = 2).
pub const PR_ATTACHMENT_FLAGS: u32 = tag(0x7FFD, PT_LONG);
pub const PR_ATTACHMENT_LINKID: u32 = tag(0x7FFA, PT_LONG);
/// PidTagExceptionStartTime / EndTime: local times of the instance.
pub const PR_EXCEPTION_STARTTIME: u32 = tag(0x7FFB, PT_SYSTIME);
pub const PR_EXCEPTION_ENDTIME: u32 = tag(0x7FFC, PT_SYSTIME);
/// PidTagExceptionReplaceTime: UTC original start of the instance.
pub const PR_EXCEPTION_REPLACETIME: u32 = tag(0x7FF9, PT_SYSTIME);

fn s(v: impl Into<String>) -> PropVal {
    PropVal::String(v.into())
}

/// Converts every VEVENT, VTODO and VJOURNAL of an iCalendar text. Never
/// fails.
pub fn ical_to_items(text: &str) -> Vec<MessageContent> {
    let mut out = Vec::new();
    for top in parse(text) {
        // Bare VEVENT/VTODO files (no VCALENDAR) are accepted too.
        let cal = if top.name == "VCALENDAR" {
            top
        } else if top.name == "VEVENT" || top.name == "VTODO" || top.name == "VJOURNAL" {
            Component {
                name: "VCALENDAR".into(),
                props: Vec::new(),
                children: vec![top],
            }
        } else {
            continue;
        };
        let method = cal.text("METHOD").unwrap_or_default().to_ascii_uppercase();
        // Masters first; then instances with RECURRENCE-ID become
        // exceptions of the recurring master of the same UID.
        let first = out.len();
        let mut masters: Vec<(usize, &Component)> = Vec::new();
        for c in &cal.children {
            match c.name.as_str() {
                "VEVENT" if c.prop("RECURRENCE-ID").is_none() => {
                    masters.push((out.len(), c));
                    out.push(event(&cal, c, &method));
                }
                "VTODO" => out.push(todo(&cal, c)),
                "VJOURNAL" => out.push(journal(&cal, c)),
                _ => {}
            }
        }
        // RDATEs: moved instances where an EXDATE pairs with them, the
        // rest kept as PidNameICalendarRecurrenceDate.
        for &(i, mc) in &masters {
            if mc.prop("RDATE").is_some() {
                add_rdates(&mut out[i], &cal, mc, &method);
            }
        }
        for c in cal
            .children
            .iter()
            .filter(|c| c.name == "VEVENT" && c.prop("RECURRENCE-ID").is_some())
        {
            let uid = c.text("UID");
            let master = masters
                .iter()
                .find(|(_, mc)| uid.is_some() && mc.text("UID") == uid && mc.prop("RRULE").is_some());
            let done = match master {
                Some(&(i, mc)) if i >= first => add_exception(&mut out[i], &cal, mc, c, &method),
                _ => false,
            };
            if !done {
                out.push(event(&cal, c, &method));
            }
        }
    }
    out
}

/// A parsed DATE or DATE-TIME as UTC FILETIME, and whether it was a DATE.
pub fn datetime(cal: &Component, p: &Property) -> Option<(u64, bool)> {
    let v = p.value.trim();
    let d: String = v.chars().filter(char::is_ascii_digit).collect();
    if d.len() < 8 {
        return None;
    }
    let y: i64 = d[0..4].parse().ok()?;
    let mo: u32 = d[4..6].parse().ok()?;
    let day: u32 = d[6..8].parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) {
        return None;
    }
    if d.len() < 14 || !v.contains('T') {
        return Some((filetime(y, mo, day, 0, 0, 0)?, true));
    }
    let h: u32 = d[8..10].parse().ok()?;
    let mi: u32 = d[10..12].parse().ok()?;
    let sec: u32 = d[12..14].parse().ok()?;
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let local = filetime(y, mo, day, h, mi, sec.min(59))?;
    if v.ends_with(['Z', 'z']) {
        return Some((local, false));
    }
    let offset = p.param("TZID").map(|tz| tz_offset(cal, tz, y, local)).unwrap_or(0);
    let utc = local as i128 - offset as i128 * 600_000_000;
    Some((u64::try_from(utc).ok()?, false))
}

/// UTC offset in minutes (east positive) of `tzid` at local time `local`.
fn tz_offset(cal: &Component, tzid: &str, year: i64, local: u64) -> i64 {
    let Some(tz) = cal
        .children
        .iter()
        .find(|c| c.name == "VTIMEZONE" && c.text("TZID").as_deref() == Some(tzid.trim_matches('"')))
    else {
        return 0;
    };
    // (onset this year, offset) of each observance.
    let mut best: Option<(u64, i64)> = None;
    let mut latest: Option<(u64, i64)> = None;
    for o in tz
        .children
        .iter()
        .filter(|c| c.name == "STANDARD" || c.name == "DAYLIGHT")
    {
        let Some(off) = o.prop("TZOFFSETTO").and_then(|p| parse_offset(&p.value)) else {
            continue;
        };
        let Some(start) = o.prop("DTSTART") else { continue };
        let sd: String = start.value.chars().filter(char::is_ascii_digit).collect();
        if sd.len() < 8 {
            continue;
        }
        let (smo, sday) = (sd[4..6].parse().unwrap_or(1), sd[6..8].parse().unwrap_or(1));
        let (sh, smi) = if sd.len() >= 12 {
            (sd[8..10].parse().unwrap_or(0), sd[10..12].parse().unwrap_or(0))
        } else {
            (0, 0)
        };
        let rrule = o.text("RRULE").unwrap_or_default().to_ascii_uppercase();
        let onset = if rrule.contains("FREQ=YEARLY") {
            let month = rule_part(&rrule, "BYMONTH").and_then(|m| m.parse().ok()).unwrap_or(smo);
            match rule_part(&rrule, "BYDAY").and_then(|b| nth_weekday(year, month, &b)) {
                Some(day) => filetime(year, month, day, sh, smi, 0),
                None => filetime(year, month, sday, sh, smi, 0),
            }
        } else {
            filetime(sd[0..4].parse().unwrap_or(1970), smo, sday, sh, smi, 0)
        };
        let Some(onset) = onset else { continue };
        if onset <= local && best.is_none_or(|(b, _)| onset > b) {
            best = Some((onset, off));
        }
        if latest.is_none_or(|(l, _)| onset > l) {
            latest = Some((onset, off));
        }
    }
    // Before this year's first onset the previous year's last one applies.
    best.or(latest).map(|(_, o)| o).unwrap_or(0)
}

fn parse_offset(v: &str) -> Option<i64> {
    let v = v.trim();
    let sign = if v.starts_with('-') { -1 } else { 1 };
    let d: String = v.chars().filter(char::is_ascii_digit).collect();
    if d.len() < 4 {
        return None;
    }
    Some(sign * (d[0..2].parse::<i64>().ok()? * 60 + d[2..4].parse::<i64>().ok()?))
}

fn rule_part(rule: &str, key: &str) -> Option<String> {
    rule.split(';')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=').map(str::to_string))
}

/// Day of month of e.g. "2SU" / "-1SU" in a month.
fn nth_weekday(year: i64, month: u32, byday: &str) -> Option<u32> {
    let byday = byday.split(',').next().filter(|b| b.is_ascii())?;
    let (num, wd) = byday.split_at(byday.len().checked_sub(2)?);
    let n: i32 = if num.is_empty() || num == "+" {
        1
    } else {
        num.trim_start_matches('+').parse().ok()?
    };
    let target = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"]
        .iter()
        .position(|d| *d == wd)? as i64;
    let first = days_from_civil(year, month, 1);
    let dim = (days_from_civil(
        if month == 12 { year + 1 } else { year },
        if month == 12 { 1 } else { month + 1 },
        1,
    ) - first) as i32;
    // 1970-01-01 was a Thursday (4).
    let first_wd = (first + 4).rem_euclid(7);
    let first_match = 1 + (target - first_wd).rem_euclid(7) as i32;
    let day = if n > 0 {
        first_match + 7 * (n - 1)
    } else {
        let mut d = first_match;
        while d + 7 <= dim {
            d += 7;
        }
        d + 7 * (n + 1)
    };
    (1..=dim).contains(&day).then_some(day as u32)
}

/// Duration (RFC 5545 section 3.3.6) in seconds.
pub fn duration(v: &str) -> Option<i64> {
    let v = v.trim();
    let (neg, v) = match v.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let v = v.strip_prefix('P')?;
    let mut total = 0i64;
    let mut num = String::new();
    for c in v.chars() {
        match c {
            '0'..='9' => num.push(c),
            'T' => {}
            'W' | 'D' | 'H' | 'M' | 'S' => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                let unit = match c {
                    'W' => 604_800,
                    'D' => 86_400,
                    'H' => 3_600,
                    'M' => 60,
                    _ => 1,
                };
                total = total.checked_add(n.checked_mul(unit)?)?;
            }
            _ => return None,
        }
    }
    Some(if neg { -total } else { total })
}

fn common(m: &mut MessageContent, c: &Component) {
    if let Some(v) = c.text("SUMMARY") {
        m.set(PR_SUBJECT, s(v.clone()));
        m.set(PR_NORMALIZED_SUBJECT, s(v));
    }
    if let Some(v) = c.text("DESCRIPTION") {
        m.set(PR_BODY, s(v));
    }
    if let Some(v) = c.text("CLASS") {
        let sens = match v.to_ascii_uppercase().as_str() {
            "PRIVATE" => 2,
            "CONFIDENTIAL" => 3,
            _ => 0,
        };
        m.set(PR_SENSITIVITY, PropVal::Long(sens));
    }
    if let Some(p) = c.text("PRIORITY").and_then(|p| p.trim().parse::<i32>().ok()) {
        // RFC 5545 3.8.1.9: 1-4 high, 5 normal, 6-9 low.
        m.set(
            PR_IMPORTANCE,
            PropVal::Long(match p {
                1..=4 => 2,
                6..=9 => 0,
                _ => 1,
            }),
        );
    }
    let cats: Vec<PropVal> = c
        .props_named("CATEGORIES")
        .flat_map(|p| split_structured(&p.value, ','))
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .map(PropVal::String)
        .collect();
    if !cats.is_empty() {
        m.set_named(
            PropName::Name(PS_PUBLIC_STRINGS, "Keywords".into()),
            MV_FLAG | PT_UNICODE,
            PropVal::Multi(cats),
        );
    }
    // Inline attachments ([MS-OXCICAL] 2.1.3.1.1.20.1): ATTACH with
    // VALUE=BINARY / ENCODING=BASE64; URI references are not fetched.
    for a in c.props_named("ATTACH") {
        let inline = a.param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case("BINARY"))
            || a.param("ENCODING").is_some_and(|v| v.eq_ignore_ascii_case("BASE64"));
        if !inline {
            continue;
        }
        let data = crate::base64::decode(a.value.as_bytes());
        let name = a
            .param("X-FILENAME")
            .or_else(|| a.param("FILENAME"))
            .unwrap_or("attachment")
            .to_string();
        let mut props = vec![
            Prop {
                tag: PR_ATTACH_METHOD,
                name: None,
                value: PropVal::Long(1),
            },
            Prop {
                tag: PR_ATTACH_LONG_FILENAME,
                name: None,
                value: s(name),
            },
            Prop {
                tag: PR_RENDERING_POSITION,
                name: None,
                value: PropVal::Long(-1),
            },
        ];
        if let Some(t) = a.param("FMTTYPE").filter(|t| t.contains('/')) {
            props.push(Prop {
                tag: PR_ATTACH_MIME_TAG,
                name: None,
                value: s(t.to_ascii_lowercase()),
            });
        }
        props.push(Prop {
            tag: PR_ATTACH_DATA_BIN,
            name: None,
            value: PropVal::Binary(data),
        });
        m.attachments.push(crate::message::Attachment { props, embedded: None });
        m.set(PR_HASATTACH, PropVal::Bool(true));
    }
    // Alarm: the first VALARM with a relative trigger.
    if let Some(secs) = c
        .children
        .iter()
        .filter(|a| a.name == "VALARM")
        .find_map(|a| a.prop("TRIGGER").and_then(|t| duration(&t.value)))
    {
        m.set_named(PropName::Id(PSETID_COMMON, 0x8503), PT_BOOLEAN, PropVal::Bool(true));
        m.set_named(
            PropName::Id(PSETID_COMMON, 0x8501),
            PT_LONG,
            PropVal::Long((-secs / 60).max(0) as i32),
        );
    }
}

fn mailto(v: &str) -> String {
    let v = v.trim();
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("mailto:") => v[7..].to_string(),
        _ => v.to_string(),
    }
}

/// PidLidGlobalObjectId of a UID ([MS-OXOCAL] section 2.2.1.27): an
/// Outlook UID (hex of a GlobalObjectId) is decoded, any other is wrapped
/// with the "vCal-Uid" marker.
pub fn global_object_id(uid: &str) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x04, 0x00, 0x00, 0x00, 0x82, 0x00, 0xE0, 0x00, 0x74, 0xC5, 0xB7, 0x10, 0x1A, 0x82, 0xE0, 0x08,
    ];
    let hex = uid.trim();
    if hex.len() >= 40
        && hex.len().is_multiple_of(2)
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && hex[..32].eq_ignore_ascii_case("040000008200E00074C5B7101A82E008")
    {
        return (0..hex.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
            .collect();
    }
    let mut data = b"vCal-Uid\x01\x00\x00\x00".to_vec();
    data.extend_from_slice(uid.as_bytes());
    data.push(0);
    let mut g = PREFIX.to_vec();
    g.extend_from_slice(&[0; 4]); // YH YL M D
    g.extend_from_slice(&[0; 8]); // creation time
    g.extend_from_slice(&[0; 8]); // reserved
    g.extend_from_slice(&(data.len() as u32).to_le_bytes());
    g.extend_from_slice(&data);
    g
}

fn event(cal: &Component, c: &Component, method: &str) -> MessageContent {
    let mut m = MessageContent::default();
    // A REPLY is the answer of its (first) attendee ([MS-OXCICAL]
    // 2.1.3.1.1.20.29): its PARTSTAT picks the response class.
    let reply_partstat = c
        .prop("ATTENDEE")
        .and_then(|a| a.param("PARTSTAT"))
        .unwrap_or("ACCEPTED")
        .to_ascii_uppercase();
    let class = match method {
        "REQUEST" | "ADD" => "IPM.Schedule.Meeting.Request",
        "CANCEL" => "IPM.Schedule.Meeting.Canceled",
        "REPLY" => match reply_partstat.as_str() {
            "DECLINED" => "IPM.Schedule.Meeting.Resp.Neg",
            "TENTATIVE" => "IPM.Schedule.Meeting.Resp.Tent",
            _ => "IPM.Schedule.Meeting.Resp.Pos",
        },
        _ => "IPM.Appointment",
    };
    m.set(PR_MESSAGE_CLASS, s(class));
    common(&mut m, c);
    let start = c.prop("DTSTART").and_then(|p| datetime(cal, p));
    let mut end = c.prop("DTEND").and_then(|p| datetime(cal, p)).map(|e| e.0);
    if end.is_none() {
        if let (Some((st, allday)), dur) = (start, c.prop("DURATION").and_then(|p| duration(&p.value))) {
            let secs = dur.unwrap_or(if allday { 86_400 } else { 0 });
            end = u64::try_from(st as i128 + secs as i128 * 10_000_000).ok();
        }
    }
    if let Some((st, allday)) = start {
        m.set(PR_START_DATE, PropVal::SysTime(st));
        m.set_named(
            PropName::Id(PSETID_APPOINTMENT, 0x820D),
            PT_SYSTIME,
            PropVal::SysTime(st),
        );
        m.set_named(PropName::Id(PSETID_COMMON, 0x8516), PT_SYSTIME, PropVal::SysTime(st));
        m.set_named(
            PropName::Id(PSETID_APPOINTMENT, 0x8215),
            PT_BOOLEAN,
            PropVal::Bool(allday),
        );
        let en = end.unwrap_or(st);
        m.set(PR_END_DATE, PropVal::SysTime(en));
        m.set_named(
            PropName::Id(PSETID_APPOINTMENT, 0x820E),
            PT_SYSTIME,
            PropVal::SysTime(en),
        );
        m.set_named(PropName::Id(PSETID_COMMON, 0x8517), PT_SYSTIME, PropVal::SysTime(en));
        let minutes = (en.saturating_sub(st) / 600_000_000).min(i32::MAX as u64) as i32;
        m.set_named(
            PropName::Id(PSETID_APPOINTMENT, 0x8213),
            PT_LONG,
            PropVal::Long(minutes),
        );
    }
    if let Some(v) = c.text("LOCATION") {
        m.set_named(PropName::Id(PSETID_APPOINTMENT, 0x8208), PT_UNICODE, s(v));
    }
    // PidLidBusyStatus: TRANSPARENT is free (0), else busy (2);
    // X-MICROSOFT-CDO-BUSYSTATUS wins.
    let busy = match c
        .text("X-MICROSOFT-CDO-BUSYSTATUS")
        .unwrap_or_default()
        .to_ascii_uppercase()
        .as_str()
    {
        "FREE" => 0,
        "TENTATIVE" => 1,
        "BUSY" => 2,
        "OOF" => 3,
        _ => {
            if c.text("TRANSP").is_some_and(|t| t.eq_ignore_ascii_case("TRANSPARENT")) {
                0
            } else {
                2
            }
        }
    };
    m.set_named(PropName::Id(PSETID_APPOINTMENT, 0x8205), PT_LONG, PropVal::Long(busy));
    let rrule = c.text("RRULE");
    m.set_named(
        PropName::Id(PSETID_APPOINTMENT, 0x8223),
        PT_BOOLEAN,
        PropVal::Bool(rrule.is_some()),
    );
    if let Some(r) = rrule {
        // PidLidRecurrencePattern holds a description; keep the rule.
        m.set_named(PropName::Id(PSETID_APPOINTMENT, 0x8232), PT_UNICODE, s(r.clone()));
        store_timezone(&mut m, cal, c);
        if let Some(blob) = recurrence_blob(cal, c, &r, start, end) {
            m.set_named(
                PropName::Id(PSETID_APPOINTMENT, 0x8216),
                PT_BINARY,
                PropVal::Binary(blob),
            );
            // PidLidRecurrenceType: 1 daily, 2 weekly, 3 monthly, 4 yearly.
            let up = r.to_ascii_uppercase();
            let ty = ["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]
                .iter()
                .position(|f| up.contains(&format!("FREQ={f}")));
            if let Some(t) = ty {
                m.set_named(
                    PropName::Id(PSETID_APPOINTMENT, 0x8231),
                    PT_LONG,
                    PropVal::Long(t as i32 + 1),
                );
            }
        }
    }
    // PidLidAppointmentSequence ([MS-OXCICAL] 2.1.3.1.1.20.31).
    if let Some(seq) = c.text("SEQUENCE").and_then(|v| v.trim().parse::<i32>().ok()) {
        m.set_named(
            PropName::Id(PSETID_APPOINTMENT, 0x8201),
            PT_LONG,
            PropVal::Long(seq.max(0)),
        );
    }
    if let Some(uid) = c.text("UID") {
        let goid = global_object_id(&uid);
        m.set_named(
            PropName::Id(PSETID_MEETING, 0x0003),
            PT_BINARY,
            PropVal::Binary(goid.clone()),
        );
        m.set_named(PropName::Id(PSETID_MEETING, 0x0023), PT_BINARY, PropVal::Binary(goid));
    }
    let organizer = c.prop("ORGANIZER").map(|o| {
        let addr = mailto(&o.value);
        (o.param("CN").map(str::to_string).unwrap_or_else(|| addr.clone()), addr)
    });
    let set_sender = |m: &mut MessageContent, name: String, addr: String| {
        m.set(PR_SENT_REPRESENTING_NAME, s(name));
        m.set(PR_SENT_REPRESENTING_ADDRTYPE, s("SMTP"));
        m.set(PR_SENT_REPRESENTING_EMAIL_ADDRESS, s(addr.clone()));
        m.set(PR_SENT_REPRESENTING_SMTP_ADDRESS, s(addr));
    };
    if method == "REPLY" {
        // The replying attendee sends to the organizer.
        if let Some(a) = c.prop("ATTENDEE") {
            let addr = mailto(&a.value);
            set_sender(&mut m, a.param("CN").unwrap_or(&addr).to_string(), addr);
        }
        if let Some((name, addr)) = organizer {
            m.recipients.push(recipient(1, name, addr, None));
        }
    } else {
        if let Some((name, addr)) = organizer {
            set_sender(&mut m, name, addr);
        }
        for a in c.props_named("ATTENDEE") {
            let addr = mailto(&a.value);
            let role = a.param("ROLE").unwrap_or("REQ-PARTICIPANT").to_ascii_uppercase();
            let cutype = a.param("CUTYPE").unwrap_or("").to_ascii_uppercase();
            let ty = if cutype == "RESOURCE" || cutype == "ROOM" || role == "NON-PARTICIPANT" {
                3
            } else if role == "OPT-PARTICIPANT" {
                2
            } else {
                1
            };
            // PidTagRecipientTrackStatus ([MS-OXOCAL] 2.2.4.10.2).
            let track = match a.param("PARTSTAT").unwrap_or("").to_ascii_uppercase().as_str() {
                "TENTATIVE" => Some(2),
                "ACCEPTED" => Some(3),
                "DECLINED" => Some(4),
                _ => None,
            };
            let name = a.param("CN").unwrap_or(&addr).to_string();
            m.recipients.push(recipient(ty, name, addr, track));
        }
    }
    // PidLidAppointmentStateFlags: asfMeeting when there are attendees.
    let state = if m.recipients.is_empty() { 0 } else { 1 };
    m.set_named(PropName::Id(PSETID_APPOINTMENT, 0x8217), PT_LONG, PropVal::Long(state));
    m
}

/// A recipient row: type, display name, SMTP address and optionally
/// PidTagRecipientTrackStatus.
fn recipient(ty: i32, name: String, addr: String, track: Option<i32>) -> Vec<Prop> {
    let p = |tag, value| Prop { tag, name: None, value };
    let mut r = vec![
        p(PR_RECIPIENT_TYPE, PropVal::Long(ty)),
        p(PR_DISPLAY_NAME, s(name)),
        p(PR_ADDRTYPE, s("SMTP")),
        p(PR_EMAIL_ADDRESS, s(addr.clone())),
        p(PR_SMTP_ADDRESS, s(addr)),
    ];
    if let Some(t) = track {
        r.push(p(PR_RECIPIENT_TRACKSTATUS, PropVal::Long(t)));
    }
    r
}

/// Local wall time (minutes since 1601) of a DATE or DATE-TIME value in
/// the series' zone `tzid` (the TZID of DTSTART): values with a TZID or
/// floating are taken as written, UTC values are converted.
fn local_minutes(cal: &Component, p: &Property, tzid: Option<&str>, default_minute: u32) -> Option<u32> {
    let v = p.value.trim();
    let d: String = v.chars().filter(char::is_ascii_digit).collect();
    let y: i64 = d.get(0..4)?.parse().ok()?;
    let mo: u32 = d.get(4..6)?.parse().ok()?;
    let day: u32 = d.get(6..8)?.parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) {
        return None;
    }
    if d.len() < 12 || !v.contains('T') {
        return crate::recur::minutes1601(y, mo, day, default_minute);
    }
    let h: u32 = d.get(8..10)?.parse().ok()?;
    let mi: u32 = d.get(10..12)?.parse().ok()?;
    if h > 23 || mi > 59 {
        return None;
    }
    let m = crate::recur::minutes1601(y, mo, day, h * 60 + mi)?;
    match tzid {
        Some(tz) if v.ends_with(['Z', 'z']) => {
            let ft = m as u64 * 600_000_000;
            let off = tz_offset(cal, tz, y, ft);
            u32::try_from(m as i64 + off).ok()
        }
        _ => Some(m),
    }
}

/// PidLidAppointmentRecur from RRULE, DTSTART (local wall time), EXDATE.
fn recurrence_blob(
    cal: &Component,
    c: &Component,
    rrule: &str,
    start: Option<(u64, bool)>,
    end: Option<u64>,
) -> Option<Vec<u8>> {
    let dt = c.prop("DTSTART")?;
    let tzid = dt.param("TZID");
    let d: String = dt.value.chars().filter(char::is_ascii_digit).collect();
    let year: i64 = d.get(0..4)?.parse().ok()?;
    let month: u32 = d.get(4..6)?.parse().ok()?;
    let day: u32 = d.get(6..8)?.parse().ok()?;
    let minute_of_day = match (d.get(8..10), d.get(10..12)) {
        (Some(h), Some(mi)) => h.parse::<u32>().ok()? * 60 + mi.parse::<u32>().ok()?,
        _ => 0,
    };
    let (st, _) = start?;
    let duration = (end.unwrap_or(st).saturating_sub(st) / 600_000_000).min(u32::MAX as u64 / 2) as u32;
    let mut ex = Vec::new();
    for p in c.props_named("EXDATE") {
        for v in p.value.split(',') {
            let one = Property {
                value: v.to_string(),
                ..p.clone()
            };
            if let Some(m) = local_minutes(cal, &one, tzid.or(p.param("TZID")), 0) {
                let (y, mo, dd, _) = crate::recur::civil_minutes(m);
                ex.push((y, mo, dd));
            }
        }
    }
    // UNTIL (UTC when DTSTART has a zone) as a local date.
    let mut rule = rrule.to_string();
    if let Some(u) = rrule
        .split(';')
        .find_map(|kv| kv.strip_prefix("UNTIL=").or_else(|| kv.strip_prefix("until=")))
    {
        let p = Property {
            value: u.to_string(),
            ..Default::default()
        };
        if let Some(m) = local_minutes(cal, &p, tzid, 0) {
            let (y, mo, dd, _) = crate::recur::civil_minutes(m);
            rule = rule.replace(u, &format!("{y:04}{mo:02}{dd:02}"));
        }
    }
    crate::recur::appointment_recur(
        &rule,
        crate::recur::LocalStart {
            year,
            month,
            day,
            minute_of_day,
        },
        duration,
        &ex,
    )
}

/// PidLidTimeZoneStruct and PidLidTimeZoneDescription of a recurring
/// event whose DTSTART names a VTIMEZONE ([MS-OXCICAL] 2.1.3.1.1.19.2),
/// and the same zone as PidLidAppointmentTimeZoneDefinitionRecur.
fn store_timezone(m: &mut MessageContent, cal: &Component, c: &Component) {
    let Some(tzid) = c.prop("DTSTART").and_then(|p| p.param("TZID")) else {
        return;
    };
    let tzid = tzid.trim_matches('"');
    let Some(vtz) = cal
        .children
        .iter()
        .find(|t| t.name == "VTIMEZONE" && t.text("TZID").as_deref() == Some(tzid))
    else {
        return;
    };
    if let Some(ts) = crate::tz::TimeZoneStruct::from_vtimezone(vtz) {
        m.set_named(
            PropName::Id(PSETID_APPOINTMENT, 0x8233),
            PT_BINARY,
            PropVal::Binary(ts.to_bytes()),
        );
        m.set_named(PropName::Id(PSETID_APPOINTMENT, 0x8234), PT_UNICODE, s(tzid));
        // PidLidAppointmentTimeZoneDefinitionRecur, which Outlook reads first.
        m.set_named(
            PropName::Id(PSETID_APPOINTMENT, 0x8260),
            PT_BINARY,
            PropVal::Binary(crate::tz::tzdefinition(tzid, &ts)),
        );
    }
}

/// Message class of exception attachments' embedded messages
/// ([MS-OXOCAL] section 2.2.10.1.1).
pub const EXCEPTION_CLASS: &str = "IPM.OLE.CLASS.{00061055-0000-0000-C000-000000000046}";

/// Records the instance `x` (a VEVENT with RECURRENCE-ID) as an exception
/// of the recurring master `master` ([MS-OXOCAL] sections 2.2.1.44.2,
/// 2.2.10.1 and 3.1.4.5): the instance's original date goes into the
/// deleted and its new date into the modified instance list of
/// PidLidAppointmentRecur, an ExceptionInfo carries the overridden
/// subject, location and busy status, and a hidden exception attachment
/// holds the instance as an embedded message. `false` if the master has no
/// usable recurrence blob or the instance's dates cannot be read.
fn add_exception(m: &mut MessageContent, cal: &Component, master: &Component, x: &Component, method: &str) -> bool {
    let recur_name = PropName::Id(PSETID_APPOINTMENT, 0x8216);
    let Some(PropVal::Binary(blob)) = m.get_named(&recur_name) else {
        return false;
    };
    let Ok(mut r) = crate::recur::parse(blob) else {
        return false;
    };
    let tzid = master.prop("DTSTART").and_then(|p| p.param("TZID"));
    let Some(rid) = x.prop("RECURRENCE-ID") else {
        return false;
    };
    let Some(orig) = local_minutes(cal, rid, tzid, r.start_time_offset) else {
        return false;
    };
    let duration = r.end_time_offset.saturating_sub(r.start_time_offset);
    let start = x
        .prop("DTSTART")
        .and_then(|p| local_minutes(cal, p, tzid, r.start_time_offset))
        .unwrap_or(orig);
    let end = x
        .prop("DTEND")
        .and_then(|p| local_minutes(cal, p, tzid, r.start_time_offset))
        .unwrap_or(start.saturating_add(duration));
    let inst = event(cal, x, method);
    let mut e = crate::recur::ExceptionInfo {
        start_date_time: start,
        end_date_time: end,
        original_start_date: orig,
        ..Default::default()
    };
    let subject = x.text("SUMMARY");
    if subject != master.text("SUMMARY") {
        e.override_flags |= crate::recur::ARO_SUBJECT;
        e.subject = Some(subject.clone().unwrap_or_default());
    }
    let location = x.text("LOCATION");
    if location != master.text("LOCATION") {
        e.override_flags |= crate::recur::ARO_LOCATION;
        e.location = Some(location.unwrap_or_default());
    }
    let busy = PropName::Id(PSETID_APPOINTMENT, 0x8205);
    if let (Some(PropVal::Long(b)), true) = (inst.get_named(&busy), inst.get_named(&busy) != m.get_named(&busy)) {
        e.override_flags |= crate::recur::ARO_BUSYSTATUS;
        e.busy_status = Some(*b as u32);
    }
    let body_differs = x.text("DESCRIPTION").is_some() && x.text("DESCRIPTION") != master.text("DESCRIPTION");
    if body_differs {
        e.override_flags |= crate::recur::ARO_EXCEPTIONAL_BODY;
    }
    e.override_flags |= crate::recur::ARO_ATTACHMENT;
    e.attachment = Some(0);
    let p = &mut r.pattern;
    let day = |v: u32| v - v % 1440;
    p.deleted_instance_dates.push(day(orig));
    p.deleted_instance_dates.sort_unstable();
    p.deleted_instance_dates.dedup();
    p.modified_instance_dates.push(day(start));
    p.modified_instance_dates.sort_unstable();
    r.exceptions.retain(|o| o.original_start_date != orig);
    r.exceptions.push(e);
    r.exceptions.sort_by_key(|e| e.start_date_time);
    m.set_named(recur_name, PT_BINARY, PropVal::Binary(r.to_bytes()));
    // The exception attachment with the instance as embedded message.
    let mut inst = inst;
    inst.set(PR_MESSAGE_CLASS, s(EXCEPTION_CLASS));
    let orig_utc = datetime(cal, rid).map(|t| t.0).or_else(|| {
        let off = (m.get(PR_START_DATE).and_then(|v| match v {
            PropVal::SysTime(t) => Some(*t as i64 / 600_000_000),
            _ => None,
        }))? - (r.pattern.start_date + r.start_time_offset) as i64;
        u64::try_from((orig as i64 + off).checked_mul(600_000_000)?).ok()
    });
    if let Some(t) = orig_utc {
        inst.set_named(
            PropName::Id(PSETID_APPOINTMENT, 0x8228),
            PT_SYSTIME,
            PropVal::SysTime(t),
        );
    }
    inst.set_named(
        PropName::Id(PSETID_APPOINTMENT, 0x8206),
        PT_BOOLEAN,
        PropVal::Bool(body_differs),
    );
    let subj = inst.get_str(0x0037).unwrap_or_default().to_string();
    let mut props = vec![
        Prop {
            tag: PR_ATTACH_METHOD,
            name: None,
            value: PropVal::Long(5),
        },
        Prop {
            tag: PR_ATTACHMENT_HIDDEN,
            name: None,
            value: PropVal::Bool(true),
        },
        Prop {
            tag: PR_ATTACHMENT_FLAGS,
            name: None,
            value: PropVal::Long(2),
        },
        Prop {
            tag: PR_ATTACHMENT_LINKID,
            name: None,
            value: PropVal::Long(0),
        },
        Prop {
            tag: PR_RENDERING_POSITION,
            name: None,
            value: PropVal::Long(-1),
        },
        Prop {
            tag: PR_DISPLAY_NAME,
            name: None,
            value: s(subj),
        },
        Prop {
            tag: PR_EXCEPTION_STARTTIME,
            name: None,
            value: PropVal::SysTime(start as u64 * 600_000_000),
        },
        Prop {
            tag: PR_EXCEPTION_ENDTIME,
            name: None,
            value: PropVal::SysTime(end as u64 * 600_000_000),
        },
    ];
    if let Some(t) = orig_utc {
        props.push(Prop {
            tag: PR_EXCEPTION_REPLACETIME,
            name: None,
            value: PropVal::SysTime(t),
        });
    }
    m.attachments.push(crate::message::Attachment {
        props,
        embedded: Some(Box::new(inst)),
    });
    m.set(PR_HASATTACH, PropVal::Bool(true));
    true
}

/// PidNameICalendarRecurrenceDate ([MS-XWDCAL] 2.2.2.36, urn:schemas:calendar:rdate):
/// the RDATEs of an event that are not moved instances, as UTC times.
pub fn rdate_name() -> PropName {
    PropName::Name(PS_PUBLIC_STRINGS, "urn:schemas:calendar:rdate".into())
}

/// RDATE ([MS-OXCICAL] section 2.1.3.1.1.20.18, RFC 5545 section 3.8.5.2).
/// PidLidAppointmentRecur holds no instance the pattern does not generate,
/// so, as the specification says, an RDATE can only be a moved instance:
/// it pairs with an EXDATE of the series (the original date) when the move
/// keeps the series valid ([MS-OXOCAL] 2.2.1.44.1: not before the previous
/// or after the next instance, no overlap, not on another instance's day)
/// and then becomes a modified instance (ModifiedInstanceDates, an
/// ExceptionInfo and an exception attachment, as a RECURRENCE-ID instance
/// does). RDATEs in PERIOD form are ignored. RDATEs that pair with nothing
/// (added occurrences, or any RDATE of an event without a usable RRULE)
/// are kept as UTC times in PidNameICalendarRecurrenceDate, so that the
/// export writes them back; MAPI clients do not show them as instances.
fn add_rdates(m: &mut MessageContent, cal: &Component, master: &Component, method: &str) {
    let rdates: Vec<Property> = master
        .props_named("RDATE")
        .filter(|p| !p.param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case("PERIOD")))
        .flat_map(|p| {
            p.value
                .split(',')
                .filter(|v| !v.contains('/') && !v.trim().is_empty())
                .map(|v| Property {
                    value: v.trim().to_string(),
                    ..p.clone()
                })
                .collect::<Vec<_>>()
        })
        .take(1000)
        .collect();
    let mut kept: Vec<u64> = Vec::new();
    let mut attempts = 0;
    let recur = match m.get_named(&PropName::Id(PSETID_APPOINTMENT, 0x8216)) {
        Some(PropVal::Binary(b)) => crate::recur::parse(b).ok(),
        _ => None,
    };
    let tzid = master.prop("DTSTART").and_then(|p| p.param("TZID"));
    let uid = master.text("UID");
    // Original dates already claimed by RECURRENCE-ID instances.
    let claimed: Vec<u32> = match &recur {
        Some(r) => cal
            .children
            .iter()
            .filter(|x| x.name == "VEVENT" && uid.is_some() && x.text("UID") == uid)
            .filter_map(|x| x.prop("RECURRENCE-ID"))
            .filter_map(|rid| local_minutes(cal, rid, tzid, r.start_time_offset))
            .map(|v| v / 1440)
            .collect(),
        None => Vec::new(),
    };
    let mut used: Vec<u32> = Vec::new();
    let mut with_start: Vec<(u32, Property)> = Vec::new();
    for p in rdates {
        let local = recur
            .as_ref()
            .and_then(|r| local_minutes(cal, &p, tzid, r.start_time_offset));
        match local {
            Some(l) => with_start.push((l, p)),
            None => kept.extend(datetime(cal, &p).map(|t| t.0)),
        }
    }
    with_start.sort_by_key(|(l, _)| *l);
    for (start, p) in with_start {
        // The blob changes with every pairing: read it again.
        let r = match m.get_named(&PropName::Id(PSETID_APPOINTMENT, 0x8216)) {
            Some(PropVal::Binary(b)) => crate::recur::parse(b).ok(),
            _ => None,
        };
        // At most 64 RDATEs are tried as moved instances.
        attempts += 1;
        let orig = r.as_ref().filter(|_| attempts <= 64).and_then(|r| {
            let exclude: Vec<u32> = claimed.iter().chain(&used).copied().collect();
            pair_rdate(r, start, &exclude)
        });
        let (Some(r), Some(orig)) = (r, orig) else {
            kept.extend(datetime(cal, &p).map(|t| t.0));
            continue;
        };
        // The moved instance as a RECURRENCE-ID VEVENT would give it.
        let allday = master.prop("DTSTART").is_some_and(|d| !d.value.contains('T'));
        let Some(orig_start) = orig.checked_mul(1440).and_then(|x| x.checked_add(r.start_time_offset)) else {
            kept.extend(datetime(cal, &p).map(|t| t.0));
            continue;
        };
        let (y, mo, d, md) = crate::recur::civil_minutes(orig_start);
        let mut rid = Property {
            name: "RECURRENCE-ID".into(),
            ..Default::default()
        };
        if allday {
            rid.params.push(("VALUE".into(), vec!["DATE".into()]));
            rid.value = format!("{y:04}{mo:02}{d:02}");
        } else {
            if let Some(t) = tzid {
                rid.params.push(("TZID".into(), vec![t.to_string()]));
            }
            rid.value = format!("{y:04}{mo:02}{d:02}T{:02}{:02}00", md / 60, md % 60);
        }
        let dur = r.end_time_offset.saturating_sub(r.start_time_offset);
        let mut x = Component {
            name: "VEVENT".into(),
            props: master
                .props
                .iter()
                .filter(|q| {
                    !matches!(
                        q.name.as_str(),
                        "RRULE" | "RDATE" | "EXDATE" | "EXRULE" | "DTSTART" | "DTEND" | "DURATION" | "RECURRENCE-ID"
                    )
                })
                .cloned()
                .collect(),
            children: master.children.clone(),
        };
        x.props.push(rid);
        x.props.push(Property {
            name: "DTSTART".into(),
            ..p
        });
        x.props.push(Property {
            name: "DURATION".into(),
            value: format!("PT{dur}M"),
            ..Default::default()
        });
        if add_exception(m, cal, master, &x, method) {
            used.push(orig);
        }
    }
    kept.sort_unstable();
    kept.dedup();
    if !kept.is_empty() {
        m.set_named(
            rdate_name(),
            MV_FLAG | PT_SYSTIME,
            PropVal::Multi(kept.into_iter().map(PropVal::SysTime).collect()),
        );
    }
}

/// The original day (days since 1601) of the deleted instance an RDATE
/// starting at local minute `start` moves, if one can: the nearest deleted,
/// not yet claimed instance day such that no other instance lies between
/// them, no other instance starts on the new day, and the moved instance
/// does not overlap its neighbours ([MS-OXCICAL] 2.1.3.1.1.20.18).
fn pair_rdate(r: &crate::recur::AppointmentRecur, start: u32, exclude: &[u32]) -> Option<u32> {
    // Bounds keep hostile input cheap: moves of up to ten years, the eight
    // nearest candidates, neighbours within the (capped) instance length.
    const MAX_MOVE: u32 = 3660;
    let p = &r.pattern;
    let new_day = start / 1440;
    let dur = r.end_time_offset.saturating_sub(r.start_time_offset);
    let sorted = |v: &[u32]| {
        let mut v: Vec<u32> = v.iter().map(|d| d / 1440).collect();
        v.sort_unstable();
        v
    };
    let deleted = sorted(&p.deleted_instance_dates);
    let modified = sorted(&p.modified_instance_dates);
    let moved_from = sorted(&r.exceptions.iter().map(|e| e.original_start_date).collect::<Vec<_>>());
    let mut moved_to: Vec<(u32, u32)> = r
        .exceptions
        .iter()
        .map(|e| (e.start_date_time / 1440, e.start_date_time))
        .collect();
    moved_to.sort_unstable();
    // Start (local minutes) of the instance on `day`, if one is there.
    let instance_on = |day: u32, skip: u32| -> Option<u32> {
        if day == skip {
            return None;
        }
        if let Ok(i) = moved_to.binary_search_by_key(&day, |x| x.0) {
            return Some(moved_to[i].1);
        }
        let at = day.checked_mul(1440)?.checked_add(r.start_time_offset)?;
        if modified.binary_search(&day).is_ok() {
            return Some(at);
        }
        (deleted.binary_search(&day).is_err() && r.occurs_on(day as i64) == Some(true)).then_some(at)
    };
    let mut candidates: Vec<u32> = deleted
        .iter()
        .copied()
        .filter(|o| o.abs_diff(new_day) <= MAX_MOVE && !exclude.contains(o) && moved_from.binary_search(o).is_err())
        .collect();
    candidates.sort_by_key(|o| o.abs_diff(new_day));
    candidates.dedup();
    for orig in candidates.into_iter().take(8) {
        if r.occurs_on(orig as i64) != Some(true) {
            continue;
        }
        if instance_on(new_day, orig).is_some() {
            return None;
        }
        let (lo, hi) = (orig.min(new_day), orig.max(new_day));
        if (lo + 1..hi).any(|d| instance_on(d, orig).is_some()) {
            continue;
        }
        // Neighbours: the instances before and after the new start.
        let reach = (dur / 1440 + 2).min(MAX_MOVE);
        let prev_end = (new_day.saturating_sub(reach)..new_day)
            .filter_map(|d| instance_on(d, orig))
            .map(|s| s.saturating_add(dur))
            .max();
        let next_start = (new_day + 1..=new_day.saturating_add(reach)).find_map(|d| instance_on(d, orig));
        if prev_end.is_some_and(|e| e > start) || next_start.is_some_and(|s| s < start.saturating_add(dur)) {
            continue;
        }
        return Some(orig);
    }
    None
}

/// PSETID_Log {0006200A-0000-0000-C000-000000000046} ([MS-OXOJRNL]).
pub const PSETID_LOG: [u8; 16] = [
    0x0A, 0x20, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];
/// PidLidLogType ([MS-OXOJRNL] section 2.2.1.1).
pub const LID_LOG_TYPE: u32 = 0x8700;
/// PidLidLogStart (2.2.1.3).
pub const LID_LOG_START: u32 = 0x8706;
/// PidLidLogDuration (2.2.1.5), minutes.
pub const LID_LOG_DURATION: u32 = 0x8707;
/// PidLidLogEnd (2.2.1.4).
pub const LID_LOG_END: u32 = 0x8708;
/// Message class of journal entries ([MS-OXOJRNL] section 2.2.1).
pub const JOURNAL_CLASS: &str = "IPM.Activity";

/// A VJOURNAL (RFC 5545 section 3.6.3) as a journal entry, IPM.Activity
/// ([MS-OXOJRNL]; [MS-OXCICAL] defines no VJOURNAL mapping): SUMMARY,
/// DESCRIPTION, CLASS, CATEGORIES and inline ATTACHes as for events, the
/// UID as PidLidGlobalObjectId (as for tasks), DTSTART as PidLidLogStart.
/// A journal entry takes no time in iCalendar; PidLidLogEnd and
/// PidLidLogType ride in `X-GROMOX-LOGEND` / `X-GROMOX-LOGTYPE` (written by
/// [`crate::ical_export`]), else the entry ends when it starts and its type
/// is "Note".
fn journal(cal: &Component, c: &Component) -> MessageContent {
    let mut m = MessageContent::default();
    m.set(PR_MESSAGE_CLASS, s(JOURNAL_CLASS));
    common(&mut m, c);
    uid_as_goid(&mut m, c);
    let log = |lid| PropName::Id(PSETID_LOG, lid);
    let ty = c.text("X-GROMOX-LOGTYPE").unwrap_or_else(|| "Note".into());
    m.set_named(log(LID_LOG_TYPE), PT_UNICODE, s(ty));
    if let Some((st, _)) = c.prop("DTSTART").and_then(|p| datetime(cal, p)) {
        let en = c
            .prop("X-GROMOX-LOGEND")
            .and_then(|p| datetime(cal, p))
            .map(|e| e.0)
            .filter(|e| *e >= st)
            .unwrap_or(st);
        m.set_named(log(LID_LOG_START), PT_SYSTIME, PropVal::SysTime(st));
        m.set_named(log(LID_LOG_END), PT_SYSTIME, PropVal::SysTime(en));
        let minutes = ((en - st) / 600_000_000).min(i32::MAX as u64) as i32;
        m.set_named(log(LID_LOG_DURATION), PT_LONG, PropVal::Long(minutes));
        m.set(PR_START_DATE, PropVal::SysTime(st));
        m.set(PR_END_DATE, PropVal::SysTime(en));
    }
    m
}

/// The UID as PidLidGlobalObjectId, kept as for events so that an export gives it back (tasks
/// and journal entries).
fn uid_as_goid(m: &mut MessageContent, c: &Component) {
    if let Some(uid) = c.text("UID") {
        m.set_named(
            PropName::Id(PSETID_MEETING, 0x0003),
            PT_BINARY,
            PropVal::Binary(global_object_id(&uid)),
        );
    }
}

fn todo(cal: &Component, c: &Component) -> MessageContent {
    let mut m = MessageContent::default();
    m.set(PR_MESSAGE_CLASS, s("IPM.Task"));
    common(&mut m, c);
    uid_as_goid(&mut m, c);
    if let Some((t, _)) = c.prop("DTSTART").and_then(|p| datetime(cal, p)) {
        m.set_named(PropName::Id(PSETID_TASK, 0x8104), PT_SYSTIME, PropVal::SysTime(t));
        m.set_named(PropName::Id(PSETID_COMMON, 0x8516), PT_SYSTIME, PropVal::SysTime(t));
    }
    if let Some((t, _)) = c.prop("DUE").and_then(|p| datetime(cal, p)) {
        m.set_named(PropName::Id(PSETID_TASK, 0x8105), PT_SYSTIME, PropVal::SysTime(t));
        m.set_named(PropName::Id(PSETID_COMMON, 0x8517), PT_SYSTIME, PropVal::SysTime(t));
    }
    let status = c.text("STATUS").unwrap_or_default().to_ascii_uppercase();
    let pct = c
        .text("PERCENT-COMPLETE")
        .and_then(|p| p.trim().parse::<i32>().ok())
        .map(|p| p.clamp(0, 100));
    let completed = c.prop("COMPLETED").and_then(|p| datetime(cal, p)).map(|t| t.0);
    let done = status == "COMPLETED" || pct == Some(100) || completed.is_some();
    // PidLidTaskStatus: 0 not started, 1 in progress, 2 complete, 4 deferred.
    let st = if done {
        2
    } else if status == "IN-PROCESS" || pct.is_some_and(|p| p > 0) {
        1
    } else if status == "CANCELLED" {
        4
    } else {
        0
    };
    m.set_named(PropName::Id(PSETID_TASK, 0x8101), PT_LONG, PropVal::Long(st));
    let frac = if done { 1.0 } else { pct.unwrap_or(0) as f64 / 100.0 };
    m.set_named(PropName::Id(PSETID_TASK, 0x8102), PT_DOUBLE, PropVal::Double(frac));
    m.set_named(PropName::Id(PSETID_TASK, 0x811C), PT_BOOLEAN, PropVal::Bool(done));
    if let Some(t) = completed {
        m.set_named(PropName::Id(PSETID_TASK, 0x810F), PT_SYSTIME, PropVal::SysTime(t));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const TZ: &str = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nDTSTART:19810329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19961027T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

    fn when(m: &MessageContent, lid: u32) -> String {
        m.get_named(&PropName::Id(PSETID_APPOINTMENT, lid))
            .map(|v| v.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn event_with_timezone_attendees_alarm() {
        let t = format!("{TZ}BEGIN:VEVENT\r\nUID:abc-1\r\nDTSTART;TZID=Europe/Berlin:20260715T100000\r\nDTEND;TZID=Europe/Berlin:20261215T110000\r\nSUMMARY:Plan\\, review\r\nLOCATION:Room 1\r\nORGANIZER;CN=Boss:mailto:boss@x\r\nATTENDEE;CN=A;ROLE=REQ-PARTICIPANT:mailto:a@x\r\nATTENDEE;ROLE=OPT-PARTICIPANT:MAILTO:b@x\r\nATTENDEE;CUTYPE=ROOM:mailto:r@x\r\nRRULE:FREQ=WEEKLY\r\nBEGIN:VALARM\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
        let items = ical_to_items(&t);
        assert_eq!(items.len(), 1);
        let m = &items[0];
        assert_eq!(m.get_str(0x001A), Some("IPM.Schedule.Meeting.Request"));
        assert_eq!(m.get_str(0x0037), Some("Plan, review"));
        // Summer: UTC+2; winter: UTC+1.
        assert_eq!(when(m, 0x820D), "2026-07-15 08:00:00");
        assert_eq!(when(m, 0x820E), "2026-12-15 10:00:00");
        assert_eq!(when(m, 0x8208), "\"Room 1\"");
        assert_eq!(when(m, 0x8223), "true");
        assert_eq!(when(m, 0x8231), "2");
        let Some(PropVal::Binary(r)) = m.get_named(&PropName::Id(PSETID_APPOINTMENT, 0x8216)) else {
            panic!("no recurrence blob")
        };
        assert_eq!(&r[4..6], &[0x0B, 0x20]);
        assert_eq!(m.get_str(0x0042), Some("Boss"));
        let types: Vec<_> = m
            .recipients
            .iter()
            .map(|r| get(r, PR_RECIPIENT_TYPE).cloned())
            .collect();
        assert_eq!(
            types,
            vec![Some(PropVal::Long(1)), Some(PropVal::Long(2)), Some(PropVal::Long(3))]
        );
        assert_eq!(get_str(&m.recipients[1], 0x39FE), Some("b@x"));
        assert_eq!(
            m.get_named(&PropName::Id(PSETID_COMMON, 0x8501)),
            Some(&PropVal::Long(15))
        );
        let Some(PropVal::Binary(g)) = m.get_named(&PropName::Id(PSETID_MEETING, 3)) else {
            panic!()
        };
        assert!(g.ends_with(b"vCal-Uid\x01\x00\x00\x00abc-1\x00"));
    }

    #[test]
    fn all_day_and_task() {
        let t = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\nSUMMARY:NY\nTRANSP:TRANSPARENT\nEND:VEVENT\nBEGIN:VTODO\nSUMMARY:Do\nDUE:20260102T120000Z\nPERCENT-COMPLETE:50\nEND:VTODO\nEND:VCALENDAR\n";
        let items = ical_to_items(t);
        assert_eq!(items.len(), 2);
        assert_eq!(when(&items[0], 0x8215), "true");
        assert_eq!(when(&items[0], 0x820E), "2026-01-02 00:00:00");
        assert_eq!(when(&items[0], 0x8205), "0");
        let task = &items[1];
        assert_eq!(task.get_str(0x001A), Some("IPM.Task"));
        assert_eq!(
            task.get_named(&PropName::Id(PSETID_TASK, 0x8101)),
            Some(&PropVal::Long(1))
        );
        assert_eq!(
            task.get_named(&PropName::Id(PSETID_TASK, 0x8102)),
            Some(&PropVal::Double(0.5))
        );
    }

    #[test]
    fn weekday_rules() {
        assert_eq!(nth_weekday(2026, 3, "-1SU"), Some(29));
        assert_eq!(nth_weekday(2026, 11, "1SU"), Some(1));
        assert_eq!(nth_weekday(2026, 3, "2SU"), Some(8));
        assert_eq!(duration("-PT1H30M"), Some(-5400));
        assert_eq!(duration("P1W"), Some(604800));
        assert_eq!(duration("P99999999999999999W"), None);
    }
}
