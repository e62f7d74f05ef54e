//! Queues and assignments under a burst of handoffs, and across a restart.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::TestApp;
use common::console::*;

const SUPPORT: &str = "support";

/// (conversation, assignee) of every assigned conversation, from the store.
async fn assigned(app: &TestApp) -> Vec<(String, String)> {
    let db = app.db().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, assignee FROM conversations WHERE status = 'assigned' ORDER BY id",
    )
    .fetch_all(&db)
    .await
    .expect("assigned query");
    db.close().await;
    rows
}

/// How many `assigned` events each conversation has.
async fn assignment_events(app: &TestApp) -> HashMap<String, i64> {
    let db = app.db().await;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT conversation_id, COUNT(*) FROM conversation_events WHERE kind = 'assigned'
         GROUP BY conversation_id",
    )
    .fetch_all(&db)
    .await
    .expect("events query");
    db.close().await;
    rows.into_iter().collect()
}

fn per_agent(rows: &[(String, String)]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (_, agent) in rows {
        *counts.entry(agent.clone()).or_default() += 1;
    }
    counts
}

#[actix_rt::test]
async fn a_burst_of_handoffs_is_served_once_each_never_above_capacity() {
    const CUSTOMERS: usize = 24;
    let app = spawn_console_app(|settings| {
        for agent in ["alice", "bob"] {
            if let Some(a) = settings.agents.get_mut(agent) {
                a.capacity = 2;
            }
        }
    })
    .await;
    let alice = Console::new(&app, ALICE);
    let bob = Console::new(&app, BOB);
    alice.set_presence("online").await;
    bob.set_presence("online").await;

    let customers: Vec<Customer> = (0..CUSTOMERS)
        .map(|i| Customer::new(&app, &format!("1555090{i:04}")))
        .collect();
    let ids: Vec<String> =
        futures::future::join_all(customers.iter().map(|c| c.hands_off_to(SUPPORT))).await;
    assert_eq!(ids.len(), CUSTOMERS);

    // Four slots: four assigned, the rest queued.
    let deadline = Instant::now() + WAIT;
    loop {
        let queue = alice.queue(SUPPORT).await;
        if assigned(&app).await.len() == 4 && queue.len() == CUSTOMERS - 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "4 assigned and {} queued",
            CUSTOMERS - 4
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Resolve whatever is assigned until everyone was served; check the invariants each time.
    let mut served = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while served < CUSTOMERS {
        assert!(Instant::now() < deadline, "served {served} of {CUSTOMERS}");
        let rows = assigned(&app).await;
        for (agent, count) in per_agent(&rows) {
            assert!(
                count <= 2,
                "{agent} holds {count} conversations, capacity 2"
            );
        }
        let Some((id, agent)) = rows.first().cloned() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let console = if agent == "alice" { &alice } else { &bob };
        expect_status(200, console.resolve(&id).await);
        served += 1;
    }
    let events = assignment_events(&app).await;
    assert_eq!(events.len(), CUSTOMERS, "every conversation was assigned");
    assert!(
        events.values().all(|&n| n == 1),
        "no conversation was assigned twice: {events:?}"
    );
    assert!(alice.queue(SUPPORT).await.is_empty());
}

#[actix_rt::test]
async fn queues_and_assignments_are_rebuilt_after_a_restart() {
    let app = spawn_console_app(|settings| {
        if let Some(a) = settings.agents.get_mut("alice") {
            a.capacity = 1;
        }
    })
    .await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    let first = Customer::new(&app, "15550910001")
        .hands_off_to(SUPPORT)
        .await;
    alice.wait_status(&first, "assigned", WAIT).await;
    let second = Customer::new(&app, "15550910002")
        .hands_off_to(SUPPORT)
        .await;
    let third = Customer::new(&app, "15550910003")
        .hands_off_to(SUPPORT)
        .await;
    let queue = alice.queue(SUPPORT).await;
    assert_eq!(queue, vec![second.clone(), third.clone()]);

    let (settings, graph, db_path, dir) = app.stop().await;
    let mut app = TestApp::start(settings, graph, db_path).await;
    app.keep_dir(dir);
    let alice = Console::new(&app, ALICE);

    // The queue is back in order; alice still has the first (and is offline until she says).
    assert_eq!(
        alice.queue(SUPPORT).await,
        vec![second.clone(), third.clone()]
    );
    let me = alice.me().await;
    assert_eq!(me["presence"], "offline", "{me}");
    assert_eq!(me["assigned"][0], first.as_str(), "{me}");

    alice.set_presence("online").await;
    // Still at capacity: going online assigns nothing more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        alice.conversation(&second).await["conversation"]["status"],
        "waiting"
    );
    expect_status(200, alice.resolve(&first).await);
    alice.wait_status(&second, "assigned", AT_ONCE).await;
    expect_status(200, alice.resolve(&second).await);
    alice.wait_status(&third, "assigned", AT_ONCE).await;
}
