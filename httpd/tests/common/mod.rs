//! Test harness: start the real httpd binary on 127.0.0.1 port 0 with a temporary
//! configuration, and a small raw HTTP/1.1 client.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Httpd {
    pub child: Child,
    pub addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Httpd {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The users file line for a user.
pub fn user_line(email: &str, pass: &str, name: &str) -> String {
    format!("{email}\t{}\t{name}\n", httpd::auth::hash_password("saltsalt", pass))
}

/// Start httpd with `extra` configuration lines; `setup` may write files into the config dir
/// (rewrite.txt, cache.txt, fastcgi.txt) before the start.
pub fn start(extra: &str, setup: impl FnOnce(&Path)) -> Httpd {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let users = etc.join("users.txt");
    std::fs::write(&users, user_line("alice@example.org", "s3cret pass", "Alice Example")).unwrap();
    let log = dir.path().join("httpd.log");
    let cfg = etc.join("gromox.cfg");
    std::fs::write(
        &cfg,
        format!(
            "config_file_path = {etc}\nhttp_listen = 127.0.0.1:0\nhttp_threads_num = 2\nhttpd_log_file = {log}\n\
             httpd_log_level = info\nhttp_users_file = {users}\nhttp_external_host = mail.example.org\n\
             x500_org_name = Example Org\n{extra}\n",
            etc = etc.display(),
            log = log.display(),
            users = users.display(),
        ),
    )
    .unwrap();
    setup(&etc);
    let ready = dir.path().join("ready");
    let child = Command::new(env!("CARGO_BIN_EXE_httpd"))
        .args(["-c", cfg.to_str().unwrap()])
        .env("GROMOX_READY_FILE", &ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let (addr, tls_addr) = loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            let a = text
                .lines()
                .find_map(|l| l.strip_prefix("http_listen "))
                .expect("http_listen in ready file");
            let t = text.lines().find_map(|l| l.strip_prefix("http_listen_tls "));
            break (a.trim().parse().unwrap(), t.map(|t| t.trim().parse().unwrap()));
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "httpd did not become ready");
        std::thread::sleep(Duration::from_millis(20));
    };
    Httpd {
        child,
        addr,
        tls_addr,
        dir,
        log,
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Read one response from `s` (`head_only` for HEAD requests). `buf` keeps bytes read past it.
pub fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> Option<Resp> {
    let mut tmp = [0u8; 65536];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut tmp).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let mut r = Resp {
        status,
        head,
        body: Vec::new(),
    };
    if head_only || status == 304 || status == 204 || status < 200 {
        return Some(r);
    }
    if r.header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        let mut dec = httpd::http::ChunkedDecoder::new();
        loop {
            let n = dec.decode(buf, &mut r.body).ok()?;
            buf.drain(..n);
            if dec.is_done() {
                return Some(r);
            }
            let k = s.read(&mut tmp).ok()?;
            if k == 0 {
                return None;
            }
            buf.extend_from_slice(&tmp[..k]);
        }
    }
    match r.header("content-length") {
        Some(l) => {
            let len: usize = l.parse().ok()?;
            while buf.len() < len {
                let k = s.read(&mut tmp).ok()?;
                if k == 0 {
                    return None;
                }
                buf.extend_from_slice(&tmp[..k]);
            }
            r.body = buf.drain(..len).collect();
        }
        None => {
            let _ = s.read_to_end(buf);
            r.body = std::mem::take(buf);
        }
    }
    Some(r)
}

/// Send raw bytes on a new connection and read one response.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> Resp {
    let mut s = connect(addr);
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    read_response(&mut s, &mut buf, raw.starts_with(b"HEAD ")).expect("a response")
}

pub fn get(addr: SocketAddr, path: &str, extra: &str) -> Resp {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: mail.example.org\r\n{extra}Connection: close\r\n\r\n").as_bytes(),
    )
}

pub fn basic(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

pub fn post(addr: SocketAddr, path: &str, extra: &str, body: &[u8]) -> Resp {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: mail.example.org\r\n{extra}Content-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    exchange(addr, &raw)
}

/// Whether the server closed `s` (EOF or reset) within `within`.
pub fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                return false
            }
            Err(_) => return true,
        }
    }
}
