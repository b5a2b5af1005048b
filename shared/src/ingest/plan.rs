//! Stage 2 of a batch, pure: what one member's records do to their profile. The records are
//! folded into the profile in order, what fell due is [`settle`]d, and the result says
//! whether and what to write (the profile, a new code, rewards) and what to queue. The
//! effects stage (`member.rs`) reads what this needs and performs what it decides.

use super::BatchReport;
use super::batch::{Change, Decoded};
use super::member::MemberOutcome;
use crate::contracts::kafka::{JkosConflict, ParkedRecord, RecordError, RegistrationEvent};
use crate::domain::{
    AccountId, Day, EventConfig, EventId, FunnelDelta, IdentityKey, LinkSettings, MemberProfile,
    ReferralCode, ReferralCodeRecord, ReferralOutcome, RewardId, RewardStatus, RuleContext,
    RuleFacts, Settlement, Step, funnel_delta, judge_referral, settle,
};
use crate::store::{Entity, StoreError, keys};
use crate::time::Instant;
use std::collections::HashMap;
use std::sync::Arc;

pub(super) type Codes = HashMap<ReferralCode, ReferralCodeRecord>;
pub(super) type Configs = HashMap<EventId, Arc<EventConfig>>;

/// What one attempt at a member comes to.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MemberPlan {
    /// The profile after the records and the settlement (its version already bumped when it
    /// is to be written).
    pub member: MemberProfile,
    /// The new code and rewards to write with it.
    pub settlement: Settlement,
    /// `Some(version the stored profile must still have)` = write; `None` = the records
    /// changed nothing (a duplicate: re-send the member's granted rewards instead).
    pub write_over: Option<u64>,
    /// What the write adds to the funnel counters (empty when nothing is written).
    pub funnel: FunnelDelta,
}

/// The events whose configuration judging and settling this member needs: those of the codes
/// the records use, and of the referral the member accepted before.
pub(super) fn events_needed(
    member: &MemberProfile,
    records: &[Decoded],
    codes: &Codes,
) -> Vec<EventId> {
    let mut events: Vec<EventId> = Vec::new();
    let used = records
        .iter()
        .filter_map(Decoded::used_code)
        .filter_map(|code| codes.get(code))
        .map(|record| &record.event_id);
    let accepted = member.accepted_referral().map(|(_, event, _)| event);
    // A rejected use that a used code of these records may replace: its funnel count moves
    // off the day it was counted on, in its event's time zone (ADR 0008).
    let replaced = member
        .referral
        .as_ref()
        .filter(|_| records.iter().any(|d| d.used_code().is_some()))
        .and_then(|r| r.event_id.as_ref());
    for event in used.chain(accepted).chain(replaced) {
        if !events.contains(event) {
            events.push(event.clone());
        }
    }
    events
}

/// The profile to start from: the stored one, or a new one for a member seen the first time.
pub(super) fn starting_profile(
    account: &AccountId,
    loaded: Option<MemberProfile>,
    records: &[Decoded],
    now: Instant,
) -> MemberProfile {
    loaded.unwrap_or_else(|| {
        let jkos = records
            .first()
            .map(|d| d.jkos_id().clone())
            .expect("a member group has at least one record");
        MemberProfile::new(account.clone(), jkos, now)
    })
}

/// What the reward rules of the member's event may use: the identity key (None: not
/// configured) and the stored state read for an earlier plan that asked for it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Rules<'a> {
    pub key: Option<&'a IdentityKey>,
    pub facts: Option<&'a RuleFacts>,
}

/// Folds `records` into `member` and settles what fell due. `new_code` draws a code for a
/// member who qualifies (random in production, fixed in tests). When the event's rules need
/// stored state that `rules.facts` does not bring, the settlement says which
/// (`Undecided::NeedFacts`): the caller reads it and plans again from the same profile.
#[allow(clippy::too_many_arguments)]
pub(super) fn plan_member(
    mut member: MemberProfile,
    records: &[Decoded],
    codes: &Codes,
    configs: &Configs,
    personal_event: &EventId,
    rules: Rules<'_>,
    new_code: impl FnOnce() -> ReferralCode,
    now: Instant,
) -> MemberPlan {
    let expected = member.version;
    let original = member.clone();
    // A record carrying another jkos id than the profile's is not folded in: it is parked
    // (`foreign_records`), one jkos id being one member (ADR 0010).
    let jkos_id = member.jkos_id.clone();
    for d in records.iter().filter(|d| d.jkos_id() == &jkos_id) {
        apply(&mut member, d, codes, configs, rules.key, now);
    }
    let mut settlement = Settlement::default();
    if member.has_due_effects() {
        let referral_config = member
            .accepted_referral()
            .and_then(|(_, event, _)| configs.get(event))
            .map(Arc::as_ref);
        let context = RuleContext {
            key: rules.key,
            facts: rules.facts,
        };
        settlement = settle(
            &mut member,
            personal_event,
            referral_config,
            context,
            new_code,
            now,
        );
    }
    if member == original {
        return MemberPlan {
            member,
            settlement,
            write_over: None,
            funnel: FunnelDelta::default(),
        };
    }
    member.version = expected + 1;
    let funnel = funnel_delta(
        Some(&original),
        &member,
        &settlement.rewards,
        |event, at| day_of(configs, event, at),
    );
    MemberPlan {
        member,
        settlement,
        write_over: Some(expected),
        funnel,
    }
}

/// The calendar day of `at` in `event`'s time zone; UTC when its configuration is not at hand
/// (`events_needed` reads every event whose counts a write can change).
pub(super) fn day_of(configs: &Configs, event: &EventId, at: Instant) -> Day {
    configs
        .get(event)
        .map(|c| c.links.day_of(at))
        .unwrap_or_else(|| LinkSettings::default().day_of(at))
}

/// Applies one record to a profile; true if it changed anything.
fn apply(
    member: &mut MemberProfile,
    d: &Decoded,
    codes: &Codes,
    configs: &Configs,
    key: Option<&IdentityKey>,
    now: Instant,
) -> bool {
    match &d.change {
        Change::Info(info) => member.record_member_info(
            &info.jkos_id,
            &info.jkos_account,
            &info.phone_number,
            info.created_at,
            now,
        ),
        Change::Registration(event) => {
            let phone = event.member().phone_number.as_ref();
            match event {
                RegistrationEvent::DeviceBound {
                    occurred_at,
                    device_id,
                    ..
                } => {
                    let step = member.record_step(Step::DeviceBound, *occurred_at, phone, now);
                    member.record_device(device_id.as_ref(), key, now) | step
                }
                RegistrationEvent::KycPassed { occurred_at, .. } => {
                    member.record_step(Step::KycPassed, *occurred_at, phone, now)
                }
                RegistrationEvent::ReferralCodeUsed {
                    code, occurred_at, ..
                } => {
                    let record = codes.get(code);
                    let config = record
                        .and_then(|r| configs.get(&r.event_id))
                        .map(Arc::as_ref);
                    let used = judge_referral(member, code.clone(), *occurred_at, record, config);
                    if let ReferralOutcome::Rejected { reason } = &used.outcome {
                        tracing::info!(offset = d.at.offset, ?reason, "referral code rejected");
                    }
                    member.record_referral(used, phone, now)
                }
            }
        }
    }
}

/// The records of `member`'s account that carry another jkos id than the profile's: the
/// account is bound to its jkos id (ADR 0010), so they are parked, never merged.
pub(super) fn foreign_records(
    member: &MemberProfile,
    records: &[Decoded],
    now: Instant,
) -> Vec<ParkedRecord> {
    let reason = RecordError::JkosIdTaken {
        conflict: JkosConflict::OtherJkosId,
    };
    records
        .iter()
        .filter(|d| d.jkos_id() != &member.jkos_id)
        .map(|d| {
            tracing::warn!(offset = d.at.offset, kind = %reason.kind(), "record names another jkos id than its account's; parked");
            d.park(reason.clone(), now)
        })
        .collect()
}

/// The stored item among this member's (profile, used codes) that does not map onto the
/// domain, if any: its records are parked instead of failing the batch forever.
pub(super) fn corrupt_item(
    account: &AccountId,
    records: &[Decoded],
    corrupt: &HashMap<String, String>,
) -> Option<StoreError> {
    std::iter::once(keys::member_pk(account))
        .chain(
            records
                .iter()
                .filter_map(Decoded::used_code)
                .map(keys::code_pk),
        )
        .find_map(|pk| {
            corrupt.get(&pk).map(|why| StoreError::Corrupt {
                key: pk,
                message: why.clone(),
            })
        })
}

/// What the members' outcomes add up to for the batch: counts on the report, records to park,
/// the rewards to queue (the new ones of a member written now) and the rewards to re-send if
/// payout may not have seen them (those already granted to a member the batch did not change:
/// a duplicate, possibly the redelivery of a batch that crashed before its send).
pub(super) fn gather(
    outcomes: Vec<MemberOutcome>,
    report: &mut BatchReport,
    parked: &mut Vec<ParkedRecord>,
) -> (Vec<RewardId>, Vec<RewardId>) {
    let (mut to_queue, mut resend) = (Vec::new(), Vec::new());
    for outcome in outcomes {
        match outcome {
            MemberOutcome::Done {
                written,
                settlement,
                member,
                foreign,
            } => {
                parked.extend(foreign);
                report.members_written += u64::from(written);
                report.qualified += u64::from(settlement.new_code.is_some());
                report.rewards_created += settlement.rewards.len() as u64;
                if written {
                    report.rewards_waiting += settlement
                        .rewards
                        .iter()
                        .filter(|r| r.status != RewardStatus::Pending)
                        .count() as u64;
                    // HELD and CLAIMABLE rewards wait for a person; only PENDING ones are paid.
                    to_queue.extend(
                        settlement
                            .rewards
                            .iter()
                            .filter(|r| r.status == RewardStatus::Pending)
                            .map(|r| r.reward_id.clone()),
                    );
                } else {
                    resend.extend(member.granted_rewards());
                }
            }
            MemberOutcome::Parked(records) => parked.extend(records),
        }
    }
    (to_queue, resend)
}

/// Why records are parked after a store error that retrying will not cure. The reason is
/// typed: DynamoDB's text stays in the log line, out of the parked record.
pub(super) fn park_reason(error: &StoreError) -> RecordError {
    match error {
        StoreError::Corrupt { key, .. } => RecordError::CorruptState { key: key.clone() },
        StoreError::Rejected { operation, .. } => RecordError::RejectedWrite {
            operation: (*operation).to_owned(),
        },
        StoreError::Conflict {
            entity: Entity::JkosBinding,
            ..
        } => RecordError::JkosIdTaken {
            conflict: JkosConflict::OtherAccount,
        },
        StoreError::Conflict { entity, .. } => RecordError::RejectedWrite {
            operation: format!("{entity} write"),
        },
        _ => RecordError::RejectedWrite {
            operation: "write".to_owned(),
        },
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
