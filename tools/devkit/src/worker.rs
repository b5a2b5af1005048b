//! `referral-dev payout`: the payout function on the local payout queue, driven the way
//! Lambda's SQS event source mapping drives it (`referral_devkit::esm`).

use anyhow::{Context, Result};
use referral_devkit::esm::EventSource;
use referral_shared::ingest::ConfigCache;
use referral_shared::partners::{PartnerConfig, Partners};
use referral_shared::payout::{Payout, PayoutSettings};
use referral_shared::queue::SqsRetryQueue;
use referral_shared::store::DynamoStore;
use std::sync::Arc;

/// Polls until stopped, or with `once` until the queue has nothing visible.
pub async fn run(store: DynamoStore, once: bool) -> Result<()> {
    let (queue_url, dlq_url) = crate::publish::payout_queues().await?;
    let partners_url =
        std::env::var("PARTNERS_URL").unwrap_or_else(|_| "http://127.0.0.1:8473".to_owned());
    let finance = std::env::var("FINANCE_URL").unwrap_or_else(|_| partners_url.clone());
    let msghub = std::env::var("MSGHUB_URL").unwrap_or_else(|_| partners_url.clone());
    let sqs = referral_devkit::local_sqs_client().await;
    let payout = Payout::new(
        Arc::new(store),
        Arc::new(SqsRetryQueue::new(sqs.clone(), &queue_url, &dlq_url)),
        Partners::new(&PartnerConfig::local(&finance, &msghub)?)?,
        ConfigCache::new(std::time::Duration::from_secs(60)),
        PayoutSettings::from_env()?,
    );
    let mut source = EventSource::new(sqs, &queue_url).await?;
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
                    println!(
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
