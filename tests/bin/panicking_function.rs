//! A test-only Lambda function built on the same entry point as the real ones
//! (`referral_shared::lambda::run`), whose handler panics on request: the real handlers have
//! no way to be made to panic, and must not get one. Used by `tests/function_binaries.rs`.
//!   {"panic": "literal"}      panics with a literal message
//!   {"panic": "formatted", "value": "..."}  panics with a message quoting `value`
//!   anything else             answers {"ok": true}

use referral_shared::lambda::{self, InvocationError};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    referral_shared::telemetry::init_tracing();
    lambda::run("panicking-function", |payload: Value, _| async move {
        match payload["panic"].as_str() {
            Some("literal") => panic!("a literal panic message"),
            Some("formatted") => panic!("a value slipped into a panic: {}", payload["value"]),
            _ => Ok::<_, InvocationError>(json!({"ok": true})),
        }
    })
    .await
}
