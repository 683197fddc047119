//! `gromox-dscli`: an AutoDiscover tester. Sends a POX request (MS-OXDSCLI §4.1) with Basic
//! authentication to a server over HTTP or HTTPS (rustls) and prints the status and answer.
//!
//! ```text
//! gromox-dscli -e user@example.org [-u LOGIN] [-p PASSWORD] [-H URL] [--insecure] [--cafile PEM] [--mobile]
//! ```
//! The password may also come from `GROMOX_DSCLI_PASSWORD`. The default URL is
//! `https://autodiscover.<domain>/autodiscover/autodiscover.xml`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use crate::autodiscover::{MOBILE_REQUEST, MOBILE_RESPONSE, OUTLOOK_REQUEST, OUTLOOK_RESPONSE};

/// The POX request body for `email`.
pub fn request_body(email: &str, mobile: bool) -> String {
    let (req, resp) = if mobile {
        (MOBILE_REQUEST, MOBILE_RESPONSE)
    } else {
        (OUTLOOK_REQUEST, OUTLOOK_RESPONSE)
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Autodiscover xmlns=\"{req}\">\r\n <Request>\r\n  \
<EMailAddress>{}</EMailAddress>\r\n  <AcceptableResponseSchema>{resp}</AcceptableResponseSchema>\r\n </Request>\r\n</Autodiscover>\r\n",
        crate::autodiscover::xml_escape(email)
    )
}

#[derive(Debug)]
struct AcceptAll(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAll {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A parsed URL (`http` or `https` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// TLS.
    pub tls: bool,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path and query.
    pub path: String,
}

/// Parse `http(s)://host[:port]/path`.
pub fn parse_url(u: &str) -> Result<Url, String> {
    let (tls, rest) = if let Some(r) = u.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = u.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{u}: only http:// and https:// URLs"));
    };
    let (auth, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = if let Some(h6) = auth.strip_prefix('[') {
        let (h, p) = h6.split_once(']').ok_or("bad IPv6 literal")?;
        (h.to_string(), p.strip_prefix(':'))
    } else {
        match auth.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (auth.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("bad port in {u}"))?,
        None if tls => 443,
        None => 80,
    };
    Ok(Url {
        tls,
        host,
        port,
        path: if path.is_empty() { "/".into() } else { path.into() },
    })
}

/// Send the request; returns `(status, body)`.
pub fn send(
    url: &Url,
    user: &str,
    pass: &str,
    body: &str,
    insecure: bool,
    cafile: Option<&str>,
) -> Result<(u16, Vec<u8>), String> {
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .map_err(|e| format!("connect {}:{}: {e}", url.host, url.port))?;
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(60)));
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let host_hdr = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    let req = format!(
        "POST {} HTTP/1.1\r\nHost: {host_hdr}\r\nUser-Agent: gromox-dscli\r\nAuthorization: Basic {auth}\r\n\
X-MapiHttpCapability: 1\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        url.path,
        body.len()
    );
    let mut raw = Vec::new();
    if url.tls {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let cfg = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAll(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            let file = cafile.unwrap_or("/etc/ssl/certs/ca-certificates.crt");
            let certs = CertificateDer::pem_file_iter(file).map_err(|e| format!("{file}: {e}"))?;
            for c in certs.flatten() {
                let _ = roots.add(c);
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        let name = ServerName::try_from(url.host.clone()).map_err(|e| e.to_string())?;
        let conn = rustls::ClientConnection::new(Arc::new(cfg), name).map_err(|e| e.to_string())?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        s.write_all(req.as_bytes()).map_err(|e| format!("TLS: {e}"))?;
        match s.read_to_end(&mut raw) {
            Ok(_) => {}
            // Servers often close without close_notify after Connection: close.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(e) => return Err(format!("TLS: {e}")),
        }
    } else {
        let mut s = tcp;
        s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    }
    parse_response(&raw)
}

/// Parse a complete HTTP/1.1 response (Content-Length, chunked or close-delimited).
pub fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("incomplete response head")?
        + 4;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("malformed status line")?;
    let body = &raw[end..];
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        crate::http::ChunkedDecoder::new()
            .decode(body, &mut out)
            .map_err(|e| e.to_string())?;
        return Ok((status, out));
    }
    let len = head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    Ok((status, body[..len.unwrap_or(body.len()).min(body.len())].to_vec()))
}

/// The command. Returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let mut o = getopts::Options::new();
    o.optopt("e", "email", "e-mail address to discover (required)", "EMAIL");
    o.optopt("u", "user", "login name (default: the e-mail address)", "LOGIN");
    o.optopt(
        "p",
        "password",
        "password (default: $GROMOX_DSCLI_PASSWORD)",
        "PASSWORD",
    );
    o.optopt("H", "url", "AutoDiscover URL", "URL");
    o.optflag("k", "insecure", "do not verify the server certificate");
    o.optopt("", "cafile", "PEM file of trusted CA certificates", "FILE");
    o.optflag("m", "mobile", "use the mobilesync schema");
    o.optflag("h", "help", "print this help");
    let m = match o.parse(args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("gromox-dscli: {e}");
            return 2;
        }
    };
    if m.opt_present("h") {
        print!(
            "{}",
            o.usage("Usage: gromox-dscli -e EMAIL [options]\nSend an AutoDiscover request and print the answer.")
        );
        return 0;
    }
    let Some(email) = m.opt_str("e") else {
        eprintln!("gromox-dscli: -e EMAIL is required");
        return 2;
    };
    let user = m.opt_str("u").unwrap_or_else(|| email.clone());
    let pass = m
        .opt_str("p")
        .or_else(|| std::env::var("GROMOX_DSCLI_PASSWORD").ok())
        .unwrap_or_default();
    let domain = email.rsplit('@').next().unwrap_or("");
    let url = m
        .opt_str("H")
        .unwrap_or_else(|| format!("https://autodiscover.{domain}/autodiscover/autodiscover.xml"));
    let url = match parse_url(&url) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("gromox-dscli: {e}");
            return 2;
        }
    };
    let body = request_body(&email, m.opt_present("m"));
    match send(
        &url,
        &user,
        &pass,
        &body,
        m.opt_present("k"),
        m.opt_str("cafile").as_deref(),
    ) {
        Ok((status, body)) => {
            println!("HTTP status {status}");
            println!("{}", String::from_utf8_lossy(&body));
            if status == 200 {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("gromox-dscli: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_responses() {
        let u = parse_url("https://[::1]:8443/autodiscover/autodiscover.xml").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "::1", 8443));
        assert_eq!(parse_url("http://h").unwrap().path, "/");
        assert!(parse_url("ftp://h").is_err());
        let (s, b) =
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n").unwrap();
        assert_eq!((s, b.as_slice()), (200, &b"abc"[..]));
        let (s, b) = parse_response(b"HTTP/1.1 401 No\r\nContent-Length: 2\r\n\r\nxyz").unwrap();
        assert_eq!((s, b.as_slice()), (401, &b"xy"[..]));
        assert!(request_body("a&b@c", false).contains("a&amp;b@c"));
    }
}
