//! Simulated agents, driven like a browser console would (docs/CONSOLE_API.md): log in with
//! the bearer token (`GET /api/v1/me`), connect the websocket (`?access_token=…&after=0`), go
//! online, accept every offer, and for every conversation assigned to them reply a few times
//! after a think time, then resolve it (so capacity frees and queues drain). A dropped
//! websocket reconnects after its last sequence (to the next node when there are several, as
//! a load balancer would send it) and puts the agent's presence again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::stats::{Counter, Errors};

/// How the agents work.
#[derive(Clone, Debug)]
pub struct AgentPlan {
    pub tokens: Vec<String>,
    pub go_online: bool,
    /// Before each reply and before resolving.
    pub think: Duration,
    pub replies: usize,
    /// Retry accepting and resolving through a node's death (transport errors, 503) until
    /// stopped, as a console does; replies are not retried (the first may have landed).
    pub persistent: bool,
}

/// A conversation event as an agent's websocket delivered it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub agent: String,
    pub customer: String,
    pub at: Instant,
}

/// What the agents saw and did.
pub struct AgentStats {
    pub logged_in: Counter,
    pub connected: Counter,
    pub events: Counter,
    /// The first offered-or-assigned event of each conversation.
    pub first_event: Mutex<HashMap<String, Seen>>,
    /// Every `conversation.assigned` event, by conversation.
    pub assigned: Mutex<HashMap<String, Vec<Seen>>>,
    pub offers: Counter,
    pub accepted: Counter,
    pub replies: Counter,
    pub resolved: Counter,
    /// Conversations an agent is still working on.
    pub working: AtomicI64,
    /// When each reply (by its unique text) was posted.
    pub reply_sent: Mutex<HashMap<String, Instant>>,
    pub errors: Errors,
}

impl AgentStats {
    pub fn new() -> Self {
        Self {
            logged_in: Counter::default(),
            connected: Counter::default(),
            events: Counter::default(),
            first_event: Mutex::new(HashMap::new()),
            assigned: Mutex::new(HashMap::new()),
            offers: Counter::default(),
            accepted: Counter::default(),
            replies: Counter::default(),
            resolved: Counter::default(),
            working: AtomicI64::new(0),
            reply_sent: Mutex::new(HashMap::new()),
            errors: Errors::default(),
        }
    }

    /// Customers with at least one assigned conversation.
    pub fn assigned_customers(&self) -> usize {
        self.assigned
            .lock()
            .map(|m| {
                m.values()
                    .filter_map(|v| v.first().map(|s| s.customer.clone()))
                    .collect::<std::collections::HashSet<_>>()
                    .len()
            })
            .unwrap_or(0)
    }
}

/// The text of reply `n` in `conversation` (unique, so the fake Graph API's receipt of it can
/// be matched).
pub fn reply_text(conversation: &str, n: usize) -> String {
    format!("lt-reply {conversation} {n}")
}

pub const REPLY_PREFIX: &str = "lt-reply ";

struct Agent {
    /// The nodes' base URLs; the agent uses `bases[node % len]`.
    bases: Vec<String>,
    node: AtomicUsize,
    token: String,
    id: String,
    plan: Arc<AgentPlan>,
    http: reqwest::Client,
    stats: Arc<AgentStats>,
    stop: watch::Receiver<bool>,
}

/// Start every agent; returns once all are logged in, connected (and online, if the plan says
/// so). The agents keep working until `stop` turns true.
pub async fn start(
    base_urls: &[String],
    plan: AgentPlan,
    stats: Arc<AgentStats>,
    stop: watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the agents' HTTP client")?;
    if base_urls.is_empty() {
        bail!("no gateway to connect the agents to");
    }
    let plan = Arc::new(plan);
    let (ready_tx, mut ready_rx) =
        tokio::sync::mpsc::channel::<Result<()>>(plan.tokens.len().max(1));
    let mut handles = Vec::new();
    // Log in a few at a time: a console does not open 1,000 sockets in one millisecond.
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    for (i, token) in plan.tokens.clone().into_iter().enumerate() {
        let agent = Agent {
            bases: base_urls.to_vec(),
            node: AtomicUsize::new(i),
            token,
            id: String::new(),
            plan: plan.clone(),
            http: http.clone(),
            stats: stats.clone(),
            stop: stop.clone(),
        };
        let ready = ready_tx.clone();
        let stop = stop.clone();
        let gate = gate.clone();
        handles.push(tokio::spawn(async move {
            run(agent, ready, stop, gate).await;
        }));
    }
    drop(ready_tx);
    for _ in 0..plan.tokens.len() {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e),
            None => bail!("an agent task ended before it was ready"),
        }
    }
    Ok(handles)
}

async fn run(
    mut agent: Agent,
    ready: tokio::sync::mpsc::Sender<Result<()>>,
    mut stop: watch::Receiver<bool>,
    gate: Arc<tokio::sync::Semaphore>,
) {
    let permit = gate.acquire_owned().await.ok();
    let socket = match agent.log_in().await {
        Ok(socket) => socket,
        Err(e) => {
            let _ = ready.send(Err(e)).await;
            return;
        }
    };
    drop(permit);
    let _ = ready.send(Ok(())).await;
    let agent = Arc::new(agent);
    let mut socket = Some(socket);
    let mut last_seq = 0i64;
    loop {
        let mut ws = match socket.take() {
            Some(ws) => ws,
            None => match agent.connect(last_seq).await {
                Ok(ws) => {
                    if agent.plan.go_online && agent.go_online().await.is_err() {
                        agent.stats.errors.add("presence");
                    }
                    ws
                }
                Err(_) => {
                    agent.stats.errors.add("ws_connect");
                    agent.next_node();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if *stop.borrow() {
                        return;
                    }
                    continue;
                }
            },
        };
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    let _ = ws.close(None).await;
                    return;
                }
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) {
                            if let Some(seq) = frame["seq"].as_i64() {
                                last_seq = seq;
                            }
                            agent.on_frame(&frame);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        if *stop.borrow() {
                            return;
                        }
                        agent.stats.errors.add("ws_reconnect");
                        break;
                    }
                }
            }
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Agent {
    fn base(&self) -> &str {
        &self.bases[self.node.load(Ordering::Relaxed) % self.bases.len()]
    }

    /// Use the next node from now on (this one did not answer).
    fn next_node(&self) {
        self.node.fetch_add(1, Ordering::Relaxed);
    }

    /// `GET /api/v1/me`, the websocket, then (maybe) online.
    async fn log_in(&mut self) -> Result<Socket> {
        let me: Value = self
            .http
            .get(format!("{}/api/v1/me", self.base()))
            .bearer_auth(&self.token)
            .send()
            .await
            .context("GET /api/v1/me")?
            .error_for_status()
            .context("GET /api/v1/me (is the agent token configured?)")?
            .json()
            .await
            .context("GET /api/v1/me body")?;
        self.id = me["agent"]["id"]
            .as_str()
            .context("GET /api/v1/me without agent.id")?
            .to_string();
        self.stats.logged_in.inc();
        let ws = self.connect(0).await?;
        if self.plan.go_online {
            self.go_online().await?;
        }
        Ok(ws)
    }

    async fn go_online(&self) -> Result<()> {
        self.http
            .put(format!("{}/api/v1/me/presence", self.base()))
            .bearer_auth(&self.token)
            .json(&json!({"presence": "online"}))
            .send()
            .await
            .context("PUT /api/v1/me/presence")?
            .error_for_status()
            .context("PUT /api/v1/me/presence")?;
        Ok(())
    }

    async fn connect(&self, after: i64) -> Result<Socket> {
        let ws_base = self
            .base()
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1);
        let url = format!(
            "{ws_base}/api/v1/ws?access_token={}&after={after}",
            self.token
        );
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .with_context(|| format!("websocket of agent {}", self.id))?;
        self.stats.connected.inc();
        Ok(ws)
    }

    fn on_frame(self: &Arc<Self>, frame: &Value) {
        if frame["type"] != "event" {
            return;
        }
        let at = Instant::now();
        self.stats.events.inc();
        let kind = frame["kind"].as_str().unwrap_or_default();
        let conversation = &frame["data"]["conversation"];
        let (Some(id), Some(customer)) = (
            conversation["id"].as_str(),
            conversation["customer"]["id"].as_str(),
        ) else {
            return;
        };
        let seen = Seen {
            agent: self.id.clone(),
            customer: customer.to_string(),
            at,
        };
        match kind {
            "conversation.offered" => {
                self.stats.offers.inc();
                self.first_event(id, &seen);
                let agent = self.clone();
                let id = id.to_string();
                tokio::spawn(async move { agent.accept(&id).await });
            }
            "conversation.assigned" => {
                self.first_event(id, &seen);
                if let Ok(mut assigned) = self.stats.assigned.lock() {
                    assigned.entry(id.to_string()).or_default().push(seen);
                }
                self.stats.working.fetch_add(1, Ordering::Relaxed);
                let agent = self.clone();
                let id = id.to_string();
                tokio::spawn(async move {
                    agent.work(&id).await;
                    agent.stats.working.fetch_sub(1, Ordering::Relaxed);
                });
            }
            _ => {}
        }
    }

    fn first_event(&self, id: &str, seen: &Seen) {
        if let Ok(mut first) = self.stats.first_event.lock() {
            first.entry(id.to_string()).or_insert_with(|| seen.clone());
        }
    }

    /// POST, and with a persistent plan again (on the next node) after a transport error or
    /// a 503, until the agents stop.
    async fn post_until_done(&self, path: &str) -> Result<u16> {
        loop {
            let result = self.post(path, None).await;
            let retry = matches!(result, Err(_) | Ok(503));
            if !retry || !self.plan.persistent || self.stopping() {
                return result;
            }
            self.stats.errors.add("retried_after_node_loss");
            if result.is_err() {
                self.next_node();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    async fn post(&self, path: &str, body: Option<Value>) -> Result<u16> {
        let mut request = self
            .http
            .post(format!("{}/api/v1/conversations/{path}", self.base()))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let _ = response.bytes().await;
        Ok(status)
    }

    async fn accept(&self, id: &str) {
        match self.post_until_done(&format!("{id}/accept")).await {
            Ok(200) => self.stats.accepted.inc(),
            Ok(status) => self.stats.errors.add(format!("accept_{status}")),
            Err(_) => self.stats.errors.add("accept_transport"),
        }
    }

    /// Reply `replies` times after the think time, then resolve.
    async fn work(&self, id: &str) {
        for n in 0..self.plan.replies {
            tokio::time::sleep(self.plan.think).await;
            let text = reply_text(id, n);
            let sent = Instant::now();
            if let Ok(mut replies) = self.stats.reply_sent.lock() {
                replies.insert(text.clone(), sent);
            }
            match self
                .post(&format!("{id}/messages"), Some(json!({ "text": text })))
                .await
            {
                Ok(201) => self.stats.replies.inc(),
                Ok(status) => {
                    self.stats.errors.add(format!("reply_{status}"));
                    if let Ok(mut replies) = self.stats.reply_sent.lock() {
                        replies.remove(&text);
                    }
                }
                Err(_) => {
                    // Whether it landed is unknown (a node died mid-request): not counted.
                    self.stats.errors.add("reply_transport");
                    if let Ok(mut replies) = self.stats.reply_sent.lock() {
                        replies.remove(&text);
                    }
                }
            }
        }
        tokio::time::sleep(self.plan.think).await;
        match self.post_until_done(&format!("{id}/resolve")).await {
            Ok(200) => self.stats.resolved.inc(),
            Ok(status) => self.stats.errors.add(format!("resolve_{status}")),
            Err(_) => self.stats.errors.add("resolve_transport"),
        }
    }
}
