//! vCard (RFC 6350 4.0, RFC 2426 3.0, vCard 2.1) to contact properties,
//! after [MS-OXVCARD] section 2.1.3 (vCard to contact object mapping).

use crate::contentline::{parse, split_structured, Component, Property};
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

pub const PR_HOME_ADDRESS_POST_OFFICE_BOX: u32 = tag(0x3A5E, PT_UNICODE);
pub const PR_BUSINESS2_TELEPHONE_NUMBER: u32 = tag(0x3A1B, PT_UNICODE);
pub const PR_HOME2_TELEPHONE_NUMBER: u32 = tag(0x3A2F, PT_UNICODE);
pub const PR_CAR_TELEPHONE_NUMBER: u32 = tag(0x3A1E, PT_UNICODE);
pub const PR_OTHER_TELEPHONE_NUMBER: u32 = tag(0x3A1F, PT_UNICODE);
pub const PR_HOME_FAX_NUMBER: u32 = tag(0x3A25, PT_UNICODE);
pub const PR_PERSONAL_HOME_PAGE: u32 = tag(0x3A50, PT_UNICODE);
pub const PR_WEDDING_ANNIVERSARY: u32 = tag(0x3A41, PT_SYSTIME);
/// PidTagGender: 0 unspecified, 1 female, 2 male ([MS-OXOCNTC] 2.2.1.10.23).
pub const PR_GENDER: u32 = tag(0x3A4D, PT_SHORT);
/// PidTagAttachmentContactPhoto ([MS-OXOCNTC] section 2.2.1.8.2).
pub const PR_ATTACHMENT_CONTACTPHOTO: u32 = tag(0x7FFF, PT_BOOLEAN);

// PSETID_Address LIDs ([MS-OXOCNTC] sections 2.2.1 and 2.2.2).
/// PidLidHasPicture.
pub const LID_HAS_PICTURE: u32 = 0x8015;
/// PidLidInstantMessagingAddress.
pub const LID_IM_ADDRESS: u32 = 0x8062;
/// PidLidWorkAddress{Street,City,State,PostalCode,Country,PostOfficeBox}.
pub const LID_WORK_ADDRESS: [u32; 6] = [0x8045, 0x8046, 0x8047, 0x8048, 0x8049, 0x804A];
/// PidLidDistributionListChecksum (CRC-32 of the members).
pub const LID_DL_CHECKSUM: u32 = 0x804C;
/// PidLidDistributionListName.
pub const LID_DL_NAME: u32 = 0x8053;
/// PidLidDistributionListOneOffMembers (one-off entry ids).
pub const LID_DL_ONEOFF_MEMBERS: u32 = 0x8054;
/// PidLidDistributionListMembers (entry ids).
pub const LID_DL_MEMBERS: u32 = 0x8055;

/// Home address tags in vCard ADR order after the PO box: street, city,
/// state, postal code, country, PO box.
pub const HOME_ADDRESS: [u32; 6] = [
    PR_HOME_ADDRESS_STREET,
    PR_HOME_ADDRESS_CITY,
    PR_HOME_ADDRESS_STATE_OR_PROVINCE,
    PR_HOME_ADDRESS_POSTAL_CODE,
    PR_HOME_ADDRESS_COUNTRY,
    PR_HOME_ADDRESS_POST_OFFICE_BOX,
];

/// Message class of personal distribution lists ([MS-OXOCNTC] 2.2.2.1).
pub const DISTLIST_CLASS: &str = "IPM.DistList";

fn s(v: impl Into<String>) -> PropVal {
    PropVal::String(v.into())
}

fn named(lid: u32) -> PropName {
    PropName::Id(PSETID_ADDRESS, lid)
}

/// Parses all vCards in `text` into contact messages (or distribution
/// lists, see [`vcard_to_contact`]). Never fails; a file without vCards
/// gives an empty list.
pub fn vcards_to_contacts(text: &str) -> Vec<MessageContent> {
    parse(text)
        .iter()
        .filter(|c| c.name == "VCARD")
        .map(vcard_to_contact)
        .collect()
}

/// Whether a vCard describes a group: `KIND:group` (RFC 6350 section
/// 6.1.4) or Apple's `X-ADDRESSBOOKSERVER-KIND:group` used with 3.0.
pub fn is_group(c: &Component) -> bool {
    ["KIND", "X-ADDRESSBOOKSERVER-KIND"]
        .iter()
        .any(|k| c.text(k).is_some_and(|v| v.trim().eq_ignore_ascii_case("group")))
}

/// Maps one VCARD component: a group becomes a distribution list
/// ([`vcard_to_distlist`]), anything else a contact ([MS-OXVCARD] 2.1.3.1).
/// All versions are read: 2.1 (bare types, quoted-printable, charsets),
/// 3.0 and 4.0 (`VALUE=uri` `tel:` numbers, `data:` photos, `PREF=`).
pub fn vcard_to_contact(c: &Component) -> MessageContent {
    if is_group(c) {
        return vcard_to_distlist(c);
    }
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
    // URL: TYPE=HOME is the personal home page, the first other one the
    // business home page.
    for u in c.props_named("URL") {
        let v = u.text().trim().to_string();
        if v.is_empty() {
            continue;
        }
        let tag = if u.has_param_value("TYPE", "home") || m.get(PR_BUSINESS_HOME_PAGE).is_some() {
            PR_PERSONAL_HOME_PAGE
        } else {
            PR_BUSINESS_HOME_PAGE
        };
        if m.get(tag).is_none() {
            m.set(tag, s(v));
        }
    }
    if let Some(ft) = c.prop("BDAY").and_then(|p| parse_date(&p.value)) {
        m.set(PR_BIRTHDAY, PropVal::SysTime(ft));
    }
    // ANNIVERSARY (RFC 6350 6.2.6); 3.0 and 2.1 writers use X- names.
    if let Some(ft) = ["ANNIVERSARY", "X-ANNIVERSARY", "X-MS-ANNIVERSARY"]
        .iter()
        .find_map(|n| c.prop(n).and_then(|p| parse_date(&p.value)))
    {
        m.set(PR_WEDDING_ANNIVERSARY, PropVal::SysTime(ft));
    }
    // GENDER (RFC 6350 6.2.7): sex component M / F.
    if let Some(g) = c.text("GENDER").or_else(|| c.text("X-GENDER")) {
        let sex = g.split(';').next().unwrap_or("").trim().to_ascii_uppercase();
        let v = match sex.as_str() {
            "F" | "FEMALE" => 1,
            "M" | "MALE" => 2,
            _ => 0,
        };
        if v != 0 {
            m.set(PR_GENDER, PropVal::Short(v));
        }
    }
    for t in c.props_named("TEL") {
        let v = tel_number(&t.text());
        if v.is_empty() {
            continue;
        }
        let ty = |x: &str| t.has_param_value("TYPE", x);
        let free = |m: &MessageContent, a: u32, b: u32| if m.get(a).is_none() { a } else { b };
        let tag = if ty("fax") && ty("home") {
            PR_HOME_FAX_NUMBER
        } else if ty("fax") {
            PR_BUSINESS_FAX_NUMBER
        } else if ty("cell") {
            PR_MOBILE_TELEPHONE_NUMBER
        } else if ty("pager") {
            PR_PAGER_TELEPHONE_NUMBER
        } else if ty("car") {
            PR_CAR_TELEPHONE_NUMBER
        } else if ty("home") {
            free(&m, PR_HOME_TELEPHONE_NUMBER, PR_HOME2_TELEPHONE_NUMBER)
        } else if ty("work") {
            free(&m, PR_BUSINESS_TELEPHONE_NUMBER, PR_BUSINESS2_TELEPHONE_NUMBER)
        } else {
            // PREF, VOICE or no type: the primary number, then "other".
            free(&m, PR_PRIMARY_TELEPHONE_NUMBER, PR_OTHER_TELEPHONE_NUMBER)
        };
        if m.get(tag).is_none() {
            m.set(tag, s(v));
        }
    }
    // Up to three e-mail addresses: PidLidEmail{1,2,3}* ([MS-OXOCNTC] 2.2.1.2).
    let display_name = m.get_str(0x3001).unwrap_or("").to_string();
    let emails = c
        .props_named("EMAIL")
        .map(|e| strip_scheme(e.text().trim(), "mailto:").to_string())
        .filter(|a| !a.is_empty());
    for (i, addr) in emails.take(3).enumerate() {
        let base = 0x8080 + 0x10 * i as u32;
        let dn = if display_name.is_empty() {
            addr.clone()
        } else {
            format!("{display_name} ({addr})")
        };
        m.set_named(named(base), PT_UNICODE, s(dn));
        m.set_named(named(base + 2), PT_UNICODE, s("SMTP"));
        m.set_named(named(base + 3), PT_UNICODE, s(addr.clone()));
        m.set_named(named(base + 4), PT_UNICODE, s(addr));
    }
    // Instant messaging: IMPP (RFC 4770, RFC 6350 6.4.3), X-MS-IMADDRESS.
    if let Some(v) = c
        .props_named("IMPP")
        .chain(c.props_named("X-MS-IMADDRESS"))
        .map(|p| strip_scheme(p.text().trim(), "xmpp:").to_string())
        .find(|v| !v.is_empty())
    {
        m.set_named(named(LID_IM_ADDRESS), PT_UNICODE, s(v));
    }
    // The preferred address of each kind first, else the first one.
    let mut adrs: Vec<&Property> = c.props_named("ADR").collect();
    adrs.sort_by_key(|a| !(a.has_param_value("TYPE", "pref") || a.param("PREF").is_some()));
    for a in adrs {
        let f = split_structured(&a.value, ';');
        let get = |i: usize| f.get(i).map(|x| x.trim().to_string()).unwrap_or_default();
        let street = [get(1), get(2)]
            .iter()
            .filter(|x| !x.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        let fields = [street, get(3), get(4), get(5), get(6), get(0)];
        if a.has_param_value("TYPE", "work") {
            if LID_WORK_ADDRESS.iter().any(|l| m.get_named(&named(*l)).is_some()) {
                continue;
            }
            for (lid, v) in LID_WORK_ADDRESS.iter().zip(fields) {
                if !v.is_empty() {
                    m.set_named(named(*lid), PT_UNICODE, s(v));
                }
            }
        } else {
            if HOME_ADDRESS.iter().any(|t| m.get(*t).is_some()) {
                continue;
            }
            for (t, v) in HOME_ADDRESS.iter().zip(fields) {
                if !v.is_empty() {
                    m.set(*t, s(v));
                }
            }
        }
    }
    if let Some((data, ext, mime)) = c.props_named("PHOTO").find_map(photo) {
        add_photo(&mut m, data, ext, mime);
    }
    categories(&mut m, c);
    m
}

/// CATEGORIES as PidNameKeywords.
fn categories(m: &mut MessageContent, c: &Component) {
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
}

/// `v` without a leading URI scheme (case-insensitive).
fn strip_scheme<'a>(v: &'a str, scheme: &str) -> &'a str {
    match v.get(..scheme.len()) {
        Some(p) if p.eq_ignore_ascii_case(scheme) => &v[scheme.len()..],
        _ => v,
    }
}

/// A telephone number from a text value or a `tel:` URI (RFC 3966).
fn tel_number(v: &str) -> String {
    let v = v.trim();
    let stripped = strip_scheme(v, "tel:");
    if stripped.len() != v.len() {
        // URI parameters (;ext=, ;phone-context=) are not part of the number.
        return stripped.split(';').next().unwrap_or("").to_string();
    }
    v.to_string()
}

/// A PHOTO value: 2.1/3.0 inline base64 (`ENCODING=BASE64` / `b`, `TYPE=JPEG`)
/// or a 4.0 `data:` URI (RFC 2397). URLs are not fetched. Returns the image,
/// its file extension and media type.
fn photo(p: &Property) -> Option<(Vec<u8>, &'static str, &'static str)> {
    let v = p.value.trim();
    let (ty, data) = if v.get(..5).is_some_and(|d| d.eq_ignore_ascii_case("data:")) {
        let (head, payload) = v[5..].split_once(',')?;
        if !head.to_ascii_lowercase().ends_with(";base64") {
            return None;
        }
        (head.split(';').next().unwrap_or("").to_string(), payload)
    } else if p
        .param("ENCODING")
        .is_some_and(|e| e.eq_ignore_ascii_case("b") || e.eq_ignore_ascii_case("BASE64"))
    {
        let ty = p.param("TYPE").or(p.param("MEDIATYPE")).unwrap_or("JPEG");
        (ty.to_string(), v)
    } else {
        return None;
    };
    let data = crate::base64::decode(data.as_bytes());
    if data.is_empty() {
        return None;
    }
    let ty = ty.to_ascii_lowercase();
    let ty = ty.strip_prefix("image/").unwrap_or(&ty);
    let (ext, mime) = match ty {
        "png" => ("png", "image/png"),
        "gif" => ("gif", "image/gif"),
        "bmp" => ("bmp", "image/bmp"),
        _ => ("jpg", "image/jpeg"),
    };
    Some((data, ext, mime))
}

/// The contact photo attachment ([MS-OXOCNTC] section 2.2.1.8):
/// "ContactPicture.<ext>" with PidTagAttachmentContactPhoto, and
/// PidLidHasPicture on the contact.
fn add_photo(m: &mut MessageContent, data: Vec<u8>, ext: &str, mime: &str) {
    let name = format!("ContactPicture.{ext}");
    let p = |tag, value| Prop { tag, name: None, value };
    let props = vec![
        p(PR_ATTACH_METHOD, PropVal::Long(1)),
        p(PR_ATTACH_LONG_FILENAME, s(name.clone())),
        p(PR_ATTACH_FILENAME, s(name.clone())),
        p(PR_DISPLAY_NAME, s(name)),
        p(PR_ATTACH_EXTENSION, s(format!(".{ext}"))),
        p(PR_ATTACH_MIME_TAG, s(mime)),
        p(PR_ATTACHMENT_CONTACTPHOTO, PropVal::Bool(true)),
        p(PR_ATTACHMENT_HIDDEN, PropVal::Bool(true)),
        p(PR_RENDERING_POSITION, PropVal::Long(-1)),
        p(PR_ATTACH_DATA_BIN, PropVal::Binary(data)),
    ];
    m.attachments.push(crate::message::Attachment { props, embedded: None });
    m.set(PR_HASATTACH, PropVal::Bool(true));
    m.set_named(named(LID_HAS_PICTURE), PT_BOOLEAN, PropVal::Bool(true));
}

/// CRC-32 (ISO/IEC 8802-3 polynomial, reflected) as PidLidDistributionListChecksum
/// requires ([MS-OXOCNTC] section 2.2.2.2.3).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}

/// Sets the member properties of a distribution list from (display name,
/// SMTP address) pairs: one-off entry ids ([MS-OXCDATA] 2.2.5.1) in both
/// PidLidDistributionListMembers and PidLidDistributionListOneOffMembers,
/// and PidLidDistributionListChecksum over the members ([MS-OXOCNTC] 2.2.2.2).
pub fn set_distlist_members(m: &mut MessageContent, members: &[(String, String)]) {
    let ids: Vec<Vec<u8>> = members
        .iter()
        .map(|(n, a)| crate::oneoff::encode(n, "SMTP", a))
        .collect();
    let all: Vec<u8> = ids.concat();
    let mv = || PropVal::Multi(ids.iter().cloned().map(PropVal::Binary).collect());
    m.set_named(named(LID_DL_MEMBERS), MV_FLAG | PT_BINARY, mv());
    m.set_named(named(LID_DL_ONEOFF_MEMBERS), MV_FLAG | PT_BINARY, mv());
    m.set_named(named(LID_DL_CHECKSUM), PT_LONG, PropVal::Long(crc32(&all) as i32));
}

/// Members of a distribution list as (display name, address type, address):
/// each PidLidDistributionListOneOffMembers entry, or the
/// PidLidDistributionListMembers entry at the same index when that one is
/// a one-off entry id. Entries that are neither (store entry ids of
/// contacts without a one-off twin) are skipped.
pub fn distlist_members(m: &MessageContent) -> Vec<(String, String, String)> {
    let list = |lid| match m.get_named(&named(lid)) {
        Some(PropVal::Multi(v)) => v
            .iter()
            .map(|x| match x {
                PropVal::Binary(b) => b.clone(),
                _ => Vec::new(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let oneoff: Vec<Vec<u8>> = list(LID_DL_ONEOFF_MEMBERS);
    let members: Vec<Vec<u8>> = list(LID_DL_MEMBERS);
    (0..oneoff.len().max(members.len()))
        .filter_map(|i| {
            [oneoff.get(i), members.get(i)]
                .into_iter()
                .flatten()
                .find_map(|e| crate::oneoff::decode(e).ok())
        })
        .collect()
}

/// A group vCard as a personal distribution list ([MS-OXOCNTC] 2.2.2):
/// IPM.DistList named by FN, members from `MEMBER` (RFC 6350 6.6.5) or
/// `X-ADDRESSBOOKSERVER-MEMBER` with `mailto:` values (display name from an
/// `X-CN` or `CN` parameter) as one-off entry ids. Members given as
/// `urn:uuid:` references to other cards cannot be resolved here and are
/// skipped.
pub fn vcard_to_distlist(c: &Component) -> MessageContent {
    let mut m = MessageContent::default();
    m.set(PR_MESSAGE_CLASS, s(DISTLIST_CLASS));
    let name = c
        .text("FN")
        .or_else(|| {
            c.prop("N")
                .map(|n| split_structured(&n.value, ';').join(" ").trim().to_string())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_default();
    if !name.is_empty() {
        m.set(PR_DISPLAY_NAME, s(name.clone()));
        m.set(PR_SUBJECT, s(name.clone()));
        m.set_named(named(LID_DL_NAME), PT_UNICODE, s(name));
    }
    let members: Vec<(String, String)> = c
        .props
        .iter()
        .filter(|p| p.name == "MEMBER" || p.name == "X-ADDRESSBOOKSERVER-MEMBER")
        .filter_map(|p| {
            let v = p.text();
            let addr = strip_scheme(v.trim(), "mailto:");
            let had_scheme = addr.len() != v.trim().len();
            if addr.is_empty() || (!had_scheme && !addr.contains('@')) {
                return None;
            }
            let addr = addr.to_string();
            let dn = p.param("X-CN").or(p.param("CN")).map(str::to_string);
            Some((dn.filter(|d| !d.is_empty()).unwrap_or_else(|| addr.clone()), addr))
        })
        .collect();
    set_distlist_members(&mut m, &members);
    if let Some(v) = c.text("NOTE") {
        m.set(PR_BODY, s(v));
    }
    categories(&mut m, c);
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
