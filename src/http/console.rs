//! The console's REST API (see docs/CONSOLE_API.md). Handlers authenticate the agent, check
//! what they may see, and hand every change to the conversation's actor as a command, so
//! agents' actions are ordered with the customer's messages.

use actix_web::{HttpResponse, Scope, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Agent;
use super::{ApiError, AppState};
use crate::conversation::commands::{AgentAction, Command, CommandReply};
use crate::domain::{AgentId, MediaKind, MediaSource, OutboundContent, Presence, TeamId};
use crate::store::{ConversationFilter, ConversationRecord, ConversationStatus};

pub fn scope() -> Scope {
    web::scope("/api/v1")
        .app_data(
            web::JsonConfig::default()
                .limit(64 * 1024)
                .error_handler(|e, _| {
                    ApiError::BadRequest(format!("invalid JSON body: {e}")).into()
                }),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::BadRequest(format!("invalid query: {e}")).into()),
        )
        .route("/me", web::get().to(me))
        .route("/me/presence", web::put().to(set_presence))
        .route("/teams", web::get().to(teams))
        .route("/quick-replies", web::get().to(quick_replies))
        .route("/conversations", web::get().to(list))
        .route("/conversations/{id}", web::get().to(show))
        .route("/conversations/{id}/messages", web::post().to(reply))
        .route("/conversations/{id}/notes", web::post().to(note))
        .route("/conversations/{id}/transfer", web::post().to(transfer))
        .route("/conversations/{id}/snooze", web::post().to(snooze))
        // resolve, accept, reject: no body.
        .route("/conversations/{id}/{verb}", web::post().to(lifecycle))
        .route("/ws", web::get().to(super::ws::connect))
}

async fn me(state: web::Data<AppState>, agent: Agent) -> Result<HttpResponse, ApiError> {
    let entry = state
        .desk
        .agent(&agent.id)
        .ok_or_else(|| ApiError::Unauthorized("unknown agent".into()))?;
    let snapshot = state
        .desk
        .assignments
        .snapshot()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let view = snapshot.agents.iter().find(|a| a.agent == agent.id);
    Ok(HttpResponse::Ok().json(json!({
        "agent": {
            "id": entry.id,
            "name": entry.name,
            "teams": entry.teams,
            "capacity": entry.capacity,
            "presence": view.map(|v| v.presence).unwrap_or_default(),
            "load": view.map(|v| v.load).unwrap_or(0),
            "assigned": view.map(|v| v.assigned.clone()).unwrap_or_default(),
            "offered": view.map(|v| v.offered.clone()).unwrap_or_default(),
        }
    })))
}

#[derive(Deserialize)]
struct PresenceBody {
    presence: Presence,
}

async fn set_presence(
    state: web::Data<AppState>,
    agent: Agent,
    body: web::Json<PresenceBody>,
) -> Result<HttpResponse, ApiError> {
    state
        .desk
        .set_presence(&agent.id, body.presence)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({ "presence": body.presence })))
}

async fn teams(state: web::Data<AppState>, agent: Agent) -> Result<HttpResponse, ApiError> {
    let snapshot = state
        .desk
        .assignments
        .snapshot()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let teams: Vec<Value> = snapshot
        .teams
        .iter()
        .filter(|t| agent.teams.contains(&t.team))
        .map(|t| {
            let agents: Vec<Value> = snapshot
                .agents
                .iter()
                .filter(|a| a.teams.contains(&t.team))
                .map(|a| {
                    json!({
                        "id": a.agent,
                        "name": state.desk.agent(&a.agent).map(|e| e.name.clone()),
                        "presence": a.presence,
                        "load": a.load,
                        "capacity": a.capacity,
                    })
                })
                .collect();
            json!({
                "id": t.team,
                "name": state.desk.team_name(&t.team),
                "strategy": t.strategy,
                "queue": t.queue,
                "oldest_arrival": t.oldest_arrival_ms,
                "agents": agents,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "teams": teams })))
}

async fn quick_replies(state: web::Data<AppState>, _: Agent) -> HttpResponse {
    let replies: Vec<Value> = state
        .settings
        .console
        .quick_replies
        .iter()
        .map(|(shortcut, r)| json!({ "shortcut": shortcut, "title": r.title, "text": r.text }))
        .collect();
    HttpResponse::Ok().json(json!({ "quick_replies": replies }))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    team: Option<String>,
    assignee: Option<String>,
    #[serde(default)]
    unassigned: bool,
    limit: Option<i64>,
}

async fn list(
    state: web::Data<AppState>,
    agent: Agent,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = match &query.status {
        Some(s) => Some(
            ConversationStatus::parse(s)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown status {s}")))?,
        ),
        None => None,
    };
    let max = state.settings.console.max_page_size as i64;
    let filter = ConversationFilter {
        viewer: Some(agent.id.clone()),
        visible_teams: agent.teams.clone(),
        status,
        team: query.team.clone().map(TeamId::new),
        assignee: query.assignee.as_deref().map(|a| {
            if a == "me" {
                agent.id.clone()
            } else {
                AgentId::new(a)
            }
        }),
        unassigned: query.unassigned,
        limit: query.limit.unwrap_or(50).clamp(1, max),
    };
    let conversations = state.store.list_conversations(&filter).await?;
    let mut views = Vec::with_capacity(conversations.len());
    for c in &conversations {
        let contact = state.store.load_contact(&c.customer).await?;
        views.push(c.view(contact.as_ref()));
    }
    Ok(HttpResponse::Ok().json(json!({ "conversations": views })))
}

/// The conversation, if the agent may see it (their team's, or assigned to them); else 404.
async fn visible(
    state: &AppState,
    agent: &Agent,
    id: &str,
) -> Result<ConversationRecord, ApiError> {
    let conversation = state
        .store
        .conversation_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such conversation".into()))?;
    if may_open(state, agent, &conversation).await {
        return Ok(conversation);
    }
    Err(ApiError::NotFound("no such conversation".into()))
}

/// Whether the agent may open this conversation: their team's, assigned to them, or offered
/// to them. Every place that shows a conversation (directly or in a customer's history) asks
/// this one question.
async fn may_open(state: &AppState, agent: &Agent, conversation: &ConversationRecord) -> bool {
    if agent.in_team(conversation.team.as_ref())
        || conversation.assignee.as_ref() == Some(&agent.id)
    {
        return true;
    }
    // An offer to this agent (a transfer to another team's agent is assigned, so covered).
    state
        .desk
        .assignments
        .held(&conversation.id)
        .await
        .ok()
        .flatten()
        .is_some_and(|held| {
            matches!(held, crate::assign::Held::Offered { agent: ref a, .. } if *a == agent.id)
        })
}

async fn show(
    state: web::Data<AppState>,
    agent: Agent,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conversation = visible(&state, &agent, &id).await?;
    let contact = state.store.load_contact(&conversation.customer).await?;
    let identities: Vec<Value> = state
        .store
        .contact_identities(&conversation.customer)
        .await?
        .into_iter()
        .map(|i| {
            let kind = state
                .settings
                .channels
                .get(i.channel.as_str())
                .map(|c| c.kind.as_str());
            json!({
                "channel": i.channel,
                "kind": kind,
                "address": i.address,
                "first_seen": i.first_seen,
            })
        })
        .collect();
    let messages = state.store.conversation_messages(&conversation.id).await?;
    // The customer's other conversations, only those this agent may open themselves.
    let mut history: Vec<Value> = Vec::new();
    for c in state
        .store
        .customer_conversations(&conversation.customer, 50)
        .await?
    {
        if c.id != conversation.id && may_open(&state, &agent, &c).await {
            history.push(c.view(contact.as_ref()));
        }
    }
    let events = state.store.conversation_events(&conversation.id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "conversation": conversation.view(contact.as_ref()),
        "messages": messages,
        "contact": contact.map(|c| json!({
            "id": c.customer,
            "name": c.name,
            "phone": c.phone,
            "language": c.language,
            "tags": c.tags,
            "fields": c.fields,
            "identities": identities,
        })),
        "history": history,
        "events": events,
    })))
}

/// Run an agent's action in the conversation's actor.
async fn act(
    state: &AppState,
    agent: &Agent,
    id: &str,
    action: AgentAction,
) -> Result<CommandReply, ApiError> {
    let conversation = visible(state, agent, id).await?;
    let command = Command::Agent {
        conversation_id: conversation.id.clone(),
        agent: agent.id.clone(),
        action,
    };
    Ok(state
        .conversations
        .command(&conversation.channel, &conversation.key, command)
        .await?)
}

fn respond(reply: CommandReply, created: bool) -> HttpResponse {
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    match reply {
        CommandReply::Conversation(c) => response.json(json!({ "conversation": c })),
        CommandReply::Message(m) => response.json(json!({ "message": m })),
        CommandReply::Done => response.json(json!({})),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    text: Option<String>,
    media: Option<MediaBody>,
    quick_reply: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaBody {
    kind: MediaKind,
    link: String,
    caption: Option<String>,
    filename: Option<String>,
}

/// WhatsApp's longest text body.
const MAX_TEXT: usize = 4096;

async fn reply(
    state: web::Data<AppState>,
    agent: Agent,
    id: web::Path<String>,
    body: web::Json<ReplyBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let content = match (body.text, body.media, body.quick_reply) {
        (Some(text), None, None) => text_content(text)?,
        (None, None, Some(shortcut)) => {
            let reply = state
                .settings
                .console
                .quick_replies
                .get(shortcut.trim_start_matches('/'))
                .ok_or_else(|| ApiError::BadRequest(format!("no quick reply {shortcut}")))?;
            text_content(reply.text.clone())?
        }
        (None, Some(media), None) => {
            let url = reqwest::Url::parse(&media.link)
                .map_err(|e| ApiError::BadRequest(format!("media link: {e}")))?;
            if url.scheme() != "https" && url.scheme() != "http" {
                return Err(ApiError::BadRequest("media link must be http(s)".into()));
            }
            if matches!(media.kind, MediaKind::Sticker) {
                return Err(ApiError::BadRequest("stickers cannot be sent here".into()));
            }
            OutboundContent::Media {
                kind: media.kind,
                source: MediaSource::Link(media.link),
                caption: media.caption,
                filename: media.filename,
            }
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of `text`, `media` or `quick_reply`".into(),
            ));
        }
    };
    let reply = act(&state, &agent, &id, AgentAction::Reply(content)).await?;
    Ok(respond(reply, true))
}

fn text_content(text: String) -> Result<OutboundContent, ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("`text` is empty".into()));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(ApiError::BadRequest(format!(
            "`text` is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(OutboundContent::Text {
        body: text,
        preview_url: false,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

async fn note(
    state: web::Data<AppState>,
    agent: Agent,
    id: web::Path<String>,
    body: web::Json<NoteBody>,
) -> Result<HttpResponse, ApiError> {
    let text = body.into_inner().text;
    if text.trim().is_empty() || text.chars().count() > 10_000 {
        return Err(ApiError::BadRequest(
            "`text` must hold 1 to 10,000 characters".into(),
        ));
    }
    let reply = act(&state, &agent, &id, AgentAction::Note(text)).await?;
    Ok(respond(reply, true))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    team: Option<String>,
    agent: Option<String>,
}

async fn transfer(
    state: web::Data<AppState>,
    agent: Agent,
    id: web::Path<String>,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    let action = match body.into_inner() {
        TransferBody {
            team: Some(team),
            agent: None,
        } => {
            if !state.settings.teams.contains_key(&team) {
                return Err(ApiError::BadRequest(format!("unknown team {team}")));
            }
            AgentAction::TransferToTeam(TeamId::new(team))
        }
        TransferBody {
            team: None,
            agent: Some(to),
        } => {
            if !state.settings.agents.contains_key(&to) {
                return Err(ApiError::BadRequest(format!("unknown agent {to}")));
            }
            AgentAction::TransferToAgent(AgentId::new(to))
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of `team` or `agent`".into(),
            ));
        }
    };
    Ok(respond(act(&state, &agent, &id, action).await?, false))
}

/// `resolve`, `accept` (an offer to you) or `reject` (it).
async fn lifecycle(
    state: web::Data<AppState>,
    agent: Agent,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, verb) = path.into_inner();
    let action = match verb.as_str() {
        "resolve" => AgentAction::Resolve,
        "accept" => AgentAction::Accept,
        "reject" => AgentAction::Reject,
        _ => return Err(ApiError::NotFound(format!("no action {verb}"))),
    };
    Ok(respond(act(&state, &agent, &id, action).await?, false))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnoozeBody {
    until: String,
}

async fn snooze(
    state: web::Data<AppState>,
    agent: Agent,
    id: web::Path<String>,
    body: web::Json<SnoozeBody>,
) -> Result<HttpResponse, ApiError> {
    let until = chrono::DateTime::parse_from_rfc3339(&body.until)
        .map_err(|e| ApiError::BadRequest(format!("`until` is not an RFC 3339 time: {e}")))?;
    let action = AgentAction::Snooze {
        until_ms: until.timestamp_millis(),
    };
    Ok(respond(act(&state, &agent, &id, action).await?, false))
}
