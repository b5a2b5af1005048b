//! One textual form for every stored instant: RFC 3339, UTC, exactly three fractional
//! digits (`2026-11-21T08:00:00.000Z`). Fixed width makes the strings sort like the instants,
//! which the sort keys of the single table rely on ("the window active at T").

use chrono::{DateTime, SecondsFormat, Utc};

pub type Instant = DateTime<Utc>;

/// The sortable text form of an instant (millisecond precision; finer digits are dropped).
pub fn format(t: &Instant) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `t` as stored: finer digits than the millisecond dropped, so it equals its own round trip
/// through [`format`] and [`parse`].
pub fn truncate_millis(t: Instant) -> Instant {
    use chrono::{DurationRound, TimeDelta};
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

/// Parses any RFC 3339 instant (any offset) into UTC. The error states the rule in the
/// domain's `field: rule` form and never repeats the text (it may be anything from outside).
pub fn parse(text: &str) -> Result<Instant, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("time: must be an RFC 3339 instant ({e})"))
}

/// Serde adapter: `#[serde(with = "crate::time::millis")]`. Reads any RFC 3339 instant.
pub mod millis {
    use super::Instant;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Instant, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Instant, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Same as [`millis`] for optional instants.
pub mod millis_opt {
    use super::Instant;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<Instant>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Instant>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|text| super::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn format_is_fixed_width_and_sorts_like_time() {
        let a = Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, 0).unwrap();
        let b = a + chrono::Duration::milliseconds(5);
        assert_eq!(format(&a), "2026-11-21T08:00:00.000Z");
        assert_eq!(format(&b), "2026-11-21T08:00:00.005Z");
        assert!(format(&a) < format(&b));
    }
}
