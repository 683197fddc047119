//! The maildrop over midbd ([`gromox_clients::midb::MidbClient`], /work/notes/midb-api.md) and
//! the login over the user directory.
//!
//! - open: `SELECT INBOX` (one consistent snapshot of UIDs and UIDVALIDITY), then
//!   `FETCH-META` streamed for the sizes (the octets of the RFC 5322 rendition, what RETR sends);
//! - RETR/TOP: `FETCH-MIME` of one UID (byte-identical to what LMTP delivered);
//! - QUIT: `REMOVE` of the deleted UIDs in one step, then `FOLDER-TOUCH <user> INBOX` on
//!   eventd (best effort) so IMAP IDLE sessions learn of it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use gromox_base::Config;
use gromox_clients::event::EventAnnouncer;
use gromox_clients::midb::{MidbClient, MidbError};
use gromox_directory::auth::{AuthError, Authenticator};
use gromox_directory::model::PRIV_POP3_IMAP;
use slog::Logger;

use crate::error::{DropError, LoginError};
use crate::maildrop::{Account, Accounts, DropMessage, Maildrop, Snapshot};

/// The folder POP3 serves.
pub const INBOX: &str = "INBOX";

fn drop_err(e: MidbError) -> DropError {
    match e {
        MidbError::NoMailbox | MidbError::NoFolder => DropError::NoMailbox(e.to_string()),
        e => DropError::Unavailable(e.to_string()),
    }
}

/// Best-effort announcements on eventd (the shared [`EventAnnouncer`]), failures logged once
/// per outage.
pub struct Announcer {
    inner: EventAnnouncer,
    addr: SocketAddr,
    log: Logger,
}

impl Announcer {
    /// Announce to eventd at `addr`.
    pub fn new(addr: SocketAddr, log: Logger) -> Self {
        Announcer {
            inner: EventAnnouncer::new(addr, &format!("pop3d:{}", std::process::id())),
            addr,
            log,
        }
    }

    /// `FOLDER-TOUCH user folder`; failures are logged, never returned.
    pub fn touch(&self, user: &str, folder: &str) {
        if let Err(e) = self.inner.touch(user, folder) {
            slog::warn!(self.log, "cannot announce on eventd; IMAP IDLE clients notice the removal on their next command";
                "event" => "pop3.event_failed", "addr" => self.addr.to_string(), "error" => e.to_string());
        }
    }
}

/// The INBOX through midbd.
pub struct MidbMaildrop {
    client: MidbClient,
    events: Option<Announcer>,
}

impl MidbMaildrop {
    /// Over `client`; removals are announced through `events` when given.
    pub fn new(client: MidbClient, events: Option<Announcer>) -> Self {
        MidbMaildrop { client, events }
    }
}

impl Maildrop for MidbMaildrop {
    fn open(&self, a: &Account) -> Result<Snapshot, DropError> {
        let (status, uids) = self.client.select(&a.maildir, INBOX).map_err(drop_err)?;
        let mut messages = Vec::with_capacity(uids.len());
        self.client
            .fetch_meta(&a.maildir, INBOX, &uids, &mut |m| {
                messages.push(DropMessage {
                    uid: m.uid,
                    size: m.size,
                })
            })
            .map_err(drop_err)?;
        // Messages expunged between SELECT and FETCH-META are skipped by midbd; the snapshot
        // holds what could be described.
        messages.sort_unstable_by_key(|m| m.uid);
        Ok(Snapshot {
            uidvalidity: status.uidvalidity,
            messages,
        })
    }

    fn read(&self, a: &Account, uid: u32, out: &mut Vec<u8>) -> Result<bool, DropError> {
        self.client.fetch_mime(&a.maildir, INBOX, uid, out).map_err(drop_err)
    }

    fn remove(&self, a: &Account, uids: &[u32]) -> Result<Vec<u32>, DropError> {
        let removed = self.client.remove(&a.maildir, INBOX, uids).map_err(drop_err)?;
        if !removed.is_empty() {
            if let Some(ev) = &self.events {
                ev.touch(&a.user, INBOX);
            }
        }
        Ok(removed)
    }
}

/// Login against the user directory: the authenticator checks the password (or LDAP), the
/// account and domain status, the POP3/IMAP privilege bit, the rate limits, and writes the
/// fail2ban line. The directory is opened on first use and again after a failure, so pop3d
/// starts while the directory is not there yet (logins then get `[SYS/TEMP]`).
pub struct DirectoryAccounts {
    cfg: Config,
    log: Logger,
    auth: Mutex<Option<Arc<Authenticator>>>,
    /// Asked for the store-owner right of `actor!mailbox` logins (none: refused).
    rights: Option<MidbClient>,
}

impl DirectoryAccounts {
    /// Prepare; nothing is opened yet.
    pub fn new(cfg: &Config, log: Logger) -> Self {
        DirectoryAccounts {
            cfg: cfg.clone(),
            log,
            auth: Mutex::new(None),
            rights: None,
        }
    }

    /// Allow `actor!mailbox` logins, asking midbd through `client` whether the actor holds
    /// the store-owner right on the mailbox.
    pub fn with_impersonation(mut self, client: MidbClient) -> Self {
        self.rights = Some(client);
        self
    }

    fn get(&self) -> Result<Arc<Authenticator>, String> {
        let mut g = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = g.as_ref() {
            return Ok(a.clone());
        }
        let a = Arc::new(gromox_directory::cli::open_auth(&self.cfg, self.log.clone()).map_err(|e| e.to_string())?);
        *g = Some(a.clone());
        Ok(a)
    }
}

impl Accounts for DirectoryAccounts {
    fn login(&self, user: &str, password: &str, peer: SocketAddr, operation: &str) -> Result<Account, LoginError> {
        let auth = self.get().map_err(LoginError::Temporary)?;
        let owner = |a: &gromox_directory::model::User, t: &gromox_directory::model::User| match &self.rights {
            Some(c) => c.is_store_owner(&t.maildir, &a.username).map_err(|e| e.to_string()),
            None => Ok(false),
        };
        match auth.authenticate_mailbox(user, password, peer, operation, PRIV_POP3_IMAP, &owner) {
            Ok(a) => Ok(Account {
                user: a.user.username.to_ascii_lowercase(),
                maildir: a.user.maildir.clone(),
            }),
            Err(AuthError::BadCredentials) => Err(LoginError::BadCredentials),
            Err(AuthError::RateLimited) => Err(LoginError::RateLimited),
            Err(AuthError::Disabled | AuthError::NotPermitted) => Err(LoginError::NotPermitted),
            Err(AuthError::Temporary(e)) => Err(LoginError::Temporary(e)),
        }
    }
}
