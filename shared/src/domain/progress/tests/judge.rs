//! [`judge_referral`]: J1 to J6.

use super::*;

#[test]
fn judge_referral_decides_every_branch() {
    struct Case {
        name: &'static str,
        /// The stored code's source; None: the code is unknown.
        stored: Option<&'static str>,
        /// The member's own code, if they have one.
        own_code: Option<&'static str>,
        /// The event's content windows (hours); None: the configuration is missing.
        windows: Option<&'static [(u32, u32)]>,
        used_at: u32,
        expected: ReferralOutcome,
    }
    let unknown = || rejected(RejectionReason::UnknownCode);
    let own = || rejected(RejectionReason::OwnCode);
    let no_window = || rejected(RejectionReason::NoActiveWindow);
    let cases = [
        Case {
            name: "J1 unknown code",
            stored: None,
            own_code: None,
            windows: Some(&[(8, 10)]),
            used_at: 9,
            expected: unknown(),
        },
        Case {
            name: "J1 unknown code, no configuration either",
            stored: None,
            own_code: None,
            windows: None,
            used_at: 9,
            expected: unknown(),
        },
        Case {
            name: "J2 known code, its configuration missing",
            stored: Some("member:jk-referrer"),
            own_code: None,
            windows: None,
            used_at: 9,
            expected: unknown(),
        },
        Case {
            name: "J2 before J3: the member's own code without configuration",
            stored: Some("member:jk-1"),
            own_code: None,
            windows: None,
            used_at: 9,
            expected: unknown(),
        },
        Case {
            name: "J3 the code's source is the member",
            stored: Some("member:jk-1"),
            own_code: None,
            windows: Some(&[(8, 10)]),
            used_at: 9,
            expected: own(),
        },
        Case {
            name: "J4 the code is the member's own code",
            stored: Some("member:jk-someone-else"),
            own_code: Some("AB2CD3"),
            windows: Some(&[(8, 10)]),
            used_at: 9,
            expected: own(),
        },
        Case {
            name: "J3 before J6: own code outside any window",
            stored: Some("member:jk-1"),
            own_code: None,
            windows: Some(&[(8, 10)]),
            used_at: 11,
            expected: own(),
        },
        Case {
            name: "J5 a campaign named like the member's jkos id is not the member",
            stored: Some("campaign:jk-1"),
            own_code: Some("ZZ2ZZ3"),
            windows: Some(&[(8, 10)]),
            used_at: 9,
            expected: accepted("campaign:jk-1"),
        },
        Case {
            name: "J5 another member's code within a window",
            stored: Some("member:jk-referrer"),
            own_code: Some("ZZ2ZZ3"),
            windows: Some(&[(1, 2), (8, 10)]),
            used_at: 9,
            expected: accepted("member:jk-referrer"),
        },
        Case {
            name: "J5 the window's start is inclusive",
            stored: Some("member:jk-referrer"),
            own_code: None,
            windows: Some(&[(8, 10)]),
            used_at: 8,
            expected: accepted("member:jk-referrer"),
        },
        Case {
            name: "J6 before the window",
            stored: Some("member:jk-referrer"),
            own_code: None,
            windows: Some(&[(8, 10)]),
            used_at: 7,
            expected: no_window(),
        },
        Case {
            name: "J6 the window's end is exclusive",
            stored: Some("member:jk-referrer"),
            own_code: None,
            windows: Some(&[(8, 10)]),
            used_at: 10,
            expected: no_window(),
        },
        Case {
            name: "J6 an event without content windows",
            stored: Some("campaign:shop"),
            own_code: None,
            windows: Some(&[]),
            used_at: 9,
            expected: no_window(),
        },
    ];
    for case in cases {
        let mut m = member();
        m.own_code = case.own_code.map(code);
        let stored = case.stored.map(|s| record("AB2CD3", s));
        let config = case.windows.map(|w| config("spring", w));
        let used = judge_referral(
            &m,
            code("AB2CD3"),
            t(case.used_at),
            stored.as_ref(),
            config.as_ref(),
        );
        assert_eq!(
            used,
            ReferralUse {
                code: code("AB2CD3"),
                used_at: t(case.used_at),
                referrer_phone: None,
                // The code's event, whatever the outcome, when the code exists.
                event_id: stored.as_ref().map(|r| r.event_id.clone()),
                outcome: case.expected,
            },
            "{}",
            case.name
        );
    }
}
