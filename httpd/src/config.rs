//! Configuration keys of httpd (`http.cfg`) and building the application from them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gromox_base::acl::HostsAllow;
use gromox_base::server::{server_keys, ServerDefaults};
use gromox_base::{Config, KeyDef, Kind, Spec};
use slog::Logger;

use crate::app::{App, Settings};
use crate::auth::{Authenticator, MemUsers, Users};
use crate::autodiscover::AdSettings;
use crate::metrics::Metrics;
use crate::rewrite::Rewriter;

/// Defaults of the standard server keys.
pub const DEFAULTS: ServerDefaults = ServerDefaults {
    prefix: "http",
    listen: "[::]:80",
    listen_tls: "",
    threads: 8,
    context_num: 400,
    idle: "3min",
};

/// The program spec: every key with its default.
pub fn spec() -> Spec {
    let mut keys = server_keys(DEFAULTS);
    keys.extend(gromox_directory::config_keys());
    // Everything below is re-read on SIGHUP (with rewrite.txt, fastcgi.txt and cache.txt).
    let k = |n: &str, d: &str, kind: Kind, h: &str| KeyDef::new(n, d, kind, h).reloadable();
    let port = Kind::Int { min: 1, max: 65535 };
    let sock = Kind::Choice(&["SSL", "STARTTLS", "plain"]);
    keys.extend([
        k(
            "http_request_timeout",
            "30s",
            Kind::Duration,
            "time allowed to send a complete request head (slow clients are closed with 408)",
        ),
        k(
            "http_header_max_size",
            "32K",
            Kind::Size,
            "largest request head (request line and header fields); larger: 431",
        ),
        k(
            "http_rqbody_max_size",
            "50M",
            Kind::Size,
            "largest request body; larger: 413, refused from Content-Length before reading",
        ),
        k(
            "http_remote_host_hdr",
            "",
            Kind::Str,
            "header carrying the real client address from a trusted reverse proxy, e.g. X-Forwarded-For (empty: none)",
        ),
        k(
            "http_server_name",
            "gromox-rs",
            Kind::Str,
            "value of the Server response header (empty: none)",
        ),
        k(
            "http_auth_cache_lifetime",
            "60s",
            Kind::Duration,
            "how long verified Basic credentials are cached (as a salted hash; 0: no cache)",
        ),
        k(
            "http_auth_max_failures",
            "10",
            Kind::Int { min: 1, max: 1_000_000 },
            "failed logins per client address within http_auth_failure_window before answering 429",
        ),
        k(
            "http_auth_failure_window",
            "5min",
            Kind::Duration,
            "window of http_auth_max_failures",
        ),
        k("http_auth_realm", "gromox", Kind::Str, "realm of the Basic challenge"),
        k(
            "http_metrics_hosts_allow",
            "127.0.0.1 ::1",
            Kind::Str,
            "client addresses or CIDR prefixes allowed to read /metrics",
        ),
        k(
            "http_fastcgi_exec_timeout",
            "10min",
            Kind::Duration,
            "longest FastCGI exchange",
        ),
        k(
            "http_users_file",
            "",
            Kind::Path,
            "a user list to use instead of the user directory (tests, appliances): email<TAB>sha256$salt$hex<TAB>display name",
        ),
        k(
            "http_external_host",
            "",
            Kind::Str,
            "host name (with :port when not 443) clients reach this server by, used in AutoDiscover URLs (empty: hostname)",
        ),
        k(
            "x500_org_name",
            "Gromox default",
            Kind::Str,
            "X.500 organisation name in legacy DNs (AutoDiscover)",
        ),
        k(
            "http_dav_path",
            "/dav/",
            Kind::Str,
            "target of the /.well-known/caldav and /.well-known/carddav redirects",
        ),
        k(
            "autoconfig_imap_host",
            "",
            Kind::Str,
            "IMAP host offered by autoconfig (empty: http_external_host)",
        ),
        k(
            "autoconfig_imap_port",
            "993",
            port.clone(),
            "IMAP port offered by autoconfig",
        ),
        k(
            "autoconfig_imap_socket",
            "SSL",
            sock.clone(),
            "IMAP socket type offered by autoconfig",
        ),
        k(
            "autoconfig_pop3_host",
            "",
            Kind::Str,
            "POP3 host offered by autoconfig (empty: http_external_host)",
        ),
        k(
            "autoconfig_pop3_port",
            "995",
            port.clone(),
            "POP3 port offered by autoconfig",
        ),
        k(
            "autoconfig_pop3_socket",
            "SSL",
            sock.clone(),
            "POP3 socket type offered by autoconfig",
        ),
        k(
            "autoconfig_smtp_host",
            "",
            Kind::Str,
            "SMTP submission host offered by autoconfig (empty: http_external_host)",
        ),
        k(
            "autoconfig_smtp_port",
            "465",
            port,
            "SMTP submission port offered by autoconfig",
        ),
        k(
            "autoconfig_smtp_socket",
            "SSL",
            sock,
            "SMTP socket type offered by autoconfig",
        ),
    ]);
    Spec {
        prog: "httpd",
        about: "Gromox HTTP server: AutoDiscover, autoconfig, FastCGI, static files (EWS, MAPI/HTTP, RPC/HTTP to come)",
        files: &["http.cfg", "mysql_adaptor.cfg", "ldap_adaptor.cfg", "authmgr.cfg"],
        keys,
    }
}

/// Where `rewrite.txt`, `fastcgi.txt` and `cache.txt` are looked for: `config_file_path`,
/// then the directories of the configuration files read.
pub fn data_dirs(cfg: &Config) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = cfg
        .str("config_file_path")
        .split(':')
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect();
    for f in cfg.files() {
        if let Some(d) = f.parent() {
            if !v.iter().any(|x| x == d) {
                v.push(d.to_path_buf());
            }
        }
    }
    v
}

fn read_list(dirs: &[PathBuf], name: &str) -> Result<Option<(PathBuf, String)>, String> {
    for d in dirs {
        let p = d.join(name);
        match std::fs::read_to_string(&p) {
            Ok(t) => return Ok(Some((p, t))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", p.display())),
        }
    }
    Ok(None)
}

/// Build the application from a loaded configuration. `users` overrides the user source (tests);
/// otherwise `http_users_file` is read if set, else the user directory is used. Errors name the
/// file or key.
pub fn build_app(cfg: &Config, users: Option<Arc<dyn Users>>, log: &Logger) -> Result<App, String> {
    build_app_with(cfg, users, Arc::new(crate::metrics::registry()), log)
}

/// [`build_app`] keeping an existing metrics registry (configuration reload on SIGHUP).
pub fn build_app_with(
    cfg: &Config,
    users: Option<Arc<dyn Users>>,
    metrics: Arc<Metrics>,
    log: &Logger,
) -> Result<App, String> {
    let dirs = data_dirs(cfg);
    let parse_err = |p: &Path, e: String| format!("{}: {e}", p.display());
    let rewrite = match read_list(&dirs, "rewrite.txt")? {
        Some((p, t)) => Rewriter::parse(&t).map_err(|e| parse_err(&p, e))?,
        None => Rewriter::default(),
    };
    let fcgi = match read_list(&dirs, "fastcgi.txt")? {
        Some((p, t)) => crate::fastcgi::parse_fastcgi_txt(&t).map_err(|e| parse_err(&p, e))?,
        None => Vec::new(),
    };
    let statics = match read_list(&dirs, "cache.txt")? {
        Some((p, t)) => crate::statics::parse_cache_txt(&t).map_err(|e| parse_err(&p, e))?,
        None => Vec::new(),
    };
    let users: Arc<dyn Users> = match users {
        Some(u) => u,
        None => {
            let f = cfg.path("http_users_file");
            if f.as_os_str().is_empty() {
                Arc::new(crate::users::DirectoryUsers::new(cfg, log.clone()))
            } else {
                let t = std::fs::read_to_string(&f).map_err(|e| format!("http_users_file {}: {e}", f.display()))?;
                Arc::new(MemUsers::parse_file(&t).map_err(|e| parse_err(&f, e))?)
            }
        }
    };
    let metrics_allow = HostsAllow::parse(cfg.str("http_metrics_hosts_allow"))
        .map_err(|e| cfg.error("http_metrics_hosts_allow", e).to_string())?;
    let mut host = cfg.str("http_external_host").to_string();
    if host.is_empty() {
        host = cfg.hostname();
    }
    let svc = |p: &str| {
        let h = cfg.str(&format!("autoconfig_{p}_host"));
        (
            if h.is_empty() {
                // The HTTPS port of http_external_host is not the service's.
                strip_port(&host).to_string()
            } else {
                h.to_string()
            },
            cfg.int(&format!("autoconfig_{p}_port")) as u16,
            cfg.str(&format!("autoconfig_{p}_socket")).to_string(),
        )
    };
    let ad = AdSettings {
        host: host.clone(),
        org: cfg.str("x500_org_name").to_string(),
        imap: svc("imap"),
        pop3: svc("pop3"),
        smtp: svc("smtp"),
        dav_path: cfg.str("http_dav_path").to_string(),
    };
    let settings = Settings {
        max_head: cfg.size("http_header_max_size").clamp(1024, 1 << 24) as usize,
        max_body: cfg.size("http_rqbody_max_size"),
        request_timeout: cfg.duration("http_request_timeout").max(Duration::from_millis(100)),
        idle_timeout: cfg.duration("http_conn_timeout").max(Duration::from_secs(1)),
        remote_host_hdr: cfg.str("http_remote_host_hdr").to_string(),
        server_name: cfg.str("http_server_name").to_string(),
        metrics_allow,
        metrics_dir: gromox_base::server::metrics_dir(&cfg.path("state_path")),
        fcgi_timeout: cfg.duration("http_fastcgi_exec_timeout").max(Duration::from_secs(1)),
        realm: cfg.str("http_auth_realm").replace('"', ""),
        ad,
    };
    let auth = Authenticator::new(
        users,
        cfg.duration("http_auth_cache_lifetime"),
        cfg.int("http_auth_max_failures").max(1) as u32,
        cfg.duration("http_auth_failure_window"),
        log.clone(),
    );
    slog::info!(log, "routing configured"; "event" => "http.routes", "rewrite_rules" => rewrite.len(),
        "fastcgi_routes" => fcgi.len(), "static_routes" => statics.len(), "external_host" => host);
    Ok(App::new(settings, rewrite, fcgi, statics, auth, metrics, log.clone()))
}

/// `host:port` → `host`; `[v6]:port` → `[v6]`; a bare host or IPv6 address is kept.
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, p))
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (!h.contains(':') || h.ends_with(']')) =>
        {
            h
        }
        _ => host,
    }
}

#[cfg(test)]
mod strip_port_tests {
    use super::strip_port;

    #[test]
    fn the_https_port_is_not_offered_for_imap() {
        assert_eq!(strip_port("localhost:10443"), "localhost");
        assert_eq!(strip_port("mail.example.org"), "mail.example.org");
        assert_eq!(strip_port("[::1]:443"), "[::1]");
        assert_eq!(strip_port("::1"), "::1");
    }
}
