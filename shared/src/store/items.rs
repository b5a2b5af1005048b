//! How each domain value becomes a DynamoDB item: the domain fields (through serde_dynamo)
//! plus the overloaded keys and the `entity` attribute. The exact shapes are tested below.

use super::keys;
use crate::domain::{
    AccountId, ContentWindow, Copywriting, Day, EventId, FunnelScope, IdentityClaim, JkosId,
    LinkSettings, MemberProfile, NotificationTemplate, ReferralCode, ReferralCodeRecord,
    ReferralEvent, ReferrerStats, Reward, RewardRules, StageCounts,
};
use crate::time::Instant;
use serde::{Deserialize, Serialize};

/// The `entity` attribute carried by every item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entity {
    Event,
    ContentWindow,
    Copywriting,
    Notification,
    Code,
    Member,
    Reward,
    Parked,
    WindowUse,
    /// A referrer's counters in one event (the reward rules' cap, velocity, milestones).
    ReferrerStats,
    /// A phone or device rewarded as a referee of one event (keyed hash only).
    IdentityClaim,
    /// The one account a jkos id belongs to (`JKOS#<jkos id>`).
    JkosBinding,
    /// A funnel counter (ADR 0008): written only by ADD updates.
    Funnel,
    /// One shard of a code's clicks on one day (the share link's counter).
    ClickCount,
    /// One shard of one day's visits to well-formed codes that do not exist (the share link's
    /// one counter for all of them: `keys::UNKNOWN_CLICKS`).
    UnknownClicks,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// The envelope: keys + entity + the domain value's own attributes, flattened.
#[derive(Debug, Serialize, Deserialize)]
pub struct Item<T> {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    #[serde(rename = "GSI3PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi3pk: Option<String>,
    #[serde(rename = "GSI3SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi3sk: Option<String>,
    pub entity: Entity,
    #[serde(flatten)]
    pub data: T,
}

impl<T> Item<T> {
    fn new(entity: Entity, pk: String, sk: String, data: T) -> Self {
        Self {
            pk,
            sk,
            gsi1pk: None,
            gsi1sk: None,
            gsi2pk: None,
            gsi2sk: None,
            gsi3pk: None,
            gsi3sk: None,
            entity,
            data,
        }
    }

    fn gsi1(mut self, pk: String, sk: String) -> Self {
        self.gsi1pk = Some(pk);
        self.gsi1sk = Some(sk);
        self
    }

    fn gsi2(mut self, pk: String, sk: String) -> Self {
        self.gsi2pk = Some(pk);
        self.gsi2sk = Some(sk);
        self
    }

    fn gsi3(mut self, pk: String, sk: String) -> Self {
        self.gsi3pk = Some(pk);
        self.gsi3sk = Some(sk);
        self
    }
}

/// The event item as written: the event and its reward rules (on the event's own item, so
/// replacing a configuration adds no action to its transaction). No rules, no attribute.
#[derive(Debug, Serialize)]
pub struct EventHeaderRef<'a> {
    #[serde(flatten)]
    pub event: &'a ReferralEvent,
    #[serde(skip_serializing_if = "RewardRules::is_off")]
    pub rules: &'a RewardRules,
    #[serde(skip_serializing_if = "LinkSettings::is_default")]
    pub links: &'a LinkSettings,
}

/// The event item as read by the configuration's Query.
#[derive(Debug, Deserialize)]
pub struct EventHeader {
    #[serde(flatten)]
    pub event: ReferralEvent,
    #[serde(default)]
    pub rules: RewardRules,
    #[serde(default)]
    pub links: LinkSettings,
}

pub fn event_header_item<'a>(
    event: &'a ReferralEvent,
    rules: &'a RewardRules,
    links: &'a LinkSettings,
) -> Item<EventHeaderRef<'a>> {
    Item::new(
        Entity::Event,
        keys::event_pk(&event.event_id),
        keys::EVENT_SK.to_owned(),
        EventHeaderRef {
            event,
            rules,
            links,
        },
    )
    .gsi1(
        keys::event_type_gsi1pk(event.event_type),
        keys::event_gsi1sk(&event.event_id),
    )
}

/// The event item without rules (the devkit's and tests' fixture write).
pub fn event_item(event: &ReferralEvent) -> Item<&ReferralEvent> {
    Item::new(
        Entity::Event,
        keys::event_pk(&event.event_id),
        keys::EVENT_SK.to_owned(),
        event,
    )
    .gsi1(
        keys::event_type_gsi1pk(event.event_type),
        keys::event_gsi1sk(&event.event_id),
    )
}

/// Window items carry their event id so an item read alone still says where it belongs.
#[derive(Debug, Serialize, Deserialize)]
pub struct Owned<T> {
    pub event_id: EventId,
    #[serde(flatten)]
    pub value: T,
}

pub fn content_item<'a>(
    event: &EventId,
    content: &'a ContentWindow,
) -> Item<Owned<&'a ContentWindow>> {
    let sk = keys::content_sk(&content.window.start(), &content.window_id);
    Item::new(
        Entity::ContentWindow,
        keys::event_pk(event),
        sk,
        Owned {
            event_id: event.clone(),
            value: content,
        },
    )
}

pub fn copywriting_item<'a>(
    event: &EventId,
    copy: &'a Copywriting,
) -> Item<Owned<&'a Copywriting>> {
    let sk = keys::copy_sk(copy.item, &copy.window.start(), &copy.window_id);
    Item::new(
        Entity::Copywriting,
        keys::event_pk(event),
        sk,
        Owned {
            event_id: event.clone(),
            value: copy,
        },
    )
}

pub fn notification_item<'a>(
    event: &EventId,
    template: &'a NotificationTemplate,
) -> Item<Owned<&'a NotificationTemplate>> {
    let sk = keys::notify_sk(template.side, &template.window.start(), &template.window_id);
    Item::new(
        Entity::Notification,
        keys::event_pk(event),
        sk,
        Owned {
            event_id: event.clone(),
            value: template,
        },
    )
}

pub fn code_item(code: &ReferralCodeRecord) -> Item<&ReferralCodeRecord> {
    Item::new(
        Entity::Code,
        keys::code_pk(&code.code),
        keys::CODE_SK.to_owned(),
        code,
    )
    .gsi1(
        keys::source_gsi1pk(&code.source),
        keys::code_gsi1sk(&code.code),
    )
}

pub fn member_item(member: &MemberProfile) -> Item<&MemberProfile> {
    // Every profile is in its member's GSI3 partition, before their rewards ("my
    // registration": one Query by the jkos id of the token).
    let item = Item::new(
        Entity::Member,
        keys::member_pk(&member.account_id),
        keys::MEMBER_SK.to_owned(),
        member,
    )
    .gsi3(
        keys::payee_gsi3pk(&member.jkos_id),
        keys::PROFILE_GSI3SK.to_owned(),
    );
    match member.accepted_referral() {
        // Only referees with an accepted code appear in a referrer's collection.
        Some((code, _, source)) => item.gsi1(
            keys::source_gsi1pk(source),
            keys::referee_gsi1sk(code, &member.account_id),
        ),
        None => item,
    }
}

pub fn reward_item(reward: &Reward) -> Item<&Reward> {
    Item::new(
        Entity::Reward,
        keys::reward_pk(&reward.reward_id),
        keys::REWARD_SK.to_owned(),
        reward,
    )
    .gsi1(
        keys::source_gsi1pk(&reward.referrer_source),
        match reward.reward_id.milestone_rank() {
            None => keys::reward_gsi1sk(&reward.code, &reward.referee_account_id, reward.side),
            Some(nth) => {
                keys::milestone_gsi1sk(&reward.code, &reward.referee_account_id, reward.side, nth)
            }
        },
    )
    .gsi2(
        keys::reward_status_gsi2pk(reward.status),
        reward_gsi2sk(reward),
    )
    .gsi3(
        keys::payee_gsi3pk(&reward.member_jkos_id),
        keys::payee_gsi3sk(&reward.created_at, &reward.reward_id),
    )
}

/// A reward's place in its status's list: by claim deadline while CLAIMABLE (the sweeper's
/// expiry Query), by creation otherwise. The store's transitions out of CLAIMABLE write it
/// back to the creation form.
pub fn reward_gsi2sk(reward: &Reward) -> String {
    match (reward.status, reward.claim_deadline) {
        (crate::domain::RewardStatus::Claimable, Some(deadline)) => {
            keys::claimable_gsi2sk(&deadline, &reward.reward_id)
        }
        _ => keys::reward_status_gsi2sk(&reward.created_at, &reward.reward_id),
    }
}

/// The marker of a content window under which rewards were granted (see
/// [`keys::window_use_pk`]): the same attributes whoever writes it, so writing it is idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowUse {
    pub event_id: EventId,
    pub window_id: crate::domain::WindowId,
}

pub fn window_use_item(marker: &WindowUse) -> Item<&WindowUse> {
    Item::new(
        Entity::WindowUse,
        keys::window_use_pk(&marker.event_id, &marker.window_id),
        keys::WINDOW_USE_SK.to_owned(),
        marker,
    )
}

pub fn referrer_stats_item(stats: &ReferrerStats) -> Item<&ReferrerStats> {
    Item::new(
        Entity::ReferrerStats,
        keys::referrer_stats_pk(&stats.event_id, &stats.referrer),
        keys::REFERRER_STATS_SK.to_owned(),
        stats,
    )
}

/// A funnel counter's update: its keys and what to ADD to each stage's number attribute
/// (the item also gets `entity` = `Funnel`). Never a Put: concurrent writers add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterUpdate {
    pub pk: String,
    pub sk: String,
    pub add: Vec<(String, i64)>,
}

pub fn funnel_counter(
    scope: &FunnelScope,
    day: &Day,
    shard: u8,
    counts: &StageCounts,
) -> CounterUpdate {
    CounterUpdate {
        pk: keys::funnel_pk(scope, shard),
        sk: keys::funnel_sk(day),
        add: counts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
    }
}

pub fn identity_claim_item(claim: &IdentityClaim) -> Item<&IdentityClaim> {
    Item::new(
        Entity::IdentityClaim,
        keys::identity_claim_pk(claim.kind, &claim.hash),
        keys::IDENTITY_CLAIM_SK.to_owned(),
        claim,
    )
}

/// Which account a jkos id belongs to: written once, with that account's first profile write
/// (or its first write after this item existed), never moved by the service (docs/runbook.md,
/// "A jkos id carried by a second account").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JkosBinding {
    pub jkos_id: JkosId,
    pub account_id: AccountId,
    #[serde(with = "crate::time::millis")]
    pub bound_at: Instant,
}

pub fn jkos_binding_item(binding: &JkosBinding) -> Item<&JkosBinding> {
    Item::new(
        Entity::JkosBinding,
        keys::jkos_binding_pk(&binding.jkos_id),
        keys::JKOS_BINDING_SK.to_owned(),
        binding,
    )
}

/// One shard of a code's click counter for one day. Never Put: the share link's one
/// UpdateItem per click sets every attribute of this shape but `clicks` and ADDs 1 to
/// `clicks` (`store/dynamo/clicks.rs` builds its expression from this item), so the first
/// click of a day creates the item and the others only count. No IP, no user agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClickCount {
    pub event_id: EventId,
    pub code: ReferralCode,
    pub clicks: u64,
}

pub fn click_item(count: &ClickCount, day: Day, shard: u8) -> Item<&ClickCount> {
    Item::new(
        Entity::ClickCount,
        keys::click_pk(&count.code, shard),
        keys::click_sk(day),
        count,
    )
    .gsi2(
        keys::event_clicks_gsi2pk(&count.event_id, shard),
        keys::event_clicks_gsi2sk(day, &count.code),
    )
}

/// One shard of the day's visits to well-formed codes that do not exist (and to codes whose
/// event is gone), all codes together: the share link writes it exactly as it writes a code's
/// counter (one UpdateItem, the same five attributes SET and `ADD clicks 1`, a GSI2 entry), so
/// an unknown code costs what a known one costs, and an enumerating visitor creates at most
/// `CLICK_SHARDS` items a day. `event_id` and `code` are both `keys::UNKNOWN_CLICKS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownClicks {
    pub event_id: String,
    pub code: String,
    pub clicks: u64,
}

impl Default for UnknownClicks {
    fn default() -> Self {
        Self {
            event_id: keys::UNKNOWN_CLICKS.to_owned(),
            code: keys::UNKNOWN_CLICKS.to_owned(),
            clicks: 0,
        }
    }
}

pub fn unknown_clicks_item(count: &UnknownClicks, day: Day, shard: u8) -> Item<&UnknownClicks> {
    Item::new(
        Entity::UnknownClicks,
        keys::unknown_clicks_pk(shard),
        keys::click_sk(day),
        count,
    )
    .gsi2(
        keys::unknown_clicks_pk(shard),
        keys::unknown_clicks_gsi2sk(day),
    )
}

pub fn parked_item(
    record: &crate::contracts::kafka::ParkedRecord,
) -> Item<&crate::contracts::kafka::ParkedRecord> {
    let at = record.coordinates();
    Item::new(
        Entity::Parked,
        keys::parked_pk(&at),
        keys::PARKED_SK.to_owned(),
        record,
    )
    .gsi2(
        keys::PARKED_GSI2PK.to_owned(),
        keys::parked_gsi2sk(&record.parked_at, &at),
    )
}

#[cfg(test)]
#[path = "items_tests.rs"]
pub(crate) mod tests;
