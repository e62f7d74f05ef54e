//! One person, one contact: an agent merges the contacts of two conversations (the same person
//! wrote from two numbers, or on two channels), everything reading a contact through either
//! conversation then finds the one contact with both identities, and the merge is audited.
//! Over HTTP like the console, in both modes.

mod common;

use common::console::*;
use serde_json::{Value, json};

const SUPPORT: &str = "support";

fn addresses(contact: &Value) -> Vec<&str> {
    contact["identities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["address"].as_str())
        .collect()
}

async fn an_agent_merges_two_conversations_contacts_into_one() {
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    let home = Customer::new(&app, "34600400001");
    let work = Customer::new(&app, "34600400002");
    let first = home.hands_off_to(SUPPORT).await;
    let second = work.hands_off_to(SUPPORT).await;
    let merge = |into: &str| format!("/api/v1/conversations/{into}/contact/merge");

    // Bad requests change nothing.
    expect_status(
        400,
        alice
            .post(&merge(&first), json!({"conversation": second}))
            .await,
    );
    expect_status(
        404,
        alice
            .post(
                &merge(&first),
                json!({"from_conversation": "no-such-conversation"}),
            )
            .await,
    );
    // Carla (sales) may not open support's conversations: they do not exist for her.
    expect_status(
        404,
        Console::new(&app, CARLA)
            .post(&merge(&first), json!({"from_conversation": second}))
            .await,
    );
    let untouched = alice.conversation(&second).await;
    assert_eq!(untouched["contact"]["id"], "34600400002");

    // Alice merges the second number's contact into the first's.
    let body = expect_status(
        200,
        alice
            .post(&merge(&first), json!({"from_conversation": second}))
            .await,
    );
    assert_eq!(body["contact"]["id"], "34600400001");
    assert_eq!(addresses(&body["contact"]), ["34600400001", "34600400002"]);

    // Either conversation now shows the one contact, and the other conversation in its history.
    let seen = alice.conversation(&second).await;
    assert_eq!(seen["contact"]["id"], "34600400001");
    assert_eq!(addresses(&seen["contact"]), ["34600400001", "34600400002"]);
    let history: Vec<&str> = seen["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(history, [first.as_str()]);

    // Once merged, merging again is refused; the conversations still work as before.
    expect_error(
        422,
        "same_contact",
        alice
            .post(&merge(&second), json!({"from_conversation": first}))
            .await,
    );
    work.says("still here").await;
    alice
        .wait_conversation(&second, "the message after the merge", WAIT, |d| {
            d["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| message_text(m) == Some("still here")))
        })
        .await;

    // Audited, with both contacts as they were.
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let entries = expect_status(
        200,
        admin.get("/api/v1/admin/audit?action=contact.merge").await,
    );
    let entries = entries["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["actor"], "alice");
    assert_eq!(entries[0]["before"]["from"]["customer"], "34600400002");
}

in_both_modes!(an_agent_merges_two_conversations_contacts_into_one);
