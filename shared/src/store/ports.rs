//! The store's ports: one small trait per use, in domain terms, so each engine names exactly
//! what it reads and writes (the list of who uses which is in `docs/architecture.md`). The
//! DynamoDB implementation of all of them is [`DynamoStore`](super::DynamoStore); the round
//! trips of each method are listed in `docs/data-model.md`.

use super::{Page, PageRequest, StoreError};
use crate::contracts::kafka::ParkedRecord;
use crate::domain::{
    AccountId, ContentWindow, Copywriting, CopywritingItem, Day, EventConfig, EventId, EventType,
    FactKeys, FunnelDelta, FunnelScope, JkosId, MemberProfile, NotificationOutcome,
    NotificationTemplate, ReasonCode, ReferralCode, ReferralCodeRecord, ReferralEvent,
    ReferralSource, Reward, RewardId, RewardStatus, RuleFacts, Settlement, Side, StageCounts,
    WindowId,
};
use crate::time::Instant;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};

/// Reads of campaign configuration (the event item and its windows).
#[async_trait]
pub trait EventReads: Send + Sync {
    /// Events of one type, by id. 1 Query on GSI1 per page.
    async fn events_by_type(
        &self,
        event_type: EventType,
        page: PageRequest,
    ) -> Result<Page<ReferralEvent>, StoreError>;
    /// The whole configuration of an event: 1 Query (more only past 1 MB of configuration).
    async fn event_config(&self, event: &EventId) -> Result<Option<EventConfig>, StoreError>;
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
}

/// Writes, deletes and checks [`EventWrites::save_event_config`] can make at once: DynamoDB's
/// limit of 100 actions per TransactWriteItems.
pub const MAX_EVENT_WRITES: usize = 100;

/// The most actions a replace between two valid configurations needs: the event, a put per
/// window, a delete per dropped window and a check per dropped content window. The domain's
/// window limit is what makes it fit in one transaction.
const MAX_REPLACE_ACTIONS: usize = 1 + 3 * EventConfig::MAX_WINDOWS;
const _: () = assert!(MAX_REPLACE_ACTIONS <= MAX_EVENT_WRITES);

/// The admin's write of a campaign.
#[async_trait]
pub trait EventWrites: Send + Sync {
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
}

/// The consumers' mark on a content window they grant under (ADR 0006).
#[async_trait]
pub trait WindowMarks: Send + Sync {
    /// Marks `window` of `event` as having rewards granted under it, so no replace can delete
    /// it any more. Idempotent (a plain PutItem of the same item); callers write it BEFORE the
    /// transaction that creates rewards under the window. 1 PutItem.
    async fn mark_window_in_use(
        &self,
        event: &EventId,
        window: &WindowId,
    ) -> Result<(), StoreError>;
}

/// Referral codes.
#[async_trait]
pub trait Codes: Send + Sync {
    /// Creates a code; [`StoreError::Conflict`] if the code exists. 1 conditional PutItem.
    async fn create_code(&self, code: &ReferralCodeRecord) -> Result<(), StoreError>;
    /// 1 GetItem.
    async fn get_code(&self, code: &ReferralCode)
    -> Result<Option<ReferralCodeRecord>, StoreError>;
}

/// One member's profile, read alone.
#[async_trait]
pub trait Profiles: Send + Sync {
    /// 1 GetItem.
    async fn get_member(&self, account: &AccountId) -> Result<Option<MemberProfile>, StoreError>;
}

/// What the checklist reads about one referee (`docs/checklist.md`): their profile and, when
/// they exist (and were read), their rewards `<account>-referee` / `<account>-referrer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub profile: MemberProfile,
    pub referee_reward: Option<Reward>,
    pub referrer_reward: Option<Reward>,
}

/// A referee's registration: their profile with their two rewards.
#[async_trait]
pub trait Registrations: Send + Sync {
    /// Support's read, by account id: 1 BatchGetItem (strongly consistent) of the profile and
    /// both rewards. `None` without a profile.
    async fn registration(&self, account: &AccountId) -> Result<Option<Registration>, StoreError>;
    /// The member's own, by their jkos id (from their token): 1 Query on GSI3
    /// `PAYEE#<jkos id>`, Limit 2 (the profile sorts first, `#PROFILE`, then their rewards by
    /// creation: their referee reward, created with their own code, comes before every
    /// reward they get as a referrer), + 1 GetItem only when their referee reward is due and
    /// is not that second item. The referrer's reward is not read (`referrer_reward` is
    /// `None`): it is not the member's. `None` without a profile (or one written before
    /// profiles had GSI3 keys and not backfilled yet).
    async fn my_registration(&self, member: &JkosId) -> Result<Option<Registration>, StoreError>;
}

/// See [`MemberBatches::profiles_and_codes`].
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
    /// What the write adds to the funnel counters (`domain::funnel_delta` of the profile as
    /// read and as written): ADD updates in the same transaction (ADR 0008).
    pub funnel: &'a FunnelDelta,
}

/// What a consumer batch reads and writes.
#[async_trait]
pub trait MemberBatches: Send + Sync {
    /// The profiles of `accounts` and the records of `codes`, in the same BatchGetItem
    /// requests (1 round trip per 100 keys, plus retries of unprocessed keys). Missing ones
    /// are absent from the maps.
    async fn profiles_and_codes(
        &self,
        accounts: &[AccountId],
        codes: &[ReferralCode],
    ) -> Result<ProfilesAndCodes, StoreError>;
    /// Writes a profile if nobody wrote it since it was read, together with its settlement.
    /// Conflicts are [`StoreError::Conflict`] with entity `Member` (re-read and re-apply),
    /// `Code` (the generated code exists: generate another) or `Reward` (already granted).
    async fn save_member(&self, write: MemberWrite<'_>) -> Result<(), StoreError>;
    /// Of the granted rewards `ids`, those payout may never have seen: PENDING with no
    /// attempt recorded ([`Reward::may_be_unqueued`]). What a redelivered batch re-sends
    /// (ADR 0004). Strongly consistent BatchGetItem, 1 round trip per 100 ids; none for none.
    async fn possibly_unqueued(&self, ids: &[RewardId]) -> Result<Vec<RewardId>, StoreError>;
}

/// The stored state the event's reward rules decide from (`domain::decide_grant`).
#[async_trait]
pub trait RuleStates: Send + Sync {
    /// The referrer's counters and the claims of the phone and device that `keys` names, in
    /// one strongly consistent BatchGetItem (1 round trip; nothing when `keys` names nothing).
    /// What the grant then writes is conditional on this state being unchanged.
    async fn rule_facts(&self, keys: &FactKeys) -> Result<RuleFacts, StoreError>;
}

/// The most actions one [`MemberGroups::save_members_together`] may hold: DynamoDB's limit
/// per TransactWriteItems.
pub const MAX_GROUP_ACTIONS: usize = 100;

/// The launch-day import's grouped write (ADR 0007): several members' versioned writes in
/// one request, for when per-request latency, not write units, bounds the import.
#[async_trait]
pub trait MemberGroups: Send + Sync {
    /// Writes every profile of `writes` with its settlement in ONE TransactWriteItems, each
    /// under exactly the condition [`MemberBatches::save_member`] puts on it: all of them or
    /// none. At most [`MAX_GROUP_ACTIONS`] actions (a profile is one, each code or reward one
    /// more). A failed condition or a concurrent transaction on one of the items cancels the
    /// whole group: [`StoreError::Conflict`] naming the first item at fault; the caller then
    /// writes the members one by one.
    async fn save_members_together(&self, writes: &[MemberWrite<'_>]) -> Result<(), StoreError>;
}

/// Reads of rewards.
#[async_trait]
pub trait RewardReads: Send + Sync {
    /// 1 strongly consistent GetItem (the payout's read: a reward just paid must not look
    /// PENDING to the next message).
    async fn get_reward(&self, reward: &RewardId) -> Result<Option<Reward>, StoreError>;
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
    /// CLAIMABLE rewards whose claim deadline is at or before `now`, earliest deadline first
    /// (the sweeper's expiry). 1 Query on GSI2 per page (CLAIMABLE rewards sort by deadline).
    async fn claimable_rewards_due(
        &self,
        now: Instant,
        page: PageRequest,
    ) -> Result<Page<Reward>, StoreError>;
}

/// A member's own rewards, as referrer and as referee (GSI3 `PAYEE#<jkos id>`).
#[async_trait]
pub trait MemberRewards: Send + Sync {
    /// The rewards paid (or to be paid) to `member`, oldest first. 1 Query on GSI3 per page;
    /// a cursor of another member's partition is [`StoreError::InvalidCursor`].
    async fn member_rewards(
        &self,
        member: &JkosId,
        page: PageRequest,
    ) -> Result<Page<Reward>, StoreError>;
}

/// The status changes of a reward (docs/reward-lifecycle.md) and what is recorded with them.
/// Each is 1 conditional UpdateItem whose condition comes from the lifecycle.
#[async_trait]
pub trait RewardWrites: Send + Sync {
    /// Marks a reward paid ([`RewardTransition::Paid`](crate::domain::RewardTransition)):
    /// SUCCESS with finance's compensation id and the time. [`StoreError::Conflict`] if it was
    /// already SUCCESS (someone else recorded it: that caller notifies, not this one) or does
    /// not exist.
    ///
    /// Every status change also moves the reward's funnel count from the old status to the
    /// new one in the same transaction (ADR 0008); the methods that take the reward as read
    /// start from its status (a stale one is read again), the others read it first. A change
    /// that keeps meeting concurrent transactions on the counters ends in
    /// [`StoreError::Unavailable`]: nothing was written, try again later.
    async fn mark_reward_paid(
        &self,
        reward: &Reward,
        compensation_id: &str,
        at: Instant,
    ) -> Result<(), StoreError>;
    /// Records a failed payment attempt of a PENDING reward (attempts + 1, the error):
    /// `terminal` moves it to FAIL with `error` as the decisive reason
    /// ([`RewardTransition::Failed`](crate::domain::RewardTransition)), otherwise it stays
    /// PENDING. [`StoreError::Conflict`] unless the reward is PENDING, so nothing overwrites a
    /// FAIL reward's reason or attempts.
    async fn record_payout_failure(
        &self,
        reward: &Reward,
        error: &str,
        terminal: bool,
        at: Instant,
    ) -> Result<(), StoreError>;
    /// Records what became of the notification of a SUCCESS reward.
    async fn record_notification(
        &self,
        reward: &RewardId,
        outcome: &NotificationOutcome,
    ) -> Result<(), StoreError>;
    /// Admin retry of a FAIL reward: back to PENDING (`updated_at` = `at`, so the sweeper
    /// leaves it alone while the new message is in flight). [`StoreError::Conflict`] if the
    /// reward is not FAIL (or does not exist).
    async fn reopen_failed_reward(&self, reward: &RewardId, at: Instant) -> Result<(), StoreError>;
    /// The payee's claim ([`RewardTransition::Claimed`](crate::domain::RewardTransition)):
    /// CLAIMABLE → PENDING with `claimed_at` = `at`, on condition that the deadline is after
    /// `at`. [`StoreError::Conflict`] otherwise (not CLAIMABLE, too late, or absent). Takes
    /// the reward as read for its id and creation time (its place among PENDING rewards).
    async fn claim_reward(&self, reward: &Reward, at: Instant) -> Result<(), StoreError>;
    /// A CLAIMABLE reward's deadline passed
    /// ([`RewardTransition::Expired`](crate::domain::RewardTransition)): → EXPIRED, on
    /// condition that the deadline is at or before `now`. [`StoreError::Conflict`] otherwise.
    async fn expire_reward(&self, reward: &Reward, now: Instant) -> Result<(), StoreError>;
    /// An admin approved a HELD reward
    /// ([`RewardTransition::Approved`](crate::domain::RewardTransition)): → PENDING, with
    /// who and when. [`StoreError::Conflict`] unless HELD.
    async fn approve_reward(
        &self,
        reward: &RewardId,
        admin: &str,
        at: Instant,
    ) -> Result<(), StoreError>;
    /// An admin rejected a HELD reward
    /// ([`RewardTransition::Rejected`](crate::domain::RewardTransition)): → REJECTED with
    /// `reason`, who and when. [`StoreError::Conflict`] unless HELD.
    async fn reject_reward(
        &self,
        reward: &RewardId,
        reason: &ReasonCode,
        admin: &str,
        at: Instant,
    ) -> Result<(), StoreError>;
}

/// One item of a referrer's collection (GSI1 `SOURCE#<source>`), in key order: for each code,
/// the code, then each referee followed by that referee's rewards.
#[derive(Debug, Clone, PartialEq)]
pub enum CollectionEntry {
    Code(ReferralCodeRecord),
    Referee(Box<MemberProfile>),
    Reward(Box<Reward>),
}

/// A referrer's (or campaign source's) codes, referees and rewards.
#[async_trait]
pub trait Collections: Send + Sync {
    /// 1 Query on GSI1 per page. For both collections the page's `limit` counts referees (the
    /// codes and each referee's rewards come with them): a page never splits a referee from
    /// its rewards.
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

/// Unprocessable Kafka records, kept for a person.
#[async_trait]
pub trait Parking: Send + Sync {
    /// Keeps an unprocessable Kafka record (idempotent per coordinates). 1 PutItem.
    async fn park_record(&self, record: &ParkedRecord) -> Result<(), StoreError>;
    /// Parked records, oldest first. 1 Query on GSI2 per page.
    async fn parked_records(&self, page: PageRequest) -> Result<Page<ParkedRecord>, StoreError>;
}

/// The funnel counters (ADR 0008). The consumer's stages are written by
/// [`MemberBatches::save_member`] (they ride in the member's own write); this port holds the
/// code check's count and the reads.
#[async_trait]
pub trait FunnelCounts: Send + Sync {
    /// One valid code check of `code` (of `event`) on `day`: `checks_valid` + 1 on the
    /// event's and the code's counters of a random shard. 1 TransactWriteItems (2 ADD
    /// updates), retried a few times on a `TransactionConflict`.
    async fn count_valid_check(
        &self,
        event: &EventId,
        code: &ReferralCode,
        day: Day,
    ) -> Result<(), StoreError>;
    /// The counts of `scope` per day from `from` to `to` (inclusive), ascending, days
    /// without counts left out. `FUNNEL_SHARDS` Queries (`SK BETWEEN`), run concurrently and
    /// summed (more only past 1 MB per shard).
    async fn funnel_days(
        &self,
        scope: &FunnelScope,
        from: Day,
        to: Day,
    ) -> Result<Vec<(Day, StageCounts)>, StoreError>;
}

/// The request limiter shared by every Lambda instance.
#[async_trait]
pub trait RateLimits: Send + Sync {
    /// Counts one request of `subject` in the fixed window `bucket` (e.g. the minute) and
    /// answers whether it is within `limit`. 1 conditional UpdateItem (ADD); the counter item
    /// carries `expires_at` so DynamoDB's TTL removes it.
    async fn count_request(
        &self,
        subject: &str,
        bucket: &str,
        limit: u32,
        expires_at: Instant,
    ) -> Result<bool, StoreError>;
}

/// The share link's click counters (`keys::CLICK_SHARDS` shards per code and day; the days
/// are the event's, `LinkSettings::day_of`).
#[async_trait]
pub trait Clicks: Send + Sync {
    /// Counts one click of `code` (of `event`) on `day`: 1 UpdateItem (ADD clicks 1) on one
    /// shard picked at random, creating the day's counter with its first click. Nothing else
    /// is written, and nothing about the visitor.
    async fn count_click(
        &self,
        code: &ReferralCode,
        event: &EventId,
        day: Day,
    ) -> Result<(), StoreError>;
    /// Counts one visit of a well-formed code that does not exist (or whose event is gone) on
    /// `day`: 1 UpdateItem of one shard of the ONE unknown-codes counter
    /// (`items::UnknownClicks`), the same shape of write as [`Clicks::count_click`], so that a
    /// visitor cannot tell the two apart by their cost, and never an item per code.
    async fn count_unknown_click(&self, day: Day) -> Result<(), StoreError>;
    /// The unknown codes' visits per day over `from..=to`, summed over the shards
    /// (`CLICK_SHARDS` Queries, as [`Clicks::code_clicks`]).
    async fn unknown_clicks(&self, from: Day, to: Day) -> Result<BTreeMap<Day, u64>, StoreError>;
    /// `code`'s clicks per day over `from..=to` (days without clicks are absent), summed over
    /// its shards: `CLICK_SHARDS` Queries of the base table, concurrent (more only past 1 MB
    /// per shard, i.e. never for a range of years).
    async fn code_clicks(
        &self,
        code: &ReferralCode,
        from: Day,
        to: Day,
    ) -> Result<BTreeMap<Day, u64>, StoreError>;
    /// Every code of `event`: clicks per day over `from..=to`, summed over codes and shards:
    /// `CLICK_SHARDS` Queries on GSI2, concurrent, each paged (one item per code and day of
    /// its shard).
    async fn event_clicks(
        &self,
        event: &EventId,
        from: Day,
        to: Day,
    ) -> Result<BTreeMap<Day, u64>, StoreError>;
}

/// What the devkit and the tests use and no function does: unconditional writes of single
/// items (a function writes through the conditional operations above), and lookups only a test
/// needs.
#[async_trait]
pub trait Fixtures: Send + Sync {
    /// The reward content window active at `at` (start ≤ at < end). 1 Query, 1 item.
    async fn content_window_at(
        &self,
        event: &EventId,
        at: Instant,
    ) -> Result<Option<ContentWindow>, StoreError>;
    /// Creates or replaces an event's own item (its windows are separate items).
    async fn put_event(&self, event: &ReferralEvent) -> Result<(), StoreError>;
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
    /// Creates or replaces a member profile. 1 PutItem.
    async fn put_member(&self, member: &MemberProfile) -> Result<(), StoreError>;
    /// Creates a reward, counted in the funnel when it carries a funnel day (as a grant counts
    /// it); [`StoreError::Conflict`] if one exists for that referee and side.
    async fn create_reward(&self, reward: &Reward) -> Result<(), StoreError>;
}

/// Declares a trait that is the sum of some ports (a use case's view of the store), implemented
/// by everything that implements all of them: `port_sum!(pub trait AppStore: Codes + EventReads);`
macro_rules! port_sum {
    ($(#[$meta:meta])* $vis:vis trait $name:ident: $first:ident $(+ $port:ident)*;) => {
        $(#[$meta])*
        $vis trait $name: $first $(+ $port)* {}
        impl<T: $first $(+ $port)*> $name for T {}
    };
}
pub(crate) use port_sum;

port_sum!(
    /// Every port at once (for tools and tests that do everything). Functions use the narrow ones.
    pub trait ReferralStore: EventReads
        + EventWrites
        + WindowMarks
        + Codes
        + Profiles
        + MemberBatches
        + MemberGroups
        + RuleStates
        + RewardReads
        + RewardWrites
        + MemberRewards
        + Collections
        + Parking
        + RateLimits
        + Registrations
        + FunnelCounts
        + Clicks
        + Fixtures;
);
