//! MIME → MAPI over the CPython email test messages (fixtures/SOURCES.md).

mod common;

use gromox_convert::message::dump;
use gromox_convert::mime_in::mime_to_mapi;
use gromox_convert::props::{get, get_str, PropVal, PR_ATTACH_DATA_BIN};
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eml");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn load(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/eml")
            .join(name),
    )
    .unwrap()
}

#[test]
fn golden_dumps_of_all_messages() {
    let files = fixtures();
    assert!(files.len() >= 48);
    for p in files {
        let m = mime_to_mapi(&std::fs::read(&p).unwrap());
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        common::check(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/eml/{stem}.txt")),
            &dump(&m),
        );
    }
}

#[test]
fn plain_message_fields() {
    let m = mime_to_mapi(&load("cpython-test_email-msg_01.eml"));
    assert_eq!(m.get_str(0x0037), Some("This is a test message"));
    assert_eq!(m.get_str(0x0042), Some("John X. Doe"));
    assert_eq!(m.get_str(0x0065), Some("bbb@ddd.com"));
    assert!(m.get_str(0x1000).unwrap().contains("Hi,"));
    assert!(m.get(0x0039_0040).is_some(), "date");
    assert!(!m.recipients.is_empty());
}

#[test]
fn embedded_rfc822() {
    // msg_11: a message/rfc822 part.
    let m = mime_to_mapi(&load("cpython-test_email-msg_11.eml"));
    let e = m
        .attachments
        .iter()
        .find_map(|a| a.embedded.as_ref())
        .expect("embedded");
    assert!(e.get_str(0x0037).is_some());
}

#[test]
fn reports_get_report_classes() {
    let mut classes = Vec::new();
    for p in fixtures() {
        let m = mime_to_mapi(&std::fs::read(&p).unwrap());
        classes.push(m.get_str(0x001A).unwrap_or("").to_string());
    }
    assert!(classes.iter().any(|c| c.starts_with("REPORT.IPM.Note.")), "{classes:?}");
    assert!(
        classes.iter().any(|c| c == "IPM.Note.SMIME.MultipartSigned"),
        "{classes:?}"
    );
}

#[test]
fn attachments_have_names_and_bytes() {
    let mut named = 0;
    for p in fixtures() {
        let m = mime_to_mapi(&std::fs::read(&p).unwrap());
        for a in &m.attachments {
            if get_str(&a.props, 0x3707).is_some() {
                named += 1;
                assert!(matches!(get(&a.props, PR_ATTACH_DATA_BIN), Some(PropVal::Binary(_))));
            }
        }
    }
    assert!(named >= 5, "{named}");
}

#[test]
fn winmail_dat_is_unpacked() {
    let tnef =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tnef/tnefparse-two-files.tnef"))
            .unwrap();
    let mut raw = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: via TNEF\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n--M\r\nContent-Type: text/plain\r\n\r\nsee attachments\r\n--M\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    raw.extend_from_slice(gromox_convert::base64::encode(&tnef, 76).as_bytes());
    raw.extend_from_slice(b"\r\n--M--\r\n");
    let m = mime_to_mapi(&raw);
    let names: Vec<_> = m.attachments.iter().filter_map(|a| get_str(&a.props, 0x3704)).collect();
    assert_eq!(names, ["AUTHORS", "README"]);
    // The transport's addressing is kept; the TNEF's subject wins.
    assert_eq!(m.get_str(0x0065), Some("a@example.org"));
    assert!(m.get_str(0x0037).is_some());
    // Exported again, the attachments travel as ordinary MIME parts.
    let out = gromox_convert::mime_out::mapi_to_mime(&m);
    let m2 = mime_to_mapi(&out);
    let names2: Vec<_> = m2
        .attachments
        .iter()
        .filter_map(|a| get_str(&a.props, 0x3707))
        .collect();
    assert_eq!(names2, ["AUTHORS", "README"]);
    assert_eq!(
        get(&m2.attachments[1].props, PR_ATTACH_DATA_BIN),
        get(&m.attachments[1].props, PR_ATTACH_DATA_BIN)
    );
}
