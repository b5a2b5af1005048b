//! Rewards (`referral_reward`): one per side per qualified referee, with frozen terms.

use super::newtype::string_newtype;
use super::{
    AccountId, Day, EventId, JkosId, MemberProfile, ReferralCode, ReferralSource, RewardTerms,
    Side, ValidationError, WindowId,
};
use crate::time::{self, Instant};
use serde::{Deserialize, Serialize};

string_newtype!(
    /// `<referee account id>-<side>`, e.g. `acc-42-referrer`. Deterministic on purpose: the same
    /// referee and side can only ever name one reward, so a conditional put enforces "one reward
    /// per side per referee", and the id doubles as the finance idempotency key. A milestone
    /// bonus is `milestone.<n>.<event id>.<referrer jkos id>` (see `milestone.rs`): one per
    /// referrer, event and milestone, whichever referee reached it.
    #[derive(PartialOrd, Ord)]
    RewardId,
    validate = |raw| {
        let raw = raw.trim();
        if super::milestone::is_milestone_id(raw) {
            return Ok(raw.to_owned());
        }
        for side in Side::BOTH {
            let suffix = format!("-{}", side.as_str().to_ascii_lowercase());
            if let Some(account) = raw.strip_suffix(&suffix)
                && AccountId::parse(account).is_ok_and(|a| a.as_str() == account)
            {
                return Ok(raw.to_owned());
            }
        }
        Err(ValidationError::new(
            "reward_id",
            "must be <account id>-referrer or <account id>-referee (a milestone bonus: milestone.<n>.<event id>.<jkos id>)",
        ))
    },
    // What `parse` accepts: `<account id>-referrer`, `<account id>-referee` or a milestone's id.
    schema = super::schema::string(
        super::schema::trimmed!(
            "(?:[A-Za-z0-9_-]{1,20}-(?:referrer|referee)|milestone\\.[1-9][0-9]{0,6}\\.[a-z0-9-]{1,64}\\.[A-Za-z0-9_-]{1,36})"
        ),
        "<referee account id>-referrer, <referee account id>-referee, or milestone.<n>.<event id>.<referrer jkos id>",
    ),
    impls(as_str, display, debug_plain)
);

impl RewardId {
    pub fn new(referee: &AccountId, side: Side) -> Self {
        Self(format!(
            "{}-{}",
            referee.as_str(),
            side.as_str().to_ascii_lowercase()
        ))
    }
}

string_newtype!(
    /// Why a reward is HELD or REJECTED, or why a side was not rewarded: an upper-case code
    /// such as `REVIEW_VELOCITY`, `REVIEW_AMOUNT` or `REJECTED_BY_ADMIN` (never personal data).
    #[derive(PartialOrd, Ord)]
    ReasonCode,
    validate = |raw| {
        let raw = raw.trim();
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        if first_ok
            && raw.len() <= ReasonCode::MAX_LEN
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            Ok(raw.to_owned())
        } else {
            Err(ValidationError::new(
                "reason",
                "must be an upper-case code: A-Z first, then A-Z, 0-9 or '_'; 1 to 64 characters",
            ))
        }
    },
    max_len = 64,
    schema = super::schema::string(
        super::schema::trimmed!("[A-Z][A-Z0-9_]{0,63}"),
        "an upper-case reason code, e.g. REVIEW_VELOCITY, REJECTED_BY_ADMIN",
    ),
    impls(as_str, display, debug_plain)
);

impl ReasonCode {
    /// HELD: the referrer qualified too many referees in the last 24 hours.
    pub fn review_velocity() -> Self {
        Self("REVIEW_VELOCITY".into())
    }
    /// HELD: the amount is at or above the review threshold.
    pub fn review_amount() -> Self {
        Self("REVIEW_AMOUNT".into())
    }
    /// HELD: a milestone bonus of an event under review holds (the referees it counts may
    /// still be held, and rejected).
    pub fn review_milestone() -> Self {
        Self("REVIEW_MILESTONE".into())
    }
    /// REJECTED by an admin who gave no more precise code.
    pub fn rejected_by_admin() -> Self {
        Self("REJECTED_BY_ADMIN".into())
    }
}

/// `reward_status`. PENDING is "queued for payout"; HELD waits for an admin, CLAIMABLE for
/// the member's claim; SUCCESS, FAIL, REJECTED and EXPIRED are ends (FAIL until an admin
/// retries). The transitions are in `lifecycle.rs` (docs/reward-lifecycle.md).
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
pub enum RewardStatus {
    Pending,
    Success,
    Fail,
    /// Waiting for an admin's review (approve → PENDING, reject → REJECTED).
    Held,
    /// Waiting for the member's claim until `claim_deadline` (claim → PENDING, else EXPIRED).
    Claimable,
    /// Refused by an admin's review: never paid.
    Rejected,
    /// Not claimed before its deadline: never paid.
    Expired,
}

impl RewardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RewardStatus::Pending => "PENDING",
            RewardStatus::Success => "SUCCESS",
            RewardStatus::Fail => "FAIL",
            RewardStatus::Held => "HELD",
            RewardStatus::Claimable => "CLAIMABLE",
            RewardStatus::Rejected => "REJECTED",
            RewardStatus::Expired => "EXPIRED",
        }
    }
}

/// The status a new reward starts in, with what that status needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewardStart {
    /// Queued for payout at once (the consumer hands it to the payout queue).
    Pending,
    /// Held for an admin's review, with why.
    Held(ReasonCode),
    /// Waits for the member's claim, which must come before `deadline` (exclusive).
    Claimable { deadline: Instant },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reward {
    pub reward_id: RewardId,
    pub side: Side,
    /// Who is paid: the code's owner for REFERRER, the referee for REFEREE.
    pub member_jkos_id: JkosId,
    pub referee_account_id: AccountId,
    pub referee_jkos_id: JkosId,
    /// The code the referee registered with, its event and its owner.
    pub code: ReferralCode,
    pub event_id: EventId,
    pub referrer_source: ReferralSource,
    /// Frozen from the content window active at `qualified_at`.
    pub terms: RewardTerms,
    #[serde(with = "time::millis")]
    pub qualified_at: Instant,
    pub status: RewardStatus,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation_id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::millis_opt"
    )]
    pub paid_at: Option<Instant>,
    /// Why the reward is (or was) HELD, or why it was REJECTED; absent otherwise (and on
    /// rewards written before reasons existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonCode>,
    /// A CLAIMABLE reward's deadline: the claim must come before it (exclusive); from it on
    /// the reward may be EXPIRED. Kept after the claim or the expiry.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::millis_opt"
    )]
    pub claim_deadline: Option<Instant>,
    /// When the member claimed it (CLAIMABLE → PENDING).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::millis_opt"
    )]
    pub claimed_at: Option<Instant>,
    /// When an admin approved or rejected it (HELD → PENDING / REJECTED), and who (the
    /// admin token's subject).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::millis_opt"
    )]
    pub reviewed_at: Option<Instant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
    /// The referee's phone, masked (`0912***678`), for the `{referee_phone}` placeholder of
    /// the notification; captured when the reward is created, if the number was known then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referee_phone_masked: Option<String>,
    /// What became of the member's notification after payment; absent until it was tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<NotificationOutcome>,
    #[serde(with = "time::millis")]
    pub created_at: Instant,
    #[serde(with = "time::millis")]
    pub updated_at: Instant,
    /// The funnel day the reward is counted on (ADR 0008): its creation's calendar day in the
    /// event's time zone, stamped by the grant that creates it, so every later status change
    /// moves the count on the same counter item whatever the event's time zone says by then.
    /// Absent on a reward no counted write created (test fixtures): such a reward is in no
    /// funnel, and its status changes move no counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funnel_day: Option<Day>,
}

impl Reward {
    /// Whether payout may never have seen this reward: PENDING and no attempt recorded. A
    /// reward that payout tried (it is retrying, its message alive in the queue) or finished
    /// is known to be queued or done; only the others are re-sent when a redelivered batch
    /// finds its grant already written (ADR 0004).
    pub fn may_be_unqueued(&self) -> bool {
        self.status == RewardStatus::Pending && self.attempts == 0
    }

    /// The reward of `side` that falls due when `referee` qualifies at `qualified_at`, with
    /// `terms` frozen: PENDING, never tried, created at `now`. Everything else comes from the
    /// referee's profile: their accepted referral (code, event, owner) and their phone, masked.
    ///
    /// The payee is the code's owner for [`Side::Referrer`] and the referee for
    /// [`Side::Referee`]. None when the referee has no accepted referral, or for the referrer
    /// side of a campaign's code (its owner is a campaign, not a member: nobody to pay).
    pub fn pending(
        referee: &MemberProfile,
        side: Side,
        terms: RewardTerms,
        qualified_at: Instant,
        now: Instant,
    ) -> Option<Self> {
        Self::create(
            referee,
            side,
            terms,
            qualified_at,
            now,
            RewardStart::Pending,
        )
    }

    /// As [`Self::pending`], but HELD for an admin's review with `reason`.
    pub fn held(
        referee: &MemberProfile,
        side: Side,
        terms: RewardTerms,
        qualified_at: Instant,
        now: Instant,
        reason: ReasonCode,
    ) -> Option<Self> {
        let start = RewardStart::Held(reason);
        Self::create(referee, side, terms, qualified_at, now, start)
    }

    /// As [`Self::pending`], but CLAIMABLE by the payee before `deadline`.
    pub fn claimable(
        referee: &MemberProfile,
        side: Side,
        terms: RewardTerms,
        qualified_at: Instant,
        now: Instant,
        deadline: Instant,
    ) -> Option<Self> {
        let start = RewardStart::Claimable { deadline };
        Self::create(referee, side, terms, qualified_at, now, start)
    }

    /// The one constructor behind [`Self::pending`], [`Self::held`] and [`Self::claimable`]:
    /// the reward starts as `start` says. A claim deadline is kept to the millisecond (the
    /// stored form), so the store's conditions compare what the reward shows.
    pub fn create(
        referee: &MemberProfile,
        side: Side,
        terms: RewardTerms,
        qualified_at: Instant,
        now: Instant,
        start: RewardStart,
    ) -> Option<Self> {
        let (status, reason, claim_deadline) = match start {
            RewardStart::Pending => (RewardStatus::Pending, None, None),
            RewardStart::Held(reason) => (RewardStatus::Held, Some(reason), None),
            RewardStart::Claimable { deadline } => (
                RewardStatus::Claimable,
                None,
                Some(time::truncate_millis(deadline)),
            ),
        };
        let (code, event_id, source) = referee.accepted_referral()?;
        let payee = match side {
            Side::Referrer => source.member()?.clone(),
            Side::Referee => referee.jkos_id.clone(),
        };
        Some(Self {
            reward_id: RewardId::new(&referee.account_id, side),
            side,
            member_jkos_id: payee,
            referee_account_id: referee.account_id.clone(),
            referee_jkos_id: referee.jkos_id.clone(),
            code: code.clone(),
            event_id: event_id.clone(),
            referrer_source: source.clone(),
            terms,
            qualified_at,
            status,
            attempts: 0,
            last_error: None,
            compensation_id: None,
            paid_at: None,
            reason,
            claim_deadline,
            claimed_at: None,
            reviewed_at: None,
            reviewed_by: None,
            referee_phone_masked: referee.phone_number.as_ref().map(|p| p.masked()),
            notification: None,
            created_at: now,
            updated_at: now,
            funnel_day: None,
        })
    }
}

/// Where a member is told about a reward: in the app, as an out-of-app push, or in the
/// member's message box (msg-hub's channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    InApp,
    Push,
    Box,
}

impl Channel {
    /// The order a notification's messages are sent in.
    pub const ALL: [Channel; 3] = [Channel::InApp, Channel::Push, Channel::Box];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::InApp => "IN_APP",
            Channel::Push => "PUSH",
            Channel::Box => "BOX",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationStatus {
    /// Every channel accepted its message.
    Sent,
    /// Some channels accepted, others refused or kept failing.
    Partial,
    /// No channel accepted (after the one retry).
    Failed,
    /// The event has no notification template for this side at payout time: nothing sent.
    NoTemplate,
}

/// The outcome of notifying the paid member, recorded on the reward (never undoes payment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationOutcome {
    pub status: NotificationStatus,
    #[serde(with = "time::millis")]
    #[schema(schema_with = super::schema::instant)]
    pub at: Instant,
    /// The template window used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_id: Option<WindowId>,
    /// msg-hub calls made, retries included.
    pub calls: u32,
    #[serde(default)]
    pub sent: Vec<Channel>,
    #[serde(default)]
    pub not_sent: Vec<Channel>,
    /// The last msg-hub error (status and code; no personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reward_id_is_deterministic_per_referee_and_side() {
        let acc = AccountId::parse("acc-42").unwrap();
        assert_eq!(
            RewardId::new(&acc, Side::Referrer).as_str(),
            "acc-42-referrer"
        );
        assert_eq!(
            RewardId::new(&acc, Side::Referee).as_str(),
            "acc-42-referee"
        );
        assert_eq!(
            RewardId::parse("acc-42-referee").unwrap(),
            RewardId::new(&acc, Side::Referee)
        );
        assert!(RewardId::parse("acc-42").is_err());
        assert!(RewardId::parse("acc 42-referee").is_err());
        assert!(RewardId::parse("-referee").is_err());
    }

    #[test]
    fn reason_codes_are_upper_case_codes() {
        assert_eq!(
            ReasonCode::parse(" REVIEW_AMOUNT ").unwrap(),
            ReasonCode::review_amount()
        );
        assert_eq!(
            ReasonCode::parse("REJECTED_BY_ADMIN").unwrap(),
            ReasonCode::rejected_by_admin()
        );
        ReasonCode::parse("FRAUD_RING_2").unwrap();
        for bad in ["", "review", "2FAST", "A-B", "A B", &"A".repeat(65)] {
            assert!(ReasonCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn statuses_are_written_upper_case() {
        for status in RewardStatus::ALL {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, serde_json::json!(status.as_str()));
            let back: RewardStatus = serde_json::from_value(json).unwrap();
            assert_eq!(back, status);
        }
    }
}
