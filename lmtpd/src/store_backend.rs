//! The information-store backend (`lda_backend = store`, the default): recipients are resolved
//! through the user directory (`gromox-directory`: addresses, aliases, altnames, the recipient
//! delimiter, account status, mailing lists, home servers), and each message is delivered with
//! exmdb `DeliverMail`: the store converts it from MIME to MAPI (MS-OXCMAIL), runs the inbox
//! rules and stores it keeping the original MIME for IMAP.
//!
//! Store access (`lda_store_access`): `exmdb` (the default) sends every call over the exmdb
//! RPC to the exmdbd that is the mailbox's home server (`users.homeserver` →
//! `servers.hostname`; none or this host: `exmdb_listen`); `local` runs the calls for this
//! host's mailboxes in this process (the same client API over exmdbd's dispatcher,
//! `exmdbd::rpc::LocalExmdbd`: one host, no exmdbd needed), other homes still over the RPC.
//!
//! Durability: `DeliverMail` answers after the store transaction committed (WAL), so a
//! [`Delivery::Delivered`] survives SIGKILL of lmtpd or exmdbd, and the LMTP 250 for the
//! recipient is sent only after that. A call cut short by a dying exmdbd is a temporary
//! failure (451 / retried from the spool): the message may arrive twice, never vanish.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use exmdbd::cache::StoreCache;
use exmdbd::rpc::{ExmdbServer, LocalExmdbd};
use exmdbd::StoreOptions;
use gromox_base::Config;
use gromox_clients::exmdb::{ExmdbError, ExmdbRouter};
use gromox_directory::Directory;
use gromox_exmdb_proto::{MailDelivery, Status};

use crate::deliver::{Deliverer, Delivery, RecipientKind, RecipientResolver, Resolution, Resolved};
use crate::spool::{Envelope, SpooledMessage};

/// How lmtpd reaches the stores (`lda_store_access`): the exmdb client API, routed by home
/// server; in `local` mode this host's mailboxes run in process.
pub struct StoreAccess(ExmdbRouter);

/// Why a store call failed.
enum AccessError {
    /// Over the receive quota.
    OverQuota(String),
    /// Anything else (store down, I/O, misrouted): temporary.
    Other(String),
}

impl StoreAccess {
    fn deliver_mail(&self, rcpt: &Resolved, from: &str, raw: &[u8], now: i64) -> Result<MailDelivery, AccessError> {
        let c = self
            .0
            .client(&rcpt.home)
            .map_err(|e| AccessError::Other(e.to_string()))?;
        c.deliver_mail(&dir_str(rcpt)?, from, &rcpt.address, raw, now)
            .map_err(|e| match e {
                ExmdbError::Call(Status::QuotaExceeded, m) => AccessError::OverQuota(m),
                e if c.is_in_process() => AccessError::Other(format!("store: {e}")),
                e => AccessError::Other(format!("exmdb {}: {e}", c.addr())),
            })
    }

    /// `Ok(true)` when the mailbox is over its receive quota.
    fn over_quota(&self, rcpt: &Resolved) -> Result<bool, String> {
        let c = self.0.client(&rcpt.home).map_err(|e| e.to_string())?;
        let dir = dir_str(rcpt).map_err(|_| "mailbox path is not UTF-8".to_string())?;
        c.over_quota(&dir, 0).map(|o| o.is_some()).map_err(|e| e.to_string())
    }

    fn autoreply_due(&self, rcpt: &Resolved, peer: &str, now: i64, window: i64) -> Result<bool, String> {
        let c = self.0.client(&rcpt.home).map_err(|e| e.to_string())?;
        let dir = dir_str(rcpt).map_err(|_| "mailbox path is not UTF-8".to_string())?;
        c.autoreply_due(&dir, peer, now, window)
            .map_err(|e| format!("autoreply_ts: {e}"))
    }
}

fn dir_str(rcpt: &Resolved) -> Result<String, AccessError> {
    rcpt.maildir
        .to_str()
        .map(str::to_string)
        .ok_or_else(|| AccessError::Other("mailbox path is not UTF-8".into()))
}

/// Directory lookups and store delivery.
pub struct StoreBackend {
    dir: Directory,
    state: PathBuf,
    access: StoreAccess,
    overquota_permanent: bool,
    /// Silence window of replies sent by rules (`autoreply_silence_window`), seconds.
    reply_window: i64,
    /// Where forwards and replies from rules are spooled (set once the queue runs).
    pub submit: Arc<std::sync::OnceLock<crate::autoreply::Submitter>>,
    log: slog::Logger,
}

impl StoreBackend {
    /// Open the directory configured in `cfg` (stores are reached on first delivery).
    pub fn open(cfg: &Config) -> Result<StoreBackend, String> {
        let dir = Directory::open(cfg).map_err(|e| format!("user directory: {e}"))?;
        let router = gromox_clients::exmdb::router_from_config(cfg)?;
        let access = StoreAccess(match cfg.str("lda_store_access").to_ascii_lowercase().as_str() {
            "local" => {
                let cache = Arc::new(StoreCache::new(StoreOptions::default(), Duration::from_secs(60)));
                // Nothing connects to this server: the access list is never consulted.
                let acl = gromox_base::acl::HostsAllow::parse("127.0.0.1").map_err(|e| e.to_string())?;
                let server = ExmdbServer::new(cache, cfg.path("state_path"), acl, None, gromox_base::log::discard());
                router.with_local_store(Arc::new(LocalExmdbd(Arc::new(server))))
            }
            _ => router,
        });
        Ok(StoreBackend {
            dir,
            state: cfg.path("state_path"),
            access,
            overquota_permanent: cfg.bool("lda_overquota_permanent"),
            reply_window: cfg.duration("autoreply_silence_window").as_secs() as i64,
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
                    home: String::new(),
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
                let r = Resolved {
                    address: u.username.clone(),
                    maildir,
                    home: match u.homeserver {
                        0 => String::new(),
                        _ => u.homeserver_host.clone().unwrap_or_default(),
                    },
                    kind: RecipientKind::Mailbox,
                };
                // A mailbox already over its receive quota is refused at RCPT time, so the
                // sending MTA keeps the message instead of lmtpd accepting what it cannot store.
                // A store that cannot be asked now is not refused: delivery decides.
                match self.access.over_quota(&r) {
                    Ok(true) => Resolution::OverQuota {
                        permanent: self.overquota_permanent,
                    },
                    Ok(false) => Resolution::Found(r),
                    Err(e) => {
                        slog::debug!(self.log, "quota not checked"; "event" => "lmtp.quota_unknown", "mailbox" => &r.address, "error" => e);
                        Resolution::Found(r)
                    }
                }
            }
            Ok(None) => Resolution::Unknown,
            Err(e) => Resolution::Unavailable(e.to_string()),
        }
    }

    fn autoreply_due(&self, rcpt: &Resolved, peer: &str, now: i64, window: i64) -> Result<bool, String> {
        self.access.autoreply_due(rcpt, peer, now, window)
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
        let now = crate::spool::unix_now() as i64;
        let d = match self.access.deliver_mail(rcpt, &env.from, &raw, now) {
            Ok(d) => d,
            Err(AccessError::OverQuota(m)) => return Delivery::Temporary(format!("mailbox over quota ({m})")),
            Err(AccessError::Other(m)) => return Delivery::Temporary(m),
        };
        if !d.matched.is_empty() || !d.skipped.is_empty() {
            slog::info!(self.log, "inbox rules matched"; "event" => "rules.matched", "mailbox" => &rcpt.address,
                "id" => &msg.id, "rules" => d.matched.join(", "), "skipped" => d.skipped.join("; "));
        }
        if d.message == 0 {
            slog::info!(self.log, "deleted by an inbox rule"; "event" => "rules.deleted", "mailbox" => &rcpt.address, "id" => &msg.id);
        }
        // Forwards are durably spooled before the delivery counts as done; if that fails the
        // recipient is retried (the stored copy may then arrive twice, the forward is not lost).
        if !d.forward_to.is_empty() && !crate::forward::already_forwarded(&raw, &rcpt.address) {
            let Some(sub) = self.submit.get() else {
                return Delivery::Temporary("queue not running".into());
            };
            for dest in &d.forward_to {
                if let Err(e) = crate::forward::spool_copy(sub, env, &rcpt.address, dest, &raw) {
                    return Delivery::Temporary(format!("rule forward to {dest}: {e}"));
                }
            }
        }
        for template in &d.replies {
            if let Err(e) = self.rule_reply(env, rcpt, &raw, template, now) {
                slog::warn!(self.log, "rule reply failed"; "event" => "rules.reply_failed", "mailbox" => &rcpt.address, "error" => e);
            }
        }
        Delivery::Delivered
    }
}

impl StoreBackend {
    /// Answer the sender with a rule's reply template (MS-OXORULE §3.2.5.1.2.2), under the same
    /// loop protections as out-of-office replies (RFC 3834): never to the null sender, the
    /// mailbox itself, list or automatic mail, and once per sender per silence window.
    fn rule_reply(&self, env: &Envelope, rcpt: &Resolved, raw: &[u8], template: &[u8], now: i64) -> Result<(), String> {
        let headers = crate::autoreply::header_fields(raw);
        if let Some(why) = crate::autoreply::suppressed(&headers, &env.from, &rcpt.address) {
            slog::debug!(self.log, "no rule reply"; "event" => "rules.reply_suppressed", "mailbox" => &rcpt.address, "reason" => why);
            return Ok(());
        }
        let peer = format!("rule-reply:{}", env.from);
        if !self.access.autoreply_due(rcpt, &peer, now, self.reply_window)? {
            slog::debug!(self.log, "no rule reply"; "event" => "rules.reply_suppressed", "mailbox" => &rcpt.address, "reason" => "silence window");
            return Ok(());
        }
        let sub = self.submit.get().ok_or("queue not running")?;
        let id = crate::autoreply::spool_reply(sub, template, &headers, &rcpt.address, &env.from, now)?;
        slog::info!(self.log, "rule reply queued"; "event" => "rules.reply", "mailbox" => &rcpt.address, "to" => &env.from, "id" => id);
        Ok(())
    }
}

/// The store backend as the queue wants it; `Arc` so resolver and deliverer share it.
pub fn backend(cfg: &Config, log: &slog::Logger) -> Result<Arc<StoreBackend>, String> {
    StoreBackend::open(cfg).map(|mut b| {
        b.log = log.clone();
        Arc::new(b)
    })
}
