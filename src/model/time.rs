//! A point in time as flinkops records it: whole seconds, UTC. One type for what was two
//! (RFC 3339 text for people next to Unix seconds for arithmetic): written as RFC 3339
//! text (`2026-11-26T10:00:00Z`), read from that text or from Unix seconds (ledgers
//! written before format 3 kept some times as numbers). Formatting and parsing are
//! jiff's (already linked through k8s-openapi).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch: what records written before a time was kept read as.
    pub const EPOCH: Timestamp = Timestamp(0);

    pub const fn from_unix(secs: u64) -> Timestamp {
        Timestamp(secs)
    }

    pub const fn unix(self) -> u64 {
        self.0
    }

    /// Whole seconds from `earlier` to `self` (0 if `earlier` is later).
    pub const fn seconds_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    pub const fn plus_secs(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs))
    }

    /// Whether the time was recorded (records from before it was kept read as the epoch).
    pub const fn is_known(self) -> bool {
        self.0 != 0
    }

    /// Reads RFC 3339 text (any offset; fractions of a second are dropped). The text is
    /// untrusted (a ledger): an error shows at most `SHOWN` characters of it.
    pub fn parse(text: &str) -> Result<Timestamp, String> {
        const SHOWN: usize = 40;
        let shown = || {
            crate::model::escape::truncate(text, SHOWN)
                .escape_debug()
                .to_string()
        };
        let t: jiff::Timestamp = text
            .trim()
            .parse()
            .map_err(|e| format!("`{}` is not an RFC 3339 time: {e}", shown()))?;
        u64::try_from(t.as_second())
            .map(Timestamp)
            .map_err(|_| format!("`{}` is before 1970", shown()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Beyond jiff's range (year 9999) only from a damaged record: shown as seconds
        // rather than refused, as display never fails.
        match i64::try_from(self.0)
            .ok()
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
        {
            Some(t) => write!(f, "{t}"),
            None => write!(f, "@{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Unix(u64),
        }
        match Written::deserialize(d)? {
            Written::Unix(secs) => Ok(Timestamp(secs)),
            // Upgrade records from before the time was kept wrote nothing useful here.
            Written::Text(t) if t.is_empty() => Ok(Timestamp::EPOCH),
            Written::Text(t) => Timestamp::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_rfc3339_in_utc() {
        assert_eq!(Timestamp::from_unix(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::from_unix(951_782_400).to_string(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix(1_795_398_245).to_string(),
            "2026-11-23T01:44:05Z"
        );
        assert_eq!(
            serde_json::to_string(&Timestamp::from_unix(1_795_398_245)).unwrap(),
            "\"2026-11-23T01:44:05Z\""
        );
    }

    #[test]
    fn read_from_text_any_offset_or_unix_seconds() {
        let t = |json: &str| serde_json::from_str::<Timestamp>(json).map(Timestamp::unix);
        assert_eq!(t("\"2026-11-23T01:44:05Z\"").unwrap(), 1_795_398_245);
        assert_eq!(
            t("\"2026-11-23T02:44:05.750+01:00\"").unwrap(),
            1_795_398_245
        );
        assert_eq!(t("1795398245").unwrap(), 1_795_398_245);
        assert_eq!(t("\"\"").unwrap(), 0);
    }

    #[test]
    fn damaged_times_are_errors_or_shown_not_panics() {
        let t = |json: &str| serde_json::from_str::<Timestamp>(json);
        let e = t("\"yesterday\"").unwrap_err().to_string();
        assert!(e.contains("`yesterday` is not an RFC 3339 time"), "{e}");
        assert!(t("\"1969-12-31T23:59:59Z\"")
            .unwrap_err()
            .to_string()
            .contains("before 1970"));
        assert!(t("-5").is_err());
        let long = t(&format!("\"{}\"", "9".repeat(100_000)))
            .unwrap_err()
            .to_string();
        assert!(long.len() < 300 && long.contains("…"), "{long}");
        assert!(t("true").is_err());
        assert_eq!(
            Timestamp::from_unix(u64::MAX).to_string(),
            format!("@{}", u64::MAX)
        );
    }

    #[test]
    fn round_trips_and_measures() {
        let a = Timestamp::from_unix(1_000);
        let b = a.plus_secs(90);
        assert_eq!(b.seconds_since(a), 90);
        assert_eq!(a.seconds_since(b), 0);
        let back: Timestamp = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
        assert!(!Timestamp::EPOCH.is_known() && a.is_known());
    }
}
