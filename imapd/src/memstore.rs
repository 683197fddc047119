//! An in-memory [`MailStore`] for tests and demos: users, folders with special-use
//! attributes, messages with flags, UIDVALIDITY/UIDNEXT, change notifications.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::command::{Date, DateTime, SearchKey, StoreMode};
use crate::error::StoreError;
use crate::store::*;

#[derive(Debug, Clone)]
struct Msg {
    uid: u32,
    modseq: u64,
    flags: Vec<String>,
    date: DateTime,
    raw: Arc<Vec<u8>>,
}

#[derive(Debug, Clone)]
struct Folder {
    uidvalidity: u32,
    uidnext: u32,
    msgs: Vec<Msg>,
    subscribed: bool,
    special_use: Option<&'static str>,
    modseq: u64,
    /// (UID, mod-sequence of its expunge), for QRESYNC.
    expunged: Vec<(u32, u64)>,
}

struct User {
    password: String,
    /// Storage quota in octets (0: none).
    quota: u64,
    folders: BTreeMap<String, Folder>,
}

struct Watch {
    id: u64,
    user: String,
    folder: String,
    notify: Notifier,
}

#[derive(Default)]
struct Data {
    users: BTreeMap<String, User>,
    watches: Vec<Watch>,
    next_uidvalidity: u32,
    /// Largest message APPEND accepts (0: no limit).
    append_limit: usize,
}

/// The shared in-memory store.
#[derive(Clone, Default)]
pub struct MemStore {
    data: Arc<Mutex<Data>>,
    ids: Arc<AtomicU64>,
}

fn lock(m: &Mutex<Data>) -> MutexGuard<'_, Data> {
    // Test store: a panic in another session cannot leave the maps half-updated in a way
    // that matters to tests; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A fixed internal date for messages added without one.
pub const DEFAULT_DATE: DateTime = DateTime {
    date: Date {
        year: 2024,
        month: 1,
        day: 2,
    },
    hour: 3,
    minute: 4,
    second: 5,
    zone_minutes: 0,
};

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a user with the default folders INBOX, Drafts, Sent, Trash, Junk (special-use).
    pub fn add_user(&self, name: &str, password: &str) {
        let mut d = lock(&self.data);
        let mut folders = BTreeMap::new();
        for (f, su) in [
            ("INBOX", None),
            ("Drafts", Some("\\Drafts")),
            ("Sent", Some("\\Sent")),
            ("Trash", Some("\\Trash")),
            ("Junk", Some("\\Junk")),
        ] {
            d.next_uidvalidity += 1;
            folders.insert(
                f.to_string(),
                Folder {
                    uidvalidity: 1000 + d.next_uidvalidity,
                    uidnext: 1,
                    msgs: Vec::new(),
                    subscribed: true,
                    special_use: su,
                    modseq: 1,
                    expunged: Vec::new(),
                },
            );
        }
        d.users.insert(
            name.to_string(),
            User {
                password: password.to_string(),
                quota: 0,
                folders,
            },
        );
    }

    /// Deliver a message (as an MTA would) and notify watchers; returns its UID.
    pub fn deliver(&self, user: &str, folder: &str, flags: &[&str], raw: &[u8]) -> Option<u32> {
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        let uid = {
            let mut d = lock(&self.data);
            let f = d.users.get_mut(user)?.folders.get_mut(folder)?;
            add_msg(f, &flags, DEFAULT_DATE, raw)
        };
        self.notify(user, folder);
        Some(uid)
    }

    /// Set a user's storage quota in octets (0: none); APPEND/COPY beyond it fail with
    /// [`StoreError::OverQuota`].
    pub fn set_quota(&self, user: &str, bytes: u64) {
        if let Some(u) = lock(&self.data).users.get_mut(user) {
            u.quota = bytes;
        }
    }

    /// Refuse APPENDs of messages larger than `bytes` with [`StoreError::OverQuota`].
    pub fn set_append_limit(&self, bytes: usize) {
        lock(&self.data).append_limit = bytes;
    }

    /// Flags of a message (for test assertions).
    pub fn flags_of(&self, user: &str, folder: &str, uid: u32) -> Option<Vec<String>> {
        let d = lock(&self.data);
        let f = d.users.get(user)?.folders.get(folder)?;
        f.msgs.iter().find(|m| m.uid == uid).map(|m| m.flags.clone())
    }

    /// Number of messages in a folder (for test assertions).
    pub fn count(&self, user: &str, folder: &str) -> Option<usize> {
        let d = lock(&self.data);
        Some(d.users.get(user)?.folders.get(folder)?.msgs.len())
    }

    fn notify(&self, user: &str, folder: &str) {
        let hooks: Vec<Notifier> = lock(&self.data)
            .watches
            .iter()
            .filter(|w| w.user == user && w.folder == folder)
            .map(|w| w.notify.clone())
            .collect();
        for h in hooks {
            h();
        }
    }
}

fn add_msg(f: &mut Folder, flags: &[String], date: DateTime, raw: &[u8]) -> u32 {
    let uid = f.uidnext;
    f.uidnext += 1;
    let mut fl: Vec<String> = Vec::new();
    for x in flags {
        if x != "\\Recent" && !fl.contains(x) {
            fl.push(x.clone());
        }
    }
    f.modseq += 1;
    f.msgs.push(Msg {
        uid,
        modseq: f.modseq,
        flags: fl,
        date,
        raw: Arc::new(raw.to_vec()),
    });
    uid
}

impl MailStore for MemStore {
    type User = MemUser;

    fn supports_qresync(&self) -> bool {
        true
    }

    fn login(&self, user: &str, password: &[u8], _peer: SocketAddr) -> Result<MemUser, StoreError> {
        let d = lock(&self.data);
        match d.users.get(user) {
            Some(u) if u.password.as_bytes() == password => Ok(MemUser {
                store: self.clone(),
                user: user.to_string(),
                watch: None,
            }),
            _ => Err(StoreError::AuthFailed),
        }
    }
}

/// One user's handle on a [`MemStore`].
pub struct MemUser {
    store: MemStore,
    user: String,
    watch: Option<u64>,
}

impl MemUser {
    fn with<T>(&self, f: impl FnOnce(&mut User) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut d = lock(&self.store.data);
        let u = d.users.get_mut(&self.user).ok_or(StoreError::NoPerm)?;
        f(u)
    }

    fn with_folder<T>(
        &self,
        folder: &str,
        f: impl FnOnce(&mut Folder) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|u| f(u.folders.get_mut(folder).ok_or(StoreError::NoMailbox)?))
    }

    fn changed(&self, folder: &str) {
        self.store.notify(&self.user, folder);
    }
}

fn status_of(f: &Folder) -> FolderStatus {
    FolderStatus {
        messages: f.msgs.len() as u32,
        recent: 0,
        uidnext: f.uidnext,
        uidvalidity: f.uidvalidity,
        unseen: f.msgs.iter().filter(|m| !m.flags.iter().any(|x| x == "\\Seen")).count() as u32,
        deleted: f
            .msgs
            .iter()
            .filter(|m| m.flags.iter().any(|x| x == "\\Deleted"))
            .count() as u32,
        size: f.msgs.iter().map(|m| m.raw.len() as u64).sum(),
        highest_modseq: f.modseq,
        deleted_size: f
            .msgs
            .iter()
            .filter(|m| m.flags.iter().any(|x| x == "\\Deleted"))
            .map(|m| m.raw.len() as u64)
            .sum(),
    }
}

fn used_bytes(u: &User) -> u64 {
    u.folders
        .values()
        .flat_map(|f| f.msgs.iter())
        .map(|m| m.raw.len() as u64)
        .sum()
}

fn matches(m: &Msg, key: &SearchKey, max_uid: u32) -> bool {
    crate::search::matches(
        &crate::search::Candidate {
            uid: m.uid,
            flags: &m.flags,
            internal: &m.date,
            size: m.raw.len() as u64,
            modseq: m.modseq,
            raw: Some(&m.raw),
        },
        key,
        max_uid,
    )
}

fn apply_flags(cur: &mut Vec<String>, mode: StoreMode, flags: &[String]) {
    let flags: Vec<&String> = flags.iter().filter(|f| *f != "\\Recent").collect();
    match mode {
        StoreMode::Replace => {
            cur.clear();
            for f in flags {
                if !cur.contains(f) {
                    cur.push(f.clone());
                }
            }
        }
        StoreMode::Add => {
            for f in flags {
                if !cur.iter().any(|c| c.eq_ignore_ascii_case(f)) {
                    cur.push(f.clone());
                }
            }
        }
        StoreMode::Remove => cur.retain(|c| !flags.iter().any(|f| f.eq_ignore_ascii_case(c))),
    }
}

impl UserStore for MemUser {
    fn list_folders(&mut self) -> Result<Vec<FolderInfo>, StoreError> {
        self.with(|u| {
            let names: Vec<&String> = u.folders.keys().collect();
            Ok(u.folders
                .iter()
                .map(|(n, f)| FolderInfo {
                    name: n.clone(),
                    special_use: f.special_use,
                    subscribed: f.subscribed,
                    has_children: names
                        .iter()
                        .any(|c| c.len() > n.len() + 1 && c.starts_with(n.as_str()) && c.as_bytes()[n.len()] == b'/'),
                })
                .collect())
        })
    }

    fn status(&mut self, folder: &str) -> Result<FolderStatus, StoreError> {
        self.with_folder(folder, |f| Ok(status_of(f)))
    }

    fn select(&mut self, folder: &str) -> Result<SelectInfo, StoreError> {
        self.with_folder(folder, |f| {
            let mut keywords: Vec<String> = Vec::new();
            for m in &f.msgs {
                for fl in &m.flags {
                    if !fl.starts_with('\\') && !keywords.contains(fl) {
                        keywords.push(fl.clone());
                    }
                }
            }
            Ok(SelectInfo {
                status: status_of(f),
                uids: f.msgs.iter().map(|m| m.uid).collect(),
                keywords,
                first_unseen: f
                    .msgs
                    .iter()
                    .find(|m| !m.flags.iter().any(|x| x == "\\Seen"))
                    .map(|m| m.uid),
                modseq: f.modseq,
            })
        })
    }

    fn uids(&mut self, folder: &str) -> Result<Vec<u32>, StoreError> {
        self.with_folder(folder, |f| Ok(f.msgs.iter().map(|m| m.uid).collect()))
    }

    fn fetch(
        &mut self,
        folder: &str,
        uids: &[u32],
        want: FetchWant,
        sink: &mut dyn FnMut(FetchedMessage<'_>),
    ) -> Result<(), StoreError> {
        // Copy the batch out under the lock, call the sink without it.
        let batch: Vec<Msg> = self.with_folder(folder, |f| {
            Ok(uids
                .iter()
                .filter_map(|u| {
                    f.msgs
                        .binary_search_by_key(u, |m| m.uid)
                        .ok()
                        .map(|i| f.msgs[i].clone())
                })
                .collect())
        })?;
        for m in batch {
            sink(FetchedMessage {
                meta: MessageMeta {
                    uid: m.uid,
                    flags: m.flags.clone(),
                    internal_date: m.date,
                    size: m.raw.len() as u64,
                    modseq: m.modseq,
                },
                raw: (want.raw || want.envelope || want.structure).then(|| Cow::Borrowed(&m.raw[..])),
                envelope: None,
                structure: None,
                encoded: None,
            });
        }
        Ok(())
    }

    fn store_flags(
        &mut self,
        folder: &str,
        uids: &[u32],
        mode: StoreMode,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome, StoreError> {
        let r = self.with_folder(folder, |f| {
            let mut out = StoreOutcome::default();
            for u in uids {
                if let Ok(i) = f.msgs.binary_search_by_key(u, |m| m.uid) {
                    if unchanged_since.is_some_and(|us| f.msgs[i].modseq > us) {
                        out.modified.push(*u);
                        continue;
                    }
                    let before = f.msgs[i].flags.clone();
                    apply_flags(&mut f.msgs[i].flags, mode, flags);
                    let changed = f.msgs[i].flags != before;
                    if changed {
                        f.modseq += 1;
                        f.msgs[i].modseq = f.modseq;
                    }
                    out.updated.push(FlagUpdate {
                        uid: *u,
                        flags: f.msgs[i].flags.clone(),
                        modseq: f.msgs[i].modseq,
                        changed,
                    });
                }
            }
            Ok(out)
        })?;
        self.changed(folder);
        Ok(r)
    }

    fn search(&mut self, folder: &str, key: &SearchKey) -> Result<Vec<u32>, StoreError> {
        self.with_folder(folder, |f| {
            let max = f.msgs.last().map_or(0, |m| m.uid);
            Ok(f.msgs.iter().filter(|m| matches(m, key, max)).map(|m| m.uid).collect())
        })
    }

    fn copy(&mut self, folder: &str, uids: &[u32], dest: &str) -> Result<CopyResult, StoreError> {
        let r = self.with(|u| {
            let src = u.folders.get(folder).ok_or(StoreError::NoMailbox)?;
            let msgs: Vec<Msg> = uids
                .iter()
                .filter_map(|x| {
                    src.msgs
                        .binary_search_by_key(x, |m| m.uid)
                        .ok()
                        .map(|i| src.msgs[i].clone())
                })
                .collect();
            let extra: u64 = msgs.iter().map(|m| m.raw.len() as u64).sum();
            if u.quota > 0 && used_bytes(u) + extra > u.quota && folder != dest {
                return Err(StoreError::OverQuota);
            }
            let d = u.folders.get_mut(dest).ok_or(StoreError::NoMailbox)?;
            let mut pairs = Vec::new();
            for m in msgs {
                let nu = add_msg(d, &m.flags, m.date, &m.raw);
                pairs.push((m.uid, nu));
            }
            Ok(CopyResult {
                uidvalidity: d.uidvalidity,
                pairs,
            })
        })?;
        self.changed(dest);
        Ok(r)
    }

    fn move_messages(&mut self, folder: &str, uids: &[u32], dest: &str) -> Result<CopyResult, StoreError> {
        if folder == dest {
            return Err(StoreError::Cannot("Source and destination are the same".into()));
        }
        let r = self.copy(folder, uids, dest)?;
        self.with_folder(folder, |f| {
            f.msgs.retain(|m| !r.pairs.iter().any(|p| p.0 == m.uid));
            f.modseq += 1;
            let m = f.modseq;
            f.expunged.extend(r.pairs.iter().map(|p| (p.0, m)));
            Ok(())
        })?;
        self.changed(folder);
        Ok(r)
    }

    fn expunge(&mut self, folder: &str, only: Option<&[u32]>) -> Result<Vec<u32>, StoreError> {
        let gone = self.with_folder(folder, |f| {
            let mut gone = Vec::new();
            f.msgs.retain(|m| {
                let del = m.flags.iter().any(|x| x == "\\Deleted") && only.is_none_or(|o| o.contains(&m.uid));
                if del {
                    gone.push(m.uid);
                }
                !del
            });
            if !gone.is_empty() {
                // Expunges change the folder's state (RFC 7162 §3.1.2.1).
                f.modseq += 1;
                let m = f.modseq;
                f.expunged.extend(gone.iter().map(|&u| (u, m)));
            }
            Ok(gone)
        })?;
        if !gone.is_empty() {
            self.changed(folder);
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
        let limit = lock(&self.store.data).append_limit;
        if limit > 0 && data.len() > limit {
            return Err(StoreError::OverQuota);
        }
        let r = self.with(|u| {
            if u.quota > 0 && used_bytes(u) + data.len() as u64 > u.quota {
                return Err(StoreError::OverQuota);
            }
            let f = u.folders.get_mut(folder).ok_or(StoreError::NoMailbox)?;
            let uid = add_msg(f, flags, date.unwrap_or(DEFAULT_DATE), data);
            Ok((f.uidvalidity, uid))
        })?;
        self.changed(folder);
        Ok(r)
    }

    fn create(&mut self, folder: &str) -> Result<(), StoreError> {
        let v = {
            let mut d = lock(&self.store.data);
            d.next_uidvalidity += 1;
            1000 + d.next_uidvalidity
        };
        self.with(|u| {
            if u.folders
                .keys()
                .any(|k| k.eq_ignore_ascii_case(folder) && (k == "INBOX" || k == folder))
            {
                return Err(StoreError::AlreadyExists);
            }
            // Create missing parents too (RFC 9051 §6.3.4).
            let mut path = String::new();
            for (i, seg) in folder.split('/').enumerate() {
                if seg.is_empty() {
                    return Err(StoreError::Cannot("Empty name component".into()));
                }
                if i > 0 {
                    path.push('/');
                }
                path.push_str(seg);
                u.folders.entry(path.clone()).or_insert(Folder {
                    uidvalidity: v,
                    uidnext: 1,
                    msgs: Vec::new(),
                    subscribed: false,
                    special_use: None,
                    modseq: 1,
                    expunged: Vec::new(),
                });
            }
            Ok(())
        })
    }

    fn delete(&mut self, folder: &str) -> Result<(), StoreError> {
        if folder == "INBOX" {
            return Err(StoreError::Cannot("INBOX cannot be deleted".into()));
        }
        self.with(|u| {
            let prefix = format!("{folder}/");
            if u.folders.keys().any(|k| k.starts_with(&prefix)) {
                return Err(StoreError::Cannot("Folder has subfolders".into()));
            }
            u.folders.remove(folder).map(|_| ()).ok_or(StoreError::NoMailbox)
        })
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        let v = {
            let mut d = lock(&self.store.data);
            d.next_uidvalidity += 1;
            1000 + d.next_uidvalidity
        };
        self.with(|u| {
            if !u.folders.contains_key(from) {
                return Err(StoreError::NoMailbox);
            }
            if u.folders.contains_key(to) {
                return Err(StoreError::AlreadyExists);
            }
            if from == "INBOX" {
                // RFC 9051 §6.3.6: renaming INBOX moves its messages and leaves it empty.
                let inbox = u.folders.get_mut("INBOX").ok_or(StoreError::NoMailbox)?;
                let msgs = std::mem::take(&mut inbox.msgs);
                inbox.modseq += 1;
                let m = inbox.modseq;
                inbox.expunged.extend(msgs.iter().map(|x| (x.uid, m)));
                let uidnext = inbox.uidnext;
                u.folders.insert(
                    to.to_string(),
                    Folder {
                        uidvalidity: v,
                        uidnext,
                        msgs,
                        subscribed: false,
                        special_use: None,
                        modseq: 1,
                        expunged: Vec::new(),
                    },
                );
                return Ok(());
            }
            let prefix = format!("{from}/");
            let moving: Vec<String> = u
                .folders
                .keys()
                .filter(|k| *k == from || k.starts_with(&prefix))
                .cloned()
                .collect();
            for k in moving {
                if let Some(f) = u.folders.remove(&k) {
                    let nk = format!("{to}{}", &k[from.len()..]);
                    u.folders.insert(nk, f);
                }
            }
            Ok(())
        })
    }

    fn subscribe(&mut self, folder: &str, on: bool) -> Result<(), StoreError> {
        self.with_folder(folder, |f| {
            f.subscribed = on;
            Ok(())
        })
    }

    fn flag_changes(&mut self, folder: &str, since: u64) -> Result<(u64, Vec<FlagUpdate>), StoreError> {
        self.with_folder(folder, |f| {
            let changed = f
                .msgs
                .iter()
                .filter(|m| m.modseq > since)
                .map(|m| FlagUpdate {
                    uid: m.uid,
                    flags: m.flags.clone(),
                    modseq: m.modseq,
                    changed: true,
                })
                .collect();
            Ok((f.modseq, changed))
        })
    }

    fn quota(&mut self) -> Result<Option<Quota>, StoreError> {
        self.with(|u| {
            Ok((u.quota > 0).then(|| Quota {
                used: used_bytes(u),
                limit: u.quota,
            }))
        })
    }

    fn vanished(&mut self, folder: &str, since: u64) -> Result<Vec<u32>, StoreError> {
        self.with_folder(folder, |f| {
            let mut v: Vec<u32> = f.expunged.iter().filter(|e| e.1 > since).map(|e| e.0).collect();
            v.sort_unstable();
            Ok(v)
        })
    }

    fn watch(&mut self, folder: &str, notify: Notifier) {
        self.unwatch();
        let id = self.store.ids.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.store.data).watches.push(Watch {
            id,
            user: self.user.clone(),
            folder: folder.to_string(),
            notify,
        });
        self.watch = Some(id);
    }

    fn unwatch(&mut self) {
        if let Some(id) = self.watch.take() {
            lock(&self.store.data).watches.retain(|w| w.id != id);
        }
    }
}

impl Drop for MemUser {
    fn drop(&mut self) {
        self.unwatch();
    }
}
