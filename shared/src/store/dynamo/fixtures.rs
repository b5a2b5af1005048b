//! What only the devkit and the tests use ([`Fixtures`]): unconditional single-item writes and
//! a lookup no function needs.

use super::{DynamoStore, Write};
use crate::domain::{
    ContentWindow, Copywriting, EventId, MemberProfile, NotificationTemplate, ReferralEvent, Reward,
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
        let item = items::reward_item(reward);
        self.put("create_reward", Write::of(&item)?.if_absent())
            .await
    }
}
