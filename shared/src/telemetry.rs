//! Logs and metrics. Logs are JSON lines (tracing); metrics are CloudWatch Embedded Metric
//! Format (EMF) lines on stdout, which CloudWatch Logs turns into metrics without an API call.
//! The EMF line is built with serde_json: the format is one small JSON object, not worth a crate.

use crate::time::Instant;
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, Ordering};

/// JSON logs, level from `RUST_LOG` (default `info`). Call once at start-up.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    install_tracing(filter, std::io::stdout);
}

/// The same JSON lines, filtered by `directives`, into `writer`: how the tests capture every
/// line the functions would log.
pub fn init_tracing_into<W>(directives: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    install_tracing(tracing_subscriber::EnvFilter::new(directives), writer);
}

fn install_tracing<W>(filter: tracing_subscriber::EnvFilter, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time() // Lambda timestamps every line
        .with_writer(writer)
        .try_init();
}

/// `METRICS_NAMESPACE`, default `ReferralSvc`.
pub fn namespace() -> String {
    std::env::var("METRICS_NAMESPACE").unwrap_or_else(|_| "ReferralSvc".to_owned())
}

/// One EMF document: `metrics` (name, count) under one set of `dimensions`.
pub fn emf(
    namespace: &str,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, u64)],
    at: Instant,
) -> Value {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
            }],
        }),
    );
    for (k, v) in dimensions {
        doc.insert((*k).into(), Value::String((*v).into()));
    }
    for (name, value) in metrics {
        doc.insert((*name).into(), json!(value));
    }
    Value::Object(doc)
}

static EMF_ON_STDOUT: AtomicBool = AtomicBool::new(true);

/// Whether [`emit`] prints (default: yes, Lambda needs the lines). The local CLI turns it off
/// so what it prints stays readable, and back on with its `--emf` flag.
pub fn set_emf_output(on: bool) {
    EMF_ON_STDOUT.store(on, Ordering::Relaxed);
}

/// Prints an EMF document as one line on stdout (not through tracing: EMF must be the whole line).
pub fn emit(doc: &Value) {
    let line = doc.to_string();
    if EMF_ON_STDOUT.load(Ordering::Relaxed) {
        println!("{line}");
    }
    if let Some(tap) = METRICS_TAP.get() {
        tap(&line);
    }
}

static METRICS_TAP: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Hands every EMF line to `tap` as well as to stdout, for the tests to read what the functions
/// publish. The first tap set stays.
pub fn tap_metrics(tap: fn(&str)) {
    let _ = METRICS_TAP.set(tap);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn emf_document_names_every_metric_and_dimension() {
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, 0).unwrap();
        let doc = emf(
            "ReferralSvc",
            &[("Topic", "rd2_member_info")],
            &[("Records", 12), ("Malformed", 1)],
            at,
        );
        assert_eq!(doc["Topic"], "rd2_member_info");
        assert_eq!(doc["Records"], 12);
        assert_eq!(doc["Malformed"], 1);
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], at.timestamp_millis());
        assert_eq!(cw["Namespace"], "ReferralSvc");
        assert_eq!(cw["Dimensions"], json!([["Topic"]]));
        assert_eq!(
            cw["Metrics"],
            json!([{"Name": "Records", "Unit": "Count"}, {"Name": "Malformed", "Unit": "Count"}])
        );
    }
}
