//! The admin HTTP API (API Gateway HTTP API, JWT authorizer with the `referral.admin` scope).
//! All logic lives in `referral_shared::api::admin`; this is wiring.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    referral_shared::api::admin::serve().await
}
