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
