//! New-mail announcements on the event bus.
//!
//! After a message is durably in a mailbox, IMAP and POP3 sessions watching that mailbox learn
//! of it through eventd: [`Announcing`] wraps a [`Deliverer`] and, for every successful
//! delivery, sends `FOLDER-TOUCH <address> INBOX` (Gromox's event(8gx) line; the store backend
//! delivers into the receive folder, which IMAP names `INBOX`). The announcement is best
//! effort and never delays or fails a delivery by more than the short event timeout: when
//! eventd cannot be reached, announcements are skipped for a few seconds and a warning is
//! logged once per outage. IMAP sessions also resynchronise on their next command, so a lost
//! announcement only delays IDLE notices.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gromox_clients::event::EventClient;
use slog::Logger;

use std::sync::Arc;

use crate::deliver::{Deliverer, Delivery, Resolved};
use crate::spool::{Envelope, SpooledMessage};

/// How long announcements pause after eventd could not be reached.
const PAUSE: Duration = Duration::from_secs(5);
/// Connect and reply timeout of the event connection.
const TIMEOUT: Duration = Duration::from_millis(500);

/// A [`Deliverer`] that announces successful deliveries on eventd.
pub struct Announcing {
    inner: Arc<dyn Deliverer>,
    addr: SocketAddr,
    id: String,
    log: Logger,
    conn: Mutex<Conn>,
}

#[derive(Default)]
struct Conn {
    client: Option<EventClient>,
    paused_until: Option<Instant>,
    warned: bool,
}

impl Announcing {
    /// Wrap `inner`; announcements go to eventd at `addr`.
    pub fn new(inner: Arc<dyn Deliverer>, addr: SocketAddr, log: Logger) -> Self {
        Announcing {
            inner,
            addr,
            id: format!("lmtpd:{}", std::process::id()),
            log,
            conn: Mutex::new(Conn::default()),
        }
    }

    /// Send `FOLDER-TOUCH user folder`; errors are logged, never returned.
    pub fn announce(&self, user: &str, folder: &str) {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if c.paused_until.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let result = match c.client.as_mut() {
            Some(client) => client.folder_touch(user, folder),
            None => EventClient::connect(self.addr, &self.id, TIMEOUT).and_then(|mut client| {
                let r = client.folder_touch(user, folder);
                c.client = Some(client);
                r
            }),
        };
        match result {
            Ok(()) => {
                if c.warned {
                    slog::info!(self.log, "eventd reachable again"; "event" => "lmtp.event_restored");
                }
                c.warned = false;
                c.paused_until = None;
            }
            Err(e) => {
                c.client = None;
                c.paused_until = Some(Instant::now() + PAUSE);
                if !c.warned {
                    slog::warn!(self.log, "cannot announce new mail on eventd; IDLE clients notice it on their next command";
                        "event" => "lmtp.event_failed", "addr" => self.addr.to_string(), "error" => e.to_string());
                    c.warned = true;
                }
            }
        }
    }
}

impl Deliverer for Announcing {
    fn deliver(&self, msg: &SpooledMessage, env: &Envelope, rcpt: &Resolved) -> Delivery {
        let d = self.inner.deliver(msg, env, rcpt);
        if matches!(d, Delivery::Delivered) {
            self.announce(&rcpt.address.to_ascii_lowercase(), "INBOX");
        }
        d
    }
}
