//! The services a POP3 session uses: [`Accounts`] (login) and [`Maildrop`] (the INBOX), as
//! traits so the session is tested over the in-memory [`MemMaildrop`] / [`MemAccounts`] and
//! served over midbd ([`crate::midb`]) and the user directory in the daemon.
//!
//! The maildrop is the user's INBOX (RFC 1939 §3). A session works on a snapshot taken at
//! login: message numbers, sizes and UIDLs do not change during the session, mail arriving
//! meanwhile is seen by the next session. Deletions are applied at QUIT in one step
//! ([`Maildrop::remove`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::error::{DropError, LoginError};

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Canonical address, lower case (the spelling eventd announcements use).
    pub user: String,
    /// Mailbox directory (midbd names mailboxes by it).
    pub maildir: String,
}

/// Checks credentials. Implementations log rejections in the fail2ban format and apply the
/// rate limits; `operation` names the verb for that line (`POP3 login`).
pub trait Accounts: Send + Sync + 'static {
    /// Check `user`/`password` from `peer`.
    fn login(&self, user: &str, password: &str, peer: SocketAddr, operation: &str) -> Result<Account, LoginError>;
}

/// One message of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropMessage {
    /// IMAP UID in the INBOX.
    pub uid: u32,
    /// Octets of the message as RETR sends it (before dot-stuffing).
    pub size: u64,
}

/// The INBOX at login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// IMAP UIDVALIDITY of the INBOX.
    pub uidvalidity: u32,
    /// Messages in UID order; message number n is `messages[n - 1]`.
    pub messages: Vec<DropMessage>,
}

/// The mail behind the sessions.
pub trait Maildrop: Send + Sync + 'static {
    /// Take a snapshot of the account's INBOX.
    fn open(&self, account: &Account) -> Result<Snapshot, DropError>;
    /// Append the message with `uid` to `out`; `Ok(false)` when it is gone.
    fn read(&self, account: &Account, uid: u32, out: &mut Vec<u8>) -> Result<bool, DropError>;
    /// Remove exactly these messages in one step; returns the UIDs removed.
    fn remove(&self, account: &Account, uids: &[u32]) -> Result<Vec<u32>, DropError>;
}

/// Which maildrops have a session in the transaction state (RFC 1939 §8: an exclusive-access
/// lock). A second session on the same maildrop is refused with `[IN-USE]` (RFC 2449 §8.1.2).
#[derive(Debug, Default, Clone)]
pub struct Locks {
    held: Arc<Mutex<HashSet<String>>>,
}

/// Holds a maildrop lock; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    held: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl Locks {
    /// Take the lock of `maildir`, or `None` if another session holds it.
    pub fn try_lock(&self, maildir: &str) -> Option<LockGuard> {
        let mut h = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if !h.insert(maildir.to_string()) {
            return None;
        }
        Some(LockGuard {
            held: self.held.clone(),
            key: maildir.to_string(),
        })
    }

    /// Whether `maildir` is locked now.
    pub fn is_locked(&self, maildir: &str) -> bool {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).contains(maildir)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
    }
}

/// In-memory accounts for tests: user → (password, account). Rejections are logged like the
/// directory's; there is no rate limit.
#[derive(Default)]
pub struct MemAccounts {
    users: HashMap<String, (String, Account, bool)>,
    log: Option<slog::Logger>,
}

impl MemAccounts {
    /// No users.
    pub fn new(log: Option<slog::Logger>) -> Self {
        MemAccounts {
            users: HashMap::new(),
            log,
        }
    }

    /// Add a user whose maildir is `/mem/<user>`; `permitted: false` models a missing
    /// privilege or a disabled account.
    pub fn add(&mut self, user: &str, password: &str, permitted: bool) {
        self.users.insert(
            user.to_ascii_lowercase(),
            (
                password.to_string(),
                Account {
                    user: user.to_ascii_lowercase(),
                    maildir: format!("/mem/{}", user.to_ascii_lowercase()),
                },
                permitted,
            ),
        );
    }
}

impl Accounts for MemAccounts {
    fn login(&self, user: &str, password: &str, peer: SocketAddr, operation: &str) -> Result<Account, LoginError> {
        let reject = |reason: &str, e: LoginError| {
            if let Some(log) = &self.log {
                gromox_base::log::auth_rejected(log, peer, user, operation, reason);
            }
            Err(e)
        };
        match self.users.get(&user.to_ascii_lowercase()) {
            Some((pw, _, _)) if pw != password => reject("bad password", LoginError::BadCredentials),
            Some((_, _, false)) => reject("service not permitted", LoginError::NotPermitted),
            Some((_, a, true)) => Ok(a.clone()),
            None => reject("no such user", LoginError::BadCredentials),
        }
    }
}

/// One in-memory mailbox: (UIDVALIDITY, UID → message, next UID).
type MemBox = (u32, BTreeMap<u32, Vec<u8>>, u32);

/// An in-memory maildrop for tests: maildir → mailbox.
#[derive(Default)]
pub struct MemMaildrop {
    boxes: Mutex<HashMap<String, MemBox>>,
    /// When set, `open`/`read`/`remove` fail with [`DropError::Unavailable`].
    pub fail: std::sync::atomic::AtomicBool,
}

impl MemMaildrop {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, MemBox>> {
        self.boxes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deliver a message to `maildir`; returns its UID.
    pub fn deliver(&self, maildir: &str, msg: &[u8]) -> u32 {
        let mut b = self.lock();
        let e = b
            .entry(maildir.to_string())
            .or_insert((1_700_000_000, BTreeMap::new(), 1));
        let uid = e.2;
        e.2 += 1;
        e.1.insert(uid, msg.to_vec());
        uid
    }

    /// The UIDs in `maildir`.
    pub fn uids(&self, maildir: &str) -> Vec<u32> {
        self.lock()
            .get(maildir)
            .map(|e| e.1.keys().copied().collect())
            .unwrap_or_default()
    }

    fn check(&self) -> Result<(), DropError> {
        if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(DropError::Unavailable("test failure".into()));
        }
        Ok(())
    }
}

impl Maildrop for MemMaildrop {
    fn open(&self, account: &Account) -> Result<Snapshot, DropError> {
        self.check()?;
        let b = self.lock();
        Ok(match b.get(&account.maildir) {
            Some((v, msgs, _)) => Snapshot {
                uidvalidity: *v,
                messages: msgs
                    .iter()
                    .map(|(&uid, m)| DropMessage {
                        uid,
                        size: m.len() as u64,
                    })
                    .collect(),
            },
            None => Snapshot {
                uidvalidity: 1_700_000_000,
                messages: Vec::new(),
            },
        })
    }

    fn read(&self, account: &Account, uid: u32, out: &mut Vec<u8>) -> Result<bool, DropError> {
        self.check()?;
        match self.lock().get(&account.maildir).and_then(|b| b.1.get(&uid)) {
            Some(m) => {
                out.extend_from_slice(m);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn remove(&self, account: &Account, uids: &[u32]) -> Result<Vec<u32>, DropError> {
        self.check()?;
        let mut b = self.lock();
        let Some(e) = b.get_mut(&account.maildir) else {
            return Ok(Vec::new());
        };
        Ok(uids.iter().filter(|u| e.1.remove(u).is_some()).copied().collect())
    }
}
