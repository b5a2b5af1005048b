//! `referral-settle`: decides the grants the launch import left due.
//!
//! The import holds no identity key and reads none of the reward rules' stored state (ADR
//! 0007): a member it qualifies who had used a code live, under an event whose rules need
//! either, keeps the grant due until the consumers see that member's next record — which may
//! never come. This pass reads the dump's account ids again and hands them, 100 at a time, to
//! the consumer's own engine (`Consumer::settle_due`): the same plan, rules, one transaction
//! and hand-off to payout as a Kafka batch, for the members with something due; members with
//! nothing due cost one read each (in a BatchGetItem of 100) and are left alone. Safe to re-run
//! and to run while the consumers run: a settled member has nothing due any more, and the
//! writes are the consumers' conditional ones.

use crate::dump::{self, Format};
use crate::row;
use anyhow::Context;
use chrono_tz::Tz;
use referral_shared::domain::AccountId;
use referral_shared::ingest::{BatchReport, Consumer, ConsumerStore, IngestError};
use referral_shared::queue::PayoutQueue;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// Accounts handed to the engine at once (one BatchGetItem of profiles).
pub const CHUNK: usize = 100;

/// What one pass did, summed over its chunks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettleSummary {
    /// Valid rows read (their accounts were looked at).
    pub accounts: u64,
    /// Rows the import would reject (skipped here too).
    pub skipped_rows: u64,
    /// Members that had something due.
    pub due: u64,
    pub written: u64,
    pub rewards_created: u64,
    pub rewards_queued: u64,
    pub rewards_waiting: u64,
}

impl SettleSummary {
    fn add(&mut self, report: &BatchReport) {
        self.due += report.members;
        self.written += report.members_written;
        self.rewards_created += report.rewards_created;
        self.rewards_queued += report.rewards_queued;
        self.rewards_waiting += report.rewards_waiting;
    }
}

impl std::fmt::Display for SettleSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} accounts looked at ({} rows skipped), {} with something due, {} written; rewards: {} created, {} queued for payout, {} waiting (HELD/CLAIMABLE)",
            self.accounts,
            self.skipped_rows,
            self.due,
            self.written,
            self.rewards_created,
            self.rewards_queued,
            self.rewards_waiting
        )
    }
}

/// Settles every account of the dump at `input`. A transient fault (DynamoDB or SQS
/// unavailable) is retried with backoff `attempts` times per chunk, then the pass stops with
/// the error: re-running it continues correctly (settled members are no longer due).
pub async fn settle_dump<S, Q>(
    consumer: &Consumer<S, Q>,
    input: &Path,
    format: Format,
    zone: Tz,
    attempts: u32,
    mut on_chunk: impl FnMut(&SettleSummary),
) -> anyhow::Result<SettleSummary>
where
    S: ConsumerStore + ?Sized + 'static,
    Q: PayoutQueue + ?Sized + 'static,
{
    let mut records = dump::open(input, format, Arc::new(AtomicU64::new(0)))?;
    let mut summary = SettleSummary::default();
    let mut chunk: Vec<AccountId> = Vec::with_capacity(CHUNK);
    let mut done = false;
    while !done {
        match records.next_record() {
            Some(raw) => match row::validate(raw.context("reading the dump")?, zone) {
                Ok(row) => {
                    summary.accounts += 1;
                    chunk.push(row.account_id);
                }
                Err(_) => summary.skipped_rows += 1,
            },
            None => done = true,
        }
        if chunk.len() == CHUNK || (done && !chunk.is_empty()) {
            let report = settle_chunk(consumer, &chunk, attempts).await?;
            summary.add(&report);
            chunk.clear();
            on_chunk(&summary);
        }
    }
    Ok(summary)
}

/// One chunk, retried while the fault is transient (every `IngestError` is: the engine parks
/// what cannot be applied and only returns faults worth retrying).
async fn settle_chunk<S, Q>(
    consumer: &Consumer<S, Q>,
    accounts: &[AccountId],
    attempts: u32,
) -> anyhow::Result<BatchReport>
where
    S: ConsumerStore + ?Sized + 'static,
    Q: PayoutQueue + ?Sized + 'static,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match consumer.settle_due(accounts).await {
            Ok(report) => return Ok(report),
            Err(e) if attempt < attempts.max(1) => {
                tracing::warn!(error = %e, attempt, "settling a chunk failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
            Err(e) => return Err(stopped(e, accounts)),
        }
    }
}

fn stopped(e: IngestError, accounts: &[AccountId]) -> anyhow::Error {
    anyhow::anyhow!(
        "settling stopped at the chunk starting with account {}: {e}; re-run to continue (settled members are not due any more)",
        accounts.first().map(AccountId::as_str).unwrap_or("-")
    )
}

/// A progress line at most every `every` (the pass of a million accounts takes minutes).
pub fn progress_printer(every: Duration) -> impl FnMut(&SettleSummary) {
    let mut last = Instant::now();
    move |summary| {
        if last.elapsed() >= every {
            eprintln!("referral-settle: {summary}");
            last = Instant::now();
        }
    }
}
