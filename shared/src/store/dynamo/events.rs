//! Campaign configuration: the event item and its windows under `EVENT#<id>`, the admin's
//! one-transaction replace, and the consumers' `WINDOWUSE#` markers.

use super::attrs::{corrupt, entity_of, from_attrs, s};
use super::{DynamoStore, Index, SortKey, Write};
use crate::domain::{
    ContentWindow, Copywriting, CopywritingItem, EventConfig, EventId, EventType,
    NotificationTemplate, ReferralEvent, Side, TimeWindow, WindowId,
};
use crate::store::items::{self, Entity, Item, Owned};
use crate::store::{
    EventReads, EventWrites, MAX_EVENT_WRITES, Page, PageRequest, StoreError, WindowMarks, keys,
};
use crate::time::Instant;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, TransactWriteItem};
use serde::de::DeserializeOwned;

impl DynamoStore {
    /// The newest window under `prefix` that started at or before `at`, if it is still open.
    pub(super) async fn window_at<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        event: &EventId,
        prefix: &str,
        at: Instant,
        window_of: impl Fn(&T) -> &TimeWindow,
    ) -> Result<Option<T>, StoreError> {
        let (low, high) = keys::started_by(prefix, &at);
        let out = self
            .query(
                Index::Table,
                &keys::event_pk(event),
                &SortKey::Between(low, high),
            )
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(|e| super::attrs::classify(operation, e))?;
        let Some(attrs) = out.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let value = from_attrs::<Item<Owned<T>>>(attrs)?.data.value;
        Ok(window_of(&value).contains(at).then_some(value))
    }
}

#[async_trait]
impl EventReads for DynamoStore {
    async fn events_by_type(
        &self,
        event_type: EventType,
        page: PageRequest,
    ) -> Result<Page<ReferralEvent>, StoreError> {
        let pk = keys::event_type_gsi1pk(event_type);
        self.typed_page("events_by_type", Index::Gsi1, &pk, &SortKey::Any, page)
            .await
    }

    async fn event_config(&self, event: &EventId) -> Result<Option<EventConfig>, StoreError> {
        let rows = self
            .partition("event_config", &keys::event_pk(event))
            .await?;
        let mut header = None;
        let (mut contents, mut copywriting, mut notifications) =
            (Vec::new(), Vec::new(), Vec::new());
        for attrs in rows {
            match entity_of(&attrs)? {
                Entity::Event => header = Some(from_attrs::<Item<items::EventHeader>>(attrs)?.data),
                Entity::ContentWindow => contents.push(window::<ContentWindow>(attrs)?),
                Entity::Copywriting => copywriting.push(window::<Copywriting>(attrs)?),
                Entity::Notification => notifications.push(window::<NotificationTemplate>(attrs)?),
                other => {
                    return Err(corrupt(
                        &attrs,
                        format!("unexpected {other:?} in an event collection"),
                    ));
                }
            }
        }
        Ok(header.map(|header| EventConfig {
            event: header.event,
            rules: header.rules,
            links: header.links,
            contents,
            copywriting,
            notifications,
        }))
    }

    async fn copywriting_at(
        &self,
        event: &EventId,
        item: CopywritingItem,
        at: Instant,
    ) -> Result<Option<Copywriting>, StoreError> {
        self.window_at(
            "copywriting_at",
            event,
            &keys::copy_prefix(item),
            at,
            |c: &Copywriting| &c.window,
        )
        .await
    }

    async fn notification_at(
        &self,
        event: &EventId,
        side: Side,
        at: Instant,
    ) -> Result<Option<NotificationTemplate>, StoreError> {
        self.window_at(
            "notification_at",
            event,
            &keys::notify_prefix(side),
            at,
            |n: &NotificationTemplate| &n.window,
        )
        .await
    }
}

fn window<T: DeserializeOwned>(attrs: super::attrs::Attrs) -> Result<T, StoreError> {
    Ok(from_attrs::<Item<Owned<T>>>(attrs)?.data.value)
}

/// The Puts of every window of `config` (unconditional: the event item's condition guards
/// the whole transaction).
fn window_writes(config: &EventConfig) -> Result<Vec<Write>, StoreError> {
    let event = &config.event.event_id;
    let contents = config
        .contents
        .iter()
        .map(|c| Write::of(&items::content_item(event, c)));
    let copywriting = config
        .copywriting
        .iter()
        .map(|c| Write::of(&items::copywriting_item(event, c)));
    let notifications = config
        .notifications
        .iter()
        .map(|n| Write::of(&items::notification_item(event, n)));
    contents.chain(copywriting).chain(notifications).collect()
}

/// Content windows `previous` has and `config` drops, by id (a moved window keeps its id):
/// each must have no rewards granted under it.
fn dropped_content(config: &EventConfig, previous: Option<&EventConfig>) -> Vec<WindowId> {
    let Some(prev) = previous else {
        return Vec::new();
    };
    prev.contents
        .iter()
        .map(|c| &c.window_id)
        .filter(|id| !config.contents.iter().any(|c| &c.window_id == *id))
        .cloned()
        .collect()
}

#[async_trait]
impl EventWrites for DynamoStore {
    async fn save_event_config(
        &self,
        config: &EventConfig,
        previous: Option<&EventConfig>,
    ) -> Result<(), StoreError> {
        const OP: &str = "save_event_config";
        let event_id = &config.event.event_id;
        let pk = keys::event_pk(event_id);
        let event = Write::of(&items::event_header_item(
            &config.event,
            &config.rules,
            &config.links,
        ))?;
        let event = match previous {
            None => event.if_absent(),
            Some(prev) => event.when(
                "updated_at = :seen",
                [(":seen", s(&crate::time::format(&prev.event.updated_at)))],
            ),
        };
        let windows = window_writes(config)?;
        let kept: Vec<String> = windows.iter().map(Write::sort_key).collect();
        // The windows of `previous` that `config` no longer has (by key: a moved window's
        // old item goes too).
        let stale: Vec<String> = match previous {
            Some(prev) => window_writes(prev)?
                .iter()
                .map(Write::sort_key)
                .filter(|sk| !kept.contains(sk))
                .collect(),
            None => Vec::new(),
        };
        let mut puts = vec![event];
        puts.extend(windows);
        let dropped = dropped_content(config, previous);
        let checks_from = puts.len() + stale.len();
        if checks_from + dropped.len() > MAX_EVENT_WRITES {
            return Err(StoreError::Rejected {
                operation: OP,
                message: format!(
                    "{} actions exceed the {} a transaction allows",
                    checks_from + dropped.len(),
                    MAX_EVENT_WRITES
                ),
            });
        }
        let rejected = super::attrs::unbuilt(OP);
        let mut actions = puts
            .iter()
            .map(|p| p.transact_item(OP, &self.table))
            .collect::<Result<Vec<_>, _>>()?;
        for sk in &stale {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key(keys::PK, s(&pk))
                .key(keys::SK, s(sk))
                .build()
                .map_err(rejected)?;
            actions.push(TransactWriteItem::builder().delete(delete).build());
        }
        for window in &dropped {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .key(keys::PK, s(&keys::window_use_pk(event_id, window)))
                .key(keys::SK, s(keys::WINDOW_USE_SK))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(rejected)?;
            actions.push(TransactWriteItem::builder().condition_check(check).build());
        }
        let event_changed = || StoreError::Conflict {
            entity: Entity::Event,
            key: pk.clone(),
        };
        self.transact(OP, actions, |reasons| {
            let code = |i: usize| reasons.get(i).copied().flatten();
            // The event moved on since `previous` was read: that answer comes first, the
            // caller's view is stale whatever else failed.
            if code(0) == Some("ConditionalCheckFailed") {
                return Some(event_changed());
            }
            // A marker that exists, or is being written right now (a consumer granting under
            // the window at this moment): the window is in use.
            if let Some(k) = (0..dropped.len()).find(|k| {
                matches!(
                    code(checks_from + k),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            }) {
                return Some(StoreError::WindowInUse {
                    event: event_id.clone(),
                    window: dropped[k].clone(),
                });
            }
            reasons
                .iter()
                .any(|r| matches!(r, Some("ConditionalCheckFailed" | "TransactionConflict")))
                .then(event_changed)
        })
        .await
    }
}

#[async_trait]
impl WindowMarks for DynamoStore {
    async fn mark_window_in_use(
        &self,
        event: &EventId,
        window: &WindowId,
    ) -> Result<(), StoreError> {
        let marker = items::WindowUse {
            event_id: event.clone(),
            window_id: window.clone(),
        };
        self.put(
            "mark_window_in_use",
            Write::of(&items::window_use_item(&marker))?,
        )
        .await
    }
}
