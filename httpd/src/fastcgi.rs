//! FastCGI client (FastCGI Specification 1.0, responder role) over unix sockets, routed by
//! `fastcgi.txt` in Gromox's format: lines
//! `DOMAIN URI-PATH DIRECTORY SUFFIX INDEX EXTRA-HEADERS SOCKET`
//! (EXTRA-HEADERS is a `|`-separated list Gromox forwards; every request header is forwarded
//! here as `HTTP_*` anyway, as CGI (RFC 3875 §4.1.18) describes, so the column is accepted and
//! not needed).
//!
//! The record parser ([`parse_record`]) is pure and fuzzed; the exchange itself blocks on a
//! worker thread (bounded by `http_fastcgi_exec_timeout`), as the runtime allows.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::http::percent_decode;
use crate::response::{Body, BodyStream, Response};
use crate::statics::{safe_join, strip_prefix_segment, wildcard_match};

/// One `fastcgi.txt` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcgiRoute {
    /// Host pattern.
    pub domain: String,
    /// URI path prefix (no trailing slash).
    pub path: String,
    /// Directory holding the scripts.
    pub dir: PathBuf,
    /// Script suffix without dot (`php`), or `*`.
    pub suffix: String,
    /// Index script for directory requests.
    pub index: String,
    /// Unix socket of the FastCGI server.
    pub socket: PathBuf,
}

/// Parse `fastcgi.txt`.
pub fn parse_fastcgi_txt(text: &str) -> Result<Vec<FcgiRoute>, String> {
    let mut v = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 7 {
            return Err(format!(
                "line {}: expected DOMAIN URI-PATH DIRECTORY SUFFIX INDEX EXTRA-HEADERS SOCKET",
                no + 1
            ));
        }
        if !f[1].starts_with('/') {
            return Err(format!("line {}: the URI path must start with /", no + 1));
        }
        v.push(FcgiRoute {
            domain: f[0].into(),
            path: f[1].trim_end_matches('/').into(),
            dir: PathBuf::from(f[2].trim_end_matches('/')),
            suffix: f[3].trim_start_matches('.').into(),
            index: f[4].into(),
            socket: PathBuf::from(f[6]),
        });
    }
    Ok(v)
}

/// A request routed to a FastCGI backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Index into the route list.
    pub route: usize,
    /// `SCRIPT_NAME` (URI path of the script).
    pub script_name: String,
    /// `SCRIPT_FILENAME`.
    pub script_filename: PathBuf,
    /// `PATH_INFO` (may be empty).
    pub path_info: String,
}

/// Route a (percent-encoded) path. Paths that try to leave the directory never match.
pub fn resolve(routes: &[FcgiRoute], host: &str, path: &str) -> Option<Target> {
    for (i, r) in routes.iter().enumerate() {
        if !wildcard_match(host, &r.domain) {
            continue;
        }
        let Some(rest_enc) = strip_prefix_segment(path, &r.path) else {
            continue;
        };
        let rest = percent_decode(rest_enc)?;
        let (script_rel, path_info) = if rest.is_empty() || rest.ends_with('/') {
            (format!("{rest}/{}", r.index).replace("//", "/"), String::new())
        } else {
            let mut end = None;
            let mut pos = 0;
            for seg in rest.split('/') {
                let seg_end = pos + seg.len();
                let ok = if r.suffix == "*" {
                    !seg.is_empty()
                } else {
                    seg.rsplit_once('.')
                        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case(&r.suffix))
                };
                if ok && (r.suffix != "*" || seg_end == rest.len()) {
                    end = Some(seg_end);
                    break;
                }
                pos = seg_end + 1;
            }
            let Some(end) = end else {
                continue;
            };
            (rest[..end].to_string(), rest[end..].to_string())
        };
        let script_filename = safe_join(&r.dir, &script_rel.replace('%', "%25"))?;
        return Some(Target {
            route: i,
            script_name: format!("{}{}", r.path, if script_rel.starts_with('/') { "" } else { "/" }) + &script_rel,
            script_filename,
            path_info,
        });
    }
    None
}

/// FastCGI record types (spec §8).
pub mod rt {
    /// FCGI_BEGIN_REQUEST.
    pub const BEGIN_REQUEST: u8 = 1;
    /// FCGI_END_REQUEST.
    pub const END_REQUEST: u8 = 3;
    /// FCGI_PARAMS.
    pub const PARAMS: u8 = 4;
    /// FCGI_STDIN.
    pub const STDIN: u8 = 5;
    /// FCGI_STDOUT.
    pub const STDOUT: u8 = 6;
    /// FCGI_STDERR.
    pub const STDERR: u8 = 7;
}

/// One record (spec §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Record type.
    pub kind: u8,
    /// Request id.
    pub request_id: u16,
    /// Content (padding removed).
    pub content: &'a [u8],
}

/// Errors of the record parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FcgiError {
    /// Not FastCGI version 1.
    #[error("bad FastCGI version {0}")]
    Version(u8),
}

/// Parse one record from the start of `buf`: `Ok(None)` when incomplete.
pub fn parse_record(buf: &[u8]) -> Result<Option<(Record<'_>, usize)>, FcgiError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    if buf[0] != 1 {
        return Err(FcgiError::Version(buf[0]));
    }
    let len = u16::from_be_bytes([buf[4], buf[5]]) as usize;
    let pad = buf[6] as usize;
    let total = 8 + len + pad;
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some((
        Record {
            kind: buf[1],
            request_id: u16::from_be_bytes([buf[2], buf[3]]),
            content: &buf[8..8 + len],
        },
        total,
    )))
}

fn push_record(out: &mut Vec<u8>, kind: u8, content: &[u8]) {
    for piece in content.chunks(0xffff) {
        out.extend_from_slice(&[1, kind, 0, 1]);
        out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(piece);
    }
    if content.is_empty() {
        out.extend_from_slice(&[1, kind, 0, 1, 0, 0, 0, 0]);
    }
}

fn push_len(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        out.extend_from_slice(&((n as u32) | 0x8000_0000).to_be_bytes());
    }
}

/// Encode name-value pairs (spec §3.4).
pub fn encode_params(params: &[(String, String)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in params {
        push_len(&mut b, n.len());
        push_len(&mut b, v.len());
        b.extend_from_slice(n.as_bytes());
        b.extend_from_slice(v.as_bytes());
    }
    b
}

/// Build the whole request stream: BEGIN_REQUEST (responder, no keep-conn), PARAMS, STDIN.
pub fn encode_request(params: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + body.len());
    push_record(&mut out, rt::BEGIN_REQUEST, &[0, 1, 0, 0, 0, 0, 0, 0]);
    let p = encode_params(params);
    if !p.is_empty() {
        push_record(&mut out, rt::PARAMS, &p);
    }
    push_record(&mut out, rt::PARAMS, &[]);
    if !body.is_empty() {
        push_record(&mut out, rt::STDIN, body);
    }
    push_record(&mut out, rt::STDIN, &[]);
    out
}

struct Conn {
    sock: UnixStream,
    buf: Vec<u8>,
    pos: usize,
    ended: bool,
    stderr: Vec<u8>,
}

enum Piece {
    Stdout(Vec<u8>),
    End,
}

impl Conn {
    fn next(&mut self) -> std::io::Result<Piece> {
        loop {
            if self.ended {
                return Ok(Piece::End);
            }
            let parsed = parse_record(&self.buf[self.pos..])
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            if let Some((rec, n)) = parsed {
                let kind = rec.kind;
                let content = rec.content.to_vec();
                self.pos += n;
                if self.pos > 64 * 1024 {
                    self.buf.drain(..self.pos);
                    self.pos = 0;
                }
                match kind {
                    rt::STDOUT if !content.is_empty() => return Ok(Piece::Stdout(content)),
                    rt::STDERR if self.stderr.len() < 4096 => self.stderr.extend_from_slice(&content),
                    rt::END_REQUEST => {
                        self.ended = true;
                        return Ok(Piece::End);
                    }
                    _ => {}
                }
                continue;
            }
            let mut tmp = [0u8; 16 * 1024];
            let n = self.sock.read(&mut tmp)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "FastCGI server closed before END_REQUEST",
                ));
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }
}

struct FcgiBody(Conn);

impl BodyStream for FcgiBody {
    fn next_chunk(&mut self, out: &mut Vec<u8>) -> std::io::Result<bool> {
        match self.0.next()? {
            Piece::Stdout(b) => {
                out.extend_from_slice(&b);
                Ok(true)
            }
            Piece::End => Ok(false),
        }
    }
}

/// Split CGI response headers off `buf` (RFC 3875 §6.2): `Some((headers, body_start))`.
pub fn split_cgi_headers(buf: &[u8]) -> Option<(Vec<(String, String)>, usize)> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))?;
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut h = Vec::new();
    for line in text.lines() {
        if let Some((n, v)) = line.split_once(':') {
            h.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    Some((h, end))
}

/// Run one request against the backend at `socket`. Errors become 502/504 responses.
pub fn run(
    socket: &std::path::Path,
    params: &[(String, String)],
    body: &[u8],
    timeout: Duration,
    log: &slog::Logger,
) -> Response {
    let fail = |status: u16, what: &str, e: &dyn std::fmt::Display| {
        slog::warn!(log, "FastCGI backend failed"; "event" => "http.fastcgi_error",
            "socket" => socket.display().to_string(), "what" => what.to_string(), "error" => e.to_string());
        Response::status(status)
    };
    let sock = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => return fail(502, "connect", &e),
    };
    let _ = sock.set_read_timeout(Some(timeout));
    let _ = sock.set_write_timeout(Some(timeout));
    let req = encode_request(params, body);
    if let Err(e) = (&sock).write_all(&req) {
        return fail(502, "write", &e);
    }
    let mut conn = Conn {
        sock,
        buf: Vec::new(),
        pos: 0,
        ended: false,
        stderr: Vec::new(),
    };
    let mut stdout = Vec::new();
    let (headers, start) = loop {
        match conn.next() {
            Ok(Piece::Stdout(b)) => {
                stdout.extend_from_slice(&b);
                if let Some(x) = split_cgi_headers(&stdout) {
                    break x;
                }
                if stdout.len() > 64 * 1024 {
                    return fail(502, "headers", &"CGI header section too long");
                }
            }
            Ok(Piece::End) => return fail(502, "headers", &"no CGI header section"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                return fail(504, "read", &e)
            }
            Err(e) => return fail(502, "read", &e),
        }
    };
    let mut body_buf = stdout.split_off(start);
    // Small bodies are collected so they go out with a Content-Length; big ones stream.
    let mut complete = false;
    while body_buf.len() < 64 * 1024 {
        match conn.next() {
            Ok(Piece::Stdout(b)) => body_buf.extend_from_slice(&b),
            Ok(Piece::End) => {
                complete = true;
                break;
            }
            Err(e) => return fail(502, "read", &e),
        }
    }
    if !conn.stderr.is_empty() {
        slog::info!(log, "FastCGI stderr"; "event" => "http.fastcgi_stderr",
            "text" => gromox_base::log::sanitize(&String::from_utf8_lossy(&conn.stderr)));
    }
    let mut status = 200;
    let mut resp = Response::new(200, "", Vec::new());
    for (n, v) in headers {
        if n.eq_ignore_ascii_case("status") {
            status = v.split(' ').next().and_then(|c| c.parse().ok()).unwrap_or(502);
        } else if n.eq_ignore_ascii_case("location") && status == 200 {
            status = 302;
            resp.headers.push((n, v));
        } else if !n.eq_ignore_ascii_case("content-length")
            && !n.eq_ignore_ascii_case("transfer-encoding")
            && !n.eq_ignore_ascii_case("connection")
        {
            resp.headers.push((n, v));
        }
    }
    resp.status = if (100..600).contains(&status) { status } else { 502 };
    resp.body = if complete {
        Body::Bytes(body_buf)
    } else {
        struct Prefixed(Option<Vec<u8>>, FcgiBody);
        impl BodyStream for Prefixed {
            fn next_chunk(&mut self, out: &mut Vec<u8>) -> std::io::Result<bool> {
                if let Some(b) = self.0.take() {
                    out.extend_from_slice(&b);
                    return Ok(true);
                }
                self.1.next_chunk(out)
            }
        }
        Body::Stream(Box::new(Prefixed(Some(body_buf), FcgiBody(conn))))
    };
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Vec<FcgiRoute> {
        parse_fastcgi_txt("* /web /srv/web php index.php X-A|X-B /run/php.sock\n").unwrap()
    }

    #[test]
    fn routing() {
        let r = routes();
        let t = resolve(&r, "h", "/web/a/info.php/extra/x").unwrap();
        assert_eq!(t.script_name, "/web/a/info.php");
        assert_eq!(t.script_filename, PathBuf::from("/srv/web/a/info.php"));
        assert_eq!(t.path_info, "/extra/x");
        let t = resolve(&r, "h", "/web/").unwrap();
        assert_eq!(t.script_filename, PathBuf::from("/srv/web/index.php"));
        assert!(resolve(&r, "h", "/web/a.txt").is_none());
        assert!(resolve(&r, "h", "/web/../x.php").is_none());
        assert!(resolve(&r, "h", "/web/%2e%2e/x.php").is_none());
        assert!(resolve(&r, "h", "/webx/a.php").is_none());
        assert!(parse_fastcgi_txt("* /web /srv php index.php\n").is_err());
    }

    #[test]
    fn records() {
        let req = encode_request(&[("A".into(), "x".repeat(200))], b"body");
        let (rec, n) = parse_record(&req).unwrap().unwrap();
        assert_eq!((rec.kind, rec.request_id, rec.content.len()), (rt::BEGIN_REQUEST, 1, 8));
        let (rec, _) = parse_record(&req[n..]).unwrap().unwrap();
        assert_eq!(rec.kind, rt::PARAMS);
        assert_eq!(&rec.content[..2], &[1, 0x80]);
        assert_eq!(parse_record(&req[..5]), Ok(None));
        assert!(parse_record(&[2, 0, 0, 0, 0, 0, 0, 0]).is_err());
        let (h, s) = split_cgi_headers(b"Status: 404 Not Found\r\nX: y\r\n\r\nbody").unwrap();
        assert_eq!(h[0], ("Status".into(), "404 Not Found".into()));
        assert_eq!(s, 31);
    }
}
