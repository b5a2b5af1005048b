//! Keyed hashes of the identities the reward rules compare (a phone number, a device): an
//! HMAC-SHA256 under a secret from the environment, so a uniqueness key or a stored comparison
//! value never holds the raw value, and nobody without the secret can test a guessed number
//! against it (a plain hash of a 10-digit number is reversed by enumeration).

use super::newtype::string_newtype;
use super::{PhoneNumber, ValidationError};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

string_newtype!(
    /// A device id as the account module sends it on `DEVICE_BOUND` (optional field
    /// `device_id`): opaque text, trimmed, at least one character. Only its keyed hash is
    /// kept, so neither its alphabet nor its length matters (the record's size bounds it).
    DeviceId,
    validate = |raw| {
        let value = raw.trim();
        if value.is_empty() {
            return Err(ValidationError::new("device_id", "must not be blank"));
        }
        Ok(value.to_owned())
    },
    impls(debug_plain)
);

/// The HMAC-SHA256 (hex) of an identity under the deployment's secret, tagged with what it is
/// the hash of, so a phone and a device with the same text never share a key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdentityHash(String);

impl IdentityHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdentityHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Short enough to tell two apart in a test failure; the hash is not secret anyway.
        write!(f, "IdentityHash({}…)", &self.0[..self.0.len().min(8)])
    }
}

impl fmt::Display for IdentityHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secret the identity hashes are keyed with (`IDENTITY_HASH_KEY`). Never printed.
/// Changing it changes every hash: the uniqueness items written before would no longer match,
/// so it is set once per deployment and not rotated (see `docs/rules.md`).
#[derive(Clone)]
pub struct IdentityKey(Vec<u8>);

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityKey(<redacted>)")
    }
}

impl IdentityKey {
    /// The shortest secret accepted: 32 bytes, as much as the hash itself.
    pub const MIN_LEN: usize = 32;

    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, ValidationError> {
        let secret = secret.into();
        if secret.len() < Self::MIN_LEN {
            return Err(ValidationError::new(
                "identity_hash_key",
                format!("must be at least {} bytes", Self::MIN_LEN),
            ));
        }
        Ok(Self(secret))
    }

    /// The keyed hash of a phone number (as stored: trimmed, digits with an optional '+').
    pub fn phone(&self, phone: &PhoneNumber) -> IdentityHash {
        self.hash("phone", phone.expose())
    }

    pub fn device(&self, device: &DeviceId) -> IdentityHash {
        self.hash("device", &device.0)
    }

    fn hash(&self, kind: &str, value: &str) -> IdentityHash {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts a key of any length");
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        let bytes = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            hex.push_str(&format!("{b:02x}"));
        }
        IdentityHash(hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> IdentityKey {
        IdentityKey::new(vec![byte; 32]).unwrap()
    }

    #[test]
    fn hashes_are_keyed_tagged_and_never_the_value() {
        let phone = PhoneNumber::parse("0912345678").unwrap();
        let a = key(1).phone(&phone);
        assert_eq!(
            a,
            key(1).phone(&PhoneNumber::parse(" 0912345678 ").unwrap())
        );
        assert_eq!(a.as_str().len(), 64);
        assert!(!a.as_str().contains("0912345678"));
        assert_ne!(a, key(2).phone(&phone), "another secret, another hash");
        let device = DeviceId::parse("0912345678").unwrap();
        assert_ne!(
            a,
            key(1).device(&device),
            "a device never collides with a phone"
        );
        assert!(IdentityKey::new(vec![0; 31]).is_err());
        assert!(!format!("{:?}", key(1)).contains('\u{1}'));
    }

    #[test]
    fn device_ids_are_opaque_non_blank_text() {
        assert!(DeviceId::parse("ios:ABC-123.x").is_ok());
        assert!(DeviceId::parse("Pixel 8 設備").is_ok());
        assert_eq!(
            DeviceId::parse("  a b ").unwrap(),
            DeviceId::parse("a b").unwrap()
        );
        assert!(DeviceId::parse("x".repeat(4096)).is_ok());
        assert!(DeviceId::parse("a\u{7}b").is_ok());
        assert!(DeviceId::parse("").is_err());
        assert!(DeviceId::parse("   ").is_err());
    }
}
