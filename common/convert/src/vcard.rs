//! vCard (RFC 6350 4.0, RFC 2426 3.0, vCard 2.1) to contact properties,
//! after [MS-OXVCARD] section 2.1.3 (vCard to contact object mapping).

use crate::contentline::{parse, split_structured, Component};
use crate::message::MessageContent;
use crate::props::*;

/// PSETID_Address {00062004-0000-0000-C000-000000000046}.
pub const PSETID_ADDRESS: [u8; 16] = [
    0x04, 0x20, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];

// Contact tags ([MS-OXOCNTC] section 2.2).
pub const PR_GIVEN_NAME: u32 = tag(0x3A06, PT_UNICODE);
pub const PR_SURNAME: u32 = tag(0x3A11, PT_UNICODE);
pub const PR_MIDDLE_NAME: u32 = tag(0x3A44, PT_UNICODE);
pub const PR_DISPLAY_NAME_PREFIX: u32 = tag(0x3A45, PT_UNICODE);
pub const PR_GENERATION: u32 = tag(0x3A05, PT_UNICODE);
pub const PR_NICKNAME: u32 = tag(0x3A4F, PT_UNICODE);
pub const PR_COMPANY_NAME: u32 = tag(0x3A16, PT_UNICODE);
pub const PR_DEPARTMENT_NAME: u32 = tag(0x3A18, PT_UNICODE);
pub const PR_TITLE: u32 = tag(0x3A17, PT_UNICODE);
pub const PR_BUSINESS_TELEPHONE_NUMBER: u32 = tag(0x3A08, PT_UNICODE);
pub const PR_HOME_TELEPHONE_NUMBER: u32 = tag(0x3A09, PT_UNICODE);
pub const PR_MOBILE_TELEPHONE_NUMBER: u32 = tag(0x3A1C, PT_UNICODE);
pub const PR_BUSINESS_FAX_NUMBER: u32 = tag(0x3A24, PT_UNICODE);
pub const PR_PAGER_TELEPHONE_NUMBER: u32 = tag(0x3A21, PT_UNICODE);
pub const PR_PRIMARY_TELEPHONE_NUMBER: u32 = tag(0x3A1A, PT_UNICODE);
pub const PR_BIRTHDAY: u32 = tag(0x3A42, PT_SYSTIME);
pub const PR_BUSINESS_HOME_PAGE: u32 = tag(0x3A51, PT_UNICODE);
pub const PR_HOME_ADDRESS_STREET: u32 = tag(0x3A5D, PT_UNICODE);
pub const PR_HOME_ADDRESS_CITY: u32 = tag(0x3A59, PT_UNICODE);
pub const PR_HOME_ADDRESS_STATE_OR_PROVINCE: u32 = tag(0x3A5C, PT_UNICODE);
pub const PR_HOME_ADDRESS_POSTAL_CODE: u32 = tag(0x3A5B, PT_UNICODE);
pub const PR_HOME_ADDRESS_COUNTRY: u32 = tag(0x3A5A, PT_UNICODE);

fn s(v: impl Into<String>) -> PropVal {
    PropVal::String(v.into())
}

/// Parses all vCards in `text` into contact messages. Never fails; a file
/// without vCards gives an empty list.
pub fn vcards_to_contacts(text: &str) -> Vec<MessageContent> {
    parse(text)
        .iter()
        .filter(|c| c.name == "VCARD")
        .map(vcard_to_contact)
        .collect()
}

/// Maps one VCARD component.
pub fn vcard_to_contact(c: &Component) -> MessageContent {
    let mut m = MessageContent::default();
    m.set(PR_MESSAGE_CLASS, s("IPM.Contact"));
    if let Some(n) = c.prop("N") {
        let f = split_structured(&n.value, ';');
        let get = |i: usize| f.get(i).map(|x| x.trim().to_string()).filter(|x| !x.is_empty());
        for (i, tag) in [
            (0, PR_SURNAME),
            (1, PR_GIVEN_NAME),
            (2, PR_MIDDLE_NAME),
            (3, PR_DISPLAY_NAME_PREFIX),
            (4, PR_GENERATION),
        ] {
            if let Some(v) = get(i) {
                m.set(tag, s(v));
            }
        }
    }
    let display = c.text("FN").or_else(|| {
        let parts: Vec<String> = [0x3A45u16, 0x3A06, 0x3A44, 0x3A11, 0x3A05]
            .iter()
            .filter_map(|id| m.get_str(*id).map(str::to_string))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    if let Some(d) = display {
        m.set(PR_DISPLAY_NAME, s(d.clone()));
        m.set(PR_SUBJECT, s(d));
    }
    if let Some(v) = c.text("NICKNAME") {
        m.set(PR_NICKNAME, s(v));
    }
    if let Some(org) = c.prop("ORG") {
        let f = split_structured(&org.value, ';');
        if let Some(v) = f.first().filter(|x| !x.is_empty()) {
            m.set(PR_COMPANY_NAME, s(v.clone()));
        }
        if let Some(v) = f.get(1).filter(|x| !x.is_empty()) {
            m.set(PR_DEPARTMENT_NAME, s(v.clone()));
        }
    }
    if let Some(v) = c.text("TITLE") {
        m.set(PR_TITLE, s(v));
    }
    if let Some(v) = c.text("NOTE") {
        m.set(PR_BODY, s(v));
    }
    if let Some(v) = c.text("URL") {
        m.set(PR_BUSINESS_HOME_PAGE, s(v));
    }
    if let Some(ft) = c.prop("BDAY").and_then(|p| parse_date(&p.value)) {
        m.set(PR_BIRTHDAY, PropVal::SysTime(ft));
    }
    for t in c.props_named("TEL") {
        let v = t.text();
        let ty = |x: &str| t.has_param_value("TYPE", x);
        let tag = if ty("fax") {
            PR_BUSINESS_FAX_NUMBER
        } else if ty("cell") {
            PR_MOBILE_TELEPHONE_NUMBER
        } else if ty("pager") {
            PR_PAGER_TELEPHONE_NUMBER
        } else if ty("home") {
            PR_HOME_TELEPHONE_NUMBER
        } else if ty("work") {
            PR_BUSINESS_TELEPHONE_NUMBER
        } else {
            PR_PRIMARY_TELEPHONE_NUMBER
        };
        if m.get(tag).is_none() {
            m.set(tag, s(v));
        }
    }
    // Up to three e-mail addresses: PidLidEmail{1,2,3}* ([MS-OXOCNTC] 2.2.1.2).
    let display_name = m.get_str(0x3001).unwrap_or("").to_string();
    for (i, e) in c.props_named("EMAIL").take(3).enumerate() {
        let base = 0x8080 + 0x10 * i as u32;
        let addr = e.text();
        let dn = if display_name.is_empty() {
            addr.clone()
        } else {
            format!("{display_name} ({addr})")
        };
        m.set_named(PropName::Id(PSETID_ADDRESS, base), PT_UNICODE, s(dn));
        m.set_named(PropName::Id(PSETID_ADDRESS, base + 2), PT_UNICODE, s("SMTP"));
        m.set_named(PropName::Id(PSETID_ADDRESS, base + 3), PT_UNICODE, s(addr.clone()));
        m.set_named(PropName::Id(PSETID_ADDRESS, base + 4), PT_UNICODE, s(addr));
    }
    for a in c.props_named("ADR") {
        let f = split_structured(&a.value, ';');
        let get = |i: usize| f.get(i).map(|x| x.trim().to_string()).unwrap_or_default();
        let street = [get(1), get(2)]
            .iter()
            .filter(|x| !x.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        let fields = [street, get(3), get(4), get(5), get(6)];
        if a.has_param_value("TYPE", "work") {
            // PidLidWorkAddress{Street,City,State,PostalCode,Country}.
            for (lid, v) in [0x8045u32, 0x8046, 0x8047, 0x8048, 0x8049].iter().zip(fields) {
                if !v.is_empty() {
                    m.set_named(PropName::Id(PSETID_ADDRESS, *lid), PT_UNICODE, s(v));
                }
            }
        } else {
            let tags = [
                PR_HOME_ADDRESS_STREET,
                PR_HOME_ADDRESS_CITY,
                PR_HOME_ADDRESS_STATE_OR_PROVINCE,
                PR_HOME_ADDRESS_POSTAL_CODE,
                PR_HOME_ADDRESS_COUNTRY,
            ];
            for (t, v) in tags.iter().zip(fields) {
                if !v.is_empty() && m.get(*t).is_none() {
                    m.set(*t, s(v));
                }
            }
        }
    }
    let cats: Vec<PropVal> = c
        .props_named("CATEGORIES")
        .flat_map(|p| split_structured(&p.value, ','))
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .map(PropVal::String)
        .collect();
    if !cats.is_empty() {
        m.set_named(
            PropName::Name(PS_PUBLIC_STRINGS, "Keywords".into()),
            MV_FLAG | PT_UNICODE,
            PropVal::Multi(cats),
        );
    }
    m
}

/// A date (`YYYYMMDD`, `YYYY-MM-DD`, optionally followed by a time) as
/// FILETIME at midnight UTC.
pub fn parse_date(v: &str) -> Option<u64> {
    let digits: String = v
        .chars()
        .take_while(|c| *c != 'T')
        .filter(char::is_ascii_digit)
        .collect();
    if digits.len() < 8 {
        return None;
    }
    let y: i64 = digits[0..4].parse().ok()?;
    let mo: u32 = digits[4..6].parse().ok()?;
    let d: u32 = digits[6..8].parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    filetime(y, mo, d, 0, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_vcard30() {
        let t = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;Q.;Dr.;Jr.\r\nFN:Dr. John Q. Doe Jr.\r\nORG:Example\\, Inc.;Sales\r\nTITLE:Boss\r\nTEL;TYPE=WORK,VOICE:+1 555 1\r\nTEL;TYPE=CELL:+1 555 2\r\nEMAIL;TYPE=INTERNET:john@example.org\r\nEMAIL:j2@example.org\r\nADR;TYPE=WORK:;;1 Main St;Springfield;IL;62701;USA\r\nADR;TYPE=HOME:;;2 Elm;Shelbyville;;;USA\r\nBDAY:1970-01-02\r\nCATEGORIES:a,b\r\nNOTE:line1\\nline2\r\nEND:VCARD\r\n";
        let v = vcards_to_contacts(t);
        assert_eq!(v.len(), 1);
        let m = &v[0];
        assert_eq!(m.get_str(0x3001), Some("Dr. John Q. Doe Jr."));
        assert_eq!(m.get_str(0x3A11), Some("Doe"));
        assert_eq!(m.get_str(0x3A06), Some("John"));
        assert_eq!(m.get_str(0x3A16), Some("Example, Inc."));
        assert_eq!(m.get_str(0x3A18), Some("Sales"));
        assert_eq!(m.get_str(0x3A08), Some("+1 555 1"));
        assert_eq!(m.get_str(0x3A1C), Some("+1 555 2"));
        assert_eq!(
            m.get_named(&PropName::Id(PSETID_ADDRESS, 0x8083)),
            Some(&s("john@example.org"))
        );
        assert_eq!(
            m.get_named(&PropName::Id(PSETID_ADDRESS, 0x8093)),
            Some(&s("j2@example.org"))
        );
        assert_eq!(
            m.get_named(&PropName::Id(PSETID_ADDRESS, 0x8046)),
            Some(&s("Springfield"))
        );
        assert_eq!(m.get_str(0x3A59), Some("Shelbyville"));
        assert_eq!(
            m.get(PR_BIRTHDAY).map(|v| v.to_string()).as_deref(),
            Some("1970-01-02 00:00:00")
        );
        assert_eq!(m.get_str(0x1000), Some("line1\nline2"));
    }
}
