//! The claim step's and the review hold's property, randomized: 240 rewards of 201 members
//! start HELD, CLAIMABLE (deadline passed or not) or PENDING; claims by their payee and by
//! other members, approvals, rejections, stray payout messages and sweeps arrive in random
//! order, duplicated, in concurrent batches; then the payout drains the queue. Whatever the
//! order: no reward is paid twice; a HELD or CLAIMABLE reward is paid if and only if an
//! approval or a claim of it succeeded; a rejected or expired one never; a member can never
//! claim (404) or list another member's reward.
//!
//! The dice are seeded (`REFERRAL_LIFECYCLE_SEED`, printed) so a failure replays.

use axum::Router;
use futures::future::join_all;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use referral_shared::queue::SqsPayoutQueue;
use referral_shared::store::prelude::*;
use referral_shared::*;
use referral_tests::http_support::{Api, admin, call, member};
use referral_tests::payout_support::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const REFEREES: usize = 200;
const REFERRER_REWARDS: usize = 40;
const BATCH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Start {
    Pending,
    Held,
    ClaimableOpen,
    ClaimableLate,
}

#[derive(Debug, Clone)]
enum Action {
    Claim { reward: usize, by: String },
    Approve(usize),
    Reject(usize),
    Stray(usize),
    Sweep,
}

#[derive(Debug, Default, Clone)]
struct Seen {
    claimed: bool,
    approved: bool,
    rejected: bool,
}

#[tokio::test]
async fn held_and_claimable_rewards_are_paid_once_after_approval_or_claim_and_never_otherwise() {
    let seed: u64 = std::env::var("REFERRAL_LIFECYCLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("REFERRAL_LIFECYCLE_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let bench = Bench::new().await;
    let queue = || SqsPayoutQueue::new(bench.sqs.clone(), &bench.queue_url);
    let (app, admin_api) = Api::routers_over(&bench.table, queue());
    let now = chrono::Utc::now();

    // The rewards: REFEREE rewards of m0..m199 (payee jk-m<i>) and REFERRER rewards of the
    // first 40 referees (payee jk-referrer).
    let mut rewards: Vec<(Reward, Start)> = Vec::new();
    let sides = (0..REFEREES)
        .map(|i| (i, Side::Referee))
        .chain((0..REFERRER_REWARDS).map(|i| (i, Side::Referrer)));
    for (i, side) in sides {
        let start = match rng.random_range(0..10) {
            0..=2 => Start::Pending,
            3..=5 => Start::Held,
            6..=8 => Start::ClaimableOpen,
            _ => Start::ClaimableLate,
        };
        let begin = match start {
            Start::Pending => RewardStart::Pending,
            Start::Held => RewardStart::Held(ReasonCode::review_amount()),
            // Far from the test's own clock on either side: no claim lands on the edge (the
            // edges have their own test).
            Start::ClaimableOpen => RewardStart::Claimable {
                deadline: now + chrono::Duration::hours(1),
            },
            Start::ClaimableLate => RewardStart::Claimable {
                deadline: now - chrono::Duration::seconds(1),
            },
        };
        let reward = reward_starting(&format!("m{i}"), side, begin);
        bench.store().create_reward(&reward).await.unwrap();
        rewards.push((reward, start));
    }
    let payees: Vec<String> = rewards
        .iter()
        .map(|(r, _)| r.member_jkos_id.to_string())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    assert!(payees.len() > 200, "{} members", payees.len());

    // The inputs: for each reward 1 to 4 random ones, duplicates allowed; some sweeps.
    let mut actions = Vec::new();
    for (k, (reward, _)) in rewards.iter().enumerate() {
        for _ in 0..rng.random_range(1..=4) {
            actions.push(match rng.random_range(0..6) {
                0 | 1 => Action::Claim {
                    reward: k,
                    by: reward.member_jkos_id.to_string(),
                },
                2 => {
                    let other = payees[rng.random_range(0..payees.len())].clone();
                    Action::Claim {
                        reward: k,
                        by: other,
                    }
                }
                3 => Action::Approve(k),
                4 => Action::Reject(k),
                _ => Action::Stray(k),
            });
        }
    }
    for _ in 0..6 {
        actions.push(Action::Sweep);
    }
    actions.shuffle(&mut rng);
    println!("{} rewards, {} inputs", rewards.len(), actions.len());

    let mut seen: Vec<Seen> = vec![Seen::default(); rewards.len()];
    let mut bola_checked = 0;
    for batch in actions.chunks(BATCH) {
        let results = join_all(
            batch
                .iter()
                .map(|action| run(action, &rewards, &app, &admin_api, &bench, queue())),
        )
        .await;
        for (action, result) in batch.iter().zip(results) {
            match (action, result) {
                (Action::Claim { reward, by }, Outcome::Http(status, code)) => {
                    let owner = rewards[*reward].0.member_jkos_id.as_str();
                    if by != owner {
                        assert_eq!(status, 404, "{by} claimed {owner}'s reward (seed {seed})");
                        bola_checked += 1;
                    } else if status == 202 {
                        seen[*reward].claimed = true;
                    } else {
                        assert_eq!(status, 409, "claim: {code} (seed {seed})");
                    }
                }
                (Action::Approve(k), Outcome::Http(status, code)) => match status {
                    202 => seen[*k].approved = true,
                    409 => assert!(
                        ["already_reviewed", "not_held"].contains(&code.as_str()),
                        "{code} (seed {seed})"
                    ),
                    other => panic!("approve answered {other} {code} (seed {seed})"),
                },
                (Action::Reject(k), Outcome::Http(status, code)) => match status {
                    200 => seen[*k].rejected = true,
                    409 => assert!(
                        ["already_reviewed", "not_held"].contains(&code.as_str()),
                        "{code} (seed {seed})"
                    ),
                    other => panic!("reject answered {other} {code} (seed {seed})"),
                },
                _ => {}
            }
        }
    }
    // Then the payout drains the queue, a last sweep expires what is due, and a stray
    // message for every reward is delivered once more.
    bench.run_until_empty(2, Duration::from_secs(120)).await;
    referral_shared::sweeper::sweep(
        bench.store(),
        &queue(),
        chrono::Utc::now(),
        chrono::Duration::minutes(15),
        10_000,
    )
    .await
    .unwrap();
    let all: Vec<Reward> = rewards.iter().map(|(r, _)| r.clone()).collect();
    bench.enqueue(&all).await;
    bench.run_until_empty(2, Duration::from_secs(120)).await;

    let mut payments: HashMap<String, usize> = HashMap::new();
    for p in bench.partners.stand_in.payments() {
        *payments.entry(p.idempotency_key).or_default() += 1;
    }
    let mut tally: HashMap<(Start, RewardStatus), usize> = HashMap::new();
    for (k, (reward, start)) in rewards.iter().enumerate() {
        let stored = bench.reward(&reward.reward_id).await;
        let paid = payments
            .get(reward.reward_id.as_str())
            .copied()
            .unwrap_or(0);
        let ctx = format!(
            "{} {start:?} {:?} {stored:?} (seed {seed})",
            reward.reward_id, seen[k]
        );
        *tally.entry((*start, stored.status)).or_default() += 1;
        assert!(paid <= 1, "paid twice: {ctx}");
        assert_eq!(paid == 1, stored.status == RewardStatus::Success, "{ctx}");
        let s = &seen[k];
        match start {
            // A stray message was delivered to every reward at the end: paid once.
            Start::Pending => assert_eq!(paid, 1, "{ctx}"),
            Start::Held => {
                assert!(!(s.approved && s.rejected), "two decisions won: {ctx}");
                assert!(!s.claimed, "{ctx}");
                let expected = if s.approved {
                    RewardStatus::Success
                } else if s.rejected {
                    RewardStatus::Rejected
                } else {
                    RewardStatus::Held
                };
                assert_eq!(stored.status, expected, "{ctx}");
            }
            Start::ClaimableOpen => {
                assert!(!s.approved && !s.rejected, "{ctx}");
                let expected = if s.claimed {
                    RewardStatus::Success
                } else {
                    RewardStatus::Claimable
                };
                assert_eq!(stored.status, expected, "{ctx}");
            }
            Start::ClaimableLate => {
                assert!(!s.claimed && !s.approved && !s.rejected, "{ctx}");
                assert_eq!(stored.status, RewardStatus::Expired, "{ctx}");
            }
        }
    }
    let mut tally: Vec<_> = tally.into_iter().collect();
    tally.sort_by_key(|((start, status), _)| (format!("{start:?}"), status.as_str()));
    println!("(start, end) counts: {tally:?}; {bola_checked} claims of others' rewards: all 404");

    // Listings: each member sees exactly their own rewards.
    let mut owners: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (r, _) in &rewards {
        owners
            .entry(r.member_jkos_id.as_str())
            .or_default()
            .insert(r.reward_id.as_str());
    }
    for jkos in payees
        .iter()
        .take(30)
        .chain(std::iter::once(&"jk-referrer".to_owned()))
    {
        let mut listed = HashSet::new();
        let mut path = "/v1/referral/rewards?limit=50".to_owned();
        loop {
            let page = call(&app, "GET", &path, None, member(jkos)).await;
            assert_eq!(page.status, 200);
            for row in page.body["items"].as_array().unwrap() {
                listed.insert(row["reward_id"].as_str().unwrap().to_owned());
            }
            match page.body["next_cursor"].as_str() {
                Some(c) => path = format!("/v1/referral/rewards?limit=50&cursor={c}"),
                None => break,
            }
        }
        let expected: HashSet<String> = owners[jkos.as_str()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(listed, expected, "{jkos} (seed {seed})");
    }
}

enum Outcome {
    Http(u16, String),
    Done,
}

async fn run(
    action: &Action,
    rewards: &[(Reward, Start)],
    app: &Router,
    admin_api: &Router,
    bench: &Bench,
    queue: SqsPayoutQueue,
) -> Outcome {
    let id = |k: usize| rewards[k].0.reward_id.as_str();
    let answer = match action {
        Action::Claim { reward, by } => {
            let path = format!("/v1/referral/rewards/{}/claim", id(*reward));
            call(app, "POST", &path, None, member(by)).await
        }
        Action::Approve(k) => {
            let path = format!("/admin/v1/rewards/{}/approve", id(*k));
            call(admin_api, "POST", &path, None, admin()).await
        }
        Action::Reject(k) => {
            let path = format!("/admin/v1/rewards/{}/reject", id(*k));
            let body = r#"{"reason":"REJECTED_BY_ADMIN"}"#;
            call(admin_api, "POST", &path, Some(body), admin()).await
        }
        Action::Stray(k) => {
            bench.enqueue(std::slice::from_ref(&rewards[*k].0)).await;
            return Outcome::Done;
        }
        Action::Sweep => {
            referral_shared::sweeper::sweep(
                bench.store(),
                &queue,
                chrono::Utc::now(),
                chrono::Duration::minutes(15),
                10_000,
            )
            .await
            .unwrap();
            return Outcome::Done;
        }
    };
    let code = answer.body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Outcome::Http(answer.status.as_u16(), code)
}
