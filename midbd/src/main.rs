//! midbd: the IMAP/POP3 message index daemon. See the library docs, `README.md` and
//! `PROTOCOL.md`.

use std::sync::Arc;

use gromox_base::acl::HostsAllow;
use gromox_base::server::{server_keys, ServerDefaults};
use gromox_base::{Daemon, KeyDef, Kind, Spec};
use gromox_runtime::Server;

use midbd::exmdb_source::ExmdbSource;
use midbd::source::StoreSource;
use midbd::{MidbProtocol, Service};

const DEFAULTS: ServerDefaults = ServerDefaults {
    prefix: "midb",
    listen: "[::1]:5555",
    listen_tls: "",
    threads: 8,
    context_num: 1024,
    idle: "30min",
};

fn spec() -> Spec {
    let mut keys = server_keys(DEFAULTS);
    keys.push(
        KeyDef::new(
            "midb_hosts_allow",
            "::1 127.0.0.1",
            Kind::Str,
            "client addresses or CIDR prefixes allowed to connect (space-separated)",
        )
        .reloadable(),
    );
    keys.push(KeyDef::new(
        "midb_cache_interval",
        "30min",
        Kind::Duration,
        "how long an idle mailbox index stays open",
    ));
    keys.extend(gromox_directory::routing::config_keys());
    // midb.cfg first: it wins over exmdb_provider.cfg (read for exmdb_listen).
    let mut files = vec!["midb.cfg"];
    files.extend(gromox_directory::routing::config_files());
    Spec {
        prog: "midbd",
        about: "message index daemon for IMAP and POP3 (midb.sqlite3, RFC 5322 renditions)",
        files: Box::leak(files.into_boxed_slice()),
        keys,
    }
}

fn main() {
    let (daemon, args) = Daemon::start(spec());
    let log = daemon.log.clone();
    let fail = |what: &str, e: String| -> ! {
        slog::crit!(log, "cannot start"; "event" => "daemon.start_failed", "what" => what.to_string(), "error" => e.clone());
        eprintln!("midbd: {what}: {e}");
        std::process::exit(2);
    };
    let cfg = &daemon.config;
    let (router, no_routing) = gromox_directory::routing::router(cfg).unwrap_or_else(|e| fail("exmdb_listen", e));
    if let Some(e) = no_routing {
        // Routing by home server needs the user directory; without one every mailbox is local.
        slog::warn!(log, "user directory unavailable: every mailbox is served by the local exmdbd"; "event" => "midb.no_directory", "error" => e);
    }
    let exmdb = router.local_addr();
    let source: Arc<dyn StoreSource> = Arc::new(ExmdbSource::routed(router));
    let service = Arc::new(Service::new(source, cfg.duration("midb_cache_interval")).with_root(cfg.path("state_path")));

    // `midbd [-c FILE] rebuild MAILDIR...`: drop and rebuild the indexes, then exit.
    if args.first().map(String::as_str) == Some("rebuild") {
        let mut ok = true;
        for dir in &args[1..] {
            let r = service.mailbox(dir).and_then(|m| {
                let mut m = m.lock().unwrap_or_else(|p| p.into_inner());
                m.rebuild(service.source())
            });
            match r {
                Ok(()) => println!("{dir}: index rebuilt"),
                Err(e) => {
                    eprintln!("{dir}: {e}");
                    ok = false;
                }
            }
        }
        std::process::exit(if ok && args.len() > 1 { 0 } else { 1 });
    }

    let acl = HostsAllow::parse(cfg.str("midb_hosts_allow"))
        .unwrap_or_else(|e| fail("midb_hosts_allow", cfg.error("midb_hosts_allow", e).to_string()));
    // Request lines are capped by the codec; an APPEND literal may be up to 64 MiB.
    let rcfg =
        gromox_runtime::settings::server_config(cfg, "midb", midbd::codec::MAX_APPEND + midbd::codec::MAX_LINE + 4)
            .unwrap_or_else(|e| fail("configuration", e.to_string()));
    let metrics = rcfg.registry.clone();
    let server = Server::bind(rcfg, log.clone()).unwrap_or_else(|e| fail("listen", e.to_string()));
    let proto = Arc::new(MidbProtocol::new(service, acl, log.clone()).with_metrics(metrics));
    let reload_proto = proto.clone();
    let control = gromox_runtime::daemon::prepare(
        &server,
        &log,
        gromox_runtime::daemon::reload_with_acl(daemon, "midb_hosts_allow", move |acl| reload_proto.set_acl(acl)),
    )
    .unwrap_or_else(|e| fail("start-up", e));
    slog::info!(log, "midbd ready"; "event" => "daemon.ready", "exmdb" => exmdb.to_string());
    let result = server.run(proto, control.clone());
    control.shutdown();
    match result {
        Ok(()) => slog::info!(log, "midbd stopped"; "event" => "daemon.stop"),
        Err(e) => fail("runtime", e.to_string()),
    }
}
