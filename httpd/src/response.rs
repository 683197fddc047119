//! Responses as handlers build them, and their serialisation (RFC 9112 §4, §6, §7.1).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use crate::http::{reason, Version};

/// A source of response bytes of unknown length (sent chunked to HTTP/1.1 clients,
/// close-delimited to HTTP/1.0 ones). Runs on a worker thread; may block on a backend.
pub trait BodyStream: Send {
    /// Append the next piece to `out`; `Ok(false)` at the end.
    fn next_chunk(&mut self, out: &mut Vec<u8>) -> std::io::Result<bool>;
}

/// A response body.
pub enum Body {
    /// In memory.
    Bytes(Vec<u8>),
    /// A file region, streamed with back-pressure.
    File {
        /// The open file.
        file: File,
        /// First byte.
        offset: u64,
        /// Bytes to send.
        len: u64,
    },
    /// Unknown length.
    Stream(Box<dyn BodyStream>),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Bytes({})", b.len()),
            Body::File { offset, len, .. } => write!(f, "File({offset}+{len})"),
            Body::Stream(_) => write!(f, "Stream"),
        }
    }
}

/// A response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields (without Date, Server, Content-Length, Connection, Transfer-Encoding,
    /// which the session adds).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Body,
    /// Close the connection after this response.
    pub close: bool,
    /// Endpoint label for metrics and the access log.
    pub endpoint: &'static str,
    /// The authenticated user, for the access log.
    pub user: Option<String>,
}

impl Response {
    /// A response with an in-memory body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        let mut r = Response {
            status,
            headers: Vec::new(),
            body: Body::Bytes(body.into()),
            close: false,
            endpoint: "other",
            user: None,
        };
        if !content_type.is_empty() {
            r.headers.push(("Content-Type".into(), content_type.into()));
        }
        r
    }

    /// A short plain-text response with the reason phrase as body.
    pub fn status(status: u16) -> Response {
        Response::new(
            status,
            "text/plain; charset=utf-8",
            format!("{status} {}\n", reason(status)),
        )
    }

    /// Add a header field.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Set the endpoint label.
    pub fn endpoint(mut self, e: &'static str) -> Response {
        self.endpoint = e;
        self
    }

    /// Mark the connection for closing after this response.
    pub fn closing(mut self) -> Response {
        self.close = true;
        self
    }

    /// A redirect.
    pub fn redirect(status: u16, location: &str) -> Response {
        Response::status(status).header("Location", location)
    }
}

/// Whether a status never has a body (RFC 9110 §15: 1xx, 204, 304).
pub fn bodiless(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// What the session streams after the head.
pub enum Pending {
    /// A file region.
    File(File, u64),
    /// A stream; `chunked` when the chunked coding is used.
    Stream(Box<dyn BodyStream>, bool),
}

/// Serialise the head (and an in-memory body) of `resp` into `out`. Returns what remains to be
/// streamed and whether the connection stays open.
///
/// `head_only` for HEAD requests; `keep_alive` what the client asked for.
pub fn write_response(
    out: &mut Vec<u8>,
    version: Version,
    resp: Response,
    head_only: bool,
    keep_alive: bool,
    date: &str,
    server: &str,
) -> (Option<Pending>, bool, u64) {
    let mut keep = keep_alive && !resp.close;
    let no_body = bodiless(resp.status);
    let status = resp.status;
    out.extend_from_slice(version.as_str().as_bytes());
    out.extend_from_slice(format!(" {status} {}\r\n", reason(status)).as_bytes());
    let mut add = |n: &str, v: &str| {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    add("Date", date);
    if !server.is_empty() {
        add("Server", server);
    }
    for (n, v) in &resp.headers {
        add(n, v);
    }
    let mut pending = None;
    let mut body_bytes: Option<Vec<u8>> = None;
    let mut sent_len = 0;
    match resp.body {
        Body::Bytes(b) => {
            if !no_body {
                add("Content-Length", &b.len().to_string());
            }
            sent_len = b.len() as u64;
            body_bytes = Some(b);
        }
        Body::File { mut file, offset, len } => {
            add("Content-Length", &len.to_string());
            sent_len = len;
            if !head_only && !no_body && len > 0 {
                if offset == 0 || file.seek(SeekFrom::Start(offset)).is_ok() {
                    if len <= 64 * 1024 {
                        let mut b = Vec::with_capacity(len as usize);
                        if (&mut file).take(len).read_to_end(&mut b).is_ok() && b.len() as u64 == len {
                            body_bytes = Some(b);
                        } else {
                            keep = false;
                        }
                    } else {
                        pending = Some(Pending::File(file, len));
                    }
                } else {
                    keep = false;
                }
            }
        }
        Body::Stream(s) => {
            if version == Version::Http11 {
                add("Transfer-Encoding", "chunked");
                if !head_only && !no_body {
                    pending = Some(Pending::Stream(s, true));
                }
            } else {
                // HTTP/1.0: the end of the body is the end of the connection.
                keep = false;
                if !head_only && !no_body {
                    pending = Some(Pending::Stream(s, false));
                }
            }
        }
    }
    if !keep {
        add("Connection", "close");
    } else if version == Version::Http10 {
        add("Connection", "keep-alive");
    }
    out.extend_from_slice(b"\r\n");
    if let Some(b) = body_bytes {
        if !head_only && !no_body {
            out.extend_from_slice(&b);
        }
    }
    (pending, keep, sent_len)
}

/// Produce the next piece of a pending body into `out` (at most about `budget` bytes).
/// Returns `Ok(true)` when the body is complete.
pub fn continue_pending(p: &mut Pending, out: &mut Vec<u8>, budget: usize) -> std::io::Result<bool> {
    match p {
        Pending::File(f, left) => {
            let want = (*left).min(budget as u64) as usize;
            let start = out.len();
            out.resize(start + want, 0);
            let mut got = 0;
            while got < want {
                match f.read(&mut out[start + got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        out.truncate(start);
                        return Err(e);
                    }
                }
            }
            out.truncate(start + got);
            if got < want {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "file shrank while sending",
                ));
            }
            *left -= got as u64;
            Ok(*left == 0)
        }
        Pending::Stream(s, chunked) => {
            let mut produced = 0;
            while produced < budget {
                let mut piece = Vec::new();
                let more = s.next_chunk(&mut piece)?;
                produced += piece.len();
                if *chunked {
                    if !piece.is_empty() {
                        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                        out.extend_from_slice(&piece);
                        out.extend_from_slice(b"\r\n");
                    }
                    if !more {
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                } else {
                    out.extend_from_slice(&piece);
                }
                if !more {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}
