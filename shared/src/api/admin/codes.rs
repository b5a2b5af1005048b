//! Campaign codes.

use super::*;

// ------------------------------------------------------------------------------ codes

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCode {
    /// A vanity code; absent = generated.
    code: Option<ReferralCode>,
    /// Who the code is for (campaign or partner name): its referees are listed under
    /// `campaign:<source>`, never under a member, whatever the name.
    source: CampaignSource,
}

/// Issue a code for a CAMPAIGN event (vanity or generated).
#[utoipa::path(
    post,
    path = "/admin/v1/events/{event_id}/codes",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("event_id" = EventId, Path)),
    request_body = NewCode,
    responses(
        (status = 201, description = "the code", body = ReferralCodeRecord),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn create_code(
    State(state): State<Arc<AdminState>>,
    admin: Admin,
    Path(event_id): Path<String>,
    ApiJson(body): ApiJson<NewCode>,
) -> Result<Response, ApiError> {
    let event_id = EventId::parse(&event_id)?;
    let config = state
        .store
        .event_config(&event_id)
        .await?
        .ok_or(ApiError::NotFound { what: "event" })?;
    if config.event.event_type != EventType::Campaign {
        return Err(ApiError::Conflict {
            code: "not_a_campaign",
            message: "codes are issued here for CAMPAIGN events only; PERSONAL codes are \
                      issued to members when they qualify"
                .into(),
        });
    }
    let now = chrono::Utc::now();
    let record = |code| ReferralCodeRecord {
        code,
        event_id: event_id.clone(),
        event_type: EventType::Campaign,
        source: ReferralSource::Campaign(body.source.clone()),
        owner_phone: None,
        created_at: now,
    };
    let created = match body.code.clone() {
        Some(code) => {
            let record = record(code);
            match state.store.create_code(&record).await {
                Ok(()) => record,
                Err(StoreError::Conflict { .. }) => {
                    return Err(ApiError::Conflict {
                        code: "code_taken",
                        message: format!("code {} exists", record.code),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => {
            create_unique_code(state.store.as_ref(), 5, || {
                record(ReferralCode::generate(&mut rand::rng()))
            })
            .await?
        }
    };
    tracing::info!(admin = admin.subject, event = %event_id, "campaign code created");
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}
