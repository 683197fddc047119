//! Kopano import (`gromox-kdb2mt`): a Kopano-shaped database on MariaDB (fixture
//! `tests/fixtures/kdb/store.sql`) plus an attachment directory, piped into `gromox-import`,
//! read back from the store; the walk over an in-memory database; the fuzz seeds.

use exmdbd::layout::fid;
use gromox_mapi::named::PS_PUBLIC_STRINGS;
use gromox_mapi::tags::{PR_ATTACH_DATA_BIN, PR_BODY, PR_DISPLAY_NAME, PR_SUBJECT};
use gromox_mapi::{Guid, PropName, PropTag, PropType, PropVal};
use gromox_mt::kdb::{self, MemSource, Node, PropRow, StoreRow};
use gromox_mt::{Frame, Reader};
use gromox_testkit::TestDir;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const PR_ATTACH_LONG_FILENAME: PropTag = PropTag(0x3707_001F);
const PR_EMAIL_ADDRESS: PropTag = PropTag(0x3003_001F);
const PR_RECIPIENT_TYPE: PropTag = PropTag(0x0C15_0003);
const PSETID_COMMON: Guid = Guid::from_fields(0x00062008, 0, 0, [0xC0, 0, 0, 0, 0, 0, 0, 0x46]);

#[test]
fn fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/kdb");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        kdb::fuzz(&data);
        n += 1;
    }
    assert!(n >= 3, "seeds in {}", dir.display());
}

fn text(v: Option<&PropVal>) -> Option<&str> {
    v.and_then(|v| v.as_str())
}

/// The MariaDB server of `GROMOX_TEST_MYSQL` (host, port, user, password), or None with a loud
/// SKIP line, as the directory tests do.
fn mysql_server(test: &str) -> Option<(String, u16, String, String)> {
    let Some(url) = std::env::var("GROMOX_TEST_MYSQL").ok().filter(|v| !v.is_empty()) else {
        eprintln!(
            "\n*** SKIP {test} on MariaDB: GROMOX_TEST_MYSQL is not set \
             (run common/directory/tests/start-mariadb.sh and export what it prints) ***\n"
        );
        return None;
    };
    let rest = url
        .strip_prefix("mysql://")
        .expect("GROMOX_TEST_MYSQL must be mysql://user:pass@host:port/");
    let (cred, hostport) = rest
        .trim_end_matches('/')
        .rsplit_once('@')
        .expect("user:pass@host:port");
    let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "3306"));
    Some((host.into(), port.parse().unwrap(), user.into(), pass.into()))
}

/// Creates database `db` from the fixture.
fn load_fixture(host: &str, port: u16, user: &str, pass: &str, db: &str) {
    use mysql::prelude::Queryable;
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some(host))
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(pass))
        .prefer_socket(false);
    let mut c = mysql::Conn::new(opts).expect("cannot connect to GROMOX_TEST_MYSQL");
    c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`")).unwrap();
    c.query_drop(format!("CREATE DATABASE `{db}` CHARACTER SET utf8mb4"))
        .unwrap();
    c.query_drop(format!("USE `{db}`")).unwrap();
    let sql =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kdb/store.sql")).unwrap();
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .map(|l| format!("{l}\n"))
        .collect();
    for stmt in body.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        c.query_drop(stmt).unwrap_or_else(|e| panic!("{e}: {stmt}"));
    }
}

fn drop_db(host: &str, port: u16, user: &str, pass: &str, db: &str) {
    use mysql::prelude::Queryable;
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some(host))
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(pass))
        .prefer_socket(false);
    if let Ok(mut c) = mysql::Conn::new(opts) {
        let _ = c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"));
    }
}

/// The attachment directory: instance 7 plain in Kopano's hashed layout, 13 gzip-compressed.
fn attach_dir(dir: &Path) -> std::path::PathBuf {
    let a = dir.join("attachments");
    std::fs::create_dir_all(a.join("7/0")).unwrap();
    std::fs::write(a.join("7/0/7"), b"Hello, attachment!\n").unwrap();
    std::fs::create_dir_all(a.join("3/1")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"notes kept gzip-compressed").unwrap();
    std::fs::write(a.join("3/1/13.gz"), gz.finish().unwrap()).unwrap();
    a
}

/// Runs gromox-kdb2mt with `args` into gromox-import on `maildir`; (kdb2mt stderr, status
/// success, import stderr).
fn kdb2mt_import(conn: &[String], args: &[&str], pass: &str, maildir: &Path) -> (String, bool, String) {
    let mut p = Command::new(gromox_testkit::bin("gromox-kdb2mt"))
        .args(conn)
        .args(args)
        .env("SQLPASS", pass)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stream = p.stdout.take().unwrap();
    let imp = Command::new(gromox_testkit::bin("gromox-import"))
        .args(["--maildir", maildir.to_str().unwrap()])
        .stdin(stream)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let out = p.wait_with_output().unwrap();
    let ierr = String::from_utf8_lossy(&imp.stderr).into_owned();
    assert!(imp.status.success(), "import: {ierr}");
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
        ierr,
    )
}

#[test]
fn kopano_store_imports_through_the_stream() {
    let Some((host, port, user, pass)) = mysql_server("kopano_store_imports_through_the_stream") else {
        return;
    };
    let db = format!("gromoxtest_kdb_{}", std::process::id());
    load_fixture(&host, port, &user, &pass, &db);
    let dir = TestDir::new();
    let attach = attach_dir(dir.path());
    let conn: Vec<String> = vec![
        "--sql-host".into(),
        host.clone(),
        "--sql-port".into(),
        port.to_string(),
        "--sql-user".into(),
        user.clone(),
        "--sql-db".into(),
        db.clone(),
        "--src-attach".into(),
        attach.display().to_string(),
    ];

    // -l lists both stores with their GUIDs.
    let l = Command::new(gromox_testkit::bin("gromox-kdb2mt"))
        .args(&conn)
        .arg("-l")
        .env("SQLPASS", &pass)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&l.stdout);
    assert!(l.status.success(), "{}", String::from_utf8_lossy(&l.stderr));
    assert!(
        list.contains("00112233445566778899aabbccddeeff") && list.contains("alice"),
        "{list}"
    );
    assert!(list.contains("bob"), "{list}");
    // A wrong password fails clearly, without echoing it.
    let bad = Command::new(gromox_testkit::bin("gromox-kdb2mt"))
        .args(&conn)
        .arg("-l")
        .env("SQLPASS", "wrong-secret-xyz")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&bad.stderr).contains("wrong-secret-xyz"));

    // -s: Inbox and Calendar are spliced into the store's default folders.
    let md = dir.path().join("alice");
    exmdbd::Store::create_private(&md, "alice@example.org", "en", false, &Default::default()).unwrap();
    let (err, ok, ierr) = kdb2mt_import(&conn, &["--mbox-mro", "alice", "-s", "-v"], &pass, &md);
    // The one attachment without data is named with its path, the rest is converted.
    assert!(!ok, "{err}");
    let bad_lines: Vec<&str> = err.lines().filter(|l| l.contains("not found")).collect();
    assert_eq!(bad_lines.len(), 1, "{err}");
    assert!(
        bad_lines[0].contains("kdb:alice:IPM_SUBTREE/Calendar/message 30/attachment 33"),
        "{err}"
    );
    assert!(
        err.contains("3 folders, 2 messages, 1 associated messages, 1 failed"),
        "{err}"
    );
    assert!(ierr.contains("3 messages imported"), "{ierr}");

    let mut store = exmdbd::Store::open(&md, &Default::default()).unwrap();
    // Folder tree: Inbox/Projects, Calendar; no Schedule (outside IPM_SUBTREE), no search folder.
    let projects = store
        .find_folder(fid::INBOX, "Projects")
        .unwrap()
        .expect("Inbox/Projects");
    assert!(store.find_folder(fid::IPMSUBTREE, "Schedule").unwrap().is_none());
    assert!(store.find_folder(fid::IPMSUBTREE, "Finder").unwrap().is_none());
    assert_eq!(store.list_messages(projects, true).unwrap().len(), 1);

    let inbox = store.list_messages(fid::INBOX, false).unwrap();
    assert_eq!(inbox.len(), 1, "the soft-deleted message stays out");
    let m = store.read_message(inbox[0]).unwrap();
    assert_eq!(text(m.get(PR_SUBJECT)), Some("Hello from Kopano"));
    assert_eq!(text(m.get(PR_BODY)), Some("First body, with Umlauts: äöü"));
    assert_eq!(
        m.get(PropTag(0x0E06_0040)),
        Some(&PropVal::SysTime((30_000_000u64 << 32) | 0x8000_0000))
    );
    assert_eq!(m.recipients.len(), 1);
    assert_eq!(
        text(
            m.recipients[0]
                .iter()
                .find(|t| t.tag == PR_DISPLAY_NAME)
                .map(|t| &t.val)
        ),
        Some("Bob Builder")
    );
    assert_eq!(
        text(
            m.recipients[0]
                .iter()
                .find(|t| t.tag == PR_EMAIL_ADDRESS)
                .map(|t| &t.val)
        ),
        Some("bob@example.org")
    );
    // Attachments: plain file, embedded message, gzip file, lob chunks.
    assert_eq!(m.attachments.len(), 4);
    let att = |name: &str| {
        m.attachments
            .iter()
            .find(|a| {
                a.props
                    .iter()
                    .any(|t| t.tag == PR_ATTACH_LONG_FILENAME && t.val.as_str() == Some(name))
            })
            .unwrap_or_else(|| panic!("attachment {name}"))
    };
    let data = |a: &exmdbd::AttachmentContent| {
        a.props
            .iter()
            .find(|t| t.tag == PR_ATTACH_DATA_BIN)
            .map(|t| t.val.clone())
    };
    assert_eq!(
        data(att("hello.txt")),
        Some(PropVal::Binary(b"Hello, attachment!\n".to_vec()))
    );
    assert_eq!(
        data(att("notes.txt")),
        Some(PropVal::Binary(b"notes kept gzip-compressed".to_vec()))
    );
    assert_eq!(data(att("lob.bin")), Some(PropVal::Binary(b"lob-chunks".to_vec())));
    let emb = m
        .attachments
        .iter()
        .find_map(|a| a.embedded.as_ref())
        .expect("embedded message");
    assert_eq!(text(emb.get(PR_SUBJECT)), Some("Inner message"));
    assert_eq!(text(emb.get(PR_BODY)), Some("Inner body"));
    // Named properties: Keywords (multi-valued string) and PidLidReminderSet.
    let kw = store
        .get_named_propid(&PropName::name(PS_PUBLIC_STRINGS, "Keywords"), false)
        .unwrap()
        .expect("Keywords mapped");
    assert_eq!(
        m.get(PropTag::new(kw, PropType::MvUnicode)),
        Some(&PropVal::MvUnicode(vec!["Projects".into(), "Kopano".into()]))
    );
    let rs = store
        .get_named_propid(&PropName::lid(PSETID_COMMON, 0x8503), false)
        .unwrap()
        .expect("PidLidReminderSet mapped");
    assert_eq!(
        m.get(PropTag::new(rs, PropType::Boolean)),
        Some(&PropVal::Boolean(true))
    );
    // Kopano's own properties and its entry ids are not copied.
    assert!(m.props.iter().all(|t| t.tag.id() != 0x6700));

    let cal = store.list_messages(fid::CALENDAR, false).unwrap();
    assert_eq!(cal.len(), 1);
    let c = store.read_message(cal[0]).unwrap();
    assert_eq!(text(c.get(PR_SUBJECT)), Some("Team meeting"));
    assert_eq!(text(c.get(PR_BODY)), Some("Agenda: everything"));
    assert_eq!(c.recipients.len(), 2);
    assert!(c
        .recipients
        .iter()
        .any(|r| r.iter().any(|t| t.tag == PR_RECIPIENT_TYPE && t.val == PropVal::I4(2))));
    assert_eq!(c.attachments.len(), 1, "the attachment without data is kept");
    drop(store);

    // Without -s everything goes below "Import of alice"; the store is chosen by GUID.
    let md2 = dir.path().join("alice2");
    exmdbd::Store::create_private(&md2, "alice2@example.org", "en", false, &Default::default()).unwrap();
    let (err, _, ierr) = kdb2mt_import(
        &conn,
        &["--mbox-guid", "00112233-4455-6677-8899-AABBCCDDEEFF", "-t"],
        &pass,
        &md2,
    );
    assert!(err.contains("Projects"), "-t tree: {err}");
    assert!(ierr.contains("3 messages imported"), "{ierr}");
    let store = exmdbd::Store::open(&md2, &Default::default()).unwrap();
    let top = store
        .find_folder(fid::IPMSUBTREE, "Import of alice")
        .unwrap()
        .expect("import folder");
    let inbox = store.find_folder(top, "Inbox").unwrap().expect("Inbox below it");
    assert!(store.find_folder(top, "Calendar").unwrap().is_some());
    assert_eq!(store.list_messages(inbox, false).unwrap().len(), 1);
    assert!(store.list_messages(fid::INBOX, false).unwrap().is_empty());
    drop_db(&host, port, &user, &pass, &db);
}

fn prow(tag: u16, ty: u16, s: &str) -> PropRow {
    PropRow {
        tag,
        ty,
        string: Some(s.as_bytes().to_vec()),
        ..Default::default()
    }
}

#[test]
fn broken_objects_are_named_and_the_rest_converts() {
    let n = |id, kind, flags| Node { id, kind, flags };
    let mut src = MemSource {
        stores: vec![StoreRow {
            hierarchy_id: 1,
            user_id: 1,
            kind: 0,
            user_name: "carl".into(),
            guid: vec![1; 16],
        }],
        hierarchy: vec![
            (1, n(2, kdb::T_FOLDER, 0)),
            (2, n(3, kdb::T_FOLDER, 1)),
            (3, n(4, kdb::T_FOLDER, 1)),
            (4, n(5, kdb::T_MESSAGE, 0)),
            (5, n(6, kdb::T_ATTACH, 0)),
            (4, n(7, kdb::T_MESSAGE, 0)),
        ],
        props: vec![
            (3, prow(0x3001, 0x1E, "IPM_SUBTREE")),
            (4, prow(0x3001, 0x1E, "Inbox")),
            (5, prow(0x0037, 0x1E, "broken attachment")),
            (7, prow(0x0037, 0x1E, "fine")),
        ],
        instances: vec![(6, 0x3701, 9)],
        data: vec![(9, true, b"this is not gzip".to_vec())],
        ..Default::default()
    };
    let store = src.stores[0].clone();
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let mut p = gromox_mt::produce::Producer::new(&mut out).unwrap();
    let st = kdb::kdb_to_stream(&mut src, &store, &mut p, &Default::default(), &mut errs).unwrap();
    p.finish().unwrap();
    let errs = String::from_utf8(errs).unwrap();
    assert_eq!((st.folders, st.messages, st.failed), (2, 2, 1), "{errs}");
    assert!(
        errs.starts_with(
            "kdb:carl:IPM_SUBTREE/Inbox/message 5/attachment 6: attachment data (single instance 9): gzip"
        ),
        "{errs}"
    );
    let mut r = Reader::new(&out[..]).unwrap();
    let mut subjects = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        if let Frame::Message(m) = f {
            subjects
                .push(text(m.message.props.iter().find(|t| t.tag == PR_SUBJECT).map(|t| &t.val)).map(str::to_owned));
        }
    }
    assert_eq!(subjects, [Some("broken attachment".into()), Some("fine".into())]);
}

/// A message larger than a stream frame is reported and skipped; the next one still converts.
#[test]
fn oversized_message_is_skipped() {
    let n = |id, kind, flags| Node { id, kind, flags };
    let mut src = MemSource {
        stores: vec![StoreRow {
            hierarchy_id: 1,
            user_id: 1,
            kind: 0,
            user_name: "big".into(),
            guid: vec![2; 16],
        }],
        hierarchy: vec![
            (1, n(2, kdb::T_FOLDER, 0)),
            (2, n(3, kdb::T_FOLDER, 1)),
            (3, n(5, kdb::T_MESSAGE, 0)),
            (3, n(6, kdb::T_MESSAGE, 0)),
        ],
        props: vec![
            (3, prow(0x3001, 0x1E, "IPM_SUBTREE")),
            (
                5,
                PropRow {
                    tag: 0x1013,
                    ty: 0x102,
                    binary: Some(vec![b'x'; (64 << 20) + 1]),
                    ..Default::default()
                },
            ),
            (6, prow(0x0037, 0x1E, "small")),
        ],
        ..Default::default()
    };
    let store = src.stores[0].clone();
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let mut p = gromox_mt::produce::Producer::new(&mut out).unwrap();
    let st = kdb::kdb_to_stream(&mut src, &store, &mut p, &Default::default(), &mut errs).unwrap();
    p.finish().unwrap();
    let errs = String::from_utf8(errs).unwrap();
    assert_eq!((st.messages, st.failed), (1, 1), "{errs}");
    assert!(errs.contains("message 5: larger than a stream frame"), "{errs}");
    let mut r = Reader::new(&out[..]).unwrap();
    let mut n = 0;
    while let Some(f) = r.next_frame().unwrap() {
        n += usize::from(matches!(f, Frame::Message(_)));
    }
    assert_eq!(n, 1);
}
