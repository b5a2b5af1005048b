//! The MSK consumers' engine (both `rd2_member_info` and `rd2_registration_member`).
//!
//! One invocation = one batch:
//! 1. decode every record; a malformed one is logged with its coordinates, counted and parked;
//! 2. group the valid records by member (a member's records share a partition, so their offsets
//!    give their order) and read all their profiles and used codes with BatchGetItem;
//! 3. per member, concurrently (bounded): fold the member's records into the profile in
//!    order, [`settle`](crate::domain::settle) what fell due, and write it back in ONE
//!    conditional write (a TransactWriteItems when a code or rewards are created). A concurrent
//!    writer makes the write fail; the member is re-read and the records folded again. Before
//!    the first grant under a content window, the window is marked in use (one PutItem per
//!    window per process), so an admin replace can no longer delete it (ADR 0006);
//! 4. hand the new rewards to the payout queue; and re-send the rewards of a granted member
//!    whose records changed nothing (a duplicate, typically the redelivery of a batch that
//!    crashed before its send; payout treats a paid reward as a duplicate). The sweeper
//!    catches what no redelivery repairs.
//!
//! Any transient failure fails the invocation, so Lambda retries the batch; every step is
//! idempotent, so the retry doubles nothing. See `docs/adr/0004-reward-handoff.md`.

mod config_cache;

pub use config_cache::ConfigCache;

use crate::contracts::kafka::{
    self, MemberInfo, ParkedRecord, RecordCoordinates, RecordError, RegistrationEvent,
};
use crate::domain::{
    AccountId, EventId, JkosId, MemberProfile, ReferralCode, ReferralCodeRecord, RewardId,
    Settlement, Step, WindowId, judge_referral, settle,
};
use crate::queue::PayoutQueue;
use crate::store::{Entity, MemberWrite, ReferralStore, StoreError, keys};
use crate::telemetry;
use crate::time::Instant;
use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

/// Why an invocation fails (so Lambda retries the whole batch).
#[derive(Debug, Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    #[error("member {account} still conflicts after {attempts} attempts")]
    Contended { account: String, attempts: u32 },
}

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// The PERSONAL event new referrers' codes belong to (`PERSONAL_EVENT_ID`).
    pub personal_event: EventId,
    /// Members processed at once within a batch (`MEMBER_CONCURRENCY`).
    pub concurrency: usize,
    /// Re-reads of one member after conflicting writes before the batch fails.
    pub max_attempts: u32,
    /// Topic this function is subscribed to; records of any other topic are parked.
    pub topic: &'static str,
}

impl ConsumerSettings {
    pub fn new(topic: &'static str, personal_event: EventId) -> Self {
        Self {
            personal_event,
            concurrency: 16,
            max_attempts: 8,
            topic,
        }
    }
}

/// What a batch did; also the source of its metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub records: u64,
    pub malformed: u64,
    pub parked: u64,
    pub members: u64,
    pub members_written: u64,
    pub conflicts: u64,
    pub qualified: u64,
    pub rewards_created: u64,
    pub rewards_queued: u64,
}

/// One decoded record.
#[derive(Debug, Clone)]
enum Change {
    Info(MemberInfo),
    Registration(RegistrationEvent),
}

#[derive(Debug, Clone)]
struct Decoded {
    at: RecordCoordinates,
    change: Change,
    /// The raw record, kept in case applying it fails for good and it must be parked.
    raw: KafkaRecord,
}

impl Decoded {
    fn account(&self) -> &AccountId {
        match &self.change {
            Change::Info(info) => &info.account_id,
            Change::Registration(event) => &event.member().account_id,
        }
    }

    fn jkos_id(&self) -> &JkosId {
        match &self.change {
            Change::Info(info) => &info.jkos_id,
            Change::Registration(event) => &event.member().jkos_id,
        }
    }
}

/// The consumer: build once per process, share across invocations.
pub struct Consumer<S: ?Sized, Q: ?Sized> {
    store: Arc<S>,
    queue: Arc<Q>,
    configs: ConfigCache,
    settings: ConsumerSettings,
    /// Content windows this process has marked in use (the marker is written once per window
    /// per process; it never goes away, so the cache never needs to forget).
    marked_windows: std::sync::Mutex<HashSet<(EventId, WindowId)>>,
}

impl<S, Q> Consumer<S, Q>
where
    S: ReferralStore + ?Sized + 'static,
    Q: PayoutQueue + ?Sized + 'static,
{
    pub fn new(
        store: Arc<S>,
        queue: Arc<Q>,
        configs: ConfigCache,
        settings: ConsumerSettings,
    ) -> Self {
        Self {
            store,
            queue,
            configs,
            settings,
            marked_windows: Default::default(),
        }
    }

    /// Marks the window rewards are about to be granted under, unless this process did already.
    /// Written BEFORE the grant's transaction: a replace that commits after this write sees the
    /// marker and refuses to delete the window (ADR 0006).
    async fn mark_window_in_use(
        &self,
        event: &EventId,
        window: &WindowId,
    ) -> Result<(), StoreError> {
        let key = (event.clone(), window.clone());
        let marked = self
            .marked_windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key);
        if marked {
            return Ok(());
        }
        self.store.mark_window_in_use(event, window).await?;
        self.marked_windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        Ok(())
    }

    /// Handles one MSK batch. `Err` means "retry the batch": only transient faults get here.
    pub async fn handle(&self, event: &KafkaEvent) -> Result<BatchReport, IngestError> {
        let now = chrono::Utc::now();
        let mut report = BatchReport::default();
        let mut per_topic: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut parked = Vec::new();
        let mut by_member: HashMap<AccountId, Vec<Decoded>> = HashMap::new();

        for record in event.records.values().flatten() {
            report.records += 1;
            let at = coordinates(record);
            let counts = per_topic.entry(at.topic.clone()).or_default();
            counts.0 += 1;
            match self.decode(&at, record) {
                Ok(change) => {
                    let decoded = Decoded {
                        at,
                        change,
                        raw: record.clone(),
                    };
                    by_member
                        .entry(decoded.account().clone())
                        .or_default()
                        .push(decoded);
                }
                Err(reason) => {
                    counts.1 += 1;
                    report.malformed += 1;
                    let kind = reason.kind();
                    tracing::warn!(record = %at, %kind, error = %reason, "malformed record parked");
                    parked.push(ParkedRecord::new(
                        &at,
                        record.key.as_deref(),
                        record.value.as_deref(),
                        reason,
                        now,
                    ));
                }
            }
        }
        for records in by_member.values_mut() {
            records.sort_by(|a, b| a.at.cmp(&b.at));
        }
        report.members = by_member.len() as u64;

        // Reads for the whole batch: profiles and used codes, in the same BatchGetItem.
        let accounts: Vec<AccountId> = by_member.keys().cloned().collect();
        let codes: Vec<ReferralCode> = by_member
            .values()
            .flatten()
            .filter_map(|d| match &d.change {
                Change::Registration(RegistrationEvent::ReferralCodeUsed { code, .. }) => {
                    Some(code.clone())
                }
                _ => None,
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let read = self.store.profiles_and_codes(&accounts, &codes).await?;
        let (mut members, codes, corrupt) = (read.profiles, read.codes, read.corrupt);
        let codes = Arc::new(codes);

        let conflicts = AtomicU64::new(0);
        let outcomes: Vec<MemberOutcome> =
            stream::iter(by_member.into_iter().map(|(account, records)| {
                let loaded = members.remove(&account);
                let codes = codes.clone();
                let conflicts = &conflicts;
                // A stored profile or used code that does not map onto the domain: park this
                // member's records instead of failing (and forever retrying) the whole batch.
                let broken = std::iter::once(keys::member_pk(&account))
                    .chain(records.iter().filter_map(|d| match &d.change {
                        Change::Registration(RegistrationEvent::ReferralCodeUsed {
                            code, ..
                        }) => Some(keys::code_pk(code)),
                        _ => None,
                    }))
                    .find_map(|pk| corrupt.get(&pk).map(|why| (pk, why.clone())));
                async move {
                    if let Some((key, message)) = broken {
                        let error = StoreError::Corrupt { key, message };
                        return self.give_up_or_fail(error, &records, now);
                    }
                    self.apply_member(account, loaded, records, &codes, now, conflicts)
                        .await
                }
            }))
            .buffer_unordered(self.settings.concurrency.max(1))
            .try_collect()
            .await?;
        report.conflicts = conflicts.load(Ordering::Relaxed);

        let mut to_queue: Vec<RewardId> = Vec::new();
        for outcome in outcomes {
            match outcome {
                MemberOutcome::Done {
                    written,
                    settlement,
                    member,
                } => {
                    report.members_written += u64::from(written);
                    report.qualified += u64::from(settlement.new_code.is_some());
                    report.rewards_created += settlement.rewards.len() as u64;
                    // New rewards are queued; a member the batch did not change is a
                    // duplicate, likely a redelivery after a crash: re-send its rewards.
                    if written {
                        to_queue.extend(settlement.rewards.iter().map(|r| r.reward_id.clone()));
                    } else {
                        to_queue.extend(member.granted_rewards());
                    }
                }
                MemberOutcome::Parked(records) => parked.extend(records),
            }
        }

        report.parked = parked.len() as u64;
        stream::iter(parked.iter().map(|p| self.store.park_record(p)))
            .buffer_unordered(self.settings.concurrency.max(1))
            .try_collect::<Vec<_>>()
            .await?;

        // Hand-off to payout. A crash before this line leaves the rewards PENDING and the
        // batch unacknowledged: the retry re-sends them (see the module comment).
        if !to_queue.is_empty() {
            self.queue.enqueue(&to_queue).await?;
            report.rewards_queued = to_queue.len() as u64;
        }

        let ns = telemetry::namespace();
        for (topic, (records, malformed)) in &per_topic {
            telemetry::emit(&telemetry::emf(
                &ns,
                &[("Topic", topic)],
                &[("Records", *records), ("MalformedRecords", *malformed)],
                now,
            ));
        }
        telemetry::emit(&telemetry::emf(
            &ns,
            &[("Function", self.settings.topic)],
            &[
                ("Qualified", report.qualified),
                ("RewardsCreated", report.rewards_created),
                ("RewardsQueued", report.rewards_queued),
                ("ParkedRecords", report.parked),
                ("WriteConflicts", report.conflicts),
            ],
            now,
        ));
        tracing::info!(
            records = report.records,
            members = report.members,
            written = report.members_written,
            malformed = report.malformed,
            qualified = report.qualified,
            rewards = report.rewards_created,
            "batch applied"
        );
        Ok(report)
    }

    fn decode(&self, at: &RecordCoordinates, record: &KafkaRecord) -> Result<Change, RecordError> {
        let unexpected = || RecordError::UnexpectedTopic {
            expected: self.settings.topic.to_owned(),
        };
        if at.topic != self.settings.topic {
            return Err(unexpected());
        }
        let bytes = kafka::decode_value(record.value.as_deref())?;
        match at.topic.as_str() {
            kafka::TOPIC_MEMBER_INFO => MemberInfo::parse(&bytes).map(Change::Info),
            kafka::TOPIC_REGISTRATION => RegistrationEvent::parse(&bytes).map(Change::Registration),
            _ => Err(unexpected()),
        }
    }

    /// Folds one member's records into their profile and writes it, re-reading on conflicts.
    async fn apply_member(
        &self,
        account: AccountId,
        mut loaded: Option<MemberProfile>,
        records: Vec<Decoded>,
        codes: &HashMap<ReferralCode, ReferralCodeRecord>,
        now: Instant,
        conflicts: &AtomicU64,
    ) -> Result<MemberOutcome, IngestError> {
        // Configurations of every event this member may need (cached across invocations).
        let mut events: Vec<EventId> = Vec::new();
        for d in &records {
            if let Change::Registration(RegistrationEvent::ReferralCodeUsed { code, .. }) =
                &d.change
                && let Some(record) = codes.get(code)
                && !events.contains(&record.event_id)
            {
                events.push(record.event_id.clone());
            }
        }
        for attempt in 1..=self.settings.max_attempts {
            let mut member = match loaded.take() {
                Some(m) => m,
                None => MemberProfile::new(account.clone(), records[0].jkos_id().clone(), now),
            };
            if let Some((_, event, _)) = member.accepted_referral()
                && !events.contains(event)
            {
                events.push(event.clone());
            }
            let configs = match self.configs.get_many(self.store.as_ref(), &events).await {
                Ok(c) => c,
                Err(e) => return self.give_up_or_fail(e, &records, now),
            };
            let expected = member.version;
            let original = member.clone();
            for d in &records {
                apply(&mut member, d, codes, &configs, now);
            }
            let mut settlement = Settlement::default();
            if member.has_due_effects() {
                let referral_config = member
                    .accepted_referral()
                    .and_then(|(_, event, _)| configs.get(event))
                    .map(Arc::as_ref);
                settlement = settle(
                    &mut member,
                    &self.settings.personal_event,
                    referral_config,
                    || ReferralCode::generate(&mut rand::rng()),
                    now,
                );
            }
            if member == original {
                return Ok(MemberOutcome::Done {
                    written: false,
                    settlement,
                    member: Box::new(member),
                });
            }
            if let Some((event, window)) = &settlement.granted_under
                && let Err(e) = self.mark_window_in_use(event, window).await
            {
                return self.give_up_or_fail(e, &records, now);
            }
            member.version = expected + 1;
            let write = MemberWrite {
                member: &member,
                expected_version: expected,
                settlement: &settlement,
            };
            match self.store.save_member(write).await {
                Ok(()) => {
                    if settlement.new_code.is_some() {
                        tracing::info!(account = %account, code = %member.own_code.as_ref().map(|c| c.as_str()).unwrap_or_default(), rewards = settlement.rewards.len(), "member qualified");
                    }
                    return Ok(MemberOutcome::Done {
                        written: true,
                        settlement,
                        member: Box::new(member),
                    });
                }
                Err(StoreError::Conflict {
                    entity: entity @ (Entity::Member | Entity::Code),
                    ..
                }) => {
                    // Member: someone else wrote the profile; Code: the generated code is
                    // taken. Either way start again from the stored profile (and a new code).
                    conflicts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(account = %account, %entity, attempt, "write conflict; re-reading");
                    loaded = match self.store.get_member(&account).await {
                        Ok(m) => m,
                        Err(e) => return self.give_up_or_fail(e, &records, now),
                    };
                }
                Err(e) => return self.give_up_or_fail(e, &records, now),
            }
        }
        Err(IngestError::Contended {
            account: account.to_string(),
            attempts: self.settings.max_attempts,
        })
    }

    /// A transient fault fails the batch; anything else (corrupt stored data, a write DynamoDB
    /// refuses) would fail forever, so the member's records are parked instead.
    fn give_up_or_fail(
        &self,
        error: StoreError,
        records: &[Decoded],
        now: Instant,
    ) -> Result<MemberOutcome, IngestError> {
        if error.is_retryable() {
            return Err(error.into());
        }
        // The reason is typed: DynamoDB's text stays in the log line, out of the parked record.
        let reason = match &error {
            StoreError::Corrupt { key, .. } => RecordError::CorruptState { key: key.clone() },
            StoreError::Rejected { operation, .. } => RecordError::RejectedWrite {
                operation: (*operation).to_owned(),
            },
            StoreError::Conflict { entity, .. } => RecordError::RejectedWrite {
                operation: format!("{entity} write"),
            },
            _ => RecordError::RejectedWrite {
                operation: "write".to_owned(),
            },
        };
        let kind = reason.kind();
        for d in records {
            tracing::error!(record = %d.at, %kind, error = %error, "record cannot be applied; parked");
        }
        Ok(MemberOutcome::Parked(
            records
                .iter()
                .map(|d| {
                    ParkedRecord::new(
                        &d.at,
                        d.raw.key.as_deref(),
                        d.raw.value.as_deref(),
                        reason.clone(),
                        now,
                    )
                })
                .collect(),
        ))
    }
}

enum MemberOutcome {
    Done {
        written: bool,
        settlement: Settlement,
        member: Box<MemberProfile>,
    },
    Parked(Vec<ParkedRecord>),
}

/// Applies one record to a profile; true if it changed anything.
fn apply(
    member: &mut MemberProfile,
    d: &Decoded,
    codes: &HashMap<ReferralCode, ReferralCodeRecord>,
    configs: &HashMap<EventId, Arc<crate::domain::EventConfig>>,
    now: Instant,
) -> bool {
    match &d.change {
        Change::Info(info) => member.record_member_info(
            &info.jkos_id,
            &info.jkos_account,
            &info.phone_number,
            info.created_at,
            now,
        ),
        Change::Registration(event) => {
            let phone = event.member().phone_number.as_ref();
            match event {
                RegistrationEvent::DeviceBound { occurred_at, .. } => {
                    member.record_step(Step::DeviceBound, *occurred_at, phone, now)
                }
                RegistrationEvent::KycPassed { occurred_at, .. } => {
                    member.record_step(Step::KycPassed, *occurred_at, phone, now)
                }
                RegistrationEvent::ReferralCodeUsed {
                    code, occurred_at, ..
                } => {
                    let record = codes.get(code);
                    let config = record
                        .and_then(|r| configs.get(&r.event_id))
                        .map(Arc::as_ref);
                    let used = judge_referral(member, code.clone(), *occurred_at, record, config);
                    if let crate::domain::ReferralOutcome::Rejected { reason } = &used.outcome {
                        tracing::info!(record = %d.at, ?reason, "referral code rejected");
                    }
                    member.record_referral(used, phone, now)
                }
            }
        }
    }
}

fn coordinates(record: &KafkaRecord) -> RecordCoordinates {
    RecordCoordinates {
        topic: record.topic.clone().unwrap_or_default(),
        partition: record.partition,
        offset: record.offset,
    }
}

/// The production wiring of a consumer from the environment (`TABLE_NAME`, `PAYOUT_QUEUE_URL`,
/// `PERSONAL_EVENT_ID`, `MEMBER_CONCURRENCY`, `CONFIG_CACHE_SECONDS`). Build once per process.
pub async fn consumer_from_env(
    topic: &'static str,
) -> Result<
    Consumer<crate::store::DynamoStore, crate::queue::SqsPayoutQueue>,
    crate::config::ConfigError,
> {
    let store = crate::config::StoreConfig::from_env()?;
    let consumer = crate::config::ConsumerConfig::from_env()?;
    let sdk = crate::config::aws_sdk_config().await;
    let mut settings = ConsumerSettings::new(topic, consumer.personal_event);
    settings.concurrency = consumer.concurrency;
    Ok(Consumer::new(
        Arc::new(crate::store::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            store.table_name,
        )),
        Arc::new(crate::queue::SqsPayoutQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            consumer.payout_queue_url,
        )),
        ConfigCache::new(std::time::Duration::from_secs(
            consumer.config_cache_seconds,
        )),
        settings,
    ))
}

/// The Lambda entry point of an MSK consumer of `topic`: wiring from the environment, then one
/// [`Consumer::handle`] per invocation. `Err` (a transient fault) makes Lambda retry the batch;
/// an event that is not an MSK event is refused as an error (a miswired trigger must not look
/// like an empty batch).
pub async fn serve(topic: &'static str) -> Result<(), lambda_runtime::Error> {
    use crate::lambda::{InvocationError, kafka_event};
    telemetry::init_tracing();
    let function = match topic {
        crate::contracts::kafka::TOPIC_MEMBER_INFO => "member-info-consumer",
        _ => "registration-consumer",
    };
    let consumer = Arc::new(consumer_from_env(topic).await?);
    crate::lambda::run(function, move |payload, _| {
        let consumer = consumer.clone();
        async move {
            let event = kafka_event(payload)?;
            consumer.handle(&event).await.map(|_| ()).map_err(|e| {
                tracing::error!(error = %e, "batch failed; it will be retried");
                InvocationError::Failed {
                    kind: "BatchFailed",
                    message: e.to_string(),
                }
            })
        }
    })
    .await
}
