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
    let mut parsed = 0;
    for (name, data) in seeds("command") {
        let n = imapd::fuzzing::command(&data);
        eprintln!("{name}: {n} commands parsed");
        parsed += n;
    }
    // Most seeds are valid commands: the parser must accept them.
    assert!(parsed >= 15, "only {parsed} commands parsed");
}

#[test]
fn session_seeds() {
    for (name, data) in seeds("session") {
        let n = imapd::fuzzing::session(&data);
        assert!(n > 100, "{name}: session wrote only {n} bytes");
    }
}

#[test]
fn mime_seeds() {
    for (name, data) in seeds("mime") {
        let n = imapd::fuzzing::mime(&data);
        assert!(n > 50, "{name}: only {n} bytes decoded");
        for cut in (0..data.len()).step_by(7) {
            imapd::fuzzing::mime(&data[..cut]);
        }
        for i in (0..data.len()).step_by(3) {
            let mut d = data.clone();
            d[i] ^= 0x21;
            imapd::fuzzing::mime(&d);
        }
    }
}

#[test]
fn truncations_and_byte_flips_of_seeds_do_not_panic() {
    for (_, data) in seeds("command") {
        for cut in 0..data.len() {
            imapd::fuzzing::command(&data[..cut]);
        }
        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 0x5a;
            imapd::fuzzing::command(&d);
        }
    }
    for (_, data) in seeds("session") {
        for i in (0..data.len()).step_by(3) {
            let mut d = data.clone();
            d[i] = d[i].wrapping_add(1);
            imapd::fuzzing::session(&d);
        }
    }
}
