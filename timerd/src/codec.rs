//! The timer protocol's codec: line framing with a hard size cap, and the command parser.
//!
//! Pure functions, no I/O (DESIGN.md §8: frame first, parse second). The protocol follows
//! Gromox's timer(8gx): `ADD <seconds> <command>`, `CANCEL <id>`, `PING`, `QUIT`.

/// Longest accepted command line, without its line ending.
pub const MAX_LINE: usize = 4096;
/// Longest accepted timer command (bytes).
pub const MAX_COMMAND: usize = 2048;
/// Longest accepted delay: ten years.
pub const MAX_DELAY: u64 = 10 * 366 * 86400;

pub use gromox_runtime::line::Frame;

/// Cuts lines of at most [`MAX_LINE`] bytes out of buffered input (the shared framer of the
/// text protocols, `gromox_runtime::line`).
pub type LineFramer = gromox_runtime::line::LineFramer<MAX_LINE>;

/// One client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `ADD <seconds> <command>`: run `command` with `/bin/sh -c` after `seconds`.
    Add {
        /// Delay in seconds (at least 1).
        delay: u64,
        /// Shell command.
        command: String,
    },
    /// `CANCEL <id>`.
    Cancel(u64),
    /// `PING`.
    Ping,
    /// `QUIT`.
    Quit,
}

/// Why a line was refused (the client sees `FALSE`; the reason is logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not UTF-8, or contains control characters.
    #[error("line is not printable UTF-8")]
    NotText,
    /// Unknown command word.
    #[error("unknown command")]
    UnknownCommand,
    /// Missing or extra arguments.
    #[error("wrong number of arguments")]
    Arity,
    /// Delay not a number in 1..=MAX_DELAY.
    #[error("bad delay")]
    BadDelay,
    /// Timer id not a positive number.
    #[error("bad timer id")]
    BadId,
    /// Command longer than [`MAX_COMMAND`].
    #[error("command too long")]
    CommandTooLong,
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parse one command line (without line ending). Command words are case-insensitive.
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotText)?;
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ParseError::NotText);
    }
    let line = line.trim_matches(' ');
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim_start_matches(' ');
    match word.to_ascii_uppercase().as_str() {
        "ADD" => {
            let (delay, command) = rest.split_once(' ').ok_or(ParseError::Arity)?;
            let delay = number(delay)
                .filter(|d| (1..=MAX_DELAY).contains(d))
                .ok_or(ParseError::BadDelay)?;
            let command = command.trim_matches([' ', '\t']);
            if command.is_empty() {
                return Err(ParseError::Arity);
            }
            if command.len() > MAX_COMMAND {
                return Err(ParseError::CommandTooLong);
            }
            Ok(Command::Add {
                delay,
                command: command.to_string(),
            })
        }
        "CANCEL" => {
            if rest.is_empty() || rest.contains(' ') {
                return Err(ParseError::Arity);
            }
            let id = number(rest).filter(|&i| i > 0).ok_or(ParseError::BadId)?;
            Ok(Command::Cancel(id))
        }
        "PING" if rest.is_empty() => Ok(Command::Ping),
        "QUIT" if rest.is_empty() => Ok(Command::Quit),
        "PING" | "QUIT" => Err(ParseError::Arity),
        _ => Err(ParseError::UnknownCommand),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(
            parse_command(b"ADD 2 touch /tmp/x y"),
            Ok(Command::Add {
                delay: 2,
                command: "touch /tmp/x y".into()
            })
        );
        assert_eq!(
            parse_command(b"add  30   echo 'a  b'"),
            Ok(Command::Add {
                delay: 30,
                command: "echo 'a  b'".into()
            })
        );
        assert_eq!(parse_command(b"CANCEL 17"), Ok(Command::Cancel(17)));
        assert_eq!(parse_command(b"ping"), Ok(Command::Ping));
        assert_eq!(parse_command(b"QUIT"), Ok(Command::Quit));
    }

    #[test]
    fn refuses_bad_lines() {
        assert_eq!(parse_command(b""), Err(ParseError::UnknownCommand));
        assert_eq!(parse_command(b"HELLO"), Err(ParseError::UnknownCommand));
        assert_eq!(parse_command(b"ADD 5"), Err(ParseError::Arity));
        assert_eq!(parse_command(b"ADD 5    "), Err(ParseError::Arity));
        assert_eq!(parse_command(b"ADD 0 true"), Err(ParseError::BadDelay));
        assert_eq!(parse_command(b"ADD -1 true"), Err(ParseError::BadDelay));
        assert_eq!(parse_command(b"ADD 1x true"), Err(ParseError::BadDelay));
        assert_eq!(
            parse_command(b"ADD 99999999999999999999 true"),
            Err(ParseError::BadDelay)
        );
        assert_eq!(parse_command(b"CANCEL 0"), Err(ParseError::BadId));
        assert_eq!(parse_command(b"CANCEL"), Err(ParseError::Arity));
        assert_eq!(parse_command(b"CANCEL 1 2"), Err(ParseError::Arity));
        assert_eq!(parse_command(b"PING now"), Err(ParseError::Arity));
        assert_eq!(parse_command(b"ADD 1 a\x07b"), Err(ParseError::NotText));
        let long = format!("ADD 1 {}", "x".repeat(MAX_COMMAND + 1));
        assert_eq!(parse_command(long.as_bytes()), Err(ParseError::CommandTooLong));
    }

    #[test]
    fn framer_discards_long_lines() {
        let mut f = LineFramer::default();
        let big = vec![b'x'; MAX_LINE + 2];
        assert_eq!(f.next(&big), (None, big.len()));
        assert_eq!(f.next(b"x\r\nPING\r\n"), (Some(Frame::TooLong), 3));
        assert_eq!(f.next(b"PING\r\n"), (Some(Frame::Line(b"PING")), 6));
    }
}
