//! exmdbd: information store daemon (exmdb RPC)
//!
//! The protocol is not implemented yet (see ARCHITECTURE.md, "Status"): the daemon starts,
//! reads its configuration, logs, and stops on SIGTERM, so the launcher and packaging can
//! already treat it like the finished daemon.

use gromox_base::daemon::{run_placeholder, Daemon, Spec};

fn main() -> std::process::ExitCode {
    let spec = Spec {
        prog: "exmdbd",
        about: "information store daemon (exmdb RPC)",
        files: &["exmdb_provider.cfg"],
        keys: Vec::new(),
    };
    let (daemon, _) = Daemon::start(spec);
    run_placeholder(daemon, "the exmdb RPC server")
}
