//! A small map whose entries expire after a lifetime (`mysql_object_cache_lifetime`), so that a
//! delivery storm to the same recipients costs one SQL round trip per recipient and lifetime,
//! not one per message. Negative answers are cached too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; beyond that, expired ones are swept and then the map is cleared.
const MAX_ENTRIES: usize = 100_000;

/// A TTL cache keyed by lower-cased strings.
pub struct TtlCache<V> {
    lifetime: Duration,
    map: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlCache<V> {
    /// A cache keeping entries for `lifetime` (zero: nothing is kept).
    pub fn new(lifetime: Duration) -> Self {
        TtlCache {
            lifetime,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, V)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh entry.
    pub fn get(&self, key: &str) -> Option<V> {
        if self.lifetime.is_zero() {
            return None;
        }
        let map = self.lock();
        map.get(key)
            .filter(|(t, _)| t.elapsed() < self.lifetime)
            .map(|(_, v)| v.clone())
    }

    /// Store an entry.
    pub fn put(&self, key: String, v: V) {
        if self.lifetime.is_zero() {
            return;
        }
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            let life = self.lifetime;
            map.retain(|_, (t, _)| t.elapsed() < life);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, (Instant::now(), v));
    }

    /// Forget everything (after a change made through this process).
    pub fn clear(&self) {
        self.lock().clear();
    }
}
