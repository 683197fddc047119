//! The crate's error type.

use gromox_base::names::NameError;

/// Everything that can go wrong in the directory, its tools and authentication.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// A name was refused (path safety, length, characters).
    #[error("invalid name: {0}")]
    Name(#[from] NameError),
    /// Some other input was refused.
    #[error("{0}")]
    Invalid(String),
    /// The object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The object exists already.
    #[error("{0} already exists")]
    Exists(String),
    /// SQLite error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// MySQL/MariaDB error.
    #[error("mysql: {0}")]
    Mysql(#[from] mysql::Error),
    /// Connection pool error (could not connect).
    #[error("database connection: {0}")]
    Pool(#[from] r2d2::Error),
    /// The schema is missing or has the wrong version.
    #[error("schema: {0}")]
    Schema(String),
    /// Configuration problem.
    #[error("configuration: {0}")]
    Config(String),
    /// I/O.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// LDAP protocol or server error.
    #[error("ldap: {0}")]
    Ldap(String),
    /// Password hashing failed.
    #[error("password hash: {0}")]
    Hash(String),
}

/// Result alias.
pub type Result<T, E = DirError> = std::result::Result<T, E>;
