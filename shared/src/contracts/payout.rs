//! The payout queue's message: which reward to pay. Everything else is read from the reward
//! record, so a message is tiny, carries no personal data and can be re-sent freely (the
//! payout function treats a reward that is already SUCCESS as a duplicate).

use crate::domain::RewardId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutMessage {
    pub reward_id: RewardId,
}

impl PayoutMessage {
    pub fn body(&self) -> String {
        // A struct of one validated string always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trips_and_rejects_bad_ids() {
        let msg = PayoutMessage {
            reward_id: RewardId::parse("acc-1-referee").unwrap(),
        };
        assert_eq!(msg.body(), r#"{"reward_id":"acc-1-referee"}"#);
        assert_eq!(PayoutMessage::parse(&msg.body()).unwrap(), msg);
        assert!(PayoutMessage::parse(r#"{"reward_id":"nope"}"#).is_err());
    }
}
