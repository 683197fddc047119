//! pop3d: the POP3 server (RFC 1939) with CAPA and response codes (RFC 2449, RFC 3206), STLS
//! (RFC 2595) and SASL PLAIN/LOGIN (RFC 5034, RFC 4616), serving each user's INBOX through
//! midbd (DESIGN.md §2, §7).
//!
//! Sans-I/O layers, bottom up:
//! - [`command`]: the command-line codec (pure; fuzzed);
//! - [`caps`]: capabilities as data, computed from the connection state;
//! - [`maildrop`]: the [`maildrop::Accounts`] and [`maildrop::Maildrop`] services, the
//!   maildrop locks, and in-memory implementations for tests;
//! - [`session`]: the state machine as a `gromox_runtime::Session` (AUTHORIZATION,
//!   TRANSACTION on a snapshot, UPDATE at QUIT);
//! - [`midb`]: the maildrop over midbd and the login over the user directory;
//! - [`config`]: the `pop3_*` keys; [`fuzzing`]: the fuzz targets' entry points.
//!
//! Invariants: messages are removed only at QUIT, all in one midbd call; a connection that
//! ends otherwise removes nothing; one session per maildrop (`[IN-USE]` for a second).

pub mod caps;
pub mod command;
pub mod config;
pub mod error;
pub mod fuzzing;
pub mod maildrop;
pub mod midb;
pub mod session;

pub use error::{DropError, LoginError, ParseError};
