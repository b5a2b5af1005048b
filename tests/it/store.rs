//! Every access pattern of `docs/data-model.md` against DynamoDB Local, with the round trips
//! each one costs (counted by an SDK interceptor, not timed).

use chrono::Duration;
use referral_devkit::campaign::{self, CampaignFile};
use referral_shared::store::{
    CollectionEntry, Cursor, Entity, MemberWrite, PageRequest, StoreError, create_unique_code,
    prelude::*,
};
use referral_shared::*;
use referral_tests::fixtures::*;
use referral_tests::{TestTable, all_pages};

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

#[tokio::test]
async fn content_window_at_time_t_respects_both_edges_and_gaps() {
    let t = TestTable::create().await;
    let event = event("personal", EventType::Personal);
    let id = &event.event_id;
    t.store.put_event(&event).await.unwrap();
    // [d3, d5) pays 50, [d5, d7) pays 80, gap, [d9, d10) pays 99.
    t.store
        .put_content_window(id, &content("early", at(3, 0), at(5, 0), "50"))
        .await
        .unwrap();
    t.store
        .put_content_window(id, &content("late", at(5, 0), at(7, 0), "80"))
        .await
        .unwrap();
    t.store
        .put_content_window(id, &content("after-gap", at(9, 0), at(10, 0), "99"))
        .await
        .unwrap();

    let amount_at = |when| {
        let store = &t.store;
        async move {
            store
                .content_window_at(id, when)
                .await
                .unwrap()
                .map(|c| c.referrer.amount.value().to_string())
        }
    };
    assert_eq!(
        amount_at(at(3, 0) - ms(1)).await,
        None,
        "before the first window"
    );
    assert_eq!(
        amount_at(at(3, 0)).await.as_deref(),
        Some("50.00"),
        "start is inclusive"
    );
    assert_eq!(amount_at(at(5, 0) - ms(1)).await.as_deref(), Some("50.00"));
    assert_eq!(
        amount_at(at(5, 0)).await.as_deref(),
        Some("80.00"),
        "end is exclusive"
    );
    assert_eq!(amount_at(at(7, 0) - ms(1)).await.as_deref(), Some("80.00"));
    assert_eq!(amount_at(at(7, 0)).await, None, "in the gap");
    assert_eq!(amount_at(at(9, 12)).await.as_deref(), Some("99.00"));
    assert_eq!(amount_at(at(10, 0)).await, None, "after the last window");

    let (_, trips) = t
        .round_trips
        .during(t.store.content_window_at(id, at(4, 0)))
        .await;
    assert_eq!(trips, 1, "window at T is one Query");

    // Another event's windows never leak in.
    assert_eq!(
        t.store
            .content_window_at(&EventId::parse("other").unwrap(), at(4, 0))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn copywriting_and_notifications_are_selected_per_item_and_side() {
    let t = TestTable::create().await;
    let id = EventId::parse("personal").unwrap();
    let copy = |wid: &str, item, start, end, text: &str| Copywriting {
        window_id: WindowId::parse(wid).unwrap(),
        window: window(start, end),
        item,
        content: CopyContent::new(serde_json::json!({ "text": text })).unwrap(),
    };
    t.store
        .put_copywriting(
            &id,
            &copy("s1", CopywritingItem::Subtitle, at(1, 0), at(5, 0), "old"),
        )
        .await
        .unwrap();
    t.store
        .put_copywriting(
            &id,
            &copy("s2", CopywritingItem::Subtitle, at(5, 0), at(9, 0), "new"),
        )
        .await
        .unwrap();
    // A SHARE_MESSAGE that starts later must not hide the SUBTITLE (different key prefixes).
    t.store
        .put_copywriting(
            &id,
            &copy(
                "m1",
                CopywritingItem::ShareMessage,
                at(6, 0),
                at(9, 0),
                "share",
            ),
        )
        .await
        .unwrap();

    let text_at = |item, when| {
        let (store, id) = (&t.store, &id);
        async move {
            let copy = store.copywriting_at(id, item, when).await.unwrap();
            copy.map(|c| c.content.value()["text"].as_str().unwrap().to_owned())
        }
    };
    assert_eq!(
        text_at(CopywritingItem::Subtitle, at(4, 0))
            .await
            .as_deref(),
        Some("old")
    );
    assert_eq!(
        text_at(CopywritingItem::Subtitle, at(7, 0))
            .await
            .as_deref(),
        Some("new")
    );
    assert_eq!(text_at(CopywritingItem::ShareMessage, at(5, 0)).await, None);
    assert_eq!(
        text_at(CopywritingItem::ShareMessage, at(6, 0))
            .await
            .as_deref(),
        Some("share")
    );
    assert_eq!(
        t.store
            .copywriting_at(&id, CopywritingItem::InviteSteps, at(6, 0))
            .await
            .unwrap(),
        None
    );

    let template = |wid: &str, side, title: &str| NotificationTemplate {
        window_id: WindowId::parse(wid).unwrap(),
        window: window(at(1, 0), at(9, 0)),
        side,
        out_app_title: Title::parse(title).unwrap(),
        out_app_content: MessageText::parse("c").unwrap(),
        in_app_title: Title::parse(title).unwrap(),
        in_app_content: MessageText::parse("c").unwrap(),
        boxed_message: MessageText::parse("b").unwrap(),
    };
    t.store
        .put_notification(&id, &template("n1", Side::Referrer, "for referrer"))
        .await
        .unwrap();
    t.store
        .put_notification(&id, &template("n2", Side::Referee, "for referee"))
        .await
        .unwrap();
    let referrer = t
        .store
        .notification_at(&id, Side::Referrer, at(2, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(referrer.in_app_title.as_str(), "for referrer");
    let referee = t
        .store
        .notification_at(&id, Side::Referee, at(2, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(referee.in_app_title.as_str(), "for referee");
    assert_eq!(
        t.store
            .notification_at(&id, Side::Referee, at(9, 0))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn the_sample_campaign_loads_idempotently_and_reads_back_in_one_query() {
    let t = TestTable::create().await;
    let file = CampaignFile::read(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/campaigns/personal.json"
    )))
    .unwrap();
    let now = at(21, 0);
    let first = campaign::load(&t.store, &file, now).await.unwrap();
    assert_eq!(
        (first.contents, first.copywriting, first.notifications),
        (1, 6, 2)
    );
    assert_eq!((first.codes_created, first.codes_present), (1, 0));
    let second = campaign::load(&t.store, &file, now + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!((second.codes_created, second.codes_present), (0, 1));

    let (config, trips) = t
        .round_trips
        .during(t.store.event_config(&file.event_id))
        .await;
    let config = config.unwrap().expect("event is there");
    assert_eq!(trips, 1, "an event's whole configuration is one Query");
    assert_eq!(
        config.event.created_at, now,
        "re-loading keeps the creation time"
    );
    assert_eq!(config.event.updated_at, now + Duration::hours(1));
    assert_eq!(config.contents.len(), 1);
    assert_eq!(config.copywriting.len(), 6);
    assert_eq!(config.notifications.len(), 2);
    assert_eq!(
        config
            .content_at(now)
            .unwrap()
            .referee
            .amount
            .value()
            .to_string(),
        "100.00"
    );

    let personal = t
        .store
        .events_by_type(EventType::Personal, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(personal.items.len(), 1);
    assert_eq!(personal.items[0].event_id.as_str(), "personal");
    let demo = t
        .store
        .get_code(&ReferralCode::parse("share888").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(demo.source.to_string(), "member:demo-referrer");

    // A code in the file that belongs to someone else is refused, not overwritten.
    let mut hijack = file.clone();
    hijack.codes[0].source = ReferralSource::parse("member:someone-else").unwrap();
    assert!(campaign::load(&t.store, &hijack, now).await.is_err());
    let still = t.store.get_code(&demo.code).await.unwrap().unwrap();
    assert_eq!(still.source.to_string(), "member:demo-referrer");

    assert_eq!(
        t.store
            .event_config(&EventId::parse("missing").unwrap())
            .await
            .unwrap(),
        None
    );
}

/// The store side of `window_in_use`: a replace that drops a content window whose marker
/// exists is cancelled whole; a moved window (same id) is not a dropped one.
#[tokio::test]
async fn a_replace_cannot_drop_a_content_window_marked_in_use() {
    let t = TestTable::create().await;
    let id = EventId::parse("marked").unwrap();
    let used = WindowId::parse("used").unwrap();
    let config = |event: ReferralEvent, contents: Vec<ContentWindow>| EventConfig {
        event,
        contents,
        copywriting: Vec::new(),
        notifications: Vec::new(),
        rules: Default::default(),
        links: Default::default(),
    };
    let first = config(
        event("marked", EventType::Campaign),
        vec![
            content("used", at(1, 0), at(5, 0), "50"),
            content("unused", at(5, 0), at(9, 0), "60"),
        ],
    );
    t.store.save_event_config(&first, None).await.unwrap();
    let (marked, trips) = t
        .round_trips
        .during(t.store.mark_window_in_use(&id, &used))
        .await;
    marked.unwrap();
    assert_eq!(trips, 1);
    // Idempotent: every consumer process writes it once.
    t.store.mark_window_in_use(&id, &used).await.unwrap();
    let stored = t.store.event_config(&id).await.unwrap().unwrap();
    let next = |contents| {
        config(
            ReferralEvent {
                updated_at: stored.event.next_version_at(at(2, 0)),
                ..stored.event.clone()
            },
            contents,
        )
    };

    let err = t
        .store
        .save_event_config(
            &next(vec![content("unused", at(5, 0), at(9, 0), "60")]),
            Some(&stored),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::WindowInUse { event, window } if event == &id && window == &used),
        "{err:?}"
    );
    assert_eq!(t.store.event_config(&id).await.unwrap().unwrap(), stored);

    // A stale version is reported before the window: the caller must re-read anyway.
    let stale = config(
        ReferralEvent {
            updated_at: stored.event.updated_at - ms(1),
            ..stored.event.clone()
        },
        stored.contents.clone(),
    );
    let err = t
        .store
        .save_event_config(&next(Vec::new()), Some(&stale))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                entity: Entity::Event,
                ..
            }
        ),
        "{err:?}"
    );

    // Moving the used window (new start, new key, same id) and dropping the unused one is fine.
    t.store
        .save_event_config(
            &next(vec![content("used", at(2, 0), at(5, 0), "50")]),
            Some(&stored),
        )
        .await
        .unwrap();
    let after = t.store.event_config(&id).await.unwrap().unwrap();
    assert_eq!(after.contents, [content("used", at(2, 0), at(5, 0), "50")]);
}

#[tokio::test]
async fn events_by_type_paginates_and_separates_types() {
    let t = TestTable::create().await;
    for i in 0..5 {
        t.store
            .put_event(&event(&format!("campaign-{i}"), EventType::Campaign))
            .await
            .unwrap();
    }
    t.store
        .put_event(&event("personal", EventType::Personal))
        .await
        .unwrap();

    let (events, pages) = all_pages(&t.round_trips, 2, 2, |request| {
        t.store.events_by_type(EventType::Campaign, request)
    })
    .await;
    let seen: Vec<_> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert!(
        pages >= 3,
        "5 items in pages of 2 need at least 3 pages, got {pages}"
    );
    assert_eq!(
        seen,
        [
            "campaign-0",
            "campaign-1",
            "campaign-2",
            "campaign-3",
            "campaign-4"
        ]
    );
}

#[tokio::test]
async fn a_code_is_unique_and_collisions_are_retried_never_overwritten() {
    let t = TestTable::create().await;
    let original = code_record("AB2CD3", "personal", "owner-1");
    let (created, trips) = t.round_trips.during(t.store.create_code(&original)).await;
    created.unwrap();
    assert_eq!(trips, 1);

    let thief = code_record("AB2CD3", "personal", "owner-2");
    let err = t.store.create_code(&thief).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                entity: Entity::Code,
                ..
            }
        ),
        "{err:?}"
    );
    let (found, trips) = t.round_trips.during(t.store.get_code(&original.code)).await;
    assert_eq!(
        found.unwrap().unwrap().source.to_string(),
        "member:owner-1",
        "the first owner keeps the code"
    );
    assert_eq!(trips, 1, "check code is one read");

    // Generation: the first candidate collides, the second is taken.
    let mut candidates = vec![
        code_record("XY2345", "personal", "owner-3"),
        code_record("AB2CD3", "personal", "owner-3"),
    ];
    let issued = create_unique_code(&t.store, 5, || candidates.pop().unwrap())
        .await
        .unwrap();
    assert_eq!(issued.code.as_str(), "XY2345");
    assert_eq!(
        t.store
            .get_code(&issued.code)
            .await
            .unwrap()
            .unwrap()
            .source
            .to_string(),
        "member:owner-3"
    );

    // Every candidate collides: a Conflict after the allowed attempts, nothing overwritten.
    let mut calls = 0;
    let err = create_unique_code(&t.store, 3, || {
        calls += 1;
        code_record("AB2CD3", "personal", "owner-4")
    })
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    assert_eq!(calls, 3);
}

#[tokio::test]
async fn concurrent_creators_of_one_code_yield_exactly_one_owner() {
    let t = TestTable::create().await;
    let attempts = (0..16).map(|i| {
        let store = t.store.clone();
        tokio::spawn(async move {
            store
                .create_code(&code_record("RACE22", "personal", &format!("owner-{i}")))
                .await
        })
    });
    let results = futures_join(attempts).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one concurrent create wins");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::Conflict { .. })))
    );
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn member_profile_by_account_id_round_trips_exactly() {
    let t = TestTable::create().await;
    let mut member = referee("acc-1", "AB2CD3", "owner-1");
    member.kyc_pass_time = Some(at(3, 0));
    member.jkos_account = Some(JkosAccount::parse("123456789").unwrap());
    t.store.put_member(&member).await.unwrap();
    let (found, trips) = t
        .round_trips
        .during(t.store.get_member(&member.account_id))
        .await;
    assert_eq!(found.unwrap().as_ref(), Some(&member));
    assert_eq!(trips, 1);
    assert_eq!(
        t.store
            .get_member(&AccountId::parse("nobody").unwrap())
            .await
            .unwrap(),
        None
    );

    // Stored unmasked (the partner needs it) but an absent time is absent, not NULL.
    let raw = t
        .client
        .get_item()
        .table_name(&t.name)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("MEMBER#acc-1".into()),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("#PROFILE".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(!raw.contains_key("device_bind_time"));
    assert!(!raw.contains_key("qualified_at"));
}

#[tokio::test]
async fn one_reward_per_side_per_referee_and_lookup_by_id() {
    let t = TestTable::create().await;
    let member = referee("acc-1", "AB2CD3", "owner-1");
    let reward = reward(&member, Side::Referrer, RewardStatus::Pending, at(4, 0));
    t.store.create_reward(&reward).await.unwrap();
    let mut twice = reward.clone();
    twice.terms.amount = RewardAmount::parse("999").unwrap();
    let err = t.store.create_reward(&twice).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                entity: Entity::Reward,
                ..
            }
        ),
        "{err:?}"
    );
    // The other side is a different reward.
    t.store
        .create_reward(&referral_tests::fixtures::reward(
            &member,
            Side::Referee,
            RewardStatus::Pending,
            at(4, 0),
        ))
        .await
        .unwrap();

    let (found, trips) = t
        .round_trips
        .during(t.store.get_reward(&reward.reward_id))
        .await;
    let found = found.unwrap().unwrap();
    assert_eq!(trips, 1);
    assert_eq!(found, reward, "the first write stands");
    assert_eq!(found.terms.amount.value().to_string(), "50.00");
}

#[tokio::test]
async fn rewards_by_status_pages_oldest_first_and_filters_by_status() {
    let t = TestTable::create().await;
    for i in 0..7 {
        let member = referee(&format!("acc-{i}"), "AB2CD3", "owner-1");
        let status = if i % 3 == 0 {
            RewardStatus::Fail
        } else {
            RewardStatus::Pending
        };
        // Created in reverse order so "oldest first" is not the insertion order.
        let created = at(10, 0) - Duration::minutes(i);
        t.store
            .create_reward(&reward(&member, Side::Referee, status, created))
            .await
            .unwrap();
    }
    let (pending, _) = all_pages(&t.round_trips, 2, 2, |request| {
        t.store.rewards_by_status(RewardStatus::Pending, request)
    })
    .await;
    let ids: Vec<_> = pending.iter().map(|r| r.reward_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "acc-5-referee",
            "acc-4-referee",
            "acc-2-referee",
            "acc-1-referee"
        ]
    );
    assert!(pending.iter().all(|r| r.status == RewardStatus::Pending));
    let (failed, _) = all_pages(&t.round_trips, 10, 10, |request| {
        t.store.rewards_by_status(RewardStatus::Fail, request)
    })
    .await;
    let failed: Vec<_> = failed.iter().map(|r| r.reward_id.as_str()).collect();
    assert_eq!(failed, ["acc-6-referee", "acc-3-referee", "acc-0-referee"]);
}

/// Seeds: owner-1 has code AB2CD3 with referees acc-1..acc-3 (each with both rewards) and a
/// second code; owner-2 has code ZZ2345 with one referee.
async fn seed_collections(t: &TestTable) {
    t.store
        .create_code(&code_record("AB2CD3", "personal", "owner-1"))
        .await
        .unwrap();
    t.store
        .create_code(&code_record("QQ2345", "personal", "owner-1"))
        .await
        .unwrap();
    t.store
        .create_code(&code_record("ZZ2345", "personal", "owner-2"))
        .await
        .unwrap();
    for (account, code, owner) in [
        ("acc-1", "AB2CD3", "owner-1"),
        ("acc-2", "AB2CD3", "owner-1"),
        ("acc-3", "AB2CD3", "owner-1"),
        ("acc-4", "QQ2345", "owner-1"),
        ("acc-9", "ZZ2345", "owner-2"),
    ] {
        let member = referee(account, code, owner);
        t.store.put_member(&member).await.unwrap();
        for side in Side::BOTH {
            t.store
                .create_reward(&reward(&member, side, RewardStatus::Pending, at(5, 0)))
                .await
                .unwrap();
        }
    }
    // A member without an accepted code is in nobody's collection.
    let mut loner = referee("acc-5", "AB2CD3", "owner-1");
    loner.referral = None;
    t.store.put_member(&loner).await.unwrap();
}

fn describe(entries: &[CollectionEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| match e {
            CollectionEntry::Code(c) => format!("code {}", c.code),
            CollectionEntry::Referee(m) => format!("referee {}", m.account_id),
            CollectionEntry::Reward(r) => format!("reward {}", r.reward_id),
        })
        .collect()
}

#[tokio::test]
async fn a_referrers_collection_holds_codes_referees_and_rewards_in_one_query() {
    let t = TestTable::create().await;
    seed_collections(&t).await;
    let owner = ReferralSource::parse("member:owner-1").unwrap();
    let (page, trips) = t
        .round_trips
        .during(t.store.referrer_collection(&owner, PageRequest::first(100)))
        .await;
    let page = page.unwrap();
    assert_eq!(trips, 1, "my overview is one Query page");
    assert_eq!(
        describe(&page.items),
        [
            "code AB2CD3",
            "referee acc-1",
            "reward acc-1-referee",
            "reward acc-1-referrer",
            "referee acc-2",
            "reward acc-2-referee",
            "reward acc-2-referrer",
            "referee acc-3",
            "reward acc-3-referee",
            "reward acc-3-referrer",
            "code QQ2345",
            "referee acc-4",
            "reward acc-4-referee",
            "reward acc-4-referrer",
        ]
    );
    // The referee's phone is there for masking by the API; the stored value is intact.
    let CollectionEntry::Referee(first) = &page.items[1] else {
        panic!("referee expected")
    };
    assert_eq!(first.phone_number.as_ref().unwrap().masked(), "0912***678");

    // Paging through in small pages gives the same sequence, each page one round trip
    // (3 referees per page: with their rewards and the codes, at most 3 × 3 + 2 items).
    let (paged, _) = all_pages(&t.round_trips, 3, 11, |request| {
        t.store.referrer_collection(&owner, request)
    })
    .await;
    assert_eq!(describe(&paged), describe(&page.items));

    // Per-code statistics: only that code's part.
    let code = t
        .store
        .get_code(&ReferralCode::parse("QQ2345").unwrap())
        .await
        .unwrap()
        .unwrap();
    let per_code = t
        .store
        .code_collection(&code, PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(
        describe(&per_code.items),
        [
            "code QQ2345",
            "referee acc-4",
            "reward acc-4-referee",
            "reward acc-4-referrer"
        ]
    );

    let other = t
        .store
        .referrer_collection(
            &ReferralSource::parse("member:owner-2").unwrap(),
            PageRequest::first(100),
        )
        .await
        .unwrap();
    assert_eq!(describe(&other.items)[0], "code ZZ2345");
    assert_eq!(other.items.len(), 4);
}

#[tokio::test]
async fn a_cursor_only_works_for_the_partition_it_was_issued_for() {
    let t = TestTable::create().await;
    seed_collections(&t).await;
    let owner1 = ReferralSource::parse("member:owner-1").unwrap();
    let owner2 = ReferralSource::parse("member:owner-2").unwrap();
    let page = t
        .store
        .referrer_collection(&owner1, PageRequest::first(2))
        .await
        .unwrap();
    let cursor = page.next.expect("more than one page");

    // Replaying owner-1's cursor against owner-2's collection is refused (no data of either).
    let err = t
        .store
        .referrer_collection(&owner2, PageRequest::after(2, cursor.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCursor), "{err:?}");
    let err = t
        .store
        .rewards_by_status(RewardStatus::Pending, PageRequest::after(2, cursor))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCursor), "{err:?}");
    // Right partition, but not a key DynamoDB issued (the other key attributes are missing).
    let forged = Cursor::from_token("eyJHU0kxUEsiOiJTT1VSQ0Ujb3duZXItMSJ9");
    let err = t
        .store
        .referrer_collection(&owner1, PageRequest::after(2, forged))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCursor), "{err:?}");
    for garbage in ["", "!!!", "e30", "bm90IGpzb24"] {
        let err = t
            .store
            .referrer_collection(&owner1, PageRequest::after(2, Cursor::from_token(garbage)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidCursor),
            "{garbage}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_item_that_fails_validation_is_reported_as_corrupt_not_a_panic() {
    let t = TestTable::create().await;
    use aws_sdk_dynamodb::types::AttributeValue::S;
    t.client
        .put_item()
        .table_name(&t.name)
        .item("PK", S("CODE#BAD222".into()))
        .item("SK", S("#CODE".into()))
        .item("entity", S("Code".into()))
        .item("code", S("B0GUS".into()))
        .item("event_id", S("personal".into()))
        .item("event_type", S("PERSONAL".into()))
        .item("source", S("member:x".into()))
        .item("created_at", S("2026-11-01T00:00:00.000Z".into()))
        .send()
        .await
        .unwrap();
    let err = t
        .store
        .get_code(&ReferralCode::parse("BAD222").unwrap())
        .await
        .unwrap_err();
    match err {
        StoreError::Corrupt { key, message } => {
            assert_eq!(key, "CODE#BAD222|#CODE");
            assert!(message.contains("code"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_table_is_a_retryable_error_and_a_missing_table_is_not() {
    let t = TestTable::create().await;
    let missing = referral_shared::store::DynamoStore::new(t.client.clone(), "no-such-table");
    let err = missing
        .get_code(&ReferralCode::parse("AB2CD3").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Rejected { .. }) && !err.is_retryable(),
        "{err:?}"
    );

    // Nothing listens on port 9 (discard): connection refused, classified as Unavailable.
    let config = t
        .client
        .config()
        .to_builder()
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let down = referral_shared::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        &t.name,
    );
    let err = down
        .get_code(&ReferralCode::parse("AB2CD3").unwrap())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn reward_rule_state_is_read_in_one_batch_and_written_only_under_its_conditions() {
    let t = TestTable::create().await;
    let event = EventId::parse("personal").unwrap();
    let referrer = JkosId::parse("owner-1").unwrap();
    let key = IdentityKey::new(vec![5; 32]).unwrap();
    let phone = key.phone(&PhoneNumber::parse("0912345678").unwrap());
    let wanted = FactKeys {
        event_id: event.clone(),
        referrer: Some(referrer.clone()),
        phone: Some(phone.clone()),
        device: None,
        owner_phone_of: None,
    };
    let nothing = FactKeys {
        event_id: event.clone(),
        referrer: None,
        phone: None,
        device: None,
        owner_phone_of: None,
    };
    let (facts, trips) = t.round_trips.during(t.store.rule_facts(&nothing)).await;
    assert_eq!((facts.unwrap(), trips), (RuleFacts::default(), 0));
    // No counters yet: rebuilt from the referrer's collection (one Query: nothing granted).
    let (facts, trips) = t.round_trips.during(t.store.rule_facts(&wanted)).await;
    let rebuilt = RuleFacts {
        referrer: Some(ReferrerStats::empty(event.clone(), referrer.clone())),
        ..RuleFacts::default()
    };
    assert_eq!((facts.unwrap(), trips), (rebuilt, 2));

    // A grant that creates the counters and claims the phone, with the profile.
    let write = |account: &str, stats_version: u64| {
        let mut member = referee(account, "AB2CD3", "owner-1");
        member.version = 1;
        let settlement = Settlement {
            rule_writes: RuleWrites {
                referrer: Some(Box::new(ReferrerStats {
                    rewarded: stats_version as u32,
                    version: stats_version,
                    ..ReferrerStats::empty(event.clone(), referrer.clone())
                })),
                claims: vec![IdentityClaim {
                    event_id: event.clone(),
                    kind: IdentityKind::Phone,
                    hash: phone.clone(),
                    account_id: member.account_id.clone(),
                    claimed_at: at(3, 0),
                    replaces: None,
                }],
            },
            ..Settlement::default()
        };
        (member, settlement)
    };
    let (first, settlement) = write("acc-1", 1);
    let (saved, trips) = t
        .round_trips
        .during(t.store.save_member(MemberWrite {
            member: &first,
            expected_version: 0,
            settlement: &settlement,
            funnel: &Default::default(),
        }))
        .await;
    saved.unwrap();
    assert_eq!(trips, 1, "one TransactWriteItems");
    let facts = t.store.rule_facts(&wanted).await.unwrap();
    assert_eq!(
        facts.referrer.map(|s| (s.rewarded, s.version)),
        Some((1, 1))
    );
    assert_eq!(facts.phone_owner, Some(first.account_id.clone()));
    // The claim holds across events: another event's rules see the phone as rewarded.
    let elsewhere = FactKeys {
        event_id: EventId::parse("campaign-b").unwrap(),
        ..wanted.clone()
    };
    let facts = t.store.rule_facts(&elsewhere).await.unwrap();
    assert_eq!(facts.phone_owner, Some(first.account_id.clone()));
    assert_eq!(
        facts.referrer.map(|s| (s.event_id, s.rewarded, s.version)),
        Some((elsewhere.event_id.clone(), 0, 0)),
        "the counters are per event (none in campaign-b: rebuilt, nothing granted there)"
    );

    // Decided from stale counters (it read none): refused whole, named by the counters.
    let (second, settlement) = write("acc-2", 1);
    let stale = t
        .store
        .save_member(MemberWrite {
            member: &second,
            expected_version: 0,
            settlement: &settlement,
            funnel: &Default::default(),
        })
        .await;
    assert!(
        matches!(
            stale,
            Err(StoreError::Conflict {
                entity: Entity::ReferrerStats,
                ..
            })
        ),
        "{stale:?}"
    );
    assert_eq!(t.store.get_member(&second.account_id).await.unwrap(), None);
    // Fresh counters, but the phone is claimed: named by the claim.
    let (second, settlement) = write("acc-2", 2);
    let claimed = t
        .store
        .save_member(MemberWrite {
            member: &second,
            expected_version: 0,
            settlement: &settlement,
            funnel: &Default::default(),
        })
        .await;
    assert!(
        matches!(
            claimed,
            Err(StoreError::Conflict {
                entity: Entity::IdentityClaim,
                ..
            })
        ),
        "{claimed:?}"
    );
    let facts = t.store.rule_facts(&wanted).await.unwrap();
    assert_eq!(
        facts.referrer.map(|s| s.version),
        Some(1),
        "nothing of it written"
    );
}

/// #32 and #33 (docs/data-model.md): a referee's registration by jkos id (GSI3, profile first) and by account id
/// (one BatchGetItem of the profile and both rewards).
#[tokio::test]
async fn a_registration_is_read_by_jkos_id_in_one_query_and_by_account_id_in_one_batch() {
    let t = TestTable::create().await;
    // "bea" joined with jk-alice's code and qualified; she then invited "cy" with her own code.
    let mut bea = referee("bea", "ACE23456", "jk-alice");
    bea.reward_grant = Some(RewardGrant::Issued {
        at: at(3, 5),
        window_id: WindowId::parse("w1").unwrap(),
        count: 2,
        referrer_withheld: None,
        milestone: None,
        waiting: vec![],
    });
    t.store.put_member(&bea).await.unwrap();
    let cy = referee("cy", "BEA23456", "jk-bea");
    t.store.put_member(&cy).await.unwrap();
    let bea_referee = reward(&bea, Side::Referee, RewardStatus::Success, at(3, 5));
    let alice_referrer = reward(&bea, Side::Referrer, RewardStatus::Pending, at(3, 5));
    t.store.create_reward(&bea_referee).await.unwrap();
    t.store.create_reward(&alice_referrer).await.unwrap();

    let (found, trips) = t
        .round_trips
        .during(t.store.my_registration(&bea.jkos_id))
        .await;
    let found = found
        .unwrap()
        .expect("bea's profile is in her GSI3 partition");
    assert_eq!(trips, 1, "one Query: the profile, then her first reward");
    assert_eq!(found.profile, bea);
    assert_eq!(found.referee_reward.as_ref(), Some(&bea_referee));
    assert_eq!(
        found.referrer_reward, None,
        "jk-alice's reward is not bea's to read"
    );

    // A referrer reward of hers created before her own referee reward (her grant waited for
    // her phone while cy qualified): her reward is read by id, one more request.
    let mut earlier = reward(&cy, Side::Referrer, RewardStatus::Pending, at(3, 1));
    earlier.created_at = at(3, 1);
    t.store.create_reward(&earlier).await.unwrap();
    let (found, trips) = t
        .round_trips
        .during(t.store.my_registration(&bea.jkos_id))
        .await;
    let found = found.unwrap().unwrap();
    assert_eq!(trips, 2, "the Query, then the GetItem of her reward");
    assert_eq!(found.referee_reward.as_ref(), Some(&bea_referee));
    // Her rewards as payee skip her profile: the referee reward and cy's referrer reward.
    let rewards = t
        .store
        .member_rewards(&bea.jkos_id, PageRequest::first(10))
        .await
        .unwrap();
    let ids: Vec<&str> = rewards.items.iter().map(|r| r.reward_id.as_str()).collect();
    assert_eq!(ids, ["cy-referrer", "bea-referee"]);

    // By account id: the profile and both sides' rewards, one request.
    let (found, trips) = t
        .round_trips
        .during(t.store.registration(&bea.account_id))
        .await;
    let found = found.unwrap().unwrap();
    assert_eq!(trips, 1, "one BatchGetItem");
    assert_eq!(found.profile, bea);
    assert_eq!(found.referee_reward, Some(bea_referee));
    assert_eq!(found.referrer_reward, Some(alice_referrer));
    // cy has only bea's reward for him (none of his own yet); nobody has no profile.
    let cy_found = t.store.registration(&cy.account_id).await.unwrap().unwrap();
    assert_eq!(cy_found.referee_reward, None);
    assert_eq!(cy_found.referrer_reward, Some(earlier));
    let nobody = AccountId::parse("nobody").unwrap();
    assert_eq!(t.store.registration(&nobody).await.unwrap(), None);
    let stranger = JkosId::parse("jk-nobody").unwrap();
    assert_eq!(t.store.my_registration(&stranger).await.unwrap(), None);
}

/// The share link's counters: a click is 1 UpdateItem; a code's days are `CLICK_SHARDS`
/// Queries of the base table, an event's `CLICK_SHARDS` Queries on GSI2, both summed over
/// shards (and codes), bounded by the range on both ends, and blind to other codes and events.
#[tokio::test]
async fn clicks_are_one_update_each_and_read_back_per_code_and_per_event_over_a_range() {
    use referral_shared::store::keys::CLICK_SHARDS;
    use std::collections::BTreeMap;
    let t = TestTable::create().await;
    let day = |raw: &str| Day::parse(raw).unwrap();
    let code = |raw: &str| ReferralCode::parse(raw).unwrap();
    let spring = EventId::parse("spring").unwrap();
    let autumn = EventId::parse("autumn").unwrap();
    // (code, event, day, clicks)
    let clicks = [
        ("AAA2345", &spring, "2026-11-20", 3u64),
        ("AAA2345", &spring, "2026-11-21", 5),
        ("AAA2345", &spring, "2026-11-23", 2),
        ("BBB2345", &spring, "2026-11-21", 4),
        ("CCC2345", &autumn, "2026-11-21", 7),
    ];
    for (c, event, d, n) in clicks {
        for _ in 0..n {
            let ((), trips) = t
                .round_trips
                .during(async { t.store.count_click(&code(c), event, day(d)).await.unwrap() })
                .await;
            assert_eq!(trips, 1, "one UpdateItem per click");
        }
    }

    let (by_day, trips) = t
        .round_trips
        .during(
            t.store
                .code_clicks(&code("AAA2345"), day("2026-11-21"), day("2026-11-23")),
        )
        .await;
    assert_eq!(trips, usize::from(CLICK_SHARDS));
    assert_eq!(
        by_day.unwrap(),
        BTreeMap::from([(day("2026-11-21"), 5), (day("2026-11-23"), 2)])
    );

    let (by_day, trips) = t
        .round_trips
        .during(
            t.store
                .event_clicks(&spring, day("2026-11-20"), day("2026-11-21")),
        )
        .await;
    assert_eq!(trips, usize::from(CLICK_SHARDS));
    assert_eq!(
        by_day.unwrap(),
        BTreeMap::from([(day("2026-11-20"), 3), (day("2026-11-21"), 9)]),
        "AAA + BBB on the 21st; not the 23rd; not the autumn code"
    );
    let whole = t
        .store
        .event_clicks(&autumn, day("2026-01-01"), day("2026-12-31"))
        .await
        .unwrap();
    assert_eq!(whole, BTreeMap::from([(day("2026-11-21"), 7)]));
    // An empty or reversed range reads nothing.
    let (none, trips) = t
        .round_trips
        .during(
            t.store
                .code_clicks(&code("AAA2345"), day("2026-11-23"), day("2026-11-20")),
        )
        .await;
    assert_eq!((none.unwrap().len(), trips), (0, 0));
    let nobody = t
        .store
        .code_clicks(&code("ZZZ2345"), day("2026-11-01"), day("2026-11-30"))
        .await
        .unwrap();
    assert!(nobody.is_empty());
}
