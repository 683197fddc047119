//! Search folders (MS-OXOSRCH, MS-OXCFOLD RopSetSearchCriteria/RopGetSearchCriteria): criteria
//! in Gromox's layout, background population with completion, results kept current as messages
//! are delivered, changed, moved and deleted, content tables over a search folder, restarts.

use exmdbd::layout::fid;
use exmdbd::search::{request, status};
use exmdbd::table::{ContentTable, TableSpec};
use exmdbd::{AttachmentContent, Error, MessageContent, Store, StoreNotice};
use gromox_mapi::restriction::{RelOp, Restriction};
use gromox_mapi::tags::{PR_HASATTACH, PR_MESSAGE_CLASS, PR_READ, PR_SUBJECT};
use gromox_mapi::{PropTag, PropVal, TaggedVal};
use std::path::Path;

const PR_ATTACH_LONG_FILENAME: PropTag = PropTag(0x3707_001F);

fn open(md: &Path) -> Store {
    Store::open(md, &Default::default()).unwrap()
}

fn mail(subject: &str, attachment: bool) -> MessageContent {
    let mut c = MessageContent::default();
    c.set(PR_MESSAGE_CLASS, PropVal::Unicode("IPM.Note".into()));
    c.set(PR_SUBJECT, PropVal::Unicode(subject.into()));
    if attachment {
        c.attachments.push(AttachmentContent {
            props: vec![TaggedVal::new(
                PR_ATTACH_LONG_FILENAME,
                PropVal::Unicode("a.pdf".into()),
            )],
            embedded: None,
        });
    }
    c
}

/// "Unread with attachment".
fn unread_with_attachment() -> Restriction {
    Restriction::And(vec![
        Restriction::Property {
            op: RelOp::Eq,
            tag: PR_READ,
            value: TaggedVal::new(PR_READ, PropVal::Boolean(false)),
        },
        Restriction::Property {
            op: RelOp::Eq,
            tag: PR_HASATTACH,
            value: TaggedVal::new(PR_HASATTACH, PropVal::Boolean(true)),
        },
    ])
}

/// Subjects the search folder's content table lists, sorted.
fn listed(s: &Store, folder: u64) -> Vec<String> {
    let mut t = ContentTable::load(
        s,
        TableSpec {
            folder,
            ..Default::default()
        },
    )
    .unwrap();
    let n = t.row_count();
    let mut v: Vec<String> = t
        .query_rows(s, &[PR_SUBJECT], n, true, false)
        .unwrap()
        .into_iter()
        .map(|r| match &r[0] {
            Some(PropVal::Unicode(x)) => x.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    v.sort();
    v
}

fn run_to_completion(s: &mut Store) -> usize {
    let mut steps = 0;
    loop {
        let p = s.search_step(3).unwrap();
        steps += 1;
        assert!(steps < 10_000);
        if !p.more {
            return steps;
        }
    }
}

#[test]
fn unread_with_attachment_over_inbox_and_sent_items() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("u");
    let mut s = Store::create_private(&md, "u@example.org", "en", false, &Default::default()).unwrap();
    // Existing mail: matching and not, in scope and out of it.
    let a = s
        .create_message(fid::INBOX, &mail("inbox match A", true), false)
        .unwrap();
    s.create_message(fid::INBOX, &mail("inbox no attachment", false), false)
        .unwrap();
    let read = s.create_message(fid::INBOX, &mail("inbox read", true), false).unwrap();
    s.set_read(read, true).unwrap();
    let sent = s
        .create_message(fid::SENT_ITEMS, &mail("sent match", true), false)
        .unwrap();
    s.create_message(fid::DRAFT, &mail("draft out of scope", true), false)
        .unwrap();
    for i in 0..10 {
        s.create_message(fid::INBOX, &mail(&format!("inbox bulk {i:02}"), i % 2 == 0), false)
            .unwrap();
    }

    let sf = s.create_search_folder(fid::FINDER, "Unread with attachments").unwrap();
    assert!(s.is_search_folder(sf).unwrap());
    assert!(!s.is_search_folder(fid::INBOX).unwrap());
    // A new search folder has no criteria yet; the first call needs both parts.
    assert_eq!(s.get_search_criteria(sf).unwrap().restriction, None);
    assert!(matches!(
        s.set_search_criteria(sf, None, Some(&[fid::INBOX]), request::RESTART_SEARCH),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        s.set_search_criteria(fid::INBOX, Some(&unread_with_attachment()), Some(&[fid::INBOX]), 0),
        Err(Error::InvalidArgument(_))
    ));

    let notices = s.notifier().subscribe_notices();
    s.set_search_criteria(
        sf,
        Some(&unread_with_attachment()),
        Some(&[fid::INBOX, fid::SENT_ITEMS]),
        request::RESTART_SEARCH | request::SHALLOW_SEARCH,
    )
    .unwrap();
    let c = s.get_search_criteria(sf).unwrap();
    assert_eq!(c.restriction, Some(unread_with_attachment()));
    assert_eq!(c.scope, vec![fid::INBOX, fid::SENT_ITEMS]);
    assert_eq!(c.status, status::SEARCH_RUNNING | status::SEARCH_REBUILD);
    // Stored in Gromox's columns: the MS-OXCDATA restriction packet and the scope rows.
    let (is_search, flags, blob): (i64, i64, Vec<u8>) = s
        .conn()
        .query_row(
            "SELECT is_search, search_flags, search_criteria FROM folders WHERE folder_id=?1",
            [sf as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((is_search, flags as u32), (1, c.status));
    assert_eq!(
        gromox_mapi::restriction::decode(&blob, false).unwrap(),
        unread_with_attachment()
    );
    assert!(notices.try_recv().is_err(), "not complete before the population ran");

    // Population in small steps (3 messages each), to completion.
    assert!(run_to_completion(&mut s) > 3);
    assert_eq!(notices.try_recv().unwrap(), StoreNotice::SearchComplete { folder: sf });
    let c = s.get_search_criteria(sf).unwrap();
    assert_eq!(c.status, status::SEARCH_RUNNING | status::SEARCH_COMPLETE);
    let expected = [
        "inbox bulk 00",
        "inbox bulk 02",
        "inbox bulk 04",
        "inbox bulk 06",
        "inbox bulk 08",
        "inbox match A",
        "sent match",
    ];
    assert_eq!(listed(&s, sf), expected);

    // A newly delivered matching message shows without a rebuild (no search_step needed).
    let new = s
        .deliver_message(Some(fid::INBOX), &mail("new delivery", true), None)
        .unwrap()
        .message;
    assert!(listed(&s, sf).contains(&"new delivery".to_string()));
    assert_eq!(s.get_search_criteria(sf).unwrap().status & status::SEARCH_REBUILD, 0);
    // A non-matching delivery does not.
    s.deliver_message(Some(fid::INBOX), &mail("new plain", false), None)
        .unwrap();
    assert_eq!(listed(&s, sf).len(), expected.len() + 1);

    // Marking it read removes it; unread again brings it back.
    s.set_read(new, true).unwrap();
    assert!(!listed(&s, sf).contains(&"new delivery".to_string()));
    s.set_read(new, false).unwrap();
    assert!(listed(&s, sf).contains(&"new delivery".to_string()));

    // Moved out of scope: gone; moved back in: there again (under its new id).
    let moved = s.move_message(sent, fid::DRAFT).unwrap();
    assert!(!listed(&s, sf).contains(&"sent match".to_string()));
    let back = s.move_message(moved, fid::INBOX).unwrap();
    assert!(listed(&s, sf).contains(&"sent match".to_string()));
    assert!(s.search_results(sf).unwrap().contains(&back));
    // A property change that stops it matching (the attachment goes), and soft deletion.
    let mut inst = s.open_instance(a).unwrap();
    inst.content.attachments.clear();
    s.flush_instance(&mut inst).unwrap();
    assert!(!listed(&s, sf).contains(&"inbox match A".to_string()));
    s.delete_messages(&[new], false).unwrap();
    assert!(!listed(&s, sf).contains(&"new delivery".to_string()));

    let before = listed(&s, sf);
    assert_eq!(before.len(), expected.len() - 1);
    // Queued changes committed but not yet applied survive a restart: change, close, reopen.
    s.set_read(back, true).unwrap();
    drop(s);
    let mut s = open(&md);
    let after = listed(&s, sf);
    assert_eq!(after.len(), before.len() - 1);
    assert!(!after.contains(&"sent match".to_string()));
    assert_eq!(
        s.get_search_criteria(sf).unwrap().status,
        status::SEARCH_RUNNING | status::SEARCH_COMPLETE
    );
    // And the reopened store keeps following changes.
    s.deliver_message(Some(fid::SENT_ITEMS), &mail("after restart", true), None)
        .unwrap();
    assert!(listed(&s, sf).contains(&"after restart".to_string()));
    assert!(!s.search_step(100).unwrap().more);
    // Idle stores cost the maintenance thread nothing; a write gives it work again.
    assert!(!s.has_search_work());
    s.create_message(fid::INBOX, &mail("late", false), false).unwrap();
    assert!(s.has_search_work());
    assert_eq!(s.search_step(100).unwrap().evaluated, 1);
    assert!(!s.has_search_work());
    // The store with its search tables (and the added change queue) passes the check.
    drop(s);
    let rep = exmdbd::mbck::check(&md, false).unwrap();
    assert!(rep.ok(), "{:?}", rep.errors);
}

#[test]
fn recursive_scope_restart_mid_population_stop_and_static() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("u");
    let mut s = Store::create_private(&md, "u@example.org", "en", false, &Default::default()).unwrap();
    let sub = s.create_folder(fid::INBOX, "Projects", None).unwrap();
    let subsub = s.create_folder(sub, "2026", None).unwrap();
    for (f, n) in [(fid::INBOX, "top"), (sub, "sub"), (subsub, "subsub")] {
        s.create_message(f, &mail(n, true), false).unwrap();
    }
    let shallow = s.create_search_folder(fid::FINDER, "Shallow").unwrap();
    let deep = s.create_search_folder(fid::FINDER, "Deep").unwrap();
    assert!(matches!(
        s.create_search_folder(fid::FINDER, "Deep"),
        Err(Error::NameConflict(_))
    ));
    assert!(s.create_search_folder(deep, "child").is_err());
    // A search folder holds no messages of its own.
    assert!(s.create_message(deep, &mail("x", false), false).is_err());
    assert!(s.deliver_message(Some(deep), &mail("x", false), None).is_err());
    // A search folder cannot be searched.
    assert!(s
        .set_search_criteria(shallow, Some(&unread_with_attachment()), Some(&[deep]), 0)
        .is_err());
    s.set_search_criteria(shallow, Some(&unread_with_attachment()), Some(&[fid::INBOX]), 0)
        .unwrap();
    s.set_search_criteria(
        deep,
        Some(&unread_with_attachment()),
        Some(&[fid::INBOX]),
        request::RECURSIVE_SEARCH | request::RESTART_SEARCH,
    )
    .unwrap();
    assert_ne!(
        s.get_search_criteria(deep).unwrap().status & status::SEARCH_RECURSIVE,
        0
    );
    // Closed before any population ran: the searches start over when the store is opened.
    drop(s);
    let mut s = open(&md);
    assert_ne!(s.get_search_criteria(deep).unwrap().status & status::SEARCH_REBUILD, 0);
    assert!(s.has_search_work());
    run_to_completion(&mut s);
    assert_eq!(listed(&s, shallow), ["top"]);
    assert_eq!(listed(&s, deep), ["sub", "subsub", "top"]);
    // The hierarchy table counts what a search folder lists.
    let mut h = exmdbd::table::HierarchyTable::load(&s, fid::FINDER, false, None, &[]).unwrap();
    let rows = h
        .query_rows(
            &s,
            &[exmdbd::table::PR_FOLDER_ID, exmdbd::table::PR_CONTENT_COUNT],
            10,
            true,
            false,
        )
        .unwrap();
    assert!(rows.contains(&vec![Some(PropVal::I8(deep as i64)), Some(PropVal::I4(3))]));
    // A folder created below the scope later is searched by the recursive search only.
    let later = s.create_folder(subsub, "later", None).unwrap();
    s.create_message(later, &mail("later", true), false).unwrap();
    assert_eq!(listed(&s, shallow), ["top"]);
    assert_eq!(listed(&s, deep), ["later", "sub", "subsub", "top"]);

    // Stopped: results stay and no longer follow changes; restarted: rebuilt.
    s.set_search_criteria(shallow, None, None, request::STOP_SEARCH)
        .unwrap();
    assert_eq!(
        s.get_search_criteria(shallow).unwrap().status & status::SEARCH_RUNNING,
        0
    );
    s.create_message(fid::INBOX, &mail("while stopped", true), false)
        .unwrap();
    assert_eq!(listed(&s, shallow), ["top"]);
    s.set_search_criteria(shallow, None, None, request::RESTART_SEARCH)
        .unwrap();
    run_to_completion(&mut s);
    assert_eq!(listed(&s, shallow), ["top", "while stopped"]);

    // Static: populated once, then left alone.
    let stat = s.create_search_folder(fid::FINDER, "Static").unwrap();
    s.set_search_criteria(
        stat,
        Some(&unread_with_attachment()),
        Some(&[fid::INBOX]),
        request::STATIC_SEARCH | request::RESTART_SEARCH,
    )
    .unwrap();
    run_to_completion(&mut s);
    assert_ne!(s.get_search_criteria(stat).unwrap().status & status::SEARCH_STATIC, 0);
    assert_eq!(listed(&s, stat), ["top", "while stopped"]);
    s.create_message(fid::INBOX, &mail("after static", true), false)
        .unwrap();
    assert_eq!(listed(&s, stat), ["top", "while stopped"]);
    assert!(listed(&s, shallow).contains(&"after static".to_string()));

    // New criteria replace the results.
    let subject_is_top = Restriction::Property {
        op: RelOp::Eq,
        tag: PR_SUBJECT,
        value: TaggedVal::new(PR_SUBJECT, PropVal::Unicode("top".into())),
    };
    s.set_search_criteria(deep, Some(&subject_is_top), None, 0).unwrap();
    run_to_completion(&mut s);
    assert_eq!(listed(&s, deep), ["top"]);
    assert_eq!(s.get_search_criteria(deep).unwrap().scope, vec![fid::INBOX]);

    // Deleting a search folder ends its search.
    s.delete_folder(deep, true).unwrap();
    assert!(matches!(s.get_search_criteria(deep), Err(Error::NotFound(_))));
    s.create_message(fid::INBOX, &mail("after delete", true), false)
        .unwrap();
    assert!(listed(&s, shallow).contains(&"after delete".to_string()));
}

#[test]
fn public_stores_have_no_search_folders() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::create_public(&dir.path().join("p"), "example.org", false, &Default::default()).unwrap();
    assert!(!s.is_search_folder(1).unwrap());
    assert!(s.create_search_folder(1, "x").is_err());
    assert!(!s.has_search_work());
}
