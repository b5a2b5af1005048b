//! Stage 1 of a batch, pure: decode every record and group the valid ones by member, in
//! offset order; a record that does not decode becomes a parked record at once.

use crate::contracts::kafka::{
    self, MemberInfo, ParkedRecord, RecordCoordinates, RecordError, RegistrationEvent,
};
use crate::domain::{AccountId, JkosId, ReferralCode};
use crate::time::Instant;
use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One decoded record.
#[derive(Debug, Clone)]
pub(super) enum Change {
    Info(MemberInfo),
    Registration(RegistrationEvent),
}

#[derive(Debug, Clone)]
pub(super) struct Decoded {
    pub at: RecordCoordinates,
    pub change: Change,
    /// The raw record, kept in case applying it fails for good and it must be parked.
    pub raw: KafkaRecord,
}

impl Decoded {
    pub fn account(&self) -> &AccountId {
        match &self.change {
            Change::Info(info) => &info.account_id,
            Change::Registration(event) => &event.member().account_id,
        }
    }

    pub fn jkos_id(&self) -> &JkosId {
        match &self.change {
            Change::Info(info) => &info.jkos_id,
            Change::Registration(event) => &event.member().jkos_id,
        }
    }

    /// The referral code this record uses, if it is a `REFERRAL_CODE_USED`.
    pub fn used_code(&self) -> Option<&ReferralCode> {
        match &self.change {
            Change::Registration(RegistrationEvent::ReferralCodeUsed { code, .. }) => Some(code),
            _ => None,
        }
    }

    /// This record, parked for `reason`.
    pub fn park(&self, reason: RecordError, now: Instant) -> ParkedRecord {
        park(&self.at, &self.raw, reason, now)
    }
}

/// The parked copy of the record at `at` (decoded and masked by [`ParkedRecord::new`]).
fn park(
    at: &RecordCoordinates,
    raw: &KafkaRecord,
    reason: RecordError,
    now: Instant,
) -> ParkedRecord {
    ParkedRecord::new(at, raw.key.as_deref(), raw.value.as_deref(), reason, now)
}

/// One member's records of the batch, in offset order (a member's records share a partition).
#[derive(Debug, Clone)]
pub(super) struct MemberGroup {
    pub account: AccountId,
    pub records: Vec<Decoded>,
}

impl MemberGroup {
    /// The span every line logged about this member inherits: the member and where its
    /// records sit in the topic.
    pub fn span(&self) -> tracing::Span {
        let first = self.records.first().map(|d| &d.at);
        let last = self.records.last().map(|d| &d.at);
        tracing::info_span!(
            "member",
            account = %self.account,
            topic = first.map(|a| a.topic.as_str()).unwrap_or_default(),
            partition = first.map(|a| a.partition).unwrap_or_default(),
            first_offset = first.map(|a| a.offset).unwrap_or_default(),
            last_offset = last.map(|a| a.offset).unwrap_or_default(),
            records = self.records.len(),
        )
    }
}

/// A record that did not decode, with the reason (logged and parked by the effects stage).
#[derive(Debug, Clone)]
pub(super) struct Malformed {
    pub at: RecordCoordinates,
    pub reason: RecordError,
    pub parked: ParkedRecord,
}

/// What stage 1 makes of a batch.
#[derive(Debug, Clone, Default)]
pub(super) struct DecodedBatch {
    pub records: u64,
    /// Per topic: (records, malformed records), for the per-topic metrics.
    pub per_topic: BTreeMap<String, (u64, u64)>,
    pub malformed: Vec<Malformed>,
    /// `DEVICE_BOUND` records whose `device_id` was unusable and dropped (the step is kept).
    pub unusable_device_ids: u64,
    pub groups: Vec<MemberGroup>,
    /// Every code a record uses, once: read with the profiles.
    pub codes: Vec<ReferralCode>,
}

/// Decodes and groups the records of `event` for the consumer of `topic` (a record of another
/// topic is parked as unexpected).
pub(super) fn decode_batch(event: &KafkaEvent, topic: &str, now: Instant) -> DecodedBatch {
    let mut batch = DecodedBatch::default();
    let mut by_member: HashMap<AccountId, Vec<Decoded>> = HashMap::new();
    for record in event.records.values().flatten() {
        batch.records += 1;
        let at = coordinates(record);
        let counts = batch.per_topic.entry(at.topic.clone()).or_default();
        counts.0 += 1;
        match decode_record(topic, &at, record) {
            Ok(change) => {
                if let Change::Registration(RegistrationEvent::DeviceBound {
                    unusable_device_id: Some(rule),
                    ..
                }) = &change
                {
                    batch.unusable_device_ids += 1;
                    tracing::warn!(
                        record = %at,
                        field = "device_id",
                        rule = %rule,
                        "unusable device_id dropped; the DEVICE_BOUND step is kept"
                    );
                }
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
                let parked = park(&at, record, reason.clone(), now);
                batch.malformed.push(Malformed { at, reason, parked });
            }
        }
    }
    let codes: HashSet<&ReferralCode> = by_member
        .values()
        .flatten()
        .filter_map(Decoded::used_code)
        .collect();
    batch.codes = codes.into_iter().cloned().collect();
    batch.groups = by_member
        .into_iter()
        .map(|(account, mut records)| {
            records.sort_by(|a, b| a.at.cmp(&b.at));
            MemberGroup { account, records }
        })
        .collect();
    batch
}

fn decode_record(
    topic: &str,
    at: &RecordCoordinates,
    record: &KafkaRecord,
) -> Result<Change, RecordError> {
    let unexpected = || RecordError::UnexpectedTopic {
        expected: topic.to_owned(),
    };
    if at.topic != topic {
        return Err(unexpected());
    }
    let bytes = kafka::decode_value(record.value.as_deref())?;
    match at.topic.as_str() {
        kafka::TOPIC_MEMBER_INFO => MemberInfo::parse(&bytes).map(Change::Info),
        kafka::TOPIC_REGISTRATION => RegistrationEvent::parse(&bytes).map(Change::Registration),
        _ => Err(unexpected()),
    }
}

fn coordinates(record: &KafkaRecord) -> RecordCoordinates {
    RecordCoordinates {
        topic: record.topic.clone().unwrap_or_default(),
        partition: record.partition,
        offset: record.offset,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::contracts::kafka::{TOPIC_MEMBER_INFO, TOPIC_REGISTRATION};
    use base64::Engine;

    pub fn record(topic: &str, partition: i64, offset: i64, value: Option<&str>) -> KafkaRecord {
        let mut r = KafkaRecord::default();
        r.topic = Some(topic.to_owned());
        r.partition = partition;
        r.offset = offset;
        r.value = value.map(|v| base64::engine::general_purpose::STANDARD.encode(v));
        r
    }

    pub fn event(records: Vec<KafkaRecord>) -> KafkaEvent {
        let mut e = KafkaEvent::default();
        for r in records {
            let key = format!("{}-{}", r.topic.clone().unwrap_or_default(), r.partition);
            e.records.entry(key).or_default().push(r);
        }
        e
    }

    pub fn used(account: &str, code: &str, at: &str) -> String {
        format!(
            r#"{{"type":"REFERRAL_CODE_USED","account_id":"{account}","jkos_id":"jk-{account}","referral_code":"{code}","occurred_at":"{at}"}}"#
        )
    }

    pub fn step(kind: &str, account: &str, at: &str) -> String {
        format!(
            r#"{{"type":"{kind}","account_id":"{account}","jkos_id":"jk-{account}","occurred_at":"{at}"}}"#
        )
    }

    fn now() -> Instant {
        chrono::Utc::now()
    }

    /// Every row: the records of a batch → (members and their offsets in order, malformed
    /// kinds, codes to read).
    #[test]
    fn records_are_grouped_by_member_in_offset_order_and_bad_ones_parked() {
        let t = "2026-11-20T09:00:00Z";
        type Row = (
            &'static str,
            Vec<KafkaRecord>,
            Vec<(&'static str, Vec<i64>)>,
            Vec<&'static str>,
            Vec<&'static str>,
        );
        let rows: Vec<Row> = vec![
            ("empty batch", vec![], vec![], vec![], vec![]),
            (
                "one member, offsets out of order",
                vec![
                    record(TOPIC_REGISTRATION, 0, 7, Some(&step("KYC_PASSED", "a", t))),
                    record(TOPIC_REGISTRATION, 0, 5, Some(&used("a", "SHARE888", t))),
                    record(
                        TOPIC_REGISTRATION,
                        0,
                        6,
                        Some(&step("DEVICE_BOUND", "a", t)),
                    ),
                ],
                vec![("a", vec![5, 6, 7])],
                vec![],
                vec!["SHARE888"],
            ),
            (
                "two members, one code used twice",
                vec![
                    record(TOPIC_REGISTRATION, 0, 1, Some(&used("a", "SHARE888", t))),
                    record(TOPIC_REGISTRATION, 1, 1, Some(&used("b", "SHARE888", t))),
                ],
                vec![("a", vec![1]), ("b", vec![1])],
                vec![],
                vec!["SHARE888"],
            ),
            (
                "malformed and foreign records are parked, the rest grouped",
                vec![
                    record(TOPIC_REGISTRATION, 0, 1, Some("{not json")),
                    record(TOPIC_REGISTRATION, 0, 2, None),
                    record(TOPIC_MEMBER_INFO, 0, 3, Some(&step("KYC_PASSED", "a", t))),
                    record(TOPIC_REGISTRATION, 0, 4, Some(&step("KYC_PASSED", "a", t))),
                ],
                vec![("a", vec![4])],
                vec!["bad_json", "missing_value", "unexpected_topic"],
                vec![],
            ),
        ];
        for (name, records, groups, malformed, codes) in rows {
            let batch = decode_batch(&event(records.clone()), TOPIC_REGISTRATION, now());
            assert_eq!(batch.records, records.len() as u64, "{name}");
            let mut got: Vec<(String, Vec<i64>)> = batch
                .groups
                .iter()
                .map(|g| {
                    (
                        g.account.to_string(),
                        g.records.iter().map(|d| d.at.offset).collect(),
                    )
                })
                .collect();
            got.sort();
            let want: Vec<(String, Vec<i64>)> =
                groups.into_iter().map(|(a, o)| (a.to_owned(), o)).collect();
            assert_eq!(got, want, "{name}");
            let mut kinds: Vec<&str> = batch
                .malformed
                .iter()
                .map(|m| m.reason.kind().as_str())
                .collect();
            kinds.sort();
            assert_eq!(kinds, malformed, "{name}");
            let codes_read: Vec<&str> = batch.codes.iter().map(|c| c.as_str()).collect();
            assert_eq!(codes_read, codes, "{name}");
            let malformed_count: u64 = batch.per_topic.values().map(|(_, m)| m).sum();
            assert_eq!(malformed_count, batch.malformed.len() as u64, "{name}");
        }
    }
}
