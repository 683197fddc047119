//! Per-daemon metrics in the Prometheus text exposition format (version 0.0.4).
//!
//! Every server has a [`Registry`] (`ServerConfig::registry`, named `gromox_<prefix>` by
//! `settings::server_config`): the runtime's connection and worker counters are attached when
//! the server binds, and the protocol records one sample per command (or endpoint) with its
//! outcome and duration, plus authentication failures. [`MetricsExport`] writes the registry
//! every `metrics_interval` to `<state_path>/run/metrics/<prefix>.prom`; httpd's `/metrics`
//! serves its own registry followed by those files. So operators see, for every daemon:
//! connections open/refused, worker pool size and busy count, the queue waiting for a worker,
//! requests and latency histograms per command, authentication failures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::StatsHandle;

/// Latency histogram bucket bounds, seconds.
pub const BUCKETS: [f64; 11] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default, Clone)]
struct Hist {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The metrics of one daemon. Cheap to record into from any worker.
pub struct Registry {
    prefix: String,
    /// Label names of [`Registry::request`]: what was asked, and how it ended.
    labels: (&'static str, &'static str),
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    latency: Mutex<BTreeMap<&'static str, Hist>>,
    auth_failures: AtomicU64,
    runtime: OnceLock<(StatsHandle, usize)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain counters under the lock; a poisoned lock still holds usable numbers.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new("gromox")
    }
}

impl Registry {
    /// A registry whose metric names start with `prefix` (e.g. `gromox_imap`); requests are
    /// labelled `command` and `status`.
    pub fn new(prefix: &str) -> Self {
        Registry::with_labels(prefix, "command", "status")
    }

    /// Like [`Registry::new`] with other label names (httpd: `endpoint`, `code`).
    pub fn with_labels(prefix: &str, what: &'static str, outcome: &'static str) -> Self {
        Registry {
            prefix: prefix.to_string(),
            labels: (what, outcome),
            requests: Mutex::default(),
            latency: Mutex::default(),
            auth_failures: AtomicU64::new(0),
            runtime: OnceLock::new(),
        }
    }

    /// The metric name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Attach the runtime's counters and the worker pool size (done by `Server::bind`; the
    /// first call wins).
    pub fn set_runtime(&self, stats: StatsHandle, workers: usize) {
        let _ = self.runtime.set((stats, workers));
    }

    /// Count one request: `what` was asked (a command or endpoint name), `outcome` says how it
    /// ended (`OK`, `NO`, `BAD`, a status code …), `took` is the time to answer it.
    pub fn request(&self, what: &'static str, outcome: &'static str, took: Duration) {
        *lock(&self.requests).entry((what, outcome)).or_default() += 1;
        let secs = took.as_secs_f64();
        let mut l = lock(&self.latency);
        let h = l.entry(what).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Count one rejected authentication.
    pub fn auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Rejected authentications so far.
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures.load(Ordering::Relaxed)
    }

    /// Render everything.
    pub fn render(&self) -> String {
        let p = &self.prefix;
        let (what, outcome) = self.labels;
        let mut s = String::new();
        if let Some((rt, workers)) = self.runtime.get() {
            rt.snapshot().render_prometheus(p, &mut s);
            let _ = writeln!(
                s,
                "# HELP {p}_workers worker threads in the pool\n# TYPE {p}_workers gauge\n{p}_workers {workers}"
            );
        }
        let _ = writeln!(
            s,
            "# HELP {p}_auth_failures_total rejected authentications\n# TYPE {p}_auth_failures_total counter\n{p}_auth_failures_total {}",
            self.auth_failures()
        );
        let _ = writeln!(
            s,
            "# HELP {p}_requests_total requests by {what} and {outcome}\n# TYPE {p}_requests_total counter"
        );
        for ((w, o), n) in lock(&self.requests).iter() {
            let _ = writeln!(s, "{p}_requests_total{{{what}=\"{w}\",{outcome}=\"{o}\"}} {n}");
        }
        let _ = writeln!(
            s,
            "# HELP {p}_request_duration_seconds time to answer a request\n# TYPE {p}_request_duration_seconds histogram"
        );
        for (w, h) in lock(&self.latency).iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "{p}_request_duration_seconds_bucket{{{what}=\"{w}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                s,
                "{p}_request_duration_seconds_bucket{{{what}=\"{w}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(s, "{p}_request_duration_seconds_sum{{{what}=\"{w}\"}} {}", h.sum);
            let _ = writeln!(s, "{p}_request_duration_seconds_count{{{what}=\"{w}\"}} {}", h.count);
        }
        s
    }
}

/// A label from the first word of `line` when it is one of `known` (compared
/// case-insensitively; the `known` spelling is returned), else `"other"` — so a client cannot
/// create label values at will.
pub fn word_label(line: &[u8], known: &[&'static str]) -> &'static str {
    let end = line.iter().position(|b| b.is_ascii_whitespace()).unwrap_or(line.len());
    let word = &line[..end];
    known
        .iter()
        .find(|k| k.as_bytes().eq_ignore_ascii_case(word))
        .copied()
        .unwrap_or("other")
}

/// A status code as a label value without allocating per request (`"200"`, `"404"` …).
pub fn code_label(code: u16) -> &'static str {
    static CODES: OnceLock<Vec<&'static str>> = OnceLock::new();
    let table = CODES.get_or_init(|| {
        (100u16..600)
            .map(|c| &*Box::leak(c.to_string().into_boxed_str()))
            .collect()
    });
    match code {
        100..=599 => table[usize::from(code - 100)],
        _ => "other",
    }
}

/// Where a daemon exports its registry: written every `interval` to `path` (by temporary file
/// and rename, so a reader never sees half a file), removed when the server stops.
#[derive(Clone)]
pub struct MetricsExport {
    /// The `.prom` file, normally `<state_path>/run/metrics/<prefix>.prom`.
    pub path: PathBuf,
    /// Write interval.
    pub interval: Duration,
}

impl MetricsExport {
    /// The file's contents now: the registry plus the export time, so a scraper can tell a
    /// stale file (a daemon killed without cleaning up) from a live one.
    pub fn render(&self, registry: &Registry) -> String {
        let mut s = registry.render();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let p = registry.prefix();
        let _ = writeln!(
            s,
            "# HELP {p}_metrics_timestamp_seconds when this daemon last wrote its metrics\n# TYPE {p}_metrics_timestamp_seconds gauge\n{p}_metrics_timestamp_seconds {now}"
        );
        s
    }

    /// Write the file once.
    pub fn write(&self, registry: &Registry) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("prom.tmp");
        std::fs::write(&tmp, self.render(registry))?;
        std::fs::rename(&tmp, &self.path)
    }

    /// Export until `stop` is dropped or sent to, then remove the file.
    pub(crate) fn run(&self, registry: Arc<Registry>, stop: crossbeam_channel::Receiver<()>, log: slog::Logger) {
        let mut warned = false;
        loop {
            match self.write(&registry) {
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
    fn renders_requests_histograms_and_runtime() {
        let m = Registry::with_labels("t", "endpoint", "code");
        m.request("static", code_label(200), Duration::from_micros(700));
        m.request("static", code_label(404), Duration::from_millis(30));
        m.auth_failure();
        let stats = StatsHandle::default();
        stats.0.open.store(3, Ordering::Relaxed);
        m.set_runtime(stats, 8);
        let s = m.render();
        assert!(
            s.contains("t_requests_total{endpoint=\"static\",code=\"200\"} 1"),
            "{s}"
        );
        assert!(
            s.contains("t_request_duration_seconds_bucket{endpoint=\"static\",le=\"0.001\"} 1"),
            "{s}"
        );
        assert!(
            s.contains("t_request_duration_seconds_bucket{endpoint=\"static\",le=\"0.05\"} 2"),
            "{s}"
        );
        assert!(
            s.contains("t_request_duration_seconds_count{endpoint=\"static\"} 2"),
            "{s}"
        );
        assert!(s.contains("t_auth_failures_total 1"), "{s}");
        assert!(s.contains("t_connections_open 3\n"), "{s}");
        assert!(s.contains("t_workers 8\n"), "{s}");
        let c = Registry::new("c");
        c.request("FETCH", "OK", Duration::ZERO);
        assert!(c
            .render()
            .contains("c_requests_total{command=\"FETCH\",status=\"OK\"} 1"));
        assert_eq!(
            (code_label(599), code_label(99), code_label(600)),
            ("599", "other", "other")
        );
    }

    #[test]
    fn export_file_holds_the_registry_and_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetricsExport {
            path: dir.path().join("run/metrics/t.prom"),
            interval: Duration::from_millis(20),
        };
        let reg = Arc::new(Registry::new("gromox_t"));
        let h = StatsHandle::default();
        h.0.refused_total.store(2, Ordering::Relaxed);
        reg.set_runtime(h, 4);
        reg.request("PING", "OK", Duration::ZERO);
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (m2, r2) = (m.clone(), reg.clone());
        let t = std::thread::spawn(move || m2.run(r2, rx, slog::Logger::root(slog::Discard, slog::o!())));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let text = loop {
            if let Ok(t) = std::fs::read_to_string(&m.path) {
                break t;
            }
            assert!(std::time::Instant::now() < deadline, "no metrics file");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(text.contains("gromox_t_connections_refused_total 2\n"), "{text}");
        assert!(
            text.contains("gromox_t_requests_total{command=\"PING\",status=\"OK\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE gromox_t_metrics_timestamp_seconds gauge"),
            "{text}"
        );
        drop(tx);
        t.join().unwrap();
        assert!(!m.path.exists(), "the file is removed when the server stops");
    }
}
