//! FILETIME (MS-DTYP §2.3.3: 100 ns intervals since 1601-01-01 UTC) ⇄ Unix time.

/// Seconds between 1601-01-01 and 1970-01-01.
pub const EPOCH_DIFF_SECS: u64 = 11_644_473_600;

/// Unix seconds → FILETIME (saturating; negative times clamp at 1601).
pub fn unix_to_filetime(secs: i64) -> u64 {
    let s = (secs as i128 + EPOCH_DIFF_SECS as i128).max(0) as u128;
    (s * 10_000_000).min(u64::MAX as u128) as u64
}

/// Unix seconds plus nanoseconds → FILETIME.
pub fn unix_nanos_to_filetime(secs: i64, nanos: u32) -> u64 {
    unix_to_filetime(secs).saturating_add(u64::from(nanos / 100))
}

/// FILETIME → Unix seconds (floor).
pub fn filetime_to_unix(ft: u64) -> i64 {
    (ft / 10_000_000) as i64 - EPOCH_DIFF_SECS as i64
}

/// The current time as FILETIME.
pub fn now_filetime() -> u64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => unix_nanos_to_filetime(d.as_secs() as i64, d.subsec_nanos()),
        Err(_) => unix_to_filetime(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn conversions() {
        assert_eq!(unix_to_filetime(0), 116_444_736_000_000_000);
        assert_eq!(filetime_to_unix(116_444_736_000_000_000), 0);
        // Value from the Gromox reference store (PR_CREATION_TIME): 2026-11-22.
        assert_eq!(filetime_to_unix(134_398_152_520_000_000), 1_795_341_652);
        assert_eq!(unix_to_filetime(-20_000_000_000), 0);
    }
}
