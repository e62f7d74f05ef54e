//! One request/response round trip through a conversation actor, beside a plain tokio mpsc
//! channel and a bare actix actor, each served on another thread (the conversation actors run
//! on their own arbiters, so the caller always crosses a thread).
//!
//! - `conversation_command`: `ConversationRegistry::command` of the real application (built
//!   with `Application::build` on a temporary SQLite file): registry lookup, a mailbox permit,
//!   the actix mailbox, the actor's `ctx.wait` on the command's future and the oneshot answer.
//!   The command is an agent's `accept` on a conversation this customer does not have, so the
//!   actor answers `NotFound` without touching the store: only the messaging is measured (the
//!   actor loads its state from the store once, before the timing starts).
//! - `actix_send`: `Addr::send` to an actor that echoes, on its own arbiter.
//! - `tokio_mpsc`: a bounded `tokio::sync::mpsc` channel (capacity 64, like a conversation
//!   mailbox) carrying the request and a `oneshot` for the answer, served by a task on another
//!   arbiter.
//! - `tokio_mpsc_same_thread`: the same channel served by a task on the caller's thread.
//!
//! `cargo bench --bench actor -- --warm-up-time 1 --measurement-time 3`

use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::config::Settings;
use switchboard::conversation::commands::{AgentAction, Command, CommandError};
use switchboard::domain::{AgentId, ChannelId, ConversationKey, CustomerId};
use switchboard::startup::Application;
use tokio::sync::{mpsc, oneshot};

fn settings(dir: &std::path::Path) -> Settings {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load_from(&config, "test", false).expect("the demo configuration");
    settings.server.port = 0;
    settings.server.workers = 1;
    settings.database.url = format!("sqlite://{}", dir.join("switchboard.db").display());
    settings
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

type Request = (u64, oneshot::Sender<u64>);

/// A task that answers each request with its own number.
async fn serve(mut rx: mpsc::Receiver<Request>) {
    while let Some((n, reply)) = rx.recv().await {
        let _ = reply.send(n);
    }
}

async fn mpsc_round_trip(tx: &mpsc::Sender<Request>, n: u64) -> u64 {
    let (reply, answer) = oneshot::channel();
    if tx.send((n, reply)).await.is_err() {
        return u64::MAX;
    }
    answer.await.unwrap_or(u64::MAX)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = actix::System::new();
    let app = system
        .block_on(Application::build(settings(dir.path())))
        .expect("the application builds");
    let handle = app.handle();
    let registry = handle.conversations.clone();
    let channel = ChannelId::new("support");
    let key = ConversationKey::new(&channel, &CustomerId::new("15550001234"));
    let command = || Command::Agent {
        conversation_id: "no-such-conversation".into(),
        agent: AgentId::new("alice"),
        action: AgentAction::Accept,
        manager: false,
    };
    // Start the actor (it loads its empty state from the store) before measuring.
    let first = system.block_on(registry.command(&channel, &key, command()));
    assert!(
        matches!(first, Err(CommandError::NotFound)),
        "a customer without a conversation answers NotFound: {first:?}"
    );

    let echo_arbiter = Arbiter::new();
    let echo = Echo::start_in_arbiter(&echo_arbiter.handle(), |_| Echo);
    let mpsc_arbiter = Arbiter::new();
    let (remote_tx, remote_rx) = mpsc::channel::<Request>(64);
    mpsc_arbiter.spawn(serve(remote_rx));
    let (local_tx, local_rx) = mpsc::channel::<Request>(64);
    system.block_on(async {
        actix_rt::spawn(serve(local_rx));
    });

    let mut group = c.benchmark_group("actor");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("conversation_command", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let answer = registry.command(&channel, &key, command()).await;
                    assert!(matches!(answer, Err(CommandError::NotFound)));
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("actix_send", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for n in 0..iters {
                    let answer = echo.send(Ping(n)).await;
                    assert_eq!(answer.ok(), Some(n));
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tokio_mpsc", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for n in 0..iters {
                    assert_eq!(mpsc_round_trip(&remote_tx, n).await, n);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tokio_mpsc_same_thread", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for n in 0..iters {
                    assert_eq!(mpsc_round_trip(&local_tx, n).await, n);
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    system.block_on(handle.stop());
    echo_arbiter.stop();
    mpsc_arbiter.stop();
}

criterion_group!(benches, bench);
criterion_main!(benches);
