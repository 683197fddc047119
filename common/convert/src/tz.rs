//! Time-zone rules of recurring appointments: PidLidTimeZoneStruct
//! ([MS-OXOCAL] section 2.2.1.39, a TZREG-like structure of bias and two
//! SYSTEMTIME transition rules) built from and written as an RFC 5545
//! VTIMEZONE (section 3.6.5) with yearly STANDARD / DAYLIGHT observances,
//! as [MS-OXCICAL] section 2.1.3.1.1.3 maps them.

use crate::contentline::Component;
use crate::props::days_from_civil;

/// A yearly transition: month, weekday (0 = Sunday), occurrence (1-4, 5 =
/// last) and local time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub month: u16,
    pub day_of_week: u16,
    pub nth: u16,
    pub hour: u16,
    pub minute: u16,
}

/// PidLidTimeZoneStruct. Biases are minutes, UTC = local + bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZoneStruct {
    pub bias: i32,
    pub standard_bias: i32,
    pub daylight_bias: i32,
    /// Onset of standard time; `None` when the zone has no daylight time.
    pub standard: Option<Transition>,
    pub daylight: Option<Transition>,
}

fn systemtime(b: &mut Vec<u8>, t: Option<Transition>) {
    let t = t.unwrap_or(Transition {
        month: 0,
        day_of_week: 0,
        nth: 0,
        hour: 0,
        minute: 0,
    });
    for v in [0, t.month, t.day_of_week, t.nth, t.hour, t.minute, 0, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
}

/// Day of month of the `nth` (5 = last) `dow` of a month.
pub fn nth_weekday(year: i64, month: u32, dow: u32, nth: u32) -> Option<u32> {
    if !(1..=12).contains(&month) || dow > 6 {
        return None;
    }
    let first = days_from_civil(year, month, 1);
    let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let dim = (days_from_civil(ny, nm, 1) - first) as u32;
    // 1970-01-01 was a Thursday (4).
    let first_wd = (first + 4).rem_euclid(7) as u32;
    let mut day = 1 + (dow + 7 - first_wd) % 7;
    let n = nth.clamp(1, 5);
    for _ in 1..n {
        if day + 7 > dim {
            break;
        }
        day += 7;
    }
    Some(day)
}

impl TimeZoneStruct {
    /// The 48-byte structure.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(48);
        for v in [self.bias, self.standard_bias, self.daylight_bias] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&0u16.to_le_bytes()); // wStandardYear
        systemtime(&mut b, self.standard.filter(|_| self.daylight.is_some()));
        b.extend_from_slice(&0u16.to_le_bytes()); // wDaylightYear
        systemtime(&mut b, self.daylight.filter(|_| self.standard.is_some()));
        b
    }

    /// Parses the structure; `None` if it is short or out of range.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < 48 {
            return None;
        }
        let i32_at = |o: usize| i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let rule = |o: usize| -> Option<Transition> {
            let t = Transition {
                month: u16_at(o + 2),
                day_of_week: u16_at(o + 4),
                nth: u16_at(o + 6),
                hour: u16_at(o + 8),
                minute: u16_at(o + 10),
            };
            ((1..=12).contains(&t.month) && t.day_of_week <= 6 && t.hour < 24 && t.minute < 60).then_some(t)
        };
        let (bias, sb, db) = (i32_at(0), i32_at(4), i32_at(8));
        if [bias, sb, db].iter().any(|v| v.abs() > 24 * 60) {
            return None;
        }
        let (standard, daylight) = match (rule(14), rule(32)) {
            (Some(s), Some(d)) => (Some(s), Some(d)),
            _ => (None, None),
        };
        Some(TimeZoneStruct {
            bias,
            standard_bias: sb,
            daylight_bias: db,
            standard,
            daylight,
        })
    }

    /// UTC offset (minutes east) in effect at a local time given as minutes
    /// since 1601-01-01.
    pub fn offset_at_local(&self, local_min: i64) -> i64 {
        let std_off = -(self.bias as i64 + self.standard_bias as i64);
        let (Some(s), Some(d)) = (self.standard, self.daylight) else {
            return std_off;
        };
        let dl_off = -(self.bias as i64 + self.daylight_bias as i64);
        let ft = (local_min.max(0) as u64).saturating_mul(600_000_000);
        let year: i64 = crate::props::filetime_str(ft)[0..4].parse().unwrap_or(1601);
        let onset = |t: Transition| -> i64 {
            let day = nth_weekday(year, t.month as u32, t.day_of_week as u32, t.nth as u32).unwrap_or(1);
            (days_from_civil(year, t.month as u32, day) - days_from_civil(1601, 1, 1)) * 1440
                + t.hour as i64 * 60
                + t.minute as i64
        };
        let (ds, ss) = (onset(d), onset(s));
        let dst = if ds < ss {
            local_min >= ds && local_min < ss
        } else {
            !(local_min >= ss && local_min < ds)
        };
        if dst {
            dl_off
        } else {
            std_off
        }
    }

    /// Builds the structure from a VTIMEZONE's latest STANDARD and DAYLIGHT
    /// observances with yearly BYMONTH/BYDAY rules; `None` when it cannot
    /// be represented.
    pub fn from_vtimezone(tz: &Component) -> Option<Self> {
        // (DTSTART digits, offset to, transition) of the latest observance.
        let latest = |kind: &str| -> Option<(String, i64, Option<Transition>)> {
            let mut best: Option<(String, i64, Option<Transition>)> = None;
            for o in tz.children.iter().filter(|c| c.name == kind) {
                let off = parse_offset(&o.prop("TZOFFSETTO")?.value)?;
                let st: String = o.prop("DTSTART")?.value.chars().filter(char::is_ascii_digit).collect();
                if st.len() < 8 {
                    continue;
                }
                let (h, mi) = (
                    st.get(8..10).and_then(|v| v.parse().ok()).unwrap_or(0),
                    st.get(10..12).and_then(|v| v.parse().ok()).unwrap_or(0),
                );
                let rule = o.text("RRULE").unwrap_or_default().to_ascii_uppercase();
                let tr = if rule.contains("FREQ=YEARLY") {
                    let part = |k: &str| {
                        rule.split(';')
                            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=').map(str::to_string))
                    };
                    let month: u16 = part("BYMONTH")?.parse().ok()?;
                    let byday = part("BYDAY")?;
                    if !byday.is_ascii() || byday.len() < 2 || byday.contains(',') {
                        return None;
                    }
                    let (num, wd) = byday.split_at(byday.len() - 2);
                    let n: i32 = if num.is_empty() {
                        1
                    } else {
                        num.trim_start_matches('+').parse().ok()?
                    };
                    let dow = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"]
                        .iter()
                        .position(|d| *d == wd)? as u16;
                    let nth = if n < 0 { 5 } else { n.clamp(1, 5) as u16 };
                    Some(Transition {
                        month,
                        day_of_week: dow,
                        nth,
                        hour: h,
                        minute: mi,
                    })
                } else {
                    None
                };
                if best.as_ref().is_none_or(|(b, _, _)| st > *b) {
                    best = Some((st, off, tr));
                }
            }
            best
        };
        let std = latest("STANDARD");
        let dl = latest("DAYLIGHT");
        match (std, dl) {
            (Some((_, so, Some(st))), Some((_, doff, Some(dt)))) => Some(TimeZoneStruct {
                bias: -so as i32,
                standard_bias: 0,
                daylight_bias: (so - doff) as i32,
                standard: Some(st),
                daylight: Some(dt),
            }),
            (Some((_, so, _)), None) => Some(TimeZoneStruct {
                bias: -so as i32,
                standard_bias: 0,
                daylight_bias: 0,
                standard: None,
                daylight: None,
            }),
            _ => None,
        }
    }

    /// VTIMEZONE content lines (unfolded, without line ends) for `tzid`.
    pub fn vtimezone(&self, tzid: &str, escape: impl Fn(&str) -> String) -> Vec<String> {
        let mut l = vec!["BEGIN:VTIMEZONE".to_string(), format!("TZID:{}", escape(tzid))];
        let fmt_off = |m: i64| {
            format!(
                "{}{:02}{:02}",
                if m < 0 { '-' } else { '+' },
                m.abs() / 60,
                m.abs() % 60
            )
        };
        let std_off = -(self.bias as i64 + self.standard_bias as i64);
        match (self.standard, self.daylight) {
            (Some(s), Some(d)) => {
                let dl_off = -(self.bias as i64 + self.daylight_bias as i64);
                for (kind, t, from, to) in [("STANDARD", s, dl_off, std_off), ("DAYLIGHT", d, std_off, dl_off)] {
                    let day = nth_weekday(1601, t.month as u32, t.day_of_week as u32, t.nth as u32).unwrap_or(1);
                    let wd = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"][t.day_of_week as usize % 7];
                    let n = if t.nth >= 5 { -1 } else { t.nth as i32 };
                    l.push(format!("BEGIN:{kind}"));
                    l.push(format!(
                        "DTSTART:1601{:02}{day:02}T{:02}{:02}00",
                        t.month, t.hour, t.minute
                    ));
                    l.push(format!("RRULE:FREQ=YEARLY;BYMONTH={};BYDAY={n}{wd}", t.month));
                    l.push(format!("TZOFFSETFROM:{}", fmt_off(from)));
                    l.push(format!("TZOFFSETTO:{}", fmt_off(to)));
                    l.push(format!("END:{kind}"));
                }
            }
            _ => {
                l.push("BEGIN:STANDARD".into());
                l.push("DTSTART:16010101T000000".into());
                l.push(format!("TZOFFSETFROM:{}", fmt_off(std_off)));
                l.push(format!("TZOFFSETTO:{}", fmt_off(std_off)));
                l.push("END:STANDARD".into());
            }
        }
        l.push("END:VTIMEZONE".into());
        l
    }
}

/// The key name (Windows time-zone id, e.g. "W. Europe Standard Time")
/// and effective rule of a TZDEFINITION, the value of
/// PidLidAppointmentTimeZoneDefinitionRecur / StartDisplay / EndDisplay
/// ([MS-OXOCAL] section 2.2.1.41): the rule flagged
/// TZRULE_FLAG_EFFECTIVE_TZREG, else the last one. `None` for malformed data.
pub fn from_tzdefinition(b: &[u8]) -> Option<(String, TimeZoneStruct)> {
    let u16_at = |o: usize| -> Option<u16> { Some(u16::from_le_bytes([*b.get(o)?, *b.get(o + 1)?])) };
    if *b.first()? != 2 {
        return None;
    }
    let cb_header = u16_at(2)? as usize;
    let cch = u16_at(6)? as usize;
    let name: Vec<u16> = (0..cch).map(|i| u16_at(8 + 2 * i)).collect::<Option<_>>()?;
    let rules = u16_at(8 + 2 * cch)? as usize;
    let mut best: Option<TimeZoneStruct> = None;
    for i in 0..rules.min(1024) {
        let o = 4usize.checked_add(cb_header)?.checked_add(i * 66)?;
        let r = b.get(o..o + 66)?;
        let flags = u16::from_le_bytes([r[4], r[5]]);
        // lBias .. stDaylightDate have the TimeZoneStruct layout without
        // the two wYear fields.
        let mut ts = r[22..34].to_vec();
        ts.extend_from_slice(&[0, 0]);
        ts.extend_from_slice(&r[34..50]);
        ts.extend_from_slice(&[0, 0]);
        ts.extend_from_slice(&r[50..66]);
        let Some(t) = TimeZoneStruct::parse(&ts) else { continue };
        best = Some(t);
        if flags & 2 != 0 {
            break;
        }
    }
    Some((String::from_utf16_lossy(&name), best?))
}

/// A TZDEFINITION ([MS-OXOCAL] section 2.2.1.41) with one rule, flagged
/// effective and current for the series (TZRULE_FLAG_EFFECTIVE_TZREG |
/// TZRULE_FLAG_RECUR_CURRENT_TZREG), under the key name `name`.
pub fn tzdefinition(name: &str, tz: &TimeZoneStruct) -> Vec<u8> {
    let key: Vec<u16> = name.encode_utf16().take(255).collect();
    let mut d = vec![2, 1];
    d.extend_from_slice(&((6 + 2 * key.len()) as u16).to_le_bytes());
    d.extend_from_slice(&2u16.to_le_bytes());
    d.extend_from_slice(&(key.len() as u16).to_le_bytes());
    for c in key {
        d.extend_from_slice(&c.to_le_bytes());
    }
    d.extend_from_slice(&1u16.to_le_bytes());
    d.extend_from_slice(&[2, 1, 0x3E, 0]);
    d.extend_from_slice(&3u16.to_le_bytes());
    d.extend_from_slice(&1601u16.to_le_bytes());
    d.extend_from_slice(&[0; 14]);
    let b = tz.to_bytes();
    d.extend_from_slice(&b[0..12]);
    d.extend_from_slice(&b[14..30]);
    d.extend_from_slice(&b[32..48]);
    d
}

/// UTC offset `+hhmm` / `-hhmm[ss]` in minutes east.
pub fn parse_offset(v: &str) -> Option<i64> {
    let v = v.trim();
    let sign = if v.starts_with('-') { -1 } else { 1 };
    let d: String = v.chars().filter(char::is_ascii_digit).collect();
    if d.len() < 4 {
        return None;
    }
    Some(sign * (d[0..2].parse::<i64>().ok()? * 60 + d[2..4].parse::<i64>().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contentline::parse;

    #[test]
    fn berlin_round_trip() {
        let t = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nDTSTART:19810329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19961027T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";
        let tz = TimeZoneStruct::from_vtimezone(&parse(t)[0]).unwrap();
        assert_eq!((tz.bias, tz.daylight_bias), (-60, -60));
        assert_eq!(TimeZoneStruct::parse(&tz.to_bytes()), Some(tz));
        let at = |y, m, d, h: i64| (days_from_civil(y, m, d) - days_from_civil(1601, 1, 1)) * 1440 + h * 60;
        assert_eq!(tz.offset_at_local(at(2026, 7, 1, 12)), 120);
        assert_eq!(tz.offset_at_local(at(2026, 12, 1, 12)), 60);
        assert_eq!(tz.offset_at_local(at(2026, 3, 29, 1)), 60);
        assert_eq!(tz.offset_at_local(at(2026, 3, 29, 3)), 120);
        let again = tz.vtimezone("Europe/Berlin", str::to_string).join("\r\n");
        let tz2 = TimeZoneStruct::from_vtimezone(&parse(&again)[0]).unwrap();
        assert_eq!(tz2, tz);
        assert_eq!(nth_weekday(2026, 3, 0, 5), Some(29));
        // The same zone as an Outlook TZDEFINITION with two rules, the
        // second effective.
        let key: Vec<u8> = "W. Europe Standard Time"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let mut d = vec![2, 1];
        d.extend_from_slice(&((6 + key.len()) as u16).to_le_bytes());
        d.extend_from_slice(&2u16.to_le_bytes());
        d.extend_from_slice(&((key.len() / 2) as u16).to_le_bytes());
        d.extend_from_slice(&key);
        d.extend_from_slice(&2u16.to_le_bytes());
        for (flags, bias) in [(0u16, 0i32), (3, -60)] {
            d.extend_from_slice(&[2, 1, 0x3E, 0]);
            d.extend_from_slice(&flags.to_le_bytes());
            d.extend_from_slice(&2007u16.to_le_bytes());
            d.extend_from_slice(&[0; 14]);
            let mut t = tz;
            t.bias = bias;
            let b = t.to_bytes();
            d.extend_from_slice(&b[0..12]);
            d.extend_from_slice(&b[14..30]);
            d.extend_from_slice(&b[32..48]);
        }
        assert_eq!(from_tzdefinition(&d), Some(("W. Europe Standard Time".to_string(), tz)));
        assert_eq!(from_tzdefinition(&d[..d.len() - 1]), None);
        assert_eq!(
            from_tzdefinition(&tzdefinition("Europe/Berlin", &tz)),
            Some(("Europe/Berlin".to_string(), tz))
        );
        assert_eq!(nth_weekday(2026, 11, 0, 1), Some(1));
    }
}
