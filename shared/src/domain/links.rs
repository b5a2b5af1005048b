//! An event's share-link settings: where `/r/{code}` sends a visitor, and the time zone whose
//! calendar days the event's click counts and funnel are kept in.

use super::{ReferralCode, ValidationError};
use crate::time::Instant;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The share-link settings of one event. Absent = the defaults: days in UTC, and the
/// service's generic landing page for every code of the event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkSettings {
    /// IANA time zone of the event's days (click counts, funnel), e.g. `Asia/Taipei`.
    /// Absent = UTC.
    #[serde(default, skip_serializing_if = "EventTimeZone::is_utc")]
    #[schema(value_type = Option<String>, example = "Asia/Taipei")]
    pub time_zone: EventTimeZone,
    /// Where the share link sends a visitor: an `https://` URL or an app deep link
    /// (`scheme://…`) with `{code}` where the normalized code goes. Absent = the service's
    /// generic landing page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "https://pay.example.com/join?code={code}")]
    pub landing_url: Option<LandingUrl>,
}

impl LinkSettings {
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }

    /// The calendar day `at` falls on in the event's time zone.
    pub fn day_of(&self, at: Instant) -> Day {
        Day(at.with_timezone(&self.time_zone.0).date_naive())
    }
}

/// An IANA time zone (`chrono_tz`), written as its name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EventTimeZone(chrono_tz::Tz);

impl EventTimeZone {
    pub const UTC: Self = Self(chrono_tz::UTC);

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        raw.trim().parse::<chrono_tz::Tz>().map(Self).map_err(|_| {
            ValidationError::new(
                "links.time_zone",
                "must be an IANA time zone name such as Asia/Taipei or UTC",
            )
        })
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    fn is_utc(&self) -> bool {
        *self == Self::UTC
    }
}

impl Default for EventTimeZone {
    fn default() -> Self {
        Self::UTC
    }
}

impl fmt::Debug for EventTimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventTimeZone({})", self.name())
    }
}

impl Serialize for EventTimeZone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for EventTimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Marks where the normalized code goes in a landing URL.
pub const CODE_PLACEHOLDER: &str = "{code}";

super::newtype::string_newtype!(
    /// An event's landing page or app deep link, with `{code}` exactly once.
    #[derive(Debug)]
    LandingUrl,
    validate = validate_landing_url,
    max_len = 2048,
    schema = super::schema::text(2048, "https:// or an app scheme, with {code} exactly once"),
    impls(as_str)
);

fn validate_landing_url(raw: &str) -> Result<String, ValidationError> {
    const FIELD: &str = "links.landing_url";
    let url = raw.trim();
    let bad = |m: &str| Err(ValidationError::new(FIELD, m.to_owned()));
    if url.is_empty() || url.len() > LandingUrl::MAX_LEN {
        return bad("must be 1 to 2048 characters");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain blanks or control characters");
    }
    if url.matches(CODE_PLACEHOLDER).count() != 1 {
        return bad("must contain {code} exactly once");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("must start with https:// or an app scheme such as myapp://");
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || rest.is_empty() {
        return bad("must start with https:// or an app scheme such as myapp://");
    }
    // Plain http and script-capable schemes are not landing pages for a payment app.
    let scheme = scheme.to_ascii_lowercase();
    if matches!(
        scheme.as_str(),
        "http" | "javascript" | "data" | "file" | "vbscript"
    ) {
        return bad("must not use http, javascript, data, file or vbscript");
    }
    Ok(url.to_owned())
}

impl LandingUrl {
    /// The URL with the normalized code in place of `{code}`. A code is letters and digits
    /// only (`ReferralCode`), so it needs no escaping in any part of a URL.
    pub fn with_code(&self, code: &ReferralCode) -> String {
        self.as_str().replacen(CODE_PLACEHOLDER, code.as_str(), 1)
    }
}

/// A calendar day in an event's time zone (`2026-11-22`): the unit of click and funnel counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Day(NaiveDate);

impl Day {
    pub fn from_date(date: NaiveDate) -> Self {
        Self(date)
    }

    pub fn date(&self) -> NaiveDate {
        self.0
    }

    /// `YYYY-MM-DD`: fixed width, so string order is day order (sort keys).
    pub fn key(&self) -> String {
        self.0.format("%Y-%m-%d").to_string()
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map(Self)
            .map_err(|_| ValidationError::new("day", "must be a date written YYYY-MM-DD"))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_day_is_the_calendar_day_in_the_events_time_zone() {
        let taipei = LinkSettings {
            time_zone: EventTimeZone::parse("Asia/Taipei").unwrap(),
            landing_url: None,
        };
        // 16:00 UTC is midnight in Taipei (UTC+8): the next day there.
        let before = Utc.with_ymd_and_hms(2026, 11, 21, 15, 59, 59).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 16, 0, 0).unwrap();
        assert_eq!(taipei.day_of(before).key(), "2026-11-21");
        assert_eq!(taipei.day_of(at).key(), "2026-11-22");
        assert_eq!(LinkSettings::default().day_of(at).key(), "2026-11-21");
    }

    #[test]
    fn time_zones_are_iana_names_and_utc_is_the_default() {
        assert!(EventTimeZone::parse("Mars/Olympus").is_err());
        assert!(EventTimeZone::parse("").is_err());
        let json = serde_json::to_value(LinkSettings::default()).unwrap();
        assert_eq!(json, serde_json::json!({}));
        let s: LinkSettings = serde_json::from_value(serde_json::json!({
            "time_zone": "Asia/Taipei",
            "landing_url": "jkos://referral?code={code}"
        }))
        .unwrap();
        assert_eq!(s.time_zone.name(), "Asia/Taipei");
        let code = ReferralCode::parse("ab23cd45").unwrap();
        assert_eq!(
            s.landing_url.unwrap().with_code(&code),
            format!("jkos://referral?code={}", code.as_str())
        );
    }

    #[test]
    fn a_landing_url_is_https_or_an_app_scheme_with_the_code_once() {
        for good in [
            "https://pay.example.com/join?code={code}",
            "https://pay.example.com/r/{code}",
            "jkos://referral/{code}",
            "  my-app+x.y://open?c={code}  ",
        ] {
            assert!(LandingUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "https://pay.example.com/join",
            "https://x/{code}/{code}",
            "http://pay.example.com/{code}",
            "javascript://{code}",
            "data://{code}",
            "pay.example.com/{code}",
            "://{code}",
            "1app://{code}",
            "https://pay example.com/{code}",
            "",
        ] {
            let err = LandingUrl::parse(bad).unwrap_err();
            assert_eq!(err.field, "links.landing_url", "{bad}");
        }
    }

    #[test]
    fn days_are_written_and_read_as_fixed_width_dates() {
        let d = Day::parse("2026-01-05").unwrap();
        assert_eq!(d.key(), "2026-01-05");
        assert!(Day::parse("yesterday").is_err());
    }
}
