//! Memory per idle connection of the runtime.
//!
//! `runtime-bench [N]` (default 10,000) runs two phases, each in a fresh process: a server
//! with 8 workers is started in-process, a *separate client process* opens N idle plaintext
//! (phase 1) or N TLS connections with completed handshakes (phase 2), and the server process
//! reports how much its resident set (VmRSS) grew per connection. Afterwards every client
//! sends one line and waits for its echo, to show all parked connections are still served.
//!
//! Build in release mode: `cargo run --release -p gromox-runtime --bin runtime-bench -- 10000`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gromox_runtime::{
    sys, ConnHandle, ConnInfo, Control, Cx, Listener, Next, Protocol, Push, Server, ServerConfig, Session,
};

/// Echo protocol; every connection's push handle is kept for the broadcast measurement
/// (as eventd or an IMAP IDLE registry would).
struct Echo {
    handles: Arc<Mutex<Vec<ConnHandle>>>,
}
struct EchoSession {
    handles: Arc<Mutex<Vec<ConnHandle>>>,
}

impl Protocol for Echo {
    type Session = EchoSession;
    fn accept(&self, _info: &ConnInfo) -> EchoSession {
        EchoSession {
            handles: self.handles.clone(),
        }
    }
    fn busy_reply(&self) -> &[u8] {
        b"* BYE busy\r\n"
    }
}

impl Session for EchoSession {
    fn connected(&mut self, cx: &mut Cx<'_>) -> Next {
        if let Ok(mut h) = self.handles.lock() {
            h.push(cx.handle.clone());
        }
        cx.out.extend_from_slice(b"* OK ready\r\n");
        Next::Read
    }
    fn pushed(&mut self, msg: Push, cx: &mut Cx<'_>) -> Next {
        if let Ok(m) = msg.downcast::<&'static str>() {
            cx.out.extend_from_slice(m.as_bytes());
        }
        Next::Read
    }
    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        match data.iter().position(|&b| b == b'\n') {
            Some(i) => {
                cx.out.extend_from_slice(&data[..=i]);
                (i + 1, Next::Read)
            }
            None => (0, Next::Read),
        }
    }
}

fn die(msg: &str) -> ! {
    eprintln!("runtime-bench: {msg}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--phase") => phase(&args[2], parse_n(args.get(3))),
        Some("--client") => client(&args[2], &args[3], parse_n(args.get(4))),
        Some("--rps-client") => rps_client(&args[2]),
        _ => {
            let n = parse_n(args.get(1));
            let exe = std::env::current_exe().unwrap_or_else(|e| die(&format!("current_exe: {e}")));
            for mode in ["plain", "tls"] {
                let st = Command::new(&exe)
                    .args(["--phase", mode, &n.to_string()])
                    .status()
                    .unwrap_or_else(|e| die(&format!("spawn: {e}")));
                if !st.success() {
                    die(&format!("{mode} phase failed"));
                }
            }
            let st = Command::new(&exe)
                .args(["--phase", "rps", "0"])
                .status()
                .unwrap_or_else(|e| die(&format!("spawn: {e}")));
            if !st.success() {
                die("rps phase failed");
            }
        }
    }
}

fn parse_n(a: Option<&String>) -> usize {
    a.map(|s| s.parse().unwrap_or_else(|_| die("N must be a number")))
        .unwrap_or(10_000)
}

/// Connections and round trips per connection of the request-rate phase.
const RPS_CONNS: usize = 32;
const RPS_ROUNDS: usize = 2000;

/// Server side of one phase: in-process server, client in a child process.
fn phase(mode: &str, n: usize) {
    let _ = sys::raise_nofile_limit();
    let dir = std::env::temp_dir().join(format!("runtime-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| die(&format!("{}: {e}", dir.display())));
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    gromox_runtime::tls::self_signed(&["localhost".into()], &cert, &key).unwrap_or_else(|e| die(&e.to_string()));
    let tls = gromox_runtime::tls::load_server_config(&cert, &key, "1.2").unwrap_or_else(|e| die(&e.to_string()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = ServerConfig {
        listeners: vec![Listener {
            name: "bench",
            addr: "127.0.0.1:0".parse().unwrap_or_else(|_| die("addr")),
            tls: mode == "tls",
            haproxy: false,
        }],
        threads: 8,
        context_num: n + 200,
        idle_timeout: Duration::from_secs(3600),
        tls: Some(tls),
        ..ServerConfig::default()
    };
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let server = Server::bind(cfg, log).unwrap_or_else(|e| die(&e.to_string()));
    let addr = server.local_addrs()[0].1;
    let stats = server.stats_handle();
    let control = Control::new();
    let c2 = control.clone();
    let handles = Arc::new(Mutex::new(Vec::new()));
    let proto = Arc::new(Echo {
        handles: handles.clone(),
    });
    let join = std::thread::spawn(move || server.run(proto, c2));

    let exe = std::env::current_exe().unwrap_or_else(|e| die(&format!("current_exe: {e}")));
    if mode == "rps" {
        let out = Command::new(&exe)
            .args(["--rps-client", &addr.to_string()])
            .output()
            .unwrap_or_else(|e| die(&format!("spawn client: {e}")));
        print!("{}", String::from_utf8_lossy(&out.stdout));
        control.shutdown();
        let _ = join.join();
        return;
    }
    let run_clients = |count: usize| {
        let mut child = Command::new(&exe)
            .args(["--client", &addr.to_string(), mode, &count.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| die(&format!("spawn client: {e}")));
        let mut out = BufReader::new(child.stdout.take().unwrap_or_else(|| die("no stdout")));
        let mut line = String::new();
        out.read_line(&mut line)
            .unwrap_or_else(|e| die(&format!("client: {e}")));
        if line.trim() != "READY" {
            die(&format!("client said {line:?}"));
        }
        (child, out)
    };
    let settle = |want: u64| {
        let t = Instant::now();
        while stats.snapshot().open != want || stats.snapshot().busy_workers != 0 {
            if t.elapsed() > Duration::from_secs(120) {
                die(&format!("server has {} open, expected {want}", stats.snapshot().open));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
    };

    // Warm-up: threads, allocator arenas, TLS session cache.
    let (mut child, _out) = run_clients(200);
    settle(200);
    drop(child.stdin.take());
    let _ = child.wait();
    settle(0);
    if let Ok(mut h) = handles.lock() {
        h.clear();
    }

    let before = sys::rss_kib().unwrap_or_else(|| die("no VmRSS"));
    let t = Instant::now();
    let (mut child, mut out) = run_clients(n);
    settle(n as u64);
    let connect_time = t.elapsed();
    let after = sys::rss_kib().unwrap_or_else(|| die("no VmRSS"));
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    println!(
        "{mode}: {n} idle connections: server RSS {before} KiB -> {after} KiB, {:.1} KB per connection \
         (connected in {:.1} s)",
        per / 1000.0,
        connect_time.as_secs_f64()
    );
    // Every parked connection still answers.
    let _ = stdin_line(&mut child, "GO");
    let mut line = String::new();
    let _ = out.read_line(&mut line);
    println!("{mode}: {}", line.trim());
    settle(n as u64);
    let used = sys::rss_kib().unwrap_or_else(|| die("no VmRSS"));
    println!(
        "{mode}: after one request each: server RSS {used} KiB, {:.1} KB per connection",
        (used.saturating_sub(before)) as f64 * 1024.0 / n as f64 / 1000.0
    );
    // Broadcast: one push to every parked connection, until every client has read it.
    let _ = stdin_line(&mut child, "PUSH");
    line.clear();
    let _ = out.read_line(&mut line); // WAITING
    let t = Instant::now();
    let list: Vec<ConnHandle> = handles.lock().map(|mut h| h.drain(..).collect()).unwrap_or_default();
    let delivered = list.iter().filter(|h| h.push(Box::new("* 1 EXISTS\r\n"))).count();
    line.clear();
    let _ = out.read_line(&mut line);
    println!(
        "{mode}: push to {delivered} parked connections, all received in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    drop(list);
    drop(child.stdin.take());
    let _ = child.wait();
    settle(0);
    control.shutdown();
    let _ = join.join();
}

fn stdin_line(child: &mut std::process::Child, l: &str) -> std::io::Result<()> {
    let stdin = child.stdin.as_mut().ok_or(std::io::ErrorKind::BrokenPipe)?;
    stdin.write_all(format!("{l}\n").as_bytes())?;
    stdin.flush()
}

enum Conn {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>>),
}

impl Conn {
    fn line(&mut self) -> String {
        let mut l = String::new();
        let r = match self {
            Conn::Plain(r) => r.read_line(&mut l),
            Conn::Tls(r) => r.read_line(&mut l),
        };
        r.unwrap_or_else(|e| die(&format!("client read: {e}")));
        l
    }
    fn send(&mut self, b: &[u8]) {
        let r = match self {
            Conn::Plain(r) => r.get_mut().write_all(b),
            Conn::Tls(r) => r.get_mut().write_all(b).and_then(|_| r.get_mut().flush()),
        };
        r.unwrap_or_else(|e| die(&format!("client write: {e}")));
    }
}

#[derive(Debug)]
struct AnyCert;

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        // Benchmark client against its own freshly made self-signed certificate.
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(m, c, d, &algs)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(m, c, d, &algs)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Client process: open `n` connections, wait for the greeting on each, report READY, then on
/// "GO" echo one line on every connection; exit when stdin closes.
fn client(addr: &str, mode: &str, n: usize) {
    let _ = sys::raise_nofile_limit();
    let addr: SocketAddr = addr.parse().unwrap_or_else(|_| die("bad address"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_cfg = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| die(&e.to_string()))
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert))
            .with_no_client_auth(),
    );
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| die(&format!("connect: {e}")));
        let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
        let mut c = if mode == "tls" {
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap_or_else(|_| die("name"));
            let tc = rustls::ClientConnection::new(tls_cfg.clone(), name).unwrap_or_else(|e| die(&e.to_string()));
            Conn::Tls(Box::new(BufReader::new(rustls::StreamOwned::new(tc, s))))
        } else {
            Conn::Plain(BufReader::new(s))
        };
        let g = c.line();
        if !g.starts_with("* OK") {
            die(&format!("greeting {g:?}"));
        }
        conns.push(c);
    }
    println!("READY");
    let _ = std::io::stdout().flush();
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    while stdin.read_line(&mut line).unwrap_or(0) > 0 {
        if line.trim() == "GO" {
            let t = Instant::now();
            for (i, c) in conns.iter_mut().enumerate() {
                c.send(format!("ping {i}\r\n").as_bytes());
            }
            for (i, c) in conns.iter_mut().enumerate() {
                if c.line() != format!("ping {i}\r\n") {
                    die("wrong echo");
                }
            }
            println!(
                "all {n} connections echoed one line in {:.2} s",
                t.elapsed().as_secs_f64()
            );
            let _ = std::io::stdout().flush();
        }
        if line.trim() == "PUSH" {
            println!("WAITING");
            let _ = std::io::stdout().flush();
            for c in conns.iter_mut() {
                if c.line() != "* 1 EXISTS\r\n" {
                    die("wrong push");
                }
            }
            println!("RECEIVED");
            let _ = std::io::stdout().flush();
        }
        line.clear();
    }
}

/// Request-rate client: RPS_CONNS threads, each doing RPS_ROUNDS line round trips.
fn rps_client(addr: &str) {
    let addr: SocketAddr = addr.parse().unwrap_or_else(|_| die("bad address"));
    let t = Instant::now();
    let threads: Vec<_> = (0..RPS_CONNS)
        .map(|_| {
            std::thread::spawn(move || {
                let s = TcpStream::connect(addr).unwrap_or_else(|e| die(&format!("connect: {e}")));
                let _ = s.set_nodelay(true);
                let mut c = Conn::Plain(BufReader::new(s));
                c.line();
                for i in 0..RPS_ROUNDS {
                    c.send(format!("req {i}\r\n").as_bytes());
                    if c.line().len() < 6 {
                        die("short echo");
                    }
                }
            })
        })
        .collect();
    for th in threads {
        let _ = th.join();
    }
    let total = RPS_CONNS * RPS_ROUNDS;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "rps: {RPS_CONNS} connections x {RPS_ROUNDS} round trips: {total} requests in {secs:.2} s, \
         {:.0} requests/s (client and server share the machine)",
        total as f64 / secs
    );
}
