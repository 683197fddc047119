//! lmtpd: the LMTP/SMTP delivery agent. See the library docs and `README.md`.

use std::sync::Arc;

use gromox_base::Daemon;
use gromox_runtime::Server;

fn main() {
    let (daemon, _) = Daemon::start(lmtpd::spec());
    let log = daemon.log.clone();
    let fail = |what: &str, e: String| -> ! {
        slog::crit!(log, "cannot start"; "event" => "daemon.start_failed", "what" => what.to_string(), "error" => e.clone());
        eprintln!("lmtpd: {what}: {e}");
        std::process::exit(2);
    };
    let cfg = &daemon.config;
    // Command lines are at most 512 octets and DATA lines are consumed as they arrive (a
    // partial line is kept up to 1000 octets); BDAT chunks are consumed as they arrive.
    // 256 KiB of unconsumed input is therefore only reached by abuse.
    let rcfg = gromox_runtime::settings::server_config(cfg, "lda", 256 * 1024)
        .unwrap_or_else(|e| fail("configuration", e.to_string()));
    let built = lmtpd::build(cfg, rcfg.tls.is_some(), rcfg.registry.clone(), &log)
        .unwrap_or_else(|e| fail("start-up", e.to_string()));
    slog::info!(log, "spool recovery"; "event" => "spool.recovered", "queued" => built.recovered, "discarded_unacknowledged" => built.discarded);

    let server = Server::bind(rcfg, log.clone()).unwrap_or_else(|e| fail("listen", e.to_string()));
    let control = gromox_runtime::daemon::prepare(&server, &log, gromox_runtime::daemon::reload_config(daemon))
        .unwrap_or_else(|e| fail("start-up", e));
    slog::info!(log, "lmtpd ready"; "event" => "daemon.ready");
    let result = server.run(Arc::clone(&built.protocol), control);
    match result {
        Ok(()) => slog::info!(log, "lmtpd stopped"; "event" => "daemon.stop"),
        Err(e) => fail("runtime", e.to_string()),
    }
}
