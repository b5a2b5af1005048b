//! MSK consumer: rd2_registration_member → registration steps, qualification, rewards.
//! All logic lives in `referral_shared::ingest`; this is wiring.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    referral_shared::ingest::serve(referral_shared::contracts::kafka::TOPIC_REGISTRATION).await
}
