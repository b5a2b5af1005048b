//! Storage: the ports (small traits in domain terms, `ports.rs`) and their DynamoDB
//! single-table implementation (`dynamo/`). Keys live in `keys.rs`, item shapes in `items.rs`.
//!
//! Who uses which port is listed in `docs/architecture.md`. Tools and tests that need all of
//! them import [`prelude`].

mod dynamo;
mod error;
pub mod items;
pub mod keys;
mod paging;
mod ports;
mod versioned;

pub use dynamo::DynamoStore;
pub use error::StoreError;
pub use items::Entity;
pub use paging::{Cursor, Page, PageRequest};
pub(crate) use ports::port_sum;
pub use ports::{
    Clicks, Codes, CollectionEntry, Collections, EventReads, EventWrites, Fixtures, FunnelCounts,
    MAX_EVENT_WRITES, MAX_GROUP_ACTIONS, MemberBatches, MemberGroups, MemberRewards, MemberWrite,
    Parking, Profiles, ProfilesAndCodes, RateLimits, ReferralStore, Registration, Registrations,
    RewardReads, RewardWrites, RuleStates, WindowMarks,
};
pub use versioned::{Applied, PlannedWrite, apply_versioned};

/// Every port trait, for code that calls store methods on a concrete [`DynamoStore`].
pub mod prelude {
    pub use super::{
        Clicks, Codes, Collections, EventReads, EventWrites, Fixtures, FunnelCounts, MemberBatches,
        MemberGroups, MemberRewards, Parking, Profiles, RateLimits, ReferralStore, Registrations,
        RewardReads, RewardWrites, RuleStates, WindowMarks,
    };
}

use crate::domain::ReferralCodeRecord;

/// Creates a new code from `make` (typically random), retrying on a collision: the
/// conditional write is what detects it, never a read beforehand.
pub async fn create_unique_code<S, F>(
    store: &S,
    attempts: u32,
    mut make: F,
) -> Result<ReferralCodeRecord, StoreError>
where
    S: Codes + ?Sized,
    F: FnMut() -> ReferralCodeRecord,
{
    let mut last = None;
    for _ in 0..attempts.max(1) {
        let record = make();
        match store.create_code(&record).await {
            Ok(()) => return Ok(record),
            Err(e @ StoreError::Conflict { .. }) => {
                tracing::warn!(code = %record.code, "generated referral code collided; retrying");
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(StoreError::Conflict {
        entity: Entity::Code,
        key: String::new(),
    }))
}
