//! Member profiles (`MEMBER#<account>`): the consumers' batch read and their versioned write,
//! which carries the settlement (a new code, rewards) in the same transaction.

use super::attrs::{attr, entity_of, from_attrs};
use super::{DynamoStore, Write, funnel};
use crate::domain::{AccountId, MemberProfile, ReferralCode, ReferralCodeRecord, Settlement};
use crate::store::items::{self, Entity, Item};
use crate::store::{MemberBatches, MemberWrite, Profiles, ProfilesAndCodes, StoreError, keys};
use async_trait::async_trait;

#[async_trait]
impl Profiles for DynamoStore {
    async fn get_member(&self, account: &AccountId) -> Result<Option<MemberProfile>, StoreError> {
        self.get(
            "get_member",
            keys::member_pk(account),
            keys::MEMBER_SK,
            false,
        )
        .await
    }
}

/// The profile's Put, on condition that nobody wrote it since it was read (its version).
pub(super) fn member_write(write: &MemberWrite<'_>) -> Result<Write, StoreError> {
    let put = Write::of(&items::member_item(write.member))?;
    Ok(if write.expected_version == 0 {
        put.when("attribute_not_exists(version)", [])
    } else {
        put.when(
            "version = :v",
            [(":v", super::attrs::n(write.expected_version))],
        )
    })
}

/// The writes of a settlement that go with the profile's Put, in this order: the new code,
/// the rewards (each only if absent), the referrer's counters (only if their version is still
/// the one read) and the identity claims (only if absent).
pub(super) fn settlement_writes(settlement: &Settlement) -> Result<Vec<Write>, StoreError> {
    let mut writes = Vec::with_capacity(settlement.actions());
    if let Some(code) = &settlement.new_code {
        writes.push(Write::of(&items::code_item(code))?.if_absent());
    }
    for reward in &settlement.rewards {
        writes.push(Write::of(&items::reward_item(reward))?.if_absent());
    }
    if let Some(stats) = &settlement.rule_writes.referrer {
        let put = Write::of(&items::referrer_stats_item(stats))?;
        let read = stats.version.saturating_sub(1);
        writes.push(if read == 0 {
            put.if_absent()
        } else {
            put.when("version = :v", [(":v", super::attrs::n(read))])
        });
    }
    for claim in &settlement.rule_writes.claims {
        writes.push(Write::of(&items::identity_claim_item(claim))?.if_absent());
    }
    Ok(writes)
}

#[async_trait]
impl MemberBatches for DynamoStore {
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
            let pk = attr(&attrs, keys::PK).cloned().unwrap_or_default();
            let parsed = match entity_of(&attrs) {
                Ok(Entity::Member) => from_attrs::<Item<MemberProfile>>(attrs).map(|i| {
                    out.profiles.insert(i.data.account_id.clone(), i.data);
                }),
                Ok(Entity::Code) => from_attrs::<Item<ReferralCodeRecord>>(attrs).map(|i| {
                    out.codes.insert(i.data.code.clone(), i.data);
                }),
                Ok(other) => Err(super::attrs::corrupt(
                    &attrs,
                    format!("unexpected {other:?} under a member or code key"),
                )),
                Err(e) => Err(e),
            };
            if let Err(e) = parsed {
                tracing::error!(key = %pk, error = %e, "stored item does not map onto the domain");
                out.corrupt.insert(pk, e.to_string());
            }
        }
        Ok(out)
    }

    async fn save_member(&self, write: MemberWrite<'_>) -> Result<(), StoreError> {
        const OP: &str = "save_member";
        let member = member_write(&write)?;
        if write.settlement.is_empty() && write.funnel.is_empty() {
            return self.put(OP, member).await;
        }
        // Order matters: cancellation reasons come back in this order. The funnel's counter
        // updates come last (they have no condition; they can only meet another transaction).
        let mut writes = vec![member];
        writes.extend(settlement_writes(write.settlement)?);
        let mut actions = writes
            .iter()
            .map(|w| w.transact_item(OP, &self.table))
            .collect::<Result<Vec<_>, _>>()?;
        for update in funnel::counter_updates(write.funnel, funnel::random_shard()) {
            actions.push(funnel::update_action(&update, OP, &self.table)?);
        }
        self.transact(OP, actions, |reasons| {
            // A failed condition, or a concurrent transaction on one of the items (a hot
            // referrer's counters, typically): name the item, so the caller re-reads what it
            // decided from and decides again. When several fail, the one that explains the
            // others wins: a stale profile, code or rule item (a milestone bonus that exists is
            // the consequence of stale counters, not a reason of its own).
            let failed: Vec<usize> = ["ConditionalCheckFailed", "TransactionConflict"]
                .iter()
                .flat_map(|code| {
                    reasons
                        .iter()
                        .enumerate()
                        .filter(move |(_, r)| **r == Some(*code))
                        .map(|(i, _)| i)
                })
                .filter(|i| *i < writes.len())
                .collect();
            let explains = |i: &&usize| {
                matches!(
                    writes[**i].entity(),
                    Entity::Member | Entity::Code | Entity::ReferrerStats | Entity::IdentityClaim
                )
            };
            if let Some(at) = failed.iter().find(explains) {
                return Some(writes[*at].conflict());
            }
            // A concurrent transaction on another item (a funnel counter too): re-read and
            // re-apply, as for the profile; the retry picks another shard.
            if reasons.contains(&Some("TransactionConflict")) {
                return Some(writes[0].conflict());
            }
            failed.first().map(|at| writes[*at].conflict())
        })
        .await
    }
}
