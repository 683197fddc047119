//! imapd's configuration keys (in `imap.cfg` / `gromox.cfg`) and their mapping onto the
//! session [`Config`]. The listener, thread, timeout and TLS keys are the shared server
//! keys of `gromox_base::server` (`imap_listen`, `imap_conn_timeout`, …).

use std::time::Duration;

use std::net::SocketAddr;

use gromox_base::config::{Config as BaseConfig, KeyDef, Kind};
use gromox_base::server::{server_keys, ServerDefaults};
use gromox_base::Spec;

use crate::framer::Limits;
use crate::session::Config;

/// The runtime defaults (Gromox: IMAP on 143, no implicit TLS unless configured).
pub const DEFAULTS: ServerDefaults = ServerDefaults {
    prefix: "imap",
    listen: "[::]:143",
    listen_tls: "",
    threads: 16,
    context_num: 1000,
    idle: "3min",
};

/// Everything the daemon reads: the server keys (`imap_listen`, `imap_listen_tls`, …), the
/// user directory keys, the IMAP keys of [`keys`], and the midbd and eventd addresses.
/// `imap.cfg` comes first, so its values win over the other programs' files.
pub fn spec() -> Spec {
    let mut k = server_keys(DEFAULTS);
    k.extend(gromox_directory::config_keys());
    k.extend(keys());
    k.extend([
        KeyDef::new("midb_listen", "[::1]:5555", Kind::Str, "midbd address (read from midb.cfg)"),
        KeyDef::new("midb_timeout", "60s", Kind::Duration, "timeout of each midbd request step"),
        KeyDef::new(
            "event_listen",
            "[::1]:33333",
            Kind::Str,
            "eventd address: IDLE learns of deliveries and other sessions' changes there, and imapd announces its own (empty: none). Read from event.cfg",
        ),
    ]);
    Spec {
        prog: "imapd",
        about: "IMAP4rev1/IMAP4rev2 server",
        files: &[
            "imap.cfg",
            "midb.cfg",
            "event.cfg",
            "mysql_adaptor.cfg",
            "ldap_adaptor.cfg",
            "authmgr.cfg",
        ],
        keys: k,
    }
}

/// The first address of a `*_listen` key, `None` when empty.
pub fn addr(cfg: &BaseConfig, key: &str) -> Result<Option<SocketAddr>, String> {
    let v = cfg.str(key).trim();
    if v.is_empty() {
        return Ok(None);
    }
    gromox_base::config::parse_listen(v)
        .map(|a| a.into_iter().next())
        .map_err(|e| cfg.error(key, e).to_string())
}

/// The imapd-specific keys with their defaults.
pub fn keys() -> Vec<KeyDef> {
    vec![
        KeyDef::new(
            "imap_force_tls",
            "no",
            Kind::Bool,
            "refuse LOGIN/AUTHENTICATE before TLS (advertises LOGINDISABLED on plaintext)",
        ),
        KeyDef::new(
            "imap_literal_max",
            "64M",
            Kind::Size,
            "largest literal accepted (APPEND message size)",
        ),
        KeyDef::new(
            "imap_line_max",
            "64K",
            Kind::Size,
            "longest command line between literals",
        ),
        KeyDef::new(
            "imap_autologout_time",
            "30min",
            Kind::Duration,
            "idle timeout once logged in (RFC 9051 §5.4: at least 30 minutes)",
        ),
        KeyDef::new(
            "imap_idle_keepalive",
            "2min",
            Kind::Duration,
            "interval of \"* OK Still here\" during IDLE (keeps NAT mappings open)",
        ),
        KeyDef::new(
            "imap_summary_cache",
            "20000",
            Kind::Int { min: 0, max: 10_000_000 },
            "messages whose encoded ENVELOPE and BODYSTRUCTURE imapd keeps in memory for all sessions (well under 1 KB each; 0: none)",
        ),
        KeyDef::new(
            "imap_auth_max_failures",
            "3",
            Kind::Int { min: 1, max: 100 },
            "failed logins before the connection is closed",
        ),
    ]
}

impl Config {
    /// Session settings from loaded configuration. `tls_configured` says whether the
    /// daemon has a certificate (STARTTLS possible).
    pub fn from_base(cfg: &BaseConfig, tls_configured: bool) -> Config {
        let literal_max = cfg.size("imap_literal_max").max(1);
        Config {
            limits: Limits {
                line_max: (cfg.size("imap_line_max") as usize).max(1024),
                literal_max,
                command_max: literal_max.saturating_mul(2).max(1024 * 1024),
                depth_max: Limits::default().depth_max,
            },
            force_tls: cfg.bool("imap_force_tls"),
            tls_configured,
            autologout: cfg.duration("imap_autologout_time").max(Duration::from_secs(60)),
            auth_max_failures: cfg.int("imap_auth_max_failures").clamp(1, 100) as u32,
            idle_keepalive: cfg.duration("imap_idle_keepalive").max(Duration::from_secs(10)),
            ..Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let mut base = BaseConfig::defaults("imapd", &keys());
        let c = Config::from_base(&base, false);
        assert_eq!(c.limits.literal_max, 64 * 1024 * 1024);
        assert_eq!(c.limits.line_max, 64 * 1024);
        assert_eq!(c.autologout, Duration::from_secs(1800));
        assert!(!c.force_tls);
        base.apply_text(
            b"imap_force_tls = yes\nimap_literal_max = 10M\nimap_autologout_time = 1h\n",
            std::path::Path::new("/x/imap.cfg"),
        )
        .unwrap();
        let c = Config::from_base(&base, true);
        assert!(c.force_tls && c.tls_configured);
        assert_eq!(c.limits.literal_max, 10 * 1024 * 1024);
        assert_eq!(c.autologout, Duration::from_secs(3600));
    }
}
