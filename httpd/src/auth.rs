//! HTTP authentication: Basic (RFC 7617) with a credential cache and per-address failure rate
//! limiting; the [`Users`] trait the user directory (`gromox-directory`) will implement.
//!
//! The cache keys are SHA-256 digests of a per-process random key, the user name and the
//! password: the password itself is never stored or logged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use slog::Logger;

/// A user as the HTTP endpoints need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Primary e-mail address (the login name).
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Directory id (part of the legacy DN, as in Gromox: `cn=<id as 8 hex digits>-<local part>`).
    pub id: u32,
    /// Host name of the server holding the mailbox (`users.homeserver` → `servers.hostname`);
    /// empty for this host.
    pub server: String,
}

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Unknown user or wrong password (not told apart to the client).
    #[error("bad credentials")]
    BadCredentials,
    /// The account may not log in.
    #[error("account disabled")]
    Disabled,
    /// The directory could not be asked.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
}

/// The user directory as httpd sees it (to be backed by `gromox-directory`).
pub trait Users: Send + Sync {
    /// Check a user name and password.
    fn authenticate(&self, user: &str, pass: &str, peer: SocketAddr) -> Result<UserInfo, AuthError>;
    /// Look a user up by e-mail address (case-insensitive).
    fn lookup(&self, email: &str) -> Option<UserInfo>;
    /// Whether the backend rate-limits and writes the fail2ban line for a rejected login
    /// itself (the user directory does), so httpd must not log it a second time.
    fn logs_failures(&self) -> bool {
        false
    }
}

/// In-memory user list (tests, and the interim `http_users_file`). Passwords are kept as
/// salted SHA-256 digests.
#[derive(Default)]
pub struct MemUsers {
    users: HashMap<String, (Vec<u8>, [u8; 32], UserInfo)>,
}

fn salted(salt: &[u8], pass: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(pass.as_bytes());
    h.finalize().into()
}

/// `sha256$<salt>$<hex digest of salt||password>`, the format of `http_users_file`.
pub fn hash_password(salt: &str, pass: &str) -> String {
    format!("sha256${salt}${}", hex::encode(salted(salt.as_bytes(), pass)))
}

impl MemUsers {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a user with a password.
    pub fn add(&mut self, info: UserInfo, pass: &str) {
        let salt: [u8; 8] = rand::random();
        let salt = hex::encode(salt).into_bytes();
        let digest = salted(&salt, pass);
        self.users.insert(info.email.to_ascii_lowercase(), (salt, digest, info));
    }

    /// Parse the interim users file: `email<TAB>sha256$salt$hex<TAB>display name` per line,
    /// `#` comments. The line number is in the error.
    pub fn parse_file(text: &str) -> Result<MemUsers, String> {
        let mut m = MemUsers::new();
        for (no, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let mut f = line.split('\t');
            let (Some(email), Some(hash)) = (f.next(), f.next()) else {
                return Err(format!("line {}: expected email<TAB>hash<TAB>display name", no + 1));
            };
            let display = f.next().unwrap_or(email).to_string();
            let parts: Vec<&str> = hash.split('$').collect();
            let digest = match parts.as_slice() {
                ["sha256", _salt, hexd] => hex::decode(hexd)
                    .ok()
                    .and_then(|d| <[u8; 32]>::try_from(d).ok())
                    .ok_or_else(|| format!("line {}: bad digest", no + 1))?,
                _ => return Err(format!("line {}: hash must be sha256$salt$hex", no + 1)),
            };
            let id = (m.users.len() + 1) as u32;
            m.users.insert(
                email.to_ascii_lowercase(),
                (
                    parts[1].as_bytes().to_vec(),
                    digest,
                    UserInfo {
                        email: email.to_string(),
                        display_name: display,
                        id,
                        server: String::new(),
                    },
                ),
            );
        }
        Ok(m)
    }
}

impl Users for MemUsers {
    fn authenticate(&self, user: &str, pass: &str, _peer: SocketAddr) -> Result<UserInfo, AuthError> {
        let Some((salt, digest, info)) = self.users.get(&user.to_ascii_lowercase()) else {
            return Err(AuthError::BadCredentials);
        };
        let got = salted(salt, pass);
        // Constant-time comparison of the digests.
        let diff = got.iter().zip(digest.iter()).fold(0u8, |a, (x, y)| a | (x ^ y));
        if diff == 0 {
            Ok(info.clone())
        } else {
            Err(AuthError::BadCredentials)
        }
    }

    fn lookup(&self, email: &str) -> Option<UserInfo> {
        self.users.get(&email.to_ascii_lowercase()).map(|(_, _, i)| i.clone())
    }
}

/// Authentication schemes of the `Authorization` header (RFC 9110 §11.6.2). Only Basic is
/// implemented; Negotiate/NTLM (MS-NLMP) will slot in here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Basic <base64(user:pass)>` (RFC 7617).
    Basic {
        /// User name.
        user: String,
        /// Password.
        pass: String,
    },
    /// `Negotiate <token>` (RFC 4559), not implemented yet.
    Negotiate(String),
    /// `NTLM <token>`, not implemented yet.
    Ntlm(String),
    /// Another scheme.
    Other(String),
}

impl AuthScheme {
    /// Parse an `Authorization` header value. `None` when malformed.
    pub fn parse(value: &str) -> Option<AuthScheme> {
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let raw = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
            let s = String::from_utf8(raw).ok()?;
            let (user, pass) = s.split_once(':')?;
            Some(AuthScheme::Basic {
                user: user.to_string(),
                pass: pass.to_string(),
            })
        } else if scheme.eq_ignore_ascii_case("negotiate") {
            Some(AuthScheme::Negotiate(rest.to_string()))
        } else if scheme.eq_ignore_ascii_case("ntlm") {
            Some(AuthScheme::Ntlm(rest.to_string()))
        } else {
            Some(AuthScheme::Other(scheme.to_string()))
        }
    }
}

/// Result of checking a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Authenticated.
    User(UserInfo),
    /// No or unusable credentials: answer 401 with a challenge.
    Challenge,
    /// Too many failures from this address: answer 429.
    Limited,
    /// The directory failed: answer 503.
    Unavailable,
}

/// Basic authentication with a credential cache and failure rate limiting.
pub struct Authenticator {
    users: std::sync::Arc<dyn Users>,
    key: [u8; 32],
    lifetime: Duration,
    cache: Mutex<HashMap<[u8; 32], (UserInfo, Instant)>>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    max_failures: u32,
    window: Duration,
    log: Logger,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Only plain map inserts/lookups happen under these locks; poisoning cannot leave them
    // inconsistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Authenticator {
    /// Build one. `lifetime` 0 disables the cache; `max_failures` per address per `window`.
    pub fn new(
        users: std::sync::Arc<dyn Users>,
        lifetime: Duration,
        max_failures: u32,
        window: Duration,
        log: Logger,
    ) -> Self {
        Authenticator {
            users,
            key: rand::random(),
            lifetime,
            cache: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            max_failures,
            window,
            log,
        }
    }

    /// The directory.
    pub fn users(&self) -> &dyn Users {
        &*self.users
    }

    fn cache_key(&self, user: &str, pass: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(user.to_ascii_lowercase().as_bytes());
        h.update([0]);
        h.update(pass.as_bytes());
        h.finalize().into()
    }

    fn limited(&self, ip: IpAddr, now: Instant) -> bool {
        let f = lock(&self.failures);
        f.get(&ip)
            .is_some_and(|(n, since)| *n >= self.max_failures && now.duration_since(*since) < self.window)
    }

    fn fail(&self, ip: IpAddr, now: Instant) -> u32 {
        let mut f = lock(&self.failures);
        if f.len() > 100_000 {
            let window = self.window;
            f.retain(|_, (_, since)| now.duration_since(*since) < window);
        }
        let e = f.entry(ip).or_insert((0, now));
        if now.duration_since(e.1) >= self.window {
            *e = (0, now);
        }
        e.0 += 1;
        e.0
    }

    /// Check the `Authorization` header value (if any) of a request from `peer`.
    /// Failures are logged in the fail2ban format (operation `HTTP auth`).
    pub fn check(&self, header: Option<&str>, peer: SocketAddr) -> (AuthOutcome, bool) {
        let Some(value) = header else {
            return (AuthOutcome::Challenge, false);
        };
        let now = Instant::now();
        let (user, pass) = match AuthScheme::parse(value) {
            Some(AuthScheme::Basic { user, pass }) => (user, pass),
            Some(AuthScheme::Negotiate(_)) | Some(AuthScheme::Ntlm(_)) | Some(AuthScheme::Other(_)) => {
                return (AuthOutcome::Challenge, false)
            }
            None => {
                gromox_base::log::auth_rejected(&self.log, peer, "", "HTTP auth", "malformed Authorization header");
                return (AuthOutcome::Challenge, true);
            }
        };
        if self.limited(peer.ip(), now) {
            gromox_base::log::auth_rejected(&self.log, peer, &user, "HTTP auth", "too many failures");
            return (AuthOutcome::Limited, true);
        }
        let key = self.cache_key(&user, &pass);
        if !self.lifetime.is_zero() {
            let cache = lock(&self.cache);
            if let Some((info, at)) = cache.get(&key) {
                if now.duration_since(*at) < self.lifetime {
                    return (AuthOutcome::User(info.clone()), false);
                }
            }
        }
        match self.users.authenticate(&user, &pass, peer) {
            Ok(info) => {
                if !self.lifetime.is_zero() {
                    let mut cache = lock(&self.cache);
                    if cache.len() > 100_000 {
                        let lifetime = self.lifetime;
                        cache.retain(|_, (_, at)| now.duration_since(*at) < lifetime);
                    }
                    cache.insert(key, (info.clone(), now));
                }
                (AuthOutcome::User(info), false)
            }
            Err(AuthError::Unavailable(e)) => {
                slog::error!(self.log, "user directory unavailable"; "event" => "http.auth_unavailable", "error" => e);
                (AuthOutcome::Unavailable, false)
            }
            Err(e) => {
                self.fail(peer.ip(), now);
                if !self.users.logs_failures() {
                    gromox_base::log::auth_rejected(&self.log, peer, &user, "HTTP auth", &e.to_string());
                }
                (AuthOutcome::Challenge, true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn users() -> Arc<MemUsers> {
        let mut m = MemUsers::new();
        m.add(
            UserInfo {
                email: "a@b.c".into(),
                display_name: "A".into(),
                id: 1,
                server: String::new(),
            },
            "pw",
        );
        Arc::new(m)
    }

    fn basic(u: &str, p: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    }

    #[test]
    fn basic_cache_and_limit() {
        let a = Authenticator::new(
            users(),
            Duration::from_secs(60),
            3,
            Duration::from_secs(60),
            gromox_base::log::discard(),
        );
        let peer: SocketAddr = "192.0.2.1:5".parse().unwrap();
        assert!(matches!(a.check(Some(&basic("A@b.c", "pw")), peer).0, AuthOutcome::User(u) if u.id == 1));
        assert_eq!(a.check(None, peer).0, AuthOutcome::Challenge);
        for _ in 0..3 {
            assert_eq!(a.check(Some(&basic("a@b.c", "no")), peer).0, AuthOutcome::Challenge);
        }
        assert_eq!(a.check(Some(&basic("a@b.c", "pw")), peer).0, AuthOutcome::Limited);
        let other: SocketAddr = "192.0.2.2:5".parse().unwrap();
        assert!(matches!(
            a.check(Some(&basic("a@b.c", "pw")), other).0,
            AuthOutcome::User(_)
        ));
        assert_eq!(a.check(Some("Basic !!!"), other).0, AuthOutcome::Challenge);
    }

    #[test]
    fn users_file() {
        let text = format!("# c\na@b.c\t{}\tAlice A\n", hash_password("s1", "secret"));
        let m = MemUsers::parse_file(&text).unwrap();
        let ip: SocketAddr = "[::1]:443".parse().unwrap();
        assert_eq!(m.authenticate("A@B.C", "secret", ip).unwrap().display_name, "Alice A");
        assert_eq!(m.authenticate("a@b.c", "wrong", ip), Err(AuthError::BadCredentials));
        assert!(MemUsers::parse_file("a@b.c\tplain\n").is_err());
    }
}
