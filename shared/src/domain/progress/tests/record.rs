//! The record steps, `has_due_effects` and `granted_rewards`.

use super::settle::{Config, Referral, SettleCase};
use super::*;

#[test]
fn record_step_first_time_wins_and_fills_a_missing_phone() {
    const OTHER: &str = "0987654321";
    struct Case {
        name: &'static str,
        step: Step,
        /// Both step times already recorded (at 1 o'clock).
        recorded: bool,
        /// The profile's phone before.
        phone_before: Option<&'static str>,
        phone: Option<&'static str>,
        changed: bool,
    }
    let cases = [
        Case {
            name: "first device binding",
            step: Step::DeviceBound,
            recorded: false,
            phone_before: None,
            phone: None,
            changed: true,
        },
        Case {
            name: "first KYC pass",
            step: Step::KycPassed,
            recorded: false,
            phone_before: None,
            phone: None,
            changed: true,
        },
        Case {
            name: "a duplicate device binding",
            step: Step::DeviceBound,
            recorded: true,
            phone_before: None,
            phone: None,
            changed: false,
        },
        Case {
            name: "a duplicate KYC pass",
            step: Step::KycPassed,
            recorded: true,
            phone_before: Some(PHONE),
            phone: Some(OTHER),
            changed: false,
        },
        Case {
            name: "a duplicate that brings the first phone",
            step: Step::KycPassed,
            recorded: true,
            phone_before: None,
            phone: Some(PHONE),
            changed: true,
        },
        Case {
            name: "a first step with a phone when one is known",
            step: Step::DeviceBound,
            recorded: false,
            phone_before: Some(PHONE),
            phone: Some(OTHER),
            changed: true,
        },
    ];
    for case in cases {
        let name = case.name;
        let mut m = member();
        if case.recorded {
            m.device_bind_time = Some(t(1));
            m.kyc_pass_time = Some(t(1));
        }
        let parse = |raw: Option<&str>| raw.map(|p| PhoneNumber::parse(p).unwrap());
        m.phone_number = parse(case.phone_before);
        let before = m.clone();
        assert_eq!(
            m.record_step(case.step, t(2), parse(case.phone).as_ref(), now()),
            case.changed,
            "{name}"
        );
        let first = if case.recorded { t(1) } else { t(2) };
        let (slot, untouched) = match case.step {
            Step::DeviceBound => (m.device_bind_time, (m.kyc_pass_time, before.kyc_pass_time)),
            Step::KycPassed => (
                m.kyc_pass_time,
                (m.device_bind_time, before.device_bind_time),
            ),
        };
        assert_eq!(slot, Some(first), "{name}");
        assert_eq!(untouched.0, untouched.1, "{name}");
        let phone_after = parse(case.phone_before.or(case.phone));
        assert_eq!(m.phone_number, phone_after, "{name}");
        let updated = if case.changed { now() } else { t(0) };
        assert_eq!(m.updated_at, updated, "{name}");
    }
}

#[test]
fn record_referral_keeps_the_first_accepted_code() {
    let use_of = |raw: &str, outcome: ReferralOutcome| ReferralUse {
        code: code(raw),
        used_at: t(2),
        referrer_phone: None,
        event_id: None,
        outcome,
    };
    let rejected_use = || use_of("AAAA", rejected(RejectionReason::UnknownCode));
    let accepted_use = || use_of("BBBB", accepted("member:jk-referrer"));
    let cases: [(&str, Option<ReferralUse>, ReferralUse, bool); 6] = [
        ("none recorded, a rejected use", None, rejected_use(), true),
        ("none recorded, an accepted use", None, accepted_use(), true),
        (
            "rejected, then accepted",
            Some(rejected_use()),
            accepted_use(),
            true,
        ),
        (
            "rejected, then rejected again",
            Some(rejected_use()),
            use_of("CCCC", rejected(RejectionReason::OwnCode)),
            false,
        ),
        (
            "accepted, then another accepted",
            Some(accepted_use()),
            use_of("CCCC", accepted("campaign:shop")),
            false,
        ),
        (
            "accepted, then rejected",
            Some(accepted_use()),
            rejected_use(),
            false,
        ),
    ];
    for (name, recorded, used, changed) in cases {
        let mut m = member();
        m.referral = recorded.clone();
        let expected = if changed {
            Some(used.clone())
        } else {
            recorded
        };
        assert_eq!(m.record_referral(used, None, now()), changed, "{name}");
        assert_eq!(m.referral, expected, "{name}");
        let updated = if changed { now() } else { t(0) };
        assert_eq!(m.updated_at, updated, "{name}");
    }

    // A phone riding along fills a missing one, even when the use itself changes nothing.
    let mut m = member();
    m.referral = Some(accepted_use());
    let phone = PhoneNumber::parse(PHONE).unwrap();
    assert!(m.record_referral(rejected_use(), Some(&phone), now()));
    assert_eq!(m.referral, Some(accepted_use()));
    assert_eq!(m.phone_number, Some(phone));
}

#[test]
fn member_info_latest_wins_and_a_repeat_changes_nothing() {
    let mut m = member();
    let account = JkosAccount::parse("123456789").unwrap();
    let phone = PhoneNumber::parse(PHONE).unwrap();
    let jkos = JkosId::parse("jk-1").unwrap();
    assert!(m.record_member_info(&jkos, &account, &phone, t(1), t(2)));
    assert_eq!(
        (
            &m.jkos_account,
            &m.phone_number,
            m.registered_at,
            m.updated_at
        ),
        (
            &Some(account.clone()),
            &Some(phone.clone()),
            Some(t(1)),
            t(2)
        )
    );
    assert!(!m.record_member_info(&jkos, &account, &phone, t(1), t(3)));
    assert_eq!(m.updated_at, t(2));
    // The latest message replaces the phone and the jkos id.
    let new_phone = PhoneNumber::parse("0987654321").unwrap();
    let new_jkos = JkosId::parse("jk-2").unwrap();
    assert!(m.record_member_info(&new_jkos, &account, &new_phone, t(1), t(4)));
    assert_eq!((&m.jkos_id, &m.phone_number), (&new_jkos, &Some(new_phone)));
    assert_eq!(m.updated_at, t(4));
}

#[test]
fn has_due_effects_says_when_settle_has_something_to_do() {
    let cases = [
        ("no time known", None, None, Referral::Member, false, false),
        (
            "success, not qualified",
            Some(3),
            None,
            Referral::None,
            false,
            true,
        ),
        (
            "qualified, no referral",
            Some(3),
            Some(3),
            Referral::None,
            false,
            false,
        ),
        (
            "qualified, rejected referral",
            Some(3),
            Some(3),
            Referral::Rejected,
            false,
            false,
        ),
        (
            "qualified, accepted, not granted",
            Some(3),
            Some(3),
            Referral::Campaign,
            false,
            true,
        ),
        (
            "qualified, accepted, granted",
            Some(3),
            Some(3),
            Referral::Member,
            true,
            false,
        ),
    ];
    for (name, times, qualified, referral, granted_before, due) in cases {
        let m = SettleCase {
            kyc: times,
            device: times,
            qualified,
            granted_before,
            ..SettleCase::new(name, referral, Config::Missing)
        }
        .member();
        assert_eq!(m.has_due_effects(), due, "{name}");
    }
}

#[test]
fn granted_rewards_follow_the_grant() {
    let window_id = WindowId::parse("w").unwrap();
    let issued = |count| RewardGrant::Issued {
        at: t(1),
        window_id: window_id.clone(),
        count,
        referrer_withheld: None,
        milestone: None,
        waiting: Vec::new(),
    };
    let acc = AccountId::parse("acc-1").unwrap();
    let referrer = RewardId::new(&acc, Side::Referrer);
    let referee = RewardId::new(&acc, Side::Referee);
    let cases = [
        ("not granted", None, vec![]),
        (
            "no active window",
            Some(RewardGrant::NoActiveWindow { at: t(1) }),
            vec![],
        ),
        ("a campaign's code", Some(issued(1)), vec![referee.clone()]),
        ("a member's code", Some(issued(2)), vec![referrer, referee]),
    ];
    for (name, grant, expected) in cases {
        let mut m = member();
        m.reward_grant = grant;
        assert_eq!(m.granted_rewards(), expected, "{name}");
    }
}
