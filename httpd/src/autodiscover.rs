//! AutoDiscover (MS-OXDSCLI) and Mozilla autoconfig.
//!
//! - POX v1 (MS-OXDSCLI §2.2.3, §3.1.5): `POST /autodiscover/autodiscover.xml` with the Outlook
//!   request schema answered in the `responseschema/2006a` schema (EXCH, EXPR, EXHTTP, WEB and
//!   mapiHttp protocol sections), or the mobilesync request schema answered in the mobilesync
//!   response schema. Request XML with a DTD or entity references other than the predefined
//!   ones is refused.
//! - JSON v2: `GET /autodiscover/autodiscover.json?Email=..&Protocol=..` and
//!   `/autodiscover/autodiscover.json/v1.0/<email>?Protocol=..`.
//! - Mozilla autoconfig: `/.well-known/autoconfig/mail/config-v1.1.xml` and
//!   `/mail/config-v1.1.xml?emailaddress=..` with IMAP, POP3 and SMTP settings.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::auth::UserInfo;

/// Outlook request schema (MS-OXDSCLI §2.2.3.1).
pub const OUTLOOK_REQUEST: &str = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
/// Outlook response schema 2006a (§2.2.4.1).
pub const OUTLOOK_RESPONSE: &str = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
/// Mobilesync request schema.
pub const MOBILE_REQUEST: &str = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006";
/// Mobilesync response schema.
pub const MOBILE_RESPONSE: &str = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006";
/// The outer response schema.
pub const RESPONSE_2006: &str = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";

/// A parsed POX request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoxRequest {
    /// Namespace of the root element.
    pub ns: String,
    /// `EMailAddress`.
    pub email: Option<String>,
    /// `LegacyDN`.
    pub legacy_dn: Option<String>,
    /// `AcceptableResponseSchema`.
    pub schema: Option<String>,
}

/// Why a POX request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoxError {
    /// A document type declaration (DTD) was present.
    #[error("DTDs are not accepted")]
    Dtd,
    /// An entity reference other than the five predefined ones and character references.
    #[error("entity references are not accepted")]
    Entity,
    /// Not well-formed XML.
    #[error("malformed XML: {0}")]
    Xml(String),
    /// Not an Autodiscover/Request document.
    #[error("not an Autodiscover request")]
    NotAutodiscover,
}

fn entity_ok(name: &[u8]) -> bool {
    matches!(name, b"amp" | b"lt" | b"gt" | b"quot" | b"apos")
        || (name.first() == Some(&b'#') && name.len() > 1 && name.len() < 10)
}

fn resolve_entity(name: &[u8]) -> Option<String> {
    Some(match name {
        b"amp" => "&".into(),
        b"lt" => "<".into(),
        b"gt" => ">".into(),
        b"quot" => "\"".into(),
        b"apos" => "'".into(),
        _ => {
            let s = std::str::from_utf8(name.get(1..)?).ok()?;
            let v = match s.strip_prefix(['x', 'X']) {
                Some(h) => u32::from_str_radix(h, 16).ok()?,
                None => s.parse().ok()?,
            };
            char::from_u32(v)?.to_string()
        }
    })
}

/// Parse a POX request body (MS-OXDSCLI §2.2.3). Never resolves DTDs or external entities.
pub fn parse_pox_request(body: &[u8]) -> Result<PoxRequest, PoxError> {
    let mut r = Reader::from_reader(body);
    r.config_mut().trim_text(true);
    let mut req = PoxRequest::default();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut root_seen = false;
    loop {
        match r.read_event() {
            Err(e) => return Err(PoxError::Xml(e.to_string())),
            Ok(Event::DocType(_)) => return Err(PoxError::Dtd),
            Ok(Event::GeneralRef(e)) => {
                if !entity_ok(&e) {
                    return Err(PoxError::Entity);
                }
                if let Some(s) = resolve_entity(&e) {
                    text.push_str(&s);
                }
            }
            Ok(Event::Start(e)) => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if !root_seen {
                    root_seen = true;
                    if local != "Autodiscover" {
                        return Err(PoxError::NotAutodiscover);
                    }
                    for a in e.attributes().flatten() {
                        if a.key.as_ref() == b"xmlns" {
                            req.ns = String::from_utf8_lossy(&a.value).into_owned();
                        }
                    }
                }
                path.push(local);
                text.clear();
                if path.len() > 16 {
                    return Err(PoxError::Xml("nesting too deep".into()));
                }
            }
            Ok(Event::Empty(e)) => {
                if !root_seen {
                    return Err(PoxError::NotAutodiscover);
                }
                let _ = e;
            }
            Ok(Event::Text(t)) => {
                let s = t.decode().map_err(|e| PoxError::Xml(e.to_string()))?;
                text.push_str(&s);
            }
            Ok(Event::CData(t)) => text.push_str(&String::from_utf8_lossy(&t)),
            Ok(Event::End(_)) => {
                if path.len() == 3 && path[1] == "Request" {
                    let v = Some(text.trim().to_string());
                    match path[2].as_str() {
                        "EMailAddress" => req.email = v,
                        "LegacyDN" => req.legacy_dn = v,
                        "AcceptableResponseSchema" => req.schema = v,
                        _ => {}
                    }
                }
                path.pop();
                text.clear();
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
        }
    }
    if !root_seen {
        return Err(PoxError::NotAutodiscover);
    }
    Ok(req)
}

/// Escape text for XML content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => o.push(c),
        }
    }
    o
}

/// Escape a JSON string body.
pub fn json_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

/// Settings the AutoDiscover and autoconfig answers are built from.
#[derive(Debug, Clone)]
pub struct AdSettings {
    /// Host name clients use for HTTPS (`http_external_host`).
    pub host: String,
    /// X.500 organisation for legacy DNs (`x500_org_name`).
    pub org: String,
    /// IMAP host, port and socket type (`SSL`, `STARTTLS`, `plain`).
    pub imap: (String, u16, String),
    /// POP3 host, port and socket type.
    pub pop3: (String, u16, String),
    /// SMTP submission host, port and socket type.
    pub smtp: (String, u16, String),
    /// Where `/.well-known/caldav` and `/carddav` redirect to.
    pub dav_path: String,
}

/// The admin group path of legacy DNs.
const ADMIN_GROUP: &str = "ou=Exchange Administrative Group (FYDIBOHF23SPDLT)";

/// The legacy DN of a user (as Gromox forms it: `cn=<id hex>-<local part>`).
pub fn legacy_dn(org: &str, u: &UserInfo) -> String {
    let local = u.email.split('@').next().unwrap_or("");
    format!("/o={org}/{ADMIN_GROUP}/cn=Recipients/cn={:08x}-{local}", u.id)
}

/// The mailbox server DN of a user's home server.
pub fn server_dn(org: &str, server: &str) -> String {
    format!("/o={org}/{ADMIN_GROUP}/cn=Configuration/cn=Servers/cn={server}")
}

fn error_xml(code: u32, msg: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Autodiscover xmlns=\"{RESPONSE_2006}\">\
<Response><Error Time=\"{}\" Id=\"1\"><ErrorCode>{code}</ErrorCode><Message>{}</Message><DebugData /></Error></Response></Autodiscover>",
        &gromox_base::log::utc_timestamp()[11..23],
        xml_escape(msg)
    )
}

/// The answer to a POX request (MS-OXDSCLI §3.1.5). The mapiHttp section is included only when
/// the client sent `X-MapiHttpCapability` ≥ 1 (§2.2.2.1), passed here as `mapi_http`.
pub fn pox_response(req: &PoxRequest, user: Option<&UserInfo>, s: &AdSettings, mapi_http: bool) -> String {
    let is_mobile = req.ns == MOBILE_REQUEST;
    if req.ns != OUTLOOK_REQUEST && !is_mobile {
        return error_xml(600, "Invalid Request");
    }
    let want = if is_mobile { MOBILE_RESPONSE } else { OUTLOOK_RESPONSE };
    match &req.schema {
        Some(x) if x == want => {}
        _ => return error_xml(601, "The requested schema version is not supported."),
    }
    let Some(u) = user else {
        return error_xml(500, "The email address can't be found.");
    };
    let h = xml_escape(&s.host);
    let email = xml_escape(&u.email);
    let name = xml_escape(&u.display_name);
    if is_mobile {
        return format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Autodiscover xmlns=\"{RESPONSE_2006}\">\
<Response xmlns=\"{MOBILE_RESPONSE}\"><Culture>en:us</Culture>\
<User><DisplayName>{name}</DisplayName><EMailAddress>{email}</EMailAddress></User>\
<Action><Settings><Server><Type>MobileSync</Type><Url>https://{h}/Microsoft-Server-ActiveSync</Url>\
<Name>https://{h}/Microsoft-Server-ActiveSync</Name></Server></Settings></Action></Response></Autodiscover>"
        );
    }
    let org = &s.org;
    let server = if u.server.is_empty() { &s.host } else { &u.server };
    let srv = xml_escape(server);
    let ldn = xml_escape(&legacy_dn(org, u));
    let sdn = xml_escape(&server_dn(org, server));
    let ews = format!("https://{h}/EWS/Exchange.asmx");
    let oab = format!("https://{h}/OAB/");
    let urls = format!(
        "<ASUrl>{ews}</ASUrl><EwsUrl>{ews}</EwsUrl><EmwsUrl>{ews}</EmwsUrl><EcpUrl>https://{h}/ecp/</EcpUrl>\
<OOFUrl>{ews}</OOFUrl><OABUrl>{oab}</OABUrl>"
    );
    let rpc = |t: &str| {
        format!(
            "<Protocol><Type>{t}</Type><Server>{h}</Server><SSL>On</SSL><AuthPackage>Basic</AuthPackage>\
<ServerExclusiveConnect>On</ServerExclusiveConnect><CertPrincipalName>None</CertPrincipalName>{urls}</Protocol>"
        )
    };
    let mapi = format!(
        "<Protocol Type=\"mapiHttp\" Version=\"1\"><MailStore><InternalUrl>https://{h}/mapi/emsmdb/?MailboxId={email}</InternalUrl>\
<ExternalUrl>https://{h}/mapi/emsmdb/?MailboxId={email}</ExternalUrl></MailStore>\
<AddressBook><InternalUrl>https://{h}/mapi/nspi/?MailboxId={email}</InternalUrl>\
<ExternalUrl>https://{h}/mapi/nspi/?MailboxId={email}</ExternalUrl></AddressBook></Protocol>\
"
    );
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Autodiscover xmlns=\"{RESPONSE_2006}\">\
<Response xmlns=\"{OUTLOOK_RESPONSE}\">\
<User><DisplayName>{name}</DisplayName><LegacyDN>{ldn}</LegacyDN>\
<AutoDiscoverSMTPAddress>{email}</AutoDiscoverSMTPAddress><DeploymentId>{deploy}</DeploymentId></User>\
<Account><AccountType>email</AccountType><Action>settings</Action><MicrosoftOnline>False</MicrosoftOnline>\
<ConsumerMailbox>False</ConsumerMailbox>\
{mapi}<Protocol><Type>EXCH</Type><Server>{srv}</Server><ServerDN>{sdn}</ServerDN><ServerVersion>73C18880</ServerVersion>\
<MdbDN>{sdn}/cn=Microsoft Private MDB</MdbDN><PublicFolderServer>{h}</PublicFolderServer><AD>{h}</AD>{urls}</Protocol>\
{expr}{exhttp}\
<Protocol><Type>WEB</Type><Internal><OWAUrl AuthenticationMethod=\"Basic\">https://{h}/web/</OWAUrl>\
<Protocol><Type>EXCH</Type><ASUrl>{ews}</ASUrl></Protocol></Internal>\
<External><OWAUrl AuthenticationMethod=\"Basic\">https://{h}/web/</OWAUrl>\
<Protocol><Type>EXPR</Type><ASUrl>{ews}</ASUrl></Protocol></External></Protocol>\
</Account></Response></Autodiscover>",
        deploy = deployment_id(&s.org),
        mapi = if mapi_http { mapi } else { String::new() },
        expr = rpc("EXPR"),
        exhttp = rpc("EXHTTP"),
    )
}

/// A stable GUID-formatted deployment id derived from the organisation name.
fn deployment_id(org: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(org.as_bytes());
    let x = hex::encode(&d[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// JSON v2 answer: `(status, body)`.
pub fn json_v2(email: Option<&str>, protocol: Option<&str>, s: &AdSettings) -> (u16, String) {
    let h = &s.host;
    let Some(email) = email.filter(|e| e.contains('@')) else {
        return (
            400,
            "{\"ErrorCode\":\"InvalidUser\",\"ErrorMessage\":\"No valid email address given\"}".into(),
        );
    };
    let _ = email;
    let proto = protocol.unwrap_or("");
    let url = match proto.to_ascii_lowercase().as_str() {
        "ews" => format!("https://{h}/EWS/Exchange.asmx"),
        "activesync" => format!("https://{h}/Microsoft-Server-ActiveSync"),
        "autodiscoverv1" => format!("https://{h}/autodiscover/autodiscover.xml"),
        _ => {
            return (
                400,
                format!(
                    "{{\"ErrorCode\":\"InvalidProtocol\",\"ErrorMessage\":\"The given protocol value '{}' is invalid. Supported values are 'ActiveSync,AutodiscoverV1,Ews'.\"}}",
                    json_escape(proto)
                ),
            )
        }
    };
    (
        200,
        format!(
            "{{\"Protocol\":\"{}\",\"Url\":\"{}\"}}",
            json_escape(proto),
            json_escape(&url)
        ),
    )
}

/// Mozilla autoconfig (`clientConfig` version 1.1) for `email` (or just a domain).
pub fn autoconfig(email: &str, s: &AdSettings) -> String {
    let domain = email.rsplit('@').next().unwrap_or(email);
    let d = xml_escape(domain);
    let server = |ty: &str, (host, port, sock): &(String, u16, String), incoming: bool| {
        let tag = if incoming { "incomingServer" } else { "outgoingServer" };
        let sock = match sock.to_ascii_lowercase().as_str() {
            "ssl" | "tls" => "SSL",
            "starttls" => "STARTTLS",
            _ => "plain",
        };
        format!(
            "<{tag} type=\"{ty}\"><hostname>{}</hostname><port>{port}</port><socketType>{sock}</socketType>\
<username>%EMAILADDRESS%</username><authentication>password-cleartext</authentication></{tag}>\r\n",
            xml_escape(host)
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<clientConfig version=\"1.1\">\r\n\
<emailProvider id=\"{d}\"><domain>{d}</domain><displayName>{d}</displayName><displayShortName>{d}</displayShortName>\r\n\
{}{}{}</emailProvider>\r\n</clientConfig>\r\n",
        server("imap", &s.imap, true),
        server("pop3", &s.pop3, true),
        server("smtp", &s.smtp, false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request of MS-OXDSCLI §4.1 (Outlook schema).
    pub const SAMPLE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>chris@contoso.com</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"#;

    fn settings() -> AdSettings {
        AdSettings {
            host: "mail.contoso.com".into(),
            org: "Contoso".into(),
            imap: ("mail.contoso.com".into(), 993, "SSL".into()),
            pop3: ("mail.contoso.com".into(), 995, "SSL".into()),
            smtp: ("mail.contoso.com".into(), 587, "STARTTLS".into()),
            dav_path: "/dav/".into(),
        }
    }

    #[test]
    fn parses_sample_and_answers() {
        let r = parse_pox_request(SAMPLE.as_bytes()).unwrap();
        assert_eq!(r.email.as_deref(), Some("chris@contoso.com"));
        assert_eq!(r.ns, OUTLOOK_REQUEST);
        let u = UserInfo {
            email: "chris@contoso.com".into(),
            display_name: "Chris <C>".into(),
            id: 0x2a,
            server: String::new(),
        };
        let x = pox_response(&r, Some(&u), &settings(), true);
        assert!(!pox_response(&r, Some(&u), &settings(), false).contains("mapiHttp"));
        assert!(x.contains("<DisplayName>Chris &lt;C&gt;</DisplayName>"), "{x}");
        assert!(x.contains("/cn=Recipients/cn=0000002a-chris</LegacyDN>"), "{x}");
        assert!(x.contains("<Type>EXHTTP</Type><Server>mail.contoso.com</Server>"));
        assert!(x.contains("<Protocol Type=\"mapiHttp\" Version=\"1\">"));
        // The answer is well-formed XML.
        let mut rd = Reader::from_str(&x);
        loop {
            match rd.read_event() {
                Ok(Event::Eof) => break,
                Err(e) => panic!("{e}"),
                _ => {}
            }
        }
        assert!(pox_response(&r, None, &settings(), true).contains("<ErrorCode>500</ErrorCode>"));
    }

    #[test]
    fn refuses_dtd_and_entities() {
        let dtd = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"boom\">]><Autodiscover><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>";
        assert_eq!(parse_pox_request(dtd.as_bytes()), Err(PoxError::Dtd));
        let ent = "<Autodiscover><Request><EMailAddress>a&e;</EMailAddress></Request></Autodiscover>";
        assert_eq!(parse_pox_request(ent.as_bytes()), Err(PoxError::Entity));
        let ok = "<Autodiscover><Request><EMailAddress>a&amp;b&#64;c</EMailAddress></Request></Autodiscover>";
        assert_eq!(
            parse_pox_request(ok.as_bytes()).unwrap().email.as_deref(),
            Some("a&b@c")
        );
        assert!(parse_pox_request(b"<Other/>").is_err());
    }

    #[test]
    fn json_and_autoconfig() {
        let (st, b) = json_v2(Some("a@contoso.com"), Some("EWS"), &settings());
        assert_eq!(
            (st, b.as_str()),
            (
                200,
                "{\"Protocol\":\"EWS\",\"Url\":\"https://mail.contoso.com/EWS/Exchange.asmx\"}"
            )
        );
        assert_eq!(json_v2(Some("a@b"), Some("x\""), &settings()).0, 400);
        let x = autoconfig("a@contoso.com", &settings());
        assert!(x.contains("<incomingServer type=\"imap\"><hostname>mail.contoso.com</hostname><port>993</port><socketType>SSL</socketType>"), "{x}");
        assert!(x.contains("<outgoingServer type=\"smtp\"><hostname>mail.contoso.com</hostname><port>587</port><socketType>STARTTLS</socketType>"));
    }
}
