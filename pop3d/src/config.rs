//! pop3d's configuration: the shared server keys with prefix `pop3` (`pop3_listen` 110,
//! `pop3_listen_tls` 995, `pop3_conn_timeout`, certificates, …), the user directory keys, the
//! POP3 keys below, and the addresses of midbd (`midb_listen`, read from midb.cfg) and eventd
//! (`event_listen`, read from event.cfg).

use std::net::SocketAddr;
use std::time::Duration;

use gromox_base::server::{server_keys, ServerDefaults};
use gromox_base::{Config, KeyDef, Kind, Spec};

use crate::session::Settings;

/// Runtime defaults (Gromox: POP3 on 110, POP3S on 995 once a certificate is configured).
pub const DEFAULTS: ServerDefaults = ServerDefaults {
    prefix: "pop3",
    listen: "[::]:110",
    listen_tls: "",
    threads: 16,
    context_num: 400,
    idle: "3min",
};

/// The program spec: every key pop3d reads, with defaults.
pub fn spec() -> Spec {
    let mut keys = server_keys(DEFAULTS);
    keys.extend(gromox_directory::config_keys());
    keys.extend([
        KeyDef::new(
            "pop3_force_tls",
            "no",
            Kind::Bool,
            "refuse USER/PASS/AUTH before TLS (STLS or pop3_listen_tls); CAPA then omits USER and SASL",
        ),
        KeyDef::new(
            "pop3_autologout_time",
            "10min",
            Kind::Duration,
            "idle timeout once logged in (RFC 1939: at least 10 minutes); before login pop3_conn_timeout applies",
        ),
        KeyDef::new(
            "pop3_auth_max_failures",
            "3",
            Kind::Int { min: 1, max: 100 },
            "failed logins after which the connection is closed",
        ),
        KeyDef::new(
            "pop3_max_errors",
            "20",
            Kind::Int { min: 1, max: 10_000 },
            "refused commands (unknown, bad arguments, over-long lines) after which the connection is closed",
        ),
        KeyDef::new(
            "midb_listen",
            "[::1]:5555",
            Kind::Str,
            "midbd address (read from midb.cfg)",
        ),
        KeyDef::new(
            "midb_timeout",
            "60s",
            Kind::Duration,
            "timeout of each midbd request step",
        ),
        KeyDef::new(
            "event_listen",
            "[::1]:33333",
            Kind::Str,
            "eventd address; removals at QUIT are announced there (FOLDER-TOUCH) for IMAP IDLE (empty: none). Read from event.cfg",
        ),
    ]);
    Spec {
        prog: "pop3d",
        about: "POP3 server",
        // pop3.cfg, the midbd and eventd files, and gromox_directory::CONFIG_FILES.
        // pop3.cfg first: it wins over the other programs' files.
        files: &[
            "pop3.cfg",
            "midb.cfg",
            "event.cfg",
            "mysql_adaptor.cfg",
            "ldap_adaptor.cfg",
            "authmgr.cfg",
        ],
        keys,
    }
}

/// Session settings from configuration; `tls_configured`: a certificate is loaded.
pub fn settings(cfg: &Config, tls_configured: bool) -> Settings {
    Settings {
        force_tls: cfg.bool("pop3_force_tls"),
        tls_configured,
        auth_max_failures: cfg.int("pop3_auth_max_failures").clamp(1, 100) as u32,
        max_errors: cfg.int("pop3_max_errors").clamp(1, 10_000) as u32,
        autologout: cfg.duration("pop3_autologout_time").max(Duration::from_secs(1)),
    }
}

/// The first address of a listen-style key, `None` when empty.
pub fn addr(cfg: &Config, key: &str) -> Result<Option<SocketAddr>, String> {
    let v = cfg.str(key).trim();
    if v.is_empty() {
        return Ok(None);
    }
    gromox_base::config::parse_listen(v)
        .map(|a| a.into_iter().next())
        .map_err(|e| cfg.error(key, e).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let mut cfg = Config::defaults("pop3d", &spec().keys);
        let s = settings(&cfg, false);
        assert!(!s.force_tls);
        assert_eq!(s.autologout, Duration::from_secs(600));
        assert_eq!(s.auth_max_failures, 3);
        assert_eq!(addr(&cfg, "midb_listen").unwrap(), Some("[::1]:5555".parse().unwrap()));
        cfg.apply_text(
            b"pop3_force_tls = yes\npop3_autologout_time = 1h\nevent_listen =\n",
            std::path::Path::new("/x/pop3.cfg"),
        )
        .unwrap();
        let s = settings(&cfg, true);
        assert!(s.force_tls && s.tls_configured);
        assert_eq!(s.autologout, Duration::from_secs(3600));
        assert_eq!(addr(&cfg, "event_listen").unwrap(), None);
    }
}
