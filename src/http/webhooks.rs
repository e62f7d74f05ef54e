//! Webhook endpoints: Meta's GET verification handshake and the signed event POST.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;

use super::{ApiError, AppState};
use crate::channels::signature::SIGNATURE_HEADER;
use crate::intake::IntakeError;
use crate::metrics as m;

/// `GET /webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`: echo the
/// challenge when the token matches. The raw query string is parsed (dots in names kept).
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
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
    let expected = state.settings.whatsapp.verify_token.expose_secret();
    match (mode.as_deref(), token, challenge) {
        (Some("subscribe"), Some(token), Some(challenge)) => {
            // A wrong token counts against the client's failed-authentication limits.
            super::auth::guarded(&req, &state, "verify_token", &token, |token| {
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
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = receive_inner(&req, payload, &state).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(ApiError::Unauthorized(_)) => "unauthorized",
        Err(ApiError::BadRequest(_)) => "malformed",
        Err(ApiError::PayloadTooLarge { .. }) => "too_large",
        Err(ApiError::RequestTimeout(_)) => "timeout",
        Err(ApiError::Overloaded { .. }) | Err(ApiError::BodiesOverBudget { .. }) => "overloaded",
        Err(ApiError::Unavailable { .. }) => "unavailable",
        Err(_) => "error",
    };
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

/// Decode `application/x-www-form-urlencoded` pairs (the query string).
fn form_urlencoded(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
