//! Runs the seed corpus of every fuzz target in `fuzz/seeds/` through the same entry points
//! the fuzzers use, so the seeds are regression tests under `cargo test`.

use std::path::Path;

fn run(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        f(&data);
        n += 1;
    }
    assert!(n >= 5, "seeds missing in {}", dir.display());
}

#[test]
fn request_seeds() {
    run("request", midbd::codec::fuzz_request);
}

#[test]
fn answer_seeds() {
    run("answer", midbd::codec::fuzz_answer);
}
