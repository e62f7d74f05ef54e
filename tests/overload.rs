//! Overload: when a conversation is slow and every queue in front of it is full, webhooks are
//! shed with 503 + Retry-After and nothing is recorded for them; everything acknowledged is
//! still processed, and Meta's retry of a shed webhook is then accepted.

mod common;

use std::time::Duration;

use common::*;

#[actix_rt::test]
async fn a_saturated_partition_sheds_with_503_and_loses_nothing_acknowledged() {
    let app = TestApp::spawn_with(|s| {
        s.intake.partitions = 1;
        s.intake.partition_capacity = 1;
        s.conversations.mailbox_capacity = 1;
        s.conversations.http_action_timeout_ms = 10_000;
    })
    .await;
    let wa = "15550004444";
    // Bring the customer to the order lookup, then make the business API slow: the actor waits
    // on the HTTP step while more messages arrive.
    assert_eq!(
        app.post_json(&text_webhook(wa, "wamid.o1", "hi"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_json(&text_webhook(wa, "wamid.o2", "1"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.wait_messages_to(wa, 3, Duration::from_secs(10))
            .await
            .len(),
        3
    );
    app.graph.business().set_delay(Duration::from_millis(1500));
    assert_eq!(
        app.post_json(&text_webhook(wa, "wamid.o3", "A1234"))
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut accepted = vec!["wamid.o1", "wamid.o2", "wamid.o3"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    let mut shed = Vec::new();
    for i in 0..20 {
        let wamid = format!("wamid.flood{i}");
        let response = app
            .post_json(&text_webhook(wa, &wamid, "are you there?"))
            .await;
        match response.status().as_u16() {
            200 => accepted.push(wamid),
            503 => {
                assert_eq!(
                    response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()),
                    Some("1")
                );
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "overloaded");
                shed.push(wamid);
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(!shed.is_empty(), "a full partition must shed");

    let db = app.db().await;
    let recorded: Vec<String> = sqlx::query_scalar(
        "SELECT json_extract(payload, '$.event.provider_id') FROM inbound_events ORDER BY seq",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        recorded, accepted,
        "exactly the acknowledged webhooks are recorded"
    );

    // Once the slow step finishes, everything acknowledged is processed, in order.
    let inbound = "SELECT COUNT(*) FROM messages WHERE direction = 'inbound'";
    let n = accepted.len() as i64;
    assert_eq!(app.wait_count(inbound, n, Duration::from_secs(20)).await, n);
    let processed: Vec<String> = sqlx::query_scalar(
        "SELECT provider_id FROM messages WHERE direction = 'inbound' ORDER BY rowid",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(processed, accepted);

    // Meta retries what was shed: now accepted and processed.
    app.graph.business().set_delay(Duration::ZERO);
    for wamid in &shed {
        let response = app
            .post_json(&text_webhook(wa, wamid, "are you there?"))
            .await;
        assert_eq!(response.status(), 200);
    }
    let all = n + shed.len() as i64;
    assert_eq!(
        app.wait_count(inbound, all, Duration::from_secs(20)).await,
        all
    );
    db.close().await;
}
