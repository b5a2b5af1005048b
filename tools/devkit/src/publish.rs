//! `referral-dev publish`: plays MSK locally. Records are wrapped into a real-shaped MSK event
//! (key = account id, base64 values, increasing offsets on the key's partition) and handed to
//! the same consumer engine the Lambda functions run, with the local table and payout queue.

use anyhow::{Context, Result};
use referral_devkit::msk::{self, Outgoing};
use referral_shared::EventId;
use referral_shared::contracts::kafka::{TOPIC_MEMBER_INFO, TOPIC_REGISTRATION};
use referral_shared::events_cache::ConfigCache;
use referral_shared::ingest::{Consumer, ConsumerSettings};
use referral_shared::queue::SqsPayoutQueue;
use referral_shared::store::DynamoStore;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

const PARTITIONS: i64 = 3;

/// The local payout queue's URL (`PAYOUT_QUEUE_NAME`, default `referral-local-payout`).
pub async fn payout_queue_url(create: bool) -> Result<String> {
    if create {
        return Ok(payout_queues().await?.0);
    }
    let name = queue_name();
    let sqs = referral_devkit::local_sqs_client().await;
    sqs.get_queue_url()
        .queue_name(&name)
        .send()
        .await
        .with_context(|| format!("no local queue {name}; run scripts/dev.sh first"))?
        .queue_url
        .context("SQS returned no queue URL")
}

fn queue_name() -> String {
    std::env::var("PAYOUT_QUEUE_NAME").unwrap_or_else(|_| "referral-local-payout".to_owned())
}

/// The local payout queue and its DLQ, created like the SAM template's (maxReceiveCount 5,
/// visibility 360 s) if missing. Returns (queue URL, DLQ URL).
pub async fn payout_queues() -> Result<(String, String)> {
    let sqs = referral_devkit::local_sqs_client().await;
    referral_devkit::esm::create_queue_with_dlq(&sqs, &queue_name(), 5, 360).await
}

fn time_or_now(at: Option<String>) -> Result<String> {
    let t = match at {
        Some(s) => referral_shared::time::parse(&s).map_err(anyhow::Error::msg)?,
        None => chrono::Utc::now(),
    };
    Ok(referral_shared::time::format(&t))
}

/// The jkos id of a local member: `jk-<account id>` (the account module's ids are opaque).
fn jkos_id(account: &str) -> String {
    format!("jk-{account}")
}

pub fn registration(
    kind: &str,
    account: &str,
    code: Option<&str>,
    at: Option<String>,
) -> Result<Value> {
    let mut v = json!({
        "type": kind,
        "account_id": account,
        "jkos_id": jkos_id(account),
        "occurred_at": time_or_now(at)?,
    });
    if let Some(code) = code {
        v["referral_code"] = json!(code);
    }
    Ok(v)
}

pub fn member_info(account: &str, phone: &str, jkos_account: &str) -> Value {
    json!({
        "account_id": account,
        "jkos_id": jkos_id(account),
        "jkos_account": jkos_account,
        "phone_number": phone,
        "created_at": referral_shared::time::format(&chrono::Utc::now()),
    })
}

pub fn read_lines(file: &Path) -> Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("line {}", i + 1)))
        .collect()
}

/// Splits values by topic, wraps each topic's values into one MSK event and consumes it;
/// prints what each batch did as one JSON array (or, with `print_event`, the MSK events).
pub async fn run(store: DynamoStore, values: Vec<Value>, print_event: bool) -> Result<()> {
    let mut done = Vec::new();
    // Offsets only need to increase: milliseconds since the epoch do, across runs.
    let base = chrono::Utc::now().timestamp_millis();
    for topic in [TOPIC_MEMBER_INFO, TOPIC_REGISTRATION] {
        let records: Vec<Outgoing> = values
            .iter()
            .filter(|v| (topic == TOPIC_REGISTRATION) == v.get("type").is_some())
            .enumerate()
            .map(|(i, v)| {
                let key = v
                    .get("account_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Outgoing::json(
                    topic,
                    msk::partition_for(key, PARTITIONS),
                    base + i as i64,
                    v,
                )
            })
            .collect();
        if records.is_empty() {
            continue;
        }
        if print_event {
            println!(
                "{}",
                serde_json::to_string_pretty(&msk::event_json(&records))?
            );
            continue;
        }
        let personal = std::env::var("PERSONAL_EVENT_ID").unwrap_or_else(|_| "personal".to_owned());
        let mut settings = ConsumerSettings::new(topic, EventId::parse(&personal)?);
        // The reward rules' keyed hashes, as the deployed consumers make them (scripts/env.sh
        // sets a dev key); without one, grants under identity rules stay due.
        settings.identity_key = std::env::var("IDENTITY_HASH_KEY")
            .ok()
            .map(|k| referral_shared::IdentityKey::new(k.into_bytes()))
            .transpose()?;
        let consumer = Consumer::new(
            Arc::new(store.clone()),
            Arc::new(SqsPayoutQueue::new(
                referral_devkit::local_sqs_client().await,
                payout_queue_url(false).await?,
            )),
            ConfigCache::new(std::time::Duration::from_secs(60)),
            settings,
        );
        let report = consumer
            .handle(&msk::event(&records))
            .await
            .map_err(|e| anyhow::anyhow!("{e} (MSK would retry this batch)"))?;
        done.push(referral_devkit::output::batch(topic, &report));
    }
    if !print_event {
        println!("{}", serde_json::to_string_pretty(&done)?);
    }
    Ok(())
}
