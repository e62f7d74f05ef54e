//! The Instagram channel end to end, against the real application and the fake Meta Send API
//! (the Messenger fake serves Instagram's `/{account id}/messages` too): deliveries
//! (`object: "instagram"`) signed with the Instagram app secret as Meta does, the demo bot
//! answering with its menus, a menu choice handing the customer off, an agent replying over the
//! console REST API, images both ways. In both modes (embedded; one-node cluster with Redis and PostgreSQL).

mod common;

use std::time::Duration;

use common::console::*;
use common::meta::{INSTAGRAM as M, choices, now_ms};
use common::*;
use serde_json::json;
use switchboard::fakes::messenger::FakeMessenger;

async fn an_instagram_customer_is_handed_off_by_a_menu_choice_and_gets_the_agent_s_reply() {
    let fake = FakeMessenger::start();
    let app = spawn_console_app(|s| M.configure(s, &fake)).await;
    let alice = Console::new(&app, ALICE);
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let psid = "6789012345";
    // Meta's webhooks carry no name: the User Profile API gives it.
    fake.plant_profile(psid, json!({"name": "", "username": "ana.ig"}));

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
    let first = &fake.calls()[0];
    assert_eq!(first.page_id, M.page_id);
    assert_eq!(
        first.authorization.as_deref(),
        Some("Bearer demo-instagram-access-token")
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
    assert_eq!(view["conversation"]["channel"], "instagram", "{view}");
    assert_eq!(
        view["conversation"]["customer"]["name"], "@ana.ig",
        "the profile's name: {view}"
    );
    // Asked once (the later messages did not ask again), with the token.
    let asked = fake.profile_requests();
    assert_eq!(asked.len(), 1, "{asked:#?}");
    assert_eq!(asked[0].user, psid);
    assert_eq!(asked[0].fields.as_deref(), Some("name,username"));
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some("Bearer demo-instagram-access-token")
    );
    // Instagram has the 24-hour window, like WhatsApp and Messenger: open now.
    assert_eq!(view["conversation"]["window"]["open"], true, "{view}");

    // Alice replies over the REST API: the account's messages endpoint gets it as a RESPONSE.
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
        Some("Bearer demo-instagram-access-token")
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

/// Files both ways on Instagram: the customer's image link downloaded from the (fake) CDN and
/// served; the agent's image uploaded for Instagram (`platform=instagram`) and sent by its
/// attachment id; an image over Instagram's 8 MB refused before anything reaches Meta.
async fn an_instagram_image_in_and_an_agents_image_out() {
    let fake = FakeMessenger::start();
    let app = spawn_console_app(|s| {
        M.configure(s, &fake);
        links_from_fakes(s);
    })
    .await;
    let alice = Console::new(&app, ALICE);
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let psid = "7777777777";
    let hi = M.delivery(vec![M.text(psid, "m_media_hi", "hi")]);
    assert_eq!(M.post(&app, &hi, Some(M.app_secret)).await, 200);
    M.choose(&app, &fake, psid, "m_media_1", "main_menu/person", now_ms())
        .await;
    M.choose(
        &app,
        &fake,
        psid,
        "m_media_2",
        "choose_team/support",
        now_ms(),
    )
    .await;
    let id = wait_handed_off(&app, &M.customer(psid)).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;

    let png = png_bytes();
    let url = fake.plant_cdn(&png, "image/png");
    let event = json!({
        "sender": {"id": psid}, "recipient": {"id": M.page_id}, "timestamp": now_ms(),
        "message": {"mid": "m_media_img", "attachments": [{"type": "image", "payload": {"url": url}}]}
    });
    assert_eq!(
        M.post(&app, &M.delivery(vec![event]), Some(M.app_secret))
            .await,
        200
    );
    let message = message_with_link(&alice, &id, &url).await;
    let (status, bytes) = settled_media(&app, ALICE, &format!("message:{message}")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(bytes, png);

    let (status, body) =
        attach_file(&app, ALICE, &id, png.clone(), "image/png", "p.png", None).await;
    assert_eq!(status, 201, "{body}");
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(uploads[0].page_id, M.page_id);
    assert_eq!(uploads[0].platform.as_deref(), Some("instagram"));
    assert_eq!(uploads[0].bytes, png);
    let attachment_id = uploads[0].attachment_id.clone();
    let calls = fake
        .wait_until(WAIT, |calls| {
            calls.iter().any(|c| {
                c.body.pointer("/message/attachment/payload/attachment_id")
                    == Some(&json!(attachment_id))
            })
        })
        .await;
    assert!(
        calls.iter().any(|c| c.recipient() == Some(psid)
            && c.body.pointer("/message/attachment/type") == Some(&json!("image"))),
        "{calls:#?}"
    );

    let big = jpeg_bytes(8 * 1024 * 1024 + 1);
    let (status, body) = attach_file(&app, ALICE, &id, big, "image/jpeg", "big.jpg", None).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(fake.uploads().len(), 1, "nothing more uploaded");
}

in_both_modes!(
    an_instagram_customer_is_handed_off_by_a_menu_choice_and_gets_the_agent_s_reply,
    a_redelivered_message_is_processed_once,
    an_instagram_image_in_and_an_agents_image_out,
);

#[actix_rt::test]
async fn a_bad_signature_is_401_and_nothing_is_recorded() {
    let fake = FakeMessenger::start();
    let app = TestApp::spawn_with(|s| M.configure(s, &fake)).await;
    let body = M.delivery(vec![M.text("3333333333", "m_unsigned", "hi")]);
    assert_eq!(M.post(&app, &body, None).await, 401);
    assert_eq!(M.post(&app, &body, Some("another-secret")).await, 401);
    // Neither WhatsApp's nor Messenger's app secret signs Instagram deliveries.
    assert_eq!(M.post(&app, &body, Some("demo-app-secret")).await, 401);
    assert_eq!(
        M.post(&app, &body, Some("demo-messenger-app-secret")).await,
        401
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.calls().is_empty(), "{:#?}", fake.calls());

    // Malformed or another object: 400, nothing recorded.
    assert_eq!(
        M.post(
            &app,
            &json!({"object": "page", "entry": []}),
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
async fn the_verify_handshake_uses_the_instagram_token() {
    let fake = FakeMessenger::start();
    let app = TestApp::spawn_with(|s| M.configure(s, &fake)).await;
    let get = |token: &str| {
        app.client
            .get(format!(
                "{}/webhooks/instagram?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
                app.address
            ))
            .send()
    };
    let ok = get(M.verify_token).await.expect("request");
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.expect("body"), "1158201444");
    // Messenger's token is not Instagram's.
    assert_eq!(
        get("demo-messenger-verify-token")
            .await
            .expect("request")
            .status()
            .as_u16(),
        403
    );
}
