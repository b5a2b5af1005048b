//! Local development and test support for referral-svc (never deployed):
//! - [`table`]: creates the single table from `infra/template.yaml`, the one definition;
//! - [`campaign`]: loads a campaign configuration file into the table through the domain;
//! - [`esm`]: runs a function on an SQS queue the way Lambda's event source mapping does;
//! - [`msk`]: wraps Kafka records into real-shaped MSK events;
//! - [`gateway`]: API Gateway's HTTP API and JWT authorizer in front of the two HTTP functions;
//! - [`output`]: what the CLI prints (JSON, phones masked).

pub mod campaign;
pub mod esm;
pub mod gateway;
pub mod msk;
pub mod output;
pub mod table;

/// An SQS client for the local SQS emulator (moto): endpoint from `AWS_ENDPOINT_URL_SQS`
/// (default `http://127.0.0.1:8472`), dummy credentials.
pub async fn local_sqs_client() -> aws_sdk_sqs::Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SQS")
        .unwrap_or_else(|_| "http://127.0.0.1:8472".to_owned());
    aws_sdk_sqs::Client::new(&local_sdk_config(endpoint).await)
}

async fn local_sdk_config(endpoint: String) -> aws_config::SdkConfig {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "ap-northeast-1".to_owned());
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "local",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// A DynamoDB client for the local stack: endpoint from `AWS_ENDPOINT_URL_DYNAMODB`
/// (default `http://127.0.0.1:8471`), dummy credentials if none are set.
pub async fn local_dynamodb_client() -> aws_sdk_dynamodb::Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .unwrap_or_else(|_| "http://127.0.0.1:8471".to_owned());
    aws_sdk_dynamodb::Client::new(&local_sdk_config(endpoint).await)
}
