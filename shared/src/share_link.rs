//! The public share link `GET|HEAD /r/{code}` (function `share-link`, no authorizer): a 302 to
//! the deployment's landing page with the normalized code (`LANDING_URL_TEMPLATE`), the same
//! for every well-formed code, known or not, and a click counted with ONE UpdateItem
//! (`store::Clicks`). The app then checks the code with the authenticated, rate-limited
//! `POST /v1/referralCode/check` (ADR 0009).
//!
//! What a visitor gets (`docs/api.md`), for every input:
//!
//! | request                                              | Location                          | counted on |
//! |------------------------------------------------------|-----------------------------------|------------|
//! | GET, well-formed code of an existing event           | the landing template with the normalized code | the code's counter |
//! | GET, well-formed code that does not exist (or whose event is gone) | the same                | the one unknown-codes counter |
//! | malformed / over-long code, any other path or method | generic                           | no         |
//! | HEAD, or a link-preview fetcher's User-Agent         | as for GET                        | no         |
//! | DynamoDB failing (lookup or count)                   | as for GET                        | no         |
//!
//! Every answer is `302` with `Location` and `Cache-Control: no-store` and an empty body,
//! nothing else: never a 4xx or 5xx (only the Lambda boundary's refusal of a body marked base64
//! that does not decode, shared by every HTTP function, answers 400 before routing). No IP and
//! no user agent is stored or logged; the user agent is only compared with [`PREVIEW_AGENTS`].
//!
//! Enumeration: the answer to a well-formed code does not depend on whether the code exists
//! (only the code itself is in it), and neither does the work: a counted GET of a known code is
//! the code's GetItem, its event's configuration (cached; see below) and one UpdateItem of the
//! code's counter; of an unknown code the same GetItem, the PERSONAL event's configuration
//! (cached alike) and one UpdateItem of the same shape on the unknown-codes counter
//! (`CLICK_SHARDS` items a day whatever is tried). HEAD and link previews read nothing. A
//! malformed code is answered without any read: the code format is public, so that tells
//! nothing about which codes exist. DynamoDB itself takes a little longer to return an item
//! than to find none (~0.1 ms on DynamoDB Local), so a counted GET is answered no sooner than
//! `answer_floor` after its lookup started. What remains: an instance reads an event's
//! configuration once per `CONFIG_CACHE_SECONDS`, so on an instance whose cache of a CAMPAIGN
//! event is cold the first code of that event costs one Query more (ADR 0009).

use crate::domain::{Day, EventId, LandingUrl, LinkSettings, ReferralCode};
use crate::events_cache::ConfigCache;
use crate::store::{Clicks, Codes, EventReads};
use crate::telemetry;
use crate::time::Instant;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

crate::store::port_sum!(
    /// What the share link reads and writes: the code, its event's configuration (cached) and
    /// the click counters.
    pub trait LinkStore: Codes + EventReads + Clicks;
);

/// The function's name in metrics (`Function` dimension) and logs.
pub const FUNCTION: &str = "share-link";

/// The route, as API Gateway and the router declare it.
pub const ROUTE: &str = "/r/{code}";

/// A path segment longer than this is not looked at (a code is at most 10 characters; a
/// typed one may carry a few blanks or dashes).
pub const MAX_CODE_SEGMENT: usize = 32;

/// Read from the environment by [`crate::config::ShareLinkConfig`].
#[derive(Debug, Clone)]
pub struct ShareLinkSettings {
    /// `LANDING_URL_TEMPLATE`: where every well-formed code goes, `{code}` replaced by the
    /// normalized code (an `https://` URL or an app deep link, like an event's landing URL).
    pub landing: LandingUrl,
    /// `GENERIC_LANDING_URL`: where a malformed code, another path or method goes.
    pub generic_landing: GenericLanding,
    /// `PERSONAL_EVENT_ID`: the event whose time zone (cached configuration) dates the visits
    /// of unknown codes, read like a known code's event.
    pub personal_event: EventId,
    /// `CONFIG_CACHE_SECONDS` (default 60): how stale a cached event configuration may be.
    pub config_cache_seconds: u64,
    /// `LINK_ANSWER_FLOOR_MS` (default [`DEFAULT_ANSWER_FLOOR`]): a counted GET is answered
    /// no sooner than this after its lookup started, so what DynamoDB itself takes longer for
    /// (returning an existing item rather than none) does not show in the answer's timing.
    pub answer_floor: Duration,
}

/// Covers an in-region GetItem + UpdateItem (+ a configuration Query) nearly always, so that
/// the answer time of a counted GET is the floor, whatever the code (ADR 0009).
pub const DEFAULT_ANSWER_FLOOR: Duration = Duration::from_millis(25);

/// The generic landing page: an `https://` URL (or an app deep link) WITHOUT `{code}`, for
/// what is not a well-formed code, so that nothing the visitor sent but a normalized code is
/// ever reflected into the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericLanding(HeaderValue);

impl GenericLanding {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = raw.trim();
        if url.is_empty() || url.len() > 2048 {
            return Err("must be 1 to 2048 characters".into());
        }
        if url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return Err("must be ASCII without blanks or control characters".into());
        }
        if url.contains(crate::domain::CODE_PLACEHOLDER) {
            return Err(
                "must not contain {code}: the generic page is the same for every code".into(),
            );
        }
        // The same rule as an event's landing URL: https or an app scheme.
        let probe = format!("{url}{}", crate::domain::CODE_PLACEHOLDER);
        crate::domain::LandingUrl::parse(&probe).map_err(|e| e.message.clone())?;
        HeaderValue::from_str(url)
            .map(Self)
            .map_err(|_| "is not a valid header value".into())
    }

    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

/// User-agent fragments (lowercase) of link-preview fetchers and crawlers: chat apps and
/// social networks fetch a shared link to draw its card, and search engines crawl it. Their
/// requests are redirected like anyone's and not counted.
pub const PREVIEW_AGENTS: &[&str] = &[
    "slackbot",
    "slack-imgproxy",
    "whatsapp",
    "facebookexternalhit",
    "facebot",
    "facebookcatalog",
    "telegrambot",
    // LINE's preview fetcher; not "line/", which LINE's in-app browser sends for a person's tap.
    "line-poker",
    "linespider",
    "twitterbot",
    "applebot",
    "discordbot",
    "linkedinbot",
    "googlebot",
    "google-inspectiontool",
    "bingbot",
    "bingpreview",
    "skypeuripreview",
    "pinterestbot",
    "redditbot",
    "embedly",
    "vkshare",
    "kakaotalk-scrap",
    "yahoo! slurp",
    "duckduckbot",
    "yandexbot",
];

/// Whether a request with this `User-Agent` is a link preview or a crawler. iMessage fetches
/// previews as `facebookexternalhit/1.1 Facebot Twitterbot/1.0`, LINE as `... Line/...`.
pub fn is_link_preview(user_agent: Option<&str>) -> bool {
    let Some(agent) = user_agent else {
        return false;
    };
    let agent = agent.to_ascii_lowercase();
    PREVIEW_AGENTS
        .iter()
        .any(|fragment| agent.contains(fragment))
}

/// The clock of the counted day (a test sets another).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

pub struct LinkState {
    store: Arc<dyn LinkStore>,
    cache: ConfigCache,
    settings: ShareLinkSettings,
    clock: Clock,
}

/// The share-link router; `api::lambda::HttpFunction` serves it in Lambda, the local gateway in
/// development.
pub fn router(store: Arc<dyn LinkStore>, settings: ShareLinkSettings) -> Router {
    router_with_clock(store, settings, Arc::new(chrono::Utc::now))
}

/// [`router`] with the clock that decides which day a click counts on.
pub fn router_with_clock(
    store: Arc<dyn LinkStore>,
    settings: ShareLinkSettings,
    clock: Clock,
) -> Router {
    let state = Arc::new(LinkState {
        store,
        cache: ConfigCache::new(Duration::from_secs(settings.config_cache_seconds)),
        settings,
        clock,
    });
    Router::new()
        .route(ROUTE, axum::routing::any(share_link))
        .fallback(fallback)
        .layer(axum::middleware::from_fn(crate::api::access_log))
        .with_state(state)
}

/// The one shape of every answer.
fn redirect(location: HeaderValue) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

async fn fallback(State(state): State<Arc<LinkState>>) -> Response {
    redirect(state.settings.generic_landing.0.clone())
}

/// The code in `/r/{code}`, normalized; `None` when the segment is not a code.
pub fn code_in_path(path: &str) -> Option<ReferralCode> {
    let segment = path.strip_prefix("/r/")?;
    if segment.is_empty() || segment.len() > MAX_CODE_SEGMENT || segment.contains('/') {
        return None;
    }
    ReferralCode::parse(segment).ok()
}

/// The one answer to a well-formed code, known or not: the landing template with the code.
fn landing(state: &LinkState, code: &ReferralCode) -> Response {
    match HeaderValue::from_str(&state.settings.landing.with_code(code)) {
        Ok(location) => redirect(location),
        // Cannot happen: the template and a code are printable ASCII.
        Err(_) => redirect(state.settings.generic_landing.0.clone()),
    }
}

async fn share_link(
    State(state): State<Arc<LinkState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return redirect(state.settings.generic_landing.0.clone());
    }
    let countable = method == Method::GET
        && !is_link_preview(
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        );
    let Some(code) = code_in_path(uri.path()) else {
        if countable {
            count_metric(UNKNOWN_CODE_VISITS);
        }
        return redirect(state.settings.generic_landing.0.clone());
    };
    // The answer is decided: nothing below changes it, so a HEAD or a preview reads nothing.
    if countable {
        let started = tokio::time::Instant::now();
        count(&state, &code).await;
        tokio::time::sleep_until(started + state.settings.answer_floor).await;
    }
    landing(&state, &code)
}

/// Counts a GET of the well-formed `code`: on the code's counter if the code and its event
/// exist, else on the unknown-codes counter, with the same reads and one write of the same
/// shape either way. A failing DynamoDB is a log line and a metric, never the visitor's problem.
async fn count(state: &LinkState, code: &ReferralCode) {
    let record = match state.store.get_code(code).await {
        Ok(record) => record,
        Err(error) => {
            tracing::error!(%error, "share link: code lookup failed; not counted");
            count_metric("LinkLookupFailures");
            return;
        }
    };
    // A known code's event, or the PERSONAL event for an unknown code: one cached read each.
    let event = record
        .as_ref()
        .map_or(&state.settings.personal_event, |r| &r.event_id);
    let config = match state
        .cache
        .get_many(state.store.as_ref(), std::slice::from_ref(event))
        .await
    {
        Ok(mut found) => found.remove(event),
        Err(error) => {
            tracing::error!(%error, "share link: event configuration read failed; not counted");
            count_metric("LinkLookupFailures");
            return;
        }
    };
    let links = config.as_ref().map(|c| &c.links);
    let day = day_of(links, (state.clock)());
    let counted = match (&record, &config) {
        (Some(record), Some(_)) => {
            state
                .store
                .count_click(&record.code, &record.event_id, day)
                .await
        }
        // Unknown, or its event is gone.
        _ => {
            count_metric(UNKNOWN_CODE_VISITS);
            state.store.count_unknown_click(day).await
        }
    };
    if let Err(error) = counted {
        tracing::error!(%error, "share link: click not counted; redirected anyway");
        count_metric("ClickCountFailures");
    }
}

/// The day a visit counts on: in the event's time zone (UTC without a configuration).
fn day_of(links: Option<&LinkSettings>, at: Instant) -> Day {
    links.map_or_else(|| LinkSettings::default().day_of(at), |l| l.day_of(at))
}

/// Visits (GET, not a link preview) of a malformed or unknown code (or one whose event is
/// gone): a broken link in a campaign, or someone trying codes. A count only: neither the code
/// nor the visitor is in it. Unknown well-formed codes are also counted per day in the table.
const UNKNOWN_CODE_VISITS: &str = "UnknownCodeVisits";

fn count_metric(metric: &'static str) {
    telemetry::emit(&telemetry::emf(
        &telemetry::namespace(),
        &[("Function", FUNCTION)],
        &[(metric, 1)],
        chrono::Utc::now(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_fetchers_are_recognised_and_browsers_are_not() {
        let previews = [
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "WhatsApp/2.23.20.0 A",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "facebookexternalhit/1.1 Facebot Twitterbot/1.0",
            "TelegramBot (like TwitterBot)",
            "facebookexternalhit/1.1;line-poker/1.0",
            "Twitterbot/1.0",
            "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17 Safari/605.1.15 (Applebot/0.1)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        ];
        for agent in previews {
            assert!(is_link_preview(Some(agent)), "{agent}");
        }
        let people = [
            // A person tapping the link inside LINE (its in-app browser), the most common way
            // a link is opened in Taiwan: counted.
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/13.16.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0",
            "curl/8.5.0",
            "",
        ];
        for agent in people {
            assert!(!is_link_preview(Some(agent)), "{agent}");
        }
        assert!(!is_link_preview(None));
    }

    #[test]
    fn the_code_is_the_one_path_segment_after_r_normalized() {
        let rows: &[(&str, Option<&str>)] = &[
            ("/r/SHARE888", Some("SHARE888")),
            ("/r/share-888", Some("SHARE888")),
            ("/r/ab23", Some("AB23")),
            ("/r/", None),
            ("/r/AB", None),
            ("/r/SHARE888/x", None),
            ("/r/0O1IL", None),
            ("/r/%00%ff", None),
            ("/x/SHARE888", None),
            ("/r/-----------------------------------SHARE888", None),
        ];
        for (path, expected) in rows {
            assert_eq!(
                code_in_path(path).as_ref().map(ReferralCode::as_str),
                *expected,
                "{path}"
            );
        }
    }

    #[test]
    fn the_generic_landing_is_https_or_an_app_link_without_a_code() {
        assert!(GenericLanding::parse("https://pay.example.com/join").is_ok());
        assert!(GenericLanding::parse("jkos://referral").is_ok());
        for bad in [
            "",
            "https://pay.example.com/join?c={code}",
            "http://pay.example.com",
            "javascript://x",
            "https://pay example.com",
            "pay.example.com",
        ] {
            assert!(GenericLanding::parse(bad).is_err(), "{bad}");
        }
    }
}
