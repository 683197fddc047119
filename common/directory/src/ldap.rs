//! A small synchronous LDAPv3 client (RFC 4511) for authentication: simple bind, a subtree
//! search with one equality filter, StartTLS (RFC 4511 §4.14, OID 1.3.6.1.4.1.1466.20037) and
//! `ldaps://`, over `std::net` and rustls. BER (X.690) encoding and decoding is done here;
//! [`parse_message`] is the fuzzed entry point.
//!
//! Users with `users.externid` authenticate by: search `(ldap_mail_attr=<user>)` under
//! `ldap_search_base` as `ldap_bind_user`, then bind as the DN found with the user's
//! password. Connections bound as the search user are pooled (`data_connections`).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gromox_base::Config;

use crate::error::{DirError, Result};

/// Largest LDAP message accepted from a server.
pub const MAX_MESSAGE: usize = 1 << 20;

// ---- BER ----

fn push_len(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

fn int(tag: u8, v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut i = 0;
    while i < 7 && ((bytes[i] == 0 && bytes[i + 1] & 0x80 == 0) || (bytes[i] == 0xff && bytes[i + 1] & 0x80 != 0)) {
        i += 1;
    }
    tlv(tag, &bytes[i..])
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// A decoded TLV: tag and content.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
}

/// Read one TLV from the front of `buf`; returns it and the rest.
fn read_tlv(buf: &[u8]) -> Result<(Tlv<'_>, &[u8])> {
    let bad = |m: &str| DirError::Ldap(format!("malformed BER: {m}"));
    let (&tag, rest) = buf.split_first().ok_or_else(|| bad("empty"))?;
    if tag & 0x1f == 0x1f {
        return Err(bad("multi-byte tags are not used by LDAP"));
    }
    let (&l0, mut rest) = rest.split_first().ok_or_else(|| bad("no length"))?;
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad("bad length"));
        }
        let mut v = 0usize;
        for b in &rest[..n] {
            v = (v << 8) | usize::from(*b);
        }
        rest = &rest[n..];
        v
    };
    if rest.len() < len {
        return Err(bad("truncated"));
    }
    Ok((
        Tlv {
            tag,
            content: &rest[..len],
        },
        &rest[len..],
    ))
}

fn read_int(t: Tlv<'_>) -> Result<i64> {
    if t.content.is_empty() || t.content.len() > 8 {
        return Err(DirError::Ldap("malformed BER integer".into()));
    }
    let mut v: i64 = if t.content[0] & 0x80 != 0 { -1 } else { 0 };
    for b in t.content {
        v = (v << 8) | i64::from(*b);
    }
    Ok(v)
}

/// A server message, as far as this client needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// BindResponse: result code, diagnostic message.
    Bind(i64, String),
    /// SearchResultEntry: the entry's DN.
    Entry(String),
    /// SearchResultReference (ignored).
    Reference,
    /// SearchResultDone: result code, diagnostic message.
    SearchDone(i64, String),
    /// ExtendedResponse: result code, diagnostic message.
    Extended(i64, String),
    /// Anything else (application tag).
    Other(u8),
}

/// Decode one LDAPMessage (RFC 4511 §4.1.1): message id and response.
pub fn parse_message(buf: &[u8]) -> Result<(i64, Response)> {
    let (msg, _) = read_tlv(buf)?;
    if msg.tag != 0x30 {
        return Err(DirError::Ldap("LDAPMessage is not a SEQUENCE".into()));
    }
    let (id, rest) = read_tlv(msg.content)?;
    let id = read_int(id)?;
    let (op, _) = read_tlv(rest)?;
    let result = |c: &[u8]| -> Result<(i64, String)> {
        let (code, r) = read_tlv(c)?;
        let (_dn, r) = read_tlv(r)?;
        let (diag, _) = read_tlv(r)?;
        Ok((read_int(code)?, String::from_utf8_lossy(diag.content).into_owned()))
    };
    let resp = match op.tag {
        0x61 => {
            let (c, d) = result(op.content)?;
            Response::Bind(c, d)
        }
        0x64 => {
            let (dn, _) = read_tlv(op.content)?;
            Response::Entry(String::from_utf8_lossy(dn.content).into_owned())
        }
        0x65 => {
            let (c, d) = result(op.content)?;
            Response::SearchDone(c, d)
        }
        0x73 => Response::Reference,
        0x78 => {
            let (c, d) = result(op.content)?;
            Response::Extended(c, d)
        }
        t => Response::Other(t),
    };
    Ok((id, resp))
}

fn message(id: i64, op: Vec<u8>) -> Vec<u8> {
    tlv(0x30, &cat(&[int(0x02, id), op]))
}

/// BindRequest, simple authentication (RFC 4511 §4.2).
pub fn bind_request(id: i64, dn: &str, password: &str) -> Vec<u8> {
    message(
        id,
        tlv(
            0x60,
            &cat(&[int(0x02, 3), tlv(0x04, dn.as_bytes()), tlv(0x80, password.as_bytes())]),
        ),
    )
}

/// SearchRequest for `(attr=value)` in the whole subtree, asking for no attributes (RFC 4511
/// §4.5.1; the value is sent as an AttributeValueAssertion, so no filter escaping is needed).
pub fn search_request(id: i64, base: &str, attr: &str, value: &str) -> Vec<u8> {
    message(
        id,
        tlv(
            0x63,
            &cat(&[
                tlv(0x04, base.as_bytes()),
                int(0x0a, 2),
                int(0x0a, 0),
                int(0x02, 2),
                int(0x02, 10),
                tlv(0x01, &[0]),
                tlv(0xa3, &cat(&[tlv(0x04, attr.as_bytes()), tlv(0x04, value.as_bytes())])),
                tlv(0x30, &tlv(0x04, b"1.1")),
            ]),
        ),
    )
}

/// ExtendedRequest StartTLS (RFC 4511 §4.14.1).
pub fn starttls_request(id: i64) -> Vec<u8> {
    message(id, tlv(0x77, &tlv(0x80, b"1.3.6.1.4.1.1466.20037")))
}

// ---- connection ----

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(b),
            Stream::Tls(s) => s.read(b),
        }
    }
}
impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(b),
            Stream::Tls(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// LDAP server settings.
#[derive(Debug, Clone)]
pub struct LdapSettings {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// Search DN (empty: anonymous).
    pub bind_user: String,
    /// Its password.
    pub bind_pass: String,
    /// StartTLS on `ldap://`.
    pub start_tls: bool,
    /// CA bundle file (PEM); empty: the system bundle.
    pub tls_ca: String,
    /// Mail attribute.
    pub mail_attr: String,
    /// Search base.
    pub search_base: String,
    /// Connect/read timeout.
    pub timeout: Duration,
    /// Pooled connections.
    pub connections: usize,
}

/// One connection.
pub struct LdapConn {
    stream: Stream,
    next_id: i64,
}

fn tls_config(ca: &str) -> Result<Arc<rustls::ClientConfig>> {
    gromox_runtime::tls::client_config(ca).map_err(|e| DirError::Ldap(e.to_string()))
}

impl LdapConn {
    /// Connect (and secure with TLS for `ldaps://` or when `start_tls`).
    pub fn connect(s: &LdapSettings) -> Result<LdapConn> {
        let (tls, rest) = if let Some(r) = s.url.strip_prefix("ldaps://") {
            (true, r)
        } else if let Some(r) = s.url.strip_prefix("ldap://") {
            (false, r)
        } else {
            (false, s.url.as_str())
        };
        let hostport = rest.trim_end_matches('/');
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.parse::<u16>()
                    .map_err(|_| DirError::Config(format!("ldap_host: bad port in {}", s.url)))?,
            ),
            _ => (hostport.to_string(), if tls { 636 } else { 389 }),
        };
        let addr = (host.as_str(), port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| DirError::Ldap(format!("cannot resolve {host}")))?;
        let tcp = TcpStream::connect_timeout(&addr, s.timeout)?;
        tcp.set_read_timeout(Some(s.timeout))?;
        tcp.set_write_timeout(Some(s.timeout))?;
        let _ = tcp.set_nodelay(true);
        let mut conn = LdapConn {
            stream: Stream::Plain(tcp),
            next_id: 1,
        };
        if tls || s.start_tls {
            if !tls {
                let id = conn.id();
                conn.send(&starttls_request(id))?;
                match conn.recv()? {
                    (_, Response::Extended(0, _)) => {}
                    (_, Response::Extended(c, d)) => {
                        return Err(DirError::Ldap(format!("StartTLS refused: code {c} {d}")));
                    }
                    other => return Err(DirError::Ldap(format!("unexpected StartTLS answer {other:?}"))),
                }
            }
            let Stream::Plain(tcp) = conn.stream else {
                return Err(DirError::Ldap("already TLS".into()));
            };
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|e| DirError::Ldap(format!("server name {host}: {e}")))?;
            let cc = rustls::ClientConnection::new(tls_config(&s.tls_ca)?, name)
                .map_err(|e| DirError::Ldap(e.to_string()))?;
            conn.stream = Stream::Tls(Box::new(rustls::StreamOwned::new(cc, tcp)));
        }
        Ok(conn)
    }

    fn id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id = if id >= i64::from(i32::MAX) { 1 } else { id + 1 };
        id
    }

    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.stream.write_all(msg)?;
        self.stream.flush()?;
        Ok(())
    }

    fn recv(&mut self) -> Result<(i64, Response)> {
        let mut hdr = [0u8; 2];
        self.stream.read_exact(&mut hdr)?;
        let mut buf = hdr.to_vec();
        if hdr[1] & 0x80 != 0 {
            let n = usize::from(hdr[1] & 0x7f);
            if n == 0 || n > 4 {
                return Err(DirError::Ldap("bad message length".into()));
            }
            let mut l = vec![0u8; n];
            self.stream.read_exact(&mut l)?;
            buf.extend_from_slice(&l);
        }
        let len = if hdr[1] < 0x80 {
            usize::from(hdr[1])
        } else {
            buf[2..].iter().fold(0usize, |a, b| (a << 8) | usize::from(*b))
        };
        if len > MAX_MESSAGE {
            return Err(DirError::Ldap(format!("message of {len} bytes refused")));
        }
        let start = buf.len();
        buf.resize(start + len, 0);
        self.stream.read_exact(&mut buf[start..])?;
        parse_message(&buf)
    }

    /// Simple bind: Ok(true) on success, Ok(false) on invalidCredentials (49) or when the
    /// password is empty (an unauthenticated bind is never a login).
    pub fn bind(&mut self, dn: &str, password: &str) -> Result<bool> {
        if password.is_empty() && !dn.is_empty() {
            return Ok(false);
        }
        let id = self.id();
        self.send(&bind_request(id, dn, password))?;
        match self.recv()? {
            (_, Response::Bind(0, _)) => Ok(true),
            (_, Response::Bind(49, _)) => Ok(false),
            (_, Response::Bind(c, d)) => Err(DirError::Ldap(format!("bind failed: code {c} {d}"))),
            other => Err(DirError::Ldap(format!("unexpected bind answer {other:?}"))),
        }
    }

    /// DNs of the entries with `attr=value` under `base`.
    pub fn search(&mut self, base: &str, attr: &str, value: &str) -> Result<Vec<String>> {
        let id = self.id();
        self.send(&search_request(id, base, attr, value))?;
        let mut dns = Vec::new();
        loop {
            match self.recv()? {
                (_, Response::Entry(dn)) => dns.push(dn),
                (_, Response::Reference) => {}
                (_, Response::SearchDone(0, _)) => return Ok(dns),
                // sizeLimitExceeded: more than one entry, ambiguous.
                (_, Response::SearchDone(4, _)) => return Ok(dns),
                (_, Response::SearchDone(32, _)) => return Ok(Vec::new()),
                (_, Response::SearchDone(c, d)) => return Err(DirError::Ldap(format!("search failed: code {c} {d}"))),
                other => return Err(DirError::Ldap(format!("unexpected search answer {other:?}"))),
            }
        }
    }

    /// Send UnbindRequest (best effort) and close.
    pub fn unbind(mut self) {
        let id = self.id();
        let _ = self.send(&message(id, vec![0x42, 0x00]));
    }
}

/// A pool of connections bound as the search user.
pub struct LdapPool {
    settings: LdapSettings,
    idle: Mutex<Vec<LdapConn>>,
}

impl LdapPool {
    /// From `ldap_*` keys; None when `ldap_host` is empty.
    pub fn from_config(cfg: &Config) -> Option<LdapPool> {
        let url = cfg.str("ldap_host").trim().to_string();
        if url.is_empty() {
            return None;
        }
        Some(LdapPool::new(LdapSettings {
            url,
            bind_user: cfg.str("ldap_bind_user").to_string(),
            bind_pass: cfg.str("ldap_bind_pass").to_string(),
            start_tls: cfg.bool("ldap_start_tls"),
            tls_ca: cfg.str("ldap_tls_ca").to_string(),
            mail_attr: cfg.str("ldap_mail_attr").to_string(),
            search_base: cfg.str("ldap_search_base").to_string(),
            timeout: cfg.duration("ldap_timeout").max(Duration::from_millis(100)),
            connections: cfg.usize("data_connections").max(1),
        }))
    }

    /// A pool over these settings.
    pub fn new(settings: LdapSettings) -> LdapPool {
        LdapPool {
            settings,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn service_conn(&self) -> Result<LdapConn> {
        if let Some(c) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(c);
        }
        let mut c = LdapConn::connect(&self.settings)?;
        if !self.settings.bind_user.is_empty() && !c.bind(&self.settings.bind_user, &self.settings.bind_pass)? {
            return Err(DirError::Ldap(
                "ldap_bind_user/ldap_bind_pass refused by the server".into(),
            ));
        }
        Ok(c)
    }

    fn put_back(&self, c: LdapConn) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.settings.connections {
            idle.push(c);
        } else {
            drop(idle);
            c.unbind();
        }
    }

    /// Check `password` for the entry whose mail attribute is `mail`. Ok(false): no such
    /// entry, several entries, or a wrong password. A pooled connection that failed is dropped
    /// and the operation retried once on a new one.
    pub fn authenticate(&self, mail: &str, password: &str) -> Result<bool> {
        if password.is_empty() {
            return Ok(false);
        }
        let mut last = None;
        for _ in 0..2 {
            match self.try_authenticate(mail, password) {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| DirError::Ldap("failed".into())))
    }

    fn try_authenticate(&self, mail: &str, password: &str) -> Result<bool> {
        let s = &self.settings;
        let mut c = self.service_conn()?;
        let dns = c.search(&s.search_base, &s.mail_attr, mail)?;
        if dns.len() != 1 {
            self.put_back(c);
            return Ok(false);
        }
        let ok = c.bind(&dns[0], password)?;
        // Re-bind as the search user before the connection goes back into the pool.
        if s.bind_user.is_empty() {
            if c.bind("", "")? {
                self.put_back(c);
            }
        } else if c.bind(&s.bind_user, &s.bind_pass)? {
            self.put_back(c);
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ber_roundtrip_of_own_messages() {
        // A BindResponse(success) as slapd sends it.
        let resp = [
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
        ];
        assert_eq!(parse_message(&resp).unwrap(), (1, Response::Bind(0, String::new())));
        let req = bind_request(5, "cn=x", "pw");
        let (outer, rest) = read_tlv(&req).unwrap();
        assert!(rest.is_empty());
        assert_eq!(outer.tag, 0x30);
        assert_eq!(int(0x02, 128), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(int(0x02, -1), vec![0x02, 0x01, 0xff]);
        let long = search_request(7, &"o".repeat(300), "mail", "a@b");
        assert_eq!(long[1], 0x82, "long form length");
        assert!(parse_message(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(parse_message(&[]).is_err());
    }
}
