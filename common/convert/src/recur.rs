//! PidLidAppointmentRecur: the AppointmentRecurrencePattern structure of
//! [MS-OXOCAL] section 2.2.1.44.5 (with the RecurrencePattern of section
//! 2.2.1.44.1) built from an RFC 5545 RRULE.
//!
//! Supported: DAILY, WEEKLY (BYDAY, WKST), MONTHLY (BYMONTHDAY or an nth
//! BYDAY, also via BYSETPOS), YEARLY (BYMONTH with BYMONTHDAY or nth
//! BYDAY); INTERVAL; COUNT, UNTIL or no end; EXDATE as deleted instances.
//! [`parse`] reads the structure back (with ExceptionInfo and
//! ExtendedException), [`AppointmentRecur::to_bytes`] writes it, so that
//! callers can add modified-instance exceptions. Dates are the local dates
//! of DTSTART, as the structure requires.

use crate::error::{Error, Result};
use crate::props::days_from_civil;

const NO_END: u32 = 0x5AE9_80DF;

/// Local date and time of an occurrence start, from DTSTART.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalStart {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    /// Minutes after local midnight.
    pub minute_of_day: u32,
}

fn days1601(y: i64, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d) - days_from_civil(1601, 1, 1)
}

fn civil(days1601: i64) -> (i64, u32, u32) {
    // Inverse through FILETIME formatting helpers: days since 1970.
    let z = days1601 + days_from_civil(1601, 1, 1);
    let s = crate::props::filetime_str(((z * 86400 + 11_644_473_600) as u64) * 10_000_000);
    (
        s[0..4].parse().unwrap_or(1601),
        s[5..7].parse().unwrap_or(1),
        s[8..10].parse().unwrap_or(1),
    )
}

fn weekday(days1601: i64) -> u32 {
    // 1601-01-01 was a Monday (1 with Sunday = 0).
    ((days1601 + 1).rem_euclid(7)) as u32
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)) as u32
}

fn part<'a>(rule: &'a str, key: &str) -> Option<&'a str> {
    rule.split(';').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

fn day_index(s: &str) -> Option<u32> {
    ["SU", "MO", "TU", "WE", "TH", "FR", "SA"]
        .iter()
        .position(|d| *d == s)
        .map(|p| p as u32)
}

/// Parses "2TU" / "-1FR" / "MO" into (n, weekday); n = 0 when absent.
fn nth_day(s: &str) -> Option<(i32, u32)> {
    let s = s.trim();
    if !s.is_ascii() {
        return None;
    }
    let (num, wd) = s.split_at(s.len().checked_sub(2)?);
    let n = if num.is_empty() {
        0
    } else {
        num.trim_start_matches('+').parse().ok()?
    };
    Some((n, day_index(wd)?))
}

enum Kind {
    Daily,
    Weekly { mask: u32 },
    MonthDay { day: u32 },
    MonthNth { mask: u32, n: u32 },
}

/// Builds the AppointmentRecurrencePattern for `rrule` (without "RRULE:")
/// starting at `start`, lasting `duration_min` minutes, with `exdates`
/// (local dates). `until` is the UNTIL date as local (y, m, d). Returns
/// `None` for rules this builder does not support.
pub fn appointment_recur(
    rrule: &str,
    start: LocalStart,
    duration_min: u32,
    exdates: &[(i64, u32, u32)],
) -> Option<Vec<u8>> {
    let rule = rrule.to_ascii_uppercase();
    let freq = part(&rule, "FREQ")?;
    // Only the Gregorian calendar and the parts below are representable.
    if part(&rule, "RSCALE").is_some_and(|r| r != "GREGORIAN") {
        return None;
    }
    for kv in rule.split(';').filter(|kv| !kv.is_empty()) {
        let key = kv.split('=').next().unwrap_or("");
        if !matches!(
            key,
            "FREQ"
                | "INTERVAL"
                | "COUNT"
                | "UNTIL"
                | "BYDAY"
                | "BYMONTHDAY"
                | "BYMONTH"
                | "BYSETPOS"
                | "WKST"
                | "RSCALE"
                | "SKIP"
        ) {
            return None;
        }
    }
    if part(&rule, "BYMONTH").is_some_and(|m| m.parse::<u32>().map_or(true, |m| !(1..=12).contains(&m))) {
        return None;
    }
    let interval: u32 = part(&rule, "INTERVAL")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(1);
    if interval > 999 {
        return None;
    }
    let first_dow = part(&rule, "WKST").and_then(day_index).unwrap_or(0);
    let sd = days1601(start.year, start.month, start.day);
    if sd < 0 {
        return None;
    }
    let byday: Vec<(i32, u32)> = part(&rule, "BYDAY")
        .map(|b| b.split(',').filter_map(nth_day).collect())
        .unwrap_or_default();
    let setpos: Option<i32> = part(&rule, "BYSETPOS").and_then(|v| v.parse().ok());
    let bymonthday: Option<u32> = part(&rule, "BYMONTHDAY")
        .and_then(|v| v.parse().ok())
        .filter(|d| (1..=31).contains(d));
    let bymonth: Option<u32> = part(&rule, "BYMONTH")
        .and_then(|v| v.parse().ok())
        .filter(|m| (1..=12).contains(m));
    let mask_of = |days: &[(i32, u32)]| days.iter().fold(0u32, |m, (_, d)| m | 1 << d);
    let nth_kind = |days: &[(i32, u32)]| -> Option<Kind> {
        let n = days.first().map(|d| d.0).filter(|n| *n != 0).or(setpos)?;
        let n = if n < 0 { 5 } else { n.min(5) as u32 };
        Some(Kind::MonthNth { mask: mask_of(days), n })
    };
    let (recur_freq, kind, months) = match freq {
        "DAILY" if byday.is_empty() => (0x200Au16, Kind::Daily, 0),
        "WEEKLY" => {
            let mask = if byday.is_empty() {
                1 << weekday(sd)
            } else {
                mask_of(&byday)
            };
            (0x200B, Kind::Weekly { mask }, 0)
        }
        "MONTHLY" if bymonth.is_none() => {
            let k = if !byday.is_empty() {
                nth_kind(&byday)?
            } else {
                Kind::MonthDay {
                    day: bymonthday.unwrap_or(start.day),
                }
            };
            (0x200C, k, interval)
        }
        "YEARLY" => {
            if bymonth.is_some_and(|m| m != start.month) {
                return None;
            }
            let k = if !byday.is_empty() {
                nth_kind(&byday)?
            } else {
                Kind::MonthDay {
                    day: bymonthday.unwrap_or(start.day),
                }
            };
            (0x200D, k, 12 * interval)
        }
        _ => return None,
    };
    // Occurrence test for a day (days since 1601).
    let (sy, sm) = (start.year, start.month);
    let week_start = |d: i64| d - ((weekday(d) + 7 - first_dow) % 7) as i64;
    let matches = |d: i64| -> bool {
        if d < sd {
            return false;
        }
        let (y, m, day) = civil(d);
        match &kind {
            Kind::Daily => (d - sd) % interval as i64 == 0,
            Kind::Weekly { mask } => {
                mask & (1 << weekday(d)) != 0 && ((week_start(d) - week_start(sd)) / 7) % interval as i64 == 0
            }
            k => {
                let mdiff = (y - sy) * 12 + m as i64 - sm as i64;
                if mdiff < 0 || mdiff % months as i64 != 0 {
                    return false;
                }
                match k {
                    Kind::MonthDay { day: want } => day == (*want).min(days_in_month(y, m)),
                    Kind::MonthNth { mask, n } => {
                        if mask & (1 << weekday(d)) == 0 {
                            return false;
                        }
                        if *n == 5 {
                            day + 7 > days_in_month(y, m)
                        } else {
                            (day - 1) / 7 + 1 == *n
                        }
                    }
                    _ => false,
                }
            }
        }
    };
    // End of the series.
    let count: Option<u32> = part(&rule, "COUNT").and_then(|v| v.parse().ok()).filter(|c| *c > 0);
    let until: Option<i64> = part(&rule, "UNTIL").and_then(|u| {
        let d: String = u.chars().take(8).collect();
        Some(days1601(
            d.get(0..4)?.parse().ok()?,
            d.get(4..6)?.parse().ok()?,
            d.get(6..8)?.parse().ok()?,
        ))
    });
    let limit = sd + 366 * 200;
    let (end_type, occ_count, end_date) = if count.is_some() || until.is_some() {
        let mut n = 0u32;
        let mut last = sd;
        let mut d = sd;
        while d < limit {
            if until.is_some_and(|u| d > u) {
                break;
            }
            if matches(d) {
                n += 1;
                last = d;
                if count.is_some_and(|c| n >= c) {
                    break;
                }
            }
            d += 1;
        }
        if count.is_some() {
            (0x2022u32, n, (last * 1440) as u32)
        } else {
            (0x2021, n, (last * 1440) as u32)
        }
    } else {
        (0x2023, 10, NO_END)
    };
    // FirstDateTime ([MS-OXOCAL] 2.2.1.44.1.1).
    let (pattern_type, period, first_dt): (u16, u32, u32) = match &kind {
        Kind::Daily => {
            let p = interval * 1440;
            (0, p, ((sd * 1440) % p as i64) as u32)
        }
        Kind::Weekly { .. } => (
            1,
            interval,
            ((week_start(sd) * 1440) % (interval as i64 * 10080)) as u32,
        ),
        _ => {
            let m = ((start.year - 1601) * 12 + start.month as i64 - 1) % months as i64;
            let first = days1601(1601 + m / 12, (m % 12) as u32 + 1, 1) * 1440;
            let pt = match kind {
                Kind::MonthNth { .. } => 3,
                _ => 2,
            };
            (pt, months, first as u32)
        }
    };
    let mut del: Vec<u32> = exdates
        .iter()
        .map(|&(y, m, d)| days1601(y, m, d))
        .filter(|d| *d >= 0)
        .map(|d| (d * 1440) as u32)
        .collect();
    del.sort_unstable();
    del.dedup();
    let pattern_specific = match kind {
        Kind::Daily => PatternSpecific::None,
        Kind::Weekly { mask } => PatternSpecific::Week(mask),
        Kind::MonthDay { day } => PatternSpecific::Day(day),
        Kind::MonthNth { mask, n } => PatternSpecific::MonthNth(mask, n),
    };
    let r = AppointmentRecur {
        pattern: RecurrencePattern {
            recur_frequency: recur_freq,
            pattern_type,
            calendar_type: 0,
            first_date_time: first_dt,
            period,
            sliding_flag: 0,
            pattern_specific,
            end_type,
            occurrence_count: occ_count,
            first_dow,
            deleted_instance_dates: del,
            modified_instance_dates: Vec::new(),
            start_date: (sd * 1440) as u32,
            end_date,
        },
        reader_version2: 0x3006,
        writer_version2: 0x3009,
        start_time_offset: start.minute_of_day,
        end_time_offset: start.minute_of_day + duration_min,
        exceptions: Vec::new(),
    };
    Some(r.to_bytes())
}

/// ExceptionInfo OverrideFlags ([MS-OXOCAL] section 2.2.1.44.2).
pub const ARO_SUBJECT: u16 = 0x0001;
pub const ARO_MEETINGTYPE: u16 = 0x0002;
pub const ARO_REMINDERDELTA: u16 = 0x0004;
pub const ARO_REMINDER: u16 = 0x0008;
pub const ARO_LOCATION: u16 = 0x0010;
pub const ARO_BUSYSTATUS: u16 = 0x0020;
pub const ARO_ATTACHMENT: u16 = 0x0040;
pub const ARO_SUBTYPE: u16 = 0x0080;
pub const ARO_APPTCOLOR: u16 = 0x0100;
pub const ARO_EXCEPTIONAL_BODY: u16 = 0x0200;

/// EndType values ([MS-OXOCAL] section 2.2.1.44.1).
pub const END_AFTER_DATE: u32 = 0x2021;
pub const END_AFTER_N: u32 = 0x2022;
pub const END_NEVER: u32 = 0x2023;

/// PatternTypeSpecific ([MS-OXOCAL] section 2.2.1.44.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternSpecific {
    /// PatternType 0 (day).
    None,
    /// PatternType 1 (week): day-of-week bit mask (bit 0 Sunday).
    Week(u32),
    /// PatternType 2, 4, 0xA, 0xC (month, month end, Hijri): day of month.
    Day(u32),
    /// PatternType 3, 0xB (nth weekday): day mask and N (5 = last).
    MonthNth(u32, u32),
}

/// RecurrencePattern ([MS-OXOCAL] section 2.2.1.44.1). Dates and times
/// are minutes since 1601-01-01 in the series' local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurrencePattern {
    /// 0x200A daily, 0x200B weekly, 0x200C monthly, 0x200D yearly.
    pub recur_frequency: u16,
    pub pattern_type: u16,
    pub calendar_type: u16,
    pub first_date_time: u32,
    /// Minutes (daily), weeks (weekly) or months (monthly, yearly).
    pub period: u32,
    pub sliding_flag: u32,
    pub pattern_specific: PatternSpecific,
    pub end_type: u32,
    pub occurrence_count: u32,
    pub first_dow: u32,
    /// Original dates (local midnight) of deleted and of modified instances.
    pub deleted_instance_dates: Vec<u32>,
    /// Dates (local midnight) modified instances now start on.
    pub modified_instance_dates: Vec<u32>,
    pub start_date: u32,
    pub end_date: u32,
}

/// One modified instance: ExceptionInfo ([MS-OXOCAL] section 2.2.1.44.2)
/// merged with its ExtendedException (section 2.2.1.44.3). Times are local
/// minutes since 1601.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExceptionInfo {
    pub start_date_time: u32,
    pub end_date_time: u32,
    pub original_start_date: u32,
    pub override_flags: u16,
    /// Subject (the wide ExtendedException copy when present).
    pub subject: Option<String>,
    pub meeting_type: Option<u32>,
    pub reminder_delta: Option<u32>,
    pub reminder_set: Option<u32>,
    pub location: Option<String>,
    pub busy_status: Option<u32>,
    pub attachment: Option<u32>,
    pub sub_type: Option<u32>,
    pub appointment_color: Option<u32>,
    /// ExtendedException ChangeHighlight value.
    pub change_highlight: Option<u32>,
}

/// AppointmentRecurrencePattern, the PidLidAppointmentRecur value
/// ([MS-OXOCAL] section 2.2.1.44.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentRecur {
    pub pattern: RecurrencePattern,
    pub reader_version2: u32,
    pub writer_version2: u32,
    /// Minutes after local midnight each instance starts / ends.
    pub start_time_offset: u32,
    pub end_time_offset: u32,
    pub exceptions: Vec<ExceptionInfo>,
}

struct Rd<'a> {
    b: &'a [u8],
    o: usize,
}

impl Rd<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let e = self.o.checked_add(n).filter(|e| *e <= self.b.len());
        let e = e.ok_or(Error::Truncated("appointment recurrence"))?;
        let s = &self.b[self.o..e];
        self.o = e;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn dates(&mut self) -> Result<Vec<u32>> {
        let n = self.u32()? as usize;
        // Each date takes 4 bytes: a count beyond the input is bad data.
        if n > (self.b.len() - self.o) / 4 {
            return Err(Error::Truncated("instance dates"));
        }
        (0..n).map(|_| self.u32()).collect()
    }
}

/// Parses a PidLidAppointmentRecur blob (AppointmentRecurrencePattern of
/// [MS-OXOCAL] section 2.2.1.44.5, with RecurrencePattern 2.2.1.44.1,
/// ExceptionInfo 2.2.1.44.2 and ExtendedException 2.2.1.44.3). Any input is
/// accepted: malformed blobs give an error, never a panic.
pub fn parse(b: &[u8]) -> Result<AppointmentRecur> {
    let mut r = Rd { b, o: 0 };
    let reader = r.u16()?;
    let _writer = r.u16()?;
    if reader != 0x3004 {
        return Err(Error::BadSignature("RecurrencePattern ReaderVersion"));
    }
    let recur_frequency = r.u16()?;
    let pattern_type = r.u16()?;
    let calendar_type = r.u16()?;
    let first_date_time = r.u32()?;
    let period = r.u32()?;
    let sliding_flag = r.u32()?;
    let pattern_specific = match pattern_type {
        0 => PatternSpecific::None,
        1 => PatternSpecific::Week(r.u32()?),
        2 | 4 | 0xA | 0xC => PatternSpecific::Day(r.u32()?),
        3 | 0xB => {
            let mask = r.u32()?;
            PatternSpecific::MonthNth(mask, r.u32()?)
        }
        t => return Err(Error::Invalid(format!("recurrence PatternType {t:#x}"))),
    };
    let end_type = r.u32()?;
    let occurrence_count = r.u32()?;
    let first_dow = r.u32()?;
    let deleted_instance_dates = r.dates()?;
    let modified_instance_dates = r.dates()?;
    let start_date = r.u32()?;
    let end_date = r.u32()?;
    let pattern = RecurrencePattern {
        recur_frequency,
        pattern_type,
        calendar_type,
        first_date_time,
        period,
        sliding_flag,
        pattern_specific,
        end_type,
        occurrence_count,
        first_dow,
        deleted_instance_dates,
        modified_instance_dates,
        start_date,
        end_date,
    };
    let reader_version2 = r.u32()?;
    let writer_version2 = r.u32()?;
    let start_time_offset = r.u32()?;
    let end_time_offset = r.u32()?;
    let count = r.u16()? as usize;
    let mut exceptions = Vec::with_capacity(count.min(256));
    for _ in 0..count {
        let mut e = ExceptionInfo {
            start_date_time: r.u32()?,
            end_date_time: r.u32()?,
            original_start_date: r.u32()?,
            override_flags: r.u16()?,
            ..Default::default()
        };
        let f = e.override_flags;
        let string8 = |r: &mut Rd| -> Result<String> {
            let _len = r.u16()?;
            let len2 = r.u16()? as usize;
            Ok(crate::charset::decode_label("windows-1252", r.take(len2)?))
        };
        if f & ARO_SUBJECT != 0 {
            e.subject = Some(string8(&mut r)?);
        }
        if f & ARO_MEETINGTYPE != 0 {
            e.meeting_type = Some(r.u32()?);
        }
        if f & ARO_REMINDERDELTA != 0 {
            e.reminder_delta = Some(r.u32()?);
        }
        if f & ARO_REMINDER != 0 {
            e.reminder_set = Some(r.u32()?);
        }
        if f & ARO_LOCATION != 0 {
            e.location = Some(string8(&mut r)?);
        }
        if f & ARO_BUSYSTATUS != 0 {
            e.busy_status = Some(r.u32()?);
        }
        if f & ARO_ATTACHMENT != 0 {
            e.attachment = Some(r.u32()?);
        }
        if f & ARO_SUBTYPE != 0 {
            e.sub_type = Some(r.u32()?);
        }
        if f & ARO_APPTCOLOR != 0 {
            e.appointment_color = Some(r.u32()?);
        }
        exceptions.push(e);
    }
    let rb1 = r.u32()? as usize;
    r.take(rb1)?;
    // ExtendedException entries exist from WriterVersion2 0x3009 on; older
    // writers and some truncated blobs stop here, keep what was read.
    if writer_version2 >= 0x3009 {
        for e in exceptions.iter_mut() {
            let Ok(hl_size) = r.u32() else { break };
            if hl_size >= 4 {
                e.change_highlight = Some(r.u32()?);
                r.take(hl_size as usize - 4)?;
            } else {
                r.take(hl_size as usize)?;
            }
            let ee1 = r.u32()? as usize;
            r.take(ee1)?;
            if e.override_flags & (ARO_SUBJECT | ARO_LOCATION) != 0 {
                r.take(12)?; // StartDateTime, EndDateTime, OriginalStartDate again
                let wide = |r: &mut Rd| -> Result<String> {
                    let n = r.u16()? as usize;
                    let raw = r.take(n * 2)?;
                    let u: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                    Ok(String::from_utf16_lossy(&u))
                };
                if e.override_flags & ARO_SUBJECT != 0 {
                    e.subject = Some(wide(&mut r)?);
                }
                if e.override_flags & ARO_LOCATION != 0 {
                    e.location = Some(wide(&mut r)?);
                }
                let ee2 = r.u32()? as usize;
                r.take(ee2)?;
            }
        }
    }
    Ok(AppointmentRecur {
        pattern,
        reader_version2,
        writer_version2,
        start_time_offset,
        end_time_offset,
        exceptions,
    })
}

impl AppointmentRecur {
    /// Serialises the structure ([MS-OXOCAL] section 2.2.1.44.5): exception
    /// subjects and locations as Windows-1252 in ExceptionInfo and as
    /// UTF-16 in ExtendedException (WriterVersion2 0x3009).
    pub fn to_bytes(&self) -> Vec<u8> {
        let p = &self.pattern;
        let mut b = Vec::with_capacity(128);
        let w16 = |b: &mut Vec<u8>, v: u16| b.extend_from_slice(&v.to_le_bytes());
        let w32 = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
        w16(&mut b, 0x3004);
        w16(&mut b, 0x3004);
        w16(&mut b, p.recur_frequency);
        w16(&mut b, p.pattern_type);
        w16(&mut b, p.calendar_type);
        w32(&mut b, p.first_date_time);
        w32(&mut b, p.period);
        w32(&mut b, p.sliding_flag);
        match p.pattern_specific {
            PatternSpecific::None => {}
            PatternSpecific::Week(m) | PatternSpecific::Day(m) => w32(&mut b, m),
            PatternSpecific::MonthNth(m, n) => {
                w32(&mut b, m);
                w32(&mut b, n);
            }
        }
        w32(&mut b, p.end_type);
        w32(&mut b, p.occurrence_count);
        w32(&mut b, p.first_dow);
        for list in [&p.deleted_instance_dates, &p.modified_instance_dates] {
            w32(&mut b, list.len() as u32);
            for d in list {
                w32(&mut b, *d);
            }
        }
        w32(&mut b, p.start_date);
        w32(&mut b, p.end_date);
        w32(&mut b, self.reader_version2);
        w32(&mut b, self.writer_version2);
        w32(&mut b, self.start_time_offset);
        w32(&mut b, self.end_time_offset);
        let exceptions = &self.exceptions[..self.exceptions.len().min(u16::MAX as usize)];
        w16(&mut b, exceptions.len() as u16);
        let string8 = |b: &mut Vec<u8>, s: &str| {
            let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(s);
            let n = bytes.len().min(u16::MAX as usize - 1);
            w16(b, n as u16 + 1);
            w16(b, n as u16);
            b.extend_from_slice(&bytes[..n]);
        };
        for e in exceptions {
            w32(&mut b, e.start_date_time);
            w32(&mut b, e.end_date_time);
            w32(&mut b, e.original_start_date);
            w16(&mut b, e.override_flags);
            let f = e.override_flags;
            if f & ARO_SUBJECT != 0 {
                string8(&mut b, e.subject.as_deref().unwrap_or(""));
            }
            for (flag, v) in [
                (ARO_MEETINGTYPE, e.meeting_type),
                (ARO_REMINDERDELTA, e.reminder_delta),
                (ARO_REMINDER, e.reminder_set),
            ] {
                if f & flag != 0 {
                    w32(&mut b, v.unwrap_or(0));
                }
            }
            if f & ARO_LOCATION != 0 {
                string8(&mut b, e.location.as_deref().unwrap_or(""));
            }
            for (flag, v) in [
                (ARO_BUSYSTATUS, e.busy_status),
                (ARO_ATTACHMENT, e.attachment),
                (ARO_SUBTYPE, e.sub_type),
                (ARO_APPTCOLOR, e.appointment_color),
            ] {
                if f & flag != 0 {
                    w32(&mut b, v.unwrap_or(0));
                }
            }
        }
        w32(&mut b, 0); // ReservedBlock1Size
        if self.writer_version2 >= 0x3009 {
            let wide = |b: &mut Vec<u8>, s: &str| {
                let u: Vec<u16> = s.encode_utf16().take(u16::MAX as usize).collect();
                w16(b, u.len() as u16);
                for c in u {
                    w16(b, c);
                }
            };
            for e in exceptions {
                w32(&mut b, 4); // ChangeHighlightSize
                w32(&mut b, e.change_highlight.unwrap_or(0));
                w32(&mut b, 0); // ReservedBlockEE1Size
                if e.override_flags & (ARO_SUBJECT | ARO_LOCATION) != 0 {
                    w32(&mut b, e.start_date_time);
                    w32(&mut b, e.end_date_time);
                    w32(&mut b, e.original_start_date);
                    if e.override_flags & ARO_SUBJECT != 0 {
                        wide(&mut b, e.subject.as_deref().unwrap_or(""));
                    }
                    if e.override_flags & ARO_LOCATION != 0 {
                        wide(&mut b, e.location.as_deref().unwrap_or(""));
                    }
                    w32(&mut b, 0); // ReservedBlockEE2Size
                }
            }
        }
        w32(&mut b, 0); // ReservedBlock2Size
        b
    }
}

impl AppointmentRecur {
    /// Whether the pattern generates an instance on the local day `day`
    /// (days since 1601-01-01), deleted or not, following the
    /// RecurrencePattern fields of [MS-OXOCAL] section 2.2.1.44.1:
    /// FirstDateTime anchors the period, StartDate and EndDate bound the
    /// series. `None` for calendars other than Gregorian, whose months this
    /// does not compute.
    pub fn occurs_on(&self, day: i64) -> Option<bool> {
        let p = &self.pattern;
        if p.calendar_type > 1 || p.pattern_type >= 0xA {
            return None;
        }
        let min = day.checked_mul(1440)?;
        if min < (p.start_date - p.start_date % 1440) as i64 || min > p.end_date as i64 {
            return Some(false);
        }
        let period = p.period.max(1) as i64;
        Some(match &p.pattern_specific {
            PatternSpecific::None => min % period == p.first_date_time as i64 % period,
            PatternSpecific::Week(mask) => {
                if mask & (1 << weekday(day)) == 0 {
                    return Some(false);
                }
                if p.recur_frequency == 0x200A {
                    // Every weekday: a daily frequency with a week pattern.
                    return Some(true);
                }
                let week_start = day - ((weekday(day) + 7 - p.first_dow.min(6)) % 7) as i64;
                (week_start * 1440) % (period * 10080) == p.first_date_time as i64 % (period * 10080)
            }
            spec => {
                let (y, m, d) = civil(day);
                let months = (y - 1601) * 12 + m as i64 - 1;
                let (fy, fm, _) = civil(p.first_date_time as i64 / 1440);
                let first = (fy - 1601) * 12 + fm as i64 - 1;
                if months % period != first % period {
                    return Some(false);
                }
                let dim = days_in_month(y, m);
                match spec {
                    PatternSpecific::Day(_) if p.pattern_type == 4 => d == dim,
                    PatternSpecific::Day(want) => d == (*want).clamp(1, 31).min(dim),
                    PatternSpecific::MonthNth(mask, n) => {
                        let first_day = day - (d as i64 - 1);
                        let hits: Vec<u32> = (1..=dim)
                            .filter(|x| mask & (1 << weekday(first_day + *x as i64 - 1)) != 0)
                            .collect();
                        let pick = if *n >= 5 {
                            hits.last()
                        } else {
                            hits.get((*n as usize).saturating_sub(1))
                        };
                        pick == Some(&d)
                    }
                    _ => false,
                }
            }
        })
    }
}

/// Local civil date of a minutes-since-1601 value, and the minute of day.
pub fn civil_minutes(m: u32) -> (i64, u32, u32, u32) {
    let days = (m / 1440) as i64;
    let (y, mo, d) = civil(days);
    (y, mo, d, m % 1440)
}

/// Minutes since 1601 of a local civil date and minute of day; `None`
/// before 1601 or past the 32-bit range.
pub fn minutes1601(y: i64, m: u32, d: u32, minute_of_day: u32) -> Option<u32> {
    let days = days1601(y, m, d);
    u32::try_from(days.checked_mul(1440)?.checked_add(minute_of_day as i64)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
    }

    #[test]
    fn weekly_with_count() {
        // Mon/Wed 09:00-10:00 from Monday 2026-11-23, 5 times.
        let st = LocalStart {
            year: 2026,
            month: 11,
            day: 23,
            minute_of_day: 540,
        };
        let b = appointment_recur("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5", st, 60, &[(2026, 11, 25)]).unwrap();
        assert_eq!(&b[0..10], &[0x04, 0x30, 0x04, 0x30, 0x0B, 0x20, 0x01, 0x00, 0x00, 0x00]);
        let sd = (days1601(2026, 11, 23) * 1440) as u32;
        // Week starts Sunday 2026-11-22.
        assert_eq!(u32_at(&b, 10), sd.wrapping_sub(1440) % 10080);
        assert_eq!(u32_at(&b, 14), 1); // period
        assert_eq!(u32_at(&b, 22), 0b0000_1010); // Mo, We
        assert_eq!(u32_at(&b, 26), 0x2022);
        assert_eq!(u32_at(&b, 30), 5);
        assert_eq!(u32_at(&b, 38), 1); // one deleted instance
        assert_eq!(u32_at(&b, 42), sd + 2 * 1440);
        assert_eq!(u32_at(&b, 50), sd);
        // 5th occurrence: Mon 23, Wed 25, Mon 30, Wed 2, Mon 7 Dec.
        assert_eq!(u32_at(&b, 54), (days1601(2026, 12, 7) * 1440) as u32);
        assert_eq!(u32_at(&b, 66), 540);
        assert_eq!(u32_at(&b, 70), 600);
    }

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn spec_examples_parse_and_reserialise() {
        // [MS-OXOCAL] 4.1.1.2: Mon/Thu/Fri 10:00-10:30, 12 times, one
        // instance moved by an hour with another subject and location.
        let b = unhex("043004300B2001000000C0210000010000000000000032000000222000000C0000000000000001000000A096BC0C01000000A096BC0C8020BC0C20ADBC0C0630000009300000580200007602000001003499BC0C5299BC0CF898BC0C11002200210053696D706C6520526563757272656E6365207769746820657863657074696F6E730800070033342F34313431000000000400000000000000000000003499BC0C5299BC0CF898BC0C2100530069006D0070006C006500200052006500630075007200720065006E006300650020007700690074006800200065007800630065007000740069006F006E0073000700330034002F0034003100340031000000000000000000");
        assert_eq!(b.len(), 0x106);
        let r = parse(&b).unwrap();
        assert_eq!(r.pattern.pattern_specific, PatternSpecific::Week(0x32));
        assert_eq!((r.pattern.end_type, r.pattern.occurrence_count), (END_AFTER_N, 12));
        assert_eq!((r.start_time_offset, r.end_time_offset), (600, 630));
        assert_eq!(r.exceptions.len(), 1);
        let e = &r.exceptions[0];
        assert_eq!(e.subject.as_deref(), Some("Simple Recurrence with exceptions"));
        assert_eq!(e.location.as_deref(), Some("34/4141"));
        assert_eq!(civil_minutes(e.original_start_date), (2007, 4, 16, 600));
        assert_eq!(civil_minutes(e.start_date_time), (2007, 4, 16, 660));
        assert_eq!(r.to_bytes(), b);
        // [MS-OXOCAL] 4.1.1.3: every three days until 5/4/2011, two deleted.
        let b = unhex("043004300A2000000000A0050000E010000000000000212000000A0000000000000002000000A0C1DC0C80D2DC0C00000000207EDC0C0016DD0C0630000009300000E0010000FE01000000000000000000000000");
        let r = parse(&b).unwrap();
        assert_eq!((r.pattern.period, r.pattern.end_type), (4320, END_AFTER_DATE));
        assert_eq!(r.pattern.deleted_instance_dates.len(), 2);
        assert_eq!(
            civil_minutes(r.pattern.deleted_instance_dates[0]).0..=civil_minutes(r.pattern.end_date).0,
            2011..=2011
        );
        assert_eq!(r.to_bytes(), b);
        // Truncated blobs are errors (a missing trailing ReservedBlock2Size
        // is tolerated).
        for n in 0..b.len() - 4 {
            assert!(parse(&b[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn monthly_nth_and_daily() {
        let st = LocalStart {
            year: 2026,
            month: 1,
            day: 13,
            minute_of_day: 0,
        };
        let b = appointment_recur("FREQ=MONTHLY;BYDAY=2TU;UNTIL=20260601T000000Z", st, 30, &[]).unwrap();
        assert_eq!(u16::from_le_bytes([b[6], b[7]]), 3);
        assert_eq!(u32_at(&b, 22), 1 << 2);
        assert_eq!(u32_at(&b, 26), 2);
        assert_eq!(u32_at(&b, 30), 0x2021);
        assert_eq!(u32_at(&b, 34), 5); // Jan..May
        assert_eq!(u32_at(&b, 54), (days1601(2026, 5, 12) * 1440) as u32);
        let d = appointment_recur("FREQ=DAILY;INTERVAL=2", st, 30, &[]).unwrap();
        assert_eq!(u32_at(&d, 14), 2880);
        assert_eq!(u32_at(&d, 22), 0x2023);
        assert_eq!(u32_at(&d, 46), NO_END);
        assert!(appointment_recur("FREQ=SECONDLY", st, 1, &[]).is_none());
        assert!(appointment_recur("RSCALE=HEBREW;FREQ=YEARLY", st, 1, &[]).is_none());
        assert!(appointment_recur("FREQ=MONTHLY;BYMONTH=1,2", st, 1, &[]).is_none());
        assert!(appointment_recur("FREQ=DAILY;BYHOUR=9", st, 1, &[]).is_none());
    }

    #[test]
    fn occurrences_of_built_patterns() {
        let start = |y, m, d| LocalStart {
            year: y,
            month: m,
            day: d,
            minute_of_day: 600,
        };
        let day = |y, m, d| days1601(y, m, d);
        let r = parse(
            &appointment_recur("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;COUNT=6", start(2026, 3, 2), 60, &[]).unwrap(),
        )
        .unwrap();
        let on: Vec<i64> = (day(2026, 3, 1)..day(2026, 5, 1))
            .filter(|d| r.occurs_on(*d) == Some(true))
            .collect();
        assert_eq!(
            on,
            [(3, 2), (3, 5), (3, 16), (3, 19), (3, 30), (4, 2)].map(|(m, d)| day(2026, m, d))
        );
        let r = parse(&appointment_recur("FREQ=MONTHLY;BYDAY=-1FR", start(2026, 1, 30), 60, &[]).unwrap()).unwrap();
        assert_eq!(r.occurs_on(day(2026, 2, 27)), Some(true));
        assert_eq!(r.occurs_on(day(2026, 2, 20)), Some(false));
        let r = parse(&appointment_recur("FREQ=DAILY;INTERVAL=3", start(2026, 1, 1), 60, &[]).unwrap()).unwrap();
        assert_eq!(r.occurs_on(day(2026, 1, 4)), Some(true));
        assert_eq!(r.occurs_on(day(2026, 1, 5)), Some(false));
        assert_eq!(r.occurs_on(day(2025, 12, 29)), Some(false));
        let r = parse(&appointment_recur("FREQ=YEARLY;BYMONTHDAY=31;BYMONTH=1", start(2026, 1, 31), 60, &[]).unwrap())
            .unwrap();
        assert_eq!(r.occurs_on(day(2027, 1, 31)), Some(true));
        assert_eq!(r.occurs_on(day(2027, 2, 28)), Some(false));
    }
}
