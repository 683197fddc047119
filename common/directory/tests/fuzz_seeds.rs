//! Every fuzz seed runs through the same entry points as the fuzz targets.

use std::path::Path;

fn run(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        f(&data);
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}

#[test]
fn ldap_message_seeds() {
    run("ldap_message", gromox_directory::fuzzing::ldap_message);
    let ok = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/ldap_message/entry.ber")).unwrap();
    assert_eq!(
        gromox_directory::ldap::parse_message(&ok).unwrap(),
        (
            3,
            gromox_directory::ldap::Response::Entry("uid=lu,ou=people,dc=example,dc=org".into())
        )
    );
}

#[test]
fn crypt_verify_seeds() {
    run("crypt_verify", gromox_directory::fuzzing::crypt_verify);
}
