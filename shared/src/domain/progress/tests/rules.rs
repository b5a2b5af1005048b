//! [`settle`] under reward rules: what each verdict of `decide_grant` leaves on the profile
//! and in the settlement (the rules themselves are tested in `rules_tests.rs`).

use super::*;
use crate::domain::{
    CapScope, DeviceId, IdentityKey, IdentityKind, Milestone, ReferrerCap, ReferrerStats,
    RewardRules, RuleContext, RuleFacts, RuleReason, Undecided,
};

fn key() -> IdentityKey {
    IdentityKey::new(vec![3; 32]).unwrap()
}

/// A referee of `jk-referrer`'s code of event `spring` (used at t(1)), KYC at t(2), device at
/// t(3), phone known.
fn referee() -> MemberProfile {
    let mut m = member();
    m.phone_number = Some(PhoneNumber::parse(PHONE).unwrap());
    m.referral = Some(ReferralUse {
        code: code("AB2CD3"),
        used_at: t(1),
        referrer_phone: None,
        event_id: None,
        outcome: accepted("member:jk-referrer"),
    });
    m.kyc_pass_time = Some(t(2));
    m.device_bind_time = Some(t(3));
    m
}

fn spring(rules: RewardRules) -> EventConfig {
    EventConfig {
        rules,
        ..config("spring", &[(0, 10)])
    }
}

fn run(m: &mut MemberProfile, config: &EventConfig, facts: Option<&RuleFacts>) -> Settlement {
    let key = key();
    let context = RuleContext {
        key: Some(&key),
        facts,
    };
    settle(
        m,
        &event_id("personal"),
        Some(config),
        context,
        || code("NEW234"),
        now(),
    )
}

#[test]
fn a_withheld_grant_is_final_and_recorded_with_its_reason() {
    let mut config = spring(RewardRules {
        qualification_days: Some(1),
        ..RewardRules::default()
    });
    config.contents[0].window = TimeWindow::new(t(0), t(0) + chrono::TimeDelta::days(3)).unwrap();
    let mut m = referee();
    m.device_bind_time = Some(t(1) + chrono::TimeDelta::days(1) + chrono::TimeDelta::seconds(1));
    let out = run(&mut m, &config, None);
    assert!(out.rewards.is_empty() && out.new_code.is_some());
    assert!(matches!(
        m.reward_grant,
        Some(RewardGrant::Withheld {
            reason: RuleReason::QualificationExpired,
            ..
        })
    ));
    assert!(!m.has_due_effects(), "decided for good");
    assert!(m.granted_rewards().is_empty());
}

#[test]
fn a_grant_that_needs_the_phone_waits_for_it_then_is_decided() {
    let config = spring(RewardRules {
        refuse_self_referral: true,
        ..RewardRules::default()
    });
    let mut m = referee();
    m.phone_number = None;
    // The code recorded its owner's phone (another one): the referee's phone decides.
    m.referral.as_mut().unwrap().referrer_phone =
        Some(key().phone(&PhoneNumber::parse("0987654321").unwrap()));
    let out = run(&mut m, &config, None);
    assert!(out.rewards.is_empty());
    assert_eq!(
        m.reward_grant,
        Some(RewardGrant::AwaitingPhone { since: now() })
    );
    assert!(m.has_due_effects(), "still due");
    // Settling again without the phone changes nothing (duplicates stay duplicates).
    let before = m.clone();
    assert!(run(&mut m, &config, None).is_empty());
    assert_eq!(m, before);
    // Member info brings the phone: decided.
    m.phone_number = Some(PhoneNumber::parse(PHONE).unwrap());
    let out = run(&mut m, &config, None);
    assert_eq!(out.rewards.len(), 2);
    assert!(matches!(m.reward_grant, Some(RewardGrant::Issued { .. })));
}

#[test]
fn stored_state_is_asked_for_then_written_with_the_grant() {
    let config = spring(RewardRules {
        one_reward_per_phone: true,
        one_reward_per_device: true,
        referrer_cap: Some(ReferrerCap {
            max_referees: 2,
            per: CapScope::Event,
            referee_rewarded_beyond_cap: true,
        }),
        milestones: vec![Milestone {
            nth: 2,
            reward: terms(RewardType::Coin, "200"),
        }],
        ..RewardRules::default()
    });
    let mut m = referee();
    m.record_device(Some(&DeviceId::parse("dev-1").unwrap()), Some(&key()), t(3));
    let first = run(&mut m.clone(), &config, None);
    match &first.undecided {
        Some(Undecided::NeedFacts(keys)) => {
            assert_eq!(keys.referrer, Some(JkosId::parse("jk-referrer").unwrap()));
            assert!(keys.phone.is_some() && keys.device.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(first.rewards.is_empty());

    // One referee rewarded before: this one is the 2nd, reaching the milestone.
    let facts = RuleFacts {
        referrer: Some(ReferrerStats {
            rewarded: 1,
            version: 4,
            ..ReferrerStats::empty(event_id("spring"), JkosId::parse("jk-referrer").unwrap())
        }),
        ..RuleFacts::default()
    };
    let out = run(&mut m, &config, Some(&facts));
    let ids: Vec<_> = out
        .rewards
        .iter()
        .map(|r| r.reward_id.to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "acc-1-referrer",
            "acc-1-referee",
            "milestone.2.spring.jk-referrer"
        ]
    );
    let bonus = &out.rewards[2];
    assert_eq!(
        (bonus.side, bonus.member_jkos_id.as_str(), bonus.terms),
        (
            Side::Referrer,
            "jk-referrer",
            terms(RewardType::Coin, "200")
        )
    );
    let stats = out.rule_writes.referrer.as_ref().unwrap();
    assert_eq!((stats.rewarded, stats.version), (2, 5));
    let kinds: Vec<_> = out.rule_writes.claims.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [IdentityKind::Phone, IdentityKind::Device]);
    assert_eq!(
        out.actions(),
        1 + 3 + 1 + 2,
        "code, 3 rewards, counters, 2 claims"
    );
    assert_eq!(
        m.granted_rewards(),
        out.rewards
            .iter()
            .map(|r| r.reward_id.clone())
            .collect::<Vec<_>>(),
        "a re-send covers the bonus too"
    );

    // At the cap: the referee only, the reason on the profile.
    let full = RuleFacts {
        referrer: Some(ReferrerStats {
            rewarded: 2,
            ..facts.referrer.clone().unwrap()
        }),
        ..RuleFacts::default()
    };
    let mut capped = referee();
    let out = run(&mut capped, &config, Some(&full));
    assert_eq!(out.rewards.len(), 1);
    assert_eq!(out.rewards[0].side, Side::Referee);
    assert!(matches!(
        capped.reward_grant,
        Some(RewardGrant::Issued {
            count: 1,
            referrer_withheld: Some(RuleReason::ReferrerCapReached),
            milestone: None,
            ..
        })
    ));
    assert_eq!(
        capped.granted_rewards(),
        vec![RewardId::new(&capped.account_id, Side::Referee)]
    );
}

#[test]
fn codes_carry_the_owners_phone_hash_and_uses_copy_it() {
    let mut owner = member();
    owner.phone_number = Some(PhoneNumber::parse(PHONE).unwrap());
    owner.kyc_pass_time = Some(t(1));
    owner.device_bind_time = Some(t(2));
    let out = run(&mut owner, &config("spring", &[(0, 10)]), None);
    let issued = out.new_code.unwrap();
    let hash = key().phone(&PhoneNumber::parse(PHONE).unwrap());
    assert_eq!(issued.owner_phone, Some(hash.clone()));

    let mut friend = MemberProfile::new(
        AccountId::parse("acc-2").unwrap(),
        JkosId::parse("jk-2").unwrap(),
        t(0),
    );
    let used = judge_referral(
        &friend,
        issued.code.clone(),
        t(3),
        Some(&ReferralCodeRecord {
            event_id: event_id("spring"),
            ..issued.clone()
        }),
        Some(&config("spring", &[(0, 10)])),
    );
    assert_eq!(used.referrer_phone, Some(hash));
    friend.record_referral(used, None, t(3));

    // Without a key (the import), nothing is hashed.
    let mut keyless = member();
    keyless.phone_number = Some(PhoneNumber::parse(PHONE).unwrap());
    keyless.kyc_pass_time = Some(t(1));
    keyless.device_bind_time = Some(t(2));
    let out = settle(
        &mut keyless,
        &event_id("personal"),
        None,
        RuleContext::default(),
        || code("NEW234"),
        now(),
    );
    assert_eq!(out.new_code.unwrap().owner_phone, None);
}

#[test]
fn the_first_named_device_is_kept_as_its_hash() {
    let mut m = member();
    assert!(!m.record_device(None, Some(&key()), t(1)));
    let dev = DeviceId::parse("dev-1").unwrap();
    assert!(
        !m.record_device(Some(&dev), None, t(1)),
        "no key, nothing kept"
    );
    assert!(m.record_device(Some(&dev), Some(&key()), t(1)));
    assert_eq!(m.device_key, Some(key().device(&dev)));
    let other = DeviceId::parse("dev-2").unwrap();
    assert!(!m.record_device(Some(&other), Some(&key()), t(2)));
    assert_eq!(m.device_key, Some(key().device(&dev)));
}

#[test]
fn rewards_created_waiting_are_never_re_sent_to_payout() {
    let config = spring(RewardRules {
        review_hold: Some(crate::domain::ReviewHold {
            referees_per_24h: None,
            amount_at_least: Some(RewardAmount::parse("100").unwrap()),
        }),
        ..RewardRules::default()
    });
    let mut m = referee();
    let out = run(&mut m, &config, None);
    let statuses: Vec<_> = out.rewards.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [RewardStatus::Pending, RewardStatus::Held]);
    assert_eq!(
        m.granted_rewards(),
        vec![RewardId::new(&m.account_id, Side::Referrer)],
        "the held referee reward is sent by its approval, not by a re-send"
    );
}
