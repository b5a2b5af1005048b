//! The share-link function (public `GET|HEAD /r/{code}`).

use super::{ConfigError, Env, config_cache_ttl, process_env, required_in, table_name};
use crate::share_link::{GenericLanding, ShareLinkSettings};

/// share-link: `TABLE_NAME`, `GENERIC_LANDING_URL` (required: `https://…` or an app link,
/// without `{code}`), `CONFIG_CACHE_SECONDS` (default 60).
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
                generic_landing,
                config_cache_seconds: config_cache_ttl(env)?.as_secs(),
            },
        })
    }
}
