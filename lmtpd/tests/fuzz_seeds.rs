//! Runs the seed corpus of every fuzz target in `fuzz/seeds/` through the same entry points
//! the fuzzers use, so the seeds are regression tests under `cargo test`.

use std::path::Path;

fn run(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("seed directory") {
        let path = entry.expect("seed entry").path();
        f(&std::fs::read(&path).expect("seed file"));
        n += 1;
    }
    assert!(n >= 5, "seeds missing in {}", dir.display());
}

#[test]
fn command_seeds() {
    run("command", lmtpd::fuzzing::command);
}

#[test]
fn session_seeds() {
    run("session", lmtpd::fuzzing::session);
    // The fuzz entry point keeps its spool and file drop in a per-process scratch directory.
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("lmtpd-fuzz-{}", std::process::id())));
}

#[test]
fn spool_header_seeds() {
    run("spool_header", lmtpd::fuzzing::spool_header);
}
