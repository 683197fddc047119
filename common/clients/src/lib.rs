//! Client libraries for the suite's internal text services, for the other daemons to use:
//!
//! - [`event::EventClient`] and [`event::EventListener`]: eventd, Gromox's folder-change event
//!   bus (event(8gx) protocol: `ID`, `LISTEN`, `SELECT`, `UNSELECT`, `FOLDER-TOUCH`, …).
//! - [`midb::MidbClient`]: midbd, the IMAP/POP3 message index (`midbd/PROTOCOL.md`).
//! - [`timer::TimerClient`]: timerd, Gromox's deferred command executor (timer(8gx) protocol:
//!   `ADD`, `CANCEL`, `PING`).
//!
//! Synchronous `std::net` only, with connect/read/write timeouts. A command connection that
//! the server closed while idle is detected before reuse and reconnected transparently, so a
//! command is never sent twice.

pub mod event;
pub mod exmdb;
pub mod line;
pub mod midb;
pub mod timer;

/// Errors of the clients.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Network error or timeout.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server greeted with something other than `OK` (e.g. `FALSE Access denied`).
    #[error("refused by server: {0}")]
    Refused(String),
    /// The server closed the connection.
    #[error("connection closed by server")]
    Closed,
    /// The server answered `FALSE` or something unexpected.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// An argument cannot be sent (contains spaces or line breaks, or is empty).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}
