//! What can go wrong in the store, typed so callers tell "already there / changed meanwhile"
//! from "try again later" from "a bug or corrupt data" without matching strings.

use super::items::Entity;
use crate::domain::{EventId, WindowId};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A conditional write found the item already there, or not in the state it required.
    /// `entity` is the kind of item whose condition failed (in a transaction: the first one).
    #[error("{entity} {key} already exists or is not in the expected state")]
    Conflict { entity: Entity, key: String },
    /// Throttling, a 5xx, a timeout or a dropped connection: retrying later may succeed.
    #[error("DynamoDB is unavailable during {operation}: {message}")]
    Unavailable {
        operation: &'static str,
        message: String,
    },
    /// A replace would delete a content window under which rewards were granted (its
    /// `WINDOWUSE#` marker exists, or is being written at this moment).
    #[error("window {window} of event {event} has rewards granted under it")]
    WindowInUse { event: EventId, window: WindowId },
    /// A pagination cursor that we did not issue or that belongs to another query.
    #[error("invalid pagination cursor")]
    InvalidCursor,
    /// An item that does not map onto the domain (it fails validation).
    #[error("stored item {key} is not valid: {message}")]
    Corrupt { key: String, message: String },
    /// Anything else the service rejected (a bug on our side: bad request, missing table…).
    #[error("DynamoDB rejected {operation}: {message}")]
    Rejected {
        operation: &'static str,
        message: String,
    },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}
