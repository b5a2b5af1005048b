//! `referral-dev publish`: plays MSK locally. Records are wrapped into a real-shaped MSK event
//! (key = account id, base64 values, increasing offsets on the key's partition) and handed to
//! the same consumer engine the Lambda functions run, with the local table and payout queue.
//!
//! Offsets are reserved from a counter item per topic-partition in the local table (one
//! atomic UpdateItem per partition and run), as a broker hands them out: `publish` processes
//! running at once never give two records one coordinate (a parked record is stored under its
//! coordinate, so a shared one would overwrite another).

use anyhow::{Context, Result};
use referral_devkit::msk::{self, Outgoing};
use referral_devkit::say;
use referral_shared::EventId;
use referral_shared::contracts::kafka::{TOPIC_MEMBER_INFO, TOPIC_REGISTRATION};
use referral_shared::events_cache::ConfigCache;
use referral_shared::ingest::{Consumer, ConsumerSettings};
use referral_shared::queue::SqsPayoutQueue;
use referral_shared::store::DynamoStore;
use serde_json::{Value, json};
use std::collections::BTreeMap;
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

/// One record to publish: its topic, key (the member's account id) and value, the text a
/// producer would send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: &'static str,
    pub key: Option<String>,
    pub value: String,
}

impl Record {
    /// A JSON value: a registration event when it has a `type`, else member info.
    pub fn json(value: &Value) -> Record {
        Self::routed(value, value.to_string())
    }

    fn routed(value: &Value, text: String) -> Record {
        Record {
            topic: if value.get("type").is_some() {
                TOPIC_REGISTRATION
            } else {
                TOPIC_MEMBER_INFO
            },
            key: value
                .get("account_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            value: text,
        }
    }

    /// A line of a file, sent as it is. One that does not read as JSON (not JSON at all,
    /// nested deeper than serde_json's 128 levels, …) is a malformed record like any other:
    /// it is sent without a key, to `rd2_registration_member` when it mentions `"type"`, else
    /// to `rd2_member_info`, and the consumer parks it.
    pub fn line(text: &str) -> Record {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => Self::routed(&value, text.to_owned()),
            Err(_) => Record {
                topic: if text.contains("\"type\"") {
                    TOPIC_REGISTRATION
                } else {
                    TOPIC_MEMBER_INFO
                },
                key: None,
                value: text.to_owned(),
            },
        }
    }
}

/// The non-blank lines of `file`, one record each.
pub fn read_lines(file: &Path) -> Result<Vec<Record>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(Record::line)
        .collect())
}

/// The counter item of `topic`-`partition`'s offsets in the local table.
const OFFSETS_PREFIX: &str = "DEVKAFKA#";
const OFFSETS_SK: &str = "#OFFSETS";
const OFFSETS_ENTITY: &str = "DevKafkaOffsets";

/// Reserves `count` consecutive offsets of `topic`-`partition` and returns the first: one
/// atomic UpdateItem (`SET next = if_not_exists(next, now in ms) + count`), so concurrent
/// processes get disjoint ranges. The counter starts at the current time in milliseconds,
/// above the offsets earlier versions took from the clock, so coordinates already parked in
/// an existing table are not reused.
pub async fn reserve_offsets(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    topic: &str,
    partition: i64,
    count: i64,
) -> Result<i64> {
    use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
    use referral_shared::store::keys;
    let updated = client
        .update_item()
        .table_name(table)
        .key(
            keys::PK,
            AttributeValue::S(format!("{OFFSETS_PREFIX}{topic}#{partition}")),
        )
        .key(keys::SK, AttributeValue::S(OFFSETS_SK.to_owned()))
        .update_expression(
            "SET next_offset = if_not_exists(next_offset, :start) + :count, #entity = :entity",
        )
        .expression_attribute_names("#entity", keys::ENTITY)
        .expression_attribute_values(
            ":start",
            AttributeValue::N(chrono::Utc::now().timestamp_millis().to_string()),
        )
        .expression_attribute_values(":count", AttributeValue::N(count.to_string()))
        .expression_attribute_values(":entity", AttributeValue::S(OFFSETS_ENTITY.to_owned()))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .with_context(|| format!("reserving offsets of {topic}-{partition} in table {table}"))?;
    let next: i64 = updated
        .attributes()
        .and_then(|a| a.get("next_offset"))
        .and_then(|v| v.as_n().ok())
        .context("the offset counter returned no value")?
        .parse()
        .context("the offset counter is not an integer")?;
    Ok(next - count)
}

/// The records as MSK delivers them: each on its key's partition, at offsets reserved for
/// this run, in the given order per partition.
async fn with_offsets(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    records: &[&Record],
) -> Result<Vec<Outgoing>> {
    let partitions: Vec<i64> = records
        .iter()
        .map(|r| msk::partition_for(r.key.as_deref().unwrap_or_default(), PARTITIONS))
        .collect();
    let mut next: BTreeMap<(&str, i64), i64> = BTreeMap::new();
    for (record, partition) in records.iter().zip(&partitions) {
        *next.entry((record.topic, *partition)).or_default() += 1;
    }
    for ((topic, partition), slot) in next.iter_mut() {
        *slot = reserve_offsets(client, table, topic, *partition, *slot).await?;
    }
    Ok(records
        .iter()
        .zip(partitions)
        .map(|(record, partition)| {
            let slot = next
                .get_mut(&(record.topic, partition))
                .expect("reserved above");
            let offset = *slot;
            *slot += 1;
            Outgoing {
                topic: record.topic.to_owned(),
                partition,
                offset,
                key: record.key.as_deref().map(msk::b64),
                value: Some(msk::b64(&record.value)),
            }
        })
        .collect())
}

/// Splits records by topic, wraps each topic's records into one MSK event and consumes it;
/// prints what each batch did as one JSON array (or, with `print_event`, the MSK events: their
/// offsets are reserved too, as the event is meant for the local stack's functions).
pub async fn run(
    store: DynamoStore,
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    values: Vec<Record>,
    print_event: bool,
) -> Result<()> {
    let mut done = Vec::new();
    for topic in [TOPIC_MEMBER_INFO, TOPIC_REGISTRATION] {
        let of_topic: Vec<&Record> = values.iter().filter(|r| r.topic == topic).collect();
        if of_topic.is_empty() {
            continue;
        }
        let records = with_offsets(client, table, &of_topic).await?;
        if print_event {
            say!(
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
        say!("{}", serde_json::to_string_pretty(&done)?);
    }
    Ok(())
}
