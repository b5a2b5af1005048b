//! The table of `docs/checklist.md` ("Every case") is the expectation: each row's case is built
//! here and every cell compared. A case without a fixture, or a fixture without a row, fails.

use super::*;
use crate::domain::{
    AccountId, EventId, JkosId, PhoneNumber, ReasonCode, ReferralCode, ReferralSource, ReferralUse,
    RewardAmount, RewardTerms, RewardType, WindowId,
};
use chrono::{Duration, TimeZone, Utc};

const DOC: &str = include_str!("../../../../docs/checklist.md");

/// When the code was used.
fn u() -> Instant {
    Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap()
}

struct Case {
    profile: MemberProfile,
    referee: Option<Reward>,
    referrer: Option<Reward>,
    days: Option<u32>,
    now: Instant,
}

impl Case {
    fn input(&self) -> ChecklistInput<'_> {
        ChecklistInput {
            profile: &self.profile,
            referee_reward: self.referee.as_ref(),
            referrer_reward: self.referrer.as_ref(),
            qualification_days: self.days,
        }
    }
}

fn member(outcome: Option<ReferralOutcome>) -> MemberProfile {
    let mut p = MemberProfile::new(
        AccountId::parse("acc-1").unwrap(),
        JkosId::parse("jk-1").unwrap(),
        u() - Duration::hours(1),
    );
    p.phone_number = Some(PhoneNumber::parse("0912345678").unwrap());
    p.referral = outcome.map(|outcome| ReferralUse {
        code: ReferralCode::parse("ACE23456").unwrap(),
        used_at: u(),
        outcome,
        referrer_phone: None,
        event_id: None,
    });
    p
}

fn accepted_from(source: &str) -> Option<ReferralOutcome> {
    Some(ReferralOutcome::Accepted {
        event_id: EventId::parse("personal").unwrap(),
        referrer_source: ReferralSource::parse(source).unwrap(),
    })
}

fn accepted() -> Option<ReferralOutcome> {
    accepted_from("member:jk-owner")
}

fn rejected(reason: RejectionReason) -> Option<ReferralOutcome> {
    Some(ReferralOutcome::Rejected { reason })
}

fn qualified(mut p: MemberProfile) -> MemberProfile {
    p.kyc_pass_time = Some(u() + Duration::hours(1));
    p.device_bind_time = Some(u() + Duration::hours(2));
    p.qualified_at = Some(u() + Duration::hours(2));
    p
}

fn granted(mut p: MemberProfile, grant: RewardGrant) -> MemberProfile {
    p.reward_grant = Some(grant);
    p
}

fn grant_at() -> Instant {
    u() + Duration::hours(2)
}

fn withheld(reason: RuleReason) -> RewardGrant {
    RewardGrant::Withheld {
        at: grant_at(),
        window_id: WindowId::parse("w1").unwrap(),
        reason,
    }
}

fn issued(count: u8, referrer_withheld: Option<RuleReason>) -> RewardGrant {
    RewardGrant::Issued {
        at: grant_at(),
        window_id: WindowId::parse("w1").unwrap(),
        count,
        referrer_withheld,
        milestone: None,
        waiting: vec![],
    }
}

fn reward(p: &MemberProfile, side: Side, status: RewardStatus) -> Reward {
    let terms = RewardTerms {
        reward_type: RewardType::Coin,
        amount: RewardAmount::parse("50").unwrap(),
    };
    let mut r = Reward::pending(p, side, terms, grant_at(), grant_at()).unwrap();
    r.status = status;
    r
}

/// A qualified referee of a member's code whose rewards were issued, with these statuses.
fn paid_case(
    referee: RewardStatus,
    referrer: RewardStatus,
    edit: impl Fn(&mut Reward),
) -> (MemberProfile, Option<Reward>, Option<Reward>) {
    let p = granted(qualified(member(accepted())), issued(2, None));
    let mut a = reward(&p, Side::Referee, referee);
    let mut b = reward(&p, Side::Referrer, referrer);
    edit(&mut a);
    edit(&mut b);
    (p, Some(a), Some(b))
}

fn case(name: &str) -> Case {
    let now = u() + Duration::days(3);
    let plain = |profile| Case {
        profile,
        referee: None,
        referrer: None,
        days: None,
        now,
    };
    let with_rewards = |(profile, referee, referrer): (MemberProfile, _, _)| Case {
        profile,
        referee,
        referrer,
        days: None,
        now,
    };
    let q = || qualified(member(accepted()));
    match name {
        "no code" => {
            let mut p = member(None);
            p.kyc_pass_time = Some(u());
            plain(p)
        }
        "unknown code" => plain(qualified(member(rejected(RejectionReason::UnknownCode)))),
        "own code" => plain(member(rejected(RejectionReason::OwnCode))),
        "code's event inactive" => plain(member(rejected(RejectionReason::NoActiveWindow))),
        "accepted, nothing done" => plain(member(accepted())),
        "deadline running, KYC done" => {
            let mut p = member(accepted());
            p.kyc_pass_time = Some(u() + Duration::days(1));
            Case {
                days: Some(14),
                ..plain(p)
            }
        }
        "deadline passed, not qualified (now U + 15 days)" => {
            let mut p = member(accepted());
            p.kyc_pass_time = Some(u() + Duration::days(1));
            Case {
                days: Some(14),
                now: u() + Duration::days(15),
                ..plain(p)
            }
        }
        "qualified after the deadline" => {
            let mut p = member(accepted());
            p.kyc_pass_time = Some(u() + Duration::days(1));
            p.device_bind_time = Some(u() + Duration::days(20));
            p.qualified_at = p.device_bind_time;
            let p = granted(p, withheld(RuleReason::QualificationExpired));
            Case {
                days: Some(14),
                now: u() + Duration::days(21),
                ..plain(p)
            }
        }
        "self-referral" => plain(granted(q(), withheld(RuleReason::SelfReferral))),
        "phone rewarded before" => plain(granted(q(), withheld(RuleReason::PhoneAlreadyRewarded))),
        "device rewarded before" => {
            plain(granted(q(), withheld(RuleReason::DeviceAlreadyRewarded)))
        }
        "cap reached, referee not rewarded beyond it" => {
            plain(granted(q(), withheld(RuleReason::ReferrerCapReached)))
        }
        "cap reached, referee rewarded" => {
            let p = granted(q(), issued(1, Some(RuleReason::ReferrerCapReached)));
            let r = reward(&p, Side::Referee, RewardStatus::Pending);
            with_rewards((p, Some(r), None))
        }
        "waiting for the phone" => plain(granted(
            q(),
            RewardGrant::AwaitingPhone { since: grant_at() },
        )),
        "no reward window at qualification" => {
            plain(granted(q(), RewardGrant::NoActiveWindow { at: grant_at() }))
        }
        "qualified, grant not decided yet" => plain(q()),
        "issued, reward records missing" => plain(granted(q(), issued(2, None))),
        "campaign code" => {
            let p = granted(
                qualified(member(accepted_from("campaign:spring"))),
                issued(1, None),
            );
            let r = reward(&p, Side::Referee, RewardStatus::Pending);
            with_rewards((p, Some(r), None))
        }
        "both queued" => with_rewards(paid_case(
            RewardStatus::Pending,
            RewardStatus::Pending,
            |_| {},
        )),
        "queued after a failed attempt" => with_rewards(paid_case(
            RewardStatus::Pending,
            RewardStatus::Pending,
            |r| {
                if r.side == Side::Referee {
                    r.attempts = 1;
                    r.last_error = Some("finance 503".into());
                }
            },
        )),
        "both paid" => with_rewards(paid_case(
            RewardStatus::Success,
            RewardStatus::Success,
            |r| r.paid_at = Some(grant_at() + Duration::minutes(1)),
        )),
        "payout failed" => {
            with_rewards(paid_case(RewardStatus::Fail, RewardStatus::Success, |r| {
                if r.side == Side::Referee {
                    r.attempts = 1;
                    r.last_error = Some("finance 422 ACCOUNT_FROZEN".into());
                } else {
                    r.paid_at = Some(grant_at() + Duration::minutes(1));
                }
            }))
        }
        "held for review" => with_rewards(paid_case(RewardStatus::Held, RewardStatus::Held, |r| {
            r.reason = Some(ReasonCode::review_velocity())
        })),
        "claimable" => with_rewards(paid_case(
            RewardStatus::Claimable,
            RewardStatus::Claimable,
            |r| r.claim_deadline = Some(u() + Duration::days(7)),
        )),
        "claimable at its deadline" => with_rewards(paid_case(
            RewardStatus::Claimable,
            RewardStatus::Claimable,
            |r| {
                r.claim_deadline = Some(match r.side {
                    Side::Referee => now,
                    Side::Referrer => now + Duration::milliseconds(1),
                })
            },
        )),
        "expired" => with_rewards(paid_case(
            RewardStatus::Expired,
            RewardStatus::Expired,
            |r| r.claim_deadline = Some(u() + Duration::days(2)),
        )),
        "rejected in review" => with_rewards(paid_case(
            RewardStatus::Rejected,
            RewardStatus::Rejected,
            |r| {
                r.reviewed_at = Some(grant_at() + Duration::hours(1));
                if r.side == Side::Referee {
                    r.reason = Some(ReasonCode::parse("FRAUD_RING").unwrap());
                    r.reviewed_by = Some("admin-1".into());
                } else {
                    r.reason = Some(ReasonCode::rejected_by_admin());
                }
            },
        )),
        other => panic!("docs/checklist.md has a case without a fixture: {other:?}"),
    }
}

fn upper(v: impl Serialize) -> String {
    serde_json::to_value(v)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

fn cell(item: &ChecklistItem) -> String {
    let mut out = upper(item.state);
    if let Some(reason) = item.reason {
        out = format!("{out} {}", upper(reason));
    }
    if item.until.is_some() {
        out.push_str(" until");
    }
    out
}

/// The rows of the "Every case" table: case name, then the 7 other cells.
fn rows() -> Vec<Vec<String>> {
    let section = DOC
        .split("## Every case")
        .nth(1)
        .expect("docs/checklist.md has an 'Every case' section");
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("| case") && !l.starts_with("|---"))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn every_case_of_the_table_holds() {
    let rows = rows();
    assert!(rows.len() >= 27, "{} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        assert_eq!(row.len(), 8, "{row:?}");
        let c = case(&row[0]);
        let list = Checklist::of(c.input(), c.now);
        let steps: Vec<CheckStep> = list.0.iter().map(|s| s.step).collect();
        assert_eq!(steps, CheckStep::ALL, "{}", row[0]);
        let mut got: Vec<String> = list.0.iter().map(cell).collect();
        let mut details: Vec<&str> = list.0.iter().filter_map(|s| s.detail.as_deref()).collect();
        // One detail repeated on both sides is written once, "(both sides)".
        let both;
        if details.len() == 2 && details[0] == details[1] {
            both = format!("{} (both sides)", details[0]);
            details = vec![both.as_str()];
        }
        got.push(if details.is_empty() {
            "—".to_owned()
        } else {
            details.join("; ")
        });
        if got[..] != row[1..] {
            failures.push(format!(
                "{}:\n  docs: {:?}\n  code: {got:?}",
                row[0],
                &row[1..]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let names: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names.len(), rows.len(), "case names are unique");
}

#[test]
fn deadlines_times_and_statuses_are_the_stored_ones() {
    let c = case("deadline running, KYC done");
    let list = Checklist::of(c.input(), c.now);
    let deadline = u() + Duration::days(14);
    assert_eq!(list.0[1].at, Some(u() + Duration::days(1)));
    for s in &list.0[2..] {
        assert_eq!(s.until, Some(deadline), "{:?}", s.step);
    }
    // The deadline is inclusive: qualifying at it exactly is still in time.
    let at_deadline = Checklist::of(c.input(), deadline);
    assert_eq!(at_deadline.0[3].state, CheckState::Waiting);
    let after = Checklist::of(c.input(), deadline + Duration::milliseconds(1));
    assert_eq!(after.0[3].state, CheckState::Stopped);

    let c = case("claimable");
    let list = Checklist::of(c.input(), c.now);
    assert_eq!(list.0[4].until, Some(u() + Duration::days(7)));
    assert_eq!(list.0[4].reward_status, Some(RewardStatus::Claimable));
    // The claim deadline is exclusive: at it, the claim is refused.
    let late = Checklist::of(c.input(), u() + Duration::days(7));
    assert_eq!(late.0[4].reason, Some(CheckReason::ClaimExpired));

    let c = case("both paid");
    let list = Checklist::of(c.input(), c.now);
    assert_eq!(list.0[4].at, Some(grant_at() + Duration::minutes(1)));
    assert_eq!(list.0[0].at, Some(u()));
    assert_eq!(list.0[3].at, Some(u() + Duration::hours(2)));
}

#[test]
fn members_see_their_own_side_and_no_internal_detail() {
    let c = case("rejected in review");
    let support = Checklist::seen_by(c.input(), c.now, ChecklistView::Support);
    assert_eq!(support.0.len(), 6);
    assert!(support.0.iter().any(|s| s.detail.is_some()));

    let referee = Checklist::seen_by(c.input(), c.now, ChecklistView::Referee);
    let steps: Vec<CheckStep> = referee.0.iter().map(|s| s.step).collect();
    assert_eq!(&steps[..], &CheckStep::ALL[..5]);
    let referrer = Checklist::seen_by(c.input(), c.now, ChecklistView::Referrer);
    let steps: Vec<CheckStep> = referrer.0.iter().map(|s| s.step).collect();
    assert_eq!(&steps[..4], &CheckStep::ALL[..4]);
    assert_eq!(steps[4], CheckStep::ReferrerReward);
    assert_eq!(steps.len(), 5);

    for view in [referee, referrer] {
        let json = serde_json::to_string(&view).unwrap();
        for secret in ["FRAUD_RING", "admin-1", "REJECTED_BY_ADMIN", "detail"] {
            assert!(!json.contains(secret), "{secret} in {json}");
        }
        assert!(json.contains(r#""reason":"REJECTED""#), "{json}");
    }
    let c = case("payout failed");
    let referee = Checklist::seen_by(c.input(), c.now, ChecklistView::Referee);
    let json = serde_json::to_string(&referee).unwrap();
    assert!(!json.contains("ACCOUNT_FROZEN"), "{json}");
    assert!(json.contains("PAYOUT_FAILED"), "{json}");
}

#[test]
fn a_step_serializes_with_every_member_field() {
    let c = case("claimable");
    let list = Checklist::seen_by(c.input(), c.now, ChecklistView::Referee);
    let json = serde_json::to_value(&list).unwrap();
    assert_eq!(
        json[4],
        serde_json::json!({
            "step": "REFEREE_REWARD",
            "state": "WAITING",
            "at": "2026-11-01T10:00:00.000Z",
            "reason": "CLAIMABLE",
            "until": "2026-11-08T08:00:00.000Z",
            "reward_status": "CLAIMABLE",
        })
    );
    assert_eq!(
        json[1],
        serde_json::json!({
            "step": "KYC_PASSED",
            "state": "DONE",
            "at": "2026-11-01T09:00:00.000Z",
            "reason": null,
            "until": null,
            "reward_status": null,
        })
    );
}
