//! The referral domain. Knows nothing of Lambda, HTTP or DynamoDB.

mod checklist;
mod code;
mod copy;
mod error;
mod event;
mod funnel;
mod identity;
mod lifecycle;
mod links;
mod member;
mod milestone;
mod newtype;
mod progress;
mod reward;
mod rules;
pub(crate) mod schema;
mod terms;
mod values;
mod window;

pub use checklist::{
    CheckReason, CheckState, CheckStep, Checklist, ChecklistInput, ChecklistItem, ChecklistView,
};
pub use code::{CODE_ALPHABET, ReferralCode};
pub use copy::{
    CopyContent, Copywriting, CopywritingItem, MessageText, NotificationTemplate,
    NotificationValues, RenderedMessage, Title,
};
pub use error::ValidationError;
pub use event::{EventConfig, EventType, ReferralEvent};
pub use funnel::{
    CLICKS_STAGE, FUNNEL_LINE, FunnelDelta, FunnelScope, FunnelStage, StageAt, StageCounts,
    conversion_rate, funnel_delta, member_stages, new_reward_delta, reward_stage,
    reward_status_delta,
};
pub use identity::{DeviceId, IdentityHash, IdentityKey};
pub use lifecycle::{ClaimStep, DeadlineRule, Delivery, Review, ReviewStep, RewardTransition};
pub use links::{CODE_PLACEHOLDER, Day, EventTimeZone, LandingUrl, LinkSettings};
pub use member::{MemberProfile, ReferralOutcome, ReferralUse, RejectionReason, RewardGrant};
pub use progress::{RuleContext, Settlement, Step, Undecided, judge_referral, settle};
pub use reward::{
    Channel, NotificationOutcome, NotificationStatus, ReasonCode, Reward, RewardId, RewardStart,
    RewardStatus,
};
pub use rules::{
    CapScope, FactKeys, Grant, GrantCase, IdentityClaim, IdentityKind, Milestone, ReferrerCap,
    ReferrerStats, ReviewHold, RewardRules, RuleFacts, RuleReason, RuleWrites, Stamp, Verdict,
    decide_grant,
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
    /// The keyed hash of the owner's phone when the code was issued to a member whose phone
    /// was known (the self-referral rule compares a referee's against it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub owner_phone: Option<IdentityHash>,
    #[serde(with = "crate::time::millis")]
    #[schema(schema_with = schema::instant)]
    pub created_at: crate::time::Instant,
}
