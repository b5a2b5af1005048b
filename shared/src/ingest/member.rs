//! Stage 3 for one member, the effects: read the configurations the plan needs, plan, mark
//! the content window in use, write in ONE conditional write; on a conflicting writer, re-read
//! and plan again. A store error retrying cannot cure parks the member's records.

use super::ConsumerStore;
use super::batch::{Decoded, MemberGroup};
use super::plan::{self, Codes, Rules};
use super::{Consumer, IngestError};
use crate::contracts::kafka::ParkedRecord;
use crate::domain::{
    EventId, JkosId, MemberProfile, ReferralCode, RuleFacts, Settlement, Undecided, WindowId,
};
use crate::queue::PayoutQueue;
use crate::store::{Entity, MemberWrite, StoreError};
use crate::time::Instant;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One turn at a time per referrer within a batch: the members of one hot referrer decide
/// from the referrer's counters and write them one after the other instead of racing (and
/// conflicting) on the same item; other referrers' members run alongside. Another invocation
/// can still race this one: that is what the conditional write and the retry are for.
#[derive(Default)]
pub(super) struct ReferrerTurns(std::sync::Mutex<HashMap<(EventId, JkosId), Turn>>);

type Turn = Arc<tokio::sync::Mutex<()>>;

impl ReferrerTurns {
    async fn take(&self, event: &EventId, referrer: &JkosId) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((event.clone(), referrer.clone()))
            .or_default()
            .clone();
        turn.lock_owned().await
    }
}

pub(super) enum MemberOutcome {
    Done {
        written: bool,
        settlement: Box<Settlement>,
        member: Box<MemberProfile>,
        /// The records that carried another jkos id than the profile's: parked.
        foreign: Vec<ParkedRecord>,
    },
    Parked(Vec<ParkedRecord>),
}

impl<S, Q> Consumer<S, Q>
where
    S: ConsumerStore + ?Sized + 'static,
    Q: PayoutQueue + ?Sized + 'static,
{
    /// Folds one member's records into their profile and writes it, re-reading on conflicts.
    /// When the event's reward rules depend on stored state (a referrer's counters, a phone's
    /// or device's claim), that state is read (1 BatchGetItem) and the member planned again
    /// from the same profile: the grant and its counters are then written in the profile's one
    /// transaction, each conditional on what was read. A conflict on a rule's item (a hot
    /// referrer) is retried after a short random pause, up to `max_rule_attempts` times.
    pub(super) async fn apply_member(
        &self,
        group: MemberGroup,
        mut loaded: Option<MemberProfile>,
        codes: &Codes,
        now: Instant,
        conflicts: &AtomicU64,
        turns: &ReferrerTurns,
    ) -> Result<MemberOutcome, IngestError> {
        let MemberGroup { account, records } = group;
        let key = self.settings.identity_key.as_ref();
        let (mut member_conflicts, mut rule_conflicts) = (0u32, 0u32);
        loop {
            let member = plan::starting_profile(&account, loaded.take(), &records, now);
            let events = plan::events_needed(&member, &records, codes);
            let configs = match self.configs.get_many(self.store.as_ref(), &events).await {
                Ok(c) => c,
                Err(e) => return self.give_up_or_fail(e, &records, now),
            };
            let plan_with = |member: MemberProfile, facts: Option<&RuleFacts>| {
                plan::plan_member(
                    member,
                    &records,
                    codes,
                    &configs,
                    &self.settings.personal_event,
                    Rules { key, facts },
                    || ReferralCode::generate(&mut rand::rng()),
                    now,
                )
            };
            let mut planned = plan_with(member.clone(), None);
            let mut turn = None;
            if let Some(Undecided::NeedFacts(wanted)) = &planned.settlement.undecided {
                if let Some(referrer) = &wanted.referrer {
                    turn = Some(turns.take(&wanted.event_id, referrer).await);
                }
                let facts = match self.store.rule_facts(wanted).await {
                    Ok(f) => f,
                    Err(e) => return self.give_up_or_fail(e, &records, now),
                };
                planned = plan_with(member, Some(&facts));
            }
            if let Some(Undecided::NoIdentityKey) = &planned.settlement.undecided {
                tracing::error!(
                    "the event's reward rules need IDENTITY_HASH_KEY, which this function lacks; the grant stays due"
                );
            }
            let foreign = || plan::foreign_records(&planned.member, &records, now);
            let Some(expected_version) = planned.write_over else {
                return Ok(MemberOutcome::Done {
                    written: false,
                    foreign: foreign(),
                    settlement: Box::new(planned.settlement),
                    member: Box::new(planned.member),
                });
            };
            let foreign = foreign();
            let (member, settlement, funnel) = (planned.member, planned.settlement, planned.funnel);
            if let Some((event, window)) = &settlement.granted_under
                && let Err(e) = self.mark_window_in_use(event, window).await
            {
                return self.give_up_or_fail(e, &records, now);
            }
            let write = MemberWrite {
                member: &member,
                expected_version,
                settlement: &settlement,
                funnel: &funnel,
            };
            match self.store.save_member(write).await {
                Ok(()) => {
                    if settlement.new_code.is_some() {
                        tracing::info!(code = %member.own_code.as_ref().map(|c| c.as_str()).unwrap_or_default(), rewards = settlement.rewards.len(), "member qualified");
                    }
                    return Ok(MemberOutcome::Done {
                        written: true,
                        foreign,
                        settlement: Box::new(settlement),
                        member: Box::new(member),
                    });
                }
                Err(StoreError::Conflict { entity, .. })
                    if matches!(
                        entity,
                        Entity::Member
                            | Entity::Code
                            | Entity::ReferrerStats
                            | Entity::IdentityClaim
                    ) =>
                {
                    // Member: someone else wrote the profile; Code: the generated code is
                    // taken; a rule's item: another referee's grant changed what this one was
                    // decided from. Either way start again from the stored state.
                    conflicts.fetch_add(1, Ordering::Relaxed);
                    let rule_item = matches!(entity, Entity::ReferrerStats | Entity::IdentityClaim);
                    let (count, limit) = if rule_item {
                        rule_conflicts += 1;
                        (rule_conflicts, self.settings.max_rule_attempts)
                    } else {
                        member_conflicts += 1;
                        (member_conflicts, self.settings.max_attempts)
                    };
                    if count >= limit {
                        break;
                    }
                    tracing::debug!(%entity, attempt = count, "write conflict; re-reading");
                    drop(turn);
                    if rule_item {
                        let pause = rand::random_range(1..=10u64) * u64::from(count.min(10));
                        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                    }
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
            attempts: member_conflicts + rule_conflicts,
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
