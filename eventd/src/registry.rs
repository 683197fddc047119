//! The shared registry of listeners and their selections.
//!
//! Gromox's model (event(8gx)): a *resource id* (`res_id`, usually host name and PID) names one
//! client process. A process opens one or more listener connections (`LISTEN <res_id>`) and
//! a command connection (`ID <res_id>`) on which it `SELECT`s the folders it wants to hear
//! about. A broadcast is delivered to every *other* resource id that selected the folder, on
//! one of its listener connections (round robin), never back to the sender's own id.
//!
//! Selections of an id survive while it has no listener for [`HOST_GRACE`] (a client
//! reconnecting after a network blip finds them again); selections expire after
//! [`SELECT_TTL`] unless renewed by another `SELECT`, as in Gromox.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::codec::{selection_key, Event};

/// Unacknowledged events a listener may have outstanding; more are dropped (and logged), as
/// Gromox's per-listener FIFO of 128 entries.
pub const MAX_OUTSTANDING: usize = 128;
/// How long the selections of an id without listeners are kept.
pub const HOST_GRACE: Duration = Duration::from_secs(20 * 60);
/// How long a selection lives without being renewed.
pub const SELECT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Expired entries are swept at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// What is pushed to a listener connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerMsg {
    /// An event line (without line end).
    Event(Arc<str>),
    /// Time for a keep-alive `PING`.
    Ping,
}

/// Where messages for a listener connection go: the runtime's `ConnHandle` in the daemon, a
/// channel in tests.
pub trait Sink: Send + Sync + 'static {
    /// Deliver one message; `false` when the connection is gone.
    fn deliver(&self, msg: ListenerMsg) -> bool;
}

impl Sink for gromox_runtime::ConnHandle {
    fn deliver(&self, msg: ListenerMsg) -> bool {
        self.push(Box::new(msg))
    }
}

struct Listener<S> {
    conn: u64,
    sink: S,
    outstanding: Arc<AtomicUsize>,
}

struct Host<S> {
    listeners: Vec<Listener<S>>,
    next: usize,
    selected: HashMap<String, Instant>,
    idle_since: Instant,
}

impl<S> Host<S> {
    fn new(now: Instant) -> Self {
        Host {
            listeners: Vec::new(),
            next: 0,
            selected: HashMap::new(),
            idle_since: now,
        }
    }
}

struct State<S> {
    hosts: HashMap<String, Host<S>>,
    last_sweep: Instant,
}

/// What a broadcast did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Listener connections the event was handed to.
    pub delivered: usize,
    /// Ids that selected the folder but whose listener was full or gone.
    pub dropped: usize,
}

/// Listeners and selections, shared by all sessions.
pub struct Registry<S> {
    state: Mutex<State<S>>,
}

impl<S: Sink> Default for Registry<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Sink> Registry<S> {
    /// An empty registry.
    pub fn new() -> Self {
        Registry {
            state: Mutex::new(State {
                hosts: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<S>> {
        // Only plain map updates happen under this lock; a panic cannot leave it half-done
        // in a way that matters, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register listener connection `conn` for `id`. The returned counter is the listener's
    /// number of unacknowledged events: the session decrements it for every `TRUE`.
    pub fn listen(&self, id: &str, conn: u64, sink: S, now: Instant) -> Arc<AtomicUsize> {
        let outstanding = Arc::new(AtomicUsize::new(0));
        let mut st = self.lock();
        if now.saturating_duration_since(st.last_sweep) >= SWEEP_EVERY {
            sweep(&mut st, now);
        }
        let host = st.hosts.entry(id.to_string()).or_insert_with(|| Host::new(now));
        host.listeners.push(Listener {
            conn,
            sink,
            outstanding: outstanding.clone(),
        });
        outstanding
    }

    /// Remove listener connection `conn` of `id` (connection closed).
    pub fn unlisten(&self, id: &str, conn: u64, now: Instant) {
        let mut st = self.lock();
        if let Some(h) = st.hosts.get_mut(id) {
            h.listeners.retain(|l| l.conn != conn);
            if h.listeners.is_empty() {
                h.idle_since = now;
            }
        }
    }

    /// `SELECT`: subscribe `id` to a folder. `false` when `id` has never listened (Gromox
    /// answers `FALSE` then).
    pub fn select(&self, id: &str, user: &str, folder: &str, now: Instant) -> bool {
        let mut st = self.lock();
        match st.hosts.get_mut(id) {
            Some(h) => {
                h.selected.insert(selection_key(user, folder), now);
                true
            }
            None => false,
        }
    }

    /// `UNSELECT`.
    pub fn unselect(&self, id: &str, user: &str, folder: &str) {
        let mut st = self.lock();
        if let Some(h) = st.hosts.get_mut(id) {
            h.selected.remove(&selection_key(user, folder));
        }
    }

    /// Deliver `event` from sender `from` to every other id that selected its folder.
    pub fn broadcast(&self, from: &str, event: &Event, now: Instant) -> Delivery {
        let key = selection_key(&event.user, &event.folder);
        let line: Arc<str> = Arc::from(event.to_string());
        let mut st = self.lock();
        if now.saturating_duration_since(st.last_sweep) >= SWEEP_EVERY {
            sweep(&mut st, now);
        }
        let mut d = Delivery::default();
        for (id, host) in st.hosts.iter_mut() {
            if id == from || !host.selected.contains_key(&key) {
                continue;
            }
            if deliver_one(host, &line, now) {
                d.delivered += 1;
            } else {
                d.dropped += 1;
            }
        }
        d
    }

    /// Push a keep-alive tick to every listener (Gromox pings idle listeners); listeners that
    /// are gone are removed. Returns the number of listeners reached.
    pub fn ping_all(&self, now: Instant) -> usize {
        let mut st = self.lock();
        let mut n = 0;
        for h in st.hosts.values_mut() {
            let before = h.listeners.len();
            h.listeners.retain(|l| l.sink.deliver(ListenerMsg::Ping));
            n += h.listeners.len();
            if before > 0 && h.listeners.is_empty() {
                h.idle_since = now;
            }
        }
        n
    }

    /// Number of ids known (tests, metrics).
    pub fn hosts(&self) -> usize {
        self.lock().hosts.len()
    }
}

/// Hand `line` to one listener of `host`, round robin, skipping full ones and removing gone
/// ones.
fn deliver_one<S: Sink>(host: &mut Host<S>, line: &Arc<str>, now: Instant) -> bool {
    let mut tries = host.listeners.len();
    while tries > 0 && !host.listeners.is_empty() {
        tries -= 1;
        let i = host.next % host.listeners.len();
        host.next = i + 1;
        let l = &host.listeners[i];
        if l.outstanding.load(Ordering::Relaxed) >= MAX_OUTSTANDING {
            continue;
        }
        l.outstanding.fetch_add(1, Ordering::Relaxed);
        if l.sink.deliver(ListenerMsg::Event(line.clone())) {
            return true;
        }
        host.listeners.remove(i);
        if host.listeners.is_empty() {
            host.idle_since = now;
        }
    }
    false
}

fn sweep<S>(st: &mut State<S>, now: Instant) {
    st.last_sweep = now;
    st.hosts.retain(|_, h| {
        h.selected.retain(|_, t| now.saturating_duration_since(*t) < SELECT_TTL);
        !h.listeners.is_empty() || now.saturating_duration_since(h.idle_since) < HOST_GRACE
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::EventKind;
    use std::sync::mpsc;

    struct Chan(mpsc::Sender<Arc<str>>);
    impl Sink for Chan {
        fn deliver(&self, msg: ListenerMsg) -> bool {
            match msg {
                ListenerMsg::Event(line) => self.0.send(line).is_ok(),
                ListenerMsg::Ping => self.0.send(Arc::from("PING")).is_ok(),
            }
        }
    }

    fn touch(user: &str, folder: &str) -> Event {
        Event {
            kind: EventKind::FolderTouch,
            user: user.into(),
            folder: folder.into(),
            arg: None,
        }
    }

    #[test]
    fn delivers_to_selecting_ids_but_not_the_sender() {
        let now = Instant::now();
        let reg = Registry::new();
        let (tx_a, rx_a) = mpsc::channel();
        let (tx_b, rx_b) = mpsc::channel();
        reg.listen("imap:1", 1, Chan(tx_a), now);
        reg.listen("imap:2", 2, Chan(tx_b), now);
        assert!(reg.select("imap:1", "Alice@Example.org", "inbox", now));
        assert!(reg.select("imap:2", "alice@example.org", "inbox", now));
        assert!(!reg.select("nobody", "alice@example.org", "inbox", now));

        let d = reg.broadcast("imap:2", &touch("ALICE@example.org", "inbox"), now);
        assert_eq!(
            d,
            Delivery {
                delivered: 1,
                dropped: 0
            }
        );
        assert_eq!(&*rx_a.try_recv().unwrap(), "FOLDER-TOUCH ALICE@example.org inbox");
        assert!(rx_b.try_recv().is_err(), "sender's own id must not hear its event");

        // Folder names are case-sensitive; other folders are not delivered.
        assert_eq!(
            reg.broadcast("x", &touch("alice@example.org", "INBOX"), now).delivered,
            0
        );
        reg.unselect("imap:1", "alice@example.org", "inbox");
        assert_eq!(
            reg.broadcast("x", &touch("alice@example.org", "inbox"), now).delivered,
            1
        );
        assert!(rx_a.try_recv().is_err());
        assert!(rx_b.try_recv().is_ok());
    }

    #[test]
    fn round_robin_and_gone_listeners() {
        let now = Instant::now();
        let reg = Registry::new();
        let (tx1, rx1) = mpsc::channel();
        let (tx2, rx2) = mpsc::channel();
        reg.listen("p", 1, Chan(tx1), now);
        reg.listen("p", 2, Chan(tx2), now);
        reg.select("p", "u", "f", now);
        for _ in 0..4 {
            assert_eq!(reg.broadcast("q", &touch("u", "f"), now).delivered, 1);
        }
        assert_eq!(rx1.try_iter().count(), 2);
        drop(rx2);
        // Listener 2 is gone: its share goes to listener 1.
        for _ in 0..2 {
            assert_eq!(reg.broadcast("q", &touch("u", "f"), now).delivered, 1);
        }
        assert_eq!(rx1.try_iter().count(), 2);
    }

    #[test]
    fn full_listener_drops_and_idle_hosts_expire() {
        let now = Instant::now();
        let reg = Registry::new();
        let (tx, _rx) = mpsc::channel();
        let out = reg.listen("p", 1, Chan(tx), now);
        reg.select("p", "u", "f", now);
        out.store(MAX_OUTSTANDING, Ordering::Relaxed);
        assert_eq!(
            reg.broadcast("q", &touch("u", "f"), now),
            Delivery {
                delivered: 0,
                dropped: 1
            }
        );
        assert_eq!(reg.ping_all(now), 1);
        reg.unlisten("p", 1, now);
        assert_eq!(reg.ping_all(now), 0);
        // Selections are kept for a reconnecting listener...
        assert!(reg.select("p", "u", "f", now));
        // ...until the grace period ends.
        let later = now + HOST_GRACE + SWEEP_EVERY;
        reg.broadcast("q", &touch("u", "f"), later);
        assert_eq!(reg.hosts(), 0);
    }
}
