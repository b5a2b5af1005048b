//! Table tests of the per-member plan (`plan.rs`): every row an input and its expected plan.
use super::super::batch::{decode_batch, tests as fixtures};
use super::*;
use crate::contracts::kafka::TOPIC_REGISTRATION;
use crate::domain::{
    ContentWindow, EventName, EventType, ReferralEvent, ReferralSource, RewardAmount, RewardTerms,
    RewardType, TimeWindow, WindowId,
};
use chrono::TimeZone;

fn at(h: u32, m: u32) -> Instant {
    chrono::Utc.with_ymd_and_hms(2026, 11, 20, h, m, 0).unwrap()
}

fn event_id(s: &str) -> EventId {
    EventId::parse(s).unwrap()
}

fn code(s: &str) -> ReferralCode {
    ReferralCode::parse(s).unwrap()
}

fn terms(amount: &str) -> RewardTerms {
    RewardTerms {
        reward_type: RewardType::Coin,
        amount: RewardAmount::parse(amount).unwrap(),
    }
}

/// The PERSONAL event with a content window open all of 2026-11-20.
fn personal_config() -> Arc<EventConfig> {
    Arc::new(EventConfig {
        event: ReferralEvent {
            event_id: event_id("personal"),
            event_type: EventType::Personal,
            name: EventName::parse("Personal").unwrap(),
            created_at: at(0, 0),
            updated_at: at(0, 0),
        },
        contents: vec![ContentWindow {
            window_id: WindowId::parse("w1").unwrap(),
            window: TimeWindow::new(at(0, 0), at(23, 0)).unwrap(),
            referrer: terms("50"),
            referee: terms("20"),
        }],
        copywriting: vec![],
        notifications: vec![],
        rules: Default::default(),
        links: Default::default(),
    })
}

/// SHARE888: the own code of member `referrer`, in the PERSONAL event.
fn codes() -> Codes {
    let record = ReferralCodeRecord {
        code: code("SHARE888"),
        event_id: event_id("personal"),
        event_type: EventType::Personal,
        source: ReferralSource::Member(crate::domain::JkosId::parse("jk-referrer").unwrap()),
        owner_phone: None,
        created_at: at(0, 0),
    };
    HashMap::from([(record.code.clone(), record)])
}

fn records(values: &[String]) -> Vec<Decoded> {
    let kafka: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| fixtures::record(TOPIC_REGISTRATION, 0, i as i64, Some(v)))
        .collect();
    let batch = decode_batch(&fixtures::event(kafka), TOPIC_REGISTRATION, at(12, 0));
    assert!(batch.malformed.is_empty());
    batch.groups.into_iter().flat_map(|g| g.records).collect()
}

struct Row {
    name: &'static str,
    records: Vec<String>,
    configs: Vec<Arc<EventConfig>>,
    /// (writes, qualifies with a new code, rewards created, events needed)
    expected: (bool, bool, usize, usize),
}

/// Every row: one member's records (a new member) → what to write and queue.
#[test]
fn a_members_records_plan_the_write_the_code_and_the_rewards() {
    let used = |m| fixtures::used("m", "SHARE888", &format!("2026-11-20T09:{m:02}:00Z"));
    let step = |k, m| fixtures::step(k, "m", &format!("2026-11-20T09:{m:02}:00Z"));
    let rows = vec![
        Row {
            name: "a device bound alone: a write, nothing due",
            records: vec![step("DEVICE_BOUND", 1)],
            configs: vec![personal_config()],
            expected: (true, false, 0, 0),
        },
        Row {
            name: "code, device, KYC: qualifies, both sides rewarded",
            records: vec![used(1), step("DEVICE_BOUND", 2), step("KYC_PASSED", 3)],
            configs: vec![personal_config()],
            expected: (true, true, 2, 1),
        },
        Row {
            name: "no referral: qualifies without rewards",
            records: vec![step("DEVICE_BOUND", 2), step("KYC_PASSED", 3)],
            configs: vec![],
            expected: (true, true, 0, 0),
        },
        Row {
            name: "the code's event is not configured: the code is rejected, no rewards",
            records: vec![used(1), step("DEVICE_BOUND", 2), step("KYC_PASSED", 3)],
            configs: vec![],
            expected: (true, true, 0, 1),
        },
    ];
    for row in rows {
        let records = records(&row.records);
        let account = AccountId::parse("m").unwrap();
        let member = starting_profile(&account, None, &records, at(12, 0));
        let needed = events_needed(&member, &records, &codes());
        let configs: Configs = row
            .configs
            .iter()
            .map(|c| (c.event.event_id.clone(), c.clone()))
            .collect();
        let plan = plan_member(
            member,
            &records,
            &codes(),
            &configs,
            &event_id("personal"),
            Rules::default(),
            || code("NEWCD234"),
            at(12, 0),
        );
        let got = (
            plan.write_over.is_some(),
            plan.settlement.new_code.is_some(),
            plan.settlement.rewards.len(),
            needed.len(),
        );
        assert_eq!(got, row.expected, "{}", row.name);
        if plan.write_over.is_some() {
            assert_eq!(plan.member.version, 1, "{}", row.name);
        }
    }
}

#[test]
fn replaying_the_same_records_plans_no_write() {
    let records = records(&[
        fixtures::used("m", "SHARE888", "2026-11-20T09:01:00Z"),
        fixtures::step("DEVICE_BOUND", "m", "2026-11-20T09:02:00Z"),
        fixtures::step("KYC_PASSED", "m", "2026-11-20T09:03:00Z"),
    ]);
    let configs: Configs = HashMap::from([(event_id("personal"), personal_config())]);
    let account = AccountId::parse("m").unwrap();
    let plan = |member| {
        plan_member(
            member,
            &records,
            &codes(),
            &configs,
            &event_id("personal"),
            Rules::default(),
            || code("NEWCD234"),
            at(12, 0),
        )
    };
    let first = plan(starting_profile(&account, None, &records, at(12, 0)));
    assert_eq!(first.write_over, Some(0));
    let again = plan(first.member.clone());
    assert_eq!(
        again.write_over, None,
        "a redelivered batch changes nothing"
    );
    assert!(again.settlement.is_empty());
    assert_eq!(again.member.granted_rewards().len(), 2, "what is re-sent");
    assert_eq!(
        events_needed(&first.member, &[], &codes()),
        vec![event_id("personal")],
        "the accepted referral's event is needed even without a code record"
    );
}

/// Rows: a member written now (its new rewards are queued), the same member again
/// unchanged (its granted rewards are re-sent), a parked member (nothing queued).
#[test]
fn outcomes_add_up_to_the_report_the_parked_records_and_the_queue() {
    let records = records(&[
        fixtures::used("m", "SHARE888", "2026-11-20T09:01:00Z"),
        fixtures::step("DEVICE_BOUND", "m", "2026-11-20T09:02:00Z"),
        fixtures::step("KYC_PASSED", "m", "2026-11-20T09:03:00Z"),
    ]);
    let configs: Configs = HashMap::from([(event_id("personal"), personal_config())]);
    let account = AccountId::parse("m").unwrap();
    let written = plan_member(
        starting_profile(&account, None, &records, at(12, 0)),
        &records,
        &codes(),
        &configs,
        &event_id("personal"),
        Rules::default(),
        || code("NEWCD234"),
        at(12, 0),
    );
    let granted: Vec<RewardId> = written
        .settlement
        .rewards
        .iter()
        .map(|r| r.reward_id.clone())
        .collect();
    let done = |written: bool, plan: &MemberPlan| MemberOutcome::Done {
        foreign: Vec::new(),
        written,
        settlement: Box::new(if written {
            plan.settlement.clone()
        } else {
            Settlement::default()
        }),
        member: Box::new(plan.member.clone()),
    };
    let parked_record = records[0].park(
        RecordError::RejectedWrite {
            operation: "write".into(),
        },
        at(12, 0),
    );
    type Row = (
        &'static str,
        Vec<MemberOutcome>,
        BatchReport,
        usize,
        Vec<RewardId>,
        Vec<RewardId>,
    );
    let rows: Vec<Row> = vec![
        (
            "written now",
            vec![done(true, &written)],
            BatchReport {
                members_written: 1,
                qualified: 1,
                rewards_created: 2,
                ..BatchReport::default()
            },
            0,
            granted.clone(),
            vec![],
        ),
        (
            "unchanged duplicate: re-sent only if payout may not have seen them",
            vec![done(false, &written)],
            BatchReport::default(),
            0,
            vec![],
            granted.clone(),
        ),
        (
            "parked",
            vec![MemberOutcome::Parked(vec![parked_record])],
            BatchReport::default(),
            1,
            vec![],
            vec![],
        ),
    ];
    let sorted = |mut ids: Vec<RewardId>| {
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        ids
    };
    for (name, outcomes, expected, parked_count, queued, resent) in rows {
        let mut report = BatchReport::default();
        let mut parked = Vec::new();
        let (to_queue, resend) = gather(outcomes, &mut report, &mut parked);
        assert_eq!(report, expected, "{name}");
        assert_eq!(parked.len(), parked_count, "{name}");
        assert_eq!(sorted(to_queue), sorted(queued), "{name}");
        assert_eq!(sorted(resend), sorted(resent), "{name}");
    }
}

#[test]
fn store_errors_park_with_a_typed_reason() {
    let rows: Vec<(StoreError, &str)> = vec![
        (
            StoreError::Corrupt {
                key: "MEMBER#m".into(),
                message: "bad".into(),
            },
            "corrupt_state",
        ),
        (
            StoreError::Rejected {
                operation: "TransactWriteItems",
                message: "too big".into(),
            },
            "rejected_write",
        ),
        (
            StoreError::Conflict {
                entity: crate::store::Entity::Reward,
                key: "k".into(),
            },
            "rejected_write",
        ),
        (StoreError::InvalidCursor, "rejected_write"),
    ];
    for (error, kind) in rows {
        let reason = park_reason(&error);
        assert_eq!(reason.kind(), kind, "{error}");
        assert!(!reason.to_string().contains("too big"), "no DynamoDB text");
    }
    let records = records(&[fixtures::used("m", "SHARE888", "2026-11-20T09:01:00Z")]);
    let account = AccountId::parse("m").unwrap();
    let corrupt = HashMap::from([(keys::code_pk(&code("SHARE888")), "bad".to_owned())]);
    assert!(matches!(
        corrupt_item(&account, &records, &corrupt),
        Some(StoreError::Corrupt { key, .. }) if key == keys::code_pk(&code("SHARE888"))
    ));
    assert!(corrupt_item(&account, &records, &HashMap::new()).is_none());
}
