//! End-to-end tests against the real httpd binary over real sockets.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

const POX: &[u8] = include_bytes!("fixtures/pox-request.xml");

#[test]
fn autodiscover_pox_with_basic_auth() {
    let h = start("", |_| {});
    let path = "/autodiscover/autodiscover.xml";
    let r = post(h.addr, path, "", POX);
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate").unwrap().starts_with("Basic realm="),
        "{}",
        r.head
    );
    let r = post(h.addr, path, &basic("alice@example.org", "wrong"), POX);
    assert_eq!(r.status, 401);
    let r = post(
        h.addr,
        "/AutoDiscover/AutoDiscover.xml",
        &format!(
            "X-MapiHttpCapability: 1\r\n{}",
            basic("alice@example.org", "s3cret pass")
        ),
        POX,
    );
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.header("content-type").unwrap().starts_with("text/xml"));
    let x = r.text();
    assert!(
        x.contains(
            "<Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">"
        ),
        "{x}"
    );
    assert!(x.contains("<DisplayName>Alice Example</DisplayName>"), "{x}");
    assert!(x.contains("<LegacyDN>/o=Example Org/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=00000001-alice</LegacyDN>"), "{x}");
    assert!(
        x.contains("<Type>EXHTTP</Type><Server>mail.example.org</Server>"),
        "{x}"
    );
    assert!(x.contains("<Type>EXPR</Type>") && x.contains("<Type>EXCH</Type>") && x.contains("<Type>WEB</Type>"));
    assert!(
        x.contains("<InternalUrl>https://mail.example.org/mapi/emsmdb/?MailboxId=alice@example.org</InternalUrl>"),
        "{x}"
    );
    assert!(x.contains("<EwsUrl>https://mail.example.org/EWS/Exchange.asmx</EwsUrl>"));

    // Without X-MapiHttpCapability no mapiHttp section (MS-OXDSCLI §2.2.2.1).
    let r = post(h.addr, path, &basic("alice@example.org", "s3cret pass"), POX);
    assert!(r.text().contains("<Type>EXCH</Type>") && !r.text().contains("mapiHttp"));

    // Another user's settings are not handed out.
    let other = String::from_utf8_lossy(POX).replace("alice@", "bob@");
    let r = post(
        h.addr,
        path,
        &basic("alice@example.org", "s3cret pass"),
        other.as_bytes(),
    );
    assert!(r.text().contains("<ErrorCode>500</ErrorCode>"), "{}", r.text());

    // The mobilesync schema.
    let mobile = httpd::dscli::request_body("alice@example.org", true);
    let r = post(
        h.addr,
        path,
        &basic("alice@example.org", "s3cret pass"),
        mobile.as_bytes(),
    );
    assert!(
        r.text()
            .contains("<Type>MobileSync</Type><Url>https://mail.example.org/Microsoft-Server-ActiveSync</Url>"),
        "{}",
        r.text()
    );

    // The failures were logged in the fail2ban format.
    let log = h.log_text();
    assert!(
        log.contains("rhost=[127.0.0.1]:")
            && log.contains("user=alice@example.org HTTP auth rejected: bad_credentials"),
        "{log}"
    );
    assert!(!log.contains("wrong"), "password in the log");
    assert!(log.contains("http.access"), "{log}");
    assert!(log.contains("user: alice@example.org"), "{log}");
}

#[test]
fn dscli_against_server() {
    let h = start("", |_| {});
    let out = std::process::Command::new(gromox_testkit::bin("gromox-dscli"))
        .args(["-e", "alice@example.org", "-p", "s3cret pass", "-H"])
        .arg(format!("http://{}/autodiscover/autodiscover.xml", h.addr))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.starts_with("HTTP status 200"), "{text}");
    assert!(text.contains("<DisplayName>Alice Example</DisplayName>"), "{text}");
    let out = std::process::Command::new(gromox_testkit::bin("gromox-dscli"))
        .args(["-e", "alice@example.org", "-p", "bad", "-H"])
        .arg(format!("http://{}/autodiscover/autodiscover.xml", h.addr))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("HTTP status 401"));
}

#[test]
fn dscli_over_tls() {
    let h = start("http_listen_tls = 127.0.0.1:0\n", |etc| {
        gromox_runtime::tls::self_signed(&["localhost".into()], &etc.join("cert.pem"), &etc.join("key.pem")).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(etc.join("gromox.cfg"))
            .unwrap();
        writeln!(
            f,
            "http_certificate_path = {}\nhttp_private_key_path = {}",
            etc.join("cert.pem").display(),
            etc.join("key.pem").display()
        )
        .unwrap();
    });
    let url = format!(
        "https://localhost:{}/autodiscover/autodiscover.xml",
        h.tls_addr.unwrap().port()
    );
    let run = |extra: &[&str]| {
        std::process::Command::new(gromox_testkit::bin("gromox-dscli"))
            .args(["-e", "alice@example.org", "-p", "s3cret pass", "-H", &url])
            .args(extra)
            .output()
            .unwrap()
    };
    // Self-signed: refused unless trusted explicitly or --insecure.
    let out = run(&[]);
    assert!(!out.status.success());
    let out = run(&["--insecure"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("<DisplayName>Alice Example</DisplayName>"),
        "{text}"
    );
    assert!(text.contains("Type=\"mapiHttp\""), "{text}");
    let cert = h.dir.path().join("etc/cert.pem");
    let out = run(&["--cafile", cert.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn autodiscover_refuses_dtd() {
    let h = start("", |_| {});
    let evil = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>&lol2;</EMailAddress></Request></Autodiscover>"#;
    let r = post(
        h.addr,
        "/autodiscover/autodiscover.xml",
        &basic("alice@example.org", "s3cret pass"),
        evil,
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("DTD"), "{}", r.text());
}

#[test]
fn autoconfig_json_and_wellknown() {
    let h = start(
        "autoconfig_smtp_port = 587\nautoconfig_smtp_socket = STARTTLS\nautoconfig_imap_host = imap.example.org\n",
        |_| {},
    );
    for path in [
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.org",
        "/mail/config-v1.1.xml?emailaddress=alice@example.org",
    ] {
        let r = get(h.addr, path, "");
        assert_eq!(r.status, 200);
        let x = r.text();
        assert!(x.contains("<emailProvider id=\"example.org\">"), "{x}");
        assert!(x.contains("<incomingServer type=\"imap\"><hostname>imap.example.org</hostname><port>993</port><socketType>SSL</socketType>"), "{x}");
        assert!(x.contains("<outgoingServer type=\"smtp\"><hostname>mail.example.org</hostname><port>587</port><socketType>STARTTLS</socketType>"), "{x}");
        assert!(x.contains("<incomingServer type=\"pop3\">"));
    }
    let r = get(
        h.addr,
        "/autodiscover/autodiscover.json?Email=alice@example.org&Protocol=EWS",
        "",
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            200,
            "{\"Protocol\":\"EWS\",\"Url\":\"https://mail.example.org/EWS/Exchange.asmx\"}"
        )
    );
    let r = get(
        h.addr,
        "/autodiscover/autodiscover.json/v1.0/alice@example.org?Protocol=ActiveSync",
        "",
    );
    assert!(
        r.text()
            .contains("https://mail.example.org/Microsoft-Server-ActiveSync"),
        "{}",
        r.text()
    );
    let r = get(
        h.addr,
        "/autodiscover/autodiscover.json/v1.0/alice@example.org?Protocol=Nope",
        "",
    );
    assert_eq!(r.status, 400);
    let r = get(h.addr, "/.well-known/caldav", "");
    assert_eq!((r.status, r.header("location").as_deref()), (301, Some("/dav/")));
    let r = get(h.addr, "/.well-known/carddav", "");
    assert_eq!(r.status, 301);
    assert_eq!(get(h.addr, "/nothing/here", "").status, 404);
}

fn static_setup(etc: &std::path::Path) {
    let www = etc.parent().unwrap().join("www");
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::fs::write(www.join("hello.txt"), "0123456789abcdef").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(www.join("sub/big.bin"), big).unwrap();
    std::fs::write(etc.parent().unwrap().join("secret.txt"), "top secret").unwrap();
    std::fs::write(etc.join("cache.txt"), format!("* /web {}\n", www.display())).unwrap();
    std::fs::write(etc.join("rewrite.txt"), "\\(/old\\) => \\1/web\n").unwrap();
}

#[test]
fn static_files_etag_range_traversal() {
    let h = start("", static_setup);
    let r = get(h.addr, "/web/hello.txt", "");
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789abcdef"));
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain; charset=utf-8"));
    assert!(r.header("last-modified").unwrap().ends_with(" GMT"));
    assert!(r.header("date").is_some() && r.header("server").as_deref() == Some("gromox-rs"));
    let etag = r.header("etag").unwrap();
    let r = get(h.addr, "/web/hello.txt", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = get(h.addr, "/web/hello.txt", "If-None-Match: \"other\"\r\n");
    assert_eq!(r.status, 200);
    let lm = get(h.addr, "/web/hello.txt", "").header("last-modified").unwrap();
    assert_eq!(
        get(h.addr, "/web/hello.txt", &format!("If-Modified-Since: {lm}\r\n")).status,
        304
    );
    let r = get(h.addr, "/web/hello.txt", "Range: bytes=2-5\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, "2345"));
    assert_eq!(r.header("content-range").as_deref(), Some("bytes 2-5/16"));
    let r = get(h.addr, "/web/hello.txt", "Range: bytes=-3\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, "def"));
    let r = get(h.addr, "/web/hello.txt", "Range: bytes=100-\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range").as_deref(), Some("bytes */16"));
    let r = get(
        h.addr,
        "/web/hello.txt",
        &format!("Range: bytes=0-1\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!(r.status, 206);
    let r = get(h.addr, "/web/hello.txt", "Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n");
    assert_eq!(r.status, 200);
    // A big file is streamed with back-pressure and arrives intact; a range inside it too.
    let r = get(h.addr, "/web/sub/big.bin", "");
    assert_eq!(r.body.len(), 300_000);
    assert!(r.body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    let r = get(h.addr, "/web/sub/big.bin", "Range: bytes=100000-199999\r\n");
    assert_eq!(r.body.len(), 100_000);
    assert_eq!(r.body[0], (100_000 % 251) as u8);
    // No way out of the directory.
    for p in [
        "/web/../secret.txt",
        "/web/%2e%2e/secret.txt",
        "/web/sub/..%2f..%2fsecret.txt",
        "/web/..%5csecret.txt",
    ] {
        let r = get(h.addr, p, "");
        assert_eq!(r.status, 404, "{p}");
        assert!(!r.text().contains("top secret"));
    }
    // HEAD: headers, no body; other methods: 405.
    let r = exchange(
        h.addr,
        b"HEAD /web/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.header("content-length").as_deref()), (200, Some("16")));
    let r = post(h.addr, "/web/hello.txt", "", b"x");
    assert_eq!(r.status, 405);
    // Rewrite rules apply first: /old/... is served from /web/....
    let r = get(h.addr, "/old/hello.txt", "");
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789abcdef"));
}

#[test]
fn keepalive_pipelining_http10_expect() {
    let h = start("", static_setup);
    let mut s = connect(h.addr);
    // Three pipelined requests in one write, answered in order on one connection.
    s.write_all(
        b"GET /web/hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n\r\nGET /web/hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    let a = read_response(&mut s, &mut buf, false).unwrap();
    let b = read_response(&mut s, &mut buf, false).unwrap();
    let c = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!((a.status, b.status, c.status), (200, 404, 206));
    assert_eq!(c.text(), "0");
    // A streamed (big) response followed by a pipelined request: both arrive, in order.
    s.write_all(b"GET /web/sub/big.bin HTTP/1.1\r\nHost: x\r\n\r\nHEAD /web/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let big = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(big.body.len(), 300_000);
    let head = read_response(&mut s, &mut buf, true).unwrap();
    assert_eq!(
        (head.status, head.header("content-length").as_deref()),
        (200, Some("16"))
    );
    // Still open: another request on the same connection.
    s.write_all(b"GET /web/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let d = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(d.header("connection").as_deref(), Some("close"));
    assert!(closed_within(&mut s, Duration::from_secs(5)));

    // HTTP/1.0 without keep-alive: closed after the response; with keep-alive: kept.
    let mut s = connect(h.addr);
    s.write_all(b"GET /web/hello.txt HTTP/1.0\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert!(r.head.starts_with("HTTP/1.0 200"));
    assert!(closed_within(&mut s, Duration::from_secs(5)));
    let mut s = connect(h.addr);
    s.write_all(b"GET /web/hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.header("connection").as_deref(), Some("keep-alive"));
    s.write_all(b"GET /web/hello.txt HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 200);

    // Expect: 100-continue gets the interim response before the body is sent.
    let mut s = connect(h.addr);
    s.write_all(
        b"POST /autodiscover/autodiscover.json HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 100);
    s.write_all(b"abcd").unwrap();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 400); // no Email given
}

#[test]
fn request_limits() {
    let h = start("http_header_max_size = 8K\n", |_| {});
    // 100 MB upload refused from Content-Length alone; the body is never sent.
    let mut s = connect(h.addr);
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 413);
    assert!(closed_within(&mut s, Duration::from_secs(5)));
    // A chunked body over the limit is cut off too (limit lowered for the test below).

    // Malformed chunk size: 400 and closed.
    let mut s = connect(h.addr);
    s.write_all(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 400);
    assert!(closed_within(&mut s, Duration::from_secs(5)));
    // A good chunked body reaches the handler (JSON v2 answers 400 for the missing email, but
    // the request was framed correctly: the connection stays usable).
    let mut s = connect(h.addr);
    s.write_all(b"POST /autodiscover/autodiscover.json?Email=a@b.c&Protocol=EWS HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 200);
    assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 404);
    // Oversized header block: 431.
    let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(10_000));
    let r = exchange(h.addr, big.as_bytes());
    assert_eq!(r.status, 431);
    // Garbage request line: 400; HTTP/2.0: 505; request smuggling shape: 400.
    assert_eq!(exchange(h.addr, b"GARBAGE\r\n\r\n").status, 400);
    assert_eq!(exchange(h.addr, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n").status, 505);
    assert_eq!(
        exchange(
            h.addr,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        .status,
        400
    );
}

#[test]
fn chunked_body_over_limit() {
    let h = start("http_rqbody_max_size = 1K\n", |_| {});
    let mut s = connect(h.addr);
    let mut raw = b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        raw.extend_from_slice(b"200\r\n");
        raw.extend_from_slice(&[b'a'; 0x200]);
        raw.extend_from_slice(b"\r\n");
    }
    s.write_all(&raw).unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 413);
}

#[test]
fn slowloris_closed_others_served() {
    // One worker thread only: a slow client must not hold it.
    let h = start("http_threads_num = 1\nhttp_request_timeout = 3s\n", static_setup);
    let mut slow = connect(h.addr);
    let t0 = Instant::now();
    let head = b"GET /web/hello.txt HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut closed_at = None;
    for (i, b) in head.iter().enumerate() {
        if slow.write_all(&[*b]).is_err() {
            closed_at = Some(t0.elapsed());
            break;
        }
        // Meanwhile another client is served normally and promptly.
        if i % 2 == 0 {
            let q = Instant::now();
            let r = get(h.addr, "/web/hello.txt", "");
            assert_eq!(r.status, 200);
            assert!(
                q.elapsed() < Duration::from_millis(2500),
                "normal client waited {:?}",
                q.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(1000));
        if t0.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    let mut buf = Vec::new();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let r = read_response(&mut slow, &mut buf, false);
    if let Some(r) = r {
        assert_eq!(r.status, 408);
    }
    let elapsed = closed_at.unwrap_or_else(|| t0.elapsed());
    assert!(elapsed < Duration::from_secs(9), "slow client kept for {elapsed:?}");
    assert!(closed_within(&mut slow, Duration::from_secs(2)));
    assert!(h.log_text().contains("http.request_timeout"));
}

#[test]
fn metrics_access_controlled() {
    let h = start("", static_setup);
    let _ = get(h.addr, "/web/hello.txt", "");
    let _ = post(
        h.addr,
        "/autodiscover/autodiscover.xml",
        &basic("alice@example.org", "nope"),
        POX,
    );
    let r = get(h.addr, "/metrics", "");
    assert_eq!(r.status, 200);
    let m = r.text();
    assert!(
        m.contains("gromox_http_requests_total{endpoint=\"static\",code=\"200\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("gromox_http_request_duration_seconds_count{endpoint=\"static\"} 1"),
        "{m}"
    );
    assert!(m.contains("gromox_http_auth_failures_total 1"), "{m}");
    assert!(m.contains("gromox_http_connections_open "), "{m}");
    assert!(m.contains("gromox_http_workers_busy "), "{m}");
    drop(h);
    let h = start("http_metrics_hosts_allow = 10.0.0.0/8\n", |_| {});
    assert_eq!(get(h.addr, "/metrics", "").status, 403);
}

#[test]
fn remote_host_header_trusted_only_when_set() {
    let h = start(
        "http_remote_host_hdr = X-Forwarded-For\nhttp_auth_max_failures = 1\n",
        |_| {},
    );
    let _ = post(
        h.addr,
        "/autodiscover/autodiscover.xml",
        &format!("X-Forwarded-For: 203.0.113.9\r\n{}", basic("alice@example.org", "nope")),
        POX,
    );
    assert!(h.log_text().contains("rhost=[203.0.113.9]"), "{}", h.log_text());
    // That address is now rate limited; the loopback client is not.
    let r = post(
        h.addr,
        "/autodiscover/autodiscover.xml",
        &format!(
            "X-Forwarded-For: 203.0.113.9\r\n{}",
            basic("alice@example.org", "s3cret pass")
        ),
        POX,
    );
    assert_eq!(r.status, 429);
    let r = post(
        h.addr,
        "/autodiscover/autodiscover.xml",
        &basic("alice@example.org", "s3cret pass"),
        POX,
    );
    assert_eq!(r.status, 200);
}

#[test]
fn sighup_reloads_routes() {
    let h = start("", |_| {});
    assert_eq!(get(h.addr, "/web/hello.txt", "").status, 404);
    static_setup(&h.dir.path().join("etc"));
    let st = std::process::Command::new("kill")
        .args(["-HUP", &h.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t0 = Instant::now();
    loop {
        let r = get(h.addr, "/web/hello.txt", "");
        if r.status == 200 {
            assert_eq!(r.text(), "0123456789abcdef");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "not reloaded");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(h.log_text().contains("http.reload"));
}

#[test]
fn remote_host_header_ignored_when_unset() {
    let h = start("", |_| {});
    let _ = post(
        h.addr,
        "/autodiscover/autodiscover.xml",
        &format!("X-Forwarded-For: 203.0.113.9\r\n{}", basic("alice@example.org", "nope")),
        POX,
    );
    let log = h.log_text();
    assert!(
        log.contains("rhost=[127.0.0.1]") && !log.contains("203.0.113.9]"),
        "{log}"
    );
}

#[test]
fn fastcgi_backend_down_is_502() {
    let h = start("", |etc| {
        let php = etc.parent().unwrap().join("php");
        std::fs::create_dir_all(&php).unwrap();
        std::fs::write(php.join("x.php"), "<?php echo 1;").unwrap();
        let sock = etc.parent().unwrap().join("no-such.sock");
        std::fs::write(
            etc.join("fastcgi.txt"),
            format!("* /php {} php index.php - {}\n", php.display(), sock.display()),
        )
        .unwrap();
    });
    assert_eq!(get(h.addr, "/php/x.php", "").status, 502);
    assert_eq!(get(h.addr, "/php/missing.php", "").status, 404);
    assert!(h.log_text().contains("http.fastcgi_error"));
}
