//! Campaign configuration as data: a JSON file describing one event with its content windows,
//! copywriting, notification templates and (optionally) pre-issued codes. Loading goes
//! through the domain types, so an invalid file is rejected before anything is written, and
//! re-loading the same file is harmless (items are keyed by the ids in the file).

use anyhow::{Context, Result, bail};
use referral_shared::store::{ReferralStore, StoreError};
use referral_shared::time::Instant;
use referral_shared::{
    ContentWindow, Copywriting, EventConfig, EventId, EventName, EventType, NotificationTemplate,
    ReferralCode, ReferralCodeRecord, ReferralEvent, ReferralSource,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    pub event_id: EventId,
    pub event_type: EventType,
    pub name: EventName,
    #[serde(default)]
    pub contents: Vec<ContentWindow>,
    #[serde(default)]
    pub copywriting: Vec<Copywriting>,
    #[serde(default)]
    pub notifications: Vec<NotificationTemplate>,
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

    /// The event configuration this file describes, validated (no overlapping windows).
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
    let created_at = existing.as_ref().map_or(now, |c| c.event.created_at);
    let config = file.to_config(created_at, now)?;

    store.put_event(&config.event).await?;
    for content in &config.contents {
        store
            .put_content_window(&config.event.event_id, content)
            .await?;
    }
    for copy in &config.copywriting {
        store.put_copywriting(&config.event.event_id, copy).await?;
    }
    for template in &config.notifications {
        store
            .put_notification(&config.event.event_id, template)
            .await?;
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
}
