//! MSK consumer: rd2_member_info → member profiles.
//! All logic lives in `referral_shared::ingest`; this is wiring.

use aws_lambda_events::event::kafka::KafkaEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use referral_shared::contracts::kafka::TOPIC_MEMBER_INFO;
use referral_shared::{ingest, telemetry};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let consumer = Arc::new(ingest::consumer_from_env(TOPIC_MEMBER_INFO).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<KafkaEvent>| {
        let consumer = consumer.clone();
        async move {
            // Err = a transient fault: Lambda retries the whole batch (effects are idempotent).
            consumer
                .handle(&event.payload)
                .await
                .map(|_| ())
                .map_err(|e| {
                    tracing::error!(error = %e, "batch failed; it will be retried");
                    e.to_string()
                })
        }
    }))
    .await
}
