//! The X direct-message channel end to end, against the real application and a fake X DM API:
//! Account Activity deliveries signed with the consumer secret as X does, the demo bot
//! answering with its menus as numbered lines, typed choices handing the customer off, an agent
//! replying over the console REST API. In both modes (embedded; one-node cluster with Redis and
//! PostgreSQL).

mod common;

use std::time::Duration;

use common::console::*;
use common::*;
use serde_json::{Value, json};
use switchboard::channels::x::XSigner;
use switchboard::config::Settings;
use switchboard::domain::CustomerId;
use switchboard::fakes::x::{FakeX, OAuth1Credentials};

/// The demo X account (config/base.yaml), its channel, and this test's consumer secret.
const ACCOUNT: &str = "1500000000000000001";
const CHANNEL: &str = "x";
const SECRET: &str = "test-x-consumer-secret";

fn x_settings(settings: &mut Settings, fake: &FakeX) {
    settings.x.api_base_url = fake.base_url();
    settings.x.consumer_secret = SECRET.to_string().into();
    assert!(
        settings
            .channels
            .get(CHANNEL)
            .is_some_and(|c| c.x.is_some()),
        "the demo configuration has an X account"
    );
}

/// One delivery for the account with these DM events, naming the customer `user`.
fn delivery(user: &str, events: Vec<Value>) -> Value {
    json!({
        "for_user_id": ACCOUNT,
        "direct_message_events": events,
        "users": {
            user: {"id": user, "created_timestamp": "1422556069340", "name": "Jordan Brinks",
                   "screen_name": "furiouscamper", "protected": false, "verified": false},
            ACCOUNT: {"id": ACCOUNT, "name": "Acme", "screen_name": "acme"}
        }
    })
}

/// A DM `text` with event id `id` from `sender` to `recipient`.
fn dm(id: &str, sender: &str, recipient: &str, message_data: Value) -> Value {
    json!({
        "type": "message_create",
        "id": id,
        "created_timestamp": now_ms().to_string(),
        "message_create": {
            "target": {"recipient_id": recipient},
            "sender_id": sender,
            "source_app_id": "13090192",
            "message_data": message_data
        }
    })
}

fn text(user: &str, id: &str, text: &str) -> Value {
    delivery(
        user,
        vec![dm(id, user, ACCOUNT, json!({"text": text, "entities": {}}))],
    )
}

async fn post(app: &TestApp, body: &Value, secret: Option<&str>) -> u16 {
    let bytes = serde_json::to_vec(body).expect("json");
    let mut request = app
        .client
        .post(format!("{}/webhooks/x", app.address))
        .header("content-type", "application/json")
        .body(bytes.clone());
    if let Some(secret) = secret {
        let signature = XSigner::new(secret.as_bytes()).expect("key").sign(&bytes);
        request = request.header("x-twitter-webhooks-signature", signature);
    }
    request
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}

/// The number of `option` in the newest DM to `user` offering it as a numbered line.
async fn number_of(fake: &FakeX, user: &str, option: &str) -> String {
    let line = |text: &str| {
        text.lines().find_map(|l| {
            let (number, title) = l.split_once(". ")?;
            (title == option && number.bytes().all(|b| b.is_ascii_digit()))
                .then(|| number.to_string())
        })
    };
    fake.wait_until(WAIT, |_| {
        fake.texts_to(user).iter().any(|t| line(t).is_some())
    })
    .await;
    fake.texts_to(user)
        .iter()
        .rev()
        .find_map(|t| line(t))
        .unwrap_or_else(|| panic!("no menu offering {option}: {:#?}", fake.texts_to(user)))
}

async fn wait_handed_off(app: &TestApp, user: &str) -> String {
    let customer = CustomerId::new(format!("x:{ACCOUNT}:{user}"));
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

async fn an_x_customer_is_handed_off_by_typed_choices_and_gets_the_agent_s_reply() {
    let fake = FakeX::start();
    let app = spawn_console_app(|s| x_settings(s, &fake)).await;
    let alice = Console::new(&app, ALICE);
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let user = "3001969357";

    // "hi" → the greeting with the customer's name (from `users`), then the main menu as
    // numbered lines, sent with the account's token.
    assert_eq!(
        post(&app, &text(user, "1000000000000000001", "hi"), Some(SECRET)).await,
        200
    );
    let person = number_of(&fake, user, "Talk to a person").await;
    let texts = fake.texts_to(user);
    assert!(texts[0].starts_with("Hi Jordan Brinks!"), "{texts:?}");
    let first = &fake.calls()[0];
    assert_eq!(first.participant_id, user);
    // Signed for the account with OAuth 1.0a (configured in the demo: it does not expire).
    signed_for_the_account(
        &fake,
        "POST",
        &format!("/2/dm_conversations/with/{user}/messages"),
        first.authorization.as_deref(),
    );

    // The bot's own DMs come back as echoes: acknowledged, never routed to the bot.
    let sent = fake.calls().len();
    let echo = delivery(
        user,
        vec![dm(
            "1000000000000000002",
            ACCOUNT,
            user,
            json!({"text": texts[0]}),
        )],
    );
    assert_eq!(post(&app, &echo, Some(SECRET)).await, 200);

    // The customer types the option's number: the teams; then a team's title: handed off.
    assert_eq!(
        post(
            &app,
            &text(user, "1000000000000000003", &person),
            Some(SECRET)
        )
        .await,
        200
    );
    number_of(&fake, user, "Customer support").await;
    assert_eq!(
        post(
            &app,
            &text(user, "1000000000000000004", "customer SUPPORT"),
            Some(SECRET)
        )
        .await,
        200
    );
    let id = wait_handed_off(&app, user).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let view = alice.conversation(&id).await;
    assert_eq!(view["conversation"]["channel"], CHANNEL, "{view}");
    // X has no 24-hour window: always open, closing never.
    assert_eq!(
        view["conversation"]["window"],
        json!({"rule": "none", "open": true, "closes_at": null, "tagged": false, "tagged_from": null}),
        "{view}"
    );
    // Only the menus and the handoff's answer were sent: the echo started nothing.
    let after_echo: Vec<String> = fake.texts_to(user).into_iter().skip(sent).collect();
    assert!(
        !after_echo
            .iter()
            .any(|t| t.starts_with("Hi Jordan Brinks!")),
        "{after_echo:#?}"
    );

    // Alice replies over the REST API: sent as a DM to the customer.
    expect_status(201, alice.reply(&id, "Hello from Alice").await);
    let calls = fake
        .wait_until(WAIT, |_| {
            fake.texts_to(user).iter().any(|t| t == "Hello from Alice")
        })
        .await;
    let reply = calls
        .iter()
        .find(|c| c.text() == Some("Hello from Alice") && c.dm_event_id.is_some())
        .unwrap_or_else(|| panic!("no reply sent: {calls:#?}"));
    assert_eq!(reply.participant_id, user);
    let event = reply.dm_event_id.clone().expect("accepted");

    // The customer reads it: the reply shows read.
    let read = json!({
        "for_user_id": ACCOUNT,
        "direct_message_mark_read_events": [{
            "created_timestamp": now_ms().to_string(), "sender_id": user,
            "target": {"recipient_id": ACCOUNT}, "last_read_event_id": event
        }]
    });
    assert_eq!(post(&app, &read, Some(SECRET)).await, 200);
    alice
        .wait_conversation(&id, "the reply read", WAIT, |d| {
            d["messages"].as_array().is_some_and(|ms| {
                ms.iter()
                    .any(|m| message_text(m) == Some("Hello from Alice") && m["status"] == "read")
            })
        })
        .await;

    // The customer sends a photo: the agent sees it, with its URL kept.
    let photo_url = "https://ton.twimg.com/1.1/ton/data/dm/1000000000000000005/1/abc.jpg";
    let photo = delivery(
        user,
        vec![dm(
            "1000000000000000005",
            user,
            ACCOUNT,
            json!({
                "text": "my receipt https://t.co/abc123",
                "attachment": {"type": "media", "media": {
                    "id_str": "1", "type": "photo", "url": "https://t.co/abc123",
                    "media_url_https": photo_url
                }}
            }),
        )],
    );
    assert_eq!(post(&app, &photo, Some(SECRET)).await, 200);
    alice
        .wait_conversation(&id, "the customer's photo", WAIT, |d| {
            d["messages"].as_array().is_some_and(|ms| {
                ms.iter()
                    .any(|m| m["direction"] == "inbound" && m.to_string().contains(photo_url))
            })
        })
        .await;
}

/// The demo account's OAuth 1.0a credentials (config/base.yaml) with this test's consumer
/// secret: what X's DM media must be signed with.
fn signing() -> OAuth1Credentials {
    OAuth1Credentials {
        consumer_key: "demo-x-consumer-key".into(),
        consumer_secret: SECRET.to_string().into(),
        token: format!("{ACCOUNT}-demo-x-oauth1-token"),
        token_secret: "demo-x-oauth1-token-secret".to_string().into(),
    }
}

/// `header` is the demo account's OAuth 1.0a signature of a `method` request to the fake's
/// `path`.
fn signed_for_the_account(fake: &FakeX, method: &str, path: &str, header: Option<&str>) {
    let url = reqwest::Url::parse(&format!("{}{path}", fake.base_url())).expect("url");
    let header = header.unwrap_or_default();
    assert!(
        signing().verifies(method, &url, header),
        "{method} {url}: {header}"
    );
}

/// Customers' DM media are fetched from the fake's `ton` route, signed for the demo account,
/// quickly retried and given up after two attempts. Meta's hosts stay in `media.url_hosts`
/// (with `localhost`): never used for X.
fn dm_media_from_fake(settings: &mut Settings) {
    settings.x.media_hosts = vec!["127.0.0.1".into()];
    settings.media.url_hosts.push("localhost".into());
    settings.media.allow_http_urls = true;
    settings.media.poll_interval_ms = 50;
    settings.media.initial_backoff_ms = 10;
    settings.media.max_backoff_ms = 50;
    settings.media.max_attempts = 2;
}

/// `user` says hi, asks for a person and is handed off to Alice (online): her console and the
/// conversation.
async fn assigned_to_alice(
    app: &TestApp,
    fake: &FakeX,
    user: &str,
    first: u64,
) -> (Console, String) {
    let alice = Console::new(app, ALICE);
    let mut ws = ConsoleSocket::connect(app, ALICE, None).await;
    alice.set_presence("online").await;
    let event = |n: u64| (first + n).to_string();
    assert_eq!(
        post(app, &text(user, &event(0), "hi"), Some(SECRET)).await,
        200
    );
    let person = number_of(fake, user, "Talk to a person").await;
    assert_eq!(
        post(app, &text(user, &event(1), &person), Some(SECRET)).await,
        200
    );
    number_of(fake, user, "Customer support").await;
    assert_eq!(
        post(
            app,
            &text(user, &event(2), "Customer support"),
            Some(SECRET)
        )
        .await,
        200
    );
    let id = wait_handed_off(app, user).await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    (alice, id)
}

/// A customer's DM with one photo at `url`.
fn photo(user: &str, id: &str, url: &str) -> Value {
    delivery(
        user,
        vec![dm(
            id,
            user,
            ACCOUNT,
            json!({
                "text": "my receipt https://t.co/abc123",
                "attachment": {"type": "media", "media": {
                    "id_str": "1", "type": "photo", "url": "https://t.co/abc123",
                    "media_url_https": url
                }}
            }),
        )],
    )
}

/// The customer's photo is downloaded from X's (fake) DM media host with a request signed for
/// the account (OAuth 1.0a, as X requires; the fake checks the signature) and served at
/// `/api/v1/media/message:<id>`; a link on a host that is not one of `x.media_hosts` is never
/// requested (the shared `media.url_hosts` does not count), so nothing is signed for it.
async fn a_customers_dm_photo_is_downloaded_signed_for_the_account_and_a_link_elsewhere_never_fetched()
 {
    let fake = FakeX::start();
    let app = spawn_console_app(|s| {
        x_settings(s, &fake);
        dm_media_from_fake(s);
    })
    .await;
    let user = "4001969357";
    let (alice, id) = assigned_to_alice(&app, &fake, user, 1_000_000_000_000_000_100).await;

    let png = png_bytes();
    let url = fake.plant_dm_media(&png, "image/png", &signing());
    assert_eq!(
        post(
            &app,
            &photo(user, "1000000000000000110", &url),
            Some(SECRET)
        )
        .await,
        200
    );
    let message = message_with_link(&alice, &id, &url).await;
    let (status, bytes) = settled_media(&app, ALICE, &format!("message:{message}")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(bytes, png, "the bytes X held");
    let requests = fake.media_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let header = requests[0].authorization.as_deref().unwrap_or_default();
    assert!(header.starts_with("OAuth "), "{header}");
    assert!(
        header.contains(&format!("oauth_token=\"{ACCOUNT}-demo-x-oauth1-token\"")),
        "{header}"
    );
    for secret in [SECRET, "demo-x-oauth1-token-secret", "demo-x-access-token"] {
        assert!(!header.contains(secret), "no secret goes out: {header}");
    }

    // The same file under a name of media.url_hosts but not of x.media_hosts: refused, never
    // requested.
    let elsewhere = url.replace("127.0.0.1", "localhost");
    assert_eq!(
        post(
            &app,
            &photo(user, "1000000000000000111", &elsewhere),
            Some(SECRET)
        )
        .await,
        200
    );
    let message = message_with_link(&alice, &id, &elsewhere).await;
    let (status, answer) = settled_media(&app, ALICE, &format!("message:{message}")).await;
    assert_eq!(status, 410, "{}", String::from_utf8_lossy(&answer));
    assert!(
        String::from_utf8_lossy(&answer).contains("url_refused"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(fake.media_requests().len(), 1, "never requested");
}

/// An agent's image: uploaded to X (INIT, APPEND, FINALIZE as `dm_image`, with the account's
/// token), then the DM names its media id with the caption as its text; a file over X's 5 MB
/// for images or of a type X does not take is refused before anything reaches X.
async fn an_agents_image_is_uploaded_to_x_then_sent_by_its_media_id() {
    let fake = FakeX::start();
    let app = spawn_console_app(|s| x_settings(s, &fake)).await;
    let user = "5001969357";
    let (_alice, id) = assigned_to_alice(&app, &fake, user, 1_000_000_000_000_000_200).await;

    let png = png_bytes();
    let (status, body) = attach_file(
        &app,
        ALICE,
        &id,
        png.clone(),
        "image/png",
        "r.png",
        Some("your receipt"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:#?}");
    let upload = &uploads[0];
    assert_eq!(upload.bytes, png);
    assert_eq!(upload.media_type, "image/png");
    assert_eq!(upload.media_category, "dm_image");
    signed_for_the_account(
        &fake,
        "POST",
        "/2/media/upload",
        upload.authorization.as_deref(),
    );
    let calls = fake
        .wait_until(WAIT, |calls| {
            calls.iter().any(|c| c.body.get("attachments").is_some())
        })
        .await;
    let sent = calls
        .iter()
        .find(|c| c.body.get("attachments").is_some())
        .unwrap_or_else(|| panic!("not sent: {calls:#?}"));
    assert_eq!(sent.participant_id, user);
    assert_eq!(
        sent.body,
        json!({"text": "your receipt", "attachments": [{"media_id": upload.media_id}]})
    );
    // The transcript's file is served from our store.
    let (status, bytes) = settled_media(&app, ALICE, &format!("xout:{}", upload.media_id)).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, png);

    // Over 5 MB for an image, a type X does not take: refused, nothing uploaded or sent.
    let sends = fake.calls().len();
    let big = jpeg_bytes(5 * 1024 * 1024 + 1);
    let (status, body) = attach_file(&app, ALICE, &id, big, "image/jpeg", "big.jpg", None).await;
    assert_eq!(status, 413, "{body}");
    let pdf = b"%PDF-1.7\n%\xe2\xe3".to_vec();
    let (status, body) = attach_file(&app, ALICE, &id, pdf, "application/pdf", "a.pdf", None).await;
    assert_eq!(status, 415, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("X")),
        "{body}"
    );
    assert_eq!(fake.uploads().len(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.calls().len(), sends);
}

async fn a_redelivered_event_is_processed_once() {
    let fake = FakeX::start();
    let app = spawn_console_app(|s| x_settings(s, &fake)).await;
    let user = "2222222222";
    let body = text(user, "1000000000000000010", "hi");
    assert_eq!(post(&app, &body, Some(SECRET)).await, 200);
    number_of(&fake, user, "Talk to a person").await;
    let sent = fake.calls().len();
    // X did not see the 200 and delivers the same body again: 200, nothing new.
    assert_eq!(post(&app, &body, Some(SECRET)).await, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(fake.calls().len(), sent, "{:#?}", fake.calls());
    let counts = app.handle.store.counts().await.expect("counts");
    assert_eq!(counts.inbound_events, 1, "{counts:?}");
}

/// X's 429 says when its window resets (`x-rate-limit-reset`, epoch seconds): the DM is sent
/// again no sooner; a 500 is retried with the usual backoff.
async fn a_429_is_retried_after_the_reset_and_a_500_with_backoff() {
    let fake = FakeX::start();
    let app = spawn_console_app(|s| x_settings(s, &fake)).await;
    let user = "5555555555";
    fake.fail_next(429, Some(2), 1);
    assert_eq!(
        post(&app, &text(user, "1000000000000000020", "hi"), Some(SECRET)).await,
        200
    );
    let calls = fake
        .wait_until(WAIT, |calls| {
            calls
                .iter()
                .filter(|c| c.participant_id == user && c.dm_event_id.is_some())
                .count()
                >= 2
        })
        .await;
    let refused = calls
        .iter()
        .find(|c| c.dm_event_id.is_none())
        .expect("the refused call");
    let retried = calls
        .iter()
        .find(|c| c.dm_event_id.is_some() && c.text() == refused.text())
        .unwrap_or_else(|| panic!("the DM was sent again: {calls:#?}"));
    let waited = retried.received - refused.received;
    // The reset was 2 s ahead in whole seconds: at least 1 s later.
    assert!(waited >= Duration::from_millis(1000), "waited {waited:?}");

    let sent = fake.calls().len();
    fake.fail_next(500, None, 1);
    assert_eq!(
        post(&app, &text(user, "1000000000000000021", "1"), Some(SECRET)).await,
        200
    );
    let calls = fake
        .wait_until(WAIT, |calls| {
            calls[sent..].iter().any(|c| c.dm_event_id.is_some())
        })
        .await;
    assert!(calls[sent].dm_event_id.is_none(), "{calls:#?}");
    assert_eq!(calls[sent + 1].text(), calls[sent].text(), "{calls:#?}");
    assert!(calls[sent + 1].dm_event_id.is_some(), "{calls:#?}");
}

/// The account's quota of DMs per window (shared by the nodes of a cluster, in Redis): 2 per
/// 3 s here, so the bot's greeting and menu go at once and the next DM waits its share.
async fn the_account_s_quota_spaces_its_dms() {
    let fake = FakeX::start();
    let app = spawn_console_app(|s| {
        x_settings(s, &fake);
        if let Some(account) = s.channels.get_mut(CHANNEL).and_then(|c| c.x.as_mut()) {
            account.sends_per_window = 2;
            account.window_seconds = 3;
        }
    })
    .await;
    let user = "6666666666";
    assert_eq!(
        post(&app, &text(user, "1000000000000000060", "hi"), Some(SECRET)).await,
        200
    );
    number_of(&fake, user, "Track my order").await;
    assert_eq!(
        post(&app, &text(user, "1000000000000000061", "1"), Some(SECRET)).await,
        200
    );
    let calls = fake.wait_until(WAIT, |calls| calls.len() >= 3).await;
    assert_eq!(calls.len(), 3, "{calls:#?}");
    let waited = calls[2].received - calls[0].received;
    assert!(waited >= Duration::from_millis(1300), "waited {waited:?}");
}

in_both_modes!(
    an_x_customer_is_handed_off_by_typed_choices_and_gets_the_agent_s_reply,
    a_redelivered_event_is_processed_once,
    a_429_is_retried_after_the_reset_and_a_500_with_backoff,
    the_account_s_quota_spaces_its_dms,
    a_customers_dm_photo_is_downloaded_signed_for_the_account_and_a_link_elsewhere_never_fetched,
    an_agents_image_is_uploaded_to_x_then_sent_by_its_media_id,
);

/// The account's OAuth 1.0a token and secret go together and need the app's consumer key; a
/// half-configured account is refused at start with the key to fix.
#[test]
fn oauth1_settings_go_together() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let demo = Settings::load_from(&dir, "local", false).expect("demo configuration loads");
    demo.validate().expect("the demo's X account is complete");
    let account = |s: &mut Settings| {
        s.channels
            .get_mut(CHANNEL)
            .and_then(|c| c.x.as_mut())
            .map(|a| {
                (
                    a.oauth1_access_token.take(),
                    a.oauth1_access_token_secret.take(),
                )
            })
    };
    let mut no_token = demo.clone();
    if let Some(a) = no_token
        .channels
        .get_mut(CHANNEL)
        .and_then(|c| c.x.as_mut())
    {
        a.oauth1_access_token = None;
    }
    let err = no_token.validate().expect_err("a secret without its token");
    assert!(err.to_string().contains("go together"), "{err}");
    let mut no_key = demo.clone();
    no_key.x.consumer_key = String::new();
    let err = no_key
        .validate()
        .expect_err("a token without the consumer key");
    assert!(err.to_string().contains("x.consumer_key"), "{err}");
    // Neither: the account sends with its OAuth 2.0 token (and its customers' media wait).
    let mut neither = demo.clone();
    assert!(account(&mut neither).is_some());
    neither
        .validate()
        .expect("OAuth 2.0 alone is a valid account");
}

/// An account without OAuth 1.0a credentials: it sends with its OAuth 2.0 token; the customer's
/// message and its link still come, the file is never requested (an unsigned request would only be refused by X), and the
/// console is told why it cannot be opened.
#[actix_rt::test]
async fn without_oauth1_credentials_dm_media_are_not_requested_and_the_reason_is_told() {
    let fake = FakeX::start();
    let app = spawn_console_app(|s| {
        x_settings(s, &fake);
        dm_media_from_fake(s);
        if let Some(account) = s.channels.get_mut(CHANNEL).and_then(|c| c.x.as_mut()) {
            account.oauth1_access_token = None;
            account.oauth1_access_token_secret = None;
        }
    })
    .await;
    let user = "4001969358";
    let (alice, id) = assigned_to_alice(&app, &fake, user, 1_000_000_000_000_000_300).await;
    // Without OAuth 1.0a the account sends with its OAuth 2.0 token.
    assert_eq!(
        fake.calls()[0].authorization.as_deref(),
        Some("Bearer demo-x-access-token")
    );
    let url = fake.plant_dm_media(&png_bytes(), "image/png", &signing());
    assert_eq!(
        post(
            &app,
            &photo(user, "1000000000000000310", &url),
            Some(SECRET)
        )
        .await,
        200
    );
    let message = message_with_link(&alice, &id, &url).await;
    let (status, answer) = settled_media(&app, ALICE, &format!("message:{message}")).await;
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(status, 410, "{answer}");
    assert!(answer.contains("oauth1_access_token"), "{answer}");
    assert!(fake.media_requests().is_empty(), "never requested");
}

#[actix_rt::test]
async fn a_bad_signature_is_401_and_nothing_is_recorded() {
    let fake = FakeX::start();
    let app = TestApp::spawn_with(|s| x_settings(s, &fake)).await;
    let body = text("3333333333", "1000000000000000030", "hi");
    assert_eq!(post(&app, &body, None).await, 401);
    assert_eq!(post(&app, &body, Some("another-secret")).await, 401);
    // Meta's form of the signature (hex) under the right secret is not X's.
    let bytes = serde_json::to_vec(&body).expect("json");
    let hex = switchboard::channels::signature::SignatureVerifier::new(SECRET.as_bytes())
        .expect("key")
        .sign(&bytes);
    let status = app
        .client
        .post(format!("{}/webhooks/x", app.address))
        .header("x-twitter-webhooks-signature", hex)
        .body(bytes)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16();
    assert_eq!(status, 401);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fake.calls().is_empty(), "{:#?}", fake.calls());

    // Signed but no JSON object: 400, nothing recorded. Only typing: 200, nothing recorded.
    assert_eq!(post(&app, &json!([1, 2]), Some(SECRET)).await, 400);
    let typing = json!({
        "for_user_id": ACCOUNT,
        "direct_message_indicate_typing_events": [{"created_timestamp": "1518127183443",
            "sender_id": "3333333333", "target": {"recipient_id": ACCOUNT}}]
    });
    assert_eq!(post(&app, &typing, Some(SECRET)).await, 200);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);

    // Signed: recorded before the 200.
    assert_eq!(post(&app, &body, Some(SECRET)).await, 200);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 1);
}

/// Guessing the signature is throttled like any credential: past the limit every attempt from
/// that address gets 429 (even a right one), and nothing is recorded.
#[actix_rt::test]
async fn guessing_the_signature_is_throttled() {
    let fake = FakeX::start();
    let app = TestApp::spawn_with(|s| {
        x_settings(s, &fake);
        s.security.auth_failures_per_address = 3;
    })
    .await;
    let body = text("4444444444", "1000000000000000040", "hi");
    for guess in ["guess-1", "guess-2", "guess-3"] {
        assert_eq!(post(&app, &body, Some(guess)).await, 401);
    }
    assert_eq!(post(&app, &body, Some("guess-4")).await, 429);
    assert_eq!(post(&app, &body, Some(SECRET)).await, 429);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);
}

/// The CRC check, with the demo's consumer secret and a vector computed independently
/// (Python's hmac; see `channels::x` tests).
#[actix_rt::test]
async fn the_crc_check_answers_with_the_consumer_secret() {
    let fake = FakeX::start();
    let app = TestApp::spawn_with(|s| {
        s.x.api_base_url = fake.base_url();
    })
    .await;
    let get = |query: &str| {
        app.client
            .get(format!("{}/webhooks/x{query}", app.address))
            .send()
    };
    let ok = get("?crc_token=crc-token-123").await.expect("request");
    assert_eq!(ok.status().as_u16(), 200);
    assert!(
        ok.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"))
    );
    let answer: Value = ok.json().await.expect("json");
    assert_eq!(
        answer,
        json!({"response_token": "sha256=NiA9QjsXCg8u0VVU9rXdzaQ6ioUi4JVBdWEV5IIlq2E="})
    );
    assert_eq!(get("").await.expect("request").status().as_u16(), 400);
    assert_eq!(
        get("?crc_token=").await.expect("request").status().as_u16(),
        400
    );
    // The CRC is no signing oracle: a delivery as the token is refused, so its signature
    // cannot be learnt from the answer.
    let body =
        serde_json::to_string(&text("3333333333", "1000000000000000070", "hi")).expect("json");
    let query: String = url_encode(&body);
    let refused = get(&format!("?crc_token={query}")).await.expect("request");
    assert_eq!(refused.status().as_u16(), 400);
    assert!(!refused.text().await.expect("body").contains("sha256="));
}

/// `application/x-www-form-urlencoded` encoding of `value`.
fn url_encode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .expect("encodes")
        .trim_start_matches("v=")
        .to_string()
}

#[actix_rt::test]
async fn without_an_x_account_the_webhook_is_404() {
    let app = TestApp::spawn_with(|s| {
        s.channels.retain(|_, c| c.x.is_none());
    })
    .await;
    let status = app
        .client
        .get(format!("{}/webhooks/x?crc_token=abc", app.address))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16();
    assert_eq!(status, 404);
    let body = text("3333333333", "1000000000000000050", "hi");
    assert_eq!(post(&app, &body, Some("demo-x-consumer-secret")).await, 404);
}
