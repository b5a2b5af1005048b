//! Overview and statistics of a referrer's or a code's referees and rewards.

use super::*;

// ------------------------------------------------------------------------------ overview

/// A referee as an admin sees them: ids, masked phone, steps and both sides' rewards.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RefereeRow {
    account_id: crate::domain::AccountId,
    jkos_id: crate::domain::JkosId,
    /// Masked: `0912***678`.
    #[schema(required = true, examples("0912***678"))]
    phone: Option<String>,
    #[schema(required = true)]
    code: Option<ReferralCode>,
    steps: Steps,
    rewards: Vec<RewardRow>,
}

/// A reward as an admin sees it (the member's phone is never in it).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RewardRow {
    reward_id: RewardId,
    side: crate::domain::Side,
    member_jkos_id: crate::domain::JkosId,
    event_id: EventId,
    code: ReferralCode,
    reward_type: RewardType,
    amount: crate::domain::RewardAmount,
    status: RewardStatus,
    attempts: u32,
    #[schema(required = true)]
    last_error: Option<String>,
    #[schema(required = true)]
    compensation_id: Option<String>,
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    paid_at: Option<crate::time::Instant>,
    #[schema(required = true)]
    notification: Option<crate::domain::NotificationOutcome>,
    /// Why it is (or was) HELD, or why it was REJECTED.
    #[schema(required = true)]
    reason: Option<crate::domain::ReasonCode>,
    /// A CLAIMABLE reward's deadline (kept after the claim or the expiry).
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    claim_deadline: Option<crate::time::Instant>,
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    claimed_at: Option<crate::time::Instant>,
    /// When an admin approved or rejected it, and who (the token's subject).
    #[serde(with = "crate::time::millis_opt")]
    #[schema(schema_with = crate::domain::schema::instant_or_null, required = true)]
    reviewed_at: Option<crate::time::Instant>,
    #[schema(required = true)]
    reviewed_by: Option<String>,
    #[serde(with = "crate::time::millis")]
    #[schema(schema_with = crate::domain::schema::instant)]
    created_at: crate::time::Instant,
    #[serde(with = "crate::time::millis")]
    #[schema(schema_with = crate::domain::schema::instant)]
    updated_at: crate::time::Instant,
}

impl From<&Reward> for RewardRow {
    fn from(r: &Reward) -> Self {
        RewardRow {
            reward_id: r.reward_id.clone(),
            side: r.side,
            member_jkos_id: r.member_jkos_id.clone(),
            event_id: r.event_id.clone(),
            code: r.code.clone(),
            reward_type: r.terms.reward_type,
            amount: r.terms.amount,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error.clone(),
            compensation_id: r.compensation_id.clone(),
            paid_at: r.paid_at,
            notification: r.notification.clone(),
            reason: r.reason.clone(),
            claim_deadline: r.claim_deadline,
            claimed_at: r.claimed_at,
            reviewed_at: r.reviewed_at,
            reviewed_by: r.reviewed_by.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub(super) fn referee_row(profile: &MemberProfile) -> RefereeRow {
    RefereeRow {
        account_id: profile.account_id.clone(),
        jkos_id: profile.jkos_id.clone(),
        phone: profile.phone_number.as_ref().map(|p| p.masked()),
        code: profile.referral.as_ref().map(|r| r.code.clone()),
        steps: Steps::of(profile),
        rewards: Vec::new(),
    }
}

/// One page of a collection: its codes and referees with their rewards.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Overview {
    codes: Vec<ReferralCodeRecord>,
    referees: Vec<RefereeRow>,
    /// The cursor of the next page; null on the last one.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

pub(super) fn overview(page: Page<CollectionEntry>) -> Overview {
    let mut codes = Vec::new();
    let mut referees: Vec<RefereeRow> = Vec::new();
    for entry in page.items {
        match entry {
            // The owner's phone hash is for the self-referral rule only: a keyed hash is still
            // a stable pseudonym of a phone, so no answer carries it.
            CollectionEntry::Code(code) => codes.push(ReferralCodeRecord {
                owner_phone: None,
                ..code
            }),
            CollectionEntry::Referee(profile) => referees.push(referee_row(&profile)),
            CollectionEntry::Reward(reward) => {
                if let Some(last) = referees
                    .last_mut()
                    .filter(|r| r.account_id == reward.referee_account_id)
                {
                    last.rewards.push(RewardRow::from(reward.as_ref()));
                }
            }
        }
    }
    Overview {
        codes,
        referees,
        next_cursor: page.next.map(|c| c.token().to_owned()),
    }
}

/// Overview of a referrer's codes and referees (one Query page).
#[utoipa::path(
    get,
    path = "/admin/v1/referrers/{source}/referees",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(
        ("source" = ReferralSource, Path, description = "member:<jkos id> (a member) or campaign:<name> (a campaign)"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "one page", body = Overview),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn referrer_referees(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    Path(source): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let source = ReferralSource::parse(&source)?;
    let page = state
        .store
        .referrer_collection(&source, query.to_request()?)
        .await?;
    Ok(ok(overview(page)))
}

pub(super) async fn code_record(
    state: &AdminState,
    raw: &str,
) -> Result<ReferralCodeRecord, ApiError> {
    let code = ReferralCode::parse(raw)?;
    state
        .store
        .get_code(&code)
        .await?
        .ok_or(ApiError::NotFound { what: "code" })
}

/// Overview of one code's referees (one Query page).
#[utoipa::path(
    get,
    path = "/admin/v1/codes/{code}/referees",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("code" = ReferralCode, Path), PageQuery),
    responses(
        (status = 200, description = "one page", body = Overview),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn code_referees(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    Path(code): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let record = code_record(&state, &code).await?;
    let page = state
        .store
        .code_collection(&record, query.to_request()?)
        .await?;
    Ok(ok(overview(page)))
}

/// Totals over a whole collection, read page by page (up to 50 Query pages).
#[derive(Debug, Default, Serialize, ToSchema)]
pub(super) struct Statistics {
    codes: u64,
    referees: u64,
    kyc_passed: u64,
    device_bound: u64,
    qualified: u64,
    /// Every status (PENDING, SUCCESS, FAIL, HELD, CLAIMABLE, REJECTED, EXPIRED), each
    /// present even at 0: how many rewards, and their amounts per reward type.
    #[schema(value_type = BTreeMap<RewardStatus, RewardTotals>)]
    rewards: BTreeMap<&'static str, RewardTotals>,
    /// False when the collection is larger than one statistics request reads.
    complete: bool,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub(super) struct RewardTotals {
    count: u64,
    /// Per reward type (COIN, COUPON): the sum, a decimal string with 2 decimals.
    #[schema(value_type = BTreeMap<RewardType, String>)]
    amounts: BTreeMap<&'static str, Decimal>,
}

/// 50 pages of 200 items: about 3,300 referees.
pub(super) const MAX_STATISTICS_PAGES: usize = 50;

impl Statistics {
    fn add(&mut self, entry: &CollectionEntry) {
        match entry {
            CollectionEntry::Code(_) => self.codes += 1,
            CollectionEntry::Referee(p) => {
                self.referees += 1;
                self.kyc_passed += u64::from(p.kyc_pass_time.is_some());
                self.device_bound += u64::from(p.device_bind_time.is_some());
                self.qualified += u64::from(p.qualified_at.is_some());
            }
            CollectionEntry::Reward(r) => {
                let totals = self.rewards.entry(r.status.as_str()).or_default();
                totals.count += 1;
                *totals
                    .amounts
                    .entry(r.terms.reward_type.as_str())
                    .or_default() += r.terms.amount.value();
            }
        }
    }
}

pub(super) async fn statistics<F, Fut>(mut next_page: F) -> Result<Statistics, ApiError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<CollectionEntry>, StoreError>>,
{
    let mut stats = Statistics {
        rewards: RewardStatus::ALL
            .into_iter()
            .map(|status| (status.as_str(), RewardTotals::default()))
            .collect(),
        ..Statistics::default()
    };
    let mut request = PageRequest::first(PageRequest::MAX_LIMIT);
    for _ in 0..MAX_STATISTICS_PAGES {
        let page = next_page(request).await?;
        page.items.iter().for_each(|e| stats.add(e));
        match page.next {
            Some(cursor) => request = PageRequest::after(PageRequest::MAX_LIMIT, cursor),
            None => {
                stats.complete = true;
                break;
            }
        }
    }
    Ok(stats)
}

/// Totals over a referrer's whole collection.
#[utoipa::path(
    get,
    path = "/admin/v1/referrers/{source}/statistics",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("source" = ReferralSource, Path, description = "member:<jkos id> (a member) or campaign:<name> (a campaign)")),
    responses(
        (status = 200, description = "totals", body = Statistics),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn referrer_statistics(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    Path(source): Path<String>,
) -> Result<Response, ApiError> {
    let source = ReferralSource::parse(&source)?;
    let stats = statistics(|page| state.store.referrer_collection(&source, page)).await?;
    Ok(ok(stats))
}

/// Totals over one code's referees and rewards.
#[utoipa::path(
    get,
    path = "/admin/v1/codes/{code}/statistics",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("code" = ReferralCode, Path)),
    responses(
        (status = 200, description = "totals", body = Statistics),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn code_statistics(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let record = code_record(&state, &code).await?;
    let stats = statistics(|page| state.store.code_collection(&record, page)).await?;
    Ok(ok(stats))
}
