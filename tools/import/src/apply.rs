//! What one row does to its member's profile (ADR 0007): pure planning over the domain, then
//! the consumers' versioned write through [`apply_versioned`], retried with backoff while
//! DynamoDB is unavailable.

use crate::row::{MemberRow, Reason, Reject};
use referral_shared::contracts::kafka::JkosConflict;
use referral_shared::domain::{
    EventConfig, EventId, LinkSettings, MemberProfile, ReferralCode, RuleContext, Settlement, Step,
    funnel_delta, settle,
};
use referral_shared::store::{
    Applied, Entity, EventReads, MemberBatches, PlannedWrite, Profiles, StoreError, apply_versioned,
};
use referral_shared::time::Instant;
use std::time::Duration;

/// Fills what `member` lacks from `row`; never overwrites a value. True if anything changed.
pub fn fill_missing(member: &mut MemberProfile, row: &MemberRow, now: Instant) -> bool {
    let mut changed = false;
    if member.jkos_account.is_none() {
        member.jkos_account = Some(row.jkos_account.clone());
        changed = true;
    }
    if member.phone_number.is_none() {
        member.phone_number = Some(row.phone_number.clone());
        changed = true;
    }
    if member.registered_at.is_none() {
        member.registered_at = Some(row.created_at);
        changed = true;
    }
    if changed {
        member.updated_at = now;
    }
    // The domain's own "first time wins" for the two steps.
    if let Some(at) = row.kyc_pass_time {
        changed |= member.record_step(Step::KycPassed, at, None, now);
    }
    if let Some(at) = row.device_bind_time {
        changed |= member.record_step(Step::DeviceBound, at, None, now);
    }
    changed
}

/// The write a row needs on top of `stored` (`None` = nothing to write). A member who now has
/// both times is settled as the consumers settle them: qualified with a new PERSONAL code; a
/// member who used a code live is also judged for the referral rewards, with `referral_config`
/// (the configuration of the event their code belongs to). Without it (not read, or another
/// event) the grant stays due, for the consumers' next record of that member.
pub fn plan_row(
    stored: Option<&MemberProfile>,
    row: &MemberRow,
    referral_config: Option<&EventConfig>,
    personal_event: &EventId,
    make_code: impl FnOnce() -> ReferralCode,
    now: Instant,
) -> Option<PlannedWrite> {
    let original = stored.cloned();
    let mut member = original
        .clone()
        .unwrap_or_else(|| MemberProfile::new(row.account_id.clone(), row.jkos_id.clone(), now));
    let expected_version = member.version;
    fill_missing(&mut member, row, now);
    let mut settlement = Settlement::default();
    if member.has_due_effects() {
        // The import reads none of the reward rules' stored state (a referrer's counters, the
        // identity claims) and holds no identity key: rules that need either leave the grant
        // undecided, due for the consumers' next record of that member, exactly as a missing
        // configuration does (ADR 0007). Rules that need neither are applied as the consumers
        // apply them.
        let config = referral_config.filter(|c| {
            member
                .accepted_referral()
                .is_some_and(|(_, event, _)| *event == c.event.event_id)
        });
        let rules = RuleContext::default();
        settlement = settle(&mut member, personal_event, config, rules, make_code, now);
    }
    if original.as_ref() == Some(&member) {
        return None;
    }
    member.version = expected_version + 1;
    // The stages the row moves (KYC, device, qualification, a grant) are counted with the
    // write, as the consumers count them (ADR 0008). The day is the code's event's when its
    // configuration was read, else UTC.
    let funnel = funnel_delta(
        original.as_ref(),
        &member,
        &settlement.rewards,
        |event, at| {
            referral_config
                .filter(|c| &c.event.event_id == event)
                .map(|c| c.links.day_of(at))
                .unwrap_or_else(|| LinkSettings::default().day_of(at))
        },
    );
    Some(PlannedWrite {
        member,
        settlement,
        expected_version,
        funnel,
    })
}

/// What became of one valid row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    Created { code: bool },
    Completed { code: bool },
    AlreadyPresent,
    Rejected(Reject),
}

/// Re-reads of one member after conflicting writes before the row is a `CONTENDED` reject.
pub const MAX_ATTEMPTS: u32 = 8;
/// How long to keep trying while DynamoDB is unavailable (throttled, 5xx, timeouts) before
/// the run stops: exponential backoff from `first_delay`, capped at `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Backoff {
    /// 12 attempts, 100 ms doubling to 10 s: about a minute and a half of unavailability.
    fn default() -> Self {
        Self {
            attempts: 12,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// Applies one row, starting from `loaded` (the batch read). `Err` = DynamoDB stayed
/// unavailable (or refused the request): the run must stop before this row.
pub async fn apply_row<S>(
    store: &S,
    row: &MemberRow,
    mut loaded: Option<MemberProfile>,
    referral_config: Option<&EventConfig>,
    personal_event: &EventId,
    backoff: Backoff,
) -> Result<RowOutcome, StoreError>
where
    S: MemberBatches + Profiles + EventReads + ?Sized,
{
    let mut delay = backoff.first_delay;
    let mut attempt = 1;
    let mut config: Option<EventConfig> = referral_config.cloned();
    // The stored profile belongs to another jkos id than the row's (ADR 0010): nothing of the
    // row is merged into it.
    let other_jkos = std::cell::Cell::new(false);
    // What an earlier write of this row did, when a second one judges the referral.
    let mut earlier: Option<(bool, bool)> = None;
    loop {
        let now = chrono::Utc::now();
        let result = apply_versioned(
            store,
            &row.account_id,
            loaded.take(),
            MAX_ATTEMPTS,
            |stored| {
                other_jkos.set(stored.is_some_and(|m| m.jkos_id != row.jkos_id));
                if other_jkos.get() {
                    return None;
                }
                plan_row(
                    stored,
                    row,
                    config.as_ref(),
                    personal_event,
                    || ReferralCode::generate(&mut rand::rng()),
                    now,
                )
            },
        )
        .await;
        let error = match result {
            Ok(Applied::Unchanged { .. }) if other_jkos.get() => {
                return Ok(RowOutcome::Rejected(jkos_reject(
                    row,
                    JkosConflict::OtherJkosId,
                )));
            }
            Err(StoreError::Conflict {
                entity: Entity::JkosBinding,
                ..
            }) => {
                return Ok(RowOutcome::Rejected(jkos_reject(
                    row,
                    JkosConflict::OtherAccount,
                )));
            }
            Ok(Applied::Unchanged { .. }) => {
                return Ok(match earlier {
                    None => RowOutcome::AlreadyPresent,
                    Some((true, code)) => RowOutcome::Completed { code },
                    Some((false, code)) => RowOutcome::Created { code },
                });
            }
            Ok(Applied::Written {
                existed,
                settlement,
                member,
            }) => {
                let existed = earlier.map_or(existed, |(e, _)| e);
                let code = settlement.new_code.is_some() || earlier.is_some_and(|(_, c)| c);
                // The profile gained a code use while the import wrote it (a consumer got
                // there between the read and the write), so it was qualified without that
                // code's configuration: judge the referral now, as the consumer would.
                let missing = member
                    .accepted_referral()
                    .filter(|_| member.has_due_effects())
                    .map(|(_, event, _)| event.clone())
                    .filter(|event| config.as_ref().map(|c| &c.event.event_id) != Some(event));
                if let Some(event) = missing {
                    match store.event_config(&event).await {
                        Ok(Some(found)) => {
                            config = Some(found);
                            earlier = Some((existed, code));
                            loaded = Some(*member);
                            continue;
                        }
                        // The event is gone: nothing to judge with; the grant stays due.
                        Ok(None) => {}
                        Err(e) if e.is_retryable() => {
                            tracing::warn!(error = %e, "reading a referral configuration; retrying the row");
                            earlier = Some((existed, code));
                            loaded = Some(*member);
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(backoff.max_delay);
                            attempt += 1;
                            if attempt > backoff.attempts {
                                return Err(e);
                            }
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
                return Ok(if existed {
                    RowOutcome::Completed { code }
                } else {
                    RowOutcome::Created { code }
                });
            }
            Err(StoreError::Conflict {
                entity: Entity::Member | Entity::Code,
                ..
            }) => {
                return Ok(RowOutcome::Rejected(row_reject(
                    row,
                    Reason::Contended,
                    "still conflicting after re-reads",
                )));
            }
            Err(StoreError::Corrupt { .. }) => {
                return Ok(RowOutcome::Rejected(row_reject(
                    row,
                    Reason::StoredProfileCorrupt,
                    "the stored profile does not map onto the domain",
                )));
            }
            Err(e) => e,
        };
        if !error.is_retryable() || attempt >= backoff.attempts {
            return Err(error);
        }
        tracing::warn!(error = %error, attempt, "DynamoDB unavailable; retrying the row");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(backoff.max_delay);
        attempt += 1;
        // The failed write may have committed (a timeout after the fact): start again from
        // the stored profile, which makes the retry a no-op in that case.
        loaded = match store.get_member(&row.account_id).await {
            Ok(m) => m,
            Err(StoreError::Corrupt { .. }) => {
                return Ok(RowOutcome::Rejected(row_reject(
                    row,
                    Reason::StoredProfileCorrupt,
                    "the stored profile does not map onto the domain",
                )));
            }
            Err(_) => None, // retried by the next attempt's write (a create fails if it exists)
        };
    }
}

/// A row that contradicts a jkos id's binding (one jkos id is one member, ADR 0010).
pub fn jkos_reject(row: &MemberRow, conflict: JkosConflict) -> Reject {
    Reject {
        column: "member_jkos_id",
        ..row_reject(row, Reason::JkosIdTaken, &conflict.to_string())
    }
}

pub fn row_reject(row: &MemberRow, reason: Reason, detail: &str) -> Reject {
    Reject {
        line: row.line,
        column: "-",
        reason,
        detail: detail.to_owned(),
        account_id: Some(row.account_id.to_string()),
        phone_masked: Some(row.phone_number.masked()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use referral_shared::domain::{
        AccountId, JkosAccount, JkosId, PhoneNumber, ReferralOutcome, ReferralUse,
    };

    fn at(day: u32) -> Instant {
        Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).unwrap()
    }

    fn row(kyc: Option<u32>, device: Option<u32>) -> MemberRow {
        MemberRow {
            line: 2,
            account_id: AccountId::parse("acc-1").unwrap(),
            jkos_id: JkosId::parse("jk-1").unwrap(),
            jkos_account: JkosAccount::parse("A1").unwrap(),
            phone_number: PhoneNumber::parse("0912345678").unwrap(),
            created_at: at(1),
            kyc_pass_time: kyc.map(at),
            device_bind_time: device.map(at),
        }
    }

    fn personal() -> EventId {
        EventId::parse("personal").unwrap()
    }

    fn code() -> ReferralCode {
        ReferralCode::parse("ABCD2345").unwrap()
    }

    #[test]
    fn a_new_member_is_created_and_a_qualified_one_becomes_a_referrer_without_rewards() {
        let now = at(20);
        let p = plan_row(None, &row(Some(2), None), None, &personal(), code, now).unwrap();
        assert_eq!((p.expected_version, p.member.version), (0, 1));
        assert_eq!(p.member.kyc_pass_time, Some(at(2)));
        assert!(p.settlement.is_empty() && p.member.own_code.is_none());

        let p = plan_row(None, &row(Some(2), Some(3)), None, &personal(), code, now).unwrap();
        assert_eq!(p.member.qualified_at, Some(at(3)));
        assert_eq!(p.member.own_code, Some(code()));
        let new_code = p.settlement.new_code.as_ref().unwrap();
        assert_eq!(new_code.source.to_string(), "member:jk-1");
        assert!(p.settlement.rewards.is_empty() && p.member.reward_grant.is_none());
    }

    #[test]
    fn an_existing_profile_only_gets_what_it_lacks() {
        let now = at(20);
        let mut stored = MemberProfile::new(
            AccountId::parse("acc-1").unwrap(),
            JkosId::parse("jk-live").unwrap(),
            at(10),
        );
        stored.version = 4;
        stored.kyc_pass_time = Some(at(12));
        stored.referral = Some(ReferralUse {
            code: code(),
            used_at: at(11),
            referrer_phone: None,
            event_id: None,
            outcome: ReferralOutcome::Rejected {
                reason: referral_shared::domain::RejectionReason::UnknownCode,
            },
        });
        let p = plan_row(
            Some(&stored),
            &row(Some(2), None),
            None,
            &personal(),
            code,
            now,
        )
        .unwrap();
        assert_eq!(p.expected_version, 4);
        assert_eq!(p.member.jkos_id.as_str(), "jk-live", "never overwritten");
        assert_eq!(p.member.kyc_pass_time, Some(at(12)), "never overwritten");
        assert_eq!(p.member.referral, stored.referral);
        assert_eq!(
            p.member.phone_number.as_ref().unwrap().expose(),
            "0912345678"
        );

        // Applying the same row again changes nothing: no write.
        assert_eq!(
            plan_row(
                Some(&p.member),
                &row(Some(2), None),
                None,
                &personal(),
                code,
                now
            ),
            None
        );

        // A member the consumers qualified keeps their code; no second one.
        let mut qualified = p.member.clone();
        qualified.device_bind_time = Some(at(13));
        qualified.qualified_at = Some(at(13));
        qualified.own_code = Some(ReferralCode::parse("ZZZZ2345").unwrap());
        let p = plan_row(
            Some(&qualified),
            &row(Some(2), Some(3)),
            None,
            &personal(),
            code,
            now,
        );
        assert_eq!(p, None);
    }

    /// A member who used a code live and whose dump row completes both steps is settled as
    /// the consumers would: with the code's event configuration, the referral is judged (here
    /// both sides rewarded, the window being open at the qualifying time); without it the
    /// grant stays due for the consumers' next record.
    #[test]
    fn a_live_referee_qualified_by_the_dump_is_judged_with_its_event_configuration() {
        use referral_shared::domain::{
            ContentWindow, EventConfig, EventName, EventType, ReferralEvent, ReferralSource,
            RewardAmount, RewardTerms, RewardType, TimeWindow, WindowId,
        };
        let campaign = EventId::parse("launch").unwrap();
        let mut stored = MemberProfile::new(
            AccountId::parse("acc-1").unwrap(),
            JkosId::parse("jk-1").unwrap(),
            at(1),
        );
        stored.version = 2;
        stored.referral = Some(ReferralUse {
            code: code(),
            used_at: at(1),
            referrer_phone: None,
            event_id: None,
            outcome: ReferralOutcome::Accepted {
                event_id: campaign.clone(),
                referrer_source: ReferralSource::parse("member:jk-referrer").unwrap(),
            },
        });
        let terms = |amount: &str| RewardTerms {
            reward_type: RewardType::Coin,
            amount: RewardAmount::parse(amount).unwrap(),
        };
        let config = EventConfig {
            event: ReferralEvent {
                event_id: campaign.clone(),
                event_type: EventType::Campaign,
                name: EventName::parse("Launch").unwrap(),
                created_at: at(1),
                updated_at: at(1),
            },
            contents: vec![ContentWindow {
                window_id: WindowId::parse("w1").unwrap(),
                window: TimeWindow::new(at(1), at(10)).unwrap(),
                referrer: terms("50"),
                referee: terms("20"),
            }],
            copywriting: vec![],
            notifications: vec![],
            rules: Default::default(),
            links: Default::default(),
        };
        let both = row(Some(2), Some(3));

        let judged = plan_row(
            Some(&stored),
            &both,
            Some(&config),
            &personal(),
            code,
            at(20),
        )
        .expect("a write");
        assert_eq!(judged.member.qualified_at, Some(at(3)));
        assert!(judged.member.reward_grant.is_some(), "the grant is decided");
        assert!(!judged.member.has_due_effects());
        assert_eq!(judged.settlement.rewards.len(), 2, "both sides rewarded");

        // Without the configuration (not read): qualified, the grant left to the consumers.
        let pending = plan_row(Some(&stored), &both, None, &personal(), code, at(20)).unwrap();
        assert!(pending.settlement.rewards.is_empty());
        assert!(pending.member.reward_grant.is_none());
        assert!(pending.member.has_due_effects());

        // A configuration of another event is not used.
        let mut other = config.clone();
        other.event.event_id = EventId::parse("other").unwrap();
        let unjudged = plan_row(
            Some(&stored),
            &both,
            Some(&other),
            &personal(),
            code,
            at(20),
        )
        .unwrap();
        assert!(unjudged.settlement.rewards.is_empty());
    }
}
