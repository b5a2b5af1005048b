//! The Lambda boundary every function runs through ([`run`]): the event arrives as raw JSON,
//! so nothing the runtime does before our code can fail on a strange payload; each function
//! checks the event's shape itself ([`kafka_event`], [`sqs_event`], [`scheduled_event`], the
//! HTTP functions in `api::lambda`) and refuses an event of the wrong kind as an invocation
//! error that says what it expected and what it got — a miswired trigger shows up as errors,
//! never as silent successes. A panic in a handler becomes an error for THAT invocation and
//! the process serves the next one (this needs `panic = "unwind"`, ADR 0003).
//!
//! Nothing here logs or returns a value from the payload: descriptions of what arrived are
//! built from AWS's own markers (`eventSource`, `version`, `detail-type`) and JSON paths only.

use crate::telemetry;
use aws_lambda_events::event::kafka::KafkaEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use futures::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Once;

pub use lambda_runtime::Context;

/// An event of another kind than the function was built for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got}")]
pub struct WrongEvent {
    /// What the function accepts, e.g. "an MSK event (eventSource aws:kafka)".
    pub expected: &'static str,
    /// What arrived, from AWS markers only (see [`describe`]).
    pub got: String,
}

/// Why an invocation failed; posted to the Runtime API's `/invocation/{id}/error`.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The event is not of the function's kind (a miswired trigger or a hand-made test event).
    #[error(transparent)]
    WrongEvent(#[from] WrongEvent),
    /// The handler failed (e.g. a transient fault; the trigger retries). `kind` becomes the
    /// `errorType`, `message` the `errorMessage`: neither may hold payload values.
    #[error("{message}")]
    Failed { kind: &'static str, message: String },
}

impl InvocationError {
    fn error_type(&self) -> &'static str {
        match self {
            InvocationError::WrongEvent(_) => "WrongEvent",
            InvocationError::Failed { kind, .. } => kind,
        }
    }
}

/// The `errorType` of a store failure: what failed, in one word CloudWatch can group by.
pub fn store_error_type(error: &crate::store::StoreError) -> &'static str {
    use crate::store::StoreError;
    match error {
        StoreError::Unavailable { .. } => "StoreUnavailable",
        StoreError::Rejected { .. } => "StoreRejected",
        StoreError::Conflict { .. } => "StoreConflict",
        StoreError::Corrupt { .. } => "StoreCorrupt",
        StoreError::WindowInUse { .. } => "WindowInUse",
        StoreError::InvalidCursor => "InvalidCursor",
    }
}

/// The `errorType` of a queue failure.
pub fn queue_error_type(error: &crate::queue::QueueError) -> &'static str {
    use crate::queue::QueueError;
    match error {
        QueueError::Unavailable { .. } => "QueueUnavailable",
        QueueError::Rejected { .. } => "QueueRejected",
    }
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(e: InvocationError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Serves invocations until the Runtime API goes away: each event is handed to `handler` as
/// raw JSON; an `Err` or a panic is posted as that invocation's error, logged and counted
/// (`WrongEvents`, `HandlerPanics`, dimension `Function`), and the next event is served.
pub async fn run<H, F, R>(function: &'static str, handler: H) -> Result<(), lambda_runtime::Error>
where
    H: Fn(Value, Context) -> F + Clone,
    F: Future<Output = Result<R, InvocationError>>,
    R: Serialize,
{
    install_panic_hook();
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| {
            let handler = handler.clone();
            async move {
                let invocation =
                    AssertUnwindSafe(async move { handler(event.payload, event.context).await });
                match invocation.catch_unwind().await {
                    Ok(Ok(response)) => Ok(response),
                    Ok(Err(error)) => {
                        if let InvocationError::WrongEvent(wrong) = &error {
                            tracing::error!(
                                function,
                                expected = wrong.expected,
                                got = %wrong.got,
                                "wrong event for this function; check its trigger"
                            );
                            count(function, "WrongEvents");
                        }
                        Err(lambda_runtime::Diagnostic::from(error))
                    }
                    Err(_) => {
                        let at = LAST_PANIC
                            .with(|p| p.borrow_mut().take())
                            .unwrap_or_else(|| "an unknown location".into());
                        tracing::error!(function, location = %at, "handler panicked; this invocation fails, the function lives on");
                        count(function, "HandlerPanics");
                        Err(lambda_runtime::Diagnostic {
                            error_type: "Panic".into(),
                            error_message: format!(
                                "the handler panicked at {at}; see the function's log"
                            ),
                        })
                    }
                }
            }
        },
    ))
    .await
}

fn count(function: &'static str, metric: &'static str) {
    telemetry::emit(&telemetry::emf(
        &telemetry::namespace(),
        &[("Function", function)],
        &[(metric, 1)],
        chrono::Utc::now(),
    ));
}

thread_local! {
    /// Where the last panic on this thread happened, for the invocation's error message. The
    /// hook runs on the panicking thread, and the unwind is caught in the same poll there.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the default panic hook (which prints the panic's message to stderr) with one log
/// line holding the location, and the message only when it is a literal from our code: a
/// formatted message (`unwrap` on an error, `expect` with context) can quote input values.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_else(|| "an unknown location".into());
            let message = info
                .payload()
                .downcast_ref::<&'static str>()
                .copied()
                .unwrap_or("(withheld: a formatted panic message can hold input values)");
            tracing::error!(location = %location, message, "panic");
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(location));
        }));
    });
}

/// What an event looks like, for "expected …, got …": the kind of JSON value, and for objects
/// the AWS marker that identifies the source (only known AWS constants are named).
pub fn describe(payload: &Value) -> String {
    let Some(object) = payload.as_object() else {
        return format!("a JSON {}", json_kind(payload));
    };
    if let Some(records) = object.get("Records").and_then(Value::as_array) {
        let source = records.first().and_then(|r| {
            r.get("eventSource")
                .or_else(|| r.get("EventSource"))
                .and_then(Value::as_str)
        });
        return match source.and_then(known_source) {
            Some(s) => format!("a Records event from {s}"),
            None => "a Records event from an unrecognised source".into(),
        };
    }
    if let Some(source) = object.get("eventSource") {
        return match source.as_str().and_then(known_source) {
            Some(s) => format!("an event with eventSource {s}"),
            None => "an event with an unrecognised eventSource".into(),
        };
    }
    if object.contains_key("requestContext") || object.contains_key("routeKey") {
        return match object.get("version").and_then(Value::as_str) {
            Some(v @ ("1.0" | "2.0")) => format!("an API Gateway event (payload version {v})"),
            _ => "an API Gateway-like event without payload version 2.0".into(),
        };
    }
    if object.contains_key("detail-type") {
        return "an EventBridge event of another detail-type".into();
    }
    "a JSON object without a recognised event marker".into()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The `eventSource` values of the triggers Lambda has; anything else is not echoed.
fn known_source(s: &str) -> Option<&'static str> {
    const KNOWN: &[&str] = &[
        "aws:kafka",
        "SelfManagedKafka",
        "aws:sqs",
        "aws:sns",
        "aws:s3",
        "aws:dynamodb",
        "aws:kinesis",
        "aws:mq",
        "aws:rmq",
        "aws:ses",
        "aws:codecommit",
        "aws:docdb",
    ];
    KNOWN.iter().copied().find(|k| *k == s)
}

/// Decodes an event whose markers were checked; a field that does not fit is reported by its
/// JSON path only (serde's own message can quote the value).
pub(crate) fn decode<T: DeserializeOwned>(
    payload: Value,
    expected: &'static str,
) -> Result<T, WrongEvent> {
    serde_path_to_error::deserialize::<_, T>(payload).map_err(|e| WrongEvent {
        expected,
        got: format!(
            "an event whose field `{}` is missing or of the wrong type",
            e.path()
        ),
    })
}

pub const EXPECTED_KAFKA: &str =
    "an MSK event (eventSource aws:kafka or SelfManagedKafka, with a records object)";
pub const EXPECTED_SQS: &str = "an SQS event (a Records array of aws:sqs messages)";
pub const EXPECTED_SCHEDULE: &str = "a scheduled event (detail-type \"Scheduled Event\")";

/// An MSK (or self-managed Kafka) event: `eventSource` says so and `records` is an object.
pub fn kafka_event(payload: Value) -> Result<KafkaEvent, WrongEvent> {
    let wrong = |payload: &Value| WrongEvent {
        expected: EXPECTED_KAFKA,
        got: describe(payload),
    };
    let source = payload.get("eventSource").and_then(Value::as_str);
    if !matches!(source, Some("aws:kafka" | "SelfManagedKafka"))
        || !payload.get("records").is_some_and(Value::is_object)
    {
        return Err(wrong(&payload));
    }
    decode(payload, EXPECTED_KAFKA)
}

/// An SQS event: a `Records` array whose every message has `eventSource` `aws:sqs`.
pub fn sqs_event(payload: Value) -> Result<SqsEvent, WrongEvent> {
    let all_sqs = payload
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|records| {
            records
                .iter()
                .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        });
    if !all_sqs {
        return Err(WrongEvent {
            expected: EXPECTED_SQS,
            got: describe(&payload),
        });
    }
    decode(payload, EXPECTED_SQS)
}

/// A scheduled event: EventBridge's `{"detail-type": "Scheduled Event", ...}` — what a rule
/// sends, and what the template's schedule (EventBridge Scheduler) is given as its input.
pub fn scheduled_event(payload: &Value) -> Result<(), WrongEvent> {
    if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        Ok(())
    } else {
        Err(WrongEvent {
            expected: EXPECTED_SCHEDULE,
            got: describe(payload),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KAFKA: &str = include_str!("../../events/msk-member-info.json");
    const SQS: &str = include_str!("../../events/sqs-payout.json");
    const APIGW: &str = include_str!("../../events/apigw-check-code.json");

    fn event(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn each_parser_accepts_its_own_event_and_names_what_else_arrived() {
        assert!(kafka_event(event(KAFKA)).is_ok());
        assert!(sqs_event(event(SQS)).is_ok());
        let schedule =
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert!(scheduled_event(&schedule).is_ok());

        let e = kafka_event(event(SQS)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("expected {EXPECTED_KAFKA}, got a Records event from aws:sqs")
        );
        let e = kafka_event(event(APIGW)).unwrap_err();
        assert_eq!(e.got, "an API Gateway event (payload version 2.0)");
        let e = sqs_event(event(KAFKA)).unwrap_err();
        assert_eq!(e.got, "an event with eventSource aws:kafka");
        let e = scheduled_event(&event(SQS)).unwrap_err();
        assert_eq!(e.expected, EXPECTED_SCHEDULE);
        assert_eq!(
            kafka_event(json!({})).unwrap_err().got,
            "a JSON object without a recognised event marker"
        );
        assert_eq!(sqs_event(json!([1])).unwrap_err().got, "a JSON array");
    }

    #[test]
    fn descriptions_never_echo_payload_values() {
        let phone = "0912345678";
        let payloads = [
            json!({"eventSource": phone, "records": {}}),
            json!({"Records": [{"eventSource": phone}]}),
            json!({"version": phone, "requestContext": {}}),
            json!({"detail-type": phone}),
            json!(phone),
        ];
        for p in payloads {
            let got = describe(&p);
            assert!(!got.contains(phone), "{got}");
            let e = kafka_event(p).unwrap_err().to_string();
            assert!(!e.contains(phone), "{e}");
        }
        // A record of the right kind whose envelope does not fit: named by path only.
        let bad = json!({"eventSource": "aws:kafka", "records": {"t-0": [{"partition": phone}]}});
        let e = kafka_event(bad).unwrap_err().to_string();
        assert!(e.contains("records.t-0[0].partition"), "{e}");
        assert!(!e.contains(phone), "{e}");
    }

    #[test]
    fn store_and_queue_failures_name_what_failed() {
        use crate::queue::{QueueError, QueueOperation};
        use crate::store::StoreError;
        let rows: [(StoreError, &str); 6] = [
            (
                StoreError::Unavailable {
                    operation: "BatchGetItem",
                    message: "timeout".into(),
                },
                "StoreUnavailable",
            ),
            (
                StoreError::Rejected {
                    operation: "PutItem",
                    message: "ValidationException".into(),
                },
                "StoreRejected",
            ),
            (
                StoreError::Corrupt {
                    key: "MEMBER#a".into(),
                    message: "bad".into(),
                },
                "StoreCorrupt",
            ),
            (StoreError::InvalidCursor, "InvalidCursor"),
            (
                StoreError::WindowInUse {
                    event: crate::domain::EventId::parse("e1").unwrap(),
                    window: crate::domain::WindowId::parse("w1").unwrap(),
                },
                "WindowInUse",
            ),
            (
                StoreError::Conflict {
                    entity: crate::store::Entity::Member,
                    key: "MEMBER#a".into(),
                },
                "StoreConflict",
            ),
        ];
        for (error, expected) in rows {
            assert_eq!(store_error_type(&error), expected, "{error}");
        }
        let unavailable = QueueError::Unavailable {
            operation: QueueOperation::Enqueue,
            message: "throttled".into(),
        };
        assert_eq!(queue_error_type(&unavailable), "QueueUnavailable");
        assert!(unavailable.to_string().contains("SendMessageBatch"));
        let rejected = QueueError::Rejected {
            operation: QueueOperation::DeadLetter,
            message: "InvalidParameterValue".into(),
        };
        assert_eq!(queue_error_type(&rejected), "QueueRejected");
        let diagnostic = lambda_runtime::Diagnostic::from(InvocationError::Failed {
            kind: queue_error_type(&rejected),
            message: rejected.to_string(),
        });
        assert_eq!(diagnostic.error_type, "QueueRejected");
    }

    #[test]
    fn a_kafka_event_without_records_or_of_another_source_is_refused() {
        assert!(kafka_event(json!({"eventSource": "aws:kafka"})).is_err());
        assert!(kafka_event(json!({"eventSource": "aws:kafka", "records": []})).is_err());
        assert!(kafka_event(json!({"eventSource": "SelfManagedKafka", "records": {}})).is_ok());
        assert!(sqs_event(json!({"Records": [{"eventSource": "aws:sns"}]})).is_err());
    }
}
