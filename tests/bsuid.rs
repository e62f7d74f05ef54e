//! A WhatsApp customer known only by their business-scoped user id (BSUID: Meta withholds the
//! number of a customer with a username), in both modes: the bot answers them, they are handed
//! to a person who answers too, every send naming them in `recipient` (never `to`); their
//! contact has no number and the BSUID as its identity, and is found by it. A customer first
//! seen with both their number and their BSUID stays in the same conversation when later
//! messages and statuses carry the BSUID alone; one who wrote first by BSUID alone and later
//! with their number keeps one contact.

mod common;

use std::time::{Duration, Instant};

use common::console::*;
use common::{button_reply_webhook, list_reply_webhook, status_webhook, text_webhook};
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

    // Alice answers: it reaches them by their BSUID too (the bot's handoff notice may still be
    // on its way: look for her text).
    expect_status(201, alice.reply(&id, "Hola Ana").await);
    let deadline = Instant::now() + WAIT;
    let reply = loop {
        let sent = app.graph.messages_to(BSUID);
        if let Some(reply) = sent.iter().find(|m| m["text"]["body"] == "Hola Ana") {
            break reply.clone();
        }
        assert!(
            Instant::now() < deadline,
            "Alice's reply never sent: {sent:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
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

/// `webhook` naming its customer by both their number and `bsuid` (as Meta does since 2026-04
/// for a customer without a username).
fn with_bsuid(mut webhook: Value, bsuid: &str) -> Value {
    let value = &mut webhook["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["user_id"] = json!(bsuid);
    if let Some(message) = value["messages"][0].as_object_mut() {
        message.insert("from_user_id".into(), json!(bsuid));
    }
    webhook
}

/// `webhook` naming its customer by `bsuid` alone (they chose to hide their number).
fn bsuid_only(mut webhook: Value, bsuid: &str) -> Value {
    let value = &mut webhook["entry"][0]["changes"][0]["value"];
    if let Some(contact) = value.pointer_mut("/contacts/0") {
        *contact = json!({"profile": {"name": "Bea"}, "user_id": bsuid});
    }
    if let Some(message) = value
        .pointer_mut("/messages/0")
        .and_then(Value::as_object_mut)
    {
        message.remove("from");
        message.insert("from_user_id".into(), json!(bsuid));
    }
    if let Some(status) = value
        .pointer_mut("/statuses/0")
        .and_then(Value::as_object_mut)
    {
        status.remove("recipient_id");
        status.insert("recipient_user_id".into(), json!(bsuid));
    }
    webhook
}

async fn accepted(app: &common::TestApp, webhook: Value) {
    let response = app.post_json(&webhook).await;
    assert_eq!(response.status(), 200, "webhook accepted");
}

/// The contact found by `q` (exactly one).
async fn the_contact(sam: &Console, q: &str) -> Value {
    let found = expect_status(200, sam.get(&format!("/api/v1/contacts?q={q}")).await);
    let contacts = found["contacts"].as_array().cloned().unwrap_or_default();
    assert_eq!(contacts.len(), 1, "one contact for {q}: {found:#}");
    let id = contacts[0]["id"].as_str().unwrap_or_default().to_string();
    expect_status(200, sam.get(&format!("/api/v1/contacts/{id}")).await)["contact"].clone()
}

fn addresses(contact: &Value) -> Vec<String> {
    let mut addresses: Vec<String> = contact["identities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["address"].as_str().map(str::to_owned))
        .collect();
    addresses.sort();
    addresses
}

async fn a_customer_who_hides_their_number_stays_in_their_conversation() {
    const NUMBER: &str = "34600777001";
    const THEIR_BSUID: &str = "ES.77700100200300400";
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    let mut alice_ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;

    // First seen with both their number and their BSUID; handed to support, then to Alice.
    let wrote = |webhook: Value| with_bsuid(webhook, THEIR_BSUID);
    accepted(&app, wrote(text_webhook(NUMBER, &next_wamid(NUMBER), "hi"))).await;
    accepted(
        &app,
        wrote(button_reply_webhook(
            NUMBER,
            &next_wamid(NUMBER),
            "main_menu/person",
            "Talk to a person",
        )),
    )
    .await;
    accepted(
        &app,
        wrote(list_reply_webhook(
            NUMBER,
            &next_wamid(NUMBER),
            "choose_team/support",
            "Customer support",
        )),
    )
    .await;
    let id = wait_handed_off(&app, &CustomerId::new(NUMBER)).await;
    alice_ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;

    // Then they hide their number: their next message comes by BSUID alone, into the same
    // conversation.
    accepted(
        &app,
        bsuid_only(
            text_webhook(NUMBER, &next_wamid(NUMBER), "Still there?"),
            THEIR_BSUID,
        ),
    )
    .await;
    let detail = alice
        .wait_conversation(&id, "the message sent by BSUID alone", WAIT, |d| {
            d["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| message_text(m) == Some("Still there?")))
        })
        .await;
    assert_eq!(detail["conversation"]["status"], "assigned", "{detail:#}");

    // Alice's answer goes to the conversation's customer; its status, naming them by BSUID
    // alone, reaches the message.
    let before = app.graph.messages_to(NUMBER).len();
    let sent = expect_status(201, alice.reply(&id, "Yes, here!").await);
    let deadline = Instant::now() + WAIT;
    while app.graph.messages_to(NUMBER).len() == before {
        assert!(Instant::now() < deadline, "Alice's reply was never sent");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let message_id = sent["message"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let detail = alice
        .wait_conversation(&id, "the reply's provider id", WAIT, |d| {
            d["messages"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| m["id"] == message_id.as_str() && m["provider_id"].is_string())
            })
        })
        .await;
    let wamid = detail["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["id"] == message_id.as_str()))
        .and_then(|m| m["provider_id"].as_str())
        .unwrap_or_default()
        .to_string();
    accepted(
        &app,
        bsuid_only(status_webhook(NUMBER, &wamid, "read"), THEIR_BSUID),
    )
    .await;
    alice
        .wait_conversation(&id, "the reply read", WAIT, |d| {
            d["messages"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| m["id"] == message_id.as_str() && m["status"] == "read")
            })
        })
        .await;

    // One contact: their number and their BSUID, found by either.
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let contact = the_contact(&sam, THEIR_BSUID).await;
    assert_eq!(contact["phone"], NUMBER, "{contact:#}");
    assert_eq!(addresses(&contact), [NUMBER, THEIR_BSUID], "{contact:#}");
    assert_eq!(the_contact(&sam, NUMBER).await["id"], contact["id"]);

    // Someone who wrote first by BSUID alone and later with their number keeps one contact.
    const LATER: &str = "34600777002";
    const LATER_BSUID: &str = "ES.77700100200300999";
    accepted(
        &app,
        bsuid_only(
            text_webhook(LATER, &next_wamid(LATER), "hello"),
            LATER_BSUID,
        ),
    )
    .await;
    wait_for_contact(&sam, LATER_BSUID).await;
    accepted(
        &app,
        with_bsuid(
            text_webhook(LATER, &next_wamid(LATER), "hello again"),
            LATER_BSUID,
        ),
    )
    .await;
    let deadline = Instant::now() + WAIT;
    let contact = loop {
        let contact = the_contact(&sam, LATER_BSUID).await;
        if contact["phone"] == LATER {
            break contact;
        }
        assert!(Instant::now() < deadline, "never linked: {contact:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(addresses(&contact), [LATER, LATER_BSUID], "{contact:#}");
    assert_eq!(the_contact(&sam, LATER).await["id"], contact["id"]);
}

/// Until the contact list finds `q`.
async fn wait_for_contact(sam: &Console, q: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = expect_status(200, sam.get(&format!("/api/v1/contacts?q={q}")).await);
        if found["contacts"].as_array().is_some_and(|c| !c.is_empty()) {
            return;
        }
        assert!(Instant::now() < deadline, "no contact for {q}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

in_both_modes!(
    a_customer_known_only_by_bsuid_is_served_everywhere,
    a_customer_who_hides_their_number_stays_in_their_conversation
);
