//! Producers → stream → importer → store → exporters, on the sample corpus.

use exmdbd::layout::fid;
use exmdbd::{Store, StoreOptions};
use gromox_mt::cli::{produce_files, Mode};
use gromox_mt::export;
use gromox_mt::import::{Importer, Options, Stats};
use gromox_mt::produce::{mbox_split, Producer};
use std::path::{Path, PathBuf};

fn fixtures(dir: &str) -> Vec<String> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let p: PathBuf = if dir == "mbox" {
        base.join("tests/fixtures/mbox")
    } else {
        base.join("../../common/convert/tests/fixtures").join(dir)
    };
    let mut v: Vec<String> = std::fs::read_dir(&p)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures in {}", p.display());
    v
}

fn store() -> (tempfile::TempDir, Store) {
    let t = tempfile::tempdir().unwrap();
    let s = Store::create_private(t.path(), "alice@example.org", "en", false, &StoreOptions::default()).unwrap();
    (t, s)
}

fn import(s: &mut Store, stream: &[u8], opts: Options) -> (Stats, String) {
    let mut errs = Vec::new();
    let mut imp = Importer::new(s, opts, Box::new(std::io::sink())).unwrap();
    let st = imp.run(stream, &mut errs).unwrap();
    (st, String::from_utf8(errs).unwrap())
}

fn produce(files: &[String], mode: Mode) -> (Vec<u8>, u64, String) {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let (n, _failed) = produce_files(&mut out, files, mode, &mut errs).unwrap();
    (out, n, String::from_utf8(errs).unwrap())
}

#[test]
fn every_eml_imports_and_exports_byte_exact() {
    let files = fixtures("eml");
    let (stream, n, _) = produce(&files, Mode::Mail);
    assert_eq!(n, files.len() as u64);
    let (_t, mut s) = store();
    let (st, errs) = import(&mut s, &stream, Options::default());
    assert_eq!(st.messages, files.len() as u64, "{errs}");
    assert_eq!(st.failed, 0);
    assert!(st.stream_error.is_none());
    let mids = s.list_messages(fid::INBOX, false).unwrap();
    assert_eq!(mids.len(), files.len());
    for (mid, f) in mids.iter().zip(&files) {
        assert_eq!(export::message_eml(&s, *mid).unwrap(), std::fs::read(f).unwrap(), "{f}");
    }
}

fn header<'a>(eml: &'a str, name: &str) -> Option<&'a str> {
    eml.lines()
        .take_while(|l| !l.is_empty())
        .find(|l| {
            l.len() > name.len() && l[..name.len()].eq_ignore_ascii_case(name) && l.as_bytes()[name.len()] == b':'
        })
        .map(|l| l[name.len() + 1..].trim())
}

#[test]
fn eml_without_kept_mime_regenerates_headers_body_attachments() {
    let raw = b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: Quarterly report\r\n\
Message-ID: <q1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nNumbers attached.\r\n--XX\r\nContent-Type: application/pdf; name=r.pdf\r\n\
Content-Disposition: attachment; filename=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n";
    let mut out = Vec::new();
    let mut p = Producer::new(&mut out).unwrap();
    let m = gromox_convert::mapi::to_mapi(&gromox_convert::mime_in::mime_to_mapi(raw));
    p.message(&m, 0, "mem", None).unwrap();
    p.finish().unwrap();
    let (_t, mut s) = store();
    let (st, _) = import(&mut s, &out, Options::default());
    assert_eq!(st.messages, 1);
    let mid = s.list_messages(fid::INBOX, false).unwrap()[0];
    let eml = String::from_utf8_lossy(&export::message_eml(&s, mid).unwrap()).into_owned();
    assert_eq!(header(&eml, "Subject"), Some("Quarterly report"), "{eml}");
    assert!(header(&eml, "From").unwrap().contains("alice@example.org"));
    assert!(header(&eml, "To").unwrap().contains("bob@example.org"));
    assert!(eml.contains("Numbers attached."));
    assert!(eml.contains("r.pdf"));
    assert!(eml.contains("JVBERi0xLjQK"));
}

#[test]
fn every_mbox_imports_every_message() {
    let files = fixtures("mbox");
    let mut expect = 0u64;
    for f in &files {
        mbox_split(std::io::BufReader::new(std::fs::File::open(f).unwrap()), |_| {
            expect += 1;
            true
        })
        .unwrap();
    }
    let (stream, n, errs) = produce(&files, Mode::Mbox);
    assert_eq!(n, expect, "{errs}");
    let (_t, mut s) = store();
    let (st, errs) = import(
        &mut s,
        &stream,
        Options {
            base: Some("Imported".into()),
            ..Default::default()
        },
    );
    assert_eq!(st.messages, expect, "{errs}");
    let base = s.find_folder(fid::IPMSUBTREE, "Imported").unwrap().unwrap();
    assert_eq!(s.list_messages(base, false).unwrap().len() as u64, expect);
}

#[test]
fn mbox_default_has_six_messages_and_unquotes_from() {
    let mut got = Vec::new();
    let mbox = b"From a@b Mon Jan 1 00:00:00 2024\nSubject: one\n\n>From here\nbody\n\nFrom c@d Mon Jan 1 00:00:00 2024\nSubject: two\n\nx\n";
    mbox_split(&mbox[..], |m| {
        got.push(m.to_vec());
        true
    })
    .unwrap();
    assert_eq!(
        got,
        vec![
            b"Subject: one\n\nFrom here\nbody\n".to_vec(),
            b"Subject: two\n\nx\n".to_vec()
        ]
    );
    let f = fixtures("mbox")
        .into_iter()
        .find(|f| f.ends_with("imaptest-default.mbox"))
        .unwrap();
    let (_, n, _) = produce(&[f], Mode::Mbox);
    assert_eq!(n, 6);
}

fn count_store(s: &Store, folders: &[u64]) -> usize {
    folders.iter().map(|f| s.list_messages(*f, false).unwrap().len()).sum()
}

#[test]
fn every_ics_and_vcf_round_trips_its_object_count() {
    for (dir, mode, folders) in [
        (
            "ics",
            Mode::Ical,
            vec![fid::CALENDAR, fid::TASKS, fid::INBOX, fid::NOTES, fid::JOURNAL],
        ),
        ("vcf", Mode::Vcard, vec![fid::CONTACTS]),
    ] {
        let files = fixtures(dir);
        let mut total = 0;
        for f in &files {
            let (stream, n, _) = produce(std::slice::from_ref(f), mode);
            let (_t, mut s) = store();
            let (st, errs) = import(&mut s, &stream, Options::default());
            assert_eq!(st.messages, n, "{f}: {errs}");
            assert_eq!(count_store(&s, &folders) as u64, n, "{f}");
            total += n;
        }
        assert!(total > files.len() as u64 / 2, "{dir}: only {total} objects");
    }
    // A known file: the exact count survives.
    let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART:20240101T100000Z\r\nSUMMARY:a\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:2\r\nDTSTART:20240102T100000Z\r\nSUMMARY:b\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let mut out = Vec::new();
    let mut p = Producer::new(&mut out).unwrap();
    assert_eq!(p.ical(text, "mem").unwrap(), 2);
    p.finish().unwrap();
    let (_t, mut s) = store();
    import(&mut s, &out, Options::default());
    assert_eq!(s.list_messages(fid::CALENDAR, false).unwrap().len(), 2);
}

#[test]
fn every_tnef_imports() {
    let files = fixtures("tnef");
    let (stream, n, _) = produce(&files, Mode::Tnef);
    assert_eq!(n, files.len() as u64);
    let (_t, mut s) = store();
    let (st, errs) = import(&mut s, &stream, Options::default());
    assert_eq!(st.messages + st.failed, n, "{errs}");
    assert!(st.messages > 0);
}

#[test]
fn truncated_stream_names_the_object_and_keeps_what_came_before() {
    let files: Vec<String> = fixtures("eml").into_iter().take(3).collect();
    let (stream, _, _) = produce(&files, Mode::Mail);
    // Cut in the middle of the last message frame.
    let last = std::fs::read(&files[2]).unwrap().len();
    let cut = &stream[..stream.len() - 13 - last / 2];
    let (_t, mut s) = store();
    let (st, errs) = import(&mut s, cut, Options::default());
    assert_eq!(st.messages, 2);
    let e = st.stream_error.unwrap();
    assert!(e.contains("message frame #") && e.contains("truncated"), "{e}");
    assert!(errs.contains("everything before it was imported"));
    // Garbage instead of a stream.
    let mut errs = Vec::new();
    let mut imp = Importer::new(&mut s, Options::default(), Box::new(std::io::sink())).unwrap();
    let r = imp.run(&b"From: x\r\n\r\nhello"[..], &mut errs);
    assert!(r.unwrap_err().to_string().contains("bad magic"));
}

#[test]
fn export_mt_reimports_folders_and_messages() {
    let (_t, mut s) = store();
    let sub = s.create_folder(fid::IPMSUBTREE, "Projects", Some("IPF.Note")).unwrap();
    let files: Vec<String> = fixtures("eml").into_iter().take(5).collect();
    let (stream, _, _) = produce(&files, Mode::Mail);
    let mut imp = Importer::new(
        &mut s,
        Options {
            base: Some("Projects".into()),
            ..Default::default()
        },
        Box::new(std::io::sink()),
    )
    .unwrap();
    imp.run(&stream[..], &mut Vec::new()).unwrap();
    drop(imp);
    assert_eq!(s.list_messages(sub, false).unwrap().len(), 5);
    let (mt, n) = export::export_mt(&s, fid::IPMSUBTREE, Vec::new(), &mut Vec::new()).unwrap();
    assert_eq!(n, 5);
    let (_t2, mut s2) = store();
    let mut tree = Vec::new();
    let mut imp = Importer::new(
        &mut s2,
        Options {
            tree: true,
            ..Default::default()
        },
        Box::new(&mut tree),
    )
    .unwrap();
    let st = imp.run(&mt[..], &mut Vec::new()).unwrap();
    drop(imp);
    assert_eq!(st.messages, 5);
    // Standard folders are spliced into, "Projects" is created.
    assert!(st.folders_spliced > 0);
    let p2 = s2.find_folder(fid::IPMSUBTREE, "Projects").unwrap().unwrap();
    assert_eq!(s2.list_messages(p2, false).unwrap().len(), 5);
    assert!(String::from_utf8(tree).unwrap().contains("Projects"));
    let mids = s2.list_messages(p2, false).unwrap();
    assert_eq!(
        export::message_eml(&s2, mids[0]).unwrap(),
        std::fs::read(&files[0]).unwrap()
    );
    // EML export writes one file per message.
    let out = tempfile::tempdir().unwrap();
    assert_eq!(
        export::export_eml(&s2, fid::IPMSUBTREE, out.path(), &mut Vec::new()).unwrap(),
        5
    );
    assert_eq!(std::fs::read_dir(out.path().join("Projects")).unwrap().count(), 5);
}

#[test]
fn delivery_mode_files_into_the_inbox() {
    let files: Vec<String> = fixtures("eml").into_iter().take(2).collect();
    let (stream, _, _) = produce(&files, Mode::Mail);
    let (_t, mut s) = store();
    let (st, _) = import(
        &mut s,
        &stream,
        Options {
            deliver: true,
            ..Default::default()
        },
    );
    assert_eq!(st.messages, 2);
    assert_eq!(s.list_messages(fid::INBOX, false).unwrap().len(), 2);
}

#[test]
fn eml2mbox_output_splits_back() {
    let files: Vec<String> = fixtures("eml").into_iter().take(4).collect();
    let mut mbox = Vec::new();
    for f in &files {
        export::mbox_append(&mut mbox, &std::fs::read(f).unwrap()).unwrap();
    }
    let mut n = 0;
    mbox_split(&mbox[..], |_| {
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 4);
}

#[test]
fn fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/stream");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        gromox_mt::fuzz_stream(&std::fs::read(e.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n >= 3);
}

/// Regenerates the fuzz seeds: `cargo test -p gromox-mt -- --ignored regenerate`.
#[test]
#[ignore]
fn regenerate_fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/stream");
    std::fs::create_dir_all(&dir).unwrap();
    let eml: Vec<String> = fixtures("eml").into_iter().take(2).collect();
    let (a, _, _) = produce(&eml, Mode::Mail);
    let ics: Vec<String> = fixtures("ics").into_iter().take(1).collect();
    let (b, _, _) = produce(&ics, Mode::Ical);
    let vcf: Vec<String> = fixtures("vcf").into_iter().take(1).collect();
    let (c, _, _) = produce(&vcf, Mode::Vcard);
    let (_t, mut s) = store();
    s.create_folder(fid::IPMSUBTREE, "F", None).unwrap();
    let (mut d, _) = export::export_mt(&s, fid::IPMSUBTREE, Vec::new(), &mut Vec::new()).unwrap();
    d.truncate(d.len().min(400));
    std::fs::write(dir.join("eml"), &a).unwrap();
    std::fs::write(dir.join("ical"), &b).unwrap();
    std::fs::write(dir.join("vcard"), &c).unwrap();
    std::fs::write(dir.join("folders"), &d).unwrap();
    std::fs::write(dir.join("truncated"), &a[..a.len() / 2]).unwrap();
    let mut big = a[..12].to_vec();
    big.extend_from_slice(&[b'M', 0xff, 0xff, 0xff, 0x03]);
    std::fs::write(dir.join("huge-length"), &big).unwrap();
}
