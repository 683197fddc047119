//! Benchmark: PST → stream (`gromox-pff2mt`) and stream → store. Reports MB/s of PST input
//! and the peak resident memory (VmHWM). No large PST can be generated here, so the two corpus
//! files (265 KB each) are converted N times in one run (`cargo bench -p gromox-mt --bench pst
//! [-- N]`, default 200 passes): the figure is dominated by B-tree/heap/table reading of small
//! stores, not by large bodies.

use gromox_mt::cli::pst_files;
use gromox_mt::import::{Importer, Options};
use std::path::Path;
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
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pst");
    let files: Vec<String> = ["java-libpst-dist-list.pst", "java-libpst-passworded.pst"]
        .iter()
        .map(|f| dir.join(f).display().to_string())
        .collect();
    let once: u64 = files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    let all: Vec<String> = (0..n).flat_map(|_| files.iter().cloned()).collect();
    let size = (once as f64 * n as f64) / 1e6;
    let start = Instant::now();
    let mut stream = Vec::new();
    let st = pst_files(&mut stream, &all, true, &mut std::io::stderr()).expect("convert");
    let p = start.elapsed().as_secs_f64();
    println!(
        "pff2mt: {} files, {size:.1} MB, {} folders, {} messages in {p:.2}s = {:.1} MB/s, {:.0} msg/s",
        all.len(),
        st.folders,
        st.messages + st.associated,
        size / p,
        (st.messages + st.associated) as f64 / p
    );
    let t = tempfile::tempdir().expect("tempdir");
    let mut store =
        exmdbd::Store::create_private(t.path(), "alice@example.org", "en", false, &Default::default()).expect("store");
    let start = Instant::now();
    let mut imp = Importer::new(&mut store, Options::default(), Box::new(std::io::sink())).expect("importer");
    let ist = imp.run(&stream[..], &mut std::io::stderr()).expect("import");
    let i = start.elapsed().as_secs_f64();
    println!("import: {} msgs in {i:.2}s = {:.1} MB/s of PST", ist.messages, size / i);
    println!("peak RSS: {:.1} MB", peak_mb());
}
