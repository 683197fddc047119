//! The HTTP session driven without sockets: bytes in, bytes out.

use std::sync::Arc;

use gromox_runtime::{ConnHandle, ConnInfo, Cx, Next, Session};
use httpd::auth::{MemUsers, UserInfo};
use httpd::session::HttpSession;

fn session(extra: &[(&str, &str)]) -> HttpSession {
    let spec = httpd::config::spec();
    let mut cfg = gromox_base::Config::defaults("httpd", &spec.keys);
    cfg.set("config_file_path", "/nonexistent").unwrap();
    cfg.set("http_external_host", "mail.example.org").unwrap();
    for (k, v) in extra {
        cfg.set(k, v).unwrap();
    }
    let mut users = MemUsers::new();
    users.add(
        UserInfo {
            email: "alice@example.org".into(),
            display_name: "Alice".into(),
            id: 7,
            server: String::new(),
        },
        "pw",
    );
    let app = httpd::config::build_app(&cfg, Some(Arc::new(users)), &gromox_base::log::discard()).unwrap();
    let info = ConnInfo {
        id: 1,
        peer: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:80".parse().unwrap(),
        implicit_tls: false,
        listener: "http_listen",
    };
    HttpSession::new(Arc::new(app), &info)
}

/// Feed `input` in pieces of `step` bytes the way the runtime does (unconsumed bytes are
/// offered again with more); returns all output and the last `Next`.
fn drive(s: &mut HttpSession, input: &[u8], step: usize) -> (Vec<u8>, Next) {
    let info = ConnInfo {
        id: 1,
        peer: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:80".parse().unwrap(),
        implicit_tls: false,
        listener: "http_listen",
    };
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut next = Next::Read;
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            let mut cx = Cx {
                out: &mut out,
                info: &info,
                tls_active: false,
                idle_timeout: None,
                handle: ConnHandle::detached(),
            };
            let (n, nx) = s.input(&buf, &mut cx);
            buf.drain(..n);
            next = nx;
            while next == Next::Write {
                let mut cx = Cx {
                    out: &mut out,
                    info: &info,
                    tls_active: false,
                    idle_timeout: None,
                    handle: ConnHandle::detached(),
                };
                next = s.writable(&mut cx);
            }
            if n == 0 || buf.is_empty() || next == Next::Close {
                break;
            }
        }
        if next == Next::Close {
            break;
        }
    }
    (out, next)
}

fn strip_dates(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .lines()
        .filter(|l| !l.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn byte_at_a_time_equals_all_at_once() {
    let input = b"GET /autodiscover/autodiscover.json?Email=a@b.c&Protocol=EWS HTTP/1.1\r\nHost: h\r\n\r\n\
POST /autodiscover/autodiscover.json/v1.0/a@b.c?Protocol=ActiveSync HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n\
GET /nothing HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let (whole, n1) = drive(&mut session(&[]), input, input.len());
    let (bytes, n2) = drive(&mut session(&[]), input, 1);
    assert_eq!(strip_dates(&whole), strip_dates(&bytes));
    assert_eq!((n1, n2), (Next::Close, Next::Close));
    let text = strip_dates(&whole);
    let statuses: Vec<&str> = text.split("HTTP/1.1 ").skip(1).map(|s| &s[..3]).collect();
    assert_eq!(statuses, ["200", "200", "404"], "{text}");
    assert!(text.contains("Microsoft-Server-ActiveSync"));
}

#[test]
fn head_requests_have_no_body() {
    let (out, _) = drive(
        &mut session(&[]),
        b"HEAD /autodiscover/autodiscover.json?Email=a@b.c&Protocol=EWS HTTP/1.1\r\nHost: h\r\n\r\n",
        1000,
    );
    let t = String::from_utf8(out).unwrap();
    assert!(t.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(t.contains("Content-Length: 69\r\n"), "{t}");
    assert!(t.ends_with("\r\n\r\n"), "{t}");
}

#[test]
fn caps_answer_inside_the_protocol() {
    let (out, next) = drive(
        &mut session(&[("http_rqbody_max_size", "10")]),
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n",
        1000,
    );
    assert!(out.starts_with(b"HTTP/1.1 413 "));
    assert_eq!(next, Next::Close);
    let big = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "a".repeat(40_000));
    let (out, next) = drive(&mut session(&[]), big.as_bytes(), 4096);
    assert!(out.starts_with(b"HTTP/1.1 431 "), "{}", String::from_utf8_lossy(&out));
    assert_eq!(next, Next::Close);
}

#[test]
fn slow_head_gets_408_on_timeout() {
    let mut s = session(&[("http_request_timeout", "5s")]);
    let (out, next) = drive(&mut s, b"GET / HTTP/1.1\r\nHo", 100);
    assert!(out.is_empty());
    assert_eq!(next, Next::Read);
    let info = ConnInfo {
        id: 1,
        peer: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:80".parse().unwrap(),
        implicit_tls: false,
        listener: "http_listen",
    };
    let mut out = Vec::new();
    let mut cx = Cx {
        out: &mut out,
        info: &info,
        tls_active: false,
        idle_timeout: None,
        handle: ConnHandle::detached(),
    };
    // The head deadline was handed to the runtime as the idle timeout.
    let (_, _) = s.input(b"GET / HTTP/1.1\r\nHo", &mut cx);
    let t = cx.idle_timeout.expect("a deadline for the partial head");
    assert!(
        t <= std::time::Duration::from_secs(5) && t > std::time::Duration::from_secs(3),
        "{t:?}"
    );
    assert_eq!(s.timed_out(&mut cx), Next::Close);
    assert!(out.starts_with(b"HTTP/1.1 408 "), "{}", String::from_utf8_lossy(&out));
}
