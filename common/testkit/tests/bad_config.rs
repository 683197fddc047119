//! A bad configuration stops a daemon at start with exit status 2 and a message naming the
//! file, the line and the key (the foundation's promise), for the three classic mistakes:
//! an unknown duration unit, a port out of range, an unreadable certificate.

use std::process::Command;

use gromox_testkit::{bin, TestDir};

fn start_fails(daemon: &str, file: &str, text: &str) -> String {
    let dir = TestDir::new();
    let cfg = dir.path().join(file);
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(bin(daemon)).arg("-c").arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{daemon} did not exit with status 2");
    String::from_utf8_lossy(&out.stderr).replace(&cfg.display().to_string(), file)
}

#[test]
fn unknown_duration_unit() {
    for (daemon, file, key) in [
        ("eventd", "event.cfg", "event_conn_timeout"),
        ("timerd", "timer.cfg", "timer_conn_timeout"),
    ] {
        let err = start_fails(daemon, file, &format!("# a comment\n{key} = 5 fortnights\n"));
        assert!(
            err.contains(&format!(
                "{file}:2: key \"{key}\": unknown duration unit \"fortnights\""
            )),
            "{err}"
        );
    }
}

#[test]
fn port_out_of_range() {
    let err = start_fails("eventd", "event.cfg", "event_listen = 127.0.0.1:65536\n");
    assert!(
        err.contains("event.cfg:1: key \"event_listen\": port 65536 out of range"),
        "{err}"
    );
}

#[test]
fn unreadable_certificate() {
    let err = start_fails(
        "eventd",
        "event.cfg",
        "event_listen = 127.0.0.1:0\nevent_listen_tls = 127.0.0.1:0\nevent_certificate_path = /nonexistent/cert.pem\nevent_private_key_path = /nonexistent/key.pem\n",
    );
    assert!(err.contains("event.cfg:3: key \"event_certificate_path\""), "{err}");
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
}
