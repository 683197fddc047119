//! The real exmdbd binary over RPC: handshake, calls, bad frames, ACL, restart.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use gromox_clients::exmdb::{ExmdbClient, ExmdbError, ExmdbOptions};
use gromox_exmdb_proto::{self as proto, Call, Response, Status};
use gromox_mapi::props::{PropTag, PropType, PropVal, TaggedVal};
use gromox_testkit::{Daemon, TestDir};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Env {
    dir: TestDir,
    maildir: PathBuf,
    cfg: PathBuf,
}

fn env(extra: &[(&str, &str)]) -> Env {
    let dir = TestDir::new();
    let state = dir.path().join("state");
    let maildir = exmdbd::paths::user_maildir(&state, "alice@example.org").unwrap();
    std::fs::create_dir_all(&maildir).unwrap();
    exmdbd::Store::create_private(
        &maildir,
        "alice@example.org",
        "en",
        false,
        &exmdbd::StoreOptions::default(),
    )
    .unwrap();
    let state_s = state.to_string_lossy().to_string();
    let mut keys = vec![("state_path", state_s.as_str()), ("exmdb_listen", "127.0.0.1:0")];
    keys.extend_from_slice(extra);
    let cfg = dir.write_config("exmdb_provider.cfg", &keys);
    Env { dir, maildir, cfg }
}

fn start(e: &Env) -> Daemon {
    Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_exmdbd")),
        &["-c", e.cfg.to_str().unwrap()],
        e.dir.path(),
    )
    .unwrap()
}

fn client(addr: SocketAddr) -> ExmdbClient {
    ExmdbClient::new(
        addr,
        ExmdbOptions {
            pool_size: 2,
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(10),
        },
    )
}

/// Soft-delete one message over RPC.
fn soft_delete(c: &ExmdbClient, dir: &str, mid: u64) {
    let call = Call::DeleteMessages {
        mids: vec![mid],
        hard: false,
    };
    c.call(dir, &call).unwrap();
}

fn subject(s: &str) -> TaggedVal {
    TaggedVal::new(
        PropTag(0x0037_0000 | PropType::Unicode as u32),
        PropVal::Unicode(s.into()),
    )
}

#[test]
fn calls_over_rpc() {
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    c.ping(dir).unwrap();

    // Deliver a message with its MIME, then read it back, mark it read, delete and purge.
    let r = c
        .call(
            dir,
            &Call::DeliverMessage {
                folder: None,
                props: vec![subject("Quarterly report")],
                mime: Some(b"Subject: Quarterly report\r\n\r\nHi\r\n".to_vec()),
            },
        )
        .unwrap();
    let Response::Delivered { folder, message } = r else {
        panic!("{r:?}")
    };
    assert_eq!(folder, 0x0d, "delivered to the Inbox");
    let Response::Props(p) = c.call(dir, &Call::GetMessageProps(message)).unwrap() else {
        panic!()
    };
    assert!(
        p.iter().any(|t| t.val == PropVal::Unicode("Quarterly report".into())),
        "{p:?}"
    );
    c.call(
        dir,
        &Call::SetReadState {
            mid: message,
            read: true,
        },
    )
    .unwrap();

    let Response::Folders(f) = c.call(dir, &Call::ListFolders).unwrap() else {
        panic!()
    };
    assert!(f.iter().any(|x| x.id == 0x0d), "Inbox listed");
    let Response::Id(new) = c
        .call(
            dir,
            &Call::CreateFolder {
                parent: 0x0d,
                name: "Projects".into(),
                class: None,
            },
        )
        .unwrap()
    else {
        panic!()
    };
    c.call(
        dir,
        &Call::MoveMessages {
            mids: vec![message],
            to: new,
        },
    )
    .unwrap();
    assert!(matches!(
        c.call(
            dir,
            &Call::EmptyFolder {
                folder: new,
                hard: false
            }
        )
        .unwrap(),
        Response::Count(1)
    ));
    assert!(matches!(c.call(dir, &Call::PurgeSoftdel).unwrap(), Response::Count(n) if n >= 1));
    let gone = c.call(dir, &Call::GetMessageProps(message));
    assert!(matches!(gone, Err(ExmdbError::Call(Status::NotFound, _))), "{gone:?}");
    c.call(dir, &Call::RecalcSizes).unwrap();
    c.call(dir, &Call::PurgeDatafiles).unwrap();
    c.call(dir, &Call::Vacuum).unwrap();

    // Store properties round trip.
    let comment = TaggedVal::new(
        PropTag(0x3004_0000 | PropType::Unicode as u32),
        PropVal::Unicode("hi".into()),
    );
    c.call(dir, &Call::SetStoreProps(vec![comment.clone()])).unwrap();
    let Response::Props(sp) = c.call(dir, &Call::GetStoreProps).unwrap() else {
        panic!()
    };
    assert!(sp.contains(&comment));

    // Maintenance mode.
    c.call(dir, &Call::Freeze).unwrap();
    assert!(matches!(
        c.call(dir, &Call::GetStoreProps),
        Err(ExmdbError::Call(Status::Frozen, _))
    ));
    c.ping(dir).unwrap();
    c.call(dir, &Call::Thaw).unwrap();
    c.call(dir, &Call::GetStoreProps).unwrap();
}

#[test]
fn bad_mailbox_paths_are_refused() {
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let state = e.dir.path().join("state");
    for bad in [
        "/etc".to_string(),
        format!("{}/user/example.org/../../../etc", state.display()),
        "relative/user/x".to_string(),
        format!("{}/other", state.display()),
    ] {
        let r = c.ping(&bad);
        assert!(
            matches!(r, Err(ExmdbError::Call(Status::BadMailbox, _))),
            "{bad}: {r:?}"
        );
    }
    let r = c.ping(&format!("{}/user/example.org/nobody", state.display()));
    assert!(matches!(r, Err(ExmdbError::Call(Status::NotFound, _))), "{r:?}");
}

fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn closed(mut s: TcpStream) -> bool {
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut,
        }
    }
}

#[test]
fn bad_frames_close_only_that_connection() {
    let e = env(&[]);
    let d = start(&e);
    let addr = d.addr("exmdb_listen");
    let c = client(addr);
    let dir = e.maildir.to_str().unwrap();
    c.ping(dir).unwrap();

    // Oversized length prefix.
    let mut s = raw(addr);
    s.write_all(&u32::MAX.to_le_bytes()).unwrap();
    assert!(closed(s));
    // Garbage instead of the handshake.
    let mut s = raw(addr);
    s.write_all(b"\x05\x00\x00\x00hello").unwrap();
    assert!(closed(s));
    // Valid handshake, then a malformed request body (truncated call).
    let mut s = raw(addr);
    let mut f = Vec::new();
    proto::write_frame(&mut f, &proto::handshake_request());
    let mut req = proto::encode_request(dir, &Call::SetReadState { mid: 1, read: true });
    req.truncate(req.len() - 3);
    proto::write_frame(&mut f, &req);
    s.write_all(&f).unwrap();
    assert!(closed(s));
    // A truncated frame followed by a hang-up.
    let mut s = raw(addr);
    s.write_all(&[100, 0, 0, 0, 1, 2]).unwrap();
    drop(s);

    // The pooled connection and new ones keep working.
    c.ping(dir).unwrap();
    client(addr).ping(dir).unwrap();
}

#[test]
fn acl_refuses_other_hosts() {
    let e = env(&[("exmdb_hosts_allow", "10.1.2.3")]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let r = c.ping(e.maildir.to_str().unwrap());
    assert!(matches!(r, Err(ExmdbError::Refused(Status::AccessDenied))), "{r:?}");
}

#[test]
fn client_survives_a_server_restart() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let e = env(&[("exmdb_listen", listen.as_str())]);
    let mut d = start(&e);
    let c = client(listen.parse().unwrap());
    let dir = e.maildir.to_str().unwrap();
    c.ping(dir).unwrap();
    d.kill();
    // Down: an error, not a hang.
    assert!(c.ping(dir).is_err());
    d.restart().unwrap();
    // Up again: the same client recovers without being told.
    c.ping(dir).unwrap();
}

fn mbop(cfg: &Path, args: &[&str]) -> bool {
    let mut a = vec!["gromox-mbop".to_string(), "-c".into(), cfg.to_string_lossy().into()];
    a.extend(args.iter().map(|s| s.to_string()));
    exmdbd::mbop::mbop_main(a) == std::process::ExitCode::SUCCESS
}

#[test]
fn mbop_commands_over_rpc() {
    let e = env(&[]);
    let d = start(&e);
    let addr = d.addr("exmdb_listen").to_string();
    let state = e.dir.path().join("state");
    let state_s = state.to_string_lossy().to_string();
    // Its own directory: exmdb_provider.cfg next to the main file would be read too.
    let mdir = e.dir.path().join("mbop");
    std::fs::create_dir_all(&mdir).unwrap();
    let mcfg = mdir.join("gromox.cfg");
    std::fs::write(&mcfg, format!("exmdb_listen = {addr}\nstate_path = {state_s}\n")).unwrap();
    let dir = e.maildir.to_str().unwrap();
    assert!(mbop(&mcfg, &["-d", dir, "ping"]));
    assert!(mbop(&mcfg, &["-u", "alice@example.org", "ping"]));
    assert!(!mbop(&mcfg, &["-d", "/etc", "ping"]), "bad mailbox fails");
    assert!(!mbop(&mcfg, &["-d", dir, "frobnicate"]), "unknown command fails");

    let c = client(d.addr("exmdb_listen"));
    let deliver = || {
        let r = c
            .call(
                dir,
                &Call::DeliverMessage {
                    folder: None,
                    props: vec![subject("x")],
                    mime: None,
                },
            )
            .unwrap();
        let Response::Delivered { message, .. } = r else {
            panic!()
        };
        message
    };
    let m1 = deliver();
    assert!(mbop(&mcfg, &["-d", dir, "emptyfld", "--soft", "INBOX"]));
    assert!(mbop(&mcfg, &["-d", dir, "purge-softdelete", "-r"]));
    assert!(matches!(
        c.call(dir, &Call::GetMessageProps(m1)),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    let m2 = deliver();
    assert!(mbop(&mcfg, &["-d", dir, "delmsg", "-f", "/Inbox", &m2.to_string()]));
    assert!(matches!(
        c.call(dir, &Call::GetMessageProps(m2)),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    assert!(!mbop(&mcfg, &["-d", dir, "emptyfld", "/No/Such/Folder"]));

    assert!(mbop(&mcfg, &["-d", dir, "set-props", "0x3004001f=maintained"]));
    let Response::Props(p) = c.call(dir, &Call::GetStoreProps).unwrap() else {
        panic!()
    };
    assert!(p.iter().any(|t| t.val == PropVal::Unicode("maintained".into())));
    assert!(mbop(&mcfg, &["-d", dir, "get-props"]));
    for cmd in ["vacuum", "purge-datafiles", "recalc-sizes", "freeze", "thaw"] {
        assert!(mbop(&mcfg, &["-d", dir, cmd]), "{cmd}");
    }

    // Permissions: store-owner rights come only from the member's own IPM_SUBTREE row.
    let rights = |u: &str| match c.call(dir, &Call::MailboxRights { user: u.into() }).unwrap() {
        Response::Count(r) => r,
        r => panic!("{r:?}"),
    };
    assert_eq!(rights("bob@example.org"), 0);
    assert!(mbop(&mcfg, &["-d", dir, "set-perm", "default", "IPM_SUBTREE", "all"]));
    assert_eq!(
        rights("bob@example.org"),
        0,
        "the default member never makes a store owner"
    );
    assert!(mbop(
        &mcfg,
        &["-d", dir, "set-perm", "bob@example.org", "INBOX", "storeowner"]
    ));
    assert_eq!(rights("bob@example.org"), 0, "only IPM_SUBTREE counts");
    assert!(mbop(
        &mcfg,
        &[
            "-d",
            dir,
            "set-perm",
            "bob@example.org",
            "IPM_SUBTREE",
            "readany,visible"
        ]
    ));
    assert_eq!(rights("BOB@example.org"), 0x401);
    assert!(mbop(
        &mcfg,
        &["-d", dir, "set-perm", "bob@example.org", "IPM_SUBTREE", "owner"]
    ));
    assert_eq!(
        rights("bob@example.org"),
        0x2100,
        "folder owner on IPM_SUBTREE is store owner"
    );
    assert!(mbop(
        &mcfg,
        &["-d", dir, "set-perm", "carol@example.org", "IPM_SUBTREE", "0x2000"]
    ));
    assert_eq!(rights("carol@example.org"), 0x2000);
    assert!(mbop(&mcfg, &["-d", dir, "mbox-rights", "carol@example.org"]));
    assert!(mbop(
        &mcfg,
        &["-d", dir, "del-perm", "carol@example.org", "IPM_SUBTREE"]
    ));
    assert_eq!(rights("carol@example.org"), 0);
    assert!(!mbop(
        &mcfg,
        &["-d", dir, "set-perm", "carol@example.org", "IPM_SUBTREE", "godmode"]
    ));
    assert!(!mbop(
        &mcfg,
        &["-d", dir, "set-perm", "carol@example.org", "/No/Such", "all"]
    ));
}

#[test]
fn listener_gets_new_mail_and_resubscribes_after_restart() {
    use gromox_clients::exmdb::{ExmdbListener, ListenerOptions};
    use gromox_exmdb_proto::nf;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let e = env(&[("exmdb_listen", listen.as_str())]);
    let mut d = start(&e);
    let addr: SocketAddr = listen.parse().unwrap();
    let dir = e.maildir.to_str().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let l = ExmdbListener::start(
        addr,
        dir.clone(),
        1 << nf::NEW_MAIL,
        ListenerOptions::default(),
        move |n| {
            let _ = tx.send(n);
        },
    )
    .unwrap();
    let c = client(addr);
    let deliver = |c: &ExmdbClient| {
        let r = c
            .call(
                &dir,
                &Call::DeliverMessage {
                    folder: None,
                    props: vec![subject("hello")],
                    mime: None,
                },
            )
            .unwrap();
        let Response::Delivered { message, .. } = r else {
            panic!()
        };
        message
    };
    assert!(gromox_testkit::wait_until(Duration::from_secs(5), || l.subscriptions() == 1));
    let m = deliver(&c);
    let n = rx.recv_timeout(Duration::from_secs(5)).expect("new-mail notification");
    assert_eq!((n.kind, n.folder, n.message), (nf::NEW_MAIL, 0x0d, m));

    d.kill();
    d.restart().unwrap();
    assert!(
        gromox_testkit::wait_until(Duration::from_secs(5), || l.subscriptions() == 2),
        "re-subscribed"
    );
    let m2 = deliver(&c);
    let n = rx.recv_timeout(Duration::from_secs(5)).expect("new-mail after restart");
    assert_eq!(n.message, m2);
}

/// Named properties over RPC (Gromox get_named_propids / get_named_propnames): unknown names
/// are 0 until created, created ids are stable and map back to their names, unmapped ids are
/// `None`.
#[test]
fn named_properties_over_rpc() {
    use gromox_mapi::named::{PropName, PSETID_APPOINTMENT, PS_PUBLIC_STRINGS};
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let names = vec![
        PropName::lid(PSETID_APPOINTMENT, 0x8205),
        PropName::name(PS_PUBLIC_STRINGS, "X-Project-Code ✓"),
        PropName::lid(PS_PUBLIC_STRINGS, 0x1234_5678),
    ];
    // Unknown and not created: 0 each (in a fresh store nothing is mapped except what the
    // store itself uses, so look up names nobody else creates).
    let fresh = vec![PropName::name(PS_PUBLIC_STRINGS, "never-created-here")];
    assert_eq!(c.get_named_propids(dir, false, &fresh).unwrap(), vec![0]);
    let ids = c.get_named_propids(dir, true, &names).unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|&i| i >= 0x8001), "{ids:x?}");
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        3,
        "distinct ids"
    );
    // Stable: asking again (without create) gives the same ids, also in another order.
    assert_eq!(c.get_named_propids(dir, false, &names).unwrap(), ids);
    let rev: Vec<_> = names.iter().rev().cloned().collect();
    let mut back = c.get_named_propids(dir, false, &rev).unwrap();
    back.reverse();
    assert_eq!(back, ids);
    // Mixed known/unknown without create.
    assert_eq!(
        c.get_named_propids(dir, false, &[names[1].clone(), fresh[0].clone()])
            .unwrap(),
        vec![ids[1], 0]
    );
    // Ids map back to their names; unmapped ids (0xfffe, a non-named id) are None.
    let got = c
        .get_named_propnames(dir, &[ids[2], 0xfffe, ids[0], ids[1], 0x0037])
        .unwrap();
    assert_eq!(
        got,
        vec![
            Some(names[2].clone()),
            None,
            Some(names[0].clone()),
            Some(names[1].clone()),
            None
        ]
    );
    assert_eq!(c.get_named_propnames(dir, &[]).unwrap(), vec![]);
    // The mapping survives a restart of the daemon.
    drop(d);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    assert_eq!(c.get_named_propids(dir, false, &names).unwrap(), ids);
}

const PR_HTML: PropTag = PropTag(0x1013_0102);
const PR_BODY: PropTag = PropTag(0x1000_001F);
const PR_DISPLAY_NAME: PropTag = PropTag(0x3001_001F);
const PR_SMTP_ADDRESS: PropTag = PropTag(0x39FE_001F);
const PR_RECIPIENT_TYPE: PropTag = PropTag(0x0C15_0003);
const PR_ATTACH_METHOD: PropTag = PropTag(0x3705_0003);
const PR_ATTACH_LONG_FILENAME: PropTag = PropTag(0x3707_001F);
const PR_ATTACH_DATA_BIN: PropTag = PropTag(0x3701_0102);
const PR_MESSAGE_CLASS: PropTag = PropTag(0x001A_001F);

/// Tags the store adds or maintains when a message is written (change tracking, times, size,
/// ids): dropped before comparing with what was written, unless the writer set them.
const STORE_MAINTAINED: &[u32] = &[
    0x65E2_0102, // PR_CHANGE_KEY
    0x65E3_0102, // PR_PREDECESSOR_CHANGE_LIST
    0x3007_0040, // PR_CREATION_TIME
    0x3008_0040, // PR_LAST_MODIFICATION_TIME
    0x0E08_0003, // PR_MESSAGE_SIZE
    0x0E08_0014, // PR_MESSAGE_SIZE_EXTENDED
    0x674A_0014, // PR_MID
    0x6748_0014, // PR_FID
    0x67A4_0014, // PR_CHANGE_NUMBER
];

fn props_of(written: &[TaggedVal], read: &[TaggedVal]) -> Vec<TaggedVal> {
    let mut v: Vec<TaggedVal> = read
        .iter()
        .filter(|p| !STORE_MAINTAINED.contains(&p.tag.0) || written.iter().any(|w| w.tag == p.tag))
        .cloned()
        .collect();
    v.sort_by_key(|p| p.tag.0);
    v
}

fn sorted(p: &[TaggedVal]) -> Vec<TaggedVal> {
    let mut v = p.to_vec();
    v.sort_by_key(|p| p.tag.0);
    v
}

/// Asserts that `read` is `written` plus store-maintained tags, recursively.
fn assert_same_message(written: &proto::MessageContent, read: &proto::MessageContent, path: &str) {
    assert_eq!(
        sorted(&written.props),
        props_of(&written.props, &read.props),
        "{path}: properties"
    );
    assert_eq!(written.recipients.len(), read.recipients.len(), "{path}: recipients");
    for (i, (w, r)) in written.recipients.iter().zip(&read.recipients).enumerate() {
        assert_eq!(sorted(w), props_of(w, r), "{path}: recipient {i}");
    }
    assert_eq!(written.attachments.len(), read.attachments.len(), "{path}: attachments");
    for (i, (w, r)) in written.attachments.iter().zip(&read.attachments).enumerate() {
        assert_eq!(sorted(&w.props), props_of(&w.props, &r.props), "{path}: attachment {i}");
        match (&w.embedded, &r.embedded) {
            (Some(we), Some(re)) => assert_same_message(we, re, &format!("{path}/attachment {i}")),
            (None, None) => {}
            (a, b) => panic!("{path}: attachment {i} embedded {} vs {}", a.is_some(), b.is_some()),
        }
    }
}

fn uni(tag: PropTag, s: &str) -> TaggedVal {
    TaggedVal::new(tag, PropVal::Unicode(s.into()))
}

fn recipient(name: &str, addr: &str, kind: i32) -> Vec<TaggedVal> {
    vec![
        uni(PR_DISPLAY_NAME, name),
        uni(PR_SMTP_ADDRESS, addr),
        TaggedVal::new(PR_RECIPIENT_TYPE, PropVal::I4(kind)),
    ]
}

fn file_attachment(name: &str, data: Vec<u8>) -> proto::AttachmentContent {
    proto::AttachmentContent {
        props: vec![
            TaggedVal::new(PR_ATTACH_METHOD, PropVal::I4(1)),
            uni(PR_ATTACH_LONG_FILENAME, name),
            TaggedVal::new(PR_ATTACH_DATA_BIN, PropVal::Binary(data)),
        ],
        embedded: None,
    }
}

/// Whole messages over RPC (Gromox write_message / read_message): an HTML message with three
/// recipients, a file attachment and an embedded message with its own attachment is written,
/// read back identical (plus the store's change tracking), and the folder and existence
/// checks answer with their statuses.
#[test]
fn whole_messages_over_rpc() {
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let inbox = 0x0d;
    let html = b"<html><body><p>Quarterly <b>numbers</b> attached.</p></body></html>".to_vec();
    let inner = proto::MessageContent {
        props: vec![
            uni(PR_MESSAGE_CLASS, "IPM.Note"),
            subject("Forwarded: the original"),
            uni(PR_BODY, "the original body"),
        ],
        recipients: vec![recipient("Carol", "carol@example.net", 1)],
        attachments: vec![file_attachment("inner.txt", b"inner attachment data".to_vec())],
    };
    let msg = proto::MessageContent {
        props: vec![
            uni(PR_MESSAGE_CLASS, "IPM.Note"),
            subject("Numbers Q3"),
            TaggedVal::new(PR_HTML, PropVal::Binary(html.clone())),
        ],
        recipients: vec![
            recipient("Bob", "bob@example.org", 1),
            recipient("Dave", "dave@example.org", 2),
            recipient("Eve", "eve@example.org", 3),
        ],
        attachments: vec![
            file_attachment("numbers.csv", (0..4000u32).flat_map(|i| i.to_le_bytes()).collect()),
            proto::AttachmentContent {
                props: vec![
                    TaggedVal::new(PR_ATTACH_METHOD, PropVal::I4(5)),
                    uni(PR_DISPLAY_NAME, "Forwarded: the original"),
                ],
                embedded: Some(Box::new(inner)),
            },
        ],
    };
    let mid = c.write_message(dir, inbox, false, &msg).unwrap();
    assert_ne!(mid, 0);
    let back = c.read_message(dir, mid).unwrap();
    assert_same_message(&msg, &back, "message");
    let html_back = back.props.iter().find(|p| p.tag == PR_HTML).map(|p| &p.val);
    assert_eq!(html_back, Some(&PropVal::Binary(html)));
    // The message is a normal message of the Inbox: listed, and its properties readable.
    let listed = c.list_messages(dir, inbox, 0, 100, 0).unwrap();
    assert!(listed.iter().any(|m| m.mid == mid), "{listed:?}");
    // An associated (FAI) message: readable, but not listed among the normal messages.
    let fai = c
        .write_message(dir, inbox, true, &proto::MessageContent::default())
        .unwrap();
    assert!(fai != mid && fai != 0);
    let read = c.read_message(dir, fai).unwrap();
    assert!(read.recipients.is_empty() && read.attachments.is_empty());
    let listed: Vec<u64> = c
        .list_messages(dir, inbox, 0, 100, 0)
        .unwrap()
        .iter()
        .map(|m| m.mid)
        .collect();
    assert_eq!(listed, vec![mid]);
    // Unknown folder, unknown message.
    match c.write_message(dir, 0x7777_7777, false, &msg) {
        Err(ExmdbError::Call(Status::NotFound, _)) => {}
        r => panic!("{r:?}"),
    }
    match c.read_message(dir, 0x7777_7777) {
        Err(ExmdbError::Call(Status::NotFound, _)) => {}
        r => panic!("{r:?}"),
    }
    // A soft-deleted message is gone for read_message.
    soft_delete(&c, dir, mid);
    assert!(matches!(
        c.read_message(dir, mid),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
}

/// Nesting deeper than the protocol allows is refused by the server as a bad request, and the
/// connection's next call still works (the pool reconnects).
#[test]
fn too_deep_messages_are_refused() {
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let mut m = proto::MessageContent::default();
    for _ in 0..=proto::MAX_MESSAGE_DEPTH {
        m = proto::MessageContent {
            attachments: vec![proto::AttachmentContent {
                props: vec![TaggedVal::new(PR_ATTACH_METHOD, PropVal::I4(5))],
                embedded: Some(Box::new(m)),
            }],
            ..Default::default()
        };
    }
    match c.write_message(dir, 0x0d, false, &m) {
        Err(ExmdbError::Call(Status::BadRequest, msg)) => assert!(msg.contains("deep"), "{msg}"),
        r => panic!("{r:?}"),
    }
    // Exactly the limit is fine and reads back to the same depth.
    let m = match m.attachments.pop().and_then(|a| a.embedded) {
        Some(inner) => *inner,
        None => unreachable!(),
    };
    let mid = c.write_message(dir, 0x0d, false, &m).unwrap();
    let mut back = c.read_message(dir, mid).unwrap();
    let mut depth = 0;
    while let Some(e) = back.attachments.pop().and_then(|a| a.embedded) {
        back = *e;
        depth += 1;
    }
    assert_eq!(depth, proto::MAX_MESSAGE_DEPTH);
    c.ping(dir).unwrap();
    drop(d);
    // A deeper message stored in-process (the store nests to any depth) is refused by
    // ReadMessage with NotSupported instead of a response the client could not decode.
    let mut deep = exmdbd::MessageContent::default();
    for _ in 0..=proto::MAX_MESSAGE_DEPTH {
        deep = exmdbd::MessageContent {
            attachments: vec![exmdbd::AttachmentContent {
                props: vec![],
                embedded: Some(Box::new(deep)),
            }],
            ..Default::default()
        };
    }
    let deep_mid = {
        let mut st = exmdbd::Store::open(&e.maildir, &exmdbd::StoreOptions::default()).unwrap();
        st.create_message(0x0d, &deep, false).unwrap()
    };
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    match c.read_message(dir, deep_mid) {
        Err(ExmdbError::Call(Status::NotSupported, msg)) => assert!(msg.contains("deeper"), "{msg}"),
        r => panic!("{r:?}"),
    }
    assert_eq!(c.read_message(dir, mid).unwrap().attachments.len(), 1);
}

/// Gromox set_message_properties / remove_message_properties over RPC, with a named property.
#[test]
fn message_properties_over_rpc() {
    use gromox_mapi::named::{PropName, PS_PUBLIC_STRINGS};
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let mid = c
        .write_message(
            dir,
            0x0d,
            false,
            &proto::MessageContent {
                props: vec![subject("before"), uni(PR_BODY, "body")],
                ..Default::default()
            },
        )
        .unwrap();
    let id = c
        .get_named_propids(dir, true, &[PropName::name(PS_PUBLIC_STRINGS, "Project")])
        .unwrap()[0];
    let named = PropTag(((id as u32) << 16) | PropType::Unicode as u32);
    let (cn_before, _) = c.folder_state(dir, 0x0d).unwrap();
    c.set_message_props(dir, mid, &[subject("after"), uni(named, "Apollo")])
        .unwrap();
    // The edit takes a new change number: the index's change probe sees it.
    let (cn_after, _) = c.folder_state(dir, 0x0d).unwrap();
    assert!(cn_after > cn_before, "{cn_before} → {cn_after}");
    let props = match c.call(dir, &Call::GetMessageProps(mid)).unwrap() {
        Response::Props(p) => p,
        r => panic!("{r:?}"),
    };
    let get = |p: &[TaggedVal], t: PropTag| p.iter().find(|x| x.tag == t).map(|x| x.val.clone());
    assert_eq!(get(&props, subject("").tag), Some(PropVal::Unicode("after".into())));
    assert_eq!(get(&props, named), Some(PropVal::Unicode("Apollo".into())));
    // Store-maintained tags are not written nor removed by clients.
    let change_key = PropTag(0x65E2_0102);
    let ck = get(&props, change_key);
    assert!(ck.is_some());
    c.set_message_props(
        dir,
        mid,
        &[
            TaggedVal::new(change_key, PropVal::Binary(vec![1, 2, 3])),
            TaggedVal::new(PropTag(0x674A_0014), PropVal::I8(42)),
        ],
    )
    .unwrap();
    c.remove_message_props(dir, mid, &[change_key]).unwrap();
    let props = match c.call(dir, &Call::GetMessageProps(mid)).unwrap() {
        Response::Props(p) => p,
        r => panic!("{r:?}"),
    };
    // Still a change key of the store's (the change gave the message a new one), never the
    // client's bytes.
    let (Some(PropVal::Binary(old)), Some(PropVal::Binary(new))) = (ck, get(&props, change_key)) else {
        panic!("change key missing")
    };
    assert_eq!((new.len(), &new[..16]), (22, &old[..16]));
    assert_ne!(new, old, "a new change number, a new change key");
    assert_ne!(get(&props, PropTag(0x674A_0014)), Some(PropVal::I8(42)));
    c.remove_message_props(dir, mid, &[named, PR_BODY]).unwrap();
    let m = c.read_message(dir, mid).unwrap();
    assert_eq!(get(&m.props, named), None);
    assert_eq!(get(&m.props, PR_BODY), None);
    assert_eq!(get(&m.props, subject("").tag), Some(PropVal::Unicode("after".into())));
    // Unknown and soft-deleted messages: NotFound, nothing written.
    for bad in [0x7777_7777u64, mid] {
        if bad == mid {
            soft_delete(&c, dir, mid);
        }
        assert!(matches!(
            c.set_message_props(dir, bad, &[subject("x")]),
            Err(ExmdbError::Call(Status::NotFound, _))
        ));
        assert!(matches!(
            c.remove_message_props(dir, bad, &[PR_BODY]),
            Err(ExmdbError::Call(Status::NotFound, _))
        ));
    }
}
