//! The conversion funnel of an event and of a code (ADR 0008).

use super::*;
use crate::api::funnel::{FunnelQuery, FunnelReport, with_clicks};
use crate::domain::FunnelScope;

/// An event's funnel over a range of days.
///
/// Counts per day of the event's time zone and in total, with the conversion rates along the
/// funnel's main line, from the share link's clicks on. 1 Query for the event, then
/// `FUNNEL_SHARDS` (16) Queries of the counters and `CLICK_SHARDS` (8) of the clicks (GSI2), all
/// concurrent.
#[utoipa::path(
    get,
    path = "/admin/v1/events/{event_id}/funnel",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("event_id" = EventId, Path), FunnelQuery),
    responses(
        (status = 200, description = "the funnel", body = FunnelReport),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn event_funnel(
    State(state): State<Arc<AdminState>>,
    _admin: Admin,
    Path(event_id): Path<String>,
    ApiQuery(query): ApiQuery<FunnelQuery>,
) -> Result<Response, ApiError> {
    let event_id = EventId::parse(&event_id)?;
    let range = query.range()?;
    state
        .store
        .event_config(&event_id)
        .await?
        .ok_or(ApiError::NotFound { what: "event" })?;
    let scope = FunnelScope::Event(event_id.clone());
    let (days, clicks) = futures::try_join!(
        state.store.funnel_days(&scope, range.0, range.1),
        state.store.event_clicks(&event_id, range.0, range.1),
    )?;
    let days = with_clicks(days, clicks);
    Ok(ok(FunnelReport::new(
        event_id.to_string(),
        None,
        range,
        days,
    )))
}

/// A code's funnel over a range of days.
///
/// As the event's, for the clicks and referees of one code (its event's time zone). 1 GetItem
/// for the code, then 16 + 8 concurrent Queries (counters, clicks).
#[utoipa::path(
    get,
    path = "/admin/v1/codes/{code}/funnel",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("code" = ReferralCode, Path), FunnelQuery),
    responses(
        (status = 200, description = "the funnel", body = FunnelReport),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn code_funnel(
    State(state): State<Arc<AdminState>>,
    _admin: Admin,
    Path(code): Path<String>,
    ApiQuery(query): ApiQuery<FunnelQuery>,
) -> Result<Response, ApiError> {
    let code = ReferralCode::parse(&code)?;
    let range = query.range()?;
    let record = state
        .store
        .get_code(&code)
        .await?
        .ok_or(ApiError::NotFound { what: "code" })?;
    let scope = FunnelScope::Code(record.event_id.clone(), code.clone());
    let (days, clicks) = futures::try_join!(
        state.store.funnel_days(&scope, range.0, range.1),
        state.store.code_clicks(&code, range.0, range.1),
    )?;
    let days = with_clicks(days, clicks);
    Ok(ok(FunnelReport::new(
        record.event_id.to_string(),
        Some(code.to_string()),
        range,
        days,
    )))
}
