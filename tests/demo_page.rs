//! The demo customer page of the fake Graph API, pointed at the real gateway: its JSON
//! endpoints play a customer through the demo bot to a person (signed webhooks exactly as Meta
//! sends them), an agent's reply comes back with Meta's statuses; and the page itself in a real
//! Chromium, on a desktop and a phone. Screenshots go to `target/screenshots/`.

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use common::console::*;
use serde_json::{Value, json};
use switchboard::fakes::demo::DemoConfig;
use switchboard::fakes::graph::FakeGraph;
use tokio::time::Instant;

/// The gateway (read receipts on, like the demo configuration) with its fake Graph API
/// serving the demo page, aimed at the gateway's webhook.
async fn demo_app() -> TestApp {
    let app = spawn_console_app(|settings| settings.whatsapp.mark_as_read = true).await;
    app.graph
        .enable_demo(DemoConfig {
            webhook_url: format!("{}/webhooks/whatsapp", app.address),
            app_secret: common::APP_SECRET.into(),
            ..DemoConfig::default()
        })
        .expect("the demo page is on");
    app
}

/// The page's side: its JSON endpoints, for one customer number.
struct Page {
    base: String,
    wa_id: String,
    http: reqwest::Client,
}

impl Page {
    fn new(graph: &FakeGraph, wa_id: &str) -> Page {
        Page {
            base: graph.base_url(),
            wa_id: wa_id.to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the fake answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST /_demo/send` as this customer (`from` added).
    async fn send(&self, mut body: Value) -> (u16, Value) {
        body["from"] = json!(self.wa_id);
        self.post("/_demo/send", body.to_string().into_bytes())
            .await
    }

    async fn receipts(&self, status: &str, ids: &[&str]) -> (u16, Value) {
        let body = json!({"wa_id": self.wa_id, "status": status, "ids": ids});
        self.post("/_demo/receipts", body.to_string().into_bytes())
            .await
    }

    async fn conversation(&self) -> Vec<Value> {
        let answer: Value = self
            .http
            .get(format!("{}/_demo/conversation", self.base))
            .query(&[("wa_id", &self.wa_id)])
            .send()
            .await
            .expect("the fake answers")
            .json()
            .await
            .expect("json");
        answer["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Poll the conversation until `find` returns something.
    async fn wait_for<T>(&self, what: &str, find: impl Fn(&[Value]) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let rows = self.conversation().await;
            if let Some(found) = find(&rows) {
                return found;
            }
            if Instant::now() >= deadline {
                panic!("{} waited for {what}; the page shows {rows:#?}", self.wa_id);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn from_business(row: &Value) -> bool {
    row["from"] == "business"
}

fn interactive<'a>(rows: &'a [Value], kind: &str) -> Option<&'a Value> {
    rows.iter()
        .rev()
        .find(|r| from_business(r) && r["message"]["interactive"]["type"] == kind)
}

fn options(row: &Value) -> Vec<Value> {
    let i = &row["message"]["interactive"];
    let buttons = i["action"]["buttons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| b["reply"].clone());
    let rows = i["action"]["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["rows"].as_array())
        .flatten()
        .cloned();
    buttons.chain(rows).collect()
}

fn option(row: &Value, id: &str) -> Value {
    options(row)
        .into_iter()
        .find(|o| o["id"] == id)
        .unwrap_or_else(|| panic!("{id} is offered: {row:#}"))
}

#[actix_rt::test]
async fn a_customer_on_the_demo_page_reaches_a_person_and_sees_the_agents_reply_with_ticks() {
    let app = demo_app().await;
    let page = Page::new(&app.graph, "16505551234");

    // "hi": the webhook reaches the gateway, the bot's menu comes back.
    let (status, sent) = page
        .send(json!({"name": "Sheena Nelson", "text": "hi"}))
        .await;
    assert_eq!(status, 200, "{sent}");
    assert!(
        sent["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("wamid."))
    );
    let menu = page
        .wait_for("the bot's menu", |rows| {
            interactive(rows, "button").cloned()
        })
        .await;
    let person = option(&menu, "main_menu/person");
    assert_eq!(person["title"], "Talk to a person");

    // Tap "Talk to a person" (a reply to the menu), then the support team in the list.
    let (status, body) = page
        .send(json!({"name": "Sheena Nelson", "button": person, "reply_to": menu["id"]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let teams = page
        .wait_for("the team list", |rows| interactive(rows, "list").cloned())
        .await;
    let support = option(&teams, "choose_team/support");
    let (status, body) = page
        .send(json!({"name": "Sheena Nelson", "list": support, "reply_to": teams["id"]}))
        .await;
    assert_eq!(status, 200, "{body}");

    // Handed off: the store says so, and the contact carries the profile name.
    let id = Customer::new(&app, &page.wa_id).wait_handed_off().await;
    let alice = Console::new(&app, ALICE);
    let detail = alice.conversation(&id).await;
    assert_eq!(detail["contact"]["name"], "Sheena Nelson");
    let inbound: Vec<&Value> = detail["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["direction"] == "inbound")
        .collect();
    assert!(
        inbound
            .iter()
            .any(|m| m["provider_id"] == sent["id"] && m["body"]["body"] == "hi"),
        "the first message is stored under the page's wamid: {inbound:#?}"
    );

    // The gateway's read receipts show on the customer's messages; Meta's `sent` on the bot's.
    page.wait_for("the customer's messages read", |rows| {
        let mine: Vec<&Value> = rows.iter().filter(|r| r["from"] == "customer").collect();
        (mine.len() == 3 && mine.iter().all(|r| r["status"] == "read")).then_some(())
    })
    .await;
    page.wait_for("the bot's messages sent", |rows| {
        rows.iter()
            .filter(|r| from_business(r))
            .all(|r| r["status"] == "sent")
            .then_some(())
    })
    .await;

    // Alice takes it and answers: the page shows the reply, ticked sent.
    alice.set_presence("online").await;
    alice.wait_status(&id, "assigned", WAIT).await;
    let (status, body) = alice
        .reply(&id, "Hi Sheena, Alice here. How can I help?")
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    let reply = page
        .wait_for("Alice's reply, sent", |rows| {
            rows.iter()
                .find(|r| {
                    from_business(r)
                        && r["message"]["text"]["body"] == "Hi Sheena, Alice here. How can I help?"
                        && r["status"] == "sent"
                })
                .cloned()
        })
        .await;
    let wamid = reply["id"].as_str().expect("wamid").to_string();

    // The page shows it (delivered), the customer reads it (read): Meta's statuses reach the
    // gateway, and the page shows what it acknowledged.
    let (status, body) = page.receipts("delivered", &[&wamid]).await;
    assert_eq!((status, body["queued"].clone()), (200, json!(1)));
    let (status, body) = page.receipts("delivered", &[&wamid]).await;
    assert_eq!(
        (status, body["queued"].clone()),
        (200, json!(0)),
        "once is enough"
    );
    let (status, body) = page.receipts("read", &[&wamid]).await;
    assert_eq!((status, body["queued"].clone()), (200, json!(1)));
    page.wait_for("the reply read", |rows| {
        rows.iter()
            .any(|r| r["id"] == wamid.as_str() && r["status"] == "read")
            .then_some(())
    })
    .await;
    alice
        .wait_conversation(&id, "the reply read in the store", WAIT, |d| {
            d["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["provider_id"] == wamid.as_str() && m["status"] == "read")
        })
        .await;
}

#[actix_rt::test]
async fn the_demo_page_shares_a_location_and_refuses_bad_input_without_sending_anything() {
    let app = demo_app().await;

    // The page and its script, under a strict CSP.
    let http = reqwest::Client::new();
    for path in ["/", "/demo", "/_demo/demo.js", "/_demo/demo.css"] {
        let response = http
            .get(format!("{}{path}", app.graph.base_url()))
            .send()
            .await
            .expect("served");
        assert_eq!(response.status(), 200, "{path}");
        let csp = response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    }
    let config: Value = http
        .get(format!("{}/_demo/config", app.graph.base_url()))
        .send()
        .await
        .expect("config")
        .json()
        .await
        .expect("json");
    assert_eq!(config["display_phone_number"], "15550783881");

    // Bad input: a clear error, nothing sent to the gateway, nothing shown.
    let page = Page::new(&app.graph, "34611122299");
    let refused = [
        page.post(
            "/_demo/send",
            json!({"from": "not-a-number", "text": "hi"})
                .to_string()
                .into_bytes(),
        )
        .await,
        page.send(json!({"name": "Lucía"})).await,
        page.send(json!({"text": "hi", "button": {"id": "a", "title": "A"}}))
            .await,
        page.send(json!({"location": {"latitude": 95.0, "longitude": 0.0}}))
            .await,
        page.post("/_demo/send", b"{not json".to_vec()).await,
        page.receipts("seen", &[]).await,
    ];
    for answer in refused {
        expect_error(400, "bad_request", answer);
    }
    expect_error(
        404,
        "not_found",
        page.receipts("read", &["wamid.NOPE"]).await,
    );
    assert!(page.conversation().await.is_empty());
    assert!(app.graph.requests().is_empty(), "the bot never heard of it");

    // A preset place, once the bot has greeted: it thanks the customer for it.
    let (status, body) = page.send(json!({"name": "Lucía", "text": "hola"})).await;
    assert_eq!(status, 200, "{body}");
    page.wait_for("the bot's menu", |rows| {
        interactive(rows, "button").cloned()
    })
    .await;
    let (status, body) = page
        .send(json!({"name": "Lucía", "location": {
            "latitude": 40.42, "longitude": -3.7025, "name": "Madrid Gran Vía",
            "address": "Gran Vía 32, Madrid"}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let rows = page
        .wait_for("the bot's answer to the location", |rows| {
            rows.iter()
                .any(|r| {
                    from_business(r)
                        && r["message"]["text"]["body"]
                            .as_str()
                            .is_some_and(|t| t.contains("ubicación") || t.contains("location"))
                })
                .then(|| rows.to_vec())
        })
        .await;
    let shared = rows
        .iter()
        .find(|r| r["message"]["type"] == "location")
        .expect("the location is in the conversation");
    assert_eq!(shared["from"], "customer");
    assert_eq!(shared["message"]["location"]["name"], "Madrid Gran Vía");
}

#[actix_rt::test]
async fn a_webhook_the_gateway_refuses_is_shown_as_not_delivered() {
    let app = TestApp::spawn().await;
    // A second fake whose demo signs with the wrong secret.
    let wrong = FakeGraph::start();
    wrong
        .enable_demo(DemoConfig {
            webhook_url: format!("{}/webhooks/whatsapp", app.address),
            app_secret: "not-the-app-secret".into(),
            ..DemoConfig::default()
        })
        .expect("on");
    let page = Page::new(&wrong, "16505550000");
    let (status, body) = page.send(json!({"text": "hello?"})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "webhook_not_delivered");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("401"), "{message}");
    let rows = page.conversation().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "failed");
    assert!(app.graph.requests().is_empty());

    // And a fake without the demo has no page.
    let response = reqwest::get(format!("{}/", app.graph.base_url()))
        .await
        .expect("answers");
    assert_eq!(response.status(), 404);
}

#[actix_rt::test]
async fn the_demo_page_in_a_browser_on_a_desktop_and_a_phone() {
    let app = demo_app().await;
    let page_url = format!("{}/", app.graph.base_url());

    let browser = Browser::start(1280, 800, "en").await;
    browser
        .client
        .goto(&page_url)
        .await
        .expect("the page loads");
    browser
        .wait_true(
            "the first demo number chosen",
            "document.querySelector('#number').value === '16505551234'",
        )
        .await;
    let text = browser.wait_css("#text").await;
    text.send_keys("hi").await.expect("typed");
    text.send_keys("\u{E007}").await.expect("Enter");
    // The bot's menu, with its reply buttons; the customer's "hi" read by the gateway.
    let person = browser
        .wait_css(".message[data-from='business'] button.reply[data-id='main_menu/person']")
        .await;
    browser
        .wait_true(
            "the customer's message read",
            "document.querySelector(\".message[data-from='customer'] .ticks\")?.dataset.status === 'read'",
        )
        .await;
    browser.screenshot("demo-page-desktop-menu").await;
    person.click().await.expect("tapped Talk to a person");
    browser
        .wait_css(".message[data-from='business'] details.list")
        .await;
    browser
        .wait_true(
            "the bot's answer",
            "[...document.querySelectorAll(\".message[data-from='business'] .body\")].some(b => b.textContent.includes('Who would you like to talk to?'))",
        )
        .await;
    browser
        .wait_true(
            "the bot's messages show Meta's ticks",
            "[...document.querySelectorAll(\".message[data-from='business'] .ticks\")].every(t => t.dataset.status === 'read')",
        )
        .await;
    browser.screenshot("demo-page-desktop-list").await;

    // Share a preset place: the bot saves it.
    browser
        .wait_css("#location")
        .await
        .click()
        .await
        .expect("the places open");
    browser.screenshot("demo-page-desktop-places").await;
    browser
        .wait_css("#presets button.place")
        .await
        .click()
        .await
        .expect("a place shared");
    browser
        .wait_true(
            "the bot saved the location",
            "[...document.querySelectorAll(\".message[data-from='business'] .body\")].some(b => b.textContent.includes('saved your location'))",
        )
        .await;

    // Send an image (its caption from the message box): the page shows it, with its ticks.
    let png = hex::decode(
        "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b550000000a49444154789c6360000000020001e221bc330000000049454e44ae426082",
    )
    .expect("png");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("photo.png");
    std::fs::write(&path, &png).expect("file written");
    browser
        .wait_css("#text")
        .await
        .send_keys("my receipt")
        .await
        .expect("caption typed");
    browser
        .wait_css("#image-file")
        .await
        .send_keys(&path.to_string_lossy())
        .await
        .expect("image chosen");
    browser
        .wait_true(
            "the image on the page, as sent",
            "[...document.querySelectorAll(\".message[data-from='customer']\")].some(m => m.querySelector('img.photo') && m.textContent.includes('my receipt'))",
        )
        .await;
    browser.screenshot("demo-page-desktop-image").await;
    browser.close().await;

    // On a phone: the same customer picks the support team from the list.
    let phone = Browser::start(375, 740, "en").await;
    phone.client.goto(&page_url).await.expect("the page loads");
    phone
        .wait_css(".message[data-from='business'] details.list summary")
        .await
        .click()
        .await
        .expect("the list opens");
    phone
        .wait_true(
            "no horizontal overflow",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    phone.screenshot("demo-page-phone-list").await;
    phone
        .wait_css(
            ".message[data-from='business'] details.list button.row[data-id='choose_team/support']",
        )
        .await
        .click()
        .await
        .expect("support chosen");
    let id = Customer::new(&app, "16505551234").wait_handed_off().await;
    phone
        .wait_true(
            "the handoff message",
            "[...document.querySelectorAll(\".message[data-from='business'] .body\")].some(b => b.textContent.includes('colleague'))",
        )
        .await;
    phone.screenshot("demo-page-phone-handoff").await;
    phone.close().await;
    assert!(!id.is_empty());
}

#[actix_rt::test]
async fn a_customer_sends_an_image_from_the_demo_page_and_the_agent_gets_it() {
    let app = demo_app().await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    let id = hand_off(&app, "34611122277", "support").await;
    alice.wait_status(&id, "assigned", WAIT).await;

    // The page holds the file in the fake like Meta (`POST /_fake/media`), then sends the
    // webhook naming it.
    let photo: Vec<u8> = {
        // The smallest valid PNG: 1×1, one grey pixel.
        let hex = "89504e470d0a1a0a0000000d4948445200000001000000010800000000\
                   3a7e9b550000000a49444154789c6360000000020001e221bc33000000\
                   0049454e44ae426082";
        hex::decode(hex).expect("png")
    };
    let held: Value = reqwest::Client::new()
        .post(format!("{}/_fake/media", app.graph.base_url()))
        .header("content-type", "image/png")
        .body(photo.clone())
        .send()
        .await
        .expect("planted")
        .json()
        .await
        .expect("json");
    let media_id = held["id"].as_str().expect("a media id").to_string();
    let page = Page::new(&app.graph, "34611122277");
    let (status, sent) = page
        .send(json!({"image": {"id": media_id, "mime_type": "image/png",
                               "sha256": held["sha256"], "caption": "the broken part"}}))
        .await;
    assert_eq!(status, 200, "{sent}");

    // The gateway downloaded it from the fake, checked it, and serves it to Alice.
    let detail = alice
        .wait_conversation(&id, "the customer's image in the transcript", WAIT, |d| {
            d["messages"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| m["kind"] == "image" && m["body"]["media"]["id"] == media_id.as_str())
            })
        })
        .await;
    assert!(detail.to_string().contains("the broken part"), "{detail}");
    let deadline = std::time::Instant::now() + WAIT;
    let bytes = loop {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/media/{media_id}", app.address))
            .bearer_auth(ALICE)
            .send()
            .await
            .expect("media answers");
        if response.status() == 200 {
            break response.bytes().await.expect("bytes").to_vec();
        }
        assert_eq!(response.status(), 202, "still downloading, or a failure");
        assert!(std::time::Instant::now() < deadline, "never downloaded");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(bytes, photo);

    // Bad images: refused, nothing sent.
    for bad in [
        json!({"id": "abc", "mime_type": "image/png", "sha256": "x"}),
        json!({"id": "123", "mime_type": "image/gif", "sha256": "x"}),
    ] {
        let (status, body) = page.send(json!({ "image": bad })).await;
        assert_eq!(status, 400, "{body}");
    }
}

/// The gateway with every channel of the demo pointed at its fake-graph (Telegram's Bot API,
/// Messenger's and Instagram's Send API, X's DM API on the same port), its demo page on.
async fn all_channels_demo_app() -> TestApp {
    let mut base = String::new();
    let app = spawn_console_app(|settings| {
        base = settings.whatsapp.api_base_url.clone();
        settings.telegram.api_base_url = base.clone();
        settings.messenger.api_base_url = base.clone();
        settings.instagram.api_base_url = base.clone();
        settings.x.api_base_url = base.clone();
    })
    .await;
    assert_eq!(base, app.graph.base_url());
    app.graph
        .enable_demo(DemoConfig {
            webhook_url: format!("{}/webhooks/whatsapp", app.address),
            app_secret: common::APP_SECRET.into(),
            ..DemoConfig::default()
        })
        .expect("the demo page is on");
    app
}

/// The demo bot's id (config/base.yaml's Telegram channel).
const DEMO_BOT_ID: &str = "123456789";

/// Wait until the Telegram customer `chat` was handed off to a person; the conversation.
async fn telegram_handed_off(app: &TestApp, chat: &str) -> String {
    let customer = switchboard::domain::CustomerId::new(format!("telegram:{DEMO_BOT_ID}:{chat}"));
    let deadline = Instant::now() + WAIT;
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
        assert!(Instant::now() < deadline, "{customer}: {newest:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[actix_rt::test]
async fn a_telegram_customer_on_the_demo_page_presses_buttons_to_a_person_and_sees_the_reply() {
    let app = all_channels_demo_app().await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;

    let browser = Browser::start(1280, 800, "en").await;
    browser
        .client
        .goto(&format!("{}/?channel=telegram", app.graph.base_url()))
        .await
        .expect("the page loads");
    browser
        .wait_true(
            "Telegram and its first customer chosen",
            "document.querySelector('#channel').value === 'telegram' && document.querySelector('#number').value === '7001001'",
        )
        .await;
    let text = browser.wait_css("#text").await;
    text.send_keys("hi").await.expect("typed");
    text.send_keys("\u{E007}").await.expect("Enter");

    // The bot's menu comes back as the inline keyboard Telegram would show.
    let person = browser
        .wait_css(".message[data-from='business'] button.reply[data-id='main_menu/person']")
        .await;
    browser
        .wait_true(
            "the customer's hi delivered",
            "document.querySelector(\".message[data-from='customer'] .ticks\")?.dataset.status === 'delivered'",
        )
        .await;
    browser.screenshot("demo-page-telegram-menu").await;
    person.click().await.expect("pressed Talk to a person");
    browser
        .wait_css(".message[data-from='business'] button.reply[data-id='choose_team/support']")
        .await
        .click()
        .await
        .expect("pressed the support team");

    // Handed off; Alice answers over the console API and the page shows it.
    let id = telegram_handed_off(&app, "7001001").await;
    alice.wait_status(&id, "assigned", WAIT).await;
    let (status, body) = alice.reply(&id, "Hi, Alice here. How can I help?").await;
    assert!((200..300).contains(&status), "{status} {body}");
    browser
        .wait_true(
            "Alice's reply on the page",
            "[...document.querySelectorAll(\".message[data-from='business'] .body\")].some(b => b.textContent.includes('Alice here'))",
        )
        .await;
    browser.screenshot("demo-page-telegram-reply").await;
    browser.close().await;

    // What the gateway called: the fake's Bot API, the presses answered.
    let calls = app.graph.telegram().calls();
    assert!(
        calls
            .iter()
            .any(|c| c.method == "answerCallbackQuery" && c.ok),
        "{calls:#?}"
    );
    assert!(
        app.graph
            .telegram()
            .texts_to(7001001)
            .iter()
            .any(|t| t.contains("Alice here"))
    );
    assert!(app.graph.requests().is_empty(), "nothing went to WhatsApp");
}

/// Messenger, Instagram and X through the page's endpoints: each webhook is taken by the
/// gateway (signed with the demo secrets) and the bot's menu comes back with its buttons.
#[actix_rt::test]
async fn the_demo_page_plays_messenger_instagram_and_x_customers() {
    let app = all_channels_demo_app().await;
    let http = reqwest::Client::new();
    let base = app.graph.base_url();
    for (channel, user) in [
        ("messenger", "6789012345"),
        ("instagram", "5550001"),
        ("x", "4200001"),
    ] {
        let sent: Value = http
            .post(format!("{base}/_demo/{channel}/send"))
            .json(&json!({"from": user, "name": "Sheena Nelson", "text": "hi"}))
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("json");
        assert_eq!(sent["status"], "delivered", "{channel}: {sent}");
        let deadline = Instant::now() + WAIT;
        let menu = loop {
            let answer: Value = http
                .get(format!("{base}/_demo/{channel}/conversation"))
                .query(&[("user", user)])
                .send()
                .await
                .expect("answers")
                .json()
                .await
                .expect("json");
            let rows = answer["messages"].as_array().cloned().unwrap_or_default();
            if let Some(menu) = rows.iter().find(|r| {
                from_business(r)
                    && r["buttons"]
                        .as_array()
                        .is_some_and(|b| b.iter().any(|b| b["title"] == "Talk to a person"))
            }) {
                assert_eq!(rows[0]["from"], "customer", "{channel}: {rows:#?}");
                break menu.clone();
            }
            assert!(Instant::now() < deadline, "{channel}: no menu in {rows:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Press "Talk to a person" as the page does: the team list comes back.
        let person = menu["buttons"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["title"] == "Talk to a person")
            .cloned()
            .expect("offered");
        let pressed = http
            .post(format!("{base}/_demo/{channel}/send"))
            .json(
                &json!({"from": user, "button": {"id": person["id"], "title": person["title"],
                          "kind": person["kind"], "reply_to": menu["id"]}}),
            )
            .send()
            .await
            .expect("answers");
        assert_eq!(pressed.status(), 200, "{channel}");
        let deadline = Instant::now() + WAIT;
        loop {
            let answer: Value = http
                .get(format!("{base}/_demo/{channel}/conversation"))
                .query(&[("user", user)])
                .send()
                .await
                .expect("answers")
                .json()
                .await
                .expect("json");
            let rows = answer["messages"].as_array().cloned().unwrap_or_default();
            if rows.iter().any(|r| {
                from_business(r)
                    && r["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("Who would you like to talk to?"))
            }) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{channel}: no team list in {rows:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(app.graph.requests().is_empty(), "nothing went to WhatsApp");

    // Bad input: refused, nothing sent.
    let refused = http
        .post(format!("{base}/_demo/telegram/send"))
        .json(&json!({"from": "abc", "text": "hi"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status(), 400);
    let unknown = http
        .post(format!("{base}/_demo/fax/send"))
        .json(&json!({"from": "1", "text": "hi"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(unknown.status(), 404);
}

/// The demo business's website (fake-graph's `/website`) embeds the gateway's web chat widget
/// under its CSP: a visitor opens it, says hi and gets the bot's menu.
#[actix_rt::test]
async fn the_demo_website_embeds_the_web_chat_widget() {
    let graph_origin = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = graph_origin.clone();
    let app = spawn_console_app(move |settings| {
        let origin = settings.whatsapp.api_base_url.clone();
        if let Some(widget) = settings
            .channels
            .get_mut("webchat")
            .and_then(|c| c.webchat.as_mut())
        {
            widget.origins.push(origin.clone());
        }
        *seen.lock().unwrap_or_else(|p| p.into_inner()) = origin;
    })
    .await;
    assert_eq!(
        *graph_origin.lock().unwrap_or_else(|p| p.into_inner()),
        app.graph.base_url()
    );
    app.graph
        .enable_demo(DemoConfig {
            webhook_url: format!("{}/webhooks/whatsapp", app.address),
            app_secret: common::APP_SECRET.into(),
            ..DemoConfig::default()
        })
        .expect("the demo page is on");

    let response = reqwest::get(format!("{}/website", app.graph.base_url()))
        .await
        .expect("served");
    assert_eq!(response.status(), 200);
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        csp.contains(&format!("script-src {};", app.address)),
        "{csp}"
    );
    let html = response.text().await.expect("html");
    assert!(
        html.contains(&format!(
            "<script src=\"{}/widget.js\" data-channel=\"webchat\" data-token=\"demo-webchat-website-token\"",
            app.address
        )),
        "{html}"
    );

    // An agent online: the widget is open (else it offers an "away" form).
    Console::new(&app, ALICE).set_presence("online").await;
    let in_widget = |expression: &str| {
        format!(
            "(r => !!(r && ({expression})))(document.querySelector('[data-switchboard-widget]')?.shadowRoot)"
        )
    };
    let browser = Browser::start(1280, 800, "en").await;
    browser
        .client
        .goto(&format!("{}/website", app.graph.base_url()))
        .await
        .expect("the website loads");
    browser
        .wait_true(
            "the widget opened",
            &in_widget(
                "(() => { const p = r.querySelector('.panel'); if (p && p.hidden) r.querySelector('.launcher')?.click(); return p && !p.hidden; })()",
            ),
        )
        .await;
    browser
        .wait_true(
            "hi said",
            &in_widget(
                "window.demoSaid || (() => { const t = r.querySelector('textarea'); if (!t) return false; t.value = 'hi'; \
                 t.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true})); window.demoSaid = true; return true; })()",
            ),
        )
        .await;
    browser
        .wait_true(
            "the bot's menu in the widget",
            &in_widget("r.querySelectorAll('.opts button').length > 0"),
        )
        .await;
    browser.screenshot("demo-website-widget").await;
    browser.close().await;
}
