//! The web chat widget's API end to end, over HTTP and its websocket, against the real
//! application: a visitor starts a session, writes, gets the demo bot's menus live on the socket,
//! presses buttons to reach a person, gets the agent's reply (sent over the console REST API)
//! live, resumes after a reconnect with `after`, retries a message, sends a file. In both modes
//! (embedded; one-node cluster with Redis and PostgreSQL). Then the refusals: a wrong website
//! token, a foreign origin, the rate limits.

mod common;

use std::time::Duration;

use common::console::*;
use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "demo-webchat-website-token";
const SITE: &str = "http://localhost:8000";

struct Visitor<'a> {
    app: &'a TestApp,
    token: String,
    customer: String,
    sent: std::cell::Cell<u32>,
}

impl<'a> Visitor<'a> {
    async fn start(app: &'a TestApp, name: Option<&str>) -> Visitor<'a> {
        let response = app
            .client
            .post(format!("{}/api/v1/widget/sessions", app.address))
            .header("x-website-token", TOKEN)
            .header("origin", SITE)
            .json(&json!({"name": name}))
            .send()
            .await
            .expect("session request");
        assert_eq!(response.status().as_u16(), 201);
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some(SITE)
        );
        let body: Value = response.json().await.expect("json");
        let token = body["visitor_token"].as_str().expect("a token").to_string();
        assert!(token.starts_with("wcv_"), "{body}");
        let customer = body["customer_id"].as_str().expect("customer").to_string();
        assert!(customer.starts_with("webchat:webchat:"), "{body}");
        Visitor {
            app,
            token,
            customer,
            sent: std::cell::Cell::new(0),
        }
    }

    fn next_id(&self) -> String {
        self.sent.set(self.sent.get() + 1);
        format!("m-{}", self.sent.get())
    }

    async fn post(&self, body: &Value) -> (u16, Value) {
        let response = self
            .app
            .client
            .post(format!("{}/api/v1/widget/messages", self.app.address))
            .header("x-website-token", TOKEN)
            .header("origin", SITE)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("message request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn says(&self, text: &str) {
        let id = self.next_id();
        let (status, body) = self.post(&json!({"client_id": id, "text": text})).await;
        assert_eq!(status, 202, "{body}");
    }

    async fn presses(&self, choice: &str, title: &str) {
        let id = self.next_id();
        let (status, body) = self
            .post(&json!({"client_id": id, "choice": {"id": choice, "title": title}}))
            .await;
        assert_eq!(status, 202, "{body}");
    }

    async fn transcript(&self, after: i64) -> Value {
        let response = self
            .app
            .client
            .get(format!(
                "{}/api/v1/widget/transcript?after={after}",
                self.app.address
            ))
            .header("x-website-token", TOKEN)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("transcript request");
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.expect("json")
    }

    async fn socket(&self, after: Option<i64>) -> Socket {
        let mut url = format!(
            "{}/api/v1/widget/ws?website_token={TOKEN}&visitor_token={}",
            self.app.address.replace("http://", "ws://"),
            self.token
        );
        if let Some(after) = after {
            url.push_str(&format!("&after={after}"));
        }
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
                .expect("request");
        request
            .headers_mut()
            .insert("origin", SITE.parse().expect("header"));
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        let mut socket = Socket {
            ws,
            frames: Vec::new(),
        };
        let hello = socket.next(WAIT).await.expect("hello");
        assert_eq!(hello["type"], "hello", "{hello}");
        socket
    }
}

struct Socket {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    /// Every message frame received, in order.
    frames: Vec<Value>,
}

impl Socket {
    async fn next(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match frame.ok()? {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).ok()?;
                    if value["type"] == "message" {
                        let message = value["message"].clone();
                        self.frames.push(message.clone());
                        return Some(message);
                    }
                    return Some(value);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Wait for a message frame matching `what`.
    async fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(found) = self.frames.iter().find(|f| matches(f)) {
            return found.clone();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        while let Some(frame) = self
            .next(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if frame.get("seq").is_some() && matches(&frame) {
                return frame;
            }
        }
        panic!("no frame with {what}; got {:#?}", self.frames)
    }

    fn last_seq(&self) -> i64 {
        self.frames
            .last()
            .and_then(|f| f["seq"].as_i64())
            .unwrap_or(0)
    }

    fn seqs(&self) -> Vec<i64> {
        self.frames
            .iter()
            .filter_map(|f| f["seq"].as_i64())
            .collect()
    }

    async fn close(mut self) {
        let _ = self.ws.send(Message::Close(None)).await;
    }
}

fn offers(frame: &Value, id: &str) -> bool {
    frame["options"]
        .as_array()
        .is_some_and(|options| options.iter().any(|o| o["id"] == id))
}

async fn a_visitor_chats_with_the_bot_then_an_agent_live_and_resumes_after_a_reconnect() {
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    let mut agent_ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let visitor = Visitor::start(&app, Some("Ana Visitor")).await;
    let mut socket = visitor.socket(None).await;

    // "hi" → the bot's greeting (with the name of the pre-chat form) and its menu, live.
    visitor.says("hi").await;
    let mine = socket
        .wait_for("the visitor's own message", |f| f["from"] == "visitor")
        .await;
    assert_eq!(mine["text"], "hi");
    assert_eq!(mine["client_id"], "m-1");
    let greeting = socket
        .wait_for("the greeting", |f| {
            f["from"] == "bot"
                && f["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Hi Ana Visitor"))
        })
        .await;
    assert!(greeting["seq"].as_i64().is_some());
    socket
        .wait_for("the main menu", |f| offers(f, "main_menu/person"))
        .await;

    // Buttons: "Talk to a person", then "Support": handed off to Alice.
    visitor
        .presses("main_menu/person", "Talk to a person")
        .await;
    socket
        .wait_for("the team list", |f| offers(f, "choose_team/support"))
        .await;
    visitor.presses("choose_team/support", "Support").await;
    let assigned = agent_ws.wait_for_kind(ASSIGNED, WAIT).await;
    let id = event_conversation(&assigned)
        .expect("the assignment names its conversation")
        .to_string();
    let view = alice.conversation(&id).await;
    assert_eq!(view["conversation"]["channel"], "webchat", "{view}");
    assert_eq!(view["conversation"]["channel_kind"], "webchat", "{view}");
    assert_eq!(
        view["conversation"]["customer"]["id"],
        visitor.customer.as_str()
    );
    assert_eq!(view["conversation"]["customer"]["name"], "Ana Visitor");
    // No messaging window on the web chat.
    assert_eq!(
        view["conversation"]["window"],
        json!({"rule": "none", "open": true, "closes_at": null, "tagged": false, "tagged_from": null}),
        "{view}"
    );

    // Alice answers over REST: the visitor's socket shows it at once. Her note never does.
    expect_status(201, alice.note(&id, "internal: check the order").await);
    expect_status(201, alice.reply(&id, "Hello from Alice").await);
    let reply = socket
        .wait_for("Alice's reply", |f| f["text"] == "Hello from Alice")
        .await;
    assert_eq!(reply["from"], "agent");
    let seen = socket.last_seq();
    let seqs = socket.seqs();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    assert!(
        !socket
            .frames
            .iter()
            .any(|f| f.to_string().contains("internal: check")),
        "a note reached the visitor: {:#?}",
        socket.frames
    );
    socket.close().await;

    // While the socket is away: the visitor writes, Alice answers twice.
    visitor.says("are you there?").await;
    alice
        .wait_conversation(&id, "the visitor's question", WAIT, |d| {
            d["messages"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| message_text(m) == Some("are you there?")))
        })
        .await;
    expect_status(201, alice.reply(&id, "Yes, one moment").await);
    expect_status(201, alice.reply(&id, "Found it").await);

    // A reconnect with `after` = the last sequence seen gets exactly what was missed.
    let mut again = visitor.socket(Some(seen)).await;
    again
        .wait_for("the second reply", |f| f["text"] == "Found it")
        .await;
    let texts: Vec<&str> = again
        .frames
        .iter()
        .filter_map(|f| f["text"].as_str())
        .collect();
    assert_eq!(
        texts,
        vec!["are you there?", "Yes, one moment", "Found it"],
        "{:#?}",
        again.frames
    );
    assert!(again.seqs().iter().all(|s| *s > seen));
    // The transcript over REST is the same, from the start (a reload of the page).
    let all = visitor.transcript(0).await;
    let messages = all["messages"].as_array().expect("messages");
    assert!(messages.iter().any(|m| m["text"] == "Hello from Alice"));
    assert!(!all.to_string().contains("internal: check"));
    assert_eq!(all["last_seq"], again.last_seq());
    let rest = visitor.transcript(seen).await;
    assert_eq!(rest["messages"].as_array().map(Vec::len), Some(3), "{rest}");
    again.close().await;
}

async fn a_retried_message_is_processed_once_and_a_file_reaches_the_agent() {
    let app = spawn_console_app(|_| {}).await;
    let visitor = Visitor::start(&app, None).await;
    let mut socket = visitor.socket(None).await;
    // The answer was lost; the widget sends the same message again.
    let message = json!({"client_id": "retry-1", "text": "hi"});
    let (status, first) = visitor.post(&message).await;
    assert_eq!((status, first["duplicate"].clone()), (202, json!(false)));
    let (status, again) = visitor.post(&message).await;
    assert_eq!((status, again["duplicate"].clone()), (202, json!(true)));
    socket
        .wait_for("the menu", |f| offers(f, "main_menu/person"))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    while socket.next(Duration::from_millis(200)).await.is_some() {}
    let from_visitor = socket
        .frames
        .iter()
        .filter(|f| f["from"] == "visitor")
        .count();
    assert_eq!(from_visitor, 1, "{:#?}", socket.frames);
    let counts = app.handle.store.counts().await.expect("counts");
    assert_eq!(counts.inbound_events, 1, "{counts:?}");

    // Handed off to Alice, then a PNG: kept in the media store, shown to the visitor, served
    // to the agent.
    let alice = Console::new(&app, ALICE);
    let mut agent_ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let _ = &alice;
    let press = json!({"client_id": "p-1", "choice": {"id": "main_menu/person", "title": "Talk to a person"}});
    assert_eq!(visitor.post(&press).await.0, 202);
    socket
        .wait_for("the team list", |f| offers(f, "choose_team/support"))
        .await;
    let press =
        json!({"client_id": "p-2", "choice": {"id": "choose_team/support", "title": "Support"}});
    assert_eq!(visitor.post(&press).await.0, 202);
    agent_ws.wait_for_kind(ASSIGNED, WAIT).await;
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    png.resize(1024, 7);
    let response = app
        .client
        .post(format!(
            "{}/api/v1/widget/attachments?client_id=file-1&filename=receipt.png",
            app.address
        ))
        .header("x-website-token", TOKEN)
        .bearer_auth(&visitor.token)
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .expect("attachment");
    assert_eq!(response.status().as_u16(), 202);
    let file = socket.wait_for("the file", |f| f["type"] == "file").await;
    assert_eq!(file["filename"], "receipt.png");
    let media_id = file["media_id"].as_str().expect("a media id").to_string();
    let deadline = tokio::time::Instant::now() + WAIT;
    let (status, bytes) = loop {
        let response = app
            .client
            .get(format!("{}/api/v1/media/{media_id}", app.address))
            .bearer_auth(ALICE)
            .send()
            .await
            .expect("media request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body").to_vec();
        if !matches!(status, 202 | 404) || tokio::time::Instant::now() > deadline {
            break (status, bytes);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(bytes, png);
    // The visitor gets their own file back from the widget API; another visitor does not.
    let widget_media = |token: &str, id: &str| {
        app.client
            .get(format!("{}/api/v1/widget/media/{id}", app.address))
            .header("x-website-token", TOKEN)
            .bearer_auth(token)
            .send()
    };
    let mine = widget_media(&visitor.token, &media_id)
        .await
        .expect("media");
    assert_eq!(mine.status().as_u16(), 200);
    assert_eq!(mine.bytes().await.expect("bytes").to_vec(), png);
    let stranger = Visitor::start(&app, None).await;
    let theirs = widget_media(&stranger.token, &media_id)
        .await
        .expect("media");
    assert_eq!(theirs.status().as_u16(), 404);

    // Alice sends a file from the console: it stays here, the visitor sees it live and gets it.
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.resize(2048, 0x42);
    let conversation = alice_conversation(&app, &visitor.customer).await;
    let part = reqwest::multipart::Part::bytes(jpeg.clone())
        .file_name("map.jpg")
        .mime_str("image/jpeg")
        .expect("mime");
    let response = app
        .client
        .post(format!(
            "{}/api/v1/conversations/{conversation}/attachments",
            app.address
        ))
        .bearer_auth(ALICE)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("attachment request");
    assert_eq!(response.status().as_u16(), 201);
    let sent = socket
        .wait_for("Alice's file", |f| {
            f["type"] == "file" && f["from"] == "agent"
        })
        .await;
    let id = sent["media_id"].as_str().expect("a media id").to_string();
    let got = widget_media(&visitor.token, &id).await.expect("media");
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.expect("bytes").to_vec(), jpeg);
    // Not a type the gateway takes: 415, nothing recorded.
    let response = app
        .client
        .post(format!(
            "{}/api/v1/widget/attachments?client_id=file-2",
            app.address
        ))
        .header("x-website-token", TOKEN)
        .bearer_auth(&visitor.token)
        .body(b"MZ\x90\x00 not an executable".to_vec())
        .send()
        .await
        .expect("attachment");
    assert_eq!(response.status().as_u16(), 415);
}

/// The newest conversation of `customer` (its id).
async fn alice_conversation(app: &TestApp, customer: &str) -> String {
    app.handle
        .store
        .customer_conversations(&switchboard::domain::CustomerId::new(customer), 1)
        .await
        .expect("conversations")
        .pop()
        .expect("a conversation")
        .id
}

in_both_modes!(
    a_visitor_chats_with_the_bot_then_an_agent_live_and_resumes_after_a_reconnect,
    a_retried_message_is_processed_once_and_a_file_reaches_the_agent,
    an_offline_form_waits_in_the_channel_teams_queue_for_its_agents,
    the_pre_chat_forms_name_and_email_go_on_the_contact,
    a_visitor_token_expires_unused_and_is_renewed_by_use,
);

#[actix_rt::test]
async fn wrong_tokens_and_foreign_origins_are_refused() {
    let app = TestApp::spawn().await;
    let url = format!("{}/api/v1/widget/sessions", app.address);
    // A wrong website token: 401, nothing created.
    let response = app
        .client
        .post(&url)
        .header("x-website-token", "not-the-token-of-any-site")
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    let response = app
        .client
        .post(&url)
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);

    // A page of another site: the preflight gets no CORS headers, the request is refused.
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "x-website-token, content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let response = app
        .client
        .post(&url)
        .header("origin", "https://evil.example")
        .header("x-website-token", TOKEN)
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // The channel's own site: the preflight is answered with its origin.
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", SITE)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "x-website-token, content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(SITE)
    );

    // A visitor token of nobody, or none: 401.
    let visitor = Visitor::start(&app, None).await;
    let response = app
        .client
        .post(format!("{}/api/v1/widget/messages", app.address))
        .header("x-website-token", TOKEN)
        .bearer_auth("wcv_0000")
        .json(&json!({"client_id": "a", "text": "hi"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    // A malformed message: 400; nothing recorded.
    let (status, _) = visitor
        .post(&json!({"client_id": "bad id", "text": "hi"}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = visitor.post(&json!({"client_id": "ok"})).await;
    assert_eq!(status, 400);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM inbound_events").await, 0);

    // The websocket from a foreign page: refused at the handshake.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "{}/api/v1/widget/ws?website_token={TOKEN}&visitor_token={}",
            app.address.replace("http://", "ws://"),
            visitor.token
        ))
        .expect("request");
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().expect("header"));
    assert!(tokio_tungstenite::connect_async(request).await.is_err());

    // widget.js is served as a script, compressed for browsers that take it.
    let script = app
        .client
        .get(format!("{}/widget.js", app.address))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("script");
    assert_eq!(script.status().as_u16(), 200);
    assert_eq!(
        script
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    assert!(
        script
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/javascript"))
    );
}

#[actix_rt::test]
async fn a_visitor_past_the_limits_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(|s| {
        s.webchat.messages_per_minute_per_visitor = 2;
        s.webchat.message_burst_per_visitor = 2;
        s.webchat.sessions_per_hour_per_address = 2;
    })
    .await;
    let visitor = Visitor::start(&app, None).await;
    visitor.says("one").await;
    visitor.says("two").await;
    let response = app
        .client
        .post(format!("{}/api/v1/widget/messages", app.address))
        .header("x-website-token", TOKEN)
        .header("origin", SITE)
        .bearer_auth(&visitor.token)
        .json(&json!({"client_id": "three", "text": "three"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 429);
    let wait: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    // The page may read it (CORS headers on the refusal).
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_some()
    );
    // Sessions per address: the second is the last one this hour.
    let _second = Visitor::start(&app, None).await;
    let response = app
        .client
        .post(format!("{}/api/v1/widget/sessions", app.address))
        .header("x-website-token", TOKEN)
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 429);
}

#[actix_rt::test]
async fn the_status_says_offline_until_an_agent_is_online_and_the_offline_form_is_recorded() {
    let app = spawn_console_app(|_| {}).await;
    let status = |app: &TestApp| {
        let request = app
            .client
            .get(format!("{}/api/v1/widget/status", app.address))
            .header("x-website-token", TOKEN);
        async move {
            let response = request.send().await.expect("status");
            assert_eq!(response.status().as_u16(), 200);
            response.json::<Value>().await.expect("json")
        }
    };
    assert_eq!(status(&app).await["status"], "offline");
    let visitor = Visitor::start(&app, None).await;
    let response = app
        .client
        .post(format!("{}/api/v1/widget/offline", app.address))
        .header("x-website-token", TOKEN)
        .bearer_auth(&visitor.token)
        .json(
            &json!({"client_id": "off-1", "name": "Night Owl", "email": "owl@example.com",
                      "message": "Please call me back about my order"}),
        )
        .send()
        .await
        .expect("offline form");
    assert_eq!(response.status().as_u16(), 202);
    // Recorded as the visitor's message, with how to reach them.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let all = visitor.transcript(0).await;
        if all["messages"].as_array().is_some_and(|ms| {
            ms.iter().any(|m| {
                m["text"].as_str().is_some_and(|t| {
                    t.contains("Please call me back") && t.contains("owl@example.com")
                })
            })
        }) {
            assert_eq!(all["name"], "Night Owl");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the offline message was not recorded: {all}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    assert_eq!(status(&app).await["status"], "open");
}

/// The offline form: nobody is there, so the message skips the bot and waits in the queue of
/// the channel's team, where that team's agents find it in the morning, with who to answer.
async fn an_offline_form_waits_in_the_channel_teams_queue_for_its_agents() {
    let app = spawn_console_app(|settings| {
        let channel = settings
            .channels
            .get_mut("webchat")
            .expect("the demo web chat");
        channel.webchat.as_mut().expect("its settings").team = Some("sales".into());
    })
    .await;
    let visitor = Visitor::start(&app, None).await;
    let response = app
        .client
        .post(format!("{}/api/v1/widget/offline", app.address))
        .header("x-website-token", TOKEN)
        .header("origin", SITE)
        .bearer_auth(&visitor.token)
        .json(
            &json!({"client_id": "off-1", "name": "Night Owl", "email": "owl@example.com",
                      "message": "Please call me back about my order"}),
        )
        .send()
        .await
        .expect("offline form");
    assert_eq!(response.status().as_u16(), 202);

    // Carla (sales) lists it as waiting; Alice (support only) does not see it.
    let carla = Console::new(&app, CARLA);
    let deadline = tokio::time::Instant::now() + WAIT;
    let listed = loop {
        let waiting = carla.conversations("status=waiting").await;
        if let Some(c) = waiting
            .iter()
            .find(|c| c["customer"]["id"] == visitor.customer.as_str())
        {
            break c.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not waiting for sales: {waiting:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(listed["team"], "sales", "{listed}");
    assert_eq!(listed["channel_kind"], "webchat", "{listed}");
    assert_eq!(listed["customer"]["name"], "Night Owl", "{listed}");
    let id = listed["id"].as_str().expect("an id").to_string();
    assert!(carla.queue("sales").await.contains(&id));
    let alice = Console::new(&app, ALICE);
    assert!(
        !alice
            .conversations("")
            .await
            .iter()
            .any(|c| c["id"] == id.as_str()),
        "another team's agent sees it"
    );

    // The conversation: the visitor's text with how to reach them; the bot never answered.
    let detail = carla.conversation(&id).await;
    let messages = detail["messages"].as_array().expect("messages");
    assert!(
        messages.iter().any(|m| message_text(m).is_some_and(|t| {
            t.contains("Please call me back") && t.contains("owl@example.com")
        })),
        "{detail}"
    );
    // The bot's flow never ran: what the visitor got is the queue's notice only.
    assert!(
        messages
            .iter()
            .filter(|m| m["sender"] == "bot")
            .all(|m| message_text(m).is_some_and(|t| t.contains("in the queue"))),
        "the bot answered an offline form: {detail}"
    );
    assert_eq!(detail["conversation"]["customer"]["name"], "Night Owl");
    assert_eq!(detail["contact"]["name"], "Night Owl", "{detail}");
    assert_eq!(
        detail["contact"]["fields"]["email"], "owl@example.com",
        "{detail}"
    );
}

/// The pre-chat form's name and email go on the visitor's contact with their first message:
/// the name fills an empty name, the email the `email` field; what an agent set wins after.
async fn the_pre_chat_forms_name_and_email_go_on_the_contact() {
    let app = spawn_console_app(|_| {}).await;
    let response = app
        .client
        .post(format!("{}/api/v1/widget/sessions", app.address))
        .header("x-website-token", TOKEN)
        .json(&json!({"name": "Ana Visitor", "email": "ana@example.com"}))
        .send()
        .await
        .expect("session");
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.expect("json");
    let visitor = Visitor {
        app: &app,
        token: body["visitor_token"].as_str().expect("a token").to_string(),
        customer: body["customer_id"].as_str().expect("customer").to_string(),
        sent: std::cell::Cell::new(0),
    };
    visitor.says("hi").await;
    let customer = switchboard::domain::CustomerId::new(visitor.customer.clone());
    let deadline = tokio::time::Instant::now() + WAIT;
    let contact = loop {
        let contact = app
            .handle
            .store
            .load_contact(&customer)
            .await
            .expect("the store answers");
        if let Some(c) = contact.filter(|c| c.fields.contains_key("email")) {
            break c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the email never reached the contact"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(contact.name.as_deref(), Some("Ana Visitor"));
    assert_eq!(
        contact.fields.get("email").map(String::as_str),
        Some("ana@example.com")
    );
}

/// A visitor's token lasts `webchat.visitor_days` after its last use: used, it is renewed;
/// unused for longer, it gets 401 (the widget then starts a new session) and the retention
/// loop's prune deletes it.
async fn a_visitor_token_expires_unused_and_is_renewed_by_use() {
    let app = spawn_console_app(|_| {}).await;
    let records = app.handle.webchat.clone();
    let digest = |token: &str| hex::encode(switchboard::accounts::secrets::digest(token));
    let day: i64 = 24 * 3600 * 1000;
    let now = chrono::Utc::now().timestamp_millis();

    // Last seen 89 days ago: still valid, and the use renews it.
    let regular = Visitor::start(&app, None).await;
    records
        .touch_visitor(&digest(&regular.token), now - 89 * day)
        .await
        .expect("touch");
    regular.says("still here").await;
    let renewed = records
        .visitor(&digest(&regular.token))
        .await
        .expect("read")
        .expect("the visitor");
    assert!(renewed.last_seen_at >= now, "not renewed: {renewed:?}");

    // Last seen 91 days ago: expired, 401; a new session works.
    let gone = Visitor::start(&app, None).await;
    records
        .touch_visitor(&digest(&gone.token), now - 91 * day)
        .await
        .expect("touch");
    let (status, body) = gone
        .post(&json!({"client_id": "late-1", "text": "hello?"}))
        .await;
    assert_eq!(status, 401, "{body}");
    let response = app
        .client
        .get(format!("{}/api/v1/widget/transcript", app.address))
        .header("x-website-token", TOKEN)
        .bearer_auth(&gone.token)
        .send()
        .await
        .expect("transcript");
    assert_eq!(response.status().as_u16(), 401);
    let again = Visitor::start(&app, None).await;
    again.says("hello again").await;

    // Retention: the expired visitor is deleted, the others stay.
    let before = switchboard::channels::webchat::expired_before(now, 90);
    assert!(records.prune_visitors(before).await.expect("prune") >= 1);
    assert!(
        records
            .visitor(&digest(&gone.token))
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        records
            .visitor(&digest(&regular.token))
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        records
            .visitor(&digest(&again.token))
            .await
            .expect("read")
            .is_some()
    );
}

/// The widget parses (node) and stays within its budget: 30 KB compressed.
#[test]
fn the_widget_script_parses_and_stays_within_30_kb_compressed() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("widget/widget.js");
    let script = script.to_str().expect("a path");
    let check = std::process::Command::new("node")
        .args(["--check", script])
        .output()
        .expect("node runs (scripts/test installs nodejs)");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let size = std::process::Command::new("node")
        .args([
            "-e",
            "const z=require('zlib'),fs=require('fs');\
             process.stdout.write(String(z.gzipSync(fs.readFileSync(process.argv[1]),{level:9}).length))",
            script,
        ])
        .output()
        .expect("node runs");
    let bytes: usize = String::from_utf8_lossy(&size.stdout)
        .trim()
        .parse()
        .expect("a size");
    assert!(
        bytes <= 30 * 1024,
        "widget.js is {bytes} bytes compressed (budget 30 KB)"
    );
    // Its six catalogs have the same keys (the console's languages).
    let text = std::fs::read_to_string(script).expect("the script");
    for lang in ["en:", "es:", "fr:", "pt:", "ar:", "ru:"] {
        assert!(
            text.contains(&format!("    {lang} {{ title:")),
            "catalog {lang}"
        );
    }
}
