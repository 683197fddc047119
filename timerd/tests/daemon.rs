//! timerd over real TCP: the real binary on 127.0.0.1, port 0, temporary state.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gromox_clients::timer::TimerClient;
use gromox_testkit::{wait_until, Daemon, LineClient, TestDir};

fn start(dir: &TestDir, extra: &[(&str, &str)]) -> Daemon {
    let dirs = dir.path().display().to_string();
    let mut keys = vec![
        ("config_file_path", dirs.as_str()),
        ("state_path", dirs.as_str()),
        ("timer_listen", "127.0.0.1:0"),
        ("timer_hosts_allow", "127.0.0.1"),
        ("timerd_log_level", "debug"),
    ];
    keys.extend_from_slice(extra);
    let cfg = dir.write_config("timer.cfg", &keys);
    Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_timerd")),
        &["-c", cfg.to_str().unwrap()],
        dir.path(),
    )
    .expect("timerd starts")
}

fn greet(d: &Daemon) -> LineClient {
    let mut c = LineClient::connect(d.addr("timer_listen")).unwrap();
    assert_eq!(c.read_line().unwrap().as_deref(), Some("OK"));
    c
}

fn id_of(reply: &str) -> u64 {
    reply
        .strip_prefix("TRUE ")
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("not TRUE <id>: {reply:?}"))
}

fn file(dir: &TestDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn add_fires_and_cancel_prevents() {
    let dir = TestDir::new();
    let d = start(&dir, &[]);
    let mut c = greet(&d);
    let fired = file(&dir, "fired");
    let cancelled = file(&dir, "cancelled");
    let added = std::time::Instant::now();
    let a = id_of(&c.cmd(&format!("ADD 2 touch {}", fired.display())).unwrap());
    let b = id_of(&c.cmd(&format!("ADD 2 touch {}", cancelled.display())).unwrap());
    assert_ne!(a, b);
    assert_eq!(c.cmd(&format!("CANCEL {b}")).unwrap(), "TRUE");
    assert_eq!(c.cmd(&format!("CANCEL {b}")).unwrap(), "FALSE");
    // Not early (checked only while that is certain, the machine may be slow).
    if added.elapsed() < Duration::from_millis(1500) {
        assert!(!fired.exists(), "must not fire at once");
    }
    assert!(wait_until(Duration::from_secs(30), || fired.exists()), "timer fired");
    // The cancelled one was due at the same time; give it more than enough time.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!cancelled.exists(), "cancelled timer must not run");
    assert_eq!(c.cmd(&format!("CANCEL {a}")).unwrap(), "FALSE", "already run");
    assert!(wait_until(Duration::from_secs(5), || d.output().contains("timer.exec")));
}

#[test]
fn bad_input_and_acl() {
    let dir = TestDir::new();
    let d = start(&dir, &[]);
    let mut c = greet(&d);
    assert_eq!(c.cmd("PING").unwrap(), "TRUE");
    assert_eq!(c.cmd("HELLO").unwrap(), "FALSE");
    assert_eq!(c.cmd("ADD soon touch /tmp/x").unwrap(), "FALSE");
    assert_eq!(c.cmd("ADD 0 true").unwrap(), "FALSE");
    assert_eq!(c.cmd("CANCEL x").unwrap(), "FALSE");
    assert_eq!(c.cmd(&format!("ADD 1 {}", "y".repeat(50_000))).unwrap(), "FALSE");
    assert_eq!(c.cmd("PING").unwrap(), "TRUE");
    assert_eq!(c.cmd("QUIT").unwrap(), "BYE");
    assert_eq!(c.read_line().unwrap(), None);
    drop(d);

    let dir = TestDir::new();
    let d = start(&dir, &[("timer_hosts_allow", "127.0.0.2")]);
    let mut c = LineClient::connect(d.addr("timer_listen")).unwrap();
    assert_eq!(c.read_line().unwrap().as_deref(), Some("FALSE Access denied"));
    assert_eq!(c.read_line().unwrap(), None);
}

#[test]
fn timers_survive_sigkill() {
    let dir = TestDir::new();
    let mut d = start(&dir, &[]);
    let mut c = greet(&d);
    let later = file(&dir, "later");
    let overdue = file(&dir, "overdue");
    let added = std::time::Instant::now();
    let first = id_of(&c.cmd(&format!("ADD 3 touch {}", overdue.display())).unwrap());
    let second = id_of(&c.cmd(&format!("ADD 6 touch {}", later.display())).unwrap());
    drop(c);
    d.kill();
    let killed_in_time = added.elapsed() < Duration::from_millis(2500);
    // Stay down past the first timer's due time: it is overdue at restart and runs at once.
    std::thread::sleep(Duration::from_secs(4));
    if killed_in_time {
        assert!(!overdue.exists(), "killed before it was due");
    }
    d.restart().expect("timerd restarts");
    assert!(
        wait_until(Duration::from_secs(10), || overdue.exists()),
        "overdue timer ran after restart"
    );
    assert!(
        wait_until(Duration::from_secs(30), || later.exists()),
        "pending timer ran after restart"
    );
    // Ids stay unique across restarts.
    let mut c = greet(&d);
    let third = id_of(&c.cmd("ADD 100 true").unwrap());
    assert!(third > first && third > second, "{third} after {first}, {second}");
    // An orderly stop keeps pending timers too.
    drop(c);
    let status = d.terminate(Duration::from_secs(20)).expect("exits on SIGTERM");
    assert!(status.success(), "{status}");
    d.restart().expect("timerd restarts");
    let mut c = greet(&d);
    assert_eq!(
        c.cmd(&format!("CANCEL {third}")).unwrap(),
        "TRUE",
        "pending after SIGTERM and restart"
    );
}

#[test]
fn state_file_key_and_client_library() {
    let dir = TestDir::new();
    let state = file(&dir, "custom/timers.txt");
    let state_s = state.display().to_string();
    let d = start(&dir, &[("timer_state_file", state_s.as_str())]);
    let mut tc = TimerClient::connect(d.addr("timer_listen"), Duration::from_secs(5)).unwrap();
    tc.ping().unwrap();
    let flag = file(&dir, "from-client");
    let id = tc.add(1, &format!("echo done > {}", flag.display())).unwrap();
    let other = tc.add(3600, "true").unwrap();
    assert!(std::fs::read_to_string(&state).unwrap().contains(&format!("{other}\t")));
    assert!(tc.cancel(other).unwrap());
    assert!(!tc.cancel(other).unwrap());
    assert!(wait_until(Duration::from_secs(30), || std::fs::read_to_string(&flag)
        .is_ok_and(|s| s == "done\n")));
    assert!(!tc.cancel(id).unwrap());
    assert!(tc.add(1, "two\nlines").is_err());
}

#[test]
fn client_reconnects_after_restart() {
    // A fixed port, so the restarted daemon is found at the same address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let dir = TestDir::new();
    let mut d = start(&dir, &[("timer_listen", listen.as_str())]);
    let mut tc = TimerClient::connect(d.addr("timer_listen"), Duration::from_secs(5)).unwrap();
    let before = tc.add(3600, "true").unwrap();
    d.restart().expect("timerd restarts");
    // The old connection died with the old process; the client notices and reconnects.
    let after = tc.add(3600, "true").unwrap();
    assert!(after > before);
    assert!(
        tc.cancel(before).unwrap(),
        "the timer added before the restart is still pending"
    );
}

#[test]
fn no_acknowledged_timer_is_lost_on_sigkill() {
    let dir = TestDir::new();
    let mut d = start(&dir, &[("timerd_log_level", "warn")]);
    let addr = d.addr("timer_listen");
    // A client adding timers as fast as it can while the daemon is killed under it.
    let adder = std::thread::spawn(move || {
        let mut acked = Vec::new();
        let Ok(mut c) = LineClient::connect(addr) else {
            return acked;
        };
        if c.read_line().ok().flatten().as_deref() != Some("OK") {
            return acked;
        }
        for i in 0..100_000 {
            match c.cmd(&format!("ADD 3600 echo {i}")) {
                Ok(r) if r.starts_with("TRUE ") => acked.push(id_of(&r)),
                _ => break,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(400));
    d.kill();
    let acked = adder.join().unwrap();
    assert!(
        acked.len() > 10,
        "only {} timers were added before the kill",
        acked.len()
    );
    d.restart().expect("timerd restarts");
    let mut c = greet(&d);
    for id in &acked {
        assert_eq!(
            c.cmd(&format!("CANCEL {id}")).unwrap(),
            "TRUE",
            "acknowledged timer {id} lost"
        );
    }
}
