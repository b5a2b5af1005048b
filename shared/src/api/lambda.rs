//! The Lambda boundary of both HTTP functions. The event arrives as raw JSON (see
//! `crate::lambda`), is checked to be an API Gateway HTTP API payload 2.0 event, and its body is
//! checked before lambda_http converts it into an `http::Request`: lambda_http decodes a body
//! marked `isBase64Encoded` with an `expect` (aws_lambda_events' `Body::from_maybe_encoded`),
//! so a body that is not base64 would panic there. Such a request is answered 400
//! `invalid_body` in the APIs' error shape instead. The conversion both ways is lambda_http's
//! own (`LambdaRequest` in, its `Adapter` to the router and back to the payload 2.0 response).

use super::ApiError;
use crate::lambda::{Context, InvocationError, WrongEvent, describe};
use axum::Router;
use axum::response::IntoResponse;
use base64::Engine;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use std::convert::Infallible;
use tower::ServiceExt;
use tracing::Instrument;

pub const EXPECTED_HTTP: &str = "an API Gateway HTTP API event (payload version 2.0)";

/// An HTTP function's handler: its router, served one API Gateway event at a time, each in a
/// `request` span (method, matched route, Lambda request id) that the router's log lines
/// inherit. Build once per process; `main` hands [`HttpFunction::handle`] to
/// [`crate::lambda::run`].
#[derive(Clone)]
pub struct HttpFunction {
    router: Router,
}

impl HttpFunction {
    pub fn new(router: Router) -> Self {
        Self { router }
    }

    /// One invocation, in its span; see [`handle`].
    pub async fn handle(
        &self,
        payload: Value,
        context: Context,
    ) -> Result<impl Serialize + use<>, InvocationError> {
        let method = payload
            .pointer("/requestContext/http/method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let span = tracing::info_span!(
            "request",
            method,
            route = tracing::field::Empty,
            request_id = context.request_id.as_str(),
        );
        handle(self.router.clone(), payload, context)
            .instrument(span)
            .await
    }
}

/// One invocation: the payload 2.0 response of `router` to the event, or 400 `invalid_body`
/// for a body that does not decode; an event of another kind is an invocation error (no
/// client sent it, so no HTTP answer is due).
pub async fn handle(
    router: Router,
    payload: Value,
    context: Context,
) -> Result<impl Serialize, InvocationError> {
    let mut request = apigw_v2_request(payload)?;
    let refusal = refuse_undecodable_body(&mut request);
    let event = LambdaEvent::new(LambdaRequest::ApiGatewayV2(request), context);
    let response = match refusal {
        None => Adapter::from(router).oneshot(event).await,
        Some(error) => {
            tracing::warn!(
                status = 400,
                code = "invalid_body",
                "request refused before routing: body marked base64 does not decode"
            );
            let mut answer = Some(error);
            let refuse = tower::service_fn(move |_: lambda_http::Request| {
                let response = answer.take().unwrap_or(ApiError::Internal).into_response();
                std::future::ready(Ok::<_, Infallible>(response))
            });
            Adapter::from(refuse).oneshot(event).await
        }
    };
    Ok(response.unwrap_or_else(|never| match never {}))
}

/// The event as API Gateway's payload 2.0: `version` "2.0" and `requestContext.http.method`.
fn apigw_v2_request(payload: Value) -> Result<ApiGatewayV2httpRequest, WrongEvent> {
    let is_v2 = payload.get("version").and_then(Value::as_str) == Some("2.0");
    let has_method = payload
        .pointer("/requestContext/http/method")
        .is_some_and(Value::is_string);
    if !is_v2 || !has_method {
        let got = if is_v2 {
            "a payload 2.0 event without requestContext.http.method".into()
        } else {
            describe(&payload)
        };
        return Err(WrongEvent {
            expected: EXPECTED_HTTP,
            got,
        });
    }
    crate::lambda::decode(payload, EXPECTED_HTTP)
}

/// A body marked base64 that is not base64 (the same engine lambda_http decodes with) is taken
/// off the request, which is then answered with the returned error instead of being routed.
fn refuse_undecodable_body(request: &mut ApiGatewayV2httpRequest) -> Option<ApiError> {
    let undecodable = request.is_base64_encoded
        && request
            .body
            .as_deref()
            .is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_err());
    if !undecodable {
        return None;
    }
    request.body = None;
    request.is_base64_encoded = false;
    Some(ApiError::Invalid {
        code: "invalid_body",
        message: "the body is marked base64-encoded (isBase64Encoded) but is not valid base64"
            .into(),
        field: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;

    const CHECK: &str = include_str!("../../../events/apigw-check-code.json");

    fn router() -> Router {
        Router::new().route(
            "/v1/referralCode/check",
            post(|body: String| async move { body }),
        )
    }

    fn context() -> Context {
        Context::default()
    }

    async fn answer(payload: Value) -> Value {
        let response = handle(router(), payload, context()).await.unwrap();
        serde_json::to_value(response).unwrap()
    }

    #[tokio::test]
    async fn a_body_that_is_not_base64_gets_400_in_the_api_error_shape() {
        let mut event: Value = serde_json::from_str(CHECK).unwrap();
        event["isBase64Encoded"] = true.into();
        event["body"] = "not base64 at all!".into();
        let response = answer(event).await;
        assert_eq!(response["statusCode"], 400);
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "invalid_body");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("base64")
        );
        assert_eq!(body["error"]["field"], Value::Null);
    }

    #[tokio::test]
    async fn a_base64_body_and_a_plain_body_reach_the_router() {
        let mut event: Value = serde_json::from_str(CHECK).unwrap();
        let plain = answer(event.clone()).await;
        assert_eq!(plain["statusCode"], 200);
        assert_eq!(plain["body"], r#"{"code":"SHARE888"}"#);
        event["isBase64Encoded"] = true.into();
        event["body"] = base64::engine::general_purpose::STANDARD
            .encode(r#"{"code":"SHARE888"}"#)
            .into();
        let decoded = answer(event).await;
        assert_eq!(decoded["statusCode"], 200);
        assert_eq!(decoded["body"], r#"{"code":"SHARE888"}"#);
    }

    #[tokio::test]
    async fn the_function_answers_like_the_bare_router() {
        let event: Value = serde_json::from_str(CHECK).unwrap();
        let function = HttpFunction::new(router());
        let response = function.handle(event.clone(), context()).await.unwrap();
        assert_eq!(
            serde_json::to_value(response).unwrap(),
            answer(event).await,
            "the span and its route layer change nothing in the answer"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_request_span_names_the_method_the_matched_route_and_the_request_id() {
        let capture = crate::telemetry::Capture::start();
        let router = router().layer(axum::middleware::from_fn(super::super::access_log));
        let mut context = context();
        context.request_id = "req-1".into();
        let event: Value = serde_json::from_str(CHECK).unwrap();
        HttpFunction::new(router)
            .handle(event, context)
            .await
            .unwrap();
        let lines = capture.lines();
        let line = lines
            .iter()
            .find(|l| l["fields"]["message"] == "request")
            .expect("the access log line");
        let span = &line["spans"][0];
        assert_eq!(span["name"], "request");
        assert_eq!(span["method"], "POST");
        assert_eq!(span["route"], "/v1/referralCode/check");
        assert_eq!(span["request_id"], "req-1");
    }

    #[tokio::test]
    async fn an_event_of_another_kind_is_an_invocation_error() {
        let sqs: Value =
            serde_json::from_str(include_str!("../../../events/sqs-payout.json")).unwrap();
        let Err(InvocationError::WrongEvent(e)) = handle(router(), sqs, context()).await else {
            panic!("an SQS event must be refused");
        };
        assert_eq!(e.expected, EXPECTED_HTTP);
        assert_eq!(e.got, "a Records event from aws:sqs");
        let mut v1: Value = serde_json::from_str(CHECK).unwrap();
        v1["version"] = "1.0".into();
        let Err(InvocationError::WrongEvent(e)) = handle(router(), v1, context()).await else {
            panic!("a payload 1.0 event must be refused");
        };
        assert_eq!(e.got, "an API Gateway event (payload version 1.0)");
        let mut no_method: Value = serde_json::from_str(CHECK).unwrap();
        no_method["requestContext"]["http"] = Value::Null;
        let Err(InvocationError::WrongEvent(e)) = handle(router(), no_method, context()).await
        else {
            panic!("a payload 2.0 event without a method must be refused");
        };
        assert_eq!(
            e.got,
            "a payload 2.0 event without requestContext.http.method"
        );
    }
}
