//! The demo customer page of the fake Graph API: a person plays a WhatsApp customer in a
//! browser (`GET /` or `/demo` of `fake-graph`). What the page sends becomes the webhook Meta
//! would deliver (signed with the app secret, posted to the gateway's webhook URL); what the
//! gateway sends that number (recorded by the fake) comes back as the conversation, with the
//! ticks Meta's status webhooks reported: `sent` when the fake accepts a message, `delivered`
//! when the page shows it, `read` when the page is visible. The customer's own messages show
//! the business's read receipts (the gateway's `status: read` calls to the fake).
//!
//! The page's JSON endpoints, all under `/_demo/`:
//! - `GET config`: the business number the customer writes to;
//! - `POST send` `{from, name?, text | button {id,title} | list {id,title,description?} |
//!   location {latitude, longitude, name?, address?}, reply_to?}`: one customer message;
//! - `GET conversation?wa_id=…`: both sides, oldest first, with their statuses;
//! - `POST receipts` `{wa_id, status: delivered|read, ids: [wamid…]}`: the page showed (or the
//!   customer read) these business messages.
//!
//! The other channels of the demo configuration (Telegram, Messenger, Instagram, X) are
//! played through `/_demo/{channel}/…` ([`channels`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::graph::{RecordedSend, Shared};
use super::statuses::{meta_status, post_signed};
use crate::channels::signature::SignatureVerifier;
use crate::http::error::ApiError;

pub mod channels;
pub use channels::DemoChannels;

/// Where the demo gateway listens for Meta's webhooks.
pub const DEFAULT_WEBHOOK_URL: &str = "http://127.0.0.1:8080/webhooks/whatsapp";
/// The demo configuration's app secret (config/base.yaml).
pub const DEFAULT_APP_SECRET: &str = "demo-app-secret";
/// The demo support number (config/base.yaml, the number in Meta's examples).
pub const DEFAULT_PHONE_NUMBER_ID: &str = "106540352242922";
pub const DEFAULT_DISPLAY_PHONE_NUMBER: &str = "15550783881";
/// The WhatsApp business account id in Meta's examples.
const WABA_ID: &str = "419561257915477";

/// Customer messages kept (all numbers together); older ones are forgotten first.
const MAX_CUSTOMER_MESSAGES: usize = 10_000;
/// Business messages whose ticks are kept.
const MAX_TICKS: usize = 100_000;
/// Status webhooks waiting to be delivered; past that the page is told to retry.
const STATUS_QUEUE: usize = 1_024;
/// A customer message is offered to the gateway this many times, this far apart, before the
/// page is told it was not delivered.
const SEND_ATTEMPTS: usize = 20;
const SEND_PAUSE: Duration = Duration::from_millis(250);
/// Meta retries a status webhook for days; the demo, for a minute.
const STATUS_ATTEMPTS: usize = 600;
const STATUS_PAUSE: Duration = Duration::from_millis(100);
/// Receipts in one `POST /_demo/receipts`.
const MAX_RECEIPT_IDS: usize = 200;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const INDEX_HTML: &str = include_str!("demo/index.html");
const DEMO_JS: &str = include_str!("demo/demo.js");
const DEMO_CSS: &str = include_str!("demo/demo.css");

/// Where the customer's webhooks go and who the customer writes to.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// The gateway's webhook endpoint.
    pub webhook_url: String,
    /// Meta's app secret: the key of `X-Hub-Signature-256`.
    pub app_secret: String,
    /// The business number's `phone_number_id` (a channel of the gateway).
    pub phone_number_id: String,
    /// Its display number (digits).
    pub display_phone_number: String,
    /// The other channels the page plays (their webhooks go to the origin of `webhook_url`).
    pub channels: DemoChannels,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            webhook_url: DEFAULT_WEBHOOK_URL.into(),
            app_secret: DEFAULT_APP_SECRET.into(),
            phone_number_id: DEFAULT_PHONE_NUMBER_ID.into(),
            display_phone_number: DEFAULT_DISPLAY_PHONE_NUMBER.into(),
            channels: DemoChannels::default(),
        }
    }
}

/// A tick of a business message, as Meta reported it to the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tick {
    Sent,
    Delivered,
    Read,
}

impl Tick {
    fn as_str(self) -> &'static str {
        match self {
            Tick::Sent => "sent",
            Tick::Delivered => "delivered",
            Tick::Read => "read",
        }
    }
}

/// What Meta has queued (`requested`) and what the gateway acknowledged for one message.
#[derive(Clone, Copy, Debug, Default)]
struct Ticks {
    requested: Option<Tick>,
    acknowledged: Option<Tick>,
}

/// Whether a customer message reached the gateway.
#[derive(Clone, Debug, PartialEq)]
enum Delivery {
    Sending,
    Delivered,
    Failed(String),
}

/// A message the page sent.
#[derive(Clone, Debug)]
struct CustomerMessage {
    wa_id: String,
    at: DateTime<Utc>,
    /// The `messages[]` entry of the webhook.
    message: Value,
    delivery: Delivery,
}

impl CustomerMessage {
    fn wamid(&self) -> &str {
        self.message["id"].as_str().unwrap_or_default()
    }
}

#[derive(Default)]
struct DemoState {
    customer: VecDeque<CustomerMessage>,
    ticks: HashMap<String, Ticks>,
    tick_order: VecDeque<String>,
}

impl DemoState {
    fn ticks_mut(&mut self, wamid: &str) -> &mut Ticks {
        if !self.ticks.contains_key(wamid) {
            while self.tick_order.len() >= MAX_TICKS {
                if let Some(old) = self.tick_order.pop_front() {
                    self.ticks.remove(&old);
                }
            }
            self.tick_order.push_back(wamid.to_string());
        }
        self.ticks.entry(wamid.to_string()).or_default()
    }
}

/// A status webhook waiting for the gateway.
struct StatusJob {
    wamid: String,
    tick: Tick,
    webhook: Value,
}

/// The demo's state and its status courier.
pub(crate) struct Demo {
    config: DemoConfig,
    signer: SignatureVerifier,
    http: reqwest::Client,
    state: Arc<Mutex<DemoState>>,
    statuses: mpsc::Sender<StatusJob>,
    /// The other channels' customer messages.
    channels: Mutex<channels::ChannelState>,
    ids: channels::Ids,
}

fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Demo {
    /// Start the status courier (in the current tokio runtime).
    pub(crate) fn start(config: DemoConfig) -> anyhow::Result<Arc<Demo>> {
        let signer = SignatureVerifier::new(config.app_secret.as_bytes())
            .map_err(|e| anyhow::anyhow!("app secret: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let state = Arc::new(Mutex::new(DemoState::default()));
        let (tx, rx) = mpsc::channel(STATUS_QUEUE);
        tokio::spawn(deliver_statuses(
            rx,
            http.clone(),
            signer.clone(),
            config.webhook_url.clone(),
            state.clone(),
        ));
        Ok(Arc::new(Demo {
            config,
            signer,
            http,
            state,
            statuses: tx,
            channels: Mutex::new(channels::ChannelState::default()),
            ids: channels::Ids::new(),
        }))
    }

    /// The fake accepted a message for a customer: Meta says `sent`.
    pub(crate) fn on_business_send(&self, send: &RecordedSend) {
        if send.is_read_receipt() || !send.accepted() {
            return;
        }
        if self.queue_status(send, Tick::Sent).is_err() {
            tracing::warn!("demo: status queue full, a sent status is dropped");
        }
    }

    /// Queue Meta's `tick` status for `send` unless it was queued already.
    fn queue_status(&self, send: &RecordedSend, tick: Tick) -> Result<bool, ApiError> {
        let Some(wamid) = send.wamid() else {
            return Ok(false);
        };
        let mut state = lock(&self.state);
        let ticks = state.ticks_mut(wamid);
        if ticks.requested.is_some_and(|r| r >= tick) {
            return Ok(false);
        }
        let Some(webhook) = meta_status(send, tick.as_str(), &self.config.display_phone_number)
        else {
            return Ok(false);
        };
        let job = StatusJob {
            wamid: wamid.to_string(),
            tick,
            webhook,
        };
        self.statuses
            .try_send(job)
            .map_err(|_| ApiError::Unavailable {
                retry_after_seconds: 1,
            })?;
        ticks.requested = Some(tick);
        Ok(true)
    }
}

/// One at a time, in order (`sent` before `delivered` before `read`), each retried like Meta.
async fn deliver_statuses(
    mut jobs: mpsc::Receiver<StatusJob>,
    http: reqwest::Client,
    signer: SignatureVerifier,
    url: String,
    state: Arc<Mutex<DemoState>>,
) {
    while let Some(job) = jobs.recv().await {
        let Ok(body) = serde_json::to_vec(&job.webhook) else {
            continue;
        };
        let url_at = |_| Some(url.clone());
        match post_signed(&http, &body, &signer, url_at, STATUS_ATTEMPTS, STATUS_PAUSE).await {
            Ok(()) => {
                let mut state = lock(&state);
                let ticks = state.ticks_mut(&job.wamid);
                ticks.acknowledged = ticks.acknowledged.max(Some(job.tick));
            }
            Err(error) => {
                tracing::warn!(wamid = %job.wamid, status = job.tick.as_str(), %error,
                    "demo: status webhook not delivered");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the page sends: checked, then shaped like Meta's webhook (pure).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub from: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub button: Option<Choice>,
    #[serde(default)]
    pub list: Option<Choice>,
    #[serde(default)]
    pub location: Option<Location>,
    /// An image the page first planted in the fake (`POST /_fake/media`), as Meta announces a
    /// customer's image: its media id, type and checksum.
    #[serde(default)]
    pub image: Option<Image>,
    /// The wamid of the business message this replies to (`context.id`).
    #[serde(default)]
    pub reply_to: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub id: String,
    pub mime_type: String,
    /// Base64 SHA-256 of the file, as webhooks carry it.
    pub sha256: String,
    #[serde(default)]
    pub caption: Option<String>,
}

/// A customer with a checked message, ready to become a webhook.
#[derive(Debug, PartialEq)]
pub struct CustomerInput {
    pub wa_id: String,
    pub name: String,
    /// `type` and its object, e.g. `{"type":"text","text":{"body":"hi"}}`.
    pub content: Value,
    pub reply_to: Option<String>,
}

fn bounded(what: &str, value: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if value.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    Ok(value.to_string())
}

fn optional(what: &str, value: Option<&str>, max: usize) -> Result<Option<String>, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => bounded(what, v, max).map(Some),
        None => Ok(None),
    }
}

/// Check what the page sent: a WhatsApp number (digits), a name, exactly one message.
pub fn check(request: &SendRequest) -> Result<CustomerInput, String> {
    let wa_id = request.from.trim().trim_start_matches('+');
    if !(6..=15).contains(&wa_id.len()) || !wa_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err("from must be a phone number of 6 to 15 digits".into());
    }
    let name = optional("name", request.name.as_deref(), 60)?
        .unwrap_or_else(|| "Demo customer".to_string());
    let given = [
        request.text.is_some(),
        request.button.is_some(),
        request.list.is_some(),
        request.location.is_some(),
        request.image.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 {
        return Err("give exactly one of text, button, list, location, image".into());
    }
    let content = if let Some(text) = &request.text {
        json!({"type": "text", "text": {"body": bounded("text", text, 4096)?}})
    } else if let Some(button) = &request.button {
        json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {
            "id": bounded("button.id", &button.id, 256)?,
            "title": bounded("button.title", &button.title, 20)?,
        }}})
    } else if let Some(list) = &request.list {
        let mut reply = json!({
            "id": bounded("list.id", &list.id, 200)?,
            "title": bounded("list.title", &list.title, 24)?,
        });
        if let Some(description) = optional("list.description", list.description.as_deref(), 72)? {
            reply["description"] = json!(description);
        }
        json!({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": reply}})
    } else if let Some(image) = &request.image {
        let id = bounded("image.id", &image.id, 64)?;
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err("image.id is a media id: digits".into());
        }
        if !matches!(image.mime_type.as_str(), "image/jpeg" | "image/png") {
            return Err("image.mime_type is image/jpeg or image/png (WhatsApp's images)".into());
        }
        let sha256 = bounded("image.sha256", &image.sha256, 64)?;
        let mut object = json!({"mime_type": image.mime_type, "sha256": sha256, "id": id});
        if let Some(caption) = optional("image.caption", image.caption.as_deref(), 1024)? {
            object["caption"] = json!(caption);
        }
        json!({"type": "image", "image": object})
    } else if let Some(place) = &request.location {
        let (lat, lon) = (place.latitude, place.longitude);
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err("location.latitude must be between -90 and 90".into());
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err("location.longitude must be between -180 and 180".into());
        }
        let mut location = json!({"latitude": lat, "longitude": lon});
        if let Some(name) = optional("location.name", place.name.as_deref(), 256)? {
            location["name"] = json!(name);
        }
        if let Some(address) = optional("location.address", place.address.as_deref(), 256)? {
            location["address"] = json!(address);
        }
        json!({"type": "location", "location": location})
    } else {
        return Err("give exactly one of text, button, list, location, image".into());
    };
    let reply_to = optional("reply_to", request.reply_to.as_deref(), 256)?;
    Ok(CustomerInput {
        wa_id: wa_id.to_string(),
        name,
        content,
        reply_to,
    })
}

/// The `messages[]` entry Meta builds for `input`, with a fresh `wamid` sent at `at`.
pub fn inbound_message(
    config: &DemoConfig,
    input: &CustomerInput,
    wamid: &str,
    at: DateTime<Utc>,
) -> Value {
    let mut message = input.content.clone();
    message["from"] = json!(input.wa_id);
    message["id"] = json!(wamid);
    message["timestamp"] = json!(at.timestamp().to_string());
    if let Some(reply_to) = &input.reply_to {
        message["context"] = json!({"from": config.display_phone_number, "id": reply_to});
    }
    message
}

/// The whole webhook Meta posts for one customer message.
pub fn inbound_webhook(config: &DemoConfig, name: &str, message: &Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": WABA_ID,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": config.display_phone_number,
                        "phone_number_id": config.phone_number_id,
                    },
                    "contacts": [{"profile": {"name": name}, "wa_id": message["from"]}],
                    "messages": [message],
                },
                "field": "messages",
            }],
        }],
    })
}

// ---------------------------------------------------------------------------------------------
// The conversation the page shows (pure).

/// A message the gateway sent the customer, as the fake recorded it.
#[derive(Clone, Debug)]
pub struct BusinessMessage {
    pub wamid: String,
    pub at: DateTime<Utc>,
    /// The Graph API request body.
    pub body: Value,
    /// The last status the gateway acknowledged.
    pub tick: Option<Tick>,
}

/// Both sides, oldest first. Business messages carry the status the gateway was told
/// (`pending` before Meta's `sent` reached it); customer messages `sending`, `delivered` (the
/// gateway took the webhook), `read` (a read receipt for it or a later message) or `failed`.
fn conversation(
    customer: &[CustomerMessage],
    business: &[BusinessMessage],
    read_receipts: &HashSet<String>,
) -> Vec<Value> {
    let last_read = customer
        .iter()
        .rposition(|m| read_receipts.contains(m.wamid()));
    let mut rows: Vec<(DateTime<Utc>, Value)> = Vec::new();
    for (i, m) in customer.iter().enumerate() {
        let (status, error) = match &m.delivery {
            Delivery::Sending => ("sending", None),
            Delivery::Failed(e) => ("failed", Some(e.clone())),
            Delivery::Delivered if last_read.is_some_and(|r| i <= r) => ("read", None),
            Delivery::Delivered => ("delivered", None),
        };
        let mut row = json!({
            "id": m.wamid(), "from": "customer", "at": m.at.to_rfc3339(),
            "message": m.message, "status": status,
        });
        if let Some(error) = error {
            row["error"] = json!(error);
        }
        rows.push((m.at, row));
    }
    for m in business {
        let status = m.tick.map(Tick::as_str).unwrap_or("pending");
        rows.push((
            m.at,
            json!({
                "id": m.wamid, "from": "business", "at": m.at.to_rfc3339(),
                "message": m.body, "status": status,
            }),
        ));
    }
    // Stable: at equal times a customer message stays before the answer it caused.
    rows.sort_by_key(|(at, _)| *at);
    rows.into_iter().map(|(_, row)| row).collect()
}

// ---------------------------------------------------------------------------------------------
// HTTP.

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/demo", web::get().to(index))
        .route("/_demo/demo.js", web::get().to(script))
        .route("/_demo/demo.css", web::get().to(stylesheet))
        .route("/_demo/config", web::get().to(demo_config))
        .route("/_demo/send", web::post().to(send))
        .route("/_demo/conversation", web::get().to(get_conversation))
        .route("/_demo/receipts", web::post().to(receipts))
        .configure(channels::routes);
}

fn enabled(shared: &Shared) -> Result<Arc<Demo>, ApiError> {
    shared.demo().ok_or_else(|| {
        ApiError::NotFound("the demo page is off (fake-graph turns it on)".to_string())
    })
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}

async fn index(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    enabled(&shared)?;
    Ok(asset("text/html; charset=utf-8", INDEX_HTML))
}

async fn script(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    enabled(&shared)?;
    Ok(asset("text/javascript; charset=utf-8", DEMO_JS))
}

async fn stylesheet(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    enabled(&shared)?;
    Ok(asset("text/css; charset=utf-8", DEMO_CSS))
}

async fn demo_config(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let demo = enabled(&shared)?;
    let c = &demo.config.channels;
    Ok(HttpResponse::Ok().json(json!({
        "display_phone_number": demo.config.display_phone_number,
        "phone_number_id": demo.config.phone_number_id,
        "webhook_url": demo.config.webhook_url,
        "channels": {
            "telegram": {"channel": c.telegram_channel,
                         "bot_id": c.telegram_bot_token.split(':').next().unwrap_or_default()},
            "messenger": {"page_id": c.messenger_page_id},
            "instagram": {"account_id": c.instagram_account_id},
            "x": {"account_id": c.x_account_id},
        },
    })))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))
}

async fn send(shared: web::Data<Shared>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let demo = enabled(&shared)?;
    let request: SendRequest = parse(&body)?;
    let input = check(&request).map_err(ApiError::BadRequest)?;
    let at = Utc::now();
    let wamid = format!("wamid.DEMO{}", uuid::Uuid::now_v7().simple());
    let message = inbound_message(&demo.config, &input, &wamid, at);
    let webhook = inbound_webhook(&demo.config, &input.name, &message);
    let bytes = serde_json::to_vec(&webhook).map_err(|e| ApiError::Internal(e.to_string()))?;
    {
        let mut state = lock(&demo.state);
        while state.customer.len() >= MAX_CUSTOMER_MESSAGES {
            state.customer.pop_front();
        }
        state.customer.push_back(CustomerMessage {
            wa_id: input.wa_id.clone(),
            at,
            message: message.clone(),
            delivery: Delivery::Sending,
        });
    }
    let url = demo.config.webhook_url.clone();
    let result = post_signed(
        &demo.http,
        &bytes,
        &demo.signer,
        |_| Some(url.clone()),
        SEND_ATTEMPTS,
        SEND_PAUSE,
    )
    .await;
    let delivery = match &result {
        Ok(()) => Delivery::Delivered,
        Err(e) => Delivery::Failed(e.clone()),
    };
    if let Some(m) = lock(&demo.state)
        .customer
        .iter_mut()
        .rev()
        .find(|m| m.wamid() == wamid)
    {
        m.delivery = delivery;
    }
    match result {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"id": wamid, "status": "delivered"}))),
        Err(error) => {
            tracing::warn!(%wamid, %error, "demo: the gateway did not take a customer message");
            Ok(
                HttpResponse::build(StatusCode::BAD_GATEWAY).json(json!({"error": {
                    "code": "webhook_not_delivered",
                    "message": format!("the gateway did not take the webhook: {error}"),
                }})),
            )
        }
    }
}

#[derive(Deserialize)]
struct ConversationQuery {
    wa_id: String,
}

async fn get_conversation(
    shared: web::Data<Shared>,
    query: web::Query<ConversationQuery>,
) -> Result<HttpResponse, ApiError> {
    let demo = enabled(&shared)?;
    let wa_id = query.wa_id.trim().trim_start_matches('+').to_string();
    let customer: Vec<CustomerMessage> = lock(&demo.state)
        .customer
        .iter()
        .filter(|m| m.wa_id == wa_id)
        .cloned()
        .collect();
    let wamids: HashSet<&str> = customer.iter().map(CustomerMessage::wamid).collect();
    let (mut business, read_receipts) = shared.with_requests(|requests| {
        let mut business = Vec::new();
        let mut read = HashSet::new();
        for r in requests {
            if r.is_read_receipt() {
                if let Some(id) = r.body.get("message_id").and_then(Value::as_str)
                    && wamids.contains(id)
                {
                    read.insert(id.to_string());
                }
            } else if r.to() == Some(wa_id.as_str())
                && let Some(wamid) = r.wamid()
            {
                business.push(BusinessMessage {
                    wamid: wamid.to_string(),
                    at: r.received_at,
                    body: r.body.clone(),
                    tick: None,
                });
            }
        }
        (business, read)
    });
    {
        let state = lock(&demo.state);
        for m in &mut business {
            m.tick = state.ticks.get(&m.wamid).and_then(|t| t.acknowledged);
        }
    }
    let messages = conversation(&customer, &business, &read_receipts);
    Ok(HttpResponse::Ok().json(json!({"wa_id": wa_id, "messages": messages})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptsRequest {
    wa_id: String,
    status: String,
    ids: Vec<String>,
}

async fn receipts(shared: web::Data<Shared>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let demo = enabled(&shared)?;
    let request: ReceiptsRequest = parse(&body)?;
    let tick = match request.status.as_str() {
        "delivered" => Tick::Delivered,
        "read" => Tick::Read,
        other => {
            return Err(ApiError::BadRequest(format!(
                "status must be delivered or read, not {other:?}"
            )));
        }
    };
    if request.ids.len() > MAX_RECEIPT_IDS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_RECEIPT_IDS} ids at once"
        )));
    }
    let wa_id = request.wa_id.trim().trim_start_matches('+');
    let wanted: HashSet<&str> = request.ids.iter().map(String::as_str).collect();
    let sends: Vec<RecordedSend> = shared.with_requests(|requests| {
        requests
            .iter()
            .filter(|r| r.accepted() && r.to() == Some(wa_id))
            .filter(|r| r.wamid().is_some_and(|id| wanted.contains(id)))
            .cloned()
            .collect()
    });
    let found: HashSet<&str> = sends.iter().filter_map(RecordedSend::wamid).collect();
    if let Some(missing) = wanted.iter().find(|id| !found.contains(**id)) {
        return Err(ApiError::NotFound(format!(
            "no message {missing} was sent to {wa_id}"
        )));
    }
    let mut queued = 0;
    for send in &sends {
        if demo.queue_status(send, tick)? {
            queued += 1;
        }
    }
    Ok(HttpResponse::Ok().json(json!({"queued": queued})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> Result<CustomerInput, String> {
        let request: SendRequest = serde_json::from_value(body).map_err(|e| e.to_string())?;
        check(&request)
    }

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/tests/fixtures/whatsapp/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The page's message as the webhook Meta would post, with the fixture's id and time.
    fn as_webhook(body: Value, like: &Value) -> Value {
        let input = request(body).expect("valid");
        let m = &like["entry"][0]["changes"][0]["value"]["messages"][0];
        let at = DateTime::from_timestamp(
            m["timestamp"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .expect("timestamp"),
            0,
        )
        .expect("time");
        let message = inbound_message(
            &DemoConfig::default(),
            &input,
            m["id"].as_str().expect("id"),
            at,
        );
        inbound_webhook(&DemoConfig::default(), &input.name, &message)
    }

    #[test]
    fn each_kind_of_message_is_shaped_exactly_like_metas_fixture() {
        let text = fixture("text_message");
        let built = as_webhook(
            json!({"from": "16505551234", "name": "Kerry Fisher", "text": "Hello, world!"}),
            &text,
        );
        // The fixture's one text message, with its profile name and body.
        let mut expected = text.clone();
        let value = &mut expected["entry"][0]["changes"][0]["value"];
        value["contacts"][0]["profile"]["name"] = json!("Kerry Fisher");
        value["messages"][0]["text"]["body"] = json!("Hello, world!");
        assert_eq!(built, expected);

        let button = fixture("interactive_button_reply_message");
        let m = &button["entry"][0]["changes"][0]["value"]["messages"][0];
        let built = as_webhook(
            json!({"from": "16505551234", "name": "Sheena Nelson",
                   "button": {"id": "cancel-button", "title": "Cancel"},
                   "reply_to": m["context"]["id"]}),
            &button,
        );
        assert_eq!(built, button);

        let list = fixture("interactive_list_reply_message");
        let lm = &list["entry"][0]["changes"][0]["value"]["messages"][0];
        let reply = &lm["interactive"]["list_reply"];
        let built = as_webhook(
            json!({"from": lm["from"], "name": list["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"],
                   "list": {"id": reply["id"], "title": reply["title"], "description": reply["description"]},
                   "reply_to": lm["context"]["id"]}),
            &list,
        );
        assert_eq!(
            built["entry"][0]["changes"][0]["value"]["messages"][0],
            lm.clone()
        );

        let location = fixture("location_message");
        let loc = &location["entry"][0]["changes"][0]["value"]["messages"][0]["location"];
        let built = as_webhook(
            json!({"from": "16505551234", "name": "Sheena Nelson",
                   "location": {"latitude": loc["latitude"], "longitude": loc["longitude"],
                                "name": loc["name"], "address": loc["address"]}}),
            &location,
        );
        let mut expected = location.clone();
        // The page has no `url` to share.
        if let Some(l) =
            expected["entry"][0]["changes"][0]["value"]["messages"][0]["location"].as_object_mut()
        {
            l.remove("url");
        }
        assert_eq!(built, expected);

        let image = fixture("image_message");
        let im = &image["entry"][0]["changes"][0]["value"]["messages"][0];
        let built = as_webhook(
            json!({"from": im["from"], "name": image["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"],
                   "image": {"id": im["image"]["id"], "mime_type": im["image"]["mime_type"],
                             "sha256": im["image"]["sha256"], "caption": im["image"]["caption"]}}),
            &image,
        );
        assert_eq!(
            built["entry"][0]["changes"][0]["value"]["messages"][0]["image"],
            im["image"]
        );
        assert_eq!(
            built["entry"][0]["changes"][0]["value"]["messages"][0]["type"],
            "image"
        );
        for bad in [
            json!({"id": "12ab", "mime_type": "image/png", "sha256": "x"}),
            json!({"id": "12", "mime_type": "image/gif", "sha256": "x"}),
            json!({"id": "12", "mime_type": "image/png", "sha256": ""}),
        ] {
            assert!(
                request(json!({"from": "16505551234", "image": bad})).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let cases = [
            (json!({"from": "12ab", "text": "hi"}), "6 to 15 digits"),
            (
                json!({"from": "1234567890123456", "text": "hi"}),
                "6 to 15 digits",
            ),
            (json!({"from": "16505551234"}), "exactly one"),
            (
                json!({"from": "16505551234", "text": "hi", "location": {"latitude": 1.0, "longitude": 2.0}}),
                "exactly one",
            ),
            (
                json!({"from": "16505551234", "text": "   "}),
                "text is empty",
            ),
            (
                json!({"from": "16505551234", "text": "x".repeat(4097)}),
                "longer than 4096",
            ),
            (
                json!({"from": "16505551234", "button": {"id": "a", "title": "x".repeat(21)}}),
                "button.title",
            ),
            (
                json!({"from": "16505551234", "location": {"latitude": 91.0, "longitude": 0.0}}),
                "latitude",
            ),
            (
                json!({"from": "16505551234", "location": {"latitude": 0.0, "longitude": -181.0}}),
                "longitude",
            ),
            (json!({"from": "16505551234", "txt": "hi"}), "unknown field"),
        ];
        for (body, reason) in cases {
            let error = request(body.clone()).expect_err("refused");
            assert!(error.contains(reason), "{body}: {error}");
        }
        let ok = request(json!({"from": "+34611122233", "text": " hola "})).expect("valid");
        assert_eq!(ok.wa_id, "34611122233");
        assert_eq!(ok.name, "Demo customer");
        assert_eq!(
            ok.content,
            json!({"type": "text", "text": {"body": "hola"}})
        );
    }

    fn customer(wamid: &str, secs: i64, delivery: Delivery) -> CustomerMessage {
        CustomerMessage {
            wa_id: "1".into(),
            at: DateTime::from_timestamp(secs, 0).expect("time"),
            message: json!({"id": wamid, "type": "text", "text": {"body": wamid}}),
            delivery,
        }
    }

    fn business(wamid: &str, secs: i64, tick: Option<Tick>) -> BusinessMessage {
        BusinessMessage {
            wamid: wamid.into(),
            at: DateTime::from_timestamp(secs, 0).expect("time"),
            body: json!({"type": "text", "text": {"body": wamid}}),
            tick,
        }
    }

    #[test]
    fn the_conversation_interleaves_both_sides_with_their_ticks() {
        let mine = [
            customer("c1", 10, Delivery::Delivered),
            customer("c2", 20, Delivery::Delivered),
            customer("c3", 30, Delivery::Delivered),
            customer("c4", 40, Delivery::Failed("HTTP 401".into())),
            customer("c5", 50, Delivery::Sending),
        ];
        let theirs = [
            business("b1", 10, Some(Tick::Read)),
            business("b2", 25, None),
            business("b3", 35, Some(Tick::Delivered)),
        ];
        // A read receipt for c2 reads c1 too (WhatsApp marks earlier messages read).
        let read: HashSet<String> = ["c2".to_string()].into();
        let rows = conversation(&mine, &theirs, &read);
        let seen: Vec<(String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap_or_default().to_string(),
                    r["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("c1", "read"),
            ("b1", "read"),
            ("c2", "read"),
            ("b2", "pending"),
            ("c3", "delivered"),
            ("b3", "delivered"),
            ("c4", "failed"),
            ("c5", "sending"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(seen, expected);
        assert_eq!(rows[6]["error"], "HTTP 401");
        assert_eq!(rows[0]["from"], "customer");
        assert_eq!(rows[1]["from"], "business");
    }

    #[test]
    fn ticks_kept_are_bounded() {
        let mut state = DemoState::default();
        for n in 0..MAX_TICKS + 5 {
            state.ticks_mut(&format!("w{n}")).requested = Some(Tick::Sent);
        }
        assert_eq!(state.ticks.len(), MAX_TICKS);
        assert!(!state.ticks.contains_key("w0"));
        assert!(state.ticks.contains_key(&format!("w{}", MAX_TICKS + 4)));
    }
}
