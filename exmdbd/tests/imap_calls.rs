//! The exmdb calls the message index (midbd) uses, through the real exmdbd and client:
//! folder state probes, paged message summaries with IMAP flags, RFC 5322 renditions (kept
//! byte-identical or generated), MIME appends, flag changes, copy/move with new ids, folder
//! delete and rename/move with their refusals.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gromox_clients::exmdb::{ExmdbClient, ExmdbError, ExmdbOptions};
use gromox_exmdb_proto::{Call, ImapFlags, Response, Status};
use gromox_mapi::props::{PropTag, PropVal, TaggedVal};
use gromox_testkit::{Daemon, TestDir};

const INBOX: u64 = 0x0d;
const IPM_SUBTREE: u64 = 0x09;

struct Env {
    dir: TestDir,
    maildir: PathBuf,
    cfg: PathBuf,
}

fn env() -> Env {
    let dir = TestDir::new();
    let state = dir.path().join("state");
    let maildir = exmdbd::paths::user_maildir(&state, "alice@example.org").unwrap();
    std::fs::create_dir_all(&maildir).unwrap();
    exmdbd::Store::create_private(&maildir, "alice@example.org", "en", false, &Default::default()).unwrap();
    let state_s = state.to_string_lossy().to_string();
    let cfg = dir.write_config(
        "exmdb_provider.cfg",
        &[("state_path", state_s.as_str()), ("exmdb_listen", "127.0.0.1:0")],
    );
    Env { dir, maildir, cfg }
}

fn start(e: &Env) -> (Daemon, ExmdbClient) {
    let d = Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_exmdbd")),
        &["-c", e.cfg.to_str().unwrap()],
        e.dir.path(),
    )
    .unwrap();
    let c = ExmdbClient::new(
        d.addr("exmdb_listen"),
        ExmdbOptions {
            pool_size: 2,
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(10),
        },
    );
    (d, c)
}

const MIME: &[u8] = b"From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\
Message-ID: <m1@example.net>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo\r\n";

#[test]
fn summaries_flags_and_renditions() {
    let e = env();
    let (_d, c) = start(&e);
    let dir = e.maildir.to_str().unwrap();
    assert_eq!(c.folder_state(dir, INBOX).unwrap(), (0, 0));
    let flags = ImapFlags {
        read: true,
        flagged: true,
        keywords: vec!["Blue".into(), "$Label1".into()],
        ..Default::default()
    };
    let m1 = c.append_rfc822(dir, INBOX, MIME, &flags, Some(1_790_000_000)).unwrap();
    let m2 = c.append_rfc822(dir, INBOX, MIME, &ImapFlags::default(), None).unwrap();
    let (cn1, n) = c.folder_state(dir, INBOX).unwrap();
    assert_eq!(n, 2);
    // The kept MIME comes back byte-identical.
    assert_eq!(c.message_rfc822(dir, m1).unwrap(), MIME);
    let s = c.list_messages(dir, INBOX, 0, 100, 0).unwrap();
    assert_eq!(s.iter().map(|m| m.mid).collect::<Vec<_>>(), vec![m1, m2]);
    assert_eq!(s[0].flags, flags);
    assert_eq!(s[0].delivery_time, 1_790_000_000);
    assert!(!s[1].flags.read && !s[1].flags.flagged && s[1].flags.keywords.is_empty());
    // Paging: every message exactly once.
    assert_eq!(c.list_messages(dir, INBOX, 0, 1, 0).unwrap()[0].mid, m1);
    assert_eq!(c.list_messages(dir, INBOX, m1, 1, 0).unwrap()[0].mid, m2);
    assert!(c.list_messages(dir, INBOX, m2, 10, 0).unwrap().is_empty());

    // Flag changes bump the folder state and read back.
    c.call(
        dir,
        &Call::SetMessageFlags {
            mid: m2,
            read: Some(true),
            flagged: None,
            answered: Some(true),
            forwarded: None,
            keywords: Some(vec!["Work".into()]),
        },
    )
    .unwrap();
    let (cn2, _) = c.folder_state(dir, INBOX).unwrap();
    assert!(cn2 > cn1, "{cn2} > {cn1}");
    // Only what changed after the first probe: m2, not m1.
    let changed = c.list_messages(dir, INBOX, 0, 10, cn1 + 1).unwrap();
    assert_eq!(changed.iter().map(|m| m.mid).collect::<Vec<_>>(), vec![m2]);
    assert!(c.list_messages(dir, INBOX, 0, 10, cn2 + 1).unwrap().is_empty());
    let s2 = &c.list_messages(dir, m1, 0, 10, 0).unwrap_or_default();
    assert!(s2.is_empty());
    let s = c.list_messages(dir, INBOX, m1, 10, 0).unwrap();
    assert_eq!(
        s[0].flags,
        ImapFlags {
            read: true,
            answered: true,
            keywords: vec!["Work".into()],
            ..Default::default()
        }
    );
    c.call(
        dir,
        &Call::SetMessageFlags {
            mid: m1,
            read: Some(false),
            flagged: Some(false),
            answered: Some(false),
            forwarded: Some(true),
            keywords: Some(vec![]),
        },
    )
    .unwrap();
    let s = c.list_messages(dir, INBOX, 0, 1, 0).unwrap();
    assert_eq!(
        s[0].flags,
        ImapFlags {
            forwarded: true,
            ..Default::default()
        }
    );
    // The store reader sees the read state the index set.
    let store = exmdbd::Store::open(&e.maildir, &Default::default()).unwrap();
    assert!(store.is_read(m2).unwrap());
    assert!(!store.is_read(m1).unwrap());

    // A message created through MAPI (no kept MIME) gets a generated rendition.
    let mut st = store;
    let mut content = exmdbd::MessageContent::default();
    content.set(
        gromox_mapi::tags::PR_SUBJECT,
        PropVal::Unicode("made in Outlook".into()),
    );
    content.set(PropTag(0x1000_001F), PropVal::Unicode("body text".into()));
    content.set(gromox_mapi::tags::PR_MESSAGE_CLASS, PropVal::Unicode("IPM.Note".into()));
    let m3 = st.create_message(INBOX, &content, false).unwrap();
    drop(st);
    let r = String::from_utf8(c.message_rfc822(dir, m3).unwrap()).unwrap();
    assert!(r.contains("Subject: made in Outlook\r\n"), "{r}");
    assert!(r.contains("body text"), "{r}");
    assert!(matches!(
        c.message_rfc822(dir, 0xdead),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
}

#[test]
fn copy_move_and_folders() {
    let e = env();
    let (_d, c) = start(&e);
    let dir = e.maildir.to_str().unwrap();
    let m = c.append_rfc822(dir, INBOX, MIME, &ImapFlags::default(), None).unwrap();
    let Response::Id(a) = c
        .call(
            dir,
            &Call::CreateFolder {
                parent: IPM_SUBTREE,
                name: "Archive".into(),
                class: Some("IPF.Note".into()),
            },
        )
        .unwrap()
    else {
        panic!()
    };
    let Response::Id(b) = c
        .call(
            dir,
            &Call::CreateFolder {
                parent: IPM_SUBTREE,
                name: "Other".into(),
                class: Some("IPF.Note".into()),
            },
        )
        .unwrap()
    else {
        panic!()
    };
    let copies = c.copy_messages(dir, &[m, 0xdead], a, true).unwrap();
    assert_eq!(copies.len(), 2);
    assert!(copies[0] != 0 && copies[0] != m);
    assert_eq!(copies[1], 0);
    assert_eq!(c.message_rfc822(dir, copies[0]).unwrap(), MIME);
    let moved = c.copy_messages(dir, &[m], b, false).unwrap();
    assert_eq!(c.folder_state(dir, INBOX).unwrap().1, 0);
    assert_eq!(c.list_messages(dir, b, 0, 10, 0).unwrap()[0].mid, moved[0]);

    // Rename, reparent, refuse clashes, cycles and default folders; delete.
    c.call(
        dir,
        &Call::MoveFolder {
            folder: b,
            parent: a,
            name: "Sub".into(),
        },
    )
    .unwrap();
    let folders = |c: &ExmdbClient| match c.call(dir, &Call::ListFolders).unwrap() {
        Response::Folders(f) => f,
        _ => panic!(),
    };
    let sub = folders(&c).into_iter().find(|f| f.id == b).unwrap();
    assert_eq!((sub.parent, sub.name.as_str()), (a, "Sub"));
    let refuse = |call: Call| match c.call(dir, &call) {
        Err(ExmdbError::Call(s, _)) => s,
        r => panic!("{r:?}"),
    };
    assert_eq!(
        refuse(Call::MoveFolder {
            folder: a,
            parent: b,
            name: "Archive".into()
        }),
        Status::BadRequest
    );
    assert_eq!(
        refuse(Call::MoveFolder {
            folder: b,
            parent: IPM_SUBTREE,
            name: "Archive".into()
        }),
        Status::NameConflict
    );
    assert_eq!(
        refuse(Call::MoveFolder {
            folder: INBOX,
            parent: a,
            name: "x".into()
        }),
        Status::AccessDenied
    );
    assert_eq!(
        refuse(Call::DeleteFolder {
            folder: INBOX,
            hard: true
        }),
        Status::AccessDenied
    );
    c.call(dir, &Call::DeleteFolder { folder: a, hard: true }).unwrap();
    let left: Vec<u64> = folders(&c).into_iter().map(|f| f.id).collect();
    assert!(!left.contains(&a) && !left.contains(&b), "subtree deleted: {left:?}");
    let _ = TaggedVal::new(PropTag(0), PropVal::Null);
}

/// `Unload` closes an open store (Gromox `unload_store`); the next call opens it again.
#[test]
fn unload_closes_and_the_next_call_reopens() {
    let e = env();
    let (_d, c) = start(&e);
    let dir = e.maildir.to_str().unwrap();
    assert_eq!(c.folder_state(dir, INBOX).unwrap(), (0, 0));
    assert!(matches!(c.call(dir, &Call::Unload).unwrap(), Response::Done));
    // Not open any more: still fine.
    assert!(matches!(c.call(dir, &Call::Unload).unwrap(), Response::Done));
    let m = c.append_rfc822(dir, INBOX, MIME, &ImapFlags::default(), None).unwrap();
    assert_eq!(c.message_rfc822(dir, m).unwrap(), MIME);
}

/// `gromox-mbop purge-softdelete -t AGE`: only messages soft-deleted longer ago go.
#[test]
fn purge_softdelete_with_an_age() {
    let e = env();
    let (_d, c) = start(&e);
    let dir = e.maildir.to_str().unwrap();
    let old = c.append_rfc822(dir, INBOX, MIME, &ImapFlags::default(), None).unwrap();
    let new = c.append_rfc822(dir, INBOX, MIME, &ImapFlags::default(), None).unwrap();
    c.call(
        dir,
        &Call::DeleteMessages {
            mids: vec![old, new],
            hard: false,
        },
    )
    .unwrap();
    let purge = |age| match c.call(dir, &Call::PurgeSoftdelOlder { age_secs: age }).unwrap() {
        Response::Count(n) => n,
        r => panic!("{r:?}"),
    };
    assert_eq!(purge(3600), 0, "both were deleted just now");
    // Pretend `old` was deleted two hours ago (PidTagDeletedOn, FILETIME).
    let two_hours_ago = gromox_mapi::time::now_filetime() - 2 * 3600 * 10_000_000;
    let store = exmdbd::Store::open(&e.maildir, &Default::default()).unwrap();
    store
        .conn()
        .execute(
            "UPDATE message_properties SET propval=?1 WHERE message_id=?2 AND proptag=?3",
            rusqlite::params![two_hours_ago as i64, old as i64, 0x668F_0040i64],
        )
        .unwrap();
    drop(store);
    assert_eq!(purge(3600), 1);
    assert_eq!(purge(0), 1, "the other one goes with age 0");
}
