//! One SQL interface over two backends: SQLite (the embedded default,
//! `<state_path>/directory.sqlite3`) and MySQL/MariaDB (through `r2d2_mysql`). Every statement is
//! written once with `?` placeholders, which both backends accept; values are always bound, never
//! spliced into the text. Each call is one round trip and is counted (see [`Db::round_trips`]).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use r2d2_mysql::MySqlConnectionManager;
use r2d2_sqlite::SqliteConnectionManager;

use crate::error::{DirError, Result};

/// A bound parameter or a result column.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// SQL NULL.
    Null,
    /// Integer.
    Int(i64),
    /// Text.
    Text(String),
    /// Binary.
    Blob(Vec<u8>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<u32> for Val {
    fn from(v: u32) -> Self {
        Val::Int(i64::from(v))
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Into::into)
    }
}

impl Val {
    /// Integer value (text is parsed, as MySQL's text protocol returns numbers as bytes).
    pub fn int(&self) -> i64 {
        match self {
            Val::Int(i) => *i,
            Val::Text(s) => s.trim().parse().unwrap_or(0),
            Val::Blob(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
            Val::Null => 0,
        }
    }
    /// Text value (NULL gives None; invalid UTF-8 is replaced).
    pub fn opt_text(&self) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Int(i) => Some(i.to_string()),
            Val::Text(s) => Some(s.clone()),
            Val::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    }
    /// Text value, NULL as empty.
    pub fn text(&self) -> String {
        self.opt_text().unwrap_or_default()
    }
    /// Binary value.
    pub fn opt_blob(&self) -> Option<Vec<u8>> {
        match self {
            Val::Null => None,
            Val::Int(i) => Some(i.to_string().into_bytes()),
            Val::Text(s) => Some(s.clone().into_bytes()),
            Val::Blob(b) => Some(b.clone()),
        }
    }
}

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SQLite file.
    Sqlite,
    /// MySQL or MariaDB server.
    Mysql,
}

/// MySQL connection settings (Gromox's `mysql_adaptor.cfg` keys).
#[derive(Debug, Clone)]
pub struct MysqlSettings {
    /// `mysql_host`.
    pub host: String,
    /// `mysql_port`.
    pub port: u16,
    /// `mysql_username`.
    pub user: String,
    /// `mysql_password`.
    pub password: String,
    /// `mysql_dbname`.
    pub dbname: String,
    /// `connection_num`.
    pub connections: u32,
    /// `mysql_rdwr_timeout` (zero: none).
    pub rdwr_timeout: Duration,
    /// `mysql_tls`.
    pub tls: bool,
    /// `mysql_tls_ca` (empty: system roots).
    pub tls_ca: String,
    /// `mysql_tls_skip_verify`.
    pub tls_skip_verify: bool,
}

enum Pool {
    Sqlite(r2d2::Pool<SqliteConnectionManager>),
    Mysql(r2d2::Pool<MySqlConnectionManager>),
}

/// A pool of connections to the directory database.
pub struct Db {
    pool: Pool,
    trips: Arc<AtomicU64>,
}

/// One connection taken from the pool.
pub struct Conn<'a> {
    inner: ConnInner,
    trips: &'a AtomicU64,
}

enum ConnInner {
    Sqlite(r2d2::PooledConnection<SqliteConnectionManager>),
    Mysql(r2d2::PooledConnection<MySqlConnectionManager>),
}

fn to_sqlite(v: &Val) -> rusqlite::types::Value {
    match v {
        Val::Null => rusqlite::types::Value::Null,
        Val::Int(i) => rusqlite::types::Value::Integer(*i),
        Val::Text(s) => rusqlite::types::Value::Text(s.clone()),
        Val::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
    }
}

fn to_mysql(v: &Val) -> mysql::Value {
    match v {
        Val::Null => mysql::Value::NULL,
        Val::Int(i) => mysql::Value::Int(*i),
        Val::Text(s) => mysql::Value::Bytes(s.clone().into_bytes()),
        Val::Blob(b) => mysql::Value::Bytes(b.clone()),
    }
}

fn from_mysql(v: mysql::Value) -> Val {
    match v {
        mysql::Value::NULL => Val::Null,
        mysql::Value::Int(i) => Val::Int(i),
        mysql::Value::UInt(u) => Val::Int(i64::try_from(u).unwrap_or(i64::MAX)),
        mysql::Value::Bytes(b) => match String::from_utf8(b) {
            Ok(s) => Val::Text(s),
            Err(e) => Val::Blob(e.into_bytes()),
        },
        mysql::Value::Float(f) => Val::Text(f.to_string()),
        mysql::Value::Double(f) => Val::Text(f.to_string()),
        mysql::Value::Date(y, mo, d, ..) => Val::Text(format!("{y:04}-{mo:02}-{d:02}")),
        other @ mysql::Value::Time(..) => Val::Text(other.as_sql(true)),
    }
}

fn mysql_params(params: &[Val]) -> mysql::Params {
    if params.is_empty() {
        mysql::Params::Empty
    } else {
        mysql::Params::Positional(params.iter().map(to_mysql).collect())
    }
}

impl Db {
    /// Open (creating if needed) the SQLite database at `path`.
    pub fn open_sqlite(path: &Path, connections: u32) -> Result<Db> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let mgr = SqliteConnectionManager::file(path).with_init(|c| {
            c.busy_timeout(Duration::from_secs(10))?;
            c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;")
        });
        let pool = r2d2::Pool::builder()
            .max_size(connections.max(1))
            .min_idle(Some(0))
            .build(mgr)?;
        Ok(Db {
            pool: Pool::Sqlite(pool),
            trips: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Connect to MySQL/MariaDB.
    pub fn open_mysql(s: &MysqlSettings) -> Result<Db> {
        let timeout = (!s.rdwr_timeout.is_zero()).then_some(s.rdwr_timeout);
        let mut opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(s.host.clone()))
            .tcp_port(s.port)
            .user(Some(s.user.clone()))
            .pass(Some(s.password.clone()))
            .db_name(Some(s.dbname.clone()))
            .prefer_socket(false)
            .read_timeout(timeout)
            .write_timeout(timeout)
            .tcp_connect_timeout(Some(Duration::from_secs(10)))
            .init(vec!["SET NAMES utf8mb4"]);
        if s.tls {
            let mut ssl = mysql::SslOpts::default()
                .with_danger_accept_invalid_certs(s.tls_skip_verify)
                .with_danger_skip_domain_validation(s.tls_skip_verify);
            if !s.tls_ca.is_empty() {
                ssl = ssl.with_root_cert_path(Some(std::path::PathBuf::from(&s.tls_ca)));
            }
            opts = opts.ssl_opts(ssl);
        }
        let pool = r2d2::Pool::builder()
            .max_size(s.connections.max(1))
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(10))
            .build(MySqlConnectionManager::new(opts))?;
        Ok(Db {
            pool: Pool::Mysql(pool),
            trips: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Which backend this is.
    pub fn kind(&self) -> Kind {
        match self.pool {
            Pool::Sqlite(_) => Kind::Sqlite,
            Pool::Mysql(_) => Kind::Mysql,
        }
    }

    /// SQL statements sent so far (the benchmark's round-trip count).
    pub fn round_trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    /// Take a connection.
    pub fn conn(&self) -> Result<Conn<'_>> {
        let inner = match &self.pool {
            Pool::Sqlite(p) => ConnInner::Sqlite(p.get()?),
            Pool::Mysql(p) => ConnInner::Mysql(p.get()?),
        };
        Ok(Conn {
            inner,
            trips: &self.trips,
        })
    }
}

impl Conn<'_> {
    /// Which backend this is.
    pub fn kind(&self) -> Kind {
        match self.inner {
            ConnInner::Sqlite(_) => Kind::Sqlite,
            ConnInner::Mysql(_) => Kind::Mysql,
        }
    }

    /// Run a query and collect all rows.
    pub fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        match &mut self.inner {
            ConnInner::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let n = st.column_count();
                let mut rows = st.query(rusqlite::params_from_iter(params.iter().map(to_sqlite)))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut row = Vec::with_capacity(n);
                    for i in 0..n {
                        row.push(match r.get::<_, rusqlite::types::Value>(i)? {
                            rusqlite::types::Value::Null => Val::Null,
                            rusqlite::types::Value::Integer(i) => Val::Int(i),
                            rusqlite::types::Value::Real(f) => Val::Text(f.to_string()),
                            rusqlite::types::Value::Text(s) => Val::Text(s),
                            rusqlite::types::Value::Blob(b) => Val::Blob(b),
                        });
                    }
                    out.push(row);
                }
                Ok(out)
            }
            ConnInner::Mysql(c) => {
                use mysql::prelude::Queryable;
                let rows: Vec<mysql::Row> = c.exec(sql, mysql_params(params))?;
                Ok(rows
                    .into_iter()
                    .map(|r| r.unwrap().into_iter().map(from_mysql).collect())
                    .collect())
            }
        }
    }

    /// Run a statement; returns the number of affected rows.
    pub fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        match &mut self.inner {
            ConnInner::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                Ok(st.execute(rusqlite::params_from_iter(params.iter().map(to_sqlite)))? as u64)
            }
            ConnInner::Mysql(c) => {
                use mysql::prelude::Queryable;
                c.exec_drop(sql, mysql_params(params))?;
                Ok(c.affected_rows())
            }
        }
    }

    /// Run statements without parameters (DDL, transaction control).
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        match &mut self.inner {
            ConnInner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            ConnInner::Mysql(c) => {
                use mysql::prelude::Queryable;
                Ok(c.query_drop(sql)?)
            }
        }
    }

    /// The id generated by the last INSERT on this connection.
    pub fn last_id(&mut self) -> i64 {
        match &mut self.inner {
            ConnInner::Sqlite(c) => c.last_insert_rowid(),
            ConnInner::Mysql(c) => i64::try_from(c.last_insert_id()).unwrap_or(0),
        }
    }

    /// Run `f` in a transaction: committed when it returns Ok, rolled back otherwise.
    pub fn tx<T>(&mut self, f: impl FnOnce(&mut Conn<'_>) -> Result<T>) -> Result<T> {
        let begin = match self.kind() {
            Kind::Sqlite => "BEGIN IMMEDIATE",
            Kind::Mysql => "START TRANSACTION",
        };
        self.batch(begin)?;
        match f(self) {
            Ok(v) => {
                self.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// First row of a query, if any.
    pub fn row(&mut self, sql: &str, params: &[Val]) -> Result<Option<Vec<Val>>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// Map a unique-key violation to [`DirError::Exists`].
pub fn dup(e: DirError, what: impl Into<String>) -> DirError {
    let is_dup = match &e {
        DirError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
            f.code == rusqlite::ErrorCode::ConstraintViolation
                && f.extended_code != rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
        }
        DirError::Mysql(mysql::Error::MySqlError(m)) => m.code == 1062,
        _ => false,
    };
    if is_dup {
        DirError::Exists(what.into())
    } else {
        e
    }
}
