//! The public share link (API Gateway HTTP API, no authorizer, payload 2.0): `GET|HEAD
//! /r/{code}`. Wiring only: the engine is `referral_shared::share_link`.

use referral_shared::api::lambda::HttpFunction;
use referral_shared::config::{Clients, ShareLinkConfig};
use referral_shared::{lambda, share_link, telemetry};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let config = ShareLinkConfig::from_env()?;
    let clients = Clients::load().await;
    let router = share_link::router(Arc::new(clients.store(&config.table_name)), config.settings);
    let function = HttpFunction::new(router);
    lambda::run(share_link::FUNCTION, move |payload, context| {
        let function = function.clone();
        async move { function.handle(payload, context).await }
    })
    .await
}
