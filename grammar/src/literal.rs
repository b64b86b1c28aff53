//! The value rules of literals, shared by the parser and by the runtime's
//! viable-prefix checker (which lexes literals as they are typed): the
//! range of durations and timestamps, and which string escapes exist.

use crate::ast::TimeUnit;

/// Durations and timestamps must be shorter than this many milliseconds
/// (about 30,000 years).
pub const MAX_MILLIS: u64 = 1_000_000_000_000_000;

/// The escapes a string may hold, as the error help names them.
pub const ESCAPES: &str = r#"\n, \t, \r, \\, \" and \u{XXXX}"#;

/// The unit a duration's suffix names (`ms`, `s`, `m`, `h`).
pub fn time_unit(suffix: &str) -> Option<TimeUnit> {
    match suffix {
        "ms" => Some(TimeUnit::Millis),
        "s" => Some(TimeUnit::Seconds),
        "m" => Some(TimeUnit::Minutes),
        "h" => Some(TimeUnit::Hours),
        _ => None,
    }
}

/// `value` units in milliseconds, rounded, if within [`MAX_MILLIS`].
pub fn duration_millis(value: f64, unit: TimeUnit) -> Option<u64> {
    let millis = (value * unit.millis() as f64).round();
    (millis.is_finite() && millis <= MAX_MILLIS as f64).then_some(millis as u64)
}

/// A duration as a command-line flag takes it: a duration literal of the
/// language (`90s`, `1.5m`, `500ms`, `2h`) or a bare number of seconds
/// (`90`); it must be positive.
pub fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("`{s}` is not a duration; write e.g. 90s, 10m, 1h"))?;
    let unit = if suffix.is_empty() {
        TimeUnit::Seconds
    } else {
        time_unit(suffix).ok_or(format!("unknown unit `{suffix}`; use ms, s, m or h"))?
    };
    match duration_millis(value, unit) {
        Some(ms) if value > 0.0 && ms > 0 => Ok(std::time::Duration::from_millis(ms)),
        Some(_) => Err("the duration must be positive".into()),
        None => Err(format!("`{s}` is too long a duration")),
    }
}

/// The milliseconds of timestamp `h:m:s.frac_ms`, if below [`MAX_MILLIS`].
/// Field ranges (minutes and seconds below 60) are the caller's.
pub fn timestamp_millis(h: u64, m: u64, s: u64, frac_ms: u64) -> Option<u64> {
    h.checked_mul(3_600_000)
        .and_then(|v| v.checked_add(m.checked_mul(60_000)?))
        .and_then(|v| v.checked_add(s.checked_mul(1000)?.checked_add(frac_ms)?))
        .filter(|v| *v < MAX_MILLIS)
}

/// The character a one-letter escape (`\n`, `\t`, `\r`, `\\`, `\"`) stands for.
pub fn simple_escape(c: char) -> Option<char> {
    match c {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        '\\' => Some('\\'),
        '"' => Some('"'),
        _ => None,
    }
}

/// The character of a `\u{...}` escape's code point, or why there is none.
pub fn unicode_scalar(code: u32) -> Result<char, &'static str> {
    char::from_u32(code).ok_or(if (0xD800..=0xDFFF).contains(&code) {
        "is a surrogate, not a character"
    } else {
        "is past the last code point, 10FFFF"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_flags() {
        use std::time::Duration;
        assert_eq!(parse_duration_arg("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration_arg("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration_arg(" 250ms "), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration_arg("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["-3s", "3 weeks", "0s", "0.1ms", "1e13h", "s", "NaNs"] {
            assert!(parse_duration_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_and_escapes() {
        assert_eq!(duration_millis(1.5, TimeUnit::Seconds), Some(1500));
        assert_eq!(duration_millis(1e13, TimeUnit::Hours), None);
        assert_eq!(timestamp_millis(1, 2, 3, 4), Some(3_723_004));
        assert_eq!(timestamp_millis(u64::MAX, 0, 0, 0), None);
        assert_eq!(simple_escape('n'), Some('\n'));
        assert_eq!(simple_escape('q'), None);
        assert!(unicode_scalar(0xD800).is_err());
        assert_eq!(unicode_scalar(0x41), Ok('A'));
    }
}
