//! `referral-dev payout`: the payout function on the local payout queue, driven the way
//! Lambda's SQS event source mapping drives it (`referral_devkit::esm`). The engine is built
//! by the function's own wiring (`payout_from_env`), so the dev stack runs exactly what
//! Lambda runs; `scripts/env.sh` sets the variables for the local stack.

use anyhow::{Context, Result};
use referral_devkit::esm::EventSource;
use referral_shared::config::required;
use referral_shared::payout::payout_from_env;

/// Polls until stopped, or with `once` until the queue has nothing visible.
pub async fn run(once: bool) -> Result<()> {
    crate::publish::payout_queues().await?;
    let queue_url = required("PAYOUT_QUEUE_URL")?;
    let payout = payout_from_env()
        .await
        .map_err(|e| anyhow::anyhow!("payout wiring: {e} (did you `source scripts/env.sh`?)"))?;
    let mut source =
        EventSource::new(referral_devkit::local_sqs_client().await, &queue_url).await?;
    source.wait_seconds = if once { 0 } else { 5 };
    eprintln!(
        "payout: polling {queue_url} (finance {}, msg-hub {})",
        required("FINANCE_URL")?,
        required("MSGHUB_URL")?
    );
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
