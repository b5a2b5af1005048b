//! `referral-backfill gsi3`: gives every reward and every member profile written before they
//! carried GSI3 keys those keys, as the store writes them (`store::items::reward_item`:
//! `PAYEE#<jkos id>`, `<created_at>#<id>`; `store::items::member_item`: `PAYEE#<jkos id>`,
//! `#PROFILE`), so the member's "my rewards" (`GET /v1/referral/rewards`) shows the reward
//! and "my registration" (`GET /v1/referral/me/registration`) finds the profile (one Query on
//! GSI3 each).
//!
//! A parallel Scan for rewards and profiles without `GSI3PK`, then per item one UpdateItem
//! `SET GSI3PK, GSI3SK` under `attribute_exists(PK) AND attribute_not_exists(GSI3PK)`: it never
//! creates an item, never overwrites keys a newer write set, touches no other attribute, and a
//! re-run (or two at once) only finds what is still missing. Run it once after deploying the
//! release that adds GSI3, while the service runs.

use anyhow::Context;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt, stream};
use referral_shared::domain::{MemberProfile, Reward};
use referral_shared::store::items::{self, Item};
use referral_shared::store::keys;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a backfill did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backfilled {
    /// Rewards and profiles the Scan found without GSI3 keys.
    pub found: u64,
    /// Items this run gave their keys.
    pub updated: u64,
    /// Of `updated`, member profiles.
    pub profiles: u64,
    /// Items that had them by the time of the write (a newer write, or another run).
    pub already: u64,
    /// Items that do not map onto a reward or a profile (left as they are; see the log).
    pub unreadable: u64,
}

type Attrs = HashMap<String, AttributeValue>;

/// Backfills GSI3 over `segments` parallel Scan segments, `concurrency` updates at once per
/// segment. `progress` is called with the running totals after each page.
pub async fn gsi3(
    client: &Client,
    table: &str,
    segments: i32,
    concurrency: usize,
    progress: &(dyn Fn(&Backfilled) + Sync),
) -> anyhow::Result<Backfilled> {
    let counters = &[(); 5].map(|_| AtomicU64::new(0));
    let totals = move || Backfilled {
        found: counters[0].load(Ordering::Relaxed),
        updated: counters[1].load(Ordering::Relaxed),
        already: counters[2].load(Ordering::Relaxed),
        unreadable: counters[3].load(Ordering::Relaxed),
        profiles: counters[4].load(Ordering::Relaxed),
    };
    let filter = ScanFilter {
        expression: "#entity IN (:reward, :member) AND attribute_not_exists(#gsi3pk)",
        names: &[("#entity", "entity"), ("#gsi3pk", keys::GSI3PK)],
        values: &[(":reward", "Reward"), (":member", "Member")],
        what: "scanning for rewards and profiles without GSI3 keys",
    };
    scan_pages(client, table, segments, &filter, |found| async move {
        counters[0].fetch_add(found.len() as u64, Ordering::Relaxed);
        stream::iter(found)
            .map(Ok::<_, anyhow::Error>)
            .try_for_each_concurrent(concurrency.max(1), |item| async {
                let i = match set_keys(client, table, item).await? {
                    Outcome::Updated { profile } => {
                        if profile {
                            counters[4].fetch_add(1, Ordering::Relaxed);
                        }
                        1
                    }
                    Outcome::Already => 2,
                    Outcome::Unreadable => 3,
                };
                counters[i].fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
            .await?;
        progress(&totals());
        Ok(())
    })
    .await?;
    Ok(totals())
}

/// What a backfill's parallel Scan keeps: a filter expression with its names and (string)
/// values, and what the Scan is for (its error's context).
struct ScanFilter<'a> {
    expression: &'a str,
    names: &'a [(&'a str, &'a str)],
    values: &'a [(&'a str, &'a str)],
    what: &'static str,
}

/// Scans `table` in `segments` parallel segments with `filter`, handing each page's items to
/// `on_page` (a segment's pages one after the other, the segments at once).
async fn scan_pages<F, Fut>(
    client: &Client,
    table: &str,
    segments: i32,
    filter: &ScanFilter<'_>,
    on_page: F,
) -> anyhow::Result<()>
where
    F: Fn(Vec<Attrs>) -> Fut + Sync,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let segments = segments.max(1);
    let on_page = &on_page;
    stream::iter(0..segments)
        .map(Ok::<_, anyhow::Error>)
        .try_for_each_concurrent(None, |segment| async move {
            let mut start: Option<Attrs> = None;
            loop {
                let mut scan = client
                    .scan()
                    .table_name(table)
                    .segment(segment)
                    .total_segments(segments)
                    .filter_expression(filter.expression)
                    .set_exclusive_start_key(start.take());
                for (name, attribute) in filter.names {
                    scan = scan.expression_attribute_names(*name, *attribute);
                }
                for (name, value) in filter.values {
                    scan =
                        scan.expression_attribute_values(*name, AttributeValue::S((*value).into()));
                }
                let page = scan.send().await.context(filter.what)?;
                on_page(page.items.unwrap_or_default()).await?;
                match page.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => return Ok(()),
                }
            }
        })
        .await
}

/// What became of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Updated { profile: bool },
    Already,
    Unreadable,
}

/// Gives `item` (as the Scan read it) its GSI3 keys, unless it has them by now.
pub async fn set_keys(client: &Client, table: &str, item: Attrs) -> anyhow::Result<Outcome> {
    let key = |name: &str| item.get(name).cloned();
    let (Some(pk), Some(sk)) = (key("PK"), key("SK")) else {
        return Ok(Outcome::Unreadable);
    };
    let profile = item
        .get("entity")
        .and_then(|e| e.as_s().ok())
        .map(String::as_str)
        == Some("Member");
    // The keys the store writes today for what the item holds.
    let written = if profile {
        serde_dynamo::from_item::<_, Item<MemberProfile>>(item.clone())
            .map(|read| {
                let written = items::member_item(&read.data);
                (written.gsi3pk, written.gsi3sk)
            })
            .map_err(|e| (e, "Member"))
    } else {
        serde_dynamo::from_item::<_, Item<Reward>>(item.clone())
            .map(|read| {
                let written = items::reward_item(&read.data);
                (written.gsi3pk, written.gsi3sk)
            })
            .map_err(|e| (e, "Reward"))
    };
    let (gsi3pk, gsi3sk) = match written {
        Ok((Some(pk), Some(sk))) => (pk, sk),
        Ok(_) => anyhow::bail!("the store's item has no GSI3 keys"),
        Err((e, entity)) => {
            tracing::warn!(pk = ?pk, entity, error = %e, "an item that does not map onto its entity; left as it is");
            return Ok(Outcome::Unreadable);
        }
    };
    let result = client
        .update_item()
        .table_name(table)
        .key("PK", pk)
        .key("SK", sk)
        .update_expression("SET #gsi3pk = :pk, #gsi3sk = :sk")
        .condition_expression("attribute_exists(PK) AND attribute_not_exists(#gsi3pk)")
        .expression_attribute_names("#gsi3pk", keys::GSI3PK)
        .expression_attribute_names("#gsi3sk", keys::GSI3SK)
        .expression_attribute_values(":pk", AttributeValue::S(gsi3pk))
        .expression_attribute_values(":sk", AttributeValue::S(gsi3sk))
        .send()
        .await;
    match result {
        Ok(_) => Ok(Outcome::Updated { profile }),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(Outcome::Already)
        }
        Err(e) => Err(anyhow::Error::new(e).context("setting an item's GSI3 keys")),
    }
}

/// What `referral-backfill jkos` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Profiles the Scan found without `jkos_id_bound`.
    pub found: u64,
    /// Profiles this run bound to their jkos id (binding written with the profile).
    pub bound: u64,
    /// Profiles bound by the time of the write (their own next write, or another run).
    pub already: u64,
    /// Profiles whose jkos id another account holds: left unbound, logged by account id for
    /// support (docs/runbook.md, "A jkos id carried by a second account").
    pub taken: u64,
    /// Items that do not map onto a profile (left as they are; see the log).
    pub unreadable: u64,
}

/// `referral-backfill jkos` (ADR 0010): every profile stored before jkos ids were bound gets
/// its `JKOS#<jkos id>` binding, through the store's own profile write (the binding's Put,
/// conditioned on being absent or naming the account, and the profile's Put conditioned on
/// its version, in one transaction). Nothing but `jkos_id_bound` and the version changes, so
/// it is safe while the consumers run (a concurrent write wins and the profile is re-read).
/// Two stored accounts of one jkos id: the first written keeps it, the other is counted
/// `taken` and logged for support. Run it once after deploying, before new members arrive.
pub async fn jkos<S>(
    store: &S,
    client: &Client,
    table: &str,
    segments: i32,
    progress: &(dyn Fn(&Bound) + Sync),
) -> anyhow::Result<Bound>
where
    S: referral_shared::store::MemberBatches + referral_shared::store::Profiles + ?Sized,
{
    use referral_shared::store::{Applied, Entity, PlannedWrite, StoreError, apply_versioned};
    let counters = &[(); 5].map(|_| AtomicU64::new(0));
    let totals = move || Bound {
        found: counters[0].load(Ordering::Relaxed),
        bound: counters[1].load(Ordering::Relaxed),
        already: counters[2].load(Ordering::Relaxed),
        taken: counters[3].load(Ordering::Relaxed),
        unreadable: counters[4].load(Ordering::Relaxed),
    };
    let filter = ScanFilter {
        expression: "#entity = :member AND attribute_not_exists(#bound)",
        names: &[("#entity", "entity"), ("#bound", "jkos_id_bound")],
        values: &[(":member", "Member")],
        what: "scanning for profiles without a jkos binding",
    };
    scan_pages(client, table, segments, &filter, |found| async move {
        for item in found {
            counters[0].fetch_add(1, Ordering::Relaxed);
            let profile = match serde_dynamo::from_item::<_, Item<MemberProfile>>(item) {
                Ok(read) => read.data,
                Err(e) => {
                    tracing::warn!(error = %e, "a profile that does not map onto the domain; left as it is");
                    counters[4].fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let account = profile.account_id.clone();
            // The profile as stored, one version on: the store adds the binding.
            let rebind = |stored: Option<&MemberProfile>| {
                let stored = stored.filter(|m| !m.jkos_id_bound)?;
                Some(PlannedWrite {
                    member: MemberProfile {
                        version: stored.version + 1,
                        ..stored.clone()
                    },
                    settlement: Default::default(),
                    expected_version: stored.version,
                    funnel: Default::default(),
                })
            };
            let i = match apply_versioned(store, &account, Some(profile), 8, rebind).await {
                Ok(Applied::Written { .. }) => 1,
                Ok(Applied::Unchanged { .. }) => 2,
                Err(StoreError::Conflict {
                    entity: Entity::JkosBinding,
                    ..
                }) => {
                    tracing::warn!(account = %account, "the profile's jkos id is bound to another account; left unbound");
                    3
                }
                Err(StoreError::Corrupt { .. }) => 4,
                Err(e) => return Err(anyhow::Error::new(e).context("binding a profile")),
            };
            counters[i].fetch_add(1, Ordering::Relaxed);
        }
        progress(&totals());
        Ok(())
    })
    .await?;
    Ok(totals())
}
