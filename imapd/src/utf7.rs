//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3) ⇄ UTF-8.
//!
//! IMAP4rev1 clients send and expect mailbox names in modified UTF-7: printable US-ASCII
//! except `&` stands for itself, `&-` is `&`, and other characters are UTF-16 encoded in a
//! modified BASE64 (`,` instead of `/`, no padding) between `&` and `-`. IMAP4rev2 (RFC 9051
//! §5.1) and `UTF8=ACCEPT` clients use UTF-8 directly.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_val(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    } as u32)
}

/// Encode a UTF-8 mailbox name in modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    fn flush(out: &mut String, pending: &mut Vec<u16>) {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let mut bits: u32 = 0;
        let mut nbits = 0;
        for &u in pending.iter() {
            bits = (bits << 16) | u as u32;
            nbits += 16;
            while nbits >= 6 {
                nbits -= 6;
                out.push(B64[((bits >> nbits) & 0x3f) as usize] as char);
            }
        }
        if nbits > 0 {
            out.push(B64[((bits << (6 - nbits)) & 0x3f) as usize] as char);
        }
        out.push('-');
        pending.clear();
    }
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// Decode a modified UTF-7 mailbox name to UTF-8. Returns `None` on malformed input
/// (bad BASE64, unpaired surrogates, non-zero padding bits, non-ASCII bytes).
pub fn decode(name: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let c = name[i];
        if c != b'&' {
            if !(0x20..=0x7e).contains(&c) {
                return None;
            }
            out.push(c as char);
            i += 1;
            continue;
        }
        i += 1;
        let start = i;
        while i < name.len() && name[i] != b'-' {
            i += 1;
        }
        if i >= name.len() {
            return None;
        }
        let chunk = &name[start..i];
        i += 1; // '-'
        if chunk.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut units: Vec<u16> = Vec::new();
        for &b in chunk {
            bits = (bits << 6) | b64_val(b)?;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(((bits >> nbits) & 0xffff) as u16);
            }
            bits &= (1 << nbits) - 1;
        }
        if nbits >= 6 || bits != 0 {
            return None;
        }
        let s = String::from_utf16(&units).ok()?;
        // A shifted run must not encode printable ASCII (RFC 3501 §5.1.3).
        if s.chars().any(|c| (' '..='~').contains(&c)) {
            return None;
        }
        out.push_str(&s);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example() {
        // RFC 3501 §5.1.3: "~peter/mail/台北/日本語"
        let s = "~peter/mail/台北/日本語";
        let e = encode(s);
        assert_eq!(e, "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(decode(e.as_bytes()).as_deref(), Some(s));
    }

    #[test]
    fn ampersand_and_errors() {
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(decode(b"A&-B").as_deref(), Some("A&B"));
        assert_eq!(decode(b"&Jjo-!").as_deref(), Some("☺!"));
        assert_eq!(decode(b"&U,BTFw"), None);
        assert_eq!(decode(b"&AGE-"), None); // encodes 'a'
        assert_eq!(decode(b"&2D3-"), None); // lone surrogate / padding
        assert_eq!(decode("ü".as_bytes()), None);
        let emoji = "Post 📬 box";
        assert_eq!(decode(encode(emoji).as_bytes()).as_deref(), Some(emoji));
    }
}
