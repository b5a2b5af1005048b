//! `referral-dev`: local development commands. Talks to the local stack configured by the
//! environment (`AWS_ENDPOINT_URL_DYNAMODB`, `TABLE_NAME`); see `scripts/env.sh`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use referral_devkit::campaign::{self, CampaignFile};
use referral_devkit::table::TableDefinition;
use referral_shared::store::{DynamoStore, ReferralStore};
use referral_shared::{EventId, ReferralCode};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "referral-dev",
    about = "Local development commands for referral-svc"
)]
struct Cli {
    /// The table to work on.
    #[arg(
        long,
        env = "TABLE_NAME",
        default_value = "referral-local",
        global = true
    )]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table from infra/template.yaml (no-op if it exists).
    CreateTable,
    /// Load a campaign configuration file (validated; idempotent).
    LoadCampaign { file: PathBuf },
    /// Print an event's whole configuration as the store reads it (one Query).
    Event { event_id: String },
    /// Print a referral code's record (input is normalized like the app's).
    Code { code: String },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    let client = referral_devkit::local_dynamodb_client().await;
    let store = DynamoStore::new(client.clone(), &cli.table);
    match cli.command {
        Command::CreateTable => {
            let created = TableDefinition::from_sam_template()?
                .create(&client, &cli.table)
                .await?;
            println!(
                "table {}: {}",
                cli.table,
                if created { "created" } else { "already exists" }
            );
        }
        Command::LoadCampaign { file } => {
            let campaign = CampaignFile::read(&file)?;
            let s = campaign::load(&store, &campaign, chrono::Utc::now()).await?;
            println!(
                "event {}: {} content, {} copywriting, {} notification windows; codes: {} created, {} already present",
                s.event_id,
                s.contents,
                s.copywriting,
                s.notifications,
                s.codes_created,
                s.codes_present
            );
        }
        Command::Event { event_id } => {
            let config = store.event_config(&EventId::parse(&event_id)?).await?;
            match config {
                Some(config) => println!("{}", serde_json::to_string_pretty(&config)?),
                None => anyhow::bail!("no event {event_id} in table {}", cli.table),
            }
        }
        Command::Code { code } => match store.get_code(&ReferralCode::parse(&code)?).await? {
            Some(record) => println!("{}", serde_json::to_string_pretty(&record)?),
            None => anyhow::bail!("no code {code} in table {}", cli.table),
        },
    }
    Ok(())
}
