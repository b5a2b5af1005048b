//! The partner clients against answers the stand-in never gives on its own (wiremock): how
//! each kind of answer is classified, what is sent, and what is kept of an error body.

use referral_shared::partners::{
    CompensationRequest, MessageRequest, PartnerConfig, PartnerError, Partners,
};
use referral_shared::*;
use referral_tests::payout_support::reward;
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn clients(server: &MockServer) -> Partners {
    let mut config = PartnerConfig::local(&server.uri(), &server.uri()).unwrap();
    config.finance_timeout = Duration::from_millis(300);
    config.msghub_timeout = Duration::from_millis(300);
    Partners::new(&config).unwrap()
}

fn request() -> (String, CompensationRequest) {
    let r = reward("acc-1", Side::Referee);
    (r.reward_id.to_string(), CompensationRequest::for_reward(&r))
}

#[tokio::test]
async fn a_compensation_sends_the_key_and_the_contract_body_and_reads_the_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/compensations"))
        .and(header("Idempotency-Key", "acc-1-referee"))
        .and(body_json(json!({
            "member_jkos_id": "jk-acc-1",
            "reward_type": "COUPON",
            "amount": "100.00",
            "reference": "referral/personal/acc-1-referee",
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"compensation_id": "cmp-9"})))
        .expect(1)
        .mount(&server)
        .await;
    let (key, body) = request();
    let id = clients(&server)
        .await
        .finance
        .compensate(&key, &body)
        .await
        .unwrap();
    assert_eq!(id, "cmp-9");
}

#[tokio::test]
async fn each_kind_of_finance_answer_is_classified() {
    let cases: Vec<(ResponseTemplate, &str, bool)> = vec![
        (
            ResponseTemplate::new(200).set_body_string("not json"),
            "invalid_response",
            true,
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"compensation_id": ""})),
            "invalid_response",
            true,
        ),
        (ResponseTemplate::new(503), "unavailable", true),
        (ResponseTemplate::new(429), "unavailable", true),
        (
            ResponseTemplate::new(409)
                .set_body_json(json!({"code": "IDEMPOTENCY_KEY_REUSED", "message": "x"})),
            "conflict",
            false,
        ),
        (
            ResponseTemplate::new(422)
                .set_body_json(json!({"code": "ACCOUNT_FROZEN", "message": "frozen"})),
            "rejected",
            false,
        ),
        (
            ResponseTemplate::new(400).set_body_string("<html>bad</html>"),
            "rejected",
            false,
        ),
        (
            ResponseTemplate::new(201)
                .set_body_json(json!({"compensation_id": "late"}))
                .set_delay(Duration::from_secs(2)),
            "timeout",
            true,
        ),
    ];
    for (template, kind, retryable) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(template)
            .mount(&server)
            .await;
        let (key, body) = request();
        let err = clients(&server)
            .await
            .finance
            .compensate(&key, &body)
            .await
            .unwrap_err();
        assert_eq!((err.kind(), err.is_retryable()), (kind, retryable), "{err}");
    }
}

#[tokio::test]
async fn an_error_body_is_reduced_to_its_code_and_a_bounded_message() {
    let server = MockServer::start().await;
    let long = "y".repeat(5_000);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(422).set_body_json(
            json!({"code": "ACCOUNT_FROZEN", "message": long, "member": "0912345678"}),
        ))
        .mount(&server)
        .await;
    let (key, body) = request();
    let err = clients(&server)
        .await
        .finance
        .compensate(&key, &body)
        .await
        .unwrap_err();
    match &err {
        PartnerError::Rejected {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(*status, 422);
            assert_eq!(code.as_deref(), Some("ACCOUNT_FROZEN"));
            assert!(message.chars().count() <= 201);
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("0912345678"));
    assert_eq!(err.summary(), "finance rejected 422 ACCOUNT_FROZEN");
}

#[tokio::test]
async fn a_partner_that_is_not_listening_is_unreachable_and_retryable() {
    // Bind and drop: a local port with nothing behind it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let partners = Partners::new(&PartnerConfig::local(&url, &url).unwrap()).unwrap();
    let (key, body) = request();
    let err = partners.finance.compensate(&key, &body).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.is_retryable()),
        ("unreachable", true),
        "{err}"
    );
}

#[tokio::test]
async fn a_message_is_posted_to_msg_hub_as_the_contract_says() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(body_json(json!({
            "member_jkos_id": "jk-1", "channel": "PUSH", "title": "t", "content": "c"
        })))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let message = MessageRequest {
        member_jkos_id: JkosId::parse("jk-1").unwrap(),
        channel: Channel::Push,
        title: "t".into(),
        content: "c".into(),
    };
    clients(&server).await.msghub.send(&message).await.unwrap();
}
