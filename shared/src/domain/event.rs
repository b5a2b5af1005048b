//! Referral events ("campaigns") and what hangs off them: reward content windows,
//! copywriting and notification templates, each valid within a time window.

use super::newtype::string_newtype;
use super::{EventId, EventName, ValidationError, WindowId};
use crate::time::{self, Instant};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `referral_event.type`: personal referral (member codes) or a campaign (issued codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    Personal,
    Campaign,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Personal => "PERSONAL",
            EventType::Campaign => "CAMPAIGN",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReferralEvent {
    pub event_id: EventId,
    pub event_type: EventType,
    pub name: EventName,
    #[serde(with = "time::millis")]
    #[schema(schema_with = super::schema::instant)]
    pub created_at: Instant,
    #[serde(with = "time::millis")]
    #[schema(schema_with = super::schema::instant)]
    pub updated_at: Instant,
}

impl ReferralEvent {
    /// The `updated_at` of the next version of this event written at `now`: stored to the
    /// millisecond, and always later than this one, so every write makes a new version (the
    /// optimistic lock and the admin API's ETag) even within one millisecond or under clock skew.
    pub fn next_version_at(&self, now: Instant) -> Instant {
        truncate_millis(now)
            .max(truncate_millis(self.updated_at) + chrono::TimeDelta::milliseconds(1))
    }
}

/// A half-open interval `[start, end)`: start inclusive, end exclusive, as in the seed's SQL
/// (`start_time <= ?now AND end_time > ?now`). Construction guarantees `start < end`.
/// `[start, end)`: start inclusive, end exclusive; start must be before end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "RawWindow")]
pub struct TimeWindow {
    #[serde(with = "time::millis")]
    #[schema(schema_with = super::schema::instant)]
    start: Instant,
    #[serde(with = "time::millis")]
    #[schema(schema_with = super::schema::instant)]
    end: Instant,
}

#[derive(Deserialize)]
struct RawWindow {
    #[serde(with = "time::millis")]
    start: Instant,
    #[serde(with = "time::millis")]
    end: Instant,
}

impl TryFrom<RawWindow> for TimeWindow {
    type Error = ValidationError;
    fn try_from(raw: RawWindow) -> Result<Self, Self::Error> {
        TimeWindow::new(raw.start, raw.end)
    }
}

impl TimeWindow {
    pub fn new(start: Instant, end: Instant) -> Result<Self, ValidationError> {
        // Stored with millisecond precision, so compare at that precision too.
        let (start, end) = (truncate_millis(start), truncate_millis(end));
        if start >= end {
            return Err(ValidationError::new("window", "start must be before end"));
        }
        Ok(Self { start, end })
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    pub fn end(&self) -> Instant {
        self.end
    }

    pub fn contains(&self, at: Instant) -> bool {
        self.start <= at && at < self.end
    }

    pub fn overlaps(&self, other: &TimeWindow) -> bool {
        self.start < other.end && other.start < self.end
    }
}

fn truncate_millis(t: Instant) -> Instant {
    use chrono::Timelike;
    let nanos = t.nanosecond() / 1_000_000 * 1_000_000;
    t.with_nanosecond(nanos).unwrap_or(t)
}

/// COIN or COUPON (`*_reward_type`, VARCHAR(10)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RewardType {
    Coin,
    Coupon,
}

impl RewardType {
    pub fn as_str(self) -> &'static str {
        match self {
            RewardType::Coin => "COIN",
            RewardType::Coupon => "COUPON",
        }
    }
}

/// Which side of a referral a reward or notification is for (`referral_type`, `notify_type`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Side {
    Referrer,
    Referee,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Referrer, Side::Referee];

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Referrer => "REFERRER",
            Side::Referee => "REFEREE",
        }
    }
}

/// A reward amount: `DECIMAL(10,2)`, strictly positive, never a float.
/// Serialized as a decimal string (`"50.00"`) so no binary rounding can creep in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct RewardAmount(Decimal);

impl RewardAmount {
    /// The largest value `DECIMAL(10,2)` holds.
    pub const MAX: Decimal = Decimal::from_parts(1_410_065_407, 2, 0, false, 2); // 99,999,999.99

    pub fn new(value: Decimal) -> Result<Self, ValidationError> {
        if value <= Decimal::ZERO {
            return Err(ValidationError::new("amount", "must be greater than 0"));
        }
        if value.normalize().scale() > 2 {
            return Err(ValidationError::new(
                "amount",
                "must have at most 2 decimal places",
            ));
        }
        if value > Self::MAX {
            return Err(ValidationError::new(
                "amount",
                "must be at most 99999999.99",
            ));
        }
        let mut value = value;
        value.rescale(2);
        Ok(Self(value))
    }

    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let value: Decimal = text
            .trim()
            .parse()
            .map_err(|_| ValidationError::new("amount", "must be a decimal number"))?;
        Self::new(value)
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for RewardAmount {
    type Error = ValidationError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<RewardAmount> for Decimal {
    fn from(v: RewardAmount) -> Decimal {
        v.0
    }
}

/// A decimal string, greater than 0, at most 99999999.99 with at most 2 decimals (JSON numbers
/// are refused: no binary rounding).
impl utoipa::PartialSchema for RewardAmount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(
                r"^(?:0{0,7}[1-9][0-9]{0,7}(?:\.[0-9]{1,2})?|0{1,8}\.(?:[1-9][0-9]?|0[1-9]))$",
            ))
            .description(Some(
                "a decimal string > 0, at most 99999999.99, at most 2 decimals; answers carry 2",
            ))
            .examples([serde_json::json!("50.00")])
            .into()
    }
}

impl utoipa::ToSchema for RewardAmount {}

impl std::fmt::Display for RewardAmount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What one side of a referral receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RewardTerms {
    pub reward_type: RewardType,
    pub amount: RewardAmount,
}

/// `referral_event_content`: the rewards of both sides during a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContentWindow {
    pub window_id: WindowId,
    pub window: TimeWindow,
    pub referrer: RewardTerms,
    pub referee: RewardTerms,
}

impl ContentWindow {
    pub fn terms_for(&self, side: Side) -> RewardTerms {
        match side {
            Side::Referrer => self.referrer,
            Side::Referee => self.referee,
        }
    }
}

/// `referral_event_copywriting.item`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CopywritingItem {
    Subtitle,
    ShareMessage,
    KycValidation,
    EventDetail,
    InviteSteps,
    ReminderMessage,
}

impl CopywritingItem {
    pub const ALL: [CopywritingItem; 6] = [
        CopywritingItem::Subtitle,
        CopywritingItem::ShareMessage,
        CopywritingItem::KycValidation,
        CopywritingItem::EventDetail,
        CopywritingItem::InviteSteps,
        CopywritingItem::ReminderMessage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CopywritingItem::Subtitle => "SUBTITLE",
            CopywritingItem::ShareMessage => "SHARE_MESSAGE",
            CopywritingItem::KycValidation => "KYC_VALIDATION",
            CopywritingItem::EventDetail => "EVENT_DETAIL",
            CopywritingItem::InviteSteps => "INVITE_STEPS",
            CopywritingItem::ReminderMessage => "REMINDER_MESSAGE",
        }
    }
}

/// Copywriting content: a JSON document of at most 2048 characters once serialized
/// (`referral_event_copywriting.content`, VARCHAR(2048), "json string format").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "serde_json::Value")]
pub struct CopyContent(serde_json::Value);

impl CopyContent {
    pub const MAX_LEN: usize = 2048;

    pub fn new(value: serde_json::Value) -> Result<Self, ValidationError> {
        // Stored as a DynamoDB map, whose attribute names cannot be empty.
        fn has_empty_key(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::Object(map) => {
                    map.iter().any(|(k, v)| k.is_empty() || has_empty_key(v))
                }
                serde_json::Value::Array(items) => items.iter().any(has_empty_key),
                _ => false,
            }
        }
        if has_empty_key(&value) {
            return Err(ValidationError::new(
                "content",
                "object keys must not be empty",
            ));
        }
        let len = value.to_string().chars().count();
        if len > Self::MAX_LEN {
            return Err(ValidationError::new(
                "content",
                format!(
                    "serialized JSON must be at most {} characters (is {len})",
                    Self::MAX_LEN
                ),
            ));
        }
        Ok(Self(value))
    }

    pub fn from_json_text(text: &str) -> Result<Self, ValidationError> {
        let value = serde_json::from_str(text)
            .map_err(|e| ValidationError::new("content", format!("not JSON: {e}")))?;
        Self::new(value)
    }

    pub fn value(&self) -> &serde_json::Value {
        &self.0
    }

    pub fn to_json_text(&self) -> String {
        self.0.to_string()
    }
}

/// Any JSON value; the API refuses one longer than 2048 characters once serialized.
impl utoipa::PartialSchema for CopyContent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
            .description(Some(
                "any JSON value (an object with the texts, as a rule; no empty object keys) of at most 2048 characters \
                 serialized",
            ))
            .into()
    }
}

impl utoipa::ToSchema for CopyContent {}

impl TryFrom<serde_json::Value> for CopyContent {
    type Error = ValidationError;
    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<CopyContent> for serde_json::Value {
    fn from(v: CopyContent) -> serde_json::Value {
        v.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Copywriting {
    pub window_id: WindowId,
    pub window: TimeWindow,
    pub item: CopywritingItem,
    pub content: CopyContent,
}

string_newtype!(
    /// Bounded free text (titles ≤ 100, contents ≤ 2048 in the seed).
    free_text Title, field = "title", max = 100
);
string_newtype!(free_text MessageText, field = "content", max = 2048);

/// `referral_event_notification`: what a side is told once its reward is paid.
/// Texts may hold placeholders (`{amount}`, `{reward_type}`, `{referee_phone}`) rendered at
/// payout time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationTemplate {
    pub window_id: WindowId,
    pub window: TimeWindow,
    pub side: Side,
    pub out_app_title: Title,
    pub out_app_content: MessageText,
    pub in_app_title: Title,
    pub in_app_content: MessageText,
    pub boxed_message: MessageText,
}

/// The values a notification template's placeholders are filled with.
#[derive(Debug, Clone, Copy)]
pub struct NotificationValues<'a> {
    /// `{amount}`
    pub amount: RewardAmount,
    /// `{reward_type}` (`COIN` or `COUPON`)
    pub reward_type: RewardType,
    /// `{referee_phone}`: already masked; this module never sees a full number.
    pub referee_phone_masked: &'a str,
}

/// One message of a notification, ready for msg-hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMessage {
    pub channel: super::Channel,
    pub title: String,
    pub content: String,
}

impl NotificationTemplate {
    /// The three messages of this template (in-app, push, box, in that order) with the
    /// placeholders filled. The boxed message has no title of its own; it uses the in-app one.
    /// Unknown `{…}` are left as written, so a typo shows instead of vanishing.
    pub fn render(&self, values: &NotificationValues<'_>) -> Vec<RenderedMessage> {
        use super::Channel;
        let fill = |text: &str| {
            text.replace("{amount}", &values.amount.value().normalize().to_string())
                .replace("{reward_type}", values.reward_type.as_str())
                .replace("{referee_phone}", values.referee_phone_masked)
        };
        vec![
            RenderedMessage {
                channel: Channel::InApp,
                title: fill(self.in_app_title.as_str()),
                content: fill(self.in_app_content.as_str()),
            },
            RenderedMessage {
                channel: Channel::Push,
                title: fill(self.out_app_title.as_str()),
                content: fill(self.out_app_content.as_str()),
            },
            RenderedMessage {
                channel: Channel::Box,
                title: fill(self.in_app_title.as_str()),
                content: fill(self.boxed_message.as_str()),
            },
        ]
    }
}

/// Everything configured for one event, as loaded in one Query of its item collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventConfig {
    pub event: ReferralEvent,
    #[serde(default)]
    pub contents: Vec<ContentWindow>,
    #[serde(default)]
    pub copywriting: Vec<Copywriting>,
    #[serde(default)]
    pub notifications: Vec<NotificationTemplate>,
}

impl EventConfig {
    pub fn content_at(&self, at: Instant) -> Option<&ContentWindow> {
        self.contents.iter().find(|c| c.window.contains(at))
    }

    pub fn copywriting_at(&self, item: CopywritingItem, at: Instant) -> Option<&Copywriting> {
        self.copywriting
            .iter()
            .find(|c| c.item == item && c.window.contains(at))
    }

    pub fn notification_at(&self, side: Side, at: Instant) -> Option<&NotificationTemplate> {
        self.notifications
            .iter()
            .find(|n| n.side == side && n.window.contains(at))
    }

    /// Windows an event may have in all (contents, copywriting and notifications). Replacing any
    /// valid configuration by another is one transaction of at most 100 actions (DynamoDB's
    /// limit): the event, a put per new window, a delete per dropped window and a check per
    /// dropped content window (that no reward was granted under it): 1 + 3 × 33 = 100.
    pub const MAX_WINDOWS: usize = 33;

    /// The one validation of an event's configuration, whoever writes it (the admin API's
    /// create and replace, the campaign file loader):
    /// - windows of the same kind (content; copywriting per item; notification per side) do
    ///   not overlap, so "the window active at T" is always a single answer;
    /// - window ids are unique within the event (a window is named by its id alone);
    /// - at most [`EventConfig::MAX_WINDOWS`] windows in all.
    pub fn validate(&self) -> Result<(), ValidationError> {
        fn no_overlap<'a>(
            field: &'static str,
            windows: impl Iterator<Item = (&'a WindowId, &'a TimeWindow)>,
        ) -> Result<(), ValidationError> {
            let mut windows: Vec<_> = windows.collect();
            windows.sort_by_key(|(_, w)| w.start());
            for pair in windows.windows(2) {
                if pair[0].1.overlaps(pair[1].1) {
                    return Err(ValidationError::new(
                        field,
                        format!("windows {} and {} overlap", pair[0].0, pair[1].0),
                    ));
                }
            }
            Ok(())
        }
        no_overlap(
            "contents",
            self.contents.iter().map(|c| (&c.window_id, &c.window)),
        )?;
        for item in CopywritingItem::ALL {
            no_overlap(
                "copywriting",
                self.copywriting
                    .iter()
                    .filter(|c| c.item == item)
                    .map(|c| (&c.window_id, &c.window)),
            )?;
        }
        for side in Side::BOTH {
            no_overlap(
                "notifications",
                self.notifications
                    .iter()
                    .filter(|n| n.side == side)
                    .map(|n| (&n.window_id, &n.window)),
            )?;
        }
        let mut ids = std::collections::HashSet::new();
        let all_ids = (self.contents.iter().map(|c| ("contents", &c.window_id)))
            .chain(
                self.copywriting
                    .iter()
                    .map(|c| ("copywriting", &c.window_id)),
            )
            .chain(
                self.notifications
                    .iter()
                    .map(|n| ("notifications", &n.window_id)),
            );
        for (field, id) in all_ids {
            if !ids.insert(id) {
                return Err(ValidationError::new(
                    field,
                    format!("window id {id} is used twice"),
                ));
            }
        }
        if ids.len() > Self::MAX_WINDOWS {
            return Err(ValidationError::new(
                "contents",
                format!(
                    "an event has at most {} windows in all (contents, copywriting and \
                     notifications; it has {})",
                    Self::MAX_WINDOWS,
                    ids.len()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_content_refuses_empty_object_keys_at_any_depth() {
        for bad in [
            serde_json::json!({"": "x"}),
            serde_json::json!({"a": [{"b": {"": 1}}]}),
        ] {
            let err = CopyContent::new(bad).unwrap_err();
            assert_eq!(
                (err.field, err.message.as_str()),
                ("content", "object keys must not be empty")
            );
        }
        assert!(CopyContent::new(serde_json::json!({"text": "", "list": [""]})).is_ok());
    }
    use chrono::{TimeZone, Utc};

    fn t(h: u32) -> Instant {
        Utc.with_ymd_and_hms(2026, 11, 21, h, 0, 0).unwrap()
    }

    #[test]
    fn notification_renders_three_messages_with_placeholders_filled() {
        let template = NotificationTemplate {
            window_id: WindowId::parse("n1").unwrap(),
            window: TimeWindow::new(t(8), t(10)).unwrap(),
            side: Side::Referrer,
            out_app_title: Title::parse("You got {amount}!").unwrap(),
            out_app_content: MessageText::parse("{referee_phone} joined").unwrap(),
            in_app_title: Title::parse("Reward {reward_type}").unwrap(),
            in_app_content: MessageText::parse("{amount} {reward_type} for {referee_phone}")
                .unwrap(),
            boxed_message: MessageText::parse("Box: {amount} {unknown}").unwrap(),
        };
        let values = NotificationValues {
            amount: RewardAmount::parse("12.5").unwrap(),
            reward_type: RewardType::Coin,
            referee_phone_masked: "0912***678",
        };
        let messages = template.render(&values);
        let shown: Vec<_> = messages
            .iter()
            .map(|m| (m.channel.as_str(), m.title.as_str(), m.content.as_str()))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("IN_APP", "Reward COIN", "12.5 COIN for 0912***678"),
                ("PUSH", "You got 12.5!", "0912***678 joined"),
                ("BOX", "Reward COIN", "Box: 12.5 {unknown}"),
            ]
        );
    }

    fn config_with(contents: Vec<ContentWindow>, copywriting: Vec<Copywriting>) -> EventConfig {
        EventConfig {
            event: ReferralEvent {
                event_id: EventId::parse("e").unwrap(),
                event_type: EventType::Campaign,
                name: EventName::parse("e").unwrap(),
                created_at: t(0),
                updated_at: t(0),
            },
            contents,
            copywriting,
            notifications: Vec::new(),
        }
    }

    fn content(id: &str, start: Instant, end: Instant) -> ContentWindow {
        let terms = RewardTerms {
            reward_type: RewardType::Coin,
            amount: RewardAmount::parse("1").unwrap(),
        };
        ContentWindow {
            window_id: WindowId::parse(id).unwrap(),
            window: TimeWindow::new(start, end).unwrap(),
            referrer: terms,
            referee: terms,
        }
    }

    #[test]
    fn window_ids_are_unique_across_kinds_and_windows_are_bounded() {
        let copy = |id: &str| Copywriting {
            window_id: WindowId::parse(id).unwrap(),
            window: TimeWindow::new(t(1), t(2)).unwrap(),
            item: CopywritingItem::Subtitle,
            content: CopyContent::from_json_text("{}").unwrap(),
        };
        assert!(
            config_with(vec![content("a", t(1), t(2))], vec![copy("b")])
                .validate()
                .is_ok()
        );
        let twice = config_with(vec![content("a", t(1), t(2))], vec![copy("a")]).validate();
        assert_eq!(twice.unwrap_err().field, "copywriting");
        let twice = config_with(
            vec![content("a", t(1), t(2)), content("a", t(2), t(3))],
            Vec::new(),
        )
        .validate();
        assert_eq!(twice.unwrap_err().field, "contents");

        let hours = |n: usize| {
            (0..n)
                .map(|i| {
                    let start = t(0) + chrono::Duration::hours(i as i64);
                    content(&format!("h{i}"), start, start + chrono::Duration::hours(1))
                })
                .collect::<Vec<_>>()
        };
        assert!(
            config_with(hours(EventConfig::MAX_WINDOWS), Vec::new())
                .validate()
                .is_ok()
        );
        let over = config_with(hours(EventConfig::MAX_WINDOWS), vec![copy("one-more")]).validate();
        assert!(over.unwrap_err().message.contains("at most 33 windows"));
    }

    #[test]
    fn every_write_is_a_new_millisecond_version() {
        let event = config_with(Vec::new(), Vec::new()).event;
        let later = t(5);
        assert_eq!(event.next_version_at(later), later);
        // Within the same millisecond, or with a clock behind: one millisecond on.
        let same_ms = t(0) + chrono::Duration::microseconds(300);
        assert_eq!(
            event.next_version_at(same_ms),
            t(0) + chrono::Duration::milliseconds(1)
        );
        assert_eq!(
            event.next_version_at(t(0) - chrono::Duration::hours(1)),
            t(0) + chrono::Duration::milliseconds(1)
        );
        // Stored to the millisecond.
        let odd = t(5) + chrono::Duration::nanoseconds(1_234_567);
        assert_eq!(
            event.next_version_at(odd),
            t(5) + chrono::Duration::milliseconds(1)
        );
    }

    #[test]
    fn window_is_half_open() {
        let w = TimeWindow::new(t(8), t(10)).unwrap();
        assert!(!w.contains(t(8) - chrono::Duration::milliseconds(1)));
        assert!(w.contains(t(8)));
        assert!(w.contains(t(10) - chrono::Duration::milliseconds(1)));
        assert!(!w.contains(t(10)));
        assert!(TimeWindow::new(t(10), t(10)).is_err());
        assert!(TimeWindow::new(t(11), t(10)).is_err());
    }

    #[test]
    fn window_json_is_validated() {
        let ok: TimeWindow = serde_json::from_str(
            r#"{"start":"2026-11-21T08:00:00Z","end":"2026-11-21T10:00:00+00:00"}"#,
        )
        .unwrap();
        assert_eq!(ok.end(), t(10));
        let bad = serde_json::from_str::<TimeWindow>(
            r#"{"start":"2026-11-21T10:00:00Z","end":"2026-11-21T08:00:00Z"}"#,
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("start must be before end")
        );
    }

    #[test]
    fn amounts_are_exact_positive_and_two_places() {
        assert_eq!(
            RewardAmount::parse("50").unwrap().value().to_string(),
            "50.00"
        );
        assert_eq!(
            RewardAmount::parse("0.1").unwrap().value().to_string(),
            "0.10"
        );
        assert_eq!(
            RewardAmount::parse("12.340").unwrap().value().to_string(),
            "12.34"
        );
        assert!(RewardAmount::parse("99999999.99").is_ok());
        assert!(RewardAmount::parse("100000000").is_err());
        assert!(RewardAmount::parse("0").is_err());
        assert!(RewardAmount::parse("-1").is_err());
        assert_eq!(
            RewardAmount::parse("1.005").unwrap_err().message,
            "must have at most 2 decimal places"
        );
        assert!(RewardAmount::parse("ten").is_err());
        // Serialized as a string, never a float.
        assert_eq!(
            serde_json::to_string(&RewardAmount::parse("7.5").unwrap()).unwrap(),
            "\"7.50\""
        );
    }

    #[test]
    fn texts_and_content_are_bounded() {
        assert!(Title::parse("x".repeat(100)).is_ok());
        assert_eq!(Title::parse("x".repeat(101)).unwrap_err().field, "title");
        assert!(MessageText::parse("x".repeat(2049)).is_err());
        assert!(CopyContent::new(serde_json::json!({"text": "x".repeat(2037)})).is_ok()); // 2048 serialized
        assert!(CopyContent::new(serde_json::json!({"text": "x".repeat(2040)})).is_err());
        assert!(CopyContent::from_json_text("{not json").is_err());
    }
}
