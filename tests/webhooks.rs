//! Inbound webhooks: handshake, signature, size and shape checks, every documented payload,
//! redelivery, and batches, driven over HTTP against the real application.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const EVENTS: &str = "SELECT COUNT(*) FROM inbound_events";

#[actix_rt::test]
async fn verification_handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = TestApp::spawn().await;
    let url = |token: &str| {
        format!(
            "{}/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}",
            app.address
        )
    };
    let ok = app.client.get(url(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");

    let wrong = app.client.get(url("nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");

    let incomplete = app
        .client
        .get(format!(
            "{}/webhooks/whatsapp?hub.mode=subscribe",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(incomplete.status(), 400);
}

#[actix_rt::test]
async fn bad_or_missing_signature_is_401_and_records_nothing() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&text_webhook("16505550001", "wamid.sig1", "hello")).unwrap();

    let missing = app
        .client
        .post(format!("{}/webhooks/whatsapp", app.address))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);

    let forged = app
        .client
        .post(format!("{}/webhooks/whatsapp", app.address))
        .header("x-hub-signature-256", format!("sha256={}", "ab".repeat(32)))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let error: serde_json::Value = forged.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unauthorized");

    // Signed, then altered by one byte.
    let signature = app.sign(&body);
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let altered = app
        .client
        .post(format!("{}/webhooks/whatsapp", app.address))
        .header("x-hub-signature-256", signature)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(altered.status(), 401);

    assert_eq!(app.scalar(EVENTS).await, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.graph.requests().is_empty(), "nothing was processed");
}

#[actix_rt::test]
async fn malformed_body_is_400_and_records_nothing() {
    let app = TestApp::spawn().await;
    for body in [
        &b"{not json"[..],
        br#"{"object":"whatsapp_business_account","entry":"#,
        br#"[1,2,3]"#,
        br#"{"object":"page","entry":[]}"#,
    ] {
        let response = app.post_webhook(body).await;
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "bad_request");
    }
    assert_eq!(app.scalar(EVENTS).await, 0);
}

#[actix_rt::test]
async fn oversized_body_is_413_and_records_nothing() {
    let app = TestApp::spawn().await;
    // A valid, signed webhook padded past 3 MB with an unknown field.
    let mut webhook = text_webhook("16505550002", "wamid.big", "hello");
    webhook["padding"] = json!("x".repeat(3 * 1024 * 1024));
    let response = app.post_json(&webhook).await;
    assert_eq!(response.status(), 413);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "payload_too_large");
    assert_eq!(app.scalar(EVENTS).await, 0);
}

/// Each fixture and the event types it must be recorded as.
fn expected_types(name: &str) -> Option<Vec<&'static str>> {
    Some(match name {
        "text_message.json"
        | "text_message_with_context_product_inquiry.json"
        | "text_message_from_click_to_whatsapp_ad.json"
        | "bsuid_text_message.json" => vec!["text"],
        "reaction_message.json" => vec!["reaction"],
        "reaction_removed.json" => vec!["unreaction"],
        "image_message.json" => vec!["image"],
        "audio_voice_message.json" => vec!["audio"],
        "video_message.json" => vec!["video"],
        "document_message.json" => vec!["document"],
        "sticker_message.json" => vec!["sticker"],
        "location_message.json" => vec!["location"],
        "contact_sharing_message.json" => vec!["contacts"],
        "unsupported_message.json" => vec!["unsupported"],
        "button_message.json" => vec!["button"],
        "interactive_list_reply_message.json" => vec!["list_reply"],
        "interactive_button_reply_message.json" => vec!["button_reply"],
        "interactive_nfm_reply_message.json" => vec!["flow_reply"],
        "order_message.json" => vec!["order"],
        "system_message.json" => vec!["system"],
        "edit_message.json" => vec!["edit"],
        "revoke_message.json" => vec!["revoke"],
        "unknown_message_type.json" => vec!["unknown"],
        "status_sent.json" => vec!["status_sent"],
        "status_delivered.json" => vec!["status_delivered"],
        "status_read.json" => vec!["status_read"],
        "status_failed.json" => vec!["status_failed"],
        "status_played.json" => vec!["status_played"],
        "value_errors.json" => vec!["error"],
        "group_create_message.json"
        | "group_settings_update.json"
        | "group_remove_participants.json"
        | "message_template_status_update.json"
        | "user_preferences.json" => vec!["other"],
        _ => return None,
    })
}

#[actix_rt::test]
async fn every_documented_webhook_is_acknowledged_and_recorded_as_the_right_event() {
    let app = TestApp::spawn().await;
    let db = app.db().await;
    let mut total = 0i64;
    // Meta's examples reuse message ids (the text and the image example share one wamid):
    // a later example with an id seen before is a redelivery and must not be recorded again.
    let mut seen = std::collections::HashSet::new();
    for (name, body) in fixtures() {
        let fresh: Vec<bool> = switchboard::channels::whatsapp::webhook::parse_webhook(&body)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .iter()
            .map(|e| seen.insert(e.dedupe_key()))
            .collect();
        let before: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM inbound_events")
            .fetch_one(&db)
            .await
            .unwrap();
        let response = app.post_webhook(&body).await;
        assert_eq!(response.status(), 200, "{name}");
        let kinds: Vec<String> =
            sqlx::query_scalar("SELECT kind FROM inbound_events WHERE seq > ? ORDER BY seq")
                .bind(before)
                .fetch_all(&db)
                .await
                .unwrap();
        total += kinds.len() as i64;
        if name == "batch_two_entries.json" {
            // Two entries, two changes each: every message and status, in order.
            let expected = [
                "text",
                "image",
                "text",
                "status_sent",
                "status_delivered",
                "text",
                "reaction",
                "location",
            ];
            assert!(fresh.iter().all(|f| *f), "{name} reuses no id");
            assert_eq!(kinds, expected, "{name}");
            continue;
        }
        let expected: Vec<&str> = expected_types(&name)
            .unwrap_or_else(|| panic!("fixture {name} has no expectation in this test"))
            .into_iter()
            .zip(&fresh)
            .filter(|(_, fresh)| **fresh)
            .map(|(kind, _)| kind)
            .collect();
        assert_eq!(
            fresh.len(),
            expected_types(&name).map_or(0, |e| e.len()),
            "{name}"
        );
        assert_eq!(kinds, expected, "{name}");
    }
    assert_eq!(app.scalar(EVENTS).await, total);
    // Every event that belongs to a conversation is processed by its actor.
    let unprocessed = "SELECT COUNT(*) FROM inbound_events WHERE processed = 0";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.scalar(unprocessed).await > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.scalar(unprocessed).await, 0);
    db.close().await;
}

#[actix_rt::test]
async fn a_redelivered_message_is_acknowledged_and_processed_once() {
    let app = TestApp::spawn().await;
    let webhook = text_webhook("16505550003", "wamid.dup1", "hello");
    for _ in 0..3 {
        assert_eq!(app.post_json(&webhook).await.status(), 200);
    }
    assert_eq!(app.scalar(EVENTS).await, 1);
    let inbound = "SELECT COUNT(*) FROM messages WHERE direction = 'inbound'";
    assert_eq!(app.wait_count(inbound, 1, Duration::from_secs(5)).await, 1);
    // The bot answered once (greeting + menu), not three times.
    let replies = app
        .wait_messages_to("16505550003", 2, Duration::from_secs(5))
        .await
        .len();
    assert_eq!(replies, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.graph.messages_to("16505550003").len(), 2);

    // Statuses are deduplicated by id + status, so each new status still counts.
    let status = status_webhook("16505550003", "wamid.out1", "delivered");
    assert_eq!(app.post_json(&status).await.status(), 200);
    assert_eq!(app.post_json(&status).await.status(), 200);
    let read = status_webhook("16505550003", "wamid.out1", "read");
    assert_eq!(app.post_json(&read).await.status(), 200);
    assert_eq!(app.scalar(EVENTS).await, 3);
    let duplicates = app.metrics().await;
    assert!(duplicates.contains("switchboard_inbound_duplicates_total"));
}

#[actix_rt::test]
async fn a_large_batch_across_many_customers_is_processed_in_order_per_conversation() {
    let app = TestApp::spawn().await;
    const CUSTOMERS: usize = 60;
    const PER_CUSTOMER: usize = 5;
    // Messages interleaved across customers, split over several concurrent webhooks, each
    // webhook carrying several entries and changes.
    let mut webhooks = Vec::new();
    for round in 0..PER_CUSTOMER {
        let mut entries = Vec::new();
        for chunk in (0..CUSTOMERS).collect::<Vec<_>>().chunks(20) {
            let messages: Vec<_> = chunk
                .iter()
                .map(|c| {
                    json!({"from": format!("3460000{c:04}"), "id": format!("wamid.b{c}-{round}"),
                           "timestamp": "1749416383", "type": "text",
                           "text": {"body": format!("message {round}")}})
                })
                .collect();
            let contacts: Vec<_> = chunk
                .iter()
                .map(|c| json!({"profile": {"name": format!("C{c}")}, "wa_id": format!("3460000{c:04}")}))
                .collect();
            entries.push(json!({"id": "419561257915477", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                "contacts": contacts, "messages": messages}}]}));
        }
        webhooks.push(json!({"object": "whatsapp_business_account", "entry": entries}));
    }
    // Send rounds in order (each round concurrently split is not needed: one batch per round),
    // but without waiting for processing in between.
    for webhook in &webhooks {
        assert_eq!(app.post_json(webhook).await.status(), 200);
    }
    let total = (CUSTOMERS * PER_CUSTOMER) as i64;
    assert_eq!(app.scalar(EVENTS).await, total);
    let inbound = "SELECT COUNT(*) FROM messages WHERE direction = 'inbound'";
    assert_eq!(
        app.wait_count(inbound, total, Duration::from_secs(30))
            .await,
        total
    );

    let db = app.db().await;
    for c in 0..CUSTOMERS {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT m.provider_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE c.customer = ? AND m.direction = 'inbound' ORDER BY m.rowid",
        )
        .bind(format!("3460000{c:04}"))
        .fetch_all(&db)
        .await
        .unwrap();
        let expected: Vec<String> = (0..PER_CUSTOMER)
            .map(|r| format!("wamid.b{c}-{r}"))
            .collect();
        assert_eq!(ids, expected, "customer {c}");
    }
    let conversations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM conversations")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(conversations, CUSTOMERS as i64);
    db.close().await;
}

#[actix_rt::test]
async fn health_readiness_and_metrics_are_served() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    assert_eq!(
        app.post_json(&text_webhook("16505550004", "wamid.m1", "hi"))
            .await
            .status(),
        200
    );
    let _ = app
        .wait_messages_to("16505550004", 1, Duration::from_secs(5))
        .await;
    let metrics = app.metrics().await;
    for name in [
        "switchboard_webhook_requests_total",
        "switchboard_inbound_events_total",
        "switchboard_store_commit_duration_seconds",
        "switchboard_live_conversations",
        "switchboard_outbound_sends_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    // The message is processed (the bot answered): nothing waits for a conversation.
    assert!(
        metrics
            .lines()
            .any(|l| l.trim() == "switchboard_conversation_backlog 0"),
        "the backlog is back to 0: {}",
        metrics
            .lines()
            .filter(|l| l.contains("backlog"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        !metrics.contains("16505550004"),
        "no phone numbers in metric labels"
    );
}
