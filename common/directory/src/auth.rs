//! Authentication (`authmgr`) with the failed-login defence (`user_filter`).
//!
//! [`Authenticator::authenticate`] is the one call every protocol daemon makes. Order: name
//! sanity; ban list and rate limit (the attempt after `userfilter_rl_maxtries` failures within
//! `userfilter_rl_window`, per user and per peer address, is refused WITHOUT checking the
//! password); account and domain status; then the password, by LDAP for users with `externid`
//! (`auth_backend_selection = externid`) or against the stored crypt(3) hash. Every
//! rejection waits `auth_fail_delay` and is logged in the fail2ban format
//! (`gromox_base::log::auth_rejected`). Passwords are never logged.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gromox_base::Config;
use slog::Logger;

use crate::directory::Directory;
use crate::hash;
use crate::ldap::LdapPool;
use crate::model::User;

/// How passwords are checked (`auth_backend_selection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Users with `externid` by LDAP, others by SQL hash (`externid`, and Gromox's older
    /// `always_mysql`/`always_ldap`, which it treats the same).
    Ldap,
    /// Any password of an existing, active user is accepted (testing).
    AllowAll,
    /// Everything is refused.
    DenyAll,
}

/// Why an authentication failed (what the daemon may tell the client is up to it; all of
/// these are "authentication failed" to the user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Bad user name or password (unknown user included).
    #[error("invalid credentials")]
    BadCredentials,
    /// The account or its domain is not active, or is a shared mailbox.
    #[error("account disabled")]
    Disabled,
    /// The account lacks the privilege for this service.
    #[error("not permitted for this service")]
    NotPermitted,
    /// Too many failures, or on the ban list.
    #[error("too many failed attempts")]
    RateLimited,
    /// The directory or LDAP server is unavailable.
    #[error("temporary failure: {0}")]
    Temporary(String),
}

/// A successfully authenticated user.
#[derive(Debug, Clone)]
pub struct AuthedUser {
    /// The directory record.
    pub user: User,
    /// Whether the password was checked by LDAP.
    pub via_ldap: bool,
    /// For an `actor!mailbox` login: the actor whose password was checked (then `user` is the
    /// mailbox opened).
    pub actor: Option<String>,
}

/// Failure bookkeeping per user and per peer address.
pub struct UserFilter {
    max_tries: usize,
    window: Duration,
    banned: Vec<String>,
    fails: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Entries kept at most (a flood of random names cannot grow memory without bound).
const FILTER_MAX: usize = 200_000;

impl UserFilter {
    /// A filter allowing `max_tries` failures per `window` (0: no limit); `banned` user names
    /// or IP addresses are always refused.
    pub fn new(max_tries: usize, window: Duration, banned: Vec<String>) -> Self {
        UserFilter {
            max_tries,
            window,
            banned: banned.into_iter().map(|s| s.to_lowercase()).collect(),
            fails: Mutex::new(HashMap::new()),
        }
    }

    fn keys(user: &str, ip: IpAddr) -> [String; 2] {
        [format!("u:{}", user.to_lowercase()), format!("a:{ip}")]
    }

    /// Whether an attempt is refused before any password check.
    pub fn refused(&self, user: &str, ip: IpAddr) -> Option<&'static str> {
        let lu = user.to_lowercase();
        if self.banned.iter().any(|b| *b == lu || *b == ip.to_string()) {
            return Some("on the ban list");
        }
        if self.max_tries == 0 {
            return None;
        }
        let mut map = self.fails.lock().unwrap_or_else(|p| p.into_inner());
        for k in Self::keys(user, ip) {
            if let Some(q) = map.get_mut(&k) {
                while q.front().is_some_and(|t| t.elapsed() >= self.window) {
                    q.pop_front();
                }
                if q.len() >= self.max_tries {
                    return Some("too many failed attempts");
                }
            }
        }
        None
    }

    /// Count a failure.
    pub fn failed(&self, user: &str, ip: IpAddr) {
        if self.max_tries == 0 {
            return;
        }
        let mut map = self.fails.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= FILTER_MAX {
            let w = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| t.elapsed() < w));
            if map.len() >= FILTER_MAX {
                map.clear();
            }
        }
        for k in Self::keys(user, ip) {
            let q = map.entry(k).or_default();
            q.push_back(Instant::now());
            while q.len() > self.max_tries {
                q.pop_front();
            }
        }
    }

    /// A success clears the user's failures (not the address's).
    pub fn succeeded(&self, user: &str) {
        let mut map = self.fails.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("u:{}", user.to_lowercase()));
    }
}

/// The authentication service.
pub struct Authenticator {
    dir: Arc<Directory>,
    ldap: Option<LdapPool>,
    mode: AuthMode,
    fail_delay: Duration,
    filter: UserFilter,
    log: Logger,
}

impl Authenticator {
    /// Build from the configuration (`auth_*`, `userfilter_*`, `ldap_*` keys).
    pub fn new(cfg: &Config, dir: Arc<Directory>, log: Logger) -> Self {
        let mode = match cfg.str("auth_backend_selection").to_ascii_lowercase().as_str() {
            "allow_all" => AuthMode::AllowAll,
            "deny_all" => AuthMode::DenyAll,
            _ => AuthMode::Ldap,
        };
        let banned = cfg
            .str("userfilter_banlist")
            .split([' ', ',', '\t'])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Authenticator {
            dir,
            ldap: LdapPool::from_config(cfg),
            mode,
            fail_delay: cfg.duration("auth_fail_delay"),
            filter: UserFilter::new(
                cfg.usize("userfilter_rl_maxtries"),
                cfg.duration("userfilter_rl_window"),
                banned,
            ),
            log,
        }
    }

    /// The directory.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.dir
    }

    /// The failure filter.
    pub fn filter(&self) -> &UserFilter {
        &self.filter
    }

    /// Authenticate `user` with `password` from `peer` for `operation` (the protocol verb for
    /// the log line, e.g. `LOGIN`, `AUTH PLAIN`, `USER/PASS`).
    pub fn authenticate(
        &self,
        user: &str,
        password: &str,
        peer: SocketAddr,
        operation: &str,
    ) -> Result<AuthedUser, AuthError> {
        self.authenticate_for(user, password, peer, operation, 0)
    }

    /// As [`Authenticator::authenticate`], also requiring the privilege bits `required`
    /// (e.g. [`crate::model::PRIV_POP3_IMAP`]).
    pub fn authenticate_for(
        &self,
        user: &str,
        password: &str,
        peer: SocketAddr,
        operation: &str,
        required: u32,
    ) -> Result<AuthedUser, AuthError> {
        let user = user.trim();
        if let Some(why) = self.filter.refused(user, peer.ip()) {
            return Err(self.reject(peer, user, operation, why, AuthError::RateLimited, false));
        }
        if user.is_empty() || user.len() > crate::directory::MAX_NAME || user.chars().any(char::is_control) {
            return Err(self.reject(
                peer,
                user,
                operation,
                "malformed user name",
                AuthError::BadCredentials,
                true,
            ));
        }
        if self.mode == AuthMode::DenyAll {
            return Err(self.reject(
                peer,
                user,
                operation,
                "authentication disabled (deny_all)",
                AuthError::BadCredentials,
                true,
            ));
        }
        let found = match self.dir.lookup_fresh(user) {
            Ok(u) => u,
            Err(e) => {
                slog::error!(self.log, "directory lookup failed"; "event" => "auth.directory_error", "error" => e.to_string());
                return Err(AuthError::Temporary("directory unavailable".into()));
            }
        };
        let Some(u) = found else {
            return Err(self.reject(peer, user, operation, "no such user", AuthError::BadCredentials, true));
        };
        if !u.can_login() {
            return Err(self.reject(
                peer,
                user,
                operation,
                "account or domain not active",
                AuthError::Disabled,
                true,
            ));
        }
        let (ok, via_ldap) = match self.mode {
            AuthMode::AllowAll => (true, false),
            AuthMode::DenyAll => (false, false),
            AuthMode::Ldap if u.externid.is_some() => {
                let Some(ldap) = &self.ldap else {
                    return Err(self.reject(
                        peer,
                        user,
                        operation,
                        "user needs LDAP but ldap_host is not set",
                        AuthError::BadCredentials,
                        true,
                    ));
                };
                match ldap.authenticate(&u.username, password) {
                    Ok(ok) => (ok, true),
                    Err(e) => {
                        slog::error!(self.log, "LDAP authentication failed"; "event" => "auth.ldap_error", "error" => e.to_string());
                        return Err(AuthError::Temporary("LDAP unavailable".into()));
                    }
                }
            }
            AuthMode::Ldap => (hash::verify(password, &u.password.0), false),
        };
        if !ok {
            return Err(self.reject(peer, user, operation, "bad password", AuthError::BadCredentials, true));
        }
        if required != 0 && !u.has(required) {
            return Err(self.reject(
                peer,
                user,
                operation,
                "service not permitted for this user",
                AuthError::NotPermitted,
                false,
            ));
        }
        self.filter.succeeded(user);
        slog::info!(self.log, "authenticated"; "event" => "auth.ok", "user" => gromox_base::log::sanitize(&u.username), "rhost" => peer.ip().to_string(), "ldap" => via_ldap);
        Ok(AuthedUser {
            user: u,
            via_ldap,
            actor: None,
        })
    }

    /// As [`Authenticator::authenticate_for`], also accepting Gromox's impersonation syntax
    /// `actor!mailbox`: the actor's password and privileges are checked, the mailbox must
    /// exist and accept mail (a normal or shared mailbox in an active domain), and
    /// `is_store_owner(actor, mailbox)` — the store-owner right of the actor on the mailbox's
    /// store, asked of the store — must say yes. The result is the mailbox's record with
    /// [`AuthedUser::actor`] set. A refused impersonation is logged in the fail2ban format
    /// but not counted as a password failure.
    pub fn authenticate_mailbox(
        &self,
        login: &str,
        password: &str,
        peer: SocketAddr,
        operation: &str,
        required: u32,
        is_store_owner: &dyn Fn(&User, &User) -> Result<bool, String>,
    ) -> Result<AuthedUser, AuthError> {
        let Some((actor, mailbox)) = login.trim().split_once('!') else {
            return self.authenticate_for(login, password, peer, operation, required);
        };
        let (actor, mailbox) = (actor.trim(), mailbox.trim());
        if actor.is_empty() || mailbox.is_empty() || mailbox.len() > crate::directory::MAX_NAME {
            return Err(self.reject(
                peer,
                login,
                operation,
                "malformed user name",
                AuthError::BadCredentials,
                true,
            ));
        }
        let a = self.authenticate_for(actor, password, peer, operation, required)?;
        let target = match self.dir.lookup_fresh(mailbox) {
            Ok(t) => t,
            Err(e) => {
                slog::error!(self.log, "directory lookup failed"; "event" => "auth.directory_error", "error" => e.to_string());
                return Err(AuthError::Temporary("directory unavailable".into()));
            }
        };
        let denied = |why: &str| self.reject(peer, login, operation, why, AuthError::NotPermitted, false);
        let Some(target) = target else {
            return Err(denied("no such mailbox"));
        };
        if target.username.eq_ignore_ascii_case(&a.user.username) {
            return Ok(a);
        }
        if !target.can_receive() || target.maildir.is_empty() {
            return Err(denied("mailbox or its domain not active"));
        }
        match is_store_owner(&a.user, &target) {
            Ok(true) => {}
            Ok(false) => return Err(denied("no store-owner right on the mailbox")),
            Err(e) => {
                slog::error!(self.log, "cannot check mailbox rights"; "event" => "auth.rights_error", "error" => gromox_base::log::sanitize(&e));
                return Err(AuthError::Temporary("mailbox rights unavailable".into()));
            }
        }
        slog::info!(self.log, "impersonating"; "event" => "auth.impersonate",
            "user" => gromox_base::log::sanitize(&a.user.username),
            "mailbox" => gromox_base::log::sanitize(&target.username),
            "rhost" => peer.ip().to_string());
        Ok(AuthedUser {
            actor: Some(a.user.username),
            user: target,
            via_ldap: a.via_ldap,
        })
    }

    fn reject(
        &self,
        peer: SocketAddr,
        user: &str,
        operation: &str,
        reason: &str,
        err: AuthError,
        count: bool,
    ) -> AuthError {
        if count {
            self.filter.failed(user, peer.ip());
        }
        gromox_base::log::auth_rejected(&self.log, peer, user, operation, reason);
        if !self.fail_delay.is_zero() {
            std::thread::sleep(self.fail_delay);
        }
        err
    }
}
