//! HTTP/1.1 message codec (RFC 9112), sans-I/O: request-head framing with a hard size cap,
//! body framing (RFC 9112 §6), the chunked transfer coding decoder (§7.1), response heads, and
//! HTTP-date (RFC 9110 §5.6.7). No socket, file or clock here.

use std::fmt::Write as _;

/// HTTP version of a request (RFC 9112 §2.3); other versions are answered with 505.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: no keep-alive unless asked, no chunked responses.
    Http10,
    /// HTTP/1.1.
    Http11,
}

impl Version {
    /// The version as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// A parsed request head (request line and header fields, RFC 9112 §3 and §5).
#[derive(Debug, Clone)]
pub struct Head {
    /// Method token, case-sensitive (RFC 9110 §9.1).
    pub method: String,
    /// Request target as sent (origin-form, absolute-form, authority-form or `*`).
    pub target: String,
    /// Protocol version.
    pub version: Version,
    /// Header fields in order received; names as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name`, each list element separately (RFC 9110 §5.6.1).
    pub fn header_list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Whether the comma-separated header `name` contains `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_list(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// The path part of the target (origin-form; absolute-form has its authority removed).
    pub fn path(&self) -> &str {
        let t = self.target.as_str();
        let t = match t.find("://") {
            Some(i) if t[..i].chars().all(|c| c.is_ascii_alphabetic()) => {
                let rest = &t[i + 3..];
                rest.find('/').map_or("/", |j| &rest[j..])
            }
            _ => t,
        };
        t.split(['?', '#']).next().unwrap_or("")
    }

    /// The query part of the target, without `?` (empty when none).
    pub fn query(&self) -> &str {
        let t = self.target.split('#').next().unwrap_or("");
        t.split_once('?').map_or("", |(_, q)| q)
    }

    /// Whether the client wants the connection kept open after this request
    /// (RFC 9112 §9.3: persistent by default in 1.1, only with `keep-alive` in 1.0).
    pub fn keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !self.has_token("connection", "close"),
            Version::Http10 => self.has_token("connection", "keep-alive"),
        }
    }
}

/// How a request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// Why a request head was refused; each maps to a status code the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The head is longer than the cap (431).
    #[error("request header fields too large")]
    TooLarge,
    /// Malformed request line or header field (400).
    #[error("bad request: {0}")]
    Bad(&'static str),
    /// Unsupported HTTP version (505).
    #[error("HTTP version not supported")]
    Version,
    /// A transfer coding other than chunked (501).
    #[error("transfer coding not implemented")]
    Coding,
}

impl HeadError {
    /// Status code for the error.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge => 431,
            HeadError::Bad(_) => 400,
            HeadError::Version => 505,
            HeadError::Coding => 501,
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Find the end of the head: index just past the empty line. Accepts CRLF and bare LF line
/// ends (RFC 9112 §2.2).
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        let next = nl + 1;
        if buf.get(next) == Some(&b'\n') {
            return Some(next + 1);
        }
        if buf.get(next) == Some(&b'\r') && buf.get(next + 1) == Some(&b'\n') {
            return Some(next + 2);
        }
        i = next;
    }
    None
}

/// Parse one request head from the start of `buf`.
///
/// Returns `Ok(None)` when the head is not complete yet (and not over `max` bytes),
/// `Ok(Some((head, n)))` with the bytes it took, or the error to answer with. Empty lines before
/// the request line are skipped (RFC 9112 §2.2). Obsolete line folding is refused (§5.2).
pub fn parse_head(buf: &[u8], max: usize) -> Result<Option<(Head, usize)>, HeadError> {
    let mut start = 0;
    while start < buf.len() && (buf[start] == b'\r' || buf[start] == b'\n') {
        start += 1;
        if start > 8 {
            return Err(HeadError::Bad("too many empty lines"));
        }
    }
    let rest = &buf[start..];
    let Some(end) = head_end(rest) else {
        if rest.len() > max {
            return Err(HeadError::TooLarge);
        }
        return Ok(None);
    };
    if end > max {
        return Err(HeadError::TooLarge);
    }
    let text = &rest[..end];
    let mut lines = text.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Bad("malformed request line"));
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(HeadError::Bad("malformed method"));
    }
    if target.is_empty() || target.iter().any(|&b| b <= 0x20 || b == 0x7f) {
        return Err(HeadError::Bad("malformed request target"));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        v if v.starts_with(b"HTTP/") && v.len() == 8 && v[5].is_ascii_digit() && v[7].is_ascii_digit() => {
            return Err(HeadError::Version)
        }
        _ => return Err(HeadError::Bad("malformed HTTP version")),
    };
    let mut headers = Vec::new();
    for l in lines {
        if l.is_empty() {
            break;
        }
        if l[0] == b' ' || l[0] == b'\t' {
            return Err(HeadError::Bad("obsolete line folding"));
        }
        let Some(colon) = l.iter().position(|&b| b == b':') else {
            return Err(HeadError::Bad("header field without colon"));
        };
        let name = &l[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(HeadError::Bad("malformed header field name"));
        }
        let value = l[colon + 1..].trim_ascii();
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(HeadError::Bad("control character in header field"));
        }
        // Names are tchars (ASCII); values may carry obs-text, kept as lossy UTF-8.
        headers.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
        if headers.len() > 256 {
            return Err(HeadError::TooLarge);
        }
    }
    let head = Head {
        method: String::from_utf8_lossy(method).into_owned(),
        target: String::from_utf8_lossy(target).into_owned(),
        version,
        headers,
    };
    if version == Version::Http11 && head.header("host").is_none() {
        return Err(HeadError::Bad("missing Host header"));
    }
    if head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .count()
        > 1
    {
        return Err(HeadError::Bad("more than one Host header"));
    }
    Ok(Some((head, start + end)))
}

/// Body framing of a request (RFC 9112 §6.3). A request with both Transfer-Encoding and
/// Content-Length, or with conflicting lengths, is refused (request smuggling defence).
pub fn body_framing(head: &Head) -> Result<BodyFraming, HeadError> {
    let te: Vec<&str> = head.header_list("transfer-encoding").collect();
    let has_cl = head.header("content-length").is_some();
    if !te.is_empty() {
        if has_cl {
            return Err(HeadError::Bad("both Transfer-Encoding and Content-Length"));
        }
        if head.version == Version::Http10 {
            return Err(HeadError::Bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if te.len() == 1 && te[0].eq_ignore_ascii_case("chunked") {
            return Ok(BodyFraming::Chunked);
        }
        return Err(HeadError::Coding);
    }
    let mut len: Option<u64> = None;
    for v in head.header_list("content-length") {
        if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HeadError::Bad("malformed Content-Length"));
        }
        let n: u64 = v.parse().map_err(|_| HeadError::Bad("malformed Content-Length"))?;
        if len.is_some_and(|l| l != n) {
            return Err(HeadError::Bad("conflicting Content-Length values"));
        }
        len = Some(n);
    }
    Ok(match len {
        Some(0) | None => BodyFraming::None,
        Some(n) => BodyFraming::Length(n),
    })
}

/// Errors of the chunked decoder; all are answered with 400 and the connection closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The chunk-size line is not hexadecimal digits (plus extensions).
    #[error("malformed chunk size")]
    Size,
    /// Chunk size beyond 2^60.
    #[error("chunk size too large")]
    Overflow,
    /// Missing CRLF after chunk data.
    #[error("missing CRLF after chunk data")]
    Delimiter,
    /// Chunk extension or trailer section beyond the cap.
    #[error("chunk extension or trailer too long")]
    TooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CState {
    /// Reading hex digits of the size.
    Size { digits: u8 },
    /// After the size: optional whitespace and extensions up to CR LF.
    Ext { len: usize },
    /// Expecting LF after the size line's CR.
    SizeLf,
    /// Chunk data left.
    Data,
    /// Expecting CR after data.
    DataCr,
    /// Expecting LF after data.
    DataLf,
    /// Trailer section: at start of a line.
    TrailerLineStart,
    /// Inside a trailer line.
    TrailerLine,
    /// Expecting LF of the final empty line.
    TrailerEndLf,
    /// Expecting LF of a trailer line.
    TrailerLineLf,
    /// Finished.
    Done,
}

/// Incremental decoder of the chunked transfer coding (RFC 9112 §7.1). Strict: the size is
/// 1–15 hex digits, lines end in CRLF; extensions are skipped, trailer fields discarded.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: CState,
    size: u64,
    trailer: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: CState::Size { digits: 0 },
            size: 0,
            trailer: 0,
        }
    }
}

const MAX_EXT: usize = 4096;
const MAX_TRAILER: usize = 16 * 1024;

impl ChunkedDecoder {
    /// A new decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the last chunk and the trailer section were read.
    pub fn is_done(&self) -> bool {
        self.state == CState::Done
    }

    /// Decode from `input`, appending data to `out`; returns the bytes consumed. Stops at the
    /// end of the message (bytes after it belong to the next request).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            if self.state == CState::Data {
                let n = (input.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[i..i + n]);
                i += n;
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = CState::DataCr;
                }
                continue;
            }
            let b = input[i];
            i += 1;
            self.state = match self.state {
                CState::Size { digits } => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if digits >= 15 {
                            return Err(ChunkError::Overflow);
                        }
                        let v = (b as char).to_digit(16).unwrap_or(0) as u64;
                        self.size = self.size * 16 + v;
                        CState::Size { digits: digits + 1 }
                    }
                    _ if digits == 0 => return Err(ChunkError::Size),
                    b'\r' => CState::SizeLf,
                    b';' | b' ' | b'\t' => CState::Ext { len: 1 },
                    _ => return Err(ChunkError::Size),
                },
                CState::Ext { len } => match b {
                    b'\r' => CState::SizeLf,
                    b'\n' => return Err(ChunkError::Size),
                    _ if len >= MAX_EXT => return Err(ChunkError::TooLong),
                    _ => CState::Ext { len: len + 1 },
                },
                CState::SizeLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Size);
                    }
                    if self.size == 0 {
                        CState::TrailerLineStart
                    } else {
                        CState::Data
                    }
                }
                CState::DataCr => {
                    if b != b'\r' {
                        return Err(ChunkError::Delimiter);
                    }
                    CState::DataLf
                }
                CState::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Delimiter);
                    }
                    CState::Size { digits: 0 }
                }
                CState::TrailerLineStart => match b {
                    b'\r' => CState::TrailerEndLf,
                    b'\n' => return Err(ChunkError::Delimiter),
                    _ => self.trailer_byte()?,
                },
                CState::TrailerLine => match b {
                    b'\r' => CState::TrailerLineLf,
                    b'\n' => return Err(ChunkError::Delimiter),
                    _ => self.trailer_byte()?,
                },
                CState::TrailerLineLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Delimiter);
                    }
                    CState::TrailerLineStart
                }
                CState::TrailerEndLf => {
                    if b != b'\n' {
                        return Err(ChunkError::Delimiter);
                    }
                    self.state = CState::Done;
                    return Ok(i);
                }
                CState::Data => unreachable!("handled above"),
                CState::Done => return Ok(i - 1),
            };
        }
        Ok(i)
    }

    fn trailer_byte(&mut self) -> Result<CState, ChunkError> {
        self.trailer += 1;
        if self.trailer > MAX_TRAILER {
            return Err(ChunkError::TooLong);
        }
        Ok(CState::TrailerLine)
    }
}

/// Reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Format seconds since the Unix epoch as an IMF-fixdate (RFC 9110 §5.6.7),
/// e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(secs: u64) -> String {
    let days = secs / 86_400;
    let (y, m, d) = gromox_base::log::civil_from_days(days as i64);
    let rem = secs % 86_400;
    let mut s = String::with_capacity(29);
    let _ = write!(
        s,
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m as usize).saturating_sub(1).min(11)],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    s
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parse an IMF-fixdate (the only form servers must generate; obsolete forms are ignored by
/// returning `None`, which makes conditional requests fall back to a full response).
pub fn parse_http_date(s: &str) -> Option<u64> {
    let s = s.trim();
    let (_, rest) = s.split_once(", ")?;
    let mut it = rest.split(' ');
    let d: u32 = it.next()?.parse().ok()?;
    let mon = it.next()?;
    let m = MONTHS.iter().position(|x| *x == mon)? as u32 + 1;
    let y: i64 = it.next()?.parse().ok()?;
    let t = it.next()?;
    if it.next()? != "GMT" || !(1..=31).contains(&d) {
        return None;
    }
    let mut tp = t.split(':');
    let hh: u64 = tp.next()?.parse().ok()?;
    let mm: u64 = tp.next()?.parse().ok()?;
    let ss: u64 = tp.next()?.parse().ok()?;
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if days < 0 {
        return None;
    }
    Some(days as u64 * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Decode `%XX` escapes of a URI path (RFC 3986 §2.1). `None` for a bad escape, an encoded NUL
/// or invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
            if v == 0 {
                return None;
            }
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Decode an `application/x-www-form-urlencoded` component (`+` is a space).
pub fn form_decode(s: &str) -> Option<String> {
    percent_decode(&s.replace('+', " "))
}

/// The value of query parameter `name` (case-insensitive name), decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| form_decode(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_head_and_pipelined_rest() {
        let buf = b"\r\nGET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-A:  v  \r\n\r\nGET /next";
        let (h, n) = parse_head(buf, 1024).unwrap().unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.path(), "/a/b");
        assert_eq!(h.query(), "x=1");
        assert_eq!(h.header("x-a"), Some("v"));
        assert_eq!(&buf[n..], b"GET /next");
        assert!(h.keep_alive());
    }

    #[test]
    fn head_errors() {
        assert!(matches!(parse_head(b"GET / HTTP/1.1\r\nHost: h\r\n", 1024), Ok(None)));
        assert_eq!(parse_head(&[b'a'; 2000], 1024).unwrap_err(), HeadError::TooLarge);
        assert_eq!(
            parse_head(b"GET / HTTP/2.0\r\n\r\n", 99).unwrap_err(),
            HeadError::Version
        );
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\n\r\n", 99).unwrap_err().status(), 400);
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nHost: h\r\n x\r\n\r\n", 99)
                .unwrap_err()
                .status(),
            400
        );
        assert!(parse_head(b"GET / HTTP/1.0\r\n\r\n", 99).unwrap().is_some());
    }

    #[test]
    fn framing() {
        let h = |s: &str| parse_head(s.as_bytes(), 4096).unwrap().unwrap().0;
        assert_eq!(
            body_framing(&h("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n")),
            Ok(BodyFraming::Length(5))
        );
        assert_eq!(
            body_framing(&h("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            body_framing(&h("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n")),
            Err(HeadError::Coding)
        );
        assert!(body_framing(&h(
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        ))
        .is_err());
        assert!(body_framing(&h("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n")).is_err());
        assert!(body_framing(&h("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n")).is_err());
    }

    #[test]
    fn chunked() {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let input = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        // Feed byte by byte: the decoder is incremental.
        let mut used = 0;
        for i in 0..input.len() {
            if d.is_done() {
                break;
            }
            used += d.decode(&input[i..i + 1], &mut out).unwrap();
        }
        assert!(d.is_done());
        assert_eq!(out, b"hello world");
        assert_eq!(&input[used..], b"NEXT");
        for bad in [
            &b"x\r\n"[..],
            b"5\r\nhelloX",
            b"\r\n",
            b"-1\r\n",
            b"1 2\n",
            b"ffffffffffffffff1\r\n",
        ] {
            let mut d = ChunkedDecoder::new();
            assert!(
                d.decode(bad, &mut Vec::new()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("/a%20b").as_deref(), Some("/a b"));
        assert_eq!(percent_decode("/a%00"), None);
        assert_eq!(percent_decode("/a%4"), None);
        assert_eq!(
            query_param("Email=a%40b.c&Protocol=EWS", "email").as_deref(),
            Some("a@b.c")
        );
    }
}
