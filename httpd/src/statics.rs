//! Static files from `cache.txt` (Gromox's mod_cache): lines `DOMAIN URI-PREFIX DIRECTORY`.
//! Conditional requests (RFC 9110 §13: If-None-Match, If-Modified-Since, If-Range) and single
//! byte ranges (RFC 9110 §14: 206, 416). Paths are decoded and checked segment by segment, then
//! canonicalised and required to stay inside the configured directory.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::http::{http_date, parse_http_date, percent_decode, Head};
use crate::response::{Body, Response};

/// One `cache.txt` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// Host pattern (`*` and `?` wildcards).
    pub domain: String,
    /// URI path prefix, without trailing slash.
    pub prefix: String,
    /// Directory served.
    pub dir: PathBuf,
}

/// Case-insensitive wildcard match (`*` any run, `?` one character), as Gromox's
/// `wildcard_match` for domains.
pub fn wildcard_match(s: &str, pat: &str) -> bool {
    let s: Vec<char> = s.chars().map(|c| c.to_ascii_lowercase()).collect();
    let p: Vec<char> = pat.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut i, mut j) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while i < s.len() {
        if j < p.len() && (p[j] == '?' || p[j] == s[i]) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '*' {
            star = Some(j);
            mark = i;
            j += 1;
        } else if let Some(st) = star {
            j = st + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    while j < p.len() && p[j] == '*' {
        j += 1;
    }
    j == p.len()
}

/// The host name of a request without port (empty when absent).
pub fn host_of(head: &Head) -> &str {
    let h = head.header("host").unwrap_or("");
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    h.split(':').next().unwrap_or("")
}

/// Parse `cache.txt`.
pub fn parse_cache_txt(text: &str) -> Result<Vec<StaticRoute>, String> {
    let mut v = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            return Err(format!("line {}: expected DOMAIN URI-PREFIX DIRECTORY", no + 1));
        }
        if !f[1].starts_with('/') {
            return Err(format!("line {}: the URI prefix must start with /", no + 1));
        }
        v.push(StaticRoute {
            domain: f[0].to_string(),
            prefix: f[1].trim_end_matches('/').to_string(),
            dir: PathBuf::from(f[2].trim_end_matches('/')),
        });
    }
    Ok(v)
}

/// The part of `path` below `prefix` (`Some("")` for the prefix itself), matching whole
/// segments only.
pub fn strip_prefix_segment<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.get(prefix.len()..)?;
    if !path[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return None;
    }
    if rest.is_empty() || rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

/// Map a (still percent-encoded) URI path below a route's prefix onto a path under `dir`.
/// `None` for anything that could leave the directory: `..`, backslashes, NUL, bad escapes.
pub fn safe_join(dir: &Path, rest_encoded: &str) -> Option<PathBuf> {
    let rest = percent_decode(rest_encoded)?;
    let mut p = dir.to_path_buf();
    for seg in rest.split('/') {
        match seg {
            "" | "." => continue,
            ".." => return None,
            s if s.contains('\\') || s.contains('\0') => return None,
            s => p.push(s),
        }
    }
    Some(p)
}

/// Find the route and file for a request.
pub fn resolve(routes: &[StaticRoute], host: &str, path: &str) -> Option<PathBuf> {
    for r in routes {
        if !wildcard_match(host, &r.domain) {
            continue;
        }
        if let Some(rest) = strip_prefix_segment(path, &r.prefix) {
            let p = safe_join(&r.dir, rest)?;
            // Symbolic links must not lead out of the directory either.
            let root = r.dir.canonicalize().ok()?;
            let real = p.canonicalize().ok()?;
            if !real.starts_with(&root) {
                return None;
            }
            if real.is_dir() {
                let idx = real.join("index.html");
                return idx.is_file().then_some(idx);
            }
            return Some(real);
        }
    }
    None
}

/// A byte range request's outcome (RFC 9110 §14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeResult {
    /// No (usable) Range header: send everything.
    Full,
    /// Bytes `start..=end`.
    Partial(u64, u64),
    /// No satisfiable range: 416.
    Unsatisfiable,
}

/// Evaluate a `Range` header value against a representation of `len` bytes. Only single ranges
/// are honoured; a list of several is answered with the full representation (allowed by
/// RFC 9110 §14.2).
pub fn parse_range(value: &str, len: u64) -> RangeResult {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeResult::Full;
    };
    if spec.contains(',') {
        return RangeResult::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeResult::Full;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeResult::Full,
        (true, false) => match num(b) {
            Some(0) => RangeResult::Unsatisfiable,
            Some(n) if len > 0 => RangeResult::Partial(len.saturating_sub(n), len - 1),
            Some(_) => RangeResult::Unsatisfiable,
            None => RangeResult::Full,
        },
        (false, _) => {
            let Some(start) = num(a) else {
                return RangeResult::Full;
            };
            let end = if b.is_empty() {
                Some(u64::MAX)
            } else {
                match num(b) {
                    Some(e) if e >= start => Some(e),
                    _ => return RangeResult::Full,
                }
            };
            if start >= len {
                return RangeResult::Unsatisfiable;
            }
            RangeResult::Partial(start, end.unwrap_or(u64::MAX).min(len - 1))
        }
    }
}

/// Content type by file extension.
pub fn mime_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "txt" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/vnd.microsoft.icon",
        "webp" => "image/webp",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn etag_matches(list: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    list.split(',').any(|t| t.trim() == "*" || strip(t) == strip(etag))
}

/// Serve `path` (already resolved and checked) for a GET or HEAD request.
pub fn serve_file(head: &Head, path: &Path) -> Response {
    let Ok(file) = File::open(path) else {
        return Response::status(404);
    };
    let Ok(meta) = file.metadata() else {
        return Response::status(404);
    };
    if !meta.is_file() {
        return Response::status(404);
    }
    let len = meta.len();
    let mtime = u64::try_from(meta.mtime()).unwrap_or(0);
    let etag = format!("\"{:x}-{:x}-{:x}\"", mtime, len, meta.ino());
    let last_modified = http_date(mtime);
    let base = |status: u16| {
        Response::new(status, "", Vec::new())
            .header("ETag", etag.clone())
            .header("Last-Modified", last_modified.clone())
            .header("Accept-Ranges", "bytes")
    };
    // RFC 9110 §13.2.2: If-None-Match takes precedence over If-Modified-Since.
    if let Some(inm) = head.header("if-none-match") {
        if etag_matches(inm, &etag) {
            return base(304);
        }
    } else if let Some(ims) = head.header("if-modified-since").and_then(parse_http_date) {
        if mtime <= ims {
            return base(304);
        }
    }
    let mut range = head.header("range").map_or(RangeResult::Full, |r| parse_range(r, len));
    if let Some(ir) = head.header("if-range") {
        // Strong comparison only for entity tags; dates are not honoured (full response).
        if ir.trim() != etag {
            range = RangeResult::Full;
        }
    }
    let ctype = mime_type(path);
    match range {
        RangeResult::Full => {
            let mut r = base(200).header("Content-Type", ctype);
            r.body = Body::File { file, offset: 0, len };
            r
        }
        RangeResult::Partial(s, e) => {
            let mut r = base(206)
                .header("Content-Type", ctype)
                .header("Content-Range", format!("bytes {s}-{e}/{len}"));
            r.body = Body::File {
                file,
                offset: s,
                len: e - s + 1,
            };
            r
        }
        RangeResult::Unsatisfiable => Response::status(416).header("Content-Range", format!("bytes */{len}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10), RangeResult::Partial(0, 4));
        assert_eq!(parse_range("bytes=5-", 10), RangeResult::Partial(5, 9));
        assert_eq!(parse_range("bytes=-3", 10), RangeResult::Partial(7, 9));
        assert_eq!(parse_range("bytes=-30", 10), RangeResult::Partial(0, 9));
        assert_eq!(parse_range("bytes=8-100", 10), RangeResult::Partial(8, 9));
        assert_eq!(parse_range("bytes=10-", 10), RangeResult::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), RangeResult::Full);
        assert_eq!(parse_range("bytes=4-2", 10), RangeResult::Full);
        assert_eq!(parse_range("items=0-1", 10), RangeResult::Full);
    }

    #[test]
    fn wildcards_and_paths() {
        assert!(wildcard_match("Mail.Example.org", "*.example.org"));
        assert!(wildcard_match("x", "*"));
        assert!(!wildcard_match("example.org", "*.example.org"));
        let d = Path::new("/srv/www");
        assert_eq!(safe_join(d, "/a/b.txt"), Some(PathBuf::from("/srv/www/a/b.txt")));
        assert_eq!(safe_join(d, "/a/../../etc/passwd"), None);
        assert_eq!(safe_join(d, "/a/%2e%2e/x"), None);
        assert_eq!(safe_join(d, "/a%5cb"), None);
        assert_eq!(strip_prefix_segment("/webx/a", "/web"), None);
        assert_eq!(strip_prefix_segment("/web/a", "/web"), Some("/a"));
    }

    #[test]
    fn cache_txt() {
        let r = parse_cache_txt("# c\n* /web/ /srv/web\n").unwrap();
        assert_eq!(r[0].prefix, "/web");
        assert!(parse_cache_txt("* web /x\n").is_err());
    }
}
