//! The admin API over DynamoDB Local and the SQS emulator.

use referral_shared::api::admin::ROUTES;
use referral_shared::store::prelude::*;
use referral_shared::*;
use referral_tests::fixtures::at;
use referral_tests::http_support::{Answer, Api, admin, member, seed_referrer};
use serde_json::{Value, json};

fn campaign_body(event_id: &str, windows: &[(&str, &str, &str)]) -> Value {
    json!({
        "event_id": event_id,
        "event_type": "CAMPAIGN",
        "name": "Spring promo",
        "contents": windows.iter().map(|(id, start, end)| json!({
            "window_id": id,
            "window": {"start": start, "end": end},
            "referrer": {"reward_type": "COIN", "amount": "20"},
            "referee": {"reward_type": "COUPON", "amount": "35.50"},
        })).collect::<Vec<_>>(),
        "copywriting": [{
            "window_id": "subtitle-1",
            "window": {"start": "2026-01-01T00:00:00Z", "end": "2031-01-01T00:00:00Z"},
            "item": "SUBTITLE",
            "content": {"text": "Spring"},
        }],
        "notifications": [{
            "window_id": "n-referrer",
            "window": {"start": "2026-01-01T00:00:00Z", "end": "2031-01-01T00:00:00Z"},
            "side": "REFERRER",
            "out_app_title": "You earned {amount}",
            "out_app_content": "Thanks to {referee_phone}",
            "in_app_title": "Reward",
            "in_app_content": "{amount} {reward_type}",
            "boxed_message": "Box {amount}",
        }],
    })
}

/// The `ETag` of an answer (panics when it has none).
fn etag(answer: &Answer) -> &str {
    answer
        .headers
        .get("etag")
        .unwrap_or_else(|| panic!("no ETag: {} {}", answer.status, answer.body))
        .to_str()
        .unwrap()
}

/// A PUT body from a POST body: everything but the id and type.
fn change_of(body: &Value) -> Value {
    let mut change = body.clone();
    let object = change.as_object_mut().unwrap();
    object.remove("event_id");
    object.remove("event_type");
    change
}

fn fill(path: &str) -> String {
    path.replace("{event_id}", "personal")
        .replace("{source}", "member:demo-referrer")
        .replace("{code}", "SHARE888")
        .replace("{reward_id}", "nobody-referrer")
        .replace("{account_id}", "nobody")
}

#[tokio::test]
async fn every_admin_route_refuses_member_tokens_and_anonymous_calls() {
    let api = Api::new().await;
    for (method, path) in ROUTES {
        let path = fill(path);
        let query = if path.ends_with("/events") && *method == "GET" {
            "?type=PERSONAL"
        } else if path.ends_with("/rewards") {
            "?status=FAIL"
        } else {
            ""
        };
        let full = format!("{path}{query}");
        let body = matches!(*method, "POST" | "PUT").then_some("{}");
        let answer = api.admin(method, &full, body, member("jk-alice")).await;
        assert_eq!(answer.status, 403, "{method} {full}: {}", answer.body);
        assert_eq!(answer.error_code(), "forbidden");
        let answer = api.admin(method, &full, body, None).await;
        assert_eq!(answer.status, 401, "{method} {full}");
        // A scope that merely contains the name is not the scope.
        let lookalike = Some(std::collections::HashMap::from([
            ("sub".to_owned(), "x".to_owned()),
            ("scope".to_owned(), "referral.admins openid".to_owned()),
        ]));
        let answer = api.admin(method, &full, body, lookalike).await;
        assert_eq!(answer.status, 403, "{method} {full}");
        // And with the scope the route exists (no route-level 404/405).
        let answer = api.admin(method, &full, body, admin()).await;
        assert_ne!(
            answer.body["error"]["message"], "route not found",
            "{method} {full}"
        );
        assert_ne!(answer.status, 405, "{method} {full}");
    }
}

/// The admin check reads `referral.admin` from `scope` or `scp`, in the forms API Gateway hands
/// them over in `requestContext.authorizer.jwt.claims`: a space-separated string, or a list
/// claim rendered as `[a b]` (Okta and Entra ID send `scp`, Okta as a list).
#[tokio::test]
async fn the_admin_scope_is_read_from_scope_or_scp_in_api_gateways_forms() {
    let api = Api::new().await;
    let claims = |pairs: &[(&str, &str)]| {
        let mut claims = std::collections::HashMap::from([("sub".to_owned(), "ops-1".to_owned())]);
        for (k, v) in pairs {
            claims.insert((*k).to_owned(), (*v).to_owned());
        }
        Some(claims)
    };
    for (pairs, expect) in [
        (&[("scp", "referral.admin")][..], 200),
        (&[("scp", "openid referral.admin")][..], 200),
        (&[("scp", "[openid referral.admin]")][..], 200),
        (&[("scp", "[referral.admin]")][..], 200),
        (&[("scope", "[referral.admin profile]")][..], 200),
        (&[("scope", "openid"), ("scp", "[referral.admin]")][..], 200),
        (&[("scp", "referral.admins")][..], 403),
        (&[("scp", "[referral.admins openid]")][..], 403),
        (&[("scp", "[referral.admin.read]")][..], 403),
        (&[("scp", "[]")][..], 403),
        (&[("scope", "referral"), ("scp", "admin")][..], 403),
        (&[("scp", "[[referral.admin]]")][..], 403),
        // Taken verbatim: only the ASCII space separates scope tokens (RFC 6749 3.3).
        (&[("scope", "openid  referral.admin")][..], 200),
        (&[("scope", "referral.admin\u{a0}")][..], 403),
        (&[("scope", "\u{a0}referral.admin")][..], 403),
        (&[("scope", "openid\u{a0}referral.admin")][..], 403),
        (&[("scope", "openid\treferral.admin")][..], 403),
        (&[("scope", "referral.admin\n")][..], 403),
        (&[("scp", "[referral.admin\u{2003}]")][..], 403),
        (&[("scp", " [referral.admin]")][..], 403),
    ] {
        let answer = api
            .admin("GET", "/admin/v1/events?type=PERSONAL", None, claims(pairs))
            .await;
        assert_eq!(answer.status, expect, "{pairs:?}: {}", answer.body);
        if expect == 403 {
            assert_eq!(answer.error_code(), "forbidden");
        }
    }
}

#[tokio::test]
async fn events_are_created_listed_read_and_replaced_whole() {
    let api = Api::new().await;
    let body = campaign_body(
        "spring-2027",
        &[
            ("w1", "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"),
            ("w2", "2027-04-01T00:00:00Z", "2027-05-01T00:00:00Z"),
        ],
    );
    let created = api
        .admin("POST", "/admin/v1/events", Some(&body.to_string()), admin())
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["contents"][1]["referee"]["amount"], "35.50");
    let again = api
        .admin("POST", "/admin/v1/events", Some(&body.to_string()), admin())
        .await;
    assert_eq!(
        (again.status.as_u16(), again.error_code()),
        (409, "event_exists")
    );

    let read = api
        .admin("GET", "/admin/v1/events/spring-2027", None, admin())
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, created.body);
    assert_eq!(
        etag(&read),
        etag(&created),
        "the version created is the one read"
    );
    let listed = api
        .admin("GET", "/admin/v1/events?type=CAMPAIGN", None, admin())
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["event_id"], "spring-2027");
    let personal = api
        .admin(
            "GET",
            "/admin/v1/events?type=PERSONAL&limit=1",
            None,
            admin(),
        )
        .await;
    assert_eq!(personal.body["items"][0]["event_id"], "personal");

    // Replace: w1 moves (new start = new key), w2 goes away, w3 comes; the copy goes too.
    let mut change = campaign_body(
        "ignored",
        &[
            ("w1", "2027-02-15T00:00:00Z", "2027-04-01T00:00:00Z"),
            ("w3", "2027-06-01T00:00:00Z", "2027-07-01T00:00:00Z"),
        ],
    );
    let change = change.as_object_mut().unwrap();
    change.remove("event_id");
    change.remove("event_type");
    change.insert("copywriting".into(), json!([]));
    change.insert("name".into(), json!("Spring v2"));
    let updated = api
        .admin_with(
            "PUT",
            "/admin/v1/events/spring-2027",
            Some(&Value::Object(change.clone()).to_string()),
            &[("if-match", etag(&read))],
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_ne!(etag(&updated), etag(&read), "a replace is a new version");
    let reread = api
        .admin("GET", "/admin/v1/events/spring-2027", None, admin())
        .await;
    assert_eq!(etag(&reread), etag(&updated));
    let stored = api
        .table
        .store
        .event_config(&EventId::parse("spring-2027").unwrap())
        .await
        .unwrap()
        .unwrap();
    let ids: Vec<_> = stored
        .contents
        .iter()
        .map(|c| c.window_id.as_str())
        .collect();
    assert_eq!(ids, ["w1", "w3"], "old keys deleted, new ones written");
    assert_eq!(
        stored.contents[0].window.start(),
        chrono::DateTime::parse_from_rfc3339("2027-02-15T00:00:00Z").unwrap()
    );
    assert!(stored.copywriting.is_empty());
    assert_eq!(stored.notifications.len(), 1);
    assert_eq!(stored.event.name.as_str(), "Spring v2");
    assert_eq!(stored.event.event_type, EventType::Campaign);
    assert!(stored.event.updated_at > stored.event.created_at);

    // An edit based on a stale read is refused at the store: nobody's change is lost.
    let stale = referral_shared::EventConfig {
        event: ReferralEvent {
            updated_at: stored.event.created_at,
            ..stored.event.clone()
        },
        ..stored.clone()
    };
    let err = api
        .table
        .store
        .save_event_config(&stored, Some(&stale))
        .await
        .unwrap_err();
    assert!(
        matches!(err, referral_shared::store::StoreError::Conflict { .. }),
        "{err:?}"
    );

    let missing = api
        .admin_with(
            "PUT",
            "/admin/v1/events/nothing-here",
            Some(&Value::Object(change.clone()).to_string()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(missing.status, 404);
    let missing = api
        .admin("GET", "/admin/v1/events/nothing-here", None, admin())
        .await;
    assert_eq!(
        (missing.status.as_u16(), missing.error_code()),
        (404, "not_found")
    );
    let bad = api
        .admin("GET", "/admin/v1/events/Not_An_Id", None, admin())
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.error_field()),
        (400, Some("event_id"))
    );
}

#[tokio::test]
async fn event_validation_names_the_field() {
    let api = Api::new().await;
    let good = campaign_body(
        "v-1",
        &[("w1", "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z")],
    );
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "start after end",
            Box::new(|b| b["contents"][0]["window"]["end"] = json!("2027-02-01T00:00:00Z")),
            "contents[0].window",
        ),
        (
            "three decimals",
            Box::new(|b| b["contents"][0]["referrer"]["amount"] = json!("1.234")),
            "contents[0].referrer.amount",
        ),
        (
            "zero amount",
            Box::new(|b| b["contents"][0]["referee"]["amount"] = json!("0")),
            "contents[0].referee.amount",
        ),
        // Amounts are plain decimals (docs/api.md): no exponent, sign, separator or leading
        // zero, wherever an amount is read.
        (
            "an exponent",
            Box::new(|b| b["contents"][0]["referrer"]["amount"] = json!("1.5e3")),
            "contents[0].referrer.amount",
        ),
        (
            "leading zeros",
            Box::new(|b| b["contents"][0]["referee"]["amount"] = json!("00010")),
            "contents[0].referee.amount",
        ),
        (
            "a signed threshold",
            Box::new(|b| b["rules"] = json!({"review_hold": {"amount_at_least": "+10"}})),
            "rules.review_hold.amount_at_least",
        ),
        (
            "a separated bonus",
            Box::new(|b| {
                b["rules"] = json!({"milestones": [{"nth": 1,
                    "reward": {"reward_type": "COIN", "amount": "1_000"}}]})
            }),
            "rules.milestones[0].reward.amount",
        ),
        (
            "unknown reward type",
            Box::new(|b| b["contents"][0]["referrer"]["reward_type"] = json!("CASH")),
            "contents[0].referrer.reward_type",
        ),
        (
            "unknown event type",
            Box::new(|b| b["event_type"] = json!("GROUP")),
            "event_type",
        ),
        (
            "unknown copy item",
            Box::new(|b| b["copywriting"][0]["item"] = json!("BANNER")),
            "copywriting[0].item",
        ),
        (
            "title over 100",
            Box::new(|b| b["notifications"][0]["in_app_title"] = json!("t".repeat(101))),
            "notifications[0].in_app_title",
        ),
        (
            "content over 2048",
            Box::new(|b| b["notifications"][0]["boxed_message"] = json!("c".repeat(2049))),
            "notifications[0].boxed_message",
        ),
        (
            "name over 20",
            Box::new(|b| b["name"] = json!("n".repeat(21))),
            "name",
        ),
        (
            "overlapping windows",
            Box::new(|b| {
                let mut second = b["contents"][0].clone();
                second["window_id"] = json!("w2");
                second["window"]["start"] = json!("2027-03-15T00:00:00Z");
                second["window"]["end"] = json!("2027-05-01T00:00:00Z");
                b["contents"].as_array_mut().unwrap().push(second);
            }),
            "contents",
        ),
        (
            "a window id twice",
            Box::new(|b| b["copywriting"][0]["window_id"] = json!("w1")),
            "copywriting",
        ),
        (
            "unknown field",
            Box::new(|b| b["colour"] = json!("red")),
            "",
        ),
        (
            "a window without its id",
            Box::new(|b| {
                b["contents"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("window_id");
            }),
            "contents[0].window_id",
        ),
        // A create states every collection too (one body shape for create and replace).
        (
            "no contents",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("contents");
            }),
            "contents",
        ),
        (
            "no copywriting",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("copywriting");
            }),
            "copywriting",
        ),
        (
            "null notifications",
            Box::new(|b| b["notifications"] = Value::Null),
            "notifications",
        ),
        (
            "more windows than one transaction can replace",
            Box::new(|b| {
                let template = b["contents"][0].clone();
                b["contents"] = (0..EventConfig::MAX_WINDOWS - 1)
                    .map(|i| {
                        let mut c = template.clone();
                        let year = 2040 + i;
                        c["window_id"] = json!(format!("y{year}"));
                        c["window"] = json!({
                            "start": format!("{year}-01-01T00:00:00Z"),
                            "end": format!("{}-01-01T00:00:00Z", year + 1),
                        });
                        c
                    })
                    .collect();
            }),
            "contents",
        ),
    ];
    for (what, change, field) in cases {
        let mut body = good.clone();
        change(&mut body);
        let answer = api
            .admin("POST", "/admin/v1/events", Some(&body.to_string()), admin())
            .await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        if !field.is_empty() {
            assert_eq!(answer.error_field(), Some(field), "{what}: {}", answer.body);
        }
        assert!(!answer.body["error"]["message"].as_str().unwrap().is_empty());
    }
    // Nothing of the refused bodies was written.
    let none = api
        .admin("GET", "/admin/v1/events/v-1", None, admin())
        .await;
    assert_eq!(none.status, 404);
    let ok = api
        .admin("POST", "/admin/v1/events", Some(&good.to_string()), admin())
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
}

#[tokio::test]
async fn campaign_codes_are_vanity_or_generated_and_unique() {
    let api = Api::new().await;
    let body = campaign_body(
        "promo",
        &[("w1", "2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z")],
    );
    api.admin("POST", "/admin/v1/events", Some(&body.to_string()), admin())
        .await;

    let vanity = api
        .admin(
            "POST",
            "/admin/v1/events/promo/codes",
            Some(r#"{"code":"sprng-26","source":"Partner Shop"}"#),
            admin(),
        )
        .await;
    assert_eq!(vanity.status, 201, "{}", vanity.body);
    assert_eq!(vanity.body["code"], "SPRNG26");
    assert_eq!(vanity.body["event_type"], "CAMPAIGN");
    let taken = api
        .admin(
            "POST",
            "/admin/v1/events/promo/codes",
            Some(r#"{"code":"SPRNG26","source":"Someone Else"}"#),
            admin(),
        )
        .await;
    assert_eq!(
        (taken.status.as_u16(), taken.error_code()),
        (409, "code_taken")
    );
    let stored = api
        .table
        .store
        .get_code(&ReferralCode::parse("SPRNG26").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.source.to_string(),
        "campaign:Partner Shop",
        "the first owner stays"
    );

    let generated = api
        .admin(
            "POST",
            "/admin/v1/events/promo/codes",
            Some(r#"{"source":"Partner Shop"}"#),
            admin(),
        )
        .await;
    assert_eq!(generated.status, 201);
    let code = generated.body["code"].as_str().unwrap();
    assert_eq!(code.len(), ReferralCode::GENERATED_LEN);
    assert_ne!(code, "SPRNG26");

    // The app accepts the new codes at once.
    let check = api
        .app(
            "POST",
            "/v1/referralCode/check",
            Some(&json!({ "code": code }).to_string()),
            member("new-1"),
        )
        .await;
    assert_eq!(check.body, json!({"valid": true}));

    for (path, body, status, code) in [
        (
            "/admin/v1/events/personal/codes",
            r#"{"source":"x"}"#,
            409,
            "not_a_campaign",
        ),
        (
            "/admin/v1/events/nope/codes",
            r#"{"source":"x"}"#,
            404,
            "not_found",
        ),
        (
            "/admin/v1/events/promo/codes",
            r#"{"code":"0OIL","source":"x"}"#,
            400,
            "invalid_field",
        ),
        (
            "/admin/v1/events/promo/codes",
            r#"{"source":"bad#source"}"#,
            400,
            "invalid_field",
        ),
    ] {
        let answer = api.admin("POST", path, Some(body), admin()).await;
        assert_eq!(
            (answer.status.as_u16(), answer.error_code()),
            (status, code),
            "{path} {body}"
        );
    }
}

/// `n` referees of `source` (code `code`): referrer side SUCCESS, referee side FAIL.
async fn seed(api: &Api, source: &str, code: &str, n: usize) {
    seed_referrer(
        api,
        source,
        code,
        n,
        [RewardStatus::Success, RewardStatus::Fail],
    )
    .await;
}

#[tokio::test]
async fn overview_and_statistics_per_referrer_and_per_code_page_through_everything() {
    let api = Api::new().await;
    seed(&api, "jk-carol", "CRR23456", 5).await;
    seed(&api, "jk-carol", "CRR98765", 2).await;
    seed(&api, "jk-dave", "DVE23456", 3).await;

    let mut seen = Vec::new();
    let mut path = "/admin/v1/referrers/member:jk-carol/referees?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = api.admin("GET", &path, None, admin()).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            !page.body.to_string().contains("owner_phone"),
            "the owner's phone hash is a stable pseudonym: never in an answer: {}",
            page.body
        );
        pages += 1;
        let referees = page.body["referees"].as_array().unwrap();
        assert!(referees.len() <= 2);
        for r in referees {
            assert_eq!(r["phone"], "0912***678");
            assert_eq!(r["rewards"].as_array().unwrap().len(), 2, "{r}");
            seen.push(r["account_id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => {
                path = format!("/admin/v1/referrers/member:jk-carol/referees?limit=2&cursor={c}")
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert!(pages >= 4);
    assert!(seen.iter().all(|a| a.starts_with("acc-CRR")));

    let stats = api
        .admin(
            "GET",
            "/admin/v1/referrers/member:jk-carol/statistics",
            None,
            admin(),
        )
        .await;
    assert_eq!(stats.status, 200);
    assert_eq!(
        stats.body,
        json!({
            "codes": 2, "referees": 7, "kyc_passed": 4, "device_bound": 4, "qualified": 4,
            "rewards": {
                "SUCCESS": {"count": 7, "amounts": {"COIN": "350.00"}},
                "FAIL": {"count": 7, "amounts": {"COIN": "350.00"}},
                // Every status is counted, at 0 when none.
                "PENDING": {"count": 0, "amounts": {}},
                "HELD": {"count": 0, "amounts": {}},
                "CLAIMABLE": {"count": 0, "amounts": {}},
                "REJECTED": {"count": 0, "amounts": {}},
                "EXPIRED": {"count": 0, "amounts": {}},
            },
            "complete": true,
        })
    );

    let per_code = api
        .admin("GET", "/admin/v1/codes/crr-98765/statistics", None, admin())
        .await;
    assert_eq!(per_code.body["referees"], 2);
    assert_eq!(per_code.body["codes"], 1);
    let per_code = api
        .admin(
            "GET",
            "/admin/v1/codes/CRR98765/referees?limit=1",
            None,
            admin(),
        )
        .await;
    assert_eq!(per_code.body["codes"][0]["code"], "CRR98765");
    assert_eq!(per_code.body["referees"].as_array().unwrap().len(), 1);
    assert!(per_code.body["next_cursor"].is_string());
    let unknown = api
        .admin("GET", "/admin/v1/codes/ZZZZ2222/statistics", None, admin())
        .await;
    assert_eq!(unknown.status, 404);
    let empty = api
        .admin(
            "GET",
            "/admin/v1/referrers/member:nobody/statistics",
            None,
            admin(),
        )
        .await;
    assert_eq!(empty.body["referees"], 0);
    assert_eq!(empty.body["complete"], true);
}

#[tokio::test]
async fn fail_rewards_are_listed_and_retried_once_queued_idempotently() {
    let api = Api::new().await;
    seed(&api, "jk-erin", "ERN23456", 3).await;

    let mut failed = Vec::new();
    let mut path = "/admin/v1/rewards?status=FAIL&limit=2".to_owned();
    loop {
        let page = api.admin("GET", &path, None, admin()).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for r in page.body["items"].as_array().unwrap() {
            assert_eq!(r["status"], "FAIL");
            assert!(!r.to_string().contains("0912345678"));
            failed.push(r["reward_id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/admin/v1/rewards?status=FAIL&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(failed.len(), 3);

    let id = &failed[0];
    let (retry, trips) = api
        .table
        .round_trips
        .during(api.admin(
            "POST",
            &format!("/admin/v1/rewards/{id}/retry"),
            None,
            admin(),
        ))
        .await;
    assert_eq!(
        trips, 2,
        "a FAIL reward is read, then reopened with one transaction (its funnel count moves)"
    );
    assert_eq!(retry.status, 202, "{}", retry.body);
    assert_eq!(retry.body["status"], "PENDING");
    let reward = api
        .table
        .store
        .get_reward(&RewardId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reward.status, RewardStatus::Pending);
    assert!(
        reward.updated_at > at(4, 0),
        "touched, so the sweeper waits"
    );
    assert_eq!(api.queue.drain().await, std::slice::from_ref(id));
    // Again: still PENDING, queued again (payout pays once whatever the messages).
    let again = api
        .admin(
            "POST",
            &format!("/admin/v1/rewards/{id}/retry"),
            None,
            admin(),
        )
        .await;
    assert_eq!(again.status, 202);
    assert_eq!(api.queue.drain().await, std::slice::from_ref(id));
    let still_failed = api
        .admin("GET", "/admin/v1/rewards?status=FAIL", None, admin())
        .await;
    assert_eq!(still_failed.body["items"].as_array().unwrap().len(), 2);

    let paid = failed[1].replace("-referee", "-referrer");
    let refused = api
        .admin(
            "POST",
            &format!("/admin/v1/rewards/{paid}/retry"),
            None,
            admin(),
        )
        .await;
    assert_eq!(
        (refused.status.as_u16(), refused.error_code()),
        (409, "already_paid")
    );
    let unknown = api
        .admin(
            "POST",
            "/admin/v1/rewards/nobody-referee/retry",
            None,
            admin(),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let bad = api
        .admin(
            "POST",
            "/admin/v1/rewards/not-a-reward/retry",
            None,
            admin(),
        )
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.error_field()),
        (400, Some("reward_id"))
    );
    let bad = api
        .admin("GET", "/admin/v1/rewards?status=LOST", None, admin())
        .await;
    assert_eq!(bad.status, 400);
    assert!(api.queue.drain().await.is_empty(), "refusals queue nothing");

    // The queue is unreachable: 503, and the reward is PENDING for the sweeper to pick up.
    let broken = referral_shared::api::admin::router(
        std::sync::Arc::new(api.table.store.clone()),
        std::sync::Arc::new(referral_shared::queue::SqsPayoutQueue::new(
            api.queue.client.clone(),
            format!("{}-missing", api.queue.url),
        )),
        referral_shared::EventId::parse("personal").unwrap(),
    );
    let id = &failed[2];
    let answer = referral_tests::http_support::call(
        &broken,
        "POST",
        &format!("/admin/v1/rewards/{id}/retry"),
        None,
        admin(),
    )
    .await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code()),
        (503, "unavailable")
    );
    let reward = api
        .table
        .store
        .get_reward(&RewardId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reward.status, RewardStatus::Pending);
}

/// Every page of `/v1/referral/me` for `who`, pages of 2.
async fn my_pages(api: &Api, who: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut path = "/v1/referral/me?limit=2".to_owned();
    loop {
        let page = api.app("GET", &path, None, member(who)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let next = page.body["next_cursor"].as_str().map(str::to_owned);
        pages.push(page.body);
        match next {
            Some(cursor) => path = format!("/v1/referral/me?limit=2&cursor={cursor}"),
            None => return pages,
        }
    }
}

/// Campaign sources and members' jkos ids live in different key spaces: whatever an admin
/// names a campaign code's source, a member's `/me` does not change, and the member's
/// collection is reachable only as `member:<jkos id>`.
#[tokio::test]
async fn no_campaign_source_can_change_what_a_member_sees() {
    let api = Api::new().await;
    seed_referrer(
        &api,
        "jk-dana",
        "DNA23456",
        3,
        [RewardStatus::Success, RewardStatus::Pending],
    )
    .await;
    let before = my_pages(&api, "jk-dana").await;
    assert_eq!(before[0]["code"], "DNA23456");
    let referees: usize = before
        .iter()
        .map(|p| p["referees"].as_array().unwrap().len())
        .sum();
    assert_eq!(referees, 3);

    let body = campaign_body(
        "promo-d",
        &[("w1", "2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z")],
    );
    api.admin("POST", "/admin/v1/events", Some(&body.to_string()), admin())
        .await;
    // Sources an attacker (or a careless admin) might try: the member's jkos id, bare and in
    // the typed form, and look-alikes.
    for (i, source) in ["jk-dana", "member:jk-dana", "MEMBER#jk-dana", " jk-dana "]
        .iter()
        .enumerate()
    {
        let answer = api
            .admin(
                "POST",
                "/admin/v1/events/promo-d/codes",
                Some(&json!({"code": format!("AAAA222{i}"), "source": source}).to_string()),
                admin(),
            )
            .await;
        match answer.status.as_u16() {
            // Accepted as a campaign's name: it is listed under campaign:<name> only.
            201 => assert!(
                answer.body["source"]
                    .as_str()
                    .unwrap()
                    .starts_with("campaign:"),
                "{}",
                answer.body
            ),
            400 => assert_eq!(answer.error_code(), "invalid_field"),
            other => panic!("{source}: {other} {}", answer.body),
        }
    }
    let generated = api
        .admin(
            "POST",
            "/admin/v1/events/promo-d/codes",
            Some(r#"{"source":"jk-dana"}"#),
            admin(),
        )
        .await;
    assert_eq!(generated.status, 201, "{}", generated.body);

    assert_eq!(my_pages(&api, "jk-dana").await, before, "/me unchanged");

    // The member's collection and the campaign's are different listings.
    let listing = |source: &'static str| {
        let api = &api;
        async move {
            let path = format!("/admin/v1/referrers/{source}/referees?limit=50");
            let answer = api.admin("GET", &path, None, admin()).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            let codes: Vec<String> = answer.body["codes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["code"].as_str().unwrap().to_owned())
                .collect();
            (codes, answer.body["referees"].as_array().unwrap().len())
        }
    };
    assert_eq!(
        listing("member:jk-dana").await,
        (vec!["DNA23456".to_owned()], 3)
    );
    let (campaign_codes, campaign_referees) = listing("campaign:jk-dana").await;
    assert!(!campaign_codes.is_empty());
    assert!(!campaign_codes.contains(&"DNA23456".to_owned()));
    assert_eq!(campaign_referees, 0);
    // A bare name says neither: refused, naming the problem.
    let bare = api
        .admin(
            "GET",
            "/admin/v1/referrers/jk-dana/statistics",
            None,
            admin(),
        )
        .await;
    assert_eq!(bare.status, 400);
    assert_eq!(bare.body["error"]["field"], "referral_source");
}

async fn stored_config(api: &Api, event: &str) -> EventConfig {
    api.table
        .store
        .event_config(&EventId::parse(event).unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// The live-campaign erasure of issue 11: a partial body, a replace without a version, a
/// replace of a version that is no longer current: each is refused and changes nothing.
#[tokio::test]
async fn a_replace_states_every_collection_and_names_the_version_it_replaces() {
    let api = Api::new().await;
    let body = campaign_body(
        "live",
        &[("w1", "2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z")],
    );
    let created = api
        .admin("POST", "/admin/v1/events", Some(&body.to_string()), admin())
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let v1 = etag(&created).to_owned();
    assert!(
        v1.starts_with('"') && v1.ends_with('"') && v1.len() > 2,
        "a strong ETag: {v1}"
    );
    let before = stored_config(&api, "live").await;
    let path = "/admin/v1/events/live";
    let mut change = change_of(&body);
    change["name"] = json!("Live v2");
    let change_text = change.to_string();

    // What was seen: {"name":"x"} erased every window. Now: 400 naming the first collection.
    let partial = api
        .admin_with("PUT", path, Some(r#"{"name":"x"}"#), &[("if-match", &v1)])
        .await;
    assert_eq!(
        (partial.status.as_u16(), partial.error_code()),
        (400, "invalid_field"),
        "{}",
        partial.body
    );
    assert_eq!(partial.error_field(), Some("contents"));
    for collection in ["contents", "copywriting", "notifications"] {
        let mut without = change.clone();
        without.as_object_mut().unwrap().remove(collection);
        let answer = api
            .admin_with(
                "PUT",
                path,
                Some(&without.to_string()),
                &[("if-match", &v1)],
            )
            .await;
        assert_eq!(
            (answer.status.as_u16(), answer.error_field()),
            (400, Some(collection)),
            "{}",
            answer.body
        );
        assert_eq!(answer.body["error"]["message"], "is required");
    }

    // No version named: 428; `*` names none either; a header that is not entity-tags: 400.
    let unconditional = api.admin("PUT", path, Some(&change_text), admin()).await;
    assert_eq!(
        (unconditional.status.as_u16(), unconditional.error_code()),
        (428, "precondition_required")
    );
    assert_eq!(unconditional.error_field(), Some("If-Match"));
    let any = api
        .admin_with("PUT", path, Some(&change_text), &[("if-match", "*")])
        .await;
    assert_eq!(any.status, 428, "{}", any.body);
    let malformed = api
        .admin_with(
            "PUT",
            path,
            Some(&change_text),
            &[("if-match", "1767225600000")],
        )
        .await;
    assert_eq!(
        (malformed.status.as_u16(), malformed.error_code()),
        (400, "invalid_header"),
        "{}",
        malformed.body
    );
    assert_eq!(malformed.error_field(), Some("If-Match"));
    // A version that is not the current one, or the current one as a weak tag: 412.
    for stale in ["\"1\"", &format!("W/{v1}")] {
        let answer = api
            .admin_with("PUT", path, Some(&change_text), &[("if-match", stale)])
            .await;
        assert_eq!(
            (answer.status.as_u16(), answer.error_code()),
            (412, "precondition_failed"),
            "{stale}: {}",
            answer.body
        );
    }
    assert_eq!(
        stored_config(&api, "live").await,
        before,
        "nothing refused changed anything"
    );

    // The current version: replaced, and a new version with a new ETag.
    let replaced = api
        .admin_with("PUT", path, Some(&change_text), &[("if-match", &v1)])
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    let v2 = etag(&replaced).to_owned();
    assert_ne!(v2, v1);
    let read = api.admin("GET", path, None, admin()).await;
    assert_eq!((etag(&read), &read.body), (v2.as_str(), &replaced.body));
    let after = stored_config(&api, "live").await;
    assert_eq!(after.event.name.as_str(), "Live v2");
    assert_eq!(
        (after.contents, after.copywriting, after.notifications),
        (before.contents, before.copywriting, before.notifications)
    );

    // The version replaced is stale now: the same edit again is a 412, and changes nothing.
    let mut late = change.clone();
    late["name"] = json!("Late edit");
    let again = api
        .admin_with("PUT", path, Some(&late.to_string()), &[("if-match", &v1)])
        .await;
    assert_eq!(again.status, 412, "{}", again.body);
    // Several tags: matches if any is current.
    let listed = api
        .admin_with(
            "PUT",
            path,
            Some(&late.to_string()),
            &[("if-match", &format!("{v1}, {v2}"))],
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        stored_config(&api, "live").await.event.name.as_str(),
        "Late edit"
    );
}

/// Admins replacing the same version at once: one wins, every other gets 412, whether it lost
/// at the read or at the transaction's condition (the race between read and write).
#[tokio::test]
async fn concurrent_replaces_of_one_version_make_exactly_one_winner() {
    let api = Api::new().await;
    let body = campaign_body(
        "race",
        &[("w1", "2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z")],
    );
    let created = api
        .admin("POST", "/admin/v1/events", Some(&body.to_string()), admin())
        .await;
    let mut version = etag(&created).to_owned();
    const ADMINS: usize = 6;
    let mut lost_at_the_write = 0;
    for round in 0..5 {
        let bodies: Vec<String> = (0..ADMINS)
            .map(|i| {
                let mut change = change_of(&body);
                change["name"] = json!(format!("r{round} admin {i}"));
                change.to_string()
            })
            .collect();
        let if_match = [("if-match", version.as_str())];
        let requests = bodies
            .iter()
            .map(|b| api.admin_with("PUT", "/admin/v1/events/race", Some(b), &if_match));
        let (answers, trips) = api
            .table
            .round_trips
            .during(futures::future::join_all(requests))
            .await;
        let winners: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
        assert_eq!(winners.len(), 1, "round {round}");
        for loser in answers.iter().filter(|a| a.status != 200) {
            assert_eq!(
                (loser.status.as_u16(), loser.error_code()),
                (412, "precondition_failed")
            );
        }
        let stored = stored_config(&api, "race").await;
        assert_eq!(stored.event.name.as_str(), winners[0].body["event"]["name"]);
        version = etag(winners[0]).to_owned();
        // Each replace reads once; the winner and every loser that passed the read also sent
        // the transaction.
        lost_at_the_write += trips - ADMINS - 1;
        if lost_at_the_write > 0 {
            break;
        }
    }
    assert!(
        lost_at_the_write > 0,
        "no replace ever lost at the transaction: the race was not exercised"
    );
}

/// Content windows rewards were granted under (by the real consumer path) cannot be deleted;
/// unused ones can, and a used one can still be edited.
#[tokio::test]
async fn a_window_rewards_were_granted_under_cannot_be_deleted() {
    use referral_devkit::msk;
    use referral_shared::contracts::kafka::TOPIC_REGISTRATION;
    use referral_shared::events_cache::ConfigCache;
    use referral_shared::ingest::{Consumer, ConsumerSettings};
    use referral_tests::ingest_support::{reg_records, registration};
    use std::sync::Arc;

    let api = Api::new().await;
    let body = campaign_body(
        "granted",
        &[
            ("w-used", "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"),
            ("w-unused", "2027-04-01T00:00:00Z", "2027-05-01T00:00:00Z"),
        ],
    );
    let created = api
        .admin("POST", "/admin/v1/events", Some(&body.to_string()), admin())
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let code = api
        .admin(
            "POST",
            "/admin/v1/events/granted/codes",
            Some(r#"{"code":"GRNT2345","source":"Partner Shop"}"#),
            admin(),
        )
        .await;
    assert_eq!(code.status, 201, "{}", code.body);

    // A referee uses the code and qualifies inside w-used: the registration consumer grants.
    let consumer = Consumer::new(
        Arc::new(api.table.store.clone()),
        Arc::new(api.queue.payout_queue()),
        ConfigCache::new(std::time::Duration::from_secs(60)),
        ConsumerSettings::new(TOPIC_REGISTRATION, EventId::parse("personal").unwrap()),
    );
    let march = |day: u32| {
        chrono::DateTime::parse_from_rfc3339(&format!("2027-03-{day:02}T10:00:00Z"))
            .unwrap()
            .to_utc()
    };
    let report = consumer
        .handle(&msk::event(&reg_records(
            0,
            &[
                registration("REFERRAL_CODE_USED", "acc-g1", Some("GRNT2345"), march(5)),
                registration("KYC_PASSED", "acc-g1", None, march(6)),
                registration("DEVICE_BOUND", "acc-g1", None, march(7)),
            ],
        )))
        .await
        .unwrap();
    assert_eq!(
        report.rewards_created, 1,
        "a campaign code rewards the referee"
    );
    let marker = api
        .table
        .client
        .get_item()
        .table_name(&api.table.name)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("WINDOWUSE#granted#w-used".into()),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("#WINDOWUSE".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(
        marker.item.is_some(),
        "the window was marked before the grant"
    );

    let path = "/admin/v1/events/granted";
    let read = api.admin("GET", path, None, admin()).await;
    let before = stored_config(&api, "granted").await;
    let without = |dropped: &str| {
        let mut change = change_of(&body);
        change["contents"]
            .as_array_mut()
            .unwrap()
            .retain(|c| c["window_id"] != dropped);
        change.to_string()
    };

    // Dropping w-used (alone, or with w-unused): 409 naming it, nothing changed.
    let mut nothing = change_of(&body);
    nothing["contents"] = json!([]);
    for change in [without("w-used"), nothing.to_string()] {
        let refused = api
            .admin_with("PUT", path, Some(&change), &[("if-match", etag(&read))])
            .await;
        assert_eq!(
            (refused.status.as_u16(), refused.error_code()),
            (409, "window_in_use"),
            "{}",
            refused.body
        );
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("w-used"),
            "{}",
            refused.body
        );
        assert_eq!(refused.error_field(), Some("contents"));
        assert_eq!(stored_config(&api, "granted").await, before);
    }

    // Dropping the unused window works.
    let dropped = api
        .admin_with(
            "PUT",
            path,
            Some(&without("w-unused")),
            &[("if-match", etag(&read))],
        )
        .await;
    assert_eq!(dropped.status, 200, "{}", dropped.body);
    let stored = stored_config(&api, "granted").await;
    let ids: Vec<_> = stored
        .contents
        .iter()
        .map(|c| c.window_id.as_str())
        .collect();
    assert_eq!(ids, ["w-used"]);

    // The used window can still be edited (granted rewards froze their terms): ended early.
    let mut ended = change_of(&body);
    ended["contents"] = json!([body["contents"][0].clone()]);
    ended["contents"][0]["window"]["end"] = json!("2027-03-20T00:00:00Z");
    let edited = api
        .admin_with(
            "PUT",
            path,
            Some(&ended.to_string()),
            &[("if-match", etag(&dropped))],
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    let reward = api
        .table
        .store
        .get_reward(&RewardId::parse("acc-g1-referee").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reward.terms.amount.value().to_string(), "35.50");
}

#[tokio::test]
async fn reward_rules_ride_with_the_event_and_are_validated_by_name() {
    let api = Api::new().await;
    let mut body = campaign_body(
        "ruled",
        &[("w1", "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z")],
    );
    // The rules a campaign's code can be judged by (the referrer's cap, velocity and
    // milestones concern members' codes: refused below).
    let rules = json!({
        "one_reward_per_phone": true,
        "qualification_days": 14,
        "review_hold": {"amount_at_least": "500.00"},
        "claim_days": 30
    });
    // Each refusal names the rule.
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "zero claim days",
            json!({"claim_days": 0}),
            "rules.claim_days",
        ),
        (
            "a milestone the cap makes unreachable",
            json!({"referrer_cap": {"max_referees": 3, "per": "EVENT"},
                   "milestones": [{"nth": 4, "reward": {"reward_type": "COIN", "amount": "1"}}]}),
            "rules.milestones.nth",
        ),
        (
            "an empty review hold",
            json!({"review_hold": {}}),
            "rules.review_hold",
        ),
        ("an unknown rule", json!({"one_reward_per_fone": true}), ""),
        // A CAMPAIGN event's codes belong to a campaign: no referrer to cap, count or reward.
        (
            "a referrer cap on a campaign",
            json!({"referrer_cap": {"max_referees": 5, "per": "EVENT"}}),
            "rules.referrer_cap",
        ),
        (
            "milestones on a campaign",
            json!({"milestones": [{"nth": 5, "reward": {"reward_type": "COIN", "amount": "200.00"}}]}),
            "rules.milestones",
        ),
        (
            "a velocity hold on a campaign",
            json!({"review_hold": {"referees_per_24h": 3}}),
            "rules.review_hold.referees_per_24h",
        ),
        (
            "self-referral on a campaign (no owner to compare with)",
            json!({"refuse_self_referral": true}),
            "rules.refuse_self_referral",
        ),
    ];
    for (what, bad, field) in cases {
        body["rules"] = bad;
        let answer = api
            .admin("POST", "/admin/v1/events", Some(&body.to_string()), admin())
            .await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        if !field.is_empty() {
            assert_eq!(answer.error_field(), Some(field), "{what}: {}", answer.body);
        }
    }
    body["rules"] = rules.clone();
    let created = api
        .admin("POST", "/admin/v1/events", Some(&body.to_string()), admin())
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["rules"], rules);
    let read = api
        .admin("GET", "/admin/v1/events/ruled", None, admin())
        .await;
    assert_eq!(
        read.body["rules"], rules,
        "stored on the event and read back whole"
    );
    let config = stored_config(&api, "ruled").await;
    assert_eq!(config.rules.claim_days, Some(30));

    // A replace states the whole new state: without rules, the event has none.
    let mut change = body.clone();
    let change = change.as_object_mut().unwrap();
    change.remove("event_id");
    change.remove("event_type");
    change.remove("rules");
    let replaced = api
        .admin_with(
            "PUT",
            "/admin/v1/events/ruled",
            Some(&Value::Object(change.clone()).to_string()),
            &[("if-match", etag(&read))],
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert!(replaced.body.get("rules").is_none(), "{}", replaced.body);
    assert!(stored_config(&api, "ruled").await.rules.is_off());

    // Nor can a replace give the campaign a rule that concerns a referrer.
    change.insert(
        "rules".into(),
        json!({"referrer_cap": {"max_referees": 5, "per": "EVENT"}}),
    );
    let refused = api
        .admin_with(
            "PUT",
            "/admin/v1/events/ruled",
            Some(&Value::Object(change.clone()).to_string()),
            &[("if-match", etag(&replaced))],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.error_field(), Some("rules.referrer_cap"));
    // The PERSONAL event takes them (its codes are members').
    let personal = api
        .admin("GET", "/admin/v1/events/personal", None, admin())
        .await;
    let mut change = personal.body.clone();
    let change = change.as_object_mut().unwrap();
    change.remove("event");
    change.insert("name".into(), personal.body["event"]["name"].clone());
    change.insert(
        "rules".into(),
        json!({"referrer_cap": {"max_referees": 5, "per": "EVENT"},
               "review_hold": {"referees_per_24h": 3},
               "milestones": [{"nth": 5, "reward": {"reward_type": "COIN", "amount": "200.00"}}]}),
    );
    let accepted = api
        .admin_with(
            "PUT",
            "/admin/v1/events/personal",
            Some(&Value::Object(change.clone()).to_string()),
            &[("if-match", etag(&personal))],
        )
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
}

/// The one PERSONAL event is the deployment's `PERSONAL_EVENT_ID` (`personal` here): members'
/// codes, the subtitle and the event detail read only it, so no other PERSONAL event can be
/// created, and no CAMPAIGN can take its id.
#[tokio::test]
async fn the_one_personal_event_is_the_one_the_deployment_names() {
    let api = Api::new().await;
    let mut second = campaign_body(
        "personal-2",
        &[("w1", "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z")],
    );
    second["event_type"] = json!("PERSONAL");
    let answer = api
        .admin(
            "POST",
            "/admin/v1/events",
            Some(&second.to_string()),
            admin(),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.error_field(), Some("event_id"));
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PERSONAL_EVENT_ID"),
        "{}",
        answer.body
    );
    let listed = api
        .admin("GET", "/admin/v1/events?type=PERSONAL", None, admin())
        .await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["personal"], "still exactly one PERSONAL event");

    // A CAMPAIGN under the deployment's PERSONAL id: refused by its type, before the store
    // would answer that the id exists.
    let squatter = campaign_body(
        "personal",
        &[("w1", "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z")],
    );
    let answer = api
        .admin(
            "POST",
            "/admin/v1/events",
            Some(&squatter.to_string()),
            admin(),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.error_field(), Some("event_type"));
    // The PERSONAL event itself exists already: 409, as any event.
    let mut again = squatter.clone();
    again["event_type"] = json!("PERSONAL");
    let answer = api
        .admin(
            "POST",
            "/admin/v1/events",
            Some(&again.to_string()),
            admin(),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code()),
        (409, "event_exists")
    );
}

#[tokio::test]
async fn support_sees_any_members_checklist_with_the_internal_reasons_members_do_not() {
    use referral_tests::fixtures;
    let api = Api::new().await;
    let store = &api.table.store;
    store
        .create_code(&fixtures::code_record("ACE23456", "personal", "jk-alice"))
        .await
        .unwrap();
    let mut referee = fixtures::referee("acc-s1", "ACE23456", "jk-alice");
    referee.kyc_pass_time = Some(at(3, 0));
    referee.device_bind_time = Some(at(3, 1));
    referee.qualified_at = Some(at(3, 1));
    store.put_member(&referee).await.unwrap();
    let mut failed = fixtures::reward(&referee, Side::Referrer, RewardStatus::Fail, at(3, 2));
    failed.attempts = 1;
    failed.last_error = Some("finance 422 ACCOUNT_FROZEN".into());
    let mut held = fixtures::reward(&referee, Side::Referee, RewardStatus::Held, at(3, 2));
    held.reason = Some(ReasonCode::review_velocity());
    store.create_reward(&failed).await.unwrap();
    store.create_reward(&held).await.unwrap();

    let path = "/admin/v1/members/acc-s1/checklist";
    let (answer, trips) = api
        .table
        .round_trips
        .during(api.admin("GET", path, None, admin()))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(trips, 2, "one BatchGetItem + the event's configuration");
    assert_eq!(answer.body["account_id"], "acc-s1");
    assert_eq!(answer.body["jkos_id"], "jk-acc-s1");
    assert_eq!(answer.body["phone"], "0912***678");
    assert_eq!(answer.body["code"], "ACE23456");
    let steps = answer.body["checklist"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    assert_eq!(steps[4]["step"], "REFEREE_REWARD");
    assert_eq!(steps[4]["state"], "WAITING");
    assert_eq!(steps[4]["reason"], "IN_REVIEW");
    assert_eq!(steps[4]["detail"], "REVIEW_VELOCITY");
    assert_eq!(steps[5]["step"], "REFERRER_REWARD");
    assert_eq!(steps[5]["state"], "STOPPED");
    assert_eq!(steps[5]["reason"], "PAYOUT_FAILED");
    assert_eq!(steps[5]["detail"], "finance 422 ACCOUNT_FROZEN");
    assert!(!answer.body.to_string().contains("0912345678"));

    // The same registration seen by the member: codes only, no internal reason.
    let mine = api
        .app(
            "GET",
            "/v1/referral/me/registration",
            None,
            member("jk-acc-s1"),
        )
        .await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.body["checklist"][4]["reason"], "IN_REVIEW");
    let text = mine.body.to_string();
    for internal in [
        "REVIEW_VELOCITY",
        "ACCOUNT_FROZEN",
        "detail",
        "PAYOUT_FAILED",
    ] {
        assert!(!text.contains(internal), "{internal}: {text}");
    }
    // And by Alice, the referrer: her reward failed; the referee's review is not hers.
    let alice = api
        .app("GET", "/v1/referral/me", None, member("jk-alice"))
        .await;
    let theirs = &alice.body["referees"][0]["checklist"];
    assert_eq!(theirs[4]["step"], "REFERRER_REWARD");
    assert_eq!(theirs[4]["reason"], "PAYOUT_FAILED");
    let text = alice.body.to_string();
    for internal in ["IN_REVIEW", "REVIEW_VELOCITY", "ACCOUNT_FROZEN", "detail"] {
        assert!(!text.contains(internal), "{internal}: {text}");
    }

    let unknown = api
        .admin("GET", "/admin/v1/members/nobody/checklist", None, admin())
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(unknown.error_code(), "not_found");
    let bad = api
        .admin("GET", "/admin/v1/members/a%20b/checklist", None, admin())
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.error_field(), Some("account_id"));
}

/// An event's and a code's funnel: per day, in total, with the conversion rates, for a range
/// validated field by field; 1 read of the event or code + one Query per counter and click shard.
#[tokio::test]
async fn funnels_per_event_and_per_code_count_per_day_with_conversion_rates() {
    use referral_shared::store::keys;
    let shards = usize::from(keys::FUNNEL_SHARDS) + usize::from(keys::CLICK_SHARDS);
    let api = Api::new().await;
    let store = &api.table.store;
    // Two valid checks of SHARE888 now, through the app API.
    for who in ["x-1", "x-2"] {
        let check = api
            .app(
                "POST",
                "/v1/referralCode/check",
                Some(r#"{"code":"SHARE888"}"#),
                member(who),
            )
            .await;
        assert_eq!(check.body, json!({"valid": true}));
    }
    // A referee written as the consumer writes one: accepted on Nov 2, KYC on Nov 3.
    let mut referee =
        referral_tests::fixtures::referee("acc-f1", "SHARE888", "member:demo-referrer");
    referee.kyc_pass_time = Some(at(3, 5));
    referee.version = 1;
    let utc = |_: &EventId, at: referral_shared::time::Instant| LinkSettings::default().day_of(at);
    let counted = funnel_delta(None, &referee, &[], utc);
    store
        .save_member(referral_shared::store::MemberWrite {
            member: &referee,
            expected_version: 0,
            settlement: &Settlement::default(),
            funnel: &counted,
        })
        .await
        .unwrap();

    let (event, trips) = api
        .table
        .round_trips
        .during(api.admin(
            "GET",
            "/admin/v1/events/personal/funnel?from=2026-11-01&to=2026-11-10",
            None,
            admin(),
        ))
        .await;
    assert_eq!(event.status, 200, "{}", event.body);
    assert_eq!(
        trips,
        1 + shards,
        "the event's Query + counter and click (GSI2) shards"
    );
    assert_eq!(event.body["event_id"], "personal");
    assert_eq!(event.body.get("code"), None);
    assert_eq!(
        event.body["days"],
        json!([
            {"day": "2026-11-02", "counts": {"uses_accepted": 1}},
            {"day": "2026-11-03", "counts": {"kyc_passed": 1}},
        ])
    );
    assert_eq!(event.body["total"]["uses_accepted"], 1);
    assert_eq!(event.body["total"]["checks_valid"], 0);
    assert_eq!(
        event.body["conversion"],
        json!([
            {"from": "clicks", "to": "checks_valid", "rate": null},
            {"from": "checks_valid", "to": "uses_accepted", "rate": null},
            {"from": "uses_accepted", "to": "kyc_passed", "rate": "1.0000"},
            {"from": "kyc_passed", "to": "device_bound", "rate": "0.0000"},
            {"from": "device_bound", "to": "qualified", "rate": null},
            {"from": "qualified", "to": "rewards_REFEREE", "rate": null},
        ])
    );
    // Four visits of the share link today, and the two checks: on the code's funnel.
    for _ in 0..4 {
        let visit = referral_tests::http_support::call_with(
            &api.links,
            "GET",
            "/r/SHARE888",
            None,
            None,
            &[("user-agent", "Mozilla/5.0")],
        )
        .await;
        assert_eq!(visit.status, 302);
    }
    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let (code, trips) = api
        .table
        .round_trips
        .during(api.admin(
            "GET",
            &format!("/admin/v1/codes/share888/funnel?from={today}&to={today}"),
            None,
            admin(),
        ))
        .await;
    assert_eq!(code.status, 200, "{}", code.body);
    assert_eq!(
        trips,
        1 + shards,
        "the code's GetItem + counter and click shards"
    );
    assert_eq!(code.body["code"], "SHARE888");
    assert_eq!(code.body["event_id"], "personal");
    assert_eq!(
        code.body["days"],
        json!([{"day": today, "counts": {"checks_valid": 2, "clicks": 4}}])
    );
    assert_eq!(
        code.body["conversion"][0],
        json!({"from": "clicks", "to": "checks_valid", "rate": "0.5000"})
    );
    assert_eq!(code.body["conversion"][1]["rate"], "0.0000");

    // Bad ranges: 400 naming the field; unknown event or code: 404.
    for (query, field) in [
        ("from=2026-11-01", "to"),
        ("from=1-11-2026&to=2026-11-30", "from"),
        ("from=2026-11-01&to=2026-13-01", "to"),
        ("from=2026-11-30&to=2026-11-01", "to"),
        ("from=2026-01-01&to=2027-01-02", "to"),
        ("from=2026-11-01&to=2026-11-30&extra=1", "extra"),
    ] {
        for path in [
            "/admin/v1/events/personal/funnel",
            "/admin/v1/codes/SHARE888/funnel",
        ] {
            let answer = api
                .admin("GET", &format!("{path}?{query}"), None, admin())
                .await;
            assert_eq!(answer.status, 400, "{path}?{query}: {}", answer.body);
            assert_eq!(answer.body["error"]["field"], field, "{path}?{query}");
        }
    }
    for path in [
        "/admin/v1/events/nope/funnel?from=2026-11-01&to=2026-11-30",
        "/admin/v1/codes/ZZZ23456/funnel?from=2026-11-01&to=2026-11-30",
    ] {
        let answer = api.admin("GET", path, None, admin()).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
    }
}

/// docs/api.md: unknown query parameters are refused on every route of both APIs, by one
/// layer that reads each route's parameters from the OpenAPI document. The 8 routes that used
/// to ignore them (subtitle, event, me/registration, me/funnel, claim, checklist, GET event,
/// statistics) among them, and the routes that already refused (`/v1/referral/me`).
#[tokio::test]
async fn unknown_query_parameters_are_refused_on_every_route() {
    let api = Api::new().await;
    let concrete = |path: &str| {
        path.replace("{event_id}", "personal")
            .replace("{source}", "member:demo-referrer")
            .replace("{code}", "SHARE888")
            .replace("{reward_id}", "acc-1-referee")
            .replace("{account_id}", "acc-1")
    };
    let routes = (referral_shared::api::app::ROUTES.iter().map(|r| (true, r)))
        .chain(ROUTES.iter().map(|r| (false, r)));
    let mut checked = Vec::new();
    for (app, (method, path)) in routes {
        let path = format!("{}?zz_unknown=1", concrete(path));
        let body = (*method != "GET").then_some(r#"{"code":"SHARE888"}"#);
        let answer = if app {
            api.app(method, &path, body, member("demo-referrer")).await
        } else {
            api.admin(method, &path, body, admin()).await
        };
        assert_eq!(answer.status, 400, "{method} {path}: {}", answer.body);
        assert_eq!(
            (answer.error_code(), answer.error_field()),
            ("invalid_query", Some("zz_unknown")),
            "{method} {path}"
        );
        checked.push(path);
    }
    for named in [
        "/v1/referral/subtitle?",
        "/v1/referral/event?",
        "/v1/referral/me/registration?",
        "/v1/referral/me/funnel?",
        "/v1/referral/rewards/acc-1-referee/claim?",
        "/admin/v1/members/acc-1/checklist?",
        "/admin/v1/events/personal?",
        "/admin/v1/referrers/member:demo-referrer/statistics?",
        "/admin/v1/codes/SHARE888/statistics?",
        "/v1/referral/me?",
    ] {
        assert!(
            checked.iter().any(|p| p.starts_with(named)),
            "{named} is checked"
        );
    }
    // A parameter of another route is unknown here; the route's own ones still work.
    let answer = api
        .app(
            "GET",
            "/v1/referral/subtitle?limit=5",
            None,
            member("demo-referrer"),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_field()),
        (400, Some("limit"))
    );
    for (app, path) in [
        (true, "/v1/referral/me?limit=5"),
        (true, "/v1/referral/subtitle"),
        (false, "/admin/v1/events?type=PERSONAL&limit=5"),
    ] {
        let answer = if app {
            api.app("GET", path, None, member("demo-referrer")).await
        } else {
            api.admin("GET", path, None, admin()).await
        };
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    }
    // A name that is not a plain word is not repeated (it could be a phone number).
    let answer = api
        .app(
            "GET",
            "/v1/referral/event?0912345678=1",
            None,
            member("demo-referrer"),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_field()),
        (400, Some("?"))
    );
    assert!(!answer.body.to_string().contains("0912345678"));
}
