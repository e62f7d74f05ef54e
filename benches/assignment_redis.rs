//! Assignment decisions on Redis (`RedisAssignments`: one Lua script per decision, over a
//! private `redis-server` on localhost with append-only persistence) beside the in-memory seam
//! (`MemoryAssignments`) measured in the same run, with 10, 100 and 1,000 online agents in the
//! team, for both strategies. Every agent has room and already holds 3 conversations.
//!
//! - criterion `assign_seam/place/{memory,redis}/{strategy}/{agents}`: one `place` through the
//!   seam, one caller after the other (batches of 64 timed, released untimed);
//! - then a latency report (hdrhistogram): time-to-assign p50/p99 of single `place` calls over
//!   place+release cycles (beside a bare `PING` round trip, the floor of any Redis call), Redis's
//!   own time per script call (`INFO commandstats`), and decisions per second with 16 callers
//!   in flight on one connection (each place and each release is a decision).
//!
//! `cargo bench --bench assignment_redis -- --warm-up-time 1 --measurement-time 3`
//!
//! The server keeps an append-only file (`appendfsync everysec`, like a production Redis);
//! `SWITCHBOARD_BENCH_AOF=off` turns persistence off to see what it costs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use hdrhistogram::Histogram;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use switchboard::assign::board::{AgentSpec, Board, TeamSpec};
use switchboard::assign::memory::MemoryAssignments;
use switchboard::assign::redis::RedisAssignments;
use switchboard::assign::{Assignments, ConversationRef, Placement, Strategy, Ticket};
use switchboard::domain::{AgentId, ChannelId, ConversationKey, Presence, TeamId};
use switchboard::testkit::redis::RedisServer;
use tokio::runtime::Runtime;

const TEAM: &str = "support";
/// Conversations placed per timed batch before they are released (untimed).
const BATCH: usize = 64;
const AGENTS: [usize; 3] = [10, 100, 1_000];
const STRATEGIES: [(&str, Strategy); 2] = [
    ("round_robin", Strategy::RoundRobin),
    ("least_busy", Strategy::LeastBusy),
];
/// place+release cycles per configuration in the latency report.
const CYCLES: usize = 5_000;
/// Callers in flight for the throughput figure, and how long it runs.
const IN_FLIGHT: usize = 16;
const THROUGHPUT_TIME: Duration = Duration::from_secs(2);

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

fn specs(strategy: Strategy, agents: usize) -> (Vec<TeamSpec>, Vec<AgentSpec>) {
    (
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
                capacity: 1_000,
            })
            .collect(),
    )
}

/// A seam with every agent online, each holding three conversations; the next free ticket
/// number.
async fn prepare(seam: &dyn Assignments, agents: usize) -> usize {
    for n in 0..agents {
        seam.set_presence(&agent_id(n), Presence::Online, 0)
            .await
            .expect("a configured agent");
    }
    for n in 0..agents * 3 {
        let placement = seam.place(ticket(n)).await.expect("room for all");
        assert!(matches!(placement, Placement::Assigned { .. }));
    }
    agents * 3
}

async fn connection(server: &RedisServer) -> ConnectionManager {
    let client = redis::Client::open(server.url()).expect("a valid url");
    let config = ConnectionManagerConfig::new().set_response_timeout(Some(Duration::from_secs(5)));
    ConnectionManager::new_with_config(client, config)
        .await
        .expect("connects")
}

struct Setup {
    label: String,
    strategy: &'static str,
    agents: usize,
    seam: Arc<dyn Assignments>,
    next: usize,
}

async fn setups(server: &RedisServer) -> Vec<Setup> {
    let mut all = Vec::new();
    for (name, strategy) in STRATEGIES {
        for agents in AGENTS {
            let (teams, specs) = specs(strategy, agents);
            let memory: Arc<dyn Assignments> = Arc::new(MemoryAssignments::new(Board::new(
                teams.clone(),
                specs.clone(),
            )));
            let namespace = format!("bench-{name}-{agents}");
            let redis: Arc<dyn Assignments> = Arc::new(
                RedisAssignments::connect(connection(server).await, &namespace, teams, specs, 0)
                    .await
                    .expect("connected"),
            );
            for (label, seam) in [("memory", memory), ("redis", redis)] {
                let next = prepare(seam.as_ref(), agents).await;
                all.push(Setup {
                    label: label.to_owned(),
                    strategy: name,
                    agents,
                    seam,
                    next,
                });
            }
        }
    }
    all
}

/// Time `count` places (only the places), then release them.
async fn timed_places(seam: &dyn Assignments, next: &mut usize, count: usize) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = count;
    while left > 0 {
        let batch = left.min(BATCH);
        let tickets: Vec<Ticket> = (*next..*next + batch).map(ticket).collect();
        *next += batch;
        let start = Instant::now();
        for ticket in tickets {
            black_box(seam.place(black_box(ticket)).await.expect("room"));
        }
        total += start.elapsed();
        for n in *next - batch..*next {
            seam.release(&format!("conv-{n}")).await.expect("release");
        }
        left -= batch;
    }
    total
}

fn place(c: &mut Criterion, runtime: &Runtime, setups: &mut [Setup]) {
    let mut group = c.benchmark_group("assign_seam/place");
    group.throughput(Throughput::Elements(1));
    for setup in setups.iter_mut() {
        let id = BenchmarkId::new(format!("{}/{}", setup.label, setup.strategy), setup.agents);
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(timed_places(
                    setup.seam.as_ref(),
                    &mut setup.next,
                    iters as usize,
                ))
            });
        });
    }
    group.finish();
}

/// Place+release cycles, each call timed on its own (ns histograms).
async fn latencies(seam: &dyn Assignments, next: &mut usize) -> (Histogram<u64>, Histogram<u64>) {
    let mut place = histogram();
    let mut release = histogram();
    for _ in 0..CYCLES {
        let ticket = ticket(*next);
        *next += 1;
        let id = ticket.conversation.id.clone();
        let start = Instant::now();
        let placement = seam.place(ticket).await.expect("room");
        place.saturating_record(start.elapsed().as_nanos() as u64);
        black_box(placement);
        let start = Instant::now();
        let released = seam.release(&id).await.expect("release");
        release.saturating_record(start.elapsed().as_nanos() as u64);
        black_box(released);
    }
    (place, release)
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds")
}

/// The round trip of a bare `PING` on the same kind of connection: the floor under any Redis
/// call on this machine.
async fn ping_latencies(conn: &mut ConnectionManager) -> Histogram<u64> {
    let mut ping = histogram();
    for _ in 0..CYCLES {
        let start = Instant::now();
        let _: () = redis::cmd("PING").query_async(conn).await.expect("pong");
        ping.saturating_record(start.elapsed().as_nanos() as u64);
    }
    ping
}

/// Redis's own time per `EVALSHA` since the last `CONFIG RESETSTAT` (µs, from `INFO
/// commandstats`): the server's cost of a decision, whatever the client's scheduling.
async fn server_usec_per_script(conn: &mut ConnectionManager) -> Option<f64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .ok()?;
    let line = info
        .lines()
        .find(|line| line.starts_with("cmdstat_evalsha:"))?;
    let field = line
        .split(',')
        .find_map(|part| part.strip_prefix("usec_per_call="))?;
    field.parse().ok()
}

async fn reset_stats(conn: &mut ConnectionManager) {
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(conn)
        .await
        .expect("resetstat");
}

/// Decisions per second with `IN_FLIGHT` callers each running place+release cycles.
async fn throughput(seam: Arc<dyn Assignments>, next: &mut usize) -> f64 {
    let deadline = Instant::now() + THROUGHPUT_TIME;
    let start = Instant::now();
    let mut callers = Vec::new();
    for caller in 0..IN_FLIGHT {
        let seam = Arc::clone(&seam);
        // Each caller its own range of ticket numbers.
        let first = *next + caller * 10_000_000;
        callers.push(async move {
            let mut decisions = 0u64;
            let mut n = first;
            while Instant::now() < deadline {
                seam.place(ticket(n)).await.expect("room");
                seam.release(&format!("conv-{n}")).await.expect("release");
                n += 1;
                decisions += 2;
            }
            decisions
        });
    }
    let decisions: u64 = futures::future::join_all(callers).await.into_iter().sum();
    *next += IN_FLIGHT * 10_000_000;
    decisions as f64 / start.elapsed().as_secs_f64()
}

fn us(nanos: u64) -> String {
    format!("{:.1}", nanos as f64 / 1_000.0)
}

fn report(runtime: &Runtime, server: &RedisServer, setups: &mut [Setup]) {
    let mut conn = runtime.block_on(connection(server));
    println!();
    println!(
        "time-to-assign: one place (µs) over {CYCLES} place+release cycles, one caller; \
         server: Redis's µs per script call; decisions/s: {IN_FLIGHT} callers in flight"
    );
    println!(
        "{:<8} {:<12} {:>6} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} | {:>7} | {:>11}",
        "seam",
        "strategy",
        "agents",
        "p50",
        "p99",
        "p99.9",
        "max",
        "rel p50",
        "rel p99",
        "server",
        "decisions/s"
    );
    let ping = runtime.block_on(ping_latencies(&mut conn));
    println!(
        "{:<8} {:<12} {:>6} | {:>8} {:>8} {:>8} {:>8} |",
        "PING",
        "(baseline)",
        "",
        us(ping.value_at_quantile(0.50)),
        us(ping.value_at_quantile(0.99)),
        us(ping.value_at_quantile(0.999)),
        us(ping.max()),
    );
    for setup in setups.iter_mut() {
        runtime.block_on(reset_stats(&mut conn));
        let (place, release) = runtime.block_on(latencies(setup.seam.as_ref(), &mut setup.next));
        let server_us = if setup.label == "redis" {
            runtime
                .block_on(server_usec_per_script(&mut conn))
                .map_or_else(|| "?".to_owned(), |usec| format!("{usec:.1}"))
        } else {
            "-".to_owned()
        };
        let rate = runtime.block_on(throughput(Arc::clone(&setup.seam), &mut setup.next));
        println!(
            "{:<8} {:<12} {:>6} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} | {:>7} | {:>11.0}",
            setup.label,
            setup.strategy,
            setup.agents,
            us(place.value_at_quantile(0.50)),
            us(place.value_at_quantile(0.99)),
            us(place.value_at_quantile(0.999)),
            us(place.max()),
            us(release.value_at_quantile(0.50)),
            us(release.value_at_quantile(0.99)),
            server_us,
            rate,
        );
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = RedisServer::start().expect("redis-server on PATH");
    if std::env::var("SWITCHBOARD_BENCH_AOF").is_ok_and(|value| value == "off") {
        runtime.block_on(async {
            let mut conn = connection(&server).await;
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("appendonly")
                .arg("no")
                .query_async(&mut conn)
                .await
                .expect("config set");
        });
        println!("redis-server without persistence (SWITCHBOARD_BENCH_AOF=off)");
    }
    let mut setups = runtime.block_on(setups(&server));
    let mut criterion = Criterion::default().configure_from_args();
    place(&mut criterion, &runtime, &mut setups);
    criterion.final_summary();
    // Only under `cargo bench` (which passes `--bench`): `cargo test --benches` runs each
    // benchmark once as a test, without the report.
    if std::env::args().any(|arg| arg == "--bench") {
        report(&runtime, &server, &mut setups);
    }
}
