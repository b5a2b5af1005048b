//! Typed configuration, read once at start-up; a missing or bad value fails fast with a
//! message naming the variable.
//!
//! One typed config per function, each built by its `from_env()`:
//!
//! | function                                      | config                        | file          |
//! |-----------------------------------------------|-------------------------------|---------------|
//! | registration-consumer, member-info-consumer   | [`ConsumerConfig`]            | `consumer.rs` |
//! | reward-payout                                 | [`PayoutConfig`]              | `payout.rs`   |
//! | reward-sweeper                                | [`SweeperConfig`]             | `sweeper.rs`  |
//! | app-api, admin-api                            | [`AppApiConfig`], [`AdminApiConfig`] | `api.rs` |
//!
//! Every variable is read in exactly one place: the variables several functions share have
//! one reader each below ([`table_name`], [`payout_queue_url`], [`personal_event`],
//! [`config_cache_ttl`]); the others are read by the one config that uses them (the partner
//! variables by [`crate::partners::PartnerConfig::from_env`], which only [`PayoutConfig`]
//! calls). The AWS clients come from ONE `aws_config` load per process: [`Clients::load`].

mod api;
mod consumer;
mod payout;
mod sweeper;

pub use api::{AdminApiConfig, AppApiConfig};
pub use consumer::ConsumerConfig;
pub use payout::PayoutConfig;
pub use sweeper::SweeperConfig;

use crate::domain::EventId;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required")]
    Missing { name: &'static str },
    #[error("environment variable {name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
}

// ---------------------------------------------------------------------------------------------
// Readers

/// Reads a required variable.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing { name }),
    }
}

/// Reads an optional variable, parsed; absent or blank = `default`.
pub fn optional<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                message: e.to_string(),
            })
        }
        _ => Ok(default),
    }
}

/// An optional number that must be at least 1 (a zero would stall or disable the function).
fn at_least_one<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + From<u8>,
    T::Err: std::fmt::Display,
{
    let value = optional(name, default)?;
    if value < T::from(1) {
        return Err(ConfigError::Invalid {
            name,
            message: "must be at least 1".into(),
        });
    }
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// Variables several functions share: one reader each.

/// `TABLE_NAME`: the single table (every function).
pub fn table_name() -> Result<String, ConfigError> {
    required("TABLE_NAME")
}

/// `PAYOUT_QUEUE_URL`: where granted rewards are sent (consumers, payout, sweeper, admin API).
pub fn payout_queue_url() -> Result<String, ConfigError> {
    required("PAYOUT_QUEUE_URL")
}

/// `PERSONAL_EVENT_ID`: the PERSONAL event of members' own codes (consumers, app API).
pub fn personal_event() -> Result<EventId, ConfigError> {
    let raw = required("PERSONAL_EVENT_ID")?;
    EventId::parse(&raw).map_err(|e| ConfigError::Invalid {
        name: "PERSONAL_EVENT_ID",
        message: e.to_string(),
    })
}

/// `CONFIG_CACHE_SECONDS` (default 60): how stale a cached event configuration may be
/// (consumers, payout, app API).
pub fn config_cache_ttl() -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(optional(
        "CONFIG_CACHE_SECONDS",
        60u64,
    )?))
}

// ---------------------------------------------------------------------------------------------
// Clients

/// The AWS clients of a process, from one load of the SDK configuration (the standard chain;
/// endpoint overrides such as `AWS_ENDPOINT_URL_DYNAMODB`, used locally, are honoured by the
/// SDK itself). Build once per process; the clients are cheap to clone.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    pub async fn load() -> Self {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
        }
    }

    /// The store on `table`.
    pub fn store(&self, table: &str) -> crate::store::DynamoStore {
        crate::store::DynamoStore::new(self.dynamodb.clone(), table.to_owned())
    }

    /// The payout queue at `url`, for sending rewards.
    pub fn payout_queue(&self, url: &str) -> crate::queue::SqsPayoutQueue {
        crate::queue::SqsPayoutQueue::new(self.sqs.clone(), url)
    }

    /// The payout queue at `url` and its dead-letter queue, for the payout function.
    pub fn retry_queue(&self, url: &str, dead_letter_url: &str) -> crate::queue::SqsRetryQueue {
        crate::queue::SqsRetryQueue::new(self.sqs.clone(), url, dead_letter_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(
            ConfigError::Missing { name: "TABLE_NAME" }.to_string(),
            "environment variable TABLE_NAME is required"
        );
        let invalid = ConfigError::Invalid {
            name: "SWEEP_AFTER_MINUTES",
            message: "must be at least 1".into(),
        };
        assert!(invalid.to_string().contains("SWEEP_AFTER_MINUTES"));
    }
}
