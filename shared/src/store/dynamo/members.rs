//! Member profiles (`MEMBER#<account>`): the consumers' batch read and their versioned write,
//! which carries the settlement (a new code, rewards) in the same transaction.

use super::attrs::{attr, entity_of, from_attrs};
use super::{DynamoStore, Write};
use crate::domain::{AccountId, MemberProfile, ReferralCode, ReferralCodeRecord};
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
        if write.settlement.is_empty() {
            return self.put(OP, member).await;
        }
        // Order matters: cancellation reasons come back in this order.
        let mut writes = vec![member];
        if let Some(code) = &write.settlement.new_code {
            writes.push(Write::of(&items::code_item(code))?.if_absent());
        }
        for reward in &write.settlement.rewards {
            writes.push(Write::of(&items::reward_item(reward))?.if_absent());
        }
        let actions = writes
            .iter()
            .map(|w| w.transact_item(OP, &self.table))
            .collect::<Result<Vec<_>, _>>()?;
        self.transact(OP, actions, |reasons| {
            // A concurrent transaction on the same items: re-read and re-apply.
            if reasons.contains(&Some("TransactionConflict")) {
                return Some(writes[0].conflict());
            }
            let failed = reasons
                .iter()
                .position(|r| *r == Some("ConditionalCheckFailed"))?;
            Some(writes[failed].conflict())
        })
        .await
    }
}
