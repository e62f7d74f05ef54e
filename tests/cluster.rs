//! Cluster mode: several nodes on one Redis and one store, webhooks and consoles spread over
//! them like a load balancer would.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::cluster::TestCluster;
use common::console::*;
use common::*;

const WAIT: Duration = Duration::from_secs(20);

/// What the demo bot says to "hello", then to each FAQ question (answer + the menu again).
fn expected_texts(wa: &str, faqs: usize) -> Vec<String> {
    let mut texts = vec![
        format!("Hi Customer {wa}! Welcome to Acme. I'm the Acme assistant."),
        "How can I help you today?".to_string(),
    ];
    for _ in 0..faqs {
        texts.push("We're open Monday to Friday, 9:00 to 18:00 (Madrid time).".into());
        texts.push("How can I help you today?".into());
    }
    texts
}

#[actix_rt::test]
async fn conversations_are_served_once_and_in_order_whichever_node_meta_calls() {
    let cluster = TestCluster::start(2, |_| {}).await;
    let customers: Vec<String> = (0..24).map(|n| format!("1555700{n:04}")).collect();
    // Each customer writes three times; the webhooks alternate between the nodes, and the
    // customers write concurrently.
    let sends = customers.iter().enumerate().map(|(n, wa)| {
        let cluster = &cluster;
        async move {
            let texts = [
                "hello",
                "what are your opening hours?",
                "opening hours please",
            ];
            for (i, text) in texts.iter().enumerate() {
                let node = cluster.node((n + i) % 2);
                let webhook = text_webhook(wa, &format!("wamid.{wa}.{i}"), text);
                assert_eq!(node.post_json(&webhook).await.status(), 200);
            }
        }
    });
    futures::future::join_all(sends).await;

    let deadline = tokio::time::Instant::now() + WAIT;
    for wa in &customers {
        let expected = expected_texts(wa, 2);
        loop {
            let texts = cluster.node(0).texts_to(wa);
            if texts.len() >= expected.len() || tokio::time::Instant::now() > deadline {
                assert_eq!(
                    texts, expected,
                    "{wa}: every message answered once, in order"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    // Nothing more arrives later (no event processed twice).
    tokio::time::sleep(Duration::from_millis(500)).await;
    for wa in &customers {
        assert_eq!(cluster.node(0).texts_to(wa).len(), 6, "{wa}");
    }
    let counts = cluster.node(1).handle.store.counts().await.expect("counts");
    assert_eq!(counts.unprocessed_events, 0);
    assert_eq!(counts.inbound_events, 72);
    assert_eq!(counts.conversations, 24);

    // Each conversation was served by the node owning its partition, and both nodes served.
    let ownership: HashMap<usize, Vec<usize>> = cluster.ownership().into_iter().collect();
    assert!(ownership.values().all(|p| !p.is_empty()), "{ownership:?}");
}

/// Post a webhook until it is answered 200, like Meta retrying after a 503 (or a connection
/// error); returns how many 503s it got.
async fn deliver_until_ok(node: &TestApp, webhook: &serde_json::Value) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut refused = 0;
    loop {
        let status = node.post_json(webhook).await.status().as_u16();
        match status {
            200 => return refused,
            503 => refused += 1,
            other => panic!("unexpected answer {other}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still refused after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn while_redis_is_down_webhooks_get_503_and_nothing_acknowledged_is_lost() {
    let mut cluster = TestCluster::start(2, |_| {}).await;
    let before: Vec<String> = (0..6).map(|n| format!("1555710{n:04}")).collect();
    for (n, wa) in before.iter().enumerate() {
        let webhook = text_webhook(wa, &format!("wamid.{wa}.0"), "hello");
        assert_eq!(cluster.node(n % 2).post_json(&webhook).await.status(), 200);
    }

    cluster.redis.kill();
    let during: Vec<String> = (0..6).map(|n| format!("1555711{n:04}")).collect();
    for (n, wa) in during.iter().enumerate() {
        let webhook = text_webhook(wa, &format!("wamid.{wa}.0"), "hello");
        let status = cluster.node(n % 2).post_json(&webhook).await.status();
        assert_eq!(status, 503, "Redis is down: not acknowledged, Meta retries");
    }

    cluster.redis.restart().expect("redis-server restarts");
    // Meta retries the refused webhooks; the nodes recover by themselves.
    for (n, wa) in during.iter().enumerate() {
        let webhook = text_webhook(wa, &format!("wamid.{wa}.0"), "hello");
        deliver_until_ok(cluster.node(n % 2), &webhook).await;
    }
    cluster.settle().await;
    for wa in before.iter().chain(&during) {
        let messages = cluster.node(0).wait_messages_to(wa, 2, WAIT).await;
        assert_eq!(
            cluster.node(0).texts_to(wa),
            expected_texts(wa, 0),
            "{wa} answered once: {messages:?}"
        );
    }
    let counts = cluster.node(0).handle.store.counts().await.expect("counts");
    assert_eq!(counts.inbound_events, 12, "each webhook recorded once");
    assert_eq!(counts.unprocessed_events, 0);
}

/// (conversation, assignee) of every assigned conversation, from the store.
async fn assigned(node: &TestApp) -> Vec<(String, String)> {
    let filter = switchboard::store::ConversationFilter {
        visible_teams: ["support", "sales", "billing"]
            .map(switchboard::domain::TeamId::new)
            .to_vec(),
        status: Some(switchboard::store::ConversationStatus::Assigned),
        limit: 10_000,
        ..Default::default()
    };
    node.handle
        .store
        .list_conversations(&filter)
        .await
        .expect("list")
        .into_iter()
        .map(|c| (c.id, c.assignee.map(|a| a.to_string()).unwrap_or_default()))
        .collect()
}

#[actix_rt::test]
async fn assignments_are_atomic_across_nodes_and_agents_act_through_any_node() {
    const CUSTOMERS: usize = 30;
    let cluster = TestCluster::start(2, |settings| {
        for agent in ["alice", "bob"] {
            if let Some(a) = settings.agents.get_mut(agent) {
                a.capacity = 2;
            }
        }
        add_agent(settings, "dave", &["support"], 2, DAVE);
        add_agent(settings, "erin", &["support"], 2, "erin-test-token");
    })
    .await;
    // Each agent's console on one node, their REST calls on the other.
    let tokens = [ALICE, BOB, DAVE, "erin-test-token"];
    let mut sockets = Vec::new();
    let mut consoles = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        sockets.push(ConsoleSocket::connect(cluster.node(n % 2), token, None).await);
        let console = Console::new(cluster.node((n + 1) % 2), token);
        console.set_presence("online").await;
        consoles.push(console);
    }
    let by_agent: HashMap<&str, usize> = [("alice", 0), ("bob", 1), ("dave", 2), ("erin", 3)]
        .into_iter()
        .collect();

    // A burst of handoffs from customers writing to either node.
    let customers: Vec<Customer> = (0..CUSTOMERS)
        .map(|i| Customer::new(cluster.node(i % 2), &format!("1555720{i:04}")))
        .collect();
    let ids: Vec<String> =
        futures::future::join_all(customers.iter().map(|c| c.hands_off_to("support"))).await;
    assert_eq!(ids.len(), CUSTOMERS);

    // Eight slots: eight assigned, the rest queued; then resolve through the other node until
    // everyone was served, checking the invariants each time.
    let mut served = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while served < CUSTOMERS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "served {served} of {CUSTOMERS}"
        );
        let rows = assigned(cluster.node(served % 2)).await;
        let mut load: HashMap<String, usize> = HashMap::new();
        for (_, agent) in &rows {
            *load.entry(agent.clone()).or_default() += 1;
        }
        assert!(
            load.values().all(|&n| n <= 2),
            "an agent above capacity: {load:?}"
        );
        let Some((id, agent)) = rows.first().cloned() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        expect_status(200, consoles[by_agent[agent.as_str()]].resolve(&id).await);
        served += 1;
    }
    // Each conversation was assigned exactly once, to one agent, who heard of it once.
    let store = &cluster.node(0).handle.store;
    for id in &ids {
        let events = store.conversation_events(id).await.expect("events");
        let assigned: Vec<_> = events.iter().filter(|e| e.kind == "assigned").collect();
        assert_eq!(assigned.len(), 1, "{id}: {events:?}");
        let agent = assigned[0].agent.as_ref().expect("an agent").to_string();
        let socket = &mut sockets[by_agent[agent.as_str()]];
        socket.wait_for_conversation(ASSIGNED, id, WAIT).await;
    }
    // No console heard of a conversation assigned twice; together they heard of all of them.
    let mut heard: Vec<String> = sockets
        .iter()
        .flat_map(|s| s.received_after(0))
        .filter(|e| e["kind"] == ASSIGNED)
        .filter_map(|e| event_conversation(&e).map(str::to_string))
        .collect();
    heard.sort();
    let before = heard.len();
    heard.dedup();
    assert_eq!(heard.len(), before, "an assignment was pushed twice");
    assert_eq!(heard.len(), CUSTOMERS);
    assert!(consoles[0].queue("support").await.is_empty());
}

#[actix_rt::test]
async fn partitions_rebalance_when_nodes_join_and_leave() {
    let mut cluster = TestCluster::start(1, |_| {}).await;
    let partitions = cluster.settings.intake.partitions;
    assert_eq!(
        cluster.ownership()[0].1.len(),
        partitions,
        "alone, it owns all"
    );

    // A second and a third node join: each gets a share, every partition has one owner.
    cluster.add_node().await;
    cluster.add_node().await;
    cluster.settle().await;
    let shares: Vec<usize> = cluster.ownership().iter().map(|(_, p)| p.len()).collect();
    assert_eq!(shares.iter().sum::<usize>(), partitions);
    assert!(
        shares.iter().all(|&n| n <= partitions.div_ceil(3)),
        "fair shares: {shares:?}"
    );

    // Customers keep being served while the nodes rebalance.
    let wa = "15557600001";
    let webhook = text_webhook(wa, "wamid.rebalance.1", "hello");
    assert_eq!(cluster.node(2).post_json(&webhook).await.status(), 200);
    cluster.node(0).wait_messages_to(wa, 2, WAIT).await;

    // One leaves gracefully: the others take its partitions over at once.
    cluster.stop_node(1).await;
    cluster.settle().await;
    let shares: Vec<usize> = cluster.ownership().iter().map(|(_, p)| p.len()).collect();
    assert_eq!(shares.iter().sum::<usize>(), partitions, "{shares:?}");
    let webhook = text_webhook(wa, "wamid.rebalance.2", "opening hours?");
    assert_eq!(cluster.node(0).post_json(&webhook).await.status(), 200);
    cluster.node(0).wait_messages_to(wa, 4, WAIT).await;
    assert_eq!(cluster.node(0).texts_to(wa), expected_texts(wa, 1));
}

/// An id of `len` bytes that does not compress (PostgreSQL compresses a long index entry).
fn incompressible(prefix: &str, len: usize) -> String {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let mut id = prefix.to_string();
    let mut n = 0u64;
    while id.len() < len {
        let word = BuildHasherDefault::<DefaultHasher>::default().hash_one((prefix, n));
        id.push_str(&format!("{word:016x}"));
        n += 1;
    }
    id
}

#[actix_rt::test]
async fn a_10_kb_id_does_not_fail_the_webhooks_batched_with_it() {
    // Writes wait for companions long enough that concurrent webhooks share a grouped commit.
    let cluster = TestCluster::start(1, |s| s.database.max_wait_ms = 50).await;
    let node = cluster.node(0);
    let customers: Vec<String> = (0..6).map(|n| format!("1555710{n:04}")).collect();
    let mut webhooks: Vec<serde_json::Value> = customers
        .iter()
        .map(|wa| text_webhook(wa, &format!("wamid.{wa}.0"), "hello"))
        .collect();
    // A message with a 10 KB id, and a good sibling in the same body.
    let mut huge = text_webhook(&customers[0], &incompressible("wamid.", 10 * 1024), "hi");
    let sibling = serde_json::json!({"from": customers[1], "id": "wamid.sibling",
        "timestamp": "1749416383", "type": "text", "text": {"body": "opening hours please"}});
    huge["entry"][0]["changes"][0]["value"]["messages"]
        .as_array_mut()
        .expect("messages")
        .push(sibling);
    webhooks.push(huge);
    // An account id of 10 KB and a message without id: an `other` event whose dedupe key
    // (account and digest) is 10 KB long.
    let mut account = text_webhook(&customers[2], "wamid.unrouted", "hi");
    let value = &mut account["entry"][0]["changes"][0]["value"];
    value["metadata"]["phone_number_id"] = serde_json::json!(incompressible("", 10 * 1024));
    value["messages"][0]
        .as_object_mut()
        .expect("a message")
        .remove("id");
    webhooks.push(account);

    let answers =
        futures::future::join_all(webhooks.iter().map(|w| async { node.post_json(w).await })).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // Every good message is processed: each customer got the greeting, the sibling its answer.
    let deadline = tokio::time::Instant::now() + WAIT;
    let store = &node.handle.store;
    loop {
        let counts = store.counts().await.expect("counts");
        if counts.unprocessed_events == 0 && counts.inbound_events == 9 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{counts:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for wa in &customers {
        let id = switchboard::domain::ProviderMessageId::new(format!("wamid.{wa}.0"));
        let found = store.message_by_provider_id(&id).await.expect("lookup");
        assert!(found.is_some(), "{wa}'s message is in its conversation");
    }
    let sibling = switchboard::domain::ProviderMessageId::new("wamid.sibling");
    assert!(
        store
            .message_by_provider_id(&sibling)
            .await
            .expect("lookup")
            .is_some()
    );
    // A redelivery of everything is recognised.
    for webhook in &webhooks {
        assert_eq!(node.post_json(webhook).await.status(), 200);
    }
    assert_eq!(store.counts().await.expect("counts").inbound_events, 9);
}
