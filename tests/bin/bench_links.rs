//! Share-link benchmark (not a test: numbers, not assertions), against DynamoDB Local, the
//! router called in-process as Lambda calls it (payload 2.0 event through lambda_http):
//! - redirect latency, one request at a time as one Lambda instance serves them: a known code
//!   (GetItem + the count's UpdateItem), an unknown code (GetItem + the unknown-codes
//!   counter's UpdateItem), both answered no sooner than the answer floor (the tests' 5 ms),
//!   HEAD of a known code (nothing read);
//! - DynamoDB writes per counted click: the UpdateItems a GET sends, seen by the SDK
//!   interceptor;
//! - known vs unknown codes as an enumerating visitor times them (`link_timing`): per-code
//!   median latency distributions and the best latency threshold's accuracy;
//! - clicks per second sustained on ONE code for `LINK_BENCH_SECONDS` (default 20) with
//!   `LINK_BENCH_CONCURRENCY` (default 32) visitors at once, the count failures (throttling
//!   or otherwise) seen through the `ClickCountFailures` metric, and the stored total.
//!
//! Latencies are DynamoDB Local on loopback plus our code in a debug build: they compare
//! changes to this code, not API Gateway + Lambda. DynamoDB Local does not enforce partition
//! throughput limits, so 0 throttling errors here says the code path adds no failure of its
//! own, not that AWS would not throttle: the shard arithmetic (docs/data-model.md) is what
//! keeps each partition under its limit. Run with `make bench` (scripts/bench.sh).

use referral_shared::store::keys::CLICK_SHARDS;
use referral_shared::store::prelude::*;
use referral_shared::*;
use referral_tests::fixtures::{code_record, linked_event};
use referral_tests::http_support::{Api, call_with};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Codes of each kind (known, unknown) and GETs per code in the enumeration timing.
const TIMED_CODES: usize = 200;
const TIMED_ROUNDS: usize = 9;

const SEQUENTIAL: usize = 500;
const BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148";

static COUNT_FAILURES: AtomicU64 = AtomicU64::new(0);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn latencies(
    router: &axum::Router,
    method: &str,
    path: &str,
    n: usize,
) -> (Vec<f64>, &'static str) {
    let mut out = Vec::with_capacity(n);
    let mut location = "";
    for _ in 0..n {
        let started = Instant::now();
        let answer = call_with(router, method, path, None, None, &[("user-agent", BROWSER)]).await;
        out.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(answer.status, 302);
        location = if answer.headers["location"] == "https://app.example.com/join" {
            "generic"
        } else {
            "landing"
        };
    }
    out.sort_by(f64::total_cmp);
    (out, location)
}

#[tokio::main]
async fn main() {
    referral_shared::telemetry::set_emf_output(false);
    referral_shared::telemetry::tap_metrics(|line| {
        if line.contains("\"ClickCountFailures\"") {
            COUNT_FAILURES.fetch_add(1, Ordering::Relaxed);
        }
    });
    let api = Api::new().await;
    let store = &api.table.store;
    store
        .save_event_config(
            &linked_event(
                "bench-links",
                Some("https://pay.example.com/join?code={code}"),
                "Asia/Taipei",
            ),
            None,
        )
        .await
        .unwrap();
    store
        .create_code(&code_record("VRX23456", "bench-links", "jk-viral"))
        .await
        .unwrap();
    let router = Api::link_router(&api.table, Arc::new(chrono::Utc::now));
    let trips = &api.table.round_trips;
    // Warm the configuration cache.
    call_with(&router, "GET", "/r/VRX23456", None, None, &[]).await;

    println!(
        "## Redirect latency ({SEQUENTIAL} requests each, one at a time, configuration cached)"
    );
    println!();
    println!("| request | answer | p50 | p99 | DynamoDB round trips / request |");
    println!("|---|---|---|---|---|");
    for (name, method, path) in [
        ("GET known code (counted)", "GET", "/r/VRX23456"),
        (
            "GET unknown code (counted on the unknown-codes counter)",
            "GET",
            "/r/NKN23456",
        ),
        (
            "HEAD known code (not counted, nothing read)",
            "HEAD",
            "/r/VRX23456",
        ),
        ("GET malformed code", "GET", "/r/0O1IL"),
    ] {
        let before = trips.get();
        let (sorted, location) = latencies(&router, method, path, SEQUENTIAL).await;
        let rt = (trips.get() - before) as f64 / SEQUENTIAL as f64;
        println!(
            "| {name} | 302 {location} | {:.1} ms | {:.1} ms | {rt:.2} |",
            percentile(&sorted, 0.50),
            percentile(&sorted, 0.99),
        );
    }
    println!();
    let (_, operations) = trips
        .operations_during(call_with(&router, "GET", "/r/VRX23456", None, None, &[]))
        .await;
    println!(
        "DynamoDB writes per counted click: {} (the UpdateItems of a counted GET: {}).",
        operations.iter().filter(|o| *o == "UpdateItem").count(),
        operations.join(" + ")
    );
    println!();

    enumeration_timing().await;

    let seconds: u64 = env_or("LINK_BENCH_SECONDS", 20);
    let concurrency: usize = env_or("LINK_BENCH_CONCURRENCY", 32);
    let code = ReferralCode::parse("VRX23456").unwrap();
    let far = (
        Day::parse("2000-01-01").unwrap(),
        Day::parse("2100-01-01").unwrap(),
    );
    let stored_before: u64 = store
        .code_clicks(&code, far.0, far.1)
        .await
        .unwrap()
        .values()
        .sum();
    let failures_before = COUNT_FAILURES.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let visitors = (0..concurrency).map(|_| {
        let router = router.clone();
        tokio::spawn(async move {
            let mut answered = 0u64;
            let mut not_redirected = 0u64;
            while Instant::now() < deadline {
                let answer = call_with(
                    &router,
                    "GET",
                    "/r/VRX23456",
                    None,
                    None,
                    &[("user-agent", BROWSER)],
                )
                .await;
                if answer.status == 302 {
                    answered += 1;
                } else {
                    not_redirected += 1;
                }
            }
            (answered, not_redirected)
        })
    });
    let mut answered = 0;
    let mut not_redirected = 0;
    for result in futures::future::join_all(visitors).await {
        let (a, n) = result.unwrap();
        answered += a;
        not_redirected += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let failures = COUNT_FAILURES.load(Ordering::Relaxed) - failures_before;
    let stored: u64 = store
        .code_clicks(&code, far.0, far.1)
        .await
        .unwrap()
        .values()
        .sum::<u64>()
        - stored_before;
    println!("## Clicks sustained on one code");
    println!();
    println!("| | |");
    println!("|---|---|");
    println!("| duration | {elapsed:.1} s |");
    println!("| visitors at once | {concurrency} |");
    println!("| click shards | {CLICK_SHARDS} |");
    println!("| redirects (302) | {answered} |");
    println!("| answers other than 302 | {not_redirected} |");
    println!(
        "| clicks per second | {:.0} ({:.0} writes/s per shard) |",
        answered as f64 / elapsed,
        answered as f64 / elapsed / f64::from(CLICK_SHARDS)
    );
    println!("| count failures (throttling or other, `ClickCountFailures`) | {failures} |");
    println!(
        "| clicks stored (sum over shards) | {stored} ({}) |",
        if stored == answered - failures {
            "= redirects − failures"
        } else {
            "MISMATCH"
        }
    );
}

/// What an enumerating visitor sees: `TIMED_CODES` known and `TIMED_CODES` unknown well-formed
/// codes, `TIMED_ROUNDS` GETs each, all interleaved at random and sent one at a time to a fresh
/// instance (its own table), each code scored by its median: the distributions of those
/// medians, and how well the best latency threshold tells the two kinds apart.
async fn enumeration_timing() {
    for (name, floor) in [
        (
            "answer floor 5 ms, as the tests",
            referral_tests::http_support::LINK_ANSWER_FLOOR,
        ),
        ("no answer floor: equal work only", Duration::ZERO),
    ] {
        enumeration_timing_with(name, floor).await;
    }
}

async fn enumeration_timing_with(name: &str, floor: Duration) {
    use rand::SeedableRng;
    use referral_tests::link_timing::{
        best_threshold_accuracy, per_code_medians, percentile, seed_codes,
    };
    let api = Api::new().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(22);
    let (known, unknown) = seed_codes(
        &api.table.store,
        "timed",
        Some("https://pay.example.com/join?code={code}"),
        TIMED_CODES,
        &mut rng,
    )
    .await;
    let router = Api::link_router_with_floor(&api.table, Arc::new(chrono::Utc::now), floor);
    // Warm the configuration cache, as a busy instance has it.
    call_with(&router, "GET", &format!("/r/{}", known[0]), None, None, &[]).await;
    let (k, u) = per_code_medians(&router, &known, &unknown, TIMED_ROUNDS, &mut rng).await;
    println!(
        "## Known vs unknown codes, {name} ({TIMED_CODES} of each, {TIMED_ROUNDS} GETs per \
         code, interleaved; per-code median)"
    );
    println!();
    println!("| codes | p10 | median | p90 |");
    println!("|---|---|---|---|");
    for (name, sorted) in [("known", &k), ("unknown", &u)] {
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(sorted, 0.10),
            percentile(sorted, 0.50),
            percentile(sorted, 0.90),
        );
    }
    println!();
    println!(
        "Best single-threshold classifier on the per-code medians: {:.1} % accurate (50 % = \
         cannot tell them apart).",
        best_threshold_accuracy(&k, &u) * 100.0
    );
    println!();
}
