//! The safety net of the reward hand-off (ADR 0004): PENDING rewards that nobody has touched
//! for a while are queued for payout again. A reward that is already in the queue gets a
//! second message, which the payout function treats as a duplicate.

use crate::queue::{PayoutQueue, QueueError};
use crate::store::{PageRequest, ReferralStore, StoreError};
use crate::time::Instant;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
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
    S: ReferralStore + ?Sized,
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

/// The Lambda entry point of the sweeper (scheduled, ADR 0004): wiring from the environment
/// (`TABLE_NAME`, `PAYOUT_QUEUE_URL`, `SWEEP_AFTER_MINUTES` ≥ 1, default 15,
/// `SWEEP_MAX_REWARDS`, default 1000), then one [`sweep`] per scheduled event. Any other event
/// is refused as an error: a sweep is never started by something that is not the schedule.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    use crate::config::{self, ConfigError};
    use crate::lambda::InvocationError;
    use crate::telemetry;
    use std::sync::Arc;
    telemetry::init_tracing();
    let store = Arc::new(config::dynamo_store_from_env().await?);
    let sdk = config::aws_sdk_config().await;
    let queue = Arc::new(crate::queue::SqsPayoutQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        config::required("PAYOUT_QUEUE_URL")?,
    ));
    let stale_minutes: i64 = config::optional("SWEEP_AFTER_MINUTES", 15)?;
    if stale_minutes < 1 {
        return Err(ConfigError::Invalid {
            name: "SWEEP_AFTER_MINUTES",
            message: "must be at least 1".into(),
        }
        .into());
    }
    let max: u64 = config::optional("SWEEP_MAX_REWARDS", 1000)?;
    crate::lambda::run("reward-sweeper", move |payload, _| {
        let (store, queue) = (store.clone(), queue.clone());
        async move {
            crate::lambda::scheduled_event(&payload)?;
            let now = chrono::Utc::now();
            let report = sweep(
                store.as_ref(),
                queue.as_ref(),
                now,
                chrono::Duration::minutes(stale_minutes),
                max,
            )
            .await
            .map_err(|e| InvocationError::Failed {
                kind: "SweepFailed",
                message: e.to_string(),
            })?;
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
            Ok(())
        }
    })
    .await
}
