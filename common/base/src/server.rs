//! The configuration keys every listening daemon shares, and their values as plain data
//! ([`ServerSettings`]) for the runtime (`gromox-runtime`) to act on.
//!
//! For a daemon with key prefix `p` (`imap`, `pop3`, `lda`, `http`, `midb`, `exmdb`, `event`,
//! `timer`): `p_listen`, `p_listen_tls`, `p_accept_haproxy`, `p_threads_num`, `p_conn_timeout`,
//! `p_session_max_time`, `p_certificate_path`, `p_private_key_path`, and the unprefixed
//! Gromox keys `context_num` and `tls_min_proto` (set them in the per-program file when
//! daemons need different values).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Config, ConfigError, KeyDef, Kind};

/// Defaults a daemon passes to [`server_keys`].
#[derive(Debug, Clone, Copy)]
pub struct ServerDefaults {
    /// Key prefix, e.g. `imap`.
    pub prefix: &'static str,
    /// Default of `p_listen` (may be empty).
    pub listen: &'static str,
    /// Default of `p_listen_tls` (may be empty).
    pub listen_tls: &'static str,
    /// Default worker threads.
    pub threads: u32,
    /// Default connection cap.
    pub context_num: u32,
    /// Default idle timeout, Gromox duration syntax.
    pub idle: &'static str,
}

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// The key it came from (`imap_listen` or `imap_listen_tls`).
    pub key: &'static str,
    /// Address to bind.
    pub addr: SocketAddr,
    /// Implicit TLS.
    pub tls: bool,
    /// Expect a HAProxy PROXY header first.
    pub haproxy: bool,
}

/// Server settings read from configuration.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Listeners, plain first.
    pub listeners: Vec<ListenerSpec>,
    /// Worker threads.
    pub threads: usize,
    /// Connection cap.
    pub context_num: usize,
    /// Idle timeout.
    pub idle_timeout: Duration,
    /// Absolute session limit (`None`: unlimited).
    pub session_max_time: Option<Duration>,
    /// PEM certificate chain, if TLS is configured.
    pub certificate: Option<PathBuf>,
    /// PEM private key, if TLS is configured.
    pub private_key: Option<PathBuf>,
    /// Minimum TLS version: `"1.2"` or `"1.3"`.
    pub tls_min: &'static str,
    /// Where and how often the runtime counters are exported (`None`: never).
    pub metrics: Option<(PathBuf, Duration)>,
}

fn leak(s: String) -> &'static str {
    // Key names live for the whole program; a handful of small strings per daemon.
    Box::leak(s.into_boxed_str())
}

/// The keys of a listening daemon.
pub fn server_keys(d: ServerDefaults) -> Vec<KeyDef> {
    let p = d.prefix;
    vec![
        KeyDef::new(
            format!("{p}_listen"),
            d.listen,
            Kind::Listen,
            "plain-text listeners, e.g. [::]:143 0.0.0.0:143 (empty: none)",
        ),
        KeyDef::new(
            format!("{p}_listen_tls"),
            d.listen_tls,
            Kind::Listen,
            "implicit-TLS listeners (need the certificate keys)",
        ),
        KeyDef::new(
            format!("{p}_accept_haproxy"),
            "no",
            Kind::Bool,
            "expect a HAProxy PROXY v1/v2 header on every connection",
        ),
        KeyDef::new(
            format!("{p}_threads_num"),
            d.threads.to_string(),
            Kind::Int { min: 1, max: 4096 },
            "worker threads",
        ),
        KeyDef::new(
            "context_num",
            d.context_num.to_string(),
            Kind::Int { min: 1, max: 1_000_000 },
            "maximum simultaneous connections; more are refused with a protocol error",
        ),
        KeyDef::new(
            format!("{p}_conn_timeout"),
            d.idle,
            Kind::Duration,
            "idle time after which a connection is closed",
        ),
        KeyDef::new(
            format!("{p}_session_max_time"),
            "0",
            Kind::Duration,
            "absolute limit on a connection's lifetime (0: none)",
        ),
        KeyDef::new(
            format!("{p}_certificate_path"),
            "",
            Kind::Path,
            "PEM certificate chain for TLS (empty: no TLS)",
        ),
        KeyDef::new(
            format!("{p}_private_key_path"),
            "",
            Kind::Path,
            "PEM private key for TLS",
        ),
        KeyDef::new(
            "tls_min_proto",
            "tls1.2",
            Kind::Choice(&["tls1.2", "tls1.3"]),
            "oldest TLS version accepted",
        ),
        KeyDef::new(
            "metrics_interval",
            "10s",
            Kind::Duration,
            "how often the connection counters are written to <state_path>/run/metrics/<prefix>.prom, which httpd's /metrics serves (0: never)",
        ),
    ]
}

/// Read the server settings of prefix `p` from `cfg` (keys declared by [`server_keys`]).
pub fn server_settings(cfg: &Config, p: &str) -> Result<ServerSettings, ConfigError> {
    let haproxy = cfg.bool(&format!("{p}_accept_haproxy"));
    let mut listeners = Vec::new();
    for (suffix, tls) in [("listen", false), ("listen_tls", true)] {
        let key = format!("{p}_{suffix}");
        for addr in cfg.listen(&key) {
            listeners.push(ListenerSpec {
                key: leak(key.clone()),
                addr,
                tls,
                haproxy,
            });
        }
    }
    let cert_key = format!("{p}_certificate_path");
    let pkey_key = format!("{p}_private_key_path");
    let cert = cfg.path(&cert_key);
    let pkey = cfg.path(&pkey_key);
    let (certificate, private_key) = match (cert.as_os_str().is_empty(), pkey.as_os_str().is_empty()) {
        (true, true) => (None, None),
        (false, false) => (Some(cert), Some(pkey)),
        (true, false) => return Err(cfg.error(&cert_key, "a private key is set but no certificate")),
        (false, true) => return Err(cfg.error(&pkey_key, "a certificate is set but no private key")),
    };
    if certificate.is_none() && listeners.iter().any(|l| l.tls) {
        return Err(cfg.error(
            &format!("{p}_listen_tls"),
            format!("TLS listeners need {cert_key} and {pkey_key}"),
        ));
    }
    let session = cfg.duration(&format!("{p}_session_max_time"));
    Ok(ServerSettings {
        listeners,
        threads: cfg.usize(&format!("{p}_threads_num")).max(1),
        context_num: cfg.usize("context_num").max(1),
        idle_timeout: cfg.duration(&format!("{p}_conn_timeout")),
        session_max_time: (!session.is_zero()).then_some(session),
        certificate,
        private_key,
        tls_min: if cfg.str("tls_min_proto").eq_ignore_ascii_case("tls1.3") {
            "1.3"
        } else {
            "1.2"
        },
        metrics: {
            let every = cfg.duration("metrics_interval");
            let state = cfg.path("state_path");
            (!every.is_zero() && !state.as_os_str().is_empty())
                .then(|| (metrics_dir(&state).join(format!("{p}.prom")), every))
        },
    })
}

/// The directory where daemons export their counters (`<state_path>/run/metrics`).
pub fn metrics_dir(state_path: &std::path::Path) -> PathBuf {
    state_path.join("run").join("metrics")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const D: ServerDefaults = ServerDefaults {
        prefix: "imap",
        listen: "[::]:143",
        listen_tls: "",
        threads: 8,
        context_num: 400,
        idle: "3min",
    };

    #[test]
    fn settings_from_config() {
        let mut cfg = Config::defaults("imapd", &server_keys(D));
        let s = server_settings(&cfg, "imap").unwrap();
        assert_eq!(s.listeners.len(), 1);
        assert_eq!(s.threads, 8);
        assert_eq!(s.context_num, 400);
        assert_eq!(s.idle_timeout, Duration::from_secs(180));
        assert!(s.session_max_time.is_none() && s.certificate.is_none());

        cfg.apply_text(b"imap_listen_tls = 127.0.0.1:993\n", Path::new("/e/imap.cfg"))
            .unwrap();
        let e = server_settings(&cfg, "imap").unwrap_err().to_string();
        assert!(
            e.starts_with("/e/imap.cfg:1: key \"imap_listen_tls\": TLS listeners need"),
            "{e}"
        );
        cfg.apply_text(
            b"imap_certificate_path = /c.pem\nimap_private_key_path=/k.pem\nimap_accept_haproxy = yes\n",
            Path::new("/e/imap.cfg"),
        )
        .unwrap();
        let s = server_settings(&cfg, "imap").unwrap();
        assert_eq!(s.listeners.len(), 2);
        assert!(s.listeners[1].tls && s.listeners[1].haproxy);
        assert_eq!(s.listeners[1].key, "imap_listen_tls");
    }
}
