//! Unit tests of the assignment board and its in-memory seam.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::board::{AgentSpec, Board, TeamSpec, normalize};
use super::memory::MemoryAssignments;
use super::{
    AssignError, Assignments, ConversationRef, Held, Placement, Snapshot, Strategy, Ticket,
};
use crate::domain::{AgentId, ChannelId, ConversationKey, Presence, TeamId};

// ---- helpers ----

pub(super) fn tid(id: &str) -> TeamId {
    TeamId::new(id)
}

pub(super) fn aid(id: &str) -> AgentId {
    AgentId::new(id)
}

pub(super) fn team(id: &str, strategy: Strategy) -> TeamSpec {
    TeamSpec {
        id: tid(id),
        strategy,
        offers: false,
        max_queue: 1_000,
    }
}

pub(super) fn offering(id: &str, strategy: Strategy) -> TeamSpec {
    TeamSpec {
        offers: true,
        ..team(id, strategy)
    }
}

pub(super) fn agent(id: &str, teams: &[&str], capacity: u32) -> AgentSpec {
    AgentSpec {
        id: aid(id),
        teams: teams.iter().map(|team| tid(team)).collect(),
        capacity,
    }
}

pub(super) fn conversation(id: &str) -> ConversationRef {
    ConversationRef {
        id: id.to_owned(),
        key: ConversationKey::from_stored(format!("wa:{id}")),
        channel: ChannelId::new("wa"),
    }
}

pub(super) fn ticket(id: &str, team: &str, priority: i32, arrival_ms: i64) -> Ticket {
    Ticket {
        conversation: conversation(id),
        team: tid(team),
        priority,
        arrival_ms,
        preferred_agent: None,
    }
}

pub(super) fn preferring(id: &str, team: &str, agent: &str) -> Ticket {
    Ticket {
        preferred_agent: Some(aid(agent)),
        ..ticket(id, team, 0, 0)
    }
}

pub(super) fn online(board: &mut Board, agents: &[&str]) {
    for agent in agents {
        let placements = board
            .set_presence(&aid(agent), Presence::Online, 0)
            .expect("known agent");
        assert!(placements.is_empty(), "nothing was queued: {placements:?}");
    }
}

/// The agent a placement went to (assigned or offered).
pub(super) fn agent_of(placement: &Placement) -> Option<&str> {
    match placement {
        Placement::Assigned { agent, .. } | Placement::Offered { agent, .. } => {
            Some(agent.as_str())
        }
        Placement::Queued { .. } => None,
    }
}

pub(super) fn assigned_to(placement: &Placement) -> &str {
    match placement {
        Placement::Assigned { agent, .. } => agent.as_str(),
        other => panic!("expected an assignment, got {other:?}"),
    }
}

pub(super) fn offered_to(placement: &Placement) -> &str {
    match placement {
        Placement::Offered { agent, .. } => agent.as_str(),
        other => panic!("expected an offer, got {other:?}"),
    }
}

pub(super) fn queued_at(placement: &Placement) -> usize {
    match placement {
        Placement::Queued { position, .. } => *position,
        other => panic!("expected a queued placement, got {other:?}"),
    }
}

/// (conversation id, agent) of each placement, in order; agent "-" for a queued one.
pub(super) fn summary(placements: &[Placement]) -> Vec<(String, String)> {
    placements
        .iter()
        .map(|placement| {
            (
                placement.conversation().id.clone(),
                agent_of(placement).unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

pub(super) fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(id, agent)| ((*id).to_owned(), (*agent).to_owned()))
        .collect()
}

pub(super) fn load(board: &Board, agent: &str) -> u32 {
    agent_view(&board.snapshot().expect("snapshot"), agent).load
}

pub(super) fn agent_view<'a>(snapshot: &'a Snapshot, agent: &str) -> &'a super::AgentView {
    snapshot
        .agents
        .iter()
        .find(|view| view.agent.as_str() == agent)
        .expect("agent in snapshot")
}

pub(super) fn queue(board: &Board, team: &str) -> Vec<String> {
    board
        .snapshot()
        .expect("snapshot")
        .teams
        .into_iter()
        .find(|view| view.team.as_str() == team)
        .expect("team in snapshot")
        .queue
}

/// Board bookkeeping plus the invariants visible from a snapshot. `declined` holds, per queued
/// conversation, the agents who declined it in its current team.
pub(super) fn check_invariants(
    snapshot: &Snapshot,
    declined: &HashMap<String, HashSet<AgentId>>,
    allow_overload: bool,
) {
    let mut seen = HashSet::new();
    for view in &snapshot.agents {
        assert_eq!(
            view.load as usize,
            view.assigned.len() + view.offered.len(),
            "{}: load is assigned + offered",
            view.agent
        );
        assert!(
            allow_overload || view.load <= view.capacity,
            "{}: load {} above capacity {}",
            view.agent,
            view.load,
            view.capacity
        );
        for id in view.assigned.iter().chain(&view.offered) {
            assert!(seen.insert(id.clone()), "{id} held twice");
        }
    }
    for team in &snapshot.teams {
        for id in &team.queue {
            assert!(seen.insert(id.clone()), "{id} held twice");
            let no_one = HashSet::new();
            let declined = declined.get(id).unwrap_or(&no_one);
            for view in &snapshot.agents {
                let eligible = view.presence == Presence::Online
                    && view.load < view.capacity
                    && view.teams.contains(&team.team)
                    && !declined.contains(&view.agent);
                assert!(
                    !eligible,
                    "{id} waits in {} while {} is online with room",
                    team.team, view.agent
                );
            }
        }
    }
}

/// A small, seeded, deterministic random source for the randomized tests.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(super) fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(super) fn percent(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub(super) fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }
}

/// A random change of a configuration, for the randomized tests: members join and leave teams,
/// capacities and team settings change, agents and teams of the pools come and go; now and then
/// a duplicate or an unknown team that normalization drops, and specs in another order.
pub(super) fn reconfigured(
    rng: &mut Rng,
    teams: &[TeamSpec],
    agents: &[AgentSpec],
    team_pool: &[String],
    agent_pool: &[String],
) -> (Vec<TeamSpec>, Vec<AgentSpec>) {
    let strategy = |rng: &mut Rng| {
        if rng.percent(50) {
            Strategy::RoundRobin
        } else {
            Strategy::LeastBusy
        }
    };
    let max_queue = |rng: &mut Rng| [0, 1, 2, 4, 8, 1_000][rng.below(6)];
    let mut new_teams = Vec::new();
    for name in team_pool {
        match teams.iter().find(|spec| spec.id.as_str() == name) {
            Some(_) if rng.percent(6) => {}
            Some(spec) => {
                let mut spec = spec.clone();
                if rng.percent(20) {
                    spec.strategy = strategy(rng);
                }
                if rng.percent(15) {
                    spec.offers = !spec.offers;
                }
                if rng.percent(15) {
                    spec.max_queue = max_queue(rng);
                }
                new_teams.push(spec);
            }
            None if rng.percent(40) => new_teams.push(TeamSpec {
                id: tid(name),
                strategy: strategy(rng),
                offers: rng.percent(40),
                max_queue: max_queue(rng),
            }),
            None => {}
        }
    }
    let some_teams = |rng: &mut Rng| -> Vec<TeamId> {
        team_pool
            .iter()
            .filter(|_| rng.percent(40))
            .map(|name| tid(name))
            .collect()
    };
    let mut new_agents = Vec::new();
    for name in agent_pool {
        match agents.iter().find(|spec| spec.id.as_str() == name) {
            Some(_) if rng.percent(8) => {}
            Some(spec) => {
                let mut spec = spec.clone();
                for _ in 0..2 {
                    if rng.percent(25) {
                        let team = tid(rng.choose(team_pool).expect("teams"));
                        match spec.teams.iter().position(|mine| *mine == team) {
                            Some(at) => {
                                spec.teams.remove(at);
                            }
                            None => spec.teams.push(team),
                        }
                    }
                }
                if rng.percent(20) {
                    spec.capacity = rng.below(5) as u32;
                }
                new_agents.push(spec);
            }
            None if rng.percent(35) => new_agents.push(AgentSpec {
                id: aid(name),
                teams: some_teams(rng),
                capacity: rng.below(5) as u32,
            }),
            None => {}
        }
    }
    if rng.percent(10)
        && let Some(first) = new_agents.first().cloned()
    {
        // A duplicate (ignored) and an unknown team (ignored).
        new_agents.push(AgentSpec {
            capacity: first.capacity + 1,
            ..first
        });
        if let Some(spec) = new_agents.last_mut() {
            spec.teams.push(tid("nowhere"));
        }
    }
    if rng.percent(30) {
        new_teams.reverse();
        new_agents.reverse();
    }
    (new_teams, new_agents)
}

// ---- construction ----

#[test]
fn new_board_has_everyone_offline_and_nothing_placed() {
    let board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("support", Strategy::LeastBusy),
        ],
        vec![
            agent("bob", &["support", "sales"], 3),
            agent("alice", &["sales"], 2),
        ],
    );
    let snapshot = board.snapshot().expect("snapshot");
    let teams: Vec<&str> = snapshot
        .teams
        .iter()
        .map(|view| view.team.as_str())
        .collect();
    assert_eq!(teams, ["sales", "support"]);
    assert!(snapshot.teams.iter().all(|view| view.queue.is_empty()));
    assert_eq!(snapshot.teams[1].strategy, Strategy::LeastBusy);
    let agents: Vec<&str> = snapshot
        .agents
        .iter()
        .map(|view| view.agent.as_str())
        .collect();
    assert_eq!(agents, ["alice", "bob"]);
    let bob = agent_view(&snapshot, "bob");
    assert_eq!(bob.presence, Presence::Offline);
    assert_eq!(bob.teams, [tid("sales"), tid("support")]);
    assert_eq!((bob.capacity, bob.load), (3, 0));
    board.audit().expect("consistent");
}

#[test]
fn duplicate_specs_and_unknown_teams_are_ignored() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("sales", Strategy::LeastBusy),
        ],
        vec![
            agent("alice", &["sales", "nowhere", "sales"], 1),
            agent("alice", &["sales"], 9),
        ],
    );
    let snapshot = board.snapshot().expect("snapshot");
    assert_eq!(snapshot.teams.len(), 1);
    assert_eq!(snapshot.teams[0].strategy, Strategy::RoundRobin);
    assert_eq!(snapshot.agents.len(), 1);
    assert_eq!(snapshot.agents[0].teams, [tid("sales")]);
    assert_eq!(snapshot.agents[0].capacity, 1);
    online(&mut board, &["alice"]);
    assert_eq!(
        assigned_to(&board.place(ticket("c1", "sales", 0, 1)).expect("placed")),
        "alice"
    );
    assert_eq!(
        queued_at(&board.place(ticket("c2", "sales", 0, 2)).expect("placed")),
        1
    );
    board.audit().expect("consistent");
}

#[test]
fn from_settings_reads_teams_and_agents() {
    use crate::config::{AgentSettings, Settings, TeamSettings};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings: Settings =
        Settings::load_from(&dir, "test", false).expect("the demo configuration loads");
    settings.teams = BTreeMap::new();
    settings.agents = BTreeMap::new();
    settings.teams.insert(
        "sales".to_owned(),
        TeamSettings {
            name: "Sales".to_owned(),
            description: None,
            strategy: Strategy::LeastBusy,
            offer_timeout_seconds: 30,
            overflow: None,
            max_queue: 1,
            private: false,
            mask_numbers: None,
            business_hours: None,
        },
    );
    settings.agents.insert(
        "alice".to_owned(),
        AgentSettings {
            name: "Alice".to_owned(),
            teams: vec!["sales".to_owned()],
            capacity: 1,
            token_sha256: None,
            email: None,
            role: crate::accounts::model::Role::Agent,
            password_argon2: None,
            supervises: Vec::new(),
            language: None,
            time_zone: None,
        },
    );
    let mut board = Board::from_settings(&settings);
    online(&mut board, &["alice"]);
    // Offers, since the offer timeout is above 0.
    assert_eq!(
        offered_to(&board.place(ticket("c1", "sales", 0, 1)).expect("placed")),
        "alice"
    );
    assert_eq!(
        queued_at(&board.place(ticket("c2", "sales", 0, 2)).expect("placed")),
        1
    );
    // max_queue 1.
    assert_eq!(
        board.place(ticket("c3", "sales", 0, 3)),
        Err(AssignError::QueueFull(tid("sales")))
    );
}

// ---- place ----

#[test]
fn place_assigns_to_an_online_agent_with_room() {
    let mut board = Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 2)],
    );
    online(&mut board, &["alice"]);
    let placement = board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    assert_eq!(
        placement,
        Placement::Assigned {
            conversation: conversation("c1"),
            team: tid("sales"),
            agent: aid("alice"),
        }
    );
    assert_eq!(
        board.held("c1").expect("held"),
        Some(Held::Assigned {
            team: tid("sales"),
            agent: aid("alice"),
        })
    );
    assert_eq!(board.position("c1").expect("position"), None);
    assert_eq!(load(&board, "alice"), 1);
    board.audit().expect("consistent");
}

#[test]
fn place_rejects_an_unknown_team_and_changes_nothing() {
    let mut board = Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 2)],
    );
    online(&mut board, &["alice"]);
    assert_eq!(
        board.place(ticket("c1", "nowhere", 0, 1)),
        Err(AssignError::UnknownTeam(tid("nowhere")))
    );
    assert_eq!(board.held("c1").expect("held"), None);
    assert_eq!(load(&board, "alice"), 0);
}

#[test]
fn place_rejects_a_conversation_already_assigned_offered_or_queued() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            offering("support", Strategy::RoundRobin),
        ],
        vec![agent("alice", &["sales"], 1), agent("bob", &["support"], 1)],
    );
    online(&mut board, &["alice", "bob"]);
    board
        .place(ticket("assigned", "sales", 0, 1))
        .expect("placed");
    board
        .place(ticket("offered", "support", 0, 2))
        .expect("placed");
    board
        .place(ticket("queued", "sales", 0, 3))
        .expect("placed");
    for id in ["assigned", "offered", "queued"] {
        for team in ["sales", "support"] {
            assert_eq!(
                board.place(ticket(id, team, 5, 0)),
                Err(AssignError::AlreadyPlaced(id.to_owned()))
            );
        }
    }
    assert_eq!(queue(&board, "sales"), ["queued"]);
    assert_eq!(queue(&board, "support"), Vec::<String>::new());
    board.audit().expect("consistent");
}

#[test]
fn place_queues_when_nobody_is_eligible_by_priority_then_arrival_then_order() {
    let mut board = Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1)],
    );
    assert_eq!(
        queued_at(&board.place(ticket("a", "sales", 0, 100)).expect("placed")),
        1
    );
    assert_eq!(
        queued_at(&board.place(ticket("b", "sales", 0, 200)).expect("placed")),
        2
    );
    // Higher priority goes first.
    assert_eq!(
        queued_at(&board.place(ticket("c", "sales", 5, 300)).expect("placed")),
        1
    );
    // Same priority, earlier arrival goes ahead.
    assert_eq!(
        queued_at(&board.place(ticket("d", "sales", 0, 150)).expect("placed")),
        3
    );
    // Same priority and arrival: placing order.
    assert_eq!(
        queued_at(&board.place(ticket("e", "sales", 0, 150)).expect("placed")),
        4
    );
    // Negative priorities go last.
    assert_eq!(
        queued_at(&board.place(ticket("f", "sales", -1, 0)).expect("placed")),
        6
    );
    assert_eq!(queue(&board, "sales"), ["c", "a", "d", "e", "b", "f"]);
    for (index, id) in ["c", "a", "d", "e", "b", "f"].iter().enumerate() {
        assert_eq!(board.position(id).expect("position"), Some(index + 1));
        assert_eq!(
            board.held(id).expect("held"),
            Some(Held::Queued { team: tid("sales") })
        );
    }
    let view = board.snapshot().expect("snapshot").teams.remove(0);
    assert_eq!(view.oldest_arrival_ms, Some(0));
    assert_eq!(board.position("unknown").expect("position"), None);
    board.audit().expect("consistent");
}

#[test]
fn a_full_queue_refuses_and_changes_nothing() {
    let mut board = Board::new(
        vec![TeamSpec {
            max_queue: 2,
            ..team("sales", Strategy::RoundRobin)
        }],
        vec![agent("alice", &["sales"], 1)],
    );
    board.place(ticket("a", "sales", 0, 1)).expect("placed");
    board.place(ticket("b", "sales", 0, 2)).expect("placed");
    assert_eq!(
        board.place(ticket("c", "sales", 9, 0)),
        Err(AssignError::QueueFull(tid("sales")))
    );
    assert_eq!(board.held("c").expect("held"), None);
    assert_eq!(queue(&board, "sales"), ["a", "b"]);
    // A full queue does not stop an assignment when someone is free.
    let placements = board
        .set_presence(&aid("alice"), Presence::Online, 0)
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("a", "alice")]));
    board.release("a").expect("released");
    assert_eq!(queue(&board, "sales"), Vec::<String>::new());
    board.place(ticket("c", "sales", 0, 3)).expect("placed");
    board.place(ticket("d", "sales", 0, 4)).expect("placed");
    assert_eq!(
        board.place(ticket("e", "sales", 0, 5)),
        Err(AssignError::QueueFull(tid("sales")))
    );
    board.audit().expect("consistent");
}

#[test]
fn a_zero_queue_refuses_everything_it_cannot_assign() {
    let mut board = Board::new(
        vec![TeamSpec {
            max_queue: 0,
            ..team("sales", Strategy::RoundRobin)
        }],
        vec![agent("alice", &["sales"], 1)],
    );
    assert_eq!(
        board.place(ticket("a", "sales", 0, 1)),
        Err(AssignError::QueueFull(tid("sales")))
    );
    online(&mut board, &["alice"]);
    assert_eq!(
        assigned_to(&board.place(ticket("a", "sales", 0, 1)).expect("placed")),
        "alice"
    );
}

// ---- round robin ----

#[test]
fn round_robin_takes_turns_in_agent_id_order() {
    let mut board = Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        vec![
            agent("carol", &["sales"], 10),
            agent("alice", &["sales"], 10),
            agent("bob", &["sales"], 10),
        ],
    );
    online(&mut board, &["alice", "bob", "carol"]);
    let agents: Vec<String> = (0..7)
        .map(|n| {
            let placement = board
                .place(ticket(&format!("c{n}"), "sales", 0, n))
                .expect("placed");
            assigned_to(&placement).to_owned()
        })
        .collect();
    assert_eq!(
        agents,
        ["alice", "bob", "carol", "alice", "bob", "carol", "alice"]
    );
}

#[test]
fn round_robin_skips_agents_who_are_away_or_full_and_resumes_after_the_last_one() {
    let mut board = Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        vec![
            agent("alice", &["sales"], 10),
            agent("bob", &["sales"], 1),
            agent("carol", &["sales"], 10),
            agent("dave", &["sales"], 10),
        ],
    );
    online(&mut board, &["alice", "bob", "carol", "dave"]);
    board
        .set_presence(&aid("carol"), Presence::Away, 0)
        .expect("away");
    let next = |board: &mut Board, n: i64| {
        assigned_to(
            &board
                .place(ticket(&format!("c{n}"), "sales", 0, n))
                .expect("placed"),
        )
        .to_owned()
    };
    assert_eq!(next(&mut board, 1), "alice");
    assert_eq!(next(&mut board, 2), "bob"); // bob is now full
    assert_eq!(next(&mut board, 3), "dave"); // carol away
    assert_eq!(next(&mut board, 4), "alice");
    assert_eq!(next(&mut board, 5), "dave"); // bob full, carol away
    online(&mut board, &["carol"]);
    assert_eq!(next(&mut board, 6), "alice");
    assert_eq!(next(&mut board, 7), "carol");
    assert_eq!(next(&mut board, 8), "dave");
}

#[test]
fn round_robin_spreads_evenly_over_many_placements_with_releases() {
    let names: Vec<String> = (0..7).map(|n| format!("agent{n}")).collect();
    let mut board = Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        names
            .iter()
            .map(|name| agent(name, &["sales"], 1_000))
            .collect(),
    );
    for name in &names {
        board
            .set_presence(&aid(name), Presence::Online, 0)
            .expect("online");
    }
    let mut rng = Rng::new(7);
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut live: Vec<String> = Vec::new();
    for n in 0..2_000 {
        let id = format!("c{n}");
        let placement = board.place(ticket(&id, "sales", 0, n)).expect("placed");
        *counts
            .entry(assigned_to(&placement).to_owned())
            .or_default() += 1;
        live.push(id);
        if rng.percent(60) {
            let id = live.swap_remove(rng.below(live.len()));
            let (held, placements) = board.release(&id).expect("released");
            assert!(matches!(held, Some(Held::Assigned { .. })));
            assert!(placements.is_empty());
        }
        let max = counts.values().max().copied().unwrap_or(0);
        let min = if counts.len() == names.len() {
            counts.values().min().copied().unwrap_or(0)
        } else {
            0
        };
        assert!(max - min <= 1, "uneven after {n}: {counts:?}");
    }
    board.audit().expect("consistent");
}

#[test]
fn round_robin_cursor_is_per_team() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("support", Strategy::RoundRobin),
        ],
        vec![
            agent("alice", &["sales", "support"], 10),
            agent("bob", &["sales", "support"], 10),
        ],
    );
    online(&mut board, &["alice", "bob"]);
    assert_eq!(
        assigned_to(&board.place(ticket("s1", "sales", 0, 1)).expect("placed")),
        "alice"
    );
    assert_eq!(
        assigned_to(&board.place(ticket("t1", "support", 0, 1)).expect("placed")),
        "alice"
    );
    assert_eq!(
        assigned_to(&board.place(ticket("s2", "sales", 0, 2)).expect("placed")),
        "bob"
    );
    assert_eq!(
        assigned_to(&board.place(ticket("t2", "support", 0, 2)).expect("placed")),
        "bob"
    );
}

// ---- least busy ----

#[test]
fn least_busy_picks_the_least_loaded_agent() {
    let mut board = Board::new(
        vec![
            team("support", Strategy::LeastBusy),
            team("sales", Strategy::RoundRobin),
        ],
        vec![
            agent("alice", &["support", "sales"], 10),
            agent("bob", &["support"], 10),
            agent("carol", &["support"], 10),
        ],
    );
    online(&mut board, &["alice", "bob", "carol"]);
    // Load from another team counts: alice has 2 sales conversations.
    board.place(ticket("s1", "sales", 0, 1)).expect("placed");
    board.place(ticket("s2", "sales", 0, 2)).expect("placed");
    assert_eq!(load(&board, "alice"), 2);
    let first = board.place(ticket("t1", "support", 0, 3)).expect("placed");
    let second = board.place(ticket("t2", "support", 0, 4)).expect("placed");
    assert_eq!(
        [assigned_to(&first), assigned_to(&second)],
        ["bob", "carol"]
    );
    // All at 2 now except... bob 1, carol 1, alice 2.
    let third = board.place(ticket("t3", "support", 0, 5)).expect("placed");
    assert_ne!(assigned_to(&third), "alice");
    // Free two of alice's: she becomes the least busy.
    board.release("s1").expect("released");
    board.release("s2").expect("released");
    let fourth = board.place(ticket("t4", "support", 0, 6)).expect("placed");
    assert_eq!(assigned_to(&fourth), "alice");
}

#[test]
fn least_busy_breaks_ties_by_never_assigned_then_longest_ago_then_id() {
    let mut board = Board::new(
        vec![team("support", Strategy::LeastBusy)],
        vec![
            agent("dave", &["support"], 10),
            agent("carol", &["support"], 10),
            agent("bob", &["support"], 10),
            agent("alice", &["support"], 10),
        ],
    );
    online(&mut board, &["alice", "bob", "carol", "dave"]);
    // All idle and never assigned: by id.
    let first = board.place(ticket("t1", "support", 0, 1)).expect("placed");
    assert_eq!(assigned_to(&first), "alice");
    board.release("t1").expect("released");
    // alice is idle again but was assigned; the never-assigned go first, by id.
    let agents: Vec<String> = (2..5)
        .map(|n| {
            let id = format!("t{n}");
            let placement = board.place(ticket(&id, "support", 0, n)).expect("placed");
            board.release(&id).expect("released");
            assigned_to(&placement).to_owned()
        })
        .collect();
    assert_eq!(agents, ["bob", "carol", "dave"]);
    // Now everyone idle, assigned longest ago first: alice, bob, carol, dave.
    let agents: Vec<String> = (5..9)
        .map(|n| {
            let id = format!("t{n}");
            let placement = board.place(ticket(&id, "support", 0, n)).expect("placed");
            board.release(&id).expect("released");
            assigned_to(&placement).to_owned()
        })
        .collect();
    assert_eq!(agents, ["alice", "bob", "carol", "dave"]);
}

#[test]
fn least_busy_ignores_agents_away_or_full() {
    let mut board = Board::new(
        vec![team("support", Strategy::LeastBusy)],
        vec![
            agent("alice", &["support"], 0),
            agent("bob", &["support"], 5),
            agent("carol", &["support"], 5),
        ],
    );
    online(&mut board, &["alice", "bob", "carol"]);
    board
        .set_presence(&aid("bob"), Presence::Away, 0)
        .expect("away");
    for n in 0..5 {
        let placement = board
            .place(ticket(&format!("t{n}"), "support", 0, n))
            .expect("placed");
        assert_eq!(assigned_to(&placement), "carol");
    }
    assert_eq!(
        queued_at(&board.place(ticket("t9", "support", 0, 9)).expect("placed")),
        1
    );
}

// ---- preferred agent ----

#[test]
fn the_preferred_agent_goes_first_whatever_the_strategy() {
    for strategy in [Strategy::RoundRobin, Strategy::LeastBusy] {
        let mut board = Board::new(
            vec![team("sales", strategy)],
            vec![
                agent("alice", &["sales"], 10),
                agent("bob", &["sales"], 10),
                agent("carol", &["sales"], 10),
            ],
        );
        online(&mut board, &["alice", "bob", "carol"]);
        board
            .place(preferring("p0", "sales", "carol"))
            .expect("placed");
        let placement = board
            .place(preferring("p1", "sales", "carol"))
            .expect("placed");
        assert_eq!(assigned_to(&placement), "carol", "{strategy:?}");
        assert_eq!(load(&board, "carol"), 2);
    }
}

#[test]
fn a_preferred_agent_does_not_move_the_round_robin_turn() {
    let mut board = Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        vec![
            agent("alice", &["sales"], 10),
            agent("bob", &["sales"], 10),
            agent("carol", &["sales"], 10),
        ],
    );
    online(&mut board, &["alice", "bob", "carol"]);
    assert_eq!(
        assigned_to(&board.place(ticket("c1", "sales", 0, 1)).expect("placed")),
        "alice"
    );
    assert_eq!(
        assigned_to(
            &board
                .place(preferring("c2", "sales", "carol"))
                .expect("placed")
        ),
        "carol"
    );
    assert_eq!(
        assigned_to(&board.place(ticket("c3", "sales", 0, 3)).expect("placed")),
        "bob"
    );
}

#[test]
fn an_ineligible_preferred_agent_falls_back_to_the_strategy() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("support", Strategy::RoundRobin),
        ],
        vec![
            agent("alice", &["sales"], 10),
            agent("bob", &["sales"], 1),
            agent("carol", &["sales"], 10),
            agent("dave", &["support"], 10),
        ],
    );
    online(&mut board, &["alice", "bob", "dave"]);
    // carol is offline.
    assert_eq!(
        assigned_to(
            &board
                .place(preferring("c1", "sales", "carol"))
                .expect("placed")
        ),
        "alice"
    );
    // bob will be full.
    assert_eq!(
        assigned_to(
            &board
                .place(preferring("c2", "sales", "bob"))
                .expect("placed")
        ),
        "bob"
    );
    assert_eq!(
        assigned_to(
            &board
                .place(preferring("c3", "sales", "bob"))
                .expect("placed")
        ),
        "alice"
    );
    // dave is not in sales.
    let placement = board
        .place(preferring("c4", "sales", "dave"))
        .expect("placed");
    assert_ne!(assigned_to(&placement), "dave");
    // An unknown agent is no error.
    board
        .place(preferring("c5", "sales", "zed"))
        .expect("placed");
}

// ---- capacity and presence ----

#[test]
fn an_agent_in_two_teams_never_exceeds_capacity() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("support", Strategy::LeastBusy),
        ],
        vec![agent("alice", &["sales", "support"], 3)],
    );
    online(&mut board, &["alice"]);
    let mut assigned = 0;
    for n in 0..10 {
        let team = if n % 2 == 0 { "sales" } else { "support" };
        let placement = board
            .place(ticket(&format!("c{n}"), team, 0, n))
            .expect("placed");
        if agent_of(&placement).is_some() {
            assigned += 1;
        }
        assert!(load(&board, "alice") <= 3);
    }
    assert_eq!(assigned, 3);
    assert_eq!(
        queue(&board, "sales").len() + queue(&board, "support").len(),
        7
    );
    board.audit().expect("consistent");
}

#[test]
fn away_and_offline_agents_get_nothing_new_but_keep_their_conversations() {
    for presence in [Presence::Away, Presence::Offline] {
        let mut board = Board::new(
            vec![team("sales", Strategy::RoundRobin)],
            vec![agent("alice", &["sales"], 5)],
        );
        online(&mut board, &["alice"]);
        board.place(ticket("c1", "sales", 0, 1)).expect("placed");
        let placements = board
            .set_presence(&aid("alice"), presence, 0)
            .expect("presence");
        assert!(placements.is_empty());
        assert_eq!(
            queued_at(&board.place(ticket("c2", "sales", 0, 2)).expect("placed")),
            1
        );
        let snapshot = board.snapshot().expect("snapshot");
        let alice = agent_view(&snapshot, "alice");
        assert_eq!(alice.presence, presence);
        assert_eq!(alice.assigned, ["c1"]);
        // Releasing does not hand the queue to an agent who is not online.
        let (held, placements) = board.release("c1").expect("released");
        assert!(matches!(held, Some(Held::Assigned { .. })));
        assert!(placements.is_empty());
        assert_eq!(queue(&board, "sales"), ["c2"]);
        // Nor does a direct transfer.
        assert_eq!(
            board.assign_to(&aid("alice"), ticket("c3", "sales", 0, 3)),
            Err(AssignError::AgentUnavailable(aid("alice")))
        );
        board.audit().expect("consistent");
    }
}

#[test]
fn coming_online_drains_by_priority_then_arrival() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("support", Strategy::RoundRobin),
        ],
        vec![agent("alice", &["sales", "support"], 4)],
    );
    board
        .place(ticket("s-late", "sales", 0, 300))
        .expect("placed");
    board
        .place(ticket("t-early", "support", 0, 100))
        .expect("placed");
    board
        .place(ticket("s-urgent", "sales", 2, 900))
        .expect("placed");
    board
        .place(ticket("t-mid", "support", 0, 200))
        .expect("placed");
    board
        .place(ticket("s-last", "sales", 0, 400))
        .expect("placed");
    let placements = board
        .set_presence(&aid("alice"), Presence::Online, 0)
        .expect("online");
    assert_eq!(
        summary(&placements),
        pairs(&[
            ("s-urgent", "alice"),
            ("t-early", "alice"),
            ("t-mid", "alice"),
            ("s-late", "alice"),
        ])
    );
    assert_eq!(queue(&board, "sales"), ["s-last"]);
    assert_eq!(board.position("s-last").expect("position"), Some(1));
    // Online again changes nothing; no room.
    assert!(
        board
            .set_presence(&aid("alice"), Presence::Online, 0)
            .expect("online")
            .is_empty()
    );
    board.audit().expect("consistent");
}

#[test]
fn coming_online_drains_only_the_agents_teams() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("support", Strategy::RoundRobin),
        ],
        vec![agent("alice", &["sales"], 4), agent("bob", &["support"], 4)],
    );
    board.place(ticket("s1", "sales", 0, 1)).expect("placed");
    board.place(ticket("t1", "support", 0, 1)).expect("placed");
    let placements = board
        .set_presence(&aid("alice"), Presence::Online, 0)
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("s1", "alice")]));
    assert_eq!(queue(&board, "support"), ["t1"]);
}

#[test]
fn set_presence_rejects_an_unknown_agent() {
    let mut board = Board::new(vec![team("sales", Strategy::RoundRobin)], vec![]);
    assert_eq!(
        board.set_presence(&aid("zed"), Presence::Online, 0),
        Err(AssignError::UnknownAgent(aid("zed")))
    );
}

// ---- release ----

#[test]
fn a_presence_lease_that_is_not_renewed_takes_the_agent_offline() {
    let mut board = Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        vec![
            agent("alice", &["sales"], 2),
            agent("bob", &["sales"], 2),
            agent("carla", &["sales"], 2),
        ],
    );
    online(&mut board, &["alice", "bob"]);
    board
        .set_presence(&aid("carla"), Presence::Away, 0)
        .expect("away");
    let placement = board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    assert_eq!(assigned_to(&placement), "alice");
    // A heartbeat never brings an offline agent online; unknown agents are ignored.
    board.heartbeat(
        &[aid("alice"), aid("bob"), aid("carla"), aid("nobody")],
        1_000,
    );
    board.heartbeat(&[aid("bob")], 5_000);
    assert!(
        board.expire_presence(1_000).is_empty(),
        "a lease ends after its time"
    );
    assert_eq!(board.expire_presence(1_001), [aid("alice"), aid("carla")]);
    let snapshot = board.snapshot().expect("snapshot");
    assert_eq!(agent_view(&snapshot, "alice").presence, Presence::Offline);
    assert_eq!(agent_view(&snapshot, "carla").presence, Presence::Offline);
    assert_eq!(agent_view(&snapshot, "bob").presence, Presence::Online);
    // What alice held stays hers; she gets nothing new.
    assert_eq!(agent_view(&snapshot, "alice").assigned, ["c1"]);
    let placement = board.place(ticket("c2", "sales", 0, 2)).expect("placed");
    assert_eq!(assigned_to(&placement), "bob");
    // Already offline: not expired twice. Bob without a new heartbeat lapses later.
    assert!(board.expire_presence(2_000).is_empty());
    assert_eq!(board.expire_presence(5_001), [aid("bob")]);
    board.audit().expect("consistent");
}

#[test]
fn going_offline_forgets_the_lease_and_no_lease_never_expires() {
    let mut board = Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 2), agent("bob", &["sales"], 2)],
    );
    online(&mut board, &["alice", "bob"]);
    board.heartbeat(&[aid("alice")], 1_000);
    board
        .set_presence(&aid("alice"), Presence::Offline, 0)
        .expect("offline");
    online(&mut board, &["alice"]);
    // Online again without a heartbeat: no lease, so no expiry (bob never had one either).
    assert!(board.expire_presence(i64::MAX).is_empty());
    let snapshot = board.snapshot().expect("snapshot");
    assert_eq!(agent_view(&snapshot, "alice").presence, Presence::Online);
}

#[test]
fn release_frees_the_slot_and_drains_at_once() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("support", Strategy::RoundRobin),
        ],
        vec![agent("alice", &["sales", "support"], 1)],
    );
    online(&mut board, &["alice"]);
    board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    board.place(ticket("s2", "sales", 0, 30)).expect("placed");
    board.place(ticket("t2", "support", 0, 20)).expect("placed");
    let (held, placements) = board.release("c1").expect("released");
    assert_eq!(
        held,
        Some(Held::Assigned {
            team: tid("sales"),
            agent: aid("alice"),
        })
    );
    // The earliest across the agent's teams.
    assert_eq!(summary(&placements), pairs(&[("t2", "alice")]));
    assert_eq!(board.held("c1").expect("held"), None);
    assert_eq!(queue(&board, "sales"), ["s2"]);
    assert_eq!(load(&board, "alice"), 1);
    board.audit().expect("consistent");
}

#[test]
fn release_of_a_queued_conversation_takes_it_out_of_the_queue() {
    let mut board = Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1)],
    );
    board.place(ticket("a", "sales", 0, 1)).expect("placed");
    board.place(ticket("b", "sales", 0, 2)).expect("placed");
    board.place(ticket("c", "sales", 0, 3)).expect("placed");
    let (held, placements) = board.release("b").expect("released");
    assert_eq!(held, Some(Held::Queued { team: tid("sales") }));
    assert!(placements.is_empty());
    assert_eq!(queue(&board, "sales"), ["a", "c"]);
    assert_eq!(board.position("c").expect("position"), Some(2));
    // The id can be placed again.
    assert_eq!(
        queued_at(&board.place(ticket("b", "sales", 0, 2)).expect("placed")),
        2
    );
    board.audit().expect("consistent");
}

#[test]
fn release_of_an_unknown_conversation_is_nothing() {
    let mut board = Board::new(vec![team("sales", Strategy::RoundRobin)], vec![]);
    assert_eq!(board.release("nope").expect("released"), (None, vec![]));
}

#[test]
fn release_of_an_offer_frees_the_slot() {
    let mut board = Board::new(
        vec![offering("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1)],
    );
    online(&mut board, &["alice"]);
    board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    board.place(ticket("c2", "sales", 0, 2)).expect("placed");
    let (held, placements) = board.release("c1").expect("released");
    assert_eq!(
        held,
        Some(Held::Offered {
            team: tid("sales"),
            agent: aid("alice"),
        })
    );
    assert_eq!(offered_to(&placements[0]), "alice");
    assert_eq!(placements.len(), 1);
    board.audit().expect("consistent");
}

// ---- offers ----

#[test]
fn an_offer_counts_toward_load_and_accept_assigns() {
    let mut board = Board::new(
        vec![offering("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1), agent("bob", &["sales"], 1)],
    );
    online(&mut board, &["alice"]);
    let placement = board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    assert_eq!(
        placement,
        Placement::Offered {
            conversation: conversation("c1"),
            team: tid("sales"),
            agent: aid("alice"),
        }
    );
    assert_eq!(load(&board, "alice"), 1);
    assert_eq!(
        queued_at(&board.place(ticket("c2", "sales", 0, 2)).expect("placed")),
        1
    );
    assert_eq!(
        board.held("c1").expect("held"),
        Some(Held::Offered {
            team: tid("sales"),
            agent: aid("alice"),
        })
    );
    // Only the agent it is offered to may accept; only an offer can be accepted.
    assert_eq!(
        board.accept(&aid("bob"), "c1"),
        Err(AssignError::NotOffered("c1".to_owned()))
    );
    assert_eq!(
        board.accept(&aid("alice"), "c2"),
        Err(AssignError::NotOffered("c2".to_owned()))
    );
    assert_eq!(
        board.accept(&aid("alice"), "nope"),
        Err(AssignError::NotOffered("nope".to_owned()))
    );
    assert_eq!(
        board.accept(&aid("zed"), "c1"),
        Err(AssignError::UnknownAgent(aid("zed")))
    );
    let accepted = board.accept(&aid("alice"), "c1").expect("accepted");
    assert_eq!(
        accepted,
        Placement::Assigned {
            conversation: conversation("c1"),
            team: tid("sales"),
            agent: aid("alice"),
        }
    );
    assert_eq!(load(&board, "alice"), 1);
    let snapshot = board.snapshot().expect("snapshot");
    assert_eq!(agent_view(&snapshot, "alice").assigned, ["c1"]);
    assert!(agent_view(&snapshot, "alice").offered.is_empty());
    // Accepting twice fails: it is no longer an offer.
    assert_eq!(
        board.accept(&aid("alice"), "c1"),
        Err(AssignError::NotOffered("c1".to_owned()))
    );
    board.audit().expect("consistent");
}

#[test]
fn a_declined_offer_goes_to_the_next_agent_and_never_back() {
    let mut board = Board::new(
        vec![offering("sales", Strategy::RoundRobin)],
        vec![
            agent("alice", &["sales"], 5),
            agent("bob", &["sales"], 5),
            agent("carol", &["sales"], 5),
        ],
    );
    online(&mut board, &["alice", "bob", "carol"]);
    assert_eq!(
        offered_to(&board.place(ticket("c1", "sales", 0, 1)).expect("placed")),
        "alice"
    );
    let placements = board.decline(&aid("alice"), "c1").expect("declined");
    assert_eq!(summary(&placements), pairs(&[("c1", "bob")]));
    assert_eq!(load(&board, "alice"), 0);
    let placements = board.decline(&aid("bob"), "c1").expect("declined");
    assert_eq!(summary(&placements), pairs(&[("c1", "carol")]));
    let placements = board.decline(&aid("carol"), "c1").expect("declined");
    // Everyone declined: back to the queue.
    assert_eq!(placements.len(), 1);
    assert_eq!(queued_at(&placements[0]), 1);
    assert_eq!(
        board.held("c1").expect("held"),
        Some(Held::Queued { team: tid("sales") })
    );
    // Others still get offers; c1 waits.
    assert_eq!(
        offered_to(&board.place(ticket("c2", "sales", 0, 2)).expect("placed")),
        "alice"
    );
    assert_eq!(queue(&board, "sales"), ["c1"]);
    // Coming online again or freeing capacity never brings c1 back to a decliner.
    for agent in ["alice", "bob", "carol"] {
        board
            .set_presence(&aid(agent), Presence::Away, 0)
            .expect("away");
        assert!(
            board
                .set_presence(&aid(agent), Presence::Online, 0)
                .expect("online")
                .is_empty()
        );
    }
    let (_, placements) = board.release("c2").expect("released");
    assert!(placements.is_empty());
    let mut declined = HashMap::new();
    declined.insert(
        "c1".to_owned(),
        [aid("alice"), aid("bob"), aid("carol")]
            .into_iter()
            .collect(),
    );
    check_invariants(&board.snapshot().expect("snapshot"), &declined, false);
    board.audit().expect("consistent");
}

#[test]
fn a_declined_offer_keeps_its_place_in_the_queue() {
    let mut board = Board::new(
        vec![offering("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1), agent("bob", &["sales"], 1)],
    );
    online(&mut board, &["alice"]);
    board
        .place(ticket("first", "sales", 0, 10))
        .expect("placed");
    board
        .place(ticket("second", "sales", 0, 20))
        .expect("placed");
    board
        .place(ticket("third", "sales", 0, 30))
        .expect("placed");
    // alice declines "first": her slot frees, "second" is offered to her; "first" waits
    // ahead of "third".
    let placements = board.decline(&aid("alice"), "first").expect("declined");
    assert_eq!(summary(&placements[..1]), pairs(&[("second", "alice")]));
    assert_eq!(queued_at(&placements[1]), 1);
    assert_eq!(placements.len(), 2);
    assert_eq!(queue(&board, "sales"), ["first", "third"]);
    // bob comes online: "first" is his (he never declined it).
    let placements = board
        .set_presence(&aid("bob"), Presence::Online, 0)
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("first", "bob")]));
    board.audit().expect("consistent");
}

#[test]
fn a_drain_skips_a_ticket_only_its_decliners_could_take() {
    let mut board = Board::new(
        vec![offering("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1)],
    );
    online(&mut board, &["alice"]);
    board
        .place(ticket("urgent", "sales", 9, 1))
        .expect("placed");
    board
        .place(ticket("normal", "sales", 0, 2))
        .expect("placed");
    let placements = board.decline(&aid("alice"), "urgent").expect("declined");
    // "urgent" is ahead but alice declined it: she gets "normal".
    assert_eq!(
        summary(&placements),
        pairs(&[("normal", "alice"), ("urgent", "-")])
    );
    assert_eq!(queue(&board, "sales"), ["urgent"]);
    let mut declined = HashMap::new();
    declined.insert("urgent".to_owned(), [aid("alice")].into_iter().collect());
    check_invariants(&board.snapshot().expect("snapshot"), &declined, false);
}

#[test]
fn decline_requires_an_offer_to_that_agent() {
    let mut board = Board::new(
        vec![
            offering("sales", Strategy::RoundRobin),
            team("plain", Strategy::RoundRobin),
        ],
        vec![
            agent("alice", &["sales", "plain"], 5),
            agent("bob", &["sales"], 5),
        ],
    );
    online(&mut board, &["alice", "bob"]);
    board.place(ticket("offer", "sales", 0, 1)).expect("placed");
    board
        .place(ticket("assigned", "plain", 0, 2))
        .expect("placed");
    assert_eq!(
        board.decline(&aid("bob"), "offer"),
        Err(AssignError::NotOffered("offer".to_owned()))
    );
    assert_eq!(
        board.decline(&aid("alice"), "assigned"),
        Err(AssignError::NotOffered("assigned".to_owned()))
    );
    assert_eq!(
        board.decline(&aid("alice"), "nope"),
        Err(AssignError::NotOffered("nope".to_owned()))
    );
    assert_eq!(
        board.decline(&aid("zed"), "offer"),
        Err(AssignError::UnknownAgent(aid("zed")))
    );
    board.audit().expect("consistent");
}

#[test]
fn an_offer_to_an_agent_who_went_away_can_still_be_declined() {
    let mut board = Board::new(
        vec![offering("sales", Strategy::LeastBusy)],
        vec![agent("alice", &["sales"], 1), agent("bob", &["sales"], 1)],
    );
    online(&mut board, &["alice"]);
    board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    board
        .set_presence(&aid("alice"), Presence::Offline, 0)
        .expect("offline");
    online(&mut board, &["bob"]);
    let placements = board.decline(&aid("alice"), "c1").expect("declined");
    assert_eq!(summary(&placements), pairs(&[("c1", "bob")]));
    assert_eq!(load(&board, "alice"), 0);
    board.audit().expect("consistent");
}

#[test]
fn a_new_placement_forgets_who_declined() {
    let mut board = Board::new(
        vec![offering("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1)],
    );
    online(&mut board, &["alice"]);
    board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    board.decline(&aid("alice"), "c1").expect("declined");
    board.release("c1").expect("released");
    assert_eq!(
        offered_to(&board.place(ticket("c1", "sales", 0, 1)).expect("placed")),
        "alice"
    );
}

// ---- assign_to ----

#[test]
fn assign_to_transfers_to_any_online_agent_with_room() {
    let mut board = Board::new(
        vec![
            offering("sales", Strategy::RoundRobin),
            team("support", Strategy::RoundRobin),
        ],
        vec![agent("alice", &["sales"], 1), agent("bob", &["sales"], 5)],
    );
    online(&mut board, &["alice", "bob"]);
    // alice is not in support; a transfer is always an assignment, even in an offering team.
    let placement = board
        .assign_to(&aid("alice"), ticket("c1", "support", 0, 1))
        .expect("assigned");
    assert_eq!(
        placement,
        Placement::Assigned {
            conversation: conversation("c1"),
            team: tid("support"),
            agent: aid("alice"),
        }
    );
    assert_eq!(
        board.held("c1").expect("held"),
        Some(Held::Assigned {
            team: tid("support"),
            agent: aid("alice"),
        })
    );
    assert_eq!(
        board.assign_to(&aid("alice"), ticket("c2", "sales", 0, 2)),
        Err(AssignError::AgentUnavailable(aid("alice")))
    );
    assert_eq!(
        board.assign_to(&aid("bob"), ticket("c1", "sales", 0, 2)),
        Err(AssignError::AlreadyPlaced("c1".to_owned()))
    );
    assert_eq!(
        board.assign_to(&aid("zed"), ticket("c3", "sales", 0, 2)),
        Err(AssignError::UnknownAgent(aid("zed")))
    );
    assert_eq!(
        board.assign_to(&aid("bob"), ticket("c3", "nowhere", 0, 2)),
        Err(AssignError::UnknownTeam(tid("nowhere")))
    );
    assert_eq!(
        assigned_to(
            &board
                .assign_to(&aid("bob"), ticket("c4", "sales", 0, 2))
                .expect("assigned")
        ),
        "bob"
    );
    // The round-robin turn is untouched by transfers: sales starts with alice (full) → bob.
    assert_eq!(
        offered_to(&board.place(ticket("c5", "sales", 0, 3)).expect("placed")),
        "bob"
    );
    // Releasing a transferred conversation drains the agent's own teams.
    board.place(ticket("c6", "sales", 0, 4)).expect("placed");
    board
        .set_presence(&aid("bob"), Presence::Away, 0)
        .expect("away");
    board.place(ticket("c7", "sales", 0, 5)).expect("placed");
    let (_, placements) = board.release("c1").expect("released");
    assert_eq!(summary(&placements), pairs(&[("c7", "alice")]));
    board.audit().expect("consistent");
}

// ---- overflow ----

#[test]
fn overflow_moves_a_queued_conversation_and_places_it() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("backup", Strategy::RoundRobin),
        ],
        vec![agent("alice", &["sales"], 1), agent("bob", &["backup"], 4)],
    );
    board.place(ticket("c1", "sales", 3, 100)).expect("placed");
    board.place(ticket("c2", "sales", 0, 200)).expect("placed");
    // bob is offline: it waits in backup, keeping priority and arrival.
    board.place(ticket("b1", "backup", 0, 50)).expect("placed");
    board.place(ticket("b2", "backup", 3, 150)).expect("placed");
    let placement = board.overflow("c1", &tid("backup")).expect("overflowed");
    assert_eq!(
        placement,
        Some(Placement::Queued {
            conversation: conversation("c1"),
            team: tid("backup"),
            position: 1,
        })
    );
    assert_eq!(queue(&board, "backup"), ["c1", "b2", "b1"]);
    assert_eq!(queue(&board, "sales"), ["c2"]);
    assert_eq!(
        board.held("c1").expect("held"),
        Some(Held::Queued {
            team: tid("backup")
        })
    );
    // bob comes online: backup drains in its order.
    let placements = board
        .set_presence(&aid("bob"), Presence::Online, 0)
        .expect("online");
    assert_eq!(
        summary(&placements),
        pairs(&[("c1", "bob"), ("b2", "bob"), ("b1", "bob")])
    );
    // bob has room left: an overflow is assigned at once.
    let placement = board.overflow("c2", &tid("backup")).expect("overflowed");
    assert_eq!(placement.as_ref().map(assigned_to), Some("bob"));
    // Not queued: nothing happens.
    assert_eq!(board.overflow("c2", &tid("sales")).expect("overflow"), None);
    assert_eq!(
        board.overflow("nope", &tid("sales")).expect("overflow"),
        None
    );
    assert_eq!(
        board.overflow("c2", &tid("nowhere")),
        Err(AssignError::UnknownTeam(tid("nowhere")))
    );
    board.audit().expect("consistent");
}

#[test]
fn overflow_into_a_full_queue_leaves_the_conversation_where_it_was() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            TeamSpec {
                max_queue: 1,
                ..team("backup", Strategy::RoundRobin)
            },
        ],
        vec![agent("alice", &["sales", "backup"], 1)],
    );
    board.place(ticket("a", "sales", 0, 1)).expect("placed");
    board.place(ticket("b", "sales", 0, 2)).expect("placed");
    board.place(ticket("x", "backup", 0, 0)).expect("placed");
    assert_eq!(
        board.overflow("a", &tid("backup")),
        Err(AssignError::QueueFull(tid("backup")))
    );
    assert_eq!(queue(&board, "sales"), ["a", "b"]);
    assert_eq!(
        board.held("a").expect("held"),
        Some(Held::Queued { team: tid("sales") })
    );
    board.audit().expect("consistent");
}

#[test]
fn overflow_forgets_who_declined() {
    let mut board = Board::new(
        vec![
            offering("sales", Strategy::RoundRobin),
            offering("backup", Strategy::RoundRobin),
        ],
        vec![agent("alice", &["sales", "backup"], 1)],
    );
    online(&mut board, &["alice"]);
    board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    let placements = board.decline(&aid("alice"), "c1").expect("declined");
    assert_eq!(queued_at(&placements[0]), 1);
    let placement = board.overflow("c1", &tid("backup")).expect("overflow");
    assert_eq!(placement.as_ref().map(offered_to), Some("alice"));
    // Overflow to its own team also starts afresh.
    board.decline(&aid("alice"), "c1").expect("declined");
    let placement = board.overflow("c1", &tid("backup")).expect("overflow");
    assert_eq!(placement.as_ref().map(offered_to), Some("alice"));
    board.audit().expect("consistent");
}

#[test]
fn overflow_gives_a_preferred_agent_first_turn() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("backup", Strategy::RoundRobin),
        ],
        vec![agent("alice", &["backup"], 5), agent("bob", &["backup"], 5)],
    );
    online(&mut board, &["alice", "bob"]);
    board
        .place(preferring("c1", "sales", "bob"))
        .expect("placed");
    let placement = board.overflow("c1", &tid("backup")).expect("overflow");
    assert_eq!(placement.as_ref().map(assigned_to), Some("bob"));
}

// ---- restore ----

#[test]
fn restore_rebuilds_loads_and_queues_with_everyone_offline() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("support", Strategy::RoundRobin),
        ],
        vec![agent("alice", &["sales"], 2), agent("bob", &["support"], 2)],
    );
    online(&mut board, &["alice", "bob"]);
    board.place(ticket("old", "sales", 0, 1)).expect("placed");
    board
        .restore(
            vec![
                (ticket("a1", "sales", 0, 1), aid("alice")),
                (ticket("a2", "support", 0, 2), aid("alice")),
                (ticket("a3", "sales", 0, 3), aid("alice")),
                (ticket("a1", "sales", 0, 4), aid("bob")),
                (ticket("x1", "sales", 0, 5), aid("zed")),
                (ticket("x2", "nowhere", 0, 6), aid("bob")),
            ],
            vec![
                ticket("w1", "sales", 0, 30),
                ticket("w2", "sales", 1, 40),
                ticket("w3", "sales", 0, 20),
                ticket("a2", "sales", 0, 1),
                ticket("w4", "nowhere", 0, 1),
            ],
        )
        .expect("restored");
    let snapshot = board.snapshot().expect("snapshot");
    let alice = agent_view(&snapshot, "alice");
    assert_eq!(alice.presence, Presence::Offline);
    // Above capacity (config shrank, say): counted anyway.
    assert_eq!(alice.load, 3);
    assert_eq!(alice.assigned, ["a1", "a2", "a3"]);
    assert_eq!(agent_view(&snapshot, "bob").presence, Presence::Offline);
    assert_eq!(agent_view(&snapshot, "bob").load, 0);
    assert_eq!(queue(&board, "sales"), ["w2", "w3", "w1"]);
    for id in ["old", "x1", "x2", "w4"] {
        assert_eq!(board.held(id).expect("held"), None, "{id}");
    }
    assert_eq!(
        board.held("a2").expect("held"),
        Some(Held::Assigned {
            team: tid("support"),
            agent: aid("alice"),
        })
    );
    board.audit().expect("consistent");

    // Back online and over capacity: nothing new until load falls below capacity.
    assert!(
        board
            .set_presence(&aid("alice"), Presence::Online, 0)
            .expect("online")
            .is_empty()
    );
    let (_, placements) = board.release("a3").expect("released");
    assert!(placements.is_empty());
    let (_, placements) = board.release("a2").expect("released");
    assert_eq!(summary(&placements), pairs(&[("w2", "alice")]));
    board.audit().expect("consistent");
}

#[test]
fn restore_of_nothing_empties_the_board() {
    let mut board = Board::new(
        vec![offering("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 2)],
    );
    online(&mut board, &["alice"]);
    board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    board.restore(vec![], vec![]).expect("restored");
    let snapshot = board.snapshot().expect("snapshot");
    assert_eq!(agent_view(&snapshot, "alice").load, 0);
    assert_eq!(agent_view(&snapshot, "alice").presence, Presence::Offline);
    assert!(snapshot.teams[0].queue.is_empty());
    assert_eq!(board.held("c1").expect("held"), None);
    board.audit().expect("consistent");
}

// ---- randomized ----

/// What the randomized test knows of a placed conversation.
#[derive(Clone)]
struct Known {
    ticket: Ticket,
    declined: HashSet<AgentId>,
}

#[test]
fn random_operations_keep_every_invariant() {
    for seed in 1..=4u64 {
        random_run(seed, 3_000);
    }
}

fn random_run(seed: u64, operations: usize) {
    let mut rng = Rng::new(seed);
    let team_names = ["sales", "support", "vip", "backup"];
    let teams = vec![
        team("sales", Strategy::RoundRobin),
        offering("support", Strategy::LeastBusy),
        TeamSpec {
            max_queue: 6,
            ..offering("vip", Strategy::RoundRobin)
        },
        TeamSpec {
            max_queue: 10,
            ..team("backup", Strategy::LeastBusy)
        },
    ];
    let agent_names: Vec<String> = (0..9).map(|n| format!("agent{n}")).collect();
    let agents: Vec<AgentSpec> = agent_names
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let mine: Vec<&str> = team_names
                .iter()
                .enumerate()
                .filter(|(t, _)| (n + t) % 3 != 0)
                .map(|(_, team)| *team)
                .collect();
            agent(name, &mine, 1 + (n as u32 % 3))
        })
        .collect();
    let mut board = Board::new(teams.clone(), agents.clone());
    let mut known: HashMap<String, Known> = HashMap::new();
    let mut next_id = 0u64;
    let mut clock = 0i64;
    // Runtime configuration: teams and agents come and go from these pools.
    let team_pool: Vec<String> = ["sales", "support", "vip", "backup", "extra"]
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    let agent_pool: Vec<String> = (0..11).map(|n| format!("agent{n}")).collect();
    let mut config = (teams, agents);
    let mut version = 0i64;
    let mut reconfigured_once = false;
    let live = |config: &(Vec<TeamSpec>, Vec<AgentSpec>)| -> (HashSet<String>, HashSet<String>) {
        let (teams, agents) = normalize(config.0.clone(), config.1.clone());
        (
            teams.iter().map(|t| t.id.as_str().to_owned()).collect(),
            agents.iter().map(|a| a.id.as_str().to_owned()).collect(),
        )
    };
    let (mut live_teams, mut live_agents) = live(&config);
    let mut counts: HashMap<String, usize> = HashMap::new();

    for step in 0..operations {
        let before = board.snapshot().expect("snapshot");
        let context = format!("seed {seed} step {step}");
        // (placements to check, whether they are new work that must go to online agents, op)
        // Alternate calm phases (queues mostly empty) and busy ones (releases turn into places,
        // queues fill up to their limits).
        let busy = (step / 500) % 2 == 1;
        let roll = match rng.below(1_100) {
            roll @ 290..=579 if busy && rng.percent(50) => roll % 220,
            roll => roll,
        };
        let (placements, fresh_work, op): (Vec<Placement>, bool, String) = match roll {
            0..=219 => {
                next_id += 1;
                clock += 1;
                let id = format!("c{next_id}");
                let team = rng.choose(&team_pool).expect("teams").clone();
                let mut new_ticket = ticket(&id, &team, rng.below(3) as i32, clock);
                if rng.percent(20) {
                    new_ticket.preferred_agent = rng.choose(&agent_pool).map(|name| aid(name));
                }
                match board.place(new_ticket.clone()) {
                    Err(AssignError::UnknownTeam(_)) => {
                        assert!(!live_teams.contains(&team), "{context}");
                        assert_eq!(board.snapshot().expect("snapshot"), before, "{context}");
                        (vec![], false, "place: unknown team".to_owned())
                    }
                    Ok(placement) => {
                        known.insert(
                            id.clone(),
                            Known {
                                ticket: new_ticket,
                                declined: HashSet::new(),
                            },
                        );
                        (vec![placement], true, format!("place {id}"))
                    }
                    Err(AssignError::QueueFull(_)) => {
                        assert_eq!(board.snapshot().expect("snapshot"), before, "{context}");
                        (vec![], false, "place: full".to_owned())
                    }
                    Err(error) => panic!("{context}: place {id}: {error}"),
                }
            }
            220..=249 => {
                // Placing what is already placed changes nothing.
                let ids: Vec<&String> = known.keys().collect();
                if let Some(id) = rng.choose(&ids) {
                    let id = (*id).clone();
                    assert_eq!(
                        board.place(ticket(&id, "sales", 0, clock)),
                        Err(AssignError::AlreadyPlaced(id.clone())),
                        "{context}"
                    );
                }
                (vec![], false, "place again".to_owned())
            }
            250..=289 => {
                next_id += 1;
                clock += 1;
                let id = format!("c{next_id}");
                let name = rng.choose(&agent_pool).expect("agents").clone();
                let team = rng.choose(&team_pool).expect("teams").clone();
                let new_ticket = ticket(&id, &team, 0, clock);
                let view = before
                    .agents
                    .iter()
                    .find(|view| view.agent.as_str() == name);
                match board.assign_to(&aid(&name), new_ticket.clone()) {
                    Err(AssignError::UnknownAgent(_)) => {
                        assert!(!live_agents.contains(&name), "{context}");
                        (vec![], false, "assign_to: unknown agent".to_owned())
                    }
                    Err(AssignError::UnknownTeam(_)) => {
                        assert!(live_agents.contains(&name), "{context}");
                        assert!(!live_teams.contains(&team), "{context}");
                        (vec![], false, "assign_to: unknown team".to_owned())
                    }
                    Ok(placement) => {
                        let view = view.expect("a configured agent is listed");
                        assert!(view.presence == Presence::Online && view.load < view.capacity);
                        assert_eq!(assigned_to(&placement), name);
                        known.insert(
                            id.clone(),
                            Known {
                                ticket: new_ticket,
                                declined: HashSet::new(),
                            },
                        );
                        (vec![placement], true, format!("assign_to {name} {id}"))
                    }
                    Err(AssignError::AgentUnavailable(_)) => {
                        let view = view.expect("a configured agent is listed");
                        assert!(view.presence != Presence::Online || view.load >= view.capacity);
                        (vec![], false, "assign_to: unavailable".to_owned())
                    }
                    Err(error) => panic!("{context}: assign_to: {error}"),
                }
            }
            290..=579 => {
                let ids: Vec<&String> = known.keys().collect();
                let id = match rng.choose(&ids) {
                    Some(id) if rng.percent(95) => (*id).clone(),
                    _ => "missing".to_owned(),
                };
                let (held, placements) = board.release(&id).expect("release");
                assert_eq!(held.is_some(), known.remove(&id).is_some(), "{context}");
                (placements, true, format!("release {id}"))
            }
            580..=729 => {
                let name = rng.choose(&agent_pool).expect("agents").clone();
                let presence = match rng.below(10) {
                    0..=6 => Presence::Online,
                    7..=8 => Presence::Away,
                    _ => Presence::Offline,
                };
                let placements = match board.set_presence(&aid(&name), presence, 0) {
                    Ok(placements) => placements,
                    Err(AssignError::UnknownAgent(_)) => {
                        assert!(!live_agents.contains(&name), "{context}");
                        Vec::new()
                    }
                    Err(error) => panic!("{context}: presence: {error}"),
                };
                if presence != Presence::Online {
                    assert!(placements.is_empty(), "{context}");
                }
                (placements, true, format!("presence {name} {presence:?}"))
            }
            730..=809 => {
                let offers: Vec<(String, String)> = before
                    .agents
                    .iter()
                    .flat_map(|view| {
                        view.offered
                            .iter()
                            .map(|id| (view.agent.as_str().to_owned(), id.clone()))
                    })
                    .collect();
                match rng.choose(&offers).cloned() {
                    Some((name, id)) if !live_agents.contains(&name) => {
                        assert_eq!(
                            board.accept(&aid(&name), &id),
                            Err(AssignError::UnknownAgent(aid(&name))),
                            "{context}"
                        );
                        (vec![], false, "accept: retired agent".to_owned())
                    }
                    Some((name, id)) => {
                        let placement = board.accept(&aid(&name), &id).expect("accept");
                        assert_eq!(assigned_to(&placement), name, "{context}");
                        (vec![placement], false, format!("accept {name} {id}"))
                    }
                    None => (vec![], false, "accept: no offer".to_owned()),
                }
            }
            810..=929 => {
                let offers: Vec<(String, String)> = before
                    .agents
                    .iter()
                    .flat_map(|view| {
                        view.offered
                            .iter()
                            .map(|id| (view.agent.as_str().to_owned(), id.clone()))
                    })
                    .collect();
                match rng.choose(&offers).cloned() {
                    Some((name, id)) if !live_agents.contains(&name) => {
                        assert_eq!(
                            board.decline(&aid(&name), &id),
                            Err(AssignError::UnknownAgent(aid(&name))),
                            "{context}"
                        );
                        (vec![], false, "decline: retired agent".to_owned())
                    }
                    Some((name, id)) if rng.percent(90) => {
                        let placements = board.decline(&aid(&name), &id).expect("decline");
                        if let Some(entry) = known.get_mut(&id) {
                            entry.declined.insert(aid(&name));
                        }
                        for placement in &placements {
                            if placement.conversation().id == id {
                                assert_ne!(agent_of(placement), Some(name.as_str()), "{context}");
                            }
                        }
                        (placements, true, format!("decline {name} {id}"))
                    }
                    Some((name, id)) => {
                        // Someone else cannot decline (or accept) it.
                        let other = agent_pool
                            .iter()
                            .find(|other| **other != name && live_agents.contains(*other))
                            .cloned()
                            .unwrap_or_else(|| "nobody".to_owned());
                        let refusal = if live_agents.contains(&other) {
                            AssignError::NotOffered(id.clone())
                        } else {
                            AssignError::UnknownAgent(aid(&other))
                        };
                        assert_eq!(board.decline(&aid(&other), &id), Err(refusal.clone()));
                        assert_eq!(board.accept(&aid(&other), &id), Err(refusal));
                        (vec![], false, "decline: wrong agent".to_owned())
                    }
                    None => (vec![], false, "decline: no offer".to_owned()),
                }
            }
            930..=994 => {
                let queued: Vec<String> = before
                    .teams
                    .iter()
                    .flat_map(|view| view.queue.iter().cloned())
                    .collect();
                let to = rng.choose(&team_pool).expect("teams").as_str();
                let id = rng
                    .choose(&queued)
                    .cloned()
                    .or_else(|| known.keys().next().cloned())
                    .unwrap_or_else(|| "missing".to_owned());
                let was_queued = queued.contains(&id);
                match board.overflow(&id, &tid(to)) {
                    Ok(Some(placement)) => {
                        assert!(was_queued, "{context}");
                        assert_eq!(placement.team(), &tid(to));
                        if let Some(entry) = known.get_mut(&id) {
                            entry.declined.clear();
                            entry.ticket.team = tid(to);
                        }
                        (vec![placement], true, format!("overflow {id} {to}"))
                    }
                    Ok(None) => {
                        assert!(!was_queued, "{context}");
                        (vec![], false, "overflow: not queued".to_owned())
                    }
                    Err(AssignError::QueueFull(_)) => {
                        assert_eq!(board.snapshot().expect("snapshot"), before, "{context}");
                        (vec![], false, "overflow: full".to_owned())
                    }
                    Err(AssignError::UnknownTeam(_)) => {
                        assert!(!live_teams.contains(to), "{context}");
                        assert_eq!(board.snapshot().expect("snapshot"), before, "{context}");
                        (vec![], false, "overflow: unknown team".to_owned())
                    }
                    Err(error) => panic!("{context}: overflow: {error}"),
                }
            }
            995..=999 => {
                // Restart: what agents hold (offers become assignments) and what waits.
                let mut assigned = Vec::new();
                for view in &before.agents {
                    for id in view.assigned.iter().chain(&view.offered) {
                        assigned.push((known[id].ticket.clone(), view.agent.clone()));
                    }
                }
                let mut waiting = Vec::new();
                for view in &before.teams {
                    for id in &view.queue {
                        waiting.push(known[id].ticket.clone());
                    }
                }
                // Any order will do: the queue order is rebuilt.
                waiting.reverse();
                board.restore(assigned, waiting).expect("restore");
                for entry in known.values_mut() {
                    entry.declined.clear();
                }
                // What retired teams and agents had is skipped: the store knows them no more.
                known.retain(|_, entry| live_teams.contains(entry.ticket.team.as_str()));
                let after = board.snapshot().expect("snapshot");
                let queues: Vec<&super::TeamView> = before
                    .teams
                    .iter()
                    .filter(|view| live_teams.contains(view.team.as_str()))
                    .collect();
                assert_eq!(
                    after.teams.iter().collect::<Vec<_>>(),
                    queues,
                    "{context}: queues survive a restore"
                );
                let live_agent_views: Vec<&super::AgentView> = before
                    .agents
                    .iter()
                    .filter(|view| live_agents.contains(view.agent.as_str()))
                    .collect();
                assert_eq!(after.agents.len(), live_agent_views.len(), "{context}");
                for (view, old) in after.agents.iter().zip(live_agent_views) {
                    assert_eq!(view.presence, Presence::Offline);
                    let mut held: Vec<&String> = old
                        .assigned
                        .iter()
                        .chain(&old.offered)
                        .filter(|id| known.contains_key(*id))
                        .collect();
                    held.sort();
                    assert_eq!(view.assigned.iter().collect::<Vec<_>>(), held);
                    assert_eq!(view.load as usize, held.len());
                }
                known.retain(|id, _| board.held(id).ok().flatten().is_some());
                (vec![], false, "restore".to_owned())
            }
            1_000..=1_039 => {
                // A new configuration, or now and then a stale copy of one.
                let (teams, agents) =
                    reconfigured(&mut rng, &config.0, &config.1, &team_pool, &agent_pool);
                if rng.percent(15) {
                    let stale = version - rng.below(2) as i64;
                    let configured = board.configure(teams, agents, stale);
                    assert_eq!(configured, super::Configured::default(), "{context}");
                    assert_eq!(board.snapshot().expect("snapshot"), before, "{context}");
                    (vec![], false, "configure: stale".to_owned())
                } else {
                    version += 1 + rng.below(3) as i64;
                    let configured = board.configure(teams.clone(), agents.clone(), version);
                    assert!(configured.applied, "{context}");
                    assert_eq!(board.configured_version(), version);
                    config = (teams, agents);
                    (live_teams, live_agents) = live(&config);
                    reconfigured_once = true;
                    (configured.placements, true, format!("configure v{version}"))
                }
            }
            1_040..=1_079 => {
                let held: Vec<(String, String)> = before
                    .agents
                    .iter()
                    .flat_map(|view| {
                        view.assigned
                            .iter()
                            .chain(&view.offered)
                            .map(|id| (id.clone(), view.agent.as_str().to_owned()))
                    })
                    .collect();
                // Mostly what a retired agent holds (what the caller requeues), else anything.
                let retired: Vec<(String, String)> = held
                    .iter()
                    .filter(|(_, agent)| !live_agents.contains(agent))
                    .cloned()
                    .collect();
                let pick = if rng.percent(70) && !retired.is_empty() {
                    rng.choose(&retired).cloned()
                } else if rng.percent(90) {
                    rng.choose(&held).cloned()
                } else {
                    // Queued (or missing): nothing to requeue.
                    before
                        .teams
                        .iter()
                        .flat_map(|view| view.queue.first())
                        .next()
                        .map(|id| (id.clone(), String::new()))
                };
                let (id, holder) = pick.unwrap_or_else(|| ("missing".to_owned(), String::new()));
                let placements = board.requeue(&id);
                if holder.is_empty() {
                    assert!(
                        placements.is_empty(),
                        "{context}: requeue of a held-by-none"
                    );
                } else {
                    let mine: Vec<&Placement> = placements
                        .iter()
                        .filter(|placement| placement.conversation().id == id)
                        .collect();
                    assert_eq!(mine.len(), 1, "{context}: requeue {id}: {placements:?}");
                    if !live_agents.contains(&holder) {
                        assert_ne!(agent_of(mine[0]), Some(holder.as_str()), "{context}");
                    }
                    if let Placement::Queued { .. } = mine[0] {
                        assert_eq!(placements.last(), Some(mine[0]), "{context}");
                    }
                }
                (placements, true, format!("requeue {id}"))
            }
            _ => {
                let name = rng.choose(&agent_pool).expect("agents").clone();
                let mut expected: Vec<String> = before
                    .agents
                    .iter()
                    .find(|view| view.agent.as_str() == name)
                    .map(|view| view.assigned.iter().chain(&view.offered).cloned().collect())
                    .unwrap_or_default();
                expected.sort();
                let got: Vec<String> = board
                    .holdings_of(&aid(&name))
                    .into_iter()
                    .map(|conversation| conversation.id)
                    .collect();
                assert_eq!(got, expected, "{context}: holdings of {name}");
                (vec![], false, "holdings_of".to_owned())
            }
        };

        let after = board.snapshot().expect("snapshot");
        let context = format!("{context} ({op})");
        let kind = op.split(' ').next().unwrap_or_default().to_owned();
        *counts.entry(kind).or_default() += 1;
        if op.starts_with("configure v") || op.starts_with("requeue") {
            *counts.entry(format!("{op:.9} placing")).or_default() += placements.len();
        }
        if let Err(problem) = board.audit() {
            panic!("{context}: {problem}");
        }
        let declined: HashMap<String, HashSet<AgentId>> = known
            .iter()
            .map(|(id, entry)| (id.clone(), entry.declined.clone()))
            .collect();
        check_invariants(&after, &declined, reconfigured_once);
        // Retired agents are listed only while they hold something, offline and in no team;
        // retired teams only while someone waits in them.
        for view in &after.agents {
            if !live_agents.contains(view.agent.as_str()) {
                assert!(
                    view.presence == Presence::Offline && view.teams.is_empty() && view.load > 0,
                    "{context}: retired {view:?}"
                );
            }
        }
        for view in &after.teams {
            assert!(
                live_teams.contains(view.team.as_str()) || !view.queue.is_empty(),
                "{context}: retired {view:?}"
            );
        }

        // New work only goes to online agents, of the team unless transferred, never to one
        // who declined it; queued placements tell the right position.
        for placement in &placements {
            let id = &placement.conversation().id;
            let entry = known
                .get(id)
                .unwrap_or_else(|| panic!("{context}: unknown {id}"));
            match placement {
                Placement::Queued { team, position, .. } => {
                    let view = after
                        .teams
                        .iter()
                        .find(|view| &view.team == team)
                        .expect("team");
                    assert_eq!(view.queue.get(position - 1), Some(id), "{context}");
                }
                Placement::Assigned { agent, team, .. }
                | Placement::Offered { agent, team, .. } => {
                    let view = agent_view(&after, agent.as_str());
                    if fresh_work {
                        assert_eq!(view.presence, Presence::Online, "{context}: {placement:?}");
                        assert!(view.load <= view.capacity, "{context}: {placement:?}");
                        if !op.starts_with("assign_to") {
                            assert!(view.teams.contains(team), "{context}: {placement:?}");
                        }
                    }
                    assert!(
                        !entry.declined.contains(agent),
                        "{context}: back to a decliner"
                    );
                    let held_by = match board.held(id).expect("held") {
                        Some(Held::Assigned { agent, .. } | Held::Offered { agent, .. }) => {
                            Some(agent)
                        }
                        _ => None,
                    };
                    assert_eq!(held_by.as_ref(), Some(agent), "{context}");
                }
            }
        }

        // Queues in order: priority, then arrival (arrivals are unique here); positions agree.
        for view in &after.teams {
            let keys: Vec<(i32, i64)> = view
                .queue
                .iter()
                .map(|id| {
                    let ticket = &known[id].ticket;
                    assert_eq!(ticket.team, view.team, "{context}: {id} in the wrong queue");
                    (-ticket.priority, ticket.arrival_ms)
                })
                .collect();
            assert!(
                keys.windows(2).all(|pair| pair[0] < pair[1]),
                "{context}: {keys:?}"
            );
            for (index, id) in view.queue.iter().enumerate() {
                assert_eq!(
                    board.position(id).expect("position"),
                    Some(index + 1),
                    "{context}"
                );
            }
            assert_eq!(
                view.oldest_arrival_ms,
                keys.iter().map(|(_, arrival)| *arrival).min(),
                "{context}"
            );
        }
        // Everything the test thinks is placed is on the board, and nothing else.
        let on_board: usize = after
            .agents
            .iter()
            .map(|view| view.assigned.len() + view.offered.len())
            .sum::<usize>()
            + after
                .teams
                .iter()
                .map(|view| view.queue.len())
                .sum::<usize>();
        assert_eq!(on_board, known.len(), "{context}");
    }
    // The runtime configuration was exercised: applied, stale, requeues that moved something.
    for kind in ["configure", "configure:", "requeue", "holdings_of"] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) > 0,
            "seed {seed}: no {kind}"
        );
    }
}

// ---- the in-memory seam under concurrency ----

fn concurrent_board() -> Board {
    let teams = vec![
        team("sales", Strategy::RoundRobin),
        offering("support", Strategy::LeastBusy),
        offering("vip", Strategy::RoundRobin),
    ];
    let names = ["sales", "support", "vip"];
    let agents = (0..12)
        .map(|n| {
            let mine: Vec<&str> = names
                .iter()
                .enumerate()
                .filter(|(t, _)| (n + t) % 2 == 0 || *t == n % 3)
                .map(|(_, team)| *team)
                .collect();
            agent(&format!("agent{n}"), &mine, 1 + (n as u32 % 4))
        })
        .collect();
    Board::new(teams, agents)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_never_break_an_invariant() {
    let assignments = Arc::new(MemoryAssignments::new(concurrent_board()));
    for n in 0..12 {
        let placements = assignments
            .set_presence(&aid(&format!("agent{n}")), Presence::Online, 0)
            .await
            .expect("online");
        assert!(placements.is_empty());
    }
    let team_names = ["sales", "support", "vip"];
    let mut customers = Vec::new();
    for task in 0..8u64 {
        let assignments = Arc::clone(&assignments);
        customers.push(tokio::spawn(async move {
            let mut rng = Rng::new(100 + task);
            let mut seen = Vec::new();
            let mut mine: Vec<String> = Vec::new();
            for n in 0..1_000 {
                if rng.percent(45) || mine.is_empty() {
                    let id = format!("t{task}-{n}");
                    let team = *rng.choose(&team_names).expect("teams");
                    let arrival = n * 8 + task as i64;
                    match assignments
                        .place(ticket(&id, team, rng.below(3) as i32, arrival))
                        .await
                    {
                        Ok(placement) => {
                            seen.push(placement);
                            mine.push(id);
                        }
                        Err(AssignError::QueueFull(_)) => {}
                        Err(error) => panic!("place: {error}"),
                    }
                } else {
                    let id = mine.swap_remove(rng.below(mine.len()));
                    let (held, placements) = assignments.release(&id).await.expect("release");
                    assert!(held.is_some(), "{id} was lost");
                    seen.extend(placements);
                }
                if n % 4 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            (seen, mine, Vec::<(AgentId, String)>::new())
        }));
    }
    let mut agents = Vec::new();
    for task in 0..4u64 {
        let assignments = Arc::clone(&assignments);
        agents.push(tokio::spawn(async move {
            let mut rng = Rng::new(200 + task);
            let mut seen = Vec::new();
            let mut declines = Vec::new();
            let names: Vec<AgentId> = (0..12)
                .filter(|n| n % 4 == task as usize)
                .map(|n| aid(&format!("agent{n}")))
                .collect();
            for _ in 0..600 {
                let name = rng.choose(&names).expect("agents").clone();
                match rng.below(10) {
                    0..=2 => {
                        let presence = if rng.percent(70) {
                            Presence::Online
                        } else {
                            Presence::Away
                        };
                        seen.extend(
                            assignments
                                .set_presence(&name, presence, 0)
                                .await
                                .expect("presence"),
                        );
                    }
                    _ => {
                        let snapshot = assignments.snapshot().await.expect("snapshot");
                        let offered = agent_view(&snapshot, name.as_str()).offered.clone();
                        if let Some(id) = rng.choose(&offered).cloned() {
                            if rng.percent(50) {
                                match assignments.accept(&name, &id).await {
                                    Ok(placement) => seen.push(placement),
                                    // Released by its customer in the meantime.
                                    Err(AssignError::NotOffered(_)) => {}
                                    Err(error) => panic!("accept: {error}"),
                                }
                            } else {
                                match assignments.decline(&name, &id).await {
                                    Ok(placements) => {
                                        declines.push((name.clone(), id));
                                        seen.extend(placements);
                                    }
                                    Err(AssignError::NotOffered(_)) => {}
                                    Err(error) => panic!("decline: {error}"),
                                }
                            }
                        }
                    }
                }
                tokio::task::yield_now().await;
            }
            // Everyone ends online, which drains what can be drained.
            for name in &names {
                seen.extend(
                    assignments
                        .set_presence(name, Presence::Online, 0)
                        .await
                        .expect("online"),
                );
            }
            (seen, Vec::new(), declines)
        }));
    }

    let mut placements = Vec::new();
    let mut unreleased: HashSet<String> = HashSet::new();
    let mut declined: HashMap<String, HashSet<AgentId>> = HashMap::new();
    for handle in customers.into_iter().chain(agents) {
        let (seen, mine, declines) = handle.await.expect("task");
        placements.extend(seen);
        unreleased.extend(mine);
        for (agent, id) in declines {
            declined.entry(id).or_default().insert(agent);
        }
    }

    // Ids are never reused, so per conversation: at most one assignment, offers to distinct
    // agents who never declined before the offer... and an assignment in an offering team only
    // to the agent it was offered to.
    let mut assigned: HashMap<String, Vec<AgentId>> = HashMap::new();
    let mut offered: HashMap<String, Vec<AgentId>> = HashMap::new();
    for placement in &placements {
        match placement {
            Placement::Assigned {
                conversation,
                agent,
                ..
            } => {
                assigned
                    .entry(conversation.id.clone())
                    .or_default()
                    .push(agent.clone());
            }
            Placement::Offered {
                conversation,
                agent,
                ..
            } => {
                offered
                    .entry(conversation.id.clone())
                    .or_default()
                    .push(agent.clone());
            }
            Placement::Queued { .. } => {}
        }
    }
    for (id, agents) in &assigned {
        assert_eq!(agents.len(), 1, "{id} assigned more than once: {agents:?}");
        if let Some(offers) = offered.get(id) {
            assert!(
                offers.contains(&agents[0]),
                "{id}: assigned without an offer"
            );
        }
    }
    for (id, agents) in &offered {
        let distinct: HashSet<&AgentId> = agents.iter().collect();
        assert_eq!(
            distinct.len(),
            agents.len(),
            "{id} offered twice to one agent: {agents:?}"
        );
    }

    let snapshot = assignments.snapshot().await.expect("snapshot");
    check_invariants(&snapshot, &declined, false);
    let mut on_board = HashSet::new();
    for view in &snapshot.agents {
        on_board.extend(view.assigned.iter().cloned());
        on_board.extend(view.offered.iter().cloned());
    }
    for view in &snapshot.teams {
        on_board.extend(view.queue.iter().cloned());
    }
    assert_eq!(
        on_board, unreleased,
        "every unreleased conversation, and only those"
    );
    for id in &unreleased {
        assert!(assignments.held(id).await.expect("held").is_some());
    }
    let assigned_now = snapshot
        .agents
        .iter()
        .map(|view| view.assigned.len() + view.offered.len())
        .sum::<usize>();
    assert!(assigned_now > 0, "the test did assign something");
}

#[tokio::test]
async fn memory_assignments_delegate_to_the_board() {
    let assignments = MemoryAssignments::new(Board::new(
        vec![offering("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1), agent("bob", &["sales"], 1)],
    ));
    assert!(
        assignments
            .set_presence(&aid("alice"), Presence::Online, 0)
            .await
            .expect("online")
            .is_empty()
    );
    let placement = assignments
        .place(ticket("c1", "sales", 0, 1))
        .await
        .expect("placed");
    assert_eq!(offered_to(&placement), "alice");
    let placement = assignments
        .place(ticket("c2", "sales", 0, 2))
        .await
        .expect("placed");
    assert_eq!(queued_at(&placement), 1);
    assert_eq!(assignments.position("c2").await.expect("position"), Some(1));
    let placements = assignments
        .decline(&aid("alice"), "c1")
        .await
        .expect("declined");
    assert_eq!(summary(&placements), pairs(&[("c2", "alice"), ("c1", "-")]));
    let placement = assignments
        .accept(&aid("alice"), "c2")
        .await
        .expect("accepted");
    assert_eq!(assigned_to(&placement), "alice");
    assert_eq!(
        assignments
            .assign_to(&aid("bob"), ticket("c3", "sales", 0, 3))
            .await,
        Err(AssignError::AgentUnavailable(aid("bob")))
    );
    let placements = assignments
        .set_presence(&aid("bob"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("c1", "bob")]));
    assert_eq!(
        assignments
            .overflow("c1", &tid("sales"))
            .await
            .expect("overflow"),
        None
    );
    let (held, _) = assignments.release("c2").await.expect("released");
    assert_eq!(
        held,
        Some(Held::Assigned {
            team: tid("sales"),
            agent: aid("alice"),
        })
    );
    assert_eq!(assignments.held("c2").await.expect("held"), None);
    assert!(!assignments.is_ready().await.expect("ready?"));
    assert!(
        assignments
            .restore(vec![(ticket("r1", "sales", 0, 1), aid("bob"))], vec![])
            .await
            .expect("restored")
    );
    assert!(assignments.is_ready().await.expect("ready?"));
    assignments
        .heartbeat(&[aid("bob")], 10)
        .await
        .expect("heartbeat");
    assert!(
        assignments
            .expire_presence(11)
            .await
            .expect("expire")
            .is_empty()
    );
    let snapshot = assignments.snapshot().await.expect("snapshot");
    assert_eq!(agent_view(&snapshot, "bob").assigned, ["r1"]);
}

#[test]
fn a_poisoned_lock_does_not_panic_the_next_caller() {
    let assignments = Arc::new(MemoryAssignments::new(Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1)],
    )));
    let poisoner = Arc::clone(&assignments);
    let outcome = std::thread::spawn(move || poisoner.poison_for_test()).join();
    assert!(outcome.is_err(), "the poisoning thread panicked");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let placement = assignments
            .place(ticket("c1", "sales", 0, 1))
            .await
            .expect("placed");
        assert_eq!(queued_at(&placement), 1);
    });
}

/// A decision no step recorded (the store shows no waiting or assigned conversation with its
/// id) is a ghost, but only in the partitions asked about.
#[test]
fn ghosts_are_decisions_the_store_does_not_show_open_in_scope() {
    let held = Held::Queued { team: tid("sales") };
    let holdings = vec![
        (conversation("recorded"), held.clone()),
        (conversation("never-committed"), held.clone()),
        (conversation("elsewhere"), held.clone()),
    ];
    let open: HashSet<&str> = ["recorded"].into_iter().collect();
    let in_scope = |key: &ConversationKey| key.as_str() != "wa:elsewhere";
    let ghosts: Vec<&str> = super::ghosts(&holdings, &open, in_scope)
        .into_iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ghosts, vec!["never-committed"]);
    // Nothing held, nothing to release; everything recorded, nothing either.
    assert!(super::ghosts(&[], &open, |_| true).is_empty());
    let all: HashSet<&str> = ["recorded", "never-committed", "elsewhere"]
        .into_iter()
        .collect();
    assert!(super::ghosts(&holdings, &all, |_| true).is_empty());
}
