//! The MSK consumers' engine (both `rd2_member_info` and `rd2_registration_member`).
//!
//! One invocation = one batch:
//! 1. decode every record; a malformed one is logged with its coordinates, counted and parked;
//! 2. group the valid records by member (a member's records share a partition, so their offsets
//!    give their order) and read all their profiles and used codes with BatchGetItem;
//! 3. per member, concurrently (bounded): fold the member's records into the profile in
//!    order, [`settle`](crate::domain::settle) what fell due, and write it back in ONE
//!    conditional write (a TransactWriteItems when a code or rewards are created). A concurrent
//!    writer makes the write fail; the member is re-read and the records folded again. Before
//!    the first grant under a content window, the window is marked in use (one PutItem per
//!    window per process), so an admin replace can no longer delete it (ADR 0006);
//! 4. hand the new rewards to the payout queue; and re-send the rewards of a granted member
//!    whose records changed nothing (a duplicate, typically the redelivery of a batch that
//!    crashed before its send; payout treats a paid reward as a duplicate). The sweeper
//!    catches what no redelivery repairs.
//!
//! The stages live in their own files: `batch.rs` decodes and groups (pure), `plan.rs` decides
//! what one member's records write and queue (pure, table-tested), `member.rs` performs one
//! member's reads and writes; [`Consumer::handle`] below runs them and does the batch's own
//! effects (park, enqueue, metrics). Each member's work runs in a `member` span (account,
//! topic, partition, offsets): its log lines inherit those fields.
//!
//! Any transient failure fails the invocation, so Lambda retries the batch; every step is
//! idempotent, so the retry doubles nothing. See `docs/adr/0004-reward-handoff.md`.

mod batch;
mod member;
mod plan;

use crate::contracts::kafka::ParkedRecord;
use crate::domain::{AccountId, EventId, WindowId};
use crate::events_cache::ConfigCache;
use crate::lambda::{self, InvocationError};
use crate::queue::PayoutQueue;
use crate::store::{
    EventReads, MemberBatches, Parking, Profiles, ProfilesAndCodes, RuleStates, StoreError,
    WindowMarks,
};

use crate::telemetry;
use crate::time::Instant;
use aws_lambda_events::event::kafka::KafkaEvent;
use batch::{DecodedBatch, MemberGroup, decode_batch};
use futures::{StreamExt, TryStreamExt, stream};
use member::MemberOutcome;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;
use tracing::Instrument;

crate::store::port_sum!(
    /// What a consumer reads and writes: profiles and codes in batches, a profile alone after
    /// a conflict, campaign configuration, the window-in-use markers, the reward rules'
    /// stored state, parked records.
    pub trait ConsumerStore:
        MemberBatches + Profiles + EventReads + WindowMarks + RuleStates + Parking;
);

/// Why an invocation fails (so Lambda retries the whole batch).
#[derive(Debug, Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    #[error("member {account} still conflicts after {attempts} attempts")]
    Contended { account: String, attempts: u32 },
}

/// CloudWatch's `errorType` names what failed: `StoreUnavailable`, `QueueUnavailable`,
/// `MemberContended`… The message is the error's own (no record value in it).
impl From<IngestError> for InvocationError {
    fn from(e: IngestError) -> Self {
        let kind = match &e {
            IngestError::Store(store) => lambda::store_error_type(store),
            IngestError::Queue(queue) => lambda::queue_error_type(queue),
            IngestError::Contended { .. } => "MemberContended",
        };
        InvocationError::Failed {
            kind,
            message: e.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// The PERSONAL event new referrers' codes belong to (`PERSONAL_EVENT_ID`).
    pub personal_event: EventId,
    /// Members processed at once within a batch (`MEMBER_CONCURRENCY`).
    pub concurrency: usize,
    /// Re-reads of one member after conflicting writes before the batch fails.
    pub max_attempts: u32,
    /// Topic this function is subscribed to; records of any other topic are parked.
    pub topic: &'static str,
    /// The secret of the keyed hashes the reward rules compare (`IDENTITY_HASH_KEY`). None:
    /// an event whose rules need one leaves its grants due (logged as an error).
    pub identity_key: Option<crate::domain::IdentityKey>,
    /// Attempts at one member whose transaction lost to another writer of a reward rule's
    /// item (a hot referrer's counters): each re-reads and decides again, after a short
    /// random pause, so a referrer with many referees at once is retried, never over-counted.
    pub max_rule_attempts: u32,
}

impl ConsumerSettings {
    pub fn new(topic: &'static str, personal_event: EventId) -> Self {
        Self {
            personal_event,
            concurrency: 16,
            max_attempts: 8,
            topic,
            identity_key: None,
            max_rule_attempts: 64,
        }
    }
}

/// What a batch did; also the source of its metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub records: u64,
    pub malformed: u64,
    pub parked: u64,
    pub members: u64,
    pub members_written: u64,
    pub conflicts: u64,
    pub qualified: u64,
    pub rewards_created: u64,
    pub rewards_queued: u64,
    /// Of those, rewards granted before that a duplicate brought again and payout may never
    /// have seen (PENDING, never attempted): sent again in case the first send was lost.
    pub rewards_resent: u64,
    /// Rewards created HELD or CLAIMABLE (not queued: they wait for a person).
    pub rewards_waiting: u64,
    /// `DEVICE_BOUND` records whose unusable `device_id` was dropped (the step was kept).
    pub unusable_device_ids: u64,
}

/// The consumer: build once per process, share across invocations.
pub struct Consumer<S: ?Sized, Q: ?Sized> {
    store: Arc<S>,
    queue: Arc<Q>,
    configs: ConfigCache,
    settings: ConsumerSettings,
    /// Content windows this process has marked in use (the marker is written once per window
    /// per process; it never goes away, so the cache never needs to forget).
    marked_windows: std::sync::Mutex<HashSet<(EventId, WindowId)>>,
}

impl<S, Q> Consumer<S, Q>
where
    S: ConsumerStore + ?Sized + 'static,
    Q: PayoutQueue + ?Sized + 'static,
{
    pub fn new(
        store: Arc<S>,
        queue: Arc<Q>,
        configs: ConfigCache,
        settings: ConsumerSettings,
    ) -> Self {
        Self {
            store,
            queue,
            configs,
            settings,
            marked_windows: Default::default(),
        }
    }

    /// One Lambda invocation: the event must be an MSK event (anything else is refused as
    /// `WrongEvent`); a failed batch is logged and returned with an `errorType` naming what
    /// failed, so Lambda retries it.
    pub async fn handle_payload(
        &self,
        payload: serde_json::Value,
    ) -> Result<BatchReport, InvocationError> {
        let event = lambda::kafka_event(payload)?;
        self.handle(&event).await.map_err(|e| {
            tracing::error!(error = %e, "batch failed; it will be retried");
            InvocationError::from(e)
        })
    }

    /// Handles one MSK batch. `Err` means "retry the batch": only transient faults get here.
    pub async fn handle(&self, event: &KafkaEvent) -> Result<BatchReport, IngestError> {
        let now = chrono::Utc::now();
        let DecodedBatch {
            records,
            per_topic,
            malformed,
            unusable_device_ids,
            groups,
            codes,
        } = decode_batch(event, self.settings.topic, now);
        let mut report = BatchReport {
            records,
            malformed: malformed.len() as u64,
            unusable_device_ids,
            members: groups.len() as u64,
            ..BatchReport::default()
        };
        let mut parked: Vec<ParkedRecord> = Vec::with_capacity(malformed.len());
        for m in malformed {
            let kind = m.reason.kind();
            tracing::warn!(record = %m.at, %kind, error = %m.reason, "malformed record parked");
            parked.push(m.parked);
        }

        // Reads for the whole batch: profiles and used codes, in the same BatchGetItem.
        let accounts: Vec<_> = groups.iter().map(|g| g.account.clone()).collect();
        let read = self.store.profiles_and_codes(&accounts, &codes).await?;
        self.apply_groups(groups, read, now, &mut report, parked)
            .await?;
        self.publish(&report, &per_topic, now);
        Ok(report)
    }

    /// Settles the members among `accounts` whose stored profile has something due (a grant
    /// left undecided — by the launch import, or for want of the identity key — or a
    /// qualification), with no new record: the same plan, rules, write and hand-off to payout
    /// as a batch, for the members a batch will never bring again (`referral-settle`,
    /// docs/runbook.md). Accounts without a profile or with nothing due are left alone.
    pub async fn settle_due(&self, accounts: &[AccountId]) -> Result<BatchReport, IngestError> {
        let now = chrono::Utc::now();
        let mut read = self.store.profiles_and_codes(accounts, &[]).await?;
        read.profiles.retain(|_, m| m.has_due_effects());
        let groups: Vec<MemberGroup> = accounts
            .iter()
            .filter(|a| read.profiles.contains_key(*a))
            .map(|account| MemberGroup {
                account: account.clone(),
                records: Vec::new(),
            })
            .collect();
        let mut report = BatchReport {
            members: groups.len() as u64,
            ..BatchReport::default()
        };
        self.apply_groups(groups, read, now, &mut report, Vec::new())
            .await?;
        self.publish(&report, &Default::default(), now);
        Ok(report)
    }

    /// The effects stage of a batch: each member group applied from what was read, parking,
    /// then the hand-off to payout.
    async fn apply_groups(
        &self,
        groups: Vec<MemberGroup>,
        read: ProfilesAndCodes,
        now: Instant,
        report: &mut BatchReport,
        mut parked: Vec<ParkedRecord>,
    ) -> Result<(), IngestError> {
        let (mut members, codes, corrupt) = (read.profiles, read.codes, read.corrupt);
        let codes = Arc::new(codes);

        let conflicts = AtomicU64::new(0);
        let turns = member::ReferrerTurns::default();
        let outcomes: Vec<MemberOutcome> = stream::iter(groups.into_iter().map(|group| {
            let loaded = members.remove(&group.account);
            let codes = codes.clone();
            let conflicts = &conflicts;
            let turns = &turns;
            let span = group.span();
            // A stored profile or used code that does not map onto the domain: park this
            // member's records instead of failing (and forever retrying) the whole batch.
            let broken = plan::corrupt_item(&group.account, &group.records, &corrupt);
            async move {
                if let Some(error) = broken {
                    return self.give_up_or_fail(error, &group.records, now);
                }
                self.apply_member(group, loaded, &codes, now, conflicts, turns)
                    .await
            }
            .instrument(span)
        }))
        .buffer_unordered(self.settings.concurrency.max(1))
        .try_collect()
        .await?;
        report.conflicts = conflicts.load(Ordering::Relaxed);

        let (mut to_queue, resend) = plan::gather(outcomes, report, &mut parked);
        // Granted before: only what payout may never have seen (PENDING, never attempted) is
        // sent again; paid, failed and retrying rewards are known (one read, only when a
        // member of the batch was a duplicate).
        let again = self.store.possibly_unqueued(&resend).await?;
        report.rewards_resent = again.len() as u64;
        to_queue.extend(again);

        report.parked = parked.len() as u64;
        stream::iter(parked.iter().map(|p| self.store.park_record(p)))
            .buffer_unordered(self.settings.concurrency.max(1))
            .try_collect::<Vec<_>>()
            .await?;

        // Hand-off to payout. A crash before this line leaves the rewards PENDING and the
        // batch unacknowledged: the retry re-sends them (see the module comment).
        if !to_queue.is_empty() {
            self.queue.enqueue(&to_queue).await?;
            report.rewards_queued = to_queue.len() as u64;
        }
        Ok(())
    }

    /// The batch's metrics (per topic, then per function) and its summary line.
    fn publish(
        &self,
        report: &BatchReport,
        per_topic: &std::collections::BTreeMap<String, (u64, u64)>,
        now: Instant,
    ) {
        let ns = telemetry::namespace();
        for (topic, (records, malformed)) in per_topic {
            telemetry::emit(&telemetry::emf(
                &ns,
                &[("Topic", topic)],
                &[("Records", *records), ("MalformedRecords", *malformed)],
                now,
            ));
        }
        telemetry::emit(&telemetry::emf(
            &ns,
            &[("Function", self.settings.topic)],
            &[
                ("Qualified", report.qualified),
                ("RewardsCreated", report.rewards_created),
                ("RewardsQueued", report.rewards_queued),
                ("RewardsWaiting", report.rewards_waiting),
                ("ParkedRecords", report.parked),
                ("UnusableDeviceIds", report.unusable_device_ids),
                ("WriteConflicts", report.conflicts),
            ],
            now,
        ));
        tracing::info!(
            records = report.records,
            members = report.members,
            written = report.members_written,
            malformed = report.malformed,
            qualified = report.qualified,
            rewards = report.rewards_created,
            "batch applied"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{QueueError, QueueOperation};

    /// Every row: a batch failure → the `errorType` CloudWatch shows (a name, never a Rust
    /// type) and the error's own text as the message.
    #[test]
    fn a_failed_batch_names_what_failed_in_its_error_type() {
        let rows: Vec<(IngestError, &str)> = vec![
            (
                StoreError::Unavailable {
                    operation: "BatchGetItem",
                    message: "throttled".into(),
                }
                .into(),
                "StoreUnavailable",
            ),
            (
                QueueError::Unavailable {
                    operation: QueueOperation::Enqueue,
                    message: "timeout".into(),
                }
                .into(),
                "QueueUnavailable",
            ),
            (
                QueueError::Rejected {
                    operation: QueueOperation::Enqueue,
                    message: "1 of 1 messages not accepted: InvalidMessageContents".into(),
                }
                .into(),
                "QueueRejected",
            ),
            (
                IngestError::Contended {
                    account: "a-1".into(),
                    attempts: 8,
                },
                "MemberContended",
            ),
        ];
        for (error, expected) in rows {
            let message = error.to_string();
            let diagnostic = lambda_runtime::Diagnostic::from(InvocationError::from(error));
            assert_eq!(diagnostic.error_type, expected);
            assert_eq!(diagnostic.error_message, message);
        }
    }
}
