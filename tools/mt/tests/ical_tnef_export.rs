//! `gromox-export --ical` and `--tnef`: corpus iCalendar files imported into a store come back
//! out with the same UIDs, summaries and start times; TNEF export decodes to the same subjects
//! and attachment names.

use gromox_mt::cli::{produce_files, Mode};
use gromox_mt::import::{Importer, Options};
use std::path::Path;

fn ics_files() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../common/convert/tests/fixtures/ics");
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("eds-event-"))
        })
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    assert!(v.len() >= 5, "fixtures missing in {}", dir.display());
    v
}

fn store_with(files: &[String], mode: Mode) -> (tempfile::TempDir, exmdbd::Store, u64) {
    let mut stream = Vec::new();
    let (n, _) = produce_files(&mut stream, files, mode, &mut Vec::new()).unwrap();
    assert!(n > 0);
    let t = tempfile::tempdir().unwrap();
    let mut s = exmdbd::Store::create_private(t.path(), "alice@example.org", "en", false, &Default::default()).unwrap();
    let st = Importer::new(&mut s, Options::default(), Box::new(std::io::sink()))
        .unwrap()
        .run(&stream[..], &mut Vec::new())
        .unwrap();
    assert_eq!(st.messages, n);
    (t, s, n)
}

/// Unfolded `UID:` values of an iCalendar text (RFC 5545 §3.1), in order.
fn uids(text: &str) -> Vec<String> {
    let unfolded = text.replace("\r\n ", "").replace("\n ", "");
    let mut v: Vec<String> = unfolded
        .lines()
        .filter_map(|l| l.strip_prefix("UID:").map(|u| u.trim().to_string()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// (summary, start) of every item, sorted.
fn summary_start(text: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = gromox_convert::ical::ical_to_items(text)
        .iter()
        .map(|m| {
            (
                m.get_str(0x0037).unwrap_or("").to_string(),
                format!("{:?}", m.get(gromox_convert::ical::PR_START_DATE)),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn ics_round_trips_through_a_store_with_uids_summaries_starts() {
    let files = ics_files();
    let (_t, s, n) = store_with(&files, Mode::Ical);
    let mut out = Vec::new();
    let exported = gromox_mt::export::export_ical(&s, 0x09, &mut out, &mut Vec::new()).unwrap();
    assert_eq!(exported, n);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("BEGIN:VCALENDAR"), "{text}");
    assert_eq!(text.matches("BEGIN:VCALENDAR").count(), 1);
    let input: Vec<String> = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    let mut want_uids: Vec<String> = input.iter().flat_map(|t| uids(t)).collect();
    want_uids.sort();
    want_uids.dedup();
    assert_eq!(uids(&text), want_uids);
    let mut want: Vec<(String, String)> = input.iter().flat_map(|t| summary_start(t)).collect();
    want.sort();
    assert_eq!(summary_start(&text), want);
}

#[test]
fn tnef_export_decodes_to_the_same_subjects_and_attachment_names() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../common/convert/tests/fixtures/eml");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    files.sort();
    files.truncate(12);
    let (_t, s, n) = store_with(&files, Mode::Mail);
    // What the store holds: subject and attachment names per message.
    let mut want = Vec::new();
    for mid in s.list_messages(0x0d, false).unwrap() {
        let c = s.read_message(mid).unwrap();
        let m = gromox_convert::mapi::from_mapi(&gromox_mt::export::to_bridge(&s, &c).unwrap());
        want.push(names_of(&m));
    }
    let out = tempfile::tempdir().unwrap();
    let written = gromox_mt::export::export_tnef(&s, 0x09, out.path(), &mut Vec::new()).unwrap();
    assert_eq!(written, n);
    let mut got = Vec::new();
    for e in std::fs::read_dir(out.path().join("Inbox")).unwrap() {
        let raw = std::fs::read(e.unwrap().path()).unwrap();
        let t = gromox_convert::tnef::decode(&raw).unwrap();
        got.push(names_of(&gromox_convert::mime_in::tnef_to_message(t)));
    }
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(
        want.iter().any(|(_, a)| !a.is_empty()),
        "no message with attachments among the fixtures"
    );
}

fn names_of(m: &gromox_convert::MessageContent) -> (String, Vec<String>) {
    let mut a: Vec<String> = m
        .attachments
        .iter()
        // File attachments only: names of embedded-message attachments are not carried
        // through tnef_export::encode → tnef::decode yet (reported to the convert owner).
        .filter(|a| a.embedded.is_none())
        .map(|a| {
            let by = |id: u32| a.props.iter().find(|p| p.name.is_none() && p.tag >> 16 == id);
            by(0x3707)
                .or_else(|| by(0x3704))
                .map(|p| format!("{:?}", p.value))
                .unwrap_or_default()
        })
        .collect();
    a.sort();
    (m.get_str(0x0037).unwrap_or("").to_string(), a)
}
