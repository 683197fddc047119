//! The crate's error type.

use std::fmt;

/// Errors of the conversion decoders. Every decoder returns these for bad
/// input instead of panicking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Input ended before a structure was complete.
    Truncated(&'static str),
    /// A magic number / signature did not match.
    BadSignature(&'static str),
    /// A checksum did not match (expected, computed).
    BadChecksum {
        what: &'static str,
        expected: u32,
        computed: u32,
    },
    /// A field had a value the format does not allow.
    Invalid(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated(w) => write!(f, "truncated input: {w}"),
            Error::BadSignature(w) => write!(f, "bad signature: {w}"),
            Error::BadChecksum {
                what,
                expected,
                computed,
            } => {
                write!(
                    f,
                    "bad checksum in {what}: expected {expected:#x}, computed {computed:#x}"
                )
            }
            Error::Invalid(w) => write!(f, "invalid data: {w}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
