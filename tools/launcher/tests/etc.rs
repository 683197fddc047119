//! The sample configuration files in `etc/` are what the daemons print with
//! `--sample-config`, so every key is documented with its default. After changing keys,
//! regenerate them with `UPDATE_ETC=1 cargo test -p gromox-launcher --test etc`.

use std::path::Path;
use std::process::Command;

use gromox_testkit::bin_dir;

#[test]
fn etc_samples_document_every_key() {
    let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc");
    let update = std::env::var_os("UPDATE_ETC").is_some();
    let mut checked = 0;
    let mut stale = Vec::new();
    for (daemon, file) in gromox_launcher::DAEMONS {
        let bin = bin_dir().join(daemon);
        assert!(bin.is_file(), "{} missing: run `cargo test --workspace`", bin.display());
        let out = Command::new(&bin).arg("--sample-config").output().unwrap();
        assert!(out.status.success(), "{daemon} --sample-config failed");
        let want = String::from_utf8(out.stdout).unwrap();
        let path = etc.join(file);
        if update {
            std::fs::write(&path, &want).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
            stale.push(path.display().to_string());
        }
        checked += 1;
    }
    assert_eq!(checked, gromox_launcher::DAEMONS.len());
    assert!(
        stale.is_empty(),
        "out of date (regenerate with UPDATE_ETC=1 cargo test -p gromox-launcher --test etc): {stale:?}"
    );
}
