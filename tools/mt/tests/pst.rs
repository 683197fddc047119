//! PST import (`gromox-pff2mt`): counts against readpst, import into a store, broken files.

use gromox_mapi::{PropVal, TaggedVal};
use gromox_mt::cli::pst_files;
use gromox_mt::import::{Importer, Options};
use gromox_mt::pst::PstStats;
use gromox_mt::{Frame, Reader};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pst")
        .join(name)
}

const DIST: &str = "java-libpst-dist-list.pst";
const PASS: &str = "java-libpst-passworded.pst";

fn convert(files: &[PathBuf], splice: bool) -> (Vec<u8>, PstStats, String) {
    let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let st = pst_files(&mut out, &files, splice, &mut errs).unwrap();
    (out, st, String::from_utf8(errs).unwrap())
}

fn text(props: &[TaggedVal], id: u16) -> Option<String> {
    props.iter().find(|t| t.tag.id() == id).and_then(|t| match &t.val {
        PropVal::Unicode(s) | PropVal::String8(s) => Some(s.clone()),
        _ => None,
    })
}

/// Folder frames and (folder name, subject, class) of every message in a stream.
fn frames(stream: &[u8]) -> (Vec<String>, Vec<(String, String, String)>) {
    let mut r = Reader::new(stream).unwrap();
    let mut folders = std::collections::HashMap::new();
    let mut names = Vec::new();
    let mut msgs = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        match f {
            Frame::Folder(f) => {
                names.push(f.name.clone());
                folders.insert(f.id, f.name);
            }
            Frame::Message(m) => msgs.push((
                folders.get(&m.folder).cloned().unwrap_or_default(),
                text(&m.message.props, 0x0037).unwrap_or_default(),
                text(&m.message.props, 0x001A).unwrap_or_default(),
            )),
            _ => {}
        }
    }
    (names, msgs)
}

/// (folders, messages incl. FAI) as readpst reports them: the root line "N items" counts the
/// top folders, the other folder lines count their items (done + skipped).
fn readpst_counts(pst: &Path) -> Option<(u64, u64)> {
    let which = std::process::Command::new("which").arg("readpst").output().ok()?;
    if !which.status.success() {
        return None;
    }
    let out = tempfile::tempdir().unwrap();
    let o = std::process::Command::new("readpst")
        .args(["-D", "-S", "-o"])
        .arg(out.path())
        .arg(pst)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    let (mut folders, mut msgs) = (0, 0);
    for l in text.lines().filter(|l| l.contains(" items done, ")) {
        let nums: Vec<u64> = l
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|x| x.parse().ok())
            .collect();
        let n: u64 = nums.iter().rev().take(2).sum();
        if l.trim_start().starts_with("\"Personal Folders\"") {
            folders = n;
        } else {
            msgs += n;
        }
    }
    Some((folders, msgs))
}

#[test]
fn counts_equal_readpst() {
    // Verified with readpst 0.6.76 (pst-utils): 12 folders each; dist-list: Calendar 1,
    // Contacts 2; passworded: Inbox 4, Calendar 4 (all FAI), Contacts 2.
    for (f, folders, msgs) in [(DIST, 12, 3), (PASS, 12, 10)] {
        let (_, st, errs) = convert(&[fixture(f)], true);
        assert_eq!(
            (st.folders, st.messages + st.associated),
            (folders, msgs),
            "{f}: {errs}"
        );
        if let Some(rp) = readpst_counts(&fixture(f)) {
            assert_eq!(rp, (folders, msgs), "{f}: readpst disagrees");
        }
    }
}

#[test]
fn stream_has_folders_classes_and_subjects() {
    let (s, st, errs) = convert(&[fixture(DIST)], true);
    assert_eq!(st.failed, 0, "{errs}");
    let (names, msgs) = frames(&s);
    assert!(names.contains(&"Inbox".to_string()) && names.contains(&"Contacts".to_string()));
    let want = [
        ("Calendar", "Test appointment", "IPM.Appointment"),
        ("Contacts", "contact name 1", "IPM.Contact"),
        ("Contacts", "test dist list", "IPM.DistList"),
    ];
    for (f, subj, class) in want {
        assert!(
            msgs.contains(&(f.into(), subj.into(), class.into())),
            "{f}/{subj}/{class} missing in {msgs:?}"
        );
    }
}

fn import(stream: &[u8]) -> (tempfile::TempDir, exmdbd::Store, gromox_mt::import::Stats) {
    let t = tempfile::tempdir().unwrap();
    let mut s = exmdbd::Store::create_private(t.path(), "alice@example.org", "en", false, &Default::default()).unwrap();
    let mut imp = Importer::new(&mut s, Options::default(), Box::new(std::io::sink())).unwrap();
    let st = imp.run(stream, &mut Vec::new()).unwrap();
    drop(imp);
    (t, s, st)
}

/// `gromox-pff2mt -s | gromox-import`: the PST's folders are spliced into the store's
/// (Calendar → Calendar, Contacts → Contacts), the messages land there with their subjects,
/// and the FAI messages as associated.
#[test]
fn splice_import_lands_in_the_right_folders() {
    let (s, _, _) = convert(&[fixture(DIST), fixture(PASS)], true);
    let (_t, store, st) = import(&s);
    assert_eq!(st.failed, 0);
    assert_eq!(st.messages, 13);
    assert!(st.folders_spliced >= 10, "{st:?}");
    let subjects = |fid: u64| -> Vec<String> {
        let mut v: Vec<String> = store
            .list_messages(fid, false)
            .unwrap()
            .iter()
            .map(|m| text(&store.read_message(*m).unwrap().props, 0x0037).unwrap_or_default())
            .collect();
        v.sort();
        v
    };
    assert_eq!(subjects(0x0f), vec!["Test appointment".to_string()]);
    let appt = store
        .read_message(store.list_messages(0x0f, false).unwrap()[0])
        .unwrap();
    let body = gromox_mt::export::to_bridge(&store, &appt).unwrap();
    assert_eq!(
        text(&body.props, 0x1000).as_deref(),
        Some("This is a complete test\r\n")
    );
    assert_eq!(text(&body.props, 0x0C1A).as_deref(), Some("Unknown"));
    assert!(body.named.len() >= 40, "named properties stored: {}", body.named.len());
    assert_eq!(
        subjects(0x13),
        vec!["contact name 1", "contact name 1", "test dist list", "test dist list"]
    );
    assert_eq!(store.list_messages(0x0d, true).unwrap().len(), 4, "Inbox FAI");
    assert_eq!(store.list_messages(0x0f, true).unwrap().len(), 4, "Calendar FAI");
}

/// Splicing maps default folders across languages: a stream whose top folders carry German
/// names lands in an English store's Inbox/Calendar.
#[test]
fn splice_maps_localised_default_folders() {
    use gromox_mapi::PropTag;
    use gromox_mt::stream::{FolderFrame, MessageFrame, MtMessage, Writer};
    let mut w = Writer::new(Vec::new()).unwrap();
    for (id, name) in [(1, "Posteingang"), (2, "Kalender"), (3, "Junk E-mail"), (4, "Eigene")] {
        w.folder(&FolderFrame {
            id,
            parent: 0,
            name: name.into(),
            container_class: None,
        })
        .unwrap();
        let props = vec![TaggedVal::new(
            PropTag::new(0x0037, gromox_mapi::PropType::Unicode),
            PropVal::Unicode(format!("in {name}")),
        )];
        w.message(&MessageFrame {
            folder: id,
            associated: false,
            source: name.into(),
            message: MtMessage {
                props,
                ..Default::default()
            },
            mime: None,
        })
        .unwrap();
    }
    let (_t, store, st) = import(&w.finish().unwrap());
    assert_eq!((st.folders_spliced, st.folders_created), (3, 1), "{st:?}");
    let subj = |fid: u64| {
        let m = store.list_messages(fid, false).unwrap();
        assert_eq!(m.len(), 1, "folder {fid:#x}");
        text(&store.read_message(m[0]).unwrap().props, 0x0037).unwrap()
    };
    assert_eq!(subj(0x0d), "in Posteingang");
    assert_eq!(subj(0x0f), "in Kalender");
    assert_eq!(subj(0x17), "in Junk E-mail");
}

/// Without -s everything goes below one new "Import of <file>" folder.
#[test]
fn without_splice_one_import_folder() {
    let (s, st, _) = convert(&[fixture(DIST)], false);
    assert_eq!(st.folders, 13);
    let (names, _) = frames(&s);
    assert_eq!(names[0], format!("Import of {DIST}"));
    let (_t, store, ist) = import(&s);
    assert_eq!(ist.messages, 3);
    assert_eq!(ist.folders_spliced, 0);
    assert!(store.list_messages(0x0f, false).unwrap().is_empty());
}

/// A truncated PST: a clear error naming the file and what could not be read, a failure count
/// (exit status 1 in the tool), and the other files still convert.
#[test]
fn truncated_pst_names_the_problem_and_the_rest_imports() {
    let data = std::fs::read(fixture(DIST)).unwrap();
    let t = tempfile::tempdir().unwrap();
    let cut = t.path().join("cut.pst");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let (s, st, errs) = convert(&[cut.clone(), fixture(PASS)], true);
    assert!(st.failed >= 1, "{st:?}");
    assert!(errs.contains("cut.pst") && errs.contains("truncated"), "{errs}");
    // The second file converted whole.
    assert!(st.messages + st.associated >= 10, "{st:?} {errs}");
    let (_, _, ist) = import(&s);
    assert!(ist.messages >= 10);
    // Not a PST at all.
    let junk = t.path().join("junk.pst");
    std::fs::write(&junk, b"definitely not a PST").unwrap();
    let (_, st, errs) = convert(&[junk], true);
    assert_eq!(st.failed, 1);
    assert!(errs.contains("not a readable PST"), "{errs}");
    // Every prefix and some corruptions: errors or messages, never a panic.
    for c in (0..data.len()).step_by(data.len() / 23) {
        gromox_mt::pst::fuzz(&data[..c]);
        let mut bad = data.clone();
        bad[c] ^= 0x5A;
        gromox_mt::pst::fuzz(&bad);
    }
}

/// The fuzz target's seeds (`fuzz/seeds/pst`) run through the same entry point.
#[test]
fn fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/pst");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        gromox_mt::pst::fuzz(&std::fs::read(e.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n >= 3);
}

/// The appointment keeps body, sender, named properties (through the stream's named-property
/// frames) and its two attachments.
#[test]
fn appointment_has_body_sender_named_props_attachments() {
    let (s, _, _) = convert(&[fixture(DIST)], true);
    let mut r = Reader::new(&s[..]).unwrap();
    let mut named_frames = 0;
    let mut seen = false;
    while let Some(f) = r.next_frame().unwrap() {
        match f {
            Frame::Named(..) => named_frames += 1,
            Frame::Message(m) if text(&m.message.props, 0x0037).as_deref() == Some("Test appointment") => {
                let p = &m.message.props;
                assert_eq!(text(p, 0x1000).as_deref(), Some("This is a complete test\r\n"));
                assert_eq!(text(p, 0x0C1A).as_deref(), Some("Unknown"));
                assert!(p.iter().filter(|t| t.tag.id() >= 0x8000).count() >= 40);
                assert_eq!(m.message.attachments.len(), 2);
                seen = true;
            }
            _ => {}
        }
    }
    assert!(seen);
    assert!(named_frames >= 40, "{named_frames}");
}

const EMB: &str = "gromox-embedded.pst";

fn att_name(a: &[TaggedVal]) -> Option<String> {
    text(a, 0x3707).or_else(|| text(a, 0x3001))
}

fn att_data(a: &[TaggedVal]) -> Option<Vec<u8>> {
    a.iter().find(|t| t.tag.0 == 0x3701_0102).and_then(|t| match &t.val {
        PropVal::Binary(b) => Some(b.clone()),
        _ => None,
    })
}

/// Attachments holding embedded messages (ATTACH_EMBEDDED_MSG), which outlook-pst 1.2 cannot
/// read, are read by hand (`pstraw`) with the embedded message's recipients, attachments and a
/// further embedded message; readpst agrees on the counts, and the store gets all of it.
#[test]
fn embedded_messages_with_their_attachments_import() {
    let (s, st, errs) = convert(&[fixture(EMB)], true);
    assert_eq!((st.folders, st.messages, st.failed), (2, 1, 0), "{errs}");
    if let Some(rp) = readpst_counts(&fixture(EMB)) {
        assert_eq!(rp, (2, 1), "readpst disagrees");
    }
    let (_t, store, ist) = import(&s);
    assert_eq!((ist.messages, ist.failed), (1, 0));
    let mids = store.list_messages(0x0d, false).unwrap();
    assert_eq!(mids.len(), 1);
    let m = store.read_message(mids[0]).unwrap();
    assert_eq!(text(&m.props, 0x0037).as_deref(), Some("Outer message"));
    assert_eq!(m.attachments.len(), 2);
    let file = &m.attachments[0];
    assert_eq!(att_name(&file.props).as_deref(), Some("outer.txt"));
    assert_eq!(att_data(&file.props).as_deref(), Some(&b"outer attachment bytes\n"[..]));
    let emb = m.attachments[1].embedded.as_ref().expect("embedded message");
    assert_eq!(text(&emb.props, 0x0037).as_deref(), Some("Inner message"));
    assert_eq!(text(&emb.props, 0x1000).as_deref(), Some("Inner body"));
    assert_eq!(emb.recipients.len(), 1);
    assert_eq!(text(&emb.recipients[0], 0x3003).as_deref(), Some("carol@example.org"));
    assert_eq!(emb.attachments.len(), 2, "the embedded message's own attachments");
    assert_eq!(att_name(&emb.attachments[0].props).as_deref(), Some("inner.txt"));
    assert_eq!(
        att_data(&emb.attachments[0].props).as_deref(),
        Some(&b"inner attachment bytes\n"[..])
    );
    let innermost = emb.attachments[1].embedded.as_ref().expect("second level");
    assert_eq!(text(&innermost.props, 0x0037).as_deref(), Some("Innermost message"));
    assert_eq!(text(&innermost.recipients[0], 0x3001).as_deref(), Some("Ivy"));
    // Cut or corrupted anywhere (the hand-read part included): errors, never a panic.
    let data = std::fs::read(fixture(EMB)).unwrap();
    for c in (0x4600..data.len()).step_by(97) {
        let mut bad = data.clone();
        bad[c] ^= 0xA5;
        gromox_mt::pst::fuzz(&bad);
        gromox_mt::pst::fuzz(&data[..c]);
    }
}

/// The hand-written LTP decoder's fuzz seeds (`fuzz/seeds/pstltp`: a property context, a table
/// context, a truncated heap) decode or fail cleanly; the PC and TC seeds give their values.
#[test]
fn pstltp_fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/pstltp");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        gromox_mt::pstraw::fuzz(&std::fs::read(e.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n >= 3);
    let none = &mut |_n: u32| -> Result<Vec<u8>, String> { Err("no subnodes".into()) };
    let pc = gromox_mt::pstraw::Heap::new(std::fs::read(dir.join("pc")).unwrap());
    let props = pc.pc(none).unwrap();
    assert!(props.contains(&(0x0037, 0x1F, PropVal::Unicode("Subject".into()))));
    assert!(props.contains(&(0x3705, 0x03, PropVal::I4(5))));
    assert!(props.contains(&(0x0E06, 0x40, PropVal::SysTime(0x01D9_0000_0000))));
    let tc = gromox_mt::pstraw::Heap::new(std::fs::read(dir.join("tc")).unwrap());
    let rows = tc.tc(none).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].contains(&(0x3001, 0x1F, PropVal::Unicode("Bob".into()))));
    assert!(rows[0].contains(&(0x360A, 0x0B, PropVal::Boolean(true))));
    assert!(
        rows[1].iter().all(|(id, _, _)| *id >= 0x67F0),
        "cells not in the CEB are absent"
    );
}

/// The hand reader on the corpus files (written by Outlook, permute-encoded): every message
/// node reads with its subject, recipients and attachments as outlook-pst reads them.
#[test]
fn hand_reader_reads_the_corpus_messages() {
    for f in [DIST, PASS, EMB] {
        let mut raw = gromox_mt::pstraw::Raw::open(&fixture(f)).unwrap();
        let nodes = raw.all_nodes().unwrap();
        let msgs: Vec<u32> = nodes
            .iter()
            .copied()
            .filter(|n| matches!(n & 0x1F, 0x04 | 0x08))
            .collect();
        assert!(!msgs.is_empty(), "{f}");
        let mut subjects = 0;
        for nid in msgs {
            let node = raw.node(nid).unwrap();
            if node.sub == 0 {
                continue; // no subnode tree: the contents-table row stands for it
            }
            let m = raw
                .message(node, 0)
                .unwrap_or_else(|e| panic!("{f}: message {nid:#x}: {e}"));
            assert!(
                m.props.iter().any(|(id, _, _)| *id == 0x001A),
                "{f}: {nid:#x} has a class"
            );
            subjects += usize::from(m.props.iter().any(|(id, _, _)| *id == 0x0037));
        }
        assert!(subjects >= 1, "{f}");
    }
}

/// A PST's calendar item arrives as an appointment with its recurrence: the corpus
/// appointment (weekly on Tuesdays, one occurrence deleted, two moved) spliced into Calendar
/// and exported as iCalendar has its RRULE, EXDATE and the two exceptions as RECURRENCE-ID
/// components.
#[test]
fn appointments_keep_their_recurrence() {
    let (s, _, _) = convert(&[fixture(DIST)], true);
    let (_t, store, _) = import(&s);
    let mut out = Vec::new();
    let n = gromox_mt::export::export_ical(&store, 0x09, &mut out, &mut Vec::new()).unwrap();
    assert!(n >= 1);
    let text = String::from_utf8(out).unwrap();
    let unfolded = text.replace("\r\n ", "").replace("\n ", "");
    assert!(unfolded.contains("SUMMARY:Test appointment"), "{text}");
    assert!(unfolded.contains("RRULE:FREQ=WEEKLY;BYDAY=TU"), "{text}");
    assert!(
        unfolded
            .lines()
            .any(|l| l.starts_with("EXDATE") && l.ends_with("20160809T080000")),
        "{text}"
    );
    assert_eq!(unfolded.matches("RECURRENCE-ID").count(), 2, "{text}");
    // It parses back into the appointment.
    let items = gromox_convert::ical::ical_to_items(&text);
    assert!(
        items.iter().any(|m| m.get_str(0x0037) == Some("Test appointment")),
        "{text}"
    );
}
