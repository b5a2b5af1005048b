//! `referral-import`: imports the account module's member dump (ADR 0007). Wiring only:
//! flags, the DynamoDB client from the usual credential chain, [`referral_import::run`].
//!
//! Exit status: 0 = done; 1 = the run stopped (see the message; re-run to continue from the
//! checkpoint); 2 = bad flags; 3 = done, but more rejects than `--max-rejects`; 4 = refused:
//! the input changed inside the prefix the checkpoint applied (nothing done; delete the
//! checkpoint to import the input as it is now).

use clap::Parser;
use referral_import::checkpoint::InputChanged;
use referral_import::dump::Format;
use referral_import::progress::ProgressMode;
use referral_import::{ImportOptions, run};
use referral_shared::domain::EventId;
use referral_shared::store::DynamoStore;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "referral-import",
    version,
    about = "Import the account module's member dump into the referral table (docs/adr/0007-member-import.md)"
)]
struct Args {
    /// The dump: CSV with a header, or MySQL tab-separated (`.gz` = gzip).
    input: PathBuf,
    /// The DynamoDB table (with --emit-s3-import: the name of the table to create).
    #[arg(long, env = "TABLE_NAME")]
    table: String,
    /// Write the table's initial content as DynamoDB S3-import files (gzip DynamoDB JSON)
    /// into this directory instead of writing to DynamoDB, with `import-table.json` and
    /// `import-source-specification.json` to create the table from them.
    #[arg(long, value_name = "DIR")]
    emit_s3_import: Option<PathBuf>,
    /// With --emit-s3-import: the bucket the files will be uploaded to.
    #[arg(long, default_value = "<bucket>")]
    s3_bucket: String,
    /// With --emit-s3-import: the key prefix they will be uploaded under (`<prefix>/data/`).
    #[arg(long, default_value = "referral-import")]
    s3_prefix: String,
    /// csv or tsv; by default from the extension (.csv / .tsv / .txt, optionally .gz).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// IANA zone of MySQL DATETIME values (RFC 3339 values carry their own offset).
    #[arg(long, default_value = "Asia/Taipei")]
    timezone: chrono_tz::Tz,
    /// Requests to DynamoDB in flight at once (row writes, group transactions, batch reads),
    /// over all the chunks being worked on.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Members per write request: 1 = one conditional write per member (the cheapest in
    /// write units for existing profiles; a new member's write is a transaction with its jkos
    /// binding either way); N = up to N members in one TransactWriteItems (fewer requests,
    /// but each item of a transaction costs 2 write units).
    #[arg(long, default_value_t = 1)]
    group: usize,
    /// The exit status is 3 when there are more rejected rows than this.
    #[arg(long, default_value_t = 0)]
    max_rejects: u64,
    /// Rejected rows (CSV: line, column, reason, detail, account id, phone masked).
    /// Default: `<input>.rejects.csv`.
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Where the run records its progress; a re-run with it continues, if the rows it
    /// applied are unchanged in the input (else exit status 4). Default: `<input>.checkpoint`.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// The PERSONAL event the codes of members qualified before launch belong to.
    #[arg(long, env = "PERSONAL_EVENT_ID", default_value = "personal")]
    personal_event: String,
    /// How often the checkpoint is rewritten at most (it is always written at the end).
    #[arg(long, default_value_t = 500)]
    checkpoint_interval_ms: u64,
    /// auto = a bar on a terminal, lines otherwise.
    #[arg(long, value_enum, default_value = "auto")]
    progress: ProgressMode,
}

#[tokio::main]
async fn main() -> ExitCode {
    referral_import::init_cli_logging();
    let args = Args::parse();
    let mut options = ImportOptions::for_input(&args.input);
    let Some(format) = args.format.or(Format::from_path(&args.input)) else {
        eprintln!("error: cannot tell the format from the file name: pass --format csv|tsv");
        return ExitCode::from(2);
    };
    options.format = format;
    options.timezone = args.timezone;
    options.concurrency = args.concurrency.max(1);
    options.group = args.group.max(1);
    options.max_rejects = args.max_rejects;
    options.progress = args.progress;
    options.checkpoint_every = std::time::Duration::from_millis(args.checkpoint_interval_ms);
    if let Some(r) = args.rejects {
        options.rejects = r;
    }
    if let Some(c) = args.checkpoint {
        options.checkpoint = c;
    }
    options.personal_event = match EventId::parse(&args.personal_event) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: --personal-event {e}");
            return ExitCode::from(2);
        }
    };

    if let Some(dir) = &args.emit_s3_import {
        let target = referral_import::emit::S3Target {
            bucket: args.s3_bucket.clone(),
            prefix: args.s3_prefix.clone(),
            table_name: args.table.clone(),
        };
        return match referral_import::emit::emit(&options, dir, &target, rand::random()) {
            Ok(emitted) => {
                println!(
                    "{}; {} items in {} files under {}",
                    emitted.summary,
                    emitted.items,
                    emitted.files.len(),
                    dir.join("data").display()
                );
                if emitted.summary.rejects_exceeded {
                    eprintln!(
                        "rejected rows ({}) exceed --max-rejects {}: see {}",
                        emitted.summary.counters.rejected,
                        options.max_rejects,
                        options.rejects.display()
                    );
                    return ExitCode::from(3);
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        };
    }

    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .load()
        .await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), &args.table);
    match run(&store, &options).await {
        Ok(summary) => {
            println!("{summary}");
            if summary.rejects_exceeded {
                eprintln!(
                    "rejected rows ({}) exceed --max-rejects {}: see {}",
                    summary.counters.rejected,
                    options.max_rejects,
                    options.rejects.display()
                );
                return ExitCode::from(3);
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.is::<InputChanged>() => {
            eprintln!("error: {e:#}");
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!(
                "error: {e:#}\nthe checkpoint {} holds what was applied; run the same command again to continue",
                options.checkpoint.display()
            );
            ExitCode::from(1)
        }
    }
}
