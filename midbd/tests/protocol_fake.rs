//! The midb protocol end to end over TCP (in-process server on 127.0.0.1:0 with the
//! in-memory store) through `gromox_clients::midb::MidbClient`: every client call, streamed
//! FETCH-META, literals both ways, errors inside the protocol.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use gromox_base::acl::HostsAllow;
use gromox_clients::midb::{FlagMode, MidbClient, MidbError, MidbOptions};
use gromox_runtime::{Control, Listener, Server, ServerConfig};
use midbd::index::fid;
use midbd::source::FakeSource;
use midbd::{MidbProtocol, Service};

struct Env {
    _dir: tempfile::TempDir,
    md: String,
    src: Arc<FakeSource>,
    addr: SocketAddr,
    control: Control,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.control.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn env_with_acl(acl: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("exmdb")).unwrap();
    std::fs::write(dir.path().join("exmdb/exchange.sqlite3"), b"").unwrap();
    let md = dir.path().to_str().unwrap().to_string();
    let src = Arc::new(FakeSource::new());
    src.create_mailbox(&md);
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let cfg = ServerConfig {
        listeners: vec![Listener {
            name: "midb_listen",
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: false,
            haproxy: false,
        }],
        threads: 2,
        max_input: midbd::codec::MAX_APPEND + midbd::codec::MAX_LINE,
        ..ServerConfig::default()
    };
    let server = Server::bind(cfg, log.clone()).unwrap();
    let addr = server.local_addrs()[0].1;
    let svc = Arc::new(Service::new(src.clone(), Duration::from_secs(60)));
    let proto = Arc::new(MidbProtocol::new(svc, HostsAllow::parse(acl).unwrap(), log));
    let control = Control::new();
    let c2 = control.clone();
    let thread = std::thread::spawn(move || server.run(proto, c2).unwrap());
    Env {
        _dir: dir,
        md,
        src,
        addr,
        control,
        thread: Some(thread),
    }
}

fn env() -> Env {
    env_with_acl("127.0.0.1")
}

fn client(e: &Env) -> MidbClient {
    MidbClient::new(
        e.addr,
        MidbOptions {
            timeout: Duration::from_secs(10),
            max_idle: 2,
        },
    )
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn every_call_through_the_client() {
    let e = env();
    let c = client(&e);
    c.ping().unwrap();
    let mime = b"From: a@b\r\nSubject: hi\r\n\r\nbody\r\n";
    let a = e.src.deliver(&e.md, fid::INBOX, mime, 1000);
    e.src.deliver(&e.md, fid::INBOX, b"Subject: 2\r\n\r\n", 2000);

    let folders = c.list_folders(&e.md).unwrap();
    assert_eq!(folders[0].name, "INBOX");
    assert!(folders
        .iter()
        .any(|f| f.name == "Sent Items" && f.special_use == Some("\\Sent")));

    let (st, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!((st.messages, st.recent, st.unseen, st.uidnext), (2, 2, 2, 3));
    assert_eq!(uids, vec![1, 2]);

    let mut got = Vec::new();
    c.fetch_meta(&e.md, "INBOX", &[2, 1, 7], &mut |m| got.push(m)).unwrap();
    assert_eq!(
        got.iter().map(|m| (m.uid, m.internal_date)).collect::<Vec<_>>(),
        vec![(1, 1000), (2, 2000)]
    );
    assert_eq!(got[0].size, mime.len() as u64);

    let mut out = Vec::new();
    assert!(c.fetch_mime(&e.md, "INBOX", 1, &mut out).unwrap());
    assert_eq!(out, mime);
    assert!(!c.fetch_mime(&e.md, "INBOX", 9, &mut out).unwrap());

    let r = c
        .set_flags(&e.md, "INBOX", &[1], FlagMode::Add, &s(&["\\Seen", "\\Deleted"]))
        .unwrap();
    assert_eq!(r[0].flags, s(&["\\Seen", "\\Deleted"]));
    assert!(e.src.summary(&e.md, a).unwrap().read, "read state is in the store");
    let (hi, ch) = c.changes_since(&e.md, "INBOX", r[0].modseq - 1).unwrap();
    assert_eq!((hi, ch.len()), (r[0].modseq, 1));

    let st = c.status(&e.md, "inbox").unwrap();
    assert_eq!((st.deleted, st.unseen, st.first_unseen, st.recent), (1, 1, Some(2), 0));

    assert_eq!(c.expunge(&e.md, "INBOX", None).unwrap(), vec![1]);
    assert_eq!(e.src.count(&e.md, fid::INBOX), 1);

    let (v, uid) = c
        .append(&e.md, "INBOX", &s(&["\\Flagged"]), Some(5), b"Subject: app\r\n\r\n")
        .unwrap();
    assert_eq!(uid, 3);
    assert_eq!(c.status(&e.md, "INBOX").unwrap().uidvalidity, v);
    let mut out = Vec::new();
    assert!(c.fetch_mime(&e.md, "INBOX", 3, &mut out).unwrap());
    assert_eq!(out, b"Subject: app\r\n\r\n");

    c.create_folder(&e.md, "Work/Projects").unwrap();
    assert!(matches!(c.create_folder(&e.md, "Work"), Err(MidbError::Exists)));
    let (dv, pairs) = c.copy(&e.md, "INBOX", &[2, 3], "Work/Projects").unwrap();
    assert_eq!(pairs, vec![(2, 1), (3, 2)]);
    assert_eq!(c.status(&e.md, "Work/Projects").unwrap().uidvalidity, dv);
    let (_, pairs) = c.move_messages(&e.md, "Work/Projects", &[1], "INBOX").unwrap();
    assert_eq!(pairs, vec![(1, 4)]);
    assert_eq!(c.remove(&e.md, "INBOX", &[2, 4]).unwrap(), vec![2, 4]);
    assert_eq!(c.select(&e.md, "INBOX").unwrap().1, vec![3]);

    c.rename_folder(&e.md, "Work", "Old Work").unwrap();
    let names: Vec<String> = c.list_folders(&e.md).unwrap().into_iter().map(|f| f.name).collect();
    assert!(names.contains(&"Old Work/Projects".to_string()), "{names:?}");
    c.subscribe(&e.md, "Old Work", false).unwrap();
    assert!(
        !c.list_folders(&e.md)
            .unwrap()
            .iter()
            .find(|f| f.name == "Old Work")
            .unwrap()
            .subscribed
    );
    assert!(matches!(c.delete_folder(&e.md, "INBOX"), Err(MidbError::Denied(_))));
    c.delete_folder(&e.md, "Old Work/Projects").unwrap();
    assert!(matches!(c.status(&e.md, "Old Work/Projects"), Err(MidbError::NoFolder)));
    assert!(matches!(c.status("/nonexistent", "INBOX"), Err(MidbError::NoMailbox)));
    assert!(matches!(c.status("relative/dir", "INBOX"), Err(MidbError::NoMailbox)));
    assert!(matches!(
        c.set_flags(&e.md, "INBOX", &[3], FlagMode::Add, &s(&["\\Nonsense"])),
        Err(MidbError::Protocol(_))
    ));
    c.ping().unwrap();
}

#[test]
fn fetch_meta_streams_many_records() {
    let e = env();
    for i in 0..3000 {
        e.src
            .deliver(&e.md, fid::INBOX, format!("Subject: {i}\r\n\r\n").as_bytes(), i);
    }
    let c = client(&e);
    let (st, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!((st.messages, uids.len()), (3000, 3000));
    let mut n = 0;
    let mut last = 0;
    c.fetch_meta(&e.md, "INBOX", &uids, &mut |m| {
        assert!(m.uid > last);
        last = m.uid;
        n += 1;
    })
    .unwrap();
    assert_eq!((n, last), (3000, 3000));
    // 10,000+ UIDs are split into several requests by the client; the answer is the same.
    let many: Vec<u32> = (1..=25_000).collect();
    let mut n = 0;
    c.fetch_meta(&e.md, "INBOX", &many, &mut |_| n += 1).unwrap();
    assert_eq!(n, 3000);
}

fn raw(e: &Env) -> (BufReader<TcpStream>, TcpStream) {
    let s = TcpStream::connect(e.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    assert_eq!(l, "OK midbd\r\n");
    (r, w)
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

#[test]
fn bad_input_gets_errors_and_the_connection_survives() {
    let e = env();
    let (mut r, mut w) = raw(&e);
    w.write_all(b"HELLO\r\n").unwrap();
    assert_eq!(line(&mut r), "FALSE PROTOCOL unknown command\r\n");
    w.write_all(b"STATUS\r\n").unwrap();
    assert!(line(&mut r).starts_with("FALSE PROTOCOL STATUS takes 2 arguments"));
    w.write_all(b"\xff\xfe\r\n").unwrap();
    assert!(line(&mut r).starts_with("FALSE PROTOCOL"));
    let long = vec![b'A'; midbd::codec::MAX_LINE + 10];
    w.write_all(&long).unwrap();
    w.write_all(b"\r\n").unwrap();
    assert_eq!(line(&mut r), "FALSE PROTOCOL request line too long\r\n");
    w.write_all(format!("STATUS {}/../x INBOX\r\n", e.md).as_bytes())
        .unwrap();
    assert!(line(&mut r).starts_with("FALSE NOMAILBOX"));
    // Pipelined requests, and an APPEND whose literal arrives in pieces.
    let md = gromox_clients::midb::wire::enc(&e.md);
    w.write_all(format!("PING\r\nAPPEND {md} INBOX 7 {{10}}\r\n01234").as_bytes())
        .unwrap();
    assert_eq!(line(&mut r), "TRUE\r\n");
    std::thread::sleep(Duration::from_millis(100));
    w.write_all(b"56789STATUS ").unwrap();
    w.write_all(format!("{md} INBOX\r\n").as_bytes()).unwrap();
    assert!(line(&mut r).starts_with("TRUE "), "append answered");
    assert!(line(&mut r).starts_with("TRUE 1 1 1 2 "), "status after append");
    w.write_all(b"QUIT\r\n").unwrap();
    assert_eq!(line(&mut r), "TRUE\r\n");
    assert_eq!(line(&mut r), "", "closed after QUIT");
}

#[test]
fn hosts_allow_refuses_inside_the_protocol() {
    let e = env_with_acl("10.0.0.1");
    let c = client(&e);
    match c.ping() {
        Err(MidbError::Denied(_)) => {}
        r => panic!("{r:?}"),
    }
}

/// Sessions selecting an unchanged folder share one answer, yet every answer is current:
/// \Recent goes to the first session only, and a delivery or a flag change shows at once.
#[test]
fn repeated_selects_are_shared_and_stay_current() {
    let e = env();
    let c = client(&e);
    e.src.deliver(&e.md, fid::INBOX, b"Subject: 1\r\n\r\n", 1000);
    e.src.deliver(&e.md, fid::INBOX, b"Subject: 2\r\n\r\n", 2000);
    let (st, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!((st.messages, st.recent, st.unseen, uids.clone()), (2, 2, 2, vec![1, 2]));
    // The second and third session: no \Recent, same list (the third from the shared answer).
    for _ in 0..2 {
        let (st, again) = c.select(&e.md, "INBOX").unwrap();
        assert_eq!((st.messages, st.recent, st.unseen, st.uidnext), (2, 0, 2, 3));
        assert_eq!(again, uids);
    }
    // A delivery into the store: the next SELECT sees it.
    e.src.deliver(&e.md, fid::INBOX, b"Subject: 3\r\n\r\n", 3000);
    let (st, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!((st.messages, st.recent, uids), (3, 1, vec![1, 2, 3]));
    // A flag change through midb: the next SELECT counts it.
    c.set_flags(&e.md, "INBOX", &[1], FlagMode::Add, &s(&["\\Seen"]))
        .unwrap();
    let (st, _) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!((st.unseen, st.first_unseen), (2, Some(2)));
    let (st, _) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!((st.messages, st.recent, st.unseen, st.first_unseen), (3, 0, 2, Some(2)));
}
