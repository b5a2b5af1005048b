//! Key builders of the single table. Pure functions, one place, exact-string tests below;
//! `docs/data-model.md` is the prose version of this file.
//!
//! | entity          | PK                  | SK                                   | GSI1PK            | GSI1SK                                        | GSI2PK                 | GSI2SK                    |
//! |-----------------|---------------------|--------------------------------------|-------------------|-----------------------------------------------|------------------------|---------------------------|
//! | Event           | `EVENT#<id>`        | `#EVENT`                             | `EVENTTYPE#<TYPE>`| `EVENT#<id>`                                  |                        |                           |
//! | ContentWindow   | `EVENT#<id>`        | `CONTENT#<start>#<window>`           |                   |                                               |                        |                           |
//! | Copywriting     | `EVENT#<id>`        | `COPY#<ITEM>#<start>#<window>`       |                   |                                               |                        |                           |
//! | Notification    | `EVENT#<id>`        | `NOTIFY#<SIDE>#<start>#<window>`     |                   |                                               |                        |                           |
//! | Code            | `CODE#<code>`       | `#CODE`                              | `SOURCE#<KIND>#<name>` | `CODE#<code>#`                                |                        |                           |
//! | Member          | `MEMBER#<account>`  | `#PROFILE`                           | `SOURCE#<source>`*| `CODE#<code>#REFEREE#<account>`*              |                        |                           |
//! | Rate counter    | `LIMIT#<subject>#<window>` | `#LIMIT`                 |                   |                                               |                        |                           |
//! | Reward          | `REWARD#<id>`       | `#REWARD`                            | `SOURCE#<source>` | `CODE#<code>#REFEREE#<account>#REWARD#<SIDE>` (a milestone bonus: `…#REWARD#REFERRER#MILESTONE#<n>`) | `REWARDSTATUS#<STATUS>`| `<created_at>#<id>` ** |
//!
//! Rewards also carry GSI3 (the payee's rewards): `GSI3PK` = `PAYEE#<jkos id>`,
//! `GSI3SK` = `<created_at>#<id>`; so does every member profile (`PAYEE#<jkos id>`,
//! `#PROFILE`, sorting before the rewards): "my registration" is one Query.
//! (**) `<claim_deadline>#<id>` while the reward is CLAIMABLE, so the sweeper finds the
//! rewards whose deadline passed with one key condition.
//! | WindowUse       | `WINDOWUSE#<id>#<window>` | `#WINDOWUSE`                   |                   |                                               |                        |                           |
//! | ReferrerStats   | `REFSTATS#<id>#<jkos id>` | `#REFSTATS`                    |                   |                                               |                        |                           |
//! | JkosBinding     | `JKOS#<jkos id>`             | `#JKOS`                     |                   |                                               |                        |                           |
//! | IdentityClaim   | `IDCLAIM#<KIND>#<hmac>`      | `#IDCLAIM`                  |                   |                                               |                        |                           |
//! | Funnel (event)  | `FUNNEL#<id>#<shard>`        | `<day>`                     |                   |                                               |                        |                           |
//! | Funnel (code)   | `FUNNEL#<id>#CODE#<code>#<shard>` | `<day>`                |                   |                                               |                        |                           |
//! | ClickCount      | `CLICKS#<code>#<shard>` | `<day>`                          |                   |                                               | `CLICKS#<event>#<shard>` | `<day>#<code>`          |
//! | UnknownClicks   | `CLICKS#UNKNOWN#<shard>` | `<day>`                         |                   |                                               | `CLICKS#UNKNOWN#<shard>` | `<day>#UNKNOWN`         |
//!
//! (*) only for a member who registered with an accepted code: GSI1 is sparse.
//! `SOURCE#<KIND>#<name>` is `SOURCE#MEMBER#<jkos id>` or `SOURCE#CAMPAIGN#<campaign name>`:
//! a member's and a campaign's collections never share a partition.
//! `#` sorts before every character our ids may contain, so within a `SOURCE#` partition a
//! referee's profile is immediately followed by that referee's rewards.

use crate::domain::{
    AccountId, CopywritingItem, Day, EventId, EventType, FunnelScope, IdentityHash, IdentityKind,
    JkosId, ReferralCode, ReferralSource, RewardId, RewardStatus, Side, WindowId,
};
use crate::time::{self, Instant};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const GSI3: &str = "GSI3";
pub const GSI3PK: &str = "GSI3PK";
pub const GSI3SK: &str = "GSI3SK";
pub const ENTITY: &str = "entity";

/// Upper bound suffix for "everything up to and including this prefix": `~` sorts after
/// every character used in keys.
pub const HIGH: &str = "~";

pub fn event_pk(event: &EventId) -> String {
    format!("EVENT#{event}")
}
pub const EVENT_SK: &str = "#EVENT";
pub fn event_type_gsi1pk(event_type: EventType) -> String {
    format!("EVENTTYPE#{}", event_type.as_str())
}
pub fn event_gsi1sk(event: &EventId) -> String {
    format!("EVENT#{event}")
}

pub const CONTENT_PREFIX: &str = "CONTENT#";
pub fn content_sk(start: &Instant, window: &WindowId) -> String {
    format!("{CONTENT_PREFIX}{}#{window}", time::format(start))
}

pub fn copy_prefix(item: CopywritingItem) -> String {
    format!("COPY#{}#", item.as_str())
}
pub fn copy_sk(item: CopywritingItem, start: &Instant, window: &WindowId) -> String {
    format!("{}{}#{window}", copy_prefix(item), time::format(start))
}

pub fn notify_prefix(side: Side) -> String {
    format!("NOTIFY#{}#", side.as_str())
}
pub fn notify_sk(side: Side, start: &Instant, window: &WindowId) -> String {
    format!("{}{}#{window}", notify_prefix(side), time::format(start))
}

/// Sort-key range of the windows under `prefix` that started at or before `at`.
pub fn started_by(prefix: &str, at: &Instant) -> (String, String) {
    (
        prefix.to_owned(),
        format!("{prefix}{}{HIGH}", time::format(at)),
    )
}

pub fn code_pk(code: &ReferralCode) -> String {
    format!("CODE#{code}")
}
pub const CODE_SK: &str = "#CODE";

/// A member's and a campaign's collections live in different partitions, whatever their
/// names: `SOURCE#MEMBER#<jkos id>` and `SOURCE#CAMPAIGN#<name>`.
pub fn source_gsi1pk(source: &ReferralSource) -> String {
    format!("SOURCE#{}#{}", source.kind(), source.name())
}
/// Prefix of one code's part of its owner's collection (the code item, referees, rewards).
pub fn code_gsi1sk(code: &ReferralCode) -> String {
    format!("CODE#{code}#")
}
pub fn referee_gsi1sk(code: &ReferralCode, referee: &AccountId) -> String {
    format!("CODE#{code}#REFEREE#{referee}")
}
pub fn reward_gsi1sk(code: &ReferralCode, referee: &AccountId, side: Side) -> String {
    format!("CODE#{code}#REFEREE#{referee}#REWARD#{}", side.as_str())
}

/// A milestone bonus sits right after the reward of the referee who reached it.
pub fn milestone_gsi1sk(code: &ReferralCode, referee: &AccountId, side: Side, nth: u32) -> String {
    format!("{}#MILESTONE#{nth}", reward_gsi1sk(code, referee, side))
}

pub fn member_pk(account: &AccountId) -> String {
    format!("MEMBER#{account}")
}
pub const MEMBER_SK: &str = "#PROFILE";

pub fn reward_pk(reward: &RewardId) -> String {
    format!("REWARD#{reward}")
}
pub const REWARD_SK: &str = "#REWARD";
pub fn reward_status_gsi2pk(status: RewardStatus) -> String {
    format!("REWARDSTATUS#{}", status.as_str())
}
pub fn reward_status_gsi2sk(created_at: &Instant, reward: &RewardId) -> String {
    format!("{}#{reward}", time::format(created_at))
}

/// The GSI2 sort key of a CLAIMABLE reward: its claim deadline first.
pub fn claimable_gsi2sk(deadline: &Instant, reward: &RewardId) -> String {
    format!("{}#{reward}", time::format(deadline))
}
/// Upper bound (exclusive) of the CLAIMABLE rewards whose deadline is at or before `now`.
pub fn claimable_due_bound(now: &Instant) -> String {
    format!("{}{HIGH}", time::format(now))
}

/// The payee's rewards (GSI3): every reward paid to this member, as referrer or as referee.
pub fn payee_gsi3pk(member: &JkosId) -> String {
    format!("PAYEE#{member}")
}
pub fn payee_gsi3sk(created_at: &Instant, reward: &RewardId) -> String {
    format!("{}#{reward}", time::format(created_at))
}
/// The member's own profile in their GSI3 partition: `#` sorts before the `<created_at>` of
/// every reward, so one Query finds the profile first, then the rewards.
pub const PROFILE_GSI3SK: &str = "#PROFILE";

/// The binding of a jkos id to the one account that carries it (written with the account's
/// first profile write, on condition that it is absent or already names that account): one
/// jkos id is one member.
pub fn jkos_binding_pk(member: &JkosId) -> String {
    format!("JKOS#{member}")
}
pub const JKOS_BINDING_SK: &str = "#JKOS";

/// The "rewards were granted under this content window" marker: its own partition (not under
/// `EVENT#`, so an event's configuration Query never sees it), written by the consumers before
/// the first grant under the window and checked by every replace that deletes the window.
pub fn window_use_pk(event: &EventId, window: &WindowId) -> String {
    format!("WINDOWUSE#{event}#{window}")
}
pub const WINDOW_USE_SK: &str = "#WINDOWUSE";

/// A referrer's reward-rule counters in one event (only written when the event's rules count
/// referrers): one item per event and referrer, updated in each grant's transaction.
pub fn referrer_stats_pk(event: &EventId, referrer: &JkosId) -> String {
    format!("REFSTATS#{event}#{referrer}")
}
pub const REFERRER_STATS_SK: &str = "#REFSTATS";

/// The uniqueness item of a phone or device rewarded as a referee, keyed by the HMAC of the
/// value (never the value). Across events: a phone or device rewarded once (under an event
/// whose rules claim it) gets nothing again under any event that checks it; the item records
/// which event claimed it.
pub fn identity_claim_pk(kind: IdentityKind, hash: &IdentityHash) -> String {
    format!("IDCLAIM#{}#{hash}", kind.as_str())
}
pub const IDENTITY_CLAIM_SK: &str = "#IDCLAIM";

/// A request counter of the rate limiter: one item per subject per fixed window, removed by TTL.
pub fn limit_pk(subject: &str, bucket: &str) -> String {
    format!("LIMIT#{subject}#{bucket}")
}
pub const LIMIT_SK: &str = "#LIMIT";
/// The table's TTL attribute (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";

/// How many counter items share the writes of one (funnel scope, day): a write picks one at
/// random, so concurrent transactions rarely touch the same item (a `TransactionConflict`),
/// and a read of a day range is this many Queries, summed (ADR 0008).
pub const FUNNEL_SHARDS: u8 = 16;

/// A funnel counter: one item per (event, or event and code; shard; day of the event's
/// time zone), one number attribute per stage (`domain::FunnelStage::name`).
pub fn funnel_pk(scope: &FunnelScope, shard: u8) -> String {
    match scope {
        FunnelScope::Event(event) => format!("FUNNEL#{event}#{shard}"),
        FunnelScope::Code(event, code) => format!("FUNNEL#{event}#CODE#{code}#{shard}"),
    }
}
/// A funnel counter's sort key: the day, `YYYY-MM-DD` (string order is day order).
pub fn funnel_sk(day: &Day) -> String {
    day.key()
}

/// How many counter items one code's clicks of one day are spread over. A click adds 1 to one
/// shard picked at random, so a viral code's writes land on this many base-table partitions
/// and this many GSI2 partitions (1,000 clicks/s on one code = 125 writes/s per shard, well
/// under a partition's 1,000 WCU/s); reading a range costs this many Queries, run
/// concurrently. Changing it strands the counts of the shards it drops: only ever raise it.
pub const CLICK_SHARDS: u8 = 8;

/// One shard of a code's daily click counters (sort key: the day, [`click_sk`]).
pub fn click_pk(code: &ReferralCode, shard: u8) -> String {
    format!("CLICKS#{code}#{shard}")
}
/// `YYYY-MM-DD` in the event's time zone: string order is day order.
pub fn click_sk(day: Day) -> String {
    day.key()
}
/// The same counter in its event's shard on GSI2 (every code of the event, day by day).
pub fn event_clicks_gsi2pk(event: &EventId, shard: u8) -> String {
    format!("CLICKS#{event}#{shard}")
}
pub fn event_clicks_gsi2sk(day: Day, code: &ReferralCode) -> String {
    format!("{}#{code}", day.key())
}
/// Where a code or an event id goes in the keys of the ONE counter of visits to well-formed
/// codes that do not exist (`UnknownClicks`): no code contains `U` or `O`, and no event id is
/// upper case, so no code's or event's counter can ever share its keys.
pub const UNKNOWN_CLICKS: &str = "UNKNOWN";
/// One shard of the unknown codes' daily counter (sort key: the day, [`click_sk`]).
pub fn unknown_clicks_pk(shard: u8) -> String {
    format!("CLICKS#{UNKNOWN_CLICKS}#{shard}")
}
/// The same counter on GSI2, shaped like a code's (`<day>#UNKNOWN`).
pub fn unknown_clicks_gsi2sk(day: Day) -> String {
    format!("{}#{UNKNOWN_CLICKS}", day.key())
}
/// GSI2 sort-key range of the days `from..=to` (every code of each day).
pub fn event_clicks_range(from: Day, to: Day) -> (String, String) {
    (from.key(), format!("{}{HIGH}", to.key()))
}

/// A parked (unprocessable) Kafka record: one item per coordinates, listed newest last on GSI2.
pub fn parked_pk(at: &crate::contracts::kafka::RecordCoordinates) -> String {
    format!("PARKED#{}#{}#{}", at.topic, at.partition, at.offset)
}
pub const PARKED_SK: &str = "#PARKED";
pub const PARKED_GSI2PK: &str = "PARKED";
pub fn parked_gsi2sk(
    parked_at: &Instant,
    at: &crate::contracts::kafka::RecordCoordinates,
) -> String {
    format!("{}#{at}", time::format(parked_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn keys_are_exact_strings() {
        let event = EventId::parse("personal-2026").unwrap();
        let window = WindowId::parse("w1").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let code = ReferralCode::parse("ab2cd3").unwrap();
        let acc = AccountId::parse("acc-9").unwrap();
        let reward = RewardId::new(&acc, Side::Referee);

        assert_eq!(event_pk(&event), "EVENT#personal-2026");
        let funnel_event = FunnelScope::Event(event.clone());
        let funnel_code = FunnelScope::Code(event.clone(), code.clone());
        assert_eq!(funnel_pk(&funnel_event, 0), "FUNNEL#personal-2026#0");
        assert_eq!(
            funnel_pk(&funnel_code, 3),
            "FUNNEL#personal-2026#CODE#AB2CD3#3"
        );
        assert_eq!(funnel_sk(&Day::parse("2026-11-21").unwrap()), "2026-11-21");
        assert_eq!(event_type_gsi1pk(EventType::Personal), "EVENTTYPE#PERSONAL");
        assert_eq!(event_gsi1sk(&event), "EVENT#personal-2026");
        assert_eq!(
            content_sk(&start, &window),
            "CONTENT#2026-11-01T00:00:00.000Z#w1"
        );
        assert_eq!(
            copy_sk(CopywritingItem::ShareMessage, &start, &window),
            "COPY#SHARE_MESSAGE#2026-11-01T00:00:00.000Z#w1"
        );
        assert_eq!(
            notify_sk(Side::Referrer, &start, &window),
            "NOTIFY#REFERRER#2026-11-01T00:00:00.000Z#w1"
        );
        assert_eq!(
            started_by(CONTENT_PREFIX, &start),
            (
                "CONTENT#".to_owned(),
                "CONTENT#2026-11-01T00:00:00.000Z~".to_owned()
            )
        );
        assert_eq!(code_pk(&code), "CODE#AB2CD3");
        assert_eq!(
            source_gsi1pk(&ReferralSource::parse("member:jkos-1").unwrap()),
            "SOURCE#MEMBER#jkos-1"
        );
        assert_eq!(
            source_gsi1pk(&ReferralSource::parse("campaign:jkos-1").unwrap()),
            "SOURCE#CAMPAIGN#jkos-1"
        );
        assert_eq!(code_gsi1sk(&code), "CODE#AB2CD3#");
        assert_eq!(referee_gsi1sk(&code, &acc), "CODE#AB2CD3#REFEREE#acc-9");
        assert_eq!(
            reward_gsi1sk(&code, &acc, Side::Referrer),
            "CODE#AB2CD3#REFEREE#acc-9#REWARD#REFERRER"
        );
        assert_eq!(member_pk(&acc), "MEMBER#acc-9");
        assert_eq!(
            milestone_gsi1sk(&code, &acc, Side::Referrer, 5),
            "CODE#AB2CD3#REFEREE#acc-9#REWARD#REFERRER#MILESTONE#5"
        );
        assert_eq!(window_use_pk(&event, &window), "WINDOWUSE#personal-2026#w1");
        assert_eq!(
            referrer_stats_pk(&event, &JkosId::parse("jk-1").unwrap()),
            "REFSTATS#personal-2026#jk-1"
        );
        let key = crate::domain::IdentityKey::new(vec![7; 32]).unwrap();
        let hash = key.phone(&crate::domain::PhoneNumber::parse("0912345678").unwrap());
        assert_eq!(
            identity_claim_pk(IdentityKind::Phone, &hash),
            format!("IDCLAIM#PHONE#{hash}")
        );
        assert_eq!(hash.as_str().len(), 64);
        assert_eq!(
            limit_pk("check#jkos-1", "2026-11-01T00:00"),
            "LIMIT#check#jkos-1#2026-11-01T00:00"
        );
        let day = Day::parse("2026-11-22").unwrap();
        assert_eq!(click_pk(&code, 7), "CLICKS#AB2CD3#7");
        assert_eq!(click_sk(day), "2026-11-22");
        assert_eq!(event_clicks_gsi2pk(&event, 0), "CLICKS#personal-2026#0");
        assert_eq!(unknown_clicks_pk(7), "CLICKS#UNKNOWN#7");
        // Never a code's counter: a code has no U and no O.
        assert!(ReferralCode::parse(UNKNOWN_CLICKS).is_err());
        assert!(EventId::parse(UNKNOWN_CLICKS).is_err());
        assert_eq!(event_clicks_gsi2sk(day, &code), "2026-11-22#AB2CD3");
        let (low, high) = event_clicks_range(day, Day::parse("2026-11-23").unwrap());
        assert_eq!((low.as_str(), high.as_str()), ("2026-11-22", "2026-11-23~"));
        assert!(low.as_str() <= "2026-11-22#AB2CD3" && "2026-11-23#ZZZZZZZZZZ" < high.as_str());
        assert!("2026-11-24#2222" > high.as_str() && "2026-11-21#ZZZZ" < low.as_str());
        assert_eq!(reward_pk(&reward), "REWARD#acc-9-referee");
        assert_eq!(
            reward_status_gsi2pk(RewardStatus::Fail),
            "REWARDSTATUS#FAIL"
        );
        assert_eq!(
            reward_status_gsi2sk(&start, &reward),
            "2026-11-01T00:00:00.000Z#acc-9-referee"
        );
        assert_eq!(
            claimable_gsi2sk(&start, &reward),
            "2026-11-01T00:00:00.000Z#acc-9-referee"
        );
        assert_eq!(
            payee_gsi3pk(&JkosId::parse("jkos-1").unwrap()),
            "PAYEE#jkos-1"
        );
        assert_eq!(
            payee_gsi3sk(&start, &reward),
            "2026-11-01T00:00:00.000Z#acc-9-referee"
        );
        assert!(PROFILE_GSI3SK < payee_gsi3sk(&start, &reward).as_str());
        assert!(PROFILE_GSI3SK < payee_gsi3sk(&chrono::DateTime::UNIX_EPOCH, &reward).as_str());
    }

    /// The sweeper's bound takes in a deadline equal to now and nothing after it.
    #[test]
    fn the_due_bound_takes_deadlines_up_to_and_including_now() {
        let now = crate::time::parse("2026-11-08T00:00:00Z").unwrap();
        let id = RewardId::parse("acc-9-referee").unwrap();
        let bound = claimable_due_bound(&now);
        let ms = chrono::Duration::milliseconds(1);
        assert!(claimable_gsi2sk(&(now - ms), &id) < bound);
        assert!(claimable_gsi2sk(&now, &id) < bound);
        assert!(claimable_gsi2sk(&(now + ms), &id) > bound);
    }

    #[test]
    fn a_referees_rewards_sort_right_after_the_referee() {
        let code = ReferralCode::parse("ab2cd3").unwrap();
        let a = AccountId::parse("acc1").unwrap();
        let b = AccountId::parse("acc1-x").unwrap();
        let mut keys = [
            referee_gsi1sk(&code, &b),
            reward_gsi1sk(&code, &a, Side::Referee),
            code_gsi1sk(&code),
            referee_gsi1sk(&code, &a),
            reward_gsi1sk(&code, &a, Side::Referrer),
        ];
        keys.sort();
        assert_eq!(
            keys,
            [
                "CODE#AB2CD3#",
                "CODE#AB2CD3#REFEREE#acc1",
                "CODE#AB2CD3#REFEREE#acc1#REWARD#REFEREE",
                "CODE#AB2CD3#REFEREE#acc1#REWARD#REFERRER",
                "CODE#AB2CD3#REFEREE#acc1-x",
            ]
        );
    }
}
