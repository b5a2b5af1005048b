//! MSK consumer: rd2_member_info → member profiles.
//! All logic lives in `referral_shared::ingest`; this is wiring.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    referral_shared::ingest::serve(referral_shared::contracts::kafka::TOPIC_MEMBER_INFO).await
}
