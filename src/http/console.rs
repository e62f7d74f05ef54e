//! The console's REST API (see docs/CONSOLE_API.md). Handlers authenticate the agent, check
//! what they may see, and hand every change to the conversation's actor as a command, so
//! agents' actions are ordered with the customer's messages.

use actix_web::{HttpRequest, HttpResponse, Scope, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Actor, Caller, request_meta};
use super::{ApiError, AppState};
use crate::accounts::model::User;
use crate::accounts::policy::{
    self, Action, BusinessAction, ConversationFacts, TeamAction, Verdict,
};
use crate::accounts::privacy::Masker;
use crate::accounts::service::Via;
use crate::conversation::commands::{AgentAction, Command, CommandReply};
use crate::domain::{
    AgentId, ChannelId, MediaKind, MediaSource, OutboundContent, Presence, TeamId,
};
use crate::store::{ConversationFilter, ConversationRecord, ConversationStatus, ListCursor};

/// The console API's path prefix.
pub const PREFIX: &str = "/api/v1";

/// The console API's scope, its routes registered by [`routes`].
pub fn scope() -> Scope {
    web::scope(PREFIX)
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
}

/// Every route of the console API (and the business API's, which shares its paths).
pub fn routes(api: &mut super::openapi::Api) {
    super::auth_api::routes(api);
    super::admin::routes(api);
    super::api_keys::routes(api);
    super::business::routes(api);
    super::push::routes(api);
    super::contacts::routes(api);
    super::contact_fields::routes(api);
    super::contacts_erase::routes(api);
    super::event_webhooks::routes(api);
    super::segments::routes(api);
    super::reports::routes(api);
    super::panel_apps::routes(api);
    super::campaigns::routes(api);
    super::campaign_runs::routes(api);
    api.op(__path_me, me)
        .op(__path_set_presence, set_presence)
        .op(__path_force_presence, force_presence)
        .op(__path_teams, teams)
        .op(__path_quick_replies, quick_replies)
        .op(__path_list, list)
        .op(__path_show, show)
        .op(__path_reply, reply)
        .op(__path_note, note)
        .op(__path_transfer, transfer)
        .op(__path_snooze, snooze)
        .op(__path_reveal, reveal)
        .op(super::media::__path_attach, super::media::attach)
        .op(super::media::__path_serve, super::media::serve)
        // resolve, accept, reject: no body.
        .op(__path_lifecycle, lifecycle)
        .other(
            actix_web::http::Method::GET,
            "/ws",
            web::get().to(super::ws::connect),
            "the console's websocket (an upgrade, not REST)",
        );
}

/// The user as the API shows them.
pub fn user_view(user: &User) -> Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "language": user.language,
        "time_zone": user.time_zone,
    })
}

#[utoipa::path(
    get,
    path = "/me",
    tag = "console",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ConsoleMeResponse),
    )
)]
async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let people = state.desk.directory.get();
    let user = people
        .user(caller.user())
        .ok_or_else(|| ApiError::Unauthorized("unknown user".into()))?;
    let snapshot = state
        .desk
        .assignments
        .snapshot()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let view = snapshot.agents.iter().find(|a| &a.agent == caller.user());
    let mut me = user_view(user);
    me["teams"] = json!(caller.principal.member_of);
    me["supervises"] = json!(caller.principal.supervises);
    me["via"] = json!(match caller.via {
        Via::Session(_) => "session",
        Via::Token(_) => "api_token",
    });
    Ok(HttpResponse::Ok().json(json!({
        "user": me,
        "agent": {
            "id": user.id,
            "name": user.name,
            "teams": caller.principal.member_of,
            "capacity": user.capacity,
            "presence": view.map(|v| v.presence).unwrap_or_default(),
            "load": view.map(|v| v.load).unwrap_or(0),
            "assigned": view.map(|v| v.assigned.clone()).unwrap_or_default(),
            "offered": view.map(|v| v.offered.clone()).unwrap_or_default(),
        }
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct PresenceBody {
    presence: Presence,
}

#[utoipa::path(
    put,
    path = "/me/presence",
    tag = "console",
    security(("console" = [])),
    request_body = PresenceBody,
    responses(
        (status = 200, description = "OK.", body = super::schemas::ConsoleSetPresenceResponse),
    )
)]
async fn set_presence(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<PresenceBody>,
) -> Result<HttpResponse, ApiError> {
    state
        .desk
        .set_presence(caller.user(), body.presence)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({ "presence": body.presence })))
}

/// A supervisor (of one of the agent's teams) or an admin sets an agent's presence; audited.
#[utoipa::path(
    put,
    path = "/agents/{id}/presence",
    tag = "console",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = PresenceBody,
    responses(
        (status = 200, description = "OK.", body = super::schemas::ConsoleForcePresenceResponse),
    )
)]
async fn force_presence(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<PresenceBody>,
) -> Result<HttpResponse, ApiError> {
    let agent = AgentId::new(id.into_inner());
    let people = state.desk.directory.get();
    let user = people
        .user(&agent)
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::NotFound("no such agent".into()))?;
    let teams = people.teams_of(&agent);
    let verdicts: Vec<Verdict> = teams
        .iter()
        .map(|t| {
            policy::decide_team(
                &caller.principal,
                TeamAction::ForcePresence,
                t,
                people.is_private(Some(t)),
            )
        })
        .collect();
    let allowed = verdicts.contains(&Verdict::Allow)
        || caller.principal.role == crate::accounts::model::Role::Admin;
    if !allowed {
        return Err(if verdicts.contains(&Verdict::Forbidden) {
            ApiError::Forbidden(
                "only a supervisor of the agent's team may set their presence".into(),
            )
        } else {
            ApiError::NotFound("no such agent".into())
        });
    }
    let before = state
        .desk
        .assignments
        .snapshot()
        .await
        .ok()
        .and_then(|s| s.agents.into_iter().find(|a| a.agent == agent))
        .map(|a| a.presence)
        .unwrap_or_default();
    state
        .desk
        .set_presence(&user.id, body.presence)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let meta = request_meta(&req, &state);
    let entry = state.accounts.entry(
        &caller,
        "presence.force",
        Some(("user", agent.as_str())),
        Some(json!({ "presence": before })),
        Some(json!({ "presence": body.presence })),
        &meta,
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::Ok().json(json!({ "agent": agent, "presence": body.presence })))
}

/// Queued conversation ids `GET /teams` lists per team, in service order (`queue_length` counts
/// them all): the board shows the head of a queue, and a queue of 10,000 would make each of its
/// refreshes 400 KB.
const QUEUE_LISTED: usize = 100;

#[utoipa::path(
    get,
    path = "/teams",
    tag = "console",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ConsoleTeamsResponse),
    )
)]
async fn teams(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let snapshot = state
        .desk
        .assignments
        .snapshot()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = chrono::Utc::now().timestamp_millis();
    let board = state
        .live_sla
        .board(now)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let sla_counts = board.teams(now);
    let people = state.desk.directory.get();
    let mut teams: Vec<Value> = Vec::new();
    for t in &snapshot.teams {
        let private = people.is_private(Some(&t.team));
        let p = &caller.principal;
        if !policy::decide_team(p, TeamAction::ViewAgents, &t.team, private).allowed() {
            continue;
        }
        let sees_queue = policy::decide_team(p, TeamAction::ListInbox, &t.team, private).allowed();
        // The conversations an agent holds in this team, for those who see its queue.
        let held = |ids: &[String], how: &str| -> Vec<Value> {
            ids.iter()
                .filter(|id| board.team(id) == Some(&t.team))
                .map(|id| json!({ "id": id, "state": how, "sla": board.conversation(id, now) }))
                .collect()
        };
        let agents: Vec<Value> = snapshot
            .agents
            .iter()
            .filter(|a| a.teams.contains(&t.team))
            .map(|a| {
                let mut conversations = Vec::new();
                if sees_queue {
                    conversations = held(&a.assigned, "assigned");
                    conversations.extend(held(&a.offered, "offered"));
                }
                json!({
                    "id": a.agent,
                    "name": people.user(&a.agent).map(|u| u.name.clone()),
                    "presence": a.presence,
                    "presence_since": a.presence_since_ms,
                    "load": a.load,
                    "capacity": a.capacity,
                    "conversations": if sees_queue { json!(conversations) } else { Value::Null },
                })
            })
            .collect();
        let waiting: Vec<Value> = t
            .queue
            .iter()
            .zip(&t.queue_arrivals_ms)
            .take(QUEUE_LISTED)
            .map(|(id, since)| json!({ "id": id, "since": since, "sla": board.conversation(id, now) }))
            .collect();
        let counts = sla_counts.get(&t.team).copied().unwrap_or_default();
        teams.push(json!({
            "id": t.team,
            "name": people.team_name(&t.team),
            "strategy": t.strategy,
            "private": private,
            "queue": if sees_queue {
                json!(t.queue.iter().take(QUEUE_LISTED).collect::<Vec<_>>())
            } else {
                json!([])
            },
            "waiting": if sees_queue { json!(waiting) } else { json!([]) },
            "queue_length": if sees_queue { json!(t.queue.len()) } else { Value::Null },
            "oldest_arrival": if sees_queue { json!(t.oldest_arrival_ms) } else { Value::Null },
            "sla": if sees_queue { json!(counts) } else { Value::Null },
            "agents": agents,
        }));
    }
    Ok(HttpResponse::Ok().json(json!({ "teams": teams })))
}

#[utoipa::path(
    get,
    path = "/quick-replies",
    tag = "console",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ConsoleQuickRepliesResponse),
    )
)]
async fn quick_replies(state: web::Data<AppState>, _: Caller) -> HttpResponse {
    let replies: Vec<Value> = state
        .settings
        .console
        .quick_replies
        .iter()
        .map(|(shortcut, r)| json!({ "shortcut": shortcut, "title": r.title, "text": r.text }))
        .collect();
    HttpResponse::Ok().json(json!({ "quick_replies": replies }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    status: Option<String>,
    team: Option<String>,
    assignee: Option<String>,
    #[serde(default)]
    unassigned: bool,
    /// The last digits of the customer's number.
    phone: Option<String>,
    /// Free text: the customer's name, digits of their number, or words of a message.
    q: Option<String>,
    channel: Option<String>,
    tag: Option<String>,
    /// The `next` of the previous page.
    before: Option<String>,
    limit: Option<i64>,
}

/// The longest search text and tag accepted.
const MAX_SEARCH_CHARS: usize = 100;

fn bounded_text(name: &str, value: &Option<String>) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        None => Ok(None),
        Some("") => Err(ApiError::BadRequest(format!("`{name}` is empty"))),
        Some(v) if v.chars().count() > MAX_SEARCH_CHARS => Err(ApiError::BadRequest(format!(
            "`{name}` takes at most {MAX_SEARCH_CHARS} characters"
        ))),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// The teams whose inbox the caller may list.
pub(super) fn listable_teams(state: &AppState, caller: &Caller) -> Vec<TeamId> {
    let people = state.desk.directory.get();
    people
        .teams()
        .filter(|t| {
            policy::decide_team(&caller.principal, TeamAction::ListInbox, &t.id, t.private)
                .allowed()
        })
        .map(|t| t.id.clone())
        .collect()
}

/// A key's refusal on the conversations' routes without `conversations:read`.
fn key_may_read_conversations(actor: &Actor) -> Result<(), ApiError> {
    if policy::decide_business(actor.who(), BusinessAction::ReadConversations).allowed() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this API key lacks the scope conversations:read".into(),
        ))
    }
}

/// People list what their teams and role let them; an API key with `conversations:read`
/// every team's conversations (the same filters; `assignee=me` names nobody for a key).
#[utoipa::path(
    get,
    path = "/conversations",
    tag = "console",
    security(("console" = []), ("business" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ConsoleListResponse),
    )
)]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    key_may_read_conversations(&actor)?;
    let (viewer, visible_teams) = match &actor {
        Actor::Person(caller) => (Some(caller.user().clone()), listable_teams(&state, caller)),
        Actor::Key(_) => {
            if query.assignee.as_deref() == Some("me") {
                return Err(ApiError::BadRequest(
                    "`assignee=me` names a person: an API key lists by the agent's id".into(),
                ));
            }
            let people = state.desk.directory.get();
            (None, people.teams().map(|t| t.id.clone()).collect())
        }
    };
    let status = match &query.status {
        Some(s) => Some(
            ConversationStatus::parse(s)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown status {s}")))?,
        ),
        None => None,
    };
    let phone = match &query.phone {
        Some(p) => {
            let digits: String = p.chars().filter(char::is_ascii_digit).collect();
            if digits.is_empty() || digits.len() > 15 {
                return Err(ApiError::BadRequest(
                    "`phone` takes 1 to 15 digits: the end of the customer's number".into(),
                ));
            }
            Some(digits)
        }
        None => None,
    };
    let after = match &query.before {
        Some(cursor) => Some(ListCursor::decode(cursor).ok_or_else(|| {
            ApiError::BadRequest("`before` is not a cursor this API handed out".into())
        })?),
        None => None,
    };
    let max = state.settings.console.max_page_size as i64;
    let limit = query.limit.unwrap_or(50).clamp(1, max);
    let filter = ConversationFilter {
        assignee: query.assignee.as_deref().map(|a| match (&viewer, a) {
            (Some(me), "me") => me.clone(),
            _ => AgentId::new(a),
        }),
        viewer,
        visible_teams,
        status,
        team: query.team.clone().map(TeamId::new),
        unassigned: query.unassigned,
        customer_suffix: phone,
        text: bounded_text("q", &query.q)?.map(|q| q.to_lowercase()),
        channel: bounded_text("channel", &query.channel)?.map(ChannelId::new),
        tag: bounded_text("tag", &query.tag)?,
        after,
        // One more than asked: whether there is a next page.
        limit: limit + 1,
    };
    let mut conversations = state.store.list_conversations(&filter).await?;
    let next = if conversations.len() as i64 > limit {
        conversations.truncate(limit as usize);
        conversations.last().map(|c| ListCursor::of(c).encode())
    } else {
        None
    };
    let mut views = Vec::with_capacity(conversations.len());
    for c in &conversations {
        let contact = state.store.load_contact(&c.customer).await?;
        let mut view = c.view(
            contact.as_ref(),
            state.conversations.windows(),
            state.conversations.sla(),
        );
        state.desk.masker(c, contact.as_ref(), &[]).apply(&mut view);
        views.push(view);
    }
    actor.audit_read(&req, &state).await;
    Ok(HttpResponse::Ok().json(json!({ "conversations": views, "next": next })))
}

/// The policy's facts about a conversation, for this caller.
pub(super) async fn facts_verdict(
    state: &AppState,
    caller: &Caller,
    conversation: &ConversationRecord,
    action: Action,
) -> Verdict {
    let people = state.desk.directory.get();
    // An offer to this caller (a transfer to another team's agent is assigned, so covered).
    let offered = state
        .desk
        .assignments
        .held(&conversation.id)
        .await
        .ok()
        .flatten()
        .is_some_and(|held| {
            matches!(held, crate::assign::Held::Offered { agent: ref a, .. } if a == caller.user())
        });
    let facts = ConversationFacts {
        team: conversation.team.as_ref(),
        team_private: people.is_private(conversation.team.as_ref()),
        assignee: conversation.assignee.as_ref(),
        offered_to_principal: offered,
    };
    policy::decide(&caller.principal, action, &facts)
}

/// The conversation, if the caller may do `action` to it: 404 if they may not see it, 403 if
/// they may see it but not do this.
pub(super) async fn permitted(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> Result<ConversationRecord, ApiError> {
    let conversation = state
        .store
        .conversation_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such conversation".into()))?;
    match facts_verdict(state, caller, &conversation, action).await {
        // An erased customer's conversation is kept for the reports, read-only: nothing more
        // is written to it or sent from it.
        Verdict::Allow
            if action != Action::View && crate::crm::erase::is_erased(&conversation.customer) =>
        {
            Err(ApiError::Conflict(
                "this conversation's customer was erased: it is kept for the reports only".into(),
            ))
        }
        Verdict::Allow => Ok(conversation),
        Verdict::Hidden => Err(ApiError::NotFound("no such conversation".into())),
        Verdict::Forbidden => Err(ApiError::Forbidden(format!(
            "you may not {} this conversation",
            action_name(action)
        ))),
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::View => "open",
        Action::Reply => "reply to",
        Action::Note => "write a note on",
        Action::Transfer => "transfer",
        Action::Resolve => "resolve",
        Action::Snooze => "snooze",
        Action::AnswerOffer => "answer an offer of",
        Action::RevealNumber => "reveal the number of",
    }
}

/// People open what the policy lets them; an API key with `conversations:read` any
/// conversation (its history: all the customer's other conversations).
#[utoipa::path(
    get,
    path = "/conversations/{id}",
    tag = "console",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ConsoleShowResponse),
    )
)]
async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    key_may_read_conversations(&actor)?;
    let conversation = match &actor {
        Actor::Person(caller) => permitted(&state, caller, &id, Action::View).await?,
        Actor::Key(_) => state
            .store
            .conversation_by_id(&id)
            .await?
            .ok_or_else(|| ApiError::NotFound("no such conversation".into()))?,
    };
    let contact = state.store.load_contact(&conversation.customer).await?;
    let identities = state
        .store
        .contact_identities(&conversation.customer)
        .await?;
    let identity_views: Vec<Value> = identities
        .iter()
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
    // The customer's other conversations, only those this caller may open themselves.
    let mut history: Vec<Value> = Vec::new();
    for c in state
        .store
        .customer_conversations(&conversation.customer, 50)
        .await?
    {
        let visible = match &actor {
            Actor::Person(caller) => {
                facts_verdict(&state, caller, &c, Action::View).await == Verdict::Allow
            }
            Actor::Key(_) => true,
        };
        if c.id != conversation.id && visible {
            history.push(c.view(
                contact.as_ref(),
                state.conversations.windows(),
                state.conversations.sla(),
            ));
        }
    }
    let events = state.store.conversation_events(&conversation.id).await?;
    // Replies to a campaign's message are attributed to it.
    let campaign = state
        .runner
        .store
        .campaign_of_conversation(&conversation.id)
        .await?
        .map(|(id, name)| json!({"id": id, "name": name}));
    let mut body = json!({
        "campaign": campaign,
        "conversation": conversation.view(contact.as_ref(), state.conversations.windows(), state.conversations.sla()),
        "messages": messages,
        "contact": contact.as_ref().map(|c| json!({
            "id": c.customer,
            "name": c.name,
            "phone": c.phone,
            "language": c.language,
            "tags": c.tags,
            "fields": c.fields,
            "identities": identity_views,
        })),
        "history": history,
        "events": events,
    });
    let addresses: Vec<&str> = identities.iter().map(|i| i.address.as_str()).collect();
    state
        .desk
        .masker(&conversation, contact.as_ref(), &addresses)
        .apply(&mut body);
    actor.audit_read(&req, &state).await;
    Ok(HttpResponse::Ok().json(body))
}

/// A supervisor of the conversation's team or an admin sees its customer's number in clear,
/// on purpose: the reveal is audited.
#[utoipa::path(
    post,
    path = "/conversations/{id}/reveal",
    tag = "console",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ConsoleRevealResponse),
    )
)]
async fn reveal(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conversation = permitted(&state, &caller, &id, Action::RevealNumber).await?;
    let contact = state.store.load_contact(&conversation.customer).await?;
    let meta = request_meta(&req, &state);
    let entry = state.accounts.entry(
        &caller,
        "number.reveal",
        Some(("conversation", conversation.id.as_str())),
        None,
        None,
        &meta,
    );
    state
        .store
        .append_audit(&entry)
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(json!({
        "customer": conversation.customer,
        "phone": contact.and_then(|c| c.phone),
    })))
}

/// Run a caller's action in the conversation's actor, if the policy allows it. A supervisor's
/// or an admin's action on a conversation they do not hold is audited.
pub(super) async fn act(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: AgentAction,
) -> Result<HttpResponse, ApiError> {
    let (policy_action, created) = match &action {
        AgentAction::Reply(_) => (Action::Reply, true),
        AgentAction::Note(_) => (Action::Note, true),
        AgentAction::TransferToTeam(_) | AgentAction::TransferToAgent(_) => {
            (Action::Transfer, false)
        }
        AgentAction::Resolve => (Action::Resolve, false),
        AgentAction::Snooze { .. } => (Action::Snooze, false),
        AgentAction::Accept | AgentAction::Reject => (Action::AnswerOffer, false),
    };
    let conversation = permitted(state, caller, id, policy_action).await?;
    let manager = conversation
        .team
        .as_ref()
        .is_some_and(|t| caller.principal.manages(t))
        || caller.principal.role == crate::accounts::model::Role::Admin;
    let holder = conversation.assignee.as_ref() == Some(caller.user());
    let audited = manager && !holder && matches!(policy_action, Action::Transfer | Action::Resolve);
    let audit_after = match &action {
        AgentAction::TransferToTeam(team) => json!({ "team": team }),
        AgentAction::TransferToAgent(agent) => json!({ "agent": agent }),
        _ => json!({ "status": "resolved" }),
    };
    let command = Command::Agent {
        conversation_id: conversation.id.clone(),
        agent: caller.user().clone(),
        action,
        manager,
    };
    let reply = state
        .conversations
        .command(&conversation.channel, &conversation.key, command)
        .await?;
    if audited {
        let meta = request_meta(req, state);
        let what = if policy_action == Action::Resolve {
            "conversation.resolve"
        } else {
            "conversation.reassign"
        };
        let entry = state.accounts.entry(
            caller,
            what,
            Some(("conversation", conversation.id.as_str())),
            Some(json!({ "team": conversation.team, "assignee": conversation.assignee })),
            Some(audit_after),
            &meta,
        );
        state.accounts.audit(&entry).await;
    }
    // The reply shows the conversation after the command: mask it like any view of it.
    let after = state
        .store
        .conversation_by_id(&conversation.id)
        .await?
        .unwrap_or(conversation);
    let contact = state.store.load_contact(&after.customer).await?;
    let masker = state.desk.masker(&after, contact.as_ref(), &[]);
    Ok(respond(reply, created, &masker))
}

fn respond(reply: CommandReply, created: bool, masker: &Masker) -> HttpResponse {
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    let mut body = match reply {
        CommandReply::Conversation(c) => json!({ "conversation": c }),
        CommandReply::Message(m) => json!({ "message": m }),
        CommandReply::Done => json!({}),
    };
    masker.apply(&mut body);
    response.json(body)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    text: Option<String>,
    media: Option<MediaBody>,
    quick_reply: Option<String>,
    /// A WhatsApp template with its parameters: also after the customer-service window closed
    /// (docs/CAMPAIGNS.md, "Sending a template").
    template: Option<super::campaigns::TemplateFill>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MediaBody {
    kind: MediaKind,
    link: String,
    caption: Option<String>,
    filename: Option<String>,
}

/// WhatsApp's longest text body.
const MAX_TEXT: usize = 4096;

#[utoipa::path(
    post,
    path = "/conversations/{id}/messages",
    tag = "console",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = ReplyBody,
    responses(
        (status = 201, description = "Created.", body = super::schemas::ConsoleReplyResponse),
    )
)]
async fn reply(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<ReplyBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let content = match (body.text, body.media, body.quick_reply, body.template) {
        (None, None, None, Some(fill)) => {
            let conversation = permitted(&state, &caller, &id, Action::Reply).await?;
            super::campaigns::agent_template(&state, &conversation, &fill).await?
        }
        (Some(text), None, None, None) => text_content(text)?,
        (None, None, Some(shortcut), None) => {
            let reply = state
                .settings
                .console
                .quick_replies
                .get(shortcut.trim_start_matches('/'))
                .ok_or_else(|| ApiError::BadRequest(format!("no quick reply {shortcut}")))?;
            text_content(reply.text.clone())?
        }
        (None, Some(media), None, None) => {
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
                "give exactly one of `text`, `media`, `quick_reply` or `template`".into(),
            ));
        }
    };
    act(&req, &state, &caller, &id, AgentAction::Reply(content)).await
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

#[utoipa::path(
    post,
    path = "/conversations/{id}/notes",
    tag = "console",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = NoteBody,
    responses(
        (status = 201, description = "Created.", body = super::schemas::ConsoleNoteResponse),
    )
)]
async fn note(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<NoteBody>,
) -> Result<HttpResponse, ApiError> {
    let text = body.into_inner().text;
    if text.trim().is_empty() || text.chars().count() > 10_000 {
        return Err(ApiError::BadRequest(
            "`text` must hold 1 to 10,000 characters".into(),
        ));
    }
    act(&req, &state, &caller, &id, AgentAction::Note(text)).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    team: Option<String>,
    agent: Option<String>,
}

#[utoipa::path(
    post,
    path = "/conversations/{id}/transfer",
    tag = "console",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = TransferBody,
    responses(
        (status = 200, description = "OK.", body = super::schemas::ConsoleTransferResponse),
    )
)]
async fn transfer(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    let action = match body.into_inner() {
        TransferBody {
            team: Some(team),
            agent: None,
        } => {
            if state
                .desk
                .directory
                .get()
                .team(&TeamId::new(&team))
                .is_none()
            {
                return Err(ApiError::BadRequest(format!("unknown team {team}")));
            }
            AgentAction::TransferToTeam(TeamId::new(team))
        }
        TransferBody {
            team: None,
            agent: Some(to),
        } => {
            let known = state
                .desk
                .directory
                .get()
                .user(&AgentId::new(&to))
                .is_some_and(|u| u.active);
            if !known {
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
    act(&req, &state, &caller, &id, action).await
}

/// `resolve`, `accept` (an offer to you) or `reject` (it).
#[utoipa::path(
    post,
    path = "/conversations/{id}/{verb}",
    tag = "console",
    security(("console" = [])),
    params(
        ("id" = String, Path),
        ("verb" = String, Path, description = "`resolve`, `accept` or `reject`"),
    ),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ConsoleLifecycleResponse),
    )
)]
async fn lifecycle(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, verb) = path.into_inner();
    let action = match verb.as_str() {
        "resolve" => AgentAction::Resolve,
        "accept" => AgentAction::Accept,
        "reject" => AgentAction::Reject,
        _ => return Err(ApiError::NotFound(format!("no action {verb}"))),
    };
    act(&req, &state, &caller, &id, action).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SnoozeBody {
    until: String,
}

#[utoipa::path(
    post,
    path = "/conversations/{id}/snooze",
    tag = "console",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = SnoozeBody,
    responses(
        (status = 200, description = "OK.", body = super::schemas::ConsoleSnoozeResponse),
    )
)]
async fn snooze(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<SnoozeBody>,
) -> Result<HttpResponse, ApiError> {
    let until = chrono::DateTime::parse_from_rfc3339(&body.until)
        .map_err(|e| ApiError::BadRequest(format!("`until` is not an RFC 3339 time: {e}")))?;
    let action = AgentAction::Snooze {
        until_ms: until.timestamp_millis(),
    };
    act(&req, &state, &caller, &id, action).await
}
