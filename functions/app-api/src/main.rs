//! The app HTTP API (API Gateway HTTP API, JWT authorizer, payload 2.0).
//! Wiring only: the routes are `referral_shared::api::app`.

use referral_shared::api::app;
use referral_shared::api::lambda::HttpFunction;
use referral_shared::config::{AppApiConfig, Clients};
use referral_shared::{lambda, telemetry};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let config = AppApiConfig::from_env()?;
    let clients = Clients::load().await;
    let router = app::router(
        Arc::new(clients.store(&config.table_name)),
        Arc::new(clients.payout_queue(&config.payout_queue_url)),
        config.settings,
    );
    let function = HttpFunction::new(router);
    lambda::run("app-api", move |payload, context| {
        let function = function.clone();
        async move { function.handle(payload, context).await }
    })
    .await
}
