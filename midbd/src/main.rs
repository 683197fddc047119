//! midbd: message index daemon for IMAP and POP3 (midb.sqlite3, RFC 5322 renditions)
//!
//! The protocol is not implemented yet (see ARCHITECTURE.md, "Status"): the daemon starts,
//! reads its configuration, logs, and stops on SIGTERM, so the launcher and packaging can
//! already treat it like the finished daemon.

use gromox_base::daemon::{run_placeholder, Daemon, Spec};

fn main() -> std::process::ExitCode {
    let spec = Spec {
        prog: "midbd",
        about: "message index daemon for IMAP and POP3 (midb.sqlite3, RFC 5322 renditions)",
        files: &["midb.cfg"],
        keys: Vec::new(),
    };
    let (daemon, _) = Daemon::start(spec);
    run_placeholder(daemon, "the midb protocol")
}
