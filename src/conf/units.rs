//! Livy's duration, size and list syntax.
//!
//! Written here rather than taken from a crate because the accepted forms must be exactly Livy's
//! (`ClientConf.getTimeAsMs`: an integer, optional suffix us/ms/s/m/min/h/d, no suffix = ms;
//! Spark's `byteStringAs`: b/k/kb/m/mb/g/gb/t/tb/p/pb, no suffix = bytes). Crates such as
//! humantime accept other spellings ("1 hour", "1h 30m") that Livy would reject, and vice versa.

/// A comma-separated list, items trimmed and blanks dropped (Hadoop's `getTrimmedStrings`,
/// Spark's `Utils.stringToSeq`, Livy's list keys all read lists this way).
pub fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

use std::time::Duration;

/// Parses a Livy duration such as `1h`, `600s`, `10m`, `100ms` or `500` (milliseconds).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let text = raw.trim().to_ascii_lowercase();
    let (digits, suffix) = split_number(&text)
        .ok_or_else(|| "an integer with an optional unit us, ms, s, m, min, h or d".to_string())?;
    let value: u64 = digits
        .parse()
        .map_err(|_| "a non-negative integer that fits in 64 bits".to_string())?;
    let micros_per_unit: u64 = match suffix {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" | "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return Err("a unit of us, ms, s, m, min, h or d".into()),
    };
    value
        .checked_mul(micros_per_unit)
        .map(Duration::from_micros)
        .ok_or_else(|| "a duration that fits in 64 bits of microseconds".into())
}

/// Parses a byte size such as `100m`, `1g`, `512k` or `1048576` (bytes).
pub fn parse_size(raw: &str) -> Result<u64, String> {
    let text = raw.trim().to_ascii_lowercase();
    let (digits, suffix) = split_number(&text)
        .ok_or_else(|| "an integer with an optional unit b, k, m, g, t or p".to_string())?;
    let value: u64 = digits
        .parse()
        .map_err(|_| "a non-negative integer that fits in 64 bits".to_string())?;
    let shift = match suffix {
        "" | "b" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        "t" | "tb" => 40,
        "p" | "pb" => 50,
        _ => return Err("a unit of b, k, m, g, t or p".into()),
    };
    value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| "a size that fits in 64 bits".into())
}

/// Splits `"600s"` into `("600", "s")`; `None` unless it is digits followed by letters.
fn split_number(text: &str) -> Option<(&str, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(end);
    if digits.is_empty() || !suffix.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    Some((digits, suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_livy() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("600s").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("10min").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("250").unwrap(), Duration::from_millis(250));
        assert_eq!(
            parse_duration(" 2D ").unwrap(),
            Duration::from_secs(2 * 86400)
        );
        assert_eq!(parse_duration("7us").unwrap(), Duration::from_micros(7));
        for bad in [
            "",
            "h",
            "1 h",
            "-5s",
            "1.5h",
            "10x",
            "1h30m",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn sizes_follow_spark() {
        assert_eq!(parse_size("100m").unwrap(), 100 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("512KB").unwrap(), 512 << 10);
        assert_eq!(parse_size("1234").unwrap(), 1234);
        for bad in ["", "m", "1.5g", "12q", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
