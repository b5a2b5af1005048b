//! `funnel_delta`: one row per kind of write (a new member, a replaced rejection, a duplicate,
//! each step, a qualification with rewards, each kind of withheld grant), and the day each
//! stage lands on in the event's time zone.

use super::*;
use crate::domain::{
    AccountId, EventTimeZone, JkosId, LinkSettings, ReasonCode, ReferralSource, ReferralUse,
    RewardAmount, RewardTerms, RewardType, RuleReason, WindowId,
};
use chrono::Duration;

fn t(hours: i64) -> Instant {
    crate::time::parse("2026-11-21T00:00:00Z").unwrap() + Duration::hours(hours)
}

fn event(raw: &str) -> EventId {
    EventId::parse(raw).unwrap()
}

fn code(raw: &str) -> ReferralCode {
    ReferralCode::parse(raw).unwrap()
}

fn member() -> MemberProfile {
    MemberProfile::new(
        AccountId::parse("acc-1").unwrap(),
        JkosId::parse("jk-1").unwrap(),
        t(0),
    )
}

fn used(raw_code: &str, event_id: Option<&str>, outcome: ReferralOutcome) -> ReferralUse {
    ReferralUse {
        code: code(raw_code),
        used_at: t(1),
        event_id: event_id.map(event),
        referrer_phone: None,
        outcome,
    }
}

fn accepted(raw_code: &str) -> MemberProfile {
    let mut m = member();
    m.referral = Some(used(
        raw_code,
        Some("spring"),
        ReferralOutcome::Accepted {
            event_id: event("spring"),
            referrer_source: ReferralSource::parse("member:jk-2").unwrap(),
        },
    ));
    m
}

fn rejected(raw_code: &str, event_id: Option<&str>, reason: RejectionReason) -> MemberProfile {
    let mut m = member();
    m.referral = Some(used(
        raw_code,
        event_id,
        ReferralOutcome::Rejected { reason },
    ));
    m
}

fn qualified(mut m: MemberProfile) -> MemberProfile {
    m.kyc_pass_time = Some(t(2));
    m.device_bind_time = Some(t(3));
    m.qualified_at = Some(t(3));
    m
}

fn window() -> WindowId {
    WindowId::parse("w1").unwrap()
}

fn rewards(m: &MemberProfile) -> Vec<Reward> {
    let terms = RewardTerms {
        reward_type: RewardType::Coin,
        amount: RewardAmount::parse("50").unwrap(),
    };
    let mut rewards = vec![
        Reward::pending(m, Side::Referrer, terms, t(3), t(4)).unwrap(),
        Reward::held(
            m,
            Side::Referee,
            terms,
            t(3),
            t(4),
            ReasonCode::parse("REVIEW_VELOCITY").unwrap(),
        )
        .unwrap(),
    ];
    // As the grant stamps them (`progress::settle`).
    for r in &mut rewards {
        r.funnel_day = Some(LinkSettings::default().day_of(r.created_at));
    }
    rewards
}

/// The code-level counts of `delta` as `(day, stage) → n`, after checking that the event
/// level holds the same counts summed over the event's codes.
fn code_counts(delta: &FunnelDelta) -> Vec<(String, String, String, i64)> {
    let mut codes = Vec::new();
    let mut events: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut from_codes: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (scope, day, counts) in delta.items() {
        for (stage, n) in counts {
            match scope {
                FunnelScope::Event(_) => {
                    *events.entry((day.key(), stage.clone())).or_default() += n;
                }
                FunnelScope::Code(_, c) => {
                    *from_codes.entry((day.key(), stage.clone())).or_default() += n;
                    codes.push((c.to_string(), day.key(), stage.clone(), *n));
                }
            }
        }
    }
    from_codes.retain(|_, n| *n != 0);
    assert_eq!(events, from_codes, "the event level sums the code level");
    codes
}

fn row(c: &str, day: &str, stage: &str, n: i64) -> (String, String, String, i64) {
    (c.into(), day.into(), stage.into(), n)
}

#[test]
fn every_kind_of_write_adds_what_changed_and_nothing_else() {
    let utc = |_: &EventId, at: Instant| LinkSettings::default().day_of(at);
    let mut kyc = accepted("AB2CD3");
    kyc.kyc_pass_time = Some(t(2));
    let mut device_then_kyc = accepted("AB2CD3");
    device_then_kyc.device_bind_time = Some(t(26));
    let mut device_and_kyc = device_then_kyc.clone();
    device_and_kyc.kyc_pass_time = Some(t(27));
    let done = qualified(accepted("AB2CD3"));
    let mut granted = done.clone();
    granted.reward_grant = Some(RewardGrant::Issued {
        at: t(4),
        window_id: window(),
        count: 2,
        referrer_withheld: None,
        milestone: None,
        waiting: Vec::new(),
    });
    let mut capped = done.clone();
    capped.reward_grant = Some(RewardGrant::Issued {
        at: t(4),
        window_id: window(),
        count: 1,
        referrer_withheld: Some(RuleReason::ReferrerCapReached),
        milestone: None,
        waiting: Vec::new(),
    });
    let mut withheld = done.clone();
    withheld.reward_grant = Some(RewardGrant::Withheld {
        at: t(4),
        window_id: window(),
        reason: RuleReason::PhoneAlreadyRewarded,
    });
    let mut no_window = done.clone();
    no_window.reward_grant = Some(RewardGrant::NoActiveWindow { at: t(4) });
    let mut awaiting = done.clone();
    awaiting.reward_grant = Some(RewardGrant::AwaitingPhone { since: t(4) });
    let mut not_referred = member();
    not_referred.kyc_pass_time = Some(t(2));
    not_referred.device_bind_time = Some(t(3));
    not_referred.qualified_at = Some(t(3));
    let mut info_only = accepted("AB2CD3");
    info_only.registered_at = Some(t(0));

    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        &str,
        Option<MemberProfile>,
        MemberProfile,
        Vec<Reward>,
        Vec<_>,
    )> = vec![
        (
            "an unknown code is in no funnel",
            None,
            rejected("ZZZZZZ", None, RejectionReason::UnknownCode),
            vec![],
            vec![],
        ),
        (
            "an unknown code whose record exists (event gone) is in no funnel either",
            None,
            rejected("ZZZZZZ", Some("spring"), RejectionReason::UnknownCode),
            vec![],
            vec![],
        ),
        (
            "a rejection recorded before the funnel (no event) stays out",
            None,
            rejected("AB2CD3", None, RejectionReason::OwnCode),
            vec![],
            vec![],
        ),
        (
            "own code: rejected, in the code's event",
            None,
            rejected("AB2CD3", Some("spring"), RejectionReason::OwnCode),
            vec![],
            vec![row("AB2CD3", "2026-11-21", "uses_rejected_OWN_CODE", 1)],
        ),
        (
            "no active window: rejected",
            Some(member()),
            rejected("AB2CD3", Some("spring"), RejectionReason::NoActiveWindow),
            vec![],
            vec![row(
                "AB2CD3",
                "2026-11-21",
                "uses_rejected_NO_ACTIVE_WINDOW",
                1,
            )],
        ),
        (
            "an accepted use replaces a rejected one: -1 rejected, +1 accepted",
            Some(rejected(
                "XY2CD3",
                Some("spring"),
                RejectionReason::NoActiveWindow,
            )),
            accepted("AB2CD3"),
            vec![],
            vec![
                row("AB2CD3", "2026-11-21", "uses_accepted", 1),
                row("XY2CD3", "2026-11-21", "uses_rejected_NO_ACTIVE_WINDOW", -1),
            ],
        ),
        (
            "a duplicate changes nothing",
            Some(kyc.clone()),
            kyc.clone(),
            vec![],
            vec![],
        ),
        (
            "member info alone changes no stage",
            Some(accepted("AB2CD3")),
            info_only,
            vec![],
            vec![],
        ),
        (
            "KYC newly passed",
            Some(accepted("AB2CD3")),
            kyc.clone(),
            vec![],
            vec![row("AB2CD3", "2026-11-21", "kyc_passed", 1)],
        ),
        (
            "device bound on the next day, before KYC",
            Some(accepted("AB2CD3")),
            device_then_kyc.clone(),
            vec![],
            vec![row("AB2CD3", "2026-11-22", "device_bound", 1)],
        ),
        (
            "KYC after the device: KYC only",
            Some(device_then_kyc),
            device_and_kyc,
            vec![],
            vec![row("AB2CD3", "2026-11-22", "kyc_passed", 1)],
        ),
        (
            "a new member's whole path in one write, rewards by side and status",
            None,
            granted.clone(),
            rewards(&granted),
            vec![
                row("AB2CD3", "2026-11-21", "device_bound", 1),
                row("AB2CD3", "2026-11-21", "kyc_passed", 1),
                row("AB2CD3", "2026-11-21", "qualified", 1),
                row("AB2CD3", "2026-11-21", "rewards_REFEREE_HELD", 1),
                row("AB2CD3", "2026-11-21", "rewards_REFERRER_PENDING", 1),
                row("AB2CD3", "2026-11-21", "uses_accepted", 1),
            ],
        ),
        (
            "the grant alone: rewards only",
            Some(done.clone()),
            granted.clone(),
            rewards(&granted),
            vec![
                row("AB2CD3", "2026-11-21", "rewards_REFEREE_HELD", 1),
                row("AB2CD3", "2026-11-21", "rewards_REFERRER_PENDING", 1),
            ],
        ),
        (
            "the referrer side capped",
            Some(done.clone()),
            capped.clone(),
            rewards(&capped)[1..].to_vec(),
            vec![
                row("AB2CD3", "2026-11-21", "rewards_REFEREE_HELD", 1),
                row("AB2CD3", "2026-11-21", "withheld_REFERRER_CAP_REACHED", 1),
            ],
        ),
        (
            "both sides withheld by a rule",
            Some(done.clone()),
            withheld,
            vec![],
            vec![row(
                "AB2CD3",
                "2026-11-21",
                "withheld_PHONE_ALREADY_REWARDED",
                1,
            )],
        ),
        (
            "no content window at qualification",
            Some(done.clone()),
            no_window,
            vec![],
            vec![row("AB2CD3", "2026-11-21", "withheld_NO_ACTIVE_WINDOW", 1)],
        ),
        (
            "awaiting the phone is no stage",
            Some(done.clone()),
            awaiting,
            vec![],
            vec![],
        ),
        (
            "a member who used no code is in no funnel",
            None,
            not_referred,
            vec![],
            vec![],
        ),
    ];
    for (name, before, after, new_rewards, expected) in cases {
        let delta = funnel_delta(before.as_ref(), &after, &new_rewards, utc);
        assert_eq!(code_counts(&delta), expected, "{name}");
        assert_eq!(delta.is_empty(), expected.is_empty(), "{name}");
    }
}

#[test]
fn each_stage_lands_on_its_day_in_the_events_time_zone() {
    let taipei = LinkSettings {
        time_zone: EventTimeZone::parse("Asia/Taipei").unwrap(),
        landing_url: None,
    };
    let before = accepted("AB2CD3");
    let mut after = before.clone();
    // 2026-11-21T17:00Z is 2026-11-22 01:00 in Taipei (UTC+8); 15:00Z is still the 21st.
    after.kyc_pass_time = Some(t(17));
    after.device_bind_time = Some(t(15));
    let delta = funnel_delta(Some(&before), &after, &[], |_, at| taipei.day_of(at));
    assert_eq!(
        code_counts(&delta),
        vec![
            row("AB2CD3", "2026-11-21", "device_bound", 1),
            row("AB2CD3", "2026-11-22", "kyc_passed", 1),
        ]
    );
    // Two items per (event, day): the event's and the code's.
    assert_eq!(delta.len(), 4);
}

#[test]
fn a_status_change_moves_one_count_on_the_day_the_reward_was_created() {
    let granted = qualified(accepted("AB2CD3"));
    let [mut paid, held]: [Reward; 2] = rewards(&granted).try_into().unwrap();
    // Created on the 21st in UTC; stamped as if the event's zone then had made it the 22nd:
    // the stamp, not the creation instant, says where the count is.
    paid.funnel_day = Some(Day::parse("2026-11-22").unwrap());
    let cases = [
        (
            "PENDING → SUCCESS",
            paid.clone(),
            RewardStatus::Success,
            vec![
                row("AB2CD3", "2026-11-22", "rewards_REFERRER_PENDING", -1),
                row("AB2CD3", "2026-11-22", "rewards_REFERRER_SUCCESS", 1),
            ],
        ),
        (
            "HELD → REJECTED",
            held.clone(),
            RewardStatus::Rejected,
            vec![
                row("AB2CD3", "2026-11-21", "rewards_REFEREE_HELD", -1),
                row("AB2CD3", "2026-11-21", "rewards_REFEREE_REJECTED", 1),
            ],
        ),
        (
            "a retryable attempt stays PENDING",
            paid.clone(),
            RewardStatus::Pending,
            vec![],
        ),
    ];
    for (name, reward, to, expected) in cases {
        let delta = reward_status_delta(&reward, to);
        assert_eq!(code_counts(&delta), expected, "{name}");
    }
    // The creation's count and the change's add up to one count, in the new status.
    let mut created = funnel_delta(
        Some(&granted),
        &granted,
        std::slice::from_ref(&held),
        |_, at| LinkSettings::default().day_of(at),
    );
    created.merge(&reward_status_delta(&held, RewardStatus::Pending));
    assert_eq!(
        code_counts(&created),
        vec![row("AB2CD3", "2026-11-21", "rewards_REFEREE_PENDING", 1)]
    );
    // A reward no counted write created (no stamp) is in no funnel, and neither are its changes.
    let mut unstamped = held;
    unstamped.funnel_day = None;
    assert_eq!(reward_stage(&unstamped), None);
    assert!(reward_status_delta(&unstamped, RewardStatus::Rejected).is_empty());
    assert!(
        funnel_delta(None, &granted, &[unstamped], |_, at| LinkSettings::default(
        )
        .day_of(at))
        .items()
        .all(|(_, _, counts)| counts.keys().all(|k| !k.starts_with("rewards_")))
    );
}

#[test]
fn merged_deltas_share_items_and_cancel_out() {
    let utc = |_: &EventId, at: Instant| LinkSettings::default().day_of(at);
    let a = funnel_delta(None, &accepted("AB2CD3"), &[], utc);
    let b = funnel_delta(None, &accepted("XY2CD3"), &[], utc);
    let mut both = a.clone();
    both.merge(&b);
    // One event item for both codes (same day), one item per code.
    assert_eq!(both.len(), 3);
    let event_counts: Vec<_> = both
        .items()
        .filter(|(s, _, _)| matches!(s, FunnelScope::Event(_)))
        .map(|(_, _, c)| c.clone())
        .collect();
    assert_eq!(
        event_counts,
        vec![StageCounts::from([("uses_accepted".to_owned(), 2)])]
    );
    let undo = funnel_delta(Some(&accepted("AB2CD3")), &member(), &[], utc);
    let mut none = a;
    none.merge(&undo);
    assert!(none.is_empty(), "{none:?}");
}

#[test]
fn stage_names_are_the_counters_attribute_names() {
    let names = [
        (FunnelStage::ChecksValid, "checks_valid"),
        (FunnelStage::UsesAccepted, "uses_accepted"),
        (
            FunnelStage::UsesRejected(RejectionReason::OwnCode),
            "uses_rejected_OWN_CODE",
        ),
        (FunnelStage::KycPassed, "kyc_passed"),
        (FunnelStage::DeviceBound, "device_bound"),
        (FunnelStage::Qualified, "qualified"),
        (
            FunnelStage::Withheld(RuleReason::SelfReferral.as_str()),
            "withheld_SELF_REFERRAL",
        ),
        (
            FunnelStage::Rewards(Side::Referee, RewardStatus::Claimable),
            "rewards_REFEREE_CLAIMABLE",
        ),
    ];
    for (stage, name) in names {
        assert_eq!(stage.name(), name);
    }
}

#[test]
fn conversion_rates_have_four_decimals_and_no_division_by_zero() {
    let rows = [
        (1, 3, Some("0.3333")),
        (2, 3, Some("0.6667")),
        (3, 3, Some("1.0000")),
        (0, 5, Some("0.0000")),
        (5, 4, Some("1.2500")),
        (1, 20_000, Some("0.0001")),
        (1, 20_001, Some("0.0000")),
        (7, 0, None),
        (0, 0, None),
    ];
    for (n, d, expected) in rows {
        assert_eq!(conversion_rate(n, d).as_deref(), expected, "{n}/{d}");
    }
}
