//! What `referral-dev` prints: JSON, with personal data masked as the APIs mask it.

use referral_shared::MemberProfile;
use referral_shared::ingest::BatchReport;
use serde_json::{Value, json};

/// A member profile as JSON, the phone number masked (`0912***678`): the profile's own
/// serialization is for storage and carries the full number.
pub fn member(profile: &MemberProfile) -> serde_json::Result<Value> {
    let mut value = serde_json::to_value(profile)?;
    if let Some(object) = value.as_object_mut() {
        match &profile.phone_number {
            Some(phone) => object.insert("phone_number".into(), json!(phone.masked())),
            None => object.remove("phone_number"),
        };
    }
    Ok(value)
}

/// What one MSK batch of `topic` did, as JSON.
pub fn batch(topic: &str, report: &BatchReport) -> Value {
    json!({
        "topic": topic,
        "records": report.records,
        "malformed": report.malformed,
        "parked": report.parked,
        "members_written": report.members_written,
        "write_conflicts": report.conflicts,
        "qualified": report.qualified,
        "rewards_created": report.rewards_created,
        "rewards_queued": report.rewards_queued,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use referral_shared::{AccountId, JkosId, PhoneNumber};

    #[test]
    fn a_member_prints_as_json_with_the_phone_masked() {
        let now = chrono::Utc::now();
        let mut profile = MemberProfile::new(
            AccountId::parse("acc-1").unwrap(),
            JkosId::parse("jk-acc-1").unwrap(),
            now,
        );
        let printed = member(&profile).unwrap();
        assert_eq!(printed["account_id"], "acc-1");
        assert!(printed.get("phone_number").is_none());
        profile.phone_number = Some(PhoneNumber::parse("0987650777").unwrap());
        let printed = member(&profile).unwrap();
        assert_eq!(printed["phone_number"], "0987***777");
        assert!(!printed.to_string().contains("0987650777"));
    }
}
