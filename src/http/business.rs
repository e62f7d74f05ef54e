//! The business API's actions on conversations, for API keys with `messages:send`
//! (docs/ARCHITECTURE.md, "API keys"):
//!
//! - `POST /api/v1/contacts/{id}/messages` `{"channel", "text"}` or
//!   `{"channel", "template": {"name", "language", "components"?}}`: a message to the contact
//!   on a channel (checked by [`crate::integrations::send`]), run by the conversation's actor
//!   like an agent's reply (committed with its step, sent once, in order), in the contact's
//!   current conversation there or a new one opened in the bot's hands; 202
//!   `{"message_id", "conversation_id", "message"}`. Audited as the key (`message.send`).
//! - `POST /api/v1/conversations/{id}/handoff` `{"team", "note"?}`: the conversation goes to
//!   the team's queue (the bot stops; assignment offers or assigns it), like a transfer;
//!   audited (`conversation.handoff`).
//!
//! People keep the console's routes (`/conversations/{id}/messages`, `/transfer`), where the
//! policy weighs each conversation: here they are refused (403).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Actor, request_meta};
use super::{ApiError, AppState};
use crate::accounts::policy::{self, BusinessAction, KeyPrincipal};
use crate::conversation::commands::{BusinessCommand, Command, CommandReply};
use crate::domain::{ChannelId, ConversationKey, CustomerId, TeamId};
use crate::integrations::send::{Refusal, SendBody, address_on};

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_send, send).op(__path_handoff, handoff);
}

/// The longest handoff note.
const MAX_NOTE: usize = 10_000;

/// The key, if it may do `action`: a key without `messages:send` is 403, and so is a person
/// (they reply and transfer through the console's routes).
fn key_for(actor: &Actor, action: BusinessAction) -> Result<&KeyPrincipal, ApiError> {
    match actor {
        Actor::Key(key) if policy::decide_business(actor.who(), action).allowed() => Ok(key),
        Actor::Key(_) => Err(ApiError::Forbidden(format!(
            "this API key lacks the scope {}",
            action.scope().as_str()
        ))),
        Actor::Person(_) => Err(ApiError::Forbidden(
            "people reply and transfer through /api/v1/conversations/{id}/messages and \
             /transfer"
                .into(),
        )),
    }
}

/// A message to the contact on a channel, from a business system's key (`messages:send`).
#[utoipa::path(
    post,
    path = "/contacts/{id}/messages",
    tag = "business",
    security(("business" = [])),
    params(("id" = String, Path)),
    request_body = SendBody,
    responses(
        (status = 202, description = "Accepted: recorded, sent once.", body = super::schemas::BusinessSendResponse),
    )
)]
async fn send(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: web::Json<SendBody>,
) -> Result<HttpResponse, ApiError> {
    let key = key_for(&actor, BusinessAction::SendMessages)?;
    let body = body.into_inner();
    let Some(channel_settings) = state.settings.channels.get(&body.channel) else {
        return Err(ApiError::Unprocessable {
            code: "unknown_channel",
            message: format!("`channel`: no channel {:?}", body.channel),
        });
    };
    let kind = channel_settings.kind;
    let content = body.content(kind).map_err(|refusal| match refusal {
        Refusal::BadRequest(message) => ApiError::BadRequest(message),
        Refusal::Rule { code, message } => ApiError::Unprocessable { code, message },
    })?;
    let not_found = || ApiError::NotFound("no such contact".into());
    if id.is_empty() || id.chars().count() > 512 {
        return Err(not_found());
    }
    let contact = state
        .store
        .load_contact(&CustomerId::new(id.as_str()))
        .await?
        .ok_or_else(not_found)?;
    let identities = state.store.contact_identities(&contact.customer).await?;
    let Some(customer) = address_on(&body.channel, kind, &identities, contact.phone.as_deref())
    else {
        return Err(ApiError::Unprocessable {
            code: "no_address",
            message: format!(
                "the contact has no address on channel {:?}: the customer never wrote there{}",
                body.channel,
                if kind == crate::domain::ChannelKind::Whatsapp {
                    " and the contact has no phone number"
                } else {
                    ""
                }
            ),
        });
    };
    // A template: synced and APPROVED, the country rules and the consent rules
    // (docs/CAMPAIGNS.md); the messaging limit is the conversation's to weigh (it knows the
    // service window).
    if let crate::domain::OutboundContent::Template { name, language, .. } = &content {
        state
            .campaigns
            .template_check(&body.channel, customer.as_str(), name, language)
            .await?
            .map_err(|refusal| match refusal {
                Refusal::BadRequest(message) => ApiError::BadRequest(message),
                Refusal::Rule { code, message } => ApiError::Unprocessable { code, message },
            })?;
    }
    let channel = ChannelId::new(body.channel.as_str());
    let conversation_key = ConversationKey::new(&channel, &customer);
    let command = Command::Business {
        key: key.id.clone(),
        key_name: key.name.clone(),
        action: BusinessCommand::Send {
            channel: channel.clone(),
            customer,
            content,
            id: None,
        },
    };
    let reply = state
        .conversations
        .command(&channel, &conversation_key, command)
        .await?;
    let CommandReply::Message(message) = reply else {
        return Err(ApiError::Internal("a send answered no message".into()));
    };
    let message_id = message["id"].clone();
    let conversation_id = message["conversation_id"].clone();
    let entry = actor.entry(
        &state,
        "message.send",
        Some(("contact", contact.customer.as_str())),
        None,
        Some(json!({
            "channel": channel,
            "conversation": conversation_id,
            "message": message_id,
            "kind": message["kind"],
        })),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::Accepted().json(json!({
        "message_id": message_id,
        "conversation_id": conversation_id,
        "message": message,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct HandoffBody {
    team: String,
    #[serde(default)]
    note: Option<String>,
}

/// What a handoff answers of the conversation: where it is now (the key may lack
/// `conversations:read`, so nothing of the customer).
fn summary(view: &Value) -> Value {
    json!({
        "id": view["id"],
        "status": view["status"],
        "team": view["team"],
        "assignee": view["assignee"],
    })
}

/// Hand a conversation to a team, from a business system's key (`messages:send`).
#[utoipa::path(
    post,
    path = "/conversations/{id}/handoff",
    tag = "business",
    security(("business" = [])),
    params(("id" = String, Path)),
    request_body = HandoffBody,
    responses(
        (status = 200, description = "OK.", body = super::schemas::BusinessHandoffResponse),
    )
)]
async fn handoff(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: web::Json<HandoffBody>,
) -> Result<HttpResponse, ApiError> {
    let key = key_for(&actor, BusinessAction::HandOff)?;
    let HandoffBody { team, note } = body.into_inner();
    let note = match note {
        None => None,
        Some(text) if text.trim().is_empty() || text.chars().count() > MAX_NOTE => {
            return Err(ApiError::BadRequest(format!(
                "`note` holds 1 to {MAX_NOTE} characters"
            )));
        }
        Some(text) => Some(text),
    };
    let team = TeamId::new(team);
    if state.desk.directory.get().team(&team).is_none() {
        return Err(ApiError::Unprocessable {
            code: "unknown_team",
            message: format!("`team`: no team \"{team}\""),
        });
    }
    let conversation = state
        .store
        .conversation_by_id(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such conversation".into()))?;
    let command = Command::Business {
        key: key.id.clone(),
        key_name: key.name.clone(),
        action: BusinessCommand::Handoff {
            conversation_id: conversation.id.clone(),
            team: team.clone(),
            note: note.clone(),
        },
    };
    let reply = state
        .conversations
        .command(&conversation.channel, &conversation.key, command)
        .await?;
    let CommandReply::Conversation(view) = reply else {
        return Err(ApiError::Internal(
            "a handoff answered no conversation".into(),
        ));
    };
    let entry = actor.entry(
        &state,
        "conversation.handoff",
        Some(("conversation", conversation.id.as_str())),
        Some(json!({
            "status": conversation.status.as_str(),
            "team": conversation.team,
            "assignee": conversation.assignee,
        })),
        Some(json!({ "team": team, "note": note.is_some() })),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::Ok().json(json!({ "conversation": summary(&view) })))
}
