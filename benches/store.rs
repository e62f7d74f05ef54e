//! Ingest throughput of the store: 1000 webhooks' inbound events recorded as 1000 concurrent
//! single-event `record_inbound` calls (what intake does for 1000 one-message webhooks), on
//! SQLite and on PostgreSQL, with one commit per webhook (`max_batch` 1, the baseline) against
//! grouped commits (`max_batch` 512), each with `max_wait_ms` 0 and 1. Every configuration gets
//! a fresh database.
//!
//! PostgreSQL: a database created on the server of `SWITCHBOARD_TEST_POSTGRES_URL` when set,
//! else on a private server the bench starts (initdb in a temporary directory, fsync on).
//!
//! `cargo bench --bench store -- --warm-up-time 1 --measurement-time 3`

use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use futures::future::join_all;
use serde_json::json;
use switchboard::channels::whatsapp::webhook::parse_webhook;
use switchboard::config::DatabaseSettings;
use switchboard::domain::{ChannelId, ConversationKey};
use switchboard::store::NewInbound;
use switchboard::testkit::postgres::TestDatabase;

/// Webhooks (one inbound event each) per measured iteration.
const N: usize = 1000;
/// The support channel's phone_number_id in config/base.yaml.
const PHONE_NUMBER_ID: &str = "106540352242922";

/// A one-message text webhook, the shape of `tests/common/mod.rs` `text_webhook`.
fn text_webhook(wa_id: &str, wamid: &str, body: &str) -> Vec<u8> {
    let value = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": format!("Customer {wa_id}")}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": "1749416383",
                          "type": "text", "text": {"body": body}}]
        }}]}]
    });
    serde_json::to_vec(&value).expect("the webhook body serializes")
}

/// `N` inbound events as intake builds them, each from its own parsed webhook, with message
/// ids (hence dedupe keys) never used before in this process.
fn fresh_events(round: &mut u64) -> Vec<NewInbound> {
    *round += 1;
    let channel = ChannelId::new("support");
    (0..N)
        .map(|i| {
            let wa_id = format!("{}", 16_315_550_000u64 + i as u64);
            let wamid = format!("wamid.bench.{round}.{i}");
            let body = text_webhook(&wa_id, &wamid, "Where is my order?");
            let envelope = parse_webhook(&body)
                .expect("the webhook parses")
                .into_iter()
                .next()
                .expect("one envelope");
            let customer = envelope.customer().expect("a message has a customer");
            let conversation = ConversationKey::new(&channel, customer);
            NewInbound {
                dedupe_key: envelope.dedupe_key(),
                channel: Some(channel.clone()),
                conversation: Some(conversation),
                envelope,
            }
        })
        .collect()
}

/// A fresh database of `backend`: its URL, and what keeps it alive (a temporary directory, a
/// PostgreSQL database dropped with it).
fn fresh_database(rt: &tokio::runtime::Runtime, backend: &str) -> (String, Box<dyn std::any::Any>) {
    match backend {
        "sqlite" => {
            let dir = tempfile::tempdir().expect("a temp dir");
            let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
            (url, Box::new(dir))
        }
        _ => {
            let db = rt.block_on(TestDatabase::create()).expect(
                "a PostgreSQL database (set SWITCHBOARD_TEST_POSTGRES_URL or install PostgreSQL)",
            );
            (db.url().to_string(), Box::new(db))
        }
    }
}

fn record_inbound(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group("store_record_inbound");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(N as u64));

    for backend in ["sqlite", "postgres"] {
        for max_batch in [1usize, 512] {
            for max_wait_ms in [0u64, 1] {
                let (url, guard) = fresh_database(&rt, backend);
                let settings = DatabaseSettings {
                    url,
                    data_dir: std::env::temp_dir(),
                    max_batch,
                    max_wait_ms,
                    // Every one of the N concurrent writes must be accepted (no shedding).
                    queue_capacity: 4 * N,
                    processing_slice_us: 2000,
                    read_pool_size: 2,
                    connect_timeout_ms: 5_000,
                    inbound_retention_days: 8,
                    console_retention_days: 7,
                    prune_interval_minutes: 60,
                };
                let store = rt
                    .block_on(switchboard::store::open(&settings))
                    .expect("the store opens");
                let mut round = 0u64;
                let mut recorded = 0i64;

                group.bench_function(
                    BenchmarkId::new(
                        format!("{backend}/max_batch={max_batch}"),
                        format!("max_wait_ms={max_wait_ms}"),
                    ),
                    |b| {
                        b.iter_custom(|iters| {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                let events = fresh_events(&mut round);
                                let started = Instant::now();
                                let results = rt.block_on(join_all(
                                    events
                                        .into_iter()
                                        .map(|event| store.record_inbound(vec![event])),
                                ));
                                total += started.elapsed();
                                for result in results {
                                    let events = result.expect("the event is recorded");
                                    assert!(
                                        events.iter().all(|(_, s)| s.is_some()),
                                        "every event is new"
                                    );
                                    recorded += events.len() as i64;
                                }
                            }
                            total
                        })
                    },
                );

                rt.block_on(async {
                    let counts = store.counts().await.expect("counts");
                    assert_eq!(counts.inbound_events, recorded, "every event was stored");
                    store.close().await;
                });
                drop(guard);
            }
        }
    }
    group.finish();
}

criterion_group!(benches, record_inbound);
criterion_main!(benches);
