//! HTTP API benchmark (not a test: numbers, not assertions). The app and admin routers called
//! in-process exactly as Lambda calls them (payload 2.0 event through lambda_http), one request
//! at a time as one Lambda instance serves them, against DynamoDB Local:
//! - code check (limiter write + code read, configuration cached);
//! - my referral, pages of 20 referees of a referrer with 200 (one Query page each);
//! - admin statistics over that referrer's whole collection.
//!
//! Latencies are DynamoDB Local on loopback plus our code in a debug build: they compare
//! changes to this code, they are not API Gateway + Lambda latencies. Round trips are counted
//! by the SDK interceptor. Memory is this process's peak resident set (VmHWM).
//! Run with `make bench` (scripts/bench.sh).

use referral_shared::api::{admin, app};
use referral_shared::store::prelude::*;
use referral_shared::*;
use referral_tests::fixtures::{self, at};
use referral_tests::http_support::{self, Api, call};
use referral_tests::memory_kib;
use std::sync::Arc;
use std::time::Instant;

const CHECKS: usize = 500;
const REFEREES: usize = 200;
const PAGE: usize = 20;

struct Run {
    name: &'static str,
    requests: usize,
    latencies_ms: Vec<f64>,
    round_trips: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let rss_before = memory_kib("VmRSS:");
    let api = Api::new().await;
    let store = &api.table.store;
    let source = "jk-bench-referrer";
    store
        .create_code(&fixtures::code_record("BNCH2345", "personal", source))
        .await
        .unwrap();
    for i in 0..REFEREES {
        let mut referee = fixtures::referee(&format!("acc-bench-{i:04}"), "BNCH2345", source);
        referee.kyc_pass_time = Some(at(3, 0));
        referee.device_bind_time = Some(at(3, 1));
        referee.qualified_at = Some(at(3, 1));
        store.put_member(&referee).await.unwrap();
        for side in Side::BOTH {
            store
                .create_reward(&fixtures::reward(
                    &referee,
                    side,
                    RewardStatus::Success,
                    at(3, 1),
                ))
                .await
                .unwrap();
        }
    }
    let app = app::router(
        Arc::new(store.clone()),
        Arc::new(api.queue.payout_queue()),
        app::AppSettings {
            personal_event: EventId::parse("personal").unwrap(),
            share_link_template: "https://app.example.com/r/{code}".into(),
            check_limit_per_minute: 1_000_000,
            config_cache_seconds: 60,
        },
    );
    let admin = admin::router(
        Arc::new(store.clone()),
        Arc::new(api.queue.payout_queue()),
        EventId::parse("personal").unwrap(),
    );
    let trips = &api.table.round_trips;
    // Warm the configuration cache and the connection pool.
    call(
        &app,
        "GET",
        "/v1/referral/subtitle",
        None,
        http_support::member("warm"),
    )
    .await;

    let mut runs = Vec::new();

    let mut run = Run {
        name: "POST /v1/referralCode/check",
        requests: 0,
        latencies_ms: vec![],
        round_trips: 0,
    };
    let before = trips.get();
    for i in 0..CHECKS {
        // Half existing, half well-formed but unknown: both cost the counter and the GetItem.
        let code = if i % 2 == 0 { "BNCH2345" } else { "NXPE2345" };
        let body = format!(r#"{{"code":"{code}"}}"#);
        let started = Instant::now();
        let answer = call(
            &app,
            "POST",
            "/v1/referralCode/check",
            Some(&body),
            http_support::member(&format!("m-{}", i % 50)),
        )
        .await;
        run.latencies_ms
            .push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(answer.status, 200);
        run.requests += 1;
    }
    run.round_trips = trips.get() - before;
    runs.push(run);

    let mut run = Run {
        name: "GET /v1/referral/me (pages of 20)",
        requests: 0,
        latencies_ms: vec![],
        round_trips: 0,
    };
    let before = trips.get();
    for _ in 0..5 {
        let mut path = format!("/v1/referral/me?limit={PAGE}");
        loop {
            let started = Instant::now();
            let answer = call(&app, "GET", &path, None, http_support::member(source)).await;
            run.latencies_ms
                .push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(answer.status, 200);
            run.requests += 1;
            match answer.body["next_cursor"].as_str() {
                Some(c) => path = format!("/v1/referral/me?limit={PAGE}&cursor={c}"),
                None => break,
            }
        }
    }
    run.round_trips = trips.get() - before;
    runs.push(run);

    let mut run = Run {
        name: "GET /admin/v1/referrers/{source}/statistics (200 referees)",
        requests: 0,
        latencies_ms: vec![],
        round_trips: 0,
    };
    let before = trips.get();
    for _ in 0..20 {
        let started = Instant::now();
        let answer = call(
            &admin,
            "GET",
            &format!("/admin/v1/referrers/member:{source}/statistics"),
            None,
            http_support::admin(),
        )
        .await;
        run.latencies_ms
            .push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(answer.body["referees"], REFEREES);
        run.requests += 1;
    }
    run.round_trips = trips.get() - before;
    runs.push(run);

    let peak = memory_kib("VmHWM:");
    println!("| route | requests | p50 | p95 | p99 | DynamoDB round trips / request |");
    println!("|---|---|---|---|---|---|");
    for mut r in runs {
        r.latencies_ms.sort_by(f64::total_cmp);
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} |",
            r.name,
            r.requests,
            percentile(&r.latencies_ms, 0.50),
            percentile(&r.latencies_ms, 0.95),
            percentile(&r.latencies_ms, 0.99),
            r.round_trips as f64 / r.requests as f64
        );
    }
    println!();
    println!(
        "Memory (this process, Linux VmRSS/VmHWM): {:.1} MiB resident before, {:.1} MiB peak \
         (both routers, the SDK client, Tokio; the seeding included).",
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
}
