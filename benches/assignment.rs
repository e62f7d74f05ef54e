//! The assignment decision on its own (no actors, no lock): placing a conversation in a team of
//! 10, 100 and 1,000 online agents with room, for both strategies, and draining a queue of 1,000
//! when an agent comes online.
//!
//! `cargo bench --bench assignment -- --quick`
//! `cargo bench --bench assignment -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchboard::assign::board::{AgentSpec, Board, TeamSpec};
use switchboard::assign::{ConversationRef, Placement, Strategy, Ticket};
use switchboard::domain::{AgentId, ChannelId, ConversationKey, Presence, TeamId};

const TEAM: &str = "support";
/// Conversations placed per timed batch before they are released (untimed).
const BATCH: usize = 64;

fn agent_id(n: usize) -> AgentId {
    AgentId::new(format!("agent{n:04}"))
}

fn ticket(n: usize) -> Ticket {
    let id = format!("conv-{n}");
    Ticket {
        conversation: ConversationRef {
            key: ConversationKey::from_stored(format!("wa-support:{id}")),
            id,
            channel: ChannelId::new("wa-support"),
        },
        team: TeamId::new(TEAM),
        priority: 0,
        arrival_ms: 1_750_000_000_000 + n as i64,
        preferred_agent: None,
    }
}

/// One team of `agents` agents with `capacity` each, all offline.
fn board(strategy: Strategy, agents: usize, capacity: u32) -> Board {
    Board::new(
        vec![TeamSpec {
            id: TeamId::new(TEAM),
            strategy,
            offers: false,
            max_queue: 100_000,
        }],
        (0..agents)
            .map(|n| AgentSpec {
                id: agent_id(n),
                teams: vec![TeamId::new(TEAM)],
                capacity,
            })
            .collect(),
    )
}

fn all_online(board: &mut Board, agents: usize) {
    for n in 0..agents {
        board
            .set_presence(&agent_id(n), Presence::Online, 0)
            .expect("a configured agent");
    }
}

/// Steady state: every agent online with plenty of room, each agent already holding a few
/// conversations. Times `place` alone: a batch of tickets is built and, afterwards, released
/// outside the timed section.
fn place(c: &mut Criterion) {
    let mut group = c.benchmark_group("assign/place");
    group.throughput(Throughput::Elements(1));
    for (name, strategy) in [
        ("round_robin", Strategy::RoundRobin),
        ("least_busy", Strategy::LeastBusy),
    ] {
        for agents in [10usize, 100, 1_000] {
            let mut board = board(strategy, agents, 1_000);
            all_online(&mut board, agents);
            // Some load to pick among: three conversations each.
            for n in 0..agents * 3 {
                board.place(ticket(n)).expect("room for all");
            }
            let mut next = agents * 3;
            group.bench_function(BenchmarkId::new(name, agents), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut left = iters as usize;
                    while left > 0 {
                        let count = left.min(BATCH);
                        let tickets: Vec<Ticket> = (next..next + count).map(ticket).collect();
                        next += count;
                        let start = Instant::now();
                        for ticket in tickets {
                            black_box(board.place(black_box(ticket)).expect("room"));
                        }
                        total += start.elapsed();
                        for n in next - count..next {
                            board.release(&format!("conv-{n}")).expect("release");
                        }
                        left -= count;
                    }
                    total
                });
            });
        }
    }
    group.finish();
}

/// One place and its release (which finds nothing to drain), as a pair.
fn place_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("assign/place_release");
    group.throughput(Throughput::Elements(1));
    for (name, strategy) in [
        ("round_robin", Strategy::RoundRobin),
        ("least_busy", Strategy::LeastBusy),
    ] {
        for agents in [10usize, 1_000] {
            let mut board = board(strategy, agents, 1_000);
            all_online(&mut board, agents);
            let template = ticket(0);
            group.bench_function(BenchmarkId::new(name, agents), |b| {
                b.iter(|| {
                    let placement = board.place(template.clone()).expect("room");
                    black_box(&placement);
                    black_box(board.release(&template.conversation.id).expect("release"))
                });
            });
        }
    }
    group.finish();
}

/// 1,000 conversations wait (with a few priorities) in a team of 100 offline agents; one agent
/// with room for all of them comes online and takes the whole queue in one call.
fn drain(c: &mut Criterion) {
    let mut group = c.benchmark_group("assign/drain/agent_online");
    for (name, strategy) in [
        ("round_robin", Strategy::RoundRobin),
        ("least_busy", Strategy::LeastBusy),
    ] {
        let queued = 1_000usize;
        let mut waiting = board(strategy, 100, 1_000);
        for n in 0..queued {
            let mut ticket = ticket(n);
            ticket.priority = (n % 3) as i32;
            let placement = waiting.place(ticket).expect("queue has room");
            assert!(matches!(placement, Placement::Queued { .. }));
        }
        let who = agent_id(42);
        group.throughput(Throughput::Elements(queued as u64));
        group.bench_function(BenchmarkId::new(name, queued), |b| {
            b.iter_batched(
                || waiting.clone(),
                |mut board| {
                    let placements = board
                        .set_presence(&who, Presence::Online, 0)
                        .expect("a configured agent");
                    assert_eq!(placements.len(), queued);
                    (board, placements)
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, place, place_release, drain);
criterion_main!(benches);
