//! The payout's central property under a hostile finance module: 30% of calls fail with a
//! 500 and another 10% commit the payment and then time out. 500 rewards, delivered by SQS
//! to three concurrent "Lambda instances", all end SUCCESS, finance holds exactly 500
//! distinct payments (one per reward, with the reward's terms), and none was paid twice.
//!
//! The stand-in's dice are seeded (`REFERRAL_PAYOUT_SEED`, printed) so a failure replays.

use referral_partners::Knobs;
use referral_shared::store::{PageRequest, prelude::*};
use referral_shared::*;
use referral_tests::payout_support::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const REWARDS: usize = 500;

#[tokio::test]
async fn flaky_finance_pays_every_reward_exactly_once() {
    let seed: u64 = std::env::var("REFERRAL_PAYOUT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("REFERRAL_PAYOUT_SEED={seed}");
    // 20 receives before FAIL: at 40% failures per attempt a reward fails 20 times in a row
    // with probability 0.4^20 ≈ 1e-8; with the template's 5 it would be 1% (see the note).
    let bench = Bench::with(Options {
        max_receives: 20,
        finance_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let stand_in = &bench.partners.stand_in;
    let rewards = bench.rewards(REWARDS).await;
    stand_in.reseed(seed);
    stand_in.set_finance(Knobs {
        error_rate: 0.3,
        commit_then_timeout_rate: 0.1,
        hang_ms: Some(2_000),
        ..Knobs::default()
    });
    bench.enqueue(&rewards).await;
    let started = std::time::Instant::now();
    let invocations = bench.run_until_empty(3, Duration::from_secs(600)).await;
    println!(
        "{REWARDS} rewards paid in {:.1} s, {invocations} invocations",
        started.elapsed().as_secs_f64()
    );

    // Every reward SUCCESS (none FAIL, none PENDING), through the status index too.
    let mut by_status: HashMap<RewardStatus, usize> = HashMap::new();
    for r in &rewards {
        let stored = bench.reward(&r.reward_id).await;
        *by_status.entry(stored.status).or_default() += 1;
        assert!(stored.compensation_id.is_some());
    }
    assert_eq!(
        by_status.get(&RewardStatus::Success),
        Some(&REWARDS),
        "{by_status:?}"
    );
    let pending = bench
        .store()
        .rewards_by_status(RewardStatus::Pending, PageRequest::first(10))
        .await
        .unwrap();
    assert!(pending.items.is_empty());

    // Finance: exactly one payment per reward, with that reward's member, type and amount.
    let payments = stand_in.payments();
    assert_eq!(payments.len(), REWARDS);
    let expected: HashMap<&str, &Reward> =
        rewards.iter().map(|r| (r.reward_id.as_str(), r)).collect();
    let mut keys = HashSet::new();
    for p in &payments {
        assert!(
            keys.insert(p.idempotency_key.clone()),
            "paid twice: {}",
            p.idempotency_key
        );
        let reward = expected[p.idempotency_key.as_str()];
        assert_eq!(p.body["member_jkos_id"], reward.member_jkos_id.as_str());
        assert_eq!(p.body["reward_type"], reward.terms.reward_type.as_str());
        assert_eq!(
            p.body["amount"],
            serde_json::to_value(reward.terms.amount).unwrap()
        );
    }
    // The compensation id recorded on each reward is finance's for that key.
    for p in &payments {
        let id = RewardId::parse(&p.idempotency_key).unwrap();
        assert_eq!(
            bench.reward(&id).await.compensation_id.as_deref(),
            Some(p.compensation_id.as_str())
        );
    }

    // The failures really happened, and were retried with the same key.
    let calls = stand_in.finance_calls();
    let count = |o: &str| calls.iter().filter(|c| c.outcome == o).count();
    println!(
        "finance calls: {} (paid {}, replayed {}, injected_500 {}, commit_then_timeout {})",
        calls.len(),
        count("paid"),
        count("replayed"),
        count("injected_500"),
        count("commit_then_timeout")
    );
    assert!(
        count("injected_500") > REWARDS / 10,
        "failures were injected"
    );
    assert!(
        count("commit_then_timeout") > REWARDS / 50,
        "commit-then-timeouts were injected"
    );
    assert!(
        count("replayed") > 0,
        "a committed payment was asked for again and replayed"
    );
    assert_eq!(count("conflict"), 0);
    assert_eq!(bench.depth(&bench.dlq_url).await, 0);
}
