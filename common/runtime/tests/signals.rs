//! SIGHUP runs the reload hooks, SIGTERM drains a running server (own test binary, so the
//! process-wide signal handlers do not affect other tests).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn sighup_reloads_sigterm_drains() {
    let srv = start(base_config());
    let control = srv.control.clone();
    let reloads = Arc::new(AtomicUsize::new(0));
    let r2 = reloads.clone();
    control.on_reload(move || {
        r2.fetch_add(1, Ordering::SeqCst);
    });
    control.install_signal_handlers().unwrap();
    let mut c = connect(srv.addr("plain"));
    assert_eq!(c.line(), "* OK hello\r\n");

    signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
    let t = Instant::now();
    while reloads.load(Ordering::SeqCst) == 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "reload hook not run");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(control.take_reload());
    assert!(!control.take_reload());
    assert!(!control.is_shutdown());
    // still serving after a reload
    assert_eq!(c.cmd("ECHO after hup"), "after hup\r\n");

    signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
    // the idle client is disconnected and the server returns
    assert_eq!(c.rest(), "");
    let mut srv = srv;
    srv.join.take().unwrap().join().unwrap().unwrap();
    assert!(control.is_shutdown());
}
