//! What only the devkit and the tests use ([`Fixtures`]): unconditional single-item writes and
//! a lookup no function needs.

use super::{DynamoStore, Write, funnel};
use crate::domain::{
    ContentWindow, Copywriting, EventId, MemberProfile, NotificationTemplate, ReferralEvent,
    Reward, new_reward_delta,
};
use crate::store::{Fixtures, StoreError, items, keys};
use crate::time::Instant;
use async_trait::async_trait;

#[async_trait]
impl Fixtures for DynamoStore {
    async fn content_window_at(
        &self,
        event: &EventId,
        at: Instant,
    ) -> Result<Option<ContentWindow>, StoreError> {
        self.window_at(
            "content_window_at",
            event,
            keys::CONTENT_PREFIX,
            at,
            |c: &ContentWindow| &c.window,
        )
        .await
    }

    async fn put_event(&self, event: &ReferralEvent) -> Result<(), StoreError> {
        self.put("put_event", Write::of(&items::event_item(event))?)
            .await
    }

    async fn put_content_window(
        &self,
        event: &EventId,
        content: &ContentWindow,
    ) -> Result<(), StoreError> {
        let item = items::content_item(event, content);
        self.put("put_content_window", Write::of(&item)?).await
    }

    async fn put_copywriting(&self, event: &EventId, copy: &Copywriting) -> Result<(), StoreError> {
        let item = items::copywriting_item(event, copy);
        self.put("put_copywriting", Write::of(&item)?).await
    }

    async fn put_notification(
        &self,
        event: &EventId,
        template: &NotificationTemplate,
    ) -> Result<(), StoreError> {
        let item = items::notification_item(event, template);
        self.put("put_notification", Write::of(&item)?).await
    }

    async fn put_member(&self, member: &MemberProfile) -> Result<(), StoreError> {
        self.put("put_member", Write::of(&items::member_item(member))?)
            .await
    }

    async fn create_reward(&self, reward: &Reward) -> Result<(), StoreError> {
        const OP: &str = "create_reward";
        let item = items::reward_item(reward);
        let write = Write::of(&item)?.if_absent();
        // Counted as a grant counts it (ADR 0008), so the status changes that follow move
        // counts that exist.
        let delta = new_reward_delta(reward);
        if delta.is_empty() {
            return self.put(OP, write).await;
        }
        let mut actions = vec![write.transact_item(OP, &self.table)?];
        for update in funnel::counter_updates(&delta, funnel::random_shard()) {
            actions.push(funnel::update_action(&update, OP, &self.table)?);
        }
        let exists = write.conflict();
        self.transact(OP, actions, |reasons| {
            (reasons.first() == Some(&Some("ConditionalCheckFailed"))).then_some(exists)
        })
        .await
    }
}
