//! Cluster mode under failure: a node killed with SIGKILL in the middle of a burst (its
//! partitions, its unfinished stream entries and its agents' consoles move to the survivor),
//! and PostgreSQL restarted in the middle of a burst (webhooks answered 503 while it is away).
//! Nothing acknowledged is lost, nothing is processed twice, nobody is assigned twice.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::burst;
use common::cluster::TestCluster;
use common::console::*;
use common::process::{Node, ProcessConfig};
use common::*;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use switchboard::fakes::graph::FakeGraph;
use switchboard::fakes::statuses::StatusFeed;
use switchboard::testkit::postgres::{PgServer, TestDatabase};
use switchboard::testkit::redis::RedisServer;

const LONG: Duration = Duration::from_secs(60);

/// Greeting and menu, then a person: handed off (assigned, or queued with its position).
fn script(tag: &str, wa: &str) -> Vec<(String, Value)> {
    burst::script(tag, wa, &["hello", "agent"])
}

fn greeting(wa: &str) -> [String; 3] {
    [
        format!("Hi Customer {wa}! Welcome to Acme. I'm the Acme assistant."),
        "How can I help you today?".into(),
        "I'm passing you to a colleague, they'll reply here shortly.".into(),
    ]
}

/// The bot's answers to [`script`], once each and in order; a queued customer also hears
/// their position.
async fn expect_answers(graph: &FakeGraph, wa: &str) {
    let want = greeting(wa);
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let got = burst::texts(graph, wa);
        if got.len() >= 3 || tokio::time::Instant::now() > deadline {
            assert!(got.len() >= 3, "{wa}: {got:#?}");
            assert_eq!(got[..3], want, "{wa}: {got:#?}");
            assert!(got.len() <= 4, "{wa}: nothing twice: {got:#?}");
            if let Some(fourth) = got.get(3) {
                assert!(fourth.contains("in the queue"), "{wa}: {got:#?}");
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `(id, assignee)` of every assigned conversation.
async fn assigned(db: &sqlx::PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT id, assignee FROM conversations WHERE status = 'assigned' ORDER BY id")
        .fetch_all(db)
        .await
        .expect("assigned")
}

/// Resolve whatever is assigned (through `consoles` by agent) until `customers` conversations
/// were served, checking after each step that nobody holds more than `capacity`.
async fn serve_everyone(
    db: &sqlx::PgPool,
    consoles: &HashMap<String, Console>,
    customers: usize,
    capacity: usize,
) {
    let mut served = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while served < customers {
        assert!(
            tokio::time::Instant::now() < deadline,
            "served {served} of {customers}"
        );
        let rows = assigned(db).await;
        let mut load: HashMap<&str, usize> = HashMap::new();
        for (_, agent) in &rows {
            *load.entry(agent.as_str()).or_default() += 1;
        }
        assert!(
            load.values().all(|&n| n <= capacity),
            "an agent above capacity: {load:?}"
        );
        let Some((id, agent)) = rows.first().cloned() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let (status, body) = consoles[&agent].resolve(&id).await;
        match status {
            200 => served += 1,
            // The owning node is busy taking partitions over, or the database is back only
            // just now: the console retries.
            503 => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("resolve answered {other}: {body}"),
        }
    }
}

/// Every conversation was assigned exactly once.
async fn assigned_once_each(db: &sqlx::PgPool, customers: usize) -> HashMap<String, String> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT conversation_id, MIN(agent), COUNT(*) FROM conversation_events
         WHERE kind = 'assigned' GROUP BY conversation_id",
    )
    .fetch_all(db)
    .await
    .expect("events");
    assert_eq!(rows.len(), customers, "every conversation was assigned");
    for (id, _, count) in &rows {
        assert_eq!(*count, 1, "{id} was assigned {count} times");
    }
    rows.into_iter().map(|(id, agent, _)| (id, agent)).collect()
}

async fn wait_all_handed_off(db: &sqlx::PgPool, customers: usize) {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM conversations WHERE status IN ('waiting', 'assigned')",
        )
        .fetch_one(db)
        .await
        .unwrap_or(0);
        if n as usize >= customers {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} of {customers} handed off"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Webhook message ids in the store.
async fn stored_wamids(db: &sqlx::PgPool) -> HashSet<String> {
    let keys: Vec<String> = sqlx::query_scalar("SELECT dedupe_key FROM inbound_events")
        .fetch_all(db)
        .await
        .expect("dedupe keys");
    keys.into_iter()
        .filter_map(|k| k.strip_prefix("m:").map(str::to_string))
        .collect()
}

/// Wait until every recorded event is processed (statuses keep arriving from Meta a little
/// after the last message), then count the messages and what is left unprocessed.
async fn message_counts(db: &sqlx::PgPool) -> (i64, i64, i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let counts = counts_now(db).await;
        if counts.1 == 0 || tokio::time::Instant::now() > deadline {
            if counts.1 > 0 {
                let left: Vec<(String, Option<String>, String)> = sqlx::query_as(
                    "SELECT dedupe_key, conversation_key, kind FROM inbound_events
                     WHERE NOT processed",
                )
                .fetch_all(db)
                .await
                .unwrap_or_default();
                eprintln!("unprocessed: {left:?}");
            }
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn counts_now(db: &sqlx::PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM inbound_events WHERE dedupe_key LIKE 'm:%'),
                (SELECT COUNT(*) FROM inbound_events WHERE NOT processed),
                (SELECT COUNT(*) FROM messages WHERE direction = 'inbound')",
    )
    .fetch_one(db)
    .await
    .expect("counts")
}

/// Wait until the node serves at least one partition (its metrics say so).
async fn wait_serving(http: &reqwest::Client, node: &Node) {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let metrics = http
            .get(format!("{}/metrics", node.address))
            .send()
            .await
            .ok();
        let text = match metrics {
            Some(m) => m.text().await.unwrap_or_default(),
            None => String::new(),
        };
        let owned = text
            .lines()
            .find(|l| l.starts_with("switchboard_cluster_partitions_owned"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if owned > 0.0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "node never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn a_node_killed_mid_burst_hands_everything_to_the_survivor() {
    const CUSTOMERS: usize = 30;
    let redis = RedisServer::start().expect("redis-server");
    let database = TestDatabase::create().await.expect("a test database");
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect(database.url())
        .await
        .expect("connect");
    let graph = Arc::new(FakeGraph::start());
    let config = ProcessConfig::new(
        &graph.base_url(),
        database.url(),
        json!({
            "redis": {
                "url": redis.url(), "namespace": "crash",
                "lease_ttl_ms": 1500, "lease_renew_ms": 250,
                "read_block_ms": 100, "timer_poll_ms": 50,
            },
            "intake": {"partitions": 8},
            "outbound": {"resend_unconfirmed_after_ms": 5000},
            "console": {"presence_ttl_seconds": 10},
        }),
    );
    let mut a = Node::start(&config, &[("SWITCHBOARD__REDIS__NODE_ID", "a".into())]);
    let b = Node::start(&config, &[("SWITCHBOARD__REDIS__NODE_ID", "b".into())]);
    let http = reqwest::Client::new();
    wait_serving(&http, &a).await;
    wait_serving(&http, &b).await;
    let feed = StatusFeed::start(
        &graph,
        vec![a.address.clone(), b.address.clone()],
        APP_SECRET,
    );

    // Alice's console is on node a, Bob's on node b; each says "online" through the other.
    let mut alice_ws = ConsoleSocket::connect_to(&a.address, ALICE, None).await;
    let mut bob_ws = ConsoleSocket::connect_to(&b.address, BOB, None).await;
    Console::at(&b.address, ALICE).set_presence("online").await;
    Console::at(&a.address, BOB).set_presence("online").await;

    // The burst; node a dies once a random share of the webhooks was acknowledged.
    let customers: Vec<String> = (0..CUSTOMERS).map(|n| format!("1555740{n:04}")).collect();
    let total = CUSTOMERS * 2;
    let kill_after = total / 4 + rand::random::<u64>() as usize % (total / 3);
    let acked = Arc::new(AtomicUsize::new(0));
    let nodes = [a.address.clone(), b.address.clone()];
    let burst = futures::future::join_all(customers.iter().enumerate().map(|(n, wa)| {
        let (http, acked, nodes) = (&http, acked.clone(), nodes.clone());
        async move {
            let mut outcome = Vec::new();
            for (i, (wamid, webhook)) in script("killed", wa).into_iter().enumerate() {
                let node = &nodes[(n + i) % 2];
                let ok = burst::post_signed(http, node, &webhook).await == Some(200);
                outcome.push((wamid, ok));
                if !ok {
                    break;
                }
                acked.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 30)).await;
            }
            outcome
        }
    }));
    let progress: Vec<Vec<(String, bool)>> = burst::kill_during(
        burst,
        || acked.load(Ordering::SeqCst) >= kill_after,
        || a.kill(),
    )
    .await;
    let acknowledged: HashSet<String> = progress
        .iter()
        .flatten()
        .filter(|(_, ok)| *ok)
        .map(|(w, _)| w.clone())
        .collect();
    // `kill_during` made sure the kill came before the burst ended. Whether a webhook was then
    // refused depends on which node each customer's remaining messages went to: under a loaded
    // machine they may all have gone to b, so that is not asserted (it made the test flaky);
    // what a was holding is what the survivor must take over, checked below.
    let lost: Vec<String> = acknowledged
        .difference(&stored_wamids(&db).await)
        .cloned()
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");

    // The load balancer sends everything to b now: Meta's retries and the rest of the burst.
    feed.set_targets(vec![b.address.clone()]);
    let rest = customers.iter().map(|wa| {
        let (http, address, acknowledged) = (&http, b.address.clone(), &acknowledged);
        async move {
            for (wamid, webhook) in script("killed", wa) {
                if !acknowledged.contains(&wamid) {
                    burst::deliver(http, &address, &webhook).await;
                }
            }
        }
    });
    futures::future::join_all(rest).await;

    // Alice's console lost its node: it reconnects to b after the last event it saw.
    let mut seen_before = alice_ws.received_after(0);
    while let Some(event) = alice_ws.try_next_event(Duration::from_millis(200)).await {
        seen_before.push(event);
    }
    assert!(alice_ws.is_closed(), "node a is gone");
    let resume_after = alice_ws.last_seq.unwrap_or(0);
    let mut alice_ws = ConsoleSocket::connect_to(&b.address, ALICE, Some(resume_after)).await;
    assert!(
        alice_ws.resync.is_none(),
        "the log still holds what she missed"
    );

    wait_all_handed_off(&db, CUSTOMERS).await;
    for wa in &customers {
        expect_answers(&graph, wa).await;
    }
    let consoles: HashMap<String, Console> = [
        ("alice".to_string(), Console::at(&b.address, ALICE)),
        ("bob".to_string(), Console::at(&b.address, BOB)),
    ]
    .into_iter()
    .collect();
    serve_everyone(&db, &consoles, CUSTOMERS, 3).await;
    let assignees = assigned_once_each(&db, CUSTOMERS).await;

    // Every acknowledged message processed once.
    let (messages, unprocessed, transcript) = message_counts(&db).await;
    assert_eq!(messages, total as i64);
    assert_eq!(
        transcript, total as i64,
        "each message once in its transcript"
    );
    assert_eq!(unprocessed, 0);

    // Each agent's consoles (Alice's across both nodes) heard of every conversation assigned
    // to them, with no gap in their sequence (the socket checks every frame's sequence).
    for (id, agent) in &assignees {
        let socket = if agent == "alice" {
            &mut alice_ws
        } else {
            &mut bob_ws
        };
        let earlier = agent == "alice"
            && seen_before
                .iter()
                .any(|e| e["kind"] == ASSIGNED && event_conversation(e) == Some(id.as_str()));
        if !earlier {
            socket.wait_for_conversation(ASSIGNED, id, LONG).await;
        }
    }
    drop(feed);
    drop(b);
}

#[actix_rt::test]
async fn postgres_restarted_mid_burst_gets_503_and_loses_nothing() {
    const CUSTOMERS: usize = 24;
    let mut pg = PgServer::new().expect("a private PostgreSQL server");
    let database = TestDatabase::create_on(&pg.url())
        .await
        .expect("a test database");
    let url = database.url().to_string();
    let cluster = TestCluster::start_on(database, 2, |s| {
        s.database.connect_timeout_ms = 500;
    })
    .await;
    let (alice, mut alice_ws) = {
        let console = Console::new(cluster.node(1), ALICE);
        let socket = ConsoleSocket::connect(cluster.node(0), ALICE, None).await;
        console.set_presence("online").await;
        (console, socket)
    };
    let http = reqwest::Client::new();
    let customers: Vec<String> = (0..CUSTOMERS).map(|n| format!("1555750{n:04}")).collect();

    // The first message of every customer, while PostgreSQL is up.
    for (n, wa) in customers.iter().enumerate() {
        let (_, webhook) = &script("pg", wa)[0];
        burst::deliver(&http, &cluster.node(n % 2).address, webhook).await;
    }
    // PostgreSQL goes away: webhooks are refused with 503 (never acknowledged unrecorded).
    pg.stop().expect("PostgreSQL stops");
    let mut refused = 0;
    for (n, wa) in customers.iter().enumerate() {
        let (_, webhook) = &script("pg", wa)[1];
        let status = burst::post_signed(&http, &cluster.node(n % 2).address, webhook).await;
        assert_eq!(status, Some(503), "not recorded, not acknowledged");
        refused += 1;
    }
    assert_eq!(refused, CUSTOMERS);
    pg.start().expect("PostgreSQL starts again");
    // Meta retries; the nodes recover by themselves.
    for (n, wa) in customers.iter().enumerate() {
        let (_, webhook) = &script("pg", wa)[1];
        burst::deliver(&http, &cluster.node(n % 2).address, webhook).await;
    }
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("connect");
    wait_all_handed_off(&db, CUSTOMERS).await;
    for wa in &customers {
        expect_answers(&cluster.graph, wa).await;
    }
    let consoles: HashMap<String, Console> = [("alice".to_string(), alice)].into_iter().collect();
    serve_everyone(&db, &consoles, CUSTOMERS, 3).await;
    let assignees = assigned_once_each(&db, CUSTOMERS).await;
    let (messages, unprocessed, transcript) = message_counts(&db).await;
    assert_eq!(messages, (CUSTOMERS * 2) as i64);
    assert_eq!(transcript, (CUSTOMERS * 2) as i64);
    assert_eq!(unprocessed, 0);
    for id in assignees.keys() {
        alice_ws.wait_for_conversation(ASSIGNED, id, LONG).await;
    }
}

#[actix_rt::test]
async fn an_offer_accepted_when_the_commit_fails_is_assigned_once_the_store_is_back() {
    let cluster = TestCluster::start(1, |_| {}).await;
    let app = cluster.node(0);
    let carla = Console::new(app, CARLA);
    let mut carla_ws = ConsoleSocket::connect(app, CARLA, None).await;
    carla.set_presence("online").await;
    // Sales offers its conversations: carla is offered this one.
    let id = hand_off(app, "15557610001", "sales").await;
    carla_ws.wait_for_conversation(OFFERED, &id, WAIT).await;

    // The store fails between the decision and its commit: conversations are locked (reads
    // go on), carla accepts, and the node's writer, waiting on the lock, loses its connection.
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect(cluster.database.url())
        .await
        .expect("connect");
    let mut lock = db.begin().await.expect("begin");
    sqlx::query("LOCK TABLE conversations IN EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("lock");
    let accept = {
        let carla = Console::new(app, CARLA);
        let id = id.clone();
        actix_rt::spawn(async move { carla.accept(&id).await })
    };
    // The writer retries a batch once on a new connection: cut it off every time it waits.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut terminated = 0;
    while !accept.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the accept never ended"
        );
        if terminate_a_lock_waiter(&db).await {
            terminated += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(terminated > 0, "the commit never waited on the lock");
    let (status, body) = accept.await.expect("accept");
    assert_eq!(status, 503, "not committed: retry later: {body}");
    lock.rollback().await.expect("unlock");

    // The decision was taken (the assignment state holds carla), so a retry is refused; the
    // conversation adopts it by itself once the store is back, and carla's console is told.
    carla_ws.wait_for_conversation(ASSIGNED, &id, LONG).await;
    let conversation = carla.wait_status(&id, "assigned", LONG).await;
    assert_eq!(conversation["assignee"], "carla", "{conversation}");
    assert_eq!(carla.me().await["load"], 1, "one slot, held once");
    db.close().await;
}

/// A fresh store and Redis, and the configuration of crash-test nodes on them.
async fn crash_setup(
    namespace: &str,
) -> (
    RedisServer,
    TestDatabase,
    sqlx::PgPool,
    Arc<FakeGraph>,
    ProcessConfig,
) {
    let redis = RedisServer::start().expect("redis-server");
    let database = TestDatabase::create().await.expect("a test database");
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect(database.url())
        .await
        .expect("connect");
    let graph = Arc::new(FakeGraph::start());
    let config = ProcessConfig::new(
        &graph.base_url(),
        database.url(),
        json!({
            "redis": {
                "url": redis.url(), "namespace": namespace,
                "lease_ttl_ms": 1500, "lease_renew_ms": 250,
                "read_block_ms": 100, "timer_poll_ms": 50,
            },
            "intake": {"partitions": 8},
            "console": {"presence_ttl_seconds": 10},
        }),
    );
    (redis, database, db, graph, config)
}

/// A node frozen at `halt` (`conversations.halt_for_crash_test`) in every step that places a
/// conversation, so the test can kill it exactly there.
fn halting_node(config: &ProcessConfig, name: &str, halt: &str) -> Node {
    Node::start(
        config,
        &[
            ("SWITCHBOARD__REDIS__NODE_ID", name.into()),
            (
                "SWITCHBOARD__CONVERSATIONS__HALT_FOR_CRASH_TEST",
                halt.into(),
            ),
        ],
    )
}

/// Wait until the node froze a step at its halt point.
async fn wait_halted(node: &Node) {
    let deadline = tokio::time::Instant::now() + LONG;
    while node.log_lines("halted for a crash test").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node never reached its halt point"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the assignment state in Redis holds, against what the store records: every placed
/// conversation is a committed waiting or assigned one, and every agent's assigned set and load
/// are exactly the conversations the store assigns them (nothing holds a slot for nothing).
async fn holdings_match_the_store(
    redis: &mut redis::aio::MultiplexedConnection,
    namespace: &str,
    db: &sqlx::PgPool,
) -> Result<(), String> {
    let key = |k: &str| format!("sb:{{{namespace}}}:{k}");
    let mut placed: Vec<String> = redis::cmd("SMEMBERS")
        .arg(key("placed"))
        .query_async(redis)
        .await
        .map_err(|e| e.to_string())?;
    placed.sort();
    let open: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, status, assignee FROM conversations
         WHERE status IN ('waiting', 'assigned') ORDER BY id",
    )
    .fetch_all(db)
    .await
    .map_err(|e| e.to_string())?;
    let open_ids: Vec<String> = open.iter().map(|(id, _, _)| id.clone()).collect();
    if placed != open_ids {
        return Err(format!(
            "placed in Redis {placed:?}, open in the store {open:?}"
        ));
    }
    for agent in ["alice", "bob", "carla"] {
        let mut assigned: Vec<String> = redis::cmd("ZRANGE")
            .arg(key(&format!("assigned:{agent}")))
            .arg(0)
            .arg(-1)
            .query_async(redis)
            .await
            .map_err(|e| e.to_string())?;
        assigned.sort();
        let recorded: Vec<String> = open
            .iter()
            .filter(|(_, status, who)| status == "assigned" && who.as_deref() == Some(agent))
            .map(|(id, _, _)| id.clone())
            .collect();
        if assigned != recorded {
            return Err(format!(
                "{agent}: assigned in Redis {assigned:?}, in the store {recorded:?}"
            ));
        }
        let load: Option<u32> = redis::cmd("HGET")
            .arg(key(&format!("agent:{agent}")))
            .arg("load")
            .query_async(redis)
            .await
            .map_err(|e| e.to_string())?;
        let offered: usize = redis::cmd("ZCARD")
            .arg(key(&format!("offered:{agent}")))
            .query_async(redis)
            .await
            .map_err(|e| e.to_string())?;
        if load.unwrap_or(0) as usize != recorded.len() + offered {
            return Err(format!(
                "{agent}: load {load:?} for {recorded:?} assigned and {offered} offered"
            ));
        }
    }
    Ok(())
}

#[actix_rt::test]
async fn a_node_killed_between_an_assignment_and_its_commit_leaves_no_slot_held() {
    const NS: &str = "ghosts";
    let (redis, _database, db, graph, config) = crash_setup(NS).await;
    let http = reqwest::Client::new();
    // Node a serves every partition, and freezes the first step that places a conversation
    // right after the decision, before its commit.
    let mut a = halting_node(&config, "a", "after_decision");
    wait_serving(&http, &a).await;
    Console::at(&a.address, ALICE).set_presence("online").await;
    let wa = "15557770001";
    let messages = burst::script("ghost", wa, &["I want to talk to an agent"]);
    // The first message hands off at once: a new conversation, assigned to Alice in Redis.
    burst::deliver(&http, &a.address, &messages[0].1).await;
    wait_halted(&a).await;
    let mut conn = redis::Client::open(redis.url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let placed: Vec<String> = redis::cmd("SMEMBERS")
        .arg(format!("sb:{{{NS}}}:placed"))
        .query_async(&mut conn)
        .await
        .expect("placed");
    assert_eq!(placed.len(), 1, "the decision was taken: {placed:?}");
    let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM conversations")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(recorded, 0, "and not committed");

    // Node a dies there. Node b takes its partitions and replays the message (a new
    // conversation, a new decision); the first decision must not keep Alice's slot.
    a.kill();
    let b = Node::start(&config, &[("SWITCHBOARD__REDIS__NODE_ID", "b".into())]);
    wait_serving(&http, &b).await;
    Console::at(&b.address, ALICE).set_presence("online").await;
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let handed_off: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM conversations WHERE status IN ('waiting', 'assigned')",
        )
        .fetch_one(&db)
        .await
        .expect("count");
        if handed_off == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the survivor never replayed the message"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match holdings_match_the_store(&mut conn, NS, &db).await {
            Ok(()) => break,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                panic!("a capacity slot or queue place is held by nothing: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let me = Console::at(&b.address, ALICE).me().await;
    assert_eq!(me["load"], 1, "one conversation, one slot: {me}");
    drop(graph);
}

#[actix_rt::test]
async fn a_node_killed_between_a_commit_and_its_console_events_tells_the_agent_in_order() {
    let (_redis, _database, db, graph, config) = crash_setup("order").await;
    let http = reqwest::Client::new();
    // Node a serves every partition and freezes the first step that assigns a conversation
    // right after its commit, before its console events reach Alice's log.
    let mut a = halting_node(&config, "a", "after_commit");
    wait_serving(&http, &a).await;
    Console::at(&a.address, ALICE).set_presence("online").await;
    let wa = "15557770002";
    let messages = burst::script(
        "order",
        wa,
        &[
            "I want to talk to an agent",
            "my second message",
            "my third message",
        ],
    );
    burst::deliver(&http, &a.address, &messages[0].1).await;
    wait_halted(&a).await;
    let committed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM conversations WHERE status = 'assigned' AND assignee = 'alice'",
    )
    .fetch_one(&db)
    .await
    .expect("count");
    assert_eq!(committed, 1, "assigned to Alice and committed");

    // Node a dies there; the customer goes on writing, to node b, which takes the partitions.
    a.kill();
    let b = Node::start(&config, &[("SWITCHBOARD__REDIS__NODE_ID", "b".into())]);
    for (_, webhook) in &messages[1..] {
        burst::deliver(&http, &b.address, webhook).await;
    }
    // Alice's console (on b) reads her whole log: she is told the conversation is hers before
    // she hears of its later messages, and its messages come in the order they were written.
    let mut ws = ConsoleSocket::connect_to(&b.address, ALICE, Some(0)).await;
    let assigned = ws.wait_for_kind(ASSIGNED, LONG).await;
    let id = event_conversation(&assigned)
        .expect("the conversation's id")
        .to_string();
    let first = ws
        .wait_for_message(&id, "inbound", "I want to talk to an agent", LONG)
        .await;
    let second = ws
        .wait_for_message(&id, "inbound", "my second message", LONG)
        .await;
    let third = ws
        .wait_for_message(&id, "inbound", "my third message", LONG)
        .await;
    let seq = |e: &Value| e["seq"].as_i64().unwrap_or(-1);
    assert!(
        seq(&assigned) < seq(&first) && seq(&first) < seq(&second) && seq(&second) < seq(&third),
        "in order: assigned {}, then messages {}, {}, {}; received {:#?}",
        seq(&assigned),
        seq(&first),
        seq(&second),
        seq(&third),
        ws.received
    );
    drop(graph);
}

#[actix_rt::test]
async fn a_handoff_whose_commit_fails_keeps_no_slot_once_the_store_is_back() {
    let cluster = TestCluster::start(1, |_| {}).await;
    let app = cluster.node(0);
    let alice = Console::new(app, ALICE);
    alice.set_presence("online").await;
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect(cluster.database.url())
        .await
        .expect("connect");

    // The store fails between the decision and its commit: conversations are locked (reads go
    // on), the customer's first message hands off at once (a new conversation, assigned to
    // Alice in Redis), and the node's writer, waiting on the lock, loses its connection, on its
    // retry too. The step is replayed (a new conversation id, a new decision) and fails again
    // while the lock holds.
    let mut lock = db.begin().await.expect("begin");
    sqlx::query("LOCK TABLE conversations IN EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("lock");
    Customer::new(app, "15557780001")
        .says("I want to talk to an agent")
        .await;
    let deadline = tokio::time::Instant::now() + LONG;
    let mut terminated = 0;
    while terminated < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the commit never waited on the lock"
        );
        if terminate_a_lock_waiter(&db).await {
            terminated += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lock.rollback().await.expect("unlock");

    // Once the store is back the step commits, once: one conversation, assigned to Alice, and
    // the decisions of the failed attempts are released.
    let deadline = tokio::time::Instant::now() + LONG;
    while assigned(&db).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never committed once the store was back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = assigned(&db).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].1, "alice", "{rows:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let me = alice.me().await;
        if me["load"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Alice's slots held by failed attempts: {me}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM conversations WHERE status IN ('waiting', 'assigned')",
    )
    .fetch_one(&db)
    .await
    .expect("count");
    assert_eq!(open, 1);
    db.close().await;
}

/// Terminate one connection of this database that waits on a lock (the store's writer, held
/// up by a test's table lock); whether there was one.
async fn terminate_a_lock_waiter(db: &sqlx::PgPool) -> bool {
    let waiting: Option<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock' LIMIT 1",
    )
    .fetch_optional(db)
    .await
    .expect("activity");
    let Some(pid) = waiting else {
        return false;
    };
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(db)
        .await
        .expect("terminate the writer's connection");
    true
}
