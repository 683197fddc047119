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
use exmdbd::{AttachmentContent, MessageContent, Store, StoreOptions};
use gromox_base::Config;
use gromox_convert::mapi::{to_mapi, MapiMessage};
use gromox_directory::Directory;
use gromox_mapi::{PropTag, TaggedVal};

use crate::deliver::{Deliverer, Delivery, RecipientKind, RecipientResolver, Resolution, Resolved};
use crate::spool::{Envelope, SpooledMessage};

/// Directory lookups and store delivery.
pub struct StoreBackend {
    dir: Directory,
    state: PathBuf,
    stores: StoreCache,
    overquota_permanent: bool,
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

/// Give the named properties of a converted message their ids in `store` (created on demand,
/// from 0x8001) and return the message in the store's terms.
pub fn resolve_named(store: &mut Store, m: &MapiMessage) -> exmdbd::Result<MessageContent> {
    let mut props = m.props.clone();
    for (name, val) in &m.named {
        if let Some(id) = store.get_named_propid(name, true)? {
            props.push(TaggedVal::new(PropTag::new(id, val.ptype()), val.clone()));
        }
    }
    let mut attachments = Vec::with_capacity(m.attachments.len());
    for a in &m.attachments {
        let mut aprops = a.props.clone();
        for (name, val) in &a.named {
            if let Some(id) = store.get_named_propid(name, true)? {
                aprops.push(TaggedVal::new(PropTag::new(id, val.ptype()), val.clone()));
            }
        }
        let embedded = match &a.embedded {
            Some(e) => Some(Box::new(resolve_named(store, e)?)),
            None => None,
        };
        attachments.push(AttachmentContent {
            props: aprops,
            embedded,
        });
    }
    Ok(MessageContent {
        props,
        recipients: m.recipients.clone(),
        attachments,
    })
}

impl Deliverer for StoreBackend {
    fn deliver(&self, msg: &SpooledMessage, _env: &Envelope, rcpt: &Resolved) -> Delivery {
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
        let content = match resolve_named(&mut store, &mapi) {
            Ok(c) => c,
            Err(e) => return Delivery::Temporary(format!("named properties: {e}")),
        };
        match store.deliver_message(None, &content, Some(&raw)) {
            Ok(_) => Delivery::Delivered,
            Err(exmdbd::Error::QuotaExceeded { used, limit }) => {
                Delivery::Temporary(format!("mailbox over quota ({used} of {limit} bytes)"))
            }
            Err(e) => Delivery::Temporary(format!("store: {e}")),
        }
    }
}

/// The store backend as the queue wants it; `Arc` so resolver and deliverer share it.
pub fn backend(cfg: &Config) -> Result<Arc<StoreBackend>, String> {
    StoreBackend::open(cfg).map(Arc::new)
}

/// One automatic reply per `peer` and `window` seconds for the mailbox at `maildir` (the
/// store's `autoreply_ts`; see `exmdbd::Store::autoreply_due`).
pub fn autoreply_due(maildir: &std::path::Path, peer: &str, now: i64, window: i64) -> Result<bool, String> {
    let mut store = Store::open(maildir, &StoreOptions::default()).map_err(|e| format!("mailbox: {e}"))?;
    store
        .autoreply_due(peer, now, window)
        .map_err(|e| format!("autoreply_ts: {e}"))
}
