//! exmdbd: the information store daemon, serving the exmdb RPC protocol
//! (`gromox_exmdb_proto`) over the common runtime. See README.md.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gromox_base::acl::HostsAllow;
use gromox_base::server::{server_keys, ServerDefaults};
use gromox_base::{Daemon, KeyDef, Kind, Spec};
use gromox_runtime::Server;

use exmdbd::cache::StoreCache;
use exmdbd::rpc::{ExmdbProtocol, ExmdbServer, HomeCheck};
use exmdbd::StoreOptions;

const DEFAULTS: ServerDefaults = ServerDefaults {
    prefix: "exmdb",
    listen: "[::1]:5000",
    listen_tls: "",
    threads: 8,
    context_num: 1024,
    idle: "30min",
};

fn spec() -> Spec {
    let mut keys = server_keys(DEFAULTS);
    keys.push(
        KeyDef::new(
            "exmdb_hosts_allow",
            "::1 127.0.0.1",
            Kind::Str,
            "client addresses or CIDR prefixes allowed to connect (space-separated)",
        )
        .reloadable(),
    );
    keys.push(KeyDef::new(
        "exmdb_cache_interval",
        "2h",
        Kind::Duration,
        "an open store unused this long is closed",
    ));
    keys.push(KeyDef::new(
        "exmdb_table_size",
        "5000",
        Kind::Int { min: 1, max: 1_000_000 },
        "most stores kept open at once; opening another closes the least recently used idle one (Gromox table_size)",
    ));
    keys.push(KeyDef::new(
        "exmdb_check_homeserver",
        "yes",
        Kind::Bool,
        "refuse mailboxes whose directory home server is another host",
    ));
    keys.extend(gromox_directory::config_keys());
    let mut files = vec!["exmdb_provider.cfg"];
    files.extend_from_slice(gromox_directory::CONFIG_FILES);
    Spec {
        prog: "exmdbd",
        about: "information store daemon (exmdb RPC)",
        files: Box::leak(files.into_boxed_slice()),
        keys,
    }
}

/// Home-server check through the user directory: a mailbox `<state>/user/<domain>/<local>`
/// belongs to `local@domain`; its `homeserver` must be empty/0 or name this host.
fn home_check(cfg: &gromox_base::Config, log: &slog::Logger) -> Option<HomeCheck> {
    if !cfg.bool("exmdb_check_homeserver") {
        return None;
    }
    let dir = match gromox_directory::Directory::open(cfg) {
        Ok(d) => d,
        Err(e) => {
            slog::warn!(log, "user directory unavailable: home-server checks disabled"; "event" => "exmdb.no_directory", "error" => e.to_string());
            return None;
        }
    };
    let me = cfg.hostname();
    let state = cfg.path("state_path");
    Some(Box::new(move |p: &Path| match dir.home_of_maildir(&state, p) {
        Ok(Some(h)) if !h.eq_ignore_ascii_case(&me) => Err(h),
        _ => Ok(()),
    }))
}

fn main() {
    let (daemon, _) = Daemon::start(spec());
    let log = daemon.log.clone();
    let fail = |what: &str, e: String| -> ! {
        slog::crit!(log, "cannot start"; "event" => "daemon.start_failed", "what" => what.to_string(), "error" => e.clone());
        eprintln!("exmdbd: {what}: {e}");
        std::process::exit(2);
    };
    let cfg = &daemon.config;
    if let Err(e) = gromox_runtime::sys::raise_nofile_limit() {
        slog::warn!(log, "cannot raise the fd limit"; "event" => "daemon.nofile", "error" => e.to_string());
    }
    let acl = HostsAllow::parse(cfg.str("exmdb_hosts_allow"))
        .unwrap_or_else(|e| fail("exmdb_hosts_allow", cfg.error("exmdb_hosts_allow", e).to_string()));
    let rcfg = gromox_runtime::settings::server_config(cfg, "exmdb", gromox_exmdb_proto::MAX_FRAME + 4)
        .unwrap_or_else(|e| fail("configuration", e.to_string()));
    let cache = Arc::new(
        StoreCache::new(
            StoreOptions {
                background_checkpoint: true,
                ..StoreOptions::default()
            },
            cfg.duration("exmdb_cache_interval"),
        )
        .with_capacity(cfg.usize("exmdb_table_size")),
    );
    let state = cfg.path("state_path");
    let home = home_check(cfg, &log);
    let srv =
        Arc::new(ExmdbServer::new(cache.clone(), state, acl, home, log.clone()).with_metrics(rcfg.registry.clone()));

    let server = Server::bind(rcfg, log.clone()).unwrap_or_else(|e| fail("listen", e.to_string()));
    let reload_srv = srv.clone();
    let control = gromox_runtime::daemon::prepare(
        &server,
        &log,
        gromox_runtime::daemon::reload_with_acl(daemon, "exmdb_hosts_allow", move |acl| reload_srv.set_acl(acl)),
    )
    .unwrap_or_else(|e| fail("start-up", e));
    // Close idle stores now and then; WAL checkpoints and search-folder work.
    let tc = control.clone();
    let clog = log.clone();
    let closer = std::thread::Builder::new()
        .name("exmdb-idle".into())
        .spawn(move || {
            let mut n = 0u32;
            while !tc.is_shutdown() {
                std::thread::sleep(Duration::from_millis(200));
                n += 1;
                // WAL checkpoints off the request path, once a second.
                if n.is_multiple_of(5) {
                    for (dir, e) in cache.checkpoint().1 {
                        slog::warn!(clog, "WAL checkpoint failed"; "event" => "exmdb.checkpoint_failed", "dir" => dir.display().to_string(), "error" => e);
                    }
                }
                // Search folders: queued changes and populations, in small batches.
                for (dir, e) in cache.search_step(1000) {
                    slog::warn!(clog, "search folder work failed"; "event" => "exmdb.search_failed", "dir" => dir.display().to_string(), "error" => e);
                }
                if n.is_multiple_of(300) {
                    cache.close_idle();
                }
            }
        })
        .unwrap_or_else(|e| fail("idle thread", e.to_string()));
    slog::info!(log, "exmdbd ready"; "event" => "daemon.ready");
    let result = server.run(Arc::new(ExmdbProtocol(srv)), control.clone());
    control.shutdown();
    let _ = closer.join();
    match result {
        Ok(()) => slog::info!(log, "exmdbd stopped"; "event" => "daemon.stop"),
        Err(e) => fail("runtime", e.to_string()),
    }
}
