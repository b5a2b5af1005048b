//! The admin API (micro-admin web): events with their windows, campaign codes, overview and
//! statistics per referrer and per code, rewards by status and the retry of FAIL rewards.
//! Every handler takes [`Admin`], so a token without the `referral.admin` scope gets 403.

use super::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, PreconditionFailed,
    PreconditionRequired, Unauthorized, Unavailable,
};
use super::{
    Admin, ApiError, ApiJson, ApiQuery, Listing, PageQuery, access_log, app::Steps, ok,
    unknown_route, wrong_method,
};
use crate::domain::{
    CampaignSource, ContentWindow, Copywriting, EventConfig, EventId, EventName, EventType,
    MemberProfile, NotificationTemplate, ReferralCode, ReferralCodeRecord, ReferralEvent,
    ReferralSource, Reward, RewardId, RewardStatus, RewardType,
};
use crate::queue::PayoutQueue;
use crate::store::{
    Codes, CollectionEntry, Collections, EventReads, EventWrites, Page, PageRequest, RewardReads,
    RewardWrites, StoreError, create_unique_code,
};
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub struct AdminState {
    store: Arc<dyn AdminStore>,
    queue: Arc<dyn PayoutQueue>,
}

/// What the admin API reads and writes: campaigns, codes, rewards (read, reopen) and
/// collections.
pub trait AdminStore:
    EventReads + EventWrites + Codes + RewardReads + RewardWrites + Collections
{
}
impl<T> AdminStore for T where
    T: EventReads + EventWrites + Codes + RewardReads + RewardWrites + Collections
{
}

pub fn router(store: Arc<dyn AdminStore>, queue: Arc<dyn PayoutQueue>) -> Router {
    let state = Arc::new(AdminState { store, queue });
    let (routes, _) = routes().split_for_parts();
    routes
        .method_not_allowed_fallback(wrong_method)
        .fallback(unknown_route)
        .layer(axum::middleware::from_fn(access_log))
        .layer(DefaultBodyLimit::max(super::MAX_BODY_BYTES))
        .with_state(state)
}

/// The routes of this API, for the tests that walk every route (checked against the derived
/// OpenAPI document, whose paths come from the same registration as the router's).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin/v1/events"),
    ("POST", "/admin/v1/events"),
    ("GET", "/admin/v1/events/{event_id}"),
    ("PUT", "/admin/v1/events/{event_id}"),
    ("POST", "/admin/v1/events/{event_id}/codes"),
    ("GET", "/admin/v1/referrers/{source}/referees"),
    ("GET", "/admin/v1/referrers/{source}/statistics"),
    ("GET", "/admin/v1/codes/{code}/referees"),
    ("GET", "/admin/v1/codes/{code}/statistics"),
    ("GET", "/admin/v1/rewards"),
    ("POST", "/admin/v1/rewards/{reward_id}/retry"),
];

/// The routes with their documentation: the router and the OpenAPI paths come from here.
fn routes() -> OpenApiRouter<Arc<AdminState>> {
    OpenApiRouter::default()
        .routes(routes!(list_events, create_event))
        .routes(routes!(get_event, update_event))
        .routes(routes!(create_code))
        .routes(routes!(referrer_referees))
        .routes(routes!(referrer_statistics))
        .routes(routes!(code_referees))
        .routes(routes!(code_statistics))
        .routes(routes!(list_rewards))
        .routes(routes!(retry_reward))
}

/// This API's part of the OpenAPI document.
pub(super) fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

// ------------------------------------------------------------------------------ events
// Path values are parsed by the domain types, so a bad one is a 400 naming it.

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    #[serde(rename = "type")]
    event_type: EventType,
    /// Events per page.
    #[param(minimum = 1, maximum = 50, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page, unchanged.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// Events of one type.
#[utoipa::path(
    get,
    path = "/admin/v1/events",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(EventsQuery),
    responses(
        (status = 200, description = "one page", body = Listing<ReferralEvent>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn list_events(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let page = PageQuery::request(query.limit, query.cursor)?;
    let page = state.store.events_by_type(query.event_type, page).await?;
    Ok(ok(Listing::new(page.items, page.next)))
}

/// An event with everything configured on it, as the admin writes it. Every collection is
/// required, on create as on replace (an empty array is an explicit "none"): one body shape,
/// and a body that forgot a collection is a 400 naming it, never read as "none". (No
/// `#[serde(flatten)]` here: it would hide the path of a failing field from the 400.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewEvent {
    event_id: EventId,
    event_type: EventType,
    name: EventName,
    contents: Vec<ContentWindow>,
    copywriting: Vec<Copywriting>,
    notifications: Vec<NotificationTemplate>,
}

/// The whole new state of an event (its id and type do not change): windows it does not list
/// are deleted, so each collection must be stated.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EventChange {
    name: EventName,
    contents: Vec<ContentWindow>,
    copywriting: Vec<Copywriting>,
    notifications: Vec<NotificationTemplate>,
}

/// The version of an event that `ETag` and `If-Match` carry: its `updated_at` in epoch
/// milliseconds (the value the store's optimistic lock compares; every write moves it on).
/// Clients treat the quoted tag as opaque.
fn version_of(event: &ReferralEvent) -> String {
    event.updated_at.timestamp_millis().to_string()
}

/// An answer carrying the event's configuration and its `ETag` (a strong validator).
fn event_answer(status: StatusCode, config: EventConfig) -> Response {
    let tag = format!("\"{}\"", version_of(&config.event));
    let mut response = (status, axum::Json(config)).into_response();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// The entity-tags of an `If-Match` header (RFC 9110 §13.1.1), for a replace: it must be
/// present and name at least one version (`*` names none: 428, like a missing header); a value
/// that is not a list of entity-tags is a 400. Weak tags never match (the comparison is strong).
struct IfMatch(Vec<EntityTag>);

#[derive(Debug, PartialEq, Eq)]
struct EntityTag {
    weak: bool,
    opaque: String,
}

impl IfMatch {
    fn names(&self, version: &str) -> bool {
        self.0.iter().any(|t| !t.weak && t.opaque == version)
    }
}

/// What an `If-Match` value says.
#[derive(Debug, PartialEq, Eq)]
enum IfMatchValue {
    /// `*`: any current version.
    Any,
    /// One or more entity-tags.
    Tags(Vec<EntityTag>),
}

/// `*`, or the comma-separated entity-tags; `None` when the text is neither.
fn parse_if_match(text: &str) -> Option<IfMatchValue> {
    const OWS: [char; 2] = [' ', '\t'];
    if text.trim_matches(OWS) == "*" {
        return Some(IfMatchValue::Any);
    }
    let mut tags = Vec::new();
    // A list may hold empty elements ("a, , b"); an entity-tag may hold commas itself, so the
    // list is read tag by tag rather than split.
    let mut rest = text.trim_start_matches(OWS);
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start_matches(OWS);
            continue;
        }
        let (weak, tag) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let tag = tag.strip_prefix('"')?;
        let end = tag.find('"')?;
        let opaque = &tag[..end];
        if !opaque
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        tags.push(EntityTag {
            weak,
            opaque: opaque.to_owned(),
        });
        rest = tag[end + 1..].trim_start_matches(OWS);
        if !rest.is_empty() && !rest.starts_with(',') {
            return None;
        }
    }
    (!tags.is_empty()).then_some(IfMatchValue::Tags(tags))
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let malformed = || ApiError::Invalid {
            code: "invalid_header",
            message: "If-Match must be a list of entity-tags, as the ETag header gives them \
                      (e.g. \"1767225600000\")"
                .into(),
            field: Some("If-Match".into()),
        };
        let mut lines = Vec::new();
        for value in parts.headers.get_all(header::IF_MATCH) {
            lines.push(value.to_str().map_err(|_| malformed())?);
        }
        if lines.is_empty() {
            return Err(ApiError::PreconditionRequired);
        }
        match parse_if_match(&lines.join(", ")) {
            Some(IfMatchValue::Tags(tags)) => Ok(IfMatch(tags)),
            Some(IfMatchValue::Any) => Err(ApiError::PreconditionRequired),
            None => Err(malformed()),
        }
    }
}

/// Create an event with its windows, copywriting and notification templates.
///
/// Validated as a whole (start < end, amounts > 0 with at most 2 decimals, enums, lengths, no
/// overlapping windows of one kind, window ids unique, at most 49 windows) and written in one
/// transaction.
#[utoipa::path(
    post,
    path = "/admin/v1/events",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    request_body = NewEvent,
    responses(
        (status = 201, description = "created", body = EventConfig,
            headers(("ETag" = String, description = "the version created (an entity tag), for `If-Match`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 503, response = Unavailable),
    )
)]
async fn create_event(
    State(state): State<Arc<AdminState>>,
    admin: Admin,
    ApiJson(body): ApiJson<NewEvent>,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now();
    let config = EventConfig {
        event: ReferralEvent {
            event_id: body.event_id,
            event_type: body.event_type,
            name: body.name,
            created_at: now,
            updated_at: now,
        },
        contents: body.contents,
        copywriting: body.copywriting,
        notifications: body.notifications,
    };
    config.validate()?;
    match state.store.save_event_config(&config, None).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::Conflict {
                code: "event_exists",
                message: format!("event {} exists; change it with PUT", config.event.event_id),
            });
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(admin = admin.subject, event = %config.event.event_id, "event created");
    Ok(event_answer(StatusCode::CREATED, config))
}

/// An event's whole configuration.
#[utoipa::path(
    get,
    path = "/admin/v1/events/{event_id}",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("event_id" = EventId, Path)),
    responses(
        (status = 200, description = "the event", body = EventConfig,
            headers(("ETag" = String, description = "the version read (an entity tag), for `If-Match`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn get_event(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    Path(event_id): Path<String>,
) -> Result<Response, ApiError> {
    let event_id = EventId::parse(&event_id)?;
    match state.store.event_config(&event_id).await? {
        Some(config) => Ok(event_answer(StatusCode::OK, config)),
        None => Err(ApiError::NotFound { what: "event" }),
    }
}

/// Replace an event's name and windows (id and type stay).
///
/// The body is the event's whole new state: every collection must be stated (400 naming a
/// missing one); windows absent from it are deleted, except a content window under which
/// rewards were granted (409 `window_in_use`). `If-Match` names the version replaced (428
/// without it, 412 when stale). One transaction.
#[utoipa::path(
    put,
    path = "/admin/v1/events/{event_id}",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(
        ("event_id" = EventId, Path),
        ("If-Match" = inline(super::openapi::EntityTags), Header, description = "the `ETag` of the version this change replaces"),
    ),
    request_body = EventChange,
    responses(
        (status = 200, description = "replaced", body = EventConfig,
            headers(("ETag" = String, description = "the new version (an entity tag)"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 428, response = PreconditionRequired),
        (status = 503, response = Unavailable),
    )
)]
async fn update_event(
    State(state): State<Arc<AdminState>>,
    admin: Admin,
    Path(event_id): Path<String>,
    if_match: IfMatch,
    ApiJson(body): ApiJson<EventChange>,
) -> Result<Response, ApiError> {
    let event_id = EventId::parse(&event_id)?;
    let previous = state
        .store
        .event_config(&event_id)
        .await?
        .ok_or(ApiError::NotFound { what: "event" })?;
    if !if_match.names(&version_of(&previous.event)) {
        return Err(ApiError::PreconditionFailed);
    }
    let config = EventConfig {
        event: ReferralEvent {
            name: body.name,
            updated_at: previous.event.next_version_at(chrono::Utc::now()),
            ..previous.event.clone()
        },
        contents: body.contents,
        copywriting: body.copywriting,
        notifications: body.notifications,
    };
    config.validate()?;
    match state
        .store
        .save_event_config(&config, Some(&previous))
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => return Err(ApiError::PreconditionFailed),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(admin = admin.subject, event = %event_id, "event updated");
    Ok(event_answer(StatusCode::OK, config))
}

// ------------------------------------------------------------------------------ codes

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCode {
    /// A vanity code; absent = generated.
    code: Option<ReferralCode>,
    /// Who the code is for (campaign or partner name): its referees are listed under
    /// `campaign:<source>`, never under a member, whatever the name.
    source: CampaignSource,
}

/// Issue a code for a CAMPAIGN event (vanity or generated).
#[utoipa::path(
    post,
    path = "/admin/v1/events/{event_id}/codes",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("event_id" = EventId, Path)),
    request_body = NewCode,
    responses(
        (status = 201, description = "the code", body = ReferralCodeRecord),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 503, response = Unavailable),
    )
)]
async fn create_code(
    State(state): State<Arc<AdminState>>,
    admin: Admin,
    Path(event_id): Path<String>,
    ApiJson(body): ApiJson<NewCode>,
) -> Result<Response, ApiError> {
    let event_id = EventId::parse(&event_id)?;
    let config = state
        .store
        .event_config(&event_id)
        .await?
        .ok_or(ApiError::NotFound { what: "event" })?;
    if config.event.event_type != EventType::Campaign {
        return Err(ApiError::Conflict {
            code: "not_a_campaign",
            message: "codes are issued here for CAMPAIGN events only; PERSONAL codes are \
                      issued to members when they qualify"
                .into(),
        });
    }
    let now = chrono::Utc::now();
    let record = |code| ReferralCodeRecord {
        code,
        event_id: event_id.clone(),
        event_type: EventType::Campaign,
        source: ReferralSource::Campaign(body.source.clone()),
        created_at: now,
    };
    let created = match body.code.clone() {
        Some(code) => {
            let record = record(code);
            match state.store.create_code(&record).await {
                Ok(()) => record,
                Err(StoreError::Conflict { .. }) => {
                    return Err(ApiError::Conflict {
                        code: "code_taken",
                        message: format!("code {} exists", record.code),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => {
            create_unique_code(state.store.as_ref(), 5, || {
                record(ReferralCode::generate(&mut rand::rng()))
            })
            .await?
        }
    };
    tracing::info!(admin = admin.subject, event = %event_id, "campaign code created");
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

// ------------------------------------------------------------------------------ overview

/// A referee as an admin sees them: ids, masked phone, steps and both sides' rewards.
#[derive(Debug, Serialize, ToSchema)]
struct RefereeRow {
    account_id: crate::domain::AccountId,
    jkos_id: crate::domain::JkosId,
    /// Masked: `0912***678`.
    #[schema(required = true, examples("0912***678"))]
    phone: Option<String>,
    #[schema(required = true)]
    code: Option<ReferralCode>,
    steps: Steps,
    rewards: Vec<RewardRow>,
}

/// A reward as an admin sees it (the member's phone is never in it).
#[derive(Debug, Serialize, ToSchema)]
struct RewardRow {
    reward_id: RewardId,
    side: crate::domain::Side,
    member_jkos_id: crate::domain::JkosId,
    event_id: EventId,
    code: ReferralCode,
    reward_type: RewardType,
    amount: crate::domain::RewardAmount,
    status: RewardStatus,
    attempts: u32,
    #[schema(required = true)]
    last_error: Option<String>,
    #[schema(required = true)]
    compensation_id: Option<String>,
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    paid_at: Option<crate::time::Instant>,
    #[schema(required = true)]
    notification: Option<crate::domain::NotificationOutcome>,
    #[serde(with = "crate::time::millis")]
    #[schema(schema_with = crate::domain::schema::instant)]
    created_at: crate::time::Instant,
    #[serde(with = "crate::time::millis")]
    #[schema(schema_with = crate::domain::schema::instant)]
    updated_at: crate::time::Instant,
}

impl From<&Reward> for RewardRow {
    fn from(r: &Reward) -> Self {
        RewardRow {
            reward_id: r.reward_id.clone(),
            side: r.side,
            member_jkos_id: r.member_jkos_id.clone(),
            event_id: r.event_id.clone(),
            code: r.code.clone(),
            reward_type: r.terms.reward_type,
            amount: r.terms.amount,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error.clone(),
            compensation_id: r.compensation_id.clone(),
            paid_at: r.paid_at,
            notification: r.notification.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn referee_row(profile: &MemberProfile) -> RefereeRow {
    RefereeRow {
        account_id: profile.account_id.clone(),
        jkos_id: profile.jkos_id.clone(),
        phone: profile.phone_number.as_ref().map(|p| p.masked()),
        code: profile.referral.as_ref().map(|r| r.code.clone()),
        steps: Steps::of(profile),
        rewards: Vec::new(),
    }
}

/// One page of a collection: its codes and referees with their rewards.
#[derive(Debug, Serialize, ToSchema)]
struct Overview {
    codes: Vec<ReferralCodeRecord>,
    referees: Vec<RefereeRow>,
    /// The cursor of the next page; null on the last one.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

fn overview(page: Page<CollectionEntry>) -> Overview {
    let mut codes = Vec::new();
    let mut referees: Vec<RefereeRow> = Vec::new();
    for entry in page.items {
        match entry {
            CollectionEntry::Code(code) => codes.push(code),
            CollectionEntry::Referee(profile) => referees.push(referee_row(&profile)),
            CollectionEntry::Reward(reward) => {
                if let Some(last) = referees
                    .last_mut()
                    .filter(|r| r.account_id == reward.referee_account_id)
                {
                    last.rewards.push(RewardRow::from(reward.as_ref()));
                }
            }
        }
    }
    Overview {
        codes,
        referees,
        next_cursor: page.next.map(|c| c.token().to_owned()),
    }
}

/// Overview of a referrer's codes and referees (one Query page).
#[utoipa::path(
    get,
    path = "/admin/v1/referrers/{source}/referees",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(
        ("source" = ReferralSource, Path, description = "member:<jkos id> (a member) or campaign:<name> (a campaign)"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "one page", body = Overview),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn referrer_referees(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    Path(source): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let source = ReferralSource::parse(&source)?;
    let page = state
        .store
        .referrer_collection(&source, query.to_request()?)
        .await?;
    Ok(ok(overview(page)))
}

async fn code_record(state: &AdminState, raw: &str) -> Result<ReferralCodeRecord, ApiError> {
    let code = ReferralCode::parse(raw)?;
    state
        .store
        .get_code(&code)
        .await?
        .ok_or(ApiError::NotFound { what: "code" })
}

/// Overview of one code's referees (one Query page).
#[utoipa::path(
    get,
    path = "/admin/v1/codes/{code}/referees",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("code" = ReferralCode, Path), PageQuery),
    responses(
        (status = 200, description = "one page", body = Overview),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn code_referees(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    Path(code): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let record = code_record(&state, &code).await?;
    let page = state
        .store
        .code_collection(&record, query.to_request()?)
        .await?;
    Ok(ok(overview(page)))
}

/// Totals over a whole collection, read page by page (up to 50 Query pages).
#[derive(Debug, Default, Serialize, ToSchema)]
struct Statistics {
    codes: u64,
    referees: u64,
    kyc_passed: u64,
    device_bound: u64,
    qualified: u64,
    /// Per status (PENDING, SUCCESS, FAIL): how many rewards, and their amounts per reward type.
    #[schema(value_type = BTreeMap<RewardStatus, RewardTotals>)]
    rewards: BTreeMap<&'static str, RewardTotals>,
    /// False when the collection is larger than one statistics request reads.
    complete: bool,
}

#[derive(Debug, Default, Serialize, ToSchema)]
struct RewardTotals {
    count: u64,
    /// Per reward type (COIN, COUPON): the sum, a decimal string with 2 decimals.
    #[schema(value_type = BTreeMap<RewardType, String>)]
    amounts: BTreeMap<&'static str, Decimal>,
}

/// 50 pages of 200 items: about 3,300 referees.
const MAX_STATISTICS_PAGES: usize = 50;

impl Statistics {
    fn add(&mut self, entry: &CollectionEntry) {
        match entry {
            CollectionEntry::Code(_) => self.codes += 1,
            CollectionEntry::Referee(p) => {
                self.referees += 1;
                self.kyc_passed += u64::from(p.kyc_pass_time.is_some());
                self.device_bound += u64::from(p.device_bind_time.is_some());
                self.qualified += u64::from(p.qualified_at.is_some());
            }
            CollectionEntry::Reward(r) => {
                let totals = self.rewards.entry(r.status.as_str()).or_default();
                totals.count += 1;
                *totals
                    .amounts
                    .entry(r.terms.reward_type.as_str())
                    .or_default() += r.terms.amount.value();
            }
        }
    }
}

async fn statistics<F, Fut>(mut next_page: F) -> Result<Statistics, ApiError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<CollectionEntry>, StoreError>>,
{
    let mut stats = Statistics::default();
    let mut request = PageRequest::first(PageRequest::MAX_LIMIT);
    for _ in 0..MAX_STATISTICS_PAGES {
        let page = next_page(request).await?;
        page.items.iter().for_each(|e| stats.add(e));
        match page.next {
            Some(cursor) => request = PageRequest::after(PageRequest::MAX_LIMIT, cursor),
            None => {
                stats.complete = true;
                break;
            }
        }
    }
    Ok(stats)
}

/// Totals over a referrer's whole collection.
#[utoipa::path(
    get,
    path = "/admin/v1/referrers/{source}/statistics",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("source" = ReferralSource, Path, description = "member:<jkos id> (a member) or campaign:<name> (a campaign)")),
    responses(
        (status = 200, description = "totals", body = Statistics),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
async fn referrer_statistics(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    Path(source): Path<String>,
) -> Result<Response, ApiError> {
    let source = ReferralSource::parse(&source)?;
    let stats = statistics(|page| state.store.referrer_collection(&source, page)).await?;
    Ok(ok(stats))
}

/// Totals over one code's referees and rewards.
#[utoipa::path(
    get,
    path = "/admin/v1/codes/{code}/statistics",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("code" = ReferralCode, Path)),
    responses(
        (status = 200, description = "totals", body = Statistics),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
async fn code_statistics(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let record = code_record(&state, &code).await?;
    let stats = statistics(|page| state.store.code_collection(&record, page)).await?;
    Ok(ok(stats))
}

// ------------------------------------------------------------------------------ rewards

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RewardsQuery {
    status: RewardStatus,
    /// Rewards per page.
    #[param(minimum = 1, maximum = 50, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page, unchanged.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// Rewards with a status, oldest first.
#[utoipa::path(
    get,
    path = "/admin/v1/rewards",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(RewardsQuery),
    responses(
        (status = 200, description = "one page", body = Listing<RewardRow>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]

async fn list_rewards(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    ApiQuery(query): ApiQuery<RewardsQuery>,
) -> Result<Response, ApiError> {
    let page = PageQuery::request(query.limit, query.cursor)?;
    let page = state.store.rewards_by_status(query.status, page).await?;
    let rows = page.items.iter().map(RewardRow::from).collect();
    Ok(ok(Listing::new(rows, page.next)))
}

/// The answer to a retry.
#[derive(Debug, Serialize, ToSchema)]
struct RetryQueued {
    reward_id: RewardId,
    /// Always PENDING.
    status: RewardStatus,
    queued: bool,
}

/// Queue a FAIL reward for payment again.
///
/// FAIL → PENDING, then one payout message. Idempotent: a reward already back in PENDING is
/// queued again (payout pays a reward once whatever the number of messages), a SUCCESS reward
/// is refused with 409 `already_paid`. The status moves first, so if the enqueue fails (503)
/// the sweeper still queues the PENDING reward within its period.
#[utoipa::path(
    post,
    path = "/admin/v1/rewards/{reward_id}/retry",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("reward_id" = RewardId, Path)),
    responses(
        (status = 202, description = "queued", body = RetryQueued),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable),
    )
)]
async fn retry_reward(
    State(state): State<Arc<AdminState>>,
    admin: Admin,
    Path(reward_id): Path<String>,
) -> Result<Response, ApiError> {
    let reward_id = RewardId::parse(&reward_id)?;
    // The usual case, a FAIL reward, is one conditional write; any other state is read once
    // to say why the write did not apply.
    match state
        .store
        .reopen_failed_reward(&reward_id, chrono::Utc::now())
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            let reward = state
                .store
                .get_reward(&reward_id)
                .await?
                .ok_or(ApiError::NotFound { what: "reward" })?;
            if reward.status == RewardStatus::Success {
                return Err(ApiError::Conflict {
                    code: "already_paid",
                    message: format!("reward {reward_id} is SUCCESS; nothing to retry"),
                });
            }
            // PENDING (retried already, or a payment in flight): queued again, paid once.
        }
        Err(e) => return Err(e.into()),
    }
    if let Err(e) = state.queue.enqueue(std::slice::from_ref(&reward_id)).await {
        tracing::warn!(reward = %reward_id, error = %e, "retry not queued; the sweeper will");
        return Err(ApiError::Unavailable);
    }
    tracing::info!(admin = admin.subject, reward = %reward_id, "reward queued again");
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(RetryQueued {
            reward_id,
            status: RewardStatus::Pending,
            queued: true,
        }),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Some(None)` = `*`.
    fn tags(text: &str) -> Option<Option<Vec<(bool, String)>>> {
        parse_if_match(text).map(|value| match value {
            IfMatchValue::Any => None,
            IfMatchValue::Tags(tags) => {
                Some(tags.into_iter().map(|t| (t.weak, t.opaque)).collect())
            }
        })
    }

    fn strong(opaque: &str) -> (bool, String) {
        (false, opaque.to_owned())
    }

    #[test]
    fn if_match_is_read_as_rfc_9110_entity_tags() {
        assert_eq!(tags("\"123\""), Some(Some(vec![strong("123")])));
        assert_eq!(
            tags(" W/\"1\" ,\"a,b\", , \"\"  "),
            Some(Some(vec![
                (true, "1".to_owned()),
                strong("a,b"),
                strong("")
            ]))
        );
        assert_eq!(tags(" * "), Some(None), "* names no version");
        for malformed in [
            "",
            " ",
            "123",
            "\"123",
            "\"1\" \"2\"",
            "W/123",
            "\"a b\"",
            ",",
        ] {
            assert_eq!(tags(malformed), None, "{malformed:?}");
        }
        let names_42 = |text: &str| match parse_if_match(text) {
            Some(IfMatchValue::Tags(tags)) => IfMatch(tags).names("42"),
            other => panic!("{other:?}"),
        };
        assert!(names_42("\"42\""));
        assert!(names_42("\"7\", \"42\""));
        assert!(
            !names_42("W/\"42\""),
            "a weak tag never matches (strong comparison)"
        );
        assert!(!names_42("\"420\""));
    }
}
