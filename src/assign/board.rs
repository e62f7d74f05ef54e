//! The assignment decision: pure, synchronous code (no actors, no I/O, no clock).
//!
//! A [`Board`] holds the teams, the agents (presence, capacity, load), every placed conversation
//! (assigned, offered or queued) and each team's queue, and makes every decision of the
//! [`Assignments`](super::Assignments) seam as one synchronous method call. Time only enters
//! through the tickets' `arrival_ms`; "who was assigned longest ago" is an internal counter.
//!
//! Rules:
//! - An agent is eligible for a ticket when it is a member of the ticket's team (any team for
//!   [`Board::assign_to`]), online, below capacity (load = assigned + offered conversations,
//!   across all its teams) and has not declined the ticket.
//! - [`Board::place`] tries the ticket's preferred agent, then the team's [`Strategy`]; a team
//!   with offers offers instead of assigning; with nobody eligible the ticket is queued by
//!   priority (higher first), then arrival, then placing order.
//! - Whenever capacity frees or an agent comes online the affected teams' queues drain at once,
//!   inside the same call: the best waiting ticket that someone can take goes first.
//!
//! # Configuration
//!
//! [`Board::configure`] replaces the teams and agents at runtime, keeping the live state, unless
//! its directory version is not newer than the one applied (then it changes nothing):
//! - A new agent starts offline with nothing; a new team with an empty queue.
//! - An agent serves exactly its new teams from then on; what it holds stays with it. Each
//!   team's round-robin turn continues after the same agent if it is still a member, else after
//!   the members before it (in id order) — where it would have been.
//! - A capacity below the agent's load keeps its conversations but gives it nothing new until
//!   its load is below the capacity; a raised one makes it eligible again.
//! - A team's strategy, offers and queue limit apply to the next decisions; who waits keeps
//!   their order (a lowered limit only refuses new arrivals).
//! - An agent left out is *retired*: offline (its lease gone), in no team, unknown to every
//!   operation that names an agent, but still holding what it held (load) until released or
//!   requeued ([`Board::holdings_of`], [`Board::requeue`]); listed by [`Board::snapshot`] while
//!   it holds anything. A team left out is retired too: no members, unknown to
//!   [`Board::place`], [`Board::assign_to`] and [`Board::overflow`]; its queued conversations
//!   stay (unserved) until released or overflowed; listed while its queue is not empty. A
//!   retired agent or team that nothing refers to any more is forgotten at the next
//!   configuration (coming back later, it is new: its last assignment forgotten); one that comes
//!   back before is the same agent or team again.
//! - Then every team whose eligible agents may have grown (a member added, a member's capacity
//!   raised, its strategy changed) drains, best ticket across them first.
//!
//! A ticket remembers its preferred agent and who declined it by id, so an agent that leaves
//! and comes back is still preferred, and still never offered what it declined.
//!
//! Cost: choosing an agent is linear in the team's members (a few nanoseconds each); queue
//! operations are logarithmic in the queue length, except a queued position, which is counted
//! from the nearer end of the queue (new arrivals land at the end, so it is usually a few steps).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use crate::config::Settings;
use crate::domain::{AgentId, Presence, TeamId};

use super::{
    AgentView, AssignError, Configured, ConversationRef, Held, Placement, Snapshot, Strategy,
    TeamView, Ticket,
};

/// A team as the board sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamSpec {
    pub id: TeamId,
    /// How the team picks among its eligible agents.
    pub strategy: Strategy,
    /// Offer conversations (the agent must accept) instead of assigning them outright.
    pub offers: bool,
    /// Most conversations waiting in the team's queue; [`Board::place`] refuses more.
    pub max_queue: usize,
}

/// An agent as the board sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSpec {
    pub id: AgentId,
    /// The teams the agent serves (unknown ones are ignored with a warning).
    pub teams: Vec<TeamId>,
    /// Most concurrent conversations (assigned plus offered), across all its teams.
    pub capacity: u32,
}

/// A queue's order: priority (higher first), then arrival, then placing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct QueueKey {
    priority: Reverse<i32>,
    arrival_ms: i64,
    seq: u64,
}

#[derive(Clone, Debug)]
struct Team {
    id: TeamId,
    /// In the configuration applied; false: retired (no members, kept for its conversations).
    configured: bool,
    strategy: Strategy,
    offers: bool,
    max_queue: usize,
    /// Agent indexes, ascending (which is [`AgentId`] order).
    members: Vec<usize>,
    /// Round robin: the position in `members` of the agent the strategy picked last.
    cursor: Option<usize>,
    /// Queued tickets: order key to entry index.
    queue: BTreeMap<QueueKey, usize>,
    /// How many members are online with room right now.
    available: usize,
}

#[derive(Clone, Debug)]
struct Agent {
    id: AgentId,
    /// In the configuration applied; false: retired (offline, no teams, kept for what it holds).
    configured: bool,
    /// Team indexes, ascending, no duplicates.
    teams: Vec<usize>,
    /// While online or away, the agent stays so until this time (unix ms), unless a heartbeat
    /// extends it; `None`: until told otherwise.
    lease_until: Option<i64>,
    /// When the presence last changed (unix ms); `None`: not since the board was built or
    /// restored (every agent starts offline then) or since the agent retired.
    presence_since: Option<i64>,
}

/// The part of an agent every decision reads, kept apart so a scan over a large team stays in
/// cache.
#[derive(Clone, Copy, Debug)]
struct AgentState {
    presence: Presence,
    capacity: u32,
    load: u32,
    /// Value of the board's tick at the agent's latest assignment or offer; 0: never.
    last_assigned: u64,
}

impl AgentState {
    fn online_with_room(&self) -> bool {
        self.presence == Presence::Online && self.load < self.capacity
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Queued,
    Offered(usize),
    Assigned(usize),
}

/// One placed conversation.
#[derive(Clone, Debug)]
struct Entry {
    ticket: Ticket,
    /// Team index; `ticket.team` is kept equal to that team's id.
    team: usize,
    /// The preferred agent, if it was a configured agent when the ticket was placed.
    preferred_id: Option<AgentId>,
    /// `preferred_id`'s index, while that agent is on the board.
    preferred: Option<usize>,
    key: QueueKey,
    status: Status,
    /// Agents who declined the ticket in its current team (indexes of agents on the board).
    declined: Vec<usize>,
    /// Those of them no longer on the board (they may come back).
    declined_away: Vec<AgentId>,
}

/// An agent chosen for a ticket.
#[derive(Clone, Copy, Debug)]
struct Pick {
    agent: usize,
    /// Round robin only: the agent's position in the team's members, the team's next cursor.
    cursor: Option<usize>,
}

/// The assignment state and its decisions. See the [module documentation](self) for the rules.
#[derive(Clone, Debug)]
pub struct Board {
    /// Ascending by id.
    teams: Vec<Team>,
    team_index: HashMap<TeamId, usize>,
    /// Ascending by id.
    agents: Vec<Agent>,
    /// Parallel to `agents`.
    states: Vec<AgentState>,
    agent_index: HashMap<AgentId, usize>,
    /// Placed conversations; `None` slots are listed in `free`.
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// Conversation id to entry index.
    by_id: HashMap<String, usize>,
    next_seq: u64,
    ticks: u64,
    /// Directory version of the configuration applied.
    version: i64,
}

/// What [`Board::configure`] needs to know of a team before the change.
struct TeamBefore {
    configured: bool,
    strategy: Strategy,
    /// The member the round-robin cursor points at.
    cursor_agent: Option<AgentId>,
    members: Vec<AgentId>,
}

impl Board {
    /// A board with these teams and agents, every agent offline, nothing placed, at directory
    /// version 0. Duplicate ids keep their first spec; an agent's unknown teams are ignored
    /// (both with a warning): see [`normalize`].
    pub fn new(teams: Vec<TeamSpec>, agents: Vec<AgentSpec>) -> Board {
        Board::new_at(teams, agents, 0)
    }

    /// [`Board::new`] with the configuration of directory version `version`.
    pub fn new_at(teams: Vec<TeamSpec>, agents: Vec<AgentSpec>, version: i64) -> Board {
        let mut board = Board {
            teams: Vec::new(),
            team_index: HashMap::new(),
            agents: Vec::new(),
            states: Vec::new(),
            agent_index: HashMap::new(),
            entries: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            next_seq: 0,
            ticks: 0,
            version,
        };
        board.apply(teams, agents);
        board
    }

    /// The configured teams and agents: see [`specs_from_settings`].
    pub fn from_settings(settings: &Settings) -> Board {
        let (teams, agents) = specs_from_settings(settings);
        Board::new(teams, agents)
    }

    /// Replace the teams and agents, keeping the live state, if `version` is newer than the
    /// version applied; then drain the teams whose eligible agents may have grown. See the
    /// [module documentation](self) for the rules.
    pub fn configure(
        &mut self,
        teams: Vec<TeamSpec>,
        agents: Vec<AgentSpec>,
        version: i64,
    ) -> Configured {
        if version <= self.version {
            return Configured::default();
        }
        self.version = version;
        let grown = self.apply(teams, agents);
        let mut placements = Vec::new();
        self.drain_teams(&grown, &mut placements);
        Configured {
            applied: true,
            placements,
        }
    }

    /// The directory version of the configuration applied.
    pub fn configured_version(&self) -> i64 {
        self.version
    }

    /// The conversations assigned or offered to `agent` (configured or retired), by id; none for
    /// an agent not on the board. Linear in the conversations placed.
    pub fn holdings_of(&self, agent: &AgentId) -> Vec<ConversationRef> {
        let Some(&agent) = self.agent_index.get(agent) else {
            return Vec::new();
        };
        let mut held: Vec<ConversationRef> = self
            .entries
            .iter()
            .flatten()
            .filter(|entry| {
                matches!(entry.status, Status::Offered(holder) | Status::Assigned(holder)
                    if holder == agent)
            })
            .map(|entry| entry.ticket.conversation.clone())
            .collect();
        held.sort_by(|a, b| a.id.cmp(&b.id));
        held
    }

    /// Put a conversation assigned or offered to an agent back in its team's queue with its
    /// original queue key, free the agent's slot, and drain its team and the agent's teams (the
    /// agent may get it back only if it is still eligible). If it is still waiting afterwards,
    /// the last placement is its `Queued` position. Nothing for a conversation that is queued or
    /// unknown.
    pub fn requeue(&mut self, conversation_id: &str) -> Vec<Placement> {
        let Some(&ix) = self.by_id.get(conversation_id) else {
            return Vec::new();
        };
        match self.entry(ix).map(|entry| entry.status) {
            Some(Status::Offered(agent) | Status::Assigned(agent)) => {
                self.back_to_queue(ix, agent, false)
            }
            _ => Vec::new(),
        }
    }

    /// Assign to the preferred agent if eligible, else by the team's strategy (offer in a team
    /// with offers), else queue by priority then arrival. `QueueFull` changes nothing.
    pub fn place(&mut self, ticket: Ticket) -> Result<Placement, AssignError> {
        self.ensure_unplaced(&ticket)?;
        let team = self.team_ix(&ticket.team)?;
        let preferred = self.preferred_ix(&ticket);
        let pick = self.pick(team, preferred, &[]);
        if pick.is_none() && self.teams[team].queue.len() >= self.teams[team].max_queue {
            return Err(AssignError::QueueFull(self.teams[team].id.clone()));
        }
        let ix = self.vacant_slot();
        let mut entry = self.new_entry(ticket, team, preferred);
        let placement = match pick {
            Some(pick) => {
                let offer = self.teams[team].offers;
                self.commit(&mut entry, pick, offer)
            }
            None => {
                self.teams[team].queue.insert(entry.key, ix);
                self.queued_placement(&entry)
            }
        };
        self.store_new(ix, entry);
        Ok(placement)
    }

    /// Assign straight to `agent` (a transfer), whatever its teams: it must be online with room.
    /// Always an assignment, never an offer.
    pub fn assign_to(&mut self, agent: &AgentId, ticket: Ticket) -> Result<Placement, AssignError> {
        self.ensure_unplaced(&ticket)?;
        let agent = self.agent_ix(agent)?;
        let team = self.team_ix(&ticket.team)?;
        if !self.states[agent].online_with_room() {
            return Err(AssignError::AgentUnavailable(self.agents[agent].id.clone()));
        }
        let preferred = self.preferred_ix(&ticket);
        let ix = self.vacant_slot();
        let mut entry = self.new_entry(ticket, team, preferred);
        let pick = Pick {
            agent,
            cursor: None,
        };
        let placement = self.commit(&mut entry, pick, false);
        self.store_new(ix, entry);
        Ok(placement)
    }

    /// Change an agent's presence. Coming online drains the agent's teams; away or offline keep
    /// what the agent holds but get nothing new.
    /// `now_ms` dates the change (unix ms); setting the presence the agent already has keeps the
    /// date of the earlier change.
    pub fn set_presence(
        &mut self,
        agent: &AgentId,
        presence: Presence,
        now_ms: i64,
    ) -> Result<Vec<Placement>, AssignError> {
        let agent = self.agent_ix(agent)?;
        if self.states[agent].presence != presence {
            self.agents[agent].presence_since = Some(now_ms);
        }
        self.update_agent(agent, |state| state.presence = presence);
        if presence == Presence::Offline {
            self.agents[agent].lease_until = None;
        }
        let mut placements = Vec::new();
        if presence == Presence::Online {
            self.drain(agent, None, &mut placements);
        }
        Ok(placements)
    }

    /// Extend the presence lease of agents who are online or away until `until_ms` (unix ms).
    /// Offline and unknown agents are left alone: a heartbeat never brings anyone online.
    pub fn heartbeat(&mut self, agents: &[AgentId], until_ms: i64) {
        for id in agents {
            if let Some(&agent) = self.agent_index.get(id)
                && self.states[agent].presence != Presence::Offline
            {
                self.agents[agent].lease_until = Some(until_ms);
            }
        }
    }

    /// Agents whose lease ended before `now_ms` go offline (they keep what they hold, like any
    /// offline agent); returns them, in id order.
    pub fn expire_presence(&mut self, now_ms: i64) -> Vec<AgentId> {
        let mut expired = Vec::new();
        for agent in 0..self.agents.len() {
            let lapsed = self.agents[agent]
                .lease_until
                .is_some_and(|until| until < now_ms);
            if lapsed && self.states[agent].presence != Presence::Offline {
                self.update_agent(agent, |state| state.presence = Presence::Offline);
                self.agents[agent].lease_until = None;
                self.agents[agent].presence_since = Some(now_ms);
                expired.push(self.agents[agent].id.clone());
            }
        }
        expired
    }

    /// Remove a conversation from its agent, offer or queue. A freed slot drains the agent's
    /// teams at once. An unknown conversation is `(None, [])`.
    pub fn release(
        &mut self,
        conversation_id: &str,
    ) -> Result<(Option<Held>, Vec<Placement>), AssignError> {
        let Some(ix) = self.by_id.remove(conversation_id) else {
            return Ok((None, Vec::new()));
        };
        let Some(entry) = self.take_entry(ix) else {
            return Ok((None, Vec::new()));
        };
        self.free.push(ix);
        let team = self.teams[entry.team].id.clone();
        let mut placements = Vec::new();
        let held = match entry.status {
            Status::Queued => {
                self.teams[entry.team].queue.remove(&entry.key);
                Held::Queued { team }
            }
            Status::Offered(agent) => {
                self.unload(agent);
                self.drain(agent, None, &mut placements);
                Held::Offered {
                    team,
                    agent: self.agents[agent].id.clone(),
                }
            }
            Status::Assigned(agent) => {
                self.unload(agent);
                self.drain(agent, None, &mut placements);
                Held::Assigned {
                    team,
                    agent: self.agents[agent].id.clone(),
                }
            }
        };
        Ok((Some(held), placements))
    }

    /// The agent takes a conversation offered to it: it becomes assigned (load unchanged).
    pub fn accept(
        &mut self,
        agent: &AgentId,
        conversation_id: &str,
    ) -> Result<Placement, AssignError> {
        let agent = self.agent_ix(agent)?;
        let ix = self.offered_ix(agent, conversation_id)?;
        let Some(entry) = self.entries.get_mut(ix).and_then(Option::as_mut) else {
            return Err(AssignError::NotOffered(conversation_id.to_owned()));
        };
        entry.status = Status::Assigned(agent);
        Ok(Placement::Assigned {
            conversation: entry.ticket.conversation.clone(),
            team: entry.ticket.team.clone(),
            agent: self.agents[agent].id.clone(),
        })
    }

    /// The agent rejects an offer (or it timed out): the ticket goes back to its place in its
    /// team's queue, never to be offered to this agent again while in this team, and the
    /// ticket's team and the agent's teams drain. If the ticket is still waiting afterwards, the
    /// last placement is its `Queued` position.
    pub fn decline(
        &mut self,
        agent: &AgentId,
        conversation_id: &str,
    ) -> Result<Vec<Placement>, AssignError> {
        let agent = self.agent_ix(agent)?;
        let ix = self.offered_ix(agent, conversation_id)?;
        Ok(self.back_to_queue(ix, agent, true))
    }

    /// Take entry `ix` off `agent` (marking that the agent declined it, if `declined`), put it
    /// back in its team's queue with its key, and drain its team and the agent's teams; if it
    /// still waits, its `Queued` placement comes last.
    fn back_to_queue(&mut self, ix: usize, agent: usize, declined: bool) -> Vec<Placement> {
        let Some(mut entry) = self.take_entry(ix) else {
            return Vec::new();
        };
        self.unload(agent);
        if declined {
            entry.declined.push(agent);
        }
        entry.status = Status::Queued;
        let (team, key) = (entry.team, entry.key);
        self.teams[team].queue.insert(key, ix);
        self.entries[ix] = Some(entry);

        let mut placements = Vec::new();
        self.drain(agent, Some(team), &mut placements);
        if self.teams[team].queue.contains_key(&key)
            && let Some(entry) = self.entries.get(ix).and_then(Option::as_ref)
        {
            placements.push(self.queued_placement(entry));
        }
        placements
    }

    /// If the conversation is queued, move it to team `to` (keeping priority and arrival,
    /// forgetting who declined it) and place it there. `None` if it is not queued; `QueueFull`
    /// leaves it where it was.
    pub fn overflow(
        &mut self,
        conversation_id: &str,
        to: &TeamId,
    ) -> Result<Option<Placement>, AssignError> {
        let to = self.team_ix(to)?;
        let Some(&ix) = self.by_id.get(conversation_id) else {
            return Ok(None);
        };
        if !matches!(
            self.entry(ix).map(|entry| entry.status),
            Some(Status::Queued)
        ) {
            return Ok(None);
        }
        let Some(mut entry) = self.take_entry(ix) else {
            return Ok(None);
        };
        let from = entry.team;
        self.teams[from].queue.remove(&entry.key);
        let pick = self.pick(to, entry.preferred, &[]);
        if pick.is_none() && self.teams[to].queue.len() >= self.teams[to].max_queue {
            self.teams[from].queue.insert(entry.key, ix);
            self.entries[ix] = Some(entry);
            return Err(AssignError::QueueFull(self.teams[to].id.clone()));
        }
        entry.team = to;
        entry.ticket.team = self.teams[to].id.clone();
        entry.declined.clear();
        entry.declined_away.clear();
        let placement = match pick {
            Some(pick) => {
                let offer = self.teams[to].offers;
                self.commit(&mut entry, pick, offer)
            }
            None => {
                self.teams[to].queue.insert(entry.key, ix);
                self.queued_placement(&entry)
            }
        };
        self.entries[ix] = Some(entry);
        Ok(Some(placement))
    }

    /// Where a conversation is now.
    pub fn held(&self, conversation_id: &str) -> Result<Option<Held>, AssignError> {
        let Some(entry) = self.entry_by_id(conversation_id) else {
            return Ok(None);
        };
        let team = self.teams[entry.team].id.clone();
        Ok(Some(match entry.status {
            Status::Queued => Held::Queued { team },
            Status::Offered(agent) => Held::Offered {
                team,
                agent: self.agents[agent].id.clone(),
            },
            Status::Assigned(agent) => Held::Assigned {
                team,
                agent: self.agents[agent].id.clone(),
            },
        }))
    }

    /// Every conversation the board holds (assigned, offered or queued), by id.
    pub fn holdings(&self) -> Vec<(ConversationRef, Held)> {
        let mut all: Vec<(ConversationRef, Held)> = self
            .by_id
            .keys()
            .filter_map(|id| {
                let entry = self.entry_by_id(id)?;
                let held = self.held(id).ok().flatten()?;
                Some((entry.ticket.conversation.clone(), held))
            })
            .collect();
        all.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        all
    }

    /// Queued position (1 = next) of a queued conversation.
    pub fn position(&self, conversation_id: &str) -> Result<Option<usize>, AssignError> {
        Ok(self
            .entry_by_id(conversation_id)
            .filter(|entry| entry.status == Status::Queued)
            .map(|entry| queue_position(&self.teams[entry.team].queue, &entry.key)))
    }

    /// Every team's queue and every agent, ordered by id: the configured ones, a retired team
    /// while its queue is not empty, a retired agent while it holds anything.
    pub fn snapshot(&self) -> Result<Snapshot, AssignError> {
        let mut assigned: Vec<Vec<String>> = vec![Vec::new(); self.agents.len()];
        let mut offered: Vec<Vec<String>> = vec![Vec::new(); self.agents.len()];
        for entry in self.entries.iter().flatten() {
            match entry.status {
                Status::Queued => {}
                Status::Offered(agent) => offered[agent].push(entry.ticket.conversation.id.clone()),
                Status::Assigned(agent) => {
                    assigned[agent].push(entry.ticket.conversation.id.clone())
                }
            }
        }
        let teams = self
            .teams
            .iter()
            .filter(|team| team.configured || !team.queue.is_empty())
            .map(|team| {
                let (queue_arrivals_ms, queue) = team
                    .queue
                    .iter()
                    .filter_map(|(key, &ix)| {
                        let entry = self.entry(ix)?;
                        Some((key.arrival_ms, entry.ticket.conversation.id.clone()))
                    })
                    .unzip();
                TeamView {
                    team: team.id.clone(),
                    strategy: team.strategy,
                    queue,
                    queue_arrivals_ms,
                    oldest_arrival_ms: team.queue.keys().map(|key| key.arrival_ms).min(),
                }
            })
            .collect();
        let agents = self
            .agents
            .iter()
            .zip(&self.states)
            .zip(assigned.into_iter().zip(offered))
            .filter(|((agent, state), _)| agent.configured || state.load > 0)
            .map(|((agent, state), (mut assigned, mut offered))| {
                assigned.sort_unstable();
                offered.sort_unstable();
                AgentView {
                    agent: agent.id.clone(),
                    presence: state.presence,
                    presence_since_ms: agent.presence_since,
                    teams: agent
                        .teams
                        .iter()
                        .map(|&team| self.teams[team].id.clone())
                        .collect(),
                    capacity: state.capacity,
                    load: state.load,
                    assigned,
                    offered,
                }
            })
            .collect();
        Ok(Snapshot { teams, agents })
    }

    /// Forget everything and rebuild: every agent offline, `assigned` counted in their agents'
    /// loads (even above capacity), `waiting` queued in queue order (whatever `max_queue`).
    /// Duplicates and unknown teams or agents are skipped with a warning.
    pub fn restore(
        &mut self,
        assigned: Vec<(Ticket, AgentId)>,
        waiting: Vec<Ticket>,
    ) -> Result<(), AssignError> {
        self.reset();
        for (ticket, agent_id) in assigned {
            let id = &ticket.conversation.id;
            if self.by_id.contains_key(id) {
                tracing::warn!(conversation = %id, "restore: duplicate conversation skipped");
                continue;
            }
            let Ok(agent) = self.agent_ix(&agent_id) else {
                tracing::warn!(
                    conversation = %id, agent = %agent_id,
                    "restore: unknown agent, assignment skipped"
                );
                continue;
            };
            let Ok(team) = self.team_ix(&ticket.team) else {
                tracing::warn!(
                    conversation = %id, team = %ticket.team,
                    "restore: unknown team, assignment skipped"
                );
                continue;
            };
            let preferred = self.preferred_ix(&ticket);
            let ix = self.vacant_slot();
            let mut entry = self.new_entry(ticket, team, preferred);
            entry.status = Status::Assigned(agent);
            self.update_agent(agent, |state| state.load = state.load.saturating_add(1));
            self.store_new(ix, entry);
        }
        for ticket in waiting {
            let id = &ticket.conversation.id;
            if self.by_id.contains_key(id) {
                tracing::warn!(conversation = %id, "restore: duplicate conversation skipped");
                continue;
            }
            let Ok(team) = self.team_ix(&ticket.team) else {
                tracing::warn!(
                    conversation = %id, team = %ticket.team,
                    "restore: unknown team, waiting conversation skipped"
                );
                continue;
            };
            let preferred = self.preferred_ix(&ticket);
            let ix = self.vacant_slot();
            let entry = self.new_entry(ticket, team, preferred);
            self.teams[team].queue.insert(entry.key, ix);
            self.store_new(ix, entry);
        }
        Ok(())
    }

    // ---- configuration ----

    /// Replace the teams and agents with normalized `teams` and `agents`, keeping the live
    /// state (see the [module documentation](self)). Returns the configured teams whose eligible
    /// agents may have grown, ascending.
    fn apply(&mut self, teams: Vec<TeamSpec>, agents: Vec<AgentSpec>) -> Vec<usize> {
        let (team_specs, agent_specs) = normalize(teams, agents);
        let mut old_teams = std::mem::take(&mut self.teams);
        let old_agents = std::mem::take(&mut self.agents);
        let old_states = std::mem::take(&mut self.states);
        let old_team_index = std::mem::take(&mut self.team_index);
        let old_agent_index = std::mem::take(&mut self.agent_index);

        // What refers to the teams and agents now.
        let mut team_used = vec![false; old_teams.len()];
        let mut agent_holds = vec![false; old_agents.len()];
        for entry in self.entries.iter().flatten() {
            team_used[entry.team] = true;
            if let Status::Offered(agent) | Status::Assigned(agent) = entry.status {
                agent_holds[agent] = true;
            }
        }
        let before: HashMap<TeamId, TeamBefore> = old_teams
            .iter()
            .map(|team| {
                let id_of = |agent: usize| old_agents[agent].id.clone();
                let before = TeamBefore {
                    configured: team.configured,
                    strategy: team.strategy,
                    cursor_agent: team
                        .cursor
                        .and_then(|position| team.members.get(position))
                        .map(|&agent| id_of(agent)),
                    members: team.members.iter().map(|&agent| id_of(agent)).collect(),
                };
                (team.id.clone(), before)
            })
            .collect();

        // Teams: the configured ones, then the retired ones a conversation still refers to.
        let mut teams: Vec<(Team, Option<usize>)> = Vec::with_capacity(team_specs.len());
        for spec in team_specs {
            let old = old_team_index.get(&spec.id).copied();
            let queue = old
                .map(|ix| std::mem::take(&mut old_teams[ix].queue))
                .unwrap_or_default();
            teams.push((
                Team {
                    id: spec.id,
                    configured: true,
                    strategy: spec.strategy,
                    offers: spec.offers,
                    max_queue: spec.max_queue,
                    members: Vec::new(),
                    cursor: None,
                    queue,
                    available: 0,
                },
                old,
            ));
        }
        let configured_teams = teams.len();
        for (ix, team) in old_teams.iter_mut().enumerate() {
            let kept = teams[..configured_teams]
                .binary_search_by(|(new, _)| new.id.cmp(&team.id))
                .is_ok();
            if team_used[ix] && !kept {
                teams.push((
                    Team {
                        id: team.id.clone(),
                        configured: false,
                        strategy: team.strategy,
                        offers: team.offers,
                        max_queue: team.max_queue,
                        members: Vec::new(),
                        cursor: None,
                        queue: std::mem::take(&mut team.queue),
                        available: 0,
                    },
                    Some(ix),
                ));
            }
        }
        teams.sort_by(|a, b| a.0.id.cmp(&b.0.id));

        // Agents: the configured ones, then the retired ones still holding something.
        let mut agents: Vec<(Agent, AgentState, Option<usize>, Vec<TeamId>)> =
            Vec::with_capacity(agent_specs.len());
        for spec in agent_specs {
            let old = old_agent_index.get(&spec.id).copied();
            let state = match old {
                Some(ix) => AgentState {
                    capacity: spec.capacity,
                    ..old_states[ix]
                },
                None => AgentState {
                    presence: Presence::Offline,
                    capacity: spec.capacity,
                    load: 0,
                    last_assigned: 0,
                },
            };
            agents.push((
                Agent {
                    id: spec.id,
                    configured: true,
                    teams: Vec::new(),
                    lease_until: old.and_then(|ix| old_agents[ix].lease_until),
                    presence_since: old.and_then(|ix| old_agents[ix].presence_since),
                },
                state,
                old,
                spec.teams,
            ));
        }
        let configured_agents = agents.len();
        for (ix, agent) in old_agents.iter().enumerate() {
            let kept = agents[..configured_agents]
                .binary_search_by(|(new, ..)| new.id.cmp(&agent.id))
                .is_ok();
            if agent_holds[ix] && !kept {
                agents.push((
                    Agent {
                        id: agent.id.clone(),
                        configured: false,
                        teams: Vec::new(),
                        lease_until: None,
                        presence_since: None,
                    },
                    AgentState {
                        presence: Presence::Offline,
                        ..old_states[ix]
                    },
                    Some(ix),
                    Vec::new(),
                ));
            }
        }
        agents.sort_by(|a, b| a.0.id.cmp(&b.0.id));

        // The new board's teams and agents, and where the old indexes went.
        let mut team_moved: Vec<Option<usize>> = vec![None; old_teams.len()];
        for (ix, (team, old)) in teams.into_iter().enumerate() {
            if let Some(old) = old {
                team_moved[old] = Some(ix);
            }
            self.team_index.insert(team.id.clone(), ix);
            self.teams.push(team);
        }
        let mut agent_moved: Vec<Option<usize>> = vec![None; old_agents.len()];
        for (ix, (mut agent, state, old, teams)) in agents.into_iter().enumerate() {
            if let Some(old) = old {
                agent_moved[old] = Some(ix);
            }
            // Normalized: known teams only, ascending by id, which is ascending by index.
            agent.teams = teams
                .iter()
                .filter_map(|team| self.team_index.get(team).copied())
                .collect();
            for &team in &agent.teams {
                self.teams[team].members.push(ix);
            }
            self.agent_index.insert(agent.id.clone(), ix);
            self.agents.push(agent);
            self.states.push(state);
        }

        // Round-robin turns, and which teams may have more eligible agents than before.
        let mut grown = Vec::new();
        for ix in 0..self.teams.len() {
            let team = &self.teams[ix];
            if !team.configured {
                continue;
            }
            let was = before.get(&team.id).filter(|before| before.configured);
            let member_ids = || team.members.iter().map(|&agent| &self.agents[agent].id);
            let cursor = was
                .and_then(|before| before.cursor_agent.as_ref())
                .and_then(|last| member_ids().filter(|id| *id <= last).count().checked_sub(1));
            let grew = match was {
                None => !team.members.is_empty(),
                Some(before) => {
                    before.strategy != team.strategy
                        || team.members.iter().any(|&agent| {
                            let id = &self.agents[agent].id;
                            let raised = old_agent_index.get(id).is_some_and(|&old| {
                                old_agents[old].configured
                                    && old_states[old].capacity < self.states[agent].capacity
                            });
                            raised || before.members.binary_search(id).is_err()
                        })
                }
            };
            if grew {
                grown.push(ix);
            }
            self.teams[ix].cursor = cursor;
        }

        // Placed conversations follow their teams and agents. Every team and agent an entry
        // refers to was kept above (`team_used`, `agent_holds`), so the error branches below
        // cannot be taken; they log rather than panic.
        for entry in self.entries.iter_mut().flatten() {
            let Some(team) = team_moved[entry.team] else {
                tracing::error!(conversation = %entry.ticket.conversation.id,
                    "assignment board: a conversation's team vanished");
                continue;
            };
            entry.team = team;
            entry.status = match entry.status {
                Status::Queued => Status::Queued,
                Status::Offered(agent) => {
                    Status::Offered(agent_moved[agent].unwrap_or_else(|| {
                        tracing::error!("assignment board: an agent holding an offer vanished");
                        agent
                    }))
                }
                Status::Assigned(agent) => {
                    Status::Assigned(agent_moved[agent].unwrap_or_else(|| {
                        tracing::error!(
                            "assignment board: an agent holding a conversation vanished"
                        );
                        agent
                    }))
                }
            };
            entry.preferred = entry
                .preferred_id
                .as_ref()
                .and_then(|id| self.agent_index.get(id).copied());
            let mut declined: Vec<AgentId> = entry
                .declined
                .iter()
                .map(|&agent| old_agents[agent].id.clone())
                .collect();
            declined.append(&mut entry.declined_away);
            entry.declined.clear();
            for id in declined {
                match self.agent_index.get(&id) {
                    Some(&agent) => entry.declined.push(agent),
                    None => entry.declined_away.push(id),
                }
            }
        }
        for team in &mut self.teams {
            team.available = team
                .members
                .iter()
                .filter(|&&agent| self.states[agent].online_with_room())
                .count();
        }
        grown
    }

    // ---- decisions ----

    /// The agent a ticket of `team` goes to now, if any: the preferred agent if eligible, else
    /// the team's strategy. Never mutates.
    fn pick(&self, team: usize, preferred: Option<usize>, declined: &[usize]) -> Option<Pick> {
        let team_ref = &self.teams[team];
        if team_ref.available == 0 {
            return None;
        }
        let eligible =
            |agent: usize| self.states[agent].online_with_room() && !declined.contains(&agent);
        if let Some(agent) = preferred
            && eligible(agent)
            && self.agents[agent].teams.binary_search(&team).is_ok()
        {
            return Some(Pick {
                agent,
                cursor: None,
            });
        }
        let members = &team_ref.members;
        match team_ref.strategy {
            Strategy::RoundRobin => {
                let start = team_ref
                    .cursor
                    .map_or(0, |cursor| cursor + 1)
                    .min(members.len());
                (start..members.len())
                    .chain(0..start)
                    .find(|&position| eligible(members[position]))
                    .map(|position| Pick {
                        agent: members[position],
                        cursor: Some(position),
                    })
            }
            Strategy::LeastBusy => {
                // Members are in id order, so a strict comparison keeps the lowest id on ties.
                let mut best: Option<(u32, u64, usize)> = None;
                for &agent in members {
                    if !eligible(agent) {
                        continue;
                    }
                    let state = &self.states[agent];
                    let rank = (state.load, state.last_assigned);
                    if best.is_none_or(|(load, last, _)| rank < (load, last)) {
                        best = Some((rank.0, rank.1, agent));
                    }
                }
                best.map(|(_, _, agent)| Pick {
                    agent,
                    cursor: None,
                })
            }
        }
    }

    /// Give `entry` to the picked agent (offer or assign), count it in the agent's load and move
    /// the team's round-robin cursor.
    fn commit(&mut self, entry: &mut Entry, pick: Pick, offer: bool) -> Placement {
        self.ticks += 1;
        let tick = self.ticks;
        self.update_agent(pick.agent, |state| {
            state.load = state.load.saturating_add(1);
            state.last_assigned = tick;
        });
        if let Some(cursor) = pick.cursor {
            self.teams[entry.team].cursor = Some(cursor);
        }
        let conversation = entry.ticket.conversation.clone();
        let team = entry.ticket.team.clone();
        let agent = self.agents[pick.agent].id.clone();
        if offer {
            entry.status = Status::Offered(pick.agent);
            Placement::Offered {
                conversation,
                team,
                agent,
            }
        } else {
            entry.status = Status::Assigned(pick.agent);
            Placement::Assigned {
                conversation,
                team,
                agent,
            }
        }
    }

    /// Serve queued tickets of `agent`'s teams (and `extra_team`) for as long as someone
    /// eligible can take one, best ticket first.
    fn drain(&mut self, agent: usize, extra_team: Option<usize>, out: &mut Vec<Placement>) {
        while let Some(found) =
            self.next_servable(self.agents[agent].teams.iter().copied().chain(extra_team))
        {
            self.serve(found, out);
        }
    }

    /// Serve queued tickets of `teams` for as long as someone eligible can take one, best
    /// ticket across them first.
    fn drain_teams(&mut self, teams: &[usize], out: &mut Vec<Placement>) {
        while let Some(found) = self.next_servable(teams.iter().copied()) {
            self.serve(found, out);
        }
    }

    /// Give a servable ticket found by [`Board::next_servable`] to its agent.
    fn serve(
        &mut self,
        (team, key, ix, pick): (usize, QueueKey, usize, Pick),
        out: &mut Vec<Placement>,
    ) {
        self.teams[team].queue.remove(&key);
        let Some(mut entry) = self.take_entry(ix) else {
            return;
        };
        let offer = self.teams[team].offers;
        out.push(self.commit(&mut entry, pick, offer));
        self.entries[ix] = Some(entry);
    }

    /// The best queued ticket across the given teams that has an eligible agent, with its team,
    /// queue key, entry index and agent.
    fn next_servable(
        &self,
        teams: impl Iterator<Item = usize>,
    ) -> Option<(usize, QueueKey, usize, Pick)> {
        let mut best: Option<(usize, QueueKey, usize, Pick)> = None;
        for team in teams {
            if self.teams[team].available == 0 {
                continue;
            }
            for (key, &ix) in &self.teams[team].queue {
                if best.is_some_and(|(_, best_key, _, _)| best_key <= *key) {
                    break;
                }
                let Some(entry) = self.entry(ix) else {
                    continue;
                };
                if let Some(pick) = self.pick(team, entry.preferred, &entry.declined) {
                    best = Some((team, *key, ix, pick));
                    break;
                }
            }
        }
        best
    }

    // ---- bookkeeping ----

    /// Change an agent's state, keeping its teams' `available` counts right.
    fn update_agent(&mut self, agent: usize, change: impl FnOnce(&mut AgentState)) {
        let state = &mut self.states[agent];
        let before = state.online_with_room();
        change(state);
        let after = state.online_with_room();
        if before != after {
            for &team in &self.agents[agent].teams {
                let available = &mut self.teams[team].available;
                *available = if after {
                    *available + 1
                } else {
                    available.saturating_sub(1)
                };
            }
        }
    }

    fn unload(&mut self, agent: usize) {
        self.update_agent(agent, |state| state.load = state.load.saturating_sub(1));
    }

    /// Everything back to nothing placed and every agent offline.
    fn reset(&mut self) {
        self.entries.clear();
        self.free.clear();
        self.by_id.clear();
        for team in &mut self.teams {
            team.queue.clear();
            team.cursor = None;
            team.available = 0;
        }
        for state in &mut self.states {
            state.presence = Presence::Offline;
            state.load = 0;
            state.last_assigned = 0;
        }
        for agent in &mut self.agents {
            agent.lease_until = None;
            agent.presence_since = None;
        }
    }

    fn ensure_unplaced(&self, ticket: &Ticket) -> Result<(), AssignError> {
        if self.by_id.contains_key(&ticket.conversation.id) {
            return Err(AssignError::AlreadyPlaced(ticket.conversation.id.clone()));
        }
        Ok(())
    }

    /// A configured team's index (a retired one is unknown).
    fn team_ix(&self, team: &TeamId) -> Result<usize, AssignError> {
        self.team_index
            .get(team)
            .copied()
            .filter(|&ix| self.teams[ix].configured)
            .ok_or_else(|| AssignError::UnknownTeam(team.clone()))
    }

    /// A configured agent's index (a retired one is unknown).
    fn agent_ix(&self, agent: &AgentId) -> Result<usize, AssignError> {
        self.agent_index
            .get(agent)
            .copied()
            .filter(|&ix| self.agents[ix].configured)
            .ok_or_else(|| AssignError::UnknownAgent(agent.clone()))
    }

    /// The ticket's preferred agent, if it is a configured one.
    fn preferred_ix(&self, ticket: &Ticket) -> Option<usize> {
        ticket
            .preferred_agent
            .as_ref()
            .and_then(|agent| self.agent_ix(agent).ok())
    }

    /// The entry index of a conversation offered to `agent`, else `NotOffered`.
    fn offered_ix(&self, agent: usize, conversation_id: &str) -> Result<usize, AssignError> {
        self.by_id
            .get(conversation_id)
            .copied()
            .filter(|&ix| {
                self.entry(ix)
                    .is_some_and(|entry| entry.status == Status::Offered(agent))
            })
            .ok_or_else(|| AssignError::NotOffered(conversation_id.to_owned()))
    }

    fn entry(&self, ix: usize) -> Option<&Entry> {
        self.entries.get(ix).and_then(Option::as_ref)
    }

    fn entry_by_id(&self, conversation_id: &str) -> Option<&Entry> {
        self.by_id
            .get(conversation_id)
            .and_then(|&ix| self.entry(ix))
    }

    /// Take an entry out of its slot to work on it; the caller puts it back.
    fn take_entry(&mut self, ix: usize) -> Option<Entry> {
        let entry = self.entries.get_mut(ix).and_then(Option::take);
        if entry.is_none() {
            tracing::error!(entry = ix, "assignment board: missing entry");
        }
        entry
    }

    fn vacant_slot(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.entries.push(None);
            self.entries.len() - 1
        })
    }

    /// A fresh, queued, entry with the next placing sequence.
    fn new_entry(&mut self, ticket: Ticket, team: usize, preferred: Option<usize>) -> Entry {
        self.next_seq += 1;
        Entry {
            key: QueueKey {
                priority: Reverse(ticket.priority),
                arrival_ms: ticket.arrival_ms,
                seq: self.next_seq,
            },
            ticket: Ticket {
                team: self.teams[team].id.clone(),
                ..ticket
            },
            team,
            preferred_id: preferred.map(|agent| self.agents[agent].id.clone()),
            preferred,
            status: Status::Queued,
            declined: Vec::new(),
            declined_away: Vec::new(),
        }
    }

    fn store_new(&mut self, ix: usize, entry: Entry) {
        self.by_id.insert(entry.ticket.conversation.id.clone(), ix);
        self.entries[ix] = Some(entry);
    }

    fn queued_placement(&self, entry: &Entry) -> Placement {
        Placement::Queued {
            conversation: entry.ticket.conversation.clone(),
            team: entry.ticket.team.clone(),
            position: queue_position(&self.teams[entry.team].queue, &entry.key),
        }
    }

    /// Check the board's internal bookkeeping (tests only).
    #[cfg(test)]
    pub(crate) fn audit(&self) -> Result<(), String> {
        let mut loads = vec![0u32; self.agents.len()];
        let mut live = 0;
        for (ix, entry) in self.entries.iter().enumerate() {
            let Some(entry) = entry else { continue };
            live += 1;
            let id = &entry.ticket.conversation.id;
            if self.by_id.get(id) != Some(&ix) {
                return Err(format!("{id}: not indexed at {ix}"));
            }
            if entry.ticket.team != self.teams[entry.team].id {
                return Err(format!("{id}: ticket team differs from its team"));
            }
            let queued = self.teams[entry.team].queue.get(&entry.key) == Some(&ix);
            match entry.status {
                Status::Queued if !queued => return Err(format!("{id}: queued but not in queue")),
                Status::Offered(agent) | Status::Assigned(agent) => {
                    if queued {
                        return Err(format!("{id}: with an agent and in the queue"));
                    }
                    loads[agent] += 1;
                }
                Status::Queued => {}
            }
        }
        if live != self.by_id.len() {
            return Err(format!("{live} entries, {} indexed", self.by_id.len()));
        }
        if self.free.len() + live != self.entries.len() {
            return Err("free list out of step".to_owned());
        }
        let queued: usize = self.teams.iter().map(|team| team.queue.len()).sum();
        let queued_entries = self
            .entries
            .iter()
            .flatten()
            .filter(|entry| entry.status == Status::Queued)
            .count();
        if queued != queued_entries {
            return Err(format!(
                "{queued} queued keys, {queued_entries} queued entries"
            ));
        }
        for (agent, state) in self.states.iter().enumerate() {
            if state.load != loads[agent] {
                return Err(format!(
                    "{}: load {} but holds {}",
                    self.agents[agent].id, state.load, loads[agent]
                ));
            }
        }
        for team in &self.teams {
            let available = team
                .members
                .iter()
                .filter(|&&agent| self.states[agent].online_with_room())
                .count();
            if available != team.available {
                return Err(format!(
                    "{}: available {} counted {}",
                    team.id, available, team.available
                ));
            }
        }
        self.audit_configuration()
    }

    /// The teams, agents, memberships and the references to them (tests only).
    #[cfg(test)]
    fn audit_configuration(&self) -> Result<(), String> {
        if !self.teams.windows(2).all(|pair| pair[0].id < pair[1].id) {
            return Err("teams not strictly ascending by id".to_owned());
        }
        if !self.agents.windows(2).all(|pair| pair[0].id < pair[1].id) {
            return Err("agents not strictly ascending by id".to_owned());
        }
        if self.team_index.len() != self.teams.len()
            || self
                .teams
                .iter()
                .enumerate()
                .any(|(ix, team)| self.team_index.get(&team.id) != Some(&ix))
        {
            return Err("team index out of step".to_owned());
        }
        if self.agent_index.len() != self.agents.len()
            || self
                .agents
                .iter()
                .enumerate()
                .any(|(ix, agent)| self.agent_index.get(&agent.id) != Some(&ix))
        {
            return Err("agent index out of step".to_owned());
        }
        for (ix, agent) in self.agents.iter().enumerate() {
            if !agent.teams.windows(2).all(|pair| pair[0] < pair[1]) {
                return Err(format!("{}: teams not ascending", agent.id));
            }
            for &team in &agent.teams {
                let team = &self.teams[team];
                if !team.configured || team.members.binary_search(&ix).is_err() {
                    return Err(format!("{}: in {} but not its member", agent.id, team.id));
                }
            }
            if !agent.configured
                && (!agent.teams.is_empty()
                    || self.states[ix].presence != Presence::Offline
                    || agent.lease_until.is_some())
            {
                return Err(format!(
                    "{}: retired but in a team or not offline",
                    agent.id
                ));
            }
            if self.states[ix].presence == Presence::Offline && agent.lease_until.is_some() {
                return Err(format!("{}: offline with a lease", agent.id));
            }
        }
        for (ix, team) in self.teams.iter().enumerate() {
            if !team.members.windows(2).all(|pair| pair[0] < pair[1]) {
                return Err(format!("{}: members not ascending", team.id));
            }
            for &agent in &team.members {
                if self.agents[agent].teams.binary_search(&ix).is_err() {
                    return Err(format!(
                        "{}: member {} not in it",
                        team.id, self.agents[agent].id
                    ));
                }
            }
            if team
                .cursor
                .is_some_and(|cursor| cursor >= team.members.len())
            {
                return Err(format!("{}: cursor past the members", team.id));
            }
            if !team.configured && (!team.members.is_empty() || team.cursor.is_some()) {
                return Err(format!("{}: retired with members or a cursor", team.id));
            }
        }
        for entry in self.entries.iter().flatten() {
            let id = &entry.ticket.conversation.id;
            let preferred = entry
                .preferred_id
                .as_ref()
                .and_then(|agent| self.agent_index.get(agent).copied());
            if preferred != entry.preferred {
                return Err(format!("{id}: preferred agent out of step"));
            }
            if entry
                .declined_away
                .iter()
                .any(|agent| self.agent_index.contains_key(agent))
            {
                return Err(format!("{id}: a decliner on the board counted away"));
            }
            if entry
                .declined
                .iter()
                .any(|&agent| agent >= self.agents.len())
            {
                return Err(format!("{id}: declined by no agent"));
            }
        }
        Ok(())
    }
}

/// The configured teams (a team offers when its `offer_timeout_seconds` is above 0) and agents,
/// as specs for a [`Board`] or any other implementation of the seam.
pub fn specs_from_settings(settings: &Settings) -> (Vec<TeamSpec>, Vec<AgentSpec>) {
    let teams = settings
        .teams
        .iter()
        .map(|(id, team)| TeamSpec {
            id: TeamId::new(id.clone()),
            strategy: team.strategy,
            offers: team.offer_timeout_seconds > 0,
            max_queue: team.max_queue,
        })
        .collect();
    let agents = settings
        .agents
        .iter()
        .map(|(id, agent)| AgentSpec {
            id: AgentId::new(id.clone()),
            teams: agent
                .teams
                .iter()
                .map(|team| TeamId::new(team.clone()))
                .collect(),
            capacity: agent.capacity,
        })
        .collect();
    (teams, agents)
}

/// The specs as every implementation of the seam reads them: teams ascending by id, agents
/// ascending by id (a duplicate id keeps its first spec), each agent's teams restricted to known
/// ones, ascending, without duplicates. Duplicates and unknown teams are logged as warnings.
pub fn normalize(teams: Vec<TeamSpec>, agents: Vec<AgentSpec>) -> (Vec<TeamSpec>, Vec<AgentSpec>) {
    let mut team_specs = teams;
    team_specs.sort_by(|a, b| a.id.cmp(&b.id));
    team_specs.dedup_by(|later, earlier| {
        let duplicate = later.id == earlier.id;
        if duplicate {
            tracing::warn!(team = %later.id, "duplicate team ignored");
        }
        duplicate
    });
    let mut agent_specs = agents;
    agent_specs.sort_by(|a, b| a.id.cmp(&b.id));
    agent_specs.dedup_by(|later, earlier| {
        let duplicate = later.id == earlier.id;
        if duplicate {
            tracing::warn!(agent = %later.id, "duplicate agent ignored");
        }
        duplicate
    });
    for spec in &mut agent_specs {
        let mut known: Vec<TeamId> = Vec::with_capacity(spec.teams.len());
        for team in &spec.teams {
            if team_specs
                .binary_search_by(|candidate| candidate.id.cmp(team))
                .is_ok()
            {
                known.push(team.clone());
            } else {
                tracing::warn!(agent = %spec.id, team = %team, "agent's unknown team ignored");
            }
        }
        known.sort();
        known.dedup();
        spec.teams = known;
    }
    (team_specs, agent_specs)
}

/// Position (1 = next) of `key` in `queue`, counted from whichever end is nearer.
fn queue_position(queue: &BTreeMap<QueueKey, usize>, key: &QueueKey) -> usize {
    let mut ahead = queue.range(..*key);
    let mut behind = queue.range((Bound::Excluded(*key), Bound::Unbounded));
    let mut steps = 0;
    loop {
        if ahead.next().is_none() {
            return steps + 1;
        }
        if behind.next().is_none() {
            return queue.len().saturating_sub(steps);
        }
        steps += 1;
    }
}
