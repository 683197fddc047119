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

/// A listener on `dir`'s notifications of the kinds in `filter`, and where they arrive.
fn listen_to(
    addr: SocketAddr,
    dir: &str,
    filter: u32,
) -> (
    gromox_clients::exmdb::ExmdbListener,
    std::sync::mpsc::Receiver<proto::Notification>,
) {
    use gromox_clients::exmdb::{ExmdbListener, ListenerOptions};
    let (tx, rx) = std::sync::mpsc::channel();
    let l = ExmdbListener::start(addr, dir.to_string(), filter, ListenerOptions::default(), move |n| {
        let _ = tx.send(n);
    })
    .unwrap();
    (l, rx)
}

#[test]
fn listener_gets_new_mail_and_resubscribes_after_restart() {
    use gromox_exmdb_proto::nf;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let e = env(&[("exmdb_listen", listen.as_str())]);
    let mut d = start(&e);
    let addr: SocketAddr = listen.parse().unwrap();
    let dir = e.maildir.to_str().unwrap().to_string();
    let (l, rx) = listen_to(addr, &dir, 1 << nf::NEW_MAIL);
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

    // The store closed (Gromox unload_store; idle closes and table_size evictions alike) and
    // reopened by the next delivery: the subscription still hears it.
    let unloaded = gromox_testkit::wait_until(Duration::from_secs(5), || {
        matches!(c.call(&dir, &Call::Unload), Ok(Response::Done))
    });
    assert!(unloaded);
    let m1 = deliver(&c);
    let n = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("new-mail after the store was unloaded");
    assert_eq!(n.message, m1);

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
    use gromox_mapi::named::{PropName, PSETID_APPOINTMENT, PS_MAPI, PS_PUBLIC_STRINGS};
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
    // Ids map back to their names; unmapped ids (0xfffe) are None; ids below 0x8000 are
    // their own PS_MAPI names (MS-OXCPRPT §3.2.5.7).
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
            Some(PropName::lid(PS_MAPI, 0x0037))
        ]
    );
    // PS_MAPI names with a LID are that LID (MS-OXCPRPT §3.2.5.8), never a new id; string
    // names and LIDs out of range have none.
    let mapi = vec![
        PropName::lid(PS_MAPI, 0x0037),
        PropName::lid(PS_MAPI, 0x1000),
        PropName::name(PS_MAPI, "Subject"),
        PropName::lid(PS_MAPI, 0x8005),
    ];
    assert_eq!(
        c.get_named_propids(dir, true, &mapi).unwrap(),
        vec![0x0037, 0x1000, 0, 0]
    );
    let next = c
        .get_named_propids(dir, true, &[PropName::name(PS_PUBLIC_STRINGS, "after PS_MAPI")])
        .unwrap()[0];
    assert_eq!(next, ids.iter().max().unwrap() + 1, "no id was spent on PS_MAPI names");
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

const PR_SUBJECT: PropTag = PropTag(0x0037_001F);
const PR_IMPORTANCE: PropTag = PropTag(0x0017_0003);
const PR_MID: PropTag = PropTag(0x674A_0014);
const PR_DEPTH: PropTag = PropTag(0x3005_0003);
const PR_FOLDER_ID: PropTag = PropTag(0x6748_0014);
const PR_COMMENT: PropTag = PropTag(0x3004_001F);
const PR_CONTAINER_CLASS: PropTag = PropTag(0x3613_001F);
const PR_MESSAGE_SIZE_EXTENDED: PropTag = PropTag(0x0E08_0014);
const PR_PROHIBIT_SEND_QUOTA: PropTag = PropTag(0x666E_0003);
const IPM_SUBTREE: u64 = 0x09;
const INBOX: u64 = 0x0d;

fn create_folder(c: &ExmdbClient, dir: &str, parent: u64, name: &str) -> u64 {
    match c
        .call(
            dir,
            &Call::CreateFolder {
                parent,
                name: name.into(),
                class: None,
            },
        )
        .unwrap()
    {
        Response::Id(id) => id,
        r => panic!("{r:?}"),
    }
}

fn subject_contains(s: &str) -> gromox_mapi::restriction::Restriction {
    use gromox_mapi::restriction::{FuzzyLevel, Restriction, FL_IGNORECASE};
    Restriction::Content {
        level: FuzzyLevel::Substring,
        flags: FL_IGNORECASE,
        tag: PR_SUBJECT,
        value: uni(PR_SUBJECT, s),
    }
}

fn subjects(rows: &[Vec<Option<PropVal>>]) -> Vec<String> {
    rows.iter()
        .map(|r| match &r[0] {
            Some(PropVal::Unicode(s)) => s.clone(),
            v => panic!("{v:?}"),
        })
        .collect()
}

/// Content and hierarchy tables over RPC (MS-OXCTABL through LoadContentTable,
/// LoadHierarchyTable, QueryTable, SeekTable, SeekFraction, bookmarks, FindRow, QueryPosition,
/// ReloadTable, UnloadTable): a restricted, two-key sorted table paged both ways, reloaded after
/// the folder changed; a hierarchy table sorted and unsorted; tables belong to their connection
/// and are bounded per connection.
#[test]
fn content_and_hierarchy_tables_over_rpc() {
    use gromox_exmdb_proto::{Origin, SortKey, MAX_TABLES};
    use gromox_mapi::restriction::{RelOp, Restriction};
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let folder = create_folder(&c, dir, IPM_SUBTREE, "Tables");
    let mut mids = Vec::new();
    for i in 0..10 {
        let s = if i % 2 == 0 {
            format!("report {i}")
        } else {
            format!("memo {i}")
        };
        let m = proto::MessageContent {
            props: vec![subject(&s), TaggedVal::new(PR_IMPORTANCE, PropVal::I4(i % 3))],
            ..Default::default()
        };
        mids.push(c.write_message(dir, folder, false, &m).unwrap());
    }
    let mut t = c.tables().unwrap();
    let sort = [
        SortKey {
            tag: PR_IMPORTANCE,
            descending: true,
        },
        SortKey {
            tag: PR_SUBJECT,
            descending: false,
        },
    ];
    let info = t
        .load_content_table(dir, folder, false, Some(&subject_contains("REPORT")), &sort)
        .unwrap();
    assert_eq!(info.rows, 5);
    let id = info.id;
    let cols = [PR_SUBJECT, PR_IMPORTANCE, PR_MID];
    let rows = t.query(dir, id, &cols, 2, true, false).unwrap();
    assert_eq!(subjects(&rows), ["report 2", "report 8"]);
    assert_eq!(rows[0][1], Some(PropVal::I4(2)));
    assert_eq!(rows[0][2], Some(PropVal::I8(mids[2] as i64)));
    assert_eq!(t.position(dir, id).unwrap(), (2, 5));
    // Backward: the rows before the cursor, nearest first.
    assert_eq!(
        subjects(&t.query(dir, id, &cols, 1, false, false).unwrap()),
        ["report 8"]
    );
    assert_eq!(t.position(dir, id).unwrap(), (1, 5));
    assert_eq!(t.seek(dir, id, Origin::End, -1).unwrap(), -1);
    assert_eq!(
        subjects(&t.query(dir, id, &cols, 10, true, false).unwrap()),
        ["report 6"]
    );
    assert_eq!(t.position(dir, id).unwrap(), (5, 5));
    assert_eq!(t.seek(dir, id, Origin::Current, i64::MIN).unwrap(), -5, "clamped");
    t.seek_fraction(dir, id, 1, 2).unwrap();
    assert_eq!(subjects(&t.query(dir, id, &cols, 1, true, true).unwrap()), ["report 4"]);
    assert_eq!(t.position(dir, id).unwrap(), (2, 5), "no_advance");
    // Bookmarks.
    let b = t.create_bookmark(dir, id).unwrap();
    t.seek(dir, id, Origin::Beginning, 0).unwrap();
    assert_eq!(t.seek_bookmark(dir, id, b, 1).unwrap(), (1, false));
    assert_eq!(
        subjects(&t.query(dir, id, &cols, 1, true, false).unwrap()),
        ["report 0"]
    );
    // Find row: forward from the cursor, backward before it.
    t.seek(dir, id, Origin::Beginning, 0).unwrap();
    let imp0 = Restriction::Property {
        op: RelOp::Eq,
        tag: PR_IMPORTANCE,
        value: TaggedVal::new(PR_IMPORTANCE, PropVal::I4(0)),
    };
    assert_eq!(t.find_row(dir, id, &imp0, true).unwrap(), Some(3));
    assert_eq!(t.position(dir, id).unwrap(), (3, 5));
    assert_eq!(
        t.find_row(dir, id, &subject_contains("report 2"), false).unwrap(),
        Some(0)
    );
    assert_eq!(t.find_row(dir, id, &subject_contains("nowhere"), true).unwrap(), None);
    assert_eq!(t.position(dir, id).unwrap(), (0, 5), "unchanged when nothing is found");
    // The folder changes: "report 4" goes, "report 10" comes; reload sees it and the bookmark
    // on the vanished row says so.
    c.call(
        dir,
        &Call::DeleteMessages {
            mids: vec![mids[4]],
            hard: true,
        },
    )
    .unwrap();
    let m = proto::MessageContent {
        props: vec![subject("report 10"), TaggedVal::new(PR_IMPORTANCE, PropVal::I4(2))],
        ..Default::default()
    };
    c.write_message(dir, folder, false, &m).unwrap();
    assert_eq!(t.reload(dir, id).unwrap(), 5);
    t.seek(dir, id, Origin::Beginning, 0).unwrap();
    assert_eq!(
        subjects(&t.query(dir, id, &cols, 10, true, false).unwrap()),
        ["report 10", "report 2", "report 8", "report 0", "report 6"]
    );
    assert!(t.seek_bookmark(dir, id, b, 0).unwrap().1, "bookmarked row gone");
    t.free_bookmark(dir, id, b).unwrap();
    for r in [t.free_bookmark(dir, id, b), t.seek_bookmark(dir, id, b, 0).map(|_| ())] {
        assert!(matches!(r, Err(ExmdbError::Call(Status::NotFound, _))), "{r:?}");
    }
    // FAI table, unknown folder.
    assert_eq!(t.load_content_table(dir, folder, true, None, &[]).unwrap().rows, 0);
    assert!(matches!(
        t.load_content_table(dir, 0x7777_7777, false, None, &[]),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    // Tables belong to their connection: another one does not know the id.
    let mut other = c.tables().unwrap();
    assert!(matches!(
        other.position(dir, id),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    t.unload(dir, id).unwrap();
    assert!(matches!(
        t.position(dir, id),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));

    // Hierarchy: b, a, a/sub below the folder.
    let fb = create_folder(&c, dir, folder, "b");
    let fa = create_folder(&c, dir, folder, "a");
    let fsub = create_folder(&c, dir, fa, "sub");
    let hcols = [PR_DISPLAY_NAME, PR_DEPTH, PR_FOLDER_ID];
    let h = t.load_hierarchy_table(dir, folder, true, None, &[]).unwrap();
    assert_eq!(h.rows, 3);
    let rows = t.query(dir, h.id, &hcols, 10, true, false).unwrap();
    assert_eq!(subjects(&rows), ["b", "a", "sub"], "depth-first, children in id order");
    assert_eq!(rows[2][1], Some(PropVal::I4(1)));
    assert_eq!(rows[2][2], Some(PropVal::I8(fsub as i64)));
    let by_name = [SortKey {
        tag: PR_DISPLAY_NAME,
        descending: false,
    }];
    let h2 = t.load_hierarchy_table(dir, folder, false, None, &by_name).unwrap();
    assert_eq!(h2.rows, 2);
    let rows = t.query(dir, h2.id, &hcols, 10, true, false).unwrap();
    assert_eq!(subjects(&rows), ["a", "b"]);
    assert_eq!(rows[1][2], Some(PropVal::I8(fb as i64)));
    t.seek(dir, h.id, Origin::Beginning, 0).unwrap();
    let named_sub = Restriction::Property {
        op: RelOp::Eq,
        tag: PR_DISPLAY_NAME,
        value: uni(PR_DISPLAY_NAME, "SUB"),
    };
    assert_eq!(t.find_row(dir, h.id, &named_sub, true).unwrap(), Some(2));
    let hb = t.create_bookmark(dir, h.id).unwrap();
    c.call(dir, &Call::DeleteFolder { folder: fb, hard: true }).unwrap();
    assert_eq!(t.reload(dir, h.id).unwrap(), 2);
    assert_eq!(t.position(dir, h.id).unwrap(), (1, 2), "the cursor stays on its folder");
    assert_eq!(t.seek_bookmark(dir, h.id, hb, -1).unwrap(), (-1, false));
    assert_eq!(subjects(&t.query(dir, h.id, &hcols, 1, true, false).unwrap()), ["a"]);
    let _ = fa;

    // At most MAX_TABLES per connection; a refused load leaves the connection usable, and
    // closing it frees its tables.
    let mut full = c.tables().unwrap();
    let mut last = 0;
    for _ in 0..MAX_TABLES {
        last = full.load_content_table(dir, folder, false, None, &[]).unwrap().id;
    }
    assert!(matches!(
        full.load_content_table(dir, folder, false, None, &[]),
        Err(ExmdbError::Call(Status::BadRequest, _))
    ));
    full.unload(dir, last).unwrap();
    assert_eq!(full.load_content_table(dir, folder, false, None, &[]).unwrap().rows, 10);
    drop(full);
    let mut fresh = c.tables().unwrap();
    assert_eq!(
        fresh.load_content_table(dir, folder, false, None, &[]).unwrap().rows,
        10
    );
}

/// Permission tables (MS-OXCPERM) and rules (MS-OXORULE) over RPC: GetPermissions and
/// UpdatePermissions with add/modify/remove and replace, each all or nothing; GetRules and
/// UpdateRules likewise, and a rule written over RPC acting on the next delivery.
#[test]
fn permissions_and_rules_over_rpc() {
    use gromox_exmdb_proto::{PermissionChange as P, Rule, RuleChange, MEMBER_ID_ANONYMOUS, MEMBER_ID_DEFAULT};
    use gromox_mapi::rule::{server_eid, Action, ActionData, OP_MARK_AS_READ, OP_MOVE};
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let rows = c.get_permissions(dir, INBOX).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].member_id, rows[0].name.as_str()),
        (MEMBER_ID_DEFAULT, "default")
    );
    assert_eq!(
        (rows[1].member_id, rows[1].name.as_str()),
        (MEMBER_ID_ANONYMOUS, "anonymous")
    );
    c.update_permissions(
        dir,
        INBOX,
        false,
        &[
            P::Add {
                name: "bob@example.org".into(),
                rights: 0x7fb,
            },
            P::Add {
                name: "carol@example.org".into(),
                rights: 0x401,
            },
            P::Modify {
                member_id: MEMBER_ID_DEFAULT,
                rights: 0x400,
            },
        ],
    )
    .unwrap();
    let rows = c.get_permissions(dir, INBOX).unwrap();
    let by_name = |rows: &[proto::PermissionRow], n: &str| rows.iter().find(|r| r.name == n).cloned().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].rights, 0x400);
    let bob = by_name(&rows, "bob@example.org");
    let carol = by_name(&rows, "carol@example.org");
    assert!(bob.member_id > 0 && carol.member_id > 0 && bob.member_id != carol.member_id);
    assert_eq!((bob.rights, carol.rights), (0x7fb, 0x401));
    // The rights are the ones the store checks.
    let rights = match c
        .call(
            dir,
            &Call::MailboxRights {
                user: "bob@example.org".into(),
            },
        )
        .unwrap()
    {
        Response::Count(n) => n,
        r => panic!("{r:?}"),
    };
    assert_eq!(rights, 0, "Inbox rights are not store rights");
    c.update_permissions(
        dir,
        INBOX,
        false,
        &[
            P::Modify {
                member_id: bob.member_id,
                rights: 0x1,
            },
            P::Remove {
                member_id: carol.member_id,
            },
        ],
    )
    .unwrap();
    let rows = c.get_permissions(dir, INBOX).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(by_name(&rows, "bob@example.org").rights, 0x1);
    // All or nothing: an unknown member id undoes the add before it.
    let r = c.update_permissions(
        dir,
        INBOX,
        false,
        &[
            P::Add {
                name: "dave@example.org".into(),
                rights: 1,
            },
            P::Remove { member_id: 999_999 },
        ],
    );
    assert!(matches!(r, Err(ExmdbError::Call(Status::NotFound, _))), "{r:?}");
    assert_eq!(c.get_permissions(dir, INBOX).unwrap(), rows);
    // Replace: only the new member remains; the default member falls back to the store's.
    c.update_permissions(
        dir,
        INBOX,
        true,
        &[P::Add {
            name: "dave@example.org".into(),
            rights: 0x2,
        }],
    )
    .unwrap();
    let rows = c.get_permissions(dir, INBOX).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].rights, 0);
    assert_eq!(rows[2].name, "dave@example.org");
    for r in [
        c.get_permissions(dir, 0x7777_7777).map(|_| ()),
        c.update_permissions(dir, 0x7777_7777, false, &[]),
    ] {
        assert!(matches!(r, Err(ExmdbError::Call(Status::NotFound, _))), "{r:?}");
    }
    assert!(matches!(
        c.update_permissions(
            dir,
            INBOX,
            false,
            &[P::Add {
                name: "bad\nname".into(),
                rights: 1
            }]
        ),
        Err(ExmdbError::Call(Status::BadRequest, _))
    ));

    // Rules.
    let junk = 0x17;
    let to_junk = Rule::new(
        "spam to junk",
        subject_contains("spam"),
        vec![Action {
            kind: OP_MOVE,
            flavor: 0,
            flags: 0,
            data: ActionData::MoveCopy {
                same_store: true,
                store_eid: vec![],
                folder_eid: server_eid(junk),
            },
        }],
    );
    let mark_read = Rule {
        sequence: 0,
        provider_data: vec![9, 9],
        ..Rule::new(
            "read receipts read",
            subject_contains("read:"),
            vec![Action {
                kind: OP_MARK_AS_READ,
                flavor: 0,
                flags: 0,
                data: ActionData::None,
            }],
        )
    };
    c.update_rules(
        dir,
        INBOX,
        false,
        &[RuleChange::Add(to_junk.clone()), RuleChange::Add(mark_read.clone())],
    )
    .unwrap();
    let rules = c.get_rules(dir, INBOX).unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].name, "read receipts read", "by sequence");
    assert_eq!(
        Rule {
            id: 0,
            ..rules[0].clone()
        },
        mark_read
    );
    assert_eq!(
        Rule {
            id: 0,
            ..rules[1].clone()
        },
        to_junk
    );
    assert!(rules[0].id != 0 && rules[1].id != 0);
    // The rule acts on the next delivery.
    let mime = b"From: x@example.net\r\nTo: alice@example.org\r\nSubject: cheap SPAM\r\n\r\nbuy\r\n";
    let got = c
        .deliver_mail(dir, "x@example.net", "alice@example.org", mime, 1_700_000_000)
        .unwrap();
    assert_eq!(got.folder, junk, "{got:?}");
    // Modify, remove, all or nothing, replace.
    let mut off = rules[1].clone();
    off.state = 0;
    c.update_rules(dir, INBOX, false, &[RuleChange::Modify(off.clone())])
        .unwrap();
    assert_eq!(c.get_rules(dir, INBOX).unwrap()[1], off);
    let r = c.update_rules(
        dir,
        INBOX,
        false,
        &[RuleChange::Remove(rules[0].id), RuleChange::Remove(999_999)],
    );
    assert!(matches!(r, Err(ExmdbError::Call(Status::NotFound, _))), "{r:?}");
    assert_eq!(c.get_rules(dir, INBOX).unwrap().len(), 2);
    // A rule of another folder cannot be changed through this one.
    assert!(matches!(
        c.update_rules(dir, junk, false, &[RuleChange::Remove(rules[0].id)]),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    c.update_rules(dir, INBOX, false, &[RuleChange::Remove(rules[0].id)])
        .unwrap();
    assert_eq!(c.get_rules(dir, INBOX).unwrap(), vec![off]);
    c.update_rules(dir, INBOX, true, &[]).unwrap();
    assert!(c.get_rules(dir, INBOX).unwrap().is_empty());
    assert!(matches!(
        c.get_rules(dir, 0x7777_7777),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
}

fn folder_props(c: &ExmdbClient, dir: &str, f: u64) -> Vec<TaggedVal> {
    match c.call(dir, &Call::GetFolderProps(f)).unwrap() {
        Response::Props(p) => p,
        r => panic!("{r:?}"),
    }
}

fn prop(p: &[TaggedVal], t: PropTag) -> Option<PropVal> {
    p.iter().find(|x| x.tag == t).map(|x| x.val.clone())
}

/// Folder calls (SetFolderProps, RemoveFolderProps, CopyFolder, GetFolderByName) and
/// ReadAttachment over RPC.
#[test]
fn folders_and_attachments_over_rpc() {
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let f = create_folder(&c, dir, IPM_SUBTREE, "Projects");
    assert_eq!(c.get_folder_by_name(dir, IPM_SUBTREE, "PROJECTS").unwrap(), Some(f));
    assert_eq!(c.get_folder_by_name(dir, IPM_SUBTREE, "nothing").unwrap(), None);
    assert!(matches!(
        c.get_folder_by_name(dir, 0x7777_7777, "Projects"),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    // Set: a comment, a class, a rename; store-maintained tags are ignored.
    c.set_folder_props(
        dir,
        f,
        &[
            uni(PR_COMMENT, "all projects"),
            uni(PR_CONTAINER_CLASS, "IPF.Note"),
            uni(PR_DISPLAY_NAME, "Projekte"),
            TaggedVal::new(PR_FOLDER_ID, PropVal::I8(42)),
        ],
    )
    .unwrap();
    let p = folder_props(&c, dir, f);
    assert_eq!(prop(&p, PR_COMMENT), Some(PropVal::Unicode("all projects".into())));
    assert_eq!(prop(&p, PR_CONTAINER_CLASS), Some(PropVal::Unicode("IPF.Note".into())));
    assert_ne!(prop(&p, PR_FOLDER_ID), Some(PropVal::I8(42)));
    assert_eq!(c.get_folder_by_name(dir, IPM_SUBTREE, "Projekte").unwrap(), Some(f));
    assert_eq!(c.get_folder_by_name(dir, IPM_SUBTREE, "Projects").unwrap(), None);
    // A sibling's name, a default folder's name, an empty name.
    let r = c.set_folder_props(dir, f, &[uni(PR_DISPLAY_NAME, "inbox")]);
    assert!(matches!(r, Err(ExmdbError::Call(Status::NameConflict, _))), "{r:?}");
    let r = c.set_folder_props(dir, INBOX, &[uni(PR_DISPLAY_NAME, "Eingang")]);
    assert!(matches!(r, Err(ExmdbError::Call(Status::AccessDenied, _))), "{r:?}");
    let r = c.set_folder_props(dir, f, &[uni(PR_DISPLAY_NAME, "")]);
    assert!(matches!(r, Err(ExmdbError::Call(Status::BadRequest, _))), "{r:?}");
    let r = c.set_folder_props(dir, 0x7777_7777, &[uni(PR_COMMENT, "x")]);
    assert!(matches!(r, Err(ExmdbError::Call(Status::NotFound, _))), "{r:?}");
    // Remove: the comment goes, the name stays.
    c.remove_folder_props(dir, f, &[PR_COMMENT, PR_DISPLAY_NAME]).unwrap();
    let p = folder_props(&c, dir, f);
    assert_eq!(prop(&p, PR_COMMENT), None);
    assert_eq!(prop(&p, PR_DISPLAY_NAME), Some(PropVal::Unicode("Projekte".into())));

    // Copy: the folder with its message and its subfolder with its message.
    let sub = create_folder(&c, dir, f, "Sub");
    let msg = |s: &str| proto::MessageContent {
        props: vec![subject(s)],
        ..Default::default()
    };
    c.write_message(dir, f, false, &msg("top")).unwrap();
    c.write_message(dir, sub, false, &msg("below")).unwrap();
    let copy = c.copy_folder(dir, f, IPM_SUBTREE, "Projekte (Kopie)").unwrap();
    assert_ne!(copy, f);
    assert_eq!(
        c.get_folder_by_name(dir, IPM_SUBTREE, "Projekte (Kopie)").unwrap(),
        Some(copy)
    );
    let csub = c
        .get_folder_by_name(dir, copy, "Sub")
        .unwrap()
        .expect("subfolder copied");
    assert_eq!(c.folder_state(dir, copy).unwrap().1, 1);
    assert_eq!(c.folder_state(dir, csub).unwrap().1, 1);
    assert_eq!(c.folder_state(dir, f).unwrap().1, 1, "the original keeps its message");
    for (parent, name, status) in [
        (sub, "loop", Status::BadRequest),
        (f, "self", Status::BadRequest),
        (IPM_SUBTREE, "Projekte", Status::NameConflict),
    ] {
        let r = c.copy_folder(dir, f, parent, name);
        assert!(matches!(r, Err(ExmdbError::Call(s, _)) if s == status), "{name}: {r:?}");
    }

    // One attachment at a time.
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let inner = proto::MessageContent {
        props: vec![subject("inner")],
        ..Default::default()
    };
    let m = proto::MessageContent {
        props: vec![subject("with attachments")],
        recipients: vec![],
        attachments: vec![
            file_attachment("data.bin", data.clone()),
            proto::AttachmentContent {
                props: vec![TaggedVal::new(PR_ATTACH_METHOD, PropVal::I4(5))],
                embedded: Some(Box::new(inner.clone())),
            },
        ],
    };
    let mid = c.write_message(dir, INBOX, false, &m).unwrap();
    let a = c.read_attachment(dir, mid, 0).unwrap();
    assert_eq!(prop(&a.props, PR_ATTACH_DATA_BIN), Some(PropVal::Binary(data)));
    assert!(a.embedded.is_none());
    let a = c.read_attachment(dir, mid, 1).unwrap();
    assert_same_message(&inner, a.embedded.as_deref().expect("embedded"), "embedded");
    for (m, i) in [(mid, 2), (0x7777_7777, 0)] {
        let r = c.read_attachment(dir, m, i);
        assert!(matches!(r, Err(ExmdbError::Call(Status::NotFound, _))), "{r:?}");
    }
}

fn store_size(c: &ExmdbClient, dir: &str) -> i64 {
    match c.call(dir, &Call::GetStoreProps).unwrap() {
        Response::Props(p) => match prop(&p, PR_MESSAGE_SIZE_EXTENDED) {
            Some(PropVal::I8(n)) => n,
            v => panic!("{v:?}"),
        },
        r => panic!("{r:?}"),
    }
}

/// WriteMessage onto an existing message (Gromox write_message with a known mid): the whole
/// content is replaced, with a new change number, the store size adjusted, the old content
/// file released (purged), the kept MIME dropped, and the folder, FAI and quota checks.
#[test]
fn write_message_overwrites_over_rpc() {
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let foreign = gromox_mapi::ids::Xid::from_gc(gromox_mapi::Guid::from_fields(0x1234_5678, 1, 2, [3; 8]), 5);
    let old = proto::MessageContent {
        props: vec![
            subject("version 1"),
            uni(PR_BODY, "first"),
            TaggedVal::new(
                PropTag(0x65E3_0102),
                PropVal::Binary(gromox_mapi::ids::Pcl(vec![foreign.clone()]).to_bytes()),
            ),
        ],
        recipients: vec![recipient("Bob", "bob@example.org", 1)],
        attachments: vec![file_attachment("big.bin", big)],
    };
    let mid = c.write_message(dir, INBOX, false, &old).unwrap();
    let size_before = store_size(&c, dir);
    let (cn_before, count) = c.folder_state(dir, INBOX).unwrap();
    let ck_before = prop(&c.read_message(dir, mid).unwrap().props, PropTag(0x65E2_0102));
    let new = proto::MessageContent {
        props: vec![subject("version 2"), uni(PR_BODY, "second")],
        recipients: vec![
            recipient("Carol", "carol@example.org", 1),
            recipient("Dave", "dave@example.org", 2),
        ],
        attachments: vec![],
    };
    c.overwrite_message(dir, INBOX, mid, false, &new).unwrap();
    let back = c.read_message(dir, mid).unwrap();
    assert_same_message(&new, &back, "overwritten");
    let (cn_after, count_after) = c.folder_state(dir, INBOX).unwrap();
    assert!(cn_after > cn_before, "{cn_before} → {cn_after}");
    assert_eq!(count_after, count, "replaced, not added");
    assert_ne!(prop(&back.props, PropTag(0x65E2_0102)), ck_before, "new change key");
    // The change history is kept: the predecessor change list still has the other replica's
    // change the first version carried, and the new change key.
    let Some(PropVal::Binary(pcl)) = prop(&back.props, PropTag(0x65E3_0102)) else {
        panic!("no PCL")
    };
    let Some(PropVal::Binary(new_ck)) = prop(&back.props, PropTag(0x65E2_0102)) else {
        panic!("no change key")
    };
    let pcl = gromox_mapi::ids::Pcl::parse(&pcl).unwrap();
    assert!(pcl.0.contains(&foreign), "{pcl:?}");
    assert!(
        pcl.0.contains(&gromox_mapi::ids::Xid::parse(&new_ck).unwrap()),
        "{pcl:?}"
    );
    let size_after = store_size(&c, dir);
    assert!(size_before - size_after > 190_000, "{size_before} → {size_after}");
    // The recomputed size agrees with the incremental one.
    c.call(dir, &Call::RecalcSizes).unwrap();
    assert_eq!(store_size(&c, dir), size_after);
    // The big attachment's content file is no longer referenced: the purge removes it.
    match c.call(dir, &Call::PurgeDatafiles).unwrap() {
        Response::Count(n) => assert!(n >= 1, "{n}"),
        r => panic!("{r:?}"),
    }
    assert_same_message(&new, &c.read_message(dir, mid).unwrap(), "after purge");

    // A delivered message's kept MIME goes with its old content.
    let r = c
        .call(
            dir,
            &Call::DeliverMessage {
                folder: Some(INBOX),
                props: vec![subject("old subject")],
                mime: Some(b"Subject: old subject\r\n\r\nold body\r\n".to_vec()),
            },
        )
        .unwrap();
    let Response::Delivered { message: dm, .. } = r else {
        panic!("{r:?}")
    };
    c.overwrite_message(dir, INBOX, dm, false, &new).unwrap();
    let mime = String::from_utf8_lossy(&c.message_rfc822(dir, dm).unwrap()).into_owned();
    assert!(mime.contains("version 2") && !mime.contains("old subject"), "{mime}");

    // Wrong folder, kind, unknown or deleted message.
    for (folder, m, assoc, status) in [
        (0x0b, mid, false, Status::NotFound),
        (INBOX, 0x7777_7777, false, Status::NotFound),
        (INBOX, mid, true, Status::BadRequest),
    ] {
        let r = c.overwrite_message(dir, folder, m, assoc, &new);
        assert!(matches!(r, Err(ExmdbError::Call(s, _)) if s == status), "{r:?}");
    }
    // Quota: only the growth counts.
    let kib = store_size(&c, dir) / 1024 + 2;
    c.call(
        dir,
        &Call::SetStoreProps(vec![TaggedVal::new(PR_PROHIBIT_SEND_QUOTA, PropVal::I4(kib as i32))]),
    )
    .unwrap();
    let grown = proto::MessageContent {
        props: vec![subject("version 3"), uni(PR_BODY, &"x".repeat(10_000))],
        ..Default::default()
    };
    let r = c.overwrite_message(dir, INBOX, mid, false, &grown);
    assert!(matches!(r, Err(ExmdbError::Call(Status::QuotaExceeded, _))), "{r:?}");
    assert_same_message(&new, &c.read_message(dir, mid).unwrap(), "unchanged");
    let shrunk = proto::MessageContent {
        props: vec![subject("v4")],
        ..Default::default()
    };
    c.overwrite_message(dir, INBOX, mid, false, &shrunk).unwrap();
    soft_delete(&c, dir, mid);
    let r = c.overwrite_message(dir, INBOX, mid, false, &shrunk);
    assert!(matches!(r, Err(ExmdbError::Call(Status::NotFound, _))), "{r:?}");
}

/// A source key (MS-OXCFXICS §2.2.1.2.5: the mailbox GUID with the 6-byte id) of `id`, the
/// GUID taken from a key the server sent.
fn sk_like(server_key: &[u8], id: u64) -> Vec<u8> {
    let x = gromox_mapi::ids::Xid::parse(server_key).unwrap();
    gromox_mapi::ids::Xid::from_gc(x.guid, id).to_bytes()
}

/// All change headers of a sync, paged as a client does.
fn headers_of(c: &ExmdbClient, dir: &str, s: &proto::ContentSync) -> Vec<proto::MessageHeader> {
    let mut v = Vec::new();
    c.each_message_header(dir, None, &s.changed, |h| v.push(h)).unwrap();
    v
}

/// ICS over RPC (MS-OXCFXICS): contents and hierarchy downloads from empty and incremental
/// states (the state blobs travel both ways), headers paged, and every import — message
/// changes with conflict detection and reserved ids, read states, deletions, moves, folder
/// changes and deletions — recorded in the importing client's state and seen by another
/// client's next sync.
#[test]
fn ics_over_rpc() {
    use gromox_clients::exmdb::{ContentSyncOptions, FolderImport, MessageImport, MessageMoveImport};
    use gromox_exmdb_proto::{ImportOutcome, SyncState};
    use gromox_mapi::ids::{Pcl, Xid};
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let folder = create_folder(&c, dir, IPM_SUBTREE, "Sync");
    let mut m = Vec::new();
    for i in 0..5 {
        let msg = proto::MessageContent {
            props: vec![subject(&format!("m{i}"))],
            ..Default::default()
        };
        m.push(c.write_message(dir, folder, false, &msg).unwrap());
    }
    let all = ContentSyncOptions::default();
    // Client A and client B download everything.
    let a0 = c.sync_contents(dir, folder, &SyncState::new(), &all).unwrap();
    assert_eq!(a0.changed, m);
    assert_eq!(a0.new.ranges(), &[(m[0], m[4])]);
    assert!(a0.deleted.is_empty() && a0.read.is_empty() && a0.unread.is_empty());
    let h = headers_of(&c, dir, &a0);
    assert_eq!(h.iter().map(|h| h.mid).collect::<Vec<_>>(), m);
    assert!(h
        .iter()
        .all(|h| h.source_key.len() == 22 && !h.associated && !h.read && h.size > 0));
    let mut a = a0.state.clone();
    let b = a0.state.clone();
    assert!(c.sync_contents(dir, folder, &a, &all).unwrap().changed.is_empty());
    let sk = |id| sk_like(&h[0].source_key, id);

    // A creates a message with a reserved id, changes m0 knowing the server's version.
    let (lo, hi) = c.reserve_ids(dir, 10).unwrap();
    assert_eq!(hi - lo, 9);
    let guid = Xid::parse(&h[0].source_key).unwrap().guid;
    let a_guid = gromox_mapi::Guid([0xA1; 16]);
    let fresh = proto::MessageContent {
        props: vec![subject("new by A")],
        ..Default::default()
    };
    let ck1 = Xid::from_gc(a_guid, 1).to_bytes();
    let imp = MessageImport {
        source_key: &Xid::from_gc(guid, lo).to_bytes(),
        change_key: Some(&ck1),
        pcl: None,
        associated: false,
        content: &fresh,
    };
    assert_eq!(
        c.import_message_change(dir, folder, &imp, Some(&mut a)).unwrap(),
        ImportOutcome::Created(lo)
    );
    let mut pcl = Pcl::parse(&h[0].pcl).unwrap();
    pcl.merge(Xid::from_gc(a_guid, 2));
    let edited = proto::MessageContent {
        props: vec![subject("m0 by A")],
        ..Default::default()
    };
    let ck2 = Xid::from_gc(a_guid, 2).to_bytes();
    let pcl = pcl.to_bytes();
    let imp = MessageImport {
        source_key: &h[0].source_key,
        change_key: Some(&ck2),
        pcl: Some(&pcl),
        associated: false,
        content: &edited,
    };
    assert_eq!(
        c.import_message_change(dir, folder, &imp, Some(&mut a)).unwrap(),
        ImportOutcome::Updated(m[0])
    );
    assert_eq!(
        c.import_message_change(dir, folder, &imp, None).unwrap(),
        ImportOutcome::Ignored(m[0]),
        "the same version again"
    );
    // An edit from m1's old version after the server changed it: a conflict, nothing applied.
    c.call(
        dir,
        &Call::SetMessageProps {
            mid: m[1],
            props: vec![subject("m1 on the server")],
        },
    )
    .unwrap();
    let stale = MessageImport {
        source_key: &h[1].source_key,
        change_key: Some(&ck1),
        pcl: Some(&h[1].pcl),
        associated: false,
        content: &edited,
    };
    assert_eq!(
        c.import_message_change(dir, folder, &stale, Some(&mut a)).unwrap(),
        ImportOutcome::Conflict(m[1])
    );
    // Read state, deletion (an unknown key is skipped), a move to Drafts.
    assert_eq!(
        c.import_read_states(dir, folder, None, &[(sk(m[2]), true)], Some(&mut a))
            .unwrap(),
        1
    );
    assert_eq!(
        c.import_deletes(dir, folder, false, true, &[sk(m[3]), sk(0xdead)], Some(&mut a))
            .unwrap(),
        1
    );
    const DRAFTS: u64 = 0x0e;
    let hier = c.sync_hierarchy(dir, IPM_SUBTREE, &SyncState::new()).unwrap();
    let sync_sk = hier
        .changed
        .iter()
        .find(|f| f.folder == folder)
        .unwrap()
        .source_key
        .clone();
    assert!(hier.changed.iter().any(|f| f.folder == DRAFTS));
    let mut a_drafts = c.sync_contents(dir, DRAFTS, &SyncState::new(), &all).unwrap().state;
    let dest = Xid::from_gc(guid, lo + 1).to_bytes();
    let mv = MessageMoveImport {
        source_folder: &sync_sk,
        source_message: &h[4].source_key,
        pcl: &h[4].pcl,
        destination_message: &dest,
        change_key: Some(&Xid::from_gc(a_guid, 3).to_bytes()),
    };
    assert_eq!(
        c.import_message_move(dir, DRAFTS, &mv, Some(&mut a_drafts)).unwrap(),
        ImportOutcome::Moved {
            mid: lo + 1,
            server_newer: false
        }
    );
    assert!(c
        .sync_contents(dir, DRAFTS, &a_drafts, &all)
        .unwrap()
        .changed
        .is_empty());

    // A's state has its own imports (it downloads only m1, the server's side of the conflict,
    // and nothing of what it did itself); B gets everything.
    let sa = c.sync_contents(dir, folder, &a, &all).unwrap();
    assert_eq!(sa.changed, vec![m[1]]);
    assert_eq!(sa.deleted.ranges(), &[(m[4], m[4])], "moved away");
    let sb = c.sync_contents(dir, folder, &b, &all).unwrap();
    let mut changed = sb.changed.clone();
    changed.sort_unstable();
    assert_eq!(changed, vec![m[0], m[1], lo]);
    assert_eq!(sb.new.ranges(), &[(lo, lo)]);
    assert_eq!(sb.deleted.ranges(), &[(m[3], m[4])]);
    assert_eq!(sb.read.ranges(), &[(m[2], m[2])]);
    let hb = headers_of(&c, dir, &sb);
    let h0 = hb.iter().find(|h| h.mid == m[0]).unwrap();
    assert_eq!(h0.change_key, ck2, "the importing client's change key is kept");
    assert!(c
        .sync_contents(dir, folder, &sb.state, &all)
        .unwrap()
        .changed
        .is_empty());
    // Only FAI: nothing here.
    let fai_only = ContentSyncOptions {
        normal: false,
        fai: true,
        read_state: false,
        user: None,
    };
    assert!(c
        .sync_contents(dir, folder, &SyncState::new(), &fai_only)
        .unwrap()
        .changed
        .is_empty());

    // Hierarchy: a new folder by import (reserved id), seen by a second client, deleted.
    let hier = c.sync_hierarchy(dir, IPM_SUBTREE, &SyncState::new()).unwrap();
    let mut ha = hier.state.clone();
    let hb0 = hier.state.clone();
    let fsk = Xid::from_gc(guid, lo + 2).to_bytes();
    let class = [TaggedVal::new(PR_CONTAINER_CLASS, PropVal::Unicode("IPF.Note".into()))];
    let fimp = FolderImport {
        parent_source_key: &[],
        source_key: &fsk,
        change_key: Some(&Xid::from_gc(a_guid, 4).to_bytes()),
        pcl: None,
        name: "Imported",
        props: &class,
    };
    assert_eq!(
        c.import_folder_change(dir, IPM_SUBTREE, &fimp, Some(&mut ha)).unwrap(),
        ImportOutcome::Created(lo + 2)
    );
    assert!(c.sync_hierarchy(dir, IPM_SUBTREE, &ha).unwrap().changed.is_empty());
    let hs = c.sync_hierarchy(dir, IPM_SUBTREE, &hb0).unwrap();
    assert_eq!(hs.changed.len(), 1);
    assert_eq!(hs.changed[0].folder, lo + 2);
    assert!(hs.changed[0]
        .props
        .iter()
        .any(|p| p.val == PropVal::Unicode("Imported".into())));
    assert_eq!(
        c.import_deletes(dir, IPM_SUBTREE, true, false, std::slice::from_ref(&fsk), Some(&mut ha))
            .unwrap(),
        1
    );
    let hs = c.sync_hierarchy(dir, IPM_SUBTREE, &hs.state).unwrap();
    assert_eq!(hs.deleted.ranges(), &[(lo + 2, lo + 2)]);

    // A state claiming every id there is: a few bytes, answered with ranges (never expanded).
    let mut huge = SyncState::new();
    huge.given.insert_range(guid, 1, gromox_mapi::ids::GC_MAX);
    huge.seen.insert_range(guid, 1, gromox_mapi::ids::GC_MAX);
    let s = c.sync_contents(dir, folder, &huge, &all).unwrap();
    assert!(s.changed.is_empty());
    assert!(s.deleted.count() > 1 << 40);

    // Bad input: errors, the connection and the store stay usable.
    let bad = MessageImport {
        source_key: &[1, 2, 3],
        change_key: None,
        pcl: None,
        associated: false,
        content: &fresh,
    };
    assert!(matches!(
        c.import_message_change(dir, folder, &bad, None),
        Err(ExmdbError::Call(Status::BadRequest, _))
    ));
    assert!(matches!(
        c.reserve_ids(dir, 0),
        Err(ExmdbError::Call(Status::BadRequest, _))
    ));
    assert!(matches!(
        c.reserve_ids(dir, u32::MAX),
        Err(ExmdbError::Call(Status::BadRequest, _))
    ));
    assert!(matches!(
        c.sync_contents(dir, 0x7777_7777, &SyncState::new(), &all),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    assert!(matches!(
        c.import_deletes(dir, 0x7777_7777, false, true, &[sk(m[1])], None),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    c.ping(dir).unwrap();
}

/// A first sync of a 250,000-message folder over RPC: the ids come in one frame of ~2 MB,
/// the headers in pages of at most MAX_SYNC_HEADERS, the state stays a few bytes.
#[test]
fn large_first_sync_over_rpc_is_paged() {
    use gromox_clients::exmdb::ContentSyncOptions;
    use gromox_exmdb_proto::{SyncState, MAX_SYNC_HEADERS};
    const N: i64 = 250_000;
    let e = env(&[]);
    {
        // Rows written directly before the daemon starts (a delivery each would take minutes
        // in a debug build); the ids come from a range of their own.
        let st = exmdbd::Store::open(&e.maildir, &exmdbd::StoreOptions::default()).unwrap();
        let c = st.conn();
        let base: i64 = 0x100_0000;
        c.execute_batch("BEGIN").unwrap();
        let cn0: i64 = c
            .query_row("SELECT config_value FROM configurations WHERE config_id=4", [], |r| {
                r.get(0)
            })
            .unwrap();
        {
            let mut ins = c
                .prepare(
                    "INSERT INTO messages (message_id, parent_fid, is_deleted, is_associated, change_number, \
                     read_state, message_size) VALUES (?1, ?2, 0, 0, ?3, 0, 100)",
                )
                .unwrap();
            for i in 0..N {
                ins.execute(rusqlite::params![base + i, INBOX as i64, cn0 + 1 + i])
                    .unwrap();
            }
        }
        c.execute("UPDATE configurations SET config_value=?1 WHERE config_id=4", [cn0 + N])
            .unwrap();
        c.execute(
            "INSERT INTO allocated_eids (range_begin, range_end, allocate_time, is_system) VALUES (?1, ?2, 0, NULL)",
            [base, base + N],
        )
        .unwrap();
        c.execute_batch("COMMIT").unwrap();
    }
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let s = c
        .sync_contents(dir, INBOX, &SyncState::new(), &ContentSyncOptions::default())
        .unwrap();
    assert_eq!(s.changed.len(), N as usize);
    let size: usize = s.state.to_properties().iter().map(|(_, v)| v.len()).sum();
    assert!(size < 200, "state of {size} bytes");
    // One page: at most MAX_SYNC_HEADERS, whatever was asked.
    let (done, page) = c.sync_message_headers(dir, None, &s.changed).unwrap();
    assert_eq!(done, MAX_SYNC_HEADERS);
    assert_eq!(page.len(), MAX_SYNC_HEADERS);
    // All of them, page by page, in order.
    let (mut n, mut last) = (0usize, 0u64);
    c.each_message_header(dir, None, &s.changed, |h| {
        assert!(h.mid > last);
        last = h.mid;
        n += 1;
    })
    .unwrap();
    assert_eq!(n, N as usize);
    let again = c
        .sync_contents(dir, INBOX, &s.state, &ContentSyncOptions::default())
        .unwrap();
    assert!(again.changed.is_empty() && again.deleted.is_empty());
}

/// Categorized content tables over RPC (MS-OXCTABL RopSortTable with CategorizedCount and
/// ExpandedCount, RopExpandRow, RopCollapseRow, RopGetCollapseState, RopSetCollapseState):
/// header rows answer PR_ROW_TYPE, PR_DEPTH, PR_INST_ID, PR_CONTENT_COUNT, PR_CONTENT_UNREAD
/// and the category column through QueryTable; expanding and collapsing report the row
/// count change; a saved collapse state restored on a new table gives a bookmark on the saved
/// row.
#[test]
fn categorized_tables_over_rpc() {
    use exmdbd::table::{PR_INST_ID, PR_ROW_TYPE, TBL_COLLAPSED_CATEGORY, TBL_EXPANDED_CATEGORY, TBL_LEAF_ROW};
    use gromox_exmdb_proto::{Origin, SortKey};
    use gromox_mapi::tags::{PR_CONTENT_COUNT, PR_CONTENT_UNREAD};
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let folder = create_folder(&c, dir, IPM_SUBTREE, "Categories");
    // Importance 2: three messages (one read), 1: two, 0: one.
    let mut by_imp: std::collections::BTreeMap<i32, Vec<u64>> = Default::default();
    for (i, imp) in [2, 1, 2, 0, 2, 1].into_iter().enumerate() {
        let m = proto::MessageContent {
            props: vec![
                subject(&format!("s{i}")),
                TaggedVal::new(PR_IMPORTANCE, PropVal::I4(imp)),
            ],
            ..Default::default()
        };
        let mid = c.write_message(dir, folder, false, &m).unwrap();
        by_imp.entry(imp).or_default().push(mid);
    }
    c.call(
        dir,
        &Call::SetReadState {
            mid: by_imp[&2][0],
            read: true,
        },
    )
    .unwrap();
    let sort = [
        SortKey {
            tag: PR_IMPORTANCE,
            descending: true,
        },
        SortKey {
            tag: PR_SUBJECT,
            descending: false,
        },
    ];
    let mut t = c.tables().unwrap();
    let info = t.load_categorized_table(dir, folder, false, None, &sort, 1, 0).unwrap();
    assert_eq!(info.rows, 3, "three collapsed category headers");
    let cols = [
        PR_ROW_TYPE,
        PR_DEPTH,
        PR_INST_ID,
        PR_CONTENT_COUNT,
        PR_CONTENT_UNREAD,
        PR_IMPORTANCE,
        PR_SUBJECT,
    ];
    let rows = t.query(dir, info.id, &cols, 10, true, false).unwrap();
    assert_eq!(rows.len(), 3);
    let i4 = |v: &Option<PropVal>| match v {
        Some(PropVal::I4(x)) => *x,
        v => panic!("{v:?}"),
    };
    let inst = |v: &Option<PropVal>| match v {
        Some(PropVal::I8(x)) => *x as u64,
        v => panic!("{v:?}"),
    };
    for (row, (imp, count, unread)) in rows.iter().zip([(2, 3, 2), (1, 2, 2), (0, 1, 1)]) {
        assert_eq!(i4(&row[0]), TBL_COLLAPSED_CATEGORY);
        assert_eq!(i4(&row[1]), 0);
        assert_eq!(i4(&row[3]), count);
        assert_eq!(i4(&row[4]), unread);
        assert_eq!(i4(&row[5]), imp);
        assert_eq!(row[6], None, "a header has only its category columns");
    }
    let cat2 = inst(&rows[0][2]);
    let cat1 = inst(&rows[1][2]);
    // Expand importance 2: three rows appear after its header, at depth 1.
    assert_eq!(t.expand_row(dir, info.id, cat2).unwrap(), 3);
    assert_eq!(t.expand_row(dir, info.id, cat2).unwrap(), 0, "already expanded");
    assert_eq!(t.position(dir, info.id).unwrap().1, 6);
    t.seek(dir, info.id, Origin::Beginning, 0).unwrap();
    let rows = t.query(dir, info.id, &cols, 10, true, false).unwrap();
    assert_eq!(i4(&rows[0][0]), TBL_EXPANDED_CATEGORY);
    assert_eq!(
        rows[1..4].iter().map(|r| i4(&r[0])).collect::<Vec<_>>(),
        [TBL_LEAF_ROW; 3]
    );
    assert_eq!(i4(&rows[1][1]), 1);
    assert_eq!(
        subjects(&rows[1..4].iter().map(|r| vec![r[6].clone()]).collect::<Vec<_>>()),
        ["s0", "s2", "s4"]
    );
    assert_eq!(
        inst(&rows[1][2]),
        by_imp[&2][0],
        "a leaf's PR_INST_ID is its message id"
    );
    // Expand importance 1 as well, then collapse 2 again.
    assert_eq!(t.expand_row(dir, info.id, cat1).unwrap(), 2);
    assert_eq!(t.collapse_row(dir, info.id, cat2).unwrap(), 3);
    assert_eq!(t.position(dir, info.id).unwrap().1, 5);
    // Save the state with the cursor on "s5" (importance 1's second row), restore it on a new
    // table: the same rows are visible and the bookmark is on "s5".
    t.seek(dir, info.id, Origin::Beginning, 3).unwrap();
    assert_eq!(
        subjects(&t.query(dir, info.id, &[PR_SUBJECT], 1, true, true).unwrap()),
        ["s5"]
    );
    let state = t.collapse_state(dir, info.id).unwrap();
    let other = t.load_categorized_table(dir, folder, false, None, &sort, 1, 0).unwrap();
    assert_eq!(other.rows, 3);
    let bm = t.set_collapse_state(dir, other.id, &state).unwrap();
    assert_eq!(t.position(dir, other.id).unwrap().1, 5);
    t.seek(dir, other.id, Origin::End, 0).unwrap();
    assert_eq!(t.seek_bookmark(dir, other.id, bm, 0).unwrap(), (0, false));
    assert_eq!(t.position(dir, other.id).unwrap(), (3, 5));
    assert_eq!(
        subjects(&t.query(dir, other.id, &[PR_SUBJECT], 1, true, false).unwrap()),
        ["s5"]
    );
    t.free_bookmark(dir, other.id, bm).unwrap();
    // Starting expanded: every row visible.
    let open = t.load_categorized_table(dir, folder, false, None, &sort, 1, 1).unwrap();
    assert_eq!(open.rows, 9);
    // Errors: unknown category, a flat or hierarchy table, a damaged state.
    assert!(matches!(
        t.expand_row(dir, info.id, 1 << 63 | 999),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    let flat = t.load_content_table(dir, folder, false, None, &sort).unwrap();
    assert_eq!(flat.rows, 6);
    assert!(matches!(
        t.expand_row(dir, flat.id, cat2),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    let h = t.load_hierarchy_table(dir, IPM_SUBTREE, false, None, &[]).unwrap();
    assert!(matches!(
        t.collapse_state(dir, h.id),
        Err(ExmdbError::Call(Status::BadRequest, _))
    ));
    assert!(matches!(
        t.set_collapse_state(dir, other.id, b"GXC1\xff\xff\xff\xff"),
        Err(ExmdbError::Call(Status::BadRequest, _))
    ));
    assert!(matches!(
        t.set_collapse_state(dir, other.id, &vec![0; gromox_exmdb_proto::MAX_COLLAPSE_STATE + 1]),
        Err(ExmdbError::Call(Status::BadRequest, _))
    ));
    assert_eq!(
        t.position(dir, other.id).unwrap().1,
        5,
        "a refused state changes nothing"
    );
    // More categories than sort keys does not decode: the server refuses it (and closes that
    // connection).
    let bad = Call::LoadContentTable {
        folder,
        associated: false,
        restriction: None,
        sort: sort.to_vec(),
        categories: 3,
        expanded: 0,
    };
    assert!(matches!(
        c.call(dir, &bad),
        Err(ExmdbError::Call(Status::BadRequest, _))
    ));
}

/// `gromox-mbop` output as text.
/// A gromox-mbop configuration file for the daemon `d` of `e`.
fn mbop_config(e: &Env, d: &Daemon) -> PathBuf {
    let mcfg = e.dir.path().join("mbop.cfg");
    let state = e.dir.path().join("state");
    let text = format!(
        "exmdb_listen = {}\nstate_path = {}\n",
        d.addr("exmdb_listen"),
        state.display()
    );
    std::fs::write(&mcfg, text).unwrap();
    mcfg
}

fn mbop_out(cfg: &Path, args: &[&str]) -> Result<String, String> {
    let mut a = vec!["gromox-mbop".to_string(), "-c".into(), cfg.to_string_lossy().into()];
    a.extend(args.iter().map(|s| s.to_string()));
    let mut out = Vec::new();
    exmdbd::mbop::mbop_run(&a, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

/// The operator commands over the v5 calls: get-perms, list-folders, list-rules,
/// set-rule-state, del-rule.
#[test]
fn mbop_folder_permission_and_rule_commands() {
    use gromox_exmdb_proto::{Rule, RuleChange};
    use gromox_mapi::rule::{Action, ActionData, OP_MARK_AS_READ};
    let e = env(&[]);
    let d = start(&e);
    let mcfg = mbop_config(&e, &d);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut a = vec!["-d", dir];
        a.extend_from_slice(args);
        mbop_out(&mcfg, &a)
    };
    // Permissions.
    run(&["set-perm", "bob@example.org", "INBOX", "readany,visible"]).unwrap();
    let perms = run(&["get-perms", "INBOX"]).unwrap();
    let lines: Vec<&str> = perms.lines().collect();
    assert_eq!(lines.len(), 3, "{perms}");
    assert!(lines[0].starts_with("0 ") && lines[0].ends_with(" default"), "{perms}");
    assert!(
        lines[1].starts_with("-1 ") && lines[1].ends_with(" anonymous"),
        "{perms}"
    );
    assert!(lines[2].contains(" 0x00000401 bob@example.org"), "{perms}");
    assert!(run(&["get-perms", "/No/Such"]).is_err());
    assert!(run(&["get-perms"]).is_err());
    // The folder tree with counts.
    let sub = create_folder(&c, dir, INBOX, "Projects");
    let m = proto::MessageContent {
        props: vec![subject("x")],
        ..Default::default()
    };
    c.write_message(dir, sub, false, &m).unwrap();
    c.write_message(dir, sub, false, &m).unwrap();
    let tree = run(&["list-folders"]).unwrap();
    assert!(tree.lines().any(|l| l == "0xd 0 Inbox"), "{tree}");
    assert!(tree.lines().any(|l| l == format!("  0x{sub:x} 2 Projects")), "{tree}");
    assert_eq!(
        run(&["list-folders", "INBOX"]).unwrap(),
        format!("0x{sub:x} 2 Projects\n")
    );
    // Rules: listed, disabled and enabled again, deleted.
    let rule = Rule::new(
        "read them",
        gromox_mapi::restriction::Restriction::Exist(PR_SUBJECT),
        vec![Action {
            kind: OP_MARK_AS_READ,
            flavor: 0,
            flags: 0,
            data: ActionData::None,
        }],
    );
    c.update_rules(dir, INBOX, false, &[RuleChange::Add(rule)]).unwrap();
    let id = c.get_rules(dir, INBOX).unwrap()[0].id;
    let rules = run(&["list-rules", "INBOX"]).unwrap();
    assert_eq!(
        rules,
        format!("{id} seq=1 state=enabled provider=RuleOrganizer name=\"read them\" actions=mark-as-read\n")
    );
    run(&["set-rule-state", "INBOX", &id.to_string(), "off"]).unwrap();
    assert_eq!(
        c.get_rules(dir, INBOX).unwrap()[0].state & gromox_mapi::rule::ST_ENABLED,
        0
    );
    assert!(run(&["list-rules", "INBOX"]).unwrap().contains("state=disabled"));
    run(&["set-rule-state", "INBOX", &id.to_string(), "on"]).unwrap();
    assert!(run(&["list-rules", "INBOX"]).unwrap().contains("state=enabled"));
    assert!(run(&["set-rule-state", "INBOX", "999999", "on"]).is_err());
    assert!(run(&["set-rule-state", "INBOX", &id.to_string(), "maybe"]).is_err());
    run(&["del-rule", "INBOX", &id.to_string()]).unwrap();
    assert!(c.get_rules(dir, INBOX).unwrap().is_empty());
    assert_eq!(run(&["list-rules", "INBOX"]).unwrap(), "");
    // The help lists the new commands.
    let help = mbop_out(&mcfg, &["--help"]).unwrap();
    for cmd in ["get-perms", "list-folders", "list-rules", "set-rule-state", "del-rule"] {
        assert!(help.contains(cmd), "{cmd}");
    }
}

const PR_HASATTACH: PropTag = PropTag(0x0E1B_000B);
const PR_READ: PropTag = PropTag(0x0E69_000B);
const FINDER: u64 = 0x05;
const SENT_ITEMS: u64 = 0x0a;
const DRAFTS: u64 = 0x0e;

/// The status of a failed call.
fn status<T: std::fmt::Debug>(r: Result<T, ExmdbError>) -> Status {
    match r {
        Err(ExmdbError::Call(s, _)) => s,
        r => panic!("{r:?}"),
    }
}

/// A plain note with `subject`, a file attachment when `attachment`.
fn note(s: &str, attachment: bool) -> proto::MessageContent {
    proto::MessageContent {
        props: vec![uni(PR_MESSAGE_CLASS, "IPM.Note"), subject(s)],
        recipients: vec![],
        attachments: if attachment {
            vec![file_attachment("a.pdf", b"%PDF".to_vec())]
        } else {
            vec![]
        },
    }
}

/// The sorted subjects of a content table over `folder`.
fn table_subjects(c: &ExmdbClient, dir: &str, folder: u64) -> Vec<String> {
    let mut t = c.tables().unwrap();
    let info = t.load_content_table(dir, folder, false, None, &[]).unwrap();
    let mut v = subjects(&t.query(dir, info.id, &[PR_SUBJECT], 1000, true, false).unwrap());
    v.sort();
    v
}

/// Search folders over RPC (MS-OXOSRCH; MS-OXCFOLD RopSetSearchCriteria/RopGetSearchCriteria
/// through CreateSearchFolder, SetSearchCriteria, GetSearchCriteria): "unread with attachment"
/// over Inbox and Sent Items is populated in the background, the completion reaches a
/// subscriber, the folder's content table lists the matches, later mail shows without setting
/// the criteria again; bad input answers a status.
#[test]
fn search_folders_over_rpc() {
    use gromox_exmdb_proto::nf;
    use gromox_mapi::restriction::Restriction;
    let e = env(&[]);
    // A public store beside the mailbox (search folders exist in private stores only).
    let public = exmdbd::paths::domain_dir(&e.dir.path().join("state"), "example.org").unwrap();
    std::fs::create_dir_all(&public).unwrap();
    exmdbd::Store::create_public(&public, "example.org", false, &exmdbd::StoreOptions::default()).unwrap();
    let d = start(&e);
    let addr = d.addr("exmdb_listen");
    let c = client(addr);
    let dir = e.maildir.to_str().unwrap();
    let inbox = 0x0d;
    c.write_message(dir, inbox, false, &note("inbox match", true)).unwrap();
    c.write_message(dir, inbox, false, &note("inbox no attachment", false))
        .unwrap();
    let read = c.write_message(dir, inbox, false, &note("inbox read", true)).unwrap();
    c.call(dir, &Call::SetReadState { mid: read, read: true }).unwrap();
    c.write_message(dir, SENT_ITEMS, false, &note("sent match", true))
        .unwrap();
    c.write_message(dir, DRAFTS, false, &note("draft out of scope", true))
        .unwrap();

    let (l, rx) = listen_to(addr, dir, 1 << nf::SEARCH_COMPLETE);
    assert!(gromox_testkit::wait_until(Duration::from_secs(5), || l.subscriptions() == 1));
    let sf = c.create_search_folder(dir, FINDER, "Unread with attachment").unwrap();
    let unread_with_attachment = Restriction::And(vec![
        Restriction::eq(PR_READ, PropVal::Boolean(false)),
        Restriction::eq(PR_HASATTACH, PropVal::Boolean(true)),
    ]);
    c.set_search_criteria(dir, sf, Some(&unread_with_attachment), Some(&[inbox, SENT_ITEMS]), 0)
        .unwrap();
    let n = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("search-complete notification");
    assert_eq!((n.kind, n.is_folder, n.folder), (nf::SEARCH_COMPLETE, true, sf));
    assert_eq!(table_subjects(&c, dir, sf), ["inbox match", "sent match"]);
    let crit = c.get_search_criteria(dir, sf).unwrap();
    assert_eq!(crit.restriction.as_ref(), Some(&unread_with_attachment));
    assert_eq!(crit.scope, [inbox, SENT_ITEMS]);
    assert_ne!(crit.status & 0x1000, 0, "SEARCH_COMPLETE: {:#x}", crit.status);
    assert_ne!(crit.status & 0x1, 0, "SEARCH_RUNNING: {:#x}", crit.status);

    // New matching mail shows without setting the criteria again; read mail leaves.
    let later = c.write_message(dir, inbox, false, &note("later match", true)).unwrap();
    assert!(gromox_testkit::wait_until(Duration::from_secs(5), || {
        table_subjects(&c, dir, sf) == ["inbox match", "later match", "sent match"]
    }));
    c.call(dir, &Call::SetReadState { mid: later, read: true }).unwrap();
    assert!(gromox_testkit::wait_until(Duration::from_secs(5), || {
        table_subjects(&c, dir, sf) == ["inbox match", "sent match"]
    }));

    // Bad input: statuses, and the connection keeps working.
    assert_eq!(status(c.create_search_folder(dir, 0x7777_7777, "x")), Status::NotFound);
    assert_eq!(
        status(c.set_search_criteria(dir, inbox, Some(&unread_with_attachment), Some(&[inbox]), 0)),
        Status::BadRequest
    );
    assert_eq!(status(c.get_search_criteria(dir, inbox)), Status::BadRequest);
    assert_eq!(
        status(c.set_search_criteria(dir, sf, None, Some(&[0x7777_7777]), 0)),
        Status::NotFound
    );
    let pdir = public.to_str().unwrap();
    assert_eq!(status(c.create_search_folder(pdir, 0x02, "x")), Status::BadRequest);
    c.ping(dir).unwrap();
    // Stopped: no longer running, the results stay.
    c.set_search_criteria(dir, sf, None, None, 0x1).unwrap();
    assert_eq!(c.get_search_criteria(dir, sf).unwrap().status & 0x1, 0);
}

/// Message and attachment instances over RPC (Gromox's instance calls, MS-OXCMSG save
/// semantics): a new message built through an instance — properties, three recipients, a file
/// attachment and an embedded message with its own attachment — reads back as written once the
/// top instance is flushed and not before; an existing message edited through an instance;
/// unflushed instances change nothing; instances belong to their connection; limits hold.
#[test]
fn instances_over_rpc() {
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let inbox = 0x0d;
    let mut t = c.tables().unwrap();

    let inner_att = file_attachment("inner.txt", b"inner attachment data".to_vec());
    let inner = proto::MessageContent {
        props: vec![uni(PR_MESSAGE_CLASS, "IPM.Note"), subject("the original")],
        recipients: vec![recipient("Carol", "carol@example.net", 1)],
        attachments: vec![inner_att.clone()],
    };
    let outer_file = file_attachment("numbers.csv", (0..4000u32).flat_map(|i| i.to_le_bytes()).collect());
    let want = proto::MessageContent {
        props: vec![
            uni(PR_MESSAGE_CLASS, "IPM.Note"),
            subject("Numbers Q3"),
            uni(PR_BODY, "see attached"),
        ],
        recipients: vec![
            recipient("Bob", "bob@example.org", 1),
            recipient("Dave", "dave@example.org", 2),
            recipient("Eve", "eve@example.org", 3),
        ],
        attachments: vec![
            outer_file.clone(),
            proto::AttachmentContent {
                props: vec![
                    TaggedVal::new(PR_ATTACH_METHOD, PropVal::I4(5)),
                    uni(PR_DISPLAY_NAME, "the original"),
                ],
                embedded: Some(Box::new(inner.clone())),
            },
        ],
    };
    let m = t.load_message_instance(dir, inbox, None, false).unwrap();
    t.set_instance_props(dir, m, &want.props).unwrap();
    t.set_instance_rcpts(dir, m, &want.recipients).unwrap();
    let a1 = t.create_attachment_instance(dir, m).unwrap();
    t.set_instance_props(dir, a1, &outer_file.props).unwrap();
    assert_eq!(t.flush_instance(dir, a1).unwrap(), 0);
    let a2 = t.create_attachment_instance(dir, m).unwrap();
    t.set_instance_props(dir, a2, &[uni(PR_DISPLAY_NAME, "the original")])
        .unwrap();
    let emb = t.load_embedded_instance(dir, a2, true).unwrap();
    t.set_instance_props(dir, emb, &inner.props).unwrap();
    t.set_instance_rcpts(dir, emb, &inner.recipients).unwrap();
    let ea = t.create_attachment_instance(dir, emb).unwrap();
    t.set_instance_props(dir, ea, &inner_att.props).unwrap();
    // Saved one level up at a time: the attachment into the embedded message, the embedded
    // message into its attachment (which becomes an embedded-message attachment), that
    // attachment into the message.
    assert_eq!(t.flush_instance(dir, ea).unwrap(), 0);
    assert!(t.read_attachment_instance(dir, a2).unwrap().embedded.is_none());
    assert_eq!(t.flush_instance(dir, emb).unwrap(), 0);
    assert_eq!(t.instance_attachments(dir, m).unwrap().len(), 1);
    assert_eq!(t.flush_instance(dir, a2).unwrap(), 1);
    assert_eq!(t.instance_attachments(dir, m).unwrap().len(), 2);
    assert_eq!(t.instance_rcpts(dir, m).unwrap(), want.recipients);
    assert_same_message(&want, &t.read_message_instance(dir, m).unwrap(), "instance");
    // Nothing in the store until the message itself is saved.
    assert_eq!(c.sum_content(dir, inbox, false, false).unwrap(), 0);
    let mid = t.flush_instance(dir, m).unwrap();
    assert!(c.is_msg_present(dir, inbox, mid).unwrap());
    assert_same_message(&want, &c.read_message(dir, mid).unwrap(), "message");
    for i in [a1, a2, emb, ea, m] {
        t.unload_instance(dir, i).unwrap();
    }
    assert!(matches!(
        t.unload_instance(dir, m),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));

    // An existing message: a changed property, the file attachment removed.
    let j = t.load_message_instance(dir, inbox, Some(mid), false).unwrap();
    t.set_instance_props(dir, j, &[subject("Numbers Q3 (final)")]).unwrap();
    let open_emb = t.load_attachment_instance(dir, j, 1).unwrap();
    t.delete_instance_attachment(dir, j, 0).unwrap();
    assert_eq!(c.read_message(dir, mid).unwrap().attachments.len(), 2, "not yet saved");
    assert_eq!(t.flush_instance(dir, j).unwrap(), mid);
    let back = c.read_message(dir, mid).unwrap();
    let mut edited = want.clone();
    edited.props[1] = subject("Numbers Q3 (final)");
    edited.attachments.remove(0);
    assert_same_message(&edited, &back, "edited");
    // The open attachment instance followed its attachment to index 0.
    assert_eq!(t.flush_instance(dir, open_emb).unwrap(), 0);
    // Removing properties and the embedded message's recipients, unflushed: no change.
    let k = t.load_message_instance(dir, inbox, Some(mid), false).unwrap();
    t.remove_instance_props(dir, k, &[PR_SUBJECT]).unwrap();
    assert!(!t.instance_props(dir, k).unwrap().iter().any(|p| p.tag == PR_SUBJECT));
    t.set_instance_rcpts(dir, k, &[]).unwrap();
    t.unload_instance(dir, k).unwrap();
    let n = t.load_message_instance(dir, inbox, None, false).unwrap();
    t.set_instance_props(dir, n, &[subject("never saved")]).unwrap();
    t.write_message_instance(dir, n, &note("never saved either", true))
        .unwrap();
    drop(t);
    assert_same_message(&edited, &c.read_message(dir, mid).unwrap(), "after unflushed");
    assert_eq!(c.sum_content(dir, inbox, false, false).unwrap(), 1);

    // Instances belong to their connection.
    let mut t = c.tables().unwrap();
    let mine = t.load_message_instance(dir, inbox, Some(mid), false).unwrap();
    let mut other = c.tables().unwrap();
    assert!(matches!(
        other.instance_props(dir, mine),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    assert!(matches!(
        other.flush_instance(dir, mine),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    // Wrong kinds and unknown objects: statuses.
    let att = t.load_attachment_instance(dir, mine, 0).unwrap();
    assert!(matches!(
        t.instance_rcpts(dir, att),
        Err(ExmdbError::Call(Status::BadRequest, _))
    ));
    assert!(matches!(
        t.load_attachment_instance(dir, mine, 9),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    assert!(matches!(
        t.load_message_instance(dir, SENT_ITEMS, Some(mid), false),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    // A message deleted meanwhile: its instance does not flush.
    c.call(
        dir,
        &Call::DeleteMessages {
            mids: vec![mid],
            hard: true,
        },
    )
    .unwrap();
    assert!(matches!(
        t.flush_instance(dir, mine),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    // Over the send quota (1 KiB): QuotaExceeded.
    c.call(
        dir,
        &Call::SetStoreProps(vec![TaggedVal::new(PR_PROHIBIT_SEND_QUOTA, PropVal::I4(1))]),
    )
    .unwrap();
    let q = t.load_message_instance(dir, inbox, None, false).unwrap();
    t.set_instance_props(dir, q, &[uni(PR_BODY, &"x".repeat(10_000))])
        .unwrap();
    assert!(matches!(
        t.flush_instance(dir, q),
        Err(ExmdbError::Call(Status::QuotaExceeded, _))
    ));
    c.call(dir, &Call::RemoveStoreProps(vec![PR_PROHIBIT_SEND_QUOTA]))
        .unwrap();
    assert!(t.flush_instance(dir, q).is_ok());
    drop(t);

    // At most MAX_INSTANCES per connection; unloading makes room.
    let mut t = c.tables().unwrap();
    let mut ids = Vec::new();
    for _ in 0..proto::MAX_INSTANCES {
        ids.push(t.load_message_instance(dir, inbox, None, false).unwrap());
    }
    assert!(matches!(
        t.load_message_instance(dir, inbox, None, false),
        Err(ExmdbError::Call(Status::BadRequest, _))
    ));
    t.unload_instance(dir, ids[7]).unwrap();
    t.load_message_instance(dir, inbox, None, false).unwrap();
    drop(t);
    // At most MAX_INSTANCE_BYTES held: TooBig beyond, the connection stays usable.
    let mut t = c.tables().unwrap();
    let big = TaggedVal::new(PR_HTML, PropVal::Binary(vec![7; 10 << 20]));
    let mut refused = false;
    for _ in 0..(proto::MAX_INSTANCE_BYTES / (10 << 20) + 1) {
        let i = t.load_message_instance(dir, inbox, None, false).unwrap();
        match t.set_instance_props(dir, i, std::slice::from_ref(&big)) {
            Ok(()) => {}
            Err(ExmdbError::Call(Status::TooBig, _)) => {
                refused = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused, "the byte limit was not enforced");
    t.load_message_instance(dir, inbox, None, false).unwrap();
}

/// The small v7 calls over RPC: message and folder probes, one user's folder rights, change
/// numbers, counts, all named properties, the receive folder of a class, folder cycles, a
/// single message moved and copied, a message's recipients.
#[test]
fn store_probes_over_rpc() {
    use gromox_mapi::named::{PropName, PS_PUBLIC_STRINGS};
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let inbox = 0x0d;
    // Folders: present, soft-deleted, unknown; counts; cycles.
    let f = create_folder(&c, dir, IPM_SUBTREE, "Projects");
    let sub = create_folder(&c, dir, f, "Archive");
    let subsub = create_folder(&c, dir, sub, "2024");
    assert!(c.is_folder_present(dir, f).unwrap());
    assert!(!c.is_folder_deleted(dir, f).unwrap());
    assert_eq!(c.sum_hierarchy(dir, f, false).unwrap(), 1);
    assert_eq!(c.sum_hierarchy(dir, f, true).unwrap(), 2);
    assert!(c.check_folder_cycle(dir, f, subsub).unwrap());
    assert!(c.check_folder_cycle(dir, f, f).unwrap());
    assert!(!c.check_folder_cycle(dir, subsub, f).unwrap());
    assert!(!c.check_folder_cycle(dir, f, inbox).unwrap());
    c.call(
        dir,
        &Call::DeleteFolder {
            folder: subsub,
            hard: false,
        },
    )
    .unwrap();
    assert!(!c.is_folder_present(dir, subsub).unwrap());
    assert!(c.is_folder_deleted(dir, subsub).unwrap());
    assert_eq!(c.sum_hierarchy(dir, f, true).unwrap(), 1);
    assert!(!c.is_folder_present(dir, 0x7777_7777).unwrap());
    assert_eq!(status(c.is_folder_deleted(dir, 0x7777_7777)), Status::NotFound);
    assert_eq!(status(c.check_folder_cycle(dir, 0x7777_7777, f)), Status::NotFound);

    // Messages: present, soft-deleted; recipients; counts; single move and copy.
    let mut m = note("probe", false);
    m.recipients = vec![
        recipient("Bob", "bob@example.org", 1),
        recipient("Eve", "eve@example.org", 2),
    ];
    let mid = c.write_message(dir, inbox, false, &m).unwrap();
    c.write_message(dir, inbox, true, &note("fai", false)).unwrap();
    assert!(c.is_msg_present(dir, inbox, mid).unwrap());
    assert!(!c.is_msg_present(dir, SENT_ITEMS, mid).unwrap());
    assert!(!c.is_msg_deleted(dir, mid).unwrap());
    let rc = c.get_message_rcpts(dir, mid).unwrap();
    assert_eq!(rc.len(), 2);
    for (w, r) in m.recipients.iter().zip(&rc) {
        assert_eq!(sorted(w), props_of(w, r));
    }
    assert_eq!(c.sum_content(dir, inbox, false, false).unwrap(), 1);
    assert_eq!(c.sum_content(dir, inbox, true, false).unwrap(), 1);
    let copy = c.movecopy_message(dir, mid, f, true).unwrap();
    assert!(c.is_msg_present(dir, f, copy).unwrap() && c.is_msg_present(dir, inbox, mid).unwrap());
    let moved = c.movecopy_message(dir, copy, sub, false).unwrap();
    assert!(c.is_msg_present(dir, sub, moved).unwrap() && !c.is_msg_present(dir, f, copy).unwrap());
    assert!(matches!(
        c.movecopy_message(dir, mid, 0x7777_7777, false),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));
    soft_delete(&c, dir, mid);
    assert!(!c.is_msg_present(dir, inbox, mid).unwrap());
    assert!(c.is_msg_deleted(dir, mid).unwrap());
    assert_eq!(c.sum_content(dir, inbox, false, true).unwrap(), 1);
    assert_eq!(c.sum_content(dir, inbox, false, false).unwrap(), 0);
    assert_eq!(status(c.is_msg_deleted(dir, 0x7777_7777)), Status::NotFound);

    // One user's rights on a folder: the default member's until the user has a row.
    let before = c.get_folder_perm(dir, f, "bob@example.org").unwrap();
    c.call(
        dir,
        &Call::SetPermission {
            folder: f,
            user: "bob@example.org".into(),
            rights: 0x7fb,
        },
    )
    .unwrap();
    assert_eq!(c.get_folder_perm(dir, f, "bob@example.org").unwrap(), 0x7fb);
    assert_eq!(c.get_folder_perm(dir, f, "carol@example.org").unwrap(), before);
    assert!(matches!(
        c.get_folder_perm(dir, 0x7777_7777, "bob@example.org"),
        Err(ExmdbError::Call(Status::NotFound, _))
    ));

    // Change numbers, named properties, the receive folder.
    let (a, b) = (c.allocate_cn(dir).unwrap(), c.allocate_cn(dir).unwrap());
    assert!(b > a, "{a} {b}");
    let name = PropName::name(PS_PUBLIC_STRINGS, "x-probe");
    let id = c.get_named_propids(dir, true, std::slice::from_ref(&name)).unwrap()[0];
    let all = c.get_all_named_propids(dir).unwrap();
    assert!(all.contains(&(id, name)), "{all:?}");
    assert_eq!(c.get_folder_by_class(dir, "IPM.Note.Custom").unwrap(), inbox);
}

/// Table notifications over RPC (MS-OXCNOTIF TableModified through TableNotifications): a
/// loaded sorted content table follows another connection's writes row by row (added,
/// modified to a new position, deleted, each with its position, prior row and columns); a
/// hierarchy table tells a new folder and changed counts row by row; a burst of changes
/// answers one TABLE_CHANGED with the table current.
#[test]
fn table_notifications_over_rpc() {
    use gromox_exmdb_proto::{Origin, SortKey, MAX_TABLE_EVENTS};
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let folder = create_folder(&c, dir, IPM_SUBTREE, "Watched");
    let write = |s: &str| {
        let m = proto::MessageContent {
            props: vec![subject(s)],
            ..Default::default()
        };
        c.write_message(dir, folder, false, &m).unwrap()
    };
    let (b, dd) = (write("b"), write("d"));
    let mut t = c.tables().unwrap();
    let sort = [SortKey {
        tag: PR_SUBJECT,
        descending: false,
    }];
    let table = t.load_content_table(dir, folder, false, None, &sort).unwrap().id;
    let tree = t.load_hierarchy_table(dir, IPM_SUBTREE, false, None, &[]).unwrap();
    let cols = [PR_SUBJECT];
    assert_eq!(t.notifications(dir, table, &cols).unwrap(), vec![]);
    assert_eq!(t.notifications(dir, tree.id, &cols).unwrap(), vec![]);

    // Added between b and d.
    let cc = write("c");
    let ev = t.notifications(dir, table, &cols).unwrap();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].event, ev[0].row.message, ev[0].position), (3, cc, 1));
    assert_eq!(ev[0].prior.map(|p| p.message), Some(b));
    assert_eq!(ev[0].values, vec![Some(PropVal::Unicode("c".into()))]);
    t.seek(dir, table, Origin::Beginning, 0).unwrap();
    assert_eq!(
        subjects(&t.query(dir, table, &cols, 10, true, true).unwrap()),
        ["b", "c", "d"]
    );
    // Asked again: nothing new.
    assert_eq!(t.notifications(dir, table, &cols).unwrap(), vec![]);

    // b renamed to e: modified, now last after d.
    c.set_message_props(dir, b, &[subject("e")]).unwrap();
    let ev = t.notifications(dir, table, &cols).unwrap();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].event, ev[0].row.message, ev[0].position), (5, b, 2));
    assert_eq!(ev[0].prior.map(|p| p.message), Some(dd));
    assert_eq!(ev[0].values, vec![Some(PropVal::Unicode("e".into()))]);

    // d deleted.
    soft_delete(&c, dir, dd);
    let ev = t.notifications(dir, table, &cols).unwrap();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!((ev[0].event, ev[0].row.message), (4, dd));
    t.seek(dir, table, Origin::Beginning, 0).unwrap();
    assert_eq!(
        subjects(&t.query(dir, table, &cols, 10, true, true).unwrap()),
        ["c", "e"]
    );

    // The hierarchy table, row by row: the new folder added after Watched (the last row, its
    // folder id the row id, its columns read), Watched modified (its counts changed).
    let another = create_folder(&c, dir, IPM_SUBTREE, "Another");
    let ev = t.notifications(dir, tree.id, &[PR_DISPLAY_NAME]).unwrap();
    let got: Vec<(u16, u64)> = ev.iter().map(|e| (e.event, e.row.folder)).collect();
    assert_eq!(got, vec![(3, another), (5, folder)], "{ev:?}");
    assert_eq!(ev[0].prior.map(|p| p.folder), Some(folder));
    assert_eq!(ev[0].position, tree.rows);
    assert_eq!(ev[0].values, vec![Some(PropVal::Unicode("Another".into()))]);
    assert_eq!(t.position(dir, tree.id).unwrap().1, tree.rows + 1);

    // More changes than one answer carries: one TABLE_CHANGED, the table current.
    for i in 0..=MAX_TABLE_EVENTS {
        write(&format!("x{i:03}"));
    }
    let ev = t.notifications(dir, table, &cols).unwrap();
    assert_eq!(ev.iter().map(|e| e.event).collect::<Vec<_>>(), vec![1]);
    assert_eq!(t.position(dir, table).unwrap().1 as usize, 2 + MAX_TABLE_EVENTS + 1);
    // A reload leaves nothing to notify; another connection's table id is unknown here.
    write("y");
    t.reload(dir, table).unwrap();
    assert_eq!(t.notifications(dir, table, &cols).unwrap(), vec![]);
    let mut other = c.tables().unwrap();
    assert!(other.notifications(dir, table, &cols).is_err());
}

/// LocateRow and ReadTableRow (Gromox locate_table, read_table_row): a row found by its
/// PR_INST_ID/PR_INSTANCE_NUM in a sorted content table, a categorized one (header rows by
/// category id, hidden rows not found) and a hierarchy table (by folder id), read without
/// moving the cursor; unknown ids are `None` / NotFound.
#[test]
fn locate_and_read_rows_over_rpc() {
    use exmdbd::table::PR_INST_ID;
    use gromox_exmdb_proto::SortKey;
    use gromox_mapi::tags::PR_DISPLAY_NAME;
    let e = env(&[]);
    let d = start(&e);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let folder = create_folder(&c, dir, IPM_SUBTREE, "Located");
    let mut mids = Vec::new();
    for (s, imp) in [("c", 1), ("a", 1), ("b", 2)] {
        let m = proto::MessageContent {
            props: vec![subject(s), TaggedVal::new(PR_IMPORTANCE, PropVal::I4(imp))],
            ..Default::default()
        };
        mids.push(c.write_message(dir, folder, false, &m).unwrap());
    }
    let (mc, ma, mb) = (mids[0], mids[1], mids[2]);
    let mut t = c.tables().unwrap();
    let by_subject = [SortKey {
        tag: PR_SUBJECT,
        descending: false,
    }];
    let table = t.load_content_table(dir, folder, false, None, &by_subject).unwrap().id;
    t.seek(dir, table, proto::Origin::Beginning, 1).unwrap();
    assert_eq!(t.locate(dir, table, mc, 0).unwrap(), Some(2));
    assert_eq!(t.locate(dir, table, ma, 0).unwrap(), Some(0));
    assert_eq!(
        t.read_row(dir, table, &[PR_SUBJECT, PR_INST_ID], mb, 0).unwrap(),
        vec![Some(PropVal::Unicode("b".into())), Some(PropVal::I8(mb as i64))]
    );
    assert_eq!(t.position(dir, table).unwrap().0, 1, "cursor unchanged");
    assert_eq!(t.locate(dir, table, 0x7777, 0).unwrap(), None);
    assert_eq!(t.locate(dir, table, ma, 3).unwrap(), None);
    assert!(t.read_row(dir, table, &[PR_SUBJECT], 0x7777, 0).is_err());

    // Categorized by importance, collapsed: headers are found by their id, hidden rows not.
    let by_imp = [
        SortKey {
            tag: PR_IMPORTANCE,
            descending: true,
        },
        SortKey {
            tag: PR_SUBJECT,
            descending: false,
        },
    ];
    let cat = t
        .load_categorized_table(dir, folder, false, None, &by_imp, 1, 0)
        .unwrap();
    let headers = t
        .query(dir, cat.id, &[PR_INST_ID, PR_IMPORTANCE], 10, true, true)
        .unwrap();
    assert_eq!(headers.len(), 2);
    let Some(PropVal::I8(second)) = headers[1][0] else {
        panic!("{headers:?}")
    };
    assert_eq!(t.locate(dir, cat.id, second as u64, 0).unwrap(), Some(1));
    assert_eq!(
        t.read_row(dir, cat.id, &[PR_IMPORTANCE], second as u64, 0).unwrap(),
        vec![Some(PropVal::I4(1))]
    );
    assert_eq!(
        t.locate(dir, cat.id, ma, 0).unwrap(),
        None,
        "inside a collapsed category"
    );

    // Hierarchy table: rows by folder id.
    let tree = t.load_hierarchy_table(dir, IPM_SUBTREE, false, None, &[]).unwrap();
    let at = t.locate(dir, tree.id, folder, 0).unwrap().expect("Located listed");
    assert!(at < tree.rows);
    assert_eq!(
        t.read_row(dir, tree.id, &[PR_DISPLAY_NAME], folder, 0).unwrap(),
        vec![Some(PropVal::Unicode("Located".into()))]
    );
    assert_eq!(t.locate(dir, tree.id, 0x7777, 0).unwrap(), None);
}

/// gromox-mbop emptyfld selections (Gromox's -M, -a, -R, -t AGE, --soft) and movemsg: the plain
/// form empties the normal messages only (MS-OXCFOLD §3.2.5.9), -t keeps what changed
/// recently, -R reaches subfolders, -a takes FAI messages, -M spares the normal ones.
#[test]
fn mbop_emptyfld_selections_and_movemsg() {
    use gromox_mapi::tags::PR_LAST_MODIFICATION_TIME;
    let e = env(&[]);
    let d = start(&e);
    let mcfg = mbop_config(&e, &d);
    let c = client(d.addr("exmdb_listen"));
    let dir = e.maildir.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut a = vec!["-d", dir];
        a.extend_from_slice(args);
        mbop_out(&mcfg, &a)
    };
    let old = gromox_mapi::time::unix_to_filetime(1_600_000_000);
    let write = |folder: u64, s: &str, fai: bool, modified: Option<u64>| {
        let mut props = vec![subject(s)];
        if let Some(t) = modified {
            props.push(TaggedVal::new(PR_LAST_MODIFICATION_TIME, PropVal::SysTime(t)));
        }
        let m = proto::MessageContent {
            props,
            ..Default::default()
        };
        c.write_message(dir, folder, fai, &m).unwrap()
    };
    let live = |folder: u64, fai: bool| {
        let mut t = c.tables().unwrap();
        let id = t.load_content_table(dir, folder, fai, None, &[]).unwrap().id;
        let mut s = subjects(&t.query(dir, id, &[PR_SUBJECT], 100, true, false).unwrap());
        s.sort();
        s
    };
    let top = create_folder(&c, dir, IPM_SUBTREE, "Archive");
    let sub = create_folder(&c, dir, top, "2020");
    write(top, "old", false, Some(old));
    write(top, "new", false, None);
    write(top, "view", true, Some(old));
    write(sub, "old below", false, Some(old));
    write(sub, "new below", false, None);

    // -t: only what was last modified more than 30 days ago; -R: the subfolder too.
    assert_eq!(
        run(&["emptyfld", "-Rt", "30d", "--soft", "/Archive"]).unwrap().trim(),
        "/Archive: 2 removed"
    );
    assert_eq!(live(top, false), ["new"]);
    assert_eq!(live(sub, false), ["new below"]);
    assert_eq!(live(top, true), ["view"], "FAI untouched without -a");
    // -M -a: the FAI message only.
    assert_eq!(
        run(&["emptyfld", "-M", "-a", "/Archive"]).unwrap().trim(),
        "/Archive: 1 removed"
    );
    assert_eq!(live(top, true), Vec::<String>::new());
    assert_eq!(live(top, false), ["new"]);
    // movemsg: into the subfolder, new ids printed; an unknown id is reported.
    let new_mid = {
        let mut t = c.tables().unwrap();
        let id = t.load_content_table(dir, top, false, None, &[]).unwrap().id;
        match &t.query(dir, id, &[gromox_mapi::tags::PR_MID], 1, true, false).unwrap()[0][0] {
            Some(PropVal::I8(m)) => *m as u64,
            v => panic!("{v:?}"),
        }
    };
    let out = run(&["movemsg", &new_mid.to_string(), "/Archive/2020"]).unwrap();
    assert!(out.starts_with(&format!("{new_mid} -> ")), "{out}");
    assert_eq!(live(top, false), Vec::<String>::new());
    assert_eq!(live(sub, false), ["new", "new below"]);
    assert!(run(&["movemsg", "999999", "INBOX"]).is_err());
    // Plain: the server's EmptyFolder, normal messages only (a hard delete takes the
    // soft-deleted "old below" too).
    write(sub, "view below", true, None);
    assert_eq!(
        run(&["emptyfld", "/Archive/2020"]).unwrap().trim(),
        "/Archive/2020: 3 removed"
    );
    assert_eq!(live(sub, false), Vec::<String>::new());
    assert_eq!(live(sub, true), ["view below"]);
    // Bad option sets are refused.
    assert!(run(&["emptyfld", "-M", "/Archive"]).is_err());
    assert!(run(&["emptyfld", "-t", "/Archive"]).is_err());
    assert!(run(&["emptyfld", "-x", "/Archive"]).is_err());
    assert!(run(&["movemsg", "INBOX"]).is_err());
}
