//! Request routing in Gromox's order: rewrite rules, registered endpoint handlers (keyed by path
//! prefix), FastCGI, static files, otherwise 404.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gromox_base::acl::HostsAllow;
use slog::Logger;

use crate::auth::{AuthOutcome, Authenticator, UserInfo};
use crate::autodiscover::{self, AdSettings};
use crate::fastcgi::{self, FcgiRoute};
use crate::http::{query_param, Head};
use crate::metrics::Metrics;
use crate::response::Response;
use crate::rewrite::Rewriter;
use crate::statics::{self, host_of, StaticRoute};

/// Settings of the HTTP layer (from the `http_*` keys).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest request head (`http_header_max_size`).
    pub max_head: usize,
    /// Largest request body (`http_rqbody_max_size`).
    pub max_body: u64,
    /// Time allowed for a complete request head (`http_request_timeout`).
    pub request_timeout: Duration,
    /// Idle time between requests (`http_conn_timeout`).
    pub idle_timeout: Duration,
    /// Header naming the real client address (`http_remote_host_hdr`); empty: none.
    pub remote_host_hdr: String,
    /// `Server` header value (`http_server_name`); empty: none.
    pub server_name: String,
    /// Who may read `/metrics` (`http_metrics_hosts_allow`).
    pub metrics_allow: HostsAllow,
    /// Where the other daemons export their counters (`<state_path>/run/metrics`).
    pub metrics_dir: std::path::PathBuf,
    /// FastCGI exchange timeout (`http_fastcgi_exec_timeout`).
    pub fcgi_timeout: Duration,
    /// Basic auth realm.
    pub realm: String,
    /// AutoDiscover/autoconfig facts.
    pub ad: AdSettings,
}

/// A complete request as handlers see it.
#[derive(Debug)]
pub struct Request {
    /// The request head.
    pub head: Head,
    /// The body (decoded from chunked when needed).
    pub body: Vec<u8>,
    /// Client address (from `http_remote_host_hdr` when configured and present).
    pub peer: SocketAddr,
    /// Local address.
    pub local: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// Path after rewriting (still percent-encoded).
    pub path: String,
    /// Query after rewriting.
    pub query: String,
}

/// An endpoint handler (AutoDiscover now; EWS, MAPI/HTTP, RPC/HTTP later).
pub trait Endpoint: Send + Sync {
    /// Label for metrics and the access log.
    fn name(&self) -> &'static str;
    /// Whether the request needs an authenticated user.
    fn needs_auth(&self, _req: &Request) -> bool {
        false
    }
    /// Produce the response.
    fn handle(&self, req: &Request, user: Option<&UserInfo>, app: &App) -> Response;
}

/// Endpoints keyed by path prefix (case-insensitive, whole segments; longest wins).
#[derive(Default)]
pub struct Registry {
    entries: Vec<(String, Arc<dyn Endpoint>)>,
}

impl Registry {
    /// Register `ep` for `prefix`.
    pub fn register(&mut self, prefix: &str, ep: Arc<dyn Endpoint>) {
        self.entries
            .push((prefix.trim_end_matches('/').to_ascii_lowercase(), ep));
        self.entries.sort_by_key(|e| std::cmp::Reverse(e.0.len()));
    }

    /// The endpoint for `path`.
    pub fn find(&self, path: &str) -> Option<&Arc<dyn Endpoint>> {
        self.entries
            .iter()
            .find(|(p, _)| statics::strip_prefix_segment(path, p).is_some())
            .map(|(_, e)| e)
    }
}

/// The application: everything a request is routed through.
pub struct App {
    /// Settings.
    pub settings: Settings,
    rewrite: Rewriter,
    endpoints: Registry,
    fastcgi: Vec<FcgiRoute>,
    statics: Vec<StaticRoute>,
    /// Authentication.
    pub auth: Authenticator,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Logger.
    pub log: Logger,
}

impl App {
    /// Build the application with the built-in endpoints registered.
    pub fn new(
        settings: Settings,
        rewrite: Rewriter,
        fastcgi: Vec<FcgiRoute>,
        statics: Vec<StaticRoute>,
        auth: Authenticator,
        metrics: Arc<Metrics>,
        log: Logger,
    ) -> App {
        let mut endpoints = Registry::default();
        endpoints.register("/autodiscover/autodiscover.xml", Arc::new(PoxEndpoint));
        endpoints.register("/autodiscover/autodiscover.json", Arc::new(JsonEndpoint));
        endpoints.register(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            Arc::new(AutoconfigEndpoint),
        );
        endpoints.register("/mail/config-v1.1.xml", Arc::new(AutoconfigEndpoint));
        endpoints.register("/.well-known/caldav", Arc::new(DavRedirect));
        endpoints.register("/.well-known/carddav", Arc::new(DavRedirect));
        endpoints.register("/metrics", Arc::new(MetricsEndpoint));
        App {
            settings,
            rewrite,
            endpoints,
            fastcgi,
            statics,
            auth,
            metrics,
            log,
        }
    }

    /// Register another endpoint (EWS, MAPI/HTTP, … later).
    pub fn register(&mut self, prefix: &str, ep: Arc<dyn Endpoint>) {
        self.endpoints.register(prefix, ep);
    }

    fn authenticate(&self, req: &Request) -> Result<UserInfo, Response> {
        let (outcome, failed) = self.auth.check(req.head.header("authorization"), req.peer);
        if failed {
            self.metrics.auth_failure();
        }
        match outcome {
            AuthOutcome::User(u) => Ok(u),
            AuthOutcome::Challenge => Err(Response::status(401).header(
                "WWW-Authenticate",
                format!("Basic realm=\"{}\", charset=\"UTF-8\"", self.settings.realm),
            )),
            AuthOutcome::Limited => Err(Response::status(429).header("Retry-After", "60")),
            AuthOutcome::Unavailable => Err(Response::status(503)),
        }
    }

    /// Route and answer one request.
    pub fn handle(&self, req: &mut Request) -> Response {
        if let Some(new) = self.rewrite.rewrite(&req.head.target) {
            let (p, q) = new.split_once('?').unwrap_or((&new, ""));
            req.path = p.to_string();
            req.query = q.to_string();
        }
        if let Some(ep) = self.endpoints.find(&req.path) {
            let name = ep.name();
            let user = if ep.needs_auth(req) {
                match self.authenticate(req) {
                    Ok(u) => Some(u),
                    Err(r) => return r.endpoint(name),
                }
            } else {
                None
            };
            let mut resp = ep.handle(req, user.as_ref(), self).endpoint(name);
            resp.user = user.map(|u| u.email);
            return resp;
        }
        let host = host_of(&req.head).to_string();
        if let Some(t) = fastcgi::resolve(&self.fastcgi, &host, &req.path) {
            return self.run_fastcgi(req, &host, t).endpoint("fastcgi");
        }
        if let Some(file) = statics::resolve(&self.statics, &host, &req.path) {
            if req.head.method != "GET" && req.head.method != "HEAD" {
                return Response::status(405).header("Allow", "GET, HEAD").endpoint("static");
            }
            return statics::serve_file(&req.head, &file).endpoint("static");
        }
        Response::status(404).endpoint("notfound")
    }

    fn run_fastcgi(&self, req: &Request, host: &str, t: fastcgi::Target) -> Response {
        let Some(route) = self.fastcgi.get(t.route) else {
            return Response::status(500);
        };
        if !t.script_filename.is_file() {
            return Response::status(404);
        }
        let mut p: Vec<(String, String)> = vec![
            ("GATEWAY_INTERFACE".into(), "CGI/1.1".into()),
            ("SERVER_SOFTWARE".into(), "gromox-httpd".into()),
            ("SERVER_PROTOCOL".into(), req.head.version.as_str().into()),
            ("REQUEST_METHOD".into(), req.head.method.clone()),
            ("REQUEST_URI".into(), req.head.target.clone()),
            ("QUERY_STRING".into(), req.query.clone()),
            ("SCRIPT_NAME".into(), t.script_name.clone()),
            ("SCRIPT_FILENAME".into(), t.script_filename.display().to_string()),
            ("DOCUMENT_ROOT".into(), route.dir.display().to_string()),
            ("SERVER_NAME".into(), host.to_string()),
            ("SERVER_ADDR".into(), req.local.ip().to_string()),
            ("SERVER_PORT".into(), req.local.port().to_string()),
            ("REMOTE_ADDR".into(), req.peer.ip().to_string()),
            ("REMOTE_PORT".into(), req.peer.port().to_string()),
            ("CONTENT_LENGTH".into(), req.body.len().to_string()),
            (
                "CONTENT_TYPE".into(),
                req.head.header("content-type").unwrap_or("").to_string(),
            ),
            ("REDIRECT_STATUS".into(), "200".into()),
        ];
        if req.tls {
            p.push(("HTTPS".into(), "on".into()));
        }
        if !t.path_info.is_empty() {
            p.push(("PATH_INFO".into(), t.path_info.clone()));
        }
        for (n, v) in &req.head.headers {
            if n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("content-type") {
                continue;
            }
            // Authorization is kept from the backend, as CGI servers do (RFC 3875 §4.1.18).
            if n.eq_ignore_ascii_case("authorization") || n.eq_ignore_ascii_case("proxy") {
                continue;
            }
            let key = format!("HTTP_{}", n.to_ascii_uppercase().replace('-', "_"));
            p.push((key, v.clone()));
        }
        fastcgi::run(&route.socket, &p, &req.body, self.settings.fcgi_timeout, &self.log)
    }
}

struct PoxEndpoint;

impl Endpoint for PoxEndpoint {
    fn name(&self) -> &'static str {
        "autodiscover"
    }
    fn needs_auth(&self, req: &Request) -> bool {
        req.head.method == "POST"
    }
    fn handle(&self, req: &Request, user: Option<&UserInfo>, app: &App) -> Response {
        if req.head.method != "POST" {
            return Response::status(405).header("Allow", "POST");
        }
        let parsed = match autodiscover::parse_pox_request(&req.body) {
            Ok(p) => p,
            Err(e) => {
                slog::info!(app.log, "AutoDiscover request refused"; "event" => "http.autodiscover_bad_request",
                    "peer" => req.peer.to_string(), "error" => e.to_string());
                return Response::new(400, "text/plain; charset=utf-8", format!("{e}\n"));
            }
        };
        // Only the authenticated user's own settings are given out (delegate access needs the
        // mailbox permissions, which come with the directory and store).
        let target = parsed.email.as_deref().unwrap_or("");
        let who = user.filter(|u| u.email.eq_ignore_ascii_case(target) || parsed.email.is_none());
        let info = who.and_then(|u| app.auth.users().lookup(&u.email).or_else(|| Some(u.clone())));
        let mapi_http = req
            .head
            .header("x-mapihttpcapability")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .is_some_and(|v| v >= 1);
        let xml = autodiscover::pox_response(&parsed, info.as_ref(), &app.settings.ad, mapi_http);
        Response::new(200, "text/xml; charset=utf-8", xml)
    }
}

struct JsonEndpoint;

impl Endpoint for JsonEndpoint {
    fn name(&self) -> &'static str {
        "autodiscover_json"
    }
    fn handle(&self, req: &Request, _user: Option<&UserInfo>, app: &App) -> Response {
        let lower = req.path.to_ascii_lowercase();
        let email = match lower.find("/v1.0/") {
            Some(i) => crate::http::percent_decode(&req.path[i + 6..]),
            None => query_param(&req.query, "email"),
        };
        let proto = query_param(&req.query, "protocol");
        let (status, body) = autodiscover::json_v2(email.as_deref(), proto.as_deref(), &app.settings.ad);
        Response::new(status, "application/json; charset=utf-8", body)
    }
}

struct AutoconfigEndpoint;

impl Endpoint for AutoconfigEndpoint {
    fn name(&self) -> &'static str {
        "autoconfig"
    }
    fn handle(&self, req: &Request, _user: Option<&UserInfo>, app: &App) -> Response {
        let email = query_param(&req.query, "emailaddress").unwrap_or_else(|| host_of(&req.head).to_string());
        Response::new(
            200,
            "application/xml; charset=utf-8",
            autodiscover::autoconfig(&email, &app.settings.ad),
        )
    }
}

struct DavRedirect;

impl Endpoint for DavRedirect {
    fn name(&self) -> &'static str {
        "wellknown"
    }
    fn handle(&self, _req: &Request, _user: Option<&UserInfo>, app: &App) -> Response {
        Response::redirect(301, &app.settings.ad.dav_path)
    }
}

struct MetricsEndpoint;

impl Endpoint for MetricsEndpoint {
    fn name(&self) -> &'static str {
        "metrics"
    }
    fn handle(&self, req: &Request, _user: Option<&UserInfo>, app: &App) -> Response {
        if !app.settings.metrics_allow.allows(req.peer.ip()) {
            return Response::status(403);
        }
        let mut body = app.metrics.render();
        crate::metrics::append_exported(&app.settings.metrics_dir, "http.prom", &mut body);
        Response::new(200, "text/plain; version=0.0.4", body)
    }
}
