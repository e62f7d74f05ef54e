//! Webhook endpoints: Meta's GET verification handshake and the signed event POST (WhatsApp's,
//! Messenger's and Instagram's); Telegram's POST per bot, checked by its secret token; X's CRC
//! challenge and its signed Account Activity POST.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;

use super::{ApiError, AppState};
use crate::channels::WebhookParser;
use crate::channels::instagram::InstagramWebhookParser;
use crate::channels::messenger::webhook::MessengerWebhookParser;
use crate::channels::signature::{SIGNATURE_HEADER, SignatureVerifier};
use crate::channels::telegram::{self, webhook::TelegramWebhookParser};
use crate::channels::x::{self, webhook::XWebhookParser};
use crate::domain::{
    ChannelId, ChannelKind, CustomerId, InboundEnvelope, InboundEvent, ProviderMessageId,
};
use crate::intake::IntakeError;
use crate::metrics as m;

/// `GET /webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`: echo the
/// challenge when the token matches. The raw query string is parsed (dots in names kept).
#[utoipa::path(
    get,
    path = "/webhooks/whatsapp",
    tag = "channels",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "The channel's verify token."),
        ("hub.challenge" = String, Query, description = "Echoed when the token matches."),
    ),
    responses(
        (status = 200, description = "The challenge (`hub.challenge`), echoed.", body = String, content_type = "text/plain"),
    )
)]
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let expected = state.settings.whatsapp.verify_token.expose_secret();
    handshake(&req, &state, expected)
}

/// `GET /webhooks/messenger?hub.mode=subscribe&…`: the same handshake with
/// `messenger.verify_token` (404 when no page is configured).
#[utoipa::path(
    get,
    path = "/webhooks/messenger",
    tag = "channels",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "The channel's verify token."),
        ("hub.challenge" = String, Query, description = "Echoed when the token matches."),
    ),
    responses(
        (status = 200, description = "The challenge (`hub.challenge`), echoed.", body = String, content_type = "text/plain"),
    )
)]
pub async fn verify_messenger(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if state.messenger_verifier.is_none() {
        return Err(ApiError::NotFound("no Messenger page is configured".into()));
    }
    let expected = state.settings.messenger.verify_token.expose_secret();
    handshake(&req, &state, expected)
}

/// `GET /webhooks/instagram?hub.mode=subscribe&…`: the same handshake with
/// `instagram.verify_token` (404 when no Instagram account is configured).
#[utoipa::path(
    get,
    path = "/webhooks/instagram",
    tag = "channels",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "The channel's verify token."),
        ("hub.challenge" = String, Query, description = "Echoed when the token matches."),
    ),
    responses(
        (status = 200, description = "The challenge (`hub.challenge`), echoed.", body = String, content_type = "text/plain"),
    )
)]
pub async fn verify_instagram(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if state.instagram_verifier.is_none() {
        return Err(ApiError::NotFound(
            "no Instagram account is configured".into(),
        ));
    }
    let expected = state.settings.instagram.verify_token.expose_secret();
    handshake(&req, &state, expected)
}

fn handshake(
    req: &HttpRequest,
    state: &AppState,
    expected: &str,
) -> Result<HttpResponse, ApiError> {
    let mut mode = None;
    let mut token = None;
    let mut challenge = None;
    for (name, value) in form_urlencoded(req.query_string()) {
        match name.as_str() {
            "hub.mode" => mode = Some(value),
            "hub.verify_token" => token = Some(value),
            "hub.challenge" => challenge = Some(value),
            _ => {}
        }
    }
    match (mode.as_deref(), token, challenge) {
        (Some("subscribe"), Some(token), Some(challenge)) => {
            // A wrong token counts against the client's failed-authentication limits.
            super::auth::guarded(req, state, "verify_token", &token, |token| {
                constant_time_eq(token.as_bytes(), expected.as_bytes()).then_some(())
            })
            .map_err(|e| match e {
                ApiError::Unauthorized(_) => {
                    ApiError::Forbidden("verify token does not match".into())
                }
                other => other,
            })?;
            Ok(HttpResponse::Ok()
                .content_type("text/plain")
                .body(challenge))
        }
        _ => Err(ApiError::BadRequest(
            "expected hub.mode=subscribe, hub.verify_token and hub.challenge".into(),
        )),
    }
}

/// `POST /webhooks/whatsapp`: size limit, signature over the raw bytes, parse, record, 200.
#[utoipa::path(
    post,
    path = "/webhooks/whatsapp",
    tag = "channels",
    request_body(content = Object, description = "Meta's webhook body (`object`, `entry[]`), signed."),
    security(("meta_signature" = [])),
    responses(
        (status = 200, description = "Every event recorded."),
    )
)]
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = receive_inner(&req, payload, &state).await;
    let outcome = outcome_label(&result);
    metrics::counter!(m::WEBHOOK_REQUESTS, "channel_kind" => "whatsapp", "outcome" => outcome)
        .increment(1);
    metrics::histogram!(m::WEBHOOK_LATENCY, "channel_kind" => "whatsapp")
        .record(started.elapsed().as_secs_f64());
    result
}

async fn receive_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    // Held (with its share of the body budget) until the webhook is answered.
    let body = state.bodies.read(req, payload).await?;
    let body = &body.bytes;
    state
        .whatsapp_verifier
        .verify(
            req.headers().get(SIGNATURE_HEADER).map(|v| v.as_bytes()),
            body,
        )
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let envelopes = state
        .whatsapp_parser
        .parse(body)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    record(state, envelopes).await
}

/// `POST /webhooks/messenger`: every page's deliveries (the entries name their page, which
/// selects the channel). Checked with `X-Hub-Signature-256` under `messenger.app_secret` over
/// the raw bytes (401 otherwise, nothing recorded); then the same body limits, intake and
/// answers as WhatsApp's webhook.
#[utoipa::path(
    post,
    path = "/webhooks/messenger",
    tag = "channels",
    request_body(content = Object, description = "Meta's webhook body (`object`, `entry[]`), signed."),
    security(("meta_signature" = [])),
    responses(
        (status = 200, description = "Every event recorded."),
    )
)]
pub async fn receive_messenger(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = receive_messenger_inner(&req, payload, &state).await;
    metrics::counter!(m::WEBHOOK_REQUESTS, "channel_kind" => "messenger", "outcome" => outcome_label(&result))
        .increment(1);
    metrics::histogram!(m::WEBHOOK_LATENCY, "channel_kind" => "messenger")
        .record(started.elapsed().as_secs_f64());
    result
}

async fn receive_messenger_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let Some(verifier) = &state.messenger_verifier else {
        return Err(ApiError::NotFound("no Messenger page is configured".into()));
    };
    receive_meta(req, payload, state, verifier, &MessengerWebhookParser).await
}

/// `POST /webhooks/instagram`: every Instagram account's deliveries (`object: "instagram"`,
/// the entries name their account). Checked with `X-Hub-Signature-256` under
/// `instagram.app_secret` (401 otherwise, nothing recorded); then as Messenger's.
#[utoipa::path(
    post,
    path = "/webhooks/instagram",
    tag = "channels",
    request_body(content = Object, description = "Meta's webhook body (`object`, `entry[]`), signed."),
    security(("meta_signature" = [])),
    responses(
        (status = 200, description = "Every event recorded."),
    )
)]
pub async fn receive_instagram(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = receive_instagram_inner(&req, payload, &state).await;
    metrics::counter!(m::WEBHOOK_REQUESTS, "channel_kind" => "instagram", "outcome" => outcome_label(&result))
        .increment(1);
    metrics::histogram!(m::WEBHOOK_LATENCY, "channel_kind" => "instagram")
        .record(started.elapsed().as_secs_f64());
    result
}

async fn receive_instagram_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let Some(verifier) = &state.instagram_verifier else {
        return Err(ApiError::NotFound(
            "no Instagram account is configured".into(),
        ));
    };
    receive_meta(req, payload, state, verifier, &InstagramWebhookParser).await
}

/// A Meta messaging delivery: the body read within the limits, its signature checked over
/// the raw bytes, parsed by `parser` and recorded.
async fn receive_meta(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    verifier: &SignatureVerifier,
    parser: &dyn WebhookParser,
) -> Result<HttpResponse, ApiError> {
    let body = state.bodies.read(req, payload).await?;
    let body = &body.bytes;
    verifier
        .verify(
            req.headers().get(SIGNATURE_HEADER).map(|v| v.as_bytes()),
            body,
        )
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let envelopes = parser
        .parse(body)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    record(state, envelopes).await
}

/// Record the events through the intake (durable before the 200; 503 with Retry-After when
/// there is no room or the store is away: nothing is acknowledged then).
async fn record(
    state: &AppState,
    envelopes: Vec<InboundEnvelope>,
) -> Result<HttpResponse, ApiError> {
    let retry_after_seconds = state.settings.intake.retry_after_seconds;
    match state.intake.accept(envelopes).await {
        Ok(report) => {
            tracing::debug!(
                recorded = report.recorded,
                duplicates = report.duplicates,
                unrouted = report.unrouted,
                "webhook recorded"
            );
            Ok(HttpResponse::Ok().finish())
        }
        Err(IntakeError::Overloaded) => Err(ApiError::Overloaded {
            retry_after_seconds,
        }),
        Err(IntakeError::Unavailable(e)) => {
            tracing::warn!(error = %e, "webhook not recorded; answering 503");
            Err(ApiError::Unavailable {
                retry_after_seconds,
            })
        }
        Err(IntakeError::LogUnavailable(e)) => {
            tracing::warn!(error = %e, "webhook recorded but not dispatched; answering 503");
            Err(ApiError::Unavailable {
                retry_after_seconds,
            })
        }
    }
}

/// `POST /webhooks/telegram/{channel}`: one Bot API `Update` for that bot. The secret token
/// (`X-Telegram-Bot-Api-Secret-Token`, compared in constant time) is checked before the body is
/// read; then the same body limits, intake and answers as WhatsApp's webhook. A button press
/// is answered (`answerCallbackQuery`) once it is recorded.
#[utoipa::path(
    post,
    path = "/webhooks/telegram/{channel}",
    tag = "channels",
    request_body(content = Object, description = "A Telegram Update."),
    security(("telegram_secret" = [])),
    params(("channel" = String, Path)),
    responses(
        (status = 200, description = "The update recorded."),
    )
)]
pub async fn receive_telegram(
    req: HttpRequest,
    channel: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = receive_telegram_inner(&req, &channel, payload, &state).await;
    metrics::counter!(m::WEBHOOK_REQUESTS, "channel_kind" => "telegram", "outcome" => outcome_label(&result))
        .increment(1);
    metrics::histogram!(m::WEBHOOK_LATENCY, "channel_kind" => "telegram")
        .record(started.elapsed().as_secs_f64());
    result
}

async fn receive_telegram_inner(
    req: &HttpRequest,
    channel: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let Some((settings, bot)) = state
        .settings
        .channels
        .get(channel)
        .filter(|c| c.kind == ChannelKind::Telegram)
        .and_then(|c| c.telegram.as_ref().map(|bot| (c, bot)))
    else {
        return Err(ApiError::NotFound(format!("no Telegram channel {channel}")));
    };
    let given = req
        .headers()
        .get(telegram::SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // A wrong secret counts against the client's failed-authentication limits, like any token.
    super::auth::guarded(req, state, "telegram_secret", given, |given| {
        constant_time_eq(
            given.as_bytes(),
            bot.webhook_secret.expose_secret().as_bytes(),
        )
        .then_some(())
    })
    .map_err(|e| match e {
        ApiError::Unauthorized(_) => {
            ApiError::Unauthorized("X-Telegram-Bot-Api-Secret-Token does not match".into())
        }
        other => other,
    })?;
    let body = state.bodies.read(req, payload).await?;
    let parser = TelegramWebhookParser {
        account: settings.account(),
    };
    let envelopes = parser
        .parse(&body.bytes)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let presses: Vec<(CustomerId, ProviderMessageId)> = envelopes
        .iter()
        .filter_map(|e| match &e.event {
            InboundEvent::Message(m) if telegram::callback_of(&m.provider_id).is_some() => {
                Some((m.customer.id.clone(), m.provider_id.clone()))
            }
            _ => None,
        })
        .collect();
    let answer = record(state, envelopes).await?;
    // Recorded: stop the button's spinner (best effort, through the bot's bounded sender).
    if let Some(sender) = state.outbound.sender(&ChannelId::new(channel)) {
        for (customer, press) in presses {
            sender.mark_read(customer, press, false);
        }
    }
    Ok(answer)
}

/// `GET /webhooks/x?crc_token=…`: X's challenge-response check (at registration and about
/// daily): `{"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret, crc_token))}`.
/// 400 without a token, or with one X cannot have sent ([`x::crc_token_is_plausible`]: the
/// same key signs deliveries, so this must never sign a JSON body); 404 when no X account is
/// configured.
#[utoipa::path(
    get,
    path = "/webhooks/x",
    tag = "channels",
    params(("crc_token" = String, Query, description = "X's challenge.")),
    responses(
        (status = 200, description = "OK.", body = super::schemas::WebhooksCrcXResponse),
    )
)]
pub async fn crc_x(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(signer) = &state.x_signer else {
        return Err(ApiError::NotFound("no X account is configured".into()));
    };
    let token = form_urlencoded(req.query_string())
        .into_iter()
        .find(|(name, _)| name == "crc_token")
        .map(|(_, value)| value)
        .ok_or_else(|| ApiError::BadRequest("expected a crc_token".into()))?;
    if !x::crc_token_is_plausible(&token) {
        return Err(ApiError::BadRequest(format!(
            "crc_token must be 1-{} characters of A-Z, a-z, 0-9, +, /, =, _, ., ~ or -",
            x::CRC_TOKEN_MAX
        )));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "response_token": signer.crc_response(&token),
    })))
}

/// `POST /webhooks/x`: every X account's Account Activity deliveries (`for_user_id` selects the
/// channel). The body is read within the limits, then its `x-twitter-webhooks-signature`
/// (base64 HMAC-SHA256 under `x.consumer_secret`) checked in constant time: a wrong or missing
/// one is a 401, counts against the client's failed-authentication limits, and records
/// nothing. Then the same intake and answers as WhatsApp's webhook.
#[utoipa::path(
    post,
    path = "/webhooks/x",
    tag = "channels",
    request_body(content = Object, description = "X's Account Activity body (`for_user_id`, `direct_message_events`), signed."),
    security(("x_signature" = [])),
    responses(
        (status = 200, description = "Every event recorded."),
    )
)]
pub async fn receive_x(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = receive_x_inner(&req, payload, &state).await;
    metrics::counter!(m::WEBHOOK_REQUESTS, "channel_kind" => "x", "outcome" => outcome_label(&result))
        .increment(1);
    metrics::histogram!(m::WEBHOOK_LATENCY, "channel_kind" => "x")
        .record(started.elapsed().as_secs_f64());
    result
}

async fn receive_x_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let Some(signer) = &state.x_signer else {
        return Err(ApiError::NotFound("no X account is configured".into()));
    };
    let body = state.bodies.read(req, payload).await?;
    let body = &body.bytes;
    let given = req
        .headers()
        .get(x::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // A wrong signature counts against the client's failed-authentication limits, like a
    // wrong token.
    super::auth::guarded(req, state, "x_signature", given, |given| {
        let header = (!given.is_empty()).then_some(given.as_bytes());
        signer.verify(header, body).ok()
    })
    .map_err(|e| match e {
        ApiError::Unauthorized(_) => ApiError::Unauthorized(format!(
            "{} is missing or does not match",
            x::SIGNATURE_HEADER
        )),
        other => other,
    })?;
    let envelopes = XWebhookParser
        .parse(body)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    record(state, envelopes).await
}

fn outcome_label(result: &Result<HttpResponse, ApiError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(ApiError::Unauthorized(_)) => "unauthorized",
        Err(ApiError::NotFound(_)) => "not_found",
        Err(ApiError::BadRequest(_)) => "malformed",
        Err(ApiError::PayloadTooLarge { .. }) => "too_large",
        Err(ApiError::RequestTimeout(_)) => "timeout",
        Err(ApiError::Overloaded { .. }) | Err(ApiError::BodiesOverBudget { .. }) => "overloaded",
        Err(ApiError::Unavailable { .. }) => "unavailable",
        Err(_) => "error",
    }
}

/// Decode `application/x-www-form-urlencoded` pairs (the query string).
fn form_urlencoded(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
