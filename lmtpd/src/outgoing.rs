//! Outgoing mail (`outgoing_smtp_url`): how lmtpd sends what it generates itself — bounces
//! (RFC 3464 DSNs), out-of-office replies and forwards — to recipients outside this system.
//!
//! - `smtp://host[:port]` (default port 25): an SMTP client (RFC 5321) — EHLO (HELO as a
//!   fallback), MAIL FROM with `BODY=8BITMIME`/`SMTPUTF8` when the relay offers them, one RCPT
//!   per recipient, DATA with dot-stuffing, QUIT. Reply classes decide: 4xx is temporary (the
//!   message stays queued and is retried), 5xx permanent (the sender gets a DSN).
//! - `sendmail:///path/to/sendmail` (or `sendmail://localhost`, meaning `/usr/sbin/sendmail`):
//!   the message on standard input of `sendmail -i -f <from> -- <rcpts>`; exit status 75
//!   (EX_TEMPFAIL) is temporary, any other failure permanent.
//! - empty: no outgoing mail; such messages fail permanently (and are logged).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::Duration;

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
    /// An SMTP relay.
    Smtp { host: String, port: u16 },
    /// A local sendmail-compatible program.
    Sendmail { program: String },
}

impl Outgoing {
    /// Parse `outgoing_smtp_url`; `Ok(None)` for an empty value.
    pub fn parse(url: &str) -> Result<Option<Outgoing>, String> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(None);
        }
        if let Some(rest) = url.strip_prefix("smtp://") {
            let hostport = rest.trim_end_matches('/');
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
                    Ok(p) => (h.trim_start_matches('[').trim_end_matches(']').to_string(), p),
                    Err(_) => return Err(format!("bad port in {url:?}")),
                },
                _ => (hostport.trim_start_matches('[').trim_end_matches(']').to_string(), 25),
            };
            if host.is_empty() {
                return Err(format!("no host in {url:?}"));
            }
            return Ok(Some(Outgoing::Smtp { host, port }));
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
            "unsupported outgoing_smtp_url {url:?} (smtp://host[:port] or sendmail:///path)"
        ))
    }

    /// Send `message` (RFC 5322, CRLF line ends) from `from` (empty: the null sender) to
    /// `rcpts`. Either every recipient is accepted or the whole send fails.
    pub fn send(&self, helo: &str, from: &str, rcpts: &[String], message: &[u8]) -> Result<(), SendError> {
        match self {
            Outgoing::Smtp { host, port } => smtp_send(host, *port, helo, from, rcpts, message),
            Outgoing::Sendmail { program } => sendmail_send(program, from, rcpts, message),
        }
    }
}

const TIMEOUT: Duration = Duration::from_secs(60);

struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
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

    fn cmd(&mut self, line: &str) -> Result<(u16, String), SendError> {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| SendError::temp(format!("writing to the relay: {e}")))?;
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

fn smtp_send(host: &str, port: u16, helo: &str, from: &str, rcpts: &[String], msg: &[u8]) -> Result<(), SendError> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| SendError::temp(format!("resolving {host}: {e}")))?
        .next()
        .ok_or_else(|| SendError::temp(format!("{host} has no address")))?;
    let s = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| SendError::temp(format!("connecting to {addr}: {e}")))?;
    let _ = s.set_read_timeout(Some(TIMEOUT));
    let _ = s.set_write_timeout(Some(TIMEOUT));
    let w = s.try_clone().map_err(|e| SendError::temp(format!("socket: {e}")))?;
    let mut c = Conn {
        r: BufReader::new(s),
        w,
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
    c.w.write_all(&body)
        .map_err(|e| SendError::temp(format!("writing to the relay: {e}")))?;
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

    #[test]
    fn urls() {
        assert_eq!(Outgoing::parse("").unwrap(), None);
        assert_eq!(
            Outgoing::parse("smtp://relay.example.org").unwrap(),
            Some(Outgoing::Smtp {
                host: "relay.example.org".into(),
                port: 25
            })
        );
        assert_eq!(
            Outgoing::parse("smtp://[::1]:2525/").unwrap(),
            Some(Outgoing::Smtp {
                host: "::1".into(),
                port: 2525
            })
        );
        assert_eq!(
            Outgoing::parse("sendmail://localhost").unwrap(),
            Some(Outgoing::Sendmail {
                program: "/usr/sbin/sendmail".into()
            })
        );
        assert!(Outgoing::parse("smtps://x").is_err());
        assert!(Outgoing::parse("smtp://x:99999").is_err());
        assert!(Outgoing::parse("sendmail://relative/path").is_err());
    }
}
