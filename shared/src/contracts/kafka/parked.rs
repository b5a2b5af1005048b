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

/// Fields of a record's JSON whose whole value is personal data with no digits to mask (a
/// device id): replaced by [`WITHHELD`] in a parked copy.
const WITHHELD_FIELDS: &[&str] = &["device_id"];
const WITHHELD: &str = "<withheld>";

/// A record's key or value as a person may read it: decoded from base64 when it is base64
/// (else as given), invalid UTF-8 replaced, the value of each [`WITHHELD_FIELDS`] field of a
/// JSON object replaced, and every run of 7+ ASCII digits masked with `*`.
pub fn redacted(raw: &str) -> String {
    let bytes = decode_value(Some(raw)).unwrap_or_else(|_| raw.as_bytes().to_vec());
    let text = String::from_utf8_lossy(&bytes);
    let text = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(mut fields))
            if WITHHELD_FIELDS.iter().any(|f| fields.contains_key(*f)) =>
        {
            for field in WITHHELD_FIELDS {
                if let Some(value) = fields.get_mut(*field) {
                    *value = serde_json::Value::String(WITHHELD.to_owned());
                }
            }
            serde_json::Value::Object(fields).to_string().into()
        }
        _ => text,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::kafka::TOPIC_REGISTRATION;

    #[test]
    fn parked_copies_are_decoded_with_every_phone_like_digit_run_masked() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let raw = r#"{"account_id":"acc-1","phone_number":987650777,"alt":"+886912345678","at":"2026-11-01T00:00:00Z"}"#;
        assert_eq!(
            super::redacted(&b64(raw)),
            r#"{"account_id":"acc-1","phone_number":*********,"alt":"+************","at":"2026-11-01T00:00:00Z"}"#
        );
        // Not base64: read as given, masked the same way.
        assert_eq!(super::redacted("call 0912345678!"), "call **********!");
        assert_eq!(super::redacted("123456"), "123456");
    }

    #[test]
    fn a_parked_copy_withholds_the_device_id_whatever_its_shape() {
        for device in [
            r#""ios:6F1C-22AB""#,
            r#""IDFA 9A1B""#,
            "4471",
            r#"{"v":"x"}"#,
        ] {
            let raw = format!(
                r#"{{"type":"DEVICE_BOUND","account_id":"acc-1","device_id":{device},"occurred_at":"bad"}}"#
            );
            let parked = super::redacted(&raw);
            assert!(parked.contains(r#""device_id":"<withheld>""#), "{parked}");
            assert!(
                !parked.contains("6F1C") && !parked.contains("9A1B") && !parked.contains("4471")
            );
            assert!(
                parked.contains(r#""account_id":"acc-1""#),
                "the rest stays readable"
            );
        }
        // Not JSON (the record was unreadable anyway): the digit masking still applies.
        assert_eq!(
            super::redacted("device_id 0912345678"),
            "device_id **********"
        );
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
