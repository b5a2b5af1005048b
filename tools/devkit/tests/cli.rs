//! `referral-dev` as a developer runs it, against the local stack (`scripts/stack.sh start`;
//! the endpoints come from `scripts/env.sh`): logs at info by default and on stderr, JSON on
//! stdout, phone numbers masked, the consumers' EMF metric lines only with `--emf`.

use serde_json::{Value, json};
use std::process::Command;

const PHONE: &str = "0987650777";

/// Runs the CLI on its own table and payout queue, RUST_LOG unset; (stdout, stderr).
fn dev(table: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_referral-dev"))
        .args(args)
        .env("TABLE_NAME", table)
        .env("PAYOUT_QUEUE_NAME", table)
        .env_remove("RUST_LOG")
        .output()
        .expect("running referral-dev");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 stdout");
    let stderr = String::from_utf8(out.stderr).expect("UTF-8 stderr");
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    assert!(
        !stdout.contains(PHONE),
        "{args:?} printed a phone: {stdout}"
    );
    assert!(!stderr.contains(PHONE), "{args:?} logged a phone: {stderr}");
    (stdout, stderr)
}

#[test]
fn member_and_publish_print_json_with_phones_masked_and_log_at_info() {
    let table = format!("cli-{:08x}", rand::random::<u32>());
    dev(&table, &["create-table"]);
    dev(&table, &["create-queue"]);

    let (out, err) = dev(
        &table,
        &["publish", "member-info", "acc-cli-1", "--phone", PHONE],
    );
    let report: Value = serde_json::from_str(&out).expect("stdout is one JSON document");
    assert_eq!(
        report,
        json!([{
            "topic": "rd2_member_info", "records": 1, "malformed": 0, "parked": 0,
            "members_written": 1, "write_conflicts": 0, "qualified": 0,
            "rewards_created": 0, "rewards_queued": 0,
        }])
    );
    // Info by default: the consumer's one line per batch.
    assert!(
        err.lines()
            .any(|l| l.contains("INFO") && l.contains("batch applied")),
        "{err}"
    );

    // With --emf, the metric lines Lambda would get, and still the summary.
    let (out, _) = dev(&table, &["publish", "kyc-passed", "acc-cli-1", "--emf"]);
    let emf: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert!(
        emf.iter()
            .any(|m| m["Topic"] == "rd2_registration_member" && m["Records"] == 1),
        "{out}"
    );
    let summary = &out[out.find("[\n").expect("the JSON summary")..];
    let summary: Value = serde_json::from_str(summary).unwrap();
    assert_eq!(summary[0]["topic"], "rd2_registration_member");

    let (out, _) = dev(&table, &["member", "acc-cli-1"]);
    let member: Value = serde_json::from_str(&out).expect("stdout is JSON");
    assert_eq!(member["account_id"], "acc-cli-1");
    assert_eq!(member["jkos_id"], "jk-acc-cli-1");
    assert_eq!(member["phone_number"], "0987***777");
    assert!(member["kyc_pass_time"].is_string(), "{member}");
}

/// A fresh table and payout queue for one test.
fn fresh_table(prefix: &str) -> String {
    let table = format!("{prefix}-{:08x}", rand::random::<u32>());
    dev(&table, &["create-table"]);
    dev(&table, &["create-queue"]);
    table
}

/// `publish file` of `lines`, written to a scratch file; (stdout, stderr).
fn publish_lines(table: &str, name: &str, lines: &[String]) -> std::process::Child {
    let file = std::env::temp_dir().join(format!("{table}-{name}.jsonl"));
    std::fs::write(&file, lines.join("\n")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_referral-dev"))
        .args(["publish", "file"])
        .arg(&file)
        .env("TABLE_NAME", table)
        .env("PAYOUT_QUEUE_NAME", table)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running referral-dev")
}

/// The coordinates `referral-dev parked` lists.
fn parked(table: &str) -> Vec<String> {
    let (out, _) = dev(table, &["parked"]);
    out.lines()
        .filter(|l| l.starts_with("rd2_"))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

#[test]
fn concurrent_publishes_never_share_a_kafka_coordinate() {
    let table = fresh_table("cli-par");
    // Records that are parked (an unknown type), all on one key, so on one partition: each
    // process's offsets must differ from the other's, or a parked record overwrites another.
    const EACH: usize = 90;
    let lines = |who: &str| -> Vec<String> {
        (0..EACH)
            .map(|i| format!(r#"{{"type":"NO_SUCH_TYPE","account_id":"acc-par","n":"{who}{i}"}}"#))
            .collect()
    };
    let children = [
        publish_lines(&table, "a", &lines("a")),
        publish_lines(&table, "b", &lines("b")),
    ];
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report[0]["parked"], EACH, "{report}");
    }
    let coordinates = parked(&table);
    let distinct: std::collections::BTreeSet<_> = coordinates.iter().collect();
    assert_eq!(
        (coordinates.len(), distinct.len()),
        (2 * EACH, 2 * EACH),
        "both processes' parked records are kept, each at its own coordinate"
    );
}

#[test]
fn a_bad_line_of_a_published_file_is_parked_and_the_others_are_applied() {
    let table = fresh_table("cli-bad");
    let deep = format!(
        r#"{{"type":"KYC_PASSED","account_id":"acc-deep","x":{}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let lines = vec![
        r#"{"account_id":"acc-ok-1","jkos_id":"jk-acc-ok-1","jkos_account":"A1","phone_number":"0912000001","created_at":"2026-01-01T00:00:00Z"}"#.to_owned(),
        deep,
        "not JSON at all".to_owned(),
        r#"{"type":"KYC_PASSED","account_id":"acc-ok-1","jkos_id":"jk-acc-ok-1","occurred_at":"2026-01-02T00:00:00Z"}"#.to_owned(),
    ];
    let out = publish_lines(&table, "bad", &lines)
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_topic = |topic: &str| {
        report
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["topic"] == topic)
            .cloned()
            .unwrap_or_else(|| panic!("no {topic} batch: {report}"))
    };
    let registration = by_topic("rd2_registration_member");
    assert_eq!(
        (&registration["records"], &registration["parked"]),
        (&json!(2), &json!(1)),
        "{report}"
    );
    let info = by_topic("rd2_member_info");
    assert_eq!(
        (&info["records"], &info["parked"], &info["members_written"]),
        (&json!(2), &json!(1), &json!(1)),
        "{report}"
    );
    assert_eq!(parked(&table).len(), 2);
    let (out, _) = dev(&table, &["member", "acc-ok-1"]);
    let member: Value = serde_json::from_str(&out).unwrap();
    assert!(member["kyc_pass_time"].is_string(), "{member}");
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let table = fresh_table("cli-pipe");
    let campaign = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/campaigns/personal.json"
    );
    dev(&table, &["load-campaign", campaign]);
    // `referral-dev code SHARE888 | head -0`: the reader is gone before the output is written.
    for args in [&["code", "SHARE888"][..], &["openapi"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_referral-dev"))
            .args(args)
            .env("TABLE_NAME", &table)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}
