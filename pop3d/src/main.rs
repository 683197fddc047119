//! pop3d: the POP3 server daemon. See the library docs and `README.md`.

use std::sync::Arc;

use gromox_base::Daemon;
use gromox_clients::midb::{MidbClient, MidbOptions};
use gromox_runtime::Server;
use pop3d::maildrop::Locks;
use pop3d::midb::{Announcer, DirectoryAccounts, MidbMaildrop};
use pop3d::session::{Pop3Protocol, Shared, LINE_MAX};

fn main() {
    let (daemon, _) = Daemon::start(pop3d::config::spec());
    let log = daemon.log.clone();
    let fail = |what: &str, e: String| -> ! {
        slog::crit!(log, "cannot start"; "event" => "daemon.start_failed", "what" => what.to_string(), "error" => e.clone());
        eprintln!("pop3d: {what}: {e}");
        std::process::exit(2);
    };
    let cfg = &daemon.config;
    // Pipelined commands are consumed as they arrive; 64 KiB unconsumed is only reached by
    // abuse (a line is at most LINE_MAX octets, longer ones are discarded as they arrive).
    let rcfg = gromox_runtime::settings::server_config(cfg, "pop3", (64 * 1024).max(4 * LINE_MAX))
        .unwrap_or_else(|e| fail("configuration", e.to_string()));
    let midb = pop3d::config::addr(cfg, "midb_listen")
        .unwrap_or_else(|e| fail("configuration", e))
        .unwrap_or_else(|| fail("configuration", "midb_listen is empty".into()));
    let events = pop3d::config::addr(cfg, "event_listen")
        .unwrap_or_else(|e| fail("configuration", e))
        .map(|a| Announcer::new(a, log.clone()));
    let client = MidbClient::new(
        midb,
        MidbOptions {
            timeout: cfg.duration("midb_timeout").max(std::time::Duration::from_secs(1)),
            ..MidbOptions::default()
        },
    );
    let shared = Arc::new(Shared {
        settings: pop3d::config::settings(cfg, rcfg.tls.is_some()),
        accounts: Arc::new(DirectoryAccounts::new(cfg, log.clone()).with_impersonation(client.clone())),
        maildrop: Arc::new(MidbMaildrop::new(client, events)),
        locks: Locks::default(),
        log: log.clone(),
        metrics: rcfg.registry.clone(),
    });

    let server = Server::bind(rcfg, log.clone()).unwrap_or_else(|e| fail("listen", e.to_string()));
    let control = gromox_runtime::daemon::prepare(&server, &log, gromox_runtime::daemon::reload_config(daemon))
        .unwrap_or_else(|e| fail("start-up", e));
    slog::info!(log, "pop3d ready"; "event" => "daemon.ready");
    match server.run(Arc::new(Pop3Protocol::new(shared)), control) {
        Ok(()) => slog::info!(log, "pop3d stopped"; "event" => "daemon.stop"),
        Err(e) => fail("runtime", e.to_string()),
    }
}
