//! `gromox-admin` creates stores: `domain add` the public store, `user add` the private store
//! and `gromox-mbck` finds the new store sound.

use std::io::Write;
use std::process::{Command, Stdio};

use gromox_testkit::{bin, TestDir};

fn admin(cfg: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(bin("gromox-admin"))
        .arg("-c")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn user_and_domain_add_create_their_stores() {
    let dir = TestDir::new();
    let state = dir.path().join("state");
    let cfg = dir.write_config("gromox.cfg", &[("state_path", state.to_str().unwrap())]);
    let dbop = Command::new(bin("gromox-dbop"))
        .arg("-c")
        .arg(&cfg)
        .arg("-C")
        .output()
        .unwrap();
    assert!(
        dbop.status.success(),
        "gromox-dbop -C: {}",
        String::from_utf8_lossy(&dbop.stderr)
    );
    let (ok, out) = admin(&cfg, &["domain", "add", "example.org"], "");
    assert!(ok, "{out}");
    assert!(
        state.join("domain/example.org/exmdb/exchange.sqlite3").is_file(),
        "no public store: {out}"
    );

    let (ok, out) = admin(
        &cfg,
        &["user", "add", "anna@example.org", "--lang", "de", "--password-stdin"],
        "Geheim 123\n",
    );
    assert!(ok, "{out}");
    let maildir = state.join("user/example.org/anna");
    let db = maildir.join("exmdb/exchange.sqlite3");
    assert!(db.is_file(), "no private store: {out}");

    let mbck = Command::new(bin("gromox-mbck")).arg(&maildir).output().unwrap();
    assert!(
        mbck.status.success(),
        "gromox-mbck: {}{}",
        String::from_utf8_lossy(&mbck.stdout),
        String::from_utf8_lossy(&mbck.stderr)
    );

    let (ok, out) = admin(&cfg, &["auth-test", "anna@example.org"], "Geheim 123\n");
    assert!(ok, "{out}");
}

#[test]
fn mailq_reports_an_empty_queue() {
    let dir = TestDir::new();
    let cfg = dir.write_config("gromox.cfg", &[("state_path", dir.path().to_str().unwrap())]);
    let out = Command::new(bin("gromox-mailq")).arg("-c").arg(&cfg).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Mail queue is empty\n");
}
