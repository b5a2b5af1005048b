//! `referral-backfill`: one-off data migrations an operator runs against the deployed table
//! (the usual AWS credential chain; `AWS_ENDPOINT_URL_DYNAMODB` for the local stack).
//!
//! - `gsi3`: rewards written before GSI3 existed get its keys, so "my rewards" shows them
//!   (docs/runbook.md). Idempotent; safe while the service runs; re-run after an interruption.
//!
//! - `jkos`: profiles stored before jkos ids were bound get their `JKOS#<jkos id>` binding
//!   (ADR 0010, docs/runbook.md). Idempotent; safe while the service runs; run it once after
//!   deploying, before new members arrive.
//!
//! Exit status: 0 = done; 1 = stopped (see the message; re-run); 2 = bad flags.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "referral-backfill",
    version,
    about = "One-off migrations of the referral table"
)]
struct Args {
    /// The DynamoDB table.
    #[arg(long, env = "TABLE_NAME", global = true)]
    table: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Give rewards written before GSI3 existed their GSI3 keys ("my rewards").
    Gsi3 {
        /// Parallel Scan segments.
        #[arg(long, default_value_t = 4)]
        segments: i32,
        /// Updates in flight per segment.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Bind every profile stored before jkos ids were bound to its jkos id (ADR 0010).
    Jkos {
        /// Parallel Scan segments (each binds its profiles one at a time).
        #[arg(long, default_value_t = 8)]
        segments: i32,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    referral_import::init_cli_logging();
    let args = Args::parse();
    let Some(table) = args.table else {
        eprintln!("referral-backfill: --table (or TABLE_NAME) is required");
        return ExitCode::from(2);
    };
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    match args.command {
        Command::Gsi3 {
            segments,
            concurrency,
        } => {
            let started = std::time::Instant::now();
            let progress = |b: &referral_import::backfill::Backfilled| {
                eprintln!(
                    "gsi3: {} found, {} updated, {} already had them, {} unreadable",
                    b.found, b.updated, b.already, b.unreadable
                );
            };
            match referral_import::backfill::gsi3(&client, &table, segments, concurrency, &progress)
                .await
            {
                Ok(done) => {
                    println!(
                        "gsi3: rewards and profiles without GSI3 keys {}: updated {} ({} profiles), already had them {}, unreadable {}; {:.1} s",
                        done.found,
                        done.updated,
                        done.profiles,
                        done.already,
                        done.unreadable,
                        started.elapsed().as_secs_f64()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => stopped(e),
            }
        }
        Command::Jkos { segments } => {
            let started = std::time::Instant::now();
            let store = referral_shared::store::DynamoStore::new(client.clone(), table.clone());
            let progress = |b: &referral_import::backfill::Bound| {
                eprintln!(
                    "jkos: {} found, {} bound, {} already bound, {} taken by another account, {} unreadable",
                    b.found, b.bound, b.already, b.taken, b.unreadable
                );
            };
            match referral_import::backfill::jkos(&store, &client, &table, segments, &progress)
                .await
            {
                Ok(done) => {
                    println!(
                        "jkos: profiles without a binding {}: bound {}, already bound {}, taken by another account {}, unreadable {}; {:.1} s",
                        done.found,
                        done.bound,
                        done.already,
                        done.taken,
                        done.unreadable,
                        started.elapsed().as_secs_f64()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => stopped(e),
            }
        }
    }
}

fn stopped(e: anyhow::Error) -> ExitCode {
    eprintln!("referral-backfill: stopped: {e:#} (re-run to continue)");
    ExitCode::from(1)
}
