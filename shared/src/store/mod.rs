//! The store port (a trait in domain terms) and its DynamoDB single-table implementation.

mod dynamo;
pub mod items;
pub mod keys;

pub use dynamo::DynamoStore;

use crate::contracts::kafka::ParkedRecord;
use crate::domain::{
    AccountId, ContentWindow, Copywriting, CopywritingItem, EventConfig, EventId, EventType,
    MemberProfile, NotificationOutcome, NotificationTemplate, ReferralCode, ReferralCodeRecord,
    ReferralEvent, ReferralSource, Reward, RewardId, RewardStatus, Settlement, Side, WindowId,
};
use crate::time::Instant;
use async_trait::async_trait;
use base64::Engine;
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;

/// Errors of the store, typed so callers can tell "already exists" from "try again later"
/// from "a bug or corrupt data" without string matching.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A conditional write found the item already there (or not in the expected state).
    #[error("{entity} {key} already exists or is not in the expected state")]
    Conflict { entity: &'static str, key: String },
    /// Throttling, a 5xx, a timeout or a dropped connection: retrying later may succeed.
    #[error("DynamoDB is unavailable during {operation}: {message}")]
    Unavailable {
        operation: &'static str,
        message: String,
    },
    /// A replace would delete a content window under which rewards were granted (its
    /// `WINDOWUSE#` marker exists, or is being written at this moment).
    #[error("window {window} of event {event} has rewards granted under it")]
    WindowInUse { event: EventId, window: WindowId },
    /// A pagination cursor that we did not issue or that belongs to another query.
    #[error("invalid pagination cursor")]
    InvalidCursor,
    /// An item that does not map onto the domain (it fails validation).
    #[error("stored item {key} is not valid: {message}")]
    Corrupt { key: String, message: String },
    /// Anything else the service rejected (a bug on our side: bad request, missing table…).
    #[error("DynamoDB rejected {operation}: {message}")]
    Rejected {
        operation: &'static str,
        message: String,
    },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// An opaque pagination cursor: base64url of the last evaluated key. Callers pass it back
/// unchanged; the store checks it belongs to the query it is given to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    pub fn from_token(token: impl Into<String>) -> Self {
        Cursor(token.into())
    }

    pub fn token(&self) -> &str {
        &self.0
    }

    fn encode(key: &BTreeMap<String, String>) -> Self {
        let json = serde_json::to_vec(key).unwrap_or_default();
        Cursor(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
    }

    fn decode(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.0)
            .map_err(|_| StoreError::InvalidCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)
    }
}

#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Items per page; clamped to 1..=[`PageRequest::MAX_LIMIT`], default [`PageRequest::DEFAULT_LIMIT`].
    pub limit: Option<u32>,
    pub cursor: Option<Cursor>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    pub fn first(limit: u32) -> Self {
        Self {
            limit: Some(limit),
            cursor: None,
        }
    }

    pub fn after(limit: u32, cursor: Cursor) -> Self {
        Self {
            limit: Some(limit),
            cursor: Some(cursor),
        }
    }

    fn effective_limit(&self) -> i32 {
        self.limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT) as i32
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items may follow.
    pub next: Option<Cursor>,
}

/// One item of a referrer's collection (GSI1 `SOURCE#<source>`), in key order: for each code,
/// the code, then each referee followed by that referee's rewards.
#[derive(Debug, Clone, PartialEq)]
pub enum CollectionEntry {
    Code(ReferralCodeRecord),
    Referee(Box<MemberProfile>),
    Reward(Box<Reward>),
}

/// See [`ReferralStore::profiles_and_codes`].
#[derive(Debug, Default)]
pub struct ProfilesAndCodes {
    pub profiles: HashMap<AccountId, MemberProfile>,
    pub codes: HashMap<ReferralCode, ReferralCodeRecord>,
    /// Items found under a requested key that do not map onto the domain, by partition key
    /// (`MEMBER#…` / `CODE#…`), with the reason. Reported, not fatal: one bad item must not
    /// block the batch.
    pub corrupt: HashMap<String, String>,
}

/// One member profile written back after a batch changed it, with what fell due
/// ([`Settlement`]): a single conditional PutItem, or one TransactWriteItems when a code or
/// rewards are created with it, so either all of it happens or none.
#[derive(Debug, Clone, Copy)]
pub struct MemberWrite<'a> {
    /// The new state; its `version` must be `expected_version + 1`.
    pub member: &'a MemberProfile,
    /// The version read; 0 = the profile did not exist (or predates versioning).
    pub expected_version: u64,
    pub settlement: &'a Settlement,
}

/// Writes, deletes and checks [`ReferralStore::save_event_config`] can make at once: DynamoDB's
/// limit of 100 actions per TransactWriteItems.
pub const MAX_EVENT_WRITES: usize = 100;

/// The most actions a replace between two valid configurations needs: the event, a put per
/// window, a delete per dropped window and a check per dropped content window. The domain's
/// window limit is what makes it fit in one transaction.
const MAX_REPLACE_ACTIONS: usize = 1 + 3 * EventConfig::MAX_WINDOWS;
const _: () = assert!(MAX_REPLACE_ACTIONS <= MAX_EVENT_WRITES);

/// Storage in domain terms. The DynamoDB implementation is [`DynamoStore`]; the round trips of
/// each method are listed in `docs/data-model.md`.
#[async_trait]
pub trait ReferralStore: Send + Sync {
    /// Creates or replaces an event's own item (its windows are separate items).
    async fn put_event(&self, event: &ReferralEvent) -> Result<(), StoreError>;
    /// Events of one type, by id. 1 Query on GSI1 per page.
    async fn events_by_type(
        &self,
        event_type: EventType,
        page: PageRequest,
    ) -> Result<Page<ReferralEvent>, StoreError>;
    async fn put_content_window(
        &self,
        event: &EventId,
        content: &ContentWindow,
    ) -> Result<(), StoreError>;
    async fn put_copywriting(&self, event: &EventId, copy: &Copywriting) -> Result<(), StoreError>;
    async fn put_notification(
        &self,
        event: &EventId,
        template: &NotificationTemplate,
    ) -> Result<(), StoreError>;
    /// Writes an event's whole configuration at once (1 TransactWriteItems): the event item,
    /// every window, and deletes of the windows of `previous` that `config` no longer has.
    /// `previous = None` creates the event ([`StoreError::Conflict`] if it exists); otherwise
    /// the write holds only if the stored event's `updated_at` is still `previous`'s
    /// (optimistic lock: two admins editing at once cannot silently undo each other;
    /// [`StoreError::Conflict`] with entity `Event`), and only if no content window whose id
    /// `config` drops has rewards granted under it (a ConditionCheck on each one's
    /// `WINDOWUSE#` marker; [`StoreError::WindowInUse`]). A moved window (same id, new start)
    /// is not a dropped one. At most [`MAX_EVENT_WRITES`] actions in all.
    async fn save_event_config(
        &self,
        config: &EventConfig,
        previous: Option<&EventConfig>,
    ) -> Result<(), StoreError>;
    /// Marks `window` of `event` as having rewards granted under it, so no replace can delete
    /// it any more. Idempotent (a plain PutItem of the same item); callers write it BEFORE the
    /// transaction that creates rewards under the window. 1 PutItem.
    async fn mark_window_in_use(
        &self,
        event: &EventId,
        window: &WindowId,
    ) -> Result<(), StoreError>;
    /// The whole configuration of an event: 1 Query (more only past 1 MB of configuration).
    async fn event_config(&self, event: &EventId) -> Result<Option<EventConfig>, StoreError>;
    /// The reward content window active at `at` (start ≤ at < end). 1 Query, 1 item.
    async fn content_window_at(
        &self,
        event: &EventId,
        at: Instant,
    ) -> Result<Option<ContentWindow>, StoreError>;
    /// The copywriting of `item` active at `at`. 1 Query, 1 item.
    async fn copywriting_at(
        &self,
        event: &EventId,
        item: CopywritingItem,
        at: Instant,
    ) -> Result<Option<Copywriting>, StoreError>;
    /// The notification template of `side` active at `at`. 1 Query, 1 item.
    async fn notification_at(
        &self,
        event: &EventId,
        side: Side,
        at: Instant,
    ) -> Result<Option<NotificationTemplate>, StoreError>;

    /// Creates a code; [`StoreError::Conflict`] if the code exists. 1 conditional PutItem.
    async fn create_code(&self, code: &ReferralCodeRecord) -> Result<(), StoreError>;
    /// 1 GetItem.
    async fn get_code(&self, code: &ReferralCode)
    -> Result<Option<ReferralCodeRecord>, StoreError>;

    /// Creates or replaces a member profile. 1 PutItem.
    async fn put_member(&self, member: &MemberProfile) -> Result<(), StoreError>;
    /// 1 GetItem.
    async fn get_member(&self, account: &AccountId) -> Result<Option<MemberProfile>, StoreError>;

    /// What a consumer batch reads, in one go: the profiles of `accounts` and the records of
    /// `codes`, in the same BatchGetItem requests (1 round trip per 100 keys, plus retries of
    /// unprocessed keys). Missing ones are absent from the maps.
    async fn profiles_and_codes(
        &self,
        accounts: &[AccountId],
        codes: &[ReferralCode],
    ) -> Result<ProfilesAndCodes, StoreError>;
    /// Writes a profile if nobody wrote it since it was read, together with its settlement.
    /// Conflicts are [`StoreError::Conflict`] with entity `Member` (re-read and re-apply),
    /// `Code` (the generated code exists: generate another) or `Reward` (already granted).
    async fn save_member(&self, write: MemberWrite<'_>) -> Result<(), StoreError>;

    /// Keeps an unprocessable Kafka record (idempotent per coordinates). 1 PutItem.
    async fn park_record(&self, record: &ParkedRecord) -> Result<(), StoreError>;
    /// Parked records, oldest first. 1 Query on GSI2 per page.
    async fn parked_records(&self, page: PageRequest) -> Result<Page<ParkedRecord>, StoreError>;

    /// Creates a reward; [`StoreError::Conflict`] if one exists for that referee and side.
    async fn create_reward(&self, reward: &Reward) -> Result<(), StoreError>;
    /// 1 strongly consistent GetItem (the payout's read: a reward just paid must not look
    /// PENDING to the next message).
    async fn get_reward(&self, reward: &RewardId) -> Result<Option<Reward>, StoreError>;
    /// Marks a reward paid ([`RewardTransition::Paid`](crate::domain::RewardTransition)):
    /// SUCCESS with finance's compensation id and the time. 1 conditional UpdateItem;
    /// [`StoreError::Conflict`] if it was already SUCCESS (someone else recorded it: that
    /// caller notifies, not this one) or does not exist.
    async fn mark_reward_paid(
        &self,
        reward: &RewardId,
        compensation_id: &str,
        at: Instant,
    ) -> Result<(), StoreError>;
    /// Records a failed payment attempt of a PENDING reward (attempts + 1, the error):
    /// `terminal` moves it to FAIL with `error` as the decisive reason
    /// ([`RewardTransition::Failed`](crate::domain::RewardTransition)), otherwise it stays
    /// PENDING. [`StoreError::Conflict`] unless the reward is PENDING, so nothing overwrites a
    /// FAIL reward's reason or attempts. 1 conditional UpdateItem.
    async fn record_payout_failure(
        &self,
        reward: &RewardId,
        error: &str,
        terminal: bool,
        at: Instant,
    ) -> Result<(), StoreError>;
    /// Records what became of the notification of a SUCCESS reward. 1 conditional UpdateItem.
    async fn record_notification(
        &self,
        reward: &RewardId,
        outcome: &NotificationOutcome,
    ) -> Result<(), StoreError>;
    /// Admin retry of a FAIL reward: back to PENDING (`updated_at` = `at`, so the sweeper
    /// leaves it alone while the new message is in flight). 1 conditional UpdateItem;
    /// [`StoreError::Conflict`] if the reward is not FAIL (or does not exist).
    async fn reopen_failed_reward(&self, reward: &RewardId, at: Instant) -> Result<(), StoreError>;
    /// Rewards with `status`, oldest first. 1 Query on GSI2 per page.
    async fn rewards_by_status(
        &self,
        status: RewardStatus,
        page: PageRequest,
    ) -> Result<Page<Reward>, StoreError>;

    /// PENDING rewards created before `cutoff`, oldest first (the sweeper's view).
    /// 1 Query on GSI2 per page.
    async fn pending_rewards_before(
        &self,
        cutoff: Instant,
        page: PageRequest,
    ) -> Result<Page<Reward>, StoreError>;

    /// Counts one request of `subject` in the fixed window `bucket` (e.g. the minute) and
    /// answers whether it is within `limit`. 1 conditional UpdateItem (ADD); the counter item
    /// carries `expires_at` so DynamoDB's TTL removes it. Shared by every Lambda instance.
    async fn count_request(
        &self,
        subject: &str,
        bucket: &str,
        limit: u32,
        expires_at: Instant,
    ) -> Result<bool, StoreError>;

    /// A referrer's (or campaign source's) codes, referees and rewards. 1 Query on GSI1 per page.
    /// For both collections the page's `limit` counts referees (the codes and each referee's
    /// rewards come with them): a page never splits a referee from its rewards.
    async fn referrer_collection(
        &self,
        source: &ReferralSource,
        page: PageRequest,
    ) -> Result<Page<CollectionEntry>, StoreError>;
    /// One code's referees and rewards (the code item first). 1 Query on GSI1 per page.
    async fn code_collection(
        &self,
        code: &ReferralCodeRecord,
        page: PageRequest,
    ) -> Result<Page<CollectionEntry>, StoreError>;
}

/// Creates a new code from `make` (typically random), retrying on a collision: the
/// conditional write is what detects it, never a read beforehand.
pub async fn create_unique_code<S, F>(
    store: &S,
    attempts: u32,
    mut make: F,
) -> Result<ReferralCodeRecord, StoreError>
where
    S: ReferralStore + ?Sized,
    F: FnMut() -> ReferralCodeRecord,
{
    let mut last = None;
    for _ in 0..attempts.max(1) {
        let record = make();
        match store.create_code(&record).await {
            Ok(()) => return Ok(record),
            Err(e @ StoreError::Conflict { .. }) => {
                tracing::warn!(code = %record.code, "generated referral code collided; retrying");
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(StoreError::Conflict {
        entity: "Code",
        key: String::new(),
    }))
}
