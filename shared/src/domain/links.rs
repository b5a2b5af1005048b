//! An event's share-link settings: the time zone whose calendar days the event's click counts
//! and funnel are kept in, and a landing URL (deprecated: the share link no longer uses it).

use super::{ReferralCode, ValidationError};
use crate::time::Instant;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The share-link settings of one event. Absent = the defaults: days in UTC, no landing URL.
/// Read from a JSON object (or a DynamoDB map) only, with no other field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    /// IANA time zone of the event's days (click counts, funnel), e.g. `Asia/Taipei`.
    /// Absent = UTC.
    #[serde(skip_serializing_if = "EventTimeZone::is_utc")]
    #[schema(schema_with = time_zone_schema, example = "Asia/Taipei")]
    pub time_zone: EventTimeZone,
    /// Deprecated (ADR 0009): stored and returned, no longer used by the share link, which
    /// sends every well-formed code to the deployment's `LANDING_URL_TEMPLATE` so that its
    /// answer does not tell known codes from unknown ones. An `https://` URL or an app deep
    /// link (`scheme://…`) with `{code}` where the normalized code goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = nullable_landing_url_schema, example = "https://pay.example.com/join?code={code}")]
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

/// `null` is absent (UTC), as the schema says and as `landing_url: null` is none.
fn null_is_utc<'de, D: serde::Deserializer<'de>>(d: D) -> Result<EventTimeZone, D::Error> {
    Option::<EventTimeZone>::deserialize(d).map(Option::unwrap_or_default)
}

/// The fields as read: absent or `null` is the default for both.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkFields {
    #[serde(default, deserialize_with = "null_is_utc")]
    time_zone: EventTimeZone,
    #[serde(default)]
    landing_url: Option<LandingUrl>,
}

impl<'de> Deserialize<'de> for LinkSettings {
    /// From a map only: serde's derive would also read a struct from a sequence
    /// (`"links": [null, null]`), which the schema does not allow.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapOnly;
        impl<'de> serde::de::Visitor<'de> for MapOnly {
            type Value = LinkFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<LinkFields, A::Error> {
                LinkFields::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        let fields = d.deserialize_map(MapOnly)?;
        Ok(Self {
            time_zone: fields.time_zone,
            landing_url: fields.landing_url,
        })
    }
}

/// An IANA time zone (`chrono_tz`), written as its name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EventTimeZone(chrono_tz::Tz);

impl EventTimeZone {
    pub const UTC: Self = Self(chrono_tz::UTC);

    /// Exactly a name of the IANA database as chrono-tz spells it (the schema's enum).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        raw.parse::<chrono_tz::Tz>()
            .ok()
            .filter(|tz| tz.name() == raw)
            .map(Self)
            .ok_or_else(|| {
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

/// The schema of a time zone: the enum of the names `parse` accepts.
/// null is absent (UTC), like `landing_url: null`.
fn time_zone_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let names = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| serde_json::Value::from(tz.name()));
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(names.chain([serde_json::Value::Null])))
        .description(Some("an IANA time zone name; absent or null = UTC"))
        .into()
}

/// The landing URL field: [`landing_url_schema`], or null (absent).
fn nullable_landing_url_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    match landing_url_schema() {
        RefOr::T(Schema::Object(mut object)) => {
            object.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
            object.deprecated = Some(utoipa::openapi::Deprecated::True);
            object.description = Some(format!(
                "Deprecated: stored and returned, not used by the share link (every code goes to the deployment's LANDING_URL_TEMPLATE, ADR 0009). {}",
                object.description.unwrap_or_default()
            ));
            RefOr::T(Schema::Object(object))
        }
        other => other,
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
    schema = landing_url_schema(),
    impls(as_str)
);

/// The schema of a landing URL: exactly what [`validate_landing_url`] accepts.
fn landing_url_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .max_length(Some(LandingUrl::MAX_LEN))
        .pattern(Some(super::schema::trimmed!(
            r"(?![hH][tT][tT][pP]://|[jJ][aA][vV][aA][sS][cC][rR][iI][pP][tT]://|[dD][aA][tT][aA]://|[fF][iI][lL][eE]://|[vV][bB][sS][cC][rR][iI][pP][tT]://)[A-Za-z][A-Za-z0-9+.-]*://[!-z|~]*\{code\}[!-z|~]*"
        )))
        .description(Some(
            "https:// or an app scheme (not http, javascript, data, file or vbscript), printable ASCII without blanks, with {code} exactly once and no other brace; at most 2048 characters, surrounding blanks included (they are trimmed)",
        ))
        .into()
}

fn validate_landing_url(raw: &str) -> Result<String, ValidationError> {
    const FIELD: &str = "links.landing_url";
    let url = raw.trim();
    let bad = |m: &str| Err(ValidationError::new(FIELD, m.to_owned()));
    if url.is_empty() || raw.chars().count() > LandingUrl::MAX_LEN {
        return bad("must be 1 to 2048 characters");
    }
    if !url.chars().all(|c| c.is_ascii_graphic()) {
        return bad("must be printable ASCII without blanks (percent-encode the rest)");
    }
    let (before, after) = url.split_once(CODE_PLACEHOLDER).unwrap_or((url, ""));
    if !url.contains(CODE_PLACEHOLDER) || before.contains(['{', '}']) || after.contains(['{', '}'])
    {
        return bad("must contain {code} exactly once and no other brace");
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

    /// The first and last days a stored count can fall on (0001-01-01, 9999-12-31): an
    /// open-ended range.
    pub const FIRST: Day = Day(NaiveDate::from_ymd_opt(1, 1, 1).expect("a valid date"));
    pub const LAST: Day = Day(NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date"));

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
        // Exactly as the schema's enum spells it: no other case, no blanks.
        assert!(EventTimeZone::parse("asia/taipei").is_err());
        assert!(EventTimeZone::parse(" UTC").is_err());
        assert!(EventTimeZone::parse("Asia/Taipei").is_ok());
        let json = serde_json::to_value(LinkSettings::default()).unwrap();
        assert_eq!(json, serde_json::json!({}));
        let s: LinkSettings = serde_json::from_value(serde_json::json!({
            "time_zone": "Asia/Taipei",
            "landing_url": "jkos://referral?code={code}"
        }))
        .unwrap();
        assert_eq!(s.time_zone.name(), "Asia/Taipei");
        // null is absent, for both settings (the schema says both are nullable).
        let nulls: LinkSettings =
            serde_json::from_value(serde_json::json!({"time_zone": null, "landing_url": null}))
                .unwrap();
        assert_eq!(nulls, LinkSettings::default());
        // An object only, and only these fields.
        for bad in [
            serde_json::json!([null, null]),
            serde_json::json!([]),
            serde_json::json!({"time_zone": "UTC", "other": 1}),
        ] {
            assert!(
                serde_json::from_value::<LinkSettings>(bad.clone()).is_err(),
                "{bad}"
            );
        }
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
            "https://pay.example.com/{code}}",
            "https://pay.example.com/{x}{code}",
            "https://pay.example.com/caf\u{e9}/{code}",
            "JavaScript://{code}",
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
