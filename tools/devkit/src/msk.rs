//! Builds Lambda MSK events the way MSK delivers them: records grouped by `topic-partition`,
//! key and value base64-encoded, offsets increasing per partition. Used by the dev command
//! (`referral-dev publish`) and by the tests, so both feed the consumers real-shaped events.

use aws_lambda_events::event::kafka::KafkaEvent;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One record to deliver: the member's account id is the key, `value` the JSON payload
/// (or, for malformed-record tests, any raw string).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
}

impl Outgoing {
    /// A well-formed record: `value` serialized and base64-encoded, keyed by its `account_id`.
    pub fn json(topic: &str, partition: i64, offset: i64, value: &Value) -> Self {
        let key = value.get("account_id").and_then(Value::as_str).map(b64);
        Self {
            topic: topic.to_owned(),
            partition,
            offset,
            key,
            value: Some(b64(&value.to_string())),
        }
    }

    /// A record whose value is exactly `raw_base64` (it may not even be base64).
    pub fn raw(topic: &str, partition: i64, offset: i64, raw_base64: Option<&str>) -> Self {
        Self {
            topic: topic.to_owned(),
            partition,
            offset,
            key: None,
            value: raw_base64.map(str::to_owned),
        }
    }
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The partition a key lands on (stable, like Kafka's default partitioner keeps a key on one
/// partition; the exact hash does not matter locally).
pub fn partition_for(key: &str, partitions: i64) -> i64 {
    let hash = key.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    (hash % partitions.max(1) as u64) as i64
}

/// The JSON of an MSK event (what `cargo lambda invoke --data-file` takes).
pub fn event_json(records: &[Outgoing]) -> Value {
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in records {
        groups
            .entry(format!("{}-{}", r.topic, r.partition))
            .or_default()
            .push(json!({
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "timestamp": 1_795_000_000_000i64 + r.offset,
                "timestampType": "CREATE_TIME",
                "key": r.key,
                "value": r.value,
                "headers": [],
            }));
    }
    json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:ap-northeast-1:123456789012:cluster/local/00000000-0000-0000-0000-000000000000-1",
        "bootstrapServers": "b-1.local:9098",
        "records": groups,
    })
}

/// The same, as the typed event the consumers take.
pub fn event(records: &[Outgoing]) -> KafkaEvent {
    serde_json::from_value(event_json(records)).expect("the MSK event shape deserializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_topic_partition_and_encodes_key_and_value() {
        let v = json!({"type": "KYC_PASSED", "account_id": "acc-1"});
        let event = event(&[
            Outgoing::json("rd2_registration_member", 1, 7, &v),
            Outgoing::json("rd2_registration_member", 0, 3, &v),
        ]);
        assert_eq!(event.records.len(), 2);
        let r = &event.records["rd2_registration_member-1"][0];
        assert_eq!(r.offset, 7);
        assert_eq!(r.key.as_deref(), Some(b64("acc-1").as_str()));
        let value = base64::engine::general_purpose::STANDARD
            .decode(r.value.as_deref().unwrap())
            .unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&value).unwrap(), v);
        assert_eq!(partition_for("acc-1", 3), partition_for("acc-1", 3));
        assert!((0..3).contains(&partition_for("acc-2", 3)));
    }
}
