//! The MSK consumers (registration-consumer, member-info-consumer).

use super::{
    ConfigError, config_cache_ttl, optional, payout_queue_url, personal_event, table_name,
};
use crate::ingest::ConsumerSettings;
use std::time::Duration;

/// `TABLE_NAME`, `PAYOUT_QUEUE_URL`, `PERSONAL_EVENT_ID`, `MEMBER_CONCURRENCY` (default 16, at
/// least 1), `CONFIG_CACHE_SECONDS` (default 60).
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub table_name: String,
    /// Where granted rewards are sent.
    pub payout_queue_url: String,
    /// How stale a cached event configuration may be.
    pub config_cache_ttl: Duration,
    /// The engine's settings, built here directly (nothing to copy over by hand).
    pub settings: ConsumerSettings,
}

impl ConsumerConfig {
    /// The configuration of the consumer subscribed to `topic`.
    pub fn from_env(topic: &'static str) -> Result<Self, ConfigError> {
        let mut settings = ConsumerSettings::new(topic, personal_event()?);
        settings.concurrency = optional("MEMBER_CONCURRENCY", settings.concurrency)?.max(1);
        Ok(Self {
            table_name: table_name()?,
            payout_queue_url: payout_queue_url()?,
            config_cache_ttl: config_cache_ttl()?,
            settings,
        })
    }
}
