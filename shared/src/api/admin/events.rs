//! Events with their windows: list, create, read, replace (with `If-Match`).

use super::*;

// ------------------------------------------------------------------------------ events
// Path values are parsed by the domain types, so a bad one is a 400 naming it.

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct EventsQuery {
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
pub(super) async fn list_events(
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
pub(super) struct NewEvent {
    event_id: EventId,
    event_type: EventType,
    name: EventName,
    contents: Vec<ContentWindow>,
    copywriting: Vec<Copywriting>,
    notifications: Vec<NotificationTemplate>,
    /// The event's reward rules (`docs/rules.md`); absent = no rule.
    #[serde(default)]
    rules: Option<RewardRules>,
    /// Share-link settings (landing page, time zone of the event's days); absent = generic
    /// landing page, UTC.
    #[serde(default)]
    links: Option<LinkSettings>,
}

/// The whole new state of an event (its id and type do not change): windows it does not list
/// are deleted, so each collection must be stated.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EventChange {
    name: EventName,
    contents: Vec<ContentWindow>,
    copywriting: Vec<Copywriting>,
    notifications: Vec<NotificationTemplate>,
    /// The event's reward rules, as a whole; absent = no rule (a replace without them removes
    /// the rules the event had).
    #[serde(default)]
    rules: Option<RewardRules>,
    /// Share-link settings, as a whole; absent = generic landing page, UTC (like `rules`).
    #[serde(default)]
    links: Option<LinkSettings>,
}

/// The version of an event that `ETag` and `If-Match` carry: its `updated_at` in epoch
/// milliseconds (the value the store's optimistic lock compares; every write moves it on).
/// Clients treat the quoted tag as opaque.
pub(super) fn version_of(event: &ReferralEvent) -> String {
    event.updated_at.timestamp_millis().to_string()
}

/// An answer carrying the event's configuration and its `ETag` (a strong validator).
pub(super) fn event_answer(status: StatusCode, config: EventConfig) -> Response {
    let tag = format!("\"{}\"", version_of(&config.event));
    let mut response = (status, axum::Json(config)).into_response();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// Create an event with its windows, copywriting and notification templates.
///
/// Validated as a whole (start < end, amounts > 0 with at most 2 decimals, enums, lengths, no
/// overlapping windows of one kind, window ids unique, at most 49 windows) and written in one
/// transaction. The one PERSONAL event is the deployment's `PERSONAL_EVENT_ID` (another
/// PERSONAL event, or a CAMPAIGN under that id, is a 400); a CAMPAIGN event takes no rule that
/// concerns a code's owner (`rules.referrer_cap`, `rules.review_hold.referees_per_24h`,
/// `rules.milestones`, `rules.refuse_self_referral`: 400 naming it).
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
pub(super) async fn create_event(
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
        rules: body.rules.unwrap_or_default(),
        links: body.links.unwrap_or_default(),
    };
    config.event.check_type(&state.personal_event)?;
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
pub(super) async fn get_event(
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
        ("If-Match" = inline(crate::api::openapi::EntityTags), Header, description = "the `ETag` of the version this change replaces"),
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
pub(super) async fn update_event(
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
        rules: body.rules.unwrap_or_default(),
        links: body.links.unwrap_or_default(),
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
