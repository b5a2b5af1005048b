//! The reward payout (SQS consumer of the payout queue).

use super::{
    ConfigError, Env, at_least_one, config_cache_ttl, optional_in, payout_queue_url, process_env,
    required_in, table_name,
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
    /// The partner variables are read by [`PartnerConfig::from_env`] (the process
    /// environment); everything else through `env`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&process_env, PartnerConfig::from_env)
    }

    pub(super) fn from_vars(
        env: Env<'_>,
        partners: impl FnOnce() -> Result<PartnerConfig, ConfigError>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: table_name(env)?,
            payout_queue_url: payout_queue_url(env)?,
            dead_letter_url: required_in(env, "PAYOUT_DLQ_URL")?,
            partners: partners()?,
            config_cache_ttl: config_cache_ttl(env)?,
            settings: settings(env)?,
        })
    }
}

fn settings(env: Env<'_>) -> Result<PayoutSettings, ConfigError> {
    let d = PayoutSettings::default();
    Ok(PayoutSettings {
        concurrency: at_least_one(env, "PAYOUT_CONCURRENCY", d.concurrency)?,
        max_receives: at_least_one(env, "PAYOUT_MAX_RECEIVES", d.max_receives)?,
        retry_base: Duration::from_secs(optional_in(
            env,
            "PAYOUT_RETRY_BASE_SECONDS",
            d.retry_base.as_secs(),
        )?),
        retry_max: Duration::from_secs(optional_in(
            env,
            "PAYOUT_RETRY_MAX_SECONDS",
            d.retry_max.as_secs(),
        )?),
        notify_retry_delay: Duration::from_millis(optional_in(
            env,
            "NOTIFY_RETRY_DELAY_MS",
            d.notify_retry_delay.as_millis() as u64,
        )?),
        notify_recovery_after: Duration::from_secs(optional_in(
            env,
            "NOTIFY_RECOVERY_SECONDS",
            d.notify_recovery_after.as_secs(),
        )?),
    })
}
