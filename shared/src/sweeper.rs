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
