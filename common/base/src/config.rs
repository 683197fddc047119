//! Gromox-style configuration files.
//!
//! Format (as Gromox's `config_file`): one `key = value` per line, `#` starts a comment line,
//! white space around key and value is trimmed, keys are case-insensitive, a line may be at most
//! 1024 bytes. A daemon reads `gromox.cfg` (suite-wide keys) and then its own per-program files
//! (e.g. `imap.cfg`), which override it. Files are searched along `config_file_path`
//! (colon-separated directories).
//!
//! Every key a program understands is declared as a [`KeyDef`] with a default, a [`Kind`] and a
//! help text. All values are validated when loaded, so a bad value stops the daemon at start
//! with an error naming the file, the line and the key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::duration::{format_duration, parse_duration};
use crate::size::parse_size;

/// Longest accepted line, as in Gromox.
pub const MAX_LINE: usize = 1024;

/// Default directory searched for configuration files.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/gromox";

/// The value type of a key; values are checked against it when loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Free text.
    Str,
    /// `yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0`.
    Bool,
    /// An integer within bounds (inclusive).
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A duration in Gromox syntax ([`crate::duration`]).
    Duration,
    /// A size with binary suffixes ([`crate::size`]).
    Size,
    /// Zero or more listen addresses separated by spaces or commas: `[::]:143 0.0.0.0:143`.
    /// Port 0 asks the system for a free port (tests).
    Listen,
    /// A file or directory path.
    Path,
    /// A log level: `0`–`6` (Gromox numbers: 1 crit … 6 debug) or a name
    /// (`crit`, `error`, `warn`, `notice`, `info`, `debug`, `trace`).
    LogLevel,
    /// One of a fixed set of words (case-insensitive).
    Choice(&'static [&'static str]),
}

/// The declaration of one configuration key.
#[derive(Debug, Clone)]
pub struct KeyDef {
    /// Key name, lower case.
    pub name: String,
    /// Default value, in file syntax.
    pub default: String,
    /// Value type.
    pub kind: Kind,
    /// Whether SIGHUP applies a changed value without restart.
    pub reloadable: bool,
    /// One-line description for `--help` and the sample configuration.
    pub help: String,
}

impl KeyDef {
    /// Declare a key.
    pub fn new(name: impl Into<String>, default: impl Into<String>, kind: Kind, help: impl Into<String>) -> Self {
        KeyDef {
            name: name.into().to_ascii_lowercase(),
            default: default.into(),
            kind,
            reloadable: false,
            help: help.into(),
        }
    }

    /// Mark the key as applied on SIGHUP.
    pub fn reloadable(mut self) -> Self {
        self.reloadable = true;
        self
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The declared default.
    Default,
    /// A configuration file line.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// Set by the program (command line option, launcher, test).
    Override,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File { path, line } => write!(f, "{}:{}", path.display(), line),
            Origin::Override => write!(f, "command line"),
        }
    }
}

/// A configuration error; the message names file, line and key where they are known.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{path}: cannot read configuration: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not `key = value`, too long, or not UTF-8.
    #[error("{path}:{line}: {msg}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A value does not fit its key's type.
    #[error("{origin}: key \"{key}\": {msg}")]
    Value {
        /// Where the value came from.
        origin: Origin,
        /// The key.
        key: String,
        /// What is wrong.
        msg: String,
    },
}

/// A parsed, typed value.
#[derive(Debug, Clone)]
enum Typed {
    Str,
    Bool(bool),
    Int(i64),
    Duration(Duration),
    Size(u64),
    Listen(Vec<SocketAddr>),
    LogLevel(u8),
}

#[derive(Debug, Clone)]
struct Entry {
    raw: String,
    typed: Typed,
    origin: Origin,
}

/// Effective configuration of one program: every declared key with a validated value, plus
/// undeclared keys found in files (kept as text, reported by [`Config::unknown_keys`]).
#[derive(Debug, Clone)]
pub struct Config {
    prog: String,
    defs: Vec<KeyDef>,
    entries: BTreeMap<String, Entry>,
    unknown: BTreeMap<String, (String, Origin)>,
    files: Vec<PathBuf>,
    main_file: Option<PathBuf>,
    per_prog: Vec<String>,
    overrides: Vec<(String, String)>,
}

/// One `key = value` line as read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// Lower-cased key.
    pub key: String,
    /// Trimmed value.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// Parse configuration text into lines (no key validation). This is the decoder the fuzz
/// target exercises: it must never panic.
pub fn parse_text(text: &[u8], path: &Path) -> Result<Vec<RawLine>, ConfigError> {
    let mut out = Vec::new();
    for (idx, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = idx + 1;
        let syntax = |msg: String| ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            msg,
        };
        if raw.len() > MAX_LINE {
            return Err(syntax(format!("line longer than {MAX_LINE} bytes")));
        }
        let s = std::str::from_utf8(raw).map_err(|_| syntax("line is not valid UTF-8".into()))?;
        let s = s.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let Some((k, v)) = s.split_once('=') else {
            return Err(syntax(format!(
                "expected \"key = value\", found \"{}\"",
                truncate(s, 60)
            )));
        };
        let key = k.trim().to_ascii_lowercase();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        {
            return Err(syntax(format!("invalid key name \"{}\"", truncate(k.trim(), 60))));
        }
        out.push(RawLine {
            key,
            value: v.trim().to_string(),
            line,
        });
    }
    Ok(out)
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Parse a log level word or number into Gromox's numbering (1 crit … 6 debug, 7 trace).
pub fn parse_log_level(s: &str) -> Option<u8> {
    match s.trim().to_ascii_lowercase().as_str() {
        "0" | "off" | "none" => Some(0),
        "1" | "crit" | "critical" | "emerg" | "alert" => Some(1),
        "2" | "err" | "error" => Some(2),
        "3" | "warn" | "warning" => Some(3),
        "4" | "notice" => Some(4),
        "5" | "info" => Some(5),
        "6" | "debug" => Some(6),
        "7" | "trace" => Some(7),
        _ => None,
    }
}

/// Parse a listen list (see [`Kind::Listen`]).
pub fn parse_listen(s: &str) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for item in s.split([' ', ',', '\t']).filter(|x| !x.is_empty()) {
        // Check the port separately so "port out of range" is reported as such.
        let port = item
            .rsplit_once(':')
            .map(|(_, p)| p)
            .ok_or_else(|| format!("\"{item}\" lacks a port (expected e.g. [::]:143 or 0.0.0.0:143)"))?;
        match port.parse::<u32>() {
            Ok(p) if p > 65535 => return Err(format!("port {p} out of range (0-65535) in \"{item}\"")),
            Ok(_) => {}
            Err(_) => return Err(format!("invalid port \"{port}\" in \"{item}\"")),
        }
        let addr: SocketAddr = item
            .parse()
            .map_err(|_| format!("invalid address \"{item}\" (IPv6 addresses go in brackets: [::1]:143)"))?;
        out.push(addr);
    }
    Ok(out)
}

fn check(kind: &Kind, raw: &str) -> Result<Typed, String> {
    Ok(match kind {
        Kind::Str | Kind::Path => Typed::Str,
        Kind::Bool => Typed::Bool(match raw.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" => true,
            "no" | "false" | "off" | "0" => false,
            _ => return Err(format!("\"{raw}\" is not a boolean (yes/no, true/false, on/off, 1/0)")),
        }),
        Kind::Int { min, max } => {
            let v: i64 = raw.parse().map_err(|_| format!("\"{raw}\" is not an integer"))?;
            if v < *min || v > *max {
                return Err(format!("{v} out of range ({min}-{max})"));
            }
            Typed::Int(v)
        }
        Kind::Duration => Typed::Duration(parse_duration(raw).map_err(|e| e.to_string())?),
        Kind::Size => Typed::Size(parse_size(raw).map_err(|e| e.to_string())?),
        Kind::Listen => Typed::Listen(parse_listen(raw)?),
        Kind::LogLevel => Typed::LogLevel(parse_log_level(raw).ok_or_else(|| {
            format!("\"{raw}\" is not a log level (0-7, or crit/error/warn/notice/info/debug/trace)")
        })?),
        Kind::Choice(words) => {
            if !words.iter().any(|w| w.eq_ignore_ascii_case(raw)) {
                return Err(format!("\"{raw}\" is not one of: {}", words.join(", ")));
            }
            Typed::Str
        }
    })
}

/// Keys every program understands.
pub fn common_keys(prog: &str) -> Vec<KeyDef> {
    vec![
        KeyDef::new(
            "config_file_path",
            DEFAULT_CONFIG_DIR,
            Kind::Str,
            "colon-separated directories searched for per-program configuration files",
        ),
        KeyDef::new(
            "state_path",
            "/var/lib/gromox",
            Kind::Path,
            "state directory: user directory database, mailboxes, spools",
        ),
        KeyDef::new(
            "hostname",
            "",
            Kind::Str,
            "this host's name (empty: the system host name)",
        ),
        KeyDef::new("default_domain", "", Kind::Str, "domain assumed for bare user names"),
        KeyDef::new(
            format!("{prog}_log_file"),
            "-",
            Kind::Path,
            "log destination: - for standard error, or a file path (appended)",
        )
        .reloadable(),
        KeyDef::new(
            format!("{prog}_log_level"),
            "info",
            Kind::LogLevel,
            "log level: 1 crit, 2 error, 3 warn, 4 notice, 5 info, 6 debug, 7 trace (or the names)",
        )
        .reloadable(),
    ]
}

impl Config {
    /// Load the configuration of `prog`.
    ///
    /// `main`: an explicit file (`-c FILE`, or the `GROMOX_CONFIG` environment variable by the
    /// caller); otherwise `gromox.cfg` in [`DEFAULT_CONFIG_DIR`] if it exists. Then each of
    /// `per_prog` (e.g. `["imap.cfg", "midb.cfg"]`) is searched along `config_file_path`
    /// (default: the main file's directory, then [`DEFAULT_CONFIG_DIR`]); the first copy found
    /// of each overrides what came before, and earlier names win over later ones (the program's
    /// own file is listed first). If the explicit file is itself a per-program file, `gromox.cfg`
    /// beside it is read first and the explicit file wins over every other file.
    pub fn load(prog: &str, main: Option<&Path>, per_prog: &[&str], defs: &[KeyDef]) -> Result<Config, ConfigError> {
        let mut cfg = Config::defaults(prog, defs);
        cfg.main_file = main.map(Path::to_path_buf);
        cfg.per_prog = per_prog.iter().map(|s| s.to_string()).collect();
        cfg.read_files()?;
        Ok(cfg)
    }

    /// A configuration holding only the defaults of `defs` (plus the common keys).
    pub fn defaults(prog: &str, defs: &[KeyDef]) -> Config {
        let mut all = common_keys(prog);
        for d in defs {
            all.retain(|x| x.name != d.name);
            all.push(d.clone());
        }
        let mut cfg = Config {
            prog: prog.to_string(),
            defs: all,
            entries: BTreeMap::new(),
            unknown: BTreeMap::new(),
            files: Vec::new(),
            main_file: None,
            per_prog: Vec::new(),
            overrides: Vec::new(),
        };
        for d in &cfg.defs {
            // Defaults are written by us; a default that does not validate is a programming
            // error, reported loudly in tests (see `defaults_validate`), stored as text here.
            let typed = check(&d.kind, &d.default).unwrap_or(Typed::Str);
            cfg.entries.insert(
                d.name.clone(),
                Entry {
                    raw: d.default.clone(),
                    typed,
                    origin: Origin::Default,
                },
            );
        }
        cfg
    }

    fn read_files(&mut self) -> Result<(), ConfigError> {
        let main = self.main_file.clone();
        let mut search_dirs: Vec<PathBuf> = Vec::new();
        match &main {
            Some(path) => {
                let is_suite = path.file_name().is_some_and(|n| n == "gromox.cfg");
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                if !is_suite {
                    let suite = dir.join("gromox.cfg");
                    if suite.is_file() {
                        self.read_file(&suite)?;
                    }
                }
                self.read_file(path)?;
                search_dirs.push(dir);
            }
            None => {
                let suite = Path::new(DEFAULT_CONFIG_DIR).join("gromox.cfg");
                if suite.is_file() {
                    self.read_file(&suite)?;
                }
            }
        }
        // config_file_path from the files read so far, else the main file's directory.
        if self
            .entries
            .get("config_file_path")
            .is_some_and(|e| e.origin != Origin::Default)
        {
            search_dirs.clear();
        }
        for dir in self.str("config_file_path").split(':').filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            if !search_dirs.contains(&dir) {
                search_dirs.push(dir);
            }
        }
        let main_name = main
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().to_string());
        // The program's own file comes first in `per_prog` and wins: files are applied last
        // to first, and an explicit per-program main file is applied again at the end.
        for name in self.per_prog.clone().iter().rev() {
            if main_name.as_deref() == Some(name.as_str()) {
                continue;
            }
            if let Some(found) = search_dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
                self.read_file(&found)?;
            }
        }
        if let Some(path) = &main {
            if path.file_name().is_none_or(|n| n != "gromox.cfg") && !self.per_prog.is_empty() {
                let text = std::fs::read(path).map_err(|source| ConfigError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                self.apply_text(&text, path)?;
            }
        }
        for (k, v) in self.overrides.clone() {
            self.set(&k, &v)?;
        }
        Ok(())
    }

    /// Read one file over the current values.
    pub fn read_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.apply_text(&text, path)?;
        self.files.push(path.to_path_buf());
        Ok(())
    }

    /// Apply configuration text (as if read from `path`).
    pub fn apply_text(&mut self, text: &[u8], path: &Path) -> Result<(), ConfigError> {
        for l in parse_text(text, path)? {
            let origin = Origin::File {
                path: path.to_path_buf(),
                line: l.line,
            };
            self.put(&l.key, &l.value, origin)?;
        }
        Ok(())
    }

    fn put(&mut self, key: &str, value: &str, origin: Origin) -> Result<(), ConfigError> {
        let key = key.to_ascii_lowercase();
        match self.defs.iter().find(|d| d.name == key) {
            Some(def) => {
                let typed = check(&def.kind, value).map_err(|msg| ConfigError::Value {
                    origin: origin.clone(),
                    key: key.clone(),
                    msg,
                })?;
                self.entries.insert(
                    key,
                    Entry {
                        raw: value.to_string(),
                        typed,
                        origin,
                    },
                );
            }
            None => {
                self.unknown.insert(key, (value.to_string(), origin));
            }
        }
        Ok(())
    }

    /// Set a value as an override (command line, launcher, tests); kept across [`Config::reload`].
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.put(key, value, Origin::Override)?;
        let key = key.to_ascii_lowercase();
        self.overrides.retain(|(k, _)| *k != key);
        self.overrides.push((key, value.to_string()));
        Ok(())
    }

    /// Re-read the same files (SIGHUP). Returns the new configuration; the caller decides which
    /// (reloadable) keys to apply.
    pub fn reload(&self) -> Result<Config, ConfigError> {
        let mut cfg = Config::defaults(&self.prog, &self.defs);
        cfg.main_file = self.main_file.clone();
        cfg.per_prog = self.per_prog.clone();
        cfg.overrides = self.overrides.clone();
        cfg.read_files()?;
        Ok(cfg)
    }

    /// The program name this configuration belongs to.
    pub fn prog(&self) -> &str {
        &self.prog
    }

    /// Files read, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Keys found in files that no declaration knows, with where they were found.
    pub fn unknown_keys(&self) -> impl Iterator<Item = (&str, &Origin)> {
        self.unknown.iter().map(|(k, (_, o))| (k.as_str(), o))
    }

    /// The declarations (common keys first).
    pub fn defs(&self) -> &[KeyDef] {
        &self.defs
    }

    /// Raw text of a key: a declared key's value, an undeclared key's text, or `None`.
    pub fn get(&self, key: &str) -> Option<&str> {
        let key = key.to_ascii_lowercase();
        self.entries
            .get(&key)
            .map(|e| e.raw.as_str())
            .or_else(|| self.unknown.get(&key).map(|(v, _)| v.as_str()))
    }

    /// Where a key's value came from.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.entries.get(&key.to_ascii_lowercase()).map(|e| &e.origin)
    }

    fn typed(&self, key: &str) -> Option<&Typed> {
        let t = self.entries.get(&key.to_ascii_lowercase()).map(|e| &e.typed);
        debug_assert!(t.is_some(), "configuration key {key} is not declared");
        t
    }

    /// Text value (empty when undeclared).
    pub fn str(&self, key: &str) -> &str {
        self.get(key).unwrap_or("")
    }

    /// This host's name: the `hostname` key, else the system's (`/proc/sys/kernel/hostname`),
    /// else `localhost`. Used for greetings and to recognise this host as a home server.
    pub fn hostname(&self) -> String {
        let h = self.str("hostname").trim();
        if !h.is_empty() {
            return h.to_string();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".into())
    }

    /// Path value; relative paths are taken as they are.
    pub fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(self.str(key))
    }

    /// Boolean value (false when undeclared).
    pub fn bool(&self, key: &str) -> bool {
        matches!(self.typed(key), Some(Typed::Bool(true)))
    }

    /// Integer value (0 when undeclared).
    pub fn int(&self, key: &str) -> i64 {
        match self.typed(key) {
            Some(Typed::Int(v)) => *v,
            _ => 0,
        }
    }

    /// Integer value as usize (negative values give 0).
    pub fn usize(&self, key: &str) -> usize {
        usize::try_from(self.int(key)).unwrap_or(0)
    }

    /// Duration value (zero when undeclared).
    pub fn duration(&self, key: &str) -> Duration {
        match self.typed(key) {
            Some(Typed::Duration(d)) => *d,
            _ => Duration::ZERO,
        }
    }

    /// Size value in bytes (0 when undeclared).
    pub fn size(&self, key: &str) -> u64 {
        match self.typed(key) {
            Some(Typed::Size(v)) => *v,
            _ => 0,
        }
    }

    /// Listen addresses (empty when undeclared or disabled).
    pub fn listen(&self, key: &str) -> Vec<SocketAddr> {
        match self.typed(key) {
            Some(Typed::Listen(v)) => v.clone(),
            _ => Vec::new(),
        }
    }

    /// Log level (Gromox numbering, see [`parse_log_level`]).
    pub fn log_level(&self, key: &str) -> u8 {
        match self.typed(key) {
            Some(Typed::LogLevel(v)) => *v,
            _ => 5,
        }
    }

    /// An error about a key's value, naming where the value came from (for checks a program
    /// makes beyond the type, e.g. an unreadable certificate file).
    pub fn error(&self, key: &str, msg: impl Into<String>) -> ConfigError {
        ConfigError::Value {
            origin: self.origin(key).cloned().unwrap_or(Origin::Default),
            key: key.to_string(),
            msg: msg.into(),
        }
    }

    /// The effective configuration as `key = value` lines with their origins (`--dump-config`).
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for d in &self.defs {
            if let Some(e) = self.entries.get(&d.name) {
                let shown = match &e.typed {
                    Typed::Duration(dur) if !e.raw.is_empty() => format!("{}  # {}", e.raw, format_duration(*dur)),
                    _ if d.name.contains("password") && !e.raw.is_empty() => "(set)".to_string(),
                    _ => e.raw.clone(),
                };
                out.push_str(&format!("{} = {}    # from {}\n", d.name, shown, e.origin));
            }
        }
        for (k, (_, o)) in &self.unknown {
            out.push_str(&format!("# unknown key {k} (from {o}) is ignored\n"));
        }
        out
    }
}

/// `--help` text for a program's keys.
pub fn keys_help(prog: &str, defs: &[KeyDef]) -> String {
    let cfg = Config::defaults(prog, defs);
    let mut out = String::from("Configuration keys (default in brackets):\n");
    for d in cfg.defs() {
        let reload = if d.reloadable { " (SIGHUP)" } else { "" };
        out.push_str(&format!("  {} [{}]{}\n      {}\n", d.name, d.default, reload, d.help));
    }
    out
}

/// A commented sample file with every key of a program at its default (`--sample-config`;
/// the files in `etc/` are made with it and a test keeps them in step).
pub fn sample_config(prog: &str, about: &str, files: &[&str], defs: &[KeyDef]) -> String {
    let cfg = Config::defaults(prog, defs);
    let file = files.first().copied().unwrap_or("gromox.cfg");
    let mut out = format!(
        "# {file}: configuration of {prog}, {about}.\n\
         # Every key is shown commented out at its default. Keys may also be set in gromox.cfg;\n\
         # this file overrides it. Durations: 1d1h1m1s, 3.5 hours, 250ms. Sizes: 64K, 10M, 1G.\n"
    );
    for d in cfg.defs() {
        let reload = if d.reloadable { " Applied on SIGHUP." } else { "" };
        out.push_str(&format!("\n# {}.{}\n#{} = {}\n", d.help, reload, d.name, d.default));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn defs() -> Vec<KeyDef> {
        vec![
            KeyDef::new("imap_listen", "[::]:143", Kind::Listen, "plain listeners"),
            KeyDef::new("imap_threads_num", "8", Kind::Int { min: 1, max: 1000 }, "workers"),
            KeyDef::new("imap_conn_timeout", "3min", Kind::Duration, "idle timeout"),
            KeyDef::new("imap_force_tls", "no", Kind::Bool, "force TLS"),
            KeyDef::new("mail_max_length", "64M", Kind::Size, "max mail"),
            KeyDef::new(
                "auth_backend_selection",
                "ldap",
                Kind::Choice(&["ldap", "allow_all", "deny_all"]),
                "auth",
            ),
        ]
    }

    #[test]
    fn defaults_validate() {
        let cfg = Config::defaults("imapd", &defs());
        for d in cfg.defs() {
            check(&d.kind, &d.default).unwrap_or_else(|e| panic!("default of {}: {e}", d.name));
        }
        assert_eq!(cfg.int("imap_threads_num"), 8);
        assert_eq!(cfg.duration("imap_conn_timeout"), Duration::from_secs(180));
        assert_eq!(cfg.size("mail_max_length"), 64 << 20);
        assert_eq!(cfg.listen("imap_listen").len(), 1);
        assert!(!cfg.bool("imap_force_tls"));
    }

    #[test]
    fn file_values_and_comments() {
        let mut cfg = Config::defaults("imapd", &defs());
        let text = b"# comment\n  IMAP_Listen = 127.0.0.1:10143 [::1]:10143  \n\nimap_force_tls=yes\nimap_conn_timeout = 1 hour 60 minutes\nfoo = bar\n";
        cfg.apply_text(text, Path::new("/x/imap.cfg")).unwrap();
        assert_eq!(cfg.listen("imap_listen").len(), 2);
        assert!(cfg.bool("imap_force_tls"));
        assert_eq!(cfg.duration("imap_conn_timeout"), Duration::from_secs(7200));
        assert_eq!(cfg.get("foo"), Some("bar"));
        assert_eq!(cfg.unknown_keys().count(), 1);
        assert_eq!(
            cfg.origin("imap_force_tls"),
            Some(&Origin::File {
                path: "/x/imap.cfg".into(),
                line: 4
            })
        );
    }

    fn err_of(text: &str) -> String {
        let mut cfg = Config::defaults("imapd", &defs());
        cfg.apply_text(text.as_bytes(), Path::new("/etc/gromox/imap.cfg"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_file_line_key() {
        let e = err_of("\nimap_conn_timeout = 5 fortnights\n");
        assert_eq!(
            e,
            "/etc/gromox/imap.cfg:2: key \"imap_conn_timeout\": unknown duration unit \"fortnights\""
        );
        let e = err_of("imap_listen = [::]:70000\n");
        assert!(
            e.starts_with("/etc/gromox/imap.cfg:1: key \"imap_listen\": port 70000 out of range"),
            "{e}"
        );
        let e = err_of("imap_threads_num = 0\n");
        assert!(
            e.contains(":1: key \"imap_threads_num\": 0 out of range (1-1000)"),
            "{e}"
        );
        let e = err_of("auth_backend_selection = maybe\n");
        assert!(e.contains("is not one of: ldap, allow_all, deny_all"), "{e}");
        let e = err_of("no equals sign here\n");
        assert!(e.starts_with("/etc/gromox/imap.cfg:1: expected"), "{e}");
        let long = format!("x = {}\n", "a".repeat(2000));
        assert!(err_of(&long).contains("longer than 1024"));
        assert!(err_of("imap_listen = localhost\n").contains("lacks a port"));
    }

    #[test]
    fn suite_and_per_program_files_layered() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let mut f = std::fs::File::create(dir.path().join(name)).unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        write("gromox.cfg", "imap_threads_num = 4\nimap_force_tls = yes\n");
        write("imap.cfg", "imap_threads_num = 12\n");
        let cfg = Config::load("imapd", Some(&dir.path().join("gromox.cfg")), &["imap.cfg"], &defs()).unwrap();
        assert_eq!(cfg.int("imap_threads_num"), 12);
        assert!(cfg.bool("imap_force_tls"));
        assert_eq!(cfg.files().len(), 2);

        // An explicit per-program file pulls in gromox.cfg beside it first.
        let cfg = Config::load("imapd", Some(&dir.path().join("imap.cfg")), &["imap.cfg"], &defs()).unwrap();
        assert_eq!(cfg.int("imap_threads_num"), 12);
        assert!(cfg.bool("imap_force_tls"));

        // Overrides survive reload; file edits are picked up.
        let mut cfg = cfg;
        cfg.set("imap_force_tls", "no").unwrap();
        write("imap.cfg", "imap_threads_num = 3\n");
        let cfg = cfg.reload().unwrap();
        assert_eq!(cfg.int("imap_threads_num"), 3);
        assert!(!cfg.bool("imap_force_tls"));

        // The program's own file (listed first) wins over other programs' files it also reads,
        // whether found along the search path or given explicitly.
        write("imap.cfg", "imap_threads_num = 7\n");
        write("midb.cfg", "imap_threads_num = 99\nimap_force_tls = no\n");
        for main in ["gromox.cfg", "imap.cfg"] {
            let cfg = Config::load(
                "imapd",
                Some(&dir.path().join(main)),
                &["imap.cfg", "midb.cfg"],
                &defs(),
            )
            .unwrap();
            assert_eq!(cfg.int("imap_threads_num"), 7, "{main}");
            assert!(
                !cfg.bool("imap_force_tls"),
                "{main}: midb.cfg still overrides gromox.cfg"
            );
        }

        let missing = Config::load("imapd", Some(&dir.path().join("nope.cfg")), &[], &defs()).unwrap_err();
        assert!(missing.to_string().contains("nope.cfg: cannot read configuration"));
    }

    #[test]
    fn dump_hides_passwords_and_help_lists_defaults() {
        let mut d = defs();
        d.push(KeyDef::new("mysql_password", "", Kind::Str, "pw"));
        let mut cfg = Config::defaults("imapd", &d);
        cfg.set("mysql_password", "s3cret").unwrap();
        let dump = cfg.dump();
        assert!(!dump.contains("s3cret"));
        assert!(dump.contains("mysql_password = (set)"));
        assert!(dump.contains("imap_conn_timeout = 3min  # 3min    # from default"));
        let help = keys_help("imapd", &d);
        assert!(help.contains("imap_threads_num [8]"));
        assert!(help.contains("imapd_log_level [info] (SIGHUP)"));
    }
}
