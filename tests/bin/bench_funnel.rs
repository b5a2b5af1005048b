//! Funnel benchmark (not a test: numbers, not assertions), against DynamoDB Local:
//! - the admin funnel routes over a 90-day range (an event's, a code's), each day's counters
//!   spread over the 4 shards, called in-process as Lambda calls them, one at a time: round
//!   trips per request and latency;
//! - the consumer with funnel counting (always on): the consumer benchmark's 1,000 records
//!   (code used, KYC, device: every member qualifies), 34 referrers, one batch 16 members at a
//!   time and 1,000 batches of one: round trips per record, conflicts, throughput; and the
//!   size of each kind of write's transaction, computed with `domain::funnel_delta` for this
//!   workload's writes.
//!
//! Run with `make bench` (scripts/bench.sh).

use referral_devkit::msk::{self, Outgoing};
use referral_shared::api::admin;
use referral_shared::contracts::kafka::TOPIC_REGISTRATION;
use referral_shared::events_cache::ConfigCache;
use referral_shared::ingest::{Consumer, ConsumerSettings};
use referral_shared::queue::{PayoutQueue, QueueError};
use referral_shared::store::MemberWrite;
use referral_shared::store::prelude::*;
use referral_shared::*;
use referral_tests::fixtures::{self, at};
use referral_tests::http_support::{self, Api, call};
use referral_tests::ingest_support::*;
use std::sync::Arc;
use std::time::Instant;

const DAYS: i64 = 90;
const WRITES_PER_DAY: usize = 8;
const REQUESTS: usize = 50;
const RECORDS: usize = 1000;
const REFERRERS: usize = 34;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct NoQueue;

#[async_trait::async_trait]
impl PayoutQueue for NoQueue {
    async fn enqueue(&self, _: &[RewardId]) -> Result<(), QueueError> {
        Ok(())
    }
}

/// 90 days of counters for one event and one code of it: each day, WRITES_PER_DAY member
/// writes (each on a random shard) counting every stage of the main line and a few others.
async fn seed_days(api: &Api, event: &EventId, code: &ReferralCode, first: Day) {
    let store = &api.table.store;
    for d in 0..DAYS {
        let day = Day::from_date(first.date() + chrono::Days::new(d as u64));
        for w in 0..WRITES_PER_DAY {
            let mut delta = FunnelDelta::default();
            for stage in [
                FunnelStage::ChecksValid,
                FunnelStage::UsesAccepted,
                FunnelStage::UsesRejected(RejectionReason::OwnCode),
                FunnelStage::KycPassed,
                FunnelStage::DeviceBound,
                FunnelStage::Qualified,
                FunnelStage::Withheld("PHONE_ALREADY_REWARDED"),
                FunnelStage::Rewards(Side::Referee, RewardStatus::Pending),
                FunnelStage::Rewards(Side::Referrer, RewardStatus::Pending),
            ] {
                delta.add(event, code, day, stage, 1);
            }
            let member = MemberProfile::new(
                AccountId::parse(format!("seed-{d}-{w}")).unwrap(),
                JkosId::parse(format!("jk-seed-{d}-{w}")).unwrap(),
                at(1, 0),
            );
            let mut written = member.clone();
            written.version = 1;
            store
                .save_member(MemberWrite {
                    member: &written,
                    expected_version: 0,
                    settlement: &Settlement::default(),
                    funnel: &delta,
                })
                .await
                .unwrap();
        }
    }
}

async fn query_runs() {
    let api = Api::new().await;
    let store = &api.table.store;
    let event = EventId::parse("personal").unwrap();
    let code = ReferralCode::parse("FNNK2345").unwrap();
    store
        .create_code(&fixtures::code_record(
            code.as_str(),
            "personal",
            "jk-bench",
        ))
        .await
        .unwrap();
    let first = Day::parse("2026-08-01").unwrap();
    let last = Day::from_date(first.date() + chrono::Days::new(DAYS as u64 - 1));
    let started = Instant::now();
    seed_days(&api, &event, &code, first).await;
    let seeding = started.elapsed().as_secs_f64();
    let admin = admin::router(
        Arc::new(store.clone()),
        Arc::new(api.queue.payout_queue()),
        EventId::parse("personal").unwrap(),
    );
    let trips = &api.table.round_trips;
    println!(
        "Seeded {DAYS} days × {WRITES_PER_DAY} member writes counting 9 stages each at both \
         levels ({} writes, {seeding:.1} s).",
        DAYS as usize * WRITES_PER_DAY
    );
    println!();
    println!(
        "| route ({DAYS}-day range) | requests | p50 | p95 | p99 | DynamoDB round trips / request | days answered |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, path) in [
        (
            "GET /admin/v1/events/{event_id}/funnel",
            format!("/admin/v1/events/{event}/funnel?from={first}&to={last}"),
        ),
        (
            "GET /admin/v1/codes/{code}/funnel",
            format!("/admin/v1/codes/{code}/funnel?from={first}&to={last}"),
        ),
    ] {
        let mut latencies = Vec::new();
        let before = trips.get();
        let mut days = 0;
        for _ in 0..REQUESTS {
            let started = Instant::now();
            let answer = call(&admin, "GET", &path, None, http_support::admin()).await;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(answer.status, 200, "{}", answer.body);
            days = answer.body["days"].as_array().unwrap().len();
            assert_eq!(
                answer.body["total"]["uses_accepted"],
                DAYS * WRITES_PER_DAY as i64
            );
        }
        let round_trips = trips.get() - before;
        latencies.sort_by(f64::total_cmp);
        println!(
            "| {name} | {REQUESTS} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} | {days} |",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.95),
            percentile(&latencies, 0.99),
            round_trips as f64 / REQUESTS as f64,
        );
    }
}

fn code_of(referrer: usize) -> String {
    const DIGITS: &[u8] = b"23456789ABCDEFGH";
    let mut code = String::from("BNCH");
    for shift in [4, 0] {
        code.push(DIGITS[(referrer >> shift) & 15] as char);
    }
    code
}

fn records() -> Vec<Outgoing> {
    referral_tests::workload::member_stream(RECORDS, |member| {
        let account = format!("bench-{member}");
        let code = code_of(member % REFERRERS);
        vec![
            registration("REFERRAL_CODE_USED", &account, Some(&code), at(3, 0)),
            registration("KYC_PASSED", &account, None, at(3, 1)),
            registration("DEVICE_BOUND", &account, None, at(3, 2)),
        ]
    })
}

async fn consumer_run(batch_size: usize, concurrency: usize) -> (String, usize, u64, f64) {
    let h = Harness::new().await;
    for r in 0..REFERRERS {
        h.referrer_code(&code_of(r), &format!("jk-referrer-{r}"))
            .await;
    }
    let mut settings = ConsumerSettings::new(TOPIC_REGISTRATION, EventId::parse(PERSONAL).unwrap());
    settings.concurrency = concurrency;
    let consumer = Consumer::new(
        Arc::new(h.table.store.clone()),
        Arc::new(NoQueue),
        ConfigCache::new(std::time::Duration::from_secs(60)),
        settings,
    );
    let records = records();
    let before = h.table.round_trips.get();
    let started = Instant::now();
    let mut conflicts = 0;
    for chunk in records.chunks(batch_size) {
        conflicts += consumer
            .handle(&msk::event(chunk))
            .await
            .expect("batch")
            .conflicts;
    }
    let label = if batch_size == 1 {
        "1,000 batches of 1, sequential".to_owned()
    } else {
        format!("one batch of 1,000, {concurrency} at a time")
    };
    (
        label,
        h.table.round_trips.get() - before,
        conflicts,
        started.elapsed().as_secs_f64(),
    )
}

/// The actions of this workload's writes: (profile + settlement Puts, funnel counter items).
fn write_sizes() -> Vec<(&'static str, usize, usize)> {
    let utc = |_: &EventId, t: referral_shared::time::Instant| LinkSettings::default().day_of(t);
    let mut m = fixtures::referee("acc-size", "BNCH2345", "member:jk-referrer-0");
    m.referral.as_mut().unwrap().used_at = at(3, 0);
    let mut kyc = m.clone();
    kyc.kyc_pass_time = Some(at(3, 1));
    let mut done = kyc.clone();
    done.device_bind_time = Some(at(3, 2));
    done.qualified_at = Some(at(3, 2));
    let rewards: Vec<Reward> = Side::BOTH
        .iter()
        .map(|side| fixtures::reward(&done, *side, RewardStatus::Pending, at(3, 2)))
        .collect();
    vec![
        (
            "code used (alone)",
            1,
            funnel_delta(None, &m, &[], utc).len(),
        ),
        (
            "KYC passed (alone)",
            1,
            funnel_delta(Some(&m), &kyc, &[], utc).len(),
        ),
        (
            "device bound → qualified (code + 2 rewards)",
            4,
            funnel_delta(Some(&kyc), &done, &rewards, utc).len(),
        ),
        (
            "all three in one batch",
            4,
            funnel_delta(None, &done, &rewards, utc).len(),
        ),
    ]
}

#[tokio::main]
async fn main() {
    println!("## Funnel queries");
    println!();
    query_runs().await;
    println!();
    println!("## Consumer with funnel counting");
    println!();
    println!(
        "| run | DynamoDB round trips | per record | conflicts retried | seconds | records/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (batch, concurrency) in [(RECORDS, 16), (1, 1)] {
        let (label, round_trips, conflicts, seconds) = consumer_run(batch, concurrency).await;
        println!(
            "| {label} | {round_trips} | {:.2} | {conflicts} | {seconds:.2} | {:.0} |",
            round_trips as f64 / RECORDS as f64,
            RECORDS as f64 / seconds
        );
    }
    println!();
    println!(
        "| write of this workload | Puts | funnel counter updates | TransactWriteItems actions |"
    );
    println!("|---|---:|---:|---:|");
    for (name, puts, counters) in write_sizes() {
        let actions = if counters == 0 && puts == 1 {
            "1 (PutItem)".to_owned()
        } else {
            (puts + counters).to_string()
        };
        println!("| {name} | {puts} | {counters} | {actions} |");
    }
}
