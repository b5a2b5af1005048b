//! [`RuleStates`]: the reward rules' stored state (a referrer's counters, the claims of a
//! phone and a device), read in one BatchGetItem. They are written with the grant, in the
//! consumer's transaction (`members::settlement_writes`).

use super::DynamoStore;
use super::attrs::{entity_of, from_attrs};
use crate::domain::{FactKeys, IdentityClaim, IdentityKind, ReferrerStats, RuleFacts};
use crate::store::items::{Entity, Item};
use crate::store::{RuleStates, StoreError, keys};
use async_trait::async_trait;

#[async_trait]
impl RuleStates for DynamoStore {
    async fn rule_facts(&self, wanted: &FactKeys) -> Result<RuleFacts, StoreError> {
        let event = &wanted.event_id;
        let mut batch: Vec<(String, &'static str)> = Vec::new();
        if let Some(referrer) = &wanted.referrer {
            batch.push((
                keys::referrer_stats_pk(event, referrer),
                keys::REFERRER_STATS_SK,
            ));
        }
        for (kind, hash) in [
            (IdentityKind::Phone, &wanted.phone),
            (IdentityKind::Device, &wanted.device),
        ] {
            if let Some(hash) = hash {
                batch.push((keys::identity_claim_pk(kind, hash), keys::IDENTITY_CLAIM_SK));
            }
        }
        let mut facts = RuleFacts::default();
        if batch.is_empty() {
            return Ok(facts);
        }
        for attrs in self.batch_get("rule_facts", batch).await? {
            match entity_of(&attrs)? {
                Entity::ReferrerStats => {
                    facts.referrer = Some(from_attrs::<Item<ReferrerStats>>(attrs)?.data);
                }
                Entity::IdentityClaim => {
                    let claim = from_attrs::<Item<IdentityClaim>>(attrs)?.data;
                    match claim.kind {
                        IdentityKind::Phone => facts.phone_owner = Some(claim.account_id),
                        IdentityKind::Device => facts.device_owner = Some(claim.account_id),
                    }
                }
                other => {
                    return Err(super::attrs::corrupt(
                        &attrs,
                        format!("unexpected {other:?} under a reward rule key"),
                    ));
                }
            }
        }
        Ok(facts)
    }
}
