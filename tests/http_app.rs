//! The app API over DynamoDB Local, each request delivered as Lambda delivers it (payload 2.0
//! event with the authorizer's claims, converted by lambda_http).

use referral_shared::store::prelude::*;
use referral_shared::*;
use referral_tests::fixtures::{self, at};
use referral_tests::http_support::{Api, CHECK_LIMIT, call, member, seed_referrer};
use serde_json::{Value, json};

const CHECK: &str = "/v1/referralCode/check";

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn check_answers_the_same_shape_for_valid_and_invalid_codes_and_names_no_owner() {
    let api = Api::new().await;
    // A CAMPAIGN code whose event has no window active now.
    let store = &api.table.store;
    let ended = fixtures::event("ended", EventType::Campaign);
    store.put_event(&ended).await.unwrap();
    store
        .put_content_window(
            &ended.event_id,
            &fixtures::content("old", at(1, 0), at(2, 0), "10"),
        )
        .await
        .unwrap();
    store
        .create_code(&fixtures::code_record(
            "QRD2345",
            "ended",
            "campaign:partner-x",
        ))
        .await
        .unwrap();

    let me = member("new-member-1");
    let valid = api
        .app("POST", CHECK, Some(r#"{"code":"share-888"}"#), me.clone())
        .await;
    assert_eq!(valid.status, 200);
    assert_eq!(valid.body, json!({"valid": true}));

    for code in ["NOPE2345", "0O1IL", "QRD2345", "a"] {
        let answer = api
            .app(
                "POST",
                CHECK,
                Some(&json!({ "code": code }).to_string()),
                me.clone(),
            )
            .await;
        assert_eq!(answer.status, 200, "{code}: {}", answer.body);
        assert_eq!(answer.body, json!({"valid": false}), "{code}");
        assert_eq!(keys(&answer.body), keys(&valid.body));
    }
    // The owner's own code is not valid for them (the consumer would reject it too).
    let own = api
        .app(
            "POST",
            CHECK,
            Some(r#"{"code":"SHARE888"}"#),
            member("demo-referrer"),
        )
        .await;
    assert_eq!(own.body, json!({"valid": false}));
    assert!(!valid.body.to_string().contains("demo-referrer"));

    // Budget: 1 counter update + 1 GetItem of the code (configuration cached).
    let (answer, trips) = api
        .table
        .round_trips
        .during(api.app(
            "POST",
            CHECK,
            Some(r#"{"code":"SHARE888"}"#),
            member("other-1"),
        ))
        .await;
    assert_eq!(answer.body, json!({"valid": true}));
    assert_eq!(trips, 2, "limiter write + code read");
}

#[tokio::test]
async fn the_check_limit_holds_per_member_across_instances() {
    let api = Api::new().await;
    let second_instance = Api::app_router(&api.table, &api.queue);
    // The counter is per minute: if the minute turns during the run, run it again.
    for attempt in 0..3 {
        let member_id = format!("limited-{attempt}");
        let minute = chrono::Utc::now().timestamp() / 60;
        for i in 0..CHECK_LIMIT {
            // Alternate instances: the count lives in DynamoDB, not in a process.
            let router = if i % 2 == 0 {
                &api.app
            } else {
                &second_instance
            };
            let answer = call(
                router,
                "POST",
                CHECK,
                Some(r#"{"code":"NOPE2345"}"#),
                member(&member_id),
            )
            .await;
            assert_eq!(answer.status, 200, "check {i}: {}", answer.body);
        }
        let limited = call(
            &second_instance,
            "POST",
            CHECK,
            Some(r#"{"code":"SHARE888"}"#),
            member(&member_id),
        )
        .await;
        let other = api
            .app(
                "POST",
                CHECK,
                Some(r#"{"code":"SHARE888"}"#),
                member("someone-else"),
            )
            .await;
        if chrono::Utc::now().timestamp() / 60 != minute {
            continue;
        }
        assert_eq!(limited.status, 429, "{}", limited.body);
        assert_eq!(limited.error_code(), "too_many_requests");
        let retry_after: u64 = limited.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(other.status, 200, "another member is not limited");
        return;
    }
    panic!("the minute turned during three attempts");
}

#[tokio::test]
async fn subtitle_and_event_detail_come_from_the_personal_events_active_copy() {
    let api = Api::new().await;
    let me = member("someone");
    let subtitle = api
        .app("GET", "/v1/referral/subtitle", None, me.clone())
        .await;
    assert_eq!(subtitle.status, 200);
    assert_eq!(
        subtitle.body,
        json!({"subtitle": {"text": "Invite friends, both of you get rewarded"}})
    );
    let detail = api.app("GET", "/v1/referral/event", None, me.clone()).await;
    assert_eq!(detail.status, 200);
    assert_eq!(
        keys(&detail.body),
        [
            "event_detail",
            "invite_steps",
            "kyc_validation",
            "share_message",
            "window"
        ]
    );
    assert_eq!(
        detail.body["window"],
        json!({"start": "2026-01-01T00:00:00.000Z", "end": "2031-01-01T00:00:00.000Z"})
    );
    assert_eq!(detail.body["invite_steps"]["steps"][0], "Share");
    assert!(
        detail.body["share_message"]["text"]
            .as_str()
            .unwrap()
            .contains("{code}")
    );

    // No PERSONAL event configured: the same shape with nulls, not an error.
    let bare = referral_tests::TestTable::create().await;
    let router = Api::app_router(&bare, &api.queue);
    let detail = call(&router, "GET", "/v1/referral/event", None, me.clone()).await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.body["window"], Value::Null);
    assert_eq!(detail.body["event_detail"], Value::Null);
    let subtitle = call(&router, "GET", "/v1/referral/subtitle", None, me).await;
    assert_eq!(subtitle.body, json!({"subtitle": null}));
}

#[tokio::test]
async fn my_referral_pages_through_my_referees_only_with_masked_phones() {
    let api = Api::new().await;
    let statuses = [RewardStatus::Success, RewardStatus::Pending];
    seed_referrer(&api, "jk-alice", "ACE23456", 5, statuses).await;
    seed_referrer(&api, "jk-bob", "BVB23456", 2, statuses).await;

    let alice = member("jk-alice");
    // Three people and a link preview open Alice's share link.
    for agent in ["Mozilla/5.0", "Mozilla/5.0", "curl/8", "WhatsApp/2.23"] {
        let visit = referral_tests::http_support::call_with(
            &api.links,
            "GET",
            "/r/ACE23456",
            None,
            None,
            &[("user-agent", agent)],
        )
        .await;
        assert_eq!(visit.status, 302);
    }
    // Warm this instance's configuration cache; from then on a page is one Query.
    api.app("GET", "/v1/referral/subtitle", None, alice.clone())
        .await;
    let mut referees = Vec::new();
    let mut path = "/v1/referral/me?limit=2".to_owned();
    let mut pages = 0;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    loop {
        let (page, trips) = api
            .table
            .round_trips
            .during(api.app("GET", &path, None, alice.clone()))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        if pages == 0 {
            // The first page also reads my code's clicks: one Query per click shard.
            let shards = usize::from(referral_shared::store::keys::CLICK_SHARDS);
            assert_eq!(
                trips,
                1 + shards,
                "collection page + click shards (config cached)"
            );
            // The PERSONAL event has no time zone: days in UTC.
            assert_eq!(
                page.body["clicks"],
                json!({"total": 3, "today": 3, "day": today})
            );
        } else {
            assert_eq!(trips, 1, "one Query page per request (config cached)");
            assert_eq!(
                page.body["clicks"],
                Value::Null,
                "clicks on the first page only"
            );
        }
        pages += 1;
        assert!(page.body["referees"].as_array().unwrap().len() <= 2);
        assert_eq!(page.body["code"], "ACE23456");
        assert_eq!(
            page.body["share_link"],
            "https://app.example.com/r/ACE23456"
        );
        assert_eq!(
            page.body["share_message"]["text"],
            "Join me on the app with my code ACE23456 and get a 100 coupon: https://app.example.com/r/ACE23456"
        );
        assert!(page.body["reminder_message"]["text"].is_string());
        referees.extend(page.body["referees"].as_array().unwrap().clone());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/referral/me?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert!(pages >= 3, "5 referees in pages of 2: {pages}");
    assert_eq!(referees.len(), 5);
    for (i, r) in referees.iter().enumerate() {
        assert_eq!(r["phone"], "0912***678");
        assert_eq!(r["code"], "ACE23456");
        assert_eq!(r["steps"]["code_used_at"], "2026-11-02T00:00:00.000Z");
        let kyc = &r["steps"]["kyc_passed_at"];
        assert_eq!(kyc.is_string(), i % 2 == 0, "{r}");
        // My reward (REFERRER side) only; the referee's own reward is not mine to see.
        assert_eq!(r["reward"]["status"], "SUCCESS");
        assert_eq!(r["reward"]["amount"], "50.00");
        let text = r.to_string();
        assert!(!text.contains("jk-acc"), "no referee jkos id: {text}");
        assert!(!text.contains("0912345678"), "no full phone: {text}");
    }

    // BOLA: Bob's view has only Bob's referees, whatever he passes.
    let bob = api
        .app("GET", "/v1/referral/me?limit=50", None, member("jk-bob"))
        .await;
    assert_eq!(bob.body["code"], "BVB23456");
    assert_eq!(bob.body["referees"].as_array().unwrap().len(), 2);
    assert!(!bob.body.to_string().contains("ACE23456"));
    // Alice's cursor replayed by Bob is refused, not served from Alice's collection.
    let first = api
        .app("GET", "/v1/referral/me?limit=1", None, alice.clone())
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let replay = api
        .app(
            "GET",
            &format!("/v1/referral/me?limit=1&cursor={cursor}"),
            None,
            member("jk-bob"),
        )
        .await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.error_field(), Some("cursor"));
    // Naming another member in the query or the body is not a way in either.
    for path in [
        "/v1/referral/me?source=jk-alice",
        "/v1/referral/me?jkos_id=jk-alice",
        "/v1/referral/me?sub=jk-alice",
    ] {
        let answer = api.app("GET", path, None, member("jk-bob")).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        assert!(!answer.body.to_string().contains("ACE23456"));
    }
    let answer = api
        .app(
            "POST",
            CHECK,
            Some(r#"{"code":"ACE23456","sub":"jk-alice"}"#),
            member("jk-alice-impostor"),
        )
        .await;
    assert_eq!(answer.status, 400, "unknown body fields are refused");

    // A member who is not a referrer yet: no code, no link, the reminder still.
    let newbie = api
        .app("GET", "/v1/referral/me", None, member("jk-new"))
        .await;
    assert_eq!(newbie.status, 200);
    assert_eq!(newbie.body["code"], Value::Null);
    assert_eq!(newbie.body["share_link"], Value::Null);
    assert_eq!(newbie.body["referees"], json!([]));
    assert_eq!(newbie.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn every_error_class_has_the_one_json_shape() {
    let api = Api::new().await;
    let me = member("someone");
    let shape = |answer: &referral_tests::http_support::Answer| {
        assert_eq!(keys(&answer.body), ["error"], "{}", answer.body);
        assert_eq!(keys(&answer.body["error"]), ["code", "field", "message"]);
    };

    // 401: no authorizer claims, or claims without a usable sub.
    for (method, path) in referral_shared::api::app::ROUTES {
        let body = (*method == "POST").then_some(r#"{"code":"SHARE888"}"#);
        let answer = api.app(method, path, body, None).await;
        assert_eq!(answer.status, 401, "{method} {path}");
        assert_eq!(answer.error_code(), "unauthenticated");
        shape(&answer);
    }
    let no_sub = Some(std::collections::HashMap::from([(
        "scope".to_owned(),
        "openid".to_owned(),
    )]));
    let answer = api.app("GET", "/v1/referral/me", None, no_sub).await;
    assert_eq!(answer.status, 401);

    // 400: bad JSON, a missing field, a wrong type, an over-long code, a bad limit or cursor.
    for (body, code, field) in [
        ("{not json", "invalid_json", None),
        ("", "invalid_json", None),
        ("{}", "invalid_field", Some("code")),
        (r#"{"code": 42}"#, "invalid_field", Some("code")),
        (
            &format!(r#"{{"code":"{}"}}"#, "A".repeat(65)),
            "invalid_field",
            Some("code"),
        ),
    ] {
        let answer = api.app("POST", CHECK, Some(body), me.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.error_code(), code, "{body}");
        assert_eq!(answer.error_field(), field, "{body}");
        shape(&answer);
    }
    let missing = api.app("POST", CHECK, Some("{}"), me.clone()).await;
    assert_eq!(missing.body["error"]["message"], "is required");
    for (path, field) in [
        ("/v1/referral/me?limit=0", None),
        ("/v1/referral/me?limit=51", Some("limit")),
        ("/v1/referral/me?cursor=bm90LWEtY3Vyc29y", Some("cursor")),
    ] {
        let answer = api.app("GET", path, None, me.clone()).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        if field.is_some() {
            assert_eq!(answer.error_field(), field, "{path}");
        }
        shape(&answer);
    }

    // 413: over the body limit, refused before parsing.
    let huge = format!(r#"{{"code":"{}"}}"#, "A".repeat(70 * 1024));
    let answer = api.app("POST", CHECK, Some(&huge), me.clone()).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.error_code(), "payload_too_large");
    shape(&answer);

    // 404 unknown route, 405 wrong method.
    let answer = api
        .app("GET", "/v1/referral/nothing", None, me.clone())
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code()),
        (404, "not_found")
    );
    shape(&answer);
    let answer = api.app("DELETE", "/v1/referral/me", None, me.clone()).await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code()),
        (405, "method_not_allowed")
    );
    shape(&answer);
    let answer = api.app("GET", CHECK, None, me.clone()).await;
    assert_eq!(answer.status, 405);

    // 500 for a stored item that does not map onto the domain: a fault, logged, not described.
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    api.table
        .client
        .put_item()
        .table_name(&api.table.name)
        .item("PK", Av::S("CODE#BRKN2345".into()))
        .item("SK", Av::S("#CODE".into()))
        .item("entity", Av::S("Code".into()))
        .item("code", Av::S("BRKN2345".into()))
        .send()
        .await
        .unwrap();
    let answer = api
        .app("POST", CHECK, Some(r#"{"code":"BRKN2345"}"#), me.clone())
        .await;
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert_eq!(answer.error_code(), "internal");
    assert_eq!(answer.body["error"]["message"], "internal error");
    shape(&answer);

    // 503 when DynamoDB is unreachable, with nothing internal in the body.
    api.table.round_trips.fail_after(0);
    let answer = api
        .app("POST", CHECK, Some(r#"{"code":"SHARE888"}"#), me.clone())
        .await;
    api.table.round_trips.heal();
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.error_code(), "unavailable");
    shape(&answer);
    let text = answer.body.to_string();
    for internal in ["injected", "DynamoDB", "dispatch", "LIMIT#", "test-"] {
        assert!(!text.contains(internal), "{internal} leaked: {text}");
    }
}
