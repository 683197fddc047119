//! Test protocol and helpers for the runtime's socket tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use gromox_runtime::{
    ConnHandle, ConnInfo, Control, Cx, Listener, Next, Protocol, RuntimeError, Server, ServerConfig, Session,
    StatsHandle,
};

/// Shared observations of the test protocol.
#[derive(Default)]
pub struct Shared {
    /// Handles registered by `REGISTER`.
    pub handles: Mutex<Vec<ConnHandle>>,
    /// Largest output buffer seen while streaming.
    pub max_out: AtomicUsize,
    /// `writable` calls made while output was at or above low water (must stay 0).
    pub early_writable: AtomicUsize,
    /// `closed` calls.
    pub closed: AtomicUsize,
}

pub struct LineProto {
    pub shared: Arc<Shared>,
    pub low_water: usize,
}

pub const CHUNK: usize = 16 * 1024;

impl Protocol for LineProto {
    type Session = LineSession;
    fn accept(&self, info: &ConnInfo) -> LineSession {
        LineSession {
            shared: self.shared.clone(),
            peer: info.peer,
            big_left: 0,
            low_water: self.low_water,
            keepalives: 0,
        }
    }
    fn busy_reply(&self) -> &[u8] {
        b"* BYE busy\r\n"
    }
}

pub struct LineSession {
    shared: Arc<Shared>,
    peer: SocketAddr,
    big_left: usize,
    low_water: usize,
    keepalives: usize,
}

impl LineSession {
    fn chunk(&mut self, cx: &mut Cx<'_>) -> Next {
        let n = self.big_left.min(CHUNK);
        cx.out.extend(std::iter::repeat_n(b'x', n));
        self.big_left -= n;
        self.shared.max_out.fetch_max(cx.out.len(), Ordering::SeqCst);
        if self.big_left == 0 {
            cx.out.extend_from_slice(b"\r\nBIG done\r\n");
            Next::Read
        } else {
            Next::Write
        }
    }
}

impl Session for LineSession {
    fn connected(&mut self, cx: &mut Cx<'_>) -> Next {
        cx.out.extend_from_slice(b"* OK hello\r\n");
        Next::Read
    }

    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        let Some(end) = data.iter().position(|&b| b == b'\n') else {
            return (0, Next::Read);
        };
        let line = String::from_utf8_lossy(&data[..end]).trim_end().to_string();
        let used = end + 1;
        let (cmd, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let next = match cmd {
            "ECHO" => {
                cx.out.extend_from_slice(arg.as_bytes());
                cx.out.extend_from_slice(b"\r\n");
                Next::Read
            }
            "PEER" => {
                let s = format!("PEER {} TLS={}\r\n", cx.info.peer, cx.tls_active);
                cx.out.extend_from_slice(s.as_bytes());
                Next::Read
            }
            "STARTTLS" => {
                cx.out.extend_from_slice(b"OK begin TLS\r\n");
                Next::StartTls
            }
            "BIG" => {
                self.big_left = arg.parse().unwrap();
                self.chunk(cx)
            }
            "SLOW" => {
                std::thread::sleep(Duration::from_millis(arg.parse().unwrap()));
                cx.out.extend_from_slice(b"SLOW done\r\n");
                Next::Read
            }
            "IDLE" => {
                cx.idle_timeout = Some(Duration::from_millis(arg.parse().unwrap()));
                cx.out.extend_from_slice(b"OK idle set\r\n");
                Next::Read
            }
            "REGISTER" => {
                self.shared.handles.lock().unwrap().push(cx.handle.clone());
                cx.out.extend_from_slice(b"REGISTERED\r\n");
                Next::Read
            }
            "KEEP" => {
                self.keepalives = arg.parse().unwrap();
                cx.out.extend_from_slice(b"OK keep\r\n");
                Next::Read
            }
            "PANIC" => panic!("test session panics on request"),
            "QUIT" => {
                cx.out.extend_from_slice(b"BYE\r\n");
                Next::Close
            }
            _ => {
                cx.out.extend_from_slice(b"BAD command\r\n");
                Next::Read
            }
        };
        let _ = self.peer;
        (used, next)
    }

    fn writable(&mut self, cx: &mut Cx<'_>) -> Next {
        if cx.out.len() >= self.low_water {
            self.shared.early_writable.fetch_add(1, Ordering::SeqCst);
        }
        self.chunk(cx)
    }

    fn pushed(&mut self, msg: gromox_runtime::Push, cx: &mut Cx<'_>) -> Next {
        let text = msg.downcast::<String>().map(|b| *b).unwrap_or_default();
        cx.out.extend_from_slice(format!("* PUSH {text}\r\n").as_bytes());
        Next::Read
    }

    fn timed_out(&mut self, cx: &mut Cx<'_>) -> Next {
        if self.keepalives > 0 {
            self.keepalives -= 1;
            cx.out.extend_from_slice(b"* OK still there\r\n");
            return Next::Read;
        }
        cx.out.extend_from_slice(b"* BYE idle timeout\r\n");
        Next::Close
    }

    fn closed(&mut self) {
        self.shared.closed.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

pub struct Running {
    pub addrs: Vec<(&'static str, SocketAddr)>,
    pub control: Control,
    pub stats: StatsHandle,
    pub shared: Arc<Shared>,
    pub join: Option<JoinHandle<Result<(), RuntimeError>>>,
}

impl Running {
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.addrs.iter().find(|(n, _)| *n == name).unwrap().1
    }
    pub fn stop(mut self) {
        self.control.shutdown();
        self.join.take().unwrap().join().unwrap().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(j) = self.join.take() {
            self.control.shutdown();
            let _ = j.join();
        }
    }
}

pub fn listener(name: &'static str, tls: bool, haproxy: bool) -> Listener {
    Listener {
        name,
        addr: "127.0.0.1:0".parse().unwrap(),
        tls,
        haproxy,
    }
}

pub fn base_config() -> ServerConfig {
    ServerConfig {
        listeners: vec![listener("plain", false, false)],
        threads: 2,
        context_num: 100,
        idle_timeout: Duration::from_secs(30),
        ..ServerConfig::default()
    }
}

pub fn start(cfg: ServerConfig) -> Running {
    let low = cfg.out_low_water;
    let server = Server::bind(cfg, logger()).unwrap();
    let addrs = server.local_addrs();
    let stats = server.stats_handle();
    let shared = Arc::new(Shared::default());
    let proto = Arc::new(LineProto {
        shared: shared.clone(),
        low_water: low,
    });
    let control = Control::new();
    let c2 = control.clone();
    let join = std::thread::spawn(move || server.run(proto, c2));
    Running {
        addrs,
        control,
        stats,
        shared,
        join: Some(join),
    }
}

/// A line client over any stream.
pub struct Client<S: Read + Write> {
    pub r: BufReader<S>,
}

impl<S: Read + Write> Client<S> {
    pub fn new(s: S) -> Self {
        Client { r: BufReader::new(s) }
    }
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l
    }
    pub fn send(&mut self, s: &str) {
        self.r.get_mut().write_all(s.as_bytes()).unwrap();
        self.r.get_mut().flush().unwrap();
    }
    pub fn cmd(&mut self, s: &str) -> String {
        self.send(&format!("{s}\r\n"));
        self.line()
    }
    /// Reads until EOF, returns what came.
    pub fn rest(&mut self) -> String {
        let mut v = String::new();
        let _ = self.r.read_to_string(&mut v);
        v
    }
}

pub fn connect(addr: SocketAddr) -> Client<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    Client::new(s)
}

/// Test PKI: a CA and a server certificate for "localhost" signed by it.
pub struct Pki {
    pub server: Arc<rustls::ServerConfig>,
    pub client: Arc<rustls::ClientConfig>,
}

pub fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "gromox-rs test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    let server = gromox_runtime::tls::load_server_config(&cert, &key, "1.2").unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Pki {
        server,
        client: Arc::new(client),
    }
}

pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

pub fn tls_wrap(cfg: &Arc<rustls::ClientConfig>, s: TcpStream) -> TlsStream {
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(cfg.clone(), name).unwrap();
    rustls::StreamOwned::new(conn, s)
}
