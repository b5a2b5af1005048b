//! Randomized property test of the funnel counters (ADR 0008) against DynamoDB Local and SQS:
//! whatever the order of a member's events, their duplication (1–3 deliveries each), the way
//! they are cut into batches, batches redelivered or handled by two concurrent invocations,
//! the counters read back through the store port equal, stage by stage and day by day, the
//! ground truth computed from the stored profiles and rewards — for the event and for every
//! code. The population mixes accepted uses, rejected ones (an ended campaign's code, some
//! later replaced by an accepted code: the counter moves), unknown codes (in no funnel) and
//! members who used none; the PERSONAL event counts its days in Asia/Taipei. Then every reward
//! lives on: paid, failed, retried, claimed, expired, approved, rejected — each change asked
//! twice at once, rewards in parallel — and the counters must have followed each change
//! exactly once. One run with no reward rules, one with every rule on (withheld grants, HELD
//! and CLAIMABLE rewards, milestone bonuses).
//!
//! Replay a failure with `REFERRAL_PROPTEST_SEED=<seed printed below> cargo test --test
//! funnel_property` (and `REFERRAL_PROPTEST_MEMBERS` to change the population, default 220).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use referral_shared::contracts::kafka::TOPIC_REGISTRATION;
use referral_shared::store::{DynamoStore, PageRequest, StoreError, prelude::*};
use referral_shared::time::Instant;
use referral_shared::*;
use referral_tests::fixtures::{self, at};
use referral_tests::ingest_support::*;
use referral_tests::workload::{Delivered, cut_into_batches, deliver, deliver_interleaved};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

const REFERRERS: usize = 12;
const ENDED: &str = "ended";
const ENDED_CODE: &str = "END23456";
const UNKNOWN_CODE: &str = "ZZZ23456";

#[derive(Debug)]
struct Member {
    account: String,
    /// A code of the ended campaign used first (rejected: no window active then).
    rejected_first: bool,
    /// The code used (a referrer's, the ended campaign's or an unknown one), if any.
    code: Option<String>,
    kyc: Option<Instant>,
    device: Option<Instant>,
    phone: String,
    device_id: Option<String>,
}

fn random_time(rng: &mut StdRng) -> Instant {
    // Days 2..=23 at any hour: in Asia/Taipei (UTC+8) the hours from 16:00 UTC on are the
    // next day.
    at(rng.random_range(2..=23), rng.random_range(0..24))
}

fn seed_and_members() -> (u64, usize) {
    let seed: u64 = std::env::var("REFERRAL_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let members: usize = std::env::var("REFERRAL_PROPTEST_MEMBERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(220);
    (seed, members)
}

#[tokio::test]
async fn the_funnel_counts_exactly_what_the_stored_items_say() {
    run(false).await;
}

#[tokio::test]
async fn with_every_rule_on_the_funnel_still_counts_exactly() {
    run(true).await;
}

async fn run(rules_on: bool) {
    let (seed, members) = seed_and_members();
    println!(
        "funnel property (rules {rules_on}) seed = {seed} (replay: REFERRAL_PROPTEST_SEED={seed}), \
         members = {members}"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let h = Harness::new().await;
    let store = &h.table.store;
    let personal = EventId::parse(PERSONAL).unwrap();
    let ended = EventId::parse(ENDED).unwrap();

    // The PERSONAL event's days are Taipei's; with the rules run, every rule is on.
    let previous = store.event_config(&personal).await.unwrap().unwrap();
    let mut config = previous.clone();
    config.links.time_zone = EventTimeZone::parse("Asia/Taipei").unwrap();
    if rules_on {
        config.rules = every_rule();
    }
    config.event.updated_at = previous.event.next_version_at(chrono::Utc::now());
    config.validate().unwrap();
    store
        .save_event_config(&config, Some(&previous))
        .await
        .unwrap();
    // A campaign whose only window is over by the time its code is used (days are UTC).
    store
        .put_event(&fixtures::event(ENDED, EventType::Campaign))
        .await
        .unwrap();
    store
        .put_content_window(
            &ended,
            &fixtures::content("old", at(20, 0), at(25, 0), "10"),
        )
        .await
        .unwrap();
    store
        .create_code(&fixtures::code_record(
            ENDED_CODE,
            ENDED,
            "campaign:partner-x",
        ))
        .await
        .unwrap();
    let mut codes = Vec::new();
    for i in 0..REFERRERS {
        let code = ReferralCode::generate(&mut rng).to_string();
        h.referrer_code(&code, &format!("jk-referrer-{i}")).await;
        codes.push(code);
    }

    let population: Vec<Member> = (0..members)
        .map(|i| {
            let code = match rng.random_range(0..100) {
                0..75 => Some(codes[rng.random_range(0..codes.len())].clone()),
                75..83 => Some(ENDED_CODE.to_owned()),
                83..88 => Some(UNKNOWN_CODE.to_owned()),
                _ => None,
            };
            Member {
                account: format!("f-{i}"),
                rejected_first: code.as_deref().is_some_and(|c| c != ENDED_CODE)
                    && rng.random_bool(0.2),
                code,
                kyc: rng.random_bool(0.85).then(|| random_time(&mut rng)),
                device: rng.random_bool(0.85).then(|| random_time(&mut rng)),
                phone: format!("09{:08}", rng.random_range(0..160)),
                device_id: rng
                    .random_bool(0.8)
                    .then(|| format!("dev-{}", rng.random_range(0..170))),
            }
        })
        .collect();
    let mut per_partition: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for m in &population {
        let phone = Some(m.phone.as_str());
        let record = |kind, code: Option<&str>, device: Option<&str>, t| {
            registration_of(kind, &m.account, code, phone, device, t)
        };
        let mut events = Vec::new();
        if m.rejected_first {
            events.push(record(
                "REFERRAL_CODE_USED",
                Some(ENDED_CODE),
                None,
                at(1, 6),
            ));
        }
        if let Some(code) = &m.code {
            events.push(record("REFERRAL_CODE_USED", Some(code), None, at(1, 12)));
        }
        if let Some(t) = m.kyc {
            events.push(record("KYC_PASSED", None, None, t));
        }
        if let Some(t) = m.device {
            events.push(record("DEVICE_BOUND", None, m.device_id.as_deref(), t));
        }
        if events.is_empty() {
            events.push(record("KYC_PASSED", None, None, at(2, 0)));
        }
        deliver_interleaved(&mut rng, &mut per_partition, &m.account, &events);
    }
    let (batches, total_records) = cut_into_batches(&per_partition, &mut rng);
    let (a, b) = if rules_on {
        (
            h.rules_consumer(TOPIC_REGISTRATION, 16),
            h.rules_consumer(TOPIC_REGISTRATION, 4),
        )
    } else {
        (
            h.consumer(TOPIC_REGISTRATION),
            h.consumer_with(TOPIC_REGISTRATION, 4),
        )
    };
    let started = std::time::Instant::now();
    let Delivered {
        overlapped,
        redelivered,
        ..
    } = deliver(&h, &batches, &a, &b, &mut rng, seed).await;
    println!(
        "{total_records} records in {} batches ({overlapped} handled twice at once, \
         {redelivered} redelivered): {} DynamoDB requests, {:.1?}",
        batches.len(),
        h.table.round_trips.get(),
        started.elapsed()
    );

    let applied = change_statuses(store, &mut rng, seed).await;
    println!("status changes applied: {applied:?}");

    // The ground truth: the stages of every stored profile and reward, on their days.
    let configs: HashMap<EventId, EventConfig> = [
        (
            personal.clone(),
            store.event_config(&personal).await.unwrap().unwrap(),
        ),
        (
            ended.clone(),
            store.event_config(&ended).await.unwrap().unwrap(),
        ),
    ]
    .into();
    let day_of = |event: &EventId, t: Instant| configs[event].links.day_of(t);
    let mut truth = FunnelDelta::default();
    let mut count = |s: StageAt| {
        let day = day_of(&s.event_id, s.at);
        truth.add(&s.event_id, &s.code, day, s.stage, 1);
    };
    let (mut replaced, mut stages, mut rewards) = (0, 0, 0);
    for m in &population {
        let profile = h
            .member(&m.account)
            .await
            .unwrap_or_else(|| panic!("seed {seed}: {m:?}: no profile"));
        replaced += usize::from(m.rejected_first && profile.accepted_referral().is_some());
        for s in member_stages(&profile) {
            stages += 1;
            count(s);
        }
    }
    for item in h.scan().await {
        if item
            .get("entity")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            != Some("Reward")
        {
            continue;
        }
        let id = RewardId::parse(item["reward_id"].as_s().unwrap().as_str()).unwrap();
        let reward = store.get_reward(&id).await.unwrap().unwrap();
        rewards += 1;
        let (day, stage) = reward_stage(&reward)
            .unwrap_or_else(|| panic!("seed {seed}: {id} was granted without a funnel day"));
        // Stamped with the creation's day in the event's time zone (Taipei for PERSONAL).
        assert_eq!(
            day,
            day_of(&reward.event_id, reward.created_at),
            "seed {seed}: {id}"
        );
        truth.add(&reward.event_id, &reward.code, day, stage, 1);
    }

    // The counters, read as the routes read them, scope by scope: equal to the truth.
    let mut scopes: Vec<FunnelScope> = vec![
        FunnelScope::Event(personal.clone()),
        FunnelScope::Event(ended.clone()),
        FunnelScope::Code(ended.clone(), ReferralCode::parse(ENDED_CODE).unwrap()),
        FunnelScope::Code(personal.clone(), ReferralCode::parse(UNKNOWN_CODE).unwrap()),
    ];
    scopes.extend(
        codes
            .iter()
            .map(|c| FunnelScope::Code(personal.clone(), ReferralCode::parse(c).unwrap())),
    );
    let mut expected: BTreeMap<FunnelScope, Vec<(Day, StageCounts)>> = BTreeMap::new();
    for (scope, day, counts) in truth.items() {
        assert!(
            scopes.contains(scope),
            "seed {seed}: unexpected scope {scope:?}"
        );
        expected
            .entry(scope.clone())
            .or_default()
            .push((*day, counts.clone()));
    }
    let mut totals: StageCounts = StageCounts::new();
    for scope in &scopes {
        let stored = store
            .funnel_days(scope, Day::FIRST, Day::LAST)
            .await
            .unwrap();
        let want = expected.remove(scope).unwrap_or_default();
        assert_eq!(stored, want, "seed {seed}: {scope:?}");
        if matches!(scope, FunnelScope::Event(_)) {
            for (_, counts) in &stored {
                for (stage, n) in counts {
                    *totals.entry(stage.clone()).or_default() += n;
                }
            }
        }
    }
    println!(
        "{stages} member stages and {rewards} rewards counted; {replaced} rejected uses replaced; \
         event totals {totals:?}"
    );
    // The population exercises the property: accepted and rejected uses, replaced ones,
    // every step, rewards, and with the rules withheld grants and HELD rewards.
    let stage = |name: &str| totals.get(name).copied().unwrap_or_default();
    assert!(stage("uses_accepted") > members as i64 / 2, "seed {seed}");
    assert!(stage("uses_rejected_NO_ACTIVE_WINDOW") > 0, "seed {seed}");
    assert!(replaced > 0, "seed {seed}");
    assert!(stage("qualified") > members as i64 / 3, "seed {seed}");
    assert!(
        totals.keys().any(|k| k.starts_with("rewards_REFEREE_")),
        "seed {seed}"
    );
    // Rewards moved on after their creation, and the counters followed.
    let moved = |status: &str| {
        stage(&format!("rewards_REFEREE_{status}")) + stage(&format!("rewards_REFERRER_{status}"))
    };
    assert!(moved("SUCCESS") > 0 && applied["paid"] > 0, "seed {seed}");
    if !rules_on {
        // Every reward started PENDING: paid, failed, retried.
        assert!(moved("FAIL") > 0 && applied["reopen"] > 0, "seed {seed}");
    }
    if rules_on {
        assert!(
            totals.keys().any(|k| k.starts_with("withheld_")),
            "seed {seed}"
        );
        assert!(
            moved("HELD") + moved("REJECTED") > 0 && applied["approve"] > 0,
            "seed {seed}"
        );
        assert!(
            moved("EXPIRED") > 0 && applied["claim"] > 0 && applied["reject"] > 0,
            "seed {seed}"
        );
    }
}

/// One status change, as its caller asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The payout: finance paid (from PENDING, or from FAIL after a late answer).
    Paid,
    /// The payout: finance refused for good.
    Failed,
    /// The payout: a retryable failure (the status stays PENDING: no count moves).
    Attempt,
    /// The admin's retry of a FAIL reward.
    Reopen,
    /// The payee's claim, before the deadline.
    Claim,
    /// The sweeper, at the deadline.
    Expire,
    Approve,
    Reject,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Paid => "paid",
            Step::Failed => "failed",
            Step::Attempt => "attempt",
            Step::Reopen => "reopen",
            Step::Claim => "claim",
            Step::Expire => "expire",
            Step::Approve => "approve",
            Step::Reject => "reject",
        }
    }
}

/// The lives of rewards starting in `status`, handed out in turn (the first ones first, so
/// that even a few rewards meet the changes the property needs): steps that apply, and some
/// that the lifecycle refuses by then (a claim after the expiry, an approval after the
/// rejection, a failure after the payment).
fn lives(status: RewardStatus) -> &'static [&'static [Step]] {
    use self::Step::*;
    match status {
        RewardStatus::Pending => &[
            &[Failed, Reopen, Paid],
            &[Paid],
            &[Failed],
            &[Attempt, Paid],
            &[Failed, Paid],
            &[Paid, Failed],
            &[],
        ],
        RewardStatus::Held => &[
            &[Approve, Paid],
            &[Reject],
            &[Reject, Approve],
            &[Approve],
            &[],
        ],
        RewardStatus::Claimable => &[
            &[Claim, Paid],
            &[Expire, Claim],
            &[Claim, Failed],
            &[Expire],
            &[Claim],
            &[],
        ],
        _ => &[&[]],
    }
}

/// Moves every stored reward along a life, in random order, the way payouts, members, admins and the
/// sweeper do: each step asked twice at once (a duplicated message, a double click) with the
/// reward as read before the life began (stale after the first step: the store reads it
/// again), 16 rewards at a time (their counter items are shared). A status change applies at
/// most once of the two; the counters must follow every change exactly once. Returns how many
/// calls applied, per step.
async fn change_statuses(
    store: &DynamoStore,
    rng: &mut StdRng,
    seed: u64,
) -> BTreeMap<&'static str, usize> {
    use futures::StreamExt;
    use rand::seq::SliceRandom;
    let mut planned = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    for status in [
        RewardStatus::Pending,
        RewardStatus::Held,
        RewardStatus::Claimable,
    ] {
        let mut turn = 0;
        loop {
            let found = store.rewards_by_status(status, page).await.unwrap();
            for reward in found.items {
                let life = lives(status);
                planned.push((reward, life[turn % life.len()].to_vec()));
                turn += 1;
            }
            match found.next {
                Some(cursor) => page = PageRequest::after(PageRequest::MAX_LIMIT, cursor),
                None => break,
            }
        }
        page = PageRequest::first(PageRequest::MAX_LIMIT);
    }
    planned.shuffle(rng);
    let applied: Vec<Vec<(Step, usize)>> = futures::stream::iter(planned)
        .map(|(read, steps)| async move {
            let mut out = Vec::new();
            for step in steps {
                let (a, b) = tokio::join!(apply(store, &read, step), apply(store, &read, step));
                let ok = usize::from(a) + usize::from(b);
                if step != Step::Attempt {
                    assert!(
                        ok <= 1,
                        "seed {seed}: {step:?} of {} applied twice",
                        read.reward_id
                    );
                }
                out.push((step, ok));
            }
            out
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut counts: BTreeMap<&'static str, usize> = [
        Step::Paid,
        Step::Failed,
        Step::Attempt,
        Step::Reopen,
        Step::Claim,
        Step::Expire,
        Step::Approve,
        Step::Reject,
    ]
    .into_iter()
    .map(|s| (s.name(), 0))
    .collect();
    for (step, ok) in applied.into_iter().flatten() {
        *counts.get_mut(step.name()).unwrap() += ok;
    }
    counts
}

/// One call of `step` on `read`: true if it applied, false if the lifecycle refused it. A
/// call that kept meeting concurrent transactions (Unavailable) is asked again, as its caller
/// would (a payout message comes back, an admin clicks again).
async fn apply(store: &DynamoStore, read: &Reward, step: Step) -> bool {
    let id = &read.reward_id;
    let now = chrono::Utc::now();
    let reason = ReasonCode::parse("FRAUD_RING").unwrap();
    loop {
        let result = match step {
            Step::Paid => store.mark_reward_paid(read, "cmp-1", now).await,
            Step::Failed => {
                store
                    .record_payout_failure(read, "finance 422", true, now)
                    .await
            }
            Step::Attempt => {
                store
                    .record_payout_failure(read, "finance 503", false, now)
                    .await
            }
            Step::Reopen => store.reopen_failed_reward(id, now).await,
            Step::Claim => store.claim_reward(read, now).await,
            Step::Expire => {
                store
                    .expire_reward(read, read.claim_deadline.unwrap())
                    .await
            }
            Step::Approve => store.approve_reward(id, "admin@example.com", now).await,
            Step::Reject => {
                store
                    .reject_reward(id, &reason, "admin@example.com", now)
                    .await
            }
        };
        match result {
            Ok(()) => return true,
            Err(StoreError::Conflict { .. }) => return false,
            Err(StoreError::Unavailable { .. }) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{step:?} of {id}: {e}"),
        }
    }
}

/// Every reward rule on, as in `consumers_property.rs`'s rules run.
fn every_rule() -> RewardRules {
    let coin = |amount: &str| RewardTerms {
        reward_type: RewardType::Coin,
        amount: RewardAmount::parse(amount).unwrap(),
    };
    RewardRules {
        referrer_cap: Some(ReferrerCap {
            max_referees: 4,
            per: CapScope::Event,
            referee_rewarded_beyond_cap: true,
        }),
        one_reward_per_phone: true,
        one_reward_per_device: true,
        refuse_self_referral: false,
        qualification_days: Some(16),
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
        // The rewards not HELD are CLAIMABLE, to be claimed or expired.
        claim_days: Some(7),
    }
}
