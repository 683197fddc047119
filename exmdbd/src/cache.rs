//! Shared open stores: one [`Store`] per mailbox directory, closed after an idle time.

use crate::error::Result;
use crate::notify::Notifier;
use crate::store::{Store, StoreOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Entry {
    store: Arc<Mutex<Store>>,
    notifier: Arc<Notifier>,
    last: Instant,
    ckpt: Arc<Mutex<Checkpointer>>,
}

/// A second connection to a store's database used only for WAL checkpoints, so they run
/// beside the store's writes instead of inside one (SQLite checkpoints do not block writers).
#[derive(Default)]
struct Checkpointer {
    conn: Option<rusqlite::Connection>,
    /// Modification time of the `-wal` file at the last checkpoint.
    seen: Option<std::time::SystemTime>,
}

/// Cache of open stores.
pub struct StoreCache {
    opts: StoreOptions,
    idle: Duration,
    /// Most stores kept open (Gromox `table_size`).
    capacity: usize,
    map: Mutex<HashMap<PathBuf, Entry>>,
    /// Notifiers that outlive their store's close: a subscriber (a listen connection, a table
    /// kept current over RPC) holds a clone, and the store reopened later gets the same one
    /// back, so subscriptions survive idle closes, `table_size` evictions and unloads. A
    /// notifier nobody else holds is dropped when its store closes.
    notifiers: Mutex<HashMap<PathBuf, Arc<Notifier>>>,
}

impl StoreCache {
    /// A cache closing stores unused for `idle`.
    pub fn new(opts: StoreOptions, idle: Duration) -> StoreCache {
        StoreCache {
            opts,
            idle,
            capacity: usize::MAX,
            map: Mutex::new(HashMap::new()),
            notifiers: Mutex::new(HashMap::new()),
        }
    }

    /// Keep at most `n` stores open (`exmdb_table_size`, Gromox `table_size`): opening one more
    /// first closes the least recently used store no request is using. When every open store
    /// is in use the cache grows past `n` for the moment rather than refuse the request.
    pub fn with_capacity(mut self, n: usize) -> Self {
        self.capacity = n.max(1);
        self
    }

    /// The shared store of `maildir`, opened on first use. Its notifier outlives idle closes so
    /// subscriptions keep working.
    pub fn get(&self, maildir: &Path) -> Result<Arc<Mutex<Store>>> {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = m.get_mut(maildir) {
            e.last = Instant::now();
            return Ok(e.store.clone());
        }
        if m.len() >= self.capacity {
            let lru = m
                .iter()
                .filter(|(_, e)| Arc::strong_count(&e.store) == 1)
                .min_by_key(|(_, e)| e.last)
                .map(|(k, _)| k.clone());
            if let Some(k) = lru {
                m.remove(&k);
                self.forget_notifiers(&m);
            }
        }
        let mut st = Store::open(maildir, &self.opts)?;
        let notifier = self
            .notifiers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(maildir.to_path_buf())
            .or_insert_with(|| st.notifier().clone())
            .clone();
        st.set_notifier(notifier.clone());
        let store = Arc::new(Mutex::new(st));
        m.insert(
            maildir.to_path_buf(),
            Entry {
                store: store.clone(),
                notifier,
                last: Instant::now(),
                ckpt: Arc::default(),
            },
        );
        Ok(store)
    }

    /// The notifier of an open store.
    pub fn notifier(&self, maildir: &Path) -> Option<Arc<Notifier>> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(maildir)
            .map(|e| e.notifier.clone())
    }

    /// Closes stores idle longer than the idle time and not in use; returns how many.
    pub fn close_idle(&self) -> usize {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let before = m.len();
        let idle = self.idle;
        m.retain(|_, e| e.last.elapsed() < idle || Arc::strong_count(&e.store) > 1);
        self.forget_notifiers(&m);
        before - m.len()
    }

    /// Drops the notifiers of closed stores that no subscriber holds.
    fn forget_notifiers(&self, open: &HashMap<PathBuf, Entry>) {
        self.notifiers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|dir, n| open.contains_key(dir) || Arc::strong_count(n) > 1);
    }

    /// Close the store of `maildir` now (Gromox `unload_store`): `Ok(true)` when it was open
    /// and is closed, `Ok(false)` when it was not open, `Err(())` while a request is using it.
    #[allow(clippy::result_unit_err)]
    pub fn unload(&self, maildir: &Path) -> std::result::Result<bool, ()> {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match m.get(maildir) {
            None => Ok(false),
            Some(e) if Arc::strong_count(&e.store) > 1 => Err(()),
            Some(_) => {
                m.remove(maildir);
                self.forget_notifiers(&m);
                Ok(true)
            }
        }
    }

    /// Checkpoint the WAL of every open store written since its last checkpoint (SQLite
    /// `wal_checkpoint(PASSIVE)` over a separate connection: it never blocks the store's
    /// writers or readers). Run periodically by the daemon for stores opened with
    /// `background_checkpoint`; returns how many stores were checkpointed. Errors are
    /// returned as `(maildir, error)` and leave the store's own backstop checkpoint in charge.
    pub fn checkpoint(&self) -> (usize, Vec<(PathBuf, String)>) {
        let work: Vec<(PathBuf, Arc<Mutex<Checkpointer>>)> = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(p, e)| (p.clone(), e.ckpt.clone()))
            .collect();
        let (mut done, mut errors) = (0, Vec::new());
        for (dir, ck) in work {
            let db = Store::db_path(&dir);
            let mut wal = db.clone().into_os_string();
            wal.push("-wal");
            let Ok(mtime) = std::fs::metadata(&wal).and_then(|m| m.modified()) else {
                continue; // no WAL (yet)
            };
            let mut ck = ck.lock().unwrap_or_else(|e| e.into_inner());
            if ck.seen == Some(mtime) {
                continue;
            }
            let r = (|| -> rusqlite::Result<()> {
                if ck.conn.is_none() {
                    let c = rusqlite::Connection::open(&db)?;
                    c.busy_timeout(Duration::from_millis(100))?;
                    ck.conn = Some(c);
                }
                if let Some(c) = &ck.conn {
                    c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
                }
                Ok(())
            })();
            match r {
                Ok(()) => {
                    ck.seen = Some(mtime);
                    done += 1;
                }
                Err(e) => {
                    ck.conn = None;
                    errors.push((dir, e.to_string()));
                }
            }
        }
        (done, errors)
    }

    /// Background work of search folders ([`Store::search_step`]: queued message changes,
    /// then populations) on every open store that has some, at most `budget` message
    /// evaluations each, in short transactions. A store busy with a request is skipped this
    /// round, so requests never wait for more than one batch. Run periodically by the daemon's
    /// maintenance thread; returns the failures as `(maildir, error)`.
    pub fn search_step(&self, budget: usize) -> Vec<(PathBuf, String)> {
        let work: Vec<(PathBuf, Arc<Mutex<Store>>)> = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(p, e)| (p.clone(), e.store.clone()))
            .collect();
        let mut errors = Vec::new();
        for (dir, store) in work {
            let Ok(mut st) = store.try_lock() else { continue };
            if st.has_search_work() {
                if let Err(e) = st.search_step(budget) {
                    errors.push((dir, e.to_string()));
                }
            }
        }
        errors
    }

    /// Number of open stores.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no store is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_survive_closes_and_evictions() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        for d in [&a, &b] {
            Store::create_private(d, "a@example.org", "en", false, &StoreOptions::default()).unwrap();
        }
        let cache = StoreCache::new(StoreOptions::default(), Duration::ZERO).with_capacity(1);
        cache.get(&a).unwrap();
        let n = cache.notifier(&a).unwrap();
        let rx = n.subscribe();
        // Idle close, then reopened by a write: the subscriber hears it.
        assert_eq!(cache.close_idle(), 1);
        let write = |dir: &Path| {
            let st = cache.get(dir).unwrap();
            let mut g = st.lock().unwrap();
            g.create_message(0x0d, &crate::MessageContent::default(), false)
                .unwrap()
        };
        let m1 = write(&a);
        assert!(rx
            .try_iter()
            .any(|e| matches!(e, crate::Event::MessageCreated { message, .. } if message == m1)));
        // Evicted by another store (capacity 1), reopened: still heard.
        write(&b);
        assert_eq!(cache.len(), 1);
        let m2 = write(&a);
        assert!(rx
            .try_iter()
            .any(|e| matches!(e, crate::Event::MessageCreated { message, .. } if message == m2)));
        // Unloaded: the same.
        assert_eq!(cache.unload(&a), Ok(true));
        let m3 = write(&a);
        assert!(rx
            .try_iter()
            .any(|e| matches!(e, crate::Event::MessageCreated { message, .. } if message == m3)));
        // A notifier nobody holds goes with its store.
        drop((n, rx));
        assert_eq!(cache.unload(&a), Ok(true));
        assert!(!cache.notifiers.lock().unwrap().contains_key(&a));
    }

    #[test]
    fn search_populations_run_in_the_background_step() {
        use gromox_mapi::restriction::Restriction;
        use gromox_mapi::tags::PR_SUBJECT;
        let t = tempfile::tempdir().unwrap();
        Store::create_private(t.path(), "a@example.org", "en", false, &StoreOptions::default()).unwrap();
        let cache = StoreCache::new(StoreOptions::default(), Duration::from_secs(60));
        let st = cache.get(t.path()).unwrap();
        let sf = {
            let mut g = st.lock().unwrap();
            assert!(!g.has_search_work());
            for _ in 0..5 {
                g.create_message(0x0d, &crate::MessageContent::default(), false)
                    .unwrap();
            }
            let sf = g.create_search_folder(0x05, "All").unwrap();
            let not_subject = Restriction::Not(Box::new(Restriction::Exist(PR_SUBJECT)));
            g.set_search_criteria(sf, Some(&not_subject), Some(&[0x0d]), 0).unwrap();
            sf
        };
        let rx = cache.notifier(t.path()).unwrap().subscribe_notices();
        // Two messages per store and round: the population takes several rounds.
        let mut rounds = 0;
        while st.lock().unwrap().search_results(sf).unwrap().len() < 5 || rx.try_recv().is_err() {
            assert_eq!(cache.search_step(2), vec![]);
            rounds += 1;
            assert!(rounds < 20);
        }
        assert!(rounds >= 3);
        // A store in use is skipped, not waited for.
        let held = st.lock().unwrap();
        assert_eq!(cache.search_step(2), vec![]);
        drop(held);
    }

    #[test]
    fn background_checkpoints_run_only_after_writes() {
        let t = tempfile::tempdir().unwrap();
        Store::create_private(t.path(), "a@example.org", "en", false, &StoreOptions::default()).unwrap();
        let opts = StoreOptions {
            background_checkpoint: true,
            ..StoreOptions::default()
        };
        let cache = StoreCache::new(opts, Duration::from_secs(60));
        let st = cache.get(t.path()).unwrap();
        let auto: i64 = {
            let g = st.lock().unwrap();
            g.conn()
                .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(auto, crate::schema::WAL_BACKSTOP_PAGES);
        st.lock().unwrap().create_folder(0x09, "A", None).unwrap();
        assert_eq!(cache.checkpoint(), (1, vec![]));
        // Nothing written since: nothing to do.
        assert_eq!(cache.checkpoint(), (0, vec![]));
        st.lock().unwrap().create_folder(0x09, "B", None).unwrap();
        assert_eq!(cache.checkpoint().0, 1);
        // Every WAL frame is in the database now.
        let (log, done): (i64, i64) = st
            .lock()
            .unwrap()
            .conn()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?)))
            .unwrap();
        assert_eq!(log, done);
    }
}
