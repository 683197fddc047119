//! `gromox-import --rpc`: the importer writes through exmdbd over the exmdb RPC. An mbox goes
//! into a base folder created over RPC with every message's MIME kept byte for byte; a vCard
//! (no MIME) becomes a contact written whole (WriteMessage) in the Contacts folder; and the
//! command-line tool does the same with the configuration's `exmdb_listen`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use gromox_clients::exmdb::{ExmdbClient, ExmdbOptions};
use gromox_mapi::tags::{PR_DISPLAY_NAME, PR_SUBJECT};
use gromox_mt::cli::{produce_files, Mode};
use gromox_mt::import::{Importer, Options};
use gromox_mt::target::RpcTarget;
use gromox_testkit::{Daemon, TestDir};

const IPM: u64 = 0x09;
const CONTACTS: u64 = 0x13;

fn stream(files: &[String], mode: Mode) -> Vec<u8> {
    let mut out = Vec::new();
    let (n, failed) = produce_files(&mut out, files, mode, &mut Vec::new()).unwrap();
    assert!(n > 0 && failed == 0);
    out
}

#[test]
fn import_over_rpc_keeps_mime_and_writes_whole_messages() {
    let dir = TestDir::new();
    let state = dir.path().join("state");
    let md = gromox_base::names::user_maildir(&state, "alice@example.org").unwrap();
    exmdbd::Store::create_private(&md, "alice@example.org", "en", false, &Default::default()).unwrap();
    let cfg = dir.write_config(
        "exmdb_provider.cfg",
        &[("state_path", state.to_str().unwrap()), ("exmdb_listen", "127.0.0.1:0")],
    );
    let d = Daemon::start(
        &gromox_testkit::bin("exmdbd"),
        &["-c", cfg.to_str().unwrap()],
        dir.path(),
    )
    .unwrap();
    let addr = d.addr("exmdb_listen");
    let mds = md.to_str().unwrap();

    let mbox = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mbox/imaptest-default.mbox");
    let mails = stream(&[mbox.display().to_string()], Mode::Mbox);
    let vcf = dir.path().join("bob.vcf");
    std::fs::write(
        &vcf,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Builder;Bob;;;\r\nFN:Bob Builder\r\nEMAIL;TYPE=work:bob@example.net\r\nEND:VCARD\r\n",
    )
    .unwrap();
    let card = stream(&[vcf.display().to_string()], Mode::Vcard);

    let client = Arc::new(ExmdbClient::new(addr, ExmdbOptions::default()));
    let mut target = RpcTarget::new(client.clone(), mds).unwrap();
    let opts = Options {
        base: Some("Archive".into()),
        ..Options::default()
    };
    let st = Importer::new(&mut target, opts, Box::new(std::io::sink()))
        .unwrap()
        .run(&mails[..], &mut Vec::new())
        .unwrap();
    assert_eq!((st.messages, st.failed, st.folders_created), (6, 0, 0), "{st:?}");
    let st = Importer::new(&mut target, Options::default(), Box::new(std::io::sink()))
        .unwrap()
        .run(&card[..], &mut Vec::new())
        .unwrap();
    assert_eq!((st.messages, st.failed), (1, 0), "{st:?}");

    // What a store reader sees.
    let store = exmdbd::Store::open(&md, &Default::default()).unwrap();
    let archive = store
        .find_folder(IPM, "Archive")
        .unwrap()
        .expect("base folder created over RPC");
    let mids = store.list_messages(archive, false).unwrap();
    assert_eq!(mids.len(), 6);
    let raw = std::fs::read(&mbox).unwrap();
    for mid in &mids {
        let mime = store.message_mime(*mid).unwrap().expect("MIME kept");
        let subject = store.read_message(*mid).unwrap();
        assert!(subject.get(PR_SUBJECT).is_some());
        // Each kept MIME is a piece of the mbox file (From_ line and >From quoting aside).
        let probe = &mime[..mime.len().min(60)];
        assert!(
            raw.windows(probe.len()).any(|w| w == probe),
            "{}",
            String::from_utf8_lossy(probe)
        );
    }
    let contacts = store.list_messages(CONTACTS, false).unwrap();
    assert_eq!(contacts.len(), 1);
    let c = store.read_message(contacts[0]).unwrap();
    assert_eq!(c.get(PR_DISPLAY_NAME).and_then(|v| v.as_str()), Some("Bob Builder"));
    drop(store);

    // The command-line tool: gromox-import --rpc with exmdb_listen from its configuration
    // (a directory of its own: exmdbd's exmdb_provider.cfg beside it would win).
    std::fs::create_dir_all(dir.path().join("cli")).unwrap();
    let main = dir.write_config(
        "cli/gromox.cfg",
        &[
            ("state_path", state.to_str().unwrap()),
            ("exmdb_listen", &addr.to_string()),
        ],
    );
    let mut child = Command::new(gromox_testkit::bin("gromox-import"))
        .args(["-c", main.to_str().unwrap(), "--maildir", mds, "--rpc", "-B", "FromCli"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&mails).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("6 messages imported"), "{err}");
    let store = exmdbd::Store::open(&md, &Default::default()).unwrap();
    let f = store.find_folder(IPM, "FromCli").unwrap().expect("folder");
    assert_eq!(store.list_messages(f, false).unwrap().len(), 6);
    // Without exmdbd the RPC import fails clearly instead of writing anything.
    drop(d);
    let mut child = Command::new(gromox_testkit::bin("gromox-import"))
        .args(["-c", main.to_str().unwrap(), "--maildir", mds, "--rpc", "-B", "Nope"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exmdb"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
