//! Store notifications: subscribers receive events over a channel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

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
    subs: Mutex<Vec<Sub>>,
    notice_subs: Mutex<Vec<Sender<StoreNotice>>>,
}

enum Sub {
    All(Sender<Event>),
    /// A subscriber that may fall behind: events past the bound are dropped and the flag set.
    Bounded(SyncSender<Event>, Arc<AtomicBool>),
}

/// A subscription holding at most a bounded number of undelivered events
/// ([`Notifier::subscribe_bounded`]).
pub struct BoundedSubscription {
    pub events: Receiver<Event>,
    overflow: Arc<AtomicBool>,
}

impl BoundedSubscription {
    /// Whether events were dropped since the last call (the flag is cleared): the subscriber
    /// must resynchronise from the store instead of from the events.
    pub fn take_overflow(&self) -> bool {
        self.overflow.swap(false, Ordering::AcqRel)
    }
}

impl Notifier {
    /// A new subscription.
    pub fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = channel();
        if let Ok(mut s) = self.subs.lock() {
            s.push(Sub::All(tx));
        }
        rx
    }
    /// A subscription that holds at most `cap` undelivered events, for subscribers that only
    /// read when asked (a table kept over RPC): beyond that, events are dropped and
    /// [`BoundedSubscription::take_overflow`] reports it, so an idle subscriber costs bounded
    /// memory however busy the store is.
    pub fn subscribe_bounded(&self, cap: usize) -> BoundedSubscription {
        let (tx, rx) = sync_channel(cap);
        let overflow = Arc::new(AtomicBool::new(false));
        if let Ok(mut s) = self.subs.lock() {
            s.push(Sub::Bounded(tx, overflow.clone()));
        }
        BoundedSubscription { events: rx, overflow }
    }
    /// Sends an event to every live subscriber.
    pub fn emit(&self, e: Event) {
        if let Ok(mut s) = self.subs.lock() {
            s.retain(|sub| match sub {
                Sub::All(tx) => tx.send(e.clone()).is_ok(),
                Sub::Bounded(tx, overflow) => match tx.try_send(e.clone()) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) => {
                        overflow.store(true, Ordering::Release);
                        true
                    }
                    Err(TrySendError::Disconnected(_)) => false,
                },
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_subscriptions_drop_and_flag_what_they_cannot_hold() {
        let n = Notifier::default();
        let all = n.subscribe();
        let b = n.subscribe_bounded(2);
        for folder in 1..=5 {
            n.emit(Event::FolderModified { folder });
        }
        assert_eq!(all.try_iter().count(), 5);
        assert_eq!(b.events.try_iter().count(), 2);
        assert!(b.take_overflow());
        assert!(!b.take_overflow());
        n.emit(Event::FolderModified { folder: 6 });
        assert_eq!(b.events.try_recv(), Ok(Event::FolderModified { folder: 6 }));
        drop(b);
        n.emit(Event::FolderModified { folder: 7 });
        assert_eq!(n.subscribers(), 1);
    }
}
