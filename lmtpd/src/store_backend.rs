//! The information-store backend (`lda_backend = store`, the default): recipients are resolved
//! through the user directory (`gromox-directory`: addresses, aliases, altnames, the recipient
//! delimiter, account status, mailing lists), each message is converted from MIME to MAPI
//! (`gromox-convert`, MS-OXCMAIL) and stored with the store library's `deliver_message`
//! (`exmdbd`, in-process; over exmdb RPC once the client routes by home server), which also
//! keeps the original MIME for IMAP.
//!
//! Durability: `deliver_message` returns after the store transaction committed (WAL), so a
//! [`Delivery::Delivered`] survives SIGKILL of lmtpd, and the LMTP 250 for the recipient is
//! sent only after that.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use exmdbd::cache::StoreCache;
use exmdbd::{Store, StoreOptions};
use gromox_base::Config;
use gromox_convert::mapi::to_mapi;
use gromox_directory::Directory;

use crate::deliver::{Deliverer, Delivery, RecipientKind, RecipientResolver, Resolution, Resolved};
use crate::spool::{Envelope, SpooledMessage};

/// Directory lookups and store delivery.
pub struct StoreBackend {
    dir: Directory,
    state: PathBuf,
    stores: StoreCache,
    overquota_permanent: bool,
    /// Where forwards from rules are spooled (set once the queue runs).
    pub submit: Arc<std::sync::OnceLock<crate::autoreply::Submitter>>,
    log: slog::Logger,
}

impl StoreBackend {
    /// Open the directory configured in `cfg` (stores are opened on first delivery).
    pub fn open(cfg: &Config) -> Result<StoreBackend, String> {
        let dir = Directory::open(cfg).map_err(|e| format!("user directory: {e}"))?;
        Ok(StoreBackend {
            dir,
            state: cfg.path("state_path"),
            stores: StoreCache::new(StoreOptions::default(), Duration::from_secs(60)),
            overquota_permanent: cfg.bool("lda_overquota_permanent"),
            submit: Arc::default(),
            log: gromox_base::log::discard(),
        })
    }
}

impl RecipientResolver for StoreBackend {
    fn resolve(&self, address: &str) -> Resolution {
        match self.dir.mlist(address) {
            Ok(Some(list)) => {
                return Resolution::Found(Resolved {
                    address: list.listname.clone(),
                    maildir: PathBuf::new(),
                    kind: RecipientKind::List(list.members.clone()),
                })
            }
            Ok(None) => {}
            Err(e) => return Resolution::Unavailable(e.to_string()),
        }
        match self.dir.lookup(address) {
            Ok(Some(u)) if !u.can_receive() => Resolution::Inactive,
            Ok(Some(u)) => {
                let maildir = if u.maildir.is_empty() {
                    match gromox_base::names::user_maildir(&self.state, &u.username) {
                        Ok(p) => p,
                        Err(_) => return Resolution::Unknown,
                    }
                } else {
                    PathBuf::from(&u.maildir)
                };
                // A mailbox already over its receive quota is refused at RCPT time, so the
                // sending MTA keeps the message instead of lmtpd accepting what it cannot store.
                if let Ok(store) = self.stores.get(&maildir) {
                    let store = store.lock().unwrap_or_else(|p| p.into_inner());
                    if let Err(exmdbd::Error::QuotaExceeded { .. }) = store.check_quota(0, exmdbd::QuotaKind::Receive) {
                        return Resolution::OverQuota {
                            permanent: self.overquota_permanent,
                        };
                    }
                }
                Resolution::Found(Resolved {
                    address: u.username.clone(),
                    maildir,
                    kind: RecipientKind::Mailbox,
                })
            }
            Ok(None) => Resolution::Unknown,
            Err(e) => Resolution::Unavailable(e.to_string()),
        }
    }

    fn forward_of(&self, address: &str) -> Option<(bool, String)> {
        match self.dir.forward(address) {
            Ok(Some(f)) if !f.destination.is_empty() => Some((f.forward_type == 1, f.destination)),
            _ => None,
        }
    }

    fn is_local_domain(&self, domain: &str) -> bool {
        // When in doubt (directory trouble) treat the domain as local: refusing beats
        // relaying mail in a loop.
        !matches!(self.dir.domain(domain), Err(gromox_directory::DirError::NotFound(_)))
    }

    fn resolve_for(&self, address: &str, sender: &str) -> Resolution {
        let r = self.resolve(address);
        if let Resolution::Found(Resolved {
            kind: RecipientKind::List(_),
            address: list,
            ..
        }) = &r
        {
            match self.dir.mlist(list) {
                Ok(Some(l)) => match self.dir.mlist_may_send(&l, sender) {
                    Ok(true) => {}
                    Ok(false) => {
                        let why = match l.privilege {
                            gromox_directory::model::MLIST_PRIV_INTERNAL => "only list members may write to this list",
                            gromox_directory::model::MLIST_PRIV_DOMAIN => {
                                "only senders of the list's domain may write to this list"
                            }
                            gromox_directory::model::MLIST_PRIV_SPECIFIED => {
                                "only specified senders may write to this list"
                            }
                            _ => "this sender may not write to this list",
                        };
                        return Resolution::Refused(why.into());
                    }
                    Err(e) => return Resolution::Unavailable(e.to_string()),
                },
                Ok(None) => return Resolution::Unknown,
                Err(e) => return Resolution::Unavailable(e.to_string()),
            }
        }
        r
    }
}

impl Deliverer for StoreBackend {
    fn deliver(&self, msg: &SpooledMessage, env: &Envelope, rcpt: &Resolved) -> Delivery {
        let raw = match msg.read_body() {
            Ok(r) => r,
            Err(e) => return Delivery::Temporary(format!("cannot read the spooled message: {e}")),
        };
        // Conversion never fails: malformed MIME is converted as far as it goes.
        let mapi = to_mapi(&gromox_convert::mime_in::mime_to_mapi(&raw));
        let store = match self.stores.get(&rcpt.maildir) {
            Ok(s) => s,
            Err(e) => return Delivery::Temporary(format!("mailbox {}: {e}", rcpt.maildir.display())),
        };
        let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
        let content = match exmdbd::imapview::from_bridge(&mut store, &mapi) {
            Ok(c) => c,
            Err(e) => return Delivery::Temporary(format!("named properties: {e}")),
        };
        let class = content
            .get(gromox_mapi::tags::PR_MESSAGE_CLASS)
            .and_then(|v| v.as_str())
            .unwrap_or("IPM.Note")
            .to_string();
        let inbox = match store.receive_folder(&class) {
            Ok(f) => f,
            Err(e) => return Delivery::Temporary(format!("receive folder: {e}")),
        };
        let oof = std::fs::read_to_string(rcpt.maildir.join("config/autoreply.cfg"))
            .map(|t| crate::autoreply::OofSettings::parse(&t).active(crate::spool::unix_now() as i64))
            .unwrap_or(false);
        let rules = crate::rules::evaluate(&store, inbox, &content, oof).unwrap_or_else(|e| {
            slog::warn!(self.log, "inbox rules not evaluated"; "event" => "rules.failed", "mailbox" => &rcpt.address, "error" => e.to_string());
            Default::default()
        });
        if !rules.matched.is_empty() {
            slog::info!(self.log, "inbox rules matched"; "event" => "rules.matched", "mailbox" => &rcpt.address,
                "id" => &msg.id, "rules" => rules.matched.join(", "), "skipped" => rules.skipped.join("; "));
        }
        // Forwards are durably spooled before the delivery counts as done.
        if !rules.forward_to.is_empty() && !crate::forward::already_forwarded(&raw, &rcpt.address) {
            let Some(sub) = self.submit.get() else {
                return Delivery::Temporary("queue not running".into());
            };
            for dest in &rules.forward_to {
                if let Err(e) = crate::forward::spool_copy(sub, env, &rcpt.address, dest, &raw) {
                    return Delivery::Temporary(format!("rule forward to {dest}: {e}"));
                }
            }
        }
        if rules.delete {
            slog::info!(self.log, "deleted by an inbox rule"; "event" => "rules.deleted", "mailbox" => &rcpt.address, "id" => &msg.id);
            return Delivery::Delivered;
        }
        let target = rules
            .move_to
            .filter(|f| {
                store.list_messages(*f, false).is_ok()
                    && store.get_props(exmdbd::Obj::Folder(*f)).is_ok_and(|p| !p.is_empty())
            })
            .unwrap_or(inbox);
        let d = match store.deliver_message(Some(target), &content, Some(&raw)) {
            Ok(d) => d,
            Err(exmdbd::Error::QuotaExceeded { used, limit }) => {
                return Delivery::Temporary(format!("mailbox over quota ({used} of {limit} bytes)"))
            }
            Err(e) => return Delivery::Temporary(format!("store: {e}")),
        };
        // The message is stored; what follows changes its state and is only logged on failure.
        for f in &rules.copy_to {
            if let Err(e) = store.copy_message(d.message, *f) {
                slog::warn!(self.log, "rule copy failed"; "event" => "rules.copy_failed", "folder" => *f, "error" => e.to_string());
            }
        }
        if rules.mark_read {
            if let Err(e) = store.set_read(d.message, true) {
                slog::warn!(self.log, "rule mark-as-read failed"; "event" => "rules.read_failed", "error" => e.to_string());
            }
        }
        if !rules.tags.is_empty() {
            if let Err(e) = store.set_props(exmdbd::Obj::Message(d.message), &rules.tags) {
                slog::warn!(self.log, "rule tag failed"; "event" => "rules.tag_failed", "error" => e.to_string());
            }
        }
        Delivery::Delivered
    }
}

/// The store backend as the queue wants it; `Arc` so resolver and deliverer share it.
pub fn backend(cfg: &Config, log: &slog::Logger) -> Result<Arc<StoreBackend>, String> {
    StoreBackend::open(cfg).map(|mut b| {
        b.log = log.clone();
        Arc::new(b)
    })
}

/// One automatic reply per `peer` and `window` seconds for the mailbox at `maildir` (the
/// store's `autoreply_ts`; see `exmdbd::Store::autoreply_due`).
pub fn autoreply_due(maildir: &std::path::Path, peer: &str, now: i64, window: i64) -> Result<bool, String> {
    let mut store = Store::open(maildir, &StoreOptions::default()).map_err(|e| format!("mailbox: {e}"))?;
    store
        .autoreply_due(peer, now, window)
        .map_err(|e| format!("autoreply_ts: {e}"))
}
