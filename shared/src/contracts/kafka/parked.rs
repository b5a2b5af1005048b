//! Records no consumer can apply, kept (decoded, masked) where a person can list and replay them.

use super::{ReasonKind, RecordCoordinates, RecordError, decode_value};
use crate::time::Instant;
use serde::Deserialize;
use std::fmt;

/// A record that could not be applied, kept where an admin can list it and replay it.
/// `key`/`value` are the raw base64 strings as delivered, kept only when they are base64 (a
/// value may hold a phone number, so `Debug` leaves it out; never log it). `reason` is typed
/// and holds no value from the record.
#[derive(Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct ParkedRecord {
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    /// The record's key and value [`redacted`]: decoded, phone-like digit runs masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// True when `value` was cut at [`ParkedRecord::MAX_VALUE`] characters.
    #[serde(default)]
    pub value_truncated: bool,
    /// `reason`'s [`RecordError::kind`], flat for listings.
    pub reason_kind: ReasonKind,
    pub reason: RecordError,
    #[serde(with = "crate::time::millis")]
    pub parked_at: Instant,
    /// TTL (epoch seconds): parked records are kept [`ParkedRecord::RETENTION_DAYS`] days.
    pub expires_at: i64,
}

impl ParkedRecord {
    pub const MAX_VALUE: usize = 64 * 1024;
    pub const RETENTION_DAYS: i64 = 90;

    pub fn new(
        at: &RecordCoordinates,
        key: Option<&str>,
        value: Option<&str>,
        reason: RecordError,
        now: Instant,
    ) -> Self {
        // What support needs to see, never personal data: the record decoded from base64 (when
        // it is), with every run of 7 or more digits masked — phone numbers in any field, in
        // any form (string, number, with or without the leading 0) — then cut to a bounded size.
        // The record itself stays in Kafka at its coordinates, which is where a replay reads it.
        let key = key.map(redacted);
        let (value, value_truncated) = match value.map(redacted) {
            Some(v) if v.len() > Self::MAX_VALUE => {
                let mut end = Self::MAX_VALUE;
                while !v.is_char_boundary(end) {
                    end -= 1;
                }
                (Some(v[..end].to_owned()), true)
            }
            other => (other, false),
        };
        Self {
            topic: at.topic.clone(),
            partition: at.partition,
            offset: at.offset,
            key,
            value,
            value_truncated,
            reason_kind: reason.kind(),
            reason,
            parked_at: now,
            expires_at: (now + chrono::Duration::days(Self::RETENTION_DAYS)).timestamp(),
        }
    }

    pub fn coordinates(&self) -> RecordCoordinates {
        RecordCoordinates {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
        }
    }
}

impl fmt::Debug for ParkedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParkedRecord")
            .field("at", &self.coordinates().to_string())
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// Fields of a record whose whole value is personal data: replaced by [`WITHHELD`] in a parked
/// copy, whatever the value's form (a phone with separators, a device id without digits).
const WITHHELD_FIELDS: &[&str] = &["device_id", "phone_number"];
const WITHHELD: &str = "<withheld>";

/// A record's key or value as a person may read it: decoded from base64 when it is base64
/// (else as given), invalid UTF-8 replaced, the value of each [`WITHHELD_FIELDS`] field
/// replaced (in a JSON object, or found by its quoted name in text that is not valid JSON), and
/// every run of 7+ ASCII digits masked with `*`.
pub fn redacted(raw: &str) -> String {
    let bytes = decode_value(Some(raw)).unwrap_or_else(|_| raw.as_bytes().to_vec());
    let text = String::from_utf8_lossy(&bytes);
    let text: String = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(mut fields)) => {
            for field in WITHHELD_FIELDS {
                if let Some(value) = fields.get_mut(*field) {
                    *value = serde_json::Value::String(WITHHELD.to_owned());
                }
            }
            serde_json::Value::Object(fields).to_string()
        }
        Ok(_) => text.into_owned(),
        Err(_) => WITHHELD_FIELDS
            .iter()
            .fold(text.into_owned(), |t, field| withhold_in_text(&t, field)),
    };
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 7 {
            out.extend(std::iter::repeat_n('*', digits.len()));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// In text that is not valid JSON (cut off, a stray comma): the value after each `"field"` and
/// its colon — a quoted string up to its closing quote (or the end), or anything else up to
/// the next `,` or `}` — becomes `"<withheld>"`.
fn withhold_in_text(text: &str, field: &str) -> String {
    let name = format!("\"{field}\"");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&name) {
        let after_name = at + name.len();
        out.push_str(&rest[..after_name]);
        rest = &rest[after_name..];
        let trimmed = rest.trim_start();
        let Some(value) = trimmed.strip_prefix(':') else {
            continue; // the name, not a key
        };
        out.push_str(&rest[..rest.len() - trimmed.len()]);
        out.push(':');
        let value = value.trim_start();
        let end = if let Some(quoted) = value.strip_prefix('"') {
            let mut escaped = false;
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let closes = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    closes
                })
                .map_or(value.len(), |(i, _)| i + 2)
        } else {
            value.find([',', '}']).unwrap_or(value.len())
        };
        out.push('"');
        out.push_str(WITHHELD);
        out.push('"');
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::kafka::TOPIC_REGISTRATION;

    #[test]
    fn parked_copies_are_decoded_with_every_phone_like_digit_run_masked() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let raw = r#"{"account_id":"acc-1","phone_number":987650777,"alt":"+886912345678","at":"2026-11-01T00:00:00Z"}"#;
        let parked = super::redacted(&b64(raw));
        assert!(
            parked.contains(r#""phone_number":"<withheld>""#),
            "{parked}"
        );
        assert!(parked.contains(r#""alt":"+************""#), "{parked}");
        assert!(parked.contains(r#""account_id":"acc-1""#) && !parked.contains("987650777"));
        // Not base64: read as given, masked the same way.
        assert_eq!(super::redacted("call 0912345678!"), "call **********!");
        assert_eq!(super::redacted("123456"), "123456");
    }

    #[test]
    fn a_parked_copy_withholds_the_device_id_and_the_phone_whatever_their_shape() {
        let values = [
            r#""ios:6F1C-22AB""#,
            r#""0912-345-678""#,
            r#""(02) 2345 6789""#,
            "4471",
            r#"{"v":"x"}"#,
        ];
        for value in values {
            for field in ["device_id", "phone_number"] {
                let raw = format!(
                    r#"{{"type":"DEVICE_BOUND","account_id":"acc-1","{field}":{value},"occurred_at":"bad"}}"#
                );
                // Valid JSON, and the same record cut off (not JSON any more).
                for text in [raw.clone(), raw[..raw.len() - 10].to_owned()] {
                    let parked = super::redacted(&text);
                    assert!(
                        parked.contains(&format!(r#""{field}":"<withheld>""#)),
                        "{parked}"
                    );
                    for secret in ["6F1C", "345-678", "2345 6789", "4471", r#""v""#] {
                        assert!(!parked.contains(secret), "{parked}");
                    }
                    assert!(
                        parked.contains(r#""account_id":"acc-1""#),
                        "the rest stays readable"
                    );
                }
            }
        }
        // An escaped quote inside the value does not end it early.
        let cut = r#"{"device_id":"a\"b 6F1C","x":1"#;
        let parked = super::redacted(cut);
        assert!(
            !parked.contains("6F1C") && parked.contains(r#""x":1"#),
            "{parked}"
        );
        // A field name that is not a key (no colon) is left alone.
        assert_eq!(super::redacted(r#"["device_id", 1"#), r#"["device_id", 1"#);
    }

    #[test]
    fn a_parked_value_is_decoded_masked_cut_at_the_limit_and_kept_90_days() {
        let at = RecordCoordinates {
            topic: TOPIC_REGISTRATION.into(),
            partition: 1,
            offset: 9,
        };
        let now = crate::time::parse("2026-11-21T00:00:00Z").unwrap();
        let long = "x!".repeat(ParkedRecord::MAX_VALUE);
        let parked = ParkedRecord::new(&at, None, Some(&long), RecordError::BadBase64, now);
        let value = parked.value.as_deref().unwrap();
        assert!(parked.value_truncated);
        assert_eq!(value.len(), ParkedRecord::MAX_VALUE);
        assert_eq!(
            parked.expires_at,
            (now + chrono::Duration::days(90)).timestamp()
        );
        let short = ParkedRecord::new(
            &at,
            Some("aw=="),
            Some("QUJD"),
            RecordError::UnknownType,
            now,
        );
        assert_eq!(
            (
                short.key.as_deref(),
                short.value.as_deref(),
                short.value_truncated
            ),
            (Some("k"), Some("ABC"), false)
        );
        assert_eq!(short.coordinates(), at);
        assert_eq!(short.reason_kind, "unknown_type");
        // Text that is not base64 is kept as given, with phone-like digits masked.
        let raw = ParkedRecord::new(
            &at,
            Some("0987650777"),
            Some("0987650777!"),
            RecordError::BadBase64,
            now,
        );
        assert_eq!(
            (raw.key.as_deref(), raw.value.as_deref()),
            (Some("**********"), Some("**********!"))
        );
    }
}
