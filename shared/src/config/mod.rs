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
//! | share-link                                    | [`ShareLinkConfig`]           | `link.rs`     |
//!
//! Every variable is read in exactly one place: the variables several functions share have
//! one reader each below ([`table_name`], [`payout_queue_url`], [`personal_event`],
//! [`config_cache_ttl`]); the others are read by the one config that uses them (the partner
//! variables by [`crate::partners::PartnerConfig::from_env`], which only [`PayoutConfig`]
//! calls). The AWS clients come from ONE `aws_config` load per process: [`Clients::load`].

mod api;
mod consumer;
mod link;
mod payout;
mod sweeper;

pub use api::{AdminApiConfig, AppApiConfig};
pub use consumer::ConsumerConfig;
pub use link::ShareLinkConfig;
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

/// Where the variables come from: the process environment in production ([`process_env`]),
/// a table in the tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Reads a required variable from the process environment.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    required_in(&process_env, name)
}

/// Reads an optional variable from the process environment, parsed; absent or blank =
/// `default`.
pub fn optional<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    optional_in(&process_env, name, default)
}

fn required_in(env: Env<'_>, name: &'static str) -> Result<String, ConfigError> {
    match env(name) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing { name }),
    }
}

fn optional_in<T: std::str::FromStr>(
    env: Env<'_>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match env(name) {
        Some(v) if !v.trim().is_empty() => {
            v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                message: e.to_string(),
            })
        }
        _ => Ok(default),
    }
}

/// An optional number that must be at least 1 (a zero would stall or disable the function).
fn at_least_one<T>(env: Env<'_>, name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + From<u8>,
    T::Err: std::fmt::Display,
{
    let value = optional_in(env, name, default)?;
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
fn table_name(env: Env<'_>) -> Result<String, ConfigError> {
    required_in(env, "TABLE_NAME")
}

/// `PAYOUT_QUEUE_URL`: where granted rewards are sent (consumers, payout, sweeper, app API
/// (claims), admin API (retries, approvals)).
fn payout_queue_url(env: Env<'_>) -> Result<String, ConfigError> {
    required_in(env, "PAYOUT_QUEUE_URL")
}

/// `PERSONAL_EVENT_ID`: the PERSONAL event of members' own codes (consumers, app API).
fn personal_event(env: Env<'_>) -> Result<EventId, ConfigError> {
    let raw = required_in(env, "PERSONAL_EVENT_ID")?;
    EventId::parse(&raw).map_err(|e| ConfigError::Invalid {
        name: "PERSONAL_EVENT_ID",
        message: e.to_string(),
    })
}

/// `CONFIG_CACHE_SECONDS` (default 60): how stale a cached event configuration may be
/// (consumers, payout, app API, share link).
fn config_cache_ttl(env: Env<'_>) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(optional_in(
        env,
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
    use std::collections::HashMap;

    /// Every variable a function requires, set to a valid value.
    const ALL: &[(&str, &str)] = &[
        ("TABLE_NAME", "t"),
        ("PAYOUT_QUEUE_URL", "http://q"),
        ("PAYOUT_DLQ_URL", "http://q-dlq"),
        ("PERSONAL_EVENT_ID", "personal"),
        ("IDENTITY_HASH_KEY", "0123456789abcdef0123456789abcdef"),
        ("GENERIC_LANDING_URL", "https://pay.example.com/join"),
        (
            "LANDING_URL_TEMPLATE",
            "https://pay.example.com/join?code={code}",
        ),
    ];

    fn vars(changes: &[(&str, &str)]) -> HashMap<String, String> {
        let mut vars: HashMap<String, String> = ALL
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (k, v) in changes {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        vars
    }

    fn partners() -> Result<crate::partners::PartnerConfig, ConfigError> {
        crate::partners::PartnerConfig::local("http://finance", "http://msghub")
    }

    /// Builds every function's config from `vars`; the first error, if any.
    fn every_config(vars: &HashMap<String, String>) -> Result<(), ConfigError> {
        let env = |name: &str| vars.get(name).cloned();
        ConsumerConfig::from_vars(&env, crate::contracts::kafka::TOPIC_REGISTRATION)?;
        PayoutConfig::from_vars(&env, partners)?;
        SweeperConfig::from_vars(&env)?;
        AppApiConfig::from_vars(&env)?;
        AdminApiConfig::from_vars(&env)?;
        ShareLinkConfig::from_vars(&env)?;
        Ok(())
    }

    /// Every row: one change to a complete environment → the variable the error names
    /// (`None`: every config builds).
    #[test]
    fn a_missing_or_bad_variable_fails_naming_it() {
        let rows: &[(&str, &str, Option<&str>)] = &[
            ("NOTHING_WE_READ", "x", None),
            (
                "TABLE_NAME",
                "",
                Some("environment variable TABLE_NAME is required"),
            ),
            (
                "PAYOUT_QUEUE_URL",
                " ",
                Some("environment variable PAYOUT_QUEUE_URL is required"),
            ),
            (
                "PAYOUT_DLQ_URL",
                "",
                Some("environment variable PAYOUT_DLQ_URL is required"),
            ),
            (
                "PERSONAL_EVENT_ID",
                "",
                Some("environment variable PERSONAL_EVENT_ID is required"),
            ),
            (
                "CONFIG_CACHE_SECONDS",
                "soon",
                Some("CONFIG_CACHE_SECONDS is invalid"),
            ),
            (
                "MEMBER_CONCURRENCY",
                "-1",
                Some("MEMBER_CONCURRENCY is invalid"),
            ),
            ("MEMBER_CONCURRENCY", "0", None),
            (
                "IDENTITY_HASH_KEY",
                "",
                Some("environment variable IDENTITY_HASH_KEY is required"),
            ),
            (
                "IDENTITY_HASH_KEY",
                "short",
                Some("IDENTITY_HASH_KEY is invalid: must be at least 32 bytes"),
            ),
            (
                "PAYOUT_CONCURRENCY",
                "0",
                Some("PAYOUT_CONCURRENCY is invalid: must be at least 1"),
            ),
            (
                "PAYOUT_MAX_RECEIVES",
                "0",
                Some("PAYOUT_MAX_RECEIVES is invalid: must be at least 1"),
            ),
            (
                "PAYOUT_RETRY_BASE_SECONDS",
                "x",
                Some("PAYOUT_RETRY_BASE_SECONDS is invalid"),
            ),
            (
                "SWEEP_AFTER_MINUTES",
                "0",
                Some("SWEEP_AFTER_MINUTES is invalid: must be at least 1"),
            ),
            (
                "SWEEP_MAX_REWARDS",
                "many",
                Some("SWEEP_MAX_REWARDS is invalid"),
            ),
            ("CHECK_LIMIT_PER_MINUTE", "0", None),
            (
                "GENERIC_LANDING_URL",
                "",
                Some("environment variable GENERIC_LANDING_URL is required"),
            ),
            (
                "GENERIC_LANDING_URL",
                "https://pay.example.com/join?code={code}",
                Some("GENERIC_LANDING_URL is invalid: must not contain {code}"),
            ),
            (
                "GENERIC_LANDING_URL",
                "http://pay.example.com/join",
                Some("GENERIC_LANDING_URL is invalid"),
            ),
            (
                "CHECK_LIMIT_PER_MINUTE",
                "x",
                Some("CHECK_LIMIT_PER_MINUTE is invalid"),
            ),
            (
                "LANDING_URL_TEMPLATE",
                "",
                Some("environment variable LANDING_URL_TEMPLATE is required"),
            ),
            (
                "LANDING_URL_TEMPLATE",
                "https://pay.example.com/join",
                Some("LANDING_URL_TEMPLATE is invalid: must contain {code} exactly once"),
            ),
            (
                "LANDING_URL_TEMPLATE",
                "http://pay.example.com/join?code={code}",
                Some("LANDING_URL_TEMPLATE is invalid: must not use http"),
            ),
            ("LANDING_URL_TEMPLATE", "jkos://referral?code={code}", None),
            ("LINK_ANSWER_FLOOR_MS", "0", None),
            (
                "LINK_ANSWER_FLOOR_MS",
                "1001",
                Some("LINK_ANSWER_FLOOR_MS is invalid: must be at most 1000"),
            ),
            (
                "LINK_ANSWER_FLOOR_MS",
                "-1",
                Some("LINK_ANSWER_FLOOR_MS is invalid"),
            ),
        ];
        for (name, value, expected) in rows {
            let result = every_config(&vars(&[(name, value)]));
            match (expected, result) {
                (None, Ok(())) => {}
                (Some(text), Err(e)) => {
                    assert!(e.to_string().contains(text), "{name}={value:?}: {e}")
                }
                (expected, got) => panic!("{name}={value:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn defaults_and_clamps() {
        let vars = vars(&[("MEMBER_CONCURRENCY", "0"), ("CHECK_LIMIT_PER_MINUTE", "0")]);
        let env = |name: &str| vars.get(name).cloned();
        let consumer = ConsumerConfig::from_vars(&env, "rd2_member_info").unwrap();
        assert_eq!(
            consumer.settings.concurrency, 1,
            "0 is clamped to 1, as before"
        );
        assert_eq!(consumer.settings.topic, "rd2_member_info");
        assert_eq!(consumer.settings.personal_event.as_str(), "personal");
        assert_eq!(consumer.config_cache_ttl, Duration::from_secs(60));
        let payout = PayoutConfig::from_vars(&env, partners).unwrap();
        assert_eq!(payout.settings.concurrency, 10);
        assert_eq!(payout.settings.max_receives, 5);
        assert_eq!(payout.dead_letter_url, "http://q-dlq");
        let sweeper = SweeperConfig::from_vars(&env).unwrap();
        assert_eq!(sweeper.settings.stale_after, chrono::Duration::minutes(15));
        assert_eq!(sweeper.settings.max_rewards, 1000);
        let app = AppApiConfig::from_vars(&env).unwrap();
        assert_eq!(app.settings.check_limit_per_minute, 1);
        assert_eq!(app.settings.config_cache_seconds, 60);
        assert_eq!(
            app.settings.share_link_template,
            "https://example.invalid/r/{code}"
        );
        let link = ShareLinkConfig::from_vars(&env).unwrap();
        assert_eq!(
            link.settings.generic_landing.as_str(),
            "https://pay.example.com/join"
        );
        assert_eq!(link.settings.config_cache_seconds, 60);
        assert_eq!(
            link.settings.landing.as_str(),
            "https://pay.example.com/join?code={code}"
        );
        assert_eq!(link.settings.personal_event.as_str(), "personal");
        assert_eq!(link.settings.answer_floor, Duration::from_millis(25));
    }
}
