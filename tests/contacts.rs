//! The CRM's contacts over HTTP like the console, in both modes: supervisors list, search and
//! edit contacts; an agent edits the contact of a conversation they may open; a tag set by a
//! person makes a routing rule match at the next handoff; merges (by conversation or by contact)
//! fold two contacts into one; every change is audited; bad edits change nothing.

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
    // What both did adds up: two conversations, the earliest first seen.
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let listed = expect_status(200, sam.get("/api/v1/contacts?q=600400001").await);
    assert_eq!(listed["contacts"][0]["conversations"], 2, "{listed}");
    assert!(
        listed["contacts"][0]["last_inbound_at"].is_i64(),
        "{listed}"
    );

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

/// Sam (supervisor) tags a customer VIP while the bot still talks to them: the handoff that
/// follows goes through the demo's `vip` routing rule (priority 10). Alice (agent) reads and
/// edits the contact through her conversation, never the whole list; Carla (another team)
/// cannot reach it. Bad edits are refused and change nothing; every edit is audited.
async fn a_tag_set_by_a_person_routes_the_next_handoff() {
    let app = spawn_console_app(|_| {}).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    let vera = Customer::new(&app, "34600500001");
    vera.opens_the_menu().await;
    let path = "/api/v1/contacts/34600500001";
    let contact = expect_status(200, sam.get(path).await);
    assert_eq!(contact["contact"]["tags"], json!([]), "{contact}");

    let edited = expect_status(
        200,
        sam.patch(
            path,
            json!({"name": "Vera Ip", "tags": ["VIP"], "email": "vera@example.com",
                   "fields": {"plan": "gold"}}),
        )
        .await,
    );
    assert_eq!(edited["contact"]["name"], "Vera Ip");
    assert_eq!(edited["contact"]["tags"], json!(["vip"]));
    assert_eq!(edited["contact"]["email"], "vera@example.com");
    assert_eq!(edited["contact"]["fields"]["plan"], "gold");

    // The handoff reads the new tag: the vip rule matches.
    let id = vera.chooses_team(SUPPORT).await;
    let view = alice
        .wait_conversation(&id, "assigned to alice", WAIT, |d| {
            d["conversation"]["status"] == "assigned"
        })
        .await;
    let route = &view["conversation"]["route"];
    assert_eq!(route["priority"], 10, "{view}");
    assert!(
        route["trace"]
            .as_array()
            .is_some_and(|t| t.iter().any(|s| s == "rule vip matched: priority 10")),
        "{view}"
    );
    assert_eq!(view["contact"]["name"], "Vera Ip", "{view}");

    // Alice reaches the contact through her conversation, not the list.
    let seen = expect_status(200, alice.get(path).await);
    let conversations: Vec<&str> = seen["contact"]["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(conversations, [id.as_str()]);
    expect_status(403, alice.get("/api/v1/contacts").await);
    expect_status(404, Console::new(&app, CARLA).get(path).await);
    expect_status(404, sam.get("/api/v1/contacts/34600599999").await);

    // Bad edits: refused, nothing changes.
    expect_error(
        422,
        "invalid_contact",
        alice.patch(path, json!({"email": "not an email"})).await,
    );
    expect_error(
        422,
        "invalid_contact",
        alice.patch(path, json!({"tags": ["has space"]})).await,
    );
    expect_status(400, alice.patch(path, json!({"phone": "123"})).await);
    expect_status(
        404,
        Console::new(&app, CARLA)
            .patch(path, json!({"tags": []}))
            .await,
    );
    let unchanged = expect_status(200, sam.get(path).await);
    assert_eq!(unchanged["contact"]["tags"], json!(["vip"]));
    assert_eq!(unchanged["contact"]["email"], "vera@example.com");

    // Alice takes the tag off and clears the plan.
    let edited = expect_status(
        200,
        alice
            .patch(path, json!({"tags": [], "fields": {"plan": null}}))
            .await,
    );
    assert_eq!(edited["contact"]["tags"], json!([]));
    assert!(edited["contact"]["fields"].get("plan").is_none());

    // Sam's list: search, filters, pages.
    let other = Customer::new(&app, "34600500002");
    other.opens_the_menu().await;
    let found = expect_status(200, sam.get("/api/v1/contacts?q=vera").await);
    let ids: Vec<&str> = found["contacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, ["34600500001"]);
    let by_digits = expect_status(200, sam.get("/api/v1/contacts?q=600500002").await);
    assert_eq!(by_digits["contacts"][0]["id"], "34600500002");
    let tagged = expect_status(200, sam.get("/api/v1/contacts?tag=vip").await);
    assert_eq!(tagged["contacts"], json!([]));
    let page = expect_status(200, sam.get("/api/v1/contacts?limit=1").await);
    assert_eq!(page["contacts"].as_array().map(Vec::len), Some(1));
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let next = expect_status(
        200,
        sam.get(&format!("/api/v1/contacts?limit=1&cursor={cursor}"))
            .await,
    );
    assert_ne!(next["contacts"][0]["id"], page["contacts"][0]["id"]);
    expect_status(400, sam.get("/api/v1/contacts?cursor=nonsense").await);
    expect_status(400, sam.get("/api/v1/contacts?sort=name").await);

    // Both edits audited, by whom, with the contact before and after.
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let entries = expect_status(
        200,
        admin.get("/api/v1/admin/audit?action=contact.update").await,
    );
    let entries = entries["entries"].as_array().cloned().unwrap_or_default();
    let actors: Vec<&str> = entries.iter().filter_map(|e| e["actor"].as_str()).collect();
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert!(
        actors.contains(&"sam") && actors.contains(&"alice"),
        "{actors:?}"
    );
}

/// A supervisor merges two contacts by their ids; the survivor has both identities.
async fn a_supervisor_merges_two_contacts_by_id() {
    let app = spawn_console_app(|_| {}).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let one = Customer::new(&app, "34600600001");
    let two = Customer::new(&app, "34600600002");
    one.opens_the_menu().await;
    two.opens_the_menu().await;
    expect_status(
        200,
        sam.patch("/api/v1/contacts/34600600002", json!({"tags": ["gold"]}))
            .await,
    );
    expect_status(
        400,
        sam.post("/api/v1/contacts/merge", json!({"into": "34600600001"}))
            .await,
    );
    expect_status(
        404,
        sam.post(
            "/api/v1/contacts/merge",
            json!({"into": "34600600001", "from": "34600699999"}),
        )
        .await,
    );
    expect_status(
        404,
        Console::new(&app, ALICE)
            .post(
                "/api/v1/contacts/merge",
                json!({"into": "34600600001", "from": "34600600002"}),
            )
            .await,
    );
    let merged = expect_status(
        200,
        sam.post(
            "/api/v1/contacts/merge",
            json!({"into": "34600600001", "from": "34600600002"}),
        )
        .await,
    );
    assert_eq!(merged["contact"]["id"], "34600600001");
    assert_eq!(
        addresses(&merged["contact"]),
        ["34600600001", "34600600002"]
    );
    assert_eq!(merged["contact"]["tags"], json!(["gold"]));
    // The folded contact's address now reads the survivor.
    let read = expect_status(200, sam.get("/api/v1/contacts/34600600002").await);
    assert_eq!(read["contact"]["id"], "34600600001");
    expect_error(
        422,
        "same_contact",
        sam.post(
            "/api/v1/contacts/merge",
            json!({"into": "34600600001", "from": "34600600002"}),
        )
        .await,
    );
}

/// Sam exports the contacts as CSV: every contact once, across pages (over 500 here), the
/// header first, a filter applied, formulas defused; agents may not; audited.
async fn a_supervisor_exports_the_contacts_as_csv() {
    use switchboard::domain::{ChannelId, ConversationKey, CustomerId};
    use switchboard::store::{ContactRecord, ContactWrite, ConversationRecord, ConversationStep};
    let app = spawn_console_app(|_| {}).await;
    let store = app.handle.store.clone();
    let channel = ChannelId::new("support");
    for i in 0..520 {
        let customer = CustomerId::new(format!("3460090{i:04}"));
        let mut contact = ContactRecord {
            customer: customer.clone(),
            name: Some(if i == 7 {
                "=HYPERLINK(\"http://evil\")".to_string()
            } else {
                format!("Customer {i}")
            }),
            phone: Some(customer.as_str().to_string()),
            ..ContactRecord::default()
        };
        if i % 100 == 0 {
            contact.tags = vec!["gold".into()];
        }
        let mut conversation = ConversationRecord::new(
            ConversationKey::new(&channel, &customer),
            channel.clone(),
            customer,
            1_000 + i,
        );
        conversation.version = 0;
        store
            .commit_step(ConversationStep {
                conversation: Some(conversation),
                contact: Some(ContactWrite::whole(contact)),
                ..ConversationStep::empty()
            })
            .await
            .expect("seeded");
    }
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let get = |path: &str| {
        let (app, sam) = (&app, &sam);
        let url = format!("{}{path}", app.address);
        async move {
            let response = app
                .client
                .get(url)
                .bearer_auth(sam.token())
                .send()
                .await
                .expect("answered");
            let status = response.status().as_u16();
            let kind = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (status, kind, response.text().await.unwrap_or_default())
        }
    };
    let (status, kind, body) = get("/api/v1/contacts/export.csv").await;
    assert_eq!(status, 200, "{body}");
    assert!(kind.starts_with("text/csv"), "{kind}");
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "id,name,phone,email,language,country,tags,fields,channels,created_at,updated_at,last_inbound_at,conversations"
    );
    assert_eq!(lines.len(), 521, "the header and every contact once");
    let ids: std::collections::BTreeSet<&str> = lines[1..]
        .iter()
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(ids.len(), 520);
    assert!(
        body.contains("'=HYPERLINK"),
        "a formula is defused: {}",
        &body[..200]
    );
    assert!(body.contains(",ES,"), "the number's country");

    let (status, _, gold) = get("/api/v1/contacts/export.csv?tag=gold").await;
    assert_eq!(status, 200);
    assert_eq!(gold.split("\r\n").filter(|l| !l.is_empty()).count(), 1 + 6);
    let (status, _, _) = get("/api/v1/contacts/export.csv?format=xlsx").await;
    assert_eq!(status, 400);
    expect_status(
        403,
        Console::new(&app, ALICE)
            .get("/api/v1/contacts/export.csv")
            .await,
    );
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let audit = expect_status(
        200,
        admin.get("/api/v1/admin/audit?action=contact.export").await,
    );
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2, "{audit}");
    assert!(entries.iter().all(|e| e["actor"] == "sam"), "{audit}");
}

in_both_modes!(
    an_agent_merges_two_conversations_contacts_into_one,
    a_tag_set_by_a_person_routes_the_next_handoff,
    a_supervisor_merges_two_contacts_by_id,
    a_supervisor_exports_the_contacts_as_csv,
);

/// Where numbers are masked, the CRM masks them too (phone and number ids), whoever asks; the
/// contact is still edited through its conversation.
#[actix_rt::test]
async fn the_crm_masks_numbers_where_masking_is_on() {
    let app = spawn_console_app(|s| s.security.mask_numbers = true).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let c = Customer::new(&app, "34612345612");
    let id = c.hands_off_to(SUPPORT).await;
    let list = expect_status(200, sam.get("/api/v1/contacts").await);
    let text = list.to_string();
    assert!(!text.contains("34612345612"), "{text}");
    assert!(text.contains("+34 6•• ••• •12"), "{text}");
    let csv = app
        .client
        .get(format!("{}/api/v1/contacts/export.csv", app.address))
        .bearer_auth(sam.token())
        .send()
        .await
        .expect("exported")
        .text()
        .await
        .unwrap_or_default();
    assert!(!csv.contains("34612345612"), "{csv}");
    assert!(csv.contains("'+34 6•• ••• •12"), "{csv}");
    // The contact's id is masked too: the console edits it through the conversation.
    let alice = Console::new(&app, ALICE);
    let edited = expect_status(
        200,
        alice
            .patch(
                &format!("/api/v1/conversations/{id}/contact"),
                json!({"tags": ["vip"]}),
            )
            .await,
    );
    assert_eq!(edited["contact"]["tags"], json!(["vip"]));
    assert!(!edited.to_string().contains("34612345612"), "{edited}");
    expect_status(
        404,
        Console::new(&app, CARLA)
            .patch(
                &format!("/api/v1/conversations/{id}/contact"),
                json!({"tags": []}),
            )
            .await,
    );
}
