//! Conversion between Internet formats and MAPI (sans-I/O).
//!
//! Bytes in, structures out: nothing here touches files, sockets or clocks.
//! Every decoder accepts any input: malformed data yields a clear
//! [`Error`] or a partial result, never a panic (see [`fuzzing`]).
//!
//! - [`rtfcp`]: compressed RTF, LZFu and MELA ([MS-OXRTFCP]).
//! - [`rtf`]: RTF to HTML / text, including de-encapsulation of HTML
//!   ([MS-OXRTFEX]).
//! - [`html`]: HTML to plain text and plain text to HTML.
//! - [`tnef`]: Transport Neutral Encapsulation Format decoder ([MS-OXTNEF]);
//!   [`tnef_export`] encodes a message as TNEF.
//! - [`mime_in`]: Internet message to MAPI message ([MS-OXCMAIL]).
//! - [`mime_out`]: MAPI message to Internet message ([MS-OXCMAIL],
//!   RFC 2045-2047, RFC 2231, RFC 5322).
//! - [`contentline`], [`ical`], [`vcard`]: iCalendar (RFC 5545) and vCard
//!   (RFC 6350, RFC 2426, 2.1) parsing and mapping to appointment, meeting,
//!   task and contact properties ([MS-OXCICAL], [MS-OXVCARD]);
//!   [`recur`] builds and parses PidLidAppointmentRecur ([MS-OXOCAL]),
//!   [`tz`] maps VTIMEZONE to PidLidTimeZoneStruct and back.
//! - [`ical_export`]: appointments, meetings, tasks and journal entries to
//!   iCalendar ([MS-OXCICAL] section 2.1.3, export direction), recurrences
//!   with EXDATE, RDATE and RECURRENCE-ID instances; VFREEBUSY publication
//!   (RFC 5545 section 3.6.4) of busy periods, which it can derive from
//!   appointments (recurring series expanded).
//! - [`vcard_export`]: contacts to vCard 2.1, 3.0 and 4.0; distribution
//!   lists to group vCards (and group vCards to IPM.DistList on import).
//! - [`report`]: MDN (RFC 8098) and DSN (RFC 3464) generation.
//! - [`message`] / [`props`]: the message structure the conversions share;
//!   [`mapi`] converts it to and from `gromox-mapi` types.
//! - [`charset`], [`base64`]: helpers.
//!
//! # What converts in which direction
//!
//! | format | → MAPI | MAPI → |
//! |---|---|---|
//! | MIME (RFC 5322) | [`mime_in::mime_to_mapi`] | [`mime_out::mapi_to_mime`] / [`mime_out::mapi_to_mime_with`] (meetings get a text/calendar alternative, winmail.dat optional) |
//! | TNEF | [`tnef::decode`] + [`mime_in::tnef_to_message`] | [`tnef_export::encode`] |
//! | iCalendar | [`ical::ical_to_items`] (VEVENT, VTODO, VJOURNAL → IPM.Activity; RECURRENCE-ID instances become exceptions) | [`ical_export::items_to_ical`]; VFREEBUSY: [`ical_export::freebusy_to_ical`] |
//! | vCard | [`vcard::vcards_to_contacts`] (2.1, 3.0, 4.0; groups become IPM.DistList) | [`vcard_export::contact_to_vcard_version`] (2.1, 3.0, 4.0; IPM.DistList as a group) |
//! | MDN / DSN | classified by `mime_to_mapi` | [`report::mdn`], [`report::dsn`] |
//!
//! RDATE: an RDATE that pairs with an EXDATE becomes a moved instance
//! (exception), other RDATEs are kept in PidNameICalendarRecurrenceDate and
//! exported again, but MAPI clients do not show them as instances.
//!
//! Not yet: RRULEs the recurrence blob cannot hold (kept as text
//! in PidLidRecurrencePattern and exported as written, without
//! exceptions); VTIMEZONE export of non-recurring events
//! (they are written in UTC); Hijri/other calendar types; VFREEBUSY import;
//! RTF generation from HTML. (Outlook .msg files are
//! read by `tools/mt`, not here.)

pub mod base64;
pub mod charset;
pub mod contentline;
pub mod error;
pub mod fuzzing;
pub mod html;
pub mod ical;
pub mod ical_export;
pub mod mapi;
pub mod message;
pub mod mime_in;
pub mod mime_out;
pub mod oneoff;
pub mod props;
pub mod recur;
pub mod report;
pub mod rtf;
pub mod rtfcp;
pub mod tnef;
pub mod tnef_export;
pub mod tz;
pub mod vcard;
pub mod vcard_export;

pub use error::{Error, Result};
pub use message::{Attachment, MessageContent};
