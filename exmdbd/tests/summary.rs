//! The `messages` summary columns (delivery and submit time, subject, sender and From names) and what
//! content tables do with them: the store's writers keep them equal to the properties through every
//! kind of write, and restrictions pushed into SQL over them select exactly the rows the
//! reference evaluator selects (MS-OXCDATA §2.12), including values where SQLite's `LIKE` and
//! Unicode case folding disagree.

use exmdbd::table::{ContentTable, SortKey, TableSpec};
use exmdbd::{MessageContent, Obj, Store};
use gromox_mapi::restriction::{self, FuzzyLevel, Restriction, FL_IGNORECASE};
use gromox_mapi::tags::{PR_MESSAGE_DELIVERY_TIME, PR_SENDER_NAME, PR_SUBJECT};
use gromox_mapi::{PropTag, PropVal, TaggedVal};

const INBOX: u64 = 0x0d;
const PR_SUBJECT_A: PropTag = PropTag(0x0037_001E);

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::create_private(&dir.path().join("u"), "u@example.org", "en", false, &Default::default()).unwrap();
    (dir, s)
}

fn summary(s: &Store, mid: u64) -> (Option<i64>, Option<String>, Option<String>) {
    s.conn()
        .query_row(
            "SELECT summary_delivery, summary_subject, summary_sender FROM messages WHERE message_id=?1",
            [mid as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

#[test]
fn writes_keep_the_summary_equal_to_the_properties() {
    let (_d, mut s) = store();
    let mut c = MessageContent::default();
    c.set(PR_SUBJECT, PropVal::Unicode("first".into()));
    c.set(PR_SENDER_NAME, PropVal::Unicode("Alice".into()));
    c.set(PR_MESSAGE_DELIVERY_TIME, PropVal::SysTime(133_000_000_000_000_000));
    let mid = s.create_message(INBOX, &c, false).unwrap();
    assert_eq!(
        summary(&s, mid),
        (
            Some(133_000_000_000_000_000),
            Some("first".into()),
            Some("Alice".into())
        )
    );
    // A changed value, a removed one.
    s.set_props(
        Obj::Message(mid),
        &[TaggedVal::new(PR_SUBJECT, PropVal::Unicode("second".into()))],
    )
    .unwrap();
    s.remove_props(Obj::Message(mid), &[PR_SENDER_NAME]).unwrap();
    assert_eq!(
        summary(&s, mid),
        (Some(133_000_000_000_000_000), Some("second".into()), None)
    );
    // String8 and Unicode twins share the column: removing one leaves the other's value.
    s.set_props(
        Obj::Message(mid),
        &[TaggedVal::new(PR_SUBJECT_A, PropVal::String8("eight".into()))],
    )
    .unwrap();
    assert_eq!(summary(&s, mid).1.as_deref(), Some("eight"));
    s.remove_props(Obj::Message(mid), &[PR_SUBJECT_A]).unwrap();
    let left = s.get_prop(Obj::Message(mid), PR_SUBJECT).unwrap();
    assert_eq!(summary(&s, mid).1, left.and_then(|v| v.as_str().map(str::to_string)));
    // A rewritten message (a saved instance, an ICS update) gets the new values.
    let mut r = MessageContent::default();
    r.set(PR_SUBJECT, PropVal::Unicode("rewritten".into()));
    r.set(PR_SENDER_NAME, PropVal::Unicode("Bob".into()));
    s.overwrite_message(INBOX, mid, &r, false).unwrap();
    assert_eq!(summary(&s, mid), (None, Some("rewritten".into()), Some("Bob".into())));
    s.remove_props(Obj::Message(mid), &[PR_SENDER_NAME]).unwrap();
    // Gromox's way of storing a subject: prefix and normalized subject, no PR_SUBJECT.
    let mut g = MessageContent::default();
    g.set(PropTag(0x003D_001F), PropVal::Unicode("RE: ".into()));
    g.set(PropTag(0x0E1D_001F), PropVal::Unicode("split".into()));
    let split = s.create_message(INBOX, &g, false).unwrap();
    s.remove_props(Obj::Message(split), &[PR_SUBJECT]).unwrap();
    assert_eq!(summary(&s, split).1.as_deref(), Some("RE: split"));
    let mut t = ContentTable::load(
        &s,
        TableSpec {
            folder: INBOX,
            restriction: Some(Restriction::Content {
                level: FuzzyLevel::Prefix,
                flags: FL_IGNORECASE,
                tag: PR_SUBJECT,
                value: TaggedVal::new(PR_SUBJECT, PropVal::Unicode("re: sp".into())),
            }),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(t.mids(), vec![split]);
    let rows = t.query_rows(&s, &[PR_SUBJECT], 10, true, false).unwrap();
    assert_eq!(rows, vec![vec![Some(PropVal::Unicode("RE: split".into()))]]);
    // A table reads the summary: sorted and restricted by the current values.
    let t = ContentTable::load(
        &s,
        TableSpec {
            folder: INBOX,
            restriction: Some(Restriction::Exist(PR_SENDER_NAME)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(t.row_count(), 0);
}

/// Subjects chosen where SQL and the evaluator could part: ASCII case, LIKE's wildcards and
/// escape, non-ASCII letters (two of which lowercase to ASCII letters), an embedded NUL, an
/// empty value, a String8 value, and no subject at all.
const SUBJECTS: &[Option<&str>] = &[
    Some("Quarterly REPORT"),
    Some("report"),
    Some("Reporting lines"),
    Some("50% off"),
    Some("under_score"),
    Some("back\\slash"),
    Some("\u{212A}elvin scale"),
    Some("kelvin scale"),
    Some("\u{130}stanbul trip"),
    Some("Größe Report"),
    Some("ÄRGER"),
    Some("nul\0report"),
    Some(""),
    None,
];

fn needles() -> Vec<&'static str> {
    vec![
        "report",
        "REPORT",
        "Report",
        "kelvin",
        "K",
        "i",
        "istanbul",
        "50%",
        "%",
        "_",
        "\\",
        "",
        "größe",
        "ärger",
        "Quarterly REPORT",
        "x",
    ]
}

#[test]
fn restrictions_pushed_into_sql_select_what_the_evaluator_selects() {
    let (_d, mut s) = store();
    let mut props = Vec::new();
    for (i, subject) in SUBJECTS.iter().enumerate() {
        let mut c = MessageContent::default();
        match subject {
            // Every third one as String8.
            Some(x) if i % 3 == 2 => c.set(PR_SUBJECT_A, PropVal::String8(x.to_string())),
            Some(x) => c.set(PR_SUBJECT, PropVal::Unicode(x.to_string())),
            None => {}
        }
        c.set(
            PR_MESSAGE_DELIVERY_TIME,
            PropVal::SysTime(133_000_000_000_000_000 + i as u64 * 10_000_000),
        );
        let mid = s.create_message(INBOX, &c, false).unwrap();
        props.push((mid, s.get_props(Obj::Message(mid)).unwrap()));
    }
    let mut checked = 0;
    let mut restrictions = Vec::new();
    for needle in needles() {
        for level in [FuzzyLevel::Substring, FuzzyLevel::Prefix, FuzzyLevel::FullString] {
            for flags in [0, FL_IGNORECASE] {
                for tag in [PR_SUBJECT, PR_SUBJECT_A] {
                    restrictions.push(Restriction::Content {
                        level,
                        flags,
                        tag,
                        value: TaggedVal::new(tag, PropVal::Unicode(needle.into())),
                    });
                }
            }
        }
    }
    let content = |n: &str| Restriction::Content {
        level: FuzzyLevel::Substring,
        flags: FL_IGNORECASE,
        tag: PR_SUBJECT,
        value: TaggedVal::new(PR_SUBJECT, PropVal::Unicode(n.into())),
    };
    restrictions.extend([
        Restriction::Exist(PR_SUBJECT),
        Restriction::Exist(PR_SENDER_NAME),
        Restriction::And(vec![content("report"), content("quarterly")]),
        Restriction::Or(vec![content("kelvin"), content("50%")]),
        Restriction::Or(vec![content("kelvin"), Restriction::Not(Box::new(content("e")))]),
        Restriction::And(vec![content("e"), Restriction::Not(Box::new(content("report")))]),
        Restriction::Comment {
            values: vec![],
            restriction: Some(Box::new(content("REPORT"))),
        },
    ]);
    for r in &restrictions {
        let t = ContentTable::load(
            &s,
            TableSpec {
                folder: INBOX,
                restriction: Some(r.clone()),
                sort: vec![SortKey {
                    tag: PR_MESSAGE_DELIVERY_TIME,
                    descending: false,
                }],
                ..Default::default()
            },
        )
        .unwrap();
        let want: Vec<u64> = props
            .iter()
            .filter(|(_, p)| restriction::matches(r, p))
            .map(|(m, _)| *m)
            .collect();
        assert_eq!(t.mids(), want, "{r:?}");
        checked += usize::from(!want.is_empty());
    }
    // Not a vacuous comparison: most restrictions select something.
    assert!(checked > restrictions.len() / 3, "{checked} of {}", restrictions.len());
}

#[test]
fn mbck_finds_and_repairs_stale_summary_columns() {
    let (d, mut s) = store();
    let mut c = MessageContent::default();
    c.set(PR_SUBJECT, PropVal::Unicode("kept".into()));
    let mid = s.create_message(INBOX, &c, false).unwrap();
    // A writer that bypassed the store.
    s.conn()
        .execute(
            "UPDATE messages SET summary_subject='stale' WHERE message_id=?1",
            [mid as i64],
        )
        .unwrap();
    drop(s);
    let dir = d.path().join("u");
    let rep = exmdbd::mbck::check(&dir, false).unwrap();
    assert!(rep.errors.iter().any(|e| e.contains("summary columns")), "{rep:?}");
    let rep = exmdbd::mbck::check(&dir, true).unwrap();
    assert!(rep.fixed.iter().any(|e| e.contains("summary columns")), "{rep:?}");
    let s = Store::open(&dir, &Default::default()).unwrap();
    assert_eq!(summary(&s, mid).1.as_deref(), Some("kept"));
    assert!(exmdbd::mbck::check(&dir, false).unwrap().ok());
}

/// A store of this layout's earlier generation (four summary columns, no `summary_from`) is
/// used without the summary columns — tables by From still right, through the properties —
/// and `-U` adds the column, fills every summary column and rebuilds the index over them.
#[test]
fn upgrade_adds_a_summary_column_to_an_earlier_layout() {
    use gromox_mapi::tags::PR_SENT_REPRESENTING_NAME;
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("u");
    let mut mids = Vec::new();
    {
        let mut s = Store::create_private(&md, "u@example.org", "en", false, &Default::default()).unwrap();
        for (i, from) in ["Zed", "Amy", "Max"].iter().enumerate() {
            let mut c = MessageContent::default();
            c.set(PR_SUBJECT, PropVal::Unicode(format!("m{i}")));
            c.set(PR_SENT_REPRESENTING_NAME, PropVal::Unicode((*from).into()));
            mids.push(s.create_message(INBOX, &c, false).unwrap());
        }
        s.conn()
            .execute_batch(
                "DROP INDEX folder_summary_index8; ALTER TABLE messages DROP COLUMN summary_from;
                 CREATE INDEX folder_summary_index8 ON messages(parent_fid, is_associated, is_deleted,
                   summary_delivery, read_state, message_size, summary_submit, summary_subject, summary_sender);",
            )
            .unwrap();
    }
    let by_from = TableSpec {
        folder: INBOX,
        sort: vec![SortKey {
            tag: PR_SENT_REPRESENTING_NAME,
            descending: false,
        }],
        ..Default::default()
    };
    let want = vec![mids[1], mids[2], mids[0]];
    {
        let mut s = Store::open(&md, &Default::default()).unwrap();
        assert_eq!(ContentTable::load(&s, by_from.clone()).unwrap().mids(), want);
        // Written while the columns are not used: -U fills them anyway.
        let mut c = MessageContent::default();
        c.set(PR_SENT_REPRESENTING_NAME, PropVal::Unicode("Bea".into()));
        mids.push(s.create_message(INBOX, &c, false).unwrap());
    }
    let steps = Store::upgrade(&md, &Default::default()).unwrap();
    for step in [
        "added column messages.summary_from",
        "rebuilt index folder_summary_index8",
    ] {
        assert!(steps.iter().any(|s| s == step), "{step}: {steps:?}");
    }
    assert!(
        steps.iter().any(|s| s.starts_with("filled the summary columns")),
        "{steps:?}"
    );
    let s = Store::open(&md, &Default::default()).unwrap();
    assert_eq!(exmdbd::schema::summary_stale(s.conn()).unwrap(), 0);
    let from: Option<String> = s
        .conn()
        .query_row(
            "SELECT summary_from FROM messages WHERE message_id=?1",
            [mids[3] as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(from.as_deref(), Some("Bea"));
    let index: String = s
        .conn()
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name='folder_summary_index8'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(index.contains("summary_from"), "{index}");
    assert_eq!(
        ContentTable::load(&s, by_from).unwrap().mids(),
        vec![mids[1], mids[3], mids[2], mids[0]]
    );
    assert_eq!(Store::upgrade(&md, &Default::default()).unwrap(), Vec::<String>::new());
}
