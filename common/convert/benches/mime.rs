//! MIME → MAPI throughput over the eml fixtures: messages/s and MB/s;
//! also MAPI → MIME and compressed RTF (MS-OXRTFCP) on a 1 MB document.
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

    let mut rtf = Vec::new();
    let mut i = 0u32;
    while rtf.len() < 1 << 20 {
        rtf.extend_from_slice(
            format!(
                "{{\\pard\\f0\\fs20 Paragraph {i} with some text, {}\\par}}\r\n",
                i.wrapping_mul(2654435761) % 9973
            )
            .as_bytes(),
        );
        i += 1;
    }
    let start = Instant::now();
    let c = gromox_convert::rtfcp::compress(&rtf);
    let ct = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let d = gromox_convert::rtfcp::decompress(&c).expect("round trip");
    let dt = start.elapsed().as_secs_f64();
    assert_eq!(d, rtf);
    println!(
        "rtfcp: {} bytes -> {} bytes; compress {:.1} MB/s, decompress {:.1} MB/s",
        rtf.len(),
        c.len(),
        rtf.len() as f64 / ct / 1e6,
        rtf.len() as f64 / dt / 1e6
    );
}
