//! Parked Kafka records (`PARKED#<topic>#<partition>#<offset>`, listed on GSI2 `PARKED`).

use super::{DynamoStore, Index, SortKey, Write};
use crate::contracts::kafka::ParkedRecord;
use crate::store::{Page, PageRequest, Parking, StoreError, items, keys};
use async_trait::async_trait;

#[async_trait]
impl Parking for DynamoStore {
    async fn park_record(&self, record: &ParkedRecord) -> Result<(), StoreError> {
        self.put("park_record", Write::of(&items::parked_item(record))?)
            .await
    }

    async fn parked_records(&self, page: PageRequest) -> Result<Page<ParkedRecord>, StoreError> {
        self.typed_page(
            "parked_records",
            Index::Gsi2,
            keys::PARKED_GSI2PK,
            &SortKey::Any,
            page,
        )
        .await
    }
}
