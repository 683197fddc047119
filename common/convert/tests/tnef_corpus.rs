//! TNEF decoder over the tnefparse sample files (see fixtures/SOURCES.md).

mod common;

use gromox_convert::props::{get, get_str, PropName, PropVal, PR_ATTACH_DATA_BIN};
use gromox_convert::tnef::{decode, decode_partial, dump, Tnef};
use gromox_convert::Error;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tnef")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn ok(name: &str) -> Tnef {
    decode(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn golden_dumps_of_all_samples() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tnef");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    assert!(names.len() >= 19);
    for p in names {
        let data = std::fs::read(&p).unwrap();
        let (t, err) = decode_partial(&data);
        let mut text = dump(&t);
        if let Some(e) = err {
            text.push_str(&format!("error: {e}\n"));
        }
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        common::check(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/tnef/{stem}.txt")),
            &text,
        );
    }
}

#[test]
fn one_file_has_named_attachment_with_bytes() {
    let t = ok("tnefparse-one-file.tnef");
    assert_eq!(t.attachments.len(), 1);
    let a = &t.attachments[0];
    assert_eq!(a.filename(), Some("AUTHORS"));
    assert_eq!(a.data().map(|d| d.len()), Some(244));
    assert!(get_str(&t.props, 0x0037).is_some());
}

#[test]
fn two_files() {
    let t = ok("tnefparse-two-files.tnef");
    let names: Vec<_> = t
        .attachments
        .iter()
        .map(|a| a.filename().unwrap_or("").to_string())
        .collect();
    assert_eq!(names, ["AUTHORS", "README"]);
    assert_eq!(t.attachments[1].data().map(|d| d.len()), Some(893));
}

#[test]
fn long_and_unicode_filenames() {
    let t = ok("tnefparse-long-filename.tnef");
    assert!(
        t.attachments[0].filename().unwrap().len() > 12,
        "{:?}",
        t.attachments[0].filename()
    );
    let t = ok("tnefparse-umlaut.tnef");
    assert!(t
        .attachments
        .iter()
        .any(|a| a.filename().is_some_and(|n| !n.is_ascii())));
}

#[test]
fn body_and_recipients() {
    let t = ok("tnefparse-body.tnef");
    assert!(!t.recipients.is_empty());
    assert!(t.recipients.iter().all(|r| get_str(r, 0x3001).is_some()));
    let rtf = ok("tnefparse-rtf.tnef");
    let Some(PropVal::Binary(c)) = get(&rtf.props, gromox_convert::props::PR_RTF_COMPRESSED) else {
        panic!("no compressed RTF")
    };
    let raw = gromox_convert::rtfcp::decompress(c).unwrap();
    assert!(raw.starts_with(b"{\\rtf1"));
}

#[test]
fn ole_object_attachment() {
    // An OLE attachment (method 6) whose PtypObject is a compound file.
    let t = ok("tnefparse-MAPI_OBJECT.tnef");
    let a = &t.attachments[0];
    assert_eq!(get(&a.props, 0x3705_0003), Some(&PropVal::Long(6)));
    let Some(PropVal::Object(o)) = get(&a.props, 0x3701_000D) else {
        panic!("no object")
    };
    assert!(o.starts_with(&[0xd0, 0xcf, 0x11, 0xe0]));
}

#[test]
fn wrong_checksums_are_warnings() {
    let t = ok("tnefparse-IPM-DistList.tnef");
    assert!(t.warnings.iter().any(|w| w.contains("checksum")));
    let e = t
        .attachments
        .iter()
        .find_map(|a| a.embedded.as_ref())
        .expect("embedded message");
    assert_eq!(get_str(&e.props, 0x001A), Some("IPM.DistList"));
    assert_eq!(get_str(&e.props, 0x0037), Some("XXXXnews"));
}

#[test]
fn named_and_multivalued_properties() {
    let t = ok("tnefparse-multi-name-property.tnef");
    assert!(t.props.iter().any(|p| matches!(p.name, Some(PropName::Name(..)))));
    let t = ok("tnefparse-multi-value-attribute.tnef");
    assert!(t.props.iter().any(|p| matches!(p.value, PropVal::Multi(_))));
}

#[test]
fn broken_files_give_partial_result_and_clear_error() {
    let (t, err) = decode_partial(&fixture("tnefparse-bad_checksum.tnef"));
    assert!(
        matches!(err, Some(Error::Truncated(_) | Error::BadChecksum { .. })),
        "{err:?}"
    );
    assert!(!t.props.is_empty());
    let (t, err) = decode_partial(&fixture("tnefparse-garbage-at-end.tnef"));
    assert!(err.is_some());
    assert!(get_str(&t.props, 0x001A).is_some());
    assert!(decode(&fixture("tnefparse-garbage-at-end.tnef")).is_err());
    let _ = PR_ATTACH_DATA_BIN;
}

#[test]
fn rtf_only_body_is_exported_as_text() {
    // The RTF sample carries its body only as PR_RTF_COMPRESSED.
    let t = ok("tnefparse-rtf.tnef");
    let m = gromox_convert::mime_in::tnef_to_message(t);
    let rtf = match m.get(gromox_convert::props::PR_RTF_COMPRESSED) {
        Some(PropVal::Binary(c)) => gromox_convert::rtfcp::decompress(c).unwrap(),
        _ => panic!("no RTF"),
    };
    let text = gromox_convert::rtf::rtf_to_text(&rtf);
    let first_words: String = text.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    assert!(!first_words.is_empty());
    let mime = gromox_convert::mime_out::mapi_to_mime(&m);
    let back = gromox_convert::mime_in::mime_to_mapi(&mime);
    let body = back.get_str(0x1000).unwrap_or("");
    let got: String = body.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    assert_eq!(got, first_words, "exported body: {body:?}");
}
