//! Scheduled (EventBridge): re-queues PENDING rewards left behind by a crash between the
//! DynamoDB write and the SQS send (ADR 0004). Wiring only: the sweep is
//! `referral_shared::sweeper`.

use referral_shared::config::{Clients, SweeperConfig};
use referral_shared::{lambda, sweeper, telemetry};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let config = SweeperConfig::from_env()?;
    let clients = Clients::load().await;
    let store = Arc::new(clients.store(&config.table_name));
    let queue = Arc::new(clients.payout_queue(&config.payout_queue_url));
    let settings = config.settings;
    // Only the schedule starts a sweep; any other event is refused as WrongEvent.
    lambda::run("reward-sweeper", move |payload, _| {
        let (store, queue) = (store.clone(), queue.clone());
        async move {
            sweeper::on_schedule(store.as_ref(), queue.as_ref(), settings, &payload).await?;
            Ok(())
        }
    })
    .await
}
