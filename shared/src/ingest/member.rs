//! Stage 3 for one member, the effects: read the configurations the plan needs, plan, mark
//! the content window in use, write in ONE conditional write; on a conflicting writer, re-read
//! and plan again. A store error retrying cannot cure parks the member's records.

use super::ConsumerStore;
use super::batch::{Decoded, MemberGroup};
use super::plan::{self, Codes};
use super::{Consumer, IngestError};
use crate::contracts::kafka::ParkedRecord;
use crate::domain::{EventId, MemberProfile, ReferralCode, Settlement, WindowId};
use crate::queue::PayoutQueue;
use crate::store::{Entity, MemberWrite, StoreError};
use crate::time::Instant;
use std::sync::atomic::{AtomicU64, Ordering};

pub(super) enum MemberOutcome {
    Done {
        written: bool,
        settlement: Settlement,
        member: Box<MemberProfile>,
    },
    Parked(Vec<ParkedRecord>),
}

impl<S, Q> Consumer<S, Q>
where
    S: ConsumerStore + ?Sized + 'static,
    Q: PayoutQueue + ?Sized + 'static,
{
    /// Folds one member's records into their profile and writes it, re-reading on conflicts.
    pub(super) async fn apply_member(
        &self,
        group: MemberGroup,
        mut loaded: Option<MemberProfile>,
        codes: &Codes,
        now: Instant,
        conflicts: &AtomicU64,
    ) -> Result<MemberOutcome, IngestError> {
        let MemberGroup { account, records } = group;
        for attempt in 1..=self.settings.max_attempts {
            let member = plan::starting_profile(&account, loaded.take(), &records, now);
            let events = plan::events_needed(&member, &records, codes);
            let configs = match self.configs.get_many(self.store.as_ref(), &events).await {
                Ok(c) => c,
                Err(e) => return self.give_up_or_fail(e, &records, now),
            };
            let planned = plan::plan_member(
                member,
                &records,
                codes,
                &configs,
                &self.settings.personal_event,
                || ReferralCode::generate(&mut rand::rng()),
                now,
            );
            let Some(expected_version) = planned.write_over else {
                return Ok(MemberOutcome::Done {
                    written: false,
                    settlement: planned.settlement,
                    member: Box::new(planned.member),
                });
            };
            let (member, settlement) = (planned.member, planned.settlement);
            if let Some((event, window)) = &settlement.granted_under
                && let Err(e) = self.mark_window_in_use(event, window).await
            {
                return self.give_up_or_fail(e, &records, now);
            }
            let write = MemberWrite {
                member: &member,
                expected_version,
                settlement: &settlement,
            };
            match self.store.save_member(write).await {
                Ok(()) => {
                    if settlement.new_code.is_some() {
                        tracing::info!(code = %member.own_code.as_ref().map(|c| c.as_str()).unwrap_or_default(), rewards = settlement.rewards.len(), "member qualified");
                    }
                    return Ok(MemberOutcome::Done {
                        written: true,
                        settlement,
                        member: Box::new(member),
                    });
                }
                Err(StoreError::Conflict {
                    entity: entity @ (Entity::Member | Entity::Code),
                    ..
                }) => {
                    // Member: someone else wrote the profile; Code: the generated code is
                    // taken. Either way start again from the stored profile (and a new code).
                    conflicts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%entity, attempt, "write conflict; re-reading");
                    loaded = match self.store.get_member(&account).await {
                        Ok(m) => m,
                        Err(e) => return self.give_up_or_fail(e, &records, now),
                    };
                }
                Err(e) => return self.give_up_or_fail(e, &records, now),
            }
        }
        Err(IngestError::Contended {
            account: account.to_string(),
            attempts: self.settings.max_attempts,
        })
    }

    /// Marks the window rewards are about to be granted under, unless this process did already.
    /// Written BEFORE the grant's transaction: a replace that commits after this write sees the
    /// marker and refuses to delete the window (ADR 0006).
    async fn mark_window_in_use(
        &self,
        event: &EventId,
        window: &WindowId,
    ) -> Result<(), StoreError> {
        let key = (event.clone(), window.clone());
        let marked = self
            .marked_windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key);
        if marked {
            return Ok(());
        }
        self.store.mark_window_in_use(event, window).await?;
        self.marked_windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        Ok(())
    }

    /// A transient fault fails the batch; anything else (corrupt stored data, a write DynamoDB
    /// refuses) would fail forever, so the member's records are parked instead.
    pub(super) fn give_up_or_fail(
        &self,
        error: StoreError,
        records: &[Decoded],
        now: Instant,
    ) -> Result<MemberOutcome, IngestError> {
        if error.is_retryable() {
            return Err(error.into());
        }
        let reason = plan::park_reason(&error);
        let kind = reason.kind();
        for d in records {
            tracing::error!(offset = d.at.offset, %kind, error = %error, "record cannot be applied; parked");
        }
        Ok(MemberOutcome::Parked(
            records
                .iter()
                .map(|d| d.park(reason.clone(), now))
                .collect(),
        ))
    }
}
