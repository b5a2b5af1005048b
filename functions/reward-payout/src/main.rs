//! SQS consumer of the payout queue: pays each reward once through finance, marks it
//! SUCCESS, notifies the member through msg-hub; answers with a partial batch response.
//! Wiring only: the engine is `referral_shared::payout::Payout`.

use referral_shared::config::{Clients, PayoutConfig};
use referral_shared::events_cache::ConfigCache;
use referral_shared::partners::Partners;
use referral_shared::payout::Payout;
use referral_shared::{lambda, telemetry};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let config = PayoutConfig::from_env()?;
    let clients = Clients::load().await;
    let payout = Arc::new(Payout::new(
        Arc::new(clients.store(&config.table_name)),
        Arc::new(clients.retry_queue(&config.payout_queue_url, &config.dead_letter_url)),
        Partners::new(&config.partners)?,
        ConfigCache::new(config.config_cache_ttl),
        config.settings,
    ));
    lambda::run("reward-payout", move |payload, _| {
        let payout = payout.clone();
        async move { payout.handle_payload(payload).await }
    })
    .await
}
