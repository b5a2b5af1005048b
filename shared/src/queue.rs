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
