//! The shared request limiter: one counter item per subject per fixed window
//! (`LIMIT#<subject>#<window>`), removed by DynamoDB's TTL.

use super::DynamoStore;
use super::attrs::{Failure, failure, n, s};
use crate::store::{RateLimits, StoreError, keys};
use crate::time::Instant;
use async_trait::async_trait;

#[async_trait]
impl RateLimits for DynamoStore {
    async fn count_request(
        &self,
        subject: &str,
        bucket: &str,
        limit: u32,
        expires_at: Instant,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(&keys::limit_pk(subject, bucket)))
            .key(keys::SK, s(keys::LIMIT_SK))
            .update_expression("ADD hits :one SET #expires = :expires")
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_names("#expires", keys::EXPIRES_AT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":expires", n(expires_at.timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // Over the limit: the condition is what counts.
            Err(e) => match failure("count_request", e) {
                Failure::ConditionFailed => Ok(false),
                Failure::Store(other) => Err(other),
            },
        }
    }
}
