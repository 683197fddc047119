//! PidLidAppointmentRecur: the AppointmentRecurrencePattern structure of
//! [MS-OXOCAL] section 2.2.1.44.5 (with the RecurrencePattern of section
//! 2.2.1.44.1) built from an RFC 5545 RRULE.
//!
//! Supported: DAILY, WEEKLY (BYDAY, WKST), MONTHLY (BYMONTHDAY or an nth
//! BYDAY, also via BYSETPOS), YEARLY (BYMONTH with BYMONTHDAY or nth
//! BYDAY); INTERVAL; COUNT, UNTIL or no end; EXDATE as deleted instances.
//! Exceptions (modified instances) are not written. Dates are the local
//! dates of DTSTART, as the structure requires.

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
    let mut b = Vec::with_capacity(128);
    let w16 = |b: &mut Vec<u8>, v: u16| b.extend_from_slice(&v.to_le_bytes());
    let w32 = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
    w16(&mut b, 0x3004);
    w16(&mut b, 0x3004);
    w16(&mut b, recur_freq);
    w16(&mut b, pattern_type);
    w16(&mut b, 0); // CalendarType: Gregorian
    w32(&mut b, first_dt);
    w32(&mut b, period);
    w32(&mut b, 0); // SlidingFlag
    match kind {
        Kind::Daily => {}
        Kind::Weekly { mask } => w32(&mut b, mask),
        Kind::MonthDay { day } => w32(&mut b, day),
        Kind::MonthNth { mask, n } => {
            w32(&mut b, mask);
            w32(&mut b, n);
        }
    }
    w32(&mut b, end_type);
    w32(&mut b, occ_count);
    w32(&mut b, first_dow);
    let mut del: Vec<u32> = exdates
        .iter()
        .map(|&(y, m, d)| days1601(y, m, d))
        .filter(|d| *d >= 0)
        .map(|d| (d * 1440) as u32)
        .collect();
    del.sort_unstable();
    del.dedup();
    w32(&mut b, del.len() as u32);
    for d in &del {
        w32(&mut b, *d);
    }
    w32(&mut b, 0); // ModifiedInstanceCount
    w32(&mut b, (sd * 1440) as u32);
    w32(&mut b, end_date);
    // AppointmentRecurrencePattern tail ([MS-OXOCAL] 2.2.1.44.5).
    w32(&mut b, 0x3006);
    w32(&mut b, 0x3009);
    w32(&mut b, start.minute_of_day);
    w32(&mut b, start.minute_of_day + duration_min);
    w16(&mut b, 0); // ExceptionCount
    w32(&mut b, 0); // ReservedBlock1Size
    w32(&mut b, 0); // ReservedBlock2Size
    Some(b)
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
}
