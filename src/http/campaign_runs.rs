//! Campaigns over HTTP (docs/CAMPAIGNS.md, "Campaigns"); stable contract:
//!
//! - `GET /api/v1/campaigns`: the newest campaigns with their counts (supervisors, admins;
//!   keys with `campaigns:write`).
//! - `POST /api/v1/campaigns` (a [`CampaignSpec`]) → `201 {"campaign"}`, a draft (admins;
//!   `campaigns:write` keys); audited (`campaign.create`).
//! - `GET /api/v1/campaigns/{id}`: `{"campaign"}` with its counts.
//! - `POST /api/v1/campaigns/{id}/preview`: who of the audience it reaches now, who not and
//!   why, a sample and the estimated cost.
//! - `POST /api/v1/campaigns/{id}/{start|pause|resume|cancel}` → `{"campaign"}` (409 when the
//!   state does not allow it); audited (`campaign.<action>`).
//! - `GET /api/v1/campaigns/{id}/recipients.csv`: one row per recipient.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;

use super::auth::{Actor, request_meta};
use super::{ApiError, AppState};
use crate::accounts::policy::{self, CampaignAction};
use crate::campaigns::campaign::{self, CampaignSpec};
use crate::campaigns::runner::{AudiencePreview, CampaignView, RunError};

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_list_campaigns, list_campaigns)
        .op(__path_create_campaign, create_campaign)
        .op(__path_get_campaign, get_campaign)
        .op(__path_preview_campaign, preview_campaign)
        .op(__path_act_on_campaign, act_on_campaign)
        .op(__path_campaign_recipients, campaign_recipients);
}

/// Recipients read per page of the CSV.
const CSV_PAGE: i64 = 1000;
/// Campaigns listed.
const LIST: i64 = 200;

fn allowed(actor: &Actor, action: CampaignAction) -> Result<(), ApiError> {
    if policy::decide_campaigns(actor.who(), action).allowed() {
        return Ok(());
    }
    Err(ApiError::Forbidden(match (actor, action) {
        (Actor::Key(_), _) => "this API key lacks the scope campaigns:write".into(),
        (Actor::Person(_), CampaignAction::ViewCampaigns) => {
            "only supervisors and admins see campaigns".into()
        }
        (Actor::Person(_), _) => "only admins run campaigns".into(),
    }))
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Invalid(problems) => ApiError::Unprocessable {
                code: "invalid_campaign",
                message: problems.join("; "),
            },
            RunError::NotFound => ApiError::NotFound("no such campaign".into()),
            RunError::Conflict(m) => ApiError::Conflict(m),
            RunError::Store(e) => e.into(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct CampaignBody {
    campaign: CampaignView,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CampaignList {
    campaigns: Vec<CampaignView>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct PreviewBody {
    preview: AudiencePreview,
}

/// The campaigns, newest first, with their counts.
#[utoipa::path(
    get,
    path = "/campaigns",
    tag = "campaigns",
    security(("console" = []), ("business" = [])),
    responses((status = 200, description = "The campaigns.", body = CampaignList))
)]
async fn list_campaigns(
    state: web::Data<AppState>,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    allowed(&actor, CampaignAction::ViewCampaigns)?;
    let runner = state.runner.as_ref();
    let mut campaigns = Vec::new();
    for row in runner.store.list(LIST).await? {
        campaigns.push(runner.view(row).await?);
    }
    Ok(HttpResponse::Ok().json(CampaignList { campaigns }))
}

/// Create a campaign (a draft: preview it, then start it).
#[utoipa::path(
    post,
    path = "/campaigns",
    tag = "campaigns",
    security(("console" = []), ("business" = [])),
    request_body = CampaignSpec,
    responses(
        (status = 201, description = "The draft.", body = CampaignBody),
        (status = 422, description = "`invalid_campaign`: each problem named."),
    )
)]
async fn create_campaign(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    allowed(&actor, CampaignAction::RunCampaigns)?;
    let spec: CampaignSpec = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not a campaign: {e}")))?;
    let by = match &actor {
        Actor::Person(caller) => format!("user:{}", caller.principal.user),
        Actor::Key(key) => format!("key:{}", key.id),
    };
    let runner = state.runner.as_ref();
    let row = runner
        .create(spec, Some(by), chrono::Utc::now().timestamp_millis())
        .await?;
    let entry = actor.entry(
        &state,
        "campaign.create",
        Some(("campaign", &row.id)),
        None,
        Some(
            json!({"name": row.name, "channel": row.channel, "template": row.template,
            "language": row.language}),
        ),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    let campaign = runner.view(row).await?;
    Ok(HttpResponse::Created().json(CampaignBody { campaign }))
}

/// A campaign with its counts.
#[utoipa::path(
    get,
    path = "/campaigns/{id}",
    tag = "campaigns",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path, description = "The campaign's id.")),
    responses((status = 200, description = "The campaign.", body = CampaignBody))
)]
async fn get_campaign(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    allowed(&actor, CampaignAction::ViewCampaigns)?;
    let runner = state.runner.as_ref();
    let row = runner.get(&id).await?;
    let campaign = runner.view(row).await?;
    Ok(HttpResponse::Ok().json(CampaignBody { campaign }))
}

/// Who of the audience the campaign reaches now, who not and why, a sample and the cost.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/preview",
    tag = "campaigns",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path, description = "The campaign's id.")),
    responses((status = 200, description = "The preview.", body = PreviewBody))
)]
async fn preview_campaign(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    allowed(&actor, CampaignAction::RunCampaigns)?;
    let runner = state.runner.as_ref();
    let row = runner.get(&id).await?;
    let preview = runner.preview(&row).await?;
    Ok(HttpResponse::Ok().json(PreviewBody { preview }))
}

/// Start, pause, resume or cancel a campaign.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/{action}",
    tag = "campaigns",
    security(("console" = []), ("business" = [])),
    params(
        ("id" = String, Path, description = "The campaign's id."),
        ("action" = String, Path, description = "`start`, `pause`, `resume` or `cancel`."),
    ),
    responses(
        (status = 200, description = "The campaign, moved.", body = CampaignBody),
        (status = 409, description = "Its state does not allow it (or it reaches nobody)."),
    )
)]
async fn act_on_campaign(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    allowed(&actor, CampaignAction::RunCampaigns)?;
    let (id, action) = path.into_inner();
    let action = campaign::Action::parse(&action).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no campaign action {action:?} (preview, start, pause, resume, cancel)"
        ))
    })?;
    let runner = state.runner.as_ref();
    let before = runner.get(&id).await?.state;
    let row = runner.act(&id, action, chrono::Utc::now()).await?;
    let entry = actor.entry(
        &state,
        &format!("campaign.{}", action.as_str()),
        Some(("campaign", &row.id)),
        Some(json!({"state": before})),
        Some(json!({"state": row.state})),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    let campaign = runner.view(row).await?;
    Ok(HttpResponse::Ok().json(CampaignBody { campaign }))
}

/// One row per recipient: its address, country, state, reason, message, status, error,
/// pricing, reply and opt-out.
#[utoipa::path(
    get,
    path = "/campaigns/{id}/recipients.csv",
    tag = "campaigns",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path, description = "The campaign's id.")),
    responses(
        (status = 200, description = "The recipients, as CSV.", body = String, content_type = "text/csv"),
    )
)]
async fn campaign_recipients(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    allowed(&actor, CampaignAction::ViewCampaigns)?;
    let runner = state.runner.as_ref();
    let row = runner.get(&id).await?;
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let csv_error = |e: csv::Error| ApiError::Internal(format!("CSV: {e}"));
    out.write_record([
        "contact",
        "address",
        "country",
        "state",
        "reason",
        "message_id",
        "sent_at",
        "status",
        "error_code",
        "pricing_category",
        "pricing_type",
        "replied_at",
        "opted_out_at",
    ])
    .map_err(csv_error)?;
    let time = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    let mut after = String::new();
    loop {
        let page = runner
            .store
            .recipients(&row.id, &row.channel, &after, CSV_PAGE)
            .await?;
        let full = page.len() as i64 == CSV_PAGE;
        for r in page {
            after.clone_from(&r.contact);
            out.write_record([
                crate::crm::export::cell(&r.contact),
                r.address.unwrap_or_default(),
                r.country.unwrap_or_default(),
                r.state,
                r.reason.unwrap_or_default(),
                r.message_id.unwrap_or_default(),
                time(r.sent_at),
                r.status.unwrap_or_default(),
                r.error_code.map(|c| c.to_string()).unwrap_or_default(),
                r.pricing_category.unwrap_or_default(),
                r.pricing_type.unwrap_or_default(),
                time(r.replied_at),
                time(r.opted_out_at),
            ])
            .map_err(csv_error)?;
        }
        if !full {
            break;
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("CSV: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"campaign-{}.csv\"", row.id),
        ))
        .body(bytes))
}
