//! The reward payout (SQS consumer of the payout queue).

use super::{
    ConfigError, at_least_one, config_cache_ttl, optional, payout_queue_url, required, table_name,
};
use crate::partners::PartnerConfig;
use crate::payout::PayoutSettings;
use std::time::Duration;

/// `TABLE_NAME`, `PAYOUT_QUEUE_URL`, `PAYOUT_DLQ_URL`, `CONFIG_CACHE_SECONDS` (default 60), the
/// partner variables ([`PartnerConfig::from_env`]: `FINANCE_URL`, `MSGHUB_URL`, their
/// timeouts) and the tuning: `PAYOUT_CONCURRENCY` (10, at least 1), `PAYOUT_MAX_RECEIVES` (5,
/// at least 1, must equal the queue's maxReceiveCount), `PAYOUT_RETRY_BASE_SECONDS` (30),
/// `PAYOUT_RETRY_MAX_SECONDS` (600), `NOTIFY_RETRY_DELAY_MS` (500), `NOTIFY_RECOVERY_SECONDS`
/// (300).
#[derive(Debug, Clone)]
pub struct PayoutConfig {
    pub table_name: String,
    /// The queue the messages come from (their visibility is stretched on a retry).
    pub payout_queue_url: String,
    /// Where unprocessable messages are copied.
    pub dead_letter_url: String,
    pub partners: PartnerConfig,
    pub config_cache_ttl: Duration,
    pub settings: PayoutSettings,
}

impl PayoutConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: table_name()?,
            payout_queue_url: payout_queue_url()?,
            dead_letter_url: required("PAYOUT_DLQ_URL")?,
            partners: PartnerConfig::from_env()?,
            config_cache_ttl: config_cache_ttl()?,
            settings: settings()?,
        })
    }
}

fn settings() -> Result<PayoutSettings, ConfigError> {
    let d = PayoutSettings::default();
    Ok(PayoutSettings {
        concurrency: at_least_one("PAYOUT_CONCURRENCY", d.concurrency)?,
        max_receives: at_least_one("PAYOUT_MAX_RECEIVES", d.max_receives)?,
        retry_base: Duration::from_secs(optional(
            "PAYOUT_RETRY_BASE_SECONDS",
            d.retry_base.as_secs(),
        )?),
        retry_max: Duration::from_secs(optional(
            "PAYOUT_RETRY_MAX_SECONDS",
            d.retry_max.as_secs(),
        )?),
        notify_retry_delay: Duration::from_millis(optional(
            "NOTIFY_RETRY_DELAY_MS",
            d.notify_retry_delay.as_millis() as u64,
        )?),
        notify_recovery_after: Duration::from_secs(optional(
            "NOTIFY_RECOVERY_SECONDS",
            d.notify_recovery_after.as_secs(),
        )?),
    })
}
