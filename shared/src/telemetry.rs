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
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = json_lines(filter, writer).try_init();
}

/// One JSON object per line; every line lists its spans (`spans`: name and fields, outermost
/// first), so what a span carries (a member's account and offsets, a message's id) is on
/// every line logged inside it.
fn json_lines<W>(filter: tracing_subscriber::EnvFilter, writer: W) -> impl tracing::Subscriber
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(true)
        .with_ansi(false)
        .without_time() // Lambda timestamps every line
        .with_writer(writer)
        .finish()
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

/// The JSON lines this thread logs while a capture lives (tests of what the log says).
#[cfg(test)]
pub(crate) struct Capture {
    buffer: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[cfg(test)]
impl Capture {
    pub(crate) fn start() -> Self {
        #[derive(Clone)]
        struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Writer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = Writer(buffer.clone());
        let subscriber = json_lines(tracing_subscriber::EnvFilter::new("trace"), move || {
            writer.clone()
        });
        Self {
            buffer,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    pub(crate) fn lines(&self) -> Vec<Value> {
        let bytes = self.buffer.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    /// The spans the engines open (member, message, request, sweep) reach CloudWatch as
    /// fields of every line logged inside them: the lines need not repeat them.
    #[test]
    fn log_lines_carry_the_fields_of_their_spans() {
        let capture = Capture::start();
        let span = tracing::info_span!("message", message_id = "m-1", receive_count = 2);
        span.in_scope(|| tracing::info!("already paid; duplicate message"));
        let lines = capture.lines();
        let line = &lines[0];
        assert_eq!(line["fields"]["message"], "already paid; duplicate message");
        assert_eq!(line["spans"][0]["name"], "message");
        assert_eq!(line["spans"][0]["message_id"], "m-1");
        assert_eq!(line["spans"][0]["receive_count"], 2);
    }

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
