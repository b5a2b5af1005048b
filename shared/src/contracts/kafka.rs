//! The account module's Kafka records, as MSK hands them to Lambda: key = the member's
//! `account_id`, value = UTF-8 JSON, base64-encoded in the Lambda event.
//!
//! Parsing never panics and never guesses: a record is either a valid domain event or a
//! [`RecordError`] that says what is wrong, for the consumer to log (with the record's
//! coordinates), count and park.

use crate::decode::DecodeError;
use crate::domain::{AccountId, JkosAccount, JkosId, PhoneNumber, ReferralCode, ValidationError};
use crate::time::Instant;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

pub const TOPIC_MEMBER_INFO: &str = "rd2_member_info";
pub const TOPIC_REGISTRATION: &str = "rd2_registration_member";

/// Where a record sits: enough to find it again in Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordCoordinates {
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
}

impl fmt::Display for RecordCoordinates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}@{}", self.topic, self.partition, self.offset)
    }
}

/// Why a record cannot be applied: the typed reason logged, counted (by [`RecordError::kind`])
/// and kept on the parked record. It names a kind and a field or position, never a value from
/// the record (serde's messages quote values, and a value may be a phone number). Never
/// retryable: the same bytes, or the same stored state, fail the same way.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordError {
    #[error("value is not valid base64")]
    BadBase64,
    #[error("record has no value")]
    MissingValue,
    /// Not JSON of the topic's shape: syntax, a missing field, a wrong type, or a field that
    /// fails its domain rule inside the JSON.
    #[error("value is not valid JSON for this topic: {error}")]
    BadJson { error: DecodeError },
    /// The registration event's `type` is none of ours.
    #[error("unknown event type (field type)")]
    UnknownType,
    /// A field that fails a rule between fields (e.g. `referral_code` on a code use).
    #[error("invalid field {field}: {rule}")]
    InvalidField { field: String, rule: String },
    /// A record of a topic this function does not consume.
    #[error("this function consumes {expected}")]
    UnexpectedTopic { expected: String },
    /// The record's member (or the code it uses) is stored in a shape the domain refuses.
    #[error("stored item {key} does not map onto the domain")]
    CorruptState { key: String },
    /// DynamoDB refuses the member's write for a reason retrying does not change.
    #[error("DynamoDB rejected {operation}")]
    RejectedWrite { operation: String },
}

impl RecordError {
    /// A short, stable label for metrics, log lines and listings.
    pub fn kind(&self) -> ReasonKind {
        match self {
            RecordError::BadBase64 => ReasonKind::BadBase64,
            RecordError::MissingValue => ReasonKind::MissingValue,
            RecordError::BadJson { .. } => ReasonKind::BadJson,
            RecordError::UnknownType => ReasonKind::UnknownType,
            RecordError::InvalidField { .. } => ReasonKind::InvalidField,
            RecordError::UnexpectedTopic { .. } => ReasonKind::UnexpectedTopic,
            RecordError::CorruptState { .. } => ReasonKind::CorruptState,
            RecordError::RejectedWrite { .. } => ReasonKind::RejectedWrite,
        }
    }
}

/// [`RecordError`]'s variant without its details: what parked records are listed and counted
/// by. Stored as its snake_case name (the `kind` tag of the stored reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    BadBase64,
    MissingValue,
    BadJson,
    UnknownType,
    InvalidField,
    UnexpectedTopic,
    CorruptState,
    RejectedWrite,
}

impl ReasonKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonKind::BadBase64 => "bad_base64",
            ReasonKind::MissingValue => "missing_value",
            ReasonKind::BadJson => "bad_json",
            ReasonKind::UnknownType => "unknown_type",
            ReasonKind::InvalidField => "invalid_field",
            ReasonKind::UnexpectedTopic => "unexpected_topic",
            ReasonKind::CorruptState => "corrupt_state",
            ReasonKind::RejectedWrite => "rejected_write",
        }
    }
}

impl fmt::Display for ReasonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the stored label, as listings and tests name it.
impl PartialEq<&str> for ReasonKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<ValidationError> for RecordError {
    fn from(e: ValidationError) -> Self {
        RecordError::InvalidField {
            field: e.field.to_owned(),
            rule: e.message,
        }
    }
}

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

/// A record's key or value as a person may read it: decoded from base64 when it is base64
/// (else as given), invalid UTF-8 replaced, every run of 7+ ASCII digits masked with `*`.
pub fn redacted(raw: &str) -> String {
    let bytes = decode_value(Some(raw)).unwrap_or_else(|_| raw.as_bytes().to_vec());
    let text = String::from_utf8_lossy(&bytes);
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

/// Decodes a record value as MSK delivers it (standard base64).
pub fn decode_value(value: Option<&str>) -> Result<Vec<u8>, RecordError> {
    let value = value.ok_or(RecordError::MissingValue)?;
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| RecordError::BadBase64)
}

/// `rd2_member_info`: a new member.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MemberInfo {
    pub account_id: AccountId,
    pub jkos_id: JkosId,
    pub jkos_account: JkosAccount,
    pub phone_number: PhoneNumber,
    #[serde(with = "crate::time::millis")]
    pub created_at: Instant,
}

impl MemberInfo {
    pub fn parse(json: &[u8]) -> Result<Self, RecordError> {
        parse_json(json)
    }
}

/// Who a registration event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub account_id: AccountId,
    pub jkos_id: JkosId,
    pub phone_number: Option<PhoneNumber>,
}

/// `rd2_registration_member`: one step of a member's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEvent {
    ReferralCodeUsed {
        member: MemberRef,
        code: ReferralCode,
        occurred_at: Instant,
    },
    DeviceBound {
        member: MemberRef,
        occurred_at: Instant,
    },
    KycPassed {
        member: MemberRef,
        occurred_at: Instant,
    },
}

#[derive(Deserialize)]
struct RawRegistration {
    #[serde(rename = "type")]
    event_type: String,
    account_id: AccountId,
    jkos_id: JkosId,
    #[serde(default)]
    phone_number: Option<PhoneNumber>,
    #[serde(default)]
    referral_code: Option<String>,
    #[serde(with = "crate::time::millis")]
    occurred_at: Instant,
}

impl RegistrationEvent {
    pub fn parse(json: &[u8]) -> Result<Self, RecordError> {
        let raw: RawRegistration = parse_json(json)?;
        let member = MemberRef {
            account_id: raw.account_id,
            jkos_id: raw.jkos_id,
            phone_number: raw.phone_number,
        };
        let occurred_at = raw.occurred_at;
        match raw.event_type.as_str() {
            "REFERRAL_CODE_USED" => {
                let code = raw.referral_code.ok_or_else(|| {
                    ValidationError::new("referral_code", "is required for REFERRAL_CODE_USED")
                })?;
                let code = ReferralCode::parse(code).map_err(|e| RecordError::InvalidField {
                    field: "referral_code".to_owned(),
                    rule: e.message,
                })?;
                Ok(Self::ReferralCodeUsed {
                    member,
                    code,
                    occurred_at,
                })
            }
            // The code may ride along on these (the seed says so); it carries no meaning here.
            "DEVICE_BOUND" => Ok(Self::DeviceBound {
                member,
                occurred_at,
            }),
            "KYC_PASSED" => Ok(Self::KycPassed {
                member,
                occurred_at,
            }),
            // The unknown name stays out of the error: it is a value from outside.
            _ => Err(RecordError::UnknownType),
        }
    }

    pub fn member(&self) -> &MemberRef {
        match self {
            Self::ReferralCodeUsed { member, .. }
            | Self::DeviceBound { member, .. }
            | Self::KycPassed { member, .. } => member,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ReferralCodeUsed { .. } => "REFERRAL_CODE_USED",
            Self::DeviceBound { .. } => "DEVICE_BOUND",
            Self::KycPassed { .. } => "KYC_PASSED",
        }
    }
}

/// JSON into `T`; an error is reduced to a kind and a field path (a field that fails domain
/// validation keeps the domain's rule, never the value).
fn parse_json<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, RecordError> {
    crate::decode::json_from_slice(json).map_err(|error| RecordError::BadJson { error })
}

#[cfg(test)]
mod tests {
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

    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn decodes_a_code_used_event_and_normalizes_the_code() {
        let json = r#"{"type":"REFERRAL_CODE_USED","account_id":"acc-1","jkos_id":"jk-1",
            "phone_number":"0912345678","referral_code":"ab-cd23","occurred_at":"2026-11-21T08:00:00Z","extra":1}"#;
        let bytes = decode_value(Some(&b64(json))).unwrap();
        let event = RegistrationEvent::parse(&bytes).unwrap();
        match &event {
            RegistrationEvent::ReferralCodeUsed { member, code, .. } => {
                assert_eq!(member.account_id.as_str(), "acc-1");
                assert_eq!(code.as_str(), "ABCD23");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(event.type_name(), "REFERRAL_CODE_USED");
    }

    #[test]
    fn kyc_and_device_events_may_omit_code_and_phone() {
        let kyc = r#"{"type":"KYC_PASSED","account_id":"a","jkos_id":"j","occurred_at":"2026-11-21T08:00:00Z"}"#;
        assert!(matches!(
            RegistrationEvent::parse(kyc.as_bytes()),
            Ok(RegistrationEvent::KycPassed { .. })
        ));
        let dev = r#"{"type":"DEVICE_BOUND","account_id":"a","jkos_id":"j","referral_code":"ABCD23","occurred_at":"2026-11-21T08:00:00Z"}"#;
        assert!(matches!(
            RegistrationEvent::parse(dev.as_bytes()),
            Ok(RegistrationEvent::DeviceBound { .. })
        ));
    }

    #[test]
    fn each_kind_of_bad_record_is_named() {
        assert_eq!(decode_value(None), Err(RecordError::MissingValue));
        assert_eq!(
            decode_value(Some("%%%not base64")),
            Err(RecordError::BadBase64)
        );
        let cases = [
            ("{not json", "bad_json"),
            (
                r#"{"type":"KYC_PASSED","jkos_id":"j","occurred_at":"2026-11-21T08:00:00Z"}"#,
                "bad_json",
            ), // missing account_id
            (
                r#"{"type":"KYC_PASSED","account_id":7,"jkos_id":"j","occurred_at":"2026-11-21T08:00:00Z"}"#,
                "bad_json",
            ), // wrong type
            (
                r#"{"type":"KYC_PASSED","account_id":"a","jkos_id":"j","occurred_at":"yesterday"}"#,
                "bad_json",
            ),
            (
                r#"{"type":"LOGGED_IN","account_id":"a","jkos_id":"j","occurred_at":"2026-11-21T08:00:00Z"}"#,
                "unknown_type",
            ),
            (
                r#"{"type":"REFERRAL_CODE_USED","account_id":"a","jkos_id":"j","occurred_at":"2026-11-21T08:00:00Z"}"#,
                "invalid_field",
            ),
            (
                r#"{"type":"REFERRAL_CODE_USED","account_id":"a","jkos_id":"j","referral_code":"0O0O","occurred_at":"2026-11-21T08:00:00Z"}"#,
                "invalid_field",
            ),
        ];
        for (json, kind) in cases {
            let err = RegistrationEvent::parse(json.as_bytes()).unwrap_err();
            assert_eq!(err.kind(), kind, "{json}: {err}");
        }
        let missing = RegistrationEvent::parse(
            br#"{"type":"KYC_PASSED","jkos_id":"j","occurred_at":"2026-11-21T08:00:00Z"}"#,
        );
        assert!(missing.unwrap_err().to_string().contains("account_id"));
    }

    #[test]
    fn member_info_requires_every_field_and_validates_them() {
        let ok = r#"{"account_id":"acc-1","jkos_id":"jk-1","jkos_account":"123456789","phone_number":"0912345678","created_at":"2026-11-21T08:00:00+08:00"}"#;
        let info = MemberInfo::parse(ok.as_bytes()).unwrap();
        assert_eq!(info.created_at.to_rfc3339(), "2026-11-21T00:00:00+00:00");
        assert_eq!(
            format!("{:?}", info.phone_number),
            "PhoneNumber(0912***678)"
        );
        let long_account = ok.replace("123456789", "1234567890");
        let err = MemberInfo::parse(long_account.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("jkos_account"), "{err}");
    }

    #[test]
    fn coordinates_read_like_kafkas_own() {
        let c = RecordCoordinates {
            topic: TOPIC_REGISTRATION.into(),
            partition: 3,
            offset: 42,
        };
        assert_eq!(c.to_string(), "rd2_registration_member-3@42");
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

    #[test]
    fn reasons_are_typed_and_hold_no_value_from_the_record() {
        let phone = "0987650777";
        let cases = [
            format!(
                r#"{{"account_id":"a","jkos_id":"j","jkos_account":"A1","phone_number":{},"created_at":"2026-11-21T08:00:00Z"}}"#,
                &phone[1..]
            ),
            format!(
                r#"{{"account_id":"a","jkos_id":"j","jkos_account":"A1","phone_number":"{phone}0","created_at":"2026-11-21T08:00:00Z"}}"#
            ),
            format!(
                r#"{{"account_id":"a","jkos_id":"j","jkos_account":"{phone}","phone_number":"{phone}","created_at":"2026-11-21T08:00:00Z"}}"#
            ),
            format!(
                r#"{{"account_id":"a","jkos_id":"j","jkos_account":"A1","phone_number":"{phone}","created_at":"{phone}"}}"#
            ),
        ];
        let expected = [
            ("invalid_type", "phone_number"),
            ("invalid_value", "phone_number"),
            ("too_long", "jkos_account"),
            ("invalid_value", "created_at"),
        ];
        for (json, (kind, path)) in cases.iter().zip(expected) {
            let err = MemberInfo::parse(json.as_bytes()).unwrap_err();
            let RecordError::BadJson { error } = &err else {
                panic!("{err}")
            };
            assert_eq!(
                (error.kind.as_str(), error.path.as_str()),
                (kind, path),
                "{json}"
            );
            let stored = serde_json::to_string(&err).unwrap();
            assert!(
                stored.starts_with(r#"{"kind":"bad_json","error":{"kind":"#),
                "{stored}"
            );
            for shown in [err.to_string(), stored] {
                assert!(!shown.contains(&phone[1..]), "{json}: {shown}");
            }
        }
        let unknown = format!(
            r#"{{"type":"{phone}","account_id":"a","jkos_id":"j","occurred_at":"2026-11-21T08:00:00Z"}}"#
        );
        let err = RegistrationEvent::parse(unknown.as_bytes()).unwrap_err();
        assert_eq!(err, RecordError::UnknownType);
        let code = format!(
            r#"{{"type":"REFERRAL_CODE_USED","account_id":"a","jkos_id":"j","referral_code":"{phone}","occurred_at":"2026-11-21T08:00:00Z"}}"#
        );
        let err = RegistrationEvent::parse(code.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, RecordError::InvalidField { field, .. } if field == "referral_code"),
            "{err}"
        );
        assert!(!err.to_string().contains(&phone[1..]), "{err}");
        // The stored form reads back.
        let back: RecordError =
            serde_json::from_str(&serde_json::to_string(&err).unwrap()).unwrap();
        assert_eq!(back, err);
    }

    #[test]
    fn reason_kinds_store_and_print_their_labels() {
        use ReasonKind::*;
        let all = [
            BadBase64,
            MissingValue,
            BadJson,
            UnknownType,
            InvalidField,
            UnexpectedTopic,
            CorruptState,
            RejectedWrite,
        ];
        for kind in all {
            let stored = serde_json::to_value(kind).unwrap();
            assert_eq!(stored, serde_json::Value::String(kind.as_str().into()));
            assert_eq!(serde_json::from_value::<ReasonKind>(stored).unwrap(), kind);
            assert_eq!(kind.to_string(), kind.as_str());
        }
        // The parked record's flat label is the stored reason's tag.
        let reason = RecordError::CorruptState { key: "k".into() };
        let tagged = serde_json::to_value(&reason).unwrap();
        assert_eq!(tagged["kind"], reason.kind().as_str());
    }
}
