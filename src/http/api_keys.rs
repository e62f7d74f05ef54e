//! `/api/v1/admin/api-keys`: business systems' API keys (admins only, every change audited;
//! see [`crate::integrations::api_keys`]). Stable contract: `POST /admin/api-keys` with
//! `{"name", "scopes"}` → `201 {"api_key": {"id", "token", "scopes", …}}`; the token is in that
//! answer and in a rotation's, never again.
//!
//! - `GET /admin/api-keys`: every key, revoked ones too, newest first (never a token);
//! - `GET /admin/api-keys/{id}`;
//! - `POST /admin/api-keys/{id}/rotate`: a new token, the old one stops (`api_key.rotate`);
//! - `DELETE /admin/api-keys/{id}`: revoke (`api_key.revoke`); the key stays listed.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::{Caller, request_meta};
use super::{ApiError, AppState};
use crate::accounts::policy::{self, AdminAction};
use crate::integrations::api_keys::{self, records::KeyRow};

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_list, list)
        .op(__path_create, create)
        .op(__path_show, show)
        .op(__path_revoke, revoke)
        .op(__path_rotate, rotate);
}

fn admin(caller: &Caller) -> Result<(), ApiError> {
    if policy::decide_admin(&caller.principal, AdminAction::ManageApiKeys).allowed() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only an admin may do this".into()))
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such API key".into())
}

/// The key as admins see it, with its token (only right after a creation or a rotation).
fn with_token(row: &KeyRow, token: &str) -> serde_json::Value {
    let mut view = row.view();
    view["token"] = json!(token);
    json!({ "api_key": view })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ApiKeyCreate)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    scopes: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/admin/api-keys",
    tag = "api-keys",
    security(("console" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created.", body = super::schemas::ApiKeysCreateResponse),
    )
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let name = api_keys::check_name(&body.name).map_err(|e| ApiError::BadRequest(e.0))?;
    let scopes = api_keys::check_scopes(&body.scopes).map_err(|e| ApiError::BadRequest(e.0))?;
    let (token, row) = state
        .api_keys
        .create(name, &scopes, caller.user().as_str())
        .await?;
    let entry = state.accounts.entry(
        &caller,
        "api_key.create",
        Some(("api_key", row.id.as_str())),
        None,
        Some(json!({ "api_key": row.view() })),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::Created().json(with_token(&row, &token)))
}

#[utoipa::path(
    get,
    path = "/admin/api-keys",
    tag = "api-keys",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ApiKeysListResponse),
    )
)]
async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let keys = state.api_keys.records.keys().await?;
    let keys: Vec<_> = keys.iter().map(KeyRow::view).collect();
    Ok(HttpResponse::Ok().json(json!({ "api_keys": keys })))
}

#[utoipa::path(
    get,
    path = "/admin/api-keys/{id}",
    tag = "api-keys",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ApiKeysShowResponse),
    )
)]
async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let row = state
        .api_keys
        .records
        .key(&id)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(json!({ "api_key": row.view() })))
}

#[utoipa::path(
    post,
    path = "/admin/api-keys/{id}/rotate",
    tag = "api-keys",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ApiKeysRotateResponse),
    )
)]
async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let Some((token, row)) = state.api_keys.rotate(&id).await? else {
        return Err(match state.api_keys.records.key(&id).await? {
            Some(_) => ApiError::Conflict("this API key is revoked: create a new one".into()),
            None => not_found(),
        });
    };
    let entry = state.accounts.entry(
        &caller,
        "api_key.rotate",
        Some(("api_key", row.id.as_str())),
        None,
        Some(json!({ "api_key": row.view() })),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::Ok().json(with_token(&row, &token)))
}

#[utoipa::path(
    delete,
    path = "/admin/api-keys/{id}",
    tag = "api-keys",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ApiKeysRevokeResponse),
    )
)]
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let before = state
        .api_keys
        .records
        .key(&id)
        .await?
        .ok_or_else(not_found)?;
    if !state.api_keys.revoke(&id).await? {
        return Err(ApiError::Conflict("this API key is already revoked".into()));
    }
    let row = state
        .api_keys
        .records
        .key(&id)
        .await?
        .ok_or_else(not_found)?;
    let entry = state.accounts.entry(
        &caller,
        "api_key.revoke",
        Some(("api_key", row.id.as_str())),
        Some(json!({ "api_key": before.view() })),
        Some(json!({ "api_key": row.view() })),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::Ok().json(json!({ "api_key": row.view() })))
}
