//! The conversation actor: one per live conversation (one customer on one channel).
//!
//! It owns the conversation's state and handles its events strictly in order: each event is
//! processed to the end (bot step, HTTP actions, grouped commit, hand-off to the sender) inside
//! `ctx.wait`, so the next event starts only after the previous one is durable. No thread ever
//! blocks: waiting is on futures.
//!
//! On start it loads its state from the store and catches up on every recorded event it has
//! not consumed (`last_seq`), so a restart, a crash or a dropped dispatch loses nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;

use super::ConversationDeps;
use crate::bot::{BotState, HttpResult};
use crate::domain::{
    ChannelId, ConversationKey, CustomerId, InboundEvent, InboundMessage, MessageId,
    OutboundMessage, Sender,
};
use crate::metrics as m;
use crate::store::{
    ContactRecord, ConversationRecord, ConversationStatus, ConversationStep, InboundMessageRecord,
    RecordedInbound, StoreError,
};

/// Deliver a recorded inbound event. The permit is this message's place in the actor's bounded
/// mailbox (see `ConversationRegistry::deliver`); it is released once the event is handled.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub RecordedInbound, pub tokio::sync::OwnedSemaphorePermit);

/// Look in the store for recorded events not yet consumed (the sweeper's nudge).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CatchUp;

/// Stop now (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// In-memory state: the durable record plus the contact.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub conversation: Option<ConversationRecord>,
    pub contact: ContactRecord,
}

pub struct ConversationActor {
    key: ConversationKey,
    channel: ChannelId,
    customer: CustomerId,
    deps: Arc<ConversationDeps>,
    state: Option<Loaded>,
    /// Highest log sequence handled (mirrors `conversation.last_seq`, also for stray statuses).
    last_seq: i64,
    last_activity: Instant,
    /// A failed commit leaves memory ahead of the store: stop and let a fresh actor reload.
    poisoned: bool,
}

impl ConversationActor {
    pub fn new(
        key: ConversationKey,
        channel: ChannelId,
        customer: CustomerId,
        deps: Arc<ConversationDeps>,
    ) -> Self {
        Self {
            key,
            channel,
            customer,
            deps,
            state: None,
            last_seq: 0,
            last_activity: Instant::now(),
            poisoned: false,
        }
    }

    /// Load the state (first time) and process every unconsumed event from the store.
    fn catch_up(&mut self, ctx: &mut Context<Self>) {
        let deps = self.deps.clone();
        let key = self.key.clone();
        let customer = self.customer.clone();
        let loaded = self.state.take();
        let last_seq = self.last_seq;
        let fut = async move {
            let mut loaded = match loaded {
                Some(l) => l,
                None => load(&deps, &key, &customer).await?,
            };
            let mut last_seq = last_seq.max(
                loaded
                    .conversation
                    .as_ref()
                    .map(|c| c.last_seq)
                    .unwrap_or(0),
            );
            loop {
                let backlog = deps.store.unprocessed_for(&key, last_seq, 256).await?;
                if backlog.is_empty() {
                    break;
                }
                for event in backlog {
                    let seq = event.seq;
                    loaded = process(&deps, loaded, event).await?;
                    last_seq = seq;
                }
            }
            Ok::<_, StoreError>((loaded, last_seq))
        };
        ctx.wait(fut.into_actor(self).map(|result, act, ctx| match result {
            Ok((loaded, last_seq)) => {
                act.state = Some(loaded);
                act.last_seq = last_seq;
            }
            Err(e) => {
                tracing::error!(conversation = %act.key, error = %e, "catch-up failed; stopping");
                act.poisoned = true;
                ctx.stop();
            }
        }));
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Deliveries are bounded by the registry's permits; the slack is for nudges.
        ctx.set_mailbox_capacity(self.deps.settings.mailbox_capacity + 16);
        tracing::trace!(conversation = %self.key, channel = %self.channel, "started");
        self.catch_up(ctx);
        let idle = Duration::from_secs(self.deps.settings.idle_timeout_seconds.max(1));
        let check = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        ctx.run_interval(check, move |act, ctx| {
            if act.last_activity.elapsed() >= idle {
                tracing::debug!(conversation = %act.key, "idle; stopping");
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.deps.registry_forget(&self.key, &ctx.address());
    }
}

impl Handler<Deliver> for ConversationActor {
    type Result = ();

    fn handle(&mut self, Deliver(event, permit): Deliver, ctx: &mut Self::Context) {
        self.last_activity = Instant::now();
        if self.poisoned || event.seq <= self.last_seq {
            return; // already consumed (a replay, or the catch-up got it first)
        }
        let Some(loaded) = self.state.take() else {
            // The state failed to load; the actor is stopping.
            return;
        };
        let deps = self.deps.clone();
        let seq = event.seq;
        let fut = async move {
            let result = process(&deps, loaded, event).await;
            drop(permit);
            result
        };
        ctx.wait(
            fut.into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(loaded) => {
                        act.state = Some(loaded);
                        act.last_seq = seq;
                    }
                    Err(e) => {
                        metrics::counter!(m::CONVERSATION_EVENTS, "outcome" => "error")
                            .increment(1);
                        tracing::error!(conversation = %act.key, seq, error = %e,
                    "event not committed; stopping so a fresh actor replays it");
                        act.poisoned = true;
                        ctx.stop();
                    }
                }),
        );
    }
}

impl Handler<CatchUp> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: CatchUp, ctx: &mut Self::Context) {
        if !self.poisoned && self.state.is_some() {
            self.catch_up(ctx);
        }
    }
}

impl Handler<Shutdown> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

async fn load(
    deps: &ConversationDeps,
    key: &ConversationKey,
    customer: &CustomerId,
) -> Result<Loaded, StoreError> {
    Ok(match deps.store.load_conversation(key).await? {
        Some((conversation, contact)) => Loaded {
            conversation: Some(conversation),
            contact,
        },
        None => {
            Loaded {
                conversation: None,
                contact: deps.store.load_contact(customer).await?.unwrap_or_else(|| {
                    ContactRecord {
                        customer: customer.clone(),
                        ..ContactRecord::default()
                    }
                }),
            }
        }
    })
}

/// Process one event to the end: decide, commit atomically, then hand replies to the sender.
async fn process(
    deps: &ConversationDeps,
    mut loaded: Loaded,
    event: RecordedInbound,
) -> Result<Loaded, StoreError> {
    let seq = event.seq;
    let mut outbound = Vec::new();
    let mut inbound_message = None;
    let mut status = None;
    let mut contact_changed = false;
    let mut read_receipt = None;

    match event.envelope.event {
        InboundEvent::Message(message) => {
            let now_ms = Utc::now().timestamp_millis();
            contact_changed = refresh_contact(&mut loaded.contact, &message);
            let conversation = match loaded.conversation.take() {
                Some(c) if c.status != ConversationStatus::Resolved => c,
                // First contact, or the last conversation was resolved: a new conversation.
                _ => {
                    contact_changed = true;
                    ConversationRecord {
                        id: MessageId::generate().to_string(),
                        key: event.conversation.clone(),
                        channel: event.channel.clone(),
                        customer: message.customer.id.clone(),
                        status: ConversationStatus::Bot,
                        team: None,
                        bot_state: serde_json::Value::Null,
                        created_at: now_ms,
                        updated_at: now_ms,
                        handoff_at: None,
                        last_seq: 0,
                    }
                }
            };
            let mut conversation = conversation;
            inbound_message = Some(InboundMessageRecord {
                id: MessageId::generate(),
                provider_id: message.provider_id.clone(),
                kind: message.content.type_label().to_string(),
                body: serde_json::to_value(&message.content).unwrap_or(serde_json::Value::Null),
                sent_at: message.timestamp,
            });
            if deps.mark_as_read {
                read_receipt = Some(message.provider_id.clone());
            }
            if conversation.status == ConversationStatus::Bot {
                let replies = run_bot(deps, &mut conversation, &mut loaded.contact, &message).await;
                contact_changed = true;
                for content in replies {
                    outbound.push((
                        OutboundMessage {
                            id: MessageId::generate(),
                            conversation: event.conversation.clone(),
                            channel: event.channel.clone(),
                            to: conversation.customer.clone(),
                            content,
                            reply_to: None,
                        },
                        Sender::Bot,
                    ));
                }
            }
            conversation.updated_at = now_ms;
            conversation.last_seq = seq;
            loaded.conversation = Some(conversation);
        }
        InboundEvent::Status(update) => {
            if let Some(c) = loaded.conversation.as_mut() {
                c.last_seq = seq;
            }
            status = Some(update);
        }
        // Account-level events are never dispatched to a conversation; consume them anyway.
        InboundEvent::Error(_) | InboundEvent::Other(_) => {}
    }

    let step = ConversationStep {
        processed_seq: Some(seq),
        conversation: loaded.conversation.clone(),
        contact: contact_changed.then(|| loaded.contact.clone()),
        inbound_message,
        outbound: outbound.clone(),
        status,
    };
    deps.store.commit_step(step).await?;
    metrics::counter!(m::CONVERSATION_EVENTS, "outcome" => "ok").increment(1);

    // Durable now: hand the replies to the number's sender (waiting for room: backpressure).
    if let Some(sender) = deps.outbound.sender(&event.channel) {
        if let Some(message_id) = read_receipt {
            sender.mark_read(loaded.contact.customer.clone(), message_id, false);
        }
        for (message, _) in outbound {
            if sender.send(message).await.is_err() {
                tracing::warn!(channel = %event.channel, "sender closed; message stays queued");
            }
        }
    } else if !outbound.is_empty() {
        tracing::warn!(channel = %event.channel, "no sender for channel; messages stay queued");
    }
    Ok(loaded)
}

/// Keep the contact's profile current from what the webhook says.
fn refresh_contact(contact: &mut ContactRecord, message: &InboundMessage) -> bool {
    let mut changed = false;
    // The profile name fills an empty name only: a name the customer gave the bot wins.
    if let Some(name) = &message.customer.name
        && contact.name.is_none()
    {
        contact.name = Some(name.clone());
        changed = true;
    }
    if let Some(phone) = &message.customer.wa_id
        && contact.phone.as_deref() != Some(phone.as_str())
    {
        contact.phone = Some(phone.clone());
        changed = true;
    }
    changed
}

/// Run the bot on a customer message, including its HTTP actions; returns the replies and
/// applies a handoff to the conversation.
async fn run_bot(
    deps: &ConversationDeps,
    conversation: &mut ConversationRecord,
    contact: &mut ContactRecord,
    message: &InboundMessage,
) -> Vec<crate::domain::OutboundContent> {
    let Some(bot) = deps.bots.get(&conversation.channel) else {
        return Vec::new();
    };
    let mut state: BotState = if conversation.bot_state.is_null() {
        BotState::default()
    } else {
        serde_json::from_value(conversation.bot_state.clone()).unwrap_or_else(|e| {
            tracing::warn!(conversation = %conversation.key, error = %e,
                "unreadable bot state; starting over");
            BotState::default()
        })
    };
    let mut step = bot.on_message(&mut state, contact, message, Utc::now());
    let mut replies = std::mem::take(&mut step.replies);
    let mut handoff = step.handoff.take();
    // HTTP actions: bounded chain, so a misconfigured loop cannot spin forever.
    let mut hops = 0;
    while let Some(spec) = step.http.take() {
        hops += 1;
        let result = if hops > 8 {
            HttpResult::Failed {
                reason: "too many chained HTTP actions".into(),
            }
        } else {
            deps.http.execute(&spec).await
        };
        let outcome = match &result {
            HttpResult::Response { status, .. } if (200..300).contains(status) => "ok",
            HttpResult::Response { .. } => "error_status",
            HttpResult::Failed { .. } => "failed",
        };
        metrics::counter!(m::BOT_HTTP_ACTIONS, "outcome" => outcome).increment(1);
        step = bot.on_http_result(&mut state, contact, result, Utc::now());
        replies.append(&mut step.replies);
        if step.handoff.is_some() {
            handoff = step.handoff.take();
        }
    }
    if let Some(handoff) = handoff {
        conversation.status = ConversationStatus::Waiting;
        conversation.team = handoff.team.clone();
        conversation.handoff_at = Some(Utc::now().timestamp_millis());
        let team = handoff
            .team
            .as_ref()
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "auto".to_string());
        metrics::counter!(m::BOT_HANDOFFS, "team" => team).increment(1);
        tracing::info!(conversation = %conversation.key, reason = %handoff.reason,
            "handed off to a human");
    }
    conversation.bot_state = serde_json::to_value(&state).unwrap_or(serde_json::Value::Null);
    replies
}
