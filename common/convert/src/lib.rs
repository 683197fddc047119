//! Conversion between Internet formats and MAPI (sans-I/O).
//!
//! Bytes in, structures out: nothing here touches files, sockets or clocks.
//!
//! - [`rtfcp`]: compressed RTF ([MS-OXRTFCP]).
//! - [`rtf`]: RTF to HTML / text, including de-encapsulation of HTML
//!   ([MS-OXRTFEX]).
//! - [`html`]: HTML to plain text and plain text to HTML.
//! - [`tnef`]: Transport Neutral Encapsulation Format decoder ([MS-OXTNEF]).

pub mod base64;
pub mod charset;
pub mod contentline;
pub mod error;
pub mod fuzzing;
pub mod html;
pub mod ical;
pub mod mapi;
pub mod message;
pub mod mime_in;
pub mod mime_out;
pub mod props;
pub mod recur;
pub mod rtf;
pub mod rtfcp;
pub mod tnef;
pub mod vcard;

pub use error::{Error, Result};
