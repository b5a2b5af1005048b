//! Time windows: the half-open intervals every window of an event is valid within.

use super::ValidationError;
use crate::time::{self, Instant};
use serde::{Deserialize, Serialize};

/// A half-open interval `[start, end)`: start inclusive, end exclusive, as in the seed's SQL
/// (`start_time <= ?now AND end_time > ?now`). Construction guarantees `start < end`.
/// `[start, end)`: start inclusive, end exclusive; start must be before end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "RawWindow")]
pub struct TimeWindow {
    #[serde(with = "time::millis")]
    #[schema(schema_with = super::schema::instant)]
    start: Instant,
    #[serde(with = "time::millis")]
    #[schema(schema_with = super::schema::instant)]
    end: Instant,
}

#[derive(Deserialize)]
struct RawWindow {
    #[serde(with = "time::millis")]
    start: Instant,
    #[serde(with = "time::millis")]
    end: Instant,
}

impl TryFrom<RawWindow> for TimeWindow {
    type Error = ValidationError;
    fn try_from(raw: RawWindow) -> Result<Self, Self::Error> {
        TimeWindow::new(raw.start, raw.end)
    }
}

impl TimeWindow {
    pub fn new(start: Instant, end: Instant) -> Result<Self, ValidationError> {
        // Stored with millisecond precision, so compare at that precision too.
        let (start, end) = (truncate_millis(start), truncate_millis(end));
        if start >= end {
            return Err(ValidationError::new("window", "start must be before end"));
        }
        Ok(Self { start, end })
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    pub fn end(&self) -> Instant {
        self.end
    }

    pub fn contains(&self, at: Instant) -> bool {
        self.start <= at && at < self.end
    }

    pub fn overlaps(&self, other: &TimeWindow) -> bool {
        self.start < other.end && other.start < self.end
    }
}

pub(super) fn truncate_millis(t: Instant) -> Instant {
    use chrono::Timelike;
    let nanos = t.nanosecond() / 1_000_000 * 1_000_000;
    t.with_nanosecond(nanos).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t(h: u32) -> Instant {
        Utc.with_ymd_and_hms(2026, 11, 21, h, 0, 0).unwrap()
    }

    #[test]
    fn window_is_half_open() {
        let w = TimeWindow::new(t(8), t(10)).unwrap();
        assert!(!w.contains(t(8) - chrono::Duration::milliseconds(1)));
        assert!(w.contains(t(8)));
        assert!(w.contains(t(10) - chrono::Duration::milliseconds(1)));
        assert!(!w.contains(t(10)));
        assert!(TimeWindow::new(t(10), t(10)).is_err());
        assert!(TimeWindow::new(t(11), t(10)).is_err());
    }

    #[test]
    fn window_json_is_validated() {
        let ok: TimeWindow = serde_json::from_str(
            r#"{"start":"2026-11-21T08:00:00Z","end":"2026-11-21T10:00:00+00:00"}"#,
        )
        .unwrap();
        assert_eq!(ok.end(), t(10));
        let bad = serde_json::from_str::<TimeWindow>(
            r#"{"start":"2026-11-21T10:00:00Z","end":"2026-11-21T08:00:00Z"}"#,
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("start must be before end")
        );
    }
}
