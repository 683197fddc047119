//! Compressed RTF, as specified in [MS-OXRTFCP].
//!
//! [MS-OXRTFCP] section 2.1.3.1 defines the stream: a 16-byte header
//! (COMPSIZE, RAWSIZE, COMPTYPE, CRC) followed by either raw data
//! ("MELA", uncompressed) or an LZ77 token stream ("LZFu") that works on a
//! 4096-byte circular dictionary pre-filled with a fixed RTF prefix
//! (section 2.1.2.1). Section 2.1.3.2 defines the CRC.

use crate::error::{Error, Result};

/// COMPTYPE of compressed content ("LZFu").
pub const COMPRESSED: u32 = 0x7546_5A4C;
/// COMPTYPE of uncompressed content ("MELA").
pub const UNCOMPRESSED: u32 = 0x414C_454D;

/// The initial dictionary contents ([MS-OXRTFCP] section 2.1.2.1), 207 bytes.
const INIT_DICT: &[u8] = b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx";

const DICT_SIZE: usize = 4096;
const MAX_MATCH: usize = 17;

fn crc_table() -> &'static [u32; 256] {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            *e = c;
        }
        t
    })
}

/// CRC-32 of [MS-OXRTFCP] section 2.1.3.2: the usual CRC-32 table, but
/// starting at 0 and without final inversion.
pub fn crc32(data: &[u8]) -> u32 {
    let t = crc_table();
    data.iter()
        .fold(0u32, |crc, &b| t[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8))
}

fn init_dict() -> [u8; DICT_SIZE] {
    let mut d = [0u8; DICT_SIZE];
    d[..INIT_DICT.len()].copy_from_slice(INIT_DICT);
    d
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// The parsed header of a compressed RTF stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Size of the stream after the COMPSIZE field.
    pub comp_size: u32,
    /// Size of the decompressed RTF.
    pub raw_size: u32,
    /// [`COMPRESSED`] or [`UNCOMPRESSED`].
    pub comp_type: u32,
    /// CRC of the contents (0 for uncompressed streams).
    pub crc: u32,
}

/// Parses the 16-byte header.
pub fn parse_header(data: &[u8]) -> Result<Header> {
    if data.len() < 16 {
        return Err(Error::Truncated("compressed RTF header"));
    }
    Ok(Header {
        comp_size: le32(data, 0),
        raw_size: le32(data, 4),
        comp_type: le32(data, 8),
        crc: le32(data, 12),
    })
}

/// Decompresses a PidTagRtfCompressed stream ([MS-OXRTFCP] section 3.1.2).
///
/// The CRC of compressed streams is verified. Output is limited to
/// RAWSIZE bytes; a stream that ends early yields what was decoded so far
/// only if it is at least well-formed up to that point (otherwise an error).
pub fn decompress(data: &[u8]) -> Result<Vec<u8>> {
    let h = parse_header(data)?;
    let end = (h.comp_size as usize).saturating_add(4).min(data.len());
    let contents = data.get(16..end).unwrap_or(&[]);
    match h.comp_type {
        UNCOMPRESSED => {
            let n = (h.raw_size as usize).min(contents.len());
            Ok(contents[..n].to_vec())
        }
        COMPRESSED => {
            let computed = crc32(contents);
            if computed != h.crc {
                return Err(Error::BadChecksum {
                    what: "compressed RTF",
                    expected: h.crc,
                    computed,
                });
            }
            decode_lzfu(contents, h.raw_size as usize)
        }
        _ => Err(Error::BadSignature("compressed RTF COMPTYPE")),
    }
}

fn decode_lzfu(src: &[u8], raw_size: usize) -> Result<Vec<u8>> {
    let mut dict = init_dict();
    let mut wpos = INIT_DICT.len();
    // Cap the pre-allocation: RAWSIZE comes from untrusted input.
    let mut out = Vec::with_capacity(raw_size.min(src.len().saturating_mul(8)).min(1 << 24));
    let mut i = 0;
    while i < src.len() {
        let control = src[i];
        i += 1;
        for bit in 0..8 {
            if control & (1 << bit) == 0 {
                let Some(&b) = src.get(i) else {
                    return Err(Error::Truncated("compressed RTF literal"));
                };
                i += 1;
                out.push(b);
                dict[wpos] = b;
                wpos = (wpos + 1) % DICT_SIZE;
            } else {
                if i + 2 > src.len() {
                    return Err(Error::Truncated("compressed RTF reference"));
                }
                let word = u16::from_be_bytes([src[i], src[i + 1]]);
                i += 2;
                let offset = (word >> 4) as usize;
                let len = (word & 0xf) as usize + 2;
                if offset == wpos {
                    // End marker ([MS-OXRTFCP] section 2.2.1.2.2).
                    out.truncate(raw_size);
                    return Ok(out);
                }
                for k in 0..len {
                    let b = dict[(offset + k) % DICT_SIZE];
                    out.push(b);
                    dict[wpos] = b;
                    wpos = (wpos + 1) % DICT_SIZE;
                }
            }
            if out.len() > raw_size.saturating_add(MAX_MATCH * 8) {
                return Err(Error::Invalid("compressed RTF longer than RAWSIZE".into()));
            }
        }
    }
    Err(Error::Truncated("compressed RTF end marker missing"))
}

/// Wraps `rtf` into an uncompressed ("MELA") stream.
pub fn encode_uncompressed(rtf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rtf.len() + 16);
    out.extend_from_slice(&((rtf.len() as u32).wrapping_add(12)).to_le_bytes());
    out.extend_from_slice(&(rtf.len() as u32).to_le_bytes());
    out.extend_from_slice(&UNCOMPRESSED.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(rtf);
    out
}

/// Compresses `rtf` into an "LZFu" stream ([MS-OXRTFCP] section 3.1.3).
///
/// Finds the longest match (2..=17 bytes) in the dictionary, preferring the
/// earliest found; the match may run into the bytes being written, as the
/// decoder copies byte by byte.
pub fn compress(rtf: &[u8]) -> Vec<u8> {
    let mut dict = init_dict();
    let mut wpos = INIT_DICT.len();
    // Number of valid bytes in the dictionary (it starts only partly filled).
    let mut filled = INIT_DICT.len();
    let mut index = ByteIndex::new(&dict);
    let mut body: Vec<u8> = Vec::with_capacity(rtf.len() / 2 + 16);
    let mut pos = 0;
    let mut done = false;
    while !done {
        let ctrl_at = body.len();
        body.push(0);
        let mut control = 0u8;
        for bit in 0..8 {
            if pos >= rtf.len() {
                // End marker: a reference to the current write position.
                control |= 1 << bit;
                body.extend_from_slice(&((wpos as u16) << 4).to_be_bytes());
                done = true;
                break;
            }
            let (off, len) = longest_match(&dict, &index, filled, wpos, &rtf[pos..]);
            if len >= 2 {
                control |= 1 << bit;
                let word = ((off as u16) << 4) | (len as u16 - 2);
                body.extend_from_slice(&word.to_be_bytes());
                for k in 0..len {
                    index.put(&mut dict, wpos, rtf[pos + k]);
                    wpos = (wpos + 1) % DICT_SIZE;
                }
                filled = (filled + len).min(DICT_SIZE);
                pos += len;
            } else {
                body.push(rtf[pos]);
                index.put(&mut dict, wpos, rtf[pos]);
                wpos = (wpos + 1) % DICT_SIZE;
                filled = (filled + 1).min(DICT_SIZE);
                pos += 1;
            }
        }
        body[ctrl_at] = control;
    }
    let mut out = Vec::with_capacity(body.len() + 16);
    out.extend_from_slice(&((body.len() as u32).wrapping_add(12)).to_le_bytes());
    out.extend_from_slice(&(rtf.len() as u32).to_le_bytes());
    out.extend_from_slice(&COMPRESSED.to_le_bytes());
    out.extend_from_slice(&crc32(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// For each byte value, the set of dictionary positions holding it, so
/// the match search visits only positions whose first byte matches (in
/// the same order as a full scan, hence the same output).
struct ByteIndex(Vec<[u64; DICT_SIZE / 64]>);

impl ByteIndex {
    fn new(dict: &[u8; DICT_SIZE]) -> ByteIndex {
        let mut ix = ByteIndex(vec![[0u64; DICT_SIZE / 64]; 256]);
        for (p, &b) in dict.iter().enumerate().take(INIT_DICT.len()) {
            ix.0[b as usize][p / 64] |= 1 << (p % 64);
        }
        ix
    }
    fn put(&mut self, dict: &mut [u8; DICT_SIZE], pos: usize, b: u8) {
        let old = dict[pos];
        self.0[old as usize][pos / 64] &= !(1 << (pos % 64));
        dict[pos] = b;
        self.0[b as usize][pos / 64] |= 1 << (pos % 64);
    }
}

/// Calls `f` for each set position in `bits` within `from..to`, in order,
/// until it returns true.
fn scan_bits(bits: &[u64; DICT_SIZE / 64], from: usize, to: usize, f: &mut impl FnMut(usize) -> bool) -> bool {
    let mut w = from / 64;
    while w * 64 < to {
        let mut word = bits[w];
        if w == from / 64 {
            word &= !0u64 << (from % 64);
        }
        while word != 0 {
            let p = w * 64 + word.trailing_zeros() as usize;
            if p >= to {
                return false;
            }
            if f(p) {
                return true;
            }
            word &= word - 1;
        }
        w += 1;
    }
    false
}

/// Longest dictionary match for `input`, as (offset, length).
fn longest_match(
    dict: &[u8; DICT_SIZE],
    index: &ByteIndex,
    filled: usize,
    wpos: usize,
    input: &[u8],
) -> (usize, usize) {
    let max = input.len().min(MAX_MATCH);
    if max < 2 {
        return (0, 0);
    }
    let mut best = (0usize, 0usize);
    // Candidate start positions: valid dictionary bytes other than the
    // write position itself (which would be read as the end marker),
    // in order from the oldest byte.
    let start = if filled < DICT_SIZE { 0 } else { (wpos + 1) % DICT_SIZE };
    let mut visit = |off: usize| -> bool {
        if off == wpos && filled >= DICT_SIZE {
            return false;
        }
        // Simulate the decoder's byte-wise copy, which may read bytes it
        // has just written.
        let dist = (wpos + DICT_SIZE - off) % DICT_SIZE;
        let mut len = 0;
        while len < max {
            let b = if len < dist {
                dict[(off + len) % DICT_SIZE]
            } else {
                input[len - dist]
            };
            if b != input[len] {
                break;
            }
            len += 1;
        }
        if len > best.1 {
            best = (off, len);
        }
        len == max
    };
    let bits = &index.0[input[0] as usize];
    if !scan_bits(bits, start, DICT_SIZE, &mut visit) {
        scan_bits(bits, 0, start, &mut visit);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    // [MS-OXRTFCP] section 3.1.1, "Example 1: Simple Compressed RTF".
    const EX1_RTF: &[u8] = b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n";
    const EX1_COMP: &[u8] = &[
        0x2d, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5, 0xc7, 0xa7, 0x03, 0x00,
        0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42, 0x32, 0x0a, 0xf3, 0x20, 0x68, 0x65, 0x6c, 0x09,
        0x00, 0x20, 0x62, 0x77, 0x05, 0xb0, 0x6c, 0x64, 0x7d, 0x0a, 0x80, 0x0f, 0xa0,
    ];
    // [MS-OXRTFCP] section 3.1.2, "Example 2: Reading a Token from the Dictionary".
    const EX2_RTF: &[u8] = b"{\\rtf1 WXYZWXYZWXYZWXYZWXYZ}";
    const EX2_COMP: &[u8] = &[
        0x1a, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xe2, 0xd4, 0x4b, 0x51, 0x41, 0x00,
        0x04, 0x20, 0x57, 0x58, 0x59, 0x5a, 0x0d, 0x6e, 0x7d, 0x01, 0x0e, 0xb0,
    ];

    #[test]
    fn init_dict_is_207_bytes() {
        assert_eq!(INIT_DICT.len(), 207);
    }

    #[test]
    fn decompress_spec_examples() {
        assert_eq!(decompress(EX1_COMP).unwrap(), EX1_RTF);
        assert_eq!(decompress(EX2_COMP).unwrap(), EX2_RTF);
    }

    #[test]
    fn compress_matches_spec_examples() {
        assert_eq!(compress(EX1_RTF), EX1_COMP);
        assert_eq!(compress(EX2_RTF), EX2_COMP);
    }

    #[test]
    fn uncompressed_roundtrip() {
        let enc = encode_uncompressed(EX1_RTF);
        assert_eq!(&enc[8..12], b"MELA");
        assert_eq!(decompress(&enc).unwrap(), EX1_RTF);
    }

    #[test]
    fn roundtrip_long_input_wraps_dictionary() {
        let mut rtf = Vec::new();
        for i in 0..3000u32 {
            rtf.extend_from_slice(format!("{{\\b item {} }}\\par ", i * 7919 % 1000).as_bytes());
        }
        let c = compress(&rtf);
        assert!(c.len() < rtf.len() / 2);
        assert_eq!(decompress(&c).unwrap(), rtf);
    }

    #[test]
    fn bad_crc_is_rejected() {
        let mut c = EX1_COMP.to_vec();
        c[20] ^= 1;
        assert!(matches!(decompress(&c), Err(Error::BadChecksum { .. })));
    }

    #[test]
    fn truncated_and_garbage_do_not_panic() {
        for n in 0..EX1_COMP.len() {
            let _ = decompress(&EX1_COMP[..n]);
        }
        assert!(matches!(decompress(b"short"), Err(Error::Truncated(_))));
        let mut bad = EX1_COMP.to_vec();
        bad[8] = b'X';
        assert!(matches!(decompress(&bad), Err(Error::BadSignature(_))));
    }
}
