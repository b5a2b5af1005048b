//! `referral-dev payout`: the payout function on the local payout queue, driven the way
//! Lambda's SQS event source mapping drives it (`referral_devkit::esm`). The engine is built
//! as the function's `main` builds it (its typed config `PayoutConfig`, then the same
//! constructors), so the dev stack runs exactly what Lambda runs; `scripts/env.sh` sets the
//! variables for the local stack.

use anyhow::{Context, Result};
use referral_devkit::esm::EventSource;
use referral_shared::config::{Clients, PayoutConfig};
use referral_shared::events_cache::ConfigCache;
use referral_shared::partners::Partners;
use referral_shared::payout::Payout;
use std::sync::Arc;

/// Polls until stopped, or with `once` until the queue has nothing visible.
pub async fn run(once: bool) -> Result<()> {
    crate::publish::payout_queues().await?;
    let config = PayoutConfig::from_env()
        .map_err(|e| anyhow::anyhow!("payout wiring: {e} (did you `source scripts/env.sh`?)"))?;
    let clients = Clients::load().await;
    let queue_url = config.payout_queue_url.clone();
    let (finance, msghub) = (
        config.partners.finance_url.clone(),
        config.partners.msghub_url.clone(),
    );
    let payout = Payout::new(
        Arc::new(clients.store(&config.table_name)),
        Arc::new(clients.retry_queue(&config.payout_queue_url, &config.dead_letter_url)),
        Partners::new(&config.partners)?,
        ConfigCache::new(config.config_cache_ttl),
        config.settings,
    );
    let mut source =
        EventSource::new(referral_devkit::local_sqs_client().await, &queue_url).await?;
    source.wait_seconds = if once { 0 } else { 5 };
    eprintln!("payout: polling {queue_url} (finance {finance}, msg-hub {msghub})");
    loop {
        let polled = source
            .poll_once(|event| {
                let payout = &payout;
                async move {
                    let report = payout.handle(&event).await;
                    let outcomes: Vec<String> = report
                        .outcomes
                        .iter()
                        .map(|(o, n)| format!("{o:?}={n}"))
                        .collect();
                    referral_devkit::say!(
                        "payout: {} message(s): {}; {} handed back",
                        event.records.len(),
                        outcomes.join(" "),
                        report.response.batch_item_failures.len()
                    );
                    report.response
                }
            })
            .await
            .context("polling the payout queue")?;
        if polled.is_none() && once {
            return Ok(());
        }
    }
}
