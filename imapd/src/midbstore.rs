//! The production [`MailStore`]: users from the directory, mail through midbd
//! ([`gromox_clients::midb::MidbClient`]), change notices through eventd.
//!
//! - Login: the directory's authenticator (password or LDAP, account and domain status, the
//!   POP3/IMAP privilege bit, rate limits, the fail2ban line). The directory is opened on
//!   first use and again after a failure, so imapd starts before the directory exists.
//! - Every folder operation is one midb request; FETCH asks for metadata in one streamed
//!   request per batch and for a message's RFC 5322 form only when the items need it.
//!   SEARCH keys are evaluated here ([`crate::search`]), fetching message text only for keys
//!   on headers, bodies or text.
//! - IDLE: one shared [`EventListener`] per daemon; a session's `watch` selects its user's
//!   folder on eventd and registers the notifier. After its own changes (APPEND, STORE, COPY,
//!   MOVE, EXPUNGE) imapd announces `FOLDER-TOUCH <user> <folder>` on eventd and notifies its
//!   own watchers directly (eventd never echoes an event to its sender). lmtpd announces
//!   deliveries the same way.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gromox_base::Config;
use gromox_clients::event::{EventAnnouncer, EventListener};
use gromox_clients::midb::{FlagMode, MidbClient, MidbError, MidbMessage, MidbStatus};
use gromox_directory::auth::{AuthError, Authenticator};
use gromox_directory::model::PRIV_POP3_IMAP;
use slog::Logger;

use crate::command::{DateTime, SearchKey, StoreMode};
use crate::error::StoreError;
use crate::mime;
use crate::search::{self, Candidate};
use crate::store::*;

fn store_err(e: MidbError) -> StoreError {
    match e {
        MidbError::NoMailbox | MidbError::NoFolder => StoreError::NoMailbox,
        MidbError::Exists => StoreError::AlreadyExists,
        MidbError::Denied(s) => StoreError::Cannot(s),
        MidbError::Quota => StoreError::OverQuota,
        MidbError::Io(e) => StoreError::Unavailable(format!("midbd: {e}")),
        e => StoreError::Backend(e.to_string()),
    }
}

/// The canonical form of a folder name for matching events (`INBOX` in any case).
fn folder_key(user: &str, folder: &str) -> (String, String) {
    let f = if folder.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        folder.to_string()
    };
    (user.to_ascii_lowercase(), f)
}

/// Watchers by (user, folder).
#[derive(Default)]
struct Hub {
    next: u64,
    watchers: HashMap<(String, String), Vec<(u64, Notifier)>>,
}

/// ENVELOPE, BODY and BODYSTRUCTURE of one message, computed once from its rendition and
/// kept encoded (a few hundred bytes).
type Summary = Arc<EncodedSummary>;

/// Summaries shared by all sessions, keyed by (maildir, UIDVALIDITY, UID) — a UID never
/// names another message under the same UIDVALIDITY — bounded by a count with FIFO eviction.
#[derive(Default)]
struct SummaryCache {
    map: HashMap<(String, u32, u32), Summary>,
    order: std::collections::VecDeque<(String, u32, u32)>,
}

impl SummaryCache {
    fn get(&self, k: &(String, u32, u32)) -> Option<Summary> {
        self.map.get(k).cloned()
    }
    /// Keep `v`; `scan`: part of a request for more messages than the cache holds, which only
    /// fills free room — evicting for it would churn through the whole cache (FIFO) without a
    /// later hit, and the churn fragments the heap.
    fn put(&mut self, k: (String, u32, u32), v: Summary, max: usize, scan: bool) {
        if max == 0 || self.map.contains_key(&k) || (scan && self.map.len() >= max) {
            return;
        }
        while self.map.len() >= max {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        self.order.push_back(k.clone());
        self.map.insert(k, v);
    }
}

/// What all sessions of the daemon share.
pub struct Shared {
    summaries: Mutex<SummaryCache>,
    summary_max: usize,
    client: MidbClient,
    cfg: Config,
    log: Logger,
    auth: Mutex<Option<Arc<Authenticator>>>,
    hub: Mutex<Hub>,
    events: Option<SocketAddr>,
    listener: OnceLock<Option<EventListener>>,
    announcer: Option<EventAnnouncer>,
}

impl Shared {
    fn authenticator(&self) -> Result<Arc<Authenticator>, String> {
        let mut g = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = g.as_ref() {
            return Ok(a.clone());
        }
        let a = Arc::new(gromox_directory::cli::open_auth(&self.cfg, self.log.clone()).map_err(|e| e.to_string())?);
        *g = Some(a.clone());
        Ok(a)
    }

    /// Notify this daemon's watchers of (user, folder).
    fn fire(&self, user: &str, folder: &str) {
        let hub = self.hub.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = hub.watchers.get(&folder_key(user, folder)) {
            for (_, n) in v {
                n();
            }
        }
    }

    /// The eventd listener, started on first use.
    fn listener(self: &Arc<Self>) -> Option<&EventListener> {
        self.listener
            .get_or_init(|| {
                let addr = self.events?;
                let me = Arc::downgrade(self);
                match EventListener::start(
                    addr,
                    &format!("imapd:{}", std::process::id()),
                    Duration::from_secs(10),
                    move |ev| {
                        if let Some(s) = me.upgrade() {
                            s.fire(&ev.user, &ev.folder);
                        }
                    },
                ) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        slog::warn!(self.log, "no eventd listener: IDLE sees only this imapd's changes";
                            "event" => "imap.event_listen_failed", "error" => e.to_string());
                        None
                    }
                }
            })
            .as_ref()
    }

    fn announce(&self, user: &str, folder: &str) {
        self.fire(user, folder);
        if let Some(a) = &self.announcer {
            if let Err(e) = a.touch(user, folder) {
                slog::warn!(self.log, "cannot announce on eventd"; "event" => "imap.event_failed", "error" => e.to_string());
            }
        }
    }
}

/// The daemon-wide store.
pub struct MidbStore {
    shared: Arc<Shared>,
}

impl MidbStore {
    /// Over midbd at `midb`; eventd at `events` (None: IDLE sees only this daemon's changes).
    pub fn new(client: MidbClient, events: Option<SocketAddr>, cfg: &Config, log: Logger) -> Self {
        MidbStore {
            shared: Arc::new(Shared {
                summaries: Mutex::new(SummaryCache::default()),
                summary_max: cfg.usize("imap_summary_cache"),
                client,
                cfg: cfg.clone(),
                log,
                auth: Mutex::new(None),
                hub: Mutex::new(Hub::default()),
                events,
                listener: OnceLock::new(),
                announcer: events.map(|a| EventAnnouncer::new(a, &format!("imapd:{}", std::process::id()))),
            }),
        }
    }
}

impl MailStore for MidbStore {
    type User = MidbUser;

    fn login(&self, user: &str, password: &[u8], peer: SocketAddr) -> Result<MidbUser, StoreError> {
        let auth = self.shared.authenticator().map_err(StoreError::Unavailable)?;
        let password = String::from_utf8_lossy(password);
        // `actor!mailbox`: the store decides through midbd whether the actor owns the mailbox.
        let client = &self.shared.client;
        let owner = |a: &gromox_directory::model::User, t: &gromox_directory::model::User| {
            client
                .is_store_owner(&t.maildir, &a.username)
                .map_err(|e| e.to_string())
        };
        match auth.authenticate_mailbox(user, &password, peer, "LOGIN", PRIV_POP3_IMAP, &owner) {
            Ok(a) => Ok(MidbUser {
                shared: self.shared.clone(),
                user: a.user.username.to_ascii_lowercase(),
                maildir: a.user.maildir.clone(),
                watch: None,
                validity: HashMap::new(),
                synced: None,
            }),
            Err(AuthError::BadCredentials | AuthError::RateLimited) => Err(StoreError::AuthFailed),
            Err(AuthError::Disabled | AuthError::NotPermitted) => Err(StoreError::NoPerm),
            Err(AuthError::Temporary(e)) => Err(StoreError::Unavailable(e)),
        }
    }

    fn supports_qresync(&self) -> bool {
        true
    }

    fn logs_auth_failures(&self) -> bool {
        true
    }
}

/// One logged-in user's mailbox.
pub struct MidbUser {
    shared: Arc<Shared>,
    user: String,
    maildir: String,
    watch: Option<((String, String), u64)>,
    /// UIDVALIDITY of folders seen in SELECT/STATUS (summary cache keys).
    validity: HashMap<String, u32>,
    /// The folder this handle last had midbd synchronise with the store, and when.
    synced: Option<(String, Instant)>,
}

/// How long after a synchronising request a metadata fetch of the same folder is answered
/// from midbd's index without a new store probe (the later batches of one FETCH, SEARCH's
/// metadata after its UID list). Changes made through midbd are in the index at once; only
/// changes made elsewhere (Outlook, EWS, delivery) can be this much late in a FETCH — and
/// NOOP/IDLE/SELECT always synchronise.
const SYNC_REUSE: Duration = Duration::from_secs(1);

/// Messages per round of a text SEARCH (metadata, then renditions).
const SEARCH_CHUNK: usize = 1000;

fn status_of(s: &MidbStatus) -> FolderStatus {
    FolderStatus {
        messages: s.messages,
        recent: s.recent,
        uidnext: s.uidnext,
        uidvalidity: s.uidvalidity,
        unseen: s.unseen,
        deleted: s.deleted,
        size: s.size,
        highest_modseq: s.highest_modseq,
        deleted_size: s.deleted_size,
    }
}

fn meta_of(m: &MidbMessage) -> MessageMeta {
    MessageMeta {
        uid: m.uid,
        flags: m.flags.clone(),
        internal_date: search::from_unix(m.internal_date),
        size: m.size,
        modseq: m.modseq,
    }
}

fn date_unix(d: Option<DateTime>) -> Option<i64> {
    d.map(|d| search::to_unix(&d))
}

impl MidbUser {
    fn c(&self) -> &MidbClient {
        &self.shared.client
    }

    /// Note that midbd synchronised `folder` just now.
    fn mark_synced(&mut self, folder: &str) {
        self.synced = Some((folder.to_string(), Instant::now()));
    }

    /// Whether a request on `folder` should have midbd probe the store (see [`SYNC_REUSE`]);
    /// a synchronising request is recorded as such.
    fn sync_needed(&mut self, folder: &str) -> bool {
        let fresh = self
            .synced
            .as_ref()
            .is_some_and(|(f, t)| f == folder && t.elapsed() < SYNC_REUSE);
        if !fresh {
            self.mark_synced(folder);
        }
        !fresh
    }

    fn metas(&mut self, folder: &str, uids: &[u32]) -> Result<Vec<MidbMessage>, StoreError> {
        let mut v = Vec::with_capacity(uids.len());
        self.stream_metas(folder, uids, &mut |m| v.push(m))?;
        Ok(v)
    }

    fn stream_metas(
        &mut self,
        folder: &str,
        uids: &[u32],
        sink: &mut dyn FnMut(MidbMessage),
    ) -> Result<(), StoreError> {
        let sync = self.sync_needed(folder);
        self.c()
            .fetch_meta_opt(&self.maildir, folder, uids, sync, sink)
            .map_err(store_err)
    }
}

impl MidbUser {
    /// FETCH of ENVELOPE/BODYSTRUCTURE without the message text: from the shared summary
    /// cache, computing (and caching) the missing ones from their renditions.
    fn fetch_summaries(
        &mut self,
        folder: &str,
        metas: &[MidbMessage],
        total: usize,
        sink: &mut dyn FnMut(FetchedMessage<'_>),
    ) -> Result<(), StoreError> {
        let scan = total > self.shared.summary_max;
        let validity = match self.validity.get(folder) {
            Some(v) => *v,
            None => {
                let v = self.c().status(&self.maildir, folder).map_err(store_err)?.uidvalidity;
                self.validity.insert(folder.to_string(), v);
                v
            }
        };
        let key = |uid: u32| (self.maildir.clone(), validity, uid);
        let mut found: Vec<Option<Summary>> = {
            let cache = self.shared.summaries.lock().unwrap_or_else(|p| p.into_inner());
            metas.iter().map(|m| cache.get(&key(m.uid))).collect()
        };
        let missing: Vec<u32> = metas
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(m, _)| m.uid)
            .collect();
        if !missing.is_empty() {
            let mut computed: Vec<(u32, Summary)> = Vec::with_capacity(missing.len());
            self.c()
                .fetch_mimes(&self.maildir, folder, &missing, &mut |uid, raw| {
                    let tree = mime::parse(raw);
                    let env = mime::envelope(&raw[tree.header.clone()]);
                    let bs = mime::body_structure(raw, &tree);
                    computed.push((uid, Arc::new(EncodedSummary::new(&env, &bs))));
                })
                .map_err(store_err)?;
            let pos: std::collections::HashMap<u32, usize> =
                metas.iter().enumerate().map(|(i, m)| (m.uid, i)).collect();
            let mut cache = self.shared.summaries.lock().unwrap_or_else(|p| p.into_inner());
            for (uid, sum) in computed {
                if let Some(&i) = pos.get(&uid) {
                    found[i] = Some(sum.clone());
                }
                cache.put(key(uid), sum, self.shared.summary_max, scan);
            }
        }
        for (m, f) in metas.iter().zip(found) {
            // A message expunged meanwhile has no rendition and is skipped.
            let Some(f) = f else { continue };
            sink(FetchedMessage {
                meta: meta_of(m),
                raw: None,
                envelope: None,
                structure: None,
                encoded: Some(f),
            });
        }
        Ok(())
    }
}

impl UserStore for MidbUser {
    fn list_folders(&mut self) -> Result<Vec<FolderInfo>, StoreError> {
        Ok(self
            .c()
            .list_folders(&self.maildir)
            .map_err(store_err)?
            .into_iter()
            .map(|f| FolderInfo {
                name: f.name,
                special_use: f.special_use,
                subscribed: f.subscribed,
                has_children: f.has_children,
            })
            .collect())
    }

    fn status(&mut self, folder: &str) -> Result<FolderStatus, StoreError> {
        let st = self.c().status(&self.maildir, folder).map_err(store_err)?;
        self.validity.insert(folder.to_string(), st.uidvalidity);
        self.mark_synced(folder);
        Ok(status_of(&st))
    }

    fn select(&mut self, folder: &str) -> Result<SelectInfo, StoreError> {
        let (st, uids) = self.c().select(&self.maildir, folder).map_err(store_err)?;
        self.validity.insert(folder.to_string(), st.uidvalidity);
        self.mark_synced(folder);
        Ok(SelectInfo {
            status: status_of(&st),
            uids,
            keywords: st.keywords.clone(),
            first_unseen: st.first_unseen,
            modseq: st.highest_modseq,
        })
    }

    fn uids(&mut self, folder: &str) -> Result<Vec<u32>, StoreError> {
        let uids = self.c().select(&self.maildir, folder).map_err(store_err)?.1;
        self.mark_synced(folder);
        Ok(uids)
    }

    fn fetch(
        &mut self,
        folder: &str,
        uids: &[u32],
        want: FetchWant,
        sink: &mut dyn FnMut(FetchedMessage<'_>),
    ) -> Result<(), StoreError> {
        let need_raw = want.raw || want.envelope || want.structure;
        if !need_raw {
            // Metadata only: streamed straight through.
            return self.stream_metas(folder, uids, &mut |m| {
                sink(FetchedMessage {
                    meta: meta_of(&m),
                    raw: None,
                    envelope: None,
                    structure: None,
                    encoded: None,
                })
            });
        }
        let metas = self.metas(folder, uids)?;
        // FETCH of ENVELOPE/BODY/BODYSTRUCTURE without the text: the summary cache. (SORT asks
        // for the envelope alone and needs it parsed, so it takes the rendition path.)
        if !want.raw && want.structure {
            return self.fetch_summaries(folder, &metas, want.total, sink);
        }
        let wanted: Vec<u32> = metas.iter().map(|m| m.uid).collect();
        let mut i = 0;
        self.c()
            .fetch_mimes(&self.maildir, folder, &wanted, &mut |uid, raw| {
                // Renditions come in request order; expunged UIDs are skipped.
                while i < metas.len() && metas[i].uid != uid {
                    i += 1;
                }
                if let Some(m) = metas.get(i) {
                    sink(FetchedMessage {
                        meta: meta_of(m),
                        raw: Some(Cow::Borrowed(raw)),
                        envelope: None,
                        structure: None,
                        encoded: None,
                    });
                }
            })
            .map_err(store_err)
    }

    fn store_flags(
        &mut self,
        folder: &str,
        uids: &[u32],
        mode: StoreMode,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome, StoreError> {
        let before = self.metas(folder, uids)?;
        let mut modified = Vec::new();
        let targets: Vec<u32> = before
            .iter()
            .filter(|m| match unchanged_since {
                Some(s) if m.modseq > s => {
                    modified.push(m.uid);
                    false
                }
                _ => true,
            })
            .map(|m| m.uid)
            .collect();
        let mode = match mode {
            StoreMode::Replace => FlagMode::Set,
            StoreMode::Add => FlagMode::Add,
            StoreMode::Remove => FlagMode::Remove,
        };
        let flags: Vec<String> = flags.iter().filter(|f| *f != "\\Recent").cloned().collect();
        let after = if targets.is_empty() {
            Vec::new()
        } else {
            self.c()
                .set_flags(&self.maildir, folder, &targets, mode, &flags)
                .map_err(store_err)?
        };
        let same = |a: &[String], b: &[String]| {
            a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| y.eq_ignore_ascii_case(x)))
        };
        let before: std::collections::HashMap<u32, &MidbMessage> = before.iter().map(|m| (m.uid, m)).collect();
        let updated: Vec<FlagUpdate> = after
            .iter()
            .map(|m| FlagUpdate {
                uid: m.uid,
                flags: m.flags.clone(),
                modseq: m.modseq,
                changed: before.get(&m.uid).is_none_or(|b| !same(&b.flags, &m.flags)),
            })
            .collect();
        if updated.iter().any(|u| u.changed) {
            self.shared.announce(&self.user, folder);
        }
        Ok(StoreOutcome { updated, modified })
    }

    fn search(&mut self, folder: &str, key: &SearchKey) -> Result<Vec<u32>, StoreError> {
        let uids = self.uids(folder)?;
        let max = uids.last().copied().unwrap_or(0);
        let raw_needed = search::needs_raw(key);
        let mut out = Vec::new();
        let test = |m: &MidbMessage, raw: Option<&[u8]>, out: &mut Vec<u32>| {
            let internal = search::from_unix(m.internal_date);
            let cand = Candidate {
                uid: m.uid,
                flags: &m.flags,
                internal: &internal,
                size: m.size,
                modseq: m.modseq,
                raw,
            };
            if search::matches(&cand, key, max) {
                out.push(m.uid);
            }
        };
        if !raw_needed {
            // Metadata only: streamed, nothing per message kept.
            self.stream_metas(folder, &uids, &mut |m| test(&m, None, &mut out))?;
            return Ok(out);
        }
        // Text keys: metadata and renditions a chunk at a time, so memory stays bounded
        // whatever the folder size.
        for chunk in uids.chunks(SEARCH_CHUNK) {
            let metas = self.metas(folder, chunk)?;
            let mut i = 0;
            self.c()
                .fetch_mimes(&self.maildir, folder, chunk, &mut |uid, raw| {
                    while i < metas.len() && metas[i].uid != uid {
                        i += 1;
                    }
                    if let Some(m) = metas.get(i) {
                        test(m, Some(raw), &mut out);
                    }
                })
                .map_err(store_err)?;
        }
        Ok(out)
    }

    fn vanished(&mut self, folder: &str, since: u64) -> Result<Vec<u32>, StoreError> {
        self.c().vanished(&self.maildir, folder, since).map_err(store_err)
    }

    fn quota(&mut self) -> Result<Option<Quota>, StoreError> {
        Ok(self
            .c()
            .quota(&self.maildir)
            .map_err(store_err)?
            .map(|(used, limit)| Quota { used, limit }))
    }

    fn copy(&mut self, folder: &str, uids: &[u32], dest: &str) -> Result<CopyResult, StoreError> {
        let (uidvalidity, pairs) = self.c().copy(&self.maildir, folder, uids, dest).map_err(store_err)?;
        if !pairs.is_empty() {
            self.shared.announce(&self.user, dest);
        }
        Ok(CopyResult { uidvalidity, pairs })
    }

    fn move_messages(&mut self, folder: &str, uids: &[u32], dest: &str) -> Result<CopyResult, StoreError> {
        let (uidvalidity, pairs) = self
            .c()
            .move_messages(&self.maildir, folder, uids, dest)
            .map_err(store_err)?;
        if !pairs.is_empty() {
            self.shared.announce(&self.user, folder);
            self.shared.announce(&self.user, dest);
        }
        Ok(CopyResult { uidvalidity, pairs })
    }

    fn expunge(&mut self, folder: &str, only: Option<&[u32]>) -> Result<Vec<u32>, StoreError> {
        let gone = self.c().expunge(&self.maildir, folder, only).map_err(store_err)?;
        if !gone.is_empty() {
            self.shared.announce(&self.user, folder);
        }
        Ok(gone)
    }

    fn append(
        &mut self,
        folder: &str,
        flags: &[String],
        date: Option<DateTime>,
        data: &[u8],
    ) -> Result<(u32, u32), StoreError> {
        let flags: Vec<String> = flags.iter().filter(|f| *f != "\\Recent").cloned().collect();
        let r = self
            .c()
            .append(&self.maildir, folder, &flags, date_unix(date), data)
            .map_err(store_err)?;
        self.shared.announce(&self.user, folder);
        Ok(r)
    }

    fn create(&mut self, folder: &str) -> Result<(), StoreError> {
        self.c().create_folder(&self.maildir, folder).map_err(store_err)
    }

    fn delete(&mut self, folder: &str) -> Result<(), StoreError> {
        self.c().delete_folder(&self.maildir, folder).map_err(store_err)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        self.c().rename_folder(&self.maildir, from, to).map_err(store_err)
    }

    fn subscribe(&mut self, folder: &str, on: bool) -> Result<(), StoreError> {
        self.c().subscribe(&self.maildir, folder, on).map_err(store_err)
    }

    fn flag_changes(&mut self, folder: &str, since: u64) -> Result<(u64, Vec<FlagUpdate>), StoreError> {
        let (modseq, msgs) = self
            .c()
            .changes_since(&self.maildir, folder, since)
            .map_err(store_err)?;
        Ok((
            modseq,
            msgs.into_iter()
                .map(|m| FlagUpdate {
                    uid: m.uid,
                    flags: m.flags,
                    modseq: m.modseq,
                    changed: true,
                })
                .collect(),
        ))
    }

    fn watch(&mut self, folder: &str, notify: Notifier) {
        self.unwatch();
        let key = folder_key(&self.user, folder);
        if let Some(l) = self.shared.listener() {
            if let Err(e) = l.select(&key.0, &key.1) {
                slog::debug!(self.shared.log, "eventd select failed"; "event" => "imap.event_select_failed", "error" => e.to_string());
            }
        }
        let mut hub = self.shared.hub.lock().unwrap_or_else(|p| p.into_inner());
        hub.next += 1;
        let id = hub.next;
        hub.watchers.entry(key.clone()).or_default().push((id, notify));
        self.watch = Some((key, id));
    }

    fn unwatch(&mut self) {
        let Some((key, id)) = self.watch.take() else { return };
        let mut hub = self.shared.hub.lock().unwrap_or_else(|p| p.into_inner());
        let last = match hub.watchers.get_mut(&key) {
            Some(v) => {
                v.retain(|(i, _)| *i != id);
                v.is_empty()
            }
            None => false,
        };
        if last {
            hub.watchers.remove(&key);
            drop(hub);
            if let Some(l) = self.shared.listener() {
                let _ = l.unselect(&key.0, &key.1);
            }
        }
    }
}

impl Drop for MidbUser {
    fn drop(&mut self) {
        self.unwatch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum() -> Summary {
        let raw = b"Subject: x\r\n\r\nbody\r\n";
        let tree = mime::parse(raw);
        Arc::new(EncodedSummary::new(
            &mime::envelope(&raw[tree.header.clone()]),
            &mime::body_structure(raw, &tree),
        ))
    }

    /// FIFO for ordinary requests; a request bigger than the cache only fills free room, so a
    /// FETCH 1:* over a huge folder neither evicts what smaller requests cached nor churns.
    #[test]
    fn scans_fill_but_never_evict() {
        let k = |u: u32| ("/m".to_string(), 1, u);
        let mut c = SummaryCache::default();
        for u in 1..=3 {
            c.put(k(u), sum(), 3, false);
        }
        c.put(k(4), sum(), 3, true);
        assert!(
            c.get(&k(1)).is_some() && c.get(&k(4)).is_none(),
            "a scan does not evict"
        );
        c.put(k(4), sum(), 3, false);
        assert!(c.get(&k(1)).is_none() && c.get(&k(4)).is_some(), "FIFO otherwise");
        let mut c = SummaryCache::default();
        c.put(k(1), sum(), 3, true);
        assert!(c.get(&k(1)).is_some(), "a scan fills free room");
    }
}
