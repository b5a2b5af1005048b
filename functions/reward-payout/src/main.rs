//! SQS consumer of the payout queue: pays each reward once through finance, marks it
//! SUCCESS, notifies the member through msg-hub; answers with a partial batch response.
//! All logic lives in `referral_shared::payout`; this is wiring.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    referral_shared::payout::serve().await
}
