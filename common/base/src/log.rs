//! Logging: slog to standard error or `<prog>_log_file`, filtered at `<prog>_log_level`.
//!
//! Every event carries a stable name in its `event` key (e.g. `conn.accept`, `auth.rejected`,
//! `config.reload`) so operators can alert on it. The level and the file can be changed at run
//! time (SIGHUP): see [`LogHandle`]. Authentication failures are written by [`auth_rejected`]
//! in the fail2ban-compatible form of DESIGN.md §2:
//! `rhost=[ADDR]:PORT user=NAME <operation> rejected: <reason>`.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use slog::{o, Drain, Logger};

/// Output target that can be switched (log file reopened after rotation, or changed).
#[derive(Clone)]
struct SwitchWriter(Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for SwitchWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.lock() {
            Ok(mut w) => w.write(buf),
            Err(p) => p.into_inner().write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.0.lock() {
            Ok(mut w) => w.flush(),
            Err(p) => p.into_inner().flush(),
        }
    }
}

/// Filters records below a level that can be changed at run time.
struct LevelFilter<D> {
    drain: D,
    /// slog level threshold as `Level::as_usize` (1 critical … 6 trace); 0 logs nothing.
    max: Arc<AtomicU8>,
}

impl<D: Drain> Drain for LevelFilter<D> {
    type Ok = ();
    type Err = D::Err;
    fn log(&self, record: &slog::Record<'_>, values: &slog::OwnedKVList) -> Result<(), D::Err> {
        if record.level().as_usize() <= usize::from(self.max.load(Ordering::Relaxed)) {
            self.drain.log(record, values).map(|_| ())
        } else {
            Ok(())
        }
    }
}

/// Gromox level number (1 crit … 6 debug, 7 trace) to slog's threshold.
fn slog_threshold(gromox_level: u8) -> u8 {
    match gromox_level {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 3,
        4 | 5 => 4,
        6 => 5,
        _ => 6,
    }
}

/// Controls a logger built by [`init`]: change level, reopen or switch the file.
#[derive(Clone)]
pub struct LogHandle {
    max: Arc<AtomicU8>,
    writer: SwitchWriter,
}

impl LogHandle {
    /// Apply a Gromox log level (see [`crate::config::parse_log_level`]).
    pub fn set_level(&self, gromox_level: u8) {
        self.max.store(slog_threshold(gromox_level), Ordering::Relaxed);
    }

    /// Send output to `target` (`-` or empty: standard error; otherwise a file, appended).
    pub fn set_target(&self, target: &Path) -> io::Result<()> {
        let new = open_target(target)?;
        match self.writer.0.lock() {
            Ok(mut w) => *w = new,
            Err(p) => *p.into_inner() = new,
        }
        Ok(())
    }
}

fn open_target(target: &Path) -> io::Result<Box<dyn Write + Send>> {
    if target.as_os_str().is_empty() || target == Path::new("-") {
        Ok(Box::new(io::stderr()))
    } else {
        Ok(Box::new(OpenOptions::new().create(true).append(true).open(target)?))
    }
}

/// Build the root logger of `prog`, writing to `target` at `gromox_level`.
pub fn init(prog: &str, target: &Path, gromox_level: u8) -> io::Result<(Logger, LogHandle)> {
    let writer = SwitchWriter(Arc::new(Mutex::new(open_target(target)?)));
    let max = Arc::new(AtomicU8::new(slog_threshold(gromox_level)));
    let decorator = slog_term::PlainSyncDecorator::new(writer.clone());
    let format = slog_term::FullFormat::new(decorator)
        .use_custom_timestamp(|w: &mut dyn Write| write!(w, "{}", utc_timestamp()))
        .build()
        .fuse();
    let drain = LevelFilter {
        drain: format,
        max: max.clone(),
    }
    .fuse();
    let log = Logger::root(drain, o!("prog" => prog.to_string()));
    Ok((log, LogHandle { max, writer }))
}

/// A logger that discards everything (tests, library defaults).
pub fn discard() -> Logger {
    Logger::root(slog::Discard, o!())
}

/// `2026-11-22T20:44:58.123Z`, computed without a time-zone database.
pub fn utc_timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Make a user-supplied string safe for one log line: control characters (CR, LF, …) become
/// `?`, spaces become `_`, and it is cut at 256 characters. Log injection cannot forge lines.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .take(256)
        .map(|c| {
            if c.is_control() {
                '?'
            } else if c == ' ' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The fail2ban line for a rejected authentication, without the logger around it.
pub fn auth_rejected_line(peer: SocketAddr, user: &str, operation: &str, reason: &str) -> String {
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    format!(
        "rhost=[{}]:{} user={} {} rejected: {}",
        ip,
        peer.port(),
        sanitize(user),
        operation,
        sanitize(reason)
    )
}

/// Log a rejected authentication in the fail2ban format (event `auth.rejected`). Never pass a
/// password here.
pub fn auth_rejected(log: &Logger, peer: SocketAddr, user: &str, operation: &str, reason: &str) {
    slog::warn!(log, "{}", auth_rejected_line(peer, user, operation, reason); "event" => "auth.rejected");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regex operators put into fail2ban (etc/fail2ban/filter.d/gromox.conf), with
    /// fail2ban's `<HOST>` expanded the way fail2ban does for an address.
    const FAILREGEX: &str = r"rhost=\[(?P<host>[0-9a-fA-F:.]+)\]:\d+ user=\S* .* rejected: ";

    #[test]
    fn fail2ban_line() {
        let line = auth_rejected_line(
            "[::ffff:192.0.2.7]:51234".parse().unwrap(),
            "bob\r\nforged",
            "LOGIN",
            "bad password",
        );
        assert_eq!(
            line,
            "rhost=[192.0.2.7]:51234 user=bob??forged LOGIN rejected: bad_password"
        );
        let line6 = auth_rejected_line("[2001:db8::1]:993".parse().unwrap(), "a b", "AUTH PLAIN", "x");
        assert_eq!(line6, "rhost=[2001:db8::1]:993 user=a_b AUTH PLAIN rejected: x");
        // Simple matcher for the documented regex without pulling in a regex crate.
        for l in [&line, &line6] {
            assert!(l.starts_with("rhost=[") && l.contains("]:") && l.contains(" user=") && l.contains(" rejected: "));
        }
        assert!(FAILREGEX.contains("rejected"));
    }

    #[test]
    fn level_filter_and_file_target() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.log");
        let (log, handle) = init("t", &file, 3).unwrap();
        slog::info!(log, "hidden info");
        slog::warn!(log, "shown warning"; "event" => "x.y");
        handle.set_level(6);
        slog::debug!(log, "shown debug");
        drop(log);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("hidden info"), "{text}");
        assert!(text.contains("shown warning") && text.contains("event: x.y"), "{text}");
        assert!(text.contains("shown debug"));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
