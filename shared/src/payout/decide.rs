//! The payout's decisions, pure: from what a message has shown so far (the reward read, the
//! finance answer, the result of recording it) to the next [`Action`]. The effects step
//! (`process.rs`) performs an action, observes its result as a [`Fact`], and asks again until
//! the answer is an outcome.

use super::MessageOutcome;
use crate::domain::{Delivery, Reward, RewardId};
use crate::partners::PartnerError;
use crate::store::StoreError;

/// What the last effect showed.
pub(super) enum Fact<'a> {
    /// The reward named by the message, as read (one consistent GetItem).
    Read {
        reward_id: &'a RewardId,
        read: &'a Result<Option<Reward>, StoreError>,
    },
    /// Finance's answer to the compensation: its id, or why not.
    Compensated(&'a Result<String, PartnerError>),
    /// The result of marking the reward SUCCESS.
    MarkedPaid(&'a Result<(), StoreError>),
    /// The result of recording a failed attempt (or the FAIL); `then` is where a recorded
    /// attempt leads.
    FailureRecorded {
        result: &'a Result<(), StoreError>,
        then: MessageOutcome,
    },
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    /// Copy the message to the DLQ with this reason and let it go.
    DeadLetter(String),
    /// Stretch the message's visibility and hand it back to SQS; `why`, if any, is logged
    /// as a warning with the error that led here.
    RetryLater { why: Option<&'static str> },
    /// The reward is PENDING: ask finance for the compensation.
    Compensate,
    /// Already SUCCESS: a duplicate (notify now if the payer died before notifying).
    AlreadyPaid,
    /// Mark the reward SUCCESS with finance's compensation id.
    MarkPaid(String),
    /// Record a failed attempt (`last`: the reward becomes FAIL); `then` is the outcome
    /// once recorded.
    RecordFailure {
        reason: String,
        last: bool,
        then: MessageOutcome,
    },
    /// Paid and recorded now: notify the member.
    Notify,
    /// Nothing left to do.
    Finish(MessageOutcome),
}

/// Where a message stands: which receive this is, and the last the queue allows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Attempt {
    pub receive_count: u32,
    pub max_receives: u32,
}

pub(super) fn decide(fact: Fact<'_>, attempt: Attempt) -> Action {
    match fact {
        Fact::Read {
            read: Ok(Some(reward)),
            ..
        } => match reward.status.on_delivery() {
            Delivery::Pay => Action::Compensate,
            Delivery::AlreadyPaid => Action::AlreadyPaid,
            Delivery::Final => Action::Finish(MessageOutcome::AlreadyFailed),
            Delivery::NotPayable => Action::Finish(MessageOutcome::NotPayable),
        },
        Fact::Read {
            read: Ok(None),
            reward_id,
        } => Action::DeadLetter(format!("unknown_reward: {reward_id}")),
        Fact::Read {
            read: Err(e @ StoreError::Corrupt { .. }),
            ..
        } => Action::DeadLetter(format!("corrupt_reward: {e}")),
        Fact::Read { read: Err(_), .. } => Action::RetryLater {
            why: Some("reward unreadable; retrying later"),
        },
        Fact::Compensated(Ok(compensation_id)) => Action::MarkPaid(compensation_id.clone()),
        Fact::Compensated(Err(e)) if e.is_retryable() => {
            let last = attempt.receive_count >= attempt.max_receives;
            let reason = if last {
                format!(
                    "gave up after {} attempts; last error: {e}",
                    attempt.receive_count
                )
            } else {
                e.to_string()
            };
            let then = if last {
                MessageOutcome::Exhausted
            } else {
                MessageOutcome::RetryLater
            };
            Action::RecordFailure { reason, last, then }
        }
        // A 4xx (or 409) will never work: FAIL at once.
        Fact::Compensated(Err(e)) => Action::RecordFailure {
            reason: e.to_string(),
            last: true,
            then: MessageOutcome::Rejected,
        },
        Fact::MarkedPaid(Ok(())) => Action::Notify,
        // Another delivery won the update; finance answered both alike.
        Fact::MarkedPaid(Err(StoreError::Conflict { .. })) => {
            Action::Finish(MessageOutcome::Duplicate)
        }
        // Finance has paid; the retry gets the same answer and records it.
        Fact::MarkedPaid(Err(_)) => Action::RetryLater {
            why: Some("paid but not recorded; retrying later"),
        },
        Fact::FailureRecorded {
            result: Ok(()),
            then,
        } => match then {
            MessageOutcome::RetryLater => Action::RetryLater { why: None },
            done => Action::Finish(done),
        },
        // Not PENDING any more: another delivery recorded an end first; it stands.
        Fact::FailureRecorded {
            result: Err(StoreError::Conflict { .. }),
            ..
        } => Action::Finish(MessageOutcome::Duplicate),
        // Recording an attempt is for people; the retry does not depend on it. But a FAIL
        // that was not recorded must not be let go: the message stays, and after the last
        // receive SQS moves it to the DLQ, where it needs a person (the reward is PENDING).
        Fact::FailureRecorded {
            result: Err(_),
            then,
        } => Action::RetryLater {
            why: Some(if then == MessageOutcome::Rejected {
                "FAIL not recorded; retrying later"
            } else {
                "attempt not recorded"
            }),
        },
    }
}

/// The DLQ reason of a body that is not a payout message: serde's classification and
/// position only (its message can quote the offending value).
pub(super) fn malformed_body(e: &serde_json::Error) -> String {
    format!(
        "malformed_body: {:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// Whether a duplicate of a SUCCESS reward must notify: no notification outcome was
/// recorded and the payment is older than `after` (the payer died before notifying).
pub(super) fn notification_lost(
    reward: &Reward,
    now: crate::time::Instant,
    after: std::time::Duration,
) -> bool {
    match (&reward.notification, reward.paid_at) {
        (None, Some(paid_at)) => (now - paid_at).to_std().unwrap_or_default() >= after,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageOutcome::*;

    fn attempt(receive_count: u32) -> Attempt {
        Attempt {
            receive_count,
            max_receives: 5,
        }
    }

    fn unavailable() -> StoreError {
        StoreError::Unavailable {
            operation: "GetItem",
            message: "timeout".into(),
        }
    }

    fn conflict() -> StoreError {
        StoreError::Conflict {
            entity: crate::store::Entity::Reward,
            key: "REWARD#r".into(),
        }
    }

    fn finance_down() -> PartnerError {
        PartnerError::Unavailable {
            partner: "finance",
            status: 503,
            code: None,
        }
    }

    fn finance_times_out() -> PartnerError {
        PartnerError::Timeout {
            partner: "finance",
            timeout_ms: 1,
        }
    }

    fn finance_refuses() -> PartnerError {
        PartnerError::Rejected {
            partner: "finance",
            status: 400,
            code: Some("INVALID".into()),
            message: "bad request".into(),
        }
    }

    /// The reward as read decides whether finance is called: only PENDING is paid; HELD,
    /// CLAIMABLE, REJECTED and EXPIRED are acknowledged as not payable.
    #[test]
    fn only_a_pending_reward_as_read_is_paid() {
        use crate::domain::{
            EventId, ReferralOutcome, ReferralSource, RewardAmount, RewardStatus, RewardTerms,
            RewardType, Side,
        };
        let t = crate::time::parse("2026-11-20T08:00:00Z").unwrap();
        let member = crate::store::items::tests::sample_member(Some(ReferralOutcome::Accepted {
            event_id: EventId::parse("personal").unwrap(),
            referrer_source: ReferralSource::parse("member:jkos-1").unwrap(),
        }));
        let terms = RewardTerms {
            reward_type: RewardType::Coin,
            amount: RewardAmount::parse("50").unwrap(),
        };
        let expected = |status| match status {
            RewardStatus::Pending => Action::Compensate,
            RewardStatus::Success => Action::AlreadyPaid,
            RewardStatus::Fail => Action::Finish(AlreadyFailed),
            RewardStatus::Held
            | RewardStatus::Claimable
            | RewardStatus::Rejected
            | RewardStatus::Expired => Action::Finish(NotPayable),
        };
        for status in RewardStatus::ALL {
            let mut reward = Reward::pending(&member, Side::Referee, terms, t, t).unwrap();
            reward.status = status;
            let read = Ok(Some(reward.clone()));
            let fact = Fact::Read {
                reward_id: &reward.reward_id,
                read: &read,
            };
            // Whatever the receive, first or last.
            for receive in [1, 5] {
                assert_eq!(
                    decide(fact_again(&fact), attempt(receive)),
                    expected(status)
                );
            }
        }
    }

    fn fact_again<'a>(fact: &Fact<'a>) -> Fact<'a> {
        match fact {
            Fact::Read { reward_id, read } => Fact::Read { reward_id, read },
            _ => unreachable!("only reads are repeated here"),
        }
    }

    #[test]
    fn store_and_finance_results_decide_the_next_step() {
        let corrupt = StoreError::Corrupt {
            key: "REWARD#r".into(),
            message: "bad".into(),
        };
        type ReadRow = (&'static str, Result<Option<Reward>, StoreError>, Action);
        let rows: Vec<ReadRow> = vec![
            (
                "no such reward",
                Ok(None),
                Action::DeadLetter("unknown_reward: m-referee".into()),
            ),
            (
                "corrupt reward",
                Err(corrupt),
                Action::DeadLetter("corrupt_reward: stored item REWARD#r is not valid: bad".into()),
            ),
            (
                "store down",
                Err(unavailable()),
                Action::RetryLater {
                    why: Some("reward unreadable; retrying later"),
                },
            ),
        ];
        let reward_id = RewardId::new(
            &crate::domain::AccountId::parse("m").unwrap(),
            crate::domain::Side::Referee,
        );
        for (name, read, expected) in rows {
            let fact = Fact::Read {
                reward_id: &reward_id,
                read: &read,
            };
            assert_eq!(decide(fact, attempt(1)), expected, "{name}");
        }

        let rows: Vec<(&str, Result<(), StoreError>, Action)> = vec![
            ("marked", Ok(()), Action::Notify),
            ("lost the race", Err(conflict()), Action::Finish(Duplicate)),
            (
                "store down",
                Err(unavailable()),
                Action::RetryLater {
                    why: Some("paid but not recorded; retrying later"),
                },
            ),
        ];
        for (name, result, expected) in rows {
            assert_eq!(
                decide(Fact::MarkedPaid(&result), attempt(1)),
                expected,
                "{name}"
            );
        }

        let rows: Vec<(&str, Result<(), StoreError>, MessageOutcome, Action)> = vec![
            (
                "attempt recorded",
                Ok(()),
                RetryLater,
                Action::RetryLater { why: None },
            ),
            (
                "FAIL recorded",
                Ok(()),
                Exhausted,
                Action::Finish(Exhausted),
            ),
            (
                "refusal recorded",
                Ok(()),
                Rejected,
                Action::Finish(Rejected),
            ),
            (
                "another end first",
                Err(conflict()),
                Rejected,
                Action::Finish(Duplicate),
            ),
            (
                "not recorded",
                Err(unavailable()),
                Exhausted,
                Action::RetryLater {
                    why: Some("attempt not recorded"),
                },
            ),
        ];
        for (name, result, then, expected) in rows {
            let fact = Fact::FailureRecorded {
                result: &result,
                then,
            };
            assert_eq!(decide(fact, attempt(1)), expected, "{name}");
        }
    }

    #[test]
    fn finance_answers_become_paid_retried_exhausted_or_rejected() {
        let rows: Vec<(&str, Result<String, PartnerError>, u32, Action)> = vec![
            ("paid", Ok("c-1".into()), 1, Action::MarkPaid("c-1".into())),
            (
                "down, first receive",
                Err(finance_down()),
                1,
                Action::RecordFailure {
                    reason: finance_down().to_string(),
                    last: false,
                    then: RetryLater,
                },
            ),
            (
                "down, last receive",
                Err(finance_down()),
                5,
                Action::RecordFailure {
                    reason: format!("gave up after 5 attempts; last error: {}", finance_down()),
                    last: true,
                    then: Exhausted,
                },
            ),
            (
                "timeout is retried too",
                Err(finance_times_out()),
                2,
                Action::RecordFailure {
                    reason: finance_times_out().to_string(),
                    last: false,
                    then: RetryLater,
                },
            ),
            (
                "a 4xx is final at once, whatever the receive",
                Err(finance_refuses()),
                1,
                Action::RecordFailure {
                    reason: finance_refuses().to_string(),
                    last: true,
                    then: Rejected,
                },
            ),
        ];
        for (name, answer, receive, expected) in rows {
            assert_eq!(
                decide(Fact::Compensated(&answer), attempt(receive)),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn a_lost_notification_is_one_recorded_for_none_long_after_the_payment() {
        use crate::domain::{
            EventId, NotificationOutcome, NotificationStatus, ReferralOutcome, ReferralSource,
            RewardAmount, RewardTerms, RewardType, Side,
        };
        use chrono::TimeZone;
        let paid = chrono::Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
        let member = crate::store::items::tests::sample_member(Some(ReferralOutcome::Accepted {
            event_id: EventId::parse("personal").unwrap(),
            referrer_source: ReferralSource::parse("member:jkos-1").unwrap(),
        }));
        let terms = RewardTerms {
            reward_type: RewardType::Coin,
            amount: RewardAmount::parse("50").unwrap(),
        };
        let reward = |paid_at: Option<_>, notified: bool| {
            let mut r = Reward::pending(&member, Side::Referrer, terms, paid, paid).unwrap();
            r.paid_at = paid_at;
            r.notification = notified.then(|| NotificationOutcome {
                status: NotificationStatus::Sent,
                at: paid,
                window_id: None,
                calls: 1,
                sent: vec![],
                not_sent: vec![],
                error: None,
            });
            r
        };
        let after = std::time::Duration::from_secs(300);
        let minutes = |m| paid + chrono::Duration::minutes(m);
        // (case, paid_at, notification recorded, now, lost?)
        let rows = [
            (
                "paid 10 min ago, nothing recorded",
                Some(paid),
                false,
                minutes(10),
                true,
            ),
            (
                "paid exactly `after` ago",
                Some(paid),
                false,
                minutes(5),
                true,
            ),
            (
                "paid 4 min ago: the payer may still be notifying",
                Some(paid),
                false,
                minutes(4),
                false,
            ),
            (
                "an outcome is recorded",
                Some(paid),
                true,
                minutes(60),
                false,
            ),
            ("not paid (no paid_at)", None, false, minutes(60), false),
            (
                "clock behind the payment",
                Some(paid),
                false,
                minutes(-1),
                false,
            ),
        ];
        for (case, paid_at, notified, now, lost) in rows {
            assert_eq!(
                notification_lost(&reward(paid_at, notified), now, after),
                lost,
                "{case}"
            );
        }
    }
}
