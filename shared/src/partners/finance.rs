//! The finance module's compensation API.
//!
//! `POST {FINANCE_URL}/v1/compensations`, header `Idempotency-Key: <reward id>`, body
//! `{"member_jkos_id", "reward_type", "amount", "reference"}`; 2xx = paid, with
//! `{"compensation_id"}`; the same key again = the same answer and no second payment; 409 = the
//! same key with a different body; other 4xx = rejected; 5xx / timeout = retry.

use super::{PartnerError, error_from_response, transport_error};
use crate::domain::{JkosId, Reward, RewardAmount, RewardType};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const PARTNER: &str = "finance";

/// The body of a compensation request. The amount is a decimal string ("12.5"), never a
/// float, so no rounding happens on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompensationRequest {
    pub member_jkos_id: JkosId,
    pub reward_type: RewardType,
    pub amount: RewardAmount,
    /// Ours, for finance's reconciliation: `referral/<event id>/<reward id>`.
    pub reference: String,
}

impl CompensationRequest {
    /// What paying `reward` asks of finance: always the same for the same reward, which is
    /// what makes a retry with the same idempotency key safe.
    pub fn for_reward(reward: &Reward) -> Self {
        Self {
            member_jkos_id: reward.member_jkos_id.clone(),
            reward_type: reward.terms.reward_type,
            amount: reward.terms.amount,
            reference: format!("referral/{}/{}", reward.event_id, reward.reward_id),
        }
    }
}

#[derive(Debug, Deserialize)]
struct CompensationResponse {
    compensation_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FinanceClient {
    http: reqwest::Client,
    endpoint: Url,
    timeout: Duration,
}

impl FinanceClient {
    pub(super) fn new(http: reqwest::Client, base: Url, timeout: Duration) -> Self {
        let endpoint = base
            .join("v1/compensations")
            .expect("a base URL joins a relative path");
        Self {
            http,
            endpoint,
            timeout,
        }
    }

    /// Pays a compensation; returns finance's compensation id.
    pub async fn compensate(
        &self,
        idempotency_key: &str,
        request: &CompensationRequest,
    ) -> Result<String, PartnerError> {
        let response = self
            .http
            .post(self.endpoint.clone())
            .timeout(self.timeout)
            .header("Idempotency-Key", idempotency_key)
            .json(request)
            .send()
            .await
            .map_err(|e| transport_error(PARTNER, self.timeout, e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(error_from_response(PARTNER, response).await);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(PARTNER, self.timeout, e))?;
        let parsed: CompensationResponse =
            serde_json::from_slice(&body).map_err(|e| PartnerError::InvalidResponse {
                partner: PARTNER,
                status: status.as_u16(),
                detail: format!("not the compensation JSON ({e})"),
            })?;
        match parsed.compensation_id {
            Some(id) if !id.trim().is_empty() && id.len() <= 128 => Ok(id),
            _ => Err(PartnerError::InvalidResponse {
                partner: PARTNER,
                status: status.as_u16(),
                detail: "compensation_id missing, empty or longer than 128".into(),
            }),
        }
    }
}
