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
