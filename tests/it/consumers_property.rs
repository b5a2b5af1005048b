//! Randomized property test of the registration consumer against DynamoDB Local and SQS:
//! whatever the order of a member's events, their duplication (1–3 deliveries each), the way
//! they are cut into batches, batches redelivered or handled by two concurrent invocations,
//! every qualified member ends with exactly one code of their own and every qualified referee
//! with exactly one reward per side, with the terms of the window of the qualifying moment.
//!
//! Replay a failure with `REFERRAL_PROPTEST_SEED=<seed printed below> cargo test --test
//! consumers_property` (and `REFERRAL_PROPTEST_MEMBERS` to change the population, default 220).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use referral_devkit::msk;
use referral_shared::contracts::kafka::{TOPIC_MEMBER_INFO, TOPIC_REGISTRATION};
use referral_shared::store::prelude::*;
use referral_shared::time::Instant;
use referral_shared::*;
use referral_tests::fixtures::at;
use referral_tests::ingest_support::*;
use referral_tests::workload::{Delivered, cut_into_batches, deliver, deliver_interleaved};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

const REFERRERS: usize = 12;

#[derive(Debug)]
struct Plan {
    account: String,
    code: Option<String>,
    kyc: Option<Instant>,
    device: Option<Instant>,
}

impl Plan {
    fn qualified_at(&self) -> Option<Instant> {
        Some(self.kyc?.max(self.device?))
    }
}

fn random_time(rng: &mut StdRng) -> Instant {
    // Days 2..=23, inside window w1 [1, 10) or w2 [10, 25).
    at(rng.random_range(2..=23), rng.random_range(0..24))
}

#[tokio::test]
async fn any_order_duplication_batching_and_concurrency_grants_exactly_once() {
    let seed: u64 = std::env::var("REFERRAL_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let members: usize = std::env::var("REFERRAL_PROPTEST_MEMBERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(220);
    println!("property seed = {seed} (replay: REFERRAL_PROPTEST_SEED={seed}), members = {members}");
    let mut rng = StdRng::seed_from_u64(seed);

    let h = Harness::new().await;
    let mut codes = Vec::new();
    for i in 0..REFERRERS {
        let code = ReferralCode::generate(&mut rng).to_string();
        h.referrer_code(&code, &format!("jk-referrer-{i}")).await;
        codes.push(code);
    }

    // What each member does, then their records: each event delivered 1–3 times, the
    // member's events in a random order, on the member's partition.
    let plans: Vec<Plan> = (0..members)
        .map(|i| Plan {
            account: format!("p-{i}"),
            code: rng
                .random_bool(0.85)
                .then(|| codes[rng.random_range(0..codes.len())].clone()),
            kyc: rng.random_bool(0.9).then(|| random_time(&mut rng)),
            device: rng.random_bool(0.9).then(|| random_time(&mut rng)),
        })
        .collect();
    let mut per_partition: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    let mut info: Vec<Value> = Vec::new();
    for plan in &plans {
        let mut events = Vec::new();
        if let Some(code) = &plan.code {
            // The code is used before KYC/device in real time; delivery order is random.
            events.push(registration(
                "REFERRAL_CODE_USED",
                &plan.account,
                Some(code),
                at(1, 12),
            ));
        }
        if let Some(t) = plan.kyc {
            events.push(registration("KYC_PASSED", &plan.account, None, t));
        }
        if let Some(t) = plan.device {
            events.push(registration("DEVICE_BOUND", &plan.account, None, t));
        }
        deliver_interleaved(&mut rng, &mut per_partition, &plan.account, &events);
        // Every planned member has at least one record (a member with none has no profile;
        // without this, ~15% of seeds drew one and failed the profile check below).
        if events.is_empty() || rng.random_bool(0.5) {
            info.push(member_info(&plan.account, at(1, 0)));
        }
    }

    let (batches, total_records) = cut_into_batches(&per_partition, &mut rng);
    let started = std::time::Instant::now();
    let a = h.consumer(TOPIC_REGISTRATION);
    let b = h.consumer_with(TOPIC_REGISTRATION, 4);
    let Delivered {
        mut queued,
        messages,
        overlapped,
        redelivered,
    } = deliver(&h, &batches, &a, &b, &mut rng, seed).await;
    // Member info, some of it after the registration events, in two batches.
    let info_consumer = h.consumer(TOPIC_MEMBER_INFO);
    for (n, part) in info.chunks(info.len().div_ceil(2).max(1)).enumerate() {
        info_consumer
            .handle(&msk::event(&info_records(n as i64 * 1000, part)))
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: member info: {e}"));
    }
    println!(
        "{} records in {} batches ({overlapped} handled twice at once, {redelivered} redelivered): \
         {} DynamoDB requests, {messages} payout messages, {:.1?}",
        total_records,
        batches.len(),
        h.table.round_trips.get(),
        started.elapsed()
    );

    // Everything in the table, checked against the plans.
    let items = h.scan().await;
    let s = |i: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| {
        i.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let mut codes_by_source: HashMap<String, usize> = HashMap::new();
    let mut rewards: HashMap<
        String,
        Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
    > = HashMap::new();
    for item in &items {
        match s(item, "entity").as_str() {
            "Code" => *codes_by_source.entry(s(item, "source")).or_default() += 1,
            "Reward" => rewards
                .entry(s(item, "referee_account_id"))
                .or_default()
                .push(item.clone()),
            _ => {}
        }
    }
    queued.extend(h.queue.drain().await);
    let mut expected_rewards = HashSet::new();
    let (mut qualified, mut rewarded) = (0, 0);
    for plan in &plans {
        let ctx = format!("seed {seed}: {plan:?}");
        let member = h
            .member(&plan.account)
            .await
            .unwrap_or_else(|| panic!("{ctx}: no profile"));
        assert_eq!(member.kyc_pass_time, plan.kyc, "{ctx}");
        assert_eq!(member.device_bind_time, plan.device, "{ctx}");
        let own_codes = codes_by_source
            .get(&format!("member:{}", jkos(&plan.account)))
            .copied()
            .unwrap_or(0);
        let member_rewards = rewards.get(&plan.account).map(Vec::len).unwrap_or(0);
        match plan.qualified_at() {
            None => {
                assert_eq!(member.qualified_at, None, "{ctx}");
                assert_eq!(own_codes, 0, "{ctx}");
                assert_eq!(member_rewards, 0, "{ctx}");
            }
            Some(q) => {
                qualified += 1;
                assert_eq!(member.qualified_at, Some(q), "{ctx}");
                assert_eq!(own_codes, 1, "{ctx}: exactly one code of their own");
                if plan.code.is_none() {
                    assert_eq!(member_rewards, 0, "{ctx}");
                    continue;
                }
                rewarded += 1;
                assert_eq!(member_rewards, 2, "{ctx}: one reward per side");
                for side in Side::BOTH {
                    let reward = h
                        .reward(&plan.account, side)
                        .await
                        .unwrap_or_else(|| panic!("{ctx}: no {side:?} reward"));
                    let expected = match (side, q < at(10, 0)) {
                        (Side::Referrer, true) => "50",
                        (Side::Referrer, false) => "80",
                        (Side::Referee, _) => "100",
                    };
                    assert_eq!(
                        reward.terms.amount,
                        RewardAmount::parse(expected).unwrap(),
                        "{ctx}: {side:?} terms frozen at the qualifying moment"
                    );
                    assert_eq!(reward.qualified_at, q, "{ctx}");
                    assert_eq!(reward.status, RewardStatus::Pending, "{ctx}");
                    expected_rewards.insert(reward.reward_id.to_string());
                }
            }
        }
    }
    let total_rewards: usize = rewards.values().map(Vec::len).sum();
    assert_eq!(total_rewards, expected_rewards.len(), "seed {seed}");
    assert_eq!(
        queued, expected_rewards,
        "seed {seed}: every reward, and only rewards, queued for payout"
    );
    // Referrers' own codes are the 12 seeded ones; everyone else's is from qualifying.
    let personal_codes: usize = codes_by_source.values().sum();
    assert_eq!(personal_codes, REFERRERS + qualified, "seed {seed}");
    println!("{qualified} qualified, {rewarded} rewarded referees, {total_rewards} rewards");
    assert!(
        qualified > members / 2 && rewarded > members / 3,
        "seed {seed}: the population exercises the property"
    );
}

/// A member of the rules property: their plan, their phone and (maybe) their device.
#[derive(Debug)]
struct RulesPlan {
    plan: Plan,
    phone: String,
    device: Option<String>,
}

const CAP: u32 = 4;
/// Days from the code use (day 1, 12:00) to the deadline: about half the members are late.
const DEADLINE_DAYS: u32 = 16;
const PHONES: usize = 160;
const DEVICES: usize = 170;

/// The code use of every member of the rules property; the deadline is DEADLINE_DAYS after.
fn used_at() -> Instant {
    at(1, 12)
}

/// The same population, records and delivery as above, with every reward rule switched on
/// (a cap of 4 per referrer, one reward per phone and per device out of shared pools, a
/// 16-day deadline with members exactly at it and 1 ms past it, review holds by velocity and
/// by amount, milestones 2 and 4): a referrer never passes the cap, a milestone bonus exists
/// exactly when reached, no phone or device is rewarded twice and each refusal names a real
/// reason, the deadline holds at its edges, and nothing HELD is ever queued for payout.
#[tokio::test]
async fn with_every_rule_on_no_cap_phone_device_deadline_or_milestone_is_broken() {
    let seed: u64 = std::env::var("REFERRAL_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let members: usize = std::env::var("REFERRAL_PROPTEST_MEMBERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(220);
    println!(
        "rules property seed = {seed} (replay: REFERRAL_PROPTEST_SEED={seed}), members = {members}"
    );
    let mut rng = StdRng::seed_from_u64(seed);

    let h = Harness::new().await;
    let coin = |amount: &str| RewardTerms {
        reward_type: RewardType::Coin,
        amount: RewardAmount::parse(amount).unwrap(),
    };
    h.set_rules(RewardRules {
        referrer_cap: Some(ReferrerCap {
            max_referees: CAP,
            per: CapScope::Event,
            referee_rewarded_beyond_cap: true,
        }),
        one_reward_per_phone: true,
        one_reward_per_device: true,
        refuse_self_referral: false,
        qualification_days: Some(DEADLINE_DAYS),
        review_hold: Some(ReviewHold {
            referees_per_24h: Some(3),
            amount_at_least: Some(RewardAmount::parse("80").unwrap()),
        }),
        milestones: vec![
            Milestone {
                nth: 2,
                reward: coin("20"),
            },
            Milestone {
                nth: 4,
                reward: coin("40"),
            },
        ],
        claim_days: None,
    })
    .await;
    let mut codes = Vec::new();
    for i in 0..REFERRERS {
        let code = ReferralCode::generate(&mut rng).to_string();
        h.referrer_code(&code, &format!("jk-referrer-{i}")).await;
        codes.push(code);
    }
    let deadline = used_at() + chrono::TimeDelta::days(DEADLINE_DAYS.into());

    let plans: Vec<RulesPlan> = (0..members)
        .map(|i| {
            let mut device_time = rng.random_bool(0.9).then(|| random_time(&mut rng));
            if rng.random_bool(0.1) {
                // At the deadline exactly, or one millisecond past it.
                device_time = Some(if rng.random_bool(0.5) {
                    deadline
                } else {
                    deadline + chrono::TimeDelta::milliseconds(1)
                });
            }
            RulesPlan {
                plan: Plan {
                    account: format!("r-{i}"),
                    code: rng
                        .random_bool(0.85)
                        .then(|| codes[rng.random_range(0..codes.len())].clone()),
                    kyc: rng.random_bool(0.9).then(|| random_time(&mut rng)),
                    device: device_time,
                },
                phone: format!("09{:08}", rng.random_range(0..PHONES)),
                device: rng
                    .random_bool(0.8)
                    .then(|| format!("dev-{}", rng.random_range(0..DEVICES))),
            }
        })
        .collect();
    let mut per_partition: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for p in &plans {
        let (plan, phone) = (&p.plan, Some(p.phone.as_str()));
        let mut events = Vec::new();
        if let Some(code) = &plan.code {
            events.push(registration_of(
                "REFERRAL_CODE_USED",
                &plan.account,
                Some(code),
                phone,
                None,
                used_at(),
            ));
        }
        if let Some(t) = plan.kyc {
            events.push(registration_of(
                "KYC_PASSED",
                &plan.account,
                None,
                phone,
                None,
                t,
            ));
        }
        if let Some(t) = plan.device {
            events.push(registration_of(
                "DEVICE_BOUND",
                &plan.account,
                None,
                phone,
                p.device.as_deref(),
                t,
            ));
        }
        if events.is_empty() {
            events.push(registration_of(
                "KYC_PASSED",
                &plan.account,
                None,
                phone,
                None,
                at(2, 0),
            ));
        }
        deliver_interleaved(&mut rng, &mut per_partition, &plan.account, &events);
    }
    let (batches, total_records) = cut_into_batches(&per_partition, &mut rng);
    let started = std::time::Instant::now();
    let a = h.rules_consumer(TOPIC_REGISTRATION, 16);
    let b = h.rules_consumer(TOPIC_REGISTRATION, 4);
    let Delivered {
        mut queued,
        messages,
        overlapped,
        redelivered,
    } = deliver(&h, &batches, &a, &b, &mut rng, seed).await;
    queued.extend(h.queue.drain().await);
    println!(
        "{total_records} records in {} batches ({overlapped} handled twice at once, {redelivered} \
         redelivered): {} DynamoDB requests, {messages} payout messages, {:.1?}",
        batches.len(),
        h.table.round_trips.get(),
        started.elapsed()
    );

    // The rewards as stored.
    let items = h.scan().await;
    let s = |i: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| {
        i.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let mut all_rewards: HashMap<String, Reward> = HashMap::new();
    for item in items.iter().filter(|i| s(i, "entity") == "Reward") {
        let id = RewardId::parse(s(item, "reward_id")).unwrap();
        let reward = h.table.store.get_reward(&id).await.unwrap().unwrap();
        all_rewards.insert(id.to_string(), reward);
    }
    let stats: HashMap<String, u32> = items
        .iter()
        .filter(|i| s(i, "entity") == "ReferrerStats")
        .map(|i| {
            (
                s(i, "referrer"),
                i["rewarded"].as_n().unwrap().parse().unwrap(),
            )
        })
        .collect();

    let owner = |code: &str| {
        let i = codes.iter().position(|c| c == code).unwrap();
        format!("jk-referrer-{i}")
    };
    let mut referrer_rewards: HashMap<String, u32> = HashMap::new();
    let mut capped_referrers: HashSet<String> = HashSet::new();
    let mut rewarded_phones: HashMap<&str, &str> = HashMap::new();
    let mut rewarded_devices: HashMap<&str, &str> = HashMap::new();
    let mut refused: Vec<(&RulesPlan, RuleReason)> = Vec::new();
    let (mut expired, mut at_edge) = (0, 0);
    for p in &plans {
        let plan = &p.plan;
        let ctx = format!("seed {seed}: {p:?}");
        let member = h
            .member(&plan.account)
            .await
            .unwrap_or_else(|| panic!("{ctx}: no profile"));
        let (Some(q), Some(code)) = (plan.qualified_at(), &plan.code) else {
            assert!(
                h.reward(&plan.account, Side::Referee).await.is_none(),
                "{ctx}"
            );
            continue;
        };
        assert_eq!(member.qualified_at, Some(q), "{ctx}");
        assert!(
            member.own_code.is_some(),
            "{ctx}: a referrer whatever the rules"
        );
        at_edge += usize::from(q == deadline);
        let late = q - used_at() > chrono::TimeDelta::days(DEADLINE_DAYS.into());
        let referee = h.reward(&plan.account, Side::Referee).await;
        let referrer = h.reward(&plan.account, Side::Referrer).await;
        match member.reward_grant.clone() {
            Some(RewardGrant::Withheld { reason, .. }) => {
                assert!(referee.is_none() && referrer.is_none(), "{ctx}");
                assert_eq!(
                    late,
                    reason == RuleReason::QualificationExpired,
                    "{ctx}: {reason:?}"
                );
                expired += usize::from(late);
                refused.push((p, reason));
            }
            Some(RewardGrant::Issued {
                count,
                referrer_withheld,
                ..
            }) => {
                assert!(!late, "{ctx}: rewarded past the deadline");
                let referee = referee.unwrap_or_else(|| panic!("{ctx}: no referee reward"));
                assert_eq!(referee.qualified_at, q, "{ctx}");
                let previous = rewarded_phones.insert(p.phone.as_str(), plan.account.as_str());
                assert_eq!(previous, None, "{ctx}: phone rewarded twice");
                if let Some(device) = &p.device {
                    let previous = rewarded_devices.insert(device.as_str(), plan.account.as_str());
                    assert_eq!(previous, None, "{ctx}: device rewarded twice");
                }
                match referrer_withheld {
                    None => {
                        assert_eq!(count, 2, "{ctx}");
                        assert!(referrer.is_some(), "{ctx}");
                        *referrer_rewards.entry(owner(code)).or_default() += 1;
                    }
                    Some(RuleReason::ReferrerCapReached) => {
                        assert_eq!(count, 1, "{ctx}");
                        assert!(referrer.is_none(), "{ctx}");
                        capped_referrers.insert(owner(code));
                    }
                    Some(other) => panic!("{ctx}: {other:?}"),
                }
            }
            other => panic!("{ctx}: the grant is not decided: {other:?}"),
        }
    }
    // Each refusal names a real reason.
    for (p, reason) in &refused {
        let ctx = format!("seed {seed}: {p:?}");
        match reason {
            RuleReason::QualificationExpired => {}
            RuleReason::PhoneAlreadyRewarded => assert!(
                rewarded_phones
                    .get(p.phone.as_str())
                    .is_some_and(|a| *a != p.plan.account),
                "{ctx}: the phone was not rewarded to anyone else"
            ),
            RuleReason::DeviceAlreadyRewarded => assert!(
                p.device
                    .as_deref()
                    .and_then(|d| rewarded_devices.get(d))
                    .is_some_and(|a| *a != p.plan.account),
                "{ctx}: the device was not rewarded to anyone else"
            ),
            other => panic!("{ctx}: {other:?}"),
        }
    }
    // The cap, the counters and the milestones, per referrer.
    for i in 0..REFERRERS {
        let referrer = format!("jk-referrer-{i}");
        let n = referrer_rewards.get(&referrer).copied().unwrap_or(0);
        assert!(n <= CAP, "seed {seed}: {referrer} has {n} > {CAP}");
        if capped_referrers.contains(&referrer) {
            assert_eq!(n, CAP, "seed {seed}: {referrer} capped below the cap");
        }
        assert_eq!(
            stats.get(&referrer).copied().unwrap_or(0),
            n,
            "seed {seed}: {referrer}'s counter"
        );
        for nth in [2, 4] {
            let id = format!("milestone.{nth}.personal.{referrer}");
            assert_eq!(
                all_rewards.contains_key(&id),
                n >= nth,
                "seed {seed}: {id} with {n} rewarded"
            );
            // Under review holds a bonus always waits for a person: HELD as REVIEW_MILESTONE,
            // whichever other hold applied (docs/rules.md).
            if let Some(bonus) = all_rewards.get(&id) {
                let reason = bonus.reason.as_ref().map(|r| r.as_str());
                assert_eq!(bonus.status, RewardStatus::Held, "seed {seed}: {id}");
                assert_eq!(
                    reason,
                    Some("REVIEW_MILESTONE"),
                    "seed {seed}: {id} held for {reason:?}"
                );
            }
        }
    }
    // Every reward accounted for; nothing HELD queued; every PENDING one queued.
    let expected_total = rewarded_phones.len()
        + referrer_rewards.values().sum::<u32>() as usize
        + referrer_rewards
            .values()
            .map(|n| usize::from(*n >= 2) + usize::from(*n >= 4))
            .sum::<usize>();
    assert_eq!(all_rewards.len(), expected_total, "seed {seed}");
    let pending: HashSet<String> = all_rewards
        .values()
        .filter(|r| r.status == RewardStatus::Pending)
        .map(|r| r.reward_id.to_string())
        .collect();
    let held = all_rewards
        .values()
        .filter(|r| r.status == RewardStatus::Held)
        .count();
    assert_eq!(
        queued, pending,
        "seed {seed}: PENDING rewards, and only those, queued"
    );
    println!(
        "{} rewarded referees, {} referrer rewards ({} referrers capped), {} refused ({expired} \
         past the deadline, {at_edge} exactly at it), {held} held, {} queued",
        rewarded_phones.len(),
        referrer_rewards.values().sum::<u32>(),
        capped_referrers.len(),
        refused.len(),
        pending.len()
    );
    assert!(
        rewarded_phones.len() > members / 8 && !refused.is_empty() && !capped_referrers.is_empty(),
        "seed {seed}: the population exercises the rules"
    );
}
