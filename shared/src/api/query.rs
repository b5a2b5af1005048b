//! Unknown query parameters are refused on every route of both APIs, from one place: the
//! layer below, which knows each route's parameters from the OpenAPI document its router was
//! built with.

use super::ApiError;
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The query parameters each route takes, read from the OpenAPI document its router was built
/// with (the `params(...)` of its `#[utoipa::path]`, the same types its handler decodes): the
/// one place that knows them. Keyed by method and route template (`/admin/v1/events/{event_id}`).
pub(super) struct QueryParameters(HashMap<(axum::http::Method, String), HashSet<String>>);

impl QueryParameters {
    pub(super) fn of(doc: &utoipa::openapi::OpenApi) -> Self {
        use utoipa::openapi::path::ParameterIn;
        let mut known = HashMap::new();
        for (path, item) in &doc.paths.paths {
            let operations = [
                (axum::http::Method::GET, &item.get),
                (axum::http::Method::POST, &item.post),
                (axum::http::Method::PUT, &item.put),
                (axum::http::Method::PATCH, &item.patch),
                (axum::http::Method::DELETE, &item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let names = (item.parameters.iter().flatten())
                    .chain(operation.parameters.iter().flatten())
                    .filter(|p| p.parameter_in == ParameterIn::Query)
                    .map(|p| p.name.clone())
                    .collect();
                known.insert((method, path.clone()), names);
            }
        }
        Self(known)
    }

    /// The parameters of `route` (HEAD is GET's); None for a route the document does not list.
    fn of_route(&self, method: &axum::http::Method, route: &str) -> Option<&HashSet<String>> {
        let method = if method == axum::http::Method::HEAD {
            &axum::http::Method::GET
        } else {
            method
        };
        self.0.get(&(method.clone(), route.to_owned()))
    }
}

/// Refuses a query parameter the matched route does not document (docs/api.md: unknown query
/// parameters are refused, so `?source=someone-else` is an error, never silently ignored), for
/// every route of both APIs, before the handler runs. The parameter is named when it is a
/// plain name (a key could be a phone number); its value never is.
pub(super) async fn refuse_unknown_query(
    axum::extract::State(known): axum::extract::State<Arc<QueryParameters>>,
    matched: Option<axum::extract::MatchedPath>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let allowed = matched.and_then(|m| known.of_route(request.method(), m.as_str()));
    if let (Some(allowed), Some(query)) = (allowed, request.uri().query()) {
        let unknown = form_urlencoded::parse(query.as_bytes())
            .map(|(name, _)| name)
            .find(|name| !allowed.contains(name.as_ref()));
        if let Some(name) = unknown {
            let name = if crate::decode::is_plain_name(&name) {
                name.into_owned()
            } else {
                "?".to_owned()
            };
            return ApiError::Invalid {
                code: "invalid_query",
                message: "is not a query parameter of this route".into(),
                field: Some(name),
            }
            .into_response();
        }
    }
    next.run(request).await
}
