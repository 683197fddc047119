//! Recipient lookup benchmark: cached lookups per second and SQL round trips per 1,000
//! recipient lookups, with and without the object cache, on SQLite (and on MariaDB when
//! `GROMOX_TEST_MYSQL=mysql://user:pass@host:port/` is set; the database `gromoxbench` is
//! recreated there).
//!
//! Run: `cargo bench -p gromox-directory --bench lookup`

use std::time::{Duration, Instant};

use gromox_directory::db::{Db, MysqlSettings};
use gromox_directory::{schema, Directory, DomainSpec, UserSpec};

const USERS: usize = 1000;

fn populate(dir: &Directory) {
    schema::create(&mut dir.db().conn().unwrap()).unwrap();
    dir.domain_add("example.org", &DomainSpec::default()).unwrap();
    for i in 0..USERS {
        dir.user_add(&format!("user{i}@example.org"), &UserSpec::default())
            .unwrap();
    }
}

fn recipients() -> Vec<String> {
    // A delivery storm: every user, half of them with an extension, mixed case.
    (0..USERS)
        .map(|i| {
            if i % 2 == 0 {
                format!("User{i}@Example.org")
            } else {
                format!("user{i}+list@example.org")
            }
        })
        .collect()
}

fn run(label: &str, open: &dyn Fn(Duration) -> Directory) {
    let rcpts = recipients();
    // Without cache.
    let d = open(Duration::ZERO);
    let before = d.round_trips();
    let t = Instant::now();
    for r in &rcpts {
        assert!(d.lookup(r).unwrap().is_some(), "{r}");
    }
    let el = t.elapsed();
    let trips = d.round_trips() - before;
    println!(
        "{label}: uncached: {:>9.0} lookups/s, {:>5} SQL round trips per 1,000 recipient lookups",
        rcpts.len() as f64 / el.as_secs_f64(),
        trips * 1000 / rcpts.len() as u64
    );
    // With the default 30 s cache: a storm of 100 messages to the same 1,000 recipients.
    let d = open(Duration::from_secs(30));
    let before = d.round_trips();
    let rounds = 100;
    let t = Instant::now();
    for _ in 0..rounds {
        for r in &rcpts {
            assert!(d.lookup(r).unwrap().is_some());
        }
    }
    let el = t.elapsed();
    let n = (rounds * rcpts.len()) as u64;
    let trips = d.round_trips() - before;
    println!(
        "{label}: cached (30s): {:>9.0} lookups/s, {:>7.2} SQL round trips per 1,000 recipient lookups ({} lookups, {} round trips)",
        n as f64 / el.as_secs_f64(),
        trips as f64 * 1000.0 / n as f64,
        n,
        trips
    );
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("directory.sqlite3");
    let state = tmp.path().to_path_buf();
    populate(&Directory::with_db(
        Db::open_sqlite(&path, 4).unwrap(),
        state.clone(),
        "+",
        Duration::ZERO,
    ));
    run("sqlite", &|life| {
        Directory::with_db(Db::open_sqlite(&path, 4).unwrap(), state.clone(), "+", life)
    });

    if let Some(url) = std::env::var("GROMOX_TEST_MYSQL").ok().filter(|v| !v.is_empty()) {
        let rest = url.trim_start_matches("mysql://").trim_end_matches('/');
        let Some((cred, hostport)) = rest.rsplit_once('@') else {
            eprintln!("GROMOX_TEST_MYSQL must be mysql://user:pass@host:port/");
            return;
        };
        let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
        let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "3306"));
        let mut s = MysqlSettings {
            host: host.into(),
            port: port.parse().unwrap_or(3306),
            user: user.into(),
            password: pass.into(),
            dbname: String::new(),
            connections: 4,
            rdwr_timeout: Duration::ZERO,
            tls: false,
            tls_ca: String::new(),
            tls_skip_verify: false,
        };
        {
            let mut c = mysql::Conn::new(
                mysql::OptsBuilder::new()
                    .ip_or_hostname(Some(host))
                    .tcp_port(s.port)
                    .user(Some(user))
                    .pass(Some(pass))
                    .prefer_socket(false),
            )
            .unwrap();
            use mysql::prelude::Queryable;
            c.query_drop("DROP DATABASE IF EXISTS gromoxbench").unwrap();
            c.query_drop("CREATE DATABASE gromoxbench").unwrap();
        }
        s.dbname = "gromoxbench".into();
        populate(&Directory::with_db(
            Db::open_mysql(&s).unwrap(),
            state.clone(),
            "+",
            Duration::ZERO,
        ));
        run("mariadb", &|life| {
            Directory::with_db(Db::open_mysql(&s).unwrap(), state.clone(), "+", life)
        });
    } else {
        println!("mariadb: SKIP (GROMOX_TEST_MYSQL not set)");
    }
}
