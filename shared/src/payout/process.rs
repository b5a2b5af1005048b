//! The payout's effects for one message: read, pay, record, notify, postpone, dead-letter.
//! Which of them happen, in which order, is [`decide`]d from what the last one showed. Every
//! line logged here carries the message's span (message id, reward id, receive count).

use super::PayoutStore;
use super::decide::{Action, Attempt, Fact, decide, malformed_body, notification_lost};
use super::{MessageOutcome, NotificationTally, Payout, notify_member};
use crate::contracts::payout::PayoutMessage;
use crate::domain::{Reward, RewardStatus};
use crate::partners::CompensationRequest;
use crate::queue::RetryQueue;
use crate::time::Instant;
use aws_lambda_events::event::sqs::SqsMessage;

/// Logs the error that makes `next` a retry, under the retry's reason (`last`: on the queue's
/// last receive, after which SQS moves the message to the DLQ).
fn log_retry(next: &Action, error: &dyn std::fmt::Display, attempt: Attempt) {
    if let Action::RetryLater { why: Some(why) } = next {
        let last = attempt.receive_count >= attempt.max_receives;
        tracing::warn!(error = %error, last, "{why}");
    }
}

/// The message's `ApproximateReceiveCount` (1 when absent).
pub(super) fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

impl<S, Q> Payout<S, Q>
where
    S: PayoutStore + ?Sized,
    Q: RetryQueue + ?Sized,
{
    /// One message, inside its span.
    pub(super) async fn process(
        &self,
        message: &SqsMessage,
        tally: &NotificationTally,
    ) -> MessageOutcome {
        let attempt = Attempt {
            receive_count: receive_count(message),
            max_receives: self.settings.max_receives,
        };
        let body = message.body.as_deref().unwrap_or_default();
        let request = match PayoutMessage::parse(body) {
            Ok(m) => m,
            Err(e) => return self.dead_letter(body, &malformed_body(&e)).await,
        };
        let reward_id = request.reward_id;
        tracing::Span::current().record("reward", tracing::field::display(&reward_id));
        let read = self.store.get_reward(&reward_id).await;
        let mut action = decide(
            Fact::Read {
                reward_id: &reward_id,
                read: &read,
            },
            attempt,
        );
        let reward = match read {
            Ok(Some(reward)) => reward,
            Ok(None) => return self.conclude(action, message, body, attempt).await,
            Err(e) => {
                log_retry(&action, &e, attempt);
                return self.conclude(action, message, body, attempt).await;
            }
        };
        let now = chrono::Utc::now();
        loop {
            action = match action {
                Action::AlreadyPaid => {
                    if notification_lost(&reward, now, self.settings.notify_recovery_after) {
                        tracing::info!("paid without a notification outcome; notifying now");
                        self.notify_and_record(&reward, now, tally).await;
                    }
                    tracing::info!("already paid; duplicate message");
                    return MessageOutcome::Duplicate;
                }
                Action::Compensate => {
                    let answer = self
                        .partners
                        .finance
                        .compensate(
                            reward_id.as_str(),
                            &CompensationRequest::for_reward(&reward),
                        )
                        .await;
                    let next = decide(Fact::Compensated(&answer), attempt);
                    if let (Err(e), Action::RecordFailure { last, then, .. }) = (&answer, &next) {
                        if *then == MessageOutcome::Rejected {
                            tracing::warn!(error = %e.summary(), "finance refused the compensation; reward FAIL");
                        } else {
                            tracing::warn!(error = %e.summary(), last, "compensation failed");
                        }
                    }
                    next
                }
                Action::MarkPaid(compensation_id) => {
                    let marked = self
                        .store
                        .mark_reward_paid(&reward, &compensation_id, now)
                        .await;
                    let next = decide(Fact::MarkedPaid(&marked), attempt);
                    match &marked {
                        Ok(()) => tracing::info!(%compensation_id, "reward paid"),
                        Err(e) => log_retry(&next, e, attempt),
                    }
                    if next == Action::Finish(MessageOutcome::Duplicate) {
                        tracing::info!("paid concurrently by another delivery");
                    }
                    next
                }
                Action::Notify => {
                    let mut paid = reward.clone();
                    paid.status = RewardStatus::Success;
                    paid.paid_at = Some(now);
                    self.notify_and_record(&paid, chrono::Utc::now(), tally)
                        .await;
                    return MessageOutcome::Paid;
                }
                Action::RecordFailure { reason, last, then } => {
                    let recorded = self
                        .store
                        .record_payout_failure(&reward, &reason, last, now)
                        .await;
                    let next = decide(
                        Fact::FailureRecorded {
                            result: &recorded,
                            then,
                        },
                        attempt,
                    );
                    if let Err(e) = &recorded {
                        log_retry(&next, e, attempt);
                    }
                    next
                }
                done => return self.conclude(done, message, body, attempt).await,
            };
        }
    }

    /// The actions that end a message: acknowledge, dead-letter, or hand back.
    async fn conclude(
        &self,
        action: Action,
        message: &SqsMessage,
        body: &str,
        attempt: Attempt,
    ) -> MessageOutcome {
        match action {
            Action::Finish(MessageOutcome::AlreadyFailed) => {
                tracing::info!(
                    "reward is FAIL; acknowledged without paying (an admin retry reopens it)"
                );
                MessageOutcome::AlreadyFailed
            }
            Action::Finish(MessageOutcome::NotPayable) => {
                tracing::info!(
                    "reward is not payable (held, claimable, rejected or expired); acknowledged without paying"
                );
                MessageOutcome::NotPayable
            }
            Action::Finish(outcome) => outcome,
            Action::DeadLetter(reason) => self.dead_letter(body, &reason).await,
            // RetryLater; and, defensively, any action `process` performs itself: the message
            // comes back rather than being lost.
            _ => self.retry_later(message, attempt).await,
        }
    }

    /// Stretches the message's visibility (growing delay) and hands it back to SQS.
    async fn retry_later(&self, message: &SqsMessage, attempt: Attempt) -> MessageOutcome {
        let delay = self.settings.retry_delay(attempt.receive_count);
        if let Some(handle) = message.receipt_handle.as_deref()
            && let Err(e) = self.queue.postpone(handle, delay).await
        {
            // The queue's own visibility timeout applies instead: later, never lost.
            tracing::warn!(error = %e, "could not postpone the message");
        }
        MessageOutcome::RetryLater
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> MessageOutcome {
        tracing::error!(
            reason,
            body_len = body.len(),
            "unprocessable payout message; moving it to the DLQ"
        );
        match self.queue.dead_letter(body, reason).await {
            Ok(()) => MessageOutcome::DeadLettered,
            Err(e) => {
                tracing::warn!(error = %e, "DLQ unavailable; the message stays in the queue");
                MessageOutcome::RetryLater
            }
        }
    }

    async fn notify_and_record(&self, reward: &Reward, now: Instant, tally: &NotificationTally) {
        let outcome = notify_member(
            self.store.as_ref(),
            &self.configs,
            &self.partners.msghub,
            reward,
            now,
            self.settings.notify_retry_delay,
        )
        .await;
        tracing::info!(status = ?outcome.status, calls = outcome.calls, "member notified");
        tally.add(&outcome);
        if let Err(e) = self
            .store
            .record_notification(&reward.reward_id, &outcome)
            .await
        {
            // The payment stands; only the record of the notification is missing.
            tracing::warn!(error = %e, "notification outcome not recorded");
        }
    }
}
