//! Campaign configuration as data: a JSON file describing one event with its content windows,
//! copywriting, notification templates and (optionally) pre-issued codes. Loading goes
//! through the domain types and the same validation as the admin API
//! ([`EventConfig::validate`]), so a file the API would refuse is rejected before anything is
//! written. The file is the event's whole state, written like the admin API's replace: one
//! transaction that also deletes the windows the file no longer lists (never a content window
//! rewards were granted under) and holds only if nobody changed the event meanwhile.
//! Re-loading the same file is harmless.

use anyhow::{Context, Result, bail};
use referral_shared::store::{StoreError, prelude::*};
use referral_shared::time::Instant;
use referral_shared::{
    ContentWindow, Copywriting, EventConfig, EventId, EventName, EventType, LinkSettings,
    NotificationTemplate, ReferralCode, ReferralCodeRecord, ReferralEvent, ReferralSource,
    RewardRules,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    pub event_id: EventId,
    pub event_type: EventType,
    pub name: EventName,
    /// Required like in the admin API: the file replaces the event whole, so a collection
    /// left out would delete what is stored. `[]` = none.
    pub contents: Vec<ContentWindow>,
    pub copywriting: Vec<Copywriting>,
    pub notifications: Vec<NotificationTemplate>,
    /// The event's reward rules (`docs/rules.md`); absent = no rule, as in the admin API.
    #[serde(default)]
    pub rules: Option<RewardRules>,
    /// Share-link settings (`links.time_zone`; `links.landing_url`, deprecated: not used by the
    /// share link, ADR 0009); absent = UTC, as in the admin API.
    #[serde(default)]
    pub links: Option<LinkSettings>,
    /// Codes to issue with the event (campaign codes, or demo referrers' codes locally).
    #[serde(default)]
    pub codes: Vec<CodeSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSpec {
    pub code: ReferralCode,
    pub source: ReferralSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    pub event_id: EventId,
    pub contents: usize,
    pub copywriting: usize,
    pub notifications: usize,
    pub codes_created: usize,
    pub codes_present: usize,
}

impl CampaignFile {
    pub fn parse(json: &str) -> Result<Self> {
        serde_json::from_str(json).context("campaign file is not valid")
    }

    pub fn read(path: &std::path::Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The event configuration this file describes, validated by the domain as the admin API
    /// validates its bodies (no overlapping windows, unique window ids, the window limit).
    pub fn to_config(&self, created_at: Instant, now: Instant) -> Result<EventConfig> {
        let config = EventConfig {
            event: ReferralEvent {
                event_id: self.event_id.clone(),
                event_type: self.event_type,
                name: self.name.clone(),
                created_at,
                updated_at: now,
            },
            contents: self.contents.clone(),
            copywriting: self.copywriting.clone(),
            notifications: self.notifications.clone(),
            rules: self.rules.clone().unwrap_or_default(),
            links: self.links.clone().unwrap_or_default(),
        };
        config.validate().context("campaign file is not valid")?;
        Ok(config)
    }
}

/// Writes the campaign into the store. Idempotent for the same file.
pub async fn load(
    store: &dyn ReferralStore,
    file: &CampaignFile,
    now: Instant,
) -> Result<LoadSummary> {
    let existing = store.event_config(&file.event_id).await?;
    let (created_at, updated_at) = match &existing {
        Some(stored) => (stored.event.created_at, stored.event.next_version_at(now)),
        None => (now, now),
    };
    let config = file.to_config(created_at, updated_at)?;
    if let Some(stored) = &existing
        && stored.event.event_type != config.event.event_type
    {
        bail!(
            "event {} is {}; a file cannot change its type",
            file.event_id,
            stored.event.event_type.as_str()
        );
    }
    match store.save_event_config(&config, existing.as_ref()).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => bail!(
            "event {} changed while it was being loaded; load the file again",
            file.event_id
        ),
        Err(e @ StoreError::WindowInUse { .. }) => {
            bail!("{e}: keep it in the file (it may be edited, e.g. ended earlier)")
        }
        Err(e) => return Err(e.into()),
    }

    let (mut codes_created, mut codes_present) = (0, 0);
    for spec in &file.codes {
        // PERSONAL codes belong to members, CAMPAIGN codes to campaigns: never the other way.
        let personal = file.event_type == EventType::Personal;
        if personal != spec.source.member().is_some() {
            bail!(
                "code {}: a {} event's codes need a {} source, not {}",
                spec.code,
                file.event_type.as_str(),
                if personal {
                    "member:<jkos id>"
                } else {
                    "campaign:<name>"
                },
                spec.source
            );
        }
        let record = ReferralCodeRecord {
            code: spec.code.clone(),
            event_id: file.event_id.clone(),
            event_type: file.event_type,
            source: spec.source.clone(),
            owner_phone: None,
            created_at: now,
        };
        match store.create_code(&record).await {
            Ok(()) => codes_created += 1,
            Err(StoreError::Conflict { .. }) => {
                // Already there: fine if it is the same code of the same owner, else refuse.
                match store.get_code(&spec.code).await? {
                    Some(found)
                        if found.event_id == record.event_id && found.source == record.source =>
                    {
                        codes_present += 1
                    }
                    _ => bail!(
                        "code {} already belongs to another event or owner",
                        spec.code
                    ),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }

    Ok(LoadSummary {
        event_id: config.event.event_id,
        contents: config.contents.len(),
        copywriting: config.copywriting.len(),
        notifications: config.notifications.len(),
        codes_created,
        codes_present,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../config/campaigns/personal.json");

    #[test]
    fn the_sample_campaign_is_valid_and_active_in_2026() {
        let file = CampaignFile::parse(SAMPLE).unwrap();
        let now: Instant = "2026-11-21T00:00:00Z".parse().unwrap();
        let config = file.to_config(now, now).unwrap();
        assert_eq!(config.event.event_type, EventType::Personal);
        assert!(config.content_at(now).is_some());
        for item in referral_shared::CopywritingItem::ALL {
            assert!(config.copywriting_at(item, now).is_some(), "{item:?}");
        }
        for side in referral_shared::Side::BOTH {
            assert!(config.notification_at(side, now).is_some(), "{side:?}");
        }
    }

    #[test]
    fn rules_in_the_file_are_read_and_validated_like_the_apis() {
        let mut doc: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        let now: Instant = "2026-11-21T00:00:00Z".parse().unwrap();
        let none = CampaignFile::parse(&doc.to_string()).unwrap();
        assert!(
            none.to_config(now, now).unwrap().rules.is_off(),
            "absent = no rule"
        );
        doc["rules"] = serde_json::json!({
            "referrer_cap": {"max_referees": 10, "per": "CONTENT_WINDOW"},
            "one_reward_per_device": true,
            "claim_days": 7
        });
        let file = CampaignFile::parse(&doc.to_string()).unwrap();
        let rules = file.to_config(now, now).unwrap().rules;
        assert_eq!(rules.claim_days, Some(7));
        assert!(rules.one_reward_per_device && rules.referrer_cap.is_some());
        doc["rules"]["claim_days"] = serde_json::json!(0);
        let bad = CampaignFile::parse(&doc.to_string()).unwrap();
        let err = format!("{:#}", bad.to_config(now, now).unwrap_err());
        assert!(err.contains("rules.claim_days"), "{err}");
        doc["rules"] = serde_json::json!({"claim_dayz": 7});
        assert!(CampaignFile::parse(&doc.to_string()).is_err());
    }

    #[test]
    fn overlapping_windows_and_unknown_fields_are_rejected() {
        let mut doc: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        let first = doc["contents"][0].clone();
        let mut second = first.clone();
        second["window_id"] = "overlap".into();
        doc["contents"] = serde_json::json!([first, second]);
        let file = CampaignFile::parse(&doc.to_string()).unwrap();
        let now: Instant = "2026-11-21T00:00:00Z".parse().unwrap();
        let err = format!("{:#}", file.to_config(now, now).unwrap_err());
        assert!(err.contains("overlap"), "{err}");

        doc["surprise"] = true.into();
        assert!(CampaignFile::parse(&doc.to_string()).is_err());
    }

    /// The loader refuses what the admin API refuses: the same domain validation.
    #[test]
    fn duplicate_window_ids_too_many_windows_and_missing_collections_are_refused() {
        let sample: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        let now: Instant = "2026-11-21T00:00:00Z".parse().unwrap();
        let refusal = |doc: &serde_json::Value| {
            let file = CampaignFile::parse(&doc.to_string()).unwrap();
            format!("{:#}", file.to_config(now, now).unwrap_err())
        };

        // A notification reusing the content window's id.
        let mut doc = sample.clone();
        doc["notifications"][0]["window_id"] = doc["contents"][0]["window_id"].clone();
        let err = refusal(&doc);
        assert!(
            err.contains("notifications") && err.contains("used twice"),
            "{err}"
        );

        // One window over the limit: consecutive day-long content windows (no overlap).
        let mut doc = sample.clone();
        let existing = ["copywriting", "notifications"]
            .iter()
            .map(|k| doc[k].as_array().unwrap().len())
            .sum::<usize>();
        let start: Instant = "2030-01-01T00:00:00Z".parse().unwrap();
        let template = doc["contents"][0].clone();
        let contents: Vec<_> = (0..=EventConfig::MAX_WINDOWS - existing)
            .map(|i| {
                let mut c = template.clone();
                let day = |d: usize| {
                    referral_shared::time::format(&(start + chrono::Duration::days(d as i64)))
                };
                c["window_id"] = format!("day-{i}").into();
                c["window"] = serde_json::json!({"start": day(i), "end": day(i + 1)});
                c
            })
            .collect();
        doc["contents"] = contents.into();
        let err = refusal(&doc);
        assert!(err.contains("at most 33 windows"), "{err}");
        // ...and exactly the limit is fine.
        doc["contents"].as_array_mut().unwrap().pop();
        let file = CampaignFile::parse(&doc.to_string()).unwrap();
        assert!(file.to_config(now, now).is_ok());

        // Every collection is stated (the file replaces the event whole).
        for collection in ["contents", "copywriting", "notifications"] {
            let mut doc = sample.clone();
            doc.as_object_mut().unwrap().remove(collection);
            let err = format!("{:#}", CampaignFile::parse(&doc.to_string()).unwrap_err());
            assert!(
                err.contains(&format!("missing field `{collection}`")),
                "{err}"
            );
        }
    }
}
