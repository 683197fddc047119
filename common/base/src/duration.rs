//! Gromox's duration syntax (libHX `HX_strtoull_sec`/`_nsec` semantics).
//!
//! A duration is one or more quanta `<number>[<unit>]`, optionally separated by white space;
//! the quanta are added: `1d1h1m1s`, `3.5 hours`, `1 hour 60 minutes`, `250ms`. A number
//! without a unit counts as seconds. Numbers may carry a fraction. Units, case-insensitive:
//! `ns`, `us`/`µs`, `ms`, `s`/`sec`/`second(s)`, `m`/`min`/`minute(s)`, `h`/`hour(s)`,
//! `d`/`day(s)`, `w`/`week(s)`, `month(s)` (30.4375 days), `y`/`year(s)` (365.25 days).

use std::time::Duration;

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text was empty.
    #[error("empty duration")]
    Empty,
    /// A quantum did not start with a number.
    #[error("expected a number at \"{0}\"")]
    NoNumber(String),
    /// A unit that is not known.
    #[error("unknown duration unit \"{0}\"")]
    UnknownUnit(String),
    /// The sum does not fit.
    #[error("duration too large")]
    Overflow,
}

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("nsec", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("usec", 1_000),
    ("ms", 1_000_000),
    ("msec", 1_000_000),
    ("s", 1_000_000_000),
    ("sec", 1_000_000_000),
    ("secs", 1_000_000_000),
    ("second", 1_000_000_000),
    ("seconds", 1_000_000_000),
    ("m", 60_000_000_000),
    ("min", 60_000_000_000),
    ("mins", 60_000_000_000),
    ("minute", 60_000_000_000),
    ("minutes", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("hour", 3_600_000_000_000),
    ("hours", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("day", 86_400_000_000_000),
    ("days", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
    ("week", 604_800_000_000_000),
    ("weeks", 604_800_000_000_000),
    ("month", 2_629_800_000_000_000),
    ("months", 2_629_800_000_000_000),
    ("y", 31_557_600_000_000_000),
    ("year", 31_557_600_000_000_000),
    ("years", 31_557_600_000_000_000),
];

/// Parse a Gromox duration (see the module documentation).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let num_len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
            .map_or(rest.len(), |(i, _)| i);
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(DurationError::NoNumber(rest.chars().take(16).collect()));
        }
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| !c.is_alphabetic())
            .map_or(rest.len(), |(i, _)| i);
        let unit = rest[..unit_len].to_lowercase();
        rest = &rest[unit_len..];
        let mult = if unit.is_empty() {
            1_000_000_000
        } else {
            UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, m)| *m)
                .ok_or(DurationError::UnknownUnit(unit.clone()))?
        };
        total = total.checked_add(scale(num, mult)?).ok_or(DurationError::Overflow)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    // The remainder is < 1e9 and therefore fits into u32.
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// `num` (digits with an optional fraction) times `mult` nanoseconds, computed exactly.
fn scale(num: &str, mult: u128) -> Result<u128, DurationError> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| DurationError::Overflow)?
    };
    let mut value = int.checked_mul(mult).ok_or(DurationError::Overflow)?;
    let mut div: u128 = 1;
    let mut frac_val: u128 = 0;
    for c in frac.chars().take(18) {
        // Only ASCII digits reach here (see the caller's scan).
        frac_val = frac_val * 10 + u128::from(c.to_digit(10).unwrap_or(0));
        div *= 10;
    }
    value = value
        .checked_add(frac_val.checked_mul(mult).ok_or(DurationError::Overflow)? / div)
        .ok_or(DurationError::Overflow)?;
    Ok(value)
}

/// Format a duration the way `--dump-config` prints it (largest exact units, e.g. `1d1h`).
pub fn format_duration(d: Duration) -> String {
    let mut ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, mult) in [
        ("d", 86_400_000_000_000u128),
        ("h", 3_600_000_000_000),
        ("min", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ] {
        if ns >= mult {
            out.push_str(&format!("{}{}", ns / mult, unit));
            ns %= mult;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> f64 {
        parse_duration(s).unwrap().as_secs_f64()
    }

    #[test]
    fn gromox_examples() {
        assert_eq!(secs("1d1h1m1s"), 90061.0);
        assert_eq!(secs("3.5 hours"), 12600.0);
        assert_eq!(secs("1 hour 60 minutes"), 7200.0);
        assert_eq!(secs("60"), 60.0);
        assert_eq!(secs("1min"), 60.0);
        assert_eq!(secs("2 weeks"), 1_209_600.0);
        assert_eq!(secs("1y"), 31_557_600.0);
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5us").unwrap(), Duration::from_nanos(1500));
        assert_eq!(secs("  10 SECONDS "), 10.0);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_duration("5 fortnights"),
            Err(DurationError::UnknownUnit("fortnights".into()))
        );
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(parse_duration("h"), Err(DurationError::NoNumber(_))));
        assert!(matches!(parse_duration("1.2.3s"), Err(DurationError::NoNumber(_))));
        assert_eq!(
            parse_duration("99999999999999999999999999y"),
            Err(DurationError::Overflow)
        );
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn format_round_trip() {
        for s in ["1d1h1m1s", "250ms", "3.5h", "0s", "7 days"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d, "{s}");
        }
    }
}
