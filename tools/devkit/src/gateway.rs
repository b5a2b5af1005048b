//! A local stand-in for API Gateway's HTTP API in front of the two HTTP functions, so the
//! routers run locally exactly as Lambda runs them:
//! - the JWT authorizer: `Authorization: Bearer <jwt>` verified (HS256 with a local key, issuer
//!   and audience checked, expiry enforced); failures answer like API Gateway does
//!   (401 `{"message":"Unauthorized"}`); the admin routes also need the `referral.admin`
//!   scope, as the template's `AuthorizationScopes` ask (403 `{"message":"Forbidden"}`);
//! - the integration: the request becomes a payload 2.0 event (claims as strings under
//!   `requestContext.authorizer.jwt.claims`), which `lambda_http` turns into the request the
//!   router sees, the same conversion as in Lambda.
//!
//! Production verifies the tokens of the real identity provider (issuer + audience in the
//! template); this key signs local tokens only.

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
/// API Gateway's request payload limit.
pub const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

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
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": LOCAL_ISSUER,
            "aud": LOCAL_AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + ttl.num_seconds(),
        });
        if !scopes.is_empty() {
            claims["scope"] = Value::String(scopes.join(" "));
        }
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.secret),
        )?)
    }

    /// The claims of a valid token, as API Gateway hands them to the function: every value a
    /// string (arrays as `[a b]`).
    pub fn verify(&self, token: &str) -> Option<HashMap<String, String>> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_audience(&[LOCAL_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(
            token,
            &DecodingKey::from_secret(&self.secret),
            &validation,
        )
        .ok()?;
        Some(
            data.claims
                .into_iter()
                .map(|(k, v)| (k, claim_string(&v)))
                .collect(),
        )
    }
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

/// One HTTP API in front of both functions, as `infra/template.yaml` declares it.
#[derive(Clone)]
pub struct Gateway {
    pub app: Router,
    pub admin: Router,
    pub authorizer: Arc<Authorizer>,
}

fn gateway_message(status: StatusCode, message: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(json!({ "message": message }).to_string()))
        .unwrap_or_default()
}

impl Gateway {
    /// Handles one HTTP request the way the HTTP API would.
    pub async fn handle(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();
        let (function, needs_admin) = if path.starts_with("/admin/v1/") {
            (&self.admin, true)
        } else if path.starts_with("/v1/") {
            (&self.app, false)
        } else {
            return gateway_message(StatusCode::NOT_FOUND, "Not Found");
        };
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(claims) = token.and_then(|t| self.authorizer.verify(t.trim())) else {
            return gateway_message(StatusCode::UNAUTHORIZED, "Unauthorized");
        };
        if needs_admin
            && !claims
                .get("scope")
                .is_some_and(|s| s.split_whitespace().any(|s| s == "referral.admin"))
        {
            return gateway_message(StatusCode::FORBIDDEN, "Forbidden");
        }
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

/// Both routers wired from the environment, as the functions wire themselves.
pub async fn from_env(authorizer: Authorizer) -> Result<Gateway> {
    use referral_shared::api::{admin, app};
    let store = referral_shared::config::dynamo_store_from_env().await?;
    let store: Arc<dyn referral_shared::store::ReferralStore> = Arc::new(store);
    let sdk = referral_shared::config::aws_sdk_config().await;
    let queue = referral_shared::queue::SqsPayoutQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        referral_shared::config::required("PAYOUT_QUEUE_URL")?,
    );
    Ok(Gateway {
        app: app::router(store.clone(), app::AppSettings::from_env()?),
        admin: admin::router(store, Arc::new(queue)),
        authorizer: Arc::new(authorizer),
    })
}
