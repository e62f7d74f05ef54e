//! The desk: where handed-off conversations meet agents.
//!
//! It wires the assignment seam ([`Assignments`]) to the actors around it: one
//! [`TeamQueueActor`] per team (offer timeouts, overflow timers), one [`AgentActor`] per agent
//! (console sessions and the agent's durable event log), and the conversation actors, which
//! own each conversation's record. A decision made anywhere (a drain after a resolve, an agent
//! coming online, an offer timing out) yields placements; the desk hands each one to the
//! conversation it concerns, whose actor records it and tells the agent and the customer.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use actix::prelude::*;
use minijinja::Environment;
use serde_json::Value;

use crate::accounts::directory::{Directory, Snapshot};
use crate::agents::{AgentActor, ConsoleLog, Emit};
use crate::assign::{Assignments, Placement};
use crate::bot::Text;
use crate::config::Settings;
use crate::conversation::Conversations;
use crate::conversation::commands::Command;
use crate::domain::{AgentId, ConversationKey, CustomerId, Presence, TeamId};
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

/// A user's agent actor on this node (every user has one: events reach supervisors and
/// admins too).
pub struct AgentEntry {
    pub id: AgentId,
    pub addr: Addr<AgentActor>,
    /// Console sessions open on this node (kept by the agent's actor).
    pub sessions: Arc<AtomicUsize>,
}

/// How a team's queue actor is set up.
type TeamClocks = (Option<Duration>, Option<(TeamId, Duration)>);

pub struct Desk {
    pub assignments: Arc<dyn Assignments>,
    pub settings: Arc<Settings>,
    /// The people as this node knows them (see [`crate::accounts::service`]).
    pub directory: Arc<Directory>,
    agents: RwLock<BTreeMap<AgentId, Arc<AgentEntry>>>,
    teams: RwLock<HashMap<TeamId, (TeamClocks, Addr<TeamQueueActor>)>>,
    /// Bumped whenever an agent actor is added (the cluster's console reader follows).
    agents_generation: AtomicUsize,
    console_log: Arc<dyn ConsoleLog>,
    arbiter: ArbiterHandle,
    conversations: ConversationsCell,
    timers: Arc<dyn Scheduler>,
    /// Collisions and conversation news for the consoles (crate::activity).
    pub activity: Arc<crate::activity::Activity>,
    /// Web Push for conversation events (set once at start, see [`Desk::attach_push`]).
    push: std::sync::OnceLock<Arc<crate::push::Pusher>>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    #[error("assignment: {0}")]
    Assign(#[from] crate::assign::AssignError),
}

fn team_clocks(team: &crate::accounts::model::Team) -> TeamClocks {
    (
        (team.offer_timeout_seconds > 0).then(|| Duration::from_secs(team.offer_timeout_seconds)),
        team.overflow_team
            .as_ref()
            .map(|to| (to.clone(), Duration::from_secs(team.overflow_after_seconds))),
    )
}

impl Desk {
    /// Start the team queue and agent actors of the directory's people on `arbiter`.
    /// `conversations` is filled once the conversations exist ([`Desk::attach`]); `timers`
    /// and `console_log` are the mode's.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        settings: Arc<Settings>,
        directory: Arc<Directory>,
        assignments: Arc<dyn Assignments>,
        console_log: Arc<dyn ConsoleLog>,
        conversations: ConversationsCell,
        timers: Arc<dyn Scheduler>,
        activity: Arc<crate::activity::Activity>,
        arbiter: &ArbiterHandle,
    ) -> anyhow::Result<Self> {
        check_texts(&settings)?;
        let desk = Self {
            assignments,
            settings,
            directory,
            agents: RwLock::new(BTreeMap::new()),
            teams: RwLock::new(HashMap::new()),
            agents_generation: AtomicUsize::new(0),
            console_log,
            arbiter: arbiter.clone(),
            conversations,
            timers,
            activity,
            push: std::sync::OnceLock::new(),
        };
        desk.sync_people(&desk.directory.get());
        Ok(desk)
    }

    /// Start actors for the people of `snapshot` this node does not have yet (a user's agent
    /// actor, a team's queue actor), and set up again the team actors whose clocks changed.
    /// Actors of people who left stay (harmless, and still reachable for their last events).
    pub fn sync_people(&self, snapshot: &Snapshot) {
        {
            let mut agents = write(&self.agents);
            let mut added = false;
            for user in snapshot.users() {
                if agents.contains_key(&user.id) {
                    continue;
                }
                let sessions = Arc::new(AtomicUsize::new(0));
                let actor = AgentActor::new(
                    user.id.clone(),
                    self.console_log.clone(),
                    self.settings.console.clone(),
                    sessions.clone(),
                );
                let addr = AgentActor::start_in_arbiter(&self.arbiter, move |_| actor);
                agents.insert(
                    user.id.clone(),
                    Arc::new(AgentEntry {
                        id: user.id.clone(),
                        addr,
                        sessions,
                    }),
                );
                added = true;
            }
            if added {
                self.agents_generation.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut teams = write(&self.teams);
        for team in snapshot.teams() {
            let clocks = team_clocks(team);
            if teams.get(&team.id).is_some_and(|(c, _)| *c == clocks) {
                continue;
            }
            let actor = TeamQueueActor::new(
                team.id.clone(),
                clocks.0,
                clocks.1.clone(),
                self.timers.clone(),
            );
            let addr = TeamQueueActor::start_in_arbiter(&self.arbiter, move |_| actor);
            teams.insert(team.id.clone(), (clocks, addr));
        }
    }

    /// Called once the conversations exist.
    pub fn attach(&self, conversations: Conversations) {
        let _ = self.conversations.set(conversations);
    }

    /// A user's agent actor on this node.
    pub fn agent(&self, id: &AgentId) -> Option<Arc<AgentEntry>> {
        read(&self.agents).get(id).cloned()
    }

    /// Every user's agent actor on this node.
    pub fn agents(&self) -> Vec<Arc<AgentEntry>> {
        read(&self.agents).values().cloned().collect()
    }

    /// Changes whenever agent actors are added.
    pub fn agents_generation(&self) -> usize {
        self.agents_generation.load(Ordering::Relaxed)
    }

    /// Who hears of `agent`'s presence: the agents sharing a team with them (themselves
    /// included) and the supervisors of their teams.
    pub fn presence_audience(&self, agent: &AgentId) -> Vec<AgentId> {
        let people = self.directory.get();
        let mut audience = vec![agent.clone()];
        for team in people.teams_of(agent) {
            audience.extend(people.members_of(team).iter().cloned());
            audience.extend(people.supervisors_of(team).iter().cloned());
        }
        audience.sort();
        audience.dedup();
        audience
    }

    /// What masks a conversation's numbers wherever it is shown (responses, console events):
    /// nothing unless its team masks them (its own setting, else `security.mask_numbers`). The
    /// customer's id, the contact's phone and any `more` (identities' addresses) are masked.
    pub fn masker(
        &self,
        c: &crate::store::ConversationRecord,
        contact: Option<&crate::store::ContactRecord>,
        more: &[&str],
    ) -> crate::accounts::privacy::Masker {
        let masks = self
            .directory
            .get()
            .masks_numbers(c.team.as_ref(), self.settings.security.mask_numbers);
        if !masks {
            return crate::accounts::privacy::Masker::default();
        }
        let mut numbers = vec![c.customer.as_str()];
        if let Some(phone) = contact.and_then(|c| c.phone.as_deref()) {
            numbers.push(phone);
        }
        numbers.extend_from_slice(more);
        crate::accounts::privacy::Masker::new(numbers)
    }

    pub fn team_name(&self, team: &TeamId) -> String {
        self.directory.get().team_name(team)
    }

    /// Take every conversation `user` holds back to its team's queue, near its head (a
    /// deactivated user): each goes through its own actor, which records where it went.
    pub async fn requeue_holdings_of(&self, user: &AgentId) {
        let held = match self.assignments.holdings_of(user).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(%user, error = %e, "holdings of a deactivated user not read");
                return;
            }
        };
        let Some(conversations) = self.conversations.get() else {
            return;
        };
        for conversation in held {
            tracing::info!(%user, conversation = %conversation.id, "deactivated: back to the queue");
            conversations.tell(
                &conversation.channel,
                &conversation.key,
                Command::Requeue {
                    conversation_id: conversation.id.clone(),
                    agent: user.clone(),
                },
            );
        }
    }

    /// A contact changed outside its conversations (a merge, a link): the actor of each of
    /// its `identities` (but `except`) reads it again.
    pub fn contact_changed(
        &self,
        identities: &[crate::store::ContactIdentity],
        except: Option<&ConversationKey>,
    ) {
        let Some(conversations) = self.conversations.get() else {
            return;
        };
        for identity in identities {
            let key = ConversationKey::new(&identity.channel, &CustomerId::new(&identity.address));
            if Some(&key) != except {
                conversations.tell(&identity.channel, &key, Command::ContactChanged);
            }
        }
    }

    /// Send Web Push notifications through `pusher` from now on (set once).
    pub fn attach_push(&self, pusher: Arc<crate::push::Pusher>) {
        let _ = self.push.set(pusher);
    }

    /// Web Push, when it is on.
    pub fn pusher(&self) -> Option<&Arc<crate::push::Pusher>> {
        self.push.get()
    }

    /// A conversation step committed a console event for `agent`: queue a Web Push if it is
    /// one that notifies (never waits; see [`crate::push`]).
    pub fn notify(&self, agent: &AgentId, kind: &str, data: &Value) {
        if let Some(pusher) = self.push.get() {
            pusher.notify(agent, kind, data);
        }
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
        let Some(entry) = self.agent(agent) else {
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
            if self.agent(&entry.agent).is_none() {
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
        if self.agent(agent).is_none() {
            return Err(DeskError::UnknownAgent(agent.clone()));
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let placements = self
            .assignments
            .set_presence(agent, presence, now_ms)
            .await?;
        if presence != Presence::Offline {
            // Online or away for a while; the agent's open consoles keep it so.
            self.assignments
                .heartbeat(std::slice::from_ref(agent), self.lease_until())
                .await?;
        }
        tracing::info!(%agent, presence = presence.as_str(), placed = placements.len(), "presence");
        let data = serde_json::json!({ "agent": agent, "presence": presence });
        for mate in self.presence_audience(agent) {
            self.emit(&mate, "presence.changed", data.clone()).await;
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
            .agents()
            .iter()
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
                    for mate in self.presence_audience(agent) {
                        self.emit(&mate, "presence.changed", data.clone()).await;
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
        let team = read(&self.teams)
            .get(placement.team())
            .map(|(_, addr)| addr.clone());
        if let Some(team) = team
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

    /// Look for SLA breaches of a conversation at `at_ms` (its next due time).
    pub fn schedule_sla_check(&self, conversation: crate::assign::ConversationRef, at_ms: i64) {
        let command = Command::SlaCheck {
            conversation_id: conversation.id.clone(),
        };
        self.timers.schedule(at_ms, &conversation, command);
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

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
