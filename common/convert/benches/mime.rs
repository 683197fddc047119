//! MIME → MAPI throughput over the eml fixtures: messages/s and MB/s.
//! Run: `cargo bench -p gromox-convert --bench mime`.

use std::time::Instant;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eml");
    let mut msgs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .collect();
    msgs.sort();
    let bytes: usize = msgs.iter().map(Vec::len).sum();
    let rounds = 200;
    let start = Instant::now();
    let mut props = 0usize;
    for _ in 0..rounds {
        for m in &msgs {
            props += gromox_convert::mime_in::mime_to_mapi(m).props.len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = (msgs.len() * rounds) as f64;
    println!(
        "mime_to_mapi: {} messages x {rounds} rounds: {:.0} messages/s, {:.1} MB/s ({props} props)",
        msgs.len(),
        n / secs,
        (bytes * rounds) as f64 / secs / 1e6
    );
    let parsed: Vec<_> = msgs.iter().map(|m| gromox_convert::mime_in::mime_to_mapi(m)).collect();
    let start = Instant::now();
    let mut out = 0usize;
    for _ in 0..rounds {
        for m in &parsed {
            out += gromox_convert::mime_out::mapi_to_mime(m).len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "mapi_to_mime: {:.0} messages/s, {:.1} MB/s of output",
        n / secs,
        out as f64 / secs / 1e6
    );
}
