//! The in-process handoff → assigned path, without storage: a routing request through the
//! router actor's mailbox (rules evaluated, no HTTP lookup needed), then the assignment seam's
//! atomic `place` (lock + decision), with 10, 100 and 1,000 online agents in the team. Beside
//! it, the same `place` alone and a bare actix round trip, so the cost of each part shows.
//! The time-to-assign seen by a customer also includes the bot step's and the assignment's
//! grouped commits; that end-to-end figure is the load test's (`switchboard_time_to_assign_seconds`).
//!
//! `cargo bench --bench handoff -- --warm-up-time 1 --measurement-time 3`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use switchboard::assign::board::{AgentSpec, Board, TeamSpec};
use switchboard::assign::memory::MemoryAssignments;
use switchboard::assign::{Assignments, ConversationRef, Strategy, Ticket};
use switchboard::config::Settings;
use switchboard::domain::{AgentId, ChannelId, ConversationKey, CustomerId, Presence, TeamId};
use switchboard::routing::actor::{Route, RouterActor};
use switchboard::routing::{RouteRequest, Router};
use switchboard::store::ContactRecord;

fn settings() -> Settings {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load_from(&dir, "test", false).expect("the demo configuration");
    // No HTTP in the measured path: the open-ticket rule is dropped.
    settings
        .routing
        .rules
        .retain(|r| !r.when.contains("lookups."));
    settings
}

async fn board(agents: usize) -> Arc<MemoryAssignments> {
    let team = TeamId::new("support");
    let specs = (0..agents)
        .map(|n| AgentSpec {
            id: AgentId::new(format!("agent{n:04}")),
            teams: vec![team.clone()],
            capacity: 1_000_000,
        })
        .collect();
    let seam = MemoryAssignments::new(Board::new(
        vec![TeamSpec {
            id: team,
            strategy: Strategy::LeastBusy,
            offers: false,
            max_queue: 10_000,
        }],
        specs,
    ));
    for n in 0..agents {
        seam.set_presence(&AgentId::new(format!("agent{n:04}")), Presence::Online, 0)
            .await
            .expect("known agent");
    }
    Arc::new(seam)
}

fn request(n: u64) -> RouteRequest {
    let customer = format!("3460{n:07}");
    RouteRequest {
        conversation_id: format!("conv-{n}"),
        channel: ChannelId::new("support"),
        choice: None,
        reason: "customer asked for a person".into(),
        contact: ContactRecord {
            customer: CustomerId::new(customer.clone()),
            name: Some("Ana".into()),
            phone: Some(customer),
            language: Some("es".into()),
            fields: BTreeMap::new(),
            tags: vec!["vip".into()],
        },
        behaviour: Default::default(),
        last_agent: None,
    }
}

fn ticket(n: u64, team: TeamId, priority: i32) -> Ticket {
    let id = format!("conv-{n}");
    Ticket {
        conversation: ConversationRef {
            key: ConversationKey::from_stored(format!("support:{id}")),
            id,
            channel: ChannelId::new("support"),
        },
        team,
        priority,
        arrival_ms: n as i64,
        preferred_agent: None,
    }
}

struct Echo;
impl Actor for Echo {
    type Context = Context<Self>;
}
#[derive(Message)]
#[rtype(result = "u64")]
struct Ping(u64);
impl Handler<Ping> for Echo {
    type Result = u64;
    fn handle(&mut self, Ping(n): Ping, _: &mut Self::Context) -> u64 {
        n
    }
}

fn bench(c: &mut Criterion) {
    let system = actix::System::new();
    let settings = settings();
    let router = system.block_on(async {
        let router = Router::new(&settings.routing, &settings.teams, reqwest::Client::new())
            .expect("the demo routing");
        RouterActor::start(RouterActor::new(Arc::new(router), 1024))
    });
    let echo = system.block_on(async { Echo.start() });

    let mut group = c.benchmark_group("handoff");
    group.bench_function("actix_round_trip", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for n in 0..iters {
                    let _ = echo.send(Ping(n)).await;
                }
                start.elapsed()
            })
        })
    });
    for agents in [10usize, 100, 1000] {
        let seam = system.block_on(board(agents));
        group.bench_with_input(BenchmarkId::new("place_only", agents), &agents, |b, _| {
            b.iter_custom(|iters| {
                system.block_on(async {
                    let mut total = Duration::ZERO;
                    for n in 0..iters {
                        let t = ticket(n, TeamId::new("support"), 0);
                        let start = Instant::now();
                        let placed = seam.place(t).await;
                        total += start.elapsed();
                        assert!(placed.is_ok());
                        let _ = seam.release(&format!("conv-{n}")).await;
                    }
                    total
                })
            })
        });
        group.bench_with_input(
            BenchmarkId::new("route_and_place", agents),
            &agents,
            |b, _| {
                b.iter_custom(|iters| {
                    system.block_on(async {
                        let mut total = Duration::ZERO;
                        for n in 0..iters {
                            let start = Instant::now();
                            let decision = router.send(Route(request(n))).await.expect("router");
                            // The demo routes every VIP to support.
                            let t = ticket(n, TeamId::new("support"), decision.priority);
                            let placed = seam.place(t).await;
                            total += start.elapsed();
                            assert!(placed.is_ok());
                            let _ = seam.release(&format!("conv-{n}")).await;
                        }
                        total
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
