//! The admin API (micro-admin web): events with their windows, campaign codes, overview and
//! statistics per referrer and per code, rewards by status, the retry of FAIL rewards and the
//! review of HELD ones (approve, reject), and the conversion funnel of an event and of a code.
//! Every handler takes [`Admin`], so a token without the `referral.admin` scope gets 403.

use super::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, PreconditionFailed,
    PreconditionRequired, Unauthorized, Unavailable,
};
use super::{Admin, ApiError, ApiJson, ApiQuery, Listing, PageQuery, app::Steps, ok};
use crate::domain::{
    CampaignSource, ContentWindow, Copywriting, EventConfig, EventId, EventName, EventType,
    LinkSettings, MemberProfile, NotificationTemplate, ReferralCode, ReferralCodeRecord,
    ReferralEvent, ReferralSource, Review, ReviewStep, Reward, RewardId, RewardRules, RewardStatus,
    RewardTransition, RewardType,
};
use crate::queue::PayoutQueue;
use crate::store::{
    Clicks, Codes, CollectionEntry, Collections, EventReads, EventWrites, FunnelCounts, Page,
    PageRequest, Registrations, RewardReads, RewardWrites, StoreError, create_unique_code,
};
use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
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

mod codes;
mod events;
mod funnel;
mod if_match;
mod members;
mod overview;
mod rewards;

use codes::*;
use events::*;
use funnel::*;
use if_match::*;
use members::*;
use overview::*;
use rewards::*;

pub struct AdminState {
    store: Arc<dyn AdminStore>,
    queue: Arc<dyn PayoutQueue>,
    /// `PERSONAL_EVENT_ID`: the one PERSONAL event ([`ReferralEvent::check_type`]).
    personal_event: EventId,
}

crate::store::port_sum!(
    /// What the admin API reads and writes: campaigns, codes, rewards (read, reopen, review),
    /// collections and a member's registration (the checklist).
    pub trait AdminStore: EventReads
        + EventWrites
        + Codes
        + RewardReads
        + RewardWrites
        + Collections
        + Registrations
        + FunnelCounts
        + Clicks;
);

pub fn router(
    store: Arc<dyn AdminStore>,
    queue: Arc<dyn PayoutQueue>,
    personal_event: EventId,
) -> Router {
    let state = Arc::new(AdminState {
        store,
        queue,
        personal_event,
    });
    super::api_router(routes(), state)
}

/// The routes of this API, for the tests that walk every route (checked against the derived
/// OpenAPI document, whose paths come from the same registration as the router's).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin/v1/events"),
    ("POST", "/admin/v1/events"),
    ("GET", "/admin/v1/events/{event_id}"),
    ("PUT", "/admin/v1/events/{event_id}"),
    ("POST", "/admin/v1/events/{event_id}/codes"),
    ("GET", "/admin/v1/events/{event_id}/funnel"),
    ("GET", "/admin/v1/referrers/{source}/referees"),
    ("GET", "/admin/v1/referrers/{source}/statistics"),
    ("GET", "/admin/v1/codes/{code}/referees"),
    ("GET", "/admin/v1/codes/{code}/statistics"),
    ("GET", "/admin/v1/codes/{code}/funnel"),
    ("GET", "/admin/v1/rewards"),
    ("POST", "/admin/v1/rewards/{reward_id}/retry"),
    ("POST", "/admin/v1/rewards/{reward_id}/approve"),
    ("POST", "/admin/v1/rewards/{reward_id}/reject"),
    ("GET", "/admin/v1/members/{account_id}/checklist"),
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
        .routes(routes!(event_funnel))
        .routes(routes!(code_funnel))
        .routes(routes!(list_rewards))
        .routes(routes!(retry_reward))
        .routes(routes!(approve_reward))
        .routes(routes!(reject_reward))
        .routes(routes!(member_checklist))
}

/// This API's part of the OpenAPI document.
pub(super) fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}
