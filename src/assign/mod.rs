//! Assignment: which agent gets a handed-off conversation, or where it waits.
//!
//! The decision is pure code ([`board::Board`], no actors, no I/O), exhaustively unit-tested
//! and benchmarked. The shared state it works on sits behind the [`Assignments`] seam: in
//! memory here ([`memory::MemoryAssignments`], the board behind a lock held only for the
//! decision itself), in Redis in cluster mode ([`redis::RedisAssignments`], the same operations
//! as atomic Lua scripts).
//! Every operation is atomic: a conversation is never with two agents, an agent never above
//! capacity, an offline or away agent never gets anything.
//!
//! # Configuration at runtime
//!
//! The teams and agents change while the gateway runs (an admin adds a member, changes a
//! capacity or a strategy, deactivates a user, adds or deletes a team):
//! [`Assignments::configure`] applies a whole new configuration in one atomic step, keeping the
//! live state (presence, leases, loads, queues, placements, round-robin turns). Each
//! configuration carries the version of the directory it was read from; a configure never
//! applies a version lower than or equal to the one applied, so a node with an older copy can
//! never overwrite a newer one, and every node converges on the newest. An agent or team that
//! leaves the configuration is *retired*, not forgotten, while something still refers to it: a
//! retired agent is offline and in no team but keeps what it holds (the caller moves it away
//! with [`Assignments::holdings_of`] and [`Assignments::requeue`]); a retired team keeps its
//! queue (no one serves it; its conversations wait to be released or overflowed). The board's
//! documentation ([`board`]) has every rule.

pub mod board;
pub mod memory;
pub mod redis;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{AgentId, ChannelId, ConversationKey, Presence, TeamId};

pub use board::{AgentSpec, TeamSpec};

/// How a team picks among its online agents with room.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Take turns: the next eligible agent after the one who got the team's last conversation.
    #[default]
    RoundRobin,
    /// The eligible agent with the fewest conversations (ties: idle longest, then id).
    LeastBusy,
}

/// A conversation as the board knows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConversationRef {
    /// The conversation's id (a customer's later conversation has another).
    pub id: String,
    /// Its actor's key.
    pub key: ConversationKey,
    pub channel: ChannelId,
}

/// A conversation asking for an agent of a team.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub conversation: ConversationRef,
    pub team: TeamId,
    /// Higher is served first.
    pub priority: i32,
    /// When it was handed off (unix ms): the queue's order within a priority.
    pub arrival_ms: i64,
    /// Try this agent first (the agent who last served a returning customer), if online with room.
    pub preferred_agent: Option<AgentId>,
}

/// Where one conversation ended up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Placement {
    Assigned {
        conversation: ConversationRef,
        team: TeamId,
        agent: AgentId,
    },
    /// Reserved for the agent, who must accept within the team's offer timeout.
    Offered {
        conversation: ConversationRef,
        team: TeamId,
        agent: AgentId,
    },
    /// Waiting in the team's queue at `position` (1 = next).
    Queued {
        conversation: ConversationRef,
        team: TeamId,
        position: usize,
    },
}

impl Placement {
    pub fn conversation(&self) -> &ConversationRef {
        match self {
            Placement::Assigned { conversation, .. }
            | Placement::Offered { conversation, .. }
            | Placement::Queued { conversation, .. } => conversation,
        }
    }
    pub fn team(&self) -> &TeamId {
        match self {
            Placement::Assigned { team, .. }
            | Placement::Offered { team, .. }
            | Placement::Queued { team, .. } => team,
        }
    }
}

/// The outcome of [`Assignments::configure`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Configured {
    /// Whether this configuration replaced the one in force (false: its version was not newer
    /// than the applied one, and nothing changed).
    pub applied: bool,
    /// What the drains of the teams whose eligibility may have grown decided, in order (like
    /// [`Assignments::set_presence`]'s placements), for the caller to act on.
    pub placements: Vec<Placement>,
}

/// What a released conversation had.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Held {
    Assigned { team: TeamId, agent: AgentId },
    Offered { team: TeamId, agent: AgentId },
    Queued { team: TeamId },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    #[error("unknown team {0}")]
    UnknownTeam(TeamId),
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    #[error("the queue of team {0} is full")]
    QueueFull(TeamId),
    #[error("conversation {0} is already assigned, offered or queued")]
    AlreadyPlaced(String),
    #[error("conversation {0} is not offered to this agent")]
    NotOffered(String),
    #[error("agent {0} is not online with room")]
    AgentUnavailable(AgentId),
    /// The shared state cannot be reached (cluster mode): retry later.
    #[error("assignment state unavailable: {0}")]
    Unavailable(String),
}

/// One team's queue, for the console, metrics and tests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeamView {
    pub team: TeamId,
    pub strategy: Strategy,
    /// Queued conversation ids in service order.
    pub queue: Vec<String>,
    /// When each of `queue` entered it (unix ms), in the same order.
    #[serde(default)]
    pub queue_arrivals_ms: Vec<i64>,
    /// Arrival (unix ms) of the longest-waiting queued conversation.
    pub oldest_arrival_ms: Option<i64>,
}

/// One agent, for the console, metrics and tests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    pub agent: AgentId,
    pub presence: Presence,
    /// When the presence last changed (unix ms); `None`: not since the assignment state was
    /// restored (every agent starts offline) or since the agent retired.
    pub presence_since_ms: Option<i64>,
    pub teams: Vec<TeamId>,
    pub capacity: u32,
    /// Assigned plus offered conversations.
    pub load: u32,
    /// Conversation ids assigned to the agent.
    pub assigned: Vec<String>,
    /// Conversation ids offered to the agent, awaiting accept.
    pub offered: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub teams: Vec<TeamView>,
    pub agents: Vec<AgentView>,
}

/// The shared-state seam of assignment. Each call is one atomic decision; the returned
/// placements are every conversation the call assigned, offered or queued (a drain can place
/// several), for the caller to act on (tell the conversation, the agent, the customer).
#[async_trait]
pub trait Assignments: Send + Sync + 'static {
    /// Assign to the preferred agent if online with room, else by the team's strategy, or
    /// offer (teams with offers), or enqueue by priority then arrival.
    async fn place(&self, ticket: Ticket) -> Result<Placement, AssignError>;

    /// Assign straight to one agent (a transfer to an agent): online with room, any team.
    async fn assign_to(&self, agent: &AgentId, ticket: Ticket) -> Result<Placement, AssignError>;

    /// Change an agent's presence at `now_ms` (unix ms, the start of its time in status unless
    /// the presence stays the same). Coming online drains the agent's teams.
    async fn set_presence(
        &self,
        agent: &AgentId,
        presence: Presence,
        now_ms: i64,
    ) -> Result<Vec<Placement>, AssignError>;

    /// Extend the presence lease of these agents (online or away; offline ones are left
    /// alone) until `until_ms` (unix ms): a console that is still there says so periodically.
    async fn heartbeat(&self, agents: &[AgentId], until_ms: i64) -> Result<(), AssignError>;

    /// Agents whose presence lease ended before `now_ms` go offline by themselves (their console
    /// and its node are gone); returns who did.
    async fn expire_presence(&self, now_ms: i64) -> Result<Vec<AgentId>, AssignError>;

    /// Take a conversation off its agent, offer or queue (resolve, snooze, transfer), freeing
    /// the capacity it held and draining the agent's teams at once.
    async fn release(
        &self,
        conversation_id: &str,
    ) -> Result<(Option<Held>, Vec<Placement>), AssignError>;

    /// The agent takes an offered conversation.
    async fn accept(
        &self,
        agent: &AgentId,
        conversation_id: &str,
    ) -> Result<Placement, AssignError>;

    /// The agent rejects an offer, or it timed out: the conversation goes to the next eligible
    /// agent of its team (never back to one who declined it) or back to the queue at its place.
    async fn decline(
        &self,
        agent: &AgentId,
        conversation_id: &str,
    ) -> Result<Vec<Placement>, AssignError>;

    /// If the conversation is still queued, move it to another team's queue (overflow),
    /// keeping its priority and arrival, and place it there.
    async fn overflow(
        &self,
        conversation_id: &str,
        to: &TeamId,
    ) -> Result<Option<Placement>, AssignError>;

    /// Where a conversation is now.
    async fn held(&self, conversation_id: &str) -> Result<Option<Held>, AssignError>;

    /// Queued position (1 = next) of a queued conversation.
    async fn position(&self, conversation_id: &str) -> Result<Option<usize>, AssignError>;

    async fn snapshot(&self) -> Result<Snapshot, AssignError>;

    /// Every conversation the state holds (assigned, offered or queued), with where. Not one
    /// atomic read in a cluster: a conversation released meanwhile may be left out.
    async fn holdings(&self) -> Result<Vec<(ConversationRef, Held)>, AssignError>;

    /// Replace the teams and agents with this configuration, read from version `version` of the
    /// directory, unless a configuration of that version or a newer one is already applied
    /// (then nothing changes: `applied` is false). Live state is kept: presence, leases, loads,
    /// queues and placements; round-robin turns continue after the same agent. New agents
    /// start offline; agents left out are retired (offline, in no team, keeping what they hold
    /// until it is released or requeued); teams left out are retired (their queue stays, unserved,
    /// and nothing new can be placed there). The teams whose eligibility may have grown (a
    /// member added, a capacity raised, a strategy changed) drain at once: the placements.
    /// Specs are normalized like [`board::normalize`] does.
    async fn configure(
        &self,
        teams: Vec<TeamSpec>,
        agents: Vec<AgentSpec>,
        version: i64,
    ) -> Result<Configured, AssignError>;

    /// The directory version of the configuration applied.
    async fn configured_version(&self) -> Result<i64, AssignError>;

    /// What the agent holds (assigned and offered conversations), by id; nothing for an agent
    /// the state does not know. A retired agent's holdings are what the caller requeues.
    async fn holdings_of(&self, agent: &AgentId) -> Result<Vec<ConversationRef>, AssignError>;

    /// Take a conversation off the agent it is assigned or offered to and put it back in its
    /// team's queue at its original place (its priority, arrival and placing order: ahead of
    /// anything that arrived later), freeing the agent's slot; its team and the agent's teams
    /// drain at once. The placements say where it went (another agent, an offer, or `Queued`
    /// with its position, last) and what else the drain placed. The agent may get it back in
    /// the same call only if it is still eligible (a retired agent never is). A conversation
    /// that is not assigned or offered (queued, or unknown) is `Ok([])`: nothing to do.
    async fn requeue(&self, conversation_id: &str) -> Result<Vec<Placement>, AssignError>;

    /// Whether the state holds a board built from the durable store: in memory, once
    /// [`restore`](Assignments::restore)d; in Redis, once any node restored it since Redis last
    /// started empty.
    async fn is_ready(&self) -> Result<bool, AssignError>;

    /// Rebuild from the durable store: conversations assigned (to their agents, whatever their
    /// presence) and conversations waiting (queued in order). Agents start offline. In memory
    /// this always rebuilds; a shared state that is already ready is left alone (another node
    /// rebuilt it, and has been deciding since): the answer says whether this call rebuilt.
    async fn restore(
        &self,
        assigned: Vec<(Ticket, AgentId)>,
        waiting: Vec<Ticket>,
    ) -> Result<bool, AssignError>;
}

/// The decisions nothing recorded: conversations the assignment state holds (in the scope
/// asked about: the partitions a node is taking over) that the store does not show as waiting
/// or assigned. Their step never committed (its node died between the decision and the
/// commit, or the commit failed) or their conversation moved on without the state hearing of
/// it; each holds a slot or a queue place for nothing, so it is released.
///
/// Only sound while no step of those conversations can be in flight (a partition's new owner
/// before it serves it): `open` must be read after `holdings`.
pub fn ghosts<'a>(
    holdings: &'a [(ConversationRef, Held)],
    open: &std::collections::HashSet<&str>,
    in_scope: impl Fn(&ConversationKey) -> bool,
) -> Vec<&'a ConversationRef> {
    holdings
        .iter()
        .map(|(conversation, _)| conversation)
        .filter(|c| in_scope(&c.key) && !open.contains(c.id.as_str()))
        .collect()
}

#[cfg(test)]
mod configure_tests;
#[cfg(test)]
mod redis_tests;
#[cfg(test)]
mod seam_tests;
#[cfg(test)]
mod tests;
