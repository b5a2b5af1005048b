//! How a member's registration progresses, as pure functions over [`MemberProfile`]: the
//! consumers read a profile, fold the member's records of a batch into it in partition order,
//! then [`settle`] what fell due, and write the result in one conditional write.
//!
//! Every step is idempotent (applying the same record twice changes nothing) and "first wins",
//! so duplicates and redeliveries cannot change an outcome.

use super::{
    EventConfig, EventId, EventType, JkosAccount, JkosId, MemberProfile, PhoneNumber, ReferralCode,
    ReferralCodeRecord, ReferralOutcome, ReferralSource, ReferralUse, RejectionReason, Reward,
    RewardGrant, RewardId, Side, WindowId,
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
                && self.reward_grant.is_none()
                && self.accepted_referral().is_some())
    }

    /// The ids of the rewards granted for this member as a referee (none before the grant;
    /// the referrer side only exists for PERSONAL codes, so a grant of one is the referee's).
    pub fn granted_rewards(&self) -> Vec<RewardId> {
        let sides: &[Side] = match &self.reward_grant {
            Some(RewardGrant::Issued { count, .. }) if *count >= 2 => &Side::BOTH,
            Some(RewardGrant::Issued { .. }) => &[Side::Referee],
            _ => &[],
        };
        sides
            .iter()
            .map(|side| RewardId::new(&self.account_id, *side))
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
}

impl Settlement {
    pub fn is_empty(&self) -> bool {
        self.new_code.is_none() && self.rewards.is_empty()
    }
}

/// Applies what fell due to `member`:
/// - on qualifying (both times known, not yet qualified): `qualified_at` = the later time, and
///   a new PERSONAL code of `personal_event` whose source is the member's jkos id;
/// - once qualified with an accepted referral and no grant yet: the rewards of both sides with
///   the terms of the code's event window active at `qualified_at` (`referral_config`).
///
/// `make_code` is called only when a code is needed (the caller retries on a collision).
pub fn settle(
    member: &mut MemberProfile,
    personal_event: &EventId,
    referral_config: Option<&EventConfig>,
    make_code: impl FnOnce() -> ReferralCode,
    now: Instant,
) -> Settlement {
    let mut out = Settlement::default();
    if member.qualified_at.is_none()
        && let Some(success) = member.success_time()
    {
        member.qualified_at = Some(success);
        let code = ReferralCodeRecord {
            code: make_code(),
            event_id: personal_event.clone(),
            event_type: EventType::Personal,
            source: ReferralSource::from(&member.jkos_id),
            created_at: now,
        };
        member.own_code = Some(code.code.clone());
        out.new_code = Some(code);
        member.updated_at = now;
    }
    let (Some(qualified_at), None) = (member.qualified_at, &member.reward_grant) else {
        return out;
    };
    let Some((_, event_id, _)) = member.accepted_referral() else {
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
    // Referrer first; a campaign's code has no referrer reward (see `Reward::pending`).
    out.rewards = Side::BOTH
        .into_iter()
        .filter_map(|side| Reward::pending(member, side, window.terms_for(side), qualified_at, now))
        .collect();
    out.granted_under = Some((event_id.clone(), window.window_id.clone()));
    member.reward_grant = Some(RewardGrant::Issued {
        at: now,
        window_id: window.window_id.clone(),
        count: out.rewards.len() as u8,
    });
    member.updated_at = now;
    out
}

#[cfg(test)]
mod tests;
