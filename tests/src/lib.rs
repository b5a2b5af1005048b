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

pub mod runtime_api;

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
    /// The operations sent (`GetItem`, `UpdateItem`…) while [`RoundTrips::operations_during`]
    /// records them.
    operations: std::sync::Mutex<Option<Vec<String>>>,
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

    /// The DynamoDB operations `f` sent, in order (their `X-Amz-Target` without the API
    /// version: `GetItem`, `Query`, `UpdateItem`…). One recording at a time per table.
    pub async fn operations_during<T>(
        &self,
        f: impl std::future::Future<Output = T>,
    ) -> (T, Vec<String>) {
        *self.0.operations.lock().unwrap() = Some(Vec::new());
        let out = f.await;
        let operations = self.0.operations.lock().unwrap().take().unwrap_or_default();
        (out, operations)
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
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(operations) = self.0.operations.lock().unwrap().as_mut() {
            let target = context.request().headers().get("x-amz-target");
            let name = target.and_then(|t| t.rsplit('.').next()).unwrap_or("?");
            operations.push(name.to_owned());
        }
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

    /// A PERSONAL event's whole configuration with share-link settings (landing URL with
    /// `{code}`, IANA time zone) and no window.
    pub fn linked_event(id: &str, landing_url: Option<&str>, time_zone: &str) -> EventConfig {
        EventConfig {
            event: event(id, EventType::Personal),
            contents: Vec::new(),
            copywriting: Vec::new(),
            notifications: Vec::new(),
            rules: Default::default(),
            links: LinkSettings {
                time_zone: EventTimeZone::parse(time_zone).unwrap(),
                landing_url: landing_url.map(|u| LandingUrl::parse(u).unwrap()),
            },
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

    /// A source as tests name it: `member:<id>` / `campaign:<name>`, or a bare jkos id for a
    /// member (the usual case: a PERSONAL code's owner).
    pub fn source(source: &str) -> ReferralSource {
        if source.contains(':') {
            ReferralSource::parse(source).unwrap()
        } else {
            ReferralSource::from(&JkosId::parse(source).unwrap())
        }
    }

    pub fn code_record(code: &str, event: &str, source: &str) -> ReferralCodeRecord {
        ReferralCodeRecord {
            code: ReferralCode::parse(code).unwrap(),
            event_id: EventId::parse(event).unwrap(),
            event_type: EventType::Personal,
            source: self::source(source),
            owner_phone: None,
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
            referrer_phone: None,
            event_id: None,
            outcome: ReferralOutcome::Accepted {
                event_id: EventId::parse("personal").unwrap(),
                referrer_source: self::source(source),
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
        let terms = RewardTerms {
            reward_type: RewardType::Coin,
            amount: RewardAmount::parse("50").unwrap(),
        };
        Reward {
            status,
            // Stamped as a grant stamps it (UTC: the fixtures' events have no time zone).
            funnel_day: Some(LinkSettings::default().day_of(created_at)),
            ..Reward::pending(referee, side, terms, created_at, created_at)
                .expect("an accepted referral, of a member's code for the referrer side")
        }
    }
}

/// A field of this process's `/proc/self/status` in KiB (`VmRSS:`, `VmHWM:`), for the benches.
pub fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Follows cursors until the last page, asserting that every page costs exactly one
/// DynamoDB request and holds at most `max_items` items. Returns the items and the page count.
pub async fn all_pages<T, F, Fut>(
    round_trips: &RoundTrips,
    limit: u32,
    max_items: usize,
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
        assert!(
            page.items.len() <= max_items,
            "{} > {max_items}",
            page.items.len()
        );
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
    use referral_shared::events_cache::ConfigCache;
    use referral_shared::ingest::{Consumer, ConsumerSettings};
    use referral_shared::queue::SqsPayoutQueue;
    use referral_shared::store::{DynamoStore, prelude::*};
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

        /// A member's code as a consumer with the identity key issues it: with the keyed hash
        /// of its owner's phone (the self-referral rule then reads no profile).
        pub async fn referrer_code_with_phone(&self, code: &str, source: &str, phone: &str) {
            let mut record = super::fixtures::code_record(code, PERSONAL, source);
            record.owner_phone = Some(identity_key().phone(&PhoneNumber::parse(phone).unwrap()));
            self.table.store.create_code(&record).await.unwrap();
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

        /// Sets the PERSONAL event's reward rules (its windows as [`Harness::new`] made them),
        /// through the store's one-transaction replace, as the admin API does.
        pub async fn set_rules(&self, rules: RewardRules) {
            let store = &self.table.store;
            let personal = EventId::parse(PERSONAL).unwrap();
            let previous = store.event_config(&personal).await.unwrap().unwrap();
            let config = EventConfig {
                rules,
                event: ReferralEvent {
                    updated_at: previous.event.next_version_at(chrono::Utc::now()),
                    ..previous.event.clone()
                },
                ..previous.clone()
            };
            config.validate().unwrap();
            store
                .save_event_config(&config, Some(&previous))
                .await
                .unwrap();
        }

        /// A consumer holding the identity key the reward rules hash with ([`identity_key`]).
        pub fn rules_consumer(&self, topic: &'static str, concurrency: usize) -> TestConsumer {
            let mut settings = ConsumerSettings::new(topic, EventId::parse(PERSONAL).unwrap());
            settings.concurrency = concurrency;
            settings.identity_key = Some(identity_key());
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
            crate::scan_all(&self.table.client, &self.table.name).await
        }
    }

    /// The tests' identity key (the local stack's is in `scripts/env.sh`).
    pub fn identity_key() -> IdentityKey {
        IdentityKey::new(b"tests-identity-hash-key-0123456789".to_vec()).unwrap()
    }

    /// A `DEVICE_BOUND` / `KYC_PASSED` / `REFERRAL_CODE_USED` value with the member's own phone
    /// (None: no phone on the record) and, for `DEVICE_BOUND`, a device id.
    pub fn registration_of(
        kind: &str,
        account: &str,
        code: Option<&str>,
        phone: Option<&str>,
        device: Option<&str>,
        at: Instant,
    ) -> Value {
        let mut v = json!({
            "type": kind,
            "account_id": account,
            "jkos_id": jkos(account),
            "occurred_at": referral_shared::time::format(&at),
        });
        if let Some(code) = code {
            v["referral_code"] = json!(code);
        }
        if let Some(phone) = phone {
            v["phone_number"] = json!(phone);
        }
        if let Some(device) = device {
            v["device_id"] = json!(device);
        }
        v
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

/// A payout test bench: a table with the PERSONAL event and its notification templates, the
/// payout queue and its DLQ on moto (redrive after `max_receives`), the finance + msg-hub
/// stand-ins on a free port, the payout engine, and the queue driven as Lambda's event source
/// mapping drives it.
pub mod payout_support {
    use super::TestTable;
    use super::fixtures::*;
    use referral_devkit::esm::{EventSource, PollStats};
    use referral_partners::Running;
    use referral_shared::events_cache::ConfigCache;
    use referral_shared::partners::{PartnerConfig, Partners};
    use referral_shared::payout::{Payout, PayoutSettings};
    use referral_shared::queue::{PayoutQueue, SqsPayoutQueue, SqsRetryQueue};
    use referral_shared::store::{DynamoStore, prelude::*};
    use referral_shared::time::Instant;
    use referral_shared::*;
    use std::sync::Arc;
    use std::time::Duration;

    pub type TestPayout = Payout<DynamoStore, SqsRetryQueue>;

    /// The referee phone the rewards are created with, and how it must appear.
    pub const PHONE: &str = "0912345678";
    pub const PHONE_MASKED: &str = "0912***678";

    #[derive(Debug, Clone)]
    pub struct Options {
        pub max_receives: u32,
        /// The queue's own visibility timeout (what applies when the function does not answer).
        pub visibility_seconds: u32,
        pub finance_timeout: Duration,
        pub settings: PayoutSettings,
    }

    impl Default for Options {
        fn default() -> Self {
            Self {
                max_receives: 5,
                visibility_seconds: 2,
                finance_timeout: Duration::from_millis(400),
                settings: PayoutSettings {
                    concurrency: 10,
                    max_receives: 5,
                    retry_base: Duration::ZERO,
                    retry_max: Duration::ZERO,
                    notify_retry_delay: Duration::from_millis(20),
                    notify_recovery_after: Duration::from_secs(300),
                },
            }
        }
    }

    pub struct Bench {
        pub table: TestTable,
        pub sqs: aws_sdk_sqs::Client,
        pub queue_url: String,
        pub dlq_url: String,
        pub partners: Running,
        pub source: EventSource,
        pub payout: Arc<TestPayout>,
        pub options: Options,
    }

    impl Bench {
        pub async fn new() -> Bench {
            Self::with(Options::default()).await
        }

        pub async fn with(mut options: Options) -> Bench {
            options.settings.max_receives = options.max_receives;
            let table = TestTable::create().await;
            seed_personal_event(&table.store).await;
            let sqs = referral_devkit::local_sqs_client().await;
            let name = format!("test-payout-{}", uuid::Uuid::now_v7().simple());
            let (queue_url, dlq_url) = referral_devkit::esm::create_queue_with_dlq(
                &sqs,
                &name,
                options.max_receives,
                options.visibility_seconds,
            )
            .await
            .expect("payout queue and DLQ");
            let partners = referral_partners::spawn("127.0.0.1:0".parse().unwrap(), 7)
                .await
                .expect("stand-ins listen");
            let payout = Arc::new(Self::engine(
                &table, &sqs, &queue_url, &dlq_url, &partners, &options,
            ));
            let source = EventSource::new(sqs.clone(), &queue_url).await.unwrap();
            Bench {
                table,
                sqs,
                queue_url,
                dlq_url,
                partners,
                source,
                payout,
                options,
            }
        }

        /// A payout engine as one Lambda instance would build it (own caches and pool).
        pub fn engine(
            table: &TestTable,
            sqs: &aws_sdk_sqs::Client,
            queue_url: &str,
            dlq_url: &str,
            partners: &Running,
            options: &Options,
        ) -> TestPayout {
            let mut config = PartnerConfig::local(&partners.base_url, &partners.base_url).unwrap();
            config.finance_timeout = options.finance_timeout;
            config.msghub_timeout = options.finance_timeout;
            Payout::new(
                Arc::new(table.store.clone()),
                Arc::new(SqsRetryQueue::new(sqs.clone(), queue_url, dlq_url)),
                Partners::new(&config).unwrap(),
                ConfigCache::new(Duration::from_secs(60)),
                options.settings.clone(),
            )
        }

        pub fn store(&self) -> &DynamoStore {
            &self.table.store
        }

        /// `n` PENDING rewards (alternating sides, referee phone known), created directly.
        pub async fn rewards(&self, n: usize) -> Vec<Reward> {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let side = if i % 2 == 0 {
                    Side::Referrer
                } else {
                    Side::Referee
                };
                let reward = reward(&format!("acc-{i}"), side);
                self.store().create_reward(&reward).await.unwrap();
                out.push(reward);
            }
            out
        }

        pub async fn enqueue(&self, rewards: &[Reward]) {
            let ids: Vec<RewardId> = rewards.iter().map(|r| r.reward_id.clone()).collect();
            self.enqueue_ids(&ids).await;
        }

        /// One payout message per id, as the consumer, the sweeper or an admin retry sends it
        /// (an id named twice is sent twice).
        pub async fn enqueue_ids(&self, ids: &[RewardId]) {
            SqsPayoutQueue::new(self.sqs.clone(), &self.queue_url)
                .enqueue(ids)
                .await
                .unwrap();
        }

        /// One receive → invoke → delete cycle.
        pub async fn poll_once(&self) -> Option<PollStats> {
            let payout = self.payout.clone();
            self.source
                .poll_once(|event| async move { payout.handle(&event).await.response })
                .await
                .unwrap()
        }

        /// Runs `pollers` event-source pollers (like concurrent Lambda instances sharing one
        /// engine per poller) until the queue holds no message, visible or in flight.
        /// Panics after `deadline`.
        pub async fn run_until_empty(&self, pollers: usize, deadline: Duration) -> usize {
            let started = std::time::Instant::now();
            let engines: Vec<Arc<TestPayout>> = (0..pollers)
                .map(|i| {
                    if i == 0 {
                        self.payout.clone()
                    } else {
                        Arc::new(Self::engine(
                            &self.table,
                            &self.sqs,
                            &self.queue_url,
                            &self.dlq_url,
                            &self.partners,
                            &self.options,
                        ))
                    }
                })
                .collect();
            let mut invocations = 0;
            loop {
                let polls = futures::future::join_all(engines.iter().map(|engine| {
                    let engine = engine.clone();
                    self.source
                        .poll_once(|event| async move { engine.handle(&event).await.response })
                }))
                .await;
                let mut any = false;
                for p in polls {
                    if p.unwrap().is_some() {
                        invocations += 1;
                        any = true;
                    }
                }
                if !any {
                    if self.depth(&self.queue_url).await == 0 {
                        return invocations;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                assert!(
                    started.elapsed() < deadline,
                    "the payout queue did not drain within {deadline:?}"
                );
            }
        }

        /// Messages in a queue, visible or in flight.
        pub async fn depth(&self, url: &str) -> usize {
            use aws_sdk_sqs::types::QueueAttributeName as A;
            let attrs = self
                .sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(A::ApproximateNumberOfMessages)
                .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap_or_default();
            [
                A::ApproximateNumberOfMessages,
                A::ApproximateNumberOfMessagesNotVisible,
            ]
            .iter()
            .map(|a| {
                attrs
                    .get(a)
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0)
            })
            .sum()
        }

        /// Receives and deletes everything in the DLQ: (body, reason attribute).
        pub async fn drain_dlq(&self) -> Vec<(String, Option<String>)> {
            let mut out = Vec::new();
            loop {
                let got = self
                    .sqs
                    .receive_message()
                    .queue_url(&self.dlq_url)
                    .max_number_of_messages(10)
                    .message_attribute_names("All")
                    .send()
                    .await
                    .unwrap()
                    .messages
                    .unwrap_or_default();
                if got.is_empty() {
                    return out;
                }
                for m in got {
                    let reason = m
                        .message_attributes
                        .as_ref()
                        .and_then(|a| a.get("reason"))
                        .and_then(|v| v.string_value.clone());
                    out.push((m.body.clone().unwrap_or_default(), reason));
                    self.sqs
                        .delete_message()
                        .queue_url(&self.dlq_url)
                        .receipt_handle(m.receipt_handle.unwrap_or_default())
                        .send()
                        .await
                        .unwrap();
                }
            }
        }

        /// Sends raw bodies to a queue (redrive, malformed input).
        pub async fn send_raw(&self, url: &str, bodies: &[&str]) {
            for body in bodies {
                self.sqs
                    .send_message()
                    .queue_url(url)
                    .message_body(*body)
                    .send()
                    .await
                    .unwrap();
            }
        }

        pub async fn reward(&self, id: &RewardId) -> Reward {
            self.store()
                .get_reward(id)
                .await
                .unwrap()
                .expect("the reward exists")
        }
    }

    /// The PERSONAL event open from yesterday for 30 days: referrer 50 COIN, referee 100
    /// COUPON, and a notification template per side ([`template`]).
    pub async fn seed_personal_event(store: &DynamoStore) {
        let personal = EventId::parse("personal").unwrap();
        let (start, end) = (
            chrono::Utc::now() - chrono::Duration::days(1),
            chrono::Utc::now() + chrono::Duration::days(30),
        );
        store
            .put_event(&event("personal", EventType::Personal))
            .await
            .unwrap();
        store
            .put_content_window(&personal, &content("w1", start, end, "50"))
            .await
            .unwrap();
        for side in [Side::Referrer, Side::Referee] {
            store
                .put_notification(&personal, &template(side, start, end))
                .await
                .unwrap();
        }
    }

    pub fn template(side: Side, start: Instant, end: Instant) -> NotificationTemplate {
        let who = side.as_str();
        NotificationTemplate {
            window_id: WindowId::parse(format!("n-{}", who.to_lowercase())).unwrap(),
            window: window(start, end),
            side,
            out_app_title: Title::parse(format!("{who}: {{amount}} {{reward_type}}")).unwrap(),
            out_app_content: MessageText::parse("Friend {referee_phone} joined").unwrap(),
            in_app_title: Title::parse(format!("{who} reward")).unwrap(),
            in_app_content: MessageText::parse("{amount} {reward_type} for {referee_phone}")
                .unwrap(),
            boxed_message: MessageText::parse("Box: {amount} {reward_type}").unwrap(),
        }
    }

    /// A PENDING reward of one side of referee `account` (terms: referrer 50 COIN, referee
    /// 100 COUPON), referee phone known.
    pub fn reward(account: &str, side: Side) -> Reward {
        reward_starting(account, side, RewardStart::Pending)
    }

    /// As [`reward`], starting as `start` says (HELD with a reason, CLAIMABLE with a deadline):
    /// the store's fixture creates what part A's qualification will.
    pub fn reward_starting(account: &str, side: Side, start: RewardStart) -> Reward {
        let now = chrono::Utc::now();
        let terms = match side {
            Side::Referrer => RewardTerms {
                reward_type: RewardType::Coin,
                amount: RewardAmount::parse("50").unwrap(),
            },
            Side::Referee => RewardTerms {
                reward_type: RewardType::Coupon,
                amount: RewardAmount::parse("100").unwrap(),
            },
        };
        let referee = referee(account, "AB2CD3", "jk-referrer");
        let mut reward = Reward::create(&referee, side, terms, now, now, start)
            .expect("an accepted member's code");
        // Stamped as a grant stamps it, so its status changes move funnel counts (ADR 0008).
        reward.funnel_day = Some(LinkSettings::default().day_of(now));
        reward
    }
}

/// The two HTTP APIs over a fresh table and queue, called in-process the way Lambda calls
/// them: each request becomes a payload 2.0 event carrying the authorizer's claims, which
/// `lambda_http` converts (the local gateway's own conversion), then the router answers.
pub mod http_support {
    use super::{TestQueue, TestTable};
    use axum::Router;
    use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
    use referral_devkit::campaign::{self, CampaignFile};
    use referral_shared::api::{admin, app};
    use referral_shared::store::prelude::*;
    use serde_json::Value;
    use std::collections::HashMap;
    use std::sync::Arc;
    use tower::ServiceExt;

    pub type Claims = HashMap<String, String>;

    /// Claims of a member token (`sub` = jkos id).
    pub fn member(jkos_id: &str) -> Option<Claims> {
        Some(HashMap::from([
            ("sub".to_owned(), jkos_id.to_owned()),
            ("iss".to_owned(), "https://issuer.example".to_owned()),
        ]))
    }

    /// Claims of an admin token (`scope` holds referral.admin among others).
    pub fn admin() -> Option<Claims> {
        Some(HashMap::from([
            ("sub".to_owned(), "admin-1".to_owned()),
            (
                "scope".to_owned(),
                format!("openid {} profile", referral_shared::api::ADMIN_SCOPE),
            ),
        ]))
    }

    pub struct Answer {
        pub status: StatusCode,
        pub headers: HeaderMap,
        pub body: Value,
    }

    impl Answer {
        /// The `error.code` of an error answer (panics on a success).
        pub fn error_code(&self) -> &str {
            self.body["error"]["code"]
                .as_str()
                .unwrap_or_else(|| panic!("not an error answer: {} {}", self.status, self.body))
        }

        pub fn error_field(&self) -> Option<&str> {
            self.body["error"]["field"].as_str()
        }
    }

    pub struct Api {
        pub table: TestTable,
        pub queue: TestQueue,
        pub app: Router,
        pub admin: Router,
        /// The share link (`GET|HEAD /r/{code}`): landing [`CODE_LANDING`], generic landing
        /// [`GENERIC_LANDING`].
        pub links: Router,
    }

    pub const CHECK_LIMIT: u32 = 5;

    /// The share link's generic landing page in the tests (malformed codes).
    pub const GENERIC_LANDING: &str = "https://app.example.com/join";
    /// The share link's answer floor in the tests: above what a lookup and a count take on
    /// DynamoDB Local (p90 ≈ 2 ms), far below the production default (25 ms) to keep tests fast.
    pub const LINK_ANSWER_FLOOR: std::time::Duration = std::time::Duration::from_millis(5);
    /// The share link's landing template in the tests (every well-formed code), as in
    /// `scripts/env.sh`.
    pub const CODE_LANDING: &str = "https://app.example.com/join?code={code}";

    impl Api {
        /// Table, queue, the sample PERSONAL campaign (config/campaigns/personal.json, code
        /// SHARE888 of demo-referrer) and both routers; the check limit is [`CHECK_LIMIT`].
        pub async fn new() -> Api {
            let table = TestTable::create().await;
            let queue = TestQueue::create().await;
            let file = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../config/campaigns/personal.json"
            );
            let campaign = CampaignFile::read(std::path::Path::new(file)).unwrap();
            campaign::load(&table.store, &campaign, chrono::Utc::now())
                .await
                .unwrap();
            let app = Self::app_router(&table, &queue);
            let admin = admin::router(
                Arc::new(table.store.clone()),
                Arc::new(queue.payout_queue()),
                referral_shared::EventId::parse("personal").unwrap(),
            );
            let links = Self::link_router(&table, Arc::new(chrono::Utc::now));
            Api {
                table,
                queue,
                app,
                admin,
                links,
            }
        }

        /// A share-link "instance" over `table` (own configuration cache), its clicks counted
        /// on the days of `clock`.
        pub fn link_router(table: &TestTable, clock: referral_shared::share_link::Clock) -> Router {
            Self::link_router_with_floor(table, clock, LINK_ANSWER_FLOOR)
        }

        /// [`Api::link_router`] with another answer floor (`Duration::ZERO`: none).
        pub fn link_router_with_floor(
            table: &TestTable,
            clock: referral_shared::share_link::Clock,
            answer_floor: std::time::Duration,
        ) -> Router {
            referral_shared::share_link::router_with_clock(
                Arc::new(table.store.clone()),
                referral_shared::share_link::ShareLinkSettings {
                    landing: referral_shared::LandingUrl::parse(CODE_LANDING).unwrap(),
                    generic_landing: referral_shared::share_link::GenericLanding::parse(
                        GENERIC_LANDING,
                    )
                    .unwrap(),
                    personal_event: referral_shared::EventId::parse("personal").unwrap(),
                    config_cache_seconds: 60,
                    answer_floor,
                },
                clock,
            )
        }

        /// Both routers over `table`, sending payout messages to `queue` (e.g. a payout
        /// bench's queue, so what they queue is then paid by the payout engine).
        pub fn routers_over(
            table: &TestTable,
            queue: referral_shared::queue::SqsPayoutQueue,
        ) -> (Router, Router) {
            let queue = Arc::new(queue);
            let app = app::router(
                Arc::new(table.store.clone()),
                queue.clone(),
                app::AppSettings {
                    personal_event: referral_shared::EventId::parse("personal").unwrap(),
                    share_link_template: "https://app.example.com/r/{code}".into(),
                    check_limit_per_minute: CHECK_LIMIT,
                    config_cache_seconds: 60,
                },
            );
            let admin = admin::router(
                Arc::new(table.store.clone()),
                queue,
                referral_shared::EventId::parse("personal").unwrap(),
            );
            (app, admin)
        }

        /// Another app "instance" over the same table (own config cache), as a second Lambda
        /// instance would be.
        pub fn app_router(table: &TestTable, queue: &TestQueue) -> Router {
            app::router(
                Arc::new(table.store.clone()),
                Arc::new(queue.payout_queue()),
                app::AppSettings {
                    personal_event: referral_shared::EventId::parse("personal").unwrap(),
                    share_link_template: "https://app.example.com/r/{code}".into(),
                    check_limit_per_minute: CHECK_LIMIT,
                    config_cache_seconds: 60,
                },
            )
        }

        pub async fn app(
            &self,
            method: &str,
            path: &str,
            body: Option<&str>,
            claims: Option<Claims>,
        ) -> Answer {
            call(&self.app, method, path, body, claims).await
        }

        pub async fn admin(
            &self,
            method: &str,
            path: &str,
            body: Option<&str>,
            claims: Option<Claims>,
        ) -> Answer {
            call(&self.admin, method, path, body, claims).await
        }

        /// An admin request with extra headers (e.g. `If-Match`).
        pub async fn admin_with(
            &self,
            method: &str,
            path: &str,
            body: Option<&str>,
            headers: &[(&str, &str)],
        ) -> Answer {
            call_with(&self.admin, method, path, body, admin(), headers).await
        }
    }

    /// A referrer `source` with `code` (PERSONAL event) and `n` referees `acc-<code>-<i>`, each
    /// with both rewards (statuses `[referrer side, referee side]`). Even-numbered referees have
    /// passed KYC, bound a device and qualified; odd ones have only used the code.
    pub async fn seed_referrer(
        api: &Api,
        source: &str,
        code: &str,
        n: usize,
        statuses: [referral_shared::RewardStatus; 2],
    ) {
        use super::fixtures::{self, at};
        use referral_shared::Side;
        let store = &api.table.store;
        // A member's code carries the keyed hash of its owner's phone (the self-referral rule's),
        // which no admin answer shows.
        let mut record = fixtures::code_record(code, "personal", source);
        record.owner_phone = Some(
            referral_shared::IdentityKey::new(vec![7; 32])
                .unwrap()
                .phone(&referral_shared::PhoneNumber::parse("0912345678").unwrap()),
        );
        store.create_code(&record).await.unwrap();
        for i in 0..n {
            let mut referee = fixtures::referee(&format!("acc-{code}-{i}"), code, source);
            if i % 2 == 0 {
                referee.kyc_pass_time = Some(at(3, 0));
                referee.device_bind_time = Some(at(3, 1));
                referee.qualified_at = Some(at(3, 1));
            }
            store.put_member(&referee).await.unwrap();
            for (side, status) in [Side::Referrer, Side::Referee].into_iter().zip(statuses) {
                store
                    .create_reward(&fixtures::reward(&referee, side, status, at(3, i as u32)))
                    .await
                    .unwrap();
            }
        }
    }

    /// One request through `router` as Lambda would deliver it.
    pub async fn call(
        router: &Router,
        method: &str,
        path: &str,
        body: Option<&str>,
        claims: Option<Claims>,
    ) -> Answer {
        call_with(router, method, path, body, claims, &[]).await
    }

    /// [`call`] with extra request headers.
    pub async fn call_with(
        router: &Router,
        method: &str,
        path: &str,
        body: Option<&str>,
        claims: Option<Claims>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("api.example.com"));
        if body.is_some() {
            headers.insert("content-type", HeaderValue::from_static("application/json"));
        }
        for (name, value) in extra {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let request = referral_devkit::gateway::lambda_request(
            &Method::from_bytes(method.as_bytes()).unwrap(),
            path,
            &headers,
            body.unwrap_or_default().as_bytes(),
            claims.as_ref(),
        )
        .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{status}: not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// Every log line and EMF metric line of the test process, captured as the functions write
/// them (telemetry's JSON format): our crates at every level, dependencies at `info`.
pub mod capture {
    use std::sync::{Arc, Mutex, OnceLock};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    static LOGS: OnceLock<Buffer> = OnceLock::new();
    static METRICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

    /// Installs the capture for this test process (once; later calls do nothing).
    pub fn install() {
        LOGS.get_or_init(|| {
            let buffer = Buffer::default();
            let writer = buffer.clone();
            referral_shared::telemetry::init_tracing_into(
                "info,referral_shared=trace,referral_devkit=trace,referral_tests=trace",
                move || writer.clone(),
            );
            referral_shared::telemetry::tap_metrics(|line| {
                METRICS.lock().unwrap().push(line.to_owned())
            });
            buffer
        });
    }

    /// The log lines so far.
    pub fn log_lines() -> Vec<String> {
        let bytes = LOGS.get().map(|b| b.0.lock().unwrap().clone());
        String::from_utf8_lossy(&bytes.unwrap_or_default())
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The EMF lines so far.
    pub fn metric_lines() -> Vec<String> {
        METRICS.lock().unwrap().clone()
    }
}

/// Every item of `table` (a Scan over all pages; tests only).
pub async fn scan_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
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

/// The randomized delivery of the consumer property tests (`consumers_property.rs`,
/// `funnel_property.rs`): records duplicated and interleaved per partition, cut into batches,
/// batches handled twice at once or redelivered.
pub mod workload {
    use super::ingest_support::{Harness, TestConsumer};
    use rand::Rng;
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use referral_devkit::msk::{self, Outgoing};
    use referral_shared::contracts::kafka::TOPIC_REGISTRATION;
    use serde_json::Value;
    use std::collections::{BTreeMap, HashSet};

    pub const PARTITIONS: i64 = 3;

    /// A benchmark's stream: the first `n` records of members 0, 1, 2… (`member_records` gives
    /// each member's, in order), as the registration topic delivers them once each: offsets in
    /// stream order, every record on its account's partition.
    pub fn member_stream(
        n: usize,
        member_records: impl FnMut(usize) -> Vec<Value>,
    ) -> Vec<Outgoing> {
        let values: Vec<Value> = (0..).flat_map(member_records).take(n).collect();
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let account = v["account_id"].as_str().unwrap();
                Outgoing::json(
                    TOPIC_REGISTRATION,
                    msk::partition_for(account, PARTITIONS),
                    i as i64,
                    v,
                )
            })
            .collect()
    }

    /// One member's records as the topic delivers them: each 1 to 3 times, shuffled, then
    /// interleaved at random positions into the stream of the member's partition (keeping their
    /// relative order there).
    pub fn deliver_interleaved(
        rng: &mut StdRng,
        per_partition: &mut BTreeMap<i64, Vec<Value>>,
        account: &str,
        events: &[Value],
    ) {
        let mut deliveries: Vec<Value> = events
            .iter()
            .flat_map(|e| std::iter::repeat_n(e.clone(), rng.random_range(1..=3)))
            .collect();
        deliveries.shuffle(rng);
        let stream = per_partition
            .entry(msk::partition_for(account, PARTITIONS))
            .or_default();
        let mut positions: Vec<usize> = (0..deliveries.len())
            .map(|_| rng.random_range(0..=stream.len()))
            .collect();
        positions.sort();
        for (shift, (pos, value)) in positions.into_iter().zip(deliveries).enumerate() {
            stream.insert(pos + shift, value);
        }
    }

    /// Cuts every partition's records into chunks; a batch takes the next chunk of some
    /// partitions. Returns the batches and the number of records.
    pub fn cut_into_batches(
        per_partition: &BTreeMap<i64, Vec<Value>>,
        rng: &mut StdRng,
    ) -> (Vec<Vec<Outgoing>>, usize) {
        let mut chunks: BTreeMap<i64, Vec<Vec<Outgoing>>> = BTreeMap::new();
        let mut total_records = 0;
        for (partition, values) in per_partition {
            let records: Vec<Outgoing> = values
                .iter()
                .enumerate()
                .map(|(offset, v)| Outgoing::json(TOPIC_REGISTRATION, *partition, offset as i64, v))
                .collect();
            total_records += records.len();
            let mut rest = records.as_slice();
            let list = chunks.entry(*partition).or_default();
            while !rest.is_empty() {
                let n = rng.random_range(1..=rest.len().min(120));
                list.push(rest[..n].to_vec());
                rest = &rest[n..];
            }
        }
        let mut batches: Vec<Vec<Outgoing>> = Vec::new();
        let mut cursors: BTreeMap<i64, usize> = chunks.keys().map(|p| (*p, 0)).collect();
        while cursors.iter().any(|(p, i)| *i < chunks[p].len()) {
            let mut batch = Vec::new();
            for (p, i) in cursors.iter_mut() {
                if *i < chunks[p].len() && rng.random_bool(0.6) {
                    batch.extend(chunks[p][*i].clone());
                    *i += 1;
                }
            }
            if !batch.is_empty() {
                batches.push(batch);
            }
        }

        (batches, total_records)
    }

    pub struct Delivered {
        pub queued: HashSet<String>,
        pub messages: usize,
        pub overlapped: usize,
        pub redelivered: usize,
    }

    /// Hands the batches to consumer `a`, 30% of them to `b` at the same time too, and 15% of the
    /// time an earlier batch to `b` again; drains the payout queue after every batch.
    pub async fn deliver(
        h: &Harness,
        batches: &[Vec<Outgoing>],
        a: &TestConsumer,
        b: &TestConsumer,
        rng: &mut StdRng,
        seed: u64,
    ) -> Delivered {
        let (mut overlapped, mut redelivered) = (0, 0);
        // Drained after every batch: moto's ReceiveMessage slows down with the queue's length.
        let mut queued: HashSet<String> = HashSet::new();
        let mut messages = 0;
        for (i, batch) in batches.iter().enumerate() {
            let event = msk::event(batch);
            if rng.random_bool(0.3) {
                // Two invocations hold the same batch at once (a retry racing a slow original).
                let (ra, rb) = tokio::join!(a.handle(&event), b.handle(&event));
                ra.unwrap_or_else(|e| panic!("seed {seed}: batch {i}: {e}"));
                rb.unwrap_or_else(|e| panic!("seed {seed}: batch {i}: {e}"));
                overlapped += 1;
            } else {
                a.handle(&event)
                    .await
                    .unwrap_or_else(|e| panic!("seed {seed}: batch {i}: {e}"));
            }
            if i > 0 && rng.random_bool(0.15) {
                // An earlier batch delivered again.
                let again = msk::event(&batches[rng.random_range(0..i)]);
                b.handle(&again)
                    .await
                    .unwrap_or_else(|e| panic!("seed {seed}: redelivery: {e}"));
                redelivered += 1;
            }
            let drained = h.queue.drain().await;
            messages += drained.len();
            queued.extend(drained);
        }
        Delivered {
            queued,
            messages,
            overlapped,
            redelivered,
        }
    }
}

/// Known and unknown share-link codes timed as an enumerating visitor would time them: many
/// codes of each kind, several GETs per code, all interleaved in a random order and sent one at
/// a time (as one Lambda instance serves them), each code scored by its median latency. Used by
/// the timing test of `tests/it/http_link.rs` and by `bench-links`.
pub mod link_timing {
    use super::fixtures::{code_record, linked_event};
    use super::http_support::call_with;
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use referral_shared::ReferralCode;
    use referral_shared::store::DynamoStore;
    use referral_shared::store::prelude::*;
    use std::collections::{BTreeMap, HashSet};
    use std::time::Instant;

    /// A browser's user agent: its visits are counted.
    pub const BROWSER: &str =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148";

    /// `n` known codes of one event `event` (with `landing`, if any) and `n` well-formed codes
    /// that do not exist, all distinct.
    pub async fn seed_codes(
        store: &DynamoStore,
        event: &str,
        landing: Option<&str>,
        n: usize,
        rng: &mut StdRng,
    ) -> (Vec<String>, Vec<String>) {
        store
            .save_event_config(&linked_event(event, landing, "Asia/Taipei"), None)
            .await
            .unwrap();
        let mut seen = HashSet::new();
        let mut fresh = || loop {
            let code = ReferralCode::generate(rng).as_str().to_owned();
            if seen.insert(code.clone()) {
                return code;
            }
        };
        let known: Vec<String> = (0..n).map(|_| fresh()).collect();
        let unknown: Vec<String> = (0..n).map(|_| fresh()).collect();
        for code in &known {
            store
                .create_code(&code_record(code, event, &format!("jk-{code}")))
                .await
                .unwrap();
        }
        (known, unknown)
    }

    /// Per-code median latency (ms) of `rounds` GETs of each code, every visit of every code
    /// shuffled together and sent one at a time: (known codes' medians, unknown codes').
    pub async fn per_code_medians(
        router: &axum::Router,
        known: &[String],
        unknown: &[String],
        rounds: usize,
        rng: &mut StdRng,
    ) -> (Vec<f64>, Vec<f64>) {
        let mut visits: Vec<(bool, &str)> = known
            .iter()
            .map(|c| (true, c.as_str()))
            .chain(unknown.iter().map(|c| (false, c.as_str())))
            .flat_map(|v| std::iter::repeat_n(v, rounds))
            .collect();
        visits.shuffle(rng);
        let mut samples: BTreeMap<(bool, &str), Vec<f64>> = BTreeMap::new();
        for (is_known, code) in visits {
            let path = format!("/r/{code}");
            let started = Instant::now();
            let answer =
                call_with(router, "GET", &path, None, None, &[("user-agent", BROWSER)]).await;
            let took = started.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(answer.status, 302, "{path}");
            samples.entry((is_known, code)).or_default().push(took);
        }
        let (mut k, mut u) = (Vec::new(), Vec::new());
        for ((is_known, _), mut times) in samples {
            times.sort_by(f64::total_cmp);
            let median = percentile(&times, 0.5);
            if is_known {
                k.push(median)
            } else {
                u.push(median)
            }
        }
        k.sort_by(f64::total_cmp);
        u.sort_by(f64::total_cmp);
        (k, u)
    }

    /// The `p` quantile (0..=1) of sorted samples (nearest rank).
    pub fn percentile(sorted: &[f64], p: f64) -> f64 {
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[i]
    }

    /// The accuracy of the best classifier "latency ≤ t is one kind, above is the other"
    /// over every threshold t and both ways round, on these labelled samples: 0.5 when the two
    /// kinds cannot be told apart at all, 1.0 when a threshold separates them.
    pub fn best_threshold_accuracy(a: &[f64], b: &[f64]) -> f64 {
        let mut all: Vec<(f64, bool)> = a
            .iter()
            .map(|x| (*x, true))
            .chain(b.iter().map(|x| (*x, false)))
            .collect();
        all.sort_by(|x, y| x.0.total_cmp(&y.0));
        let total = all.len() as f64;
        let (mut a_below, mut b_below) = (0usize, 0usize);
        // Threshold below every sample: all "above".
        let mut best = a.len().max(b.len()) as f64 / total;
        let mut i = 0;
        while i < all.len() {
            // Samples equal to the threshold fall on the same side.
            let t = all[i].0;
            while i < all.len() && all[i].0 == t {
                if all[i].1 {
                    a_below += 1
                } else {
                    b_below += 1
                }
                i += 1;
            }
            // "a below t, b above" and the other way round.
            let a_low = (a_below + (b.len() - b_below)) as f64 / total;
            let b_low = (b_below + (a.len() - a_below)) as f64 / total;
            best = best.max(a_low).max(b_low);
        }
        best
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_best_threshold_is_found_both_ways_round() {
            assert_eq!(best_threshold_accuracy(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
            assert_eq!(best_threshold_accuracy(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
            assert_eq!(best_threshold_accuracy(&[1.0, 3.0], &[2.0, 4.0]), 0.75);
            assert_eq!(best_threshold_accuracy(&[1.0, 1.0], &[1.0, 1.0]), 0.5);
        }
    }
}
