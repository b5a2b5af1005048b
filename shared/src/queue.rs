//! The payout queue (SQS): where granted rewards are handed to the payout function.

use crate::contracts::payout::PayoutMessage;
use crate::domain::RewardId;
use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use thiserror::Error;

/// The SQS call a [`QueueError`] happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOperation {
    /// SendMessageBatch to the payout queue.
    Enqueue,
    /// ChangeMessageVisibility on the payout queue.
    Postpone,
    /// SendMessage to the dead-letter queue.
    DeadLetter,
}

impl std::fmt::Display for QueueOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QueueOperation::Enqueue => "SendMessageBatch",
            QueueOperation::Postpone => "ChangeMessageVisibility",
            QueueOperation::DeadLetter => "SendMessage (DLQ)",
        })
    }
}

/// Why a queue call failed. Messages hold SQS's own error text and counts, never a body.
#[derive(Debug, Error)]
pub enum QueueError {
    /// Throttling, a 5xx, a timeout or a dropped connection: retrying later may succeed.
    #[error("payout queue unavailable during {operation}: {message}")]
    Unavailable {
        operation: QueueOperation,
        message: String,
    },
    /// SQS refused the request (or some of its messages) as ours to fix: retrying as is fails.
    #[error("payout queue rejected {operation}: {message}")]
    Rejected {
        operation: QueueOperation,
        message: String,
    },
}

impl QueueError {
    /// A request we could not even build: a bug on our side.
    fn build(operation: QueueOperation, error: impl std::fmt::Display) -> Self {
        QueueError::Rejected {
            operation,
            message: error.to_string(),
        }
    }

    /// Classifies an SDK error: no answer, a 5xx or throttling = unavailable; any other
    /// answer = rejected.
    fn sdk<E>(
        operation: QueueOperation,
        error: aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
    ) -> Self
    where
        E: std::error::Error + aws_sdk_sqs::error::ProvideErrorMetadata + 'static,
    {
        use aws_sdk_sqs::error::SdkError;
        let message = aws_sdk_sqs::error::DisplayErrorContext(&error).to_string();
        let rejected = match &error {
            SdkError::ServiceError(service) => {
                let throttled = service.err().code().is_some_and(|c| c.contains("Throttl"));
                service.raw().status().is_client_error() && !throttled
            }
            _ => false,
        };
        if rejected {
            QueueError::Rejected { operation, message }
        } else {
            QueueError::Unavailable { operation, message }
        }
    }
}

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
                    .map_err(|e| QueueError::build(QueueOperation::Enqueue, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| QueueError::sdk(QueueOperation::Enqueue, e))?;
        match out.failed.first() {
            Some(failed) => {
                let operation = QueueOperation::Enqueue;
                let message = format!(
                    "{} of {} messages not accepted: {} {}",
                    out.failed.len(),
                    chunk.len(),
                    failed.code,
                    failed.message.as_deref().unwrap_or_default()
                );
                // SQS says whose fault an entry is; a sender fault will not pass on a retry.
                Err(if out.failed.iter().any(|f| f.sender_fault) {
                    QueueError::Rejected { operation, message }
                } else {
                    QueueError::Unavailable { operation, message }
                })
            }
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
            .map_err(|e| QueueError::sdk(QueueOperation::Postpone, e))?;
        Ok(())
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), QueueError> {
        use aws_sdk_sqs::types::MessageAttributeValue;
        let reason = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| QueueError::build(QueueOperation::DeadLetter, e))?;
        self.client
            .send_message()
            .queue_url(&self.dead_letter_url)
            // SQS refuses an empty body; keep the message recognisable.
            .message_body(if body.is_empty() { "<empty>" } else { body })
            .message_attributes("reason", reason)
            .send()
            .await
            .map_err(|e| QueueError::sdk(QueueOperation::DeadLetter, e))?;
        Ok(())
    }
}
