//! Why a Kafka record cannot be applied: typed, logged, counted and parked.

use crate::decode::DecodeError;
use crate::domain::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

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
    /// One jkos id is one member (ADR 0010): the record's jkos id is bound to another account,
    /// or its account to another jkos id. Never granted, never merged: support decides
    /// (docs/runbook.md).
    #[error("{conflict}")]
    JkosIdTaken { conflict: JkosConflict },
}

/// Which side of the jkos id ↔ account binding a record contradicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JkosConflict {
    /// The record's jkos id belongs to another account.
    OtherAccount,
    /// The record's account belongs to another jkos id.
    OtherJkosId,
}

impl fmt::Display for JkosConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JkosConflict::OtherAccount => "the jkos id (field jkos_id) belongs to another account",
            JkosConflict::OtherJkosId => {
                "the account (field account_id) belongs to another jkos id (field jkos_id)"
            }
        })
    }
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
            RecordError::JkosIdTaken { .. } => ReasonKind::JkosIdTaken,
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
    JkosIdTaken,
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
            ReasonKind::JkosIdTaken => "jkos_id_taken",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::kafka::*;

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
