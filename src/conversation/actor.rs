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
use tracing::Instrument;

use super::ConversationDeps;
use super::commands::{self, Command, CommandError, CommandReply, Effects};
use crate::bot::{BotState, Handoff, HttpResult};
use crate::campaigns::consent::KeywordOutcome;
use crate::config::HaltPoint;
use crate::crm::contact::phone_digits;
use crate::domain::{
    ChannelId, ConversationKey, CustomerId, InboundEvent, InboundMessage, MessageId,
    OutboundMessage, Sender,
};
use crate::metrics as m;
use crate::routing::actor::Route;
use crate::routing::{RouteDecision, RouteRequest};
use crate::store::{
    ContactRecord, ContactWrite, ConversationEvent, ConversationRecord, ConversationStatus,
    ConversationStep, InboundMessageRecord, RecordedInbound, StoreError,
};

/// Deliver a recorded inbound event. The permit is this message's place in the actor's bounded
/// mailbox (see `ConversationRegistry::deliver`); it is released once the event is handled.
/// `done`, if any, hears `true` once the event is consumed (processed now or before); it is
/// dropped when the event could not be committed (a fresh actor will replay it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub event: RecordedInbound,
    pub permit: tokio::sync::OwnedSemaphorePermit,
    /// Counts the event in the node's live backlog until it is handled.
    pub held: super::BacklogHeld,
    pub done: Option<tokio::sync::oneshot::Sender<bool>>,
}

/// Look in the store for recorded events not yet consumed (the sweeper's nudge).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CatchUp;

/// Run a command (an agent's action, a placement, a timer). The permit bounds the mailbox like
/// `Deliver`'s; the answer goes back on `reply`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Execute {
    pub command: Command,
    pub reply: tokio::sync::oneshot::Sender<Result<CommandReply, CommandError>>,
    pub permit: tokio::sync::OwnedSemaphorePermit,
}

/// Stop now (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// In-memory state: the durable record plus the contact.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub conversation: Option<ConversationRecord>,
    pub contact: ContactRecord,
    /// The contact is in the store (else a step writing it creates it: `contact.created`).
    pub contact_stored: bool,
    /// The customer's BSUID this actor has had a step record as theirs
    /// ([`crate::store::ConversationStep::alias`]): recorded once per actor, not per message.
    pub aliased: Option<String>,
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

    /// The span the actor's work runs in: every log line of it carries the conversation's key
    /// (JSON logs: `span.conversation`) and, once there is one, our id of the conversation
    /// (`span.conversation_id`), whichever request or partition reader woke it.
    fn span(&self, loaded: Option<&Loaded>) -> tracing::Span {
        let span = tracing::info_span!(
            "conversation",
            conversation = %self.key,
            conversation_id = tracing::field::Empty
        );
        if let Some(c) = loaded.and_then(|l| l.conversation.as_ref()) {
            span.record("conversation_id", c.id.as_str());
        }
        span
    }

    /// Load the state (first time) and process every unconsumed event from the store.
    fn catch_up(&mut self, ctx: &mut Context<Self>) {
        let deps = self.deps.clone();
        let key = self.key.clone();
        let customer = self.customer.clone();
        let loaded = self.state.take();
        let span = self.span(loaded.as_ref());
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
            // Every unprocessed event, whatever its sequence: concurrent writers (several
            // nodes) may commit a lower sequence after a higher one was processed.
            let mut cursor = 0;
            loop {
                let backlog = deps.store.unprocessed_for(&key, cursor, 256).await?;
                if backlog.is_empty() {
                    break;
                }
                for event in backlog {
                    let seq = event.seq;
                    loaded = process(&deps, loaded, event).await?;
                    cursor = seq;
                    last_seq = last_seq.max(seq);
                }
            }
            Ok::<_, StoreError>((loaded, last_seq))
        };
        ctx.wait(fut.instrument(span).into_actor(self).map(|result, act, ctx| match result {
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

    fn handle(&mut self, deliver: Deliver, ctx: &mut Self::Context) {
        self.last_activity = Instant::now();
        let Deliver {
            event,
            permit,
            held,
            done,
        } = deliver;
        if self.poisoned {
            return;
        }
        let Some(loaded) = self.state.take() else {
            // The state failed to load; the actor is stopping.
            return;
        };
        let deps = self.deps.clone();
        let span = self.span(Some(&loaded));
        let seq = event.seq;
        // At or below what this actor consumed: most likely a replay (the catch-up got it
        // first), but concurrent writers may commit sequences out of order, so ask the store.
        let maybe_seen = seq <= self.last_seq;
        let fut = async move {
            let result = if maybe_seen && deps.store.is_processed(seq).await? {
                Ok(loaded)
            } else {
                process(&deps, loaded, event).await
            };
            drop((permit, held));
            result
        };
        ctx.wait(
            fut.instrument(span)
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(loaded) => {
                        act.state = Some(loaded);
                        act.last_seq = act.last_seq.max(seq);
                        if let Some(done) = done {
                            let _ = done.send(true);
                        }
                    }
                    Err(e) => {
                        metrics::counter!(m::CONVERSATION_EVENTS, "outcome" => "error")
                            .increment(1);
                        if matches!(e, StoreError::Conflict(_)) {
                            tracing::info!(conversation = %act.key, seq, error = %e,
                                "lost a race with another owner; stopping so a fresh actor reloads");
                        } else {
                            tracing::error!(conversation = %act.key, seq, error = %e,
                                "event not committed; stopping so a fresh actor replays it");
                        }
                        act.poisoned = true;
                        ctx.stop();
                    }
                }),
        );
    }
}

impl Handler<Execute> for ConversationActor {
    type Result = ();

    fn handle(&mut self, execute: Execute, ctx: &mut Self::Context) {
        self.last_activity = Instant::now();
        let Execute {
            command,
            reply,
            permit,
        } = execute;
        let Some(loaded) = self.state.take().filter(|_| !self.poisoned) else {
            let _ = reply.send(Err(CommandError::Unavailable(
                "the conversation is restarting; retry".into(),
            )));
            return;
        };
        let deps = self.deps.clone();
        let span = self.span(Some(&loaded));
        let target = loaded.conversation.as_ref().map(commands::conversation_ref);
        let fut = async move {
            let result = commands::execute(&deps, loaded, command).await;
            drop(permit);
            result
        };
        ctx.wait(
            fut.instrument(span)
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok((loaded, outcome)) => {
                        act.state = Some(loaded);
                        let _ = reply.send(outcome);
                    }
                    Err(e) => {
                        if matches!(e, StoreError::Conflict(_)) {
                            tracing::info!(conversation = %act.key, error = %e,
                                "command lost a race with another owner; stopping so a fresh actor reloads");
                        } else {
                            tracing::error!(conversation = %act.key, error = %e,
                                "command not committed; stopping so a fresh actor reloads");
                        }
                        // The assignment state may have moved before the commit failed (an
                        // accepted offer, a transfer): once the store is back, the
                        // conversation adopts what the assignment state holds (or, if it is
                        // not the customer's current conversation, it is released).
                        if let Some(target) = target {
                            act.deps.desk.reconcile_later(target);
                        }
                        let _ = reply.send(Err(CommandError::Unavailable(e.to_string())));
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

pub(crate) async fn load(
    deps: &ConversationDeps,
    key: &ConversationKey,
    customer: &CustomerId,
) -> Result<Loaded, StoreError> {
    Ok(match deps.store.load_conversation(key).await? {
        Some((conversation, contact)) => Loaded {
            conversation: Some(conversation),
            contact,
            contact_stored: true,
            aliased: None,
        },
        None => {
            let stored = deps.store.load_contact(customer).await?;
            Loaded {
                conversation: None,
                contact_stored: stored.is_some(),
                aliased: None,
                contact: stored.unwrap_or_else(|| ContactRecord {
                    customer: customer.clone(),
                    ..ContactRecord::default()
                }),
            }
        }
    })
}

/// Process one event to the end: decide, commit atomically, then act outside (send replies,
/// tell the agent, hand placements on).
async fn process(
    deps: &ConversationDeps,
    mut loaded: Loaded,
    event: RecordedInbound,
) -> Result<Loaded, StoreError> {
    let seq = event.seq;
    let mut fx = Effects::default();
    let mut step = ConversationStep {
        processed_seq: Some(seq),
        ..ConversationStep::empty()
    };
    // The span's conversation id (loaded by the catch-up after the span was made).
    if let Some(c) = &loaded.conversation {
        tracing::Span::current().record("conversation_id", c.id.as_str());
    }
    let mut contact_changed = false;
    let contact_before = loaded.contact.clone();
    let mut read_receipt = None;
    let sla_before = deps
        .sla
        .before_step(loaded.conversation.as_ref(), Utc::now().timestamp_millis());
    let team_before = loaded.conversation.as_ref().and_then(|c| c.team.clone());

    match event.envelope.event {
        InboundEvent::Message(mut message) => {
            let now_ms = Utc::now().timestamp_millis();
            metrics::histogram!(m::INTAKE_LAG).record(m::lag_seconds(now_ms, message.timestamp));
            // Channels whose webhooks carry no name (Messenger, Instagram): the provider's
            // profile, asked once in a while for a contact still without a name.
            if loaded.contact.name.is_none() && message.customer.name.is_none() {
                message.customer.name = deps
                    .outbound
                    .profile_name(&event.channel, &message.customer.id)
                    .await;
            }
            (contact_changed, step.link_phone) = refresh_contact(&mut loaded.contact, &message);
            // WhatsApp names the customer by both their number and their BSUID: the BSUID keeps
            // naming them when it later comes alone.
            if let (Some(_), Some(user_id)) = (&message.customer.wa_id, &message.customer.user_id)
                && loaded.aliased.as_deref() != Some(user_id.as_str())
                && user_id.as_str() != message.customer.id.as_str()
            {
                step.alias = Some(user_id.clone());
            }
            let mut conversation = match loaded.conversation.take() {
                Some(c) if c.status != ConversationStatus::Resolved => c,
                // First contact, or the last conversation was resolved: a new conversation.
                _ => {
                    contact_changed = true;
                    ConversationRecord::new(
                        event.conversation.clone(),
                        event.channel.clone(),
                        message.customer.id.clone(),
                        now_ms,
                    )
                }
            };
            tracing::Span::current().record("conversation_id", conversation.id.as_str());
            let inbound = InboundMessageRecord {
                id: MessageId::generate(),
                provider_id: message.provider_id.clone(),
                kind: message.content.type_label().to_string(),
                body: stored_body(&message),
                sent_at: message.timestamp,
            };
            // Meta's customer-service window runs from the customer's own timestamp (never
            // later than now: a skewed clock must not lengthen it).
            let wrote_ms = match message.timestamp {
                ts if ts > 0 => ts.saturating_mul(1000).min(now_ms),
                _ => now_ms,
            };
            conversation.last_inbound_at = Some(
                conversation
                    .last_inbound_at
                    .map_or(wrote_ms, |t| t.max(wrote_ms)),
            );
            conversation.sla.customer_wrote(now_ms);
            if deps.mark_as_read {
                read_receipt = Some(message.provider_id.clone());
            }
            // A stop or start keyword: recorded in the consent ledger and confirmed once (the
            // reply is committed with this step; a replay decides on the state before it).
            let keyword = consent_keyword(
                deps,
                &event.channel,
                &conversation,
                &loaded.contact,
                &message,
            )
            .await?;
            if let KeywordOutcome::Record { reply, .. } = &keyword
                && !reply.trim().is_empty()
            {
                fx.outbound.push((
                    OutboundMessage {
                        id: MessageId::generate(),
                        conversation: event.conversation.clone(),
                        channel: event.channel.clone(),
                        to: conversation.customer.clone(),
                        content: crate::domain::OutboundContent::Text {
                            body: reply.clone(),
                            preview_url: false,
                        },
                        reply_to: None,
                    },
                    Sender::Bot,
                ));
            }
            match conversation.status {
                // A keyword is not an answer to the bot: the bot stays where it was.
                ConversationStatus::Bot if keyword.is_keyword() => {}
                // The message asks for a person at once (a web chat's offline form): the bot
                // is skipped, the conversation goes to the queue as the bot's handoff would.
                ConversationStatus::Bot if message.handoff.is_some() => {
                    contact_changed |= save_location(&mut loaded.contact, &message);
                    if let Some(request) = message.handoff.clone() {
                        hand_off(
                            deps,
                            &mut conversation,
                            &loaded.contact,
                            Handoff {
                                team: request.team,
                                reason: request.reason,
                            },
                            &mut step,
                            &mut fx,
                        )
                        .await;
                    }
                }
                ConversationStatus::Bot => {
                    let turn =
                        run_bot(deps, &mut conversation, &mut loaded.contact, &message).await;
                    contact_changed = true;
                    for content in turn.replies {
                        fx.outbound.push((
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
                    if let Some(handoff) = turn.handoff {
                        hand_off(
                            deps,
                            &mut conversation,
                            &loaded.contact,
                            handoff,
                            &mut step,
                            &mut fx,
                        )
                        .await;
                    } else if turn.resolve {
                        // The flow's end: resolved by the bot alone.
                        conversation.status = ConversationStatus::Resolved;
                        conversation.resolved_at = Some(now_ms);
                        conversation.sla.resolved(now_ms);
                        step.events.push(commands::bot_resolved(&conversation));
                    }
                }
                status => {
                    contact_changed |= save_location(&mut loaded.contact, &message);
                    if status == ConversationStatus::Snoozed {
                        // The customer wrote: the snooze ends now.
                        commands::reopen(
                            deps,
                            &mut conversation,
                            &loaded.contact,
                            &mut step,
                            &mut fx,
                        )
                        .await;
                    }
                }
            }
            if conversation.status != ConversationStatus::Bot {
                let mut view = commands::message_view(
                    &conversation,
                    &inbound.id,
                    "inbound",
                    "customer",
                    &inbound.kind,
                    inbound.body.clone(),
                    None,
                    "received",
                );
                view["provider_id"] = serde_json::json!(inbound.provider_id);
                let data =
                    serde_json::json!({ "conversation_id": conversation.id, "message": view });
                if conversation.status == ConversationStatus::Assigned
                    && let Some(agent) = conversation.assignee.clone()
                {
                    fx.emits.push((agent, "message.created", data.clone()));
                }
                // Whoever has it open sees it too, assigned or still waiting.
                fx.onlookers.push(("message.created", data));
            }
            step.inbound_message = Some(inbound);
            conversation.updated_at = now_ms;
            conversation.last_seq = seq;
            loaded.conversation = Some(conversation);
        }
        InboundEvent::Status(update) => {
            if let Some(c) = loaded.conversation.as_mut() {
                c.last_seq = seq;
                if matches!(
                    c.status,
                    ConversationStatus::Assigned | ConversationStatus::Snoozed
                ) && let Some(agent) = c.assignee.clone()
                {
                    fx.emits.push((
                        agent,
                        "message.status",
                        serde_json::json!({
                            "conversation_id": c.id,
                            "provider_id": update.provider_id,
                            "status": update.status.as_str(),
                            "error_code": update.errors.first().map(|e| e.code),
                        }),
                    ));
                }
            }
            step.status = Some(update);
        }
        // Account-level events are never dispatched to a conversation; consume them anyway.
        InboundEvent::Error(_) | InboundEvent::Other(_) => {}
    }

    if let Some(c) = &loaded.conversation {
        commands::sla_settle(deps, &sla_before, c, false, &mut step, &mut fx);
    }
    step.conversation = loaded.conversation.clone();
    step.calendars = deps.sla.team_calendars([
        team_before.as_ref(),
        loaded.conversation.as_ref().and_then(|c| c.team.as_ref()),
    ]);
    step.contact =
        contact_changed.then(|| ContactWrite::new(&contact_before, loaded.contact.clone()));
    let linking = step.link_phone.is_some() || step.alias.is_some();
    let aliased = step.alias.clone();
    step.outbound = fx.outbound.clone();
    let masker = loaded
        .conversation
        .as_ref()
        .map(|c| deps.desk.masker(c, Some(&loaded.contact), &[]))
        .unwrap_or_default();
    step.console = fx.console_outbox(&event.conversation, &masker);
    step.webhooks =
        deps.webhook_events(&step, loaded.contact_stored, Utc::now().timestamp_millis());
    let writes_contact = step.contact.is_some();
    if let Some(c) = &loaded.conversation {
        fx.news_of(deps, c, Some(&loaded.contact), &masker);
    }
    let decided = placed_by(&step);
    if decided {
        halt_for_crash_test(deps, HaltPoint::AfterDecision).await;
    }
    if let Err(e) = deps.store.commit_step(step).await {
        // The step's assignment decision (if any) holds a slot; the step is replayed by a fresh
        // actor (a new conversation gets a new id), so the decision is reconciled against what
        // the store holds once it is back: adopted if it did commit, released if it did not.
        if decided && let Some(c) = &loaded.conversation {
            deps.desk.reconcile_later(commands::conversation_ref(c));
        }
        return Err(e);
    }
    if decided {
        halt_for_crash_test(deps, HaltPoint::AfterCommit).await;
    }
    if let Some(c) = loaded.conversation.as_mut() {
        c.version += 1;
    }
    loaded.contact_stored |= writes_contact;
    if aliased.is_some() {
        loaded.aliased = aliased;
    }
    metrics::counter!(m::CONVERSATION_EVENTS, "outcome" => "ok").increment(1);
    if linking {
        relinked(deps, &mut loaded, &event.conversation).await;
    }

    // Durable now: hand replies to the number's sender (waiting for room: backpressure).
    if let Some(message_id) = read_receipt
        && let Some(sender) = deps.outbound.sender(&event.channel)
        && let Some(c) = &loaded.conversation
    {
        sender.mark_read(c.customer.clone(), message_id, false);
    }
    fx.run(deps).await;
    Ok(loaded)
}

/// What the customer's message does to their consent on this WhatsApp number (a stop or start
/// keyword), when the consent ledger is kept.
async fn consent_keyword(
    deps: &ConversationDeps,
    channel: &ChannelId,
    conversation: &ConversationRecord,
    contact: &ContactRecord,
    message: &InboundMessage,
) -> Result<KeywordOutcome, StoreError> {
    let Some(campaigns) = &deps.campaigns else {
        return Ok(KeywordOutcome::NotKeyword);
    };
    let text = match &message.content {
        crate::domain::MessageContent::Text { body } => body.as_str(),
        crate::domain::MessageContent::Button { text, .. } => text.as_str(),
        _ => return Ok(KeywordOutcome::NotKeyword),
    };
    let default_language = deps
        .live
        .bot(channel)
        .map(|b| b.default_language().to_owned())
        .unwrap_or_else(|| "en".into());
    campaigns
        .on_customer_message(
            channel.as_str(),
            conversation.customer.as_str(),
            message.provider_id.as_str(),
            text,
            contact.language.as_deref(),
            &default_language,
        )
        .await
}

/// Whether the step took an assignment decision (assigned, offered or queued the conversation).
fn placed_by(step: &ConversationStep) -> bool {
    step.events
        .iter()
        .any(|e| matches!(e.kind.as_str(), "assigned" | "offered" | "queued"))
}

/// Crash tests only (`conversations.halt_for_crash_test`): freeze this step here for good, so
/// the test can kill the process at this point. Never fires with the default setting.
async fn halt_for_crash_test(deps: &ConversationDeps, point: HaltPoint) {
    if deps.settings.halt_for_crash_test == point && point != HaltPoint::None {
        tracing::warn!(?point, "halted for a crash test");
        std::future::pending::<()>().await;
    }
}

/// The bot handed off: route (team, priority, maybe the agent who served the customer last),
/// then ask for an agent.
async fn hand_off(
    deps: &ConversationDeps,
    c: &mut ConversationRecord,
    contact: &ContactRecord,
    handoff: Handoff,
    step: &mut ConversationStep,
    fx: &mut Effects,
) {
    c.status = ConversationStatus::Waiting;
    c.handoff_at = Some(Utc::now().timestamp_millis());
    c.sla.start(Utc::now().timestamp_millis());
    let team_label = handoff
        .team
        .as_ref()
        .map(|t| t.as_str().to_string())
        .unwrap_or_else(|| "auto".to_string());
    metrics::counter!(m::BOT_HANDOFFS, "team" => team_label).increment(1);
    // The routing in effect now (the router actor reads the same snapshot handle).
    let routing = deps.live.router();
    let last_agent = if routing.prefer_last_agent() {
        deps.store
            .last_assignee(&c.customer, &c.id)
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    // What the contact did, as this step leaves it (a failed read routes as a new contact).
    let behaviour = deps
        .store
        .load_contact_listing(&c.customer)
        .await
        .ok()
        .flatten()
        .map(|l| l.behaviour)
        .unwrap_or_default()
        .with_conversation(c);
    let request = RouteRequest {
        conversation_id: c.id.clone(),
        channel: c.channel.clone(),
        choice: handoff.team.clone(),
        reason: handoff.reason.clone(),
        contact: contact.clone(),
        behaviour,
        last_agent,
    };
    let decision = match deps.router.send(Route(request)).await {
        Ok(decision) => decision,
        Err(e) => {
            let team = handoff
                .team
                .clone()
                .unwrap_or_else(|| routing.default_team().clone());
            RouteDecision {
                team,
                priority: routing.default_priority(),
                preferred_agent: None,
                trace: vec![format!("router unavailable ({e}); default routing")],
            }
        }
    };
    tracing::info!(conversation = %c.id, team = %decision.team, priority = decision.priority,
        reason = %handoff.reason, trace = ?decision.trace, "handed off and routed");
    metrics::counter!(m::ROUTING_DECISIONS, "team" => decision.team.to_string()).increment(1);
    c.priority = decision.priority;
    c.route = crate::store::JsonText::of(&decision).ok();
    step.events.push(ConversationEvent {
        kind: "routed".into(),
        agent: None,
        team: Some(decision.team.clone()),
        detail: Some(decision.trace.join("; ")),
    });
    commands::place(
        deps,
        c,
        contact,
        decision.team,
        decision.preferred_agent,
        true,
        step,
        fx,
    )
    .await;
}

/// A location shared after the bot let go is still the customer's latest location.
fn save_location(contact: &mut ContactRecord, message: &InboundMessage) -> bool {
    if let crate::domain::MessageContent::Location {
        latitude,
        longitude,
        ..
    } = &message.content
    {
        contact
            .fields
            .insert("location_lat".into(), latitude.to_string());
        contact
            .fields
            .insert("location_lon".into(), longitude.to_string());
        return true;
    }
    false
}

/// The contact field an email the customer gave goes to.
const CONTACT_EMAIL_FIELD: &str = "email";

/// Keep the contact's profile current from what the webhook says. Returns whether it changed,
/// and the phone number the customer just proved (new to this contact): the step then links this
/// conversation's contact to the one already known by that number, if any.
fn refresh_contact(
    contact: &mut ContactRecord,
    message: &InboundMessage,
) -> (bool, Option<String>) {
    let mut changed = false;
    let mut proven = None;
    // The profile name fills an empty name only: a name the customer gave the bot wins.
    if let Some(name) = &message.customer.name
        && contact.name.is_none()
    {
        contact.name = Some(name.clone());
        changed = true;
    }
    // An email the customer gave (a web chat's form) fills an empty `email` field: one an
    // agent or the bot set wins.
    if let Some(email) = &message.customer.email
        && !contact.fields.contains_key(CONTACT_EMAIL_FIELD)
    {
        contact
            .fields
            .insert(CONTACT_EMAIL_FIELD.into(), email.clone());
        changed = true;
    }
    // WhatsApp's `wa_id` is the number WhatsApp verified; other channels may vouch for one.
    let phone = match (&message.customer.wa_id, &message.customer.verified_phone) {
        (Some(wa_id), _) => Some(wa_id.clone()),
        (None, Some(verified)) => phone_digits(verified),
        (None, None) => None,
    };
    if let Some(phone) = phone
        && contact.phone.as_deref() != Some(phone.as_str())
    {
        proven = phone_digits(&phone);
        contact.phone = Some(phone);
        changed = true;
    }
    (changed, proven)
}

/// This conversation's contact joined another one (a proven phone number): work on that
/// contact from now on, and tell the other conversations of the contact to read it again.
pub(crate) async fn relinked(deps: &ConversationDeps, loaded: &mut Loaded, own: &ConversationKey) {
    let customer = match &loaded.conversation {
        Some(c) => c.customer.clone(),
        None => return,
    };
    match deps.store.load_contact(&customer).await {
        Ok(Some(contact)) if contact.customer != loaded.contact.customer => {
            tracing::info!(contact = %contact.customer, "the customer's number links them to a known contact");
            loaded.contact = contact;
            match deps.store.contact_identities(&customer).await {
                Ok(identities) => deps.desk.contact_changed(&identities, Some(own)),
                Err(e) => tracing::warn!(error = %e, "linked contact's conversations not told"),
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "linked contact not read again"),
    }
}

/// What the bot made of a customer message: its replies, and whether it let go (a handoff)
/// or is done (an `end` step: the conversation is resolved by the bot).
struct BotTurn {
    replies: Vec<crate::domain::OutboundContent>,
    handoff: Option<Handoff>,
    resolve: bool,
}

/// Run the bot on a customer message, including its HTTP actions.
async fn run_bot(
    deps: &ConversationDeps,
    conversation: &mut ConversationRecord,
    contact: &mut ContactRecord,
    message: &InboundMessage,
) -> BotTurn {
    // This message runs on the flows in effect now, to its end, even if a reload swaps them
    // meanwhile.
    let Some(bot) = deps.live.bot(&conversation.channel) else {
        return BotTurn {
            replies: Vec::new(),
            handoff: None,
            resolve: false,
        };
    };
    let mut state: BotState = if conversation.bot_state.is_null() {
        BotState::default()
    } else {
        conversation.bot_state.parse().unwrap_or_else(|e| {
            tracing::warn!(conversation = %conversation.key, error = %e,
                "unreadable bot state; starting over");
            BotState::default()
        })
    };
    // The contact field definitions in effect now: an answer saved to a field must fit it.
    let people = deps.desk.directory.get();
    let mut step = bot.on_message(&mut state, contact, message, Utc::now(), people.fields());
    if let Some(lost) = &step.restarted_from {
        tracing::warn!(conversation = %conversation.id, key = %conversation.key, step = %lost,
            "the conversation's step is no longer in the reloaded flows; it goes on from the start step");
    }
    let mut replies = std::mem::take(&mut step.replies);
    let mut handoff = step.handoff.take();
    let mut resolve = step.resolve;
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
        resolve |= step.resolve;
    }
    conversation.bot_state = crate::store::JsonText::of(&state).unwrap_or_else(|e| {
        tracing::warn!(conversation = %conversation.key, error = %e, "bot state not serializable");
        crate::store::JsonText::null()
    });
    BotTurn {
        replies,
        // A handoff wins over an end reached in the same turn.
        resolve: resolve && handoff.is_none(),
        handoff,
    }
}

/// An inbound message as the transcript keeps it: its typed content, plus its context (the
/// message it replies to, forwarding) when it has one, so the console can show it in context.
fn stored_body(message: &crate::domain::InboundMessage) -> serde_json::Value {
    let mut body = serde_json::to_value(&message.content).unwrap_or(serde_json::Value::Null);
    if let (Some(context), Some(fields)) = (&message.context, body.as_object_mut())
        && let Ok(context) = serde_json::to_value(context)
    {
        fields.insert("context".into(), context);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Customer, MessageContent, ProviderMessageId};

    fn from(name: Option<&str>, email: Option<&str>) -> InboundMessage {
        InboundMessage {
            provider_id: ProviderMessageId::new("wc:site:v:1"),
            customer: Customer {
                id: CustomerId::new("webchat:site:v"),
                name: name.map(str::to_string),
                email: email.map(str::to_string),
                ..Customer::default()
            },
            timestamp: 0,
            content: MessageContent::Text { body: "hi".into() },
            context: None,
            referral: None,
            handoff: None,
        }
    }

    #[test]
    fn a_given_name_and_email_fill_an_empty_contact_only() {
        let mut contact = ContactRecord::default();
        let (changed, proven) =
            refresh_contact(&mut contact, &from(Some("Ana"), Some("ana@example.com")));
        assert!(changed);
        assert_eq!(proven, None);
        assert_eq!(contact.name.as_deref(), Some("Ana"));
        assert_eq!(
            contact.fields.get("email").map(String::as_str),
            Some("ana@example.com")
        );
        // What an agent or the bot set since wins; the same again changes nothing.
        contact
            .fields
            .insert("email".into(), "ana@work.example".into());
        let (changed, _) =
            refresh_contact(&mut contact, &from(Some("Other"), Some("ana@example.com")));
        assert!(!changed);
        assert_eq!(contact.name.as_deref(), Some("Ana"));
        assert_eq!(
            contact.fields.get("email").map(String::as_str),
            Some("ana@work.example")
        );
        // No email given: nothing to write.
        let mut empty = ContactRecord::default();
        refresh_contact(&mut empty, &from(None, None));
        assert!(empty.fields.is_empty());
    }
}
