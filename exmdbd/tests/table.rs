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

/// A row as (row type, depth, subject or category value, count, unread).
type ViewRow = (i32, i32, String, Option<i32>, Option<i32>);

fn view(t: &mut ContentTable, s: &Store, cat_tag: PropTag) -> Vec<ViewRow> {
    use exmdbd::table::{PR_DEPTH, PR_ROW_TYPE};
    use gromox_mapi::tags::{PR_CONTENT_COUNT, PR_CONTENT_UNREAD};
    t.seek(Origin::Beginning, 0);
    let n = t.row_count();
    let rows = t
        .query_rows(
            s,
            &[
                PR_ROW_TYPE,
                PR_DEPTH,
                PR_SUBJECT,
                cat_tag,
                PR_CONTENT_COUNT,
                PR_CONTENT_UNREAD,
            ],
            n,
            true,
            false,
        )
        .unwrap();
    rows.into_iter()
        .map(|r| {
            let int = |v: &Option<PropVal>| v.as_ref().and_then(|v| v.as_i64()).map(|x| x as i32);
            let text = |v: &Option<PropVal>| v.as_ref().and_then(|v| v.as_str()).map(str::to_owned);
            let kind = int(&r[0]).unwrap();
            let label = if kind == 1 { text(&r[2]) } else { text(&r[3]) }.unwrap_or_default();
            (kind, int(&r[1]).unwrap(), label, int(&r[4]), int(&r[5]))
        })
        .collect()
}

/// Inbox categorized by PR_SENDER_NAME, newest first in each category, all expanded (Outlook's
/// "arrange by From").
fn by_sender_newest_first() -> TableSpec {
    TableSpec {
        folder: INBOX,
        sort: vec![
            SortKey {
                tag: PropTag(0x0C1A_001F),
                descending: false,
            },
            SortKey {
                tag: PR_MESSAGE_DELIVERY_TIME,
                descending: true,
            },
        ],
        categories: 1,
        expanded: 1,
        ..Default::default()
    }
}

#[test]
fn categorized_view_groups_counts_expands_collapses_and_restores_state() {
    use exmdbd::table::{Row, PR_INST_ID, TBL_COLLAPSED_CATEGORY, TBL_EXPANDED_CATEGORY, TBL_LEAF_ROW};
    let (_d, mut s) = store();
    const PR_SENDER_NAME: PropTag = PropTag(0x0C1A_001F);
    // Senders: "Ann" gets messages 0, 3, 6; "Bob" 1, 4; "Cyd" 2, 5. Message 4 is read.
    let mut mids = Vec::new();
    for i in 0..7u64 {
        let mid = add(&mut s, i);
        let sender = ["Ann", "Bob", "Cyd"][(i % 3) as usize];
        s.set_props(
            exmdbd::Obj::Message(mid),
            &[TaggedVal::new(PR_SENDER_NAME, PropVal::Unicode(sender.into()))],
        )
        .unwrap();
        mids.push(mid);
    }
    s.set_read(mids[4], true).unwrap();
    let spec = by_sender_newest_first();
    let mut t = ContentTable::load(&s, spec.clone()).unwrap();
    let (e, l) = (TBL_EXPANDED_CATEGORY, TBL_LEAF_ROW);
    let hdr = |name: &str, n: i32, unread: i32| (e, 0, name.to_owned(), Some(n), Some(unread));
    let leaf = |subj: &str| (l, 1, subj.to_owned(), None, None);
    assert_eq!(
        view(&mut t, &s, PR_SENDER_NAME),
        vec![
            hdr("Ann", 3, 3),
            leaf("Report 6"),
            leaf("Note 3"),
            leaf("Report 0"),
            hdr("Bob", 2, 1),
            leaf("Report 4"),
            leaf("Note 1"),
            hdr("Cyd", 2, 2),
            leaf("Note 5"),
            leaf("Report 2"),
        ]
    );
    assert_eq!(t.mids().len(), 7);
    // Collapse "Bob": its two rows go; the header says collapsed.
    let bob = match t.rows()[4] {
        Row::Header(id) => id,
        other => panic!("{other:?}"),
    };
    t.seek(Origin::Beginning, 5); // cursor on "Report 4", inside Bob
    assert_eq!(t.collapse_row(bob).unwrap(), 2);
    assert_eq!(t.row_count(), 8);
    assert_eq!(t.position(), 5, "cursor moves to the row after the collapsed header");
    // The row there is Cyd's header; its PR_INST_ID is the category id.
    let Row::Header(cyd) = t.rows()[5] else {
        panic!("{:?}", t.rows()[5])
    };
    let ids = t.query_rows(&s, &[PR_INST_ID], 1, true, true).unwrap();
    assert_eq!(ids[0][0], Some(PropVal::I8(cyd as i64)));
    assert_ne!(cyd, bob);
    let v = view(&mut t, &s, PR_SENDER_NAME);
    assert_eq!(v[4], (TBL_COLLAPSED_CATEGORY, 0, "Bob".into(), Some(2), Some(1)));
    assert_eq!(v[5], hdr("Cyd", 2, 2));
    assert_eq!(t.collapse_row(bob).unwrap(), 0, "already collapsed");
    // The state survives a reload with a new message, and the category keeps its id.
    let state = {
        t.seek(Origin::Beginning, 2); // "Note 3"
        t.collapse_state()
    };
    let m7 = add(&mut s, 7); // 7 % 3 == 1: Bob
    s.set_props(
        exmdbd::Obj::Message(m7),
        &[TaggedVal::new(PR_SENDER_NAME, PropVal::Unicode("Bob".into()))],
    )
    .unwrap();
    t.reload(&s).unwrap();
    let v = view(&mut t, &s, PR_SENDER_NAME);
    assert_eq!(v[4], (TBL_COLLAPSED_CATEGORY, 0, "Bob".into(), Some(3), Some(2)));
    assert!(t.rows().contains(&Row::Header(bob)));
    // Expanding shows all three.
    assert_eq!(t.expand_row(bob).unwrap(), 3);
    assert_eq!(view(&mut t, &s, PR_SENDER_NAME)[5], leaf("Note 7"));
    // A fresh table (all expanded) takes the saved state: Bob collapsed, cursor on "Note 3".
    let mut t2 = ContentTable::load(&s, spec.clone()).unwrap();
    assert_eq!(t2.row_count(), 11);
    let bm = t2.set_collapse_state(&state).unwrap();
    assert_eq!(t2.row_count(), 8);
    t2.seek(Origin::End, 0);
    assert_eq!(t2.seek_bookmark(bm, 0), Some((false, 0)));
    assert_eq!(subjects(&mut t2, &s, 1, true), ["Note 3"]);
    // Hostile blobs are refused and change nothing.
    for bad in [
        &b""[..],
        b"GXC1",
        b"GXC1\xff\xff\xff\xff",
        b"XXXX\0\0\0\0\0",
        b"GXC1\0\0\0\0\x09",
    ] {
        assert!(t2.set_collapse_state(bad).is_err(), "{bad:?}");
    }
    assert_eq!(t2.row_count(), 8);
    // Unknown category ids are an error.
    assert!(t2.expand_row(12345).is_err());
    // Categories start collapsed when ExpandedCount is 0: only the headers show.
    let mut t3 = ContentTable::load(&s, TableSpec { expanded: 0, ..spec }).unwrap();
    assert_eq!(t3.row_count(), 3);
    assert!(view(&mut t3, &s, PR_SENDER_NAME)
        .iter()
        .all(|r| r.0 == TBL_COLLAPSED_CATEGORY));
}

#[test]
fn identity_columns_are_computed_and_restrictable() {
    use gromox_mapi::entryid::{FolderEntryId, MessageEntryId};
    use gromox_mapi::tags::{
        PR_CHANGE_NUMBER, PR_ENTRYID, PR_FID, PR_INSTANCE_KEY, PR_PARENT_ENTRYID, PR_PARENT_SOURCE_KEY, PR_SOURCE_KEY,
    };
    let (_d, mut s) = store();
    let mids: Vec<u64> = (0..4).map(|i| add(&mut s, i)).collect();
    let mut t = ContentTable::load(
        &s,
        TableSpec {
            folder: INBOX,
            ..Default::default()
        },
    )
    .unwrap();
    let cols = [
        PR_ENTRYID,
        PR_PARENT_ENTRYID,
        PR_SOURCE_KEY,
        PR_PARENT_SOURCE_KEY,
        PR_FID,
        PR_CHANGE_NUMBER,
        PR_INSTANCE_KEY,
        PR_MID,
    ];
    let rows = t.query_rows(&s, &cols, 10, true, false).unwrap();
    assert_eq!(rows.len(), 4);
    let bin = |v: &Option<PropVal>| v.as_ref().and_then(|v| v.as_bytes()).unwrap().to_vec();
    let mut cns = Vec::new();
    for (row, &mid) in rows.iter().zip(&mids) {
        let eid = MessageEntryId::parse(&bin(&row[0])).unwrap();
        assert_eq!((eid.folder_gc, eid.message_gc), (INBOX, mid));
        assert_eq!(eid.message_database_guid, s.guid());
        assert_eq!(FolderEntryId::parse(&bin(&row[1])).unwrap().gc, INBOX);
        assert_eq!(bin(&row[2]), s.message_source_key(mid).unwrap());
        assert_eq!(bin(&row[3]), s.folder_source_key(INBOX).unwrap());
        assert_eq!(row[4], Some(PropVal::I8(INBOX as i64)));
        cns.push(row[5].as_ref().and_then(|v| v.as_i64()).unwrap());
        assert_eq!(bin(&row[6]), mid.to_le_bytes());
        assert_eq!(row[7], Some(PropVal::I8(mid as i64)));
    }
    cns.dedup();
    assert_eq!(cns.len(), 4, "each message has its own change number");
    // FindRow by source key (what a client holding a source key does).
    let sk = s.message_source_key(mids[2]).unwrap();
    t.seek(Origin::Beginning, 0);
    let r = Restriction::Property {
        op: RelOp::Eq,
        tag: PR_SOURCE_KEY,
        value: TaggedVal::new(PR_SOURCE_KEY, PropVal::Binary(sk)),
    };
    assert_eq!(t.find_row(&s, &r, true).unwrap(), Some(2));
    // And a restricted table.
    let t2 = ContentTable::load(
        &s,
        TableSpec {
            folder: INBOX,
            restriction: Some(r),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(t2.mids(), vec![mids[2]]);
}

/// Keywords (PidNameKeywords, multi-valued Unicode) with the MV_INSTANCE bit.
fn keywords_tag(s: &mut Store) -> PropTag {
    use gromox_mapi::named::PS_PUBLIC_STRINGS;
    let id = s
        .get_named_propid(&gromox_mapi::PropName::name(PS_PUBLIC_STRINGS, "Keywords"), true)
        .unwrap()
        .unwrap();
    PropTag::new(id, gromox_mapi::PropType::MvUnicode)
}

fn with_keywords(s: &mut Store, subject: &str, kw: PropTag, words: &[&str]) -> u64 {
    let mut c = MessageContent::default();
    c.set(PR_SUBJECT, PropVal::Unicode(subject.into()));
    if !words.is_empty() {
        c.set(kw, PropVal::MvUnicode(words.iter().map(|w| w.to_string()).collect()));
    }
    s.create_message(INBOX, &c, false).unwrap()
}

#[test]
fn multi_value_instance_rows_flat_and_categorized() {
    use exmdbd::table::{MV_INSTANCE, PR_INSTANCE_NUM, TBL_LEAF_ROW};
    let (_d, mut s) = store();
    let kw = keywords_tag(&mut s);
    let kwi = PropTag(kw.0 | MV_INSTANCE);
    let both = with_keywords(&mut s, "both", kw, &["Work", "Home"]);
    let work = with_keywords(&mut s, "work only", kw, &["Work"]);
    let none = with_keywords(&mut s, "no keywords", kw, &[]);

    // Sorted on the instance column: one row per value, the column showing that value.
    let mut t = ContentTable::load(
        &s,
        TableSpec {
            folder: INBOX,
            sort: vec![
                SortKey {
                    tag: kwi,
                    descending: false,
                },
                SortKey {
                    tag: PR_SUBJECT,
                    descending: false,
                },
            ],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(t.row_count(), 4);
    assert_eq!(t.leaf_rows(), vec![(none, 0), (both, 1), (both, 0), (work, 0)]);
    let rows = t
        .query_rows(&s, &[PR_SUBJECT, kwi, PR_INSTANCE_NUM, kw], 10, true, false)
        .unwrap();
    let text = |v: &Option<PropVal>| v.as_ref().and_then(|v| v.as_str()).map(str::to_owned);
    let got: Vec<(Option<String>, Option<String>, Option<PropVal>)> =
        rows.iter().map(|r| (text(&r[0]), text(&r[1]), r[2].clone())).collect();
    assert_eq!(
        got,
        vec![
            (Some("no keywords".into()), None, Some(PropVal::I4(0))),
            (Some("both".into()), Some("Home".into()), Some(PropVal::I4(1))),
            (Some("both".into()), Some("Work".into()), Some(PropVal::I4(0))),
            (Some("work only".into()), Some("Work".into()), Some(PropVal::I4(0))),
        ]
    );
    // The column without the bit shows every value.
    assert_eq!(rows[1][3], Some(PropVal::MvUnicode(vec!["Work".into(), "Home".into()])));
    // Bookmarks and seeks work on the instance rows.
    t.seek(Origin::Beginning, 2);
    let b = t.create_bookmark();
    t.seek(Origin::Beginning, 0);
    assert_eq!(t.seek_bookmark(b, 0), Some((false, 0)));
    assert_eq!(t.position(), 2);

    // Declared as the instance column only (RopSetColumns), unsorted: rows by message id.
    let t = ContentTable::load(
        &s,
        TableSpec {
            folder: INBOX,
            mv_instance: Some(kwi),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(t.leaf_rows(), vec![(both, 0), (both, 1), (work, 0), (none, 0)]);

    // Categorized by keyword: a message with two keywords appears under both categories.
    let by_keyword = TableSpec {
        folder: INBOX,
        sort: vec![
            SortKey {
                tag: kwi,
                descending: false,
            },
            SortKey {
                tag: PR_SUBJECT,
                descending: false,
            },
        ],
        categories: 1,
        expanded: 1,
        ..Default::default()
    };
    let mut t = ContentTable::load(&s, by_keyword.clone()).unwrap();
    let v = view(&mut t, &s, kwi);
    let leaf = TBL_LEAF_ROW;
    assert_eq!(
        v,
        vec![
            (3, 0, String::new(), Some(1), Some(1)),
            (leaf, 1, "no keywords".into(), None, None),
            (3, 0, "Home".into(), Some(1), Some(1)),
            (leaf, 1, "both".into(), None, None),
            (3, 0, "Work".into(), Some(2), Some(2)),
            (leaf, 1, "both".into(), None, None),
            (leaf, 1, "work only".into(), None, None),
        ]
    );
    // The collapse state keeps the cursor on an instance row.
    t.seek(Origin::Beginning, 5);
    let state = t.collapse_state();
    let mut t2 = ContentTable::load(&s, by_keyword).unwrap();
    let bm = t2.set_collapse_state(&state).unwrap();
    t2.seek(Origin::Beginning, 0);
    t2.seek_bookmark(bm, 0).unwrap();
    assert_eq!(t2.position(), 5);
}

#[test]
fn table_notifications_update_a_loaded_table_incrementally() {
    use exmdbd::table::{TableNotification as N, TableRowId};
    let (_d, mut s) = store();
    let events = s.notifier().subscribe();
    let mids: Vec<u64> = (0..6).map(|i| add(&mut s, i)).collect();
    // Sorted by subject, restricted to unread messages.
    let spec = TableSpec {
        folder: INBOX,
        restriction: Some(Restriction::Property {
            op: RelOp::Eq,
            tag: gromox_mapi::tags::PR_READ,
            value: TaggedVal::new(gromox_mapi::tags::PR_READ, PropVal::Boolean(false)),
        }),
        sort: vec![SortKey {
            tag: PR_SUBJECT,
            descending: false,
        }],
        ..Default::default()
    };
    let mut t = ContentTable::load(&s, spec.clone()).unwrap();
    while events.try_recv().is_ok() {}
    let fresh = |s: &Store| ContentTable::load(s, spec.clone()).unwrap().mids();
    let row = |m: u64| TableRowId {
        folder: INBOX,
        message: m,
        instance: 0,
    };
    // "Note 1", "Note 3", "Note 5", "Report 0", "Report 2", "Report 4"; cursor on "Note 5".
    t.seek(Origin::Beginning, 2);
    let apply_all = |t: &mut ContentTable, s: &Store| -> Vec<N> {
        let mut out = Vec::new();
        while let Ok(e) = events.try_recv() {
            out.extend(t.apply(s, &e).unwrap());
        }
        out
    };

    // A new message lands at its sort position, after the row before it.
    let mut c = MessageContent::default();
    c.set(PR_SUBJECT, PropVal::Unicode("Note 2".into()));
    let new = s.create_message(INBOX, &c, false).unwrap();
    let n = apply_all(&mut t, &s);
    assert_eq!(
        n,
        vec![N::RowAdded {
            row: row(new),
            prior: Some(row(mids[1])),
            position: 1
        }]
    );
    assert_eq!(t.mids(), fresh(&s));
    assert_eq!(
        subjects(&mut t, &s, 1, true),
        ["Note 5"],
        "the cursor stayed on its row"
    );
    let cols = t.row_at(&s, 1, &[PR_SUBJECT, PR_MID]).unwrap();
    assert_eq!(cols[1], Some(PropVal::I8(new as i64)));

    // Read: no longer matches the restriction.
    s.set_read(mids[3], true).unwrap();
    assert_eq!(apply_all(&mut t, &s), vec![N::RowDeleted { row: row(mids[3]) }]);
    assert_eq!(t.mids(), fresh(&s));
    // Renamed: modified, moved to its new place.
    s.set_props(
        exmdbd::Obj::Message(mids[0]),
        &[TaggedVal::new(PR_SUBJECT, PropVal::Unicode("Zebra".into()))],
    )
    .unwrap();
    let n = apply_all(&mut t, &s);
    let last = t.row_count() - 1;
    assert_eq!(
        n,
        vec![N::RowModified {
            row: row(mids[0]),
            prior: Some(row(mids[4])),
            position: last
        }]
    );
    assert_eq!(t.mids(), fresh(&s));
    // Moved away and back (a new id), deleted; events of other folders change nothing.
    let moved = s.move_message(mids[5], 0x0a).unwrap();
    let n = apply_all(&mut t, &s);
    assert_eq!(n, vec![N::RowDeleted { row: row(mids[5]) }]);
    let back = s.move_message(moved, INBOX).unwrap();
    let n = apply_all(&mut t, &s);
    assert!(matches!(n.as_slice(), [N::RowAdded { row: r, .. }] if r.message == back));
    s.delete_messages(&[new], false).unwrap();
    assert_eq!(apply_all(&mut t, &s), vec![N::RowDeleted { row: row(new) }]);
    s.create_message(0x0a, &c, false).unwrap();
    assert_eq!(apply_all(&mut t, &s), vec![]);
    assert_eq!(t.mids(), fresh(&s));

    // A categorized view (by subject: every message its own category) is rebuilt and tells
    // the difference row by row: a new category header and its message.
    let mut cat = ContentTable::load(
        &s,
        TableSpec {
            categories: 1,
            expanded: 1,
            ..spec.clone()
        },
    )
    .unwrap();
    let before = cat.row_count();
    let m100 = add(&mut s, 100);
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        out.extend(cat.apply(&s, &e).unwrap());
    }
    assert_eq!(cat.row_count(), before + 2, "a new category and its message");
    assert!(
        matches!(out.as_slice(), [N::RowAdded { row: h, .. }, N::RowAdded { row: m, prior: Some(p), .. }]
            if m.message == m100 && p == h),
        "{out:?}"
    );
}

/// The row keys of a content table as notifications name them (message id; category id).
fn row_keys(t: &ContentTable) -> Vec<u64> {
    use exmdbd::table::Row;
    t.rows()
        .into_iter()
        .map(|r| match r {
            Row::Leaf(m) | Row::Header(m) => m,
        })
        .collect()
}

/// What a client holding rows `held` (by row id) has after applying `notes` in order, each
/// added or modified row put after its prior row (MS-OXCNOTIF InsertAfter).
fn replay(
    held: &[u64],
    notes: &[exmdbd::table::TableNotification],
    key: impl Fn(&exmdbd::table::TableRowId) -> u64,
) -> Vec<u64> {
    use exmdbd::table::TableNotification as N;
    let mut rows = held.to_vec();
    for n in notes {
        let (row, prior) = match n {
            N::RowDeleted { row } => {
                rows.retain(|&k| k != key(row));
                continue;
            }
            N::RowAdded { row, prior, .. } => (row, prior),
            N::RowModified { row, prior, .. } => {
                rows.retain(|&k| k != key(row));
                (row, prior)
            }
            N::Changed => panic!("TABLE_CHANGED where rows were expected"),
        };
        let at = match prior {
            None => 0,
            Some(p) => rows.iter().position(|&k| k == key(p)).expect("prior row held") + 1,
        };
        rows.insert(at, key(row));
    }
    rows
}

/// Categorized views and hierarchy tables tell changes row by row (MS-OXCNOTIF
/// TableModified): what a client builds from the notifications is the table, counts of
/// category headers are TABLE_ROW_MODIFIED, collapsed categories hide their new members.
#[test]
fn categorized_and_hierarchy_tables_notify_row_by_row() {
    use exmdbd::table::{HierarchyTable, Row, TableNotification as N};
    const PR_SENDER_NAME: PropTag = PropTag(0x0C1A_001F);
    let (_d, mut s) = store();
    let events = s.notifier().subscribe();
    let send = |s: &mut Store, i: u64, who: &str| {
        let mid = add(s, i);
        s.set_props(
            exmdbd::Obj::Message(mid),
            &[TaggedVal::new(PR_SENDER_NAME, PropVal::Unicode(who.into()))],
        )
        .unwrap();
        mid
    };
    let ann: Vec<u64> = (0..3).map(|i| send(&mut s, i, "Ann")).collect();
    for i in 3..5 {
        send(&mut s, i, "Bob");
    }
    let spec = by_sender_newest_first();
    let mut t = ContentTable::load(&s, spec.clone()).unwrap();
    let header = |t: &ContentTable, n: usize| match t.rows()[n] {
        Row::Header(id) => id,
        other => panic!("{other:?}"),
    };
    let (ann_h, bob_h) = (header(&t, 0), header(&t, 4));
    assert_eq!(t.collapse_row(bob_h).unwrap(), 2);
    while events.try_recv().is_ok() {}
    let key = |r: &exmdbd::table::TableRowId| r.message;
    let step = |s: &Store, t: &mut ContentTable, what: &str| -> Vec<N> {
        let held = row_keys(t);
        let mut out = Vec::new();
        while let Ok(e) = events.try_recv() {
            out.extend(t.apply(s, &e).unwrap());
        }
        assert_eq!(replay(&held, &out, key), row_keys(t), "{what}: {out:?}");
        // A table built afresh with the same collapse state shows the same messages.
        let mut fresh = ContentTable::load(s, spec.clone()).unwrap();
        fresh.set_collapse_state(&t.collapse_state()).unwrap();
        assert_eq!(t.mids(), fresh.mids(), "{what}");
        out
    };
    let is_mod = |n: &N, id: u64| matches!(n, N::RowModified { row, .. } if row.message == id);
    let is_add = |n: &N, id: u64| matches!(n, N::RowAdded { row, .. } if row.message == id);

    // New mail from Ann: her header's counts change, the message is added under it.
    let a3 = send(&mut s, 10, "Ann");
    let n = step(&s, &mut t, "new from Ann");
    assert!(
        n.iter().any(|n| is_mod(n, ann_h)) && n.iter().any(|n| is_add(n, a3)),
        "{n:?}"
    );
    assert!(
        matches!(&n[..], [N::RowAdded { prior: Some(p), .. }, ..] if p.message == ann_h),
        "newest first: {n:?}"
    );
    // From a new sender: a new header and its message.
    let c = send(&mut s, 11, "Cyd");
    let n = step(&s, &mut t, "new sender");
    assert_eq!(n.iter().filter(|n| matches!(n, N::RowAdded { .. })).count(), 2, "{n:?}");
    assert!(n.iter().any(|n| is_add(n, c)));
    // New mail from Bob (collapsed): only his header changes.
    let b2 = send(&mut s, 12, "Bob");
    let n = step(&s, &mut t, "new in a collapsed category");
    assert!(n.len() == 1 && is_mod(&n[0], bob_h), "{n:?}");
    assert!(!row_keys(&t).contains(&b2));
    // Read: the header's unread count and the row itself.
    s.set_read(ann[0], true).unwrap();
    let n = step(&s, &mut t, "read");
    assert!(
        n.iter().any(|n| is_mod(n, ann_h)) && n.iter().any(|n| is_mod(n, ann[0])),
        "{n:?}"
    );
    // Ann's message now from Bob: gone from view (Bob is collapsed), both headers changed.
    s.set_props(
        exmdbd::Obj::Message(ann[1]),
        &[TaggedVal::new(PR_SENDER_NAME, PropVal::Unicode("Bob".into()))],
    )
    .unwrap();
    let n = step(&s, &mut t, "moved to a collapsed category");
    assert!(
        n.contains(&N::RowDeleted {
            row: exmdbd::table::TableRowId {
                folder: INBOX,
                message: ann[1],
                instance: 0
            }
        }),
        "{n:?}"
    );
    assert!(
        n.iter().any(|n| is_mod(n, ann_h)) && n.iter().any(|n| is_mod(n, bob_h)),
        "{n:?}"
    );
    // Cyd's only message deleted: the header goes with it.
    s.delete_messages(&[c], false).unwrap();
    let n = step(&s, &mut t, "last of a category deleted");
    assert_eq!(
        n.iter().filter(|n| matches!(n, N::RowDeleted { .. })).count(),
        2,
        "{n:?}"
    );

    // Hierarchy: folders added, moved, modified and deleted, told row by row.
    let top = s.create_folder(0x09, "Top", Some("IPF.Note")).unwrap();
    let a = s.create_folder(top, "a", Some("IPF.Note")).unwrap();
    let b = s.create_folder(top, "b", Some("IPF.Note")).unwrap();
    let a1 = s.create_folder(a, "a1", Some("IPF.Note")).unwrap();
    let mut h = HierarchyTable::load(&s, top, true, None, &[]).unwrap();
    let hkey = |r: &exmdbd::table::TableRowId| r.folder;
    let hstep = |s: &Store, h: &mut HierarchyTable, touched: &[u64], what: &str| -> Vec<N> {
        let held: Vec<u64> = h.rows().iter().map(|r| r.0).collect();
        let out = h.apply(s, &touched.iter().copied().collect()).unwrap();
        let now: Vec<u64> = h.rows().iter().map(|r| r.0).collect();
        assert_eq!(replay(&held, &out, hkey), now, "{what}: {out:?}");
        let fresh = HierarchyTable::load(s, top, true, None, &[]).unwrap();
        assert_eq!(h.rows(), fresh.rows(), "{what}");
        out
    };
    let fmod = |n: &N, f: u64| matches!(n, N::RowModified { row, .. } if row.folder == f);
    let a2 = s.create_folder(a, "a2", Some("IPF.Note")).unwrap();
    let n = hstep(&s, &mut h, &[], "created");
    assert!(
        matches!(&n[..], [N::RowAdded { row, prior: Some(p), .. }, ..] if row.folder == a2 && p.folder == a1),
        "{n:?}"
    );
    assert!(n.iter().any(|n| fmod(n, a)), "the parent's subfolders: {n:?}");
    s.move_folder(a1, b).unwrap();
    let n = hstep(&s, &mut h, &[], "moved");
    assert!(
        n.iter().any(|n| fmod(n, a1)) && n.iter().any(|n| fmod(n, a)) && n.iter().any(|n| fmod(n, b)),
        "{n:?}"
    );
    let n = hstep(&s, &mut h, &[b], "modified");
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(fmod(&n[0], b));
    s.delete_folder(a2, true).unwrap();
    let n = hstep(&s, &mut h, &[], "deleted");
    assert!(
        n.contains(&N::RowDeleted {
            row: exmdbd::table::TableRowId {
                folder: a2,
                message: 0,
                instance: 0
            }
        }),
        "{n:?}"
    );
    assert!(n.iter().any(|n| fmod(n, a)), "{n:?}");
}

#[test]
fn table_notifications_for_multi_value_rows_and_search_folders() {
    use exmdbd::table::{TableNotification as N, MV_INSTANCE};
    let (_d, mut s) = store();
    let kw = keywords_tag(&mut s);
    let kwi = PropTag(kw.0 | MV_INSTANCE);
    let a = with_keywords(&mut s, "a", kw, &["Work"]);
    let spec = TableSpec {
        folder: INBOX,
        sort: vec![SortKey {
            tag: kwi,
            descending: false,
        }],
        ..Default::default()
    };
    let mut t = ContentTable::load(&s, spec.clone()).unwrap();
    let events = s.notifier().subscribe();
    // A second keyword: the first row modified, a new instance row added before it.
    s.set_props(
        exmdbd::Obj::Message(a),
        &[TaggedVal::new(
            kw,
            PropVal::MvUnicode(vec!["Work".into(), "Home".into()]),
        )],
    )
    .unwrap();
    let e = events.try_recv().unwrap();
    let n = t.apply(&s, &e).unwrap();
    assert_eq!(n.len(), 2);
    assert!(n
        .iter()
        .any(|x| matches!(x, N::RowAdded { row, position: 0, prior: None } if row.instance == 1)));
    assert!(n
        .iter()
        .any(|x| matches!(x, N::RowModified { row, position: 1, .. } if row.instance == 0)));
    assert_eq!(t.leaf_rows(), ContentTable::load(&s, spec).unwrap().leaf_rows());

    // A search folder's table follows its results.
    let sf = s.create_search_folder(0x05, "unread").unwrap();
    let unread = Restriction::Property {
        op: RelOp::Eq,
        tag: gromox_mapi::tags::PR_READ,
        value: TaggedVal::new(gromox_mapi::tags::PR_READ, PropVal::Boolean(false)),
    };
    s.set_search_criteria(sf, Some(&unread), Some(&[INBOX]), 0).unwrap();
    while s.search_step(100).unwrap().more {}
    let mut st = ContentTable::load(
        &s,
        TableSpec {
            folder: sf,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(st.mids(), vec![a]);
    while events.try_recv().is_ok() {}
    let b = add(&mut s, 1);
    s.set_read(a, true).unwrap();
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        out.extend(st.apply(&s, &e).unwrap());
    }
    let row = |m| exmdbd::table::TableRowId {
        folder: INBOX,
        message: m,
        instance: 0,
    };
    assert_eq!(
        out,
        vec![
            N::RowAdded {
                row: row(b),
                prior: Some(row(a)),
                position: 1
            },
            N::RowDeleted { row: row(a) },
        ]
    );
    assert_eq!(st.mids(), vec![b]);
}

/// A table's order is the one `restriction::compare` defines (missing values first, ties by
/// message id) whatever the values — mixed case, non-ASCII, strings sharing a long prefix or
/// differing by trailing NULs, a String8 copy next to the Unicode value, missing and equal
/// values — although the sort compares integer prefixes of the keys first; and a reload gives
/// the same rows.
#[test]
fn sort_orders_as_compare_does_whatever_the_values() {
    use gromox_mapi::tags::PR_SENDER_NAME;
    let (_d, mut s) = store();
    let other = s.create_folder(INBOX, "other", None).unwrap();
    let subjects = [
        Some("Zeta"),
        Some("alpha"),
        Some("Alpha"),
        Some("ÄRGER über alles"),
        Some("ärger"),
        Some("a very long subject line 1"),
        Some("a very long subject line 2"),
        Some("A VERY LONG SUBJECT LINE 10"),
        Some("exactly14bytes"),
        Some("exactly14bytes\0"),
        Some("exactly15bytes!"),
        None,
        Some(""),
        Some("report"),
        Some("REPORT two"),
    ];
    let mut deleted = None;
    for (i, subject) in subjects.iter().enumerate() {
        for folder in [INBOX, other] {
            let mut c = MessageContent::default();
            if let Some(x) = subject {
                c.set(PR_SUBJECT, PropVal::Unicode(x.to_string()));
            }
            if i % 4 != 3 {
                c.set(
                    PR_MESSAGE_DELIVERY_TIME,
                    PropVal::SysTime(133_000_000_000_000_000 + (i as u64 % 5) * 600_000_000),
                );
            }
            c.set(PR_SENDER_NAME, PropVal::Unicode(format!("Sender {}", i % 3)));
            c.set(PR_MESSAGE_FLAGS, PropVal::I4((i % 2) as i32));
            let mid = s.create_message(folder, &c, false).unwrap();
            if folder == INBOX && i == 2 {
                deleted = Some(mid);
            }
            if folder == INBOX && i == 1 {
                // A String8 copy of the subject next to the Unicode one.
                s.conn()
                    .execute(
                        "INSERT INTO message_properties (message_id, proptag, propval) VALUES (?1, ?2, 'alpha8')",
                        rusqlite::params![mid as i64, 0x0037_001E_i64],
                    )
                    .unwrap();
            }
        }
    }
    s.delete_messages(&[deleted.unwrap()], false).unwrap();
    // Hard-deleted messages between the others.
    let fillers: Vec<u64> = (0..40).map(|i| add(&mut s, i)).collect();
    add(&mut s, 7);
    s.delete_messages(&fillers[..30], true).unwrap();
    let by = |tag, descending| SortKey { tag, descending };
    let specs = [
        TableSpec {
            sort: vec![by(PR_SUBJECT, false)],
            ..Default::default()
        },
        TableSpec {
            sort: vec![by(PR_SUBJECT, true), by(PR_MESSAGE_DELIVERY_TIME, false)],
            ..Default::default()
        },
        TableSpec {
            sort: vec![by(PR_MESSAGE_DELIVERY_TIME, true), by(PR_SUBJECT, false)],
            restriction: Some(report_restriction()),
            ..Default::default()
        },
        TableSpec {
            sort: vec![by(PR_MESSAGE_DELIVERY_TIME, false)],
            restriction: Some(Restriction::BitMask {
                nonzero: false,
                tag: PR_MESSAGE_FLAGS,
                mask: 1,
            }),
            ..Default::default()
        },
        TableSpec {
            sort: vec![by(PR_SENDER_NAME, false), by(PR_MESSAGE_DELIVERY_TIME, true)],
            categories: 1,
            expanded: 1,
            ..Default::default()
        },
        TableSpec {
            sort: vec![by(PR_MID, true)],
            restriction: Some(Restriction::Exist(PR_MESSAGE_DELIVERY_TIME)),
            ..Default::default()
        },
    ];
    let columns = [PR_MID, PR_SUBJECT, PR_MESSAGE_DELIVERY_TIME, PR_SENDER_NAME];
    let load_all = |s: &Store| -> Vec<Vec<Vec<Option<PropVal>>>> {
        specs
            .iter()
            .map(|spec| {
                let mut t = ContentTable::load(
                    s,
                    TableSpec {
                        folder: INBOX,
                        ..spec.clone()
                    },
                )
                .unwrap();
                t.query_rows(s, &columns, 1000, true, false).unwrap()
            })
            .collect()
    };
    let indexed = load_all(&s);
    // Flat tables: each row follows the previous one in compare()'s order.
    for (spec, rows) in specs.iter().zip(&indexed) {
        assert!(!rows.is_empty());
        if spec.categories > 0 {
            continue;
        }
        let value = |row: &[Option<PropVal>], tag: PropTag| {
            let c = columns.iter().position(|t| t.id() == tag.id()).unwrap();
            row[c].clone()
        };
        for w in rows.windows(2) {
            let mut o = std::cmp::Ordering::Equal;
            for k in &spec.sort {
                let (a, b) = (value(&w[0], k.tag), value(&w[1], k.tag));
                o = match (&a, &b) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, Some(_)) => std::cmp::Ordering::Less,
                    (Some(_), None) => std::cmp::Ordering::Greater,
                    (Some(x), Some(y)) => gromox_mapi::restriction::compare(x, y).unwrap(),
                };
                if k.descending {
                    o = o.reverse();
                }
                if o != std::cmp::Ordering::Equal {
                    break;
                }
            }
            if o == std::cmp::Ordering::Equal {
                o = value(&w[0], PR_MID)
                    .and_then(|v| v.as_i64())
                    .cmp(&value(&w[1], PR_MID).and_then(|v| v.as_i64()));
            }
            assert_eq!(o, std::cmp::Ordering::Less, "{:?} before {:?}", w[0], w[1]);
        }
    }
    assert_eq!(load_all(&s), indexed);
}

/// A restriction on the multi-value instance column tests each row's one value (MS-OXCTABL
/// §2.2.1.1), in the scan and when a change is applied; a restriction on another column keeps
/// every instance row of a matching message.
#[test]
fn restrictions_on_the_instance_column_test_each_row() {
    use exmdbd::table::MV_INSTANCE;
    let (_d, mut s) = store();
    let kw = keywords_tag(&mut s);
    let kwi = PropTag(kw.0 | MV_INSTANCE);
    let both = with_keywords(&mut s, "both", kw, &["Work", "Home"]);
    let work = with_keywords(&mut s, "work only", kw, &["Work"]);
    with_keywords(&mut s, "no keywords", kw, &[]);
    let has_work = Restriction::Content {
        level: FuzzyLevel::Substring,
        flags: FL_IGNORECASE,
        tag: kwi,
        value: TaggedVal::new(PropTag(kw.0 & !0x1000 & !MV_INSTANCE), PropVal::Unicode("work".into())),
    };
    let spec = |restriction: Restriction| TableSpec {
        folder: INBOX,
        restriction: Some(restriction),
        sort: vec![
            SortKey {
                tag: kwi,
                descending: false,
            },
            SortKey {
                tag: PR_SUBJECT,
                descending: false,
            },
        ],
        ..Default::default()
    };
    let events = s.notifier().subscribe();
    let mut t = ContentTable::load(&s, spec(has_work.clone())).unwrap();
    // "both" keeps only its Work row; its Home row does not match.
    assert_eq!(t.leaf_rows(), vec![(both, 0), (work, 0)]);
    let rows = t.query_rows(&s, &[kwi], 10, true, true).unwrap();
    assert!(
        rows.iter().all(|r| r[0] == Some(PropVal::Unicode("Work".into()))),
        "{rows:?}"
    );
    // Without the bit in the restriction's tag the whole property is tested (any value):
    // every row of "both".
    let mut plain = has_work.clone();
    if let Restriction::Content { tag, .. } = &mut plain {
        *tag = kw;
    }
    assert_eq!(
        ContentTable::load(&s, spec(plain)).unwrap().leaf_rows(),
        vec![(both, 1), (both, 0), (work, 0)]
    );
    // A restriction on another column: every instance row of the matching message.
    let subject_both = Restriction::Content {
        level: FuzzyLevel::FullString,
        flags: 0,
        tag: PR_SUBJECT,
        value: TaggedVal::new(PR_SUBJECT, PropVal::Unicode("both".into())),
    };
    assert_eq!(
        ContentTable::load(&s, spec(subject_both)).unwrap().leaf_rows(),
        vec![(both, 1), (both, 0)]
    );
    // Applied incrementally: a new message with Play and Work adds its Work row only.
    while events.try_recv().is_ok() {}
    let play = with_keywords(&mut s, "play", kw, &["Play", "Work"]);
    let mut added = Vec::new();
    for e in events.try_iter() {
        added.extend(t.apply(&s, &e).unwrap());
    }
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(t.leaf_rows(), vec![(both, 0), (play, 1), (work, 0)]);
}

/// A categorized view grouped by a summary column takes a fast path (distinct values ranked
/// once, a counting sort on the rows as the scan reads them); a restriction reading the
/// grouping column makes the table take the general one. Both must show the same rows: same
/// groups for values that differ only in case (ASCII and not), long names sharing a prefix,
/// missing values, equal delivery times, either direction, one or two category levels.
#[test]
fn categorized_views_group_the_same_on_either_path() {
    // Distinct delivery times (the scan's rows come in the fast path's order), then equal ones
    // (rows the scan reads in index order, not message-id order: sorted in full).
    for ties in [false, true] {
        categorized_paths_agree(ties);
    }
}

fn categorized_paths_agree(ties: bool) {
    use exmdbd::table::{PR_DEPTH, PR_ROW_TYPE};
    use gromox_mapi::tags::{PR_CONTENT_COUNT, PR_CONTENT_UNREAD};
    const PR_SENDER_NAME: PropTag = PropTag(0x0C1A_001F);
    let (_d, mut s) = store();
    let senders = [
        Some("alice"),
        Some("Alice"),
        Some("Bartholomew Longname-Smith"),
        Some("Bartholomew Longname-Smithers"),
        None,
        Some("ALICE"),
        Some("Zoë"),
        Some("ZOË"),
        Some("bob"),
        Some(""),
    ];
    for i in 0..70u64 {
        let mut c = MessageContent::default();
        c.set(
            PR_SUBJECT,
            PropVal::Unicode(["Lunch", "lunch", "Budget"][(i % 3) as usize].into()),
        );
        // With ties, three messages share each delivery time (ties go by message id).
        let minute = if ties { i / 3 } else { i };
        c.set(
            PR_MESSAGE_DELIVERY_TIME,
            PropVal::SysTime(133_000_000_000_000_000 + minute * 600_000_000),
        );
        if let Some(name) = senders[(i * 7 % 10) as usize] {
            c.set(PR_SENDER_NAME, PropVal::Unicode(name.into()));
        }
        let mid = s.create_message(INBOX, &c, false).unwrap();
        if i % 4 == 0 {
            s.set_read(mid, true).unwrap();
        }
    }
    let everything = Restriction::Or(vec![
        Restriction::Exist(PR_SENDER_NAME),
        Restriction::Not(Box::new(Restriction::Exist(PR_SENDER_NAME))),
    ]);
    let show = |spec: &TableSpec| {
        let mut t = ContentTable::load(&s, spec.clone()).unwrap();
        let n = t.row_count();
        t.query_rows(
            &s,
            &[
                PR_ROW_TYPE,
                PR_DEPTH,
                PR_MID,
                PR_SENDER_NAME,
                PR_SUBJECT,
                PR_CONTENT_COUNT,
                PR_CONTENT_UNREAD,
            ],
            n,
            true,
            false,
        )
        .unwrap()
    };
    for levels in [1usize, 2] {
        for cat_desc in [false, true] {
            for time_desc in [false, true] {
                let mut sort = vec![SortKey {
                    tag: PR_SENDER_NAME,
                    descending: cat_desc,
                }];
                if levels == 2 {
                    sort.push(SortKey {
                        tag: PR_SUBJECT,
                        descending: !cat_desc,
                    });
                }
                sort.push(SortKey {
                    tag: PR_MESSAGE_DELIVERY_TIME,
                    descending: time_desc,
                });
                let fast = TableSpec {
                    folder: INBOX,
                    sort,
                    categories: levels,
                    expanded: levels,
                    ..Default::default()
                };
                let general = TableSpec {
                    restriction: Some(everything.clone()),
                    ..fast.clone()
                };
                let (a, b) = (show(&fast), show(&general));
                let case = format!(
                    "ties {ties}, levels {levels}, category descending {cat_desc}, time descending {time_desc}"
                );
                // alice/Alice/ALICE, the two Bartholomews, Zoë/ZOË, bob, "", missing: 7.
                let headers = a
                    .iter()
                    .filter(|r| r[1] == Some(PropVal::I4(0)) && r[2].is_none())
                    .count();
                assert_eq!(headers, 7, "{case}");
                assert_eq!(a.len(), 70 + b.iter().filter(|r| r[2].is_none()).count(), "{case}");
                assert_eq!(a, b, "{case}");
            }
        }
    }
}

/// A table sorted by delivery time reads the rows in the summary index's order; rows with
/// equal times (which the index keeps in its own order) must still come by message id, missing
/// times first when ascending, and a folder the index cannot order (a time past 2^63, a row
/// without `is_associated` as a Gromox writer may leave) must sort the same.
#[test]
fn delivery_sorted_tables_break_ties_by_message_id_on_every_path() {
    let (_d, mut s) = store();
    let base = 133_000_000_000_000_000u64;
    // (mid, delivery time)
    let mut msgs: Vec<(u64, Option<u64>)> = Vec::new();
    for i in 0..40u64 {
        let mut c = MessageContent::default();
        c.set(
            PR_SUBJECT,
            PropVal::Unicode(format!("{} {i}", ["Report", "Note"][(i % 2) as usize])),
        );
        // Four messages per minute (ties), every seventh without a time.
        let time = (i % 7 != 3).then_some(base + (i / 4) * 600_000_000);
        if let Some(t) = time {
            c.set(PR_MESSAGE_DELIVERY_TIME, PropVal::SysTime(t));
        }
        let mid = s.create_message(INBOX, &c, false).unwrap();
        // Read state comes before the row id in the index: ties are not in message-id order.
        if i % 2 == 0 {
            s.set_read(mid, true).unwrap();
        }
        msgs.push((mid, time));
    }
    let after = base + 4 * 600_000_000;
    let later = Restriction::Property {
        op: RelOp::Ge,
        tag: PR_MESSAGE_DELIVERY_TIME,
        value: TaggedVal::new(PR_MESSAGE_DELIVERY_TIME, PropVal::SysTime(after)),
    };
    let check = |s: &Store, msgs: &[(u64, Option<u64>)], case: &str| {
        let reports: Vec<u64> = {
            let t = ContentTable::load(
                s,
                TableSpec {
                    folder: INBOX,
                    restriction: Some(report_restriction()),
                    ..Default::default()
                },
            )
            .unwrap();
            t.mids()
        };
        for descending in [false, true] {
            for (label, r) in [
                ("all", None),
                ("subject", Some(report_restriction())),
                ("time", Some(later.clone())),
            ] {
                let mut want: Vec<(u64, Option<u64>)> = msgs
                    .iter()
                    .copied()
                    .filter(|(m, t)| match label {
                        "subject" => reports.contains(m),
                        "time" => t.is_some_and(|t| t >= after),
                        _ => true,
                    })
                    .collect();
                want.sort_by(|a, b| {
                    let o = a.1.cmp(&b.1);
                    (if descending { o.reverse() } else { o }).then(a.0.cmp(&b.0))
                });
                let t = ContentTable::load(
                    s,
                    TableSpec {
                        folder: INBOX,
                        restriction: r,
                        sort: vec![SortKey {
                            tag: PR_MESSAGE_DELIVERY_TIME,
                            descending,
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
                let want: Vec<u64> = want.into_iter().map(|(m, _)| m).collect();
                assert_eq!(t.mids(), want, "{case}, {label}, descending {descending}");
            }
        }
    };
    check(&s, &msgs, "index order");
    // A time the index orders as negative: the folder is sorted in full; then back.
    for (time, case) in [((1u64 << 63) + 5, "time past 2^63"), (base, "index order again")] {
        s.set_props(
            exmdbd::Obj::Message(msgs[5].0),
            &[TaggedVal::new(PR_MESSAGE_DELIVERY_TIME, PropVal::SysTime(time))],
        )
        .unwrap();
        msgs[5].1 = Some(time);
        check(&s, &msgs, case);
    }
    // A row without is_associated (a normal message to Gromox).
    s.conn()
        .execute(
            "UPDATE messages SET is_associated=NULL WHERE message_id=?1",
            [msgs[9].0 as i64],
        )
        .unwrap();
    check(&s, &msgs, "is_associated NULL");
}

/// Public stores have their own summary index (no read state in it): a delivery-time sort and
/// a view grouped by sender read it the same way.
#[test]
fn public_store_tables_sort_by_delivery_time_and_group_by_sender() {
    const PR_SENDER_NAME: PropTag = PropTag(0x0C1A_001F);
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::create_public(&dir.path().join("p"), "example.org", false, &Default::default()).unwrap();
    let folder = s.create_folder(1, "Shared", Some("IPF.Note")).unwrap();
    let base = 133_000_000_000_000_000u64;
    let mut msgs = Vec::new();
    for i in 0..12u64 {
        let mut c = MessageContent::default();
        c.set(PR_SUBJECT, PropVal::Unicode(format!("m{i}")));
        c.set(
            PR_SENDER_NAME,
            PropVal::Unicode(["Ann", "Bob", "ann"][(i % 3) as usize].into()),
        );
        let t = base + (i / 2) * 600_000_000;
        c.set(PR_MESSAGE_DELIVERY_TIME, PropVal::SysTime(t));
        msgs.push((s.create_message(folder, &c, false).unwrap(), t));
    }
    let mut want = msgs.clone();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let by_time = SortKey {
        tag: PR_MESSAGE_DELIVERY_TIME,
        descending: true,
    };
    let t = ContentTable::load(
        &s,
        TableSpec {
            folder,
            sort: vec![by_time],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(t.mids(), want.iter().map(|m| m.0).collect::<Vec<_>>());
    // Ann and ann are one category, listed first; newest first inside.
    let grouped = ContentTable::load(
        &s,
        TableSpec {
            folder,
            sort: vec![
                SortKey {
                    tag: PR_SENDER_NAME,
                    descending: false,
                },
                by_time,
            ],
            categories: 1,
            expanded: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let bob: Vec<u64> = msgs.iter().skip(1).step_by(3).map(|m| m.0).collect();
    let mut order: Vec<u64> = want.iter().map(|m| m.0).filter(|m| !bob.contains(m)).collect();
    order.extend(want.iter().map(|m| m.0).filter(|m| bob.contains(m)));
    assert_eq!(grouped.mids(), order);
    assert_eq!(grouped.row_count(), 14, "two headers");
}
