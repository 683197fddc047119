//! Mailbox directories: `<state>/user/<domain>/<localpart>/` and `<state>/domain/<domain>/`,
//! built only from validated names.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Longest accepted local part / domain (RFC 5321 §4.5.3.1).
const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 255;

fn check_component(s: &str, max: usize) -> Result<()> {
    let bad = s.is_empty()
        || s.len() > max
        || s == "."
        || s == ".."
        || s.starts_with('.')
        || s.contains("..")
        || s.chars()
            .any(|c| c == '/' || c == '\\' || c == '\0' || c.is_control() || c.is_whitespace());
    if bad {
        Err(Error::InvalidName(s.to_owned()))
    } else {
        Ok(())
    }
}

/// Splits and validates `local@domain` (lower-cased).
pub fn split_user(user: &str) -> Result<(String, String)> {
    let (l, d) = user
        .rsplit_once('@')
        .ok_or_else(|| Error::InvalidName(user.to_owned()))?;
    let (l, d) = (l.to_lowercase(), d.to_lowercase());
    check_component(&l, MAX_LOCAL)?;
    check_component(&d, MAX_DOMAIN)?;
    Ok((l, d))
}

/// The mailbox directory of a user.
pub fn user_maildir(state: &Path, user: &str) -> Result<PathBuf> {
    let (l, d) = split_user(user)?;
    Ok(state.join("user").join(d).join(l))
}

/// The public store directory of a domain.
pub fn domain_dir(state: &Path, domain: &str) -> Result<PathBuf> {
    let d = domain.to_lowercase();
    check_component(&d, MAX_DOMAIN)?;
    Ok(state.join("domain").join(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn validation() {
        let s = Path::new("/s");
        assert_eq!(
            user_maildir(s, "Alice@Example.org").unwrap(),
            Path::new("/s/user/example.org/alice")
        );
        for bad in [
            "../x@example.org",
            "a/b@example.org",
            "a@..",
            "a\0@x",
            "noat",
            "a@",
            "@x",
            "a b@x",
        ] {
            assert!(user_maildir(s, bad).is_err(), "{bad}");
        }
        assert!(user_maildir(s, &format!("{}@x", "a".repeat(65))).is_err());
        assert!(domain_dir(s, "..").is_err());
    }
}
