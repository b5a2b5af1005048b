//! [`MemberGroups`]: several members' versioned writes in one TransactWriteItems (the
//! launch-day import, ADR 0007). Each member's Put carries the same condition as the
//! consumers' `save_member` (`members::member_write`), so grouping changes how many requests
//! are sent, never what may be written.

use super::members::{member_write, settlement_writes};
use super::{DynamoStore, Write};
use crate::store::{MAX_GROUP_ACTIONS, MemberGroups, MemberWrite, StoreError};
use async_trait::async_trait;

#[async_trait]
impl MemberGroups for DynamoStore {
    async fn save_members_together(&self, writes: &[MemberWrite<'_>]) -> Result<(), StoreError> {
        const OP: &str = "save_members_together";
        let mut all: Vec<Write> = Vec::new();
        for write in writes {
            all.push(member_write(write)?);
            all.extend(settlement_writes(write.settlement)?);
        }
        if all.is_empty() {
            return Ok(());
        }
        if all.len() > MAX_GROUP_ACTIONS {
            return Err(StoreError::Rejected {
                operation: OP,
                message: format!("{} actions exceed {MAX_GROUP_ACTIONS}", all.len()),
            });
        }
        let actions = all
            .iter()
            .map(|w| w.transact_item(OP, &self.table))
            .collect::<Result<Vec<_>, _>>()?;
        self.transact(OP, actions, |reasons| {
            // Reasons come back in action order; name the first item at fault.
            let failed = reasons.iter().position(|r| {
                matches!(
                    *r,
                    Some("ConditionalCheckFailed") | Some("TransactionConflict")
                )
            })?;
            Some(all[failed].conflict())
        })
        .await
    }
}
