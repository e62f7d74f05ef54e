//! The Messenger channel end to end, against the real application and a fake Send API:
//! deliveries signed with the app secret as Meta does, the demo bot answering with its menus,
//! a menu choice handing the customer off, an agent replying over the console REST API,
//! attachments both ways (customers' links downloaded within the allowed hosts, agents' files
//! uploaded with the Attachment Upload API). In both modes (embedded; one-node cluster with Redis and PostgreSQL).

mod common;

use std::time::Duration;

use common::console::*;
use common::*;
use serde_json::{Value, json};
use switchboard::channels::signature::SignatureVerifier;
use switchboard::config::Settings;
use switchboard::domain::CustomerId;
use switchboard::fakes::messenger::{FakeMessenger, SendCall};

/// The demo page (config/base.yaml) and this test's app secret and verify token.
const PAGE_ID: &str = "1234567890";
const APP_SECRET: &str = "test-messenger-app-secret";
const VERIFY_TOKEN: &str = "test-messenger-verify-token";

fn messenger_settings(settings: &mut Settings, fake: &FakeMessenger) {
    settings.messenger.api_base_url = fake.base_url();
    settings.messenger.app_secret = APP_SECRET.to_string().into();
    settings.messenger.verify_token = VERIFY_TOKEN.to_string().into();
    assert!(
        settings
            .channels
            .get("messenger")
            .is_some_and(|c| c.messenger.is_some()),
        "the demo configuration has a Messenger page"
    );
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One delivery for the page with these `messaging` events.
fn delivery(messaging: Vec<Value>) -> Value {
    json!({
        "object": "page",
        "entry": [{"id": PAGE_ID, "time": now_ms(), "messaging": messaging}]
    })
}

fn text(psid: &str, mid: &str, text: &str) -> Value {
    json!({
        "sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms(),
        "message": {"mid": mid, "text": text}
    })
}

fn quick_reply(psid: &str, mid: &str, title: &str, payload: &str) -> Value {
    json!({
        "sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms(),
        "message": {"mid": mid, "text": title, "quick_reply": {"payload": payload}}
    })
}

fn postback(psid: &str, mid: &str, title: &str, payload: &str) -> Value {
    json!({
        "sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms(),
        "postback": {"mid": mid, "title": title, "payload": payload}
    })
}

async fn post(app: &TestApp, body: &Value, secret: Option<&str>) -> u16 {
    let bytes = serde_json::to_vec(body).expect("json");
    let mut request = app
        .client
        .post(format!("{}/webhooks/messenger", app.address))
        .header("content-type", "application/json")
        .body(bytes.clone());
    if let Some(secret) = secret {
        let signature = SignatureVerifier::new(secret.as_bytes())
            .expect("key")
            .sign(&bytes);
        request = request.header("x-hub-signature-256", signature);
    }
    request
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}

/// The choices a sent message offers: (payload, title, as quick reply?).
fn choices(call: &SendCall) -> Vec<(String, String, bool)> {
    let message = &call.body["message"];
    let quick = message["quick_replies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| (q["payload"].clone(), q["title"].clone(), true));
    let buttons = message["attachment"]["payload"]["buttons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| (b["payload"].clone(), b["title"].clone(), false));
    quick
        .chain(buttons)
        .filter_map(|(p, t, q)| Some((p.as_str()?.to_owned(), t.as_str()?.to_owned(), q)))
        .collect()
}

/// The customer picks `payload` from the newest message to `psid` offering it, as Messenger
/// sends it (a quick reply, or a template button's postback).
async fn choose(
    app: &TestApp,
    fake: &FakeMessenger,
    psid: &str,
    mid: &str,
    payload: &str,
    at_ms: i64,
) {
    let calls = fake
        .wait_until(WAIT, |calls| {
            calls.iter().any(|c| {
                c.recipient() == Some(psid) && choices(c).iter().any(|(p, _, _)| p == payload)
            })
        })
        .await;
    let Some((_, title, quick)) = calls
        .iter()
        .rev()
        .filter(|c| c.recipient() == Some(psid))
        .flat_map(choices)
        .find(|(p, _, _)| p == payload)
    else {
        panic!("nothing offered {payload} to {psid}: {calls:#?}")
    };
    let mut event = if quick {
        quick_reply(psid, mid, &title, payload)
    } else {
        postback(psid, mid, &title, payload)
    };
    event["timestamp"] = json!(at_ms);
    assert_eq!(
        post(app, &delivery(vec![event]), Some(APP_SECRET)).await,
        200
    );
}

async fn wait_handed_off(app: &TestApp, psid: &str) -> String {
    let customer = CustomerId::new(format!("messenger:{PAGE_ID}:{psid}"));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let newest = app
            .handle
            .store
            .customer_conversations(&customer, 1)
            .await
            .expect("conversations query")
            .pop();
        if let Some(c) = &newest
            && matches!(c.status.as_str(), "waiting" | "assigned")
        {
            return c.id.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{customer} was not handed off; newest: {newest:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn a_messenger_customer_is_handed_off_by_a_menu_choice_and_gets_the_agent_s_reply() {
    let fake = FakeMessenger::start();
    let app = spawn_console_app(|s| messenger_settings(s, &fake)).await;
    let alice = Console::new(&app, ALICE);
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let psid = "6789012345";

    // "hi" → the greeting and the main menu, sent with the page's token as RESPONSE.
    assert_eq!(
        post(
            &app,
            &delivery(vec![text(psid, "m_hi", "hi")]),
            Some(APP_SECRET)
        )
        .await,
        200
    );
    choose(
        &app,
        &fake,
        psid,
        "m_choice_1",
        "main_menu/person",
        now_ms(),
    )
    .await;
    let first = &fake.calls()[0];
    assert_eq!(first.page_id, PAGE_ID);
    assert_eq!(
        first.authorization.as_deref(),
        Some("Bearer demo-messenger-page-token")
    );
    assert_eq!(first.body["messaging_type"], "RESPONSE");

    // "Talk to a person" → the teams; "Support" → handed off, assigned to Alice.
    choose(
        &app,
        &fake,
        psid,
        "m_choice_2",
        "choose_team/support",
        now_ms(),
    )
    .await;
    let id = wait_handed_off(&app, psid).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let view = alice.conversation(&id).await;
    assert_eq!(view["conversation"]["channel"], "messenger", "{view}");
    // Messenger has the 24-hour window, like WhatsApp: open now.
    assert_eq!(view["conversation"]["window"]["open"], true, "{view}");

    // Alice replies over the REST API: the Send API gets it as a RESPONSE.
    expect_status(201, alice.reply(&id, "Hello from Alice").await);
    let calls = fake
        .wait_until(WAIT, |_| {
            fake.texts_to(psid).iter().any(|t| t == "Hello from Alice")
        })
        .await;
    let reply = calls
        .iter()
        .find(|c| c.body["message"]["text"] == "Hello from Alice")
        .unwrap_or_else(|| panic!("no reply sent: {calls:#?}"));
    assert_eq!(reply.body["recipient"]["id"], psid);
    assert_eq!(reply.body["messaging_type"], "RESPONSE");
    assert_eq!(
        reply.authorization.as_deref(),
        Some("Bearer demo-messenger-page-token")
    );
}

async fn a_redelivered_message_is_processed_once() {
    let fake = FakeMessenger::start();
    let app = spawn_console_app(|s| messenger_settings(s, &fake)).await;
    let psid = "2222222222";
    let body = delivery(vec![text(psid, "m_redelivered", "hi")]);
    assert_eq!(post(&app, &body, Some(APP_SECRET)).await, 200);
    fake.wait_until(WAIT, |calls| {
        calls.iter().any(|c| {
            c.recipient() == Some(psid)
                && choices(c).iter().any(|(p, _, _)| p == "main_menu/person")
        })
    })
    .await;
    let sent = fake.calls().len();
    // Meta did not see the 200 and delivers the same body again: 200, nothing new.
    assert_eq!(post(&app, &body, Some(APP_SECRET)).await, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(fake.calls().len(), sent, "{:#?}", fake.calls());
    let counts = app.handle.store.counts().await.expect("counts");
    assert_eq!(counts.inbound_events, 1, "{counts:?}");
}

/// A page Meta approved for `HUMAN_AGENT`: a customer who last wrote 3 days ago (Meta delivers
/// late) still gets the agent's reply, tagged once Meta refuses it as a RESPONSE.
async fn a_human_agent_page_answers_after_24_hours_with_the_tag() {
    let fake = FakeMessenger::start();
    let app = spawn_console_app(|s| {
        messenger_settings(s, &fake);
        if let Some(page) = s
            .channels
            .get_mut("messenger")
            .and_then(|c| c.messenger.as_mut())
        {
            page.human_agent = true;
        }
    })
    .await;
    let alice = Console::new(&app, ALICE);
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let psid = "4444444444";
    let wrote = now_ms() - 3 * 24 * 3600 * 1000;
    let mut hi = text(psid, "m_old_hi", "hi");
    hi["timestamp"] = json!(wrote);
    assert_eq!(post(&app, &delivery(vec![hi]), Some(APP_SECRET)).await, 200);
    choose(
        &app,
        &fake,
        psid,
        "m_old_1",
        "main_menu/person",
        wrote + 1000,
    )
    .await;
    choose(
        &app,
        &fake,
        psid,
        "m_old_2",
        "choose_team/support",
        wrote + 2000,
    )
    .await;
    let id = wait_handed_off(&app, psid).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let view = alice.conversation(&id).await;
    assert_eq!(view["conversation"]["window"]["open"], false, "{view}");

    // Meta refuses the RESPONSE (outside the 24 hours): sent again with HUMAN_AGENT.
    fake.fail_next_with(10, Some(2018278), 400, 1);
    expect_status(201, alice.reply(&id, "Sorry for the wait").await);
    let calls = fake
        .wait_until(WAIT, |calls| {
            calls.iter().any(|c| {
                c.message_id.is_some() && c.body["message"]["text"] == "Sorry for the wait"
            })
        })
        .await;
    let tries: Vec<&SendCall> = calls
        .iter()
        .filter(|c| c.body["message"]["text"] == "Sorry for the wait")
        .collect();
    assert_eq!(tries.len(), 2, "{calls:#?}");
    assert_eq!(tries[0].body["messaging_type"], "RESPONSE");
    assert_eq!(tries[1].body["messaging_type"], "MESSAGE_TAG");
    assert_eq!(tries[1].body["tag"], "HUMAN_AGENT");
}

/// Alice online with `psid`'s conversation, handed off through the demo bot's menus.
async fn assigned_to_alice(app: &TestApp, fake: &FakeMessenger, psid: &str) -> (Console, String) {
    let alice = Console::new(app, ALICE);
    let mut ws = ConsoleSocket::connect(app, ALICE, None).await;
    alice.set_presence("online").await;
    let hi = delivery(vec![text(psid, &format!("{psid}_hi"), "hi")]);
    assert_eq!(post(app, &hi, Some(APP_SECRET)).await, 200);
    let person = format!("{psid}_1");
    choose(app, fake, psid, &person, "main_menu/person", now_ms()).await;
    let support = format!("{psid}_2");
    choose(app, fake, psid, &support, "choose_team/support", now_ms()).await;
    let id = wait_handed_off(app, psid).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    (alice, id)
}

/// A customer's attachment as Messenger delivers it: a CDN link, no media id.
fn attachment(psid: &str, mid: &str, kind: &str, url: &str) -> Value {
    json!({
        "sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms(),
        "message": {"mid": mid, "attachments": [{"type": kind, "payload": {"url": url}}]}
    })
}

/// The customer's image comes as a link: downloaded from the (fake) CDN without the page's
/// token and served at `/api/v1/media/message:<id>`; a link on a host outside
/// `media.url_hosts` is never fetched, and one that expired is unavailable.
async fn a_customers_image_link_is_downloaded_and_a_link_elsewhere_never_fetched() {
    let fake = FakeMessenger::start();
    let app = spawn_console_app(|s| {
        messenger_settings(s, &fake);
        links_from_fakes(s);
    })
    .await;
    let psid = "5555555555";
    let (alice, id) = assigned_to_alice(&app, &fake, psid).await;

    let png = png_bytes();
    let url = fake.plant_cdn(&png, "image/png");
    let body = delivery(vec![attachment(psid, "m_img", "image", &url)]);
    assert_eq!(post(&app, &body, Some(APP_SECRET)).await, 200);
    let message = message_with_link(&alice, &id, &url).await;
    let (status, bytes) = settled_media(&app, ALICE, &format!("message:{message}")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(bytes, png, "the bytes the CDN held");
    assert_eq!(fake.cdn_requests(), vec!["f1.bin".to_string()]);

    // The same fake under a name that is not in media.url_hosts: refused, never requested.
    let elsewhere = url.replace("127.0.0.1", "localhost");
    let body = delivery(vec![attachment(psid, "m_elsewhere", "image", &elsewhere)]);
    assert_eq!(post(&app, &body, Some(APP_SECRET)).await, 200);
    let message = message_with_link(&alice, &id, &elsewhere).await;
    let (status, answer) = settled_media(&app, ALICE, &format!("message:{message}")).await;
    assert_eq!(status, 410, "{}", String::from_utf8_lossy(&answer));
    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("url_refused") && m.contains("localhost")),
        "{answer}"
    );

    // A link that expired (403 from the CDN): unavailable at once, asked for once.
    let expired = fake.plant_cdn(&jpeg_bytes(100), "image/jpeg");
    fake.expire_cdn(&expired);
    let body = delivery(vec![attachment(psid, "m_expired", "file", &expired)]);
    assert_eq!(post(&app, &body, Some(APP_SECRET)).await, 200);
    let message = message_with_link(&alice, &id, &expired).await;
    let (status, answer) = settled_media(&app, ALICE, &format!("message:{message}")).await;
    assert_eq!(status, 410);
    assert!(String::from_utf8_lossy(&answer).contains("url_expired"));
    assert_eq!(
        fake.cdn_requests(),
        vec!["f1.bin".to_string(), "f2.bin".to_string()],
        "the refused link was never requested, the expired one once"
    );
}

/// An agent's image: uploaded with the Attachment Upload API (reusable), then sent by its
/// attachment id; a file over Messenger's 25 MB or a caption is refused before anything
/// reaches Meta.
async fn an_agents_image_is_uploaded_then_sent_by_its_attachment_id() {
    let fake = FakeMessenger::start();
    let app = spawn_console_app(|s| messenger_settings(s, &fake)).await;
    let psid = "6666666666";
    let (alice, id) = assigned_to_alice(&app, &fake, psid).await;

    let png = png_bytes();
    let (status, body) =
        attach_file(&app, ALICE, &id, png.clone(), "image/png", "r.png", None).await;
    assert_eq!(status, 201, "{body}");
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    let upload = &uploads[0];
    assert_eq!(upload.page_id, PAGE_ID);
    assert_eq!(upload.bytes, png);
    assert_eq!(upload.filename.as_deref(), Some("r.png"));
    assert_eq!(upload.content_type.as_deref(), Some("image/png"));
    assert_eq!(
        upload.message,
        json!({"attachment": {"type": "image", "payload": {"is_reusable": true}}})
    );
    assert_eq!(upload.platform, None);
    assert_eq!(
        upload.authorization.as_deref(),
        Some("Bearer demo-messenger-page-token")
    );
    assert_eq!(
        body["message"]["body"]["source"]["id"],
        upload.attachment_id.as_str()
    );
    let calls = fake
        .wait_until(WAIT, |calls| {
            calls.iter().any(|c| {
                c.body.pointer("/message/attachment/payload/attachment_id")
                    == Some(&json!(upload.attachment_id))
            })
        })
        .await;
    let sent = calls
        .iter()
        .find(|c| c.body.pointer("/message/attachment/type") == Some(&json!("image")))
        .unwrap_or_else(|| panic!("not sent: {calls:#?}"));
    assert_eq!(sent.recipient(), Some(psid));
    assert_eq!(
        sent.body["message"]["attachment"]["payload"],
        json!({"attachment_id": upload.attachment_id})
    );
    // The transcript's file is served from our store.
    let (status, bytes) = settled_media(&app, ALICE, &upload.attachment_id).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, png);

    // Over 25 MB, a caption, a type Meta does not take: refused, nothing uploaded or sent.
    let sends = fake.calls().len();
    let big = jpeg_bytes(25 * 1024 * 1024 + 1);
    let (status, body) = attach_file(&app, ALICE, &id, big, "image/jpeg", "big.jpg", None).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    let (status, body) = attach_file(
        &app,
        ALICE,
        &id,
        png.clone(),
        "image/png",
        "r.png",
        Some("hi"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let html = b"<!doctype html>".to_vec();
    let (status, body) = attach_file(&app, ALICE, &id, html, "image/png", "x.png", None).await;
    assert_eq!(status, 415, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Messenger")),
        "{body}"
    );
    assert_eq!(fake.uploads().len(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.calls().len(), sends);
    let _ = alice;
}

in_both_modes!(
    a_messenger_customer_is_handed_off_by_a_menu_choice_and_gets_the_agent_s_reply,
    a_redelivered_message_is_processed_once,
    a_human_agent_page_answers_after_24_hours_with_the_tag,
    a_customers_image_link_is_downloaded_and_a_link_elsewhere_never_fetched,
    an_agents_image_is_uploaded_then_sent_by_its_attachment_id,
);

#[actix_rt::test]
async fn a_bad_signature_is_401_and_nothing_is_recorded() {
    let fake = FakeMessenger::start();
    let app = TestApp::spawn_with(|s| messenger_settings(s, &fake)).await;
    let body = delivery(vec![text("3333333333", "m_unsigned", "hi")]);
    assert_eq!(post(&app, &body, None).await, 401);
    assert_eq!(post(&app, &body, Some("another-secret")).await, 401);
    // WhatsApp's app secret does not sign Messenger deliveries.
    assert_eq!(post(&app, &body, Some("demo-app-secret")).await, 401);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.calls().is_empty(), "{:#?}", fake.calls());

    // Malformed or another object: 400, nothing recorded.
    assert_eq!(
        post(
            &app,
            &json!({"object": "whatsapp_business_account", "entry": []}),
            Some(APP_SECRET)
        )
        .await,
        400
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);

    // Signed: recorded before the 200.
    assert_eq!(post(&app, &body, Some(APP_SECRET)).await, 200);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 1);
}

#[actix_rt::test]
async fn the_verify_handshake_uses_the_messenger_token() {
    let fake = FakeMessenger::start();
    let app = TestApp::spawn_with(|s| messenger_settings(s, &fake)).await;
    let get = |token: &str| {
        app.client
            .get(format!(
                "{}/webhooks/messenger?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
                app.address
            ))
            .send()
    };
    let ok = get(VERIFY_TOKEN).await.expect("request");
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.expect("body"), "1158201444");
    // WhatsApp's token is not Messenger's.
    assert_eq!(
        get("demo-verify-token")
            .await
            .expect("request")
            .status()
            .as_u16(),
        403
    );
}
