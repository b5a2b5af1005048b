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

    // Budget: 1 counter update + 1 GetItem of the code (configuration cached) + the valid
    // check's funnel count (1 TransactWriteItems).
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
    assert_eq!(trips, 3, "limiter write + code read + funnel count");
    let (invalid, trips) = api
        .table
        .round_trips
        .during(api.app(
            "POST",
            CHECK,
            Some(r#"{"code":"QRD2345"}"#),
            member("other-1"),
        ))
        .await;
    assert_eq!(invalid.body, json!({"valid": false}));
    assert_eq!(trips, 2, "an invalid check is not counted");

    // The two valid checks (not the invalid ones, not the owner's) are in the funnel of the
    // code and of its event, on today's day (the event's time zone is UTC).
    let code = ReferralCode::parse("SHARE888").unwrap();
    let record = store.get_code(&code).await.unwrap().unwrap();
    let today = Day::from_date(chrono::Utc::now().date_naive());
    for scope in [
        FunnelScope::Code(record.event_id.clone(), code),
        FunnelScope::Event(record.event_id.clone()),
    ] {
        let days = store.funnel_days(&scope, today, today).await.unwrap();
        assert_eq!(
            days,
            vec![(today, StageCounts::from([("checks_valid".to_owned(), 2)]))],
            "{scope:?}"
        );
    }
    let ended = FunnelScope::Event(EventId::parse("ended").unwrap());
    assert_eq!(
        store
            .funnel_days(&ended, Day::FIRST, Day::LAST)
            .await
            .unwrap(),
        vec![]
    );
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
    // A valid check of Alice's code by someone: in her code's funnel.
    let check = api
        .app("POST", CHECK, Some(r#"{"code":"ACE23456"}"#), member("x-1"))
        .await;
    assert_eq!(check.body, json!({"valid": true}));
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
            // The overview stays one Query page (DESIGN.md): clicks and funnel are
            // /v1/referral/me/funnel's.
            assert_eq!(trips, 1, "one Query page (config cached)");
            assert_eq!(page.body.get("clicks"), None);
            assert_eq!(page.body.get("funnel"), None);
        } else {
            assert_eq!(trips, 1, "one Query page per request (config cached)");
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

    // My code's clicks and funnel: my code (1 Query), then the counters' and the clicks'
    // shards, concurrently.
    let (mine, trips) = api
        .table
        .round_trips
        .during(api.app("GET", "/v1/referral/me/funnel", None, alice.clone()))
        .await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    let shards = usize::from(referral_shared::store::keys::CLICK_SHARDS);
    let counters = usize::from(referral_shared::store::keys::FUNNEL_SHARDS);
    assert_eq!(
        trips,
        1 + counters + shards,
        "my code + counter shards + click shards"
    );
    assert_eq!(mine.body["code"], "ACE23456");
    // The PERSONAL event has no time zone: days in UTC. The preview was not counted.
    assert_eq!(
        mine.body["clicks"],
        json!({"total": 3, "today": 3, "day": today})
    );
    let funnel = &mine.body["funnel"];
    assert_eq!(funnel["total"]["clicks"], 3, "{funnel}");
    assert_eq!(funnel["total"]["checks_valid"], 1, "{funnel}");
    // Seeded referees were written by fixtures, not counted.
    assert_eq!(funnel["total"]["uses_accepted"], 0, "{funnel}");
    assert_eq!(
        funnel["conversion"][0],
        json!({"from": "clicks", "to": "checks_valid", "rate": "0.3333"})
    );
    assert_eq!(
        funnel["conversion"][1],
        json!({"from": "checks_valid", "to": "uses_accepted", "rate": "0.0000"})
    );
    assert_eq!(funnel["conversion"][2]["rate"], Value::Null);
    let stages = funnel["total"].as_object().unwrap();
    assert!(
        stages.keys().all(|s| !s.starts_with("rewards_REFEREE_")),
        "my referees' own rewards are not mine to see: {funnel}"
    );
    // A member without a code: nulls, after one Query.
    let (none, trips) = api
        .table
        .round_trips
        .during(api.app("GET", "/v1/referral/me/funnel", None, member("jk-nobody")))
        .await;
    assert_eq!(none.status, 200, "{}", none.body);
    assert_eq!(trips, 1);
    assert_eq!(
        none.body,
        json!({"code": null, "clicks": null, "funnel": null})
    );
    for (i, r) in referees.iter().enumerate() {
        assert_eq!(r["phone"], "0912***678");
        assert_eq!(r["code"], "ACE23456");
        assert_eq!(r["steps"]["code_used_at"], "2026-11-02T00:00:00.000Z");
        let kyc = &r["steps"]["kyc_passed_at"];
        assert_eq!(kyc.is_string(), i % 2 == 0, "{r}");
        // My reward (REFERRER side) only; the referee's own reward is not mine to see.
        assert_eq!(r["reward"]["status"], "SUCCESS");
        assert_eq!(r["reward"]["amount"], "50.00");
        // The checklist: the referee's steps and my reward, never theirs, never a detail.
        let checklist = r["checklist"].as_array().unwrap();
        let steps: Vec<&str> = checklist
            .iter()
            .map(|s| s["step"].as_str().unwrap())
            .collect();
        assert_eq!(
            steps,
            [
                "CODE_USED",
                "KYC_PASSED",
                "DEVICE_BOUND",
                "QUALIFIED",
                "REFERRER_REWARD"
            ]
        );
        assert_eq!(checklist[0]["state"], "DONE");
        assert_eq!(checklist[0]["at"], "2026-11-02T00:00:00.000Z");
        let kyc_done = if i % 2 == 0 { "DONE" } else { "WAITING" };
        assert_eq!(checklist[1]["state"], kyc_done, "{r}");
        assert_eq!(checklist[3]["state"], kyc_done, "{r}");
        assert_eq!(checklist[4]["state"], "DONE");
        assert_eq!(checklist[4]["reason"], "PAID");
        assert_eq!(checklist[4]["reward_status"], "SUCCESS");
        let text = r.to_string();
        assert!(
            !text.contains("PAYOUT_QUEUED"),
            "the referee's PENDING reward: {text}"
        );
        assert!(!text.contains("detail"), "{text}");
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

    // `sub` is taken verbatim: one that is not a jkos id as sent is nobody (401 in the same
    // shape), never trimmed into demo-referrer, who owns SHARE888.
    for sub in [
        " demo-referrer",
        "demo-referrer ",
        "demo-referrer\n",
        "\u{a0}demo-referrer",
        "demo-referrer\u{2003}",
        "",
        "demo referrer",
    ] {
        for (method, path) in referral_shared::api::app::ROUTES {
            let body = (*method == "POST").then_some(r#"{"code":"SHARE888"}"#);
            let answer = api.app(method, path, body, member(sub)).await;
            assert_eq!(
                answer.status, 401,
                "{sub:?} {method} {path}: {}",
                answer.body
            );
            assert_eq!(answer.error_code(), "unauthenticated");
            shape(&answer);
            assert!(!answer.body.to_string().contains("SHARE888"), "{sub:?}");
        }
    }
    let answer = api
        .app("GET", "/v1/referral/me", None, member("demo-referrer"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["code"], "SHARE888");

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

#[tokio::test]
async fn my_registration_is_my_own_found_by_my_token_in_one_query() {
    let api = Api::new().await;
    seed_referrer(
        &api,
        "jk-alice",
        "ACE23456",
        2,
        [RewardStatus::Success, RewardStatus::Pending],
    )
    .await;
    // acc-ACE23456-0 qualified (their reward PENDING, Alice's SUCCESS); acc-ACE23456-1 did not.
    let me = member("jk-acc-ACE23456-0");
    api.app("GET", "/v1/referral/subtitle", None, me.clone())
        .await;
    let (answer, trips) = api
        .table
        .round_trips
        .during(api.app("GET", "/v1/referral/me/registration", None, me.clone()))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(trips, 1, "one GSI3 Query (config cached)");
    assert_eq!(answer.body["code"], "ACE23456");
    assert_eq!(answer.body["reward"]["status"], "PENDING");
    let checklist = answer.body["checklist"].as_array().unwrap();
    let cells: Vec<(String, String)> = checklist
        .iter()
        .map(|s| (s["step"].to_string(), s["state"].to_string()))
        .collect();
    assert_eq!(
        cells,
        [
            ("CODE_USED", "DONE"),
            ("KYC_PASSED", "DONE"),
            ("DEVICE_BOUND", "DONE"),
            ("QUALIFIED", "DONE"),
            ("REFEREE_REWARD", "WAITING"),
        ]
        .map(|(a, b)| (format!("{a:?}"), format!("{b:?}")))
    );
    assert_eq!(checklist[4]["reason"], "PAYOUT_QUEUED");
    assert_eq!(checklist[4]["reward_status"], "PENDING");
    let text = answer.body.to_string();
    // Alice's reward (SUCCESS) is hers: neither a step nor a status here.
    assert!(
        !text.contains("REFERRER_REWARD") && !text.contains("SUCCESS"),
        "{text}"
    );
    assert!(
        !text.contains("0912345678") && !text.contains("detail"),
        "{text}"
    );

    // The other referee sees their own registration: the route reads the token's `sub` only,
    // and has no parameter naming a member (naming one is a 400, docs/api.md).
    let other = api
        .app(
            "GET",
            "/v1/referral/me/registration",
            None,
            member("jk-acc-ACE23456-1"),
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.body);
    assert_eq!(other.body["checklist"][1]["state"], "WAITING");
    assert_eq!(other.body["checklist"][3]["reason"], "NOT_QUALIFIED_YET");
    assert!(!other.body.to_string().contains("ACE23456-0"));
    for path in [
        "/v1/referral/me/registration?jkos_id=jk-acc-ACE23456-0",
        "/v1/referral/me/registration?sub=jk-acc-ACE23456-0",
    ] {
        let other = api
            .app("GET", path, None, member("jk-acc-ACE23456-1"))
            .await;
        assert_eq!(other.status, 400, "{path}: {}", other.body);
        assert_eq!(other.error_code(), "invalid_query", "{path}");
        assert!(!other.body.to_string().contains("ACE23456-0"), "{path}");
    }

    // A member the service has no profile of (Alice registered before, or elsewhere): 404 JSON.
    let none = api
        .app(
            "GET",
            "/v1/referral/me/registration",
            None,
            member("jk-alice"),
        )
        .await;
    assert_eq!(none.status, 404, "{}", none.body);
    assert_eq!(none.body["error"]["code"], "not_found");

    // My profile in my GSI3 partition does not show among my rewards.
    let rewards = api
        .app("GET", "/v1/referral/rewards", None, me.clone())
        .await;
    assert_eq!(rewards.status, 200, "{}", rewards.body);
    let items = rewards.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", rewards.body);
    assert_eq!(items[0]["reward_id"], "acc-ACE23456-0-referee");
}
