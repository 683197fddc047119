//! Typed parsing of every command (RFC 3501 §6, RFC 9051 §6 and extensions).

use std::borrow::Cow;

use imapd::command::*;
use imapd::framer::Limits;
use imapd::parser::parse_command;

fn p(s: &str) -> CommandBody<'_> {
    match parse_command(s.as_bytes(), &Limits::default()) {
        Ok(c) => c.body,
        Err(e) => panic!("{s:?}: {e:?}"),
    }
}

fn err(s: &str) -> (Option<String>, String) {
    let e = parse_command(s.as_bytes(), &Limits::default()).unwrap_err();
    (e.tag, e.msg)
}

fn set(v: &[(u32, u32)]) -> SeqSet {
    SeqSet::Ranges(v.iter().map(|&(a, b)| (SeqNum::Value(a), SeqNum::Value(b))).collect())
}

#[test]
fn simple_commands() {
    assert_eq!(p("a capability\r\n"), CommandBody::Capability);
    assert_eq!(p("a NOOP\r\n"), CommandBody::Noop);
    assert_eq!(p("a LOGOUT\r\n"), CommandBody::Logout);
    assert_eq!(p("a STARTTLS\r\n"), CommandBody::StartTls);
    assert_eq!(p("a NAMESPACE\r\n"), CommandBody::Namespace);
    assert_eq!(p("a IDLE\r\n"), CommandBody::Idle);
    assert_eq!(p("a CHECK\r\n"), CommandBody::Check);
    assert_eq!(p("a CLOSE\r\n"), CommandBody::Close);
    assert_eq!(p("a UNSELECT\r\n"), CommandBody::Unselect);
    assert_eq!(p("a EXPUNGE\r\n"), CommandBody::Expunge { uids: None });
    assert_eq!(
        p("a UID EXPUNGE 1:3,5\r\n"),
        CommandBody::Expunge {
            uids: Some(set(&[(1, 3), (5, 5)]))
        }
    );
    assert_eq!(
        p("a ENABLE IMAP4rev2 UTF8=ACCEPT\r\n"),
        CommandBody::Enable(vec!["IMAP4REV2".into(), "UTF8=ACCEPT".into()])
    );
    assert_eq!(p("a ID NIL\r\n"), CommandBody::Id(None));
    assert_eq!(
        p("a ID (\"name\" \"x\" \"os\" NIL)\r\n"),
        CommandBody::Id(Some(vec![("name".into(), Some("x".into())), ("os".into(), None)]))
    );
}

#[test]
fn login_and_authenticate() {
    assert_eq!(
        p("a LOGIN \"bo\\\"b\" {3}\r\np w\r\n"),
        CommandBody::Login {
            user: Cow::Owned(b"bo\"b".to_vec()),
            password: Cow::Borrowed(&b"p w"[..]),
        }
    );
    assert_eq!(
        p("a AUTHENTICATE plain\r\n"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial: None
        }
    );
    assert_eq!(
        p("a AUTHENTICATE PLAIN =\r\n"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some(&b"="[..])
        }
    );
}

#[test]
fn mailbox_commands_and_names() {
    assert_eq!(
        p("a SELECT inbox\r\n"),
        CommandBody::Select {
            mailbox: "INBOX".into(),
            condstore: false,
            qresync: None
        }
    );
    assert_eq!(
        p("a EXAMINE \"Inbox/Sub\" (CONDSTORE)\r\n"),
        CommandBody::Examine {
            mailbox: "INBOX/Sub".into(),
            condstore: true,
            qresync: None
        }
    );
    assert_eq!(
        p("a SELECT x (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:2 1:2)) CONDSTORE)\r\n"),
        CommandBody::Select {
            mailbox: "x".into(),
            condstore: true,
            qresync: Some(QresyncParams {
                uidvalidity: 67890007,
                modseq: 20050715194045000,
                known_uids: Some(set(&[(41, 41), (43, 211), (214, 541)]))
            })
        }
    );
    assert_eq!(err("a SELECT x (FOO)\r\n").1, "Unknown SELECT parameter");
    assert_eq!(
        p("a CREATE &ZeVnLIqe-\r\n"),
        CommandBody::Create {
            mailbox: "日本語".into()
        }
    );
    assert_eq!(
        p("a CREATE \"Entwürfe\"\r\n"),
        CommandBody::Create {
            mailbox: "Entwürfe".into()
        }
    );
    assert_eq!(p("a DELETE x\r\n"), CommandBody::Delete { mailbox: "x".into() });
    assert_eq!(
        p("a RENAME a \"b c\"\r\n"),
        CommandBody::Rename {
            from: "a".into(),
            to: "b c".into()
        }
    );
    assert_eq!(p("a SUBSCRIBE x\r\n"), CommandBody::Subscribe { mailbox: "x".into() });
    assert_eq!(
        p("a UNSUBSCRIBE x\r\n"),
        CommandBody::Unsubscribe { mailbox: "x".into() }
    );
    assert_eq!(
        p("a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT)\r\n"),
        CommandBody::Status {
            mailbox: "INBOX".into(),
            items: vec![
                StatusItem::Messages,
                StatusItem::UidNext,
                StatusItem::UidValidity,
                StatusItem::Unseen,
                StatusItem::Deleted,
                StatusItem::Size,
                StatusItem::Recent
            ]
        }
    );
    assert_eq!(err("a SELECT \"a\\x\"\r\n").1, "Invalid escape in quoted string");
}

#[test]
fn list_variants() {
    assert_eq!(
        p("a LIST \"\" %\r\n"),
        CommandBody::List {
            reference: "".into(),
            patterns: vec!["%".into()],
            select: ListSelect::default(),
            ret: ListReturn::default(),
            xlist: false
        }
    );
    assert_eq!(
        p("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX* \"Foo/%\") RETURN (CHILDREN SUBSCRIBED STATUS (MESSAGES SIZE))\r\n"),
        CommandBody::List {
            reference: "".into(),
            patterns: vec!["INBOX*".into(), "Foo/%".into()],
            select: ListSelect {
                subscribed: true,
                recursive_match: true,
                ..Default::default()
            },
            ret: ListReturn {
                subscribed: true,
                children: true,
                special_use: false,
                status: vec![StatusItem::Messages, StatusItem::Size]
            },
            xlist: false
        }
    );
    assert!(matches!(p("a XLIST \"\" *\r\n"), CommandBody::List { xlist: true, .. }));
    assert_eq!(
        p("a LSUB \"\" *\r\n"),
        CommandBody::Lsub {
            reference: "".into(),
            pattern: "*".into()
        }
    );
    assert_eq!(
        err("a LIST (RECURSIVEMATCH) \"\" *\r\n").1,
        "RECURSIVEMATCH needs another selection option"
    );
}

#[test]
fn append_forms() {
    let CommandBody::Append { mailbox, messages } =
        p("a APPEND Drafts (\\Draft \\seen) \"05-Jan-2024 10:00:00 +0100\" {5+}\r\nhello ~{3}\r\na\0b\r\n")
    else {
        panic!()
    };
    assert_eq!(mailbox, "Drafts");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].flags, vec!["\\Draft".to_string(), "\\Seen".to_string()]);
    assert_eq!(
        messages[0].date,
        Some(DateTime {
            date: Date {
                year: 2024,
                month: 1,
                day: 5
            },
            hour: 10,
            minute: 0,
            second: 0,
            zone_minutes: 60
        })
    );
    assert_eq!(messages[0].data, b"hello");
    assert!(messages[1].binary && messages[1].data == b"a\0b");
    assert_eq!(
        err("a APPEND x {3}\r\na\0b\r\n").1,
        "NUL in literal; use a binary literal"
    );
    assert_eq!(err("a APPEND x\r\n").1, "APPEND needs a message");
}

#[test]
fn fetch_items() {
    use FetchAtt as F;
    assert_eq!(
        p("a FETCH 1:* ALL\r\n"),
        CommandBody::Fetch {
            uid: false,
            set: SeqSet::Ranges(vec![(SeqNum::Value(1), SeqNum::Largest)]),
            items: vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope],
            changed_since: None,
            vanished: false
        }
    );
    let CommandBody::Fetch { uid, items, .. } = p(
        "a UID FETCH 5 (BODY.PEEK[1.2.HEADER.FIELDS.NOT (X-A \"b\")]<10.20> BODY[] BODY[3.MIME] BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT BINARY.PEEK[1]<0.5> BINARY.SIZE[2] UID)\r\n",
    ) else {
        panic!()
    };
    assert!(uid);
    assert_eq!(
        items,
        vec![
            F::BodySection {
                peek: true,
                section: Section {
                    part: vec![1, 2],
                    text: Some(SectionText::HeaderFieldsNot(vec!["X-A".into(), "b".into()]))
                },
                partial: Some((10, 20))
            },
            F::BodySection {
                peek: false,
                section: Section::default(),
                partial: None
            },
            F::BodySection {
                peek: false,
                section: Section {
                    part: vec![3],
                    text: Some(SectionText::Mime)
                },
                partial: None
            },
            F::BodyStructure,
            F::Body,
            F::Rfc822,
            F::Rfc822Header,
            F::Rfc822Text,
            F::Binary {
                peek: true,
                part: vec![1],
                partial: Some((0, 5))
            },
            F::BinarySize { part: vec![2] },
            F::Uid
        ]
    );
    assert_eq!(
        p("a FETCH $ FAST\r\n"),
        CommandBody::Fetch {
            uid: false,
            set: SeqSet::Saved,
            items: vec![F::Flags, F::InternalDate, F::Rfc822Size],
            changed_since: None,
            vanished: false
        }
    );
    assert_eq!(
        p("a UID FETCH 1:* (FLAGS MODSEQ) (CHANGEDSINCE 12345)\r\n"),
        CommandBody::Fetch {
            uid: true,
            set: SeqSet::Ranges(vec![(SeqNum::Value(1), SeqNum::Largest)]),
            items: vec![F::Flags, F::ModSeq],
            changed_since: Some(12345),
            vanished: false
        }
    );
    assert!(matches!(
        p("a UID FETCH 1:* FLAGS (VANISHED CHANGEDSINCE 9)\r\n"),
        CommandBody::Fetch {
            changed_since: Some(9),
            vanished: true,
            ..
        }
    ));
    assert_eq!(err("a FETCH 0 FLAGS\r\n").1, "Zero is not a valid number here");
    assert_eq!(err("a FETCH 1 BODY[MIME]\r\n").1, "Invalid section");
}

#[test]
fn store_copy_move() {
    assert_eq!(
        p("a STORE 2:4 +FLAGS.SILENT (\\Deleted $Junk)\r\n"),
        CommandBody::Store {
            uid: false,
            set: set(&[(2, 4)]),
            unchanged_since: None,
            mode: StoreMode::Add,
            silent: true,
            flags: vec!["\\Deleted".into(), "$Junk".into()]
        }
    );
    assert_eq!(
        p("a UID STORE 9 (UNCHANGEDSINCE 7) FLAGS \\Seen \\Answered\r\n"),
        CommandBody::Store {
            uid: true,
            set: set(&[(9, 9)]),
            unchanged_since: Some(7),
            mode: StoreMode::Replace,
            silent: false,
            flags: vec!["\\Seen".into(), "\\Answered".into()]
        }
    );
    assert!(matches!(
        p("a STORE 1 -FLAGS ()\r\n"),
        CommandBody::Store {
            mode: StoreMode::Remove,
            ..
        }
    ));
    assert_eq!(
        p("a UID COPY 1,3 Trash\r\n"),
        CommandBody::Copy {
            uid: true,
            set: set(&[(1, 1), (3, 3)]),
            mailbox: "Trash".into()
        }
    );
    assert_eq!(
        p("a MOVE 1 \"Junk\"\r\n"),
        CommandBody::Move {
            uid: false,
            set: set(&[(1, 1)]),
            mailbox: "Junk".into()
        }
    );
    assert_eq!(err("a UID NOOP\r\n").1, "Invalid UID command");
}

#[test]
fn search_keys() {
    use SearchKey as K;
    let d = |day, month, year| Date { year, month, day };
    let CommandBody::Search {
        uid,
        charset,
        ret,
        key,
    } = p("a UID SEARCH RETURN (MIN COUNT SAVE) CHARSET UTF-8 1:3 UID $ OR SEEN (FLAGGED NOT DRAFT) HEADER X-Spam \"yes\" SINCE 1-Feb-1994 BEFORE \"02-Mar-2001\" SENTON 3-apr-2002 LARGER 100 SMALLER 9 KEYWORD $X BODY {3}\r\nfoo\r\n")
    else {
        panic!()
    };
    assert!(uid);
    assert_eq!(charset.as_deref(), Some("UTF-8"));
    assert_eq!(
        ret,
        Some(vec![SearchReturn::Min, SearchReturn::Count, SearchReturn::Save])
    );
    assert_eq!(
        key,
        K::And(vec![
            K::Seq(set(&[(1, 3)])),
            K::Uid(SeqSet::Saved),
            K::Or(
                Box::new(K::Seen),
                Box::new(K::And(vec![K::Flagged, K::Not(Box::new(K::Draft))]))
            ),
            K::Header("X-Spam".into(), "yes".into()),
            K::Since(d(1, 2, 1994)),
            K::Before(d(2, 3, 2001)),
            K::SentOn(d(3, 4, 2002)),
            K::Larger(100),
            K::Smaller(9),
            K::Keyword("$X".into()),
            K::Body("foo".into()),
        ])
    );
    for k in [
        "ALL",
        "ANSWERED",
        "DELETED",
        "DRAFT",
        "FLAGGED",
        "NEW",
        "OLD",
        "RECENT",
        "SEEN",
        "UNANSWERED",
        "UNDELETED",
        "UNDRAFT",
        "UNFLAGGED",
        "UNSEEN",
        "BCC x",
        "CC x",
        "FROM x",
        "SUBJECT x",
        "TEXT x",
        "TO x",
        "UNKEYWORD x",
        "ON 1-Jan-2000",
        "SENTBEFORE 1-Jan-2000",
        "SENTSINCE 1-Jan-2000",
        "*",
        "$",
        "MODSEQ 5",
        "MODSEQ \"/flags/\\\\seen\" priv 5",
    ] {
        p(&format!("a SEARCH {k}\r\n"));
    }
    assert_eq!(err("a SEARCH SINCE 32-Jan-2000\r\n").1, "Invalid date");
    assert_eq!(err("a SEARCH NOT\r\n").1, "Expected space");
}

#[test]
fn sort_command() {
    assert_eq!(
        p("a UID SORT (REVERSE ARRIVAL subject) UTF-8 UNSEEN 1:5\r\n"),
        CommandBody::Sort {
            uid: true,
            criteria: vec![
                SortCriterion {
                    reverse: true,
                    key: SortKey::Arrival
                },
                SortCriterion {
                    reverse: false,
                    key: SortKey::Subject
                }
            ],
            charset: "UTF-8".into(),
            key: SearchKey::And(vec![SearchKey::Unseen, SearchKey::Seq(set(&[(1, 5)]))])
        }
    );
    assert_eq!(err("a SORT () UTF-8 ALL\r\n").1, "Expected atom");
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("a SEARCH {}ALL{}\r\n", "(".repeat(100), ")".repeat(100));
    assert_eq!(err(&deep), (Some("a".into()), "Nesting too deep".into()));
    let ok = format!("a SEARCH {}ALL{}\r\n", "(".repeat(10), ")".repeat(10));
    p(&ok);
}

#[test]
fn errors_carry_the_tag() {
    assert_eq!(err("t7 FROB\r\n"), (Some("t7".into()), "Unknown command FROB".into()));
    assert_eq!(err("+x NOOP\r\n").0, None);
    assert_eq!(err("a NOOP \r\n").1, "Unexpected extra arguments");
}
