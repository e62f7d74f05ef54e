//! A WhatsApp customer known only by their business-scoped user id (BSUID: Meta withholds the
//! number of a customer with a username), in both modes: the bot answers them, they are handed
//! to a person who answers too, every send naming them in `recipient` (never `to`); their
//! contact has no number and the BSUID as its identity, and is found by it.

mod common;

use std::time::{Duration, Instant};

use common::console::*;
use common::{button_reply_webhook, list_reply_webhook, text_webhook};
use serde_json::{Value, json};
use switchboard::domain::CustomerId;

const BSUID: &str = "US.13491208655302741918";

/// `webhook` as Meta sends it for a customer whose number is withheld: no `from` and no
/// `wa_id`, the BSUID in `from_user_id` and the contact's `user_id`.
fn without_number(mut webhook: Value) -> Value {
    let value = &mut webhook["entry"][0]["changes"][0]["value"];
    value["contacts"][0] = json!({"profile": {"name": "Ana"}, "user_id": BSUID});
    if let Some(message) = value["messages"][0].as_object_mut() {
        message.remove("from");
        message.insert("from_user_id".into(), json!(BSUID));
    }
    webhook
}

async fn post(app: &common::TestApp, webhook: Value) {
    let response = app.post_json(&without_number(webhook)).await;
    assert_eq!(response.status(), 200, "webhook accepted");
}

/// The sends to the BSUID once there are more than `before`; the newest.
async fn next_send(app: &common::TestApp, before: usize, what: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let sent = app.graph.messages_to(BSUID);
        if sent.len() > before {
            return sent[sent.len() - 1].clone();
        }
        assert!(Instant::now() < deadline, "waited for {what}: {sent:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn a_customer_known_only_by_bsuid_is_served_everywhere() {
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    let mut alice_ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;

    // The bot greets them with its menu, addressed by `recipient`.
    post(&app, text_webhook(BSUID, &next_wamid(BSUID), "hi")).await;
    let menu = next_send(&app, 0, "the menu").await;
    assert_eq!(menu["recipient"], BSUID, "{menu:#}");
    assert!(menu.get("to").is_none(), "{menu:#}");

    // They ask for a person in support.
    let before = app.graph.messages_to(BSUID).len();
    post(
        &app,
        button_reply_webhook(
            BSUID,
            &next_wamid(BSUID),
            "main_menu/person",
            "Talk to a person",
        ),
    )
    .await;
    next_send(&app, before, "the team list").await;
    post(
        &app,
        list_reply_webhook(
            BSUID,
            &next_wamid(BSUID),
            "choose_team/support",
            "Customer support",
        ),
    )
    .await;
    let id = wait_handed_off(&app, &CustomerId::new(BSUID)).await;
    alice_ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;

    // Alice answers: it reaches them by their BSUID too.
    let before = app.graph.messages_to(BSUID).len();
    expect_status(201, alice.reply(&id, "Hola Ana").await);
    let reply = next_send(&app, before, "Alice's reply").await;
    assert_eq!(reply["recipient"], BSUID, "{reply:#}");
    assert_eq!(reply["text"]["body"], "Hola Ana", "{reply:#}");
    assert!(reply.get("to").is_none(), "{reply:#}");

    // Their contact: no number, the BSUID as identity, found by it.
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let found = expect_status(200, sam.get(&format!("/api/v1/contacts?q={BSUID}")).await);
    let contacts = found["contacts"].as_array().cloned().unwrap_or_default();
    assert_eq!(contacts.len(), 1, "{found:#}");
    let contact = &contacts[0];
    assert_eq!(contact["name"], "Ana", "{contact:#}");
    assert!(contact["phone"].is_null(), "{contact:#}");
    let detail = expect_status(
        200,
        sam.get(&format!(
            "/api/v1/contacts/{}",
            contact["id"].as_str().unwrap_or_default()
        ))
        .await,
    );
    let addresses: Vec<&str> = detail["contact"]["identities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["address"].as_str())
        .collect();
    assert_eq!(addresses, [BSUID], "{detail:#}");
}

in_both_modes!(a_customer_known_only_by_bsuid_is_served_everywhere);
