//! The console websocket (actix-ws): one task per session. It registers with the agent's
//! actor (getting the missed events first when the console says where it stopped), then sends
//! each event as it comes, pings on a heartbeat and closes a silent or misbehaving session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::auth::SocketCaller;
use super::ws_limit::{FrameLimit, is_too_large};
use super::{ApiError, AppState};
use crate::agents::{Connect, Disconnect};

#[derive(Deserialize)]
pub struct WsQuery {
    after: Option<i64>,
}

pub async fn connect(
    req: HttpRequest,
    raw: web::Payload,
    state: web::Data<AppState>,
    SocketCaller(caller): SocketCaller,
    query: web::Query<WsQuery>,
) -> Result<HttpResponse, ApiError> {
    // A page of another origin may not open an agent's console (cross-site websocket
    // hijacking with a token it found): only the gateway's own origin and the listed ones.
    if let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) {
        let host = req
            .headers()
            .get(actix_web::http::header::HOST)
            .and_then(|h| h.to_str().ok());
        let origin = origin.to_str().unwrap_or("");
        if !super::origin::allowed(origin, host, &state.settings.security.allowed_origins) {
            return Err(ApiError::Forbidden(format!(
                "origin {origin:?} may not open the console websocket"
            )));
        }
    }
    let entry = state
        .desk
        .agent(caller.user())
        .ok_or_else(|| ApiError::Unauthorized("unknown user".into()))?;
    let addr = entry.addr.clone();
    let settings = state.settings.console.clone();
    // Frames are checked against the limit as their headers arrive, never once buffered.
    let body = limit_frames(&req, raw, settings.max_frame_bytes).await?;
    let (response, mut session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::BadRequest(format!("not a websocket handshake: {e}")))?;
    let (sink, mut events) = mpsc::channel::<Arc<str>>(settings.session_buffer);
    let connected = addr
        .send(Connect {
            after: query.after,
            sink,
        })
        .await
        .map_err(|_| ApiError::Unavailable {
            retry_after_seconds: 1,
        })?
        .map_err(ApiError::from)?;
    let agent_id = caller.user().clone();
    let mut stream = stream
        .max_frame_size(settings.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(settings.max_frame_bytes);

    actix_rt::spawn(async move {
        let session_id = connected.session;
        let hello = json!({ "type": "hello", "agent": agent_id, "last_seq": connected.last_seq });
        let mut open = session.text(hello.to_string()).await.is_ok();
        for frame in connected.backlog {
            if !open {
                break;
            }
            open = session.text(frame.to_string()).await.is_ok();
        }
        let heartbeat = Duration::from_secs(settings.heartbeat_seconds.max(1));
        let timeout = Duration::from_secs(settings.client_timeout_seconds.max(1));
        let mut ticks = tokio::time::interval(heartbeat);
        let mut last_heard = Instant::now();
        let mut close: Option<CloseReason> = None;
        while open {
            tokio::select! {
                event = events.recv() => match event {
                    Some(frame) => open = session.text(frame.to_string()).await.is_ok(),
                    None => {
                        close = Some(CloseReason {
                            code: CloseCode::Again,
                            description: Some("too far behind; reconnect with your last seq".into()),
                        });
                        break;
                    }
                },
                message = stream.recv() => {
                    last_heard = Instant::now();
                    match message {
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            open = session.pong(&bytes).await.is_ok();
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            let ping = serde_json::from_str::<serde_json::Value>(&text)
                                .ok()
                                .is_some_and(|v| v["type"] == "ping");
                            if ping {
                                open = session.text(json!({"type": "pong"}).to_string()).await.is_ok();
                            }
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            close = Some(CloseReason {
                                code: CloseCode::Unsupported,
                                description: Some("binary frames are not accepted".into()),
                            });
                            break;
                        }
                        Some(Ok(AggregatedMessage::Close(_))) | None => break,
                        Some(Err(e)) if is_too_large(&e) => {
                            tracing::debug!(agent = %agent_id, "websocket message over the limit");
                            close = Some(CloseReason {
                                code: CloseCode::Size,
                                description: Some(format!(
                                    "messages are limited to {} bytes",
                                    settings.max_frame_bytes
                                )),
                            });
                            break;
                        }
                        Some(Err(e)) => {
                            tracing::debug!(agent = %agent_id, error = %e, "websocket protocol error");
                            close = Some(CloseReason {
                                code: CloseCode::Policy,
                                description: Some(e.to_string()),
                            });
                            break;
                        }
                    }
                }
                _ = ticks.tick() => {
                    if last_heard.elapsed() > timeout {
                        close = Some(CloseReason {
                            code: CloseCode::Normal,
                            description: Some("heartbeat timeout".into()),
                        });
                        break;
                    }
                    open = session.ping(b"").await.is_ok();
                }
            }
        }
        let _ = session.close(close).await;
        let _ = addr.send(Disconnect(session_id)).await;
    });
    Ok(response)
}

/// The request's body behind [`FrameLimit`], as the payload actix-ws reads.
async fn limit_frames(
    req: &HttpRequest,
    raw: web::Payload,
    max_message: usize,
) -> Result<web::Payload, ApiError> {
    use actix_web::FromRequest;
    let limited: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>>>,
    > = Box::pin(FrameLimit::new(raw, max_message));
    let mut payload = actix_web::dev::Payload::from(limited);
    web::Payload::from_request(req, &mut payload)
        .await
        .map_err(|e| ApiError::Internal(format!("websocket payload: {e}")))
}
