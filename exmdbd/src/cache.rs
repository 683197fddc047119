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
}

/// Cache of open stores.
pub struct StoreCache {
    opts: StoreOptions,
    idle: Duration,
    map: Mutex<HashMap<PathBuf, Entry>>,
}

impl StoreCache {
    /// A cache closing stores unused for `idle`.
    pub fn new(opts: StoreOptions, idle: Duration) -> StoreCache {
        StoreCache {
            opts,
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The shared store of `maildir`, opened on first use. Its notifier outlives idle closes so
    /// subscriptions keep working.
    pub fn get(&self, maildir: &Path) -> Result<Arc<Mutex<Store>>> {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = m.get_mut(maildir) {
            e.last = Instant::now();
            return Ok(e.store.clone());
        }
        let mut st = Store::open(maildir, &self.opts)?;
        let notifier = st.notifier().clone();
        st.set_notifier(notifier.clone());
        let store = Arc::new(Mutex::new(st));
        m.insert(
            maildir.to_path_buf(),
            Entry {
                store: store.clone(),
                notifier,
                last: Instant::now(),
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
        before - m.len()
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
                Ok(true)
            }
        }
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
