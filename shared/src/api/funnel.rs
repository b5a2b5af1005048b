//! The funnel's answer, shared by the admin routes (an event's, a code's) and "my referral":
//! counts per day, the total, and the conversion rates along the funnel's main line.

use super::ApiError;
use crate::domain::{CLICKS_STAGE, Day, FUNNEL_LINE, StageCounts, conversion_rate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The longest range a funnel query may span, both days included.
pub const MAX_FUNNEL_DAYS: i64 = 366;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FunnelQuery {
    /// First day (`YYYY-MM-DD`, in the event's time zone), included.
    #[param(format = Date, example = "2026-11-01")]
    from: String,
    /// Last day, included; at most 366 days after `from` counting both.
    #[param(format = Date, example = "2026-11-30")]
    to: String,
}

impl FunnelQuery {
    /// The validated range: both days parse, `from ≤ to`, at most [`MAX_FUNNEL_DAYS`] days.
    pub fn range(&self) -> Result<(Day, Day), ApiError> {
        let day = |field: &str, raw: &str| {
            Day::parse(raw)
                .map_err(|_| ApiError::invalid(field, "must be a date written YYYY-MM-DD"))
        };
        let (from, to) = (day("from", &self.from)?, day("to", &self.to)?);
        if to < from {
            return Err(ApiError::invalid("to", "must not be before from"));
        }
        if (to.date() - from.date()).num_days() + 1 > MAX_FUNNEL_DAYS {
            return Err(ApiError::invalid(
                "to",
                format!("the range may span at most {MAX_FUNNEL_DAYS} days, both included"),
            ));
        }
        Ok((from, to))
    }
}

/// The funnel's days with the share link's clicks merged in as the `clicks` stage (a day with
/// clicks only is added; zero is left out, as for every stage).
pub fn with_clicks(
    days: Vec<(Day, StageCounts)>,
    clicks: BTreeMap<Day, u64>,
) -> Vec<(Day, StageCounts)> {
    let mut merged: BTreeMap<Day, StageCounts> = days.into_iter().collect();
    for (day, n) in clicks.into_iter().filter(|(_, n)| *n > 0) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        merged
            .entry(day)
            .or_default()
            .insert(CLICKS_STAGE.to_owned(), n);
    }
    merged.into_iter().collect()
}

/// One step of the main line: `to` / `from`.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct Conversion {
    #[schema(example = "uses_accepted")]
    pub from: &'static str,
    #[schema(example = "kyc_passed")]
    pub to: &'static str,
    /// `to`'s count over `from`'s as a decimal string with 4 fraction digits, rounded half
    /// up (`"0.4167"`); null when `from` counted nothing.
    #[schema(required = true, example = "0.4167")]
    pub rate: Option<String>,
}

/// One day's counts (days without any are left out).
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelDay {
    #[schema(example = "2026-11-21")]
    pub day: String,
    /// Stage name → count: `clicks` (the share link's), `checks_valid`, `uses_accepted`, `uses_rejected_<REASON>`,
    /// `kyc_passed`, `device_bound`, `qualified`, `withheld_<REASON>`,
    /// `rewards_<SIDE>_<STATUS>` (docs/api.md).
    pub counts: StageCounts,
}

/// Totals over a range and the conversion rates between consecutive stages of the main line
/// (`clicks → checks_valid → uses_accepted → kyc_passed → device_bound → qualified →
/// rewards_REFEREE`, the last being the referee side's rewards in every status).
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelTotals {
    /// Every stage counted in the range, plus each stage of the main line (0 when none).
    pub total: StageCounts,
    pub conversion: Vec<Conversion>,
}

impl FunnelTotals {
    pub fn of<'a>(days: impl IntoIterator<Item = &'a StageCounts>) -> Self {
        let mut total = StageCounts::new();
        for counts in days {
            for (stage, n) in counts {
                *total.entry(stage.clone()).or_default() += n;
            }
        }
        let referee_rewards: i64 = total
            .iter()
            .filter(|(stage, _)| stage.starts_with("rewards_REFEREE_"))
            .map(|(_, n)| n)
            .sum();
        let line = |stage: &str| match stage {
            "rewards_REFEREE" => referee_rewards,
            _ => total.get(stage).copied().unwrap_or_default(),
        };
        let conversion = FUNNEL_LINE
            .windows(2)
            .map(|pair| Conversion {
                from: pair[0],
                to: pair[1],
                rate: conversion_rate(line(pair[1]), line(pair[0])),
            })
            .collect();
        for stage in &FUNNEL_LINE[..FUNNEL_LINE.len() - 1] {
            total.entry((*stage).to_owned()).or_default();
        }
        Self { total, conversion }
    }
}

/// The admin routes' answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelReport {
    #[schema(example = "spring-2026")]
    pub event_id: String,
    /// The code, for a code's funnel; absent for an event's.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "AB2CD3")]
    pub code: Option<String>,
    pub from: String,
    pub to: String,
    pub days: Vec<FunnelDay>,
    #[serde(flatten)]
    pub totals: FunnelTotals,
}

impl FunnelReport {
    pub fn new(
        event_id: String,
        code: Option<String>,
        (from, to): (Day, Day),
        days: Vec<(Day, StageCounts)>,
    ) -> Self {
        let totals = FunnelTotals::of(days.iter().map(|(_, c)| c));
        Self {
            event_id,
            code,
            from: from.key(),
            to: to.key(),
            days: days
                .into_iter()
                .map(|(day, counts)| FunnelDay {
                    day: day.key(),
                    counts,
                })
                .collect(),
            totals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: &str, to: &str) -> FunnelQuery {
        FunnelQuery {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn a_range_is_two_days_in_order_at_most_366_days_long() {
        let field = |r: Result<(Day, Day), ApiError>| match r {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert!(query("2026-01-01", "2026-12-31").range().is_ok()); // 365 days
        assert!(query("2028-01-01", "2028-12-31").range().is_ok()); // 366 days (leap year)
        assert!(query("2026-11-21", "2026-11-21").range().is_ok());
        assert_eq!(
            field(query("2026-01-01", "2027-01-02").range()).as_deref(),
            Some("to")
        );
        assert_eq!(
            field(query("2026-11-22", "2026-11-21").range()).as_deref(),
            Some("to")
        );
        assert_eq!(
            field(query("21/11/2026", "2026-11-21").range()).as_deref(),
            Some("from")
        );
        assert_eq!(
            field(query("2026-11-21", "2026-02-30").range()).as_deref(),
            Some("to")
        );
    }

    #[test]
    fn totals_sum_the_days_and_rates_follow_the_main_line() {
        let day1 = StageCounts::from([
            ("clicks".to_owned(), 8),
            ("checks_valid".to_owned(), 4),
            ("uses_accepted".to_owned(), 2),
            ("uses_rejected_OWN_CODE".to_owned(), 1),
        ]);
        let day2 = StageCounts::from([
            ("uses_accepted".to_owned(), 1),
            ("kyc_passed".to_owned(), 1),
            ("rewards_REFEREE_PENDING".to_owned(), 1),
            ("rewards_REFERRER_PENDING".to_owned(), 1),
        ]);
        let totals = FunnelTotals::of([&day1, &day2]);
        assert_eq!(totals.total["checks_valid"], 4);
        assert_eq!(totals.total["uses_accepted"], 3);
        assert_eq!(totals.total["device_bound"], 0);
        assert_eq!(totals.total["uses_rejected_OWN_CODE"], 1);
        let rates: Vec<_> = totals
            .conversion
            .iter()
            .map(|c| (c.from, c.to, c.rate.as_deref()))
            .collect();
        assert_eq!(
            rates,
            vec![
                ("clicks", "checks_valid", Some("0.5000")),
                ("checks_valid", "uses_accepted", Some("0.7500")),
                ("uses_accepted", "kyc_passed", Some("0.3333")),
                ("kyc_passed", "device_bound", Some("0.0000")),
                ("device_bound", "qualified", None),
                ("qualified", "rewards_REFEREE", None),
            ]
        );
    }

    #[test]
    fn clicks_join_the_counters_day_by_day_and_zero_days_stay_out() {
        let day = |d: &str| Day::parse(d).unwrap();
        let counted = vec![(
            day("2026-11-02"),
            StageCounts::from([("checks_valid".to_owned(), 2)]),
        )];
        let clicks = BTreeMap::from([
            (day("2026-11-01"), 5),
            (day("2026-11-02"), 3),
            (day("2026-11-03"), 0),
        ]);
        let merged = with_clicks(counted, clicks);
        let keys: Vec<_> = merged.iter().map(|(d, c)| (d.key(), c.clone())).collect();
        assert_eq!(
            keys,
            vec![
                (
                    "2026-11-01".to_owned(),
                    StageCounts::from([("clicks".to_owned(), 5)])
                ),
                (
                    "2026-11-02".to_owned(),
                    StageCounts::from([("checks_valid".to_owned(), 2), ("clicks".to_owned(), 3)])
                ),
            ]
        );
    }
}
