//! A console event is durable with the conversation step that caused it (the console outbox):
//! when the process dies after the step's commit and before the event reached the agent's log,
//! the event is appended at the next start (embedded) or by another node's sweep (cluster),
//! exactly once. The crash is simulated by writing the outbox entry as a committed step leaves
//! it, with no process to append it.

mod common;

use std::time::Duration;

use common::console::*;
use common::*;
use serde_json::json;

const CONVERSATION: &str = "c-committed-before-the-crash";

fn is_ours(event: &serde_json::Value) -> bool {
    event["kind"] == UPDATED && event_conversation(event) == Some(CONVERSATION)
}

fn payload() -> String {
    json!({"conversation": {"id": CONVERSATION}, "reason": "transferred"}).to_string()
}

#[actix_rt::test]
async fn embedded_an_event_committed_before_a_crash_reaches_the_agent_after_the_restart_once() {
    let app = spawn_console_app(|_| {}).await;
    let ws = ConsoleSocket::connect(&app, ALICE, None).await;
    let last = ws.hello_last_seq();
    ws.close().await;
    let (settings, graph, db_path, dir) = app.stop().await;

    // What a step committed just before the process died leaves behind.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .expect("database");
    sqlx::query(
        "INSERT INTO console_outbox (id, agent, kind, payload, created_at)
         VALUES ('o-crash', 'alice', 'conversation.updated', ?, ?)",
    )
    .bind(payload())
    .bind(now_ms())
    .execute(&pool)
    .await
    .expect("outbox entry");

    let mut app = TestApp::start(settings, graph, db_path).await;
    app.keep_dir(dir);
    let mut ws = ConsoleSocket::connect(&app, ALICE, Some(last)).await;
    let event = ws.wait_for("the committed event", WAIT, is_ours).await;
    assert_eq!(event["data"]["reason"], "transferred", "{event}");
    assert!(event["seq"].as_i64() > Some(last), "{event}");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM console_outbox")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(left, 0, "settled with the append");
    ws.close().await;

    // Once: another restart does not append it again.
    let (settings, graph, db_path, dir) = app.stop().await;
    let mut app = TestApp::start(settings, graph, db_path).await;
    app.keep_dir(dir);
    let mut ws = ConsoleSocket::connect(&app, ALICE, Some(0)).await;
    ws.wait_for("the committed event", WAIT, is_ours).await;
    assert!(
        ws.try_wait_for(Duration::from_secs(1), &is_ours)
            .await
            .is_none(),
        "appended once: {:#?}",
        ws.received
    );
    pool.close().await;
}

/// The outbox entry a node that died 30 s ago left behind.
async fn dead_node_entry(pool: &sqlx::PgPool) {
    sqlx::query(
        "INSERT INTO console_outbox (id, agent, kind, payload, created_at)
         VALUES ('o-dead-node', 'alice', 'conversation.updated', $1::json, $2)",
    )
    .bind(payload())
    .bind(now_ms() - 30_000)
    .execute(pool)
    .await
    .expect("outbox entry");
}

#[actix_rt::test]
async fn cluster_an_event_a_dead_node_committed_is_appended_by_the_sweep_once() {
    use_cluster_mode();
    let app = spawn_console_app(|_| {}).await;
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    let pool = sqlx::PgPool::connect(&app.settings.database.url)
        .await
        .expect("database");
    // Committed by a node that died 30 s ago (older than the sweep's grace).
    dead_node_entry(&pool).await;
    let event = ws
        .wait_for("the dead node's event", Duration::from_secs(20), is_ours)
        .await;
    assert_eq!(event["data"]["reason"], "transferred", "{event}");
    let settled = async {
        loop {
            let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM console_outbox")
                .fetch_one(&pool)
                .await
                .expect("count");
            if left == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, settled)
        .await
        .expect("settled after the append");

    // A sweep that re-emits an entry appended already (its settlement lost) appends nothing.
    dead_node_entry(&pool).await;
    assert!(
        ws.try_wait_for(Duration::from_secs(8), &is_ours)
            .await
            .is_none(),
        "appended once: {:#?}",
        ws.received
    );
    pool.close().await;
}
