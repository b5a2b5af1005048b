//! The reward rules (docs/rules.md) through the registration consumer, against DynamoDB Local
//! and moto's SQS: the referrer cap is never exceeded by concurrent batches, a phone or device
//! is rewarded once, self-referral, the qualification deadline at its edges, a milestone bonus
//! exactly once, the grant that waits for the phone, HELD / CLAIMABLE rewards never queued, and
//! what a qualification costs with the rules on.

use referral_devkit::msk::{self, Outgoing};
use referral_shared::contracts::kafka::{TOPIC_MEMBER_INFO, TOPIC_REGISTRATION};
use referral_shared::store::prelude::*;
use referral_shared::time::Instant;
use referral_shared::*;
use referral_tests::fixtures::at;
use referral_tests::ingest_support::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

type Attrs = HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

fn s(item: &Attrs, k: &str) -> String {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// A referee's three records: code used on day 2, KYC and device at `done`, their own phone and
/// device.
fn referee_records(
    account: &str,
    code: &str,
    phone: Option<&str>,
    device: Option<&str>,
    done: Instant,
) -> Vec<Value> {
    vec![
        registration_of(
            "REFERRAL_CODE_USED",
            account,
            Some(code),
            phone,
            None,
            at(2, 0),
        ),
        registration_of("KYC_PASSED", account, None, phone, None, done),
        registration_of("DEVICE_BOUND", account, None, phone, device, done),
    ]
}

fn phone_of(i: usize) -> String {
    format!("09{i:08}")
}

/// Records on `partition`, offsets from 0.
fn on_partition(partition: i64, values: &[Value]) -> Vec<Outgoing> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| Outgoing::json(TOPIC_REGISTRATION, partition, i as i64, v))
        .collect()
}

fn cap(max: u32, referee_too: bool) -> ReferrerCap {
    ReferrerCap {
        max_referees: max,
        per: CapScope::Event,
        referee_rewarded_beyond_cap: referee_too,
    }
}

fn coin(amount: &str) -> RewardTerms {
    RewardTerms {
        reward_type: RewardType::Coin,
        amount: RewardAmount::parse(amount).unwrap(),
    }
}

#[tokio::test]
async fn the_cap_holds_and_milestones_are_granted_once_under_concurrent_batches() {
    let h = Harness::new().await;
    h.set_rules(RewardRules {
        referrer_cap: Some(cap(5, true)),
        milestones: vec![
            Milestone {
                nth: 3,
                reward: coin("200"),
            },
            Milestone {
                nth: 5,
                reward: coin("500"),
            },
        ],
        ..RewardRules::default()
    })
    .await;
    h.referrer_code("HTRF2222", "jk-hot").await;

    // 30 referees of one referrer, on 3 partitions, each batch handled by 2 invocations at
    // once (a retry racing the original), all 6 at the same time.
    let consumers: Vec<_> = (0..6)
        .map(|_| h.rules_consumer(TOPIC_REGISTRATION, 16))
        .collect();
    let batches: Vec<_> = (0..3)
        .map(|p| {
            let values: Vec<Value> = (0..10)
                .flat_map(|i| {
                    let n = p * 10 + i;
                    referee_records(
                        &format!("hot-{n}"),
                        "HTRF2222",
                        Some(&phone_of(n)),
                        Some(&format!("dev-{n}")),
                        at(3, 0),
                    )
                })
                .collect();
            msk::event(&on_partition(p as i64, &values))
        })
        .collect();
    let runs = consumers
        .iter()
        .enumerate()
        .map(|(i, c)| c.handle(&batches[i % 3]));
    for result in futures::future::join_all(runs).await {
        result.unwrap();
    }

    let items = h.scan().await;
    let rewards: Vec<&Attrs> = items
        .iter()
        .filter(|i| s(i, "entity") == "Reward")
        .collect();
    let referrer_side = rewards
        .iter()
        .filter(|r| s(r, "side") == "REFERRER" && !s(r, "reward_id").starts_with("milestone."))
        .count();
    let referee_side = rewards.iter().filter(|r| s(r, "side") == "REFEREE").count();
    let mut bonuses: Vec<String> = rewards
        .iter()
        .map(|r| s(r, "reward_id"))
        .filter(|id| id.starts_with("milestone."))
        .collect();
    bonuses.sort();
    assert_eq!(referrer_side, 5, "never N+1");
    assert_eq!(
        referee_side, 30,
        "the referee side is rewarded beyond the cap"
    );
    assert_eq!(
        bonuses,
        ["milestone.3.personal.jk-hot", "milestone.5.personal.jk-hot"]
    );
    let stats: Vec<&Attrs> = items
        .iter()
        .filter(|i| s(i, "entity") == "ReferrerStats")
        .collect();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0]["rewarded"].as_n().unwrap(), "5");
    let mut capped = 0;
    for n in 0..30 {
        let m = h.member(&format!("hot-{n}")).await.unwrap();
        match m.reward_grant {
            Some(RewardGrant::Issued {
                count: 1,
                referrer_withheld: Some(RuleReason::ReferrerCapReached),
                ..
            }) => capped += 1,
            Some(RewardGrant::Issued {
                count: 2,
                referrer_withheld: None,
                ..
            }) => {}
            other => panic!("hot-{n}: {other:?}"),
        }
    }
    assert_eq!(capped, 25, "each withheld side recorded with its reason");
    // The bonus is paid to the referrer, listed after the referee who reached it.
    let bonus = h
        .table
        .store
        .get_reward(&RewardId::parse("milestone.3.personal.jk-hot").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (bonus.member_jkos_id.as_str(), bonus.terms),
        ("jk-hot", coin("200"))
    );
    let queued: std::collections::HashSet<String> = h.queue.drain().await.into_iter().collect();
    assert_eq!(
        queued.len(),
        5 + 30 + 2,
        "every reward queued (some more than once)"
    );

    // Everything delivered again: nothing changes.
    let before = h.scan().await.len();
    consumers[0].handle(&batches[0]).await.unwrap();
    assert_eq!(h.scan().await.len(), before);
}

#[tokio::test]
async fn an_unusable_device_id_is_dropped_and_the_referee_still_qualifies() {
    let h = Harness::new().await;
    h.set_rules(RewardRules {
        one_reward_per_device: true,
        ..RewardRules::default()
    })
    .await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 16);
    let mut records = referee_records(
        "blank-dev",
        "SHARE888",
        Some("0944444444"),
        Some("   "),
        at(3, 0),
    );
    let mut long = referee_records("number-dev", "SHARE888", Some("0955555555"), None, at(3, 0));
    long[2]["device_id"] = serde_json::json!(12345);
    records.extend(long);
    let report = consumer
        .handle(&msk::event(&on_partition(0, &records)))
        .await
        .unwrap();
    assert_eq!(report.unusable_device_ids, 2);
    assert_eq!(report.parked, 0, "the records are kept");
    for account in ["blank-dev", "number-dev"] {
        let member = h.member(account).await.unwrap();
        assert!(
            member.qualified_at.is_some(),
            "{account}: the DEVICE_BOUND step counted"
        );
        assert!(member.device_key.is_none(), "{account}: no device to hash");
        assert!(matches!(
            member.reward_grant,
            Some(RewardGrant::Issued { count: 2, .. })
        ));
    }
    assert!(
        !h.scan()
            .await
            .iter()
            .any(|i| s(i, "PK").starts_with("PARKED#")),
        "nothing parked"
    );
}

#[tokio::test]
async fn a_phone_or_device_rewarded_once_is_not_rewarded_again() {
    let h = Harness::new().await;
    h.set_rules(RewardRules {
        one_reward_per_phone: true,
        one_reward_per_device: true,
        ..RewardRules::default()
    })
    .await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 16);

    let first = referee_records(
        "first",
        "SHARE888",
        Some("0911111111"),
        Some("dev-a"),
        at(3, 0),
    );
    consumer
        .handle(&msk::event(&on_partition(0, &first)))
        .await
        .unwrap();
    // The same phone on another device; another phone on the same device; both new.
    let mut later = referee_records(
        "same-phone",
        "SHARE888",
        Some("0911111111"),
        Some("dev-b"),
        at(4, 0),
    );
    later.extend(referee_records(
        "same-device",
        "SHARE888",
        Some("0922222222"),
        Some("dev-a"),
        at(4, 0),
    ));
    later.extend(referee_records(
        "fresh",
        "SHARE888",
        Some("0933333333"),
        Some("dev-c"),
        at(4, 0),
    ));
    consumer
        .handle(&msk::event(&on_partition(1, &later)))
        .await
        .unwrap();

    let grant = |m: MemberProfile| m.reward_grant.unwrap();
    assert!(matches!(
        grant(h.member("first").await.unwrap()),
        RewardGrant::Issued { count: 2, .. }
    ));
    assert!(matches!(
        grant(h.member("same-phone").await.unwrap()),
        RewardGrant::Withheld {
            reason: RuleReason::PhoneAlreadyRewarded,
            ..
        }
    ));
    assert!(matches!(
        grant(h.member("same-device").await.unwrap()),
        RewardGrant::Withheld {
            reason: RuleReason::DeviceAlreadyRewarded,
            ..
        }
    ));
    assert!(matches!(
        grant(h.member("fresh").await.unwrap()),
        RewardGrant::Issued { count: 2, .. }
    ));
    for account in ["same-phone", "same-device"] {
        assert!(
            h.reward(account, Side::Referee).await.is_none(),
            "{account}"
        );
        assert!(
            h.reward(account, Side::Referrer).await.is_none(),
            "{account}"
        );
        let m = h.member(account).await.unwrap();
        assert!(
            m.qualified_at.is_some() && m.own_code.is_some(),
            "still a referrer"
        );
    }
    // The claims hold keyed hashes, never the phone or the device id.
    let items = h.scan().await;
    let claims: Vec<&Attrs> = items
        .iter()
        .filter(|i| s(i, "entity") == "IdentityClaim")
        .collect();
    assert_eq!(
        claims.len(),
        4,
        "phone + device of the two rewarded referees"
    );
    let key = identity_key();
    let phone_hash = key.phone(&PhoneNumber::parse("0911111111").unwrap());
    assert!(
        claims
            .iter()
            .any(|c| s(c, "PK") == format!("IDCLAIM#PHONE#{phone_hash}"))
    );
    for claim in claims {
        let text = format!("{claim:?}");
        assert!(
            !text.contains("0911111111") && !text.contains("dev-a"),
            "{text}"
        );
    }
    let profile = format!("{:?}", h.scan().await);
    assert!(!profile.contains("\"dev-a\""), "no raw device id stored");
}

#[tokio::test]
async fn a_referee_with_the_code_owners_phone_is_a_self_referral() {
    let h = Harness::new().await;
    h.set_rules(RewardRules {
        refuse_self_referral: true,
        ..RewardRules::default()
    })
    .await;
    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 16);
    // The owner qualifies through the consumer: their code records their phone's hash.
    let owner = owner_qualifies();
    consumer
        .handle(&msk::event(&on_partition(0, &owner)))
        .await
        .unwrap();
    let code = h.member("owner").await.unwrap().own_code.unwrap();
    let stored = h.table.store.get_code(&code).await.unwrap().unwrap();
    assert_eq!(
        stored.owner_phone,
        Some(identity_key().phone(&PhoneNumber::parse("0955555555").unwrap()))
    );

    owners_second_account_and_a_friend_use(&h, &consumer, &code).await;
}

#[tokio::test]
async fn the_qualification_deadline_holds_at_its_edges() {
    let h = Harness::new().await;
    h.set_rules(RewardRules {
        qualification_days: Some(2),
        ..RewardRules::default()
    })
    .await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 16);
    // Code used on day 2 at 00:00: the deadline is day 4 at 00:00, inclusive.
    let edge = at(4, 0);
    let mut values = referee_records("on-time", "SHARE888", Some("0911111111"), None, edge);
    let late = edge + chrono::TimeDelta::milliseconds(1);
    values.extend(referee_records(
        "late",
        "SHARE888",
        Some("0922222222"),
        None,
        late,
    ));
    // KYC on time, device late: the later one counts.
    values.push(registration_of(
        "REFERRAL_CODE_USED",
        "half",
        Some("SHARE888"),
        None,
        None,
        at(2, 0),
    ));
    values.push(registration_of(
        "KYC_PASSED",
        "half",
        None,
        Some("0933333333"),
        None,
        at(3, 0),
    ));
    values.push(registration_of(
        "DEVICE_BOUND",
        "half",
        None,
        None,
        None,
        at(5, 0),
    ));
    consumer
        .handle(&msk::event(&on_partition(0, &values)))
        .await
        .unwrap();
    assert_eq!(
        h.reward("on-time", Side::Referee)
            .await
            .unwrap()
            .qualified_at,
        edge
    );
    for account in ["late", "half"] {
        let m = h.member(account).await.unwrap();
        assert!(
            matches!(
                m.reward_grant,
                Some(RewardGrant::Withheld {
                    reason: RuleReason::QualificationExpired,
                    ..
                })
            ),
            "{account}: {:?}",
            m.reward_grant
        );
        assert!(m.own_code.is_some(), "{account} still becomes a referrer");
        assert!(h.reward(account, Side::Referee).await.is_none());
    }
}

#[tokio::test]
async fn a_grant_that_needs_the_phone_waits_for_member_info() {
    let h = Harness::new().await;
    h.set_rules(RewardRules {
        one_reward_per_phone: true,
        ..RewardRules::default()
    })
    .await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 16);
    let values = referee_records("no-phone-yet", "SHARE888", None, None, at(3, 0));
    let report = consumer
        .handle(&msk::event(&on_partition(0, &values)))
        .await
        .unwrap();
    assert_eq!((report.qualified, report.rewards_created), (1, 0));
    let m = h.member("no-phone-yet").await.unwrap();
    assert!(matches!(
        m.reward_grant,
        Some(RewardGrant::AwaitingPhone { .. })
    ));
    assert!(h.queue.drain().await.is_empty());

    let info = h.rules_consumer(TOPIC_MEMBER_INFO, 16);
    let report = info
        .handle(&msk::event(&info_records(
            0,
            &[member_info("no-phone-yet", at(1, 0))],
        )))
        .await
        .unwrap();
    assert_eq!(report.rewards_created, 2);
    assert!(matches!(
        h.member("no-phone-yet").await.unwrap().reward_grant,
        Some(RewardGrant::Issued { count: 2, .. })
    ));
    let mut queued = h.queue.drain().await;
    queued.sort();
    assert_eq!(queued, ["no-phone-yet-referee", "no-phone-yet-referrer"]);
}

#[tokio::test]
async fn held_and_claimable_rewards_wait_and_are_never_queued() {
    let h = Harness::new().await;
    h.set_rules(RewardRules {
        review_hold: Some(ReviewHold {
            referees_per_24h: None,
            amount_at_least: Some(RewardAmount::parse("100").unwrap()),
        }),
        claim_days: Some(7),
        ..RewardRules::default()
    })
    .await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 16);
    let values = referee_records("r", "SHARE888", Some("0911111111"), None, at(3, 0));
    let (report, round_trips) = h
        .table
        .round_trips
        .during(consumer.handle(&msk::event(&on_partition(0, &values))))
        .await;
    let report = report.unwrap();
    assert_eq!(
        (report.rewards_created, report.rewards_waiting),
        (2, 2),
        "{report:?}"
    );
    // Rules that read no stored state cost nothing more: BatchGetItem, the configuration's
    // Query (a cold cache), the window marker, the transaction — as without rules.
    assert_eq!(round_trips, 4);
    let referee = h.reward("r", Side::Referee).await.unwrap();
    assert_eq!(referee.status, RewardStatus::Held, "the 100 coupon is held");
    assert_eq!(
        referee.reason.as_ref().map(|r| r.as_str()),
        Some("REVIEW_AMOUNT")
    );
    let referrer = h.reward("r", Side::Referrer).await.unwrap();
    assert_eq!(referrer.status, RewardStatus::Claimable);
    let deadline = referrer.claim_deadline.unwrap();
    assert_eq!(deadline - referrer.created_at, chrono::TimeDelta::days(7));
    assert!(
        h.queue.drain().await.is_empty(),
        "nothing is paid before a person acts"
    );
}

#[tokio::test]
async fn a_qualification_under_every_rule_costs_one_more_read_and_one_transaction() {
    let h = Harness::new().await;
    h.set_rules(RewardRules {
        referrer_cap: Some(cap(10, true)),
        one_reward_per_phone: true,
        one_reward_per_device: true,
        refuse_self_referral: true,
        qualification_days: Some(30),
        review_hold: Some(ReviewHold {
            referees_per_24h: Some(50),
            amount_at_least: Some(RewardAmount::parse("10000").unwrap()),
        }),
        milestones: vec![Milestone {
            nth: 1,
            reward: coin("200"),
        }],
        claim_days: None,
    })
    .await;
    // The code records its owner's phone hash, as every code a consumer with the key issues
    // (one without it costs one more Query: the owner's profile, see the next test but one).
    h.referrer_code_with_phone("SHARE888", "jk-referrer", "0999999999")
        .await;
    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 16);
    // A first referee marks the window in use; the measured one is the second process-warm.
    let warm = referee_records("warm", "SHARE888", Some("0900000001"), Some("d1"), at(3, 0));
    consumer
        .handle(&msk::event(&on_partition(0, &warm)))
        .await
        .unwrap();
    let mut values = referee_records("m", "SHARE888", Some("0900000002"), Some("d2"), at(3, 0));
    let qualifying = values.pop().unwrap();
    consumer
        .handle(&msk::event(&on_partition(1, &values)))
        .await
        .unwrap();
    let (report, round_trips) = h
        .table
        .round_trips
        .during(consumer.handle(&msk::event(&[Outgoing::json(
            TOPIC_REGISTRATION,
            1,
            2,
            &qualifying,
        )])))
        .await;
    let report = report.unwrap();
    assert_eq!(report.rewards_created, 2);
    // BatchGetItem (profile), BatchGetItem (counters + phone + device claims), the transaction.
    assert_eq!(round_trips, 3);
    let items = h.scan().await;
    let by_entity: BTreeMap<String, usize> = items.iter().fold(BTreeMap::new(), |mut m, i| {
        *m.entry(s(i, "entity")).or_default() += 1;
        m
    });
    assert_eq!(by_entity.get("IdentityClaim"), Some(&4));
    assert_eq!(by_entity.get("ReferrerStats"), Some(&1));
    assert!(
        h.table
            .store
            .get_reward(&RewardId::parse("milestone.1.personal.jk-referrer").unwrap())
            .await
            .unwrap()
            .is_some()
    );
}

/// A phone or device claim counts while the referee reward it was written for may still be
/// paid; once that reward ended unpaid (an admin rejected it, or it was never claimed), the
/// phone and device are free: the next referee with them is rewarded and claims them, and the
/// one after that is refused again. Two referees taking a released claim over at once: one wins.
#[tokio::test]
async fn a_claim_is_released_when_its_referee_reward_ends_unpaid() {
    let h = Harness::new().await;
    h.set_rules(RewardRules {
        one_reward_per_phone: true,
        one_reward_per_device: true,
        review_hold: Some(ReviewHold {
            referees_per_24h: None,
            amount_at_least: Some(RewardAmount::parse("1").unwrap()),
        }),
        ..RewardRules::default()
    })
    .await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 16);
    let store = &h.table.store;
    let phone = "0911111111";
    let deliver = |partition: i64, values: Vec<Value>| {
        let consumer = &consumer;
        async move {
            consumer
                .handle(&msk::event(&on_partition(partition, &values)))
                .await
                .unwrap()
        }
    };

    deliver(
        0,
        referee_records("first", "SHARE888", Some(phone), Some("dev-a"), at(3, 0)),
    )
    .await;
    let first = h.reward("first", Side::Referee).await.unwrap();
    assert_eq!(first.status, RewardStatus::Held);

    // While the first referee's reward is HELD it may still be approved: the claim counts.
    deliver(
        1,
        referee_records(
            "while-held",
            "SHARE888",
            Some(phone),
            Some("dev-x"),
            at(4, 0),
        ),
    )
    .await;
    assert!(matches!(
        h.member("while-held").await.unwrap().reward_grant,
        Some(RewardGrant::Withheld {
            reason: RuleReason::PhoneAlreadyRewarded,
            ..
        })
    ));

    // The referee reward rejected, the referrer's for that referee still open (HELD, it may be
    // approved): releasing the claim could pay the referrer twice for one phone. Still taken.
    let farmed = ReasonCode::parse("FARMED").unwrap();
    store
        .reject_reward(&first.reward_id, &farmed, "admin@example.com", at(5, 0))
        .await
        .unwrap();
    deliver(
        5,
        referee_records(
            "while-referrer-held",
            "SHARE888",
            Some(phone),
            Some("dev-y"),
            at(5, 0),
        ),
    )
    .await;
    assert!(matches!(
        h.member("while-referrer-held").await.unwrap().reward_grant,
        Some(RewardGrant::Withheld {
            reason: RuleReason::PhoneAlreadyRewarded,
            ..
        })
    ));
    // Both rejected: the phone and the device are free again. Two referees with them at once.
    let referrer_side = h.reward("first", Side::Referrer).await.unwrap();
    store
        .reject_reward(
            &referrer_side.reward_id,
            &farmed,
            "admin@example.com",
            at(5, 0),
        )
        .await
        .unwrap();
    let mut both = referee_records("second", "SHARE888", Some(phone), Some("dev-a"), at(6, 0));
    let racer = referee_records("racer", "SHARE888", Some(phone), Some("dev-a"), at(6, 0));
    let (a, b) = tokio::join!(deliver(2, std::mem::take(&mut both)), deliver(3, racer));
    let _ = (a, b);
    let issued = |m: &MemberProfile| matches!(m.reward_grant, Some(RewardGrant::Issued { .. }));
    let second = h.member("second").await.unwrap();
    let racer = h.member("racer").await.unwrap();
    assert_eq!(
        u8::from(issued(&second)) + u8::from(issued(&racer)),
        1,
        "exactly one of two concurrent referees takes the released claims: {:?} / {:?}",
        second.reward_grant,
        racer.reward_grant
    );
    let winner = if issued(&second) { "second" } else { "racer" };
    let items = h.scan().await;
    let owners: Vec<String> = items
        .iter()
        .filter(|i| s(i, "entity") == "IdentityClaim")
        .map(|i| s(i, "account_id"))
        .collect();
    assert_eq!(
        owners,
        vec![winner.to_owned(), winner.to_owned()],
        "phone + device"
    );

    // The winner's reward is open (HELD): the phone is taken again.
    deliver(
        4,
        referee_records("third", "SHARE888", Some(phone), Some("dev-z"), at(7, 0)),
    )
    .await;
    assert!(matches!(
        h.member("third").await.unwrap().reward_grant,
        Some(RewardGrant::Withheld {
            reason: RuleReason::PhoneAlreadyRewarded,
            ..
        })
    ));
}

/// Rules that count (a cap here) turned on in the middle of an event: a referrer's counters
/// start from what they were already granted, not from zero — three referees rewarded before the
/// cap of 4, so the fourth after it is the last one the referrer is rewarded for.
#[tokio::test]
async fn counting_rules_turned_on_mid_event_start_from_what_was_granted() {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 16);
    let mut before = Vec::new();
    for i in 0..3 {
        before.extend(referee_records(
            &format!("before-{i}"),
            "SHARE888",
            Some(&phone_of(i)),
            None,
            at(3, 0),
        ));
    }
    consumer
        .handle(&msk::event(&on_partition(0, &before)))
        .await
        .unwrap();
    for i in 0..3 {
        assert!(
            h.reward(&format!("before-{i}"), Side::Referrer)
                .await
                .is_some()
        );
    }

    h.set_rules(RewardRules {
        referrer_cap: Some(cap(4, true)),
        ..RewardRules::default()
    })
    .await;
    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 16);
    for (partition, account) in [(1, "after-0"), (2, "after-1")] {
        let values = referee_records(
            account,
            "SHARE888",
            Some(&phone_of(partition as usize + 10)),
            None,
            at(4, 0),
        );
        consumer
            .handle(&msk::event(&on_partition(partition, &values)))
            .await
            .unwrap();
    }
    assert!(
        h.reward("after-0", Side::Referrer).await.is_some(),
        "the 4th rewarded referee is within the cap"
    );
    assert!(
        h.reward("after-1", Side::Referrer).await.is_none(),
        "the 5th is beyond it"
    );
    assert!(matches!(
        h.member("after-1").await.unwrap().reward_grant,
        Some(RewardGrant::Issued {
            referrer_withheld: Some(RuleReason::ReferrerCapReached),
            ..
        })
    ));
    let stats: Vec<_> = h
        .scan()
        .await
        .into_iter()
        .filter(|i| s(i, "entity") == "ReferrerStats")
        .collect();
    assert_eq!(stats.len(), 1);
    assert_eq!(
        stats[0]
            .get("rewarded")
            .and_then(|v| v.as_n().ok())
            .map(String::as_str),
        Some("4")
    );
}

/// A code that recorded no owner phone (issued by a consumer without the identity key here; in
/// production: the launch import's codes, or ones issued before the phone was known): the
/// self-referral rule reads the owner's phone from their profile (GSI3 `PAYEE#<jkos id>` /
/// `#PROFILE`) instead of skipping the check.
#[tokio::test]
async fn self_referral_is_judged_from_the_owners_profile_when_the_code_recorded_no_phone() {
    let h = Harness::new().await;
    h.set_rules(RewardRules {
        refuse_self_referral: true,
        ..RewardRules::default()
    })
    .await;
    let owner = owner_qualifies();
    h.consumer(TOPIC_REGISTRATION)
        .handle(&msk::event(&on_partition(0, &owner)))
        .await
        .unwrap();
    let code = h.member("owner").await.unwrap().own_code.unwrap();
    let stored = h.table.store.get_code(&code).await.unwrap().unwrap();
    assert_eq!(stored.owner_phone, None, "a code without its owner's phone");

    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 16);
    owners_second_account_and_a_friend_use(&h, &consumer, &code).await;
}

/// The code's owner ("owner", phone 0955555555) passes KYC and binds a device: qualified, with
/// their own code.
fn owner_qualifies() -> Vec<Value> {
    ["KYC_PASSED", "DEVICE_BOUND"]
        .map(|kind| registration_of(kind, "owner", None, Some("0955555555"), None, at(2, 0)))
        .to_vec()
}

/// The code's owner (phone 0955555555) registers a second account with their own code, and a
/// friend uses it too: the second account is a self-referral (no reward on either side), the
/// friend's referral is rewarded.
async fn owners_second_account_and_a_friend_use(
    h: &Harness,
    consumer: &TestConsumer,
    code: &ReferralCode,
) {
    let mut values = referee_records(
        "second-account",
        code.as_str(),
        Some("0955555555"),
        None,
        at(3, 0),
    );
    values.extend(referee_records(
        "a-friend",
        code.as_str(),
        Some("0966666666"),
        None,
        at(3, 0),
    ));
    consumer
        .handle(&msk::event(&on_partition(1, &values)))
        .await
        .unwrap();
    assert!(matches!(
        h.member("second-account").await.unwrap().reward_grant,
        Some(RewardGrant::Withheld {
            reason: RuleReason::SelfReferral,
            ..
        })
    ));
    for side in Side::BOTH {
        assert!(h.reward("second-account", side).await.is_none(), "{side:?}");
    }
    assert!(h.reward("a-friend", Side::Referrer).await.is_some());
}
