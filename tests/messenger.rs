//! The Messenger channel end to end, against the real application and a fake Send API:
//! deliveries signed with the app secret as Meta does, the demo bot answering with its menus,
//! a menu choice handing the customer off, an agent replying over the console REST API,
//! attachments both ways (customers' links downloaded within the allowed hosts, agents' files
//! uploaded with the Attachment Upload API). In both modes (embedded; one-node cluster with Redis and PostgreSQL).

mod common;

use std::time::Duration;

use common::console::*;
use common::meta::{MESSENGER as M, choices, now_ms};
use common::*;
use serde_json::{Value, json};
use switchboard::fakes::messenger::{FakeMessenger, SendCall};

async fn a_messenger_customer_is_handed_off_by_a_menu_choice_and_gets_the_agent_s_reply() {
    let fake = FakeMessenger::start();
    let app = spawn_console_app(|s| M.configure(s, &fake)).await;
    let alice = Console::new(&app, ALICE);
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let psid = "6789012345";
    // Meta's webhooks carry no name: the User Profile API gives it.
    fake.plant_profile(psid, json!({"first_name": "Jordan", "last_name": "Smith", "profile_pic": "https://example.invalid/p.jpg"}));

    // "hi" → the greeting and the main menu, sent with the page's token as RESPONSE.
    assert_eq!(
        M.post(
            &app,
            &M.delivery(vec![M.text(psid, "m_hi", "hi")]),
            Some(M.app_secret)
        )
        .await,
        200
    );
    M.choose(
        &app,
        &fake,
        psid,
        "m_choice_1",
        "main_menu/person",
        now_ms(),
    )
    .await;
    // The customer sees their message seen (`mark_seen`, the gateway's `mark_as_read`).
    fake.wait_until(WAIT, |calls| {
        calls
            .iter()
            .any(|c| c.recipient() == Some(psid) && c.body["sender_action"] == "mark_seen")
    })
    .await;
    let first = &fake.calls()[0];
    assert_eq!(first.page_id, M.page_id);
    assert_eq!(
        first.authorization.as_deref(),
        Some("Bearer demo-messenger-page-token")
    );
    assert_eq!(first.body["messaging_type"], "RESPONSE");

    // "Talk to a person" → the teams; "Support" → handed off, assigned to Alice.
    M.choose(
        &app,
        &fake,
        psid,
        "m_choice_2",
        "choose_team/support",
        now_ms(),
    )
    .await;
    let id = wait_handed_off(&app, &M.customer(psid)).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let view = alice.conversation(&id).await;
    assert_eq!(view["conversation"]["channel"], "messenger", "{view}");
    assert_eq!(
        view["conversation"]["customer"]["name"], "Jordan Smith",
        "the profile's name: {view}"
    );
    // Asked once (the later messages did not ask again), with the token.
    let asked = fake.profile_requests();
    assert_eq!(asked.len(), 1, "{asked:#?}");
    assert_eq!(asked[0].user, psid);
    assert_eq!(asked[0].fields.as_deref(), Some("first_name,last_name"));
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some("Bearer demo-messenger-page-token")
    );
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
    let app = spawn_console_app(|s| M.configure(s, &fake)).await;
    let psid = "2222222222";
    let body = M.delivery(vec![M.text(psid, "m_redelivered", "hi")]);
    assert_eq!(M.post(&app, &body, Some(M.app_secret)).await, 200);
    fake.wait_until(WAIT, |calls| {
        calls.iter().any(|c| {
            c.recipient() == Some(psid)
                && choices(c).iter().any(|(p, _, _)| p == "main_menu/person")
        })
    })
    .await;
    let sent = fake.calls().len();
    // Meta did not see the 200 and delivers the same body again: 200, nothing new.
    assert_eq!(M.post(&app, &body, Some(M.app_secret)).await, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(fake.calls().len(), sent, "{:#?}", fake.calls());
    let counts = app.handle.store.counts().await.expect("counts");
    assert_eq!(counts.inbound_events, 1, "{counts:?}");
}

/// A page Meta approved for `HUMAN_AGENT`: a customer who last wrote 3 days ago (Meta delivers
/// late) still gets the agent's reply, tagged once Meta refuses it as a RESPONSE, and the
/// console shows the window open with the tag until the 7 days end; one who wrote 8 days ago
/// is refused with the reason.
async fn a_human_agent_page_answers_after_24_hours_with_the_tag() {
    let fake = FakeMessenger::start();
    let app = spawn_console_app(|s| {
        M.configure(s, &fake);
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
    let wrote = now_ms() - 3 * DAY_MS;
    let id = handed_off_after(&app, &fake, "4444444444", wrote).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let view = alice.conversation(&id).await;
    let window = &view["conversation"]["window"];
    // From the customer's last message (the menu choice, two seconds after `wrote`).
    let last = last_inbound(&view, wrote);
    assert_eq!(window["rule"], "human_agent", "{view}");
    assert_eq!(window["open"], true, "{view}");
    assert_eq!(window["tagged"], true, "{view}");
    assert_eq!(window["closes_at"], json!(last + 7 * DAY_MS), "{view}");
    assert_eq!(window["tagged_from"], json!(last + DAY_MS), "{view}");

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

    // 8 days: even the tag is over. Closed in the console, refused with the reason, not sent.
    let wrote = now_ms() - 8 * DAY_MS;
    let late = handed_off_after(&app, &fake, "4444444445", wrote).await;
    ws.wait_for_conversation(ASSIGNED, &late, WAIT).await;
    let view = alice.conversation(&late).await;
    assert_eq!(view["conversation"]["window"]["open"], false, "{view}");
    let sent = fake.calls().len();
    let (status, body) = alice.reply(&late, "Still there?").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "window_closed", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("7 days") && m.contains("HUMAN_AGENT")),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.calls().len(), sent, "{:#?}", fake.calls());
}

/// A page without `HUMAN_AGENT`: 3 days after the customer wrote, the console shows Meta's 24
/// hours closed and a free-form reply is refused (a note still works); nothing reaches Meta.
async fn a_page_without_human_agent_refuses_replies_after_24_hours() {
    let fake = FakeMessenger::start();
    let app = spawn_console_app(|s| M.configure(s, &fake)).await;
    let alice = Console::new(&app, ALICE);
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let wrote = now_ms() - 3 * DAY_MS;
    let id = handed_off_after(&app, &fake, "4444444446", wrote).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let view = alice.conversation(&id).await;
    let window = &view["conversation"]["window"];
    assert_eq!(window["rule"], "service", "{view}");
    assert_eq!(window["open"], false, "{view}");
    let last = last_inbound(&view, wrote);
    assert_eq!(window["closes_at"], json!(last + DAY_MS), "{view}");
    let sent = fake.calls().len();
    let (status, body) = alice.reply(&id, "Hello again").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "window_closed", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not approved for Meta's HUMAN_AGENT")),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.calls().len(), sent, "{:#?}", fake.calls());
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The conversation's `last_inbound_at`, checked to be Meta's timestamp of a message sent in
/// the seconds after `wrote`.
fn last_inbound(view: &Value, wrote: i64) -> i64 {
    let last = view["conversation"]["last_inbound_at"]
        .as_i64()
        .unwrap_or_default();
    assert!((wrote..wrote + 10_000).contains(&last), "{view}");
    last
}

/// `psid`'s conversation handed off through the demo bot's menus by messages Meta timestamps
/// `wrote` (delivered late), waiting for an agent.
async fn handed_off_after(app: &TestApp, fake: &FakeMessenger, psid: &str, wrote: i64) -> String {
    let mut hi = M.text(psid, &format!("{psid}_old_hi"), "hi");
    hi["timestamp"] = json!(wrote);
    assert_eq!(
        M.post(app, &M.delivery(vec![hi]), Some(M.app_secret)).await,
        200
    );
    let person = format!("{psid}_old_1");
    M.choose(app, fake, psid, &person, "main_menu/person", wrote + 1000)
        .await;
    let support = format!("{psid}_old_2");
    M.choose(
        app,
        fake,
        psid,
        &support,
        "choose_team/support",
        wrote + 2000,
    )
    .await;
    wait_handed_off(app, &M.customer(psid)).await
}

/// Alice online with `psid`'s conversation, handed off through the demo bot's menus.
async fn assigned_to_alice(app: &TestApp, fake: &FakeMessenger, psid: &str) -> (Console, String) {
    let alice = Console::new(app, ALICE);
    let mut ws = ConsoleSocket::connect(app, ALICE, None).await;
    alice.set_presence("online").await;
    let hi = M.delivery(vec![M.text(psid, &format!("{psid}_hi"), "hi")]);
    assert_eq!(M.post(app, &hi, Some(M.app_secret)).await, 200);
    let person = format!("{psid}_1");
    M.choose(app, fake, psid, &person, "main_menu/person", now_ms())
        .await;
    let support = format!("{psid}_2");
    M.choose(app, fake, psid, &support, "choose_team/support", now_ms())
        .await;
    let id = wait_handed_off(app, &M.customer(psid)).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    (alice, id)
}

/// The customer's image comes as a link: downloaded from the (fake) CDN without the page's
/// token and served at `/api/v1/media/message:<id>`; a link on a host outside
/// `media.url_hosts` is never fetched, and one that expired is unavailable.
async fn a_customers_image_link_is_downloaded_and_a_link_elsewhere_never_fetched() {
    let fake = FakeMessenger::start();
    let app = spawn_console_app(|s| {
        M.configure(s, &fake);
        links_from_fakes(s);
    })
    .await;
    let psid = "5555555555";
    let (alice, id) = assigned_to_alice(&app, &fake, psid).await;

    let png = png_bytes();
    let url = fake.plant_cdn(&png, "image/png");
    let body = M.delivery(vec![M.attachment(psid, "m_img", "image", &url)]);
    assert_eq!(M.post(&app, &body, Some(M.app_secret)).await, 200);
    let message = message_with_link(&alice, &id, &url).await;
    let (status, bytes) = settled_media(&app, ALICE, &format!("message:{message}")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(bytes, png, "the bytes the CDN held");
    assert_eq!(fake.cdn_requests(), vec!["f1.bin".to_string()]);

    // The same fake under a name that is not in media.url_hosts: refused, never requested.
    let elsewhere = url.replace("127.0.0.1", "localhost");
    let body = M.delivery(vec![M.attachment(psid, "m_elsewhere", "image", &elsewhere)]);
    assert_eq!(M.post(&app, &body, Some(M.app_secret)).await, 200);
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
    let body = M.delivery(vec![M.attachment(psid, "m_expired", "file", &expired)]);
    assert_eq!(M.post(&app, &body, Some(M.app_secret)).await, 200);
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
    let app = spawn_console_app(|s| M.configure(s, &fake)).await;
    let psid = "6666666666";
    let (alice, id) = assigned_to_alice(&app, &fake, psid).await;

    let png = png_bytes();
    let (status, body) =
        attach_file(&app, ALICE, &id, png.clone(), "image/png", "r.png", None).await;
    assert_eq!(status, 201, "{body}");
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    let upload = &uploads[0];
    assert_eq!(upload.page_id, M.page_id);
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
    a_page_without_human_agent_refuses_replies_after_24_hours,
    a_customers_image_link_is_downloaded_and_a_link_elsewhere_never_fetched,
    an_agents_image_is_uploaded_then_sent_by_its_attachment_id,
);

#[actix_rt::test]
async fn a_bad_signature_is_401_and_nothing_is_recorded() {
    let fake = FakeMessenger::start();
    let app = TestApp::spawn_with(|s| M.configure(s, &fake)).await;
    let body = M.delivery(vec![M.text("3333333333", "m_unsigned", "hi")]);
    assert_eq!(M.post(&app, &body, None).await, 401);
    assert_eq!(M.post(&app, &body, Some("another-secret")).await, 401);
    // WhatsApp's app secret does not sign Messenger deliveries.
    assert_eq!(M.post(&app, &body, Some("demo-app-secret")).await, 401);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.calls().is_empty(), "{:#?}", fake.calls());

    // Malformed or another object: 400, nothing recorded.
    assert_eq!(
        M.post(
            &app,
            &json!({"object": "whatsapp_business_account", "entry": []}),
            Some(M.app_secret)
        )
        .await,
        400
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);

    // Signed: recorded before the 200.
    assert_eq!(M.post(&app, &body, Some(M.app_secret)).await, 200);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 1);
}

#[actix_rt::test]
async fn the_verify_handshake_uses_the_messenger_token() {
    let fake = FakeMessenger::start();
    let app = TestApp::spawn_with(|s| M.configure(s, &fake)).await;
    let get = |token: &str| {
        app.client
            .get(format!(
                "{}/webhooks/messenger?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
                app.address
            ))
            .send()
    };
    let ok = get(M.verify_token).await.expect("request");
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
