//! Deterministic mutation run: every fuzz seed, mutated a few hundred
//! times (bit flips, truncation, duplication, byte insertion), goes
//! through the fuzz entry points. A stand-in for cargo-fuzz on stable.

use std::path::Path;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let n = rng.below(v.len() + 1);
                v.truncate(n);
            }
            2 if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                let chunk = v[a..b].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            3 => {
                let at = rng.below(v.len() + 1);
                let b = [0u8, 0xff, b'<', b'\\', b'{', b'}', b'=', b'\n', b':', b';'][rng.below(10)];
                v.insert(at, b);
            }
            _ if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            _ => {}
        }
    }
    v
}

/// `MUTATION_SCALE=N` multiplies the rounds for a longer local run.
fn run(target: &str, f: fn(&[u8]), rounds: usize) {
    let scale: usize = std::env::var("MUTATION_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let rounds = rounds * scale.max(1);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (target.len() as u64) ^ (scale as u64) << 32);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    seeds.sort();
    for p in seeds {
        let seed = std::fs::read(&p).unwrap();
        // Large seeds get fewer rounds to keep the test quick.
        let n = if seed.len() > 20_000 { rounds / 10 } else { rounds };
        for _ in 0..n {
            f(&mutate(&mut rng, &seed));
        }
    }
}

#[test]
fn mutated_rtfcp() {
    run("rtfcp", gromox_convert::fuzzing::rtfcp, 500);
}

#[test]
fn mutated_rtf() {
    run("rtf", gromox_convert::fuzzing::rtf, 500);
}

#[test]
fn mutated_html() {
    run("html", gromox_convert::fuzzing::html, 500);
}

#[test]
fn mutated_tnef() {
    run("tnef", gromox_convert::fuzzing::tnef, 300);
}

#[test]
fn mutated_mime() {
    run("mime", gromox_convert::fuzzing::mime, 200);
}

#[test]
fn mutated_ical() {
    run("ical", gromox_convert::fuzzing::ical, 300);
}

#[test]
fn mutated_vcard() {
    run("vcard", gromox_convert::fuzzing::vcard, 300);
}

#[test]
fn mutated_entryid() {
    run("entryid", gromox_convert::fuzzing::entryid, 500);
}

#[test]
fn mutated_recur() {
    run("recur", gromox_convert::fuzzing::recur, 500);
}
