//! The two sides of a referral and what each receives: reward types, amounts, terms, and the
//! content windows that set them.

use super::{TimeWindow, ValidationError, WindowId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// COIN or COUPON (`*_reward_type`, VARCHAR(10)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RewardType {
    Coin,
    Coupon,
}

impl RewardType {
    pub fn as_str(self) -> &'static str {
        match self {
            RewardType::Coin => "COIN",
            RewardType::Coupon => "COUPON",
        }
    }
}

/// Which side of a referral a reward or notification is for (`referral_type`, `notify_type`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Side {
    Referrer,
    Referee,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Referrer, Side::Referee];

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Referrer => "REFERRER",
            Side::Referee => "REFEREE",
        }
    }
}

/// A reward amount: `DECIMAL(10,2)`, strictly positive, never a float.
/// Serialized as a decimal string (`"50.00"`) so no binary rounding can creep in.
///
/// Read only as a plain decimal string, the grammar `docs/api.md` and the OpenAPI pattern
/// state: `(0|[1-9][0-9]{0,7})(.[0-9]{1,2})?`, greater than 0. No sign, exponent, digit
/// separator, leading zero, blank, or dot without digits on both sides: `"1.5e3"`, `"+10"`,
/// `"1_000"`, `".5"`, `"5."`, `"00010"` are refused, never read as some other number. Every
/// source reads it through [`RewardAmount::parse`]: admin API bodies, campaign files, stored
/// items (written by this type with 2 decimals, so they always read back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "Decimal")]
pub struct RewardAmount(Decimal);

impl RewardAmount {
    /// The largest value `DECIMAL(10,2)` holds.
    pub const MAX: Decimal = Decimal::from_parts(1_410_065_407, 2, 0, false, 2); // 99,999,999.99

    /// Digits before the point at most (`DECIMAL(10,2)`).
    const INTEGER_DIGITS: usize = 8;

    /// The OpenAPI pattern: exactly what [`Self::parse`] accepts.
    pub const PATTERN: &str = r"^(?:[1-9][0-9]{0,7}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9]))$";

    pub fn new(value: Decimal) -> Result<Self, ValidationError> {
        if value <= Decimal::ZERO {
            return Err(ValidationError::new("amount", "must be greater than 0"));
        }
        if value.normalize().scale() > 2 {
            return Err(ValidationError::new(
                "amount",
                "must have at most 2 decimal places",
            ));
        }
        if value > Self::MAX {
            return Err(ValidationError::new(
                "amount",
                "must be at most 99999999.99",
            ));
        }
        let mut value = value;
        value.rescale(2);
        Ok(Self(value))
    }

    /// A plain decimal string, as written (nothing trimmed).
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let (integer, fraction) = match text.split_once('.') {
            Some((integer, fraction)) => (integer, Some(fraction)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(integer) || !fraction.is_none_or(digits) {
            return Err(ValidationError::new(
                "amount",
                "must be a plain decimal string: digits, optionally a '.' and 1 or 2 digits \
                 (no sign, exponent, separator or blank)",
            ));
        }
        if integer.len() > 1 && integer.starts_with('0') {
            return Err(ValidationError::new(
                "amount",
                "must not have leading zeros",
            ));
        }
        if fraction.is_some_and(|f| f.len() > 2) {
            return Err(ValidationError::new(
                "amount",
                "must have at most 2 decimal places",
            ));
        }
        if integer.len() > Self::INTEGER_DIGITS {
            return Err(ValidationError::new(
                "amount",
                "must be at most 99999999.99",
            ));
        }
        // At most 10 digits: always a Decimal.
        let value: Decimal = text
            .parse()
            .map_err(|_| ValidationError::new("amount", "must be a decimal number"))?;
        Self::new(value)
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl TryFrom<String> for RewardAmount {
    type Error = ValidationError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<RewardAmount> for Decimal {
    fn from(v: RewardAmount) -> Decimal {
        v.0
    }
}

/// A decimal string, greater than 0, at most 99999999.99 with at most 2 decimals (JSON numbers
/// are refused: no binary rounding).
impl utoipa::PartialSchema for RewardAmount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(Self::PATTERN))
            .description(Some(
                "a plain decimal string > 0 (no sign, exponent, separator or leading zero), at most \
                 99999999.99, at most 2 decimals; answers carry 2",
            ))
            .examples([serde_json::json!("50.00")])
            .into()
    }
}

impl utoipa::ToSchema for RewardAmount {}

impl std::fmt::Display for RewardAmount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What one side of a referral receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RewardTerms {
    pub reward_type: RewardType,
    pub amount: RewardAmount,
}

/// `referral_event_content`: the rewards of both sides during a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContentWindow {
    pub window_id: WindowId,
    pub window: TimeWindow,
    pub referrer: RewardTerms,
    pub referee: RewardTerms,
}

impl ContentWindow {
    pub fn terms_for(&self, side: Side) -> RewardTerms {
        match side {
            Side::Referrer => self.referrer,
            Side::Referee => self.referee,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_positive_and_two_places() {
        assert_eq!(
            RewardAmount::parse("50").unwrap().value().to_string(),
            "50.00"
        );
        assert_eq!(
            RewardAmount::parse("0.1").unwrap().value().to_string(),
            "0.10"
        );
        assert!(RewardAmount::parse("99999999.99").is_ok());
        assert!(RewardAmount::parse("100000000").is_err());
        assert!(RewardAmount::parse("0").is_err());
        assert!(RewardAmount::parse("-1").is_err());
        assert_eq!(
            RewardAmount::parse("1.005").unwrap_err().message,
            "must have at most 2 decimal places"
        );
        assert!(RewardAmount::parse("ten").is_err());
        // Serialized as a string, never a float.
        assert_eq!(
            serde_json::to_string(&RewardAmount::parse("7.5").unwrap()).unwrap(),
            "\"7.50\""
        );
    }

    /// Exactly the documented grammar (docs/api.md, the OpenAPI pattern): plain decimals only,
    /// from every source that reads an amount through serde (admin bodies, campaign files,
    /// stored items).
    #[test]
    fn only_plain_decimals_are_amounts() {
        let read = |text: &str| serde_json::from_value::<RewardAmount>(serde_json::json!(text));
        let pattern = regex_lite::Regex::new(RewardAmount::PATTERN).unwrap();
        for (text, stored) in [
            ("1", "1.00"),
            ("50", "50.00"),
            ("50.5", "50.50"),
            ("50.05", "50.05"),
            ("0.5", "0.50"),
            ("0.01", "0.01"),
            ("10.0", "10.00"),
            ("1500.00", "1500.00"),
            ("99999999.99", "99999999.99"),
        ] {
            let amount = read(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(amount.to_string(), stored, "{text}");
            assert!(pattern.is_match(text), "the schema allows {text}");
            // What is stored (and answered) reads back as itself.
            assert_eq!(read(stored).unwrap(), amount, "{stored}");
        }
        for text in [
            "1.5e3",
            "1E+2",
            "1e2",
            "1_000",
            "2.5e-1",
            "+10",
            "-10",
            ".5",
            "5.",
            "00010",
            "01.5",
            "00.5",
            " 10",
            "10 ",
            "10\n",
            "1,000",
            "0x10",
            "",
            ".",
            "12.340",
            "1.005",
            "0",
            "0.00",
            "100000000",
            "NaN",
            "inf",
            "\u{0661}",
        ] {
            assert!(read(text).is_err(), "{text:?} is not an amount");
            assert!(!pattern.is_match(text), "the schema refuses {text:?} too");
        }
        // A JSON number is not an amount either (no binary rounding).
        assert!(serde_json::from_str::<RewardAmount>("10").is_err());
        assert_eq!(
            RewardAmount::parse("1.5e3").unwrap_err().message,
            "must be a plain decimal string: digits, optionally a '.' and 1 or 2 digits (no \
             sign, exponent, separator or blank)"
        );
        assert_eq!(
            RewardAmount::parse("00010").unwrap_err().message,
            "must not have leading zeros"
        );
    }
}
