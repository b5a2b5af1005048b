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
