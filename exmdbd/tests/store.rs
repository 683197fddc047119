//! Store behaviour as a client sees it: creation, folders, messages, content files,
//! quotas, soft delete, permissions, notifications, Gromox compatibility.

use exmdbd::layout::fid;
use exmdbd::{AttachmentContent, Error, Event, MessageContent, MessageInstance, Obj, Store, StoreOptions};
use gromox_mapi::tags::*;
use gromox_mapi::{PropTag, PropType, PropVal, TaggedVal};
use std::path::Path;

fn opts() -> StoreOptions {
    StoreOptions::default()
}

fn new_store(dir: &Path, lang: &str) -> Store {
    Store::create_private(dir, "alice@example.org", lang, false, &opts()).unwrap()
}

fn tv(tag: PropTag, v: PropVal) -> TaggedVal {
    TaggedVal::new(tag, v)
}

fn simple_mail(subject: &str, body: &str) -> MessageContent {
    MessageContent {
        props: vec![
            tv(PR_MESSAGE_CLASS, PropVal::Unicode("IPM.Note".into())),
            tv(PR_SUBJECT, PropVal::Unicode(subject.into())),
            tv(PR_BODY, PropVal::Unicode(body.into())),
        ],
        ..Default::default()
    }
}

fn extract_reference(to: &Path) -> std::path::PathBuf {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gromox-sample-store.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&fx)
        .arg("-C")
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
    to.join("after-3-deliveries/alice@gx.test")
}

#[test]
fn gromox_reference_store_opens_and_lists_folders_and_messages() {
    let t = tempfile::tempdir().unwrap();
    let dir = extract_reference(t.path());
    let st = Store::open(&dir, &opts()).unwrap();
    assert!(st.is_private());
    assert_eq!(st.schema_version().unwrap(), 27);
    let folders = st.list_folders().unwrap();
    let inbox = folders.iter().find(|f| f.id == fid::INBOX).unwrap();
    assert_eq!(inbox.name, "Inbox");
    assert_eq!(inbox.parent, Some(fid::IPMSUBTREE));
    assert!(folders.iter().any(|f| f.id == fid::JUNK && f.name == "Junk Email"));
    assert!(folders
        .iter()
        .any(|f| f.id == fid::SYNC_ISSUES && f.name == "Sync Issues"));
    let mids = st.list_messages(fid::INBOX, false).unwrap();
    assert_eq!(mids.len(), 3);
    let mut subjects: Vec<String> = Vec::new();
    let mut first = None;
    for &mid in &mids {
        let m = st.read_message(mid).unwrap();
        let s = m
            .get(PR_NORMALIZED_SUBJECT)
            .and_then(|v| v.as_str())
            .unwrap()
            .to_owned();
        if s == "Test message 1" {
            first = Some(m);
        }
        subjects.push(s);
    }
    subjects.sort();
    assert_eq!(subjects, ["Test message 1", "Test message 2", "Test message 3"]);
    let m = first.unwrap();
    // PR_BODY lives in a Gromox cid file (zstd); it must come back as text.
    let body = m.get(PR_BODY).and_then(|v| v.as_str()).unwrap();
    assert!(
        body.starts_with("Hello Alice, this is test message number 1."),
        "{body}"
    );
    let html = m.get(PR_HTML).and_then(|v| v.as_bytes()).unwrap();
    assert!(html.starts_with(b"<html>"));
    assert_eq!(m.recipients.len(), 1);
    assert_eq!(
        m.recipients[0]
            .iter()
            .find(|p| p.tag == PR_SMTP_ADDRESS)
            .unwrap()
            .val
            .as_str(),
        Some("alice@gx.test")
    );
    assert_eq!(st.receive_folder("IPM.Note").unwrap(), fid::INBOX);
    // Gromox keeps the original MIME uncompressed under eml/ (mid_string).
    for &mid in &mids {
        let mime = st.message_mime(mid).unwrap().unwrap();
        assert!(mime.windows(8).any(|w| w == b"Subject:"));
    }
    let rep = exmdbd::mbck::check(&dir, false).unwrap();
    assert!(rep.ok(), "{:?}", rep.errors);
}

#[test]
fn gromox_reference_public_store_opens() {
    let t = tempfile::tempdir().unwrap();
    extract_reference(t.path());
    let st = Store::open(&t.path().join("pristine/public/gx.test"), &opts()).unwrap();
    assert!(!st.is_private());
    let names: Vec<String> = st.list_folders().unwrap().into_iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        ["Root Container", "IPM_SUBTREE", "NON_IPM_SUBTREE", "EFORMS REGISTRY"]
    );
    // And a fresh private Gromox store: 29 default folders, empty Inbox.
    let p = Store::open(&t.path().join("pristine/alice@gx.test"), &opts()).unwrap();
    assert_eq!(p.list_folders().unwrap().len(), 29);
    assert!(p.list_messages(fid::INBOX, false).unwrap().is_empty());
}

#[test]
fn replica_ids_map_guids() {
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    let own = st.guid();
    assert_eq!(st.replid_for(&own).unwrap(), 1);
    let other = gromox_mapi::Guid([9; 16]);
    let r = st.replid_for(&other).unwrap();
    assert!(r > 5);
    assert_eq!(st.replid_for(&other).unwrap(), r);
    assert_ne!(st.replid_for(&gromox_mapi::Guid([8; 16])).unwrap(), r);
}

#[test]
fn gromox_reference_store_accepts_new_delivery() {
    let t = tempfile::tempdir().unwrap();
    let dir = extract_reference(t.path());
    let mut st = Store::open(&dir, &opts()).unwrap();
    let d = st
        .deliver_message(
            None,
            &simple_mail("fourth", "hi"),
            Some(b"Subject: fourth\r\n\r\nhi\r\n"),
        )
        .unwrap();
    assert_eq!(d.folder, fid::INBOX);
    assert_eq!(st.list_messages(fid::INBOX, false).unwrap().len(), 4);
    // The Inbox range in the reference starts at 196608 with 3 messages used.
    assert_eq!(d.message, 196611);
}

#[test]
fn mkprivate_has_gromox_tables_and_default_folders() {
    let t = tempfile::tempdir().unwrap();
    let st = new_store(t.path(), "en");
    for table in exmdbd::schema::REQUIRED_TABLES
        .iter()
        .chain(["receive_table", "search_scopes", "search_result", "autoreply_ts"].iter())
    {
        let ok: bool = st
            .conn()
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name=?1)",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert!(ok, "{table}");
    }
    let f = st.list_folders().unwrap();
    let want = [
        (0x01, "Root Container"),
        (0x09, "Top of Information Store"),
        (0x0d, "Inbox"),
        (0x0e, "Drafts"),
        (0x0c, "Outbox"),
        (0x0a, "Sent Items"),
        (0x0b, "Deleted Items"),
        (0x0f, "Calendar"),
        (0x10, "Journal"),
        (0x11, "Notes"),
        (0x12, "Tasks"),
        (0x13, "Contacts"),
        (0x17, "Junk Email"),
        (0x19, "Sync Issues"),
    ];
    for (id, name) in want {
        assert!(f.iter().any(|x| x.id == id && x.name == name), "{id:#x} {name}");
    }
    assert_eq!(f.len(), 29);
    assert_eq!(
        f.iter().find(|x| x.id == 0x0f).unwrap().container_class.as_deref(),
        Some("IPF.Appointment")
    );
    assert!(matches!(
        Store::create_private(t.path(), "alice@example.org", "en", false, &opts()),
        Err(Error::Exists(_))
    ));
    assert!(exmdbd::mbck::check(t.path(), false).unwrap().ok());
}

#[test]
fn german_user_sees_posteingang() {
    let t = tempfile::tempdir().unwrap();
    let st = new_store(t.path(), "de_DE");
    let f = st.list_folders().unwrap();
    assert_eq!(f.iter().find(|x| x.id == fid::INBOX).unwrap().name, "Posteingang");
    assert_eq!(
        f.iter().find(|x| x.id == fid::SENT_ITEMS).unwrap().name,
        "Gesendete Elemente"
    );
}

#[test]
fn public_store_has_its_tree() {
    let t = tempfile::tempdir().unwrap();
    let st = Store::create_public(t.path(), "example.org", false, &opts()).unwrap();
    assert!(!st.is_private());
    let f = st.list_folders().unwrap();
    assert_eq!(f.len(), 4);
    assert!(f.iter().any(|x| x.id == 2 && x.name == "IPM_SUBTREE"));
    let mut st = st;
    let m = st.create_message(2, &simple_mail("pub", "x"), false).unwrap();
    assert_eq!(
        st.read_message(m).unwrap().get(PR_SUBJECT).unwrap().as_str(),
        Some("pub")
    );
    // Read state is per user in public folders.
    assert!(st.set_read(m, true).is_err());
    st.set_read_for_user(m, "bob@example.org", true).unwrap();
    assert!(st.is_read_for_user(m, "BOB@example.org").unwrap());
    assert!(!st.is_read_for_user(m, "carol@example.org").unwrap());
    st.set_read_for_user(m, "bob@example.org", false).unwrap();
    assert!(!st.is_read_for_user(m, "bob@example.org").unwrap());
}

fn every_type_props() -> Vec<TaggedVal> {
    use PropVal as V;
    let vals = vec![
        V::I2(-2),
        V::I4(-70000),
        V::R4(1.5),
        V::R8(-2.25),
        V::Currency(1234567),
        V::AppTime(45000.5),
        V::Error(0x8004010F),
        V::Boolean(true),
        V::I8(-(1 << 40)),
        V::String8("ascii".into()),
        V::Unicode("Grüße 日本".into()),
        V::SysTime(134_398_152_520_000_000),
        V::Clsid(gromox_mapi::named::PSETID_COMMON),
        V::SvrEid(vec![1, 2, 3]),
        V::Restriction(vec![0, 1]),
        V::RuleActions(vec![9, 9]),
        V::Binary(vec![0, 255, 0]),
        V::MvI2(vec![1, -1]),
        V::MvI4(vec![7, 8, 9]),
        V::MvR4(vec![0.5]),
        V::MvR8(vec![1.0, 2.0]),
        V::MvCurrency(vec![10000]),
        V::MvAppTime(vec![1.25]),
        V::MvI8(vec![i64::MIN, i64::MAX]),
        V::MvString8(vec!["a".into(), "".into()]),
        V::MvUnicode(vec!["x".into(), "受信トレイ".into()]),
        V::MvSysTime(vec![u64::MAX, 0]),
        V::MvClsid(vec![gromox_mapi::named::PS_MAPI]),
        V::MvBinary(vec![vec![], vec![1, 2, 3]]),
    ];
    vals.into_iter()
        .enumerate()
        .map(|(i, v)| tv(PropTag::new(0x6700 + i as u16, PropType::Null), v))
        .collect()
}

#[test]
fn every_property_type_roundtrips_through_the_store() {
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    let props = every_type_props();
    let mut c = simple_mail("types", "b");
    c.props.extend(props.clone());
    c.recipients.push(props.clone());
    c.attachments.push(AttachmentContent {
        props: props.clone(),
        embedded: None,
    });
    let mid = st.create_message(fid::INBOX, &c, false).unwrap();
    drop(st);
    let st = Store::open(t.path(), &opts()).unwrap();
    let back = st.read_message(mid).unwrap();
    for p in &props {
        assert_eq!(back.get(p.tag), Some(&p.val), "{}", p.tag);
        assert!(back.recipients[0].contains(p), "{}", p.tag);
        assert!(back.attachments[0].props.contains(p), "{}", p.tag);
    }
    st.set_props_check(&props);
}

trait FolderPropCheck {
    fn set_props_check(self, props: &[TaggedVal]);
}
impl FolderPropCheck for Store {
    fn set_props_check(mut self, props: &[TaggedVal]) {
        self.set_props(Obj::Folder(fid::INBOX), props).unwrap();
        self.set_props(Obj::Store, props).unwrap();
        for p in props {
            assert_eq!(
                self.get_prop(Obj::Folder(fid::INBOX), p.tag).unwrap().as_ref(),
                Some(&p.val)
            );
            assert_eq!(self.get_prop(Obj::Store, p.tag).unwrap().as_ref(), Some(&p.val));
        }
    }
}

fn attachment(name: &str, data: &[u8]) -> AttachmentContent {
    AttachmentContent {
        props: vec![
            tv(PR_ATTACH_METHOD, PropVal::I4(1)),
            tv(PR_ATTACH_LONG_FILENAME, PropVal::Unicode(name.into())),
            tv(PR_ATTACH_DATA_BIN, PropVal::Binary(data.to_vec())),
        ],
        embedded: None,
    }
}

fn rich_message() -> MessageContent {
    let rcpt = |n: &str, ty: i32| {
        vec![
            tv(PR_DISPLAY_NAME, PropVal::Unicode(n.into())),
            tv(PR_SMTP_ADDRESS, PropVal::Unicode(format!("{n}@example.org"))),
            tv(PR_RECIPIENT_TYPE, PropVal::I4(ty)),
        ]
    };
    let mut inner = simple_mail("inner", "inner body");
    inner.attachments.push(attachment("deep.txt", b"deep attachment data"));
    let big: Vec<u8> = (0..20000u32).map(|i| (i % 251) as u8).collect();
    MessageContent {
        props: vec![
            tv(PR_MESSAGE_CLASS, PropVal::Unicode("IPM.Note".into())),
            tv(PR_SUBJECT, PropVal::Unicode("rich".into())),
            tv(
                PR_HTML,
                PropVal::Binary(b"<html><body><p>Hello</p></body></html>".to_vec()),
            ),
            tv(PR_BODY, PropVal::Unicode("Hello".into())),
            tv(
                PR_TRANSPORT_MESSAGE_HEADERS,
                PropVal::Unicode("Subject: rich\r\n".into()),
            ),
        ],
        recipients: vec![rcpt("bob", 1), rcpt("carol", 2), rcpt("dave", 3)],
        attachments: vec![
            attachment("a.bin", &big),
            attachment("b.txt", b"second attachment"),
            AttachmentContent {
                props: vec![
                    tv(PR_ATTACH_METHOD, PropVal::I4(5)),
                    tv(PR_DISPLAY_NAME, PropVal::Unicode("fwd".into())),
                ],
                embedded: Some(Box::new(inner)),
            },
        ],
    }
}

#[test]
fn rich_message_through_instance_reads_back_identically_and_dedups_attachments() {
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    let mut inst = MessageInstance::new(fid::DRAFT, false);
    inst.content = rich_message();
    let mid = st.flush_instance(&mut inst).unwrap();
    let back = exmdbd::message::without_store_tags(st.read_message(mid).unwrap());
    let want = rich_message();
    for p in &want.props {
        assert_eq!(back.get(p.tag), Some(&p.val), "{}", p.tag);
    }
    // Property order carries no meaning (MS-OXCPRPT): compare sorted by tag.
    let want = normalized(want);
    let back = normalized(back);
    assert_eq!(back.recipients, want.recipients);
    assert_eq!(back.attachments.len(), 3);
    assert_eq!(back.attachments[0].props, want.attachments[0].props);
    assert_eq!(back.attachments[1].props, want.attachments[1].props);
    let emb = back.attachments[2].embedded.as_ref().unwrap();
    assert_eq!(emb.get(PR_SUBJECT).unwrap().as_str(), Some("inner"));
    assert_eq!(
        emb.attachments[0].props,
        want.attachments[2].embedded.as_ref().unwrap().attachments[0].props
    );

    let files_before = exmdbd::cid::list(t.path(), "cid").unwrap().len();
    // A second message carrying the same attachment: no new content file for it.
    let mut c2 = simple_mail("other", "Hello");
    c2.attachments.push(attachment(
        "copy.bin",
        &(0..20000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    ));
    st.create_message(fid::INBOX, &c2, false).unwrap();
    assert_eq!(exmdbd::cid::list(t.path(), "cid").unwrap().len(), files_before);
    // Content files are compressed: the 20000-byte attachment takes far less on disk.
    let total: u64 = exmdbd::cid::list(t.path(), "cid")
        .unwrap()
        .iter()
        .map(|f| std::fs::metadata(exmdbd::cid::path(t.path(), "cid", f)).unwrap().len())
        .sum();
    assert!(total < 20000, "{total}");

    // Instance edits: changes are invisible until flushed; dropping discards them.
    let mut i2 = st.open_instance(mid).unwrap();
    i2.content.set(PR_SUBJECT, PropVal::Unicode("changed".into()));
    i2.content.recipients.pop();
    assert_eq!(
        st.read_message(mid).unwrap().get(PR_SUBJECT).unwrap().as_str(),
        Some("rich")
    );
    drop(i2);
    assert_eq!(st.read_message(mid).unwrap().recipients.len(), 3);
    let mut i3 = st.open_instance(mid).unwrap();
    i3.content.set(PR_SUBJECT, PropVal::Unicode("changed".into()));
    i3.content.recipients.pop();
    i3.content.attachments.remove(0);
    st.flush_instance(&mut i3).unwrap();
    let m = st.read_message(mid).unwrap();
    assert_eq!(m.get(PR_SUBJECT).unwrap().as_str(), Some("changed"));
    assert_eq!(m.recipients.len(), 2);
    assert_eq!(m.attachments.len(), 2);
    assert!(exmdbd::mbck::check(t.path(), false).unwrap().ok());
}

#[test]
fn quota_refuses_delivery_with_distinct_error() {
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    st.set_props(Obj::Store, &[tv(PR_PROHIBIT_RECEIVE_QUOTA, PropVal::I4(8))])
        .unwrap(); // 8 KiB
    let body = "x".repeat(3000);
    st.deliver_message(None, &simple_mail("1", &body), None).unwrap();
    st.deliver_message(None, &simple_mail("2", &body), None).unwrap();
    match st.deliver_message(None, &simple_mail("3", &body), None) {
        Err(Error::QuotaExceeded { limit, .. }) => assert_eq!(limit, 8192),
        other => panic!("expected quota error, got {other:?}"),
    }
    assert_eq!(st.list_messages(fid::INBOX, false).unwrap().len(), 2);
}

#[test]
fn soft_deleted_messages_are_invisible_until_restored_and_gone_after_purge() {
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    let a = st
        .deliver_message(
            None,
            &simple_mail("a", &"unique body a ".repeat(1000)),
            Some(b"Subject: a\r\n\r\n"),
        )
        .unwrap()
        .message;
    let b = st
        .deliver_message(None, &simple_mail("b", &"unique body b ".repeat(1000)), None)
        .unwrap()
        .message;
    st.delete_messages(&[a], false).unwrap();
    assert_eq!(st.list_messages(fid::INBOX, false).unwrap(), vec![b]);
    assert!(matches!(st.read_message(a), Err(Error::NotFound(_))));
    st.restore_messages(&[a]).unwrap();
    assert_eq!(st.list_messages(fid::INBOX, false).unwrap(), vec![a, b]);
    let files = exmdbd::cid::list(t.path(), "cid").unwrap().len();
    st.delete_messages(&[a], false).unwrap();
    let p = st.purge().unwrap();
    assert_eq!(p.messages, 1);
    assert!(st.restore_messages(&[a]).is_err());
    // body of a and its MIME file removed; b's content stays readable.
    assert!(exmdbd::cid::list(t.path(), "cid").unwrap().len() < files);
    assert!(exmdbd::cid::list(t.path(), "eml").unwrap().is_empty());
    let body_b = "unique body b ".repeat(1000);
    assert!(st.read_message(b).unwrap().get(PR_BODY).unwrap().as_str() == Some(body_b.as_str()));
    assert!(exmdbd::mbck::check(t.path(), false).unwrap().ok());
}

#[test]
fn folders_conflicts_moves_deletes() {
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    let rx = st.notifier().subscribe();
    let f = st.create_folder(fid::IPMSUBTREE, "Projects", Some("IPF.Note")).unwrap();
    assert!(f >= 0x100);
    assert!(matches!(
        st.create_folder(fid::IPMSUBTREE, "projects", None),
        Err(Error::NameConflict(_))
    ));
    assert!(matches!(
        st.create_folder(fid::IPMSUBTREE, "Inbox", None),
        Err(Error::NameConflict(_))
    ));
    let sub = st.create_folder(f, "Sub", None).unwrap();
    assert!(st.move_folder(f, sub).is_err());
    st.move_folder(sub, fid::INBOX).unwrap();
    assert_eq!(st.find_folder(fid::INBOX, "sub").unwrap(), Some(sub));
    let m = st.create_message(f, &simple_mail("in projects", "x"), false).unwrap();
    let fai = st.create_message(f, &simple_mail("settings", "x"), true).unwrap();
    assert_eq!(st.list_messages(f, false).unwrap(), vec![m]);
    assert_eq!(st.list_messages(f, true).unwrap(), vec![fai]);
    let moved = st.move_message(m, fid::INBOX).unwrap();
    assert_eq!(
        st.read_message(moved).unwrap().get(PR_SUBJECT).unwrap().as_str(),
        Some("in projects")
    );
    let copy = st.copy_message(moved, f).unwrap();
    assert_ne!(copy, moved);
    // RopEmptyFolder: the normal message goes, the FAI message stays.
    assert_eq!(st.empty_folder(f, false).unwrap(), 1);
    assert_eq!(st.list_messages(f, false).unwrap(), Vec::<u64>::new());
    assert_eq!(st.list_messages(f, true).unwrap(), vec![fai]);
    st.delete_folder(f, false).unwrap();
    assert!(st.list_folders().unwrap().iter().any(|x| x.id == f && x.deleted));
    assert!(matches!(st.delete_folder(fid::INBOX, true), Err(Error::AccessDenied)));
    st.purge().unwrap();
    assert!(!st.list_folders().unwrap().iter().any(|x| x.id == f));
    let events: Vec<Event> = rx.try_iter().collect();
    assert!(events.contains(&Event::FolderCreated {
        folder: f,
        parent: fid::IPMSUBTREE
    }));
    assert!(events.contains(&Event::MessageMoved {
        from: f,
        to: fid::INBOX,
        message: m,
        new_message: moved
    }));
    assert!(events.contains(&Event::FolderDeleted { folder: f }));
}

#[test]
fn delivery_notifies_and_keeps_mime_and_read_state() {
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    let rx = st.notifier().subscribe();
    let mime = b"From: a@b\r\nSubject: hi\r\n\r\nbody\r\n";
    let d = st
        .deliver_message(None, &simple_mail("hi", "body"), Some(mime))
        .unwrap();
    assert_eq!(
        rx.try_recv().unwrap(),
        Event::NewMail {
            folder: fid::INBOX,
            message: d.message,
            class: "IPM.Note".into()
        }
    );
    assert_eq!(st.message_mime(d.message).unwrap().as_deref(), Some(&mime[..]));
    assert!(!st.is_read(d.message).unwrap());
    st.set_read(d.message, true).unwrap();
    assert!(st.is_read(d.message).unwrap());
    assert!(st
        .read_message(d.message)
        .unwrap()
        .get(PR_MESSAGE_DELIVERY_TIME)
        .is_some());
    // IPC classes go to the root folder per the receive table.
    let mut ipc = simple_mail("ipc", "x");
    ipc.set(PR_MESSAGE_CLASS, PropVal::Unicode("IPC.Foo".into()));
    assert_eq!(st.deliver_message(None, &ipc, None).unwrap().folder, fid::ROOT);
    assert!(st.store_size().unwrap() > 0);
}

#[test]
fn small_mime_is_kept_in_the_database_large_mime_in_eml_files() {
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    let small = b"From: a@b\r\nSubject: small\r\n\r\nbody\r\n".to_vec();
    let mut large = b"From: a@b\r\nSubject: large\r\n\r\n".to_vec();
    for i in 0..20_000 {
        large.extend_from_slice(format!("line {i} of a large message\r\n").as_bytes());
    }
    assert!(large.len() > exmdbd::cid::MIME_INLINE_MAX);
    let a = st
        .deliver_message(None, &simple_mail("small", "body"), Some(&small))
        .unwrap();
    let b = st
        .deliver_message(None, &simple_mail("small again", "body"), Some(&small))
        .unwrap();
    let c = st
        .deliver_message(None, &simple_mail("large", "x"), Some(&large))
        .unwrap();
    assert!(
        exmdbd::cid::list(t.path(), "eml").unwrap().len() == 1,
        "only the large MIME is a file"
    );
    for (m, want) in [(a.message, &small), (b.message, &small), (c.message, &large)] {
        assert_eq!(st.message_mime(m).unwrap().as_deref(), Some(&want[..]));
    }
    assert!(exmdbd::mbck::check(t.path(), false).unwrap().ok());
    // Deleted for good: the inline MIME goes at purge once no message refers to it.
    st.delete_messages(&[a.message], true).unwrap();
    assert_eq!(st.purge_content().unwrap(), 0, "still used by the second delivery");
    st.delete_messages(&[b.message], true).unwrap();
    assert_eq!(st.purge_content().unwrap(), 1);
    assert!(st.inline_mime_names().unwrap().is_empty());
    assert_eq!(st.message_mime(c.message).unwrap().as_deref(), Some(&large[..]));
    assert!(exmdbd::mbck::check(t.path(), false).unwrap().ok());
}

#[test]
fn copy_folder_info_and_quota_warning() {
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    let f = st.create_folder(fid::IPMSUBTREE, "A", Some("IPF.Note")).unwrap();
    let sub = st.create_folder(f, "A1", None).unwrap();
    st.create_message(f, &simple_mail("m1", "x"), false).unwrap();
    st.create_message(f, &simple_mail("fai", "x"), true).unwrap();
    st.create_message(sub, &simple_mail("m2", "x"), false).unwrap();
    let copy = st.copy_folder(f, fid::INBOX, "A copy").unwrap();
    assert_eq!(st.list_messages(copy, false).unwrap().len(), 1);
    assert_eq!(st.list_messages(copy, true).unwrap().len(), 1);
    let csub = st.find_folder(copy, "A1").unwrap().unwrap();
    let m2 = st.list_messages(csub, false).unwrap()[0];
    assert_eq!(
        st.read_message(m2).unwrap().get(PR_SUBJECT).unwrap().as_str(),
        Some("m2")
    );
    let info = st.message_info(m2).unwrap();
    assert_eq!(info.folder, csub);
    assert!(!info.read && !info.associated && !info.deleted && info.size > 0);
    assert!(!st.quota_warning().unwrap());
    st.set_props(Obj::Store, &[tv(PR_STORAGE_QUOTA_LIMIT, PropVal::I4(0))])
        .unwrap();
    assert!(!st.quota_warning().unwrap());
    let big = "y".repeat(3000);
    st.create_message(fid::DRAFT, &simple_mail("filler", &"z".repeat(1500)), false)
        .unwrap();
    st.set_props(
        Obj::Store,
        &[
            tv(PR_STORAGE_QUOTA_LIMIT, PropVal::I4(1)),
            tv(PR_PROHIBIT_SEND_QUOTA, PropVal::I4(2)),
        ],
    )
    .unwrap();
    assert!(st.quota_warning().unwrap());
    assert!(matches!(
        st.create_message(fid::DRAFT, &simple_mail("big", &big), false),
        Err(Error::QuotaExceeded { .. })
    ));
}

#[test]
fn power_durability_mode_writes_and_reads() {
    let t = tempfile::tempdir().unwrap();
    let o = StoreOptions {
        durability: exmdbd::Durability::Power,
        ..Default::default()
    };
    let mut st = Store::create_private(t.path(), "alice@example.org", "en", false, &o).unwrap();
    let sync: i64 = st.conn().query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
    assert_eq!(sync, 2); // FULL
    let body = "durable ".repeat(2000);
    let d = st
        .deliver_message(None, &simple_mail("p", &body), Some(b"Subject: p\r\n\r\n"))
        .unwrap();
    drop(st);
    let st = Store::open(t.path(), &o).unwrap();
    assert_eq!(
        st.read_message(d.message).unwrap().get(PR_BODY).unwrap().as_str(),
        Some(body.as_str())
    );
    let rx = {
        let mut st = st;
        let rx = st.notifier().subscribe();
        st.set_props(Obj::Message(d.message), &[tv(PR_IMPORTANCE, PropVal::I4(2))])
            .unwrap();
        st.set_props(Obj::Folder(fid::INBOX), &[tv(PR_COMMENT, PropVal::Unicode("c".into()))])
            .unwrap();
        rx
    };
    let ev: Vec<Event> = rx.try_iter().collect();
    assert_eq!(
        ev,
        vec![
            Event::MessageModified {
                folder: fid::INBOX,
                message: d.message
            },
            Event::FolderModified { folder: fid::INBOX }
        ]
    );
}

#[test]
fn permissions_for_acting_users() {
    use exmdbd::Actor;
    use gromox_mapi::tags::frights;
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    assert!(st.check_rights(fid::INBOX, Actor::Owner, frights::DELETE_ANY).is_ok());
    assert!(matches!(
        st.check_rights(fid::INBOX, Actor::User("bob@example.org"), frights::READ_ANY),
        Err(Error::AccessDenied)
    ));
    assert_eq!(
        st.rights(fid::CALENDAR, Actor::User("bob@example.org")).unwrap(),
        frights::FREEBUSY_SIMPLE | frights::VISIBLE
    );
    st.set_permission(fid::INBOX, "bob@example.org", frights::READ_ANY | frights::VISIBLE)
        .unwrap();
    assert!(st
        .check_rights(fid::INBOX, Actor::User("BOB@example.org"), frights::READ_ANY)
        .is_ok());
    assert!(st
        .check_rights(fid::INBOX, Actor::User("bob@example.org"), frights::CREATE)
        .is_err());
    assert_eq!(st.rights(fid::INBOX, Actor::Anonymous).unwrap(), 0);
    st.set_permission(fid::INBOX, "default", frights::VISIBLE).unwrap();
    assert_eq!(
        st.rights(fid::INBOX, Actor::User("carol@example.org")).unwrap(),
        frights::VISIBLE
    );
}

#[test]
fn named_properties_start_at_8001_and_persist() {
    use gromox_mapi::named::*;
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    let a = PropName::lid(PSETID_COMMON, 0x8580);
    let b = PropName::name(PS_INTERNET_HEADERS, "x-spam-score");
    assert_eq!(st.get_named_propid(&a, false).unwrap(), None);
    assert_eq!(st.get_named_propid(&a, true).unwrap(), Some(0x8001));
    assert_eq!(st.get_named_propid(&b, true).unwrap(), Some(0x8002));
    assert_eq!(st.get_named_propid(&a, true).unwrap(), Some(0x8001));
    assert_eq!(st.get_propname(0x8002).unwrap(), Some(b));
}

/// PS_MAPI names are plain property ids (MS-OXCPRPT §3.2.5.7/§3.2.5.8): the LID is the id,
/// nothing is created, and ids below 0x8000 name themselves in PS_MAPI.
#[test]
fn ps_mapi_names_are_their_lids() {
    use gromox_mapi::named::*;
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    let subject = PropName::lid(PS_MAPI, 0x0037);
    assert_eq!(st.get_named_propid(&subject, false).unwrap(), Some(0x0037));
    assert_eq!(st.get_named_propid(&subject, true).unwrap(), Some(0x0037));
    for none in [
        PropName::lid(PS_MAPI, 0x8001),
        PropName::lid(PS_MAPI, 0),
        PropName::lid(PS_MAPI, 0x1_0037),
        PropName::name(PS_MAPI, "Subject"),
    ] {
        assert_eq!(st.get_named_propid(&none, true).unwrap(), None, "{none:?}");
    }
    // Nothing was added to named_properties: the next real named property still gets 0x8001.
    let other = PropName::lid(PSETID_COMMON, 0x8580);
    assert_eq!(st.get_named_propid(&other, true).unwrap(), Some(0x8001));
    assert_eq!(st.get_propname(0x0037).unwrap(), Some(subject));
    assert_eq!(st.get_propname(0x7fff).unwrap(), Some(PropName::lid(PS_MAPI, 0x7fff)));
    assert_eq!(st.get_propname(0).unwrap(), None);
    assert_eq!(st.get_propname(0x8001).unwrap(), Some(other));
    assert_eq!(st.get_propname(0x8002).unwrap(), None);
}

#[test]
fn store_cache_shares_and_closes_idle() {
    let t = tempfile::tempdir().unwrap();
    drop(new_store(t.path(), "en"));
    let cache = exmdbd::cache::StoreCache::new(opts(), std::time::Duration::from_millis(0));
    let a = cache.get(t.path()).unwrap();
    let b = cache.get(t.path()).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(cache.close_idle(), 0); // in use
    drop((a, b));
    assert_eq!(cache.close_idle(), 1);
    assert!(cache.is_empty());
}

#[test]
fn store_cache_keeps_at_most_table_size_stores_open() {
    let t = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..3).map(|i| t.path().join(format!("s{i}"))).collect();
    for d in &dirs {
        drop(new_store(d, "en"));
    }
    let cache = exmdbd::cache::StoreCache::new(opts(), std::time::Duration::from_secs(3600)).with_capacity(2);
    let s0 = cache.get(&dirs[0]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    drop(cache.get(&dirs[1]).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(5));
    // Full: the third closes the least recently used store no one is using (s1; s0 is held).
    drop(cache.get(&dirs[2]).unwrap());
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.unload(&dirs[1]), Ok(false), "s1 was closed");
    assert_eq!(cache.unload(&dirs[0]), Err(()), "s0 stayed open: in use");
    // Everything in use: the cache grows rather than refuse.
    let held: Vec<_> = dirs.iter().map(|d| cache.get(d).unwrap()).collect();
    assert_eq!(cache.len(), 3);
    drop((s0, held));
}

#[test]
fn mbck_finds_missing_and_orphaned_content_files() {
    let t = tempfile::tempdir().unwrap();
    let mut st = new_store(t.path(), "en");
    let mid = st
        .create_message(fid::INBOX, &simple_mail("x", &"body to lose ".repeat(1000)), false)
        .unwrap();
    drop(st);
    let files = exmdbd::cid::list(t.path(), "cid").unwrap();
    std::fs::remove_file(exmdbd::cid::path(t.path(), "cid", &files[0])).unwrap();
    std::fs::create_dir_all(t.path().join("cid/Y-00")).unwrap();
    std::fs::write(t.path().join("cid/Y-00/0123456789abcdef0123456789abcd"), b"orphan").unwrap();
    let rep = exmdbd::mbck::check(t.path(), false).unwrap();
    assert!(rep.errors.iter().any(|e| e.starts_with("missing cid/")), "{rep:?}");
    assert!(rep.warnings.iter().any(|e| e.contains("orphaned cid/Y-00/")), "{rep:?}");
    let rep = exmdbd::mbck::check(t.path(), true).unwrap();
    assert!(rep.fixed.iter().any(|f| f.contains("orphaned")));
    assert!(!t.path().join("cid/Y-00/0123456789abcdef0123456789abcd").exists());
    let _ = mid;
}

/// `c` with every property list sorted by tag (recipients and attachments keep their order).
fn normalized(mut c: MessageContent) -> MessageContent {
    c.props.sort_by_key(|p| p.tag.0);
    for r in &mut c.recipients {
        r.sort_by_key(|p| p.tag.0);
    }
    for a in &mut c.attachments {
        a.props.sort_by_key(|p| p.tag.0);
        a.embedded = a.embedded.take().map(|e| Box::new(normalized(*e)));
    }
    c
}

/// Every message of every folder (normal and FAI), read whole, in id order.
fn all_messages(st: &Store) -> Vec<(u64, MessageContent)> {
    let mut out = Vec::new();
    for f in st.list_folders().unwrap() {
        for assoc in [false, true] {
            for mid in st.list_messages(f.id, assoc).unwrap() {
                out.push((mid, normalized(st.read_message(mid).unwrap())));
            }
        }
    }
    out.sort_by_key(|(m, _)| *m);
    out
}

fn table_sql(st: &Store, name: &str) -> String {
    st.conn()
        .query_row("SELECT sql FROM sqlite_master WHERE name=?1", [name], |r| r.get(0))
        .unwrap()
}

#[test]
fn upgrade_clusters_a_gromox_store_keeping_every_property() {
    let t = tempfile::tempdir().unwrap();
    let dir = extract_reference(t.path());
    let before = {
        let st = Store::open(&dir, &opts()).unwrap();
        assert!(!table_sql(&st, "message_properties").contains("WITHOUT ROWID"));
        all_messages(&st)
    };
    assert!(!before.is_empty());
    let steps = Store::upgrade(&dir, &opts()).unwrap();
    for want in [
        "clustered message_properties",
        "clustered recipients_properties",
        "clustered attachment_properties",
        "dropped index pid_messages_index8",
    ] {
        assert!(steps.iter().any(|s| s.starts_with(want)), "{want} in {steps:?}");
    }
    assert!(
        steps.iter().any(|s| s.starts_with("filled the summary columns of")),
        "{steps:?}"
    );
    let mut st = Store::open(&dir, &opts()).unwrap();
    for t in exmdbd::schema::CLUSTERED_TABLES {
        assert!(table_sql(&st, t).contains("WITHOUT ROWID"), "{t}");
    }
    assert_eq!(all_messages(&st), before);
    // The summary columns hold what the properties say.
    assert!(exmdbd::schema::has_summary(st.conn()).unwrap());
    let mut summarized = 0;
    for (mid, m) in &before {
        let (subject, delivery): (Option<String>, Option<i64>) = st
            .conn()
            .query_row(
                "SELECT summary_subject, summary_delivery FROM messages WHERE message_id=?1",
                [*mid as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            subject.as_deref(),
            m.get(PR_SUBJECT).and_then(|v| v.as_str()),
            "{mid:#x}"
        );
        let want = m.props.iter().find(|p| p.tag.0 == 0x0E06_0040).map(|p| match p.val {
            PropVal::SysTime(t) => t as i64,
            _ => -1,
        });
        assert_eq!(delivery, want, "{mid:#x}");
        summarized += usize::from(subject.is_some());
    }
    assert!(summarized > 0);
    // The converted store takes deliveries and passes the integrity check.
    st.deliver_message(
        None,
        &simple_mail("after", "upgrade"),
        Some(b"Subject: after\r\n\r\nupgrade\r\n"),
    )
    .unwrap();
    drop(st);
    let rep = exmdbd::mbck::check(&dir, false).unwrap();
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
    // A second run has nothing to do.
    assert_eq!(Store::upgrade(&dir, &opts()).unwrap(), Vec::<String>::new());
}

#[test]
fn upgrade_brings_an_older_generation_up_and_refuses_a_newer_one() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("old");
    let mut st = new_store(&dir, "en");
    st.deliver_message(None, &simple_mail("kept", "body"), None).unwrap();
    // An older generation: fewer tables and columns.
    st.conn()
        .execute_batch(
            "DROP TABLE autoreply_ts; DROP TABLE msgtime_index; ALTER TABLE messages DROP COLUMN timer_id; \
             DROP INDEX parent_read_assoc_index8; UPDATE configurations SET config_value=25 WHERE config_id=10;",
        )
        .unwrap();
    drop(st);
    assert!(matches!(Store::open(&dir, &opts()), Err(Error::SchemaVersion(25))));
    let steps = Store::upgrade(&dir, &opts()).unwrap();
    for want in [
        "created table autoreply_ts",
        "created table msgtime_index",
        "added column messages.timer_id",
        "created index parent_read_assoc_index8",
        "schema generation 25 -> 27",
    ] {
        assert!(steps.iter().any(|s| s == want), "{want} in {steps:?}");
    }
    let mut st = Store::open(&dir, &opts()).unwrap();
    assert_eq!(st.schema_version().unwrap(), 27);
    let mids = st.list_messages(fid::INBOX, false).unwrap();
    assert_eq!(mids.len(), 1);
    assert_eq!(
        st.read_message(mids[0])
            .unwrap()
            .get(PR_SUBJECT)
            .and_then(|v| v.as_str()),
        Some("kept")
    );
    st.deliver_message(None, &simple_mail("new", "body"), None).unwrap();
    // A store from a newer generation is left alone.
    st.conn()
        .execute("UPDATE configurations SET config_value=28 WHERE config_id=10", [])
        .unwrap();
    drop(st);
    assert!(matches!(Store::upgrade(&dir, &opts()), Err(Error::SchemaVersion(28))));
}

#[test]
fn upgrade_of_current_stores_has_nothing_to_do() {
    let t = tempfile::tempdir().unwrap();
    drop(new_store(&t.path().join("p"), "en"));
    assert_eq!(
        Store::upgrade(&t.path().join("p"), &opts()).unwrap(),
        Vec::<String>::new()
    );
    drop(Store::create_public(&t.path().join("pub"), "example.org", false, &opts()).unwrap());
    assert_eq!(
        Store::upgrade(&t.path().join("pub"), &opts()).unwrap(),
        Vec::<String>::new()
    );
    // The Gromox public store converts like the private one, and stays a public store.
    extract_reference(t.path());
    let public = t.path().join("pristine/public/gx.test");
    assert!(!Store::upgrade(&public, &opts()).unwrap().is_empty());
    assert!(Store::upgrade(&public, &opts()).unwrap().is_empty());
    let st = Store::open(&public, &opts()).unwrap();
    assert!(!st.is_private());
    assert_eq!(st.list_folders().unwrap().len(), 4);
}
