//! The two HTTP APIs (app and admin) as axum routers, run by `lambda_http` behind an API
//! Gateway HTTP API with a JWT authorizer (payload 2.0). What is common to both lives here:
//! the one error shape, identity from the authorizer's verified claims, JSON bodies with the
//! failing field named, pagination, and the fallbacks for unknown routes and wrong methods.
//!
//! Identity never comes from a path, query or body: the member is the `sub` claim, an admin is
//! whoever has `referral.admin` in the space-separated `scope` claim (docs/api.md).

pub mod admin;
pub mod app;
pub mod funnel;
mod identity;
mod json;
pub mod lambda;
mod openapi;
mod query;

pub use identity::{Admin, Member};
pub use json::ApiJson;
pub use openapi::{openapi, openapi_yaml};

use crate::domain::ValidationError;
use crate::store::{Cursor, PageRequest, StoreError};
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Bodies larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An API's router: its documented routes, with the fallbacks and layers both APIs share (JSON
/// 404/405, unknown query parameters refused, the access log, the body limit).
fn api_router<S>(routes: utoipa_axum::router::OpenApiRouter<S>, state: S) -> axum::Router
where
    S: Clone + Send + Sync + 'static,
{
    let (routes, doc) = routes.split_for_parts();
    let known = Arc::new(query::QueryParameters::of(&doc));
    routes
        .method_not_allowed_fallback(wrong_method)
        .fallback(unknown_route)
        .layer(axum::middleware::from_fn_with_state(
            known,
            query::refuse_unknown_query,
        ))
        .layer(axum::middleware::from_fn(access_log))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The scope an admin token carries.
pub const ADMIN_SCOPE: &str = "referral.admin";

/// Every error of both APIs, rendered as `{"error": {"code", "message", "field"}}`.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the body is not JSON of the expected shape, or a field is invalid.
    Invalid {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// 401: no verified identity on the request.
    Unauthenticated,
    /// 401: the token's `sub` is not a jkos id as written (nothing is trimmed off it).
    InvalidSubject,
    /// 403: identity present, scope missing.
    Forbidden,
    /// 404: the route, or the thing it names, does not exist.
    NotFound { what: &'static str },
    /// 405: the route exists with other methods.
    MethodNotAllowed,
    /// 409: the thing exists already, or is not in a state that allows this.
    Conflict { code: &'static str, message: String },
    /// 409: a replace would delete a content window under which rewards were granted.
    WindowInUse { window_id: String },
    /// 412: `If-Match` names a version that is no longer the current one.
    PreconditionFailed,
    /// 428: a replace without `If-Match` (or with `*`, which names no version).
    PreconditionRequired,
    /// 413: body over [`MAX_BODY_BYTES`].
    PayloadTooLarge,
    /// 429: a per-member limit; `retry_after` in seconds.
    TooManyRequests { retry_after: u64 },
    /// 503: DynamoDB or SQS is unavailable; retrying later may work.
    Unavailable,
    /// 500: a fault on our side. The detail is logged, never sent.
    Internal,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            code: "invalid_field",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, String, Option<String>) {
        match self {
            ApiError::Invalid {
                code,
                message,
                field,
            } => (
                StatusCode::BAD_REQUEST,
                code,
                message.clone(),
                field.clone(),
            ),
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "a verified identity (JWT sub claim) is required".into(),
                None,
            ),
            ApiError::InvalidSubject => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the token's sub claim is not a jkos id as sent (1 to 36 letters, digits, '-' \
                 or '_', nothing around them)"
                    .into(),
                None,
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this route needs the {ADMIN_SCOPE} scope"),
                None,
            ),
            ApiError::NotFound { what } => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
                None,
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method".into(),
                None,
            ),
            ApiError::Conflict { code, message } => {
                (StatusCode::CONFLICT, code, message.clone(), None)
            }
            ApiError::WindowInUse { window_id } => (
                StatusCode::CONFLICT,
                "window_in_use",
                format!(
                    "content window {window_id} has rewards granted under it and cannot be \
                     deleted; keep it in contents (it may still be edited, e.g. ended earlier)"
                ),
                Some("contents".into()),
            ),
            ApiError::PreconditionFailed => (
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "the event changed since the version named in If-Match; read it again (GET), \
                 re-apply the edit and send the new ETag"
                    .into(),
                Some("If-Match".into()),
            ),
            ApiError::PreconditionRequired => (
                StatusCode::PRECONDITION_REQUIRED,
                "precondition_required",
                "a replace must name the version it replaces: send If-Match with the ETag \
                 of the event as read"
                    .into(),
                Some("If-Match".into()),
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body must be at most {MAX_BODY_BYTES} bytes"),
                None,
            ),
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many requests; try again later".into(),
                None,
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is briefly unavailable; try again".into(),
                None,
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error".into(),
                None,
            ),
        }
    }
}

/// The body of every error the functions answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ErrorDetail {
    #[schema(schema_with = openapi::error_code)]
    code: &'static str,
    message: String,
    /// The failing field (a path such as `contents[0].referrer.amount`) or query parameter.
    #[schema(required = true, examples("contents[0].referrer.amount"))]
    field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, field) = self.parts();
        let mut response = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code,
                    message,
                    field,
                },
            }),
        )
            .into_response();
        if let ApiError::TooManyRequests { retry_after } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&retry_after.to_string())
                    .unwrap_or(HeaderValue::from_static("60")),
            );
        }
        response
    }
}

impl ApiError {
    /// A body that does not decode: `invalid_json` when it is not JSON, else `invalid_field`
    /// naming the field and the problem (the domain rule, or the kind), never the value.
    pub fn from_decode(e: crate::decode::DecodeError) -> Self {
        use crate::decode::DecodeErrorKind;
        match e.kind {
            DecodeErrorKind::Syntax | DecodeErrorKind::Eof => ApiError::Invalid {
                code: "invalid_json",
                message: format!(
                    "the body is not valid JSON ({} at line {} column {})",
                    e.kind.as_str(),
                    e.line,
                    e.column
                ),
                field: None,
            },
            _ => ApiError::Invalid {
                code: "invalid_field",
                message: e.problem().to_owned(),
                field: e.field().map(str::to_owned),
            },
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => ApiError::Invalid {
                code: "invalid_query",
                message: "not a cursor this listing issued".into(),
                field: Some("cursor".into()),
            },
            StoreError::Unavailable { .. } => {
                tracing::warn!(error = %e, "store unavailable");
                ApiError::Unavailable
            }
            StoreError::WindowInUse { window, .. } => ApiError::WindowInUse {
                window_id: window.to_string(),
            },
            StoreError::Conflict { entity, .. } => ApiError::Conflict {
                code: "conflict",
                message: format!("{entity} already exists or changed meanwhile"),
            },
            other => {
                tracing::error!(error = %other, "store fault");
                ApiError::Internal
            }
        }
    }
}

/// `?limit=&cursor=` of every listing.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Referees (or items) per page.
    #[param(minimum = 1, maximum = 50, default = 20)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page, unchanged (cursors are bound to the listing
    /// that issued them).
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

impl PageQuery {
    /// 50 referees with their rewards fit in one Query of at most 200 items.
    pub const MAX_LIMIT: u32 = 50;

    pub fn to_request(&self) -> Result<PageRequest, ApiError> {
        Self::request(self.limit, self.cursor.clone())
    }

    /// The page a listing with its own filters asks for (`limit` and `cursor` among them).
    pub fn request(limit: Option<u32>, cursor: Option<String>) -> Result<PageRequest, ApiError> {
        if let Some(limit) = limit
            && !(1..=Self::MAX_LIMIT).contains(&limit)
        {
            return Err(ApiError::Invalid {
                code: "invalid_query",
                message: format!("must be 1 to {}", Self::MAX_LIMIT),
                field: Some("limit".into()),
            });
        }
        Ok(PageRequest {
            limit: Some(limit.unwrap_or(20)),
            cursor: cursor.map(Cursor::from_token),
        })
    }
}

/// `Query<T>` with its rejection in our error shape.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // As axum's `Query`, with the error reduced: serde's message quotes the value sent.
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let e = crate::decode::DecodeError::reduce(&e);
                ApiError::Invalid {
                    code: "invalid_query",
                    message: e.problem().to_owned(),
                    field: e.field().map(str::to_owned),
                }
            })
    }
}

/// The fallback of both routers: a path no route matches.
pub async fn unknown_route() -> ApiError {
    ApiError::NotFound { what: "route" }
}

/// The method fallback of both routers: the path exists, the method does not.
pub async fn wrong_method() -> ApiError {
    ApiError::MethodNotAllowed
}

/// `{"items": [...], "next_cursor": ...}` of every listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listing<T> {
    pub items: Vec<T>,
    /// The cursor of the next page; null on the last one.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl<T> Listing<T> {
    pub fn new(items: Vec<T>, next: Option<Cursor>) -> Self {
        Self {
            items,
            next_cursor: next.map(|c| c.token().to_owned()),
        }
    }
}

/// An ok JSON answer.
pub fn ok<T: Serialize>(value: T) -> Response {
    (StatusCode::OK, Json(value)).into_response()
}

/// Logs one line per request (method, route template, status, latency) without the path's
/// values or the body: paths can hold jkos ids and codes.
pub async fn access_log(
    matched: Option<axum::extract::MatchedPath>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().clone();
    let route = matched
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    // The matched route's template (never the path with its values) goes into the request's
    // span in Lambda; the line below repeats it (and the method) so that it stands alone where
    // there is no such span (the local gateway).
    tracing::Span::current().record("route", route.as_str());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if status >= 500 {
        tracing::error!(%method, route, status, elapsed_ms, "request");
    } else {
        tracing::info!(%method, route, status, elapsed_ms, "request");
    }
    response
}

pub(crate) fn json_value_placeholders(
    value: &serde_json::Value,
    fill: &dyn Fn(&str) -> String,
) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(fill(s)),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| json_value_placeholders(v, fill))
            .collect(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), json_value_placeholders(v, fill)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}
