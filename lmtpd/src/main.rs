//! lmtpd: LMTP/SMTP delivery agent with a durable spool
//!
//! The protocol is not implemented yet (see ARCHITECTURE.md, "Status"): the daemon starts,
//! reads its configuration, logs, and stops on SIGTERM, so the launcher and packaging can
//! already treat it like the finished daemon.

use gromox_base::daemon::{run_placeholder, Daemon, Spec};

fn main() -> std::process::ExitCode {
    let spec = Spec {
        prog: "lmtpd",
        about: "LMTP/SMTP delivery agent with a durable spool",
        files: &["smtp.cfg", "delivery.cfg"],
        keys: Vec::new(),
    };
    let (daemon, _) = Daemon::start(spec);
    run_placeholder(daemon, "LMTP/SMTP delivery")
}
