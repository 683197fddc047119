//! Running due timers: `/bin/sh -c <command>` with a time limit and captured, truncated output.
//!
//! The child gets its own process group (so a timeout kills the whole pipeline), standard
//! input from `/dev/null`, the working directory `/` and timerd's environment.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal (not by us).
    Signaled(i32),
    /// Killed by us after the time limit.
    TimedOut,
    /// Could not be started.
    SpawnFailed(String),
}

impl Status {
    /// The word recorded in the journal (Gromox's result words where they exist).
    pub fn journal_word(&self) -> &'static str {
        match self {
            Status::Exited(0) => "DONE",
            Status::Exited(_) | Status::Signaled(_) => "EXEC-FAILURE",
            Status::TimedOut => "TIMEOUT",
            Status::SpawnFailed(_) => "FAIL-TO-FORK",
        }
    }
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Exit status.
    pub status: Status,
    /// Standard output and error (each cut at the limit), lossily decoded.
    pub output: String,
    /// Whether output was cut.
    pub truncated: bool,
    /// Wall time.
    pub elapsed: Duration,
}

fn reader(mut r: impl Read + Send + 'static, limit: usize) -> thread::JoinHandle<(Vec<u8>, bool)> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        let mut cut = false;
        // Keep reading past the limit so the child never blocks on a full pipe.
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = limit.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
            cut |= n > room;
        }
        (kept, cut)
    })
}

fn kill_group(child: &Child) {
    // SAFETY: plain syscall on a process group we created (process_group(0) below).
    if let Ok(pid) = i32::try_from(child.id()) {
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Run `command` with `shell -c`, waiting at most `timeout`, keeping at most `output_max` bytes
/// of standard output and of standard error.
pub fn run(shell: &str, command: &str, timeout: Duration, output_max: usize) -> Outcome {
    let start = Instant::now();
    let spawned = Command::new(shell)
        .arg("-c")
        .arg(command)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                status: Status::SpawnFailed(e.to_string()),
                output: String::new(),
                truncated: false,
                elapsed: start.elapsed(),
            }
        }
    };
    let out = child.stdout.take().map(|o| reader(o, output_max));
    let err = child.stderr.take().map(|e| reader(e, output_max));
    let mut delay = Duration::from_millis(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                break match (st.code(), st.signal()) {
                    (Some(c), _) => Status::Exited(c),
                    (None, Some(s)) => Status::Signaled(s),
                    (None, None) => Status::Exited(-1),
                }
            }
            Ok(None) if start.elapsed() >= timeout => {
                kill_group(&child);
                let _ = child.wait();
                break Status::TimedOut;
            }
            Ok(None) => {
                thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e) => {
                kill_group(&child);
                let _ = child.wait();
                break Status::SpawnFailed(format!("wait: {e}"));
            }
        }
    };
    // The group was killed on timeout, so the pipes close; a daemonised grandchild that kept
    // them open is not waited for on success either: readers are detached after a grace time.
    let mut output = Vec::new();
    let mut truncated = false;
    for h in [out, err].into_iter().flatten() {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !h.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        if h.is_finished() {
            if let Ok((bytes, cut)) = h.join() {
                output.extend_from_slice(&bytes);
                truncated |= cut;
            }
        }
    }
    Outcome {
        status,
        output: String::from_utf8_lossy(&output).into_owned(),
        truncated,
        elapsed: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_and_output() {
        let o = run(
            "/bin/sh",
            "echo hello; echo oops >&2; exit 3",
            Duration::from_secs(10),
            100,
        );
        assert_eq!(o.status, Status::Exited(3));
        assert_eq!(o.output, "hello\noops\n");
        assert_eq!(o.status.journal_word(), "EXEC-FAILURE");
    }

    #[test]
    fn output_is_truncated() {
        let o = run("/bin/sh", "yes | head -c 100000", Duration::from_secs(10), 10);
        assert_eq!(o.status, Status::Exited(0));
        assert_eq!(o.output.len(), 10);
        assert!(o.truncated);
    }

    #[test]
    fn timeout_kills_the_group() {
        let o = run("/bin/sh", "sleep 30 | sleep 30", Duration::from_millis(300), 10);
        assert_eq!(o.status, Status::TimedOut);
        assert!(o.elapsed < Duration::from_secs(10));
    }

    #[test]
    fn missing_shell() {
        let o = run("/nonexistent/sh", "true", Duration::from_secs(1), 10);
        assert!(matches!(o.status, Status::SpawnFailed(_)));
    }
}
