//! Error type of the information store.

/// Errors of store operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("property data: {0}")]
    Mapi(#[from] gromox_mapi::Error),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("a folder named {0:?} already exists there")]
    NameConflict(String),
    /// Delivery or save refused: the mailbox is over its prohibit-receive (or send) quota.
    #[error("quota exceeded: {used} bytes used, limit {limit} bytes")]
    QuotaExceeded { used: u64, limit: u64 },
    #[error("access denied")]
    AccessDenied,
    #[error("store already exists at {0} (use force to recreate)")]
    Exists(std::path::PathBuf),
    #[error("invalid name: {0}")]
    InvalidName(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// A limit on what one connection may hold (instances) would be passed.
    #[error("too big: {0}")]
    TooBig(String),
    #[error("store is damaged: {0}")]
    Corrupt(String),
    #[error("schema generation {0} is not 27 (an older store is brought up to date with gromox-mkprivate/gromox-mkpublic -U)")]
    SchemaVersion(i64),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
