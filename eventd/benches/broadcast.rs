//! Broadcast throughput of eventd, end to end over loopback TCP: one sender broadcasts
//! `FOLDER-TOUCH` lines (waiting for each `TRUE`), `LISTENERS` processes have selected the
//! folder and acknowledge every delivered line. Prints events/s sent and deliveries/s.
//!
//! `cargo bench -p eventd --bench broadcast` (env `EVENTS`, `LISTENERS` to change the load).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventd::EventProtocol;
use gromox_base::acl::HostsAllow;
use gromox_runtime::{Control, Listener, Server, ServerConfig};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn conn(addr: SocketAddr) -> (BufReader<TcpStream>, TcpStream) {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "OK\r\n");
    (r, s)
}

fn cmd(r: &mut BufReader<TcpStream>, w: &mut TcpStream, line: &str) -> String {
    w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    let mut reply = String::new();
    r.read_line(&mut reply).unwrap();
    reply
}

fn main() {
    let events = env("EVENTS", 20_000);
    let listeners = env("LISTENERS", 4);
    let cfg = ServerConfig {
        listeners: vec![Listener {
            name: "event_listen",
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: false,
            haproxy: false,
        }],
        threads: 2,
        ..ServerConfig::default()
    };
    let log = gromox_base::log::discard();
    let server = Server::bind(cfg, log.clone()).expect("bind");
    let addr = server.local_addrs()[0].1;
    let proto = Arc::new(EventProtocol::new(
        HostsAllow::parse("127.0.0.1").unwrap(),
        log,
        Duration::from_secs(3600),
    ));
    let control = Control::new();
    let c2 = control.clone();
    let srv = std::thread::spawn(move || server.run(proto, c2));

    let received = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for i in 0..listeners {
        let (mut r, mut w) = conn(addr);
        assert_eq!(cmd(&mut r, &mut w, &format!("LISTEN bench:{i}")), "TRUE\r\n");
        let (mut cr, mut cw) = conn(addr);
        cmd(&mut cr, &mut cw, &format!("ID bench:{i}"));
        assert_eq!(cmd(&mut cr, &mut cw, "SELECT user@example.org inbox"), "TRUE\r\n");
        let got = received.clone();
        readers.push(std::thread::spawn(move || {
            let mut line = String::new();
            while got.load(Ordering::Relaxed) < events * listeners {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                w.write_all(b"TRUE\r\n").unwrap();
                got.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let (mut r, mut w) = conn(addr);
    cmd(&mut r, &mut w, "ID sender:1");
    let start = Instant::now();
    for _ in 0..events {
        assert_eq!(cmd(&mut r, &mut w, "FOLDER-TOUCH user@example.org inbox"), "TRUE\r\n");
    }
    let sent = start.elapsed();
    while received.load(Ordering::Relaxed) < events * listeners && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let all = start.elapsed();
    let got = received.load(Ordering::Relaxed);
    println!(
        "eventd broadcast: {events} events to {listeners} listeners: {:.0} events/s sent, {got} deliveries in {:.2}s = {:.0} deliveries/s",
        events as f64 / sent.as_secs_f64(),
        all.as_secs_f64(),
        got as f64 / all.as_secs_f64()
    );
    control.shutdown();
    let _ = srv.join();
    drop(readers);
}
