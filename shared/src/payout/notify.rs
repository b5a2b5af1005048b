//! Telling a paid member: the notification template of the reward's event and side active at
//! payout time, rendered, sent to msg-hub channel by channel (in-app, push, box).
//!
//! One retry (seed): the channels are sent in order; the first retryable failure ends the
//! attempt; after a pause the channels not yet accepted are sent once more. A channel msg-hub
//! refuses with a 4xx is not retried (it would be refused again). So msg-hub failing twice
//! costs exactly two calls, and no channel is ever sent twice once accepted.

use crate::domain::{
    Channel, NotificationOutcome, NotificationStatus, NotificationValues, RenderedMessage, Reward,
};
use crate::events_cache::ConfigCache;
use crate::partners::{MessageRequest, MsgHubClient};
use crate::store::{EventReads, Profiles};
use crate::time::Instant;
use std::time::Duration;

/// What `{referee_phone}` renders as when no number is known at send time (the member info
/// may arrive after the payment): a neutral phrase, never a row of asterisks.
pub const UNKNOWN_REFEREE: &str = "a friend";

/// Notifies the member paid by `reward` and returns the outcome to record. Never fails: every
/// problem ends up in the outcome.
pub async fn notify_member<S: EventReads + Profiles + ?Sized>(
    store: &S,
    configs: &ConfigCache,
    msghub: &MsgHubClient,
    reward: &Reward,
    now: Instant,
    retry_delay: Duration,
) -> NotificationOutcome {
    let mut outcome = NotificationOutcome {
        status: NotificationStatus::Failed,
        at: now,
        window_id: None,
        calls: 0,
        sent: Vec::new(),
        not_sent: Channel::ALL.to_vec(),
        error: None,
    };
    let configs = match configs
        .get_many(store, std::slice::from_ref(&reward.event_id))
        .await
    {
        Ok(c) => c,
        Err(e) => {
            outcome.error = Some(format!("event configuration unavailable: {e}"));
            return outcome;
        }
    };
    let Some(template) = configs
        .get(&reward.event_id)
        .and_then(|c| c.notification_at(reward.side, now))
    else {
        outcome.status = NotificationStatus::NoTemplate;
        outcome.not_sent.clear();
        return outcome;
    };
    outcome.window_id = Some(template.window_id.clone());

    let phone = referee_phone(store, reward).await;
    let messages = template.render(&NotificationValues {
        amount: reward.terms.amount,
        reward_type: reward.terms.reward_type,
        referee_phone_masked: &phone,
    });

    let mut pending: Vec<RenderedMessage> = messages;
    let mut refused: Vec<Channel> = Vec::new();
    for attempt in 0..2 {
        if pending.is_empty() {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep(retry_delay).await;
        }
        let mut still_pending = Vec::new();
        let mut queue = pending.into_iter();
        while let Some(message) = queue.next() {
            outcome.calls += 1;
            let request = MessageRequest {
                member_jkos_id: reward.member_jkos_id.clone(),
                channel: message.channel,
                title: message.title.clone(),
                content: message.content.clone(),
            };
            match msghub.send(&request).await {
                Ok(()) => outcome.sent.push(message.channel),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(channel = message.channel.as_str(), attempt, error = %e.summary(), "msg-hub call failed");
                    outcome.error = Some(e.summary());
                    still_pending.push(message);
                    still_pending.extend(queue.by_ref());
                }
                Err(e) => {
                    tracing::warn!(channel = message.channel.as_str(), error = %e.summary(), "msg-hub refused the message");
                    outcome.error = Some(e.summary());
                    refused.push(message.channel);
                }
            }
        }
        pending = still_pending;
    }
    outcome.not_sent = refused;
    outcome.not_sent.extend(pending.iter().map(|m| m.channel));
    outcome.status = if outcome.not_sent.is_empty() {
        NotificationStatus::Sent
    } else if outcome.sent.is_empty() {
        NotificationStatus::Failed
    } else {
        NotificationStatus::Partial
    };
    outcome
}

/// The referee's masked phone: from the reward (captured when it was created), else from the
/// referee's profile at send time (the number may have arrived later; 1 GetItem), else
/// [`UNKNOWN_REFEREE`].
async fn referee_phone<S: Profiles + ?Sized>(store: &S, reward: &Reward) -> String {
    if let Some(masked) = &reward.referee_phone_masked {
        return masked.clone();
    }
    match store.get_member(&reward.referee_account_id).await {
        Ok(Some(profile)) => profile
            .phone_number
            .map(|p| p.masked())
            .unwrap_or_else(|| UNKNOWN_REFEREE.to_owned()),
        _ => UNKNOWN_REFEREE.to_owned(),
    }
}
