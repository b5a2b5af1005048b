//! The local API gateway over real HTTP: the JWT authorizer (signature, issuer, audience,
//! expiry, admin scope) and the payload 2.0 hand-off to both routers, as the README's curl
//! examples use it. Also: the OpenAPI document is the one the code derives, and says what the
//! API answers.

use referral_devkit::gateway::{Authorizer, Gateway};
use referral_tests::http_support::Api;
use serde_json::{Value, json};
use std::sync::Arc;

async fn start(api: &Api, authorizer: Authorizer) -> String {
    let gateway = Gateway {
        app: api.app.clone(),
        admin: api.admin.clone(),
        links: api.links.clone(),
        authorizer: Arc::new(authorizer),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway.serve(listener));
    base
}

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        // curl -d's content type: the API parses JSON whatever the header says.
        request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
    )
}

#[tokio::test]
async fn the_local_gateway_plays_the_jwt_authorizer() {
    let api = Api::new().await;
    let key = Authorizer::new(b"test-signing-key".to_vec());
    let base = start(&api, key.clone()).await;
    let client = reqwest::Client::new();
    let hour = chrono::Duration::hours(1);
    let member = key.mint("jk-gw-1", &[], hour).unwrap();
    let admin_token = key
        .mint("ops-1", &["openid", "referral.admin"], hour)
        .unwrap();
    let check = format!("{base}/v1/referralCode/check");
    let code = Some(r#"{"code":"SHARE888"}"#);

    let (status, body) = send(&client, reqwest::Method::POST, &check, Some(&member), code).await;
    assert_eq!((status, body), (200, json!({"valid": true})));

    // The authorizer's own answers, before any function runs.
    let forged = Authorizer::new(b"another-key".to_vec())
        .mint("jk-gw-1", &[], hour)
        .unwrap();
    let expired = key
        .mint("jk-gw-1", &[], chrono::Duration::hours(-2))
        .unwrap();
    for token in [
        None,
        Some("not-a-jwt"),
        Some(forged.as_str()),
        Some(expired.as_str()),
    ] {
        let (status, body) = send(&client, reqwest::Method::POST, &check, token, code).await;
        assert_eq!(
            (status, body),
            (401, json!({"message": "Unauthorized"})),
            "{token:?}"
        );
    }
    let events = format!("{base}/admin/v1/events?type=PERSONAL");
    let (status, body) = send(&client, reqwest::Method::GET, &events, Some(&member), None).await;
    assert_eq!((status, body), (403, json!({"message": "Forbidden"})));
    let (status, body) = send(
        &client,
        reqwest::Method::GET,
        &events,
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["event_id"], "personal");
    let (status, _) = send(
        &client,
        reqwest::Method::GET,
        &format!("{base}/elsewhere"),
        Some(&member),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Past the authorizer, the function's own errors in the one shape; the query string
    // reaches the router.
    let (status, body) = send(
        &client,
        reqwest::Method::GET,
        &format!("{base}/v1/referral/me?limit=0"),
        Some(&member),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].is_string());
    let (status, body) = send(
        &client,
        reqwest::Method::GET,
        &format!("{base}/v1/referral/me?limit=1"),
        Some(&member),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["referees"], json!([]));
}

/// The documented rules of API Gateway's JWT authorizer (docs/api.md cites them), each over
/// real HTTP through the local gateway: no leeway on `exp`; `nbf` and `iat` honoured; the token
/// with or without `Bearer `; a `kid` naming the key; `aud`, or `client_id` without `aud`;
/// scopes from `scope` or `scp`, string or list, for the admin routes.
#[tokio::test]
async fn the_local_gateway_applies_the_documented_authorizer_rules() {
    let api = Api::new().await;
    let key = Authorizer::new(b"test-signing-key".to_vec());
    let base = start(&api, key.clone()).await;
    let client = reqwest::Client::new();
    let hour = chrono::Duration::hours(1);
    let now = chrono::Utc::now().timestamp();
    // A fresh member per token: the check route limits each member to a few calls a minute.
    let members = std::sync::atomic::AtomicUsize::new(0);
    let with = |claims: Value| -> String {
        let n = members.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        key.mint_with(
            &format!("jk-gw-rule-{n}"),
            &[],
            hour,
            claims.as_object().unwrap(),
        )
        .unwrap()
    };
    let check = format!("{base}/v1/referralCode/check");
    let body = r#"{"code":"SHARE888"}"#;
    let code = Some(body);
    let unauthorized = (401, json!({"message": "Unauthorized"}));

    let refused = [
        (
            "exp one second ago (no leeway)",
            with(json!({"exp": now - 1})),
        ),
        ("exp now (must be after now)", with(json!({"exp": now}))),
        ("no exp", with(json!({"exp": null}))),
        ("nbf in a minute", with(json!({"nbf": now + 60}))),
        ("iat in a minute", with(json!({"iat": now + 60}))),
        ("exp not a number", with(json!({"exp": "tomorrow"}))),
        ("another issuer", with(json!({"iss": "https://elsewhere"}))),
        ("another audience", with(json!({"aud": "other-api"}))),
        (
            "aud wins over client_id",
            with(json!({"aud": "other-api", "client_id": "referral-svc"})),
        ),
        ("neither aud nor client_id", with(json!({"aud": null}))),
        (
            "no kid",
            key.sign(
                None,
                &json!({"iss": referral_devkit::gateway::LOCAL_ISSUER, "aud": "referral-svc",
                        "sub": "jk-gw-2", "exp": now + 600})
                .as_object()
                .unwrap()
                .clone(),
            )
            .unwrap(),
        ),
        (
            "another kid",
            key.sign(
                Some("rotated-away"),
                &json!({"iss": referral_devkit::gateway::LOCAL_ISSUER, "aud": "referral-svc",
                        "sub": "jk-gw-2", "exp": now + 600})
                .as_object()
                .unwrap()
                .clone(),
            )
            .unwrap(),
        ),
    ];
    for (why, token) in &refused {
        let (status, body) = send(&client, reqwest::Method::POST, &check, Some(token), code).await;
        assert_eq!((status, body), unauthorized, "{why}");
    }
    // The 401 says why, as API Gateway's www-authenticate header does.
    let response = client
        .post(&check)
        .bearer_auth(&refused[0].1)
        .body(body)
        .send()
        .await
        .unwrap();
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("expired"), "{challenge}");

    let accepted = [
        (
            "nbf and iat just past",
            with(json!({"nbf": now - 1, "iat": now - 1})),
        ),
        (
            "client_id when there is no aud",
            with(json!({"aud": null, "client_id": "referral-svc"})),
        ),
        (
            "aud as a list",
            with(json!({"aud": ["other-api", "referral-svc"]})),
        ),
    ];
    for (why, token) in &accepted {
        let (status, body) = send(&client, reqwest::Method::POST, &check, Some(token), code).await;
        assert_eq!((status, body), (200, json!({"valid": true})), "{why}");
    }

    // The identity source holds the token alone or after `Bearer `.
    let member = with(json!({}));
    let answer = client
        .post(&check)
        .header("authorization", &member)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "a token without the Bearer prefix");
    let answer = client
        .post(&check)
        .header("authorization", "Bearer ")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401, "Bearer and no token");

    // The authorizer does not need `sub`; the function does, and answers in its own shape.
    let (status, body) = send(
        &client,
        reqwest::Method::POST,
        &check,
        Some(&with(json!({"sub": null}))),
        code,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthenticated", "{body}");

    // Admin routes: referral.admin from `scope` or `scp`, a string or a list; look-alikes not.
    let events = format!("{base}/admin/v1/events?type=PERSONAL");
    for (claims, expect) in [
        (json!({"scp": "referral.admin"}), 200),
        (json!({"scp": "openid referral.admin"}), 200),
        (json!({"scp": ["openid", "referral.admin"]}), 200),
        (json!({"scope": ["referral.admin"]}), 200),
        (json!({"scope": "openid", "scp": ["referral.admin"]}), 200),
        (json!({"scp": "referral.admins"}), 403),
        (json!({"scp": ["referral.admins", "openid"]}), 403),
        (json!({"scp": ["referral.admin.read"]}), 403),
        (json!({"scp": "[referral.admin]"}), 403),
        (json!({"scope": "referral", "scp": []}), 403),
    ] {
        let token = key
            .mint_with("ops-2", &[], hour, claims.as_object().unwrap())
            .unwrap();
        let (status, body) = send(&client, reqwest::Method::GET, &events, Some(&token), None).await;
        assert_eq!(status, expect, "{claims}: {body}");
        if expect == 403 {
            assert_eq!(body, json!({"message": "Forbidden"}));
        } else {
            assert_eq!(body["items"][0]["event_id"], "personal", "{claims}");
        }
    }
}

/// The claims reach the function as API Gateway renders them in a payload 2.0 event: every
/// value a string, a list as `[a b]`.
#[tokio::test]
async fn claims_reach_the_function_as_api_gateway_renders_them() {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    // A "function" that answers with the claims it was handed.
    let echo = axum::Router::new().fallback(|request: axum::extract::Request| async move {
        let claims = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| json!(jwt.claims)),
            _ => None,
        };
        axum::Json(claims.unwrap_or(Value::Null))
    });
    let key = Authorizer::new(b"test-signing-key".to_vec());
    let gateway = Gateway {
        app: echo.clone(),
        admin: echo.clone(),
        links: echo,
        authorizer: Arc::new(key.clone()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway.serve(listener));
    let token = key
        .mint_with(
            "ops-3",
            &[],
            chrono::Duration::hours(1),
            json!({
                "scp": ["openid", "referral.admin"],
                "aud": ["referral-svc", "other"],
                "email_verified": true,
                "nbf": 1_700_000_000,
            })
            .as_object()
            .unwrap(),
        )
        .unwrap();
    let (status, claims) = send(
        &reqwest::Client::new(),
        reqwest::Method::GET,
        &format!("{base}/admin/v1/anything"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(claims["scp"], "[openid referral.admin]");
    assert_eq!(claims["aud"], "[referral-svc other]");
    assert_eq!(claims["email_verified"], "true");
    assert_eq!(claims["nbf"], "1700000000");
    assert_eq!(claims["sub"], "ops-3");
    assert!(claims["exp"].as_str().unwrap().parse::<i64>().is_ok());
}

/// `docs/openapi.yaml` is exactly what the code derives (`referral-dev openapi`), so it cannot
/// drift from the routes, bodies and answers again.
#[test]
fn the_committed_openapi_document_is_the_one_the_code_derives() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml");
    let committed = std::fs::read_to_string(path).unwrap();
    let derived = referral_shared::api::openapi_yaml().unwrap();
    assert!(
        committed == derived,
        "docs/openapi.yaml differs from the code's document; regenerate it with \
         `cargo run -p referral-devkit --bin referral-dev -- openapi > docs/openapi.yaml`"
    );
}

/// The documented operations, as (METHOD, path template).
fn documented_operations() -> Vec<(String, String)> {
    let doc = serde_json::to_value(referral_shared::api::openapi()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut operations = Vec::new();
    for (route, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                operations.push((method.to_uppercase(), route.clone()));
            }
        }
    }
    operations.sort();
    operations
}

/// Every documented operation is served (none answers 405 or "route not found"), and the
/// document covers both APIs.
#[tokio::test]
async fn every_documented_operation_is_served() {
    let operations = documented_operations();
    let mut listed: Vec<(String, String)> = referral_shared::api::app::ROUTES
        .iter()
        .chain(referral_shared::api::admin::ROUTES)
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    listed.sort();
    assert_eq!(operations, listed);
    let api = Api::new().await;
    for (method, route) in operations {
        let path = route
            .replace("{event_id}", "personal")
            .replace("{source}", "member:demo-referrer")
            .replace("{code}", "SHARE888")
            .replace("{reward_id}", "nobody-referrer");
        let claims = if path.starts_with("/admin") {
            referral_tests::http_support::admin()
        } else {
            referral_tests::http_support::member("jk-doc")
        };
        let body = matches!(method.as_str(), "POST" | "PUT").then_some("{}");
        let router = if path.starts_with("/admin") {
            &api.admin
        } else {
            &api.app
        };
        let answer = referral_tests::http_support::call(router, &method, &path, body, claims).await;
        assert_ne!(answer.status, 405, "{method} {route}");
        assert_ne!(
            answer.body["error"]["message"], "route not found",
            "{method} {route}"
        );
    }
}

/// What schemathesis found: the document now says what the API does.
#[test]
fn the_document_describes_the_wire() {
    let doc = serde_json::to_value(referral_shared::api::openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    // 401/403 are the gateway's `{"message"}` (or the function's error shape).
    let unauthorized = &doc["components"]["responses"]["Unauthorized"];
    assert_eq!(
        unauthorized["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Refusal"
    );
    assert_eq!(
        schemas["GatewayMessage"]["required"],
        json!(["message"]),
        "{}",
        schemas["GatewayMessage"]
    );
    // An event answer nests the event's own fields under `event`.
    let config = &schemas["EventConfig"];
    assert!(config["properties"]["event"].is_object(), "{config}");
    assert!(config["properties"]["name"].is_null(), "{config}");
    // Constraints the API enforces.
    let code = &schemas["ReferralCode"]["pattern"];
    assert!(code.as_str().unwrap().contains("{4,10}"), "{code}");
    assert!(
        schemas["WindowId"]["pattern"]
            .as_str()
            .unwrap()
            .contains("{1,64}")
    );
    assert!(
        schemas["RewardId"]["pattern"]
            .as_str()
            .unwrap()
            .contains("(?:referrer|referee)")
    );
    // Unknown body fields are refused.
    for body in ["CheckRequest", "NewEvent", "EventChange", "NewCode"] {
        assert_eq!(schemas[body]["additionalProperties"], false, "{body}");
    }
    // A replace states every collection.
    assert_eq!(
        schemas["EventChange"]["required"],
        json!(["name", "contents", "copywriting", "notifications"])
    );
    // Admin routes ask for the scope.
    let security = &doc["paths"]["/admin/v1/rewards"]["get"]["security"];
    assert_eq!(security, &json!([{"jwt": ["referral.admin"]}]));
}

/// An empty `cursor=` is a bad query parameter, as the document says (`invalid_query`), and a
/// JSON array is not a check body.
#[tokio::test]
async fn query_and_body_errors_are_the_documented_ones() {
    let api = Api::new().await;
    let member = || referral_tests::http_support::member("jk-doc-errors");
    let answer = referral_tests::http_support::call(
        &api.app,
        "GET",
        "/v1/referral/me?cursor=",
        None,
        member(),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "invalid_query");
    assert_eq!(answer.body["error"]["field"], "cursor");
    let answer = referral_tests::http_support::call(
        &api.app,
        "GET",
        "/v1/referral/me?limit=0",
        None,
        member(),
    )
    .await;
    assert_eq!(
        (
            answer.body["error"]["code"].as_str(),
            answer.body["error"]["field"].as_str()
        ),
        (Some("invalid_query"), Some("limit"))
    );
    let answer = referral_tests::http_support::call(
        &api.app,
        "POST",
        "/v1/referralCode/check",
        Some(r#"["SHARE888"]"#),
        member(),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "invalid_json");
}

/// The sample API Gateway events in `events/` (for `cargo lambda invoke --data-file`) are
/// real payload 2.0 events the functions answer.
#[tokio::test]
async fn the_sample_api_gateway_events_are_answered() {
    use tower::ServiceExt;
    let api = Api::new().await;
    for (file, admin_api, expect) in [
        ("apigw-check-code.json", false, json!({"valid": true})),
        ("apigw-my-referral.json", false, Value::Null),
        (
            "apigw-admin-fail-rewards.json",
            true,
            json!({"items": [], "next_cursor": null}),
        ),
    ] {
        let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let request = lambda_http::request::from_str(&text).unwrap();
        let router = if admin_api { &api.admin } else { &api.app };
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200, "{file}");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        if expect.is_null() {
            assert_eq!(body["code"], "SHARE888", "{file}: {body}");
        } else {
            assert_eq!(body, expect, "{file}");
        }
    }
}

/// The share link needs no token: the gateway hands `GET|HEAD /r/{code}` to the share-link
/// router without reading `Authorization`, and the visitor gets its 302 (the README's curl).
#[tokio::test]
async fn the_local_gateway_serves_the_share_link_without_a_token() {
    use referral_shared::store::prelude::*;
    let api = Api::new().await;
    let base = start(&api, Authorizer::new(b"test-signing-key".to_vec())).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let response = client
            .request(method.clone(), format!("{base}/r/share-888"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302, "{method}");
        // The code arrives at the landing page, normalized (the README's demo).
        assert_eq!(
            response.headers()["location"],
            "https://app.example.com/join?code=SHARE888",
            "{method}"
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    // A bad token changes nothing: the route has no authorizer.
    let response = client
        .get(format!("{base}/r/SHARE888"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    // Other methods and deeper paths under /r/ are not routes of the HTTP API.
    let response = client
        .post(format!("{base}/r/SHARE888"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let code = referral_shared::ReferralCode::parse("SHARE888").unwrap();
    let from = referral_shared::Day::parse("2000-01-01").unwrap();
    let to = referral_shared::Day::parse("2100-01-01").unwrap();
    let clicks = api.table.store.code_clicks(&code, from, to).await.unwrap();
    assert_eq!(
        clicks.values().sum::<u64>(),
        2,
        "the two GETs, not the HEAD"
    );
}
