//! iCalendar → MAPI → iCalendar: what a calendar client would show after an
//! export (occurrence times and summaries, UID, attendees, recurrence) is
//! what it showed before the import.

use gromox_convert::contentline::{parse, Component, Property};
use gromox_convert::ical::{datetime, ical_to_items, PSETID_APPOINTMENT, PSETID_MEETING};
use gromox_convert::ical_export::items_to_ical;
use gromox_convert::props::{days_from_civil, filetime_str, get, get_str, PropName, PropVal};
use gromox_convert::{recur, MessageContent};
use std::path::Path;

const SERIES: &str = "BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//hand written//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
DTSTART:19810329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
DTSTART:19961027T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
END:STANDARD\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:weekly-standup-1@example.org\r
DTSTAMP:20260901T000000Z\r
DTSTART;TZID=Europe/Berlin:20261005T100000\r
DTEND;TZID=Europe/Berlin:20261005T103000\r
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6\r
EXDATE;TZID=Europe/Berlin:20261102T100000\r
SUMMARY:Stand-up\r
LOCATION:Room 1\r
ORGANIZER;CN=Olga:mailto:olga@example.org\r
ATTENDEE;CN=Ann;ROLE=REQ-PARTICIPANT:mailto:ann@example.org\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly-standup-1@example.org\r
DTSTAMP:20260901T000000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20261012T100000\r
DTSTART;TZID=Europe/Berlin:20261012T140000\r
DTEND;TZID=Europe/Berlin:20261012T143000\r
SUMMARY:Stand-up\r
LOCATION:Room 1\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly-standup-1@example.org\r
DTSTAMP:20260901T000000Z\r
RECURRENCE-ID:20261026T090000Z\r
DTSTART;TZID=Europe/Berlin:20261026T100000\r
DTEND;TZID=Europe/Berlin:20261026T103000\r
SUMMARY:Special stand-up\r
LOCATION:Hall\r
DESCRIPTION:With cake\r
END:VEVENT\r
END:VCALENDAR\r
";

/// Occurrences (UTC start, summary) of the single weekly (COUNT) series in
/// `text`, after EXDATE and RECURRENCE-ID overrides.
fn expand_weekly(text: &str) -> Vec<(String, String)> {
    let cal = parse(text).into_iter().find(|c| c.name == "VCALENDAR").unwrap();
    let events: Vec<&Component> = cal.children.iter().filter(|c| c.name == "VEVENT").collect();
    let master = events.iter().find(|e| e.prop("RECURRENCE-ID").is_none()).unwrap();
    let rule = master.text("RRULE").unwrap();
    assert!(rule.contains("FREQ=WEEKLY"), "{rule}");
    let count: usize = rule
        .split(';')
        .find_map(|p| p.strip_prefix("COUNT="))
        .unwrap()
        .parse()
        .unwrap();
    let dtstart = master.prop("DTSTART").unwrap();
    let digits: String = dtstart.value.chars().filter(char::is_ascii_digit).collect();
    let day0 = days_from_civil(
        digits[0..4].parse().unwrap(),
        digits[4..6].parse().unwrap(),
        digits[6..8].parse().unwrap(),
    );
    let utc = |p: &Property| filetime_str(datetime(&cal, p).unwrap().0);
    let exdates: Vec<String> = master
        .props_named("EXDATE")
        .flat_map(|p| {
            p.value
                .split(',')
                .map(|v| {
                    utc(&Property {
                        value: v.to_string(),
                        ..p.clone()
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let summary = master.text("SUMMARY").unwrap_or_default();
    let mut out = Vec::new();
    for k in 0..count {
        // Local wall time of occurrence k, then UTC through the zone.
        let ft = (day0 + 7 * k as i64 + 134_774) as u64 * 86_400 * 10_000_000;
        let date = filetime_str(ft).replace('-', "");
        let local = Property {
            value: format!("{}T{}", &date[..8], &digits[8..]),
            ..dtstart.clone()
        };
        let start = utc(&local);
        if exdates.contains(&start) {
            continue;
        }
        match events
            .iter()
            .find(|e| e.prop("RECURRENCE-ID").is_some_and(|r| utc(r) == start))
        {
            Some(x) => out.push((utc(x.prop("DTSTART").unwrap()), x.text("SUMMARY").unwrap_or_default())),
            None => out.push((start, summary.clone())),
        }
    }
    out.sort();
    out
}

#[test]
fn weekly_series_with_exceptions_round_trips() {
    let before = expand_weekly(SERIES);
    // Berlin: UTC+2 until 25 Oct, then UTC+1; 12 Oct moved, 2 Nov deleted.
    assert_eq!(
        before,
        vec![
            ("2026-10-05 08:00:00".into(), "Stand-up".into()),
            ("2026-10-12 12:00:00".into(), "Stand-up".into()),
            ("2026-10-19 08:00:00".into(), "Stand-up".into()),
            ("2026-10-26 09:00:00".into(), "Special stand-up".into()),
            ("2026-11-09 09:00:00".into(), "Stand-up".into()),
        ]
    );
    let items = ical_to_items(SERIES);
    assert_eq!(items.len(), 1, "exceptions belong to the master");
    let m = &items[0];
    // MAPI side: the blob lists the modified and deleted instances, and
    // each modified instance has a hidden exception attachment.
    let Some(PropVal::Binary(blob)) = m.get_named(&PropName::Id(PSETID_APPOINTMENT, 0x8216)) else {
        panic!("no recurrence blob")
    };
    let r = recur::parse(blob).unwrap();
    assert_eq!(r.pattern.deleted_instance_dates.len(), 3);
    assert_eq!(r.pattern.modified_instance_dates.len(), 2);
    assert_eq!(r.exceptions.len(), 2);
    assert_eq!(r.exceptions[1].subject.as_deref(), Some("Special stand-up"));
    assert_eq!(r.exceptions[1].location.as_deref(), Some("Hall"));
    assert_eq!(r.exceptions[0].subject, None);
    assert_eq!(r.exceptions[0].start_date_time % 1440, 14 * 60);
    assert_eq!(m.attachments.len(), 2);
    for a in &m.attachments {
        assert_eq!(get(&a.props, 0x7FFE000B), Some(&PropVal::Bool(true)));
        let e = a.embedded.as_ref().unwrap();
        assert_eq!(
            e.get_str(0x001A),
            Some("IPM.OLE.CLASS.{00061055-0000-0000-C000-000000000046}")
        );
    }
    assert_eq!(
        m.attachments[1].embedded.as_ref().unwrap().get_str(0x1000),
        Some("With cake")
    );

    let out = items_to_ical(&items, None);
    assert!(out.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"), "{out}");
    assert!(out.contains("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6;WKST=SU\r\n"), "{out}");
    assert!(out.contains("DESCRIPTION:With cake\r\n"), "{out}");
    assert_eq!(out.matches("RECURRENCE-ID").count(), 2, "{out}");
    assert_eq!(expand_weekly(&out), before, "{out}");
    // And once more through MAPI: the same blob.
    let again = ical_to_items(&out);
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].get_named(&PropName::Id(PSETID_APPOINTMENT, 0x8216)),
        m.get_named(&PropName::Id(PSETID_APPOINTMENT, 0x8216))
    );
}

fn named(m: &MessageContent, set: [u8; 16], lid: u32) -> Option<&PropVal> {
    m.get_named(&PropName::Id(set, lid))
}

fn attendees(m: &MessageContent) -> Vec<(Option<PropVal>, Option<String>)> {
    m.recipients
        .iter()
        .map(|r| (get(r, 0x0C150003).cloned(), get_str(r, 0x39FE).map(str::to_string)))
        .collect()
}

#[test]
fn corpus_calendars_export_and_reimport() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ics");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let (mut n, mut with_rule) = (0, 0);
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        let items = ical_to_items(&text);
        let out = items_to_ical(&items, None);
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(out.starts_with("BEGIN:VCALENDAR\r\n"), "{name}");
        assert!(out.split("\r\n").all(|l| l.len() <= 75), "{name}: long line\n{out}");
        let again = ical_to_items(&out);
        assert_eq!(again.len(), items.len(), "{name}\n{out}");
        for (a, b) in items.iter().zip(&again) {
            let ctx = format!("{name}\n{out}");
            assert_eq!(a.get_str(0x0037), b.get_str(0x0037), "summary {ctx}");
            assert_eq!(
                a.get_str(0x001A).map(|c| c.starts_with("IPM.Task")),
                b.get_str(0x001A).map(|c| c.starts_with("IPM.Task")),
                "{ctx}"
            );
            // UID (through the GlobalObjectId).
            if named(a, PSETID_MEETING, 3).is_some() {
                assert_eq!(named(a, PSETID_MEETING, 3), named(b, PSETID_MEETING, 3), "uid {ctx}");
            }
            // Start and end.
            for lid in [0x820D, 0x820E, 0x8215] {
                assert_eq!(
                    named(a, PSETID_APPOINTMENT, lid),
                    named(b, PSETID_APPOINTMENT, lid),
                    "{lid:x} {ctx}"
                );
            }
            assert_eq!(attendees(a), attendees(b), "attendees {ctx}");
            assert_eq!(
                named(a, PSETID_APPOINTMENT, 0x8223),
                named(b, PSETID_APPOINTMENT, 0x8223),
                "recurring {ctx}"
            );
            let blob = PropName::Id(PSETID_APPOINTMENT, 0x8216);
            if a.get_named(&blob).is_some() {
                with_rule += 1;
                assert_eq!(a.get_named(&blob), b.get_named(&blob), "recurrence {ctx}");
                assert_eq!(a.attachments.len(), b.attachments.len(), "exceptions {ctx}");
            } else {
                assert_eq!(
                    named(a, PSETID_APPOINTMENT, 0x8232),
                    named(b, PSETID_APPOINTMENT, 0x8232),
                    "rule {ctx}"
                );
            }
            n += 1;
        }
    }
    assert!(n > 150, "{n} items");
    assert!(with_rule > 10, "{with_rule} recurring items");
}

/// Writes the recurrence blobs of the hand-written series and of the corpus
/// into the `recur` fuzz seed directory (run with WRITE_SEEDS=1).
#[test]
fn recur_seed_blobs() {
    let items = ical_to_items(SERIES);
    let Some(PropVal::Binary(b)) = items[0].get_named(&PropName::Id(PSETID_APPOINTMENT, 0x8216)) else {
        panic!()
    };
    let r = recur::parse(b).unwrap();
    assert_eq!(&r.to_bytes(), b, "serialisation is the inverse of parse");
    if std::env::var_os("WRITE_SEEDS").is_some() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/recur");
        std::fs::write(dir.join("weekly-two-exceptions.bin"), b).unwrap();
        std::fs::write(dir.join("truncated.bin"), &b[..b.len() / 2]).unwrap();
        let st = recur::LocalStart {
            year: 2026,
            month: 1,
            day: 13,
            minute_of_day: 600,
        };
        for (name, rule) in [
            ("monthly-nth", "FREQ=MONTHLY;BYDAY=2TU;UNTIL=20261231"),
            ("yearly", "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=13;COUNT=5"),
            ("daily", "FREQ=DAILY;INTERVAL=3"),
        ] {
            let blob = recur::appointment_recur(rule, st, 45, &[(2026, 2, 10)]).unwrap();
            std::fs::write(dir.join(format!("{name}.bin")), blob).unwrap();
        }
    }
}
