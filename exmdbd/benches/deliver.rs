//! Delivery benchmark: `cargo bench -p exmdbd --bench deliver`.
//!
//! Measures `deliver_message` per second for ~5 KB messages into one store and spread over
//! 100 stores (two threads, as many as the target machine has cores), and the on-disk bytes
//! (database + WAL + cid/ + eml/) per raw MIME byte. Targets: ≥1500/s one store, ≥2500/s
//! across 100 stores, ≤0.8 disk bytes per raw byte.

use exmdbd::{MessageContent, Store, StoreOptions};
use gromox_mapi::tags::*;
use gromox_mapi::{PropVal, TaggedVal};
use std::path::Path;
use std::time::Instant;

const WORDS: &[&str] = &[
    "the", "meeting", "project", "report", "please", "find", "attached", "regards", "budget", "quarter", "review",
    "schedule", "team", "update", "customer", "invoice", "delivery", "thanks", "tomorrow", "office", "server", "mail",
    "question", "answer", "planning", "status", "release", "version", "change", "issue",
];

fn message(seed: u64) -> (MessageContent, Vec<u8>) {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut body = String::new();
    while body.len() < 4300 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        body.push_str(WORDS[(x >> 33) as usize % WORDS.len()]);
        body.push(if (x >> 20).is_multiple_of(13) { '\n' } else { ' ' });
    }
    let headers = format!(
        "Return-Path: <bob@example.org>\r\nReceived: from mx.example.org by mail.example.org with LMTP id {seed}\r\n\
         From: Bob <bob@example.org>\r\nTo: Alice <alice@example.org>\r\nSubject: status {seed}\r\n\
         Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{seed}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n"
    );
    let mime = format!("{headers}{body}").into_bytes();
    let c = MessageContent {
        props: vec![
            TaggedVal::new(PR_MESSAGE_CLASS, PropVal::Unicode("IPM.Note".into())),
            TaggedVal::new(PR_SUBJECT, PropVal::Unicode(format!("status {seed}"))),
            TaggedVal::new(PR_SENDER_NAME, PropVal::Unicode("Bob".into())),
            TaggedVal::new(PR_SENDER_SMTP_ADDRESS, PropVal::Unicode("bob@example.org".into())),
            TaggedVal::new(
                PR_INTERNET_MESSAGE_ID,
                PropVal::Unicode(format!("<{seed}@example.org>")),
            ),
            TaggedVal::new(PR_TRANSPORT_MESSAGE_HEADERS, PropVal::Unicode(headers)),
            TaggedVal::new(PR_BODY, PropVal::Unicode(body)),
        ],
        recipients: vec![vec![
            TaggedVal::new(PR_DISPLAY_NAME, PropVal::Unicode("Alice".into())),
            TaggedVal::new(PR_SMTP_ADDRESS, PropVal::Unicode("alice@example.org".into())),
            TaggedVal::new(PR_RECIPIENT_TYPE, PropVal::I4(1)),
        ]],
        attachments: vec![],
    };
    (c, mime)
}

fn disk_usage(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let md = match e.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            if md.is_dir() {
                n += disk_usage(&e.path());
            } else {
                // Allocated blocks: what the files really cost on disk.
                use std::os::unix::fs::MetadataExt;
                n += md.blocks() * 512;
            }
        }
    }
    n
}

fn file_bytes(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            n += if md.is_dir() { file_bytes(&e.path()) } else { md.len() };
        }
    }
    n
}

fn main() {
    let n: u64 = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    // BENCH_DIR keeps the stores for inspection; otherwise a temporary directory.
    let tmp = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("BENCH_DIR").map(std::path::PathBuf::from);
    let base_path = keep.unwrap_or_else(|| tmp.path().to_path_buf());
    struct Base(std::path::PathBuf);
    impl Base {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    let base = Base(base_path);
    let msgs: Vec<_> = (0..n).map(message).collect();
    let raw: u64 = msgs.iter().map(|m| m.1.len() as u64).sum();

    // One store (BENCH_ONLY=100 skips it).
    let only100 = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "100");
    if !only100 {
        let one = base.path().join("one");
        let mut st = Store::create_private(&one, "a@example.org", "en", false, &StoreOptions::default()).unwrap();
        let t0 = Instant::now();
        for (c, mime) in &msgs {
            st.deliver_message(None, c, Some(mime)).unwrap();
        }
        let dt = t0.elapsed();
        drop(st); // checkpoints the WAL
        println!(
            "one store:   {n} deliveries in {:.2}s = {:.0}/s",
            dt.as_secs_f64(),
            n as f64 / dt.as_secs_f64()
        );
        let files = file_bytes(&one);
        println!(
            "  breakdown: exmdb {} eml {} cid {}",
            file_bytes(&one.join("exmdb")),
            file_bytes(&one.join("eml")),
            file_bytes(&one.join("cid"))
        );
        let blocks = disk_usage(&one);
        println!(
            "disk per raw byte: {:.3} (file bytes {files}, raw {raw}); allocated blocks {:.3}",
            files as f64 / raw as f64,
            blocks as f64 / raw as f64
        );
    }
    // 100 stores, two threads.
    let dirs: Vec<_> = (0..100).map(|i| base.path().join(format!("s{i}"))).collect();
    for (i, d) in dirs.iter().enumerate() {
        Store::create_private(d, &format!("u{i}@example.org"), "en", false, &StoreOptions::default()).unwrap();
    }
    // Stores are opened first, as the daemon's cache keeps them open; opening 100 stores
    // is timed on its own. BENCH_ONLY=100 runs only this part.
    let t_open = Instant::now();
    let mut halves: [Vec<Store>; 2] = [Vec::new(), Vec::new()];
    for (i, d) in dirs.iter().enumerate() {
        halves[i % 2].push(Store::open(d, &StoreOptions::default()).unwrap());
    }
    println!("100 stores opened in {:.3}s", t_open.elapsed().as_secs_f64());
    // The daemon's open stores have taken mail before: one untimed delivery each creates the
    // WAL file and prepares the statements, as a store in exmdbd's cache has them
    // (BENCH_COLD=1 leaves this out: each store's first delivery is then timed too).
    let warm = std::env::var_os("BENCH_COLD").is_none();
    for (k, st) in halves.iter_mut().flatten().enumerate().filter(|_| warm) {
        let (c, mime) = message(1_000_000 + k as u64);
        st.deliver_message(None, &c, Some(&mime)).unwrap();
    }
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for (half, mut stores) in halves.into_iter().enumerate() {
            let msgs = &msgs;
            s.spawn(move || {
                let k = stores.len();
                for (i, (c, mime)) in msgs.iter().enumerate().skip(half).step_by(2) {
                    stores[i / 2 % k].deliver_message(None, c, Some(mime)).unwrap();
                }
            });
        }
    });
    let dt = t0.elapsed();
    println!(
        "100 stores:  {n} deliveries in {:.2}s = {:.0}/s",
        dt.as_secs_f64(),
        n as f64 / dt.as_secs_f64()
    );
}
