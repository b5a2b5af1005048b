//! Small validated values. Each can only be constructed through a check, and serde goes
//! through the same check, so a value that exists is valid — whether it came from Kafka,
//! HTTP, a config file or a DynamoDB item.

use super::ValidationError;
use super::newtype::string_newtype;
use serde::{Deserialize, Serialize};
use std::fmt;

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

string_newtype!(
    /// The account module's member key (`member_profile.account_id`, VARCHAR(20)); the Kafka key.
    bounded AccountId, field = "account_id", max = 20, allowed = id_char,
    rule = "may contain only letters, digits, '-' and '_'",
    pattern = super::schema::trimmed!("[A-Za-z0-9_-]{1,20}")
);
string_newtype!(
    /// The member's jkos id (VARCHAR(36)); the `sub` claim of the app's JWT.
    bounded JkosId, field = "jkos_id", max = 36, allowed = id_char,
    rule = "may contain only letters, digits, '-' and '_'",
    pattern = super::schema::trimmed!("[A-Za-z0-9_-]{1,36}")
);
string_newtype!(
    /// The member's jkos account (VARCHAR(9)).
    bounded JkosAccount, field = "jkos_account", max = 9, allowed = id_char,
    rule = "may contain only letters, digits, '-' and '_'",
    pattern = super::schema::trimmed!("[A-Za-z0-9_-]{1,9}")
);
string_newtype!(
    /// Our own id of a referral event (the seed's BIGINT id becomes a readable slug or a UUID).
    bounded EventId, field = "event_id", max = 64, allowed = |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
    rule = "may contain only lowercase letters, digits and '-'",
    pattern = super::schema::trimmed!("[a-z0-9-]{1,64}")
);
string_newtype!(
    /// Id of one window (content, copywriting or notification) of an event.
    bounded WindowId, field = "window_id", max = 64, allowed = |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
    rule = "may contain only lowercase letters, digits and '-'",
    pattern = super::schema::trimmed!("[a-z0-9-]{1,64}")
);
string_newtype!(
    /// The name a CAMPAIGN code is issued for (a campaign or partner), as an admin typed it.
    bounded CampaignSource, field = "source", max = 128, allowed = |c| !c.is_control() && c != '#',
    rule = "must not contain control characters or '#'",
    pattern = super::schema::trimmed_text!("#", 126)
);
string_newtype!(
    /// Display name of an event (`referral_event.name`, VARCHAR(20)).
    bounded EventName, field = "name", max = 20, allowed = |c| !c.is_control(),
    rule = "must not contain control characters",
    pattern = super::schema::trimmed_text!("", 18)
);

impl JkosId {
    /// A jkos id exactly as written, for identities taken verbatim (the `sub` claim of a
    /// token): surrounding blanks are refused, not trimmed, so `" demo-referrer"` is nobody.
    pub fn parse_exact(raw: &str) -> Result<Self, ValidationError> {
        let id = Self::parse(raw)?;
        if id.as_str() != raw {
            return Err(ValidationError::new(
                "jkos_id",
                "must not have surrounding blanks",
            ));
        }
        Ok(id)
    }
}

/// Who a code belongs to (`referral_code.referral_source`): a member (PERSONAL codes, issued
/// when they qualify) or a campaign (CAMPAIGN codes, issued by an admin). The two kinds never
/// share a key or a query: an admin's campaign named like a member's jkos id is still a
/// campaign, and a member's screens only ever read [`ReferralSource::Member`].
///
/// Written as `member:<jkos id>` or `campaign:<name>` wherever it is text (items, APIs).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ReferralSource {
    Member(JkosId),
    Campaign(CampaignSource),
}

impl ReferralSource {
    const MEMBER: &str = "member:";
    const CAMPAIGN: &str = "campaign:";

    pub fn parse(raw: impl AsRef<str>) -> Result<Self, ValidationError> {
        let raw = raw.as_ref().trim();
        if let Some(id) = raw.strip_prefix(Self::MEMBER) {
            JkosId::parse(id)
                .map(ReferralSource::Member)
                .map_err(|e| ValidationError::new("referral_source", e.message))
        } else if let Some(name) = raw.strip_prefix(Self::CAMPAIGN) {
            CampaignSource::parse(name)
                .map(ReferralSource::Campaign)
                .map_err(|e| ValidationError::new("referral_source", e.message))
        } else {
            Err(ValidationError::new(
                "referral_source",
                "must be member:<jkos id> or campaign:<name>",
            ))
        }
    }

    /// The member who owns the code, for a member's code.
    pub fn member(&self) -> Option<&JkosId> {
        match self {
            ReferralSource::Member(id) => Some(id),
            ReferralSource::Campaign(_) => None,
        }
    }

    /// `MEMBER` or `CAMPAIGN`: the first part of the source's keys.
    pub fn kind(&self) -> &'static str {
        match self {
            ReferralSource::Member(_) => "MEMBER",
            ReferralSource::Campaign(_) => "CAMPAIGN",
        }
    }

    /// The member's jkos id or the campaign's name.
    pub fn name(&self) -> &str {
        match self {
            ReferralSource::Member(id) => id.as_str(),
            ReferralSource::Campaign(name) => name.as_str(),
        }
    }
}

/// The OpenAPI schema: `member:<jkos id>` or `campaign:<name>`, as [`ReferralSource::parse`]
/// accepts them (each part trimmed like the value it names).
impl utoipa::PartialSchema for ReferralSource {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::schema::string(
            concat!(
                "^[",
                super::schema::ws_chars!(),
                "]*(?:member:[",
                super::schema::ws_chars!(),
                "]*[A-Za-z0-9_-]{1,36}|campaign:[",
                super::schema::ws_chars!(),
                "]*[^",
                super::schema::control_chars!(),
                super::schema::ws_chars!(),
                "#](?:[^",
                super::schema::control_chars!(),
                "#]{0,126}[^",
                super::schema::control_chars!(),
                super::schema::ws_chars!(),
                "#])?)[",
                super::schema::ws_chars!(),
                "]*$"
            ),
            "member:<jkos id> (a member's personal codes) or campaign:<name> (a campaign's codes)",
        )
    }
}

impl utoipa::ToSchema for ReferralSource {}

impl From<&JkosId> for ReferralSource {
    fn from(id: &JkosId) -> Self {
        ReferralSource::Member(id.clone())
    }
}

impl TryFrom<String> for ReferralSource {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(raw)
    }
}

impl From<ReferralSource> for String {
    fn from(v: ReferralSource) -> String {
        v.to_string()
    }
}

impl fmt::Display for ReferralSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferralSource::Member(id) => write!(f, "{}{id}", Self::MEMBER),
            ReferralSource::Campaign(name) => write!(f, "{}{name}", Self::CAMPAIGN),
        }
    }
}

impl fmt::Debug for ReferralSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReferralSource({self})")
    }
}

string_newtype!(
    /// A member's phone number (VARCHAR(10), digits, optionally a leading '+').
    ///
    /// `Debug` and `Display` are masked so a phone number cannot leak into logs by accident;
    /// the full number is only reachable through [`PhoneNumber::expose`].
    PhoneNumber,
    validate = |raw| {
        let value = raw.trim();
        let digits = value.strip_prefix('+').unwrap_or(value);
        if digits.len() < 6
            || value.len() > PhoneNumber::MAX_LEN
            || !digits.chars().all(|c| c.is_ascii_digit())
        {
            return Err(ValidationError::new(
                "phone_number",
                "must be 6 to 10 characters: digits, optionally after a leading '+'",
            ));
        }
        Ok(value.to_owned())
    },
    max_len = 10,
    impls()
);

impl PhoneNumber {
    /// The full number, for storage and for the partner that needs it. Never log this.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Keeps the first 4 and last 3 characters: `0912***678`.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        let keep_tail = 3.min(chars.len());
        let keep_head = 4.min(chars.len() - keep_tail);
        let hidden = chars.len() - keep_head - keep_tail;
        let mut out: String = chars[..keep_head].iter().collect();
        out.push_str(&"*".repeat(hidden));
        out.extend(&chars[chars.len() - keep_tail..]);
        out
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_strings_trim_and_enforce_length_and_alphabet() {
        assert_eq!(AccountId::parse("  acc-1 ").unwrap().as_str(), "acc-1");
        assert_eq!(AccountId::parse("").unwrap_err().field, "account_id");
        assert!(AccountId::parse("a".repeat(20)).is_ok());
        assert!(AccountId::parse("a".repeat(21)).is_err());
        assert!(JkosAccount::parse("123456789").is_ok());
        assert!(JkosAccount::parse("1234567890").is_err());
        assert!(JkosId::parse("has space").is_err());
        assert!(EventId::parse("Personal").is_err());
        assert!(CampaignSource::parse("a#b").is_err());
        assert!(EventName::parse("x".repeat(21)).is_err());
    }

    #[test]
    fn a_source_says_whether_it_is_a_member_or_a_campaign() {
        let member = ReferralSource::parse("member:jk-1").unwrap();
        assert_eq!(
            member,
            ReferralSource::from(&JkosId::parse("jk-1").unwrap())
        );
        assert_eq!(member.to_string(), "member:jk-1");
        assert_eq!(member.member().map(JkosId::as_str), Some("jk-1"));
        // A campaign named exactly like a member's jkos id is still a campaign.
        let campaign = ReferralSource::parse("campaign:jk-1").unwrap();
        assert_ne!(campaign, member);
        assert_eq!(campaign.member(), None);
        assert_eq!((campaign.kind(), campaign.name()), ("CAMPAIGN", "jk-1"));
        let spaced = ReferralSource::parse("campaign:Partner Shop").unwrap();
        assert_eq!(spaced.to_string(), "campaign:Partner Shop");
        for bad in [
            "jk-1",
            "member:",
            "member:has space",
            "campaign:a#b",
            "partner:x",
            "",
        ] {
            let err = ReferralSource::parse(bad).unwrap_err();
            assert_eq!(err.field, "referral_source", "{bad}");
        }
        let round: ReferralSource = serde_json::from_str("\"member:jk-1\"").unwrap();
        assert_eq!(serde_json::to_string(&round).unwrap(), "\"member:jk-1\"");
    }

    #[test]
    fn serde_goes_through_validation() {
        let ok: AccountId = serde_json::from_str("\"acc-1\"").unwrap();
        assert_eq!(ok.as_str(), "acc-1");
        let err = serde_json::from_str::<AccountId>("\"\"").unwrap_err();
        assert!(
            err.to_string().contains("account_id: must not be empty"),
            "{err}"
        );
    }

    #[test]
    fn phone_is_masked_in_debug_and_display() {
        let phone = PhoneNumber::parse("0912345678").unwrap();
        assert_eq!(phone.masked(), "0912***678");
        assert_eq!(format!("{phone}"), "0912***678");
        assert_eq!(format!("{phone:?}"), "PhoneNumber(0912***678)");
        assert_eq!(phone.expose(), "0912345678");
        assert_eq!(PhoneNumber::parse("+8869123").unwrap().masked(), "+886*123");
        assert!(PhoneNumber::parse("09123456789").is_err());
        assert!(PhoneNumber::parse("09-1234567").is_err());
    }
}
