//! Replies with RFC 3463 enhanced status codes (RFC 2034: on every reply once
//! ENHANCEDSTATUSCODES is advertised; this server sends them always, except on the greeting).

use std::fmt;

/// One single-line reply: `code enhanced text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Basic status code (RFC 5321 §4.2).
    pub code: u16,
    /// Enhanced status code (RFC 3463), e.g. `2.1.5`.
    pub enhanced: &'static str,
    /// Human-readable text (no CR/LF).
    pub text: String,
}

impl Reply {
    /// A reply.
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Reply {
        let mut text = text.into();
        text.retain(|c| c != '\r' && c != '\n');
        Reply { code, enhanced, text }
    }

    /// Whether the code is 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// Append the reply with CRLF to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code, self.enhanced, self.text)
    }
}
