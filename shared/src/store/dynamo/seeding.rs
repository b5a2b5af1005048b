//! Unconditional single-item writes for the devkit and the tests ([`Seeding`]).

use super::{DynamoStore, Write};
use crate::domain::{
    ContentWindow, Copywriting, EventId, MemberProfile, NotificationTemplate, ReferralEvent, Reward,
};
use crate::store::{Seeding, StoreError, items};
use async_trait::async_trait;

#[async_trait]
impl Seeding for DynamoStore {
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
