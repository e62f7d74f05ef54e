//! The business API's actions, end to end over HTTP, in both modes: a key with `messages:send`
//! sends free text to a contact inside the customer-service window (the fake Graph API gets
//! it, the transcript and the event webhook show it as the API's, the audit as the key's);
//! outside the window free text is refused and nothing is sent, while a template goes out in
//! Meta's format; a contact who never wrote gets a new conversation in the bot's hands, which
//! the bot answers when the customer does; a key hands a conversation to a team, whose agent
//! is offered it; keys without the scope and people are refused; bad input changes nothing.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use common::console::*;
use common::customers_wrote_ago;
use serde_json::{Value, json};
use tokio::time::Instant;

const SUPPORT: &str = "support";

async fn admin(app: &common::TestApp) -> Console {
    Console::login(app, "admin@example.com", DEMO_PASSWORD).await
}

/// A new key with these scopes: its id and a client using its token. The templates are synced
/// from the fake Graph API first (a template is sent only if synced and approved).
async fn new_key(app: &common::TestApp, admin: &Console, scopes: &[&str]) -> (String, Console) {
    let synced = expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    assert_eq!(synced["failed"], json!([]), "{synced}");
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/admin/api-keys",
                json!({"name": "parcels", "scopes": scopes}),
            )
            .await,
    );
    let key = &created["api_key"];
    let id = key["id"].as_str().expect("an id").to_owned();
    let token = key["token"].as_str().expect("a token");
    (id, Console::new(app, token))
}

async fn audit(admin: &Console, action: &str) -> Vec<Value> {
    let body = expect_status(
        200,
        admin
            .get(&format!("/api/v1/admin/audit?action={action}"))
            .await,
    );
    body["entries"].as_array().cloned().unwrap_or_default()
}

fn messages_of(detail: &Value) -> Vec<Value> {
    detail["messages"].as_array().cloned().unwrap_or_default()
}

/// A webhook receiver recording the events' JSON bodies.
#[derive(Default)]
struct Receiver {
    events: Mutex<Vec<Value>>,
}

async fn receive(body: web::Bytes, receiver: web::Data<Receiver>) -> HttpResponse {
    if let Ok(event) = serde_json::from_slice::<Value>(&body) {
        receiver.events.lock().unwrap().push(event);
    }
    HttpResponse::Ok().body("ok")
}

fn start_receiver(receiver: Arc<Receiver>) -> String {
    let data = web::Data::from(receiver);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::post().to(receive))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("the receiver binds");
    let port = server.addrs()[0].port();
    actix_rt::spawn(server.run());
    format!("http://127.0.0.1:{port}")
}

/// A key sends free text inside the window: the customer gets it, in order after the bot's
/// menu; the transcript shows it as the API's; the audit and the event webhook follow.
async fn a_key_sends_text_inside_the_window() {
    let receiver = Arc::new(Receiver::default());
    let base = start_receiver(receiver.clone());
    let app = spawn_console_app(|settings| {
        let w = &mut settings.event_webhooks;
        w.allow_http = true;
        w.allowed_private_addresses = vec!["127.0.0.1".into()];
        w.poll_interval_ms = 20;
    })
    .await;
    let admin = admin(&app).await;
    expect_status(
        201,
        admin
            .post(
                "/api/v1/webhooks",
                json!({"url": format!("{base}/events"), "events": ["message.created"]}),
            )
            .await,
    );
    let (key_id, parcels) = new_key(&app, &admin, &["messages:send"]).await;
    let customer = Customer::new(&app, "34600510001");
    customer.opens_the_menu().await;

    let sent = expect_status(
        202,
        parcels
            .post(
                "/api/v1/contacts/34600510001/messages",
                json!({"channel": SUPPORT, "text": "Your parcel PX-1 left the depot"}),
            )
            .await,
    );
    let message_id = sent["message_id"]
        .as_str()
        .expect("a message id")
        .to_owned();
    let conversation = sent["conversation_id"]
        .as_str()
        .expect("a conversation id")
        .to_owned();
    assert_eq!(sent["message"]["id"], message_id.as_str(), "{sent}");
    assert_eq!(sent["message"]["sender"], "api", "{sent}");
    customer
        .wait_for_text("Your parcel PX-1 left the depot")
        .await;
    assert_eq!(customer.count_text("Your parcel PX-1 left the depot"), 1);

    // The customer's current conversation (still the bot's), the message in its transcript.
    let detail = admin.conversation(&conversation).await;
    assert_eq!(detail["conversation"]["status"], "bot", "{detail}");
    assert_eq!(detail["conversation"]["channel"], SUPPORT);
    let stored = messages_of(&detail)
        .into_iter()
        .find(|m| m["id"] == message_id.as_str())
        .expect("the message in the transcript");
    assert_eq!(stored["direction"], "outbound");
    assert_eq!(stored["sender"], "api");
    assert_eq!(
        message_text(&stored),
        Some("Your parcel PX-1 left the depot")
    );

    // Audited as the key.
    let entries = audit(&admin, "message.send").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor_kind"], "api_key");
    assert_eq!(entries[0]["actor"], key_id.as_str());
    assert_eq!(entries[0]["after"]["conversation"], conversation.as_str());
    assert_eq!(entries[0]["after"]["message"], message_id.as_str());

    // The business's webhook hears of it like any message.
    let deadline = Instant::now() + WAIT;
    loop {
        let events = receiver.events.lock().unwrap().clone();
        let told = events.iter().find(|e| {
            e["type"] == "message.created" && e["data"]["message"]["id"] == message_id.as_str()
        });
        if let Some(event) = told {
            assert_eq!(event["data"]["message"]["sender"], "api", "{event}");
            assert_eq!(event["data"]["message"]["direction"], "outbound", "{event}");
            assert_eq!(
                event["data"]["conversation"]["id"],
                conversation.as_str(),
                "{event}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no message.created for {message_id}: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Past the 24 hours free text is refused (422 `window_closed`, nothing sent); a template goes
/// out in Meta's format.
async fn outside_the_window_only_a_template_goes() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let (_, parcels) = new_key(&app, &admin, &["messages:send"]).await;
    customers_wrote_ago(Duration::from_secs(25 * 3600));
    let late = Customer::new(&app, "34600510002");
    let conversation = late.hands_off_to(SUPPORT).await;
    customers_wrote_ago(Duration::ZERO);
    let before = late.received().len();
    let transcript = messages_of(&admin.conversation(&conversation).await).len();

    let (status, body) = parcels
        .post(
            "/api/v1/contacts/34600510002/messages",
            json!({"channel": SUPPORT, "text": "Still there?"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("window_closed")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("24 hours") && m.contains("131047")),
        "Meta's rule: {body}"
    );
    // Nothing was recorded or sent.
    assert_eq!(
        messages_of(&admin.conversation(&conversation).await).len(),
        transcript
    );
    assert!(audit(&admin, "message.send").await.is_empty());

    let sent = expect_status(
        202,
        parcels
            .post(
                "/api/v1/contacts/34600510002/messages",
                json!({"channel": SUPPORT, "template": {
                    "name": "parcel_update",
                    "language": "en_US",
                    "components": [{"type": "body",
                                    "parameters": [{"type": "text", "text": "PX-2"}]}]
                }}),
            )
            .await,
    );
    assert_eq!(sent["conversation_id"], conversation.as_str());
    let template = late
        .wait_for_message(before, "the template", |m| m["type"] == "template")
        .await;
    assert_eq!(template["messaging_product"], "whatsapp", "{template}");
    assert_eq!(template["to"], "34600510002", "{template}");
    assert_eq!(template["template"]["name"], "parcel_update", "{template}");
    assert_eq!(
        template["template"]["language"]["code"], "en_US",
        "{template}"
    );
    assert_eq!(
        template["template"]["components"][0]["parameters"][0]["text"], "PX-2",
        "{template}"
    );
    assert!(
        !late.texts().iter().any(|t| t == "Still there?"),
        "the refused text never left"
    );
    assert_eq!(
        late.received()[before..]
            .iter()
            .filter(|m| m["type"] == "template")
            .count(),
        1,
        "sent once"
    );
}

/// A contact the business created (never wrote) gets a new conversation, in the bot's hands;
/// when the customer answers, the bot takes it from its start.
async fn a_contact_without_a_conversation_gets_a_new_one() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let (_, parcels) = new_key(&app, &admin, &["messages:send", "contacts:write"]).await;
    expect_status(
        201,
        parcels
            .put(
                "/api/v1/contacts",
                json!({"match": {"phone": "+34 600 510 003"}, "set": {"name": "Ona"}}),
            )
            .await,
    );
    let ona = Customer::new(&app, "34600510003");
    let customer = switchboard::domain::CustomerId::new("34600510003");
    assert!(
        app.handle
            .store
            .customer_conversations(&customer, 5)
            .await
            .expect("conversations")
            .is_empty()
    );

    // Free text: the window never opened.
    expect_error(
        422,
        "window_closed",
        parcels
            .post(
                "/api/v1/contacts/34600510003/messages",
                json!({"channel": SUPPORT, "text": "Hello"}),
            )
            .await,
    );
    assert!(
        app.handle
            .store
            .customer_conversations(&customer, 5)
            .await
            .expect("conversations")
            .is_empty(),
        "a refusal opens nothing"
    );

    let sent = expect_status(
        202,
        parcels
            .post(
                "/api/v1/contacts/34600510003/messages",
                json!({"channel": SUPPORT, "template": {"name": "parcel_pending", "language": "es"}}),
            )
            .await,
    );
    let conversation = sent["conversation_id"].as_str().expect("an id").to_owned();
    let template = ona
        .wait_for_message(0, "the template", |m| m["type"] == "template")
        .await;
    assert_eq!(template["template"]["name"], "parcel_pending");
    // No components: none in Meta's body either.
    assert!(
        template["template"].get("components").is_none(),
        "{template}"
    );
    let detail = admin.conversation(&conversation).await;
    assert_eq!(detail["conversation"]["status"], "bot", "{detail}");
    assert_eq!(detail["conversation"]["team"], Value::Null, "{detail}");
    assert_eq!(detail["contact"]["name"], "Ona", "{detail}");
    assert!(
        detail["contact"]["identities"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|i| i["channel"] == SUPPORT)),
        "the number is now the contact's identity on the channel: {detail}"
    );

    // The customer answers: the same conversation, and the bot greets them with its menu.
    ona.opens_the_menu().await;
    let newest = app
        .handle
        .store
        .customer_conversations(&customer, 5)
        .await
        .expect("conversations");
    assert_eq!(newest.len(), 1, "{newest:?}");
    assert_eq!(newest[0].id, conversation);
    // Now inside the window: free text goes too, in the same conversation.
    let text = expect_status(
        202,
        parcels
            .post(
                "/api/v1/contacts/34600510003/messages",
                json!({"channel": SUPPORT, "text": "Thanks for answering"}),
            )
            .await,
    );
    assert_eq!(text["conversation_id"], conversation.as_str());
    ona.wait_for_text("Thanks for answering").await;
}

/// A key hands a conversation from the bot to a team: it is queued there and the team's
/// agent is offered it; the note is in the transcript; audited; bad requests change nothing.
async fn a_key_hands_a_conversation_to_a_team() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let (key_id, parcels) = new_key(&app, &admin, &["messages:send"]).await;
    let carla = Console::new(&app, CARLA);
    let mut carla_ws = ConsoleSocket::connect(&app, CARLA, None).await;
    carla.set_presence("online").await;
    let customer = Customer::new(&app, "34600510004");
    customer.opens_the_menu().await;
    let id = app
        .handle
        .store
        .customer_conversations(&switchboard::domain::CustomerId::new("34600510004"), 1)
        .await
        .expect("conversations")
        .pop()
        .expect("a conversation")
        .id;
    let path = format!("/api/v1/conversations/{id}/handoff");

    // Bad input first: nothing moves.
    expect_error(
        422,
        "unknown_team",
        parcels.post(&path, json!({"team": "nobody"})).await,
    );
    expect_error(
        400,
        "bad_request",
        parcels
            .post(&path, json!({"team": "sales", "note": "  "}))
            .await,
    );
    expect_error(
        400,
        "bad_request",
        parcels
            .post(&path, json!({"team": "sales", "agent": "carla"}))
            .await,
    );
    expect_error(400, "bad_request", parcels.post(&path, json!({})).await);
    expect_error(
        404,
        "not_found",
        parcels
            .post(
                "/api/v1/conversations/no-such-conversation/handoff",
                json!({"team": "sales"}),
            )
            .await,
    );
    // Not a key with the scope, and not a person.
    let (_, reader) = new_key(&app, &admin, &["conversations:read", "contacts:write"]).await;
    expect_error(
        403,
        "forbidden",
        reader.post(&path, json!({"team": "sales"})).await,
    );
    expect_error(
        403,
        "forbidden",
        admin.post(&path, json!({"team": "sales"})).await,
    );
    let detail = admin.conversation(&id).await;
    assert_eq!(detail["conversation"]["status"], "bot", "{detail}");
    assert!(audit(&admin, "conversation.handoff").await.is_empty());

    let handed = expect_status(
        200,
        parcels
            .post(
                &path,
                json!({"team": "sales", "note": "Parcel PX-4 lost: offer a refund"}),
            )
            .await,
    );
    assert_eq!(handed["conversation"]["id"], id.as_str(), "{handed}");
    assert_eq!(handed["conversation"]["team"], "sales", "{handed}");
    assert!(handed["conversation"].get("customer").is_none(), "{handed}");
    carla_ws.wait_for_conversation(OFFERED, &id, WAIT).await;
    expect_status(200, carla.accept(&id).await);
    let detail = carla.wait_status(&id, "assigned", WAIT).await;
    assert_eq!(detail["team"], "sales");
    assert_eq!(detail["assignee"], "carla");
    let full = carla.conversation(&id).await;
    assert!(
        messages_of(&full)
            .iter()
            .any(|m| m["direction"] == "note"
                && m["body"]["body"] == "Parcel PX-4 lost: offer a refund"),
        "the note is in the transcript: {full}"
    );
    assert!(
        full["events"].as_array().is_some_and(|events| events
            .iter()
            .any(|e| e["kind"] == "transferred" && e["team"] == "sales")),
        "{full}"
    );
    let entries = audit(&admin, "conversation.handoff").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor_kind"], "api_key");
    assert_eq!(entries[0]["actor"], key_id.as_str());
    assert_eq!(entries[0]["before"]["status"], "bot");
    assert_eq!(entries[0]["after"]["team"], "sales");

    // The same again: it is already with sales, nothing moves.
    let again = expect_status(200, parcels.post(&path, json!({"team": "sales"})).await);
    assert_eq!(again["conversation"]["assignee"], "carla", "{again}");

    // Resolved: a conflict.
    expect_status(200, carla.resolve(&id).await);
    expect_error(
        409,
        "conflict",
        parcels.post(&path, json!({"team": "support"})).await,
    );
    let detail = admin.conversation(&id).await;
    assert_eq!(detail["conversation"]["status"], "resolved", "{detail}");
}

/// Keys without `messages:send` and people are refused; bad sends are refused with a clear
/// error; none of it sends or records anything.
async fn bad_sends_change_nothing() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let (_, parcels) = new_key(&app, &admin, &["messages:send"]).await;
    let customer = Customer::new(&app, "34600510005");
    customer.opens_the_menu().await;
    let before = customer.received().len();
    let path = "/api/v1/contacts/34600510005/messages";
    let text = json!({"channel": SUPPORT, "text": "hello"});

    let (_, reader) = new_key(
        &app,
        &admin,
        &["contacts:read", "contacts:write", "conversations:read"],
    )
    .await;
    expect_error(403, "forbidden", reader.post(path, text.clone()).await);
    expect_error(403, "forbidden", admin.post(path, text.clone()).await);
    let alice = Console::new(&app, ALICE);
    expect_error(403, "forbidden", alice.post(path, text.clone()).await);

    expect_error(
        404,
        "not_found",
        parcels
            .post("/api/v1/contacts/34699999999/messages", text.clone())
            .await,
    );
    for (status, code, body) in [
        (
            422,
            "unknown_channel",
            json!({"channel": "nowhere", "text": "hello"}),
        ),
        (
            422,
            "template_unsupported",
            json!({"channel": "telegram", "template": {"name": "hello", "language": "en"}}),
        ),
        // Never written on Telegram: no address there.
        (
            422,
            "no_address",
            json!({"channel": "telegram", "text": "hello"}),
        ),
        (400, "bad_request", json!({"channel": SUPPORT})),
        (400, "bad_request", json!({"channel": SUPPORT, "text": ""})),
        (
            400,
            "bad_request",
            json!({"channel": SUPPORT, "text": "x".repeat(4097)}),
        ),
        (
            400,
            "bad_request",
            json!({"channel": SUPPORT, "text": "hi",
                   "template": {"name": "hello", "language": "en"}}),
        ),
        (
            400,
            "bad_request",
            json!({"channel": SUPPORT, "template": {"name": "Hello There", "language": "en"}}),
        ),
        (
            400,
            "bad_request",
            json!({"channel": SUPPORT, "template": {"name": "hello", "language": "en",
                   "components": "body"}}),
        ),
        (
            400,
            "bad_request",
            json!({"channel": SUPPORT, "text": "hi", "to": "1"}),
        ),
    ] {
        let answer = parcels.post(path, body.clone()).await;
        assert_eq!(answer.0, status, "{body}: {}", answer.1);
        expect_error(status, code, answer);
    }
    assert!(audit(&admin, "message.send").await.is_empty());
    // The bot's conversation is as it was, and nothing more reached the customer.
    let conversations = app
        .handle
        .store
        .customer_conversations(&switchboard::domain::CustomerId::new("34600510005"), 5)
        .await
        .expect("conversations");
    assert_eq!(conversations.len(), 1);
    assert_eq!(
        app.handle
            .store
            .conversation_messages(&conversations[0].id)
            .await
            .expect("messages")
            .iter()
            .filter(|m| m.sender == "api")
            .count(),
        0
    );
    assert_eq!(customer.received().len(), before);
}

/// A key writes into a conversation an agent holds (the agent sees it, sender `api`), then
/// hands it on to another team: the agent is told it went, the other team's agent gets it.
async fn a_key_writes_to_an_agents_conversation_and_hands_it_on() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let (_, parcels) = new_key(&app, &admin, &["messages:send"]).await;
    let alice = Console::new(&app, ALICE);
    let mut alice_ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let customer = Customer::new(&app, "34600510006");
    let id = customer.hands_off_to(SUPPORT).await;
    alice_ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;

    let sent = expect_status(
        202,
        parcels
            .post(
                "/api/v1/contacts/34600510006/messages",
                json!({"channel": SUPPORT, "text": "Refund issued for PX-6"}),
            )
            .await,
    );
    assert_eq!(sent["conversation_id"], id.as_str());
    let event = alice_ws
        .wait_for_message(&id, "outbound", "Refund issued for PX-6", WAIT)
        .await;
    assert_eq!(event["data"]["message"]["sender"], "api", "{event}");
    customer.wait_for_text("Refund issued for PX-6").await;
    // The agent still holds it; their first response is still to come.
    let view = &alice.conversation(&id).await["conversation"];
    assert_eq!(view["assignee"], "alice", "{view}");
    assert_eq!(view["first_response_at"], Value::Null, "{view}");

    let bob = Console::new(&app, BOB);
    let mut bob_ws = ConsoleSocket::connect(&app, BOB, None).await;
    bob.set_presence("online").await;
    let handed = expect_status(
        200,
        parcels
            .post(
                &format!("/api/v1/conversations/{id}/handoff"),
                json!({"team": "billing"}),
            )
            .await,
    );
    assert_eq!(handed["conversation"]["team"], "billing", "{handed}");
    alice_ws
        .wait_for(&format!("{id} transferred away"), WAIT, |e| {
            e["kind"] == UPDATED
                && event_conversation(e) == Some(id.as_str())
                && e["data"]["reason"] == "transferred"
        })
        .await;
    let (_, event) = wait_any(
        std::slice::from_mut(&mut bob_ws),
        "the conversation offered or assigned to bob",
        WAIT,
        |e| {
            (e["kind"] == OFFERED || e["kind"] == ASSIGNED)
                && event_conversation(e) == Some(id.as_str())
        },
    )
    .await;
    assert_eq!(event["data"]["conversation"]["team"], "billing", "{event}");
}

in_both_modes!(
    a_key_sends_text_inside_the_window,
    outside_the_window_only_a_template_goes,
    a_contact_without_a_conversation_gets_a_new_one,
    a_key_hands_a_conversation_to_a_team,
    bad_sends_change_nothing,
    a_key_writes_to_an_agents_conversation_and_hands_it_on,
);

/// The agent's console shows a business system's messages as its own author, live, in a
/// desktop window and on a phone in Arabic (right to left).
#[actix_rt::test]
async fn the_transcript_shows_a_business_system_s_messages() {
    use common::browser::Browser;
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let (_, parcels) = new_key(&app, &admin, &["messages:send"]).await;
    let customer = Customer::new(&app, "34600510007");
    let id = customer.hands_off_to(SUPPORT).await;

    for (width, height, language, shot) in [
        (1280, 800, "en", "console-business-message"),
        (390, 844, "ar", "console-business-message-phone-ar"),
    ] {
        let browser = Browser::start(width, height, language).await;
        browser
            .login(&app.address, "alice@example.com", Some(language))
            .await;
        if language == "en" {
            browser.online_and_open(&id).await;
            browser
                .wait_true(
                    "the connection is live",
                    "document.querySelector('#connection')?.dataset.state === 'connected'",
                )
                .await;
            // Sent while the agent looks: it appears without a reload.
            expect_status(
                202,
                parcels
                    .post(
                        "/api/v1/contacts/34600510007/messages",
                        json!({"channel": SUPPORT, "text": "Parcel PX-7 delivered to the locker"}),
                    )
                    .await,
            );
            expect_status(
                202,
                parcels
                    .post(
                        "/api/v1/contacts/34600510007/messages",
                        json!({"channel": SUPPORT,
                               "template": {"name": "parcel_update", "language": "en",
                                            "components": [{"type": "body", "parameters":
                                                [{"type": "text", "text": "PX-7"}]}]}}),
                    )
                    .await,
            );
        } else {
            browser.open_row(&id).await;
        }
        browser
            .wait_true(
                "the business system's text and template, by the business system",
                &format!(
                    "(m => m.length === 2 && m[0].textContent.includes('Parcel PX-7 delivered') \
                     && m[1].textContent.includes('parcel_update') \
                     && m.every(x => x.querySelector('.message-author')?.textContent === {label}))\
                     ([...document.querySelectorAll('#transcript .message[data-sender=api]')])",
                    label = if language == "en" {
                        "'Business system'"
                    } else {
                        "'نظام الشركة'"
                    }
                ),
            )
            .await;
        browser
            .wait_true(
                "no horizontal overflow",
                "document.documentElement.scrollWidth <= window.innerWidth + 1",
            )
            .await;
        browser.screenshot(shot).await;
        browser.close().await;
    }
}
