//! `referral-partners`: the finance and msg-hub stand-ins on one local port, for the dev stack
//! and for demos. Steer it over HTTP: `PUT /_stand-in/knobs`, `GET /_stand-in/calls`,
//! `GET /_stand-in/payments`, `POST /_stand-in/reset` (see docs/partners.md).

use clap::Parser;
use std::net::SocketAddr;

#[derive(Parser)]
#[command(about = "Local stand-ins for the finance compensation API and msg-hub")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "PARTNERS_ADDR", default_value = "127.0.0.1:8473")]
    addr: SocketAddr,
    /// Seed of the injected failures (repeatable runs).
    #[arg(long, env = "PARTNERS_SEED", default_value_t = 1)]
    seed: u64,
    /// Initial knobs as JSON, e.g. '{"finance":{"error_rate":0.3}}'.
    #[arg(long, env = "PARTNERS_KNOBS")]
    knobs: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let running = referral_partners::spawn(args.addr, args.seed).await?;
    if let Some(knobs) = args.knobs {
        running.stand_in.set_knobs(serde_json::from_str(&knobs)?);
    }
    println!(
        "partner stand-ins on {} (finance: /v1/compensations, msg-hub: /v1/messages, control: /_stand-in/)",
        running.base_url
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
