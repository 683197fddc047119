//! Host access lists for the internal text and RPC protocols (`event_hosts_allow`,
//! `timer_hosts_allow`, `exmdb_hosts_allow`, …): addresses or CIDR prefixes separated by
//! spaces or commas. IPv4-mapped IPv6 peers match their IPv4 form.

use std::net::IpAddr;

/// A parsed allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsAllow {
    nets: Vec<(IpAddr, u8)>,
}

impl HostsAllow {
    /// Parse `127.0.0.1 ::1 10.0.0.0/8`. An empty list allows nobody.
    pub fn parse(s: &str) -> Result<HostsAllow, String> {
        let mut nets = Vec::new();
        for item in s.split([' ', ',', '\t', '\n']).filter(|x| !x.is_empty()) {
            let (addr, len) = match item.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (item, None),
            };
            let ip: IpAddr = addr
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| format!("\"{item}\" is not an IP address or prefix"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| format!("bad prefix length in \"{item}\""))?,
                None => max,
            };
            nets.push((ip, len));
        }
        Ok(HostsAllow { nets })
    }

    /// Whether `peer` is allowed.
    pub fn allows(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        self.nets.iter().any(|(net, len)| match (net, peer) {
            (IpAddr::V4(n), IpAddr::V4(p)) => prefix_eq(&n.octets(), &p.octets(), *len),
            (IpAddr::V6(n), IpAddr::V6(p)) => prefix_eq(&n.octets(), &p.octets(), *len),
            _ => false,
        })
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches() {
        let acl = HostsAllow::parse("127.0.0.1, ::1 10.1.0.0/16 [fd00::]/8").unwrap();
        assert!(acl.allows("127.0.0.1".parse().unwrap()));
        assert!(acl.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(acl.allows("::1".parse().unwrap()));
        assert!(acl.allows("10.1.200.3".parse().unwrap()));
        assert!(!acl.allows("10.2.0.1".parse().unwrap()));
        assert!(acl.allows("fd12::5".parse().unwrap()));
        assert!(!acl.allows("127.0.0.2".parse().unwrap()));
        assert!(!HostsAllow::parse("").unwrap().allows("127.0.0.1".parse().unwrap()));
        assert!(HostsAllow::parse("10.0.0.0/33").is_err());
        assert!(HostsAllow::parse("example.org").is_err());
    }
}
