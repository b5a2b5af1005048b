//! Referral codes: what a member types into the app.
//!
//! Alphabet: the 30 characters `23456789ABCDEFGHJKMNPQRSTVWXYZ` — digits and uppercase
//! letters without the look-alikes `0 O 1 I L U` (U is dropped as in Crockford's base32,
//! to avoid accidental words). Input is normalized explicitly: surrounding blanks, inner
//! spaces and '-' are removed and letters are uppercased, so `ab-cd 23` is `ABCD23`.
//! A code is 4 to 10 characters (`referral_code.code` is VARCHAR(10)); generated personal
//! codes have [`ReferralCode::GENERATED_LEN`] characters (30^8 ≈ 6.6 × 10^11 codes).

use super::ValidationError;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

pub const CODE_ALPHABET: &[u8; 30] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReferralCode(String);

impl ReferralCode {
    pub const MIN_LEN: usize = 4;
    pub const MAX_LEN: usize = 10;
    pub const GENERATED_LEN: usize = 8;

    /// Normalizes and validates what a person typed.
    pub fn parse(raw: impl AsRef<str>) -> Result<Self, ValidationError> {
        let normalized: String = raw
            .as_ref()
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let len = normalized.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(ValidationError::new(
                "code",
                format!("must be {} to {} characters", Self::MIN_LEN, Self::MAX_LEN),
            ));
        }
        if let Some(bad) = normalized
            .chars()
            .find(|c| !c.is_ascii() || !CODE_ALPHABET.contains(&(*c as u8)))
        {
            return Err(ValidationError::new(
                "code",
                format!("contains {bad:?}; codes use only 2-9 and A-Z without I, L, O and U"),
            ));
        }
        Ok(Self(normalized))
    }

    /// A random code of [`Self::GENERATED_LEN`] characters. Uniqueness is not checked here:
    /// the store's conditional write is what catches a collision (see `store::create_unique_code`).
    pub fn generate<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let code = (0..Self::GENERATED_LEN)
            .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
            .collect();
        Self(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ReferralCode {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(raw)
    }
}

impl From<ReferralCode> for String {
    fn from(v: ReferralCode) -> String {
        v.0
    }
}

/// What [`ReferralCode::parse`] accepts: 4 to 10 code characters (either case), with blanks and
/// '-' anywhere in between.
impl utoipa::PartialSchema for ReferralCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(concat!(
                "^(?:[",
                super::schema::ws_chars!(),
                "-]*[2-9A-HJKMNP-TV-Za-hjkmnp-tv-z]){4,10}[",
                super::schema::ws_chars!(),
                "-]*$"
            )))
            .description(Some(
                "4 to 10 of 2-9 and A-Z without I, L, O, U; input is normalized (case, blanks \
                 and '-' are ignored), answers carry the normalized form",
            ))
            .examples([serde_json::json!("SHARE888")])
            .into()
    }
}

impl utoipa::ToSchema for ReferralCode {}

impl fmt::Display for ReferralCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ReferralCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReferralCode({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn input_is_normalized() {
        assert_eq!(
            ReferralCode::parse(" ab-cd 23 ").unwrap().as_str(),
            "ABCD23"
        );
        assert_eq!(ReferralCode::parse("xyz9").unwrap().as_str(), "XYZ9");
    }

    #[test]
    fn look_alikes_and_bad_lengths_are_rejected_with_the_field_named() {
        for bad in [
            "AB0CD", "ABOCD", "AB1CD", "ABICD", "ABLCD", "ABUCD", "AB_CD", "ABÉCD",
        ] {
            let err = ReferralCode::parse(bad).unwrap_err();
            assert_eq!(err.field, "code", "{bad}");
        }
        assert!(ReferralCode::parse("ABC").is_err());
        assert!(ReferralCode::parse("ABCDEFGHJKM").is_err());
        assert!(ReferralCode::parse("ABCDEFGHJK").is_ok());
    }

    #[test]
    fn generated_codes_are_valid_and_varied() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let codes: std::collections::HashSet<_> = (0..1000)
            .map(|_| ReferralCode::generate(&mut rng))
            .collect();
        assert_eq!(codes.len(), 1000);
        for code in &codes {
            assert_eq!(ReferralCode::parse(code.as_str()).as_ref(), Ok(code));
            assert_eq!(code.as_str().len(), ReferralCode::GENERATED_LEN);
        }
    }
}
