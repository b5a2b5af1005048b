//! [`settle`]: S1 to S10.

use super::*;
use std::cell::Cell;

/// The member's referral in a [`settle`] case.
#[derive(Clone, Copy)]
pub(super) enum Referral {
    None,
    Rejected,
    /// Accepted, of event `spring`, owned by the member `jk-referrer`.
    Member,
    /// Accepted, of event `spring`, owned by the campaign `shop`.
    Campaign,
}

/// The configuration handed to [`settle`].
#[derive(Clone, Copy)]
pub(super) enum Config {
    Missing,
    /// The configuration of another event than the referral's.
    OtherEvent,
    /// Event `spring` with these content windows (hours).
    Windows(&'static [(u32, u32)]),
}

/// The member's grant after [`settle`].
#[derive(Clone, Copy)]
pub(super) enum Grant {
    Unset,
    /// The grant recorded before (NoActiveWindow at 1 o'clock), untouched.
    Kept,
    NoActiveWindow,
    Issued(&'static str, u8),
}

pub(super) struct SettleCase {
    pub(super) name: &'static str,
    pub(super) kyc: Option<u32>,
    pub(super) device: Option<u32>,
    pub(super) qualified: Option<u32>,
    pub(super) referral: Referral,
    pub(super) granted_before: bool,
    pub(super) config: Config,
    // What is expected:
    pub(super) qualified_after: Option<u32>,
    pub(super) new_code: bool,
    /// Side and payee of each reward, in order.
    pub(super) rewards: &'static [(Side, &'static str)],
    pub(super) grant: Grant,
}

impl SettleCase {
    /// A member, not granted, with the given times and referral; nothing else differs.
    pub(super) const fn new(name: &'static str, referral: Referral, config: Config) -> Self {
        Self {
            name,
            kyc: None,
            device: None,
            qualified: None,
            referral,
            granted_before: false,
            config,
            qualified_after: None,
            new_code: false,
            rewards: &[],
            grant: Grant::Unset,
        }
    }

    /// Both times known (KYC at 3, device at 5), not yet qualified: expected to qualify at 5
    /// with a new code.
    const fn qualifying(name: &'static str, referral: Referral, config: Config) -> Self {
        Self {
            kyc: Some(3),
            device: Some(5),
            qualified_after: Some(5),
            new_code: true,
            ..Self::new(name, referral, config)
        }
    }

    /// Qualified at 5 (KYC at 3, device at 5), with a code of their own.
    pub(super) const fn qualified(name: &'static str, referral: Referral, config: Config) -> Self {
        Self {
            kyc: Some(3),
            device: Some(5),
            qualified: Some(5),
            qualified_after: Some(5),
            ..Self::new(name, referral, config)
        }
    }

    pub(super) fn member(&self) -> MemberProfile {
        let mut m = member();
        m.phone_number = Some(PhoneNumber::parse(PHONE).unwrap());
        m.kyc_pass_time = self.kyc.map(t);
        m.device_bind_time = self.device.map(t);
        m.qualified_at = self.qualified.map(t);
        if self.qualified.is_some() {
            m.own_code = Some(code("MY2345"));
        }
        let outcome = match self.referral {
            Referral::None => None,
            Referral::Rejected => Some(rejected(RejectionReason::NoActiveWindow)),
            Referral::Member => Some(accepted("member:jk-referrer")),
            Referral::Campaign => Some(accepted("campaign:shop")),
        };
        m.referral = outcome.map(|outcome| ReferralUse {
            code: code("AB2CD3"),
            used_at: t(1),
            referrer_phone: None,
            event_id: None,
            outcome,
        });
        if self.granted_before {
            m.reward_grant = Some(RewardGrant::NoActiveWindow { at: t(1) });
        }
        m
    }

    fn config(&self) -> Option<EventConfig> {
        match self.config {
            Config::Missing => None,
            Config::OtherEvent => Some(config("autumn", &[(0, 23)])),
            Config::Windows(windows) => Some(config("spring", windows)),
        }
    }
}

#[test]
fn settle_decides_every_branch() {
    use Config::{Missing, OtherEvent, Windows};
    use Side::{Referee, Referrer};
    let both = &[(Referrer, "jk-referrer"), (Referee, "jk-1")];
    let cases = [
        SettleCase::new("S1 no time known", Referral::Member, Windows(&[(0, 23)])),
        SettleCase {
            kyc: Some(3),
            ..SettleCase::new("S1 only KYC passed", Referral::Member, Windows(&[(0, 23)]))
        },
        SettleCase {
            device: Some(3),
            ..SettleCase::new("S1 only the device bound", Referral::None, Missing)
        },
        SettleCase::qualifying(
            "S2 qualifies at the later (device) time",
            Referral::None,
            Missing,
        ),
        SettleCase {
            kyc: Some(6),
            device: Some(4),
            qualified_after: Some(6),
            ..SettleCase::qualifying(
                "S2 qualifies at the later (KYC) time",
                Referral::None,
                Missing,
            )
        },
        SettleCase::qualifying(
            "S2+S5 qualifies; a rejected referral earns nothing",
            Referral::Rejected,
            Windows(&[(0, 23)]),
        ),
        SettleCase::qualifying(
            "S2+S6 qualifies; the rewards wait for the configuration",
            Referral::Member,
            Missing,
        ),
        SettleCase {
            rewards: both,
            grant: Grant::Issued("w4", 2),
            ..SettleCase::qualifying(
                "S2+S8 qualifies and is rewarded in one settle",
                Referral::Member,
                Windows(&[(4, 10)]),
            )
        },
        SettleCase::qualified("S3+S5 qualified, no referral", Referral::None, Missing),
        SettleCase {
            granted_before: true,
            grant: Grant::Kept,
            ..SettleCase::qualified(
                "S3+S4 qualified and already granted",
                Referral::Member,
                Windows(&[(0, 23)]),
            )
        },
        SettleCase::qualified(
            "S5 qualified, rejected referral",
            Referral::Rejected,
            Windows(&[(0, 23)]),
        ),
        SettleCase::qualified("S6 no configuration", Referral::Member, Missing),
        SettleCase::qualified(
            "S6 the configuration of another event",
            Referral::Member,
            OtherEvent,
        ),
        SettleCase {
            grant: Grant::NoActiveWindow,
            ..SettleCase::qualified(
                "S7 no window at the qualifying moment",
                Referral::Member,
                Windows(&[(8, 10)]),
            )
        },
        SettleCase {
            grant: Grant::NoActiveWindow,
            ..SettleCase::qualified(
                "S7 a window active now, not at the qualifying moment",
                Referral::Member,
                Windows(&[(19, 21)]),
            )
        },
        SettleCase {
            grant: Grant::NoActiveWindow,
            ..SettleCase::qualified(
                "S7 a window ending at the qualifying moment",
                Referral::Campaign,
                Windows(&[(1, 5)]),
            )
        },
        SettleCase {
            rewards: both,
            grant: Grant::Issued("w5", 2),
            ..SettleCase::qualified(
                "S8 a member's code: both sides, referrer first",
                Referral::Member,
                Windows(&[(1, 5), (5, 6)]),
            )
        },
        SettleCase {
            rewards: &[(Referee, "jk-1")],
            grant: Grant::Issued("w4", 1),
            ..SettleCase::qualified(
                "S9 a campaign's code: the referee only",
                Referral::Campaign,
                Windows(&[(4, 10)]),
            )
        },
    ];
    for case in cases {
        let name = case.name;
        let before = case.member();
        let mut m = before.clone();
        let config = case.config();
        let calls = Cell::new(0);
        let out = settle(
            &mut m,
            &event_id("personal"),
            config.as_ref(),
            RuleContext::default(),
            || {
                calls.set(calls.get() + 1);
                code("NEW234")
            },
            now(),
        );

        assert_eq!(m.qualified_at, case.qualified_after.map(t), "{name}");
        assert_eq!(calls.get(), usize::from(case.new_code), "{name}: make_code");
        if case.new_code {
            let expected = ReferralCodeRecord {
                code: code("NEW234"),
                event_id: event_id("personal"),
                event_type: EventType::Personal,
                source: source("member:jk-1"),
                owner_phone: None,
                created_at: now(),
            };
            assert_eq!(out.new_code, Some(expected), "{name}");
            assert_eq!(m.own_code, Some(code("NEW234")), "{name}");
        } else {
            assert_eq!(out.new_code, None, "{name}");
            assert_eq!(m.own_code, before.own_code, "{name}");
        }

        let rewards: Vec<_> = out
            .rewards
            .iter()
            .map(|r| (r.side, r.member_jkos_id.as_str()))
            .collect();
        assert_eq!(rewards, case.rewards, "{name}");

        let (grant, granted_under) = match case.grant {
            Grant::Unset => (None, None),
            Grant::Kept => (before.reward_grant.clone(), None),
            Grant::NoActiveWindow => (Some(RewardGrant::NoActiveWindow { at: now() }), None),
            Grant::Issued(window, count) => {
                let window_id = WindowId::parse(window).unwrap();
                let grant = RewardGrant::Issued {
                    at: now(),
                    window_id: window_id.clone(),
                    count,
                    referrer_withheld: None,
                    milestone: None,
                    waiting: Vec::new(),
                };
                (Some(grant), Some((event_id("spring"), window_id)))
            }
        };
        assert_eq!(m.reward_grant, grant, "{name}");
        assert_eq!(out.granted_under, granted_under, "{name}");
        assert_eq!(
            out.is_empty(),
            !case.new_code && case.rewards.is_empty(),
            "{name}"
        );

        // The member changed exactly when something was decided, and then at `now`.
        let changed = m != before;
        let decided =
            case.new_code || matches!(case.grant, Grant::NoActiveWindow | Grant::Issued(..));
        assert_eq!(changed, decided, "{name}: changed");
        let updated = if changed { now() } else { before.updated_at };
        assert_eq!(m.updated_at, updated, "{name}");
        // Settling again decides nothing more.
        let again = settle(
            &mut m.clone(),
            &event_id("personal"),
            config.as_ref(),
            RuleContext::default(),
            || code("TW2345"),
            now(),
        );
        assert!(again.is_empty(), "{name}: settled twice");
    }
}

#[test]
fn settled_rewards_carry_the_frozen_terms_and_the_referral() {
    let mut m = SettleCase::qualified("", Referral::Member, Config::Missing).member();
    let config = config("spring", &[(4, 10)]);
    let out = settle(
        &mut m,
        &event_id("personal"),
        Some(&config),
        RuleContext::default(),
        || unreachable!("already qualified"),
        now(),
    );
    assert_eq!(out.rewards.len(), 2);
    for (reward, (side, payee, terms)) in out.rewards.iter().zip([
        (Side::Referrer, "jk-referrer", referrer_terms()),
        (Side::Referee, "jk-1", referee_terms()),
    ]) {
        assert_eq!(
            reward.reward_id,
            RewardId::new(&AccountId::parse("acc-1").unwrap(), side)
        );
        assert_eq!(reward.side, side);
        assert_eq!(reward.member_jkos_id.as_str(), payee);
        assert_eq!(reward.referee_account_id.as_str(), "acc-1");
        assert_eq!(reward.referee_jkos_id.as_str(), "jk-1");
        assert_eq!(reward.code, code("AB2CD3"));
        assert_eq!(reward.event_id, event_id("spring"));
        assert_eq!(reward.referrer_source, source("member:jk-referrer"));
        assert_eq!(reward.terms, terms);
        assert_eq!(reward.qualified_at, t(5));
        assert_eq!(reward.status, RewardStatus::Pending);
        assert_eq!(reward.attempts, 0);
        assert_eq!(reward.last_error, None);
        assert_eq!(reward.compensation_id, None);
        assert_eq!(reward.paid_at, None);
        assert_eq!(reward.referee_phone_masked.as_deref(), Some("0912***678"));
        assert_eq!(reward.notification, None);
        assert_eq!((reward.created_at, reward.updated_at), (now(), now()));
    }
    assert_eq!(
        m.granted_rewards(),
        vec![
            out.rewards[0].reward_id.clone(),
            out.rewards[1].reward_id.clone()
        ]
    );
}

#[test]
fn settled_rewards_without_a_known_phone_carry_none() {
    let mut m = SettleCase::qualified("", Referral::Campaign, Config::Missing).member();
    m.phone_number = None;
    let out = settle(
        &mut m,
        &event_id("personal"),
        Some(&config("spring", &[(4, 10)])),
        RuleContext::default(),
        || unreachable!("already qualified"),
        now(),
    );
    assert_eq!(out.rewards.len(), 1);
    assert_eq!(out.rewards[0].referee_phone_masked, None);
    assert_eq!(out.rewards[0].referrer_source, source("campaign:shop"));
}
