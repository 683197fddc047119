//! GUIDs (MS-DTYP §2.3.4): 16 bytes, the first three fields little-endian on the wire.

use crate::Error;

/// A GUID as its 16 wire bytes (MS-DTYP §2.3.4.1 layout: Data1..3 little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The nil GUID.
    pub const NIL: Guid = Guid([0; 16]);

    /// Builds a GUID from its textual fields.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5], d4[6], d4[7],
        ])
    }

    /// Reads 16 wire bytes.
    pub fn from_slice(b: &[u8]) -> Result<Guid, Error> {
        let a: [u8; 16] = b
            .get(..16)
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::Truncated("GUID"))?;
        Ok(Guid(a))
    }

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (case-insensitive, optional braces).
    pub fn parse(s: &str) -> Result<Guid, Error> {
        let s = s.trim();
        let s = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(s);
        let b = s.as_bytes();
        if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
            return Err(Error::Invalid("GUID text"));
        }
        let hex: Vec<u8> = b.iter().copied().filter(|c| *c != b'-').collect();
        if hex.len() != 32 {
            return Err(Error::Invalid("GUID text"));
        }
        let mut raw = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let hi = hexval(pair[0])?;
            let lo = hexval(pair[1])?;
            raw[i] = (hi << 4) | lo;
        }
        // raw is in text order; convert the first three fields to little-endian.
        let d1 = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let d2 = u16::from_be_bytes([raw[4], raw[5]]);
        let d3 = u16::from_be_bytes([raw[6], raw[7]]);
        let mut d4 = [0u8; 8];
        d4.copy_from_slice(&raw[8..]);
        Ok(Guid::from_fields(d1, d2, d3, d4))
    }

    /// A random-looking GUID (version 4) from caller-provided entropy.
    pub fn from_random(mut b: [u8; 16]) -> Guid {
        b[7] = (b[7] & 0x0F) | 0x40;
        b[8] = (b[8] & 0x3F) | 0x80;
        Guid(b)
    }
}

fn hexval(c: u8) -> Result<u8, Error> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(Error::Invalid("GUID text")),
    }
}

impl std::fmt::Display for Guid {
    /// Lower-case text form, as Gromox writes it in `named_properties.name_string`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = &self.0;
        let d1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let d2 = u16::from_le_bytes([b[4], b[5]]);
        let d3 = u16::from_le_bytes([b[6], b[7]]);
        write!(
            f,
            "{d1:08x}-{d2:04x}-{d3:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn text_roundtrip() {
        let g = Guid::parse("00062008-0000-0000-C000-000000000046").unwrap();
        assert_eq!(g.0[..4], [0x08, 0x20, 0x06, 0x00]);
        assert_eq!(g.to_string(), "00062008-0000-0000-c000-000000000046");
        assert!(Guid::parse("00062008-0000-0000-C000-00000000004").is_err());
        assert!(Guid::parse("0006200g-0000-0000-C000-000000000046").is_err());
    }
}
