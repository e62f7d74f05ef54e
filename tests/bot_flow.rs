//! A whole bot conversation driven like Meta would, against the real application: greeting,
//! menu, FAQ, order tracking through a business API, booking, handoff; and a restart on the
//! same database file in the middle of a flow.

mod common;

use std::time::Duration;

use common::*;

const WAIT: Duration = Duration::from_secs(10);

/// Send a webhook and wait until the fake Graph API has `expect_total` messages for `wa_id`;
/// returns the texts of the new ones.
async fn exchange(
    app: &TestApp,
    wa_id: &str,
    webhook: serde_json::Value,
    expect_total: usize,
) -> Vec<String> {
    let before = app.texts_to(wa_id).len();
    assert_eq!(app.post_json(&webhook).await.status(), 200);
    let messages = app.wait_messages_to(wa_id, expect_total, WAIT).await;
    assert!(
        messages.len() >= expect_total,
        "waited for {expect_total} messages, got {messages:#?}"
    );
    app.texts_to(wa_id)[before..].to_vec()
}

#[actix_rt::test]
async fn greeting_menu_faq_order_tracking_and_handoff() {
    let app = TestApp::spawn().await;
    let wa = "15550001111";

    // First contact: greeting with the profile name, then the main menu as reply buttons.
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.f1", "hello"), 2).await;
    assert!(
        texts[0].starts_with("Hi Customer 15550001111!"),
        "{texts:?}"
    );
    let menu = app.graph.messages_to(wa)[1].clone();
    assert_eq!(menu["type"], "interactive");
    assert_eq!(menu["interactive"]["type"], "button");
    let buttons = menu["interactive"]["action"]["buttons"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(buttons.len(), 3);
    assert_eq!(buttons[0]["reply"]["title"], "Track my order");
    let track_id = buttons[0]["reply"]["id"].as_str().unwrap().to_string();

    // FAQ by keyword: answered, then the menu again.
    let texts = exchange(
        &app,
        wa,
        text_webhook(wa, "wamid.f2", "what are your opening hours?"),
        4,
    )
    .await;
    assert!(texts[0].contains("Monday to Friday"), "{texts:?}");

    // Menu choice by button id → question → invalid answer → valid answer → lookup.
    let texts = exchange(
        &app,
        wa,
        button_reply_webhook(wa, "wamid.f3", &track_id, "Track my order"),
        5,
    )
    .await;
    assert!(texts[0].contains("order number"), "{texts:?}");
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.f4", "??"), 6).await;
    assert!(
        texts[0].contains("doesn't look like an order number"),
        "{texts:?}"
    );
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.f5", "a1234"), 8).await;
    assert_eq!(
        texts[0],
        "Order A1234 is shipped with DHL. Estimated delivery: 2026-12-01."
    );
    let lookups: Vec<_> = app
        .graph
        .business()
        .requests()
        .into_iter()
        .filter(|r| r.path == "/business/orders/A1234")
        .collect();
    assert_eq!(lookups.len(), 1, "the business API was called once");

    // An unknown order: the 404 branch.
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.f6", "Track my order"), 9).await;
    assert!(texts[0].contains("order number"));
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.f7", "ZZ999"), 11).await;
    assert!(texts[0].contains("couldn't find order ZZ999"), "{texts:?}");

    // Talk to a person → team list → Billing: handed off to that team; the bot goes quiet.
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.f8", "3"), 12).await;
    let list = app.graph.messages_to(wa).last().cloned().unwrap();
    assert_eq!(list["interactive"]["type"], "list", "{texts:?}");
    let rows = list["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .cloned()
        .unwrap();
    let billing = rows
        .iter()
        .find(|r| r["title"] == "Billing")
        .expect("billing row");
    let billing_id = billing["id"].as_str().unwrap().to_string();
    let texts = exchange(
        &app,
        wa,
        list_reply_webhook(wa, "wamid.f9", &billing_id, "Billing"),
        13,
    )
    .await;
    assert!(texts[0].contains("colleague"), "{texts:?}");

    let db = app.db().await;
    let (status, team): (String, Option<String>) =
        sqlx::query_as("SELECT status, team FROM conversations WHERE customer = ?")
            .bind(wa)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), team.as_deref()),
        ("waiting", Some("billing"))
    );
    let order_field: String = sqlx::query_scalar(
        "SELECT json_extract(fields, '$.order_number') FROM contacts WHERE customer = ?",
    )
    .bind(wa)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        order_field, "ZZ999",
        "the answer is saved as a contact field"
    );

    // After the handoff the customer's messages are recorded but the bot does not answer.
    assert_eq!(
        app.post_json(&text_webhook(wa, "wamid.f10", "hello?"))
            .await
            .status(),
        200
    );
    let inbound = "SELECT COUNT(*) FROM messages WHERE direction = 'inbound'";
    assert_eq!(app.wait_count(inbound, 10, WAIT).await, 10);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 13 bot messages, then the queue position: no billing agent is online.
    let texts = app.texts_to(wa);
    assert_eq!(texts.len(), 14, "{texts:#?}");
    assert!(
        texts[13].contains("You are number 1 in the queue for Billing"),
        "{}",
        texts[13]
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("switchboard_bot_handoffs_total{team=\"billing\"}"),
        "handoff metric"
    );
    db.close().await;
}

#[actix_rt::test]
async fn spanish_customer_books_an_appointment() {
    let app = TestApp::spawn().await;
    let wa = "34600111222"; // +34: Spanish
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.e1", "hola"), 2).await;
    assert!(texts[0].starts_with("¡Hola"), "{texts:?}");
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.e2", "Pedir cita"), 3).await;
    assert!(texts[0].contains("Qué día"), "{texts:?}");
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.e3", "2026-12-03"), 5).await;
    assert_eq!(
        texts[0],
        "Tienes cita el 2026-12-03. Tu referencia es APT-1."
    );
    let booked = app.graph.business().appointments();
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0]["phone"], wa);
}

#[actix_rt::test]
async fn a_restart_keeps_every_message_and_resumes_the_conversation_where_it_was() {
    let app = TestApp::spawn().await;
    let wa = "15550002222";
    exchange(&app, wa, text_webhook(wa, "wamid.r1", "hi"), 2).await;
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.r2", "1"), 3).await;
    assert!(
        texts[0].contains("order number"),
        "the bot now waits for an order number"
    );
    let (settings, graph, db_path, dir) = app.stop().await;

    // Same database file, a new process-equivalent: nothing acknowledged is lost...
    let app = TestApp::start(settings, graph, db_path).await;
    let inbound = "SELECT COUNT(*) FROM messages WHERE direction = 'inbound'";
    assert_eq!(app.scalar(inbound).await, 2);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM inbound_events WHERE processed = 0")
            .await,
        0
    );
    // ...and the idle conversation resumes mid-question.
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.r3", "C9012"), 5).await;
    assert!(
        texts[0].starts_with("Order C9012 is delivered"),
        "{texts:?}"
    );
    // A redelivery of a message acknowledged before the restart is still recognised.
    assert_eq!(
        app.post_json(&text_webhook(wa, "wamid.r2", "1"))
            .await
            .status(),
        200
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 3);
    app.handle.stop().await;
    drop(dir);
}

#[actix_rt::test]
async fn events_recorded_but_not_processed_before_a_stop_are_processed_after_restart() {
    // A crash between acknowledging a webhook and processing it leaves a recorded, unprocessed
    // event in the log. Build exactly that state on a stopped app's database, then restart.
    let app = TestApp::spawn().await;
    let wa = "15550003333";
    assert_eq!(
        app.post_json(&text_webhook(wa, "wamid.c1", "hi"))
            .await
            .status(),
        200
    );
    let _ = app.wait_messages_to(wa, 2, WAIT).await;
    let (settings, graph, db_path, dir) = app.stop().await;
    {
        // Put the database in the state a crash after the commit of a second webhook leaves.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect(&format!("sqlite://{}", db_path.display()))
            .await
            .unwrap();
        let webhook = text_webhook(wa, "wamid.c2", "1");
        let envelopes = switchboard::channels::whatsapp::webhook::parse_webhook(
            &serde_json::to_vec(&webhook).unwrap(),
        )
        .unwrap();
        let payload = serde_json::to_string(&envelopes[0]).unwrap();
        sqlx::query(
            "INSERT INTO inbound_events (dedupe_key, channel, conversation_key, kind, payload,
                received_at, processed) VALUES (?, 'support', ?, 'text', ?, 0, 0)",
        )
        .bind(envelopes[0].dedupe_key())
        .bind(format!("support:{wa}"))
        .bind(payload)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let app = TestApp::start(settings, graph, db_path).await;
    // The sweep at start-up resumes the conversation: the bot answers the recorded "1".
    let messages = app.wait_messages_to(wa, 3, WAIT).await;
    assert_eq!(messages.len(), 3);
    assert!(app.texts_to(wa)[2].contains("order number"));
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM inbound_events WHERE processed = 0")
            .await,
        0
    );
    app.handle.stop().await;
    drop(dir);
}

#[actix_rt::test]
async fn an_idle_conversation_actor_stops_and_is_rehydrated_from_the_store() {
    let app = TestApp::spawn_with(|s| s.conversations.idle_timeout_seconds = 1).await;
    let wa = "15550005555";
    exchange(&app, wa, text_webhook(wa, "wamid.i1", "hi"), 2).await;
    exchange(&app, wa, text_webhook(wa, "wamid.i2", "Track my order"), 3).await;
    assert_eq!(app.handle.conversations.deps().live_actors(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.handle.conversations.deps().live_actors() > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.handle.conversations.deps().live_actors(),
        0,
        "the idle actor stopped"
    );
    // The customer answers the pending question: a new actor loads the state and goes on.
    let texts = exchange(&app, wa, text_webhook(wa, "wamid.i3", "B5678"), 5).await;
    assert!(
        texts[0].starts_with("Order B5678 is processing"),
        "{texts:?}"
    );
}
