//! The table definition, read from the SAM template so that local tables and tests use the
//! exact keys and indexes that are deployed.

use anyhow::{Context, Result, anyhow};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde::Deserialize;

/// The SAM template, compiled in so tools and tests need no path at run time.
pub const SAM_TEMPLATE: &str = include_str!("../../../infra/template.yaml");
/// The logical id of the table in the template.
pub const TABLE_RESOURCE: &str = "ReferralTable";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDefinition {
    pub attribute_definitions: Vec<AttrDef>,
    pub key_schema: Vec<KeyDef>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
    #[serde(default)]
    pub time_to_live_specification: Option<TtlDef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttrDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyDef>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDef {
    pub projection_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

impl TableDefinition {
    /// Reads `Resources.<TABLE_RESOURCE>.Properties` of a SAM/CloudFormation template.
    pub fn from_template(template: &str) -> Result<Self> {
        let doc: serde_norway::Value =
            serde_norway::from_str(template).context("template is not YAML")?;
        let props = doc
            .get("Resources")
            .and_then(|r| r.get(TABLE_RESOURCE))
            .and_then(|t| t.get("Properties"))
            .ok_or_else(|| anyhow!("template has no Resources.{TABLE_RESOURCE}.Properties"))?;
        serde_norway::from_value(props.clone())
            .context("table properties do not match the expected shape")
    }

    pub fn from_sam_template() -> Result<Self> {
        Self::from_template(SAM_TEMPLATE)
    }

    /// Creates the table (on-demand billing, as deployed) and enables TTL. Idempotent: an
    /// existing table of that name is left as it is.
    pub async fn create(&self, client: &Client, table_name: &str) -> Result<bool> {
        let key_schema = |keys: &[KeyDef]| -> Result<Vec<KeySchemaElement>> {
            keys.iter()
                .map(|k| {
                    KeySchemaElement::builder()
                        .attribute_name(&k.attribute_name)
                        .key_type(KeyType::from(k.key_type.as_str()))
                        .build()
                        .map_err(Into::into)
                })
                .collect()
        };
        let attributes = self
            .attribute_definitions
            .iter()
            .map(|a| {
                AttributeDefinition::builder()
                    .attribute_name(&a.attribute_name)
                    .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                    .build()
                    .map_err(anyhow::Error::from)
            })
            .collect::<Result<Vec<_>>>()?;
        let indexes = self
            .global_secondary_indexes
            .iter()
            .map(|i| {
                Ok(GlobalSecondaryIndex::builder()
                    .index_name(&i.index_name)
                    .set_key_schema(Some(key_schema(&i.key_schema)?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(
                                i.projection.projection_type.as_str(),
                            ))
                            .build(),
                    )
                    .build()?)
            })
            .collect::<Result<Vec<_>>>()?;

        let created = client
            .create_table()
            .table_name(table_name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(key_schema(&self.key_schema)?))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                return Ok(false);
            }
            Err(e) => {
                return Err(anyhow!(
                    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
                ))
                .context(format!("creating table {table_name}"));
            }
        }
        if let Some(ttl) = &self.time_to_live_specification {
            client
                .update_time_to_live()
                .table_name(table_name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(&ttl.attribute_name)
                        .enabled(ttl.enabled)
                        .build()?,
                )
                .send()
                .await
                .map_err(|e| anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))
                .context("enabling TTL")?;
        }
        Ok(true)
    }
}

/// Deletes a table; false if there was none. For throw-away tables (the API fuzzing's).
pub async fn drop_table(client: &Client, table_name: &str) -> Result<bool> {
    match client.delete_table().table_name(table_name).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(anyhow::Error::from(e).context(format!("deleting table {table_name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_table_from_the_sam_template() {
        let def = TableDefinition::from_sam_template().unwrap();
        let key = |name: &str, kind: &str| KeyDef {
            attribute_name: name.into(),
            key_type: kind.into(),
        };
        assert_eq!(def.key_schema, vec![key("PK", "HASH"), key("SK", "RANGE")]);
        let names: Vec<_> = def
            .global_secondary_indexes
            .iter()
            .map(|i| i.index_name.as_str())
            .collect();
        assert_eq!(names, ["GSI1", "GSI2", "GSI3"]);
        assert_eq!(
            def.time_to_live_specification.unwrap().attribute_name,
            "expires_at"
        );
    }

    #[test]
    fn a_template_without_the_table_is_an_error() {
        let err = TableDefinition::from_template("Resources: {}\n").unwrap_err();
        assert!(err.to_string().contains("ReferralTable"), "{err}");
    }
}
