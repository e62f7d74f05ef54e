//! Commands to a conversation's actor besides the customer's own events: agents' actions
//! (reply, note, transfer, resolve, snooze, accept, reject) and the desk's (a placement made
//! elsewhere, an offer timeout, an overflow, a snooze ending). The actor runs each one in
//! order with the customer's events, commits what it changes in one step, and only then acts
//! outside (sends to the customer, tells agents, hands placements on).

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ConversationDeps;
use super::actor::Loaded;
use crate::accounts::privacy::Masker;
use crate::activity::News;
use crate::assign::{AssignError, ConversationRef, Held, Placement, Ticket};
use crate::domain::{
    AgentId, ChannelId, ConversationKey, CustomerId, MessageId, OutboundContent, OutboundMessage,
    Sender, TeamId,
};
use crate::metrics as m;
use crate::store::{
    ConsoleOutboxEntry, ContactRecord, ConversationEvent, ConversationRecord, ConversationStatus,
    ConversationStep, StoreError, StoredMessage,
};

/// What a conversation's actor can be asked to do. Serializable: in a cluster a command travels
/// to the node that owns the conversation, and timers keep theirs in Redis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// A decision made elsewhere placed this conversation (a drain, an offer moving on).
    Placed(Placement),
    /// The offer to `agent` was not answered in time.
    OfferTimeout {
        conversation_id: String,
        agent: AgentId,
    },
    /// Still queued in `from` after its overflow wait: move to `to`.
    Overflow {
        conversation_id: String,
        from: TeamId,
        to: TeamId,
    },
    /// A snooze ended.
    Reopen { conversation_id: String },
    /// An SLA clock may have come due: announce its breach if it has.
    SlaCheck { conversation_id: String },
    /// Make sure a waiting conversation is where the assignment state says (placed again if it
    /// holds nothing for it: a placement that failed, or state that was lost).
    Reconcile { conversation_id: String },
    /// An agent acts on the conversation. `manager`: the agent supervises the conversation's
    /// team or is an admin (the policy said so), so they may note, transfer or resolve it
    /// without holding it.
    Agent {
        conversation_id: String,
        agent: AgentId,
        action: AgentAction,
        #[serde(default)]
        manager: bool,
    },
    /// `agent` was deactivated: if they still hold the conversation (assigned or offered), it
    /// goes back to its team's queue near the head and is placed again by the usual rules.
    Requeue {
        conversation_id: String,
        agent: AgentId,
    },
    /// The customer's contact changed outside this conversation (merged with another, linked
    /// by a proven number): read it again. The store already holds the truth; this refreshes
    /// the copy routing, the bot and the console views use.
    ContactChanged,
    /// A business system acts through its API key (`key`: the key's id, `key_name` its name:
    /// the conversation's events and logs name it).
    Business {
        key: String,
        key_name: String,
        action: BusinessCommand,
    },
}

/// What a business system asks of the customer's conversation on a channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum BusinessCommand {
    /// Send to the customer: in their current conversation on the channel, or in a new one
    /// opened for it (in the bot's hands, see [`send_for_business`]).
    Send {
        channel: ChannelId,
        customer: CustomerId,
        content: OutboundContent,
        /// The message's id, chosen by the sender (a retry's, so a second try finds it); None:
        /// a new one.
        #[serde(default)]
        id: Option<MessageId>,
    },
    /// Hand the conversation to a team: the bot stops, the team's queue and assignment take
    /// over; `note` becomes a private note for the agent who takes it.
    Handoff {
        conversation_id: String,
        team: TeamId,
        note: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", content = "value", rename_all = "snake_case")]
pub enum AgentAction {
    Reply(OutboundContent),
    Note(String),
    TransferToTeam(TeamId),
    TransferToAgent(AgentId),
    Resolve,
    Snooze { until_ms: i64 },
    Accept,
    Reject,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", content = "value", rename_all = "snake_case")]
pub enum CommandReply {
    /// The conversation as agents see it, after the command.
    Conversation(Value),
    /// A message the command created.
    Message(Value),
    Done,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", content = "message", rename_all = "snake_case")]
pub enum CommandError {
    #[error("no such conversation")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    /// A free-form message after the customer-service window closed (Meta's 131047).
    #[error("{0}")]
    WindowClosed(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A template outside the service window would reach more unique customers in 24 hours
    /// than the portfolio's messaging limit allows.
    #[error("{message}")]
    MessagingLimit {
        message: String,
        retry_after_seconds: u64,
    },
}

/// Side effects of a step, run once it is committed.
#[derive(Default)]
pub(crate) struct Effects {
    pub outbound: Vec<(OutboundMessage, Sender)>,
    pub emits: Vec<(AgentId, &'static str, Value)>,
    /// The console outbox ids of `emits`, once they are part of a step.
    pub emit_ids: Vec<String>,
    pub dispatch: Vec<Placement>,
    pub watch: Vec<Placement>,
    pub reopen_at: Option<(ConversationRef, i64)>,
    /// The conversation's next SLA due time, to look for a breach then.
    pub sla_check: Option<(ConversationRef, i64)>,
    /// The conversation could not be placed (assignment state unreachable): try again soon.
    pub reconcile: Option<ConversationRef>,
    /// What the step changed, for consoles outside its event log (team inboxes, onlookers).
    pub news: Option<News>,
    /// Events for the consoles watching the conversation that may be in no agent's log (a
    /// waiting conversation's messages): kind, data; masked in [`Effects::news_of`].
    pub onlookers: Vec<(&'static str, Value)>,
    /// The agent whose own action this step is: their events are not pushed to them (an
    /// agent who accepts an offer needs no notification that it is theirs).
    pub actor: Option<AgentId>,
}

impl Effects {
    /// The console events as outbox entries of the conversation `key`, to commit with the
    /// step: they reach the agents' logs even if the process dies right after the commit.
    ///
    /// Numbers are masked first where the conversation's team masks them (`masker`): the
    /// events reach every console, and the log, already masked.
    pub(crate) fn console_outbox(
        &mut self,
        key: &ConversationKey,
        masker: &Masker,
    ) -> Vec<ConsoleOutboxEntry> {
        for (_, _, data) in &mut self.emits {
            masker.apply(data);
        }
        let now = now_ms();
        let entries: Vec<ConsoleOutboxEntry> = self
            .emits
            .iter()
            .map(|(agent, kind, data)| ConsoleOutboxEntry {
                id: uuid::Uuid::now_v7().to_string(),
                agent: agent.clone(),
                kind: kind.to_string(),
                payload: data.clone(),
                created_at: now,
                conversation: Some(key.clone()),
            })
            .collect();
        self.emit_ids = entries.iter().map(|e| e.id.clone()).collect();
        entries
    }

    /// The step's news for the consoles outside its event log: the conversation's new state,
    /// and its message events for those watching it. Call after [`Effects::console_outbox`]
    /// (its events are masked by then); nothing when nobody could be told.
    pub(crate) fn news_of(
        &mut self,
        deps: &ConversationDeps,
        c: &ConversationRecord,
        contact: Option<&ContactRecord>,
        masker: &Masker,
    ) {
        let Some(team) = c.team.clone() else {
            return;
        };
        if c.status == ConversationStatus::Bot || !deps.desk.activity.has_audience(&team, &c.id) {
            return;
        }
        let mut view = c.view(contact, &deps.windows, &deps.sla);
        masker.apply(&mut view);
        // The same event goes to several agents: once here.
        let mut seen = std::collections::HashSet::new();
        let mut events = Vec::new();
        for (_, data) in &mut self.onlookers {
            masker.apply(data);
        }
        let emitted = self.emits.iter().map(|(_, kind, data)| (kind, data));
        let watched = self.onlookers.iter().map(|(kind, data)| (kind, data));
        for (kind, data) in emitted.chain(watched) {
            if !matches!(*kind, "message.created" | "message.status") {
                continue;
            }
            let key = format!(
                "{kind}|{}|{}|{}",
                data["message"]["id"], data["provider_id"], data["status"]
            );
            if seen.insert(key) {
                events.push((kind.to_string(), data.clone()));
            }
        }
        let private = deps.desk.directory.get().is_private(Some(&team));
        self.news = Some(News {
            conversation: c.id.clone(),
            team,
            private,
            assignee: c.assignee.clone(),
            view,
            events,
        });
    }

    pub(crate) async fn run(self, deps: &ConversationDeps) {
        if !self.outbound.is_empty() {
            let channel = self.outbound[0].0.channel.clone();
            match deps.outbound.sender(&channel) {
                Some(sender) => {
                    for (message, _) in self.outbound {
                        if sender.send(message).await.is_err() {
                            tracing::warn!(%channel, "sender closed; message stays queued");
                        }
                    }
                }
                None => tracing::warn!(%channel, "no sender for channel; messages stay queued"),
            }
        }
        let mut ids = self.emit_ids.into_iter();
        for (agent, kind, data) in self.emits {
            // Web Push (closed consoles, phones), from the committed, masked event; not for
            // what the agent just did themselves.
            if self.actor.as_ref() != Some(&agent) {
                deps.desk.notify(&agent, kind, &data);
            }
            deps.desk
                .emit_event(&agent, kind.to_string(), data, ids.next())
                .await;
        }
        for placement in self.watch {
            deps.desk.watch(placement).await;
        }
        deps.desk.dispatch(self.dispatch);
        if let Some((conversation, at)) = self.reopen_at {
            deps.desk.schedule_reopen(conversation, at);
        }
        if let Some((conversation, at)) = self.sla_check {
            deps.desk.schedule_sla_check(conversation, at);
        }
        if let Some(conversation) = self.reconcile {
            deps.desk.reconcile_later(conversation);
        }
        if let Some(news) = self.news {
            deps.desk.activity.news(news);
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn conversation_ref(c: &ConversationRecord) -> ConversationRef {
    ConversationRef {
        id: c.id.clone(),
        key: c.key.clone(),
        channel: c.channel.clone(),
    }
}

fn event(
    kind: &str,
    agent: Option<&AgentId>,
    team: Option<&TeamId>,
    detail: Option<String>,
) -> ConversationEvent {
    ConversationEvent {
        kind: kind.to_string(),
        agent: agent.cloned(),
        team: team.cloned(),
        detail,
    }
}

/// The event of a conversation the bot's flow ended (resolved by the bot alone).
pub(crate) fn bot_resolved(c: &ConversationRecord) -> ConversationEvent {
    event("resolved", None, c.team.as_ref(), Some("bot".into()))
}

/// A text message from the business to the customer, recorded with the step.
pub(crate) fn text_to_customer(c: &ConversationRecord, text: String) -> OutboundMessage {
    OutboundMessage {
        id: MessageId::generate(),
        conversation: c.key.clone(),
        channel: c.channel.clone(),
        to: c.customer.clone(),
        content: OutboundContent::Text {
            body: text,
            preview_url: false,
        },
        reply_to: None,
    }
}

/// The transcript view of a message this step records.
#[allow(clippy::too_many_arguments)]
pub(crate) fn message_view(
    c: &ConversationRecord,
    id: &MessageId,
    direction: &str,
    sender: &str,
    kind: &str,
    body: Value,
    author: Option<&AgentId>,
    status: &str,
) -> Value {
    serde_json::to_value(StoredMessage {
        id: id.to_string(),
        conversation_id: c.id.clone(),
        direction: direction.into(),
        sender: sender.into(),
        kind: kind.into(),
        body,
        provider_id: None,
        status: status.into(),
        error_code: None,
        error_reason: None,
        attempts: 0,
        created_at: now_ms(),
        author: author.map(|a| a.to_string()),
    })
    .unwrap_or(Value::Null)
}

/// Ask for an agent: place the conversation (assigned, offered or queued) and apply the result.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn place(
    deps: &ConversationDeps,
    c: &mut ConversationRecord,
    contact: &ContactRecord,
    team: TeamId,
    preferred: Option<AgentId>,
    tell_position: bool,
    step: &mut ConversationStep,
    fx: &mut Effects,
) {
    c.status = ConversationStatus::Waiting;
    c.team = Some(team.clone());
    let ticket = Ticket {
        conversation: conversation_ref(c),
        team: team.clone(),
        priority: c.priority,
        arrival_ms: c.handoff_at.unwrap_or_else(now_ms),
        preferred_agent: preferred,
    };
    match deps.desk.assignments.place(ticket).await {
        Ok(placement) => {
            apply_placement(deps, c, contact, placement, tell_position, step, fx).await
        }
        Err(AssignError::QueueFull(team)) => {
            tracing::warn!(conversation = %c.id, %team, "queue full");
            step.events
                .push(event("queue_full", None, Some(&team), None));
            if let Some(text) = deps
                .desk
                .queue_full_text(contact.language.as_deref(), &team)
            {
                fx.outbound.push((text_to_customer(c, text), Sender::Bot));
            }
        }
        Err(AssignError::AlreadyPlaced(_)) => {
            // Placed before a failed commit: adopt what the seam holds.
            if let Ok(Some(held)) = deps.desk.assignments.held(&c.id).await {
                adopt(deps, c, contact, held, step, fx).await;
            }
        }
        Err(e) => {
            // Stays waiting for its team; placed again shortly (and whenever its partition
            // changes hands, and at start).
            tracing::warn!(conversation = %c.id, error = %e, "could not place the conversation; retrying shortly");
            fx.reconcile = Some(conversation_ref(c));
        }
    }
}

/// Make the record say what the assignment state holds for the conversation.
async fn adopt(
    deps: &ConversationDeps,
    c: &mut ConversationRecord,
    contact: &ContactRecord,
    held: Held,
    step: &mut ConversationStep,
    fx: &mut Effects,
) {
    let conversation = conversation_ref(c);
    let placement = match held {
        Held::Assigned { team, agent } => Placement::Assigned {
            conversation,
            team,
            agent,
        },
        Held::Offered { team, agent } => Placement::Offered {
            conversation,
            team,
            agent,
        },
        Held::Queued { team } => {
            let position = deps
                .desk
                .assignments
                .position(&c.id)
                .await
                .ok()
                .flatten()
                .unwrap_or(1);
            Placement::Queued {
                conversation,
                team,
                position,
            }
        }
    };
    apply_placement(deps, c, contact, placement, false, step, fx).await;
}

/// What the assignment state holds for a placement's conversation if that placement stands.
fn held_by(placement: &Placement) -> Held {
    match placement {
        Placement::Assigned { team, agent, .. } => Held::Assigned {
            team: team.clone(),
            agent: agent.clone(),
        },
        Placement::Offered { team, agent, .. } => Held::Offered {
            team: team.clone(),
            agent: agent.clone(),
        },
        Placement::Queued { team, .. } => Held::Queued { team: team.clone() },
    }
}

/// Record where the conversation is now and line up who must hear of it.
pub(crate) async fn apply_placement(
    deps: &ConversationDeps,
    c: &mut ConversationRecord,
    contact: &ContactRecord,
    placement: Placement,
    tell_position: bool,
    step: &mut ConversationStep,
    fx: &mut Effects,
) {
    let now = now_ms();
    match placement {
        Placement::Assigned { team, agent, .. } => {
            c.team = Some(team.clone());
            c.status = ConversationStatus::Assigned;
            c.assignee = Some(agent.clone());
            c.assigned_at = Some(now);
            c.snoozed_until = None;
            if let Some(handoff) = c.handoff_at {
                metrics::histogram!(m::TIME_TO_ASSIGN, "team" => team.to_string())
                    .record((now - handoff).max(0) as f64 / 1000.0);
            }
            tracing::info!(conversation = %c.id, %agent, %team, "assigned");
            step.events
                .push(event("assigned", Some(&agent), Some(&team), None));
            fx.emits.push((
                agent,
                "conversation.assigned",
                json!({ "conversation": c.view(Some(contact), &deps.windows, &deps.sla) }),
            ));
        }
        Placement::Offered { team, agent, .. } => {
            c.team = Some(team.clone());
            c.status = ConversationStatus::Waiting;
            metrics::counter!(m::OFFERS, "outcome" => "offered").increment(1);
            step.events
                .push(event("offered", Some(&agent), Some(&team), None));
            let timeout = deps
                .desk
                .directory
                .get()
                .team(&team)
                .map(|t| t.offer_timeout_seconds)
                .unwrap_or(0);
            fx.emits.push((
                agent.clone(),
                "conversation.offered",
                json!({
                    "conversation": c.view(Some(contact), &deps.windows, &deps.sla),
                    "expires_at": now + (timeout as i64) * 1000,
                }),
            ));
            fx.watch.push(Placement::Offered {
                conversation: conversation_ref(c),
                team,
                agent,
            });
        }
        Placement::Queued { team, position, .. } => {
            c.team = Some(team.clone());
            c.status = ConversationStatus::Waiting;
            step.events.push(event(
                "queued",
                None,
                Some(&team),
                Some(format!("position {position}")),
            ));
            if tell_position
                && let Some(text) =
                    deps.desk
                        .queue_text(contact.language.as_deref(), position, &team)
            {
                fx.outbound.push((text_to_customer(c, text), Sender::Bot));
            }
            fx.watch.push(Placement::Queued {
                conversation: conversation_ref(c),
                team,
                position,
            });
        }
    }
}

/// Take the conversation off its agent, offer or queue; what that frees is handed on.
async fn release(
    deps: &ConversationDeps,
    c: &ConversationRecord,
    fx: &mut Effects,
) -> Option<Held> {
    match deps.desk.assignments.release(&c.id).await {
        Ok((held, placements)) => {
            fx.dispatch.extend(placements);
            held
        }
        Err(e) => {
            tracing::error!(conversation = %c.id, error = %e, "release failed");
            None
        }
    }
}

/// Undo what the assignment state holds for a conversation that is not its customer's
/// current one; what that frees is handed on.
async fn release_stale(deps: &ConversationDeps, conversation_id: &str) {
    match deps.desk.assignments.release(conversation_id).await {
        Ok((held, placements)) => {
            if let Some(held) = held {
                tracing::info!(
                    conversation = conversation_id,
                    ?held,
                    "released a decision for a conversation that is not current"
                );
            }
            let fx = Effects {
                dispatch: placements,
                ..Effects::default()
            };
            fx.run(deps).await;
        }
        Err(e) => {
            tracing::warn!(conversation = conversation_id, error = %e, "stale decision not released")
        }
    }
}

type Outcome = Result<CommandReply, CommandError>;

/// Run one command on the loaded conversation. The outer error means the store failed (the
/// actor stops and a fresh one reloads); the inner result is the command's answer.
pub(crate) async fn execute(
    deps: &ConversationDeps,
    mut loaded: Loaded,
    command: Command,
) -> Result<(Loaded, Outcome), StoreError> {
    let target = match &command {
        Command::ContactChanged => {
            if let Some(c) = &loaded.conversation {
                match deps.store.load_contact(&c.customer).await? {
                    Some(contact) => loaded.contact = contact,
                    // Erased: drop every copy of the customer; their conversations are no
                    // longer under this key, so the next event starts afresh.
                    None => {
                        let (key, customer) = (c.key.clone(), c.customer.clone());
                        loaded = super::actor::load(deps, &key, &customer).await?;
                    }
                }
            }
            return Ok((loaded, Ok(CommandReply::Done)));
        }
        Command::Business {
            key,
            key_name,
            action:
                BusinessCommand::Send {
                    channel,
                    customer,
                    content,
                    id,
                },
        } => {
            let open = Opening {
                key: ConversationKey::new(channel, customer),
                channel: channel.clone(),
                customer: customer.clone(),
            };
            let by = format!("{key_name} ({key})");
            return send_for_business(deps, loaded, &by, open, content.clone(), *id).await;
        }
        Command::Business {
            action: BusinessCommand::Handoff {
                conversation_id, ..
            },
            ..
        } => conversation_id.clone(),
        Command::Placed(p) => p.conversation().id.clone(),
        Command::OfferTimeout {
            conversation_id, ..
        }
        | Command::Overflow {
            conversation_id, ..
        }
        | Command::Reopen { conversation_id }
        | Command::SlaCheck { conversation_id }
        | Command::Reconcile { conversation_id }
        | Command::Agent {
            conversation_id, ..
        }
        | Command::Requeue {
            conversation_id, ..
        } => conversation_id.clone(),
    };
    let current = loaded.conversation.as_ref().map(|c| c.id.clone());
    if current.as_deref() != Some(target.as_str()) {
        // Not this customer's current conversation: an earlier one (resolved, a new one began),
        // or one whose first step never committed (its node died or its commit failed after
        // the assignment decision). This actor owns the customer's conversations, so whatever
        // the assignment state still holds for it holds a slot for nothing: undo it.
        if matches!(command, Command::Placed(_) | Command::Reconcile { .. }) {
            release_stale(deps, &target).await;
        }
        return Ok((
            loaded,
            Err(match current {
                Some(_) => CommandError::Conflict("the conversation is closed".into()),
                None => CommandError::NotFound,
            }),
        ));
    }
    let Some(mut c) = loaded.conversation.clone() else {
        return Ok((loaded, Err(CommandError::NotFound)));
    };
    let mut step = ConversationStep::update(c.clone());
    let mut fx = Effects::default();
    let contact = loaded.contact.clone();
    let now = now_ms();
    let before = c.clone();
    let sla_check = matches!(command, Command::SlaCheck { .. });
    let sla_before = deps.sla.before_step(Some(&c), now);

    let outcome: Outcome = match command {
        // Answered before the conversation's checks, above.
        Command::ContactChanged
        | Command::Business {
            action: BusinessCommand::Send { .. },
            ..
        } => Ok(CommandReply::Done),
        Command::Business {
            key,
            key_name,
            action: BusinessCommand::Handoff { team, note, .. },
        } => {
            let by = format!("{key_name} ({key})");
            hand_to_team(deps, &mut c, &contact, &by, team, note, &mut step, &mut fx).await
        }
        Command::Placed(placement) => {
            let recorded = match &placement {
                Placement::Assigned { agent, .. } => {
                    c.status == ConversationStatus::Assigned && c.assignee.as_ref() == Some(agent)
                }
                _ => false,
            };
            let valid = c.status == ConversationStatus::Waiting
                && c.team.as_ref() == Some(placement.team());
            if recorded {
                // Delivered twice (a replayed command): nothing left to do.
            } else if valid {
                apply_placement(deps, &mut c, &contact, placement, false, &mut step, &mut fx).await;
            } else if deps.desk.assignments.held(&c.id).await.ok().flatten()
                == Some(held_by(&placement))
            {
                // The conversation moved on (resolved, transferred...) while the decision
                // still holds a slot for it: undo it.
                tracing::info!(conversation = %c.id, status = c.status.as_str(), "stale placement; undoing it");
                release(deps, &c, &mut fx).await;
            }
            Ok(CommandReply::Done)
        }
        Command::Reconcile { .. } => {
            if c.status == ConversationStatus::Waiting {
                match deps.desk.assignments.held(&c.id).await {
                    Ok(Some(held)) => {
                        let differs = match &held {
                            Held::Queued { team } => c.team.as_ref() != Some(team),
                            _ => true,
                        };
                        if differs {
                            adopt(deps, &mut c, &contact, held, &mut step, &mut fx).await;
                        }
                    }
                    Ok(None) => {
                        let team = c
                            .team
                            .clone()
                            .unwrap_or_else(|| deps.live.router().default_team().clone());
                        tracing::info!(conversation = %c.id, %team, "placing a waiting conversation the queues did not hold");
                        place(
                            deps, &mut c, &contact, team, None, false, &mut step, &mut fx,
                        )
                        .await;
                    }
                    Err(_) => fx.reconcile = Some(conversation_ref(&c)),
                }
            }
            Ok(CommandReply::Done)
        }
        Command::SlaCheck { .. } => {
            if let Some(state) = deps.sla.state(&c, now) {
                let breaches = state.unannounced_breaches(c.sla.announced);
                sla_breached(deps, &mut c, &contact, &breaches, &mut step, &mut fx);
            }
            Ok(CommandReply::Done)
        }
        Command::OfferTimeout { agent, .. } => {
            // An error means it was accepted or rejected meanwhile: nothing to do.
            if let Ok(placements) = deps.desk.assignments.decline(&agent, &c.id).await {
                {
                    metrics::counter!(m::OFFERS, "outcome" => "expired").increment(1);
                    step.events
                        .push(event("offer_expired", Some(&agent), c.team.as_ref(), None));
                    fx.emits.push((
                        agent,
                        "conversation.updated",
                        json!({ "conversation": c.view(Some(&contact), &deps.windows, &deps.sla), "reason": "offer_expired" }),
                    ));
                    fx.dispatch.extend(placements);
                }
            }
            Ok(CommandReply::Done)
        }
        Command::Overflow { from, to, .. } => {
            if c.status == ConversationStatus::Waiting && c.team.as_ref() == Some(&from) {
                match deps.desk.assignments.overflow(&c.id, &to).await {
                    Ok(Some(placement)) => {
                        tracing::info!(conversation = %c.id, %from, %to, "overflow");
                        step.events.push(event(
                            "overflow",
                            None,
                            Some(&to),
                            Some(format!("from {from}")),
                        ));
                        apply_placement(
                            deps, &mut c, &contact, placement, false, &mut step, &mut fx,
                        )
                        .await;
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(conversation = %c.id, error = %e, "overflow failed"),
                }
            }
            Ok(CommandReply::Done)
        }
        Command::Reopen { .. } => {
            if c.status == ConversationStatus::Snoozed
                && c.snoozed_until.is_some_and(|t| t <= now + 50)
            {
                reopen(deps, &mut c, &contact, &mut step, &mut fx).await;
            }
            Ok(CommandReply::Done)
        }
        Command::Agent {
            agent,
            action,
            manager,
            ..
        } => {
            agent_action(
                deps,
                &mut c,
                &contact,
                Acting { agent, manager },
                action,
                &mut step,
                &mut fx,
            )
            .await
        }
        Command::Requeue { agent, .. } => {
            let held = deps.desk.assignments.held(&c.id).await.ok().flatten();
            let theirs = matches!(&held,
                Some(Held::Assigned { agent: a, .. } | Held::Offered { agent: a, .. }) if *a == agent);
            if theirs {
                match deps.desk.assignments.requeue(&c.id).await {
                    Ok(placements) => {
                        step.events.push(event(
                            "requeued",
                            Some(&agent),
                            c.team.as_ref(),
                            Some("the agent was deactivated".into()),
                        ));
                        if c.assignee.as_ref() == Some(&agent) {
                            c.assignee = None;
                            c.status = ConversationStatus::Waiting;
                            fx.emits.push((
                                agent.clone(),
                                "conversation.updated",
                                json!({ "conversation": c.view(Some(&contact), &deps.windows, &deps.sla), "reason": "requeued" }),
                            ));
                        }
                        let (mine, others): (Vec<Placement>, Vec<Placement>) = placements
                            .into_iter()
                            .partition(|p| p.conversation().id == c.id);
                        for placement in mine {
                            apply_placement(
                                deps, &mut c, &contact, placement, false, &mut step, &mut fx,
                            )
                            .await;
                        }
                        fx.dispatch.extend(others);
                    }
                    Err(e) => {
                        tracing::warn!(conversation = %c.id, error = %e, "requeue failed");
                        fx.reconcile = Some(conversation_ref(&c));
                    }
                }
            }
            Ok(CommandReply::Done)
        }
    };

    sla_settle(deps, &sla_before, &c, sla_check, &mut step, &mut fx);
    if c != before
        || step.note.is_some()
        || !fx.outbound.is_empty()
        || !step.events.is_empty()
        || !fx.emits.is_empty()
    {
        c.updated_at = now;
        step.conversation = Some(c.clone());
        step.calendars = deps
            .sla
            .team_calendars([before.team.as_ref(), c.team.as_ref()]);
        step.outbound = fx.outbound.clone();
        let masker = deps.desk.masker(&c, Some(&contact), &[]);
        step.console = fx.console_outbox(&c.key, &masker);
        step.webhooks = deps.webhook_events(&step, true, now);
        fx.news_of(deps, &c, Some(&contact), &masker);
        deps.store.commit_step(step).await?;
        c.version += 1;
        loaded.conversation = Some(c);
    }
    fx.run(deps).await;
    Ok((loaded, outcome))
}

/// What a step did to the SLA clocks: each clock it stopped is an event (`sla_met` or
/// `sla_missed`, for the reports' share met), and the next due time, when it moved, a check.
pub(crate) fn sla_settle(
    deps: &ConversationDeps,
    before: &crate::reports::sla_rules::SlaBefore,
    c: &ConversationRecord,
    recheck: bool,
    step: &mut ConversationStep,
    fx: &mut Effects,
) {
    let (settled, due) = deps.sla.after_step(before, c, recheck);
    for (clock, met) in settled {
        let kind = if met { "sla_met" } else { "sla_missed" };
        step.events.push(event(
            kind,
            c.assignee.as_ref(),
            c.team.as_ref(),
            Some(clock.as_str().to_string()),
        ));
    }
    if let Some(at) = due {
        fx.sla_check = Some((conversation_ref(c), at));
    }
}

/// Running SLA clocks came due: each breach is announced once, as an event of the conversation
/// (for reports and webhooks' consumers), to the team's supervisors and the agent who has it
/// (console events, so a console that was away still gets it), and in the metrics.
fn sla_breached(
    deps: &ConversationDeps,
    c: &mut ConversationRecord,
    contact: &ContactRecord,
    clocks: &[crate::reports::sla::Clock],
    step: &mut ConversationStep,
    fx: &mut Effects,
) {
    if clocks.is_empty() {
        return;
    }
    let team = c.team.clone();
    let mut audience: Vec<AgentId> = team
        .as_ref()
        .map(|t| deps.desk.directory.get().supervisors_of(t).to_vec())
        .unwrap_or_default();
    audience.extend(c.assignee.clone());
    audience.sort();
    audience.dedup();
    for clock in clocks {
        c.sla.announced |= clock.bit();
        let label = team.as_ref().map(|t| t.to_string()).unwrap_or_default();
        metrics::counter!(m::SLA_BREACHES, "team" => label, "clock" => clock.as_str()).increment(1);
        tracing::info!(conversation = %c.id, clock = clock.as_str(), "SLA breached");
        step.events.push(event(
            "sla_breached",
            c.assignee.as_ref(),
            team.as_ref(),
            Some(clock.as_str().to_string()),
        ));
    }
    let view = c.view(Some(contact), &deps.windows, &deps.sla);
    let names: Vec<&str> = clocks.iter().map(|c| c.as_str()).collect();
    for agent in audience {
        fx.emits.push((
            agent,
            "conversation.sla_breached",
            json!({ "conversation": view, "clocks": names }),
        ));
    }
}

/// A template outside the service window reaches a customer: the portfolio's messaging limit
/// counts them (reserved before the step: a step that then fails leaves the customer counted,
/// which errs on the side of the limit). The inner error when the limit is reached; a business
/// system's send and an agent's reply both ask.
async fn within_messaging_limit(
    deps: &ConversationDeps,
    c: &ConversationRecord,
    content: &OutboundContent,
    rule: crate::channels::window::WindowRule,
    now: i64,
) -> Result<Result<(), CommandError>, StoreError> {
    if let Some(campaigns) = &deps.campaigns
        && crate::campaigns::policy::counts_toward_limit(
            matches!(content, OutboundContent::Template { .. }),
            rule.at(c.last_inbound_at, now).open,
        )
        && let crate::campaigns::policy::Reach::Full { limit, retry_at } =
            campaigns.reach(c.customer.as_str(), now).await?
    {
        let seconds = (retry_at - now).max(1_000) / 1_000;
        return Ok(Err(CommandError::MessagingLimit {
            message: format!(
                "the messaging limit is reached: {limit} customers were sent a template \
                 outside their service window in the last 24 hours; the next one may be \
                 reached in {seconds} s"
            ),
            retry_after_seconds: u64::try_from(seconds).unwrap_or(1),
        }));
    }
    Ok(Ok(()))
}

/// A business system's message to the customer (`Command::Business` `Send`), in order with
/// everything else of the conversation and committed with its step like an agent's reply: the
/// sender then sends it once (the durable outbound claim).
///
/// It goes in the customer's current conversation on the channel, whatever its state (an
/// agent who holds it sees it in the transcript). When there is none (never written there, or
/// the last one is resolved), a new conversation opens for it **in the bot's hands**, with the
/// window the customer's last message left (the previous conversation's `last_inbound_at`):
/// nobody is asked to work on a notification that may never be answered, and when the
/// customer answers, the bot greets them from its start step and hands off as for any
/// conversation, so routing runs as usual. A business that wants a person to follow up hands
/// the conversation to a team (`Handoff`).
///
/// A WhatsApp number the contact never wrote from (the contact's phone) opens with the number
/// as the customer and, like a customer's first message, links the number to the contact
/// that has it.
async fn send_for_business(
    deps: &ConversationDeps,
    mut loaded: Loaded,
    by: &str,
    open: Opening,
    content: OutboundContent,
    id: Option<MessageId>,
) -> Result<(Loaded, Outcome), StoreError> {
    let now = now_ms();
    let current = loaded
        .conversation
        .clone()
        .filter(|c| c.status != ConversationStatus::Resolved);
    let opening = current.is_none();
    let mut c = match current {
        Some(c) => c,
        None => {
            let mut fresh = ConversationRecord::new(open.key, open.channel, open.customer, now);
            // The window runs from the customer's last message on the channel, whichever
            // conversation it was in.
            fresh.last_inbound_at = loaded.conversation.as_ref().and_then(|l| l.last_inbound_at);
            fresh
        }
    };
    let kind = crate::channels::kind_of(&c.customer);
    if matches!(content, OutboundContent::Template { .. })
        && kind != crate::domain::ChannelKind::Whatsapp
    {
        return Ok((
            loaded,
            Err(CommandError::BadRequest(
                "only WhatsApp sends templates".into(),
            )),
        ));
    }
    let rule = deps.windows.rule(&c.channel, &c.customer);
    if let Err(reason) =
        crate::integrations::send::window_allows(&content, rule, kind, c.last_inbound_at, now)
    {
        return Ok((loaded, Err(CommandError::WindowClosed(reason.into()))));
    }
    if let Err(full) = within_messaging_limit(deps, &c, &content, rule, now).await? {
        return Ok((loaded, Err(full)));
    }
    let mut step = ConversationStep::empty();
    let mut fx = Effects::default();
    let contact_before = loaded.contact.clone();
    if opening && !loaded.contact_stored {
        // A number the contact has but never wrote from: the conversation's contact is the
        // number's, linked to the contact that has that phone in the same step.
        if kind == crate::domain::ChannelKind::Whatsapp
            && let Some(digits) = crate::crm::contact::phone_digits(c.customer.as_str())
        {
            loaded.contact.phone = Some(digits.clone());
            step.link_phone = Some(digits);
        }
        step.contact = Some(crate::store::ContactWrite::new(
            &contact_before,
            loaded.contact.clone(),
        ));
    }
    let message = OutboundMessage {
        id: id.unwrap_or_else(MessageId::generate),
        conversation: c.key.clone(),
        channel: c.channel.clone(),
        to: c.customer.clone(),
        content,
        reply_to: None,
    };
    let view = message_view(
        &c,
        &message.id,
        "outbound",
        Sender::Api.as_str(),
        message.content.type_label(),
        serde_json::to_value(&message.content).unwrap_or(Value::Null),
        None,
        "queued",
    );
    let data = json!({ "conversation_id": c.id, "message": view });
    if c.status == ConversationStatus::Assigned
        && let Some(agent) = c.assignee.clone()
    {
        fx.emits.push((agent, "message.created", data.clone()));
    }
    fx.onlookers.push(("message.created", data));
    tracing::info!(conversation = %c.id, key = by, opening, "a business system's message");
    fx.outbound.push((message, Sender::Api));
    c.updated_at = now;
    step.conversation = Some(c.clone());
    step.calendars = deps.sla.team_calendars([c.team.as_ref()]);
    step.outbound = fx.outbound.clone();
    let masker = deps.desk.masker(&c, Some(&loaded.contact), &[]);
    step.console = fx.console_outbox(&c.key, &masker);
    step.webhooks = deps.webhook_events(&step, loaded.contact_stored, now);
    fx.news_of(deps, &c, Some(&loaded.contact), &masker);
    let writes_contact = step.contact.is_some();
    let linking = step.link_phone.is_some();
    deps.store.commit_step(step).await?;
    c.version += 1;
    let own = c.key.clone();
    loaded.conversation = Some(c);
    loaded.contact_stored |= writes_contact;
    if linking {
        super::actor::relinked(deps, &mut loaded, &own).await;
    }
    fx.run(deps).await;
    Ok((loaded, Ok(CommandReply::Message(view))))
}

/// Where a conversation opened by a business system's message is: the actor's own.
struct Opening {
    key: ConversationKey,
    channel: ChannelId,
    customer: CustomerId,
}

/// A business system hands the conversation to `team` (`Command::Business` `Handoff`): from the
/// bot (it stops; the routing's default priority applies), from a queue, an agent or a snooze,
/// like a transfer to a team. Already waiting for or assigned in that team: nothing moves (a
/// retried request changes nothing). `note`, if any, is a private note for whoever takes it.
#[allow(clippy::too_many_arguments)]
async fn hand_to_team(
    deps: &ConversationDeps,
    c: &mut ConversationRecord,
    contact: &ContactRecord,
    by: &str,
    team: TeamId,
    note: Option<String>,
    step: &mut ConversationStep,
    fx: &mut Effects,
) -> Outcome {
    match c.status {
        ConversationStatus::Resolved => {
            return Err(CommandError::Conflict(
                "the conversation is resolved".into(),
            ));
        }
        ConversationStatus::Waiting | ConversationStatus::Assigned
            if c.team.as_ref() == Some(&team) =>
        {
            return Ok(CommandReply::Conversation(c.view(
                Some(contact),
                &deps.windows,
                &deps.sla,
            )));
        }
        _ => {}
    }
    if deps.desk.directory.get().team(&team).is_none() {
        return Err(CommandError::BadRequest(format!("unknown team {team}")));
    }
    let now = now_ms();
    if c.status == ConversationStatus::Bot {
        c.priority = deps.live.router().default_priority();
        // Handed to people: the SLA clocks start, as at the bot's own handoff.
        c.sla.start(now);
    } else {
        release(deps, c, fx).await;
    }
    let previous = c.assignee.take();
    c.snoozed_until = None;
    step.events.push(event(
        "transferred",
        None,
        Some(&team),
        Some(format!("handed to team {team} by API key {by}")),
    ));
    if let Some(previous) = previous {
        fx.emits.push((
            previous,
            "conversation.updated",
            json!({ "conversation": c.view(Some(contact), &deps.windows, &deps.sla), "reason": "transferred" }),
        ));
    }
    if let Some(text) = note {
        step.note = Some((MessageId::generate(), text));
    }
    c.handoff_at = Some(now);
    place(deps, c, contact, team, None, true, step, fx).await;
    Ok(CommandReply::Conversation(c.view(
        Some(contact),
        &deps.windows,
        &deps.sla,
    )))
}

/// A snoozed conversation comes back: to the agent who had it if they can take it, else the
/// team's queue.
pub(crate) async fn reopen(
    deps: &ConversationDeps,
    c: &mut ConversationRecord,
    contact: &ContactRecord,
    step: &mut ConversationStep,
    fx: &mut Effects,
) {
    let team = c
        .team
        .clone()
        .unwrap_or_else(|| deps.live.router().default_team().clone());
    let previous = c.assignee.clone();
    c.snoozed_until = None;
    c.handoff_at = Some(now_ms());
    step.events.push(event("reopened", None, Some(&team), None));
    if let Some(agent) = &previous {
        fx.emits.push((
            agent.clone(),
            "conversation.updated",
            json!({ "conversation": c.view(Some(contact), &deps.windows, &deps.sla), "reason": "reopened" }),
        ));
    }
    place(deps, c, contact, team, previous, true, step, fx).await;
}

/// Who acts, and whether the policy found them a manager of the conversation's team.
struct Acting {
    agent: AgentId,
    manager: bool,
}

async fn agent_action(
    deps: &ConversationDeps,
    c: &mut ConversationRecord,
    contact: &ContactRecord,
    acting: Acting,
    action: AgentAction,
    step: &mut ConversationStep,
    fx: &mut Effects,
) -> Outcome {
    let Acting { agent, manager } = acting;
    fx.actor = Some(agent.clone());
    let now = now_ms();
    let is_assignee = c.assignee.as_ref() == Some(&agent);
    let holds = is_assignee && c.status == ConversationStatus::Assigned;
    // A manager acts on an open conversation as if they held it (note, transfer, resolve).
    let manages = manager
        && matches!(
            c.status,
            ConversationStatus::Assigned
                | ConversationStatus::Waiting
                | ConversationStatus::Snoozed
        );
    match action {
        AgentAction::Reply(content) => {
            if !holds {
                return Err(if c.status == ConversationStatus::Resolved {
                    CommandError::Conflict("the conversation is resolved".into())
                } else {
                    CommandError::Forbidden("only the assigned agent can reply".into())
                });
            }
            let rule = deps.windows.rule(&c.channel, &c.customer);
            if !matches!(content, OutboundContent::Template { .. })
                && !rule.at(c.last_inbound_at, now).open
            {
                let kind = crate::channels::kind_of(&c.customer);
                return Err(CommandError::WindowClosed(rule.closed_reason(kind).into()));
            }
            within_messaging_limit(deps, c, &content, rule, now)
                .await
                .map_err(|e| CommandError::Unavailable(e.to_string()))??;
            let message = OutboundMessage {
                id: MessageId::generate(),
                conversation: c.key.clone(),
                channel: c.channel.clone(),
                to: c.customer.clone(),
                content,
                reply_to: None,
            };
            c.sla.replied(now);
            if c.first_response_at.is_none() {
                c.first_response_at = Some(now);
                if let Some(handoff) = c.handoff_at {
                    let team = c.team.as_ref().map(|t| t.to_string()).unwrap_or_default();
                    metrics::histogram!(m::FIRST_RESPONSE, "team" => team)
                        .record((now - handoff).max(0) as f64 / 1000.0);
                }
            }
            let view = message_view(
                c,
                &message.id,
                "outbound",
                "agent",
                message.content.type_label(),
                serde_json::to_value(&message.content).unwrap_or(Value::Null),
                Some(&agent),
                "queued",
            );
            step.agent = Some(agent.clone());
            fx.outbound.push((message, Sender::Agent));
            fx.emits.push((
                agent,
                "message.created",
                json!({ "conversation_id": c.id, "message": view }),
            ));
            Ok(CommandReply::Message(view))
        }
        AgentAction::Note(text) => {
            let id = MessageId::generate();
            let view = message_view(
                c,
                &id,
                "note",
                "agent",
                "note",
                json!({ "type": "note", "body": text }),
                Some(&agent),
                "internal",
            );
            step.agent = Some(agent.clone());
            step.note = Some((id, text));
            let mut told = vec![agent.clone()];
            if let Some(assignee) = &c.assignee
                && *assignee != agent
            {
                told.push(assignee.clone());
            }
            for who in told {
                fx.emits.push((
                    who,
                    "message.created",
                    json!({ "conversation_id": c.id, "message": view }),
                ));
            }
            Ok(CommandReply::Message(view))
        }
        AgentAction::Resolve => {
            if !(holds
                || manages
                || c.status == ConversationStatus::Waiting
                || (is_assignee && c.status == ConversationStatus::Snoozed))
            {
                return Err(refuse(c, "resolve"));
            }
            release(deps, c, fx).await;
            c.status = ConversationStatus::Resolved;
            c.resolved_at = Some(now);
            c.sla.resolved(now);
            if let Some(handoff) = c.sla.since {
                let team = c.team.as_ref().map(|t| t.to_string()).unwrap_or_default();
                metrics::histogram!(m::RESOLUTION, "team" => team)
                    .record((now - handoff).max(0) as f64 / 1000.0);
            }
            c.snoozed_until = None;
            step.events
                .push(event("resolved", Some(&agent), c.team.as_ref(), None));
            let view = c.view(Some(contact), &deps.windows, &deps.sla);
            if let Some(assignee) = c.assignee.clone() {
                fx.emits.push((
                    assignee,
                    "conversation.updated",
                    json!({ "conversation": view, "reason": "resolved" }),
                ));
            }
            Ok(CommandReply::Conversation(view))
        }
        AgentAction::Snooze { until_ms } => {
            if !holds {
                return Err(refuse(c, "snooze"));
            }
            if until_ms <= now {
                return Err(CommandError::BadRequest(
                    "`until` must be in the future".into(),
                ));
            }
            if until_ms > now + 90 * 24 * 3600 * 1000 {
                return Err(CommandError::BadRequest(
                    "`until` must be within 90 days".into(),
                ));
            }
            release(deps, c, fx).await;
            c.status = ConversationStatus::Snoozed;
            c.snoozed_until = Some(until_ms);
            step.events.push(event(
                "snoozed",
                Some(&agent),
                c.team.as_ref(),
                Some(format!("until {until_ms}")),
            ));
            fx.reopen_at = Some((conversation_ref(c), until_ms));
            let view = c.view(Some(contact), &deps.windows, &deps.sla);
            fx.emits.push((
                agent,
                "conversation.updated",
                json!({ "conversation": view, "reason": "snoozed" }),
            ));
            Ok(CommandReply::Conversation(view))
        }
        AgentAction::TransferToTeam(team) => {
            if !(holds || manages || c.status == ConversationStatus::Waiting) {
                return Err(refuse(c, "transfer"));
            }
            if deps.desk.directory.get().team(&team).is_none() {
                return Err(CommandError::BadRequest(format!("unknown team {team}")));
            }
            release(deps, c, fx).await;
            let previous = c.assignee.take();
            step.events.push(event(
                "transferred",
                Some(&agent),
                Some(&team),
                Some(format!("to team {team}")),
            ));
            if let Some(previous) = previous {
                fx.emits.push((
                    previous,
                    "conversation.updated",
                    json!({ "conversation": c.view(Some(contact), &deps.windows, &deps.sla), "reason": "transferred" }),
                ));
            }
            c.handoff_at = Some(now);
            place(deps, c, contact, team, None, true, step, fx).await;
            Ok(CommandReply::Conversation(c.view(
                Some(contact),
                &deps.windows,
                &deps.sla,
            )))
        }
        AgentAction::TransferToAgent(to) => {
            if !(holds || manages || c.status == ConversationStatus::Waiting) {
                return Err(refuse(c, "transfer"));
            }
            let people = deps.desk.directory.get();
            let Some(target) = people.user(&to).filter(|u| u.active) else {
                return Err(CommandError::BadRequest(format!("unknown agent {to}")));
            };
            let target_teams = people.teams_of(&target.id).to_vec();
            if to == agent && holds {
                return Err(CommandError::Conflict(
                    "the conversation is already yours".into(),
                ));
            }
            let team = match &c.team {
                Some(t) if target_teams.contains(t) => t.clone(),
                _ => target_teams
                    .first()
                    .cloned()
                    .or_else(|| c.team.clone())
                    .unwrap_or_else(|| deps.live.router().default_team().clone()),
            };
            // Check first, so a refusal leaves the conversation where it is.
            let available = deps
                .desk
                .assignments
                .snapshot()
                .await
                .ok()
                .is_some_and(|s| {
                    s.agents.iter().any(|a| {
                        a.agent == to
                            && a.presence == crate::domain::Presence::Online
                            && a.load < a.capacity
                    })
                });
            if !available {
                return Err(CommandError::Conflict(format!(
                    "agent {to} is not online with room"
                )));
            }
            release(deps, c, fx).await;
            let previous = c.assignee.take();
            let ticket = Ticket {
                conversation: conversation_ref(c),
                team: team.clone(),
                priority: c.priority,
                arrival_ms: now,
                preferred_agent: None,
            };
            c.handoff_at = Some(now);
            c.status = ConversationStatus::Waiting;
            c.team = Some(team.clone());
            step.events.push(event(
                "transferred",
                Some(&agent),
                Some(&team),
                Some(format!("to agent {to}")),
            ));
            if let Some(previous) = previous {
                fx.emits.push((
                    previous,
                    "conversation.updated",
                    json!({ "conversation": c.view(Some(contact), &deps.windows, &deps.sla), "reason": "transferred" }),
                ));
            }
            match deps.desk.assignments.assign_to(&to, ticket).await {
                Ok(placement) => {
                    apply_placement(deps, c, contact, placement, false, step, fx).await;
                    Ok(CommandReply::Conversation(c.view(
                        Some(contact),
                        &deps.windows,
                        &deps.sla,
                    )))
                }
                Err(e) => {
                    // Lost a race for the agent's last slot: queue it in the team instead.
                    place(deps, c, contact, team, Some(to), true, step, fx).await;
                    Err(CommandError::Conflict(format!(
                        "{e}; the conversation was queued for its team instead"
                    )))
                }
            }
        }
        AgentAction::Accept => match deps.desk.assignments.accept(&agent, &c.id).await {
            Ok(placement) => {
                metrics::counter!(m::OFFERS, "outcome" => "accepted").increment(1);
                step.events
                    .push(event("offer_accepted", Some(&agent), c.team.as_ref(), None));
                apply_placement(deps, c, contact, placement, false, step, fx).await;
                Ok(CommandReply::Conversation(c.view(
                    Some(contact),
                    &deps.windows,
                    &deps.sla,
                )))
            }
            Err(AssignError::NotOffered(_)) => Err(CommandError::Conflict(
                "no offer of this conversation to you is open".into(),
            )),
            Err(e) => Err(CommandError::Unavailable(e.to_string())),
        },
        AgentAction::Reject => match deps.desk.assignments.decline(&agent, &c.id).await {
            Ok(placements) => {
                metrics::counter!(m::OFFERS, "outcome" => "rejected").increment(1);
                step.events
                    .push(event("offer_rejected", Some(&agent), c.team.as_ref(), None));
                fx.dispatch.extend(placements);
                Ok(CommandReply::Done)
            }
            Err(AssignError::NotOffered(_)) => Err(CommandError::Conflict(
                "no offer of this conversation to you is open".into(),
            )),
            Err(e) => Err(CommandError::Unavailable(e.to_string())),
        },
    }
}

fn refuse(c: &ConversationRecord, what: &str) -> CommandError {
    match c.status {
        ConversationStatus::Resolved => {
            CommandError::Conflict("the conversation is resolved".into())
        }
        ConversationStatus::Bot => {
            CommandError::Conflict("the bot still has the conversation".into())
        }
        _ => CommandError::Forbidden(format!("only the assigned agent can {what} it")),
    }
}
