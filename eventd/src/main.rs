//! eventd: the folder-change event bus daemon. See the library docs and `README.md`.

use std::sync::Arc;
use std::time::Duration;

use gromox_base::acl::HostsAllow;
use gromox_base::server::{server_keys, ServerDefaults};
use gromox_base::{Daemon, KeyDef, Kind, Spec};
use gromox_runtime::Server;

use eventd::EventProtocol;

const DEFAULTS: ServerDefaults = ServerDefaults {
    prefix: "event",
    listen: "[::1]:33333",
    listen_tls: "",
    threads: 4,
    context_num: 4096,
    idle: "10min",
};

fn spec() -> Spec {
    let mut keys = server_keys(DEFAULTS);
    keys.push(
        KeyDef::new(
            "event_hosts_allow",
            "::1 127.0.0.1",
            Kind::Str,
            "client addresses or CIDR prefixes allowed to connect (space-separated)",
        )
        .reloadable(),
    );
    keys.push(KeyDef::new(
        "event_ping_interval",
        "1min",
        Kind::Duration,
        "listener connections get a PING this often; one not answered by the next is dropped",
    ));
    Spec {
        prog: "eventd",
        about: "Gromox folder-change event bus (event(8gx) protocol)",
        files: &["event.cfg"],
        keys,
    }
}

fn main() {
    let (daemon, _) = Daemon::start(spec());
    let log = daemon.log.clone();
    let fail = |what: &str, e: String| -> ! {
        slog::crit!(log, "cannot start"; "event" => "daemon.start_failed", "what" => what.to_string(), "error" => e.clone());
        eprintln!("eventd: {what}: {e}");
        std::process::exit(2);
    };
    let cfg = &daemon.config;
    let acl = HostsAllow::parse(cfg.str("event_hosts_allow"))
        .unwrap_or_else(|e| fail("event_hosts_allow", cfg.error("event_hosts_allow", e).to_string()));
    // Command lines are capped at 4 KiB by the codec, which discards longer lines as they
    // arrive; buffered input beyond 64 KiB is abuse.
    let rcfg = gromox_runtime::settings::server_config(cfg, "event", 64 * 1024)
        .unwrap_or_else(|e| fail("configuration", e.to_string()));
    let ping = cfg.duration("event_ping_interval").max(Duration::from_millis(100));

    let metrics = rcfg.registry.clone();
    let server = Server::bind(rcfg, log.clone()).unwrap_or_else(|e| fail("listen", e.to_string()));
    let proto = Arc::new(EventProtocol::new(acl, log.clone(), ping).with_metrics(metrics));
    let reload_proto = proto.clone();
    let control = gromox_runtime::daemon::prepare(
        &server,
        &log,
        gromox_runtime::daemon::reload_with_acl(daemon, "event_hosts_allow", move |acl| reload_proto.set_acl(acl)),
    )
    .unwrap_or_else(|e| fail("start-up", e));

    // Keep-alive ticks for listeners (Gromox pings idle listeners about once a minute).
    let registry = proto.registry().clone();
    let ticker_control = control.clone();
    let ticker = std::thread::Builder::new()
        .name("event-ping".into())
        .spawn(move || {
            let step = Duration::from_millis(100).min(ping);
            let mut waited = Duration::ZERO;
            while !ticker_control.is_shutdown() {
                std::thread::sleep(step);
                waited += step;
                if waited >= ping {
                    waited = Duration::ZERO;
                    registry.ping_all(std::time::Instant::now());
                }
            }
        })
        .unwrap_or_else(|e| fail("ping thread", e.to_string()));

    slog::info!(log, "eventd ready"; "event" => "daemon.ready");
    let result = server.run(proto, control.clone());
    control.shutdown();
    let _ = ticker.join();
    match result {
        Ok(()) => slog::info!(log, "eventd stopped"; "event" => "daemon.stop"),
        Err(e) => fail("runtime", e.to_string()),
    }
}
