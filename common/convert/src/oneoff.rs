//! One-off entry ids ([MS-OXCDATA] section 2.2.5.1), flat entry lists
//! (section 2.3.3) and address search keys ([MS-OXCMAIL] section 2.2.3.2.1
//! uses them for originator, sender, reply-to and recipients).

use crate::error::{Error, Result};

/// Provider UID of one-off entry ids: {A41F2B81-A3BE-1910-9D6E-00DD010F5402}.
pub const ONE_OFF_PROVIDER: [u8; 16] = [
    0x81, 0x2B, 0x1F, 0xA4, 0xBE, 0xA3, 0x10, 0x19, 0x9D, 0x6E, 0x00, 0xDD, 0x01, 0x0F, 0x54, 0x02,
];

const MAPI_UNICODE: u16 = 0x8000;
const NO_RICH_INFO: u16 = 0x1000;

fn utf16z(s: &str, out: &mut Vec<u8>) {
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out.extend_from_slice(&[0, 0]);
}

/// Builds a Unicode one-off entry id.
pub fn encode(display: &str, addrtype: &str, address: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(24 + 2 * (display.len() + addrtype.len() + address.len() + 3));
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&ONE_OFF_PROVIDER);
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&(MAPI_UNICODE | NO_RICH_INFO).to_le_bytes());
    utf16z(display, &mut b);
    utf16z(addrtype, &mut b);
    utf16z(address, &mut b);
    b
}

/// Parses a one-off entry id into (display name, address type, address).
pub fn decode(b: &[u8]) -> Result<(String, String, String)> {
    if b.len() < 24 {
        return Err(Error::Truncated("one-off entry id"));
    }
    if b[4..20] != ONE_OFF_PROVIDER {
        return Err(Error::BadSignature("one-off entry id provider"));
    }
    let flags = u16::from_le_bytes([b[22], b[23]]);
    let mut rest = &b[24..];
    let mut fields = Vec::with_capacity(3);
    for _ in 0..3 {
        if flags & MAPI_UNICODE != 0 {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            let used = (units.len() + 1) * 2;
            if used > rest.len() {
                return Err(Error::Truncated("one-off entry id string"));
            }
            fields.push(String::from_utf16_lossy(&units));
            rest = &rest[used..];
        } else {
            let end = rest
                .iter()
                .position(|&c| c == 0)
                .ok_or(Error::Truncated("one-off entry id string"))?;
            fields.push(crate::charset::decode_label("windows-1252", &rest[..end]));
            rest = &rest[end + 1..];
        }
    }
    let address = fields.pop().unwrap_or_default();
    let addrtype = fields.pop().unwrap_or_default();
    let display = fields.pop().unwrap_or_default();
    Ok((display, addrtype, address))
}

/// A FlatEntryList of entry ids (count, size, then 4-byte aligned entries).
pub fn flat_entry_list(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in entries {
        body.extend_from_slice(&(e.len() as u32).to_le_bytes());
        body.extend_from_slice(e);
        while body.len() % 4 != 0 {
            body.push(0);
        }
    }
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Entries of a FlatEntryList.
pub fn parse_flat_entry_list(b: &[u8]) -> Result<Vec<Vec<u8>>> {
    if b.len() < 8 {
        return Err(Error::Truncated("flat entry list"));
    }
    let count = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let mut rest = &b[8..];
    let mut out = Vec::new();
    for _ in 0..count {
        if rest.len() < 4 {
            return Err(Error::Truncated("flat entry"));
        }
        let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let e = rest.get(4..4 + n).ok_or(Error::Truncated("flat entry data"))?;
        out.push(e.to_vec());
        let padded = (4 + n).div_ceil(4) * 4;
        rest = rest.get(padded..).unwrap_or(&[]);
    }
    Ok(out)
}

/// Search key "ADDRTYPE:ADDRESS" upper-cased with a terminating NUL
/// ([MS-OXCPRPT]/[MS-OXOABK] PidTagSearchKey form).
pub fn search_key(addrtype: &str, address: &str) -> Vec<u8> {
    let mut k = format!("{addrtype}:{address}").to_uppercase().into_bytes();
    k.push(0);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oneoff_roundtrip_and_list() {
        let e = encode("Jürgen", "SMTP", "j@example.org");
        assert_eq!(
            decode(&e).unwrap(),
            ("Jürgen".into(), "SMTP".into(), "j@example.org".into())
        );
        let l = flat_entry_list(&[e.clone(), encode("B", "SMTP", "b@x")]);
        let back = parse_flat_entry_list(&l).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], e);
        assert_eq!(decode(&back[1]).unwrap().2, "b@x");
        for n in 0..e.len() {
            let _ = decode(&e[..n]);
        }
        for n in 0..l.len() {
            let _ = parse_flat_entry_list(&l[..n]);
        }
        assert_eq!(search_key("SMTP", "a@B.org"), b"SMTP:A@B.ORG\0");
    }
}
