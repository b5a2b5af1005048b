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
        for chunk in rewards.chunks(10) {
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
            if let Some(failed) = out.failed.first() {
                return Err(QueueError(format!(
                    "{} of {} messages not accepted: {} {}",
                    out.failed.len(),
                    chunk.len(),
                    failed.code,
                    failed.message.as_deref().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}
