//! Reward-rules benchmark (not a test: numbers, not assertions). The consumer benchmark's
//! workload — 1,000 registration records of 334 members (code used, KYC, device: every member
//! qualifies), each member with a phone and a device of their own — with the event's reward
//! rules off, then every rule on (thresholds no referee reaches, so the same rewards are
//! granted and the cost of the rules is all that differs), against DynamoDB Local, the payout
//! queue counted in memory (moto would measure itself):
//! - one referrer owning every code use (the hot referrer: every grant updates one counter
//!   item) and 34 referrers (about 10 referees each);
//! - one batch of 1,000 records 16 members at a time, and 1,000 batches of one record.
//!
//! Reports DynamoDB round trips, conflicts retried, wall time and records/second as Markdown on
//! stdout. Run with `make bench` (scripts/bench.sh), which starts the stack.

use referral_devkit::msk::{self, Outgoing};
use referral_shared::contracts::kafka::TOPIC_REGISTRATION;
use referral_shared::events_cache::ConfigCache;
use referral_shared::ingest::{Consumer, ConsumerSettings};
use referral_shared::queue::{PayoutQueue, QueueError};
use referral_shared::*;
use referral_tests::fixtures::at;
use referral_tests::ingest_support::*;
use std::sync::Arc;
use std::time::Instant;

const RECORDS: usize = 1000;

fn code_of(referrer: usize) -> String {
    // Codes use 2-9 and A-Z without I, L, O, U.
    const DIGITS: &[u8] = b"23456789ABCDEFGH";
    let mut code = String::from("BNCH");
    for shift in [4, 0] {
        code.push(DIGITS[(referrer >> shift) & 15] as char);
    }
    code
}

fn records(referrers: usize) -> Vec<Outgoing> {
    referral_tests::workload::member_stream(RECORDS, |member| {
        let account = format!("bench-{member}");
        let code = code_of(member % referrers);
        let phone = format!("09{member:08}");
        let device = format!("device-{member}");
        vec![
            registration_of(
                "REFERRAL_CODE_USED",
                &account,
                Some(&code),
                Some(&phone),
                None,
                at(3, 0),
            ),
            registration_of("KYC_PASSED", &account, None, Some(&phone), None, at(3, 1)),
            registration_of(
                "DEVICE_BOUND",
                &account,
                None,
                Some(&phone),
                Some(&device),
                at(3, 2),
            ),
        ]
    })
}

/// Every rule on, with thresholds this workload never reaches (the same rewards are granted).
fn every_rule() -> RewardRules {
    RewardRules {
        referrer_cap: Some(ReferrerCap {
            max_referees: 100_000,
            per: CapScope::Event,
            referee_rewarded_beyond_cap: true,
        }),
        one_reward_per_phone: true,
        one_reward_per_device: true,
        refuse_self_referral: true,
        qualification_days: Some(30),
        review_hold: Some(ReviewHold {
            referees_per_24h: Some(1000),
            amount_at_least: Some(RewardAmount::parse("99999").unwrap()),
        }),
        milestones: vec![Milestone {
            nth: 100_000,
            reward: RewardTerms {
                reward_type: RewardType::Coin,
                amount: RewardAmount::parse("1").unwrap(),
            },
        }],
        claim_days: None,
    }
}

struct NoQueue;

#[async_trait::async_trait]
impl PayoutQueue for NoQueue {
    async fn enqueue(&self, _: &[RewardId]) -> Result<(), QueueError> {
        Ok(())
    }
}

struct Run {
    label: String,
    round_trips: usize,
    conflicts: u64,
    rewards: u64,
    seconds: f64,
}

async fn run(rules: bool, referrers: usize, batch_size: usize, concurrency: usize) -> Run {
    let h = Harness::new().await;
    for r in 0..referrers {
        h.referrer_code_with_phone(&code_of(r), &format!("jk-referrer-{r}"), "0999999999")
            .await;
    }
    if rules {
        h.set_rules(every_rule()).await;
    }
    let mut settings = ConsumerSettings::new(TOPIC_REGISTRATION, EventId::parse(PERSONAL).unwrap());
    settings.concurrency = concurrency;
    settings.identity_key = Some(identity_key());
    let consumer = Consumer::new(
        Arc::new(h.table.store.clone()),
        Arc::new(NoQueue),
        ConfigCache::new(std::time::Duration::from_secs(60)),
        settings,
    );
    let records = records(referrers);
    let before = h.table.round_trips.get();
    let started = Instant::now();
    let (mut rewards, mut conflicts) = (0, 0);
    for chunk in records.chunks(batch_size) {
        let report = consumer.handle(&msk::event(chunk)).await.expect("batch");
        rewards += report.rewards_created;
        conflicts += report.conflicts;
    }
    let shape = if batch_size == 1 {
        "1,000 batches of 1, sequential".to_owned()
    } else {
        format!("one batch of 1,000, {concurrency} at a time")
    };
    Run {
        label: format!(
            "rules {}, {referrers} referrer{}, {shape}",
            if rules { "on" } else { "off" },
            if referrers == 1 { "" } else { "s" }
        ),
        round_trips: h.table.round_trips.get() - before,
        conflicts,
        rewards,
        seconds: started.elapsed().as_secs_f64(),
    }
}

#[tokio::main]
async fn main() {
    let mut runs = Vec::new();
    for referrers in [34, 1] {
        for (batch, concurrency) in [(RECORDS, 16), (1, 1)] {
            for rules in [false, true] {
                runs.push(run(rules, referrers, batch, concurrency).await);
            }
        }
    }
    println!(
        "| run | DynamoDB round trips | per record | conflicts retried | rewards | seconds | records/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        println!(
            "| {} | {} | {:.2} | {} | {} | {:.2} | {:.0} |",
            r.label,
            r.round_trips,
            r.round_trips as f64 / RECORDS as f64,
            r.conflicts,
            r.rewards,
            r.seconds,
            RECORDS as f64 / r.seconds
        );
    }
    for pair in runs.chunks(2) {
        let (off, on) = (&pair[0], &pair[1]);
        println!(
            "\n{} → {}: {:+} round trips ({:+.0}%), throughput x{:.2}.",
            off.label,
            on.label.replace("rules on, ", ""),
            on.round_trips as i64 - off.round_trips as i64,
            100.0 * (on.round_trips as f64 / off.round_trips as f64 - 1.0),
            off.seconds / on.seconds
        );
    }
}
