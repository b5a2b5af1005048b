//! Cold start of built function binaries (not a test: numbers, not assertions). Each binary is
//! started against the stand-in Runtime API (`referral_tests::runtime_api`) and timed until it
//! first polls `/invocation/next` — what Lambda reports as Init Duration, minus the download
//! and sandbox set-up this machine cannot reproduce. Runs are interleaved across binaries so
//! machine noise spreads evenly; the median is the figure to compare.
//! The functions read their variables at init: run with the local stack's env
//! (`source scripts/env.sh`). Used by bench/release-profile.sh.
//!   bench-cold-start [--runs N] <binary>...

use referral_tests::runtime_api::{FunctionProcess, RuntimeApi};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let mut runs = 15usize;
    let mut binaries = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--runs" {
            runs = args
                .next()
                .and_then(|n| n.parse().ok())
                .expect("--runs takes a number");
        } else {
            binaries.push(PathBuf::from(arg));
        }
    }
    assert!(
        !binaries.is_empty(),
        "usage: bench-cold-start [--runs N] <binary>..."
    );
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); binaries.len()];
    for _ in 0..runs {
        for (binary, times) in binaries.iter().zip(samples.iter_mut()) {
            let api = RuntimeApi::start().await;
            let started = Instant::now();
            let mut process = FunctionProcess::spawn(binary, &api, &[]);
            let Some(polled) = api.first_poll(Duration::from_secs(20)).await else {
                panic!(
                    "{} never polled for an event: {:?}",
                    binary.display(),
                    process.output()
                );
            };
            times.push(polled.duration_since(started).as_secs_f64() * 1000.0);
            assert!(process.is_running(), "{} exited at init", binary.display());
            drop(process);
        }
    }
    println!("| binary | size (bytes) | init median (ms) | min | max | runs |");
    println!("|---|---|---|---|---|---|");
    for (binary, mut times) in binaries.iter().zip(samples) {
        times.sort_by(f64::total_cmp);
        let size = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);
        println!(
            "| {} | {size} | {:.1} | {:.1} | {:.1} | {} |",
            binary.file_name().unwrap_or_default().to_string_lossy(),
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            times.len()
        );
    }
}
