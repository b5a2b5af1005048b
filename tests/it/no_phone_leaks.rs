//! No phone number reaches a log line, an EMF metric line, a parked record or an API answer,
//! whatever the input: every topic (and one no function consumes), every field of each record,
//! wrong JSON types (number, bool, object, array, null), overlong values, bad characters, bad
//! base64, bad UTF-8, truncated JSON, unknown event types, corrupt stored profiles, and HTTP
//! bodies and queries with phone-like values in wrong fields. Every log line of this process is
//! captured (our crates at every level, dependencies at `info`) and every EMF line tapped.
//!
//! A leak is one of [`PHONES`] unmasked, or its digits without the leading `0` or `+` (how a
//! JSON number shows it). The masked form (`0987***777`) is fine.

use aws_sdk_dynamodb::types::AttributeValue as Av;
use referral_devkit::msk::{self, Outgoing};
use referral_shared::contracts::kafka::{ParkedRecord, TOPIC_MEMBER_INFO, TOPIC_REGISTRATION};
use referral_shared::store::{PageRequest, prelude::*};
use referral_tests::capture;
use referral_tests::http_support::{Answer, Api, admin, member};
use referral_tests::ingest_support::*;
use serde_json::{Value, json};

const PHONES: [&str; 3] = ["0987650777", "0911203040", "+886910203"];

/// What must never appear: each number as given, and its digits without the leading 0 or +.
fn forbidden() -> Vec<String> {
    PHONES
        .iter()
        .flat_map(|p| {
            let digits = p.trim_start_matches('+').trim_start_matches('0');
            [p.to_string(), digits.to_string()]
        })
        .collect()
}

fn leaks<'a>(place: &str, texts: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let forbidden = forbidden();
    texts
        .into_iter()
        .filter(|t| forbidden.iter().any(|f| t.contains(f.as_str())))
        .map(|t| format!("{place}: {t}"))
        .collect()
}

/// Wrong values for a field that is not the phone number, each carrying `phone`.
fn wrong_values(phone: &str, with_bare_phone: bool) -> Vec<Value> {
    let digits: i64 = phone
        .trim_start_matches('+')
        .parse()
        .expect("the test numbers are digits");
    let mut values = vec![
        json!(digits),                               // a number: digits without the 0
        json!(-digits),                              // a negative number
        json!(digits as f64 + 0.5),                  // a float
        json!(true),                                 // a bool
        json!({ "number": phone }),                  // an object
        json!([phone, digits]),                      // an array
        Value::Null,                                 // null
        json!(format!("{phone}{}", "9".repeat(70))), // overlong
        json!(format!("{phone} #\u{7}")),            // characters the field does not allow
        json!([phone; 7].join("-")),                 // too long for every id
    ];
    if with_bare_phone {
        values.push(json!(phone));
    }
    values
}

fn member_info_value(account: &str, phone: &str) -> Value {
    json!({
        "account_id": account,
        "jkos_id": jkos(account),
        "jkos_account": "A1234567",
        "phone_number": phone,
        "created_at": "2026-11-21T08:00:00Z",
    })
}

fn registration_value(kind: &str, account: &str, phone: &str, code: Option<&str>) -> Value {
    let mut v = json!({
        "type": kind,
        "account_id": account,
        "jkos_id": jkos(account),
        "phone_number": phone,
        "occurred_at": "2026-11-05T08:00:00Z",
    });
    if let Some(code) = code {
        v["referral_code"] = json!(code);
    }
    v
}

/// Every field of `base` replaced by every wrong value, and removed; the phone number field
/// gets wrong values that are not a valid phone (a valid one belongs there).
fn field_variants(base: &Value, phone: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for field in base.as_object().expect("an object").keys() {
        // A phone-like string is a valid id: an id field holding one is not detectable.
        let bare = !matches!(field.as_str(), "account_id" | "jkos_id" | "phone_number");
        let mut values = wrong_values(phone, bare);
        if field == "phone_number" {
            values.retain(|v| !v.is_null()); // an absent phone is valid on registrations
            values.push(json!(format!("{phone}0")));
            values.push(json!(format!("{phone}x")));
        }
        for value in values {
            let mut v = base.clone();
            v[field] = value;
            out.push(v);
        }
        let mut missing = base.clone();
        missing
            .as_object_mut()
            .expect("an object")
            .remove(field.as_str());
        out.push(missing);
    }
    out
}

/// Values that are not a record of the topic at all, each carrying `phone`.
fn broken_values(phone: &str) -> Vec<Option<String>> {
    let mut bad_utf8 = format!(r#"{{"account_id":"acc-u","phone_number":"{phone}"#).into_bytes();
    bad_utf8.extend_from_slice(b"\xff\xfe\"}");
    let b64_bytes = |bytes: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    vec![
        None,
        Some(phone.to_owned()),                                   // not base64
        Some(format!("!{phone}!")),                               // not base64
        Some(b64_bytes(&bad_utf8)),                               // not UTF-8
        Some(msk::b64(phone.trim_start_matches('+'))),            // JSON, but a number
        Some(msk::b64(&format!("\"{phone}\""))),                  // JSON, but a string
        Some(msk::b64(&format!(r#"["{phone}"]"#))),               // JSON, but an array
        Some(msk::b64(&format!(r#"{{"phone_number":"{phone}"#))), // truncated
        Some(msk::b64(&format!(r#"{{"phone_number":0{phone}}}"#))), // not JSON
        Some(msk::b64(&format!("{phone} is my number"))),         // not JSON
        Some(msk::b64(&format!(
            r#"{{"phone_number":"{phone}","phone_number":"{phone}"}}"#
        ))), // duplicate field
    ]
}

/// One consumer's batch: every variant of its own topic, broken values, a record of the other
/// topic and one of a topic nobody consumes.
fn batch(topic: &str, other: &str, base: &Value, phone: &str, first_offset: i64) -> Vec<Outgoing> {
    let mut records = Vec::new();
    let mut offset = first_offset;
    let mut next = || {
        offset += 1;
        offset
    };
    for value in field_variants(base, phone) {
        records.push(Outgoing::json(topic, 0, next(), &value));
    }
    for value in broken_values(phone) {
        let mut r = Outgoing::raw(topic, 1, next(), value.as_deref());
        r.key = Some(phone.to_owned()); // a key that is not base64 either
        records.push(r);
    }
    records.push(Outgoing::json(other, 2, next(), base));
    records.push(Outgoing::json("rd2_member_contact", 2, next(), base));
    records
}

/// A profile item written behind the store's back, with one attribute that does not map onto
/// the domain and carries a phone number.
async fn corrupt_member(h: &Harness, account: &str, attribute: &str, value: Av) {
    h.table
        .client
        .put_item()
        .table_name(&h.table.name)
        .item("PK", Av::S(format!("MEMBER#{account}")))
        .item("SK", Av::S("#PROFILE".into()))
        .item("entity", Av::S("Member".into()))
        .item("account_id", Av::S(account.into()))
        .item("jkos_id", Av::S(jkos(account)))
        .item("created_at", Av::S("2026-11-01T00:00:00.000Z".into()))
        .item("updated_at", Av::S("2026-11-01T00:00:00.000Z".into()))
        .item("version", Av::N("1".into()))
        .item(attribute, value)
        .send()
        .await
        .unwrap();
}

async fn kafka_scenarios() -> Vec<String> {
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let [p1, p2, p3] = PHONES;

    // Corrupt stored profiles: a time, a number and an over-long phone where strings belong.
    corrupt_member(&h, "acc-corrupt-1", "kyc_pass_time", Av::S(p1.into())).await;
    corrupt_member(&h, "acc-corrupt-2", "phone_number", Av::N(p2[1..].into())).await;
    corrupt_member(&h, "acc-corrupt-3", "phone_number", Av::S(format!("{p3}0"))).await;
    let mut corrupt: Vec<Outgoing> = ["acc-corrupt-1", "acc-corrupt-2", "acc-corrupt-3"]
        .iter()
        .enumerate()
        .map(|(i, account)| {
            Outgoing::json(
                TOPIC_REGISTRATION,
                3,
                i as i64,
                &registration_value("KYC_PASSED", account, p1, None),
            )
        })
        .collect();

    let mut parked_by_reports = 0;
    for (i, phone) in PHONES.into_iter().enumerate() {
        // Offsets never repeat: a parked record's key is its coordinates.
        let base = 10_000 * i as i64;
        // Member info: every field wrong in every way, plus a valid record with the phone.
        let info = member_info_value("acc-info", phone);
        let mut records = batch(TOPIC_MEMBER_INFO, TOPIC_REGISTRATION, &info, phone, base);
        records.push(Outgoing::json(
            TOPIC_MEMBER_INFO,
            0,
            base + 9000,
            &member_info_value("acc-valid", phone),
        ));
        let report = h
            .consumer(TOPIC_MEMBER_INFO)
            .handle(&msk::event(&records))
            .await
            .unwrap();
        parked_by_reports += report.parked;

        // Registration: the same for a code use; then a member who qualifies, with the phone.
        let used = registration_value("REFERRAL_CODE_USED", "acc-reg", phone, Some("SHARE888"));
        let mut records = batch(
            TOPIC_REGISTRATION,
            TOPIC_MEMBER_INFO,
            &used,
            phone,
            base + 5000,
        );
        for (j, kind) in ["REFERRAL_CODE_USED", "KYC_PASSED", "DEVICE_BOUND"]
            .iter()
            .enumerate()
        {
            records.push(Outgoing::json(
                TOPIC_REGISTRATION,
                0,
                base + 9100 + j as i64,
                &registration_value(kind, "acc-qualifies", phone, Some("SHARE888")),
            ));
        }
        records.append(&mut corrupt);
        let report = h
            .consumer(TOPIC_REGISTRATION)
            .handle(&msk::event(&records))
            .await
            .unwrap();
        parked_by_reports += report.parked;
    }
    assert!(
        h.member("acc-qualifies")
            .await
            .unwrap()
            .qualified_at
            .is_some(),
        "the valid records were applied"
    );

    // The parked records, read back through the store as `referral-dev parked` reads them.
    let mut parked: Vec<ParkedRecord> = Vec::new();
    let mut page = PageRequest::first(200);
    loop {
        let got = h.table.store.parked_records(page).await.unwrap();
        parked.extend(got.items);
        match got.next {
            Some(cursor) => page = PageRequest::after(200, cursor),
            None => break,
        }
    }
    assert_eq!(parked.len() as u64, parked_by_reports);
    assert!(parked.len() > 300, "{} parked", parked.len());
    let kinds: std::collections::BTreeSet<&str> =
        parked.iter().map(|p| p.reason_kind.as_str()).collect();
    for kind in [
        "bad_base64",
        "bad_json",
        "missing_value",
        "unexpected_topic",
        "corrupt_state",
        "invalid_field",
        "unknown_type",
    ] {
        assert!(kinds.contains(kind), "no {kind} among {kinds:?}");
    }
    // A wrong type in the phone field is parked naming the field, not the value.
    let reasons: Vec<String> = parked
        .iter()
        .map(|p| serde_json::to_string(&p.reason).unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("phone_number")),
        "no reason names phone_number: {reasons:?}"
    );
    let stored: Vec<String> = parked
        .iter()
        .map(|p| serde_json::to_string(p).unwrap())
        .collect();
    leaks("parked record", &stored)
}

async fn http_scenarios() -> Vec<String> {
    let api = Api::new().await;
    let n1 = &PHONES[0][1..];
    let mut answers: Vec<(String, Answer)> = Vec::new();

    let me = || member("member-1");
    let check = "/v1/referralCode/check";
    let mut bodies: Vec<String> = Vec::new();
    for phone in PHONES {
        for value in wrong_values(phone, true) {
            bodies.push(json!({ "code": value }).to_string());
        }
        bodies.push(json!({ "code": "SHARE888", "phone_number": phone }).to_string());
        bodies.push(json!({ phone: "SHARE888" }).to_string());
        bodies.push(json!(phone).to_string());
        bodies.push(json!([phone]).to_string());
        bodies.push(phone.trim_start_matches('+').to_owned());
        bodies.push(format!(r#"{{"code":"{phone}"#));
        bodies.push(format!(r#"{{"code":0{phone}}}"#));
    }
    for body in &bodies {
        let answer = api.app("POST", check, Some(body), me()).await;
        answers.push((format!("POST {check} {body}"), answer));
    }
    let mut gets: Vec<String> = Vec::new();
    for phone in PHONES {
        let digits = phone.trim_start_matches('+');
        for query in [
            format!("limit={digits}"),
            format!("limit=x{digits}"),
            format!("limit=-{digits}"),
            format!("cursor={digits}"),
            format!("{digits}=1"),
            format!("limit=5&phone_number={digits}"),
        ] {
            gets.push(format!("/v1/referral/me?{query}"));
        }
        // No profile of member-1: 404, whatever the query holds.
        gets.push(format!("/v1/referral/me/registration?jkos_id={digits}"));
    }
    for path in &gets {
        let answer = api.app("GET", path, None, me()).await;
        answers.push((format!("GET {path}"), answer));
    }

    // Admin: queries, bodies and paths.
    let mut admin_calls: Vec<(&str, String, Option<String>)> = Vec::new();
    for phone in PHONES {
        let digits = phone.trim_start_matches('+');
        for query in [
            format!("type={digits}"),
            format!("type=CAMPAIGN&{digits}=1"),
            format!("type=CAMPAIGN&limit={digits}x"),
            format!("type=CAMPAIGN&cursor={digits}"),
        ] {
            admin_calls.push(("GET", format!("/admin/v1/events?{query}"), None));
        }
        for query in [
            format!("status={digits}"),
            format!("status=FAIL&phone={digits}"),
        ] {
            admin_calls.push(("GET", format!("/admin/v1/rewards?{query}"), None));
        }
        // A phone-like id or name is a valid id or name: only invalid values are sent there.
        for (field, bare) in [("event_id", false), ("event_type", true), ("name", false)] {
            for value in wrong_values(phone, bare) {
                let mut body =
                    json!({"event_id": "promo", "event_type": "CAMPAIGN", "name": "Promo"});
                body[field] = value;
                admin_calls.push(("POST", "/admin/v1/events".into(), Some(body.to_string())));
            }
        }
        for value in wrong_values(phone, false) {
            let body = json!({"event_id": "promo", "event_type": "CAMPAIGN", "name": "Promo",
                "contents": [{"window_id": "w", "start": "2026-11-01T00:00:00Z",
                    "end": "2026-12-01T00:00:00Z",
                    "referrer": {"reward_type": "COIN", "amount": value.clone()},
                    "referee": {"reward_type": "COIN", "amount": "10"}}]});
            admin_calls.push(("POST", "/admin/v1/events".into(), Some(body.to_string())));
            admin_calls.push((
                "POST",
                "/admin/v1/events/personal/codes".into(),
                Some(json!({ "source": value.clone() }).to_string()),
            ));
            admin_calls.push((
                "POST",
                "/admin/v1/events/personal/codes".into(),
                Some(json!({ "code": value.clone(), "source": "partner" }).to_string()),
            ));
            admin_calls.push((
                "PUT",
                "/admin/v1/events/personal".into(),
                Some(json!({ "name": value }).to_string()),
            ));
        }
        admin_calls.push((
            "POST",
            "/admin/v1/events".into(),
            Some(
                json!({"event_id": "promo", "event_type": "CAMPAIGN", "name": "Promo",
                    "phone_number": phone})
                .to_string(),
            ),
        ));
        admin_calls.push(("POST", format!("/admin/v1/rewards/{digits}/retry"), None));
        admin_calls.push(("GET", format!("/admin/v1/codes/{digits}/referees"), None));
        admin_calls.push(("GET", format!("/admin/v1/events/{digits}x"), None));
        // A phone-like account id is a valid id of nobody (404); with a '+' it is no id (400).
        admin_calls.push(("GET", format!("/admin/v1/members/{digits}/checklist"), None));
        admin_calls.push(("GET", format!("/admin/v1/members/{phone}/checklist"), None));
    }
    for (method, path, body) in &admin_calls {
        let answer = api.admin(method, path, body.as_deref(), admin()).await;
        answers.push((format!("{method} {path} {body:?}"), answer));
    }

    // Every bad input is refused with a 4xx error in the one shape (a code check answers a
    // string that is no code with the same 200 as an unknown code); a wrong type names its field.
    for (request, answer) in &answers {
        if answer.status.is_success() && request.starts_with("POST /v1/referralCode/check") {
            assert_eq!(answer.body, json!({"valid": false}), "{request}");
            continue;
        }
        assert!(
            answer.status.is_client_error(),
            "{request}: {} {}",
            answer.status,
            answer.body
        );
        assert!(answer.body["error"]["code"].is_string(), "{request}");
    }
    let typed = api
        .app("POST", check, Some(&format!(r#"{{"code":{n1}}}"#)), me())
        .await;
    assert_eq!(typed.error_field(), Some("code"), "{}", typed.body);

    // The request itself holds the number; only what came back is checked.
    answers
        .iter()
        .flat_map(|(request, answer)| {
            let response = format!("{} {:?} {}", answer.status, answer.headers, answer.body);
            leaks("API answer", [&response])
                .into_iter()
                .map(move |leak| format!("{leak}\n    for {request}"))
        })
        .collect()
}

#[tokio::test]
async fn no_phone_number_reaches_logs_metrics_parked_records_or_answers() {
    capture::install();
    let mut found = kafka_scenarios().await;
    found.extend(http_scenarios().await);

    let logs = capture::log_lines();
    assert!(
        logs.iter().any(|l| l.contains("malformed record parked")),
        "the capture saw the consumers' lines ({} lines)",
        logs.len()
    );
    found.extend(leaks("log line", &logs));
    // A line about one member's record carries the member group's span (account and the
    // records' coordinates): the engine does not repeat those fields by hand.
    let parked_lines: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "record cannot be applied; parked")
        .collect();
    assert!(
        !parked_lines.is_empty(),
        "the corrupt-profile scenarios logged their parking"
    );
    for line in &parked_lines {
        let spans = line["spans"].as_array().cloned().unwrap_or_default();
        let member = spans
            .iter()
            .find(|s| s["name"] == "member")
            .unwrap_or_else(|| panic!("no member span on {line}"));
        assert!(member["account"].is_string(), "{line}");
        assert!(member["topic"].is_string(), "{line}");
        assert!(member["first_offset"].is_number(), "{line}");
        assert!(line["fields"]["offset"].is_number(), "{line}");
    }
    let metrics = capture::metric_lines();
    assert!(!metrics.is_empty(), "the EMF lines were tapped");
    found.extend(leaks("EMF line", &metrics));

    assert!(
        found.is_empty(),
        "{} phone number leak(s):\n{}",
        found.len(),
        found
            .iter()
            .take(40)
            .map(|l| l.chars().take(600).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
