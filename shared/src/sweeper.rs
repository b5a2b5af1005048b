//! The safety net of the reward hand-off (ADR 0004): PENDING rewards that nobody has touched
//! for a while are queued for payout again. A reward that is already in the queue gets a
//! second message, which the payout function treats as a duplicate.

use crate::lambda::{self, InvocationError};
use crate::queue::{PayoutQueue, QueueError};
use crate::store::{PageRequest, RewardReads, StoreError};
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
}

/// Re-queues PENDING rewards created and last updated before `now - stale_after`, at most
/// `max` of them per run (the rest wait for the next run). 1 Query per 200 rewards + 1
/// SendMessageBatch per 10.
pub async fn sweep<S, Q>(
    store: &S,
    queue: &Q,
    now: Instant,
    stale_after: chrono::Duration,
    max: u64,
) -> Result<SweepReport, SweepError>
where
    S: RewardReads + ?Sized,
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
    S: RewardReads + ?Sized,
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
            &[("SweptRewards", report.queued)],
            now,
        ));
        tracing::info!(
            examined = report.examined,
            queued = report.queued,
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
