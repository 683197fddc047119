//! The runtime's promise (DESIGN.md §2), checked on a real daemon: 10,000 idle connections are
//! held by 8 worker threads (idle connections cost no thread), every one of them is still
//! served afterwards, and connection 10,001 beyond `context_num` is refused cleanly with the
//! protocol's own answer. eventd stands in for every daemon: they all run on the same runtime.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use gromox_testkit::{bin, Daemon, TestDir};

const CONNS: usize = 10_000;

fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn read_line(r: &mut BufReader<TcpStream>) -> String {
    let mut s = String::new();
    r.read_line(&mut s).unwrap();
    s.trim_end().to_string()
}

#[test]
fn ten_thousand_idle_connections_on_eight_workers() {
    let dir = TestDir::new();
    let cfg = dir.write_config(
        "event.cfg",
        &[
            ("event_listen", "127.0.0.1:0"),
            ("event_threads_num", "8"),
            ("context_num", &CONNS.to_string()),
            ("event_hosts_allow", "127.0.0.1"),
            ("eventd_log_level", "warn"),
        ],
    );
    let d = Daemon::start(&bin("eventd"), &["-c", cfg.to_str().unwrap()], dir.path()).unwrap();
    let addr = d.addr("event_listen");
    let pid = d.pid().unwrap();

    let mut conns = Vec::with_capacity(CONNS);
    for i in 0..CONNS {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        conns.push(BufReader::new(s));
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(read_line(c), "OK", "greeting on connection {i}");
    }
    let threads = threads_of(pid);
    assert!(
        (8..=16).contains(&threads),
        "eventd runs {threads} threads for {CONNS} idle connections; expected the 8 workers plus a few"
    );

    // Beyond context_num: the protocol's refusal, then the connection is closed.
    let extra = TcpStream::connect(addr).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut extra = BufReader::new(extra);
    assert_eq!(read_line(&mut extra), "FALSE Maximum number of connections reached");
    assert_eq!(read_line(&mut extra), "", "refused connection not closed");

    // Every parked connection is still served.
    for i in (0..CONNS).step_by(97).chain([CONNS - 1]) {
        conns[i].get_mut().write_all(b"PING\r\n").unwrap();
        assert_eq!(read_line(&mut conns[i]), "TRUE", "PING on connection {i}");
    }
    drop(conns);
}
