//! Randomized property test of the registration consumer against DynamoDB Local and SQS:
//! whatever the order of a member's events, their duplication (1–3 deliveries each), the way
//! they are cut into batches, batches redelivered or handled by two concurrent invocations,
//! every qualified member ends with exactly one code of their own and every qualified referee
//! with exactly one reward per side, with the terms of the window of the qualifying moment.
//!
//! Replay a failure with `REFERRAL_PROPTEST_SEED=<seed printed below> cargo test --test
//! consumers_property` (and `REFERRAL_PROPTEST_MEMBERS` to change the population, default 220).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use referral_devkit::msk::{self, Outgoing};
use referral_shared::contracts::kafka::{TOPIC_MEMBER_INFO, TOPIC_REGISTRATION};
use referral_shared::time::Instant;
use referral_shared::*;
use referral_tests::fixtures::at;
use referral_tests::ingest_support::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

const PARTITIONS: i64 = 3;
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
        let mut deliveries: Vec<Value> = events
            .iter()
            .flat_map(|e| std::iter::repeat_n(e.clone(), rng.random_range(1..=3)))
            .collect();
        deliveries.shuffle(&mut rng);
        // Interleave members on a partition: insert this member's deliveries at random
        // positions, keeping their relative order.
        let stream = per_partition
            .entry(msk::partition_for(&plan.account, PARTITIONS))
            .or_default();
        let mut positions: Vec<usize> = (0..deliveries.len())
            .map(|_| rng.random_range(0..=stream.len()))
            .collect();
        positions.sort();
        for (shift, (pos, value)) in positions.into_iter().zip(deliveries).enumerate() {
            stream.insert(pos + shift, value);
        }
        // Every planned member has at least one record (a member with none has no profile;
        // without this, ~15% of seeds drew one and failed the profile check below).
        if events.is_empty() || rng.random_bool(0.5) {
            info.push(member_info(&plan.account, at(1, 0)));
        }
    }

    // Cut every partition into chunks; a batch takes the next chunk of some partitions.
    let mut chunks: BTreeMap<i64, Vec<Vec<Outgoing>>> = BTreeMap::new();
    let mut total_records = 0;
    for (partition, values) in &per_partition {
        let records: Vec<Outgoing> = values
            .iter()
            .enumerate()
            .map(|(offset, v)| Outgoing::json(TOPIC_REGISTRATION, *partition, offset as i64, v))
            .collect();
        total_records += records.len();
        let mut rest = records.as_slice();
        let list = chunks.entry(*partition).or_default();
        while !rest.is_empty() {
            let n = rng.random_range(1..=rest.len().min(120));
            list.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
    }
    let mut batches: Vec<Vec<Outgoing>> = Vec::new();
    let mut cursors: BTreeMap<i64, usize> = chunks.keys().map(|p| (*p, 0)).collect();
    while cursors.iter().any(|(p, i)| *i < chunks[p].len()) {
        let mut batch = Vec::new();
        for (p, i) in cursors.iter_mut() {
            if *i < chunks[p].len() && rng.random_bool(0.6) {
                batch.extend(chunks[p][*i].clone());
                *i += 1;
            }
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
    }

    let started = std::time::Instant::now();
    let a = h.consumer(TOPIC_REGISTRATION);
    let b = h.consumer_with(TOPIC_REGISTRATION, 4);
    let (mut overlapped, mut redelivered) = (0, 0);
    // Drained after every batch: moto's ReceiveMessage slows down with the queue's length.
    let mut queued: HashSet<String> = HashSet::new();
    let mut messages = 0;
    for (i, batch) in batches.iter().enumerate() {
        let event = msk::event(batch);
        if rng.random_bool(0.3) {
            // Two invocations hold the same batch at once (a retry racing a slow original).
            let (ra, rb) = tokio::join!(a.handle(&event), b.handle(&event));
            ra.unwrap_or_else(|e| panic!("seed {seed}: batch {i}: {e}"));
            rb.unwrap_or_else(|e| panic!("seed {seed}: batch {i}: {e}"));
            overlapped += 1;
        } else {
            a.handle(&event)
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: batch {i}: {e}"));
        }
        if i > 0 && rng.random_bool(0.15) {
            // An earlier batch delivered again.
            let again = msk::event(&batches[rng.random_range(0..i)]);
            b.handle(&again)
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: redelivery: {e}"));
            redelivered += 1;
        }
        let drained = h.queue.drain().await;
        messages += drained.len();
        queued.extend(drained);
    }
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
