//! Referral codes: what a member types into the app.
//!
//! Alphabet: the 30 characters `23456789ABCDEFGHJKMNPQRSTVWXYZ` — digits and uppercase
//! letters without the look-alikes `0 O 1 I L U` (U is dropped as in Crockford's base32,
//! to avoid accidental words). Input is normalized explicitly: surrounding blanks, inner
//! spaces and '-' are removed and letters are uppercased, so `ab-cd 23` is `ABCD23`.
//! A code is 4 to 10 characters (`referral_code.code` is VARCHAR(10)); generated personal
//! codes have [`ReferralCode::GENERATED_LEN`] characters (30^8 ≈ 6.6 × 10^11 codes).

use super::ValidationError;
use super::newtype::string_newtype;
use rand::Rng;

pub const CODE_ALPHABET: &[u8; 30] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

string_newtype!(
    #[derive(PartialOrd, Ord)]
    ReferralCode,
    // Normalizes and validates what a person typed.
    validate = |raw| {
        let normalized: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let len = normalized.chars().count();
        if !(ReferralCode::MIN_LEN..=ReferralCode::MAX_LEN).contains(&len) {
            return Err(ValidationError::new(
                "code",
                format!(
                    "must be {} to {} characters",
                    ReferralCode::MIN_LEN,
                    ReferralCode::MAX_LEN
                ),
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
        Ok(normalized)
    },
    max_len = 10,
    // What `parse` accepts: 4 to 10 code characters (either case), with blanks and '-'
    // anywhere in between.
    schema = {
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
    },
    impls(as_str, display, debug_plain)
);

impl ReferralCode {
    pub const MIN_LEN: usize = 4;
    pub const GENERATED_LEN: usize = 8;

    /// A random code of [`Self::GENERATED_LEN`] characters. Uniqueness is not checked here:
    /// the store's conditional write is what catches a collision (see `store::create_unique_code`).
    pub fn generate<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let code = (0..Self::GENERATED_LEN)
            .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
            .collect();
        Self(code)
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
