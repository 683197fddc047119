//! Content tables over a real store: restriction, sort, paging both ways, seek, bookmarks,
//! find row, reload; computed columns (read state, attachments) and sub-object restrictions.

use exmdbd::table::{ContentTable, Origin, SortKey, TableSpec};
use exmdbd::{AttachmentContent, MessageContent, Store};
use gromox_mapi::restriction::{FuzzyLevel, RelOp, Restriction, SubObject, FL_IGNORECASE};
use gromox_mapi::tags::{PR_HASATTACH, PR_MESSAGE_DELIVERY_TIME, PR_MESSAGE_FLAGS, PR_MID, PR_SUBJECT};
use gromox_mapi::{PropTag, PropVal, TaggedVal};

const INBOX: u64 = 0x0d;
const PR_SMTP_ADDRESS: PropTag = PropTag(0x39FE_001F);
const PR_RECIPIENT_TYPE: PropTag = PropTag(0x0C15_0003);
const PR_ATTACH_LONG_FILENAME: PropTag = PropTag(0x3707_001F);

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("u");
    let s = Store::create_private(&md, "u@example.org", "en", false, &Default::default()).unwrap();
    (dir, s)
}

/// Message `i`: subject "Report i" for even i, "Note i" for odd; delivered at minute i; a
/// recipient; an attachment for multiples of 3.
fn add(s: &mut Store, i: u64) -> u64 {
    let mut c = MessageContent::default();
    let subject = if i.is_multiple_of(2) {
        format!("Report {i}")
    } else {
        format!("Note {i}")
    };
    c.set(PR_SUBJECT, PropVal::Unicode(subject));
    c.set(
        PR_MESSAGE_DELIVERY_TIME,
        PropVal::SysTime(133_000_000_000_000_000 + i * 600_000_000),
    );
    c.set(PR_MESSAGE_FLAGS, PropVal::I4(0));
    c.recipients.push(vec![
        TaggedVal::new(PR_RECIPIENT_TYPE, PropVal::I4(1)),
        TaggedVal::new(PR_SMTP_ADDRESS, PropVal::Unicode(format!("rcpt{}@example.org", i % 4))),
    ]);
    if i.is_multiple_of(3) {
        c.attachments.push(AttachmentContent {
            props: vec![TaggedVal::new(
                PR_ATTACH_LONG_FILENAME,
                PropVal::Unicode(format!("f{i}.txt")),
            )],
            embedded: None,
        });
    }
    s.create_message(INBOX, &c, false).unwrap()
}

fn subjects(t: &mut ContentTable, s: &Store, n: usize, forward: bool) -> Vec<String> {
    t.query_rows(s, &[PR_SUBJECT], n, forward, false)
        .unwrap()
        .into_iter()
        .map(|r| match &r[0] {
            Some(PropVal::Unicode(x)) => x.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn report_restriction() -> Restriction {
    Restriction::Content {
        level: FuzzyLevel::Substring,
        flags: FL_IGNORECASE,
        tag: PR_SUBJECT,
        value: TaggedVal::new(PR_SUBJECT, PropVal::Unicode("report".into())),
    }
}

#[test]
fn restricted_sorted_paged_both_ways() {
    let (_d, mut s) = store();
    for i in 0..20 {
        add(&mut s, i);
    }
    let spec = TableSpec {
        folder: INBOX,
        restriction: Some(report_restriction()),
        sort: vec![SortKey {
            tag: PR_MESSAGE_DELIVERY_TIME,
            descending: true,
        }],
        ..Default::default()
    };
    let mut t = ContentTable::load(&s, spec).unwrap();
    assert_eq!(t.row_count(), 10);
    assert_eq!(subjects(&mut t, &s, 3, true), ["Report 18", "Report 16", "Report 14"]);
    assert_eq!(t.position(), 3);
    // Backward from the cursor: the rows before it, nearest first.
    assert_eq!(subjects(&mut t, &s, 2, false), ["Report 14", "Report 16"]);
    assert_eq!(t.position(), 1);
    // Seek from the end, past the beginning (clamped), fractions.
    assert_eq!(t.seek(Origin::End, -2), -2);
    assert_eq!(subjects(&mut t, &s, 5, true), ["Report 2", "Report 0"]);
    assert_eq!(t.seek(Origin::Current, -100), -10);
    t.seek_fraction(1, 2);
    assert_eq!(t.position(), 5);
    assert_eq!(subjects(&mut t, &s, 1, true), ["Report 8"]);
}

#[test]
fn bookmarks_find_row_and_reload() {
    let (_d, mut s) = store();
    let mids: Vec<u64> = (0..10).map(|i| add(&mut s, i)).collect();
    let spec = TableSpec {
        folder: INBOX,
        sort: vec![SortKey {
            tag: PR_SUBJECT,
            descending: false,
        }],
        ..Default::default()
    };
    let mut t = ContentTable::load(&s, spec).unwrap();
    // Subjects sort case-insensitively: "Note 1" … "Note 9", "Report 0" … "Report 8".
    t.seek(Origin::Beginning, 5);
    let b = t.create_bookmark();
    assert_eq!(subjects(&mut t, &s, 1, true), ["Report 0"]);
    t.seek(Origin::Beginning, 0);
    assert_eq!(t.seek_bookmark(b, 1), Some((false, 1)));
    assert_eq!(subjects(&mut t, &s, 1, true), ["Report 2"]);
    assert_eq!(t.seek_bookmark(99, 0), None);
    // Find row from the beginning: first "Note" with 7 in it.
    t.seek(Origin::Beginning, 0);
    let r = Restriction::Content {
        level: FuzzyLevel::Substring,
        flags: 0,
        tag: PR_SUBJECT,
        value: TaggedVal::new(PR_SUBJECT, PropVal::Unicode("7".into())),
    };
    assert_eq!(t.find_row(&s, &r, true).unwrap(), Some(3));
    assert_eq!(subjects(&mut t, &s, 1, false), ["Note 5"]);
    // The bookmarked message is deleted: seeking to it lands on the next row and says so.
    s.delete_messages(&[mids[0]], true).unwrap();
    add(&mut s, 10);
    t.reload(&s).unwrap();
    assert_eq!(t.row_count(), 10);
    let (gone, _) = t.seek_bookmark(b, 0).unwrap();
    assert!(gone);
    assert!(t.free_bookmark(b));
    assert!(!t.free_bookmark(b));
}

#[test]
fn computed_columns_and_sub_object_restrictions() {
    let (_d, mut s) = store();
    let mids: Vec<u64> = (0..12).map(|i| add(&mut s, i)).collect();
    for &m in &mids[..4] {
        s.set_read(m, true).unwrap();
    }
    // "Unread with attachment" (the search folder criteria of the issue).
    let unread_with_attachment = Restriction::And(vec![
        Restriction::BitMask {
            nonzero: false,
            tag: PR_MESSAGE_FLAGS,
            mask: 0x1,
        },
        Restriction::Property {
            op: RelOp::Eq,
            tag: PR_HASATTACH,
            value: TaggedVal::new(PR_HASATTACH, PropVal::Boolean(true)),
        },
    ]);
    let t = ContentTable::load(
        &s,
        TableSpec {
            folder: INBOX,
            restriction: Some(unread_with_attachment),
            ..Default::default()
        },
    )
    .unwrap();
    // Attachments on 0, 3, 6, 9; 0 and 3 are read.
    assert_eq!(t.mids(), &[mids[6], mids[9]]);

    let to_rcpt1 = Restriction::SubObject {
        sub: SubObject::Recipients,
        restriction: Box::new(Restriction::Content {
            level: FuzzyLevel::Prefix,
            flags: FL_IGNORECASE,
            tag: PR_SMTP_ADDRESS,
            value: TaggedVal::new(PR_SMTP_ADDRESS, PropVal::Unicode("RCPT1@".into())),
        }),
    };
    let mut t = ContentTable::load(
        &s,
        TableSpec {
            folder: INBOX,
            restriction: Some(to_rcpt1),
            sort: vec![SortKey {
                tag: PR_MID,
                descending: true,
            }],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(t.mids(), &[mids[9], mids[5], mids[1]]);
    let rows = t
        .query_rows(&s, &[PR_MID, PR_HASATTACH, PR_MESSAGE_FLAGS], 1, true, true)
        .unwrap();
    assert_eq!(
        rows[0],
        vec![
            Some(PropVal::I8(mids[9] as i64)),
            Some(PropVal::Boolean(true)),
            Some(PropVal::I4(0x10))
        ]
    );
    assert_eq!(t.position(), 0, "no_advance keeps the cursor");
}

#[test]
fn empty_and_associated_tables() {
    let (_d, mut s) = store();
    add(&mut s, 1);
    let mut t = ContentTable::load(
        &s,
        TableSpec {
            folder: INBOX,
            associated: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(t.row_count(), 0);
    assert!(t.query_rows(&s, &[PR_SUBJECT], 10, true, false).unwrap().is_empty());
    assert_eq!(t.seek(Origin::Current, 5), 0);
    t.seek_fraction(3, 2);
    assert_eq!(t.position(), 0);
}

#[test]
fn hierarchy_tables_one_level_recursive_sorted_restricted() {
    use exmdbd::table::{HierarchyTable, PR_DEPTH};
    use gromox_mapi::tags::PR_DISPLAY_NAME;
    let (_d, mut s) = store();
    let top = s.create_folder(0x09, "Top", Some("IPF.Note")).unwrap();
    let b = s.create_folder(top, "b", Some("IPF.Note")).unwrap();
    let a = s.create_folder(top, "a", Some("IPF.Note")).unwrap();
    let a1 = s.create_folder(a, "a1", Some("IPF.Note")).unwrap();
    let deep = s.create_folder(a1, "deep", Some("IPF.Note")).unwrap();
    let gone = s.create_folder(top, "gone", Some("IPF.Note")).unwrap();
    s.delete_folder(gone, false).unwrap();
    let ids = |t: &HierarchyTable| t.rows().to_vec();
    let t = HierarchyTable::load(&s, top, false, None, &[]).unwrap();
    assert_eq!(ids(&t), vec![(b, 0), (a, 0)], "one level, soft-deleted left out");
    let t = HierarchyTable::load(&s, top, true, None, &[]).unwrap();
    assert_eq!(ids(&t), vec![(b, 0), (a, 0), (a1, 1), (deep, 2)], "depth-first");
    let by_name = [SortKey {
        tag: PR_DISPLAY_NAME,
        descending: false,
    }];
    let mut t = HierarchyTable::load(&s, top, true, None, &by_name).unwrap();
    let rows = t.query_rows(&s, &[PR_DISPLAY_NAME, PR_DEPTH], 10, true, false).unwrap();
    let names: Vec<String> = rows
        .iter()
        .map(|r| r[0].as_ref().and_then(|v| v.as_str()).unwrap_or("").to_string())
        .collect();
    assert_eq!(names, ["a", "a1", "b", "deep"]);
    assert_eq!(rows[3][1], Some(PropVal::I4(2)));
    let level0 = Restriction::Property {
        op: RelOp::Eq,
        tag: PR_DEPTH,
        value: TaggedVal::new(PR_DEPTH, PropVal::I4(0)),
    };
    let t = HierarchyTable::load(&s, top, true, Some(&level0), &[]).unwrap();
    assert_eq!(t.row_count(), 2);
}
