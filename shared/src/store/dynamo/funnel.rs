//! Funnel counters (`FUNNEL#…`, ADR 0008): ADD updates on sharded counter items, written in
//! the transaction of the transition they count (`members.rs`, `imports.rs`) or, for a valid
//! code check, on their own; and the day-range reads, one Query per shard, summed.

use super::attrs::{Attrs, attr, classify, n, s, unbuilt};
use super::{DynamoStore, Index, SortKey};
use crate::domain::{
    Day, EventId, FunnelDelta, FunnelScope, FunnelStage, ReferralCode, StageCounts,
};
use crate::store::items::{self, CounterUpdate, Entity};
use crate::store::{FunnelCounts, StoreError, keys};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use std::collections::{BTreeMap, HashMap};

/// The shard one write's counters go to.
pub(super) fn random_shard() -> u8 {
    rand::random_range(0..keys::FUNNEL_SHARDS)
}

/// The counter updates a write carries for `delta`, all on `shard` (one per item).
pub(super) fn counter_updates(delta: &FunnelDelta, shard: u8) -> Vec<CounterUpdate> {
    delta
        .items()
        .map(|(scope, day, counts)| items::funnel_counter(scope, day, shard, counts))
        .collect()
}

/// The UpdateItem of a transaction for `update`: `SET entity ADD <stage> :n, …`, with no
/// condition (a counter cannot refuse a count; it can only meet a concurrent transaction).
pub(super) fn update_action(
    update: &CounterUpdate,
    operation: &'static str,
    table: &str,
) -> Result<TransactWriteItem, StoreError> {
    let mut names = HashMap::from([("#entity".to_owned(), keys::ENTITY.to_owned())]);
    let mut values = HashMap::from([(":entity".to_owned(), s(&Entity::Funnel.to_string()))]);
    let mut adds = Vec::with_capacity(update.add.len());
    for (i, (stage, count)) in update.add.iter().enumerate() {
        names.insert(format!("#c{i}"), stage.clone());
        values.insert(format!(":c{i}"), n(count));
        adds.push(format!("#c{i} :c{i}"));
    }
    let update = Update::builder()
        .table_name(table)
        .key(keys::PK, s(&update.pk))
        .key(keys::SK, s(&update.sk))
        .update_expression(format!("SET #entity = :entity ADD {}", adds.join(", ")))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(unbuilt(operation))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// A counter item's stage counts: every number attribute (keys and `entity` are strings).
fn stage_counts(item: &Attrs) -> StageCounts {
    item.iter()
        .filter_map(|(name, value)| match value {
            AttributeValue::N(raw) => raw.parse::<i64>().ok().map(|v| (name.clone(), v)),
            _ => None,
        })
        .collect()
}

/// How many times a valid check's count is tried when it meets a concurrent transaction.
const CHECK_ATTEMPTS: u32 = 3;

#[async_trait]
impl FunnelCounts for DynamoStore {
    async fn count_valid_check(
        &self,
        event: &EventId,
        code: &ReferralCode,
        day: Day,
    ) -> Result<(), StoreError> {
        const OP: &str = "count_valid_check";
        let mut delta = FunnelDelta::default();
        delta.add(event, code, day, FunnelStage::ChecksValid, 1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let actions = counter_updates(&delta, random_shard())
                .iter()
                .map(|u| update_action(u, OP, &self.table))
                .collect::<Result<Vec<_>, _>>()?;
            let conflict = StoreError::Conflict {
                entity: Entity::Funnel,
                key: keys::funnel_pk(&FunnelScope::Event(event.clone()), 0),
            };
            let result = self
                .transact(OP, actions, |reasons| {
                    reasons
                        .contains(&Some("TransactionConflict"))
                        .then_some(conflict)
                })
                .await;
            match result {
                Err(StoreError::Conflict { .. }) if attempt < CHECK_ATTEMPTS => {
                    // Another shard next time, after a short pause.
                    let pause = rand::random_range(1..=10u64) * u64::from(attempt);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                other => return other,
            }
        }
    }

    async fn funnel_days(
        &self,
        scope: &FunnelScope,
        from: Day,
        to: Day,
    ) -> Result<Vec<(Day, StageCounts)>, StoreError> {
        const OP: &str = "funnel_days";
        let range = SortKey::Between(keys::funnel_sk(&from), keys::funnel_sk(&to));
        let shards = (0..keys::FUNNEL_SHARDS).map(|shard| {
            let pk = keys::funnel_pk(scope, shard);
            let range = range.clone();
            async move {
                let mut rows = Vec::new();
                let mut start = None;
                loop {
                    let out = self
                        .query(Index::Table, &pk, &range)
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .map_err(|e| classify(OP, e))?;
                    rows.extend(out.items.unwrap_or_default());
                    start = out.last_evaluated_key;
                    if start.is_none() {
                        return Ok::<_, StoreError>(rows);
                    }
                }
            }
        });
        let mut days: BTreeMap<Day, StageCounts> = BTreeMap::new();
        for item in futures::future::try_join_all(shards)
            .await?
            .into_iter()
            .flatten()
        {
            let day = attr(&item, keys::SK)
                .and_then(|sk| Day::parse(sk).ok())
                .ok_or_else(|| super::attrs::corrupt(&item, "a funnel day key".into()))?;
            let counts = days.entry(day).or_default();
            for (stage, count) in stage_counts(&item) {
                *counts.entry(stage).or_default() += count;
            }
        }
        Ok(days
            .into_iter()
            .map(|(day, mut counts)| {
                counts.retain(|_, n| *n != 0);
                (day, counts)
            })
            .filter(|(_, counts)| !counts.is_empty())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_adds_each_stage_and_names_the_entity() {
        let update = CounterUpdate {
            pk: "FUNNEL#spring#1".into(),
            sk: "2026-11-21".into(),
            add: vec![
                ("uses_accepted".into(), 1),
                ("uses_rejected_OWN_CODE".into(), -1),
            ],
        };
        let action = update_action(&update, "test", "table").unwrap();
        let update = action.update().unwrap();
        assert_eq!(
            update.update_expression(),
            "SET #entity = :entity ADD #c0 :c0, #c1 :c1"
        );
        assert_eq!(update.condition_expression(), None);
        let names = update.expression_attribute_names().unwrap();
        assert_eq!(names["#c0"], "uses_accepted");
        assert_eq!(names["#c1"], "uses_rejected_OWN_CODE");
        let values = update.expression_attribute_values().unwrap();
        assert_eq!(values[":c1"], AttributeValue::N("-1".into()));
        assert_eq!(values[":entity"], AttributeValue::S("Funnel".into()));
        assert_eq!(
            update.key()[keys::PK],
            AttributeValue::S("FUNNEL#spring#1".into())
        );
    }

    #[test]
    fn a_stored_counter_reads_as_its_number_attributes() {
        let item: Attrs = HashMap::from([
            (keys::PK.to_owned(), s("FUNNEL#spring#0")),
            (keys::SK.to_owned(), s("2026-11-21")),
            (keys::ENTITY.to_owned(), s("Funnel")),
            ("kyc_passed".to_owned(), n(3)),
            ("uses_rejected_OWN_CODE".to_owned(), n(0)),
        ]);
        assert_eq!(
            stage_counts(&item),
            StageCounts::from([
                ("kyc_passed".to_owned(), 3),
                ("uses_rejected_OWN_CODE".to_owned(), 0)
            ])
        );
    }
}
