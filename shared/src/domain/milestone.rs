//! Milestone bonuses: the reward a referrer gets when their Nth referee is rewarded in an event
//! (`RewardRules::milestones`). Its id is deterministic per event, referrer and N, so a
//! conditional put makes it exist exactly once, whichever referee reached it and however the
//! records were duplicated or interleaved.

use super::{EventId, JkosId, MemberProfile, Reward, RewardId, RewardStart, RewardTerms, Side};
use crate::time::Instant;

const PREFIX: &str = "milestone.";

/// Whether `raw` (trimmed) is a milestone bonus's id: `milestone.<n>.<event id>.<jkos id>`,
/// `n` 1 to 9,999,999 without a leading zero. `.` is in neither id's alphabet, so the parts are
/// unambiguous and two milestones never share an id.
pub(super) fn is_milestone_id(raw: &str) -> bool {
    let Some(rest) = raw.strip_prefix(PREFIX) else {
        return false;
    };
    let mut parts = rest.split('.');
    let (Some(n), Some(event), Some(referrer), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let rank_ok = !n.is_empty()
        && n.len() <= 7
        && !n.starts_with('0')
        && n.chars().all(|c| c.is_ascii_digit());
    rank_ok
        && EventId::parse(event).is_ok_and(|e| e.as_str() == event)
        && JkosId::parse(referrer).is_ok_and(|j| j.as_str() == referrer)
}

impl RewardId {
    /// The id of the bonus of milestone `nth` of `referrer` in `event`.
    pub fn milestone(event: &EventId, referrer: &JkosId, nth: u32) -> Self {
        Self::parse(format!("{PREFIX}{nth}.{event}.{referrer}"))
            .expect("a milestone id of valid parts is valid")
    }

    /// The milestone's rank N, for a milestone bonus's id.
    pub fn milestone_rank(&self) -> Option<u32> {
        self.as_str()
            .strip_prefix(PREFIX)?
            .split('.')
            .next()?
            .parse()
            .ok()
    }
}

impl Reward {
    /// The bonus of milestone `nth`, reached by `referee` (the Nth referee of their code's
    /// owner rewarded in the event): a REFERRER-side reward of `terms`, paid to the code's
    /// owner, listed in the owner's collection next to that referee. None for a campaign's code.
    pub fn milestone_bonus(
        referee: &MemberProfile,
        nth: u32,
        terms: RewardTerms,
        qualified_at: Instant,
        now: Instant,
        start: RewardStart,
    ) -> Option<Self> {
        let (_, event, source) = referee.accepted_referral()?;
        let id = RewardId::milestone(event, source.member()?, nth);
        let mut reward = Reward::create(referee, Side::Referrer, terms, qualified_at, now, start)?;
        reward.reward_id = id;
        Some(reward)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestone_ids_are_deterministic_and_unambiguous() {
        let event = EventId::parse("spring-2026").unwrap();
        let referrer = JkosId::parse("jk_1-A").unwrap();
        let id = RewardId::milestone(&event, &referrer, 5);
        assert_eq!(id.as_str(), "milestone.5.spring-2026.jk_1-A");
        assert_eq!(
            RewardId::parse(" milestone.5.spring-2026.jk_1-A ").unwrap(),
            id
        );
        assert_eq!(id.milestone_rank(), Some(5));
        assert_eq!(
            RewardId::parse("acc-1-referrer").unwrap().milestone_rank(),
            None
        );
        for bad in [
            "milestone.0.e.j",
            "milestone.05.e.j",
            "milestone.5.E.j",
            "milestone.5.e",
            "milestone.5.e.j.x",
            "milestone.12345678.e.j",
            "milestone.5..j",
        ] {
            assert!(RewardId::parse(bad).is_err(), "{bad}");
        }
    }
}
