//! The HTTP functions (app-api, admin-api).

use super::{
    ConfigError, Env, config_cache_ttl, optional_in, payout_queue_url, personal_event, process_env,
    table_name,
};
use crate::api::app::AppSettings;

/// app-api: `TABLE_NAME`, `PAYOUT_QUEUE_URL` (a claimed reward is queued for payout),
/// `PERSONAL_EVENT_ID`, `SHARE_LINK_TEMPLATE` (default a placeholder link),
/// `CHECK_LIMIT_PER_MINUTE` (default 30, at least 1), `CONFIG_CACHE_SECONDS` (default 60).
#[derive(Debug, Clone)]
pub struct AppApiConfig {
    pub table_name: String,
    pub payout_queue_url: String,
    pub settings: AppSettings,
}

impl AppApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&process_env)
    }

    pub(super) fn from_vars(env: Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: table_name(env)?,
            payout_queue_url: payout_queue_url(env)?,
            settings: AppSettings {
                personal_event: personal_event(env)?,
                share_link_template: optional_in(
                    env,
                    "SHARE_LINK_TEMPLATE",
                    "https://example.invalid/r/{code}".to_owned(),
                )?,
                check_limit_per_minute: optional_in(env, "CHECK_LIMIT_PER_MINUTE", 30u32)?.max(1),
                config_cache_seconds: config_cache_ttl(env)?.as_secs(),
            },
        })
    }
}

/// admin-api: `TABLE_NAME`, `PAYOUT_QUEUE_URL` (an admin retry re-queues a reward),
/// `PERSONAL_EVENT_ID` (the one PERSONAL event an admin may create).
#[derive(Debug, Clone)]
pub struct AdminApiConfig {
    pub table_name: String,
    pub payout_queue_url: String,
    pub personal_event: crate::domain::EventId,
}

impl AdminApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&process_env)
    }

    pub(super) fn from_vars(env: Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: table_name(env)?,
            payout_queue_url: payout_queue_url(env)?,
            personal_event: personal_event(env)?,
        })
    }
}
