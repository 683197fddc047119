//! imapd: the IMAP4rev1 (RFC 3501) / IMAP4rev2 (RFC 9051) server's protocol core.
//!
//! Sans-I/O layers, bottom up:
//! - [`framer`]: splits input into commands (lines joined by literals, RFC 9051 §4.3,
//!   RFC 7888 LITERAL+, RFC 3516 `~{n}`) under hard caps, asking for `+ ` continuations;
//! - [`parser`] / [`command`]: typed commands for every RFC 3501/9051 command and the
//!   advertised extensions; [`utf7`]: modified UTF-7 mailbox names (RFC 3501 §5.1.3);
//! - [`encode`]: response encoding into reused buffers (strings, ENVELOPE, BODYSTRUCTURE);
//!   [`mime`]: part tree, sections, envelope and structure of RFC 5322 messages;
//! - [`caps`]: capabilities as data, computed from the connection state;
//! - [`store`]: the [`store::MailStore`] trait the session reads mail through (midbd/exmdb
//!   later), and [`memstore`]: an in-memory implementation for tests;
//! - [`session`]: the state machine (RFC 9051 §3) as a `gromox_runtime::Session`.

pub mod caps;
pub mod command;
pub mod config;
pub mod encode;
pub mod error;
pub mod framer;
pub mod fuzzing;
pub mod memstore;
pub mod mime;
pub mod parser;
pub mod session;
pub mod store;
pub mod utf7;

pub use error::{ParseError, StoreError};
