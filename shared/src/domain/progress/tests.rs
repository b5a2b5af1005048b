//! Unit tests of every branch of the progress functions, table-driven where the cases share a
//! shape.
//!
//! [`judge_referral`] — the outcome of a used code:
//! - J1 the code is unknown (no stored record) → Rejected(UnknownCode);
//! - J2 the code is known but its event's configuration is missing → Rejected(UnknownCode),
//!   even when the code is the member's own (this arm is checked first);
//! - J3 the code's source is the member's own jkos id → Rejected(OwnCode);
//! - J4 the code is the member's `own_code` (whatever its recorded source) → Rejected(OwnCode);
//!   J3/J4 are decided before the window is looked at;
//! - J5 a content window of the event is active at `used_at` → Accepted(event, source);
//! - J6 no content window is active at `used_at` (none at all, before, or at the exclusive end)
//!   → Rejected(NoActiveWindow);
//! - always: the use carries the code and the time it was used.
//!
//! [`settle`] — what fell due:
//! - S1 not qualified and `success_time` unknown (no time, or only one of KYC / device) →
//!   nothing, `make_code` not called;
//! - S2 not qualified and both times known → `qualified_at` = the later time, a new PERSONAL
//!   code (from `make_code`, of the personal event, owned by the member), `own_code` set;
//! - S3 already qualified → no second code, `make_code` not called;
//! - S4 not qualified after step 1, or a grant already recorded → stop;
//! - S5 no accepted referral (none, or rejected) → stop;
//! - S6 no configuration, or the configuration of another event → stop, nothing decided;
//! - S7 no content window active at `qualified_at` (even if one is active now) →
//!   grant = NoActiveWindow, no rewards;
//! - S8 a window active at `qualified_at`, a member's code → two PENDING rewards, referrer
//!   first, each side with its own terms; grant = Issued(window, 2); `granted_under` set;
//! - S9 the same with a campaign's code → only the referee's reward; Issued(window, 1);
//! - S10 the referee's phone masked on the rewards when known, absent otherwise;
//! - always: `updated_at` = now exactly when the member changed.
//!
//! Also: `record_step`, `record_referral`, `record_member_info`, `has_due_effects` and
//! `granted_rewards`, one case per branch.

use super::*;
use crate::domain::{
    AccountId, ContentWindow, EventName, ReferralEvent, RewardAmount, RewardStatus, RewardTerms,
    RewardType, TimeWindow,
};
use chrono::{TimeZone, Utc};

/// 2026-11-21 at `h` o'clock.
fn t(h: u32) -> Instant {
    Utc.with_ymd_and_hms(2026, 11, 21, h, 0, 0).unwrap()
}

/// The time the functions under test run at.
fn now() -> Instant {
    t(20)
}

const PHONE: &str = "0912345678";

fn member() -> MemberProfile {
    MemberProfile::new(
        AccountId::parse("acc-1").unwrap(),
        JkosId::parse("jk-1").unwrap(),
        t(0),
    )
}

fn code(raw: &str) -> ReferralCode {
    ReferralCode::parse(raw).unwrap()
}

fn source(raw: &str) -> ReferralSource {
    ReferralSource::parse(raw).unwrap()
}

fn event_id(raw: &str) -> EventId {
    EventId::parse(raw).unwrap()
}

fn terms(reward_type: RewardType, amount: &str) -> RewardTerms {
    RewardTerms {
        reward_type,
        amount: RewardAmount::parse(amount).unwrap(),
    }
}

fn referrer_terms() -> RewardTerms {
    terms(RewardType::Coin, "50")
}

fn referee_terms() -> RewardTerms {
    terms(RewardType::Coupon, "100")
}

/// The configuration of event `event` with a content window `w<start>` per `(start, end)` hours.
fn config(event: &str, windows: &[(u32, u32)]) -> EventConfig {
    EventConfig {
        event: ReferralEvent {
            event_id: event_id(event),
            event_type: EventType::Campaign,
            name: EventName::parse(event).unwrap(),
            created_at: t(0),
            updated_at: t(0),
        },
        contents: windows
            .iter()
            .map(|&(start, end)| ContentWindow {
                window_id: WindowId::parse(format!("w{start}")).unwrap(),
                window: TimeWindow::new(t(start), t(end)).unwrap(),
                referrer: referrer_terms(),
                referee: referee_terms(),
            })
            .collect(),
        copywriting: Vec::new(),
        notifications: Vec::new(),
        rules: Default::default(),
        links: Default::default(),
    }
}

fn record(raw_code: &str, raw_source: &str) -> ReferralCodeRecord {
    ReferralCodeRecord {
        code: code(raw_code),
        event_id: event_id("spring"),
        event_type: EventType::Campaign,
        source: source(raw_source),
        owner_phone: None,
        created_at: t(0),
    }
}

fn rejected(reason: RejectionReason) -> ReferralOutcome {
    ReferralOutcome::Rejected { reason }
}

fn accepted(raw_source: &str) -> ReferralOutcome {
    ReferralOutcome::Accepted {
        event_id: event_id("spring"),
        referrer_source: source(raw_source),
    }
}

mod judge;
mod record;
mod rules;
mod settle;
