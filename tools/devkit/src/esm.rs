//! What Lambda's SQS event source mapping does, for the local stack and the tests: receive a
//! batch, hand it to the function as a real-shaped SQS event, then delete only the messages
//! the function did not list in `batchItemFailures`. The rest stay in the queue and come back
//! when their visibility ends (the function may have stretched it), and SQS's redrive policy
//! moves them to the DLQ after `maxReceiveCount` receives, exactly as in AWS.
//!
//! Like Lambda: a response naming a message id that is not in the batch (or an empty one)
//! fails the whole batch, and a function that does not answer (crash, timeout) deletes nothing.

use anyhow::{Context, Result};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use std::collections::{HashMap, HashSet};
use std::future::Future;

/// A queue as a Lambda trigger.
#[derive(Debug, Clone)]
pub struct EventSource {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    region: String,
    /// Messages per event (Lambda's BatchSize; SQS returns at most 10 per receive).
    pub batch_size: i32,
    /// Long polling wait per receive, seconds.
    pub wait_seconds: i32,
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollStats {
    pub received: usize,
    pub deleted: usize,
    pub kept: usize,
}

impl EventSource {
    pub async fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Result<Self> {
        let queue_url = queue_url.into();
        let attrs = client
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .with_context(|| format!("GetQueueAttributes {queue_url}"))?;
        let queue_arn = attrs
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .context("the queue has no ARN")?;
        let region = queue_arn
            .split(':')
            .nth(3)
            .unwrap_or("us-east-1")
            .to_owned();
        Ok(Self {
            client,
            queue_url,
            queue_arn,
            region,
            batch_size: 10,
            wait_seconds: 0,
        })
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Receives one batch as the SQS event Lambda would deliver; `None` if the queue had none.
    pub async fn receive(&self) -> Result<Option<SqsEvent>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size.clamp(1, 10))
            .wait_time_seconds(self.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .context("ReceiveMessage")?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(None);
        }
        let mut event = SqsEvent::default();
        event.records = messages
            .into_iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id;
                record.receipt_handle = m.receipt_handle;
                record.body = m.body;
                record.md5_of_body = m.md5_of_body;
                record.attributes = m
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v))
                    .collect::<HashMap<_, _>>();
                record.event_source = Some("aws:sqs".into());
                record.event_source_arn = Some(self.queue_arn.clone());
                record.aws_region = Some(self.region.clone());
                record
            })
            .collect();
        Ok(Some(event))
    }

    /// Deletes the messages of `event` that `response` does not list as failed; returns how
    /// many were deleted. An unknown or empty item identifier fails the whole batch (deletes
    /// nothing), as Lambda does.
    pub async fn complete(&self, event: &SqsEvent, response: &SqsBatchResponse) -> Result<usize> {
        let ids: HashSet<&str> = event
            .records
            .iter()
            .filter_map(|m| m.message_id.as_deref())
            .collect();
        let failed: HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        if failed.iter().any(|f| f.is_empty() || !ids.contains(f)) {
            tracing::warn!("batchItemFailures names a message not in the batch: whole batch fails");
            return Ok(0);
        }
        let entries: Vec<_> = event
            .records
            .iter()
            .filter(|m| {
                m.message_id
                    .as_deref()
                    .is_some_and(|id| !failed.contains(id))
            })
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .build()
                    .context("delete entry")
            })
            .collect::<Result<_>>()?;
        if entries.is_empty() {
            return Ok(0);
        }
        let count = entries.len();
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .context("DeleteMessageBatch")?;
        Ok(count - out.failed.len())
    }

    /// One receive → invoke → delete cycle. `None` when the queue had nothing to deliver.
    pub async fn poll_once<F, Fut>(&self, invoke: F) -> Result<Option<PollStats>>
    where
        F: FnOnce(SqsEvent) -> Fut,
        Fut: Future<Output = SqsBatchResponse>,
    {
        let Some(event) = self.receive().await? else {
            return Ok(None);
        };
        let received = event.records.len();
        let response = invoke(event.clone()).await;
        let deleted = self.complete(&event, &response).await?;
        Ok(Some(PollStats {
            received,
            deleted,
            kept: received - deleted,
        }))
    }
}

/// The payout queue and its dead-letter queue as the SAM template defines them: the queue
/// redrives to the DLQ after `max_receives` receives. Idempotent (CreateQueue returns the
/// existing queue when the attributes match). Returns (queue URL, DLQ URL).
pub async fn create_queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: u32,
    visibility_seconds: u32,
) -> Result<(String, String)> {
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .with_context(|| format!("CreateQueue {name}-dlq"))?
        .queue_url
        .context("CreateQueue returns the URL")?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("GetQueueAttributes of the DLQ")?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("the DLQ has no ARN")?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receives,
    })
    .to_string();
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_seconds.to_string(),
        )
        .send()
        .await
        .with_context(|| format!("CreateQueue {name}"))?
        .queue_url
        .context("CreateQueue returns the URL")?;
    Ok((url, dlq_url))
}
