//! imapd benchmarks: command parsing, literal framing, and FETCH streaming over a large
//! folder through the session (output drained after every call, as the runtime does).
//!
//! Run: `cargo bench -p imapd --bench codec` (add `-- N` for the folder size, default 50000).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use gromox_runtime::{ConnHandle, ConnInfo, Cx, Next, Session};
use imapd::framer::{Frame, Framer, Limits};
use imapd::memstore::MemStore;
use imapd::parser::parse_command;
use imapd::session::{Config, ImapSession};

fn bench_parse() {
    let limits = Limits::default();
    let cmds: [&[u8]; 3] = [
        b"a123 UID FETCH 1:*,7,9:12 (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID)])\r\n",
        b"a124 UID SEARCH RETURN (ALL) CHARSET UTF-8 OR (FROM \"alice\" SINCE 1-Jan-2024) UNSEEN NOT DELETED\r\n",
        b"a125 UID STORE 1:500 +FLAGS.SILENT (\\Seen \\Flagged $Work)\r\n",
    ];
    let n = 300_000;
    let t = Instant::now();
    let mut ok = 0;
    for i in 0..n {
        if parse_command(cmds[i % 3], &limits).is_ok() {
            ok += 1;
        }
    }
    let el = t.elapsed();
    assert_eq!(ok, n);
    println!(
        "parse_command: {n} commands in {:.3} s = {:.0} ns/command",
        el.as_secs_f64(),
        el.as_nanos() as f64 / n as f64
    );
}

fn bench_framer() {
    let size = 32 * 1024 * 1024;
    let mut data = format!("a APPEND INBOX {{{size}+}}\r\n").into_bytes();
    data.extend(std::iter::repeat_n(b'x', size));
    data.extend_from_slice(b"\r\n");
    let mut f = Framer::new(Limits::default());
    let t = Instant::now();
    let mut pos = 0;
    let mut done = false;
    while pos < data.len() {
        let end = (pos + 64 * 1024).min(data.len());
        let (n, ev) = f.feed(&data[pos..end]);
        pos += n;
        if ev == Frame::Command {
            done = true;
        }
    }
    let el = t.elapsed();
    assert!(done);
    println!(
        "framer: 32 MiB literal in 64 KiB reads: {:.3} s = {:.0} MiB/s",
        el.as_secs_f64(),
        32.0 / el.as_secs_f64()
    );
}

fn bench_fetch(n: usize) {
    let store = MemStore::new();
    store.add_user("bob", "secret");
    for i in 0..n {
        let m = format!(
            "From: Sender {i} <s{i}@example.org>\r\nTo: bob@example.org\r\nSubject: message number {i}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <{i}@example.org>\r\n\r\nBody of message {i}.\r\n"
        );
        store.deliver("bob", "INBOX", if i % 2 == 0 { &["\\Seen"] } else { &[] }, m.as_bytes());
    }
    let rss0 = gromox_runtime::sys::rss_kib().unwrap_or(0);
    let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let info = ConnInfo {
        id: 1,
        peer,
        local: peer,
        implicit_tls: false,
        listener: "bench",
    };
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let mut s = ImapSession::new(Arc::new(store), Arc::new(Config::default()), log, peer);
    let mut out = Vec::new();
    let mut call = |s: &mut ImapSession<MemStore>,
                    f: &mut dyn FnMut(&mut ImapSession<MemStore>, &mut Cx<'_>) -> Next|
     -> (Next, usize) {
        out.clear();
        let mut cx = Cx {
            out: &mut out,
            info: &info,
            tls_active: false,
            idle_timeout: None,
            handle: ConnHandle::detached(),
        };
        let r = f(s, &mut cx);
        (r, out.len())
    };
    call(&mut s, &mut |s, cx| s.connected(cx));
    for cmd in [&b"l LOGIN bob secret\r\n"[..], b"s SELECT INBOX\r\n"] {
        call(&mut s, &mut |s, cx| s.input(cmd, cx).1);
    }
    for (name, cmd) in [
        ("FLAGS+SIZE", &b"f UID FETCH 1:* (UID FLAGS RFC822.SIZE)\r\n"[..]),
        ("ENVELOPE", b"f UID FETCH 1:* (UID FLAGS ENVELOPE)\r\n"),
        ("BODY.PEEK[]", b"f UID FETCH 1:* (BODY.PEEK[])\r\n"),
    ] {
        let t = Instant::now();
        let (mut next, mut total) = call(&mut s, &mut |s, cx| s.input(cmd, cx).1);
        let mut max_out = total;
        while next == Next::Write {
            let (nx, len) = call(&mut s, &mut |s, cx| s.writable(cx));
            next = nx;
            total += len;
            max_out = max_out.max(len);
        }
        let el = t.elapsed();
        println!(
            "fetch {name}: {n} messages in {:.3} s = {:.0} msg/s, {:.1} MB out, largest output per call {} KiB",
            el.as_secs_f64(),
            n as f64 / el.as_secs_f64(),
            total as f64 / 1e6,
            max_out / 1024
        );
    }
    let rss1 = gromox_runtime::sys::rss_kib().unwrap_or(0);
    println!(
        "rss: {} MiB after loading the store, {} MiB after the fetches",
        rss0 / 1024,
        rss1 / 1024
    );
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(50_000);
    bench_parse();
    bench_framer();
    bench_fetch(n);
}
