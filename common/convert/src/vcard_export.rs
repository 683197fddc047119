//! Contacts and distribution lists → vCard, the inverse of
//! [`crate::vcard::vcard_to_contact`] ([MS-OXVCARD] section 2.1.3.2 mapping),
//! in three versions:
//!
//! - 2.1 (vCard 2.1 specification, Versit 1996): bare type parameters
//!   (`TEL;WORK;VOICE:`), `CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE` for
//!   non-ASCII or multi-line values (section 2.1.3, soft line breaks at 75
//!   octets), `PHOTO;ENCODING=BASE64;TYPE=JPEG` (value ended by an empty
//!   line), `X-MS-ANNIVERSARY`, `X-MS-IMADDRESS`;
//! - 3.0 (RFC 2426): `TYPE=` lists, `PHOTO;ENCODING=b`, `X-ANNIVERSARY`,
//!   `IMPP` (RFC 4770);
//! - 4.0 (RFC 6350): `KIND`, `GENDER`, `ANNIVERSARY`, telephone numbers as
//!   `tel:` URIs (RFC 3966) when they are global numbers without spaces,
//!   `PREF=1`, `PHOTO:data:` URIs (RFC 2397), no CHARSET.
//!
//! Fields: N, FN, NICKNAME, ORG (company; department), TITLE, NOTE, URL
//! (business WORK, personal HOME), BDAY, anniversary, gender (4.0), TEL by
//! type (business, business 2, home, home 2, mobile, car, business fax,
//! home fax, pager, primary, other), up to three EMAIL
//! (PidLidEmail{1,2,3}EmailAddress), home and work ADR (with PO box), IM
//! address (PidLidInstantMessagingAddress), PHOTO (the attachment with
//! PidTagAttachmentContactPhoto), CATEGORIES (PidNameKeywords).
//!
//! IPM.DistList messages ([MS-OXOCNTC] section 2.2.2) become group cards:
//! `KIND:group` with `MEMBER:mailto:` (4.0), `X-ADDRESSBOOKSERVER-KIND:group`
//! with `X-ADDRESSBOOKSERVER-MEMBER:mailto:` (3.0 and 2.1); a member's
//! display name rides in an `X-CN` parameter.
//!
//! Text is escaped (RFC 6350 section 3.4, RFC 2426 section 4: `\\`, `,`,
//! `;`, newlines; 2.1 encodes newlines as quoted-printable instead) and
//! lines are folded at 75 octets (RFC 6350 section 3.2).

use crate::message::MessageContent;
use crate::props::*;
use crate::vcard::*;

/// vCard version of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcardVersion {
    /// vCard 2.1 (Versit), as Outlook writes it.
    V21,
    /// vCard 3.0, RFC 2426.
    V30,
    /// vCard 4.0, RFC 6350.
    V40,
}

impl VcardVersion {
    fn as_str(self) -> &'static str {
        match self {
            VcardVersion::V21 => "2.1",
            VcardVersion::V30 => "3.0",
            VcardVersion::V40 => "4.0",
        }
    }
}

/// Escapes TEXT. `list` also escapes commas (list-valued properties,
/// structured fields); 2.1 keeps newlines (quoted-printable encodes them).
fn esc(v: &str, version: VcardVersion, list: bool) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            ',' if list || version != VcardVersion::V21 => o.push_str("\\,"),
            ';' => o.push_str("\\;"),
            '\n' if version == VcardVersion::V21 => o.push('\n'),
            '\n' => o.push_str("\\n"),
            c if c.is_control() && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

/// Append one content line, folded at 75 octets (RFC 6350 section 3.2) on
/// character boundaries.
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

/// A 2.1 quoted-printable line (RFC 2045 section 6.7 encoding): `head` is
/// the property name with its parameters and the colon. Soft line breaks
/// keep physical lines within 75 octets; a space that would begin or end a
/// physical line is encoded, so that no continuation looks folded.
fn qp_line(out: &mut String, head: &str, value: &str) {
    let value = value.replace("\r\n", "\n").replace('\n', "\r\n");
    let bytes = value.as_bytes();
    let mut cur = String::from(head);
    for (i, &b) in bytes.iter().enumerate() {
        let literal = (b == b' ' || (33..=126).contains(&b)) && b != b'=';
        let mut tok = if literal {
            (b as char).to_string()
        } else {
            format!("={b:02X}")
        };
        if cur.len() + tok.len() + 1 > 75 {
            out.push_str(&cur);
            out.push_str("=\r\n");
            cur.clear();
        }
        if b == b' ' && (cur.is_empty() || i + 1 == bytes.len()) {
            tok = "=20".into();
        }
        cur.push_str(&tok);
    }
    out.push_str(&cur);
    out.push_str("\r\n");
}

/// The writer of one vCard.
struct Card {
    out: String,
    v: VcardVersion,
}

impl Card {
    fn new(v: VcardVersion) -> Self {
        let mut c = Card { out: String::new(), v };
        line(&mut c.out, "BEGIN:VCARD");
        line(&mut c.out, &format!("VERSION:{}", v.as_str()));
        c
    }

    /// Type parameters: `;WORK;VOICE` (2.1), `;TYPE=WORK,VOICE` (3.0),
    /// `;TYPE=work,voice` (4.0).
    fn types(&self, types: &[&str]) -> String {
        if types.is_empty() {
            return String::new();
        }
        match self.v {
            VcardVersion::V21 => types.iter().map(|t| format!(";{}", t.to_ascii_uppercase())).collect(),
            VcardVersion::V30 => format!(";TYPE={}", types.join(",").to_ascii_uppercase()),
            VcardVersion::V40 => format!(";TYPE={}", types.join(",").to_ascii_lowercase()),
        }
    }

    /// A property whose value is already escaped; 2.1 switches to
    /// quoted-printable for non-ASCII or multi-line values.
    fn prop(&mut self, name: &str, escaped: &str) {
        if self.v == VcardVersion::V21 && (!escaped.is_ascii() || escaped.contains('\n')) {
            let charset = if escaped.is_ascii() { "" } else { ";CHARSET=UTF-8" };
            qp_line(
                &mut self.out,
                &format!("{name}{charset};ENCODING=QUOTED-PRINTABLE:"),
                escaped,
            );
        } else {
            line(&mut self.out, &format!("{name}:{escaped}"));
        }
    }

    fn text(&mut self, name: &str, value: &str) {
        let e = esc(value, self.v, false);
        self.prop(name, &e);
    }

    /// A structured value (N, ADR, ORG): fields escaped, joined by `;`.
    fn structured(&mut self, name: &str, fields: &[String]) {
        let v: Vec<String> = fields.iter().map(|f| esc(f, self.v, false)).collect();
        self.prop(name, &v.join(";"));
    }

    /// A parameter value, quoted when it holds `,;:` (RFC 6350 section 3.3;
    /// 2.1 has no quoting, but its readers ignore the X- parameters used here).
    fn param(&self, v: &str) -> String {
        let v: String = v.chars().filter(|c| *c != '"' && !c.is_control()).collect();
        if v.contains([',', ';', ':']) {
            format!("\"{v}\"")
        } else {
            v
        }
    }

    fn date(&mut self, name: &str, ft: u64) {
        let d = date(ft);
        let v = if self.v == VcardVersion::V30 {
            d
        } else {
            d.replace('-', "")
        };
        line(&mut self.out, &format!("{name}:{v}"));
    }

    fn finish(mut self) -> String {
        line(&mut self.out, "END:VCARD");
        self.out
    }
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

/// `YYYY-MM-DD` of a FILETIME: the date of the nearest midnight, so that
/// local midnights stored in UTC (Outlook's birthdays, ±12 h) keep their day.
fn date(ft: u64) -> String {
    let ft = ft.saturating_add(12 * 36_000_000_000);
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

/// Telephone properties and their vCard types, in export order.
const PHONES: [(u32, &[&str]); 11] = [
    (PR_PRIMARY_TELEPHONE_NUMBER, &["pref"]),
    (PR_BUSINESS_TELEPHONE_NUMBER, &["work", "voice"]),
    (PR_BUSINESS2_TELEPHONE_NUMBER, &["work", "voice"]),
    (PR_HOME_TELEPHONE_NUMBER, &["home", "voice"]),
    (PR_HOME2_TELEPHONE_NUMBER, &["home", "voice"]),
    (PR_MOBILE_TELEPHONE_NUMBER, &["cell", "voice"]),
    (PR_CAR_TELEPHONE_NUMBER, &["car", "voice"]),
    (PR_BUSINESS_FAX_NUMBER, &["work", "fax"]),
    (PR_HOME_FAX_NUMBER, &["home", "fax"]),
    (PR_PAGER_TELEPHONE_NUMBER, &["pager"]),
    (PR_OTHER_TELEPHONE_NUMBER, &["voice"]),
];

/// A global number RFC 3966 accepts as is: `+`, digits and `-`.
fn is_global_number(v: &str) -> bool {
    v.starts_with('+')
        && v.len() > 1
        && v[1..].bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && v.bytes().any(|b| b.is_ascii_digit())
}

/// The contact photo: data, vCard TYPE and media type.
fn contact_photo(m: &MessageContent) -> Option<(&[u8], &'static str, &'static str)> {
    m.attachments.iter().find_map(|a| {
        if !matches!(get(&a.props, PR_ATTACHMENT_CONTACTPHOTO), Some(PropVal::Bool(true))) {
            return None;
        }
        let Some(PropVal::Binary(data)) = get(&a.props, PR_ATTACH_DATA_BIN) else {
            return None;
        };
        let mime = get_str(&a.props, 0x370E).unwrap_or("").to_ascii_lowercase();
        let ext = get_str(&a.props, 0x3703).unwrap_or("").to_ascii_lowercase();
        let (ty, mt) = if mime == "image/png" || ext == ".png" {
            ("PNG", "image/png")
        } else if mime == "image/gif" || ext == ".gif" {
            ("GIF", "image/gif")
        } else if mime == "image/bmp" || ext == ".bmp" {
            ("BMP", "image/bmp")
        } else {
            ("JPEG", "image/jpeg")
        };
        Some((data.as_slice(), ty, mt))
    })
}

/// One contact as a vCard 3.0 object (CRLF line ends); see
/// [`contact_to_vcard_version`].
pub fn contact_to_vcard(m: &MessageContent) -> String {
    contact_to_vcard_version(m, VcardVersion::V30)
}

/// One contact (or, for IPM.DistList, a group) as a vCard of the given
/// version (CRLF line ends).
pub fn contact_to_vcard_version(m: &MessageContent, version: VcardVersion) -> String {
    let class = m.get_str(0x001A).unwrap_or("");
    if class
        .get(..DISTLIST_CLASS.len())
        .is_some_and(|c| c.eq_ignore_ascii_case(DISTLIST_CLASS))
    {
        return distlist_to_vcard(m, version);
    }
    let mut c = Card::new(version);
    if version == VcardVersion::V40 {
        line(&mut c.out, "KIND:individual");
    }
    let n: Vec<String> = [
        PR_SURNAME,
        PR_GIVEN_NAME,
        PR_MIDDLE_NAME,
        PR_DISPLAY_NAME_PREFIX,
        PR_GENERATION,
    ]
    .iter()
    .map(|t| text(m, *t).unwrap_or_default())
    .collect();
    c.structured("N", &n);
    let fn_ = text(m, PR_DISPLAY_NAME)
        .or_else(|| text(m, PR_SUBJECT))
        .unwrap_or_else(|| {
            n.iter()
                .filter(|x| !x.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        });
    c.text("FN", &fn_);
    if let Some(v) = text(m, PR_NICKNAME) {
        c.text("NICKNAME", &v);
    }
    let org = text(m, PR_COMPANY_NAME);
    let dept = text(m, PR_DEPARTMENT_NAME);
    if org.is_some() || dept.is_some() {
        let mut f = vec![org.unwrap_or_default()];
        f.extend(dept);
        c.structured("ORG", &f);
    }
    if let Some(v) = text(m, PR_TITLE) {
        c.text("TITLE", &v);
    }
    if let Some(PropVal::SysTime(ft)) = m.get(PR_BIRTHDAY) {
        c.date("BDAY", *ft);
    }
    if let Some(PropVal::SysTime(ft)) = m.get(PR_WEDDING_ANNIVERSARY) {
        let name = match version {
            VcardVersion::V21 => "X-MS-ANNIVERSARY",
            VcardVersion::V30 => "X-ANNIVERSARY",
            VcardVersion::V40 => "ANNIVERSARY",
        };
        c.date(name, *ft);
    }
    // GENDER is new in 4.0; earlier versions get the common X-GENDER.
    let gender = match m.get(PR_GENDER) {
        Some(PropVal::Short(1)) => Some(("F", "Female")),
        Some(PropVal::Short(2)) => Some(("M", "Male")),
        _ => None,
    };
    match (gender, version) {
        (Some((g, _)), VcardVersion::V40) => line(&mut c.out, &format!("GENDER:{g}")),
        (Some((_, g)), _) => line(&mut c.out, &format!("X-GENDER:{g}")),
        _ => {}
    }
    for (tag, types) in PHONES {
        let Some(v) = text(m, tag) else { continue };
        let v = v.trim().to_string();
        if version == VcardVersion::V40 {
            let (ty, pref) = if types == ["pref"] {
                (String::new(), ";PREF=1")
            } else {
                (c.types(types), "")
            };
            if is_global_number(&v) {
                line(&mut c.out, &format!("TEL{ty}{pref};VALUE=uri:tel:{v}"));
            } else {
                c.text(&format!("TEL{ty}{pref}"), &v);
            }
        } else {
            let name = format!("TEL{}", c.types(types));
            c.text(&name, &v);
        }
    }
    for i in 0..3u32 {
        // PidLidEmail{1,2,3}EmailAddress ([MS-OXOCNTC] section 2.2.1.2.3).
        if let Some(a) = named_text(m, 0x8083 + 0x10 * i) {
            let name = match version {
                VcardVersion::V40 => "EMAIL".to_string(),
                _ => format!("EMAIL{}", c.types(&["internet"])),
            };
            c.text(&name, &a);
        }
    }
    if let Some(im) = named_text(m, LID_IM_ADDRESS) {
        if version == VcardVersion::V21 {
            c.text("X-MS-IMADDRESS", &im);
        } else {
            let uri = if im.contains(':') { im } else { format!("xmpp:{im}") };
            line(&mut c.out, &format!("IMPP:{}", uri.replace(['\r', '\n'], "")));
        }
    }
    // ADR: PO box; extended (empty); street; city; state; code; country.
    let home: Vec<String> = HOME_ADDRESS.iter().map(|t| text(m, *t).unwrap_or_default()).collect();
    let work: Vec<String> = LID_WORK_ADDRESS
        .iter()
        .map(|l| named_text(m, *l).unwrap_or_default())
        .collect();
    for (ty, f) in [("home", home), ("work", work)] {
        if f.iter().any(|x| !x.is_empty()) {
            let mut fields = vec![f[5].clone(), String::new()];
            fields.extend(f[..5].iter().cloned());
            let name = format!("ADR{}", c.types(&[ty]));
            c.structured(&name, &fields);
        }
    }
    for (tag, ty) in [(PR_BUSINESS_HOME_PAGE, "work"), (PR_PERSONAL_HOME_PAGE, "home")] {
        if let Some(v) = text(m, tag) {
            let name = format!("URL{}", c.types(&[ty]));
            line(&mut c.out, &format!("{name}:{}", v.replace(['\r', '\n'], "")));
        }
    }
    if let Some(v) = text(m, PR_BODY) {
        c.text("NOTE", &v);
    }
    keywords(&mut c, m);
    if let Some((data, ty, mt)) = contact_photo(m) {
        let b64 = crate::base64::encode(data, 0);
        match version {
            VcardVersion::V21 => {
                line(&mut c.out, &format!("PHOTO;ENCODING=BASE64;TYPE={ty}:{b64}"));
                // A 2.1 base64 value ends with an empty line.
                c.out.push_str("\r\n");
            }
            VcardVersion::V30 => line(&mut c.out, &format!("PHOTO;ENCODING=b;TYPE={ty}:{b64}")),
            VcardVersion::V40 => line(&mut c.out, &format!("PHOTO:data:{mt};base64,{b64}")),
        }
    }
    c.finish()
}

/// CATEGORIES from PidNameKeywords.
fn keywords(c: &mut Card, m: &MessageContent) {
    if let Some(PropVal::Multi(cats)) = m.get_named(&PropName::Name(PS_PUBLIC_STRINGS, "Keywords".into())) {
        let v: Vec<String> = cats
            .iter()
            .filter_map(|x| match x {
                PropVal::String(s) if !s.is_empty() => Some(esc(s, c.v, true)),
                _ => None,
            })
            .collect();
        if !v.is_empty() {
            c.prop("CATEGORIES", &v.join(","));
        }
    }
}

/// A personal distribution list ([MS-OXOCNTC] section 2.2.2) as a group
/// vCard: 4.0 `KIND:group` and `MEMBER` (RFC 6350 sections 6.1.4, 6.6.5);
/// 3.0 and 2.1 `X-ADDRESSBOOKSERVER-KIND:group` and
/// `X-ADDRESSBOOKSERVER-MEMBER`. Members are the SMTP one-off entries
/// ([`distlist_members`]) as `mailto:` URIs, their display names in `X-CN`.
pub fn distlist_to_vcard(m: &MessageContent, version: VcardVersion) -> String {
    let mut c = Card::new(version);
    let (kind, member) = match version {
        VcardVersion::V40 => ("KIND", "MEMBER"),
        _ => ("X-ADDRESSBOOKSERVER-KIND", "X-ADDRESSBOOKSERVER-MEMBER"),
    };
    line(&mut c.out, &format!("{kind}:group"));
    let name = named_text(m, LID_DL_NAME)
        .or_else(|| text(m, PR_DISPLAY_NAME))
        .or_else(|| text(m, PR_SUBJECT))
        .unwrap_or_default();
    c.text("FN", &name);
    if version != VcardVersion::V40 {
        // N is required before 4.0.
        c.structured("N", &[name, String::new(), String::new(), String::new(), String::new()]);
    }
    for (dn, addrtype, addr) in distlist_members(m) {
        if !addrtype.eq_ignore_ascii_case("SMTP") && !addr.contains('@') {
            continue;
        }
        let addr: String = addr.chars().filter(|ch| !ch.is_control()).collect();
        let cn = if dn.is_empty() || dn == addr {
            String::new()
        } else {
            format!(";X-CN={}", c.param(&dn))
        };
        line(&mut c.out, &format!("{member}{cn}:mailto:{addr}"));
    }
    if let Some(v) = text(m, PR_BODY) {
        c.text("NOTE", &v);
    }
    keywords(&mut c, m);
    c.finish()
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

    /// A contact with every field the mapping knows.
    fn full_contact() -> MessageContent {
        let mut m = MessageContent::default();
        let st = |v: &str| PropVal::String(v.into());
        m.set(PR_MESSAGE_CLASS, st("IPM.Contact"));
        for (t, v) in [
            (PR_SURNAME, "Müller"),
            (PR_GIVEN_NAME, "Jürgen"),
            (PR_MIDDLE_NAME, "K."),
            (PR_DISPLAY_NAME_PREFIX, "Dr."),
            (PR_GENERATION, "Jr."),
            (PR_DISPLAY_NAME, "Dr. Jürgen K. Müller"),
            (PR_SUBJECT, "Dr. Jürgen K. Müller"),
            (PR_NICKNAME, "Jü"),
            (PR_COMPANY_NAME, "Example, Inc."),
            (PR_DEPARTMENT_NAME, "R&D; Labs"),
            (PR_TITLE, "Chief"),
            (
                PR_BODY,
                "line one\nline two; with = sign and a very long tail that needs soft line breaks",
            ),
            (PR_PRIMARY_TELEPHONE_NUMBER, "+49-30-100"),
            (PR_BUSINESS_TELEPHONE_NUMBER, "+49 30 2"),
            (PR_BUSINESS2_TELEPHONE_NUMBER, "+49 30 3"),
            (PR_HOME_TELEPHONE_NUMBER, "030 4"),
            (PR_HOME2_TELEPHONE_NUMBER, "030 5"),
            (PR_MOBILE_TELEPHONE_NUMBER, "+491701"),
            (PR_CAR_TELEPHONE_NUMBER, "0171 6"),
            (PR_BUSINESS_FAX_NUMBER, "+49 30 7"),
            (PR_HOME_FAX_NUMBER, "030 8"),
            (PR_PAGER_TELEPHONE_NUMBER, "0123 9"),
            (PR_OTHER_TELEPHONE_NUMBER, "555 10"),
            (PR_HOME_ADDRESS_STREET, "Hauptstraße 1\nHinterhaus"),
            (PR_HOME_ADDRESS_CITY, "Berlin"),
            (PR_HOME_ADDRESS_STATE_OR_PROVINCE, "BE"),
            (PR_HOME_ADDRESS_POSTAL_CODE, "10115"),
            (PR_HOME_ADDRESS_COUNTRY, "Germany"),
            (PR_HOME_ADDRESS_POST_OFFICE_BOX, "PF 12"),
            (PR_BUSINESS_HOME_PAGE, "https://example.org/a,b"),
            (PR_PERSONAL_HOME_PAGE, "https://example.net/~jm"),
        ] {
            m.set(t, st(v));
        }
        m.set(PR_BIRTHDAY, PropVal::SysTime(filetime(1980, 2, 29, 0, 0, 0).unwrap()));
        m.set(
            PR_WEDDING_ANNIVERSARY,
            PropVal::SysTime(filetime(2005, 6, 15, 0, 0, 0).unwrap()),
        );
        m.set(PR_GENDER, PropVal::Short(2));
        let name = |l| PropName::Id(PSETID_ADDRESS, l);
        for (i, a) in ["jm@example.org", "j.mueller@example.net", "jm@example.com"]
            .iter()
            .enumerate()
        {
            let base = 0x8080 + 0x10 * i as u32;
            m.set_named(name(base), PT_UNICODE, st(&format!("Dr. Jürgen K. Müller ({a})")));
            m.set_named(name(base + 2), PT_UNICODE, st("SMTP"));
            m.set_named(name(base + 3), PT_UNICODE, st(a));
            m.set_named(name(base + 4), PT_UNICODE, st(a));
        }
        for (lid, v) in LID_WORK_ADDRESS
            .iter()
            .zip(["Work Way 2", "Bonn", "NRW", "53111", "Germany", "PO 9"])
        {
            m.set_named(name(*lid), PT_UNICODE, st(v));
        }
        m.set_named(name(LID_IM_ADDRESS), PT_UNICODE, st("jm@jabber.example.org"));
        m.set_named(
            PropName::Name(PS_PUBLIC_STRINGS, "Keywords".into()),
            MV_FLAG | PT_UNICODE,
            PropVal::Multi(vec![st("Friends"), st("VIP, gold")]),
        );
        // The photo as the importer builds it.
        let photo: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let card = format!(
            "BEGIN:VCARD\r\nVERSION:4.0\r\nPHOTO:data:image/jpeg;base64,{}\r\nEND:VCARD\r\n",
            crate::base64::encode(&photo, 0)
        );
        let p = vcards_to_contacts(&card).remove(0);
        m.attachments = p.attachments;
        m.set(PR_HASATTACH, PropVal::Bool(true));
        m.set_named(name(LID_HAS_PICTURE), PT_BOOLEAN, PropVal::Bool(true));
        m
    }

    fn sorted(m: &MessageContent) -> Vec<String> {
        let mut v: Vec<String> = crate::message::dump(m).lines().map(str::to_string).collect();
        v.sort();
        v
    }

    #[test]
    fn every_version_round_trips_every_field() {
        let m = full_contact();
        for v in [VcardVersion::V21, VcardVersion::V30, VcardVersion::V40] {
            let out = contact_to_vcard_version(&m, v);
            assert!(out.split("\r\n").all(|l| l.len() <= 75), "{v:?}\n{out}");
            let back = vcards_to_contacts(&out);
            assert_eq!(back.len(), 1, "{v:?}\n{out}");
            assert_eq!(sorted(&back[0]), sorted(&m), "{v:?}\n{out}");
        }
    }

    #[test]
    fn vcard21_lines() {
        let out = contact_to_vcard_version(&full_contact(), VcardVersion::V21);
        for want in [
            "BEGIN:VCARD\r\nVERSION:2.1\r\n",
            "N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;K.;Dr.;J=\r\nr.\r\n",
            "TEL;PREF:+49-30-100\r\n",
            "TEL;WORK;VOICE:+49 30 2\r\n",
            "TEL;CELL;VOICE:+491701\r\n",
            "TEL;HOME;FAX:030 8\r\n",
            "EMAIL;INTERNET:jm@example.org\r\n",
            "X-MS-IMADDRESS:jm@jabber.example.org\r\n",
            "ADR;WORK:PO 9;;Work Way 2;Bonn;NRW;53111;Germany\r\n",
            "ADR;HOME;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:PF 12;;Hauptstra=C3=9Fe 1=\r\n=0D=0AHinterhaus;Berlin;BE;10115;Germany\r\n",
            "ORG:Example, Inc.;R&D\\; Labs\r\n",
            "BDAY:19800229\r\n",
            "X-MS-ANNIVERSARY:20050615\r\n",
            "URL;WORK:https://example.org/a,b\r\n",
            "URL;HOME:https://example.net/~jm\r\n",
            "NOTE;ENCODING=QUOTED-PRINTABLE:line one=0D=0Aline two\\; with =3D sign and =\r\na very long",
            "CATEGORIES:Friends,VIP\\, gold\r\n",
            "PHOTO;ENCODING=BASE64;TYPE=JPEG:AAECAwQF",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        assert!(out.contains("\r\n\r\nEND:VCARD\r\n"), "{out}");
        assert!(!out.contains("TYPE=WORK"), "{out}");
    }

    #[test]
    fn vcard40_lines() {
        let out = contact_to_vcard_version(&full_contact(), VcardVersion::V40);
        let unfolded = out.replace("\r\n ", "");
        for want in [
            "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:individual\r\n",
            "N:Müller;Jürgen;K.;Dr.;Jr.\r\n",
            "FN:Dr. Jürgen K. Müller\r\n",
            "TEL;PREF=1;VALUE=uri:tel:+49-30-100\r\n",
            "TEL;TYPE=work,voice:+49 30 2\r\n",
            "TEL;TYPE=cell,voice;VALUE=uri:tel:+491701\r\n",
            "TEL;TYPE=home,fax:030 8\r\n",
            "EMAIL:jm@example.org\r\n",
            "IMPP:xmpp:jm@jabber.example.org\r\n",
            "ADR;TYPE=home:PF 12;;Hauptstraße 1\\nHinterhaus;Berlin;BE;10115;Germany\r\n",
            "BDAY:19800229\r\n",
            "ANNIVERSARY:20050615\r\n",
            "GENDER:M\r\n",
            "URL;TYPE=work:https://example.org/a,b\r\n",
            "NOTE:line one\\nline two\\; with = sign",
            "CATEGORIES:Friends,VIP\\, gold\r\n",
            "PHOTO:data:image/jpeg;base64,AAECAwQF",
        ] {
            assert!(unfolded.contains(want), "missing {want:?} in\n{out}");
        }
        assert!(!out.contains("CHARSET"), "{out}");
    }

    #[test]
    fn vcard30_lines() {
        let out = contact_to_vcard_version(&full_contact(), VcardVersion::V30);
        let unfolded = out.replace("\r\n ", "");
        for want in [
            "TEL;TYPE=PREF:+49-30-100\r\n",
            "TEL;TYPE=HOME,VOICE:030 4\r\n",
            "EMAIL;TYPE=INTERNET:jm@example.com\r\n",
            "IMPP:xmpp:jm@jabber.example.org\r\n",
            "BDAY:1980-02-29\r\n",
            "X-ANNIVERSARY:2005-06-15\r\n",
            "PHOTO;ENCODING=b;TYPE=JPEG:AAECAwQF",
        ] {
            assert!(unfolded.contains(want), "missing {want:?} in\n{out}");
        }
        assert!(out.contains("\r\nX-GENDER:Male\r\n"), "{out}");
    }

    #[test]
    fn outlook_birthday_keeps_its_day() {
        let mut m = MessageContent::default();
        // Berlin midnight of 1 May 1990 as Outlook stores it: 22:00Z the day before.
        m.set(PR_BIRTHDAY, PropVal::SysTime(filetime(1990, 4, 30, 22, 0, 0).unwrap()));
        assert!(contact_to_vcard(&m).contains("BDAY:1990-05-01\r\n"));
    }

    fn dl_name(lid: u32) -> PropName {
        PropName::Id(PSETID_ADDRESS, lid)
    }

    #[test]
    fn group_vcard40_becomes_distribution_list() {
        let card = "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:group\r\nFN:Team Süd\r\nMEMBER;X-CN=\"Doe, Ann\":mailto:ann@example.org\r\nMEMBER:mailto:bob@example.org\r\nMEMBER:urn:uuid:03a0e51f-d1aa-4385-8a53-e29025acd8af\r\nNOTE:weekly\r\nEND:VCARD\r\n";
        let m = &vcards_to_contacts(card)[0];
        assert_eq!(m.get_str(0x001A), Some("IPM.DistList"));
        assert_eq!(m.get_str(0x3001), Some("Team Süd"));
        assert_eq!(
            m.get_named(&dl_name(LID_DL_NAME)),
            Some(&PropVal::String("Team Süd".into()))
        );
        let Some(PropVal::Multi(oneoffs)) = m.get_named(&dl_name(LID_DL_ONEOFF_MEMBERS)) else {
            panic!("no one-off members")
        };
        let decoded: Vec<_> = oneoffs
            .iter()
            .map(|e| match e {
                PropVal::Binary(b) => crate::oneoff::decode(b).unwrap(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            decoded,
            vec![
                ("Doe, Ann".into(), "SMTP".into(), "ann@example.org".into()),
                ("bob@example.org".into(), "SMTP".into(), "bob@example.org".into()),
            ]
        );
        assert_eq!(
            m.get_named(&dl_name(LID_DL_MEMBERS)),
            m.get_named(&dl_name(LID_DL_ONEOFF_MEMBERS))
        );
        let concat: Vec<u8> = oneoffs
            .iter()
            .flat_map(|e| match e {
                PropVal::Binary(b) => b.clone(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(
            m.get_named(&dl_name(LID_DL_CHECKSUM)),
            Some(&PropVal::Long(crc32(&concat) as i32))
        );
        // Exported again as every version.
        let out = contact_to_vcard_version(m, VcardVersion::V40);
        assert!(
            out.contains("BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:group\r\nFN:Team Süd\r\n"),
            "{out}"
        );
        assert!(
            out.contains("MEMBER;X-CN=\"Doe, Ann\":mailto:ann@example.org\r\n"),
            "{out}"
        );
        assert!(out.contains("MEMBER:mailto:bob@example.org\r\n"), "{out}");
        assert!(out.contains("NOTE:weekly\r\n"), "{out}");
        let out30 = contact_to_vcard(m);
        for want in [
            "X-ADDRESSBOOKSERVER-KIND:group\r\n",
            "N:Team Süd;;;;\r\n",
            "X-ADDRESSBOOKSERVER-MEMBER;X-CN=\"Doe, Ann\":mailto:ann@example.org\r\n",
        ] {
            assert!(out30.contains(want), "missing {want:?} in\n{out30}");
        }
        let out21 = contact_to_vcard_version(m, VcardVersion::V21);
        assert!(
            out21.contains("X-ADDRESSBOOKSERVER-MEMBER:mailto:bob@example.org\r\n"),
            "{out21}"
        );
        for out in [out, out30, out21] {
            let again = vcards_to_contacts(&out);
            assert_eq!(sorted(&again[0]), sorted(m), "{out}");
        }
    }

    #[test]
    fn apple_group_vcard30() {
        let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Friends;;;;\r\nFN:Friends\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:mailto:c@example.org\r\nEND:VCARD\r\n";
        let m = &vcards_to_contacts(card)[0];
        assert_eq!(m.get_str(0x001A), Some("IPM.DistList"));
        assert_eq!(
            crate::vcard::distlist_members(m),
            vec![("c@example.org".into(), "SMTP".into(), "c@example.org".into())]
        );
    }

    #[test]
    fn outlook_list_with_store_members_exports_one_offs() {
        // PidLidDistributionListMembers holding a (non one-off) store entry
        // id, its one-off twin in PidLidDistributionListOneOffMembers.
        let mut m = MessageContent::default();
        m.set(PR_MESSAGE_CLASS, PropVal::String("IPM.DistList".into()));
        m.set_named(dl_name(LID_DL_NAME), PT_UNICODE, PropVal::String("Ops".into()));
        let wrapped = vec![0u8; 70];
        let one = crate::oneoff::encode("Eve", "SMTP", "eve@example.org");
        let x500 = crate::oneoff::encode("Legacy", "EX", "/o=Org/cn=legacy");
        m.set_named(
            dl_name(LID_DL_MEMBERS),
            MV_FLAG | PT_BINARY,
            PropVal::Multi(vec![PropVal::Binary(wrapped), PropVal::Binary(x500.clone())]),
        );
        m.set_named(
            dl_name(LID_DL_ONEOFF_MEMBERS),
            MV_FLAG | PT_BINARY,
            PropVal::Multi(vec![PropVal::Binary(one), PropVal::Binary(x500)]),
        );
        let out = contact_to_vcard_version(&m, VcardVersion::V40);
        assert!(
            out.contains("FN:Ops\r\nMEMBER;X-CN=Eve:mailto:eve@example.org\r\nEND:VCARD"),
            "{out}"
        );
        assert!(!out.contains("legacy"), "{out}");
    }

    #[test]
    fn odd_message_classes_do_not_panic() {
        for class in [
            "IPM.Dis\u{e9}tList",
            "IPM.DistLis\u{20ac}",
            "IPM.DistList.Custom",
            "é",
            "",
        ] {
            let mut m = MessageContent::default();
            m.set(PR_MESSAGE_CLASS, PropVal::String(class.into()));
            let out = contact_to_vcard_version(&m, VcardVersion::V40);
            assert_eq!(out.contains("KIND:group"), class.starts_with("IPM.DistList"), "{class}");
        }
    }
}
