//! Who calls: the verified claims API Gateway's JWT authorizer put on the request, taken
//! verbatim (docs/api.md). The member is the `sub` claim; an admin has [`ADMIN_SCOPE`] among
//! the token's scopes.

use super::{ADMIN_SCOPE, ApiError};
use crate::domain::JkosId;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use std::collections::HashMap;

/// The verified claims API Gateway's JWT authorizer put on the request (payload 2.0:
/// `requestContext.authorizer.jwt.claims`). Absent when the request did not come through it.
fn claims(parts: &Parts) -> Option<&HashMap<String, String>> {
    match parts.extensions.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => Some(&ctx.authorizer.as_ref()?.jwt.as_ref()?.claims),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The member calling the app API: the `sub` claim, a jkos id, exactly as the token carries
/// it. A `sub` that is not a jkos id as written (`" demo-referrer"`, `"demo-referrer\n"`) is
/// 401: never trimmed into someone else's id.
#[derive(Debug, Clone)]
pub struct Member(pub JkosId);

impl<S: Send + Sync> FromRequestParts<S> for Member {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let sub = claims(parts)
            .and_then(|c| c.get("sub"))
            .ok_or(ApiError::Unauthenticated)?;
        JkosId::parse_exact(sub)
            .map(Member)
            .map_err(|_| ApiError::InvalidSubject)
    }
}

/// An admin of the micro-admin web: any subject with [`ADMIN_SCOPE`] among the token's scopes
/// ([`token_scopes`]).
#[derive(Debug, Clone)]
pub struct Admin {
    pub subject: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let claims = claims(parts).ok_or(ApiError::Unauthenticated)?;
        let subject = claims
            .get("sub")
            .filter(|s| !s.trim().is_empty())
            .ok_or(ApiError::Unauthenticated)?;
        if token_scopes(claims).any(|s| s == ADMIN_SCOPE) {
            Ok(Admin {
                subject: subject.clone(),
            })
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// The scopes of the verified token, from the two claims API Gateway's JWT authorizer reads
/// scopes from: `scope` and `scp` (Okta and Entra ID send `scp`). Each is a list of scope
/// tokens separated by the ASCII space (RFC 6749 3.3: `scope-token *( SP scope-token )`), or
/// a list claim, which API Gateway hands over as one string `[a b]` (docs/api.md). Taken
/// verbatim: nothing trimmed, no other blank separates, so `"referral.admin\u{a0}"` is not
/// `referral.admin`.
fn token_scopes(claims: &HashMap<String, String>) -> impl Iterator<Item = &str> {
    ["scope", "scp"]
        .into_iter()
        .filter_map(|name| claims.get(name))
        .flat_map(|value| {
            value
                .strip_prefix('[')
                .and_then(|inner| inner.strip_suffix(']'))
                .unwrap_or(value)
                .split(' ')
                .filter(|token| !token.is_empty())
        })
}
