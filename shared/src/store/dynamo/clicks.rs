//! The share link's click counters: `CLICKS#<code>#<shard>` / `<day>`, also on GSI2 under
//! `CLICKS#<event>#<shard>` / `<day>#<code>` (`keys.rs`, `items::click_item`). A click is ONE
//! UpdateItem on a random shard; a read is one Query per shard, all shards at once. Visits to
//! well-formed codes that do not exist are counted the same way on one counter for all of
//! them, `CLICKS#UNKNOWN#<shard>` / `<day>` (`items::UnknownClicks`).

use super::attrs::{Attrs, classify, corrupt, n, to_attrs};
use super::{DynamoStore, Index, SortKey};
use crate::domain::{Day, EventId, ReferralCode};
use crate::store::items::{ClickCount, UnknownClicks, click_item, unknown_clicks_item};
use crate::store::{Clicks, StoreError, keys};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// The attribute every counter item adds its clicks to.
const CLICKS: &str = "clicks";

#[async_trait]
impl Clicks for DynamoStore {
    async fn count_click(
        &self,
        code: &ReferralCode,
        event: &EventId,
        day: Day,
    ) -> Result<(), StoreError> {
        let shard = rand::random_range(0..keys::CLICK_SHARDS);
        let count = ClickCount {
            event_id: event.clone(),
            code: code.clone(),
            clicks: 0,
        };
        self.add_one("count_click", to_attrs(&click_item(&count, day, shard))?)
            .await
    }

    async fn count_unknown_click(&self, day: Day) -> Result<(), StoreError> {
        let shard = rand::random_range(0..keys::CLICK_SHARDS);
        let count = UnknownClicks::default();
        self.add_one(
            "count_unknown_click",
            to_attrs(&unknown_clicks_item(&count, day, shard))?,
        )
        .await
    }

    async fn unknown_clicks(&self, from: Day, to: Day) -> Result<BTreeMap<Day, u64>, StoreError> {
        self.clicks_per_day("unknown_clicks", from, to, keys::unknown_clicks_pk)
            .await
    }

    async fn code_clicks(
        &self,
        code: &ReferralCode,
        from: Day,
        to: Day,
    ) -> Result<BTreeMap<Day, u64>, StoreError> {
        self.clicks_per_day("code_clicks", from, to, |shard| keys::click_pk(code, shard))
            .await
    }

    async fn event_clicks(
        &self,
        event: &EventId,
        from: Day,
        to: Day,
    ) -> Result<BTreeMap<Day, u64>, StoreError> {
        if from > to {
            return Ok(BTreeMap::new());
        }
        let (low, high) = keys::event_clicks_range(from, to);
        let range = SortKey::Between(low, high);
        let shards = (0..keys::CLICK_SHARDS).map(|shard| {
            let pk = keys::event_clicks_gsi2pk(event, shard);
            let range = range.clone();
            async move {
                self.counters("event_clicks", Index::Gsi2, &pk, &range)
                    .await
            }
        });
        let mut days = BTreeMap::new();
        for rows in futures::future::try_join_all(shards).await? {
            for attrs in rows {
                let day = day_of(&attrs, keys::GSI2SK)?;
                *days.entry(day).or_insert(0) += clicks_of(&attrs)?;
            }
        }
        Ok(days)
    }
}

impl DynamoStore {
    /// The one UpdateItem of a click: `item`'s attributes SET, `ADD clicks 1`.
    async fn add_one(&self, operation: &'static str, item: Attrs) -> Result<(), StoreError> {
        let update = counter_update(item);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(update.key))
            .update_expression(update.expression)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .send()
            .await
            .map_err(|e| classify(operation, e))?;
        Ok(())
    }

    /// A base-table counter's clicks per day over `from..=to`, summed over its shards
    /// (`pk_of(shard)`): one Query per shard, concurrent.
    async fn clicks_per_day(
        &self,
        operation: &'static str,
        from: Day,
        to: Day,
        pk_of: impl Fn(u8) -> String,
    ) -> Result<BTreeMap<Day, u64>, StoreError> {
        if from > to {
            return Ok(BTreeMap::new());
        }
        let range = SortKey::Between(keys::click_sk(from), keys::click_sk(to));
        let shards = (0..keys::CLICK_SHARDS).map(|shard| {
            let pk = pk_of(shard);
            let range = range.clone();
            async move { self.counters(operation, Index::Table, &pk, &range).await }
        });
        let mut days = BTreeMap::new();
        for rows in futures::future::try_join_all(shards).await? {
            for attrs in rows {
                let day = day_of(&attrs, keys::SK)?;
                *days.entry(day).or_insert(0) += clicks_of(&attrs)?;
            }
        }
        Ok(days)
    }

    /// Every counter of one shard in `range` (all pages), with only the day key and the count.
    async fn counters(
        &self,
        operation: &'static str,
        index: Index,
        pk: &str,
        range: &SortKey,
    ) -> Result<Vec<Attrs>, StoreError> {
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .query(index, pk, range)
                .projection_expression("#sk, #clicks")
                .expression_attribute_names("#clicks", CLICKS)
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
}

/// The day a counter counts: its sort key (`<day>` on the table, `<day>#<code>` on GSI2).
fn day_of(attrs: &Attrs, sort_key: &str) -> Result<Day, StoreError> {
    let raw = super::attrs::attr(attrs, sort_key)
        .ok_or_else(|| corrupt(attrs, format!("click counter without {sort_key}")))?;
    let day = raw.split('#').next().unwrap_or_default();
    Day::parse(day).map_err(|_| corrupt(attrs, "click counter's day is not YYYY-MM-DD".into()))
}

fn clicks_of(attrs: &Attrs) -> Result<u64, StoreError> {
    attrs
        .get(CLICKS)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            corrupt(
                attrs,
                "click counter without a whole number of clicks".into(),
            )
        })
}

/// The UpdateItem of one click, from the counter's item shape: its key, `SET` of every other
/// attribute (the same values on every click of that shard and day) and `ADD clicks 1`.
struct CounterUpdate {
    key: Attrs,
    expression: String,
    names: std::collections::HashMap<String, String>,
    values: Attrs,
}

fn counter_update(mut item: Attrs) -> CounterUpdate {
    let mut key = Attrs::new();
    for name in [keys::PK, keys::SK] {
        if let Some(v) = item.remove(name) {
            key.insert(name.to_owned(), v);
        }
    }
    item.remove(CLICKS);
    let mut sets: Vec<(String, aws_sdk_dynamodb::types::AttributeValue)> =
        item.into_iter().collect();
    sets.sort_by(|a, b| a.0.cmp(&b.0));
    let mut names = std::collections::HashMap::new();
    let mut values = Attrs::new();
    let mut assignments = Vec::new();
    for (i, (name, value)) in sets.into_iter().enumerate() {
        names.insert(format!("#a{i}"), name);
        values.insert(format!(":a{i}"), value);
        assignments.push(format!("#a{i} = :a{i}"));
    }
    names.insert("#clicks".to_owned(), CLICKS.to_owned());
    values.insert(":one".to_owned(), n(1));
    CounterUpdate {
        key,
        expression: format!("SET {} ADD #clicks :one", assignments.join(", ")),
        names,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::super::attrs::s;
    use super::*;

    #[test]
    fn a_click_sets_the_counters_attributes_and_adds_one() {
        let count = ClickCount {
            event_id: EventId::parse("personal").unwrap(),
            code: ReferralCode::parse("ab2cd3").unwrap(),
            clicks: 0,
        };
        let day = Day::parse("2026-11-22").unwrap();
        let update = counter_update(to_attrs(&click_item(&count, day, 5)).unwrap());
        assert_eq!(update.key[keys::PK], s("CLICKS#AB2CD3#5"));
        assert_eq!(update.key[keys::SK], s("2026-11-22"));
        assert_eq!(
            update.expression,
            "SET #a0 = :a0, #a1 = :a1, #a2 = :a2, #a3 = :a3, #a4 = :a4 ADD #clicks :one"
        );
        let mut set: Vec<(&str, String)> = (0..5)
            .map(|i| {
                (
                    update.names[&format!("#a{i}")].as_str(),
                    update.values[&format!(":a{i}")].as_s().unwrap().clone(),
                )
            })
            .collect();
        set.sort();
        assert_eq!(
            set,
            [
                ("GSI2PK", "CLICKS#personal#5".to_owned()),
                ("GSI2SK", "2026-11-22#AB2CD3".to_owned()),
                ("code", "AB2CD3".to_owned()),
                ("entity", "ClickCount".to_owned()),
                ("event_id", "personal".to_owned()),
            ]
        );
        assert_eq!(update.values[":one"], n(1));
    }
}
