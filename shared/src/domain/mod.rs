//! The referral domain. Knows nothing of Lambda, HTTP or DynamoDB.

mod code;
mod copy;
mod error;
mod event;
mod lifecycle;
mod member;
mod newtype;
mod progress;
mod reward;
pub(crate) mod schema;
mod terms;
mod values;
mod window;

pub use code::{CODE_ALPHABET, ReferralCode};
pub use copy::{
    CopyContent, Copywriting, CopywritingItem, MessageText, NotificationTemplate,
    NotificationValues, RenderedMessage, Title,
};
pub use error::ValidationError;
pub use event::{EventConfig, EventType, ReferralEvent};
pub use lifecycle::{ClaimStep, DeadlineRule, Delivery, Review, ReviewStep, RewardTransition};
pub use member::{MemberProfile, ReferralOutcome, ReferralUse, RejectionReason, RewardGrant};
pub use progress::{Settlement, Step, judge_referral, settle};
pub use reward::{
    Channel, NotificationOutcome, NotificationStatus, ReasonCode, Reward, RewardId, RewardStart,
    RewardStatus,
};
pub use terms::{ContentWindow, RewardAmount, RewardTerms, RewardType, Side};
pub use values::{
    AccountId, CampaignSource, EventId, EventName, JkosAccount, JkosId, PhoneNumber,
    ReferralSource, WindowId,
};
pub use window::TimeWindow;

/// A referral code as stored: the code, its event and its owner (`referral_code`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ReferralCodeRecord {
    pub code: ReferralCode,
    pub event_id: EventId,
    pub event_type: EventType,
    pub source: ReferralSource,
    #[serde(with = "crate::time::millis")]
    #[schema(schema_with = schema::instant)]
    pub created_at: crate::time::Instant,
}
