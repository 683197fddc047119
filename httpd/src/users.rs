//! [`Users`] backed by the user directory (`gromox-directory`): Basic credentials are checked by
//! the directory's authenticator (crypt(3) hashes or LDAP for users with `externid`, its
//! per-user and per-address rate limits, and its fail2ban line), AutoDiscover reads display
//! names and home servers from it.
//!
//! The directory is opened on first use and again after a failure, so httpd starts (and serves
//! static files and autoconfig) even while the directory database is not there yet; logins are
//! then answered 503 rather than 401.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use gromox_base::Config;
use gromox_directory::auth::{AuthError as DirAuthError, Authenticator};
use gromox_directory::Directory;
use slog::Logger;

use crate::auth::{AuthError, UserInfo, Users};

/// Users from the directory configured in `cfg`.
pub struct DirectoryUsers {
    cfg: Config,
    log: Logger,
    open: Mutex<Option<(Arc<Directory>, Arc<Authenticator>)>>,
}

impl DirectoryUsers {
    /// Prepare; nothing is opened yet.
    pub fn new(cfg: &Config, log: Logger) -> DirectoryUsers {
        DirectoryUsers {
            cfg: cfg.clone(),
            log,
            open: Mutex::new(None),
        }
    }

    fn get(&self) -> Result<(Arc<Directory>, Arc<Authenticator>), String> {
        let mut g = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((d, a)) = g.as_ref() {
            return Ok((d.clone(), a.clone()));
        }
        let dir = Arc::new(Directory::open(&self.cfg).map_err(|e| e.to_string())?);
        let auth = Arc::new(Authenticator::new(&self.cfg, dir.clone(), self.log.clone()));
        *g = Some((dir.clone(), auth.clone()));
        Ok((dir, auth))
    }
}

fn info(u: &gromox_directory::model::User) -> UserInfo {
    UserInfo {
        email: u.username.clone(),
        display_name: u.display_name.clone(),
        id: u32::try_from(u.id).unwrap_or(0),
        server: u.homeserver_host.clone().unwrap_or_default(),
    }
}

impl Users for DirectoryUsers {
    fn authenticate(&self, user: &str, pass: &str, peer: SocketAddr) -> Result<UserInfo, AuthError> {
        let (_, auth) = self.get().map_err(AuthError::Unavailable)?;
        match auth.authenticate(user, pass, peer, "HTTP auth") {
            Ok(a) => Ok(info(&a.user)),
            Err(DirAuthError::Temporary(e)) => Err(AuthError::Unavailable(e)),
            Err(DirAuthError::Disabled) | Err(DirAuthError::NotPermitted) => Err(AuthError::Disabled),
            Err(DirAuthError::BadCredentials) | Err(DirAuthError::RateLimited) => Err(AuthError::BadCredentials),
        }
    }

    fn lookup(&self, email: &str) -> Option<UserInfo> {
        let (dir, _) = self.get().ok()?;
        dir.lookup(email).ok().flatten().map(|u| info(&u))
    }

    fn logs_failures(&self) -> bool {
        true
    }
}
