//! The one macro behind the domain's validated string values, and the two rules most of them
//! share. A value can only be made by `parse`, and serde goes through `parse` too.

use super::ValidationError;

/// Declares `pub struct Name(String)` whose every value went through a validation function
/// `fn(&str) -> Result<String, ValidationError>` (it returns what is kept: trimmed, normalized):
/// - `Name::parse(raw)`, the only way in;
/// - serde reads a string through `parse` and writes the string;
/// - `TryFrom<String>` and `From<Name> for String`;
/// - derived `Clone, PartialEq, Eq, Hash` (add more with `#[derive(...)]` before the name);
/// - optionally: `max_len` (`Name::MAX_LEN`), `schema` (the OpenAPI schema expression), and
///   `impls(...)` of `as_str`, `display` (the string), `debug_quoted` (`Name("…")`) and
///   `debug_plain` (`Name(…)`). A value with its own `Display`/`Debug` (a masked phone) writes
///   them by hand.
///
/// Two rules have an arm of their own:
/// - `bounded`: trimmed, 1 to `max` characters, each `allowed` (ids and names);
/// - `free_text`: kept as written, 1 to `max` characters, not only blanks (titles and texts).
macro_rules! string_newtype {
    (
        $(#[$meta:meta])*
        bounded $name:ident, field = $field:literal, max = $max:literal, allowed = $allowed:expr,
        rule = $rule:literal, pattern = $pattern:expr
    ) => {
        $crate::domain::newtype::string_newtype! {
            $(#[$meta])*
            #[derive(PartialOrd, Ord)]
            $name,
            validate = |raw| $crate::domain::newtype::bounded(raw, $field, $max, $allowed, $rule),
            max_len = $max,
            schema = $crate::domain::schema::string(
                $pattern,
                concat!($rule, "; 1 to ", stringify!($max), " characters; surrounding blanks are trimmed"),
            ),
            impls(as_str, display, debug_quoted)
        }
    };
    (
        $(#[$meta:meta])*
        free_text $name:ident, field = $field:literal, max = $max:literal
    ) => {
        $crate::domain::newtype::string_newtype! {
            $(#[$meta])*
            #[derive(Debug)]
            $name,
            validate = |raw| $crate::domain::newtype::free_text(raw, $field, $max),
            max_len = $max,
            schema = $crate::domain::schema::text(
                $max,
                concat!("1 to ", stringify!($max), " characters, not only blanks"),
            ),
            impls(as_str)
        }
    };
    (
        $(#[$meta:meta])*
        $name:ident,
        validate = $validate:expr,
        $(max_len = $max:expr,)?
        $(schema = $schema:expr,)?
        impls($($impl:ident),* $(,)?)
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            $(pub const MAX_LEN: usize = $max;)?

            pub fn parse(raw: impl AsRef<str>) -> Result<Self, $crate::domain::ValidationError> {
                let validate: fn(&str) -> Result<String, $crate::domain::ValidationError> =
                    $validate;
                validate(raw.as_ref()).map(Self)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::ValidationError;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(raw)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        $(
            /// The OpenAPI schema: what [`Self::parse`] accepts.
            impl utoipa::PartialSchema for $name {
                fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                    $schema
                }
            }

            impl utoipa::ToSchema for $name {}
        )?

        $($crate::domain::newtype::string_newtype!(@$impl $name);)*
    };
    (@as_str $name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
    (@display $name:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
    (@debug_quoted $name:ident) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
    (@debug_plain $name:ident) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

pub(crate) use string_newtype;

/// The `bounded` rule: trimmed, not empty, at most `max` characters, each one `allowed`
/// (`rule` says which, as the error message).
pub(crate) fn bounded(
    raw: &str,
    field: &'static str,
    max: usize,
    allowed: fn(char) -> bool,
    rule: &'static str,
) -> Result<String, ValidationError> {
    let value = raw.trim();
    not_blank(value, field)?;
    at_most(value, field, max)?;
    if !value.chars().all(allowed) {
        return Err(ValidationError::new(field, rule));
    }
    Ok(value.to_owned())
}

/// The `free_text` rule: kept as written, not only blanks, at most `max` characters.
pub(crate) fn free_text(
    raw: &str,
    field: &'static str,
    max: usize,
) -> Result<String, ValidationError> {
    not_blank(raw.trim(), field)?;
    at_most(raw, field, max)?;
    Ok(raw.to_owned())
}

fn not_blank(trimmed: &str, field: &'static str) -> Result<(), ValidationError> {
    if trimmed.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    Ok(())
}

fn at_most(value: &str, field: &'static str, max: usize) -> Result<(), ValidationError> {
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::domain::{AccountId, MessageText, PhoneNumber, ReferralCode, RewardId, Side, Title};

    #[test]
    fn each_value_keeps_its_debug_display_and_serde_form() {
        let account = AccountId::parse(" acc-1 ").unwrap();
        assert_eq!(
            format!("{account:?} {account}"),
            r#"AccountId("acc-1") acc-1"#
        );
        let reward = RewardId::new(&account, Side::Referee);
        assert_eq!(
            format!("{reward:?} {reward}"),
            "RewardId(acc-1-referee) acc-1-referee"
        );
        let code = ReferralCode::parse("ab-cd 23").unwrap();
        assert_eq!(format!("{code:?} {code}"), "ReferralCode(ABCD23) ABCD23");
        let title = Title::parse(" Hi ").unwrap();
        assert_eq!(format!("{title:?}"), r#"Title(" Hi ")"#);
        let phone = PhoneNumber::parse("0912345678").unwrap();
        assert_eq!(
            format!("{phone:?} {phone}"),
            "PhoneNumber(0912***678) 0912***678"
        );

        assert_eq!(serde_json::to_string(&title).unwrap(), r#"" Hi ""#);
        let text: MessageText = serde_json::from_str(r#""x""#).unwrap();
        assert_eq!(text.as_str(), "x");
        let err = serde_json::from_str::<MessageText>(r#"" ""#).unwrap_err();
        assert!(
            err.to_string().contains("content: must not be empty"),
            "{err}"
        );
        let err = serde_json::from_str::<RewardId>(r#""acc-1""#).unwrap_err();
        assert!(
            err.to_string()
                .contains("reward_id: must be <account id>-referrer or <account id>-referee"),
            "{err}"
        );
        assert_eq!(Title::MAX_LEN, 100);
        assert_eq!(
            Title::parse("x".repeat(101)).unwrap_err().message,
            "must be at most 100 characters"
        );
    }
}
