//! The reward sweeper (scheduled).

use super::{
    ConfigError, Env, at_least_one, optional_in, payout_queue_url, process_env, table_name,
};
use crate::sweeper::SweepSettings;

/// `TABLE_NAME`, `PAYOUT_QUEUE_URL`, `SWEEP_AFTER_MINUTES` (default 15, at least 1),
/// `SWEEP_MAX_REWARDS` (default 1000).
#[derive(Debug, Clone)]
pub struct SweeperConfig {
    pub table_name: String,
    /// Where stranded rewards are sent again.
    pub payout_queue_url: String,
    pub settings: SweepSettings,
}

impl SweeperConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&process_env)
    }

    pub(super) fn from_vars(env: Env<'_>) -> Result<Self, ConfigError> {
        let stale_minutes: i64 = at_least_one(env, "SWEEP_AFTER_MINUTES", 15)?;
        Ok(Self {
            table_name: table_name(env)?,
            payout_queue_url: payout_queue_url(env)?,
            settings: SweepSettings {
                stale_after: chrono::Duration::minutes(stale_minutes),
                max_rewards: optional_in(env, "SWEEP_MAX_REWARDS", 1000)?,
            },
        })
    }
}
