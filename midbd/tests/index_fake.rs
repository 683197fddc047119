//! The index against an in-memory store: UIDs in delivery order and never reused, sync after
//! direct deliveries, flags mirrored into the store, \Deleted index-only, expunge/remove,
//! copy/move UID pairs, folders, UIDVALIDITY stable across reopen, modseqs.

use gromox_clients::midb::FlagMode;
use midbd::index::{escape_name, fid, unescape_name, Mailbox};
use midbd::source::{FakeSource, StoreSource};
use midbd::Error;

struct Env {
    _dir: tempfile::TempDir,
    md: String,
    src: FakeSource,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("exmdb")).unwrap();
    std::fs::write(dir.path().join("exmdb/exchange.sqlite3"), b"").unwrap();
    let md = dir.path().to_str().unwrap().to_string();
    let src = FakeSource::new();
    src.create_mailbox(&md);
    Env { _dir: dir, md, src }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn folders_listed_inbox_first_with_special_use() {
    let e = env();
    let mut m = Mailbox::open(&e.md).unwrap();
    let l = m.list(&e.src).unwrap();
    let names: Vec<&str> = l.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names[0], "INBOX");
    assert!(names.contains(&"Sent Items") && names.contains(&"Junk Email") && names.contains(&"Drafts"));
    // Calendar/Contacts are not mail folders; Outbox is not shown.
    assert!(!names.contains(&"Calendar") && !names.contains(&"Contacts") && !names.contains(&"Outbox"));
    let su = |n: &str| l.iter().find(|f| f.name == n).unwrap().special_use;
    assert_eq!(su("Sent Items"), Some("\\Sent"));
    assert_eq!(su("Deleted Items"), Some("\\Trash"));
    assert_eq!(su("Junk Email"), Some("\\Junk"));
    assert_eq!(su("Drafts"), Some("\\Drafts"));
    assert_eq!(su("INBOX"), None);
}

#[test]
fn deliveries_get_uids_in_order_and_vanished_are_dropped() {
    let e = env();
    let mut m = Mailbox::open(&e.md).unwrap();
    let a = e.src.deliver(&e.md, fid::INBOX, b"Subject: a\r\n\r\nA\r\n", 100);
    let b = e.src.deliver(&e.md, fid::INBOX, b"Subject: b\r\n\r\nBB\r\n", 200);
    let f = m.open_folder(&e.src, "inbox").unwrap();
    let st = m.status(f).unwrap();
    assert_eq!((st.messages, st.recent, st.unseen, st.uidnext), (2, 2, 2, 3));
    assert_eq!(st.size, 17 + 18);
    assert_eq!(st.first_unseen, Some(1));
    let meta = m.meta(f, &[(1, u32::MAX)], 0, 100).unwrap();
    assert_eq!(
        meta.iter()
            .map(|x| (x.uid, x.internal_date, x.size))
            .collect::<Vec<_>>(),
        vec![(1, 100, 17), (2, 200, 18)]
    );
    // Deleted in the store behind midbd's back, then a new delivery: UID 2 is never reused.
    e.src.delete_messages(&e.md, &[b]).unwrap();
    e.src.deliver(&e.md, fid::INBOX, b"Subject: c\r\n\r\nC\r\n", 300);
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    let uids = m.uids_after(f, 0, 100).unwrap();
    assert_eq!(uids, vec![1, 3]);
    assert_eq!(m.mid_of(f, 1).unwrap(), Some(a));
    assert_eq!(m.fetch_mime(&e.src, f, 1).unwrap().unwrap(), b"Subject: a\r\n\r\nA\r\n");
    assert_eq!(m.fetch_mime(&e.src, f, 2).unwrap(), None);
    // SELECT clears \Recent.
    assert_eq!(m.select_status(f).unwrap().recent, 2);
    assert_eq!(m.status(f).unwrap().recent, 0);
}

#[test]
fn no_rescan_when_folder_unchanged() {
    let e = env();
    let mut m = Mailbox::open(&e.md).unwrap();
    for i in 0..5 {
        e.src
            .deliver(&e.md, fid::INBOX, format!("Subject: {i}\r\n\r\n").as_bytes(), i);
    }
    m.open_folder(&e.src, "INBOX").unwrap();
    let before = e.src.calls();
    m.open_folder(&e.src, "INBOX").unwrap();
    assert_eq!(e.src.calls() - before, 1, "only the folder state probe");
    e.src.deliver(&e.md, fid::INBOX, b"new", 9);
    let before = e.src.calls();
    m.open_folder(&e.src, "INBOX").unwrap();
    // Probe, one page, the new message's rendition (for its size).
    assert_eq!(e.src.calls() - before, 3);
}

#[test]
fn flags_mirror_to_store_and_deleted_stays_local() {
    let e = env();
    let mut m = Mailbox::open(&e.md).unwrap();
    let a = e.src.deliver(&e.md, fid::INBOX, b"x", 1);
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    let hms0 = m.status(f).unwrap().highest_modseq;
    let r = m
        .set_flags(
            &e.src,
            f,
            &[(1, 1)],
            FlagMode::Add,
            &s(&["\\Seen", "\\Deleted", "$label1", "$Forwarded"]),
        )
        .unwrap();
    assert_eq!(r[0].flags, s(&["\\Seen", "\\Deleted", "$Forwarded", "$label1"]));
    assert!(r[0].modseq > hms0);
    let sum = e.src.summary(&e.md, a).unwrap();
    assert!(sum.read && sum.forwarded && !sum.flagged);
    assert_eq!(sum.keywords, s(&["$label1"]));
    // The store's change number moved; re-sync finds equal flags and does not bump modseq.
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    let st = m.status(f).unwrap();
    assert_eq!(st.highest_modseq, r[0].modseq);
    assert_eq!((st.deleted, st.unseen), (1, 0));
    assert_eq!(st.keywords, s(&["$Forwarded", "$label1"]));
    // A change made in the store (e.g. Outlook marks unread) shows up with a new modseq.
    e.src
        .set_flags(
            &e.md,
            a,
            &midbd::source::FlagChange {
                read: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    let (hi, ch) = m.changes_since(f, r[0].modseq).unwrap();
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].flags, s(&["\\Deleted", "$Forwarded", "$label1"]));
    assert!(hi > r[0].modseq);
    // Remove and Set modes.
    let r = m
        .set_flags(&e.src, f, &[(1, 1)], FlagMode::Remove, &s(&["$label1"]))
        .unwrap();
    assert_eq!(r[0].flags, s(&["\\Deleted", "$Forwarded"]));
    let r = m
        .set_flags(&e.src, f, &[(1, 1)], FlagMode::Set, &s(&["\\Flagged"]))
        .unwrap();
    assert_eq!(r[0].flags, s(&["\\Flagged"]));
    assert!(e.src.summary(&e.md, a).unwrap().flagged);
    assert!(matches!(
        m.set_flags(&e.src, f, &[(1, 1)], FlagMode::Add, &s(&["\\Bogus"])),
        Err(Error::BadRequest(_))
    ));
}

#[test]
fn expunge_and_remove_delete_from_store() {
    let e = env();
    let mut m = Mailbox::open(&e.md).unwrap();
    for i in 0..4 {
        e.src.deliver(&e.md, fid::INBOX, b"m", i);
    }
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    m.set_flags(&e.src, f, &[(2, 3)], FlagMode::Add, &s(&["\\Deleted"]))
        .unwrap();
    assert_eq!(m.remove(&e.src, f, &[(3, 4)], true).unwrap(), vec![3]);
    assert_eq!(m.remove(&e.src, f, &[(1, u32::MAX)], true).unwrap(), vec![2]);
    assert_eq!(e.src.count(&e.md, fid::INBOX), 2);
    assert_eq!(m.remove(&e.src, f, &[(1, 1)], false).unwrap(), vec![1]);
    assert_eq!(e.src.count(&e.md, fid::INBOX), 1);
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    assert_eq!(m.uids_after(f, 0, 10).unwrap(), vec![4]);
}

#[test]
fn copy_and_move_report_uid_pairs() {
    let e = env();
    let mut m = Mailbox::open(&e.md).unwrap();
    for i in 0..3 {
        e.src.deliver(&e.md, fid::INBOX, b"m", i);
    }
    m.create(&e.src, "Archive/2024").unwrap();
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    let d = m.open_folder(&e.src, "Archive/2024").unwrap();
    let v = m.status(d).unwrap().uidvalidity;
    m.set_flags(&e.src, f, &[(2, 2)], FlagMode::Add, &s(&["\\Seen"]))
        .unwrap();
    let (cv, pairs) = m.copy(&e.src, f, &[(1, 2)], d, false).unwrap();
    assert_eq!((cv, pairs), (v, vec![(1, 1), (2, 2)]));
    let (_, pairs) = m.copy(&e.src, f, &[(2, 3)], d, true).unwrap();
    assert_eq!(pairs, vec![(2, 3), (3, 4)]);
    assert_eq!(e.src.count(&e.md, fid::INBOX), 1);
    // The index agrees with the store after a re-sync, and the copies kept their flags.
    let d = m.open_folder(&e.src, "archive/2024").unwrap();
    let meta = m.meta(d, &[(1, 10)], 0, 10).unwrap();
    assert_eq!(meta.iter().map(|x| x.uid).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(meta[1].flags, s(&["\\Seen"]));
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    assert_eq!(m.uids_after(f, 0, 10).unwrap(), vec![1]);
}

#[test]
fn append_keeps_flags_and_date() {
    let e = env();
    let mut m = Mailbox::open(&e.md).unwrap();
    let f = m.open_folder(&e.src, "Drafts").unwrap();
    let (v, uid) = m
        .append(&e.src, f, &s(&["\\Draft", "\\Seen"]), 12345, b"Subject: d\r\n\r\n")
        .unwrap();
    assert_eq!(uid, 1);
    let f = m.open_folder(&e.src, "Drafts").unwrap();
    let st = m.status(f).unwrap();
    assert_eq!((st.uidvalidity, st.messages, st.uidnext), (v, 1, 2));
    let meta = m.meta(f, &[(1, 1)], 0, 1).unwrap();
    assert_eq!(meta[0].flags, s(&["\\Seen", "\\Draft"]));
    assert_eq!((meta[0].internal_date, meta[0].size), (12345, 14));
}

#[test]
fn folder_create_rename_delete() {
    let e = env();
    let mut m = Mailbox::open(&e.md).unwrap();
    m.create(&e.src, "A/B/C").unwrap();
    assert!(matches!(m.create(&e.src, "a/b"), Err(Error::Exists)));
    let c = m.open_folder(&e.src, "A/B/C").unwrap();
    let vc = m.status(c).unwrap().uidvalidity;
    m.rename(&e.src, "A", "Z/Y").unwrap();
    let names: Vec<String> = m.list(&e.src).unwrap().into_iter().map(|f| f.name).collect();
    assert!(
        names.contains(&"Z/Y/B/C".to_string()) && !names.iter().any(|n| n.starts_with("A")),
        "{names:?}"
    );
    let c2 = m.open_folder(&e.src, "Z/Y/B/C").unwrap();
    assert_eq!((c2, m.status(c2).unwrap().uidvalidity), (c, vc));
    assert!(matches!(m.rename(&e.src, "Z", "Z/Y/Q"), Err(Error::Denied(_))));
    assert!(matches!(m.delete(&e.src, "Z/Y"), Err(Error::Denied(_))));
    assert!(matches!(m.delete(&e.src, "INBOX"), Err(Error::Denied(_))));
    assert!(matches!(m.delete(&e.src, "Sent Items"), Err(Error::Denied(_))));
    m.delete(&e.src, "Z/Y/B/C").unwrap();
    assert!(matches!(m.open_folder(&e.src, "Z/Y/B/C"), Err(Error::NoFolder)));
    // Re-created: a new UIDVALIDITY.
    m.create(&e.src, "Z/Y/B/C").unwrap();
    let c3 = m.open_folder(&e.src, "Z/Y/B/C").unwrap();
    assert_ne!(m.status(c3).unwrap().uidvalidity, vc);
    // Subscriptions.
    m.subscribe(&e.src, "Z/Y", false).unwrap();
    let l = m.list(&e.src).unwrap();
    let zy = l.iter().find(|f| f.name == "Z/Y").unwrap();
    assert!(!zy.subscribed && zy.has_children);
}

#[test]
fn slash_in_store_names_is_escaped() {
    assert_eq!(escape_name("a/b 50%"), "a%2Fb 50%25");
    assert_eq!(unescape_name("a%2Fb 50%25"), "a/b 50%");
    assert_eq!(unescape_name("100%"), "100%");
    let e = env();
    let mut m = Mailbox::open(&e.md).unwrap();
    m.create(&e.src, "x%2Fy").unwrap();
    let names: Vec<String> = m.list(&e.src).unwrap().into_iter().map(|f| f.name).collect();
    assert!(names.contains(&"x%2Fy".to_string()));
    let st = e.src.list_folders(&e.md).unwrap();
    assert!(st.iter().any(|f| f.name == "x/y"), "store name has the slash");
}

#[test]
fn uids_and_uidvalidity_survive_reopen_and_rebuild_changes_validity() {
    let e = env();
    let (v, f) = {
        let mut m = Mailbox::open(&e.md).unwrap();
        e.src.deliver(&e.md, fid::INBOX, b"1", 1);
        e.src.deliver(&e.md, fid::INBOX, b"2", 2);
        let f = m.open_folder(&e.src, "INBOX").unwrap();
        m.remove(&e.src, f, &[(1, 1)], false).unwrap();
        (m.status(f).unwrap().uidvalidity, f)
    };
    let mut m = Mailbox::open(&e.md).unwrap();
    e.src.deliver(&e.md, fid::INBOX, b"3", 3);
    let f2 = m.open_folder(&e.src, "INBOX").unwrap();
    assert_eq!(f2, f);
    assert_eq!(m.status(f).unwrap().uidvalidity, v);
    assert_eq!(m.uids_after(f, 0, 10).unwrap(), vec![2, 3]);
    m.rebuild(&e.src).unwrap();
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    assert_eq!(m.uids_after(f, 0, 10).unwrap(), vec![1, 2]);
    assert!(m.status(f).unwrap().uidvalidity > v);
}

#[test]
fn idle_mailboxes_are_closed() {
    let a = env();
    let b = env();
    let src = std::sync::Arc::new(FakeSource::new());
    src.create_mailbox(&a.md);
    src.create_mailbox(&b.md);
    let svc = midbd::Service::new(src, std::time::Duration::ZERO);
    drop(svc.mailbox(&a.md).unwrap());
    assert_eq!(svc.open_count(), 1);
    // Opening another closes the idle one; one in use stays open.
    let held = svc.mailbox(&b.md).unwrap();
    assert_eq!(svc.open_count(), 1);
    drop(svc.mailbox(&a.md).unwrap());
    assert_eq!(svc.open_count(), 2);
    drop(held);
    assert!(matches!(svc.mailbox("/no/such/dir"), Err(Error::NoMailbox)));
    assert!(matches!(svc.mailbox(&format!("{}/../x", a.md)), Err(Error::NoMailbox)));
}

#[test]
fn hidden_folders_are_not_listed() {
    let e = env();
    let mut m = Mailbox::open(&e.md).unwrap();
    m.create(&e.src, "Secret/Inner").unwrap();
    m.create(&e.src, "Visible").unwrap();
    let secret = e
        .src
        .list_folders(&e.md)
        .unwrap()
        .into_iter()
        .find(|f| f.name == "Secret")
        .unwrap()
        .id;
    e.src.set_hidden(&e.md, secret);
    let names: Vec<String> = m.list(&e.src).unwrap().into_iter().map(|f| f.name).collect();
    assert!(names.contains(&"Visible".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("Secret")), "{names:?}");
    assert!(matches!(m.open_folder(&e.src, "Secret/Inner"), Err(Error::NoFolder)));
}

#[test]
fn incremental_sync_sees_flag_changes_additions_and_removals() {
    use midbd::source::FlagChange;
    let e = env();
    let mut m = Mailbox::open(&e.md).unwrap();
    let a = e.src.deliver(&e.md, fid::INBOX, b"Subject: a\r\n\r\nA\r\n", 100);
    let b = e.src.deliver(&e.md, fid::INBOX, b"Subject: b\r\n\r\nB\r\n", 200);
    e.src.deliver(&e.md, fid::INBOX, b"Subject: c\r\n\r\nC\r\n", 300);
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    assert_eq!(m.uids_after(f, 0, 100).unwrap(), vec![1, 2, 3]);
    let hms = m.select_status(f).unwrap().highest_modseq;

    // A flag change only: the counts agree, the changed message is picked up.
    e.src
        .set_flags(
            &e.md,
            b,
            &FlagChange {
                read: Some(true),
                ..FlagChange::default()
            },
        )
        .unwrap();
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    let meta = m.meta(f, &[(2, 2)], 0, 10).unwrap();
    assert!(meta[0].flags.iter().any(|x| x == "\\Seen"), "{:?}", meta[0].flags);
    assert!(meta[0].modseq > hms);

    // One removed and one added in the same interval (the store count is unchanged).
    e.src.delete_messages(&e.md, &[a]).unwrap();
    e.src.deliver(&e.md, fid::INBOX, b"Subject: d\r\n\r\nD\r\n", 400);
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    assert_eq!(m.uids_after(f, 0, 100).unwrap(), vec![2, 3, 4]);
    assert_eq!(m.vanished_since(f, hms).unwrap(), vec![1]);

    // Nothing changed: nothing moves.
    let f = m.open_folder(&e.src, "INBOX").unwrap();
    assert_eq!(m.uids_after(f, 0, 100).unwrap(), vec![2, 3, 4]);
}
