//! Export throughput: MAPI → iCalendar over the items of the ics fixtures
//! (items/s) and TNEF encode + decode over the tnef fixtures (MB/s).
//! Run: `cargo bench -p gromox-convert --bench export`.

use std::time::Instant;

fn files(sub: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sub);
    let mut v: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .collect();
    v.sort();
    v
}

fn main() {
    let items: Vec<_> = files("ics")
        .iter()
        .flat_map(|f| gromox_convert::ical::ical_to_items(&String::from_utf8_lossy(f)))
        .collect();
    let rounds = 200;
    let start = Instant::now();
    let mut out = 0usize;
    for _ in 0..rounds {
        for m in &items {
            out += gromox_convert::ical_export::items_to_ical(std::slice::from_ref(m), None).len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "items_to_ical: {} items x {rounds} rounds: {:.0} items/s, {:.1} MB/s of output",
        items.len(),
        (items.len() * rounds) as f64 / secs,
        out as f64 / secs / 1e6
    );
    let msgs: Vec<_> = files("tnef")
        .iter()
        .filter_map(|f| gromox_convert::tnef::decode(f).ok())
        .map(gromox_convert::mime_in::tnef_to_message)
        .collect();
    let start = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..rounds {
        for m in &msgs {
            let b = gromox_convert::tnef_export::encode(m);
            bytes += b.len();
            assert!(gromox_convert::tnef::decode(&b).is_ok());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "tnef encode+decode: {} messages x {rounds} rounds: {:.0} messages/s, {:.1} MB/s",
        msgs.len(),
        (msgs.len() * rounds) as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}
