//! Support's view of one member: the checklist of their registration (docs/checklist.md).

use super::*;
use crate::domain::{AccountId, Checklist, ChecklistInput, ChecklistView, JkosId};

// ------------------------------------------------------------------------------ members

/// One member's registration as support sees it: every step, with the internal details.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MemberChecklist {
    account_id: AccountId,
    jkos_id: JkosId,
    /// Masked: `0912***678`; null until member info brought it.
    #[schema(required = true, examples("0912***678"))]
    phone: Option<String>,
    /// The code the member registered with; null: none.
    #[schema(required = true)]
    code: Option<ReferralCode>,
    /// The six steps; `detail` carries what members never see (finance's error text, the
    /// review code and reviewer, the hold's rule).
    checklist: Checklist,
}

/// The checklist of a member's registration, by account id (support).
///
/// Why a referee was (not) rewarded, step by step: code, KYC, device, qualification and both
/// sides' rewards, with the internal reasons. One BatchGetItem (profile and both rewards),
/// plus the code's event configuration when the member registered with an accepted code.
#[utoipa::path(
    get,
    path = "/admin/v1/members/{account_id}/checklist",
    tag = "admin",
    security(("jwt" = ["referral.admin"])),
    params(("account_id" = AccountId, Path)),
    responses(
        (status = 200, description = "the checklist", body = MemberChecklist),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn member_checklist(
    State(state): State<Arc<AdminState>>,
    _: Admin,
    Path(account_id): Path<String>,
) -> Result<Response, ApiError> {
    let account_id = AccountId::parse(&account_id)?;
    let found = state
        .store
        .registration(&account_id)
        .await?
        .ok_or(ApiError::NotFound { what: "member" })?;
    let profile = &found.profile;
    let qualification_days = match profile.accepted_referral() {
        Some((_, event, _)) => state
            .store
            .event_config(event)
            .await?
            .and_then(|c| c.rules.qualification_days),
        None => None,
    };
    let input = ChecklistInput {
        profile,
        referee_reward: found.referee_reward.as_ref(),
        referrer_reward: found.referrer_reward.as_ref(),
        qualification_days,
    };
    Ok(ok(MemberChecklist {
        account_id: profile.account_id.clone(),
        jkos_id: profile.jkos_id.clone(),
        phone: profile.phone_number.as_ref().map(|p| p.masked()),
        code: profile.referral.as_ref().map(|r| r.code.clone()),
        checklist: Checklist::seen_by(input, chrono::Utc::now(), ChecklistView::Support),
    }))
}
