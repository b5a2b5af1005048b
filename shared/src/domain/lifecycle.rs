//! The reward lifecycle: the one place that says which status a reward may move to, from which
//! statuses (and, for the claim step, on which side of the claim deadline), and what a payout
//! delivery does in each status. The store builds the condition of every status write from
//! [`RewardTransition::from`] and [`RewardTransition::deadline`], and the payout asks
//! [`RewardStatus::on_delivery`] before it calls finance, so the table in
//! `docs/reward-lifecycle.md` (kept equal to [`RewardTransition::ALL`] by a test) is the code.
//!
//! ```text
//!            approve (admin)                         claim (member, before the deadline)
//!  HELD ──────────────────────▶ PENDING ◀──────────────────────────── CLAIMABLE
//!    │ reject (admin)              │   ▲                                   │ deadline passed
//!    ▼                             │   │ admin retry                       ▼
//!  REJECTED         finance 2xx    │   │                                EXPIRED
//!            SUCCESS ◀─────────────┤   │
//!                                  └───┴──▶ FAIL   (finance 4xx/409, or retries exhausted)
//! ```

use super::RewardStatus;
use crate::time::Instant;

/// A change of a reward's recorded state. Each is one conditional write in the store whose
/// condition is "the status is one of [`RewardTransition::from`]" and, for the claim step,
/// "the claim deadline is on the [`RewardTransition::deadline`] side of now".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RewardTransition {
    /// Finance confirmed the compensation (2xx): → SUCCESS, with its compensation id.
    ///
    /// Also from FAIL: a delivery that read PENDING and called finance can learn that the
    /// money moved after a concurrent delivery gave up. The record follows the money.
    Paid,
    /// A retryable failure (timeout, 5xx, 429, an unusable 2xx) with receives left: the
    /// attempt and its error are recorded; the status stays PENDING. Never on FAIL, so
    /// leftover messages cannot move a FAIL reward's attempts or reason.
    AttemptFailed,
    /// Finance refused for good (4xx, 409), or the last receive failed too: → FAIL with the
    /// decisive reason. Only from PENDING, so the first decisive reason is the one kept.
    Failed,
    /// An admin asked to retry a FAIL reward (`POST /admin/v1/rewards/{id}/retry`): → PENDING,
    /// and one payout message is sent. The only way out of FAIL other than [`Self::Paid`].
    Reopened,
    /// The payee claimed a CLAIMABLE reward before its deadline
    /// (`POST /v1/referral/rewards/{id}/claim`): → PENDING, and one payout message is sent.
    Claimed,
    /// A CLAIMABLE reward's deadline passed unclaimed (the sweeper, or a late claim):
    /// → EXPIRED, never paid.
    Expired,
    /// An admin approved a HELD reward (`POST /admin/v1/rewards/{id}/approve`): → PENDING,
    /// and one payout message is sent.
    Approved,
    /// An admin rejected a HELD reward (`POST /admin/v1/rewards/{id}/reject`) with a reason:
    /// → REJECTED, never paid.
    Rejected,
}

/// Where the claim deadline must be, relative to now, for a transition to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadlineRule {
    /// The deadline plays no part.
    Ignored,
    /// Strictly before it: `now < claim_deadline` (a claim at the deadline is too late).
    Before,
    /// At it or after: `claim_deadline <= now`.
    AtOrAfter,
}

impl DeadlineRule {
    /// Whether a reward with `deadline` satisfies the rule at `now` (no deadline: only
    /// [`DeadlineRule::Ignored`] holds).
    pub fn holds(self, deadline: Option<Instant>, now: Instant) -> bool {
        match (self, deadline) {
            (DeadlineRule::Ignored, _) => true,
            (DeadlineRule::Before, Some(d)) => now < d,
            (DeadlineRule::AtOrAfter, Some(d)) => d <= now,
            (_, None) => false,
        }
    }
}

impl RewardTransition {
    pub const ALL: [RewardTransition; 8] = [
        RewardTransition::Paid,
        RewardTransition::AttemptFailed,
        RewardTransition::Failed,
        RewardTransition::Reopened,
        RewardTransition::Claimed,
        RewardTransition::Expired,
        RewardTransition::Approved,
        RewardTransition::Rejected,
    ];

    /// The statuses this transition may start from; any other makes the write a conflict.
    pub fn from(self) -> &'static [RewardStatus] {
        match self {
            RewardTransition::Paid => &[RewardStatus::Pending, RewardStatus::Fail],
            RewardTransition::AttemptFailed | RewardTransition::Failed => &[RewardStatus::Pending],
            RewardTransition::Reopened => &[RewardStatus::Fail],
            RewardTransition::Claimed | RewardTransition::Expired => &[RewardStatus::Claimable],
            RewardTransition::Approved | RewardTransition::Rejected => &[RewardStatus::Held],
        }
    }

    /// The status after the transition.
    pub fn to(self) -> RewardStatus {
        match self {
            RewardTransition::Paid => RewardStatus::Success,
            RewardTransition::AttemptFailed
            | RewardTransition::Reopened
            | RewardTransition::Claimed
            | RewardTransition::Approved => RewardStatus::Pending,
            RewardTransition::Failed => RewardStatus::Fail,
            RewardTransition::Expired => RewardStatus::Expired,
            RewardTransition::Rejected => RewardStatus::Rejected,
        }
    }

    /// Where the claim deadline must be for this transition (part of the store's condition).
    pub fn deadline(self) -> DeadlineRule {
        match self {
            RewardTransition::Claimed => DeadlineRule::Before,
            RewardTransition::Expired => DeadlineRule::AtOrAfter,
            _ => DeadlineRule::Ignored,
        }
    }

    /// Whether a reward in `status` may take this transition, ignoring the deadline.
    pub fn allowed_from(self, status: RewardStatus) -> bool {
        self.from().contains(&status)
    }

    /// Whether a reward in `status` with `claim_deadline` may take this transition at `now`:
    /// exactly the condition the store writes under.
    pub fn allowed(
        self,
        status: RewardStatus,
        claim_deadline: Option<Instant>,
        now: Instant,
    ) -> bool {
        self.allowed_from(status) && self.deadline().holds(claim_deadline, now)
    }

    /// Whether the transition queues the reward for payout, so its caller sends one payout
    /// message once the write succeeded.
    pub fn queues_payout(self) -> bool {
        self.to() == RewardStatus::Pending && self != RewardTransition::AttemptFailed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RewardTransition::Paid => "paid",
            RewardTransition::AttemptFailed => "attempt_failed",
            RewardTransition::Failed => "failed",
            RewardTransition::Reopened => "reopened",
            RewardTransition::Claimed => "claimed",
            RewardTransition::Expired => "expired",
            RewardTransition::Approved => "approved",
            RewardTransition::Rejected => "rejected",
        }
    }
}

/// What a payout message does with the reward it names, by the reward's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// PENDING: ask finance (idempotently) and record the answer.
    Pay,
    /// SUCCESS: a duplicate. Acknowledged; finance is not called (the notification of a
    /// payment whose notifier died is repaired, see ADR 0005).
    AlreadyPaid,
    /// FAIL: final until an admin retries. Acknowledged; finance is not called and nothing
    /// on the reward changes, however many copies of the message arrive (consumer re-sends,
    /// sweeper re-queues, DLQ redrives).
    Final,
    /// HELD, CLAIMABLE (waiting for a person), REJECTED, EXPIRED (ends without payment):
    /// not payable. Acknowledged; finance is not called and nothing on the reward changes.
    /// Approval and claim move the reward to PENDING and send a message of their own.
    NotPayable,
}

impl RewardStatus {
    pub const ALL: [RewardStatus; 7] = [
        RewardStatus::Pending,
        RewardStatus::Success,
        RewardStatus::Fail,
        RewardStatus::Held,
        RewardStatus::Claimable,
        RewardStatus::Rejected,
        RewardStatus::Expired,
    ];

    /// An end that was never paid and never will be (REJECTED, EXPIRED: no transition leaves
    /// them). The identity claims of a referee whose reward ended so are free again
    /// (`docs/rules.md`).
    pub fn ended_unpaid(self) -> bool {
        matches!(self, RewardStatus::Rejected | RewardStatus::Expired)
    }

    pub fn on_delivery(self) -> Delivery {
        match self {
            RewardStatus::Pending => Delivery::Pay,
            RewardStatus::Success => Delivery::AlreadyPaid,
            RewardStatus::Fail => Delivery::Final,
            RewardStatus::Held
            | RewardStatus::Claimable
            | RewardStatus::Rejected
            | RewardStatus::Expired => Delivery::NotPayable,
        }
    }
}

/// What a member's claim of their own reward does, by the reward's state
/// (`POST /v1/referral/rewards/{id}/claim`; the reward was found and is the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimStep {
    /// CLAIMABLE before its deadline: [`RewardTransition::Claimed`], then one payout message.
    Claim,
    /// Claimed before (PENDING, SUCCESS or FAIL with `claimed_at`): the same success again.
    /// `queue_again` while still PENDING (a message lost after the first claim is replaced;
    /// payout pays once whatever the number of messages).
    AlreadyClaimed { queue_again: bool },
    /// The deadline passed: 409. `expire`: still CLAIMABLE, so the claim records the
    /// expiry ([`RewardTransition::Expired`]) instead of waiting for the sweeper.
    TooLate { expire: bool },
    /// Never claimable (queued at once, HELD, REJECTED): 409.
    NotClaimable,
}

/// What an admin's review of a reward does, by the reward's state
/// (`POST /admin/v1/rewards/{id}/approve` and `/reject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewStep {
    /// HELD: the review's transition ([`RewardTransition::Approved`] then one payout
    /// message, or [`RewardTransition::Rejected`]).
    Apply,
    /// The same review was recorded before: the same answer again (`queue_again`: an
    /// approved reward still PENDING is queued again, paid once).
    AlreadyDone { queue_again: bool },
    /// The other review was recorded before (approve after reject, reject after approve): 409.
    DecidedOtherwise,
    /// Never HELD: 409.
    NotHeld,
}

/// Which review an admin asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Review {
    Approve,
    Reject,
}

impl RewardTransition {
    /// The transition of a review.
    pub fn of_review(review: Review) -> Self {
        match review {
            Review::Approve => RewardTransition::Approved,
            Review::Reject => RewardTransition::Rejected,
        }
    }
}

impl super::Reward {
    /// What the payee's claim does now (see [`ClaimStep`]).
    pub fn on_claim(&self, now: Instant) -> ClaimStep {
        use RewardStatus as S;
        match self.status {
            S::Claimable
                if RewardTransition::Claimed.allowed(self.status, self.claim_deadline, now) =>
            {
                ClaimStep::Claim
            }
            S::Claimable if self.claim_deadline.is_some() => ClaimStep::TooLate { expire: true },
            S::Expired => ClaimStep::TooLate { expire: false },
            S::Pending | S::Success | S::Fail if self.claimed_at.is_some() => {
                ClaimStep::AlreadyClaimed {
                    queue_again: self.status == S::Pending,
                }
            }
            _ => ClaimStep::NotClaimable,
        }
    }

    /// What an admin's `review` does now (see [`ReviewStep`]). A reviewed reward carries
    /// `reviewed_at`; REJECTED is the rejected one, any other status the approved one.
    pub fn on_review(&self, review: Review) -> ReviewStep {
        use RewardStatus as S;
        let reviewed = self.reviewed_at.is_some();
        match (self.status, review) {
            (S::Held, _) => ReviewStep::Apply,
            (S::Rejected, Review::Reject) => ReviewStep::AlreadyDone { queue_again: false },
            (S::Rejected, Review::Approve) => ReviewStep::DecidedOtherwise,
            (S::Pending | S::Success | S::Fail, Review::Approve) if reviewed => {
                ReviewStep::AlreadyDone {
                    queue_again: self.status == S::Pending,
                }
            }
            (S::Pending | S::Success | S::Fail, Review::Reject) if reviewed => {
                ReviewStep::DecidedOtherwise
            }
            _ => ReviewStep::NotHeld,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RewardStatus as S;
    use RewardTransition as T;

    /// Every (transition, status) pair: the whole table of docs/reward-lifecycle.md, with
    /// the deadline on the side the transition needs (its edges are the next test).
    #[test]
    fn every_transition_in_every_status_has_one_answer() {
        use S::*;
        let none = [None; 7];
        #[rustfmt::skip]
        let table: [(T, [Option<S>; 7]); 8] = [
            //             Pending        Success Fail           Held           Claimable      Rejected Expired
            (T::Paid,          [Some(Success), None, Some(Success), None,          None,          None, None]),
            (T::AttemptFailed, [Some(Pending), None, None,          None,          None,          None, None]),
            (T::Failed,        [Some(Fail),    None, None,          None,          None,          None, None]),
            (T::Reopened,      [None,          None, Some(Pending), None,          None,          None, None]),
            (T::Claimed,       [None,          None, None,          None,          Some(Pending), None, None]),
            (T::Expired,       [None,          None, None,          None,          Some(Expired), None, None]),
            (T::Approved,      [None,          None, None,          Some(Pending), None,          None, None]),
            (T::Rejected,      [None,          None, None,          Some(Rejected), None,         None, None]),
        ];
        assert_eq!(table.len(), T::ALL.len());
        assert_ne!(table[0].1, none);
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .to_utc();
        for (transition, row) in table {
            for (status, after) in S::ALL.into_iter().zip(row) {
                let deadline = match transition.deadline() {
                    DeadlineRule::Before => t0 + chrono::Duration::seconds(1),
                    _ => t0,
                };
                let got = transition
                    .allowed(status, Some(deadline), t0)
                    .then_some(transition.to());
                assert_eq!(got, after, "{transition:?} from {status:?}");
                assert_eq!(
                    transition.allowed_from(status),
                    after.is_some(),
                    "{transition:?} from {status:?}"
                );
            }
        }
    }

    #[test]
    fn a_claim_must_come_before_the_deadline_and_expiry_from_it_on() {
        let deadline = chrono::DateTime::parse_from_rfc3339("2026-11-08T00:00:00Z")
            .unwrap()
            .to_utc();
        let ms = chrono::Duration::milliseconds(1);
        let d = Some(deadline);
        assert!(T::Claimed.allowed(S::Claimable, d, deadline - ms));
        assert!(!T::Claimed.allowed(S::Claimable, d, deadline));
        assert!(!T::Claimed.allowed(S::Claimable, d, deadline + ms));
        assert!(!T::Expired.allowed(S::Claimable, d, deadline - ms));
        assert!(T::Expired.allowed(S::Claimable, d, deadline));
        assert!(T::Expired.allowed(S::Claimable, d, deadline + ms));
        // A CLAIMABLE reward without a deadline is neither claimed nor expired (it cannot be
        // made: the constructor always sets one).
        assert!(!T::Claimed.allowed(S::Claimable, None, deadline));
        assert!(!T::Expired.allowed(S::Claimable, None, deadline));
        // The deadline is never part of the other transitions.
        assert!(T::Approved.allowed(S::Held, None, deadline));
    }

    #[test]
    fn only_a_pending_reward_is_paid_by_a_delivery() {
        assert_eq!(S::Pending.on_delivery(), Delivery::Pay);
        assert_eq!(S::Success.on_delivery(), Delivery::AlreadyPaid);
        assert_eq!(S::Fail.on_delivery(), Delivery::Final);
        for status in [S::Held, S::Claimable, S::Rejected, S::Expired] {
            assert_eq!(status.on_delivery(), Delivery::NotPayable, "{status:?}");
        }
    }

    #[test]
    fn fail_is_left_only_by_an_admin_retry_or_a_confirmed_payment() {
        let out_of_fail: Vec<_> = T::ALL
            .into_iter()
            .filter(|t| t.allowed_from(S::Fail) && t.to() != S::Fail)
            .collect();
        assert_eq!(out_of_fail, vec![T::Paid, T::Reopened]);
    }

    #[test]
    fn held_and_claimable_reach_payment_only_through_approval_and_claim() {
        for (status, only) in [(S::Held, T::Approved), (S::Claimable, T::Claimed)] {
            let to_pending: Vec<_> = T::ALL
                .into_iter()
                .filter(|t| t.allowed_from(status) && t.to() == S::Pending)
                .collect();
            assert_eq!(to_pending, vec![only], "{status:?}");
            assert!(!T::Paid.allowed_from(status));
        }
        // REJECTED and EXPIRED are ends: nothing leaves them.
        for end in [S::Rejected, S::Expired, S::Success] {
            assert!(
                T::ALL.iter().all(|t| !t.allowed_from(end)),
                "{end:?} is an end"
            );
        }
    }

    fn reward(status: S) -> crate::domain::Reward {
        use crate::domain::{
            AccountId, EventId, JkosId, MemberProfile, ReferralCode, ReferralOutcome,
            ReferralSource, ReferralUse, RewardAmount, RewardTerms, RewardType, Side,
        };
        let t0 = crate::time::parse("2026-11-01T00:00:00Z").unwrap();
        let mut referee = MemberProfile::new(
            AccountId::parse("acc-1").unwrap(),
            JkosId::parse("jk-1").unwrap(),
            t0,
        );
        referee.referral = Some(ReferralUse {
            code: ReferralCode::parse("AB2CD3").unwrap(),
            used_at: t0,
            referrer_phone: None,
            event_id: None,
            outcome: ReferralOutcome::Accepted {
                event_id: EventId::parse("personal").unwrap(),
                referrer_source: ReferralSource::parse("member:jk-2").unwrap(),
            },
        });
        let terms = RewardTerms {
            reward_type: RewardType::Coin,
            amount: RewardAmount::parse("50").unwrap(),
        };
        let mut r = crate::domain::Reward::pending(&referee, Side::Referee, terms, t0, t0).unwrap();
        r.status = status;
        r
    }

    /// Every status × {claimed before or not} → what a claim does, at and around the deadline.
    #[test]
    fn a_claim_has_one_answer_in_every_state() {
        let deadline = crate::time::parse("2026-11-08T00:00:00Z").unwrap();
        let before = deadline - chrono::Duration::milliseconds(1);
        let claimable = |claimed: bool| {
            let mut r = reward(S::Claimable);
            r.claim_deadline = Some(deadline);
            r.claimed_at = claimed.then_some(before);
            r
        };
        assert_eq!(claimable(false).on_claim(before), ClaimStep::Claim);
        assert_eq!(
            claimable(false).on_claim(deadline),
            ClaimStep::TooLate { expire: true }
        );
        let mut no_deadline = claimable(false);
        no_deadline.claim_deadline = None;
        assert_eq!(no_deadline.on_claim(before), ClaimStep::NotClaimable);
        for (status, claimed, expected) in [
            (
                S::Pending,
                true,
                ClaimStep::AlreadyClaimed { queue_again: true },
            ),
            (
                S::Success,
                true,
                ClaimStep::AlreadyClaimed { queue_again: false },
            ),
            (
                S::Fail,
                true,
                ClaimStep::AlreadyClaimed { queue_again: false },
            ),
            (S::Pending, false, ClaimStep::NotClaimable),
            (S::Success, false, ClaimStep::NotClaimable),
            (S::Fail, false, ClaimStep::NotClaimable),
            (S::Held, false, ClaimStep::NotClaimable),
            (S::Rejected, false, ClaimStep::NotClaimable),
            (S::Expired, false, ClaimStep::TooLate { expire: false }),
        ] {
            let mut r = reward(status);
            r.claim_deadline = claimed.then_some(deadline);
            r.claimed_at = claimed.then_some(before);
            // The answer does not depend on the time once the reward left CLAIMABLE.
            for now in [before, deadline, deadline + chrono::Duration::days(1)] {
                assert_eq!(r.on_claim(now), expected, "{status:?} claimed={claimed}");
            }
        }
    }

    #[test]
    fn a_review_has_one_answer_in_every_state() {
        use Review::*;
        let t = crate::time::parse("2026-11-02T00:00:00Z").unwrap();
        let rows = [
            (S::Held, false, Approve, ReviewStep::Apply),
            (S::Held, false, Reject, ReviewStep::Apply),
            (
                S::Pending,
                true,
                Approve,
                ReviewStep::AlreadyDone { queue_again: true },
            ),
            (
                S::Success,
                true,
                Approve,
                ReviewStep::AlreadyDone { queue_again: false },
            ),
            (
                S::Fail,
                true,
                Approve,
                ReviewStep::AlreadyDone { queue_again: false },
            ),
            (S::Pending, true, Reject, ReviewStep::DecidedOtherwise),
            (S::Success, true, Reject, ReviewStep::DecidedOtherwise),
            (
                S::Rejected,
                true,
                Reject,
                ReviewStep::AlreadyDone { queue_again: false },
            ),
            (S::Rejected, true, Approve, ReviewStep::DecidedOtherwise),
            (S::Pending, false, Approve, ReviewStep::NotHeld),
            (S::Success, false, Reject, ReviewStep::NotHeld),
            (S::Fail, false, Approve, ReviewStep::NotHeld),
            (S::Claimable, false, Approve, ReviewStep::NotHeld),
            (S::Expired, false, Reject, ReviewStep::NotHeld),
        ];
        for (status, reviewed, review, expected) in rows {
            let mut r = reward(status);
            r.reviewed_at = reviewed.then_some(t);
            assert_eq!(r.on_review(review), expected, "{status:?} {review:?}");
        }
        assert_eq!(RewardTransition::of_review(Approve).to(), S::Pending);
        assert_eq!(RewardTransition::of_review(Reject).to(), S::Rejected);
    }

    #[test]
    fn the_transitions_to_pending_that_a_person_decides_send_a_payout_message() {
        let queuing: Vec<_> = T::ALL.into_iter().filter(|t| t.queues_payout()).collect();
        assert_eq!(queuing, vec![T::Reopened, T::Claimed, T::Approved]);
    }
}

#[cfg(test)]
mod docs_tests {
    use super::*;

    /// docs/reward-lifecycle.md lists each transition with its from and to statuses, as here.
    #[test]
    fn the_documented_table_is_the_code() {
        let doc = include_str!("../../../docs/reward-lifecycle.md");
        for transition in RewardTransition::ALL {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", transition.as_str())))
                .unwrap_or_else(|| panic!("no row for {transition:?}"));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let from: Vec<&str> = transition.from().iter().map(|s| s.as_str()).collect();
            assert_eq!(cells[2], from.join(", "), "{transition:?} from");
            assert_eq!(cells[3], transition.to().as_str(), "{transition:?} to");
        }
    }

    /// The "inputs in every state" table has one column per status, in the code's order.
    #[test]
    fn the_inputs_table_has_a_column_for_every_status() {
        let doc = include_str!("../../../docs/reward-lifecycle.md");
        let header = doc
            .lines()
            .find(|l| l.starts_with("| input |"))
            .expect("the inputs table");
        let columns: Vec<&str> = header
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .skip(1)
            .collect();
        let statuses: Vec<&str> = RewardStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(columns, statuses);
        for row in doc.lines().skip_while(|l| *l != header).skip(2) {
            if !row.starts_with('|') {
                break;
            }
            // "| input | PENDING cell | … | EXPIRED cell |": one separator per status.
            assert_eq!(
                row.matches(" | ").count(),
                statuses.len(),
                "every row answers every status: {row}"
            );
        }
    }
}
