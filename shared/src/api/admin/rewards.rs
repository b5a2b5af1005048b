//! Rewards by status (HELD: the review queue), the retry of a FAIL reward and the review of a
//! HELD one.

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

/// Rewards with a status, oldest first (CLAIMABLE: earliest claim deadline first).
///
/// `status=HELD` is the review queue: each row carries the hold's `reason`.
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
/// is refused with 409 `already_paid`, a HELD, CLAIMABLE, REJECTED or EXPIRED one with 409
/// `not_failed` (approve, claim: their own routes). The status moves first, so if the enqueue fails (503)
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
    // The usual case, a FAIL reward, is one read and one transaction (the store's); any other
    // state is read once more to say why the write did not apply.
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
            match reward.status {
                RewardStatus::Success => {
                    return Err(ApiError::Conflict {
                        code: "already_paid",
                        message: format!("reward {reward_id} is SUCCESS; nothing to retry"),
                    });
                }
                // PENDING (retried already, or a payment in flight): queued again, paid once.
                RewardStatus::Pending => {}
                // HELD, CLAIMABLE, REJECTED, EXPIRED: a retry is for FAIL rewards only (a
                // message would be acknowledged without paying anyway).
                other => {
                    return Err(ApiError::Conflict {
                        code: "not_failed",
                        message: format!(
                            "reward {reward_id} is {}; only a FAIL reward is retried",
                            other.as_str()
                        ),
                    });
                }
            }
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

/// The answer to a review, the same however many times it is repeated.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Reviewed {
    reward_id: RewardId,
    /// PENDING after an approval (SUCCESS / FAIL when a repeated approval comes after the
    /// payout); REJECTED after a rejection.
    status: RewardStatus,
    /// Whether a payout message was sent by this request.
    queued: bool,
    /// The hold's reason after an approval; the rejection's after a rejection.
    #[schema(required = true)]
    reason: Option<crate::domain::ReasonCode>,
}

/// The body of a rejection.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RejectRequest {
    /// Why, as an upper-case code (e.g. REJECTED_BY_ADMIN, FRAUD_RING); recorded on the
    /// reward and shown to the member.
    reason: crate::domain::ReasonCode,
}

/// Applies `review` to a reward: the conditional write first (the usual case, HELD, is the
/// store's read and one transaction); when it does not apply, one read says why, from the
/// lifecycle's table.
async fn review(
    state: &AdminState,
    admin: &Admin,
    reward_id: RewardId,
    review: Review,
    reason: Option<&crate::domain::ReasonCode>,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now();
    let written = match (review, reason) {
        (Review::Approve, _) => {
            state
                .store
                .approve_reward(&reward_id, &admin.subject, now)
                .await
        }
        (Review::Reject, Some(reason)) => {
            state
                .store
                .reject_reward(&reward_id, reason, &admin.subject, now)
                .await
        }
        (Review::Reject, None) => return Err(ApiError::invalid("reason", "is required")),
    };
    let queue = match written {
        Ok(()) => review == Review::Approve,
        Err(StoreError::Conflict { .. }) => {
            let reward = state
                .store
                .get_reward(&reward_id)
                .await?
                .ok_or(ApiError::NotFound { what: "reward" })?;
            match reward.on_review(review) {
                ReviewStep::AlreadyDone { queue_again } => {
                    return answer(
                        state,
                        admin,
                        reward_id,
                        review,
                        reward.status,
                        queue_again,
                        reward.reason,
                    )
                    .await;
                }
                ReviewStep::DecidedOtherwise => {
                    return Err(ApiError::Conflict {
                        code: "already_reviewed",
                        message: format!(
                            "reward {reward_id} was reviewed already and is {}",
                            reward.status.as_str()
                        ),
                    });
                }
                // Apply: HELD now but not at the write (it cannot come back to HELD, so the
                // write lost to nothing); NotHeld: never in review.
                ReviewStep::Apply | ReviewStep::NotHeld => {
                    return Err(ApiError::Conflict {
                        code: "not_held",
                        message: format!(
                            "reward {reward_id} is {}; only a HELD reward is reviewed",
                            reward.status.as_str()
                        ),
                    });
                }
            }
        }
        Err(e) => return Err(e.into()),
    };
    let to = RewardTransition::of_review(review).to();
    let shown = match review {
        Review::Approve => None,
        Review::Reject => reason.cloned(),
    };
    answer(state, admin, reward_id, review, to, queue, shown).await
}

/// Queues the reward when `queue` and answers. An approval's answer shows the hold's reason
/// only when it was read; the write alone does not return it.
async fn answer(
    state: &AdminState,
    admin: &Admin,
    reward_id: RewardId,
    review: Review,
    status: RewardStatus,
    queue: bool,
    reason: Option<crate::domain::ReasonCode>,
) -> Result<Response, ApiError> {
    if queue {
        if let Err(e) = state.queue.enqueue(std::slice::from_ref(&reward_id)).await {
            tracing::warn!(reward = %reward_id, error = %e, "approved but not queued; the sweeper will");
            return Err(ApiError::Unavailable);
        }
    }
    tracing::info!(admin = admin.subject, reward = %reward_id, review = ?review, queued = queue, "reward reviewed");
    let code = match review {
        Review::Approve => StatusCode::ACCEPTED,
        Review::Reject => StatusCode::OK,
    };
    Ok((
        code,
        axum::Json(Reviewed {
            reward_id,
            status,
            queued: queue,
            reason,
        }),
    )
        .into_response())
}

/// Approve a HELD reward: it is queued for payout.
///
/// HELD → PENDING (with who and when), then one payout message. Idempotent: an approved
/// reward still PENDING is queued again (payout pays it once whatever the number of
/// messages); one already paid answers 202 without a message. 409 `already_reviewed` for a
/// rejected reward, 409 `not_held` for one that was never HELD. The status moves first, so if
/// the enqueue fails (503) the sweeper still queues the PENDING reward within its period.
#[utoipa::path(
    post,
    path = "/admin/v1/rewards/{reward_id}/approve",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("reward_id" = RewardId, Path)),
    responses(
        (status = 202, description = "approved and queued", body = Reviewed),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn approve_reward(
    State(state): State<Arc<AdminState>>,
    admin: Admin,
    Path(reward_id): Path<String>,
) -> Result<Response, ApiError> {
    let reward_id = RewardId::parse(&reward_id)?;
    review(&state, &admin, reward_id, Review::Approve, None).await
}

/// Reject a HELD reward: it is never paid.
///
/// HELD → REJECTED with the body's reason (and who and when). Idempotent: a rejected reward
/// answers 200 again with the reason recorded first. 409 `already_reviewed` for an approved
/// reward, 409 `not_held` for one that was never HELD.
#[utoipa::path(
    post,
    path = "/admin/v1/rewards/{reward_id}/reject",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("reward_id" = RewardId, Path)),
    request_body = RejectRequest,
    responses(
        (status = 200, description = "rejected", body = Reviewed),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn reject_reward(
    State(state): State<Arc<AdminState>>,
    admin: Admin,
    Path(reward_id): Path<String>,
    ApiJson(body): ApiJson<RejectRequest>,
) -> Result<Response, ApiError> {
    let reward_id = RewardId::parse(&reward_id)?;
    review(
        &state,
        &admin,
        reward_id,
        Review::Reject,
        Some(&body.reason),
    )
    .await
}
