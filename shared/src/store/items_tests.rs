//! The exact item shapes of `items.rs`, attribute by attribute.

use super::*;
use crate::domain::*;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeZone, Utc};
use std::collections::HashMap;

type Attrs = HashMap<String, AttributeValue>;

fn to_attrs<T: Serialize>(item: &Item<T>) -> Attrs {
    serde_dynamo::to_item(item).unwrap()
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn t0() -> crate::time::Instant {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

#[test]
fn event_item_shape() {
    let event = ReferralEvent {
        event_id: EventId::parse("personal").unwrap(),
        event_type: EventType::Personal,
        name: EventName::parse("Invite friends").unwrap(),
        created_at: t0(),
        updated_at: t0(),
    };
    let attrs = to_attrs(&event_item(&event));
    let expected: Attrs = [
        ("PK", s("EVENT#personal")),
        ("SK", s("#EVENT")),
        ("GSI1PK", s("EVENTTYPE#PERSONAL")),
        ("GSI1SK", s("EVENT#personal")),
        ("entity", s("Event")),
        ("event_id", s("personal")),
        ("event_type", s("PERSONAL")),
        ("name", s("Invite friends")),
        ("created_at", s("2026-11-01T00:00:00.000Z")),
        ("updated_at", s("2026-11-01T00:00:00.000Z")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(attrs, expected);
    let back: Item<ReferralEvent> = serde_dynamo::from_item(attrs).unwrap();
    assert_eq!(back.data, event);
}

#[test]
fn the_unknown_codes_counter_has_a_code_counters_shape_under_keys_of_its_own() {
    let day = Day::parse("2026-11-22").unwrap();
    let attrs = to_attrs(&unknown_clicks_item(&UnknownClicks::default(), day, 3));
    let expected: Attrs = [
        ("PK", s("CLICKS#UNKNOWN#3")),
        ("SK", s("2026-11-22")),
        ("GSI2PK", s("CLICKS#UNKNOWN#3")),
        ("GSI2SK", s("2026-11-22#UNKNOWN")),
        ("entity", s("UnknownClicks")),
        ("event_id", s("UNKNOWN")),
        ("code", s("UNKNOWN")),
        ("clicks", AttributeValue::N("0".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(attrs, expected);
}

#[test]
fn click_count_item_shape() {
    let count = ClickCount {
        event_id: EventId::parse("personal").unwrap(),
        code: ReferralCode::parse("ab2cd3").unwrap(),
        clicks: 0,
    };
    let day = Day::parse("2026-11-22").unwrap();
    let attrs = to_attrs(&click_item(&count, day, 3));
    let expected: Attrs = [
        ("PK", s("CLICKS#AB2CD3#3")),
        ("SK", s("2026-11-22")),
        ("GSI2PK", s("CLICKS#personal#3")),
        ("GSI2SK", s("2026-11-22#AB2CD3")),
        ("entity", s("ClickCount")),
        ("event_id", s("personal")),
        ("code", s("AB2CD3")),
        ("clicks", AttributeValue::N("0".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(attrs, expected);
}

#[test]
fn window_use_item_shape() {
    let marker = WindowUse {
        event_id: EventId::parse("personal").unwrap(),
        window_id: WindowId::parse("w1").unwrap(),
    };
    let attrs = to_attrs(&window_use_item(&marker));
    let expected: Attrs = [
        ("PK", s("WINDOWUSE#personal#w1")),
        ("SK", s("#WINDOWUSE")),
        ("entity", s("WindowUse")),
        ("event_id", s("personal")),
        ("window_id", s("w1")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(attrs, expected);
}

#[test]
fn content_item_shape_keeps_amounts_as_decimal_strings() {
    let content = ContentWindow {
        window_id: WindowId::parse("w1").unwrap(),
        window: TimeWindow::new(t0(), t0() + chrono::Duration::days(30)).unwrap(),
        referrer: RewardTerms {
            reward_type: RewardType::Coin,
            amount: RewardAmount::parse("50").unwrap(),
        },
        referee: RewardTerms {
            reward_type: RewardType::Coupon,
            amount: RewardAmount::parse("12.5").unwrap(),
        },
    };
    let event = EventId::parse("personal").unwrap();
    let attrs = to_attrs(&content_item(&event, &content));
    assert_eq!(attrs["PK"], s("EVENT#personal"));
    assert_eq!(attrs["SK"], s("CONTENT#2026-11-01T00:00:00.000Z#w1"));
    assert_eq!(attrs["entity"], s("ContentWindow"));
    assert_eq!(attrs["event_id"], s("personal"));
    assert!(!attrs.contains_key("GSI1PK"));
    let referrer = attrs["referrer"].as_m().unwrap();
    assert_eq!(referrer["reward_type"], s("COIN"));
    assert_eq!(referrer["amount"], s("50.00"));
    assert_eq!(attrs["referee"].as_m().unwrap()["amount"], s("12.50"));
    let window = attrs["window"].as_m().unwrap();
    assert_eq!(window["start"], s("2026-11-01T00:00:00.000Z"));
    let back: Item<Owned<ContentWindow>> = serde_dynamo::from_item(attrs).unwrap();
    assert_eq!(back.data.value, content);
}

#[test]
fn copywriting_and_notification_item_shapes() {
    let event = EventId::parse("personal").unwrap();
    let window = TimeWindow::new(t0(), t0() + chrono::Duration::days(1)).unwrap();
    let copy = Copywriting {
        window_id: WindowId::parse("c1").unwrap(),
        window,
        item: CopywritingItem::Subtitle,
        content: CopyContent::new(serde_json::json!({"text": "Invite and earn"})).unwrap(),
    };
    let attrs = to_attrs(&copywriting_item(&event, &copy));
    assert_eq!(attrs["SK"], s("COPY#SUBTITLE#2026-11-01T00:00:00.000Z#c1"));
    assert_eq!(attrs["entity"], s("Copywriting"));
    assert_eq!(attrs["item"], s("SUBTITLE"));
    let back: Item<Owned<Copywriting>> = serde_dynamo::from_item(attrs).unwrap();
    assert_eq!(back.data.value, copy);

    let template = NotificationTemplate {
        window_id: WindowId::parse("n1").unwrap(),
        window,
        side: Side::Referee,
        out_app_title: Title::parse("You got {amount}").unwrap(),
        out_app_content: MessageText::parse("Thanks").unwrap(),
        in_app_title: Title::parse("Reward").unwrap(),
        in_app_content: MessageText::parse("Paid").unwrap(),
        boxed_message: MessageText::parse("Box").unwrap(),
    };
    let attrs = to_attrs(&notification_item(&event, &template));
    assert_eq!(attrs["SK"], s("NOTIFY#REFEREE#2026-11-01T00:00:00.000Z#n1"));
    assert_eq!(attrs["entity"], s("Notification"));
    assert_eq!(attrs["side"], s("REFEREE"));
    let back: Item<Owned<NotificationTemplate>> = serde_dynamo::from_item(attrs).unwrap();
    assert_eq!(back.data.value, template);
}

#[test]
fn code_item_shape() {
    let code = ReferralCodeRecord {
        code: ReferralCode::parse("AB2CD3").unwrap(),
        event_id: EventId::parse("personal").unwrap(),
        event_type: EventType::Personal,
        source: ReferralSource::parse("member:jkos-1").unwrap(),
        owner_phone: None,
        created_at: t0(),
    };
    let attrs = to_attrs(&code_item(&code));
    assert_eq!(attrs["PK"], s("CODE#AB2CD3"));
    assert_eq!(attrs["SK"], s("#CODE"));
    assert_eq!(attrs["GSI1PK"], s("SOURCE#MEMBER#jkos-1"));
    assert_eq!(attrs["GSI1SK"], s("CODE#AB2CD3#"));
    assert_eq!(attrs["entity"], s("Code"));
    assert_eq!(attrs["code"], s("AB2CD3"));
    assert_eq!(attrs["source"], s("member:jkos-1"));
    assert_eq!(attrs.len(), 10);
}

pub(crate) fn sample_member(referral: Option<ReferralOutcome>) -> MemberProfile {
    let mut m = MemberProfile::new(
        AccountId::parse("acc-7").unwrap(),
        JkosId::parse("jk-7").unwrap(),
        t0(),
    );
    m.phone_number = Some(PhoneNumber::parse("0912345678").unwrap());
    m.referral = referral.map(|outcome| ReferralUse {
        code: ReferralCode::parse("AB2CD3").unwrap(),
        used_at: t0(),
        referrer_phone: None,
        event_id: None,
        outcome,
    });
    m
}

#[test]
fn member_item_shape_is_sparse_in_gsi1() {
    let plain = to_attrs(&member_item(&sample_member(None)));
    assert_eq!(plain["PK"], s("MEMBER#acc-7"));
    assert_eq!(plain["SK"], s("#PROFILE"));
    assert_eq!(plain["entity"], s("Member"));
    assert_eq!(plain["phone_number"], s("0912345678"));
    assert!(!plain.contains_key("GSI1PK"));
    // Every profile, referee or not, is in its member's GSI3 partition.
    assert_eq!(plain["GSI3PK"], s("PAYEE#jk-7"));
    assert_eq!(plain["GSI3SK"], s("#PROFILE"));
    let keys: std::collections::BTreeSet<&str> = plain.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "PK",
            "SK",
            "GSI3PK",
            "GSI3SK",
            "entity",
            "account_id",
            "jkos_id",
            "phone_number",
            "version",
            "created_at",
            "updated_at",
        ]
        .into_iter()
        .collect()
    );

    let rejected = to_attrs(&member_item(&sample_member(Some(
        ReferralOutcome::Rejected {
            reason: RejectionReason::OwnCode,
        },
    ))));
    assert!(!rejected.contains_key("GSI1PK"));
    assert_eq!(
        rejected["referral"].as_m().unwrap()["outcome"]
            .as_m()
            .unwrap()["reason"],
        s("OWN_CODE")
    );

    let member = sample_member(Some(ReferralOutcome::Accepted {
        event_id: EventId::parse("personal").unwrap(),
        referrer_source: ReferralSource::parse("member:jkos-1").unwrap(),
    }));
    let accepted = to_attrs(&member_item(&member));
    assert_eq!(accepted["GSI1PK"], s("SOURCE#MEMBER#jkos-1"));
    assert_eq!(accepted["GSI1SK"], s("CODE#AB2CD3#REFEREE#acc-7"));
    assert_eq!(accepted["GSI3PK"], s("PAYEE#jk-7"));
    assert_eq!(accepted["GSI3SK"], s("#PROFILE"));
    let back: Item<MemberProfile> = serde_dynamo::from_item(accepted).unwrap();
    assert_eq!(back.data, member);
}

#[test]
fn funnel_counter_shape() {
    let event = EventId::parse("spring").unwrap();
    let code = crate::domain::ReferralCode::parse("AB2CD3").unwrap();
    let day = Day::parse("2026-11-21").unwrap();
    let counts = StageCounts::from([
        ("uses_accepted".to_owned(), 1),
        ("uses_rejected_NO_ACTIVE_WINDOW".to_owned(), -1),
    ]);
    assert_eq!(
        funnel_counter(&FunnelScope::Code(event.clone(), code), &day, 2, &counts),
        CounterUpdate {
            pk: "FUNNEL#spring#CODE#AB2CD3#2".into(),
            sk: "2026-11-21".into(),
            add: vec![
                ("uses_accepted".into(), 1),
                ("uses_rejected_NO_ACTIVE_WINDOW".into(), -1),
            ],
        }
    );
    assert_eq!(
        funnel_counter(&FunnelScope::Event(event), &day, 0, &counts).pk,
        "FUNNEL#spring#0"
    );
}

#[test]
fn reward_item_shape() {
    let referee = sample_member(Some(ReferralOutcome::Accepted {
        event_id: EventId::parse("personal").unwrap(),
        referrer_source: ReferralSource::parse("member:jkos-1").unwrap(),
    }));
    let terms = RewardTerms {
        reward_type: RewardType::Coin,
        amount: RewardAmount::parse("50").unwrap(),
    };
    let reward = Reward::pending(&referee, Side::Referrer, terms, t0(), t0())
        .expect("a member's code pays its referrer");
    let attrs = to_attrs(&reward_item(&reward));
    assert_eq!(attrs["PK"], s("REWARD#acc-7-referrer"));
    assert_eq!(attrs["SK"], s("#REWARD"));
    assert_eq!(attrs["GSI1PK"], s("SOURCE#MEMBER#jkos-1"));
    assert_eq!(
        attrs["GSI1SK"],
        s("CODE#AB2CD3#REFEREE#acc-7#REWARD#REFERRER")
    );
    assert_eq!(attrs["GSI2PK"], s("REWARDSTATUS#PENDING"));
    assert_eq!(
        attrs["GSI2SK"],
        s("2026-11-01T00:00:00.000Z#acc-7-referrer")
    );
    assert_eq!(attrs["GSI3PK"], s("PAYEE#jkos-1"));
    assert_eq!(
        attrs["GSI3SK"],
        s("2026-11-01T00:00:00.000Z#acc-7-referrer")
    );
    assert_eq!(attrs["entity"], s("Reward"));
    assert_eq!(attrs["status"], s("PENDING"));
    assert_eq!(attrs["attempts"], AttributeValue::N("0".into()));
    assert_eq!(attrs["terms"].as_m().unwrap()["amount"], s("50.00"));
    let back: Item<Reward> = serde_dynamo::from_item(attrs).unwrap();
    assert_eq!(back.data, reward);
}

#[test]
fn held_and_claimable_rewards_carry_their_reason_and_deadline_and_old_items_still_load() {
    let referee = sample_member(Some(ReferralOutcome::Accepted {
        event_id: EventId::parse("personal").unwrap(),
        referrer_source: ReferralSource::parse("member:jkos-1").unwrap(),
    }));
    let terms = RewardTerms {
        reward_type: RewardType::Coin,
        amount: RewardAmount::parse("50").unwrap(),
    };
    let reason = crate::domain::ReasonCode::review_velocity();
    let held = Reward::held(&referee, Side::Referrer, terms, t0(), t0(), reason).unwrap();
    let attrs = to_attrs(&reward_item(&held));
    assert_eq!(attrs["status"], s("HELD"));
    assert_eq!(attrs["reason"], s("REVIEW_VELOCITY"));
    assert_eq!(attrs["GSI2PK"], s("REWARDSTATUS#HELD"));
    assert!(!attrs.contains_key("claim_deadline"));
    let back: Item<Reward> = serde_dynamo::from_item(attrs).unwrap();
    assert_eq!(back.data, held);

    // Sub-millisecond digits are dropped: the deadline is what the item says.
    let deadline = t0() + chrono::Duration::days(7) + chrono::Duration::microseconds(1500);
    let claimable =
        Reward::claimable(&referee, Side::Referee, terms, t0(), t0(), deadline).unwrap();
    assert_eq!(
        claimable.claim_deadline,
        Some(t0() + chrono::Duration::days(7) + chrono::Duration::milliseconds(1))
    );
    let attrs = to_attrs(&reward_item(&claimable));
    assert_eq!(attrs["status"], s("CLAIMABLE"));
    assert_eq!(attrs["claim_deadline"], s("2026-11-08T00:00:00.001Z"));
    assert_eq!(attrs["GSI2PK"], s("REWARDSTATUS#CLAIMABLE"));
    assert_eq!(attrs["GSI2SK"], s("2026-11-08T00:00:00.001Z#acc-7-referee"));
    assert_eq!(attrs["GSI3PK"], s("PAYEE#jk-7"));
    assert!(!attrs.contains_key("reason"));
    let back: Item<Reward> = serde_dynamo::from_item(attrs).unwrap();
    assert_eq!(back.data, claimable);

    // An item written before these fields existed loads with none of them.
    let pending = Reward::pending(&referee, Side::Referrer, terms, t0(), t0()).unwrap();
    let mut attrs = to_attrs(&reward_item(&pending));
    for field in [
        "reason",
        "claim_deadline",
        "claimed_at",
        "reviewed_at",
        "reviewed_by",
    ] {
        attrs.remove(field);
    }
    let back: Item<Reward> = serde_dynamo::from_item(attrs).unwrap();
    assert_eq!(back.data, pending);
    assert_eq!(back.data.reason, None);
}
