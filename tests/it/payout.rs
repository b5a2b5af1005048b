//! The payout function against DynamoDB Local, moto's SQS (queue + DLQ with a redrive policy)
//! and the finance / msg-hub stand-ins over real HTTP. The queue is driven the way Lambda's
//! SQS event source mapping drives it (`referral_devkit::esm`).

use referral_partners::Knobs;
use referral_shared::payout::{MessageOutcome, PayoutSettings};
use referral_shared::store::{PageRequest, StoreError, prelude::*};
use referral_shared::*;
use referral_tests::payout_support::*;
use serde_json::{Value, json};
use std::time::Duration;

fn finance_outcomes(bench: &Bench, key: &str) -> Vec<String> {
    bench
        .partners
        .stand_in
        .finance_calls()
        .into_iter()
        .filter(|c| c.key.as_deref() == Some(key))
        .map(|c| c.outcome)
        .collect()
}

#[tokio::test]
async fn pays_once_records_success_and_notifies_with_the_active_template() {
    let bench = Bench::new().await;
    let rewards = bench.rewards(2).await;
    let referrer = &rewards[0];
    bench.enqueue(&rewards[..1]).await;

    let (stats, trips) = bench.table.round_trips.during(bench.poll_once()).await;
    let stats = stats.expect("one batch");
    assert_eq!((stats.received, stats.deleted, stats.kept), (1, 1, 0));
    // GetItem + conditional UpdateItem (SUCCESS) + the notification outcome, and the first
    // read of the event configuration (cached afterwards).
    assert_eq!(trips, 4, "round trips of the first payout");

    let paid = bench.reward(&referrer.reward_id).await;
    assert_eq!(paid.status, RewardStatus::Success);
    assert_eq!(paid.attempts, 1);
    let payments = bench.partners.stand_in.payments();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].idempotency_key, referrer.reward_id.as_str());
    assert_eq!(
        paid.compensation_id.as_deref(),
        Some(payments[0].compensation_id.as_str())
    );
    assert!(paid.paid_at.is_some());
    assert_eq!(
        payments[0].body,
        json!({
            "member_jkos_id": "jk-referrer",
            "reward_type": "COIN",
            "amount": "50.00",
            "reference": format!("referral/personal/{}", referrer.reward_id),
        })
    );

    // Three channels, in order, rendered from the REFERRER template; phone masked only.
    let messages = bench.partners.stand_in.messages();
    let shown: Vec<(String, String, String)> = messages
        .iter()
        .map(|m| {
            (
                m.body["channel"].as_str().unwrap().to_owned(),
                m.body["title"].as_str().unwrap().to_owned(),
                m.body["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (
                "IN_APP".into(),
                "REFERRER reward".into(),
                format!("50 COIN for {PHONE_MASKED}")
            ),
            (
                "PUSH".into(),
                "REFERRER: 50 COIN".into(),
                format!("Friend {PHONE_MASKED} joined")
            ),
            (
                "BOX".into(),
                "REFERRER reward".into(),
                "Box: 50 COIN".into()
            ),
        ]
    );
    assert!(
        messages
            .iter()
            .all(|m| m.body["member_jkos_id"] == "jk-referrer")
    );
    assert!(!serde_json::to_string(&messages).unwrap().contains(PHONE));
    let outcome = paid.notification.expect("outcome recorded");
    assert_eq!(outcome.status, NotificationStatus::Sent);
    assert_eq!(outcome.calls, 3);
    assert_eq!(outcome.sent, Channel::ALL.to_vec());
    assert_eq!(outcome.window_id.unwrap().as_str(), "n-referrer");

    // The second payout reads the configuration from the cache: 3 round trips.
    bench.enqueue(&rewards[1..]).await;
    let (_, trips) = bench.table.round_trips.during(bench.poll_once()).await;
    assert_eq!(
        trips, 3,
        "round trips of a payout with the configuration cached"
    );
    let referee_messages = bench.partners.stand_in.messages();
    assert_eq!(referee_messages[3].body["title"], "REFEREE reward");
    assert_eq!(
        referee_messages[3].body["content"],
        format!("100 COUPON for {PHONE_MASKED}")
    );
    assert_eq!(bench.depth(&bench.queue_url).await, 0);
}

#[tokio::test]
async fn the_same_message_in_two_concurrent_invocations_pays_and_notifies_once() {
    let bench = Bench::new().await;
    let rewards = bench.rewards(1).await;
    let id = &rewards[0].reward_id;
    // Slow finance so both invocations are inside the call at the same time.
    bench.partners.stand_in.set_finance(Knobs {
        latency_ms: 200,
        ..Knobs::default()
    });
    bench.enqueue(&rewards).await;
    let event = bench.source.receive().await.unwrap().expect("the message");
    let second = Bench::engine(
        &bench.table,
        &bench.sqs,
        &bench.queue_url,
        &bench.dlq_url,
        &bench.partners,
        &bench.options,
    );
    let (a, b) = tokio::join!(bench.payout.handle(&event), second.handle(&event));

    let outcomes = [a.outcomes.clone(), b.outcomes.clone()];
    let paid: u32 = outcomes
        .iter()
        .map(|o| o.get(&MessageOutcome::Paid).copied().unwrap_or(0))
        .sum();
    let duplicate: u32 = outcomes
        .iter()
        .map(|o| o.get(&MessageOutcome::Duplicate).copied().unwrap_or(0))
        .sum();
    assert_eq!((paid, duplicate), (1, 1), "{outcomes:?}");
    assert!(a.response.batch_item_failures.is_empty());
    assert!(b.response.batch_item_failures.is_empty());
    let calls = finance_outcomes(&bench, id.as_str());
    assert_eq!(calls.len(), 2, "both invocations asked finance: {calls:?}");
    assert_eq!(bench.partners.stand_in.payments().len(), 1, "one payment");
    assert_eq!(
        bench.partners.stand_in.messages().len(),
        3,
        "one notification"
    );
    assert_eq!(bench.reward(id).await.status, RewardStatus::Success);
}

#[tokio::test]
async fn a_finance_refusal_marks_the_reward_fail_with_the_reason_and_lets_the_message_go() {
    let bench = Bench::new().await;
    let rewards = bench.rewards(2).await;
    let refused = &rewards[0].reward_id;
    bench.partners.stand_in.set_finance(Knobs {
        reject_keys: vec![refused.to_string()],
        ..Knobs::default()
    });
    bench.enqueue(&rewards).await;
    let stats = bench.poll_once().await.unwrap();
    assert_eq!((stats.received, stats.deleted), (2, 2));

    let failed = bench.reward(refused).await;
    assert_eq!(failed.status, RewardStatus::Fail);
    let reason = failed.last_error.unwrap();
    assert!(
        reason.contains("422") && reason.contains("ACCOUNT_FROZEN"),
        "{reason}"
    );
    assert_eq!(failed.attempts, 1);
    assert!(failed.notification.is_none());
    assert_eq!(finance_outcomes(&bench, refused.as_str()), vec!["rejected"]);
    // Visible to admins; the other reward of the batch was paid.
    let fail = bench
        .store()
        .rewards_by_status(RewardStatus::Fail, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(fail.items.len(), 1);
    assert_eq!(&fail.items[0].reward_id, refused);
    assert_eq!(
        bench.reward(&rewards[1].reward_id).await.status,
        RewardStatus::Success
    );
    assert_eq!(bench.depth(&bench.queue_url).await, 0);
    assert_eq!(bench.depth(&bench.dlq_url).await, 0);
}

#[tokio::test]
async fn exhausted_retries_end_fail_with_the_last_error_and_nothing_in_the_dlq() {
    let bench = Bench::with(Options {
        max_receives: 3,
        ..Options::default()
    })
    .await;
    let rewards = bench.rewards(1).await;
    let id = &rewards[0].reward_id;
    bench.partners.stand_in.set_finance(Knobs {
        error_rate: 1.0,
        ..Knobs::default()
    });
    bench.enqueue(&rewards).await;
    bench.run_until_empty(1, Duration::from_secs(30)).await;

    let failed = bench.reward(id).await;
    assert_eq!(failed.status, RewardStatus::Fail, "{failed:?}");
    assert_eq!(failed.attempts, 3);
    let reason = failed.last_error.clone().unwrap();
    assert!(
        reason.starts_with("gave up after 3 attempts") && reason.contains("500"),
        "{reason}"
    );
    assert_eq!(finance_outcomes(&bench, id.as_str()).len(), 3);
    assert_eq!(bench.partners.stand_in.payments().len(), 0);
    // The reward reached a recorded end: the message was let go, not dead-lettered, so the
    // DLQ alarm stays quiet and the FAIL alarm (RewardsFailed) is the one that says "act".
    assert_eq!(bench.depth(&bench.queue_url).await, 0);
    assert_eq!(bench.depth(&bench.dlq_url).await, 0);

    // Finance is back, and stray copies of the message arrive: FAIL is final until an admin
    // retries it. No call, no change.
    bench.partners.stand_in.set_finance(Knobs::default());
    bench.enqueue(&rewards).await;
    bench.enqueue(&rewards).await;
    let stats = bench.poll_once().await.unwrap();
    assert_eq!((stats.received, stats.deleted, stats.kept), (2, 2, 0));
    assert_eq!(
        finance_outcomes(&bench, id.as_str()).len(),
        3,
        "no finance call"
    );
    let still = bench.reward(id).await;
    assert_eq!(still.status, RewardStatus::Fail);
    assert_eq!(still.attempts, 3);
    assert_eq!(still.last_error.as_deref(), Some(reason.as_str()));

    // The admin retry reopens it; then one message pays it, once.
    bench
        .store()
        .reopen_failed_reward(id, chrono::Utc::now())
        .await
        .unwrap();
    bench.enqueue(&rewards).await;
    bench.run_until_empty(1, Duration::from_secs(30)).await;
    let paid = bench.reward(id).await;
    assert_eq!(paid.status, RewardStatus::Success);
    assert!(paid.last_error.is_none());
    assert_eq!(bench.partners.stand_in.payments().len(), 1);
    let calls_before = bench.partners.stand_in.finance_calls().len();
    let messages_before = bench.partners.stand_in.messages().len();

    // A copy of the message again: the reward is paid, nothing happens.
    bench.enqueue(&rewards).await;
    let stats = bench.poll_once().await.unwrap();
    assert_eq!(stats.deleted, 1);
    assert_eq!(
        bench.partners.stand_in.finance_calls().len(),
        calls_before,
        "no finance call"
    );
    assert_eq!(
        bench.partners.stand_in.messages().len(),
        messages_before,
        "no notification"
    );
    assert_eq!(bench.partners.stand_in.payments().len(), 1);
}

/// A FAIL reward's decisive reason survives a late retryable failure of a delivery that was
/// already in flight: the store refuses every status write the lifecycle does not allow.
#[tokio::test]
async fn a_fail_reward_refuses_late_attempts_and_a_second_fail() {
    let bench = Bench::new().await;
    let rewards = bench.rewards(1).await;
    let id = &rewards[0].reward_id;
    let store = bench.store();
    let at = chrono::Utc::now();
    // The late deliveries pass the reward as they read it, PENDING: the store reads it again.
    let read = &rewards[0];
    store
        .record_payout_failure(read, "finance 422 ACCOUNT_FROZEN", true, at)
        .await
        .unwrap();
    for terminal in [false, true] {
        let late = store
            .record_payout_failure(
                read,
                "gave up after 5 attempts; last error: 500",
                terminal,
                at,
            )
            .await;
        assert!(matches!(late, Err(StoreError::Conflict { .. })), "{late:?}");
    }
    let failed = bench.reward(id).await;
    assert_eq!(failed.attempts, 1);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("finance 422 ACCOUNT_FROZEN")
    );
    // Reopen only from FAIL; then a second reopen is a conflict.
    store.reopen_failed_reward(id, at).await.unwrap();
    assert!(matches!(
        store.reopen_failed_reward(id, at).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(bench.reward(id).await.status, RewardStatus::Pending);
}

#[tokio::test]
async fn msg_hub_failing_twice_costs_exactly_two_calls_and_the_payment_stands() {
    let bench = Bench::new().await;
    let rewards = bench.rewards(1).await;
    let id = &rewards[0].reward_id;
    bench.partners.stand_in.set_msghub(Knobs {
        fail_next: 2,
        ..Knobs::default()
    });
    bench.enqueue(&rewards).await;
    let stats = bench.poll_once().await.unwrap();
    assert_eq!(
        stats.deleted, 1,
        "a notification failure does not retry the payment"
    );

    let messages = bench.partners.stand_in.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages.iter().all(|m| m.outcome == "injected_500"));
    assert!(messages.iter().all(|m| m.body["channel"] == "IN_APP"));
    let reward = bench.reward(id).await;
    assert_eq!(reward.status, RewardStatus::Success);
    let outcome = reward.notification.expect("outcome recorded");
    assert_eq!(outcome.status, NotificationStatus::Failed);
    assert_eq!(outcome.calls, 2);
    assert!(outcome.sent.is_empty());
    assert_eq!(outcome.not_sent, Channel::ALL.to_vec());
    assert!(outcome.error.unwrap().contains("500"));
    assert_eq!(bench.partners.stand_in.payments().len(), 1);
    assert_eq!(bench.partners.stand_in.finance_calls().len(), 1);
}

#[tokio::test]
async fn msg_hub_failing_once_is_retried_without_sending_a_channel_twice() {
    let bench = Bench::new().await;
    let rewards = bench.rewards(1).await;
    bench.partners.stand_in.set_msghub(Knobs {
        fail_next: 1,
        ..Knobs::default()
    });
    bench.enqueue(&rewards).await;
    bench.poll_once().await.unwrap();
    let channels: Vec<(String, String)> = bench
        .partners
        .stand_in
        .messages()
        .into_iter()
        .map(|m| (m.body["channel"].as_str().unwrap().to_owned(), m.outcome))
        .collect();
    assert_eq!(
        channels,
        vec![
            ("IN_APP".into(), "injected_500".into()),
            ("IN_APP".into(), "accepted".into()),
            ("PUSH".into(), "accepted".into()),
            ("BOX".into(), "accepted".into()),
        ]
    );
    let outcome = bench
        .reward(&rewards[0].reward_id)
        .await
        .notification
        .unwrap();
    assert_eq!(
        (outcome.status, outcome.calls),
        (NotificationStatus::Sent, 4)
    );
}

#[tokio::test]
async fn malformed_and_unknown_messages_go_to_the_dlq_without_failing_the_batch() {
    let bench = Bench::new().await;
    let rewards = bench.rewards(1).await;
    bench.enqueue(&rewards).await;
    bench
        .send_raw(
            &bench.queue_url,
            &[
                "not json",
                r#"{"reward_id":"nope"}"#,
                r#"{"reward_id":"acc-404-referee"}"#,
            ],
        )
        .await;
    let event = bench.source.receive().await.unwrap().unwrap();
    assert_eq!(event.records.len(), 4);
    let report = bench.payout.handle(&event).await;
    assert!(report.response.batch_item_failures.is_empty());
    assert_eq!(report.count(MessageOutcome::Paid), 1);
    assert_eq!(report.count(MessageOutcome::DeadLettered), 3);
    bench
        .source
        .complete(&event, &report.response)
        .await
        .unwrap();

    assert_eq!(
        bench.reward(&rewards[0].reward_id).await.status,
        RewardStatus::Success
    );
    let mut dead = bench.drain_dlq().await;
    dead.sort();
    let reasons: Vec<(String, String)> = dead
        .into_iter()
        .map(|(body, reason)| {
            let reason = reason.expect("a reason attribute");
            (body, reason.split(':').next().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("not json".into(), "malformed_body".into()),
            (
                r#"{"reward_id":"acc-404-referee"}"#.into(),
                "unknown_reward".into()
            ),
            (r#"{"reward_id":"nope"}"#.into(), "malformed_body".into()),
        ]
    );
    assert_eq!(bench.depth(&bench.queue_url).await, 0);
}

#[tokio::test]
async fn a_retry_is_postponed_by_stretching_the_message_visibility() {
    // The queue's own visibility is 1 s; the function postpones a failed message by ≥ 30 s.
    let bench = Bench::with(Options {
        visibility_seconds: 1,
        settings: PayoutSettings {
            retry_base: Duration::from_secs(60),
            retry_max: Duration::from_secs(600),
            ..Options::default().settings
        },
        ..Options::default()
    })
    .await;
    let rewards = bench.rewards(1).await;
    bench.partners.stand_in.set_finance(Knobs {
        fail_next: 1,
        ..Knobs::default()
    });
    bench.enqueue(&rewards).await;
    let stats = bench.poll_once().await.unwrap();
    assert_eq!((stats.deleted, stats.kept), (0, 1));
    let reward = bench.reward(&rewards[0].reward_id).await;
    assert_eq!((reward.status, reward.attempts), (RewardStatus::Pending, 1));
    assert!(reward.last_error.unwrap().contains("500"));
    // Past the queue's visibility timeout the message would be back; postponed, it is not.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert!(bench.source.receive().await.unwrap().is_none());
    assert_eq!(
        bench.depth(&bench.queue_url).await,
        1,
        "still in the queue, invisible"
    );
}

#[tokio::test]
async fn a_reward_left_pending_by_a_crash_before_the_send_is_swept_and_paid() {
    let bench = Bench::new().await;
    // The consumer committed the rewards, then died before sending them to the queue.
    let rewards = bench.rewards(3).await;
    assert_eq!(bench.depth(&bench.queue_url).await, 0);
    let queue = referral_shared::queue::SqsPayoutQueue::new(bench.sqs.clone(), &bench.queue_url);
    let later = chrono::Utc::now() + chrono::Duration::minutes(20);
    let swept = referral_shared::sweeper::sweep(
        bench.store(),
        &queue,
        later,
        chrono::Duration::minutes(15),
        1000,
    )
    .await
    .unwrap();
    assert_eq!(swept.queued, 3);
    bench.run_until_empty(1, Duration::from_secs(30)).await;
    for r in &rewards {
        assert_eq!(
            bench.reward(&r.reward_id).await.status,
            RewardStatus::Success
        );
    }
    assert_eq!(bench.partners.stand_in.payments().len(), 3);
}

#[tokio::test]
async fn an_invocation_that_dies_after_finance_paid_is_repaired_by_the_redelivery() {
    let bench = Bench::new().await;
    let rewards = bench.rewards(1).await;
    let id = &rewards[0].reward_id;
    // Finance pays and then hangs; the invocation is killed meanwhile (Lambda timeout): no
    // response, nothing deleted, nothing recorded.
    bench.partners.stand_in.set_finance(Knobs {
        commit_then_timeout_rate: 1.0,
        hang_ms: Some(5_000),
        ..Knobs::default()
    });
    bench.enqueue(&rewards).await;
    let event = bench.source.receive().await.unwrap().unwrap();
    let killed =
        tokio::time::timeout(Duration::from_millis(150), bench.payout.handle(&event)).await;
    assert!(killed.is_err(), "the invocation was cut off");
    assert_eq!(
        bench.partners.stand_in.payments().len(),
        1,
        "finance committed"
    );
    assert_eq!(bench.reward(id).await.status, RewardStatus::Pending);

    // The message comes back after the queue's visibility timeout (2 s) and is paid once.
    bench.partners.stand_in.set_finance(Knobs::default());
    bench.run_until_empty(1, Duration::from_secs(30)).await;
    let paid = bench.reward(id).await;
    assert_eq!(paid.status, RewardStatus::Success);
    assert_eq!(
        finance_outcomes(&bench, id.as_str()),
        vec!["commit_then_timeout", "replayed"]
    );
    let payments = bench.partners.stand_in.payments();
    assert_eq!(payments.len(), 1);
    assert_eq!(
        paid.compensation_id.as_deref(),
        Some(payments[0].compensation_id.as_str())
    );
}

#[tokio::test]
async fn a_paid_reward_whose_notifier_died_is_notified_by_a_later_duplicate() {
    let bench = Bench::new().await;
    let rewards = bench.rewards(1).await;
    let id = &rewards[0].reward_id;
    // Paid 10 minutes ago; the invocation died before notifying (no outcome recorded).
    bench
        .store()
        .mark_reward_paid(
            &rewards[0],
            "cmp-earlier",
            chrono::Utc::now() - chrono::Duration::minutes(10),
        )
        .await
        .unwrap();
    bench.enqueue(&rewards).await;
    bench.poll_once().await.unwrap();
    assert!(
        bench.partners.stand_in.finance_calls().is_empty(),
        "not paid again"
    );
    assert_eq!(bench.partners.stand_in.messages().len(), 3);
    let outcome = bench.reward(id).await.notification.unwrap();
    assert_eq!(outcome.status, NotificationStatus::Sent);

    // Once the outcome is recorded, another duplicate does nothing at all.
    bench.enqueue(&rewards).await;
    bench.poll_once().await.unwrap();
    assert_eq!(bench.partners.stand_in.messages().len(), 3);
}

#[tokio::test]
async fn the_finance_stand_in_honours_its_contract_over_http() {
    let bench = Bench::new().await;
    let base = &bench.partners.base_url;
    let http = reqwest::Client::new();
    let body =
        json!({"member_jkos_id": "jk-1", "reward_type": "COIN", "amount": "50", "reference": "r"});
    let pay = |key: Option<&str>, body: &Value| {
        let mut req = http.post(format!("{base}/v1/compensations")).json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        req.send()
    };
    let first = pay(Some("k1"), &body).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = pay(Some("k1"), &body).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        first,
        "same key, same answer"
    );
    let mut other = body.clone();
    other["amount"] = json!("51");
    let conflict = pay(Some("k1"), &other).await.unwrap();
    assert_eq!(conflict.status(), 409);
    assert_eq!(
        conflict.json::<Value>().await.unwrap()["code"],
        "IDEMPOTENCY_KEY_REUSED"
    );
    assert_eq!(pay(None, &body).await.unwrap().status(), 400);
    let mut bad = body.clone();
    bad["amount"] = json!("-1");
    assert_eq!(pay(Some("k2"), &bad).await.unwrap().status(), 422);
    assert_eq!(bench.partners.stand_in.payments().len(), 1, "one payment");

    // Knobs over HTTP (what the dev stack and demos use).
    let put = http
        .put(format!("{base}/_stand-in/knobs"))
        .body(r#"{"finance":{"fail_next":1}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(pay(Some("k3"), &body).await.unwrap().status(), 500);
    assert_eq!(pay(Some("k3"), &body).await.unwrap().status(), 201);
    let bad_knobs = http
        .put(format!("{base}/_stand-in/knobs"))
        .body(r#"{"finance":{"eror_rate":1}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_knobs.status(), 400);
    let calls: Value = http
        .get(format!("{base}/_stand-in/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcomes: Vec<&str> = calls["finance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        vec![
            "paid",
            "replayed",
            "conflict",
            "invalid",
            "invalid",
            "injected_500",
            "paid"
        ]
    );
}

#[tokio::test]
async fn the_sample_sqs_event_is_handled_with_a_partial_batch_response() {
    let bench = Bench::new().await;
    let reward = reward("new-1", Side::Referrer);
    bench.store().create_reward(&reward).await.unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/sqs-payout.json"
    ))
    .unwrap();
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&text).unwrap();
    let report = bench.payout.handle(&event).await;
    assert_eq!(report.count(MessageOutcome::Paid), 1);
    assert_eq!(report.count(MessageOutcome::DeadLettered), 1);
    // What Lambda receives back: no failures, so both messages are deleted.
    assert_eq!(
        serde_json::to_value(&report.response).unwrap(),
        json!({"batchItemFailures": []})
    );
    assert_eq!(
        bench.reward(&reward.reward_id).await.status,
        RewardStatus::Success
    );
    let dead = bench.drain_dlq().await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].1.as_deref().unwrap().starts_with("malformed_body"));
}

#[tokio::test]
async fn dynamodb_failing_before_or_after_the_payment_hands_the_message_back_and_pays_once() {
    let bench = Bench::new().await;
    let rewards = bench.rewards(1).await;
    let id = &rewards[0].reward_id;
    bench.enqueue(&rewards).await;

    // The reward cannot be read: nothing is paid, the message comes back.
    bench.table.round_trips.fail_after(0);
    let stats = bench.poll_once().await.unwrap();
    assert_eq!((stats.deleted, stats.kept), (0, 1));
    assert!(bench.partners.stand_in.finance_calls().is_empty());

    // Read, paid by finance, but SUCCESS cannot be written: the message comes back too.
    bench.table.round_trips.fail_after(1);
    let stats = bench.poll_once().await.unwrap();
    assert_eq!((stats.deleted, stats.kept), (0, 1));
    bench.table.round_trips.heal();
    assert_eq!(bench.reward(id).await.status, RewardStatus::Pending);
    assert_eq!(bench.partners.stand_in.payments().len(), 1);

    // The redelivery gets finance's same answer and records it: paid once.
    bench.run_until_empty(1, Duration::from_secs(30)).await;
    let paid = bench.reward(id).await;
    assert_eq!(paid.status, RewardStatus::Success);
    assert_eq!(
        finance_outcomes(&bench, id.as_str()),
        vec!["paid", "replayed"]
    );
    assert_eq!(
        paid.compensation_id.as_deref(),
        Some(
            bench.partners.stand_in.payments()[0]
                .compensation_id
                .as_str()
        )
    );
}

/// The referee's member info can arrive after the payment: `{referee_phone}` is rendered from
/// the profile at send time when it is there, and as a neutral phrase when it is not — never
/// as a row of asterisks ("inviting ****").
#[tokio::test]
async fn an_unknown_referee_phone_renders_as_a_neutral_phrase_or_from_the_profile_at_send_time() {
    let bench = Bench::new().await;
    let mut unknown = reward("late-info-1", Side::Referrer);
    unknown.referee_phone_masked = None;
    bench.store().create_reward(&unknown).await.unwrap();
    let mut arrived = reward("late-info-2", Side::Referrer);
    arrived.referee_phone_masked = None;
    bench.store().create_reward(&arrived).await.unwrap();
    // The second referee's member info arrived after the reward was created.
    let mut profile = MemberProfile::new(
        arrived.referee_account_id.clone(),
        arrived.referee_jkos_id.clone(),
        chrono::Utc::now(),
    );
    profile.phone_number = Some(PhoneNumber::parse(PHONE).unwrap());
    bench.store().put_member(&profile).await.unwrap();

    bench.enqueue(std::slice::from_ref(&unknown)).await;
    bench.run_until_empty(1, Duration::from_secs(30)).await;
    bench.enqueue(std::slice::from_ref(&arrived)).await;
    bench.run_until_empty(1, Duration::from_secs(30)).await;
    let in_app: Vec<String> = bench
        .partners
        .stand_in
        .messages()
        .iter()
        .filter(|m| m.body["channel"] == "IN_APP")
        .map(|m| m.body["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        in_app,
        vec![
            "50 COIN for a friend".to_owned(),
            format!("50 COIN for {PHONE_MASKED}"),
        ]
    );
}

/// The lines the payout logs for a message carry that message's span (message id, receive
/// count, reward id): the effects do not repeat those fields by hand.
#[tokio::test]
async fn a_payout_log_line_carries_its_message_span() {
    referral_tests::capture::install();
    let bench = Bench::new().await;
    let rewards = bench.rewards(1).await;
    bench.enqueue(&rewards[..1]).await;
    bench.poll_once().await.expect("one batch");
    assert_eq!(
        bench.reward(&rewards[0].reward_id).await.status,
        RewardStatus::Success
    );

    let reward = rewards[0].reward_id.as_str();
    let paid: Vec<Value> = referral_tests::capture::log_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "reward paid")
        .filter(|l| {
            l["spans"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["reward"] == reward))
        })
        .collect();
    assert_eq!(paid.len(), 1, "one 'reward paid' line for {reward}");
    let spans = paid[0]["spans"].as_array().unwrap();
    let message = spans.iter().find(|s| s["name"] == "message").unwrap();
    assert!(
        message["message_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{message}"
    );
    assert_eq!(message["receive_count"], 1);
    assert!(
        paid[0]["fields"]["message_id"].is_null(),
        "not repeated by hand"
    );
}
