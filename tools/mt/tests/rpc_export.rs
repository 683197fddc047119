//! `gromox-export --rpc`: the exporters read through exmdbd over the exmdb RPC (ListFolders,
//! ListMessages, ReadMessage, MessageRfc822, GetNamedPropNames) and give what the in-process
//! export gives: the same EML files, the same vCards (named properties resolved over RPC), a
//! stream that re-imports; and the command-line tool does it with the configuration's
//! `exmdb_listen`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use gromox_clients::exmdb::{ExmdbClient, ExmdbOptions};
use gromox_convert::vcard_export::VcardVersion;
use gromox_mapi::tags::PR_SUBJECT;
use gromox_mt::cli::{produce_files, Mode};
use gromox_mt::export::{self, RpcSource};
use gromox_mt::import::{Importer, Options};
use gromox_testkit::{Daemon, TestDir};

const IPM: u64 = 0x09;

fn import(store: &mut exmdbd::Store, files: &[String], mode: Mode, base: Option<&str>) {
    let mut s = Vec::new();
    let (n, failed) = produce_files(&mut s, files, mode, &mut Vec::new()).unwrap();
    assert!(n > 0 && failed == 0);
    let opts = Options {
        base: base.map(str::to_string),
        ..Options::default()
    };
    let st = Importer::new(store, opts, Box::new(std::io::sink()))
        .unwrap()
        .run(&s[..], &mut Vec::new())
        .unwrap();
    assert_eq!(st.failed, 0);
}

/// Every file below `dir`, relative path → bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn export_over_rpc_matches_the_in_process_export() {
    let dir = TestDir::new();
    let state = dir.path().join("state");
    let md = gromox_base::names::user_maildir(&state, "alice@example.org").unwrap();
    let mut store = exmdbd::Store::create_private(&md, "alice@example.org", "en", false, &Default::default()).unwrap();
    let mbox = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mbox/imaptest-default.mbox");
    import(&mut store, &[mbox.display().to_string()], Mode::Mbox, Some("Archive"));
    let vcf = dir.path().join("bob.vcf");
    std::fs::write(
        &vcf,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Builder;Bob;;;\r\nFN:Bob Builder\r\nEMAIL;TYPE=work:bob@example.net\r\n\
         TEL;TYPE=cell:+49 170 1234567\r\nEND:VCARD\r\n",
    )
    .unwrap();
    import(&mut store, &[vcf.display().to_string()], Mode::Vcard, None);
    // An associated (FAI) message — a view definition — in the Archive folder.
    let archive_fid = store.find_folder(IPM, "Archive").unwrap().unwrap();
    let mut fai = exmdbd::MessageContent::default();
    fai.set(
        gromox_mapi::tags::PR_MESSAGE_CLASS,
        gromox_mapi::PropVal::Unicode("IPM.Microsoft.FolderDesign.NamedView".into()),
    );
    fai.set(PR_SUBJECT, gromox_mapi::PropVal::Unicode("Compact view".into()));
    store.create_message(archive_fid, &fai, true).unwrap();

    // The in-process export as the reference.
    let local_eml = dir.path().join("local-eml");
    assert_eq!(export::export_eml(&store, IPM, &local_eml, &mut Vec::new()).unwrap(), 7);
    let mut local_vcf = Vec::new();
    export::export_vcard(&store, IPM, VcardVersion::V30, &mut local_vcf, &mut Vec::new()).unwrap();
    drop(store);

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
    let client = Arc::new(ExmdbClient::new(addr, ExmdbOptions::default()));
    let src = RpcSource::new(client, mds);
    assert!(src.is_private().unwrap());

    // EML: the same files (the kept MIME, byte for byte) in the same folder layout.
    let rpc_eml = dir.path().join("rpc-eml");
    assert_eq!(export::export_eml(&src, IPM, &rpc_eml, &mut Vec::new()).unwrap(), 7);
    assert_eq!(files(&rpc_eml), files(&local_eml));
    // vCard: named properties (the contact's e-mail address) resolved with GetNamedPropNames.
    let mut rpc_vcf = Vec::new();
    assert_eq!(
        export::export_vcard(&src, IPM, VcardVersion::V30, &mut rpc_vcf, &mut Vec::new()).unwrap(),
        1
    );
    let text = String::from_utf8(rpc_vcf.clone()).unwrap();
    assert!(text.contains("bob@example.net"), "{text}");
    assert_eq!(rpc_vcf, local_vcf);
    // Stream: re-imports into another store with the folders and subjects.
    let (mt, n) = export::export_mt(&src, IPM, Vec::new(), &mut Vec::new()).unwrap();
    assert_eq!(n, 8, "7 messages and the FAI message");
    let md2 = dir.path().join("copy");
    let mut copy = exmdbd::Store::create_private(&md2, "copy@example.org", "en", false, &Default::default()).unwrap();
    let st = Importer::new(&mut copy, Options::default(), Box::new(std::io::sink()))
        .unwrap()
        .run(&mt[..], &mut Vec::new())
        .unwrap();
    assert_eq!((st.messages, st.failed), (8, 0), "{st:?}");
    let archive = copy.find_folder(IPM, "Archive").unwrap().expect("Archive re-imported");
    let mids = copy.list_messages(archive, false).unwrap();
    assert_eq!(mids.len(), 6);
    let fai = copy.list_messages(archive, true).unwrap();
    assert_eq!(fai.len(), 1, "the FAI message travelled over the RPC");
    assert_eq!(
        copy.read_message(fai[0])
            .unwrap()
            .get(PR_SUBJECT)
            .and_then(|v| v.as_str()),
        Some("Compact view")
    );
    assert!(mids
        .iter()
        .all(|m| copy.read_message(*m).unwrap().get(PR_SUBJECT).is_some()));
    drop(copy);

    // The command-line tool with exmdb_listen from its configuration.
    std::fs::create_dir_all(dir.path().join("cli")).unwrap();
    let main = dir.write_config(
        "cli/gromox.cfg",
        &[
            ("state_path", state.to_str().unwrap()),
            ("exmdb_listen", &addr.to_string()),
        ],
    );
    let cli_eml = dir.path().join("cli-eml");
    let out = Command::new(gromox_testkit::bin("gromox-export"))
        .args(["-c", main.to_str().unwrap(), "--maildir", mds, "--rpc", "--mail"])
        .arg(&cli_eml)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("7 messages exported"), "{err}");
    assert_eq!(files(&cli_eml), files(&local_eml));
    // Without exmdbd the RPC export fails clearly.
    drop(d);
    let out = Command::new(gromox_testkit::bin("gromox-export"))
        .args(["-c", main.to_str().unwrap(), "--maildir", mds, "--rpc", "--mt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exmdb"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
