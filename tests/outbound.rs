//! Outbound through the real application and a fake Graph API over HTTP: rate limits,
//! retries, permanent failures, and status webhooks updating what was sent.

mod common;

use std::time::Duration;

use common::*;

const OUTBOUND: &str = "SELECT COUNT(*) FROM messages WHERE direction = 'outbound'";

#[actix_rt::test]
async fn the_number_throughput_limit_is_respected() {
    const RATE: u32 = 20;
    let app = TestApp::spawn_with(|s| {
        s.outbound.messages_per_second = RATE;
    })
    .await;
    for c in 0..30 {
        let webhook = text_webhook(&format!("4470000{c:04}"), &format!("wamid.rate{c}"), "hi");
        assert_eq!(app.post_json(&webhook).await.status(), 200);
    }
    let total = app.wait_count(OUTBOUND, 30, Duration::from_secs(10)).await as usize;
    assert!(total >= 30, "every customer got at least a greeting");
    assert!(app.graph.wait_for(total, Duration::from_secs(20)).await);
    let mut times: Vec<_> = app.graph.requests().iter().map(|r| r.received).collect();
    times.sort();
    // In any one-second window the fake saw at most the rate plus the bucket's burst (= rate).
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_secs(1))
            .count();
        assert!(
            in_window <= 2 * RATE as usize,
            "{in_window} sends within one second at {RATE}/s"
        );
    }
}

#[actix_rt::test]
async fn throughput_errors_are_retried_and_permanent_errors_are_not() {
    let app = TestApp::spawn().await;
    let (retried, undeliverable) = ("4470001000", "4470001001");
    app.graph.fail_next(Some(retried), 130429, 400, 1);
    app.graph.fail_next(Some(undeliverable), 131026, 400, 100);

    for (wa_id, wamid) in [(retried, "wamid.r1"), (undeliverable, "wamid.u1")] {
        assert_eq!(
            app.post_json(&text_webhook(wa_id, wamid, "hi"))
                .await
                .status(),
            200
        );
    }
    // The throttled customer still gets every reply, the first after a second attempt.
    let delivered = app
        .wait_messages_to(retried, 1, Duration::from_secs(10))
        .await;
    assert!(!delivered.is_empty());
    let db = app.db().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows: Vec<(String, String, Option<i64>, i64)> = sqlx::query_as(
            "SELECT c.customer, m.status, m.error_code, m.attempts FROM messages m
             JOIN conversations c ON c.id = m.conversation_id
             WHERE m.direction = 'outbound' ORDER BY m.rowid",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        let settled = !rows.is_empty() && rows.iter().all(|r| r.1 != "queued" && r.1 != "sending");
        if settled || tokio::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let retried_rows: Vec<_> = rows.iter().filter(|r| r.0 == retried).collect();
    let failed_rows: Vec<_> = rows.iter().filter(|r| r.0 == undeliverable).collect();
    assert!(
        !retried_rows.is_empty() && !failed_rows.is_empty(),
        "{rows:?}"
    );
    assert_eq!(retried_rows[0].1, "accepted");
    assert_eq!(retried_rows[0].3, 2, "one 130429, then accepted");
    for row in &failed_rows {
        assert_eq!(row.1, "failed");
        assert_eq!(row.2, Some(131026));
        assert_eq!(row.3, 1, "a permanent error is not retried");
    }
    // The fake saw exactly one attempt per undeliverable message.
    let attempts = app
        .graph
        .requests()
        .iter()
        .filter(|r| r.to() == Some(undeliverable))
        .count();
    assert_eq!(attempts, failed_rows.len());
    db.close().await;
}

#[actix_rt::test]
async fn status_webhooks_move_a_sent_message_forward_never_back() {
    let app = TestApp::spawn().await;
    let customer = "4470002000";
    assert_eq!(
        app.post_json(&text_webhook(customer, "wamid.s1", "hi"))
            .await
            .status(),
        200
    );
    let sent = app
        .wait_messages_to(customer, 1, Duration::from_secs(10))
        .await;
    assert!(!sent.is_empty());
    // The wamid the fake Graph API gave our first reply.
    let accepted =
        "SELECT COUNT(*) FROM messages WHERE direction = 'outbound' AND provider_id IS NOT NULL";
    assert!(app.wait_count(accepted, 1, Duration::from_secs(5)).await >= 1);
    let db = app.db().await;
    let wamid: String = sqlx::query_scalar(
        "SELECT provider_id FROM messages WHERE direction = 'outbound' AND provider_id IS NOT NULL
         ORDER BY rowid LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let status_of = || {
        let db = db.clone();
        let wamid = wamid.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM messages WHERE provider_id = ?")
                .bind(wamid)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let wait_status = |want: &'static str| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let s = status_of().await;
            if s == want || tokio::time::Instant::now() > deadline {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    for status in ["sent", "delivered"] {
        let response = app
            .post_json(&status_webhook(customer, &wamid, status))
            .await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(wait_status("delivered").await, "delivered");
    // A late "sent" does not move it back.
    let late = status_webhook(customer, &wamid, "sent");
    let mut late = late;
    late["entry"][0]["changes"][0]["value"]["statuses"][0]["timestamp"] = "1749416999".into();
    assert_eq!(app.post_json(&late).await.status(), 200);
    assert_eq!(
        app.post_json(&status_webhook(customer, &wamid, "read"))
            .await
            .status(),
        200
    );
    assert_eq!(wait_status("read").await, "read");
    db.close().await;
}

/// The app's pending outbound messages (queued or claimed), oldest first.
async fn pending(app: &TestApp) -> Vec<switchboard::store::PendingOutbound> {
    app.handle.store.pending_outbound().await.expect("pending")
}

/// Start `customer`'s conversation while Meta fails every send to them, then stop the app with
/// the greeting claimed (`sending`: its sender is retrying) and the menu still queued.
async fn stop_mid_send(customer: &str, resend_after_ms: u64) -> TestApp {
    let app = TestApp::spawn_with(|s| {
        s.outbound.max_attempts = 1000;
        s.outbound.initial_backoff_ms = 200;
        s.outbound.max_backoff_ms = 200;
        s.outbound.resend_unconfirmed_after_ms = resend_after_ms;
    })
    .await;
    app.graph.fail_next(Some(customer), 131000, 500, 1_000_000);
    assert_eq!(
        app.post_json(&text_webhook(customer, "wamid.mid1", "hello"))
            .await
            .status(),
        200
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let states: Vec<_> = pending(&app).await.iter().map(|p| p.state).collect();
        if states
            == [
                switchboard::store::OutboundState::Sending,
                switchboard::store::OutboundState::Queued,
            ]
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{states:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app
}

#[actix_rt::test]
async fn a_message_cut_short_by_a_crash_is_sent_once_and_the_customer_s_order_is_kept() {
    let customer = "4470003000";
    let app = stop_mid_send(customer, 1500).await;
    let (settings, graph, db_path, dir) = app.stop().await;
    graph.clear();
    // Started again: the claimed greeting may or may not have reached Meta. No status says it
    // did, so once the grace has passed it is sent, then the menu behind it, once each.
    let started = std::time::Instant::now();
    let mut app = TestApp::start(settings, graph, db_path).await;
    app.keep_dir(dir);
    let messages = app
        .wait_messages_to(customer, 2, Duration::from_secs(10))
        .await;
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the menu waited behind the unconfirmed greeting"
    );
    let texts = app.texts_to(customer);
    assert_eq!(
        texts,
        [
            format!("Hi Customer {customer}! Welcome to Acme. I'm the Acme assistant."),
            "How can I help you today?".to_string()
        ],
        "{messages:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.texts_to(customer).len(), 2, "nothing twice");
    assert!(pending(&app).await.is_empty());
}

#[actix_rt::test]
async fn a_message_that_reached_meta_before_a_crash_is_not_sent_again() {
    let customer = "4470003001";
    // A resend delay far longer than the test: the menu behind the greeting goes out as soon
    // as the greeting's status shows it arrived, not when the delay is over.
    let app = stop_mid_send(customer, 600_000).await;
    let greeting = pending(&app).await.remove(0).message.id;
    let (settings, graph, db_path, dir) = app.stop().await;
    graph.clear();
    let mut app = TestApp::start(settings, graph, db_path).await;
    app.keep_dir(dir);
    // Meta's status for it arrives (our id as callback data): it did go out before the crash.
    let mut status = status_webhook(customer, "wamid.reached", "sent");
    status["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] =
        serde_json::json!(greeting.to_string());
    assert_eq!(app.post_json(&status).await.status(), 200);
    let messages = app
        .wait_messages_to(customer, 1, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        app.texts_to(customer),
        ["How can I help you today?"],
        "only the menu went out now: {messages:?}"
    );
    let stored = app
        .handle
        .store
        .message_by_provider_id(&switchboard::domain::ProviderMessageId::new(
            "wamid.reached",
        ))
        .await
        .expect("lookup")
        .expect("tied to the greeting by its callback data");
    assert_eq!(stored.id, greeting.to_string());
    assert_eq!(stored.status, "sent");
}
