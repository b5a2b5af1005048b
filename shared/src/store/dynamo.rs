//! DynamoDB implementation of [`ReferralStore`] over the single table (`keys.rs`).

use super::items::{self, Entity, Item, Owned};
use super::{
    CollectionEntry, Cursor, MemberWrite, Page, PageRequest, ProfilesAndCodes, ReferralStore,
    StoreError, keys,
};
use crate::contracts::kafka::ParkedRecord;
use crate::domain::{
    AccountId, ContentWindow, Copywriting, CopywritingItem, EventConfig, EventId, EventType,
    MemberProfile, NotificationOutcome, NotificationTemplate, ReferralCode, ReferralCodeRecord,
    ReferralEvent, ReferralSource, Reward, RewardId, RewardStatus, RewardTransition, Side,
    WindowId,
};
use crate::time::Instant;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, KeysAndAttributes, Put, TransactWriteItem,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};

type Attrs = HashMap<String, AttributeValue>;

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

    async fn put<T: Serialize>(
        &self,
        operation: &'static str,
        item: &Item<T>,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(item)?))
            .send()
            .await
            .map_err(|e| classify(operation, e))?;
        Ok(())
    }

    /// Put that only succeeds if no item has this key yet.
    async fn create<T: Serialize>(
        &self,
        operation: &'static str,
        entity: &'static str,
        item: &Item<T>,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(item)?))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(|e| match classify(operation, e) {
                StoreError::Conflict { .. } => StoreError::Conflict {
                    entity,
                    key: item.pk.clone(),
                },
                other => other,
            })?;
        Ok(())
    }

    async fn get<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        pk: String,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_with(operation, pk, sk, false).await
    }

    async fn get_with<T: DeserializeOwned>(
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
            .key(keys::SK, AttributeValue::S(sk.to_owned()))
            .send()
            .await
            .map_err(|e| classify(operation, e))?;
        out.item
            .map(|attrs| from_attrs::<Item<T>>(attrs).map(|i| i.data))
            .transpose()
    }

    /// The newest window under `prefix` that started at or before `at`, if it is still open.
    async fn window_at<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        event: &EventId,
        prefix: &str,
        at: Instant,
        window_of: impl Fn(&T) -> &crate::domain::TimeWindow,
    ) -> Result<Option<T>, StoreError> {
        let (low, high) = keys::started_by(prefix, &at);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :low AND :high")
            .expression_attribute_values(":pk", AttributeValue::S(keys::event_pk(event)))
            .expression_attribute_values(":low", AttributeValue::S(low))
            .expression_attribute_values(":high", AttributeValue::S(high))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(|e| classify(operation, e))?;
        let Some(attrs) = out.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let value = from_attrs::<Item<Owned<T>>>(attrs)?.data.value;
        Ok(window_of(&value).contains(at).then_some(value))
    }

    /// Runs one page of a query. `partition` is the (attribute, value) the cursor must carry,
    /// so a cursor issued for one partition cannot be replayed against another.
    async fn page(
        &self,
        operation: &'static str,
        query: QueryFluentBuilder,
        partition: (&str, &str),
        page: &PageRequest,
    ) -> Result<(Vec<Attrs>, Option<Cursor>), StoreError> {
        let start = match &page.cursor {
            Some(cursor) => {
                let key = cursor.decode()?;
                if key.get(partition.0).map(String::as_str) != Some(partition.1) {
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
        let out = query
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

    /// One page of a single-entity partition of an index (`<index>PK = pk`), mapped to `T`.
    async fn index_page<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        index: &str,
        pk_attr: &str,
        pk: String,
        page: PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()));
        let (rows, next) = self.page(operation, query, (pk_attr, &pk), &page).await?;
        let items = rows
            .into_iter()
            .map(|a| from_attrs::<Item<T>>(a).map(|i| i.data))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
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
                                (keys::PK.to_owned(), AttributeValue::S(pk.clone())),
                                (keys::SK.to_owned(), AttributeValue::S((*sk).to_owned())),
                            ])
                        })
                        .collect(),
                ))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Rejected {
                    operation,
                    message: e.to_string(),
                })?;
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

    async fn collection(
        &self,
        source: &ReferralSource,
        code_prefix: Option<String>,
        page: PageRequest,
    ) -> Result<Page<CollectionEntry>, StoreError> {
        let pk = keys::source_gsi1pk(source);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()));
        query = match code_prefix {
            Some(prefix) => query
                .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix)),
            None => query.key_condition_expression("GSI1PK = :pk"),
        };
        // The page's limit counts referees. A referee is followed by at most 2 rewards, so
        // ask for enough items to hold that many referees (and a code item) and one more
        // referee, then end the page on a referee boundary.
        let referees = page.effective_limit() as usize;
        let lookahead = PageRequest {
            limit: Some(((referees + 1) * (1 + Side::BOTH.len()) + 1) as u32),
            cursor: page.cursor.clone(),
        };
        let (mut rows, next) = self
            .page("collection", query, (keys::GSI1PK, &pk), &lookahead)
            .await?;
        let entities = rows.iter().map(entity_of).collect::<Result<Vec<_>, _>>()?;
        let keep = referee_boundary(&entities, referees, next.is_some());
        let next = if keep < rows.len() {
            Some(cursor_at(&rows[keep - 1]))
        } else {
            next
        };
        rows.truncate(keep);
        let items = rows
            .into_iter()
            .map(|attrs| match entity_of(&attrs)? {
                Entity::Code => Ok(CollectionEntry::Code(
                    from_attrs::<Item<ReferralCodeRecord>>(attrs)?.data,
                )),
                Entity::Member => Ok(CollectionEntry::Referee(Box::new(
                    from_attrs::<Item<MemberProfile>>(attrs)?.data,
                ))),
                Entity::Reward => Ok(CollectionEntry::Reward(Box::new(
                    from_attrs::<Item<Reward>>(attrs)?.data,
                ))),
                other => Err(corrupt(
                    &attrs,
                    format!("unexpected {other:?} in a referrer collection"),
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }
}

#[async_trait]
impl ReferralStore for DynamoStore {
    async fn put_event(&self, event: &ReferralEvent) -> Result<(), StoreError> {
        self.put("put_event", &items::event_item(event)).await
    }

    async fn events_by_type(
        &self,
        event_type: EventType,
        page: PageRequest,
    ) -> Result<Page<ReferralEvent>, StoreError> {
        self.index_page::<ReferralEvent>(
            "events_by_type",
            keys::GSI1,
            keys::GSI1PK,
            keys::event_type_gsi1pk(event_type),
            page,
        )
        .await
    }

    async fn put_content_window(
        &self,
        event: &EventId,
        content: &ContentWindow,
    ) -> Result<(), StoreError> {
        self.put("put_content_window", &items::content_item(event, content))
            .await
    }

    async fn put_copywriting(&self, event: &EventId, copy: &Copywriting) -> Result<(), StoreError> {
        self.put("put_copywriting", &items::copywriting_item(event, copy))
            .await
    }

    async fn put_notification(
        &self,
        event: &EventId,
        template: &NotificationTemplate,
    ) -> Result<(), StoreError> {
        self.put(
            "put_notification",
            &items::notification_item(event, template),
        )
        .await
    }

    async fn event_config(&self, event: &EventId) -> Result<Option<EventConfig>, StoreError> {
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(keys::event_pk(event)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| classify("event_config", e))?;
            rows.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let mut header = None;
        let (mut contents, mut copywriting, mut notifications) =
            (Vec::new(), Vec::new(), Vec::new());
        for attrs in rows {
            match entity_of(&attrs)? {
                Entity::Event => header = Some(from_attrs::<Item<ReferralEvent>>(attrs)?.data),
                Entity::ContentWindow => {
                    contents.push(from_attrs::<Item<Owned<ContentWindow>>>(attrs)?.data.value)
                }
                Entity::Copywriting => {
                    copywriting.push(from_attrs::<Item<Owned<Copywriting>>>(attrs)?.data.value)
                }
                Entity::Notification => notifications.push(
                    from_attrs::<Item<Owned<NotificationTemplate>>>(attrs)?
                        .data
                        .value,
                ),
                other => {
                    return Err(corrupt(
                        &attrs,
                        format!("unexpected {other:?} in an event collection"),
                    ));
                }
            }
        }
        Ok(header.map(|event| EventConfig {
            event,
            contents,
            copywriting,
            notifications,
        }))
    }

    async fn content_window_at(
        &self,
        event: &EventId,
        at: Instant,
    ) -> Result<Option<ContentWindow>, StoreError> {
        self.window_at(
            "content_window_at",
            event,
            keys::CONTENT_PREFIX,
            at,
            |c: &ContentWindow| &c.window,
        )
        .await
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

    async fn create_code(&self, code: &ReferralCodeRecord) -> Result<(), StoreError> {
        self.create("create_code", "Code", &items::code_item(code))
            .await
    }

    async fn get_code(
        &self,
        code: &ReferralCode,
    ) -> Result<Option<ReferralCodeRecord>, StoreError> {
        self.get("get_code", keys::code_pk(code), keys::CODE_SK)
            .await
    }

    async fn put_member(&self, member: &MemberProfile) -> Result<(), StoreError> {
        self.put("put_member", &items::member_item(member)).await
    }

    async fn get_member(&self, account: &AccountId) -> Result<Option<MemberProfile>, StoreError> {
        self.get("get_member", keys::member_pk(account), keys::MEMBER_SK)
            .await
    }

    async fn profiles_and_codes(
        &self,
        accounts: &[AccountId],
        codes: &[ReferralCode],
    ) -> Result<ProfilesAndCodes, StoreError> {
        let keys = accounts
            .iter()
            .map(|a| (keys::member_pk(a), keys::MEMBER_SK))
            .chain(codes.iter().map(|c| (keys::code_pk(c), keys::CODE_SK)))
            .collect();
        let mut out = ProfilesAndCodes::default();
        for attrs in self.batch_get("profiles_and_codes", keys).await? {
            let pk = attrs
                .get(keys::PK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let parsed = if pk.starts_with("MEMBER#") {
                from_attrs::<Item<MemberProfile>>(attrs).map(|i| {
                    out.profiles.insert(i.data.account_id.clone(), i.data);
                })
            } else {
                from_attrs::<Item<ReferralCodeRecord>>(attrs).map(|i| {
                    out.codes.insert(i.data.code.clone(), i.data);
                })
            };
            if let Err(e) = parsed {
                tracing::error!(key = %pk, error = %e, "stored item does not map onto the domain");
                out.corrupt.insert(pk, e.to_string());
            }
        }
        Ok(out)
    }

    async fn save_member(&self, write: MemberWrite<'_>) -> Result<(), StoreError> {
        let member_put = self.member_put(&write)?;
        if write.settlement.is_empty() {
            let put = member_put;
            return self
                .client
                .put_item()
                .table_name(put.table_name)
                .set_item(Some(put.item))
                .condition_expression(put.condition)
                .set_expression_attribute_values(put.values)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| match classify("save_member", e) {
                    StoreError::Conflict { .. } => member_conflict(write.member),
                    other => other,
                });
        }
        // Order matters: cancellation reasons come back in this order.
        let mut entities = vec![member_put];
        if let Some(code) = &write.settlement.new_code {
            entities.push(self.create_put("Code", &items::code_item(code))?);
        }
        for reward in &write.settlement.rewards {
            entities.push(self.create_put("Reward", &items::reward_item(reward))?);
        }
        let transact_items = entities
            .iter()
            .map(|p| {
                p.to_sdk()
                    .map(|put| TransactWriteItem::builder().put(put).build())
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.transact("save_member", transact_items, |reasons| {
            // A concurrent transaction on the same items: re-read and re-apply.
            if reasons.contains(&Some("TransactionConflict")) {
                return Some(member_conflict(write.member));
            }
            let failed = &entities[reasons
                .iter()
                .position(|r| *r == Some("ConditionalCheckFailed"))?];
            Some(StoreError::Conflict {
                entity: failed.entity,
                key: failed.pk.clone(),
            })
        })
        .await
    }

    async fn park_record(&self, record: &ParkedRecord) -> Result<(), StoreError> {
        self.put("park_record", &items::parked_item(record)).await
    }

    async fn parked_records(&self, page: PageRequest) -> Result<Page<ParkedRecord>, StoreError> {
        self.index_page::<ParkedRecord>(
            "parked_records",
            keys::GSI2,
            keys::GSI2PK,
            keys::PARKED_GSI2PK.to_owned(),
            page,
        )
        .await
    }

    async fn pending_rewards_before(
        &self,
        cutoff: Instant,
        page: PageRequest,
    ) -> Result<Page<Reward>, StoreError> {
        let pk = keys::reward_status_gsi2pk(RewardStatus::Pending);
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI2)
            .key_condition_expression("GSI2PK = :pk AND GSI2SK < :cutoff")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .expression_attribute_values(
                ":cutoff",
                AttributeValue::S(crate::time::format(&cutoff)),
            );
        let (rows, next) = self
            .page("pending_rewards_before", query, (keys::GSI2PK, &pk), &page)
            .await?;
        let items = rows
            .into_iter()
            .map(|a| from_attrs::<Item<Reward>>(a).map(|i| i.data))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn create_reward(&self, reward: &Reward) -> Result<(), StoreError> {
        self.create("create_reward", "Reward", &items::reward_item(reward))
            .await
    }

    async fn get_reward(&self, reward: &RewardId) -> Result<Option<Reward>, StoreError> {
        self.get_with("get_reward", keys::reward_pk(reward), keys::REWARD_SK, true)
            .await
    }

    async fn mark_reward_paid(
        &self,
        reward: &RewardId,
        compensation_id: &str,
        at: Instant,
    ) -> Result<(), StoreError> {
        self.transition_reward(
            "mark_reward_paid",
            reward,
            RewardTransition::Paid,
            "compensation_id = :compensation, paid_at = :at, updated_at = :at, \
             attempts = if_not_exists(attempts, :zero) + :one",
            &["last_error"],
            [
                (":compensation", s(compensation_id)),
                (":at", s(&crate::time::format(&at))),
                (":zero", AttributeValue::N("0".into())),
                (":one", AttributeValue::N("1".into())),
            ],
        )
        .await
    }

    async fn record_payout_failure(
        &self,
        reward: &RewardId,
        error: &str,
        terminal: bool,
        at: Instant,
    ) -> Result<(), StoreError> {
        let transition = if terminal {
            RewardTransition::Failed
        } else {
            RewardTransition::AttemptFailed
        };
        self.transition_reward(
            "record_payout_failure",
            reward,
            transition,
            "attempts = if_not_exists(attempts, :zero) + :one, last_error = :error, \
             updated_at = :at",
            &[],
            [
                (":error", s(error)),
                (":at", s(&crate::time::format(&at))),
                (":zero", AttributeValue::N("0".into())),
                (":one", AttributeValue::N("1".into())),
            ],
        )
        .await
    }

    async fn record_notification(
        &self,
        reward: &RewardId,
        outcome: &NotificationOutcome,
    ) -> Result<(), StoreError> {
        let value: AttributeValue =
            serde_dynamo::to_attribute_value(outcome).map_err(|e| StoreError::Rejected {
                operation: "record_notification",
                message: format!("notification outcome does not serialize: {e}"),
            })?;
        self.update_reward(
            "record_notification",
            reward,
            "SET notification = :outcome",
            "#status = :success",
            [
                (":success", s(RewardStatus::Success.as_str())),
                (":outcome", value),
            ],
        )
        .await
    }

    async fn reopen_failed_reward(&self, reward: &RewardId, at: Instant) -> Result<(), StoreError> {
        self.transition_reward(
            "reopen_failed_reward",
            reward,
            RewardTransition::Reopened,
            "updated_at = :at",
            &[],
            [(":at", s(&crate::time::format(&at)))],
        )
        .await
    }

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
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N(expires_at.timestamp().to_string()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match classify("count_request", e) {
                StoreError::Conflict { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn save_event_config(
        &self,
        config: &EventConfig,
        previous: Option<&EventConfig>,
    ) -> Result<(), StoreError> {
        const OP: &str = "save_event_config";
        let event_id = &config.event.event_id;
        let event = to_attrs(&items::event_item(&config.event))?;
        let (condition, values) = match previous {
            None => ("attribute_not_exists(PK)".to_owned(), None),
            Some(prev) => (
                "updated_at = :seen".to_owned(),
                Some(HashMap::from([(
                    ":seen".to_owned(),
                    s(&crate::time::format(&prev.event.updated_at)),
                )])),
            ),
        };
        let mut puts = vec![event_put(&self.table, event, Some(&condition), values)?];
        let mut window_keys = Vec::new();
        for c in &config.contents {
            let item = to_attrs(&items::content_item(event_id, c))?;
            window_keys.push(item_sk(&item));
            puts.push(plain_put(&self.table, item)?);
        }
        for c in &config.copywriting {
            let item = to_attrs(&items::copywriting_item(event_id, c))?;
            window_keys.push(item_sk(&item));
            puts.push(plain_put(&self.table, item)?);
        }
        for n in &config.notifications {
            let item = to_attrs(&items::notification_item(event_id, n))?;
            window_keys.push(item_sk(&item));
            puts.push(plain_put(&self.table, item)?);
        }
        // Content windows this replace drops, by id (a moved window keeps its id): each must
        // have no rewards granted under it, checked on its marker in the same transaction.
        let dropped: Vec<&WindowId> = previous
            .map(|prev| {
                prev.contents
                    .iter()
                    .map(|c| &c.window_id)
                    .filter(|id| !config.contents.iter().any(|c| &c.window_id == *id))
                    .collect()
            })
            .unwrap_or_default();
        let mut stale = Vec::new();
        if let Some(prev) = previous {
            let old = prev
                .contents
                .iter()
                .map(|c| items::content_item(event_id, c).sk)
                .chain(
                    prev.copywriting
                        .iter()
                        .map(|c| items::copywriting_item(event_id, c).sk),
                )
                .chain(
                    prev.notifications
                        .iter()
                        .map(|n| items::notification_item(event_id, n).sk),
                );
            stale.extend(old.filter(|sk| !window_keys.contains(sk)));
        }
        let checks_from = puts.len() + stale.len();
        if checks_from + dropped.len() > super::MAX_EVENT_WRITES {
            return Err(StoreError::Rejected {
                operation: OP,
                message: format!(
                    "{} actions exceed the {} a transaction allows",
                    checks_from + dropped.len(),
                    super::MAX_EVENT_WRITES
                ),
            });
        }
        let pk = keys::event_pk(event_id);
        let deletes = stale.into_iter().map(|sk| {
            aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .key(keys::PK, s(&pk))
                .key(keys::SK, s(&sk))
                .build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .map_err(|e| StoreError::Rejected {
                    operation: OP,
                    message: e.to_string(),
                })
        });
        let checks = dropped.iter().map(|window| {
            ConditionCheck::builder()
                .table_name(&self.table)
                .key(keys::PK, s(&keys::window_use_pk(event_id, window)))
                .key(keys::SK, s(keys::WINDOW_USE_SK))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map(|c| TransactWriteItem::builder().condition_check(c).build())
                .map_err(|e| StoreError::Rejected {
                    operation: OP,
                    message: e.to_string(),
                })
        });
        let actions = puts
            .into_iter()
            .map(|p| Ok(TransactWriteItem::builder().put(p).build()))
            .chain(deletes)
            .chain(checks)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let event_changed = || StoreError::Conflict {
            entity: "Event",
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

    async fn mark_window_in_use(
        &self,
        event: &EventId,
        window: &WindowId,
    ) -> Result<(), StoreError> {
        let marker = items::WindowUse {
            event_id: event.clone(),
            window_id: window.clone(),
        };
        self.put("mark_window_in_use", &items::window_use_item(&marker))
            .await
    }

    async fn rewards_by_status(
        &self,
        status: RewardStatus,
        page: PageRequest,
    ) -> Result<Page<Reward>, StoreError> {
        self.index_page::<Reward>(
            "rewards_by_status",
            keys::GSI2,
            keys::GSI2PK,
            keys::reward_status_gsi2pk(status),
            page,
        )
        .await
    }

    async fn referrer_collection(
        &self,
        source: &ReferralSource,
        page: PageRequest,
    ) -> Result<Page<CollectionEntry>, StoreError> {
        self.collection(source, None, page).await
    }

    async fn code_collection(
        &self,
        code: &ReferralCodeRecord,
        page: PageRequest,
    ) -> Result<Page<CollectionEntry>, StoreError> {
        self.collection(&code.source, Some(keys::code_gsi1sk(&code.code)), page)
            .await
    }
}

impl DynamoStore {
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
        }
        Err(classify(operation, err))
    }

    /// One status change of a reward (docs/reward-lifecycle.md): sets the status (and the
    /// GSI2 partition listing rewards by status) with `set` and `remove`, on condition that the stored
    /// status is one the lifecycle allows the transition from.
    async fn transition_reward(
        &self,
        operation: &'static str,
        reward: &RewardId,
        transition: RewardTransition,
        set: &str,
        remove: &[&str],
        values: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let to = transition.to();
        let from: Vec<(String, AttributeValue)> = transition
            .from()
            .iter()
            .enumerate()
            .map(|(i, status)| (format!(":from{i}"), s(status.as_str())))
            .collect();
        let names: Vec<&str> = from.iter().map(|(name, _)| name.as_str()).collect();
        let mut update = format!("SET #status = :to, GSI2PK = :to_pk, {set}");
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let condition = format!("#status IN ({})", names.join(", "));
        let values = values
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .chain([
                (":to".to_owned(), s(to.as_str())),
                (":to_pk".to_owned(), s(&keys::reward_status_gsi2pk(to))),
            ])
            .chain(from);
        self.update_reward(operation, reward, &update, &condition, values)
            .await
    }

    /// One conditional UpdateItem of a reward; a failed condition is a `Reward` conflict.
    async fn update_reward(
        &self,
        operation: &'static str,
        reward: &RewardId,
        update: &str,
        condition: &str,
        values: impl IntoIterator<Item = (impl Into<String>, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let pk = keys::reward_pk(reward);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(&pk))
            .key(keys::SK, s(keys::REWARD_SK))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status");
        for (name, value) in values {
            request = request.expression_attribute_values(name.into(), value);
        }
        request
            .send()
            .await
            .map_err(|e| match classify(operation, e) {
                StoreError::Conflict { .. } => StoreError::Conflict {
                    entity: "Reward",
                    key: pk,
                },
                other => other,
            })?;
        Ok(())
    }
}

/// How many of a collection query's `entities` a page of `referees` keeps: everything before
/// the (`referees` + 1)-th referee, so a referee's rewards (which follow it in key order) are
/// always on the referee's page. When the rows end on a referee whose rewards we could not
/// all see and DynamoDB has more (`more`), the page stops before that referee (unless it is
/// the only one on the page).
fn referee_boundary(entities: &[Entity], referees: usize, more: bool) -> usize {
    let mut keep = entities.len();
    let mut seen = 0;
    for (i, e) in entities.iter().enumerate() {
        if *e == Entity::Member {
            seen += 1;
            if seen > referees {
                keep = i;
                break;
            }
        }
    }
    if keep == entities.len()
        && more
        && let Some(start) = entities[..keep].iter().rposition(|e| *e == Entity::Member)
    {
        let rewards = keep - start - 1;
        if rewards < Side::BOTH.len() && start > 0 {
            keep = start;
        }
    }
    keep
}

/// The cursor of a page that ends at `row`: its table and index key, as DynamoDB's own
/// LastEvaluatedKey of a GSI1 query would be.
fn cursor_at(row: &Attrs) -> Cursor {
    let key: BTreeMap<String, String> = [keys::PK, keys::SK, keys::GSI1PK, keys::GSI1SK]
        .into_iter()
        .filter_map(|k| Some((k.to_owned(), row.get(k)?.as_s().ok()?.clone())))
        .collect();
    Cursor::encode(&key)
}

fn item_sk(item: &Attrs) -> String {
    item.get(keys::SK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

fn plain_put(table: &str, item: Attrs) -> Result<Put, StoreError> {
    event_put(table, item, None, None)
}

fn event_put(
    table: &str,
    item: Attrs,
    condition: Option<&str>,
    values: Option<HashMap<String, AttributeValue>>,
) -> Result<Put, StoreError> {
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .set_expression_attribute_values(values)
        .build()
        .map_err(|e| StoreError::Rejected {
            operation: "save_event_config",
            message: e.to_string(),
        })
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

/// A Put with its condition, kept with what it writes so a cancelled transaction can say
/// which entity conflicted.
struct ConditionalPut {
    entity: &'static str,
    pk: String,
    table_name: String,
    item: Attrs,
    condition: String,
    values: Option<HashMap<String, AttributeValue>>,
}

impl ConditionalPut {
    fn to_sdk(&self) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table_name)
            .set_item(Some(self.item.clone()))
            .condition_expression(&self.condition)
            .set_expression_attribute_values(self.values.clone())
            .build()
            .map_err(|e| StoreError::Rejected {
                operation: "save_member",
                message: e.to_string(),
            })
    }
}

impl DynamoStore {
    fn member_put(&self, write: &MemberWrite<'_>) -> Result<ConditionalPut, StoreError> {
        let item = items::member_item(write.member);
        let (condition, values) = if write.expected_version == 0 {
            ("attribute_not_exists(version)".to_owned(), None)
        } else {
            (
                "version = :v".to_owned(),
                Some(HashMap::from([(
                    ":v".to_owned(),
                    AttributeValue::N(write.expected_version.to_string()),
                )])),
            )
        };
        Ok(ConditionalPut {
            entity: "Member",
            pk: item.pk.clone(),
            table_name: self.table.clone(),
            item: to_attrs(&item)?,
            condition,
            values,
        })
    }

    fn create_put<T: Serialize>(
        &self,
        entity: &'static str,
        item: &Item<T>,
    ) -> Result<ConditionalPut, StoreError> {
        Ok(ConditionalPut {
            entity,
            pk: item.pk.clone(),
            table_name: self.table.clone(),
            item: to_attrs(item)?,
            condition: "attribute_not_exists(PK)".to_owned(),
            values: None,
        })
    }
}

fn member_conflict(member: &MemberProfile) -> StoreError {
    StoreError::Conflict {
        entity: "Member",
        key: keys::member_pk(&member.account_id),
    }
}

fn to_attrs<T: Serialize>(item: &Item<T>) -> Result<Attrs, StoreError> {
    serde_dynamo::to_item(item).map_err(|e| StoreError::Corrupt {
        key: item.pk.clone(),
        message: e.to_string(),
    })
}

/// An item into `T`. A failure keeps the kind and the attribute path, not serde's message:
/// that quotes the stored value, which may be a phone number, and it is logged.
fn from_attrs<T: DeserializeOwned>(attrs: Attrs) -> Result<T, StoreError> {
    let key = describe_key(&attrs);
    let item: serde_dynamo::Item = attrs.into();
    let value = serde_dynamo::AttributeValue::M(item.into());
    serde_path_to_error::deserialize(serde_dynamo::Deserializer::from_attribute_value(value))
        .map_err(|e| StoreError::Corrupt {
            key,
            message: crate::decode::DecodeError::reduce(&e).to_string(),
        })
}

fn entity_of(attrs: &Attrs) -> Result<Entity, StoreError> {
    let raw = attrs.get(keys::ENTITY).and_then(|v| v.as_s().ok());
    raw.and_then(|s| serde_json::from_value(serde_json::Value::String(s.clone())).ok())
        .ok_or_else(|| corrupt(attrs, "unknown entity".to_owned()))
}

fn describe_key(attrs: &Attrs) -> String {
    let part = |k| {
        attrs
            .get(k)
            .and_then(|v: &AttributeValue| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    format!("{}|{}", part(keys::PK), part(keys::SK))
}

fn corrupt(attrs: &Attrs, message: String) -> StoreError {
    StoreError::Corrupt {
        key: describe_key(attrs),
        message,
    }
}

/// The one place SDK errors become store errors.
pub(crate) fn classify<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().unwrap_or_default().to_owned();
    let message = match err.message() {
        Some(m) => format!("{code}: {m}"),
        None => aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
    };
    match (&err, code.as_str()) {
        (_, "ConditionalCheckFailedException") => StoreError::Conflict {
            entity: "item",
            key: String::new(),
        },
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Entity::{Code, Member, Reward};

    #[test]
    fn pages_hold_whole_referees() {
        // Two referees per page: the page stops before the third.
        assert_eq!(
            referee_boundary(
                &[Code, Member, Reward, Reward, Member, Member, Reward],
                2,
                true
            ),
            5
        );
        // Referees without rewards count as referees too.
        assert_eq!(referee_boundary(&[Member, Member, Member], 2, false), 2);
        // Everything fits, nothing more in DynamoDB.
        assert_eq!(referee_boundary(&[Code, Member, Reward], 5, false), 3);
        // The rows stop on a referee with one reward seen while DynamoDB has more: stop before it.
        assert_eq!(
            referee_boundary(&[Code, Member, Reward, Reward, Member, Reward], 9, true),
            4
        );
        // ...unless it is all the page has.
        assert_eq!(referee_boundary(&[Member, Reward], 9, true), 2);
        // A referee with both rewards is complete.
        assert_eq!(
            referee_boundary(&[Code, Member, Reward, Reward], 9, true),
            4
        );
    }
}
