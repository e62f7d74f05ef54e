//! The Telegram channel end to end, against the real application and a fake Bot API: updates
//! delivered with the bot's secret token as Telegram does, the demo bot answering with inline
//! keyboards, a button press handing the chat off, an agent replying over the console REST API,
//! files both ways (a customer's photo by `getFile`, an agent's uploaded with `sendPhoto`).
//! In both modes (embedded; one-node cluster with Redis and PostgreSQL).

mod common;

use std::time::Duration;

use common::console::*;
use common::*;
use serde_json::{Value, json};
use switchboard::config::Settings;
use switchboard::domain::CustomerId;
use switchboard::fakes::telegram::{FakeTelegram, RecordedCall};

/// The demo bot's id (the digits of its token in config/base.yaml) and this test's secret.
const BOT_ID: &str = "123456789";
const SECRET: &str = "test-telegram-secret";
const CHANNEL: &str = "telegram";

/// The demo configuration's Telegram channel pointed at `fake`, with this test's secret and
/// room for the bot's bursts.
fn telegram_settings(settings: &mut Settings, fake: &FakeTelegram) {
    settings.telegram.api_base_url = fake.base_url();
    let bot = settings
        .channels
        .get_mut(CHANNEL)
        .and_then(|c| c.telegram.as_mut())
        .expect("the demo configuration has a Telegram bot");
    bot.webhook_secret = SECRET.to_string().into();
    bot.per_chat_per_minute = 600;
    bot.per_chat_burst = 50;
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn user(chat: i64) -> Value {
    json!({"id": chat, "is_bot": false, "first_name": "Test", "last_name": "Customer",
           "username": "testcustomer", "language_code": "en"})
}

/// A text message in the private chat `chat`.
fn text_update(update_id: i64, chat: i64, message_id: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": user(chat),
            "chat": {"id": chat, "first_name": "Test", "last_name": "Customer",
                     "username": "testcustomer", "type": "private"},
            "date": now(),
            "text": text
        }
    })
}

/// A press of the button with `data` on the bot's message `menu` (as the fake recorded it).
fn press_update(update_id: i64, chat: i64, menu: &RecordedCall, data: &str) -> Value {
    json!({
        "update_id": update_id,
        "callback_query": {
            "id": format!("cb-{update_id}"),
            "from": user(chat),
            "message": {
                "message_id": 5000 + update_id,
                "from": {"id": 123456789, "is_bot": true, "first_name": "Acme"},
                "chat": {"id": chat, "type": "private"},
                "date": now(),
                "text": menu.body["text"],
                "reply_markup": menu.body["reply_markup"]
            },
            "chat_instance": "-1234567890",
            "data": data
        }
    })
}

async fn post_update(app: &TestApp, channel: &str, secret: Option<&str>, update: &Value) -> u16 {
    let mut request = app
        .client
        .post(format!("{}/webhooks/telegram/{channel}", app.address))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(update).expect("json"));
    if let Some(secret) = secret {
        request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    request
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}

/// The buttons' `callback_data` of a recorded `sendMessage`.
fn buttons(call: &RecordedCall) -> Vec<String> {
    call.body["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row.as_array())
        .flatten()
        .filter_map(|b| b["callback_data"].as_str().map(str::to_owned))
        .collect()
}

/// Wait for a `sendMessage` to `chat` (after the first `after`) with a button `data`.
async fn wait_for_menu_with(
    fake: &FakeTelegram,
    chat: i64,
    after: usize,
    data: &str,
) -> RecordedCall {
    fake.wait_until(WAIT, |_| {
        fake.sent_to(chat, "sendMessage")
            .iter()
            .skip(after)
            .any(|c| buttons(c).iter().any(|b| b == data))
    })
    .await;
    fake.sent_to(chat, "sendMessage")
        .into_iter()
        .skip(after)
        .find(|c| buttons(c).iter().any(|b| b == data))
        .unwrap_or_else(|| {
            panic!(
                "no menu offering {data} to {chat}; texts: {:#?}",
                fake.texts_to(chat)
            )
        })
}

/// The customer of the private chat `chat` with the demo bot.
fn chat_customer(chat: i64) -> CustomerId {
    CustomerId::new(format!("telegram:{BOT_ID}:{chat}"))
}

async fn a_telegram_customer_is_handed_off_by_buttons_and_gets_the_agent_s_reply() {
    let fake = FakeTelegram::start();
    let app = spawn_console_app(|s| telegram_settings(s, &fake)).await;
    let alice = Console::new(&app, ALICE);
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let chat = 1111111;

    // "hi" → the greeting with the customer's name, then the main menu as an inline keyboard.
    assert_eq!(
        post_update(&app, CHANNEL, Some(SECRET), &text_update(1, chat, 10, "hi")).await,
        200
    );
    let menu = wait_for_menu_with(&fake, chat, 0, "main_menu/person").await;
    let texts = fake.texts_to(chat);
    assert!(texts[0].starts_with("Hi Test Customer!"), "{texts:?}");
    let greeting = &fake.sent_to(chat, "sendMessage")[0];
    assert_eq!(greeting.token, format!("{BOT_ID}:demo-telegram-bot-token"));

    // "Talk to a person" → the team list, also buttons; the press is answered.
    let sent = fake.sent_to(chat, "sendMessage").len();
    assert_eq!(
        post_update(
            &app,
            CHANNEL,
            Some(SECRET),
            &press_update(2, chat, &menu, "main_menu/person")
        )
        .await,
        200
    );
    let teams = wait_for_menu_with(&fake, chat, sent, "choose_team/support").await;
    let answered = fake
        .wait_until(WAIT, |calls| {
            calls
                .iter()
                .any(|c| c.method == "answerCallbackQuery" && c.body["callback_query_id"] == "cb-2")
        })
        .await;
    assert!(
        answered
            .iter()
            .any(|c| c.method == "answerCallbackQuery" && c.body["callback_query_id"] == "cb-2"),
        "the press was answered: {answered:#?}"
    );

    // "Support" → handed off, and assigned to Alice (online, in support).
    assert_eq!(
        post_update(
            &app,
            CHANNEL,
            Some(SECRET),
            &press_update(3, chat, &teams, "choose_team/support")
        )
        .await,
        200
    );
    let id = wait_handed_off(&app, &chat_customer(chat)).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let view = alice.conversation(&id).await;
    assert_eq!(view["conversation"]["channel"], CHANNEL, "{view}");
    // Telegram has no 24-hour window: always open, closing never.
    assert_eq!(
        view["conversation"]["window"],
        json!({"rule": "none", "open": true, "closes_at": null, "tagged": false, "tagged_from": null}),
        "{view}"
    );

    // Alice replies over the REST API: the bot sends it to the chat.
    expect_status(201, alice.reply(&id, "Hello from Alice").await);
    fake.wait_until(WAIT, |_| {
        fake.texts_to(chat).iter().any(|t| t == "Hello from Alice")
    })
    .await;
    assert!(
        fake.texts_to(chat).iter().any(|t| t == "Hello from Alice"),
        "{:#?}",
        fake.texts_to(chat)
    );

    // The customer sends a photo: downloaded through the Bot API (getFile, then the file),
    // kept in the media store, served to Alice.
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.resize(2048, 0x42);
    let file_id = fake.plant_file(&jpeg);
    let photo = json!({
        "update_id": 5,
        "message": {
            "message_id": 12, "from": user(chat), "chat": {"id": chat, "type": "private"},
            "date": now(), "caption": "my receipt",
            "photo": [
                {"file_id": "thumb-not-planted", "file_unique_id": "t", "width": 90, "height": 90},
                {"file_id": file_id, "file_unique_id": "f", "file_size": jpeg.len(), "width": 800, "height": 800}
            ]
        }
    });
    assert_eq!(post_update(&app, CHANNEL, Some(SECRET), &photo).await, 200);
    let deadline = tokio::time::Instant::now() + WAIT;
    let (status, bytes) = loop {
        let response = app
            .client
            .get(format!("{}/api/v1/media/{file_id}", app.address))
            .bearer_auth(ALICE)
            .send()
            .await
            .expect("media request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("media body").to_vec();
        if !matches!(status, 202 | 404) || tokio::time::Instant::now() > deadline {
            break (status, bytes);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(bytes, jpeg, "the bytes Telegram held");
    assert_eq!(fake.downloads(), vec![format!("photos/{file_id}.jpg")]);

    // Alice sends a photo with a caption: uploaded with sendPhoto as multipart form data.
    let (status, body) = attach_file(
        &app,
        ALICE,
        &id,
        jpeg.clone(),
        "image/jpeg",
        "receipt.jpg",
        Some("your receipt"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let media_id = body["message"]["body"]["source"]["stored"]
        .as_str()
        .unwrap_or_else(|| panic!("sent from our store: {body}"))
        .to_string();
    fake.wait_until(WAIT, |_| !fake.sent_to(chat, "sendPhoto").is_empty())
        .await;
    let photos = fake.sent_to(chat, "sendPhoto");
    assert_eq!(photos.len(), 1, "{photos:#?}");
    assert_eq!(photos[0].body["caption"], "your receipt");
    let file = photos[0].file.as_ref().expect("uploaded with the call");
    assert_eq!(file.field, "photo");
    assert_eq!(file.filename.as_deref(), Some("receipt.jpg"));
    assert_eq!(file.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(file.size, jpeg.len());
    assert_eq!(file.bytes, jpeg);
    // The transcript's file is served from our store.
    let (status, served) = settled_media(&app, ALICE, &media_id).await;
    assert_eq!(status, 200);
    assert_eq!(served, jpeg);

    // A PDF goes by sendDocument with its name.
    let pdf = b"%PDF-1.7\n%\xe2\xe3 the invoice".to_vec();
    let (status, body) = attach_file(
        &app,
        ALICE,
        &id,
        pdf.clone(),
        "application/pdf",
        "Invoice.pdf",
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    fake.wait_until(WAIT, |_| !fake.sent_to(chat, "sendDocument").is_empty())
        .await;
    let documents = fake.sent_to(chat, "sendDocument");
    let file = documents
        .first()
        .and_then(|c| c.file.as_ref())
        .unwrap_or_else(|| panic!("{documents:#?}"));
    assert_eq!(
        (
            file.field.as_str(),
            file.filename.as_deref(),
            file.bytes.as_slice()
        ),
        ("document", Some("Invoice.pdf"), pdf.as_slice())
    );

    // A photo over Telegram's 10 MB: refused before anything is sent.
    let big = {
        let mut v = jpeg.clone();
        v.resize(10 * 1024 * 1024 + 1, 0);
        v
    };
    let (status, body) = attach_file(&app, ALICE, &id, big, "image/jpeg", "big.jpg", None).await;
    assert_eq!(status, 413, "{body}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.sent_to(chat, "sendPhoto").len(), 1);

    // The customer writes again: the agent sees it in the conversation.
    assert_eq!(
        post_update(
            &app,
            CHANNEL,
            Some(SECRET),
            &text_update(4, chat, 11, "thanks!")
        )
        .await,
        200
    );
    alice
        .wait_conversation(&id, "the customer's thanks", WAIT, |d| {
            d["messages"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| message_text(m) == Some("thanks!")))
        })
        .await;
}

async fn a_redelivered_update_is_processed_once() {
    let fake = FakeTelegram::start();
    let app = spawn_console_app(|s| telegram_settings(s, &fake)).await;
    let chat = 2222222;
    let update = text_update(100, chat, 20, "hi");
    assert_eq!(post_update(&app, CHANNEL, Some(SECRET), &update).await, 200);
    wait_for_menu_with(&fake, chat, 0, "main_menu/person").await;
    // Telegram did not see the 200 and delivers the same update again: 200, nothing new.
    assert_eq!(post_update(&app, CHANNEL, Some(SECRET), &update).await, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let texts = fake.texts_to(chat);
    assert_eq!(texts.len(), 2, "greeting and menu once: {texts:#?}");
    // Recorded once, in either mode's store.
    let counts = app.handle.store.counts().await.expect("counts");
    assert_eq!(counts.inbound_events, 1, "{counts:?}");
    // (The metrics recorder is shared by the tests of this binary: at least this one.)
    let metrics = app.metrics().await;
    assert!(
        metric_value(
            &metrics,
            "switchboard_inbound_duplicates_total",
            &[("type", "text")]
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
}

/// The customer shares their own contact in the chat (Telegram's "share my phone number"):
/// Telegram vouches for the number, so the chat joins the contact already known by it from
/// WhatsApp, and the console shows one contact with both identities.
async fn a_customer_who_shares_their_own_number_is_one_contact_with_whatsapp() {
    let fake = FakeTelegram::start();
    let app = spawn_console_app(|s| telegram_settings(s, &fake)).await;
    let wa_id = "34600111222";
    let ana = Customer::new(&app, wa_id);
    let on_whatsapp = ana.hands_off_to("support").await;

    let chat = 3333333;
    assert_eq!(
        post_update(
            &app,
            CHANNEL,
            Some(SECRET),
            &text_update(300, chat, 30, "hi")
        )
        .await,
        200
    );
    wait_for_menu_with(&fake, chat, 0, "main_menu/person").await;
    // A card of somebody else proves nothing.
    let mut someone = text_update(301, chat, 31, "");
    someone["message"]
        .as_object_mut()
        .expect("message")
        .remove("text");
    someone["message"]["contact"] =
        json!({"phone_number": "+34 600 111 222", "first_name": "Ana", "user_id": 999});
    assert_eq!(
        post_update(&app, CHANNEL, Some(SECRET), &someone).await,
        200
    );
    let mut own = someone.clone();
    own["update_id"] = json!(302);
    own["message"]["message_id"] = json!(32);
    own["message"]["contact"]["user_id"] = json!(chat);

    let telegram = chat_customer(chat);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = app
        .handle
        .store
        .load_contact(&telegram)
        .await
        .expect("contact read")
        .expect("known");
    assert_eq!(before.customer, telegram, "still its own contact");

    assert_eq!(post_update(&app, CHANNEL, Some(SECRET), &own).await, 200);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let contact = app
            .handle
            .store
            .load_contact(&telegram)
            .await
            .expect("contact read");
        if contact
            .as_ref()
            .is_some_and(|c| c.customer.as_str() == wa_id)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the chat did not join the WhatsApp contact: {contact:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let seen = admin.conversation(&on_whatsapp).await;
    let identities: Vec<(String, String)> = seen["contact"]["identities"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["kind"].as_str().unwrap_or_default().to_string(),
                i["address"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        identities,
        [
            ("whatsapp".to_string(), wa_id.to_string()),
            ("telegram".to_string(), telegram.as_str().to_string())
        ]
    );
}

/// A business system's key writes to a Telegram customer (no window there: free text at any
/// time), and, once the customer shared their own number, sends a template to that number on
/// WhatsApp: the new WhatsApp conversation's number joins the same contact. Templates are
/// refused on Telegram.
async fn a_key_writes_on_telegram_and_to_the_shared_number_on_whatsapp() {
    let fake = FakeTelegram::start();
    let app = spawn_console_app(|s| telegram_settings(s, &fake)).await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/admin/api-keys",
                json!({"name": "parcels", "scopes": ["messages:send"]}),
            )
            .await,
    );
    let parcels = Console::new(&app, created["api_key"]["token"].as_str().expect("a token"));
    // A template goes only once synced from Meta (the fake lists parcel_update).
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let chat = 4444444;
    let telegram = chat_customer(chat);
    assert_eq!(
        post_update(
            &app,
            CHANNEL,
            Some(SECRET),
            &text_update(400, chat, 40, "hi")
        )
        .await,
        200
    );
    wait_for_menu_with(&fake, chat, 0, "main_menu/person").await;
    let path = format!("/api/v1/contacts/{telegram}/messages");

    let sent = expect_status(
        202,
        parcels
            .post(
                &path,
                json!({"channel": CHANNEL, "text": "Your parcel is on its way"}),
            )
            .await,
    );
    fake.wait_until(WAIT, |_| {
        fake.texts_to(chat)
            .iter()
            .any(|t| t == "Your parcel is on its way")
    })
    .await;
    expect_error(
        422,
        "template_unsupported",
        parcels
            .post(
                &path,
                json!({"channel": CHANNEL, "template": {"name": "parcel", "language": "en"}}),
            )
            .await,
    );
    // No number yet: nowhere to write on WhatsApp.
    expect_error(
        422,
        "no_address",
        parcels
            .post(
                &path,
                json!({"channel": "support", "template": {"name": "parcel", "language": "en"}}),
            )
            .await,
    );

    // The customer shares their own number.
    let mut own = text_update(401, chat, 41, "");
    own["message"]
        .as_object_mut()
        .expect("message")
        .remove("text");
    own["message"]["contact"] =
        json!({"phone_number": "+34 600 111 444", "first_name": "Ana", "user_id": chat});
    assert_eq!(post_update(&app, CHANNEL, Some(SECRET), &own).await, 200);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let contact = app
            .handle
            .store
            .load_contact(&telegram)
            .await
            .expect("contact read");
        if contact
            .as_ref()
            .is_some_and(|c| c.phone.as_deref() == Some("34600111444"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the number was not kept: {contact:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let template = expect_status(
        202,
        parcels
            .post(
                &path,
                json!({"channel": "support", "template": {"name": "parcel_update", "language": "en",
                    "components": [{"type": "body", "parameters": [{"type": "text", "text": "PX-1"}]}]}}),
            )
            .await,
    );
    assert_ne!(template["conversation_id"], sent["conversation_id"]);
    let ana = Customer::new(&app, "34600111444");
    let received = ana
        .wait_for_message(0, "the template", |m| m["type"] == "template")
        .await;
    assert_eq!(received["template"]["name"], "parcel_update", "{received}");
    // The number's contact is the Telegram customer's: one contact, both identities.
    let contact = app
        .handle
        .store
        .load_contact(&CustomerId::new("34600111444"))
        .await
        .expect("contact read")
        .expect("known");
    assert_eq!(contact.customer, telegram, "{contact:?}");
    let identities = app
        .handle
        .store
        .contact_identities(&telegram)
        .await
        .expect("identities");
    let mut channels: Vec<&str> = identities.iter().map(|i| i.channel.as_str()).collect();
    channels.sort();
    assert_eq!(channels, ["support", "telegram"], "{identities:?}");
}

in_both_modes!(
    a_telegram_customer_is_handed_off_by_buttons_and_gets_the_agent_s_reply,
    a_redelivered_update_is_processed_once,
    a_customer_who_shares_their_own_number_is_one_contact_with_whatsapp,
    a_key_writes_on_telegram_and_to_the_shared_number_on_whatsapp,
);

#[actix_rt::test]
async fn a_wrong_or_missing_secret_is_401_and_nothing_is_recorded() {
    let fake = FakeTelegram::start();
    let app = TestApp::spawn_with(|s| telegram_settings(s, &fake)).await;
    let update = text_update(1, 3333333, 30, "hi");
    assert_eq!(
        post_update(&app, CHANNEL, Some("wrong-secret"), &update).await,
        401
    );
    assert_eq!(post_update(&app, CHANNEL, None, &update).await, 401);
    // Another channel's secret, or no Telegram channel by that name: nothing either.
    assert_eq!(
        post_update(&app, "support", Some(SECRET), &update).await,
        404
    );
    assert_eq!(post_update(&app, "nope", Some(SECRET), &update).await, 404);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.calls().is_empty(), "{:#?}", fake.calls());

    // Malformed: 400, nothing recorded; an unknown update kind: 200, recorded, no reply.
    assert_eq!(
        post_update(&app, CHANNEL, Some(SECRET), &json!({"message": {}})).await,
        400
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);
    let member = json!({"update_id": 2, "my_chat_member": {"chat": {"id": 3333333, "type": "private"},
        "from": user(3333333), "date": now(), "old_chat_member": {"status": "member"},
        "new_chat_member": {"status": "kicked"}}});
    assert_eq!(post_update(&app, CHANNEL, Some(SECRET), &member).await, 200);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 1);

    // The right secret: recorded before the 200.
    assert_eq!(post_update(&app, CHANNEL, Some(SECRET), &update).await, 200);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 2);
}

/// Guessing the secret is throttled like any credential: past the limit every attempt from
/// that address gets 429 (even the right secret, so a guess cannot be confirmed), and nothing
/// is recorded.
#[actix_rt::test]
async fn guessing_the_secret_is_throttled() {
    let fake = FakeTelegram::start();
    let app = TestApp::spawn_with(|s| {
        telegram_settings(s, &fake);
        s.security.auth_failures_per_address = 3;
    })
    .await;
    let update = text_update(1, 4444444, 40, "hi");
    for guess in ["guess-1", "guess-2", "guess-3"] {
        assert_eq!(post_update(&app, CHANNEL, Some(guess), &update).await, 401);
    }
    assert_eq!(
        post_update(&app, CHANNEL, Some("guess-4"), &update).await,
        429
    );
    assert_eq!(post_update(&app, CHANNEL, Some(SECRET), &update).await, 429);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);
}
