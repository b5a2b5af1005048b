//! The read-modify-write of one member profile under the consumers' optimistic lock, for
//! writers other than the consumer engine (the launch-day import, ADR 0007): plan from the
//! stored profile, write with [`MemberBatches::save_member`], and on a conflict re-read and
//! plan again. The consumer engine (`ingest/member.rs`) runs the same loop with its own
//! parking and metrics around it.

use super::{Entity, MemberBatches, MemberWrite, Profiles, StoreError};
use crate::domain::{AccountId, FunnelDelta, MemberProfile, Settlement};

/// What one attempt decided to write: the new profile (its `version` already
/// `expected_version + 1`) and its settlement.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedWrite {
    pub member: MemberProfile,
    pub settlement: Settlement,
    pub expected_version: u64,
    /// What the write adds to the funnel (`domain::funnel_delta` of the profile as read and
    /// `member`).
    pub funnel: FunnelDelta,
}

/// What [`apply_versioned`] ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The stored profile (or its absence) already held everything: nothing was written.
    Unchanged {
        /// Whether a profile existed.
        existed: bool,
    },
    /// Written; `existed` tells a created profile from a completed one.
    Written {
        existed: bool,
        member: Box<MemberProfile>,
        settlement: Box<Settlement>,
    },
}

/// Plans from `loaded` (the profile as read, `None` = absent) and writes, re-reading after a
/// conflicting writer (`Conflict(Member)`) or a generated code that exists (`Conflict(Code)`),
/// at most `max_attempts` times; then the last conflict is returned. `plan` returns `None`
/// when there is nothing to write. Other errors are returned as they are (the caller decides
/// whether to retry an `Unavailable`).
pub async fn apply_versioned<S, F>(
    store: &S,
    account: &AccountId,
    mut loaded: Option<MemberProfile>,
    max_attempts: u32,
    mut plan: F,
) -> Result<Applied, StoreError>
where
    S: MemberBatches + Profiles + ?Sized,
    F: FnMut(Option<&MemberProfile>) -> Option<PlannedWrite>,
{
    let mut last = None;
    for _ in 0..max_attempts.max(1) {
        let existed = loaded.is_some();
        let Some(planned) = plan(loaded.as_ref()) else {
            return Ok(Applied::Unchanged { existed });
        };
        let write = MemberWrite {
            member: &planned.member,
            expected_version: planned.expected_version,
            settlement: &planned.settlement,
            funnel: &planned.funnel,
        };
        match store.save_member(write).await {
            Ok(()) => {
                return Ok(Applied::Written {
                    existed,
                    member: Box::new(planned.member),
                    settlement: Box::new(planned.settlement),
                });
            }
            Err(
                e @ StoreError::Conflict {
                    entity: Entity::Member | Entity::Code,
                    ..
                },
            ) => {
                last = Some(e);
                loaded = store.get_member(account).await?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(StoreError::Conflict {
        entity: Entity::Member,
        key: super::keys::member_pk(account),
    }))
}
