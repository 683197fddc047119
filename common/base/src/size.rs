//! Sizes with Gromox's binary suffixes: `64`, `64K`, `10M`, `1G`, `2T` (also `KB`, `KiB`, …).

/// Why a size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not a number followed by a known suffix.
    #[error("invalid size \"{0}\" (expected e.g. 512, 64K, 10M, 1G)")]
    Invalid(String),
    /// Does not fit 64 bits.
    #[error("size too large")]
    Overflow,
}

/// Parse a size; suffixes are powers of 1024, case-insensitive.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let s = text.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return Err(SizeError::Invalid(s.into()));
    }
    let n: u64 = s[..digits].parse().map_err(|_| SizeError::Overflow)?;
    let shift = match s[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(SizeError::Invalid(s.into())),
    };
    n.checked_mul(1u64 << shift).ok_or(SizeError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("10 M"), Ok(10 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert!(parse_size("").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("5X").is_err());
        assert_eq!(parse_size("99999999999999T"), Err(SizeError::Overflow));
    }
}
