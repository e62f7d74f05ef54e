//! The desk: where handed-off conversations meet agents.
//!
//! It wires the assignment seam ([`Assignments`]) to the actors around it: one
//! [`TeamQueueActor`] per team (offer timeouts, overflow timers), one [`AgentActor`] per agent
//! (console sessions and the agent's durable event log), and the conversation actors, which
//! own each conversation's record. A decision made anywhere (a drain after a resolve, an agent
//! coming online, an offer timing out) yields placements; the desk hands each one to the
//! conversation it concerns, whose actor records it and tells the agent and the customer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;
use minijinja::Environment;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::agents::{AgentActor, ConsoleLog, Emit};
use crate::assign::{Assignments, Placement};
use crate::bot::Text;
use crate::config::Settings;
use crate::conversation::Conversations;
use crate::conversation::commands::Command;
use crate::domain::{AgentId, ConversationKey, Presence, TeamId};
use crate::metrics as m;
use crate::queues::{TeamQueueActor, Watch};
use crate::store::{Store, StoreError};
use crate::timers::{ConversationsCell, Scheduler};

/// Console outbox entries a sweep emits at most at once.
const OUTBOX_BATCH: i64 = 1000;
/// How often a cluster node sweeps the console outbox, and how old an entry must be: the
/// node that committed it appends it within milliseconds unless it died.
const OUTBOX_SWEEP_EVERY: Duration = Duration::from_secs(5);
const OUTBOX_GRACE: Duration = Duration::from_secs(10);

/// A configured agent and their actor.
pub struct AgentEntry {
    pub id: AgentId,
    pub name: String,
    pub teams: Vec<TeamId>,
    pub capacity: u32,
    pub addr: Addr<AgentActor>,
    /// Console sessions open on this node (kept by the agent's actor).
    pub sessions: Arc<AtomicUsize>,
}

pub struct Desk {
    pub assignments: Arc<dyn Assignments>,
    pub settings: Arc<Settings>,
    agents: BTreeMap<AgentId, AgentEntry>,
    teams: HashMap<TeamId, Addr<TeamQueueActor>>,
    /// SHA-256 of a bearer token → its agent.
    tokens: HashMap<[u8; 32], AgentId>,
    conversations: ConversationsCell,
    timers: Arc<dyn Scheduler>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    #[error("assignment: {0}")]
    Assign(#[from] crate::assign::AssignError),
}

impl Desk {
    /// Start the team queue and agent actors on `arbiter`. `conversations` is filled once the
    /// conversations exist ([`Desk::attach`]); `timers` and `console_log` are the mode's.
    pub fn start(
        settings: Arc<Settings>,
        assignments: Arc<dyn Assignments>,
        console_log: Arc<dyn ConsoleLog>,
        conversations: ConversationsCell,
        timers: Arc<dyn Scheduler>,
        arbiter: &ArbiterHandle,
    ) -> anyhow::Result<Self> {
        check_texts(&settings)?;
        let mut teams = HashMap::new();
        for (id, team) in &settings.teams {
            let actor = TeamQueueActor::new(
                TeamId::new(id.clone()),
                (team.offer_timeout_seconds > 0)
                    .then(|| Duration::from_secs(team.offer_timeout_seconds)),
                team.overflow.as_ref().map(|o| {
                    (
                        TeamId::new(o.team.clone()),
                        Duration::from_secs(o.after_seconds),
                    )
                }),
                timers.clone(),
            );
            teams.insert(
                TeamId::new(id.clone()),
                TeamQueueActor::start_in_arbiter(arbiter, move |_| actor),
            );
        }
        let mut agents = BTreeMap::new();
        let mut tokens = HashMap::new();
        for (id, agent) in &settings.agents {
            let agent_id = AgentId::new(id.clone());
            if let Some(hash) = &agent.token_sha256 {
                let bytes = hex::decode(hash)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| anyhow::anyhow!("agent {id}: bad token_sha256"))?;
                tokens.insert(bytes, agent_id.clone());
            }
            let sessions = Arc::new(AtomicUsize::new(0));
            let actor = AgentActor::new(
                agent_id.clone(),
                console_log.clone(),
                settings.console.clone(),
                sessions.clone(),
            );
            let addr = AgentActor::start_in_arbiter(arbiter, move |_| actor);
            agents.insert(
                agent_id.clone(),
                AgentEntry {
                    id: agent_id,
                    name: agent.name.clone(),
                    teams: agent.teams.iter().cloned().map(TeamId::new).collect(),
                    capacity: agent.capacity,
                    addr,
                    sessions,
                },
            );
        }
        Ok(Self {
            assignments,
            settings,
            agents,
            teams,
            tokens,
            conversations,
            timers,
        })
    }

    /// Called once the conversations exist.
    pub fn attach(&self, conversations: Conversations) {
        let _ = self.conversations.set(conversations);
    }

    /// The agent a bearer token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<&AgentEntry> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.tokens.get(&digest).and_then(|id| self.agents.get(id))
    }

    pub fn agent(&self, id: &AgentId) -> Option<&AgentEntry> {
        self.agents.get(id)
    }

    pub fn agents(&self) -> impl Iterator<Item = &AgentEntry> {
        self.agents.values()
    }

    /// Agents sharing at least one team with `agent` (themselves included).
    pub fn teammates(&self, agent: &AgentId) -> Vec<&AgentEntry> {
        let Some(me) = self.agents.get(agent) else {
            return Vec::new();
        };
        self.agents
            .values()
            .filter(|a| a.id == *agent || a.teams.iter().any(|t| me.teams.contains(t)))
            .collect()
    }

    pub fn team_name(&self, team: &TeamId) -> String {
        self.settings
            .teams
            .get(team.as_str())
            .map(|t| t.name.clone())
            .unwrap_or_else(|| team.to_string())
    }

    /// Append an event to an agent's console log and push it to their sessions. Waits for room
    /// in the agent's mailbox (backpressure); the agent actor never waits on anyone.
    pub async fn emit(&self, agent: &AgentId, kind: &'static str, data: Value) {
        self.emit_event(agent, kind.to_string(), data, None).await;
    }

    /// [`emit`](Self::emit) an event a conversation step committed to the console outbox:
    /// appending it settles the outbox entry.
    pub async fn emit_event(
        &self,
        agent: &AgentId,
        kind: String,
        data: Value,
        outbox_id: Option<String>,
    ) {
        let Some(entry) = self.agents.get(agent) else {
            return;
        };
        let emit = Emit {
            kind,
            data,
            outbox_id,
        };
        if let Err(e) = entry.addr.send(emit).await {
            // Shutting down: the outbox entry (if any) is appended at the next start.
            tracing::warn!(%agent, error = %e, "agent actor gone; console event not appended");
        }
    }

    /// Emit the console outbox entries created before `created_before_ms` (all with None):
    /// events of steps whose process died before appending them. Entries of agents no longer
    /// configured are settled unread. Returns how many were emitted.
    pub async fn replay_console_outbox(
        &self,
        store: &dyn Store,
        created_before_ms: Option<i64>,
    ) -> Result<usize, StoreError> {
        // At start everything (nothing is in flight); a sweep takes a batch at a time.
        let limit = if created_before_ms.is_some() {
            OUTBOX_BATCH
        } else {
            i64::MAX
        };
        let entries = store.console_outbox(created_before_ms, limit).await?;
        self.emit_outbox(store, entries).await
    }

    /// Emit console outbox entries (appending settles them); entries of agents no longer
    /// configured are settled unread. Returns how many were emitted.
    pub async fn emit_outbox(
        &self,
        store: &dyn Store,
        entries: Vec<crate::store::ConsoleOutboxEntry>,
    ) -> Result<usize, StoreError> {
        let mut unknown = Vec::new();
        let mut emitted = 0;
        for entry in entries {
            if !self.agents.contains_key(&entry.agent) {
                unknown.push(entry.id);
                continue;
            }
            self.emit_event(&entry.agent, entry.kind, entry.payload, Some(entry.id))
                .await;
            emitted += 1;
        }
        if !unknown.is_empty() {
            store.settle_console_outbox(unknown).await?;
        }
        Ok(emitted)
    }

    /// Cluster, taking partitions over, before serving them: emit the console outbox entries
    /// their conversations' steps committed and nobody appended (their node died between the
    /// commit and the append), so they reach the agents before any newer event of those
    /// conversations, which this node will emit (through the same agent actors, in order).
    pub async fn settle_outbox_of(
        &self,
        store: &dyn Store,
        in_scope: impl Fn(&ConversationKey) -> bool,
    ) -> Result<usize, StoreError> {
        let entries: Vec<_> = store
            .console_outbox(None, OUTBOX_BATCH * 10)
            .await?
            .into_iter()
            .filter(|e| e.conversation.as_ref().is_some_and(&in_scope))
            .collect();
        self.emit_outbox(store, entries).await
    }

    /// Cluster, taking partitions over, before serving them: release the assignment decisions
    /// of their conversations that no step recorded (see [`crate::assign::ghosts`]), so no
    /// agent's slot stays held by nothing. Returns how many were released.
    pub async fn release_unrecorded(
        &self,
        store: &dyn Store,
        in_scope: impl Fn(&ConversationKey) -> bool,
    ) -> Result<usize, String> {
        // The holdings first, then the store: a decision recorded in between is seen open.
        let holdings = self
            .assignments
            .holdings()
            .await
            .map_err(|e| e.to_string())?;
        let open = store
            .open_conversations()
            .await
            .map_err(|e| e.to_string())?;
        let ghosts = crate::assign::ghosts(&holdings, &placed_in_store(&open), in_scope);
        let mut released = 0;
        for ghost in ghosts {
            match self.assignments.release(&ghost.id).await {
                Ok((held, placements)) => {
                    tracing::info!(conversation = %ghost.id, key = %ghost.key, ?held,
                        "take-over: released a decision no step recorded");
                    released += usize::from(held.is_some());
                    self.dispatch(placements);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(released)
    }

    /// Cluster: every few seconds, emit the console outbox entries older than a grace (their
    /// node died between the commit and the append; the log skips any that was appended
    /// after all).
    pub fn spawn_outbox_sweep(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
    ) -> actix_rt::task::JoinHandle<()> {
        let desk = self.clone();
        actix_rt::spawn(async move {
            let mut ticks = tokio::time::interval(OUTBOX_SWEEP_EVERY);
            loop {
                ticks.tick().await;
                let before =
                    chrono::Utc::now().timestamp_millis() - OUTBOX_GRACE.as_millis() as i64;
                match desk
                    .replay_console_outbox(store.as_ref(), Some(before))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(n, "console outbox: events of a dead node appended"),
                    Err(e) => tracing::warn!(error = %e, "console outbox sweep failed"),
                }
            }
        })
    }

    /// Change an agent's presence: tell the seam (which drains the agent's teams when they come
    /// online), tell the teammates, hand out what the drain placed.
    pub async fn set_presence(&self, agent: &AgentId, presence: Presence) -> Result<(), DeskError> {
        if !self.agents.contains_key(agent) {
            return Err(DeskError::UnknownAgent(agent.clone()));
        }
        let placements = self.assignments.set_presence(agent, presence).await?;
        if presence != Presence::Offline {
            // Online or away for a while; the agent's open consoles keep it so.
            self.assignments
                .heartbeat(std::slice::from_ref(agent), self.lease_until())
                .await?;
        }
        tracing::info!(%agent, presence = presence.as_str(), placed = placements.len(), "presence");
        let data = serde_json::json!({ "agent": agent, "presence": presence });
        for mate in self.teammates(agent) {
            self.emit(&mate.id, "presence.changed", data.clone()).await;
        }
        self.dispatch(placements);
        self.publish_gauges().await;
        Ok(())
    }

    fn presence_ttl(&self) -> Duration {
        Duration::from_secs(self.settings.console.presence_ttl_seconds.max(1))
    }

    fn lease_until(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
            + i64::try_from(self.presence_ttl().as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// One round of presence keeping: agents with a console open on this node stay online (or
    /// away); agents whose lease ended (every console closed, or their node died) go offline,
    /// and their teammates hear of it.
    pub async fn keep_presence(&self) {
        let connected: Vec<AgentId> = self
            .agents
            .values()
            .filter(|a| a.sessions.load(Ordering::Relaxed) > 0)
            .map(|a| a.id.clone())
            .collect();
        if !connected.is_empty()
            && let Err(e) = self
                .assignments
                .heartbeat(&connected, self.lease_until())
                .await
        {
            tracing::warn!(error = %e, "presence heartbeat failed");
        }
        match self
            .assignments
            .expire_presence(chrono::Utc::now().timestamp_millis())
            .await
        {
            Ok(expired) => {
                for agent in &expired {
                    tracing::info!(%agent, "presence lease ended; offline");
                    let data = serde_json::json!({ "agent": agent, "presence": Presence::Offline });
                    for mate in self.teammates(agent) {
                        self.emit(&mate.id, "presence.changed", data.clone()).await;
                    }
                }
                if !expired.is_empty() {
                    self.publish_gauges().await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "presence expiry failed"),
        }
    }

    /// Keep presence every quarter of the lease (at most every 5 s).
    pub fn spawn_presence_keeper(self: &Arc<Self>) -> actix_rt::task::JoinHandle<()> {
        let desk = Arc::downgrade(self);
        let every =
            (self.presence_ttl() / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        actix_rt::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(desk) = desk.upgrade() else { return };
                desk.keep_presence().await;
            }
        })
    }

    /// Hand each placement to its conversation's actor (which records it, tells the agent and
    /// the customer). Never waits: a conversation actor may itself be waiting on the desk.
    pub fn dispatch(&self, placements: Vec<Placement>) {
        if placements.is_empty() {
            return;
        }
        let Some(conversations) = self.conversations.get() else {
            tracing::error!(
                "placements before the conversations exist; they are restored at start"
            );
            return;
        };
        for placement in placements {
            let conversation = placement.conversation().clone();
            conversations.tell(
                &conversation.channel,
                &conversation.key,
                Command::Placed(placement),
            );
        }
    }

    /// Let the team's queue actor start its timers (offer timeout, overflow) for a placement.
    pub async fn watch(&self, placement: Placement) {
        if let Some(team) = self.teams.get(placement.team())
            && team.send(Watch(placement)).await.is_err()
        {
            tracing::warn!("team queue actor gone; its timers are lost");
        }
    }

    /// Try placing a waiting conversation again in a moment (its placement failed: the
    /// assignment state could not be reached). Kept in this process: if the node dies first,
    /// the partition's next owner reconciles its waiting conversations when it takes over.
    pub fn reconcile_later(&self, conversation: crate::assign::ConversationRef) {
        let Some(conversations) = self.conversations.get().cloned() else {
            return;
        };
        actix_rt::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let command = Command::Reconcile {
                conversation_id: conversation.id.clone(),
            };
            conversations.tell(&conversation.channel, &conversation.key, command);
        });
    }

    /// Reopen a snoozed conversation at `until_ms` (unix ms).
    pub fn schedule_reopen(&self, conversation: crate::assign::ConversationRef, until_ms: i64) {
        let command = Command::Reopen {
            conversation_id: conversation.id.clone(),
        };
        self.timers.schedule(until_ms, &conversation, command);
    }

    /// The text telling a customer their queue position, in their language.
    pub fn queue_text(
        &self,
        language: Option<&str>,
        position: usize,
        team: &TeamId,
    ) -> Option<String> {
        let text = self.settings.assignment.queue_message.as_ref()?;
        let ctx = minijinja::context! { position => position, team => self.team_name(team) };
        render(text, language, ctx)
    }

    pub fn queue_full_text(&self, language: Option<&str>, team: &TeamId) -> Option<String> {
        let ctx = minijinja::context! { team => self.team_name(team) };
        render(&self.settings.assignment.queue_full_message, language, ctx)
    }

    /// Publish queue depth, oldest wait and agents by presence now.
    pub async fn publish_gauges(&self) {
        let Ok(snapshot) = self.assignments.snapshot().await else {
            return;
        };
        let now = chrono::Utc::now().timestamp_millis();
        for team in &snapshot.teams {
            let label = team.team.to_string();
            metrics::gauge!(m::QUEUE_DEPTH, "team" => label.clone()).set(team.queue.len() as f64);
            let wait = team
                .oldest_arrival_ms
                .map(|a| (now - a).max(0) as f64 / 1000.0)
                .unwrap_or(0.0);
            metrics::gauge!(m::QUEUE_OLDEST_WAIT, "team" => label).set(wait);
        }
        for presence in Presence::ALL {
            let count = snapshot
                .agents
                .iter()
                .filter(|a| a.presence == presence)
                .count();
            metrics::gauge!(m::AGENTS, "presence" => presence.as_str()).set(count as f64);
        }
    }

    /// Keep the gauges current every second (sampling for Prometheus only; nothing is decided
    /// on a timer). Presence changes publish at once too.
    pub fn spawn_sampler(self: &Arc<Self>) -> actix_rt::task::JoinHandle<()> {
        let desk = Arc::downgrade(self);
        actix_rt::spawn(async move {
            loop {
                let Some(desk) = desk.upgrade() else { return };
                desk.publish_gauges().await;
                drop(desk);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}

fn pick<'a>(text: &'a Text, language: Option<&str>) -> Option<&'a str> {
    match text {
        Text::Same(s) => Some(s),
        Text::PerLanguage(map) => language
            .and_then(|l| map.get(l))
            .or_else(|| map.get("en"))
            .or_else(|| map.values().next())
            .map(String::as_str),
    }
}

fn render(text: &Text, language: Option<&str>, ctx: minijinja::Value) -> Option<String> {
    let source = pick(text, language)?;
    match Environment::new().render_str(source, ctx) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "queue text does not render");
            None
        }
    }
}

/// Render every assignment text once at start-up, so a broken template stops the start.
fn check_texts(settings: &Settings) -> anyhow::Result<()> {
    let mut texts = vec![&settings.assignment.queue_full_message];
    texts.extend(settings.assignment.queue_message.as_ref());
    for text in texts {
        let sources: Vec<&str> = match text {
            Text::Same(s) => vec![s.as_str()],
            Text::PerLanguage(map) => map.values().map(String::as_str).collect(),
        };
        for source in sources {
            let mut env = Environment::new();
            env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
            env.render_str(
                source,
                minijinja::context! { position => 1, team => "Support" },
            )
            .map_err(|e| anyhow::anyhow!("assignment text {source:?}: {e}"))?;
        }
    }
    Ok(())
}

/// The ids of the conversations the store shows placed (waiting or assigned): what an
/// assignment decision must be recorded as (see [`crate::assign::ghosts`]).
pub fn placed_in_store(
    open: &[crate::store::ConversationRecord],
) -> std::collections::HashSet<&str> {
    open.iter()
        .filter(|c| {
            matches!(
                c.status,
                crate::store::ConversationStatus::Waiting
                    | crate::store::ConversationStatus::Assigned
            )
        })
        .map(|c| c.id.as_str())
        .collect()
}
