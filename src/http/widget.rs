//! The web chat widget's public API, `/api/v1/widget/*` (docs/CONSOLE_API.md, "Widget API"),
//! and the widget's script at `/widget.js`.
//!
//! Every request names its channel with the channel's website token (`X-Website-Token`; on the
//! websocket handshake `?website_token=`), and, once the visitor has a session, carries the
//! visitor's token (`Authorization: Bearer wcv_…`; on the handshake `?visitor_token=`). Wrong
//! tokens are 401 and count against the failed-authentication limits like any credential.
//!
//! CORS: a page may use the API only from the channel's `origins`. A preflight is answered
//! (with the CORS headers) for an origin some webchat channel lists; the request itself is
//! refused (403, no CORS headers) unless its channel lists its origin. A request without
//! `Origin` is not from a page of another site (curl, a server) and is allowed.
//!
//! Limits: requests per client address, sessions per address, messages per visitor
//! ([`crate::channels::webchat::limits`]): 429 with Retry-After.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channels::AttachmentChannel;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, Scope, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::channels::webchat::limits::Limits;
use crate::channels::webchat::records::{Visitor, WebchatRecords};
use crate::channels::webchat::wake::Wakeups;
use crate::channels::webchat::{self as wc, VisitorMessage};
use crate::config::{ChannelSettings, WebchatChannelSettings};
use crate::domain::{ChannelId, ChannelKind, CustomerId, HandoffRequest, TeamId};
use crate::intake::IntakeError;

/// The widget API's parts, shared by the HTTP workers.
pub struct Webchat {
    pub records: Arc<dyn WebchatRecords>,
    pub wakeups: Arc<Wakeups>,
    pub limits: Limits,
}

/// The widget's script (vanilla JS, its styles inside; see `widget/README.md`).
pub const WIDGET_JS: &str = include_str!("../../widget/widget.js");

/// `GET /widget.js`: the script a site embeds. Cached for an hour (it names no version).
pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        // Loaded by pages of other sites: allowed to be used cross-origin.
        .insert_header(("cross-origin-resource-policy", "cross-origin"))
        .body(WIDGET_JS)
}

/// The widget API's path prefix.
pub const PREFIX: &str = "/api/v1/widget";

/// The widget API's scope, its routes registered by [`routes`].
pub fn scope() -> Scope<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope(PREFIX)
        .wrap(super::headers::api_cache_control())
        .wrap(actix_web::middleware::from_fn(cors))
}

/// Every route of the widget API.
pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_create_session, create_session)
        .op(__path_send_message, send_message)
        .op(__path_attach, attach)
        .op(__path_transcript, transcript)
        .op(__path_status, status)
        .op(__path_offline, offline)
        .op(__path_media, media)
        .other(
            actix_web::http::Method::GET,
            "/ws",
            web::get().to(socket),
            "the widget's websocket (an upgrade, not REST)",
        );
}

/// The origin a handler found its channel allows: the response gets the CORS headers for it.
#[derive(Clone)]
struct AllowedOrigin(HeaderValue);

const ALLOWED_HEADERS: &str = "authorization, content-type, x-website-token";

/// Preflights, the per-address limit, and the CORS headers of answers whose channel allows the
/// page's origin.
async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::Internal("no app state".into()).into());
    };
    let origin = req.headers().get(header::ORIGIN).cloned();
    let listed = origin
        .as_ref()
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| any_channel_allows(&state, o));
    if req.method() == actix_web::http::Method::OPTIONS {
        let response = match (&origin, listed) {
            (Some(origin), true) => HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                .insert_header((header::VARY, "Origin"))
                .finish(),
            _ => HttpResponse::Forbidden().finish(),
        };
        return Ok(req.into_response(response).map_into_right_body());
    }
    let address = super::auth::client_ip(req.request(), &state);
    if let Err(wait) = state.webchat.limits.request(address) {
        let mut response = actix_web::ResponseError::error_response(&ApiError::TooManyRequests {
            retry_after_seconds: wait,
        });
        if let (Some(origin), true) = (&origin, listed) {
            add_cors(response.headers_mut(), origin.clone());
        }
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    let allowed = response
        .request()
        .extensions()
        .get::<AllowedOrigin>()
        .cloned();
    if let Some(AllowedOrigin(origin)) = allowed {
        add_cors(response.headers_mut(), origin);
    }
    Ok(response.map_into_left_body())
}

fn add_cors(headers: &mut actix_web::http::header::HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
}

fn webchat_channels(state: &AppState) -> impl Iterator<Item = (&String, &WebchatChannelSettings)> {
    state
        .settings
        .channels
        .iter()
        .filter(|(_, c)| c.kind == ChannelKind::Webchat)
        .filter_map(|(id, c)| c.webchat.as_ref().map(|w| (id, w)))
}

fn lists(widget: &WebchatChannelSettings, origin: &str) -> bool {
    let Some(origin) = super::origin::normalize(origin) else {
        return false;
    };
    widget
        .origins
        .iter()
        .filter_map(|o| super::origin::normalize(o))
        .any(|o| o == origin)
}

fn any_channel_allows(state: &AppState, origin: &str) -> bool {
    webchat_channels(state).any(|(_, w)| lists(w, origin))
}

/// The channel a request is for, by its website token (401 otherwise), with its origin checked
/// (403 for a page of a site the channel does not list).
struct Site<'a> {
    id: ChannelId,
    channel: &'a ChannelSettings,
}

fn site<'a>(
    req: &HttpRequest,
    state: &'a AppState,
    token: Option<&str>,
) -> Result<Site<'a>, ApiError> {
    let given = token
        .map(str::to_string)
        .or_else(|| {
            req.headers()
                .get(wc::WEBSITE_TOKEN_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let found = super::auth::guarded(req, state, "website_token", &given, |given| {
        webchat_channels(state)
            .find(|(_, w)| {
                constant_time_eq(given.as_bytes(), w.website_token.expose_secret().as_bytes())
            })
            .map(|(id, _)| id.clone())
    })
    .map_err(|e| match e {
        ApiError::Unauthorized(_) => ApiError::Unauthorized("unknown website token".into()),
        other => other,
    })?;
    let channel = state
        .settings
        .channels
        .get(&found)
        .ok_or_else(|| ApiError::Internal("the channel went away".into()))?;
    let widget = channel
        .webchat
        .as_ref()
        .ok_or_else(|| ApiError::Internal("a webchat channel without settings".into()))?;
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let text = origin.to_str().unwrap_or("");
        if !lists(widget, text) {
            return Err(ApiError::Forbidden(format!(
                "origin {text:?} may not use this widget (add it to the channel's webchat.origins)"
            )));
        }
        req.extensions_mut().insert(AllowedOrigin(origin.clone()));
    }
    Ok(Site {
        id: ChannelId::new(found),
        channel,
    })
}

/// The visitor of a request: `Authorization: Bearer wcv_…` (or `token` on the handshake), of
/// the request's channel.
async fn visitor(
    req: &HttpRequest,
    state: &AppState,
    site: &Site<'_>,
    token: Option<&str>,
) -> Result<Visitor, ApiError> {
    let given = token
        .map(str::to_string)
        .or_else(|| {
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim().to_string())
        })
        .unwrap_or_default();
    let digest = hex::encode(crate::accounts::secrets::digest(&given));
    let now = chrono::Utc::now().timestamp_millis();
    let days = state.settings.webchat.visitor_days;
    let found = if given.starts_with(wc::VISITOR_TOKEN_PREFIX) {
        state
            .webchat
            .records
            .visitor(&digest)
            .await?
            .filter(|v| v.channel == site.id.as_str())
            // An expired token is unknown: the widget starts a new session.
            .filter(|v| !wc::visitor_expired(v.last_seen_at, now, days))
    } else {
        None
    };
    // Used: the token lasts from now (written at most once an hour). A failed write only
    // shortens the lifetime; the request goes on.
    if let Some(v) = found
        .as_ref()
        .filter(|v| wc::renew_due(v.last_seen_at, now))
        && let Err(e) = state
            .webchat
            .records
            .touch_visitor(&v.token_sha256, now)
            .await
    {
        tracing::warn!(error = %e, "widget: a visitor's last use not recorded");
    }
    super::auth::guarded(req, state, "visitor_token", &given, |_| found).map_err(|e| match e {
        ApiError::Unauthorized(_) => ApiError::Unauthorized(
            "unknown visitor token: start a session (POST /api/v1/widget/sessions)".into(),
        ),
        other => other,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

fn too_many(wait: u64) -> ApiError {
    ApiError::TooManyRequests {
        retry_after_seconds: wait,
    }
}

/// A JSON body of at most 16 KB (the API's JSON limit is larger; a visitor needs less).
async fn json_body<T: serde::de::DeserializeOwned>(body: web::Bytes) -> Result<T, ApiError> {
    if body.len() > 16 * 1024 {
        return Err(ApiError::PayloadTooLarge { limit: 16 * 1024 });
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("body: {e}")))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewSession {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// `POST /api/v1/widget/sessions` `{name?, email?}` → 201 `{visitor_token, customer_id}`.
#[utoipa::path(
    post,
    path = "/sessions",
    tag = "widget",
    security(("website_token" = [])),
    responses(
        (status = 201, description = "Created.", body = super::schemas::WidgetCreateSessionResponse),
    )
)]
async fn create_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let site = site(&req, &state, None)?;
    let form: NewSession = if body.is_empty() {
        NewSession::default()
    } else {
        json_body(body).await?
    };
    let name = wc::form_field(form.name.as_deref(), wc::NAME_MAX, false).map_err(|_| {
        ApiError::BadRequest(format!("`name`: at most {} characters", wc::NAME_MAX))
    })?;
    let email = wc::form_field(form.email.as_deref(), wc::EMAIL_MAX, true)
        .map_err(|_| ApiError::BadRequest("`email` is not an email address".into()))?;
    state
        .webchat
        .limits
        .session(super::auth::client_ip(&req, &state))
        .map_err(too_many)?;
    let token = crate::accounts::secrets::new_token(wc::VISITOR_TOKEN_PREFIX);
    let visitor = wc::new_visitor();
    let customer = wc::customer_id(&site.id, &visitor);
    let now = chrono::Utc::now().timestamp_millis();
    state
        .webchat
        .records
        .create_visitor(&Visitor {
            token_sha256: hex::encode(crate::accounts::secrets::digest(&token)),
            channel: site.id.to_string(),
            visitor,
            customer: customer.to_string(),
            name,
            email,
            created_at: now,
            last_seen_at: now,
        })
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "visitor_token": token,
        "customer_id": customer,
        "channel": site.id,
    })))
}

/// `POST /api/v1/widget/messages` `{client_id, text | choice: {id, title}}`: recorded through
/// the intake before the answer (202); the same `client_id` again is recognised (202, nothing
/// new).
#[utoipa::path(
    post,
    path = "/messages",
    tag = "widget",
    security(("website_token" = [], "visitor" = [])),
    responses(
        (status = 202, description = "Accepted.", body = super::schemas::WidgetSendMessageResponse),
    )
)]
async fn send_message(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let site = site(&req, &state, None)?;
    let visitor = visitor(&req, &state, &site, None).await?;
    let message: VisitorMessage = json_body(body).await?;
    let content = message
        .content(state.settings.webchat.max_text_chars)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state
        .webchat
        .limits
        .message(&visitor.customer)
        .map_err(too_many)?;
    let duplicate = record(&state, &site, &visitor, &message.client_id, content, None).await?;
    Ok(HttpResponse::Accepted().json(json!({
        "client_id": message.client_id,
        "duplicate": duplicate,
    })))
}

/// Record one visitor message through the intake (durable before the answer); true when it was
/// recorded before (a retry).
async fn record(
    state: &AppState,
    site: &Site<'_>,
    visitor: &Visitor,
    client_id: &str,
    content: crate::domain::MessageContent,
    handoff: Option<HandoffRequest>,
) -> Result<bool, ApiError> {
    let envelope = wc::envelope(
        &site.channel.account(),
        wc::message_id(&site.id, &visitor.visitor, client_id),
        wc::customer(
            CustomerId::new(visitor.customer.clone()),
            visitor.name.clone(),
            visitor.email.clone(),
        ),
        content,
        chrono::Utc::now().timestamp(),
        handoff,
    );
    let retry_after_seconds = state.settings.intake.retry_after_seconds;
    match state.intake.accept(vec![envelope]).await {
        Ok(report) => Ok(report.duplicates > 0),
        Err(IntakeError::Overloaded) => Err(ApiError::Overloaded {
            retry_after_seconds,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "widget message not recorded; answering 503");
            Err(ApiError::Unavailable {
                retry_after_seconds,
            })
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct After {
    #[serde(default)]
    after: Option<i64>,
}

/// `GET /api/v1/widget/transcript?after=N` → `{messages: [...], last_seq}`: what the visitor
/// may see of their conversations after sequence N (all of it without `after`), oldest first,
/// at most `webchat.page_size`.
#[utoipa::path(
    get,
    path = "/transcript",
    tag = "widget",
    security(("website_token" = [], "visitor" = [])),
    params(After),
    responses(
        (status = 200, description = "OK.", body = super::schemas::WidgetTranscriptResponse),
    )
)]
async fn transcript(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<After>,
) -> Result<HttpResponse, ApiError> {
    let site = site(&req, &state, None)?;
    let visitor = visitor(&req, &state, &site, None).await?;
    let after = query.after.unwrap_or(0).max(0);
    let (messages, last) = page(&state, &visitor.customer, after).await?;
    Ok(HttpResponse::Ok().json(json!({
        "messages": messages,
        "last_seq": last,
        "name": visitor.name,
    })))
}

/// One page of a visitor's transcript after `after`, and the last sequence it covers.
async fn page(state: &AppState, customer: &str, after: i64) -> Result<(Vec<Value>, i64), ApiError> {
    let rows = state
        .webchat
        .records
        .transcript(customer, after, state.settings.webchat.page_size)
        .await?;
    let last = rows.last().map_or(after, |r| r.seq);
    Ok((rows.iter().filter_map(wc::visible).collect(), last))
}

/// `GET /api/v1/widget/status` → `{status: "open" | "offline", within_hours, agents_online}`:
/// open when the channel's bot is within its business hours (`hours`; none: always) and an
/// agent of the channel's `webchat.team` (none: of any team) is online.
#[utoipa::path(
    get,
    path = "/status",
    tag = "widget",
    security(("website_token" = [], "visitor" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::WidgetStatusResponse),
    )
)]
async fn status(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let site = site(&req, &state, None)?;
    let within_hours = match state
        .settings
        .bots
        .get(&site.channel.bot)
        .and_then(|b| b.hours.as_ref())
    {
        Some(hours) => crate::bot::hours::BusinessHours::new(hours)
            .map(|h| h.is_open(chrono::Utc::now()))
            .unwrap_or(true),
        None => true,
    };
    let team = site
        .channel
        .webchat
        .as_ref()
        .and_then(|w| w.team.as_ref())
        .map(|t| crate::domain::TeamId::new(t.clone()));
    let snapshot = state
        .desk
        .assignments
        .snapshot()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let agents_online = snapshot
        .agents
        .iter()
        .filter(|a| a.presence == crate::domain::Presence::Online)
        .filter(|a| team.as_ref().is_none_or(|t| a.teams.contains(t)))
        .count();
    let open = within_hours && agents_online > 0;
    Ok(HttpResponse::Ok().json(json!({
        "status": if open { "open" } else { "offline" },
        "within_hours": within_hours,
        "agents_online": agents_online > 0,
    })))
}

/// `POST /api/v1/widget/offline` `{client_id, name?, email?, message}`: the visitor's message
/// when nobody is there, recorded like any message (with the name and email kept on the
/// visitor), and handed at once, without the bot, to the queue of the channel's `webchat.team`
/// (none: the routing decides), where the agents find it waiting.
#[utoipa::path(
    post,
    path = "/offline",
    tag = "widget",
    security(("website_token" = [], "visitor" = [])),
    responses(
        (status = 202, description = "Accepted.", body = super::schemas::WidgetOfflineResponse),
    )
)]
async fn offline(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Form {
        client_id: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        email: Option<String>,
        message: String,
    }
    let site = site(&req, &state, None)?;
    let mut visitor = visitor(&req, &state, &site, None).await?;
    let form: Form = json_body(body).await?;
    let name = wc::form_field(form.name.as_deref(), wc::NAME_MAX, false).map_err(|_| {
        ApiError::BadRequest(format!("`name`: at most {} characters", wc::NAME_MAX))
    })?;
    let email = wc::form_field(form.email.as_deref(), wc::EMAIL_MAX, true)
        .map_err(|_| ApiError::BadRequest("`email` is not an email address".into()))?;
    let message = VisitorMessage {
        client_id: form.client_id.clone(),
        text: Some(form.message.clone()),
        choice: None,
    };
    let mut content = message
        .content(state.settings.webchat.max_text_chars)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state
        .webchat
        .limits
        .message(&visitor.customer)
        .map_err(too_many)?;
    if name.is_some() || email.is_some() {
        state
            .webchat
            .records
            .update_visitor(&visitor.token_sha256, name.as_deref(), email.as_deref())
            .await?;
        visitor.name = name.or(visitor.name);
        visitor.email = email.or(visitor.email);
    }
    // The agents see who to answer and how to reach them, with the message.
    if let (crate::domain::MessageContent::Text { body }, Some(email)) =
        (&mut content, &visitor.email)
    {
        *body = format!("{body}\n\n({email})");
    }
    // Nobody is there to chat: the message waits in the team's queue for the agents (the
    // channel's `webchat.team`, else the routing's choice), the bot is skipped.
    let handoff = HandoffRequest {
        team: site
            .channel
            .webchat
            .as_ref()
            .and_then(|w| w.team.as_ref())
            .map(|t| TeamId::new(t.clone())),
        reason: "web chat offline form".into(),
    };
    let duplicate = record(
        &state,
        &site,
        &visitor,
        &form.client_id,
        content,
        Some(handoff),
    )
    .await?;
    Ok(HttpResponse::Accepted().json(json!({
        "client_id": form.client_id,
        "duplicate": duplicate,
    })))
}

/// `POST /api/v1/widget/attachments` (raw bytes; `?client_id=…&filename=…`): a visitor's file,
/// its type from its bytes and limited like an agent's (`media::limits`), kept in the media
/// store, recorded as the visitor's media message; agents see it like any customer's file.
#[utoipa::path(
    post,
    path = "/attachments",
    tag = "widget",
    security(("website_token" = [], "visitor" = [])),
    params(AttachQuery),
    request_body(
        content = Vec<u8>,
        content_type = "application/octet-stream",
        description = "The file's bytes, its type in `Content-Type`.",
    ),
    responses(
        (status = 202, description = "Accepted.", body = super::schemas::WidgetAttachResponse),
    )
)]
async fn attach(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<AttachQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let site = site(&req, &state, None)?;
    let visitor = visitor(&req, &state, &site, None).await?;
    if !wc::valid_client_id(&query.client_id) {
        return Err(ApiError::BadRequest(
            "`client_id` must be 1-64 characters A-Z, a-z, 0-9, _ or -".into(),
        ));
    }
    state
        .webchat
        .limits
        .message(&visitor.customer)
        .map_err(too_many)?;
    let max = state.settings.webchat.max_file_bytes;
    let bytes = read_capped(payload, max).await?;
    let declared = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let files = crate::channels::webchat::attachments::WebchatFiles::new(max as u64);
    let accepted = files
        .accept(&bytes, declared)
        .map_err(|refusal| super::media::refused(&files, refusal))?;
    let hex = crate::media::limits::digest_hex(&bytes);
    state
        .media
        .blobs
        .put(&hex, bytes)
        .await
        .map_err(ApiError::from)?;
    let filename = query
        .filename
        .as_deref()
        .and_then(crate::media::limits::clean_filename);
    let content = crate::domain::MessageContent::Media {
        kind: accepted.kind,
        media: crate::domain::Media {
            id: Some(format!(
                "{}{}",
                crate::media::WEBCHAT_MEDIA_PREFIX,
                uuid::Uuid::now_v7().simple()
            )),
            mime_type: Some(accepted.mime_type.clone()),
            sha256: Some(hex),
            caption: None,
            url: None,
        },
        filename: filename.clone(),
        voice: false,
        animated: false,
    };
    let duplicate = record(&state, &site, &visitor, &query.client_id, content, None).await?;
    Ok(HttpResponse::Accepted().json(json!({
        "client_id": query.client_id,
        "duplicate": duplicate,
        "kind": accepted.kind.as_str(),
        "mime_type": accepted.mime_type,
        "filename": filename,
    })))
}

/// `GET /api/v1/widget/media/{id}`: a file of the visitor's own conversations (theirs or an
/// agent's), as the console's media endpoint answers it; 404 for anyone else's.
#[utoipa::path(
    get,
    path = "/media/{id}",
    tag = "widget",
    security(("website_token" = [], "visitor" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The file, with its own content type.", body = Vec<u8>, content_type = "application/octet-stream"),
    )
)]
async fn media(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let site = site(&req, &state, None)?;
    let visitor = visitor(&req, &state, &site, None).await?;
    let not_found = || ApiError::NotFound("no such media".into());
    let owner = state.webchat.records.media_customer(&id).await?;
    if owner.as_deref() != Some(visitor.customer.as_str()) {
        return Err(not_found());
    }
    let row = state.media.get(&id).await?.ok_or_else(not_found)?;
    super::media::answer(&state, &row).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AttachQuery {
    client_id: String,
    #[serde(default)]
    filename: Option<String>,
}

/// Read a request body up to `max` bytes (413 beyond).
async fn read_capped(mut payload: web::Payload, max: usize) -> Result<bytes::Bytes, ApiError> {
    use futures::StreamExt;
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("body: {e}")))?;
        if body.len() + chunk.len() > max {
            return Err(ApiError::PayloadTooLarge { limit: max });
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ApiError::BadRequest("the file is empty".into()));
    }
    Ok(body.freeze())
}

#[derive(Deserialize)]
struct SocketQuery {
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    website_token: Option<String>,
    #[serde(default)]
    visitor_token: Option<String>,
}

/// `GET /api/v1/widget/ws?website_token=…&visitor_token=…&after=N`: the visitor's live
/// transcript. Frames: `{"type":"hello","after"}`, then `{"type":"message","message":{"seq",…}}`
/// for each message after N in order (a reconnect with the last `seq` it saw misses nothing and repeats
/// nothing), `{"type":"pong"}` for a `{"type":"ping"}`. The socket reads the store when woken
/// (a message was sent to the visitor, on any node) and every `webchat.poll_interval_ms`, one
/// page at a time (at most `webchat.page_size` frames in flight); pings every
/// `webchat.heartbeat_seconds`, closes after `webchat.client_timeout_seconds` of silence.
async fn socket(
    req: HttpRequest,
    raw: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<SocketQuery>,
) -> Result<HttpResponse, ApiError> {
    let site = site(&req, &state, query.website_token.as_deref())?;
    let visitor = visitor(&req, &state, &site, query.visitor_token.as_deref()).await?;
    let settings = state.settings.webchat.clone();
    let (response, mut session, stream) = actix_ws::handle(&req, raw)
        .map_err(|e| ApiError::BadRequest(format!("not a websocket handshake: {e}")))?;
    let mut stream = stream
        .max_frame_size(settings.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(settings.max_frame_bytes);
    let customer = CustomerId::new(visitor.customer.clone());
    let mut woken = state.webchat.wakeups.watch(&customer);
    let mut last = query.after.unwrap_or(0).max(0);
    let state = state.into_inner();
    actix_rt::spawn(async move {
        let mut open = session
            .text(json!({"type": "hello", "after": last}).to_string())
            .await
            .is_ok();
        let heartbeat = Duration::from_secs(settings.heartbeat_seconds.max(1));
        let timeout = Duration::from_secs(settings.client_timeout_seconds.max(1));
        let mut pings = tokio::time::interval(heartbeat);
        let mut polls =
            tokio::time::interval(Duration::from_millis(settings.poll_interval_ms.max(10)));
        let mut last_heard = Instant::now();
        let mut close = None;
        // Read at once (what was missed), then whenever woken or polled.
        let mut read = true;
        while open {
            if read {
                read = false;
                woken.borrow_and_update();
                match page(&state, customer.as_str(), last).await {
                    Ok((frames, next)) => {
                        let full = next != last && (frames.len() as i64) >= settings.page_size;
                        for message in frames {
                            let frame = json!({"type": "message", "message": message});
                            open = session.text(frame.to_string()).await.is_ok();
                            if !open {
                                break;
                            }
                        }
                        last = next;
                        // A full page: there may be more; read again before waiting.
                        read = full;
                    }
                    Err(e) => tracing::debug!(error = %e, "widget socket: transcript unreadable"),
                }
                continue;
            }
            tokio::select! {
                changed = woken.changed() => {
                    if changed.is_err() { break; }
                    read = true;
                }
                _ = polls.tick() => read = true,
                _ = pings.tick() => {
                    if last_heard.elapsed() > timeout {
                        close = Some(CloseReason { code: CloseCode::Normal, description: Some("heartbeat timeout".into()) });
                        break;
                    }
                    open = session.ping(b"").await.is_ok();
                }
                message = stream.recv() => {
                    last_heard = Instant::now();
                    match message {
                        Some(Ok(AggregatedMessage::Ping(bytes))) => open = session.pong(&bytes).await.is_ok(),
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            if serde_json::from_str::<Value>(&text).ok().and_then(|v| v.get("type").cloned()) == Some(json!("ping")) {
                                open = session.text(json!({"type": "pong"}).to_string()).await.is_ok();
                            }
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            close = Some(CloseReason { code: CloseCode::Unsupported, description: Some("binary frames are not accepted".into()) });
                            break;
                        }
                        Some(Ok(AggregatedMessage::Close(_))) | None => break,
                        Some(Err(e)) => {
                            close = Some(CloseReason { code: CloseCode::Policy, description: Some(e.to_string()) });
                            break;
                        }
                    }
                }
            }
        }
        let _ = session.close(close).await;
    });
    Ok(response)
}
