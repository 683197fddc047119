//! Outgoing mail (`outgoing_smtp_url`): how lmtpd sends what it generates itself — bounces
//! (RFC 3464 DSNs), out-of-office replies and forwards — to recipients outside this system.
//!
//! - `smtp://host[:port]` (default port 25): an SMTP client (RFC 5321) — EHLO (HELO as a
//!   fallback), MAIL FROM with `BODY=8BITMIME`/`SMTPUTF8` when the relay offers them, one RCPT
//!   per recipient, DATA with dot-stuffing, QUIT. Reply classes decide: 4xx is temporary (the
//!   message stays queued and is retried), 5xx permanent (the sender gets a DSN).
//! - `smtps://host[:port]` (default port 465): the same over implicit TLS (RFC 8314 §3.3,
//!   rustls); the relay's certificate must verify for `host` against the CA bundle
//!   `outgoing_smtp_ca_file` (default: the system's `/etc/ssl/certs/ca-certificates.crt`). A
//!   TLS failure is temporary: the message stays queued until the relay or the bundle is fixed.
//! - `sendmail:///path/to/sendmail` (or `sendmail://localhost`, meaning `/usr/sbin/sendmail`):
//!   the message on standard input of `sendmail -i -f <from> -- <rcpts>`; exit status 75
//!   (EX_TEMPFAIL) is temporary, any other failure permanent.
//! - empty: no outgoing mail; such messages fail permanently (and are logged).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The CA bundle used for `smtps://` when `outgoing_smtp_ca_file` is empty.
pub use gromox_runtime::tls::SYSTEM_CA_BUNDLE;

/// Why sending failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// Worth retrying later.
    pub temporary: bool,
    /// What happened, for logs and DSNs.
    pub reason: String,
}

impl SendError {
    fn temp(reason: impl Into<String>) -> Self {
        SendError {
            temporary: true,
            reason: reason.into(),
        }
    }
    fn perm(reason: impl Into<String>) -> Self {
        SendError {
            temporary: false,
            reason: reason.into(),
        }
    }
}

/// Where outgoing mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// An SMTP relay; `tls`: implicit TLS (`smtps://`) verified against `ca_file`.
    Smtp {
        host: String,
        port: u16,
        tls: bool,
        ca_file: String,
    },
    /// A local sendmail-compatible program.
    Sendmail { program: String },
}

impl Outgoing {
    /// Parse `outgoing_smtp_url`; `Ok(None)` for an empty value. `ca_file` is
    /// `outgoing_smtp_ca_file` (empty: [`SYSTEM_CA_BUNDLE`]).
    pub fn parse(url: &str, ca_file: &str) -> Result<Option<Outgoing>, String> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(None);
        }
        let (tls, rest) = match (url.strip_prefix("smtp://"), url.strip_prefix("smtps://")) {
            (Some(r), _) => (false, Some(r)),
            (_, Some(r)) => (true, Some(r)),
            _ => (false, None),
        };
        if let Some(rest) = rest {
            let hostport = rest.trim_end_matches('/');
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
                    Ok(p) => (h.trim_start_matches('[').trim_end_matches(']').to_string(), p),
                    Err(_) => return Err(format!("bad port in {url:?}")),
                },
                _ => (
                    hostport.trim_start_matches('[').trim_end_matches(']').to_string(),
                    if tls { 465 } else { 25 },
                ),
            };
            if host.is_empty() {
                return Err(format!("no host in {url:?}"));
            }
            let ca_file = match ca_file.trim() {
                "" => SYSTEM_CA_BUNDLE.to_string(),
                f => f.to_string(),
            };
            return Ok(Some(Outgoing::Smtp {
                host,
                port,
                tls,
                ca_file,
            }));
        }
        if let Some(rest) = url.strip_prefix("sendmail://") {
            let program = match rest {
                "" | "localhost" | "localhost/" => "/usr/sbin/sendmail".to_string(),
                p if p.starts_with('/') => p.to_string(),
                _ => return Err(format!("sendmail:// needs an absolute path: {url:?}")),
            };
            return Ok(Some(Outgoing::Sendmail { program }));
        }
        Err(format!(
            "unsupported outgoing_smtp_url {url:?} (smtp://host[:port], smtps://host[:port] or sendmail:///path)"
        ))
    }

    /// Send `message` (RFC 5322, CRLF line ends) from `from` (empty: the null sender) to
    /// `rcpts`. Either every recipient is accepted or the whole send fails.
    pub fn send(&self, helo: &str, from: &str, rcpts: &[String], message: &[u8]) -> Result<(), SendError> {
        match self {
            Outgoing::Smtp {
                host,
                port,
                tls,
                ca_file,
            } => {
                let tls = if *tls { Some(ca_file.as_str()) } else { None };
                smtp_send(host, *port, tls, helo, from, rcpts, message)
            }
            Outgoing::Sendmail { program } => sendmail_send(program, from, rcpts, message),
        }
    }
}

const TIMEOUT: Duration = Duration::from_secs(60);

/// A connection to the relay, plain or TLS.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

struct Conn {
    r: BufReader<Box<dyn Stream>>,
}

impl Conn {
    /// One (possibly multi-line) reply: code and the text of all lines.
    fn reply(&mut self) -> Result<(u16, String), SendError> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self
                .r
                .read_line(&mut line)
                .map_err(|e| SendError::temp(format!("reading from the relay: {e}")))?;
            if n == 0 {
                return Err(SendError::temp("the relay closed the connection"));
            }
            let line = line.trim_end();
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| SendError::temp(format!("garbled reply {line:?}")))?;
            text.push_str(line.get(4..).unwrap_or(""));
            text.push('\n');
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), SendError> {
        let w = self.r.get_mut();
        w.write_all(data)
            .and_then(|_| w.flush())
            .map_err(|e| SendError::temp(format!("writing to the relay: {e}")))
    }

    fn cmd(&mut self, line: &str) -> Result<(u16, String), SendError> {
        self.write(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }
}

fn check(what: &str, (code, text): (u16, String), want: u16) -> Result<String, SendError> {
    if code == want || (want == 250 && (200..300).contains(&code)) {
        return Ok(text);
    }
    let reason = format!("{what}: {code} {}", text.trim_end());
    if (400..500).contains(&code) {
        Err(SendError::temp(reason))
    } else {
        Err(SendError::perm(reason))
    }
}

fn smtp_send(
    host: &str,
    port: u16,
    tls: Option<&str>,
    helo: &str,
    from: &str,
    rcpts: &[String],
    msg: &[u8],
) -> Result<(), SendError> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| SendError::temp(format!("resolving {host}: {e}")))?
        .next()
        .ok_or_else(|| SendError::temp(format!("{host} has no address")))?;
    let s = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| SendError::temp(format!("connecting to {addr}: {e}")))?;
    let _ = s.set_read_timeout(Some(TIMEOUT));
    let _ = s.set_write_timeout(Some(TIMEOUT));
    let stream: Box<dyn Stream> = match tls {
        None => Box::new(s),
        Some(ca_file) => {
            let name = rustls_pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| SendError::temp(format!("TLS name {host:?}: {e}")))?;
            let cfg = gromox_runtime::tls::client_config(ca_file).map_err(|e| SendError::temp(format!("TLS: {e}")))?;
            let tc = rustls::ClientConnection::new(cfg, name).map_err(|e| SendError::temp(format!("TLS: {e}")))?;
            Box::new(rustls::StreamOwned::new(tc, s))
        }
    };
    let mut c = Conn {
        r: BufReader::new(stream),
    };
    check("greeting", c.reply()?, 220)?;
    let ehlo = c.cmd(&format!("EHLO {helo}"))?;
    let ext = if ehlo.0 == 250 {
        ehlo.1.to_ascii_uppercase()
    } else {
        check("HELO", c.cmd(&format!("HELO {helo}"))?, 250)?;
        String::new()
    };
    let has = |e: &str| ext.lines().any(|l| l.split_whitespace().next() == Some(e));
    let mut mail = format!("MAIL FROM:<{from}>");
    if has("8BITMIME") && msg.iter().any(|&b| b >= 0x80) {
        mail.push_str(" BODY=8BITMIME");
    }
    if has("SMTPUTF8") && (!from.is_ascii() || rcpts.iter().any(|r| !r.is_ascii())) {
        mail.push_str(" SMTPUTF8");
    }
    check("MAIL FROM", c.cmd(&mail)?, 250)?;
    for r in rcpts {
        check(&format!("RCPT TO <{r}>"), c.cmd(&format!("RCPT TO:<{r}>"))?, 250)?;
    }
    check("DATA", c.cmd("DATA")?, 354)?;
    let mut body = Vec::with_capacity(msg.len() + 64);
    for line in msg.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            body.push(b'.');
        }
        body.extend_from_slice(line);
    }
    if !body.ends_with(b"\r\n") {
        if body.ends_with(b"\n") {
            body.pop();
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b".\r\n");
    c.write(&body)?;
    check("end of data", c.reply()?, 250)?;
    let _ = c.cmd("QUIT");
    Ok(())
}

fn sendmail_send(program: &str, from: &str, rcpts: &[String], msg: &[u8]) -> Result<(), SendError> {
    let mut child = Command::new(program)
        .arg("-i")
        .arg("-f")
        .arg(if from.is_empty() { "<>" } else { from })
        .arg("--")
        .args(rcpts)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SendError::temp(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // Line ends as the local program expects them.
        let mut data = Vec::with_capacity(msg.len());
        for l in msg.split_inclusive(|&b| b == b'\n') {
            match l.strip_suffix(b"\r\n") {
                Some(x) => {
                    data.extend_from_slice(x);
                    data.push(b'\n');
                }
                None => data.extend_from_slice(l),
            }
        }
        let _ = stdin.write_all(&data);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| SendError::temp(format!("{program}: {e}")))?;
    match out.status.code() {
        Some(0) => Ok(()),
        Some(75) => Err(SendError::temp(format!(
            "{program}: temporary failure: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        _ => Err(SendError::perm(format!(
            "{program} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn urls() {
        let smtp = |host: &str, port, tls, ca: &str| {
            Some(Outgoing::Smtp {
                host: host.into(),
                port,
                tls,
                ca_file: ca.into(),
            })
        };
        assert_eq!(Outgoing::parse("", "").unwrap(), None);
        assert_eq!(
            Outgoing::parse("smtp://relay.example.org", "").unwrap(),
            smtp("relay.example.org", 25, false, SYSTEM_CA_BUNDLE)
        );
        assert_eq!(
            Outgoing::parse("smtp://[::1]:2525/", "").unwrap(),
            smtp("::1", 2525, false, SYSTEM_CA_BUNDLE)
        );
        assert_eq!(
            Outgoing::parse("smtps://relay.example.org", "/etc/ca.pem").unwrap(),
            smtp("relay.example.org", 465, true, "/etc/ca.pem")
        );
        assert_eq!(
            Outgoing::parse("sendmail://localhost", "").unwrap(),
            Some(Outgoing::Sendmail {
                program: "/usr/sbin/sendmail".into()
            })
        );
        assert!(Outgoing::parse("lmtp://x", "").is_err());
        assert!(Outgoing::parse("smtp://x:99999", "").is_err());
        assert!(Outgoing::parse("sendmail://relative/path", "").is_err());
    }

    /// A one-connection-at-a-time SMTP server over TLS with `cert`; each accepted message's
    /// data goes to the channel.
    fn tls_sink(
        cert: rustls_pki_types::CertificateDer<'static>,
        key: rustls_pki_types::PrivateKeyDer<'static>,
    ) -> (u16, std::sync::mpsc::Receiver<String>) {
        let cfg = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .unwrap(),
        );
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { return };
                let Ok(conn) = rustls::ServerConnection::new(cfg.clone()) else {
                    return;
                };
                let mut r = BufReader::new(rustls::StreamOwned::new(conn, s));
                let _ = (|| -> std::io::Result<()> {
                    let say = |r: &mut BufReader<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>, t: &str| {
                        r.get_mut().write_all(t.as_bytes()).and_then(|_| r.get_mut().flush())
                    };
                    say(&mut r, "220 tls sink\r\n")?;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line)? == 0 {
                            return Ok(());
                        }
                        let up = line.to_ascii_uppercase();
                        if up.starts_with("EHLO") {
                            say(&mut r, "250-sink\r\n250 8BITMIME\r\n")?;
                        } else if up.starts_with("DATA") {
                            say(&mut r, "354 go\r\n")?;
                            let mut data = String::new();
                            loop {
                                line.clear();
                                r.read_line(&mut line)?;
                                if line == ".\r\n" || line.is_empty() {
                                    break;
                                }
                                data.push_str(&line);
                            }
                            say(&mut r, "250 queued\r\n")?;
                            let _ = tx.send(data);
                        } else if up.starts_with("QUIT") {
                            return say(&mut r, "221 bye\r\n");
                        } else {
                            say(&mut r, "250 ok\r\n")?;
                        }
                    }
                })();
            }
        });
        (port, rx)
    }

    #[test]
    fn smtps_relay_is_verified_against_the_ca_file() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ck.cert.pem()).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
        let (port, rx) = tls_sink(ck.cert.der().clone(), key);
        let url = format!("smtps://localhost:{port}");
        let o = Outgoing::parse(&url, ca.to_str().unwrap()).unwrap().unwrap();
        o.send(
            "mx.example.org",
            "",
            &["x@example.net".to_string()],
            b"Subject: over TLS\r\n\r\n.starts with a dot\r\n",
        )
        .unwrap();
        let data = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(data, "Subject: over TLS\r\n\r\n..starts with a dot\r\n");
        // A relay whose certificate the bundle does not vouch for: temporary, nothing sent.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let wrong = dir.path().join("other.pem");
        std::fs::write(&wrong, other.cert.pem()).unwrap();
        let o = Outgoing::parse(&url, wrong.to_str().unwrap()).unwrap().unwrap();
        let e = o
            .send(
                "mx.example.org",
                "",
                &["x@example.net".to_string()],
                b"Subject: no\r\n\r\n",
            )
            .unwrap_err();
        assert!(e.temporary, "{e:?}");
        assert!(
            e.reason.contains("certificate") || e.reason.contains("TLS") || e.reason.contains("relay"),
            "{e:?}"
        );
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    }
}
