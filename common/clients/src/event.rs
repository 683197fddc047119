//! Clients of eventd (Gromox's event(8gx) protocol).
//!
//! [`EventClient`] is the sending side (Gromox's event_proxy): it `ID`s itself and broadcasts
//! `FOLDER-TOUCH`, `MESSAGE-UFLAG` and `MESSAGE-EXPUNGE`. [`EventListener`] is the receiving
//! side (Gromox's event_stub): a thread holding a `LISTEN` connection that acknowledges every
//! line with `TRUE`, answers keep-alive `PING`s, hands events to a callback, and after a lost
//! connection (eventd restarted) reconnects and re-`SELECT`s everything selected so far.
//!
//! Events are not echoed to the resource id that sent them; a process using both sides with
//! the same id (as Gromox's imap does, with its PID) does not hear its own events.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::line::LineConn;
use crate::ClientError;

/// A received event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    /// Event name, upper case: `FOLDER-TOUCH`, `MESSAGE-UFLAG`, `MESSAGE-EXPUNGE`, `MESSAGE-FLAG`.
    pub kind: String,
    /// Mailbox owner.
    pub user: String,
    /// Folder.
    pub folder: String,
    /// Message UID/id of message events.
    pub arg: Option<String>,
}

impl Event {
    /// Parse an event line as delivered to listeners.
    pub fn parse(line: &str) -> Option<Event> {
        let mut f = line.split(' ').filter(|s| !s.is_empty());
        let kind = f.next()?.to_ascii_uppercase();
        let user = f.next()?.to_string();
        let folder = f.next()?.to_string();
        let arg = f.next().map(str::to_string);
        if f.next().is_some() {
            return None;
        }
        Some(Event {
            kind,
            user,
            folder,
            arg,
        })
    }
}

fn check_word(s: &str, what: &'static str) -> Result<(), ClientError> {
    if s.is_empty() || s.chars().any(|c| c == ' ' || c.is_control()) {
        return Err(ClientError::InvalidArgument(what));
    }
    Ok(())
}

/// The sending side: a command connection identified by a resource id.
pub struct EventClient {
    addr: SocketAddr,
    id: String,
    timeout: Duration,
    conn: Option<LineConn>,
}

impl EventClient {
    /// Connect to eventd at `addr` and identify as `id` (e.g. `imapd:<host>:<pid>`); `timeout`
    /// bounds connecting and each reply.
    pub fn connect(addr: SocketAddr, id: &str, timeout: Duration) -> Result<EventClient, ClientError> {
        check_word(id, "resource id must be one word")?;
        let mut c = EventClient {
            addr,
            id: id.to_string(),
            timeout,
            conn: None,
        };
        c.ensure()?;
        Ok(c)
    }

    fn ensure(&mut self) -> Result<&mut LineConn, ClientError> {
        if self.conn.as_ref().is_none_or(LineConn::is_closed_by_peer) {
            self.conn = None;
            let mut conn = LineConn::connect(self.addr, self.timeout)?;
            let r = conn.cmd(&format!("ID {}", self.id))?;
            if r != "TRUE" {
                return Err(ClientError::Protocol(format!("ID answered {r:?}")));
            }
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or(ClientError::Closed)
    }

    /// Send `line`; `Ok(true)` for `TRUE`, `Ok(false)` for `FALSE`.
    fn cmd(&mut self, line: &str) -> Result<bool, ClientError> {
        let r = self.ensure()?.cmd(line);
        match r {
            Ok(r) if r == "TRUE" => Ok(true),
            Ok(r) if r.starts_with("FALSE") => Ok(false),
            Ok(r) => {
                self.conn = None;
                Err(ClientError::Protocol(format!("{line:?} answered {r:?}")))
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }

    fn must(&mut self, line: &str) -> Result<(), ClientError> {
        if self.cmd(line)? {
            Ok(())
        } else {
            Err(ClientError::Protocol(format!("{line:?} answered FALSE")))
        }
    }

    /// Subscribe this id's listeners to `user`'s `folder`. `Ok(false)`: eventd has no listener
    /// for this id (LISTEN first).
    pub fn select(&mut self, user: &str, folder: &str) -> Result<bool, ClientError> {
        check_word(user, "user must be one word")?;
        check_word(folder, "folder must be one word")?;
        self.cmd(&format!("SELECT {user} {folder}"))
    }

    /// Unsubscribe.
    pub fn unselect(&mut self, user: &str, folder: &str) -> Result<(), ClientError> {
        check_word(user, "user must be one word")?;
        check_word(folder, "folder must be one word")?;
        self.must(&format!("UNSELECT {user} {folder}"))
    }

    /// Broadcast `FOLDER-TOUCH <user> <folder>` (folder changed, e.g. new mail).
    pub fn folder_touch(&mut self, user: &str, folder: &str) -> Result<(), ClientError> {
        check_word(user, "user must be one word")?;
        check_word(folder, "folder must be one word")?;
        self.must(&format!("FOLDER-TOUCH {user} {folder}"))
    }

    /// Broadcast `MESSAGE-UFLAG <user> <folder> <uid>` (flags changed).
    pub fn message_uflag(&mut self, user: &str, folder: &str, uid: u64) -> Result<(), ClientError> {
        check_word(user, "user must be one word")?;
        check_word(folder, "folder must be one word")?;
        self.must(&format!("MESSAGE-UFLAG {user} {folder} {uid}"))
    }

    /// Broadcast `MESSAGE-EXPUNGE <user> <folder> <uid>` (message deleted).
    pub fn message_expunge(&mut self, user: &str, folder: &str, uid: u64) -> Result<(), ClientError> {
        check_word(user, "user must be one word")?;
        check_word(folder, "folder must be one word")?;
        self.must(&format!("MESSAGE-EXPUNGE {user} {folder} {uid}"))
    }

    /// Check the connection.
    pub fn ping(&mut self) -> Result<(), ClientError> {
        self.must("PING")
    }
}

/// Selections, and the command connection used to send them.
type Selections = (BTreeSet<(String, String)>, Option<EventClient>);

struct Shared {
    addr: SocketAddr,
    id: String,
    timeout: Duration,
    stop: AtomicBool,
    /// Completed `LISTEN` + re-`SELECT` rounds.
    connects: AtomicU64,
    /// Selections and the command connection used to send them; one lock so a selection
    /// made during a reconnect is never missed.
    cmd: Mutex<Selections>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Selections> {
        // Plain set/option updates only; usable after a panic elsewhere.
        self.cmd.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The receiving side: a background thread holding a `LISTEN` connection.
pub struct EventListener {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// How often the listener thread checks for [`EventListener::stop`].
const POLL: Duration = Duration::from_millis(200);

impl EventListener {
    /// Start listening as `id` at eventd `addr`, calling `on_event` (on the listener thread)
    /// for every event. Connection failures are retried in the background with back-off; see
    /// [`EventListener::wait_connected`].
    pub fn start(
        addr: SocketAddr,
        id: &str,
        timeout: Duration,
        on_event: impl FnMut(Event) + Send + 'static,
    ) -> Result<EventListener, ClientError> {
        check_word(id, "resource id must be one word")?;
        let shared = Arc::new(Shared {
            addr,
            id: id.to_string(),
            timeout,
            stop: AtomicBool::new(false),
            connects: AtomicU64::new(0),
            cmd: Mutex::new((BTreeSet::new(), None)),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("event-listen/{id}"))
            .spawn(move || listen_loop(&s, on_event))?;
        Ok(EventListener {
            shared,
            thread: Some(thread),
        })
    }

    /// Like [`EventListener::start`], delivering events into a channel.
    pub fn channel(
        addr: SocketAddr,
        id: &str,
        timeout: Duration,
    ) -> Result<(EventListener, mpsc::Receiver<Event>), ClientError> {
        let (tx, rx) = mpsc::channel();
        let l = EventListener::start(addr, id, timeout, move |e| {
            let _ = tx.send(e);
        })?;
        Ok((l, rx))
    }

    /// How many times the listener has (re)connected and re-selected.
    pub fn connects(&self) -> u64 {
        self.shared.connects.load(Ordering::SeqCst)
    }

    /// Wait until at least `n` connects happened; `false` on timeout.
    pub fn wait_connects(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.connects() < n {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Wait until the first `LISTEN` succeeded; `false` on timeout.
    pub fn wait_connected(&self, timeout: Duration) -> bool {
        self.wait_connects(1, timeout)
    }

    /// Hear about `user`'s `folder` from now on (also after reconnects). The selection is
    /// remembered even when eventd is unreachable now; it is sent on the next connect.
    pub fn select(&self, user: &str, folder: &str) -> Result<(), ClientError> {
        check_word(user, "user must be one word")?;
        check_word(folder, "folder must be one word")?;
        let mut g = self.shared.lock();
        g.0.insert((user.to_string(), folder.to_string()));
        if let Some(c) = g.1.as_mut() {
            // FALSE means our listener is not registered (eventd restarted and we have not
            // reconnected yet): the reconnect re-selects.
            if c.select(user, folder).is_err() {
                g.1 = None;
            }
        }
        Ok(())
    }

    /// Stop hearing about `user`'s `folder`.
    pub fn unselect(&self, user: &str, folder: &str) -> Result<(), ClientError> {
        check_word(user, "user must be one word")?;
        check_word(folder, "folder must be one word")?;
        let mut g = self.shared.lock();
        g.0.remove(&(user.to_string(), folder.to_string()));
        if let Some(c) = g.1.as_mut() {
            if c.unselect(user, folder).is_err() {
                g.1 = None;
            }
        }
        Ok(())
    }

    /// Stop the thread and close the connections.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.lock().1 = None;
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Connect, `LISTEN`, and re-send every selection on a fresh command connection.
fn connect_listener(s: &Shared) -> Result<LineConn, ClientError> {
    let mut conn = LineConn::connect(s.addr, s.timeout)?;
    let r = conn.cmd(&format!("LISTEN {}", s.id))?;
    if r != "TRUE" {
        return Err(ClientError::Protocol(format!("LISTEN answered {r:?}")));
    }
    let mut g = s.lock();
    g.1 = None;
    let mut client = EventClient::connect(s.addr, &s.id, s.timeout)?;
    for (user, folder) in g.0.iter() {
        if !client.select(user, folder)? {
            return Err(ClientError::Protocol("SELECT refused after LISTEN".into()));
        }
    }
    g.1 = Some(client);
    drop(g);
    conn.set_read_timeout(Some(POLL))?;
    s.connects.fetch_add(1, Ordering::SeqCst);
    Ok(conn)
}

fn is_timeout(e: &ClientError) -> bool {
    matches!(e, ClientError::Io(io) if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

fn listen_loop(s: &Shared, mut on_event: impl FnMut(Event)) {
    let mut backoff = Duration::from_millis(50);
    while !s.stop.load(Ordering::SeqCst) {
        let mut conn = match connect_listener(s) {
            Ok(c) => {
                backoff = Duration::from_millis(50);
                c
            }
            Err(_) => {
                let until = Instant::now() + backoff;
                while Instant::now() < until && !s.stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        while !s.stop.load(Ordering::SeqCst) {
            match conn.read_line() {
                Ok(line) => {
                    // Acknowledge first: eventd counts unacknowledged lines per listener.
                    if conn.send("TRUE").is_err() {
                        break;
                    }
                    if line.eq_ignore_ascii_case("PING") {
                        continue;
                    }
                    if let Some(ev) = Event::parse(&line) {
                        on_event(ev);
                    }
                }
                Err(e) if is_timeout(&e) => continue,
                Err(_) => break,
            }
        }
    }
}

/// Best-effort announcements (`FOLDER-TOUCH user folder`) for daemons that change mailboxes:
/// one lazily opened command connection; when eventd cannot be reached, announcements pause
/// for a few seconds and the failure is reported once per outage (the caller logs it).
pub struct EventAnnouncer {
    addr: SocketAddr,
    id: String,
    conn: Mutex<(Option<EventClient>, Option<Instant>, bool)>,
}

/// How long announcements pause after eventd could not be reached.
const ANNOUNCE_PAUSE: Duration = Duration::from_secs(5);

impl EventAnnouncer {
    /// Announce to eventd at `addr` as resource `id` (one word).
    pub fn new(addr: SocketAddr, id: &str) -> Self {
        EventAnnouncer {
            addr,
            id: id.to_string(),
            conn: Mutex::new((None, None, false)),
        }
    }

    /// `FOLDER-TOUCH user folder`. `Err` only for the first failure of an outage (log it);
    /// later failures during the pause are silent.
    pub fn touch(&self, user: &str, folder: &str) -> Result<(), ClientError> {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if c.1.is_some_and(|t| Instant::now() < t) {
            return Ok(());
        }
        let r = match c.0.as_mut() {
            Some(cl) => cl.folder_touch(user, folder),
            None => EventClient::connect(self.addr, &self.id, Duration::from_millis(500)).and_then(|mut cl| {
                let r = cl.folder_touch(user, folder);
                c.0 = Some(cl);
                r
            }),
        };
        match r {
            Ok(()) => {
                c.1 = None;
                c.2 = false;
                Ok(())
            }
            Err(e) => {
                c.0 = None;
                c.1 = Some(Instant::now() + ANNOUNCE_PAUSE);
                if std::mem::replace(&mut c.2, true) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_event_lines() {
        assert_eq!(
            Event::parse("MESSAGE-EXPUNGE a@b inbox 7"),
            Some(Event {
                kind: "MESSAGE-EXPUNGE".into(),
                user: "a@b".into(),
                folder: "inbox".into(),
                arg: Some("7".into())
            })
        );
        assert_eq!(
            Event::parse("folder-touch a@b inbox").map(|e| e.kind),
            Some("FOLDER-TOUCH".into())
        );
        assert_eq!(Event::parse("FOLDER-TOUCH a@b"), None);
        assert_eq!(Event::parse("A b c d e"), None);
    }

    #[test]
    fn refuses_arguments_that_would_break_the_line() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(matches!(
            EventClient::connect(addr, "two words", Duration::from_millis(100)),
            Err(ClientError::InvalidArgument(_))
        ));
        assert!(check_word("inbox\r\nQUIT", "x").is_err());
        assert!(check_word("", "x").is_err());
        assert!(check_word("a@b.c", "x").is_ok());
    }
}
