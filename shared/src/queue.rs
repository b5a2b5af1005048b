//! The payout queue (SQS): where granted rewards are handed to the payout function.

use crate::contracts::payout::PayoutMessage;
use crate::domain::RewardId;
use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("payout queue unavailable: {0}")]
pub struct QueueError(pub String);

/// Sends payout requests. Sending the same reward twice is allowed (payout is idempotent).
#[async_trait]
pub trait PayoutQueue: Send + Sync {
    async fn enqueue(&self, rewards: &[RewardId]) -> Result<(), QueueError>;
}

/// SQS implementation: SendMessageBatch, 10 messages per request.
#[derive(Debug, Clone)]
pub struct SqsPayoutQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsPayoutQueue {
    /// SendMessageBatch requests in flight at once.
    const CONCURRENT_REQUESTS: usize = 8;

    async fn send_chunk(&self, chunk: &[RewardId]) -> Result<(), QueueError> {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(
                        PayoutMessage {
                            reward_id: id.clone(),
                        }
                        .body(),
                    )
                    .build()
                    .map_err(|e| QueueError(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
        match out.failed.first() {
            Some(failed) => Err(QueueError(format!(
                "{} of {} messages not accepted: {} {}",
                out.failed.len(),
                chunk.len(),
                failed.code,
                failed.message.as_deref().unwrap_or_default()
            ))),
            None => Ok(()),
        }
    }

    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

#[async_trait]
impl PayoutQueue for SqsPayoutQueue {
    async fn enqueue(&self, rewards: &[RewardId]) -> Result<(), QueueError> {
        use futures::{StreamExt, TryStreamExt};
        let sends: Vec<_> = rewards
            .chunks(10)
            .map(|chunk| {
                let (queue, chunk) = (self.clone(), chunk.to_vec());
                async move { queue.send_chunk(&chunk).await }
            })
            .collect();
        futures::stream::iter(sends)
            .buffer_unordered(Self::CONCURRENT_REQUESTS)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}

/// What the payout function does with messages it has received, besides succeeding:
/// postpone one (its next try) or set one aside (it can never be processed).
#[async_trait]
pub trait RetryQueue: Send + Sync {
    /// Hides a received message for `delay`: SQS delivers it again after that.
    async fn postpone(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), QueueError>;
    /// Copies an unprocessable message to the dead-letter queue with the reason, so that
    /// nothing is lost and the DLQ alarm fires; the caller then lets the original go.
    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), QueueError>;
}

/// SQS implementation: ChangeMessageVisibility on the payout queue, SendMessage to its DLQ.
#[derive(Debug, Clone)]
pub struct SqsRetryQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    dead_letter_url: String,
}

impl SqsRetryQueue {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        dead_letter_url: impl Into<String>,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dead_letter_url: dead_letter_url.into(),
        }
    }
}

#[async_trait]
impl RetryQueue for SqsRetryQueue {
    async fn postpone(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        // SQS caps a message's visibility at 12 hours.
        let seconds = delay.as_secs().min(12 * 3600) as i32;
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), QueueError> {
        use aws_sdk_sqs::types::MessageAttributeValue;
        let reason = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| QueueError(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.dead_letter_url)
            // SQS refuses an empty body; keep the message recognisable.
            .message_body(if body.is_empty() { "<empty>" } else { body })
            .message_attributes("reason", reason)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}
