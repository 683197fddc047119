//! Shared per-folder UID lists: the sequence-number → UID map of a selected folder
//! (RFC 9051 §2.3.1.2) is the one piece of session state that grows with the folder. Sessions
//! that have the same folder selected and see the same messages hold one copy of it, so a
//! thousand IDLE clients on a 250,000-message folder cost one list, not a thousand.
//!
//! Sharing is by content: a session interns the list it got from the store under `(user,
//! folder)`; when the list already interned there is equal, it takes that one and drops its
//! own. A session that has not yet seen a change keeps its older list (its message sequence
//! numbers must not move under it), so two versions can live side by side for a while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// An immutable, shareable UID list (ascending).
pub type UidList = Arc<[u32]>;

/// `(user, folder)` → the last list interned for it.
type Interned = HashMap<(String, String), Weak<[u32]>>;

/// The interned lists of one imapd process.
#[derive(Default)]
pub struct UidLists {
    map: Mutex<Interned>,
}

impl UidLists {
    /// The shared list equal to `uids` for `user`'s `folder` (interning `uids` when there is none).
    pub fn share(&self, user: &str, folder: &str, uids: Vec<u32>) -> UidList {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let key = (user.to_string(), folder.to_string());
        if let Some(existing) = map.get(&key).and_then(Weak::upgrade) {
            if *existing == *uids {
                return existing;
            }
        }
        let list: UidList = Arc::from(uids);
        map.insert(key, Arc::downgrade(&list));
        // Forget the lists no session holds any more (amortised: when the map has doubled).
        if map.len() >= 64 && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        list
    }

    /// Number of interned entries (live or not yet swept).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_lists_are_one_allocation() {
        let l = UidLists::default();
        let a = l.share("u", "INBOX", vec![1, 2, 3]);
        let b = l.share("u", "INBOX", vec![1, 2, 3]);
        assert!(Arc::ptr_eq(&a, &b));
        // A changed folder gives a new list; the old one stays valid for its holders.
        let c = l.share("u", "INBOX", vec![1, 2, 3, 4]);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(&*a, &[1, 2, 3]);
        let d = l.share("u", "INBOX", vec![1, 2, 3, 4]);
        assert!(Arc::ptr_eq(&c, &d));
        // Other folders and users are separate entries.
        let e = l.share("v", "INBOX", vec![1, 2, 3, 4]);
        assert!(!Arc::ptr_eq(&c, &e));
    }

    #[test]
    fn dropped_lists_are_swept() {
        let l = UidLists::default();
        for i in 0..200 {
            drop(l.share("u", &format!("f{i}"), vec![i]));
        }
        assert!(l.len() < 200, "{} entries kept", l.len());
    }
}
