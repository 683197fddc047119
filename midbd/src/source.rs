//! The store as midbd sees it: the few exmdb operations the index needs, behind a trait so
//! the index can be tested against an in-memory store ([`FakeSource`]) and run against
//! exmdbd ([`crate::exmdb_source::ExmdbSource`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Errors a store operation reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The mailbox does not exist (or is not served by this exmdbd).
    #[error("no such mailbox")]
    NoMailbox,
    /// The folder or message does not exist (any more).
    #[error("not found")]
    NotFound,
    /// A folder of that name exists already.
    #[error("name conflict")]
    Exists,
    /// Over quota.
    #[error("over quota")]
    Quota,
    /// Anything else (network, store failure), with its text.
    #[error("{0}")]
    Other(String),
}

/// A folder of the store hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFolder {
    pub id: u64,
    /// 0 for the root.
    pub parent: u64,
    pub name: String,
    /// PR_CONTAINER_CLASS.
    pub class: Option<String>,
}

/// What the index mirrors of one message (exmdb `ListMessages`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageSummary {
    pub mid: u64,
    pub change_number: u64,
    pub read: bool,
    pub flagged: bool,
    pub answered: bool,
    pub forwarded: bool,
    pub draft: bool,
    pub keywords: Vec<String>,
    /// Unix seconds.
    pub delivery_time: i64,
}

/// Flag changes of `SetMessageFlags` (`None`: unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlagChange {
    pub read: Option<bool>,
    pub flagged: Option<bool>,
    pub answered: Option<bool>,
    pub forwarded: Option<bool>,
    pub keywords: Option<Vec<String>>,
}

impl FlagChange {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == FlagChange::default()
    }
}

/// A message to append (`AppendRfc822`).
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub mime: &'a [u8],
    pub read: bool,
    pub flagged: bool,
    pub answered: bool,
    pub forwarded: bool,
    pub draft: bool,
    pub keywords: Vec<String>,
    pub delivery_time: i64,
}

/// The store operations midbd uses, per mailbox directory.
pub trait StoreSource: Send + Sync {
    /// Every folder of the store.
    fn list_folders(&self, maildir: &str) -> Result<Vec<StoreFolder>, SourceError>;
    /// `(max change number, message count)` of a folder: cheap probe for changes.
    fn folder_state(&self, maildir: &str, folder: u64) -> Result<(u64, u64), SourceError>;
    /// Up to `limit` messages with mid > `after_mid` and a change number of at least
    /// `min_cn` (0: all), ascending by mid.
    fn list_messages(
        &self,
        maildir: &str,
        folder: u64,
        after_mid: u64,
        limit: u32,
        min_cn: u64,
    ) -> Result<Vec<MessageSummary>, SourceError>;
    /// The RFC 5322 rendition of a message.
    fn message_rfc822(&self, maildir: &str, mid: u64) -> Result<Vec<u8>, SourceError>;
    /// Store a MIME message; returns its mid.
    fn append(&self, maildir: &str, folder: u64, msg: &NewMessage<'_>) -> Result<u64, SourceError>;
    /// Change a message's flags.
    fn set_flags(&self, maildir: &str, mid: u64, change: &FlagChange) -> Result<(), SourceError>;
    /// Copy messages; the new mids in order (0 for a message that could not be copied).
    fn copy_messages(&self, maildir: &str, mids: &[u64], to: u64) -> Result<Vec<u64>, SourceError>;
    /// Move messages; the new mids in order (0 for a message that could not be moved).
    fn move_messages(&self, maildir: &str, mids: &[u64], to: u64) -> Result<Vec<u64>, SourceError>;
    /// Delete messages for good.
    fn delete_messages(&self, maildir: &str, mids: &[u64]) -> Result<(), SourceError>;
    /// Create a mail folder (class IPF.Note); its id.
    fn create_folder(&self, maildir: &str, parent: u64, name: &str) -> Result<u64, SourceError>;
    /// Delete a folder with its contents, for good.
    fn delete_folder(&self, maildir: &str, folder: u64) -> Result<(), SourceError>;
    /// Move and/or rename a folder.
    fn move_folder(&self, maildir: &str, folder: u64, parent: u64, name: &str) -> Result<(), SourceError>;
    /// Whether a folder is hidden from IPM views (PR_ATTR_HIDDEN, MS-OXPROPS).
    fn folder_hidden(&self, _maildir: &str, _folder: u64) -> Result<bool, SourceError> {
        Ok(false)
    }
    /// `(bytes used, byte limit)` of the mailbox when a limit is set: the store size
    /// (PR_MESSAGE_SIZE_EXTENDED) against PR_PROHIBIT_SEND_QUOTA (what stops APPEND), or
    /// PR_PROHIBIT_RECEIVE_QUOTA when only that is set (MS-OXPROPS; both in KiB).
    fn quota(&self, _maildir: &str) -> Result<Option<(u64, u64)>, SourceError> {
        Ok(None)
    }
    /// The store-level rights `user` holds on the mailbox (MS-OXCPERM bits plus Gromox's
    /// store-owner bit 0x2000; exmdb `MailboxRights`), for impersonation checks.
    fn mailbox_rights(&self, _maildir: &str, _user: &str) -> Result<u32, SourceError> {
        Ok(0)
    }
}

/// An in-memory store for tests: one mailbox per maildir string, Gromox's default folder ids.
#[derive(Default)]
pub struct FakeSource {
    inner: Mutex<FakeInner>,
    calls: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct FakeInner {
    boxes: BTreeMap<String, FakeBox>,
}

struct FakeBox {
    folders: BTreeMap<u64, StoreFolder>,
    messages: BTreeMap<u64, (u64, MessageSummary, Vec<u8>)>,
    next_fid: u64,
    next_mid: u64,
    cn: u64,
    /// Folder max change numbers (bumped on any change inside).
    fcn: BTreeMap<u64, u64>,
    hidden: std::collections::BTreeSet<u64>,
    /// `(used, limit)` reported by [`StoreSource::quota`].
    quota: Option<(u64, u64)>,
    /// Rights reported by [`StoreSource::mailbox_rights`], by lower-case user name.
    rights: BTreeMap<String, u32>,
    /// Message counts per folder at a folder change number (every change bumps `fcn`), so
    /// `folder_state` does not count a big folder on every probe (as exmdbd does not).
    counts: BTreeMap<u64, (u64, u64)>,
}

impl FakeSource {
    /// An empty fake.
    pub fn new() -> Self {
        Self::default()
    }

    /// Create a mailbox with the default folders (Root 1, IPM_SUBTREE 9, Sent Items 0x0a,
    /// Deleted Items 0x0b, Outbox 0x0c, Inbox 0x0d, Drafts 0x0e, Calendar 0x0f, Contacts 0x13,
    /// Junk Email 0x17).
    pub fn create_mailbox(&self, maildir: &str) {
        let mut folders = BTreeMap::new();
        let mut add = |id: u64, parent: u64, name: &str, class: Option<&str>| {
            folders.insert(
                id,
                StoreFolder {
                    id,
                    parent,
                    name: name.into(),
                    class: class.map(String::from),
                },
            );
        };
        add(1, 0, "Root Container", None);
        add(9, 1, "Top of Information Store", None);
        add(0x0a, 9, "Sent Items", Some("IPF.Note"));
        add(0x0b, 9, "Deleted Items", Some("IPF.Note"));
        add(0x0c, 9, "Outbox", Some("IPF.Note"));
        add(0x0d, 9, "Inbox", Some("IPF.Note"));
        add(0x0e, 9, "Drafts", Some("IPF.Note"));
        add(0x0f, 9, "Calendar", Some("IPF.Appointment"));
        add(0x13, 9, "Contacts", Some("IPF.Contact"));
        add(0x17, 9, "Junk Email", Some("IPF.Note"));
        let b = FakeBox {
            folders,
            messages: BTreeMap::new(),
            next_fid: 0x100,
            next_mid: 0x10000,
            cn: 1,
            fcn: BTreeMap::new(),
            hidden: Default::default(),
            quota: None,
            rights: BTreeMap::new(),
            counts: BTreeMap::new(),
        };
        self.lock().boxes.insert(maildir.to_string(), b);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with<T>(&self, maildir: &str, f: impl FnOnce(&mut FakeBox) -> Result<T, SourceError>) -> Result<T, SourceError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut g = self.lock();
        let b = g.boxes.get_mut(maildir).ok_or(SourceError::NoMailbox)?;
        f(b)
    }

    /// Deliver a message as lmtpd would (bypassing midbd); its mid.
    pub fn deliver(&self, maildir: &str, folder: u64, mime: &[u8], time: i64) -> u64 {
        self.append(
            maildir,
            folder,
            &NewMessage {
                mime,
                read: false,
                flagged: false,
                answered: false,
                forwarded: false,
                draft: false,
                keywords: Vec::new(),
                delivery_time: time,
            },
        )
        .expect("fake deliver")
    }

    /// Set the quota [`StoreSource::quota`] reports: `(bytes used, byte limit)`.
    pub fn set_quota(&self, maildir: &str, quota: Option<(u64, u64)>) {
        if let Some(b) = self.lock().boxes.get_mut(maildir) {
            b.quota = quota;
        }
    }

    /// Set the rights [`StoreSource::mailbox_rights`] reports for `user`.
    pub fn set_mailbox_rights(&self, maildir: &str, user: &str, rights: u32) {
        if let Some(b) = self.lock().boxes.get_mut(maildir) {
            b.rights.insert(user.to_ascii_lowercase(), rights);
        }
    }

    /// Mark a folder hidden (PR_ATTR_HIDDEN).
    pub fn set_hidden(&self, maildir: &str, folder: u64) {
        if let Some(b) = self.lock().boxes.get_mut(maildir) {
            b.hidden.insert(folder);
        }
    }

    /// Store operations made so far (tests count round trips with it).
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A message's summary as the store holds it.
    pub fn summary(&self, maildir: &str, mid: u64) -> Option<MessageSummary> {
        self.lock().boxes.get(maildir)?.messages.get(&mid).map(|m| m.1.clone())
    }

    /// Number of messages in a folder.
    pub fn count(&self, maildir: &str, folder: u64) -> usize {
        self.lock()
            .boxes
            .get(maildir)
            .map_or(0, |b| b.messages.values().filter(|m| m.0 == folder).count())
    }
}

impl FakeBox {
    fn bump(&mut self, folder: u64) -> u64 {
        self.cn += 1;
        self.fcn.insert(folder, self.cn);
        self.cn
    }

    fn folder(&self, id: u64) -> Result<&StoreFolder, SourceError> {
        self.folders.get(&id).ok_or(SourceError::NotFound)
    }

    fn name_taken(&self, parent: u64, name: &str, except: u64) -> bool {
        self.folders
            .values()
            .any(|f| f.parent == parent && f.id != except && f.name.eq_ignore_ascii_case(name))
    }
}

impl StoreSource for FakeSource {
    fn list_folders(&self, maildir: &str) -> Result<Vec<StoreFolder>, SourceError> {
        self.with(maildir, |b| Ok(b.folders.values().cloned().collect()))
    }

    fn folder_state(&self, maildir: &str, folder: u64) -> Result<(u64, u64), SourceError> {
        self.with(maildir, |b| {
            b.folder(folder)?;
            let cn = b.fcn.get(&folder).copied().unwrap_or(0);
            let n = match b.counts.get(&folder) {
                Some(&(at, n)) if at == cn => n,
                _ => {
                    let n = b.messages.values().filter(|m| m.0 == folder).count() as u64;
                    b.counts.insert(folder, (cn, n));
                    n
                }
            };
            Ok((cn, n))
        })
    }

    fn list_messages(
        &self,
        maildir: &str,
        folder: u64,
        after: u64,
        limit: u32,
        min_cn: u64,
    ) -> Result<Vec<MessageSummary>, SourceError> {
        self.with(maildir, |b| {
            b.folder(folder)?;
            Ok(b.messages
                .range(after + 1..)
                .filter(|(_, m)| m.0 == folder && m.1.change_number >= min_cn)
                .take(limit as usize)
                .map(|(_, m)| m.1.clone())
                .collect())
        })
    }

    fn message_rfc822(&self, maildir: &str, mid: u64) -> Result<Vec<u8>, SourceError> {
        self.with(maildir, |b| {
            b.messages.get(&mid).map(|m| m.2.clone()).ok_or(SourceError::NotFound)
        })
    }

    fn append(&self, maildir: &str, folder: u64, msg: &NewMessage<'_>) -> Result<u64, SourceError> {
        self.with(maildir, |b| {
            b.folder(folder)?;
            let mid = b.next_mid;
            b.next_mid += 1;
            let cn = b.bump(folder);
            let s = MessageSummary {
                mid,
                change_number: cn,
                read: msg.read,
                flagged: msg.flagged,
                answered: msg.answered,
                forwarded: msg.forwarded,
                draft: msg.draft,
                keywords: msg.keywords.clone(),
                delivery_time: msg.delivery_time,
            };
            b.messages.insert(mid, (folder, s, msg.mime.to_vec()));
            Ok(mid)
        })
    }

    fn set_flags(&self, maildir: &str, mid: u64, c: &FlagChange) -> Result<(), SourceError> {
        self.with(maildir, |b| {
            let folder = b.messages.get(&mid).ok_or(SourceError::NotFound)?.0;
            let cn = b.bump(folder);
            let Some(m) = b.messages.get_mut(&mid) else {
                return Err(SourceError::NotFound);
            };
            let s = &mut m.1;
            if let Some(v) = c.read {
                s.read = v;
            }
            if let Some(v) = c.flagged {
                s.flagged = v;
            }
            if let Some(v) = c.answered {
                s.answered = v;
            }
            if let Some(v) = c.forwarded {
                s.forwarded = v;
            }
            if let Some(v) = &c.keywords {
                s.keywords = v.clone();
            }
            s.change_number = cn;
            Ok(())
        })
    }

    fn copy_messages(&self, maildir: &str, mids: &[u64], to: u64) -> Result<Vec<u64>, SourceError> {
        self.with(maildir, |b| {
            b.folder(to)?;
            let mut out = Vec::new();
            for mid in mids {
                let Some(m) = b.messages.get(mid).cloned() else {
                    out.push(0);
                    continue;
                };
                let new = b.next_mid;
                b.next_mid += 1;
                let cn = b.bump(to);
                let mut s = m.1;
                s.mid = new;
                s.change_number = cn;
                b.messages.insert(new, (to, s, m.2));
                out.push(new);
            }
            Ok(out)
        })
    }

    fn move_messages(&self, maildir: &str, mids: &[u64], to: u64) -> Result<Vec<u64>, SourceError> {
        let new = self.copy_messages(maildir, mids, to)?;
        let moved: Vec<u64> = mids
            .iter()
            .zip(&new)
            .filter(|(_, n)| **n != 0)
            .map(|(m, _)| *m)
            .collect();
        self.delete_messages(maildir, &moved)?;
        Ok(new)
    }

    fn delete_messages(&self, maildir: &str, mids: &[u64]) -> Result<(), SourceError> {
        self.with(maildir, |b| {
            for mid in mids {
                if let Some(m) = b.messages.remove(mid) {
                    b.bump(m.0);
                }
            }
            Ok(())
        })
    }

    fn create_folder(&self, maildir: &str, parent: u64, name: &str) -> Result<u64, SourceError> {
        self.with(maildir, |b| {
            b.folder(parent)?;
            if b.name_taken(parent, name, 0) {
                return Err(SourceError::Exists);
            }
            let id = b.next_fid;
            b.next_fid += 1;
            b.folders.insert(
                id,
                StoreFolder {
                    id,
                    parent,
                    name: name.into(),
                    class: Some("IPF.Note".into()),
                },
            );
            Ok(id)
        })
    }

    fn delete_folder(&self, maildir: &str, folder: u64) -> Result<(), SourceError> {
        self.with(maildir, |b| {
            b.folder(folder)?;
            let mut doomed = vec![folder];
            let mut i = 0;
            while i < doomed.len() {
                let p = doomed[i];
                doomed.extend(b.folders.values().filter(|f| f.parent == p).map(|f| f.id));
                i += 1;
            }
            for f in &doomed {
                b.folders.remove(f);
            }
            b.messages.retain(|_, m| !doomed.contains(&m.0));
            Ok(())
        })
    }

    fn folder_hidden(&self, maildir: &str, folder: u64) -> Result<bool, SourceError> {
        self.with(maildir, |b| Ok(b.hidden.contains(&folder)))
    }

    fn quota(&self, maildir: &str) -> Result<Option<(u64, u64)>, SourceError> {
        self.with(maildir, |b| Ok(b.quota))
    }

    fn mailbox_rights(&self, maildir: &str, user: &str) -> Result<u32, SourceError> {
        self.with(maildir, |b| {
            Ok(b.rights.get(&user.to_ascii_lowercase()).copied().unwrap_or(0))
        })
    }

    fn move_folder(&self, maildir: &str, folder: u64, parent: u64, name: &str) -> Result<(), SourceError> {
        self.with(maildir, |b| {
            b.folder(folder)?;
            b.folder(parent)?;
            if b.name_taken(parent, name, folder) {
                return Err(SourceError::Exists);
            }
            if let Some(f) = b.folders.get_mut(&folder) {
                f.parent = parent;
                f.name = name.into();
            }
            Ok(())
        })
    }
}
