//! Helpers for the integration tests. They run against the real local stand-ins started by
//! `scripts/stack.sh` (DynamoDB Local and moto's SQS), never against in-memory fakes.
//! Every test gets its own freshly created table and queue, so tests run in parallel without
//! sharing state.

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use referral_devkit::table::TableDefinition;
use referral_shared::contracts::payout::PayoutMessage;
use referral_shared::queue::SqsPayoutQueue;
use referral_shared::store::DynamoStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the HTTP requests a client sends, so tests can assert round-trip budgets, and the
/// most requests in flight at once (to see concurrency). It can also fail requests on purpose:
/// [`RoundTrips::fail_after`] makes every request past a count fail before it is sent, as a
/// dropped connection would (the store sees a dispatch failure = DynamoDB unavailable).
#[derive(Debug, Clone, Default)]
pub struct RoundTrips(Arc<Counters>);

#[derive(Debug, Default)]
pub struct Counters {
    sent: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Requests numbered at or above this fail (0 = never).
    fail_from: AtomicUsize,
}

impl RoundTrips {
    pub fn get(&self) -> usize {
        self.0.sent.load(Ordering::SeqCst)
    }

    /// The most requests that were in flight at the same time since the last reset.
    pub fn max_in_flight(&self) -> usize {
        self.0.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn reset_max_in_flight(&self) {
        self.0.max_in_flight.store(0, Ordering::SeqCst);
    }

    /// From now on, the first `n` requests go through and every later one fails.
    pub fn fail_after(&self, n: usize) {
        self.0.fail_from.store(self.get() + n + 1, Ordering::SeqCst);
    }

    /// Requests go through again.
    pub fn heal(&self) {
        self.0.fail_from.store(0, Ordering::SeqCst);
    }

    /// Round trips made by `f`.
    pub async fn during<T>(&self, f: impl std::future::Future<Output = T>) -> (T, usize) {
        let before = self.get();
        let out = f.await;
        (out, self.get() - before)
    }
}

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let n = self.0.sent.fetch_add(1, Ordering::SeqCst) + 1;
        let fail_from = self.0.fail_from.load(Ordering::SeqCst);
        if fail_from != 0 && n >= fail_from {
            return Err("injected fault: connection dropped".into());
        }
        let now = self.0.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A fresh queue on the SQS emulator.
pub struct TestQueue {
    pub url: String,
    pub client: aws_sdk_sqs::Client,
}

impl TestQueue {
    pub async fn create() -> TestQueue {
        let client = referral_devkit::local_sqs_client().await;
        let name = format!("test-{}", uuid::Uuid::now_v7().simple());
        let url = client
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{}\nIs the local stack running? Start it with: scripts/stack.sh start",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })
            .queue_url
            .expect("CreateQueue returns the queue URL");
        TestQueue { url, client }
    }

    pub fn payout_queue(&self) -> SqsPayoutQueue {
        SqsPayoutQueue::new(self.client.clone(), &self.url)
    }

    /// Receives and deletes every message now in the queue; returns the reward ids.
    pub async fn drain(&self) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return ids;
            }
            let mut entries = Vec::new();
            for (i, m) in messages.into_iter().enumerate() {
                let body = m.body.unwrap_or_default();
                let msg = PayoutMessage::parse(&body).expect("a payout message");
                ids.push(msg.reward_id.to_string());
                entries.push(
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle.unwrap_or_default())
                        .build()
                        .expect("id and receipt handle are set"),
                );
            }
            self.client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("DeleteMessageBatch");
        }
    }
}

pub struct TestTable {
    pub name: String,
    pub client: aws_sdk_dynamodb::Client,
    pub store: DynamoStore,
    pub round_trips: RoundTrips,
}

impl TestTable {
    /// A new table, created from the SAM template's definition, on DynamoDB Local.
    pub async fn create() -> TestTable {
        let name = format!("test-{}", uuid::Uuid::now_v7().simple());
        let base = referral_devkit::local_dynamodb_client().await;
        TableDefinition::from_sam_template()
            .expect("the SAM template defines the table")
            .create(&base, &name)
            .await
            .unwrap_or_else(|e| {
                panic!("{e:#}\nIs the local stack running? Start it with: scripts/stack.sh start")
            });
        let round_trips = RoundTrips::default();
        let config = base
            .config()
            .to_builder()
            .interceptor(round_trips.clone())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        let store = DynamoStore::new(client.clone(), &name);
        TestTable {
            name,
            client,
            store,
            round_trips,
        }
    }
}

/// Small constructors for domain values used across tests.
pub mod fixtures {
    use chrono::{TimeZone, Utc};
    use referral_shared::time::Instant;
    use referral_shared::*;

    pub fn at(day: u32, hour: u32) -> Instant {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    pub fn event(id: &str, event_type: EventType) -> ReferralEvent {
        ReferralEvent {
            event_id: EventId::parse(id).unwrap(),
            event_type,
            name: EventName::parse(id).unwrap(),
            created_at: at(1, 0),
            updated_at: at(1, 0),
        }
    }

    pub fn window(start: Instant, end: Instant) -> TimeWindow {
        TimeWindow::new(start, end).unwrap()
    }

    pub fn content(id: &str, start: Instant, end: Instant, referrer_amount: &str) -> ContentWindow {
        ContentWindow {
            window_id: WindowId::parse(id).unwrap(),
            window: window(start, end),
            referrer: RewardTerms {
                reward_type: RewardType::Coin,
                amount: RewardAmount::parse(referrer_amount).unwrap(),
            },
            referee: RewardTerms {
                reward_type: RewardType::Coupon,
                amount: RewardAmount::parse("100").unwrap(),
            },
        }
    }

    pub fn code_record(code: &str, event: &str, source: &str) -> ReferralCodeRecord {
        ReferralCodeRecord {
            code: ReferralCode::parse(code).unwrap(),
            event_id: EventId::parse(event).unwrap(),
            event_type: EventType::Personal,
            source: ReferralSource::parse(source).unwrap(),
            created_at: at(1, 0),
        }
    }

    /// A referee who registered with `code` (owned by `source`).
    pub fn referee(account: &str, code: &str, source: &str) -> MemberProfile {
        let mut m = MemberProfile::new(
            AccountId::parse(account).unwrap(),
            JkosId::parse(format!("jk-{account}")).unwrap(),
            at(2, 0),
        );
        m.phone_number = Some(PhoneNumber::parse("0912345678").unwrap());
        m.referral = Some(ReferralUse {
            code: ReferralCode::parse(code).unwrap(),
            used_at: at(2, 0),
            outcome: ReferralOutcome::Accepted {
                event_id: EventId::parse("personal").unwrap(),
                referrer_source: ReferralSource::parse(source).unwrap(),
            },
        });
        m
    }

    pub fn reward(
        referee: &MemberProfile,
        side: Side,
        status: RewardStatus,
        created_at: Instant,
    ) -> Reward {
        let (code, event_id, source) = referee.accepted_referral().expect("an accepted referral");
        Reward {
            reward_id: RewardId::new(&referee.account_id, side),
            side,
            member_jkos_id: match side {
                Side::Referrer => JkosId::parse(source.as_str()).unwrap(),
                Side::Referee => referee.jkos_id.clone(),
            },
            referee_account_id: referee.account_id.clone(),
            referee_jkos_id: referee.jkos_id.clone(),
            code: code.clone(),
            event_id: event_id.clone(),
            referrer_source: source.clone(),
            terms: RewardTerms {
                reward_type: RewardType::Coin,
                amount: RewardAmount::parse("50").unwrap(),
            },
            qualified_at: created_at,
            status,
            attempts: 0,
            last_error: None,
            compensation_id: None,
            paid_at: None,
            referee_phone_masked: referee.phone_number.as_ref().map(|p| p.masked()),
            notification: None,
            created_at,
            updated_at: created_at,
        }
    }
}

/// Follows cursors until the last page, asserting that every page costs exactly one
/// DynamoDB request and holds at most `limit` items. Returns the items and the page count.
pub async fn all_pages<T, F, Fut>(
    round_trips: &RoundTrips,
    limit: u32,
    mut fetch: F,
) -> (Vec<T>, usize)
where
    F: FnMut(referral_shared::store::PageRequest) -> Fut,
    Fut: std::future::Future<
            Output = Result<referral_shared::store::Page<T>, referral_shared::store::StoreError>,
        >,
{
    use referral_shared::store::PageRequest;
    let (mut items, mut pages) = (Vec::new(), 0);
    let mut request = PageRequest::first(limit);
    loop {
        let (page, trips) = round_trips.during(fetch(request)).await;
        let page = page.expect("page");
        assert_eq!(trips, 1, "one request per page");
        assert!(page.items.len() <= limit as usize);
        pages += 1;
        items.extend(page.items);
        match page.next {
            Some(cursor) => request = PageRequest::after(limit, cursor),
            None => return (items, pages),
        }
    }
}

/// A table + queue + the campaign the consumer tests share, and record builders.
pub mod ingest_support {
    use super::fixtures::{at, content, event};
    use super::{TestQueue, TestTable};
    use referral_devkit::msk::Outgoing;
    use referral_shared::contracts::kafka::{TOPIC_MEMBER_INFO, TOPIC_REGISTRATION};
    use referral_shared::ingest::{ConfigCache, Consumer, ConsumerSettings};
    use referral_shared::queue::SqsPayoutQueue;
    use referral_shared::store::{DynamoStore, ReferralStore};
    use referral_shared::time::Instant;
    use referral_shared::*;
    use serde_json::{Value, json};
    use std::sync::Arc;

    pub const PERSONAL: &str = "personal";

    pub type TestConsumer = Consumer<DynamoStore, SqsPayoutQueue>;

    pub struct Harness {
        pub table: TestTable,
        pub queue: TestQueue,
    }

    impl Harness {
        /// The PERSONAL event with two reward windows: `w1` [day 1, day 10) pays the referrer
        /// 50, `w2` [day 10, day 25) pays 80; the referee gets a 100 coupon in both.
        pub async fn new() -> Harness {
            let table = TestTable::create().await;
            let queue = TestQueue::create().await;
            let store = &table.store;
            let personal = EventId::parse(PERSONAL).unwrap();
            store
                .put_event(&event(PERSONAL, EventType::Personal))
                .await
                .unwrap();
            store
                .put_content_window(&personal, &content("w1", at(1, 0), at(10, 0), "50"))
                .await
                .unwrap();
            store
                .put_content_window(&personal, &content("w2", at(10, 0), at(25, 0), "80"))
                .await
                .unwrap();
            Harness { table, queue }
        }

        /// A referrer (jkos id `source`) owning `code` of the PERSONAL event.
        pub async fn referrer_code(&self, code: &str, source: &str) {
            self.table
                .store
                .create_code(&super::fixtures::code_record(code, PERSONAL, source))
                .await
                .unwrap();
        }

        pub fn consumer(&self, topic: &'static str) -> TestConsumer {
            self.consumer_with(topic, 16)
        }

        pub fn consumer_with(&self, topic: &'static str, concurrency: usize) -> TestConsumer {
            let mut settings = ConsumerSettings::new(topic, EventId::parse(PERSONAL).unwrap());
            settings.concurrency = concurrency;
            Consumer::new(
                Arc::new(self.table.store.clone()),
                Arc::new(self.queue.payout_queue()),
                ConfigCache::new(std::time::Duration::from_secs(60)),
                settings,
            )
        }

        pub async fn member(&self, account: &str) -> Option<MemberProfile> {
            self.table
                .store
                .get_member(&AccountId::parse(account).unwrap())
                .await
                .unwrap()
        }

        pub async fn reward(&self, account: &str, side: Side) -> Option<Reward> {
            self.table
                .store
                .get_reward(&RewardId::new(&AccountId::parse(account).unwrap(), side))
                .await
                .unwrap()
        }

        /// Every item of the table, by entity (a Scan; tests only).
        pub async fn scan(
            &self,
        ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>
        {
            let mut items = Vec::new();
            let mut start = None;
            loop {
                let out = self
                    .table
                    .client
                    .scan()
                    .table_name(&self.table.name)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .unwrap();
                items.extend(out.items.unwrap_or_default());
                start = out.last_evaluated_key;
                if start.is_none() {
                    return items;
                }
            }
        }
    }

    pub fn jkos(account: &str) -> String {
        format!("jk-{account}")
    }

    /// A `rd2_registration_member` value.
    pub fn registration(kind: &str, account: &str, code: Option<&str>, at: Instant) -> Value {
        let mut v = json!({
            "type": kind,
            "account_id": account,
            "jkos_id": jkos(account),
            "phone_number": "0912345678",
            "occurred_at": referral_shared::time::format(&at),
        });
        if let Some(code) = code {
            v["referral_code"] = json!(code);
        }
        v
    }

    /// A `rd2_member_info` value.
    pub fn member_info(account: &str, at: Instant) -> Value {
        json!({
            "account_id": account,
            "jkos_id": jkos(account),
            "jkos_account": "A12345678",
            "phone_number": "0987654321",
            "created_at": referral_shared::time::format(&at),
        })
    }

    /// Registration records on partition 0 with consecutive offsets from `first_offset`.
    pub fn reg_records(first_offset: i64, values: &[Value]) -> Vec<Outgoing> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Outgoing::json(TOPIC_REGISTRATION, 0, first_offset + i as i64, v))
            .collect()
    }

    pub fn info_records(first_offset: i64, values: &[Value]) -> Vec<Outgoing> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Outgoing::json(TOPIC_MEMBER_INFO, 0, first_offset + i as i64, v))
            .collect()
    }
}
