//! Unit tests of the board's runtime configuration ([`Board::configure`]) and of
//! [`Board::requeue`] and [`Board::holdings_of`]: one test per rule of the board's module
//! documentation. The seam-level scenarios (both implementations) are in `seam_tests.rs`, the
//! randomized ones in `tests.rs` and `redis_tests.rs`.

use std::collections::HashMap;

use super::board::{AgentSpec, Board, TeamSpec};
use super::tests::{
    agent, agent_view, aid, assigned_to, check_invariants, conversation, load, offered_to,
    offering, online, pairs, preferring, queue, queued_at, summary, team, ticket, tid,
};
use super::{AssignError, Configured, Held, Placement, Strategy};
use crate::domain::Presence;

/// Apply a configuration that must be newer; returns its placements, the board audited.
fn configure(
    board: &mut Board,
    teams: Vec<TeamSpec>,
    agents: Vec<AgentSpec>,
    version: i64,
) -> Vec<Placement> {
    let configured = board.configure(teams, agents, version);
    assert!(configured.applied, "version {version} applies");
    assert_eq!(board.configured_version(), version);
    board.audit().expect("consistent after configure");
    configured.placements
}

fn agents_listed(board: &Board) -> Vec<String> {
    board
        .snapshot()
        .expect("snapshot")
        .agents
        .iter()
        .map(|view| view.agent.as_str().to_owned())
        .collect()
}

fn teams_listed(board: &Board) -> Vec<String> {
    board
        .snapshot()
        .expect("snapshot")
        .teams
        .iter()
        .map(|view| view.team.as_str().to_owned())
        .collect()
}

#[test]
fn only_a_newer_version_applies() {
    let sales = || vec![team("sales", Strategy::RoundRobin)];
    let alice = || vec![agent("alice", &["sales"], 1)];
    let mut board = Board::new(sales(), alice());
    assert_eq!(board.configured_version(), 0);
    let before = board.snapshot().expect("snapshot");
    let other = || {
        (
            vec![team("support", Strategy::LeastBusy)],
            vec![agent("bob", &["support"], 2)],
        )
    };
    // Equal or older: nothing changes, whatever the content.
    for version in [0, -1, i64::MIN] {
        let (teams, agents) = other();
        assert_eq!(
            board.configure(teams, agents, version),
            Configured::default()
        );
        assert_eq!(board.snapshot().expect("snapshot"), before);
        assert_eq!(board.configured_version(), 0);
    }
    let (teams, agents) = other();
    assert!(configure(&mut board, teams, agents, 5).is_empty());
    assert_eq!(teams_listed(&board), ["support"]);
    assert_eq!(agents_listed(&board), ["bob"]);
    // An older copy (or another copy of the same version) never overwrites it.
    for version in [5, 4] {
        assert!(!board.configure(sales(), alice(), version).applied);
        assert_eq!(teams_listed(&board), ["support"]);
        assert_eq!(board.configured_version(), 5);
    }
    // A board built at a version keeps it.
    let mut board = Board::new_at(sales(), alice(), i64::MAX);
    assert_eq!(board.configured_version(), i64::MAX);
    assert!(!board.configure(vec![], vec![], i64::MAX).applied);
    assert_eq!(teams_listed(&board), ["sales"]);
}

#[test]
fn a_new_agent_starts_offline_a_new_team_empty_and_the_live_state_is_kept() {
    let teams = || {
        vec![
            team("sales", Strategy::RoundRobin),
            offering("support", Strategy::LeastBusy),
        ]
    };
    let mut board = Board::new(
        teams(),
        vec![
            agent("alice", &["sales", "support"], 2),
            agent("bob", &["sales"], 1),
        ],
    );
    online(&mut board, &["alice", "bob"]);
    board.heartbeat(&[aid("alice")], 100);
    let c1 = board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    assert_eq!(assigned_to(&c1), "alice");
    let c2 = board.place(ticket("c2", "support", 0, 2)).expect("placed");
    assert_eq!(offered_to(&c2), "alice");
    let c3 = board.place(ticket("c3", "sales", 0, 3)).expect("placed");
    assert_eq!(assigned_to(&c3), "bob");
    let c4 = board.place(ticket("c4", "sales", 0, 4)).expect("placed");
    assert_eq!(queued_at(&c4), 1);
    let before = board.snapshot().expect("snapshot");

    // The same configuration again changes nothing but the version.
    let same = vec![
        agent("alice", &["sales", "support"], 2),
        agent("bob", &["sales"], 1),
    ];
    assert!(configure(&mut board, teams(), same, 1).is_empty());
    assert_eq!(board.snapshot().expect("snapshot"), before);

    // A new team and a new agent.
    let mut more = teams();
    more.push(team("vip", Strategy::RoundRobin));
    let placements = configure(
        &mut board,
        more,
        vec![
            agent("alice", &["sales", "support"], 2),
            agent("bob", &["sales"], 1),
            agent("carol", &["sales", "vip"], 1),
        ],
        2,
    );
    assert!(placements.is_empty(), "carol is offline: {placements:?}");
    let after = board.snapshot().expect("snapshot");
    assert_eq!(teams_listed(&board), ["sales", "support", "vip"]);
    assert!(after.teams[2].queue.is_empty());
    assert_eq!(after.teams[0].queue, ["c4"]);
    let carol = agent_view(&after, "carol");
    assert_eq!(carol.presence, Presence::Offline);
    assert_eq!((carol.load, carol.capacity), (0, 1));
    assert_eq!(carol.teams, [tid("sales"), tid("vip")]);
    for name in ["alice", "bob"] {
        assert_eq!(agent_view(&after, name), agent_view(&before, name));
    }
    // The offer is still there to accept; the lease still runs.
    assert_eq!(
        assigned_to(&board.accept(&aid("alice"), "c2").expect("accepted")),
        "alice"
    );
    assert_eq!(board.expire_presence(101), [aid("alice")]);
    // The round-robin turn continued after bob: carol is next.
    let placements = board
        .set_presence(&aid("carol"), Presence::Online, 0)
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("c4", "carol")]));
    board.audit().expect("consistent");
}

#[test]
fn an_agent_serves_exactly_its_new_teams_and_keeps_what_it_holds() {
    let teams = || {
        vec![
            team("sales", Strategy::RoundRobin),
            offering("support", Strategy::RoundRobin),
        ]
    };
    let mut board = Board::new(
        teams(),
        vec![agent("alice", &["sales"], 3), agent("bob", &["support"], 3)],
    );
    online(&mut board, &["alice", "bob"]);
    assert_eq!(
        assigned_to(&board.place(ticket("s1", "sales", 0, 1)).expect("placed")),
        "alice"
    );
    for (n, id) in ["p1", "p2", "p3"].iter().enumerate() {
        let placement = board
            .place(ticket(id, "support", 0, 2 + n as i64))
            .expect("placed");
        assert_eq!(offered_to(&placement), "bob");
    }
    assert_eq!(
        queued_at(&board.place(ticket("p4", "support", 0, 9)).expect("placed")),
        1
    );

    // alice moves from sales to support, bob leaves support: support drains to alice at once.
    let placements = configure(
        &mut board,
        teams(),
        vec![agent("alice", &["support"], 3), agent("bob", &[], 3)],
        1,
    );
    assert_eq!(summary(&placements), pairs(&[("p4", "alice")]));
    assert!(matches!(placements[0], Placement::Offered { .. }));
    let view = board.snapshot().expect("snapshot");
    assert_eq!(agent_view(&view, "alice").teams, [tid("support")]);
    assert!(agent_view(&view, "bob").teams.is_empty());
    // What they hold stays with them: bob can still accept his offers.
    assert_eq!(
        board.held("s1").expect("held"),
        Some(Held::Assigned {
            team: tid("sales"),
            agent: aid("alice"),
        })
    );
    assert_eq!(
        assigned_to(&board.accept(&aid("bob"), "p1").expect("accepted")),
        "bob"
    );
    // Nobody serves sales now; alice's freed slot drains support only.
    assert_eq!(
        queued_at(&board.place(ticket("s2", "sales", 0, 10)).expect("placed")),
        1
    );
    let p5 = board.place(ticket("p5", "support", 0, 11)).expect("placed");
    assert_eq!(offered_to(&p5), "alice");
    let (_, placements) = board.release("s1").expect("released");
    assert!(placements.is_empty(), "{placements:?}");
    // bob's freed slots serve nobody either.
    let (_, placements) = board.release("p1").expect("released");
    assert!(placements.is_empty());
    assert_eq!(queue(&board, "sales"), ["s2"]);
    board.audit().expect("consistent");
}

#[test]
fn the_round_robin_turn_continues_after_the_same_agent_or_where_it_would_have_been() {
    let sales = || vec![team("sales", Strategy::RoundRobin)];
    let members = |names: &[&str]| -> Vec<AgentSpec> {
        ["a0", "a1", "a2", "a3", "a4", "a5"]
            .iter()
            .map(|name| {
                let teams: &[&str] = if names.contains(name) {
                    &["sales"]
                } else {
                    &[]
                };
                agent(name, teams, 10)
            })
            .collect()
    };
    let mut board = Board::new(sales(), members(&["a1", "a2", "a3", "a4", "a5"]));
    online(&mut board, &["a0", "a1", "a2", "a3", "a4", "a5"]);
    let next = |board: &mut Board, id: &str| -> String {
        assigned_to(&board.place(ticket(id, "sales", 0, 0)).expect("placed")).to_owned()
    };
    assert_eq!(next(&mut board, "c1"), "a1");
    assert_eq!(next(&mut board, "c2"), "a2");
    assert_eq!(next(&mut board, "c3"), "a3");
    // a3 (the last one served) stays, a2 leaves, a0 joins before everyone: a4 is next.
    configure(
        &mut board,
        sales(),
        members(&["a0", "a1", "a3", "a4", "a5"]),
        1,
    );
    assert_eq!(next(&mut board, "c4"), "a4");
    // a4 leaves: the turn goes to whoever came after it.
    configure(&mut board, sales(), members(&["a0", "a1", "a3", "a5"]), 2);
    assert_eq!(next(&mut board, "c5"), "a5");
    // a5, the last in id order, leaves: the turn wraps to the first.
    configure(&mut board, sales(), members(&["a0", "a1", "a3"]), 3);
    assert_eq!(next(&mut board, "c6"), "a0");
    // a0, the first, leaves: the turn is at the start again.
    configure(&mut board, sales(), members(&["a1", "a3"]), 4);
    assert_eq!(next(&mut board, "c7"), "a1");
    // The same agent as a whole leaving (not just the team) counts the same.
    configure(&mut board, sales(), members(&["a1", "a3", "a4"]), 5);
    let agents: Vec<AgentSpec> = members(&["a3", "a4"])
        .into_iter()
        .filter(|spec| spec.id != aid("a1"))
        .collect();
    configure(&mut board, sales(), agents, 6);
    assert_eq!(next(&mut board, "c8"), "a3");
    board.audit().expect("consistent");
}

#[test]
fn a_lowered_capacity_keeps_the_conversations_and_a_raised_one_drains() {
    let sales = || vec![team("sales", Strategy::RoundRobin)];
    let mut board = Board::new(
        sales(),
        vec![agent("alice", &["sales"], 3), agent("bob", &["sales"], 3)],
    );
    online(&mut board, &["alice", "bob"]);
    for (n, expected) in ["alice", "bob", "alice", "bob"].iter().enumerate() {
        let placement = board
            .place(ticket(&format!("c{}", n + 1), "sales", 0, n as i64))
            .expect("placed");
        assert_eq!(assigned_to(&placement), *expected);
    }
    let placements = configure(
        &mut board,
        sales(),
        vec![agent("alice", &["sales"], 1), agent("bob", &["sales"], 3)],
        1,
    );
    assert!(placements.is_empty());
    let view = board.snapshot().expect("snapshot");
    let alice = agent_view(&view, "alice");
    assert_eq!((alice.load, alice.capacity), (2, 1));
    assert_eq!(alice.assigned, ["c1", "c3"]);
    assert_eq!(
        assigned_to(&board.place(ticket("c5", "sales", 0, 5)).expect("placed")),
        "bob"
    );
    assert_eq!(
        queued_at(&board.place(ticket("c6", "sales", 0, 6)).expect("placed")),
        1
    );
    // Down to the capacity: still no room.
    let (_, placements) = board.release("c1").expect("released");
    assert!(placements.is_empty());
    assert_eq!(board.position("c6").expect("position"), Some(1));
    // Below it: room again.
    let (_, placements) = board.release("c3").expect("released");
    assert_eq!(summary(&placements), pairs(&[("c6", "alice")]));
    assert_eq!(
        queued_at(&board.place(ticket("c7", "sales", 0, 7)).expect("placed")),
        1
    );
    // Raising it makes alice eligible again at once.
    let placements = configure(
        &mut board,
        sales(),
        vec![agent("alice", &["sales"], 3), agent("bob", &["sales"], 3)],
        2,
    );
    assert_eq!(summary(&placements), pairs(&[("c7", "alice")]));
    assert_eq!(load(&board, "alice"), 2);
    board.audit().expect("consistent");
}

#[test]
fn strategy_offers_and_queue_limit_apply_to_the_next_decisions_and_the_queue_keeps_its_order() {
    let agents = || vec![agent("alice", &["sales"], 5), agent("bob", &["sales"], 5)];
    let mut board = Board::new(vec![team("sales", Strategy::RoundRobin)], agents());
    online(&mut board, &["alice", "bob"]);
    let mut order = Vec::new();
    for (n, id) in ["c1", "c2", "c3"].iter().enumerate() {
        let placement = board
            .place(ticket(id, "sales", 0, n as i64))
            .expect("placed");
        order.push(assigned_to(&placement).to_owned());
    }
    assert_eq!(order, ["alice", "bob", "alice"]);
    for name in ["alice", "bob"] {
        board
            .set_presence(&aid(name), Presence::Away, 0)
            .expect("away");
    }
    for (id, priority, arrival) in [("q1", 0, 30), ("q2", 1, 40), ("q3", 0, 20)] {
        board
            .place(ticket(id, "sales", priority, arrival))
            .expect("queued");
    }
    assert_eq!(queue(&board, "sales"), ["q2", "q3", "q1"]);

    let least_busy = TeamSpec {
        max_queue: 2,
        ..offering("sales", Strategy::LeastBusy)
    };
    let placements = configure(&mut board, vec![least_busy], agents(), 1);
    assert!(placements.is_empty(), "everyone is away");
    assert_eq!(queue(&board, "sales"), ["q2", "q3", "q1"]);
    let view = board.snapshot().expect("snapshot");
    assert_eq!(view.teams[0].strategy, Strategy::LeastBusy);
    // Over the new limit: who waits stays, nobody new gets in.
    assert_eq!(
        board.place(ticket("q4", "sales", 0, 50)),
        Err(AssignError::QueueFull(tid("sales")))
    );
    // bob (the least busy) comes back: offers now, in queue order.
    let placements = board
        .set_presence(&aid("bob"), Presence::Online, 0)
        .expect("online");
    assert_eq!(
        summary(&placements),
        pairs(&[("q2", "bob"), ("q3", "bob"), ("q1", "bob")])
    );
    assert!(
        placements
            .iter()
            .all(|p| matches!(p, Placement::Offered { .. }))
    );
    // Back to round robin without offers: the turn continues after alice (the last round-robin
    // pick; least busy never moved it).
    configure(
        &mut board,
        vec![team("sales", Strategy::RoundRobin)],
        agents(),
        2,
    );
    board
        .set_presence(&aid("alice"), Presence::Online, 0)
        .expect("online");
    let placement = board.place(ticket("c4", "sales", 0, 60)).expect("placed");
    assert_eq!(assigned_to(&placement), "bob");
    board.audit().expect("consistent");
}

#[test]
fn a_removed_agent_is_offline_in_no_team_and_keeps_what_it_holds_until_requeued() {
    let teams = || {
        vec![
            team("sales", Strategy::RoundRobin),
            offering("support", Strategy::RoundRobin),
        ]
    };
    let mut board = Board::new(
        teams(),
        vec![
            agent("alice", &["sales", "support"], 3),
            agent("bob", &["sales", "support"], 5),
        ],
    );
    online(&mut board, &["alice", "bob"]);
    board.heartbeat(&[aid("alice")], 100);
    let c1 = board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    assert_eq!(assigned_to(&c1), "alice");
    let c2 = board.place(ticket("c2", "sales", 0, 2)).expect("placed");
    assert_eq!(assigned_to(&c2), "bob");
    let c3 = board.place(ticket("c3", "support", 0, 3)).expect("placed");
    assert_eq!(offered_to(&c3), "alice");

    let placements = configure(
        &mut board,
        teams(),
        vec![agent("bob", &["sales", "support"], 5)],
        1,
    );
    assert!(placements.is_empty());
    let view = board.snapshot().expect("snapshot");
    assert_eq!(agents_listed(&board), ["alice", "bob"]);
    let alice = agent_view(&view, "alice");
    assert_eq!(alice.presence, Presence::Offline);
    assert!(alice.teams.is_empty());
    assert_eq!((alice.load, alice.capacity), (2, 3));
    assert_eq!(alice.assigned, ["c1"]);
    assert_eq!(alice.offered, ["c3"]);
    assert_eq!(
        board.holdings_of(&aid("alice")),
        [conversation("c1"), conversation("c3")]
    );
    // Unknown to everything that names an agent; its lease is gone.
    assert_eq!(
        board.set_presence(&aid("alice"), Presence::Online, 0),
        Err(AssignError::UnknownAgent(aid("alice")))
    );
    assert_eq!(
        board.assign_to(&aid("alice"), ticket("x", "sales", 0, 0)),
        Err(AssignError::UnknownAgent(aid("alice")))
    );
    assert_eq!(
        board.accept(&aid("alice"), "c3"),
        Err(AssignError::UnknownAgent(aid("alice")))
    );
    assert_eq!(
        board.decline(&aid("alice"), "c3"),
        Err(AssignError::UnknownAgent(aid("alice")))
    );
    board.heartbeat(&[aid("alice")], 1_000);
    assert!(board.expire_presence(i64::MAX).is_empty());
    // A preference for a removed agent is ignored.
    let c4 = board
        .place(preferring("c4", "sales", "alice"))
        .expect("placed");
    assert_eq!(assigned_to(&c4), "bob");

    // The caller moves what it holds.
    let placements = board.requeue("c1");
    assert_eq!(summary(&placements), pairs(&[("c1", "bob")]));
    let placements = board.requeue("c3");
    assert_eq!(summary(&placements), pairs(&[("c3", "bob")]));
    assert!(matches!(placements[0], Placement::Offered { .. }));
    assert!(board.holdings_of(&aid("alice")).is_empty());
    assert_eq!(agents_listed(&board), ["bob"]);
    // Forgotten at the next configuration; new again if it comes back.
    configure(
        &mut board,
        teams(),
        vec![agent("bob", &["sales", "support"], 5)],
        2,
    );
    configure(
        &mut board,
        teams(),
        vec![
            agent("alice", &["sales"], 1),
            agent("bob", &["sales", "support"], 5),
        ],
        3,
    );
    let view = board.snapshot().expect("snapshot");
    let alice = agent_view(&view, "alice");
    assert_eq!(
        (alice.presence, alice.load, alice.capacity),
        (Presence::Offline, 0, 1)
    );
    check_invariants(&view, &HashMap::new(), false);
    board.audit().expect("consistent");
}

#[test]
fn a_removed_agent_that_comes_back_still_holds_its_conversations() {
    let sales = || vec![team("sales", Strategy::RoundRobin)];
    let mut board = Board::new(sales(), vec![agent("alice", &["sales"], 2)]);
    online(&mut board, &["alice"]);
    board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    configure(&mut board, sales(), vec![], 1);
    assert_eq!(agent_view(&board.snapshot().expect("s"), "alice").load, 1);
    configure(&mut board, sales(), vec![agent("alice", &["sales"], 1)], 2);
    let view = board.snapshot().expect("snapshot");
    let alice = agent_view(&view, "alice");
    assert_eq!(
        (alice.presence, alice.load, alice.capacity),
        (Presence::Offline, 1, 1)
    );
    assert_eq!(alice.teams, [tid("sales")]);
    // Online again but full (load 1 of 1): the queue waits.
    online(&mut board, &["alice"]);
    assert_eq!(
        queued_at(&board.place(ticket("c2", "sales", 0, 2)).expect("placed")),
        1
    );
    let (held, placements) = board.release("c1").expect("released");
    assert!(matches!(held, Some(Held::Assigned { .. })));
    assert_eq!(summary(&placements), pairs(&[("c2", "alice")]));
    board.audit().expect("consistent");
}

#[test]
fn a_removed_team_keeps_its_queue_until_released_or_overflowed() {
    let both = || {
        vec![
            team("sales", Strategy::RoundRobin),
            offering("vip", Strategy::RoundRobin),
        ]
    };
    let mut board = Board::new(
        both(),
        vec![
            agent("alice", &["sales", "vip"], 1),
            agent("bob", &["sales"], 1),
        ],
    );
    board.place(ticket("v1", "vip", 0, 1)).expect("queued");
    board.place(ticket("v2", "vip", 0, 2)).expect("queued");
    let placements = board
        .set_presence(&aid("alice"), Presence::Online, 0)
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("v1", "alice")]));

    let sales_only = || vec![team("sales", Strategy::RoundRobin)];
    let agents = || {
        vec![
            agent("alice", &["sales", "vip"], 1),
            agent("bob", &["sales"], 1),
        ]
    };
    configure(&mut board, sales_only(), agents(), 1);
    assert_eq!(teams_listed(&board), ["sales", "vip"]);
    assert_eq!(queue(&board, "vip"), ["v2"]);
    assert_eq!(
        agent_view(&board.snapshot().expect("s"), "alice").teams,
        [tid("sales")]
    );
    assert_eq!(
        board.place(ticket("v3", "vip", 0, 3)),
        Err(AssignError::UnknownTeam(tid("vip")))
    );
    assert_eq!(
        board.assign_to(&aid("bob"), ticket("v3", "vip", 0, 3)),
        Err(AssignError::UnknownTeam(tid("vip")))
    );
    assert_eq!(
        board.overflow("v2", &tid("vip")),
        Err(AssignError::UnknownTeam(tid("vip")))
    );
    assert_eq!(
        board.held("v2").expect("held"),
        Some(Held::Queued { team: tid("vip") })
    );
    assert_eq!(board.position("v2").expect("position"), Some(1));
    // The offer of the retired team can be declined: back to its (unserved) queue, first.
    let placements = board.decline(&aid("alice"), "v1").expect("declined");
    assert_eq!(summary(&placements), pairs(&[("v1", "-")]));
    assert_eq!(queued_at(&placements[0]), 1);
    assert_eq!(queue(&board, "vip"), ["v1", "v2"]);
    // The team comes back, with bob as a new member: its queue drains at once (never v1 to
    // alice, who declined it).
    let placements = configure(
        &mut board,
        both(),
        vec![
            agent("alice", &["sales", "vip"], 1),
            agent("bob", &["sales", "vip"], 1),
        ],
        2,
    );
    assert_eq!(summary(&placements), pairs(&[("v2", "alice")]));
    let placements = board
        .set_presence(&aid("bob"), Presence::Online, 0)
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("v1", "bob")]));
    // Retired again: listed only while something waits in it.
    configure(&mut board, sales_only(), agents(), 3);
    assert_eq!(teams_listed(&board), ["sales"]);
    board.decline(&aid("bob"), "v1").expect("declined");
    assert_eq!(teams_listed(&board), ["sales", "vip"]);
    // Overflow empties it (forgetting who declined, as always).
    let placement = board
        .overflow("v1", &tid("sales"))
        .expect("overflow")
        .expect("was queued");
    assert_eq!(assigned_to(&placement), "bob");
    assert_eq!(teams_listed(&board), ["sales"]);
    // Its last conversation still names it until released; then it is forgotten.
    assert_eq!(
        board.held("v2").expect("held"),
        Some(Held::Offered {
            team: tid("vip"),
            agent: aid("alice"),
        })
    );
    board.release("v2").expect("released");
    configure(&mut board, sales_only(), agents(), 4);
    assert_eq!(teams_listed(&board), ["sales"]);
    board.audit().expect("consistent");
}

#[test]
fn teams_whose_eligibility_grew_drain_best_ticket_first() {
    let teams = || {
        vec![
            team("sales", Strategy::RoundRobin),
            team("support", Strategy::RoundRobin),
        ]
    };
    let mut board = Board::new(
        teams(),
        vec![
            agent("alice", &["sales"], 1),
            agent("bob", &["support"], 1),
            agent("carol", &[], 2),
        ],
    );
    online(&mut board, &["alice", "bob", "carol"]);
    board.place(ticket("s1", "sales", 0, 1)).expect("placed");
    board.place(ticket("p1", "support", 0, 2)).expect("placed");
    board.place(ticket("s2", "sales", 0, 10)).expect("queued");
    board.place(ticket("p2", "support", 1, 20)).expect("queued");
    board.place(ticket("s3", "sales", 0, 5)).expect("queued");
    let placements = configure(
        &mut board,
        teams(),
        vec![
            agent("alice", &["sales"], 1),
            agent("bob", &["support"], 1),
            agent("carol", &["sales", "support"], 2),
        ],
        1,
    );
    assert_eq!(
        summary(&placements),
        pairs(&[("p2", "carol"), ("s3", "carol")])
    );
    assert_eq!(queue(&board, "sales"), ["s2"]);
    board.audit().expect("consistent");
}

#[test]
fn requeue_puts_a_conversation_back_at_its_place_and_drains() {
    let mut board = Board::new(
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1), agent("bob", &["sales"], 1)],
    );
    online(&mut board, &["alice"]);
    assert_eq!(
        assigned_to(&board.place(ticket("c1", "sales", 0, 10)).expect("placed")),
        "alice"
    );
    assert_eq!(
        queued_at(&board.place(ticket("c2", "sales", 0, 20)).expect("placed")),
        1
    );
    // alice is still eligible once freed: the best waiting ticket (c1 itself) goes to her.
    assert_eq!(summary(&board.requeue("c1")), pairs(&[("c1", "alice")]));
    // Away: c1 waits, ahead of the later arrival.
    board
        .set_presence(&aid("alice"), Presence::Away, 0)
        .expect("away");
    let placements = board.requeue("c1");
    assert_eq!(summary(&placements), pairs(&[("c1", "-")]));
    assert_eq!(queued_at(&placements[0]), 1);
    assert_eq!(queue(&board, "sales"), ["c1", "c2"]);
    assert_eq!(load(&board, "alice"), 0);
    // Queued or unknown: nothing to do.
    assert!(board.requeue("c1").is_empty());
    assert!(board.requeue("nobody").is_empty());
    let placements = board
        .set_presence(&aid("bob"), Presence::Online, 0)
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("c1", "bob")]));
    board.audit().expect("consistent");
}

#[test]
fn requeue_frees_the_agents_slot_for_its_other_teams() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("support", Strategy::RoundRobin),
        ],
        vec![
            agent("alice", &["sales", "support"], 1),
            agent("bob", &["sales"], 1),
        ],
    );
    online(&mut board, &["alice"]);
    board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    assert_eq!(
        queued_at(&board.place(ticket("p1", "support", 0, 2)).expect("placed")),
        1
    );
    online(&mut board, &["bob"]);
    // c1 (earlier) goes first, to bob (the turn after alice); alice's slot serves p1.
    let placements = board.requeue("c1");
    assert_eq!(
        summary(&placements),
        pairs(&[("c1", "bob"), ("p1", "alice")])
    );
    board.audit().expect("consistent");
}

#[test]
fn requeue_of_an_offer_goes_to_the_next_agent_without_counting_as_a_decline() {
    let mut board = Board::new(
        vec![offering("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 1), agent("bob", &["sales"], 1)],
    );
    online(&mut board, &["alice", "bob"]);
    assert_eq!(
        offered_to(&board.place(ticket("c1", "sales", 0, 1)).expect("placed")),
        "alice"
    );
    board
        .set_presence(&aid("alice"), Presence::Away, 0)
        .expect("away");
    assert_eq!(summary(&board.requeue("c1")), pairs(&[("c1", "bob")]));
    // bob declines: alice (who never declined it) may have it when she is back.
    board.decline(&aid("bob"), "c1").expect("declined");
    let placements = board
        .set_presence(&aid("alice"), Presence::Online, 0)
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("c1", "alice")]));
    board.audit().expect("consistent");
}

#[test]
fn who_declined_and_who_is_preferred_survive_an_agent_leaving_and_coming_back() {
    let sales = || vec![offering("sales", Strategy::RoundRobin)];
    let with = |names: &[(&str, u32)]| -> Vec<AgentSpec> {
        names
            .iter()
            .map(|(name, capacity)| agent(name, &["sales"], *capacity))
            .collect()
    };
    let mut board = Board::new(sales(), with(&[("alice", 5), ("bob", 5)]));
    online(&mut board, &["alice", "bob"]);
    board.place(ticket("c1", "sales", 0, 1)).expect("offered");
    let placements = board.decline(&aid("alice"), "c1").expect("declined");
    assert_eq!(summary(&placements), pairs(&[("c1", "bob")]));
    // alice leaves (holding nothing: forgotten) and comes back.
    configure(&mut board, sales(), with(&[("bob", 5)]), 1);
    configure(&mut board, sales(), with(&[("alice", 5), ("bob", 5)]), 2);
    online(&mut board, &["alice"]);
    let placements = board.decline(&aid("bob"), "c1").expect("declined");
    assert_eq!(
        summary(&placements),
        pairs(&[("c1", "-")]),
        "not back to alice"
    );

    // A preferred agent that leaves and comes back is still preferred.
    let mut board = Board::new(sales(), with(&[("alice", 0), ("carol", 1)]));
    online(&mut board, &["alice"]);
    board
        .place(preferring("p1", "sales", "carol"))
        .expect("queued");
    configure(&mut board, sales(), with(&[("alice", 0)]), 1);
    configure(&mut board, sales(), with(&[("alice", 0), ("carol", 0)]), 2);
    online(&mut board, &["carol"]);
    // Both get room at once: the turn would be alice's, the preference says carol.
    let placements = configure(&mut board, sales(), with(&[("alice", 1), ("carol", 1)]), 3);
    assert_eq!(summary(&placements), pairs(&[("p1", "carol")]));
    board.audit().expect("consistent");
}

#[test]
fn restore_after_a_configuration_knows_only_configured_teams_and_agents() {
    let mut board = Board::new(
        vec![
            team("sales", Strategy::RoundRobin),
            team("vip", Strategy::RoundRobin),
        ],
        vec![agent("alice", &["sales"], 2), agent("bob", &["sales"], 2)],
    );
    online(&mut board, &["alice"]);
    board.place(ticket("c1", "sales", 0, 1)).expect("placed");
    board.place(ticket("v1", "vip", 0, 2)).expect("queued");
    configure(
        &mut board,
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("bob", &["sales"], 2)],
        1,
    );
    assert_eq!(agents_listed(&board), ["alice", "bob"]);
    assert_eq!(teams_listed(&board), ["sales", "vip"]);
    board
        .restore(
            vec![
                (ticket("c1", "sales", 0, 1), aid("alice")),
                (ticket("c2", "sales", 0, 3), aid("bob")),
            ],
            vec![ticket("v1", "vip", 0, 2), ticket("s1", "sales", 0, 4)],
        )
        .expect("restored");
    assert_eq!(board.held("c1").expect("held"), None);
    assert_eq!(board.held("v1").expect("held"), None);
    assert_eq!(agents_listed(&board), ["bob"]);
    assert_eq!(teams_listed(&board), ["sales"]);
    assert_eq!(queue(&board, "sales"), ["s1"]);
    board.audit().expect("consistent");
}
