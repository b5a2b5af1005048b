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
