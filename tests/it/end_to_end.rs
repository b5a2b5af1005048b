//! From Kafka to money: registration records through the registration consumer, the payout
//! queue on moto, the payout function (driven like Lambda's SQS trigger) and the finance and
//! msg-hub stand-ins, all on DynamoDB Local. Then the whole batch is redelivered, as MSK does
//! after a failed invocation: nothing is paid or said twice.

use referral_devkit::msk;
use referral_shared::contracts::kafka::TOPIC_REGISTRATION;
use referral_shared::events_cache::ConfigCache;
use referral_shared::ingest::{Consumer, ConsumerSettings};
use referral_shared::queue::SqsPayoutQueue;
use referral_shared::store::prelude::*;
use referral_shared::*;
use referral_tests::fixtures::code_record;
use referral_tests::ingest_support::{reg_records, registration};
use referral_tests::payout_support::{Bench, PHONE_MASKED};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn a_qualifying_referee_pays_both_sides_once_and_tells_both() {
    let bench = Bench::new().await;
    bench
        .store()
        .create_code(&code_record("SHARE888", "personal", "jk-ref"))
        .await
        .unwrap();
    let consumer = Consumer::new(
        Arc::new(bench.store().clone()),
        Arc::new(SqsPayoutQueue::new(bench.sqs.clone(), &bench.queue_url)),
        ConfigCache::new(Duration::from_secs(60)),
        ConsumerSettings::new(TOPIC_REGISTRATION, EventId::parse("personal").unwrap()),
    );
    let now = chrono::Utc::now();
    let records = reg_records(
        0,
        &[
            registration(
                "REFERRAL_CODE_USED",
                "e2e-1",
                Some("SHARE888"),
                now - chrono::Duration::minutes(10),
            ),
            registration(
                "KYC_PASSED",
                "e2e-1",
                None,
                now - chrono::Duration::minutes(5),
            ),
            registration(
                "DEVICE_BOUND",
                "e2e-1",
                None,
                now - chrono::Duration::minutes(1),
            ),
        ],
    );
    let report = consumer.handle(&msk::event(&records)).await.unwrap();
    assert_eq!(
        (
            report.qualified,
            report.rewards_created,
            report.rewards_queued
        ),
        (1, 2, 2)
    );
    bench.run_until_empty(1, Duration::from_secs(30)).await;

    let referee = AccountId::parse("e2e-1").unwrap();
    let referrer_reward = bench.reward(&RewardId::new(&referee, Side::Referrer)).await;
    let referee_reward = bench.reward(&RewardId::new(&referee, Side::Referee)).await;
    for r in [&referrer_reward, &referee_reward] {
        assert_eq!(r.status, RewardStatus::Success, "{r:?}");
        assert_eq!(
            r.notification.as_ref().unwrap().status,
            NotificationStatus::Sent
        );
    }
    let mut paid: Vec<(String, String, String)> = bench
        .partners
        .stand_in
        .payments()
        .into_iter()
        .map(|p| {
            (
                p.body["member_jkos_id"].as_str().unwrap().to_owned(),
                p.body["reward_type"].as_str().unwrap().to_owned(),
                p.body["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    paid.sort();
    assert_eq!(
        paid,
        vec![
            ("jk-e2e-1".into(), "COUPON".into(), "100.00".into()),
            ("jk-ref".into(), "COIN".into(), "50.00".into()),
        ]
    );
    let messages = bench.partners.stand_in.messages();
    assert_eq!(messages.len(), 6);
    assert!(messages.iter().any(|m| m.body["member_jkos_id"] == "jk-ref"
        && m.body["content"] == format!("50 COIN for {PHONE_MASKED}")));
    assert!(
        !serde_json::to_string(&messages)
            .unwrap()
            .contains("0912345678")
    );

    // MSK redelivers the whole batch: the consumer reads the granted rewards back, finds them
    // paid and sends nothing again (ADR 0004). No message, no finance call, no notification.
    let finance_calls = bench.partners.stand_in.finance_calls().len();
    let again = consumer.handle(&msk::event(&records)).await.unwrap();
    assert_eq!(
        (again.qualified, again.rewards_created, again.rewards_queued),
        (0, 0, 0)
    );
    bench.run_until_empty(1, Duration::from_secs(30)).await;
    assert_eq!(bench.partners.stand_in.finance_calls().len(), finance_calls);
    assert_eq!(bench.partners.stand_in.messages().len(), 6);
    assert_eq!(bench.partners.stand_in.payments().len(), 2);
}

/// The lifecycle's "FAIL is final until an admin retries it" (docs/reward-lifecycle.md), seen
/// from outside: finance refuses one side for good; then the registration records arrive
/// again (the consumer re-sends the ids), leftover copies of the message arrive, and the
/// sweeper runs. None of it calls finance, touches the attempts or replaces the decisive
/// reason. Only the admin retry pays it, once.
#[tokio::test]
async fn a_fail_reward_stays_fail_through_resends_and_sweeps_until_an_admin_retries_it() {
    let bench = Bench::new().await;
    bench
        .store()
        .create_code(&code_record("FRZN2345", "personal", "jk-frozen-ref"))
        .await
        .unwrap();
    let queue = Arc::new(SqsPayoutQueue::new(bench.sqs.clone(), &bench.queue_url));
    let consumer = Consumer::new(
        Arc::new(bench.store().clone()),
        queue.clone(),
        ConfigCache::new(Duration::from_secs(60)),
        ConsumerSettings::new(TOPIC_REGISTRATION, EventId::parse("personal").unwrap()),
    );
    let referee = AccountId::parse("e2e-frozen").unwrap();
    let refused = RewardId::new(&referee, Side::Referrer);
    bench
        .partners
        .stand_in
        .set_finance(referral_partners::Knobs {
            reject_keys: vec![refused.to_string()],
            ..Default::default()
        });
    let now = chrono::Utc::now();
    let records = reg_records(
        0,
        &[
            registration(
                "REFERRAL_CODE_USED",
                "e2e-frozen",
                Some("FRZN2345"),
                now - chrono::Duration::minutes(10),
            ),
            registration(
                "KYC_PASSED",
                "e2e-frozen",
                None,
                now - chrono::Duration::minutes(5),
            ),
            registration(
                "DEVICE_BOUND",
                "e2e-frozen",
                None,
                now - chrono::Duration::minutes(1),
            ),
        ],
    );
    consumer.handle(&msk::event(&records)).await.unwrap();
    bench.run_until_empty(1, Duration::from_secs(30)).await;
    let failed = bench.reward(&refused).await;
    assert_eq!(failed.status, RewardStatus::Fail);
    let reason = failed.last_error.clone().unwrap();
    assert!(
        reason.contains("422") && reason.contains("ACCOUNT_FROZEN"),
        "{reason}"
    );
    let finance_calls = bench.partners.stand_in.finance_calls().len();

    // Finance is now failing everything: if anything reached it, the reason would be noise.
    bench
        .partners
        .stand_in
        .set_finance(referral_partners::Knobs {
            error_rate: 1.0,
            ..Default::default()
        });
    // A duplicate record: the consumer finds both rewards known to payout (one paid, one FAIL)
    // and re-sends neither (ADR 0004); the copies below reach the payout anyway.
    let again = consumer.handle(&msk::event(&records[1..2])).await.unwrap();
    assert_eq!((again.rewards_queued, again.rewards_resent), (0, 0));
    // Leftover copies of the message, and a sweep long after (it looks at PENDING only).
    bench
        .enqueue_ids(&[refused.clone(), refused.clone(), refused.clone()])
        .await;
    let swept = referral_shared::sweeper::sweep(
        bench.store(),
        queue.as_ref(),
        now + chrono::Duration::hours(2),
        chrono::Duration::minutes(15),
        1_000,
    )
    .await
    .unwrap();
    assert_eq!(swept.queued, 0, "the sweeper never re-queues a FAIL reward");
    bench.run_until_empty(1, Duration::from_secs(30)).await;
    assert_eq!(
        bench.partners.stand_in.finance_calls().len(),
        finance_calls,
        "no finance call for a FAIL reward"
    );
    let still = bench.reward(&refused).await;
    assert_eq!(still.status, RewardStatus::Fail);
    assert_eq!(still.attempts, failed.attempts, "attempts untouched");
    assert_eq!(
        still.last_error.as_deref(),
        Some(reason.as_str()),
        "decisive reason kept"
    );
    assert_eq!(
        bench.depth(&bench.dlq_url).await,
        0,
        "nothing for a person in the DLQ"
    );

    // The admin retry (what POST /admin/v1/rewards/{id}/retry does) is what pays it.
    bench
        .partners
        .stand_in
        .set_finance(referral_partners::Knobs::default());
    bench
        .store()
        .reopen_failed_reward(&refused, chrono::Utc::now())
        .await
        .unwrap();
    bench.enqueue_ids(std::slice::from_ref(&refused)).await;
    bench.run_until_empty(1, Duration::from_secs(30)).await;
    let paid = bench.reward(&refused).await;
    assert_eq!(paid.status, RewardStatus::Success);
    let payments: Vec<_> = bench
        .partners
        .stand_in
        .payments()
        .into_iter()
        .filter(|p| p.idempotency_key == refused.as_str())
        .collect();
    assert_eq!(payments.len(), 1);
}
