//! Decode errors without the decoded values.
//!
//! serde's messages quote what they could not decode (``invalid type: integer `987650777`,
//! expected a string``), and that value may be a phone number. So every decode error of outside
//! input — Kafka records, HTTP bodies and queries, stored items — is reduced here to a
//! [`DecodeErrorKind`], the path of the field (`contents[0].referrer.amount`) and, for JSON, the
//! position. serde's message is read only to tell the kind, then dropped. The one text kept is a
//! domain rule ([`ValidationError`](crate::domain::ValidationError), `field: rule`), which states
//! the rule, never the value.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_path_to_error::{Path, Segment};
use std::fmt::{self, Write};

/// What kind of decode error, as a stable snake_case label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecodeErrorKind {
    /// Not JSON (or not UTF-8, or trailing characters after the value).
    Syntax,
    /// The input ends inside a value.
    Eof,
    /// A value of the wrong type (a number where a string belongs).
    InvalidType,
    /// The right type, but a value the field cannot take (see `rule` when a domain rule says why).
    InvalidValue,
    /// Longer than the field allows (a domain rule; see `rule`).
    TooLong,
    /// A list of the wrong length.
    InvalidLength,
    MissingField,
    UnknownField,
    DuplicateField,
    /// A name that is not one of the enumeration's values.
    UnknownVariant,
}

impl DecodeErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Syntax => "syntax",
            Self::Eof => "eof",
            Self::InvalidType => "invalid_type",
            Self::InvalidValue => "invalid_value",
            Self::TooLong => "too_long",
            Self::InvalidLength => "invalid_length",
            Self::MissingField => "missing_field",
            Self::UnknownField => "unknown_field",
            Self::DuplicateField => "duplicate_field",
            Self::UnknownVariant => "unknown_variant",
        }
    }

    /// What is wrong, in words, for a field named separately.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Syntax => "is not valid JSON",
            Self::Eof => "ends before the JSON value does",
            Self::InvalidType => "has the wrong type",
            Self::InvalidValue => "is not a valid value",
            Self::TooLong => "is too long",
            Self::InvalidLength => "has the wrong number of items",
            Self::MissingField => "is required",
            Self::UnknownField => "is not a known field",
            Self::DuplicateField => "appears more than once",
            Self::UnknownVariant => "is not one of the accepted values",
        }
    }
}

/// A decode error: kind, where, and the domain rule when one was broken. Holds no input value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    /// `.` for the whole input, else the field: `phone_number`, `contents[0].referrer.amount`.
    /// A key that is not a plain name (letters and `_`) is shown as `?`.
    pub path: String,
    /// The domain rule the value breaks (`must be at most 20 characters`), if a domain type said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// 1-based position in JSON input; 0 where there is none.
    #[serde(default)]
    pub line: usize,
    #[serde(default)]
    pub column: usize,
}

impl DecodeError {
    /// The path as a field name: `None` for the whole input.
    pub fn field(&self) -> Option<&str> {
        (self.path != ".").then_some(self.path.as_str())
    }

    /// The problem in words: the domain rule if there is one, else the kind described.
    pub fn problem(&self) -> &str {
        self.rule.as_deref().unwrap_or(self.kind.describe())
    }

    /// Reduces any deserializer's error (tracked by serde_path_to_error); no position.
    pub fn reduce<E: fmt::Display>(error: &serde_path_to_error::Error<E>) -> Self {
        let message = error.inner().to_string();
        Self::from_message(error.path(), &message, 0, 0)
    }

    fn from_message(path: &Path, message: &str, line: usize, column: usize) -> Self {
        let (kind, name, rule) = classify(message);
        Self {
            kind,
            path: render(path, name),
            rule,
            line,
            column,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.kind.as_str(), self.path)?;
        if let Some(rule) = &self.rule {
            write!(f, ": {rule}")?;
        }
        if self.line > 0 {
            write!(f, " (line {}, column {})", self.line, self.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// `serde_json::from_slice`, with the error reduced.
pub fn json_from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(reduce_json)?;
    de.end().map_err(|e| position_error(&e, ".".into()))?;
    Ok(value)
}

/// Reduces a serde_json error tracked by serde_path_to_error.
pub fn reduce_json(error: serde_path_to_error::Error<serde_json::Error>) -> DecodeError {
    let inner = error.inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let (line, column) = (inner.line(), inner.column());
            // serde_json appends the position to the message; the kind is read from the rest.
            let message = inner.to_string();
            let suffix = format!(" at line {line} column {column}");
            let message = message.strip_suffix(&suffix).unwrap_or(&message);
            DecodeError::from_message(error.path(), message, line, column)
        }
        _ => position_error(inner, render(error.path(), None)),
    }
}

fn position_error(inner: &serde_json::Error, path: String) -> DecodeError {
    let kind = match inner.classify() {
        serde_json::error::Category::Eof => DecodeErrorKind::Eof,
        _ => DecodeErrorKind::Syntax,
    };
    DecodeError {
        kind,
        path,
        rule: None,
        line: inner.line(),
        column: inner.column(),
    }
}

/// The kind from serde's standard messages (`serde::de::Error`'s provided methods); for the
/// missing or duplicate field, its name (one of our own field names); for anything else (a
/// custom error), the domain rule if the message reads like a `ValidationError`.
fn classify(message: &str) -> (DecodeErrorKind, Option<&str>, Option<String>) {
    use DecodeErrorKind as K;
    const STANDARD: [(&str, DecodeErrorKind); 7] = [
        ("invalid type: ", K::InvalidType),
        ("invalid value: ", K::InvalidValue),
        ("invalid length ", K::InvalidLength),
        ("unknown variant ", K::UnknownVariant),
        ("unknown field ", K::UnknownField),
        ("missing field ", K::MissingField),
        ("duplicate field ", K::DuplicateField),
    ];
    for (prefix, kind) in STANDARD {
        if message.starts_with(prefix) {
            let name = matches!(kind, K::MissingField | K::DuplicateField)
                .then(|| message.split('`').nth(1))
                .flatten()
                .filter(|n| is_plain_name(n));
            return (kind, name, None);
        }
    }
    // A domain type's `ValidationError` displays as `field: rule`; the path names the field.
    match message.split_once(": ") {
        Some((field, rule)) if is_plain_name(field) && !rule.is_empty() => {
            let kind = if rule.starts_with("must be at most") && rule.ends_with("characters") {
                K::TooLong
            } else {
                K::InvalidValue
            };
            (kind, None, Some(rule.to_owned()))
        }
        _ => (K::InvalidValue, None, None),
    }
}

/// `a.b[2].c`; `.` for the root. Keys that are not plain names may be outside values: `?`.
fn render(path: &Path, last: Option<&str>) -> String {
    fn name(out: &mut String, key: &str) {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(if is_plain_name(key) { key } else { "?" });
    }
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(out, "[{index}]");
            }
            Segment::Map { key } => name(&mut out, key),
            Segment::Enum { variant } => name(&mut out, variant),
            Segment::Unknown => name(&mut out, "?"),
        }
    }
    if let Some(last) = last {
        name(&mut out, last);
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Letters and `_` only, as our field names are: never a number, never a phone.
pub(crate) fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountId, PhoneNumber, RewardAmount};

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Record {
        account_id: AccountId,
        phone_number: PhoneNumber,
        #[serde(default)]
        amounts: Vec<RewardAmount>,
        #[serde(default)]
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize)]
    enum Kind {
        A,
    }

    fn err(json: &str) -> DecodeError {
        json_from_slice::<Record>(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn each_error_is_a_kind_and_a_path_and_never_the_value() {
        let cases = [
            (
                r#"{"account_id":"a","phone_number":987650777}"#,
                DecodeErrorKind::InvalidType,
                "phone_number",
            ),
            (
                r#"{"account_id":"a","phone_number":"0987650777x"}"#,
                DecodeErrorKind::InvalidValue,
                "phone_number",
            ),
            (
                r#"{"account_id":"0987650777-0987650777-0987650777","phone_number":"0987650777"}"#,
                DecodeErrorKind::TooLong,
                "account_id",
            ),
            (
                r#"{"account_id":"a"}"#,
                DecodeErrorKind::MissingField,
                "phone_number",
            ),
            (
                r#"{"account_id":"a","0987650777":1}"#,
                DecodeErrorKind::UnknownField,
                "?",
            ),
            (
                r#"{"account_id":"a","phone_number":"0987650777","amounts":["1","0987650777.123"]}"#,
                DecodeErrorKind::InvalidValue,
                "amounts[1]",
            ),
            (
                r#"{"account_id":"a","phone_number":"0987650777","kind":"0987650777"}"#,
                DecodeErrorKind::UnknownVariant,
                "kind",
            ),
            (
                r#"{"account_id":"a","account_id":"a","phone_number":"0987650777"}"#,
                DecodeErrorKind::DuplicateField,
                "account_id",
            ),
            (
                r#"{"account_id":0987650777}"#,
                DecodeErrorKind::Syntax,
                "account_id",
            ),
            (
                r#"{"account_id":"0987650777"#,
                DecodeErrorKind::Eof,
                "account_id",
            ),
            (
                r#"{"account_id":"a","phone_number":"0987650777"} 0987650777"#,
                DecodeErrorKind::Syntax,
                ".",
            ),
            ("0987650777", DecodeErrorKind::Syntax, "."),
            ("987650777", DecodeErrorKind::InvalidType, "."),
        ];
        for (json, kind, path) in cases {
            let e = err(json);
            assert_eq!((e.kind, e.path.as_str()), (kind, path), "{json}: {e}");
            let shown = format!("{e} {}", serde_json::to_string(&e).unwrap());
            assert!(!shown.contains("987650777"), "{json}: {shown}");
        }
        let e = err(r#"{"account_id":"a","phone_number":987650777}"#);
        assert_eq!(
            e.to_string(),
            "invalid_type at phone_number (line 1, column 42)"
        );
        let e = err(r#"{"account_id":"a b","phone_number":"0987650777"}"#);
        assert_eq!(
            e.rule.as_deref(),
            Some("may contain only letters, digits, '-' and '_'")
        );
        assert_eq!(e.field(), Some("account_id"));
    }

    #[test]
    fn bad_utf8_is_a_syntax_error_with_its_position() {
        let e = json_from_slice::<Record>(b"{\"account_id\":\"0987650777\xff\"}").unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::Syntax);
        assert!(e.line == 1 && e.column > 0, "{e}");
    }

    #[test]
    fn keys_that_are_not_plain_names_are_hidden_in_paths() {
        let e = json_from_slice::<std::collections::HashMap<String, AccountId>>(
            br#"{"0987650777":"a b"}"#,
        )
        .unwrap_err();
        assert_eq!(
            (e.kind, e.path.as_str()),
            (DecodeErrorKind::InvalidValue, "?")
        );
        let e = json_from_slice::<std::collections::HashMap<String, AccountId>>(br#"{"who":7}"#)
            .unwrap_err();
        assert_eq!(e.path, "who");
    }
}
