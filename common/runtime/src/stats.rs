//! Runtime counters, readable while the server runs, rendered in the Prometheus text
//! exposition format (version 0.0.4) and exported to a file that httpd's `/metrics` serves.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub open: AtomicU64,
    pub accepted_total: AtomicU64,
    pub refused_total: AtomicU64,
    pub closed_total: AtomicU64,
    pub busy_workers: AtomicU64,
    pub queue_len: AtomicU64,
    pub timed_out_total: AtomicU64,
    pub tls_failed_total: AtomicU64,
    pub proxy_failed_total: AtomicU64,
    pub input_overflow_total: AtomicU64,
    pub pushed_total: AtomicU64,
}

/// A snapshot of the runtime counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Connections open now.
    pub open: u64,
    /// Connections accepted since start (refused ones included).
    pub accepted_total: u64,
    /// Connections refused because `context_num` were open.
    pub refused_total: u64,
    /// Connections closed since start (refused ones excluded).
    pub closed_total: u64,
    /// Worker threads running a session now.
    pub busy_workers: u64,
    /// Connections waiting for a worker.
    pub queue_len: u64,
    /// Idle timeouts and session limits that fired.
    pub timed_out_total: u64,
    /// TLS handshakes or records that failed.
    pub tls_failed_total: u64,
    /// Missing or malformed PROXY headers.
    pub proxy_failed_total: u64,
    /// Connections closed for exceeding `max_input`.
    pub input_overflow_total: u64,
    /// Messages delivered through [`crate::ConnHandle::push`].
    pub pushed_total: u64,
}

/// Cloneable, thread-safe view of a server's counters.
#[derive(Clone, Debug, Default)]
pub struct StatsHandle(pub(crate) Arc<Counters>);

impl StatsHandle {
    /// Read all counters.
    pub fn snapshot(&self) -> RuntimeStats {
        let c = &self.0;
        RuntimeStats {
            open: c.open.load(Relaxed),
            accepted_total: c.accepted_total.load(Relaxed),
            refused_total: c.refused_total.load(Relaxed),
            closed_total: c.closed_total.load(Relaxed),
            busy_workers: c.busy_workers.load(Relaxed),
            queue_len: c.queue_len.load(Relaxed),
            timed_out_total: c.timed_out_total.load(Relaxed),
            tls_failed_total: c.tls_failed_total.load(Relaxed),
            proxy_failed_total: c.proxy_failed_total.load(Relaxed),
            input_overflow_total: c.input_overflow_total.load(Relaxed),
            pushed_total: c.pushed_total.load(Relaxed),
        }
    }
}

impl RuntimeStats {
    /// Append the counters as Prometheus text, metric names starting with `prefix`
    /// (e.g. `gromox_imap`).
    pub fn render_prometheus(&self, prefix: &str, out: &mut String) {
        use std::fmt::Write as _;
        let p = prefix;
        for (name, kind, help, v) in [
            ("connections_open", "gauge", "connections open now", self.open),
            (
                "connections_accepted_total",
                "counter",
                "connections accepted",
                self.accepted_total,
            ),
            (
                "connections_refused_total",
                "counter",
                "connections refused at context_num",
                self.refused_total,
            ),
            (
                "workers_busy",
                "gauge",
                "worker threads running a session",
                self.busy_workers,
            ),
            (
                "queue_length",
                "gauge",
                "connections waiting for a worker",
                self.queue_len,
            ),
            (
                "timeouts_total",
                "counter",
                "idle timeouts and session limits",
                self.timed_out_total,
            ),
            (
                "tls_failures_total",
                "counter",
                "failed TLS handshakes or records",
                self.tls_failed_total,
            ),
            (
                "input_overflows_total",
                "counter",
                "connections closed for oversized input",
                self.input_overflow_total,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {p}_{name} {help}\n# TYPE {p}_{name} {kind}\n{p}_{name} {v}"
            );
        }
    }
}

/// Where a daemon exports its counters: written every `interval` to `path` (by temporary file
/// and rename, so a reader never sees half a file), removed when the server stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsExport {
    /// The `.prom` file, normally `<state_path>/run/metrics/<prefix>.prom`.
    pub path: std::path::PathBuf,
    /// Metric name prefix, e.g. `gromox_imap`.
    pub prefix: String,
    /// Write interval.
    pub interval: std::time::Duration,
}

impl MetricsExport {
    /// The file's contents now: the counters plus the export time, so a scraper can tell a
    /// stale file (a daemon killed without cleaning up) from a live one.
    pub fn render(&self, stats: &RuntimeStats) -> String {
        let mut s = String::new();
        stats.render_prometheus(&self.prefix, &mut s);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let p = &self.prefix;
        s.push_str(&format!(
            "# HELP {p}_metrics_timestamp_seconds when this daemon last wrote its counters\n# TYPE {p}_metrics_timestamp_seconds gauge\n{p}_metrics_timestamp_seconds {now}\n"
        ));
        s
    }

    /// Write the file once.
    pub fn write(&self, stats: &RuntimeStats) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("prom.tmp");
        std::fs::write(&tmp, self.render(stats))?;
        std::fs::rename(&tmp, &self.path)
    }

    /// Export `stats` until `stop` is dropped or sent to, then remove the file.
    pub(crate) fn run(&self, stats: StatsHandle, stop: crossbeam_channel::Receiver<()>, log: slog::Logger) {
        let mut warned = false;
        loop {
            match self.write(&stats.snapshot()) {
                Ok(()) => warned = false,
                Err(e) if !warned => {
                    slog::warn!(log, "cannot write the metrics file"; "event" => "metrics.write_failed",
                        "path" => self.path.display().to_string(), "error" => e.to_string());
                    warned = true;
                }
                Err(_) => {}
            }
            match stop.recv_timeout(self.interval) {
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                _ => break,
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_file_holds_the_counters_and_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetricsExport {
            path: dir.path().join("run/metrics/t.prom"),
            prefix: "gromox_t".into(),
            interval: std::time::Duration::from_millis(20),
        };
        let h = StatsHandle::default();
        h.0.open.store(3, Relaxed);
        h.0.refused_total.store(2, Relaxed);
        let (tx, rx) = crossbeam_channel::bounded(1);
        let m2 = m.clone();
        let t = std::thread::spawn(move || m2.run(h, rx, slog::Logger::root(slog::Discard, slog::o!())));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let text = loop {
            if let Ok(t) = std::fs::read_to_string(&m.path) {
                break t;
            }
            assert!(std::time::Instant::now() < deadline, "no metrics file");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(text.contains("gromox_t_connections_open 3\n"), "{text}");
        assert!(text.contains("gromox_t_connections_refused_total 2\n"), "{text}");
        assert!(
            text.contains("# TYPE gromox_t_metrics_timestamp_seconds gauge"),
            "{text}"
        );
        drop(tx);
        t.join().unwrap();
        assert!(!m.path.exists(), "the file is removed when the server stops");
    }
}
