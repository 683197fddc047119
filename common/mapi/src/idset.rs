//! IDSETs and change-number sets (MS-OXCFXICS §2.2.2.4–§2.2.2.6, encoding and decoding as
//! §3.1.5.4.3 describes).
//!
//! A [`GlobSet`] is a set of 48-bit global counters (GLOBCNT, §2.2.2.5) kept as sorted,
//! disjoint, non-adjacent inclusive ranges. Its serialized form (§2.2.2.6) is a little program
//! over a stack of common high-order bytes: Push (0x01–0x06, §2.2.2.6.1), Pop (0x50,
//! §2.2.2.6.2), Bitmask (0x42, §2.2.2.6.3), Range (0x52, §2.2.2.6.4) and End (0x00,
//! §2.2.2.6.5). GLOBCNT bytes are most significant first, so byte-wise order is numeric order.
//!
//! An [`IdSet`] pairs GLOBSETs with a replica key: a REPLID (2 bytes, little-endian,
//! §2.2.2.4.1) for [`ReplIdSet`] or a REPLGUID (16 bytes, §2.2.2.4.2) for [`ReplGuidSet`],
//! serialized one pair after the other in ascending key order until the input ends.
//!
//! The decoder trusts nothing: every command is checked against the bytes left and the stack
//! depth, ranges must not run backwards, the input must end with End; decoded ranges are
//! collected, then sorted and merged once (`O(n log n)`), so the result is bounded by the input
//! size whatever it contains.

use crate::guid::Guid;
use crate::ids::GC_MAX;
use crate::Error;
use std::collections::BTreeMap;

/// Push command bytes (MS-OXCFXICS §2.2.2.6.1): 0x01..=0x06, the number of bytes pushed.
const CMD_PUSH_MAX: u8 = 0x06;
/// Pop command (§2.2.2.6.2).
const CMD_POP: u8 = 0x50;
/// Bitmask command (§2.2.2.6.3).
const CMD_BITMASK: u8 = 0x42;
/// Range command (§2.2.2.6.4).
const CMD_RANGE: u8 = 0x52;
/// End command (§2.2.2.6.5).
const CMD_END: u8 = 0x00;

/// A set of 48-bit global counters as sorted, disjoint, non-adjacent inclusive ranges
/// (the GLOBSET of MS-OXCFXICS §2.2.2.6).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct GlobSet {
    ranges: Vec<(u64, u64)>,
}

impl GlobSet {
    /// The empty set.
    pub fn new() -> GlobSet {
        GlobSet::default()
    }

    /// A set of one range `lo..=hi` (empty when `lo > hi`; values are clamped to 48 bits).
    pub fn from_range(lo: u64, hi: u64) -> GlobSet {
        let mut s = GlobSet::new();
        s.insert_range(lo, hi);
        s
    }

    /// Builds a set from arbitrary (possibly overlapping, unsorted) ranges in `O(n log n)`.
    pub fn from_ranges(mut v: Vec<(u64, u64)>) -> GlobSet {
        v.retain(|&(a, b)| a <= b);
        for r in v.iter_mut() {
            r.0 = r.0.min(GC_MAX);
            r.1 = r.1.min(GC_MAX);
        }
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        GlobSet { ranges: out }
    }

    /// Builds a set from values in ascending order (a run of consecutive values becomes one
    /// range; out-of-order values are accepted, at the cost of a sort).
    pub fn from_sorted_iter(it: impl IntoIterator<Item = u64>) -> GlobSet {
        let mut s = GlobSet::new();
        for v in it {
            s.push_value(v);
        }
        s
    }

    /// Appends a value; `O(1)` when values come in ascending order.
    pub fn push_value(&mut self, v: u64) {
        let v = v.min(GC_MAX);
        match self.ranges.last_mut() {
            Some(last) if v >= last.0 && v <= last.1 => {}
            Some(last) if v == last.1 + 1 => last.1 = v,
            Some(last) if v > last.1 => self.ranges.push((v, v)),
            None => self.ranges.push((v, v)),
            Some(_) => self.insert(v),
        }
    }

    /// The ranges, ascending, disjoint and non-adjacent.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Number of values in the set.
    pub fn count(&self) -> u64 {
        self.ranges.iter().map(|(a, b)| b - a + 1).sum()
    }

    /// Whether `v` is in the set (binary search).
    pub fn contains(&self, v: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < v);
        self.ranges.get(i).is_some_and(|r| r.0 <= v)
    }

    /// Adds one value.
    pub fn insert(&mut self, v: u64) {
        self.insert_range(v, v);
    }

    /// Adds the values `lo..=hi`, merging with touching ranges.
    pub fn insert_range(&mut self, lo: u64, hi: u64) {
        let (lo, hi) = (lo.min(GC_MAX), hi.min(GC_MAX));
        if lo > hi {
            return;
        }
        // First range that ends at or after lo-1 (could merge); last that starts at or before hi+1.
        let start = self.ranges.partition_point(|r| r.1.saturating_add(1) < lo);
        let end = self.ranges.partition_point(|r| r.0 <= hi.saturating_add(1));
        if start >= end {
            self.ranges.insert(start, (lo, hi));
            return;
        }
        let nlo = lo.min(self.ranges[start].0);
        let nhi = hi.max(self.ranges[end - 1].1);
        self.ranges.splice(start..end, [(nlo, nhi)]);
    }

    /// Removes one value.
    pub fn remove(&mut self, v: u64) {
        let i = self.ranges.partition_point(|r| r.1 < v);
        let Some(&(a, b)) = self.ranges.get(i) else { return };
        if v < a {
            return;
        }
        match (a == v, b == v) {
            (true, true) => {
                self.ranges.remove(i);
            }
            (true, false) => self.ranges[i].0 = v + 1,
            (false, true) => self.ranges[i].1 = v - 1,
            (false, false) => {
                self.ranges[i].1 = v - 1;
                self.ranges.insert(i + 1, (v + 1, b));
            }
        }
    }

    /// Adds every value of `other`.
    pub fn union_with(&mut self, other: &GlobSet) {
        if other.is_empty() {
            return;
        }
        let mut v = std::mem::take(&mut self.ranges);
        v.extend_from_slice(&other.ranges);
        *self = GlobSet::from_ranges(v);
    }

    /// The values of `self` that are not in `other` (linear merge).
    pub fn difference(&self, other: &GlobSet) -> GlobSet {
        let mut out = Vec::new();
        let mut j = 0;
        for &(a, b) in &self.ranges {
            let mut lo = a;
            while j < other.ranges.len() && other.ranges[j].1 < lo {
                j += 1;
            }
            let mut k = j;
            while lo <= b {
                match other.ranges.get(k) {
                    Some(&(oa, ob)) if oa <= b => {
                        if oa > lo {
                            out.push((lo, oa - 1));
                        }
                        if ob >= b {
                            break;
                        }
                        lo = ob + 1;
                        k += 1;
                    }
                    _ => {
                        out.push((lo, b));
                        break;
                    }
                }
            }
        }
        GlobSet { ranges: out }
    }

    /// Every value, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.ranges.iter().flat_map(|&(a, b)| a..=b)
    }

    /// Serializes as a GLOBSET (MS-OXCFXICS §2.2.2.6, encoding per §3.1.5.4.3.1): common
    /// high-order bytes are pushed once for every range under them, a cluster of values within
    /// nine consecutive counters sharing five bytes becomes a Bitmask, longer runs a Range.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let bytes: Vec<([u8; 6], [u8; 6])> = self.ranges.iter().map(|&(a, b)| (gc6(a), gc6(b))).collect();
        encode_level(&bytes, 0, out);
        out.push(CMD_END);
    }

    /// The serialized GLOBSET.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes one GLOBSET from the start of `b` (up to and including its End command);
    /// returns the set and the number of bytes read.
    pub fn decode(b: &[u8]) -> Result<(GlobSet, usize), Error> {
        let mut stack = [0u8; 6];
        let mut depth = 0usize;
        // Sizes of the pushes on the stack, to pop them again (at most 6 pushes of ≥ 1 byte).
        let mut pushes = [0u8; 6];
        let mut npush = 0usize;
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        let mut i = 0usize;
        loop {
            let cmd = *b.get(i).ok_or(Error::Truncated("GLOBSET"))?;
            i += 1;
            match cmd {
                CMD_END => break,
                1..=CMD_PUSH_MAX => {
                    let n = usize::from(cmd);
                    if depth + n > 6 {
                        return Err(Error::Invalid("GLOBSET push beyond 6 bytes"));
                    }
                    let src = b.get(i..i + n).ok_or(Error::Truncated("GLOBSET push"))?;
                    stack[depth..depth + n].copy_from_slice(src);
                    i += n;
                    if depth + n == 6 {
                        // A full GLOBCNT: one value, and the push is undone at once.
                        let v = gc_of(&stack);
                        ranges.push((v, v));
                    } else {
                        depth += n;
                        pushes[npush] = cmd;
                        npush += 1;
                    }
                }
                CMD_POP => {
                    if npush == 0 {
                        return Err(Error::Invalid("GLOBSET pop on empty stack"));
                    }
                    npush -= 1;
                    depth -= usize::from(pushes[npush]);
                }
                CMD_BITMASK => {
                    if depth != 5 {
                        return Err(Error::Invalid("GLOBSET bitmask needs 5 common bytes"));
                    }
                    let f = b.get(i..i + 2).ok_or(Error::Truncated("GLOBSET bitmask"))?;
                    i += 2;
                    let (start, mask) = (f[0], f[1]);
                    stack[5] = start;
                    let base = gc_of(&stack);
                    ranges.push((base, base));
                    for bit in 0..8u8 {
                        if mask & (1 << bit) != 0 {
                            let low = u16::from(start) + u16::from(bit) + 1;
                            if low > 0xFF {
                                return Err(Error::Invalid("GLOBSET bitmask beyond its byte"));
                            }
                            let v = base - u64::from(start) + u64::from(low);
                            ranges.push((v, v));
                        }
                    }
                }
                CMD_RANGE => {
                    let n = 6 - depth;
                    let f = b.get(i..i + 2 * n).ok_or(Error::Truncated("GLOBSET range"))?;
                    i += 2 * n;
                    let mut lo = stack;
                    let mut hi = stack;
                    lo[depth..].copy_from_slice(&f[..n]);
                    hi[depth..].copy_from_slice(&f[n..]);
                    let (lo, hi) = (gc_of(&lo), gc_of(&hi));
                    if lo > hi {
                        return Err(Error::Invalid("GLOBSET range runs backwards"));
                    }
                    ranges.push((lo, hi));
                }
                _ => return Err(Error::Invalid("GLOBSET command")),
            }
        }
        // A stack left non-empty at End is tolerated (nothing is lost by it).
        Ok((GlobSet::from_ranges(ranges), i))
    }
}

impl FromIterator<u64> for GlobSet {
    fn from_iter<T: IntoIterator<Item = u64>>(it: T) -> GlobSet {
        GlobSet::from_sorted_iter(it)
    }
}

fn gc6(v: u64) -> [u8; 6] {
    crate::ids::gc_to_bytes(v)
}

fn gc_of(b: &[u8; 6]) -> u64 {
    crate::ids::gc_from_bytes(b)
}

fn common_prefix(a: &[u8; 6], b: &[u8; 6]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// Encodes ranges that all share their first `depth` bytes (already on the stack).
fn encode_level(rs: &[([u8; 6], [u8; 6])], depth: usize, out: &mut Vec<u8>) {
    let (Some(first), Some(last)) = (rs.first(), rs.last()) else {
        return;
    };
    // Bytes shared by everything below: push them once.
    let c = common_prefix(&first.0, &last.1);
    if c == 6 {
        // A single value.
        push_bytes(out, &first.0[depth..]);
        return;
    }
    if c > depth {
        push_bytes(out, &first.0[depth..c]);
        encode_level(rs, c, out);
        out.push(CMD_POP);
        return;
    }
    if depth == 5 {
        encode_low_bytes(rs, out);
        return;
    }
    // Group consecutive ranges by their byte at `depth`; a range spanning several values of
    // that byte is emitted as a Range at this depth.
    let mut i = 0;
    while i < rs.len() {
        let (lo, hi) = rs[i];
        if lo[depth] != hi[depth] {
            out.push(CMD_RANGE);
            out.extend_from_slice(&lo[depth..]);
            out.extend_from_slice(&hi[depth..]);
            i += 1;
            continue;
        }
        let key = lo[depth];
        let mut j = i + 1;
        while j < rs.len() && rs[j].0[depth] == key && rs[j].1[depth] == key {
            j += 1;
        }
        // The group shares the byte at `depth`, so this pushes at least one more byte.
        encode_level(&rs[i..j], depth, out);
        i = j;
    }
}

/// Encodes ranges sharing five bytes (on the stack): Bitmask for clusters, Range for runs.
fn encode_low_bytes(rs: &[([u8; 6], [u8; 6])], out: &mut Vec<u8>) {
    let lows: Vec<(u8, u8)> = rs.iter().map(|(a, b)| (a[5], b[5])).collect();
    let mut i = 0;
    let mut cur = lows.first().map_or(0, |r| r.0);
    while i < lows.len() {
        let (_, hi) = lows[i];
        let start = cur;
        let run_end = hi;
        if u16::from(run_end) >= u16::from(start) + 8 {
            // A run reaching past what a bitmask covers.
            out.push(CMD_RANGE);
            out.push(start);
            out.push(run_end);
            i += 1;
            if let Some(r) = lows.get(i) {
                cur = r.0;
            }
            continue;
        }
        // Bitmask over start+1 ..= start+8.
        let mut mask = 0u8;
        let limit = u16::from(start) + 8;
        let mut v = u16::from(start) + 1;
        loop {
            while v <= u16::from(lows[i].1) && v <= limit {
                mask |= 1 << (v - u16::from(start) - 1);
                v += 1;
            }
            if v <= u16::from(lows[i].1) {
                // This range continues past the bitmask.
                cur = v as u8;
                break;
            }
            i += 1;
            match lows.get(i) {
                Some(r) if u16::from(r.0) <= limit => v = u16::from(r.0),
                Some(r) => {
                    cur = r.0;
                    break;
                }
                None => break,
            }
        }
        out.push(CMD_BITMASK);
        out.push(start);
        out.push(mask);
    }
}

/// A replica key of an IDSET: REPLID (§2.2.2.4.1) or REPLGUID (§2.2.2.4.2).
pub trait ReplKey: Ord + Copy + std::fmt::Debug {
    /// Serialized size.
    const SIZE: usize;
    /// Writes the key.
    fn put(&self, out: &mut Vec<u8>);
    /// Reads the key from exactly `SIZE` bytes.
    fn get(b: &[u8]) -> Result<Self, Error>;
}

impl ReplKey for u16 {
    const SIZE: usize = 2;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn get(b: &[u8]) -> Result<u16, Error> {
        match b {
            [a, c] => Ok(u16::from_le_bytes([*a, *c])),
            _ => Err(Error::Truncated("REPLID")),
        }
    }
}

impl ReplKey for Guid {
    const SIZE: usize = 16;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn get(b: &[u8]) -> Result<Guid, Error> {
        Guid::from_slice(b)
    }
}

/// An IDSET (MS-OXCFXICS §2.2.2.4): a GLOBSET per replica, serialized in ascending key order.
/// Empty GLOBSETs are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdSet<K: ReplKey> {
    sets: BTreeMap<K, GlobSet>,
}

impl<K: ReplKey> Default for IdSet<K> {
    fn default() -> Self {
        IdSet { sets: BTreeMap::new() }
    }
}

/// An IDSET keyed by REPLID (§2.2.2.4.1): what the download stream's MetaTagIdsetDeleted,
/// MetaTagIdsetRead/Unread and friends carry.
pub type ReplIdSet = IdSet<u16>;
/// An IDSET keyed by REPLGUID (§2.2.2.4.2): what the ICS state properties hold.
pub type ReplGuidSet = IdSet<Guid>;

impl<K: ReplKey> IdSet<K> {
    /// The empty IDSET.
    pub fn new() -> Self {
        Self::default()
    }
    /// Whether no replica has a value.
    pub fn is_empty(&self) -> bool {
        self.sets.values().all(GlobSet::is_empty)
    }
    /// The GLOBSET of a replica (empty when absent).
    pub fn get(&self, k: &K) -> GlobSet {
        self.sets.get(k).cloned().unwrap_or_default()
    }
    /// The GLOBSET of a replica, by reference.
    pub fn globset(&self, k: &K) -> Option<&GlobSet> {
        self.sets.get(k)
    }
    /// Replaces the GLOBSET of a replica.
    pub fn set(&mut self, k: K, g: GlobSet) {
        if g.is_empty() {
            self.sets.remove(&k);
        } else {
            self.sets.insert(k, g);
        }
    }
    /// Adds one counter value of a replica.
    pub fn insert(&mut self, k: K, v: u64) {
        self.sets.entry(k).or_default().insert(v);
    }
    /// Adds a range of counter values of a replica.
    pub fn insert_range(&mut self, k: K, lo: u64, hi: u64) {
        let g = self.sets.entry(k).or_default();
        g.insert_range(lo, hi);
        if g.is_empty() {
            self.sets.remove(&k);
        }
    }
    /// Removes one value.
    pub fn remove(&mut self, k: &K, v: u64) {
        if let Some(g) = self.sets.get_mut(k) {
            g.remove(v);
            if g.is_empty() {
                self.sets.remove(k);
            }
        }
    }
    /// Whether a value is in the set.
    pub fn contains(&self, k: &K, v: u64) -> bool {
        self.sets.get(k).is_some_and(|g| g.contains(v))
    }
    /// Adds every value of another IDSET.
    pub fn union_with(&mut self, other: &IdSet<K>) {
        for (k, g) in &other.sets {
            self.sets.entry(*k).or_default().union_with(g);
        }
    }
    /// Replicas and their GLOBSETs, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &GlobSet)> {
        self.sets.iter().filter(|(_, g)| !g.is_empty())
    }
    /// Serializes (§2.2.2.4.1/§2.2.2.4.2): key then GLOBSET, for each replica in key order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, g) in self.iter() {
            k.put(&mut out);
            g.encode(&mut out);
        }
        out
    }
    /// Parses a whole serialized IDSET; a replica given twice gets the union of both.
    pub fn parse(mut b: &[u8]) -> Result<Self, Error> {
        let mut out = Self::new();
        while !b.is_empty() {
            let kb = b.get(..K::SIZE).ok_or(Error::Truncated("IDSET replica key"))?;
            let k = K::get(kb)?;
            let (g, n) = GlobSet::decode(&b[K::SIZE..])?;
            b = &b[K::SIZE + n..];
            match out.sets.get_mut(&k) {
                Some(old) => old.union_with(&g),
                None => out.set(k, g),
            }
        }
        Ok(out)
    }
}

impl ReplGuidSet {
    /// The REPLID-based form, given a GUID → REPLID mapping; replicas without one are left out.
    pub fn to_replid(&self, replid_of: impl Fn(&Guid) -> Option<u16>) -> ReplIdSet {
        let mut out = ReplIdSet::new();
        for (g, s) in self.iter() {
            if let Some(r) = replid_of(g) {
                out.sets.entry(r).or_default().union_with(s);
            }
        }
        out
    }
}

impl ReplIdSet {
    /// The REPLGUID-based form, given a REPLID → GUID mapping; replicas without one are left out.
    pub fn to_replguid(&self, guid_of: impl Fn(u16) -> Option<Guid>) -> ReplGuidSet {
        let mut out = ReplGuidSet::new();
        for (r, s) in self.iter() {
            if let Some(g) = guid_of(*r) {
                out.sets.entry(g).or_default().union_with(s);
            }
        }
        out
    }
}

/// Fuzz entry: decodes as a bare GLOBSET and as both IDSET forms; what decodes must encode
/// and decode back to the same set.
pub fn fuzz(d: &[u8]) {
    if let Ok((g, _)) = GlobSet::decode(d) {
        let again = GlobSet::decode(&g.to_bytes()).map(|x| x.0);
        assert_eq!(again, Ok(g));
    }
    if let Ok(s) = ReplIdSet::parse(d) {
        assert_eq!(ReplIdSet::parse(&s.to_bytes()), Ok(s));
    }
    if let Ok(s) = ReplGuidSet::parse(d) {
        assert_eq!(ReplGuidSet::parse(&s.to_bytes()), Ok(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(g: &GlobSet) {
        let b = g.to_bytes();
        let (d, n) = GlobSet::decode(&b).unwrap();
        assert_eq!(n, b.len());
        assert_eq!(&d, g, "bytes {b:02x?}");
    }

    #[test]
    fn set_operations() {
        let mut g = GlobSet::new();
        for v in [5, 3, 4, 10, 12, 11, 1] {
            g.insert(v);
        }
        assert_eq!(g.ranges(), &[(1, 1), (3, 5), (10, 12)]);
        g.insert_range(2, 9);
        assert_eq!(g.ranges(), &[(1, 12)]);
        g.remove(6);
        assert_eq!(g.ranges(), &[(1, 5), (7, 12)]);
        assert!(g.contains(7) && !g.contains(6) && !g.contains(13));
        assert_eq!(g.count(), 11);
        let d = g.difference(&GlobSet::from_ranges(vec![(0, 2), (4, 4), (9, 20)]));
        assert_eq!(d.ranges(), &[(3, 3), (5, 5), (7, 8)]);
        let mut u = d.clone();
        u.union_with(&GlobSet::from_range(4, 4));
        assert_eq!(u.ranges(), &[(3, 5), (7, 8)]);
        assert_eq!(GlobSet::from_sorted_iter([1, 2, 3, 7, 8]).ranges(), &[(1, 3), (7, 8)]);
        assert_eq!(GlobSet::from_sorted_iter([7, 1, 2]).ranges(), &[(1, 2), (7, 7)]);
        assert!(GlobSet::from_range(5, 4).is_empty());
    }

    #[test]
    fn round_trips() {
        rt(&GlobSet::new());
        rt(&GlobSet::from_range(1, 1));
        rt(&GlobSet::from_range(1, 0x1000));
        rt(&GlobSet::from_range(0, GC_MAX));
        rt(&GlobSet::from_sorted_iter([
            1, 2, 4, 9, 10, 11, 12, 13, 14, 15, 16, 17, 30,
        ]));
        rt(&GlobSet::from_ranges(vec![
            (0xff, 0x100),
            (0x1_0000_00ff, 0x1_0000_0101),
            (GC_MAX, GC_MAX),
        ]));
        // Pseudo-random sets: clusters, runs and singletons across byte boundaries.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200 {
            let mut g = GlobSet::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let base = (x >> 16) & if x & 1 == 0 { 0xFFFF } else { GC_MAX };
                g.insert_range(base, base + (x >> 60) * (x >> 58 & 3));
            }
            rt(&g);
        }
    }

    #[test]
    fn spec_commands_decode() {
        // Push 6 bytes: one value (implied pop), then End.
        let (g, n) = GlobSet::decode(&[0x06, 0, 0, 0, 0, 0, 0x2A, 0x00]).unwrap();
        assert_eq!((g.ranges(), n), (&[(0x2A, 0x2A)][..], 8));
        // Push 4 common bytes, Range over the last two, Pop, End.
        let b = [0x04, 0, 0, 0, 1, 0x52, 0x00, 0x10, 0x01, 0x20, 0x50, 0x00];
        assert_eq!(GlobSet::decode(&b).unwrap().0.ranges(), &[(0x1_0010, 0x1_0120)]);
        // Push 5 common bytes, Bitmask start 0x10 mask 0b1000_0101: 0x10, 0x11, 0x13, 0x18.
        let b = [0x05, 0, 0, 0, 0, 0, 0x42, 0x10, 0x85, 0x50, 0x00];
        assert_eq!(
            GlobSet::decode(&b).unwrap().0.ranges(),
            &[(0x10, 0x11), (0x13, 0x13), (0x18, 0x18)]
        );
        // Range with an empty stack: two full GLOBCNTs.
        let b = [0x52, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 9, 0x00];
        assert_eq!(GlobSet::decode(&b).unwrap().0.ranges(), &[(1, 9)]);
        // Push 2, push 3, Bitmask, pop, pop: nested pushes.
        let b = [0x02, 0, 0, 0x03, 0, 0, 1, 0x42, 0xFE, 0x01, 0x50, 0x50, 0x00];
        assert_eq!(GlobSet::decode(&b).unwrap().0.ranges(), &[(0x1FE, 0x1FF)]);
    }

    #[test]
    fn encodings_are_compact() {
        // One range of ids: a push of the common bytes, a Range, a Pop, End.
        let b = GlobSet::from_range(0x1_0001, 0x1_00FF).to_bytes();
        assert_eq!(b, [0x05, 0, 0, 0, 1, 0, 0x52, 0x01, 0xFF, 0x50, 0x00]);
        // A single value: one 6-byte push.
        assert_eq!(GlobSet::from_range(7, 7).to_bytes(), [6, 0, 0, 0, 0, 0, 7, 0]);
        // A cluster: one Bitmask.
        let b = GlobSet::from_sorted_iter([0x20, 0x21, 0x23, 0x28]).to_bytes();
        assert_eq!(b, [0x05, 0, 0, 0, 0, 0, 0x42, 0x20, 0b1000_0101, 0x50, 0x00]);
    }

    /// The Bitmask example of MS-OXCFXICS §3.1.5.4.3.1.3: low-order bytes {0x01-0x03, 0x05,
    /// 0x07-0x09} under five common bytes are StartingValue 0x01, Bitmask 0xEB.
    #[test]
    fn spec_bitmask_example() {
        let g = GlobSet::from_ranges(vec![(0x01, 0x03), (0x05, 0x05), (0x07, 0x09)]);
        let b = g.to_bytes();
        assert_eq!(b, [0x05, 0, 0, 0, 0, 0, 0x42, 0x01, 0xEB, 0x50, 0x00]);
        assert_eq!(GlobSet::decode(&b).unwrap(), (g, b.len()));
        // §3.1.5.4.3.1.1: a Push completing six bytes is a singleton and pops itself, so the
        // next Push starts from the earlier stack.
        let b = [0x04, 0, 0, 0, 0, 0x02, 0, 0x07, 0x02, 0, 0x09, 0x50, 0x00];
        assert_eq!(GlobSet::decode(&b).unwrap().0.ranges(), &[(7, 7), (9, 9)]);
    }

    /// A poor man's fuzzer (cargo-fuzz needs nightly): random command streams biased towards
    /// valid command bytes go through the fuzz entry, which checks round trips.
    #[test]
    fn random_streams_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const BYTES: [u8; 10] = [0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x42, 0x50, 0x52, 0xFF];
        for _ in 0..50_000 {
            let n = (next() % 40) as usize;
            let d: Vec<u8> = (0..n)
                .map(|_| {
                    let r = next();
                    if r & 1 == 0 {
                        BYTES[(r >> 8) as usize % BYTES.len()]
                    } else {
                        (r >> 16) as u8
                    }
                })
                .collect();
            fuzz(&d);
        }
    }

    #[test]
    fn hostile_input_is_an_error() {
        for b in [
            &[][..],
            &[0x01, 0],                                     // no End
            &[0x07, 0, 0, 0, 0, 0, 0, 0, 0x00],             // unknown command
            &[0x04, 1, 2, 3, 4, 0x03, 1, 2, 3, 0x00],       // push past 6 bytes
            &[0x50, 0x00],                                  // pop on empty stack
            &[0x42, 1, 2, 0x00],                            // bitmask without 5 bytes
            &[0x05, 0, 0, 0, 0, 0, 0x42, 0xFF, 0x01, 0x00], // bitmask past 0xFF
            &[0x05, 0, 0, 0, 0, 0, 0x52, 9, 1, 0x00],       // backwards range
            &[0x52, 0, 0, 0],                               // truncated range
            &[0x06, 1, 2, 3],                               // truncated push
        ] {
            assert!(GlobSet::decode(b).is_err(), "{b:02x?}");
        }
        assert!(ReplGuidSet::parse(&[1, 2, 3]).is_err());
        assert!(ReplIdSet::parse(&[1]).is_err());
        assert!(ReplIdSet::parse(&[1, 0, 0x50]).is_err());
    }

    #[test]
    fn idsets() {
        let g1 = Guid([1; 16]);
        let g2 = Guid([2; 16]);
        let mut s = ReplGuidSet::new();
        s.insert_range(g2, 1, 100);
        s.insert(g1, 5);
        let b = s.to_bytes();
        assert_eq!(&b[..16], &g1.0, "ascending GUID order");
        assert_eq!(ReplGuidSet::parse(&b).unwrap(), s);
        let r = s.to_replid(|g| (*g == g2).then_some(1));
        assert_eq!(r.get(&1).ranges(), &[(1, 100)]);
        assert_eq!(r.to_bytes()[..2], [1, 0]);
        assert_eq!(ReplIdSet::parse(&r.to_bytes()).unwrap(), r);
        assert_eq!(r.to_replguid(|x| (x == 1).then_some(g2)).get(&g2).count(), 100);
        // A replica listed twice is merged.
        let mut twice = GlobSet::from_range(1, 2).to_bytes();
        twice.splice(0..0, [3, 0]);
        let mut t2 = GlobSet::from_range(3, 4).to_bytes();
        t2.splice(0..0, [3, 0]);
        twice.extend(t2);
        assert_eq!(ReplIdSet::parse(&twice).unwrap().get(&3).ranges(), &[(1, 4)]);
        assert!(ReplGuidSet::parse(&[]).unwrap().is_empty());
    }
}
