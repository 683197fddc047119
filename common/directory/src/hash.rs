//! crypt(3) password strings: new passwords are stored as SHA-512-crypt (`$6$`); verification
//! understands MD5-crypt (`$1$`), SHA-256/512-crypt (`$5$`, `$6$`), bcrypt (`$2a$`, `$2b$`,
//! `$2y$`) and yescrypt (`$y$`). An empty or unknown string never verifies.

use crate::error::{DirError, Result};

/// Hash schemes recognised by [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `$1$`.
    Md5,
    /// `$5$`.
    Sha256,
    /// `$6$`.
    Sha512,
    /// `$2a$`, `$2b$`, `$2x$`, `$2y$`.
    Bcrypt,
    /// `$y$`.
    Yescrypt,
}

/// The scheme of a crypt string.
pub fn scheme(hash: &str) -> Option<Scheme> {
    if hash.starts_with("$1$") {
        Some(Scheme::Md5)
    } else if hash.starts_with("$5$") {
        Some(Scheme::Sha256)
    } else if hash.starts_with("$6$") {
        Some(Scheme::Sha512)
    } else if ["$2a$", "$2b$", "$2x$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        Some(Scheme::Bcrypt)
    } else if hash.starts_with("$y$") {
        Some(Scheme::Yescrypt)
    } else {
        None
    }
}

/// Whether `password` matches the crypt string `hash`. Malformed or unknown hashes give
/// `false` (and never panic).
pub fn verify(password: &str, hash: &str) -> bool {
    use sha_crypt::PasswordVerifier;
    if password.is_empty() || hash.len() > 1024 {
        return false;
    }
    match scheme(hash) {
        Some(Scheme::Md5) => pwhash::md5_crypt::verify(password, hash),
        Some(Scheme::Sha256 | Scheme::Sha512) => sha_crypt::ShaCrypt::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok(),
        Some(Scheme::Bcrypt) => {
            // The bcrypt crate understands $2a$/$2b$/$2x$/$2y$ alike.
            bcrypt::verify(password, hash).unwrap_or(false)
        }
        Some(Scheme::Yescrypt) => {
            let y = yescrypt::Yescrypt::default();
            yescrypt::PasswordVerifier::<str>::verify_password(&y, password.as_bytes(), hash).is_ok()
        }
        None => false,
    }
}

/// Hash a new password as SHA-512-crypt with a random 16-character salt.
pub fn hash_password(password: &str) -> Result<String> {
    use sha_crypt::PasswordHasher;
    let mut salt = [0u8; 12];
    getrandom::fill(&mut salt).map_err(|e| DirError::Hash(e.to_string()))?;
    let h = sha_crypt::ShaCrypt::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| DirError::Hash(e.to_string()))?;
    Ok(h.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known vectors, computed outside this crate with the system's crypt(3) (libxcrypt, through
    /// Python's `crypt.crypt`) for the password "Hello world!".
    const VECTORS: &[&str] = &[
        "$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1",
        "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.z6PrHbuSsMSSwIGFy1JGevQZf6CqJ1y",
        "$2b$05$CCCCCCCCCCCCCCCCCCCCC.z6PrHbuSsMSSwIGFy1JGevQZf6CqJ1y",
        "$2y$05$CCCCCCCCCCCCCCCCCCCCC.z6PrHbuSsMSSwIGFy1JGevQZf6CqJ1y",
        "$y$j9T$abcdefghijklmnop$0v6Ko7oUZq5OJ/QdGzXAIGx/msmd/7GzdAiapbd6PD7",
    ];

    #[test]
    fn known_vectors_verify_and_wrong_passwords_fail() {
        for h in VECTORS {
            assert!(scheme(h).is_some(), "{h}");
            assert!(verify("Hello world!", h), "{h} should verify");
            assert!(!verify("Hello world?", h), "{h} verified a wrong password");
        }
    }

    #[test]
    fn yescrypt_reference_vector() {
        // From the yescrypt reference implementation's tests ("pleaseletmein").
        let h = "$y$jD5.7$LdJMENpBABJJ3hIHjB1Bi.$HboGM6qPrsK.StKYGt6KErmUYtioHreJd98oIugoNB6";
        assert!(verify("pleaseletmein", h));
        assert!(!verify("pleaseletmeout", h));
    }

    #[test]
    fn new_hashes_are_sha512_crypt() {
        let h = hash_password("s3cret pw").unwrap();
        assert!(h.starts_with("$6$"), "{h}");
        assert!(verify("s3cret pw", &h));
        assert!(!verify("s3cret pW", &h));
        assert_ne!(h, hash_password("s3cret pw").unwrap(), "salt must be random");
    }

    #[test]
    fn garbage_never_verifies() {
        for h in ["", "$6$", "$6$x", "$1$", "$2b$99$", "$y$", "plain", "$6$$$$$$"] {
            assert!(!verify("x", h));
            assert!(!verify("", h));
        }
    }
}
