//! The safety net of the reward hand-off (ADR 0004): PENDING rewards that nobody has touched
//! for a while are queued for payout again. A reward that is already in the queue gets a
//! second message, which the payout function treats as a duplicate.
//!
//! And the claim step's clock: CLAIMABLE rewards whose deadline passed become EXPIRED
//! (docs/reward-lifecycle.md). Nothing else is looked at: HELD, CLAIMABLE, REJECTED and
//! EXPIRED rewards are never queued (they are not in the PENDING list the sweep reads).

use crate::lambda::{self, InvocationError};
use crate::queue::{PayoutQueue, QueueError};
use crate::store::{PageRequest, RewardReads, RewardWrites, StoreError};
use crate::telemetry;
use crate::time::Instant;
use serde_json::Value;
use thiserror::Error;
use tracing::Instrument;

/// Why a sweep failed (the next scheduled run tries again).
#[derive(Debug, Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// CloudWatch's `errorType` names the dependency that failed (`StoreUnavailable`,
/// `QueueUnavailable`…); the message is the error's own, which holds no payload value.
impl From<SweepError> for InvocationError {
    fn from(e: SweepError) -> Self {
        let kind = match &e {
            SweepError::Store(store) => lambda::store_error_type(store),
            SweepError::Queue(queue) => lambda::queue_error_type(queue),
        };
        InvocationError::Failed {
            kind,
            message: e.to_string(),
        }
    }
}

/// What a run looks at (`SWEEP_AFTER_MINUTES`, `SWEEP_MAX_REWARDS`: see
/// [`crate::config::SweeperConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct SweepSettings {
    /// A PENDING reward created and last updated longer ago than this is stranded.
    pub stale_after: chrono::Duration,
    /// Rewards looked at per run at most (the rest wait for the next run).
    pub max_rewards: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    /// PENDING rewards created before the cutoff that were looked at.
    pub examined: u64,
    /// Of those, re-queued (not updated since the cutoff either).
    pub queued: u64,
    /// CLAIMABLE rewards whose deadline passed that were looked at.
    pub due: u64,
    /// Of those, EXPIRED by this run (the others were claimed or expired meanwhile).
    pub expired: u64,
}

/// Expiries sent at once.
const EXPIRY_CONCURRENCY: usize = 8;

/// Moves CLAIMABLE rewards whose deadline is at or before `now` to EXPIRED, at most `max` per
/// run. 1 Query per 200 rewards + 1 conditional TransactWriteItems each (the reward and its
/// funnel count); a reward claimed (or expired) in the meantime fails the condition and is
/// left as it is, so a run can be repeated or overlap another.
pub async fn expire_due<S>(store: &S, now: Instant, max: u64) -> Result<(u64, u64), SweepError>
where
    S: RewardReads + RewardWrites + ?Sized,
{
    use futures::StreamExt;
    let (mut due, mut expired) = (0u64, 0u64);
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    while due < max {
        let found = store.claimable_rewards_due(now, page).await?;
        due += found.items.len() as u64;
        let results: Vec<Result<(), StoreError>> = futures::stream::iter(&found.items)
            .map(|reward| store.expire_reward(reward, now))
            .buffer_unordered(EXPIRY_CONCURRENCY)
            .collect()
            .await;
        for result in results {
            match result {
                Ok(()) => expired += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match found.next {
            Some(cursor) => page = PageRequest::after(PageRequest::MAX_LIMIT, cursor),
            None => break,
        }
    }
    if expired > 0 {
        tracing::info!(count = expired, "unclaimed rewards expired");
    }
    Ok((due, expired))
}

/// Re-queues PENDING rewards created and last updated before `now - stale_after`, at most
/// `max` of them per run (the rest wait for the next run), then expires the CLAIMABLE rewards
/// whose deadline passed ([`expire_due`], at most `max` too). 1 Query per 200 rewards + 1
/// SendMessageBatch per 10 + 1 TransactWriteItems per expiry.
pub async fn sweep<S, Q>(
    store: &S,
    queue: &Q,
    now: Instant,
    stale_after: chrono::Duration,
    max: u64,
) -> Result<SweepReport, SweepError>
where
    S: RewardReads + RewardWrites + ?Sized,
    Q: PayoutQueue + ?Sized,
{
    let cutoff = now - stale_after;
    let mut report = SweepReport::default();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    while report.examined < max {
        let found = store.pending_rewards_before(cutoff, page).await?;
        report.examined += found.items.len() as u64;
        let stale: Vec<_> = found
            .items
            .iter()
            .filter(|r| r.updated_at < cutoff)
            .map(|r| r.reward_id.clone())
            .collect();
        if !stale.is_empty() {
            queue.enqueue(&stale).await?;
            report.queued += stale.len() as u64;
            tracing::warn!(count = stale.len(), "stranded PENDING rewards queued again");
        }
        match found.next {
            Some(cursor) => page = PageRequest::after(PageRequest::MAX_LIMIT, cursor),
            None => break,
        }
    }
    (report.due, report.expired) = expire_due(store, now, max).await?;
    Ok(report)
}

/// One scheduled invocation: refuses any event but the schedule (a sweep is never started by
/// something else), sweeps, publishes `SweptRewards`. Everything it logs carries the `sweep`
/// span.
pub async fn on_schedule<S, Q>(
    store: &S,
    queue: &Q,
    settings: SweepSettings,
    payload: &Value,
) -> Result<SweepReport, InvocationError>
where
    S: RewardReads + RewardWrites + ?Sized,
    Q: PayoutQueue + ?Sized,
{
    lambda::scheduled_event(payload)?;
    let now = chrono::Utc::now();
    let span = tracing::info_span!(
        "sweep",
        stale_after_minutes = settings.stale_after.num_minutes(),
        max_rewards = settings.max_rewards
    );
    async move {
        let report = sweep(
            store,
            queue,
            now,
            settings.stale_after,
            settings.max_rewards,
        )
        .await?;
        telemetry::emit(&telemetry::emf(
            &telemetry::namespace(),
            &[("Function", "reward-sweeper")],
            &[
                ("SweptRewards", report.queued),
                ("ExpiredRewards", report.expired),
            ],
            now,
        ));
        tracing::info!(
            examined = report.examined,
            queued = report.queued,
            due = report.due,
            expired = report.expired,
            "sweep done"
        );
        Ok(report)
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::QueueOperation;

    #[test]
    fn a_failed_sweep_names_what_failed_in_its_error_type() {
        let rows: Vec<(SweepError, &str)> = vec![
            (
                StoreError::Unavailable {
                    operation: "Query",
                    message: "timeout".into(),
                }
                .into(),
                "StoreUnavailable",
            ),
            (StoreError::InvalidCursor.into(), "InvalidCursor"),
            (
                QueueError::Unavailable {
                    operation: QueueOperation::Enqueue,
                    message: "throttled".into(),
                }
                .into(),
                "QueueUnavailable",
            ),
        ];
        for (error, expected) in rows {
            let diagnostic = lambda_runtime::Diagnostic::from(InvocationError::from(error));
            assert_eq!(diagnostic.error_type, expected);
        }
    }
}
