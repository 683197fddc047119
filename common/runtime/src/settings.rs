//! From configuration to [`ServerConfig`]: the one mapping of the standard server keys
//! (`gromox_base::server`) onto the runtime, used by every daemon. TLS files are loaded here,
//! and a problem with them is reported like any other configuration error: with the file,
//! line and key that named them.

use std::time::Duration;

use gromox_base::server::server_settings;
use gromox_base::{Config, ConfigError};

use crate::{Listener, ServerConfig};

/// Build the runtime settings of the daemon with key prefix `prefix` from `cfg`.
/// `max_input` is the protocol's frame cap (most unconsumed input buffered for a session).
pub fn server_config(cfg: &Config, prefix: &str, max_input: usize) -> Result<ServerConfig, ConfigError> {
    let s = server_settings(cfg, prefix)?;
    let tls = match (&s.certificate, &s.private_key) {
        (Some(cert), Some(key)) => Some(crate::tls::load_server_config(cert, key, s.tls_min).map_err(|e| {
            // The error text names the file that failed; attribute it to the key naming it.
            let msg = e.to_string();
            let which = if msg.contains(&key.display().to_string()) {
                format!("{prefix}_private_key_path")
            } else {
                format!("{prefix}_certificate_path")
            };
            cfg.error(&which, msg)
        })?),
        _ => None,
    };
    Ok(ServerConfig {
        listeners: s
            .listeners
            .iter()
            .map(|l| Listener {
                name: l.key,
                addr: l.addr,
                tls: l.tls,
                haproxy: l.haproxy,
            })
            .collect(),
        threads: s.threads,
        context_num: s.context_num,
        idle_timeout: s.idle_timeout,
        session_limit: s.session_max_time,
        max_input,
        tls,
        shutdown_grace: Duration::from_secs(5),
        registry: std::sync::Arc::new(crate::metrics::Registry::new(&format!("gromox_{prefix}"))),
        metrics: s
            .metrics
            .as_ref()
            .map(|(path, interval)| crate::metrics::MetricsExport {
                path: path.clone(),
                interval: *interval,
            }),
        ..ServerConfig::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gromox_base::server::{server_keys, ServerDefaults};
    use std::path::Path;

    const D: ServerDefaults = ServerDefaults {
        prefix: "t",
        listen: "127.0.0.1:0",
        listen_tls: "",
        threads: 3,
        context_num: 10,
        idle: "1min",
    };

    #[test]
    fn maps_keys_and_names_unreadable_certificates() {
        let mut cfg = Config::defaults("td", &server_keys(D));
        let sc = server_config(&cfg, "t", 4096).unwrap();
        assert_eq!((sc.threads, sc.context_num, sc.max_input), (3, 10, 4096));
        assert_eq!(sc.listeners[0].name, "t_listen");
        assert!(sc.tls.is_none());

        cfg.apply_text(
            b"t_listen_tls = 127.0.0.1:0\nt_certificate_path = /nonexistent/cert.pem\nt_private_key_path = /nonexistent/key.pem\n",
            Path::new("/etc/gromox/t.cfg"),
        )
        .unwrap();
        let e = server_config(&cfg, "t", 4096).err().unwrap().to_string();
        assert!(
            e.starts_with("/etc/gromox/t.cfg:2: key \"t_certificate_path\": "),
            "{e}"
        );
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    }
}
