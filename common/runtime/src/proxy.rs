//! HAProxy PROXY protocol header parser, versions 2 (binary, proxy-protocol.txt §2.2) and
//! 1 (text, §2.1). Pure function, no I/O: [`parse_proxy_header`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12-byte v2 signature (§2.2).
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Longest v1 line, CRLF included (§2.1).
pub const V1_MAX: usize = 107;
/// Largest v2 header we accept (16-byte fixed part + address/TLV block).
pub const V2_MAX: usize = 16 + 65535;

/// Result of parsing the beginning of a connection's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyHeader {
    /// More bytes are needed to decide.
    Incomplete,
    /// A complete header of `len` bytes. `source`/`dest` are the addresses the proxy
    /// reports; `None` for the LOCAL command, UNSPEC/UNKNOWN and AF_UNIX (then the socket's
    /// own addresses apply).
    Done {
        /// Header length in bytes (to be discarded from the input).
        len: usize,
        /// Original client address.
        source: Option<SocketAddr>,
        /// Original destination address.
        dest: Option<SocketAddr>,
    },
}

/// Why a PROXY header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// Input starts with neither the v1 nor the v2 signature.
    #[error("no PROXY protocol signature")]
    NoSignature,
    /// v2 version nibble is not 2.
    #[error("unsupported PROXY protocol version {0}")]
    Version(u8),
    /// v2 command nibble is neither LOCAL (0) nor PROXY (1).
    #[error("unsupported PROXY command {0}")]
    Command(u8),
    /// The address block is shorter than the family requires, or the family is unknown.
    #[error("bad PROXY address block")]
    Addresses,
    /// v1 line malformed or too long.
    #[error("malformed PROXY v1 line")]
    V1,
}

/// Parse a PROXY protocol v2 or v1 header at the start of `buf`.
///
/// Returns [`ProxyHeader::Incomplete`] while `buf` is a proper prefix of a possible header.
pub fn parse_proxy_header(buf: &[u8]) -> Result<ProxyHeader, ProxyError> {
    if buf.is_empty() {
        return Ok(ProxyHeader::Incomplete);
    }
    let n = buf.len().min(12);
    if buf[..n] == V2_SIGNATURE[..n] {
        if buf.len() < 16 {
            return Ok(ProxyHeader::Incomplete);
        }
        return parse_v2(buf);
    }
    let n = buf.len().min(6);
    if buf[..n] == b"PROXY "[..n] {
        return parse_v1(buf);
    }
    Err(ProxyError::NoSignature)
}

fn parse_v2(buf: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let ver_cmd = buf[12];
    let fam = buf[13];
    let alen = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::Version(ver_cmd >> 4));
    }
    let cmd = ver_cmd & 0x0f;
    if cmd > 1 {
        return Err(ProxyError::Command(cmd));
    }
    let len = 16 + alen;
    if buf.len() < len {
        return Ok(ProxyHeader::Incomplete);
    }
    let block = &buf[16..len];
    if cmd == 0 {
        // LOCAL: health check from the proxy itself; keep the socket's addresses.
        return Ok(ProxyHeader::Done {
            len,
            source: None,
            dest: None,
        });
    }
    let (source, dest) = match fam >> 4 {
        0 => (None, None), // AF_UNSPEC
        1 => {
            if block.len() < 12 {
                return Err(ProxyError::Addresses);
            }
            let src = Ipv4Addr::new(block[0], block[1], block[2], block[3]);
            let dst = Ipv4Addr::new(block[4], block[5], block[6], block[7]);
            let sp = u16::from_be_bytes([block[8], block[9]]);
            let dp = u16::from_be_bytes([block[10], block[11]]);
            (
                Some(SocketAddr::new(IpAddr::V4(src), sp)),
                Some(SocketAddr::new(IpAddr::V4(dst), dp)),
            )
        }
        2 => {
            if block.len() < 36 {
                return Err(ProxyError::Addresses);
            }
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&block[0..16]);
            d.copy_from_slice(&block[16..32]);
            let sp = u16::from_be_bytes([block[32], block[33]]);
            let dp = u16::from_be_bytes([block[34], block[35]]);
            (
                Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(s)), sp)),
                Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(d)), dp)),
            )
        }
        3 => {
            if block.len() < 216 {
                return Err(ProxyError::Addresses);
            }
            (None, None) // AF_UNIX: no IP address to report
        }
        _ => return Err(ProxyError::Addresses),
    };
    if fam & 0x0f > 2 {
        return Err(ProxyError::Addresses);
    }
    Ok(ProxyHeader::Done { len, source, dest })
}

fn parse_v1(buf: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let limit = buf.len().min(V1_MAX);
    let Some(end) = buf[..limit].windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX {
            return Err(ProxyError::V1);
        }
        if buf[..limit]
            .iter()
            .any(|&b| b == b'\n' || !(0x20..0x7f).contains(&b) && b != b'\r')
        {
            return Err(ProxyError::V1);
        }
        return Ok(ProxyHeader::Incomplete);
    };
    let len = end + 2;
    let line = std::str::from_utf8(&buf[..end]).map_err(|_| ProxyError::V1)?;
    let mut parts = line.split(' ');
    if parts.next() != Some("PROXY") {
        return Err(ProxyError::V1);
    }
    let proto = parts.next().ok_or(ProxyError::V1)?;
    if proto == "UNKNOWN" {
        return Ok(ProxyHeader::Done {
            len,
            source: None,
            dest: None,
        });
    }
    let fields: Vec<&str> = parts.collect();
    if fields.len() != 4 {
        return Err(ProxyError::V1);
    }
    let (src, dst): (IpAddr, IpAddr) = match proto {
        "TCP4" => (
            IpAddr::V4(fields[0].parse().map_err(|_| ProxyError::V1)?),
            IpAddr::V4(fields[1].parse().map_err(|_| ProxyError::V1)?),
        ),
        "TCP6" => (
            IpAddr::V6(fields[0].parse().map_err(|_| ProxyError::V1)?),
            IpAddr::V6(fields[1].parse().map_err(|_| ProxyError::V1)?),
        ),
        _ => return Err(ProxyError::V1),
    };
    let port = |s: &str| -> Result<u16, ProxyError> {
        if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ProxyError::V1);
        }
        s.parse().map_err(|_| ProxyError::V1)
    };
    Ok(ProxyHeader::Done {
        len,
        source: Some(SocketAddr::new(src, port(fields[2])?)),
        dest: Some(SocketAddr::new(dst, port(fields[3])?)),
    })
}

/// Build a v2 PROXY header for `source` → `dest` (used by tests and tools).
pub fn encode_v2(source: SocketAddr, dest: SocketAddr) -> Vec<u8> {
    let mut v = V2_SIGNATURE.to_vec();
    v.push(0x21);
    match (source, dest) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            v.push(0x11);
            v.extend_from_slice(&12u16.to_be_bytes());
            v.extend_from_slice(&s.ip().octets());
            v.extend_from_slice(&d.ip().octets());
            v.extend_from_slice(&s.port().to_be_bytes());
            v.extend_from_slice(&d.port().to_be_bytes());
        }
        _ => {
            let s6 = match source.ip() {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            let d6 = match dest.ip() {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            v.push(0x21);
            v.extend_from_slice(&36u16.to_be_bytes());
            v.extend_from_slice(&s6.octets());
            v.extend_from_slice(&d6.octets());
            v.extend_from_slice(&source.port().to_be_bytes());
            v.extend_from_slice(&dest.port().to_be_bytes());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(len: usize, s: &str, d: &str) -> ProxyHeader {
        ProxyHeader::Done {
            len,
            source: Some(s.parse().unwrap()),
            dest: Some(d.parse().unwrap()),
        }
    }

    #[test]
    fn v2_ipv4_with_trailing_data() {
        let mut h = encode_v2("192.0.2.7:40000".parse().unwrap(), "198.51.100.1:143".parse().unwrap());
        let hl = h.len();
        h.extend_from_slice(b"a001 CAPABILITY\r\n");
        assert_eq!(
            parse_proxy_header(&h),
            Ok(done(hl, "192.0.2.7:40000", "198.51.100.1:143"))
        );
        // every proper prefix is incomplete
        for i in 0..hl {
            assert_eq!(parse_proxy_header(&h[..i]), Ok(ProxyHeader::Incomplete), "prefix {i}");
        }
    }

    #[test]
    fn v2_ipv6_and_tlvs() {
        let mut h = encode_v2(
            "[2001:db8::1]:5000".parse().unwrap(),
            "[2001:db8::2]:993".parse().unwrap(),
        );
        // append a TLV (PP2_TYPE_AUTHORITY) and bump the length
        h.extend_from_slice(&[0x02, 0x00, 0x03, b'a', b'.', b'b']);
        h[14..16].copy_from_slice(&(36u16 + 6).to_be_bytes());
        assert_eq!(
            parse_proxy_header(&h),
            Ok(done(16 + 42, "[2001:db8::1]:5000", "[2001:db8::2]:993"))
        );
    }

    #[test]
    fn v2_local_keeps_socket_addresses() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        assert_eq!(
            parse_proxy_header(&h),
            Ok(ProxyHeader::Done {
                len: 16,
                source: None,
                dest: None
            })
        );
    }

    #[test]
    fn v2_malformed() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x31, 0x11, 0x00, 0x0c]);
        h.extend_from_slice(&[0; 12]);
        assert_eq!(parse_proxy_header(&h), Err(ProxyError::Version(3)));
        h[12] = 0x22;
        assert_eq!(parse_proxy_header(&h), Err(ProxyError::Command(2)));
        h[12] = 0x21;
        h[15] = 4; // address block too short for TCP4
        assert_eq!(parse_proxy_header(&h[..20]), Err(ProxyError::Addresses));
        assert_eq!(parse_proxy_header(b"GET / HTTP/1.1\r\n"), Err(ProxyError::NoSignature));
    }

    #[test]
    fn v1_lines() {
        let l = b"PROXY TCP4 192.0.2.9 10.0.0.1 56324 443\r\nrest";
        assert_eq!(parse_proxy_header(l), Ok(done(41, "192.0.2.9:56324", "10.0.0.1:443")));
        let l = b"PROXY TCP6 2001:db8::9 ::1 1 2\r\n";
        assert_eq!(parse_proxy_header(l), Ok(done(l.len(), "[2001:db8::9]:1", "[::1]:2")));
        let l = b"PROXY UNKNOWN\r\n";
        assert_eq!(
            parse_proxy_header(l),
            Ok(ProxyHeader::Done {
                len: 15,
                source: None,
                dest: None
            })
        );
        assert_eq!(parse_proxy_header(b"PROXY TCP4 1.2.3"), Ok(ProxyHeader::Incomplete));
        assert_eq!(
            parse_proxy_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n"),
            Err(ProxyError::V1)
        );
        assert_eq!(parse_proxy_header(b"PROXY TCP4 x\n"), Err(ProxyError::V1));
        assert_eq!(parse_proxy_header(&[b'P'; 200]), Err(ProxyError::NoSignature));
        let mut long = b"PROXY ".to_vec();
        long.resize(120, b'1');
        assert_eq!(parse_proxy_header(&long), Err(ProxyError::V1));
    }

    #[test]
    fn fuzz_seeds() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/proxy_header");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            if let Ok(ProxyHeader::Done { len, .. }) = parse_proxy_header(&data) {
                assert!(len <= data.len());
            }
            n += 1;
        }
        assert!(n >= 5, "seed corpus present");
    }
}
