//! The exmdb client API in process (`ExmdbClient::in_process` over `rpc::LocalExmdbd`): the
//! same calls, checks and answers as over the wire, without sockets.

use std::sync::Arc;

use exmdbd::cache::StoreCache;
use exmdbd::rpc::{ExmdbServer, LocalExmdbd};
use gromox_base::acl::HostsAllow;
use gromox_clients::exmdb::{ExmdbClient, ExmdbError, ExmdbOptions, ExmdbRouter};
use gromox_exmdb_proto::{Call, Status};
use gromox_mapi::tags::{PR_MID, PR_SUBJECT};

fn local(state: &std::path::Path) -> Arc<LocalExmdbd> {
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let cache = Arc::new(StoreCache::new(Default::default(), std::time::Duration::from_secs(60)));
    let acl = HostsAllow::parse("127.0.0.1").unwrap();
    Arc::new(LocalExmdbd(Arc::new(ExmdbServer::new(
        cache,
        state.to_path_buf(),
        acl,
        None,
        log,
    ))))
}

#[test]
fn in_process_client_answers_like_the_daemon() {
    let t = tempfile::tempdir().unwrap();
    let md = exmdbd::paths::user_maildir(t.path(), "bob@example.org").unwrap();
    exmdbd::Store::create_private(&md, "bob@example.org", "en", false, &Default::default()).unwrap();
    let dir = md.to_str().unwrap();
    let c = ExmdbClient::in_process(local(t.path()));
    assert!(c.is_in_process());
    c.ping(dir).unwrap();

    // Delivery as lmtpd makes it, then the message read back three ways.
    let mime = b"From: a@example.org\r\nTo: bob@example.org\r\nSubject: in process\r\n\r\nhello\r\n";
    let d = c
        .deliver_mail(dir, "a@example.org", "bob@example.org", mime, 1_800_000_000)
        .unwrap();
    let msgs = c.list_messages(dir, d.folder, 0, 10, 0).unwrap();
    assert_eq!(msgs.len(), 1);
    let mid = msgs[0].mid;
    assert_eq!(c.message_rfc822(dir, mid).unwrap(), mime.to_vec());
    let m = c.read_message(dir, mid).unwrap();
    assert_eq!(m.get(PR_SUBJECT).and_then(|v| v.as_str()), Some("in process"));

    // Tables live as long as their session.
    let mut tables = c.tables().unwrap();
    let info = tables.load_content_table(dir, d.folder, false, None, &[]).unwrap();
    assert_eq!(info.rows, 1);
    let rows = tables
        .query(dir, info.id, &[PR_MID, PR_SUBJECT], 10, true, false)
        .unwrap();
    assert_eq!(rows[0][0].as_ref().and_then(|v| v.as_i64()), Some(mid as i64));
    drop(tables);

    // The same checks as over the wire: paths outside the state directory, maintenance mode,
    // and no listen connections in process.
    let bad = t.path().join("../elsewhere");
    match c.ping(bad.to_str().unwrap()) {
        Err(ExmdbError::Call(Status::BadMailbox, _)) => {}
        other => panic!("{other:?}"),
    }
    c.call(dir, &Call::Freeze).unwrap();
    match c.read_message(dir, mid) {
        Err(ExmdbError::Call(Status::Frozen, _)) => {}
        other => panic!("{other:?}"),
    }
    c.call(dir, &Call::Thaw).unwrap();
    match c.call(dir, &Call::Subscribe { filter: 0 }) {
        Err(ExmdbError::Call(Status::NotSupported, _)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn router_runs_this_hosts_mailboxes_in_process() {
    let t = tempfile::tempdir().unwrap();
    let md = exmdbd::paths::user_maildir(t.path(), "bob@example.org").unwrap();
    exmdbd::Store::create_private(&md, "bob@example.org", "en", false, &Default::default()).unwrap();
    // exmdb_listen points at a port nobody listens on: only the in-process path can answer.
    let nowhere = "127.0.0.1:9".parse().unwrap();
    let r = ExmdbRouter::new(nowhere, "mx1", ExmdbOptions::default()).with_local_store(local(t.path()));
    let c = r.client("").unwrap();
    assert!(c.is_in_process());
    c.ping(md.to_str().unwrap()).unwrap();
    assert!(r.client("MX1").unwrap().is_in_process());
    // Another home still goes over the network (and fails here: nothing listens).
    let other = r.client("127.0.0.1").unwrap();
    assert!(!other.is_in_process());
    assert!(other.ping(md.to_str().unwrap()).is_err());
}
