//! Entry points for the fuzz targets in `imapd/fuzz` (also run over the seed corpus by
//! `cargo test`). They must never panic, whatever the input.

use std::net::SocketAddr;
use std::sync::Arc;

use gromox_runtime::{ConnHandle, ConnInfo, Cx, Next, Session};

use crate::framer::{Frame, Framer, Limits};
use crate::memstore::MemStore;
use crate::parser::parse_command;
use crate::session::{Config, ImapSession};

fn small_limits() -> Limits {
    Limits {
        line_max: 4096,
        literal_max: 64 * 1024,
        command_max: 256 * 1024,
        depth_max: 16,
    }
}

/// Frame `data` (fed in uneven pieces) and parse every command; returns how many commands
/// parsed. Exercises the framer's incremental paths and the whole command grammar.
pub fn command(data: &[u8]) -> usize {
    let limits = small_limits();
    let mut f = Framer::new(limits);
    let mut ok = 0;
    let mut pos = 0;
    let mut step = 1;
    while pos < data.len() {
        let end = (pos + step).min(data.len());
        let mut chunk = &data[pos..end];
        pos = end;
        step = step % 37 + 7;
        while !chunk.is_empty() {
            let (n, ev) = f.feed(chunk);
            chunk = &chunk[n..];
            if ev == Frame::Command {
                let buf = f.take_command();
                if parse_command(&buf, &limits).is_ok() {
                    ok += 1;
                }
                f.recycle(buf);
            }
            if matches!(ev, Frame::Fatal(_)) {
                return ok;
            }
            if n == 0 && ev == Frame::Incomplete {
                break;
            }
        }
    }
    // Also parse the raw input as one command, so seeds reach the parser unframed.
    if parse_command(data, &limits).is_ok() {
        ok += 1;
    }
    ok
}

/// Run a whole session (logged in as `bob` with two messages in INBOX) over `data`;
/// returns the bytes written.
pub fn session(data: &[u8]) -> usize {
    let store = MemStore::new();
    store.add_user("bob", "secret");
    store.deliver(
        "bob",
        "INBOX",
        &["\\Seen"],
        b"From: a@b.c\r\nSubject: x\r\n\r\nhello\r\n",
    );
    store.deliver(
        "bob",
        "INBOX",
        &[],
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ntwo\r\n--b--\r\n",
    );
    let cfg = Config {
        limits: small_limits(),
        out_chunk: 4096,
        ..Config::default()
    };
    let peer: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 1));
    let info = ConnInfo {
        id: 1,
        peer,
        local: peer,
        implicit_tls: false,
        listener: "fuzz",
    };
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let mut s = ImapSession::new(Arc::new(store), Arc::new(cfg), log, peer);
    let mut out = Vec::new();
    let mut total = 0;
    let mut run = |s: &mut ImapSession<MemStore>,
                   f: &mut dyn FnMut(&mut ImapSession<MemStore>, &mut Cx<'_>) -> Next| {
        out.clear();
        let mut cx = Cx {
            out: &mut out,
            info: &info,
            tls_active: false,
            idle_timeout: None,
            handle: ConnHandle::detached(),
        };
        let n = f(s, &mut cx);
        total += out.len();
        n
    };
    run(&mut s, &mut |s, cx| s.connected(cx));
    let mut input: Vec<u8> = b"l LOGIN bob secret\r\n".to_vec();
    input.extend_from_slice(data);
    let mut pos = 0;
    let mut rounds = 0;
    while pos < input.len() && rounds < 10_000 {
        rounds += 1;
        let mut consumed = 0;
        let rest = &input[pos..];
        let mut next = run(&mut s, &mut |s, cx| {
            let (n, nx) = s.input(rest, cx);
            consumed = n.min(rest.len());
            nx
        });
        pos += consumed;
        while next == Next::Write && rounds < 10_000 {
            rounds += 1;
            next = run(&mut s, &mut |s, cx| s.writable(cx));
        }
        if next == Next::Close || (consumed == 0 && next == Next::Read) {
            break;
        }
    }
    s.closed();
    total
}

/// Run every message-level decoder on `data` as an RFC 5322 message: MIME tree, every
/// section, ENVELOPE, BODYSTRUCTURE, transfer decodings, RFC 2047 words, dates, message ids,
/// base subjects. Returns the bytes produced.
pub fn mime(data: &[u8]) -> usize {
    use crate::command::{Section, SectionText};
    let root = crate::mime::parse(data);
    let mut out = Vec::new();
    crate::mime::envelope(&data[root.header.clone()]).write(&mut out);
    crate::mime::body_structure(data, &root).write(&mut out, true);
    crate::mime::body_structure(data, &root).write(&mut out, false);
    let mut paths: Vec<Vec<u32>> = vec![vec![]];
    for a in 1..4 {
        paths.push(vec![a]);
        for b in 1..3 {
            paths.push(vec![a, b]);
        }
    }
    for p in paths {
        for text in [
            None,
            Some(SectionText::Header),
            Some(SectionText::Text),
            Some(SectionText::Mime),
            Some(SectionText::HeaderFields(vec!["subject".into(), "from".into()])),
            Some(SectionText::HeaderFieldsNot(vec!["received".into()])),
        ] {
            if p.is_empty() && text == Some(SectionText::Mime) {
                continue;
            }
            let sec = Section { part: p.clone(), text };
            if let Some(d) = crate::mime::section(data, &root, &sec) {
                out.extend_from_slice(&d);
            }
        }
        if let Some(part) = crate::mime::resolve(&root, &p) {
            let enc = crate::mime::transfer_encoding(data, part);
            if let Some(d) = crate::mime::decode_cte(&data[part.body.clone()], &enc) {
                out.extend_from_slice(&d);
            }
        }
    }
    let h = &data[root.header.clone()];
    for name in ["subject", "date", "message-id", "references", "in-reply-to", "from"] {
        if let Some(v) = crate::mime::header_value(h, name) {
            out.extend_from_slice(crate::sort::base_subject(&v).as_bytes());
            out.extend_from_slice(crate::sort::decode_2047(&v).as_bytes());
            let _ = crate::sort::parse_date(&v);
            let _ = crate::sort::subject_is_reply(&v);
            for id in crate::sort::msg_ids(&v) {
                out.extend_from_slice(id.as_bytes());
            }
        }
    }
    out.len()
}
