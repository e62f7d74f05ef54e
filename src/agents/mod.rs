//! Agent actors: one per agent. Each numbers the agent's console events (a per-agent sequence
//! that survives restarts), appends them to the agent's bounded durable log, and only then
//! pushes them to every open console session of the agent (browser and phone alike). A
//! console that reconnects with its last sequence gets what it missed from the log, then the
//! live events, with no gap and no duplicate: the backlog is read while the actor holds its
//! mailbox, and the session is registered in the same step.
//!
//! The actor never waits on another actor. A session too slow to keep up (its bounded buffer
//! full) is dropped; the console reconnects and resumes from the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::config::ConsoleSettings;
use crate::domain::AgentId;
use crate::metrics as m;
use crate::store::{AgentEventRecord, Store, StoreError};

/// Append an event to the agent's log and push it to the agent's sessions.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Emit {
    pub kind: &'static str,
    pub data: Value,
}

/// A console session connects; `after` is the last sequence it saw.
#[derive(Message)]
#[rtype(result = "Result<Connected, StoreError>")]
pub struct Connect {
    pub after: Option<i64>,
    pub sink: mpsc::Sender<Arc<str>>,
}

/// What a connecting session gets: its id, the newest sequence, and the frames to send first.
pub struct Connected {
    pub session: u64,
    pub last_seq: i64,
    pub backlog: Vec<Arc<str>>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect(pub u64);

pub struct AgentActor {
    id: AgentId,
    store: Arc<dyn Store>,
    settings: ConsoleSettings,
    /// The next sequence to hand out (loaded from the log at start).
    next_seq: i64,
    /// The newest sequence durable in the log (and pushed).
    flushed_seq: i64,
    pending: Vec<AgentEventRecord>,
    in_flight: bool,
    sessions: HashMap<u64, mpsc::Sender<Arc<str>>>,
    next_session: u64,
    ready: bool,
}

impl AgentActor {
    pub fn new(id: AgentId, store: Arc<dyn Store>, settings: ConsoleSettings) -> Self {
        Self {
            id,
            store,
            settings,
            next_seq: 1,
            flushed_seq: 0,
            pending: Vec::new(),
            in_flight: false,
            sessions: HashMap::new(),
            next_session: 1,
            ready: false,
        }
    }

    /// Write what is pending (one grouped commit), then push it; repeat while more arrived.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight || self.pending.is_empty() || !self.ready {
            return;
        }
        self.in_flight = true;
        let batch = std::mem::take(&mut self.pending);
        let store = self.store.clone();
        let agent = self.id.clone();
        let keep = self.settings.event_log_size;
        let write = {
            let batch = batch.clone();
            async move { store.append_agent_events(&agent, batch, keep).await }
        };
        ctx.spawn(write.into_actor(self).map(move |result, act, ctx| {
            act.in_flight = false;
            match result {
                Ok(()) => {
                    metrics::counter!(m::CONSOLE_EVENTS).increment(batch.len() as u64);
                    for event in &batch {
                        act.push(frame(event));
                        act.flushed_seq = event.seq;
                    }
                    act.flush(ctx);
                }
                Err(e) => {
                    // Keep the order: put the batch back in front and retry shortly.
                    tracing::error!(agent = %act.id, error = %e, "console events not written; retrying");
                    let mut batch = batch;
                    batch.append(&mut act.pending);
                    act.pending = batch;
                    ctx.run_later(Duration::from_millis(200), |act, ctx| act.flush(ctx));
                }
            }
        }));
    }

    fn push(&mut self, frame: Arc<str>) {
        self.sessions
            .retain(|id, sink| match sink.try_send(frame.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(session = id, "console session too slow; disconnecting it");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }
}

/// The wire form of an event (see docs/CONSOLE_API.md).
fn frame(event: &AgentEventRecord) -> Arc<str> {
    json!({
        "type": "event",
        "seq": event.seq,
        "kind": event.kind,
        "at": event.created_at,
        "data": event.payload,
    })
    .to_string()
    .into()
}

impl Actor for AgentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.agent_mailbox);
        let store = self.store.clone();
        let agent = self.id.clone();
        // Continue the sequence where the log ends; hold the mailbox until then.
        ctx.wait(
            async move { store.agent_event_bounds(&agent).await }
                .into_actor(self)
                .map(|result, act, ctx| {
                    match result {
                        Ok(bounds) => {
                            let last = bounds.map(|(_, last)| last).unwrap_or(0);
                            act.flushed_seq = last;
                            act.next_seq = last + 1;
                        }
                        Err(e) => {
                            tracing::error!(agent = %act.id, error = %e, "cannot read the event log; stopping");
                            ctx.stop();
                            return;
                        }
                    }
                    act.ready = true;
                }),
        );
    }
}

impl Handler<Emit> for AgentActor {
    type Result = ();

    fn handle(&mut self, Emit { kind, data }: Emit, ctx: &mut Self::Context) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push(AgentEventRecord {
            seq,
            kind: kind.to_string(),
            payload: data,
            created_at: chrono::Utc::now().timestamp_millis(),
        });
        self.flush(ctx);
    }
}

impl Handler<Connect> for AgentActor {
    type Result = AtomicResponse<Self, Result<Connected, StoreError>>;

    fn handle(&mut self, Connect { after, sink }: Connect, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let agent = self.id.clone();
        let upto = self.flushed_seq;
        let keep = self.settings.event_log_size as i64;
        let read = async move {
            let Some(after) = after else {
                return Ok(Vec::new());
            };
            let mut frames: Vec<Arc<str>> = Vec::new();
            let bounds = store.agent_event_bounds(&agent).await?;
            let oldest = bounds.map(|(first, _)| first).unwrap_or(upto + 1);
            let mut from = after;
            if after > upto || after + 1 < oldest {
                // The log no longer holds everything after `after` (or `after` is from
                // another log): say so, then send what there is.
                frames.push(
                    json!({ "type": "resync", "oldest_seq": oldest })
                        .to_string()
                        .into(),
                );
                from = oldest - 1;
            }
            while from < upto {
                let events = store
                    .agent_events_after(&agent, from, keep.clamp(1, 1000))
                    .await?;
                let Some(last) = events.last() else { break };
                from = last.seq;
                frames.extend(events.iter().filter(|e| e.seq <= upto).map(frame));
            }
            Ok::<_, StoreError>(frames)
        };
        // Atomic: no event is pushed between reading the backlog and registering the sink.
        AtomicResponse::new(Box::pin(read.into_actor(self).map(
            move |result, act, _| {
                let backlog = result?;
                let session = act.next_session;
                act.next_session += 1;
                act.sessions.insert(session, sink);
                metrics::gauge!(m::WEBSOCKET_SESSIONS).increment(1.0);
                Ok(Connected {
                    session,
                    last_seq: act.flushed_seq,
                    backlog,
                })
            },
        )))
    }
}

impl Handler<Disconnect> for AgentActor {
    type Result = ();

    fn handle(&mut self, Disconnect(session): Disconnect, _: &mut Self::Context) {
        self.sessions.remove(&session);
        metrics::gauge!(m::WEBSOCKET_SESSIONS).decrement(1.0);
    }
}
