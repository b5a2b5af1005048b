//! MSK consumer: rd2_member_info → member profiles.
//! Wiring only: the engine is `referral_shared::ingest::Consumer`.

use referral_shared::config::{Clients, ConsumerConfig};
use referral_shared::contracts::kafka::TOPIC_MEMBER_INFO;
use referral_shared::events_cache::ConfigCache;
use referral_shared::ingest::Consumer;
use referral_shared::{lambda, telemetry};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let config = ConsumerConfig::from_env(TOPIC_MEMBER_INFO)?;
    let clients = Clients::load().await;
    let consumer = Arc::new(Consumer::new(
        Arc::new(clients.store(&config.table_name)),
        Arc::new(clients.payout_queue(&config.payout_queue_url)),
        ConfigCache::new(config.config_cache_ttl),
        config.settings,
    ));
    // Err (a transient fault, or not an MSK event) fails the invocation: Lambda retries the batch.
    lambda::run("member-info-consumer", move |payload, _| {
        let consumer = consumer.clone();
        async move { consumer.handle_payload(payload).await.map(|_| ()) }
    })
    .await
}
