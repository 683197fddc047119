//! Shared foundations of every gromox-rs program: Gromox-style configuration files
//! ([`config`]), durations and sizes ([`duration`], [`size`]), logging with stable event names
//! and the fail2ban authentication line ([`log`]), the common daemon command line ([`daemon`]),
//! host access lists ([`acl`]) and validation of names that become paths ([`names`]).
//!
//! Nothing here opens a mailbox or a socket.

pub mod acl;
pub mod config;
pub mod daemon;
pub mod duration;
pub mod log;
pub mod names;
pub mod server;
pub mod size;

pub use config::{Config, ConfigError, KeyDef, Kind};
pub use daemon::{Daemon, Spec};

/// Entry points for fuzz targets (`common/base/fuzz`); the seed corpus runs as unit tests.
pub mod fuzzing {
    /// Configuration parser: must never panic.
    pub fn config(data: &[u8]) {
        if let Ok(lines) = crate::config::parse_text(data, std::path::Path::new("fuzz.cfg")) {
            let mut cfg = crate::Config::defaults("fuzz", &[]);
            for l in lines {
                let _ = cfg.set(&l.key, &l.value);
            }
            let _ = cfg.dump();
        }
    }

    /// Duration parser: must never panic; a parsed value formats and re-parses to itself.
    pub fn duration(data: &[u8]) {
        if let Ok(s) = std::str::from_utf8(data) {
            if let Ok(d) = crate::duration::parse_duration(s) {
                let again = crate::duration::parse_duration(&crate::duration::format_duration(d));
                assert_eq!(again.ok(), Some(d));
            }
            let _ = crate::size::parse_size(s);
            let _ = crate::config::parse_listen(s);
        }
    }
}
