//! The midb request parser (sans-I/O; fuzzed by `fuzz/fuzz_targets/request.rs`). Syntax in
//! `PROTOCOL.md`: one line of space-separated, percent-encoded arguments.

use gromox_clients::midb::wire::{decode_arg, parse_uids};
use gromox_clients::midb::FlagMode;

/// Longest request line (without CRLF); 10,000 UIDs as a UID set fit easily.
pub const MAX_LINE: usize = 256 * 1024;
/// Largest APPEND literal.
pub const MAX_APPEND: usize = 64 * 1024 * 1024;
/// Most flags in one request.
pub const MAX_FLAGS: usize = 256;

/// UID ranges, ascending and merged.
pub type Uids = Vec<(u32, u32)>;

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Ping,
    Quit,
    List {
        maildir: String,
    },
    Status {
        maildir: String,
        folder: String,
    },
    Select {
        maildir: String,
        folder: String,
    },
    FetchMeta {
        maildir: String,
        folder: String,
        uids: Uids,
        /// `NOSYNC`: answer from the index without probing the store first (the client
        /// synchronised the folder a moment ago, e.g. for an earlier batch of one FETCH).
        nosync: bool,
    },
    FetchMime {
        maildir: String,
        folder: String,
        uid: u32,
    },
    SetFlags {
        maildir: String,
        folder: String,
        uids: Uids,
        mode: FlagMode,
        flags: Vec<String>,
    },
    Changes {
        maildir: String,
        folder: String,
        modseq: u64,
    },
    /// `uids: None` = every `\Deleted` message.
    Expunge {
        maildir: String,
        folder: String,
        uids: Option<Uids>,
    },
    Remove {
        maildir: String,
        folder: String,
        uids: Uids,
    },
    Copy {
        maildir: String,
        folder: String,
        uids: Uids,
        dest: String,
        is_move: bool,
    },
    /// The `len` octets of the message follow the line.
    Append {
        maildir: String,
        folder: String,
        date: Option<i64>,
        flags: Vec<String>,
        len: usize,
    },
    Create {
        maildir: String,
        folder: String,
    },
    Delete {
        maildir: String,
        folder: String,
    },
    Rename {
        maildir: String,
        from: String,
        to: String,
    },
    Subscribe {
        maildir: String,
        folder: String,
        on: bool,
    },
    Rebuild {
        maildir: String,
    },
    /// UIDs removed after a mod-sequence (QRESYNC's VANISHED (EARLIER)).
    Vanished {
        maildir: String,
        folder: String,
        modseq: u64,
    },
    /// The mailbox's storage use and limit.
    Quota {
        maildir: String,
    },
    /// The store-level rights a user holds on the mailbox (impersonation checks).
    Rights {
        maildir: String,
        user: String,
    },
}

impl Request {
    /// The command word (for logs and metrics).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Ping => "PING",
            Request::Quit => "QUIT",
            Request::List { .. } => "LIST",
            Request::Status { .. } => "STATUS",
            Request::Select { .. } => "SELECT",
            Request::FetchMeta { .. } => "FETCH-META",
            Request::FetchMime { .. } => "FETCH-MIME",
            Request::SetFlags { .. } => "SET-FLAGS",
            Request::Changes { .. } => "CHANGES",
            Request::Expunge { .. } => "EXPUNGE",
            Request::Remove { .. } => "REMOVE",
            Request::Copy { is_move: false, .. } => "COPY",
            Request::Copy { is_move: true, .. } => "MOVE",
            Request::Append { .. } => "APPEND",
            Request::Create { .. } => "CREATE",
            Request::Delete { .. } => "DELETE",
            Request::Rename { .. } => "RENAME",
            Request::Subscribe { .. } => "SUBSCRIBE",
            Request::Rebuild { .. } => "REBUILD",
            Request::Vanished { .. } => "VANISHED",
            Request::Quota { .. } => "QUOTA",
            Request::Rights { .. } => "RIGHTS",
        }
    }
}

/// Command words the server knows.
pub const COMMANDS: &[&str] = &[
    "PING",
    "QUIT",
    "LIST",
    "STATUS",
    "SELECT",
    "FETCH-META",
    "FETCH-MIME",
    "SET-FLAGS",
    "CHANGES",
    "EXPUNGE",
    "REMOVE",
    "COPY",
    "MOVE",
    "APPEND",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "REBUILD",
    "VANISHED",
    "QUOTA",
    "RIGHTS",
];

fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 20 {
        return Err(format!("bad {what}"));
    }
    s.parse().map_err(|_| format!("bad {what}"))
}

/// Parse one request line (without its line end).
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let line = std::str::from_utf8(line).map_err(|_| "request is not UTF-8".to_string())?;
    let mut words = line.split(' ');
    let cmd = words.next().unwrap_or("").to_ascii_uppercase();
    let args: Vec<&str> = words.collect();
    let want = |n: usize| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("{cmd} takes {n} arguments"))
        }
    };
    let at_least = |n: usize| -> Result<(), String> {
        if args.len() >= n {
            Ok(())
        } else {
            Err(format!("{cmd} takes at least {n} arguments"))
        }
    };
    let s = |i: usize| decode_arg(args[i]);
    let uids = |i: usize| -> Result<Uids, String> { parse_uids(args[i]) };
    let flags = |from: usize, to: usize| -> Result<Vec<String>, String> {
        if to - from > MAX_FLAGS {
            return Err("too many flags".into());
        }
        args[from..to].iter().map(|a| decode_arg(a)).collect()
    };
    Ok(match cmd.as_str() {
        "PING" => {
            want(0)?;
            Request::Ping
        }
        "QUIT" => {
            want(0)?;
            Request::Quit
        }
        "LIST" => {
            want(1)?;
            Request::List { maildir: s(0)? }
        }
        "REBUILD" => {
            want(1)?;
            Request::Rebuild { maildir: s(0)? }
        }
        "QUOTA" => {
            want(1)?;
            Request::Quota { maildir: s(0)? }
        }
        "RIGHTS" => {
            want(2)?;
            Request::Rights {
                maildir: s(0)?,
                user: s(1)?,
            }
        }
        "VANISHED" => {
            want(3)?;
            Request::Vanished {
                maildir: s(0)?,
                folder: s(1)?,
                modseq: num(args[2], "modseq")?,
            }
        }
        "STATUS" | "SELECT" | "CREATE" | "DELETE" => {
            want(2)?;
            let (maildir, folder) = (s(0)?, s(1)?);
            match cmd.as_str() {
                "STATUS" => Request::Status { maildir, folder },
                "SELECT" => Request::Select { maildir, folder },
                "CREATE" => Request::Create { maildir, folder },
                _ => Request::Delete { maildir, folder },
            }
        }
        "FETCH-META" => {
            let nosync = args.len() == 4 && args[3].eq_ignore_ascii_case("NOSYNC");
            if !nosync {
                want(3)?;
            }
            Request::FetchMeta {
                maildir: s(0)?,
                folder: s(1)?,
                uids: uids(2)?,
                nosync,
            }
        }
        "FETCH-MIME" => {
            want(3)?;
            let uid = num::<u32>(args[2], "UID")?;
            if uid == 0 {
                return Err("bad UID".into());
            }
            Request::FetchMime {
                maildir: s(0)?,
                folder: s(1)?,
                uid,
            }
        }
        "SET-FLAGS" => {
            at_least(4)?;
            let mode = FlagMode::parse(args[3]).ok_or("bad flag mode")?;
            Request::SetFlags {
                maildir: s(0)?,
                folder: s(1)?,
                uids: uids(2)?,
                mode,
                flags: flags(4, args.len())?,
            }
        }
        "CHANGES" => {
            want(3)?;
            Request::Changes {
                maildir: s(0)?,
                folder: s(1)?,
                modseq: num(args[2], "modseq")?,
            }
        }
        "EXPUNGE" => {
            want(3)?;
            let uids = if args[2] == "ALL" { None } else { Some(uids(2)?) };
            Request::Expunge {
                maildir: s(0)?,
                folder: s(1)?,
                uids,
            }
        }
        "REMOVE" => {
            want(3)?;
            Request::Remove {
                maildir: s(0)?,
                folder: s(1)?,
                uids: uids(2)?,
            }
        }
        "COPY" | "MOVE" => {
            want(4)?;
            Request::Copy {
                maildir: s(0)?,
                folder: s(1)?,
                uids: uids(2)?,
                dest: s(3)?,
                is_move: cmd == "MOVE",
            }
        }
        "APPEND" => {
            at_least(4)?;
            let last = args[args.len() - 1];
            let len: usize = last
                .strip_prefix('{')
                .and_then(|x| x.strip_suffix('}'))
                .ok_or("APPEND needs a {N} literal last")
                .and_then(|x| num(x, "literal length").map_err(|_| "bad literal length"))?;
            if len > MAX_APPEND {
                return Err("message too large".into());
            }
            let date = match args[2] {
                "-" => None,
                d => {
                    let (neg, digits) = d.strip_prefix('-').map_or((false, d), |x| (true, x));
                    let v: i64 = num(digits, "date")?;
                    Some(if neg { -v } else { v })
                }
            };
            Request::Append {
                maildir: s(0)?,
                folder: s(1)?,
                date,
                flags: flags(3, args.len() - 1)?,
                len,
            }
        }
        "RENAME" => {
            want(3)?;
            Request::Rename {
                maildir: s(0)?,
                from: s(1)?,
                to: s(2)?,
            }
        }
        "SUBSCRIBE" => {
            want(3)?;
            let on = match args[2] {
                "1" => true,
                "0" => false,
                _ => return Err("SUBSCRIBE takes 1 or 0".into()),
            };
            Request::Subscribe {
                maildir: s(0)?,
                folder: s(1)?,
                on,
            }
        }
        "" => return Err("empty request".into()),
        _ => return Err("unknown command".into()),
    })
}

/// Fuzz entry point: frame `data` into lines as the server does and parse each; a parsed
/// request's arguments must survive re-encoding.
pub fn fuzz_request(data: &[u8]) {
    let mut framer = gromox_runtime::line::LineFramer::<MAX_LINE>::default();
    let mut rest = data;
    loop {
        let (frame, n) = framer.next(rest);
        if let Some(gromox_runtime::line::Frame::Line(l)) = frame {
            if let Ok(Request::Status { maildir, folder }) = parse_request(l) {
                use gromox_clients::midb::wire::enc;
                let again = format!("STATUS {} {}", enc(&maildir), enc(&folder));
                assert_eq!(
                    parse_request(again.as_bytes()),
                    Ok(Request::Status { maildir, folder }),
                    "re-encoded request differs"
                );
            }
        }
        if n == 0 {
            break;
        }
        rest = &rest[n..];
    }
}

/// Fuzz entry point for the client's answer parsers (records and final lines).
pub fn fuzz_answer(data: &[u8]) {
    use gromox_clients::midb::wire;
    let Ok(s) = std::str::from_utf8(data) else { return };
    for line in s.split("\r\n") {
        let _ = wire::parse_final(line);
        let _ = wire::parse_uids(line);
        let _ = wire::parse_folder(line);
        if let Ok(m) = wire::parse_meta(line) {
            let mut again = String::new();
            wire::encode_meta(&m, &mut again);
            assert_eq!(wire::parse_meta(&again).ok(), Some(m), "message record round trip");
        }
        if let Ok(st) = wire::parse_status(line) {
            let mut again = String::new();
            wire::encode_status(&st, &mut again);
            assert_eq!(wire::parse_status(&again).ok(), Some(st), "status record round trip");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        assert_eq!(parse_request(b"PING").unwrap(), Request::Ping);
        assert_eq!(
            parse_request(b"status /var/m Sent%20Items").unwrap(),
            Request::Status {
                maildir: "/var/m".into(),
                folder: "Sent Items".into()
            }
        );
        assert_eq!(
            parse_request(b"FETCH-META /m INBOX 1:3,5").unwrap(),
            Request::FetchMeta {
                maildir: "/m".into(),
                folder: "INBOX".into(),
                uids: vec![(1, 3), (5, 5)],
                nosync: false
            }
        );
        assert_eq!(
            parse_request(b"FETCH-META /m INBOX 7 nosync").unwrap(),
            Request::FetchMeta {
                maildir: "/m".into(),
                folder: "INBOX".into(),
                uids: vec![(7, 7)],
                nosync: true
            }
        );
        assert!(parse_request(b"FETCH-META /m INBOX 7 LATER").is_err());
        assert_eq!(
            parse_request(b"RIGHTS /m bob@example.org").unwrap(),
            Request::Rights {
                maildir: "/m".into(),
                user: "bob@example.org".into()
            }
        );
        assert!(parse_request(b"RIGHTS /m").is_err());
        assert_eq!(
            parse_request(b"SET-FLAGS /m INBOX 2 ADD \\Seen $Label1").unwrap(),
            Request::SetFlags {
                maildir: "/m".into(),
                folder: "INBOX".into(),
                uids: vec![(2, 2)],
                mode: FlagMode::Add,
                flags: vec!["\\Seen".into(), "$Label1".into()]
            }
        );
        assert_eq!(
            parse_request(b"APPEND /m INBOX - {12}").unwrap(),
            Request::Append {
                maildir: "/m".into(),
                folder: "INBOX".into(),
                date: None,
                flags: vec![],
                len: 12
            }
        );
        assert_eq!(
            parse_request(b"EXPUNGE /m INBOX ALL").unwrap(),
            Request::Expunge {
                maildir: "/m".into(),
                folder: "INBOX".into(),
                uids: None
            }
        );
    }

    #[test]
    fn refuses_bad_requests() {
        for bad in [
            &b""[..],
            b"NOPE",
            b"PING x",
            b"STATUS /m",
            b"FETCH-MIME /m INBOX 0",
            b"FETCH-MIME /m INBOX 99999999999",
            b"SET-FLAGS /m INBOX 1 TOGGLE \\Seen",
            b"APPEND /m INBOX - 12",
            b"APPEND /m INBOX - {999999999999}",
            b"APPEND /m INBOX x {1}",
            b"STATUS /m %ZZ",
            b"STATUS /m \xff",
            b"SUBSCRIBE /m INBOX yes",
            b"FETCH-META /m INBOX 5:0",
        ] {
            assert!(parse_request(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
