//! The storage interface the IMAP session works through.
//!
//! [`MailStore`] is shared by all sessions of a daemon and authenticates users;
//! [`UserStore`] is one logged-in user's view of their mailbox. The production
//! implementation will speak to midbd (UIDs, flags, summaries) and exmdbd; the in-memory
//! [`crate::memstore::MemStore`] backs the tests. All UIDs handed to a store are UIDs that
//! the store reported; all sequence-number arithmetic stays in the session.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::command::{DateTime, SearchKey, StoreMode};
use crate::encode::{BodyStructure, Envelope};
use crate::error::StoreError;

/// A folder as LIST shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    /// Full UTF-8 name with `/` as hierarchy delimiter; the inbox is `INBOX`.
    pub name: String,
    /// RFC 6154 attribute, e.g. `\Sent`.
    pub special_use: Option<&'static str>,
    pub subscribed: bool,
    pub has_children: bool,
}

/// Counters of a folder (STATUS, SELECT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FolderStatus {
    pub messages: u32,
    pub recent: u32,
    pub uidnext: u32,
    pub uidvalidity: u32,
    pub unseen: u32,
    pub deleted: u32,
    /// Total octets (RFC 8438 STATUS=SIZE).
    pub size: u64,
    /// Highest mod-sequence in the folder (RFC 7162 §3.1.2.1); 0 without tracking.
    pub highest_modseq: u64,
    /// Octets of messages flagged `\Deleted` (RFC 9208 DELETED-STORAGE).
    pub deleted_size: u64,
}

/// A user's storage quota (RFC 9208 STORAGE resource), in octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub used: u64,
    pub limit: u64,
}

/// What SELECT/EXAMINE needs (RFC 9051 §6.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectInfo {
    pub status: FolderStatus,
    /// UIDs of all messages, ascending: the session's sequence-number map (4 bytes per
    /// message — the only per-message state a session keeps).
    pub uids: Vec<u32>,
    /// Keywords defined in the folder, shown in FLAGS besides the system flags.
    pub keywords: Vec<String>,
    /// UID of the first message without `\Seen`.
    pub first_unseen: Option<u32>,
    /// Change counter for [`UserStore::flag_changes`] (0 when the store has none).
    pub modseq: u64,
}

/// Per-message metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    pub uid: u32,
    pub flags: Vec<String>,
    pub internal_date: DateTime,
    pub size: u64,
    /// Mod-sequence of the message's last change (RFC 7162 §3.1.1); 0 without tracking.
    pub modseq: u64,
}

/// What a FETCH needs loaded beyond metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchWant {
    /// The RFC 5322 message (sections, RFC822*, and ENVELOPE/BODYSTRUCTURE when the store
    /// has no precomputed ones).
    pub raw: bool,
    pub envelope: bool,
    pub structure: bool,
    /// How many messages the whole command asks for (it may arrive in several batches); a
    /// store with a bounded cache does not let one big scan evict everything (0: unknown).
    pub total: usize,
}

/// One fetched message, handed to the session's callback and dropped right after.
#[derive(Debug, Clone)]
pub struct FetchedMessage<'a> {
    pub meta: MessageMeta,
    pub raw: Option<Cow<'a, [u8]>>,
    /// Precomputed ENVELOPE (midbd keeps these); computed from `raw` when `None`.
    pub envelope: Option<Envelope>,
    /// Precomputed BODYSTRUCTURE; computed from `raw` when `None`.
    pub structure: Option<BodyStructure>,
    /// Pre-encoded ENVELOPE, BODY and BODYSTRUCTURE data (a store's summary cache); used
    /// before `envelope` and `structure`.
    pub encoded: Option<Arc<EncodedSummary>>,
}

/// ENVELOPE, BODY and BODYSTRUCTURE of a message in their wire form (RFC 9051 §7.5.2), compact
/// enough to keep for many messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSummary {
    pub envelope: Box<[u8]>,
    pub body: Box<[u8]>,
    pub bodystructure: Box<[u8]>,
}

impl EncodedSummary {
    /// Encode an envelope and a structure.
    pub fn new(env: &Envelope, bs: &BodyStructure) -> EncodedSummary {
        let mut e = Vec::new();
        env.write(&mut e);
        let (mut b, mut x) = (Vec::new(), Vec::new());
        bs.write(&mut b, false);
        bs.write(&mut x, true);
        EncodedSummary {
            envelope: e.into_boxed_slice(),
            body: b.into_boxed_slice(),
            bodystructure: x.into_boxed_slice(),
        }
    }
}

/// Result of COPY/MOVE (RFC 4315 COPYUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResult {
    pub uidvalidity: u32,
    /// (source UID, destination UID) pairs, in source order.
    pub pairs: Vec<(u32, u32)>,
}

/// A message's flags after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagUpdate {
    pub uid: u32,
    pub flags: Vec<String>,
    pub modseq: u64,
    /// Whether this STORE changed the flags.
    pub changed: bool,
}

/// Result of STORE (RFC 9051 §6.4.6, RFC 7162 §3.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreOutcome {
    /// Messages the STORE applied to, with their flags afterwards.
    pub updated: Vec<FlagUpdate>,
    /// UIDs left alone because they changed after UNCHANGEDSINCE.
    pub modified: Vec<u32>,
}

/// One message of an APPEND.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    pub flags: &'a [String],
    pub date: Option<DateTime>,
    pub data: &'a [u8],
}

/// Called by a store when a watched folder changed (new, expunged or re-flagged mail).
pub type Notifier = Arc<dyn Fn() + Send + Sync>;

/// The daemon-wide store: authenticates and opens users' mailboxes.
pub trait MailStore: Send + Sync + 'static {
    /// A logged-in user's mailbox.
    type User: UserStore;

    /// Check credentials and open the mailbox. `peer` is for logging and rate limits.
    /// Implementations must not log the password.
    fn login(&self, user: &str, password: &[u8], peer: SocketAddr) -> Result<Self::User, StoreError>;

    /// Whether users' stores answer [`UserStore::vanished`] (QRESYNC is advertised then).
    fn supports_qresync(&self) -> bool {
        false
    }

    /// Whether [`MailStore::login`] writes the fail2ban line for rejected attempts itself
    /// (the directory's authenticator does); the session then does not write a second one.
    fn logs_auth_failures(&self) -> bool {
        false
    }
}

/// One user's mailbox, as the IMAP session sees it. Folder names are UTF-8 with `/`.
pub trait UserStore: Send + 'static {
    /// Every folder of the user (LIST filters in the session).
    fn list_folders(&mut self) -> Result<Vec<FolderInfo>, StoreError>;
    /// STATUS counters.
    fn status(&mut self, folder: &str) -> Result<FolderStatus, StoreError>;
    /// Open a folder for SELECT/EXAMINE.
    fn select(&mut self, folder: &str) -> Result<SelectInfo, StoreError>;
    /// Current UIDs of a folder, ascending (for resynchronising after changes).
    fn uids(&mut self, folder: &str) -> Result<Vec<u32>, StoreError>;
    /// Stream the messages with the given UIDs (ascending; UIDs that vanished are skipped)
    /// through `sink`, one at a time. The session calls this in batches, so a store never
    /// needs to hold a whole folder.
    fn fetch(
        &mut self,
        folder: &str,
        uids: &[u32],
        want: FetchWant,
        sink: &mut dyn FnMut(FetchedMessage<'_>),
    ) -> Result<(), StoreError>;
    /// Change flags; returns the new flags of each message changed or not. With
    /// `unchanged_since` (RFC 7162 UNCHANGEDSINCE), messages whose mod-sequence is higher are
    /// left alone and listed in [`StoreOutcome::modified`].
    fn store_flags(
        &mut self,
        folder: &str,
        uids: &[u32],
        mode: StoreMode,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome, StoreError>;
    /// UIDs (ascending) of messages matching `key` (RFC 9051 §6.4.4). Sequence-number and
    /// `$` keys have been rewritten to UID keys by the session; `*` in a UID set means the
    /// folder's largest UID.
    fn search(&mut self, folder: &str, key: &SearchKey) -> Result<Vec<u32>, StoreError>;
    /// Copy messages to another folder.
    fn copy(&mut self, folder: &str, uids: &[u32], dest: &str) -> Result<CopyResult, StoreError>;
    /// Move messages to another folder (RFC 6851); the source messages are gone afterwards.
    fn move_messages(&mut self, folder: &str, uids: &[u32], dest: &str) -> Result<CopyResult, StoreError>;
    /// Remove messages flagged `\Deleted` (restricted to `only` when given); returns the
    /// expunged UIDs ascending.
    fn expunge(&mut self, folder: &str, only: Option<&[u32]>) -> Result<Vec<u32>, StoreError>;
    /// Store a message; returns (UIDVALIDITY, UID) for APPENDUID.
    fn append(
        &mut self,
        folder: &str,
        flags: &[String],
        date: Option<DateTime>,
        data: &[u8],
    ) -> Result<(u32, u32), StoreError>;
    /// Store several messages all-or-nothing (RFC 3502 MULTIAPPEND); returns UIDVALIDITY
    /// and the new UIDs. The default appends one by one and removes what it appended when
    /// one fails; a transactional store should override it.
    fn append_all(&mut self, folder: &str, msgs: &[NewMessage<'_>]) -> Result<(u32, Vec<u32>), StoreError> {
        let mut done = Vec::new();
        let mut validity = 0;
        for m in msgs {
            match self.append(folder, m.flags, m.date, m.data) {
                Ok((v, u)) => {
                    validity = v;
                    done.push(u);
                }
                Err(e) => {
                    if !done.is_empty() {
                        let _ = self.store_flags(folder, &done, StoreMode::Add, &["\\Deleted".to_string()], None);
                        let _ = self.expunge(folder, Some(&done));
                    }
                    return Err(e);
                }
            }
        }
        Ok((validity, done))
    }
    fn create(&mut self, folder: &str) -> Result<(), StoreError>;
    fn delete(&mut self, folder: &str) -> Result<(), StoreError>;
    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError>;
    fn subscribe(&mut self, folder: &str, on: bool) -> Result<(), StoreError>;
    /// Flag changes since change counter `since` (from [`SelectInfo::modseq`] or an earlier
    /// call): the new counter and the changed messages' current flags. Lets the session tell
    /// clients about flags other sessions changed. Default: no change tracking.
    fn flag_changes(&mut self, _folder: &str, since: u64) -> Result<(u64, Vec<FlagUpdate>), StoreError> {
        Ok((since, Vec::new()))
    }
    /// UIDs expunged after mod-sequence `since`, ascending (RFC 7162 §3.2.5/§3.2.6, QRESYNC).
    /// Only called when [`MailStore::supports_qresync`] is true.
    fn vanished(&mut self, _folder: &str, _since: u64) -> Result<Vec<u32>, StoreError> {
        Err(StoreError::Cannot("Expunge history is not kept".into()))
    }
    /// The user's storage quota, if one is set (one quota root `""` per user).
    fn quota(&mut self) -> Result<Option<Quota>, StoreError> {
        Ok(None)
    }
    /// Watch a folder: `notify` is called (from any thread) when it changes. Replaces an
    /// earlier watch of this user handle. The IDLE hook (RFC 2177).
    fn watch(&mut self, folder: &str, notify: Notifier);
    /// Stop watching.
    fn unwatch(&mut self);
}
