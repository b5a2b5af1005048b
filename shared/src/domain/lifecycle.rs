//! The reward lifecycle: the one place that says which status a reward may move to, from which
//! statuses, and what a payout delivery does in each status. The store builds the condition
//! of every status write from [`RewardTransition::from`], and the payout asks
//! [`RewardStatus::on_delivery`] before it calls finance, so the table in
//! `docs/reward-lifecycle.md` (kept equal to [`RewardTransition::ALL`] by a test) is the code.
//!
//! ```text
//!            finance 2xx                       admin retry
//!  PENDING ─────────────▶ SUCCESS      FAIL ─────────────▶ PENDING
//!     │  finance 4xx/409, or retries exhausted
//!     └────────────────────────────▶ FAIL
//! ```

use super::RewardStatus;

/// A change of a reward's recorded state. Each is one conditional write in the store whose
/// condition is "the status is one of [`RewardTransition::from`]".
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
}

impl RewardTransition {
    pub const ALL: [RewardTransition; 4] = [
        RewardTransition::Paid,
        RewardTransition::AttemptFailed,
        RewardTransition::Failed,
        RewardTransition::Reopened,
    ];

    /// The statuses this transition may start from; any other makes the write a conflict.
    pub fn from(self) -> &'static [RewardStatus] {
        match self {
            RewardTransition::Paid => &[RewardStatus::Pending, RewardStatus::Fail],
            RewardTransition::AttemptFailed | RewardTransition::Failed => &[RewardStatus::Pending],
            RewardTransition::Reopened => &[RewardStatus::Fail],
        }
    }

    /// The status after the transition.
    pub fn to(self) -> RewardStatus {
        match self {
            RewardTransition::Paid => RewardStatus::Success,
            RewardTransition::AttemptFailed | RewardTransition::Reopened => RewardStatus::Pending,
            RewardTransition::Failed => RewardStatus::Fail,
        }
    }

    /// Whether a reward in `status` may take this transition.
    pub fn allowed_from(self, status: RewardStatus) -> bool {
        self.from().contains(&status)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RewardTransition::Paid => "paid",
            RewardTransition::AttemptFailed => "attempt_failed",
            RewardTransition::Failed => "failed",
            RewardTransition::Reopened => "reopened",
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

#[cfg(test)]
mod tests {
    use super::*;
    use RewardStatus::*;
    use RewardTransition::*;

    /// Every (transition, status) pair: the whole table of docs/reward-lifecycle.md.
    #[test]
    fn every_transition_in_every_status_has_one_answer() {
        let table = [
            (Paid, Pending, Some(Success)),
            (Paid, Success, None),
            (Paid, Fail, Some(Success)),
            (AttemptFailed, Pending, Some(Pending)),
            (AttemptFailed, Success, None),
            (AttemptFailed, Fail, None),
            (Failed, Pending, Some(Fail)),
            (Failed, Success, None),
            (Failed, Fail, None),
            (Reopened, Pending, None),
            (Reopened, Success, None),
            (Reopened, Fail, Some(Pending)),
            // Held, claimable, rejected and expired rewards take none of the payout's writes.
            (Paid, Held, None),
            (Paid, Claimable, None),
            (Paid, Rejected, None),
            (Paid, Expired, None),
            (AttemptFailed, Held, None),
            (AttemptFailed, Claimable, None),
            (AttemptFailed, Rejected, None),
            (AttemptFailed, Expired, None),
            (Failed, Held, None),
            (Failed, Claimable, None),
            (Failed, Rejected, None),
            (Failed, Expired, None),
            (Reopened, Held, None),
            (Reopened, Claimable, None),
            (Reopened, Rejected, None),
            (Reopened, Expired, None),
        ];
        assert_eq!(
            table.len(),
            RewardTransition::ALL.len() * RewardStatus::ALL.len()
        );
        for (transition, status, after) in table {
            let got = transition.allowed_from(status).then_some(transition.to());
            assert_eq!(got, after, "{transition:?} from {status:?}");
        }
    }

    #[test]
    fn only_a_pending_reward_is_paid_by_a_delivery() {
        assert_eq!(Pending.on_delivery(), Delivery::Pay);
        assert_eq!(Success.on_delivery(), Delivery::AlreadyPaid);
        assert_eq!(Fail.on_delivery(), Delivery::Final);
        for status in [Held, Claimable, Rejected, Expired] {
            assert_eq!(status.on_delivery(), Delivery::NotPayable, "{status:?}");
        }
    }

    #[test]
    fn fail_is_left_only_by_an_admin_retry_or_a_confirmed_payment() {
        let out_of_fail: Vec<_> = RewardTransition::ALL
            .into_iter()
            .filter(|t| t.allowed_from(Fail) && t.to() != Fail)
            .collect();
        assert_eq!(out_of_fail, vec![Paid, Reopened]);
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
}
