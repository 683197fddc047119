//! MIME generation of meeting messages (text/calendar alternative) and the
//! optional winmail.dat part: what an Internet client receives, and that
//! our own import reads it back.

use gromox_convert::ical::{ical_to_items, PSETID_APPOINTMENT};
use gromox_convert::mime_in::mime_to_mapi;
use gromox_convert::mime_out::{mapi_to_mime, mapi_to_mime_with, MimeOptions};
use gromox_convert::props::{get_str, PropName, PropVal};

const INVITE: &str = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:inv-42@example.org\r\nDTSTART:20261201T100000Z\r\nDTEND:20261201T110000Z\r\nSUMMARY:Planning Über-Meeting\r\nLOCATION:Room 7\r\nDESCRIPTION:Agenda follows.\r\nORGANIZER;CN=Olga:mailto:olga@example.org\r\nATTENDEE;CN=Ann:mailto:ann@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

fn meeting() -> gromox_convert::MessageContent {
    let mut m = ical_to_items(INVITE).remove(0);
    m.set(0x0039_0040, PropVal::SysTime(133_000_000_000_000_000));
    m
}

#[test]
fn meeting_request_carries_an_invitation() {
    let m = meeting();
    assert_eq!(m.get_str(0x001A), Some("IPM.Schedule.Meeting.Request"));
    let mime = mapi_to_mime(&m);
    let text = String::from_utf8_lossy(&mime).into_owned();
    assert!(text.contains("Content-Type: multipart/alternative;"), "{text}");
    assert!(
        text.contains("Content-Type: text/calendar; charset=utf-8;\r\n method=REQUEST"),
        "{text}"
    );
    assert!(text.contains("To: Ann <ann@example.org>"), "{text}");
    // An IMAP client's view: the part decodes to a calendar with the event.
    let back = mime_to_mapi(&mime);
    assert_eq!(back.get_str(0x001A), Some("IPM.Schedule.Meeting.Request"));
    assert_eq!(back.get_str(0x0037), Some("Planning Über-Meeting"));
    for lid in [0x820D, 0x820E, 0x8208] {
        let n = PropName::Id(PSETID_APPOINTMENT, lid);
        assert_eq!(back.get_named(&n), m.get_named(&n), "lid {lid:x}");
    }
    // Exported again: still exactly one calendar part.
    let again = String::from_utf8_lossy(&mapi_to_mime(&back)).into_owned();
    assert_eq!(again.matches("Content-Type: text/calendar").count(), 1, "{again}");
    // Without the option: no calendar part.
    let plain = mapi_to_mime_with(
        &m,
        &MimeOptions {
            calendar: false,
            tnef: false,
        },
    );
    assert!(!String::from_utf8_lossy(&plain).contains("text/calendar"));
}

#[test]
fn notes_are_unchanged_and_tnef_is_optional() {
    let mut m = gromox_convert::MessageContent::default();
    m.set(0x001A001F, PropVal::String("IPM.Note".into()));
    m.set(0x0037001F, PropVal::String("Hello".into()));
    m.set(0x1000001F, PropVal::String("Body".into()));
    let named = PropName::Name(gromox_convert::props::PS_PUBLIC_STRINGS, "X-Only-In-Tnef".into());
    m.set_named(named.clone(), 0x0003, PropVal::Long(77));
    let a = mapi_to_mime(&m);
    assert_eq!(a, mapi_to_mime_with(&m, &MimeOptions::default()));
    assert!(!String::from_utf8_lossy(&a).contains("ms-tnef"));
    let b = mapi_to_mime_with(
        &m,
        &MimeOptions {
            calendar: true,
            tnef: true,
        },
    );
    let text = String::from_utf8_lossy(&b).into_owned();
    assert!(
        text.contains("Content-Type: application/ms-tnef;\r\n name=\"winmail.dat\""),
        "{text}"
    );
    // A MAPI reader gets the property that MIME cannot carry.
    let back = mime_to_mapi(&b);
    assert_eq!(back.get_named(&named), Some(&PropVal::Long(77)));
    assert_eq!(get_str(&back.props, 0x0037), Some("Hello"));
}

#[test]
fn recurring_meeting_exceptions_stay_in_the_calendar() {
    let t = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:s-1\r\nDTSTART:20261005T080000Z\r\nDTEND:20261005T083000Z\r\nRRULE:FREQ=DAILY;COUNT=5\r\nSUMMARY:Daily\r\nORGANIZER:mailto:o@example.org\r\nATTENDEE:mailto:a@example.org\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:s-1\r\nRECURRENCE-ID:20261007T080000Z\r\nDTSTART:20261007T090000Z\r\nDTEND:20261007T093000Z\r\nSUMMARY:Later today\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let m = ical_to_items(t).remove(0);
    assert_eq!(m.attachments.len(), 1, "one exception attachment");
    let mime = mapi_to_mime(&m);
    let text = String::from_utf8_lossy(&mime).into_owned();
    assert!(!text.contains("message/rfc822"), "{text}");
    assert!(text.contains("RECURRENCE-ID:20261007T080000Z"), "{text}");
    assert!(text.contains("SUMMARY:Later today"), "{text}");
    // Received by another server: the exception is there again.
    let back = mime_to_mapi(&mime);
    let exc: Vec<_> = back.attachments.iter().filter_map(|a| a.embedded.as_ref()).collect();
    assert_eq!(exc.len(), 1, "{back:#?}");
    assert_eq!(exc[0].get_str(0x0037), Some("Later today"));
    let recur = PropName::Id(PSETID_APPOINTMENT, 0x8216);
    assert_eq!(back.get_named(&recur), m.get_named(&recur));
    // And it is not rendered twice when exported again.
    let again = String::from_utf8_lossy(&mapi_to_mime(&back)).into_owned();
    assert_eq!(again.matches("RECURRENCE-ID").count(), 1, "{again}");
}
