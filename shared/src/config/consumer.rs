//! The MSK consumers (registration-consumer, member-info-consumer).

use super::{
    ConfigError, Env, config_cache_ttl, optional_in, payout_queue_url, personal_event, process_env,
    required_in, table_name,
};
use crate::domain::IdentityKey;
use crate::ingest::ConsumerSettings;
use std::time::Duration;

/// `TABLE_NAME`, `PAYOUT_QUEUE_URL`, `PERSONAL_EVENT_ID`, `IDENTITY_HASH_KEY` (the secret of
/// the reward rules' keyed hashes, at least 32 bytes; from Secrets Manager in the template),
/// `MEMBER_CONCURRENCY` (default 16, at least 1), `CONFIG_CACHE_SECONDS` (default 60).
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
        Self::from_vars(&process_env, topic)
    }

    pub(super) fn from_vars(env: Env<'_>, topic: &'static str) -> Result<Self, ConfigError> {
        let mut settings = ConsumerSettings::new(topic, personal_event(env)?);
        settings.concurrency = optional_in(env, "MEMBER_CONCURRENCY", settings.concurrency)?.max(1);
        settings.identity_key = Some(identity_key(env)?);
        Ok(Self {
            table_name: table_name(env)?,
            payout_queue_url: payout_queue_url(env)?,
            config_cache_ttl: config_cache_ttl(env)?,
            settings,
        })
    }
}

/// `IDENTITY_HASH_KEY`: the secret the reward rules' keyed hashes (phone, device) are made
/// with. Never logged; a value too short is refused by name.
fn identity_key(env: Env<'_>) -> Result<IdentityKey, ConfigError> {
    let raw = required_in(env, "IDENTITY_HASH_KEY")?;
    IdentityKey::new(raw.into_bytes()).map_err(|e| ConfigError::Invalid {
        name: "IDENTITY_HASH_KEY",
        message: e.message,
    })
}
