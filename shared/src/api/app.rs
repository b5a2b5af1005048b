//! The app API (seed 3.2.3): check a code, the subtitle, the event detail and "my referral".
//! Every route acts for the calling member only ([`Member`], the `sub` claim).

use super::{
    ApiError, ApiJson, ApiQuery, Member, PageQuery, access_log, json_value_placeholders, ok,
    unknown_route, wrong_method,
};
use crate::config::{ConfigError, optional, required};
use crate::domain::{
    CopywritingItem, EventConfig, EventId, ReferralCode, ReferralSource, Reward, RewardStatus,
    RewardType, Side,
};
use crate::ingest::ConfigCache;
use crate::store::{CollectionEntry, ReferralStore};
use crate::time::Instant;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DurationRound, TimeDelta};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The routes of this API, as the OpenAPI document lists them (tested against each other).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/referralCode/check"),
    ("GET", "/v1/referral/subtitle"),
    ("GET", "/v1/referral/event"),
    ("GET", "/v1/referral/me"),
];

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

impl AppSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let personal = required("PERSONAL_EVENT_ID")?;
        Ok(Self {
            personal_event: EventId::parse(&personal).map_err(|e| ConfigError::Invalid {
                name: "PERSONAL_EVENT_ID",
                message: e.to_string(),
            })?,
            share_link_template: optional(
                "SHARE_LINK_TEMPLATE",
                "https://example.invalid/r/{code}".to_owned(),
            )?,
            check_limit_per_minute: optional("CHECK_LIMIT_PER_MINUTE", 30u32)?.max(1),
            config_cache_seconds: optional("CONFIG_CACHE_SECONDS", 60u64)?,
        })
    }
}

pub struct AppState {
    store: Arc<dyn ReferralStore>,
    cache: ConfigCache,
    settings: AppSettings,
}

/// The app router; `api::lambda::run` serves it in Lambda, the local gateway in development.
pub fn router(store: Arc<dyn ReferralStore>, settings: AppSettings) -> Router {
    let state = Arc::new(AppState {
        store,
        cache: ConfigCache::new(Duration::from_secs(settings.config_cache_seconds)),
        settings,
    });
    Router::new()
        .route("/v1/referralCode/check", post(check_code))
        .route("/v1/referral/subtitle", get(subtitle))
        .route("/v1/referral/event", get(event_detail))
        .route("/v1/referral/me", get(my_referral))
        .method_not_allowed_fallback(wrong_method)
        .fallback(unknown_route)
        .layer(axum::middleware::from_fn(access_log))
        .layer(DefaultBodyLimit::max(super::MAX_BODY_BYTES))
        .with_state(state)
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

fn copy(config: Option<&EventConfig>, item: CopywritingItem, at: Instant) -> serde_json::Value {
    config
        .and_then(|c| c.copywriting_at(item, at))
        .map(|c| c.content.value().clone())
        .unwrap_or(serde_json::Value::Null)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    code: String,
}

/// The same shape whatever the answer: nothing about the code's owner or event.
#[derive(Debug, Serialize)]
struct CheckResponse {
    valid: bool,
}

/// Longest input we look at; anything longer is a client bug, not a code.
const MAX_CODE_INPUT: usize = 64;

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

async fn subtitle(
    State(state): State<Arc<AppState>>,
    Member(_): Member,
) -> Result<Response, ApiError> {
    let config = state.personal_config().await?;
    let now = chrono::Utc::now();
    Ok(ok(serde_json::json!({
        "subtitle": copy(config.as_deref(), CopywritingItem::Subtitle, now),
    })))
}

#[derive(Debug, Serialize)]
struct Window {
    #[serde(with = "crate::time::millis")]
    start: Instant,
    #[serde(with = "crate::time::millis")]
    end: Instant,
}

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
    Ok(ok(serde_json::json!({
        "window": window,
        "share_message": copy(config, CopywritingItem::ShareMessage, now),
        "kyc_validation": copy(config, CopywritingItem::KycValidation, now),
        "event_detail": copy(config, CopywritingItem::EventDetail, now),
        "invite_steps": copy(config, CopywritingItem::InviteSteps, now),
    })))
}

/// One referee as the referrer sees them: no jkos id, phone masked, and only the referrer's
/// own reward for them (the referee's reward is the referee's business).
#[derive(Debug, Serialize)]
struct MyReferee {
    phone: Option<String>,
    code: Option<ReferralCode>,
    steps: Steps,
    reward: Option<MyReward>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Steps {
    #[serde(with = "crate::time::millis_opt")]
    pub code_used_at: Option<Instant>,
    #[serde(with = "crate::time::millis_opt")]
    pub kyc_passed_at: Option<Instant>,
    #[serde(with = "crate::time::millis_opt")]
    pub device_bound_at: Option<Instant>,
    #[serde(with = "crate::time::millis_opt")]
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

#[derive(Debug, Serialize)]
struct MyReward {
    reward_type: RewardType,
    amount: crate::domain::RewardAmount,
    status: RewardStatus,
    #[serde(with = "crate::time::millis_opt")]
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

#[derive(Debug, Serialize)]
struct MyReferral {
    /// The member's own code; present once they are a referrer (on the first page, or on any
    /// page with referees).
    code: Option<ReferralCode>,
    share_link: Option<String>,
    share_message: serde_json::Value,
    reminder_message: serde_json::Value,
    referees: Vec<MyReferee>,
    next_cursor: Option<String>,
}

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
    let mut referees: Vec<MyReferee> = Vec::new();
    for entry in &page.items {
        match entry {
            CollectionEntry::Code(record) => {
                code.get_or_insert_with(|| record.code.clone());
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
            CollectionEntry::Reward(reward) if reward.side == Side::Referrer => {
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
    Ok(ok(MyReferral {
        code,
        share_link,
        share_message,
        reminder_message: copy(config.as_deref(), CopywritingItem::ReminderMessage, now),
        referees,
        next_cursor: page.next.map(|c| c.token().to_owned()),
    }))
}

/// The Lambda entry point of the app API.
pub async fn serve() -> Result<(), lambda_http::Error> {
    crate::telemetry::init_tracing();
    let store = crate::config::dynamo_store_from_env().await?;
    let router = router(Arc::new(store), AppSettings::from_env()?);
    super::lambda::run("app-api", router).await
}
