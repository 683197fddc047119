//! A small metrics registry rendered in the Prometheus text exposition format (version 0.0.4):
//! requests and latency histograms per endpoint, authentication failures, and the runtime's
//! connection and worker counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use gromox_runtime::StatsHandle;

/// Latency histogram bucket bounds, seconds.
pub const BUCKETS: [f64; 11] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default, Clone)]
struct Hist {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The registry of one daemon.
#[derive(Default)]
pub struct Metrics {
    prefix: String,
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Hist>>,
    auth_failures: AtomicU64,
    runtime: OnceLock<StatsHandle>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain counters under the lock; a poisoned lock still holds usable numbers.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    /// A registry whose metric names start with `prefix` (e.g. `gromox_http`).
    pub fn new(prefix: &str) -> Self {
        Metrics {
            prefix: prefix.to_string(),
            ..Default::default()
        }
    }

    /// Attach the runtime's counters (connections, workers).
    pub fn set_runtime(&self, s: StatsHandle) {
        let _ = self.runtime.set(s);
    }

    /// Count one request.
    pub fn request(&self, endpoint: &'static str, status: u16, took: Duration) {
        *lock(&self.requests).entry((endpoint, status)).or_default() += 1;
        let secs = took.as_secs_f64();
        let mut l = lock(&self.latency);
        let h = l.entry(endpoint).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Count one authentication failure.
    pub fn auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Authentication failures so far.
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures.load(Ordering::Relaxed)
    }

    /// Render everything.
    pub fn render(&self) -> String {
        let p = &self.prefix;
        let mut s = String::new();
        if let Some(rt) = self.runtime.get() {
            rt.snapshot().render_prometheus(p, &mut s);
        }
        let _ = writeln!(
            s,
            "# HELP {p}_auth_failures_total rejected authentications\n# TYPE {p}_auth_failures_total counter\n{p}_auth_failures_total {}",
            self.auth_failures()
        );
        let _ = writeln!(
            s,
            "# HELP {p}_requests_total requests by endpoint and status\n# TYPE {p}_requests_total counter"
        );
        for ((e, code), n) in lock(&self.requests).iter() {
            let _ = writeln!(s, "{p}_requests_total{{endpoint=\"{e}\",code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            s,
            "# HELP {p}_request_duration_seconds time to produce a response\n# TYPE {p}_request_duration_seconds histogram"
        );
        for (e, h) in lock(&self.latency).iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "{p}_request_duration_seconds_bucket{{endpoint=\"{e}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                s,
                "{p}_request_duration_seconds_bucket{{endpoint=\"{e}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(s, "{p}_request_duration_seconds_sum{{endpoint=\"{e}\"}} {}", h.sum);
            let _ = writeln!(s, "{p}_request_duration_seconds_count{{endpoint=\"{e}\"}} {}", h.count);
        }
        s
    }
}

/// Append the counters the other daemons export (`*.prom` files in `dir`, see
/// `gromox_runtime::MetricsExport`), skipping `own` (httpd's own export), in file-name order.
/// A file that vanishes or cannot be read is skipped.
pub fn append_exported(dir: &std::path::Path, own: &str, out: &mut String) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<_> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "prom"))
        .filter(|p| p.file_name().is_some_and(|n| n != own))
        .collect();
    files.sort();
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            out.push_str(&text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_histogram() {
        let m = Metrics::new("t");
        m.request("static", 200, Duration::from_micros(700));
        m.request("static", 404, Duration::from_millis(30));
        m.auth_failure();
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
        assert!(s.contains("t_request_duration_seconds_count{endpoint=\"static\"} 2"));
        assert!(s.contains("t_auth_failures_total 1"));
    }
}
