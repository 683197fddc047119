//! Contacts → vCard 3.0 (RFC 2426; MS-OXVCARD §2.1.3.2 mapping), the inverse of
//! [`crate::vcard::vcard_to_contact`]: N, FN, NICKNAME, ORG, TITLE, NOTE, URL, BDAY, TEL by
//! type, up to three EMAIL (PidLidEmail{1,2,3}EmailAddress), home ADR (PR_HOME_ADDRESS_*) and
//! work ADR (PidLidWorkAddress*), CATEGORIES (PidNameKeywords). Text values are escaped (RFC
//! 2426 §4: `\\`, `,`, `;`, newlines) and lines folded at 75 octets.

use crate::message::MessageContent;
use crate::props::*;
use crate::vcard::*;

fn esc(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            ',' => o.push_str("\\,"),
            ';' => o.push_str("\\;"),
            '\n' => o.push_str("\\n"),
            '\r' => {}
            c => o.push(c),
        }
    }
    o
}

/// Append one content line, folded at 75 octets (RFC 2425 §5.8.1) on character boundaries.
fn line(out: &mut String, l: &str) {
    let mut width = 0;
    for c in l.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

fn text(m: &MessageContent, tag: u32) -> Option<String> {
    match m.get(tag) {
        Some(PropVal::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn named_text(m: &MessageContent, lid: u32) -> Option<String> {
    match m.get_named(&PropName::Id(PSETID_ADDRESS, lid)) {
        Some(PropVal::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `YYYY-MM-DD` of a FILETIME.
fn date(ft: u64) -> String {
    let days = (ft / 10_000_000 / 86_400) as i64 - 134_774; // 1601-01-01 → 1970-01-01
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}")
}

/// One contact as a vCard 3.0 object (CRLF line ends).
pub fn contact_to_vcard(m: &MessageContent) -> String {
    let mut o = String::new();
    line(&mut o, "BEGIN:VCARD");
    line(&mut o, "VERSION:3.0");
    let n: Vec<String> = [
        PR_SURNAME,
        PR_GIVEN_NAME,
        PR_MIDDLE_NAME,
        PR_DISPLAY_NAME_PREFIX,
        PR_GENERATION,
    ]
    .iter()
    .map(|t| text(m, *t).map(|v| esc(&v)).unwrap_or_default())
    .collect();
    line(&mut o, &format!("N:{}", n.join(";")));
    let fn_ = text(m, PR_DISPLAY_NAME)
        .or_else(|| text(m, PR_SUBJECT))
        .unwrap_or_else(|| {
            n.iter()
                .filter(|x| !x.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        });
    line(&mut o, &format!("FN:{}", esc(&fn_)));
    if let Some(v) = text(m, PR_NICKNAME) {
        line(&mut o, &format!("NICKNAME:{}", esc(&v)));
    }
    let org = text(m, PR_COMPANY_NAME);
    let dept = text(m, PR_DEPARTMENT_NAME);
    if org.is_some() || dept.is_some() {
        let mut v = esc(&org.unwrap_or_default());
        if let Some(d) = dept {
            v.push(';');
            v.push_str(&esc(&d));
        }
        line(&mut o, &format!("ORG:{v}"));
    }
    if let Some(v) = text(m, PR_TITLE) {
        line(&mut o, &format!("TITLE:{}", esc(&v)));
    }
    if let Some(PropVal::SysTime(ft)) = m.get(PR_BIRTHDAY) {
        line(&mut o, &format!("BDAY:{}", date(*ft)));
    }
    for (tag, ty) in [
        (PR_BUSINESS_TELEPHONE_NUMBER, "WORK,VOICE"),
        (PR_HOME_TELEPHONE_NUMBER, "HOME,VOICE"),
        (PR_MOBILE_TELEPHONE_NUMBER, "CELL"),
        (PR_BUSINESS_FAX_NUMBER, "WORK,FAX"),
        (PR_PAGER_TELEPHONE_NUMBER, "PAGER"),
        (PR_PRIMARY_TELEPHONE_NUMBER, "PREF"),
    ] {
        if let Some(v) = text(m, tag) {
            line(&mut o, &format!("TEL;TYPE={ty}:{}", esc(&v)));
        }
    }
    for i in 0..3u32 {
        // PidLidEmail{1,2,3}EmailAddress (MS-OXOCNTC §2.2.1.2.3).
        if let Some(a) = named_text(m, 0x8083 + 0x10 * i) {
            line(&mut o, &format!("EMAIL;TYPE=INTERNET:{}", esc(&a)));
        }
    }
    let home: Vec<String> = [
        PR_HOME_ADDRESS_STREET,
        PR_HOME_ADDRESS_CITY,
        PR_HOME_ADDRESS_STATE_OR_PROVINCE,
        PR_HOME_ADDRESS_POSTAL_CODE,
        PR_HOME_ADDRESS_COUNTRY,
    ]
    .iter()
    .map(|t| text(m, *t).unwrap_or_default())
    .collect();
    let work: Vec<String> = [0x8045u32, 0x8046, 0x8047, 0x8048, 0x8049]
        .iter()
        .map(|l| named_text(m, *l).unwrap_or_default())
        .collect();
    for (ty, f) in [("HOME", home), ("WORK", work)] {
        if f.iter().any(|x| !x.is_empty()) {
            let v: Vec<String> = f.iter().map(|x| esc(x)).collect();
            line(&mut o, &format!("ADR;TYPE={ty}:;;{}", v.join(";")));
        }
    }
    if let Some(v) = text(m, PR_BUSINESS_HOME_PAGE) {
        line(&mut o, &format!("URL:{}", esc(&v)));
    }
    if let Some(v) = text(m, PR_BODY) {
        line(&mut o, &format!("NOTE:{}", esc(&v)));
    }
    if let Some(PropVal::Multi(cats)) = m.get_named(&PropName::Name(PS_PUBLIC_STRINGS, "Keywords".into())) {
        let v: Vec<String> = cats
            .iter()
            .filter_map(|c| match c {
                PropVal::String(s) => Some(esc(s)),
                _ => None,
            })
            .collect();
        if !v.is_empty() {
            line(&mut o, &format!("CATEGORIES:{}", v.join(",")));
        }
    }
    line(&mut o, "END:VCARD");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcard::vcards_to_contacts;

    #[test]
    fn round_trip_keeps_what_a_reader_sees() {
        let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;Q.;Dr.;Jr.\r\nFN:Dr. Jane Q. Doe\r\nNICKNAME:JD\r\n\
ORG:Example\\, Inc.;Research\r\nTITLE:Chief\r\nBDAY:1980-02-29\r\nTEL;TYPE=CELL:+49 170 1\r\n\
TEL;TYPE=WORK:+49 30 2\r\nEMAIL:jane@example.org\r\nEMAIL:j.doe@example.net\r\n\
ADR;TYPE=HOME:;;Main St 1;Berlin;BE;10115;Germany\r\nADR;TYPE=WORK:;;Work Way 2;Bonn;;53111;Germany\r\n\
NOTE:line one\\nline two\r\nCATEGORIES:Friends,VIP\r\nURL:https://example.org/\r\nEND:VCARD\r\n";
        let c = &vcards_to_contacts(card)[0];
        let out = contact_to_vcard(c);
        assert!(out.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"), "{out}");
        assert!(out.contains("N:Doe;Jane;Q.;Dr.;Jr.\r\n"), "{out}");
        assert!(out.contains("ORG:Example\\, Inc.;Research\r\n"), "{out}");
        assert!(out.contains("BDAY:1980-02-29\r\n"), "{out}");
        assert!(out.contains("EMAIL;TYPE=INTERNET:j.doe@example.net\r\n"), "{out}");
        // Read back: the same contact as the original card gave.
        let again = &vcards_to_contacts(&out)[0];
        for tag in [
            PR_DISPLAY_NAME,
            PR_SURNAME,
            PR_GIVEN_NAME,
            PR_COMPANY_NAME,
            PR_DEPARTMENT_NAME,
            PR_TITLE,
            PR_BODY,
            PR_MOBILE_TELEPHONE_NUMBER,
            PR_BUSINESS_TELEPHONE_NUMBER,
            PR_HOME_ADDRESS_CITY,
            PR_BIRTHDAY,
        ] {
            assert_eq!(again.get(tag), c.get(tag), "tag {tag:08x}\n{out}");
        }
        for lid in [0x8083u32, 0x8093, 0x8046] {
            let n = PropName::Id(PSETID_ADDRESS, lid);
            assert_eq!(again.get_named(&n), c.get_named(&n), "lid {lid:x}");
        }
        let k = PropName::Name(PS_PUBLIC_STRINGS, "Keywords".into());
        assert_eq!(again.get_named(&k), c.get_named(&k));
        assert!(out.lines().all(|l| l.len() <= 75), "{out}");
    }
}
