//! The command codec: one LMTP/SMTP command line (without its line end) in, a [`Command`] or
//! a protocol error out. RFC 5321 §4.1 (commands, paths), RFC 2033 §4.1 (LHLO), RFC 1870
//! (SIZE), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8), RFC 3030 (BDAT). No I/O here.

use crate::reply::Reply;

/// Longest command line, including CRLF (RFC 5321 §4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 512;
/// Longest text line of a message, including CRLF (RFC 5321 §4.5.3.1.6).
pub const MAX_TEXT_LINE: usize = 1000;
/// Longest path accepted (RFC 5321 §4.5.3.1.3: 256 octets including the brackets).
pub const MAX_PATH: usize = 256;

/// `BODY=` parameter of MAIL (RFC 6152).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Body {
    /// `7BIT` or absent.
    #[default]
    SevenBit,
    /// `8BITMIME`.
    EightBitMime,
}

/// Parameters of MAIL FROM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailParams {
    /// `SIZE=n` (RFC 1870 §5): the client's estimate of the message size.
    pub size: Option<u64>,
    /// `BODY=`.
    pub body: Body,
    /// `SMTPUTF8` (RFC 6531 §3.4).
    pub smtputf8: bool,
}

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `LHLO host` (RFC 2033 §4.1).
    Lhlo(String),
    /// `EHLO host`.
    Ehlo(String),
    /// `HELO host`.
    Helo(String),
    /// `MAIL FROM:<path> params`; the empty string is the null reverse path `<>`.
    Mail {
        /// Reverse path without brackets (source route removed).
        from: String,
        /// Parameters.
        params: MailParams,
    },
    /// `RCPT TO:<path>`.
    Rcpt {
        /// Forward path without brackets (source route removed).
        to: String,
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030 §2).
    Bdat {
        /// Chunk size in octets.
        size: u64,
        /// Last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP [text]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `HELP [topic]`.
    Help,
    /// `VRFY text`.
    Vrfy,
    /// `EXPN text`.
    Expn,
    /// `STARTTLS` (RFC 3207).
    StartTls,
}

fn syntax(text: &str) -> Reply {
    Reply::new(501, "5.5.4", text)
}

/// Parse one command line (`line` excludes CRLF). Errors are the reply to send.
pub fn parse_command(line: &[u8]) -> Result<Command, Reply> {
    let line = std::str::from_utf8(line).map_err(|_| Reply::new(500, "5.5.2", "command line is not valid UTF-8"))?;
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Reply::new(500, "5.5.2", "control characters in command line"));
    }
    let (verb, rest) = match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i + 1..].trim_matches([' ', '\t'])),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    let no_args = |cmd: Command| {
        if rest.is_empty() {
            Ok(cmd)
        } else {
            Err(syntax("this command takes no arguments"))
        }
    };
    match verb.as_str() {
        "LHLO" | "EHLO" | "HELO" => {
            let host = rest.split([' ', '\t']).next().unwrap_or("");
            if host.is_empty() {
                return Err(syntax("a host name is required"));
            }
            let host = host.to_string();
            Ok(match verb.as_str() {
                "LHLO" => Command::Lhlo(host),
                "EHLO" => Command::Ehlo(host),
                _ => Command::Helo(host),
            })
        }
        "MAIL" => {
            let after = strip_prefix_ci(rest, "FROM:").ok_or_else(|| syntax("syntax: MAIL FROM:<address>"))?;
            let (path, params) = split_path(after.trim_start())?;
            let from = parse_path(path, true).map_err(|t| Reply::new(501, "5.1.7", t))?;
            let params = parse_mail_params(params)?;
            Ok(Command::Mail { from, params })
        }
        "RCPT" => {
            let after = strip_prefix_ci(rest, "TO:").ok_or_else(|| syntax("syntax: RCPT TO:<address>"))?;
            let (path, params) = split_path(after.trim_start())?;
            let to = parse_path(path, false).map_err(|t| Reply::new(501, "5.1.3", t))?;
            if !params.trim().is_empty() {
                return Err(Reply::new(555, "5.5.4", "RCPT TO parameters are not supported"));
            }
            Ok(Command::Rcpt { to })
        }
        "DATA" => no_args(Command::Data),
        "BDAT" => {
            let mut words = rest.split([' ', '\t']).filter(|w| !w.is_empty());
            let size = words
                .next()
                .filter(|w| w.len() <= 19 && w.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|w| w.parse::<u64>().ok())
                .ok_or_else(|| syntax("syntax: BDAT <size> [LAST]"))?;
            let last = match words.next() {
                None => false,
                Some(w) if w.eq_ignore_ascii_case("LAST") => true,
                Some(_) => return Err(syntax("syntax: BDAT <size> [LAST]")),
            };
            if words.next().is_some() {
                return Err(syntax("syntax: BDAT <size> [LAST]"));
            }
            Ok(Command::Bdat { size, last })
        }
        "RSET" => no_args(Command::Rset),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "HELP" => Ok(Command::Help),
        "VRFY" => {
            if rest.is_empty() {
                Err(syntax("syntax: VRFY <address>"))
            } else {
                Ok(Command::Vrfy)
            }
        }
        "EXPN" => Ok(Command::Expn),
        "STARTTLS" => no_args(Command::StartTls),
        _ => Err(Reply::new(500, "5.5.1", "command unrecognized")),
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s.is_char_boundary(prefix.len()) && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// Split `<path> params` at the closing bracket (a quoted local part may contain `>`).
fn split_path(s: &str) -> Result<(&str, &str), Reply> {
    if !s.starts_with('<') {
        return Err(syntax("the address must be enclosed in <>"));
    }
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => {
                let rest = &s[i + 1..];
                if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
                    return Err(syntax("a space must separate the address from parameters"));
                }
                return Ok((&s[..=i], rest.trim_start()));
            }
            _ => {}
        }
    }
    Err(syntax("unterminated <address>"))
}

/// Parse `<...>` into the bare mailbox. `null_ok` allows `<>` (reverse path).
fn parse_path(path: &str, null_ok: bool) -> Result<String, &'static str> {
    if path.len() > MAX_PATH {
        return Err("address too long");
    }
    let inner = &path[1..path.len() - 1];
    if inner.is_empty() {
        return if null_ok {
            Ok(String::new())
        } else {
            Err("empty recipient address")
        };
    }
    // A source route (`@a,@b:user@dom`, RFC 5321 §4.1.2) is accepted and ignored (§C).
    let mailbox = if inner.starts_with('@') {
        match inner.find(':') {
            Some(i) => &inner[i + 1..],
            None => return Err("bad source route"),
        }
    } else {
        inner
    };
    let (local, domain) = mailbox.rsplit_once('@').ok_or("address has no domain")?;
    if local.is_empty() || domain.is_empty() {
        return Err("address has an empty local part or domain");
    }
    if local.starts_with('"') {
        if local.len() < 2 || !local.ends_with('"') {
            return Err("bad quoted local part");
        }
    } else if local.chars().any(|c| c.is_ascii() && !is_atext(c) && c != '.') || local.contains("..") {
        return Err("bad character in local part");
    }
    let literal = domain.starts_with('[') && domain.ends_with(']');
    if !literal
        && domain
            .chars()
            .any(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'))
    {
        return Err("bad character in domain");
    }
    Ok(mailbox.to_string())
}

/// RFC 5322 §3.2.3 atext.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn parse_mail_params(s: &str) -> Result<MailParams, Reply> {
    let mut p = MailParams::default();
    for word in s.split([' ', '\t']).filter(|w| !w.is_empty()) {
        let (k, v) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        match (k.to_ascii_uppercase().as_str(), v) {
            ("SIZE", Some(v)) => {
                let n = if v.len() <= 19 && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                    v.parse::<u64>().ok()
                } else {
                    None
                };
                p.size = Some(n.ok_or_else(|| Reply::new(501, "5.5.4", "bad SIZE value"))?);
            }
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") => p.body = Body::SevenBit,
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") => p.body = Body::EightBitMime,
            ("BODY", _) => return Err(Reply::new(555, "5.5.4", "unsupported BODY type")),
            ("SMTPUTF8", None) => p.smtputf8 = true,
            _ => return Err(Reply::new(555, "5.5.4", "unsupported MAIL FROM parameter")),
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Command {
        parse_command(s.as_bytes()).unwrap()
    }
    fn err(s: &str) -> String {
        parse_command(s.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn commands() {
        assert_eq!(ok("lhlo mx.example"), Command::Lhlo("mx.example".into()));
        assert_eq!(
            ok("MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME SMTPUTF8"),
            Command::Mail {
                from: "a@b.example".into(),
                params: MailParams {
                    size: Some(100),
                    body: Body::EightBitMime,
                    smtputf8: true
                }
            }
        );
        assert_eq!(
            ok("MAIL FROM:<>"),
            Command::Mail {
                from: String::new(),
                params: MailParams::default()
            }
        );
        assert_eq!(
            ok("RCPT TO:<@relay.example:bob@example.org>"),
            Command::Rcpt {
                to: "bob@example.org".into()
            }
        );
        assert_eq!(
            ok("rcpt to: <\"a b\"@example.org>"),
            Command::Rcpt {
                to: "\"a b\"@example.org".into()
            }
        );
        assert_eq!(
            ok("RCPT TO:<jörg@exämple.org>"),
            Command::Rcpt {
                to: "jörg@exämple.org".into()
            }
        );
        assert_eq!(ok("BDAT 42 LAST"), Command::Bdat { size: 42, last: true });
        assert_eq!(ok("BDAT 0"), Command::Bdat { size: 0, last: false });
        assert_eq!(ok("QUIT"), Command::Quit);
    }

    #[test]
    fn errors_carry_enhanced_codes() {
        assert_eq!(err("FOO"), "500 5.5.1 command unrecognized");
        assert!(err("RCPT TO:<>").starts_with("501 5.1.3 "));
        assert!(err("RCPT TO:<a@b> NOTIFY=NEVER").starts_with("555 5.5.4 "));
        assert!(err("MAIL FROM:<a@b> BODY=BINARYMIME").starts_with("555 5.5.4 "));
        assert!(err("MAIL FROM:<a@b> SIZE=x").starts_with("501 5.5.4 "));
        assert!(err("MAIL FROM:a@b").starts_with("501 5.5.4 "));
        assert!(err("BDAT 99999999999999999999").starts_with("501 5.5.4 "));
        assert!(err("RCPT TO:<a/b@../x>").starts_with("501 5.1.3 "));
        assert!(err("DATA now").starts_with("501 "));
        assert!(parse_command(b"NOOP \xff")
            .unwrap_err()
            .to_string()
            .starts_with("500 5.5.2"));
    }
}
