//! `referral-dev`: local development commands. Talks to the local stack configured by the
//! environment (`AWS_ENDPOINT_URL_DYNAMODB`, `TABLE_NAME`); see `scripts/env.sh`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use referral_devkit::campaign::{self, CampaignFile};
use referral_devkit::say;
use referral_devkit::table::TableDefinition;
use referral_shared::store::{DynamoStore, PageRequest, prelude::*};
use referral_shared::{AccountId, EventId, ReferralCode, RewardStatus};
use std::path::PathBuf;

mod publish;
mod worker;

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
    /// Delete the table (no-op if it does not exist): for throw-away tables such as the
    /// API fuzzing's.
    DropTable,
    /// Print the OpenAPI document of both HTTP APIs, derived from the code (YAML); the
    /// committed `docs/openapi.yaml` is this output.
    Openapi,
    /// Load a campaign configuration file: validated like the admin API, it replaces the event
    /// whole (windows it no longer lists are deleted, never one rewards were granted under).
    /// With `PERSONAL_EVENT_ID` set, a PERSONAL event must be that one (and that id PERSONAL).
    LoadCampaign { file: PathBuf },
    /// Print an event's whole configuration as the store reads it (one Query).
    Event { event_id: String },
    /// Print a referral code's record (input is normalized like the app's).
    Code { code: String },
    /// Create the local payout queue and its DLQ (no-op if they exist) and print its URL.
    CreateQueue,
    /// Run the payout function on the payout queue as Lambda's SQS trigger would (receive,
    /// invoke with an SQS event, delete what succeeded), wired like the function from the
    /// environment (PAYOUT_QUEUE_URL, FINANCE_URL, MSGHUB_URL… set by scripts/env.sh).
    Payout {
        /// Stop when the queue has nothing visible instead of polling forever.
        #[arg(long)]
        once: bool,
    },
    /// List rewards with a status (PENDING, SUCCESS, FAIL), oldest first.
    Rewards { status: String },
    /// Publish a registration event (REFERRAL_CODE_USED, DEVICE_BOUND, KYC_PASSED) or member
    /// info: wrap it into an MSK event and run the consumer on it, as Lambda's MSK trigger would.
    /// Offsets are reserved in the table (a counter per topic-partition): concurrent publishes
    /// never share a coordinate.
    Publish {
        #[command(subcommand)]
        record: Publish,
        /// Print the MSK event instead of consuming it (for `cargo lambda invoke --data-file`).
        #[arg(long, global = true)]
        print_event: bool,
        /// Also print the CloudWatch EMF metric lines the consumer writes in Lambda.
        #[arg(long, global = true)]
        emf: bool,
    },
    /// Print a member's profile as JSON (phone masked).
    Member { account_id: String },
    /// List parked (unprocessable) Kafka records: coordinates and the typed reason (JSON).
    Parked,
    /// Mint a token the local API gateway accepts (signed with JWT_KEY_FILE's key).
    Token {
        #[command(subcommand)]
        who: Token,
        /// Lifetime in hours.
        #[arg(long, default_value_t = 12, global = true)]
        hours: i64,
        /// Claims (a JSON object) set over the standard ones; null removes one. E.g.
        /// '{"scp":["openid","referral.admin"],"scope":null}' for an admin token as Okta shapes
        /// it, '{"nbf":4102444800}' for one that is not valid yet.
        #[arg(long, global = true)]
        claims: Option<String>,
    },
    /// Serve the app and admin APIs on ADDR behind a local API Gateway (JWT authorizer with
    /// the JWT_KEY_FILE key, payload 2.0 events through lambda_http), wired from the
    /// environment like the functions.
    ServeApi {
        #[arg(long, env = "API_ADDR", default_value = "127.0.0.1:8474")]
        addr: String,
    },
}

#[derive(Subcommand)]
enum Token {
    /// A member token: `sub` = the member's jkos id.
    Member { jkos_id: String },
    /// An admin token: `scope` = referral.admin.
    Admin {
        #[arg(default_value = "admin-local")]
        subject: String,
    },
}

#[derive(Subcommand)]
enum Publish {
    /// REFERRAL_CODE_USED: the member registered with CODE.
    CodeUsed {
        account_id: String,
        code: String,
        #[arg(long)]
        at: Option<String>,
    },
    /// DEVICE_BOUND (with the optional device id of the one-reward-per-device rule).
    DeviceBound {
        account_id: String,
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        device_id: Option<String>,
    },
    /// KYC_PASSED.
    KycPassed {
        account_id: String,
        #[arg(long)]
        at: Option<String>,
    },
    /// rd2_member_info for a new member.
    MemberInfo {
        account_id: String,
        #[arg(long, default_value = "0912345678")]
        phone: String,
        #[arg(long, default_value = "A00000001")]
        jkos_account: String,
    },
    /// Every line of FILE (JSON values; `type` present = registration, else member info). A
    /// line that does not read as JSON is sent as it is and parked like any malformed record.
    File { file: PathBuf },
}

/// The local signing key: JWT_KEY_FILE (scripts/env.sh sets it), created on first use.
fn local_authorizer() -> Result<referral_devkit::gateway::Authorizer> {
    let path = std::env::var("JWT_KEY_FILE").unwrap_or_else(|_| ".local/jwt-signing.key".into());
    referral_devkit::gateway::Authorizer::load_or_create(std::path::Path::new(&path))
}

#[tokio::main]
async fn main() -> Result<()> {
    // Info by default, as the functions log in Lambda (RUST_LOG overrides), so the local
    // stack shows the access log and the consumers' warnings; on stderr, so stdout is only
    // what a command prints (a token, JSON).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let client = referral_devkit::local_dynamodb_client().await;
    let store = DynamoStore::new(client.clone(), &cli.table);
    match cli.command {
        Command::CreateTable => {
            let created = TableDefinition::from_sam_template()?
                .create(&client, &cli.table)
                .await?;
            say!(
                "table {}: {}",
                cli.table,
                if created { "created" } else { "already exists" }
            );
        }
        Command::DropTable => {
            let deleted = referral_devkit::table::drop_table(&client, &cli.table).await?;
            say!(
                "table {}: {}",
                cli.table,
                if deleted { "deleted" } else { "did not exist" }
            );
        }
        Command::Openapi => referral_devkit::output::write(format_args!(
            "{}",
            referral_shared::api::openapi_yaml().map_err(|e| anyhow::anyhow!(e))?
        )),
        Command::LoadCampaign { file } => {
            let campaign = CampaignFile::read(&file)?;
            // The one PERSONAL event is the deployment's (docs/api.md), as in the admin API.
            if let Ok(personal) = std::env::var("PERSONAL_EVENT_ID") {
                let personal = EventId::parse(&personal).context("PERSONAL_EVENT_ID")?;
                let now = chrono::Utc::now();
                campaign
                    .to_config(now, now)?
                    .event
                    .check_type(&personal)
                    .with_context(|| format!("in {}", file.display()))?;
            }
            let s = campaign::load(&store, &campaign, chrono::Utc::now()).await?;
            say!(
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
                Some(config) => say!("{}", serde_json::to_string_pretty(&config)?),
                None => anyhow::bail!("no event {event_id} in table {}", cli.table),
            }
        }
        Command::Code { code } => match store.get_code(&ReferralCode::parse(&code)?).await? {
            Some(record) => say!("{}", serde_json::to_string_pretty(&record)?),
            None => anyhow::bail!("no code {code} in table {}", cli.table),
        },
        Command::CreateQueue => say!("{}", publish::payout_queue_url(true).await?),
        Command::Payout { once } => worker::run(once).await?,
        Command::Rewards { status } => {
            let status: RewardStatus =
                serde_json::from_value(serde_json::Value::String(status.to_uppercase()))
                    .context("status must be PENDING, SUCCESS or FAIL")?;
            let page = store
                .rewards_by_status(status, PageRequest::first(200))
                .await?;
            for r in &page.items {
                let notified = r
                    .notification
                    .as_ref()
                    .map(|n| format!("{:?}", n.status))
                    .unwrap_or_else(|| "-".into());
                say!(
                    "{}  {} {} {}  to {}  attempts {}  compensation {}  notified {}  {}",
                    r.reward_id,
                    r.status.as_str(),
                    r.terms.amount,
                    r.terms.reward_type.as_str(),
                    r.member_jkos_id,
                    r.attempts,
                    r.compensation_id.as_deref().unwrap_or("-"),
                    notified,
                    r.last_error.as_deref().unwrap_or("")
                );
            }
            say!("{} reward(s)", page.items.len());
        }
        Command::Publish {
            record,
            print_event,
            emf,
        } => {
            // The metric lines go through `say!` too (a closed stdout ends the command quietly).
            referral_shared::telemetry::set_emf_output(false);
            if emf {
                referral_shared::telemetry::tap_metrics(referral_devkit::output::emf);
            }
            let values = match record {
                Publish::CodeUsed {
                    account_id,
                    code,
                    at,
                } => vec![publish::registration(
                    "REFERRAL_CODE_USED",
                    &account_id,
                    Some(&code),
                    at,
                )?],
                // As they are: a line that is not JSON is parked like any malformed record.
                Publish::File { file } => {
                    let records = publish::read_lines(&file)?;
                    publish::run(store, &client, &cli.table, records, print_event).await?;
                    return Ok(());
                }
                Publish::DeviceBound {
                    account_id,
                    at,
                    device_id,
                } => {
                    let mut record = publish::registration("DEVICE_BOUND", &account_id, None, at)?;
                    if let Some(device) = device_id {
                        record["device_id"] = serde_json::json!(device);
                    }
                    vec![record]
                }
                Publish::KycPassed { account_id, at } => {
                    vec![publish::registration("KYC_PASSED", &account_id, None, at)?]
                }
                Publish::MemberInfo {
                    account_id,
                    phone,
                    jkos_account,
                } => vec![publish::member_info(&account_id, &phone, &jkos_account)],
            };
            let records = values.iter().map(publish::Record::json).collect();
            publish::run(store, &client, &cli.table, records, print_event).await?;
        }
        Command::Member { account_id } => {
            match store.get_member(&AccountId::parse(&account_id)?).await? {
                Some(member) => say!(
                    "{}",
                    serde_json::to_string_pretty(&referral_devkit::output::member(&member)?)?
                ),
                None => anyhow::bail!("no member {account_id} in table {}", cli.table),
            }
        }
        Command::Token { who, hours, claims } => {
            let authorizer = local_authorizer()?;
            let ttl = chrono::Duration::hours(hours);
            let extra: serde_json::Map<String, serde_json::Value> = match claims {
                Some(text) => serde_json::from_str(&text).context(
                    "--claims must be a JSON object, e.g. '{\"scp\":\"referral.admin\"}'",
                )?,
                None => serde_json::Map::new(),
            };
            let token = match who {
                Token::Member { jkos_id } => {
                    referral_shared::JkosId::parse(&jkos_id)?;
                    authorizer.mint_with(&jkos_id, &[], ttl, &extra)?
                }
                Token::Admin { subject } => authorizer.mint_with(
                    &subject,
                    &[referral_shared::api::ADMIN_SCOPE],
                    ttl,
                    &extra,
                )?,
            };
            say!("{token}");
        }
        Command::ServeApi { addr } => {
            let gateway = referral_devkit::gateway::from_env(local_authorizer()?).await?;
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            tracing::info!(%addr, "local API gateway listening");
            eprintln!("app and admin APIs on http://{addr}");
            gateway.serve(listener).await?;
        }
        Command::Parked => {
            let page = store.parked_records(PageRequest::first(200)).await?;
            for p in &page.items {
                // The typed reason: a kind and a field or position, never a record value.
                let reason = serde_json::to_string(&p.reason)?;
                say!("{}  {reason}", p.coordinates());
            }
            say!("{} parked record(s)", page.items.len());
        }
    }
    Ok(())
}
