//! The user directory and authentication of gromox-rs.
//!
//! - [`directory::Directory`]: one API over two backends ([`db`]): SQLite in the state
//!   directory (`<state_path>/directory.sqlite3`, the default) or MySQL/MariaDB, both with
//!   Gromox's table and column names ([`schema`]); lookups the daemons need (user by login,
//!   alias, altname or `user+ext` address; maildir; home server; status; privileges; display
//!   name and type; mailing lists; forwards), cached for `mysql_object_cache_lifetime`.
//! - [`auth::Authenticator`]: `authenticate(user, password, peer, operation)` with crypt(3)
//!   hashes ([`hash`]), LDAP for users with `externid` ([`ldap`], RFC 4511), a failure delay,
//!   per-user/per-address rate limits and a ban list, fail2ban log lines.
//! - [`cli`]: `gromox-admin` and `gromox-dbop`.
//!
//! Keys and defaults: [`keys::config_keys`]; see README.md.

pub mod auth;
pub mod cache;
pub mod cli;
pub mod db;
pub mod directory;
pub mod error;
pub mod hash;
pub mod keys;
pub mod ldap;
pub mod model;
pub mod routing;
pub mod schema;

pub use auth::{AuthError, AuthMode, AuthedUser, Authenticator};
pub use cli::open_auth;
pub use directory::{ensure_demo, set_store_hooks, Directory, DomainSpec, StoreHooks, UserSpec};
pub use error::DirError;
pub use keys::{config_keys, CONFIG_FILES};

/// Entry points for fuzz targets (`fuzz/`); the seeds run as unit tests.
pub mod fuzzing {
    /// LDAP message decoder: must never panic.
    pub fn ldap_message(data: &[u8]) {
        let _ = crate::ldap::parse_message(data);
    }
    /// crypt(3) verification of arbitrary hash strings: must never panic.
    pub fn crypt_verify(data: &[u8]) {
        if let Ok(s) = std::str::from_utf8(data) {
            let (pw, h) = s.split_once('\n').unwrap_or(("x", s));
            let _ = crate::hash::verify(pw, h);
        }
    }
}

#[cfg(test)]
mod tests {
    /// The daemons share one directory and authenticator between their worker threads.
    #[test]
    fn shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::Directory>();
        send_sync::<crate::Authenticator>();
    }
}
