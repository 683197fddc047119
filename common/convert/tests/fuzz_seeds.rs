//! Runs every fuzz seed (`fuzz/seeds/<target>/*`) through the function its
//! fuzz target calls, so the seeds are exercised by `cargo test`.

use std::path::Path;

fn run(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        f(&std::fs::read(&p).unwrap());
        n += 1;
    }
    assert!(n > 0, "no seeds for {target}");
}

#[test]
fn rtfcp_seeds() {
    run("rtfcp", gromox_convert::fuzzing::rtfcp);
}

#[test]
fn rtf_seeds() {
    run("rtf", gromox_convert::fuzzing::rtf);
}

#[test]
fn html_seeds() {
    run("html", gromox_convert::fuzzing::html);
}

#[test]
fn tnef_seeds() {
    run("tnef", gromox_convert::fuzzing::tnef);
}

#[test]
fn mime_seeds() {
    run("mime", gromox_convert::fuzzing::mime);
}

#[test]
fn ical_seeds() {
    run("ical", gromox_convert::fuzzing::ical);
}

#[test]
fn vcard_seeds() {
    run("vcard", gromox_convert::fuzzing::vcard);
}

#[test]
fn entryid_seeds() {
    run("entryid", gromox_convert::fuzzing::entryid);
}

#[test]
fn recur_seeds() {
    run("recur", gromox_convert::fuzzing::recur);
}
