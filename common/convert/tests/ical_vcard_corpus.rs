//! iCalendar and vCard mapping over the corpus files
//! (fixtures/SOURCES.md), with golden dumps.

mod common;

use gromox_convert::ical::ical_to_items;
use gromox_convert::message::dump;
use gromox_convert::props::PropName;
use gromox_convert::vcard::{vcards_to_contacts, PSETID_ADDRESS};
use std::path::{Path, PathBuf};

fn files(dir: &str) -> Vec<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn text(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned()
}

#[test]
fn golden_ics() {
    let mut items = 0;
    for p in files("ics") {
        let v = ical_to_items(&text(&p));
        items += v.len();
        let out: String = v.iter().map(dump).collect();
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        common::check(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/ics/{stem}.txt")),
            &out,
        );
    }
    assert!(items > 150, "{items}");
}

#[test]
fn golden_vcf() {
    let mut n = 0;
    for p in files("vcf") {
        let v = vcards_to_contacts(&text(&p));
        n += v.len();
        let out: String = v.iter().map(dump).collect();
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        common::check(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/vcf/{stem}.txt")),
            &out,
        );
    }
    assert!(n >= 47, "{n}");
}

#[test]
fn eds_simple_contact() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vcf/eds-simple-1.vcf");
    let v = vcards_to_contacts(&text(&p));
    assert_eq!(v[0].get_str(0x3001), Some("Foo Bar"));
    assert_eq!(
        v[0].get_named(&PropName::Id(PSETID_ADDRESS, 0x8083)),
        Some(&gromox_convert::props::PropVal::String("foo.bar@example.org".into()))
    );
}

#[test]
fn quoted_printable_vcard21() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vcf/vobject-quoted-printable.vcf");
    let v = vcards_to_contacts(&text(&p));
    assert_eq!(v[0].get_str(0x3001), Some("黄世勇"));
    assert_eq!(v[0].get_str(0x3A1C), Some("15810139237"));
    assert!(v[0].get_str(0x3A51).unwrap().starts_with("http://weibo.com/"));
}

#[test]
fn eds_event_with_alarm() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ics/eds-event-1.ics");
    let v = ical_to_items(&text(&p));
    assert_eq!(v[0].get_str(0x0037), Some("Alarmed"));
    assert_eq!(
        v[0].get_named(&PropName::Id(gromox_convert::ical::PSETID_COMMON, 0x8501)),
        Some(&gromox_convert::props::PropVal::Long(30))
    );
}
