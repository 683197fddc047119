//! TNEF encoder: encode → decode gives the same properties, recipients,
//! attachment names and bytes, for hand-built messages and for the corpus
//! samples (decode → encode → decode).

use gromox_convert::mime_in::tnef_to_message;
use gromox_convert::props::{get, get_str, Prop, PropName, PropVal, PS_PUBLIC_STRINGS};
use gromox_convert::tnef::decode;
use gromox_convert::tnef_export::encode;
use gromox_convert::{Attachment, MessageContent};
use std::path::Path;

/// A property as a reader sees it: named properties by name (their ids are
/// per stream), string types as PtypString.
fn norm(p: &Prop) -> (u32, Option<PropName>, String) {
    let mut tag = if p.name.is_some() { p.tag & 0xFFFF } else { p.tag };
    if tag & 0xEFFF == 0x001E {
        tag = (tag & !0xFFFF) | (tag & 0x1000) | 0x001F;
    }
    // Compare values by their dump (NaN floats compare equal that way).
    (tag, p.name.clone(), format!("{}", p.value))
}

/// Every property of `want` is in `got` with the same value.
fn assert_props_kept(want: &[Prop], got: &[Prop], ctx: &str) {
    let got: Vec<_> = got.iter().map(norm).collect();
    for p in want {
        let n = norm(p);
        assert!(got.contains(&n), "{ctx}: lost or changed {n:?}\n got {got:#?}");
    }
}

fn assert_message_kept(want: &MessageContent, got: &MessageContent, ctx: &str) {
    assert_props_kept(&want.props, &got.props, ctx);
    assert_eq!(want.recipients.len(), got.recipients.len(), "{ctx}: recipients");
    for (i, (a, b)) in want.recipients.iter().zip(&got.recipients).enumerate() {
        assert_props_kept(a, b, &format!("{ctx} recipient {i}"));
    }
    assert_eq!(want.attachments.len(), got.attachments.len(), "{ctx}: attachments");
    for (i, (a, b)) in want.attachments.iter().zip(&got.attachments).enumerate() {
        let ctx = format!("{ctx} attachment {i}");
        assert_props_kept(&a.props, &b.props, &ctx);
        assert_eq!(a.embedded.is_some(), b.embedded.is_some(), "{ctx}: embedded");
        if let (Some(x), Some(y)) = (&a.embedded, &b.embedded) {
            assert_message_kept(x, y, &format!("{ctx} embedded"));
        }
    }
}

fn s(v: &str) -> PropVal {
    PropVal::String(v.into())
}

fn p(tag: u32, value: PropVal) -> Prop {
    Prop { tag, name: None, value }
}

fn sample() -> MessageContent {
    let mut inner = MessageContent::default();
    inner.set(0x001A001F, s("IPM.Note"));
    inner.set(0x0037001F, s("Forwarded: 日本語"));
    inner.set(0x1000001F, s("inner body"));
    let mut m = MessageContent::default();
    m.set(0x001A001F, s("IPM.Schedule.Meeting.Request"));
    m.set(0x0037001F, s("Grüße, Ελλάδα"));
    m.set(0x1000001F, s("Body\r\nline 2"));
    m.set(0x00170003, PropVal::Long(2));
    m.set(0x0039_0040, PropVal::SysTime(133_000_000_000_000_000));
    m.set(0x0E1B000B, PropVal::Bool(true));
    m.set(0x1009_0102, PropVal::Binary(vec![1, 2, 3, 4, 5]));
    m.set(0x3FDE_0003, PropVal::Long(65001));
    m.set(0x6600_0002, PropVal::Short(-3));
    m.set(0x6601_0005, PropVal::Double(0.25));
    m.set(0x6602_0014, PropVal::I8(-1 << 40));
    m.set(0x6603_0048, PropVal::Guid([7; 16]));
    m.set(0x6604_101F, PropVal::Multi(vec![s("a"), s("bc"), s("")]));
    m.set(0x6605_1003, PropVal::Multi(vec![PropVal::Long(1), PropVal::Long(-2)]));
    m.set(
        0x6606_1102,
        PropVal::Multi(vec![PropVal::Binary(vec![9; 7]), PropVal::Binary(vec![])]),
    );
    m.set_named(
        PropName::Name(PS_PUBLIC_STRINGS, "Keywords".into()),
        0x101F,
        PropVal::Multi(vec![s("red"), s("blue")]),
    );
    m.set_named(
        PropName::Id(gromox_convert::ical::PSETID_APPOINTMENT, 0x8216),
        0x0102,
        PropVal::Binary(vec![4, 0x30, 4, 0x30]),
    );
    m.set_named(
        PropName::Id(gromox_convert::ical::PSETID_APPOINTMENT, 0x8215),
        0x000B,
        PropVal::Bool(false),
    );
    m.recipients.push(vec![
        p(0x0C150003, PropVal::Long(1)),
        p(0x3001001F, s("Ann Example")),
        p(0x3002001F, s("SMTP")),
        p(0x3003001F, s("ann@example.org")),
        p(0x39FE001F, s("ann@example.org")),
    ]);
    m.recipients
        .push(vec![p(0x0C150003, PropVal::Long(2)), p(0x3001001F, s("Bob"))]);
    let data: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    m.attachments.push(Attachment {
        props: vec![
            p(0x37050003, PropVal::Long(1)),
            p(0x3707001F, s("Bericht für März.pdf")),
            p(0x3704001F, s("BERICH~1.PDF")),
            p(0x370E001F, s("application/pdf")),
            p(0x37010102, PropVal::Binary(data)),
        ],
        embedded: None,
    });
    m.attachments.push(Attachment {
        props: vec![p(0x37050003, PropVal::Long(5)), p(0x3001001F, s("Forwarded"))],
        embedded: Some(Box::new(inner)),
    });
    m
}

#[test]
fn hand_built_message_round_trips() {
    let m = sample();
    let bytes = encode(&m);
    let t = decode(&bytes).unwrap();
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    // Attachment names and bytes as a mail client shows them.
    assert_eq!(t.attachments[0].filename(), Some("Bericht für März.pdf"));
    assert_eq!(t.attachments[0].data().map(<[u8]>::len), Some(3000));
    assert_eq!(
        t.attachments[0].data(),
        match get(&m.attachments[0].props, 0x37010102) {
            Some(PropVal::Binary(b)) => Some(&b[..]),
            _ => None,
        }
    );
    let back = tnef_to_message(t);
    assert_message_kept(&m, &back, "sample");
    let e = back.attachments[1].embedded.as_ref().unwrap();
    assert_eq!(get_str(&e.props, 0x0037), Some("Forwarded: 日本語"));
    // Corrupting one byte of data is caught by the checksum.
    let mut bad = bytes.clone();
    let at = bytes.len() / 2;
    bad[at] ^= 0x40;
    let warned = decode(&bad).map(|t| !t.warnings.is_empty()).unwrap_or(true);
    assert!(warned, "corruption went unnoticed");
}

#[test]
fn corpus_samples_decode_encode_decode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tnef");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut n = 0;
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(t) = decode(&std::fs::read(&f).unwrap()) else {
            continue; // the broken samples kept on purpose
        };
        let first = tnef_to_message(t);
        let again = decode(&encode(&first)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(again.warnings.is_empty(), "{name}: {:?}", again.warnings);
        let names = |t: &gromox_convert::tnef::Tnef| -> Vec<(Option<String>, Option<Vec<u8>>)> {
            t.attachments
                .iter()
                .map(|a| (a.filename().map(str::to_string), a.data().map(<[u8]>::to_vec)))
                .collect()
        };
        let t1 = decode(&std::fs::read(&f).unwrap()).unwrap();
        assert_eq!(names(&t1), names(&again), "{name}: attachment names and bytes");
        let second = tnef_to_message(again);
        assert_message_kept(&first, &second, &name);
        n += 1;
    }
    assert!(n >= 15, "{n} samples");
}
