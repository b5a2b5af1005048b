//! A stand-in for the Lambda Runtime API (the HTTP interface a function's runtime polls), so
//! tests and the cold-start bench run the BUILT function binaries as Lambda would: the binary
//! is started with `AWS_LAMBDA_RUNTIME_API` pointing here, polls
//! `GET /2018-06-01/runtime/invocation/next` for queued events (with the request id, deadline
//! and function ARN headers), and posts `/invocation/{id}/response` or `/invocation/{id}/error`;
//! `/runtime/init/error` is recorded too. <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};

/// What a function posted for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST /invocation/{id}/response`: the function's answer.
    Response(Value),
    /// `POST /invocation/{id}/error`: `errorType` and `errorMessage`.
    Error { error_type: String, message: String },
}

impl Outcome {
    pub fn response(&self) -> &Value {
        match self {
            Outcome::Response(v) => v,
            Outcome::Error {
                error_type,
                message,
            } => {
                panic!("expected a response, got error {error_type}: {message}")
            }
        }
    }

    pub fn error(&self) -> (&str, &str) {
        match self {
            Outcome::Error {
                error_type,
                message,
            } => (error_type, message),
            Outcome::Response(v) => panic!("expected an error, got response {v}"),
        }
    }
}

struct Shared {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_poll: watch::Sender<Option<Instant>>,
    init_errors: Mutex<Vec<Value>>,
}

/// The stand-in, listening on 127.0.0.1 on a free port until dropped.
pub struct RuntimeApi {
    addr: std::net::SocketAddr,
    events: mpsc::UnboundedSender<(String, Value)>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let (events, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(receiver),
            waiting: Mutex::new(HashMap::new()),
            first_poll: watch::Sender::new(None),
            init_errors: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free local port");
        let addr = listener.local_addr().expect("bound address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi {
            addr,
            events,
            shared,
            server,
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues `event` and waits for the function's response or error (`None` after `timeout`:
    /// the function did not answer, e.g. because it died).
    pub async fn try_invoke(&self, event: Value, timeout: Duration) -> Option<Outcome> {
        let id = uuid::Uuid::now_v7().to_string();
        let (tx, rx) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .expect("lock")
            .insert(id.clone(), tx);
        self.events
            .send((id, event))
            .expect("the server is running");
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }

    /// [`Self::try_invoke`] that expects an answer within 30 s.
    pub async fn invoke(&self, event: Value) -> Outcome {
        self.try_invoke(event, Duration::from_secs(30))
            .await
            .expect("the function answered the invocation within 30 s")
    }

    /// When the function first asked for an event (its init ended), waiting up to `timeout`.
    pub async fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let mut rx = self.shared.first_poll.subscribe();
        let polled = tokio::time::timeout(timeout, rx.wait_for(Option::is_some))
            .await
            .ok()?
            .ok()?;
        *polled
    }

    /// Bodies posted to `/runtime/init/error`.
    pub fn init_errors(&self) -> Vec<Value> {
        self.shared.init_errors.lock().expect("lock").clone()
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.first_poll.send_if_modified(|first| {
        let unset = first.is_none();
        if unset {
            *first = Some(Instant::now());
        }
        unset
    });
    let Some((id, event)) = shared.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 30_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:ap-northeast-1:123456789012:function:under-test".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0".into(),
    );
    (headers, axum::Json(event)).into_response()
}

fn settle(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.waiting.lock().expect("lock").remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    settle(&shared, &id, Outcome::Response(value))
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let value: Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |k: &str| value[k].as_str().unwrap_or_default().to_owned();
    let outcome = Outcome::Error {
        error_type: text("errorType"),
        message: text("errorMessage"),
    };
    settle(&shared, &id, outcome)
}

async fn init_error(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or_default();
    shared.init_errors.lock().expect("lock").push(value);
    StatusCode::ACCEPTED
}

/// Where the function binaries are: `FUNCTION_BIN_DIR`, or the `debug` folder this test
/// binary was built into (`target/debug/deps/<test>` → `target/debug`).
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("FUNCTION_BIN_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.to_path_buf())
        })
        .expect("the test binary's folder");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the function binaries first with `cargo build --workspace --bins` \
         (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A function binary running against a [`RuntimeApi`], with its stdout and stderr collected
/// (logs and EMF lines). Killed when dropped.
pub struct FunctionProcess {
    child: tokio::process::Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl FunctionProcess {
    /// Starts `binary` with the Lambda variables the runtime needs, the test's own environment
    /// (endpoints and credentials of the local stack) and `env` on top.
    pub fn spawn(binary: &std::path::Path, api: &RuntimeApi, env: &[(&str, &str)]) -> Self {
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut command = tokio::process::Command::new(binary);
        command
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            collect(stdout, output.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            collect(stderr, output.clone());
        }
        FunctionProcess { child, output }
    }

    /// Whether the process is still running (it has not exited or been killed by a signal).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Every line the process wrote so far, stdout and stderr interleaved.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().expect("lock").clone()
    }

    /// Waits briefly for the output to contain `needle` (the process writes asynchronously).
    pub async fn wait_for_output(&self, needle: &str) -> bool {
        for _ in 0..50 {
            if self.output().iter().any(|l| l.contains(needle)) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

fn collect(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().expect("lock").push(line);
        }
    });
}
