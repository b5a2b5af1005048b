//! [`RuleStates`]: the reward rules' stored state (a referrer's counters, the claims of a
//! phone and a device), read in one BatchGetItem. They are written with the grant, in the
//! consumer's transaction (`members::settlement_writes`).
//!
//! A claim found is checked against the referee reward it was written for (one more
//! BatchGetItem, only when a claim exists): a reward that ended unpaid (REJECTED, EXPIRED)
//! released it, so the phone or device may be rewarded again (`docs/rules.md`).

use super::attrs::{classify, entity_of, from_attrs};
use super::{DynamoStore, Index, SortKey};
use crate::domain::{
    AccountId, EventId, FactKeys, IdentityClaim, IdentityKind, JkosId, MemberProfile, PhoneNumber,
    ReferralSource, ReferrerStats, Reward, RewardId, RuleFacts, Side,
};
use crate::store::items::{Entity, Item};
use crate::store::{CollectionEntry, Collections, PageRequest};
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
        if let Some(owner) = &wanted.owner_phone_of {
            facts.owner_phone = self.owner_phone(owner).await?;
        }
        if batch.is_empty() {
            return Ok(facts);
        }
        let mut claims: Vec<(IdentityKind, AccountId)> = Vec::new();
        for attrs in self.batch_get("rule_facts", batch).await? {
            match entity_of(&attrs)? {
                Entity::ReferrerStats => {
                    facts.referrer = Some(from_attrs::<Item<ReferrerStats>>(attrs)?.data);
                }
                Entity::IdentityClaim => {
                    let claim = from_attrs::<Item<IdentityClaim>>(attrs)?.data;
                    claims.push((claim.kind, claim.account_id));
                }
                other => {
                    return Err(super::attrs::corrupt(
                        &attrs,
                        format!("unexpected {other:?} under a reward rule key"),
                    ));
                }
            }
        }
        if let (Some(referrer), None) = (&wanted.referrer, &facts.referrer) {
            facts.referrer = Some(self.rebuilt_stats(event, referrer).await?);
        }
        let released = self.released_claims(&claims).await?;
        for (kind, account) in claims {
            let (owner, freed) = match kind {
                IdentityKind::Phone => (&mut facts.phone_owner, &mut facts.phone_released),
                IdentityKind::Device => (&mut facts.device_owner, &mut facts.device_released),
            };
            if released.contains(&account) {
                *freed = Some(account);
            } else {
                *owner = Some(account);
            }
        }
        Ok(facts)
    }
}

impl DynamoStore {
    /// The phone on a code owner's profile, found by their jkos id (1 Query on GSI3
    /// `PAYEE#<jkos id>` / `#PROFILE`). None: no profile there (not backfilled yet) or no phone.
    async fn owner_phone(&self, owner: &JkosId) -> Result<Option<PhoneNumber>, StoreError> {
        let profile_only = SortKey::Between(
            keys::PROFILE_GSI3SK.to_owned(),
            keys::PROFILE_GSI3SK.to_owned(),
        );
        let out = self
            .query(Index::Gsi3, &keys::payee_gsi3pk(owner), &profile_only)
            .send()
            .await
            .map_err(|e| classify("owner_phone", e))?;
        match out.items.unwrap_or_default().into_iter().next() {
            Some(attrs) => Ok(from_attrs::<Item<MemberProfile>>(attrs)?.data.phone_number),
            None => Ok(None),
        }
    }

    /// A referrer without counters in `event`: their counters rebuilt from their collection
    /// (every page; GSI1, eventually consistent — see `docs/rules.md`). Once per referrer and
    /// event: the grant writes the counters.
    async fn rebuilt_stats(
        &self,
        event: &EventId,
        referrer: &JkosId,
    ) -> Result<ReferrerStats, StoreError> {
        let source = ReferralSource::from(referrer);
        let (mut referees, mut rewards) = (Vec::new(), Vec::new());
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let found = self.referrer_collection(&source, page).await?;
            for entry in found.items {
                match entry {
                    CollectionEntry::Referee(m) => referees.push(*m),
                    CollectionEntry::Reward(r) => rewards.push(*r),
                    CollectionEntry::Code(_) => {}
                }
            }
            match found.next {
                Some(cursor) => page = PageRequest::after(PageRequest::MAX_LIMIT, cursor),
                None => break,
            }
        }
        Ok(ReferrerStats::rebuilt(
            event.clone(),
            referrer.clone(),
            &referees,
            &rewards,
        ))
    }

    /// The accounts among `claims` whose rewards all ended unpaid: the referee reward the claim
    /// was written with, and the referrer's reward for that referee if there is one (a claim
    /// released while the referrer was paid for that referee would pay the referrer twice for
    /// one phone or device). A claim is written in the same transaction as the referee reward,
    /// so that reward exists; any reward still open (or paid) keeps the claim counting.
    async fn released_claims(
        &self,
        claims: &[(IdentityKind, AccountId)],
    ) -> Result<Vec<AccountId>, StoreError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let rewards = claims
            .iter()
            .flat_map(|(_, account)| Side::BOTH.map(|side| RewardId::new(account, side)))
            .map(|id| (keys::reward_pk(&id), keys::REWARD_SK))
            .collect();
        // Per claimed account: (its referee reward ended unpaid, none of its rewards is open).
        let mut ended: std::collections::HashMap<AccountId, (bool, bool)> = Default::default();
        for attrs in self.batch_get("released_claims", rewards).await? {
            let reward = from_attrs::<Item<Reward>>(attrs)?.data;
            let unpaid = reward.status.ended_unpaid();
            let entry = ended
                .entry(reward.referee_account_id.clone())
                .or_insert((false, true));
            if reward.side == Side::Referee {
                entry.0 = unpaid;
            }
            entry.1 &= unpaid;
        }
        Ok(ended
            .into_iter()
            .filter(|(_, (referee_unpaid, all_unpaid))| *referee_unpaid && *all_unpaid)
            .map(|(account, _)| account)
            .collect())
    }
}
