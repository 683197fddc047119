//! The command line every daemon and tool shares (DESIGN.md §6): `-c FILE` (or the
//! `GROMOX_CONFIG` environment variable), `-o key=value` overrides, `--help` listing every key
//! with its default, `--dump-config` printing effective values with their origins, `--version`.
//! A bad configuration ends the program with a message naming file, line and key and exit
//! status 2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use slog::Logger;

use crate::config::{keys_help, Config, ConfigError, KeyDef};
use crate::log::LogHandle;

/// What a program is: its name, purpose, per-program configuration files and keys.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Program name, e.g. `imapd`; prefixes its log keys (`imapd_log_level`).
    pub prog: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// Per-program files searched along `config_file_path`, e.g. `["imap.cfg"]`.
    pub files: &'static [&'static str],
    /// Declared keys (the common ones are added automatically).
    pub keys: Vec<KeyDef>,
}

/// A started program: configuration and logger.
pub struct Daemon {
    /// The program's spec.
    pub spec: Spec,
    /// Effective configuration.
    pub config: Config,
    /// Root logger.
    pub log: Logger,
    /// Controls the logger (SIGHUP).
    pub log_handle: LogHandle,
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run with this configuration file (if any) and overrides.
    Run {
        /// `-c FILE`.
        config: Option<PathBuf>,
        /// `-o key=value` overrides.
        overrides: Vec<(String, String)>,
        /// Free arguments (tools).
        free: Vec<String>,
    },
    /// `--dump-config`.
    Dump {
        /// `-c FILE`.
        config: Option<PathBuf>,
        /// `-o key=value` overrides.
        overrides: Vec<(String, String)>,
    },
    /// Print this text and exit 0.
    Print(String),
}

/// Errors of start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Command line not understood.
    #[error("{0}")]
    Usage(String),
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Log file could not be opened.
    #[error("cannot open log file {0}: {1}")]
    Log(PathBuf, std::io::Error),
}

fn options() -> getopts::Options {
    let mut o = getopts::Options::new();
    o.optopt(
        "c",
        "config",
        "configuration file (default: $GROMOX_CONFIG, then /etc/gromox/gromox.cfg)",
        "FILE",
    );
    o.optmulti("o", "option", "override a configuration key", "KEY=VALUE");
    o.optflag(
        "h",
        "help",
        "print this help, with every configuration key and its default",
    );
    o.optflag("", "dump-config", "print the effective configuration and exit");
    o.optflag("", "version", "print the version and exit");
    o.optflag(
        "",
        "sample-config",
        "print a commented sample configuration file and exit",
    );
    o
}

/// Parse a command line (without the program name).
pub fn parse_args(spec: &Spec, args: &[String]) -> Result<Action, StartError> {
    let m = options().parse(args).map_err(|e| StartError::Usage(e.to_string()))?;
    if m.opt_present("h") {
        let brief = format!("Usage: {} [options]\n{}", spec.prog, spec.about);
        return Ok(Action::Print(format!(
            "{}\n{}",
            options().usage(&brief),
            keys_help(spec.prog, &spec.keys)
        )));
    }
    if m.opt_present("sample-config") {
        return Ok(Action::Print(crate::config::sample_config(
            spec.prog, spec.about, spec.files, &spec.keys,
        )));
    }
    if m.opt_present("version") {
        return Ok(Action::Print(format!(
            "{} (gromox-rs) {}\n",
            spec.prog,
            env!("CARGO_PKG_VERSION")
        )));
    }
    let config = m.opt_str("c").map(PathBuf::from).or_else(|| {
        std::env::var_os("GROMOX_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let mut overrides = Vec::new();
    for o in m.opt_strs("o") {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| StartError::Usage(format!("-o expects KEY=VALUE, got \"{o}\"")))?;
        overrides.push((k.trim().to_string(), v.trim().to_string()));
    }
    if m.opt_present("dump-config") {
        return Ok(Action::Dump { config, overrides });
    }
    Ok(Action::Run {
        config,
        overrides,
        free: m.free,
    })
}

/// Load the configuration for `spec` from `config` plus `overrides`.
pub fn load_config(spec: &Spec, config: Option<&Path>, overrides: &[(String, String)]) -> Result<Config, ConfigError> {
    let mut cfg = Config::load(spec.prog, config, spec.files, &spec.keys)?;
    for (k, v) in overrides {
        cfg.set(k, v)?;
    }
    Ok(cfg)
}

impl Daemon {
    /// Start from a command line: configuration, then logging. Errors are returned, not
    /// printed; see [`Daemon::start`] for the usual main() behaviour.
    pub fn from_args(spec: Spec, args: &[String]) -> Result<Result<(Daemon, Vec<String>), String>, StartError> {
        match parse_args(&spec, args)? {
            Action::Print(text) => Ok(Err(text)),
            Action::Dump { config, overrides } => {
                let cfg = load_config(&spec, config.as_deref(), &overrides)?;
                Ok(Err(cfg.dump()))
            }
            Action::Run {
                config,
                overrides,
                free,
            } => {
                let cfg = load_config(&spec, config.as_deref(), &overrides)?;
                let d = Daemon::with_config(spec, cfg)?;
                Ok(Ok((d, free)))
            }
        }
    }

    /// Start with an already loaded configuration.
    pub fn with_config(spec: Spec, config: Config) -> Result<Daemon, StartError> {
        let target = config.path(&format!("{}_log_file", spec.prog));
        let level = config.log_level(&format!("{}_log_level", spec.prog));
        let (log, log_handle) =
            crate::log::init(spec.prog, &target, level).map_err(|e| StartError::Log(target.clone(), e))?;
        for (key, origin) in config.unknown_keys() {
            slog::debug!(log, "unknown configuration key ignored"; "event" => "config.unknown_key", "key" => key, "origin" => origin.to_string());
        }
        Ok(Daemon {
            spec,
            config,
            log,
            log_handle,
        })
    }

    /// The usual main(): parse `std::env::args`, print help/dump and exit 0, or print the error
    /// and exit 2. Returns the daemon and the free arguments.
    pub fn start(spec: Spec) -> (Daemon, Vec<String>) {
        let prog = spec.prog;
        let args: Vec<String> = std::env::args().skip(1).collect();
        match Daemon::from_args(spec, &args) {
            Ok(Ok(d)) => d,
            Ok(Err(text)) => {
                print!("{text}");
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("{prog}: {e}");
                std::process::exit(2);
            }
        }
    }

    /// Re-read the configuration (SIGHUP) and apply the reloadable keys of this module
    /// (log level and log file). Returns the new configuration for the caller's own keys; on
    /// error the old configuration stays in force and the error is logged.
    pub fn reload(&mut self) -> Option<&Config> {
        match self.config.reload() {
            Ok(cfg) => {
                self.log_handle
                    .set_level(cfg.log_level(&format!("{}_log_level", self.spec.prog)));
                let target = cfg.path(&format!("{}_log_file", self.spec.prog));
                if let Err(e) = self.log_handle.set_target(&target) {
                    slog::error!(self.log, "cannot reopen log file"; "event" => "config.reload_failed", "file" => target.display().to_string(), "error" => e.to_string());
                }
                self.config = cfg;
                slog::info!(self.log, "configuration reloaded"; "event" => "config.reload");
                Some(&self.config)
            }
            Err(e) => {
                slog::error!(self.log, "configuration reload failed, keeping the old one"; "event" => "config.reload_failed", "error" => e.to_string());
                None
            }
        }
    }
}

/// Tell a supervisor (the launcher, the test harness) which addresses a daemon listens on:
/// when the `GROMOX_READY_FILE` environment variable names a file, write `name addr` lines to
/// `<file>.tmp` and rename it into place, so a reader never sees half a file.
pub fn announce_ready(listeners: &[(&str, SocketAddr)]) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("GROMOX_READY_FILE").filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let path = PathBuf::from(path);
    let mut text = String::new();
    for (name, addr) in listeners {
        text.push_str(&format!("{name} {addr}\n"));
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)
}

/// Block until SIGTERM or SIGINT (for programs without a listener); SIGHUP calls `on_hup`.
pub fn wait_for_termination(mut on_hup: impl FnMut()) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    for sig in signals.forever() {
        if sig == SIGHUP {
            on_hup();
        } else {
            break;
        }
    }
    Ok(())
}

/// Main loop of a daemon whose protocol does not exist yet: install the signal handlers,
/// announce readiness without listeners, log, and wait for SIGTERM/SIGINT (SIGHUP reloads the
/// configuration). Handlers come first, so a signal sent right after readiness is handled.
pub fn run_placeholder(mut d: Daemon, what: &str) -> std::process::ExitCode {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    slog::info!(d.log, "started; {} is not implemented yet, nothing is served", what; "event" => "daemon.start", "files" => format!("{:?}", d.config.files()));
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            slog::error!(d.log, "cannot install signal handlers"; "event" => "daemon.signals_failed", "error" => e.to_string());
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = announce_ready(&[]) {
        slog::error!(d.log, "cannot write the ready file"; "event" => "daemon.ready_failed", "error" => e.to_string());
        return std::process::ExitCode::FAILURE;
    }
    for sig in signals.forever() {
        if sig == SIGHUP {
            d.reload();
        } else {
            break;
        }
    }
    slog::info!(d.log, "stopped"; "event" => "daemon.stop");
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;

    fn spec() -> Spec {
        Spec {
            prog: "testd",
            about: "a test daemon",
            files: &["test.cfg"],
            keys: vec![KeyDef::new("test_listen", "127.0.0.1:0", Kind::Listen, "listeners")],
        }
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn help_lists_keys() {
        let Action::Print(text) = parse_args(&spec(), &args(&["--help"])).unwrap() else {
            panic!()
        };
        assert!(text.contains("test_listen [127.0.0.1:0]"));
        assert!(text.contains("testd_log_level [info]"));
        assert!(text.contains("--dump-config"));
    }

    #[test]
    fn bad_config_names_file_line_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("gromox.cfg");
        std::fs::write(&f, "# x\ntest_listen = 127.0.0.1:99999\n").unwrap();
        let err = Daemon::from_args(spec(), &args(&["-c", f.to_str().unwrap()]))
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains("gromox.cfg:2: key \"test_listen\": port 99999 out of range"),
            "{msg}"
        );
    }

    #[test]
    fn overrides_and_dump() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("gromox.cfg");
        std::fs::write(&f, "test_listen = 127.0.0.1:1234\n").unwrap();
        let r = Daemon::from_args(
            spec(),
            &args(&[
                "-c",
                f.to_str().unwrap(),
                "-o",
                "test_listen=127.0.0.1:5",
                "--dump-config",
            ]),
        )
        .unwrap();
        let Err(text) = r else { panic!() };
        assert!(
            text.contains("test_listen = 127.0.0.1:5    # from command line"),
            "{text}"
        );
        assert!(parse_args(&spec(), &args(&["-o", "novalue"])).is_err());
    }
}
