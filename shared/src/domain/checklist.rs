//! The "why wasn't I rewarded" checklist of one referee: an ordered list of steps (code used,
//! KYC, device, qualified, each side's reward), each with a state, a time, a member-visible
//! reason and, where it helps, a deadline. One pure function ([`Checklist::of`]) from what is
//! stored (the referee's profile, their two rewards) and `now`; every case is a row of the
//! table in `docs/checklist.md`, which the unit test below reads and checks row by row.
//!
//! Three views of the same list ([`ChecklistView`]): the referee sees their own steps and their
//! own reward; the referrer sees the referee's steps and their own (referrer side) reward; support
//! sees every step plus the internal detail (finance's error text, the admin's review code and
//! name, the hold's rule) that members never see.

use super::{MemberProfile, ReferralOutcome, RejectionReason, Reward, RewardGrant, RewardStatus};
use super::{RuleReason, Side};
use crate::time::{self, Instant};
use serde::Serialize;

/// The steps, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckStep {
    /// The referral code the member registered with: accepted, or rejected (why).
    CodeUsed,
    KycPassed,
    DeviceBound,
    /// KYC and device both done (within the event's qualification deadline, if it has one).
    Qualified,
    /// The referee's own reward (for joining with the code).
    RefereeReward,
    /// The code owner's reward for this referee.
    ReferrerReward,
}

impl CheckStep {
    pub const ALL: [CheckStep; 6] = [
        CheckStep::CodeUsed,
        CheckStep::KycPassed,
        CheckStep::DeviceBound,
        CheckStep::Qualified,
        CheckStep::RefereeReward,
        CheckStep::ReferrerReward,
    ];
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckState {
    Done,
    /// Not yet: the member (KYC, device, a claim), an admin (review) or the service (payout)
    /// has something left to do; `until` says by when, when there is a deadline.
    Waiting,
    /// It will not happen (or failed): `reason` says why.
    Stopped,
    /// The step does not concern this referee (no accepted code, a campaign's code).
    NotApplicable,
}

/// A member-visible reason: codes only, never finance's error text nor an admin's notes
/// (those are [`ChecklistItem::detail`], shown to support only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckReason {
    /// The member registered without a referral code.
    NoCodeUsed,
    /// The code did not exist.
    CodeNotFound,
    /// The member's own code.
    OwnCode,
    /// The code's event had no reward window active when the code was used.
    CodeEventInactive,
    /// The code was rejected, so there is no reward to wait for.
    CodeNotAccepted,
    /// A campaign's code has no referrer to reward.
    CampaignCode,
    /// KYC and device were not both done within the event's qualification days.
    QualificationExpired,
    ReferrerCapReached,
    PhoneAlreadyRewarded,
    DeviceAlreadyRewarded,
    SelfReferral,
    /// The code's event had no reward window active when the referee qualified.
    NoActiveWindow,
    /// The event's rules need the referee's phone number, which has not arrived yet.
    AwaitingPhone,
    /// KYC and device are not both done yet.
    NotQualifiedYet,
    /// Qualified; the rewards are being created.
    Processing,
    /// Queued for payout.
    PayoutQueued,
    Paid,
    /// HELD for an admin's review.
    InReview,
    /// CLAIMABLE: claim it in the app before `until`.
    Claimable,
    /// Not claimed before its deadline (EXPIRED, or CLAIMABLE past the deadline).
    ClaimExpired,
    /// The payout failed; support can retry it.
    PayoutFailed,
    /// Refused in review.
    Rejected,
}

impl From<RuleReason> for CheckReason {
    fn from(reason: RuleReason) -> Self {
        match reason {
            RuleReason::ReferrerCapReached => CheckReason::ReferrerCapReached,
            RuleReason::PhoneAlreadyRewarded => CheckReason::PhoneAlreadyRewarded,
            RuleReason::DeviceAlreadyRewarded => CheckReason::DeviceAlreadyRewarded,
            RuleReason::SelfReferral => CheckReason::SelfReferral,
            RuleReason::QualificationExpired => CheckReason::QualificationExpired,
        }
    }
}

impl From<RejectionReason> for CheckReason {
    fn from(reason: RejectionReason) -> Self {
        match reason {
            RejectionReason::UnknownCode => CheckReason::CodeNotFound,
            RejectionReason::OwnCode => CheckReason::OwnCode,
            RejectionReason::NoActiveWindow => CheckReason::CodeEventInactive,
        }
    }
}

/// One step of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChecklistItem {
    pub step: CheckStep,
    pub state: CheckState,
    /// When the step was reached (or stopped), when known.
    #[serde(with = "time::millis_opt")]
    #[schema(schema_with = super::schema::instant_or_null, required = true)]
    pub at: Option<Instant>,
    #[schema(required = true)]
    pub reason: Option<CheckReason>,
    /// The deadline of a waiting step: the claim deadline, or the qualification deadline of
    /// the event's rules (inclusive for qualifying, exclusive for a claim).
    #[serde(with = "time::millis_opt")]
    #[schema(schema_with = super::schema::instant_or_null, required = true)]
    pub until: Option<Instant>,
    /// The reward's status, on a reward step whose reward exists.
    #[schema(required = true)]
    pub reward_status: Option<RewardStatus>,
    /// Support only (absent from members' views): the internal reason, e.g. finance's error,
    /// the admin's review code and name, the hold's rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ChecklistItem {
    fn new(step: CheckStep, state: CheckState) -> Self {
        Self {
            step,
            state,
            at: None,
            reason: None,
            until: None,
            reward_status: None,
            detail: None,
        }
    }
    fn at(mut self, at: Option<Instant>) -> Self {
        self.at = at;
        self
    }
    fn reason(mut self, reason: impl Into<CheckReason>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    fn until(mut self, until: Option<Instant>) -> Self {
        self.until = until;
        self
    }
    fn detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail;
        self
    }
}

/// Who looks at the checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecklistView {
    /// The referee, about their own registration: no referrer reward (the referrer's business).
    Referee,
    /// The code's owner, about one of their referees: no referee reward (the referee's business).
    Referrer,
    /// Support: every step and the internal details.
    Support,
}

/// What is stored about one referee.
#[derive(Debug, Clone, Copy)]
pub struct ChecklistInput<'a> {
    pub profile: &'a MemberProfile,
    /// `<account>-referee`, if it exists (and was read).
    pub referee_reward: Option<&'a Reward>,
    /// `<account>-referrer`, if it exists (and was read).
    pub referrer_reward: Option<&'a Reward>,
    /// The `qualification_days` of the code's event's rules (for the deadline shown while
    /// KYC or device are waiting); `None` when the event has no deadline or is unknown.
    pub qualification_days: Option<u32>,
}

/// The ordered steps of one referee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Checklist(pub Vec<ChecklistItem>);

impl Checklist {
    /// Every step, as support sees it, at `now`. Pure: the same input gives the same list.
    pub fn of(input: ChecklistInput<'_>, now: Instant) -> Self {
        let p = input.profile;
        let deadline = qualification_deadline(&input);
        let expired_unqualified = p.qualified_at.is_none() && deadline.is_some_and(|d| now > d);
        let waiting_until = if expired_unqualified { None } else { deadline };

        let code = match &p.referral {
            None => ChecklistItem::new(CheckStep::CodeUsed, CheckState::NotApplicable)
                .reason(CheckReason::NoCodeUsed),
            Some(r) => match &r.outcome {
                ReferralOutcome::Accepted { .. } => {
                    ChecklistItem::new(CheckStep::CodeUsed, CheckState::Done).at(Some(r.used_at))
                }
                ReferralOutcome::Rejected { reason } => {
                    ChecklistItem::new(CheckStep::CodeUsed, CheckState::Stopped)
                        .at(Some(r.used_at))
                        .reason(*reason)
                }
            },
        };
        let done_or_waiting = |step, at: Option<Instant>| match at {
            Some(t) => ChecklistItem::new(step, CheckState::Done).at(Some(t)),
            None => ChecklistItem::new(step, CheckState::Waiting).until(waiting_until),
        };
        let kyc = done_or_waiting(CheckStep::KycPassed, p.kyc_pass_time);
        let device = done_or_waiting(CheckStep::DeviceBound, p.device_bind_time);
        let qualified = match (p.qualified_at, &p.reward_grant) {
            (
                Some(t),
                Some(RewardGrant::Withheld {
                    reason: RuleReason::QualificationExpired,
                    ..
                }),
            ) => ChecklistItem::new(CheckStep::Qualified, CheckState::Stopped)
                .at(Some(t))
                .reason(CheckReason::QualificationExpired)
                .until(deadline),
            (Some(t), _) => ChecklistItem::new(CheckStep::Qualified, CheckState::Done).at(Some(t)),
            (None, _) if expired_unqualified => {
                ChecklistItem::new(CheckStep::Qualified, CheckState::Stopped)
                    .reason(CheckReason::QualificationExpired)
                    .until(deadline)
            }
            (None, _) => ChecklistItem::new(CheckStep::Qualified, CheckState::Waiting)
                .reason(CheckReason::NotQualifiedYet)
                .until(deadline),
        };
        let referee = reward_step(&input, Side::Referee, expired_unqualified, deadline, now);
        let referrer = reward_step(&input, Side::Referrer, expired_unqualified, deadline, now);
        Checklist(vec![code, kyc, device, qualified, referee, referrer])
    }

    /// The steps `view` may see: members lose the other side's reward and every detail.
    pub fn for_view(mut self, view: ChecklistView) -> Self {
        let hidden = match view {
            ChecklistView::Referee => Some(CheckStep::ReferrerReward),
            ChecklistView::Referrer => Some(CheckStep::RefereeReward),
            ChecklistView::Support => None,
        };
        self.0.retain(|s| Some(s.step) != hidden);
        if view != ChecklistView::Support {
            for s in &mut self.0 {
                s.detail = None;
            }
        }
        self
    }

    /// [`Self::of`] then [`Self::for_view`].
    pub fn seen_by(input: ChecklistInput<'_>, now: Instant, view: ChecklistView) -> Self {
        Self::of(input, now).for_view(view)
    }
}

/// `used_at` + the event's qualification days, for a referee with an accepted code.
fn qualification_deadline(input: &ChecklistInput<'_>) -> Option<Instant> {
    let days = input.qualification_days?;
    let used = input.profile.referral.as_ref()?;
    matches!(used.outcome, ReferralOutcome::Accepted { .. })
        .then(|| used.used_at + chrono::Duration::days(i64::from(days)))
}

fn reward_step(
    input: &ChecklistInput<'_>,
    side: Side,
    expired_unqualified: bool,
    deadline: Option<Instant>,
    now: Instant,
) -> ChecklistItem {
    let step = match side {
        Side::Referee => CheckStep::RefereeReward,
        Side::Referrer => CheckStep::ReferrerReward,
    };
    let p = input.profile;
    let stored = match side {
        Side::Referee => input.referee_reward,
        Side::Referrer => input.referrer_reward,
    };
    let n_a = |reason| ChecklistItem::new(step, CheckState::NotApplicable).reason(reason);
    let Some((_, _, source)) = p.accepted_referral() else {
        return n_a(match p.referral {
            None => CheckReason::NoCodeUsed,
            Some(_) => CheckReason::CodeNotAccepted,
        });
    };
    if side == Side::Referrer && source.member().is_none() {
        return n_a(CheckReason::CampaignCode);
    }
    // The reward record is the truth about money: when it exists, it decides.
    if let Some(reward) = stored {
        return of_reward(step, reward, now);
    }
    let stopped = |at: Instant, reason: CheckReason| {
        ChecklistItem::new(step, CheckState::Stopped)
            .at(Some(at))
            .reason(reason)
    };
    match &p.reward_grant {
        Some(RewardGrant::Withheld { at, reason, .. }) => stopped(*at, (*reason).into()),
        Some(RewardGrant::NoActiveWindow { at }) => stopped(*at, CheckReason::NoActiveWindow),
        Some(RewardGrant::AwaitingPhone { since }) => ChecklistItem::new(step, CheckState::Waiting)
            .at(Some(*since))
            .reason(CheckReason::AwaitingPhone),
        Some(RewardGrant::Issued {
            at,
            referrer_withheld: Some(reason),
            ..
        }) if side == Side::Referrer => stopped(*at, (*reason).into()),
        Some(RewardGrant::Issued { at, .. }) => ChecklistItem::new(step, CheckState::Waiting)
            .at(Some(*at))
            .reason(CheckReason::Processing)
            .detail(Some(format!(
                "reward {} not found",
                super::RewardId::new(&p.account_id, side)
            ))),
        None if p.qualified_at.is_some() => ChecklistItem::new(step, CheckState::Waiting)
            .reason(CheckReason::Processing)
            .detail(Some(
                "qualified; the grant is due at the member's next record".to_owned(),
            )),
        None if expired_unqualified => ChecklistItem::new(step, CheckState::Stopped)
            .reason(CheckReason::QualificationExpired)
            .until(deadline),
        None => ChecklistItem::new(step, CheckState::Waiting)
            .reason(CheckReason::NotQualifiedYet)
            .until(deadline),
    }
}

/// A reward step from the reward itself (the lifecycle's statuses, docs/reward-lifecycle.md).
fn of_reward(step: CheckStep, r: &Reward, now: Instant) -> ChecklistItem {
    let item = |state, at, reason: CheckReason| {
        let mut i = ChecklistItem::new(step, state).at(at).reason(reason);
        i.reward_status = Some(r.status);
        i
    };
    let reviewed = || {
        r.reason.as_ref().map(|code| match &r.reviewed_by {
            Some(by) => format!("{code} (reviewed by {by})"),
            None => code.to_string(),
        })
    };
    match r.status {
        RewardStatus::Pending => item(
            CheckState::Waiting,
            Some(r.claimed_at.or(r.reviewed_at).unwrap_or(r.created_at)),
            CheckReason::PayoutQueued,
        )
        .detail(
            r.last_error
                .as_ref()
                .map(|e| format!("{} attempt(s); last error: {e}", r.attempts)),
        ),
        RewardStatus::Success => item(CheckState::Done, r.paid_at, CheckReason::Paid),
        RewardStatus::Fail => item(
            CheckState::Stopped,
            Some(r.updated_at),
            CheckReason::PayoutFailed,
        )
        .detail(r.last_error.clone()),
        RewardStatus::Held => item(
            CheckState::Waiting,
            Some(r.created_at),
            CheckReason::InReview,
        )
        .detail(r.reason.as_ref().map(|c| c.to_string())),
        RewardStatus::Claimable => match r.claim_deadline {
            Some(d) if now >= d => {
                item(CheckState::Stopped, Some(d), CheckReason::ClaimExpired).until(Some(d))
            }
            d => item(
                CheckState::Waiting,
                Some(r.created_at),
                CheckReason::Claimable,
            )
            .until(d),
        },
        RewardStatus::Rejected => item(
            CheckState::Stopped,
            r.reviewed_at.or(Some(r.updated_at)),
            CheckReason::Rejected,
        )
        .detail(reviewed()),
        RewardStatus::Expired => item(
            CheckState::Stopped,
            Some(r.updated_at),
            CheckReason::ClaimExpired,
        )
        .until(r.claim_deadline),
    }
}

#[cfg(test)]
mod tests;
