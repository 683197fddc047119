//! Integration-test harness (DESIGN.md §8: hermetic tests).
//!
//! Start any daemon binary of the suite — or the whole suite through `gromox up` — with a
//! temporary state directory, on loopback ports chosen by the system (port 0), wait until it
//! is ready, and SIGKILL or restart it. A daemon reports readiness and its real addresses by
//! writing the file named in `GROMOX_READY_FILE` (see `gromox_base::daemon::announce_ready`).
//!
//! Binaries are looked up next to the test executable's `deps/` directory (`target/debug/`),
//! so `cargo test --workspace` (which builds every binary first) is all that is needed.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long [`Daemon::start`] waits for readiness.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Directory holding the workspace's binaries (`target/<profile>/`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Path of a workspace binary, e.g. `bin("eventd")`. Panics with advice when it is missing.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} not built: run the tests with `cargo test --workspace` (or `cargo build --workspace` first)",
        p.display()
    );
    p
}

/// A temporary state directory, removed on drop unless `GROMOX_TEST_KEEP` is set.
pub struct TestDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl TestDir {
    /// Create one.
    pub fn new() -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix("gromox-test-")
            .tempdir()
            .expect("temporary directory");
        let path = dir.path().to_path_buf();
        TestDir { dir: Some(dir), path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write `key = value` lines to `name` inside the directory; returns the file's path.
    pub fn write_config(&self, name: &str, keys: &[(&str, &str)]) -> PathBuf {
        let mut text = String::new();
        for (k, v) in keys {
            text.push_str(&format!("{k} = {v}\n"));
        }
        let p = self.path.join(name);
        fs::write(&p, text).expect("write config");
        p
    }
}

impl Default for TestDir {
    fn default() -> Self {
        TestDir::new()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("GROMOX_TEST_KEEP").is_some() {
            if let Some(d) = self.dir.take() {
                eprintln!("keeping {}", d.keep().display());
            }
        }
    }
}

/// A running daemon under test.
pub struct Daemon {
    bin: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    ready_file: PathBuf,
    log_file: PathBuf,
    child: Option<Child>,
    addrs: BTreeMap<String, Vec<SocketAddr>>,
}

impl Daemon {
    /// Start `bin` with `args` (e.g. `["-c", cfg]`), logging to a file in `dir`, and wait
    /// until it announced its listeners.
    pub fn start(bin: &Path, args: &[&str], dir: &Path) -> io::Result<Daemon> {
        Daemon::start_with_env(bin, args, dir, &[])
    }

    /// Like [`Daemon::start`] with extra environment variables.
    pub fn start_with_env(bin: &Path, args: &[&str], dir: &Path, envs: &[(&str, &str)]) -> io::Result<Daemon> {
        let name = bin
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut d = Daemon {
            bin: bin.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            envs: envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ready_file: dir.join(format!("{name}.ready")),
            log_file: dir.join(format!("{name}.stderr")),
            child: None,
            addrs: BTreeMap::new(),
        };
        d.spawn()?;
        Ok(d)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let _ = fs::remove_file(&self.ready_file);
        let log = fs::OpenOptions::new().create(true).append(true).open(&self.log_file)?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args)
            .env("GROMOX_READY_FILE", &self.ready_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn()?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(text) = fs::read_to_string(&self.ready_file) {
                self.addrs.clear();
                for line in text.lines() {
                    if let Some((k, a)) = line.split_once(' ') {
                        if let Ok(addr) = a.trim().parse() {
                            self.addrs.entry(k.to_string()).or_default().push(addr);
                        }
                    }
                }
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!(
                        "{} exited with {status} before it was ready; its output:\n{}",
                        self.bin.display(),
                        self.output()
                    )));
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} not ready after {:?}; output:\n{}",
                        self.bin.display(),
                        READY_TIMEOUT,
                        self.output()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// First address announced for the listener key (e.g. `event_listen`).
    pub fn addr(&self, key: &str) -> SocketAddr {
        match self.addrs.get(key).and_then(|v| v.first()) {
            Some(a) => *a,
            None => panic!(
                "{} announced no {key}; it announced {:?}",
                self.bin.display(),
                self.addrs
            ),
        }
    }

    /// All announced addresses.
    pub fn addrs(&self) -> &BTreeMap<String, Vec<SocketAddr>> {
        &self.addrs
    }

    /// Process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the daemon wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait up to `timeout` for exit; returns the exit status (None: had to SIGKILL).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Send a signal (e.g. `libc::SIGHUP`).
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as libc::pid_t, sig);
            }
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Start the same binary with the same arguments again (after [`Daemon::kill`]).
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A line-oriented test client for the text protocols (CRLF or LF).
pub struct LineClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl LineClient {
    /// Connect with a 10 s read timeout.
    pub fn connect(addr: SocketAddr) -> io::Result<LineClient> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(LineClient {
            stream,
            buf: Vec::new(),
        })
    }

    /// The underlying stream.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Send `line` plus CRLF.
    pub fn send(&mut self, line: &str) -> io::Result<()> {
        self.stream.write_all(format!("{line}\r\n").as_bytes())
    }

    /// Read one line without its line end; `Ok(None)` at EOF.
    pub fn read_line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Send a command and read one reply line.
    pub fn cmd(&mut self, line: &str) -> io::Result<String> {
        self.send(line)?;
        self.read_line()?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"))
    }
}

/// Poll `f` every 50 ms until it returns true or `timeout` passes; returns whether it did.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The Python interpreter for client tests: `$GROMOX_PYTHON`, else `.venv/bin/python3` at the
/// workspace root, else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("GROMOX_PYTHON") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join(".venv/bin/python3");
    if venv.is_file() {
        return venv;
    }
    PathBuf::from("python3")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_lifecycle_with_a_shell_stand_in() {
        // A stand-in daemon: says it started, announces a fake listener (readiness), then sleeps.
        let dir = TestDir::new();
        let script = dir.path().join("fake-daemon");
        fs::write(&script, "#!/bin/sh\necho started $1\necho 'x_listen 127.0.0.1:4242' > \"$GROMOX_READY_FILE.tmp\"\nmv \"$GROMOX_READY_FILE.tmp\" \"$GROMOX_READY_FILE\"\nexec sleep 60\n").unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap();
        let mut d = Daemon::start(&script, &["hello"], dir.path()).unwrap();
        assert_eq!(d.addr("x_listen"), "127.0.0.1:4242".parse().unwrap());
        assert!(d.is_running());
        let first = d.pid();
        d.restart().unwrap();
        assert_ne!(d.pid(), first);
        assert!(wait_until(Duration::from_secs(5), || d
            .output()
            .matches("started hello")
            .count()
            == 2));
        d.kill();
        assert!(!d.is_running());
    }

    #[test]
    fn early_exit_is_reported_with_output() {
        let dir = TestDir::new();
        let script = dir.path().join("bad-daemon");
        fs::write(
            &script,
            "#!/bin/sh\necho 'bad config: x.cfg:3: key \"y\"' >&2\nexit 2\n",
        )
        .unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap();
        let err = Daemon::start(&script, &[], dir.path()).err().unwrap().to_string();
        assert!(err.contains("exited with") && err.contains("x.cfg:3"), "{err}");
    }
}
