//! DynamoDB implementation of the store's ports over the single table (`../keys.rs`).
//!
//! This file is the plumbing every aggregate shares: one way to build a (conditional) Put,
//! one key-condition builder, paging, BatchGetItem and transactions. `attrs.rs` converts items
//! and classifies SDK errors (the one place they become [`StoreError`]s). Each other file
//! implements the ports of one aggregate: `events.rs`, `codes.rs`, `members.rs`, `rewards.rs`,
//! `collection.rs` (a referrer's collection), `parked.rs`, `limiter.rs`, `clicks.rs` (the share
//! link's sharded click counters), and `fixtures.rs`
//! (what only tools and tests use).

mod attrs;
mod clicks;
mod codes;
mod collection;
mod events;
mod fixtures;
mod funnel;
mod imports;
mod limiter;
mod members;
mod parked;
mod rewards;
mod rules;

use super::items::{Entity, Item};
use super::paging::{Cursor, Page, PageRequest};
use super::{StoreError, keys};
use attrs::{Attrs, classify, failure, from_attrs, s, to_attrs, unbuilt};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};

/// The single-table store. Cheap to clone; build it once per process and share it.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// The table or one of its indexes, with its key attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Index {
    Table,
    Gsi1,
    Gsi2,
    Gsi3,
}

impl Index {
    fn name(self) -> Option<&'static str> {
        match self {
            Index::Table => None,
            Index::Gsi1 => Some(keys::GSI1),
            Index::Gsi2 => Some(keys::GSI2),
            Index::Gsi3 => Some(keys::GSI3),
        }
    }

    fn pk(self) -> &'static str {
        match self {
            Index::Table => keys::PK,
            Index::Gsi1 => keys::GSI1PK,
            Index::Gsi2 => keys::GSI2PK,
            Index::Gsi3 => keys::GSI3PK,
        }
    }

    fn sk(self) -> &'static str {
        match self {
            Index::Table => keys::SK,
            Index::Gsi1 => keys::GSI1SK,
            Index::Gsi2 => keys::GSI2SK,
            Index::Gsi3 => keys::GSI3SK,
        }
    }
}

/// The sort-key part of a key condition.
#[derive(Debug, Clone)]
enum SortKey {
    Any,
    Between(String, String),
    BeginsWith(String),
    Before(String),
    After(String),
}

/// One item to Put and the condition it is written under: the single way this store builds a
/// Put, whether sent alone (PutItem) or in a transaction. A failed condition is a
/// [`StoreError::Conflict`] on the item's own entity and partition key.
#[derive(Debug, Clone)]
struct Write {
    entity: Entity,
    key: String,
    item: Attrs,
    condition: Option<String>,
    values: HashMap<String, AttributeValue>,
}

impl Write {
    /// An unconditional Put of `item`.
    fn of<T: Serialize>(item: &Item<T>) -> Result<Self, StoreError> {
        Ok(Self {
            entity: item.entity,
            key: item.pk.clone(),
            item: to_attrs(item)?,
            condition: None,
            values: HashMap::new(),
        })
    }

    /// Only if no item has this key yet.
    fn if_absent(self) -> Self {
        self.when("attribute_not_exists(PK)", [])
    }

    /// Only if `condition` (with `values`) holds on the stored item.
    fn when<'a>(
        mut self,
        condition: &str,
        values: impl IntoIterator<Item = (&'a str, AttributeValue)>,
    ) -> Self {
        self.condition = Some(condition.to_owned());
        self.values = values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        self
    }

    fn entity(&self) -> Entity {
        self.entity
    }

    fn conflict(&self) -> StoreError {
        StoreError::Conflict {
            entity: self.entity,
            key: self.key.clone(),
        }
    }

    fn sort_key(&self) -> String {
        self.item
            .get(keys::SK)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    }

    fn transact_item(
        &self,
        operation: &'static str,
        table: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(self.item.clone()))
            .set_condition_expression(self.condition.clone())
            .set_expression_attribute_values((!self.values.is_empty()).then(|| self.values.clone()))
            .build()
            .map_err(unbuilt(operation))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

impl DynamoStore {
    /// One PutItem of `write`.
    async fn put(&self, operation: &'static str, write: Write) -> Result<(), StoreError> {
        let conflict = write.conflict();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(write.item))
            .set_condition_expression(write.condition)
            .set_expression_attribute_values((!write.values.is_empty()).then_some(write.values))
            .send()
            .await
            .map_err(|e| failure(operation, e).or_conflict(conflict))?;
        Ok(())
    }

    /// One GetItem, mapped to `T` (`consistent`: a strongly consistent read).
    async fn get<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        pk: String,
        sk: &str,
        consistent: bool,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(consistent)
            .key(keys::PK, AttributeValue::S(pk))
            .key(keys::SK, s(sk))
            .send()
            .await
            .map_err(|e| classify(operation, e))?;
        out.item
            .map(|attrs| from_attrs::<Item<T>>(attrs).map(|i| i.data))
            .transpose()
    }

    /// A Query of one partition of `index`, with its key condition built from the index's
    /// own attribute names.
    fn query(&self, index: Index, pk: &str, sort: &SortKey) -> QueryFluentBuilder {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.name().map(str::to_owned))
            .expression_attribute_names("#pk", index.pk())
            .expression_attribute_values(":pk", s(pk));
        let condition = match sort {
            SortKey::Any => return query.key_condition_expression("#pk = :pk"),
            SortKey::Between(low, high) => {
                query = query
                    .expression_attribute_values(":low", s(low))
                    .expression_attribute_values(":high", s(high));
                "#pk = :pk AND #sk BETWEEN :low AND :high"
            }
            SortKey::BeginsWith(prefix) => {
                query = query.expression_attribute_values(":prefix", s(prefix));
                "#pk = :pk AND begins_with(#sk, :prefix)"
            }
            SortKey::Before(bound) => {
                query = query.expression_attribute_values(":bound", s(bound));
                "#pk = :pk AND #sk < :bound"
            }
            SortKey::After(bound) => {
                query = query.expression_attribute_values(":bound", s(bound));
                "#pk = :pk AND #sk > :bound"
            }
        };
        query
            .expression_attribute_names("#sk", index.sk())
            .key_condition_expression(condition)
    }

    /// Runs one page of a Query of partition `pk` of `index`. The cursor must carry that
    /// partition, so a cursor issued for one partition cannot be replayed against another.
    async fn page(
        &self,
        operation: &'static str,
        index: Index,
        pk: &str,
        sort: &SortKey,
        page: &PageRequest,
    ) -> Result<(Vec<Attrs>, Option<Cursor>), StoreError> {
        let start = match &page.cursor {
            Some(cursor) => {
                let key = cursor.decode()?;
                if key.get(index.pk()).map(String::as_str) != Some(pk) {
                    return Err(StoreError::InvalidCursor);
                }
                Some(
                    key.into_iter()
                        .map(|(k, v)| (k, AttributeValue::S(v)))
                        .collect::<Attrs>(),
                )
            }
            None => None,
        };
        let out = self
            .query(index, pk, sort)
            .set_exclusive_start_key(start)
            .limit(page.effective_limit())
            .send()
            .await
            .map_err(|e| {
                // DynamoDB's answer to a start key that does not fit the query's index.
                if page.cursor.is_some() && e.code() == Some("ValidationException") {
                    StoreError::InvalidCursor
                } else {
                    classify(operation, e)
                }
            })?;
        let next = out.last_evaluated_key.map(|key| {
            let key: BTreeMap<String, String> = key
                .into_iter()
                .filter_map(|(k, v)| v.as_s().ok().map(|s| (k, s.clone())))
                .collect();
            Cursor::encode(&key)
        });
        Ok((out.items.unwrap_or_default(), next))
    }

    /// One page of a single-entity partition, mapped to `T`.
    async fn typed_page<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        index: Index,
        pk: &str,
        sort: &SortKey,
        page: PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let (rows, next) = self.page(operation, index, pk, sort, &page).await?;
        let items = rows
            .into_iter()
            .map(|a| from_attrs::<Item<T>>(a).map(|i| i.data))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    /// Every item of a table partition (all pages).
    async fn partition(&self, operation: &'static str, pk: &str) -> Result<Vec<Attrs>, StoreError> {
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .query(Index::Table, pk, &SortKey::Any)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| classify(operation, e))?;
            rows.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(rows);
            }
        }
    }

    /// BatchGetItem of `(PK, SK)` keys, 100 per request, retrying unprocessed keys a few
    /// times with a short backoff before calling DynamoDB unavailable.
    async fn batch_get(
        &self,
        operation: &'static str,
        keys: Vec<(String, &'static str)>,
    ) -> Result<Vec<Attrs>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        let mut unique: Vec<_> = keys;
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let mut pending = KeysAndAttributes::builder()
                .set_keys(Some(
                    chunk
                        .iter()
                        .map(|(pk, sk)| {
                            HashMap::from([
                                (keys::PK.to_owned(), s(pk)),
                                (keys::SK.to_owned(), s(sk)),
                            ])
                        })
                        .collect(),
                ))
                .consistent_read(true)
                .build()
                .map_err(unbuilt(operation))?;
            for attempt in 0..6u32 {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| classify(operation, e))?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                match out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty())
                {
                    None => break,
                    Some(rest) if attempt < 5 => {
                        pending = rest;
                        tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                    }
                    Some(_) => {
                        return Err(StoreError::Unavailable {
                            operation,
                            message: "unprocessed keys after retries".into(),
                        });
                    }
                }
            }
        }
        Ok(found)
    }

    /// One TransactWriteItems. When DynamoDB cancels it, `on_cancel` gets the per-action reason
    /// codes (in action order) and names the error; `None` = classify the error as usual.
    async fn transact(
        &self,
        operation: &'static str,
        actions: Vec<TransactWriteItem>,
        on_cancel: impl FnOnce(&[Option<&str>]) -> Option<StoreError>,
    ) -> Result<(), StoreError> {
        let err = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
            err.as_service_error()
        {
            let reasons: Vec<Option<&str>> = cancel
                .cancellation_reasons()
                .iter()
                .map(|r| r.code())
                .collect();
            if let Some(mapped) = on_cancel(&reasons) {
                return Err(mapped);
            }
            // Cancelled because DynamoDB throttled one of its items: try again later, like a
            // throttled single request (the caller retries the batch or backs off).
            if throttled(&reasons) {
                return Err(StoreError::Unavailable {
                    operation,
                    message: format!("transaction throttled: {reasons:?}"),
                });
            }
        }
        Err(classify(operation, err))
    }
}

/// Whether a cancelled transaction's reasons say DynamoDB throttled it (retryable), rather
/// than refusing it.
fn throttled(reasons: &[Option<&str>]) -> bool {
    reasons.iter().flatten().any(|code| {
        matches!(
            *code,
            "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::throttled;

    #[test]
    fn a_transaction_cancelled_by_throttling_is_retryable() {
        let rows: [(&[Option<&str>], bool); 5] = [
            (&[Some("None"), Some("ThrottlingError")], true),
            (&[Some("ProvisionedThroughputExceeded")], true),
            (&[None, Some("RequestLimitExceeded")], true),
            (&[Some("None"), Some("ValidationError")], false),
            (&[Some("ConditionalCheckFailed"), None], false),
        ];
        for (reasons, expected) in rows {
            assert_eq!(throttled(reasons), expected, "{reasons:?}");
        }
    }
}
