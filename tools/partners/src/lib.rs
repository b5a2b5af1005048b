//! Local stand-ins for the two partner APIs the payout calls, on one HTTP port:
//!
//! - finance: `POST /v1/compensations` (header `Idempotency-Key`), exactly as the contract in
//!   `docs/partners.md` says: the same key and body again → the same answer and no second
//!   payment; the same key with a different body → 409; bad input → 400/422.
//! - msg-hub: `POST /v1/messages`.
//!
//! Every call is recorded, and each partner can be told to misbehave ([`Knobs`]): a rate of
//! 500s, the next N calls failing, added latency, timeouts (hang without doing anything) and,
//! for finance, "commit then time out" (pay, then hang: the caller never hears of it).
//! Control endpoints under `/_stand-in/` let a demo or a test read and steer it over HTTP;
//! in-process tests use [`StandIn`] directly.
//!
//! This is a test double written from the contract, not from our client: it shares no code
//! with `referral_shared::partners`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How one partner misbehaves. `fail_next` first; then the rates are shares of all calls
/// (one draw per call; their sum should not exceed 1): `error_rate` answers 500,
/// `timeout_rate` hangs without doing anything, `commit_then_timeout_rate` (finance only) pays
/// and then hangs, so the caller never hears that it was paid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    pub error_rate: f64,
    pub timeout_rate: f64,
    pub commit_then_timeout_rate: f64,
    /// The next N calls answer 500, whatever the rates.
    pub fail_next: u32,
    /// Added to every call before anything else.
    pub latency_ms: u64,
    /// How long a "timeout" hangs before answering 504 (the caller should have given up).
    pub hang_ms: Option<u64>,
    /// Finance only: idempotency keys refused with 422 `ACCOUNT_FROZEN` (a non-retryable 4xx).
    pub reject_keys: Vec<String>,
}

impl Knobs {
    fn hang(&self) -> Duration {
        Duration::from_millis(self.hang_ms.unwrap_or(30_000))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AllKnobs {
    pub finance: Knobs,
    pub msghub: Knobs,
}

/// A committed payment: one per idempotency key, ever.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payment {
    pub idempotency_key: String,
    pub compensation_id: String,
    pub body: Value,
}

/// One call as received, and what the stand-in did with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Call {
    /// The `Idempotency-Key` header (finance), if sent.
    pub key: Option<String>,
    pub body: Value,
    /// `paid`, `replayed`, `conflict`, `rejected`, `invalid`, `injected_500`, `timeout`,
    /// `commit_then_timeout` (finance); `accepted`, `invalid`, `injected_500`, `timeout` (msg-hub).
    pub outcome: String,
}

#[derive(Debug)]
struct State0 {
    knobs: AllKnobs,
    payments: HashMap<String, Payment>,
    finance_calls: Vec<Call>,
    messages: Vec<Call>,
    rng: StdRng,
    next_id: u64,
}

/// The stand-ins' state, shared by the HTTP handlers and whoever drives them.
#[derive(Debug)]
pub struct StandIn {
    state: Mutex<State0>,
}

impl StandIn {
    /// `seed` makes the injected failures repeatable.
    pub fn new(seed: u64) -> Self {
        Self {
            state: Mutex::new(State0 {
                knobs: AllKnobs::default(),
                payments: HashMap::new(),
                finance_calls: Vec::new(),
                messages: Vec::new(),
                rng: StdRng::seed_from_u64(seed),
                next_id: 1,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State0> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn knobs(&self) -> AllKnobs {
        self.lock().knobs.clone()
    }

    pub fn set_knobs(&self, knobs: AllKnobs) {
        self.lock().knobs = knobs;
    }

    pub fn set_finance(&self, knobs: Knobs) {
        self.lock().knobs.finance = knobs;
    }

    pub fn set_msghub(&self, knobs: Knobs) {
        self.lock().knobs.msghub = knobs;
    }

    /// Every payment committed, in no particular order.
    pub fn payments(&self) -> Vec<Payment> {
        self.lock().payments.values().cloned().collect()
    }

    pub fn finance_calls(&self) -> Vec<Call> {
        self.lock().finance_calls.clone()
    }

    pub fn messages(&self) -> Vec<Call> {
        self.lock().messages.clone()
    }

    /// Restarts the dice from `seed`.
    pub fn reseed(&self, seed: u64) {
        self.lock().rng = StdRng::seed_from_u64(seed);
    }

    /// Forgets calls, payments and knobs.
    pub fn reset(&self) {
        let mut s = self.lock();
        s.knobs = AllKnobs::default();
        s.payments.clear();
        s.finance_calls.clear();
        s.messages.clear();
    }
}

/// What the dice said for one call.
enum Fate {
    Fail,
    Hang,
    Proceed { then_hang: bool },
}

fn roll(state: &mut State0, finance: bool) -> (Fate, Duration, Duration) {
    let State0 { knobs, rng, .. } = state;
    let knobs = if finance {
        &mut knobs.finance
    } else {
        &mut knobs.msghub
    };
    let latency = Duration::from_millis(knobs.latency_ms);
    let hang = knobs.hang();
    if knobs.fail_next > 0 {
        knobs.fail_next -= 1;
        return (Fate::Fail, latency, hang);
    }
    // One draw per call, so each rate is a share of all calls: 0.3 and 0.1 mean 30% of calls
    // fail and another 10% commit then time out.
    let draw: f64 = rng.random();
    let fail = knobs.error_rate.max(0.0);
    let hang_only = fail + knobs.timeout_rate.max(0.0);
    let commit_hang = hang_only
        + if finance {
            knobs.commit_then_timeout_rate.max(0.0)
        } else {
            0.0
        };
    let fate = if draw < fail {
        Fate::Fail
    } else if draw < hang_only {
        Fate::Hang
    } else {
        Fate::Proceed {
            then_hang: draw < commit_hang,
        }
    };
    (fate, latency, hang)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"code": code, "message": message}))).into_response()
}

async fn hang_then_504(hang: Duration) -> Response {
    tokio::time::sleep(hang).await;
    error(
        StatusCode::GATEWAY_TIMEOUT,
        "STAND_IN_TIMEOUT",
        "the stand-in hung on purpose",
    )
}

/// Applies the knobs to one call: latency, then an injected 500 or a hang (recorded, and the
/// answer to give), or the go-ahead with whether to hang after committing and for how long.
async fn misbehave(
    stand_in: &StandIn,
    finance: bool,
    record: &impl Fn(&str),
) -> Result<(bool, Duration), Response> {
    let (fate, latency, hang) = roll(&mut stand_in.lock(), finance);
    tokio::time::sleep(latency).await;
    match fate {
        Fate::Fail => {
            record("injected_500");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "STAND_IN_FAILURE",
                "injected failure",
            ))
        }
        Fate::Hang => {
            record("timeout");
            Err(hang_then_504(hang).await)
        }
        Fate::Proceed { then_hang } => Ok((then_hang, hang)),
    }
}

/// The finance body, checked the way a strict partner would check it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompensationBody {
    member_jkos_id: String,
    reward_type: String,
    amount: String,
    reference: String,
}

/// A refusal: status, error code, message.
type Refusal = (StatusCode, &'static str, String);

fn check_compensation(body: &Bytes) -> Result<Value, Refusal> {
    let parsed: CompensationBody = serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!("not a compensation request: {e}"),
        )
    })?;
    if parsed.member_jkos_id.trim().is_empty() || parsed.reference.trim().is_empty() {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FIELD",
            "member_jkos_id and reference must not be empty".into(),
        ));
    }
    if !matches!(parsed.reward_type.as_str(), "COIN" | "COUPON") {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_REWARD_TYPE",
            "reward_type must be COIN or COUPON".into(),
        ));
    }
    match parsed.amount.parse::<Decimal>() {
        Ok(a) if a > Decimal::ZERO => {}
        _ => {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_AMOUNT",
                "amount must be a positive decimal string".into(),
            ));
        }
    }
    Ok(serde_json::from_slice(body).unwrap_or(Value::Null))
}

async fn compensations(
    State(stand_in): State<Arc<StandIn>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = headers
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|k| !k.trim().is_empty());
    let raw: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let record = |outcome: &str| {
        stand_in.lock().finance_calls.push(Call {
            key: key.clone(),
            body: raw.clone(),
            outcome: outcome.to_owned(),
        });
    };
    let (then_hang, hang) = match misbehave(&stand_in, true, &record).await {
        Ok(go_on) => go_on,
        Err(response) => return response,
    };
    let Some(key) = key.clone() else {
        record("invalid");
        return error(
            StatusCode::BAD_REQUEST,
            "MISSING_IDEMPOTENCY_KEY",
            "the Idempotency-Key header is required",
        );
    };
    let canonical = match check_compensation(&body) {
        Ok(v) => v,
        Err((status, code, message)) => {
            record("invalid");
            return error(status, code, &message);
        }
    };
    // Decide and commit under one lock: two concurrent calls with one key pay once.
    let (outcome, response) = {
        let mut s = stand_in.lock();
        if s.knobs.finance.reject_keys.contains(&key) {
            (
                "rejected",
                error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "ACCOUNT_FROZEN",
                    "the member's wallet cannot receive compensations",
                ),
            )
        } else if let Some(existing) = s.payments.get(&key) {
            if existing.body == canonical {
                (
                    "replayed",
                    (
                        StatusCode::OK,
                        Json(json!({"compensation_id": existing.compensation_id})),
                    )
                        .into_response(),
                )
            } else {
                (
                    "conflict",
                    error(
                        StatusCode::CONFLICT,
                        "IDEMPOTENCY_KEY_REUSED",
                        "this idempotency key was used with a different request",
                    ),
                )
            }
        } else {
            let id = format!("cmp-{:08}", s.next_id);
            s.next_id += 1;
            s.payments.insert(
                key.clone(),
                Payment {
                    idempotency_key: key.clone(),
                    compensation_id: id.clone(),
                    body: canonical,
                },
            );
            (
                "paid",
                (StatusCode::CREATED, Json(json!({"compensation_id": id}))).into_response(),
            )
        }
    };
    if then_hang && matches!(outcome, "paid" | "replayed") {
        record("commit_then_timeout");
        return hang_then_504(hang).await;
    }
    record(outcome);
    response
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    member_jkos_id: String,
    channel: String,
    title: String,
    content: String,
}

async fn messages(State(stand_in): State<Arc<StandIn>>, body: Bytes) -> Response {
    let raw: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let record = |outcome: &str| {
        stand_in.lock().messages.push(Call {
            key: None,
            body: raw.clone(),
            outcome: outcome.to_owned(),
        });
    };
    if let Err(response) = misbehave(&stand_in, false, &record).await {
        return response;
    }
    let parsed: MessageBody = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            record("invalid");
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_BODY",
                &format!("not a message: {e}"),
            );
        }
    };
    if !matches!(parsed.channel.as_str(), "IN_APP" | "PUSH" | "BOX")
        || parsed.member_jkos_id.trim().is_empty()
        || parsed.title.trim().is_empty()
        || parsed.content.trim().is_empty()
    {
        record("invalid");
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FIELD",
            "channel must be IN_APP, PUSH or BOX; member_jkos_id, title, content non-empty",
        );
    }
    record("accepted");
    (StatusCode::ACCEPTED, Json(json!({"accepted": true}))).into_response()
}

async fn get_knobs(State(s): State<Arc<StandIn>>) -> Json<AllKnobs> {
    Json(s.knobs())
}

async fn put_knobs(State(s): State<Arc<StandIn>>, body: Bytes) -> Response {
    match serde_json::from_slice::<AllKnobs>(&body) {
        Ok(knobs) => {
            s.set_knobs(knobs.clone());
            Json(knobs).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, "INVALID_KNOBS", &e.to_string()),
    }
}

async fn get_payments(State(s): State<Arc<StandIn>>) -> Json<Value> {
    Json(json!({"payments": s.payments()}))
}

async fn get_calls(State(s): State<Arc<StandIn>>) -> Json<Value> {
    Json(json!({"finance": s.finance_calls(), "msghub": s.messages()}))
}

async fn post_reset(State(s): State<Arc<StandIn>>) -> StatusCode {
    s.reset();
    StatusCode::NO_CONTENT
}

pub fn router(stand_in: Arc<StandIn>) -> Router {
    Router::new()
        .route("/v1/compensations", post(compensations))
        .route("/v1/messages", post(messages))
        .route("/_stand-in/knobs", get(get_knobs).put(put_knobs))
        .route("/_stand-in/payments", get(get_payments))
        .route("/_stand-in/calls", get(get_calls))
        .route("/_stand-in/reset", post(post_reset))
        .with_state(stand_in)
}

/// A running stand-in: its base URL (both partners) and its state.
pub struct Running {
    pub base_url: String,
    pub stand_in: Arc<StandIn>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the stand-ins on `addr` (port 0 = any free port) in the background.
pub async fn spawn(addr: SocketAddr, seed: u64) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let stand_in = Arc::new(StandIn::new(seed));
    let app = router(stand_in.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "stand-in server stopped");
        }
    });
    Ok(Running {
        base_url: format!("http://{local}"),
        stand_in,
        task,
    })
}
