//! The app HTTP API (API Gateway HTTP API, JWT authorizer, payload 2.0). All logic lives in
//! `referral_shared::api::app`; this is wiring.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    referral_shared::api::app::serve().await
}
