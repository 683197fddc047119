//! New-mail announcements on the event bus.
//!
//! After a message is durably in a mailbox, IMAP and POP3 sessions watching that mailbox learn
//! of it through eventd: [`Announcing`] wraps a [`Deliverer`] and, for every successful
//! delivery, sends `FOLDER-TOUCH <address> INBOX` (Gromox's event(8gx) line; the store backend
//! delivers into the receive folder, which IMAP names `INBOX`). The announcement is best
//! effort and never delays or fails a delivery by more than the short event timeout: when
//! eventd cannot be reached, announcements are skipped for a few seconds and a warning is
//! logged once per outage (`gromox_clients::event::EventAnnouncer`). IMAP sessions also
//! resynchronise on their next command, so a lost announcement only delays IDLE notices.

use std::net::SocketAddr;
use std::sync::Arc;

use gromox_clients::event::EventAnnouncer;
use slog::Logger;

use crate::deliver::{Deliverer, Delivery, Resolved};
use crate::spool::{Envelope, SpooledMessage};

/// A [`Deliverer`] that announces successful deliveries on eventd.
pub struct Announcing {
    inner: Arc<dyn Deliverer>,
    announcer: EventAnnouncer,
    addr: SocketAddr,
    log: Logger,
}

impl Announcing {
    /// Wrap `inner`; announcements go to eventd at `addr`.
    pub fn new(inner: Arc<dyn Deliverer>, addr: SocketAddr, log: Logger) -> Self {
        Announcing {
            inner,
            announcer: EventAnnouncer::new(addr, &format!("lmtpd:{}", std::process::id())),
            addr,
            log,
        }
    }

    /// Send `FOLDER-TOUCH user folder`; errors are logged (once per outage), never returned.
    pub fn announce(&self, user: &str, folder: &str) {
        if let Err(e) = self.announcer.touch(user, folder) {
            slog::warn!(self.log, "cannot announce new mail on eventd; IDLE clients notice it on their next command";
                "event" => "lmtp.event_failed", "addr" => self.addr.to_string(), "error" => e.to_string());
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
