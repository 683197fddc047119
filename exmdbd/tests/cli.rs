//! The tool front ends as an operator uses them.

use exmdbd::cli::{mbck_main, mkprivate_main, mkpublic_main};
use std::process::ExitCode;

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn mkprivate_mkpublic_mbck() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().to_str().unwrap();
    assert_eq!(
        mkprivate_main(args(&["p", "--state", s, "-l", "de", "Alice@Example.org"])),
        ExitCode::SUCCESS
    );
    let dir = t.path().join("user/example.org/alice");
    let st = exmdbd::Store::open(&dir, &Default::default()).unwrap();
    assert_eq!(
        st.list_folders().unwrap().iter().find(|f| f.id == 0x0d).unwrap().name,
        "Posteingang"
    );
    drop(st);
    // Existing store: refused without -f, recreated with it.
    assert_eq!(
        mkprivate_main(args(&["p", "--state", s, "alice@example.org"])),
        ExitCode::FAILURE
    );
    assert_eq!(
        mkprivate_main(args(&["p", "--state", s, "-f", "alice@example.org"])),
        ExitCode::SUCCESS
    );
    assert_eq!(
        mkprivate_main(args(&["p", "--state", s, "-U", "alice@example.org"])),
        ExitCode::SUCCESS
    );
    // Names that would escape the state directory are refused before any path is built.
    for bad in ["../../etc@example.org", "a/b@example.org", "x@../..", "a\u{1}@x.org"] {
        assert_eq!(
            mkprivate_main(args(&["p", "--state", s, bad])),
            ExitCode::FAILURE,
            "{bad}"
        );
    }
    assert!(!t.path().join("etc").exists());
    assert_eq!(
        mkpublic_main(args(&["p", "--state", s, "example.org"])),
        ExitCode::SUCCESS
    );
    assert!(t.path().join("domain/example.org/exmdb/exchange.sqlite3").exists());
    assert_eq!(
        mbck_main(args(&["m", "--state", s, "alice@example.org"])),
        ExitCode::SUCCESS
    );
    assert_eq!(mbck_main(args(&["m", dir.to_str().unwrap()])), ExitCode::SUCCESS);
    std::fs::write(dir.join("exmdb/exchange.sqlite3"), b"garbage").unwrap();
    let _ = std::fs::remove_file(dir.join("exmdb/exchange.sqlite3-wal"));
    assert_eq!(mbck_main(args(&["m", dir.to_str().unwrap()])), ExitCode::FAILURE);
}
