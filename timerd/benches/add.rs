//! Cost of a durable `ADD` (journal append + fdatasync) and of reloading a large state file.
//!
//! `cargo bench -p timerd --bench add` (env `ADDS`; `BENCH_DIR` to measure another file system
//! than the temporary directory's).

use std::time::Instant;

use timerd::Timers;

fn main() {
    let adds: usize = std::env::var("ADDS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let base = std::env::var_os("BENCH_DIR").map(std::path::PathBuf::from);
    let dir = match &base {
        Some(b) => tempfile::tempdir_in(b),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    let path = dir.path().join("timer.txt");
    let log = gromox_base::log::discard();
    let timers = Timers::open(&path, log.clone()).expect("open");
    let start = Instant::now();
    for i in 0..adds {
        timers.add(86_400, &format!("echo timer {i}")).expect("add");
    }
    let t = start.elapsed();
    println!(
        "timerd ADD: {adds} durable adds in {:.3}s = {:.0} µs/add",
        t.as_secs_f64(),
        t.as_secs_f64() * 1e6 / adds as f64
    );
    drop(timers);
    let start = Instant::now();
    let again = Timers::open(&path, log).expect("reopen");
    println!(
        "timerd open: {} pending timers loaded and compacted in {:.1} ms",
        again.pending(),
        start.elapsed().as_secs_f64() * 1e3
    );
}
