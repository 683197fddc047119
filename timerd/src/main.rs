//! timerd: the deferred command executor daemon. See the library docs and `README.md`.

use std::sync::Arc;
use std::time::Duration;

use gromox_base::acl::HostsAllow;
use gromox_base::server::{server_keys, ServerDefaults};
use gromox_base::{Daemon, KeyDef, Kind, Spec};
use gromox_runtime::Server;

use timerd::{ExecSettings, TimerProtocol, Timers};

const DEFAULTS: ServerDefaults = ServerDefaults {
    prefix: "timer",
    listen: "[::1]:6666",
    listen_tls: "",
    threads: 2,
    context_num: 400,
    idle: "3min",
};

fn spec() -> Spec {
    let mut keys = server_keys(DEFAULTS);
    keys.push(
        KeyDef::new(
            "timer_hosts_allow",
            "::1 127.0.0.1",
            Kind::Str,
            "client addresses or CIDR prefixes allowed to connect (space-separated)",
        )
        .reloadable(),
    );
    keys.push(KeyDef::new(
        "timer_state_file",
        "",
        Kind::Path,
        "journal of pending timers (empty: <state_path>/timer/timer.txt)",
    ));
    keys.push(KeyDef::new(
        "timer_exec_max",
        "4",
        Kind::Int { min: 1, max: 256 },
        "commands run at the same time; further due timers wait",
    ));
    keys.push(KeyDef::new(
        "timer_exec_timeout",
        "10min",
        Kind::Duration,
        "a command running longer is killed (with its process group)",
    ));
    keys.push(KeyDef::new(
        "timer_exec_output_max",
        "4K",
        Kind::Size,
        "bytes of a command's standard output and of its standard error kept for the log",
    ));
    Spec {
        prog: "timerd",
        about: "Gromox deferred command executor (timer(8gx) protocol)",
        files: &["timer.cfg"],
        keys,
    }
}

fn main() {
    let (daemon, _) = Daemon::start(spec());
    let log = daemon.log.clone();
    let fail = |what: &str, e: String| -> ! {
        slog::crit!(log, "cannot start"; "event" => "daemon.start_failed", "what" => what.to_string(), "error" => e.clone());
        eprintln!("timerd: {what}: {e}");
        std::process::exit(2);
    };
    let cfg = &daemon.config;
    let acl = HostsAllow::parse(cfg.str("timer_hosts_allow"))
        .unwrap_or_else(|e| fail("timer_hosts_allow", cfg.error("timer_hosts_allow", e).to_string()));
    // Command lines are capped at 4 KiB by the codec, which discards longer lines as they
    // arrive; buffered input beyond 64 KiB is abuse.
    let rcfg = gromox_runtime::settings::server_config(cfg, "timer", 64 * 1024)
        .unwrap_or_else(|e| fail("configuration", e.to_string()));
    let mut state = cfg.path("timer_state_file");
    if state.as_os_str().is_empty() {
        state = cfg.path("state_path").join("timer/timer.txt");
    }
    let exec = ExecSettings {
        max: cfg.usize("timer_exec_max").max(1),
        timeout: cfg.duration("timer_exec_timeout").max(Duration::from_secs(1)),
        output_max: usize::try_from(cfg.size("timer_exec_output_max")).unwrap_or(usize::MAX),
        shell: "/bin/sh".into(),
    };

    let timers = Timers::open(&state, log.clone()).unwrap_or_else(|e| fail("state", e.to_string()));
    let metrics = rcfg.registry.clone();
    let server = Server::bind(rcfg, log.clone()).unwrap_or_else(|e| fail("listen", e.to_string()));
    let workers = timers.start(exec).unwrap_or_else(|e| fail("threads", e.to_string()));
    let proto = Arc::new(TimerProtocol::new(timers.clone(), acl, log.clone()).with_metrics(metrics));
    let reload_proto = proto.clone();
    let control = gromox_runtime::daemon::prepare(
        &server,
        &log,
        gromox_runtime::daemon::reload_with_acl(daemon, "timer_hosts_allow", move |acl| reload_proto.set_acl(acl)),
    )
    .unwrap_or_else(|e| fail("start-up", e));
    slog::info!(log, "timerd ready"; "event" => "daemon.ready", "state_file" => state.display().to_string());
    let result = server.run(proto, control);
    // Commands still running are not waited for: their timers stay in the journal and run
    // again after the next start (at least once).
    timers.stop();
    drop(workers);
    match result {
        Ok(()) => slog::info!(log, "timerd stopped"; "event" => "daemon.stop"),
        Err(e) => fail("runtime", e.to_string()),
    }
}
