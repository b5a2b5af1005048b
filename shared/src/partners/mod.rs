//! Clients of the partner HTTP APIs we call: the finance module (compensations) and msg-hub
//! (member notifications). The contracts are those of `DESIGN.md`, documented in
//! `docs/partners.md`; this module is the only place that knows them.
//!
//! One [`reqwest::Client`] is built per process ([`Partners::new`]) and shared by both
//! clients, so connections are pooled across messages and invocations. Errors are classified
//! once, here, into "retry later" and "will never work" ([`PartnerError::is_retryable`]).
//! Nothing personal is logged: request bodies are never logged, and a partner's error body is
//! reduced to its `code` and a bounded `message`.

mod finance;
mod msghub;

pub use finance::{CompensationRequest, FinanceClient};
pub use msghub::{MessageRequest, MsgHubClient};

use crate::config::{ConfigError, optional, required};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;
use std::time::Duration;
use thiserror::Error;

/// `FINANCE_URL`, `MSGHUB_URL` and the timeouts, read once at start-up.
#[derive(Debug, Clone)]
pub struct PartnerConfig {
    /// `FINANCE_URL`: base URL of the finance module (`…/v1/compensations` is appended).
    pub finance_url: Url,
    /// `MSGHUB_URL`: base URL of msg-hub (`…/v1/messages` is appended).
    pub msghub_url: Url,
    /// `FINANCE_TIMEOUT_MS` (default 5,000): whole-request timeout of one compensation call.
    pub finance_timeout: Duration,
    /// `MSGHUB_TIMEOUT_MS` (default 3,000): whole-request timeout of one message call.
    pub msghub_timeout: Duration,
    /// `PARTNER_CONNECT_TIMEOUT_MS` (default 1,000): TCP + TLS connect timeout.
    pub connect_timeout: Duration,
}

impl PartnerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            finance_url: base_url("FINANCE_URL", &required("FINANCE_URL")?)?,
            msghub_url: base_url("MSGHUB_URL", &required("MSGHUB_URL")?)?,
            finance_timeout: Duration::from_millis(optional("FINANCE_TIMEOUT_MS", 5_000u64)?),
            msghub_timeout: Duration::from_millis(optional("MSGHUB_TIMEOUT_MS", 3_000u64)?),
            connect_timeout: Duration::from_millis(optional(
                "PARTNER_CONNECT_TIMEOUT_MS",
                1_000u64,
            )?),
        })
    }

    /// The same settings for partners at `finance` and `msghub` (tests, local tools).
    pub fn local(finance: &str, msghub: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            finance_url: base_url("FINANCE_URL", finance)?,
            msghub_url: base_url("MSGHUB_URL", msghub)?,
            finance_timeout: Duration::from_secs(5),
            msghub_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(1),
        })
    }
}

/// Parses a base URL and makes sure paths join under it (`http://h/x` + `v1/…` = `http://h/x/v1/…`).
fn base_url(name: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let mut url = Url::parse(raw.trim()).map_err(|e| ConfigError::Invalid {
        name,
        message: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ConfigError::Invalid {
            name,
            message: "must be an http(s) base URL".into(),
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Both partner clients over one connection pool.
#[derive(Debug, Clone)]
pub struct Partners {
    pub finance: FinanceClient,
    pub msghub: MsgHubClient,
}

impl Partners {
    pub fn new(config: &PartnerConfig) -> Result<Self, PartnerError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("referral-svc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PartnerError::Setup(e.to_string()))?;
        Ok(Self {
            finance: FinanceClient::new(
                http.clone(),
                config.finance_url.clone(),
                config.finance_timeout,
            ),
            msghub: MsgHubClient::new(http, config.msghub_url.clone(), config.msghub_timeout),
        })
    }
}

/// What went wrong calling a partner, classified by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PartnerError {
    /// No answer in time. The call may or may not have taken effect: retry with the same
    /// idempotency key.
    #[error("{partner} did not answer within {timeout_ms} ms")]
    Timeout {
        partner: &'static str,
        timeout_ms: u64,
    },
    /// Could not connect, or the connection broke before an answer.
    #[error("{partner} unreachable: {detail}")]
    Unreachable {
        partner: &'static str,
        detail: String,
    },
    /// 5xx, 429 or 408: the partner asks us to come back later.
    #[error("{partner} unavailable ({status}{})", fmt_code(.code))]
    Unavailable {
        partner: &'static str,
        status: u16,
        code: Option<String>,
    },
    /// A 2xx whose body is not what the contract promises.
    #[error("{partner} answered {status} with an invalid body: {detail}")]
    InvalidResponse {
        partner: &'static str,
        status: u16,
        detail: String,
    },
    /// 409 from finance: the same idempotency key was used with a different body.
    #[error("{partner} conflict ({status}{}): {message}", fmt_code(.code))]
    Conflict {
        partner: &'static str,
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// Any other 4xx: the request is refused and will be refused again.
    #[error("{partner} rejected the request ({status}{}): {message}", fmt_code(.code))]
    Rejected {
        partner: &'static str,
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The HTTP client could not be built (bad TLS set-up); fatal at start-up.
    #[error("HTTP client set-up failed: {0}")]
    Setup(String),
}

fn fmt_code(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" {c}")).unwrap_or_default()
}

impl PartnerError {
    /// Retrying later (with the same idempotency key) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PartnerError::Timeout { .. }
                | PartnerError::Unreachable { .. }
                | PartnerError::Unavailable { .. }
                | PartnerError::InvalidResponse { .. }
        )
    }

    /// What may be logged: partner, kind, status and the partner's error code, never the
    /// partner's message (it may echo what we sent).
    pub fn summary(&self) -> String {
        match self {
            PartnerError::Timeout {
                partner,
                timeout_ms,
            } => format!("{partner} timeout after {timeout_ms} ms"),
            PartnerError::Unreachable { partner, .. } => format!("{partner} unreachable"),
            PartnerError::Unavailable {
                partner,
                status,
                code,
            }
            | PartnerError::Conflict {
                partner,
                status,
                code,
                ..
            }
            | PartnerError::Rejected {
                partner,
                status,
                code,
                ..
            } => format!("{partner} {} {status}{}", self.kind(), fmt_code(code)),
            PartnerError::InvalidResponse {
                partner, status, ..
            } => format!("{partner} invalid_response {status}"),
            PartnerError::Setup(_) => "http client set-up".to_owned(),
        }
    }

    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PartnerError::Timeout { .. } => "timeout",
            PartnerError::Unreachable { .. } => "unreachable",
            PartnerError::Unavailable { .. } => "unavailable",
            PartnerError::InvalidResponse { .. } => "invalid_response",
            PartnerError::Conflict { .. } => "conflict",
            PartnerError::Rejected { .. } => "rejected",
            PartnerError::Setup(_) => "setup",
        }
    }
}

/// The error body both partners send with a 4xx/5xx (`{"code": "...", "message": "..."}`);
/// anything else is tolerated and reduced to the status.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The longest partner error text we keep (on the reward, in logs): enough to act on, too
/// short to carry a payload back into our records.
const MAX_ERROR_TEXT: usize = 200;

fn bounded(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_ERROR_TEXT {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(MAX_ERROR_TEXT).collect();
        cut.push('…');
        cut
    }
}

/// Turns a transport error into a [`PartnerError`].
fn transport_error(partner: &'static str, timeout: Duration, e: reqwest::Error) -> PartnerError {
    if e.is_timeout() {
        PartnerError::Timeout {
            partner,
            timeout_ms: timeout.as_millis() as u64,
        }
    } else {
        // The URL is ours (config), not personal data; keep the cause chain short.
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            source = s.source();
        }
        PartnerError::Unreachable {
            partner,
            detail: bounded(&detail),
        }
    }
}

/// Classifies a non-2xx response, reading its error body.
async fn error_from_response(partner: &'static str, response: Response) -> PartnerError {
    let status = response.status();
    let body: ErrorBody = response
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let code = body.code.map(|c| bounded(&c));
    let message = body
        .message
        .map(|m| bounded(&m))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
    classify(partner, status, code, message)
}

fn classify(
    partner: &'static str,
    status: StatusCode,
    code: Option<String>,
    message: String,
) -> PartnerError {
    let s = status.as_u16();
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        PartnerError::Unavailable {
            partner,
            status: s,
            code,
        }
    } else if status == StatusCode::CONFLICT {
        PartnerError::Conflict {
            partner,
            status: s,
            code,
            message,
        }
    } else {
        PartnerError::Rejected {
            partner,
            status: s,
            code,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_their_path_and_reject_non_http() {
        let url = base_url("X", "http://127.0.0.1:9000/finance").unwrap();
        assert_eq!(
            url.join("v1/compensations").unwrap().as_str(),
            "http://127.0.0.1:9000/finance/v1/compensations"
        );
        let url = base_url("X", "https://finance.internal").unwrap();
        assert_eq!(
            url.join("v1/compensations").unwrap().as_str(),
            "https://finance.internal/v1/compensations"
        );
        assert!(base_url("X", "ftp://x").is_err());
        assert!(base_url("X", "not a url").is_err());
    }

    #[test]
    fn statuses_are_classified_by_what_to_do() {
        let c = |s: u16| {
            classify(
                "finance",
                StatusCode::from_u16(s).unwrap(),
                None,
                "m".into(),
            )
        };
        assert!(c(500).is_retryable());
        assert!(c(503).is_retryable());
        assert!(c(429).is_retryable());
        assert!(c(408).is_retryable());
        assert!(!c(400).is_retryable());
        assert!(!c(422).is_retryable());
        assert_eq!(c(409).kind(), "conflict");
        assert!(!c(409).is_retryable());
    }

    #[test]
    fn the_loggable_summary_leaves_the_partner_message_out() {
        let e = classify(
            "finance",
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("ACCOUNT_FROZEN".into()),
            "member 0912345678 is frozen".into(),
        );
        assert_eq!(e.summary(), "finance rejected 422 ACCOUNT_FROZEN");
        assert!(
            e.to_string().contains("frozen"),
            "the full text is kept for the reward"
        );
    }

    #[test]
    fn error_text_is_bounded() {
        let long = "x".repeat(1000);
        assert_eq!(bounded(&long).chars().count(), MAX_ERROR_TEXT + 1);
        assert_eq!(bounded(" short "), "short");
    }
}
