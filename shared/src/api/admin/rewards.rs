//! Rewards by status and the retry of a FAIL reward.

use super::*;

// ------------------------------------------------------------------------------ rewards

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct RewardsQuery {
    status: RewardStatus,
    /// Rewards per page.
    #[param(minimum = 1, maximum = 50, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page, unchanged.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// Rewards with a status, oldest first.
#[utoipa::path(
    get,
    path = "/admin/v1/rewards",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(RewardsQuery),
    responses(
        (status = 200, description = "one page", body = Listing<RewardRow>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn list_rewards(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    ApiQuery(query): ApiQuery<RewardsQuery>,
) -> Result<Response, ApiError> {
    let page = PageQuery::request(query.limit, query.cursor)?;
    let page = state.store.rewards_by_status(query.status, page).await?;
    let rows = page.items.iter().map(RewardRow::from).collect();
    Ok(ok(Listing::new(rows, page.next)))
}

/// The answer to a retry.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RetryQueued {
    reward_id: RewardId,
    /// Always PENDING.
    status: RewardStatus,
    queued: bool,
}

/// Queue a FAIL reward for payment again.
///
/// FAIL → PENDING, then one payout message. Idempotent: a reward already back in PENDING is
/// queued again (payout pays a reward once whatever the number of messages), a SUCCESS reward
/// is refused with 409 `already_paid`. The status moves first, so if the enqueue fails (503)
/// the sweeper still queues the PENDING reward within its period.
#[utoipa::path(
    post,
    path = "/admin/v1/rewards/{reward_id}/retry",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("reward_id" = RewardId, Path)),
    responses(
        (status = 202, description = "queued", body = RetryQueued),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn retry_reward(
    State(state): State<Arc<AdminState>>,
    admin: Admin,
    Path(reward_id): Path<String>,
) -> Result<Response, ApiError> {
    let reward_id = RewardId::parse(&reward_id)?;
    // The usual case, a FAIL reward, is one conditional write; any other state is read once
    // to say why the write did not apply.
    match state
        .store
        .reopen_failed_reward(&reward_id, chrono::Utc::now())
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            let reward = state
                .store
                .get_reward(&reward_id)
                .await?
                .ok_or(ApiError::NotFound { what: "reward" })?;
            if reward.status == RewardStatus::Success {
                return Err(ApiError::Conflict {
                    code: "already_paid",
                    message: format!("reward {reward_id} is SUCCESS; nothing to retry"),
                });
            }
            // PENDING (retried already, or a payment in flight): queued again, paid once.
        }
        Err(e) => return Err(e.into()),
    }
    if let Err(e) = state.queue.enqueue(std::slice::from_ref(&reward_id)).await {
        tracing::warn!(reward = %reward_id, error = %e, "retry not queued; the sweeper will");
        return Err(ApiError::Unavailable);
    }
    tracing::info!(admin = admin.subject, reward = %reward_id, "reward queued again");
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(RetryQueued {
            reward_id,
            status: RewardStatus::Pending,
            queued: true,
        }),
    )
        .into_response())
}
