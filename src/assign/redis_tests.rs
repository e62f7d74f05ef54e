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
use super::tests::{
    Rng, agent, agent_view, aid, check_invariants, offering, reconfigured, team, ticket, tid,
};
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
    let redis = node(&server, teams.clone(), agents.clone()).await;
    let mut raw = raw(&server).await;
    // Runtime configuration: the pools add a team and agents that start out unconfigured.
    let mut team_pool = team_names.clone();
    team_pool.push("fresh|{t}".to_owned());
    let mut agent_pool = agent_names.clone();
    agent_pool.extend(["newbie".to_owned(), "z|{y}".to_owned()]);
    let (team_names, agent_names) = (team_pool.clone(), agent_pool.clone());
    let mut config = (teams, agents);
    let mut version = 0i64;
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
        let mut roll = rng.below(1_090);
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
                let expected = board.set_presence(&who, presence, model.clock);
                let got = redis.set_presence(&who, presence, model.clock).await;
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
            1_000..=1_039 => {
                // A new configuration, or now and then a stale copy of one.
                let (teams, agents) =
                    reconfigured(&mut rng, &config.0, &config.1, &team_pool, &agent_pool);
                let at = if rng.percent(15) {
                    version - rng.below(2) as i64
                } else {
                    version + 1 + rng.below(3) as i64
                };
                let expected = board.configure(teams.clone(), agents.clone(), at);
                let got = redis
                    .configure(teams.clone(), agents.clone(), at)
                    .await
                    .expect("redis configure");
                assert_eq!(got, expected, "{context}: configure v{at}");
                if expected.applied {
                    version = at;
                    config = (teams, agents);
                    touched.extend(
                        expected
                            .placements
                            .iter()
                            .map(|p| p.conversation().id.clone()),
                    );
                    "configure"
                } else {
                    "configure (stale)"
                }
            }
            1_040..=1_069 => {
                // Mostly what an agent holds, now and then something queued or missing.
                let held: Vec<String> = before
                    .agents
                    .iter()
                    .flat_map(|view| view.assigned.iter().chain(&view.offered).cloned())
                    .collect();
                let id = match rng.below(10) {
                    0 => "missing".to_owned(),
                    1 => rng.choose(&queued).cloned().unwrap_or_default(),
                    _ => rng.choose(&held).cloned().unwrap_or_default(),
                };
                let expected = board.requeue(&id);
                let got = redis.requeue(&id).await.expect("redis requeue");
                assert_eq!(got, expected, "{context}: requeue {id}");
                touched.push(id);
                "requeue"
            }
            1_070..=1_089 => {
                let who = some_agent(&mut rng);
                assert_eq!(
                    redis.holdings_of(&who).await.expect("holdings"),
                    board.holdings_of(&who),
                    "{context}: holdings_of {who}"
                );
                assert_eq!(
                    redis.configured_version().await.expect("version"),
                    board.configured_version(),
                    "{context}: configured version"
                );
                "holdings_of"
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
        let reconfiguring = kind.starts_with("configure") || kind == "requeue";
        let whole = step % 2 == 1 || kind.starts_with("restore") || reconfiguring;
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
        if step % 100 == 99 || reconfiguring {
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
        "configure",
        "configure (stale)",
        "requeue",
        "holdings_of",
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

#[tokio::test]
async fn differential_seed_5() {
    differential(5, 2_000).await;
}

#[tokio::test]
async fn differential_seed_6() {
    differential(6, 2_000).await;
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
            .set_presence(&aid(&format!("agent{n}")), Presence::Online, 0)
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
                        seen.extend(
                            seam.set_presence(&name, presence, 0)
                                .await
                                .expect("presence"),
                        );
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
                    seam.set_presence(name, Presence::Online, 0)
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
        last.set_presence(&aid(&format!("agent{n}")), Presence::Online, 0)
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
        .set_presence(&aid("alice"), Presence::Online, 0)
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
        .set_presence(&aid("bob"), Presence::Online, 0)
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
        .set_presence(&aid("alice"), Presence::Online, 0)
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
        second.set_presence(&aid("bob"), Presence::Online, 0).await,
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

// ---- configuration at runtime ----

#[tokio::test]
async fn nodes_converge_on_the_newest_configuration() {
    let server = RedisServer::start().expect("redis-server starts");
    let sales = || vec![team("sales", Strategy::RoundRobin)];
    let v1 = || vec![agent("alice", &["sales"], 1)];
    let v2 = || vec![agent("alice", &["sales"], 1), agent("bob", &["sales"], 1)];
    let first = node_at(&server, sales(), v1(), 1).await;
    assert_eq!(first.configured_version().await.expect("version"), 1);
    // A node starting with an older copy changes nothing; so does one with another copy of the
    // same version (the first one written wins, with a warning).
    let stale = node_at(&server, sales(), v2(), 0).await;
    let same = node_at(&server, sales(), v2(), 1).await;
    for seam in [&first, &stale, &same] {
        let view = seam.snapshot().await.expect("snapshot");
        assert_eq!(view.agents.len(), 1);
        assert_eq!(seam.configured_version().await.expect("version"), 1);
    }
    // A configure on one node counts at once on every node.
    let configured = stale.configure(sales(), v2(), 2).await.expect("configure");
    assert!(configured.applied);
    assert_eq!(first.configured_version().await.expect("version"), 2);
    let placements = first
        .set_presence(&aid("bob"), Presence::Online, 0)
        .await
        .expect("bob is known everywhere");
    assert!(placements.is_empty());
    assert_eq!(
        assigned_to_of(
            &first
                .place(ticket("c1", "sales", 0, 1))
                .await
                .expect("placed")
        ),
        "bob"
    );
    // An older one, from any node, never goes back.
    assert!(
        !first
            .configure(sales(), v1(), 1)
            .await
            .expect("configure")
            .applied
    );
    assert!(
        !same
            .configure(sales(), vec![], 2)
            .await
            .expect("configure")
            .applied
    );
    assert_eq!(first.snapshot().await.expect("snapshot").agents.len(), 2);
    // A node restarting with its start-up configuration (version 0) leaves it alone.
    let restarted = node(&server, sales(), v1()).await;
    assert_eq!(
        restarted.snapshot().await.expect("snapshot").agents.len(),
        2
    );
    first.audit().await.expect("consistent");
}

fn assigned_to_of(placement: &Placement) -> &str {
    match placement {
        Placement::Assigned { agent, .. } => agent.as_str(),
        other => panic!("expected an assignment, got {other:?}"),
    }
}

#[tokio::test]
async fn a_lost_configuration_is_written_again_at_the_newest_version_this_node_knows() {
    let server = RedisServer::start().expect("redis-server starts");
    let sales = || vec![team("sales", Strategy::RoundRobin)];
    let seam = node(&server, sales(), vec![agent("alice", &["sales"], 1)]).await;
    let configured = seam
        .configure(sales(), vec![agent("bob", &["sales"], 1)], 7)
        .await
        .expect("configure");
    assert!(configured.applied);
    // An older copy given later does not replace what the node would write again.
    assert!(
        !seam
            .configure(sales(), vec![agent("carol", &["sales"], 1)], 3)
            .await
            .expect("configure")
            .applied
    );
    let mut raw = raw(&server).await;
    let _: () = ::redis::cmd("FLUSHALL")
        .query_async(&mut raw)
        .await
        .expect("flushed");
    assert!(
        seam.set_presence(&aid("bob"), Presence::Online, 0)
            .await
            .expect("bob, of version 7")
            .is_empty()
    );
    assert_eq!(seam.configured_version().await.expect("version"), 7);
    let names: Vec<String> = seam
        .snapshot()
        .await
        .expect("snapshot")
        .agents
        .iter()
        .map(|view| view.agent.as_str().to_owned())
        .collect();
    assert_eq!(names, ["bob"]);
    seam.audit().await.expect("consistent");
}

#[tokio::test]
async fn a_configuration_without_a_version_is_replaced_at_connect() {
    // What a gateway from before versions left in Redis: a configuration hash with only a
    // fingerprint. Any version replaces it; reading the version writes this node's.
    let server = RedisServer::start().expect("redis-server starts");
    let sales = || vec![team("sales", Strategy::RoundRobin)];
    let seam = node(&server, sales(), vec![agent("alice", &["sales"], 1)]).await;
    let mut raw = raw(&server).await;
    let config_key = format!("{}config", seam.key_prefix());
    let _: () = raw.hdel(&config_key, "version").await.expect("hdel");
    assert_eq!(seam.configured_version().await.expect("version"), 0);
    let _: () = raw.hdel(&config_key, "version").await.expect("hdel");
    let other = node_at(&server, sales(), vec![agent("bob", &["sales"], 1)], -5).await;
    assert_eq!(other.configured_version().await.expect("version"), -5);
    assert_eq!(
        seam.snapshot().await.expect("snapshot").agents[0].agent,
        aid("bob")
    );
    seam.audit().await.expect("consistent");
}

/// Nodes deciding while the configuration changes under them (memberships, capacities, an agent
/// leaving and coming back, from any node, some copies stale) and its retired agent's holdings
/// requeued: every index stays right and every node sees one state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_configures_never_break_an_invariant() {
    let server = RedisServer::start().expect("redis-server starts");
    let (teams, agents) = concurrent_specs();
    let mut nodes = Vec::new();
    for _ in 0..4 {
        nodes.push(Arc::new(node(&server, teams.clone(), agents.clone()).await));
    }
    for n in 0..12 {
        nodes[n % 4]
            .set_presence(&aid(&format!("agent{n}")), Presence::Online, 0)
            .await
            .expect("online");
    }
    let team_names = ["sales", "support", "vip"];
    let mut customers = Vec::new();
    for task in 0..4u64 {
        let seam = Arc::clone(&nodes[task as usize % 4]);
        customers.push(tokio::spawn(async move {
            let mut rng = Rng::new(300 + task);
            let mut mine: Vec<String> = Vec::new();
            for n in 0..250 {
                if rng.percent(55) || mine.is_empty() {
                    let id = format!("t{task}-{n}");
                    let team = *rng.choose(&team_names).expect("teams");
                    match seam.place(ticket(&id, team, rng.below(3) as i32, n)).await {
                        Ok(_) => mine.push(id),
                        Err(AssignError::QueueFull(_) | AssignError::UnknownTeam(_)) => {}
                        Err(error) => panic!("place: {error}"),
                    }
                } else {
                    let id = mine.swap_remove(rng.below(mine.len()));
                    let (held, _) = seam.release(&id).await.expect("release");
                    assert!(held.is_some(), "{id} was lost");
                }
            }
            mine
        }));
    }
    let configurator = {
        let nodes: Vec<Arc<RedisAssignments>> = nodes.iter().map(Arc::clone).collect();
        let (teams, agents) = (teams.clone(), agents.clone());
        tokio::spawn(async move {
            let mut rng = Rng::new(400);
            let team_pool: Vec<String> = team_names.iter().map(|t| (*t).to_owned()).collect();
            let agent_pool: Vec<String> = (0..12).map(|n| format!("agent{n}")).collect();
            let mut config = (teams, agents);
            let (mut applied, mut requeued) = (0, 0);
            for version in 1..=60i64 {
                let seam = &nodes[version as usize % 4];
                let (teams, agents) =
                    reconfigured(&mut rng, &config.0, &config.1, &team_pool, &agent_pool);
                // Some copies arrive late (their version is behind): never applied.
                let at = if rng.percent(20) {
                    version - 2
                } else {
                    version * 2
                };
                let configured = seam
                    .configure(teams.clone(), agents.clone(), at)
                    .await
                    .expect("configure");
                if configured.applied {
                    config = (teams, agents);
                    applied += 1;
                }
                // What retired agents hold goes back to the queues.
                let view = seam.snapshot().await.expect("snapshot");
                let (_, live) = super::board::normalize(config.0.clone(), config.1.clone());
                for agent in &view.agents {
                    if live.iter().all(|spec| spec.id != agent.agent) {
                        for held in seam.holdings_of(&agent.agent).await.expect("holdings") {
                            seam.requeue(&held.id).await.expect("requeue");
                            requeued += 1;
                        }
                    }
                }
                for name in &agent_pool {
                    if rng.percent(30) {
                        let _ = seam.set_presence(&aid(name), Presence::Online, 0).await;
                    }
                }
                tokio::task::yield_now().await;
            }
            (applied, requeued)
        })
    };
    let mut unreleased: HashSet<String> = HashSet::new();
    for handle in customers {
        unreleased.extend(handle.await.expect("task"));
    }
    let (applied, requeued) = configurator.await.expect("configurator");
    assert!(
        applied > 30 && requeued > 0,
        "{applied} applied, {requeued} requeued"
    );

    // Back to the full configuration, everyone online: nothing waits that someone could take.
    let last = &nodes[0];
    let configured = last
        .configure(teams, agents, i64::MAX)
        .await
        .expect("configure");
    assert!(configured.applied);
    for n in 0..12 {
        last.set_presence(&aid(&format!("agent{n}")), Presence::Online, 0)
            .await
            .expect("online");
    }
    let snapshot = last.snapshot().await.expect("snapshot");
    check_invariants(&snapshot, &HashMap::new(), true);
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
    if let Err(problem) = last.audit().await {
        panic!("audit: {problem}");
    }
    for other in &nodes[1..] {
        assert_eq!(other.snapshot().await.expect("snapshot"), snapshot);
        assert_eq!(other.configured_version().await.expect("version"), i64::MAX);
    }
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
    seam.set_presence(&aid("alice"), Presence::Online, 0)
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
    seam.set_presence(&aid("a:{b}|c"), Presence::Online, 0)
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
    // Retired ones too: a:{b}|c holds an offer, the team a queued conversation.
    let configured = seam
        .configure(
            vec![team("{new}", Strategy::RoundRobin)],
            vec![agent("d", &["{new}"], 1)],
            1,
        )
        .await
        .expect("configure");
    assert!(configured.applied);
    assert_eq!(
        seam.holdings_of(&aid("a:{b}|c"))
            .await
            .expect("holdings")
            .len(),
        1
    );
    let view = seam.snapshot().await.expect("snapshot");
    assert_eq!(view.teams.len(), 2);
    assert_eq!(view.agents.len(), 2);
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
        seam.set_presence(&aid("alice"), Presence::Online, 0)
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
        .set_presence(&aid("alice"), Presence::Online, 0)
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
    seam.set_presence(&aid("alice"), Presence::Online, 0)
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
            .set_presence(&aid(&format!("agent{n}")), Presence::Online, 0)
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
