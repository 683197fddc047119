//! Runs the seed corpus of every fuzz target in `fuzz/seeds/` through the same entry points
//! the fuzzers use, so the seeds are regression tests under `cargo test`.

use std::path::Path;

#[test]
fn command_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/command");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("seed directory") {
        let path = entry.expect("seed entry").path();
        eventd::fuzzing::command(&std::fs::read(&path).expect("seed file"));
        n += 1;
    }
    assert!(n >= 5, "seeds missing in {}", dir.display());
}
