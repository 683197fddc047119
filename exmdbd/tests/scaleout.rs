//! Scale-out (DESIGN.md §5): two exmdbd on 127.0.0.2 and 127.0.0.3 share the user directory;
//! alice is homed on the first, bob on the second. One client process, routing by home server
//! through the directory, reaches both mailboxes; a call sent to the wrong server is refused
//! with its own status naming the right one.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use gromox_base::Config;
use gromox_clients::exmdb::{ExmdbClient, ExmdbError, ExmdbOptions, ExmdbRouter};
use gromox_exmdb_proto::Status;
use gromox_testkit::{Daemon, TestDir};

const INBOX: u64 = 0x0d;

fn opts() -> ExmdbOptions {
    ExmdbOptions {
        pool_size: 2,
        connect_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(10),
    }
}

#[test]
fn two_home_servers_one_client_and_misrouted_calls_refused() {
    let dir = TestDir::new();
    let state = dir.path().join("state");
    let mut cfg = Config::defaults("test", &gromox_directory::config_keys());
    cfg.set("state_path", state.to_str().unwrap()).unwrap();
    for u in ["alice", "bob"] {
        gromox_directory::ensure_demo(&cfg, "example.org", u, "pw 123 456").unwrap();
        let md = exmdbd::paths::user_maildir(&state, &format!("{u}@example.org")).unwrap();
        std::fs::create_dir_all(&md).unwrap();
        exmdbd::Store::create_private(&md, &format!("{u}@example.org"), "en", false, &Default::default()).unwrap();
    }
    let d = gromox_directory::Directory::open(&cfg).unwrap();
    let mx1 = d.server_add("127.0.0.2", "mx1.example.org").unwrap();
    let mx2 = d.server_add("127.0.0.3", "mx2.example.org").unwrap();
    for (u, s) in [("alice", mx1.id), ("bob", mx2.id)] {
        let spec = gromox_directory::UserSpec {
            homeserver: Some(s),
            ..Default::default()
        };
        d.user_set(&format!("{u}@example.org"), &spec).unwrap();
    }
    drop(d);

    // Both servers on one port, each on its own address.
    let port = std::net::TcpListener::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = |host: &str| -> Daemon {
        let listen = format!("{host}:{port}");
        let c = dir.write_config(
            &format!("exmdb-{host}.cfg"),
            &[
                ("state_path", state.to_str().unwrap()),
                ("hostname", host),
                ("exmdb_listen", &listen),
                ("exmdb_hosts_allow", "127.0.0.0/8"),
            ],
        );
        Daemon::start(
            Path::new(env!("CARGO_BIN_EXE_exmdbd")),
            &["-c", c.to_str().unwrap()],
            dir.path(),
        )
        .unwrap()
    };
    let (s1, s2) = (start("127.0.0.2"), start("127.0.0.3"));

    let alice = exmdbd::paths::user_maildir(&state, "alice@example.org").unwrap();
    let bob = exmdbd::paths::user_maildir(&state, "bob@example.org").unwrap();
    let (alice, bob) = (alice.to_str().unwrap(), bob.to_str().unwrap());

    // One client process: this host is 127.0.0.2; homes come from the directory.
    let local: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
    let dirc = gromox_directory::Directory::open(&cfg).unwrap();
    let st = state.clone();
    let router = ExmdbRouter::new(local, "127.0.0.2", opts()).with_home_lookup(Box::new(move |m| {
        dirc.home_of_maildir(&st, Path::new(m)).ok().flatten()
    }));
    for (md, who) in [(alice, "alice"), (bob, "bob")] {
        let c = router.for_maildir(md).unwrap();
        let raw = format!("Subject: for {who}\r\n\r\nhello\r\n");
        let r = c.deliver_mail(md, "s@example.net", &format!("{who}@example.org"), raw.as_bytes(), 0);
        let r = r.unwrap_or_else(|e| panic!("{who}: {e}\n{}\n{}", s1.output(), s2.output()));
        assert_eq!(r.folder, INBOX, "{who}");
    }
    assert_eq!(router.for_maildir(alice).unwrap().addr(), local);
    assert_eq!(
        router.for_maildir(bob).unwrap().addr(),
        format!("127.0.0.3:{port}").parse::<SocketAddr>().unwrap()
    );
    for (md, who) in [(alice, "alice"), (bob, "bob")] {
        let store = exmdbd::Store::open(Path::new(md), &Default::default()).unwrap();
        let mids = store.list_messages(INBOX, false).unwrap();
        assert_eq!(mids.len(), 1, "{who}");
    }

    // The wrong server refuses, naming the home server; nothing is written.
    let wrong = ExmdbClient::new(local, opts());
    match wrong.ping(bob) {
        Err(ExmdbError::Call(Status::MisroutedMailbox, m)) => assert!(m.contains("127.0.0.3"), "{m}"),
        r => panic!("{r:?}"),
    }
    let wrong = ExmdbClient::new(format!("127.0.0.3:{port}").parse().unwrap(), opts());
    match wrong.deliver_mail(alice, "s@example.net", "alice@example.org", b"Subject: x\r\n\r\n", 0) {
        Err(ExmdbError::Call(Status::MisroutedMailbox, m)) => assert!(m.contains("127.0.0.2"), "{m}"),
        r => panic!("{r:?}"),
    }
    let store = exmdbd::Store::open(Path::new(alice), &Default::default()).unwrap();
    assert_eq!(store.list_messages(INBOX, false).unwrap().len(), 1);
    drop(store);

    // gromox-mbop foreach over the directory: every mailbox through its home server; with
    // `.here` only this host's (127.0.0.2: alice).
    let mcfg = dir.write_config(
        "mbop.cfg",
        &[
            ("state_path", state.to_str().unwrap()),
            ("hostname", "127.0.0.2"),
            ("exmdb_listen", &format!("127.0.0.2:{port}")),
        ],
    );
    let mbop = |args: &[&str]| {
        let mut a = vec!["gromox-mbop".to_string(), "-c".into(), mcfg.to_string_lossy().into()];
        a.extend(args.iter().map(|s| s.to_string()));
        let mut out = Vec::new();
        let r = exmdbd::mbop::mbop_run(&a, &mut out);
        (r, String::from_utf8(out).unwrap())
    };
    let (r, out) = mbop(&["foreach.mb", "list-folders", "INBOX"]);
    assert_eq!(r, Ok(()), "{out}");
    assert!(
        out.contains("alice@example.org:") && out.contains("bob@example.org:"),
        "{out}"
    );
    let (r, out) = mbop(&["foreach.user.here", "ping"]);
    assert_eq!(r, Ok(()), "{out}");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["alice@example.org:"]);
    // Each mailbox's Inbox emptied by its own server.
    let (r, out) = mbop(&["foreach.mb", "emptyfld", "INBOX"]);
    assert_eq!(r, Ok(()), "{out}");
    for md in [alice, bob] {
        let store = exmdbd::Store::open(Path::new(md), &Default::default()).unwrap();
        assert_eq!(store.list_messages(INBOX, false).unwrap(), Vec::<u64>::new(), "{md}");
    }
    // Bad filters, nesting and -u are refused.
    assert!(mbop(&["foreach.everyone", "ping"]).0.is_err());
    assert!(mbop(&["foreach.mb", "foreach.mb", "ping"]).0.is_err());
    assert!(mbop(&["-u", "alice@example.org", "foreach.mb", "ping"]).0.is_err());
    // A failing mailbox is reported and the others still run: bob's server stopped.
    drop(s2);
    let (r, out) = mbop(&["foreach.mb", "ping"]);
    assert!(r.as_ref().is_err_and(|e| e.contains("1 of 2")), "{r:?} {out}");
    assert!(out.contains("bob@example.org: "), "{out}");
    drop(s1);
}
