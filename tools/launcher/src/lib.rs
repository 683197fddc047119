//! The suite launcher behind `gromox up` (DESIGN.md §6).
//!
//! * State and configuration live in one directory (default `./var`, `--state DIR`). On first
//!   start the launcher writes `<state>/etc/gromox.cfg` and the per-program files (one per
//!   daemon, Gromox's file names) and never overwrites them later, so the operator can edit
//!   them; every daemon and tool then works on that suite with `-c <state>/etc/gromox.cfg`.
//!   A per-program file that is missing (a daemon added since) is written on the next start.
//! * Every listener is on 127.0.0.1 at the standard port plus an offset (`--port-offset`,
//!   default 10000: IMAP 10143, POP3 10110, LMTP 10024, HTTP 10080, HTTPS 10443, …).
//!   `--any-port` lets the system choose free ports instead (tests); then every daemon started
//!   later gets the addresses the earlier ones really bound as `-o <prefix>_listen=ADDR`
//!   overrides (so midbd finds exmdbd, imapd finds midbd and eventd), and a restarted daemon
//!   binds its old addresses again.
//! * A self-signed certificate for `localhost` is made on first start so the TLS ports and
//!   STARTTLS work out of the box.
//! * On first start the user directory (SQLite in the state directory) gets the demo domain
//!   `example.org` and the user `demo@example.org` with a random password and a mailbox; the
//!   password is kept in `<state>/etc/demo-password` and printed at every start.
//! * Every daemon binary found next to the launcher is started as a child with the suite
//!   configuration and `GROMOX_READY_FILE=<state>/run/<daemon>.ready`; the launcher waits for
//!   those files and prints what listens where. A daemon that dies is restarted with back-off
//!   (1 s doubling to 30 s; reset after a minute of uptime). SIGTERM or Ctrl-C stops all
//!   children (SIGTERM, then SIGKILL after 10 s) in reverse start order.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The daemons in start order, with the per-program configuration file each reads first.
pub const DAEMONS: &[(&str, &str)] = &[
    ("eventd", "event.cfg"),
    ("timerd", "timer.cfg"),
    ("exmdbd", "exmdb_provider.cfg"),
    ("midbd", "midb.cfg"),
    ("lmtpd", "smtp.cfg"),
    ("imapd", "imap.cfg"),
    ("pop3d", "pop3.cfg"),
    ("httpd", "http.cfg"),
];

/// Launcher options.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// State directory.
    pub state: PathBuf,
    /// Added to every standard port.
    pub port_offset: u16,
    /// Let the system choose every port.
    pub any_port: bool,
    /// Directory holding the daemon binaries.
    pub bin_dir: PathBuf,
    /// Restart daemons that exit.
    pub restart: bool,
}

/// Errors of the launcher.
#[derive(Debug)]
pub enum UpError {
    /// File system trouble, with what was being done.
    Io(String, io::Error),
    /// Anything else, already worded for the operator.
    Msg(String),
}

impl std::fmt::Display for UpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpError::Io(what, e) => write!(f, "{what}: {e}"),
            UpError::Msg(m) => f.write_str(m),
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> UpError {
    let what = what.into();
    move |e| UpError::Io(what, e)
}

fn usage() -> String {
    "Usage: gromox up [--state DIR] [--port-offset N] [--any-port] [--no-restart]\n\
     \n\
     Start the whole gromox-rs suite on 127.0.0.1 for a quick start or a test.\n\
     \n\
       --state DIR        state and configuration directory (default ./var)\n\
       --port-offset N    added to every standard port (default 10000)\n\
       --any-port         let the system choose free ports\n\
       --no-restart       do not restart daemons that exit\n\
     \n\
     The configuration is written to DIR/etc/ on first start and kept afterwards;\n\
     every daemon and tool takes -c DIR/etc/gromox.cfg to work on this suite.\n"
        .to_string()
}

/// Entry point of the `gromox` binary.
pub fn main(args: &[String]) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("up") => {}
        Some("-h") | Some("--help") | None => {
            print!("{}", usage());
            return if args.is_empty() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
        Some(other) => {
            eprintln!("gromox: unknown command \"{other}\"\n\n{}", usage());
            return ExitCode::from(2);
        }
    }
    let mut o = getopts::Options::new();
    o.optopt("", "state", "", "DIR");
    o.optopt("", "port-offset", "", "N");
    o.optflag("", "any-port", "");
    o.optflag("", "no-restart", "");
    o.optopt("", "bin-dir", "", "DIR");
    o.optflag("h", "help", "");
    let m = match o.parse(&args[1..]) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("gromox up: {e}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    if m.opt_present("h") {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let port_offset = match m.opt_str("port-offset").map(|s| s.parse::<u16>()) {
        None => 10000,
        Some(Ok(n)) if n <= 55_000 => n,
        Some(_) => {
            eprintln!("gromox up: --port-offset takes a number from 0 to 55000");
            return ExitCode::from(2);
        }
    };
    let state = PathBuf::from(m.opt_str("state").unwrap_or_else(|| "var".into()));
    let state = if state.is_absolute() {
        state
    } else {
        std::env::current_dir().unwrap_or_default().join(state)
    };
    let bin_dir = m.opt_str("bin-dir").map(PathBuf::from).unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
    });
    let opts = UpOptions {
        state,
        port_offset,
        any_port: m.opt_present("any-port"),
        bin_dir,
        restart: !m.opt_present("no-restart"),
    };
    match up(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gromox up: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration files of a new suite: `(file name, contents)`.
pub fn config_files(opts: &UpOptions) -> Vec<(String, String)> {
    let st = opts.state.display().to_string();
    let port = |p: u16| -> String {
        if opts.any_port {
            "127.0.0.1:0".into()
        } else {
            format!("127.0.0.1:{}", p.saturating_add(opts.port_offset))
        }
    };
    let tls = |prefix: &str| -> String {
        format!("{prefix}_certificate_path = {st}/etc/tls/cert.pem\n{prefix}_private_key_path = {st}/etc/tls/key.pem\n")
    };
    let head = "# Written by `gromox up` on first start; it is not overwritten later. Edit freely.\n";
    let mut files = vec![(
        "gromox.cfg".to_string(),
        format!(
            "{head}# Suite-wide keys. Per-program files beside this one override them.\n\
             state_path = {st}\n\
             config_file_path = {st}/etc\n\
             hostname = localhost\n\
             default_domain = example.org\n"
        ),
    )];
    let logs = |prog: &str| format!("{prog}_log_file = {st}/log/{prog}.log\n{prog}_log_level = info\n");
    files.push((
        "event.cfg".into(),
        format!(
            "{head}{}event_listen = {}\nevent_hosts_allow = 127.0.0.1 ::1\n",
            logs("eventd"),
            port(33333)
        ),
    ));
    files.push((
        "timer.cfg".into(),
        format!(
            "{head}{}timer_listen = {}\ntimer_hosts_allow = 127.0.0.1 ::1\n",
            logs("timerd"),
            port(6666)
        ),
    ));
    files.push((
        "exmdb_provider.cfg".into(),
        format!(
            "{head}{}exmdb_listen = {}\nexmdb_hosts_allow = 127.0.0.1 ::1\n",
            logs("exmdbd"),
            port(5000)
        ),
    ));
    files.push((
        "midb.cfg".into(),
        format!("{head}{}midb_listen = {}\n", logs("midbd"), port(5555)),
    ));
    files.push((
        "smtp.cfg".into(),
        format!(
            "{head}{}lda_listen = {}\nlda_listen_tls = {}\n{}",
            logs("lmtpd"),
            port(24),
            port(465),
            tls("lda")
        ),
    ));
    files.push((
        "imap.cfg".into(),
        format!(
            "{head}{}imap_listen = {}\nimap_listen_tls = {}\n{}",
            logs("imapd"),
            port(143),
            port(993),
            tls("imap")
        ),
    ));
    files.push((
        "pop3.cfg".into(),
        format!(
            "{head}{}pop3_listen = {}\npop3_listen_tls = {}\n{}",
            logs("pop3d"),
            port(110),
            port(995),
            tls("pop3")
        ),
    ));
    // What autoconfig/AutoDiscover tell clients: this suite's implicit-TLS ports.
    let advertised = |p: u16| p.saturating_add(opts.port_offset).to_string();
    let autoconfig = if opts.any_port {
        String::new()
    } else {
        format!(
            "http_external_host = localhost:{}\n\
             autoconfig_imap_host = localhost\nautoconfig_imap_port = {}\n\
             autoconfig_pop3_host = localhost\nautoconfig_pop3_port = {}\n\
             autoconfig_smtp_host = localhost\nautoconfig_smtp_port = {}\n",
            advertised(443),
            advertised(993),
            advertised(995),
            advertised(465)
        )
    };
    files.push((
        "http.cfg".into(),
        format!(
            "{head}{}http_listen = {}\nhttp_listen_tls = {}\n{}{autoconfig}",
            logs("httpd"),
            port(80),
            port(443),
            tls("http")
        ),
    ));
    files
}

/// Create the state directory, configuration and certificate where missing.
pub fn prepare(opts: &UpOptions) -> Result<(), UpError> {
    for sub in ["etc/tls", "log", "run"] {
        let d = opts.state.join(sub);
        fs::create_dir_all(&d).map_err(io_err(format!("cannot create {}", d.display())))?;
    }
    for (name, text) in config_files(opts) {
        let p = opts.state.join("etc").join(&name);
        if !p.exists() {
            fs::write(&p, text).map_err(io_err(format!("cannot write {}", p.display())))?;
        }
    }
    let cert = opts.state.join("etc/tls/cert.pem");
    let key = opts.state.join("etc/tls/key.pem");
    if !cert.exists() || !key.exists() {
        self_signed(&cert, &key)?;
    }
    Ok(())
}

/// A self-signed certificate for `localhost`, `127.0.0.1` and `::1`; the key file is mode 0600.
pub fn self_signed(cert: &Path, key: &Path) -> Result<(), UpError> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let ck = rcgen::generate_simple_self_signed(names)
        .map_err(|e| UpError::Msg(format!("cannot make a self-signed certificate: {e}")))?;
    write_private(key, ck.signing_key.serialize_pem().as_bytes())?;
    fs::write(cert, ck.cert.pem()).map_err(io_err(format!("cannot write {}", cert.display())))
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), UpError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(format!("cannot write {}", path.display())))?;
    f.write_all(data)
        .map_err(io_err(format!("cannot write {}", path.display())))
}

struct Managed {
    name: &'static str,
    bin: PathBuf,
    child: Option<Child>,
    started: Instant,
    backoff: Duration,
    restart_at: Option<Instant>,
}

impl Managed {
    fn ready_file(&self, opts: &UpOptions) -> PathBuf {
        opts.state.join("run").join(format!("{}.ready", self.name))
    }

    fn spawn(&mut self, opts: &UpOptions, bound: &Bound) -> Result<(), UpError> {
        let ready = self.ready_file(opts);
        let _ = fs::remove_file(&ready);
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-c").arg(opts.state.join("etc/gromox.cfg"));
        if opts.any_port {
            for (key, addrs) in bound {
                cmd.arg("-o").arg(format!("{key}={}", addrs.join(" ")));
            }
        }
        let child = cmd
            .env("GROMOX_READY_FILE", &ready)
            .stdin(Stdio::null())
            .spawn()
            .map_err(io_err(format!("cannot start {}", self.bin.display())))?;
        let pid_file = opts.state.join("run").join(format!("{}.pid", self.name));
        let _ = fs::write(&pid_file, format!("{}\n", child.id()));
        self.child = Some(child);
        self.started = Instant::now();
        self.restart_at = None;
        Ok(())
    }
}

/// Addresses the daemons really bound, by listener key (`exmdb_listen` → `127.0.0.1:40123`).
type Bound = std::collections::BTreeMap<String, Vec<String>>;

/// Wait until `m` wrote its ready file; returns the `key addr` lines.
fn wait_ready(m: &mut Managed, opts: &UpOptions, timeout: Duration) -> Result<Vec<String>, UpError> {
    let deadline = Instant::now() + timeout;
    let ready = m.ready_file(opts);
    loop {
        if let Ok(text) = fs::read_to_string(&ready) {
            return Ok(text.lines().map(str::to_string).collect());
        }
        if let Some(c) = m.child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                return Err(UpError::Msg(format!(
                    "{} exited with {st} during start-up; see its messages above and {}",
                    m.name,
                    opts.state.join("log").join(format!("{}.log", m.name)).display()
                )));
            }
        }
        if Instant::now() > deadline {
            return Err(UpError::Msg(format!(
                "{} did not become ready within {timeout:?}",
                m.name
            )));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn stop_all(children: &mut [Managed]) {
    for m in children.iter().rev() {
        if let Some(c) = &m.child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for m in children.iter_mut().rev() {
        if let Some(mut c) = m.child.take() {
            loop {
                match c.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        eprintln!("gromox: {} did not stop within 10 s; killing it", m.name);
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(25)),
                }
            }
        }
    }
}

/// Demo account created on first start.
pub const DEMO_DOMAIN: &str = "example.org";
/// Demo account created on first start.
pub const DEMO_USER: &str = "demo@example.org";

/// Create the demo domain and user (directory entries and stores) on first start and return
/// `(user, password)`. The password is random, kept in `<state>/etc/demo-password` (mode 0600)
/// so later starts can print it again.
pub fn ensure_demo(opts: &UpOptions) -> Result<(String, String), UpError> {
    let suite = opts.state.join("etc/gromox.cfg");
    let cfg = gromox_base::Config::load(
        "gromox",
        Some(&suite),
        gromox_directory::CONFIG_FILES,
        &gromox_directory::config_keys(),
    )
    .map_err(|e| UpError::Msg(e.to_string()))?;
    let pw_file = opts.state.join("etc/demo-password");
    let password = match fs::read_to_string(&pw_file) {
        Ok(p) if !p.trim().is_empty() => p.trim().to_string(),
        _ => {
            let p = random_password()?;
            write_private(&pw_file, format!("{p}\n").as_bytes())?;
            p
        }
    };
    gromox_tools::install_store_hooks();
    gromox_directory::ensure_demo(&cfg, DEMO_DOMAIN, DEMO_USER, &password)
        .map_err(|e| UpError::Msg(format!("cannot create the demo user: {e}")))?;
    Ok((DEMO_USER.to_string(), password))
}

fn random_password() -> Result<String, UpError> {
    use std::io::Read;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut raw = [0u8; 14];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .map_err(io_err("cannot read /dev/urandom"))?;
    Ok(raw
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

/// Run the suite until SIGTERM/SIGINT. Writes `<state>/run/<daemon>.pid` for every child and,
/// when `GROMOX_READY_FILE` is set, the `key addr` lines of every daemon's listeners there once
/// all are ready.
pub fn up(opts: &UpOptions) -> Result<(), UpError> {
    prepare(opts)?;
    let (demo_user, demo_password) = ensure_demo(opts)?;
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, term.clone()).map_err(io_err("cannot install signal handlers"))?;
    }
    let mut children: Vec<Managed> = DAEMONS
        .iter()
        .map(|(name, _)| (name, opts.bin_dir.join(name)))
        .filter(|(_, bin)| bin.is_file())
        .map(|(name, bin)| Managed {
            name,
            bin,
            child: None,
            started: Instant::now(),
            backoff: Duration::from_secs(1),
            restart_at: None,
        })
        .collect();
    if children.is_empty() {
        return Err(UpError::Msg(format!(
            "no daemon binaries in {} (build them with `cargo build --workspace`)",
            opts.bin_dir.display()
        )));
    }
    println!("gromox-rs suite, state in {}", opts.state.display());
    println!("configuration: {}", opts.state.join("etc/gromox.cfg").display());
    let mut started = Vec::new();
    let mut all_listeners = String::new();
    let mut bound = Bound::new();
    for i in 0..children.len() {
        let spawned = children[i]
            .spawn(opts, &bound)
            .and_then(|_| wait_ready(&mut children[i], opts, Duration::from_secs(60)));
        match spawned {
            Ok(lines) => {
                if lines.is_empty() {
                    println!("  {:<8} running (no listeners yet)", children[i].name);
                }
                for l in lines {
                    all_listeners.push_str(&l);
                    all_listeners.push('\n');
                    let (key, addr) = l.split_once(' ').unwrap_or((l.as_str(), ""));
                    println!("  {:<8} {:<18} {}", children[i].name, key, addr);
                    bound.entry(key.to_string()).or_default().push(addr.to_string());
                }
                started.push(children[i].name);
            }
            Err(e) => {
                stop_all(&mut children);
                return Err(e);
            }
        }
        if term.load(Ordering::Relaxed) {
            break;
        }
    }
    let summary = opts.state.join("run/suite.ready");
    let _ = fs::write(&summary, started.join("\n") + "\n");
    println!("demo login: {demo_user}  password: {demo_password}");
    println!("logs: {}", opts.state.join("log").display());
    // Tell our own supervisor (a test harness) every listener, like a daemon does.
    if let Some(path) = std::env::var_os("GROMOX_READY_FILE").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, &all_listeners)
            .and_then(|_| fs::rename(&tmp, &path))
            .map_err(io_err(format!("cannot write {}", path.display())))?;
    }
    println!("ready; Ctrl-C stops the suite");

    while !term.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        for m in children.iter_mut() {
            if let Some(c) = m.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    m.child = None;
                    if !opts.restart {
                        eprintln!("gromox: {} exited with {st}", m.name);
                        continue;
                    }
                    if m.started.elapsed() > Duration::from_secs(60) {
                        m.backoff = Duration::from_secs(1);
                    }
                    eprintln!("gromox: {} exited with {st}; restarting in {:?}", m.name, m.backoff);
                    m.restart_at = Some(Instant::now() + m.backoff);
                    m.backoff = (m.backoff * 2).min(Duration::from_secs(30));
                }
            } else if m.restart_at.is_some_and(|t| Instant::now() >= t) {
                if let Err(e) = m.spawn(opts, &bound) {
                    eprintln!("gromox: {e}");
                    m.restart_at = Some(Instant::now() + m.backoff);
                } else {
                    eprintln!("gromox: {} restarted", m.name);
                }
            }
        }
    }
    println!("stopping");
    stop_all(&mut children);
    let _ = fs::remove_file(&summary);
    Ok(())
}
