//! Helpers for the integration tests. They run against the real local stand-ins started by
//! `scripts/stack.sh` (DynamoDB Local; later the SQS emulator), never against in-memory fakes.
//! Every test gets its own freshly created table, so tests run in parallel without sharing state.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use referral_devkit::table::TableDefinition;
use referral_shared::store::DynamoStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the HTTP requests a client sends, so tests can assert round-trip budgets.
#[derive(Debug, Clone, Default)]
pub struct RoundTrips(Arc<AtomicUsize>);

impl RoundTrips {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Round trips made by `f`.
    pub async fn during<T>(&self, f: impl std::future::Future<Output = T>) -> (T, usize) {
        let before = self.get();
        let out = f.await;
        (out, self.get() - before)
    }
}

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

pub struct TestTable {
    pub name: String,
    pub client: aws_sdk_dynamodb::Client,
    pub store: DynamoStore,
    pub round_trips: RoundTrips,
}

impl TestTable {
    /// A new table, created from the SAM template's definition, on DynamoDB Local.
    pub async fn create() -> TestTable {
        let name = format!("test-{}", uuid::Uuid::now_v7().simple());
        let base = referral_devkit::local_dynamodb_client().await;
        TableDefinition::from_sam_template()
            .expect("the SAM template defines the table")
            .create(&base, &name)
            .await
            .unwrap_or_else(|e| {
                panic!("{e:#}\nIs the local stack running? Start it with: scripts/stack.sh start")
            });
        let round_trips = RoundTrips::default();
        let config = base
            .config()
            .to_builder()
            .interceptor(round_trips.clone())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        let store = DynamoStore::new(client.clone(), &name);
        TestTable {
            name,
            client,
            store,
            round_trips,
        }
    }
}

/// Small constructors for domain values used across tests.
pub mod fixtures {
    use chrono::{TimeZone, Utc};
    use referral_shared::time::Instant;
    use referral_shared::*;

    pub fn at(day: u32, hour: u32) -> Instant {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    pub fn event(id: &str, event_type: EventType) -> ReferralEvent {
        ReferralEvent {
            event_id: EventId::parse(id).unwrap(),
            event_type,
            name: EventName::parse(id).unwrap(),
            created_at: at(1, 0),
            updated_at: at(1, 0),
        }
    }

    pub fn window(start: Instant, end: Instant) -> TimeWindow {
        TimeWindow::new(start, end).unwrap()
    }

    pub fn content(id: &str, start: Instant, end: Instant, referrer_amount: &str) -> ContentWindow {
        ContentWindow {
            window_id: WindowId::parse(id).unwrap(),
            window: window(start, end),
            referrer: RewardTerms {
                reward_type: RewardType::Coin,
                amount: RewardAmount::parse(referrer_amount).unwrap(),
            },
            referee: RewardTerms {
                reward_type: RewardType::Coupon,
                amount: RewardAmount::parse("100").unwrap(),
            },
        }
    }

    pub fn code_record(code: &str, event: &str, source: &str) -> ReferralCodeRecord {
        ReferralCodeRecord {
            code: ReferralCode::parse(code).unwrap(),
            event_id: EventId::parse(event).unwrap(),
            event_type: EventType::Personal,
            source: ReferralSource::parse(source).unwrap(),
            created_at: at(1, 0),
        }
    }

    /// A referee who registered with `code` (owned by `source`).
    pub fn referee(account: &str, code: &str, source: &str) -> MemberProfile {
        let mut m = MemberProfile::new(
            AccountId::parse(account).unwrap(),
            JkosId::parse(format!("jk-{account}")).unwrap(),
            at(2, 0),
        );
        m.phone_number = Some(PhoneNumber::parse("0912345678").unwrap());
        m.referral = Some(ReferralUse {
            code: ReferralCode::parse(code).unwrap(),
            used_at: at(2, 0),
            outcome: ReferralOutcome::Accepted {
                event_id: EventId::parse("personal").unwrap(),
                referrer_source: ReferralSource::parse(source).unwrap(),
            },
        });
        m
    }

    pub fn reward(
        referee: &MemberProfile,
        side: Side,
        status: RewardStatus,
        created_at: Instant,
    ) -> Reward {
        let (code, event_id, source) = referee.accepted_referral().expect("an accepted referral");
        Reward {
            reward_id: RewardId::new(&referee.account_id, side),
            side,
            member_jkos_id: match side {
                Side::Referrer => JkosId::parse(source.as_str()).unwrap(),
                Side::Referee => referee.jkos_id.clone(),
            },
            referee_account_id: referee.account_id.clone(),
            referee_jkos_id: referee.jkos_id.clone(),
            code: code.clone(),
            event_id: event_id.clone(),
            referrer_source: source.clone(),
            terms: RewardTerms {
                reward_type: RewardType::Coin,
                amount: RewardAmount::parse("50").unwrap(),
            },
            qualified_at: created_at,
            status,
            attempts: 0,
            last_error: None,
            compensation_id: None,
            paid_at: None,
            created_at,
            updated_at: created_at,
        }
    }
}

/// Follows cursors until the last page, asserting that every page costs exactly one
/// DynamoDB request and holds at most `limit` items. Returns the items and the page count.
pub async fn all_pages<T, F, Fut>(
    round_trips: &RoundTrips,
    limit: u32,
    mut fetch: F,
) -> (Vec<T>, usize)
where
    F: FnMut(referral_shared::store::PageRequest) -> Fut,
    Fut: std::future::Future<
            Output = Result<referral_shared::store::Page<T>, referral_shared::store::StoreError>,
        >,
{
    use referral_shared::store::PageRequest;
    let (mut items, mut pages) = (Vec::new(), 0);
    let mut request = PageRequest::first(limit);
    loop {
        let (page, trips) = round_trips.during(fetch(request)).await;
        let page = page.expect("page");
        assert_eq!(trips, 1, "one request per page");
        assert!(page.items.len() <= limit as usize);
        pages += 1;
        items.extend(page.items);
        match page.next {
            Some(cursor) => request = PageRequest::after(limit, cursor),
            None => return (items, pages),
        }
    }
}
