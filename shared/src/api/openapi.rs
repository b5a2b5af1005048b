//! The OpenAPI document of both APIs, derived from the code: the routes and their
//! `#[utoipa::path]` annotations (collected by the same `OpenApiRouter` that builds the
//! routers, so a route cannot be served undocumented), the DTOs and domain values with their
//! rules as schemas, and here what is common: the error bodies, the gateway's own refusals,
//! the security scheme. `referral-dev openapi` writes it to `docs/openapi.yaml`; a test fails
//! when the committed file differs.

use super::{ADMIN_SCOPE, ErrorBody, MAX_BODY_BYTES};
use serde::Serialize;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};
use utoipa::{Modify, OpenApi as _, ToSchema};

/// Every `error.code` the functions answer with.
pub const ERROR_CODES: &[&str] = &[
    "invalid_json",
    "invalid_field",
    "invalid_query",
    "invalid_body",
    "invalid_header",
    "unauthenticated",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "event_exists",
    "window_in_use",
    "code_taken",
    "not_a_campaign",
    "already_paid",
    "claim_expired",
    "not_claimable",
    "claim_contended",
    "already_reviewed",
    "not_failed",
    "not_held",
    "precondition_failed",
    "precondition_required",
    "payload_too_large",
    "too_many_requests",
    "unavailable",
    "internal",
];

pub(super) fn error_code() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ERROR_CODES.iter().copied()))
        .build()
        .into()
}

/// `If-Match` of a replace: one or more entity-tags (RFC 9110), exactly as the replace reads
/// them. `*` is not one: it names no version (428), so the schema leaves it out.
pub(super) struct EntityTags;

impl utoipa::PartialSchema for EntityTags {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(
                r#"^[ \t]*(?:,[ \t]*)*(?:W/)?"[\x21\x23-\x7e]*"[ \t]*(?:,[ \t]*(?:(?:W/)?"[\x21\x23-\x7e]*"[ \t]*)?)*$"#,
            ))
            .description(Some("the `ETag` of the version this change replaces"))
            .into()
    }
}

impl ToSchema for EntityTags {}

/// What API Gateway's JWT authorizer answers before any function runs: 401 for a missing or
/// invalid token, 403 for a token without the route's scope.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GatewayMessage {
    #[schema(examples("Unauthorized"))]
    message: String,
}

/// A refusal of the caller's identity: by the gateway (the usual case) or, when a request
/// reaches a function without the claims it needs, by the function in the error shape.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used: the gateway and `ApiError` write these bodies
pub(super) enum Refusal {
    Gateway(GatewayMessage),
    Function(ErrorBody),
}

fn json_response(description: &str, schema: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .into()
}

/// The reusable responses, named for `response = ...` in the path annotations.
macro_rules! responses {
    ($($name:ident: $description:expr, $schema:literal;)*) => {
        $(
            pub(crate) struct $name;
            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), json_response(&$description, $schema))
                }
            }
        )*
        fn reusable_responses() -> Vec<(&'static str, RefOr<Response>)> {
            vec![$((stringify!($name), json_response(&$description, $schema))),*]
        }
    };
}

responses! {
    BadRequest: "not JSON, a JSON body that is not an object, an invalid field (named in \
        `error.field`) or query parameter (`invalid_query`, named too)", "Error";
    Unauthorized: "no valid token: the gateway's `{\"message\":\"Unauthorized\"}` (or \
        `unauthenticated` from a function reached without a `sub` claim, or with one that is \
        not a jkos id as sent: nothing is trimmed off it)", "Refusal";
    Forbidden: format!("the token lacks the {ADMIN_SCOPE} scope: the gateway's \
        `{{\"message\":\"Forbidden\"}}` (or `forbidden` from the function itself)"), "Refusal";
    NotFound: "the event, code or reward named does not exist", "Error";
    Conflict: "exists already, or changed meanwhile (`error.code` says which)", "Error";
    PayloadTooLarge: format!("the body is over {MAX_BODY_BYTES} bytes"), "Error";
    Unavailable: "DynamoDB or SQS is briefly unavailable; retry later", "Error";
    PreconditionFailed: "`If-Match` is not the event's current `ETag`: reload and apply the \
        change again (`precondition_failed`)", "Error";
    PreconditionRequired: "`If-Match` is missing (`precondition_required`)", "Error";
}

/// 429 with the `Retry-After` header.
pub(crate) struct TooManyRequests;
impl<'r> utoipa::ToResponse<'r> for TooManyRequests {
    fn response() -> (&'r str, RefOr<Response>) {
        let RefOr::T(mut response) = json_response(
            "too many code checks this minute (`too_many_requests`)",
            "Error",
        ) else {
            unreachable!("json_response builds a response")
        };
        response.headers.insert(
            "Retry-After".into(),
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                )
                .description(Some("seconds until the next minute"))
                .build(),
        );
        ("TooManyRequests", response.into())
    }
}

struct SecurityAndResponses;

impl Modify for SecurityAndResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".into());
        bearer.description = Some(format!(
            "verified by API Gateway's JWT authorizer (locally by `referral-dev serve-api`); \
             the member is the `sub` claim; the admin routes need `{ADMIN_SCOPE}` in `scope`"
        ));
        components.add_security_scheme("jwt", SecurityScheme::Http(bearer));
        for (name, response) in reusable_responses() {
            components.responses.insert(name.into(), response);
        }
        let (name, response) = <TooManyRequests as utoipa::ToResponse>::response();
        components.responses.insert(name.into(), response);
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "referral-svc HTTP APIs",
        version = "1.0",
        description = "The app API (`/v1/...`, any member token) and the admin API \
            (`/admin/v1/...`, tokens with the `referral.admin` scope), both behind one API \
            Gateway HTTP API with a JWT authorizer. The member is always the token's `sub` \
            claim: no route takes a member id from the path, query or body. Errors of the \
            functions are `Error`; the gateway's own refusals (401, 403) are \
            `{\"message\": \"Unauthorized\" | \"Forbidden\"}`. Unknown body fields and query \
            parameters are refused (400).\n\nGenerated from the code (`referral-dev openapi`); \
            do not edit by hand."
    ),
    servers((url = "http://127.0.0.1:8474", description = "the local gateway (scripts/dev.sh)")),
    tags(
        (name = "app", description = "the app's routes, for the calling member"),
        (name = "admin", description = "the micro-admin web's routes")
    ),
    components(schemas(ErrorBody, GatewayMessage, Refusal)),
    modifiers(&SecurityAndResponses)
)]
struct ApiDoc;

/// The document as committed in `docs/openapi.yaml`.
pub fn openapi_yaml() -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    Ok(openapi().to_yaml()?)
}

/// The whole document: the common parts and both routers' routes.
pub fn openapi() -> OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::app::openapi());
    doc.merge(super::admin::openapi());
    document_query_refusal(&mut doc);
    doc
}

/// Every route of both APIs refuses an unknown query parameter with 400 (the one layer in
/// `api::api_router`), so every operation documents `BadRequest`, whether its own handler
/// answers 400 or not.
fn document_query_refusal(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .responses
                .responses
                .entry("400".to_owned())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name("BadRequest")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ERROR_CODES;

    /// The API modules' sources, where every `error.code` is written.
    const SOURCES: [&str; 12] = [
        include_str!("mod.rs"),
        include_str!("query.rs"),
        include_str!("identity.rs"),
        include_str!("app.rs"),
        include_str!("admin/mod.rs"),
        include_str!("admin/events.rs"),
        include_str!("admin/if_match.rs"),
        include_str!("admin/codes.rs"),
        include_str!("admin/overview.rs"),
        include_str!("admin/rewards.rs"),
        include_str!("json.rs"),
        include_str!("lambda.rs"),
    ];

    /// The query layer can refuse on any route: every operation documents a 400.
    #[test]
    fn every_operation_documents_the_query_refusal() {
        let doc = super::openapi();
        let mut operations = 0;
        for (path, item) in &doc.paths.paths {
            let all = [&item.get, &item.post, &item.put, &item.patch, &item.delete];
            for operation in all.into_iter().flatten() {
                operations += 1;
                assert!(
                    operation.responses.responses.contains_key("400"),
                    "{path} documents no 400"
                );
            }
        }
        assert!(operations > 20, "{operations}");
    }

    /// The documented codes are exactly the ones the code answers with: every `code: "…"`
    /// literal is documented, and every documented code is written somewhere (no stale one).
    #[test]
    fn the_documented_error_codes_are_the_ones_the_api_answers_with() {
        for source in SOURCES {
            for (i, _) in source.match_indices("code: \"") {
                let rest = &source[i + "code: \"".len()..];
                let code = &rest[..rest.find('"').unwrap()];
                assert!(
                    ERROR_CODES.contains(&code),
                    "{code} is answered but not documented"
                );
            }
        }
        for code in ERROR_CODES {
            let quoted = format!("\"{code}\"");
            assert!(
                SOURCES.iter().any(|s| s.contains(&quoted)),
                "{code} is documented but never answered"
            );
        }
    }
}
