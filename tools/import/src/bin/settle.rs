//! `referral-settle`: decides the reward grants the launch import left due (see
//! `referral_import::settle` and docs/runbook.md). Runs with the consumers' own environment:
//! TABLE_NAME, PAYOUT_QUEUE_URL, PERSONAL_EVENT_ID, IDENTITY_HASH_KEY.

use clap::Parser;
use referral_import::dump::Format;
use referral_import::settle::{progress_printer, settle_dump};
use referral_shared::config::{Clients, ConsumerConfig};
use referral_shared::contracts::kafka::TOPIC_REGISTRATION;
use referral_shared::events_cache::ConfigCache;
use referral_shared::ingest::Consumer;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "referral-settle",
    version,
    about = "Decide the reward grants the launch import left due (rules that need the identity key or stored state)"
)]
struct Args {
    /// The dump the import read (CSV or MySQL TSV, optionally gzip): its account ids.
    input: PathBuf,
    /// csv or tsv; by default from the extension, as for referral-import.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// IANA zone of MySQL DATETIME values (rows are validated as the import validates them).
    #[arg(long, default_value = "Asia/Taipei")]
    timezone: chrono_tz::Tz,
    /// Attempts per chunk of 100 accounts while DynamoDB or SQS is unavailable.
    #[arg(long, default_value_t = 8)]
    attempts: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    referral_import::init_cli_logging();
    let args = Args::parse();
    let Some(format) = args.format.or_else(|| Format::from_path(&args.input)) else {
        eprintln!("referral-settle: cannot tell the format from the name; pass --format csv|tsv");
        return ExitCode::from(2);
    };
    let config = match ConsumerConfig::from_env(TOPIC_REGISTRATION) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("referral-settle: {e}");
            return ExitCode::from(2);
        }
    };
    let clients = Clients::load().await;
    let consumer = Consumer::new(
        Arc::new(clients.store(&config.table_name)),
        Arc::new(clients.payout_queue(&config.payout_queue_url)),
        ConfigCache::new(config.config_cache_ttl),
        config.settings,
    );
    let started = std::time::Instant::now();
    let progress = progress_printer(Duration::from_secs(5));
    match settle_dump(
        &consumer,
        &args.input,
        format,
        args.timezone,
        args.attempts,
        progress,
    )
    .await
    {
        Ok(summary) => {
            eprintln!(
                "referral-settle: done in {:.1} s: {summary}",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("referral-settle: {e:#}");
            ExitCode::FAILURE
        }
    }
}
