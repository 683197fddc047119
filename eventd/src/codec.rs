//! The event protocol's codec: line framing with a hard size cap, and the command parser.
//!
//! Pure functions, no I/O: [`LineFramer`] cuts CRLF (or bare LF) terminated lines out of a byte
//! buffer and reports over-long lines as one [`Frame::TooLong`] each; [`parse_command`] turns
//! one line into a [`Command`]. Frame first, parse second (DESIGN.md §8).

use std::fmt;

/// Longest accepted command line, without its line ending. Gromox's events are a word, a user
/// name, a folder name and a number; 4 KiB leaves ample room.
pub const MAX_LINE: usize = 4096;
/// Longest accepted user name (bytes).
pub const MAX_USER: usize = 320;
/// Longest accepted folder name (bytes).
pub const MAX_FOLDER: usize = 1024;
/// Longest accepted resource id (`ID`/`LISTEN` argument), as Gromox's buffer.
pub const MAX_ID: usize = 256;

pub use gromox_runtime::line::Frame;

/// Cuts lines of at most [`MAX_LINE`] bytes out of buffered input (the shared framer of the
/// text protocols, `gromox_runtime::line`).
pub type LineFramer = gromox_runtime::line::LineFramer<MAX_LINE>;

/// The kinds of notification Gromox's event bus carries (event(8gx), "Partially parsed
/// commands").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `FOLDER-TOUCH <user> <folder>`: folder contents or metadata changed (new mail too).
    FolderTouch,
    /// `MESSAGE-FLAG <user> <folder> <messageid>`: legacy form of a flag change.
    MessageFlag,
    /// `MESSAGE-UFLAG <user> <folder> <imapuid>`: message flags changed.
    MessageUflag,
    /// `MESSAGE-EXPUNGE <user> <folder> <imapuid>`: message deleted.
    MessageExpunge,
}

impl EventKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::FolderTouch => "FOLDER-TOUCH",
            EventKind::MessageFlag => "MESSAGE-FLAG",
            EventKind::MessageUflag => "MESSAGE-UFLAG",
            EventKind::MessageExpunge => "MESSAGE-EXPUNGE",
        }
    }

    /// Parse a wire name (case-insensitive).
    pub fn from_name(s: &str) -> Option<EventKind> {
        [
            EventKind::FolderTouch,
            EventKind::MessageFlag,
            EventKind::MessageUflag,
            EventKind::MessageExpunge,
        ]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

/// A notification as broadcast and delivered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The mailbox owner, as sent (matching is case-insensitive).
    pub user: String,
    /// The folder (case-sensitive).
    pub folder: String,
    /// The message id/UID for message events.
    pub arg: Option<String>,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.kind.as_str(), self.user, self.folder)?;
        if let Some(a) = &self.arg {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// One client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `ID <res_id>`: name this (sending) connection.
    Id(String),
    /// `LISTEN <res_id>`: turn this connection into a listener for `res_id`.
    Listen(String),
    /// `SELECT <user> <folder>`: subscribe this connection's id to a folder.
    Select {
        /// User name.
        user: String,
        /// Folder name.
        folder: String,
    },
    /// `UNSELECT <user> <folder>`.
    Unselect {
        /// User name.
        user: String,
        /// Folder name.
        folder: String,
    },
    /// `PING`.
    Ping,
    /// `QUIT`.
    Quit,
    /// A notification to broadcast.
    Event(Event),
}

/// Why a line was refused (the client sees `FALSE`; the reason is logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not UTF-8, or contains control characters.
    #[error("line is not printable UTF-8")]
    NotText,
    /// Empty line.
    #[error("empty line")]
    Empty,
    /// Unknown command word.
    #[error("unknown command")]
    UnknownCommand,
    /// Wrong number of arguments.
    #[error("wrong number of arguments")]
    Arity,
    /// An argument is too long or malformed.
    #[error("bad argument: {0}")]
    BadArgument(&'static str),
}

fn check_user(u: &str) -> Result<(), ParseError> {
    if u.len() > MAX_USER {
        return Err(ParseError::BadArgument("user name too long"));
    }
    Ok(())
}

fn check_folder(f: &str) -> Result<(), ParseError> {
    if f.len() > MAX_FOLDER {
        return Err(ParseError::BadArgument("folder name too long"));
    }
    Ok(())
}

fn check_id(id: &str) -> Result<(), ParseError> {
    if id.len() > MAX_ID {
        return Err(ParseError::BadArgument("id too long"));
    }
    Ok(())
}

/// Parse one command line (without line ending). Command words are case-insensitive; fields
/// are separated by one or more spaces. The `ID`/`LISTEN` argument is one word.
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotText)?;
    if line.chars().any(|c| c.is_control()) {
        return Err(ParseError::NotText);
    }
    let fields: Vec<&str> = line.split(' ').filter(|s| !s.is_empty()).collect();
    let Some((&word, args)) = fields.split_first() else {
        return Err(ParseError::Empty);
    };
    let upper = word.to_ascii_uppercase();
    match upper.as_str() {
        "ID" | "LISTEN" => {
            let [id] = args else {
                return Err(ParseError::Arity);
            };
            check_id(id)?;
            Ok(if upper == "ID" {
                Command::Id(id.to_string())
            } else {
                Command::Listen(id.to_string())
            })
        }
        "SELECT" | "UNSELECT" => {
            let [user, folder] = args else {
                return Err(ParseError::Arity);
            };
            check_user(user)?;
            check_folder(folder)?;
            let (user, folder) = (user.to_string(), folder.to_string());
            Ok(if upper == "SELECT" {
                Command::Select { user, folder }
            } else {
                Command::Unselect { user, folder }
            })
        }
        "PING" if args.is_empty() => Ok(Command::Ping),
        "QUIT" if args.is_empty() => Ok(Command::Quit),
        "PING" | "QUIT" => Err(ParseError::Arity),
        _ => {
            let kind = EventKind::from_name(word).ok_or(ParseError::UnknownCommand)?;
            let (user, folder, arg) = match (kind, args) {
                (EventKind::FolderTouch, [u, f]) => (u, f, None),
                (EventKind::MessageFlag, [u, f, a]) => (u, f, Some(*a)),
                (EventKind::MessageUflag | EventKind::MessageExpunge, [u, f, a]) => {
                    if a.is_empty() || a.len() > 20 || !a.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(ParseError::BadArgument("UID is not a number"));
                    }
                    (u, f, Some(*a))
                }
                _ => return Err(ParseError::Arity),
            };
            check_user(user)?;
            check_folder(folder)?;
            if arg.is_some_and(|a| a.len() > MAX_ID) {
                return Err(ParseError::BadArgument("message id too long"));
            }
            Ok(Command::Event(Event {
                kind,
                user: user.to_string(),
                folder: folder.to_string(),
                arg: arg.map(str::to_string),
            }))
        }
    }
}

/// The key a selection is stored under: lower-cased user, then the folder as given.
pub fn selection_key(user: &str, folder: &str) -> String {
    format!("{}:{}", user.to_lowercase(), folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gromox_commands() {
        assert_eq!(parse_command(b"ID host:123"), Ok(Command::Id("host:123".into())));
        assert_eq!(parse_command(b"listen h:1"), Ok(Command::Listen("h:1".into())));
        assert_eq!(
            parse_command(b"SELECT Alice@Example.org inbox"),
            Ok(Command::Select {
                user: "Alice@Example.org".into(),
                folder: "inbox".into()
            })
        );
        assert_eq!(parse_command(b"ping"), Ok(Command::Ping));
        assert_eq!(parse_command(b"QUIT"), Ok(Command::Quit));
        let Ok(Command::Event(e)) = parse_command(b"message-expunge a@b.c 1234 77") else {
            panic!()
        };
        assert_eq!(e.to_string(), "MESSAGE-EXPUNGE a@b.c 1234 77");
        let Ok(Command::Event(e)) = parse_command(b"FOLDER-TOUCH a@b.c inbox") else {
            panic!()
        };
        assert_eq!((e.kind, e.arg), (EventKind::FolderTouch, None));
    }

    #[test]
    fn refuses_bad_lines() {
        assert_eq!(parse_command(b""), Err(ParseError::Empty));
        assert_eq!(parse_command(b"HELLO world"), Err(ParseError::UnknownCommand));
        assert_eq!(parse_command(b"ID"), Err(ParseError::Arity));
        assert_eq!(parse_command(b"ID a b"), Err(ParseError::Arity));
        assert_eq!(parse_command(b"SELECT a"), Err(ParseError::Arity));
        assert_eq!(parse_command(b"FOLDER-TOUCH a"), Err(ParseError::Arity));
        assert_eq!(parse_command(b"PING x"), Err(ParseError::Arity));
        assert!(matches!(
            parse_command(b"MESSAGE-UFLAG a f x1"),
            Err(ParseError::BadArgument(_))
        ));
        assert_eq!(parse_command(b"PING\x00"), Err(ParseError::NotText));
        assert_eq!(parse_command(b"\xff\xfe"), Err(ParseError::NotText));
        let long_user = format!("SELECT {} inbox", "u".repeat(MAX_USER + 1));
        assert!(matches!(
            parse_command(long_user.as_bytes()),
            Err(ParseError::BadArgument(_))
        ));
    }

    #[test]
    fn framer_cuts_lines_and_discards_long_ones() {
        let mut f = LineFramer::default();
        assert_eq!(f.next(b"PING\r\nQU"), (Some(Frame::Line(b"PING")), 6));
        assert_eq!(f.next(b"QU"), (None, 0));
        assert_eq!(f.next(b"QUIT\n"), (Some(Frame::Line(b"QUIT")), 5));
        let big = vec![b'x'; MAX_LINE + 10];
        assert_eq!(f.next(&big), (None, big.len()));
        assert_eq!(f.next(b"xxx"), (None, 3));
        assert_eq!(f.next(b"xx\r\nPING\r\n"), (Some(Frame::TooLong), 4));
        assert_eq!(f.next(b"PING\r\n"), (Some(Frame::Line(b"PING")), 6));
        // A complete over-long line in one buffer.
        let mut one = vec![b'y'; MAX_LINE + 1];
        one.extend_from_slice(b"\r\n");
        assert_eq!(f.next(&one), (Some(Frame::TooLong), one.len()));
        // Exactly MAX_LINE is fine, with CRLF arriving later.
        let exact = vec![b'z'; MAX_LINE];
        let mut g = LineFramer::default();
        let mut with_cr = exact.clone();
        with_cr.push(b'\r');
        assert_eq!(g.next(&with_cr), (None, 0));
        with_cr.push(b'\n');
        assert_eq!(g.next(&with_cr), (Some(Frame::Line(&exact)), MAX_LINE + 2));
    }

    #[test]
    fn selection_keys_fold_user_case_only() {
        assert_eq!(selection_key("Alice@EXAMPLE.org", "Inbox"), "alice@example.org:Inbox");
    }
}
