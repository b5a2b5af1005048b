//! `referral-backfill gsi3`: gives every reward written before GSI3 existed its GSI3 keys
//! (`PAYEE#<jkos id>`, `<created_at>#<id>`, as `store::items::reward_item` writes them), so
//! the member's "my rewards" (`GET /v1/referral/rewards`, one Query on GSI3) shows it.
//!
//! A parallel Scan for rewards without `GSI3PK`, then per reward one UpdateItem
//! `SET GSI3PK, GSI3SK` under `attribute_exists(PK) AND attribute_not_exists(GSI3PK)`: it never
//! creates an item, never overwrites keys a newer write set, touches no other attribute, and a
//! re-run (or two at once) only finds what is still missing. Run it once after deploying the
//! release that adds GSI3, while the service runs.

use anyhow::Context;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt, stream};
use referral_shared::domain::Reward;
use referral_shared::store::items::{self, Item};
use referral_shared::store::keys;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a backfill did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backfilled {
    /// Rewards the Scan found without GSI3 keys.
    pub found: u64,
    /// Rewards this run gave their keys.
    pub updated: u64,
    /// Rewards that had them by the time of the write (a newer write, or another run).
    pub already: u64,
    /// Items that do not map onto a reward (left as they are; see the log).
    pub unreadable: u64,
}

type Attrs = HashMap<String, AttributeValue>;

/// Backfills GSI3 over `segments` parallel Scan segments, `concurrency` updates at once per
/// segment. `progress` is called with the running totals after each page.
pub async fn gsi3(
    client: &Client,
    table: &str,
    segments: i32,
    concurrency: usize,
    progress: &(dyn Fn(&Backfilled) + Sync),
) -> anyhow::Result<Backfilled> {
    let counters = &[(); 4].map(|_| AtomicU64::new(0));
    let totals = move || Backfilled {
        found: counters[0].load(Ordering::Relaxed),
        updated: counters[1].load(Ordering::Relaxed),
        already: counters[2].load(Ordering::Relaxed),
        unreadable: counters[3].load(Ordering::Relaxed),
    };
    let segments = segments.max(1);
    let totals = &totals;
    stream::iter(0..segments)
        .map(Ok::<_, anyhow::Error>)
        .try_for_each_concurrent(None, |segment| async move {
            let mut start: Option<Attrs> = None;
            loop {
                let page = client
                    .scan()
                    .table_name(table)
                    .segment(segment)
                    .total_segments(segments)
                    .filter_expression("#entity = :reward AND attribute_not_exists(#gsi3pk)")
                    .expression_attribute_names("#entity", "entity")
                    .expression_attribute_names("#gsi3pk", keys::GSI3PK)
                    .expression_attribute_values(":reward", AttributeValue::S("Reward".into()))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .context("scanning for rewards without GSI3 keys")?;
                let found = page.items.unwrap_or_default();
                counters[0].fetch_add(found.len() as u64, Ordering::Relaxed);
                stream::iter(found)
                    .map(Ok::<_, anyhow::Error>)
                    .try_for_each_concurrent(concurrency.max(1), |item| async {
                        let i = match set_keys(client, table, item).await? {
                            Outcome::Updated => 1,
                            Outcome::Already => 2,
                            Outcome::Unreadable => 3,
                        };
                        counters[i].fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    })
                    .await?;
                progress(&totals());
                match page.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => return Ok(()),
                }
            }
        })
        .await?;
    Ok(totals())
}

enum Outcome {
    Updated,
    Already,
    Unreadable,
}

async fn set_keys(client: &Client, table: &str, item: Attrs) -> anyhow::Result<Outcome> {
    let key = |name: &str| item.get(name).cloned();
    let (Some(pk), Some(sk)) = (key("PK"), key("SK")) else {
        return Ok(Outcome::Unreadable);
    };
    let reward: Reward = match serde_dynamo::from_item::<_, Item<Reward>>(item.clone()) {
        Ok(read) => read.data,
        Err(e) => {
            tracing::warn!(pk = ?pk, error = %e, "an item of entity Reward that does not map onto a reward; left as it is");
            return Ok(Outcome::Unreadable);
        }
    };
    let written = items::reward_item(&reward);
    let (Some(gsi3pk), Some(gsi3sk)) = (written.gsi3pk, written.gsi3sk) else {
        anyhow::bail!("the store's reward item has no GSI3 keys");
    };
    let result = client
        .update_item()
        .table_name(table)
        .key("PK", pk)
        .key("SK", sk)
        .update_expression("SET #gsi3pk = :pk, #gsi3sk = :sk")
        .condition_expression("attribute_exists(PK) AND attribute_not_exists(#gsi3pk)")
        .expression_attribute_names("#gsi3pk", keys::GSI3PK)
        .expression_attribute_names("#gsi3sk", keys::GSI3SK)
        .expression_attribute_values(":pk", AttributeValue::S(gsi3pk))
        .expression_attribute_values(":sk", AttributeValue::S(gsi3sk))
        .send()
        .await;
    match result {
        Ok(_) => Ok(Outcome::Updated),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(Outcome::Already)
        }
        Err(e) => Err(anyhow::Error::new(e).context("setting a reward's GSI3 keys")),
    }
}
