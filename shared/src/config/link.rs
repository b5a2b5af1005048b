//! The share-link function (public `GET|HEAD /r/{code}`).

use super::{
    ConfigError, Env, config_cache_ttl, optional_in, personal_event, process_env, required_in,
    table_name,
};
use crate::domain::LandingUrl;
use crate::share_link::{DEFAULT_ANSWER_FLOOR, GenericLanding, ShareLinkSettings};
use std::time::Duration;

/// share-link: `TABLE_NAME`, `LANDING_URL_TEMPLATE` (required: `https://…` or an app link with
/// `{code}` exactly once), `GENERIC_LANDING_URL` (required: `https://…` or an app link, without
/// `{code}`), `PERSONAL_EVENT_ID`, `CONFIG_CACHE_SECONDS` (default 60), `LINK_ANSWER_FLOOR_MS`
/// (default 25, at most 1000).
#[derive(Debug, Clone)]
pub struct ShareLinkConfig {
    pub table_name: String,
    pub settings: ShareLinkSettings,
}

impl ShareLinkConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&process_env)
    }

    pub(super) fn from_vars(env: Env<'_>) -> Result<Self, ConfigError> {
        const TEMPLATE: &str = "LANDING_URL_TEMPLATE";
        let landing =
            LandingUrl::parse(required_in(env, TEMPLATE)?).map_err(|e| ConfigError::Invalid {
                name: TEMPLATE,
                message: e.message,
            })?;
        const NAME: &str = "GENERIC_LANDING_URL";
        let raw = required_in(env, NAME)?;
        let generic_landing =
            GenericLanding::parse(&raw).map_err(|message| ConfigError::Invalid {
                name: NAME,
                message,
            })?;
        Ok(Self {
            table_name: table_name(env)?,
            settings: ShareLinkSettings {
                landing,
                generic_landing,
                personal_event: personal_event(env)?,
                config_cache_seconds: config_cache_ttl(env)?.as_secs(),
                answer_floor: answer_floor(env)?,
            },
        })
    }
}

/// `LINK_ANSWER_FLOOR_MS`: milliseconds, 0 to 1000 (0: no floor).
fn answer_floor(env: Env<'_>) -> Result<Duration, ConfigError> {
    const NAME: &str = "LINK_ANSWER_FLOOR_MS";
    let default = DEFAULT_ANSWER_FLOOR.as_millis() as u64;
    let ms: u64 = optional_in(env, NAME, default)?;
    if ms > 1000 {
        return Err(ConfigError::Invalid {
            name: NAME,
            message: "must be at most 1000".into(),
        });
    }
    Ok(Duration::from_millis(ms))
}
