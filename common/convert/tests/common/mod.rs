//! Golden-file comparison shared by the integration tests. Set
//! `UPDATE_GOLDEN=1` to rewrite the golden files deliberately.

use std::path::Path;

pub fn check(golden: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(golden, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(golden)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create)", golden.display()));
    if expected != actual {
        let (mut line, mut el, mut al) = (0, "", "");
        for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
            if e != a {
                (line, el, al) = (i + 1, e, a);
                break;
            }
        }
        panic!(
            "{} differs at line {line}:\n expected: {el}\n actual:   {al}\n(UPDATE_GOLDEN=1 regenerates)",
            golden.display()
        );
    }
}
