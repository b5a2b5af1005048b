//! The launch-day import against DynamoDB Local (ADR 0007): what a dump creates, that a
//! second run changes nothing, that `kill -9` at random moments followed by re-runs ends in
//! the same table as one uninterrupted run, and that the import racing the registration
//! consumer on the same members keeps one profile and at most one code per member and loses
//! nobody's progress.

use aws_sdk_dynamodb::types::AttributeValue;
use rand::Rng;
use referral_import::apply::Backoff;
use referral_import::checkpoint::{Checkpoint, InputChanged};
use referral_import::dump::Format;
use referral_import::generate::{account, write_dump};
use referral_import::progress::ProgressMode;
use referral_import::{ImportOptions, emit, run};
use referral_shared::contracts::kafka::TOPIC_REGISTRATION;
use referral_shared::domain::{MemberProfile, ReferralCodeRecord, ReferralOutcome};
use referral_shared::store::items::{self, Item};
use referral_shared::store::prelude::*;
use referral_shared::store::{Entity, StoreError};
use referral_shared::*;
use referral_tests::TestTable;
use referral_tests::ingest_support::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

type Attrs = HashMap<String, AttributeValue>;

/// A scratch directory, removed when the test ends (pass or fail).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn scratch_dir() -> Scratch {
    let dir = std::env::temp_dir().join(format!("import-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn options(input: &Path, dir: &Path, tag: &str) -> ImportOptions {
    let mut o = ImportOptions::for_input(input);
    o.rejects = dir.join(format!("{tag}.rejects.csv"));
    o.checkpoint = dir.join(format!("{tag}.checkpoint"));
    o.progress = ProgressMode::Off;
    o.max_rejects = u64::MAX;
    o
}

/// Options of a run a test stops or disturbs with DynamoDB outages: `chunk_rows` per chunk,
/// 4 requests at a time, a checkpoint after every chunk, and `(attempts, first, max)` retries
/// (milliseconds).
fn outage_options(
    input: &Path,
    dir: &Path,
    tag: &str,
    chunk_rows: usize,
    (attempts, first_ms, max_ms): (u32, u64, u64),
) -> ImportOptions {
    let mut o = options(input, dir, tag);
    o.chunk_rows = chunk_rows;
    o.concurrency = 4;
    o.checkpoint_every = Duration::ZERO;
    o.backoff = Backoff {
        attempts,
        first_delay: Duration::from_millis(first_ms),
        max_delay: Duration::from_millis(max_ms),
    };
    o
}

async fn scan(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<Attrs> {
    referral_tests::scan_all(client, table).await
}

fn entity(item: &Attrs) -> &str {
    item["entity"].as_s().unwrap()
}

fn parse<T: serde::de::DeserializeOwned>(item: Attrs) -> T {
    let item: Item<T> = serde_dynamo::from_item(item).expect("the store's item mapping reads it");
    item.data
}

/// The table's members and codes, split by entity; every member's jkos id is bound to its
/// account, and nothing else is (ADR 0010).
async fn contents(table: &TestTable) -> (Vec<MemberProfile>, Vec<ReferralCodeRecord>, usize) {
    let (mut members, mut codes, mut other) = (Vec::new(), Vec::new(), 0);
    let mut bindings = HashMap::new();
    for item in scan(&table.client, &table.name).await {
        match entity(&item) {
            "Member" => members.push(parse::<MemberProfile>(item)),
            "Code" => codes.push(parse::<ReferralCodeRecord>(item)),
            "JkosBinding" => {
                let b: items::JkosBinding = parse(item);
                bindings.insert(b.jkos_id, b.account_id);
            }
            _ => other += 1,
        }
    }
    assert_eq!(bindings.len(), members.len(), "one binding per member");
    for m in &members {
        assert_eq!(
            bindings.get(&m.jkos_id),
            Some(&m.account_id),
            "{}",
            m.account_id
        );
        assert!(m.jkos_id_bound);
    }
    (members, codes, other)
}

/// The table's content without what differs from run to run by design: creation/update
/// times and the random codes (only whether a member has one, and that it is theirs).
async fn normalized(table: &TestTable) -> BTreeMap<String, serde_json::Value> {
    let (members, codes, other) = contents(table).await;
    assert_eq!(other, 0, "the import writes only profiles and codes");
    let owners: HashMap<ReferralCode, String> = codes
        .iter()
        .map(|c| (c.code.clone(), c.source.to_string()))
        .collect();
    assert_eq!(owners.len(), codes.len());
    members
        .into_iter()
        .map(|m| {
            let code_owner = m.own_code.as_ref().map(|c| owners[c].clone());
            let mut v = serde_json::to_value(&m).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("created_at");
            o.remove("updated_at");
            o.insert("own_code".into(), serde_json::json!(code_owner));
            (m.account_id.to_string(), v)
        })
        .collect()
}

#[tokio::test]
async fn a_dump_creates_profiles_and_codes_rejects_bad_rows_and_a_second_run_changes_nothing() {
    let table = TestTable::create().await;
    let dir = scratch_dir();
    let input = dir.join("members.csv");
    std::fs::write(
        &input,
        "account_id,member_jkos_id,jkos_account,phone_number,created_at,kyc_pass_time,device_bind_time,updated_at\n\
acc-1,jk-1,A0000001,0912345678,2024-01-01 08:00:00,2024-01-02 08:00:00,2024-01-03 09:30:00,x\n\
acc-2,jk-2,A0000002,0912345679,2024-01-01 08:00:00,2024-01-02 08:00:00,,x\n\
acc-3,jk-3,A0000003,12-34,2024-01-01 08:00:00,,,x\n\
acc-4,jk-4,A0000004,0912345670,2024-01-01T00:00:00Z,\\N,NULL,x\n\
acc-5,,A0000005,0912345671,2024-01-01 08:00:00,,,x\n",
    )
    .unwrap();
    let mut opts = options(&input, &dir, "run");
    opts.max_rejects = 1;
    let summary = run(&table.store, &opts).await.unwrap();
    let c = summary.counters;
    assert_eq!(
        (
            c.rows,
            c.created,
            c.completed,
            c.already_present,
            c.codes_created,
            c.rejected
        ),
        (5, 3, 0, 0, 1, 2),
        "{summary}"
    );
    assert!(summary.rejects_exceeded, "2 rejects > --max-rejects 1");

    let a1 = table
        .store
        .get_member(&AccountId::parse("acc-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a1.jkos_id.as_str(), "jk-1");
    assert_eq!(a1.phone_number.as_ref().unwrap().expose(), "0912345678");
    // Asia/Taipei is UTC+8.
    assert_eq!(
        time::format(&a1.registered_at.unwrap()),
        "2024-01-01T00:00:00.000Z"
    );
    assert_eq!(
        time::format(&a1.qualified_at.unwrap()),
        "2024-01-03T01:30:00.000Z"
    );
    assert!(a1.reward_grant.is_none() && a1.referral.is_none());
    let code = table
        .store
        .get_code(a1.own_code.as_ref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code.source.to_string(), "member:jk-1");
    assert_eq!(code.event_type, EventType::Personal);
    assert_eq!(code.event_id.as_str(), "personal");
    let a2 = table
        .store
        .get_member(&AccountId::parse("acc-2").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(a2.qualified_at.is_none() && a2.own_code.is_none() && a2.kyc_pass_time.is_some());
    let a4 = table
        .store
        .get_member(&AccountId::parse("acc-4").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        time::format(&a4.registered_at.unwrap()),
        "2024-01-01T00:00:00.000Z"
    );

    let rejects = std::fs::read_to_string(&opts.rejects).unwrap();
    assert_eq!(
        rejects,
        "line,column,reason,detail,account_id,phone_masked\n\
4,phone_number,INVALID,\"must be 6 to 10 characters: digits, optionally after a leading '+'\",acc-3,*****\n\
6,member_jkos_id,MISSING,required,acc-5,0912***671\n"
    );
    let checkpoint = Checkpoint::load(&opts.checkpoint).unwrap().unwrap();
    assert!(checkpoint.complete);

    // The same checkpoint: complete, nothing to do. A fresh checkpoint: every row is
    // already present, no second code.
    let again = run(&table.store, &opts).await.unwrap();
    assert!(again.already_complete);
    let before = normalized(&table).await;
    let fresh = run(&table.store, &options(&input, &dir, "fresh"))
        .await
        .unwrap();
    let c = fresh.counters;
    assert_eq!(
        (
            c.created,
            c.completed,
            c.already_present,
            c.codes_created,
            c.rejected
        ),
        (0, 0, 3, 0, 2)
    );
    assert_eq!(normalized(&table).await, before);
    let (_, codes, _) = contents(&table).await;
    assert_eq!(codes.len(), 1);
}

fn import_command(table: &str, input: &Path, dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_referral-import"));
    cmd.arg(input)
        .args([
            "--table",
            table,
            "--concurrency",
            "8",
            "--progress",
            "lines",
            // A checkpoint after every chunk, so a kill can also land mid-checkpoint.
            "--checkpoint-interval-ms",
            "0",
        ])
        .arg("--max-rejects")
        .arg("1000")
        .arg("--rejects")
        .arg(dir.join("killed.rejects.csv"))
        .arg("--checkpoint")
        .arg(dir.join("killed.checkpoint"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    cmd
}

#[tokio::test]
async fn killed_at_random_moments_and_resumed_it_ends_like_an_uninterrupted_run() {
    let (killed, whole) = tokio::join!(TestTable::create(), TestTable::create());
    let dir = scratch_dir();
    let input = dir.join("members.tsv.gz");
    {
        let file = std::fs::File::create(&input).unwrap();
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let stats = write_dump(&mut gz, Format::Tsv, 4_000, 30, 7).unwrap();
        assert!(stats.malformed > 0 && stats.qualified > 0);
        gz.finish().unwrap();
    }

    // Killed (SIGKILL) at random moments, then re-run until it finishes. Each run is killed
    // a random 0-250 ms after its checkpoint first moved (so every run gets somewhere); with a
    // checkpoint after every chunk the kill lands anywhere: mid-chunk, mid-write,
    // mid-checkpoint.
    let checkpoint = dir.join("killed.checkpoint");
    let offset = || {
        Checkpoint::load(&checkpoint)
            .unwrap()
            .map(|c| c.position.offset)
    };
    let mut rng = rand::rng();
    let mut kills = 0;
    let mut positions = Vec::new();
    for _ in 0..4 {
        let before = offset();
        let mut child = import_command(&killed.name, &input, &dir).spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while offset() == before && std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..250)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
        }
        child.wait().unwrap();
        // Whatever moment the kill hit, the checkpoint is whole.
        positions.extend(offset());
    }
    let out = import_command(&killed.name, &input, &dir).output().unwrap();
    eprintln!(
        "{kills} kills at offsets {positions:?}; last run: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(kills >= 2, "the runs were killed mid-way ({kills} kills)");
    assert!(positions.windows(2).all(|w| w[0] <= w[1]), "{positions:?}");
    let mut advanced = positions.clone();
    advanced.dedup();
    assert!(
        advanced.len() >= 2,
        "the killed runs made progress: {positions:?}"
    );

    // One uninterrupted run, in-process, on another table.
    let summary = run(&whole.store, &options(&input, &dir, "whole"))
        .await
        .unwrap();
    assert_eq!(summary.counters.rows, 4_000);

    let (a, b) = (normalized(&killed).await, normalized(&whole).await);
    assert_eq!(a.len() as u64, 4_000 - summary.counters.rejected);
    assert_eq!(
        a, b,
        "the same profiles, fields, qualifications and code owners"
    );
    let (_, codes, _) = contents(&killed).await;
    assert_eq!(codes.len() as u64, summary.counters.codes_created);
    assert_eq!(
        std::fs::read(dir.join("killed.rejects.csv")).unwrap(),
        std::fs::read(dir.join("whole.rejects.csv")).unwrap(),
        "each reject exactly once"
    );
}

#[tokio::test]
async fn the_import_racing_the_registration_consumer_keeps_one_profile_one_code_and_all_progress() {
    race_with_the_consumer(1).await;
}

#[tokio::test]
async fn the_grouped_import_racing_the_registration_consumer_keeps_one_profile_one_code_and_all_progress()
 {
    race_with_the_consumer(10).await;
}

async fn race_with_the_consumer(group: usize) {
    const MEMBERS: u64 = 120;
    let h = Harness::new().await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.consumer(TOPIC_REGISTRATION);
    let dir = scratch_dir();
    let input = dir.join("members.tsv");
    // Every member in the dump; even ones passed KYC and bound a device before launch.
    // The dump is written in reverse so the import and the consumer meet in the middle.
    let mut dump = String::new();
    for i in (0..MEMBERS).rev() {
        let times = if i % 2 == 0 {
            "2024-05-01 10:00:00\t2024-05-02 10:00:00"
        } else {
            "\\N\t\\N"
        };
        dump.push_str(&format!(
            "{}\tjk-{}\tA{i:07}\t0922{i:06}\t2023-01-01 00:00:00\t{times}\n",
            account(i),
            account(i)
        ));
    }
    std::fs::write(&input, dump).unwrap();

    // Meanwhile, on the topic: every member uses SHARE888; every third passes KYC and
    // binds a device (day 5-7 of November 2026, in the campaign's window w1).
    let batches: Vec<_> = (0..MEMBERS)
        .collect::<Vec<_>>()
        .chunks(10)
        .enumerate()
        .map(|(b, ids)| {
            let mut values = Vec::new();
            for &i in ids {
                let acc = account(i);
                values.push(registration(
                    "REFERRAL_CODE_USED",
                    &acc,
                    Some("SHARE888"),
                    fixtures_at(5),
                ));
                if i % 3 == 0 {
                    values.push(registration("KYC_PASSED", &acc, None, fixtures_at(6)));
                    values.push(registration("DEVICE_BOUND", &acc, None, fixtures_at(7)));
                }
            }
            referral_devkit::msk::event(&reg_records(b as i64 * 100, &values))
        })
        .collect();
    let mut opts = options(&input, &dir, "race");
    opts.concurrency = 8;
    opts.chunk_rows = 20;
    opts.group = group;
    // The first batch (members 0-9, the dump's last rows) lands before the import starts, so
    // the import surely meets profiles the consumer created; the rest races with it (the
    // dump's first rows are the consumer's last batch: the import surely creates those).
    let (first, rest) = batches.split_first().expect("batches");
    consumer.handle(first).await.expect("the batch applies");
    let consume = async {
        for batch in rest {
            consumer.handle(batch).await.expect("the batch applies");
        }
    };
    let (summary, ()) = tokio::join!(run(&h.table.store, &opts), consume);
    let summary = summary.unwrap();
    eprintln!("{summary}");
    let c = summary.counters;
    assert_eq!(c.rejected, 0);
    // Both orders happened: profiles the import created, and ones the consumer had created
    // that the import completed.
    assert!(c.created > 0 && c.completed > 0, "{summary}");

    let (members, codes, _) = contents(&h.table).await;
    assert_eq!(members.len() as u64, MEMBERS, "one profile per member");
    let mut codes_by_owner: HashMap<String, usize> = HashMap::new();
    for c in &codes {
        *codes_by_owner.entry(c.source.to_string()).or_default() += 1;
    }
    for m in &members {
        let i: u64 = m.account_id.as_str()[4..].parse().unwrap();
        let owner = format!("member:{}", m.jkos_id);
        // The import's fields are there, whoever wrote first.
        assert_eq!(
            m.jkos_account.as_ref().unwrap().as_str(),
            format!("A{i:07}")
        );
        assert!(m.registered_at.is_some() && m.phone_number.is_some());
        // The consumer's code use is there, whoever wrote first.
        let used = m.referral.as_ref().expect("the code use is kept");
        assert!(matches!(used.outcome, ReferralOutcome::Accepted { .. }));
        // Steps from either side are kept; both known = qualified, with exactly one code.
        let dump_qualified = i % 2 == 0;
        let live_qualified = i % 3 == 0;
        assert_eq!(
            m.kyc_pass_time.is_some(),
            dump_qualified || live_qualified,
            "{}",
            m.account_id
        );
        if dump_qualified || live_qualified {
            assert!(m.qualified_at.is_some(), "{}", m.account_id);
            assert_eq!(
                codes_by_owner.get(&owner),
                Some(&1),
                "{} has one code",
                m.account_id
            );
            let own = m.own_code.as_ref().unwrap();
            assert!(
                codes
                    .iter()
                    .any(|c| &c.code == own && c.source.to_string() == owner)
            );
        } else {
            assert!(m.own_code.is_none() && !codes_by_owner.contains_key(&owner));
        }
        // A qualified referee's referral is judged whoever wrote last (the consumer's settle,
        // or the import's with the code's configuration): never left due.
        if m.qualified_at.is_some() {
            assert!(m.reward_grant.is_some(), "{} judged", m.account_id);
            assert!(!m.has_due_effects(), "{} settled", m.account_id);
        }
        // Every granted reward exists, whoever settled it.
        let granted = m.granted_rewards();
        for id in &granted {
            assert!(h.table.store.get_reward(id).await.unwrap().is_some());
        }
    }
    let qualified = members.iter().filter(|m| m.qualified_at.is_some()).count();
    assert_eq!(
        codes.len(),
        qualified + 1,
        "one code per qualified member, plus SHARE888"
    );

    // The import again (a fresh checkpoint) changes nothing.
    let before = normalized_with(&h).await;
    let again = run(&h.table.store, &options(&input, &dir, "again"))
        .await
        .unwrap();
    assert_eq!(again.counters.already_present, MEMBERS);
    assert_eq!(normalized_with(&h).await, before);
}

fn fixtures_at(day: u32) -> time::Instant {
    referral_tests::fixtures::at(day, 0)
}

/// Profiles by account (times dropped), for a table with rewards and other items in it.
async fn normalized_with(h: &Harness) -> BTreeMap<String, serde_json::Value> {
    let (members, _, _) = contents(&h.table).await;
    members
        .into_iter()
        .map(|m| {
            let mut v = serde_json::to_value(&m).unwrap();
            v.as_object_mut().unwrap().remove("updated_at");
            (m.account_id.to_string(), v)
        })
        .collect()
}

#[tokio::test]
async fn dynamodb_unavailable_is_retried_and_a_run_that_gives_up_continues_from_its_checkpoint() {
    let (first, second) = tokio::join!(TestTable::create(), TestTable::create());
    let dir = scratch_dir();
    let input = dir.join("members.tsv");
    let mut file = std::fs::File::create(&input).unwrap();
    write_dump(&mut file, Format::Tsv, 600, 0, 11).unwrap();
    drop(file);
    let quick = |tag: &str| outage_options(&input, &dir, tag, 50, (8, 20, 100));

    // A short outage (every request fails for 150 ms): retried, nothing lost.
    first.round_trips.fail_after(100);
    let healer = {
        let trips = first.round_trips.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            trips.heal();
        })
    };
    let summary = run(&first.store, &quick("outage")).await.unwrap();
    healer.await.unwrap();
    assert_eq!(summary.counters.created, 600, "{summary}");

    // An outage longer than the retries: the run stops, its checkpoint covers a prefix; once
    // DynamoDB is back the same command finishes, with the same table as the first.
    second.round_trips.fail_after(150);
    let opts = quick("gave-up");
    let err = run(&second.store, &opts).await.unwrap_err();
    assert!(format!("{err:#}").contains("unavailable"), "{err:#}");
    let stopped = Checkpoint::load(&opts.checkpoint).unwrap().unwrap();
    assert!(!stopped.complete && stopped.counters.rows < 600);
    second.round_trips.heal();
    let summary = run(&second.store, &opts).await.unwrap();
    assert!(summary.resumed && summary.counters.rows == 600, "{summary}");
    assert_eq!(normalized(&first).await, normalized(&second).await);
}

#[tokio::test]
async fn emitted_s3_import_files_hold_the_store_item_shapes_unique_codes_and_the_api_imports_content()
 {
    let dir = scratch_dir();
    let input = dir.join("members.csv.gz");
    {
        let file = std::fs::File::create(&input).unwrap();
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        write_dump(&mut gz, Format::Csv, 1_500, 20, 5).unwrap();
        gz.finish().unwrap();
    }
    let out = dir.join("s3");
    let target = emit::S3Target {
        bucket: "launch-bucket".into(),
        prefix: "referral/2026-11".into(),
        table_name: "referral-svc-prod".into(),
    };
    let opts = options(&input, &dir, "emit");
    let emitted = emit::emit(&opts, &out, &target, 99).unwrap();
    let c = emitted.summary.counters;
    assert_eq!(c.rows, 1_500);
    assert!(c.rejected > 0 && c.codes_created > 0);

    // Every line parses back through the store's own item mapping, in exactly its shape.
    let items = emit::read_items(&emitted.files).unwrap();
    assert_eq!(items.len() as u64, emitted.items);
    assert_eq!(items.len() as u64, 2 * c.created + c.codes_created);
    let mut codes = std::collections::HashSet::new();
    let mut owners = HashMap::new();
    let mut bindings = HashMap::new();
    let mut members = Vec::new();
    for attrs in &items {
        match entity(attrs) {
            "Member" => {
                let m: MemberProfile = parse(attrs.clone());
                let again: Attrs = serde_dynamo::to_item(items::member_item(&m)).unwrap();
                assert_eq!(&again, attrs, "the member item's exact shape");
                members.push(m);
            }
            "Code" => {
                let code: ReferralCodeRecord = parse(attrs.clone());
                let again: Attrs = serde_dynamo::to_item(items::code_item(&code)).unwrap();
                assert_eq!(&again, attrs, "the code item's exact shape");
                assert!(codes.insert(code.code.clone()), "codes are unique");
                owners.insert(code.code.clone(), code.source.to_string());
            }
            "JkosBinding" => {
                let b: items::JkosBinding = parse(attrs.clone());
                let again: Attrs = serde_dynamo::to_item(items::jkos_binding_item(&b)).unwrap();
                assert_eq!(&again, attrs, "the binding item's exact shape");
                assert!(
                    bindings.insert(b.jkos_id, b.account_id).is_none(),
                    "one per jkos id"
                );
            }
            other => panic!("unexpected entity {other}"),
        }
    }
    assert_eq!(bindings.len(), members.len());
    for m in &members {
        assert_eq!(bindings[&m.jkos_id], m.account_id);
        assert_eq!(m.version, 1);
        match &m.own_code {
            Some(code) => assert_eq!(owners[code], format!("member:{}", m.jkos_id)),
            None => assert!(m.qualified_at.is_none()),
        }
    }

    // What creating the table from them needs.
    let params: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("import-table.json")).unwrap())
            .unwrap();
    assert_eq!(params["InputFormat"], "DYNAMODB_JSON");
    assert_eq!(params["InputCompressionType"], "GZIP");
    assert_eq!(
        params["S3BucketSource"]["S3KeyPrefix"],
        "referral/2026-11/data/"
    );
    assert_eq!(
        params["TableCreationParameters"]["TableName"],
        "referral-svc-prod"
    );
    assert_eq!(
        params["TableCreationParameters"]["GlobalSecondaryIndexes"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "GSI1 (collections), GSI2 (rewards by status), GSI3 (a payee's rewards)"
    );
    assert!(out.join("import-source-specification.json").exists());
    let stack: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("template-parameters.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        stack,
        serde_json::json!([
            { "ParameterKey": "ImportS3Bucket", "ParameterValue": "launch-bucket" },
            { "ParameterKey": "ImportS3KeyPrefix", "ParameterValue": "referral/2026-11/data/" },
        ])
    );

    // Loaded into a table (DynamoDB Local has no ImportTable: BatchWriteItem of the same
    // items), it is what the API import writes into an empty table.
    let (loaded, imported) = tokio::join!(TestTable::create(), TestTable::create());
    emit::batch_write(&loaded.client, &loaded.name, items, 4)
        .await
        .unwrap();
    run(&imported.store, &options(&input, &dir, "api"))
        .await
        .unwrap();
    assert_eq!(normalized(&loaded).await, normalized(&imported).await);
    assert_eq!(
        std::fs::read(dir.join("emit.rejects.csv")).unwrap(),
        std::fs::read(dir.join("api.rejects.csv")).unwrap()
    );
}

#[tokio::test]
async fn a_group_is_written_whole_or_not_at_all() {
    use referral_shared::domain::{JkosId, Settlement};
    use referral_shared::store::{MemberGroups, MemberWrite};
    let table = TestTable::create().await;
    let member = |account: &str| {
        let mut m = MemberProfile::new(
            AccountId::parse(account).unwrap(),
            JkosId::parse(format!("jk-{account}")).unwrap(),
            referral_tests::fixtures::at(1, 0),
        );
        m.version = 1;
        m
    };
    let (a, b) = (member("g-a"), member("g-b"));
    table.store.put_member(&b).await.unwrap(); // b exists: its create must fail
    let none = Settlement::default();
    let uncounted = referral_shared::domain::FunnelDelta::default();
    let write = |m| MemberWrite {
        member: m,
        expected_version: 0,
        settlement: &none,
        funnel: &uncounted,
    };
    let err = table
        .store
        .save_members_together(&[write(&a), write(&b)])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { entity: Entity::Member, key } if key == "MEMBER#g-b"),
        "{err}"
    );
    assert!(
        table
            .store
            .get_member(&a.account_id)
            .await
            .unwrap()
            .is_none(),
        "nothing written"
    );
    let (result, trips) = table
        .round_trips
        .during(table.store.save_members_together(&[write(&a)]))
        .await;
    result.unwrap();
    assert_eq!(trips, 1);
    assert!(
        table
            .store
            .get_member(&a.account_id)
            .await
            .unwrap()
            .is_some()
    );
}

#[test]
fn emit_writes_a_repeated_account_once_and_rejects_the_later_rows_with_the_first_line() {
    let dir = scratch_dir();
    let input = dir.join("members.tsv");
    let row = |account: &str, kyc: &str, device: &str| {
        format!(
            "{account}\tjk-{account}\tJ{}\t0912345678\t2023-05-01 09:15:00\t{kyc}\t{device}\n",
            account.trim_start_matches("acc-")
        )
    };
    let mut dump = String::new();
    let mut expected_repeats = Vec::new();
    for n in 0..3_000u32 {
        // Every 7th row repeats the account of the row 500 lines earlier (both qualified).
        let line = n as u64 + 1;
        if n >= 500 && n % 7 == 0 {
            let first = n - 500;
            dump.push_str(&row(
                &format!("acc-{first}"),
                "2023-05-02 10:00:00",
                "2023-05-02 10:05:00",
            ));
            expected_repeats.push(line);
        } else {
            dump.push_str(&row(
                &format!("acc-{n}"),
                "2023-05-02 10:00:00",
                "2023-05-02 10:05:00",
            ));
        }
    }
    std::fs::write(&input, dump).unwrap();
    let target = emit::S3Target {
        bucket: "b".into(),
        prefix: "p".into(),
        table_name: "t".into(),
    };
    let opts = options(&input, &dir, "emit");
    let emitted = emit::emit(&opts, &dir.join("s3"), &target, 7).unwrap();
    let c = emitted.summary.counters;
    assert_eq!(c.rejected as usize, expected_repeats.len());
    assert_eq!(c.created + c.rejected, 3_000);
    assert_eq!(
        c.codes_created, c.created,
        "every kept row qualifies: one code each"
    );

    let items = emit::read_items(&emitted.files).unwrap();
    let mut profiles = std::collections::HashSet::new();
    let mut code_owners = std::collections::HashSet::new();
    for attrs in &items {
        match entity(attrs) {
            "Member" => assert!(
                profiles.insert(attrs["PK"].as_s().unwrap().clone()),
                "one profile per account"
            ),
            "Code" => {
                let code: ReferralCodeRecord = parse(attrs.clone());
                assert!(
                    code_owners.insert(code.source.to_string()),
                    "one code per member"
                );
            }
            "JkosBinding" => {}
            other => panic!("unexpected entity {other}"),
        }
    }
    assert_eq!(profiles.len() as u64, c.created);

    let rejects = std::fs::read_to_string(dir.join("emit.rejects.csv")).unwrap();
    let lines: Vec<&str> = rejects.lines().skip(1).collect();
    assert_eq!(lines.len(), expected_repeats.len());
    for (reject, line) in lines.iter().zip(&expected_repeats) {
        let first = line - 500;
        assert!(
            reject.starts_with(&format!(
                "{line},account_id,DUPLICATE_ACCOUNT,the account is on line {first} too"
            )),
            "{reject}"
        );
        assert!(
            !reject.contains("0912345678"),
            "the phone is masked: {reject}"
        );
    }
    // The sort's spill files are gone.
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("s3"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".dedupe"))
        .collect();
    assert!(leftovers.is_empty());
}

const HEADER: &str = "account_id,member_jkos_id,jkos_account,phone_number,created_at,kyc_pass_time,device_bind_time\n";

fn csv_row(account: &str, jkos: &str) -> String {
    format!(
        "{account},{jkos},A0000001,0912345678,2024-01-01 08:00:00,2024-01-02 08:00:00,2024-01-03 09:30:00\n"
    )
}

/// The rejects file's (line, column, reason, detail) rows.
fn rejects_of(path: &Path) -> Vec<(u64, String, String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, ',').collect();
            (f[0].parse().unwrap(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}

#[tokio::test]
async fn a_row_contradicting_a_jkos_binding_is_rejected() {
    for group in [1, 4] {
        let table = TestTable::create().await;
        let dir = scratch_dir();
        let first = dir.join("first.csv");
        std::fs::write(&first, format!("{HEADER}{}", csv_row("acc-1", "jk-1"))).unwrap();
        run(&table.store, &options(&first, &dir, "first"))
            .await
            .unwrap();
        // A second account with jk-1, acc-1 with another jkos id, and one good row.
        let second = dir.join("second.csv");
        let rows = [("acc-9", "jk-1"), ("acc-1", "jk-other"), ("acc-2", "jk-2")];
        let dump: String = rows.iter().map(|(a, j)| csv_row(a, j)).collect();
        std::fs::write(&second, format!("{HEADER}{dump}")).unwrap();
        let mut opts = options(&second, &dir, "second");
        opts.group = group;
        let summary = run(&table.store, &opts).await.unwrap();
        let c = summary.counters;
        assert_eq!((c.created, c.rejected), (1, 2), "group {group}: {summary}");
        assert_eq!(
            rejects_of(&opts.rejects),
            [
                (
                    2,
                    "member_jkos_id".into(),
                    "JKOS_ID_TAKEN".into(),
                    "the jkos id (field jkos_id) belongs to another account".into()
                ),
                (
                    3,
                    "member_jkos_id".into(),
                    "JKOS_ID_TAKEN".into(),
                    "the account (field account_id) belongs to another jkos id (field jkos_id)"
                        .into()
                ),
            ],
            "group {group}"
        );
        let (members, codes, _) = contents(&table).await;
        let mut accounts: Vec<_> = members
            .iter()
            .map(|m| (m.account_id.to_string(), m.jkos_id.to_string()))
            .collect();
        accounts.sort();
        assert_eq!(
            accounts,
            [
                ("acc-1".into(), "jk-1".into()),
                ("acc-2".into(), "jk-2".into())
            ]
        );
        assert_eq!(codes.len(), 2, "one code per member");
    }
}

#[test]
fn the_s3_emit_binds_each_jkos_id_once() {
    let dir = scratch_dir();
    let input = dir.join("members.csv");
    let rows = [
        ("acc-1", "jk-1"),
        ("acc-2", "jk-2"),
        ("acc-3", "jk-1"),
        ("acc-1", "jk-1"),
    ];
    let dump: String = rows.iter().map(|(a, j)| csv_row(a, j)).collect();
    std::fs::write(&input, format!("{HEADER}{dump}")).unwrap();
    let target = emit::S3Target {
        bucket: "b".into(),
        prefix: "p".into(),
        table_name: "t".into(),
    };
    let opts = options(&input, &dir, "emit");
    let emitted = emit::emit(&opts, &dir.join("s3"), &target, 7).unwrap();
    assert_eq!(
        (
            emitted.summary.counters.created,
            emitted.summary.counters.rejected
        ),
        (2, 2)
    );
    let rejects = rejects_of(&opts.rejects);
    assert_eq!(
        rejects
            .iter()
            .map(|r| (r.0, r.2.as_str()))
            .collect::<Vec<_>>(),
        [(4, "JKOS_ID_TAKEN"), (5, "DUPLICATE_ACCOUNT")]
    );
    assert_eq!(
        rejects[0].3,
        "the jkos id belongs to the account on line 2: one jkos id is one member"
    );
    let items = emit::read_items(&emitted.files).unwrap();
    let mut bindings: Vec<(String, String)> = items
        .iter()
        .filter(|i| entity(i) == "JkosBinding")
        .map(|i| {
            (
                i["PK"].as_s().unwrap().clone(),
                i["account_id"].as_s().unwrap().clone(),
            )
        })
        .collect();
    bindings.sort();
    assert_eq!(
        bindings,
        [
            ("JKOS#jk-1".into(), "acc-1".into()),
            ("JKOS#jk-2".into(), "acc-2".into())
        ]
    );
    for profile in items.iter().filter(|i| entity(i) == "Member") {
        let member: MemberProfile = parse(profile.clone());
        assert!(
            member.jkos_id_bound,
            "an emitted profile says its binding exists"
        );
    }
}

#[tokio::test]
async fn the_jkos_backfill_binds_profiles_stored_before_bindings_so_a_second_account_is_parked() {
    use referral_import::backfill;
    use referral_shared::domain::{AccountId, JkosId};
    let h = Harness::new().await;
    let table = &h.table;
    let now = time::truncate_millis(chrono::Utc::now());
    // As the release before bindings stored them: jk-old alone; jk-twice on two accounts.
    for (account, jkos) in [
        ("acc-old", "jk-old"),
        ("acc-a", "jk-twice"),
        ("acc-b", "jk-twice"),
    ] {
        let m = MemberProfile {
            version: 1, // as every profile the store writes
            ..MemberProfile::new(
                AccountId::parse(account).unwrap(),
                JkosId::parse(jkos).unwrap(),
                now,
            )
        };
        table.store.put_member(&m).await.unwrap();
    }
    let done = backfill::jkos(&table.store, &table.client, &table.name, 2, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        done,
        backfill::Bound {
            found: 3,
            bound: 2,
            taken: 1,
            ..Default::default()
        }
    );
    let bindings: HashMap<String, String> = scan(&table.client, &table.name)
        .await
        .into_iter()
        .filter(|i| entity(i) == "JkosBinding")
        .map(|i| {
            (
                i["jkos_id"].as_s().unwrap().clone(),
                i["account_id"].as_s().unwrap().clone(),
            )
        })
        .collect();
    assert_eq!(bindings["jk-old"], "acc-old");
    assert!(["acc-a", "acc-b"].contains(&bindings["jk-twice"].as_str()));
    assert_eq!(bindings.len(), 2);
    // Re-run: only the taken one is still unbound, and stays so.
    let again = backfill::jkos(&table.store, &table.client, &table.name, 1, &|_| {})
        .await
        .unwrap();
    assert_eq!((again.found, again.bound, again.taken), (1, 0, 1));

    // A new account carrying the old member's jkos id is parked; the old member's own
    // records still apply.
    let consumer = h.consumer(TOPIC_REGISTRATION);
    let mut stolen = registration("KYC_PASSED", "acc-new", None, fixtures_at(5));
    stolen["jkos_id"] = serde_json::json!("jk-old");
    let mut own = registration("KYC_PASSED", "acc-old", None, fixtures_at(5));
    own["jkos_id"] = serde_json::json!("jk-old");
    let report = consumer
        .handle(&referral_devkit::msk::event(&reg_records(
            0,
            &[stolen, own],
        )))
        .await
        .unwrap();
    assert_eq!((report.parked, report.members_written), (1, 1));
    assert!(h.member("acc-new").await.is_none());
    assert_eq!(
        h.member("acc-old").await.unwrap().kyc_pass_time,
        Some(fixtures_at(5))
    );
}

#[tokio::test]
async fn the_gsi3_backfill_shows_rewards_written_before_gsi3_in_my_rewards_once() {
    use referral_import::backfill;
    use referral_shared::domain::Side;
    use referral_shared::store::{PageRequest, keys};
    let table = TestTable::create().await;
    let old: Vec<_> = (0..30)
        .map(|i| {
            let side = if i % 2 == 0 {
                Side::Referee
            } else {
                Side::Referrer
            };
            referral_tests::payout_support::reward(&format!("bf-{i}"), side)
        })
        .collect();
    for reward in &old {
        table.store.create_reward(reward).await.unwrap();
    }
    // As a reward written by the release before GSI3: no GSI3 keys.
    for reward in &old[..25] {
        table
            .client
            .update_item()
            .table_name(&table.name)
            .key("PK", AttributeValue::S(keys::reward_pk(&reward.reward_id)))
            .key("SK", AttributeValue::S(keys::REWARD_SK.to_owned()))
            .update_expression("REMOVE GSI3PK, GSI3SK")
            .send()
            .await
            .unwrap();
    }
    let visible = |jkos: referral_shared::domain::JkosId| {
        let store = &table.store;
        async move {
            store
                .member_rewards(&jkos, PageRequest::first(200))
                .await
                .unwrap()
                .items
                .len()
        }
    };
    let payee = old[0].member_jkos_id.clone();
    let owed = old.iter().filter(|r| r.member_jkos_id == payee).count();
    assert!(
        visible(payee.clone()).await < owed,
        "old rewards are missing before the backfill"
    );

    let untouched_before = scan(&table.client, &table.name).await;
    let done = backfill::gsi3(&table.client, &table.name, 3, 4, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        done,
        backfill::Backfilled {
            found: 25,
            updated: 25,
            profiles: 0,
            already: 0,
            unreadable: 0
        }
    );
    assert_eq!(visible(payee.clone()).await, owed);
    // Every reward item now is exactly what the store writes for it (nothing else changed).
    let after = scan(&table.client, &table.name).await;
    assert_eq!(after.len(), untouched_before.len());
    for reward in &old {
        let stored = after
            .iter()
            .find(|i| i["PK"].as_s().unwrap() == &keys::reward_pk(&reward.reward_id))
            .unwrap();
        let expected: Attrs = serde_dynamo::to_item(items::reward_item(reward)).unwrap();
        assert_eq!(stored, &expected);
    }
    // A re-run finds nothing left to do.
    let again = backfill::gsi3(&table.client, &table.name, 2, 4, &|_| {})
        .await
        .unwrap();
    assert_eq!(again, backfill::Backfilled::default());
}

/// Under rules the import cannot decide (one reward per phone: the identity key and the phone
/// claims), members who used a code live and whom the import qualifies keep their grant due;
/// `referral-settle` over the same dump decides them through the consumer's engine: rewards
/// created once, queued for payout, nothing due afterwards, and a second pass does nothing.
#[tokio::test]
async fn the_settle_pass_decides_the_grants_the_import_left_due_exactly_once() {
    const MEMBERS: u64 = 30;
    let h = Harness::new().await;
    h.set_rules(RewardRules {
        one_reward_per_phone: true,
        ..RewardRules::default()
    })
    .await;
    h.referrer_code("SHARE888", "jk-referrer").await;
    let consumer = h.rules_consumer(TOPIC_REGISTRATION, 8);
    // Live: the first 20 members use SHARE888 (no KYC or device yet), each with their own
    // phone, except 18 and 19, who share one: the rule rewards one of them only.
    let phone = |i: u64| format!("0922{:06}", i.min(18));
    let values: Vec<_> = (0..20)
        .map(|i| {
            let mut v = registration(
                "REFERRAL_CODE_USED",
                &account(i),
                Some("SHARE888"),
                fixtures_at(5),
            );
            v["phone_number"] = serde_json::json!(phone(i));
            v
        })
        .collect();
    consumer
        .handle(&referral_devkit::msk::event(&reg_records(0, &values)))
        .await
        .unwrap();
    // The dump: everyone passed KYC and bound a device; distinct phones; one bad row.
    let dir = scratch_dir();
    let input = dir.join("members.tsv");
    let mut dump = String::new();
    for i in 0..MEMBERS {
        dump.push_str(&format!(
            "{}\tjk-{}\tA{i:07}\t0922{i:06}\t2023-01-01 00:00:00\t2026-11-06 10:00:00\t2026-11-06 11:00:00\n",
            account(i),
            account(i)
        ));
    }
    dump.push_str("bad row\n");
    std::fs::write(&input, dump).unwrap();
    run(&h.table.store, &options(&input, &dir, "launch"))
        .await
        .unwrap();
    for i in 0..20 {
        let m = h.member(&account(i)).await.unwrap();
        assert!(m.qualified_at.is_some() && m.reward_grant.is_none());
        assert!(m.has_due_effects(), "the import left {} due", m.account_id);
    }
    assert!(h.queue.drain().await.is_empty());

    let mut progress_calls = 0;
    let summary = referral_import::settle::settle_dump(
        &consumer,
        &input,
        Format::Tsv,
        chrono_tz::Asia::Taipei,
        3,
        |_| progress_calls += 1,
    )
    .await
    .unwrap();
    assert_eq!(
        (summary.accounts, summary.skipped_rows, summary.due),
        (MEMBERS, 1, 20),
        "{summary}"
    );
    assert_eq!(
        (summary.rewards_created, summary.rewards_queued),
        (38, 38),
        "{summary}"
    );
    assert_eq!(progress_calls, 1, "one chunk of 30 accounts");
    assert_eq!(h.queue.drain().await.len(), 38, "both sides of 19 referees");
    let mut withheld = Vec::new();
    for i in 0..20 {
        let m = h.member(&account(i)).await.unwrap();
        assert!(!m.has_due_effects(), "{} settled", m.account_id);
        match m.reward_grant {
            Some(RewardGrant::Issued { count: 2, .. }) => {}
            Some(RewardGrant::Withheld {
                reason: RuleReason::PhoneAlreadyRewarded,
                ..
            }) => withheld.push(i),
            other => panic!("{}: {other:?}", m.account_id),
        }
    }
    assert!(
        withheld == [18] || withheld == [19],
        "one of the two sharing a phone: {withheld:?}"
    );
    for i in 20..MEMBERS {
        let m = h.member(&account(i)).await.unwrap();
        assert!(
            m.reward_grant.is_none() && !m.has_due_effects(),
            "no code used"
        );
    }

    let again = referral_import::settle::settle_dump(
        &consumer,
        &input,
        Format::Tsv,
        chrono_tz::Asia::Taipei,
        3,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((again.due, again.rewards_created), (0, 0), "{again}");
    assert!(h.queue.drain().await.is_empty());
}

#[tokio::test]
async fn the_gsi3_backfill_gives_old_profiles_their_keys_and_leaves_unreadable_items_alone() {
    use referral_import::backfill;
    use referral_shared::domain::{AccountId, JkosId};
    use referral_shared::store::keys;
    let table = TestTable::create().await;
    let now = time::truncate_millis(chrono::Utc::now());
    let members: Vec<MemberProfile> = (0..3)
        .map(|i| {
            MemberProfile::new(
                AccountId::parse(format!("bp-{i}")).unwrap(),
                JkosId::parse(format!("jk-bp-{i}")).unwrap(),
                now,
            )
        })
        .collect();
    for m in &members {
        table.store.put_member(m).await.unwrap();
    }
    // As profiles written by the release before profiles had GSI3 keys.
    for m in &members[..2] {
        table
            .client
            .update_item()
            .table_name(&table.name)
            .key("PK", AttributeValue::S(keys::member_pk(&m.account_id)))
            .key("SK", AttributeValue::S(keys::MEMBER_SK.to_owned()))
            .update_expression("REMOVE GSI3PK, GSI3SK")
            .send()
            .await
            .unwrap();
    }
    // Two items that claim an entity they do not map onto.
    for (pk, sk, entity) in [
        ("MEMBER#broken", "#PROFILE", "Member"),
        ("REWARD#broken-referee", "#REWARD", "Reward"),
    ] {
        table
            .client
            .put_item()
            .table_name(&table.name)
            .item("PK", AttributeValue::S(pk.into()))
            .item("SK", AttributeValue::S(sk.into()))
            .item("entity", AttributeValue::S(entity.into()))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        table
            .store
            .my_registration(&members[0].jkos_id)
            .await
            .unwrap(),
        None,
        "an old profile is not found by jkos id before the backfill"
    );
    let stale: Vec<Attrs> = scan(&table.client, &table.name)
        .await
        .into_iter()
        .filter(|i| entity(i) == "Member" && !i.contains_key("GSI3PK") && i.contains_key("jkos_id"))
        .collect();
    assert_eq!(stale.len(), 2);

    let done = backfill::gsi3(&table.client, &table.name, 2, 4, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        done,
        backfill::Backfilled {
            found: 4,
            updated: 2,
            profiles: 2,
            already: 0,
            unreadable: 2
        }
    );
    let after = scan(&table.client, &table.name).await;
    for m in &members {
        let stored = after
            .iter()
            .find(|i| i["PK"].as_s().unwrap() == &keys::member_pk(&m.account_id))
            .unwrap();
        let expected: Attrs = serde_dynamo::to_item(items::member_item(m)).unwrap();
        assert_eq!(stored, &expected, "exactly what the store writes today");
        let found = table.store.my_registration(&m.jkos_id).await.unwrap();
        assert_eq!(found.map(|r| r.profile), Some(m.clone()));
    }
    // The unreadable items are left as they were.
    for pk in ["MEMBER#broken", "REWARD#broken-referee"] {
        let item = after
            .iter()
            .find(|i| i["PK"].as_s().unwrap() == pk)
            .unwrap();
        assert_eq!(item.len(), 3, "{pk}: {item:?}");
    }
    // An item the Scan read before another writer (or run) gave it its keys: "already", and
    // the newer keys stay.
    let outcome = backfill::set_keys(&table.client, &table.name, stale[0].clone())
        .await
        .unwrap();
    assert_eq!(outcome, backfill::Outcome::Already);
    let by_pk = |items: Vec<Attrs>| -> BTreeMap<String, Attrs> {
        items
            .into_iter()
            .map(|i| (i["PK"].as_s().unwrap().clone(), i))
            .collect()
    };
    assert_eq!(by_pk(scan(&table.client, &table.name).await), by_pk(after));
    // A re-run finds only the two unreadable items again, and leaves them.
    let again = backfill::gsi3(&table.client, &table.name, 2, 4, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        again,
        backfill::Backfilled {
            found: 2,
            unreadable: 2,
            ..Default::default()
        }
    );
}

/// The line starts (byte offsets) of `bytes`: `starts[i]` is where line `i + 1` begins.
fn line_starts(bytes: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&s| s < bytes.len())
        .collect()
}

/// Replaces the phone (4th TSV field) of 1-based `line` in place, keeping the file's size.
fn set_phone(input: &Path, line: usize, phone: &str) -> String {
    let mut bytes = std::fs::read(input).unwrap();
    let start = line_starts(&bytes)[line - 1];
    let field = bytes[start..]
        .split(|b| *b == b'\t')
        .take(3)
        .map(|f| f.len() + 1)
        .sum::<usize>()
        + start;
    let old = String::from_utf8(bytes[field..field + 10].to_vec()).unwrap();
    assert_eq!(phone.len(), old.len(), "an in-place, same-size change");
    bytes[field..field + 10].copy_from_slice(phone.as_bytes());
    std::fs::write(input, bytes).unwrap();
    old
}

/// The checkpoint's applied prefix as its JSON says: (byte offset, lines, complete).
fn applied_prefix(checkpoint: &Path) -> (u64, u64, bool) {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(checkpoint).unwrap()).unwrap();
    (
        json["position"]["offset"].as_u64().unwrap(),
        json["position"]["lines"].as_u64().unwrap(),
        json["complete"].as_bool().unwrap(),
    )
}

#[tokio::test]
async fn a_dump_changed_inside_the_applied_prefix_is_not_resumed_and_one_changed_after_it_is() {
    const ROWS: u64 = 14_000;
    const MIB: usize = 1 << 20;
    let table = TestTable::create().await;
    let dir = scratch_dir();
    let input = dir.join("members.tsv");
    let mut file = std::fs::File::create(&input).unwrap();
    write_dump(&mut file, Format::Tsv, ROWS, 0, 22).unwrap();
    drop(file);
    let size = std::fs::metadata(&input).unwrap().len();
    assert!(size > 1_100_000, "a dump well over 1 MiB ({size} bytes)");
    let starts = line_starts(&std::fs::read(&input).unwrap());
    // The first row that starts after the first MiB: as delivered, its phone is broken
    // (rejected), the DBA later fixes it in place (same size).
    let fixed_line = starts.iter().position(|&s| s > MIB + 4096).unwrap() + 1;
    let good_phone = set_phone(&input, fixed_line, "09-0000000");
    let mut opts = outage_options(&input, &dir, "changed", 100, (3, 10, 20));
    opts.group = 25;

    // Stopped partway, past the broken row: DynamoDB goes away after ~12,400 rows
    // (a chunk of 100 rows is 1 batch read + 4 group writes).
    table.round_trips.fail_after(620);
    let stopped = run(&table.store, &opts).await.unwrap_err();
    table.round_trips.heal();
    assert!(
        format!("{stopped:#}").contains("unavailable"),
        "{stopped:#}"
    );
    let (offset, lines, complete) = applied_prefix(&opts.checkpoint);
    eprintln!("stopped after line {lines} of {ROWS}; the fixed row is on line {fixed_line}");
    assert!(
        !complete && offset < size,
        "stopped partway ({lines} lines)"
    );
    assert!(
        lines as usize > fixed_line && offset as usize > starts[fixed_line],
        "the applied prefix ({lines} lines) covers line {fixed_line}"
    );
    let rejects = std::fs::read_to_string(&opts.rejects).unwrap();
    assert!(
        rejects.contains(&format!("\n{fixed_line},phone_number,INVALID")),
        "{rejects}"
    );
    let fixed_account = AccountId::parse(account(fixed_line as u64 - 1)).unwrap();
    assert!(
        table
            .store
            .get_member(&fixed_account)
            .await
            .unwrap()
            .is_none()
    );

    // The DBA fixes the phone in place: same size, same first MiB. Resuming would skip the
    // fixed row (it lies before the checkpoint): refused, and nothing is touched.
    set_phone(&input, fixed_line, &good_phone);
    assert_eq!(std::fs::metadata(&input).unwrap().len(), size);
    let checkpoint_before = std::fs::read(&opts.checkpoint).unwrap();
    let rejects_before = std::fs::read(&opts.rejects).unwrap();
    let refused = run(&table.store, &opts).await.unwrap_err();
    assert!(refused.is::<InputChanged>(), "{refused:#}");
    let message = format!("{refused:#}");
    assert!(
        message.contains("changed")
            && message.contains(&format!("delete {}", opts.checkpoint.display())),
        "{message}"
    );
    // The command says so with its own exit status.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_referral-import"))
        .arg(&input)
        .args(["--table", &table.name, "--progress", "off", "--checkpoint"])
        .arg(&opts.checkpoint)
        .arg("--rejects")
        .arg(&opts.rejects)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("delete {}", opts.checkpoint.display())),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&opts.checkpoint).unwrap(), checkpoint_before);
    assert_eq!(std::fs::read(&opts.rejects).unwrap(), rejects_before);
    assert!(
        table
            .store
            .get_member(&fixed_account)
            .await
            .unwrap()
            .is_none()
    );

    // The dump as it was, but a change after the applied prefix (the last row's phone): not
    // applied yet, so the run resumes and applies the changed row.
    set_phone(&input, fixed_line, "09-0000000");
    let last_phone = set_phone(&input, ROWS as usize, "0987654321");
    assert_ne!(last_phone, "0987654321");
    let resumed = run(&table.store, &opts).await.unwrap();
    assert!(
        resumed.resumed && resumed.counters.rows == ROWS,
        "{resumed}"
    );
    let last = table
        .store
        .get_member(&AccountId::parse(account(ROWS - 1)).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.phone_number.unwrap().expose(), "0987654321");

    // Fixed after the whole file was applied: a finished checkpoint is not "complete" for
    // the changed file either.
    set_phone(&input, fixed_line, &good_phone);
    let refused = run(&table.store, &opts).await.unwrap_err();
    assert!(format!("{refused:#}").contains("changed"), "{refused:#}");

    // As the message says: without the checkpoint the fixed row is imported; every other row
    // is already present.
    std::fs::remove_file(&opts.checkpoint).unwrap();
    let again = run(&table.store, &opts).await.unwrap();
    let c = again.counters;
    assert_eq!(
        (c.rows, c.created, c.already_present, c.rejected),
        (ROWS, 1, ROWS - 1, 0),
        "{again}"
    );
    let fixed = table
        .store
        .get_member(&fixed_account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fixed.phone_number.unwrap().expose(), good_phone);
}
