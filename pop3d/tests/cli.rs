//! The command line every daemon shares, on pop3d: `--help` lists the keys with defaults, a bad
//! value stops it with exit status 2 naming file, line and key, and it announces readiness,
//! reloads on SIGHUP and stops cleanly on SIGTERM.

use std::process::Command;
use std::time::Duration;

use gromox_testkit::{Daemon, TestDir};

const BIN: &str = env!("CARGO_BIN_EXE_pop3d");

#[test]
fn help_lists_keys_with_defaults() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pop3d_log_level [info] (SIGHUP)"), "{text}");
    assert!(text.contains("state_path [/var/lib/gromox]"), "{text}");
}

#[test]
fn bad_value_names_file_line_and_key() {
    let dir = TestDir::new();
    let cfg = dir.write_config("pop3.cfg", &[("# a comment", "x"), ("pop3d_log_level", "loud")]);
    let out = Command::new(BIN).arg("-c").arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:2: key \"pop3d_log_level\": \"loud\" is not a log level",
            cfg.display()
        )),
        "{err}"
    );
}

#[test]
fn starts_reloads_and_stops() {
    let dir = TestDir::new();
    let log = dir.path().join("pop3d.log");
    let cfg = dir.write_config(
        "pop3.cfg",
        &[
            ("pop3d_log_file", log.to_str().unwrap()),
            ("pop3_listen", "127.0.0.1:0"),
        ],
    );
    let mut d = Daemon::start(std::path::Path::new(BIN), &["-c", cfg.to_str().unwrap()], dir.path()).unwrap();
    d.signal(libc::SIGHUP);
    assert!(gromox_testkit::wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("configuration reloaded")
    }));
    let status = d.terminate(Duration::from_secs(10)).expect("did not stop on SIGTERM");
    assert!(status.success());
    assert!(std::fs::read_to_string(&log).unwrap().contains("stopped"));
}
