//! [`RedisAssignments`] against the [`Board`]: the same random operations applied to both with
//! every answer compared (the proof of parity), concurrent nodes racing on one Redis, a second
//! node, and Redis failing. Each test starts its own `redis-server`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::redis::AsyncCommands;

use super::board::{AgentSpec, Board, TeamSpec};
use super::redis::RedisAssignments;
use super::seam_tests::connection;
use super::tests::{Rng, agent, agent_view, aid, check_invariants, offering, team, ticket, tid};
use super::{AssignError, Assignments, Held, Placement, Snapshot, Strategy, Ticket};
use crate::domain::{AgentId, Presence};
use crate::testkit::redis::RedisServer;

const NAMESPACE: &str = "test";

async fn node(
    server: &RedisServer,
    teams: Vec<TeamSpec>,
    agents: Vec<AgentSpec>,
) -> RedisAssignments {
    node_at(server, teams, agents, 0).await
}

/// A node starting with the configuration of directory version `version`.
async fn node_at(
    server: &RedisServer,
    teams: Vec<TeamSpec>,
    agents: Vec<AgentSpec>,
    version: i64,
) -> RedisAssignments {
    RedisAssignments::connect(connection(server).await, NAMESPACE, teams, agents, version)
        .await
        .expect("connected")
}

async fn raw(server: &RedisServer) -> ::redis::aio::ConnectionManager {
    connection(server).await
}

// ---- the differential test ----

/// Team and agent ids with characters that must not confuse the key layout or the orders: a
/// brace (hash tags), separators, upper case before lower case, multi-byte UTF-8 last.
fn differential_specs() -> (Vec<TeamSpec>, Vec<AgentSpec>, Vec<String>, Vec<String>) {
    let team_names: Vec<String> = ["sales", "support", "vip", "back|up:{x}", "Zero"]
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    let teams = vec![
        team("sales", Strategy::RoundRobin),
        offering("support", Strategy::LeastBusy),
        TeamSpec {
            max_queue: 6,
            ..offering("vip", Strategy::RoundRobin)
        },
        TeamSpec {
            max_queue: 10,
            ..team("back|up:{x}", Strategy::LeastBusy)
        },
        TeamSpec {
            max_queue: 2,
            ..team("Zero", Strategy::RoundRobin)
        },
        // A duplicate keeps the first spec.
        TeamSpec {
            max_queue: 0,
            ..team("sales", Strategy::LeastBusy)
        },
    ];
    let mut agent_names: Vec<String> = (0..8).map(|n| format!("agent{n}")).collect();
    agent_names.extend(
        ["Zoé", "émile", "b{o}b:1|x"]
            .iter()
            .map(|n| (*n).to_owned()),
    );
    let mut agents: Vec<AgentSpec> = agent_names
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let mut mine: Vec<&str> = team_names
                .iter()
                .enumerate()
                .filter(|(t, _)| (n + t) % 3 != 0)
                .map(|(_, team)| team.as_str())
                .collect();
            // Unknown and repeated teams are ignored.
            if n % 4 == 0 {
                mine.push("nowhere");
                mine.push("sales");
            }
            agent(name, &mine, n as u32 % 4)
        })
        .collect();
    agents.push(agent("agent1", &["vip"], 9));
    (teams, agents, team_names, agent_names)
}

/// Where the test keeps what it placed: the tickets, to restore them.
struct Model {
    tickets: HashMap<String, Ticket>,
    next_id: u64,
    clock: i64,
}

async fn compare_snapshots(board: &Board, redis: &RedisAssignments, context: &str) -> Snapshot {
    let expected = board.snapshot().expect("board snapshot");
    let got = redis.snapshot().await.expect("redis snapshot");
    assert_eq!(got, expected, "{context}: snapshots differ");
    expected
}

async fn compare_whereabouts(board: &Board, redis: &RedisAssignments, id: &str, context: &str) {
    let (held, position) = futures::join!(redis.held(id), redis.position(id));
    assert_eq!(held, board.held(id), "{context}: held({id}) differs");
    assert_eq!(
        position,
        board.position(id),
        "{context}: position({id}) differs"
    );
}

/// Apply the same seeded random operations to a board and to Redis; every answer and every
/// snapshot must be equal, and Redis's indexes must agree with its state.
async fn differential(seed: u64, operations: usize) {
    let server = RedisServer::start().expect("redis-server starts");
    let (teams, agents, team_names, agent_names) = differential_specs();
    let mut board = Board::new(teams.clone(), agents.clone());
    let redis = node(&server, teams, agents).await;
    let mut raw = raw(&server).await;
    let ready_key = format!("{}ready", redis.key_prefix());
    let mut rng = Rng::new(seed);
    let mut model = Model {
        tickets: HashMap::new(),
        next_id: 0,
        clock: 1_750_000_000_000,
    };
    let some_team = |rng: &mut Rng| -> String {
        if rng.percent(3) {
            "nowhere".to_owned()
        } else {
            rng.choose(&team_names).expect("teams").clone()
        }
    };
    let some_agent = |rng: &mut Rng| -> AgentId {
        if rng.percent(3) {
            aid("nobody")
        } else {
            aid(rng.choose(&agent_names).expect("agents"))
        }
    };
    let mut counts: HashMap<&'static str, usize> = HashMap::new();

    for step in 0..operations {
        let context = format!("seed {seed} step {step}");
        let before = board.snapshot().expect("snapshot");
        let known: Vec<String> = {
            let mut ids: Vec<String> = model.tickets.keys().cloned().collect();
            ids.sort();
            ids
        };
        let offers: Vec<(AgentId, String)> = before
            .agents
            .iter()
            .flat_map(|view| {
                view.offered
                    .iter()
                    .map(|id| (view.agent.clone(), id.clone()))
            })
            .collect();
        let queued: Vec<String> = before
            .teams
            .iter()
            .flat_map(|view| view.queue.iter().cloned())
            .collect();
        // Calm phases (queues mostly empty) alternate with busy ones (more places than
        // releases, queues fill up to their limits).
        let busy = (step / 400) % 2 == 1;
        let mut roll = rng.below(1_000);
        if busy && (300..550).contains(&roll) && rng.percent(50) {
            roll %= 200;
        }
        let mut touched: Vec<String> = Vec::new();
        let kind: &'static str = match roll {
            0..=199 => {
                model.next_id += 1;
                model.clock += rng.below(3) as i64;
                let id = format!("c{}", model.next_id);
                let priority = match rng.below(20) {
                    0 => i32::MAX,
                    1 => i32::MIN,
                    2 => -1,
                    _ => rng.below(3) as i32,
                };
                let arrival = match rng.below(30) {
                    0 => i64::MIN,
                    1 => i64::MAX,
                    2 => -model.clock,
                    _ => model.clock,
                };
                let mut new_ticket = ticket(&id, &some_team(&mut rng), priority, arrival);
                if rng.percent(20) {
                    new_ticket.preferred_agent = Some(some_agent(&mut rng));
                }
                let expected = board.place(new_ticket.clone());
                let got = redis.place(new_ticket.clone()).await;
                assert_eq!(got, expected, "{context}: place {id}");
                if let Ok(placement) = &expected {
                    model.tickets.insert(id.clone(), new_ticket);
                    touched.push(placement.conversation().id.clone());
                }
                "place"
            }
            200..=219 => {
                // Already placed (whatever the team), or an unknown team.
                let id = rng
                    .choose(&known)
                    .cloned()
                    .unwrap_or_else(|| "c0".to_owned());
                let again = ticket(&id, &some_team(&mut rng), 0, model.clock);
                let expected = board.place(again.clone());
                assert_eq!(
                    redis.place(again.clone()).await,
                    expected,
                    "{context}: place again"
                );
                if expected.is_ok() {
                    model.tickets.insert(id.clone(), again);
                }
                "place again"
            }
            220..=259 => {
                model.next_id += 1;
                let id = if rng.percent(10) {
                    rng.choose(&known).cloned().unwrap_or_default()
                } else {
                    format!("c{}", model.next_id)
                };
                let who = some_agent(&mut rng);
                let new_ticket = ticket(&id, &some_team(&mut rng), 0, model.clock);
                let expected = board.assign_to(&who, new_ticket.clone());
                let got = redis.assign_to(&who, new_ticket.clone()).await;
                assert_eq!(got, expected, "{context}: assign_to {who} {id}");
                if expected.is_ok() {
                    model.tickets.insert(id.clone(), new_ticket);
                    touched.push(id);
                }
                "assign_to"
            }
            260..=519 => {
                let id = match rng.choose(&known) {
                    Some(id) if rng.percent(95) => id.clone(),
                    _ => "missing".to_owned(),
                };
                let expected = board.release(&id).expect("board release");
                let got = redis.release(&id).await.expect("redis release");
                assert_eq!(got, expected, "{context}: release {id}");
                model.tickets.remove(&id);
                touched.extend(expected.1.iter().map(|p| p.conversation().id.clone()));
                "release"
            }
            520..=649 => {
                let who = some_agent(&mut rng);
                let presence = match rng.below(20) {
                    0..=11 => Presence::Online,
                    12..=14 => Presence::Away,
                    _ => Presence::Offline,
                };
                let expected = board.set_presence(&who, presence);
                let got = redis.set_presence(&who, presence).await;
                assert_eq!(got, expected, "{context}: presence {who} {presence:?}");
                if let Ok(placements) = &expected {
                    touched.extend(placements.iter().map(|p| p.conversation().id.clone()));
                }
                "presence"
            }
            650..=709 => {
                let (who, id) = match rng.choose(&offers).cloned() {
                    Some((who, id)) if rng.percent(85) => (who, id),
                    Some((_, id)) => (some_agent(&mut rng), id),
                    None => (some_agent(&mut rng), "missing".to_owned()),
                };
                let expected = board.accept(&who, &id);
                assert_eq!(redis.accept(&who, &id).await, expected, "{context}: accept");
                touched.push(id);
                "accept"
            }
            710..=809 => {
                let (who, id) = match rng.choose(&offers).cloned() {
                    Some((who, id)) if rng.percent(85) => (who, id),
                    Some((_, id)) => (some_agent(&mut rng), id),
                    None => (some_agent(&mut rng), "missing".to_owned()),
                };
                let expected = board.decline(&who, &id);
                let got = redis.decline(&who, &id).await;
                assert_eq!(got, expected, "{context}: decline {who} {id}");
                if let Ok(placements) = &expected {
                    touched.extend(placements.iter().map(|p| p.conversation().id.clone()));
                }
                "decline"
            }
            810..=869 => {
                let id = match rng.below(10) {
                    0 => "missing".to_owned(),
                    1..=2 => rng.choose(&known).cloned().unwrap_or_default(),
                    _ => rng.choose(&queued).cloned().unwrap_or_default(),
                };
                let to = tid(&some_team(&mut rng));
                let expected = board.overflow(&id, &to);
                assert_eq!(
                    redis.overflow(&id, &to).await,
                    expected,
                    "{context}: overflow {id} {to}"
                );
                if let Ok(Some(_)) = &expected
                    && let Some(entry) = model.tickets.get_mut(&id)
                {
                    entry.team = to.clone();
                }
                touched.push(id);
                "overflow"
            }
            870..=909 => {
                let mut who: Vec<AgentId> = Vec::new();
                for _ in 0..rng.below(5) {
                    who.push(some_agent(&mut rng));
                }
                let until = match rng.below(40) {
                    0 => i64::MIN,
                    1 => i64::MAX,
                    _ => model.clock + rng.below(20) as i64 - 5,
                };
                board.heartbeat(&who, until);
                redis.heartbeat(&who, until).await.expect("heartbeat");
                "heartbeat"
            }
            910..=949 => {
                model.clock += rng.below(10) as i64;
                let now = match rng.below(40) {
                    0 => i64::MIN,
                    1 => i64::MAX,
                    _ => model.clock,
                };
                let expected = board.expire_presence(now);
                let got = redis.expire_presence(now).await.expect("expire");
                assert_eq!(got, expected, "{context}: expire at {now}");
                "expire"
            }
            950..=979 => {
                for _ in 0..3 {
                    let id = match rng.choose(&known) {
                        Some(id) if rng.percent(90) => id.clone(),
                        _ => "missing".to_owned(),
                    };
                    compare_whereabouts(&board, &redis, &id, &context).await;
                }
                "query"
            }
            _ => {
                // A restart: what agents hold (offers become assignments) and what waits, in
                // any order, with some junk that both must skip the same way.
                let mut assigned = Vec::new();
                for view in &before.agents {
                    for id in view.assigned.iter().chain(&view.offered) {
                        let mut held = model.tickets[id].clone();
                        if let Some(Held::Assigned { team, .. } | Held::Offered { team, .. }) =
                            board.held(id).expect("held")
                        {
                            held.team = team;
                        }
                        assigned.push((held, view.agent.clone()));
                    }
                }
                let mut waiting = Vec::new();
                for view in &before.teams {
                    for id in &view.queue {
                        let mut queued = model.tickets[id].clone();
                        queued.team = view.team.clone();
                        waiting.push(queued);
                    }
                }
                if rng.percent(50) {
                    waiting.reverse();
                    assigned.reverse();
                }
                if rng.percent(30) {
                    assigned.push((ticket("junk1", "sales", 0, 0), aid("nobody")));
                    assigned.push((ticket("junk2", "nowhere", 0, 0), aid("agent1")));
                    waiting.push(ticket("junk3", "nowhere", 0, 0));
                    if let Some(first) = waiting.first().cloned() {
                        waiting.push(first);
                    }
                }
                if rng.percent(25) {
                    // The state is ready (another node restored it): nothing changes.
                    let _: () = raw.set(&ready_key, "1").await.expect("set marker");
                    assert!(!redis.restore(assigned, waiting).await.expect("restore"));
                    "restore (ready)"
                } else {
                    let _: () = raw.del(&ready_key).await.expect("delete marker");
                    board
                        .restore(assigned.clone(), waiting.clone())
                        .expect("board restore");
                    assert!(redis.restore(assigned, waiting).await.expect("restore"));
                    // What the board forgot, the model forgets.
                    model
                        .tickets
                        .retain(|id, _| board.held(id).ok().flatten().is_some());
                    "restore"
                }
            }
        };
        *counts.entry(kind).or_default() += 1;

        // Every answer above was compared; the whole state is compared every other step and
        // after every restore, the read paths for one conversation the step touched.
        let context = format!("{context} ({kind})");
        let whole = step % 2 == 1 || kind.starts_with("restore");
        let id = touched.first().cloned();
        futures::join!(
            async {
                if whole {
                    compare_snapshots(&board, &redis, &context).await;
                }
            },
            async {
                if let Some(id) = &id {
                    compare_whereabouts(&board, &redis, id, &context).await;
                }
            }
        );
        if step % 100 == 99 {
            if let Err(problem) = redis.audit().await {
                panic!("{context}: redis audit: {problem}");
            }
            if let Err(problem) = board.audit() {
                panic!("{context}: board audit: {problem}");
            }
        }
    }
    if let Err(problem) = redis.audit().await {
        panic!("seed {seed} end: redis audit: {problem}");
    }
    for id in model.tickets.keys() {
        compare_whereabouts(&board, &redis, id, "end").await;
    }
    // Every kind of operation ran, and something was decided.
    for kind in [
        "place",
        "place again",
        "assign_to",
        "release",
        "presence",
        "accept",
        "decline",
        "overflow",
        "heartbeat",
        "expire",
        "restore",
    ] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) > 0,
            "seed {seed}: no {kind}"
        );
    }
}

#[tokio::test]
async fn differential_seed_1() {
    differential(1, 2_000).await;
}

#[tokio::test]
async fn differential_seed_2() {
    differential(2, 2_000).await;
}

#[tokio::test]
async fn differential_seed_3() {
    differential(3, 2_000).await;
}

#[tokio::test]
async fn differential_seed_4() {
    differential(4, 2_000).await;
}

// ---- concurrency ----

fn concurrent_specs() -> (Vec<TeamSpec>, Vec<AgentSpec>) {
    let teams = vec![
        team("sales", Strategy::RoundRobin),
        offering("support", Strategy::LeastBusy),
        TeamSpec {
            max_queue: 20,
            ..offering("vip", Strategy::RoundRobin)
        },
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
    (teams, agents)
}

/// Several nodes (each its own connection), customers placing and releasing, agents changing
/// presence, accepting and declining, consoles heartbeating and leases expiring, all at once on
/// one Redis: no conversation assigned twice, no load above capacity, loads equal holdings,
/// queues and placements consistent, every index right.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_nodes_never_break_an_invariant() {
    let server = RedisServer::start().expect("redis-server starts");
    let (teams, agents) = concurrent_specs();
    let mut nodes = Vec::new();
    for _ in 0..4 {
        nodes.push(Arc::new(node(&server, teams.clone(), agents.clone()).await));
    }
    for n in 0..12 {
        nodes[n % 4]
            .set_presence(&aid(&format!("agent{n}")), Presence::Online)
            .await
            .expect("online");
    }
    let team_names = ["sales", "support", "vip"];
    let mut customers = Vec::new();
    for task in 0..6u64 {
        let seam = Arc::clone(&nodes[task as usize % 4]);
        customers.push(tokio::spawn(async move {
            let mut rng = Rng::new(100 + task);
            let mut seen = Vec::new();
            let mut mine: Vec<String> = Vec::new();
            for n in 0..300 {
                if rng.percent(50) || mine.is_empty() {
                    let id = format!("t{task}-{n}");
                    let team = *rng.choose(&team_names).expect("teams");
                    let arrival = n * 8 + task as i64;
                    let mut new_ticket = ticket(&id, team, rng.below(3) as i32, arrival);
                    if rng.percent(20) {
                        new_ticket.preferred_agent = Some(aid(&format!("agent{}", rng.below(12))));
                    }
                    match seam.place(new_ticket).await {
                        Ok(placement) => {
                            seen.push(placement);
                            mine.push(id);
                        }
                        Err(AssignError::QueueFull(_)) => {}
                        Err(error) => panic!("place: {error}"),
                    }
                } else {
                    let id = mine.swap_remove(rng.below(mine.len()));
                    let (held, placements) = seam.release(&id).await.expect("release");
                    assert!(held.is_some(), "{id} was lost");
                    seen.extend(placements);
                }
            }
            (seen, mine, Vec::<(AgentId, String)>::new())
        }));
    }
    let mut consoles = Vec::new();
    for task in 0..4u64 {
        let seam = Arc::clone(&nodes[(task as usize + 1) % 4]);
        consoles.push(tokio::spawn(async move {
            let mut rng = Rng::new(200 + task);
            let mut seen = Vec::new();
            let mut declines = Vec::new();
            let names: Vec<AgentId> = (0..12)
                .filter(|n| n % 4 == task as usize)
                .map(|n| aid(&format!("agent{n}")))
                .collect();
            for step in 0..250i64 {
                let name = rng.choose(&names).expect("agents").clone();
                match rng.below(12) {
                    0..=2 => {
                        let presence = if rng.percent(70) {
                            Presence::Online
                        } else {
                            Presence::Away
                        };
                        seen.extend(seam.set_presence(&name, presence).await.expect("presence"));
                    }
                    3 => {
                        seam.heartbeat(&names, step + rng.below(5) as i64)
                            .await
                            .expect("heartbeat");
                    }
                    4 => {
                        seam.expire_presence(step).await.expect("expire");
                    }
                    _ => {
                        let snapshot = seam.snapshot().await.expect("snapshot");
                        let offered = agent_view(&snapshot, name.as_str()).offered.clone();
                        if let Some(id) = rng.choose(&offered).cloned() {
                            if rng.percent(50) {
                                match seam.accept(&name, &id).await {
                                    Ok(placement) => seen.push(placement),
                                    // Released by its customer in the meantime.
                                    Err(AssignError::NotOffered(_)) => {}
                                    Err(error) => panic!("accept: {error}"),
                                }
                            } else {
                                match seam.decline(&name, &id).await {
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
            }
            // Everyone ends online, which drains what can be drained.
            for name in &names {
                seen.extend(
                    seam.set_presence(name, Presence::Online)
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
    for handle in customers.into_iter().chain(consoles) {
        let (seen, mine, declines) = handle.await.expect("task");
        placements.extend(seen);
        unreleased.extend(mine);
        for (agent, id) in declines {
            declined.entry(id).or_default().insert(agent);
        }
    }

    // Ids are never reused: at most one assignment per conversation, offers to distinct agents,
    // an assignment in an offering team only to an agent it was offered to.
    let mut assigned: HashMap<String, Vec<AgentId>> = HashMap::new();
    let mut offered: HashMap<String, Vec<AgentId>> = HashMap::new();
    for placement in &placements {
        match placement {
            Placement::Assigned {
                conversation,
                agent,
                ..
            } => assigned
                .entry(conversation.id.clone())
                .or_default()
                .push(agent.clone()),
            Placement::Offered {
                conversation,
                agent,
                ..
            } => offered
                .entry(conversation.id.clone())
                .or_default()
                .push(agent.clone()),
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
            "{id} offered twice to one agent"
        );
    }

    // Everyone online at the end: check the queues hold nothing an online agent could take.
    let last = &nodes[0];
    for n in 0..12 {
        last.set_presence(&aid(&format!("agent{n}")), Presence::Online)
            .await
            .expect("online");
    }
    let snapshot = last.snapshot().await.expect("snapshot");
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
        assert!(nodes[3].held(id).await.expect("held").is_some());
    }
    if let Err(problem) = last.audit().await {
        panic!("audit: {problem}");
    }
    assert!(!assigned.is_empty(), "the test did assign something");
    // Every node sees the same state.
    for other in &nodes[1..] {
        assert_eq!(other.snapshot().await.expect("snapshot"), snapshot);
    }
}

// ---- several nodes ----

#[tokio::test]
async fn a_second_node_sees_and_respects_the_first() {
    let server = RedisServer::start().expect("redis-server starts");
    let (teams, agents) = (
        vec![
            team("sales", Strategy::RoundRobin),
            offering("support", Strategy::LeastBusy),
        ],
        vec![
            agent("alice", &["sales", "support"], 2),
            agent("bob", &["sales"], 1),
        ],
    );
    let first = node(&server, teams.clone(), agents.clone()).await;
    assert!(first.restore(vec![], vec![]).await.expect("restore"));
    first
        .set_presence(&aid("alice"), Presence::Online)
        .await
        .expect("online");
    first
        .heartbeat(&[aid("alice")], 100)
        .await
        .expect("heartbeat");
    first
        .place(ticket("c1", "sales", 0, 1))
        .await
        .expect("placed");
    first
        .place(ticket("c2", "support", 0, 2))
        .await
        .expect("placed");
    let placement = first
        .place(ticket("c3", "sales", 0, 3))
        .await
        .expect("placed");
    assert!(matches!(placement, Placement::Queued { position: 1, .. }));
    let before = first.snapshot().await.expect("snapshot");

    // A node starting with the same configuration resets nothing.
    let second = node(&server, teams, agents).await;
    assert_eq!(second.snapshot().await.expect("snapshot"), before);
    assert!(second.is_ready().await.expect("ready?"));
    assert!(!second.restore(vec![], vec![]).await.expect("restore"));
    assert_eq!(second.snapshot().await.expect("snapshot"), before);
    assert_eq!(
        second.held("c1").await.expect("held"),
        Some(Held::Assigned {
            team: tid("sales"),
            agent: aid("alice")
        })
    );
    assert_eq!(second.position("c3").await.expect("position"), Some(1));
    // alice is full from the first node's decisions: the second node queues.
    assert_eq!(
        second.place(ticket("c1", "sales", 0, 1)).await,
        Err(AssignError::AlreadyPlaced("c1".to_owned()))
    );
    assert_eq!(
        second
            .assign_to(&aid("alice"), ticket("c4", "sales", 0, 4))
            .await,
        Err(AssignError::AgentUnavailable(aid("alice")))
    );
    // bob comes online on the second node and takes the first node's queued conversation
    // (after alice, in turn).
    let placements = second
        .set_presence(&aid("bob"), Presence::Online)
        .await
        .expect("online");
    assert_eq!(placements.len(), 1);
    assert_eq!(placements[0].conversation().id, "c3");
    // The first node's offer is accepted through the second; the lease set through the first
    // expires through the second.
    second.accept(&aid("alice"), "c2").await.expect("accepted");
    assert_eq!(
        second.expire_presence(101).await.expect("expire"),
        [aid("alice")]
    );
    let view = first.snapshot().await.expect("snapshot");
    assert_eq!(
        agent_view(&view, "alice").assigned,
        ["c1".to_owned(), "c2".to_owned()]
    );
    assert_eq!(agent_view(&view, "alice").presence, Presence::Offline);
    assert_eq!(agent_view(&view, "bob").assigned, ["c3".to_owned()]);
    first.audit().await.expect("consistent");
}

#[tokio::test]
async fn a_node_with_a_changed_configuration_keeps_the_live_state() {
    let server = RedisServer::start().expect("redis-server starts");
    let first = node(
        &server,
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1), agent("bob", &["sales"], 1)],
    )
    .await;
    first
        .set_presence(&aid("alice"), Presence::Online)
        .await
        .expect("online");
    first
        .place(ticket("c1", "sales", 0, 1))
        .await
        .expect("placed");
    first
        .place(ticket("c2", "sales", 0, 2))
        .await
        .expect("queued");
    // A new node with a newer version: alice has more room, bob is gone, carol and a
    // least-busy team are new.
    let second = node_at(
        &server,
        vec![
            team("sales", Strategy::RoundRobin),
            team("support", Strategy::LeastBusy),
        ],
        vec![
            agent("alice", &["sales", "support"], 3),
            agent("carol", &["support"], 1),
        ],
        1,
    )
    .await;
    let view = second.snapshot().await.expect("snapshot");
    let names: Vec<&str> = view.agents.iter().map(|a| a.agent.as_str()).collect();
    assert_eq!(names, ["alice", "carol"]);
    let alice = agent_view(&view, "alice");
    assert_eq!(
        (alice.presence, alice.load, alice.capacity),
        (Presence::Online, 1, 3)
    );
    assert_eq!(view.teams[0].queue, ["c2"]);
    assert_eq!(
        second.set_presence(&aid("bob"), Presence::Online).await,
        Err(AssignError::UnknownAgent(aid("bob")))
    );
    // The new capacity counts at once (the queue drains on the next change).
    let placement = second
        .place(ticket("c3", "support", 0, 3))
        .await
        .expect("placed");
    assert!(matches!(placement, Placement::Assigned { .. }));
    let (_, placements) = second.release("c3").await.expect("released");
    assert_eq!(placements.len(), 1);
    assert_eq!(placements[0].conversation().id, "c2");
    second.audit().await.expect("consistent");
}

// ---- failures ----

#[tokio::test]
async fn restore_leaves_a_ready_state_alone() {
    let server = RedisServer::start().expect("redis-server starts");
    let seam = node(
        &server,
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1)],
    )
    .await;
    assert!(!seam.is_ready().await.expect("ready?"));
    assert!(
        seam.restore(vec![], vec![ticket("w1", "sales", 0, 1)])
            .await
            .expect("restored")
    );
    seam.set_presence(&aid("alice"), Presence::Online)
        .await
        .expect("online");
    let before = seam.snapshot().await.expect("snapshot");
    assert!(
        !seam
            .restore(vec![(ticket("x", "sales", 0, 1), aid("alice"))], vec![])
            .await
            .expect("restore")
    );
    assert_eq!(seam.snapshot().await.expect("snapshot"), before);
    assert!(seam.is_ready().await.expect("ready?"));
}

#[tokio::test]
async fn every_key_lives_under_the_namespace_hash_tag() {
    let server = RedisServer::start().expect("redis-server starts");
    let seam = node(
        &server,
        vec![offering("{odd}:team", Strategy::LeastBusy)],
        vec![
            agent("a:{b}|c", &["{odd}:team"], 1),
            agent("d", &["{odd}:team"], 1),
        ],
    )
    .await;
    assert!(seam.restore(vec![], vec![]).await.expect("restore"));
    seam.set_presence(&aid("a:{b}|c"), Presence::Online)
        .await
        .expect("online");
    seam.heartbeat(&[aid("a:{b}|c")], 5)
        .await
        .expect("heartbeat");
    seam.place(ticket("{c}1", "{odd}:team", 0, 1))
        .await
        .expect("placed");
    seam.place(ticket("c|2", "{odd}:team", 0, 2))
        .await
        .expect("placed");
    seam.decline(&aid("a:{b}|c"), "{c}1")
        .await
        .expect("declined");
    let mut raw = raw(&server).await;
    let keys: Vec<String> = raw.keys("*").await.expect("keys");
    assert!(keys.len() > 10, "{keys:?}");
    for key in &keys {
        assert!(key.starts_with("sb:{test}:"), "{key} outside the hash tag");
    }
    seam.audit().await.expect("consistent");
}

#[tokio::test]
async fn an_invalid_namespace_is_refused() {
    let server = RedisServer::start().expect("redis-server starts");
    for namespace in ["", "a{b", "a}b"] {
        let result =
            RedisAssignments::connect(connection(&server).await, namespace, vec![], vec![], 0)
                .await;
        assert!(
            matches!(result, Err(AssignError::Unavailable(_))),
            "{namespace:?}"
        );
    }
}

#[tokio::test]
async fn a_script_error_is_unavailable_and_changes_nothing() {
    let server = RedisServer::start().expect("redis-server starts");
    let seam = node(
        &server,
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1)],
    )
    .await;
    seam.place(ticket("c1", "sales", 0, 1))
        .await
        .expect("queued");
    // Something outside the gateway breaks a key (wrong type).
    let mut raw = raw(&server).await;
    let teams_key = format!("{}teams", seam.key_prefix());
    let saved: Vec<String> = raw.zrange(&teams_key, 0, -1).await.expect("teams");
    let _: () = raw.del(&teams_key).await.expect("del");
    let _: () = raw.set(&teams_key, "oops").await.expect("set");
    for result in [
        seam.place(ticket("c2", "sales", 0, 2)).await.map(|_| ()),
        seam.set_presence(&aid("alice"), Presence::Online)
            .await
            .map(|_| ()),
        seam.snapshot().await.map(|_| ()),
    ] {
        match result {
            Err(AssignError::Unavailable(message)) => assert!(!message.is_empty()),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    let _: () = raw.del(&teams_key).await.expect("del");
    for team in saved {
        let _: () = raw.zadd(&teams_key, team, 0).await.expect("zadd");
    }
    assert_eq!(seam.held("c2").await.expect("held"), None);
    assert_eq!(seam.position("c1").await.expect("position"), Some(1));
    seam.audit().await.expect("consistent");
}

#[tokio::test]
async fn a_lost_configuration_is_synced_again() {
    let server = RedisServer::start().expect("redis-server starts");
    let seam = node(
        &server,
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1)],
    )
    .await;
    assert!(seam.restore(vec![], vec![]).await.expect("restore"));
    seam.place(ticket("c1", "sales", 0, 1))
        .await
        .expect("queued");
    let mut raw = raw(&server).await;
    let _: () = ::redis::cmd("FLUSHALL")
        .query_async(&mut raw)
        .await
        .expect("flushed");
    // Redis lost everything (and the scripts): not ready, but decisions work at once.
    assert!(!seam.is_ready().await.expect("ready?"));
    assert_eq!(seam.held("c1").await.expect("held"), None);
    let placements = seam
        .set_presence(&aid("alice"), Presence::Online)
        .await
        .expect("online");
    assert!(placements.is_empty());
    let placement = seam
        .place(ticket("c2", "sales", 0, 2))
        .await
        .expect("placed");
    assert!(matches!(placement, Placement::Assigned { .. }));
    assert!(seam.restore(vec![], vec![]).await.expect("rebuilt"));
    seam.audit().await.expect("consistent");
}

#[tokio::test]
async fn redis_down_is_unavailable_and_recovers_with_its_state() {
    let mut server = RedisServer::start().expect("redis-server starts");
    let seam = node(
        &server,
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1)],
    )
    .await;
    seam.set_presence(&aid("alice"), Presence::Online)
        .await
        .expect("online");
    seam.place(ticket("c1", "sales", 0, 1))
        .await
        .expect("assigned");
    let before = seam.snapshot().await.expect("snapshot");
    server.kill();
    let results = [
        seam.place(ticket("c2", "sales", 0, 2)).await.map(|_| ()),
        seam.release("c1").await.map(|_| ()),
        seam.held("c1").await.map(|_| ()),
        seam.is_ready().await.map(|_| ()),
        seam.snapshot().await.map(|_| ()),
    ];
    for result in results {
        assert!(
            matches!(result, Err(AssignError::Unavailable(_))),
            "expected Unavailable, got {result:?}"
        );
    }
    server.restart().expect("restarted");
    // The connection comes back by itself; the state survived (append-only file).
    let deadline = Instant::now() + Duration::from_secs(15);
    let snapshot = loop {
        match seam.snapshot().await {
            Ok(snapshot) => break snapshot,
            Err(AssignError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("did not recover: {error}"),
        }
    };
    assert_eq!(snapshot, before);
    let placement = seam
        .place(ticket("c2", "sales", 0, 2))
        .await
        .expect("placed");
    assert!(matches!(placement, Placement::Queued { position: 1, .. }));
}

#[tokio::test]
async fn zz_timing_probe() {
    let server = RedisServer::start().expect("redis-server starts");
    let (teams, agents, _, _) = differential_specs();
    let redis = node(&server, teams, agents).await;
    for n in 0..11 {
        let _ = redis
            .set_presence(&aid(&format!("agent{n}")), Presence::Online)
            .await;
    }
    let mut raw = raw(&server).await;
    let start = Instant::now();
    for _ in 0..500 {
        let _: () = ::redis::cmd("PING")
            .query_async(&mut raw)
            .await
            .expect("ping");
    }
    eprintln!("ping {:?}", start.elapsed() / 500);
    let start = Instant::now();
    for n in 0..500 {
        redis
            .place(ticket(&format!("x{n}"), "sales", 0, n))
            .await
            .expect("p");
    }
    eprintln!("place {:?}", start.elapsed() / 500);
    let start = Instant::now();
    for _ in 0..200 {
        redis.snapshot().await.expect("s");
    }
    eprintln!("snapshot {:?}", start.elapsed() / 200);
    let start = Instant::now();
    for n in 0..200 {
        redis.held(&format!("x{n}")).await.expect("h");
    }
    eprintln!("held {:?}", start.elapsed() / 200);
}
