//! Nothing acknowledged is lost: the real gateway binary is killed with SIGKILL in the middle of
//! a burst of signed webhooks, started again on the same database, and Meta (this test)
//! redelivers what was not acknowledged. Every acknowledged webhook is in the store, every one
//! is stored once, every conversation resumes where it was (bot state, queue), and no reply
//! reaches a customer twice.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::burst;
use common::process::{Node, ProcessConfig};
use common::*;
use serde_json::{Value, json};
use switchboard::fakes::graph::FakeGraph;
use switchboard::fakes::statuses::StatusFeed;

const CUSTOMERS: usize = 40;

/// What each customer writes, in order: greeting and menu; order tracking (a question, then an
/// HTTP lookup); then a person (handed off and queued: nobody is online).
fn script(wa: &str) -> Vec<(String, Value)> {
    burst::script("crash", wa, &["hello", "Track my order", "A1234", "agent"])
}

/// What the bot says to that script, in order (the last one names the queue position).
fn expected(wa: &str) -> Vec<String> {
    vec![
        format!("Hi Customer {wa}! Welcome to Acme. I'm the Acme assistant."),
        "How can I help you today?".into(),
        "What's your order number? (e.g. A1234)".into(),
        "Order A1234 is shipped with DHL. Estimated delivery: 2026-12-01.".into(),
        "How can I help you today?".into(),
        "I'm passing you to a colleague, they'll reply here shortly.".into(),
        "in the queue".into(),
    ]
}

#[actix_rt::test]
async fn a_gateway_killed_mid_burst_loses_nothing_it_acknowledged() {
    let graph = Arc::new(FakeGraph::start());
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("switchboard.db");
    let config = ProcessConfig::new(
        &graph.base_url(),
        &format!("sqlite://{}", db.display()),
        json!({"outbound": {"resend_unconfirmed_after_ms": 5000}}),
    );
    let mut node = Node::start(&config, &[]);
    let feed = StatusFeed::start(&graph, vec![node.address.clone()], APP_SECRET);
    let http = reqwest::Client::new();
    let customers: Vec<String> = (0..CUSTOMERS).map(|n| format!("1555730{n:04}")).collect();

    // The burst: every customer writes its script, each message once the previous one was
    // acknowledged (as Meta delivers one customer's messages). The gateway is killed once a
    // random share of all webhooks (between a quarter and two thirds) was acknowledged.
    let total = CUSTOMERS * 4;
    let kill_after = total / 4 + (rand::random::<u64>() as usize % (total * 5 / 12));
    let acked = Arc::new(AtomicUsize::new(0));
    let address = node.address.clone();
    let burst = futures::future::join_all(customers.iter().map(|wa| {
        let (http, acked, address) = (&http, acked.clone(), address.clone());
        async move {
            let mut outcome = Vec::new();
            for (wamid, webhook) in script(wa) {
                let ok = burst::post_signed(http, &address, &webhook).await == Some(200);
                outcome.push((wamid, ok));
                if !ok {
                    break; // Meta retries later; this customer's next messages wait.
                }
                acked.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 20)).await;
            }
            outcome
        }
    }));
    let progress: Vec<Vec<(String, bool)>> = burst::kill_during(
        burst,
        || acked.load(Ordering::SeqCst) >= kill_after,
        || node.kill(),
    )
    .await;
    let acknowledged: HashSet<String> = progress
        .iter()
        .flatten()
        .filter(|(_, ok)| *ok)
        .map(|(wamid, _)| wamid.clone())
        .collect();
    assert!(
        acknowledged.len() < total,
        "the kill came mid-burst ({} of {total} acknowledged)",
        acknowledged.len()
    );

    // Start again on the same database: every acknowledged webhook is there.
    let node = Node::start(&config, &[]);
    feed.set_targets(vec![node.address.clone()]);
    let stored = stored_wamids(&db).await;
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");

    // Meta redelivers what was not acknowledged (and, for good measure, everything else of a
    // few customers), then the customers carry on.
    let resend = customers.iter().enumerate().map(|(n, wa)| {
        let (http, address, acknowledged) = (&http, node.address.clone(), &acknowledged);
        async move {
            for (wamid, webhook) in script(wa) {
                if acknowledged.contains(&wamid) && n % 10 != 0 {
                    continue;
                }
                burst::deliver(http, &address, &webhook).await;
            }
        }
    });
    futures::future::join_all(resend).await;

    // Every conversation resumes: each customer hears the whole script's answers, once, in
    // order, and ends up queued.
    for wa in &customers {
        burst::expect_texts(&graph, wa, &expected(wa), Duration::from_secs(60)).await;
    }
    // No late duplicates either (a resend after the grace would show up now).
    tokio::time::sleep(Duration::from_secs(6)).await;
    for wa in &customers {
        assert_eq!(
            burst::texts(&graph, wa).len(),
            7,
            "{wa}: nothing sent twice"
        );
    }
    let (events, unprocessed, inbound_messages) = store_counts(&db).await;
    assert_eq!(events, total as i64, "every message stored once");
    assert_eq!(unprocessed, 0, "and processed");
    assert_eq!(
        inbound_messages, total as i64,
        "each message once in its transcript"
    );

    // The queue holds every conversation once, in the order they were handed off.
    let teams: Value = http
        .get(format!("{}/api/v1/teams", node.address))
        .bearer_auth("alice-demo-token")
        .send()
        .await
        .expect("teams")
        .json()
        .await
        .expect("json");
    let queue: Vec<String> = teams["teams"][0]["queue"]
        .as_array()
        .expect("queue")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert_eq!(queue.len(), CUSTOMERS, "{teams}");
    let handed_off = handoff_times(&db).await;
    let times: Vec<i64> = queue
        .iter()
        .map(|id| *handed_off.get(id).expect("a waiting conversation"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "queued in handoff order: {times:?}"
    );
}

async fn sqlite(db: &std::path::Path) -> sqlx::SqlitePool {
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .expect("open database")
}

async fn stored_wamids(db: &std::path::Path) -> HashSet<String> {
    let pool = sqlite(db).await;
    let keys: Vec<String> = sqlx::query_scalar("SELECT dedupe_key FROM inbound_events")
        .fetch_all(&pool)
        .await
        .expect("dedupe keys");
    pool.close().await;
    keys.into_iter()
        .filter_map(|k| k.strip_prefix("m:").map(str::to_string))
        .collect()
}

async fn store_counts(db: &std::path::Path) -> (i64, i64, i64) {
    let pool = sqlite(db).await;
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM inbound_events WHERE dedupe_key LIKE 'm:%'),
                (SELECT COUNT(*) FROM inbound_events WHERE processed = 0),
                (SELECT COUNT(*) FROM messages WHERE direction = 'inbound')",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    pool.close().await;
    row
}

async fn handoff_times(db: &std::path::Path) -> BTreeMap<String, i64> {
    let pool = sqlite(db).await;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT id, handoff_at FROM conversations WHERE status = 'waiting'")
            .fetch_all(&pool)
            .await
            .expect("waiting");
    pool.close().await;
    rows.into_iter().collect()
}
