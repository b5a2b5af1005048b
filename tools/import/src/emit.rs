//! `--emit-s3-import DIR`: the whole initial table content as DynamoDB's S3 import reads it
//! (ADR 0007): gzip files of DynamoDB JSON, one `{"Item": {...}}` per line, in exactly the
//! item shapes the store writes (`store::items`), plus what creating the table from them
//! needs (`import-table.json` for `aws dynamodb import-table --cli-input-json`, the table
//! resource's `ImportSourceSpecification`, and `template-parameters.json`, the stack's
//! `ImportS3Bucket` / `ImportS3KeyPrefix` that make `infra/template.yaml` use it).
//!
//! Each row is planned like the API import plans it for an absent profile (`apply::plan_row`),
//! so the content is what the API import would write into an empty table. Codes are unique
//! across the dump without remembering them: the n-th new code is the n-th value of a keyed
//! permutation of the 30^8 codes (a Feistel network with cycle walking), so memory stays
//! constant in the dump's size. A later random code of the consumers that hits an imported
//! one is caught by their conditional write and drawn again, as any collision is.

use crate::apply::plan_row;
use crate::checkpoint::Counters;
use crate::dedupe;
use crate::dump;
use crate::progress::Progress;
use crate::row::{self, Reason, Reject};
use crate::{ImportOptions, Summary};
use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use flate2::Compression;
use flate2::write::GzEncoder;
use referral_shared::contracts::kafka::JkosConflict;
use referral_shared::domain::{CODE_ALPHABET, MemberProfile, ReferralCode};
use referral_shared::store::items;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Items per data file (DynamoDB imports the files of a prefix in parallel).
pub const ITEMS_PER_FILE: u64 = 1_000_000;

/// Where the files go once uploaded (the operator's choice; placeholders otherwise).
#[derive(Debug, Clone)]
pub struct S3Target {
    pub bucket: String,
    pub prefix: String,
    pub table_name: String,
}

/// One DynamoDB attribute value in DynamoDB JSON (`{"S": "..."}`).
pub fn to_dynamodb_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::B(b) => {
            json!({ "B": base64::engine::general_purpose::STANDARD.encode(b.as_ref()) })
        }
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v
            .iter()
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b.as_ref()))
            .collect::<Vec<_>>() }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(to_dynamodb_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item_json(m) }),
        _ => Value::Null,
    }
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Map<String, Value> {
    let mut sorted: Vec<_> = item.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
        .into_iter()
        .map(|(k, v)| (k.clone(), to_dynamodb_json(v)))
        .collect()
}

/// The reverse of [`to_dynamodb_json`] (what DynamoDB's import does with a line), for tests
/// and for checking a file before uploading it.
pub fn from_dynamodb_json(value: &Value) -> anyhow::Result<AttributeValue> {
    let (kind, inner) = value
        .as_object()
        .and_then(|o| o.iter().next())
        .context("an attribute value is an object with one key")?;
    let text = || {
        inner
            .as_str()
            .map(str::to_owned)
            .context("a string attribute")
    };
    let list = || inner.as_array().context("a list attribute");
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(text()?),
        "N" => AttributeValue::N(text()?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().context("a boolean")?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(
            list()?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        "NS" => AttributeValue::Ns(
            list()?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        "L" => AttributeValue::L(
            list()?
                .iter()
                .map(from_dynamodb_json)
                .collect::<anyhow::Result<_>>()?,
        ),
        "M" => AttributeValue::M(parse_item(inner)?),
        other => anyhow::bail!("unsupported attribute type {other}"),
    })
}

/// An item's attribute map from DynamoDB JSON.
pub fn parse_item(value: &Value) -> anyhow::Result<HashMap<String, AttributeValue>> {
    value
        .as_object()
        .context("an item is an object")?
        .iter()
        .map(|(k, v)| Ok((k.clone(), from_dynamodb_json(v)?)))
        .collect()
}

/// A keyed permutation of `0..30^8`: distinct inputs give distinct codes.
#[derive(Debug, Clone, Copy)]
pub struct CodeSequence {
    key: u64,
}

const CODE_SPACE: u64 = 656_100_000_000; // 30^8
const HALF_BITS: u32 = 20; // 2^40 > 30^8
const HALF_MASK: u64 = (1 << HALF_BITS) - 1;

fn mix(mut z: u64) -> u64 {
    // splitmix64's finalizer: a good round function for a Feistel network.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl CodeSequence {
    pub fn new(key: u64) -> Self {
        Self { key }
    }

    /// A bijection of the 40-bit numbers (4 Feistel rounds).
    fn permute40(&self, x: u64) -> u64 {
        let (mut left, mut right) = (x >> HALF_BITS, x & HALF_MASK);
        for round in 0..4u64 {
            let f = mix(self.key ^ (round << 56) ^ right) & HALF_MASK;
            (left, right) = (right, left ^ f);
        }
        (left << HALF_BITS) | right
    }

    /// The `n`-th code (`n < 30^8`): cycle walking keeps the permutation inside the code space.
    pub fn code(&self, n: u64) -> ReferralCode {
        let mut x = self.permute40(n % CODE_SPACE);
        while x >= CODE_SPACE {
            x = self.permute40(x);
        }
        let mut chars = [0u8; ReferralCode::GENERATED_LEN];
        for c in chars.iter_mut().rev() {
            *c = CODE_ALPHABET[(x % 30) as usize];
            x /= 30;
        }
        ReferralCode::parse(String::from_utf8_lossy(&chars)).expect("the code alphabet")
    }
}

/// Rotating gzip writers of `{"Item": ...}` lines.
struct DataFiles {
    dir: PathBuf,
    current: Option<GzEncoder<BufWriter<File>>>,
    in_current: u64,
    files: Vec<PathBuf>,
}

impl DataFiles {
    fn write(&mut self, item: &HashMap<String, AttributeValue>) -> anyhow::Result<()> {
        if self.current.is_none() || self.in_current >= ITEMS_PER_FILE {
            self.finish_current()?;
            let path = self
                .dir
                .join(format!("part-{:05}.json.gz", self.files.len()));
            let file =
                File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            self.current = Some(GzEncoder::new(BufWriter::new(file), Compression::fast()));
            self.files.push(path);
            self.in_current = 0;
        }
        let line = json!({ "Item": item_json(item) });
        let out = self.current.as_mut().expect("opened above");
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        self.in_current += 1;
        Ok(())
    }

    fn finish_current(&mut self) -> anyhow::Result<()> {
        if let Some(gz) = self.current.take() {
            gz.finish()?.flush()?;
        }
        Ok(())
    }
}

/// What an emit wrote.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub summary: Summary,
    pub files: Vec<PathBuf>,
    pub items: u64,
}

/// Writes the import files of `options.input` into `dir`. Rejects go to `options.rejects` as
/// in the API import; there is no checkpoint (a re-run starts over: nothing is written
/// anywhere but `dir`).
pub fn emit(
    options: &ImportOptions,
    dir: &Path,
    target: &S3Target,
    code_key: u64,
) -> anyhow::Result<Emitted> {
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let input_size = std::fs::metadata(&options.input)
        .with_context(|| format!("reading {}", options.input.display()))?
        .len();
    let started = std::time::Instant::now();
    let (mut repeats, mut jkos_repeats) = find_repeats(options, dir)?;
    let file_read = Arc::new(AtomicU64::new(0));
    let mut records = dump::open(&options.input, options.format, file_read.clone())?;
    let mut rejects = BufWriter::new(
        File::create(&options.rejects)
            .with_context(|| format!("creating {}", options.rejects.display()))?,
    );
    rejects.write_all(Reject::HEADER.as_bytes())?;
    let mut files = DataFiles {
        dir: data_dir,
        current: None,
        in_current: 0,
        files: Vec::new(),
    };
    let codes = CodeSequence::new(code_key);
    let mut counters = Counters::default();
    let mut items_written = 0u64;
    let mut progress = Progress::new(options.progress, input_size, 0);
    progress.message("pass 2 of 2: writing the items");
    let now = chrono::Utc::now();
    while let Some(record) = records.next_record() {
        let record = record?;
        counters.rows += 1;
        let row = match row::validate(record, options.timezone) {
            Ok(r) => r,
            Err(reject) => {
                counters.rejected += 1;
                rejects.write_all(reject.to_csv_line().as_bytes())?;
                continue;
            }
        };
        if let Some(repeat) = repeats.at(row.line)? {
            counters.rejected += 1;
            let reject = Reject {
                column: "account_id",
                reason: Reason::Duplicate,
                detail: format!(
                    "the account is on line {} too; the S3 import writes the first row (the API import would merge them)",
                    repeat.first_line
                ),
                ..crate::apply::row_reject(&row, Reason::Duplicate, "")
            };
            rejects.write_all(reject.to_csv_line().as_bytes())?;
            continue;
        }
        if let Some(repeat) = jkos_repeats.at(row.line)? {
            counters.rejected += 1;
            let reject = Reject {
                detail: format!(
                    "the jkos id belongs to the account on line {}: one jkos id is one member",
                    repeat.first_line
                ),
                ..crate::apply::jkos_reject(&row, JkosConflict::OtherAccount)
            };
            rejects.write_all(reject.to_csv_line().as_bytes())?;
            continue;
        }
        let next_code = counters.codes_created;
        let planned = plan_row(
            None,
            &row,
            None, // a dump row alone: no code use, nothing to judge
            &options.personal_event,
            || codes.code(next_code),
            now,
        )
        .context("a new profile always has something to write")?;
        // The jkos id's binding beside the profile, as the store's first write of a profile
        // writes it (ADR 0010); pass 1 made the dump's jkos ids unique.
        let member = MemberProfile {
            jkos_id_bound: true,
            ..planned.member
        };
        files.write(&to_attrs(&items::member_item(&member))?)?;
        files.write(&to_attrs(&items::jkos_binding_item(&items::JkosBinding {
            jkos_id: member.jkos_id.clone(),
            account_id: member.account_id.clone(),
            bound_at: now,
        }))?)?;
        items_written += 2;
        counters.created += 1;
        if let Some(code) = &planned.settlement.new_code {
            files.write(&to_attrs(&items::code_item(code))?)?;
            items_written += 1;
            counters.codes_created += 1;
        }
        if counters.rows % 1000 == 0 {
            progress.update(file_read.load(Ordering::Relaxed), &counters);
        }
    }
    files.finish_current()?;
    rejects.flush()?;
    progress.finish();
    write_parameters(dir, target)?;
    Ok(Emitted {
        summary: Summary {
            counters,
            seconds: started.elapsed().as_secs_f64(),
            rows_this_run: counters.rows,
            resumed: false,
            already_complete: false,
            rejects_exceeded: counters.rejected > options.max_rejects,
        },
        files: files.files,
        items: items_written,
    })
}

/// Pass 1: the rows that repeat an earlier row's account, and those that repeat an earlier
/// row's jkos id (valid rows only: an invalid one is rejected for itself), each found by an
/// external sort spilled under `dir`.
fn find_repeats(
    options: &ImportOptions,
    dir: &Path,
) -> anyhow::Result<(dedupe::RepeatsInOrder, dedupe::RepeatsInOrder)> {
    let input_size = std::fs::metadata(&options.input)?.len();
    let file_read = Arc::new(AtomicU64::new(0));
    let mut records = dump::open(&options.input, options.format, file_read.clone())?;
    let mut repeats = dedupe::Repeats::new(dir, dedupe::RUN_BYTES)?;
    let mut jkos_ids = dedupe::Repeats::new(dir, dedupe::RUN_BYTES)?;
    let mut progress = Progress::new(options.progress, input_size, 0);
    progress.message("pass 1 of 2: looking for repeated account and jkos ids");
    let mut counters = Counters::default();
    while let Some(record) = records.next_record() {
        let record = record?;
        counters.rows += 1;
        if let Ok(row) = row::validate(record, options.timezone) {
            repeats.push(row.account_id.as_str(), row.line)?;
            jkos_ids.push(row.jkos_id.as_str(), row.line)?;
        }
        if counters.rows % 1000 == 0 {
            progress.update(file_read.load(Ordering::Relaxed), &counters);
        }
    }
    progress.finish();
    Ok((repeats.finish()?, jkos_ids.finish()?))
}

fn to_attrs<T: serde::Serialize>(
    item: &items::Item<T>,
) -> anyhow::Result<HashMap<String, AttributeValue>> {
    serde_dynamo::to_item(item).context("an item maps onto attributes")
}

/// `import-table.json` (for `aws dynamodb import-table --cli-input-json file://…`) and
/// `import-source-specification.json` (the `ImportSourceSpecification` of the template's
/// table resource), both with the table exactly as `infra/template.yaml` defines it.
fn write_parameters(dir: &Path, target: &S3Target) -> anyhow::Result<()> {
    let table = referral_devkit::table::TableDefinition::from_sam_template()?;
    let keys = |keys: &[referral_devkit::table::KeyDef]| {
        keys.iter()
            .map(|k| json!({ "AttributeName": k.attribute_name, "KeyType": k.key_type }))
            .collect::<Vec<_>>()
    };
    let prefix = format!("{}/data/", target.prefix.trim_end_matches('/'));
    let source = json!({
        "S3BucketSource": { "S3Bucket": target.bucket, "S3KeyPrefix": prefix },
        "InputFormat": "DYNAMODB_JSON",
        "InputCompressionType": "GZIP",
    });
    let mut cli = source.clone();
    cli["TableCreationParameters"] = json!({
        "TableName": target.table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": table.attribute_definitions.iter()
            .map(|a| json!({ "AttributeName": a.attribute_name, "AttributeType": a.attribute_type }))
            .collect::<Vec<_>>(),
        "KeySchema": keys(&table.key_schema),
        "GlobalSecondaryIndexes": table.global_secondary_indexes.iter()
            .map(|i| json!({
                "IndexName": i.index_name,
                "KeySchema": keys(&i.key_schema),
                "Projection": { "ProjectionType": i.projection.projection_type },
            }))
            .collect::<Vec<_>>(),
        "SSESpecification": { "Enabled": true },
    });
    std::fs::write(
        dir.join("import-table.json"),
        serde_json::to_string_pretty(&cli)?,
    )?;
    std::fs::write(
        dir.join("import-source-specification.json"),
        serde_json::to_string_pretty(&source)?,
    )?;
    // The stack's own parameters (infra/template.yaml: the table is created from the files
    // when ImportS3Bucket is set), in CloudFormation's parameter-file form.
    let parameters = json!([
        { "ParameterKey": "ImportS3Bucket", "ParameterValue": target.bucket },
        { "ParameterKey": "ImportS3KeyPrefix", "ParameterValue": prefix },
    ]);
    std::fs::write(
        dir.join("template-parameters.json"),
        serde_json::to_string_pretty(&parameters)?,
    )?;
    Ok(())
}

/// Reads every item of the emitted data files back (for tests and checks).
pub fn read_items(files: &[PathBuf]) -> anyhow::Result<Vec<HashMap<String, AttributeValue>>> {
    use std::io::BufRead;
    let mut out = Vec::new();
    for path in files {
        let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(File::open(path)?));
        for line in reader.lines() {
            let line: Value = serde_json::from_str(&line?)?;
            let item = line.get("Item").context("a line is {\"Item\": …}")?;
            out.push(parse_item(item)?);
        }
    }
    Ok(out)
}

/// Writes items with plain BatchWriteItem (25 per request, unprocessed items retried with
/// backoff), no conditions: how the emitted files are loaded into DynamoDB Local, which has
/// no ImportTable, and the unconditional ceiling the benchmark compares the import with.
pub async fn batch_write(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<HashMap<String, AttributeValue>>,
    concurrency: usize,
) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    use futures::{StreamExt, TryStreamExt, stream};
    let requests: Vec<Vec<WriteRequest>> = items
        .chunks(25)
        .map(|chunk| {
            chunk
                .iter()
                .map(|item| {
                    Ok(WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item.clone())).build()?)
                        .build())
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .collect::<anyhow::Result<_>>()?;
    stream::iter(requests)
        .map(|mut pending| async move {
            let mut delay = std::time::Duration::from_millis(50);
            for _ in 0..10 {
                let out = client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .context("BatchWriteItem")?;
                match out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(table))
                    .filter(|r| !r.is_empty())
                {
                    None => return Ok(()),
                    Some(rest) => {
                        pending = rest;
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
            anyhow::bail!("unprocessed items after 10 attempts")
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_code_sequence_is_a_permutation_into_valid_codes() {
        let seq = CodeSequence::new(42);
        let codes: HashSet<_> = (0..200_000).map(|n| seq.code(n)).collect();
        assert_eq!(codes.len(), 200_000);
        assert_eq!(seq.code(7), seq.code(7));
        assert_ne!(CodeSequence::new(43).code(7), seq.code(7));
        // The permutation is a bijection of the 40-bit space.
        let small: HashSet<_> = (0..100_000u64).map(|x| seq.permute40(x)).collect();
        assert_eq!(small.len(), 100_000);
    }

    #[test]
    fn dynamodb_json_round_trips() {
        let item = HashMap::from([
            ("PK".to_owned(), AttributeValue::S("MEMBER#a".into())),
            ("version".to_owned(), AttributeValue::N("1".into())),
            (
                "m".to_owned(),
                AttributeValue::M(HashMap::from([(
                    "ok".to_owned(),
                    AttributeValue::Bool(true),
                )])),
            ),
            (
                "l".to_owned(),
                AttributeValue::L(vec![AttributeValue::Null(true)]),
            ),
        ]);
        let json = Value::Object(item_json(&item));
        assert_eq!(json["PK"], json!({ "S": "MEMBER#a" }));
        assert_eq!(parse_item(&json).unwrap(), item);
    }
}
