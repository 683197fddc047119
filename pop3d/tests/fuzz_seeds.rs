//! Run every fuzz seed through the fuzz targets' functions.

use std::path::Path;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    assert!(v.len() >= 4, "seeds missing in {}", dir.display());
    v
}

#[test]
fn command_seeds() {
    for (name, data) in seeds("command") {
        let n = pop3d::fuzzing::command(&data);
        let lines = data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
        // The `errors` seed holds only malformed lines; every line of the others is valid.
        if name.ends_with("errors") {
            assert_eq!(n, 0, "{name}");
        } else {
            assert_eq!(n, lines, "{name}");
        }
    }
}

#[test]
fn session_seeds() {
    for (name, data) in seeds("session") {
        let n = pop3d::fuzzing::session(&data);
        // Each seed logs in and retrieves something: far more than the greeting.
        assert!(n > 150, "{name}: session wrote only {n} bytes");
    }
}
