//! Validation of names that end up in file system paths (user names, domains, folder names
//! given by clients). A name that passes cannot escape its directory.

use std::path::{Path, PathBuf};

/// Longest accepted e-mail address (RFC 5321 §4.5.3.1.3 path limit, as Gromox's `users.username`).
pub const MAX_ADDRESS: usize = 320;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty name.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// Too long.
    #[error("{0} is longer than {1} characters")]
    TooLong(&'static str, usize),
    /// Contains a character that is not allowed.
    #[error("{0} contains a forbidden character ({1})")]
    BadChar(&'static str, &'static str),
    /// Not of the form `local@domain`.
    #[error("\"{0}\" is not of the form user@domain")]
    NotAddress(String),
}

/// Check one path component derived from a name (`what` names it in the message).
pub fn check_component(what: &'static str, s: &str, max: usize) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty(what));
    }
    if s.chars().count() > max {
        return Err(NameError::TooLong(what, max));
    }
    if s.contains('\0') {
        return Err(NameError::BadChar(what, "NUL"));
    }
    if s.chars().any(char::is_control) {
        return Err(NameError::BadChar(what, "control character"));
    }
    if s.contains('/') || s.contains('\\') {
        return Err(NameError::BadChar(what, "slash"));
    }
    if s == "." || s == ".." || s.starts_with('.') {
        return Err(NameError::BadChar(what, "leading dot"));
    }
    Ok(())
}

/// Check a domain name: letters, digits, `-`, `.` (and non-ASCII for IDN), no `..`.
pub fn check_domain(s: &str) -> Result<(), NameError> {
    check_component("domain", s, 253)?;
    if s.contains("..") || s.ends_with('.') {
        return Err(NameError::BadChar("domain", "empty label"));
    }
    if s.chars()
        .any(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'))
    {
        return Err(NameError::BadChar("domain", "not a host name character"));
    }
    Ok(())
}

/// Split and check `local@domain`.
pub fn split_address(addr: &str) -> Result<(&str, &str), NameError> {
    if addr.chars().count() > MAX_ADDRESS {
        return Err(NameError::TooLong("address", MAX_ADDRESS));
    }
    let (local, domain) = addr
        .rsplit_once('@')
        .ok_or_else(|| NameError::NotAddress(addr.chars().take(80).collect()))?;
    check_component("user name", local, 64)?;
    if local.chars().any(|c| c.is_whitespace()) {
        return Err(NameError::BadChar("user name", "white space"));
    }
    check_domain(domain)?;
    Ok((local, domain))
}

/// The private mailbox directory of `addr` under `state`: `<state>/user/<domain>/<local>`
/// (DESIGN.md §4), lower-cased, after validation.
pub fn user_maildir(state: &Path, addr: &str) -> Result<PathBuf, NameError> {
    let (local, domain) = split_address(addr)?;
    Ok(state
        .join("user")
        .join(domain.to_lowercase())
        .join(local.to_lowercase()))
}

/// The public store directory of `domain`: `<state>/domain/<domain>`.
pub fn domain_dir(state: &Path, domain: &str) -> Result<PathBuf, NameError> {
    check_domain(domain)?;
    Ok(state.join("domain").join(domain.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad() {
        let st = Path::new("/s");
        assert_eq!(
            user_maildir(st, "Alice@Example.org").unwrap(),
            Path::new("/s/user/example.org/alice")
        );
        assert!(
            user_maildir(st, "o'brien\"x@example.org").is_ok(),
            "quotes are harmless"
        );
        for bad in [
            "../x@example.org",
            "a/b@example.org",
            "a@../etc",
            "a@ex..org",
            "a\0b@x.org",
            "a\nb@x.org",
            "@x.org",
            "a@",
            "noat",
            ".hidden@x.org",
        ] {
            assert!(user_maildir(st, bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@x.org", "a".repeat(65));
        assert_eq!(
            user_maildir(st, &long).unwrap_err(),
            NameError::TooLong("user name", 64)
        );
        assert!(domain_dir(st, "example.org").is_ok());
        assert!(domain_dir(st, "exa mple.org").is_err());
    }
}
