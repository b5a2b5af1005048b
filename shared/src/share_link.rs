//! The public share link `GET|HEAD /r/{code}` (function `share-link`, no authorizer): a 302 to
//! the code's event landing page with the normalized code, or to the generic landing page,
//! and a click counted with ONE UpdateItem (`store::Clicks`).
//!
//! What a visitor gets (`docs/api.md`), for every input:
//!
//! | request                                              | Location                      | counted |
//! |------------------------------------------------------|-------------------------------|---------|
//! | GET, code of an event with a `links.landing_url`     | that URL with the normalized code | yes |
//! | GET, code of an event without one (or event gone)    | generic                       | yes (event gone: no) |
//! | GET, well-formed unknown code                        | generic                       | no      |
//! | malformed / over-long code, any other path or method | generic                       | no      |
//! | HEAD, or a link-preview fetcher's User-Agent         | as for GET                    | no      |
//! | DynamoDB failing (lookup or count)                   | generic (lookup) / as for GET (count) | no |
//!
//! Every answer is `302` with `Location` and `Cache-Control: no-store` and an empty body,
//! nothing else: never a 4xx or 5xx (only the Lambda boundary's refusal of a body marked base64
//! that does not decode, shared by every HTTP function, answers 400 before routing). No IP and no user agent is stored or logged; the user agent
//! is only compared with [`PREVIEW_AGENTS`].
//!
//! Enumeration: a known code costs a GetItem and the count's UpdateItem, an unknown one the
//! GetItem only. So that the answer's timing does not tell them apart, an answer for an unknown
//! code that would have been counted waits as long as this instance's recent count writes took
//! ([`WriteLatency`], a moving average). A malformed code is answered without any read: the code
//! format is public, so that tells nothing about which codes exist.

use crate::domain::{EventConfig, ReferralCode, ReferralCodeRecord};
use crate::events_cache::ConfigCache;
use crate::store::{Clicks, Codes, EventReads};
use crate::telemetry;
use crate::time::Instant;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// `GENERIC_LANDING_URL`: where every visitor goes whose code leads nowhere else.
    pub generic_landing: GenericLanding,
    /// `CONFIG_CACHE_SECONDS` (default 60): how stale a cached event configuration may be.
    pub config_cache_seconds: u64,
}

/// The generic landing page: an `https://` URL (or an app deep link) WITHOUT `{code}`. Every
/// fallback answer carries exactly this `Location`, so an unknown code, a malformed one and a
/// known code of an event without a landing page cannot be told apart, and nothing the visitor
/// sent is ever reflected into the header.
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

/// A moving average of this instance's count writes (microseconds): how long an answer for an
/// unknown code waits so that it takes as long as one for a known code.
#[derive(Debug)]
pub struct WriteLatency(AtomicU64);

impl WriteLatency {
    /// Before the first measured write: a typical in-region UpdateItem.
    pub const INITIAL: Duration = Duration::from_millis(5);
    /// Never wait longer than this, whatever DynamoDB did lately.
    pub const MAX: Duration = Duration::from_millis(200);

    pub fn new() -> Self {
        Self(AtomicU64::new(Self::INITIAL.as_micros() as u64))
    }

    /// Folds one measured write in (weight 1/8). A sample counts for at most twice the current
    /// estimate, so the typical write is what is tracked: an outlier (a slow request, a pause)
    /// would otherwise leave the estimate high, and unknown codes waiting longer than known
    /// ones take, until enough writes bring it back.
    pub fn record(&self, took: Duration) {
        let sample = took.min(Self::MAX).as_micros() as u64;
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                let sample = sample.min(old.saturating_mul(2)).max(1);
                Some(old - old / 8 + sample / 8)
            });
    }

    pub fn current(&self) -> Duration {
        Duration::from_micros(self.0.load(Ordering::Relaxed))
    }
}

impl Default for WriteLatency {
    fn default() -> Self {
        Self::new()
    }
}

/// The clock of the counted day (a test sets another).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

pub struct LinkState {
    store: Arc<dyn LinkStore>,
    cache: ConfigCache,
    settings: ShareLinkSettings,
    latency: WriteLatency,
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
        latency: WriteLatency::new(),
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

/// Where the code's event sends its visitors (`None`: the generic page).
fn landing_of(record: &ReferralCodeRecord, config: Option<&EventConfig>) -> Option<HeaderValue> {
    let url = config?.links.landing_url.as_ref()?.with_code(&record.code);
    HeaderValue::from_str(&url).ok()
}

async fn share_link(
    State(state): State<Arc<LinkState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let generic = || redirect(state.settings.generic_landing.0.clone());
    let countable = method == Method::GET
        && !is_link_preview(
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        );
    if method != Method::GET && method != Method::HEAD {
        return generic();
    }
    let Some(code) = code_in_path(uri.path()) else {
        if countable {
            count_metric(UNKNOWN_CODE_VISITS);
        }
        return generic();
    };
    let record = match state.store.get_code(&code).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            if countable {
                count_metric(UNKNOWN_CODE_VISITS);
                tokio::time::sleep(state.latency.current()).await;
            }
            return generic();
        }
        Err(error) => {
            tracing::error!(%error, "share link: code lookup failed; generic landing");
            count_metric("LinkLookupFailures");
            return generic();
        }
    };
    let config = match state
        .cache
        .get_many(state.store.as_ref(), std::slice::from_ref(&record.event_id))
        .await
    {
        Ok(mut found) => found.remove(&record.event_id),
        Err(error) => {
            tracing::error!(%error, "share link: event configuration read failed; generic landing, not counted");
            count_metric("LinkLookupFailures");
            return generic();
        }
    };
    let location = landing_of(&record, config.as_deref())
        .unwrap_or_else(|| state.settings.generic_landing.0.clone());
    match (&config, countable) {
        (Some(config), true) => {
            let day = config.links.day_of((state.clock)());
            let started = std::time::Instant::now();
            match state
                .store
                .count_click(&record.code, &record.event_id, day)
                .await
            {
                Ok(()) => state.latency.record(started.elapsed()),
                Err(error) => {
                    tracing::error!(%error, "share link: click not counted; redirected anyway");
                    count_metric("ClickCountFailures");
                }
            }
        }
        // A code whose event is gone: not counted, timed like an unknown code.
        (None, true) => tokio::time::sleep(state.latency.current()).await,
        (_, false) => {}
    }
    redirect(location)
}

/// Visits (GET, not a link preview) of a malformed or unknown code: a broken link in a
/// campaign, or someone trying codes. A count only: neither the code nor the visitor is in it.
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

    #[test]
    fn the_write_latency_follows_recent_writes_within_bounds() {
        let latency = WriteLatency::new();
        assert_eq!(latency.current(), WriteLatency::INITIAL);
        for _ in 0..64 {
            latency.record(Duration::from_millis(20));
        }
        let now = latency.current();
        assert!(
            now > Duration::from_millis(19) && now <= Duration::from_millis(20),
            "{now:?}"
        );
        // One slow write moves the estimate by at most 1/8 of it.
        latency.record(Duration::from_secs(5));
        assert!(
            latency.current() <= now + now / 8,
            "{:?}",
            latency.current()
        );
        for _ in 0..200 {
            latency.record(Duration::from_secs(5));
        }
        assert!(latency.current() <= WriteLatency::MAX);
        for _ in 0..200 {
            latency.record(Duration::from_micros(100));
        }
        assert!(latency.current() < Duration::from_millis(1));
    }
}
