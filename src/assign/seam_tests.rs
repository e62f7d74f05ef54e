//! The behaviour of the [`Assignments`] seam, written once against `&dyn Assignments` and run
//! against both implementations: [`MemoryAssignments`] and [`RedisAssignments`] (each test on
//! its own private `redis-server`).

use std::ops::Deref;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::board::{AgentSpec, Board, TeamSpec};
use super::memory::MemoryAssignments;
use super::redis::RedisAssignments;
use super::tests::{
    agent, agent_of, agent_view, aid, assigned_to, offered_to, offering, pairs, preferring,
    queued_at, summary, team, ticket, tid,
};
use super::{AssignError, Assignments, Configured, Held, Placement, Snapshot, Strategy, Ticket};
use crate::domain::Presence;
use crate::testkit::redis::RedisServer;

/// Which implementation a scenario runs against.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Memory,
    Redis,
}

/// A seam under test, with the Redis server it needs (if any) kept alive beside it.
pub(super) struct Fixture {
    seam: Box<dyn Assignments>,
    /// Kept alive as long as the seam.
    _server: Option<RedisServer>,
}

impl Deref for Fixture {
    type Target = dyn Assignments;
    fn deref(&self) -> &Self::Target {
        self.seam.as_ref()
    }
}

/// A connection manager to a test server that gives up quickly while the server is down (the
/// default retries a lost connection for about 6 s, with every request waiting).
pub(super) async fn connection(server: &RedisServer) -> ConnectionManager {
    let client = ::redis::Client::open(server.url()).expect("a valid url");
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(10))
        .set_max_delay(Duration::from_millis(50))
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    ConnectionManager::new_with_config(client, config)
        .await
        .expect("connects")
}

impl Kind {
    pub(super) async fn build(self, teams: Vec<TeamSpec>, agents: Vec<AgentSpec>) -> Fixture {
        match self {
            Kind::Memory => Fixture {
                seam: Box::new(MemoryAssignments::new(Board::new(teams, agents))),
                _server: None,
            },
            Kind::Redis => {
                let server = RedisServer::start().expect("redis-server starts");
                let seam =
                    RedisAssignments::connect(connection(&server).await, "test", teams, agents, 0)
                        .await
                        .expect("connected");
                Fixture {
                    seam: Box::new(seam),
                    _server: Some(server),
                }
            }
        }
    }
}

// ---- helpers ----

async fn online(seam: &dyn Assignments, agents: &[&str]) {
    for name in agents {
        let placements = seam
            .set_presence(&aid(name), Presence::Online, 0)
            .await
            .expect("known agent");
        assert!(placements.is_empty(), "nothing was queued: {placements:?}");
    }
}

async fn place(seam: &dyn Assignments, ticket: Ticket) -> Placement {
    seam.place(ticket).await.expect("placed")
}

async fn snapshot(seam: &dyn Assignments) -> Snapshot {
    seam.snapshot().await.expect("snapshot")
}

async fn queue(seam: &dyn Assignments, team: &str) -> Vec<String> {
    snapshot(seam)
        .await
        .teams
        .into_iter()
        .find(|view| view.team.as_str() == team)
        .expect("team in snapshot")
        .queue
}

async fn load(seam: &dyn Assignments, agent: &str) -> u32 {
    agent_view(&snapshot(seam).await, agent).load
}

async fn holder(seam: &dyn Assignments, id: &str) -> Option<String> {
    match seam.held(id).await.expect("held") {
        Some(Held::Assigned { agent, .. } | Held::Offered { agent, .. }) => {
            Some(agent.as_str().to_owned())
        }
        _ => None,
    }
}

// ---- scenarios ----

async fn queues_by_priority_then_arrival_then_order(kind: Kind) {
    let seam = kind
        .build(
            vec![team("sales", Strategy::RoundRobin)],
            vec![agent("alice", &["sales"], 10)],
        )
        .await;
    let seam = &*seam;
    // Nobody online: everything waits.
    assert_eq!(
        queued_at(&place(seam, ticket("low", "sales", 0, 10)).await),
        1
    );
    assert_eq!(
        queued_at(&place(seam, ticket("high", "sales", 5, 30)).await),
        1
    );
    assert_eq!(
        queued_at(&place(seam, ticket("early", "sales", 0, 5)).await),
        2
    );
    // Same priority and arrival: placing order.
    assert_eq!(
        queued_at(&place(seam, ticket("tie1", "sales", 0, 10)).await),
        4
    );
    assert_eq!(
        queued_at(&place(seam, ticket("tie2", "sales", 0, 10)).await),
        5
    );
    // Extremes of priority and arrival keep their order.
    assert_eq!(
        queued_at(&place(seam, ticket("max", "sales", i32::MAX, i64::MAX)).await),
        1
    );
    assert_eq!(
        queued_at(&place(seam, ticket("min", "sales", i32::MIN, i64::MIN)).await),
        7
    );
    assert_eq!(
        queued_at(&place(seam, ticket("neg", "sales", -1, -5)).await),
        7
    );
    let expected = ["max", "high", "early", "low", "tie1", "tie2", "neg", "min"];
    assert_eq!(queue(seam, "sales").await, expected);
    for (index, id) in expected.iter().enumerate() {
        assert_eq!(seam.position(id).await.expect("position"), Some(index + 1));
    }
    let view = snapshot(seam).await.teams.remove(0);
    assert_eq!(view.oldest_arrival_ms, Some(i64::MIN));
    assert_eq!(view.strategy, Strategy::RoundRobin);
    assert_eq!(seam.position("nobody").await.expect("position"), None);

    // Coming online drains the queue in that order, up to capacity.
    let placements = seam
        .set_presence(&aid("alice"), Presence::Online, 0)
        .await
        .expect("online");
    let order: Vec<String> = placements
        .iter()
        .map(|placement| placement.conversation().id.clone())
        .collect();
    assert_eq!(order, expected);
    assert!(placements.iter().all(|p| agent_of(p) == Some("alice")));
    assert_eq!(seam.position("max").await.expect("position"), None);
}

async fn release_frees_capacity_and_drains_at_once(kind: Kind) {
    let seam = kind
        .build(
            vec![team("sales", Strategy::RoundRobin)],
            vec![agent("alice", &["sales"], 1)],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice"]).await;
    assert_eq!(
        assigned_to(&place(seam, ticket("c1", "sales", 0, 1)).await),
        "alice"
    );
    assert_eq!(
        queued_at(&place(seam, ticket("c2", "sales", 0, 2)).await),
        1
    );
    assert_eq!(
        queued_at(&place(seam, ticket("c3", "sales", 1, 3)).await),
        1
    );
    assert_eq!(seam.position("c2").await.expect("position"), Some(2));
    let (held, placements) = seam.release("c1").await.expect("released");
    assert_eq!(
        held,
        Some(Held::Assigned {
            team: tid("sales"),
            agent: aid("alice")
        })
    );
    assert_eq!(summary(&placements), pairs(&[("c3", "alice")]));
    assert_eq!(
        placements[0].conversation(),
        &super::tests::conversation("c3")
    );
    assert_eq!(seam.position("c2").await.expect("position"), Some(1));
    // A queued conversation leaves its queue; nothing drains.
    let (held, placements) = seam.release("c2").await.expect("released");
    assert_eq!(held, Some(Held::Queued { team: tid("sales") }));
    assert!(placements.is_empty());
    assert!(queue(seam, "sales").await.is_empty());
    assert_eq!(seam.held("c2").await.expect("held"), None);
    // Unknown: nothing.
    assert_eq!(seam.release("c2").await.expect("release"), (None, vec![]));
    assert_eq!(load(seam, "alice").await, 1);
}

async fn round_robin_takes_turns_skips_and_resumes(kind: Kind) {
    let seam = kind
        .build(
            vec![team("sales", Strategy::RoundRobin)],
            vec![
                agent("carol", &["sales"], 5),
                agent("alice", &["sales"], 5),
                agent("bob", &["sales"], 1),
            ],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice", "bob", "carol"]).await;
    let mut who = Vec::new();
    for n in 0..4 {
        who.push(
            assigned_to(&place(seam, ticket(&format!("c{n}"), "sales", 0, n)).await).to_owned(),
        );
    }
    // Agent-id order; bob is full after one.
    assert_eq!(who, ["alice", "bob", "carol", "alice"]);
    // The turn is after alice; bob is full, so carol.
    assert_eq!(
        assigned_to(&place(seam, ticket("c4", "sales", 0, 4)).await),
        "carol"
    );
    // Away agents are skipped; the turn resumes after the last one picked.
    seam.set_presence(&aid("alice"), Presence::Away, 0)
        .await
        .expect("away");
    assert_eq!(
        assigned_to(&place(seam, ticket("c5", "sales", 0, 5)).await),
        "carol"
    );
    seam.release("c1").await.expect("release");
    // After carol comes (wrapping) alice, away, then bob, who has room again.
    assert_eq!(
        assigned_to(&place(seam, ticket("c6", "sales", 0, 6)).await),
        "bob"
    );
}

async fn round_robin_cursor_is_per_team(kind: Kind) {
    let seam = kind
        .build(
            vec![
                team("sales", Strategy::RoundRobin),
                team("support", Strategy::RoundRobin),
            ],
            vec![
                agent("alice", &["sales", "support"], 10),
                agent("bob", &["sales", "support"], 10),
            ],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice", "bob"]).await;
    assert_eq!(
        assigned_to(&place(seam, ticket("s1", "sales", 0, 1)).await),
        "alice"
    );
    assert_eq!(
        assigned_to(&place(seam, ticket("t1", "support", 0, 1)).await),
        "alice"
    );
    assert_eq!(
        assigned_to(&place(seam, ticket("s2", "sales", 0, 2)).await),
        "bob"
    );
    assert_eq!(
        assigned_to(&place(seam, ticket("t2", "support", 0, 2)).await),
        "bob"
    );
    assert_eq!(
        assigned_to(&place(seam, ticket("s3", "sales", 0, 3)).await),
        "alice"
    );
}

async fn least_busy_picks_least_loaded_then_longest_idle_then_id(kind: Kind) {
    let seam = kind
        .build(
            vec![
                team("support", Strategy::LeastBusy),
                team("other", Strategy::RoundRobin),
            ],
            vec![
                agent("dave", &["support"], 5),
                agent("carol", &["support"], 5),
                agent("bob", &["support", "other"], 5),
                agent("alice", &["other"], 5),
            ],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice", "bob", "carol", "dave"]).await;
    let snapshot_before = snapshot(seam).await;
    assert_eq!(snapshot_before.teams[1].strategy, Strategy::LeastBusy);
    // All at 0, never assigned: id order.
    assert_eq!(
        assigned_to(&place(seam, ticket("c1", "support", 0, 1)).await),
        "bob"
    );
    assert_eq!(
        assigned_to(&place(seam, ticket("c2", "support", 0, 2)).await),
        "carol"
    );
    assert_eq!(
        assigned_to(&place(seam, ticket("c3", "support", 0, 3)).await),
        "dave"
    );
    // All at 1: the one assigned longest ago.
    assert_eq!(
        assigned_to(&place(seam, ticket("c4", "support", 0, 4)).await),
        "bob"
    );
    // carol 1, dave 1, bob 2: carol was assigned before dave.
    seam.release("c3").await.expect("release");
    // dave 0: least loaded wins over longest idle.
    assert_eq!(
        assigned_to(&place(seam, ticket("c5", "support", 0, 5)).await),
        "dave"
    );
    // Load in another team counts: bob gets one from "other" (round robin: alice first).
    assert_eq!(
        assigned_to(&place(seam, ticket("o1", "other", 0, 1)).await),
        "alice"
    );
    assert_eq!(
        assigned_to(&place(seam, ticket("o2", "other", 0, 2)).await),
        "bob"
    );
    // carol 1 (assigned at tick 2), dave 1 (tick 5), bob 3.
    assert_eq!(
        assigned_to(&place(seam, ticket("c6", "support", 0, 6)).await),
        "carol"
    );
    // Away and full agents are ignored.
    seam.set_presence(&aid("dave"), Presence::Away, 0)
        .await
        .expect("away");
    assert_eq!(
        assigned_to(&place(seam, ticket("c7", "support", 0, 7)).await),
        "carol"
    );
    assert_eq!(load(seam, "carol").await, 3);
}

async fn capacity_counts_across_teams(kind: Kind) {
    let seam = kind
        .build(
            vec![
                team("sales", Strategy::RoundRobin),
                team("support", Strategy::LeastBusy),
            ],
            vec![agent("alice", &["sales", "support"], 2)],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice"]).await;
    assert_eq!(
        assigned_to(&place(seam, ticket("s1", "sales", 0, 1)).await),
        "alice"
    );
    assert_eq!(
        assigned_to(&place(seam, ticket("t1", "support", 0, 1)).await),
        "alice"
    );
    assert_eq!(
        queued_at(&place(seam, ticket("s2", "sales", 0, 2)).await),
        1
    );
    assert_eq!(
        queued_at(&place(seam, ticket("t2", "support", 0, 1)).await),
        1
    );
    assert_eq!(load(seam, "alice").await, 2);
    // A slot frees: the best ticket across both teams (t2 arrived earlier) goes first.
    let (_, placements) = seam.release("s1").await.expect("release");
    assert_eq!(summary(&placements), pairs(&[("t2", "alice")]));
    assert_eq!(load(seam, "alice").await, 2);
    assert_eq!(seam.position("s2").await.expect("position"), Some(1));
}

async fn the_preferred_agent_goes_first(kind: Kind) {
    let seam = kind
        .build(
            vec![
                team("sales", Strategy::RoundRobin),
                team("support", Strategy::LeastBusy),
            ],
            vec![
                agent("alice", &["sales", "support"], 2),
                agent("bob", &["sales", "support"], 2),
                agent("carol", &["sales"], 3),
            ],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice", "bob", "carol"]).await;
    assert_eq!(
        assigned_to(&place(seam, preferring("p1", "sales", "carol")).await),
        "carol"
    );
    // The preferred agent did not take the round robin's turn.
    assert_eq!(
        assigned_to(&place(seam, ticket("r1", "sales", 0, 1)).await),
        "alice"
    );
    assert_eq!(
        assigned_to(&place(seam, preferring("p2", "support", "bob")).await),
        "bob"
    );
    // Preferred but not a member of the team: the strategy (alice 1 load, bob 1: alice
    // assigned longer ago).
    assert_eq!(
        assigned_to(&place(seam, preferring("p3", "support", "carol")).await),
        "alice"
    );
    // Preferred but full, away or unknown: the strategy.
    seam.set_presence(&aid("bob"), Presence::Away, 0)
        .await
        .expect("away");
    assert_eq!(
        assigned_to(&place(seam, preferring("p4", "sales", "bob")).await),
        "carol"
    );
    assert_eq!(
        assigned_to(&place(seam, preferring("p5", "sales", "nobody")).await),
        "carol"
    );
    // alice is full now (r1, p3).
    assert_eq!(
        queued_at(&place(seam, preferring("p6", "sales", "alice")).await),
        1
    );
    // When alice frees a slot, the queued ticket preferring her goes to her.
    let (_, placements) = seam.release("r1").await.expect("release");
    assert_eq!(summary(&placements), pairs(&[("p6", "alice")]));
}

async fn offers_count_accept_assigns_decline_never_comes_back(kind: Kind) {
    let seam = kind
        .build(
            vec![offering("support", Strategy::RoundRobin)],
            vec![
                agent("alice", &["support"], 1),
                agent("bob", &["support"], 1),
                agent("carol", &["support"], 1),
            ],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice", "bob"]).await;
    let placement = place(seam, ticket("c1", "support", 0, 1)).await;
    assert_eq!(offered_to(&placement), "alice");
    assert_eq!(load(seam, "alice").await, 1);
    assert_eq!(
        seam.held("c1").await.expect("held"),
        Some(Held::Offered {
            team: tid("support"),
            agent: aid("alice")
        })
    );
    assert_eq!(
        agent_view(&snapshot(seam).await, "alice").offered,
        ["c1".to_owned()]
    );
    // Only alice may accept or decline it.
    assert_eq!(
        seam.accept(&aid("bob"), "c1").await,
        Err(AssignError::NotOffered("c1".to_owned()))
    );
    assert_eq!(
        seam.decline(&aid("bob"), "c1").await,
        Err(AssignError::NotOffered("c1".to_owned()))
    );
    assert_eq!(
        seam.accept(&aid("zed"), "c1").await,
        Err(AssignError::UnknownAgent(aid("zed")))
    );
    // alice declines: bob gets the offer.
    let placements = seam.decline(&aid("alice"), "c1").await.expect("declined");
    assert_eq!(summary(&placements), pairs(&[("c1", "bob")]));
    assert!(matches!(placements[0], Placement::Offered { .. }));
    // alice has room again: the next one is hers (the turn wraps after bob).
    assert_eq!(
        offered_to(&place(seam, ticket("c2", "support", 0, 2)).await),
        "alice"
    );
    // bob declines too: c1 may go neither to him nor to alice; back to the queue at its place.
    let placements = seam.decline(&aid("bob"), "c1").await.expect("declined");
    assert_eq!(summary(&placements), pairs(&[("c1", "-")]));
    assert_eq!(queued_at(&placements[0]), 1);
    assert_eq!(seam.position("c1").await.expect("position"), Some(1));
    assert_eq!(load(seam, "bob").await, 0);
    // carol comes online: she may take it.
    let placements = seam
        .set_presence(&aid("carol"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("c1", "carol")]));
    let placement = seam.accept(&aid("carol"), "c1").await.expect("accepted");
    assert_eq!(assigned_to(&placement), "carol");
    assert_eq!(
        seam.held("c1").await.expect("held"),
        Some(Held::Assigned {
            team: tid("support"),
            agent: aid("carol")
        })
    );
    assert_eq!(load(seam, "carol").await, 1);
    assert_eq!(
        seam.accept(&aid("carol"), "c1").await,
        Err(AssignError::NotOffered("c1".to_owned()))
    );
    // After carol (wrapping) alice is full, then bob.
    assert_eq!(
        offered_to(&place(seam, ticket("c3", "support", 0, 3)).await),
        "bob"
    );
    assert_eq!(
        queued_at(&place(seam, ticket("c4", "support", 0, 4)).await),
        1
    );
    // An offer released frees the slot and drains.
    let (held, placements) = seam.release("c2").await.expect("released");
    assert_eq!(
        held,
        Some(Held::Offered {
            team: tid("support"),
            agent: aid("alice")
        })
    );
    assert_eq!(summary(&placements), pairs(&[("c4", "alice")]));
}

async fn a_drain_skips_a_ticket_only_its_decliners_could_take(kind: Kind) {
    let seam = kind
        .build(
            vec![offering("support", Strategy::LeastBusy)],
            vec![
                agent("alice", &["support"], 2),
                agent("bob", &["support"], 1),
            ],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice"]).await;
    assert_eq!(
        offered_to(&place(seam, ticket("c1", "support", 5, 1)).await),
        "alice"
    );
    let placements = seam.decline(&aid("alice"), "c1").await.expect("declined");
    assert_eq!(summary(&placements), pairs(&[("c1", "-")]));
    // A later, lower ticket goes to alice although c1 waits: only its decliner could take it.
    assert_eq!(
        offered_to(&place(seam, ticket("c2", "support", 0, 2)).await),
        "alice"
    );
    assert_eq!(queue(seam, "support").await, ["c1"]);
    // bob comes online and takes c1.
    let placements = seam
        .set_presence(&aid("bob"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("c1", "bob")]));
}

async fn overflow_moves_a_queued_conversation(kind: Kind) {
    let seam = kind
        .build(
            vec![
                offering("sales", Strategy::RoundRobin),
                TeamSpec {
                    max_queue: 1,
                    ..team("backup", Strategy::LeastBusy)
                },
            ],
            vec![agent("alice", &["sales"], 1), agent("bob", &["backup"], 1)],
        )
        .await;
    let seam = &*seam;
    assert_eq!(
        queued_at(&place(seam, ticket("c1", "sales", 2, 10)).await),
        1
    );
    assert_eq!(
        queued_at(&place(seam, ticket("c2", "sales", 0, 5)).await),
        2
    );
    assert_eq!(
        seam.overflow("c1", &tid("nowhere")).await,
        Err(AssignError::UnknownTeam(tid("nowhere")))
    );
    // Nobody in backup: it waits there, keeping priority and arrival.
    let placement = seam
        .overflow("c2", &tid("backup"))
        .await
        .expect("overflow")
        .expect("queued");
    assert_eq!(placement.team(), &tid("backup"));
    assert_eq!(queued_at(&placement), 1);
    assert_eq!(
        seam.held("c2").await.expect("held"),
        Some(Held::Queued {
            team: tid("backup")
        })
    );
    // backup is full: c1 stays where it was.
    let before = snapshot(seam).await;
    assert_eq!(
        seam.overflow("c1", &tid("backup")).await,
        Err(AssignError::QueueFull(tid("backup")))
    );
    assert_eq!(snapshot(seam).await, before);
    assert_eq!(seam.position("c1").await.expect("position"), Some(1));
    // Overflowing into its own full team is allowed (it takes its own place again).
    seam.overflow("c2", &tid("backup"))
        .await
        .expect("overflow")
        .expect("still queued");
    // Not queued (or unknown): nothing.
    let placements = seam
        .set_presence(&aid("bob"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("c2", "bob")]));
    assert_eq!(
        seam.overflow("c2", &tid("sales")).await.expect("overflow"),
        None
    );
    assert_eq!(
        seam.overflow("nobody", &tid("sales"))
            .await
            .expect("overflow"),
        None
    );
    // A declined conversation overflowed forgets who declined it (in sales, alice).
    seam.set_presence(&aid("alice"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(holder(seam, "c1").await.as_deref(), Some("alice"));
    let placements = seam.decline(&aid("alice"), "c1").await.expect("declined");
    assert_eq!(summary(&placements), pairs(&[("c1", "-")]));
    seam.release("c2").await.expect("release");
    let placement = seam
        .overflow("c1", &tid("backup"))
        .await
        .expect("overflow")
        .expect("placed");
    assert_eq!(assigned_to(&placement), "bob");
}

async fn assign_to_transfers_to_any_online_agent_with_room(kind: Kind) {
    let seam = kind
        .build(
            vec![
                offering("sales", Strategy::RoundRobin),
                team("support", Strategy::LeastBusy),
            ],
            vec![agent("alice", &["sales"], 1), agent("bob", &["support"], 2)],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice", "bob"]).await;
    // Into a team the agent is not in, never an offer.
    let placement = seam
        .assign_to(&aid("bob"), ticket("c1", "sales", 0, 1))
        .await
        .expect("assigned");
    assert_eq!(
        placement,
        Placement::Assigned {
            conversation: super::tests::conversation("c1"),
            team: tid("sales"),
            agent: aid("bob"),
        }
    );
    assert_eq!(
        seam.assign_to(&aid("bob"), ticket("c1", "sales", 0, 1))
            .await,
        Err(AssignError::AlreadyPlaced("c1".to_owned()))
    );
    assert_eq!(
        seam.assign_to(&aid("zed"), ticket("c2", "sales", 0, 1))
            .await,
        Err(AssignError::UnknownAgent(aid("zed")))
    );
    assert_eq!(
        seam.assign_to(&aid("bob"), ticket("c2", "nowhere", 0, 1))
            .await,
        Err(AssignError::UnknownTeam(tid("nowhere")))
    );
    seam.set_presence(&aid("alice"), Presence::Away, 0)
        .await
        .expect("away");
    let before = snapshot(seam).await;
    assert_eq!(
        seam.assign_to(&aid("alice"), ticket("c2", "sales", 0, 1))
            .await,
        Err(AssignError::AgentUnavailable(aid("alice")))
    );
    assert_eq!(
        assigned_to(
            &seam
                .assign_to(&aid("bob"), ticket("c3", "support", 0, 1))
                .await
                .expect("assigned")
        ),
        "bob"
    );
    assert_eq!(
        seam.assign_to(&aid("bob"), ticket("c4", "support", 0, 1))
            .await,
        Err(AssignError::AgentUnavailable(aid("bob")))
    );
    assert_eq!(load(seam, "bob").await, 2);
    assert_eq!(agent_view(&before, "alice").load, 0);
}

async fn away_and_offline_agents_keep_their_conversations_and_get_nothing_new(kind: Kind) {
    let seam = kind
        .build(
            vec![team("sales", Strategy::RoundRobin)],
            vec![agent("alice", &["sales"], 3)],
        )
        .await;
    let seam = &*seam;
    assert_eq!(
        seam.set_presence(&aid("zed"), Presence::Online, 0).await,
        Err(AssignError::UnknownAgent(aid("zed")))
    );
    online(seam, &["alice"]).await;
    assert_eq!(
        assigned_to(&place(seam, ticket("c1", "sales", 0, 1)).await),
        "alice"
    );
    for presence in [Presence::Away, Presence::Offline] {
        assert!(
            seam.set_presence(&aid("alice"), presence, 0)
                .await
                .expect("presence")
                .is_empty()
        );
        let view = agent_view(&snapshot(seam).await, "alice").clone();
        assert_eq!(view.presence, presence);
        assert_eq!(view.assigned, ["c1".to_owned()]);
        assert_eq!(holder(seam, "c1").await.as_deref(), Some("alice"));
    }
    assert_eq!(
        queued_at(&place(seam, ticket("c2", "sales", 0, 2)).await),
        1
    );
    assert_eq!(
        queued_at(&place(seam, ticket("c3", "sales", 1, 3)).await),
        1
    );
    seam.set_presence(&aid("alice"), Presence::Away, 0)
        .await
        .expect("away");
    assert_eq!(queue(seam, "sales").await, ["c3", "c2"]);
    let placements = seam
        .set_presence(&aid("alice"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(
        summary(&placements),
        pairs(&[("c3", "alice"), ("c2", "alice")])
    );
    assert_eq!(load(seam, "alice").await, 3);
}

async fn presence_leases_expire_unless_renewed(kind: Kind) {
    let seam = kind
        .build(
            vec![team("sales", Strategy::RoundRobin)],
            vec![
                agent("alice", &["sales"], 1),
                agent("bob", &["sales"], 1),
                agent("carol", &["sales"], 1),
                agent("dave", &["sales"], 1),
            ],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice", "bob", "carol"]).await;
    seam.set_presence(&aid("carol"), Presence::Away, 0)
        .await
        .expect("away");
    assert_eq!(
        assigned_to(&place(seam, ticket("c1", "sales", 0, 1)).await),
        "alice"
    );
    // No lease: never expires.
    assert!(
        seam.expire_presence(i64::MAX)
            .await
            .expect("expire")
            .is_empty()
    );
    // dave is offline: a heartbeat does not bring him online nor give him a lease; unknown
    // agents are ignored.
    seam.heartbeat(
        &[
            aid("carol"),
            aid("bob"),
            aid("alice"),
            aid("dave"),
            aid("zed"),
        ],
        100,
    )
    .await
    .expect("heartbeat");
    seam.heartbeat(&[aid("bob")], 200).await.expect("heartbeat");
    seam.heartbeat(&[], 1).await.expect("heartbeat of nobody");
    // Strictly before: a lease ending at 100 holds at 100.
    assert!(seam.expire_presence(100).await.expect("expire").is_empty());
    assert_eq!(
        seam.expire_presence(101).await.expect("expire"),
        [aid("alice"), aid("carol")]
    );
    let view = snapshot(seam).await;
    assert_eq!(agent_view(&view, "alice").presence, Presence::Offline);
    assert_eq!(agent_view(&view, "alice").assigned, ["c1".to_owned()]);
    assert_eq!(agent_view(&view, "carol").presence, Presence::Offline);
    assert_eq!(agent_view(&view, "bob").presence, Presence::Online);
    assert_eq!(agent_view(&view, "dave").presence, Presence::Offline);
    assert!(seam.expire_presence(150).await.expect("expire").is_empty());
    // A lease may also be shortened; going offline forgets it.
    seam.heartbeat(&[aid("bob")], 120).await.expect("heartbeat");
    seam.set_presence(&aid("bob"), Presence::Offline, 0)
        .await
        .expect("offline");
    online(seam, &["bob"]).await;
    assert!(
        seam.expire_presence(i64::MAX)
            .await
            .expect("expire")
            .is_empty()
    );
    // Extremes of time.
    seam.heartbeat(&[aid("bob")], i64::MIN)
        .await
        .expect("heartbeat");
    assert!(
        seam.expire_presence(i64::MIN)
            .await
            .expect("expire")
            .is_empty()
    );
    assert_eq!(
        seam.expire_presence(i64::MIN + 1).await.expect("expire"),
        [aid("bob")]
    );
    // The expired agent's queue work waits for someone online.
    assert_eq!(
        queued_at(&place(seam, ticket("c2", "sales", 0, 2)).await),
        1
    );
}

async fn time_in_status_starts_at_each_change(kind: Kind) {
    let seam = kind
        .build(
            vec![team("sales", Strategy::RoundRobin)],
            vec![
                agent("alice", &["sales"], 1),
                agent("bob", &["sales"], 1),
                agent("carol", &["sales"], 1),
            ],
        )
        .await;
    let seam = &*seam;
    let since = |view: &Snapshot, name: &str| agent_view(view, name).presence_since_ms;
    // Nobody has changed yet: unknown, not "offline since the epoch".
    let view = snapshot(seam).await;
    assert_eq!(since(&view, "alice"), None);
    seam.set_presence(&aid("alice"), Presence::Online, 1_000)
        .await
        .expect("online");
    seam.set_presence(&aid("bob"), Presence::Away, 1_500)
        .await
        .expect("away");
    // Saying the same again keeps the start; a change restarts it.
    seam.set_presence(&aid("alice"), Presence::Online, 2_000)
        .await
        .expect("still online");
    seam.set_presence(&aid("bob"), Presence::Online, 2_500)
        .await
        .expect("online");
    // Offline to offline is no change either.
    seam.set_presence(&aid("carol"), Presence::Offline, 2_600)
        .await
        .expect("offline");
    let view = snapshot(seam).await;
    assert_eq!(since(&view, "alice"), Some(1_000));
    assert_eq!(since(&view, "bob"), Some(2_500));
    assert_eq!(since(&view, "carol"), None);
    // A lapsed lease dates the fall to offline at the expiry.
    seam.heartbeat(&[aid("alice")], 3_000)
        .await
        .expect("heartbeat");
    assert_eq!(
        seam.expire_presence(3_001).await.expect("expire"),
        [aid("alice")]
    );
    let view = snapshot(seam).await;
    assert_eq!(agent_view(&view, "alice").presence, Presence::Offline);
    assert_eq!(since(&view, "alice"), Some(3_001));
    // A new configuration keeps it; an agent retired while holding something loses it.
    place(seam, ticket("c1", "sales", 0, 1)).await;
    configure(
        seam,
        vec![team("sales", Strategy::RoundRobin)],
        vec![agent("alice", &["sales"], 2), agent("carol", &["sales"], 1)],
        7,
    )
    .await;
    let view = snapshot(seam).await;
    assert_eq!(since(&view, "alice"), Some(3_001));
    assert_eq!(agent_view(&view, "bob").presence, Presence::Offline);
    assert_eq!(since(&view, "bob"), None);
    // A restore starts everyone offline with no known start.
    seam.restore(Vec::new(), Vec::new()).await.expect("restore");
    let view = snapshot(seam).await;
    assert!(view.agents.iter().all(|a| a.presence_since_ms.is_none()));
}

async fn refusals_change_nothing(kind: Kind) {
    let seam = kind
        .build(
            vec![
                TeamSpec {
                    max_queue: 1,
                    ..offering("sales", Strategy::RoundRobin)
                },
                TeamSpec {
                    max_queue: 0,
                    ..team("none", Strategy::LeastBusy)
                },
            ],
            vec![agent("alice", &["sales", "none"], 1)],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice"]).await;
    assert_eq!(
        offered_to(&place(seam, ticket("c1", "sales", 0, 1)).await),
        "alice"
    );
    assert_eq!(
        queued_at(&place(seam, ticket("c2", "sales", 0, 2)).await),
        1
    );
    let before = snapshot(seam).await;
    let refusals: Vec<(Result<Placement, AssignError>, AssignError)> = vec![
        (
            seam.place(ticket("c3", "sales", 9, 0)).await,
            AssignError::QueueFull(tid("sales")),
        ),
        (
            seam.place(ticket("c3", "none", 0, 0)).await,
            AssignError::QueueFull(tid("none")),
        ),
        (
            seam.place(ticket("c3", "nowhere", 0, 0)).await,
            AssignError::UnknownTeam(tid("nowhere")),
        ),
        (
            seam.place(ticket("c1", "nowhere", 0, 0)).await,
            AssignError::AlreadyPlaced("c1".to_owned()),
        ),
        (
            seam.place(ticket("c2", "sales", 0, 0)).await,
            AssignError::AlreadyPlaced("c2".to_owned()),
        ),
        (
            seam.accept(&aid("alice"), "c2").await,
            AssignError::NotOffered("c2".to_owned()),
        ),
        (
            seam.accept(&aid("alice"), "nobody").await,
            AssignError::NotOffered("nobody".to_owned()),
        ),
    ];
    for (got, expected) in refusals {
        assert_eq!(got, Err(expected));
    }
    assert_eq!(
        seam.decline(&aid("zed"), "c1").await,
        Err(AssignError::UnknownAgent(aid("zed")))
    );
    assert_eq!(
        seam.set_presence(&aid("zed"), Presence::Away, 0).await,
        Err(AssignError::UnknownAgent(aid("zed")))
    );
    assert_eq!(
        seam.overflow("c2", &tid("none")).await,
        Err(AssignError::QueueFull(tid("none")))
    );
    assert_eq!(snapshot(seam).await, before);
    assert_eq!(seam.position("c2").await.expect("position"), Some(1));
}

async fn restore_rebuilds_and_is_ready(kind: Kind) {
    let seam = kind
        .build(
            vec![
                TeamSpec {
                    max_queue: 1,
                    ..team("sales", Strategy::RoundRobin)
                },
                team("support", Strategy::LeastBusy),
            ],
            vec![
                agent("alice", &["sales"], 1),
                agent("bob", &["sales", "support"], 2),
            ],
        )
        .await;
    let seam = &*seam;
    assert!(!seam.is_ready().await.expect("ready?"));
    online(seam, &["alice", "bob"]).await;
    seam.heartbeat(&[aid("alice")], 10)
        .await
        .expect("heartbeat");
    assert_eq!(
        assigned_to(&place(seam, ticket("old", "sales", 0, 1)).await),
        "alice"
    );
    let with_agent = |id: &str, team: &str, agent: &str| (ticket(id, team, 0, 0), aid(agent));
    let rebuilt = seam
        .restore(
            vec![
                with_agent("a1", "sales", "alice"),
                with_agent("a2", "sales", "alice"),
                with_agent("b1", "support", "bob"),
                with_agent("a1", "support", "bob"),
                with_agent("x1", "sales", "zed"),
                with_agent("x2", "nowhere", "bob"),
            ],
            vec![
                ticket("w1", "sales", 0, 5),
                ticket("w2", "sales", 1, 9),
                ticket("w3", "support", 0, 1),
                ticket("b1", "sales", 0, 1),
                ticket("x3", "nowhere", 0, 1),
            ],
        )
        .await
        .expect("restored");
    assert!(rebuilt);
    assert!(seam.is_ready().await.expect("ready?"));
    let view = snapshot(seam).await;
    // Everyone offline, loads counted even above capacity, queues in order whatever max_queue.
    for agent in &view.agents {
        assert_eq!(agent.presence, Presence::Offline);
    }
    assert_eq!(
        agent_view(&view, "alice").assigned,
        ["a1".to_owned(), "a2".to_owned()]
    );
    assert_eq!(agent_view(&view, "alice").load, 2);
    assert_eq!(agent_view(&view, "bob").assigned, ["b1".to_owned()]);
    assert_eq!(view.teams[0].queue, ["w2", "w1"]);
    assert_eq!(view.teams[1].queue, ["w3"]);
    assert_eq!(seam.held("old").await.expect("held"), None);
    for id in ["x1", "x2", "x3"] {
        assert_eq!(seam.held(id).await.expect("held"), None);
    }
    // Leases are gone with the old presence.
    assert!(
        seam.expire_presence(i64::MAX)
            .await
            .expect("expire")
            .is_empty()
    );
    // bob comes online: support's queue drains to him; sales waits for alice to have room.
    let placements = seam
        .set_presence(&aid("bob"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("w2", "bob")]));
}

/// `holdings` lists every assigned, offered and queued conversation with its conversation
/// reference; released ones leave it. The take-over's check of unrecorded decisions reads it.
async fn holdings_list_every_placed_conversation(kind: Kind) {
    let seam = kind
        .build(
            vec![
                team("sales", Strategy::RoundRobin),
                offering("support", Strategy::RoundRobin),
            ],
            vec![agent("alice", &["sales"], 1), agent("bob", &["support"], 1)],
        )
        .await;
    let seam = &*seam;
    assert!(seam.holdings().await.expect("holdings").is_empty());
    online(seam, &["alice", "bob"]).await;
    place(seam, ticket("c1", "sales", 0, 1)).await;
    place(seam, ticket("c2", "sales", 0, 2)).await;
    place(seam, ticket("c3", "support", 0, 3)).await;
    let mut holdings = seam.holdings().await.expect("holdings");
    holdings.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    assert_eq!(
        holdings,
        vec![
            (
                super::tests::conversation("c1"),
                Held::Assigned {
                    team: tid("sales"),
                    agent: aid("alice")
                }
            ),
            (
                super::tests::conversation("c2"),
                Held::Queued { team: tid("sales") }
            ),
            (
                super::tests::conversation("c3"),
                Held::Offered {
                    team: tid("support"),
                    agent: aid("bob")
                }
            ),
        ]
    );
    seam.release("c3").await.expect("released");
    let ids: Vec<String> = seam
        .holdings()
        .await
        .expect("holdings")
        .into_iter()
        .map(|(c, _)| c.id)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(ids, vec!["c1".to_string(), "c2".to_string()]);
}

// ---- configuration at runtime ----

async fn configure(
    seam: &dyn Assignments,
    teams: Vec<TeamSpec>,
    agents: Vec<AgentSpec>,
    version: i64,
) -> Vec<Placement> {
    let configured = seam
        .configure(teams, agents, version)
        .await
        .expect("configured");
    assert!(configured.applied, "version {version} applies");
    assert_eq!(seam.configured_version().await.expect("version"), version);
    configured.placements
}

async fn listed(seam: &dyn Assignments) -> (Vec<String>, Vec<String>) {
    let view = snapshot(seam).await;
    (
        view.teams
            .iter()
            .map(|t| t.team.as_str().to_owned())
            .collect(),
        view.agents
            .iter()
            .map(|a| a.agent.as_str().to_owned())
            .collect(),
    )
}

async fn configure_applies_only_newer_versions(kind: Kind) {
    let seam = kind
        .build(
            vec![team("sales", Strategy::RoundRobin)],
            vec![agent("alice", &["sales"], 1)],
        )
        .await;
    let seam = &*seam;
    assert_eq!(seam.configured_version().await.expect("version"), 0);
    let before = snapshot(seam).await;
    let other = || {
        (
            vec![team("support", Strategy::LeastBusy)],
            vec![agent("bob", &["support"], 2)],
        )
    };
    for version in [0, -1, i64::MIN] {
        let (teams, agents) = other();
        let configured = seam
            .configure(teams, agents, version)
            .await
            .expect("configure");
        assert_eq!(configured, Configured::default());
        assert_eq!(snapshot(seam).await, before);
    }
    let (teams, agents) = other();
    assert!(
        configure(seam, teams, agents, i64::MAX - 1)
            .await
            .is_empty()
    );
    assert_eq!(
        listed(seam).await,
        (vec!["support".to_owned()], vec!["bob".to_owned()])
    );
    for version in [i64::MAX - 1, 7] {
        let configured = seam
            .configure(vec![team("sales", Strategy::RoundRobin)], vec![], version)
            .await
            .expect("configure");
        assert!(!configured.applied);
    }
    assert!(configure(seam, vec![], vec![], i64::MAX).await.is_empty());
    assert_eq!(listed(seam).await, (vec![], vec![]));
}

async fn configure_keeps_the_live_state_and_applies_changes_at_once(kind: Kind) {
    let teams = || {
        vec![
            team("sales", Strategy::RoundRobin),
            offering("support", Strategy::LeastBusy),
        ]
    };
    let seam = kind
        .build(
            teams(),
            vec![
                agent("a1", &["sales"], 2),
                agent("a2", &["sales", "support"], 1),
                agent("a3", &["sales"], 2),
            ],
        )
        .await;
    let seam = &*seam;
    online(seam, &["a1", "a2", "a3"]).await;
    seam.heartbeat(&[aid("a1")], 100).await.expect("heartbeat");
    assert_eq!(
        assigned_to(&place(seam, ticket("c1", "sales", 0, 1)).await),
        "a1"
    );
    assert_eq!(
        assigned_to(&place(seam, ticket("c2", "sales", 0, 2)).await),
        "a2"
    );
    assert_eq!(
        queued_at(&place(seam, ticket("p1", "support", 0, 3)).await),
        1
    );
    assert_eq!(
        queued_at(&place(seam, ticket("p2", "support", 1, 4)).await),
        1
    );
    let before = snapshot(seam).await;
    // The same configuration again: nothing changes.
    let same = vec![
        agent("a1", &["sales"], 2),
        agent("a2", &["sales", "support"], 1),
        agent("a3", &["sales"], 2),
    ];
    assert!(configure(seam, teams(), same, 1).await.is_empty());
    assert_eq!(snapshot(seam).await, before);

    // a2 leaves sales (the turn was after it), a3 joins support (p2 first, then p1, offered),
    // a1's capacity drops below its load, a new agent and a new team arrive.
    let mut more = teams();
    more.push(team("vip", Strategy::RoundRobin));
    let placements = configure(
        seam,
        more,
        vec![
            agent("a0", &["sales", "vip"], 1),
            agent("a1", &["sales"], 0),
            agent("a2", &["support"], 1),
            agent("a3", &["sales", "support"], 2),
        ],
        2,
    )
    .await;
    assert_eq!(summary(&placements), pairs(&[("p2", "a3"), ("p1", "a3")]));
    assert!(
        placements
            .iter()
            .all(|p| matches!(p, Placement::Offered { .. }))
    );
    let view = snapshot(seam).await;
    let a0 = agent_view(&view, "a0");
    assert_eq!((a0.presence, a0.load), (Presence::Offline, 0));
    assert!(queue(seam, "vip").await.is_empty());
    let a1 = agent_view(&view, "a1");
    assert_eq!(
        (a1.presence, a1.load, a1.capacity),
        (Presence::Online, 1, 0)
    );
    assert_eq!(agent_view(&view, "a2").assigned, ["c2"]);
    assert_eq!(agent_view(&view, "a2").teams, [tid("support")]);
    // The lease still runs; the turn in sales continues after a2, where it would have been:
    // a3 (full), then a0 (offline), then a1 (over capacity): nobody.
    assert_eq!(
        queued_at(&place(seam, ticket("c3", "sales", 0, 5)).await),
        1
    );
    let placements = seam
        .set_presence(&aid("a0"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("c3", "a0")]));
    // A raised capacity drains at once.
    assert_eq!(
        queued_at(&place(seam, ticket("c4", "sales", 0, 6)).await),
        1
    );
    let placements = configure(
        seam,
        vec![
            team("sales", Strategy::LeastBusy),
            offering("support", Strategy::LeastBusy),
            team("vip", Strategy::RoundRobin),
        ],
        vec![
            agent("a0", &["sales", "vip"], 1),
            agent("a1", &["sales"], 3),
            agent("a2", &["support"], 1),
            agent("a3", &["sales", "support"], 2),
        ],
        3,
    )
    .await;
    assert_eq!(summary(&placements), pairs(&[("c4", "a1")]));
    assert_eq!(snapshot(seam).await.teams[0].strategy, Strategy::LeastBusy);
    assert_eq!(
        seam.expire_presence(101).await.expect("expire"),
        [aid("a1")]
    );
}

async fn a_removed_agent_keeps_what_it_holds_until_requeued(kind: Kind) {
    let teams = || {
        vec![
            team("sales", Strategy::RoundRobin),
            offering("support", Strategy::RoundRobin),
        ]
    };
    let seam = kind
        .build(
            teams(),
            vec![
                agent("alice", &["sales", "support"], 3),
                agent("bob", &["sales", "support"], 5),
            ],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice", "bob"]).await;
    seam.heartbeat(&[aid("alice")], 100)
        .await
        .expect("heartbeat");
    assert_eq!(
        assigned_to(&place(seam, ticket("c1", "sales", 0, 1)).await),
        "alice"
    );
    assert_eq!(
        assigned_to(&place(seam, ticket("c2", "sales", 0, 2)).await),
        "bob"
    );
    assert_eq!(
        offered_to(&place(seam, ticket("c3", "support", 0, 3)).await),
        "alice"
    );
    let placements = configure(
        seam,
        teams(),
        vec![agent("bob", &["sales", "support"], 5)],
        1,
    )
    .await;
    assert!(placements.is_empty());
    let view = snapshot(seam).await;
    let alice = agent_view(&view, "alice");
    assert_eq!(alice.presence, Presence::Offline);
    assert!(alice.teams.is_empty());
    assert_eq!((alice.load, alice.capacity), (2, 3));
    assert_eq!(
        (alice.assigned.clone(), alice.offered.clone()),
        (vec!["c1".to_owned()], vec!["c3".to_owned()])
    );
    let held: Vec<String> = seam
        .holdings_of(&aid("alice"))
        .await
        .expect("holdings")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(held, ["c1", "c3"]);
    assert_eq!(
        seam.holdings_of(&aid("nobody")).await.expect("holdings"),
        []
    );
    assert_eq!(
        seam.set_presence(&aid("alice"), Presence::Online, 0).await,
        Err(AssignError::UnknownAgent(aid("alice")))
    );
    assert_eq!(
        seam.assign_to(&aid("alice"), ticket("x", "sales", 0, 0))
            .await,
        Err(AssignError::UnknownAgent(aid("alice")))
    );
    assert_eq!(
        seam.accept(&aid("alice"), "c3").await,
        Err(AssignError::UnknownAgent(aid("alice")))
    );
    seam.heartbeat(&[aid("alice")], 1_000)
        .await
        .expect("heartbeat");
    assert!(
        seam.expire_presence(i64::MAX)
            .await
            .expect("expire")
            .is_empty()
    );
    assert_eq!(
        assigned_to(&place(seam, preferring("c4", "sales", "alice")).await),
        "bob"
    );
    // The caller moves what alice holds.
    assert_eq!(
        summary(&seam.requeue("c1").await.expect("requeue")),
        pairs(&[("c1", "bob")])
    );
    let placements = seam.requeue("c3").await.expect("requeue");
    assert_eq!(summary(&placements), pairs(&[("c3", "bob")]));
    assert!(matches!(placements[0], Placement::Offered { .. }));
    assert!(
        seam.holdings_of(&aid("alice"))
            .await
            .expect("holdings")
            .is_empty()
    );
    assert_eq!(listed(seam).await.1, ["bob"]);
    // Forgotten, then new again.
    configure(
        seam,
        teams(),
        vec![agent("bob", &["sales", "support"], 5)],
        2,
    )
    .await;
    configure(
        seam,
        teams(),
        vec![
            agent("alice", &["sales"], 1),
            agent("bob", &["sales", "support"], 5),
        ],
        3,
    )
    .await;
    let view = snapshot(seam).await;
    let alice = agent_view(&view, "alice");
    assert_eq!(
        (alice.presence, alice.load, alice.capacity),
        (Presence::Offline, 0, 1)
    );
}

async fn a_removed_team_keeps_its_queue(kind: Kind) {
    let both = || {
        vec![
            team("sales", Strategy::RoundRobin),
            offering("vip", Strategy::RoundRobin),
        ]
    };
    let agents = || {
        vec![
            agent("alice", &["sales", "vip"], 1),
            agent("bob", &["sales"], 1),
        ]
    };
    let seam = kind.build(both(), agents()).await;
    let seam = &*seam;
    place(seam, ticket("v1", "vip", 0, 1)).await;
    place(seam, ticket("v2", "vip", 0, 2)).await;
    let placements = seam
        .set_presence(&aid("alice"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("v1", "alice")]));
    let sales_only = || vec![team("sales", Strategy::RoundRobin)];
    configure(seam, sales_only(), agents(), 1).await;
    assert_eq!(listed(seam).await.0, ["sales", "vip"]);
    assert_eq!(queue(seam, "vip").await, ["v2"]);
    assert_eq!(
        seam.place(ticket("v3", "vip", 0, 3)).await,
        Err(AssignError::UnknownTeam(tid("vip")))
    );
    assert_eq!(
        seam.overflow("v2", &tid("vip")).await,
        Err(AssignError::UnknownTeam(tid("vip")))
    );
    assert_eq!(seam.position("v2").await.expect("position"), Some(1));
    let placements = seam.decline(&aid("alice"), "v1").await.expect("declined");
    assert_eq!(summary(&placements), pairs(&[("v1", "-")]));
    assert_eq!(queue(seam, "vip").await, ["v1", "v2"]);
    // Back with bob as a member: drains at once (v1 never to alice).
    let placements = configure(
        seam,
        both(),
        vec![
            agent("alice", &["sales", "vip"], 1),
            agent("bob", &["sales", "vip"], 1),
        ],
        2,
    )
    .await;
    assert_eq!(summary(&placements), pairs(&[("v2", "alice")]));
    let placements = seam
        .set_presence(&aid("bob"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("v1", "bob")]));
    configure(seam, sales_only(), agents(), 3).await;
    assert_eq!(listed(seam).await.0, ["sales"]);
    // A requeue into the retired team lists it again.
    let placements = seam.requeue("v1").await.expect("requeue");
    assert_eq!(summary(&placements), pairs(&[("v1", "-")]));
    assert_eq!(listed(seam).await.0, ["sales", "vip"]);
    let placement = seam
        .overflow("v1", &tid("sales"))
        .await
        .expect("overflow")
        .expect("was queued");
    assert_eq!(assigned_to(&placement), "bob");
    assert_eq!(listed(seam).await.0, ["sales"]);
    seam.release("v2").await.expect("released");
    configure(seam, sales_only(), agents(), 4).await;
    assert_eq!(listed(seam).await.0, ["sales"]);
    // Coming back after being forgotten: a new team.
    configure(seam, both(), agents(), 5).await;
    assert_eq!(listed(seam).await.0, ["sales", "vip"]);
    assert!(queue(seam, "vip").await.is_empty());
}

async fn requeue_puts_a_conversation_back_at_its_place(kind: Kind) {
    let seam = kind
        .build(
            vec![
                team("sales", Strategy::RoundRobin),
                team("support", Strategy::RoundRobin),
            ],
            vec![
                agent("alice", &["sales", "support"], 1),
                agent("bob", &["sales"], 1),
            ],
        )
        .await;
    let seam = &*seam;
    online(seam, &["alice"]).await;
    assert_eq!(
        assigned_to(&place(seam, ticket("c1", "sales", 0, 10)).await),
        "alice"
    );
    assert_eq!(
        queued_at(&place(seam, ticket("c2", "sales", 0, 20)).await),
        1
    );
    assert_eq!(
        queued_at(&place(seam, ticket("p1", "support", 0, 30)).await),
        1
    );
    // Still eligible once freed: the best ticket (c1 itself) goes back to alice.
    assert_eq!(
        summary(&seam.requeue("c1").await.expect("requeue")),
        pairs(&[("c1", "alice")])
    );
    seam.set_presence(&aid("alice"), Presence::Away, 0)
        .await
        .expect("away");
    let placements = seam.requeue("c1").await.expect("requeue");
    assert_eq!(summary(&placements), pairs(&[("c1", "-")]));
    assert_eq!(queued_at(&placements[0]), 1);
    assert_eq!(queue(seam, "sales").await, ["c1", "c2"]);
    assert_eq!(load(seam, "alice").await, 0);
    assert!(seam.requeue("c1").await.expect("requeue").is_empty());
    assert!(seam.requeue("nobody").await.expect("requeue").is_empty());
    // bob takes c1; alice back online takes c2 and... (capacity 1) nothing else.
    let placements = seam
        .set_presence(&aid("bob"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("c1", "bob")]));
    let placements = seam
        .set_presence(&aid("alice"), Presence::Online, 0)
        .await
        .expect("online");
    assert_eq!(summary(&placements), pairs(&[("c2", "alice")]));
    // Requeueing bob's c1: alice is full, bob gets it back (the turn after alice).
    // Requeueing alice's c2 frees her slot for support too: c2 first (earlier), then p1.
    let placements = seam.requeue("c2").await.expect("requeue");
    assert_eq!(summary(&placements), pairs(&[("c2", "alice")]));
    seam.release("c1").await.expect("released");
    let placements = seam.requeue("c2").await.expect("requeue");
    assert_eq!(
        summary(&placements),
        pairs(&[("c2", "bob"), ("p1", "alice")])
    );
}

async fn declines_and_preferences_outlive_an_agent_leaving(kind: Kind) {
    let sales = || vec![offering("sales", Strategy::RoundRobin)];
    let with = |names: &[(&str, u32)]| -> Vec<AgentSpec> {
        names
            .iter()
            .map(|(name, capacity)| agent(name, &["sales"], *capacity))
            .collect()
    };
    let seam = kind.build(sales(), with(&[("alice", 5), ("bob", 5)])).await;
    let seam = &*seam;
    online(seam, &["alice", "bob"]).await;
    place(seam, ticket("c1", "sales", 0, 1)).await;
    let placements = seam.decline(&aid("alice"), "c1").await.expect("declined");
    assert_eq!(summary(&placements), pairs(&[("c1", "bob")]));
    configure(seam, sales(), with(&[("bob", 5)]), 1).await;
    configure(seam, sales(), with(&[("alice", 5), ("bob", 5)]), 2).await;
    online(seam, &["alice"]).await;
    let placements = seam.decline(&aid("bob"), "c1").await.expect("declined");
    assert_eq!(summary(&placements), pairs(&[("c1", "-")]));
    seam.release("c1").await.expect("released");

    configure(seam, sales(), with(&[("alice", 0), ("carol", 1)]), 3).await;
    place(seam, preferring("p1", "sales", "carol")).await;
    configure(seam, sales(), with(&[("alice", 0)]), 4).await;
    configure(seam, sales(), with(&[("alice", 0), ("carol", 0)]), 5).await;
    online(seam, &["carol"]).await;
    let placements = configure(seam, sales(), with(&[("alice", 1), ("carol", 1)]), 6).await;
    assert_eq!(summary(&placements), pairs(&[("p1", "carol")]));
}

macro_rules! against_both {
    ($($name:ident),* $(,)?) => {
        mod on_memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Kind::Memory).await;
                }
            )*
        }
        mod on_redis {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Kind::Redis).await;
                }
            )*
        }
    };
}

against_both!(
    queues_by_priority_then_arrival_then_order,
    release_frees_capacity_and_drains_at_once,
    round_robin_takes_turns_skips_and_resumes,
    round_robin_cursor_is_per_team,
    least_busy_picks_least_loaded_then_longest_idle_then_id,
    capacity_counts_across_teams,
    the_preferred_agent_goes_first,
    offers_count_accept_assigns_decline_never_comes_back,
    a_drain_skips_a_ticket_only_its_decliners_could_take,
    overflow_moves_a_queued_conversation,
    assign_to_transfers_to_any_online_agent_with_room,
    away_and_offline_agents_keep_their_conversations_and_get_nothing_new,
    presence_leases_expire_unless_renewed,
    time_in_status_starts_at_each_change,
    refusals_change_nothing,
    restore_rebuilds_and_is_ready,
    holdings_list_every_placed_conversation,
    configure_applies_only_newer_versions,
    configure_keeps_the_live_state_and_applies_changes_at_once,
    a_removed_agent_keeps_what_it_holds_until_requeued,
    a_removed_team_keeps_its_queue,
    requeue_puts_a_conversation_back_at_its_place,
    declines_and_preferences_outlive_an_agent_leaving,
);
