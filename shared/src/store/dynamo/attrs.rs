//! Items to and from DynamoDB attribute maps, and the one place SDK errors become
//! [`StoreError`]s.

use super::super::items::{Entity, Item};
use super::super::{StoreError, keys};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

pub(super) type Attrs = HashMap<String, AttributeValue>;

pub(super) fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

pub(super) fn n(number: impl ToString) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

pub(super) fn to_attrs<T: Serialize>(item: &Item<T>) -> Result<Attrs, StoreError> {
    serde_dynamo::to_item(item).map_err(|e| StoreError::Corrupt {
        key: item.pk.clone(),
        message: e.to_string(),
    })
}

/// An item into `T`. A failure keeps the kind and the attribute path, not serde's message:
/// that quotes the stored value, which may be a phone number, and it is logged.
pub(super) fn from_attrs<T: DeserializeOwned>(attrs: Attrs) -> Result<T, StoreError> {
    let key = describe_key(&attrs);
    let item: serde_dynamo::Item = attrs.into();
    let value = serde_dynamo::AttributeValue::M(item.into());
    serde_path_to_error::deserialize(serde_dynamo::Deserializer::from_attribute_value(value))
        .map_err(|e| StoreError::Corrupt {
            key,
            message: crate::decode::DecodeError::reduce(&e).to_string(),
        })
}

/// The item's `entity` attribute: what decides how an item is read, never its key's shape.
pub(super) fn entity_of(attrs: &Attrs) -> Result<Entity, StoreError> {
    let raw = attrs.get(keys::ENTITY).and_then(|v| v.as_s().ok());
    raw.and_then(|s| serde_json::from_value(serde_json::Value::String(s.clone())).ok())
        .ok_or_else(|| corrupt(attrs, "unknown entity".to_owned()))
}

pub(super) fn attr<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a String> {
    attrs.get(name).and_then(|v| v.as_s().ok())
}

fn describe_key(attrs: &Attrs) -> String {
    let part = |k| attr(attrs, k).cloned().unwrap_or_default();
    format!("{}|{}", part(keys::PK), part(keys::SK))
}

pub(super) fn corrupt(attrs: &Attrs, message: String) -> StoreError {
    StoreError::Corrupt {
        key: describe_key(attrs),
        message,
    }
}

/// A request the SDK's builder refused (a required field missing: a bug of ours), as the
/// store error of `operation`.
pub(super) fn unbuilt(
    operation: &'static str,
) -> impl Fn(aws_sdk_dynamodb::error::BuildError) -> StoreError + Copy {
    move |e| StoreError::Rejected {
        operation,
        message: e.to_string(),
    }
}

/// What an SDK error means to the store: a condition that did not hold (the caller knows
/// which item and what that means), or a [`StoreError`].
pub(super) enum Failure {
    ConditionFailed,
    Store(StoreError),
}

impl Failure {
    /// A failed condition is `conflict`.
    pub(super) fn or_conflict(self, conflict: StoreError) -> StoreError {
        match self {
            Failure::ConditionFailed => conflict,
            Failure::Store(e) => e,
        }
    }
}

/// The one place SDK errors are classified.
pub(super) fn failure<E, R>(operation: &'static str, err: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().unwrap_or_default().to_owned();
    let message = match err.message() {
        Some(m) => format!("{code}: {m}"),
        None => aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
    };
    let error = match (&err, code.as_str()) {
        (_, "ConditionalCheckFailedException") => return Failure::ConditionFailed,
        (
            _,
            "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "ThrottlingException"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "LimitExceededException"
            | "TransactionConflictException",
        ) => StoreError::Unavailable { operation, message },
        (
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_),
            _,
        ) => StoreError::Unavailable { operation, message },
        _ => StoreError::Rejected { operation, message },
    };
    Failure::Store(error)
}

/// [`failure`] of an operation without a condition (a failed one would be a bug: rejected).
pub(super) fn classify<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    failure(operation, err).or_conflict(StoreError::Rejected {
        operation,
        message: "a condition failed on an unconditional request".into(),
    })
}
