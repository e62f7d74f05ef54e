//! Custom contact field definitions over REST (docs/CONSOLE_API.md, "Contact fields"):
//!
//! - `GET /api/v1/contact-fields`: the definitions, for every signed-in user (the console
//!   renders a field's input from its type and shows its label);
//! - `GET`, `POST /api/v1/admin/contact-fields`, `PATCH`, `DELETE
//!   /api/v1/admin/contact-fields/{key}`: admins list, define, change (label, description, a
//!   choice's options; never the key or the type) and delete them. Every change is written
//!   with its audit entry (`contact_field.create`, `.update`, `.delete`) and bumps the
//!   directory version, so every node checks contact writes against it at once
//!   ([`crate::accounts::service::Accounts::refresh`]). Deleting a definition leaves the
//!   values on contacts: the key is free text again.
//!
//! The checks are [`crate::crm::fields`]'; a refusal is a 400 naming the property, a taken key
//! a 409. A definition's answer carries `warnings`: the bot questions saving answers (media, a
//! location) that the fields now defined cannot hold.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::admin::account_error;
use super::auth::{Caller, request_meta};
use super::{ApiError, AppState};
use crate::accounts::policy::{self, AdminAction};
use crate::crm::fields::{self, FieldChange, FieldDefinition, Invalid, NewField};

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_list, list)
        .op(__path_admin_list, admin_list)
        .op(__path_create, create)
        .op(__path_update, update)
        .op(__path_delete, delete);
}

fn admin(caller: &Caller) -> Result<(), ApiError> {
    if policy::decide_admin(&caller.principal, AdminAction::ManageContactFields).allowed() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only an admin may define contact fields".into(),
        ))
    }
}

fn bad(e: Invalid) -> ApiError {
    ApiError::BadRequest(format!("`{}`: {}", e.field, e.message))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn view(field: &FieldDefinition) -> Value {
    json!(field)
}

fn all(state: &AppState) -> Value {
    let people = state.desk.directory.get();
    let list: Vec<Value> = people.fields().all().map(view).collect();
    json!({ "fields": list })
}

/// The bot questions whose answers the definitions now in effect cannot hold (see
/// [`fields::question_mismatches`]), for the admin's answer.
fn warnings(state: &AppState) -> Vec<String> {
    let people = state.desk.directory.get();
    fields::question_mismatches(people.fields(), &state.reloader.live().question_fields())
}

/// Apply a change now on this node (the other nodes follow within a second); a failure is
/// logged: the change is stored and the refresher applies it on its next round.
async fn apply_now(state: &AppState) {
    if let Err(e) = state.accounts.refresh().await {
        tracing::warn!(error = %e, "contact fields changed; applying it failed, retrying shortly");
    }
}

#[utoipa::path(
    get,
    path = "/contact-fields",
    tag = "contacts",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ContactFieldsListResponse),
    )
)]
async fn list(state: web::Data<AppState>, _caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(all(&state)))
}

#[utoipa::path(
    get,
    path = "/admin/contact-fields",
    tag = "admin",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ContactFieldsListResponse),
    )
)]
async fn admin_list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    Ok(HttpResponse::Ok().json(all(&state)))
}

#[utoipa::path(
    post,
    path = "/admin/contact-fields",
    tag = "admin",
    security(("console" = [])),
    request_body = NewField,
    responses(
        (status = 201, description = "Created.", body = super::schemas::ContactFieldResponse),
    )
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewField>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let field = body.definition(now_ms()).map_err(bad)?;
    let people = state.desk.directory.get();
    if people.fields().get(&field.key).is_some() {
        return Err(ApiError::Conflict(format!(
            "`key`: a contact field {} is already defined",
            field.key
        )));
    }
    if people.fields().len() >= fields::DEFINITIONS_MAX {
        return Err(ApiError::Conflict(format!(
            "at most {} contact fields; delete one first",
            fields::DEFINITIONS_MAX
        )));
    }
    let entry = state.accounts.entry(
        &caller,
        "contact_field.create",
        Some(("contact_field", field.key.as_str())),
        None,
        Some(view(&field)),
        &request_meta(&req, &state),
    );
    state
        .store
        .save_contact_field(&field, true, Some(&entry))
        .await
        .map_err(account_error)?;
    apply_now(&state).await;
    Ok(
        HttpResponse::Created()
            .json(json!({ "field": view(&field), "warnings": warnings(&state) })),
    )
}

#[utoipa::path(
    patch,
    path = "/admin/contact-fields/{key}",
    tag = "admin",
    security(("console" = [])),
    params(("key" = String, Path)),
    request_body = FieldChange,
    responses(
        (status = 200, description = "OK.", body = super::schemas::ContactFieldResponse),
    )
)]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    key: web::Path<String>,
    body: web::Json<FieldChange>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let people = state.desk.directory.get();
    let before = people
        .fields()
        .get(key.as_str())
        .cloned()
        .ok_or_else(|| ApiError::NotFound("no such contact field".into()))?;
    let after = body.apply(&before, now_ms()).map_err(bad)?;
    if after == before {
        return Ok(
            HttpResponse::Ok().json(json!({ "field": view(&after), "warnings": warnings(&state) }))
        );
    }
    let entry = state.accounts.entry(
        &caller,
        "contact_field.update",
        Some(("contact_field", after.key.as_str())),
        Some(view(&before)),
        Some(view(&after)),
        &request_meta(&req, &state),
    );
    state
        .store
        .save_contact_field(&after, false, Some(&entry))
        .await
        .map_err(account_error)?;
    apply_now(&state).await;
    Ok(HttpResponse::Ok().json(json!({ "field": view(&after), "warnings": warnings(&state) })))
}

/// The values already on contacts stay: the key is free text again.
#[utoipa::path(
    delete,
    path = "/admin/contact-fields/{key}",
    tag = "admin",
    security(("console" = [])),
    params(("key" = String, Path)),
    responses(
        (status = 204, description = "Done; no body."),
    )
)]
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller)?;
    let people = state.desk.directory.get();
    let before = people
        .fields()
        .get(key.as_str())
        .cloned()
        .ok_or_else(|| ApiError::NotFound("no such contact field".into()))?;
    let entry = state.accounts.entry(
        &caller,
        "contact_field.delete",
        Some(("contact_field", before.key.as_str())),
        Some(view(&before)),
        None,
        &request_meta(&req, &state),
    );
    state
        .store
        .delete_contact_field(&before.key, Some(&entry))
        .await
        .map_err(account_error)?;
    apply_now(&state).await;
    Ok(HttpResponse::NoContent().finish())
}
