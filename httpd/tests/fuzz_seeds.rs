//! Every fuzz seed (`fuzz/seeds/<target>/`) runs through the same function as its fuzz target.

fn run(target: &str, f: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        f(&std::fs::read(&p).unwrap());
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}

#[test]
fn request_seeds() {
    run("request", httpd::fuzzing::request);
}

#[test]
fn chunked_seeds() {
    run("chunked", httpd::fuzzing::chunked);
}

#[test]
fn pox_seeds() {
    run("pox", httpd::fuzzing::pox);
}

#[test]
fn fcgi_seeds() {
    run("fcgi", httpd::fuzzing::fcgi);
}

#[test]
fn session_seeds() {
    run("session", httpd::fuzzing::session);
}
