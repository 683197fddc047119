//! Test helpers: configurations for SQLite (temp dir) and MariaDB (`GROMOX_TEST_MYSQL`), a
//! fresh database per test, in-process runs of gromox-admin, log capture.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use gromox_directory::cli::{admin_run, dbop_run, PasswordSource};

/// One backend under test.
pub struct Backend {
    /// `sqlite` or `mysql`.
    pub name: &'static str,
    /// Temp dir holding the configuration and the state.
    pub dir: tempfile::TempDir,
    /// gromox.cfg
    pub cfg: PathBuf,
    /// MariaDB connection and database to drop at the end.
    pub drop_db: Option<(mysql::Opts, String)>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some((opts, db)) = self.drop_db.take() {
            use mysql::prelude::Queryable;
            if let Ok(mut c) = mysql::Conn::new(opts) {
                let _ = c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"));
            }
        }
    }
}

impl Backend {
    /// State path.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    /// Append configuration lines.
    pub fn add_config(&self, lines: &str) {
        let mut f = std::fs::OpenOptions::new().append(true).open(&self.cfg).unwrap();
        f.write_all(lines.as_bytes()).unwrap();
    }
    /// Load the configuration as a program would.
    pub fn config(&self) -> gromox_base::Config {
        gromox_base::daemon::load_config(&gromox_directory::cli::admin_spec(), Some(&self.cfg), &[]).unwrap()
    }
    /// Run gromox-admin; (exit code, stdout, stderr) with the state path replaced by `<STATE>`.
    pub fn admin(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut full = vec!["-c".to_string(), self.cfg.display().to_string()];
        full.extend(args.iter().map(|s| s.to_string()));
        let mut pw = Lines(stdin.lines().map(str::to_string).collect());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = admin_run(&full, &mut pw, &mut out, &mut err);
        let st = self.state().display().to_string();
        let f = |b: Vec<u8>| String::from_utf8(b).unwrap().replace(&st, "<STATE>");
        (code, f(out), f(err))
    }
    /// Run gromox-dbop.
    pub fn dbop(&self, args: &[&str]) -> (i32, String, String) {
        let mut full = vec!["-c".to_string(), self.cfg.display().to_string()];
        full.extend(args.iter().map(|s| s.to_string()));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = dbop_run(&full, &mut out, &mut err);
        (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }
    /// Run gromox-admin and require success.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.admin(args, "");
        assert_eq!(code, 0, "{} {args:?}: {err}", self.name);
        out
    }
}

/// Password source for tests: one line per request, never a terminal.
pub struct Lines(pub Vec<String>);

impl PasswordSource for Lines {
    fn password(&mut self, from_stdin: bool, _prompt: &str) -> Result<String, String> {
        if !from_stdin {
            return Err("no terminal to prompt on; use --password-stdin".into());
        }
        if self.0.is_empty() {
            return Err("empty password".into());
        }
        Ok(self.0.remove(0))
    }
}

fn write_cfg(dir: &Path, extra: &str) -> PathBuf {
    let cfg = dir.join("gromox.cfg");
    std::fs::write(
        &cfg,
        format!(
            "state_path = {}\nconfig_file_path = {}\nadmin_log_level = 0\nauth_fail_delay = 0\n{extra}",
            dir.join("state").display(),
            dir.display()
        ),
    )
    .unwrap();
    cfg
}

/// A fresh SQLite backend (schema not created).
pub fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_cfg(dir.path(), "directory_backend = sqlite\n");
    Backend {
        name: "sqlite",
        dir,
        cfg,
        drop_db: None,
    }
}

static N: AtomicU32 = AtomicU32::new(0);

/// A fresh MariaDB database, or None (with a loud SKIP line) when `GROMOX_TEST_MYSQL` is unset.
pub fn mysql(test: &str) -> Option<Backend> {
    let Some(url) = std::env::var("GROMOX_TEST_MYSQL").ok().filter(|v| !v.is_empty()) else {
        eprintln!(
            "\n*** SKIP {test} on MariaDB: GROMOX_TEST_MYSQL is not set \
             (run common/directory/tests/start-mariadb.sh and export what it prints) ***\n"
        );
        return None;
    };
    let rest = url
        .strip_prefix("mysql://")
        .expect("GROMOX_TEST_MYSQL must be mysql://user:pass@host:port/");
    let (cred, hostport) = rest
        .trim_end_matches('/')
        .rsplit_once('@')
        .expect("user:pass@host:port");
    let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "3306"));
    let db = format!(
        "gromoxtest_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        test.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(20)
            .collect::<String>()
    );
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some(host))
        .tcp_port(port.parse().unwrap())
        .user(Some(user))
        .pass(Some(pass))
        .prefer_socket(false);
    let mut c = mysql::Conn::new(opts.clone()).expect("cannot connect to GROMOX_TEST_MYSQL");
    use mysql::prelude::Queryable;
    c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`")).unwrap();
    c.query_drop(format!("CREATE DATABASE `{db}` CHARACTER SET utf8mb4"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_cfg(
        dir.path(),
        &format!(
            "directory_backend = mysql\nmysql_host = {host}\nmysql_port = {port}\nmysql_username = {user}\n\
             mysql_password = {pass}\nmysql_dbname = {db}\nconnection_num = 4\n"
        ),
    );
    Some(Backend {
        name: "mysql",
        dir,
        cfg,
        drop_db: Some((opts.into(), db)),
    })
}

/// SQLite, plus MariaDB when configured.
pub fn backends(test: &str) -> Vec<Backend> {
    let mut v = vec![sqlite()];
    v.extend(mysql(test));
    v
}

/// A logger writing into a shared buffer, and the buffer.
pub fn capture_log() -> (slog::Logger, Arc<Mutex<Vec<u8>>>) {
    #[derive(Clone)]
    struct W(Arc<Mutex<Vec<u8>>>);
    impl Write for W {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let dec = slog_term::PlainSyncDecorator::new(W(buf.clone()));
    use slog::Drain;
    let drain = slog_term::FullFormat::new(dec).build().fuse();
    (slog::Logger::root(drain, slog::o!()), buf)
}
