//! Typed configuration, read once at start-up; a missing or bad value fails fast with a
//! message naming the variable.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required")]
    Missing { name: &'static str },
    #[error("environment variable {name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
}

/// Reads a required variable.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing { name }),
    }
}

/// Settings every function needs to reach the table.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `TABLE_NAME`: the single table.
    pub table_name: String,
}

impl StoreConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
        })
    }
}

/// The SDK configuration from the standard chain. Endpoint overrides such as
/// `AWS_ENDPOINT_URL_DYNAMODB` (used locally for DynamoDB Local) are honoured by the SDK itself.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A DynamoDB store built from the environment; build it once per process.
pub async fn dynamo_store_from_env() -> Result<crate::store::DynamoStore, ConfigError> {
    let config = StoreConfig::from_env()?;
    let sdk = aws_sdk_config().await;
    Ok(crate::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.table_name,
    ))
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

/// Settings of the MSK consumers.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `PAYOUT_QUEUE_URL`: where granted rewards are sent.
    pub payout_queue_url: String,
    /// `PERSONAL_EVENT_ID`: the PERSONAL event of new referrers' codes.
    pub personal_event: crate::domain::EventId,
    /// `MEMBER_CONCURRENCY` (default 16): members applied at once within a batch.
    pub concurrency: usize,
    /// `CONFIG_CACHE_SECONDS` (default 60): how stale a cached event configuration may be.
    pub config_cache_seconds: u64,
}

impl ConsumerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let personal = required("PERSONAL_EVENT_ID")?;
        Ok(Self {
            payout_queue_url: required("PAYOUT_QUEUE_URL")?,
            personal_event: crate::domain::EventId::parse(&personal).map_err(|e| {
                ConfigError::Invalid {
                    name: "PERSONAL_EVENT_ID",
                    message: e.to_string(),
                }
            })?,
            concurrency: optional("MEMBER_CONCURRENCY", 16usize)?.max(1),
            config_cache_seconds: optional("CONFIG_CACHE_SECONDS", 60u64)?,
        })
    }
}
