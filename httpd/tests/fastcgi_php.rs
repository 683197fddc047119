//! PHP through FastCGI with a real php-fpm (Debian package `php-fpm`). Skipped with a loud
//! SKIP line when no php-fpm binary is installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn find_fpm() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PHP_FPM") {
        return Some(PathBuf::from(p));
    }
    let mut found: Vec<PathBuf> = ["/usr/sbin", "/usr/bin", "/usr/local/sbin"]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("php-fpm"))
        })
        .collect();
    found.sort();
    found.pop()
}

struct Fpm(Child);

impl Drop for Fpm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_fpm(bin: &Path, dir: &Path) -> (Fpm, PathBuf) {
    let sock = dir.join("php.sock");
    let conf = dir.join("fpm.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\npid = {d}/fpm.pid\nerror_log = {d}/fpm.log\ndaemonize = no\n\n[www]\nlisten = {s}\n\
             pm = static\npm.max_children = 2\nclear_env = no\ncatch_workers_output = yes\n",
            d = dir.display(),
            s = sock.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["-F", "-n", "-y"]).arg(&conf);
    // php-fpm refuses to run as root without -R.
    if running_as_root() {
        cmd.arg("-R");
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let fpm = Fpm(child);
    let t0 = Instant::now();
    while !sock.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "php-fpm did not create its socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (fpm, sock)
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn php_through_fastcgi() {
    let Some(bin) = find_fpm() else {
        eprintln!("SKIP php_through_fastcgi: no php-fpm binary (Debian package php-fpm)");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let php = work.path().join("php");
    std::fs::create_dir_all(&php).unwrap();
    std::fs::write(
        php.join("test.php"),
        "<?php header('X-Test: yes'); echo 'hello ', $_GET['x'] ?? '', ' ', $_SERVER['SCRIPT_NAME'], ' ', \
         $_SERVER['PATH_INFO'] ?? '-', ' ', $_SERVER['REQUEST_METHOD'], ' ', file_get_contents('php://input');",
    )
    .unwrap();
    std::fs::write(php.join("index.php"), "<?php http_response_code(201); echo 'index';").unwrap();
    std::fs::write(
        php.join("big.php"),
        "<?php for ($i = 0; $i < 1000; $i++) echo str_repeat(chr(65 + $i % 26), 300);",
    )
    .unwrap();
    std::fs::write(php.join("plain.txt"), "not php").unwrap();
    let (_fpm, sock) = start_fpm(&bin, work.path());
    let line = format!("* /php {} php index.php X-A|X-B {}\n", php.display(), sock.display());
    let h = start("", move |etc| std::fs::write(etc.join("fastcgi.txt"), line).unwrap());

    let r = get(h.addr, "/php/test.php/extra?x=42", "");
    assert_eq!(r.status, 200, "{} {}", r.head, r.text());
    assert_eq!(r.header("x-test").as_deref(), Some("yes"));
    assert_eq!(r.text(), "hello 42 /php/test.php /extra GET ");
    let r = post(h.addr, "/php/test.php", "", b"posted body");
    assert_eq!(r.text(), "hello  /php/test.php - POST posted body");
    let r = get(h.addr, "/php/", "");
    assert_eq!((r.status, r.text().as_str()), (201, "index"));
    // A big answer streams with the chunked coding.
    let r = get(h.addr, "/php/big.php", "");
    assert_eq!(r.header("transfer-encoding").as_deref(), Some("chunked"));
    assert_eq!(r.body.len(), 300_000);
    assert!(
        r.body[..300].iter().all(|b| *b == b'A') && r.body[299_700..].iter().all(|b| *b == b'A' + (999 % 26) as u8)
    );
    // Not a script, or missing: not passed on.
    assert_eq!(get(h.addr, "/php/plain.txt", "").status, 404);
    assert_eq!(get(h.addr, "/php/missing.php", "").status, 404);
    assert_eq!(get(h.addr, "/php/../php/test.php", "").status, 404);
}
