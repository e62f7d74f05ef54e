//! The agents' console, driven like a browser would (docs/CONSOLE_API.md): a REST client
//! ([`Console`]), a websocket client that checks the event sequence ([`ConsoleSocket`]), and
//! customers that walk through the demo bot to a handoff ([`Customer`], [`hand_off`]).
//!
//! Every wait polls with a deadline and panics with what it was waiting for and what it saw.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchboard::config::Settings;
use switchboard::domain::CustomerId;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{TestApp, button_reply_webhook, list_reply_webhook, message_webhook, text_webhook};

/// The demo tokens of config/base.yaml.
pub const ALICE: &str = "alice-demo-token";
pub const BOB: &str = "bob-demo-token";
pub const CARLA: &str = "carla-demo-token";
/// The token of `dave`, a sales agent tests add with [`add_agent`].
pub const DAVE: &str = "dave-demo-token";
/// The demo users' password (config/base.yaml).
pub const DEMO_PASSWORD: &str = "demo-password";

/// How long any "eventually" waits.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long "at once" may take (no timer involved: an event or request triggers it).
pub const AT_ONCE: Duration = Duration::from_secs(3);

pub const OFFERED: &str = "conversation.offered";
pub const ASSIGNED: &str = "conversation.assigned";
pub const UPDATED: &str = "conversation.updated";
pub const MESSAGE_CREATED: &str = "message.created";
pub const MESSAGE_STATUS: &str = "message.status";
pub const PRESENCE_CHANGED: &str = "presence.changed";

/// Hex of the SHA-256 of `token`: what `agents.<id>.token_sha256` holds.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Settings every console test starts from: the routing lookup (which points at the demo's
/// fake on port 9090) is pointed at this test's fake business API, which has no `/tickets`
/// endpoint: the lookup answers 404, i.e. no open ticket.
pub fn console_defaults(settings: &mut Settings) {
    let base = settings.whatsapp.api_base_url.clone();
    if let Some(lookup) = settings.routing.lookups.get_mut("open_ticket") {
        lookup.url = format!("{base}/business/tickets?phone={{{{ contact.phone | urlencode }}}}");
    }
}

thread_local! {
    /// Whether [`spawn_console_app`] starts the cluster mode (set per test thread).
    static CLUSTER_MODE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// From now on, on this test's thread, [`spawn_console_app`] starts a one-node cluster: Redis
/// (assignments, partition streams, timers, console streams) and PostgreSQL, instead of the
/// embedded mode. The same scenarios then prove both implementations.
pub fn use_cluster_mode() {
    CLUSTER_MODE.with(|mode| mode.set(true));
}

/// [`TestApp::spawn_with`] over [`console_defaults`], in the embedded mode or, after
/// [`use_cluster_mode`], as a one-node cluster.
pub async fn spawn_console_app(customize: impl FnOnce(&mut Settings)) -> TestApp {
    if !CLUSTER_MODE.with(|mode| mode.get()) {
        return TestApp::spawn_with(|settings| {
            console_defaults(settings);
            customize(settings);
        })
        .await;
    }
    let redis = switchboard::testkit::redis::RedisServer::start().expect("redis-server starts");
    let database = switchboard::testkit::postgres::TestDatabase::create()
        .await
        .expect("a PostgreSQL test database");
    let mut app = TestApp::spawn_with(|settings| {
        console_defaults(settings);
        super::cluster::cluster_settings(settings, &redis);
        settings.database.url = database.url().to_string();
        customize(settings);
    })
    .await;
    app.keep(redis);
    app.keep(database);
    app
}

/// Add an agent (a copy of `carla`'s settings with these teams, capacity and token).
pub fn add_agent(settings: &mut Settings, id: &str, teams: &[&str], capacity: u32, token: &str) {
    let mut agent = settings
        .agents
        .get("carla")
        .cloned()
        .expect("the demo configuration has carla");
    agent.name = format!("Agent {id}");
    agent.email = Some(format!("{id}@example.com"));
    agent.teams = teams.iter().map(|t| t.to_string()).collect();
    agent.capacity = capacity;
    agent.token_sha256 = Some(sha256_hex(token));
    settings.agents.insert(id.to_string(), agent);
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `(rfc3339, unix ms)` of the first whole second at least `from_now` ahead (whole seconds,
/// so that a server parsing at second precision reopens at exactly that time).
pub fn whole_second_after(from_now: Duration) -> (String, i64) {
    let at = chrono::Utc::now() + from_now;
    let secs = at.timestamp() + 1;
    let at = chrono::DateTime::from_timestamp(secs, 0).expect("a valid time");
    (
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        secs * 1000,
    )
}

/// Panic unless `status` is `expected`; return the body.
#[track_caller]
pub fn expect_status(expected: u16, (status, body): (u16, Value)) -> Value {
    assert_eq!(
        status, expected,
        "expected HTTP {expected}, got {status}: {body}"
    );
    body
}

/// Panic unless the answer is the documented error: `status` and
/// `{"error": {"code": <code>, "message": <non-empty string>}}`.
#[track_caller]
pub fn expect_error(status: u16, code: &str, answer: (u16, Value)) {
    let body = expect_status(status, answer);
    assert_eq!(body["error"]["code"], code, "error code of {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "the error has a message: {body}"
    );
}

/// The text of a console message (`body: {"type": "text", "body": "…"}`).
pub fn message_text(message: &Value) -> Option<&str> {
    message.pointer("/body/body").and_then(Value::as_str)
}

/// The conversation an event is about: `data.conversation.id` or `data.conversation_id`.
pub fn event_conversation(event: &Value) -> Option<&str> {
    event
        .pointer("/data/conversation/id")
        .or_else(|| event.pointer("/data/conversation_id"))
        .and_then(Value::as_str)
}

/// A webhook with one shared location from `wa_id`.
pub fn location_webhook(wa_id: &str, wamid: &str, latitude: f64, longitude: f64) -> Value {
    message_webhook(
        wa_id,
        wamid,
        json!({"type": "location", "location": {
            "latitude": latitude, "longitude": longitude,
            "name": "Home", "address": "Calle Mayor 1, Madrid"
        }}),
    )
}

/// A fresh wamid for an inbound message.
pub fn next_wamid(wa_id: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "wamid.console.{wa_id}.{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A value of a Prometheus text exposition: the first sample of `name` whose labels include
/// all of `labels`.
pub fn metric_value(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, label_text) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            return None;
        }
        let all = labels
            .iter()
            .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
        if all { value.parse().ok() } else { None }
    })
}

// ---------------------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------------------

/// One agent's console over REST.
pub struct Console {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Console {
    pub fn new(app: &TestApp, token: &str) -> Console {
        Console {
            client: app.client.clone(),
            base: app.address.clone(),
            token: Some(token.to_string()),
        }
    }

    /// A console talking to the gateway at `address` (e.g. a node run as a child process).
    pub fn at(address: &str, token: &str) -> Console {
        Console {
            client: reqwest::Client::new(),
            base: address.to_string(),
            token: Some(token.to_string()),
        }
    }

    /// A console without a token (every request should be 401).
    pub fn anonymous(app: &TestApp) -> Console {
        Console {
            client: app.client.clone(),
            base: app.address.clone(),
            token: None,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "{method} {path} answered {status} with a body that is not JSON: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// POST without a body.
    pub async fn post_empty(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, None).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Log in with email and password (`POST /api/v1/auth/login`); the console then uses the
    /// session's token.
    pub async fn login(app: &TestApp, email: &str, password: &str) -> Console {
        Self::login_at(&app.address, email, password).await
    }

    pub async fn login_at(address: &str, email: &str, password: &str) -> Console {
        let anonymous = Console {
            client: reqwest::Client::new(),
            base: address.to_string(),
            token: None,
        };
        let body = expect_status(
            200,
            anonymous
                .post(
                    "/api/v1/auth/login",
                    json!({ "email": email, "password": password }),
                )
                .await,
        );
        let token = body["token"].as_str().expect("a session token").to_string();
        Console {
            client: reqwest::Client::new(),
            base: address.to_string(),
            token: Some(token),
        }
    }

    /// The token this console sends.
    pub fn token(&self) -> &str {
        self.token.as_deref().unwrap_or_default()
    }

    /// Upsert the contact with `phone` (named `name`) and record its marketing opt-in on
    /// `channel` with `proof`; its id.
    pub async fn opted_in_contact(
        &self,
        phone: &str,
        name: &str,
        channel: &str,
        proof: &str,
    ) -> String {
        let upserted = self
            .put(
                "/api/v1/contacts",
                json!({"match": {"phone": phone}, "set": {"name": name}}),
            )
            .await;
        assert!((200..300).contains(&upserted.0), "{upserted:?}");
        let id = upserted.1["contact"]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        expect_status(
            201,
            self.post(
                &format!("/api/v1/contacts/{id}/consent"),
                json!({"channel": channel, "proof": proof}),
            )
            .await,
        );
        id
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    /// `GET /api/v1/me` → the `agent` object.
    pub async fn me(&self) -> Value {
        expect_status(200, self.get("/api/v1/me").await)["agent"].clone()
    }

    /// `PUT /api/v1/me/presence`, which must answer `200 {"presence": <presence>}`.
    pub async fn set_presence(&self, presence: &str) {
        let body = expect_status(
            200,
            self.put("/api/v1/me/presence", json!({ "presence": presence }))
                .await,
        );
        assert_eq!(body["presence"], presence, "{body}");
    }

    /// `GET /api/v1/teams` → the `teams` array.
    pub async fn teams(&self) -> Vec<Value> {
        let body = expect_status(200, self.get("/api/v1/teams").await);
        body["teams"].as_array().cloned().unwrap_or_default()
    }

    /// The queue of one of the agent's teams (conversation ids, next first).
    pub async fn queue(&self, team: &str) -> Vec<String> {
        let teams = self.teams().await;
        let team = teams
            .iter()
            .find(|t| t["id"] == team)
            .unwrap_or_else(|| panic!("team {team} in {teams:?}"));
        team["queue"]
            .as_array()
            .map(|q| {
                q.iter()
                    .filter_map(|id| id.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `GET /api/v1/conversations?{query}` → the `conversations` array.
    pub async fn conversations(&self, query: &str) -> Vec<Value> {
        let path = if query.is_empty() {
            "/api/v1/conversations".to_string()
        } else {
            format!("/api/v1/conversations?{query}")
        };
        let body = expect_status(200, self.get(&path).await);
        body["conversations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `GET /api/v1/conversations/{id}`: `{conversation, messages, contact, history, events}`.
    pub async fn conversation(&self, id: &str) -> Value {
        expect_status(200, self.get(&format!("/api/v1/conversations/{id}")).await)
    }

    /// Poll the conversation until `done` holds for its detail (`{conversation, messages, …}`).
    pub async fn wait_conversation(
        &self,
        id: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let detail = self.conversation(id).await;
            if done(&detail) {
                return detail;
            }
            if Instant::now() >= deadline {
                panic!("waited {timeout:?} for {what} of conversation {id}; last: {detail:#}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Poll until the conversation has `status`.
    pub async fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        self.wait_conversation(id, &format!("status {status}"), timeout, |d| {
            d["conversation"]["status"] == status
        })
        .await["conversation"]
            .clone()
    }

    pub async fn reply(&self, id: &str, text: &str) -> (u16, Value) {
        self.post(
            &format!("/api/v1/conversations/{id}/messages"),
            json!({ "text": text }),
        )
        .await
    }

    pub async fn send_quick_reply(&self, id: &str, shortcut: &str) -> (u16, Value) {
        self.post(
            &format!("/api/v1/conversations/{id}/messages"),
            json!({ "quick_reply": shortcut }),
        )
        .await
    }

    /// `GET /api/v1/quick-replies` → the `quick_replies` array.
    pub async fn quick_replies(&self) -> Vec<Value> {
        let body = expect_status(200, self.get("/api/v1/quick-replies").await);
        body["quick_replies"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn note(&self, id: &str, text: &str) -> (u16, Value) {
        self.post(
            &format!("/api/v1/conversations/{id}/notes"),
            json!({ "text": text }),
        )
        .await
    }

    pub async fn transfer_team(&self, id: &str, team: &str) -> (u16, Value) {
        self.post(
            &format!("/api/v1/conversations/{id}/transfer"),
            json!({ "team": team }),
        )
        .await
    }

    pub async fn transfer_agent(&self, id: &str, agent: &str) -> (u16, Value) {
        self.post(
            &format!("/api/v1/conversations/{id}/transfer"),
            json!({ "agent": agent }),
        )
        .await
    }

    pub async fn resolve(&self, id: &str) -> (u16, Value) {
        self.post_empty(&format!("/api/v1/conversations/{id}/resolve"))
            .await
    }

    /// Snooze until an RFC 3339 time.
    pub async fn snooze(&self, id: &str, until_rfc3339: &str) -> (u16, Value) {
        self.post(
            &format!("/api/v1/conversations/{id}/snooze"),
            json!({ "until": until_rfc3339 }),
        )
        .await
    }

    pub async fn accept(&self, id: &str) -> (u16, Value) {
        self.post_empty(&format!("/api/v1/conversations/{id}/accept"))
            .await
    }

    pub async fn reject(&self, id: &str) -> (u16, Value) {
        self.post_empty(&format!("/api/v1/conversations/{id}/reject"))
            .await
    }
}

// ---------------------------------------------------------------------------------------
// Websocket
// ---------------------------------------------------------------------------------------

type Stream = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

enum Frame {
    Event(Value),
    Other,
}

/// How the websocket carries the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenIn {
    /// `Authorization: Bearer <token>`.
    Header,
    /// `?access_token=<token>` (what browsers do).
    Query,
}

/// One console websocket session.
///
/// Every `event` frame goes through a sequence check: the first one is `hello.last_seq + 1`
/// (live) or `after + 1` (resuming; `resync.oldest_seq` when the log was pruned), then each
/// one is the previous plus one. A gap or a repeat panics.
pub struct ConsoleSocket {
    stream: Stream,
    pub agent: String,
    /// The `hello` frame.
    pub hello: Value,
    /// The `resync` frame, when the server sent one.
    pub resync: Option<Value>,
    /// Every event received, in order.
    pub received: Vec<Value>,
    /// Frames that are neither `hello`, `resync` nor `event` (`pong`).
    pub others: Vec<Value>,
    /// Sequence of the last event received.
    pub last_seq: Option<i64>,
    /// The sequence the next event must have.
    expected_seq: i64,
    /// Events received but not yet consumed by `next_event` or a `wait_for`.
    pending: VecDeque<Value>,
    closed: bool,
}

impl ConsoleSocket {
    /// Connect as the agent with `token` in the Authorization header; `after`: resume after
    /// that sequence. Waits for the `hello` frame.
    pub async fn connect(app: &TestApp, token: &str, after: Option<i64>) -> ConsoleSocket {
        Self::connect_with(app, Some(token), TokenIn::Header, after)
            .await
            .unwrap_or_else(|status| panic!("websocket refused with HTTP {status}"))
    }

    /// Connect with the token in `?access_token=`.
    pub async fn connect_with_query_token(
        app: &TestApp,
        token: &str,
        after: Option<i64>,
    ) -> ConsoleSocket {
        Self::connect_with(app, Some(token), TokenIn::Query, after)
            .await
            .unwrap_or_else(|status| panic!("websocket refused with HTTP {status}"))
    }

    /// Connect to the gateway at `address` (e.g. a node run as a child process).
    pub async fn connect_to(address: &str, token: &str, after: Option<i64>) -> ConsoleSocket {
        Self::connect_at(address, Some(token), TokenIn::Header, after)
            .await
            .unwrap_or_else(|status| panic!("websocket refused with HTTP {status}"))
    }

    /// Connect; `Err(http status)` when the upgrade is refused.
    pub async fn connect_with(
        app: &TestApp,
        token: Option<&str>,
        token_in: TokenIn,
        after: Option<i64>,
    ) -> Result<ConsoleSocket, u16> {
        Self::connect_at(&app.address, token, token_in, after).await
    }

    async fn connect_at(
        address: &str,
        token: Option<&str>,
        token_in: TokenIn,
        after: Option<i64>,
    ) -> Result<ConsoleSocket, u16> {
        let mut query = Vec::new();
        if let Some(after) = after {
            query.push(format!("after={after}"));
        }
        if let (Some(token), TokenIn::Query) = (token, token_in) {
            query.push(format!("access_token={token}"));
        }
        let base = address.replacen("http://", "ws://", 1);
        let url = if query.is_empty() {
            format!("{base}/api/v1/ws")
        } else {
            format!("{base}/api/v1/ws?{}", query.join("&"))
        };
        let mut request = url.as_str().into_client_request().expect("websocket url");
        if let (Some(token), TokenIn::Header) = (token, token_in) {
            request.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).expect("header value"),
            );
        }
        let stream =
            match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await {
                Err(_) => panic!("websocket connect to {url} timed out"),
                Ok(Ok((stream, _response))) => stream,
                Ok(Err(tungstenite::Error::Http(response))) => {
                    return Err(response.status().as_u16());
                }
                Ok(Err(e)) => panic!("websocket connect to {url}: {e}"),
            };
        let mut socket = ConsoleSocket {
            stream,
            agent: String::new(),
            hello: Value::Null,
            resync: None,
            received: Vec::new(),
            others: Vec::new(),
            last_seq: None,
            expected_seq: 0,
            pending: VecDeque::new(),
            closed: false,
        };
        let hello = socket
            .read_json(Instant::now() + WAIT)
            .await
            .expect("the server says hello first");
        assert_eq!(hello["type"], "hello", "the first frame is hello: {hello}");
        socket.agent = hello["agent"].as_str().unwrap_or_default().to_string();
        let last_seq = hello["last_seq"].as_i64().unwrap_or(0);
        socket.expected_seq = after.unwrap_or(last_seq) + 1;
        socket.hello = hello;
        Ok(socket)
    }

    /// `hello.last_seq`.
    pub fn hello_last_seq(&self) -> i64 {
        self.hello["last_seq"].as_i64().unwrap_or(0)
    }

    /// The next JSON frame before `deadline`, skipping pings (answered automatically).
    /// None on timeout or when the server closed the session.
    async fn read_json(&mut self, deadline: Instant) -> Option<Value> {
        if self.closed {
            return None;
        }
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) => {
                    self.closed = true;
                    return None;
                }
                Ok(Some(Err(e))) => {
                    self.closed = true;
                    eprintln!("console websocket of {}: {e}", self.agent);
                    return None;
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let bytes = match frame {
                Message::Text(text) => text.as_bytes().to_vec(),
                Message::Binary(bytes) => bytes.to_vec(),
                Message::Close(_) => {
                    self.closed = true;
                    return None;
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            let value: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "a frame that is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            return Some(value);
        }
    }

    /// The next frame read from the wire: events are sequence-checked and recorded in
    /// `received`, `resync` in `resync`, other frames in `others`.
    async fn read_frame(&mut self, deadline: Instant) -> Option<Frame> {
        let frame = self.read_json(deadline).await?;
        match frame["type"].as_str() {
            Some("event") => {
                let seq = frame["seq"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("an event without seq: {frame}"));
                assert_eq!(
                    seq, self.expected_seq,
                    "{}'s events must be numbered without gaps or repeats (last {:?}); got {frame}",
                    self.agent, self.last_seq
                );
                assert!(frame["kind"].is_string(), "an event without kind: {frame}");
                assert!(frame["at"].is_i64(), "an event without at: {frame}");
                self.expected_seq = seq + 1;
                self.last_seq = Some(seq);
                self.received.push(frame.clone());
                Some(Frame::Event(frame))
            }
            Some("resync") => {
                let oldest = frame["oldest_seq"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("resync without oldest_seq: {frame}"));
                assert!(
                    self.received.is_empty(),
                    "resync comes before any event: {frame}"
                );
                self.expected_seq = oldest;
                self.resync = Some(frame);
                Some(Frame::Other)
            }
            Some("hello") => panic!("a second hello: {frame}"),
            _ => {
                self.others.push(frame);
                Some(Frame::Other)
            }
        }
    }

    /// The next `event` frame read from the wire (not from `pending`).
    async fn read_event(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            if let Frame::Event(event) = self.read_frame(deadline).await? {
                return Some(event);
            }
        }
    }

    /// The next event (oldest remembered first), or None after `timeout`.
    pub async fn try_next_event(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        self.read_event(Instant::now() + timeout).await
    }

    /// The next event; panics after `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Value {
        match self.try_next_event(timeout).await {
            Some(event) => event,
            None => panic!(
                "{}: no event within {timeout:?} (closed: {}); received so far: {:#?}",
                self.agent, self.closed, self.received
            ),
        }
    }

    /// The first event (remembered or new) for which `matches` holds; the others are
    /// remembered for later waits. None after `timeout`.
    pub async fn try_wait_for(
        &mut self,
        timeout: Duration,
        matches: &dyn Fn(&Value) -> bool,
    ) -> Option<Value> {
        if let Some(i) = self.pending.iter().position(matches) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let event = self.read_event(deadline).await?;
            if matches(&event) {
                return Some(event);
            }
            self.pending.push_back(event);
        }
    }

    /// Like [`try_wait_for`](Self::try_wait_for), panicking with `what` on timeout.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        match self.try_wait_for(timeout, &matches).await {
            Some(event) => event,
            None => panic!(
                "{}: waited {timeout:?} for {what} (closed: {}); received: {:#?}",
                self.agent, self.closed, self.received
            ),
        }
    }

    /// The first event of `kind`.
    pub async fn wait_for_kind(&mut self, kind: &str, timeout: Duration) -> Value {
        self.wait_for(kind, timeout, |e| e["kind"] == kind).await
    }

    /// The first event of `kind` about `conversation`.
    pub async fn wait_for_conversation(
        &mut self,
        kind: &str,
        conversation: &str,
        timeout: Duration,
    ) -> Value {
        self.wait_for(&format!("{kind} for {conversation}"), timeout, |e| {
            e["kind"] == kind && event_conversation(e) == Some(conversation)
        })
        .await
    }

    /// The first `message.created` in `conversation` whose text is `text`.
    pub async fn wait_for_message(
        &mut self,
        conversation: &str,
        direction: &str,
        text: &str,
        timeout: Duration,
    ) -> Value {
        self.wait_for(
            &format!("message.created {direction} {text:?} in {conversation}"),
            timeout,
            |e| {
                e["kind"] == MESSAGE_CREATED
                    && event_conversation(e) == Some(conversation)
                    && e["data"]["message"]["direction"] == direction
                    && message_text(&e["data"]["message"]) == Some(text)
            },
        )
        .await
    }

    /// Read until an event with sequence `seq` has been received (remembering everything).
    pub async fn catch_up_to(&mut self, seq: i64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.last_seq.unwrap_or(0) < seq {
            match self.read_event(deadline).await {
                Some(event) => self.pending.push_back(event),
                None => panic!(
                    "{}: waited for seq {seq}, got to {:?} (closed: {})",
                    self.agent, self.last_seq, self.closed
                ),
            }
        }
    }

    /// Events received (in order) with a sequence above `after`.
    pub fn received_after(&self, after: i64) -> Vec<Value> {
        self.received
            .iter()
            .filter(|e| e["seq"].as_i64().is_some_and(|s| s > after))
            .cloned()
            .collect()
    }

    /// Send a JSON text frame.
    pub async fn send_json(&mut self, value: &Value) {
        self.stream
            .send(Message::text(value.to_string()))
            .await
            .expect("websocket send");
    }

    /// The next frame of type `kind` that is not an event (e.g. `pong`); events received
    /// meanwhile are remembered.
    pub async fn wait_for_control(&mut self, kind: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.others.iter().position(|f| f["type"] == kind) {
                return self.others.remove(i);
            }
            match self.read_frame(deadline).await {
                Some(Frame::Event(event)) => self.pending.push_back(event),
                Some(Frame::Other) => {}
                None => panic!(
                    "{}: no {kind} frame within {timeout:?}; others: {:?}",
                    self.agent, self.others
                ),
            }
        }
    }

    /// True once the server closed the session (seen while reading).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Close the session cleanly.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
        // Drain until the server acknowledges the close (bounded).
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, self.stream.next()).await {}
    }
}

/// Wait until one of `sockets` receives an event for which `matches` holds; returns the
/// index of that socket and the event. Other events stay remembered in each socket.
pub async fn wait_any(
    sockets: &mut [ConsoleSocket],
    what: &str,
    timeout: Duration,
    matches: impl Fn(&Value) -> bool,
) -> (usize, Value) {
    let deadline = Instant::now() + timeout;
    loop {
        for (i, socket) in sockets.iter_mut().enumerate() {
            if let Some(event) = socket
                .try_wait_for(Duration::from_millis(30), &matches)
                .await
            {
                return (i, event);
            }
        }
        if Instant::now() >= deadline {
            let seen: Vec<_> = sockets
                .iter()
                .map(|s| (s.agent.clone(), s.received.clone()))
                .collect();
            panic!("waited {timeout:?} for {what} on any socket; received: {seen:#?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Customers
// ---------------------------------------------------------------------------------------

/// A WhatsApp customer writing to the support number.
pub struct Customer<'a> {
    app: &'a TestApp,
    pub wa_id: String,
}

impl<'a> Customer<'a> {
    pub fn new(app: &'a TestApp, wa_id: &str) -> Customer<'a> {
        Customer {
            app,
            wa_id: wa_id.to_string(),
        }
    }

    /// Deliver a webhook from this customer (signed); Meta gets 200.
    pub async fn sends(&self, webhook: &Value) {
        let response = self.app.post_json(webhook).await;
        assert_eq!(response.status(), 200, "webhook accepted");
    }

    /// The customer writes `text`.
    pub async fn says(&self, text: &str) {
        let wamid = next_wamid(&self.wa_id);
        self.sends(&text_webhook(&self.wa_id, &wamid, text)).await;
    }

    /// Messages the fake Graph API accepted for this customer.
    pub fn received(&self) -> Vec<Value> {
        self.app.graph.messages_to(&self.wa_id)
    }

    /// Texts (and interactive bodies) the customer received.
    pub fn texts(&self) -> Vec<String> {
        self.app.texts_to(&self.wa_id)
    }

    /// Wait until the customer received a message (after the first `after` ones) for which
    /// `matches` holds; returns it.
    pub async fn wait_for_message(
        &self,
        after: usize,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let messages = self.received();
            if let Some(m) = messages.iter().skip(after).find(|m| matches(m)) {
                return m.clone();
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} waited for {what}; received: {:#?}",
                    self.wa_id,
                    self.texts()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until the customer received a text containing `needle`; returns it.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let texts = self.texts();
            if let Some(t) = texts.iter().find(|t| t.contains(needle)) {
                return t.clone();
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} waited for a text with {needle:?}; got {texts:#?}",
                    self.wa_id
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many messages carry exactly the text `text`.
    pub fn count_text(&self, text: &str) -> usize {
        self.texts().iter().filter(|t| t.as_str() == text).count()
    }

    /// "hi" → the main menu (reply buttons).
    pub async fn opens_the_menu(&self) {
        let before = self.received().len();
        self.says("hi").await;
        self.wait_for_message(before, "the main menu (reply buttons)", |m| {
            m["type"] == "interactive" && m["interactive"]["type"] == "button"
        })
        .await;
    }

    /// Shares a location; the bot confirms it saved it.
    pub async fn shares_location(&self, latitude: f64, longitude: f64) {
        let before = self.received().len();
        let wamid = next_wamid(&self.wa_id);
        self.sends(&location_webhook(&self.wa_id, &wamid, latitude, longitude))
            .await;
        self.wait_for_message(before, "the bot's answer to the location", |m| {
            m["type"] == "text"
        })
        .await;
    }

    /// From the main menu: "Talk to a person" → the team list → `choice` (`support`, `sales`,
    /// `billing`, or `anyone` for automatic routing). Returns the id of the conversation once
    /// it is handed off (status `waiting` or `assigned`).
    pub async fn chooses_team(&self, choice: &str) -> String {
        let before = self.received().len();
        let wamid = next_wamid(&self.wa_id);
        self.sends(&button_reply_webhook(
            &self.wa_id,
            &wamid,
            "main_menu/person",
            "Talk to a person",
        ))
        .await;
        let list = self
            .wait_for_message(before, "the team list", |m| {
                m["type"] == "interactive" && m["interactive"]["type"] == "list"
            })
            .await;
        let row_id = format!("choose_team/{choice}");
        let rows: Vec<Value> = list["interactive"]["action"]["sections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["rows"].as_array())
            .flatten()
            .cloned()
            .collect();
        let row = rows
            .iter()
            .find(|r| r["id"] == row_id.as_str())
            .unwrap_or_else(|| panic!("the team list offers {row_id}: {rows:#?}"));
        let title = row["title"].as_str().unwrap_or_default().to_string();
        let wamid = next_wamid(&self.wa_id);
        self.sends(&list_reply_webhook(&self.wa_id, &wamid, &row_id, &title))
            .await;
        self.wait_handed_off().await
    }

    /// "hi", then [`chooses_team`](Self::chooses_team).
    pub async fn hands_off_to(&self, choice: &str) -> String {
        self.opens_the_menu().await;
        self.chooses_team(choice).await
    }

    /// Wait until the customer's newest conversation is handed off (`waiting` or
    /// `assigned` in the store); its id.
    pub async fn wait_handed_off(&self) -> String {
        let store = &self.app.handle.store;
        let customer = switchboard::domain::CustomerId::new(self.wa_id.clone());
        let deadline = Instant::now() + WAIT;
        loop {
            let newest = store
                .customer_conversations(&customer, 1)
                .await
                .expect("conversations query")
                .pop();
            if let Some(c) = &newest
                && matches!(c.status.as_str(), "waiting" | "assigned")
            {
                return c.id.clone();
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}'s conversation was not handed off; newest: {newest:?}; texts: {:#?}",
                    self.wa_id,
                    self.texts()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Report a delivery status for a message we sent this customer.
    pub async fn status(&self, provider_id: &str, status: &str) {
        self.sends(&super::status_webhook(&self.wa_id, provider_id, status))
            .await;
    }
}

/// Customers' files that come as links are fetched from the fakes (http, on 127.0.0.1) here,
/// quickly retried and given up after two attempts.
pub fn links_from_fakes(settings: &mut Settings) {
    settings.media.url_hosts.push("127.0.0.1".into());
    settings.media.allow_http_urls = true;
    settings.media.poll_interval_ms = 50;
    settings.media.initial_backoff_ms = 10;
    settings.media.max_backoff_ms = 50;
    settings.media.max_attempts = 2;
}

/// `POST /api/v1/conversations/{id}/attachments` as `token`: status and body.
pub async fn attach_file(
    app: &TestApp,
    token: &str,
    conversation: &str,
    bytes: Vec<u8>,
    declared: &str,
    filename: &str,
    caption: Option<&str>,
) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(filename.to_string())
        .mime_str(declared)
        .expect("mime");
    let mut form = reqwest::multipart::Form::new().part("file", part);
    if let Some(caption) = caption {
        form = form.text("caption", caption.to_string());
    }
    let response = app
        .client
        .post(format!(
            "{}/api/v1/conversations/{conversation}/attachments",
            app.address
        ))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("attachment request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// `GET /api/v1/media/{id}` as `token` until it is no longer pending (202) or unknown (404):
/// status and body.
pub async fn settled_media(app: &TestApp, token: &str, id: &str) -> (u16, Vec<u8>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let response = app
            .client
            .get(format!("{}/api/v1/media/{id}", app.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("media request");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("media body").to_vec();
        if !matches!(status, 202 | 404) || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The id of the message of conversation `id` whose body names `url` as its media's link.
pub async fn message_with_link(console: &Console, id: &str, url: &str) -> String {
    let detail = console
        .wait_conversation(id, "the attachment in the transcript", WAIT, |d| {
            d["messages"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["body"]["media"]["url"] == url))
        })
        .await;
    detail["messages"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["body"]["media"]["url"] == url))
        .and_then(|m| m["id"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no message with {url}: {detail}"))
}

/// A real 1×1 PNG.
pub fn png_bytes() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
        .expect("png")
}

/// A JPEG header padded to `len` bytes.
pub fn jpeg_bytes(len: usize) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.resize(len, 0x42);
    v
}

/// Take the customer `wa_id` through the demo bot ("hi" → "Talk to a person" → `choice`)
/// to a handoff; returns the conversation id once it is waiting or assigned.
pub async fn hand_off(app: &TestApp, wa_id: &str, choice: &str) -> String {
    Customer::new(app, wa_id).hands_off_to(choice).await
}

/// Every scenario twice: in the embedded mode (memory, SQLite) and in the cluster mode (Redis,
/// PostgreSQL), where the assignment state is `RedisAssignments` (Lua), timers and console
/// events live in Redis, and events reach the conversation through the partition streams.
#[macro_export]
macro_rules! in_both_modes {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[actix_rt::test]
                async fn $name() {
                    super::$name().await
                }
            )*
        }
        mod cluster {
            $(
                #[actix_rt::test]
                async fn $name() {
                    $crate::common::console::use_cluster_mode();
                    super::$name().await
                }
            )*
        }
    };
}

/// The customer's newest conversation once it is handed off (waiting or assigned): its id.
pub async fn wait_handed_off(app: &TestApp, customer: &CustomerId) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let newest = app
            .handle
            .store
            .customer_conversations(customer, 1)
            .await
            .expect("conversations query")
            .pop();
        if let Some(c) = &newest
            && matches!(c.status.as_str(), "waiting" | "assigned")
        {
            return c.id.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{customer} was not handed off; newest: {newest:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A utility template with an image header, two positional parameters, a footer, a URL button
/// with a suffix and a quick reply, as Meta lists it: for the fake Graph API to list besides the
/// demo's (tests of sending a template).
pub fn parcel_ready_template() -> Value {
    json!({"id": "1000000000000101", "name": "parcel_ready", "language": "en_US",
    "category": "UTILITY", "status": "APPROVED", "parameter_format": "POSITIONAL",
    "components": [
        {"type": "HEADER", "format": "IMAGE",
         "example": {"header_handle": ["https://parcels.example/example.jpg"]}},
        {"type": "BODY", "text": "Hi {{1}}, parcel {{2}} is ready at the locker."},
        {"type": "FOOTER", "text": "Parcels Inc."},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Track", "url": "https://parcels.example/t/{{1}}"},
            {"type": "QUICK_REPLY", "text": "Talk to us"}
        ]}
    ]})
}

/// Meta's components of `parcel_ready` filled with the header
/// `https://parcels.example/locker.jpg`, the body `Ana` and `parcel`, and `parcel` as the
/// tracking link's suffix: what the fake Graph API must receive.
pub fn parcel_ready_components(parcel: &str) -> Value {
    json!([
        {"type": "header", "parameters": [
            {"type": "image", "image": {"link": "https://parcels.example/locker.jpg"}}]},
        {"type": "body", "parameters": [
            {"type": "text", "text": "Ana"}, {"type": "text", "text": parcel}]},
        {"type": "button", "sub_type": "url", "index": "0",
         "parameters": [{"type": "text", "text": parcel}]}
    ])
}
