//! Helpers of the campaign tests (tests/campaigns.rs, tests/campaigns_browser.rs): contacts,
//! their consent and segments made through the API as an admin, and what the fake Graph API got.

use serde_json::{Value, json};

use super::TestApp;
use super::console::{Console, expect_status};

/// Upsert the contact with `phone` (its `name`, its whole set of `tags`); its id.
pub async fn contact(admin: &Console, phone: &str, name: Option<&str>, tags: &[&str]) -> String {
    let mut set = json!({ "tags": tags });
    if let Some(name) = name {
        set["name"] = json!(name);
    }
    let upserted = admin
        .put(
            "/api/v1/contacts",
            json!({"match": {"phone": phone}, "set": set}),
        )
        .await;
    assert!((200..300).contains(&upserted.0), "{upserted:?}");
    upserted.1["contact"]["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

/// Record `event` (`opted_in`, `opted_out`) for contact `id` on `channel`, with a proof.
pub async fn consent(admin: &Console, channel: &str, id: &str, event: &str) {
    expect_status(
        201,
        admin
            .post(
                &format!("/api/v1/contacts/{id}/consent"),
                json!({"channel": channel, "event": event, "proof": "Ticked the offers box at the shop"}),
            )
            .await,
    );
}

/// Save a segment; its id.
pub async fn segment(admin: &Console, name: &str, filter: &str) -> String {
    let created = expect_status(
        201,
        admin
            .post("/api/v1/segments", json!({"name": name, "filter": filter}))
            .await,
    );
    created["segment"]["id"].as_str().expect("an id").to_owned()
}

/// The template messages the fake Graph API accepted for `to`.
pub fn templates_to(app: &TestApp, to: &str) -> Vec<Value> {
    app.graph
        .messages_to(to)
        .into_iter()
        .filter(|m| m["type"] == "template")
        .collect()
}

/// The templates the fake Graph API received for `to`, once there is one (or after 10 s). A
/// recipient counts as sent once their template is recorded and handed to the outbound sender,
/// so a campaign can be `completed` while its last request is still on its way to the fake.
pub async fn templates_sent_to(app: &TestApp, to: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let sent = templates_to(app, to);
        if !sent.is_empty() || tokio::time::Instant::now() > deadline {
            return sent;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The wamid of the (first) template accepted for `to`.
pub fn wamid_to(app: &TestApp, to: &str) -> String {
    app.graph
        .requests()
        .into_iter()
        .find(|r| r.accepted() && r.to() == Some(to) && r.body["type"] == "template")
        .and_then(|r| r.wamid().map(str::to_owned))
        .expect("a wamid")
}
