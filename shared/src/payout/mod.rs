//! The reward payout: one SQS message = one reward to pay (ADR 0005).
//!
//! For each message: read the reward (1 consistent GetItem). What a message does then depends
//! only on the reward's status ([`RewardStatus::on_delivery`], docs/reward-lifecycle.md):
//! SUCCESS → a duplicate; FAIL → final until an admin retries it, acknowledged without calling
//! finance or touching the reward. PENDING → ask finance for the compensation with the reward id as the
//! idempotency key, then mark the reward SUCCESS by a conditional update (`status <> SUCCESS`).
//! Only the caller whose update wins notifies the member, so two concurrent deliveries of the
//! same reward pay once (finance's idempotency) and notify once (the condition).
//!
//! Failures: a timeout, 5xx or 429 is retried by SQS: the message is reported in
//! `batchItemFailures` after its visibility is stretched (30 s, 60 s, 120 s… with jitter),
//! and the attempt is recorded on the reward. On the queue's last receive the reward becomes
//! FAIL with the last error and the message is let go. A 4xx (or 409) will never work: FAIL
//! with that reason at once and the message is let go. A reward that reached a recorded end
//! is never dead-lettered, so the DLQ holds only what needs a person: a body that is not a
//! payout message or names no reward (copied there with the reason and let go, so it cannot
//! block the others), or a message whose outcome could not be recorded (SQS moves it after
//! the last receive).

mod decide;
mod notify;
mod process;

pub use notify::notify_member;

use crate::domain::{NotificationOutcome, NotificationStatus};
use crate::events_cache::ConfigCache;
use crate::partners::Partners;
use crate::queue::RetryQueue;
use crate::store::{EventReads, Profiles, RewardReads, RewardWrites};

use crate::telemetry;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::Instrument;

crate::store::port_sum!(
    /// What the payout reads and writes: the reward and its status changes, and for the
    /// notification the campaign's templates and the referee's profile.
    pub trait PayoutStore: RewardReads + RewardWrites + EventReads + Profiles;
);

/// Tuning of the payout function; see [`crate::config::PayoutConfig`] for the variables.
#[derive(Debug, Clone)]
pub struct PayoutSettings {
    /// Messages of one batch processed at once.
    pub concurrency: usize,
    /// The queue's `maxReceiveCount`: the receive on which a still-failing reward becomes FAIL.
    pub max_receives: u32,
    /// First retry delay; doubled on each receive, capped at `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Pause before the one retry of a failed notification.
    pub notify_retry_delay: Duration,
    /// A SUCCESS reward paid longer ago than this with no notification outcome lost its
    /// notifier (the invocation died after paying): a later message notifies instead.
    pub notify_recovery_after: Duration,
}

impl Default for PayoutSettings {
    fn default() -> Self {
        Self {
            concurrency: 10,
            max_receives: 5,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(600),
            notify_retry_delay: Duration::from_millis(500),
            notify_recovery_after: Duration::from_secs(300),
        }
    }
}

impl PayoutSettings {
    /// The visibility delay after a failed `receive_count`-th receive: base × 2^(n-1), capped,
    /// then "equal jitter" (between half and all of it) so rewards that failed together
    /// (finance was down) do not all come back in the same second.
    pub fn retry_delay(&self, receive_count: u32) -> Duration {
        let exp = receive_count.saturating_sub(1).min(20);
        let full = self
            .retry_base
            .saturating_mul(1u32 << exp)
            .min(self.retry_max);
        let half = full / 2;
        let jitter_ms = rand::random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter_ms)
    }
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageOutcome {
    /// Paid now (and the member notified, whatever the notification's own outcome).
    Paid,
    /// The reward was already SUCCESS: nothing paid.
    Duplicate,
    /// The reward is FAIL: final until an admin retries it. Nothing called, nothing changed.
    AlreadyFailed,
    /// The reward is HELD, CLAIMABLE, REJECTED or EXPIRED: not payable. Nothing called,
    /// nothing changed (approval and claim send a message of their own).
    NotPayable,
    /// Finance refused it for good (4xx/409): the reward is FAIL with the reason.
    Rejected,
    /// Will be retried by SQS later (reported in `batchItemFailures`).
    RetryLater,
    /// Last receive and still failing: the reward is FAIL with the last error; let go.
    Exhausted,
    /// Not a payout message, or no such reward: copied to the DLQ and let go.
    DeadLettered,
}

impl MessageOutcome {
    /// Whether Lambda must hand the message back to SQS.
    pub fn keeps_message(self) -> bool {
        matches!(self, MessageOutcome::RetryLater)
    }

    fn metric(self) -> &'static str {
        match self {
            MessageOutcome::Paid => "RewardsPaid",
            MessageOutcome::Duplicate => "DuplicateMessages",
            MessageOutcome::AlreadyFailed => "FailRewardMessages",
            MessageOutcome::NotPayable => "NotPayableMessages",
            MessageOutcome::Rejected => "RewardsRejected",
            MessageOutcome::RetryLater => "PayoutRetries",
            MessageOutcome::Exhausted => "RewardsExhausted",
            MessageOutcome::DeadLettered => "MalformedMessages",
        }
    }
}

/// Notification outcomes of one invocation, for its metrics.
#[derive(Debug, Default)]
struct NotificationTally {
    sent: AtomicU64,
    partial: AtomicU64,
    failed: AtomicU64,
    no_template: AtomicU64,
    calls: AtomicU64,
}

impl NotificationTally {
    fn add(&self, outcome: &NotificationOutcome) {
        let counter = match outcome.status {
            NotificationStatus::Sent => &self.sent,
            NotificationStatus::Partial => &self.partial,
            NotificationStatus::Failed => &self.failed,
            NotificationStatus::NoTemplate => &self.no_template,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.calls
            .fetch_add(u64::from(outcome.calls), Ordering::Relaxed);
    }

    fn metrics(&self) -> [(&'static str, u64); 5] {
        [
            ("NotificationsSent", self.sent.load(Ordering::Relaxed)),
            ("NotificationsPartial", self.partial.load(Ordering::Relaxed)),
            ("NotificationsFailed", self.failed.load(Ordering::Relaxed)),
            (
                "NotificationsNoTemplate",
                self.no_template.load(Ordering::Relaxed),
            ),
            ("NotificationCalls", self.calls.load(Ordering::Relaxed)),
        ]
    }
}

/// The result of one invocation: the partial batch response and what happened to each message.
#[derive(Debug, Default)]
pub struct PayoutReport {
    pub response: SqsBatchResponse,
    pub outcomes: BTreeMap<MessageOutcome, u32>,
}

impl PayoutReport {
    pub fn count(&self, outcome: MessageOutcome) -> u32 {
        self.outcomes.get(&outcome).copied().unwrap_or(0)
    }
}

/// The payout engine. Build once per process; `handle` is one invocation.
pub struct Payout<S: ?Sized, Q: ?Sized> {
    store: Arc<S>,
    queue: Arc<Q>,
    partners: Partners,
    configs: ConfigCache,
    settings: PayoutSettings,
}

impl<S, Q> Payout<S, Q>
where
    S: PayoutStore + ?Sized,
    Q: RetryQueue + ?Sized,
{
    pub fn new(
        store: Arc<S>,
        queue: Arc<Q>,
        partners: Partners,
        configs: ConfigCache,
        settings: PayoutSettings,
    ) -> Self {
        Self {
            store,
            queue,
            partners,
            configs,
            settings,
        }
    }

    /// One invocation: every message of the batch, `concurrency` at a time. Never fails as a
    /// whole; messages to retry are listed in the response.
    pub async fn handle(&self, event: &SqsEvent) -> PayoutReport {
        let notifications = NotificationTally::default();
        let tally = &notifications;
        let outcomes: Vec<(Option<String>, MessageOutcome)> =
            futures::stream::iter(event.records.iter())
                .map(|message| {
                    let span = tracing::info_span!(
                        "message",
                        message_id = message.message_id.as_deref().unwrap_or("?"),
                        receive_count = process::receive_count(message),
                        reward = tracing::field::Empty,
                    );
                    async move {
                        let outcome = self.process(message, tally).await;
                        (message.message_id.clone(), outcome)
                    }
                    .instrument(span)
                })
                .buffer_unordered(self.settings.concurrency.max(1))
                .collect()
                .await;
        let mut report = PayoutReport::default();
        for (message_id, outcome) in outcomes {
            *report.outcomes.entry(outcome).or_default() += 1;
            if outcome.keeps_message() {
                match message_id {
                    Some(id) => report.response.add_failure(id),
                    // Lambda always sets messageId; without one the message cannot be named,
                    // so fail the whole batch rather than lose it.
                    None => report.response.add_failure(String::new()),
                }
            }
        }
        // One figure for the FAIL alarm: every reward that became FAIL in this invocation.
        let failed =
            report.count(MessageOutcome::Rejected) + report.count(MessageOutcome::Exhausted);
        let metrics: Vec<(&str, u64)> = [
            ("Messages", event.records.len() as u64),
            ("RewardsFailed", u64::from(failed)),
        ]
        .into_iter()
        .chain(
            report
                .outcomes
                .iter()
                .map(|(o, n)| (o.metric(), u64::from(*n))),
        )
        .chain(notifications.metrics().into_iter().filter(|(_, n)| *n > 0))
        .collect();
        telemetry::emit(&telemetry::emf(
            &telemetry::namespace(),
            &[("Function", "reward-payout")],
            &metrics,
            chrono::Utc::now(),
        ));
        report
    }

    /// One Lambda invocation: the event must be an SQS event (anything else is refused as
    /// `WrongEvent`); the answer is the partial batch response.
    pub async fn handle_payload(
        &self,
        payload: serde_json::Value,
    ) -> Result<SqsBatchResponse, crate::lambda::InvocationError> {
        let event = crate::lambda::sqs_event(payload)?;
        Ok(self.handle(&event).await.response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_grows_is_capped_and_jittered() {
        let s = PayoutSettings::default();
        for _ in 0..50 {
            let d1 = s.retry_delay(1);
            assert!(d1 >= Duration::from_secs(15) && d1 <= Duration::from_secs(30));
            let d3 = s.retry_delay(3);
            assert!(d3 >= Duration::from_secs(60) && d3 <= Duration::from_secs(120));
            let d30 = s.retry_delay(30);
            assert!(d30 >= Duration::from_secs(300) && d30 <= Duration::from_secs(600));
        }
        let zero = PayoutSettings {
            retry_base: Duration::ZERO,
            ..PayoutSettings::default()
        };
        assert_eq!(zero.retry_delay(4), Duration::ZERO);
    }
}
