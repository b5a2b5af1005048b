//! The conversion funnel of an event and of each of its codes (ADR 0008): how many referees
//! are at each stage, per calendar day of the event's time zone.
//!
//! Counting is state-based: [`member_stages`] says which stages a stored profile stands at
//! (and on which instant it reached each), [`reward_stage`] which stage a reward counts in
//! (its side and current status, on the day it was created). What one conditional write adds
//! to the counters is [`funnel_delta`]: the stages of the profile after the write minus those
//! before, plus the rewards it creates; a reward's status change adds
//! [`reward_status_delta`] (-1 the old status, +1 the new). The write carries
//! that delta, so a write that commits counts exactly once and a duplicate, reordered or
//! conflicting record that changes nothing counts nothing: the counters always equal what
//! [`member_stages`] and [`reward_stage`] say of the stored items.

use super::{
    Day, EventId, MemberProfile, ReferralCode, ReferralOutcome, RejectionReason, Reward,
    RewardGrant, RewardStatus, Side,
};
use crate::time::Instant;
use std::collections::BTreeMap;

/// One stage of the funnel. Its [`FunnelStage::name`] is the counter's attribute name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunnelStage {
    /// `POST /v1/referralCode/check` answered "valid" (the code exists, its event is active).
    ChecksValid,
    /// A referee's code use was accepted.
    UsesAccepted,
    /// A referee's code use was rejected for a reason that names an existing code (an unknown
    /// code belongs to no event: it is in no funnel, only in the `ReferralRejected` log line).
    UsesRejected(RejectionReason),
    /// An accepted referee passed KYC.
    KycPassed,
    /// An accepted referee bound a device.
    DeviceBound,
    /// An accepted referee qualified (both steps done).
    Qualified,
    /// A reward rule withheld (a side of) a qualified referee's rewards (`RuleReason` name), or
    /// no content window was active at qualification (`NO_ACTIVE_WINDOW`).
    Withheld(&'static str),
    /// Rewards created for the side, by status.
    Rewards(Side, RewardStatus),
}

impl FunnelStage {
    pub fn name(&self) -> String {
        match self {
            FunnelStage::ChecksValid => "checks_valid".into(),
            FunnelStage::UsesAccepted => "uses_accepted".into(),
            FunnelStage::UsesRejected(reason) => format!("uses_rejected_{}", rejection(*reason)),
            FunnelStage::KycPassed => "kyc_passed".into(),
            FunnelStage::DeviceBound => "device_bound".into(),
            FunnelStage::Qualified => "qualified".into(),
            FunnelStage::Withheld(reason) => format!("withheld_{reason}"),
            FunnelStage::Rewards(side, status) => {
                format!("rewards_{}_{}", side.as_str(), status.as_str())
            }
        }
    }
}

/// The stage of share-link clicks: counted by the share link (`store::Clicks`, one write per
/// click), not by the funnel's counters; the funnel's answers merge it in.
pub const CLICKS_STAGE: &str = "clicks";

/// The main line of the funnel, in order: conversion rates are given between consecutive
/// entries. `rewards_REFEREE` is the sum of the referee side's rewards in every status.
pub const FUNNEL_LINE: [&str; 7] = [
    CLICKS_STAGE,
    "checks_valid",
    "uses_accepted",
    "kyc_passed",
    "device_bound",
    "qualified",
    "rewards_REFEREE",
];

fn rejection(reason: RejectionReason) -> &'static str {
    match reason {
        RejectionReason::UnknownCode => "UNKNOWN_CODE",
        RejectionReason::OwnCode => "OWN_CODE",
        RejectionReason::NoActiveWindow => "NO_ACTIVE_WINDOW",
    }
}

/// Where a stage is counted: the code's event and the code, at an instant (its day is taken
/// in the event's time zone by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageAt {
    pub event_id: EventId,
    pub code: ReferralCode,
    pub at: Instant,
    pub stage: FunnelStage,
}

/// The stages `member` stands at as a referee: their code use (accepted, or rejected with the
/// code's event known), then — accepted only — KYC, device, qualification and a withheld
/// grant, each at the instant the profile records for it.
pub fn member_stages(member: &MemberProfile) -> Vec<StageAt> {
    let Some(used) = &member.referral else {
        return Vec::new();
    };
    let at = |event_id: &EventId, at: Instant, stage| StageAt {
        event_id: event_id.clone(),
        code: used.code.clone(),
        at,
        stage,
    };
    let event_id = match &used.outcome {
        ReferralOutcome::Rejected { reason } => {
            return match (&used.event_id, reason) {
                (_, RejectionReason::UnknownCode) | (None, _) => Vec::new(),
                (Some(event), reason) => {
                    vec![at(event, used.used_at, FunnelStage::UsesRejected(*reason))]
                }
            };
        }
        ReferralOutcome::Accepted { event_id, .. } => event_id,
    };
    let mut out = vec![at(event_id, used.used_at, FunnelStage::UsesAccepted)];
    if let Some(t) = member.kyc_pass_time {
        out.push(at(event_id, t, FunnelStage::KycPassed));
    }
    if let Some(t) = member.device_bind_time {
        out.push(at(event_id, t, FunnelStage::DeviceBound));
    }
    if let Some(t) = member.qualified_at {
        out.push(at(event_id, t, FunnelStage::Qualified));
    }
    match &member.reward_grant {
        Some(RewardGrant::Withheld { at: t, reason, .. }) => {
            out.push(at(event_id, *t, FunnelStage::Withheld(reason.as_str())));
        }
        Some(RewardGrant::Issued {
            at: t,
            referrer_withheld: Some(reason),
            ..
        }) => out.push(at(event_id, *t, FunnelStage::Withheld(reason.as_str()))),
        Some(RewardGrant::NoActiveWindow { at: t }) => {
            out.push(at(event_id, *t, FunnelStage::Withheld("NO_ACTIVE_WINDOW")));
        }
        _ => {}
    }
    out
}

/// The stage a reward counts in (its side and status) and the day it counts on (its
/// `funnel_day`, stamped at creation); None for a reward no counted write created, which is
/// in no funnel.
pub fn reward_stage(reward: &Reward) -> Option<(Day, FunnelStage)> {
    reward
        .funnel_day
        .map(|day| (day, FunnelStage::Rewards(reward.side, reward.status)))
}

/// What creating `reward` adds to the funnel: +1 in its side and status on its funnel day, for
/// the event and the code (nothing for a reward in no funnel).
pub fn new_reward_delta(reward: &Reward) -> FunnelDelta {
    let mut delta = FunnelDelta::default();
    if let Some((day, stage)) = reward_stage(reward) {
        delta.add(&reward.event_id, &reward.code, day, stage, 1);
    }
    delta
}

/// What a status change of `reward` (as stored before it) to `to` adds to the funnel: -1 on
/// its side's old status, +1 on the new one, on its funnel day, for the event and the code.
/// Empty when the status does not change (a retryable payout attempt) or the reward is in no
/// funnel. The store writes it in the transaction of the status change, conditioned on the
/// stored status being `reward.status`, so a change counts exactly once however many times it
/// is asked for.
pub fn reward_status_delta(reward: &Reward, to: RewardStatus) -> FunnelDelta {
    let mut delta = FunnelDelta::default();
    if let Some((day, old)) = reward_stage(reward) {
        let new = FunnelStage::Rewards(reward.side, to);
        delta.add(&reward.event_id, &reward.code, day, old, -1);
        delta.add(&reward.event_id, &reward.code, day, new, 1);
    }
    delta
}

/// A counter item's scope: an event as a whole, or one code of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FunnelScope {
    Event(EventId),
    Code(EventId, ReferralCode),
}

impl FunnelScope {
    pub fn event_id(&self) -> &EventId {
        match self {
            FunnelScope::Event(e) | FunnelScope::Code(e, _) => e,
        }
    }
}

/// Stage name → count.
pub type StageCounts = BTreeMap<String, i64>;

/// What one write adds to the funnel counters: per (scope, day), per stage, a non-zero
/// number (negative when a rejected use is replaced by an accepted one). Every stage is
/// counted at both levels, the event's and the code's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunnelDelta(BTreeMap<(FunnelScope, Day), StageCounts>);

impl FunnelDelta {
    /// Adds `n` to `stage` of `event` and of `code`, on `day`.
    pub fn add(
        &mut self,
        event: &EventId,
        code: &ReferralCode,
        day: Day,
        stage: FunnelStage,
        n: i64,
    ) {
        let name = stage.name();
        for scope in [
            FunnelScope::Event(event.clone()),
            FunnelScope::Code(event.clone(), code.clone()),
        ] {
            let counts = self.0.entry((scope, day)).or_default();
            *counts.entry(name.clone()).or_default() += n;
        }
        self.drop_zeros();
    }

    /// Adds every count of `other` (several members written in one transaction share
    /// counter items: one update per item).
    pub fn merge(&mut self, other: &FunnelDelta) {
        for (key, counts) in &other.0 {
            let mine = self.0.entry(key.clone()).or_default();
            for (stage, n) in counts {
                *mine.entry(stage.clone()).or_default() += n;
            }
        }
        self.drop_zeros();
    }

    fn drop_zeros(&mut self) {
        for counts in self.0.values_mut() {
            counts.retain(|_, n| *n != 0);
        }
        self.0.retain(|_, counts| !counts.is_empty());
    }

    /// The counter items to update, each with its non-zero counts.
    pub fn items(&self) -> impl Iterator<Item = (&FunnelScope, &Day, &StageCounts)> {
        self.0
            .iter()
            .map(|((scope, day), counts)| (scope, day, counts))
    }

    /// How many counter items the write updates (TransactWriteItems actions).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a write of `after` over `before` (None: the profile did not exist) that creates
/// `new_rewards` adds to the funnel. `day_of` is the event's calendar day of an instant
/// (`EventConfig.links.day_of`). Pure: the same states give the same delta.
pub fn funnel_delta(
    before: Option<&MemberProfile>,
    after: &MemberProfile,
    new_rewards: &[Reward],
    day_of: impl Fn(&EventId, Instant) -> Day,
) -> FunnelDelta {
    let mut delta = FunnelDelta::default();
    let mut count = |s: StageAt, n: i64| {
        let day = day_of(&s.event_id, s.at);
        delta.add(&s.event_id, &s.code, day, s.stage, n);
    };
    for s in before.map(member_stages).unwrap_or_default() {
        count(s, -1);
    }
    for s in member_stages(after) {
        count(s, 1);
    }
    for r in new_rewards {
        delta.merge(&new_reward_delta(r));
    }
    delta
}

/// `numerator / denominator` as a decimal string with 4 fraction digits, rounded half up
/// (`"0.3333"`); None when the denominator is 0 (or negative: never, counters are counts).
pub fn conversion_rate(numerator: i64, denominator: i64) -> Option<String> {
    if denominator <= 0 {
        return None;
    }
    let n = i128::from(numerator.max(0));
    let d = i128::from(denominator);
    let scaled = (n * 20_000 + d) / (2 * d);
    Some(format!("{}.{:04}", scaled / 10_000, scaled % 10_000))
}

#[cfg(test)]
#[path = "funnel_tests.rs"]
mod tests;
