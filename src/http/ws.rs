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
use crate::accounts::policy::Action;
use crate::activity::{Signal, State};
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
    let activity_state = state.clone();
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
        let (signals_tx, mut signals) = mpsc::channel::<Arc<str>>(SIGNAL_BUFFER);
        let mut watching = Watching::new(activity_state.activity.session());
        // Team inboxes and the waiting line follow the conversations of the teams this user
        // may list (crate::activity::News).
        let teams = super::console::listable_teams(&activity_state, &caller);
        activity_state
            .activity
            .subscribe(watching.session, &caller.principal, &teams, &signals_tx);
        while open {
            tokio::select! {
                frame = signals.recv() => if let Some(frame) = frame {
                    open = session.text(frame.to_string()).await.is_ok();
                },
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
                            match serde_json::from_str::<ClientFrame>(&text) {
                                Ok(ClientFrame::Ping) => {
                                    open = session.text(json!({"type": "pong"}).to_string()).await.is_ok();
                                }
                                Ok(ClientFrame::Activity { conversation_id, state }) => {
                                    let reply = watching
                                        .signal(&activity_state, &caller, &signals_tx, conversation_id, &state)
                                        .await;
                                    if let Some(reply) = reply {
                                        open = session.text(reply.to_string()).await.is_ok();
                                    }
                                }
                                // Frames of a newer console, or garbage: ignored.
                                Err(_) => {}
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
        watching.leave_all(&activity_state, &caller).await;
        let _ = addr.send(Disconnect(session_id)).await;
    });
    Ok(response)
}

/// Collision frames waiting for one console (they are repeated, so a full buffer drops).
const SIGNAL_BUFFER: usize = 32;
/// The conversations one console session may watch at once (a console shows one at a time).
const MAX_WATCHED: usize = 8;
/// Longer than any conversation id.
const MAX_CONVERSATION_ID: usize = 128;
/// How long a permission to watch a conversation is trusted before it is asked again.
const RECHECK_AFTER: Duration = Duration::from_secs(60);

/// What a console sends: `{"type":"ping"}`, or what it does in a conversation
/// (`{"type":"activity","conversation_id":"…","state":"viewing"|"typing"|"idle"}`).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Ping,
    Activity {
        conversation_id: String,
        state: String,
    },
}

/// The conversations this session watches, with when the policy last allowed each.
struct Watching {
    session: u64,
    allowed: Vec<(String, Instant)>,
}

impl Watching {
    fn new(session: u64) -> Self {
        Self {
            session,
            allowed: Vec::new(),
        }
    }

    /// Apply one activity frame; an error frame for the console when it is refused.
    async fn signal(
        &mut self,
        state: &AppState,
        caller: &crate::accounts::service::Caller,
        frames: &mpsc::Sender<Arc<str>>,
        conversation: String,
        what: &str,
    ) -> Option<serde_json::Value> {
        let refuse = |message: String| {
            Some(json!({
                "type": "error",
                "error": { "code": "bad_request", "message": message },
            }))
        };
        let Some(what) = State::parse(what) else {
            return refuse(format!("unknown activity state {what:?}"));
        };
        if conversation.is_empty() || conversation.len() > MAX_CONVERSATION_ID {
            return refuse("`conversation_id` is missing or too long".into());
        }
        let known = self
            .allowed
            .iter()
            .position(|(c, at)| *c == conversation && at.elapsed() < RECHECK_AFTER);
        if what == State::Idle {
            if let Some(i) = self.allowed.iter().position(|(c, _)| *c == conversation) {
                self.allowed.remove(i);
                state.activity.unwatch(self.session, Some(&conversation));
                state
                    .activity
                    .signal(signal_of(state, caller, conversation, what))
                    .await;
            }
            return None;
        }
        if known.is_none() {
            // The same decision as opening the conversation: 404 for what the caller may not see.
            if super::console::permitted(state, caller, &conversation, Action::View)
                .await
                .is_err()
            {
                return Some(json!({
                    "type": "error",
                    "error": { "code": "not_found", "message": "no such conversation" },
                }));
            }
            self.allowed.retain(|(c, _)| *c != conversation);
            if self.allowed.len() >= MAX_WATCHED {
                let (oldest, _) = self.allowed.remove(0);
                state.activity.unwatch(self.session, Some(&oldest));
                state
                    .activity
                    .signal(signal_of(state, caller, oldest, State::Idle))
                    .await;
            }
            if !state
                .activity
                .watch(self.session, &conversation, caller.user(), frames)
            {
                return refuse("too many people watch this conversation".into());
            }
            self.allowed.push((conversation.clone(), Instant::now()));
        }
        state
            .activity
            .signal(signal_of(state, caller, conversation, what))
            .await;
        None
    }

    /// The session closed: it leaves every conversation it watched.
    async fn leave_all(&mut self, state: &AppState, caller: &crate::accounts::service::Caller) {
        state.activity.unwatch(self.session, None);
        for (conversation, _) in std::mem::take(&mut self.allowed) {
            state
                .activity
                .signal(signal_of(state, caller, conversation, State::Idle))
                .await;
        }
    }
}

fn signal_of(
    state: &AppState,
    caller: &crate::accounts::service::Caller,
    conversation: String,
    what: State,
) -> Signal {
    let name = state
        .desk
        .directory
        .get()
        .user(caller.user())
        .map(|u| u.name.clone())
        .unwrap_or_else(|| caller.user().to_string());
    Signal {
        conversation,
        user: caller.user().clone(),
        name,
        state: what,
        at_ms: chrono::Utc::now().timestamp_millis(),
    }
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
