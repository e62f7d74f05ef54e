//! `/api/v1/admin/panel-apps`: the business pages the console shows as tabs in the customer
//! panel (admins only, every change audited). `POST` with `{"name", "url", "teams"?}` →
//! `201 {"panel_app": {"id", "secret", …}}`; the secret is shown there and at `…/rotate` only.
//! The decisions (what a name, URL and team filter may be) are in
//! [`crate::integrations::panel_apps`].

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, request_meta};
use super::{ApiError, AppState};
use crate::accounts::policy::{self, Action, AdminAction};
use crate::integrations::panel_app_records::PanelAppRow;
use crate::integrations::panel_apps::{self, AgentClaim, ContactClaim, Invalid, PanelContext};

/// The most apps a deployment registers (each is a tab).
pub const MAX_APPS: usize = 20;

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_list, list)
        .op(__path_create, create)
        .op(__path_update, update)
        .op(__path_delete, delete)
        .op(__path_rotate, rotate)
        .op(__path_for_conversation, for_conversation);
}

fn admin(caller: &Caller) -> Result<(), ApiError> {
    if policy::decide_admin(&caller.principal, AdminAction::ManagePanelApps).allowed() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only an admin may do this".into()))
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn refused(e: Invalid) -> ApiError {
    ApiError::Unprocessable {
        code: e.code,
        message: e.message,
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such panel app".into())
}

/// `http://127.0.0.1` URLs only where the demo's secrets are allowed.
fn loopback_http(state: &AppState) -> bool {
    crate::config::DEMO_ENVIRONMENTS.contains(&state.settings.environment.as_str())
}

fn team_filter(state: &AppState, raw: &[String]) -> Result<String, ApiError> {
    let directory = state.desk.directory.get();
    let teams = panel_apps::teams(raw, |t| {
        directory.team(&crate::domain::TeamId::new(t)).is_some()
    })
    .map_err(refused)?;
    Ok(serde_json::to_string(&teams).unwrap_or_else(|_| "[]".into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = PanelAppCreate)]
struct CreateBody {
    name: String,
    url: String,
    #[serde(default)]
    teams: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/admin/panel-apps",
    tag = "panel-apps",
    security(("console" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created.", body = super::schemas::PanelAppsCreateResponse),
    )
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let body = body.into_inner();
    let name = panel_apps::name(&body.name).map_err(refused)?;
    let url = panel_apps::url(&body.url, loopback_http(&state)).map_err(refused)?;
    let teams = team_filter(&state, &body.teams)?;
    if state.panel_apps.all().await?.len() >= MAX_APPS {
        return Err(ApiError::Conflict(format!("at most {MAX_APPS} panel apps")));
    }
    let now = now_ms();
    let app = PanelAppRow {
        id: format!("pa_{}", uuid::Uuid::now_v7().simple()),
        name,
        url,
        teams,
        secret: panel_apps::new_secret(),
        created_at: now,
        updated_at: now,
    };
    state.panel_apps.insert(&app).await?;
    let view = app.view();
    let entry = state.accounts.entry(
        &caller,
        "panel_app.create",
        Some(("panel_app", &app.id)),
        None,
        Some(view.clone()),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    let mut shown = view;
    // Shown this once.
    shown["secret"] = Value::String(app.secret);
    Ok(HttpResponse::Created().json(json!({ "panel_app": shown })))
}

#[utoipa::path(
    get,
    path = "/admin/panel-apps",
    tag = "panel-apps",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::PanelAppsListResponse),
    )
)]
async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let apps: Vec<Value> = state
        .panel_apps
        .all()
        .await?
        .iter()
        .map(PanelAppRow::view)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "panel_apps": apps })))
}

async fn load(state: &AppState, id: &str) -> Result<PanelAppRow, ApiError> {
    state.panel_apps.get(id).await?.ok_or_else(not_found)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    teams: Option<Vec<String>>,
}

#[utoipa::path(
    patch,
    path = "/admin/panel-apps/{id}",
    tag = "panel-apps",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = PatchBody,
    responses(
        (status = 200, description = "OK.", body = super::schemas::PanelAppsUpdateResponse),
    )
)]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let body = body.into_inner();
    let before = load(&state, &path).await?;
    let mut app = before.clone();
    if let Some(name) = &body.name {
        app.name = panel_apps::name(name).map_err(refused)?;
    }
    if let Some(url) = &body.url {
        app.url = panel_apps::url(url, loopback_http(&state)).map_err(refused)?;
    }
    if let Some(teams) = &body.teams {
        app.teams = team_filter(&state, teams)?;
    }
    app.updated_at = now_ms();
    if !state.panel_apps.update(&app).await? {
        return Err(not_found());
    }
    let entry = state.accounts.entry(
        &caller,
        "panel_app.update",
        Some(("panel_app", &app.id)),
        Some(before.view()),
        Some(app.view()),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::Ok().json(json!({ "panel_app": app.view() })))
}

#[utoipa::path(
    delete,
    path = "/admin/panel-apps/{id}",
    tag = "panel-apps",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Done; no body."),
    )
)]
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let before = load(&state, &path).await?;
    if !state.panel_apps.delete(&before.id).await? {
        return Err(not_found());
    }
    let entry = state.accounts.entry(
        &caller,
        "panel_app.delete",
        Some(("panel_app", &before.id)),
        Some(before.view()),
        None,
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::NoContent().finish())
}

/// A new secret, shown once; tokens signed with the old one stop verifying at once (they live
/// five minutes, and the console asks for fresh ones with every panel it opens).
#[utoipa::path(
    post,
    path = "/admin/panel-apps/{id}/rotate",
    tag = "panel-apps",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::PanelAppsRotateResponse),
    )
)]
async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let mut app = load(&state, &path).await?;
    app.secret = panel_apps::new_secret();
    app.updated_at = now_ms();
    if !state.panel_apps.update(&app).await? {
        return Err(not_found());
    }
    let entry = state.accounts.entry(
        &caller,
        "panel_app.rotate_secret",
        Some(("panel_app", &app.id)),
        None,
        None,
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    let mut shown = app.view();
    shown["secret"] = Value::String(app.secret);
    Ok(HttpResponse::Ok().json(json!({ "panel_app": shown })))
}

/// `GET /api/v1/conversations/{id}/panel-apps`: the apps shown in this conversation (its
/// team's filter), each with a fresh context token ([`panel_apps::TOKEN_TTL_SECONDS`]) signed
/// with the app's secret; the contact in it is masked the way the conversation's team masks
/// numbers. Anyone who may open the conversation may ask.
#[utoipa::path(
    get,
    path = "/conversations/{id}/panel-apps",
    tag = "panel-apps",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::PanelAppsForConversationResponse),
    )
)]
async fn for_conversation(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conversation = super::console::permitted(&state, &caller, &id, Action::View).await?;
    let team = conversation.team.as_ref().map(|t| t.as_str().to_owned());
    let apps: Vec<PanelAppRow> = state
        .panel_apps
        .all()
        .await?
        .into_iter()
        .filter(|a| panel_apps::shown_in(&a.team_filter(), team.as_deref()))
        .collect();
    if apps.is_empty() {
        return Ok(HttpResponse::Ok().json(json!({ "panel_apps": [] })));
    }
    let contact = state.store.load_contact(&conversation.customer).await?;
    let masker = state.desk.masker(&conversation, contact.as_ref(), &[]);
    let mut claim = serde_json::to_value(ContactClaim {
        id: conversation.customer.as_str().to_owned(),
        name: contact.as_ref().and_then(|c| c.name.clone()),
        phone: contact.as_ref().and_then(|c| c.phone.clone()),
        channel: conversation.channel.as_str().to_owned(),
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    masker.apply(&mut claim);
    let contact: ContactClaim =
        serde_json::from_value(claim).map_err(|e| ApiError::Internal(e.to_string()))?;
    let agent = AgentClaim {
        id: caller.user().as_str().to_owned(),
        name: state
            .desk
            .directory
            .get()
            .user(caller.user())
            .map(|u| u.name.clone())
            .unwrap_or_else(|| caller.user().as_str().to_owned()),
    };
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let mut shown = Vec::with_capacity(apps.len());
    for app in &apps {
        let context = PanelContext {
            conversation: conversation.id.clone(),
            team: team.clone(),
            contact: contact.clone(),
            agent: agent.clone(),
        };
        let token = panel_apps::mint(&app.secret, &app.id, context, now)
            .map_err(|e| ApiError::Internal(format!("panel app {}: {e}", app.id)))?;
        shown.push(json!({
            "id": app.id,
            "name": app.name,
            "url": app.url,
            "token": token,
            "expires_at": now + panel_apps::TOKEN_TTL_SECONDS,
        }));
    }
    Ok(HttpResponse::Ok().json(json!({ "panel_apps": shown })))
}
