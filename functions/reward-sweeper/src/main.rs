//! Scheduled (EventBridge): re-queues PENDING rewards left behind by a crash between the
//! DynamoDB write and the SQS send (ADR 0004). Logic in `referral_shared::sweeper`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use referral_shared::config::{self, ConfigError};
use referral_shared::queue::SqsPayoutQueue;
use referral_shared::{sweeper, telemetry};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let store = Arc::new(config::dynamo_store_from_env().await?);
    let sdk = config::aws_sdk_config().await;
    let queue = Arc::new(SqsPayoutQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        config::required("PAYOUT_QUEUE_URL")?,
    ));
    let stale_minutes: i64 = config::optional("SWEEP_AFTER_MINUTES", 15)?;
    if stale_minutes < 1 {
        return Err(ConfigError::Invalid {
            name: "SWEEP_AFTER_MINUTES",
            message: "must be at least 1".into(),
        }
        .into());
    }
    let max: u64 = config::optional("SWEEP_MAX_REWARDS", 1000)?;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let (store, queue) = (store.clone(), queue.clone());
        async move {
            let now = chrono::Utc::now();
            let report = sweeper::sweep(
                store.as_ref(),
                queue.as_ref(),
                now,
                chrono::Duration::minutes(stale_minutes),
                max,
            )
            .await
            .map_err(|e| e.to_string())?;
            telemetry::emit(&telemetry::emf(
                &telemetry::namespace(),
                &[("Function", "reward-sweeper")],
                &[("SweptRewards", report.queued)],
                now,
            ));
            tracing::info!(
                examined = report.examined,
                queued = report.queued,
                "sweep done"
            );
            Ok::<_, String>(())
        }
    }))
    .await
}
