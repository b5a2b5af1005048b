//! Every rule of [`decide_grant`] and its edges, and every refusal of [`RewardRules::validate`].

use super::*;
use crate::domain::{ReferralOutcome, ReferralSource, ReferralUse, RewardType};
use chrono::{TimeZone, Utc};

fn t(h: i64) -> Instant {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + TimeDelta::hours(h)
}

fn key() -> IdentityKey {
    IdentityKey::new(vec![9; 32]).unwrap()
}

fn phone(raw: &str) -> crate::domain::PhoneNumber {
    crate::domain::PhoneNumber::parse(raw).unwrap()
}

fn terms(amount: &str) -> RewardTerms {
    RewardTerms {
        reward_type: RewardType::Coin,
        amount: RewardAmount::parse(amount).unwrap(),
    }
}

fn event() -> EventId {
    EventId::parse("spring").unwrap()
}

fn window() -> WindowId {
    WindowId::parse("w1").unwrap()
}

fn referrer() -> JkosId {
    JkosId::parse("jk-referrer").unwrap()
}

/// A referee of `jk-referrer`'s code, phone 0912345678, who used the code at t(0).
fn referee() -> MemberProfile {
    let mut m = MemberProfile::new(
        AccountId::parse("acc-1").unwrap(),
        JkosId::parse("jk-1").unwrap(),
        t(0),
    );
    m.phone_number = Some(phone("0912345678"));
    m.referral = Some(ReferralUse {
        code: crate::domain::ReferralCode::parse("AB2CD3").unwrap(),
        used_at: t(0),
        referrer_phone: None,
        event_id: None,
        outcome: ReferralOutcome::Accepted {
            event_id: event(),
            referrer_source: ReferralSource::from(&referrer()),
        },
    });
    m
}

/// Decides for `member`, qualified at `qualified` hours, with `facts` (None: first call).
fn decide(
    rules: &RewardRules,
    member: &MemberProfile,
    qualified: Instant,
    facts: Option<&RuleFacts>,
) -> Verdict {
    let referrer = referrer();
    let (event, window) = (event(), window());
    let case = GrantCase {
        referee: member,
        referrer: Some(&referrer),
        referrer_phone: member
            .referral
            .as_ref()
            .and_then(|r| r.referrer_phone.as_ref()),
        event_id: &event,
        window_id: &window,
        referrer_terms: terms("50"),
        referee_terms: terms("100"),
        used_at: t(0),
        qualified_at: qualified,
        now: t(1000),
    };
    decide_grant(rules, case, Some(&key()), facts)
}

fn grant(v: Verdict) -> Grant {
    match v {
        Verdict::Grant(g) => g,
        other => panic!("expected a grant, got {other:?}"),
    }
}

fn stats(rewarded: u32) -> ReferrerStats {
    ReferrerStats {
        rewarded,
        version: 7,
        ..ReferrerStats::empty(event(), referrer())
    }
}

fn cap(max: u32, per: CapScope, referee_too: bool) -> RewardRules {
    RewardRules {
        referrer_cap: Some(ReferrerCap {
            max_referees: max,
            per,
            referee_rewarded_beyond_cap: referee_too,
        }),
        ..RewardRules::default()
    }
}

#[test]
fn no_rules_grant_both_sides_pending_and_write_nothing() {
    let g = grant(decide(&RewardRules::default(), &referee(), t(5), None));
    assert_eq!(g.referrer, Ok(RewardStart::Pending));
    assert_eq!(g.referee, Ok(RewardStart::Pending));
    assert_eq!((g.milestone, g.writes), (None, RuleWrites::default()));
}

#[test]
fn the_qualification_deadline_is_inclusive_to_the_millisecond() {
    let rules = RewardRules {
        qualification_days: Some(3),
        ..RewardRules::default()
    };
    let edge = t(72);
    assert!(matches!(
        decide(&rules, &referee(), edge, None),
        Verdict::Grant(_)
    ));
    assert_eq!(
        decide(&rules, &referee(), edge + TimeDelta::milliseconds(1), None),
        Verdict::Withheld(RuleReason::QualificationExpired)
    );
    // KYC and device done before the code was used: within the deadline.
    assert!(matches!(
        decide(&rules, &referee(), t(-5), None),
        Verdict::Grant(_)
    ));
}

#[test]
fn identity_rules_need_the_key_and_the_phone() {
    let rules = RewardRules {
        one_reward_per_phone: true,
        ..RewardRules::default()
    };
    let (event, window, referrer) = (event(), window(), referrer());
    let member = referee();
    let case = GrantCase {
        referee: &member,
        referrer: Some(&referrer),
        referrer_phone: None,
        event_id: &event,
        window_id: &window,
        referrer_terms: terms("50"),
        referee_terms: terms("100"),
        used_at: t(0),
        qualified_at: t(1),
        now: t(2),
    };
    assert_eq!(
        decide_grant(&rules, case, None, None),
        Verdict::NoIdentityKey
    );
    let mut no_phone = referee();
    no_phone.phone_number = None;
    assert_eq!(decide(&rules, &no_phone, t(1), None), Verdict::AwaitPhone);
    // The device rule alone does not wait for a phone, and without a device id it has
    // nothing to read: granted at once.
    let device_only = RewardRules {
        one_reward_per_device: true,
        ..RewardRules::default()
    };
    let g = grant(decide(&device_only, &no_phone, t(1), None));
    assert!(g.writes.claims.is_empty());
}

#[test]
fn a_self_referral_check_waits_for_the_phone_unless_the_code_is_a_campaigns() {
    let rules = RewardRules {
        refuse_self_referral: true,
        ..RewardRules::default()
    };
    let mut no_phone = referee();
    no_phone.phone_number = None;
    // A member's code: its owner's phone decides (recorded on the code, or read from their
    // profile when the code recorded none), so the grant waits for the referee's.
    no_phone.referral.as_mut().unwrap().referrer_phone = None;
    assert_eq!(decide(&rules, &no_phone, t(1), None), Verdict::AwaitPhone);
    no_phone.referral.as_mut().unwrap().referrer_phone = Some(key().phone(&phone("0912345678")));
    assert_eq!(decide(&rules, &no_phone, t(1), None), Verdict::AwaitPhone);
    // A campaign's code has no owner to compare with: nothing to wait for.
    let (event, window) = (event(), window());
    let campaign = GrantCase {
        referee: &no_phone,
        referrer: None,
        referrer_phone: None,
        event_id: &event,
        window_id: &window,
        referrer_terms: terms("50"),
        referee_terms: terms("100"),
        used_at: t(0),
        qualified_at: t(1),
        now: t(1000),
    };
    grant(decide_grant(&rules, campaign, Some(&key()), None));
}

#[test]
fn a_referee_with_the_referrers_phone_is_a_self_referral() {
    let rules = RewardRules {
        refuse_self_referral: true,
        ..RewardRules::default()
    };
    let mut same = referee();
    same.referral.as_mut().unwrap().referrer_phone = Some(key().phone(&phone("0912345678")));
    assert_eq!(
        decide(&rules, &same, t(1), None),
        Verdict::Withheld(RuleReason::SelfReferral)
    );
    let mut other = referee();
    other.referral.as_mut().unwrap().referrer_phone = Some(key().phone(&phone("0987654321")));
    assert!(matches!(
        decide(&rules, &other, t(1), None),
        Verdict::Grant(_)
    ));
    // The owner's phone unknown when their code was issued: read from their profile.
    let unknown = referee();
    assert_eq!(
        decide(&rules, &unknown, t(1), None),
        Verdict::NeedFacts(Box::new(FactKeys {
            event_id: event(),
            referrer: None,
            phone: None,
            device: None,
            owner_phone_of: Some(referrer()),
        }))
    );
    let owner = |p: Option<&str>| RuleFacts {
        owner_phone: p.map(phone),
        ..RuleFacts::default()
    };
    assert_eq!(
        decide(&rules, &unknown, t(1), Some(&owner(Some("0912345678")))),
        Verdict::Withheld(RuleReason::SelfReferral)
    );
    grant(decide(
        &rules,
        &unknown,
        t(1),
        Some(&owner(Some("0987654321"))),
    ));
    // No profile with a phone to compare (not backfilled yet): not a self-referral.
    grant(decide(&rules, &unknown, t(1), Some(&owner(None))));
}

#[test]
fn stored_state_is_asked_for_exactly_when_a_rule_reads_it() {
    let all = RewardRules {
        one_reward_per_phone: true,
        one_reward_per_device: true,
        milestones: vec![Milestone {
            nth: 2,
            reward: terms("200"),
        }],
        ..RewardRules::default()
    };
    let mut m = referee();
    m.device_key = Some(key().device(&crate::domain::DeviceId::parse("dev-1").unwrap()));
    assert_eq!(
        decide(&all, &m, t(1), None),
        Verdict::NeedFacts(Box::new(FactKeys {
            event_id: event(),
            referrer: Some(referrer()),
            phone: Some(key().phone(&phone("0912345678"))),
            device: m.device_key.clone(),
            owner_phone_of: None,
        }))
    );
    // Deadline, amount hold and claim step read nothing.
    let stateless = RewardRules {
        qualification_days: Some(1),
        review_hold: Some(ReviewHold {
            referees_per_24h: None,
            amount_at_least: Some(RewardAmount::parse("1000").unwrap()),
        }),
        claim_days: Some(7),
        ..RewardRules::default()
    };
    assert!(matches!(
        decide(&stateless, &m, t(1), None),
        Verdict::Grant(_)
    ));
}

#[test]
fn a_phone_or_device_rewarded_for_another_account_gets_nothing() {
    let rules = RewardRules {
        one_reward_per_phone: true,
        one_reward_per_device: true,
        ..RewardRules::default()
    };
    let mut m = referee();
    m.device_key = Some(key().device(&crate::domain::DeviceId::parse("dev-1").unwrap()));
    let other = Some(AccountId::parse("acc-other").unwrap());
    let phone_taken = RuleFacts {
        phone_owner: other.clone(),
        ..RuleFacts::default()
    };
    assert_eq!(
        decide(&rules, &m, t(1), Some(&phone_taken)),
        Verdict::Withheld(RuleReason::PhoneAlreadyRewarded)
    );
    let device_taken = RuleFacts {
        device_owner: other,
        ..RuleFacts::default()
    };
    assert_eq!(
        decide(&rules, &m, t(1), Some(&device_taken)),
        Verdict::Withheld(RuleReason::DeviceAlreadyRewarded)
    );
    // Free: both are claimed for this account, with the grant.
    let g = grant(decide(&rules, &m, t(1), Some(&RuleFacts::default())));
    let kinds: Vec<_> = g.writes.claims.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [IdentityKind::Phone, IdentityKind::Device]);
    assert!(g.writes.claims.iter().all(|c| c.account_id == m.account_id));
    assert_eq!(g.writes.claims[0].hash, key().phone(&phone("0912345678")));
    // Claimed for this very account already: no second claim, still rewarded.
    let mine = RuleFacts {
        phone_owner: Some(m.account_id.clone()),
        ..RuleFacts::default()
    };
    let g = grant(decide(&rules, &m, t(1), Some(&mine)));
    assert_eq!(g.writes.claims.len(), 1, "only the device is claimed");
}

#[test]
fn a_released_claim_is_taken_over_naming_the_account_it_replaces() {
    let rules = RewardRules {
        one_reward_per_phone: true,
        one_reward_per_device: true,
        ..RewardRules::default()
    };
    let mut m = referee();
    m.device_key = Some(key().device(&crate::domain::DeviceId::parse("dev-1").unwrap()));
    let farmer = AccountId::parse("acc-rejected").unwrap();
    let released = RuleFacts {
        phone_released: Some(farmer.clone()),
        ..RuleFacts::default()
    };
    let g = grant(decide(&rules, &m, t(1), Some(&released)));
    let replaces: Vec<_> = g
        .writes
        .claims
        .iter()
        .map(|c| (c.kind, c.replaces.clone()))
        .collect();
    assert_eq!(
        replaces,
        [
            (IdentityKind::Phone, Some(farmer)),
            (IdentityKind::Device, None)
        ]
    );
    assert!(g.writes.claims.iter().all(|c| c.account_id == m.account_id));
}

#[test]
fn the_referrer_cap_per_event_withholds_the_referrer_side_at_n() {
    let rules = cap(3, CapScope::Event, true);
    let below = RuleFacts {
        referrer: Some(stats(2)),
        ..RuleFacts::default()
    };
    let g = grant(decide(&rules, &referee(), t(1), Some(&below)));
    assert_eq!(g.referrer, Ok(RewardStart::Pending));
    let written = g.writes.referrer.unwrap();
    assert_eq!((written.rewarded, written.version), (3, 8));
    assert_eq!(written.rewarded_in.get(&window()), Some(&1));

    let at_cap = RuleFacts {
        referrer: Some(stats(3)),
        ..RuleFacts::default()
    };
    let g = grant(decide(&rules, &referee(), t(1), Some(&at_cap)));
    assert_eq!(g.referrer, Err(RuleReason::ReferrerCapReached));
    assert_eq!(g.referee, Ok(RewardStart::Pending));
    assert_eq!(
        g.writes.referrer, None,
        "nothing counted: counters only grow, so the decision needs no write"
    );

    let strict = cap(3, CapScope::Event, false);
    assert_eq!(
        decide(&strict, &referee(), t(1), Some(&at_cap)),
        Verdict::Withheld(RuleReason::ReferrerCapReached)
    );
    // No counters stored yet = zero.
    let g = grant(decide(
        &rules,
        &referee(),
        t(1),
        Some(&RuleFacts::default()),
    ));
    assert_eq!(
        g.writes.referrer.map(|s| (s.rewarded, s.version)),
        Some((1, 1))
    );
}

#[test]
fn the_referrer_cap_per_content_window_counts_each_window() {
    let rules = cap(1, CapScope::ContentWindow, true);
    let mut other_window_full = stats(5);
    other_window_full
        .rewarded_in
        .insert(WindowId::parse("w0").unwrap(), 5);
    let facts = RuleFacts {
        referrer: Some(other_window_full.clone()),
        ..RuleFacts::default()
    };
    let g = grant(decide(&rules, &referee(), t(1), Some(&facts)));
    assert_eq!(g.referrer, Ok(RewardStart::Pending));
    other_window_full.rewarded_in.insert(window(), 1);
    let facts = RuleFacts {
        referrer: Some(other_window_full),
        ..RuleFacts::default()
    };
    let g = grant(decide(&rules, &referee(), t(1), Some(&facts)));
    assert_eq!(g.referrer, Err(RuleReason::ReferrerCapReached));
}

#[test]
fn counters_of_another_referrer_are_never_used() {
    let rules = cap(1, CapScope::Event, true);
    let mut wrong = stats(9);
    wrong.referrer = JkosId::parse("jk-someone-else").unwrap();
    let facts = RuleFacts {
        referrer: Some(wrong),
        ..RuleFacts::default()
    };
    let g = grant(decide(&rules, &referee(), t(1), Some(&facts)));
    assert_eq!(g.referrer, Ok(RewardStart::Pending));
    assert_eq!(g.writes.referrer.unwrap().referrer, referrer());
}

#[test]
fn a_campaigns_code_counts_no_referrer() {
    let rules = cap(1, CapScope::Event, false);
    let mut m = referee();
    if let Some(ReferralUse { outcome, .. }) = m.referral.as_mut() {
        *outcome = ReferralOutcome::Accepted {
            event_id: event(),
            referrer_source: ReferralSource::parse("campaign:shop").unwrap(),
        };
    }
    let (event, window) = (event(), window());
    let case = GrantCase {
        referee: &m,
        referrer: None,
        referrer_phone: None,
        event_id: &event,
        window_id: &window,
        referrer_terms: terms("50"),
        referee_terms: terms("100"),
        used_at: t(0),
        qualified_at: t(1),
        now: t(2),
    };
    let g = grant(decide_grant(&rules, case, Some(&key()), None));
    assert_eq!(g.referee, Ok(RewardStart::Pending));
    assert_eq!(g.writes, RuleWrites::default());
}

#[test]
fn velocity_holds_both_sides_past_v_referees_in_24_hours() {
    let rules = RewardRules {
        review_hold: Some(ReviewHold {
            referees_per_24h: Some(2),
            amount_at_least: None,
        }),
        ..RewardRules::default()
    };
    let q = t(48);
    let with_recent = |times: &[Instant]| RuleFacts {
        referrer: Some(ReferrerStats {
            recent: times.iter().map(|t| Stamp(*t)).collect(),
            ..stats(0)
        }),
        ..RuleFacts::default()
    };
    // Two in the 24 hours before: this is the third → held.
    let g = grant(decide(
        &rules,
        &referee(),
        q,
        Some(&with_recent(&[t(30), t(47)])),
    ));
    let held = RewardStart::Held(ReasonCode::review_velocity());
    assert_eq!((g.referrer, g.referee), (Ok(held.clone()), Ok(held)));
    // One of them exactly 24 hours before: outside the window → not held.
    let g = grant(decide(
        &rules,
        &referee(),
        q,
        Some(&with_recent(&[t(24), t(47)])),
    ));
    assert_eq!(g.referee, Ok(RewardStart::Pending));
    // The stamps kept are the newest V, oldest first.
    let kept = g.writes.referrer.unwrap().recent;
    assert_eq!(kept, vec![Stamp(t(47)), Stamp(q)]);
}

#[test]
fn the_amount_holds_each_reward_on_its_own_and_wins_over_the_claim_step() {
    let rules = RewardRules {
        review_hold: Some(ReviewHold {
            referees_per_24h: None,
            amount_at_least: Some(RewardAmount::parse("100").unwrap()),
        }),
        claim_days: Some(14),
        ..RewardRules::default()
    };
    let g = grant(decide(&rules, &referee(), t(1), None));
    assert_eq!(
        g.referee,
        Ok(RewardStart::Held(ReasonCode::review_amount())),
        "100 is at least 100"
    );
    assert_eq!(
        g.referrer,
        Ok(RewardStart::Claimable {
            deadline: t(1000) + TimeDelta::days(14)
        }),
        "50 is below: claimable for 14 days from its creation"
    );
}

#[test]
fn a_milestone_is_reached_by_exactly_the_nth_rewarded_referee() {
    let rules = RewardRules {
        milestones: vec![
            Milestone {
                nth: 3,
                reward: terms("200"),
            },
            Milestone {
                nth: 5,
                reward: terms("500"),
            },
        ],
        ..cap(4, CapScope::ContentWindow, true)
    };
    let with = |n| RuleFacts {
        referrer: Some(stats(n)),
        ..RuleFacts::default()
    };
    let milestone_of = |n| grant(decide(&rules, &referee(), t(1), Some(&with(n)))).milestone;
    assert_eq!(milestone_of(1), None);
    assert_eq!(
        milestone_of(2),
        Some((3, terms("200"), RewardStart::Pending))
    );
    assert_eq!(milestone_of(3), None, "never twice");
    assert_eq!(
        milestone_of(4),
        Some((5, terms("500"), RewardStart::Pending))
    );
    // A referee whose referrer side is withheld does not count towards a milestone.
    let mut full = stats(2);
    full.rewarded_in.insert(window(), 4);
    let g = grant(decide(
        &rules,
        &referee(),
        t(1),
        Some(&RuleFacts {
            referrer: Some(full),
            ..RuleFacts::default()
        }),
    ));
    assert_eq!(
        (g.referrer, g.milestone),
        (Err(RuleReason::ReferrerCapReached), None)
    );
}

#[test]
fn under_review_holds_a_milestone_bonus_waits_for_a_person() {
    let milestone = |review_hold| RewardRules {
        milestones: vec![Milestone {
            nth: 2,
            reward: terms("200"),
        }],
        review_hold,
        ..RewardRules::default()
    };
    let second = RuleFacts {
        referrer: Some(stats(1)),
        ..RuleFacts::default()
    };
    // The referee's own rewards are below the amount threshold (not held), the bonus is held:
    // the referees it counts may have been held and rejected.
    let amount_only = Some(ReviewHold {
        referees_per_24h: None,
        amount_at_least: Some(RewardAmount::parse("100000").unwrap()),
    });
    let g = grant(decide(
        &milestone(amount_only),
        &referee(),
        t(1),
        Some(&second),
    ));
    assert_eq!(g.referee, Ok(RewardStart::Pending));
    assert_eq!(
        g.milestone,
        Some((
            2,
            terms("200"),
            RewardStart::Held(ReasonCode::review_milestone())
        ))
    );
    // No review holds: the bonus starts as the referee's rewards do.
    let g = grant(decide(&milestone(None), &referee(), t(1), Some(&second)));
    assert_eq!(g.milestone, Some((2, terms("200"), RewardStart::Pending)));
}

/// docs/rules.md: under any review hold a bonus is always `REVIEW_MILESTONE`, also when its
/// own amount reaches the amount threshold or the velocity holds the referee's rewards, so
/// the runbook's milestone check is cued for the largest bonuses too.
#[test]
fn a_milestone_bonus_is_held_for_the_milestone_whatever_else_holds() {
    let rules = |review_hold| RewardRules {
        milestones: vec![Milestone {
            nth: 2,
            reward: terms("5000"),
        }],
        review_hold: Some(review_hold),
        ..RewardRules::default()
    };
    let milestone = RewardStart::Held(ReasonCode::review_milestone());
    // The bonus reaches the amount threshold; the referee's own rewards (50 and 100) do not.
    let amount = rules(ReviewHold {
        referees_per_24h: None,
        amount_at_least: Some(RewardAmount::parse("1000").unwrap()),
    });
    let second = RuleFacts {
        referrer: Some(stats(1)),
        ..RuleFacts::default()
    };
    let g = grant(decide(&amount, &referee(), t(1), Some(&second)));
    assert_eq!(g.referee, Ok(RewardStart::Pending));
    assert_eq!(g.milestone, Some((2, terms("5000"), milestone.clone())));
    // The velocity holds the referee's rewards: the bonus is still held for the milestone.
    let velocity = rules(ReviewHold {
        referees_per_24h: Some(1),
        amount_at_least: None,
    });
    let busy = RuleFacts {
        referrer: Some(ReferrerStats {
            recent: vec![Stamp(t(47))],
            ..stats(1)
        }),
        ..RuleFacts::default()
    };
    let g = grant(decide(&velocity, &referee(), t(48), Some(&busy)));
    assert_eq!(
        g.referee,
        Ok(RewardStart::Held(ReasonCode::review_velocity()))
    );
    assert_eq!(g.milestone, Some((2, terms("5000"), milestone)));
}

#[test]
fn validation_refuses_each_bad_rule_by_name() {
    assert!(RewardRules::default().validate().is_ok());
    let bad: Vec<(RewardRules, &str)> = vec![
        (
            RewardRules {
                qualification_days: Some(0),
                ..RewardRules::default()
            },
            "rules.qualification_days",
        ),
        (
            RewardRules {
                claim_days: Some(366),
                ..RewardRules::default()
            },
            "rules.claim_days",
        ),
        (
            cap(0, CapScope::Event, true),
            "rules.referrer_cap.max_referees",
        ),
        (
            RewardRules {
                review_hold: Some(ReviewHold {
                    referees_per_24h: None,
                    amount_at_least: None,
                }),
                ..RewardRules::default()
            },
            "rules.review_hold",
        ),
        (
            RewardRules {
                review_hold: Some(ReviewHold {
                    referees_per_24h: Some(1001),
                    amount_at_least: None,
                }),
                ..RewardRules::default()
            },
            "rules.review_hold.referees_per_24h",
        ),
        (
            RewardRules {
                milestones: vec![
                    Milestone {
                        nth: 2,
                        reward: terms("1"),
                    };
                    2
                ],
                ..RewardRules::default()
            },
            "rules.milestones.nth",
        ),
        (
            RewardRules {
                milestones: vec![Milestone {
                    nth: 4,
                    reward: terms("1"),
                }],
                ..cap(3, CapScope::Event, true)
            },
            "rules.milestones.nth",
        ),
        (
            RewardRules {
                milestones: (1..=11)
                    .map(|nth| Milestone {
                        nth,
                        reward: terms("1"),
                    })
                    .collect(),
                ..RewardRules::default()
            },
            "rules.milestones",
        ),
    ];
    for (rules, field) in bad {
        assert_eq!(rules.validate().unwrap_err().field, field, "{rules:?}");
    }
    // A milestone past a per-window cap can still be reached across windows.
    let across = RewardRules {
        milestones: vec![Milestone {
            nth: 4,
            reward: terms("1"),
        }],
        ..cap(3, CapScope::ContentWindow, true)
    };
    assert!(across.validate().is_ok());
}

#[test]
fn rules_read_from_json_refuse_unknown_fields_and_default_the_referee_side() {
    let rules: RewardRules = serde_json::from_str(
        r#"{"referrer_cap":{"max_referees":10,"per":"EVENT"},"one_reward_per_phone":true}"#,
    )
    .unwrap();
    assert!(rules.referrer_cap.unwrap().referee_rewarded_beyond_cap);
    assert!(serde_json::from_str::<RewardRules>(r#"{"one_reward_per_fone":true}"#).is_err());
    assert_eq!(
        serde_json::to_string(&RewardRules::default()).unwrap(),
        "{}"
    );
    // Whole numbers as JSON Schema's integer reads them, and nothing else.
    let whole: RewardRules = serde_json::from_str(
        r#"{"claim_days":28.0,"qualification_days":null,"referrer_cap":{"max_referees":12,"per":"EVENT"}}"#,
    )
    .unwrap();
    assert_eq!(
        (whole.claim_days, whole.qualification_days),
        (Some(28), None)
    );
    for bad in [
        r#"{"claim_days":1.5}"#,
        r#"{"claim_days":-1}"#,
        r#"{"claim_days":"7"}"#,
        r#"{"claim_days":4294967296}"#,
    ] {
        assert!(serde_json::from_str::<RewardRules>(bad).is_err(), "{bad}");
    }
}
