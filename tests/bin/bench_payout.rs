//! Payout benchmark (not a test: numbers, not assertions). 1,000 PENDING rewards paid through
//! the payout engine in SQS-shaped batches of 10, against DynamoDB Local and the partner
//! stand-ins in their own process, finance answering after 50 ms:
//! - sequential: one message at a time (PAYOUT_CONCURRENCY = 1), one invocation at a time;
//! - concurrent: 10 messages of a batch at once (the default), one invocation at a time;
//! - 3 instances: as above, three invocations at once (Lambda scaling out on the queue);
//! - the same, with rewards in no funnel: the status change without its funnel count (one
//!   UpdateItem instead of a TransactWriteItems of 3 items), the baseline of what counting
//!   costs (ADR 0008 §5).
//!
//! SQS itself is left out (events are built in memory, nothing to delete: no failures): moto
//! serves one request at a time and would measure itself. Memory is this process's peak
//! resident set (VmHWM), which holds the engine, its SDK and HTTP clients and the Tokio runtime.
//! Run with `make bench` (scripts/bench.sh).

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use referral_shared::contracts::payout::PayoutMessage;
use referral_shared::events_cache::ConfigCache;
use referral_shared::partners::{PartnerConfig, Partners};
use referral_shared::payout::{MessageOutcome, Payout, PayoutSettings};
use referral_shared::queue::SqsRetryQueue;
use referral_shared::store::prelude::*;
use referral_shared::*;
use referral_tests::payout_support::{reward, seed_personal_event};
use referral_tests::{TestTable, memory_kib};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REWARDS: usize = 1000;
const FINANCE_LATENCY_MS: u64 = 50;

struct StandInProcess {
    child: Child,
    base_url: String,
}

impl Drop for StandInProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_stand_in() -> StandInProcess {
    let exe = std::env::current_exe().unwrap();
    let binary = exe.parent().unwrap().join("referral-partners");
    let mut child = Command::new(&binary)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (build it: cargo build -p referral-partners)",
                binary.display()
            )
        });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base_url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the stand-in prints its URL")
        .to_owned();
    StandInProcess { child, base_url }
}

fn event_of(ids: &[RewardId]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut m = SqsMessage::default();
            m.message_id = Some(format!("m-{id}-{i}"));
            m.receipt_handle = Some(format!("rh-{id}"));
            m.body = Some(
                PayoutMessage {
                    reward_id: id.clone(),
                }
                .body(),
            );
            m.attributes
                .insert("ApproximateReceiveCount".into(), "1".into());
            m
        })
        .collect();
    event
}

struct Run {
    label: &'static str,
    concurrency: usize,
    instances: usize,
    seconds: f64,
    paid: u32,
    round_trips: usize,
}

#[tokio::main]
async fn main() {
    let table = TestTable::create().await;
    let store = &table.store;
    seed_personal_event(store).await;
    let stand_in = start_stand_in();
    reqwest::Client::new()
        .put(format!("{}/_stand-in/knobs", stand_in.base_url))
        .body(format!(
            r#"{{"finance":{{"latency_ms":{FINANCE_LATENCY_MS}}}}}"#
        ))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let sqs = referral_devkit::local_sqs_client().await;
    let rss_before = memory_kib("VmRSS:");

    let mut runs = Vec::new();
    // The last run is the baseline of the funnel's cost: the same rewards without a funnel day,
    // so each status change is the single conditional UpdateItem it was before ADR 0008 §5
    // instead of a transaction with two counter items.
    for (label, concurrency, instances, counted) in [
        ("sequential", 1usize, 1usize, true),
        ("concurrent (10 per batch)", 10, 1, true),
        ("3 instances x 10", 10, 3, true),
        ("3 instances x 10, no funnel count (baseline)", 10, 3, false),
    ] {
        // Fresh rewards per run: ids carry the run's label.
        let mut ids = Vec::with_capacity(REWARDS);
        for i in 0..REWARDS {
            let side = if i % 2 == 0 {
                Side::Referrer
            } else {
                Side::Referee
            };
            let mut r = reward(&format!("b{}-{i}", runs.len()), side);
            if !counted {
                r.funnel_day = None;
            }
            ids.push(r.reward_id.clone());
            store.create_reward(&r).await.unwrap();
        }
        let engines: Vec<Arc<Payout<_, _>>> = (0..instances)
            .map(|_| {
                Arc::new(Payout::new(
                    Arc::new(store.clone()),
                    Arc::new(SqsRetryQueue::new(sqs.clone(), "unused", "unused")),
                    Partners::new(
                        &PartnerConfig::local(&stand_in.base_url, &stand_in.base_url).unwrap(),
                    )
                    .unwrap(),
                    ConfigCache::new(Duration::from_secs(60)),
                    PayoutSettings {
                        concurrency,
                        ..PayoutSettings::default()
                    },
                ))
            })
            .collect();
        let batches: Vec<SqsEvent> = ids.chunks(10).map(event_of).collect();
        let before = table.round_trips.get();
        let started = Instant::now();
        // Each instance takes every `instances`-th batch, one invocation after another.
        let per_instance =
            futures::future::join_all(engines.iter().enumerate().map(|(n, engine)| {
                let batches: Vec<&SqsEvent> = batches.iter().skip(n).step_by(instances).collect();
                async move {
                    let mut paid = 0;
                    for b in batches {
                        paid += engine.handle(b).await.count(MessageOutcome::Paid);
                    }
                    paid
                }
            }))
            .await;
        let seconds = started.elapsed().as_secs_f64();
        runs.push(Run {
            label,
            concurrency,
            instances,
            seconds,
            paid: per_instance.iter().sum(),
            round_trips: table.round_trips.get() - before,
        });
    }
    let peak = memory_kib("VmHWM:");

    println!(
        "| run | messages at once | rewards paid | wall time | rewards/s | DynamoDB round trips / reward |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &runs {
        println!(
            "| {} | {} | {} | {:.1} s | {:.0} | {:.2} |",
            r.label,
            r.concurrency * r.instances,
            r.paid,
            r.seconds,
            f64::from(r.paid) / r.seconds,
            r.round_trips as f64 / f64::from(r.paid.max(1)),
        );
    }
    let sequential = runs[0].seconds;
    println!();
    println!(
        "Concurrent vs sequential: {:.1}x; 3 instances vs sequential: {:.1}x.",
        sequential / runs[1].seconds,
        sequential / runs[2].seconds
    );
    println!(
        "Funnel count on each status change (3 instances x 10): {:.0} rewards/s against {:.0} \
         without it in this run ({:+.0}%), {:.2} against {:.2} round trips per reward.",
        f64::from(runs[2].paid) / runs[2].seconds,
        f64::from(runs[3].paid) / runs[3].seconds,
        (runs[3].seconds / runs[2].seconds - 1.0) * 100.0,
        runs[2].round_trips as f64 / f64::from(runs[2].paid.max(1)),
        runs[3].round_trips as f64 / f64::from(runs[3].paid.max(1)),
    );
    println!();
    println!(
        "Memory (this process, Linux VmRSS/VmHWM): {:.1} MiB resident before the runs, {:.1} MiB peak over all runs.",
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
}
