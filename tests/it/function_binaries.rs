//! The BUILT function binaries under a Lambda Runtime API (the stand-in in
//! `referral_tests::runtime_api`), against the local stack: a body marked base64 that is not
//! base64 gets 400 and the next request is served; an event of the wrong kind for a function
//! is an invocation error naming what was expected and what came; a panic fails only its own
//! invocation; the sample events in `events/` succeed.
//!
//! The binaries come from `target/debug` (`cargo build --workspace --bins`, which
//! scripts/test.sh runs first) or `FUNCTION_BIN_DIR`.

use referral_tests::payout_support::Bench;
use referral_tests::runtime_api::{FunctionProcess, Outcome, RuntimeApi, binary};
use referral_tests::{TestQueue, TestTable};
use serde_json::{Value, json};
use std::time::Duration;

fn sample(file: &str) -> Value {
    let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Shapes Lambda really delivers to other kinds of functions (aws_lambda_events' fixtures).
fn scheduled() -> Value {
    json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
        "time": "2026-11-22T08:00:00Z", "region": "ap-northeast-1",
        "resources": ["arn:aws:events:ap-northeast-1:123456789012:rule/every-10-minutes"],
        "detail": {}
    })
}

fn sns() -> Value {
    json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {"Message": "hello"}}]})
}

/// The app check event with a body flagged base64 that is not base64.
fn undecodable(mut event: Value) -> Value {
    event["isBase64Encoded"] = true.into();
    event["body"] = "{\"code\": not base64 at all}".into();
    event
}

struct Stack {
    table: TestTable,
    queue: TestQueue,
}

impl Stack {
    async fn new() -> Stack {
        Stack {
            table: TestTable::create().await,
            queue: TestQueue::create().await,
        }
    }

    fn spawn(&self, function: &str, api: &RuntimeApi) -> FunctionProcess {
        FunctionProcess::spawn(
            &binary(function),
            api,
            &[
                ("TABLE_NAME", self.table.name.as_str()),
                ("PAYOUT_QUEUE_URL", self.queue.url.as_str()),
                ("PERSONAL_EVENT_ID", "personal"),
                ("IDENTITY_HASH_KEY", "function-binaries-test-identity-key"),
                ("GENERIC_LANDING_URL", "https://pay.example.com/join"),
                (
                    "LANDING_URL_TEMPLATE",
                    "https://pay.example.com/join?code={code}",
                ),
            ],
        )
    }
}

fn assert_wrong_event(outcome: &Outcome, expected: &str, got: &str) {
    let (error_type, message) = outcome.error();
    assert_eq!(error_type, "WrongEvent", "{message}");
    assert_eq!(message, format!("expected {expected}, got {got}"));
}

fn http_status(outcome: &Outcome) -> (u64, Value) {
    let response = outcome.response();
    let body = response["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (response["statusCode"].as_u64().unwrap_or(0), body)
}

#[tokio::test]
async fn http_functions_answer_an_undecodable_base64_body_with_400_and_serve_the_next_request() {
    let stack = Stack::new().await;
    for (function, sample_file) in [
        ("app-api", "apigw-check-code.json"),
        ("admin-api", "apigw-admin-fail-rewards.json"),
    ] {
        let api = RuntimeApi::start().await;
        let mut process = stack.spawn(function, &api);

        let outcome = api
            .try_invoke(undecodable(sample(sample_file)), Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("{function} did not answer: {:?}", process.output()));
        let (status, body) = http_status(&outcome);
        assert_eq!(status, 400, "{function}: {outcome:?}");
        assert_eq!(body["error"]["code"], "invalid_body", "{function}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("base64"),
            "{function}: {body}"
        );
        assert!(process.is_running(), "{function} died");

        let (status, body) = http_status(&api.invoke(sample(sample_file)).await);
        assert_eq!(status, 200, "{function}: {body}");
        assert!(process.is_running(), "{function} died");
    }
}

#[tokio::test]
async fn http_functions_refuse_events_that_are_not_api_gateway_payload_2() {
    let stack = Stack::new().await;
    let expected = "an API Gateway HTTP API event (payload version 2.0)";
    for function in ["app-api", "admin-api", "share-link"] {
        let api = RuntimeApi::start().await;
        let mut process = stack.spawn(function, &api);
        for (event, got) in [
            (sample("sqs-payout.json"), "a Records event from aws:sqs"),
            (
                sample("msk-registration.json"),
                "an event with eventSource aws:kafka",
            ),
            (scheduled(), "an EventBridge event of another detail-type"),
            (json!("just a string"), "a JSON string"),
        ] {
            assert_wrong_event(&api.invoke(event).await, expected, got);
        }
        let mut v1 = sample("apigw-check-code.json");
        v1["version"] = "1.0".into();
        assert_wrong_event(
            &api.invoke(v1).await,
            expected,
            "an API Gateway event (payload version 1.0)",
        );
        assert!(process.is_running(), "{function} died");
        assert!(
            process.wait_for_output("\"WrongEvents\":1").await,
            "{function} counts wrong events"
        );
    }
}

/// The share link's sample event: an unknown code (empty table) and a known one get the same
/// 302 to the landing template with the code (an event's own landing URL is not used); the
/// known one counts on its code, and the process lives on.
#[tokio::test]
async fn the_share_link_redirects_the_sample_event_and_counts_a_known_code() {
    use referral_shared::store::prelude::*;
    let stack = Stack::new().await;
    let api = RuntimeApi::start().await;
    let mut process = stack.spawn("share-link", &api);
    let redirect = |outcome: &Outcome| {
        let response = outcome.response();
        (
            response["statusCode"].as_u64().unwrap_or(0),
            response["headers"]["location"].clone(),
            response["headers"]["cache-control"].clone(),
        )
    };
    let store = &stack.table.store;
    let config = referral_tests::fixtures::linked_event(
        "personal",
        Some("https://pay.example.com/j/{code}"),
        "UTC",
    );
    // Before the first visit: an unknown code's visit reads (and caches) the PERSONAL event.
    store.save_event_config(&config, None).await.unwrap();
    let unknown = api.invoke(sample("apigw-share-link.json")).await;
    assert_eq!(
        redirect(&unknown),
        (
            302,
            json!("https://pay.example.com/join?code=SHARE888"),
            json!("no-store")
        ),
        "{unknown:?}"
    );

    store
        .create_code(&referral_tests::fixtures::code_record(
            "SHARE888",
            "personal",
            "demo-referrer",
        ))
        .await
        .unwrap();
    let known = api.invoke(sample("apigw-share-link.json")).await;
    assert_eq!(
        redirect(&known),
        (
            302,
            json!("https://pay.example.com/join?code=SHARE888"),
            json!("no-store")
        ),
        "{known:?}"
    );
    let code = referral_shared::ReferralCode::parse("SHARE888").unwrap();
    let day = referral_shared::Day::parse("2000-01-01").unwrap();
    let today = config.links.day_of(chrono::Utc::now());
    let clicks = store.code_clicks(&code, day, today).await.unwrap();
    assert_eq!(clicks.values().sum::<u64>(), 1, "{clicks:?}");
    let unknown = store.unknown_clicks(day, today).await.unwrap();
    assert_eq!(unknown.values().sum::<u64>(), 1, "{unknown:?}");
    assert!(process.is_running(), "share-link died");
}

#[tokio::test]
async fn consumers_refuse_events_that_are_not_msk_events_and_apply_msk_events() {
    let stack = Stack::new().await;
    let expected =
        "an MSK event (eventSource aws:kafka or SelfManagedKafka, with a records object)";
    for (function, sample_file) in [
        ("member-info-consumer", "msk-member-info.json"),
        ("registration-consumer", "msk-registration.json"),
    ] {
        let api = RuntimeApi::start().await;
        let mut process = stack.spawn(function, &api);
        for (event, got) in [
            (sample("sqs-payout.json"), "a Records event from aws:sqs"),
            (
                sample("apigw-check-code.json"),
                "an API Gateway event (payload version 2.0)",
            ),
            (sns(), "a Records event from aws:sns"),
            (json!({}), "a JSON object without a recognised event marker"),
        ] {
            assert_wrong_event(&api.invoke(event).await, expected, got);
        }
        let outcome = api.invoke(sample(sample_file)).await;
        assert!(
            matches!(outcome, Outcome::Response(_)),
            "{function}: {outcome:?}"
        );
        assert!(process.is_running(), "{function} died");
        let line = process
            .output()
            .into_iter()
            .find(|l| l.contains("wrong event for this function"))
            .unwrap_or_else(|| panic!("{function} logs a wrong event"));
        assert!(line.contains("got"), "{line}");
    }
    // The sample member-info record was applied (the success path really ran).
    let scan = stack
        .table
        .client
        .scan()
        .table_name(&stack.table.name)
        .send()
        .await
        .unwrap();
    assert!(scan.count() > 0, "the sample MSK events wrote nothing");
}

#[tokio::test]
async fn payout_refuses_events_that_are_not_sqs_events_and_answers_sqs_events() {
    let bench = Bench::new().await;
    let api = RuntimeApi::start().await;
    let base = bench.partners.base_url.clone();
    let mut process = FunctionProcess::spawn(
        &binary("reward-payout"),
        &api,
        &[
            ("TABLE_NAME", bench.table.name.as_str()),
            ("PAYOUT_QUEUE_URL", bench.queue_url.as_str()),
            ("PAYOUT_DLQ_URL", bench.dlq_url.as_str()),
            ("FINANCE_URL", base.as_str()),
            ("MSGHUB_URL", base.as_str()),
            ("PERSONAL_EVENT_ID", "personal"),
        ],
    );
    let expected = "an SQS event (a Records array of aws:sqs messages)";
    for (event, got) in [
        (
            sample("msk-registration.json"),
            "an event with eventSource aws:kafka",
        ),
        (
            sample("apigw-check-code.json"),
            "an API Gateway event (payload version 2.0)",
        ),
        (sns(), "a Records event from aws:sns"),
        (scheduled(), "an EventBridge event of another detail-type"),
    ] {
        assert_wrong_event(&api.invoke(event).await, expected, got);
    }
    let outcome = api.invoke(sample("sqs-payout.json")).await;
    assert!(
        outcome.response().get("batchItemFailures").is_some(),
        "a partial batch response: {outcome:?}"
    );
    assert!(process.is_running(), "reward-payout died");
}

#[tokio::test]
async fn sweeper_refuses_anything_but_its_schedule() {
    let stack = Stack::new().await;
    let api = RuntimeApi::start().await;
    let mut process = stack.spawn("reward-sweeper", &api);
    let expected = "a scheduled event (detail-type \"Scheduled Event\")";
    for (event, got) in [
        (sample("sqs-payout.json"), "a Records event from aws:sqs"),
        (
            sample("msk-member-info.json"),
            "an event with eventSource aws:kafka",
        ),
        (json!({}), "a JSON object without a recognised event marker"),
    ] {
        assert_wrong_event(&api.invoke(event).await, expected, got);
    }
    // What an EventBridge rule sends, and what the template's schedule is given as input.
    assert_eq!(
        api.invoke(scheduled()).await,
        Outcome::Response(Value::Null)
    );
    let input = schedule_input_from_template();
    assert_eq!(api.invoke(input).await, Outcome::Response(Value::Null));
    assert!(process.is_running(), "reward-sweeper died");
}

/// The `Input` of the sweeper's ScheduleV2 event in infra/template.yaml.
fn schedule_input_from_template() -> Value {
    let path = format!("{}/../infra/template.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .skip_while(|l| !l.contains("Type: ScheduleV2"))
        .find(|l| l.trim_start().starts_with("Input:"))
        .expect("the sweeper's schedule has an Input");
    let raw = line.trim_start().trim_start_matches("Input:").trim();
    let json: String = serde_norway::from_str(raw).expect("a YAML string");
    serde_json::from_str(&json).expect("the schedule's Input is JSON")
}

#[tokio::test]
async fn a_panic_fails_only_its_own_invocation_and_never_logs_its_formatted_message() {
    let api = RuntimeApi::start().await;
    let mut process =
        FunctionProcess::spawn(env!("CARGO_BIN_EXE_panicking-function").as_ref(), &api, &[]);
    let phone = "0987650777";

    let outcome = api.invoke(json!({"panic": "literal"})).await;
    let (error_type, message) = outcome.error();
    assert_eq!(error_type, "Panic");
    assert!(message.contains("panicking_function.rs"), "{message}");
    assert!(process.is_running(), "a panic killed the process");

    let outcome = api
        .invoke(json!({"panic": "formatted", "value": phone}))
        .await;
    let (error_type, message) = outcome.error();
    assert_eq!(error_type, "Panic");
    assert!(!message.contains(phone), "{message}");

    assert_eq!(
        api.invoke(json!({"hello": 1})).await,
        Outcome::Response(json!({"ok": true}))
    );
    assert!(process.is_running(), "a panic killed the process");
    assert!(process.wait_for_output("\"HandlerPanics\":1").await);
    let output = process.output();
    assert!(
        output.iter().any(|l| l.contains("a literal panic message")),
        "a literal panic message is logged: {output:?}"
    );
    assert!(
        !output.iter().any(|l| l.contains(phone)),
        "a formatted panic message can hold input values and is withheld: {output:?}"
    );
}

/// Catching a panic needs unwinding: with `panic = "abort"` the release binary dies on the
/// first panic (no `/error`, the instance is gone). ADR 0003 records the cost.
#[test]
fn the_release_profile_unwinds_panics() {
    let path = format!("{}/../Cargo.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let release = text
        .split("[profile.release]")
        .nth(1)
        .expect("a release profile");
    let release = release.split("\n[").next().unwrap_or_default();
    assert!(
        release
            .lines()
            .any(|l| l.replace(' ', "") == "panic=\"unwind\""),
        "the release profile must set panic = \"unwind\" explicitly (cargo-lambda applies \
         abort when the profile leaves it unset):\n{release}"
    );
}
