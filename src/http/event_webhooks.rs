//! `/api/v1/webhooks`: event webhook endpoints, their secrets, delivery log and replays (admins
//! and API keys with `webhooks:manage`, every change audited, a key's reads sampled; see docs/WEBHOOKS.md). Stable contract: `POST /webhooks` with
//! `{"url", "events"}` → `201 {"webhook": {"id", "secret", …}}`; `GET
//! /webhooks/{id}/deliveries`; `POST /webhooks/{id}/deliveries/{delivery}/replay`.
//!
//! Endpoints live in the store and the delivery lane reads them at each fan-out and attempt,
//! so a change applies at once on every node.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Actor, request_meta};
use super::{ApiError, AppState};
use crate::accounts::policy::{self, BusinessAction};
use crate::integrations::webhooks::records::{EndpointRow, LogCursor};
use crate::integrations::webhooks::signing;
use crate::integrations::webhooks::validate::{self, Invalid};

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_list, list)
        .op(__path_create, create)
        .op(__path_show, show)
        .op(__path_update, update)
        .op(__path_delete, delete)
        .op(__path_rotate, rotate)
        .op(__path_deliveries, deliveries)
        .op(__path_replay, replay)
        .op(__path_replay_range, replay_range);
}

/// Admins, and API keys with `webhooks:manage`.
fn admin(actor: &Actor) -> Result<(), ApiError> {
    if policy::decide_business(actor.who(), BusinessAction::ManageWebhooks).allowed() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(match actor {
            Actor::Person(_) => "only an admin may do this".into(),
            Actor::Key(_) => "this API key lacks the scope webhooks:manage".into(),
        }))
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
    ApiError::NotFound("no such webhook".into())
}

/// A team or channel filter: it must name one that exists.
fn check_filters(
    state: &AppState,
    team: Option<&str>,
    channel: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(team) = team
        && state
            .desk
            .directory
            .get()
            .team(&crate::domain::TeamId::new(team))
            .is_none()
    {
        return Err(ApiError::Unprocessable {
            code: "unknown_team",
            message: format!("`team`: no team {team:?}"),
        });
    }
    if let Some(channel) = channel
        && !state.settings.channels.contains_key(channel)
    {
        return Err(ApiError::Unprocessable {
            code: "unknown_channel",
            message: format!("`channel`: no channel {channel:?}"),
        });
    }
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = WebhookCreate)]
struct CreateBody {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "event-webhooks",
    security(("console" = []), ("business" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created.", body = super::schemas::EventWebhooksCreateResponse),
    )
)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    admin(&actor)?;
    let body = body.into_inner();
    let settings = &state.webhooks.settings;
    let addresses = &state.webhooks.addresses;
    let url = validate::url(&body.url, settings.allow_http, |ip| {
        addresses.address_allowed(ip)
    })
    .map_err(refused)?;
    let events = validate::event_types(&body.events).map_err(refused)?;
    let description = validate::description(body.description.as_deref()).map_err(refused)?;
    check_filters(&state, body.team.as_deref(), body.channel.as_deref())?;
    let records = &state.webhooks.records;
    if records.endpoints().await?.len() >= settings.max_endpoints {
        return Err(ApiError::Conflict(format!(
            "at most {} webhooks (event_webhooks.max_endpoints)",
            settings.max_endpoints
        )));
    }
    let now = now_ms();
    let endpoint = EndpointRow {
        id: format!("wh_{}", uuid::Uuid::now_v7().simple()),
        url,
        events: serde_json::to_string(&events).unwrap_or_else(|_| "[]".into()),
        team: body.team,
        channel: body.channel,
        description,
        secret: signing::new_secret(),
        previous_secret: None,
        previous_secret_until: None,
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    records.insert_endpoint(&endpoint).await?;
    subscription_changed(&state).await;
    let view = endpoint.view(now);
    let entry = actor.entry(
        &state,
        "webhook.create",
        Some(("webhook", &endpoint.id)),
        None,
        Some(view.clone()),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    let mut shown = view;
    // Shown this once.
    shown["secret"] = Value::String(endpoint.secret);
    Ok(HttpResponse::Created().json(json!({ "webhook": shown })))
}

#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "event-webhooks",
    security(("console" = []), ("business" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::EventWebhooksListResponse),
    )
)]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    admin(&actor)?;
    actor.audit_read(&req, &state).await;
    let now = now_ms();
    let webhooks: Vec<Value> = state
        .webhooks
        .records
        .endpoints()
        .await?
        .iter()
        .map(|e| e.view(now))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "webhooks": webhooks })))
}

async fn load(state: &AppState, id: &str) -> Result<EndpointRow, ApiError> {
    state
        .webhooks
        .records
        .endpoint(id)
        .await?
        .ok_or_else(not_found)
}

#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "event-webhooks",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::EventWebhooksShowResponse),
    )
)]
async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&actor)?;
    actor.audit_read(&req, &state).await;
    let endpoint = load(&state, &path).await?;
    Ok(HttpResponse::Ok().json(json!({ "webhook": endpoint.view(now_ms()) })))
}

/// A field of a PATCH body: absent (unchanged), null (cleared) or a string.
fn optional_text(body: &Value, field: &str) -> Result<Option<Option<String>>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(ApiError::BadRequest(format!(
            "`{field}` must be a string or null"
        ))),
    }
}

/// Change the URL, event types, filters, description, or enable/disable it. Enabling clears
/// the lane's reason and failure clock: pending deliveries resume.
#[utoipa::path(
    patch,
    path = "/webhooks/{id}",
    tag = "event-webhooks",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path)),
    request_body = Object,
    responses(
        (status = 200, description = "OK.", body = super::schemas::EventWebhooksUpdateResponse),
    )
)]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    admin(&actor)?;
    let body = body.into_inner();
    if !body.is_object() {
        return Err(ApiError::BadRequest("the body must be an object".into()));
    }
    let before = load(&state, &path).await?;
    let mut after = before.clone();
    let allow_http = state.webhooks.settings.allow_http;
    let addresses = &state.webhooks.addresses;
    match body.get("url") {
        None => {}
        Some(Value::String(url)) => {
            after.url = validate::url(url, allow_http, |ip| addresses.address_allowed(ip))
                .map_err(refused)?
        }
        Some(_) => return Err(ApiError::BadRequest("`url` must be a string".into())),
    }
    if let Some(events) = body.get("events") {
        let events: Vec<String> = serde_json::from_value(events.clone())
            .map_err(|_| ApiError::BadRequest("`events` must be an array of strings".into()))?;
        let events = validate::event_types(&events).map_err(refused)?;
        after.events = serde_json::to_string(&events).unwrap_or_else(|_| "[]".into());
    }
    if let Some(team) = optional_text(&body, "team")? {
        after.team = team;
    }
    if let Some(channel) = optional_text(&body, "channel")? {
        after.channel = channel;
    }
    if let Some(description) = optional_text(&body, "description")? {
        after.description = validate::description(description.as_deref()).map_err(refused)?;
    }
    match body.get("enabled") {
        None => {}
        Some(Value::Bool(enabled)) => {
            if *enabled && !before.enabled {
                after.disabled_reason = None;
                after.failing_since = None;
            } else if !*enabled && before.enabled {
                after.disabled_reason = Some("disabled by an admin".into());
            }
            after.enabled = *enabled;
        }
        Some(_) => return Err(ApiError::BadRequest("`enabled` must be a boolean".into())),
    }
    // Only a filter being changed must name something that exists now.
    check_filters(
        &state,
        after.team.as_deref().filter(|_| after.team != before.team),
        after
            .channel
            .as_deref()
            .filter(|_| after.channel != before.channel),
    )?;
    let now = now_ms();
    after.updated_at = now;
    if !state.webhooks.records.update_endpoint(&after).await? {
        return Err(not_found());
    }
    subscription_changed(&state).await;
    let view = after.view(now);
    let entry = actor.entry(
        &state,
        "webhook.update",
        Some(("webhook", &after.id)),
        Some(before.view(now)),
        Some(view.clone()),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::Ok().json(json!({ "webhook": view })))
}

#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "event-webhooks",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Done; no body."),
    )
)]
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&actor)?;
    let before = load(&state, &path).await?;
    if !state.webhooks.records.delete_endpoint(&before.id).await? {
        return Err(not_found());
    }
    subscription_changed(&state).await;
    let entry = actor.entry(
        &state,
        "webhook.delete",
        Some(("webhook", &before.id)),
        Some(before.view(now_ms())),
        None,
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::NoContent().finish())
}

/// A new secret, shown once; the previous one keeps signing (both signatures on every
/// delivery) for `event_webhooks.rotation_grace_ms`, so receivers can switch without a gap.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/rotate",
    tag = "event-webhooks",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::EventWebhooksRotateResponse),
    )
)]
async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&actor)?;
    let mut endpoint = load(&state, &path).await?;
    let now = now_ms();
    let grace = i64::try_from(state.webhooks.settings.rotation_grace_ms).unwrap_or(i64::MAX / 4);
    let secret = signing::new_secret();
    endpoint.previous_secret = Some(std::mem::replace(&mut endpoint.secret, secret.clone()));
    endpoint.previous_secret_until = Some(now + grace);
    endpoint.updated_at = now;
    if !state.webhooks.records.update_endpoint(&endpoint).await? {
        return Err(not_found());
    }
    let entry = actor.entry(
        &state,
        "webhook.rotate_secret",
        Some(("webhook", &endpoint.id)),
        None,
        Some(json!({ "previous_secret_expires_at": now + grace })),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    let mut shown = endpoint.view(now);
    shown["secret"] = Value::String(secret);
    Ok(HttpResponse::Ok().json(json!({ "webhook": shown })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LogQuery {
    #[serde(default)]
    limit: Option<i64>,
    /// The `next` of the previous page.
    #[serde(default)]
    before: Option<String>,
}

/// The delivery log, newest first: state, attempts, the last answer's status, latency and
/// body excerpt (≤ 1 KB), paged by `before` (the previous page's `next`).
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "event-webhooks",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path), LogQuery),
    responses(
        (status = 200, description = "OK.", body = super::schemas::EventWebhooksDeliveriesResponse),
    )
)]
async fn deliveries(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    admin(&actor)?;
    actor.audit_read(&req, &state).await;
    let endpoint = load(&state, &path).await?;
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let before = match &query.before {
        None => None,
        Some(raw) => Some(
            LogCursor::decode(raw)
                .ok_or_else(|| ApiError::BadRequest("`before` is not a page cursor".into()))?,
        ),
    };
    let rows = state
        .webhooks
        .records
        .deliveries(&endpoint.id, before.as_ref(), limit)
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last())
        .flatten()
        .map(|r| {
            LogCursor {
                created_at: r.created_at,
                id: r.id.clone(),
            }
            .encode()
        });
    let deliveries: Vec<Value> = rows.iter().map(|r| r.view()).collect();
    Ok(HttpResponse::Ok().json(json!({ "deliveries": deliveries, "next": next })))
}

/// Send one delivery's event again (a new delivery, same `webhook-id`), whatever its state.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/deliveries/{delivery}/replay",
    tag = "event-webhooks",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path), ("delivery" = String, Path)),
    responses(
        (status = 202, description = "Accepted.", body = super::schemas::EventWebhooksReplayResponse),
    )
)]
async fn replay(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    admin(&actor)?;
    let (id, delivery) = path.into_inner();
    let endpoint = load(&state, &id).await?;
    let Some(new) = state
        .webhooks
        .records
        .replay(&endpoint.id, &delivery, now_ms())
        .await?
    else {
        return Err(ApiError::NotFound("no such delivery".into()));
    };
    let entry = actor.entry(
        &state,
        "webhook.replay",
        Some(("webhook", &endpoint.id)),
        None,
        Some(json!({ "delivery": delivery, "replay": new })),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::Accepted().json(json!({ "delivery": { "id": new, "replay_of": delivery } })))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RangeBody {
    /// RFC 3339.
    since: String,
    /// RFC 3339; absent: now.
    #[serde(default)]
    until: Option<String>,
    /// Only the deliveries that failed.
    #[serde(default)]
    failed_only: bool,
}

/// The most deliveries one range replay queues.
const MAX_RANGE_REPLAY: i64 = 10_000;

/// Send again every delivery created in `[since, until)` (only the failed ones with
/// `failed_only`), at most 10,000 per call.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/replay",
    tag = "event-webhooks",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path)),
    request_body = RangeBody,
    responses(
        (status = 202, description = "Accepted.", body = super::schemas::EventWebhooksReplayRangeResponse),
    )
)]
async fn replay_range(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    body: web::Json<RangeBody>,
) -> Result<HttpResponse, ApiError> {
    admin(&actor)?;
    let endpoint = load(&state, &path).await?;
    let time = |field: &str, raw: &str| {
        chrono::DateTime::parse_from_rfc3339(raw)
            .map(|t| t.timestamp_millis())
            .map_err(|_| ApiError::BadRequest(format!("`{field}` must be an RFC 3339 time")))
    };
    let now = now_ms();
    let since = time("since", &body.since)?;
    let until = match &body.until {
        Some(raw) => time("until", raw)?,
        None => now + 1,
    };
    if until <= since {
        return Err(ApiError::BadRequest("`until` must be after `since`".into()));
    }
    let replayed = state
        .webhooks
        .records
        .replay_range(
            &endpoint.id,
            since,
            until,
            body.failed_only,
            now,
            MAX_RANGE_REPLAY,
        )
        .await?;
    let entry = actor.entry(
        &state,
        "webhook.replay_range",
        Some(("webhook", &endpoint.id)),
        None,
        Some(json!({ "since": since, "until": until, "failed_only": body.failed_only, "replayed": replayed })),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::Accepted().json(json!({ "replayed": replayed })))
}

/// After a change to the endpoints: whether steps write events changes here at once (the other
/// nodes follow within a poll interval). A failed read leaves it to the next poll.
async fn subscription_changed(state: &AppState) {
    if let Err(e) = state.webhooks.refresh().await {
        tracing::warn!(error = %e, "event webhooks: cannot read the endpoints");
    }
}
