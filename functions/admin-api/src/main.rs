//! The admin HTTP API (API Gateway HTTP API, JWT authorizer with the `referral.admin` scope).
//! Wiring only: the routes are `referral_shared::api::admin`.

use referral_shared::api::admin;
use referral_shared::api::lambda::HttpFunction;
use referral_shared::config::{AdminApiConfig, Clients};
use referral_shared::{lambda, telemetry};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let config = AdminApiConfig::from_env()?;
    let clients = Clients::load().await;
    let router = admin::router(
        Arc::new(clients.store(&config.table_name)),
        Arc::new(clients.payout_queue(&config.payout_queue_url)),
        config.personal_event,
    );
    let function = HttpFunction::new(router);
    lambda::run("admin-api", move |payload, context| {
        let function = function.clone();
        async move { function.handle(payload, context).await }
    })
    .await
}
