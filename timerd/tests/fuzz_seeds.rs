//! Runs the seed corpus of every fuzz target in `fuzz/seeds/` through the same entry points
//! the fuzzers use, so the seeds are regression tests under `cargo test`.

use std::path::Path;

fn run_seeds(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("seed directory") {
        let path = entry.expect("seed entry").path();
        f(&std::fs::read(&path).expect("seed file"));
        n += 1;
    }
    assert!(n >= 3, "seeds missing in {}", dir.display());
}

#[test]
fn command_seeds() {
    run_seeds("command", timerd::fuzzing::command);
}

#[test]
fn journal_seeds() {
    run_seeds("journal", timerd::fuzzing::journal);
}
