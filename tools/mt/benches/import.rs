//! Benchmark: mbox → stream → store. Reports messages/s and MB/s of each stage and the peak
//! resident memory (VmHWM). `cargo bench -p gromox-mt --bench import [-- N]` (default 5000
//! messages of ~4 KB).

use exmdbd::{Store, StoreOptions};
use gromox_mt::cli::{produce_files, Mode};
use gromox_mt::import::{Importer, Options};
use std::io::Write;
use std::time::Instant;

fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5000);
    let t = tempfile::tempdir().expect("tempdir");
    let mbox = t.path().join("in.mbox");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&mbox).expect("create"));
        let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(60);
        for i in 0..n {
            write!(
                f,
                "From sender@example.org Mon Jan  1 00:00:00 2024\nFrom: Sender <sender@example.org>\n\
                 To: alice@example.org\nSubject: message {i}\nMessage-ID: <{i}@example.org>\n\
                 Date: Mon, 1 Jan 2024 00:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain\n\n{body}\n\n"
            )
            .expect("write");
        }
    }
    let size = std::fs::metadata(&mbox).expect("stat").len() as f64 / 1e6;
    let stream = t.path().join("s.mt");
    let start = Instant::now();
    let out = std::io::BufWriter::new(std::fs::File::create(&stream).expect("create"));
    let (made, _) =
        produce_files(out, &[mbox.display().to_string()], Mode::Mbox, &mut std::io::stderr()).expect("produce");
    let p = start.elapsed().as_secs_f64();
    println!(
        "produce: {made} msgs, {size:.1} MB in {p:.2}s = {:.0} msg/s, {:.1} MB/s",
        made as f64 / p,
        size / p
    );
    let dir = t.path().join("store");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut store =
        Store::create_private(&dir, "alice@example.org", "en", false, &StoreOptions::default()).expect("store");
    let start = Instant::now();
    let mut imp = Importer::new(&mut store, Options::default(), Box::new(std::io::sink())).expect("importer");
    let inp = std::io::BufReader::new(std::fs::File::open(&stream).expect("open"));
    let st = imp.run(inp, &mut std::io::stderr()).expect("import");
    let i = start.elapsed().as_secs_f64();
    println!(
        "import: {} msgs in {i:.2}s = {:.0} msg/s, {:.1} MB/s",
        st.messages,
        st.messages as f64 / i,
        size / i
    );
    println!("peak RSS: {:.1} MB", peak_mb());
}
