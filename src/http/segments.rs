//! Segments over REST (docs/CONSOLE_API.md, "Segments"): named CEL filters over the contact
//! variables ([`crate::crm::segment`]), for supervisors and admins.
//!
//! - `POST /api/v1/segments {"name", "filter"}` → `201 {"segment": {"id", "name", "filter",
//!   "count", …}}` (audited `segment.create`);
//! - `GET /api/v1/segments` → `{"segments": [...]}` (without counts: each costs a scan);
//! - `GET /api/v1/segments/{id}` → `{"segment": {…, "count"}}`;
//! - `PATCH /api/v1/segments/{id}` with any of `name`, `filter` (audited `segment.update`);
//!   `DELETE /api/v1/segments/{id}` → 204 (audited `segment.delete`);
//! - `GET /api/v1/segments/{id}/contacts?limit=&cursor=` → `{"contacts", "next_cursor"}`: its
//!   members in id order, masked like the contacts list;
//! - `POST /api/v1/segments/preview {"filter"}` → `{"count", "sample"}`: the live count of a
//!   filter being written (the console's editor), with its first members.
//!
//! Membership is evaluated at the time of the request (`now`), so `contact.last_inbound_at >
//! now - duration("720h")` moves with the clock; a contact's edit shows at once.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::accounts::policy::{self, ContactsAction};
use crate::crm::segment::SegmentFilter;
use crate::crm::segments::{SegmentRow, Written};

/// The longest segment name, in characters.
const NAME_MAX: usize = 100;
/// Members shown with a preview's count.
const SAMPLE: usize = 5;

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_list, list)
        .op(__path_create, create)
        .op(__path_preview, preview)
        .op(__path_read, read)
        .op(__path_update, update)
        .op(__path_delete, delete)
        .op(__path_members, members);
}

fn allowed(caller: &Caller) -> Result<(), ApiError> {
    if policy::decide_contacts(&caller.principal, ContactsAction::Browse).allowed() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only supervisors and admins work with segments".into(),
        ))
    }
}

fn name_of(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::BadRequest("`name` is empty".into()));
    }
    if name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "`name` takes at most {NAME_MAX} characters and no control characters"
        )));
    }
    Ok(name.to_string())
}

fn filter_of(filter: &str) -> Result<SegmentFilter, ApiError> {
    SegmentFilter::compile(filter).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn view(row: &SegmentRow, count: Option<u64>) -> Value {
    let mut v = json!({
        "id": row.id,
        "name": row.name,
        "filter": row.filter,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    });
    if let Some(count) = count {
        v["count"] = json!(count);
    }
    v
}

fn taken(name: &str) -> ApiError {
    ApiError::Conflict(format!("a segment is already named \"{name}\""))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSegment {
    name: String,
    filter: String,
}

#[utoipa::path(
    post,
    path = "/segments",
    tag = "segments",
    security(("console" = [])),
    request_body = NewSegment,
    responses(
        (status = 201, description = "Created.", body = super::schemas::SegmentsCreateResponse),
    )
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewSegment>,
) -> Result<HttpResponse, ApiError> {
    allowed(&caller)?;
    let name = name_of(&body.name)?;
    let filter = filter_of(&body.filter)?;
    let now = Utc::now();
    let row = SegmentRow {
        id: format!("seg_{}", uuid::Uuid::now_v7().simple()),
        name,
        filter: filter.source().to_string(),
        created_by: Some(caller.user().as_str().to_string()),
        created_at: now.timestamp_millis(),
        updated_at: now.timestamp_millis(),
    };
    if state.segments.create(&row).await? == Written::NameTaken {
        return Err(taken(&row.name));
    }
    audit(
        &req,
        &state,
        &caller,
        "segment.create",
        &row.id,
        None,
        Some(view(&row, None)),
    )
    .await?;
    let count = state.segments.count(&filter, now).await?;
    Ok(HttpResponse::Created().json(json!({ "segment": view(&row, Some(count)) })))
}

#[utoipa::path(
    get,
    path = "/segments",
    tag = "segments",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::SegmentsListResponse),
    )
)]
async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    allowed(&caller)?;
    let rows = state.segments.list().await?;
    let segments: Vec<Value> = rows.iter().map(|r| view(r, None)).collect();
    Ok(HttpResponse::Ok().json(json!({ "segments": segments })))
}

async fn found(state: &AppState, id: &str) -> Result<SegmentRow, ApiError> {
    let missing = || ApiError::NotFound("no such segment".into());
    if id.is_empty() || id.len() > 64 {
        return Err(missing());
    }
    state.segments.get(id).await?.ok_or_else(missing)
}

/// A stored filter, compiled (one saved by an older version that no longer compiles is a
/// clear error, not a crash).
fn stored_filter(row: &SegmentRow) -> Result<SegmentFilter, ApiError> {
    SegmentFilter::compile(&row.filter).map_err(|e| {
        ApiError::Conflict(format!(
            "the segment's saved filter no longer compiles: {e}"
        ))
    })
}

#[utoipa::path(
    get,
    path = "/segments/{id}",
    tag = "segments",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::SegmentsReadResponse),
    )
)]
async fn read(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    allowed(&caller)?;
    let row = found(&state, &id).await?;
    let count = state
        .segments
        .count(&stored_filter(&row)?, Utc::now())
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "segment": view(&row, Some(count)) })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentPatch {
    name: Option<String>,
    filter: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/segments/{id}",
    tag = "segments",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = SegmentPatch,
    responses(
        (status = 200, description = "OK.", body = super::schemas::SegmentsUpdateResponse),
    )
)]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<SegmentPatch>,
) -> Result<HttpResponse, ApiError> {
    allowed(&caller)?;
    let before = found(&state, &id).await?;
    let mut row = before.clone();
    if let Some(name) = &body.name {
        row.name = name_of(name)?;
    }
    let filter = match &body.filter {
        Some(f) => filter_of(f)?,
        None => stored_filter(&row)?,
    };
    row.filter = filter.source().to_string();
    let now = Utc::now();
    row.updated_at = now.timestamp_millis();
    match state.segments.update(&row).await? {
        Written::Done => {}
        Written::NameTaken => return Err(taken(&row.name)),
        Written::Missing => return Err(ApiError::NotFound("no such segment".into())),
    }
    audit(
        &req,
        &state,
        &caller,
        "segment.update",
        &row.id,
        Some(view(&before, None)),
        Some(view(&row, None)),
    )
    .await?;
    let count = state.segments.count(&filter, now).await?;
    Ok(HttpResponse::Ok().json(json!({ "segment": view(&row, Some(count)) })))
}

#[utoipa::path(
    delete,
    path = "/segments/{id}",
    tag = "segments",
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
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    allowed(&caller)?;
    let row = found(&state, &id).await?;
    if !state.segments.delete(&row.id).await? {
        return Err(ApiError::NotFound("no such segment".into()));
    }
    audit(
        &req,
        &state,
        &caller,
        "segment.delete",
        &row.id,
        Some(view(&row, None)),
        None,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MembersQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/segments/{id}/contacts",
    tag = "segments",
    security(("console" = [])),
    params(("id" = String, Path), MembersQuery),
    responses(
        (status = 200, description = "OK.", body = super::schemas::SegmentsMembersResponse),
    )
)]
async fn members(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<MembersQuery>,
) -> Result<HttpResponse, ApiError> {
    allowed(&caller)?;
    let row = found(&state, &id).await?;
    let filter = stored_filter(&row)?;
    let max = state.settings.console.max_page_size;
    let limit = query.limit.unwrap_or(50).clamp(1, max.max(1));
    let cursor = match query.cursor.as_deref() {
        Some(c) if c.is_empty() || c.len() > 512 => {
            return Err(ApiError::BadRequest(
                "`cursor` is not a cursor this API handed out".into(),
            ));
        }
        other => other,
    };
    let (listed, next) = state
        .segments
        .members(&filter, Utc::now(), cursor, limit)
        .await?;
    let contacts = super::contacts::listing_views(&state, &listed).await?;
    Ok(HttpResponse::Ok().json(json!({ "contacts": contacts, "next_cursor": next })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preview {
    filter: String,
}

#[utoipa::path(
    post,
    path = "/segments/preview",
    tag = "segments",
    security(("console" = [])),
    request_body = Preview,
    responses(
        (status = 200, description = "OK.", body = super::schemas::SegmentsPreviewResponse),
    )
)]
async fn preview(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<Preview>,
) -> Result<HttpResponse, ApiError> {
    allowed(&caller)?;
    let filter = filter_of(&body.filter)?;
    let now = Utc::now();
    let count = state.segments.count(&filter, now).await?;
    let (sample, _) = state.segments.members(&filter, now, None, SAMPLE).await?;
    let sample = super::contacts::listing_views(&state, &sample).await?;
    Ok(HttpResponse::Ok().json(json!({ "count": count, "sample": sample })))
}

async fn audit(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    action: &str,
    id: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), ApiError> {
    let entry = state.accounts.entry(
        caller,
        action,
        Some(("segment", id)),
        before,
        after,
        &super::auth::request_meta(req, state),
    );
    state.store.append_audit(&entry).await?;
    Ok(())
}
