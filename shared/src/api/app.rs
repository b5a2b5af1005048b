//! The app API (seed 3.2.3): check a code, the subtitle, the event detail, "my referral",
//! "my rewards" and the claim of a CLAIMABLE reward. Every route acts for the calling member
//! only ([`Member`], the `sub` claim).

use super::funnel::FunnelTotals;
use super::openapi::{
    BadRequest, Conflict, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable,
};
use super::{ApiError, ApiJson, ApiQuery, Listing, Member, PageQuery, json_value_placeholders, ok};
use crate::domain::{
    Checklist, ChecklistInput, ChecklistView, ClaimStep, CopywritingItem, Day, EventConfig,
    EventId, FunnelScope, JkosId, MemberProfile, ReasonCode, ReferralCode, ReferralSource, Reward,
    RewardId, RewardStatus, RewardType, Side,
};
use crate::events_cache::ConfigCache;
use crate::queue::PayoutQueue;
use crate::store::{
    Clicks, Codes, CollectionEntry, Collections, EventReads, FunnelCounts, MemberRewards,
    RateLimits, Registrations, RewardReads, RewardWrites, StoreError,
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
    /// their own registration (the checklist), their code's share-link clicks and funnel.
    pub trait AppStore: Codes
        + EventReads
        + Clicks
        + Collections
        + RateLimits
        + RewardReads
        + RewardWrites
        + MemberRewards
        + Registrations
        + FunnelCounts;
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
    ("GET", "/v1/referral/me/registration"),
    ("GET", "/v1/referral/me/funnel"),
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
        .routes(routes!(my_registration))
        .routes(routes!(my_funnel))
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
    ) -> Result<CodeClicks, ApiError> {
        let links = self
            .config_of(&record.event_id)
            .await?
            .map(|c| c.links.clone())
            .unwrap_or_default();
        let today = links.day_of(now);
        let from = links.day_of(record.created_at).min(today);
        let days = self.store.code_clicks(&record.code, from, today).await?;
        Ok(CodeClicks {
            summary: MyClicks {
                total: days.values().sum(),
                today: days.get(&today).copied().unwrap_or(0),
                day: today.key(),
            },
            per_day: days,
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
/// A valid answer is counted in the funnel of the code and its event (`checks_valid`).
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
        Err(_) => None,
        Ok(code) => match state.store.get_code(&code).await? {
            None => None,
            // A member cannot use their own code (the consumer would reject it too).
            Some(record) if record.source == ReferralSource::from(&member) => None,
            Some(record) => state
                .config_of(&record.event_id)
                .await?
                .filter(|c| c.content_at(now).is_some())
                .map(|c| (record, c.links.day_of(now))),
        },
    };
    if let Some((record, day)) = &valid {
        // The answer does not wait on the count: a count DynamoDB could not take is a log
        // line and a metric (the check stage may then fall short by that many).
        if let Err(e) = state
            .store
            .count_valid_check(&record.event_id, &record.code, *day)
            .await
        {
            tracing::warn!(error = %e, "a valid code check was not counted in the funnel");
            crate::telemetry::emit(&crate::telemetry::emf(
                &crate::telemetry::namespace(),
                &[("Function", "app-api")],
                &[("UncountedChecks", 1)],
                now,
            ));
        }
    }
    Ok(ok(CheckResponse {
        valid: valid.is_some(),
    }))
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
    /// Why this referee did or did not bring me a reward, step by step (docs/checklist.md):
    /// their code, KYC, device, qualification and my (REFERRER side) reward; never the
    /// referee's own reward.
    checklist: Checklist,
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
    referees: Vec<MyReferee>,
    /// The cursor of the next page; null on the last one.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// A code's clicks since it was created: per day, and summed for the member.
struct CodeClicks {
    summary: MyClicks,
    per_day: std::collections::BTreeMap<Day, u64>,
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
/// My code's clicks and funnel are `GET /v1/referral/me/funnel`: this overview stays one Query
/// (DESIGN.md's budget), the screen that shows them asks for them.
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
    let page = state
        .store
        .referrer_collection(&ReferralSource::from(&member), request)
        .await?;
    let config = state.personal_config().await?;
    let now = chrono::Utc::now();

    let mut code = None;
    // Each referee with their two rewards, as the page holds them (no other read).
    let mut found: Vec<(&MemberProfile, Option<&Reward>, Option<&Reward>)> = Vec::new();
    for entry in &page.items {
        match entry {
            CollectionEntry::Code(record) => {
                code.get_or_insert_with(|| record.code.clone());
            }
            CollectionEntry::Referee(profile) => {
                if code.is_none() {
                    code = profile.referral.as_ref().map(|r| r.code.clone());
                }
                found.push((profile.as_ref(), None, None));
            }
            // A milestone bonus that referee reached is listed after their rewards and is
            // not one of them.
            CollectionEntry::Reward(reward) if reward.reward_id.milestone_rank().is_none() => {
                // Rewards follow their referee in the collection (pages never split them).
                if let Some((profile, referee, referrer)) = found.last_mut()
                    && reward.referee_account_id == profile.account_id
                {
                    match reward.side {
                        Side::Referee => *referee = Some(reward.as_ref()),
                        Side::Referrer => *referrer = Some(reward.as_ref()),
                    }
                }
            }
            CollectionEntry::Reward(_) => {}
        }
    }
    let referees = found
        .into_iter()
        .map(|(profile, referee_reward, referrer_reward)| {
            let input = ChecklistInput {
                profile,
                referee_reward,
                referrer_reward,
                // Members' codes are the PERSONAL event's, whose configuration is at hand;
                // another event's deadline is not looked up (no extra read).
                qualification_days: qualification_days(config.as_deref(), profile),
            };
            MyReferee {
                phone: profile.phone_number.as_ref().map(|p| p.masked()),
                code: profile.referral.as_ref().map(|r| r.code.clone()),
                steps: Steps::of(profile),
                reward: referrer_reward.map(MyReward::from),
                checklist: Checklist::seen_by(input, now, ChecklistView::Referrer),
            }
        })
        .collect();
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
    Ok(ok(MyReferral {
        code,
        share_link,
        share_message,
        reminder_message: copy(config.as_deref(), CopywritingItem::ReminderMessage, now),
        referees,
        next_cursor: page.next.map(|c| c.token().to_owned()),
    }))
}

/// My code's share-link clicks and my referees' funnel.
#[derive(Debug, Serialize, ToSchema)]
struct MyFunnel {
    /// My code; null until I qualified (then everything else is null too).
    #[schema(required = true)]
    code: Option<ReferralCode>,
    /// My share link's clicks, in total and today.
    #[schema(required = true)]
    clicks: Option<MyClicks>,
    /// My code's funnel over all days, from the clicks to my referees' rewards: every
    /// stage's total and the conversion rates (as the admin's code funnel), without the
    /// statuses of my referees' own rewards (theirs, not mine).
    #[schema(required = true)]
    funnel: Option<FunnelTotals>,
}

/// My code's clicks and my referees' funnel.
///
/// The screen behind "how is my code doing": 1 Query of my collection's first item (my code,
/// GSI1), then my code's funnel counters (16 Queries) and clicks (8 Queries), concurrently. Kept
/// out of `/v1/referral/me`, whose overview stays one Query (DESIGN.md).
#[utoipa::path(
    get,
    path = "/v1/referral/me/funnel",
    tag = "app",
    security(("jwt" = [])),
    responses(
        (status = 200, description = "my code's clicks and funnel (nulls until I have a code)", body = MyFunnel),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
async fn my_funnel(
    State(state): State<Arc<AppState>>,
    Member(member): Member,
) -> Result<Response, ApiError> {
    // My code sorts first in my collection (`CODE#<code>#`, before my referees).
    let page = state
        .store
        .referrer_collection(
            &ReferralSource::from(&member),
            crate::store::PageRequest::first(1),
        )
        .await?;
    let record = page.items.into_iter().find_map(|entry| match entry {
        CollectionEntry::Code(record) => Some(record),
        _ => None,
    });
    let Some(record) = record else {
        return Ok(ok(MyFunnel {
            code: None,
            clicks: None,
            funnel: None,
        }));
    };
    let now = chrono::Utc::now();
    let scope = FunnelScope::Code(record.event_id.clone(), record.code.clone());
    let (clicks, days) = futures::try_join!(state.clicks_of(&record, now), async {
        Ok::<_, ApiError>(
            state
                .store
                .funnel_days(&scope, Day::FIRST, Day::LAST)
                .await?,
        )
    },)?;
    let per_day = crate::api::funnel::with_clicks(days, clicks.per_day.clone());
    let mut funnel = FunnelTotals::of(per_day.iter().map(|(_, counts)| counts));
    // My referees' own rewards are theirs (the checklist does not show them to me either):
    // their statuses stay out; the main line's last rate (qualified → rewarded) stays.
    funnel
        .total
        .retain(|stage, _| !stage.starts_with("rewards_REFEREE_"));
    Ok(ok(MyFunnel {
        code: Some(record.code.clone()),
        funnel: Some(funnel),
        clicks: Some(clicks.summary),
    }))
}

/// My own registration: the code I used and each step towards my reward.
#[derive(Debug, Serialize, ToSchema)]
struct MyRegistration {
    /// The code I registered with; null: none.
    #[schema(required = true)]
    code: Option<ReferralCode>,
    /// My own (REFEREE side) reward, when it exists.
    #[schema(required = true)]
    reward: Option<MyReward>,
    /// Code, KYC, device, qualification and my reward (docs/checklist.md); never my
    /// referrer's reward, which is theirs.
    checklist: Checklist,
}

/// My own registration's checklist: why I was (not yet) rewarded for joining with a code.
///
/// Identity comes from the token only (`sub`); no parameter names a member. One DynamoDB
/// Query (GSI3, my profile and my first reward; +1 GetItem in the rare case my reward is not
/// that one), the event configuration cached. 404 until the service has a profile of mine.
#[utoipa::path(
    get,
    path = "/v1/referral/me/registration",
    tag = "app",
    security(("jwt" = [])),
    responses(
        (status = 200, description = "my checklist", body = MyRegistration),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn my_registration(
    State(state): State<Arc<AppState>>,
    Member(member): Member,
) -> Result<Response, ApiError> {
    let found = state
        .store
        .my_registration(&member)
        .await?
        // The index is keyed by the jkos id; the filter states it once more.
        .filter(|r| r.profile.jkos_id == member)
        .ok_or(ApiError::NotFound {
            what: "registration",
        })?;
    let profile = &found.profile;
    let config = match profile.accepted_referral() {
        Some((_, event, _)) => state.config_of(event).await?,
        None => None,
    };
    let referee_reward = found
        .referee_reward
        .as_ref()
        .filter(|r| r.member_jkos_id == member);
    let input = ChecklistInput {
        profile,
        referee_reward,
        referrer_reward: None,
        qualification_days: qualification_days(config.as_deref(), profile),
    };
    let now = chrono::Utc::now();
    Ok(ok(MyRegistration {
        code: profile.referral.as_ref().map(|r| r.code.clone()),
        reward: referee_reward.map(MyReward::from),
        checklist: Checklist::seen_by(input, now, ChecklistView::Referee),
    }))
}

/// The qualification days of `referee`'s code's event, when `config` is that event's.
fn qualification_days(config: Option<&EventConfig>, referee: &MemberProfile) -> Option<u32> {
    let (_, event, _) = referee.accepted_referral()?;
    config
        .filter(|c| &c.event.event_id == event)
        .and_then(|c| c.rules.qualification_days)
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
