//! The reward rules of an event, as typed configuration ([`RewardRules`], validated here, once),
//! and the one pure decision that applies them when a referee's rewards fall due
//! ([`decide_grant`]). What the decision needs from the store (the referrer's counters, whether
//! the phone or device was rewarded before) comes in as [`RuleFacts`]; what it must write back
//! comes out as [`RuleWrites`], written in the same transaction as the rewards, each under a
//! condition that fails if the facts changed since they were read (the consumer then re-reads
//! and decides again). `docs/rules.md` is the prose version, with examples.
//!
//! Absent rules ([`RewardRules::is_off`]) decide exactly what the event decided before rules
//! existed: both sides rewarded, PENDING, nothing else read or written.

use super::{
    AccountId, EventId, IdentityHash, IdentityKey, JkosId, MemberProfile, ReasonCode, RewardAmount,
    RewardStart, RewardTerms, ValidationError, WindowId,
};
use crate::time::{self, Instant};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an event's rewards are subject to. Every rule is optional; none = no rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RewardRules {
    /// At most this many rewarded referees per referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_cap: Option<ReferrerCap>,
    /// A phone number rewarded once as a referee (under any event with this rule) is never
    /// rewarded again (`PHONE_ALREADY_REWARDED`). A referee whose phone is not known yet waits
    /// for it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub one_reward_per_phone: bool,
    /// The same for the device of `DEVICE_BOUND` (`DEVICE_ALREADY_REWARDED`); applies to
    /// referees whose `DEVICE_BOUND` carried a `device_id`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub one_reward_per_device: bool,
    /// A referee whose phone is the code owner's phone gets nothing (`SELF_REFERRAL`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub refuse_self_referral: bool,
    /// KYC and device must both be done within this many days of the code's use
    /// (`QUALIFICATION_EXPIRED`; the member still becomes a referrer).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    #[schema(minimum = 1, maximum = 365)]
    pub qualification_days: Option<u32>,
    /// When rewards are HELD for an admin's review instead of being paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_hold: Option<ReviewHold>,
    /// Bonuses for the referrer's Nth rewarded referee in the event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub milestones: Vec<Milestone>,
    /// Rewards become CLAIMABLE; the member claims them within this many days.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    #[schema(minimum = 1, maximum = 365)]
    pub claim_days: Option<u32>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Counts and days as JSON Schema's `integer` reads them: `7` and `7.0` alike (a client or a
/// generator may write a whole number with a fraction), anything else refused.
mod whole {
    use serde::Deserializer;
    use serde::de::{Error, Visitor};
    use std::fmt;

    struct Whole;

    impl Visitor<'_> for Whole {
        type Value = u32;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number from 0 to 4294967295")
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom("is too large"))
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom("must not be negative"))
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<u32, E> {
            if v.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&v) {
                return Err(E::custom("must be a whole number"));
            }
            Ok(v as u32)
        }
    }

    pub(super) fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        d.deserialize_any(Whole)
    }

    pub(super) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        struct Maybe;
        impl<'de> Visitor<'de> for Maybe {
            type Value = Option<u32>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number or null")
            }
            fn visit_none<E: Error>(self) -> Result<Option<u32>, E> {
                Ok(None)
            }
            fn visit_unit<E: Error>(self) -> Result<Option<u32>, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<u32>, D::Error> {
                number(d).map(Some)
            }
        }
        d.deserialize_option(Maybe)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferrerCap {
    #[serde(deserialize_with = "whole::number")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub max_referees: u32,
    pub per: CapScope,
    /// Whether the referee is still rewarded once their referrer reached the cap (default:
    /// yes; only the referrer side is withheld).
    #[serde(default = "yes")]
    pub referee_rewarded_beyond_cap: bool,
}

fn yes() -> bool {
    true
}

/// What a referrer cap counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CapScope {
    /// The whole event.
    Event,
    /// Each content window (reward terms period) of the event separately.
    ContentWindow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewHold {
    /// Hold both rewards of a referee when their referrer already had this many referees
    /// rewarded in the 24 hours before this one qualified (`REVIEW_VELOCITY`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole::optional"
    )]
    #[schema(minimum = 1, maximum = 1000)]
    pub referees_per_24h: Option<u32>,
    /// Hold any reward whose amount is at least this (`REVIEW_AMOUNT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_at_least: Option<RewardAmount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    /// The referrer's Nth rewarded referee in the event grants the bonus.
    #[serde(deserialize_with = "whole::number")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub nth: u32,
    pub reward: RewardTerms,
}

impl RewardRules {
    pub const MAX_DAYS: u32 = 365;
    pub const MAX_CAP: u32 = 1_000_000;
    pub const MAX_VELOCITY: u32 = 1_000;
    pub const MAX_MILESTONES: usize = 10;

    /// No rule at all: the event behaves as before rules existed.
    pub fn is_off(&self) -> bool {
        self == &Self::default()
    }

    /// The one validation of rules, whoever writes them (part of [`super::EventConfig::validate`]).
    pub fn validate(&self) -> Result<(), ValidationError> {
        let days = |field: &'static str, d: Option<u32>| match d {
            Some(d) if d == 0 || d > Self::MAX_DAYS => Err(ValidationError::new(
                field,
                format!("must be 1 to {} days", Self::MAX_DAYS),
            )),
            _ => Ok(()),
        };
        days("rules.qualification_days", self.qualification_days)?;
        days("rules.claim_days", self.claim_days)?;
        if let Some(cap) = &self.referrer_cap
            && (cap.max_referees == 0 || cap.max_referees > Self::MAX_CAP)
        {
            return Err(ValidationError::new(
                "rules.referrer_cap.max_referees",
                format!("must be 1 to {}", Self::MAX_CAP),
            ));
        }
        if let Some(hold) = &self.review_hold {
            if hold.referees_per_24h.is_none() && hold.amount_at_least.is_none() {
                return Err(ValidationError::new(
                    "rules.review_hold",
                    "needs referees_per_24h, amount_at_least or both",
                ));
            }
            if let Some(v) = hold.referees_per_24h
                && (v == 0 || v > Self::MAX_VELOCITY)
            {
                return Err(ValidationError::new(
                    "rules.review_hold.referees_per_24h",
                    format!("must be 1 to {}", Self::MAX_VELOCITY),
                ));
            }
        }
        if self.milestones.len() > Self::MAX_MILESTONES {
            return Err(ValidationError::new(
                "rules.milestones",
                format!("at most {} milestones", Self::MAX_MILESTONES),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for m in &self.milestones {
            if m.nth == 0 || m.nth > Self::MAX_CAP {
                return Err(ValidationError::new(
                    "rules.milestones.nth",
                    format!("must be 1 to {}", Self::MAX_CAP),
                ));
            }
            if !seen.insert(m.nth) {
                return Err(ValidationError::new(
                    "rules.milestones.nth",
                    format!("milestone {} is listed twice", m.nth),
                ));
            }
            if let Some(cap) = &self.referrer_cap
                && cap.per == CapScope::Event
                && m.nth > cap.max_referees
            {
                return Err(ValidationError::new(
                    "rules.milestones.nth",
                    format!(
                        "milestone {} can never be reached under a cap of {} per event",
                        m.nth, cap.max_referees
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The first rule set that concerns the code's owner, by its field: the referrer's cap,
    /// velocity hold and milestones count a member's referees, and self-referral compares with
    /// a member's phone. None of them can apply to a campaign's code (no owner member).
    pub fn owner_rule(&self) -> Option<&'static str> {
        if self.referrer_cap.is_some() {
            Some("rules.referrer_cap")
        } else if self
            .review_hold
            .is_some_and(|h| h.referees_per_24h.is_some())
        {
            Some("rules.review_hold.referees_per_24h")
        } else if !self.milestones.is_empty() {
            Some("rules.milestones")
        } else if self.refuse_self_referral {
            Some("rules.refuse_self_referral")
        } else {
            None
        }
    }

    /// Whether deciding needs the referrer's counters (cap, velocity or milestones).
    fn counts_referrers(&self) -> bool {
        self.referrer_cap.is_some()
            || self
                .review_hold
                .is_some_and(|h| h.referees_per_24h.is_some())
            || !self.milestones.is_empty()
    }

    /// Whether deciding needs the referee's phone (to compare or to claim it).
    pub fn needs_phone(&self) -> bool {
        self.one_reward_per_phone || self.refuse_self_referral
    }

    /// Whether deciding needs a keyed hash (so the consumer must hold the identity key).
    pub fn needs_identity_key(&self) -> bool {
        self.needs_phone() || self.one_reward_per_device
    }

    /// Whether deciding reads the store (counters, identity claims): the launch import, which
    /// reads none of it, leaves such a grant due for the consumers.
    pub fn needs_store_facts(&self) -> bool {
        self.counts_referrers() || self.one_reward_per_phone || self.one_reward_per_device
    }
}

/// Why a rule withheld a side's reward (recorded on the referee's profile, so nothing is
/// withheld silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleReason {
    ReferrerCapReached,
    PhoneAlreadyRewarded,
    DeviceAlreadyRewarded,
    SelfReferral,
    QualificationExpired,
}

impl RuleReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleReason::ReferrerCapReached => "REFERRER_CAP_REACHED",
            RuleReason::PhoneAlreadyRewarded => "PHONE_ALREADY_REWARDED",
            RuleReason::DeviceAlreadyRewarded => "DEVICE_ALREADY_REWARDED",
            RuleReason::SelfReferral => "SELF_REFERRAL",
            RuleReason::QualificationExpired => "QUALIFICATION_EXPIRED",
        }
    }
}

/// One qualifying time, stored to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Stamp(#[serde(with = "time::millis")] pub Instant);

/// A referrer's counters in one event (one item per event and referrer), read before the
/// decision and written back with the rewards under "version unchanged".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferrerStats {
    pub event_id: EventId,
    pub referrer: JkosId,
    /// Referees whose referrer side was rewarded, in the whole event (cap per event,
    /// milestones).
    #[serde(default)]
    pub rewarded: u32,
    /// The same per content window (cap per content window).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rewarded_in: BTreeMap<WindowId, u32>,
    /// The qualifying times of the newest referees rewarded (either side), at most the
    /// velocity threshold of them, oldest first (review hold per 24 hours).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<Stamp>,
    /// Optimistic lock: 0 = the item does not exist yet.
    #[serde(default)]
    pub version: u64,
}

impl ReferrerStats {
    /// The counters of a referrer who has none yet in `event`, rebuilt from what was granted
    /// before (rules that count turned on in the middle of an event, `docs/rules.md`): their
    /// referees' rewards and profiles, as read from their collection. Counts as the decision
    /// would have: `rewarded` = referrer-side rewards of the event (not milestone bonuses,
    /// whatever their status: counters only grow), per content window by the referee's grant;
    /// `recent` = the qualifying times of the event's referee-side rewards (the decision keeps
    /// the newest it needs). Version 0: written only if still absent.
    pub fn rebuilt(
        event_id: EventId,
        referrer: JkosId,
        referees: &[MemberProfile],
        rewards: &[super::Reward],
    ) -> Self {
        let mut stats = Self::empty(event_id, referrer);
        let of_event = |r: &&super::Reward| r.event_id == stats.event_id;
        let mut windows = BTreeMap::new();
        for reward in rewards.iter().filter(of_event) {
            match reward.side {
                super::Side::Referrer if reward.member_jkos_id == stats.referrer => {
                    if reward.reward_id.milestone_rank().is_some() {
                        continue;
                    }
                    stats.rewarded += 1;
                    let window = referees
                        .iter()
                        .find(|m| m.account_id == reward.referee_account_id)
                        .and_then(|m| match &m.reward_grant {
                            Some(super::RewardGrant::Issued { window_id, .. }) => {
                                Some(window_id.clone())
                            }
                            _ => None,
                        });
                    if let Some(window) = window {
                        *windows.entry(window).or_insert(0) += 1;
                    }
                }
                super::Side::Referee => stats.recent.push(Stamp(reward.qualified_at)),
                super::Side::Referrer => {}
            }
        }
        stats.rewarded_in = windows;
        stats.recent.sort();
        stats
    }

    pub fn empty(event_id: EventId, referrer: JkosId) -> Self {
        Self {
            event_id,
            referrer,
            rewarded: 0,
            rewarded_in: BTreeMap::new(),
            recent: Vec::new(),
            version: 0,
        }
    }
}

/// The uniqueness item of a phone or device rewarded as a referee (across events): its key is the
/// keyed hash, its content the account it was rewarded for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityClaim {
    pub event_id: EventId,
    pub kind: IdentityKind,
    pub hash: IdentityHash,
    pub account_id: AccountId,
    #[serde(with = "time::millis")]
    pub claimed_at: Instant,
    /// Written over a released claim (its referee reward ended unpaid): the account that claim
    /// named, which the write requires to be still there. Not stored.
    #[serde(skip)]
    pub replaces: Option<AccountId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdentityKind {
    Phone,
    Device,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Phone => "PHONE",
            IdentityKind::Device => "DEVICE",
        }
    }
}

/// The stored state a decision depends on; which of it to read is [`FactKeys`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFacts {
    /// The referrer's counters (None: never written, or not needed).
    pub referrer: Option<ReferrerStats>,
    /// The account the phone was rewarded for (under any event), if it was.
    pub phone_owner: Option<AccountId>,
    /// The account the device was rewarded for (under any event), if it was.
    pub device_owner: Option<AccountId>,
    /// A phone claim that no longer counts: the referee reward it was written for ended
    /// unpaid (REJECTED or EXPIRED). Its account; the phone is free to be claimed again.
    pub phone_released: Option<AccountId>,
    /// The same for the device.
    pub device_released: Option<AccountId>,
    /// The phone on the code owner's profile, read when the code did not record the keyed
    /// hash of its owner's phone (codes of the launch import, or issued before the phone was
    /// known) and self-referral is refused.
    pub owner_phone: Option<super::PhoneNumber>,
}

/// What to read before deciding: all of it in one BatchGetItem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactKeys {
    pub event_id: EventId,
    pub referrer: Option<JkosId>,
    pub phone: Option<IdentityHash>,
    pub device: Option<IdentityHash>,
    /// The code owner whose profile's phone the self-referral rule needs (their code recorded
    /// none).
    pub owner_phone_of: Option<JkosId>,
}

/// What the decision writes with the rewards, each conditionally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleWrites {
    /// The referrer's counters after this referee, written if their version is still
    /// `version - 1` (or the item is absent when it is 1).
    pub referrer: Option<Box<ReferrerStats>>,
    /// Phone and device claims, written if absent (or over the released claim they replace).
    pub claims: Vec<IdentityClaim>,
}

impl RuleWrites {
    /// Items this adds to the qualification's transaction.
    pub fn actions(&self) -> usize {
        usize::from(self.referrer.is_some()) + self.claims.len()
    }
}

/// What the rules decided for one referee whose rewards fell due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Read these first, then decide again with them.
    NeedFacts(Box<FactKeys>),
    /// The referee's phone is needed and not known yet: decide when member info brings it.
    AwaitPhone,
    /// The rules need a keyed hash and this process has no identity key: nothing decided.
    NoIdentityKey,
    /// No reward for either side.
    Withheld(RuleReason),
    Grant(Grant),
}

/// How each side's reward starts (None with a reason: withheld), the bonus, what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub referrer: Result<RewardStart, RuleReason>,
    pub referee: Result<RewardStart, RuleReason>,
    /// The milestone reached by this referee: its rank and bonus terms, and how it starts.
    pub milestone: Option<(u32, RewardTerms, RewardStart)>,
    pub writes: RuleWrites,
}

impl Grant {
    fn plain() -> Self {
        Self {
            referrer: Ok(RewardStart::Pending),
            referee: Ok(RewardStart::Pending),
            milestone: None,
            writes: RuleWrites::default(),
        }
    }
}

/// Everything about one due grant that the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct GrantCase<'a> {
    pub referee: &'a MemberProfile,
    /// The code's owner when it is a member (None for a campaign's code).
    pub referrer: Option<&'a JkosId>,
    /// The keyed hash of the code owner's phone, when it was known as the code was issued.
    pub referrer_phone: Option<&'a IdentityHash>,
    pub event_id: &'a EventId,
    pub window_id: &'a WindowId,
    /// The terms of each side and the moment the referee qualified.
    pub referrer_terms: RewardTerms,
    pub referee_terms: RewardTerms,
    pub used_at: Instant,
    pub qualified_at: Instant,
    pub now: Instant,
}

/// The rules' decision for `case`. `facts` is what was read for the [`FactKeys`] of an
/// earlier [`Verdict::NeedFacts`] (None on the first call).
pub fn decide_grant(
    rules: &RewardRules,
    case: GrantCase<'_>,
    key: Option<&IdentityKey>,
    facts: Option<&RuleFacts>,
) -> Verdict {
    if rules.is_off() {
        return Verdict::Grant(Grant::plain());
    }
    let member = case.referee;
    if let Some(days) = rules.qualification_days
        && case.qualified_at - case.used_at > TimeDelta::days(i64::from(days))
    {
        return Verdict::Withheld(RuleReason::QualificationExpired);
    }
    let key = match (rules.needs_identity_key(), key) {
        (true, None) => return Verdict::NoIdentityKey,
        (_, key) => key,
    };
    // A member's code that recorded no owner phone (the launch import's, or issued before the
    // phone was known): the owner's phone is read from their profile instead.
    let owner_unknown = (rules.refuse_self_referral && case.referrer_phone.is_none())
        .then_some(case.referrer)
        .flatten();
    // Waiting for the phone only makes sense when it can decide something: the phone rule, or
    // a self-referral check against the code owner's phone.
    let phone_needed = rules.one_reward_per_phone
        || (rules.refuse_self_referral
            && (case.referrer_phone.is_some() || owner_unknown.is_some()));
    let phone = match (&member.phone_number, key) {
        (Some(p), Some(k)) if phone_needed => Some(k.phone(p)),
        (None, _) if phone_needed => return Verdict::AwaitPhone,
        _ => None,
    };
    if rules.refuse_self_referral
        && let (Some(mine), Some(theirs)) = (&phone, case.referrer_phone)
        && mine == theirs
    {
        return Verdict::Withheld(RuleReason::SelfReferral);
    }
    let device = member
        .device_key
        .clone()
        .filter(|_| rules.one_reward_per_device);
    let counted = case.referrer.filter(|_| rules.counts_referrers());
    let phone_claim = phone.filter(|_| rules.one_reward_per_phone);
    let needs_facts =
        counted.is_some() || phone_claim.is_some() || device.is_some() || owner_unknown.is_some();
    let empty = RuleFacts::default();
    let facts = match facts {
        Some(f) => f,
        None if needs_facts => {
            return Verdict::NeedFacts(Box::new(FactKeys {
                event_id: case.event_id.clone(),
                referrer: counted.cloned(),
                phone: phone_claim,
                device,
                owner_phone_of: owner_unknown.cloned(),
            }));
        }
        None => &empty,
    };
    if owner_unknown.is_some()
        && facts.owner_phone.is_some()
        && facts.owner_phone == member.phone_number
    {
        return Verdict::Withheld(RuleReason::SelfReferral);
    }
    let someone_else = |owner: &Option<AccountId>| {
        owner
            .as_ref()
            .is_some_and(|owner| owner != &member.account_id)
    };
    if phone_claim.is_some() && someone_else(&facts.phone_owner) {
        return Verdict::Withheld(RuleReason::PhoneAlreadyRewarded);
    }
    if device.is_some() && someone_else(&facts.device_owner) {
        return Verdict::Withheld(RuleReason::DeviceAlreadyRewarded);
    }

    let mut stats = counted.map(|referrer| {
        facts
            .referrer
            .clone()
            .filter(|s| &s.referrer == referrer && &s.event_id == case.event_id)
            .unwrap_or_else(|| ReferrerStats::empty(case.event_id.clone(), referrer.clone()))
    });
    if rules.review_hold.and_then(|h| h.referees_per_24h).is_none()
        && let Some(stats) = stats.as_mut()
    {
        // Only the velocity hold keeps qualifying times (rebuilt counters bring them all).
        stats.recent.clear();
    }

    // The cap: the referrer side first, the referee side as configured.
    let mut grant = Grant::plain();
    if let (Some(cap), Some(stats)) = (&rules.referrer_cap, &stats) {
        let count = match cap.per {
            CapScope::Event => stats.rewarded,
            CapScope::ContentWindow => stats.rewarded_in.get(case.window_id).copied().unwrap_or(0),
        };
        if count >= cap.max_referees {
            grant.referrer = Err(RuleReason::ReferrerCapReached);
            if !cap.referee_rewarded_beyond_cap {
                return Verdict::Withheld(RuleReason::ReferrerCapReached);
            }
        }
    }
    if case.referrer.is_none() {
        // A campaign's code: nobody to reward on the referrer side, nothing to count.
        grant.referrer = Ok(RewardStart::Pending);
    }

    // Review: velocity holds both sides; the amount holds each reward on its own.
    let velocity_hold = match (rules.review_hold.and_then(|h| h.referees_per_24h), &stats) {
        (Some(limit), Some(stats)) => {
            let since = case.qualified_at - TimeDelta::hours(24);
            let recent = stats
                .recent
                .iter()
                .filter(|s| s.0 > since && s.0 <= case.qualified_at)
                .count();
            recent >= limit as usize
        }
        _ => false,
    };
    let start = |terms: &RewardTerms| -> RewardStart {
        if velocity_hold {
            return RewardStart::Held(ReasonCode::review_velocity());
        }
        if let Some(threshold) = rules.review_hold.and_then(|h| h.amount_at_least)
            && terms.amount >= threshold
        {
            return RewardStart::Held(ReasonCode::review_amount());
        }
        match rules.claim_days {
            Some(days) => RewardStart::Claimable {
                deadline: case.now + TimeDelta::days(i64::from(days)),
            },
            None => RewardStart::Pending,
        }
    };
    grant.referrer = grant.referrer.map(|_| start(&case.referrer_terms));
    grant.referee = Ok(start(&case.referee_terms));

    let referrer_rewarded = grant.referrer.is_ok() && case.referrer.is_some();
    let velocity_counted = rules
        .review_hold
        .is_some_and(|h| h.referees_per_24h.is_some());
    if !referrer_rewarded && !velocity_counted {
        // Nothing to count (the referrer side withheld by the cap): counters only grow, so
        // the decision holds without writing them.
        stats = None;
    }
    if let Some(stats) = stats.as_mut() {
        if referrer_rewarded {
            stats.rewarded += 1;
            *stats.rewarded_in.entry(case.window_id.clone()).or_insert(0) += 1;
            // Under review holds, the referees a bonus counts may be HELD and later REJECTED
            // (farmed): the bonus waits for a person, always as REVIEW_MILESTONE (whatever its
            // own amount or the velocity), so the runbook's milestone check is cued for it.
            let bonus_start = |terms: &RewardTerms| match rules.review_hold {
                Some(_) => RewardStart::Held(ReasonCode::review_milestone()),
                None => start(terms),
            };
            grant.milestone = rules
                .milestones
                .iter()
                .find(|m| m.nth == stats.rewarded)
                .map(|m| (m.nth, m.reward, bonus_start(&m.reward)));
        }
        if let Some(limit) = rules.review_hold.and_then(|h| h.referees_per_24h) {
            stats
                .recent
                .push(Stamp(time::truncate_millis(case.qualified_at)));
            stats.recent.sort();
            let excess = stats.recent.len().saturating_sub(limit as usize);
            stats.recent.drain(..excess);
        }
        stats.version += 1;
    }
    grant.writes.referrer = stats.map(Box::new);
    let claim = |kind, hash: IdentityHash, replaces: &Option<AccountId>| IdentityClaim {
        event_id: case.event_id.clone(),
        kind,
        hash,
        account_id: member.account_id.clone(),
        claimed_at: time::truncate_millis(case.now),
        replaces: replaces.clone(),
    };
    // The identities are claimed for the referee's own reward; an owner equal to this
    // member (a claim written by an attempt whose profile write then lost) is left as is.
    if let Some(hash) = phone_claim
        && facts.phone_owner.is_none()
    {
        grant
            .writes
            .claims
            .push(claim(IdentityKind::Phone, hash, &facts.phone_released));
    }
    if let Some(hash) = device
        && facts.device_owner.is_none()
    {
        grant
            .writes
            .claims
            .push(claim(IdentityKind::Device, hash, &facts.device_released));
    }
    Verdict::Grant(grant)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
