//! The table the code assumes (key names in `store::keys`) is the table the SAM template
//! deploys: created from the template on DynamoDB Local and described back.

use referral_shared::store::keys;
use referral_tests::TestTable;

#[tokio::test]
async fn the_deployed_table_has_the_keys_and_indexes_the_store_uses() {
    let table = TestTable::create().await;
    let described = table
        .client
        .describe_table()
        .table_name(&table.name)
        .send()
        .await
        .unwrap();
    let t = described.table.unwrap();

    let key_names =
        |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
            schema
                .iter()
                .map(|k| (k.attribute_name.clone(), k.key_type.as_str().to_owned()))
                .collect()
        };
    assert_eq!(
        key_names(t.key_schema()),
        [
            (keys::PK.into(), "HASH".into()),
            (keys::SK.into(), "RANGE".into())
        ]
    );

    let mut indexes: Vec<_> = t
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            (
                i.index_name().unwrap().to_owned(),
                key_names(i.key_schema()),
            )
        })
        .collect();
    indexes.sort();
    assert_eq!(
        indexes,
        [
            (
                keys::GSI1.to_owned(),
                vec![
                    (keys::GSI1PK.into(), "HASH".into()),
                    (keys::GSI1SK.into(), "RANGE".into())
                ]
            ),
            (
                keys::GSI2.to_owned(),
                vec![
                    (keys::GSI2PK.into(), "HASH".into()),
                    (keys::GSI2SK.into(), "RANGE".into())
                ]
            ),
            (
                keys::GSI3.to_owned(),
                vec![
                    (keys::GSI3PK.into(), "HASH".into()),
                    (keys::GSI3SK.into(), "RANGE".into())
                ]
            ),
        ]
    );
    for index in t.global_secondary_indexes() {
        assert_eq!(
            index
                .projection()
                .unwrap()
                .projection_type()
                .unwrap()
                .as_str(),
            "ALL"
        );
    }

    let ttl = table
        .client
        .describe_time_to_live()
        .table_name(&table.name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description.unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
}

#[tokio::test]
async fn creating_the_table_twice_is_a_no_op() {
    let table = TestTable::create().await;
    let def = referral_devkit::table::TableDefinition::from_sam_template().unwrap();
    let created_again = def.create(&table.client, &table.name).await.unwrap();
    assert!(!created_again);
}
