//! Socket-level tests of the runtime with a line-echo test protocol.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use gromox_runtime::proxy::encode_v2;

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn greeting_echo_quit() {
    let srv = start(base_config());
    let mut c = connect(srv.addr("plain"));
    assert_eq!(c.line(), "* OK hello\r\n");
    assert_eq!(c.cmd("ECHO hello world"), "hello world\r\n");
    // pipelined commands, one write
    c.send("ECHO a\r\nECHO b\r\nECHO c\r\n");
    assert_eq!(c.line(), "a\r\n");
    assert_eq!(c.line(), "b\r\n");
    assert_eq!(c.line(), "c\r\n");
    // a command split over several writes
    c.send("ECH");
    std::thread::sleep(Duration::from_millis(50));
    c.send("O split\r\n");
    assert_eq!(c.line(), "split\r\n");
    let local = c.r.get_ref().local_addr().unwrap();
    assert_eq!(c.cmd("PEER"), format!("PEER {local} TLS=false\r\n"));
    assert_eq!(c.cmd("QUIT"), "BYE\r\n");
    assert_eq!(c.rest(), "");
    wait_for("close", || srv.shared.closed.load(Ordering::SeqCst) == 1);
    wait_for("open count", || srv.stats.snapshot().open == 0);
    assert_eq!(srv.stats.snapshot().accepted_total, 1);
    srv.stop();
}

#[test]
fn max_input_closes_connection() {
    let mut cfg = base_config();
    cfg.max_input = 1024;
    let srv = start(cfg);
    let mut c = connect(srv.addr("plain"));
    c.line();
    // 4 KB without a newline: more than the session may buffer
    let _ = c.r.get_mut().write_all(&[b'a'; 4096]);
    assert_eq!(c.rest(), "");
    wait_for("overflow counted", || srv.stats.snapshot().input_overflow_total == 1);
    srv.stop();
}

#[test]
fn starttls_upgrade_discards_injected_plaintext() {
    let pki = pki();
    let mut cfg = base_config();
    cfg.tls = Some(pki.server.clone());
    let srv = start(cfg);
    let mut c = connect(srv.addr("plain"));
    assert_eq!(c.line(), "* OK hello\r\n");
    // CVE-2011-0411 style: a command pipelined in the same packet as STARTTLS
    c.send("STARTTLS\r\nECHO injected\r\n");
    assert_eq!(c.line(), "OK begin TLS\r\n");
    let tcp = c.r.into_inner();
    let mut t = Client::new(tls_wrap(&pki.client, tcp));
    // the first answer inside TLS is to our command, not to the injected one
    assert_eq!(t.cmd("ECHO secure"), "secure\r\n");
    let peer_line = t.cmd("PEER");
    assert!(peer_line.ends_with("TLS=true\r\n"), "{peer_line}");
    assert_eq!(t.cmd("QUIT"), "BYE\r\n");
    srv.stop();
}

#[test]
fn implicit_tls_listener() {
    let pki = pki();
    let mut cfg = base_config();
    cfg.listeners.push(listener("tls", true, false));
    cfg.tls = Some(pki.server.clone());
    let srv = start(cfg);
    let tcp = TcpStream::connect(srv.addr("tls")).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut t = Client::new(tls_wrap(&pki.client, tcp));
    assert_eq!(t.line(), "* OK hello\r\n");
    assert!(t.cmd("PEER").ends_with("TLS=true\r\n"));
    // STARTTLS inside TLS is refused by closing
    t.send("STARTTLS\r\n");
    assert_eq!(t.line(), "OK begin TLS\r\n");
    assert_eq!(t.rest(), "");

    // a client speaking plaintext to the TLS port gets nothing and is closed
    let mut p = connect(srv.addr("tls"));
    p.send("ECHO hi\r\n");
    let mut buf = Vec::new();
    let _ = p.r.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("hi"));
    wait_for("tls failure counted", || srv.stats.snapshot().tls_failed_total >= 1);
    srv.stop();
}

#[test]
fn proxy_v2_sets_peer() {
    let pki = pki();
    let mut cfg = base_config();
    cfg.listeners = vec![listener("proxied", false, true), listener("proxied_tls", true, true)];
    cfg.tls = Some(pki.server.clone());
    cfg.handshake_timeout = Duration::from_secs(2);
    let srv = start(cfg);
    let real: SocketAddr = "203.0.113.9:41000".parse().unwrap();
    let dest: SocketAddr = "198.51.100.1:143".parse().unwrap();

    // header and first command in one write
    let mut c = connect(srv.addr("proxied"));
    let mut h = encode_v2(real, dest);
    h.extend_from_slice(b"PEER\r\n");
    c.r.get_mut().write_all(&h).unwrap();
    assert_eq!(c.line(), "* OK hello\r\n");
    assert_eq!(c.line(), "PEER 203.0.113.9:41000 TLS=false\r\n");

    // IPv6 source, then TLS on top of the header
    let real6: SocketAddr = "[2001:db8::7]:5555".parse().unwrap();
    let mut tcp = TcpStream::connect(srv.addr("proxied_tls")).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tcp.write_all(&encode_v2(real6, "[2001:db8::1]:993".parse().unwrap()))
        .unwrap();
    let mut t = Client::new(tls_wrap(&pki.client, tcp));
    assert_eq!(t.line(), "* OK hello\r\n");
    assert_eq!(t.cmd("PEER"), "PEER [2001:db8::7]:5555 TLS=true\r\n");

    // v1 text header
    let mut c = connect(srv.addr("proxied"));
    c.send("PROXY TCP4 192.0.2.1 192.0.2.2 1234 143\r\n");
    assert_eq!(c.line(), "* OK hello\r\n");
    assert_eq!(c.cmd("PEER"), "PEER 192.0.2.1:1234 TLS=false\r\n");

    // LOCAL keeps the socket address
    let mut c = connect(srv.addr("proxied"));
    let mut local = gromox_runtime::proxy::V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0, 0, 0]);
    c.r.get_mut().write_all(&local).unwrap();
    assert_eq!(c.line(), "* OK hello\r\n");
    let me = c.r.get_ref().local_addr().unwrap();
    assert_eq!(c.cmd("PEER"), format!("PEER {me} TLS=false\r\n"));

    // no header: closed without a greeting
    let mut c = connect(srv.addr("proxied"));
    c.send("ECHO sneaky\r\n");
    assert_eq!(c.rest(), "");
    // header never completes: closed at the deadline
    let mut c = connect(srv.addr("proxied"));
    c.r.get_mut().write_all(&h[..10]).unwrap();
    assert_eq!(c.rest(), "");
    assert_eq!(srv.stats.snapshot().proxy_failed_total, 2);
    srv.stop();
}

#[test]
fn context_num_refusal() {
    let mut cfg = base_config();
    cfg.context_num = 2;
    let srv = start(cfg);
    let mut a = connect(srv.addr("plain"));
    let mut b = connect(srv.addr("plain"));
    assert_eq!(a.line(), "* OK hello\r\n");
    assert_eq!(b.line(), "* OK hello\r\n");
    let mut c = connect(srv.addr("plain"));
    assert_eq!(c.rest(), "* BYE busy\r\n");
    assert_eq!(srv.stats.snapshot().refused_total, 1);
    // after one leaves, a new one gets in
    assert_eq!(a.cmd("QUIT"), "BYE\r\n");
    wait_for("slot freed", || srv.stats.snapshot().open == 1);
    let mut d = connect(srv.addr("plain"));
    assert_eq!(d.line(), "* OK hello\r\n");
    assert_eq!(b.cmd("ECHO still"), "still\r\n");
    srv.stop();
}

#[test]
fn idle_timeout_and_override() {
    let mut cfg = base_config();
    cfg.idle_timeout = Duration::from_millis(300);
    let srv = start(cfg);
    let mut c = connect(srv.addr("plain"));
    c.line();
    let t = Instant::now();
    assert_eq!(c.rest(), "* BYE idle timeout\r\n");
    assert!(t.elapsed() >= Duration::from_millis(250));

    // activity keeps it alive; a session override lengthens the timeout
    let mut c = connect(srv.addr("plain"));
    c.line();
    assert_eq!(c.cmd("IDLE 2000"), "OK idle set\r\n");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(c.cmd("ECHO alive"), "alive\r\n");
    let t = Instant::now();
    assert_eq!(c.rest(), "* BYE idle timeout\r\n");
    assert!(t.elapsed() >= Duration::from_millis(1500));
    assert_eq!(srv.stats.snapshot().timed_out_total, 2);
    srv.stop();
}

#[test]
fn session_limit_closes() {
    let mut cfg = base_config();
    cfg.idle_timeout = Duration::from_millis(1000);
    cfg.session_limit = Some(Duration::from_millis(2000));
    let srv = start(cfg);
    let t = Instant::now();
    let mut c = connect(srv.addr("plain"));
    c.line();
    // activity for longer than the idle timeout keeps the connection open ...
    while t.elapsed() < Duration::from_millis(1200) {
        assert_eq!(c.cmd("ECHO x"), "x\r\n");
        std::thread::sleep(Duration::from_millis(100));
    }
    // ... the absolute limit ends it all the same
    assert_eq!(c.rest(), "* BYE idle timeout\r\n");
    assert!(t.elapsed() >= Duration::from_millis(1900), "{:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(10));
    srv.stop();
}

#[test]
fn big_response_streams_with_bounded_buffer() {
    let mut cfg = base_config();
    cfg.out_high_water = 128 * 1024;
    cfg.out_low_water = 32 * 1024;
    let srv = start(cfg);
    let mut c = connect(srv.addr("plain"));
    c.line();
    let total: usize = 50 * 1024 * 1024;
    c.send(&format!("BIG {total}\r\n"));
    // read slowly at first so the server must wait for the socket
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut tail = Vec::new();
    let start = Instant::now();
    loop {
        let n = c.r.read(&mut buf).unwrap();
        assert!(n > 0, "eof after {got} bytes");
        got += n;
        if start.elapsed() < Duration::from_millis(300) {
            std::thread::sleep(Duration::from_millis(5));
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 64 {
            tail.drain(..tail.len() - 64);
        }
        if tail.ends_with(b"BIG done\r\n") {
            break;
        }
    }
    assert_eq!(got, total + "\r\nBIG done\r\n".len());
    let max = srv.shared.max_out.load(Ordering::SeqCst);
    assert!(max <= 128 * 1024 + CHUNK, "output buffer grew to {max}");
    assert_eq!(srv.shared.early_writable.load(Ordering::SeqCst), 0);
    // the connection is still usable
    assert_eq!(c.cmd("ECHO after"), "after\r\n");
    srv.stop();
}

#[test]
fn push_reaches_parked_connection() {
    let srv = start(base_config());
    let mut c = connect(srv.addr("plain"));
    c.line();
    assert_eq!(c.cmd("REGISTER"), "REGISTERED\r\n");
    let h = srv.shared.handles.lock().unwrap()[0].clone();
    std::thread::sleep(Duration::from_millis(100)); // parked by now
    assert!(h.push(Box::new("new mail".to_string())));
    assert_eq!(c.line(), "* PUSH new mail\r\n");
    // several pushes from several threads
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let h = h.clone();
            std::thread::spawn(move || assert!(h.push(Box::new(format!("m{i}")))))
        })
        .collect();
    for j in hs {
        j.join().unwrap();
    }
    let mut got: Vec<String> = (0..4).map(|_| c.line()).collect();
    got.sort();
    assert_eq!(
        got,
        ["* PUSH m0\r\n", "* PUSH m1\r\n", "* PUSH m2\r\n", "* PUSH m3\r\n"]
    );
    assert_eq!(c.cmd("QUIT"), "BYE\r\n");
    wait_for("closed", || srv.stats.snapshot().open == 0);
    assert!(!h.push(Box::new("late".to_string())));
    assert_eq!(srv.stats.snapshot().pushed_total, 5);
    srv.stop();
}

#[test]
fn shutdown_drains_in_flight_request() {
    let mut srv = start(base_config());
    let mut idle = connect(srv.addr("plain"));
    idle.line();
    let mut busy = connect(srv.addr("plain"));
    busy.line();
    busy.send("SLOW 800\r\n");
    std::thread::sleep(Duration::from_millis(200));
    srv.control.shutdown();
    // the idle one is closed without waiting
    assert_eq!(idle.rest(), "");
    // the in-flight request completes, then the connection closes
    assert_eq!(busy.line(), "SLOW done\r\n");
    assert_eq!(busy.rest(), "");
    srv.join.take().unwrap().join().unwrap().unwrap();
    // listener is gone
    assert!(TcpStream::connect(srv.addr("plain")).is_err());
}

#[test]
fn thousand_idle_connections_two_workers() {
    gromox_runtime::sys::raise_nofile_limit().unwrap();
    let mut cfg = base_config();
    cfg.context_num = 2000;
    cfg.threads = 2;
    let srv = start(cfg);
    let mut conns: Vec<_> = (0..1000).map(|_| connect(srv.addr("plain"))).collect();
    for c in conns.iter_mut() {
        assert_eq!(c.line(), "* OK hello\r\n");
    }
    wait_for("all open", || srv.stats.snapshot().open == 1000);
    for (i, c) in conns.iter_mut().enumerate() {
        c.send(&format!("ECHO {i}\r\n"));
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(c.line(), format!("{i}\r\n"));
    }
    assert_eq!(srv.stats.snapshot().refused_total, 0);
    wait_for("workers idle", || srv.stats.snapshot().busy_workers == 0);
    drop(conns);
    wait_for("all closed", || srv.stats.snapshot().open == 0);
    srv.stop();
}

#[test]
fn ipv6_listener() {
    let Ok(probe) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("SKIP ipv6_listener: host has no IPv6 loopback");
        return;
    };
    drop(probe);
    let mut cfg = base_config();
    cfg.listeners.push(gromox_runtime::Listener {
        name: "v6",
        addr: "[::1]:0".parse().unwrap(),
        tls: false,
        haproxy: false,
    });
    let srv = start(cfg);
    let a = srv.addr("v6");
    assert!(a.is_ipv6());
    let mut c = connect(a);
    assert_eq!(c.line(), "* OK hello\r\n");
    let me = c.r.get_ref().local_addr().unwrap();
    assert_eq!(c.cmd("PEER"), format!("PEER {me} TLS=false\r\n"));
    let mut c4 = connect(srv.addr("plain"));
    assert_eq!(c4.line(), "* OK hello\r\n");
    srv.stop();
}

#[test]
fn panicking_session_closes_only_its_connection() {
    let mut cfg = base_config();
    cfg.threads = 1;
    let srv = start(cfg);
    let mut a = connect(srv.addr("plain"));
    a.line();
    let mut b = connect(srv.addr("plain"));
    b.line();
    a.send("PANIC\r\n");
    assert_eq!(a.rest(), "");
    // the single worker survived
    assert_eq!(b.cmd("ECHO fine"), "fine\r\n");
    let mut c = connect(srv.addr("plain"));
    assert_eq!(c.line(), "* OK hello\r\n");
    srv.stop();
}

#[test]
fn push_waits_for_streamed_response_to_end() {
    let mut cfg = base_config();
    cfg.out_high_water = 64 * 1024;
    cfg.out_low_water = 16 * 1024;
    let srv = start(cfg);
    let mut c = connect(srv.addr("plain"));
    c.line();
    assert_eq!(c.cmd("REGISTER"), "REGISTERED\r\n");
    let h = srv.shared.handles.lock().unwrap()[0].clone();
    let total = 4 * 1024 * 1024;
    c.send(&format!("BIG {total}\r\n"));
    // client is not reading: the stream stalls; pushes arrive meanwhile
    std::thread::sleep(Duration::from_millis(200));
    assert!(h.push(Box::new("during".to_string())));
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !all.ends_with(b"* PUSH during\r\n") {
        let n = c.r.read(&mut buf).unwrap();
        assert!(n > 0);
        all.extend_from_slice(&buf[..n]);
    }
    // the push came after the whole response, not inside it
    let text = String::from_utf8_lossy(&all[all.len() - 40..]).to_string();
    assert!(text.ends_with("xx\r\nBIG done\r\n* PUSH during\r\n"), "{text:?}");
    assert_eq!(all.len(), total + "\r\nBIG done\r\n* PUSH during\r\n".len());
    srv.stop();
}

#[test]
fn stalled_client_times_out_without_spinning() {
    let mut cfg = base_config();
    cfg.idle_timeout = Duration::from_millis(300);
    let srv = start(cfg);
    let mut c = connect(srv.addr("plain"));
    c.line();
    // a client that asks for a lot and never reads
    c.send(&format!("BIG {}\r\n", 64 * 1024 * 1024));
    wait_for("stalled connection closed", || srv.stats.snapshot().open == 0);
    assert_eq!(srv.stats.snapshot().timed_out_total, 1);
    assert_eq!(srv.shared.closed.load(Ordering::SeqCst), 1);
    srv.stop();
}

#[test]
fn big_response_over_tls() {
    let pki = pki();
    let mut cfg = base_config();
    cfg.listeners.push(listener("tls", true, false));
    cfg.tls = Some(pki.server.clone());
    cfg.out_high_water = 64 * 1024;
    cfg.out_low_water = 16 * 1024;
    let srv = start(cfg);
    let tcp = TcpStream::connect(srv.addr("tls")).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut t = Client::new(tls_wrap(&pki.client, tcp));
    assert_eq!(t.line(), "* OK hello\r\n");
    let total = 8 * 1024 * 1024;
    t.send(&format!("BIG {total}\r\n"));
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    let mut tail = Vec::new();
    while !tail.ends_with(b"BIG done\r\n") {
        let n = t.r.read(&mut buf).unwrap();
        assert!(n > 0);
        got += n;
        if start.elapsed() < Duration::from_millis(200) {
            std::thread::sleep(Duration::from_millis(5));
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 64 {
            tail.drain(..tail.len() - 64);
        }
    }
    assert_eq!(got, total + "\r\nBIG done\r\n".len());
    assert!(srv.shared.max_out.load(Ordering::SeqCst) <= 64 * 1024 + CHUNK);
    assert_eq!(srv.shared.early_writable.load(Ordering::SeqCst), 0);
    assert_eq!(t.cmd("ECHO after"), "after\r\n");
    srv.stop();
}

#[test]
fn half_closed_client_gets_its_answers() {
    let srv = start(base_config());
    let mut c = connect(srv.addr("plain"));
    c.send("ECHO one\r\nECHO two\r\n");
    c.r.get_ref().shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(c.rest(), "* OK hello\r\none\r\ntwo\r\n");
    srv.stop();
}

#[test]
fn shutdown_grace_ends_stalled_stream() {
    let mut cfg = base_config();
    cfg.shutdown_grace = Duration::from_millis(300);
    let mut srv = start(cfg);
    let mut c = connect(srv.addr("plain"));
    c.line();
    c.send(&format!("BIG {}\r\n", 64 * 1024 * 1024));
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    srv.control.shutdown();
    srv.join.take().unwrap().join().unwrap().unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(srv.shared.closed.load(Ordering::SeqCst), 1);
    assert_eq!(srv.stats.snapshot().open, 0);
}

#[test]
fn session_may_keep_connection_on_timeout() {
    let mut cfg = base_config();
    cfg.idle_timeout = Duration::from_millis(300);
    let srv = start(cfg);
    let mut c = connect(srv.addr("plain"));
    c.line();
    assert_eq!(c.cmd("KEEP 2"), "OK keep\r\n");
    let t = Instant::now();
    assert_eq!(c.line(), "* OK still there\r\n");
    assert_eq!(c.line(), "* OK still there\r\n");
    assert_eq!(c.rest(), "* BYE idle timeout\r\n");
    // three full timeouts, not a spin
    assert!(t.elapsed() >= Duration::from_millis(800), "{:?}", t.elapsed());
    srv.stop();
}

#[test]
fn push_queue_overflow_closes_stalled_connection() {
    let mut cfg = base_config();
    cfg.max_queued_pushes = 3;
    let srv = start(cfg);
    let mut c = connect(srv.addr("plain"));
    c.line();
    assert_eq!(c.cmd("REGISTER"), "REGISTERED\r\n");
    let h = srv.shared.handles.lock().unwrap()[0].clone();
    // stall the connection in a response the client never reads
    c.send(&format!("BIG {}\r\n", 64 * 1024 * 1024));
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..3 {
        assert!(h.push(Box::new(format!("m{i}"))), "push {i}");
    }
    assert!(!h.push(Box::new("one too many".to_string())));
    wait_for("connection dropped", || srv.stats.snapshot().open == 0);
    assert_eq!(srv.shared.closed.load(Ordering::SeqCst), 1);
    assert!(!h.push(Box::new("later".to_string())));
    srv.stop();
}

#[test]
fn bind_errors_name_the_listener() {
    let mut cfg = base_config();
    cfg.listeners = vec![listener("imap_listen_tls", true, false)];
    let e = gromox_runtime::Server::bind(cfg, logger()).err().unwrap().to_string();
    assert!(e.contains("imap_listen_tls"), "{e}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = base_config();
    cfg.listeners = vec![gromox_runtime::Listener {
        name: "pop3_listen",
        addr: taken.local_addr().unwrap(),
        tls: false,
        haproxy: false,
    }];
    let e = gromox_runtime::Server::bind(cfg, logger()).err().unwrap().to_string();
    assert!(
        e.contains("pop3_listen") && e.contains(&taken.local_addr().unwrap().to_string()),
        "{e}"
    );
}
