//! Store notifications: subscribers receive events over a channel.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

/// Something that happened in a store. Ids are store-local global counter values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    NewMail {
        folder: u64,
        message: u64,
        class: String,
    },
    MessageCreated {
        folder: u64,
        message: u64,
    },
    MessageModified {
        folder: u64,
        message: u64,
    },
    MessageDeleted {
        folder: u64,
        message: u64,
    },
    MessageMoved {
        from: u64,
        to: u64,
        message: u64,
        new_message: u64,
    },
    MessageCopied {
        from: u64,
        to: u64,
        message: u64,
        new_message: u64,
    },
    FolderCreated {
        folder: u64,
        parent: u64,
    },
    FolderModified {
        folder: u64,
    },
    FolderDeleted {
        folder: u64,
    },
    FolderMoved {
        folder: u64,
        from: u64,
        to: u64,
    },
}

/// Store notifications beyond the object events of [`Event`] (each of which the exmdb RPC
/// layer maps onto a wire notification one to one), on a subscription of their own
/// ([`Notifier::subscribe_notices`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreNotice {
    /// A search folder's population finished (MS-OXCNOTIF §2.2.1.1.6 fnevSearchComplete;
    /// RopGetSearchCriteria answers SEARCH_COMPLETE from now on).
    SearchComplete { folder: u64 },
}

/// Fan-out of events to subscribers; dead subscribers are dropped on the next event.
#[derive(Default)]
pub struct Notifier {
    subs: Mutex<Vec<Sender<Event>>>,
    notice_subs: Mutex<Vec<Sender<StoreNotice>>>,
}

impl Notifier {
    /// A new subscription.
    pub fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = channel();
        if let Ok(mut s) = self.subs.lock() {
            s.push(tx);
        }
        rx
    }
    /// Sends an event to every live subscriber.
    pub fn emit(&self, e: Event) {
        if let Ok(mut s) = self.subs.lock() {
            s.retain(|tx| tx.send(e.clone()).is_ok());
        }
    }
    /// A new subscription to [`StoreNotice`]s.
    pub fn subscribe_notices(&self) -> Receiver<StoreNotice> {
        let (tx, rx) = channel();
        if let Ok(mut s) = self.notice_subs.lock() {
            s.push(tx);
        }
        rx
    }
    /// Sends a notice to every live notice subscriber.
    pub fn notice(&self, n: StoreNotice) {
        if let Ok(mut s) = self.notice_subs.lock() {
            s.retain(|tx| tx.send(n.clone()).is_ok());
        }
    }
    /// Number of live subscribers (as of the last event).
    pub fn subscribers(&self) -> usize {
        self.subs.lock().map(|s| s.len()).unwrap_or(0)
    }
}
