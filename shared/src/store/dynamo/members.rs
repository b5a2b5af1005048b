//! Member profiles (`MEMBER#<account>`): the consumers' batch read and their versioned write,
//! which carries the settlement (a new code, rewards) in the same transaction.

use super::attrs::{attr, classify, entity_of, from_attrs};
use super::{DynamoStore, Index, SortKey, Write, funnel};
use crate::domain::{
    AccountId, JkosId, MemberProfile, ReferralCode, ReferralCodeRecord, Reward, RewardGrant,
    RewardId, Settlement, Side,
};
use crate::store::items::{self, Entity, Item};
use crate::store::{
    MemberBatches, MemberWrite, Profiles, ProfilesAndCodes, Registration, Registrations,
    RewardReads, StoreError, keys,
};
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

#[async_trait]
impl Registrations for DynamoStore {
    async fn registration(&self, account: &AccountId) -> Result<Option<Registration>, StoreError> {
        const OP: &str = "registration";
        let [referee, referrer] =
            [Side::Referee, Side::Referrer].map(|s| RewardId::new(account, s));
        let rows = self
            .batch_get(
                OP,
                vec![
                    (keys::member_pk(account), keys::MEMBER_SK),
                    (keys::reward_pk(&referee), keys::REWARD_SK),
                    (keys::reward_pk(&referrer), keys::REWARD_SK),
                ],
            )
            .await?;
        let (mut profile, mut referee_reward, mut referrer_reward) = (None, None, None);
        for attrs in rows {
            match entity_of(&attrs)? {
                Entity::Member => profile = Some(from_attrs::<Item<MemberProfile>>(attrs)?.data),
                Entity::Reward => {
                    let reward = from_attrs::<Item<Reward>>(attrs)?.data;
                    match reward.side {
                        Side::Referee => referee_reward = Some(reward),
                        Side::Referrer => referrer_reward = Some(reward),
                    }
                }
                other => {
                    return Err(super::attrs::corrupt(
                        &attrs,
                        format!("unexpected {other:?} under a member or reward key"),
                    ));
                }
            }
        }
        Ok(profile.map(|profile| Registration {
            profile,
            referee_reward,
            referrer_reward,
        }))
    }

    async fn my_registration(&self, member: &JkosId) -> Result<Option<Registration>, StoreError> {
        const OP: &str = "my_registration";
        let out = self
            .query(Index::Gsi3, &keys::payee_gsi3pk(member), &SortKey::Any)
            .limit(2)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let mut rows = out.items.unwrap_or_default().into_iter();
        let profile = match rows.next() {
            Some(attrs) if entity_of(&attrs)? == Entity::Member => {
                from_attrs::<Item<MemberProfile>>(attrs)?.data
            }
            // No profile in the partition: only rewards (a profile not backfilled yet), or
            // nothing.
            _ => return Ok(None),
        };
        let own = RewardId::new(&profile.account_id, Side::Referee);
        let mut referee_reward = match rows.next() {
            Some(attrs) if entity_of(&attrs)? == Entity::Reward => {
                Some(from_attrs::<Item<Reward>>(attrs)?.data).filter(|r| r.reward_id == own)
            }
            _ => None,
        };
        if referee_reward.is_none()
            && matches!(profile.reward_grant, Some(RewardGrant::Issued { .. }))
        {
            // Created after one of my referrer rewards (the grant waited for my phone while
            // my referees qualified), or the index lags: read it directly.
            referee_reward = self.get_reward(&own).await?;
        }
        Ok(Some(Registration {
            profile,
            referee_reward,
            referrer_reward: None,
        }))
    }
}

/// The profile's Put, on condition that nobody wrote it since it was read (its version), and,
/// while the profile does not say its jkos id is bound, the binding's Put on condition that no
/// other account holds that jkos id (ADR 0010). The profile is then written saying it is bound.
pub(super) fn member_writes(write: &MemberWrite<'_>) -> Result<Vec<Write>, StoreError> {
    let condition = |put: Write| {
        if write.expected_version == 0 {
            put.when("attribute_not_exists(version)", [])
        } else {
            put.when(
                "version = :v",
                [(":v", super::attrs::n(write.expected_version))],
            )
        }
    };
    if write.member.jkos_id_bound {
        return Ok(vec![condition(Write::of(&items::member_item(
            write.member,
        ))?)]);
    }
    let bound = MemberProfile {
        jkos_id_bound: true,
        ..write.member.clone()
    };
    let binding = items::JkosBinding {
        jkos_id: bound.jkos_id.clone(),
        account_id: bound.account_id.clone(),
        bound_at: bound.updated_at,
    };
    Ok(vec![
        condition(Write::of(&items::member_item(&bound))?),
        Write::of(&items::jkos_binding_item(&binding))?.when(
            "attribute_not_exists(PK) OR account_id = :account",
            [(":account", super::attrs::s(bound.account_id.as_str()))],
        ),
    ])
}

/// The writes of a settlement that go with the profile's Put, in this order: the new code,
/// the rewards (each only if absent), the referrer's counters (only if their version is still
/// the one read) and the identity claims (only if absent, or still naming the released claim's
/// account they replace).
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
        let put = Write::of(&items::identity_claim_item(claim))?;
        writes.push(match &claim.replaces {
            None => put.if_absent(),
            // Over a released claim: only if it still names the account read (two referees
            // taking it over at once: one wins, the other re-reads and finds it taken).
            Some(previous) => put.when(
                "attribute_not_exists(PK) OR account_id = :prev",
                [(":prev", super::attrs::s(previous.as_str()))],
            ),
        });
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

    async fn possibly_unqueued(&self, ids: &[RewardId]) -> Result<Vec<RewardId>, StoreError> {
        const OP: &str = "possibly_unqueued";
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys = ids
            .iter()
            .map(|id| (keys::reward_pk(id), keys::REWARD_SK))
            .collect();
        // What is not known to be queued or done is sent: a reward that is not found (it must
        // exist: the profile says it was granted) or does not map onto the domain is sent too,
        // and payout dead-letters it visibly; never a failed batch.
        let mut out: std::collections::HashSet<RewardId> = ids.iter().cloned().collect();
        for attrs in self.batch_get(OP, keys).await? {
            let key = attr(&attrs, keys::PK).cloned().unwrap_or_default();
            match from_attrs::<Item<Reward>>(attrs) {
                Ok(read) if !read.data.may_be_unqueued() => {
                    out.remove(&read.data.reward_id);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(key = %key, error = %e, "stored reward does not map onto the domain; re-sent for payout to dead-letter");
                }
            }
        }
        Ok(ids.iter().filter(|id| out.contains(*id)).cloned().collect())
    }

    async fn save_member(&self, write: MemberWrite<'_>) -> Result<(), StoreError> {
        const OP: &str = "save_member";
        let mut writes = member_writes(&write)?;
        if writes.len() == 1 && write.settlement.is_empty() && write.funnel.is_empty() {
            return self.put(OP, writes.remove(0)).await;
        }
        // Order matters: cancellation reasons come back in this order (the profile first, its
        // binding second when there is one). The funnel's counter updates come last (they have
        // no condition; they can only meet another transaction).
        writes.extend(settlement_writes(write.settlement)?);
        // A transaction that met another only on a funnel counter (every member write of an
        // event shares its day's few counter items) is sent again at once on other shards, after
        // a short random pause: nothing it decided from changed, so re-reading the member would
        // only cost a batch retry under load. The profile's condition still guards each attempt.
        let mut attempt = 1;
        loop {
            let counter_only = std::sync::atomic::AtomicBool::new(false);
            let result = self
                .save_member_once(&writes, write.funnel, &counter_only)
                .await;
            if result.is_ok()
                || !counter_only.load(std::sync::atomic::Ordering::Relaxed)
                || attempt >= COUNTER_CONFLICT_ATTEMPTS
            {
                return result;
            }
            let pause = rand::random_range(5..=20u64) * u64::from(attempt);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            attempt += 1;
        }
    }
}

/// Attempts at a member's transaction that conflicted on funnel counters only (see
/// `save_member`), before the conflict goes to the caller (who re-reads and re-applies).
const COUNTER_CONFLICT_ATTEMPTS: u32 = 8;

impl DynamoStore {
    /// One attempt at a member's transaction: the writes, then the funnel's counter updates on
    /// a random shard. `counter_only` is set when it was cancelled only by another transaction
    /// on a counter item.
    async fn save_member_once(
        &self,
        writes: &[Write],
        funnel_delta: &crate::domain::FunnelDelta,
        counter_only: &std::sync::atomic::AtomicBool,
    ) -> Result<(), StoreError> {
        const OP: &str = "save_member";
        let mut actions = writes
            .iter()
            .map(|w| w.transact_item(OP, &self.table))
            .collect::<Result<Vec<_>, _>>()?;
        for update in funnel::counter_updates(funnel_delta, funnel::random_shard()) {
            actions.push(funnel::update_action(&update, OP, &self.table)?);
        }
        self.transact(OP, actions, |reasons| {
            let entities: Vec<Entity> = writes.iter().map(Write::entity).collect();
            let judged = judge_cancellation(&entities, reasons)?;
            counter_only.store(judged.counters_only, std::sync::atomic::Ordering::Relaxed);
            Some(writes[judged.at].conflict())
        })
        .await
    }
}

/// What a cancelled member transaction comes to: the write to name in the conflict (the caller
/// re-reads and decides again, or parks on a jkos binding that names another account), and
/// whether only funnel counters met another transaction (`save_member` then sends it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cancellation {
    at: usize,
    counters_only: bool,
}

/// Judges the cancellation reasons of a member transaction whose first `entities.len()`
/// actions are its writes (the profile first) and the rest funnel counter updates. A failed
/// condition, or a concurrent transaction on one of the items (a hot referrer's counters,
/// typically), names the item; when several fail, the one that explains the others wins: a
/// stale profile, code or rule item (a milestone bonus that exists is the consequence of stale
/// counters, not a reason of its own). The jkos binding's failed condition is final; a
/// concurrent transaction on it (another account's first write with the same jkos id, or this
/// account's in another invocation) is re-read like the profile.
fn judge_cancellation(entities: &[Entity], reasons: &[Option<&str>]) -> Option<Cancellation> {
    const FAILED: &str = "ConditionalCheckFailed";
    const CONFLICT: &str = "TransactionConflict";
    let named = |at| Cancellation {
        at,
        counters_only: false,
    };
    let failed: Vec<usize> = [FAILED, CONFLICT]
        .iter()
        .flat_map(|code| {
            reasons
                .iter()
                .enumerate()
                .filter(move |(_, r)| **r == Some(*code))
                .map(|(i, _)| i)
        })
        .filter(|i| *i < entities.len())
        .collect();
    let explains = |i: &&usize| {
        matches!(
            entities[**i],
            Entity::Member
                | Entity::Code
                | Entity::ReferrerStats
                | Entity::IdentityClaim
                | Entity::JkosBinding
        )
    };
    if let Some(&at) = failed.iter().find(explains) {
        if entities[at] == Entity::JkosBinding && reasons[at] != Some(FAILED) {
            return Some(named(0));
        }
        return Some(named(at));
    }
    // A concurrent transaction on another item only: when every conflict is on a funnel
    // counter, `save_member` sends it again on other shards; otherwise re-read and re-apply,
    // as for the profile.
    if reasons.contains(&Some(CONFLICT)) {
        let on_counters = reasons
            .iter()
            .enumerate()
            .all(|(i, r)| i >= entities.len() || !matches!(r, Some(c) if *c != "None"));
        return Some(Cancellation {
            at: 0,
            counters_only: failed.is_empty() && on_counters,
        });
    }
    failed.first().map(|&at| named(at))
}

#[cfg(test)]
mod tests {
    use super::{Cancellation, Entity, judge_cancellation};

    /// Every row: the writes' entities, DynamoDB's cancellation reasons (writes, then counter
    /// updates) → the write named and whether only counters conflicted.
    #[test]
    fn a_cancelled_member_transaction_names_the_write_that_explains_it() {
        use Entity::*;
        let (f, c, n) = (
            Some("ConditionalCheckFailed"),
            Some("TransactionConflict"),
            Some("None"),
        );
        let at = |at| {
            Some(Cancellation {
                at,
                counters_only: false,
            })
        };
        type Row<'a> = (
            &'a str,
            Vec<Entity>,
            Vec<Option<&'a str>>,
            Option<Cancellation>,
        );
        let rows: Vec<Row> = vec![
            (
                "stale profile",
                vec![Member, JkosBinding],
                vec![f, n],
                at(0),
            ),
            (
                "jkos id taken by another account: the binding, final",
                vec![Member, JkosBinding],
                vec![n, f],
                at(1),
            ),
            (
                "stale profile and binding taken: the profile first",
                vec![Member, JkosBinding],
                vec![f, f],
                at(0),
            ),
            (
                "a concurrent transaction on the binding: re-read the profile",
                vec![Member, JkosBinding],
                vec![n, c],
                at(0),
            ),
            (
                "code taken",
                vec![Member, Code, Reward],
                vec![n, f, n],
                at(1),
            ),
            (
                "a rule item beats an existing reward",
                vec![Member, Reward, ReferrerStats],
                vec![n, f, c],
                at(2),
            ),
            ("a reward alone", vec![Member, Reward], vec![n, f], at(1)),
            (
                "counters only",
                vec![Member, Reward],
                vec![n, n, c, n],
                Some(Cancellation {
                    at: 0,
                    counters_only: true,
                }),
            ),
            (
                "a counter and a reward",
                vec![Member, Reward],
                vec![n, c, c],
                at(0),
            ),
            ("nothing named", vec![Member], vec![n, n], None),
        ];
        for (name, entities, reasons, expected) in rows {
            assert_eq!(judge_cancellation(&entities, &reasons), expected, "{name}");
        }
    }
}
