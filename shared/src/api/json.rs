//! JSON request bodies: read up to [`super::MAX_BODY_BYTES`] (413 beyond), parsed whatever the
//! Content-Type says (curl's `-d` sends a form type), and a failure names the field by its
//! path (`contents[0].referrer.amount`) with the domain's rule or the kind of problem, never
//! the value sent (it may be a phone number; see [`crate::decode`]).

use super::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::Invalid {
                    code: "invalid_body",
                    message: "the body could not be read".into(),
                    field: None,
                }
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses a body; public for the tests of the error messages.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Invalid {
            code: "invalid_json",
            message: "a JSON body is required".into(),
            field: None,
        });
    }
    // Every body of these APIs is an object. serde would also read a struct from an array of
    // its fields in order (`["SHARE888"]`), which no schema allows: refuse that first.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::Invalid {
            code: "invalid_json",
            message: "the body must be a JSON object".into(),
            field: None,
        });
    }
    crate::decode::json_from_slice(bytes).map_err(ApiError::from_decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        code: crate::domain::ReferralCode,
        inner: Option<Vec<crate::domain::RewardAmount>>,
    }

    fn field_and_message(json: &str) -> (Option<String>, String, &'static str) {
        match parse::<Body>(json.as_bytes()).unwrap_err() {
            ApiError::Invalid {
                code,
                message,
                field,
            } => (field, message, code),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_by_path() {
        let (field, message, code) = field_and_message(r#"{"code":"AB"}"#);
        assert_eq!((field.as_deref(), code), (Some("code"), "invalid_field"));
        assert!(message.contains("4 to 10"), "{message}");
        let (field, message, _) = field_and_message(r#"{"code":"ABCD","inner":["1.234"]}"#);
        assert_eq!(field.as_deref(), Some("inner[0]"));
        assert!(message.contains("2 decimal"), "{message}");
        let (field, message, _) = field_and_message(r#"{"cod":"ABCD"}"#);
        assert_eq!(
            (field.as_deref(), message.as_str()),
            (Some("cod"), "is not a known field")
        );
        let (field, message, _) = field_and_message(r#"{"inner":[]}"#);
        assert_eq!(
            (field.as_deref(), message.as_str()),
            (Some("code"), "is required")
        );
        let (_, _, code) = field_and_message(r#"{"inner":[]}"#);
        assert_eq!(code, "invalid_field");
        let (_, _, code) = field_and_message(r#"{"code":"#);
        assert_eq!(code, "invalid_json");
        let (_, _, code) = field_and_message("");
        assert_eq!(code, "invalid_json");
    }

    #[test]
    fn no_error_repeats_the_value_sent() {
        for json in [
            r#"{"code":987650777}"#,
            r#"{"code":"0987650777"}"#,
            r#"{"0987650777":"ABCD"}"#,
            r#""0987650777""#,
            r#"{"code":"ABCD","inner":["0987650777.123"]}"#,
            r#"{"code":"ABCD","inner":[987650777]}"#,
            r#"{"code":0987650777}"#,
        ] {
            let (field, message, code) = field_and_message(json);
            let shown = format!("{field:?} {message} {code}");
            assert!(!shown.contains("987650777"), "{json}: {shown}");
        }
    }

    #[test]
    fn a_body_must_be_an_object_not_the_fields_in_an_array() {
        for body in [
            r#"["ABCD", null]"#,
            r#" ["ABCD"]"#,
            r#""ABCD""#,
            "42",
            "null",
        ] {
            let (field, message, code) = field_and_message(body);
            assert_eq!((field, code), (None, "invalid_json"), "{body}");
            assert_eq!(message, "the body must be a JSON object", "{body}");
        }
    }
}
