//! gromox-mt: import and export of mailbox content.
//!
//! - [`stream`]: the intermediate mail-transfer stream (format in README.md) — writer and a
//!   streaming, bounded-memory reader;
//! - [`produce`]: producers turning EML (RFC 5322), mbox, iCalendar (RFC 5545), vCard
//!   (RFC 6350) and TNEF (MS-OXTNEF) into stream frames via `gromox-convert`;
//! - [`kdb`]: Zarafa/Kopano stores (MySQL/MariaDB database + attachment directory);
//! - [`oxm`]: Outlook .msg files (MS-OXMSG on MS-CFB compound files);
//! - [`pst`]: PST/OST files through `outlook-pst`, with [`pstraw`] reading by hand what the
//!   crate cannot (embedded messages and their attachments);
//! - [`import`]: the importer writing frames into an information store (in process with the
//!   `exmdbd` library, or over the exmdb RPC through [`target`]);
//! - [`export`]: store → EML files, stream, vCard, iCalendar, TNEF (in process or over the
//!   exmdb RPC), EML → mbox;
//! - [`cli`]: the command-line programs (`gromox-eml2mt`, `gromox-import`, `gromox-export`, …).

pub mod cli;
pub mod export;
pub mod import;
pub mod kdb;
pub mod oxm;
pub mod produce;
pub mod pst;
pub mod pstraw;
pub mod stream;
pub mod target;

pub use stream::{Frame, Reader, StreamError, Writer};

/// Errors of the import/export tools.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("stream: {0}")]
    Stream(#[from] StreamError),
    #[error("store: {0}")]
    Store(#[from] exmdbd::Error),
    #[error("I/O on {path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("{0}")]
    Usage(String),
}

/// Runs every seed of the fuzz targets (used by the seed test and the fuzz crate).
pub fn fuzz_stream(data: &[u8]) {
    stream::fuzz_read(data)
}
