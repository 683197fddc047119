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
//! - [`session`]: the state machine (RFC 9051 §3) as a `gromox_runtime::Session`, with
//!   IDLE (RFC 2177), UIDPLUS (RFC 4315), MOVE (RFC 6851), ESEARCH/SEARCHRES (RFC 4731/5182),
//!   LIST-EXTENDED/LIST-STATUS (RFC 5258/5819), BINARY (RFC 3516), MULTIAPPEND (RFC 3502),
//!   CONDSTORE/QRESYNC (RFC 7162), UTF8=ACCEPT (RFC 6855);
//! - [`config`]: the `imap_*` configuration keys; [`fuzzing`]: entry points of the fuzz targets.
//!
//! - [`midbstore`]: the production `MailStore` over midbd (and eventd for IDLE);
//!   [`uidlist`]: sequence-number maps shared by the sessions that have a folder selected.

pub mod caps;
pub mod command;
pub mod compress;
pub mod config;
pub mod encode;
pub mod error;
pub mod framer;
pub mod fuzzing;
pub mod memstore;
pub mod midbstore;
pub mod mime;
pub mod parser;
pub mod search;
pub mod session;
pub mod sort;
pub mod store;
pub mod uidlist;
pub mod utf7;

pub use error::{ParseError, StoreError};
