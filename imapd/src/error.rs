//! The crate's error types.

use thiserror::Error;

/// Why a command could not be framed or parsed (RFC 9051 §7.1.5 `BAD`).
///
/// Carries the tag when one could be read, so the session answers with a tagged `BAD`;
/// otherwise the answer is an untagged `* BAD`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{msg}")]
pub struct ParseError {
    /// The command's tag, if it was parseable.
    pub tag: Option<String>,
    /// Human-readable reason, sent to the client after `BAD`.
    pub msg: String,
}

impl ParseError {
    pub(crate) fn new(tag: Option<&[u8]>, msg: impl Into<String>) -> Self {
        ParseError {
            tag: tag.map(|t| String::from_utf8_lossy(t).into_owned()),
            msg: msg.into(),
        }
    }
}

/// Errors a [`crate::store::MailStore`] reports to the session.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// Wrong user name or password (answered `NO [AUTHENTICATIONFAILED]`).
    #[error("authentication failed")]
    AuthFailed,
    /// The mailbox does not exist (`NO [NONEXISTENT]`).
    #[error("no such mailbox")]
    NoMailbox,
    /// The mailbox already exists (`NO [ALREADYEXISTS]`).
    #[error("mailbox already exists")]
    AlreadyExists,
    /// The operation is not allowed (`NO [NOPERM]`).
    #[error("permission denied")]
    NoPerm,
    /// The mailbox cannot be used as asked, e.g. deleting INBOX (`NO [CANNOT]`).
    #[error("{0}")]
    Cannot(String),
    /// Quota or size limit (`NO [OVERQUOTA]`).
    #[error("over quota")]
    OverQuota,
    /// The backend failed (`NO [SERVERBUG]`); details are logged, not sent.
    #[error("backend failure: {0}")]
    Backend(String),
    /// The backend cannot be reached now (`NO [UNAVAILABLE]`); details are logged.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// The RFC 5530 response code and the text sent to the client.
    pub fn code_and_text(&self) -> (&'static str, String) {
        match self {
            StoreError::AuthFailed => ("AUTHENTICATIONFAILED", "Authentication failed".into()),
            StoreError::NoMailbox => ("NONEXISTENT", "No such mailbox".into()),
            StoreError::AlreadyExists => ("ALREADYEXISTS", "Mailbox already exists".into()),
            StoreError::NoPerm => ("NOPERM", "Permission denied".into()),
            StoreError::Cannot(s) => ("CANNOT", s.clone()),
            StoreError::OverQuota => ("OVERQUOTA", "Quota exceeded".into()),
            StoreError::Backend(_) => ("SERVERBUG", "Internal error, try again later".into()),
            StoreError::Unavailable(_) => ("UNAVAILABLE", "Mail storage is temporarily unavailable".into()),
        }
    }
}
