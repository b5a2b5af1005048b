//! The claim step and the review hold end to end, on DynamoDB Local, moto's SQS and the
//! finance stand-in: HELD and CLAIMABLE rewards (created through the store's fixture, as the
//! qualification creates them) are never paid by a stray payout message or the sweeper, and
//! are paid exactly once after an approval or a claim; a rejected or expired reward never is.
//! The routes are the app and admin routers, sending to the payout bench's queue.

use axum::Router;
use referral_shared::queue::SqsPayoutQueue;
use referral_shared::store::{PageRequest, StoreError, prelude::*};
use referral_shared::sweeper;
use referral_shared::*;
use referral_tests::http_support::{Api, admin, call, member};
use referral_tests::payout_support::*;
use serde_json::{Value, json};
use std::time::Duration;

struct Lifecycle {
    bench: Bench,
    app: Router,
    admin: Router,
}

impl Lifecycle {
    async fn new() -> Lifecycle {
        let bench = Bench::new().await;
        let (app, admin) = Api::routers_over(&bench.table, bench_queue(&bench));
        Lifecycle { bench, app, admin }
    }

    async fn create(&self, account: &str, side: Side, start: RewardStart) -> Reward {
        let reward = reward_starting(account, side, start);
        self.bench.store().create_reward(&reward).await.unwrap();
        reward
    }

    /// Payments finance made for `reward` (the idempotency key is the reward id).
    fn payments(&self, reward: &Reward) -> usize {
        self.bench
            .partners
            .stand_in
            .payments()
            .iter()
            .filter(|p| p.idempotency_key == reward.reward_id.as_str())
            .count()
    }

    /// Runs the payout until the queue is empty.
    async fn pay_everything_queued(&self) {
        self.bench.run_until_empty(1, Duration::from_secs(30)).await;
    }

    /// One sweep as the schedule runs it, at `now`.
    async fn sweep(&self, now: time::Instant) -> sweeper::SweepReport {
        sweeper::sweep(
            self.bench.store(),
            &bench_queue(&self.bench),
            now,
            chrono::Duration::minutes(15),
            1000,
        )
        .await
        .unwrap()
    }
}

fn bench_queue(bench: &Bench) -> SqsPayoutQueue {
    SqsPayoutQueue::new(bench.sqs.clone(), &bench.queue_url)
}

fn claimable(deadline: time::Instant) -> RewardStart {
    RewardStart::Claimable { deadline }
}

fn held() -> RewardStart {
    RewardStart::Held(ReasonCode::review_velocity())
}

fn claim_path(reward: &Reward) -> String {
    format!("/v1/referral/rewards/{}/claim", reward.reward_id)
}

#[tokio::test]
async fn a_claimed_reward_is_paid_exactly_once_and_never_before_the_claim() {
    let t = Lifecycle::new().await;
    let deadline = chrono::Utc::now() + chrono::Duration::days(7);
    // The payee of a REFEREE reward is the referee: jk-<account>.
    let reward = t.create("acc-1", Side::Referee, claimable(deadline)).await;
    let me = member("jk-acc-1");

    // Before the claim: a stray message and the sweeper pay nothing and change nothing.
    t.bench.enqueue(std::slice::from_ref(&reward)).await;
    t.pay_everything_queued().await;
    let swept = t
        .sweep(chrono::Utc::now() + chrono::Duration::hours(1))
        .await;
    assert_eq!((swept.queued, swept.expired), (0, 0));
    assert_eq!(t.bench.depth(&t.bench.queue_url).await, 0);
    let still = t.bench.reward(&reward.reward_id).await;
    assert_eq!(still.status, RewardStatus::Claimable);
    assert_eq!(still.attempts, 0);
    assert_eq!(t.payments(&reward), 0);

    // My rewards show it as claimable now, with its deadline.
    let mine = call(&t.app, "GET", "/v1/referral/rewards", None, me.clone()).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    let row = &mine.body["items"][0];
    assert_eq!(row["reward_id"], reward.reward_id.as_str());
    assert_eq!(row["status"], "CLAIMABLE");
    assert_eq!(row["claimable_now"], true);
    assert_eq!(
        row["claim_deadline"],
        time::format(&reward.claim_deadline.unwrap())
    );
    assert_eq!(
        row["referee_phone"],
        Value::Null,
        "my own number is not repeated"
    );

    // The claim: 202, PENDING, one message; GetItem + the conditional UpdateItem.
    let (claimed, trips) = t
        .bench
        .table
        .round_trips
        .during(call(&t.app, "POST", &claim_path(&reward), None, me.clone()))
        .await;
    assert_eq!(claimed.status, 202, "{}", claimed.body);
    assert_eq!(trips, 2, "DynamoDB round trips of a claim");
    assert_eq!(claimed.body["status"], "PENDING");
    let claimed_at = claimed.body["claimed_at"].clone();
    assert!(claimed_at.is_string());
    // Claimed again before the payout: the same answer, queued again (paid once anyway).
    let again = call(&t.app, "POST", &claim_path(&reward), None, me.clone()).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.body, claimed.body);
    assert_eq!(t.bench.depth(&t.bench.queue_url).await, 2);

    t.pay_everything_queued().await;
    let paid = t.bench.reward(&reward.reward_id).await;
    assert_eq!(paid.status, RewardStatus::Success);
    assert_eq!(t.payments(&reward), 1, "paid exactly once");
    assert_eq!(time::format(&paid.claimed_at.unwrap()), claimed_at);

    // After the payout: still the same success, now SUCCESS, and no message.
    let after = call(&t.app, "POST", &claim_path(&reward), None, me.clone()).await;
    assert_eq!(after.status, 202);
    assert_eq!(after.body["status"], "SUCCESS");
    assert_eq!(after.body["claimed_at"], claimed_at);
    assert_eq!(t.bench.depth(&t.bench.queue_url).await, 0);
    // A redelivered message is a duplicate: still one payment.
    t.bench.enqueue(std::slice::from_ref(&reward)).await;
    t.pay_everything_queued().await;
    assert_eq!(t.payments(&reward), 1);
}

#[tokio::test]
async fn a_member_can_neither_claim_nor_see_another_members_reward() {
    let t = Lifecycle::new().await;
    let deadline = chrono::Utc::now() + chrono::Duration::days(7);
    let theirs = t.create("acc-2", Side::Referee, claimable(deadline)).await;
    let mine = t.create("acc-1", Side::Referee, claimable(deadline)).await;

    // Another member's reward answers exactly like one that does not exist.
    let bola = call(
        &t.app,
        "POST",
        &claim_path(&theirs),
        None,
        member("jk-acc-1"),
    )
    .await;
    let missing = call(
        &t.app,
        "POST",
        "/v1/referral/rewards/acc-zz-referee/claim",
        None,
        member("jk-acc-1"),
    )
    .await;
    assert_eq!(bola.status, 404);
    assert_eq!(bola.body, missing.body);
    assert!(!bola.body.to_string().contains("acc-2"), "{}", bola.body);
    assert_eq!(
        t.bench.reward(&theirs.reward_id).await.status,
        RewardStatus::Claimable
    );
    assert_eq!(t.bench.depth(&t.bench.queue_url).await, 0);

    // The referrer (jk-referrer) of both cannot claim the referees' rewards either.
    let referrer = call(
        &t.app,
        "POST",
        &claim_path(&mine),
        None,
        member("jk-referrer"),
    )
    .await;
    assert_eq!(referrer.status, 404);

    // My listing holds my reward only; another member's cursor is refused.
    let listed = call(
        &t.app,
        "GET",
        "/v1/referral/rewards",
        None,
        member("jk-acc-1"),
    )
    .await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reward_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.reward_id.as_str()]);
    // The referee acc-2 sees theirs, unchanged and unclaimed.
    let theirs_listed = call(
        &t.app,
        "GET",
        "/v1/referral/rewards",
        None,
        member("jk-acc-2"),
    )
    .await;
    assert_eq!(theirs_listed.body["items"][0]["status"], "CLAIMABLE");
    assert_eq!(theirs_listed.body["items"][0]["claimed_at"], Value::Null);
}

#[tokio::test]
async fn my_rewards_as_referrer_and_as_referee_page_through_one_query_each() {
    let t = Lifecycle::new().await;
    let deadline = chrono::Utc::now() + chrono::Duration::days(7);
    // jk-referrer invited acc-1 and acc-2 (REFERRER rewards are theirs) and joined with a code
    // themselves as account "referrer" (its REFEREE reward is theirs too).
    let as_referrer_1 = t.create("acc-1", Side::Referrer, held()).await;
    let as_referrer_2 = t
        .create("acc-2", Side::Referrer, RewardStart::Pending)
        .await;
    let as_referee = t
        .create("referrer", Side::Referee, claimable(deadline))
        .await;
    // Not theirs: the referees' own rewards.
    t.create("acc-1", Side::Referee, RewardStart::Pending).await;
    t.create("acc-2", Side::Referee, claimable(deadline)).await;
    // jk-referrer's own profile shares their GSI3 partition (sorting first, `#PROFILE`): the
    // key condition keeps it out of every page.
    let own_profile = referral_tests::fixtures::referee("referrer", "AB2CD3", "jk-someone");
    assert_eq!(own_profile.jkos_id.as_str(), "jk-referrer");
    t.bench.table.store.put_member(&own_profile).await.unwrap();

    let mut seen: Vec<Value> = Vec::new();
    let mut path = "/v1/referral/rewards?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (answer, trips) = t
            .bench
            .table
            .round_trips
            .during(call(&t.app, "GET", &path, None, member("jk-referrer")))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(trips, 1, "one Query page per request");
        assert!(!answer.body.to_string().contains(PHONE), "{}", answer.body);
        pages += 1;
        seen.extend(answer.body["items"].as_array().unwrap().iter().cloned());
        match answer.body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/referral/rewards?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    let mut ids: Vec<&str> = seen
        .iter()
        .map(|r| r["reward_id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = [
        as_referrer_1.reward_id.as_str(),
        as_referrer_2.reward_id.as_str(),
        as_referee.reward_id.as_str(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    let row = |id: &RewardId| {
        seen.iter()
            .find(|r| r["reward_id"] == id.as_str())
            .unwrap()
            .clone()
    };
    let held_row = row(&as_referrer_1.reward_id);
    assert_eq!(held_row["side"], "REFERRER");
    assert_eq!(held_row["status"], "HELD");
    assert_eq!(held_row["reason"], "REVIEW_VELOCITY");
    assert_eq!(held_row["claimable_now"], false);
    assert_eq!(held_row["referee_phone"], PHONE_MASKED);
    let claim_row = row(&as_referee.reward_id);
    assert_eq!(claim_row["side"], "REFEREE");
    assert_eq!(claim_row["status"], "CLAIMABLE");
    assert_eq!(claim_row["reason"], Value::Null);

    // A cursor issued to jk-referrer is refused to anyone else.
    let first = call(
        &t.app,
        "GET",
        "/v1/referral/rewards?limit=2",
        None,
        member("jk-referrer"),
    )
    .await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let stolen = call(
        &t.app,
        "GET",
        &format!("/v1/referral/rewards?limit=2&cursor={cursor}"),
        None,
        member("jk-acc-1"),
    )
    .await;
    assert_eq!(stolen.status, 400, "{}", stolen.body);
    assert_eq!(stolen.error_code(), "invalid_query");
    let unauthenticated = call(&t.app, "GET", "/v1/referral/rewards", None, None).await;
    assert_eq!(unauthenticated.status, 401);
}

#[tokio::test]
async fn a_late_claim_is_409_and_the_reward_expires_unpaid() {
    let t = Lifecycle::new().await;
    let passed = chrono::Utc::now() - chrono::Duration::milliseconds(1);
    let late = t.create("acc-1", Side::Referee, claimable(passed)).await;
    let me = member("jk-acc-1");

    let answer = call(&t.app, "POST", &claim_path(&late), None, me.clone()).await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(answer.error_code(), "claim_expired");
    // The late claim recorded the expiry; claiming again is the same 409.
    assert_eq!(
        t.bench.reward(&late.reward_id).await.status,
        RewardStatus::Expired
    );
    let again = call(&t.app, "POST", &claim_path(&late), None, me.clone()).await;
    assert_eq!(
        (again.status.as_u16(), again.error_code()),
        (409, "claim_expired")
    );

    // A reward that was queued at once never needed a claim.
    let plain = t.create("acc-2", Side::Referee, RewardStart::Pending).await;
    let not = call(
        &t.app,
        "POST",
        &claim_path(&plain),
        None,
        member("jk-acc-2"),
    )
    .await;
    assert_eq!(
        (not.status.as_u16(), not.error_code()),
        (409, "not_claimable")
    );
    let held_one = t.create("acc-3", Side::Referee, held()).await;
    let not = call(
        &t.app,
        "POST",
        &claim_path(&held_one),
        None,
        member("jk-acc-3"),
    )
    .await;
    assert_eq!(
        (not.status.as_u16(), not.error_code()),
        (409, "not_claimable")
    );
    let bad = call(&t.app, "POST", "/v1/referral/rewards/nope/claim", None, me).await;
    assert_eq!(bad.status, 400);

    // Nothing was queued; a stray message does not pay the expired reward.
    assert_eq!(t.bench.depth(&t.bench.queue_url).await, 0);
    t.bench.enqueue(std::slice::from_ref(&late)).await;
    t.pay_everything_queued().await;
    assert_eq!(t.payments(&late), 0);
    assert_eq!(
        t.bench.reward(&late.reward_id).await.status,
        RewardStatus::Expired
    );
}

/// The deadline's edges, at DynamoDB's condition: a claim one millisecond before wins, at the
/// deadline it is refused; the expiry is refused one millisecond before and applies at it.
#[tokio::test]
async fn the_claim_deadline_holds_at_its_edges_in_the_store() {
    let t = Lifecycle::new().await;
    let deadline = time::truncate_millis(chrono::Utc::now() + chrono::Duration::days(1));
    let ms = chrono::Duration::milliseconds(1);
    let a = t.create("acc-1", Side::Referee, claimable(deadline)).await;
    let b = t.create("acc-2", Side::Referee, claimable(deadline)).await;
    let store = t.bench.store();

    assert!(matches!(
        store.expire_reward(&a, deadline - ms).await,
        Err(StoreError::Conflict { .. })
    ));
    store.claim_reward(&a, deadline - ms).await.unwrap();
    assert!(matches!(
        store.expire_reward(&a, deadline).await,
        Err(StoreError::Conflict { .. })
    ));
    let claimed = t.bench.reward(&a.reward_id).await;
    assert_eq!(claimed.status, RewardStatus::Pending);
    assert_eq!(claimed.claimed_at, Some(deadline - ms));

    assert!(matches!(
        store.claim_reward(&b, deadline).await,
        Err(StoreError::Conflict { .. })
    ));
    store.expire_reward(&b, deadline).await.unwrap();
    assert_eq!(
        t.bench.reward(&b.reward_id).await.status,
        RewardStatus::Expired
    );
    // Expired is an end: neither a claim nor a second expiry applies.
    assert!(store.claim_reward(&b, deadline - ms).await.is_err());
    assert!(store.expire_reward(&b, deadline).await.is_err());

    // The claimed reward is back among PENDING rewards by its creation time (the sweeper's
    // stranded-PENDING view finds it), and no longer among CLAIMABLE ones.
    let pending = store
        .pending_rewards_before(chrono::Utc::now() + ms, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(pending.items.len(), 1);
    assert_eq!(pending.items[0].reward_id, a.reward_id);
    let due = store
        .claimable_rewards_due(
            deadline + chrono::Duration::days(30),
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert!(due.items.is_empty(), "{:?}", due.items);
}

#[tokio::test]
async fn the_sweeper_expires_claimable_rewards_from_their_deadline_on_and_queues_none() {
    let t = Lifecycle::new().await;
    let deadline = time::truncate_millis(chrono::Utc::now() + chrono::Duration::hours(2));
    let ms = chrono::Duration::milliseconds(1);
    let due_first = t.create("acc-1", Side::Referee, claimable(deadline)).await;
    let due_next = t
        .create("acc-2", Side::Referee, claimable(deadline + ms))
        .await;
    let held_one = t.create("acc-3", Side::Referrer, held()).await;
    let pending = t.create("acc-4", Side::Referee, RewardStart::Pending).await;
    let drain = referral_tests::TestQueue {
        url: t.bench.queue_url.clone(),
        client: t.bench.sqs.clone(),
    };

    // One millisecond before the deadline: nothing expires. The PENDING reward (stale by
    // then) is the only one queued.
    let report = t.sweep(deadline - ms).await;
    assert_eq!((report.due, report.expired), (0, 0));
    assert_eq!(report.queued, 1);
    assert_eq!(drain.drain().await, [pending.reward_id.to_string()]);

    // At the deadline: the first expires, the other (one millisecond later) does not.
    // PENDING Query + CLAIMABLE Query + one UpdateItem.
    let (report, trips) = t.bench.table.round_trips.during(t.sweep(deadline)).await;
    assert_eq!((report.due, report.expired), (1, 1));
    assert_eq!(trips, 3, "round trips of a sweep expiring one reward");
    // Again at the same instant: nothing left to do (idempotent).
    let report = t.sweep(deadline).await;
    assert_eq!((report.due, report.expired), (0, 0));
    assert_eq!(
        t.bench.reward(&due_first.reward_id).await.status,
        RewardStatus::Expired
    );
    assert_eq!(
        t.bench.reward(&due_next.reward_id).await.status,
        RewardStatus::Claimable
    );
    let report = t.sweep(deadline + ms).await;
    assert_eq!(report.expired, 1);
    assert_eq!(
        t.bench.reward(&due_next.reward_id).await.status,
        RewardStatus::Expired
    );

    // Long after: the HELD reward is untouched and nothing but the PENDING one was queued.
    t.sweep(deadline + chrono::Duration::days(30)).await;
    let queued = drain.drain().await;
    assert!(
        queued.iter().all(|id| id == pending.reward_id.as_str()),
        "{queued:?}"
    );
    let still = t.bench.reward(&held_one.reward_id).await;
    assert_eq!((still.status, still.attempts), (RewardStatus::Held, 0));
    assert_eq!(t.bench.partners.stand_in.payments().len(), 0);
}

#[tokio::test]
async fn an_approved_reward_is_paid_exactly_once_and_a_rejected_one_never() {
    let t = Lifecycle::new().await;
    let approved = t.create("acc-1", Side::Referrer, held()).await;
    let rejected = t.create("acc-2", Side::Referrer, held()).await;
    let plain = t
        .create("acc-3", Side::Referrer, RewardStart::Pending)
        .await;

    // Held: a stray message and the sweeper pay nothing.
    t.bench.enqueue(&[approved.clone(), rejected.clone()]).await;
    t.pay_everything_queued().await;
    let swept = t
        .sweep(chrono::Utc::now() + chrono::Duration::hours(1))
        .await;
    assert_eq!(swept.queued, 1, "only the PENDING reward");
    referral_tests::TestQueue {
        url: t.bench.queue_url.clone(),
        client: t.bench.sqs.clone(),
    }
    .drain()
    .await;
    for r in [&approved, &rejected] {
        let still = t.bench.reward(&r.reward_id).await;
        assert_eq!((still.status, still.attempts), (RewardStatus::Held, 0));
        assert_eq!(t.payments(r), 0);
    }

    // The review queue: HELD rewards with their reason, oldest first.
    let list = call(
        &t.admin,
        "GET",
        "/admin/v1/rewards?status=HELD&limit=1",
        None,
        admin(),
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["reason"], "REVIEW_VELOCITY");
    assert!(list.body["next_cursor"].is_string());
    assert!(!list.body.to_string().contains(PHONE));

    let approve = |r: &Reward| format!("/admin/v1/rewards/{}/approve", r.reward_id);
    let reject = |r: &Reward| format!("/admin/v1/rewards/{}/reject", r.reward_id);
    let (ok, trips) = t
        .bench
        .table
        .round_trips
        .during(call(&t.admin, "POST", &approve(&approved), None, admin()))
        .await;
    assert_eq!(ok.status, 202, "{}", ok.body);
    assert_eq!(
        trips, 2,
        "an approval of a HELD reward is a read, then one transaction (its funnel count moves)"
    );
    assert_eq!(ok.body["status"], "PENDING");
    assert_eq!(ok.body["queued"], true);
    let again = call(&t.admin, "POST", &approve(&approved), None, admin()).await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.body["queued"], true, "still PENDING: queued again");

    let body = r#"{"reason":"FRAUD_RING"}"#;
    let no = call(&t.admin, "POST", &reject(&rejected), Some(body), admin()).await;
    assert_eq!(no.status, 200, "{}", no.body);
    assert_eq!(
        no.body,
        json!({"reward_id": rejected.reward_id.as_str(), "status": "REJECTED", "queued": false, "reason": "FRAUD_RING"})
    );
    let other = r#"{"reason":"REJECTED_BY_ADMIN"}"#;
    let no_again = call(&t.admin, "POST", &reject(&rejected), Some(other), admin()).await;
    assert_eq!(no_again.status, 200);
    assert_eq!(
        no_again.body["reason"], "FRAUD_RING",
        "the first reason stays"
    );

    for (path, body, code) in [
        (approve(&rejected), None, "already_reviewed"),
        (reject(&approved), Some(body), "already_reviewed"),
        (approve(&plain), None, "not_held"),
        (reject(&plain), Some(body), "not_held"),
    ] {
        let answer = call(&t.admin, "POST", &path, body, admin()).await;
        assert_eq!(answer.status, 409, "{path}: {}", answer.body);
        assert_eq!(answer.error_code(), code, "{path}");
    }
    let bad = call(
        &t.admin,
        "POST",
        &reject(&approved),
        Some(r#"{"reason":"not a code"}"#),
        admin(),
    )
    .await;
    assert_eq!(
        (bad.status.as_u16(), bad.error_field()),
        (400, Some("reason"))
    );
    let none = call(
        &t.admin,
        "POST",
        "/admin/v1/rewards/acc-zz-referrer/approve",
        None,
        admin(),
    )
    .await;
    assert_eq!(none.status, 404);
    let forbidden = call(
        &t.admin,
        "POST",
        &approve(&rejected),
        None,
        member("jk-referrer"),
    )
    .await;
    assert_eq!(forbidden.status, 403);
    let retry = call(
        &t.admin,
        "POST",
        &format!("/admin/v1/rewards/{}/retry", rejected.reward_id),
        None,
        admin(),
    )
    .await;
    assert_eq!(
        (retry.status.as_u16(), retry.error_code()),
        (409, "not_failed")
    );

    // Two messages for the approved reward (approval + repeat): paid once. The rejected one
    // gets a stray message too: never paid.
    t.bench.enqueue(std::slice::from_ref(&rejected)).await;
    t.pay_everything_queued().await;
    let paid = t.bench.reward(&approved.reward_id).await;
    assert_eq!(paid.status, RewardStatus::Success);
    assert_eq!(paid.reviewed_by.as_deref(), Some("admin-1"));
    assert_eq!(
        paid.reason,
        Some(ReasonCode::review_velocity()),
        "the hold's reason stays"
    );
    assert_eq!(t.payments(&approved), 1, "paid exactly once");
    let refused = t.bench.reward(&rejected.reward_id).await;
    assert_eq!(refused.status, RewardStatus::Rejected);
    assert_eq!(
        refused.reason.as_ref().map(|r| r.as_str()),
        Some("FRAUD_RING")
    );
    assert_eq!(t.payments(&rejected), 0);

    // An approval after the payout: the same success, nothing queued.
    let late = call(&t.admin, "POST", &approve(&approved), None, admin()).await;
    assert_eq!(late.status, 202);
    assert_eq!(
        (late.body["status"].clone(), late.body["queued"].clone()),
        (json!("SUCCESS"), json!(false))
    );
    assert_eq!(t.bench.depth(&t.bench.queue_url).await, 0);

    // Statistics of the referrer's collection count every status.
    let stats = call(
        &t.admin,
        "GET",
        "/admin/v1/referrers/member:jk-referrer/statistics",
        None,
        admin(),
    )
    .await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    let count = |status: &str| stats.body["rewards"][status]["count"].clone();
    assert_eq!(count("SUCCESS"), 1);
    assert_eq!(count("REJECTED"), 1);
    assert_eq!(count("PENDING"), 1);
    assert_eq!(count("HELD"), 0);
    assert_eq!(count("CLAIMABLE"), 0);
    assert_eq!(count("EXPIRED"), 0);
}

/// An approval and a rejection of the same HELD reward at once: exactly one wins, and the
/// reward is paid at most once (once if the approval won).
#[tokio::test]
async fn a_concurrent_approve_and_reject_have_one_winner() {
    let t = Lifecycle::new().await;
    for i in 0..5 {
        let r = t.create(&format!("acc-{i}"), Side::Referrer, held()).await;
        let approve = format!("/admin/v1/rewards/{}/approve", r.reward_id);
        let reject = format!("/admin/v1/rewards/{}/reject", r.reward_id);
        let (a, b) = tokio::join!(
            call(&t.admin, "POST", &approve, None, admin()),
            call(
                &t.admin,
                "POST",
                &reject,
                Some(r#"{"reason":"REJECTED_BY_ADMIN"}"#),
                admin()
            ),
        );
        let won: Vec<bool> = [&a, &b].iter().map(|x| x.status.is_success()).collect();
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "{} / {}",
            a.body,
            b.body
        );
        let loser = if won[0] { &b } else { &a };
        assert_eq!(loser.error_code(), "already_reviewed");
        t.pay_everything_queued().await;
        let end = t.bench.reward(&r.reward_id).await;
        let expected_payments = usize::from(won[0]);
        assert_eq!(t.payments(&r), expected_payments, "{end:?}");
        let expected = if won[0] {
            RewardStatus::Success
        } else {
            RewardStatus::Rejected
        };
        assert_eq!(end.status, expected);
    }
}
