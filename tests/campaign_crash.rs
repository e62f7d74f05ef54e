//! A campaign to 10,000 contacts sends each exactly once across a SIGKILL (docs/CAMPAIGNS.md,
//! "Campaigns"): the real gateway binary is killed in the middle of the campaign and started
//! again on the same data (embedded), or the node sending it is killed and the survivor takes
//! it over when its lease lapses (cluster); Meta (the fake Graph API) receives one template per
//! contact, none twice, none missing, and the campaign completes with every one counted sent.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::APP_SECRET;
use common::console::{Console, DEMO_PASSWORD, expect_status};
use common::process::{Node, ProcessConfig};
use serde_json::{Value, json};
use switchboard::fakes::graph::FakeGraph;
use switchboard::fakes::statuses::StatusFeed;
use switchboard::testkit::postgres::TestDatabase;
use switchboard::testkit::redis::RedisServer;

const CONTACTS: usize = 10_000;
const LONG: Duration = Duration::from_secs(240);

fn phone(n: usize) -> String {
    format!("346002{n:05}")
}

/// The campaign's settings for these tests: no messaging limit to wait for, a short lease.
fn extra(more: Value) -> Value {
    let mut extra = json!({
        "campaigns": {
            "poll_interval_ms": 50, "lease_ms": 2000, "messaging_limit": "unlimited",
            "batch": 100, "audience_page": 1000,
        },
        "outbound": {"resend_unconfirmed_after_ms": 5000},
        "log": {"filter": "info,switchboard::campaigns=debug", "json": true},
    });
    if let (Some(into), Value::Object(from)) = (extra.as_object_mut(), more) {
        into.extend(from);
    }
    extra
}

/// Import the contacts, make their segment and a utility campaign to it; started. Its id.
async fn start_campaign(admin: &Console, address: &str) -> String {
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let mut csv = String::from("name,phone,tags\n");
    for n in 0..CONTACTS {
        csv.push_str(&format!("Customer {n},+{},bulk\n", phone(n)));
    }
    let imported = reqwest::Client::new()
        .post(format!("{address}/api/v1/contacts/import"))
        .bearer_auth(admin.token())
        .header("content-type", "text/csv")
        .body(csv)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .expect("the import answers");
    assert_eq!(imported.status(), 200);
    let imported: Value = imported.json().await.expect("json");
    assert_eq!(imported["created"], CONTACTS, "{imported}");
    let segment = expect_status(
        201,
        admin
            .post(
                "/api/v1/segments",
                json!({"name": "Bulk", "filter": "'bulk' in contact.tags"}),
            )
            .await,
    )["segment"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/campaigns",
                json!({
                    "name": "Parcel news",
                    "channel": "support",
                    "template": {"name": "parcel_update", "language": "en_US"},
                    "parameters": {"body": [{"field": "name", "default": "friend"}]},
                    "audience": {"segment": segment},
                }),
            )
            .await,
    );
    let id = created["campaign"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let started = expect_status(
        200,
        admin
            .post(&format!("/api/v1/campaigns/{id}/start"), json!({}))
            .await,
    );
    assert_eq!(started["campaign"]["estimate"]["eligible"], CONTACTS);
    id
}

/// Accepted template sends per recipient.
fn sends(graph: &FakeGraph) -> HashMap<String, usize> {
    let mut per = HashMap::new();
    for r in graph.requests() {
        if r.accepted()
            && r.body["type"] == "template"
            && let Some(to) = r.to()
        {
            *per.entry(to.to_owned()).or_insert(0) += 1;
        }
    }
    per
}

async fn wait_sends(graph: &FakeGraph, at_least: usize) {
    let deadline = tokio::time::Instant::now() + LONG;
    while sends(graph).values().sum::<usize>() < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the campaign never reached {at_least} sends"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait for the campaign to complete, asking `address`; its view.
async fn wait_completed(address: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        // Logged in again each time: the node asked may be new.
        let admin = Console::login_at(address, "admin@example.com", DEMO_PASSWORD).await;
        let (status, got) = admin.get(&format!("/api/v1/campaigns/{id}")).await;
        if status == 200 && got["campaign"]["state"] == "completed" {
            let counts = &got["campaign"]["counts"];
            if counts["sent"] == CONTACTS {
                return got["campaign"].clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the campaign did not complete: {got}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every contact got exactly one template; a little later still none twice.
async fn exactly_once(graph: &FakeGraph) {
    tokio::time::sleep(Duration::from_secs(6)).await;
    let per = sends(graph);
    let twice: Vec<(&String, &usize)> = per.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    let missing: Vec<String> = (0..CONTACTS)
        .map(phone)
        .filter(|p| !per.contains_key(p))
        .collect();
    assert!(
        missing.is_empty(),
        "never sent: {} e.g. {:?}",
        missing.len(),
        missing.first()
    );
}

#[actix_rt::test]
async fn embedded_a_campaign_killed_mid_way_sends_each_once() {
    let graph = Arc::new(FakeGraph::start());
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("switchboard.db");
    let config = ProcessConfig::new(
        &graph.base_url(),
        &format!("sqlite://{}", db.display()),
        extra(json!({})),
    );
    let mut node = Node::start(&config, &[]);
    let feed = StatusFeed::start(&graph, vec![node.address.clone()], APP_SECRET);
    let admin = Console::login_at(&node.address, "admin@example.com", DEMO_PASSWORD).await;
    let t = std::time::Instant::now();
    let id = start_campaign(&admin, &node.address).await;
    eprintln!("started after {:?}", t.elapsed());

    // Killed somewhere between a fifth and three fifths of the way.
    let kill_at = CONTACTS / 5 + rand::random::<u64>() as usize % (CONTACTS * 2 / 5);
    wait_sends(&graph, kill_at).await;
    node.kill();
    eprintln!("killed after {:?}", t.elapsed());
    let before = sends(&graph).values().sum::<usize>();
    assert!(before < CONTACTS, "killed mid-way ({before} sent)");

    let node = Node::start(&config, &[]);
    feed.set_targets(vec![node.address.clone()]);
    let done = wait_completed(&node.address, &id).await;
    eprintln!("completed after {:?}", t.elapsed());
    for line in node.log_lines("campaign batch").iter().step_by(10) {
        eprintln!("{line}");
    }
    assert_eq!(done["counts"]["targeted"], CONTACTS, "{done}");
    exactly_once(&graph).await;
}

#[actix_rt::test]
async fn cluster_the_node_sending_a_campaign_dies_and_another_finishes_it_once() {
    let redis = RedisServer::start().expect("redis-server");
    let database = TestDatabase::create().await.expect("a test database");
    let graph = Arc::new(FakeGraph::start());
    let config = ProcessConfig::new(
        &graph.base_url(),
        database.url(),
        extra(json!({
            "redis": {
                "url": redis.url(), "namespace": "campaign-crash",
                "lease_ttl_ms": 1500, "lease_renew_ms": 250,
                "read_block_ms": 100, "timer_poll_ms": 50,
            },
            "intake": {"partitions": 8},
        })),
    );
    // A alone takes the campaign; B joins once it sends, then A dies.
    let mut a = Node::start(&config, &[("SWITCHBOARD__REDIS__NODE_ID", "a".into())]);
    let feed = StatusFeed::start(&graph, vec![a.address.clone()], APP_SECRET);
    let admin = Console::login_at(&a.address, "admin@example.com", DEMO_PASSWORD).await;
    let id = start_campaign(&admin, &a.address).await;
    wait_sends(&graph, CONTACTS / 10).await;
    let b = Node::start(&config, &[("SWITCHBOARD__REDIS__NODE_ID", "b".into())]);
    feed.set_targets(vec![a.address.clone(), b.address.clone()]);
    let kill_at = CONTACTS / 5 + rand::random::<u64>() as usize % (CONTACTS / 5);
    wait_sends(&graph, kill_at).await;
    a.kill();
    feed.set_targets(vec![b.address.clone()]);
    let before = sends(&graph).values().sum::<usize>();
    assert!(before < CONTACTS, "killed mid-way ({before} sent)");

    let done = wait_completed(&b.address, &id).await;
    assert_eq!(done["counts"]["targeted"], CONTACTS, "{done}");
    exactly_once(&graph).await;
}
