//! `referral-import`: the launch-day import of the account module's member dump into the
//! single table, race-safe with the live consumers and resumable (ADR 0007).
//!
//! - [`dump`] reads CSV / MySQL TSV (gzip too) into raw records with their positions;
//! - [`row`] validates a record through the domain into a [`row::MemberRow`] or a reject;
//! - [`apply`] plans what a row does to the stored profile (domain: `record_step`, `settle`)
//!   and writes it with the consumers' versioned write (`store::apply_versioned`);
//! - [`checkpoint`] records the applied prefix of the input, atomically;
//! - [`progress`] shows where the run is;
//! - [`emit`] writes the files DynamoDB's S3 import creates a table from, instead;
//! - [`run`] puts them together: a reader thread → chunks of rows → one BatchGetItem per
//!   chunk → the chunk's rows written concurrently → the checkpoint moves over finished
//!   chunks, in file order.

pub mod apply;
pub mod backfill;
pub mod checkpoint;
pub mod dedupe;
pub mod dump;
pub mod emit;
pub mod generate;
pub mod progress;
pub mod row;
pub mod settle;

/// The operator tools' logging (`referral-import`, `referral-backfill`, `referral-settle`): to
/// stderr (stdout stays for results), `RUST_LOG` or warnings and worse.
pub fn init_cli_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
}

use anyhow::Context;
use apply::{RowOutcome, apply_row};
use checkpoint::{Checkpoint, Counters};
use chrono_tz::Tz;
use dump::{Format, Position, Records};
use futures::{StreamExt, stream};
use progress::{Progress, ProgressMode};
use referral_shared::contracts::kafka::JkosConflict;
use referral_shared::domain::{AccountId, EventConfig, EventId, MemberProfile, ReferralCode};
use referral_shared::events_cache::ConfigCache;
use referral_shared::store::{
    EventReads, MAX_GROUP_ACTIONS, MemberBatches, MemberGroups, MemberWrite, PlannedWrite,
    Profiles, ProfilesAndCodes, StoreError, keys,
};
use row::{MemberRow, Reason, Reject};
use std::collections::{HashMap, HashSet};
use std::io::{Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Everything a run needs besides the store.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub input: PathBuf,
    pub format: Format,
    /// The zone of MySQL DATETIME values.
    pub timezone: Tz,
    /// Requests to DynamoDB in flight at once, over all chunks (a row's write, a group's
    /// transaction, a chunk's batch read). Up to this many chunks are read ahead and worked on
    /// together, so the requests keep flowing while a slow chunk finishes.
    pub concurrency: usize,
    /// Rows per chunk (one BatchGetItem each: at most 100).
    pub chunk_rows: usize,
    pub max_rejects: u64,
    pub rejects: PathBuf,
    pub checkpoint: PathBuf,
    /// The PERSONAL event the codes of qualified members belong to.
    pub personal_event: EventId,
    pub progress: ProgressMode,
    /// How often the checkpoint is rewritten at most (and always at the end).
    pub checkpoint_every: Duration,
    /// Retries while DynamoDB is unavailable, on top of the SDK's own.
    pub backoff: apply::Backoff,
    /// Members written per request: 1 = each member alone (PutItem, or a TransactWriteItems
    /// with its code); more = up to that many members in one TransactWriteItems (≤ 100
    /// actions), each under its own condition, falling back to one by one when the group is
    /// cancelled. Fewer requests, but every item of a transaction costs 2 write units on AWS.
    pub group: usize,
}

impl ImportOptions {
    /// Defaults for `input`: format by extension (TSV otherwise), Asia/Taipei, rejects and
    /// checkpoint beside the input.
    pub fn for_input(input: impl Into<PathBuf>) -> Self {
        let input = input.into();
        let with_suffix = |suffix: &str| {
            let mut name = input.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        Self {
            format: Format::from_path(&input).unwrap_or(Format::Tsv),
            timezone: chrono_tz::Asia::Taipei,
            concurrency: 16,
            chunk_rows: 100,
            max_rejects: 0,
            rejects: with_suffix(".rejects.csv"),
            checkpoint: with_suffix(".checkpoint"),
            personal_event: EventId::parse("personal").expect("a valid event id"),
            progress: ProgressMode::Auto,
            checkpoint_every: Duration::from_millis(500),
            backoff: apply::Backoff::default(),
            group: 1,
            input,
        }
    }
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Totals over every run of this checkpoint.
    pub counters: Counters,
    /// This process's seconds.
    pub seconds: f64,
    /// Rows this process handled.
    pub rows_this_run: u64,
    /// The run continued from a checkpoint.
    pub resumed: bool,
    /// The checkpoint said the input was already complete: nothing was done.
    pub already_complete: bool,
    /// More rejects than `--max-rejects`.
    pub rejects_exceeded: bool,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.counters;
        write!(
            f,
            "rows {}: imported {} (created {}, completed {}), already present {}, codes created {}, rejected {}; {:.1} s{}",
            c.rows,
            c.created + c.completed,
            c.created,
            c.completed,
            c.already_present,
            c.codes_created,
            c.rejected,
            self.seconds,
            if self.already_complete {
                " (already complete: nothing to do)"
            } else if self.resumed {
                " (resumed from the checkpoint)"
            } else {
                ""
            }
        )
    }
}

/// A chunk of the input as the reader hands it over.
struct Chunk {
    rows: Vec<Result<MemberRow, Reject>>,
    end: Position,
    /// The SHA-256 of the input up to `end` (the checkpoint's `applied_sha256`).
    applied: String,
}

/// A chunk once every row of it is applied (or rejected).
struct Done {
    rejects: Vec<Reject>,
    counters: Counters,
    end: Position,
    applied: String,
}

/// Imports the input of `options` into `store`. `Err` = the run stopped (DynamoDB stayed
/// unavailable or refused a request, or the input is unreadable); the checkpoint then holds
/// what was applied, and a re-run continues from there.
pub async fn run<S>(store: &S, options: &ImportOptions) -> anyhow::Result<Summary>
where
    S: MemberBatches + MemberGroups + Profiles + EventReads + ?Sized,
{
    // Campaign configurations, read once per event per run (they change rarely; a run of
    // hours re-reads them after a minute, as the consumers do).
    let configs = ConfigCache::new(Duration::from_secs(60));
    let configs = &configs;
    let input_size = std::fs::metadata(&options.input)
        .with_context(|| format!("reading {}", options.input.display()))?
        .len();
    let previous = Checkpoint::load(&options.checkpoint)?;

    // The reader: a blocking thread that first checks the input against the checkpoint (it
    // re-reads the applied prefix), then parses and validates, chunk by chunk. Nothing is
    // written, not even the rejects file, before the check passed.
    let file_read = Arc::new(AtomicU64::new(0));
    let (checked_tx, checked) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
    let (tx, rx) = tokio::sync::mpsc::channel::<anyhow::Result<Chunk>>(4);
    let reader = {
        let (options, file_read, previous) = (options.clone(), file_read.clone(), previous.clone());
        std::thread::spawn(move || {
            read_chunks(&options, previous.as_ref(), file_read, checked_tx, &tx)
        })
    };
    let checked = checked
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the input's reader stopped")));
    if let Err(e) = checked {
        let _ = reader.join();
        return Err(e);
    }

    let mut state = previous.clone().unwrap_or(Checkpoint {
        applied_sha256: Some(dump::empty_sha256()),
        position: Position::default(),
        counters: Counters::default(),
        rejects_len: 0,
        complete: false,
    });
    // A finished checkpoint whose input now has more rows after its end: they are applied.
    state.complete = false;
    let mut rejects = open_rejects(options, &mut state)?;

    let mut progress = Progress::new(options.progress, input_size, state.counters.rows);
    let rows_at_start = state.counters.rows;
    let in_flight = &Semaphore::new(options.concurrency.max(1));
    // `buffered` hands the chunks back in file order, so the checkpoint only ever covers a
    // prefix of the input; the semaphore, not the depth, bounds the requests.
    let mut chunks = Box::pin(
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
            .map(|chunk| async move {
                match chunk {
                    Ok(chunk) => apply_chunk(store, chunk, options, configs, in_flight).await,
                    Err(e) => Err(e),
                }
            })
            .buffered(options.concurrency.max(2)),
    );
    let mut last_checkpoint = Instant::now();
    let outcome = loop {
        let Some(done) = chunks.next().await else {
            break Ok(());
        };
        let done = match done {
            Ok(d) => d,
            Err(e) => break Err(e),
        };
        for reject in &done.rejects {
            let line = reject.to_csv_line();
            rejects.write_all(line.as_bytes())?;
            state.rejects_len += line.len() as u64;
        }
        add(&mut state.counters, &done.counters);
        state.position = done.end;
        state.applied_sha256 = Some(done.applied);
        progress.update(file_read.load(Ordering::Relaxed), &state.counters);
        if last_checkpoint.elapsed() >= options.checkpoint_every {
            rejects.flush()?;
            state.store(&options.checkpoint)?;
            last_checkpoint = Instant::now();
        }
    };
    // Dropping the stream drops the receiver: a reader still sending stops.
    drop(chunks);
    let _ = reader.join();
    progress.finish();
    rejects.flush()?;
    state.complete = outcome.is_ok();
    state.store(&options.checkpoint)?;
    outcome?;
    Ok(Summary {
        counters: state.counters,
        seconds: progress.seconds(),
        rows_this_run: state.counters.rows - rows_at_start,
        resumed: previous.is_some(),
        already_complete: previous.is_some_and(|p| p.complete)
            && state.counters.rows == rows_at_start,
        rejects_exceeded: state.counters.rejected > options.max_rejects,
    })
}

fn add(total: &mut Counters, more: &Counters) {
    total.rows += more.rows;
    total.created += more.created;
    total.completed += more.completed;
    total.already_present += more.already_present;
    total.codes_created += more.codes_created;
    total.rejected += more.rejected;
}

/// The rejects file, cut back to what the checkpoint covers (a resumed run writes the
/// rejects after it again).
fn open_rejects(
    options: &ImportOptions,
    state: &mut Checkpoint,
) -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&options.rejects)
        .with_context(|| format!("opening {}", options.rejects.display()))?;
    if state.rejects_len == 0 {
        file.set_len(0)?;
        file.write_all(Reject::HEADER.as_bytes())?;
        state.rejects_len = Reject::HEADER.len() as u64;
    } else {
        // Shorter than the checkpoint says: the rejects of the rows already done are gone
        // (deleted, or overwritten by another run); padding would write zeros, so stop.
        let found = file.metadata()?.len();
        anyhow::ensure!(
            found >= state.rejects_len,
            "{} holds {found} bytes but the checkpoint covers {} bytes of rejects: it was \
             changed since; restore it, or start over without the checkpoint",
            options.rejects.display(),
            state.rejects_len
        );
        file.set_len(state.rejects_len)?;
        file.seek(std::io::SeekFrom::End(0))?;
    }
    Ok(std::io::BufWriter::new(file))
}

/// The reader thread: checks the applied prefix of `previous` (re-reading it) and says so
/// on `checked`, then sends validated chunks until the input ends or the receiver is gone.
fn read_chunks(
    options: &ImportOptions,
    previous: Option<&Checkpoint>,
    file_read: Arc<AtomicU64>,
    checked: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
    tx: &tokio::sync::mpsc::Sender<anyhow::Result<Chunk>>,
) {
    let opened = (|| -> anyhow::Result<dump::Fingerprinted> {
        let mut records = dump::open_fingerprinted(&options.input, options.format, file_read)?;
        if let Some(previous) = previous {
            previous.verify(&mut records, &options.checkpoint, &options.input)?;
        }
        Ok(records)
    })();
    let mut records = match opened {
        Ok(records) => {
            let _ = checked.send(Ok(()));
            records
        }
        Err(e) => {
            let _ = checked.send(Err(e));
            return;
        }
    };
    let result = (|| -> anyhow::Result<()> {
        let chunk_rows = options.chunk_rows.clamp(1, 100);
        loop {
            let mut rows = Vec::with_capacity(chunk_rows);
            let mut end = None;
            while rows.len() < chunk_rows {
                match records.next_record() {
                    Some(Ok(record)) => {
                        end = Some(record.end);
                        rows.push(row::validate(record, options.timezone));
                    }
                    Some(Err(e)) => return Err(e),
                    None => break,
                }
            }
            let Some(end) = end else { return Ok(()) };
            let applied = records.sha256();
            if tx.blocking_send(Ok(Chunk { rows, end, applied })).is_err() {
                return Ok(()); // the run stopped
            }
        }
    })();
    if let Err(e) = result {
        let _ = tx.blocking_send(Err(e));
    }
}

/// Reads the chunk's profiles in one BatchGetItem and applies its rows concurrently, each
/// request under a permit of `in_flight`.
async fn apply_chunk<S>(
    store: &S,
    chunk: Chunk,
    options: &ImportOptions,
    configs: &ConfigCache,
    in_flight: &Semaphore,
) -> anyhow::Result<Done>
where
    S: MemberBatches + MemberGroups + Profiles + EventReads + ?Sized,
{
    let mut done = Done {
        rejects: Vec::new(),
        counters: Counters {
            rows: chunk.rows.len() as u64,
            ..Counters::default()
        },
        end: chunk.end,
        applied: chunk.applied,
    };
    let mut valid = Vec::with_capacity(chunk.rows.len());
    for row in chunk.rows {
        match row {
            Ok(r) => valid.push(r),
            Err(reject) => done.rejects.push(reject),
        }
    }
    let accounts: Vec<AccountId> = valid.iter().map(|r| r.account_id.clone()).collect();
    let read = {
        let _permit = in_flight.acquire().await.expect("never closed");
        read_profiles(store, &accounts, options.backoff).await?
    };
    let read = &read;
    // The referral configurations of the members who used a code: with them a member the
    // import qualifies is settled exactly as the consumers settle (ADR 0007).
    let events: Vec<EventId> = read
        .profiles
        .values()
        .filter_map(|m| m.accepted_referral().map(|(_, event, _)| event.clone()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let configs = configs
        .get_many(store, &events)
        .await
        .context("reading the referral configurations of the chunk's members")?;
    let configs = &configs;
    let mut outcomes: Vec<(u64, Result<RowOutcome, StoreError>)> = Vec::new();
    let mut rows = Vec::with_capacity(valid.len());
    for row in &valid {
        if read.corrupt.contains_key(&keys::member_pk(&row.account_id)) {
            outcomes.push((
                row.line,
                Ok(RowOutcome::Rejected(apply::row_reject(
                    row,
                    Reason::StoredProfileCorrupt,
                    "the stored profile does not map onto the domain",
                ))),
            ));
        } else {
            rows.push(row);
        }
    }
    if options.group > 1 {
        outcomes.extend(grouped(store, rows, read, configs, options, in_flight).await);
    } else {
        let one_by_one = stream::iter(rows)
            .map(|row| async move {
                let _permit = in_flight.acquire().await.expect("never closed");
                (
                    row.line,
                    apply_one(store, row, read, configs, options).await,
                )
            })
            .buffer_unordered(options.chunk_rows.max(1))
            .collect::<Vec<_>>()
            .await;
        outcomes.extend(one_by_one);
    }
    for (line, outcome) in outcomes {
        match outcome.with_context(|| format!("applying the row on line {line}"))? {
            RowOutcome::Created { code } => {
                done.counters.created += 1;
                done.counters.codes_created += code as u64;
            }
            RowOutcome::Completed { code } => {
                done.counters.completed += 1;
                done.counters.codes_created += code as u64;
            }
            RowOutcome::AlreadyPresent => done.counters.already_present += 1,
            RowOutcome::Rejected(reject) => done.rejects.push(reject),
        }
    }
    done.rejects.sort_by_key(|r| r.line);
    done.counters.rejected = done.rejects.len() as u64;
    Ok(done)
}

/// The grouped write (`--group`): each row planned against the batch read, the planned
/// writes sent together, and a cancelled group's rows applied one by one (which re-reads
/// and re-plans them).
async fn grouped<S>(
    store: &S,
    rows: Vec<&MemberRow>,
    read: &ProfilesAndCodes,
    configs: &HashMap<EventId, Arc<EventConfig>>,
    options: &ImportOptions,
    in_flight: &Semaphore,
) -> Vec<(u64, Result<RowOutcome, StoreError>)>
where
    S: MemberBatches + MemberGroups + Profiles + EventReads + ?Sized,
{
    let now = chrono::Utc::now();
    let mut outcomes = Vec::new();
    let mut groups: Vec<Vec<(&MemberRow, bool, PlannedWrite)>> = vec![Vec::new()];
    let mut actions = 0;
    for row in rows {
        let loaded = read.profiles.get(&row.account_id);
        if loaded.is_some_and(|m| m.jkos_id != row.jkos_id) {
            let reject = apply::jkos_reject(row, JkosConflict::OtherJkosId);
            outcomes.push((row.line, Ok(RowOutcome::Rejected(reject))));
            continue;
        }
        let Some(planned) = apply::plan_row(
            loaded,
            row,
            referral_config(loaded, configs),
            &options.personal_event,
            || ReferralCode::generate(&mut rand::rng()),
            now,
        ) else {
            outcomes.push((row.line, Ok(RowOutcome::AlreadyPresent)));
            continue;
        };
        // The funnel's counter items: fewer once merged with the group's, never more.
        // The profile's Put, and its jkos binding's while the profile is not bound (ADR 0010).
        let needs = 1
            + usize::from(!planned.member.jkos_id_bound)
            + planned.settlement.actions()
            + planned.funnel.len();
        let current = groups.last_mut().expect("one group at least");
        if current.len() >= options.group || actions + needs > MAX_GROUP_ACTIONS {
            groups.push(Vec::new());
            actions = 0;
        }
        actions += needs;
        groups
            .last_mut()
            .expect("one group at least")
            .push((row, loaded.is_some(), planned));
    }
    let written = stream::iter(groups.into_iter().filter(|g| !g.is_empty()))
        .map(|group| async move {
            let _permit = in_flight.acquire().await.expect("never closed");
            let writes: Vec<MemberWrite<'_>> = group
                .iter()
                .map(|(_, _, p)| MemberWrite {
                    member: &p.member,
                    expected_version: p.expected_version,
                    settlement: &p.settlement,
                    funnel: &p.funnel,
                })
                .collect();
            match store.save_members_together(&writes).await {
                Ok(()) => group
                    .iter()
                    .map(|(row, existed, p)| {
                        let code = p.settlement.new_code.is_some();
                        let outcome = if *existed {
                            RowOutcome::Completed { code }
                        } else {
                            RowOutcome::Created { code }
                        };
                        (row.line, Ok(outcome))
                    })
                    .collect::<Vec<_>>(),
                Err(e) => {
                    tracing::debug!(error = %e, members = group.len(), "group cancelled; writing its members one by one");
                    let mut out = Vec::with_capacity(group.len());
                    for (row, _, _) in &group {
                        out.push((row.line, apply_one(store, row, read, configs, options).await));
                    }
                    out
                }
            }
        })
        .buffer_unordered(options.chunk_rows.max(1))
        .collect::<Vec<_>>()
        .await;
    outcomes.extend(written.into_iter().flatten());
    outcomes
}

/// The chunk's profiles (BatchGetItem), retried with backoff while DynamoDB is unavailable.
async fn read_profiles<S>(
    store: &S,
    accounts: &[AccountId],
    backoff: apply::Backoff,
) -> anyhow::Result<ProfilesAndCodes>
where
    S: MemberBatches + ?Sized,
{
    let mut delay = backoff.first_delay;
    let mut attempt = 1;
    loop {
        match store.profiles_and_codes(accounts, &[]).await {
            Ok(read) => return Ok(read),
            Err(e) if e.is_retryable() && attempt < backoff.attempts => {
                tracing::warn!(error = %e, attempt, "DynamoDB unavailable; retrying the batch read");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(backoff.max_delay);
                attempt += 1;
            }
            Err(e) => return Err(e).context("reading a chunk's profiles"),
        }
    }
}

/// One row written on its own, from the chunk's read of its profile.
async fn apply_one<S>(
    store: &S,
    row: &MemberRow,
    read: &ProfilesAndCodes,
    configs: &HashMap<EventId, Arc<EventConfig>>,
    options: &ImportOptions,
) -> Result<RowOutcome, StoreError>
where
    S: MemberBatches + Profiles + EventReads + ?Sized,
{
    let loaded = read.profiles.get(&row.account_id).cloned();
    let config = referral_config(loaded.as_ref(), configs);
    apply_row(
        store,
        row,
        loaded,
        config,
        &options.personal_event,
        options.backoff,
    )
    .await
}

/// The referral configuration `member`'s accepted code use needs, if it was read.
fn referral_config<'a>(
    member: Option<&MemberProfile>,
    configs: &'a HashMap<EventId, Arc<EventConfig>>,
) -> Option<&'a EventConfig> {
    let (_, event, _) = member?.accepted_referral()?;
    configs.get(event).map(Arc::as_ref)
}
