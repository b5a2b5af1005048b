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

mod notify;

pub use notify::notify_member;

use crate::config::{ConfigError, optional};
use crate::contracts::payout::PayoutMessage;
use crate::domain::{Delivery, NotificationOutcome, NotificationStatus, Reward, RewardStatus};
use crate::ingest::ConfigCache;
use crate::partners::{CompensationRequest, PartnerError, Partners};
use crate::queue::RetryQueue;
use crate::store::{ReferralStore, StoreError};
use crate::telemetry;
use crate::time::Instant;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Tuning of the payout function; see [`PayoutSettings::from_env`] for the variables.
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
    /// `PAYOUT_CONCURRENCY` (10), `PAYOUT_MAX_RECEIVES` (5, must equal the queue's
    /// maxReceiveCount), `PAYOUT_RETRY_BASE_SECONDS` (30), `PAYOUT_RETRY_MAX_SECONDS` (600),
    /// `NOTIFY_RETRY_DELAY_MS` (500), `NOTIFY_RECOVERY_SECONDS` (300).
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let settings = Self {
            concurrency: optional("PAYOUT_CONCURRENCY", d.concurrency)?,
            max_receives: optional("PAYOUT_MAX_RECEIVES", d.max_receives)?,
            retry_base: Duration::from_secs(optional(
                "PAYOUT_RETRY_BASE_SECONDS",
                d.retry_base.as_secs(),
            )?),
            retry_max: Duration::from_secs(optional(
                "PAYOUT_RETRY_MAX_SECONDS",
                d.retry_max.as_secs(),
            )?),
            notify_retry_delay: Duration::from_millis(optional(
                "NOTIFY_RETRY_DELAY_MS",
                d.notify_retry_delay.as_millis() as u64,
            )?),
            notify_recovery_after: Duration::from_secs(optional(
                "NOTIFY_RECOVERY_SECONDS",
                d.notify_recovery_after.as_secs(),
            )?),
        };
        if settings.concurrency == 0 || settings.max_receives == 0 {
            return Err(ConfigError::Invalid {
                name: "PAYOUT_CONCURRENCY / PAYOUT_MAX_RECEIVES",
                message: "must be at least 1".into(),
            });
        }
        Ok(settings)
    }

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
    S: ReferralStore + ?Sized,
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
                .map(|message| async move {
                    let outcome = self.process(message, tally).await;
                    (message.message_id.clone(), outcome)
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

    async fn process(&self, message: &SqsMessage, tally: &NotificationTally) -> MessageOutcome {
        let message_id = message.message_id.as_deref().unwrap_or("?");
        let receive_count: u32 = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let body = message.body.as_deref().unwrap_or_default();
        let request = match PayoutMessage::parse(body) {
            Ok(m) => m,
            Err(e) => {
                // Not serde's message: it can quote the offending value.
                let reason = format!(
                    "malformed_body: {:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                );
                return self.dead_letter(message_id, body, &reason).await;
            }
        };
        let reward_id = request.reward_id;
        let reward = match self.store.get_reward(&reward_id).await {
            Ok(Some(reward)) => reward,
            Ok(None) => {
                return self
                    .dead_letter(message_id, body, &format!("unknown_reward: {reward_id}"))
                    .await;
            }
            Err(e @ StoreError::Corrupt { .. }) => {
                return self
                    .dead_letter(message_id, body, &format!("corrupt_reward: {e}"))
                    .await;
            }
            Err(e) => {
                tracing::warn!(%message_id, reward = %reward_id, error = %e, "reward unreadable; retrying later");
                return self.retry_later(message, receive_count).await;
            }
        };
        let now = chrono::Utc::now();
        match reward.status.on_delivery() {
            Delivery::Pay => {}
            Delivery::AlreadyPaid => {
                self.recover_notification(&reward, now, tally).await;
                tracing::info!(%message_id, reward = %reward_id, "already paid; duplicate message");
                return MessageOutcome::Duplicate;
            }
            Delivery::Final => {
                tracing::info!(%message_id, reward = %reward_id, "reward is FAIL; acknowledged without paying (an admin retry reopens it)");
                return MessageOutcome::AlreadyFailed;
            }
        }

        let compensation = self
            .partners
            .finance
            .compensate(
                reward_id.as_str(),
                &CompensationRequest::for_reward(&reward),
            )
            .await;
        match compensation {
            Ok(compensation_id) => {
                match self
                    .store
                    .mark_reward_paid(&reward_id, &compensation_id, now)
                    .await
                {
                    Ok(()) => {
                        tracing::info!(%message_id, reward = %reward_id, %compensation_id, receive_count, "reward paid");
                        let mut paid = reward;
                        paid.status = RewardStatus::Success;
                        paid.paid_at = Some(now);
                        self.notify_and_record(&paid, chrono::Utc::now(), tally)
                            .await;
                        MessageOutcome::Paid
                    }
                    Err(StoreError::Conflict { .. }) => {
                        // Another delivery won the update; finance answered both alike.
                        tracing::info!(%message_id, reward = %reward_id, "paid concurrently by another delivery");
                        MessageOutcome::Duplicate
                    }
                    Err(e) => {
                        // Finance has paid; the retry gets the same answer and records it.
                        tracing::warn!(%message_id, reward = %reward_id, error = %e, "paid but not recorded; retrying later");
                        self.retry_later(message, receive_count).await
                    }
                }
            }
            Err(e) if e.is_retryable() => {
                self.finance_failed(message, &reward, receive_count, &e, now)
                    .await
            }
            Err(e) => {
                tracing::warn!(%message_id, reward = %reward_id, error = %e.summary(), "finance refused the compensation; reward FAIL");
                match self
                    .store
                    .record_payout_failure(&reward_id, &e.to_string(), true, now)
                    .await
                {
                    Ok(()) => MessageOutcome::Rejected,
                    // Not PENDING any more: another delivery recorded an end first; it stands.
                    Err(StoreError::Conflict { .. }) => MessageOutcome::Duplicate,
                    Err(store) => {
                        tracing::warn!(%message_id, reward = %reward_id, error = %store, "FAIL not recorded; retrying later");
                        self.retry_later(message, receive_count).await
                    }
                }
            }
        }
    }

    /// A retryable finance error: record the attempt; FAIL on the last receive.
    async fn finance_failed(
        &self,
        message: &SqsMessage,
        reward: &Reward,
        receive_count: u32,
        error: &PartnerError,
        now: Instant,
    ) -> MessageOutcome {
        let message_id = message.message_id.as_deref().unwrap_or("?");
        let last = receive_count >= self.settings.max_receives;
        let reason = if last {
            format!("gave up after {receive_count} attempts; last error: {error}")
        } else {
            error.to_string()
        };
        tracing::warn!(%message_id, reward = %reward.reward_id, receive_count, error = %error.summary(), last, "compensation failed");
        match self
            .store
            .record_payout_failure(&reward.reward_id, &reason, last, now)
            .await
        {
            Ok(()) if last => MessageOutcome::Exhausted,
            Ok(()) => self.retry_later(message, receive_count).await,
            // Not PENDING any more: another delivery recorded an end first; it stands.
            Err(StoreError::Conflict { .. }) => MessageOutcome::Duplicate,
            // Recording an attempt is for people; the retry does not depend on it. But a FAIL
            // that was not recorded must not be let go: the message stays, and after the last
            // receive SQS moves it to the DLQ, where it needs a person (the reward is PENDING).
            Err(e) => {
                tracing::warn!(%message_id, reward = %reward.reward_id, error = %e, last, "attempt not recorded");
                self.retry_later(message, receive_count).await
            }
        }
    }

    /// Stretches the message's visibility (growing delay) and hands it back to SQS.
    async fn retry_later(&self, message: &SqsMessage, receive_count: u32) -> MessageOutcome {
        let delay = self.settings.retry_delay(receive_count);
        if let Some(handle) = message.receipt_handle.as_deref()
            && let Err(e) = self.queue.postpone(handle, delay).await
        {
            // The queue's own visibility timeout applies instead: later, never lost.
            tracing::warn!(message_id = message.message_id.as_deref().unwrap_or("?"), error = %e, "could not postpone the message");
        }
        MessageOutcome::RetryLater
    }

    async fn dead_letter(&self, message_id: &str, body: &str, reason: &str) -> MessageOutcome {
        tracing::error!(%message_id, reason, body_len = body.len(), "unprocessable payout message; moving it to the DLQ");
        match self.queue.dead_letter(body, reason).await {
            Ok(()) => MessageOutcome::DeadLettered,
            Err(e) => {
                tracing::warn!(%message_id, error = %e, "DLQ unavailable; the message stays in the queue");
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
        tracing::info!(reward = %reward.reward_id, status = ?outcome.status, calls = outcome.calls, "member notified");
        tally.add(&outcome);
        if let Err(e) = self
            .store
            .record_notification(&reward.reward_id, &outcome)
            .await
        {
            // The payment stands; only the record of the notification is missing.
            tracing::warn!(reward = %reward.reward_id, error = %e, "notification outcome not recorded");
        }
    }

    /// A duplicate of a SUCCESS reward whose notification was never recorded, long after it
    /// was paid: the invocation that paid it died before notifying. Notify now.
    async fn recover_notification(&self, reward: &Reward, now: Instant, tally: &NotificationTally) {
        if reward.notification.is_some() {
            return;
        }
        let Some(paid_at) = reward.paid_at else {
            return;
        };
        let idle = (now - paid_at).to_std().unwrap_or_default();
        if idle >= self.settings.notify_recovery_after {
            tracing::info!(reward = %reward.reward_id, "paid without a notification outcome; notifying now");
            self.notify_and_record(reward, now, tally).await;
        }
    }
}

/// The production wiring from the environment: `TABLE_NAME`, `PAYOUT_QUEUE_URL`,
/// `PAYOUT_DLQ_URL`, the partner variables ([`crate::partners::PartnerConfig`]),
/// `CONFIG_CACHE_SECONDS` and [`PayoutSettings::from_env`]. Build once per process.
pub async fn payout_from_env() -> Result<
    Payout<crate::store::DynamoStore, crate::queue::SqsRetryQueue>,
    Box<dyn std::error::Error + Send + Sync>,
> {
    let store = crate::config::StoreConfig::from_env()?;
    let partners = Partners::new(&crate::partners::PartnerConfig::from_env()?)?;
    let queue_url = crate::config::required("PAYOUT_QUEUE_URL")?;
    let dlq_url = crate::config::required("PAYOUT_DLQ_URL")?;
    let cache_seconds: u64 = optional("CONFIG_CACHE_SECONDS", 60)?;
    let settings = PayoutSettings::from_env()?;
    let sdk = crate::config::aws_sdk_config().await;
    Ok(Payout::new(
        Arc::new(crate::store::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            store.table_name,
        )),
        Arc::new(crate::queue::SqsRetryQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            queue_url,
            dlq_url,
        )),
        partners,
        ConfigCache::new(Duration::from_secs(cache_seconds)),
        settings,
    ))
}

/// The Lambda entry point of the payout function: wiring once, then one [`Payout::handle`]
/// per invocation, answering with the partial batch response. An event that is not an SQS
/// event is refused as an error.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let payout = Arc::new(payout_from_env().await?);
    crate::lambda::run("reward-payout", move |payload, _| {
        let payout = payout.clone();
        async move {
            let event = crate::lambda::sqs_event(payload)?;
            let report = payout.handle(&event).await;
            Ok(report.response)
        }
    })
    .await
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
