//! The POP3 command codec (RFC 1939 §3, RFC 2449 §3, RFC 2595 §4, RFC 5034 §4): one command
//! line (without its CRLF, as cut by the line framer) in, a typed [`Command`] out. Pure: no
//! I/O, no state; a parse error concerns exactly this one line.
//!
//! Keywords are case-insensitive (RFC 1939 §3); arguments are separated by spaces (runs of
//! spaces are tolerated). Message numbers are decimal, at least 1, at most `u32::MAX`.
//! `PASS` takes the rest of the line verbatim, so passwords may contain spaces (as most
//! servers and clients do, RFC 1939 §7 note).

use crate::error::ParseError;

/// Longest keyword (RFC 2449 §3: keywords are 3 or 4 characters).
const KEYWORD_MAX: usize = 4;

/// A parsed POP3 command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `USER name` (RFC 1939 §7).
    User(&'a str),
    /// `PASS string` (RFC 1939 §7): the rest of the line, bytes as sent.
    Pass(&'a [u8]),
    /// `AUTH [mechanism [initial-response]]` (RFC 5034 §4). Without a mechanism: the list of
    /// mechanisms (a widespread extension clients probe with).
    Auth {
        /// The mechanism name, upper-cased.
        mechanism: Option<String>,
        /// The initial response (base64 or `=` for empty), RFC 5034 §4.
        initial: Option<&'a str>,
    },
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `QUIT` (RFC 1939 §5, §6).
    Quit,
    /// `NOOP` (RFC 1939 §5).
    Noop,
    /// `STAT` (RFC 1939 §5).
    Stat,
    /// `LIST [msg]` (RFC 1939 §5).
    List(Option<u32>),
    /// `RETR msg` (RFC 1939 §5).
    Retr(u32),
    /// `DELE msg` (RFC 1939 §5).
    Dele(u32),
    /// `RSET` (RFC 1939 §5).
    Rset,
    /// `TOP msg n` (RFC 1939 §7).
    Top(u32, u32),
    /// `UIDL [msg]` (RFC 1939 §7).
    Uidl(Option<u32>),
}

impl Command<'_> {
    /// The keyword, upper case (for logs and metrics).
    pub fn name(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Auth { .. } => "AUTH",
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::Quit => "QUIT",
            Command::Noop => "NOOP",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Rset => "RSET",
            Command::Top(..) => "TOP",
            Command::Uidl(_) => "UIDL",
        }
    }
}

/// A message number: decimal digits only, 1..=u32::MAX.
fn msg_number(s: &str) -> Result<u32, ParseError> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadArgument("message number expected"));
    }
    match s.parse::<u32>() {
        Ok(0) | Err(_) => Err(ParseError::BadArgument("no such message number")),
        Ok(n) => Ok(n),
    }
}

/// A line count (TOP): decimal digits, 0 allowed; values past `u32::MAX` are clamped.
fn line_count(s: &str) -> Result<u32, ParseError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadArgument("line count expected"));
    }
    Ok(s.parse::<u32>().unwrap_or(u32::MAX))
}

fn none(args: &[&str]) -> Result<(), ParseError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(ParseError::BadArgument("no arguments expected"))
    }
}

/// Parse one command line (without CRLF).
pub fn parse(line: &[u8]) -> Result<Command<'_>, ParseError> {
    let kw_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let kw = &line[..kw_end];
    if kw.is_empty() {
        return Err(ParseError::Empty);
    }
    if kw.len() > KEYWORD_MAX || !kw.iter().all(u8::is_ascii_alphabetic) {
        return Err(ParseError::Unknown);
    }
    let mut k = [0u8; KEYWORD_MAX];
    for (d, s) in k.iter_mut().zip(kw) {
        *d = s.to_ascii_uppercase();
    }
    let kw = &k[..kw.len()];
    let rest = line.get(kw_end + 1..).unwrap_or(&[]);
    if kw == b"PASS" {
        if rest.is_empty() {
            return Err(ParseError::BadArgument("password expected"));
        }
        return Ok(Command::Pass(rest));
    }
    let rest = std::str::from_utf8(rest).map_err(|_| ParseError::NotUtf8)?;
    if rest.chars().any(char::is_control) {
        return Err(ParseError::BadArgument("control characters in arguments"));
    }
    let args: Vec<&str> = rest.split(' ').filter(|s| !s.is_empty()).collect();
    let cmd = match kw {
        b"USER" => match args.as_slice() {
            [name] => Command::User(name),
            _ => return Err(ParseError::BadArgument("USER takes one name")),
        },
        b"AUTH" => match args.as_slice() {
            [] => Command::Auth {
                mechanism: None,
                initial: None,
            },
            [m] => Command::Auth {
                mechanism: Some(m.to_ascii_uppercase()),
                initial: None,
            },
            [m, ir] => Command::Auth {
                mechanism: Some(m.to_ascii_uppercase()),
                initial: Some(ir),
            },
            _ => {
                return Err(ParseError::BadArgument(
                    "AUTH takes a mechanism and an initial response",
                ))
            }
        },
        b"CAPA" => none(&args).map(|_| Command::Capa)?,
        b"STLS" => none(&args).map(|_| Command::Stls)?,
        b"QUIT" => none(&args).map(|_| Command::Quit)?,
        b"NOOP" => none(&args).map(|_| Command::Noop)?,
        b"STAT" => none(&args).map(|_| Command::Stat)?,
        b"RSET" => none(&args).map(|_| Command::Rset)?,
        b"LIST" | b"UIDL" => {
            let n = match args.as_slice() {
                [] => None,
                [n] => Some(msg_number(n)?),
                _ => return Err(ParseError::BadArgument("at most one message number")),
            };
            if kw == b"LIST" {
                Command::List(n)
            } else {
                Command::Uidl(n)
            }
        }
        b"RETR" | b"DELE" => match args.as_slice() {
            [n] => {
                let n = msg_number(n)?;
                if kw == b"RETR" {
                    Command::Retr(n)
                } else {
                    Command::Dele(n)
                }
            }
            _ => return Err(ParseError::BadArgument("one message number expected")),
        },
        b"TOP" => match args.as_slice() {
            [n, l] => Command::Top(msg_number(n)?, line_count(l)?),
            _ => return Err(ParseError::BadArgument("TOP takes a message number and a line count")),
        },
        _ => return Err(ParseError::Unknown),
    };
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command() {
        assert_eq!(parse(b"user Alice").unwrap(), Command::User("Alice"));
        assert_eq!(
            parse(b"PASS pw with spaces ").unwrap(),
            Command::Pass(b"pw with spaces ")
        );
        assert_eq!(
            parse(b"AUTH plain AGEAYg==").unwrap(),
            Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("AGEAYg==")
            }
        );
        assert_eq!(
            parse(b"AUTH").unwrap(),
            Command::Auth {
                mechanism: None,
                initial: None
            }
        );
        assert_eq!(parse(b"capa").unwrap(), Command::Capa);
        assert_eq!(parse(b"STLS").unwrap(), Command::Stls);
        assert_eq!(parse(b"QUIT").unwrap(), Command::Quit);
        assert_eq!(parse(b"NoOp").unwrap(), Command::Noop);
        assert_eq!(parse(b"STAT").unwrap(), Command::Stat);
        assert_eq!(parse(b"LIST").unwrap(), Command::List(None));
        assert_eq!(parse(b"LIST  7").unwrap(), Command::List(Some(7)));
        assert_eq!(parse(b"RETR 1").unwrap(), Command::Retr(1));
        assert_eq!(parse(b"DELE 4294967295").unwrap(), Command::Dele(u32::MAX));
        assert_eq!(parse(b"RSET").unwrap(), Command::Rset);
        assert_eq!(parse(b"TOP 2 0").unwrap(), Command::Top(2, 0));
        assert_eq!(parse(b"TOP 2 99999999999").unwrap(), Command::Top(2, u32::MAX));
        assert_eq!(parse(b"UIDL 3").unwrap(), Command::Uidl(Some(3)));
    }

    #[test]
    fn errors() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b" STAT"), Err(ParseError::Empty));
        assert_eq!(parse(b"APOP a b"), Err(ParseError::Unknown));
        assert_eq!(parse(b"STATS"), Err(ParseError::Unknown));
        assert_eq!(parse(b"ST\xffT"), Err(ParseError::Unknown));
        assert!(matches!(parse(b"RETR 0"), Err(ParseError::BadArgument(_))));
        assert!(matches!(parse(b"RETR -1"), Err(ParseError::BadArgument(_))));
        assert!(matches!(parse(b"RETR 4294967296"), Err(ParseError::BadArgument(_))));
        assert!(matches!(parse(b"RETR"), Err(ParseError::BadArgument(_))));
        assert!(matches!(parse(b"STAT 1"), Err(ParseError::BadArgument(_))));
        assert!(matches!(parse(b"TOP 1"), Err(ParseError::BadArgument(_))));
        assert!(matches!(parse(b"USER a b"), Err(ParseError::BadArgument(_))));
        assert!(matches!(parse(b"PASS"), Err(ParseError::BadArgument(_))));
        assert_eq!(parse(b"USER \xff"), Err(ParseError::NotUtf8));
        assert!(matches!(parse(b"USER a\x01"), Err(ParseError::BadArgument(_))));
    }
}
