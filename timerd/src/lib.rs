//! timerd: Gromox's deferred command executor (timer(8gx)).
//!
//! Clients `ADD <seconds> <command>` and get `TRUE <id>` once the timer is durable; at expiry
//! the command runs with `/bin/sh -c` on a bounded pool (`timer_exec_max`) with a time limit
//! (`timer_exec_timeout`); exit status and truncated output are logged. Pending timers live in
//! an fsynced journal ([`journal`]): after a crash or SIGKILL they still fire, overdue ones at
//! once, and ids stay unique. Delivery is *at least once*: a command that was running when the
//! daemon died runs again after the restart.
//!
//! - [`codec`]: framing (hard line cap) and the command parser (fuzzed, `fuzz/`).
//! - [`journal`]: the state file (decoder fuzzed too).
//! - [`exec`]: running one command.
//! - [`Timers`]: the shared timer table, scheduler and executor pool.
//! - [`TimerProtocol`]/[`TimerSession`]: the runtime [`Protocol`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gromox_base::acl::HostsAllow;
use gromox_base::log::sanitize;
use gromox_runtime::{ConnInfo, Cx, Next, Protocol, Session};
use slog::Logger;

pub mod codec;
pub mod exec;
pub mod journal;

use codec::{parse_command, Command, Frame, LineFramer};
use journal::{Journal, Record};

/// Errors of timerd.
#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    /// The state file could not be read or written.
    #[error("timer state file {path}: {source}")]
    State {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A worker thread could not be started.
    #[error("cannot start thread: {0}")]
    Thread(std::io::Error),
}

/// Executor settings.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    /// Commands running at once.
    pub max: usize,
    /// Time limit per command.
    pub timeout: Duration,
    /// Bytes of standard output and of standard error kept for the log.
    pub output_max: usize,
    /// The shell (`/bin/sh`).
    pub shell: String,
}

impl Default for ExecSettings {
    fn default() -> Self {
        ExecSettings {
            max: 4,
            timeout: Duration::from_secs(600),
            output_max: 4096,
            shell: "/bin/sh".into(),
        }
    }
}

/// Current time in milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

struct Inner {
    journal: Journal,
    /// Pending and running timers (running ones stay until their end is journalled).
    timers: BTreeMap<u64, Record>,
    /// Timers not started yet, by due time.
    queue: BTreeSet<(u64, u64)>,
    running: HashSet<u64>,
    next_id: u64,
    stopping: bool,
}

/// The timer table, shared by sessions, the scheduler and the executors.
pub struct Timers {
    inner: Mutex<Inner>,
    wake: Condvar,
    log: Logger,
    path: String,
}

impl Timers {
    /// Open the state file at `path` (created if missing) and load pending timers.
    pub fn open(path: &Path, log: Logger) -> Result<Arc<Timers>, TimerError> {
        let state_err = |source| TimerError::State {
            path: path.display().to_string(),
            source,
        };
        let (journal, loaded) = Journal::open(path).map_err(state_err)?;
        if loaded.bad_lines > 0 || loaded.torn_tail {
            slog::warn!(log, "timer state file had unreadable records; they were skipped";
                "event" => "timer.state_damaged", "bad_lines" => loaded.bad_lines,
                "torn_tail" => loaded.torn_tail, "file" => path.display().to_string());
        }
        let queue = loaded.pending.iter().map(|(id, r)| (r.due, *id)).collect();
        slog::info!(log, "timers loaded"; "event" => "timer.loaded", "pending" => loaded.pending.len(),
            "next_id" => loaded.next_id);
        Ok(Arc::new(Timers {
            inner: Mutex::new(Inner {
                journal,
                timers: loaded.pending,
                queue,
                running: HashSet::new(),
                next_id: loaded.next_id,
                stopping: false,
            }),
            wake: Condvar::new(),
            log,
            path: path.display().to_string(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Updates under this lock keep the maps consistent before any call that can fail; a
        // poisoned lock (a panic elsewhere) leaves usable data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add a timer running `command` in `delay` seconds. Returns its id once it is durable.
    pub fn add(&self, delay: u64, command: &str) -> Result<u64, TimerError> {
        // Round up to the next whole second: a timer never fires early.
        let due = now_ms().div_ceil(1000).saturating_add(delay);
        let mut g = self.lock();
        let id = g.next_id;
        // Never reuse an id, even of an ADD that failed (its record may be on disk).
        g.next_id += 1;
        let rec = Record {
            due,
            command: command.to_string(),
        };
        if let Err(source) = g.journal.add(id, &rec) {
            // The record may have reached the file although the client hears FALSE: rewrite
            // the file from memory so it cannot fire after a restart.
            self.rewrite(&mut g);
            return Err(TimerError::State {
                path: self.path.clone(),
                source,
            });
        }
        g.timers.insert(id, rec);
        g.queue.insert((due, id));
        drop(g);
        self.wake.notify_all();
        Ok(id)
    }

    /// Rewrite the state file from memory after a failed append (best effort, logged).
    fn rewrite(&self, g: &mut Inner) {
        let next = g.next_id;
        if let Err(e) = g.journal.compact(&g.timers, next) {
            slog::error!(self.log, "timer state file cannot be rewritten"; "event" => "timer.state_write_failed",
                "error" => e.to_string());
        }
    }

    /// Cancel a timer that has not started. `Ok(false)`: no such pending timer.
    pub fn cancel(&self, id: u64) -> Result<bool, TimerError> {
        let mut g = self.lock();
        if g.running.contains(&id) {
            return Ok(false);
        }
        let Some(due) = g.timers.get(&id).map(|r| r.due) else {
            return Ok(false);
        };
        if let Err(source) = g.journal.finish(id, "CANCEL") {
            // Still pending (the client hears FALSE); make sure the file says so.
            self.rewrite(&mut g);
            return Err(TimerError::State {
                path: self.path.clone(),
                source,
            });
        }
        g.timers.remove(&id);
        g.queue.remove(&(due, id));
        self.maybe_compact(&mut g);
        Ok(true)
    }

    /// Number of pending (not started) timers.
    pub fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    fn maybe_compact(&self, g: &mut Inner) {
        if g.journal.wants_compaction(g.timers.len()) {
            let next = g.next_id;
            if let Err(e) = g.journal.compact(&g.timers, next) {
                slog::error!(self.log, "timer state compaction failed"; "event" => "timer.compact_failed",
                    "error" => e.to_string());
            }
        }
    }

    fn finish(&self, id: u64, word: &str) {
        let mut g = self.lock();
        g.running.remove(&id);
        g.timers.remove(&id);
        if let Err(e) = g.journal.finish(id, word) {
            slog::error!(self.log, "cannot record finished timer"; "event" => "timer.state_write_failed",
                "id" => id, "error" => e.to_string());
            // Without it the timer would run again after a restart: rewrite from memory.
            self.rewrite(&mut g);
        }
        self.maybe_compact(&mut g);
    }

    /// Ask the scheduler to stop.
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.wake.notify_all();
    }

    /// Start the scheduler thread and `settings.max` executor threads. The scheduler returns
    /// after [`Timers::stop`]; executors end when the scheduler has ended and their queue is
    /// empty.
    pub fn start(self: &Arc<Self>, settings: ExecSettings) -> Result<Vec<JoinHandle<()>>, TimerError> {
        let (tx, rx) = crossbeam_channel::unbounded::<(u64, String)>();
        let mut handles = Vec::new();
        for i in 0..settings.max.max(1) {
            let me = self.clone();
            let rx = rx.clone();
            let s = settings.clone();
            let h = thread::Builder::new()
                .name(format!("timer-exec/{i}"))
                .spawn(move || {
                    for (id, cmd) in rx {
                        me.execute(id, &cmd, &s);
                    }
                })
                .map_err(TimerError::Thread)?;
            handles.push(h);
        }
        let me = self.clone();
        let h = thread::Builder::new()
            .name("timer-sched".into())
            .spawn(move || me.schedule(tx))
            .map_err(TimerError::Thread)?;
        handles.push(h);
        Ok(handles)
    }

    fn schedule(&self, tx: crossbeam_channel::Sender<(u64, String)>) {
        let mut g = self.lock();
        loop {
            if g.stopping {
                return;
            }
            let now = now_ms();
            while let Some(&(due, id)) = g.queue.first() {
                if due.saturating_mul(1000) > now {
                    break;
                }
                g.queue.pop_first();
                let Some(cmd) = g.timers.get(&id).map(|r| r.command.clone()) else {
                    continue;
                };
                g.running.insert(id);
                let late = now.saturating_sub(due.saturating_mul(1000)) / 1000;
                slog::debug!(self.log, "timer due"; "event" => "timer.due", "id" => id, "late_s" => late);
                if tx.send((id, cmd)).is_err() {
                    return;
                }
            }
            // Sleep until the next due time, at most a second (wall clock changes).
            let wait = g
                .queue
                .first()
                .map_or(1000, |&(due, _)| due.saturating_mul(1000).saturating_sub(now))
                .clamp(1, 1000);
            g = self
                .wake
                .wait_timeout(g, Duration::from_millis(wait))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn execute(&self, id: u64, cmd: &str, s: &ExecSettings) {
        let o = exec::run(&s.shell, cmd, s.timeout, s.output_max);
        let status = match &o.status {
            exec::Status::Exited(c) => format!("exit {c}"),
            exec::Status::Signaled(sig) => format!("signal {sig}"),
            exec::Status::TimedOut => format!("killed after {:?}", s.timeout),
            exec::Status::SpawnFailed(e) => format!("not started: {e}"),
        };
        let line = sanitize(&o.output);
        if o.status == exec::Status::Exited(0) {
            slog::info!(self.log, "timer command finished"; "event" => "timer.exec", "id" => id,
                "command" => sanitize(cmd), "status" => status, "ms" => o.elapsed.as_millis() as u64,
                "output" => line, "truncated" => o.truncated);
        } else {
            slog::warn!(self.log, "timer command failed"; "event" => "timer.exec_failed", "id" => id,
                "command" => sanitize(cmd), "status" => status, "ms" => o.elapsed.as_millis() as u64,
                "output" => line, "truncated" => o.truncated);
        }
        self.finish(id, o.status.journal_word());
    }
}

/// Line sent to a client outside `timer_hosts_allow` before closing.
pub const ACCESS_DENIED: &[u8] = b"FALSE Access denied\r\n";

/// The timer protocol.
pub struct TimerProtocol {
    timers: Arc<Timers>,
    acl: std::sync::RwLock<HostsAllow>,
    log: Logger,
    metrics: Arc<gromox_runtime::Registry>,
}

impl TimerProtocol {
    /// A protocol instance over `timers`.
    pub fn new(timers: Arc<Timers>, acl: HostsAllow, log: Logger) -> Self {
        TimerProtocol {
            timers,
            acl: std::sync::RwLock::new(acl),
            log,
            metrics: Arc::default(),
        }
    }

    /// Record commands into `m` (the server's registry, exported for httpd's `/metrics`).
    pub fn with_metrics(mut self, m: Arc<gromox_runtime::Registry>) -> Self {
        self.metrics = m;
        self
    }

    /// Replace the access list (SIGHUP); existing connections are not affected.
    pub fn set_acl(&self, acl: HostsAllow) {
        *self.acl.write().unwrap_or_else(|p| p.into_inner()) = acl;
    }
}

impl Protocol for TimerProtocol {
    type Session = TimerSession;

    fn accept(&self, info: &ConnInfo) -> TimerSession {
        TimerSession {
            timers: self.timers.clone(),
            log: self.log.clone(),
            peer: info.peer,
            allowed: self
                .acl
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .allows(info.peer.ip()),
            framer: LineFramer::default(),
            metrics: self.metrics.clone(),
        }
    }

    fn busy_reply(&self) -> &[u8] {
        b"FALSE Maximum number of connections reached\r\n"
    }
}

/// One client connection.
pub struct TimerSession {
    metrics: Arc<gromox_runtime::Registry>,
    timers: Arc<Timers>,
    log: Logger,
    peer: SocketAddr,
    allowed: bool,
    framer: LineFramer,
}

impl TimerSession {
    fn command(&mut self, line: &[u8], out: &mut Vec<u8>) -> Next {
        let cmd = match parse_command(line) {
            Ok(c) => c,
            Err(e) => {
                slog::debug!(self.log, "command refused"; "event" => "timer.bad_command",
                    "peer" => self.peer.to_string(), "reason" => e.to_string());
                out.extend_from_slice(b"FALSE\r\n");
                return Next::Read;
            }
        };
        match cmd {
            Command::Add { delay, command } => match self.timers.add(delay, &command) {
                Ok(id) => {
                    slog::info!(self.log, "timer added"; "event" => "timer.add", "id" => id,
                        "delay_s" => delay, "peer" => self.peer.to_string(), "command" => sanitize(&command));
                    out.extend_from_slice(format!("TRUE {id}\r\n").as_bytes());
                }
                Err(e) => {
                    slog::error!(self.log, "timer not added"; "event" => "timer.add_failed",
                        "error" => e.to_string());
                    out.extend_from_slice(b"FALSE\r\n");
                }
            },
            Command::Cancel(id) => {
                let ok = match self.timers.cancel(id) {
                    Ok(ok) => ok,
                    Err(e) => {
                        slog::error!(self.log, "timer not cancelled"; "event" => "timer.cancel_failed",
                            "id" => id, "error" => e.to_string());
                        false
                    }
                };
                if ok {
                    slog::info!(self.log, "timer cancelled"; "event" => "timer.cancel", "id" => id);
                }
                out.extend_from_slice(if ok { b"TRUE\r\n" } else { b"FALSE\r\n" });
            }
            Command::Ping => out.extend_from_slice(b"TRUE\r\n"),
            Command::Quit => {
                out.extend_from_slice(b"BYE\r\n");
                return Next::Close;
            }
        }
        Next::Read
    }
}

impl Session for TimerSession {
    fn connected(&mut self, cx: &mut Cx<'_>) -> Next {
        if !self.allowed {
            slog::warn!(self.log, "connection refused by timer_hosts_allow";
                "event" => "acl.refused", "peer" => self.peer.to_string());
            cx.out.extend_from_slice(ACCESS_DENIED);
            return Next::Close;
        }
        cx.out.extend_from_slice(b"OK\r\n");
        Next::Read
    }

    fn input(&mut self, data: &[u8], cx: &mut Cx<'_>) -> (usize, Next) {
        let mut used = 0;
        loop {
            let (frame, n) = self.framer.next(&data[used..]);
            used += n;
            match frame {
                Some(Frame::Line(line)) => {
                    let (t, at) = (std::time::Instant::now(), cx.out.len());
                    let next = self.command(line, cx.out);
                    self.metrics.request(
                        gromox_runtime::metrics::word_label(line, &["ADD", "CANCEL", "PING", "QUIT"]),
                        gromox_runtime::metrics::word_label(&cx.out[at..], &["TRUE", "FALSE"]),
                        t.elapsed(),
                    );
                    if next == Next::Close {
                        return (used, Next::Close);
                    }
                }
                Some(Frame::TooLong) => {
                    slog::debug!(self.log, "over-long line discarded"; "event" => "timer.line_too_long",
                        "peer" => self.peer.to_string());
                    cx.out.extend_from_slice(b"FALSE\r\n");
                }
                None if n == 0 => return (used, Next::Read),
                None => {}
            }
        }
    }
}

/// Entry points for fuzz targets (`fuzz/`); the seed corpora run as tests.
pub mod fuzzing {
    use crate::codec::{parse_command, Command, Frame, LineFramer};

    /// Frame `data` into lines and parse each: must never panic; parsed `ADD`s re-render.
    pub fn command(data: &[u8]) {
        let mut framer = LineFramer::default();
        let mut rest = data;
        loop {
            let (frame, n) = framer.next(rest);
            rest = &rest[n..];
            match frame {
                Some(Frame::Line(l)) => {
                    if let Ok(Command::Add { delay, command }) = parse_command(l) {
                        let again = parse_command(format!("ADD {delay} {command}").as_bytes());
                        assert_eq!(again, Ok(Command::Add { delay, command }));
                    }
                }
                Some(Frame::TooLong) => {}
                None if n == 0 => break,
                None => {}
            }
        }
        let _ = parse_command(rest);
    }

    /// Journal decoder: must never panic; pending commands survive encode/decode.
    pub fn journal(data: &[u8]) {
        let l = crate::journal::parse(data);
        for r in l.pending.values() {
            assert_eq!(crate::journal::decode(&crate::journal::encode(&r.command)), r.command);
            assert!(r.due > 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gromox_runtime::ConnHandle;

    fn session(dir: &Path, acl: &str, peer: &str) -> (TimerSession, Arc<Timers>, ConnInfo) {
        let timers = Timers::open(&dir.join("timer.txt"), gromox_base::log::discard()).unwrap();
        let p = TimerProtocol::new(
            timers.clone(),
            HostsAllow::parse(acl).unwrap(),
            gromox_base::log::discard(),
        );
        let ci = ConnInfo {
            id: 1,
            peer: peer.parse().unwrap(),
            local: "127.0.0.1:6666".parse().unwrap(),
            implicit_tls: false,
            listener: "timer_listen",
        };
        (p.accept(&ci), timers, ci)
    }

    fn talk(s: &mut TimerSession, ci: &ConnInfo, input: &[u8]) -> (usize, Next, String) {
        let mut out = Vec::new();
        let mut cx = Cx {
            out: &mut out,
            info: ci,
            tls_active: false,
            idle_timeout: None,
            handle: ConnHandle::detached(),
        };
        let (n, next) = if input.is_empty() {
            (0, s.connected(&mut cx))
        } else {
            s.input(input, &mut cx)
        };
        (n, next, String::from_utf8(out).unwrap())
    }

    #[test]
    fn protocol_exchange() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, timers, ci) = session(dir.path(), "127.0.0.1", "127.0.0.1:5000");
        assert_eq!(talk(&mut s, &ci, b"").2, "OK\r\n");
        let input = b"PING\r\nADD 100 echo hi\r\nADD 100 true\r\nCANCEL 1\r\nCANCEL 1\r\nCANCEL 99\r\nfoo\r\nADD x y\r\nQUIT\r\n";
        let (n, next, out) = talk(&mut s, &ci, input);
        assert_eq!(
            out,
            "TRUE\r\nTRUE 1\r\nTRUE 2\r\nTRUE\r\nFALSE\r\nFALSE\r\nFALSE\r\nFALSE\r\nBYE\r\n"
        );
        assert_eq!((n, next), (input.len(), Next::Close));
        assert_eq!(timers.pending(), 1);
        // Durable: a fresh open sees timer 2 and continues the ids.
        drop(s);
        drop(timers);
        let (mut s, timers, ci) = session(dir.path(), "127.0.0.1", "127.0.0.1:5000");
        assert_eq!(timers.pending(), 1);
        assert_eq!(talk(&mut s, &ci, b"ADD 5 true\r\n").2, "TRUE 3\r\n");
    }

    #[test]
    fn acl_and_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _t, ci) = session(dir.path(), "10.0.0.0/8", "127.0.0.1:5000");
        let (_, next, out) = talk(&mut s, &ci, b"");
        assert_eq!((next, out.as_str()), (Next::Close, "FALSE Access denied\r\n"));
        let (mut s, _t, ci) = session(dir.path(), "127.0.0.1", "127.0.0.1:5000");
        let mut big = vec![b'A'; codec::MAX_LINE + 100];
        big.extend_from_slice(b"\r\nPING\r\n");
        assert_eq!(talk(&mut s, &ci, &big).2, "FALSE\r\nTRUE\r\n");
    }

    #[test]
    fn due_timers_run_and_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let timers = Timers::open(&dir.path().join("t/timer.txt"), gromox_base::log::discard()).unwrap();
        let flag = dir.path().join("ran");
        let id = timers.add(1, &format!("echo {} > {}", 42, flag.display())).unwrap();
        let handles = timers.start(ExecSettings::default()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !flag.exists() && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        assert!(flag.exists(), "timer {id} did not run");
        // Once finished it is no longer pending, not even after a reload.
        while !timers.lock().timers.is_empty() && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(!timers.cancel(id).unwrap());
        timers.stop();
        // The scheduler ends and drops the job sender; then the executors end.
        for h in handles {
            h.join().unwrap();
        }
        drop(timers);
        let again = Timers::open(&dir.path().join("t/timer.txt"), gromox_base::log::discard()).unwrap();
        assert_eq!(again.pending(), 0);
    }
}
