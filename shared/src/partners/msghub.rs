//! msg-hub: `POST {MSGHUB_URL}/v1/messages` with
//! `{"member_jkos_id", "channel": "IN_APP" | "PUSH" | "BOX", "title", "content"}`; 2xx = accepted.

use super::{PartnerError, error_from_response, transport_error};
use crate::domain::{Channel, JkosId};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const PARTNER: &str = "msg-hub";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRequest {
    pub member_jkos_id: JkosId,
    pub channel: Channel,
    pub title: String,
    pub content: String,
}

#[derive(Debug, Clone)]
pub struct MsgHubClient {
    http: reqwest::Client,
    endpoint: Url,
    timeout: Duration,
}

impl MsgHubClient {
    pub(super) fn new(http: reqwest::Client, base: Url, timeout: Duration) -> Self {
        let endpoint = base
            .join("v1/messages")
            .expect("a base URL joins a relative path");
        Self {
            http,
            endpoint,
            timeout,
        }
    }

    /// Sends one message; Ok once msg-hub has accepted it. The body of a 2xx is not needed.
    pub async fn send(&self, message: &MessageRequest) -> Result<(), PartnerError> {
        let response = self
            .http
            .post(self.endpoint.clone())
            .timeout(self.timeout)
            .json(message)
            .send()
            .await
            .map_err(|e| transport_error(PARTNER, self.timeout, e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(error_from_response(PARTNER, response).await)
        }
    }
}
