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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct RewardAmount(Decimal);

impl RewardAmount {
    /// The largest value `DECIMAL(10,2)` holds.
    pub const MAX: Decimal = Decimal::from_parts(1_410_065_407, 2, 0, false, 2); // 99,999,999.99

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

    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let value: Decimal = text
            .trim()
            .parse()
            .map_err(|_| ValidationError::new("amount", "must be a decimal number"))?;
        Self::new(value)
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for RewardAmount {
    type Error = ValidationError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
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
            .pattern(Some(
                r"^(?:0{0,7}[1-9][0-9]{0,7}(?:\.[0-9]{1,2})?|0{1,8}\.(?:[1-9][0-9]?|0[1-9]))$",
            ))
            .description(Some(
                "a decimal string > 0, at most 99999999.99, at most 2 decimals; answers carry 2",
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
        assert_eq!(
            RewardAmount::parse("12.340").unwrap().value().to_string(),
            "12.34"
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
}
