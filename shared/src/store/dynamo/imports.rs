//! [`MemberGroups`]: several members' versioned writes in one TransactWriteItems (the
//! launch-day import, ADR 0007). Each member's Put carries the same condition as the
//! consumers' `save_member` (`members::member_writes`, with the jkos id's binding), so grouping changes how many requests
//! are sent, never what may be written.

use super::members::{member_writes, settlement_writes};
use super::{DynamoStore, Write, funnel};
use crate::domain::FunnelDelta;
use crate::store::{MAX_GROUP_ACTIONS, MemberGroups, MemberWrite, StoreError};
use async_trait::async_trait;

#[async_trait]
impl MemberGroups for DynamoStore {
    async fn save_members_together(&self, writes: &[MemberWrite<'_>]) -> Result<(), StoreError> {
        const OP: &str = "save_members_together";
        let mut all: Vec<Write> = Vec::new();
        // The members' funnel counts, merged: members of one event and day share counter
        // items, and a transaction may touch an item only once.
        let mut counts = FunnelDelta::default();
        for write in writes {
            all.extend(member_writes(write)?);
            all.extend(settlement_writes(write.settlement)?);
            counts.merge(write.funnel);
        }
        if all.is_empty() {
            return Ok(());
        }
        if all.len() + counts.len() > MAX_GROUP_ACTIONS {
            return Err(StoreError::Rejected {
                operation: OP,
                message: format!(
                    "{} actions exceed {MAX_GROUP_ACTIONS}",
                    all.len() + counts.len()
                ),
            });
        }
        let mut actions = all
            .iter()
            .map(|w| w.transact_item(OP, &self.table))
            .collect::<Result<Vec<_>, _>>()?;
        for update in funnel::counter_updates(&counts, funnel::random_shard()) {
            actions.push(funnel::update_action(&update, OP, &self.table)?);
        }
        self.transact(OP, actions, |reasons| {
            // Reasons come back in action order; name the first item at fault.
            let failed = reasons.iter().position(|r| {
                matches!(
                    *r,
                    Some("ConditionalCheckFailed") | Some("TransactionConflict")
                )
            })?;
            // A counter update (after the Puts) meets only concurrent transactions: the
            // caller writes the members one by one, each re-read.
            Some(all.get(failed).unwrap_or(&all[0]).conflict())
        })
        .await
    }
}
