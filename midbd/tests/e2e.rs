//! midbd as a process over a real exmdbd (the store library's RPC server, in-process on
//! 127.0.0.1:0), mail delivered straight into the store with the store library as lmtpd does:
//! select/fetch_meta/fetch_mime byte-identical, flags ⇄ store, expunge/remove delete from the
//! store, copy/move UID pairs, append, folder create/rename/delete, UIDs and UIDVALIDITY stable
//! across a restart, and an index consistent with the store after SIGKILL.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use exmdbd::cache::StoreCache;
use exmdbd::rpc::{ExmdbProtocol, ExmdbServer};
use exmdbd::{MessageContent, Store, StoreOptions};
use gromox_base::acl::HostsAllow;
use gromox_clients::midb::{FlagMode, MidbClient, MidbError, MidbOptions};
use gromox_mapi::props::{PropTag, PropType, PropVal};
use gromox_runtime::{Control, Listener, Server, ServerConfig};
use gromox_testkit::{Daemon, TestDir};

const INBOX: u64 = 0x0d;

struct Env {
    dir: TestDir,
    maildir: PathBuf,
    md: String,
    midbd: Daemon,
    exmdb_control: Control,
    exmdb_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.midbd.kill();
        self.exmdb_control.shutdown();
        if let Some(t) = self.exmdb_thread.take() {
            let _ = t.join();
        }
    }
}

fn start_exmdb(state: &Path) -> (std::net::SocketAddr, Control, std::thread::JoinHandle<()>) {
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let cfg = ServerConfig {
        listeners: vec![Listener {
            name: "exmdb_listen",
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: false,
            haproxy: false,
        }],
        threads: 4,
        max_input: gromox_exmdb_proto::MAX_FRAME + 4,
        ..ServerConfig::default()
    };
    let cache = Arc::new(StoreCache::new(StoreOptions::default(), Duration::from_secs(600)));
    let srv = Arc::new(ExmdbServer::new(
        cache,
        state.to_path_buf(),
        HostsAllow::parse("127.0.0.1").unwrap(),
        None,
        log.clone(),
    ));
    let server = Server::bind(cfg, log).unwrap();
    let addr = server.local_addrs()[0].1;
    let control = Control::new();
    let c2 = control.clone();
    let t = std::thread::spawn(move || server.run(Arc::new(ExmdbProtocol(srv)), c2).unwrap());
    (addr, control, t)
}

fn env() -> Env {
    let dir = TestDir::new();
    let state = dir.path().join("state");
    let maildir = exmdbd::paths::user_maildir(&state, "alice@example.org").unwrap();
    std::fs::create_dir_all(&maildir).unwrap();
    Store::create_private(&maildir, "alice@example.org", "en", false, &StoreOptions::default()).unwrap();
    let (exmdb, exmdb_control, t) = start_exmdb(&state);
    let exmdb_s = exmdb.to_string();
    let cfg = dir.write_config(
        "midb.cfg",
        &[
            ("midb_listen", "127.0.0.1:0"),
            ("midb_hosts_allow", "127.0.0.1"),
            ("exmdb_listen", exmdb_s.as_str()),
            ("state_path", state.to_str().unwrap()),
        ],
    );
    let midbd = Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_midbd")),
        &["-c", cfg.to_str().unwrap()],
        dir.path(),
    )
    .unwrap();
    let md = maildir.to_str().unwrap().to_string();
    Env {
        dir,
        maildir,
        md,
        midbd,
        exmdb_control,
        exmdb_thread: Some(t),
    }
}

fn client(e: &Env) -> MidbClient {
    MidbClient::new(
        e.midbd.addr("midb_listen"),
        MidbOptions {
            timeout: Duration::from_secs(20),
            max_idle: 2,
        },
    )
}

/// Deliver as lmtpd does: the store library, in this process, with the original MIME kept.
fn deliver(e: &Env, mime: &[u8]) -> u64 {
    let mut st = Store::open(&e.maildir, &StoreOptions::default()).unwrap();
    let mut c = MessageContent::default();
    c.set(
        PropTag(0x0037_0000 | PropType::Unicode as u32),
        PropVal::Unicode("test".into()),
    );
    c.set(
        PropTag(0x001A_0000 | PropType::Unicode as u32),
        PropVal::Unicode("IPM.Note".into()),
    );
    st.deliver_message(Some(INBOX), &c, Some(mime)).unwrap().message
}

fn mime(i: usize) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: message {i}\r\n\
         Message-ID: <{i}@example.org>\r\nDate: Mon, 23 Nov 2026 00:00:00 +0000\r\n\r\nBody {i}\r\n"
    )
    .into_bytes()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn read_in_store(e: &Env, mid: u64) -> bool {
    Store::open(&e.maildir, &StoreOptions::default())
        .unwrap()
        .is_read(mid)
        .unwrap()
}

fn store_count(e: &Env) -> u64 {
    let st = Store::open(&e.maildir, &StoreOptions::default()).unwrap();
    st.list_messages(INBOX, false).unwrap().len() as u64
}

#[test]
fn deliveries_flags_fetch_and_expunge() {
    let e = env();
    let c = client(&e);
    let m1 = deliver(&e, &mime(1));
    deliver(&e, &mime(2));
    let (st, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!((st.messages, st.unseen, uids.clone()), (2, 2, vec![1, 2]));
    let mut metas = Vec::new();
    c.fetch_meta(&e.md, "INBOX", &uids, &mut |m| metas.push(m)).unwrap();
    assert_eq!(metas[0].size, mime(1).len() as u64);
    let mut out = Vec::new();
    assert!(c.fetch_mime(&e.md, "INBOX", 1, &mut out).unwrap());
    assert_eq!(out, mime(1), "the delivered MIME, byte-identical");

    // A delivery behind midbd's back is visible on the very next request.
    deliver(&e, &mime(3));
    assert_eq!(c.status(&e.md, "INBOX").unwrap().messages, 3);

    // \Seen goes to the store.
    c.set_flags(&e.md, "INBOX", &[1], FlagMode::Add, &s(&["\\Seen"]))
        .unwrap();
    assert!(read_in_store(&e, m1));
    c.set_flags(&e.md, "INBOX", &[1], FlagMode::Remove, &s(&["\\Seen"]))
        .unwrap();
    assert!(!read_in_store(&e, m1));

    // Expunge and remove really delete.
    c.set_flags(&e.md, "INBOX", &[2], FlagMode::Add, &s(&["\\Deleted"]))
        .unwrap();
    assert_eq!(c.expunge(&e.md, "INBOX", None).unwrap(), vec![2]);
    assert_eq!(c.remove(&e.md, "INBOX", &[3]).unwrap(), vec![3]);
    assert_eq!(store_count(&e), 1);
    assert_eq!(c.select(&e.md, "INBOX").unwrap().1, vec![1]);
}

#[test]
fn append_copy_move_and_folders() {
    let e = env();
    let c = client(&e);
    let m = mime(7);
    let (v, uid) = c
        .append(&e.md, "INBOX", &s(&["\\Seen", "$Label1"]), Some(1_700_000_000), &m)
        .unwrap();
    assert_eq!(uid, 1);
    let mut out = Vec::new();
    assert!(c.fetch_mime(&e.md, "INBOX", 1, &mut out).unwrap());
    assert_eq!(out, m);
    let mut meta = Vec::new();
    c.fetch_meta(&e.md, "INBOX", &[1], &mut |x| meta.push(x)).unwrap();
    assert_eq!(meta[0].flags, s(&["\\Seen", "$Label1"]));
    assert_eq!(meta[0].internal_date, 1_700_000_000);
    assert_eq!(c.status(&e.md, "INBOX").unwrap().uidvalidity, v);

    c.create_folder(&e.md, "Archive/2024").unwrap();
    let (dv, pairs) = c.copy(&e.md, "INBOX", &[1], "Archive/2024").unwrap();
    assert_eq!(pairs, vec![(1, 1)]);
    assert_eq!(c.status(&e.md, "Archive/2024").unwrap().uidvalidity, dv);
    let (_, pairs) = c.move_messages(&e.md, "INBOX", &[1], "Archive").unwrap();
    assert_eq!(pairs, vec![(1, 1)]);
    assert_eq!(c.status(&e.md, "INBOX").unwrap().messages, 0);
    let mut out = Vec::new();
    assert!(c.fetch_mime(&e.md, "Archive/2024", 1, &mut out).unwrap());
    assert_eq!(out, m);

    c.rename_folder(&e.md, "Archive", "Old").unwrap();
    let names: Vec<String> = c.list_folders(&e.md).unwrap().into_iter().map(|f| f.name).collect();
    assert!(names.contains(&"Old/2024".to_string()), "{names:?}");
    assert_eq!(c.status(&e.md, "Old/2024").unwrap().uidvalidity, dv);
    assert_eq!(c.status(&e.md, "Old/2024").unwrap().messages, 1);
    c.delete_folder(&e.md, "Old/2024").unwrap();
    assert!(matches!(c.status(&e.md, "Old/2024"), Err(MidbError::NoFolder)));
    assert!(matches!(
        c.delete_folder(&e.md, "Sent Items"),
        Err(MidbError::Denied(_))
    ));
}

#[test]
fn uids_survive_restart_and_sigkill() {
    let mut e = env();
    let c = client(&e);
    for i in 0..5 {
        deliver(&e, &mime(i));
    }
    let (st, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!(uids, vec![1, 2, 3, 4, 5]);
    c.remove(&e.md, "INBOX", &[2]).unwrap();

    // Clean restart: same UIDs, same UIDVALIDITY, no reuse.
    e.midbd.terminate(Duration::from_secs(10)).unwrap();
    e.midbd.restart().unwrap();
    let c = client(&e);
    deliver(&e, &mime(9));
    let (st2, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!(st2.uidvalidity, st.uidvalidity);
    assert_eq!(uids, vec![1, 3, 4, 5, 6]);

    // SIGKILL while a big sync is under way, with store changes behind its back; after the
    // restart, the index agrees with the store.
    for i in 10..1500 {
        deliver(&e, &mime(i));
    }
    let c2 = c.clone();
    let md = e.md.clone();
    let t = std::thread::spawn(move || c2.status(&md, "INBOX").is_err());
    std::thread::sleep(Duration::from_millis(50));
    e.midbd.kill();
    let interrupted = t.join().unwrap();
    eprintln!("sync interrupted by SIGKILL: {interrupted}");
    e.midbd.restart().unwrap();
    let c = client(&e);
    let (st3, uids) = c.select(&e.md, "INBOX").unwrap();
    let n = store_count(&e);
    assert_eq!(st3.messages as u64, n);
    assert_eq!(uids.len() as u64, n);
    assert_eq!(st3.uidvalidity, st.uidvalidity);
    assert_eq!(&uids[..5], &[1, 3, 4, 5, 6], "UIDs already given out are kept");
    let mut w = uids.clone();
    w.dedup();
    assert_eq!(w.len(), uids.len());
    let _ = e.dir.path();
}

#[test]
fn rebuild_from_the_command_line_and_online() {
    let mut e = env();
    let c = client(&e);
    deliver(&e, &mime(1));
    deliver(&e, &mime(2));
    let (st, _) = c.select(&e.md, "INBOX").unwrap();
    c.remove(&e.md, "INBOX", &[1]).unwrap();
    e.midbd.terminate(Duration::from_secs(10)).unwrap();
    // Offline: `midbd -c FILE rebuild MAILDIR` with midbd stopped.
    let cfg = e.dir.path().join("midb.cfg");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_midbd"))
        .args(["-c", cfg.to_str().unwrap(), "rebuild", &e.md])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("index rebuilt"));
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_midbd"))
        .args(["-c", cfg.to_str().unwrap(), "rebuild", "/no/such/maildir"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    e.midbd.restart().unwrap();
    let c = client(&e);
    let (st2, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!(uids, vec![1], "renumbered from 1");
    assert!(st2.uidvalidity > st.uidvalidity, "a rebuild changes UIDVALIDITY");
    // Online.
    c.rebuild(&e.md).unwrap();
    let (st3, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!(uids, vec![1]);
    assert!(st3.uidvalidity > st2.uidvalidity);
    let mut out = Vec::new();
    assert!(c.fetch_mime(&e.md, "INBOX", 1, &mut out).unwrap());
    assert_eq!(out, mime(2));
}

#[test]
fn real_messages_come_back_byte_identical() {
    let e = env();
    let c = client(&e);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 4);
    let raws: Vec<Vec<u8>> = names.iter().map(|p| std::fs::read(p).unwrap()).collect();
    for r in &raws {
        deliver(&e, r);
    }
    let (_, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!(uids.len(), raws.len());
    let mut sizes = Vec::new();
    c.fetch_meta(&e.md, "INBOX", &uids, &mut |m| sizes.push(m.size))
        .unwrap();
    for (i, uid) in uids.iter().enumerate() {
        let mut out = Vec::new();
        assert!(c.fetch_mime(&e.md, "INBOX", *uid, &mut out).unwrap());
        assert_eq!(out, raws[i], "{}", names[i].display());
        assert_eq!(sizes[i], raws[i].len() as u64);
    }
    // And through APPEND.
    let (_, uid) = c.append(&e.md, "Drafts", &s(&["\\Draft"]), None, &raws[0]).unwrap();
    let mut out = Vec::new();
    assert!(c.fetch_mime(&e.md, "Drafts", uid, &mut out).unwrap());
    assert_eq!(out, raws[0]);
}

#[test]
fn vanished_log_and_quota_over_the_real_store() {
    let e = env();
    let c = client(&e);
    for i in 1..=4 {
        deliver(&e, &mime(i));
    }
    let (st, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!(uids, vec![1, 2, 3, 4]);
    let before = st.highest_modseq;
    assert_eq!(c.vanished(&e.md, "INBOX", before).unwrap(), Vec::<u32>::new());
    // Removed through midbd, and behind its back in the store: both are logged.
    assert_eq!(c.remove(&e.md, "INBOX", &[2]).unwrap(), vec![2]);
    {
        let mut st = Store::open(&e.maildir, &StoreOptions::default()).unwrap();
        let mids = st.list_messages(INBOX, false).unwrap();
        st.delete_messages(&mids[2..3], true).unwrap();
    }
    let (st2, uids) = c.select(&e.md, "INBOX").unwrap();
    assert_eq!(uids, vec![1, 3]);
    assert!(st2.highest_modseq > before);
    assert_eq!(c.vanished(&e.md, "INBOX", before).unwrap(), vec![2, 4]);
    assert_eq!(
        c.vanished(&e.md, "INBOX", st2.highest_modseq).unwrap(),
        Vec::<u32>::new()
    );

    // No quota set: NIL; a prohibit-send quota of 10 KiB: the store size against 10,240 bytes.
    assert_eq!(c.quota(&e.md).unwrap(), None);
    {
        let mut st = Store::open(&e.maildir, &StoreOptions::default()).unwrap();
        st.set_props(
            exmdbd::Obj::Store,
            &[gromox_mapi::props::TaggedVal {
                tag: PropTag(0x666E_0003),
                val: PropVal::I4(10),
            }],
        )
        .unwrap();
    }
    let (used, limit) = c.quota(&e.md).unwrap().expect("a quota");
    assert_eq!(limit, 10 * 1024);
    assert!(used > 0, "two messages are stored");

    // Store-level rights (impersonation): none, then owner of IPM_SUBTREE = store owner.
    assert_eq!(c.rights(&e.md, "bob@example.org").unwrap(), 0);
    {
        let mut st = Store::open(&e.maildir, &StoreOptions::default()).unwrap();
        st.set_permission(0x09, "bob@example.org", gromox_mapi::tags::frights::OWNER)
            .unwrap();
    }
    assert_eq!(c.rights(&e.md, "Bob@Example.org").unwrap(), 0x2100);
    assert!(c.rights("/nonexistent/mailbox", "bob@example.org").is_err());
}
