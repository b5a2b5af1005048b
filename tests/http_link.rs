//! The public share link `GET|HEAD /r/{code}` over DynamoDB Local, each request delivered as
//! Lambda delivers it (payload 2.0 event without an authorizer, converted by lambda_http):
//! where each input goes, what is counted (one UpdateItem per counted click), and that a
//! failing DynamoDB never fails the visitor.

use axum::http::HeaderMap;
use referral_shared::share_link::WriteLatency;
use referral_shared::store::keys::CLICK_SHARDS;
use referral_shared::store::prelude::*;
use referral_shared::*;
use referral_tests::capture;
use referral_tests::fixtures::{code_record, linked_event};
use referral_tests::http_support::{Answer, Api, GENERIC_LANDING, call_with};
use std::collections::BTreeMap;
use std::sync::Arc;

const LANDING: &str = "https://pay.example.com/join?code={code}";
const BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

/// An event `linked` with a landing page (Asia/Taipei days) and its code `WNK23456`, an event
/// `bare` without one and its code `BAR23456`.
async fn seeded() -> Api {
    let api = Api::new().await;
    let store = &api.table.store;
    for (event, landing, code) in [
        ("linked", Some(LANDING), "WNK23456"),
        ("bare", None, "BAR23456"),
    ] {
        store
            .save_event_config(&linked_event(event, landing, "Asia/Taipei"), None)
            .await
            .unwrap();
        store
            .create_code(&code_record(code, event, &format!("jk-{event}")))
            .await
            .unwrap();
    }
    api
}

async fn visit(api: &Api, method: &str, path: &str, agent: &str) -> Answer {
    call_with(
        &api.links,
        method,
        path,
        None,
        None,
        &[("user-agent", agent)],
    )
    .await
}

fn location(answer: &Answer) -> &str {
    answer.headers["location"].to_str().unwrap()
}

/// The answer's headers as (name, value) pairs, Location left out.
fn headers_but_location(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = headers
        .iter()
        .filter(|(name, _)| *name != "location")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    pairs.sort();
    pairs
}

fn code(raw: &str) -> ReferralCode {
    ReferralCode::parse(raw).unwrap()
}

fn day(raw: &str) -> Day {
    Day::parse(raw).unwrap()
}

/// Every click of `raw` ever (all days up to far in the future).
async fn total_clicks(api: &Api, raw: &str) -> u64 {
    api.table
        .store
        .code_clicks(&code(raw), day("2000-01-01"), day("2100-01-01"))
        .await
        .unwrap()
        .values()
        .sum()
}

#[tokio::test]
async fn a_known_code_goes_to_its_events_landing_page_normalized_and_counts_one_click() {
    let api = seeded().await;
    // The first click of an instance also loads the event's configuration (then cached).
    let first = visit(&api, "GET", "/r/wnk2-3456", BROWSER).await;
    assert_eq!(first.status, 302);
    assert_eq!(
        location(&first),
        "https://pay.example.com/join?code=WNK23456"
    );
    assert_eq!(first.headers["cache-control"], "no-store");
    assert_eq!(first.body, serde_json::Value::Null, "no body");

    let (answer, trips) = api
        .table
        .round_trips
        .during(visit(&api, "GET", "/r/WNK23456", BROWSER))
        .await;
    assert_eq!(answer.status, 302);
    assert_eq!(
        trips, 2,
        "1 GetItem of the code + 1 UpdateItem of one shard (configuration cached)"
    );
    assert_eq!(total_clicks(&api, "WNK23456").await, 2);
}

#[tokio::test]
async fn unknown_malformed_and_landing_less_codes_all_get_the_same_generic_redirect() {
    capture::install();
    let unknown_visits = || {
        capture::metric_lines()
            .iter()
            .filter(|l| l.contains("\"UnknownCodeVisits\":1") && l.contains("share-link"))
            .count()
    };
    let api = seeded().await;
    let known = visit(&api, "GET", "/r/WNK23456", BROWSER).await;
    // Warm the configuration cache for the event without a landing page too.
    visit(&api, "GET", "/r/BAR23456", BROWSER).await;
    let long = format!("/r/{}", "A".repeat(5000));
    let cases: &[(&str, &str, usize)] = &[
        // (method, path, DynamoDB round trips)
        ("GET", "/r/NPE23456", 1),
        ("GET", "/r/bar2-3456", 2), // known, event without a landing page: counted
        ("GET", "/r/0O1IL", 0),
        ("GET", "/r/ab", 0),
        ("GET", "/r/%00%FF%2F..", 0),
        ("GET", "/r/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 0),
        ("GET", long.as_str(), 0),
        ("GET", "/r/WNK23456/extra", 0),
        ("GET", "/r/", 0),
        ("GET", "/elsewhere", 0),
        ("POST", "/r/WNK23456", 0),
        ("DELETE", "/r/NPE23456", 0),
    ];
    let visits_before = unknown_visits();
    for (method, path, expected_trips) in cases {
        let (answer, trips) = api
            .table
            .round_trips
            .during(visit(&api, method, path, BROWSER))
            .await;
        let shown = &path[..path.len().min(40)];
        assert_eq!(answer.status, 302, "{method} {shown}");
        assert_eq!(location(&answer), GENERIC_LANDING, "{method} {shown}");
        assert_eq!(answer.body, serde_json::Value::Null, "{method} {shown}");
        assert_eq!(
            headers_but_location(&answer.headers),
            headers_but_location(&known.headers),
            "{method} {shown}: the same headers as a known code's answer"
        );
        assert_eq!(trips, *expected_trips, "{method} {shown}");
    }
    // Each GET of `/r/{code}` with an unknown or malformed code is one `UnknownCodeVisits` (6
    // of the cases: the paths outside the route never reach the function behind API Gateway;
    // other tests of this binary may add theirs), and no metric names a code.
    assert!(
        unknown_visits() >= visits_before + 6,
        "{:?}",
        capture::metric_lines()
    );
    assert!(
        capture::metric_lines()
            .iter()
            .all(|l| !l.contains("NPE23456") && !l.contains("0O1IL")),
        "{:?}",
        capture::metric_lines()
    );
    // Only the two known codes have counters; the unknown one none.
    assert_eq!(total_clicks(&api, "NPE23456").await, 0);
    assert_eq!(total_clicks(&api, "BAR23456").await, 2);
    assert_eq!(total_clicks(&api, "WNK23456").await, 1);
}

#[tokio::test]
async fn an_unknown_code_is_answered_no_faster_than_a_known_codes_count_write() {
    let api = seeded().await;
    // A fresh instance: no write measured yet, so the wait is the initial estimate.
    let router = Api::link_router(&api.table, Arc::new(chrono::Utc::now));
    let started = std::time::Instant::now();
    let answer = call_with(&router, "GET", "/r/NPE23456", None, None, &[]).await;
    assert_eq!(location(&answer), GENERIC_LANDING);
    assert!(
        started.elapsed() >= WriteLatency::INITIAL,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn head_requests_and_link_preview_fetchers_are_redirected_but_not_counted() {
    let api = seeded().await;
    visit(&api, "GET", "/r/WNK23456", BROWSER).await; // warm the configuration cache
    let head = visit(&api, "HEAD", "/r/WNK23456", BROWSER).await;
    assert_eq!(head.status, 302);
    assert_eq!(
        location(&head),
        "https://pay.example.com/join?code=WNK23456"
    );
    assert_eq!(head.headers["cache-control"], "no-store");
    for agent in [
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "WhatsApp/2.23.20.0 A",
        "facebookexternalhit/1.1 Facebot Twitterbot/1.0",
        "TelegramBot (like TwitterBot)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ] {
        let (answer, trips) = api
            .table
            .round_trips
            .during(visit(&api, "GET", "/r/WNK23456", agent))
            .await;
        assert_eq!(answer.status, 302, "{agent}");
        assert_eq!(
            location(&answer),
            "https://pay.example.com/join?code=WNK23456",
            "{agent}"
        );
        assert_eq!(trips, 1, "{agent}: the code's GetItem only, no write");
    }
    assert_eq!(
        total_clicks(&api, "WNK23456").await,
        1,
        "the warm-up GET only"
    );
}

#[tokio::test]
async fn concurrent_clicks_on_one_code_are_all_counted_across_its_shards() {
    let api = seeded().await;
    const N: u64 = 240;
    let visits = (0..N).map(|_| visit(&api, "GET", "/r/WNK23456", BROWSER));
    for answer in futures::future::join_all(visits).await {
        assert_eq!(answer.status, 302);
    }
    assert_eq!(total_clicks(&api, "WNK23456").await, N);
    let event = EventId::parse("linked").unwrap();
    let today = linked_event("linked", None, "Asia/Taipei")
        .links
        .day_of(chrono::Utc::now());
    let (by_day, trips) = api
        .table
        .round_trips
        .during(api.table.store.event_clicks(&event, today, today))
        .await;
    assert_eq!(by_day.unwrap(), BTreeMap::from([(today, N)]));
    assert_eq!(trips, usize::from(CLICK_SHARDS), "one Query per shard");
    // Spread: 240 random picks among 8 shards leave none empty (p ≈ 8 · (7/8)^240 ≈ 1e-13).
    let shards: std::collections::BTreeSet<String> =
        referral_tests::scan_all(&api.table.client, &api.table.name)
            .await
            .into_iter()
            .filter_map(|item| item["PK"].as_s().ok().cloned())
            .filter(|pk| pk.starts_with("CLICKS#WNK23456#"))
            .collect();
    assert_eq!(shards.len(), usize::from(CLICK_SHARDS), "{shards:?}");
}

#[tokio::test]
async fn a_click_counts_on_the_events_calendar_day_across_its_midnight() {
    let api = seeded().await;
    // Asia/Taipei is UTC+8: 16:00 UTC is its midnight.
    let before = referral_shared::time::parse("2026-11-21T15:59:59.999Z").unwrap();
    let after = referral_shared::time::parse("2026-11-21T16:00:00Z").unwrap();
    for at in [before, after, after] {
        let router = Api::link_router(&api.table, Arc::new(move || at));
        let answer = call_with(&router, "GET", "/r/WNK23456", None, None, &[]).await;
        assert_eq!(answer.status, 302);
    }
    let clicks = api
        .table
        .store
        .code_clicks(&code("WNK23456"), day("2026-11-20"), day("2026-11-23"))
        .await
        .unwrap();
    assert_eq!(
        clicks,
        BTreeMap::from([(day("2026-11-21"), 1), (day("2026-11-22"), 2)])
    );
}

#[tokio::test]
async fn a_failing_dynamodb_still_redirects_and_says_so_in_a_metric() {
    capture::install();
    let api = seeded().await;
    visit(&api, "GET", "/r/WNK23456", BROWSER).await; // warm the configuration cache
    // The code's GetItem goes through, the count's UpdateItem does not.
    api.table.round_trips.fail_after(1);
    let answer = visit(&api, "GET", "/r/WNK23456", BROWSER).await;
    api.table.round_trips.heal();
    assert_eq!(answer.status, 302);
    assert_eq!(
        location(&answer),
        "https://pay.example.com/join?code=WNK23456"
    );
    // DynamoDB unreachable from the start: the generic page.
    api.table.round_trips.fail_after(0);
    let answer = visit(&api, "GET", "/r/WNK23456", BROWSER).await;
    api.table.round_trips.heal();
    assert_eq!(answer.status, 302);
    assert_eq!(location(&answer), GENERIC_LANDING);
    assert_eq!(total_clicks(&api, "WNK23456").await, 1);
    let metrics = capture::metric_lines();
    for name in ["ClickCountFailures", "LinkLookupFailures"] {
        assert!(
            metrics
                .iter()
                .any(|l| l.contains(&format!("\"{name}\":1")) && l.contains("share-link")),
            "{name}: {metrics:?}"
        );
    }
}

#[tokio::test]
async fn nothing_about_the_visitor_is_stored_or_logged() {
    capture::install();
    let api = seeded().await;
    let agent = "Mozilla/5.0 VisitorFingerprint-7f3a (Linux; Android 14)";
    let answer = call_with(
        &api.links,
        "GET",
        "/r/WNK23456",
        None,
        None,
        &[("user-agent", agent), ("x-forwarded-for", "198.51.100.77")],
    )
    .await;
    assert_eq!(answer.status, 302);
    let items = referral_tests::scan_all(&api.table.client, &api.table.name).await;
    let counters: Vec<_> = items
        .iter()
        .filter(|i| i["entity"].as_s().is_ok_and(|e| e == "ClickCount"))
        .collect();
    assert_eq!(counters.len(), 1);
    let mut names: Vec<&str> = counters[0].keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "GSI2PK", "GSI2SK", "PK", "SK", "clicks", "code", "entity", "event_id"
        ]
    );
    let stored = format!("{items:?}");
    let logged = capture::log_lines().join("\n");
    for secret in ["VisitorFingerprint", "198.51.100.77"] {
        assert!(!stored.contains(secret), "{secret} stored");
        assert!(!logged.contains(secret), "{secret} logged");
    }
}
