//! The start-up sequence every daemon shares, in the order that matters: log the bound
//! listeners, install the signal handlers, register the SIGHUP reload, and only then announce
//! readiness (`GROMOX_READY_FILE`) — a supervisor that saw the ready file may signal at once,
//! and a SIGHUP before the handlers were installed would kill the daemon.

use std::sync::Mutex;

use gromox_base::acl::HostsAllow;
use gromox_base::Daemon;
use slog::Logger;

use crate::{Control, Server};

/// Log the listeners of `server`, install SIGTERM/SIGINT/SIGHUP handling with `on_reload` for
/// SIGHUP, and announce readiness. Returns the control to run the server with.
pub fn prepare(server: &Server, log: &Logger, on_reload: impl Fn() + Send + Sync + 'static) -> Result<Control, String> {
    let addrs = server.local_addrs();
    for (k, a) in &addrs {
        slog::info!(log, "listening"; "event" => "daemon.listen", "key" => *k, "addr" => a.to_string());
    }
    let control = Control::new();
    control
        .install_signal_handlers()
        .map_err(|e| format!("signal handlers: {e}"))?;
    control.on_reload(on_reload);
    gromox_base::daemon::announce_ready(&addrs).map_err(|e| format!("GROMOX_READY_FILE: {e}"))?;
    Ok(control)
}

/// A SIGHUP handler re-reading `daemon`'s configuration and applying the reloadable keys
/// (log level and file).
pub fn reload_config(daemon: Daemon) -> impl Fn() + Send + Sync + 'static {
    let daemon = Mutex::new(daemon);
    move || {
        daemon.lock().unwrap_or_else(|p| p.into_inner()).reload();
    }
}

/// Like [`reload_config`], also applying the host allow list under `acl_key` through
/// `set_acl`; an invalid list keeps the old one and is logged.
pub fn reload_with_acl(
    daemon: Daemon,
    acl_key: &'static str,
    set_acl: impl Fn(HostsAllow) + Send + Sync + 'static,
) -> impl Fn() + Send + Sync + 'static {
    let daemon = Mutex::new(daemon);
    move || {
        let mut d = daemon.lock().unwrap_or_else(|p| p.into_inner());
        let log = d.log.clone();
        if let Some(cfg) = d.reload() {
            match HostsAllow::parse(cfg.str(acl_key)) {
                Ok(acl) => set_acl(acl),
                Err(e) => {
                    slog::error!(log, "access list not changed"; "event" => "config.reload_failed", "key" => acl_key, "error" => e)
                }
            }
        }
    }
}
