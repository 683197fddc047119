//! Outlook .msg files (MS-OXMSG) from the corpus (`tests/fixtures/msg`, attribution in
//! `tests/fixtures/SOURCES.md`): properties, named properties, recipients, attachments.

use gromox_mapi::tags::{PR_MESSAGE_CLASS, PR_SUBJECT};
use gromox_mapi::PropTag;
use gromox_mt::oxm::msg_to_mapi;

const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PR_ATTACH_DATA_BIN: u16 = 0x3701;
const PR_DISPLAY_NAME: u16 = 0x3001;

fn fixture(n: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/msg")
            .join(n),
    )
    .unwrap()
}

fn text(props: &[gromox_mapi::TaggedVal], id: u16) -> Option<String> {
    props
        .iter()
        .find(|t| t.tag.id() == id)
        .and_then(|t| t.val.as_str())
        .map(str::to_string)
}

#[test]
fn note_with_three_attachments() {
    let m = msg_to_mapi(&fixture("ruby-msg-sample.msg")).unwrap();
    assert_eq!(text(&m.props, PR_MESSAGE_CLASS.id()).as_deref(), Some("IPM.Note"));
    let subject = text(&m.props, PR_SUBJECT.id()).unwrap_or_default();
    assert!(!subject.is_empty());
    assert_eq!(
        m.attachments.len(),
        3,
        "{:?}",
        m.attachments
            .iter()
            .map(|a| text(&a.props, PR_ATTACH_LONG_FILENAME))
            .collect::<Vec<_>>()
    );
    for a in &m.attachments {
        let name = text(&a.props, PR_ATTACH_LONG_FILENAME).or_else(|| text(&a.props, PR_DISPLAY_NAME));
        assert!(name.is_some_and(|n| !n.is_empty()), "{:?}", a.props);
        let data = a
            .props
            .iter()
            .find(|t| t.tag.id() == PR_ATTACH_DATA_BIN)
            .and_then(|t| t.val.as_bytes());
        assert!(
            data.is_some_and(|d| !d.is_empty()) || a.embedded.is_some(),
            "attachment without data"
        );
    }
    assert!(!m.recipients.is_empty());
    assert!(
        !m.named.is_empty(),
        "named properties resolved through __nameid_version1.0"
    );
}

#[test]
fn contact_and_odd_date() {
    let c = msg_to_mapi(&fixture("ruby-msg-Swetlana.msg")).unwrap();
    assert_eq!(text(&c.props, PR_MESSAGE_CLASS.id()).as_deref(), Some("IPM.Contact"));
    let d = msg_to_mapi(&fixture("msg-extractor-strangeDate.msg")).unwrap();
    assert!(text(&d.props, PR_MESSAGE_CLASS.id()).is_some());
    let _ = PropTag(0);
}

#[test]
fn broken_files_name_the_problem() {
    let data = fixture("ruby-msg-sample.msg");
    let e = msg_to_mapi(&data[..data.len() / 3]).unwrap_err();
    assert!(!e.to_string().is_empty());
    let e = msg_to_mapi(b"not a compound file at all").unwrap_err();
    assert!(e.to_string().contains("not a compound file"), "{e}");
    // Every prefix and some corruptions: an error or a message, never a panic.
    for cut in (0..data.len()).step_by(997) {
        let _ = msg_to_mapi(&data[..cut]);
        let mut bad = data.clone();
        bad[cut] ^= 0xFF;
        let _ = msg_to_mapi(&bad);
    }
}

/// The fuzz target's seeds (`fuzz/seeds/msg`) run through the same entry point.
#[test]
fn fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/msg");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        gromox_mt::oxm::fuzz(&std::fs::read(e.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n > 0);
}

/// `gromox-oxm2mt | gromox-import`: the three .msg files end up as messages in the store
/// (the contact in Contacts, by class), with their attachments.
#[test]
fn msg_files_import_into_a_store() {
    use gromox_mt::cli::{produce_files, Mode};
    use gromox_mt::import::{Importer, Options};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/msg");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    files.sort();
    let mut stream = Vec::new();
    let mut errs = Vec::new();
    let (n, failed) = produce_files(&mut stream, &files, Mode::Msg, &mut errs).unwrap();
    assert_eq!((n, failed), (3, 0), "{}", String::from_utf8_lossy(&errs));
    let t = tempfile::tempdir().unwrap();
    let mut s = exmdbd::Store::create_private(t.path(), "alice@example.org", "en", false, &Default::default()).unwrap();
    let mut imp = Importer::new(&mut s, Options::default(), Box::new(std::io::sink())).unwrap();
    let st = imp.run(&stream[..], &mut Vec::new()).unwrap();
    drop(imp);
    let _ = st;
    let inbox = s.list_messages(0x0d, false).unwrap();
    let contacts = s.list_messages(0x13, false).unwrap();
    assert_eq!((inbox.len(), contacts.len()), (2, 1));
    let with_attachments = inbox
        .iter()
        .map(|m| s.read_message(*m).unwrap().attachments.len())
        .max()
        .unwrap();
    assert_eq!(with_attachments, 3);
}
