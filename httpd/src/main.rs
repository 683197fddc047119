//! httpd: the gromox-rs HTTP server. See the library docs and `README.md`.

use std::sync::Arc;

use gromox_base::Daemon;
use gromox_runtime::Server;

use httpd::session::HttpProtocol;

fn main() {
    let (daemon, _) = Daemon::start(httpd::config::spec());
    let log = daemon.log.clone();
    let fail = |what: &str, e: String| -> ! {
        slog::crit!(log, "cannot start"; "event" => "daemon.start_failed", "what" => what.to_string(), "error" => e.clone());
        eprintln!("httpd: {what}: {e}");
        std::process::exit(2);
    };
    let cfg = &daemon.config;
    let app = httpd::config::build_app(cfg, None, &log).unwrap_or_else(|e| fail("configuration", e));
    // The session consumes bodies as they arrive; only an unfinished head stays buffered, and
    // the codec answers 431 before this cap is reached.
    let max_input = app.settings.max_head + 128 * 1024;
    let mut rcfg = gromox_runtime::settings::server_config(cfg, "http", max_input)
        .unwrap_or_else(|e| fail("configuration", e.to_string()));
    // httpd's own registry (endpoint/code labels) gets the runtime's counters.
    rcfg.registry = app.metrics.clone();
    let server = Server::bind(rcfg, log.clone()).unwrap_or_else(|e| fail("listen", e.to_string()));
    let proto = Arc::new(HttpProtocol::new(Arc::new(app)));
    // SIGHUP: re-read the configuration; apply the log keys, the http_* keys and the
    // rewrite/fastcgi/cache lists (listeners, threads and TLS need a restart).
    let daemon = std::sync::Mutex::new(daemon);
    let reload_proto = proto.clone();
    let reload_log = log.clone();
    let reload = move || {
        let mut d = daemon.lock().unwrap_or_else(|p| p.into_inner());
        let Some(cfg) = d.reload() else {
            return;
        };
        let old = reload_proto.app();
        match httpd::config::build_app_with(cfg, None, old.metrics.clone(), &reload_log) {
            Ok(app) => {
                reload_proto.replace(Arc::new(app));
                slog::info!(reload_log, "routes and settings reloaded"; "event" => "http.reload");
            }
            Err(e) => {
                slog::error!(reload_log, "reload failed, keeping the old routes"; "event" => "http.reload_failed", "error" => e);
            }
        }
    };
    let control = gromox_runtime::daemon::prepare(&server, &log, reload).unwrap_or_else(|e| fail("start-up", e));
    if let Err(e) = server.run(proto, control) {
        slog::crit!(log, "server failed"; "event" => "daemon.failed", "error" => e.to_string());
        std::process::exit(1);
    }
    slog::info!(log, "stopped"; "event" => "daemon.stop");
}
