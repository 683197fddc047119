//! httpd: the HTTP/1.1 server of gromox-rs (DESIGN.md §3).
//!
//! Layers, outermost first:
//! - [`session`]: the connection as a sans-I/O runtime session (RFC 9112 framing, keep-alive,
//!   pipelining, 100-continue, caps and deadlines, access log);
//! - [`http`] and [`response`]: the pure codec (request heads, chunked decoder, HTTP-date,
//!   response serialisation);
//! - [`app`]: routing in Gromox's order — [`rewrite`] rules, endpoint handlers by path prefix
//!   ([`autodiscover`], metrics, later EWS/MAPI/RPC), [`fastcgi`], [`statics`], else 404;
//! - [`auth`]: Basic authentication with a credential cache, failure rate limiting, and the
//!   [`auth::Users`] trait the user directory will implement;
//! - [`metrics`]: Prometheus text registry; [`dscli`]: the `gromox-dscli` AutoDiscover tester.
//!
//! [`config`] declares every key and builds the application from a configuration.

pub mod app;
pub mod auth;
pub mod autodiscover;
pub mod config;
pub mod dscli;
pub mod fastcgi;
pub mod http;
pub mod metrics;
pub mod response;
pub mod rewrite;
pub mod session;
pub mod statics;
pub mod users;

/// Entry points for the fuzz targets (`httpd/fuzz`); the seed corpus runs as unit tests.
pub mod fuzzing {
    /// Request head parser and body framing: must never panic.
    pub fn request(data: &[u8]) {
        let mut rest = data;
        for _ in 0..16 {
            match crate::http::parse_head(rest, 8192) {
                Ok(Some((head, n))) => {
                    let _ = head.path();
                    let _ = head.query();
                    let _ = head.keep_alive();
                    let _ = crate::http::body_framing(&head);
                    if let Some(r) = head.header("range") {
                        let _ = crate::statics::parse_range(r, 1000);
                    }
                    if let Some(a) = head.header("authorization") {
                        let _ = crate::auth::AuthScheme::parse(a);
                    }
                    let _ = crate::http::percent_decode(head.path());
                    rest = &rest[n..];
                }
                _ => break,
            }
        }
    }

    /// Chunked decoder: must never panic; data out never exceeds data in; feeding the input
    /// in two parts gives the same result as at once.
    pub fn chunked(data: &[u8]) {
        let mut d = crate::http::ChunkedDecoder::new();
        let mut out = Vec::new();
        let whole = d.decode(data, &mut out);
        assert!(out.len() <= data.len());
        if let Ok(n) = whole {
            assert!(n <= data.len());
            let split = data.len() / 2;
            let mut d2 = crate::http::ChunkedDecoder::new();
            let mut out2 = Vec::new();
            if let Ok(a) = d2.decode(&data[..split], &mut out2) {
                if a == split && !d2.is_done() {
                    if let Ok(b) = d2.decode(&data[split..], &mut out2) {
                        assert_eq!(a + b, n);
                        assert_eq!(out, out2);
                    }
                }
            }
        }
    }

    /// AutoDiscover POX request parser: must never panic.
    pub fn pox(data: &[u8]) {
        let _ = crate::autodiscover::parse_pox_request(data);
    }

    /// A whole HTTP session (framing, routing, AutoDiscover, autoconfig, auth) fed with
    /// arbitrary bytes in two pieces, without sockets: must never panic.
    pub fn session(data: &[u8]) {
        use gromox_runtime::{ConnHandle, ConnInfo, Cx, Next, Session};
        use std::sync::{Arc, OnceLock};
        static APP: OnceLock<Arc<crate::app::App>> = OnceLock::new();
        let app = APP.get_or_init(|| {
            let spec = crate::config::spec();
            let mut cfg = gromox_base::Config::defaults("httpd", &spec.keys);
            // Invariant: these are valid values of declared keys.
            cfg.set("config_file_path", "/nonexistent").expect("valid key");
            cfg.set("http_external_host", "mail.example.org").expect("valid key");
            cfg.set("http_header_max_size", "2K").expect("valid key");
            cfg.set("http_rqbody_max_size", "4K").expect("valid key");
            let mut users = crate::auth::MemUsers::new();
            users.add(
                crate::auth::UserInfo {
                    email: "a@b.c".into(),
                    display_name: "A".into(),
                    id: 1,
                    server: String::new(),
                },
                "b",
            );
            let app = crate::config::build_app(&cfg, Some(Arc::new(users)), &gromox_base::log::discard())
                .expect("defaults build an app");
            Arc::new(app)
        });
        let info = ConnInfo {
            id: 1,
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
            local: std::net::SocketAddr::from(([127, 0, 0, 1], 80)),
            implicit_tls: false,
            listener: "http_listen",
        };
        let mut s = crate::session::HttpSession::new(app.clone(), &info);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let split = data.first().map_or(0, |b| *b as usize).min(data.len());
        for piece in [&data[..split], &data[split..]] {
            buf.extend_from_slice(piece);
            for _ in 0..64 {
                let mut cx = Cx {
                    out: &mut out,
                    info: &info,
                    tls_active: false,
                    idle_timeout: None,
                    handle: ConnHandle::detached(),
                };
                let (n, mut next) = s.input(&buf, &mut cx);
                assert!(n <= buf.len());
                buf.drain(..n);
                while next == Next::Write {
                    next = s.writable(&mut cx);
                }
                if next == Next::Close {
                    return;
                }
                if n == 0 || buf.is_empty() {
                    break;
                }
            }
        }
        let mut cx = Cx {
            out: &mut out,
            info: &info,
            tls_active: false,
            idle_timeout: None,
            handle: ConnHandle::detached(),
        };
        let _ = s.timed_out(&mut cx);
    }

    /// FastCGI record parser and CGI header splitter: must never panic.
    pub fn fcgi(data: &[u8]) {
        let mut rest = data;
        while let Ok(Some((_, n))) = crate::fastcgi::parse_record(rest) {
            rest = &rest[n..];
        }
        let _ = crate::fastcgi::split_cgi_headers(data);
        if let Ok(s) = std::str::from_utf8(data) {
            let _ = crate::rewrite::Rewriter::parse(s);
            let _ = crate::fastcgi::parse_fastcgi_txt(s);
            let _ = crate::statics::parse_cache_txt(s);
        }
    }
}
