//! imapd: the IMAP4rev1/IMAP4rev2 server daemon. Mail comes from midbd, users from the
//! directory, change notices from eventd; see the library docs and `README.md`.

use std::sync::Arc;

use gromox_base::Daemon;
use gromox_clients::midb::{MidbClient, MidbOptions};
use gromox_runtime::Server;
use imapd::midbstore::MidbStore;
use imapd::session::{Config, ImapProtocol};

fn main() {
    let (daemon, _) = Daemon::start(imapd::config::spec());
    let log = daemon.log.clone();
    let fail = |what: &str, e: String| -> ! {
        slog::crit!(log, "cannot start"; "event" => "daemon.start_failed", "what" => what.to_string(), "error" => e.clone());
        eprintln!("imapd: {what}: {e}");
        std::process::exit(2);
    };
    let cfg = &daemon.config;
    let rcfg_probe = gromox_runtime::settings::server_config(cfg, "imap", 1024)
        .unwrap_or_else(|e| fail("configuration", e.to_string()));
    let session_cfg = Config::from_base(cfg, rcfg_probe.tls.is_some());
    // The framer holds at most one command line plus what is being read of a literal; the
    // session consumes literals as they arrive, so this bounds unconsumed input.
    let max_input = session_cfg.limits.line_max.saturating_mul(2).max(256 * 1024);
    let mut rcfg = rcfg_probe;
    rcfg.max_input = max_input;
    let midb = imapd::config::addr(cfg, "midb_listen")
        .unwrap_or_else(|e| fail("configuration", e))
        .unwrap_or_else(|| fail("configuration", "midb_listen is empty".into()));
    let events = imapd::config::addr(cfg, "event_listen").unwrap_or_else(|e| fail("configuration", e));
    let client = MidbClient::new(
        midb,
        MidbOptions {
            timeout: cfg.duration("midb_timeout").max(std::time::Duration::from_secs(1)),
            ..MidbOptions::default()
        },
    );
    let store = Arc::new(MidbStore::new(client, events, cfg, log.clone()));
    let metrics = rcfg.registry.clone();

    let server = Server::bind(rcfg, log.clone()).unwrap_or_else(|e| fail("listen", e.to_string()));
    let control = gromox_runtime::daemon::prepare(&server, &log, gromox_runtime::daemon::reload_config(daemon))
        .unwrap_or_else(|e| fail("start-up", e));
    slog::info!(log, "imapd ready"; "event" => "daemon.ready", "midb" => midb.to_string());
    let proto = ImapProtocol::new(store, session_cfg, log.clone()).with_metrics(metrics);
    match server.run(Arc::new(proto), control) {
        Ok(()) => slog::info!(log, "imapd stopped"; "event" => "daemon.stop"),
        Err(e) => fail("runtime", e.to_string()),
    }
}
