//! The MSK consumers against DynamoDB Local and moto's SQS: qualification exactly once,
//! rejections recorded, malformed records parked, transient faults retried without doubling,
//! the crash between the DynamoDB write and the SQS send, bounded concurrency.

use referral_devkit::msk::{self, Outgoing};
use referral_shared::contracts::kafka::{TOPIC_MEMBER_INFO, TOPIC_REGISTRATION};
use referral_shared::events_cache::ConfigCache;
use referral_shared::ingest::{Consumer, ConsumerSettings};
use referral_shared::queue::SqsPayoutQueue;
use referral_shared::store::{PageRequest, prelude::*};
use referral_shared::*;
use referral_tests::fixtures::at;
use referral_tests::ingest_support::*;
use std::sync::Arc;

fn amount(s: &str) -> RewardAmount {
    RewardAmount::parse(s).unwrap()
}

#[tokio::test]
async fn qualifying_creates_one_code_and_both_rewards_with_the_terms_of_that_moment() {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.consumer(TOPIC_REGISTRATION);

    // Code used on day 5 (window w1), KYC day 8; nothing is due yet.
    let first = msk::event(&reg_records(
        0,
        &[
            registration("REFERRAL_CODE_USED", "acc-1", Some("share-888"), at(5, 0)),
            registration("KYC_PASSED", "acc-1", None, at(8, 0)),
        ],
    ));
    let report = consumer.handle(&first).await.unwrap();
    assert_eq!((report.records, report.qualified), (2, 0));
    let member = h.member("acc-1").await.unwrap();
    assert_eq!(member.kyc_pass_time, Some(at(8, 0)));
    assert!(matches!(
        member.referral.as_ref().unwrap().outcome,
        ReferralOutcome::Accepted { .. }
    ));
    assert_eq!(member.qualified_at, None);
    assert!(h.queue.drain().await.is_empty());

    // Device bound on day 11: the member qualifies at day 11, inside window w2.
    let second = msk::event(&reg_records(
        2,
        &[registration(
            "DEVICE_BOUND",
            "acc-1",
            Some("SHARE888"),
            at(11, 0),
        )],
    ));
    let (report, round_trips) = h.table.round_trips.during(consumer.handle(&second)).await;
    let report = report.unwrap();
    // DESIGN budget: a registration event costs at most 2 round trips and the success step is
    // one TransactWriteItems (BatchGetItem of the profile + the transaction; config cached).
    // The first grant under a window in this process also marks the window in use first
    // (one PutItem, ADR 0006); later grants under it do not (asserted below).
    assert_eq!(round_trips, 3);
    assert_eq!((report.qualified, report.rewards_created), (1, 2));
    let markers: Vec<_> = h
        .scan()
        .await
        .into_iter()
        .filter(|i| i["entity"].as_s().unwrap() == "WindowUse")
        .map(|i| i["PK"].as_s().unwrap().clone())
        .collect();
    assert_eq!(
        markers,
        ["WINDOWUSE#personal#w2"],
        "only the window granted under"
    );

    let member = h.member("acc-1").await.unwrap();
    assert_eq!(member.qualified_at, Some(at(11, 0)));
    let own = member
        .own_code
        .clone()
        .expect("the member became a referrer");
    let code = h.table.store.get_code(&own).await.unwrap().unwrap();
    assert_eq!(code.source.to_string(), "member:jk-acc-1");
    assert_eq!(code.event_type, EventType::Personal);

    let referrer = h.reward("acc-1", Side::Referrer).await.unwrap();
    assert_eq!(referrer.member_jkos_id.as_str(), "jk-referrer");
    assert_eq!(referrer.terms.reward_type, RewardType::Coin);
    assert_eq!(referrer.terms.amount, amount("80"));
    assert_eq!(referrer.status, RewardStatus::Pending);
    assert_eq!(referrer.qualified_at, at(11, 0));
    let referee = h.reward("acc-1", Side::Referee).await.unwrap();
    assert_eq!(referee.member_jkos_id.as_str(), "jk-acc-1");
    assert_eq!(referee.terms.reward_type, RewardType::Coupon);
    assert_eq!(referee.terms.amount, amount("100"));

    let mut queued = h.queue.drain().await;
    queued.sort();
    assert_eq!(queued, ["acc-1-referee", "acc-1-referrer"]);

    // A duplicate of the qualifying record changes nothing (and re-sends the payout request,
    // which payout treats as a duplicate).
    let report = consumer.handle(&second).await.unwrap();
    assert_eq!(
        (
            report.members_written,
            report.qualified,
            report.rewards_created
        ),
        (0, 0, 0)
    );
    assert_eq!(h.member("acc-1").await.unwrap(), member);
    assert_eq!(h.queue.drain().await.len(), 2);

    // A code-used record costs 2 round trips too: profile and code come in one BatchGetItem.
    let code_used = msk::event(&reg_records(
        3,
        &[registration(
            "REFERRAL_CODE_USED",
            "acc-2",
            Some("SHARE888"),
            at(6, 0),
        )],
    ));
    let (report, round_trips) = h
        .table
        .round_trips
        .during(consumer.handle(&code_used))
        .await;
    assert_eq!(report.unwrap().members_written, 1);
    assert_eq!(round_trips, 2);

    // Another qualification under w2: the window is marked already, so the DESIGN budget holds.
    let (report, round_trips) = h
        .table
        .round_trips
        .during(consumer.handle(&msk::event(&reg_records(
            4,
            &[
                registration("KYC_PASSED", "acc-2", None, at(12, 0)),
                registration("DEVICE_BOUND", "acc-2", None, at(12, 1)),
            ],
        ))))
        .await;
    assert_eq!(report.unwrap().rewards_created, 2);
    assert_eq!(round_trips, 2);
}

#[tokio::test]
async fn a_code_that_does_not_count_is_recorded_with_its_reason() {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    h.referrer_code("SEEF2345", "jk-self").await;
    let consumer = h.consumer(TOPIC_REGISTRATION);
    let batch = msk::event(&reg_records(
        0,
        &[
            registration("REFERRAL_CODE_USED", "unknown", Some("NQPE2345"), at(5, 0)),
            registration("REFERRAL_CODE_USED", "self", Some("SEEF2345"), at(5, 0)),
            // After every reward window has ended (w2 ends on day 25).
            registration("REFERRAL_CODE_USED", "late", Some("SHARE888"), at(26, 0)),
        ],
    ));
    consumer.handle(&batch).await.unwrap();
    for (account, reason) in [
        ("unknown", RejectionReason::UnknownCode),
        ("self", RejectionReason::OwnCode),
        ("late", RejectionReason::NoActiveWindow),
    ] {
        let member = h.member(account).await.unwrap();
        assert_eq!(
            member.referral.unwrap().outcome,
            ReferralOutcome::Rejected { reason },
            "{account}"
        );
    }

    // A valid code later replaces a rejected one; after that the first valid code wins, in
    // partition order even within one batch.
    h.referrer_code("THER2345", "jk-other").await;
    let batch = msk::event(&reg_records(
        3,
        &[
            registration("REFERRAL_CODE_USED", "unknown", Some("SHARE888"), at(6, 0)),
            registration("REFERRAL_CODE_USED", "unknown", Some("THER2345"), at(6, 1)),
        ],
    ));
    consumer.handle(&batch).await.unwrap();
    let member = h.member("unknown").await.unwrap();
    let referral = member.referral.unwrap();
    assert_eq!(referral.code.as_str(), "SHARE888");
    assert_eq!(referral.used_at, at(6, 0));

    // A rejected member who qualifies gets a code of their own but no rewards.
    let batch = msk::event(&reg_records(
        5,
        &[
            registration("KYC_PASSED", "late", None, at(26, 1)),
            registration("DEVICE_BOUND", "late", None, at(26, 2)),
        ],
    ));
    let report = consumer.handle(&batch).await.unwrap();
    assert_eq!((report.qualified, report.rewards_created), (1, 0));
    assert!(h.reward("late", Side::Referee).await.is_none());
    assert!(h.queue.drain().await.is_empty());
}

#[tokio::test]
async fn member_info_after_the_registration_events_completes_the_profile() {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let registration_consumer = h.consumer(TOPIC_REGISTRATION);
    let mut values = vec![
        registration("REFERRAL_CODE_USED", "acc-9", Some("SHARE888"), at(3, 0)),
        registration("KYC_PASSED", "acc-9", None, at(3, 1)),
        registration("DEVICE_BOUND", "acc-9", None, at(3, 2)),
    ];
    // The phone riding on registration events fills the profile until member info arrives.
    values[0]["phone_number"] = serde_json::json!("0911111111");
    registration_consumer
        .handle(&msk::event(&reg_records(0, &values)))
        .await
        .unwrap();
    let before = h.member("acc-9").await.unwrap();
    assert_eq!(before.jkos_account, None);
    assert_eq!(before.phone_number.as_ref().unwrap().expose(), "0911111111");

    let info_consumer = h.consumer(TOPIC_MEMBER_INFO);
    info_consumer
        .handle(&msk::event(&info_records(
            0,
            &[member_info("acc-9", at(2, 0))],
        )))
        .await
        .unwrap();
    let after = h.member("acc-9").await.unwrap();
    assert_eq!(after.jkos_account.as_ref().unwrap().as_str(), "A12345678");
    assert_eq!(after.phone_number.as_ref().unwrap().expose(), "0987654321");
    assert_eq!(after.registered_at, Some(at(2, 0)));
    // Progress untouched.
    assert_eq!(after.qualified_at, before.qualified_at);
    assert_eq!(after.own_code, before.own_code);
    assert_eq!(after.reward_grant, before.reward_grant);
    assert_eq!(after.version, before.version + 1);
}

#[tokio::test]
async fn malformed_records_are_parked_with_their_coordinates_and_the_rest_applies() {
    let h = Harness::new().await;
    let consumer = h.consumer(TOPIC_REGISTRATION);
    let t = referral_shared::time::format(&at(5, 0));
    let bad = [
        Outgoing::raw(TOPIC_REGISTRATION, 0, 10, Some("%%% not base64")),
        Outgoing::raw(TOPIC_REGISTRATION, 0, 11, Some(&msk::b64("{not json"))),
        Outgoing::raw(
            TOPIC_REGISTRATION,
            0,
            12,
            Some(&msk::b64(&format!(
                r#"{{"type":"LOGGED_IN","account_id":"a","jkos_id":"j","occurred_at":"{t}"}}"#
            ))),
        ),
        Outgoing::raw(
            TOPIC_REGISTRATION,
            1,
            13,
            Some(&msk::b64(&format!(
                r#"{{"type":"KYC_PASSED","jkos_id":"j","occurred_at":"{t}"}}"#
            ))),
        ),
        Outgoing::raw(
            TOPIC_REGISTRATION,
            1,
            14,
            Some(&msk::b64(&format!(
                r#"{{"type":"KYC_PASSED","account_id":42,"jkos_id":"j","occurred_at":"{t}"}}"#
            ))),
        ),
        Outgoing::raw(TOPIC_REGISTRATION, 2, 15, None),
        Outgoing::json(
            TOPIC_MEMBER_INFO,
            2,
            16,
            &member_info("acc-wrong-topic", at(1, 0)),
        ),
    ];
    let mut records = bad.to_vec();
    records.extend(reg_records(
        20,
        &[
            registration("KYC_PASSED", "good-1", None, at(5, 0)),
            registration("DEVICE_BOUND", "good-2", None, at(5, 0)),
        ],
    ));
    let report = consumer.handle(&msk::event(&records)).await.unwrap();
    assert_eq!(report.records, 9);
    assert_eq!(report.malformed, 7);
    assert_eq!(report.parked, 7);
    assert_eq!(
        h.member("good-1").await.unwrap().kyc_pass_time,
        Some(at(5, 0))
    );
    assert_eq!(
        h.member("good-2").await.unwrap().device_bind_time,
        Some(at(5, 0))
    );

    let parked = h
        .table
        .store
        .parked_records(PageRequest::first(50))
        .await
        .unwrap()
        .items;
    let mut found: Vec<(i64, i64, String)> = parked
        .iter()
        .map(|p| (p.partition, p.offset, p.reason_kind.to_string()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (0, 10, "bad_base64".to_owned()),
            (0, 11, "bad_json".to_owned()),
            (0, 12, "unknown_type".to_owned()),
            (1, 13, "bad_json".to_owned()),
            (1, 14, "bad_json".to_owned()),
            (2, 15, "missing_value".to_owned()),
            (2, 16, "unexpected_topic".to_owned()),
        ]
    );
    let raw = parked.iter().find(|p| p.offset == 10).unwrap();
    assert_eq!(raw.topic, TOPIC_REGISTRATION);
    // Kept readable for support (decoded when it is base64), phone-like digits masked.
    assert_eq!(raw.value.as_deref(), Some("%%% not base64"));
    let json = parked.iter().find(|p| p.offset == 11).unwrap();
    assert!(json.value.is_some());
    // Debug never prints the value (it may hold a phone number).
    let shown = format!("{json:?}");
    assert!(!shown.contains(json.value.as_deref().unwrap()), "{shown}");

    // Parking is idempotent: the same batch again leaves the same 7 parked records.
    consumer.handle(&msk::event(&records)).await.unwrap();
    let again = h
        .table
        .store
        .parked_records(PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(again.items.len(), 7);
}

/// The records of one member who qualifies with an accepted code.
fn qualifying(account: &str, first_offset: i64) -> Vec<Outgoing> {
    reg_records(
        first_offset,
        &[
            registration("REFERRAL_CODE_USED", account, Some("SHARE888"), at(4, 0)),
            registration("KYC_PASSED", account, None, at(4, 1)),
            registration("DEVICE_BOUND", account, None, at(4, 2)),
        ],
    )
}

async fn assert_granted_once(h: &Harness, account: &str) {
    let items = h.scan().await;
    let codes = items
        .iter()
        .filter(|i| {
            i["entity"].as_s().unwrap() == "Code"
                && i["source"].as_s().unwrap() == &format!("member:{}", jkos(account))
        })
        .count();
    assert_eq!(codes, 1, "exactly one code for {account}");
    let rewards: Vec<_> = items
        .iter()
        .filter(|i| {
            i["entity"].as_s().unwrap() == "Reward"
                && i["referee_account_id"].as_s().unwrap() == account
        })
        .collect();
    assert_eq!(rewards.len(), 2, "exactly two rewards for {account}");
}

#[tokio::test]
async fn a_transient_fault_fails_the_batch_and_the_retry_doubles_nothing() {
    // Fail at every point of the batch in turn: before the reads, between reads and writes,
    // in the middle of the member writes.
    for ok_requests in [0, 1, 2, 3, 5] {
        let h = Harness::new().await;
        h.referrer_code("SHARE888", "jk-referrer").await;
        let consumer = h.consumer_with(TOPIC_REGISTRATION, 2);
        let mut records = qualifying("acc-a", 0);
        records.extend(qualifying("acc-b", 3));
        records.extend(qualifying("acc-c", 6));
        let batch = msk::event(&records);

        h.table.round_trips.fail_after(ok_requests);
        let failed = consumer.handle(&batch).await;
        h.table.round_trips.heal();
        assert!(
            matches!(&failed, Err(e) if e.to_string().contains("unavailable")),
            "fault after {ok_requests} requests: {failed:?}"
        );

        // Lambda retries the same batch.
        consumer.handle(&batch).await.unwrap();
        consumer.handle(&batch).await.unwrap();
        for account in ["acc-a", "acc-b", "acc-c"] {
            assert_granted_once(&h, account).await;
        }
        let queued = h.queue.drain().await;
        for account in ["acc-a", "acc-b", "acc-c"] {
            for side in ["referrer", "referee"] {
                assert!(queued.contains(&format!("{account}-{side}")), "{queued:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_crash_between_the_write_and_the_send_is_repaired_by_the_retry_or_the_sweeper() {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let batch = msk::event(&qualifying("acc-x", 0));

    // The SQS send fails after the transaction committed (a real SQS error: no such queue).
    let broken = Consumer::new(
        Arc::new(h.table.store.clone()),
        Arc::new(SqsPayoutQueue::new(
            h.queue.client.clone(),
            format!("{}-missing", h.queue.url),
        )),
        ConfigCache::new(std::time::Duration::from_secs(60)),
        ConsumerSettings::new(TOPIC_REGISTRATION, EventId::parse(PERSONAL).unwrap()),
    );
    let err = broken.handle(&batch).await.unwrap_err();
    assert!(err.to_string().contains("payout queue"), "{err}");
    assert_granted_once(&h, "acc-x").await;
    assert!(
        h.queue.drain().await.is_empty(),
        "nothing reached the queue"
    );

    // (a) Lambda redelivers the batch: the rewards are sent, nothing is created twice.
    let consumer = h.consumer(TOPIC_REGISTRATION);
    consumer.handle(&batch).await.unwrap();
    assert_granted_once(&h, "acc-x").await;
    let mut queued = h.queue.drain().await;
    queued.sort();
    assert_eq!(queued, ["acc-x-referee", "acc-x-referrer"]);

    // (b) No redelivery ever comes: the sweeper finds the PENDING rewards once they are stale,
    // and leaves fresh ones alone.
    let created = h.reward("acc-x", Side::Referee).await.unwrap().created_at;
    let queue = h.queue.payout_queue();
    let early = referral_shared::sweeper::sweep(
        &h.table.store,
        &queue,
        created + chrono::Duration::minutes(5),
        chrono::Duration::minutes(15),
        1000,
    )
    .await
    .unwrap();
    assert_eq!(early.queued, 0);
    let late = referral_shared::sweeper::sweep(
        &h.table.store,
        &queue,
        created + chrono::Duration::minutes(16),
        chrono::Duration::minutes(15),
        1000,
    )
    .await
    .unwrap();
    assert_eq!((late.examined, late.queued), (2, 2));
    let mut queued = h.queue.drain().await;
    queued.sort();
    assert_eq!(queued, ["acc-x-referee", "acc-x-referrer"]);
}

#[tokio::test]
async fn two_concurrent_invocations_of_the_same_batch_grant_once() {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let mut records = Vec::new();
    for i in 0..10 {
        records.extend(qualifying(&format!("acc-{i}"), i * 3));
    }
    let batch = msk::event(&records);
    let (a, b) = (
        h.consumer(TOPIC_REGISTRATION),
        h.consumer(TOPIC_REGISTRATION),
    );
    let (ra, rb) = tokio::join!(a.handle(&batch), b.handle(&batch));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.qualified + rb.qualified, 10);
    assert_eq!(ra.rewards_created + rb.rewards_created, 20);
    for i in 0..10 {
        assert_granted_once(&h, &format!("acc-{i}")).await;
    }
}

use aws_sdk_dynamodb::types::AttributeValue as AttrValue;

/// Records of `account` that carry `jkos_id` (not the account's usual one).
fn as_jkos(mut value: serde_json::Value, jkos_id: &str) -> serde_json::Value {
    value["jkos_id"] = serde_json::json!(jkos_id);
    value
}

/// The parked records' (offset, reason kind, reason text), by offset.
async fn parked_reasons(h: &Harness) -> Vec<(i64, String, String)> {
    let mut found: Vec<_> = h
        .table
        .store
        .parked_records(PageRequest::first(50))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| (p.offset, p.reason_kind.to_string(), p.reason.to_string()))
        .collect();
    found.sort();
    found
}

/// The codes whose source is `source`, and the rewards paid to `payee` (a Scan).
async fn codes_and_rewards_of(h: &Harness, source: &str, payee: &str) -> (usize, usize) {
    let items = h.scan().await;
    let count = |entity: &str, attr: &str, value: &str| {
        items
            .iter()
            .filter(|i| i["entity"].as_s().unwrap() == entity)
            .filter(|i| i.get(attr).and_then(|v| v.as_s().ok()).map(String::as_str) == Some(value))
            .count()
    };
    (
        count("Code", "source", source),
        count("Reward", "member_jkos_id", payee),
    )
}

#[tokio::test]
async fn one_jkos_id_is_one_member_a_second_account_carrying_it_is_parked_never_rewarded() {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.consumer(TOPIC_REGISTRATION);
    let info = h.consumer(TOPIC_MEMBER_INFO);
    let qualify = |account: &str| {
        vec![
            registration("REFERRAL_CODE_USED", account, Some("SHARE888"), at(5, 0)),
            registration("KYC_PASSED", account, None, at(6, 0)),
            registration("DEVICE_BOUND", account, None, at(7, 0)),
        ]
    };
    let report = consumer
        .handle(&msk::event(&reg_records(0, &qualify("acc-1"))))
        .await
        .unwrap();
    assert_eq!(report.qualified, 1);
    assert_eq!(
        codes_and_rewards_of(&h, "member:jk-acc-1", "jk-acc-1").await,
        (1, 1)
    );
    h.queue.drain().await;

    // A new account carrying acc-1's jkos id: member info, a code use, KYC, device.
    info.handle(&msk::event(&info_records(
        0,
        &[as_jkos(member_info("acc-x", at(4, 0)), "jk-acc-1")],
    )))
    .await
    .unwrap();
    let records: Vec<_> = qualify("acc-x")
        .into_iter()
        .map(|v| as_jkos(v, "jk-acc-1"))
        .collect();
    let report = consumer
        .handle(&msk::event(&reg_records(10, &records)))
        .await
        .unwrap();
    assert_eq!(
        (report.qualified, report.rewards_created, report.parked),
        (0, 0, 3)
    );
    assert_eq!(
        h.member("acc-x").await,
        None,
        "no second profile for the jkos id"
    );
    assert!(h.queue.drain().await.is_empty());
    // Still one code and one referee reward for jk-acc-1; the referrer was paid once.
    assert_eq!(
        codes_and_rewards_of(&h, "member:jk-acc-1", "jk-acc-1").await,
        (1, 1)
    );
    assert_eq!(codes_and_rewards_of(&h, "", "jk-referrer").await.1, 1);
    let taken = "jkos_id_taken".to_owned();
    let other_account = "the jkos id (field jkos_id) belongs to another account".to_owned();
    assert_eq!(
        parked_reasons(&h).await,
        [0, 10, 11, 12].map(|o| (o, taken.clone(), other_account.clone())),
        "the member info (offset 0) and the three registration records, each with its reason"
    );
    // Redelivered: parked again on the same coordinates, still nothing granted.
    consumer
        .handle(&msk::event(&reg_records(10, &records)))
        .await
        .unwrap();
    assert_eq!(parked_reasons(&h).await.len(), 4);
    // The member's own screen reads their one profile.
    let mine = h
        .table
        .store
        .my_registration(&JkosId::parse("jk-acc-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mine.profile.account_id.as_str(), "acc-1");

    // acc-1's own records naming another jkos id: parked, the profile keeps its jkos id.
    let before = h.member("acc-1").await.unwrap();
    let moved = as_jkos(member_info("acc-1", at(4, 0)), "jk-elsewhere");
    let report = info
        .handle(&msk::event(&info_records(20, &[moved])))
        .await
        .unwrap();
    assert_eq!((report.parked, report.members_written), (1, 0));
    assert_eq!(h.member("acc-1").await.unwrap(), before);
    let last = parked_reasons(&h).await.pop().unwrap();
    assert_eq!(
        last,
        (
            20,
            taken,
            "the account (field account_id) belongs to another jkos id (field jkos_id)".to_owned()
        )
    );
}

#[tokio::test]
async fn two_new_accounts_racing_for_one_jkos_id_end_with_one_member() {
    for round in 0..4 {
        let h = Harness::new().await;
        h.referrer_code("SHARE888", "jk-referrer").await;
        let records = |account: &str| {
            let values: Vec<_> = [
                registration("REFERRAL_CODE_USED", account, Some("SHARE888"), at(5, 0)),
                registration("KYC_PASSED", account, None, at(6, 0)),
                registration("DEVICE_BOUND", account, None, at(7, 0)),
            ]
            .into_iter()
            .map(|v| as_jkos(v, "jk-shared"))
            .collect();
            msk::event(&reg_records(0, &values))
        };
        let (a, b) = (
            h.consumer(TOPIC_REGISTRATION),
            h.consumer(TOPIC_REGISTRATION),
        );
        let (ea, eb) = (records("acc-a"), records("acc-b"));
        let (ra, rb) = tokio::join!(a.handle(&ea), b.handle(&eb));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.qualified + rb.qualified, 1, "round {round}");
        assert_eq!(ra.parked + rb.parked, 3, "round {round}");
        let profiles = [h.member("acc-a").await, h.member("acc-b").await];
        assert_eq!(profiles.iter().flatten().count(), 1, "round {round}");
        assert_eq!(
            codes_and_rewards_of(&h, "member:jk-shared", "jk-shared").await,
            (1, 1)
        );
    }
}

#[tokio::test]
async fn a_redelivered_batch_resends_only_the_rewards_payout_may_not_have_seen() {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.consumer(TOPIC_REGISTRATION);
    let accounts = ["acc-paid", "acc-retrying", "acc-new"];
    let values: Vec<_> = accounts
        .iter()
        .flat_map(|a| {
            [
                registration("REFERRAL_CODE_USED", a, Some("SHARE888"), at(5, 0)),
                registration("KYC_PASSED", a, None, at(6, 0)),
                registration("DEVICE_BOUND", a, None, at(7, 0)),
            ]
        })
        .collect();
    let batch = msk::event(&reg_records(0, &values));
    let report = consumer.handle(&batch).await.unwrap();
    assert_eq!((report.rewards_queued, report.rewards_resent), (6, 0));
    h.queue.drain().await;
    // Payout paid acc-paid's two rewards and tried acc-retrying's (a retryable error).
    let store = &h.table.store;
    for side in Side::BOTH {
        let paid = h.reward("acc-paid", side).await.unwrap();
        store
            .mark_reward_paid(&paid, "cmp-1", at(8, 0))
            .await
            .unwrap();
        let tried = h.reward("acc-retrying", side).await.unwrap();
        store
            .record_payout_failure(&tried, "finance 503", false, at(8, 0))
            .await
            .unwrap();
    }

    // The whole batch again (MSK redelivers it): nothing is written; of the six granted
    // rewards only acc-new's two, never seen by payout, are sent again (before: all six).
    let (report, round_trips) = h.table.round_trips.during(consumer.handle(&batch)).await;
    let report = report.unwrap();
    assert_eq!(
        (
            report.members_written,
            report.rewards_queued,
            report.rewards_resent
        ),
        (0, 2, 2)
    );
    let mut queued = h.queue.drain().await;
    queued.sort();
    assert_eq!(queued, ["acc-new-referee", "acc-new-referrer"]);
    // The batch read, the rewards' read (only because of the duplicates): 2 DynamoDB round
    // trips (the SQS send is not a DynamoDB request).
    assert_eq!(round_trips, 2);

    // A granted reward stored in a shape the domain refuses does not fail the batch: it is
    // sent again, for payout to dead-letter it visibly.
    h.table
        .client
        .update_item()
        .table_name(&h.table.name)
        .key("PK", AttrValue::S("REWARD#acc-paid-referee".into()))
        .key("SK", AttrValue::S("#REWARD".into()))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", AttrValue::S("BOGUS".into()))
        .send()
        .await
        .unwrap();
    let report = consumer.handle(&batch).await.unwrap();
    assert_eq!(report.rewards_resent, 3);
    let mut queued = h.queue.drain().await;
    queued.sort();
    assert_eq!(
        queued,
        ["acc-new-referee", "acc-new-referrer", "acc-paid-referee"]
    );
}

#[tokio::test]
async fn members_are_applied_concurrently_up_to_the_bound() {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let mut records = Vec::new();
    for i in 0..40 {
        records.extend(qualifying(&format!("m-{i}"), i * 3));
    }
    let batch = msk::event(&records);

    let sequential = h.consumer_with(TOPIC_REGISTRATION, 1);
    h.table.round_trips.reset_max_in_flight();
    sequential.handle(&batch).await.unwrap();
    // One batch read, then the members one at a time.
    assert_eq!(h.table.round_trips.max_in_flight(), 1);

    let h2 = Harness::new().await;
    h2.referrer_code("SHARE888", "jk-referrer").await;
    let concurrent = h2.consumer_with(TOPIC_REGISTRATION, 8);
    h2.table.round_trips.reset_max_in_flight();
    let report = concurrent.handle(&batch).await.unwrap();
    assert_eq!(report.qualified, 40);
    let max = h2.table.round_trips.max_in_flight();
    assert!((3..=8).contains(&max), "max in flight {max}");
}

#[tokio::test]
async fn the_sample_msk_events_in_events_dir_are_consumed() {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "demo-referrer").await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let read = |name: &str| -> aws_lambda_events::event::kafka::KafkaEvent {
        serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
    };
    let report = h
        .consumer(TOPIC_REGISTRATION)
        .handle(&read("msk-registration.json"))
        .await
        .unwrap();
    // Three good records (code used, device, KYC) and one with a bad time, parked.
    assert_eq!((report.records, report.malformed), (4, 1));
    assert_eq!((report.qualified, report.rewards_created), (1, 2));
    let report = h
        .consumer(TOPIC_MEMBER_INFO)
        .handle(&read("msk-member-info.json"))
        .await
        .unwrap();
    assert_eq!((report.records, report.members_written), (1, 1));
    let member = h.member("demo-2").await.unwrap();
    assert!(member.jkos_account.is_some() && member.own_code.is_some());
}

#[tokio::test]
async fn edge_grants_no_window_campaign_codes_and_a_corrupt_profile() {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    // A CAMPAIGN event whose code belongs to a campaign, not a member.
    let campaign = EventId::parse("spring").unwrap();
    let store = &h.table.store;
    store
        .put_event(&referral_tests::fixtures::event(
            "spring",
            EventType::Campaign,
        ))
        .await
        .unwrap();
    store
        .put_content_window(
            &campaign,
            &referral_tests::fixtures::content("s1", at(1, 0), at(25, 0), "30"),
        )
        .await
        .unwrap();
    let mut code =
        referral_tests::fixtures::code_record("SPRNG234", "spring", "campaign:partner-x");
    code.event_type = EventType::Campaign;
    store.create_code(&code).await.unwrap();

    // A profile item that does not map onto the domain (written behind the store's back).
    h.table
        .client
        .put_item()
        .table_name(&h.table.name)
        .item(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("MEMBER#broken".into()),
        )
        .item(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("#PROFILE".into()),
        )
        .item(
            "entity",
            aws_sdk_dynamodb::types::AttributeValue::S("Member".into()),
        )
        .item(
            "account_id",
            aws_sdk_dynamodb::types::AttributeValue::N("7".into()),
        )
        .send()
        .await
        .unwrap();

    let consumer = h.consumer(TOPIC_REGISTRATION);
    let batch = msk::event(&reg_records(
        0,
        &[
            // Accepted on day 24 (w2), qualified on day 26 after every window ended.
            registration("REFERRAL_CODE_USED", "ended", Some("SHARE888"), at(24, 0)),
            registration("KYC_PASSED", "ended", None, at(26, 0)),
            registration("DEVICE_BOUND", "ended", None, at(26, 1)),
            registration("REFERRAL_CODE_USED", "camp", Some("SPRNG234"), at(3, 0)),
            registration("KYC_PASSED", "camp", None, at(3, 1)),
            registration("DEVICE_BOUND", "camp", None, at(3, 2)),
            registration("KYC_PASSED", "broken", None, at(3, 1)),
        ],
    ));
    let report = consumer.handle(&batch).await.unwrap();
    assert_eq!(report.qualified, 2);
    assert_eq!(report.rewards_created, 1);
    assert_eq!(report.parked, 1);

    let ended = h.member("ended").await.unwrap();
    assert!(matches!(
        ended.reward_grant,
        Some(RewardGrant::NoActiveWindow { .. })
    ));
    assert!(h.reward("ended", Side::Referee).await.is_none());

    // Only the referee of a campaign code is rewarded, with the campaign's terms.
    assert!(h.reward("camp", Side::Referrer).await.is_none());
    let referee = h.reward("camp", Side::Referee).await.unwrap();
    assert_eq!(referee.event_id, campaign);
    assert_eq!(referee.referrer_source.to_string(), "campaign:partner-x");
    assert_eq!(h.queue.drain().await, ["camp-referee"]);

    let parked = store.parked_records(PageRequest::first(10)).await.unwrap();
    assert_eq!(parked.items.len(), 1);
    assert_eq!(parked.items[0].reason_kind, "corrupt_state");
    assert_eq!(parked.items[0].offset, 6);
}
