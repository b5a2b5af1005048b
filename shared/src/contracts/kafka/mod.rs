//! The account module's Kafka records, as MSK hands them to Lambda: key = the member's
//! `account_id`, value = UTF-8 JSON, base64-encoded in the Lambda event.
//!
//! Parsing never panics and never guesses: a record is either a valid domain event or a
//! [`RecordError`] that says what is wrong, for the consumer to log (with the record's
//! coordinates), count and park.

use crate::domain::{
    AccountId, DeviceId, JkosAccount, JkosId, PhoneNumber, ReferralCode, ValidationError,
};
use crate::time::Instant;
use base64::Engine;
use serde::Deserialize;
use std::fmt;

mod parked;
mod reason;

pub use parked::{ParkedRecord, redacted};
pub use reason::{JkosConflict, ReasonKind, RecordError};

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
        /// The bound device, when the producer sends it (optional field `device_id`): only
        /// its keyed hash is kept, for the one-reward-per-device rule.
        device_id: Option<DeviceId>,
        /// The rule a `device_id` that was sent but is unusable broke: the field is dropped
        /// (logged with the record's coordinates and counted), the step is kept.
        unusable_device_id: Option<String>,
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
    /// Read leniently: an unusable device id must not cost the member the step.
    #[serde(default)]
    device_id: Option<serde_json::Value>,
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
            "DEVICE_BOUND" => {
                let (device_id, unusable_device_id) = match raw.device_id {
                    None | Some(serde_json::Value::Null) => (None, None),
                    Some(serde_json::Value::String(text)) => match DeviceId::parse(text) {
                        Ok(id) => (Some(id), None),
                        Err(e) => (None, Some(e.message)),
                    },
                    Some(_) => (None, Some("must be a string".to_owned())),
                };
                Ok(Self::DeviceBound {
                    member,
                    device_id,
                    unusable_device_id,
                    occurred_at,
                })
            }
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
            Ok(RegistrationEvent::DeviceBound {
                device_id: None,
                ..
            })
        ));
    }

    #[test]
    fn device_bound_may_name_its_device() {
        let dev = r#"{"type":"DEVICE_BOUND","account_id":"a","jkos_id":"j","device_id":" ios:AB-12 ","occurred_at":"2026-11-21T08:00:00Z"}"#;
        match RegistrationEvent::parse(dev.as_bytes()) {
            Ok(RegistrationEvent::DeviceBound {
                device_id: Some(d), ..
            }) => assert_eq!(d, DeviceId::parse("ios:AB-12").unwrap()),
            other => panic!("{other:?}"),
        }
        // Opaque: any non-blank text is a device id (only its hash is kept).
        let spaced = dev.replace(
            " ios:AB-12 ",
            &format!("Pixel 8 · 設備 {}", "x".repeat(300)),
        );
        assert!(matches!(
            RegistrationEvent::parse(spaced.as_bytes()),
            Ok(RegistrationEvent::DeviceBound {
                device_id: Some(_),
                unusable_device_id: None,
                ..
            })
        ));
        // Unusable: the field is dropped with the rule it broke; the step stays.
        for bad in ["\"\"", "\"   \"", "42", "{\"a\":1}", "true"] {
            let json = dev.replace("\" ios:AB-12 \"", bad);
            match RegistrationEvent::parse(json.as_bytes()) {
                Ok(RegistrationEvent::DeviceBound {
                    device_id: None,
                    unusable_device_id: Some(rule),
                    ..
                }) => assert!(!rule.is_empty()),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let null = dev.replace("\" ios:AB-12 \"", "null");
        assert!(matches!(
            RegistrationEvent::parse(null.as_bytes()),
            Ok(RegistrationEvent::DeviceBound {
                device_id: None,
                unusable_device_id: None,
                ..
            })
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
}
