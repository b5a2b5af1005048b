//! How a member's registration progresses, as pure functions over [`MemberProfile`]: the
//! consumers read a profile, fold the member's records of a batch into it in partition order,
//! then [`settle`] what fell due, and write the result in one conditional write.
//!
//! Every step is idempotent (applying the same record twice changes nothing) and "first wins",
//! so duplicates and redeliveries cannot change an outcome.

use super::{
    DeviceId, EventConfig, EventId, EventType, FactKeys, GrantCase, IdentityKey, JkosAccount,
    JkosId, MemberProfile, PhoneNumber, ReferralCode, ReferralCodeRecord, ReferralOutcome,
    ReferralSource, ReferralUse, RejectionReason, Reward, RewardGrant, RewardId, RewardStatus,
    RuleFacts, RuleWrites, Side, Verdict, WindowId, decide_grant,
};
use crate::time::Instant;

/// A registration step with a time of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    DeviceBound,
    KycPassed,
}

impl MemberProfile {
    /// `rd2_member_info`: the account module's view of the member. The latest message wins for
    /// the descriptive fields; nothing about progress is touched.
    pub fn record_member_info(
        &mut self,
        jkos_id: &JkosId,
        jkos_account: &JkosAccount,
        phone: &PhoneNumber,
        registered_at: Instant,
        now: Instant,
    ) -> bool {
        let before = (
            self.jkos_id.clone(),
            self.jkos_account.clone(),
            self.phone_number.clone(),
            self.registered_at,
        );
        self.jkos_id = jkos_id.clone();
        self.jkos_account = Some(jkos_account.clone());
        self.phone_number = Some(phone.clone());
        self.registered_at = Some(registered_at);
        let changed = before
            != (
                self.jkos_id.clone(),
                self.jkos_account.clone(),
                self.phone_number.clone(),
                self.registered_at,
            );
        self.touch(changed, now)
    }

    /// DEVICE_BOUND / KYC_PASSED: the first time wins; a duplicate changes nothing. A phone
    /// number riding along fills the profile until member info provides one.
    pub fn record_step(
        &mut self,
        step: Step,
        at: Instant,
        phone: Option<&PhoneNumber>,
        now: Instant,
    ) -> bool {
        let slot = match step {
            Step::DeviceBound => &mut self.device_bind_time,
            Step::KycPassed => &mut self.kyc_pass_time,
        };
        let mut changed = false;
        if slot.is_none() {
            *slot = Some(at);
            changed = true;
        }
        changed |= self.fill_phone(phone);
        self.touch(changed, now)
    }

    /// The device a `DEVICE_BOUND` named, as its keyed hash: the first one named wins (a
    /// record without a device id, or without a key to hash it with, changes nothing).
    pub fn record_device(
        &mut self,
        device: Option<&DeviceId>,
        key: Option<&IdentityKey>,
        now: Instant,
    ) -> bool {
        let (None, Some(device), Some(key)) = (&self.device_key, device, key) else {
            return false;
        };
        self.device_key = Some(key.device(device));
        self.touch(true, now)
    }

    /// REFERRAL_CODE_USED: the first accepted code wins. A rejected use is recorded until an
    /// accepted one replaces it; a use identical to the recorded one changes nothing.
    pub fn record_referral(
        &mut self,
        used: ReferralUse,
        phone: Option<&PhoneNumber>,
        now: Instant,
    ) -> bool {
        let replace = match &self.referral {
            None => true,
            Some(current) => {
                matches!(current.outcome, ReferralOutcome::Rejected { .. })
                    && matches!(used.outcome, ReferralOutcome::Accepted { .. })
            }
        };
        let mut changed = false;
        if replace {
            self.referral = Some(used);
            changed = true;
        }
        changed |= self.fill_phone(phone);
        self.touch(changed, now)
    }

    fn fill_phone(&mut self, phone: Option<&PhoneNumber>) -> bool {
        match (self.phone_number.is_none(), phone) {
            (true, Some(p)) => {
                self.phone_number = Some(p.clone());
                true
            }
            _ => false,
        }
    }

    fn touch(&mut self, changed: bool, now: Instant) -> bool {
        if changed {
            self.updated_at = now;
        }
        changed
    }

    /// True when [`settle`] has something to do.
    pub fn has_due_effects(&self) -> bool {
        (self.qualified_at.is_none() && self.success_time().is_some())
            || (self.qualified_at.is_some()
                && !self
                    .reward_grant
                    .as_ref()
                    .is_some_and(RewardGrant::is_final)
                && self.accepted_referral().is_some())
    }

    /// The ids of the rewards granted for this member as a referee that were queued for
    /// payout (none before the grant; the referrer side only exists for PERSONAL codes, so a
    /// grant of one is the referee's; a milestone bonus it unlocked; not those created HELD or
    /// CLAIMABLE).
    pub fn granted_rewards(&self) -> Vec<RewardId> {
        let empty = Vec::new();
        let (sides, milestone, waiting): (&[Side], _, _) = match &self.reward_grant {
            Some(RewardGrant::Issued {
                count,
                milestone,
                waiting,
                ..
            }) => (
                match count {
                    0 => &[],
                    1 => &[Side::Referee],
                    _ => &Side::BOTH,
                },
                milestone.as_ref(),
                waiting,
            ),
            _ => (&[], None, &empty),
        };
        sides
            .iter()
            .map(|side| RewardId::new(&self.account_id, *side))
            .chain(milestone.cloned())
            .filter(|id| !waiting.contains(id))
            .collect()
    }
}

/// Decides what a used code counts for, at the moment it was used.
/// `code` is the stored code (None: unknown), `config` the configuration of its event.
pub fn judge_referral(
    member: &MemberProfile,
    used: ReferralCode,
    used_at: Instant,
    code: Option<&ReferralCodeRecord>,
    config: Option<&EventConfig>,
) -> ReferralUse {
    let outcome = match (code, config) {
        (None, _) | (Some(_), None) => ReferralOutcome::Rejected {
            reason: RejectionReason::UnknownCode,
        },
        (Some(record), _)
            if record.source == ReferralSource::from(&member.jkos_id)
                || member.own_code.as_ref() == Some(&record.code) =>
        {
            ReferralOutcome::Rejected {
                reason: RejectionReason::OwnCode,
            }
        }
        (Some(record), Some(config)) => match config.content_at(used_at) {
            Some(_) => ReferralOutcome::Accepted {
                event_id: record.event_id.clone(),
                referrer_source: record.source.clone(),
            },
            None => ReferralOutcome::Rejected {
                reason: RejectionReason::NoActiveWindow,
            },
        },
    };
    ReferralUse {
        code: used,
        used_at,
        event_id: code.map(|c| c.event_id.clone()),
        referrer_phone: match &outcome {
            ReferralOutcome::Accepted { .. } => code.and_then(|c| c.owner_phone.clone()),
            ReferralOutcome::Rejected { .. } => None,
        },
        outcome,
    }
}

/// What [`settle`] decided must be written together with the profile, atomically.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settlement {
    /// The member's new PERSONAL code, when they just qualified.
    pub new_code: Option<ReferralCodeRecord>,
    /// Rewards that fell due (PENDING, terms frozen).
    pub rewards: Vec<Reward>,
    /// The event and content window the rewards were granted under (when there are any), so
    /// the window can be marked in use before they are written (it can then not be deleted).
    pub granted_under: Option<(EventId, WindowId)>,
    /// The rules' counters and identity claims, written with the rewards (conditionally).
    pub rule_writes: RuleWrites,
    /// Why the grant that fell due was not decided now (it stays due).
    pub undecided: Option<Undecided>,
}

impl Settlement {
    pub fn is_empty(&self) -> bool {
        self.new_code.is_none() && self.rewards.is_empty() && self.rule_writes.actions() == 0
    }

    /// TransactWriteItems actions this settlement adds to the profile's write.
    pub fn actions(&self) -> usize {
        usize::from(self.new_code.is_some()) + self.rewards.len() + self.rule_writes.actions()
    }
}

/// Why [`settle`] left a due grant undecided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecided {
    /// The event's rules depend on stored state: read these, then settle again with them.
    NeedFacts(Box<FactKeys>),
    /// The event's rules need a keyed hash and the caller has no identity key.
    NoIdentityKey,
}

/// What [`settle`] knows for the event's reward rules: the identity key (None: none
/// configured) and the facts read for an earlier [`Undecided::NeedFacts`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleContext<'a> {
    pub key: Option<&'a IdentityKey>,
    pub facts: Option<&'a RuleFacts>,
}

/// Applies what fell due to `member`:
/// - on qualifying (both times known, not yet qualified): `qualified_at` = the later time, and
///   a new PERSONAL code of `personal_event` whose source is the member's jkos id (carrying
///   the keyed hash of their phone when both are known);
/// - once qualified with an accepted referral and no final grant yet: the rewards the code's
///   event grants with the terms of its content window active at `qualified_at`
///   (`referral_config`), as its reward rules decide them ([`decide_grant`]). Rules that
///   depend on stored state leave the grant [`Undecided::NeedFacts`] until `rules.facts`
///   brings that state.
///
/// `make_code` is called only when a code is needed (the caller retries on a collision).
pub fn settle(
    member: &mut MemberProfile,
    personal_event: &EventId,
    referral_config: Option<&EventConfig>,
    rules: RuleContext<'_>,
    make_code: impl FnOnce() -> ReferralCode,
    now: Instant,
) -> Settlement {
    let mut out = Settlement::default();
    if member.qualified_at.is_none()
        && let Some(success) = member.success_time()
    {
        member.qualified_at = Some(success);
        let owner_phone = match (rules.key, &member.phone_number) {
            (Some(key), Some(phone)) => Some(key.phone(phone)),
            _ => None,
        };
        let code = ReferralCodeRecord {
            code: make_code(),
            event_id: personal_event.clone(),
            event_type: EventType::Personal,
            source: ReferralSource::from(&member.jkos_id),
            owner_phone,
            created_at: now,
        };
        member.own_code = Some(code.code.clone());
        out.new_code = Some(code);
        member.updated_at = now;
    }
    let Some(qualified_at) = member.qualified_at else {
        return out;
    };
    if member
        .reward_grant
        .as_ref()
        .is_some_and(RewardGrant::is_final)
    {
        return out;
    }
    let Some(referral) = member.referral.clone() else {
        return out;
    };
    let ReferralOutcome::Accepted {
        event_id,
        referrer_source,
    } = &referral.outcome
    else {
        return out;
    };
    let Some(config) = referral_config.filter(|c| &c.event.event_id == event_id) else {
        // The caller did not have the configuration; nothing is decided without it.
        return out;
    };
    let Some(window) = config.content_at(qualified_at) else {
        member.reward_grant = Some(RewardGrant::NoActiveWindow { at: now });
        member.updated_at = now;
        return out;
    };
    let case = GrantCase {
        referee: member,
        referrer: referrer_source.member(),
        referrer_phone: referral.referrer_phone.as_ref(),
        event_id,
        window_id: &window.window_id,
        referrer_terms: window.terms_for(Side::Referrer),
        referee_terms: window.terms_for(Side::Referee),
        used_at: referral.used_at,
        qualified_at,
        now,
    };
    let grant = match decide_grant(&config.rules, case, rules.key, rules.facts) {
        Verdict::Grant(grant) => grant,
        Verdict::NeedFacts(keys) => {
            out.undecided = Some(Undecided::NeedFacts(keys));
            return out;
        }
        Verdict::NoIdentityKey => {
            out.undecided = Some(Undecided::NoIdentityKey);
            return out;
        }
        Verdict::AwaitPhone => {
            if member.reward_grant.is_none() {
                member.reward_grant = Some(RewardGrant::AwaitingPhone { since: now });
                member.updated_at = now;
            }
            return out;
        }
        Verdict::Withheld(reason) => {
            member.reward_grant = Some(RewardGrant::Withheld {
                at: now,
                window_id: window.window_id.clone(),
                reason,
            });
            member.updated_at = now;
            return out;
        }
    };
    // Referrer first; a campaign's code has no referrer reward (see `Reward::create`).
    let start_of = |side| match side {
        Side::Referrer => grant.referrer.clone(),
        Side::Referee => grant.referee.clone(),
    };
    out.rewards = Side::BOTH
        .into_iter()
        .filter_map(|side| {
            let start = start_of(side).ok()?;
            Reward::create(
                member,
                side,
                window.terms_for(side),
                qualified_at,
                now,
                start,
            )
        })
        .collect();
    let sides = out.rewards.len() as u8;
    let milestone = grant.milestone.clone().and_then(|(nth, terms, start)| {
        Reward::milestone_bonus(member, nth, terms, qualified_at, now, start)
    });
    let milestone_id = milestone.as_ref().map(|r| r.reward_id.clone());
    out.rewards.extend(milestone);
    // Counted on the day of their creation in the event's time zone, now and at every later
    // status change (ADR 0008).
    let funnel_day = config.links.day_of(now);
    for reward in &mut out.rewards {
        reward.funnel_day = Some(funnel_day);
    }
    out.rule_writes = grant.writes;
    out.granted_under = Some((event_id.clone(), window.window_id.clone()));
    let waiting = out
        .rewards
        .iter()
        .filter(|r| r.status != RewardStatus::Pending)
        .map(|r| r.reward_id.clone())
        .collect();
    member.reward_grant = Some(RewardGrant::Issued {
        at: now,
        window_id: window.window_id.clone(),
        count: sides,
        referrer_withheld: grant.referrer.err(),
        milestone: milestone_id,
        waiting,
    });
    member.updated_at = now;
    out
}

#[cfg(test)]
mod tests;
