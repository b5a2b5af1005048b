//! Rewards (`REWARD#<id>`): reads, and every status change as one conditional write whose
//! condition is built from the lifecycle (`domain/lifecycle.rs`, docs/reward-lifecycle.md), so
//! a change the lifecycle does not allow is refused by DynamoDB whatever races with it. A
//! change that moves the reward between funnel counters (ADR 0008) is a TransactWriteItems of
//! the reward's update and the counters' -1/+1, conditioned on the status read.

use super::attrs::{Attrs, failure, n, s, unbuilt};
use super::{DynamoStore, Index, SortKey, funnel};
use crate::domain::{
    DeadlineRule, JkosId, NotificationOutcome, ReasonCode, Reward, RewardId, RewardStatus,
    RewardTransition, reward_status_delta,
};
use crate::store::items::Entity;
use crate::store::{MemberRewards, Page, PageRequest, RewardReads, RewardWrites, StoreError, keys};
use crate::time::{self, Instant};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

#[async_trait]
impl RewardReads for DynamoStore {
    async fn get_reward(&self, reward: &RewardId) -> Result<Option<Reward>, StoreError> {
        self.get("get_reward", keys::reward_pk(reward), keys::REWARD_SK, true)
            .await
    }

    async fn rewards_by_status(
        &self,
        status: RewardStatus,
        page: PageRequest,
    ) -> Result<Page<Reward>, StoreError> {
        let pk = keys::reward_status_gsi2pk(status);
        self.typed_page("rewards_by_status", Index::Gsi2, &pk, &SortKey::Any, page)
            .await
    }

    async fn pending_rewards_before(
        &self,
        cutoff: Instant,
        page: PageRequest,
    ) -> Result<Page<Reward>, StoreError> {
        let pk = keys::reward_status_gsi2pk(RewardStatus::Pending);
        let before = SortKey::Before(time::format(&cutoff));
        self.typed_page("pending_rewards_before", Index::Gsi2, &pk, &before, page)
            .await
    }

    async fn claimable_rewards_due(
        &self,
        now: Instant,
        page: PageRequest,
    ) -> Result<Page<Reward>, StoreError> {
        let pk = keys::reward_status_gsi2pk(RewardStatus::Claimable);
        let due = SortKey::Before(keys::claimable_due_bound(&now));
        self.typed_page("claimable_rewards_due", Index::Gsi2, &pk, &due, page)
            .await
    }
}

#[async_trait]
impl MemberRewards for DynamoStore {
    async fn member_rewards(
        &self,
        member: &JkosId,
        page: PageRequest,
    ) -> Result<Page<Reward>, StoreError> {
        let pk = keys::payee_gsi3pk(member);
        // The member's profile shares the partition (sorting first, `#PROFILE`): rewards only.
        let rewards = SortKey::After(keys::PROFILE_GSI3SK.to_owned());
        self.typed_page("member_rewards", Index::Gsi3, &pk, &rewards, page)
            .await
    }
}

/// One UpdateItem of a reward: what to set (and remove), under which condition.
struct RewardUpdate {
    update: String,
    condition: String,
    values: Attrs,
}

/// A status change as asked: the transition, its instant, and what it sets and removes
/// besides the status. [`Change::update`] builds the write for the statuses it may start from.
struct Change {
    transition: RewardTransition,
    at: Instant,
    set: &'static str,
    remove: &'static [&'static str],
    values: Vec<(&'static str, AttributeValue)>,
}

impl Change {
    fn new(
        transition: RewardTransition,
        at: Instant,
        set: &'static str,
        values: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> Self {
        Self {
            transition,
            at,
            set,
            remove: &[],
            values: values.into_iter().collect(),
        }
    }

    /// The write (docs/reward-lifecycle.md): sets the status and the GSI2 partition listing
    /// rewards by status, plus `set`/`remove`, on condition that the stored status is one of
    /// `from` (the lifecycle's [`RewardTransition::from`], or the one status read when the
    /// write also moves funnel counters) and, for the claim step, that the stored claim
    /// deadline is on the side of `at` the lifecycle asks for ([`RewardTransition::deadline`]).
    fn update(&self, from: &[RewardStatus]) -> RewardUpdate {
        let to = self.transition.to();
        let from: Vec<(String, AttributeValue)> = from
            .iter()
            .enumerate()
            .map(|(i, status)| (format!(":from{i}"), s(status.as_str())))
            .collect();
        let names: Vec<&str> = from.iter().map(|(name, _)| name.as_str()).collect();
        let mut update = format!("SET #status = :to, GSI2PK = :to_pk, {}", self.set);
        if !self.remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", self.remove.join(", ")));
        }
        let mut condition = format!("#status IN ({})", names.join(", "));
        // Instants are stored in one fixed-width text form, so string order is time order.
        let deadline = match self.transition.deadline() {
            DeadlineRule::Ignored => None,
            DeadlineRule::Before => Some("claim_deadline > :deadline_at"),
            DeadlineRule::AtOrAfter => Some("claim_deadline <= :deadline_at"),
        };
        if let Some(rule) = deadline {
            condition.push_str(" AND ");
            condition.push_str(rule);
        }
        let values = self
            .values
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .chain([
                (":to".to_owned(), s(to.as_str())),
                (":to_pk".to_owned(), s(&keys::reward_status_gsi2pk(to))),
            ])
            .chain(deadline.map(|_| (":deadline_at".to_owned(), s(&time::format(&self.at)))))
            .chain(from)
            .collect();
        RewardUpdate {
            update,
            condition,
            values,
        }
    }
}

/// Attempts at a status change that met a concurrent transaction (on a funnel counter item,
/// typically: every change of an event's rewards on one day shares a few), before the caller
/// is told to try again later ([`StoreError::Unavailable`]).
const STATUS_CHANGE_ATTEMPTS: u32 = 8;

/// What became of a status change's transaction, from its cancellation reasons (in action
/// order: the reward's update first, then the counters, which have no condition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Not cancelled (or cancelled for a reason that is not ours to retry: throttling).
    Written,
    /// The reward's condition failed: its status (or claim deadline) is not what was read.
    Refused,
    /// A concurrent transaction on the reward or a counter item: try again.
    Busy,
}

fn outcome_of(reasons: &[Option<&str>]) -> Outcome {
    if reasons.first() == Some(&Some("ConditionalCheckFailed")) {
        Outcome::Refused
    } else if reasons.contains(&Some("TransactionConflict")) {
        Outcome::Busy
    } else {
        Outcome::Written
    }
}

impl DynamoStore {
    /// Sends `change`; a failed condition is a `Reward` conflict.
    async fn update_reward(
        &self,
        operation: &'static str,
        reward: &RewardId,
        change: RewardUpdate,
    ) -> Result<(), StoreError> {
        let pk = keys::reward_pk(reward);
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(&pk))
            .key(keys::SK, s(keys::REWARD_SK))
            .update_expression(change.update)
            .condition_expression(change.condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(change.values))
            .send()
            .await
            .map_err(|e| {
                failure(operation, e).or_conflict(StoreError::Conflict {
                    entity: Entity::Reward,
                    key: pk,
                })
            })?;
        Ok(())
    }

    /// A status change of `reward_id` and its funnel count in one transaction (ADR 0008):
    /// the reward's update, conditioned on the stored status being the one read, plus -1 on
    /// that status's counter and +1 on the new one ([`reward_status_delta`]) on a random
    /// shard. `known` is the reward as the caller read it (None: read here). A change that
    /// moves no count (a retryable attempt, a reward in no funnel) is the single conditional
    /// UpdateItem it always was.
    ///
    /// [`StoreError::Conflict`] when the stored reward does not allow the transition (absent,
    /// another status, the claim deadline on the wrong side); a stale `known` is read again
    /// and the change decided again from what is stored. [`StoreError::Unavailable`] after
    /// [`STATUS_CHANGE_ATTEMPTS`] meetings with concurrent transactions.
    async fn change_status(
        &self,
        operation: &'static str,
        reward_id: &RewardId,
        known: Option<&Reward>,
        change: Change,
    ) -> Result<(), StoreError> {
        let transition = change.transition;
        let conflict = || StoreError::Conflict {
            entity: Entity::Reward,
            key: keys::reward_pk(reward_id),
        };
        if transition.from() == [transition.to()] {
            return self
                .update_reward(operation, reward_id, change.update(transition.from()))
                .await;
        }
        let (mut current, mut fresh) = match known {
            Some(reward) => (reward.clone(), false),
            None => (
                self.get_reward(reward_id).await?.ok_or_else(conflict)?,
                true,
            ),
        };
        let mut attempt = 1;
        loop {
            if !transition.allowed_from(current.status) {
                if fresh {
                    return Err(conflict());
                }
                // The caller's copy may be older than the stored reward.
                current = self.get_reward(reward_id).await?.ok_or_else(conflict)?;
                fresh = true;
                continue;
            }
            let delta = reward_status_delta(&current, transition.to());
            if delta.is_empty() {
                return self
                    .update_reward(operation, reward_id, change.update(transition.from()))
                    .await;
            }
            let read = current.status;
            let mut actions =
                vec![self.reward_action(operation, reward_id, change.update(&[read]))?];
            for update in funnel::counter_updates(&delta, funnel::random_shard()) {
                actions.push(funnel::update_action(&update, operation, &self.table)?);
            }
            let mut outcome = Outcome::Written;
            let result = self
                .transact(operation, actions, |reasons| {
                    outcome = outcome_of(reasons);
                    (outcome != Outcome::Written).then(conflict)
                })
                .await;
            match (result, outcome) {
                (Ok(()), _) => return Ok(()),
                (Err(StoreError::Conflict { .. }), Outcome::Refused | Outcome::Busy) => {}
                (Err(e), _) => return Err(e),
            }
            if attempt >= STATUS_CHANGE_ATTEMPTS {
                return Err(StoreError::Unavailable {
                    operation,
                    message: format!(
                        "{attempt} attempts met concurrent changes of the reward or its counters"
                    ),
                });
            }
            attempt += 1;
            if outcome == Outcome::Busy {
                let pause = rand::random_range(5..=20u64) * u64::from(attempt);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            // Decide again from what is stored. Refused with the status read unchanged: the
            // claim deadline's refusal for a transition that has one; for the others the
            // reward changed and came back (PENDING → FAIL → PENDING), so try again.
            current = self.get_reward(reward_id).await?.ok_or_else(conflict)?;
            fresh = true;
            if outcome == Outcome::Refused
                && current.status == read
                && transition.deadline() != DeadlineRule::Ignored
            {
                return Err(conflict());
            }
        }
    }

    /// A reward update as an action of a transaction.
    fn reward_action(
        &self,
        operation: &'static str,
        reward_id: &RewardId,
        change: RewardUpdate,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(&keys::reward_pk(reward_id)))
            .key(keys::SK, s(keys::REWARD_SK))
            .update_expression(change.update)
            .condition_expression(change.condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(change.values))
            .build()
            .map_err(unbuilt(operation))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

#[async_trait]
impl RewardWrites for DynamoStore {
    async fn mark_reward_paid(
        &self,
        reward: &Reward,
        compensation_id: &str,
        at: Instant,
    ) -> Result<(), StoreError> {
        let mut change = Change::new(
            RewardTransition::Paid,
            at,
            "compensation_id = :compensation, paid_at = :at, updated_at = :at, \
             attempts = if_not_exists(attempts, :zero) + :one",
            [
                (":compensation", s(compensation_id)),
                (":at", s(&time::format(&at))),
                (":zero", n(0)),
                (":one", n(1)),
            ],
        );
        change.remove = &["last_error"];
        self.change_status("mark_reward_paid", &reward.reward_id, Some(reward), change)
            .await
    }

    async fn record_payout_failure(
        &self,
        reward: &Reward,
        error: &str,
        terminal: bool,
        at: Instant,
    ) -> Result<(), StoreError> {
        let transition = if terminal {
            RewardTransition::Failed
        } else {
            RewardTransition::AttemptFailed
        };
        let change = Change::new(
            transition,
            at,
            "attempts = if_not_exists(attempts, :zero) + :one, last_error = :error, \
             updated_at = :at",
            [
                (":error", s(error)),
                (":at", s(&time::format(&at))),
                (":zero", n(0)),
                (":one", n(1)),
            ],
        );
        self.change_status(
            "record_payout_failure",
            &reward.reward_id,
            Some(reward),
            change,
        )
        .await
    }

    async fn record_notification(
        &self,
        reward: &RewardId,
        outcome: &NotificationOutcome,
    ) -> Result<(), StoreError> {
        let value: AttributeValue =
            serde_dynamo::to_attribute_value(outcome).map_err(|e| StoreError::Rejected {
                operation: "record_notification",
                message: format!("notification outcome does not serialize: {e}"),
            })?;
        // Not a status change: the outcome is recorded only while the reward is SUCCESS.
        let change = RewardUpdate {
            update: "SET notification = :outcome".into(),
            condition: "#status = :success".into(),
            values: Attrs::from([
                (":success".to_owned(), s(RewardStatus::Success.as_str())),
                (":outcome".to_owned(), value),
            ]),
        };
        self.update_reward("record_notification", reward, change)
            .await
    }

    async fn reopen_failed_reward(&self, reward: &RewardId, at: Instant) -> Result<(), StoreError> {
        let change = Change::new(
            RewardTransition::Reopened,
            at,
            "updated_at = :at",
            [(":at", s(&time::format(&at)))],
        );
        self.change_status("reopen_failed_reward", reward, None, change)
            .await
    }

    async fn claim_reward(&self, reward: &Reward, at: Instant) -> Result<(), StoreError> {
        // Back among PENDING rewards by creation time (CLAIMABLE ones sort by deadline).
        let sk = keys::reward_status_gsi2sk(&reward.created_at, &reward.reward_id);
        let change = Change::new(
            RewardTransition::Claimed,
            at,
            "claimed_at = :at, updated_at = :at, GSI2SK = :sk",
            [(":at", s(&time::format(&at))), (":sk", s(&sk))],
        );
        self.change_status("claim_reward", &reward.reward_id, Some(reward), change)
            .await
    }

    async fn expire_reward(&self, reward: &Reward, now: Instant) -> Result<(), StoreError> {
        let sk = keys::reward_status_gsi2sk(&reward.created_at, &reward.reward_id);
        let change = Change::new(
            RewardTransition::Expired,
            now,
            "updated_at = :at, GSI2SK = :sk",
            [(":at", s(&time::format(&now))), (":sk", s(&sk))],
        );
        self.change_status("expire_reward", &reward.reward_id, Some(reward), change)
            .await
    }

    async fn approve_reward(
        &self,
        reward: &RewardId,
        admin: &str,
        at: Instant,
    ) -> Result<(), StoreError> {
        let change = Change::new(
            RewardTransition::Approved,
            at,
            "reviewed_at = :at, reviewed_by = :admin, updated_at = :at",
            [(":at", s(&time::format(&at))), (":admin", s(admin))],
        );
        self.change_status("approve_reward", reward, None, change)
            .await
    }

    async fn reject_reward(
        &self,
        reward: &RewardId,
        reason: &ReasonCode,
        admin: &str,
        at: Instant,
    ) -> Result<(), StoreError> {
        let change = Change::new(
            RewardTransition::Rejected,
            at,
            "reason = :reason, reviewed_at = :at, reviewed_by = :admin, updated_at = :at",
            [
                (":reason", s(reason.as_str())),
                (":at", s(&time::format(&at))),
                (":admin", s(admin)),
            ],
        );
        self.change_status("reject_reward", reward, None, change)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::{Outcome, outcome_of};

    #[test]
    fn a_cancelled_status_change_is_refused_by_the_reward_or_busy_on_any_item() {
        let rows: [(&[Option<&str>], Outcome); 6] = [
            (
                &[Some("ConditionalCheckFailed"), Some("None"), Some("None")],
                Outcome::Refused,
            ),
            // The reward's refusal explains the rest, whatever the counters met.
            (
                &[
                    Some("ConditionalCheckFailed"),
                    Some("TransactionConflict"),
                    None,
                ],
                Outcome::Refused,
            ),
            (
                &[Some("None"), Some("TransactionConflict"), Some("None")],
                Outcome::Busy,
            ),
            (
                &[Some("TransactionConflict"), Some("None"), Some("None")],
                Outcome::Busy,
            ),
            // Throttling is the caller's (`transact` makes it Unavailable).
            (
                &[Some("None"), Some("ThrottlingError"), Some("None")],
                Outcome::Written,
            ),
            (&[], Outcome::Written),
        ];
        for (reasons, expected) in rows {
            assert_eq!(outcome_of(reasons), expected, "{reasons:?}");
        }
    }
}
