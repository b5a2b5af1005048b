//! Rewards (`REWARD#<id>`): reads, and every status change as one conditional UpdateItem whose
//! condition is built from the lifecycle (`domain/lifecycle.rs`, docs/reward-lifecycle.md), so
//! a change the lifecycle does not allow is refused by DynamoDB whatever races with it.

use super::attrs::{Attrs, failure, n, s};
use super::{DynamoStore, Index, SortKey};
use crate::domain::{
    DeadlineRule, JkosId, NotificationOutcome, ReasonCode, Reward, RewardId, RewardStatus,
    RewardTransition,
};
use crate::store::items::Entity;
use crate::store::{MemberRewards, Page, PageRequest, RewardReads, RewardWrites, StoreError, keys};
use crate::time::{self, Instant};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

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

impl RewardUpdate {
    /// A status change (docs/reward-lifecycle.md): sets the status and the GSI2 partition
    /// listing rewards by status, plus `set`/`remove`, on condition that the stored status is
    /// one the lifecycle allows `transition` from and, for the claim step, that the stored
    /// claim deadline is on the side of `at` the lifecycle asks for
    /// ([`RewardTransition::deadline`]).
    fn transition(
        transition: RewardTransition,
        at: Instant,
        set: &str,
        remove: &[&str],
        values: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> Self {
        let to = transition.to();
        let from: Vec<(String, AttributeValue)> = transition
            .from()
            .iter()
            .enumerate()
            .map(|(i, status)| (format!(":from{i}"), s(status.as_str())))
            .collect();
        let names: Vec<&str> = from.iter().map(|(name, _)| name.as_str()).collect();
        let mut update = format!("SET #status = :to, GSI2PK = :to_pk, {set}");
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let mut condition = format!("#status IN ({})", names.join(", "));
        // Instants are stored in one fixed-width text form, so string order is time order.
        let deadline = match transition.deadline() {
            DeadlineRule::Ignored => None,
            DeadlineRule::Before => Some("claim_deadline > :deadline_at"),
            DeadlineRule::AtOrAfter => Some("claim_deadline <= :deadline_at"),
        };
        if let Some(rule) = deadline {
            condition.push_str(" AND ");
            condition.push_str(rule);
        }
        let values = values
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .chain([
                (":to".to_owned(), s(to.as_str())),
                (":to_pk".to_owned(), s(&keys::reward_status_gsi2pk(to))),
            ])
            .chain(deadline.map(|_| (":deadline_at".to_owned(), s(&time::format(&at)))))
            .chain(from)
            .collect();
        Self {
            update,
            condition,
            values,
        }
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
}

#[async_trait]
impl RewardWrites for DynamoStore {
    async fn mark_reward_paid(
        &self,
        reward: &RewardId,
        compensation_id: &str,
        at: Instant,
    ) -> Result<(), StoreError> {
        let change = RewardUpdate::transition(
            RewardTransition::Paid,
            at,
            "compensation_id = :compensation, paid_at = :at, updated_at = :at, \
             attempts = if_not_exists(attempts, :zero) + :one",
            &["last_error"],
            [
                (":compensation", s(compensation_id)),
                (":at", s(&time::format(&at))),
                (":zero", n(0)),
                (":one", n(1)),
            ],
        );
        self.update_reward("mark_reward_paid", reward, change).await
    }

    async fn record_payout_failure(
        &self,
        reward: &RewardId,
        error: &str,
        terminal: bool,
        at: Instant,
    ) -> Result<(), StoreError> {
        let transition = if terminal {
            RewardTransition::Failed
        } else {
            RewardTransition::AttemptFailed
        };
        let change = RewardUpdate::transition(
            transition,
            at,
            "attempts = if_not_exists(attempts, :zero) + :one, last_error = :error, \
             updated_at = :at",
            &[],
            [
                (":error", s(error)),
                (":at", s(&time::format(&at))),
                (":zero", n(0)),
                (":one", n(1)),
            ],
        );
        self.update_reward("record_payout_failure", reward, change)
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
        let change = RewardUpdate::transition(
            RewardTransition::Reopened,
            at,
            "updated_at = :at",
            &[],
            [(":at", s(&time::format(&at)))],
        );
        self.update_reward("reopen_failed_reward", reward, change)
            .await
    }

    async fn claim_reward(&self, reward: &Reward, at: Instant) -> Result<(), StoreError> {
        // Back among PENDING rewards by creation time (CLAIMABLE ones sort by deadline).
        let sk = keys::reward_status_gsi2sk(&reward.created_at, &reward.reward_id);
        let change = RewardUpdate::transition(
            RewardTransition::Claimed,
            at,
            "claimed_at = :at, updated_at = :at, GSI2SK = :sk",
            &[],
            [(":at", s(&time::format(&at))), (":sk", s(&sk))],
        );
        self.update_reward("claim_reward", &reward.reward_id, change)
            .await
    }

    async fn expire_reward(&self, reward: &Reward, now: Instant) -> Result<(), StoreError> {
        let sk = keys::reward_status_gsi2sk(&reward.created_at, &reward.reward_id);
        let change = RewardUpdate::transition(
            RewardTransition::Expired,
            now,
            "updated_at = :at, GSI2SK = :sk",
            &[],
            [(":at", s(&time::format(&now))), (":sk", s(&sk))],
        );
        self.update_reward("expire_reward", &reward.reward_id, change)
            .await
    }

    async fn approve_reward(
        &self,
        reward: &RewardId,
        admin: &str,
        at: Instant,
    ) -> Result<(), StoreError> {
        let change = RewardUpdate::transition(
            RewardTransition::Approved,
            at,
            "reviewed_at = :at, reviewed_by = :admin, updated_at = :at",
            &[],
            [(":at", s(&time::format(&at))), (":admin", s(admin))],
        );
        self.update_reward("approve_reward", reward, change).await
    }

    async fn reject_reward(
        &self,
        reward: &RewardId,
        reason: &ReasonCode,
        admin: &str,
        at: Instant,
    ) -> Result<(), StoreError> {
        let change = RewardUpdate::transition(
            RewardTransition::Rejected,
            at,
            "reason = :reason, reviewed_at = :at, reviewed_by = :admin, updated_at = :at",
            &[],
            [
                (":reason", s(reason.as_str())),
                (":at", s(&time::format(&at))),
                (":admin", s(admin)),
            ],
        );
        self.update_reward("reject_reward", reward, change).await
    }
}
