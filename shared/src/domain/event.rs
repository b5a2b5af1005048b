//! Referral events ("campaigns") and everything configured on one: reward content windows,
//! copywriting and notification templates, each valid within a time window.

use super::window::truncate_millis;
use super::{
    ContentWindow, Copywriting, CopywritingItem, EventId, EventName, LinkSettings,
    NotificationTemplate, RewardRules, Side, TimeWindow, ValidationError, WindowId,
};
use crate::time::{self, Instant};
use serde::{Deserialize, Serialize};

/// `referral_event.type`: personal referral (member codes) or a campaign (issued codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    Personal,
    Campaign,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Personal => "PERSONAL",
            EventType::Campaign => "CAMPAIGN",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReferralEvent {
    pub event_id: EventId,
    pub event_type: EventType,
    pub name: EventName,
    #[serde(with = "time::millis")]
    #[schema(schema_with = super::schema::instant)]
    pub created_at: Instant,
    #[serde(with = "time::millis")]
    #[schema(schema_with = super::schema::instant)]
    pub updated_at: Instant,
}

impl ReferralEvent {
    /// The one PERSONAL event rule: members' codes, the app's subtitle and event detail use
    /// the deployment's `PERSONAL_EVENT_ID` and no other event, so the PERSONAL event is that
    /// one, and that id is PERSONAL. Creating another PERSONAL event (which nothing would ever
    /// read) or a CAMPAIGN under that id (which would take the PERSONAL event's place) is
    /// refused; event ids are unique (a conditional create), so there is at most one.
    pub fn check_type(&self, personal_event: &EventId) -> Result<(), ValidationError> {
        match self.event_type {
            EventType::Personal if &self.event_id != personal_event => Err(ValidationError::new(
                "event_id",
                format!(
                    "the PERSONAL event of this deployment is {personal_event} \
                     (PERSONAL_EVENT_ID): members' codes, subtitle and event detail use only \
                     it; create a CAMPAIGN event instead"
                ),
            )),
            EventType::Campaign if &self.event_id == personal_event => Err(ValidationError::new(
                "event_type",
                format!(
                    "{personal_event} is this deployment's PERSONAL event \
                         (PERSONAL_EVENT_ID): it must be PERSONAL"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The `updated_at` of the next version of this event written at `now`: stored to the
    /// millisecond, and always later than this one, so every write makes a new version (the
    /// optimistic lock and the admin API's ETag) even within one millisecond or under clock skew.
    pub fn next_version_at(&self, now: Instant) -> Instant {
        truncate_millis(now)
            .max(truncate_millis(self.updated_at) + chrono::TimeDelta::milliseconds(1))
    }
}

/// Everything configured for one event, as loaded in one Query of its item collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventConfig {
    pub event: ReferralEvent,
    #[serde(default)]
    pub contents: Vec<ContentWindow>,
    #[serde(default)]
    pub copywriting: Vec<Copywriting>,
    #[serde(default)]
    pub notifications: Vec<NotificationTemplate>,
    /// The reward rules (caps, uniqueness, deadline, review, milestones, claim step); absent
    /// = none (`docs/rules.md`).
    #[serde(default, skip_serializing_if = "RewardRules::is_off")]
    pub rules: RewardRules,
    /// Share-link settings: the landing page / deep link and the time zone of the event's
    /// days; absent = generic landing, UTC.
    #[serde(default, skip_serializing_if = "LinkSettings::is_default")]
    pub links: LinkSettings,
}

impl EventConfig {
    pub fn content_at(&self, at: Instant) -> Option<&ContentWindow> {
        self.contents.iter().find(|c| c.window.contains(at))
    }

    pub fn copywriting_at(&self, item: CopywritingItem, at: Instant) -> Option<&Copywriting> {
        self.copywriting
            .iter()
            .find(|c| c.item == item && c.window.contains(at))
    }

    pub fn notification_at(&self, side: Side, at: Instant) -> Option<&NotificationTemplate> {
        self.notifications
            .iter()
            .find(|n| n.side == side && n.window.contains(at))
    }

    /// Windows an event may have in all (contents, copywriting and notifications). Replacing any
    /// valid configuration by another is one transaction of at most 100 actions (DynamoDB's
    /// limit): the event, a put per new window, a delete per dropped window and a check per
    /// dropped content window (that no reward was granted under it): 1 + 3 × 33 = 100.
    pub const MAX_WINDOWS: usize = 33;

    /// The one validation of an event's configuration, whoever writes it (the admin API's
    /// create and replace, the campaign file loader):
    /// - windows of the same kind (content; copywriting per item; notification per side) do
    ///   not overlap, so "the window active at T" is always a single answer;
    /// - window ids are unique within the event (a window is named by its id alone);
    /// - at most [`EventConfig::MAX_WINDOWS`] windows in all;
    /// - the reward rules are valid ([`RewardRules::validate`]), and a CAMPAIGN event has
    ///   none of those that concern a member owning the code (cap, velocity hold, milestones,
    ///   self-referral): its codes belong to a campaign, with no referrer to cap, count, reward
    ///   or compare with, so they could never apply (`docs/rules.md`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.rules.validate()?;
        if self.event.event_type == EventType::Campaign
            && let Some(field) = self.rules.owner_rule()
        {
            return Err(ValidationError::new(
                field,
                "applies to members' codes only (the PERSONAL event): a CAMPAIGN event's codes \
                 have no referrer to cap, count, reward or compare with",
            ));
        }
        fn no_overlap<'a>(
            field: &'static str,
            windows: impl Iterator<Item = (&'a WindowId, &'a TimeWindow)>,
        ) -> Result<(), ValidationError> {
            let mut windows: Vec<_> = windows.collect();
            windows.sort_by_key(|(_, w)| w.start());
            for pair in windows.windows(2) {
                if pair[0].1.overlaps(pair[1].1) {
                    return Err(ValidationError::new(
                        field,
                        format!("windows {} and {} overlap", pair[0].0, pair[1].0),
                    ));
                }
            }
            Ok(())
        }
        no_overlap(
            "contents",
            self.contents.iter().map(|c| (&c.window_id, &c.window)),
        )?;
        for item in CopywritingItem::ALL {
            no_overlap(
                "copywriting",
                self.copywriting
                    .iter()
                    .filter(|c| c.item == item)
                    .map(|c| (&c.window_id, &c.window)),
            )?;
        }
        for side in Side::BOTH {
            no_overlap(
                "notifications",
                self.notifications
                    .iter()
                    .filter(|n| n.side == side)
                    .map(|n| (&n.window_id, &n.window)),
            )?;
        }
        let mut ids = std::collections::HashSet::new();
        let all_ids = (self.contents.iter().map(|c| ("contents", &c.window_id)))
            .chain(
                self.copywriting
                    .iter()
                    .map(|c| ("copywriting", &c.window_id)),
            )
            .chain(
                self.notifications
                    .iter()
                    .map(|n| ("notifications", &n.window_id)),
            );
        for (field, id) in all_ids {
            if !ids.insert(id) {
                return Err(ValidationError::new(
                    field,
                    format!("window id {id} is used twice"),
                ));
            }
        }
        if ids.len() > Self::MAX_WINDOWS {
            return Err(ValidationError::new(
                "contents",
                format!(
                    "an event has at most {} windows in all (contents, copywriting and \
                     notifications; it has {})",
                    Self::MAX_WINDOWS,
                    ids.len()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CopyContent, RewardAmount, RewardTerms, RewardType};
    use chrono::{TimeZone, Utc};

    fn t(h: u32) -> Instant {
        Utc.with_ymd_and_hms(2026, 11, 21, h, 0, 0).unwrap()
    }

    fn config_with(contents: Vec<ContentWindow>, copywriting: Vec<Copywriting>) -> EventConfig {
        EventConfig {
            event: ReferralEvent {
                event_id: EventId::parse("e").unwrap(),
                event_type: EventType::Campaign,
                name: EventName::parse("e").unwrap(),
                created_at: t(0),
                updated_at: t(0),
            },
            contents,
            copywriting,
            notifications: Vec::new(),
            rules: RewardRules::default(),
            links: Default::default(),
        }
    }

    fn content(id: &str, start: Instant, end: Instant) -> ContentWindow {
        let terms = RewardTerms {
            reward_type: RewardType::Coin,
            amount: RewardAmount::parse("1").unwrap(),
        };
        ContentWindow {
            window_id: WindowId::parse(id).unwrap(),
            window: TimeWindow::new(start, end).unwrap(),
            referrer: terms,
            referee: terms,
        }
    }

    #[test]
    fn window_ids_are_unique_across_kinds_and_windows_are_bounded() {
        let copy = |id: &str| Copywriting {
            window_id: WindowId::parse(id).unwrap(),
            window: TimeWindow::new(t(1), t(2)).unwrap(),
            item: CopywritingItem::Subtitle,
            content: CopyContent::from_json_text("{}").unwrap(),
        };
        assert!(
            config_with(vec![content("a", t(1), t(2))], vec![copy("b")])
                .validate()
                .is_ok()
        );
        let twice = config_with(vec![content("a", t(1), t(2))], vec![copy("a")]).validate();
        assert_eq!(twice.unwrap_err().field, "copywriting");
        let twice = config_with(
            vec![content("a", t(1), t(2)), content("a", t(2), t(3))],
            Vec::new(),
        )
        .validate();
        assert_eq!(twice.unwrap_err().field, "contents");

        let hours = |n: usize| {
            (0..n)
                .map(|i| {
                    let start = t(0) + chrono::Duration::hours(i as i64);
                    content(&format!("h{i}"), start, start + chrono::Duration::hours(1))
                })
                .collect::<Vec<_>>()
        };
        assert!(
            config_with(hours(EventConfig::MAX_WINDOWS), Vec::new())
                .validate()
                .is_ok()
        );
        let over = config_with(hours(EventConfig::MAX_WINDOWS), vec![copy("one-more")]).validate();
        assert!(over.unwrap_err().message.contains("at most 33 windows"));
    }

    #[test]
    fn every_write_is_a_new_millisecond_version() {
        let event = config_with(Vec::new(), Vec::new()).event;
        let later = t(5);
        assert_eq!(event.next_version_at(later), later);
        // Within the same millisecond, or with a clock behind: one millisecond on.
        let same_ms = t(0) + chrono::Duration::microseconds(300);
        assert_eq!(
            event.next_version_at(same_ms),
            t(0) + chrono::Duration::milliseconds(1)
        );
        assert_eq!(
            event.next_version_at(t(0) - chrono::Duration::hours(1)),
            t(0) + chrono::Duration::milliseconds(1)
        );
        // Stored to the millisecond.
        let odd = t(5) + chrono::Duration::nanoseconds(1_234_567);
        assert_eq!(
            event.next_version_at(odd),
            t(5) + chrono::Duration::milliseconds(1)
        );
    }

    /// Rules that concern a code's owner never apply to a campaign's code (docs/rules.md): a
    /// CAMPAIGN event with them is refused by the field, a PERSONAL event keeps them.
    #[test]
    fn a_campaign_refuses_the_rules_that_concern_a_referrer() {
        use crate::domain::{CapScope, Milestone, ReferrerCap, ReviewHold};
        let terms = content("a", t(1), t(2)).referrer;
        let cap = RewardRules {
            referrer_cap: Some(ReferrerCap {
                max_referees: 5,
                per: CapScope::Event,
                referee_rewarded_beyond_cap: true,
            }),
            ..RewardRules::default()
        };
        let velocity = RewardRules {
            review_hold: Some(ReviewHold {
                referees_per_24h: Some(3),
                amount_at_least: None,
            }),
            ..RewardRules::default()
        };
        let milestones = RewardRules {
            milestones: vec![Milestone {
                nth: 2,
                reward: terms,
            }],
            ..RewardRules::default()
        };
        let self_referral = RewardRules {
            refuse_self_referral: true,
            ..RewardRules::default()
        };
        for (rules, field) in [
            (cap, "rules.referrer_cap"),
            (velocity, "rules.review_hold.referees_per_24h"),
            (milestones, "rules.milestones"),
            (self_referral, "rules.refuse_self_referral"),
        ] {
            let mut config = config_with(Vec::new(), Vec::new());
            config.rules = rules;
            let err = config.validate().unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.message.contains("members' codes only"), "{err}");
            config.event.event_type = EventType::Personal;
            assert!(
                config.validate().is_ok(),
                "{field} applies to a PERSONAL event"
            );
        }
        // What does apply to a campaign's code stays allowed.
        let mut config = config_with(Vec::new(), Vec::new());
        config.rules = RewardRules {
            one_reward_per_phone: true,
            claim_days: Some(7),
            review_hold: Some(ReviewHold {
                referees_per_24h: None,
                amount_at_least: Some(RewardAmount::parse("100").unwrap()),
            }),
            ..RewardRules::default()
        };
        assert!(config.validate().is_ok());
    }

    /// The deployment's PERSONAL_EVENT_ID names the one PERSONAL event.
    #[test]
    fn the_personal_event_is_the_one_the_deployment_names() {
        let personal = EventId::parse("personal").unwrap();
        let event = |id: &str, event_type| ReferralEvent {
            event_id: EventId::parse(id).unwrap(),
            event_type,
            ..config_with(Vec::new(), Vec::new()).event
        };
        assert!(
            event("personal", EventType::Personal)
                .check_type(&personal)
                .is_ok()
        );
        assert!(
            event("spring", EventType::Campaign)
                .check_type(&personal)
                .is_ok()
        );
        let second = event("personal-2", EventType::Personal).check_type(&personal);
        assert_eq!(second.unwrap_err().field, "event_id");
        let squatter = event("personal", EventType::Campaign).check_type(&personal);
        assert_eq!(squatter.unwrap_err().field, "event_type");
    }
}
