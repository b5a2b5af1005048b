//! A local stand-in for API Gateway's HTTP API in front of the two HTTP functions, so the
//! routers run locally exactly as Lambda runs them:
//! - the JWT authorizer, following the documented rules of API Gateway's JWT authorizers
//!   (docs/api.md cites them): the token from `Authorization`, with or without `Bearer `; a
//!   `kid` naming the key; signature; `iss`; `aud` (or `client_id` when there is no `aud`);
//!   `exp` after now, `nbf` and `iat` not after now, no leeway; and for the admin routes
//!   `referral.admin` among the scopes of `scope` or `scp` (a string or a list), as the
//!   template's `AuthorizationScopes` ask. Failures answer like API Gateway does: 401
//!   `{"message":"Unauthorized"}` with a `www-authenticate` header saying why, 403
//!   `{"message":"Forbidden"}` for a missing scope;
//! - the integration: the request becomes a payload 2.0 event (claims as API Gateway renders
//!   them under `requestContext.authorizer.jwt.claims`: every value a string, a list as
//!   `[a b]`), which `lambda_http` turns into the request the router sees, the same conversion
//!   as in Lambda.
//!
//! Production verifies the tokens of the real identity provider (issuer + audience in the
//! template, RSA keys from its JWKS); this HS256 key signs local tokens only.

use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

pub const LOCAL_ISSUER: &str = "https://referral-svc.local/issuer";
pub const LOCAL_AUDIENCE: &str = "referral-svc";
/// The id of the local signing key: a token's `kid` header must name it, as API Gateway
/// requires a `kid` matching a key of the issuer's JWKS.
pub const LOCAL_KEY_ID: &str = "referral-local-hs256";
/// The `AuthorizationScopes` of the admin routes (infra/template.yaml): a token needs at least
/// one of them; the app routes ask for none.
pub const ADMIN_ROUTE_SCOPES: &[&str] = &[referral_shared::api::ADMIN_SCOPE];
/// API Gateway's request payload limit.
pub const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// Why the authorizer refused a token: the `error_description` of the 401's
/// `www-authenticate` header (our wording; API Gateway's own is not documented for each case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied(pub &'static str);

/// Verifies and mints local tokens.
#[derive(Clone)]
pub struct Authorizer {
    secret: Vec<u8>,
}

impl Authorizer {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    /// The key in `path`, created (32 random bytes, hex) if it does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let key: [u8; 32] = rand::random();
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(path, hex).with_context(|| format!("writing {}", path.display()))?;
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Self::new(text.trim().as_bytes().to_vec()))
    }

    /// A token for `subject` with `scopes` (space-separated in `scope`), valid `ttl`.
    pub fn mint(&self, subject: &str, scopes: &[&str], ttl: chrono::Duration) -> Result<String> {
        self.mint_with(subject, scopes, ttl, &Map::new())
    }

    /// Like [`Authorizer::mint`], with `extra` claims set over the standard ones (`iss`, `aud`,
    /// `sub`, `iat`, `exp`, `scope`); a `null` removes a claim. For tokens as other identity
    /// providers shape them: `scp` as a string or a list, `nbf`, `client_id` instead of `aud`.
    pub fn mint_with(
        &self,
        subject: &str,
        scopes: &[&str],
        ttl: chrono::Duration,
        extra: &Map<String, Value>,
    ) -> Result<String> {
        let now = chrono::Utc::now().timestamp();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(LOCAL_ISSUER));
        claims.insert("aud".into(), json!(LOCAL_AUDIENCE));
        claims.insert("sub".into(), json!(subject));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ttl.num_seconds()));
        if !scopes.is_empty() {
            claims.insert("scope".into(), json!(scopes.join(" ")));
        }
        for (name, value) in extra {
            if value.is_null() {
                claims.remove(name);
            } else {
                claims.insert(name.clone(), value.clone());
            }
        }
        self.sign(Some(LOCAL_KEY_ID), &claims)
    }

    /// `claims` signed as they are with the local key (HS256), `kid` in the header if given.
    pub fn sign(&self, kid: Option<&str>, claims: &Map<String, Value>) -> Result<String> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        Ok(jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(&self.secret),
        )?)
    }

    /// The claims of `token` if API Gateway's JWT authorizer would accept it now.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, Denied> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// The claims of `token` if API Gateway's JWT authorizer would accept it at `now` (Unix
    /// seconds). The route's scopes are checked separately ([`token_scopes`]).
    pub fn verify_at(&self, token: &str, now: i64) -> Result<Map<String, Value>, Denied> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| Denied("the token is not a JWT"))?;
        if header.kid.as_deref() != Some(LOCAL_KEY_ID) {
            return Err(Denied("no key of the issuer matches the token's kid"));
        }
        // The library checks algorithm and signature only; the claims are checked below by
        // the authorizer's rules (its own exp check allows 60 s of leeway by default).
        let mut signature_only = Validation::new(Algorithm::HS256);
        signature_only.required_spec_claims.clear();
        signature_only.validate_exp = false;
        signature_only.validate_nbf = false;
        signature_only.validate_aud = false;
        signature_only.leeway = 0;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(
            token,
            &DecodingKey::from_secret(&self.secret),
            &signature_only,
        )
        .map_err(|_| Denied("the token's algorithm or signature is not valid"))?
        .claims;

        if claims.get("iss").and_then(Value::as_str) != Some(LOCAL_ISSUER) {
            return Err(Denied("the token does not have a valid issuer"));
        }
        // `aud` when present, else `client_id` (the troubleshooting page).
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == LOCAL_AUDIENCE,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(LOCAL_AUDIENCE)),
            Some(_) => false,
            None => claims.get("client_id").and_then(Value::as_str) == Some(LOCAL_AUDIENCE),
        };
        if !audience_ok {
            return Err(Denied("the token does not have a valid audience"));
        }
        let now = now as f64;
        match numeric_date(&claims, "exp")? {
            Some(exp) if exp > now => {}
            Some(_) => return Err(Denied("the token has expired")),
            None => return Err(Denied("the token has no exp claim")),
        }
        if numeric_date(&claims, "nbf")?.is_some_and(|nbf| nbf > now) {
            return Err(Denied("the token is not valid yet (nbf)"));
        }
        if numeric_date(&claims, "iat")?.is_some_and(|iat| iat > now) {
            return Err(Denied("the token was issued in the future (iat)"));
        }
        Ok(claims)
    }
}

/// A NumericDate claim (RFC 7519: seconds, possibly fractional), absent or malformed.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Denied> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or(Denied("a time claim (exp, nbf, iat) is not a number")),
    }
}

/// The token's scopes as API Gateway's JWT authorizer reads them: from `scope` and from
/// `scp`, each a string of scope tokens separated by the ASCII space (RFC 6749 3.3; no other
/// blank separates, nothing is trimmed: `"referral.admin\u{a0}"` is not `referral.admin`) or a
/// list of strings, each taken verbatim.
pub fn token_scopes(claims: &Map<String, Value>) -> Vec<&str> {
    ["scope", "scp"]
        .iter()
        .filter_map(|name| claims.get(*name))
        .flat_map(|value| match value {
            Value::String(s) => s.split(' ').filter(|t| !t.is_empty()).collect::<Vec<_>>(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The claims as API Gateway hands them to the function in a payload 2.0 event: every value
/// a string, numbers and booleans as their JSON text, a list as `[a b]` (its items joined by
/// spaces in brackets), an object as its JSON text.
pub fn event_claims(claims: &Map<String, Value>) -> HashMap<String, String> {
    claims
        .iter()
        .map(|(k, v)| (k.clone(), claim_string(v)))
        .collect()
}

fn claim_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(claim_string).collect::<Vec<_>>().join(" ")
        ),
        other => other.to_string(),
    }
}

/// The request a function sees for an HTTP request that passed the authorizer with `claims`
/// (None: no authorizer result, as for a route without one): built as a payload 2.0 event and
/// converted by `lambda_http`, the same code path as in Lambda.
pub fn lambda_request(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    claims: Option<&HashMap<String, String>>,
) -> Result<lambda_http::Request> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut header_map = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = value.to_str().unwrap_or_default().to_owned();
        if name == "cookie" {
            cookies.extend(value.split("; ").map(|c| Value::String(c.to_owned())));
            continue;
        }
        // API Gateway joins repeated headers with commas.
        match header_map.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                header_map.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let mut query_map: Map<String, Value> = Map::new();
    for (k, v) in url_pairs(query) {
        match query_map.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query_map.insert(k, Value::String(v));
            }
        }
    }
    let text_body = std::str::from_utf8(body).ok();
    let now = chrono::Utc::now();
    let authorizer = claims.map(|claims| json!({ "jwt": { "claims": claims, "scopes": null } }));
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": if cookies.is_empty() { Value::Null } else { Value::Array(cookies) },
        "headers": header_map,
        "queryStringParameters": if query_map.is_empty() { Value::Null } else { Value::Object(query_map) },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "authorizer": authorizer,
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("local"),
            },
            "requestId": uuid_like(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": if body.is_empty() { Value::Null } else {
            match text_body {
                Some(t) => Value::String(t.to_owned()),
                None => Value::String(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body)),
            }
        },
        "isBase64Encoded": !body.is_empty() && text_body.is_none(),
    });
    lambda_http::request::from_str(&event.to_string())
        .context("lambda_http refused the payload 2.0 event")
}

fn uuid_like() -> String {
    let n: u128 = rand::random();
    format!("{n:032x}")
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// One HTTP API in front of the three HTTP functions, as `infra/template.yaml` declares it:
/// `/v1/…` (app, JWT), `/admin/v1/…` (admin, JWT + scope) and `GET|HEAD /r/{code}` (the share
/// link, no authorizer).
#[derive(Clone)]
pub struct Gateway {
    pub app: Router,
    pub admin: Router,
    pub links: Router,
    pub authorizer: Arc<Authorizer>,
}

fn gateway_message(status: StatusCode, message: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(json!({ "message": message }).to_string()))
        .unwrap_or_default()
}

/// API Gateway's 401, with the `www-authenticate` header its troubleshooting page shows.
fn unauthorized(why: Denied) -> Response<Body> {
    let mut response = gateway_message(StatusCode::UNAUTHORIZED, "Unauthorized");
    let challenge = format!(
        "Bearer scope=\"\" error=\"invalid_token\" error_description=\"{}\"",
        why.0
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&challenge) {
        response.headers_mut().insert("www-authenticate", value);
    }
    response
}

/// The token in the identity source (`$request.header.Authorization`): the whole value, or
/// what follows `Bearer `.
fn identity_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let token = value.strip_prefix("Bearer ").unwrap_or(value).trim();
    (!token.is_empty()).then_some(token)
}

impl Gateway {
    /// Handles one HTTP request the way the HTTP API would.
    pub async fn handle(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();
        if is_share_link_route(&parts.method, path) {
            return self.share_link(parts).await;
        }
        let (function, route_scopes): (_, &[&str]) = if path.starts_with("/admin/v1/") {
            (&self.admin, ADMIN_ROUTE_SCOPES)
        } else if path.starts_with("/v1/") {
            (&self.app, &[])
        } else {
            return gateway_message(StatusCode::NOT_FOUND, "Not Found");
        };
        let Some(token) = identity_token(&parts.headers) else {
            return unauthorized(Denied("no token in the Authorization header"));
        };
        let claims = match self.authorizer.verify(token) {
            Ok(claims) => claims,
            Err(why) => return unauthorized(why),
        };
        if !route_scopes.is_empty()
            && !token_scopes(&claims)
                .iter()
                .any(|scope| route_scopes.contains(scope))
        {
            return gateway_message(StatusCode::FORBIDDEN, "Forbidden");
        }
        let claims = event_claims(&claims);
        let body: Bytes = match axum::body::to_bytes(body, MAX_PAYLOAD).await {
            Ok(b) => b,
            Err(_) => {
                return gateway_message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
            }
        };
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let request = match lambda_request(
            &parts.method,
            path_and_query,
            &parts.headers,
            &body,
            Some(&claims),
        ) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "could not build the Lambda event");
                return gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
            }
        };
        match function.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// The share link's routes have no authorizer: no token is read and the event carries
    /// no claims, as API Gateway sends it.
    async fn share_link(&self, parts: axum::http::request::Parts) -> Response<Body> {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let request = match lambda_request(&parts.method, path_and_query, &parts.headers, &[], None)
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "could not build the Lambda event");
                return gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
            }
        };
        match self.links.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// Serves until the process ends.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> Result<()> {
        let gateway = Arc::new(self);
        let app = Router::new().fallback(move |request: Request<Body>| {
            let gateway = gateway.clone();
            async move { gateway.handle(request).await }
        });
        axum::serve(listener, app).await?;
        Ok(())
    }
}

/// The template's share-link routes: `GET /r/{code}` and `HEAD /r/{code}` (one path segment).
/// Any other method or path under `/r/` is not a route of the HTTP API.
pub fn is_share_link_route(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && path
            .strip_prefix("/r/")
            .is_some_and(|code| !code.is_empty() && !code.contains('/'))
}

/// The three routers wired from the environment, as the functions wire themselves (their
/// typed configs, one SDK load).
pub async fn from_env(authorizer: Authorizer) -> Result<Gateway> {
    use referral_shared::api::{admin, app};
    use referral_shared::config::{AdminApiConfig, AppApiConfig, Clients, ShareLinkConfig};
    let app_config = AppApiConfig::from_env()?;
    let admin_config = AdminApiConfig::from_env()?;
    let link_config = ShareLinkConfig::from_env()?;
    let clients = Clients::load().await;
    let store = Arc::new(clients.store(&app_config.table_name));
    let queue = Arc::new(clients.payout_queue(&admin_config.payout_queue_url));
    let app_queue = Arc::new(clients.payout_queue(&app_config.payout_queue_url));
    Ok(Gateway {
        app: app::router(store.clone(), app_queue, app_config.settings),
        admin: admin::router(store.clone(), queue, admin_config.personal_event),
        links: referral_shared::share_link::router(store, link_config.settings),
        authorizer: Arc::new(authorizer),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn token(key: &Authorizer, claims: Value) -> String {
        let mut all =
            json!({"iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "sub": "s", "exp": NOW + 60});
        for (k, v) in claims.as_object().unwrap() {
            all[k] = v.clone();
        }
        key.sign(Some(LOCAL_KEY_ID), all.as_object().unwrap())
            .unwrap()
    }

    #[test]
    fn time_claims_are_checked_to_the_second_without_leeway() {
        let key = Authorizer::new(b"k".to_vec());
        let at = |claims| key.verify_at(&token(&key, claims), NOW).map(|_| ());
        assert!(at(json!({"exp": NOW + 1})).is_ok());
        assert_eq!(
            at(json!({"exp": NOW})),
            Err(Denied("the token has expired"))
        );
        assert!(at(json!({"exp": NOW as f64 + 0.5})).is_ok());
        assert!(at(json!({"nbf": NOW, "iat": NOW})).is_ok());
        assert!(at(json!({"nbf": NOW + 1})).is_err());
        assert!(at(json!({"iat": NOW + 1})).is_err());
        assert!(at(json!({"nbf": "soon"})).is_err());
    }

    #[test]
    fn scopes_come_from_scope_and_scp_as_strings_or_lists() {
        let claims = json!({"scope": "a b", "scp": ["c", "d"]});
        assert_eq!(
            token_scopes(claims.as_object().unwrap()),
            ["a", "b", "c", "d"]
        );
        let claims = json!({"scp": "c d", "scope": 7});
        assert_eq!(token_scopes(claims.as_object().unwrap()), ["c", "d"]);
    }

    /// Only the ASCII space separates scope tokens (RFC 6749 3.3), and nothing is trimmed: a
    /// look-alike with a no-break space or a tab is not `referral.admin`.
    #[test]
    fn scopes_are_split_on_the_ascii_space_only() {
        let claims =
            json!({"scope": "referral.admin\u{a0}  x\ty ", "scp": ["\u{2003}referral.admin"]});
        assert_eq!(
            token_scopes(claims.as_object().unwrap()),
            ["referral.admin\u{a0}", "x\ty", "\u{2003}referral.admin"]
        );
        assert!(
            !token_scopes(claims.as_object().unwrap()).contains(&referral_shared::api::ADMIN_SCOPE)
        );
    }
}
