//! Member profiles (`member_profile`): who a member is, the code they registered with and
//! their progress towards "success" (KYC passed AND device bound).

use super::{
    AccountId, EventId, IdentityHash, JkosAccount, JkosId, PhoneNumber, ReferralCode,
    ReferralSource, RewardId, RuleReason,
};
use crate::time::{self, Instant};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberProfile {
    pub account_id: AccountId,
    pub jkos_id: JkosId,
    /// Known once `rd2_member_info` has been consumed (it may arrive after registration events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkos_account: Option<JkosAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<PhoneNumber>,
    /// When the account module created the member.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::millis_opt"
    )]
    pub registered_at: Option<Instant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<ReferralUse>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::millis_opt"
    )]
    pub kyc_pass_time: Option<Instant>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::millis_opt"
    )]
    pub device_bind_time: Option<Instant>,
    /// The keyed hash of the device of the first `DEVICE_BOUND` that named one (never the
    /// device id itself), for the one-reward-per-device rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key: Option<IdentityHash>,
    /// Set exactly once, when both times are known ("success").
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::millis_opt"
    )]
    pub qualified_at: Option<Instant>,
    /// The member's own PERSONAL code, issued when they qualified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_code: Option<ReferralCode>,
    /// What became of the two-sided rewards; set once, when they fell due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_grant: Option<RewardGrant>,
    /// Whether the `JKOS#<jkos id>` item binding this jkos id to this account was written with
    /// the profile (one jkos id is one member, ADR 0010). The store writes the binding, on
    /// condition that it is absent or names this account, with every profile write that finds
    /// this false: a profile's first write, or the first write of one stored before bindings.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub jkos_id_bound: bool,
    /// Optimistic-lock counter: every write of the profile is conditional on it.
    #[serde(default)]
    pub version: u64,
    #[serde(with = "time::millis")]
    pub created_at: Instant,
    #[serde(with = "time::millis")]
    pub updated_at: Instant,
}

impl MemberProfile {
    pub fn new(account_id: AccountId, jkos_id: JkosId, now: Instant) -> Self {
        Self {
            account_id,
            jkos_id,
            jkos_account: None,
            phone_number: None,
            registered_at: None,
            referral: None,
            kyc_pass_time: None,
            device_bind_time: None,
            device_key: None,
            qualified_at: None,
            own_code: None,
            reward_grant: None,
            jkos_id_bound: false,
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// The qualifying moment: the later of the KYC and device times, once both are known.
    pub fn success_time(&self) -> Option<Instant> {
        Some(self.kyc_pass_time?.max(self.device_bind_time?))
    }

    /// The referral that counts for rewards, if the member registered with an accepted code.
    pub fn accepted_referral(&self) -> Option<(&ReferralCode, &EventId, &ReferralSource)> {
        match &self.referral {
            Some(ReferralUse {
                code,
                outcome:
                    ReferralOutcome::Accepted {
                        event_id,
                        referrer_source,
                    },
                ..
            }) => Some((code, event_id, referrer_source)),
            _ => None,
        }
    }
}

/// The code a member registered with and what we made of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralUse {
    pub code: ReferralCode,
    #[serde(with = "time::millis")]
    pub used_at: Instant,
    pub outcome: ReferralOutcome,
    /// The event of the code used, when the code exists, whatever the outcome (a rejected
    /// use's funnel is its code's event's, ADR 0008); absent on uses recorded before the
    /// funnel existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// The keyed hash of the code owner's phone, as their code recorded it (for the
    /// self-referral rule; absent when the owner's phone was not known as the code was issued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_phone: Option<IdentityHash>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReferralOutcome {
    Accepted {
        event_id: EventId,
        referrer_source: ReferralSource,
    },
    Rejected {
        reason: RejectionReason,
    },
}

/// The outcome of the rewards of a qualified referee who registered with an accepted code.
/// Set once ([`RewardGrant::is_final`]), except while it waits for the referee's phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RewardGrant {
    /// Reward records were created (ids `<account>-referrer` / `<account>-referee`): `count`
    /// of them, the referee's first when there is one only.
    Issued {
        #[serde(with = "time::millis")]
        at: Instant,
        window_id: super::WindowId,
        count: u8,
        /// Why the referrer side was not rewarded (`REFERRER_CAP_REACHED`), if it was not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        referrer_withheld: Option<RuleReason>,
        /// The milestone bonus this referee's reward unlocked for the referrer, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        milestone: Option<RewardId>,
        /// The rewards created HELD or CLAIMABLE: never re-sent to payout with the others
        /// (an admin's approval or the member's claim sends them).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        waiting: Vec<RewardId>,
    },
    /// A rule withheld both sides' rewards: no reward records.
    Withheld {
        #[serde(with = "time::millis")]
        at: Instant,
        window_id: super::WindowId,
        reason: RuleReason,
    },
    /// The event's rules need the referee's phone and member info has not brought it yet:
    /// decided when it does (not final).
    AwaitingPhone {
        #[serde(with = "time::millis")]
        since: Instant,
    },
    /// The code's event had no content window active at the qualifying moment: no rewards.
    NoActiveWindow {
        #[serde(with = "time::millis")]
        at: Instant,
    },
}

impl RewardGrant {
    /// Whether the grant is decided for good (everything but [`RewardGrant::AwaitingPhone`]).
    pub fn is_final(&self) -> bool {
        !matches!(self, RewardGrant::AwaitingPhone { .. })
    }
}

/// Why a used code does not count; recorded, never silently dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectionReason {
    UnknownCode,
    OwnCode,
    NoActiveWindow,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn success_needs_both_times_and_is_the_later_one() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, 0).unwrap();
        let mut m = MemberProfile::new(
            AccountId::parse("a1").unwrap(),
            JkosId::parse("j1").unwrap(),
            t0,
        );
        assert_eq!(m.success_time(), None);
        m.device_bind_time = Some(t0 + chrono::Duration::hours(2));
        assert_eq!(m.success_time(), None);
        m.kyc_pass_time = Some(t0 + chrono::Duration::hours(1));
        assert_eq!(m.success_time(), Some(t0 + chrono::Duration::hours(2)));
    }
}
