//! httpd: the gromox-rs HTTP server. See the library docs and `README.md`.

use std::sync::Arc;
use std::time::Duration;

use gromox_base::server::{server_settings, ServerSettings};
use gromox_base::Daemon;
use gromox_runtime::{Control, Listener, Server, ServerConfig};

use httpd::session::HttpProtocol;

/// Map the standard server keys onto the runtime's settings. (Private here for now; meant to
/// move into gromox-runtime.)
fn runtime_config(s: &ServerSettings, max_head: usize) -> Result<ServerConfig, String> {
    let tls = match (&s.certificate, &s.private_key) {
        (Some(c), Some(k)) => {
            Some(gromox_runtime::tls::load_server_config(c, k, s.tls_min).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    Ok(ServerConfig {
        listeners: s
            .listeners
            .iter()
            .map(|l| Listener {
                name: l.key,
                addr: l.addr,
                tls: l.tls,
                haproxy: l.haproxy,
            })
            .collect(),
        threads: s.threads,
        context_num: s.context_num,
        idle_timeout: s.idle_timeout,
        session_limit: s.session_max_time,
        // The session consumes bodies as they arrive; only an unfinished head stays buffered,
        // and the codec answers 431 before this cap is reached.
        max_input: max_head + 128 * 1024,
        tls,
        shutdown_grace: Duration::from_secs(10),
        ..ServerConfig::default()
    })
}

fn main() {
    let (daemon, _) = Daemon::start(httpd::config::spec());
    let log = daemon.log.clone();
    let fail = |what: &str, e: String| -> ! {
        slog::crit!(log, "cannot start"; "event" => "daemon.start_failed", "what" => what.to_string(), "error" => e.clone());
        eprintln!("httpd: {what}: {e}");
        std::process::exit(2);
    };
    let cfg = &daemon.config;
    let settings = server_settings(cfg, "http").unwrap_or_else(|e| fail("configuration", e.to_string()));
    let app = httpd::config::build_app(cfg, None, &log).unwrap_or_else(|e| fail("configuration", e));
    let rcfg = runtime_config(&settings, app.settings.max_head).unwrap_or_else(|e| fail("TLS", e));
    let server = Server::bind(rcfg, log.clone()).unwrap_or_else(|e| fail("listen", e.to_string()));
    app.metrics.set_runtime(server.stats_handle());
    let addrs = server.local_addrs();
    for (k, a) in &addrs {
        slog::info!(log, "listening"; "event" => "daemon.listen", "key" => *k, "addr" => a.to_string());
    }
    if let Err(e) = gromox_base::daemon::announce_ready(&addrs) {
        fail("GROMOX_READY_FILE", e.to_string());
    }
    let proto = Arc::new(HttpProtocol::new(Arc::new(app)));
    let control = Control::new();
    if let Err(e) = control.install_signal_handlers() {
        fail("signal handlers", e.to_string());
    }
    // SIGHUP: re-read the configuration; apply the log keys, the http_* keys and the
    // rewrite/fastcgi/cache lists (listeners, threads and TLS need a restart).
    let daemon = std::sync::Mutex::new(daemon);
    let reload_proto = proto.clone();
    let reload_log = log.clone();
    control.on_reload(move || {
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
    });
    if let Err(e) = server.run(proto, control) {
        slog::crit!(log, "server failed"; "event" => "daemon.failed", "error" => e.to_string());
        std::process::exit(1);
    }
    slog::info!(log, "stopped"; "event" => "daemon.stop");
}
