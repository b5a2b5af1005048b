//! Consumer benchmark (not a test: numbers, not assertions). 1,000 registration records of 334
//! members (code used, KYC, device: every member qualifies) against DynamoDB Local and moto:
//! - batched: one MSK batch of 1,000 records, members applied 16 at a time;
//! - one at a time: 1,000 batches of one record each, concurrency 1.
//!
//! Reports DynamoDB round trips (counted by an SDK interceptor), wall time and records/second
//! as Markdown on stdout. Run with `make bench` (scripts/bench.sh), which starts the stack.

use referral_devkit::msk::{self, Outgoing};
use referral_shared::EventId;
use referral_shared::RewardId;
use referral_shared::contracts::kafka::TOPIC_REGISTRATION;
use referral_shared::events_cache::ConfigCache;
use referral_shared::ingest::{Consumer, ConsumerSettings};
use referral_shared::queue::{PayoutQueue, QueueError};
use referral_tests::fixtures::at;
use referral_tests::ingest_support::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const RECORDS: usize = 1000;

fn records() -> Vec<Outgoing> {
    referral_tests::workload::member_stream(RECORDS, |member| {
        let account = format!("bench-{member}");
        vec![
            registration("REFERRAL_CODE_USED", &account, Some("SHARE888"), at(3, 0)),
            registration("KYC_PASSED", &account, None, at(3, 1)),
            registration("DEVICE_BOUND", &account, None, at(3, 2)),
        ]
    })
}

struct Run {
    label: &'static str,
    batches: usize,
    round_trips: usize,
    qualified: u64,
    rewards: u64,
    seconds: f64,
}

/// Counts payout requests instead of sending them: isolates the DynamoDB side from moto, whose
/// SendMessageBatch takes ~120 ms here and is served one request at a time.
#[derive(Default)]
struct CountingQueue(AtomicUsize);

#[async_trait::async_trait]
impl PayoutQueue for CountingQueue {
    async fn enqueue(&self, rewards: &[RewardId]) -> Result<(), QueueError> {
        self.0.fetch_add(rewards.len(), Ordering::Relaxed);
        Ok(())
    }
}

async fn run(label: &'static str, batch_size: usize, concurrency: usize, sqs: bool) -> Run {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let mut settings = ConsumerSettings::new(TOPIC_REGISTRATION, EventId::parse(PERSONAL).unwrap());
    settings.concurrency = concurrency;
    let queue: Arc<dyn PayoutQueue> = if sqs {
        Arc::new(h.queue.payout_queue())
    } else {
        Arc::new(CountingQueue::default())
    };
    let consumer = Consumer::new(
        Arc::new(h.table.store.clone()),
        queue,
        ConfigCache::new(std::time::Duration::from_secs(60)),
        settings,
    );
    let records = records();
    let before = h.table.round_trips.get();
    let started = Instant::now();
    let (mut qualified, mut rewards, mut batches) = (0, 0, 0);
    for chunk in records.chunks(batch_size) {
        let report = consumer.handle(&msk::event(chunk)).await.expect("batch");
        qualified += report.qualified;
        rewards += report.rewards_created;
        batches += 1;
    }
    Run {
        label,
        batches,
        round_trips: h.table.round_trips.get() - before,
        qualified,
        rewards,
        seconds: started.elapsed().as_secs_f64(),
    }
}

#[tokio::main]
async fn main() {
    let batched = run(
        "one batch of 1,000, 16 members at a time",
        RECORDS,
        16,
        true,
    )
    .await;
    let single = run("1,000 batches of 1 record, sequential", 1, 1, true).await;
    let batched_ddb = run(
        "DynamoDB only: one batch of 1,000, 16 at a time",
        RECORDS,
        16,
        false,
    )
    .await;
    let single_ddb = run("DynamoDB only: 1,000 batches of 1, sequential", 1, 1, false).await;
    println!(
        "| run | batches | DynamoDB round trips | per record | qualified | rewards | seconds | records/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in [&batched, &single, &batched_ddb, &single_ddb] {
        println!(
            "| {} | {} | {} | {:.2} | {} | {} | {:.2} | {:.0} |",
            r.label,
            r.batches,
            r.round_trips,
            r.round_trips as f64 / RECORDS as f64,
            r.qualified,
            r.rewards,
            r.seconds,
            RECORDS as f64 / r.seconds
        );
    }
    println!(
        "\nWith moto's SQS: batched is {:.1}x the throughput of one record at a time, with {:.1}x \
         fewer DynamoDB round trips. DynamoDB side alone: {:.1}x.",
        single.seconds / batched.seconds,
        single.round_trips as f64 / batched.round_trips as f64,
        single_ddb.seconds / batched_ddb.seconds
    );
}
