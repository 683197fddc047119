//! Round trip of every corpus message: MIME → MAPI → MIME → MAPI keeps
//! addresses, subject, date, text and HTML bodies, attachment names and
//! bytes, and embedded messages (compared on the MAPI side of both).

use gromox_convert::message::MessageContent;
use gromox_convert::mime_in::mime_to_mapi;
use gromox_convert::mime_out::mapi_to_mime;
use gromox_convert::props::{get, get_str, PropVal, PR_ATTACH_DATA_BIN, PR_HTML, PR_RECIPIENT_TYPE};
use std::path::Path;

fn norm(s: &str) -> String {
    s.replace("\r\n", "\n")
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn summary(m: &MessageContent) -> Vec<String> {
    let mut v = Vec::new();
    for id in [0x0037u16, 0x0042, 0x0065, 0x0C1F, 0x1035, 0x001A] {
        v.push(format!("{id:04x}={:?}", m.get_str(id)));
    }
    v.push(format!("date={:?}", m.get(0x0039_0040)));
    v.push(format!("body={:?}", m.get_str(0x1000).map(norm)));
    if let Some(PropVal::Binary(h)) = m.get(PR_HTML) {
        v.push(format!("html={:?}", norm(&String::from_utf8_lossy(h))));
    }
    for r in &m.recipients {
        v.push(format!(
            "rcpt {:?} {:?} {:?}",
            get(r, PR_RECIPIENT_TYPE),
            get_str(r, 0x3001),
            get_str(r, 0x39FE)
        ));
    }
    for a in &m.attachments {
        v.push(format!(
            "att {:?} {:?}",
            get_str(&a.props, 0x3707),
            get_str(&a.props, 0x370E)
        ));
        if let Some(PropVal::Binary(b)) = get(&a.props, PR_ATTACH_DATA_BIN) {
            v.push(format!("  bytes {} {:016x}", b.len(), gromox_convert::props::fnv(b)));
        }
        if let Some(e) = &a.embedded {
            for line in summary(e) {
                v.push(format!("  {line}"));
            }
        }
    }
    v
}

#[test]
fn corpus_roundtrip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eml");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut failures = Vec::new();
    for p in &files {
        let m1 = mime_to_mapi(&std::fs::read(p).unwrap());
        let out = mapi_to_mime(&m1);
        // 7-bit output with RFC 5322 line limits.
        assert!(out.is_ascii(), "{}: non-ASCII output", p.display());
        let long = out.split(|&b| b == b'\n').filter(|l| l.len() > 999).count();
        assert_eq!(long, 0, "{}: lines over 998 characters", p.display());
        assert!(
            !out.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
            "{}: bare LF",
            p.display()
        );
        let m2 = mime_to_mapi(&out);
        let (a, b) = (summary(&m1), summary(&m2));
        if a != b {
            let first = a.iter().zip(b.iter()).find(|(x, y)| x != y);
            failures.push(format!("{}: {:?} (lens {} {})", p.display(), first, a.len(), b.len()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
