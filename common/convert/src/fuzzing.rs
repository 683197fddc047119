//! Entry points of the fuzz targets (`fuzz/fuzz_targets/*.rs`), also run
//! over the seed files by `tests/fuzz_seeds.rs`. Each must accept any
//! input without panicking; they assert the invariants that hold for
//! every input.

/// Compressed RTF: decompress arbitrary input; compress it and check the
/// round trip.
pub fn rtfcp(data: &[u8]) {
    let _ = crate::rtfcp::decompress(data);
    let c = crate::rtfcp::compress(data);
    assert_eq!(crate::rtfcp::decompress(&c).as_deref(), Ok(data), "LZFu round trip");
}

/// RTF to HTML and text.
pub fn rtf(data: &[u8]) {
    let _ = crate::rtf::rtf_to_content(data);
    let _ = crate::rtf::rtf_to_text(data);
}

/// HTML to text and text to HTML.
pub fn html(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let _ = crate::html::html_to_text(&s);
    let h = crate::html::text_to_html(&s);
    let _ = crate::html::html_to_text(&h);
}

/// TNEF: partial decode never panics; a full decode agrees with it and
/// re-encodes ([`crate::tnef_export`]).
pub fn tnef(data: &[u8]) {
    let (partial, err) = crate::tnef::decode_partial(data);
    if err.is_none() {
        // Compare dumps: values may hold NaN floats.
        let full = crate::tnef::decode(data).map(|t| crate::tnef::dump(&t));
        assert_eq!(full.ok(), Some(crate::tnef::dump(&partial)));
        // What decodes re-encodes to a stream that decodes cleanly.
        let m = crate::mime_in::tnef_to_message(partial);
        let again = crate::tnef::decode(&crate::tnef_export::encode(&m)).expect("re-encoded TNEF decodes");
        assert!(again.warnings.is_empty());
    }
}

/// MIME: any bytes convert to a message, which converts back to MIME with
/// CRLF framing that converts again.
pub fn mime(data: &[u8]) {
    let m = crate::mime_in::mime_to_mapi(data);
    let out = crate::mime_out::mapi_to_mime(&m);
    // Framing: every CR and LF is part of a CRLF pair. (Output may be
    // 8-bit: UTF-8 addresses per RFC 6532, S/MIME entities kept as is.)
    for (i, &b) in out.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(out.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && out[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
    let _ = crate::mime_in::mime_to_mapi(&out);
}

/// iCalendar: parse and map, export the items and map the export again.
pub fn ical(data: &[u8]) {
    let items = crate::ical::ical_to_items(&String::from_utf8_lossy(data));
    let out = crate::ical_export::items_to_ical(&items, None);
    assert!(out.split("\r\n").all(|l| l.len() <= 75), "unfolded line");
    let _ = crate::ical::ical_to_items(&out);
}

/// PidLidAppointmentRecur: parse any blob; a parsed blob serialises to one
/// that parses to the same pattern and exceptions, and an appointment
/// carrying it exports to iCalendar.
pub fn recur(data: &[u8]) {
    let Ok(r) = crate::recur::parse(data) else { return };
    let again = crate::recur::parse(&r.to_bytes()).expect("serialised blob parses");
    assert_eq!(again.pattern, r.pattern);
    assert_eq!(again.exceptions.len(), r.exceptions.len());
    let mut m = crate::MessageContent::default();
    m.set(
        crate::props::PR_MESSAGE_CLASS,
        crate::props::PropVal::String("IPM.Appointment".into()),
    );
    m.set_named(
        crate::props::PropName::Id(crate::ical::PSETID_APPOINTMENT, 0x8216),
        crate::props::PT_BINARY,
        crate::props::PropVal::Binary(data.to_vec()),
    );
    m.set_named(
        crate::props::PropName::Id(crate::ical::PSETID_APPOINTMENT, 0x820D),
        crate::props::PT_SYSTIME,
        crate::props::PropVal::SysTime(133_000_000_000_000_000),
    );
    let out = crate::ical_export::items_to_ical(&[m], None);
    let _ = crate::ical::ical_to_items(&out);
}

/// vCard: parse and map; every contact exports as vCard 2.1, 3.0 and 4.0
/// with folded lines, and each export maps again to one contact of the
/// same message class.
pub fn vcard(data: &[u8]) {
    use crate::vcard_export::{contact_to_vcard_version, VcardVersion};
    for c in crate::vcard::vcards_to_contacts(&String::from_utf8_lossy(data)) {
        for v in [VcardVersion::V21, VcardVersion::V30, VcardVersion::V40] {
            let out = contact_to_vcard_version(&c, v);
            assert!(out.split("\r\n").all(|l| l.len() <= 75), "unfolded line");
            let again = crate::vcard::vcards_to_contacts(&out);
            assert_eq!(again.len(), 1, "{out}");
            assert_eq!(again[0].get_str(0x001A), c.get_str(0x001A), "{out}");
        }
    }
}

/// One-off entry ids and flat entry lists: decoding never panics, and a
/// decoded SMTP one-off re-encodes to an id that decodes the same.
pub fn entryid(data: &[u8]) {
    if let Ok((n, t, a)) = crate::oneoff::decode(data) {
        let again = crate::oneoff::encode(&n, &t, &a);
        assert_eq!(crate::oneoff::decode(&again).ok(), Some((n, t, a)));
    }
    if let Ok(list) = crate::oneoff::parse_flat_entry_list(data) {
        let again = crate::oneoff::flat_entry_list(&list);
        assert_eq!(crate::oneoff::parse_flat_entry_list(&again).ok(), Some(list));
    }
    let _ = crate::base64::decode(data);
}
