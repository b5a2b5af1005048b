//! Referral codes: `CODE#<code>`, created only if absent.

use super::{DynamoStore, Write};
use crate::domain::{ReferralCode, ReferralCodeRecord};
use crate::store::{Codes, StoreError, items, keys};
use async_trait::async_trait;

#[async_trait]
impl Codes for DynamoStore {
    async fn create_code(&self, code: &ReferralCodeRecord) -> Result<(), StoreError> {
        self.put(
            "create_code",
            Write::of(&items::code_item(code))?.if_absent(),
        )
        .await
    }

    async fn get_code(
        &self,
        code: &ReferralCode,
    ) -> Result<Option<ReferralCodeRecord>, StoreError> {
        self.get("get_code", keys::code_pk(code), keys::CODE_SK, false)
            .await
    }
}
