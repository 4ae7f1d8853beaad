//! Durations as people write them on the command line and in Flink configuration:
//! `90s`, `5m`, `1h`, `30d`, `250ms`, `5 min`, `30 s`, or plain seconds.

use std::time::Duration;

pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 30s, 5m, 1h)"))?;
    let per_unit: u64 = match unit.trim() {
        "ms" | "milli" | "millis" => 1,
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        other => return Err(format!("`{s}` has unknown unit `{other}` (ms, s, m, h, d)")),
    };
    // Text from Git reaches here: a huge number is an error, never an overflow.
    let ms = n
        .checked_mul(per_unit)
        .ok_or_else(|| format!("`{s}` is too long a duration"))?;
    if ms == 0 {
        return Err("the duration must be greater than zero".into());
    }
    Ok(Duration::from_millis(ms))
}

/// The duration in the largest unit `parse` takes that divides it (`1800s` → `30m`), so
/// what a user wrote comes back as they wrote it.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= per && ms % per == 0 {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::{format, parse};

    #[test]
    fn format_is_the_inverse_of_parse() {
        for s in ["30m", "1h", "90s", "250ms", "2d", "61s"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
        assert_eq!(format(Duration::from_secs(1800)), "30m");
        assert_eq!(format(Duration::ZERO), "0ms");
    }
    use std::time::Duration;

    #[test]
    fn durations_take_common_units() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("5 min"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("7"), Ok(Duration::from_secs(7)));
        assert!(parse("0s").is_err());
        assert_eq!(parse("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert!(parse("5w").unwrap_err().contains("unknown unit"));
        assert!(parse("soon").is_err());
        assert!(parse("18446744073709551615s")
            .unwrap_err()
            .contains("too long"));
        assert_eq!(
            parse("18446744073709551615ms"),
            Ok(Duration::from_millis(u64::MAX))
        );
    }
}
