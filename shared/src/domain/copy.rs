//! What an event shows and sends: copywriting items and notification templates, each valid
//! within a time window, and the rendering of a template's placeholders.

use super::newtype::string_newtype;
use super::{RewardAmount, RewardType, Side, TimeWindow, ValidationError, WindowId};
use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;
    use chrono::{TimeZone, Utc};

    fn t(h: u32) -> Instant {
        Utc.with_ymd_and_hms(2026, 11, 21, h, 0, 0).unwrap()
    }

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
