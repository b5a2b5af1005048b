//! Pages of a listing: the request (limit + opaque cursor) and the answer.

use super::StoreError;
use base64::Engine;
use std::collections::BTreeMap;

/// An opaque pagination cursor: base64url of the last evaluated key. Callers pass it back
/// unchanged; the store checks it belongs to the query it is given to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    pub fn from_token(token: impl Into<String>) -> Self {
        Cursor(token.into())
    }

    pub fn token(&self) -> &str {
        &self.0
    }

    pub(super) fn encode(key: &BTreeMap<String, String>) -> Self {
        let json = serde_json::to_vec(key).unwrap_or_default();
        Cursor(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
    }

    pub(super) fn decode(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.0)
            .map_err(|_| StoreError::InvalidCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)
    }
}

#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Items per page; clamped to 1..=[`PageRequest::MAX_LIMIT`], default [`PageRequest::DEFAULT_LIMIT`].
    pub limit: Option<u32>,
    pub cursor: Option<Cursor>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    pub fn first(limit: u32) -> Self {
        Self {
            limit: Some(limit),
            cursor: None,
        }
    }

    pub fn after(limit: u32, cursor: Cursor) -> Self {
        Self {
            limit: Some(limit),
            cursor: Some(cursor),
        }
    }

    pub(super) fn effective_limit(&self) -> i32 {
        self.limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT) as i32
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items may follow.
    pub next: Option<Cursor>,
}
