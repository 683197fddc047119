//! Where recipients are looked up and messages end up: the [`RecipientResolver`] and
//! [`Deliverer`] traits, and their implementations.
//!
//! - [`FileDrop`] (`lda_backend = filedrop`): a directory per recipient under
//!   `lda_filedrop_path`; each delivered message becomes `<address>/new/<id>.eml`, written
//!   durably (temp file, fsync, rename, directory fsync). Used by the tests and benchmarks,
//!   and usable as a plain mail drop.
//! - `crate::store_backend::StoreBackend` (`lda_backend = store`, the default): the user
//!   directory and the information store.
//! - [`StoreUnavailable`]: used when the store backend cannot start (no directory): every
//!   recipient is refused with `451 4.3.0 store not available` — mail is never accepted when
//!   it cannot be stored.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use crate::spool::{Envelope, SpooledMessage};

/// What a recipient address is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientKind {
    /// A mailbox.
    Mailbox,
    /// A mailing list expanding to these member addresses.
    List(Vec<String>),
}

/// A recipient the resolver found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The canonical mailbox address (after aliases and `+ext` removal).
    pub address: String,
    /// The mailbox directory.
    pub maildir: PathBuf,
    /// The home server (`servers.hostname`; empty: this host) whose exmdbd serves the mailbox.
    pub home: String,
    /// Kind.
    pub kind: RecipientKind,
}

/// The answer of a [`RecipientResolver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Deliverable.
    Found(Resolved),
    /// No such user (550 5.1.1).
    Unknown,
    /// The mailbox is disabled (550 5.2.1).
    Inactive,
    /// Over quota: temporary (452 4.2.2) or permanent (552 5.2.2).
    OverQuota {
        /// Permanent refusal.
        permanent: bool,
    },
    /// The lookup itself failed (451 4.3.0).
    Unavailable(String),
    /// This sender may not write to this recipient, e.g. a mailing list's privilege
    /// (550 5.7.1, with the reason).
    Refused(String),
}

/// Maps an envelope recipient to a mailbox.
pub trait RecipientResolver: Send + Sync {
    /// Look `address` up (as given in RCPT TO, without brackets).
    fn resolve(&self, address: &str) -> Resolution;
    /// Look `address` up for mail from `sender` (the reverse path, empty for `<>`): also
    /// applies sender-dependent policy such as mailing-list privileges. The default ignores
    /// the sender.
    fn resolve_for(&self, address: &str, sender: &str) -> Resolution {
        let _ = sender;
        self.resolve(address)
    }
    /// Whether `domain` is served here (mail for an unknown user of it is refused, never
    /// relayed). The default: no domain is known.
    fn is_local_domain(&self, domain: &str) -> bool {
        let _ = domain;
        false
    }
    /// The forward of mailbox `address`: `(redirect, destination)` (redirect: keep no copy).
    /// The default: none.
    fn forward_of(&self, address: &str) -> Option<(bool, String)> {
        let _ = address;
        None
    }
    /// Whether an automatic reply from mailbox `rcpt` to `peer` is due at `now` with `window`
    /// seconds of silence, recording it when it is (the store's `autoreply_ts`). The default,
    /// for backends without a store: never.
    fn autoreply_due(&self, rcpt: &Resolved, peer: &str, now: i64, window: i64) -> Result<bool, String> {
        let _ = (rcpt, peer, now, window);
        Ok(false)
    }
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Stored durably.
    Delivered,
    /// Try again later (4xx).
    Temporary(String),
    /// Never deliverable (5xx).
    Permanent(String),
}

/// Stores a message into one recipient's mailbox.
pub trait Deliverer: Send + Sync {
    /// Store `msg` (raw MIME available through [`SpooledMessage::open_body`]) for `rcpt`.
    /// Must return [`Delivery::Delivered`] only once the copy is durable. Delivering the same
    /// spool id twice should not duplicate the message where the store can tell.
    fn deliver(&self, msg: &SpooledMessage, env: &Envelope, rcpt: &Resolved) -> Delivery;
}

/// Group commit for directory fsyncs: callers that renamed a file into `dir` wait for one
/// fsync of the directory that started after their rename; concurrent callers share it.
#[derive(Default)]
pub struct DirSyncer {
    state: Mutex<std::collections::HashMap<PathBuf, SyncState>>,
    cv: Condvar,
}

#[derive(Default, Clone, Copy)]
struct SyncState {
    /// Syncs started so far.
    started: u64,
    /// Highest sync number finished successfully.
    done: u64,
    running: bool,
    /// Callers inside [`DirSyncer::sync`] for this directory; the entry goes when none are.
    waiters: u32,
}

impl DirSyncer {
    /// Make every rename into `dir` done before this call durable.
    pub fn sync(&self, dir: &Path) -> io::Result<()> {
        let mut map = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let st = map.entry(dir.to_path_buf()).or_default();
        st.waiters += 1;
        // A sync already running may have started before our rename: we need a later one.
        let need = st.started + 1;
        let result = loop {
            let Some(st) = map.get_mut(dir) else {
                break Err(io::Error::other("directory sync state lost"));
            };
            if st.done >= need {
                break Ok(());
            }
            if st.running {
                map = self.cv.wait(map).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.running = true;
            st.started += 1;
            let mine = st.started;
            drop(map);
            let r = File::open(dir).and_then(|f| f.sync_all());
            map = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(st) = map.get_mut(dir) {
                st.running = false;
                if r.is_ok() {
                    st.done = st.done.max(mine);
                }
            }
            self.cv.notify_all();
            if let Err(e) = r {
                break Err(e);
            }
        };
        if let Some(st) = map.get_mut(dir) {
            st.waiters -= 1;
            if st.waiters == 0 && !st.running {
                map.remove(dir);
            }
        }
        result
    }

    /// Directories with callers inside [`DirSyncer::sync`] (for tests).
    pub fn active(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Write `prefix` and then `src` to `dir/name` durably: a temporary file in `tmpdir`, fsync,
/// rename, directory fsync. An existing `dir/name` is replaced (same spool id: same message).
pub fn write_durably(
    src: &mut dyn Read,
    prefix: &[u8],
    tmpdir: &Path,
    dir: &Path,
    name: &str,
    syncer: &DirSyncer,
) -> io::Result<u64> {
    // Unique temporary name: the same message may be written to one mailbox by two workers
    // at once (an address and its `+ext` form); both then rename onto the same final name.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = tmpdir.join(format!("{name}.{}.{seq}", std::process::id()));
    let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
    let r = (|| {
        f.write_all(prefix)?;
        let n = io::copy(src, &mut f)?;
        f.sync_data()?;
        Ok::<u64, io::Error>(n + prefix.len() as u64)
    })();
    match r {
        Ok(n) => {
            fs::rename(&tmp, dir.join(name))?;
            syncer.sync(dir)?;
            Ok(n)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The file-drop backend: resolver and deliverer over `root/<address>/`.
///
/// A recipient exists when the directory `root/<lower-cased address>` exists (`user+ext@d`
/// falls back to `user@d`). Test hooks, as marker files in that directory: `INACTIVE` (550
/// 5.2.1), `OVERQUOTA` (452 4.2.2), `OVERQUOTA-PERMANENT` (552 5.2.2), `TEMPFAIL` (delivery
/// answers a temporary failure), `PERMFAIL` (a permanent one), `MEMBERS` (a mailing list: one member address per line).
pub struct FileDrop {
    root: PathBuf,
    syncer: DirSyncer,
}

impl FileDrop {
    /// A file drop at `root` (created if missing).
    pub fn new(root: &Path) -> io::Result<FileDrop> {
        fs::create_dir_all(root)?;
        Ok(FileDrop {
            root: root.to_path_buf(),
            syncer: DirSyncer::default(),
        })
    }

    fn dir_of(&self, address: &str) -> Option<PathBuf> {
        let lower = address.to_lowercase();
        let (local, domain) = gromox_base::names::split_address(&lower).ok()?;
        gromox_base::names::check_component("address", &lower, 320).ok()?;
        let _ = (local, domain);
        Some(self.root.join(&lower))
    }
}

impl RecipientResolver for FileDrop {
    fn resolve(&self, address: &str) -> Resolution {
        let Some(mut dir) = self.dir_of(address) else {
            return Resolution::Unknown;
        };
        let mut canonical = address.to_lowercase();
        if !dir.is_dir() {
            // `user+ext@domain` (Gromox's recipient delimiter `+`).
            let Some((local, domain)) = canonical.rsplit_once('@') else {
                return Resolution::Unknown;
            };
            let Some((base, _)) = local.split_once('+') else {
                return Resolution::Unknown;
            };
            canonical = format!("{base}@{domain}");
            match self.dir_of(&canonical) {
                Some(d) if d.is_dir() => dir = d,
                _ => return Resolution::Unknown,
            }
        }
        if dir.join("INACTIVE").exists() {
            return Resolution::Inactive;
        }
        if dir.join("OVERQUOTA-PERMANENT").exists() {
            return Resolution::OverQuota { permanent: true };
        }
        if dir.join("OVERQUOTA").exists() {
            return Resolution::OverQuota { permanent: false };
        }
        let kind = match fs::read_to_string(dir.join("MEMBERS")) {
            Ok(text) => RecipientKind::List(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect(),
            ),
            Err(_) => RecipientKind::Mailbox,
        };
        Resolution::Found(Resolved {
            address: canonical,
            maildir: dir,
            home: String::new(),
            kind,
        })
    }
}

impl Deliverer for FileDrop {
    fn deliver(&self, msg: &SpooledMessage, env: &Envelope, rcpt: &Resolved) -> Delivery {
        if rcpt.maildir.join("TEMPFAIL").exists() {
            return Delivery::Temporary("mailbox temporarily unavailable (TEMPFAIL)".into());
        }
        if rcpt.maildir.join("PERMFAIL").exists() {
            return Delivery::Permanent("mailbox unusable (PERMFAIL)".into());
        }
        let new = rcpt.maildir.join("new");
        let tmp = rcpt.maildir.join("tmp");
        let r = (|| {
            fs::create_dir_all(&new)?;
            fs::create_dir_all(&tmp)?;
            let prefix = format!("Return-Path: <{}>\r\nDelivered-To: {}\r\n", env.from, rcpt.address);
            let mut body = msg.open_body()?;
            write_durably(
                &mut body,
                prefix.as_bytes(),
                &tmp,
                &new,
                &format!("{}.eml", msg.id),
                &self.syncer,
            )
        })();
        match r {
            Ok(_) => Delivery::Delivered,
            Err(e) => Delivery::Temporary(format!("cannot write mailbox: {e}")),
        }
    }
}

/// The store backend until lmtpd is wired to gromox-directory and exmdbd: refuses every
/// recipient with a temporary error, so the MTA keeps the mail.
pub struct StoreUnavailable;

impl RecipientResolver for StoreUnavailable {
    fn resolve(&self, _address: &str) -> Resolution {
        Resolution::Unavailable("store not available".into())
    }
}

impl Deliverer for StoreUnavailable {
    fn deliver(&self, _msg: &SpooledMessage, _env: &Envelope, _rcpt: &Resolved) -> Delivery {
        Delivery::Temporary("store not available".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_syncs_share_fsyncs_and_leave_no_state() {
        let dir = tempfile::tempdir().unwrap();
        let syncer = std::sync::Arc::new(DirSyncer::default());
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let syncer = syncer.clone();
                let d = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    for j in 0..20 {
                        std::fs::write(d.join(format!("{i}-{j}")), b"x").unwrap();
                        syncer.sync(&d).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(syncer.active(), 0);
        assert!(syncer.sync(&dir.path().join("missing")).is_err());
        assert_eq!(syncer.active(), 0);
    }
}
