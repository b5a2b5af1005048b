//! Scheduled (EventBridge): re-queues PENDING rewards left behind by a crash between the
//! DynamoDB write and the SQS send (ADR 0004). All logic lives in `referral_shared::sweeper`;
//! this is wiring.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    referral_shared::sweeper::serve().await
}
