//! pop3d's error types.

/// Why a command line does not parse (answered `-ERR` inside the protocol, RFC 1939 §3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but spaces.
    #[error("empty command")]
    Empty,
    /// Not a POP3 keyword this server knows.
    #[error("unknown command")]
    Unknown,
    /// The arguments are wrong for this command.
    #[error("{0}")]
    BadArgument(&'static str),
    /// Arguments that are not UTF-8.
    #[error("arguments are not UTF-8")]
    NotUtf8,
}

/// Errors of the maildrop (the mail store behind the session).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropError {
    /// The mailbox or its INBOX does not exist.
    #[error("no maildrop: {0}")]
    NoMailbox(String),
    /// The store or index cannot be reached or failed; trying later may work.
    #[error("maildrop unavailable: {0}")]
    Unavailable(String),
}

/// Why a login failed, as the session tells the client (RFC 3206 response codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Bad user name or password (no response code).
    #[error("invalid credentials")]
    BadCredentials,
    /// The account or domain is disabled, or lacks the POP3/IMAP privilege (`[AUTH]`).
    #[error("account not permitted")]
    NotPermitted,
    /// Too many failures recently (told like bad credentials, so guessing learns nothing).
    #[error("too many failed attempts")]
    RateLimited,
    /// The directory is unavailable (`[SYS/TEMP]`).
    #[error("temporary failure: {0}")]
    Temporary(String),
}
