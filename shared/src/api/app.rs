//! The app API (seed 3.2.3): check a code, the subtitle, the event detail, "my referral",
//! "my rewards" and the claim of a CLAIMABLE reward. Every route acts for the calling member
//! only ([`Member`], the `sub` claim).

use super::openapi::{
    BadRequest, Conflict, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable,
};
use super::{ApiError, ApiJson, ApiQuery, Listing, Member, PageQuery, json_value_placeholders, ok};
use crate::domain::{
    ClaimStep, CopywritingItem, EventConfig, EventId, JkosId, ReasonCode, ReferralCode,
    ReferralSource, Reward, RewardId, RewardStatus, RewardType, Side,
};
use crate::events_cache::ConfigCache;
use crate::queue::PayoutQueue;
use crate::store::{
    Clicks, Codes, CollectionEntry, Collections, EventReads, MemberRewards, RateLimits,
    RewardReads, RewardWrites, StoreError,
};

use crate::time::Instant;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DurationRound, TimeDelta};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

crate::store::port_sum!(
    /// What the app API reads and writes: codes, campaign configuration, a member's collection,
    /// the shared request limiter, the member's own rewards (read, claim, late expiry) and
    /// their code's share-link clicks.
    pub trait AppStore: Codes
        + EventReads
        + Clicks
        + Collections
        + RateLimits
        + RewardReads
        + RewardWrites
        + MemberRewards;
);

/// Read from the environment by [`crate::config::AppApiConfig`].
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// `PERSONAL_EVENT_ID`: the event of members' own codes (subtitle, detail, share copy).
    pub personal_event: EventId,
    /// `SHARE_LINK_TEMPLATE`: the share link, `{code}` replaced by the member's code.
    pub share_link_template: String,
    /// `CHECK_LIMIT_PER_MINUTE` (default 30): code checks one member may make per minute.
    pub check_limit_per_minute: u32,
    /// `CONFIG_CACHE_SECONDS` (default 60): how stale a cached event configuration may be.
    pub config_cache_seconds: u64,
}

pub struct AppState {
    store: Arc<dyn AppStore>,
    /// Where a claimed reward is queued for payout.
    queue: Arc<dyn PayoutQueue>,
    cache: ConfigCache,
    settings: AppSettings,
}

/// The app router; `api::lambda::HttpFunction` serves it in Lambda, the local gateway in development.
pub fn router(
    store: Arc<dyn AppStore>,
    queue: Arc<dyn PayoutQueue>,
    settings: AppSettings,
) -> Router {
    let state = Arc::new(AppState {
        store,
        queue,
        cache: ConfigCache::new(Duration::from_secs(settings.config_cache_seconds)),
        settings,
    });
    super::api_router(routes(), state)
}

/// The routes of this API, for the tests that walk every route (checked against the derived
/// OpenAPI document, whose paths come from the same registration as the router's).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/referralCode/check"),
    ("GET", "/v1/referral/subtitle"),
    ("GET", "/v1/referral/event"),
    ("GET", "/v1/referral/me"),
    ("GET", "/v1/referral/rewards"),
    ("POST", "/v1/referral/rewards/{reward_id}/claim"),
];

/// The routes with their documentation: the router and the OpenAPI paths come from here.
fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::default()
        .routes(routes!(check_code))
        .routes(routes!(subtitle))
        .routes(routes!(event_detail))
        .routes(routes!(my_referral))
        .routes(routes!(my_rewards))
        .routes(routes!(claim_reward))
}

/// This API's part of the OpenAPI document.
pub(super) fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

impl AppState {
    async fn personal_config(&self) -> Result<Option<Arc<EventConfig>>, ApiError> {
        self.config_of(&self.settings.personal_event).await
    }

    async fn config_of(&self, event: &EventId) -> Result<Option<Arc<EventConfig>>, ApiError> {
        let mut found = self
            .cache
            .get_many(self.store.as_ref(), std::slice::from_ref(event))
            .await?;
        Ok(found.remove(event))
    }
}

impl AppState {
    /// A code's clicks from its creation day to today, days in its event's time zone (UTC if
    /// the event is gone): `CLICK_SHARDS` concurrent Queries (configuration cached).
    async fn clicks_of(
        &self,
        record: &crate::domain::ReferralCodeRecord,
        now: Instant,
    ) -> Result<MyClicks, ApiError> {
        let links = self
            .config_of(&record.event_id)
            .await?
            .map(|c| c.links.clone())
            .unwrap_or_default();
        let today = links.day_of(now);
        let from = links.day_of(record.created_at).min(today);
        let days = self.store.code_clicks(&record.code, from, today).await?;
        Ok(MyClicks {
            total: days.values().sum(),
            today: days.get(&today).copied().unwrap_or(0),
            day: today.key(),
        })
    }
}

fn copy(config: Option<&EventConfig>, item: CopywritingItem, at: Instant) -> serde_json::Value {
    config
        .and_then(|c| c.copywriting_at(item, at))
        .map(|c| c.content.value().clone())
        .unwrap_or(serde_json::Value::Null)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    /// What the member typed; any string up to 64 characters is answered (a malformed code
    /// is simply not valid).
    #[schema(max_length = 64, examples("SHARE888"))]
    code: String,
}

/// The same shape whatever the answer: nothing about the code's owner or event.
#[derive(Debug, Serialize, ToSchema)]
struct CheckResponse {
    valid: bool,
}

/// Longest input we look at; anything longer is a client bug, not a code.
const MAX_CODE_INPUT: usize = 64;

/// Is this code usable now?
///
/// The code exists, its event has a reward window active now, and it is not the caller's own
/// code. The answer has the same shape either way and never names the owner. Limited per
/// member (CHECK_LIMIT_PER_MINUTE, default 30 per minute, counted in DynamoDB): 429 beyond.
#[utoipa::path(
    post,
    path = "/v1/referralCode/check",
    tag = "app",
    security(("jwt" = [])),
    request_body = CheckRequest,
    responses(
        (status = 200, description = "the answer", body = CheckResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
async fn check_code(
    State(state): State<Arc<AppState>>,
    Member(member): Member,
    ApiJson(body): ApiJson<CheckRequest>,
) -> Result<Response, ApiError> {
    if body.code.chars().count() > MAX_CODE_INPUT {
        return Err(ApiError::invalid(
            "code",
            format!("must be at most {MAX_CODE_INPUT} characters"),
        ));
    }
    let now = chrono::Utc::now();
    let minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    let allowed = state
        .store
        .count_request(
            &format!("check#{member}"),
            &minute.format("%Y-%m-%dT%H:%M").to_string(),
            state.settings.check_limit_per_minute,
            minute + TimeDelta::hours(1),
        )
        .await?;
    if !allowed {
        let retry_after = (minute + TimeDelta::minutes(1) - now).num_seconds().max(1) as u64;
        tracing::info!(retry_after, "code check limited");
        return Err(ApiError::TooManyRequests { retry_after });
    }
    let valid = match ReferralCode::parse(&body.code) {
        Err(_) => false,
        Ok(code) => match state.store.get_code(&code).await? {
            None => false,
            // A member cannot use their own code (the consumer would reject it too).
            Some(record) if record.source == ReferralSource::from(&member) => false,
            Some(record) => state
                .config_of(&record.event_id)
                .await?
                .is_some_and(|c| c.content_at(now).is_some()),
        },
    };
    Ok(ok(CheckResponse { valid }))
}

/// A copywriting's JSON content as configured, or null when none is active now.
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Value)]
struct CopyValue(serde_json::Value);

#[derive(Debug, Serialize, ToSchema)]
struct Subtitle {
    subtitle: CopyValue,
}

/// The SUBTITLE copy of the PERSONAL event active now.
#[utoipa::path(
    get,
    path = "/v1/referral/subtitle",
    tag = "app",
    security(("jwt" = [])),
    responses(
        (status = 200, description = "the copy (its JSON content as configured), or null", body = Subtitle),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn subtitle(
    State(state): State<Arc<AppState>>,
    Member(_): Member,
) -> Result<Response, ApiError> {
    let config = state.personal_config().await?;
    let now = chrono::Utc::now();
    Ok(ok(Subtitle {
        subtitle: CopyValue(copy(config.as_deref(), CopywritingItem::Subtitle, now)),
    }))
}

/// The reward window active now: `[start, end)`.
#[derive(Debug, Serialize, ToSchema)]
struct Window {
    #[serde(with = "crate::time::millis")]
    #[schema(schema_with = crate::domain::schema::instant)]
    start: Instant,
    #[serde(with = "crate::time::millis")]
    #[schema(schema_with = crate::domain::schema::instant)]
    end: Instant,
}

#[derive(Debug, Serialize, ToSchema)]
struct EventDetail {
    /// Null when no reward window is active now.
    #[schema(required = true)]
    window: Option<Window>,
    share_message: CopyValue,
    kyc_validation: CopyValue,
    event_detail: CopyValue,
    invite_steps: CopyValue,
}

/// Event detail of the PERSONAL event: copy active now and the active reward window.
#[utoipa::path(
    get,
    path = "/v1/referral/event",
    tag = "app",
    security(("jwt" = [])),
    responses(
        (status = 200, description = "copy active now (nulls when none)", body = EventDetail),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn event_detail(
    State(state): State<Arc<AppState>>,
    Member(_): Member,
) -> Result<Response, ApiError> {
    let config = state.personal_config().await?;
    let config = config.as_deref();
    let now = chrono::Utc::now();
    let window = config.and_then(|c| c.content_at(now)).map(|c| Window {
        start: c.window.start(),
        end: c.window.end(),
    });
    Ok(ok(EventDetail {
        window,
        share_message: CopyValue(copy(config, CopywritingItem::ShareMessage, now)),
        kyc_validation: CopyValue(copy(config, CopywritingItem::KycValidation, now)),
        event_detail: CopyValue(copy(config, CopywritingItem::EventDetail, now)),
        invite_steps: CopyValue(copy(config, CopywritingItem::InviteSteps, now)),
    }))
}

/// One referee as the referrer sees them: no jkos id, phone masked, and only the referrer's
/// own reward for them (the referee's reward is the referee's business).
#[derive(Debug, Serialize, ToSchema)]
struct MyReferee {
    /// Masked: `0912***678`.
    #[schema(required = true, examples("0912***678"))]
    phone: Option<String>,
    #[schema(required = true)]
    code: Option<ReferralCode>,
    steps: Steps,
    /// The caller's own (REFERRER side) reward for this referee.
    #[schema(required = true)]
    reward: Option<MyReward>,
}

/// When the referee reached each step (null: not yet).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Steps {
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    pub code_used_at: Option<Instant>,
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    pub kyc_passed_at: Option<Instant>,
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    pub device_bound_at: Option<Instant>,
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    pub qualified_at: Option<Instant>,
}

impl Steps {
    pub(crate) fn of(member: &crate::domain::MemberProfile) -> Self {
        Steps {
            code_used_at: member.referral.as_ref().map(|r| r.used_at),
            kyc_passed_at: member.kyc_pass_time,
            device_bound_at: member.device_bind_time,
            qualified_at: member.qualified_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct MyReward {
    reward_type: RewardType,
    amount: crate::domain::RewardAmount,
    status: RewardStatus,
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    paid_at: Option<Instant>,
}

impl From<&Reward> for MyReward {
    fn from(r: &Reward) -> Self {
        MyReward {
            reward_type: r.terms.reward_type,
            amount: r.terms.amount,
            status: r.status,
            paid_at: r.paid_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct MyReferral {
    /// The member's own code; present once they are a referrer (on the first page, or on any
    /// page with referees).
    #[schema(required = true)]
    code: Option<ReferralCode>,
    #[schema(required = true)]
    share_link: Option<String>,
    /// The SHARE_MESSAGE copy with `{code}` and `{link}` filled; null until the member has a
    /// code.
    #[schema(value_type = Value)]
    share_message: serde_json::Value,
    #[schema(value_type = Value)]
    reminder_message: serde_json::Value,
    /// My code's share-link clicks; on the first page only (null on the next pages, and
    /// until the member has a code).
    #[schema(required = true)]
    clicks: Option<MyClicks>,
    referees: Vec<MyReferee>,
    /// The cursor of the next page; null on the last one.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// The clicks on my share link (visits of `/r/{code}` by people; link previews and HEAD are
/// not counted).
#[derive(Debug, Serialize, ToSchema)]
struct MyClicks {
    /// Every click since the code was created.
    total: u64,
    /// Today's clicks, today being the calendar day in the code's event time zone.
    today: u64,
    /// That day, `YYYY-MM-DD`.
    #[schema(value_type = String, example = "2026-11-22")]
    day: String,
}

/// My code, share link and message, reminder, my code's clicks, and my referees' progress.
///
/// One DynamoDB Query page of the caller's collection per request; `limit` counts referees.
/// The first page also reads the code's clicks (one Query per click shard, concurrent).
#[utoipa::path(
    get,
    path = "/v1/referral/me",
    tag = "app",
    security(("jwt" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "one page of referees", body = MyReferral),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn my_referral(
    State(state): State<Arc<AppState>>,
    Member(member): Member,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    // The collection's page limit counts referees.
    let request = query.to_request()?;
    let first_page = request.cursor.is_none();
    let page = state
        .store
        .referrer_collection(&ReferralSource::from(&member), request)
        .await?;
    let config = state.personal_config().await?;
    let now = chrono::Utc::now();

    let mut code = None;
    let mut code_record = None;
    let mut referees: Vec<MyReferee> = Vec::new();
    for entry in &page.items {
        match entry {
            CollectionEntry::Code(record) => {
                code.get_or_insert_with(|| record.code.clone());
                code_record.get_or_insert(record);
            }
            CollectionEntry::Referee(profile) => {
                let used = profile.referral.as_ref().map(|r| r.code.clone());
                if code.is_none() {
                    code.clone_from(&used);
                }
                referees.push(MyReferee {
                    phone: profile.phone_number.as_ref().map(|p| p.masked()),
                    code: used,
                    steps: Steps::of(profile),
                    reward: None,
                });
            }
            // The referee's own referrer reward; a milestone bonus that referee reached is
            // listed after it and is not that referee's reward.
            CollectionEntry::Reward(reward)
                if reward.side == Side::Referrer && reward.reward_id.milestone_rank().is_none() =>
            {
                // Rewards follow their referee in the collection (pages never split them).
                if let Some(last) = referees.last_mut() {
                    last.reward = Some(MyReward::from(reward.as_ref()));
                }
            }
            CollectionEntry::Reward(_) => {}
        }
    }
    let share_link = code.as_ref().map(|c| {
        state
            .settings
            .share_link_template
            .replace("{code}", c.as_str())
    });
    let share_message = match (&code, &share_link) {
        (Some(c), Some(link)) => {
            let raw = copy(config.as_deref(), CopywritingItem::ShareMessage, now);
            json_value_placeholders(&raw, &|s: &str| {
                s.replace("{code}", c.as_str()).replace("{link}", link)
            })
        }
        _ => serde_json::Value::Null,
    };
    let clicks = match code_record.filter(|_| first_page) {
        Some(record) => Some(state.clicks_of(record, now).await?),
        None => None,
    };
    Ok(ok(MyReferral {
        code,
        share_link,
        share_message,
        reminder_message: copy(config.as_deref(), CopywritingItem::ReminderMessage, now),
        clicks,
        referees,
        next_cursor: page.next.map(|c| c.token().to_owned()),
    }))
}

/// One of my rewards, as referrer (for a referee I invited) or as referee (for joining).
#[derive(Debug, Serialize, ToSchema)]
struct MyRewardRow {
    reward_id: RewardId,
    /// REFERRER: for a referee I invited; REFEREE: for joining with a code.
    side: Side,
    event_id: EventId,
    reward_type: RewardType,
    amount: crate::domain::RewardAmount,
    /// PENDING (queued for payout), SUCCESS (paid), FAIL, HELD (in review), CLAIMABLE (claim
    /// it before `claim_deadline`), REJECTED or EXPIRED.
    status: RewardStatus,
    /// Why it is HELD or REJECTED (a code such as REVIEW_VELOCITY); null otherwise.
    #[schema(required = true)]
    reason: Option<ReasonCode>,
    /// Whether a claim would be accepted now (CLAIMABLE and before its deadline).
    claimable_now: bool,
    /// The claim must come before this instant (CLAIMABLE rewards; kept after the claim).
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    claim_deadline: Option<Instant>,
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    claimed_at: Option<Instant>,
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    paid_at: Option<Instant>,
    /// The referee's phone, masked (`0912***678`), on a REFERRER reward; null on my own
    /// REFEREE reward.
    #[schema(required = true, examples("0912***678"))]
    referee_phone: Option<String>,
    #[serde(with = "crate::time::millis")]
    #[schema(schema_with = crate::domain::schema::instant)]
    created_at: Instant,
}

impl MyRewardRow {
    fn of(r: &Reward, now: Instant) -> Self {
        MyRewardRow {
            reward_id: r.reward_id.clone(),
            side: r.side,
            event_id: r.event_id.clone(),
            reward_type: r.terms.reward_type,
            amount: r.terms.amount,
            status: r.status,
            reason: r.reason.clone(),
            claimable_now: r.on_claim(now) == ClaimStep::Claim,
            claim_deadline: r.claim_deadline,
            claimed_at: r.claimed_at,
            paid_at: r.paid_at,
            // Stored masked already; the referee's own number is not repeated to them.
            referee_phone: match r.side {
                Side::Referrer => r.referee_phone_masked.clone(),
                Side::Referee => None,
            },
            created_at: r.created_at,
        }
    }
}

/// My rewards, as referrer and as referee, oldest first.
///
/// One DynamoDB Query page of the caller's own rewards (by the `sub` claim; nobody else's
/// reward can be listed, and a cursor of another listing is refused with 400).
#[utoipa::path(
    get,
    path = "/v1/referral/rewards",
    tag = "app",
    security(("jwt" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "one page of my rewards", body = Listing<MyRewardRow>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn my_rewards(
    State(state): State<Arc<AppState>>,
    Member(member): Member,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let page = state
        .store
        .member_rewards(&member, query.to_request()?)
        .await?;
    let now = chrono::Utc::now();
    let rows = page
        .items
        .iter()
        // The index is keyed by the payee; the filter states it once more.
        .filter(|r| r.member_jkos_id == member)
        .map(|r| MyRewardRow::of(r, now))
        .collect();
    Ok(ok(Listing::new(rows, page.next)))
}

/// The answer to a claim, the same however many times it is repeated.
#[derive(Debug, Serialize, ToSchema)]
struct Claimed {
    reward_id: RewardId,
    /// PENDING (queued for payout), or SUCCESS / FAIL when a repeated claim comes after the
    /// payout.
    status: RewardStatus,
    #[serde(with = "crate::time::millis")]
    #[schema(schema_with = crate::domain::schema::instant)]
    claimed_at: Instant,
}

/// My reward named `reward_id`, read once (strongly consistent); another member's reward is
/// answered exactly like a missing one.
async fn my_reward(
    state: &AppState,
    member: &JkosId,
    reward_id: &RewardId,
) -> Result<Reward, ApiError> {
    state
        .store
        .get_reward(reward_id)
        .await?
        .filter(|r| &r.member_jkos_id == member)
        .ok_or(ApiError::NotFound { what: "reward" })
}

/// Claim one of my CLAIMABLE rewards: it is queued for payout.
///
/// CLAIMABLE → PENDING before the claim deadline (exclusive), then one payout message.
/// Idempotent: a reward claimed before gets the same 202 (re-queued while still PENDING; it
/// is paid once whatever the number of messages). 409 `claim_expired` from the deadline on,
/// 409 `not_claimable` for a reward that never needed a claim; another member's reward is 404,
/// like a missing one. The status moves first, so if the enqueue fails (503) a repeated claim
/// (or the sweeper, within its period) queues it.
#[utoipa::path(
    post,
    path = "/v1/referral/rewards/{reward_id}/claim",
    tag = "app",
    security(("jwt" = [])),
    params(("reward_id" = RewardId, Path)),
    responses(
        (status = 202, description = "claimed and queued for payout", body = Claimed),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable),
    )
)]
async fn claim_reward(
    State(state): State<Arc<AppState>>,
    Member(member): Member,
    axum::extract::Path(reward_id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let reward_id = RewardId::parse(&reward_id)?;
    let now = chrono::Utc::now();
    let mut reward = my_reward(&state, &member, &reward_id).await?;
    // At most two rounds: a lost race (a concurrent claim, or the sweeper's expiry) is read
    // again and answered from what won.
    for round in 0..2 {
        let (queue, claimed_at) = match reward.on_claim(now) {
            ClaimStep::Claim => match state.store.claim_reward(&reward, now).await {
                Ok(()) => (true, now),
                Err(StoreError::Conflict { .. }) if round == 0 => {
                    reward = my_reward(&state, &member, &reward_id).await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            },
            ClaimStep::AlreadyClaimed { queue_again } => {
                (queue_again, reward.claimed_at.unwrap_or(now))
            }
            ClaimStep::TooLate { expire } => {
                if expire {
                    // Recorded now rather than at the next sweep; a conflict means it is
                    // recorded already.
                    match state.store.expire_reward(&reward, now).await {
                        Ok(()) | Err(StoreError::Conflict { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                return Err(ApiError::Conflict {
                    code: "claim_expired",
                    message: format!("reward {reward_id}: its claim deadline has passed"),
                });
            }
            ClaimStep::NotClaimable => {
                return Err(ApiError::Conflict {
                    code: "not_claimable",
                    message: format!(
                        "reward {reward_id} is {}; it cannot be claimed",
                        reward.status.as_str()
                    ),
                });
            }
        };
        if queue {
            if let Err(e) = state.queue.enqueue(std::slice::from_ref(&reward_id)).await {
                tracing::warn!(reward = %reward_id, error = %e, "claim not queued; a repeated claim or the sweeper will");
                return Err(ApiError::Unavailable);
            }
            tracing::info!(reward = %reward_id, "reward claimed and queued");
        }
        let status = if queue {
            RewardStatus::Pending
        } else {
            reward.status
        };
        return Ok((
            axum::http::StatusCode::ACCEPTED,
            axum::Json(Claimed {
                reward_id,
                status,
                claimed_at,
            }),
        )
            .into_response());
    }
    // Two lost races in a row: the reward keeps changing under the claim.
    Err(ApiError::Conflict {
        code: "claim_contended",
        message: format!("reward {reward_id} changed during the claim; try again"),
    })
}
