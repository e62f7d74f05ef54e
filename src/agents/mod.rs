//! Agent actors: one per agent (per node). Each keeps the agent's console sessions on this node
//! and the agent's event log: every console event gets a per-agent sequence, is appended to the
//! agent's bounded log, and only then pushed to every open session of the agent (browser and
//! phone alike). A console that reconnects with its last sequence gets what it missed from the
//! log, then the live events, with no gap and no duplicate: the backlog is read while the actor
//! holds its mailbox, up to the last event it pushed, and the session is registered in the same
//! step.
//!
//! The log is a seam ([`ConsoleLog`]). In the embedded mode it is the store: this actor is the
//! only writer, numbers the events itself and pushes them once written. In a cluster several
//! nodes append to one agent's log (a Redis stream, which numbers them), and a reader on each
//! node hands every appended event back to the node's actor ([`Pushed`]), which pushes them in
//! sequence order, filling any gap from the log.
//!
//! The actor never waits on another actor. A session too slow to keep up (its bounded buffer
//! full) is dropped; the console reconnects and resumes from the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;
use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::config::ConsoleSettings;
use crate::domain::AgentId;
use crate::metrics as m;
use crate::store::{AgentEventRecord, Store, StoreError};

/// Where agents' console events are kept for reconnecting consoles.
#[async_trait]
pub trait ConsoleLog: Send + Sync + 'static {
    /// True when the log numbers appended events itself and every node hears of them through
    /// [`Pushed`] (a log shared by several nodes); false when the appending actor numbers them
    /// and pushes them itself once they are written.
    fn shared(&self) -> bool;

    /// Append events (numbered already unless [`shared`](Self::shared)), keeping the agent's
    /// last `keep`; returns them as numbered.
    async fn append(
        &self,
        agent: &AgentId,
        events: Vec<AgentEventRecord>,
        keep: usize,
    ) -> Result<Vec<AgentEventRecord>, StoreError>;

    /// The agent's events after `after_seq`, in order, at most `limit`.
    async fn after(
        &self,
        agent: &AgentId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AgentEventRecord>, StoreError>;

    /// The oldest and newest sequence in the agent's log (None when empty).
    async fn bounds(&self, agent: &AgentId) -> Result<Option<(i64, i64)>, StoreError>;
}

/// The embedded mode's log: the durable store's `agent_events`.
pub struct StoreConsoleLog(pub Arc<dyn Store>);

#[async_trait]
impl ConsoleLog for StoreConsoleLog {
    fn shared(&self) -> bool {
        false
    }

    async fn append(
        &self,
        agent: &AgentId,
        events: Vec<AgentEventRecord>,
        keep: usize,
    ) -> Result<Vec<AgentEventRecord>, StoreError> {
        self.0
            .append_agent_events(agent, events.clone(), keep)
            .await?;
        Ok(events)
    }

    async fn after(
        &self,
        agent: &AgentId,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AgentEventRecord>, StoreError> {
        self.0.agent_events_after(agent, after_seq, limit).await
    }

    async fn bounds(&self, agent: &AgentId) -> Result<Option<(i64, i64)>, StoreError> {
        self.0.agent_event_bounds(agent).await
    }
}

/// Append an event to the agent's log and push it to the agent's sessions.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Emit {
    pub kind: String,
    pub data: Value,
    /// The console outbox entry the event comes from (a conversation step's event), settled
    /// when the event is appended.
    pub outbox_id: Option<String>,
}

/// Events appended to a shared log (by any node), in sequence order, for this node's sessions.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Pushed(pub Vec<AgentEventRecord>);

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
    log: Arc<dyn ConsoleLog>,
    settings: ConsoleSettings,
    /// The next sequence to hand out (a log this actor numbers; loaded from it at start).
    next_seq: i64,
    /// The newest sequence pushed to this node's sessions (everything up to it is in the log).
    flushed_seq: i64,
    pending: Vec<AgentEventRecord>,
    in_flight: bool,
    sessions: HashMap<u64, mpsc::Sender<Arc<str>>>,
    /// Open sessions, shared with the desk (which keeps their agents' presence alive).
    session_count: Arc<AtomicUsize>,
    next_session: u64,
    ready: bool,
}

impl AgentActor {
    pub fn new(
        id: AgentId,
        log: Arc<dyn ConsoleLog>,
        settings: ConsoleSettings,
        session_count: Arc<AtomicUsize>,
    ) -> Self {
        Self {
            id,
            log,
            settings,
            next_seq: 1,
            flushed_seq: 0,
            pending: Vec::new(),
            in_flight: false,
            sessions: HashMap::new(),
            session_count,
            next_session: 1,
            ready: false,
        }
    }

    /// Write what is pending (one append), then push it unless the log fans out itself; repeat
    /// while more arrived.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight || self.pending.is_empty() || !self.ready {
            return;
        }
        self.in_flight = true;
        let batch = std::mem::take(&mut self.pending);
        let log = self.log.clone();
        let agent = self.id.clone();
        let keep = self.settings.event_log_size;
        let write = {
            let batch = batch.clone();
            async move { log.append(&agent, batch, keep).await }
        };
        ctx.spawn(write.into_actor(self).map(move |result, act, ctx| {
            act.in_flight = false;
            match result {
                Ok(appended) => {
                    metrics::counter!(m::CONSOLE_EVENTS).increment(appended.len() as u64);
                    if !act.log.shared() {
                        act.push_in_order(appended);
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

    /// Push events that directly follow what was pushed; older ones were pushed already.
    fn push_in_order(&mut self, events: Vec<AgentEventRecord>) {
        for event in events {
            if event.seq <= self.flushed_seq {
                continue;
            }
            self.push(frame(&event));
            self.flushed_seq = event.seq;
        }
    }

    fn push(&mut self, frame: Arc<str>) {
        let before = self.sessions.len();
        self.sessions
            .retain(|id, sink| match sink.try_send(frame.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(session = id, "console session too slow; disconnecting it");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        self.count_sessions(before);
    }

    /// Drop every session: they reconnect and resume from the log (which no longer holds what
    /// they would need to continue seamlessly).
    fn drop_sessions(&mut self) {
        let before = self.sessions.len();
        self.sessions.clear();
        self.count_sessions(before);
    }

    fn count_sessions(&self, before: usize) {
        let after = self.sessions.len();
        if after != before {
            metrics::gauge!(m::WEBSOCKET_SESSIONS).decrement((before - after) as f64);
        }
        self.session_count.store(after, Ordering::Relaxed);
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
        let log = self.log.clone();
        let agent = self.id.clone();
        // Continue the sequence where the log ends; hold the mailbox until then.
        ctx.wait(
            async move { log.bounds(&agent).await }
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

    fn stopped(&mut self, _: &mut Self::Context) {
        self.drop_sessions();
    }
}

impl Handler<Emit> for AgentActor {
    type Result = ();

    fn handle(
        &mut self,
        Emit {
            kind,
            data,
            outbox_id,
        }: Emit,
        ctx: &mut Self::Context,
    ) {
        let seq = if self.log.shared() {
            0 // numbered by the log
        } else {
            let seq = self.next_seq;
            self.next_seq += 1;
            seq
        };
        self.pending.push(AgentEventRecord {
            seq,
            kind,
            payload: data,
            created_at: chrono::Utc::now().timestamp_millis(),
            outbox_id,
        });
        self.flush(ctx);
    }
}

impl Handler<Pushed> for AgentActor {
    type Result = ();

    fn handle(&mut self, Pushed(events): Pushed, ctx: &mut Self::Context) {
        let Some(first) = events.iter().map(|e| e.seq).find(|&s| s > self.flushed_seq) else {
            return; // pushed already
        };
        if first == self.flushed_seq + 1 {
            self.push_in_order(events);
            return;
        }
        // A gap (this node's reader started or resumed after events it did not see): fill it
        // from the log first, holding the mailbox so the order stays right.
        let log = self.log.clone();
        let agent = self.id.clone();
        let from = self.flushed_seq;
        let limit = first - from - 1;
        ctx.wait(
            async move { log.after(&agent, from, limit).await }
                .into_actor(self)
                .map(move |result, act, _| match result {
                    Ok(missing) if missing.first().map(|e| e.seq) == Some(from + 1) => {
                        act.push_in_order(missing);
                        act.push_in_order(events);
                    }
                    Ok(_) => {
                        // The log no longer holds them: sessions must resync.
                        tracing::info!(agent = %act.id, from, "console events missing from the log; sessions resync");
                        act.drop_sessions();
                        act.flushed_seq = act.flushed_seq.max(first - 1);
                        act.push_in_order(events);
                    }
                    Err(e) => {
                        tracing::warn!(agent = %act.id, error = %e, "cannot fill a gap of console events; sessions resync");
                        act.drop_sessions();
                        act.flushed_seq = act.flushed_seq.max(first - 1);
                        act.push_in_order(events);
                    }
                }),
        );
    }
}

impl Handler<Connect> for AgentActor {
    type Result = AtomicResponse<Self, Result<Connected, StoreError>>;

    fn handle(&mut self, Connect { after, sink }: Connect, _: &mut Self::Context) -> Self::Result {
        let log = self.log.clone();
        let agent = self.id.clone();
        let upto = self.flushed_seq;
        let keep = self.settings.event_log_size as i64;
        let read = async move {
            let Some(after) = after else {
                return Ok(Vec::new());
            };
            let mut frames: Vec<Arc<str>> = Vec::new();
            let bounds = log.bounds(&agent).await?;
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
                let events = log.after(&agent, from, keep.clamp(1, 1000)).await?;
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
                act.session_count
                    .store(act.sessions.len(), Ordering::Relaxed);
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
        let before = self.sessions.len();
        self.sessions.remove(&session);
        self.count_sessions(before);
    }
}
