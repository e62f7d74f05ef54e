//! A fake Meta Graph API: a real actix-web HTTP server on 127.0.0.1 answering
//! `POST /{version}/{phone_number_id}/messages` like the Cloud API does, recording every request.
//!
//! It runs on its own thread with its own actix System, so [`FakeGraph::start`] works from a
//! plain binary, a `#[test]`, a `#[tokio::test]` or an `#[actix_web::test]`. Errors can be
//! scripted with [`FakeGraph::fail_next`]; `GET /_fake/requests` returns the recorded sends.
//!
//! Media like the Cloud API's: `POST /{version}/{phone_number_id}/media` (multipart `file`,
//! `type`, `messaging_product`) stores an upload and answers its id; `GET /{version}/{media_id}`
//! answers `{url, mime_type, sha256, file_size, id}`; the URL (`/_fake/media/{id}`) serves the
//! bytes to a request with a bearer token. Tests plant a customer's media with
//! [`FakeGraph::plant_media`], make its URL expire ([`FakeGraph::expire_media_url`]) or its id
//! unknown ([`FakeGraph::forget_media`]).
//! The same server also serves the fake business API ([`FakeBusiness`]) under `/business`.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::fakes::business::FakeBusiness;
use crate::fakes::demo::{self, Demo, DemoConfig};
use crate::fakes::messenger::{self, FakeMessenger};
use crate::fakes::telegram::{self, FakeTelegram};
use crate::fakes::x::{self, FakeX};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};

/// Requests kept for inspection; older ones are dropped first.
const MAX_RECORDED: usize = 200_000;

/// One request the fake received.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedSend {
    /// The API version path segment (`v23.0`).
    pub version: String,
    pub phone_number_id: String,
    /// The `Authorization` header as received.
    pub authorization: Option<String>,
    /// The JSON body (`null` when it was not JSON).
    pub body: Value,
    /// The endpoint posted to: `messages`, or `marketing_messages` (Meta's Marketing Messages
    /// API, marketing templates only).
    pub endpoint: String,
    /// A template's category (`marketing`, `utility`, `authentication`), for the `pricing` of
    /// its statuses; None for other messages.
    pub category: Option<String>,
    /// The HTTP status the fake answered with.
    pub status: u16,
    /// The JSON it answered (the message's `wamid` is at `messages[0].id`).
    pub answer: Value,
    /// Wall-clock receive time.
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// Monotonic receive time, for measuring gaps in tests.
    #[serde(skip)]
    pub received: Instant,
}

impl RecordedSend {
    /// The recipient (`to`, or a BSUID's `recipient`), absent for read receipts.
    pub fn to(&self) -> Option<&str> {
        self.body
            .get("to")
            .or_else(|| self.body.get("recipient"))
            .and_then(Value::as_str)
    }
    /// True for a read receipt / typing indicator.
    pub fn is_read_receipt(&self) -> bool {
        self.body.get("status").and_then(Value::as_str) == Some("read")
    }
    /// The `wamid` the fake gave an accepted message.
    pub fn wamid(&self) -> Option<&str> {
        self.answer
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
    }
    /// True when the fake accepted it.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Called with every request the fake answers, as it is answered (see [`FakeGraph::observe`]).
pub type Observer = Arc<dyn Fn(&RecordedSend) + Send + Sync>;

/// A scripted failure: the next `remaining` matching requests get this Graph error.
#[derive(Clone, Debug)]
struct FailRule {
    recipient: Option<String>,
    code: i64,
    http_status: u16,
    remaining: usize,
}

/// A media file the fake holds (uploaded, or planted as a customer's).
#[derive(Clone, Debug)]
pub struct FakeMedia {
    pub id: String,
    pub bytes: Vec<u8>,
    pub mime_type: String,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub filename: Option<String>,
    /// Its URL answers 404 (expired).
    pub url_expired: bool,
    /// Its id is unknown (`GET /{media-id}` answers Graph error 100).
    pub forgotten: bool,
}

impl FakeMedia {
    /// The checksum as Meta's webhooks carry it (base64 of the SHA-256).
    pub fn sha256_base64(&self) -> String {
        use base64::Engine as _;
        let raw = hex::decode(&self.sha256).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(raw)
    }
}

/// An upload the fake received (`POST /{phone_number_id}/media`).
#[derive(Clone, Debug, Serialize)]
pub struct RecordedUpload {
    pub phone_number_id: String,
    pub authorization: Option<String>,
    pub messaging_product: Option<String>,
    /// The `type` field.
    pub declared_type: Option<String>,
    pub filename: Option<String>,
    pub size: usize,
    pub sha256: String,
    pub status: u16,
    /// The media id given, when accepted.
    pub id: Option<String>,
}

/// A download of a media URL the fake answered.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedDownload {
    pub media_id: String,
    pub authorization: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    media: HashMap<String, FakeMedia>,
    uploads: Vec<RecordedUpload>,
    downloads: Vec<RecordedDownload>,
    requests: VecDeque<RecordedSend>,
    rules: Vec<FailRule>,
    latency: Duration,
    observers: Vec<Observer>,
    /// Requests kept for inspection (None: [`MAX_RECORDED`]).
    record_limit: Option<usize>,
    /// The demo customer page, once enabled.
    demo: Option<Arc<Demo>>,
    /// Page and Instagram account ids whose `/{version}/{id}/messages` is Messenger's Send
    /// API (served by the embedded [`FakeMessenger`]), not WhatsApp's.
    messenger_ids: std::collections::HashSet<String>,
    /// The message templates `GET /{version}/{waba_id}/message_templates` lists (None: the
    /// demo's, [`demo_templates`]).
    templates: Option<Vec<Value>>,
    /// Template listings answered (pages).
    template_listings: usize,
    /// The phone numbers' `whatsapp_business_manager_messaging_limit` (None: `TIER_UNLIMITED`).
    messaging_limit: Option<String>,
    /// Customers who stopped marketing from this business (Meta answers 131050 to marketing).
    stopped_marketing: std::collections::HashSet<String>,
    /// Numbers Meta cannot deliver to (131026 to anything).
    undeliverable: std::collections::HashSet<String>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    next_id: AtomicU64,
    /// Distinguishes wamids of fakes started in the same process.
    instance: String,
    /// `http://{addr}`: where media URLs point.
    base_url: String,
    /// The Messenger/Instagram Send API's state (dispatched to by id).
    messenger: web::Data<messenger::Shared>,
    /// The Bot API's and the DM API's state (the demo page reads their calls).
    telegram: web::Data<telegram::Shared>,
    x: web::Data<x::Shared>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a handler panicked mid-update; the data is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The demo page's state, when enabled.
    pub(crate) fn demo(&self) -> Option<Arc<Demo>> {
        self.lock().demo.clone()
    }

    /// Whether `id` is a Messenger page or Instagram account (not a WhatsApp number).
    fn is_messenger(&self, id: &str) -> bool {
        self.lock().messenger_ids.contains(id)
    }

    /// The Bot API calls, oldest first.
    pub(crate) fn telegram_calls(&self) -> Vec<telegram::RecordedCall> {
        self.telegram.recorded()
    }

    /// The Send API calls (Messenger's and Instagram's), oldest first.
    pub(crate) fn messenger_calls(&self) -> Vec<messenger::SendCall> {
        self.messenger.recorded()
    }

    /// The DM API calls, oldest first.
    pub(crate) fn x_calls(&self) -> Vec<x::SentDm> {
        self.x.recorded()
    }

    /// Look at the recorded requests (oldest first) under the lock.
    pub(crate) fn with_requests<R>(&self, f: impl FnOnce(&VecDeque<RecordedSend>) -> R) -> R {
        f(&self.lock().requests)
    }
}

/// A running fake Graph API. Stops its server (and joins its thread) when dropped.
pub struct FakeGraph {
    addr: SocketAddr,
    shared: Arc<Shared>,
    business: FakeBusiness,
    telegram: FakeTelegram,
    messenger: FakeMessenger,
    x: FakeX,
    server: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeGraph {
    /// Start on an ephemeral port of 127.0.0.1.
    ///
    /// # Panics
    /// If no local port can be bound or the server thread cannot start (test setup failure);
    /// use [`FakeGraph::start_on`] to handle that.
    pub fn start() -> FakeGraph {
        match Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))) {
            Ok(fake) => fake,
            Err(err) => panic!("fake graph: cannot start: {err}"),
        }
    }

    /// Replace the templates the fake lists (Meta's template objects: `id`, `name`,
    /// `language`, `category`, `status`, `components`...).
    pub fn set_templates(&self, templates: Vec<Value>) {
        self.shared.lock().templates = Some(templates);
    }

    /// The templates the fake lists now.
    pub fn templates(&self) -> Vec<Value> {
        self.shared
            .lock()
            .templates
            .clone()
            .unwrap_or_else(demo_templates)
    }

    /// The messaging limit tier every number answers (`TIER_250`, `TIER_2K`...).
    pub fn set_messaging_limit(&self, tier: &str) {
        self.shared.lock().messaging_limit = Some(tier.to_owned());
    }

    /// The customer stopped marketing messages from this business in WhatsApp: marketing
    /// templates to them are answered 131050 (Meta's campaign errors: a marketing template to a
    /// United States number is answered 131049 as well).
    pub fn stop_marketing(&self, wa_id: &str) {
        self.shared
            .lock()
            .stopped_marketing
            .insert(wa_id.to_owned());
    }

    /// Messages to this number are answered 131026 (undeliverable).
    pub fn set_undeliverable(&self, wa_id: &str) {
        self.shared.lock().undeliverable.insert(wa_id.to_owned());
    }

    /// How many pages of the template listing the fake answered.
    pub fn template_listings(&self) -> usize {
        self.shared.lock().template_listings
    }

    /// Start on `addr` (port 0 for an ephemeral port).
    pub fn start_on(addr: SocketAddr) -> io::Result<FakeGraph> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let telegram = FakeTelegram::embedded(addr);
        let messenger = FakeMessenger::embedded(addr);
        let x = FakeX::embedded(addr);
        let (telegram_data, messenger_data, x_data) = (telegram.data(), messenger.data(), x.data());
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
            instance: uuid::Uuid::now_v7().simple().to_string(),
            base_url: format!("http://{addr}"),
            messenger: messenger.data(),
            telegram: telegram.data(),
            x: x.data(),
        });
        let data = web::Data::from(shared.clone());
        let business = FakeBusiness::default();
        let business_state = business.clone();
        let (server, thread) = super::serve_on_thread("fake-graph", listener, 2, move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::JsonConfig::default().limit(1 << 20))
                .route("/_fake/requests", web::get().to(list_requests))
                .configure(demo::routes)
                // The other providers' APIs, before the Graph routes their paths could match.
                .configure(|cfg| telegram::configure(cfg, telegram_data.clone()))
                .configure(|cfg| x::configure(cfg, x_data.clone()))
                .configure(|cfg| messenger::configure(cfg, messenger_data.clone()))
                .service(business_state.service())
                .route("/_fake/media/{media_id}", web::get().to(media_download))
                .service(
                    web::resource("/_fake/media")
                        .app_data(web::PayloadConfig::new(PLANT_MAX))
                        .route(web::post().to(media_plant)),
                )
                .route(
                    "/{version}/{phone_number_id}/messages",
                    web::post().to(messages),
                )
                .route(
                    "/{version}/{phone_number_id}/marketing_messages",
                    web::post().to(messages),
                )
                .route(
                    "/{version}/{phone_number_id}/media",
                    web::post().to(media_upload),
                )
                .route(
                    "/{version}/{waba_id}/message_templates",
                    web::get().to(message_templates),
                )
                .route("/{version}/{media_id}", web::get().to(media_metadata));
        })?;
        tracing::info!(%addr, "fake graph: listening");
        Ok(FakeGraph {
            addr,
            shared,
            business,
            telegram,
            messenger,
            x,
            server: Some(server),
            thread: Some(thread),
        })
    }

    /// The fake business API served by the same server under `/business` (the demo bot's
    /// order tracking and booking endpoint).
    pub fn business(&self) -> &FakeBusiness {
        &self.business
    }

    /// `{base_url}/business`: what a bot's `apis.orders` should be.
    pub fn business_url(&self) -> String {
        format!("{}/business", self.base_url())
    }

    /// The Telegram Bot API served by the same server (`/bot<token>/<method>`): what
    /// `telegram.api_base_url` should be is [`base_url`](Self::base_url).
    pub fn telegram(&self) -> &FakeTelegram {
        &self.telegram
    }

    /// The Messenger/Instagram Send API served by the same server, for the ids given to
    /// [`serve_messenger_for`](Self::serve_messenger_for) (`/{version}/{id}/messages`), with
    /// the Attachment Upload API and the CDN.
    pub fn messenger(&self) -> &FakeMessenger {
        &self.messenger
    }

    /// X's DM API served by the same server (`/2/dm_conversations/with/{id}/messages`).
    pub fn x(&self) -> &FakeX {
        &self.x
    }

    /// Serve `POST /{version}/{id}/messages` for this page or Instagram account id as the
    /// Messenger Send API ([`messenger`](Self::messenger)) instead of WhatsApp's.
    pub fn serve_messenger_for(&self, id: &str) {
        self.shared.lock().messenger_ids.insert(id.to_string());
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}`: what `whatsapp.api_base_url` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, oldest first (failed ones included).
    pub fn requests(&self) -> Vec<RecordedSend> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// Bodies of the messages accepted for `recipient`, in the order received.
    pub fn messages_to(&self, recipient: &str) -> Vec<Value> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.accepted() && r.to() == Some(recipient))
            .map(|r| r.body.clone())
            .collect()
    }

    /// Forget recorded requests and scripted failures.
    pub fn clear(&self) {
        let mut state = self.shared.lock();
        state.requests.clear();
        state.rules.clear();
    }

    /// Wait until at least `n` requests were received; false on timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.lock().requests.len() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Answer the next `times` requests to `recipient` (any request when None) with a Graph
    /// error envelope carrying `code`, with HTTP status `http_status`.
    pub fn fail_next(&self, recipient: Option<&str>, code: i64, http_status: u16, times: usize) {
        self.shared.lock().rules.push(FailRule {
            recipient: recipient.map(str::to_string),
            code,
            http_status,
            remaining: times,
        });
    }

    /// Call `observer` with every request from now on, as it is answered, besides the
    /// observers already there (the load test measures when agents' replies arrive this way,
    /// without keeping every request; the status feed sends Meta's statuses).
    pub fn observe(&self, observer: impl Fn(&RecordedSend) + Send + Sync + 'static) {
        self.shared.lock().observers.push(Arc::new(observer));
    }

    /// Keep at most `limit` requests for [`requests`](Self::requests) (0: keep none), instead
    /// of the default 200,000.
    pub fn set_record_limit(&self, limit: usize) {
        let mut state = self.shared.lock();
        state.record_limit = Some(limit);
        while state.requests.len() > limit {
            state.requests.pop_front();
        }
    }

    /// Hold a customer's media file, as Meta does for one a webhook announces: its id and
    /// checksum go in the webhook, the gateway downloads it from here.
    pub fn plant_media(&self, bytes: &[u8], mime_type: &str) -> FakeMedia {
        let n = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let media = new_media(format!("{n}{:08}", 4_490_709), bytes, mime_type, None);
        self.shared
            .lock()
            .media
            .insert(media.id.clone(), media.clone());
        media
    }

    /// The media's URL answers 404 from now on, like one whose 5 minutes passed (a new URL
    /// from `GET /{media-id}` is just as dead).
    pub fn expire_media_url(&self, id: &str) {
        if let Some(m) = self.shared.lock().media.get_mut(id) {
            m.url_expired = true;
        }
    }

    /// The media's URL works again (as a fresh URL from `GET /{media-id}` would).
    pub fn renew_media_url(&self, id: &str) {
        if let Some(m) = self.shared.lock().media.get_mut(id) {
            m.url_expired = false;
        }
    }

    /// The media id is unknown from now on (`GET /{media-id}` answers Graph error 100).
    pub fn forget_media(&self, id: &str) {
        if let Some(m) = self.shared.lock().media.get_mut(id) {
            m.forgotten = true;
        }
    }

    /// A media file the fake holds (uploaded or planted).
    pub fn media(&self, id: &str) -> Option<FakeMedia> {
        self.shared.lock().media.get(id).cloned()
    }

    /// Uploads received, oldest first.
    pub fn uploads(&self) -> Vec<RecordedUpload> {
        self.shared.lock().uploads.clone()
    }

    /// Media URL downloads answered, oldest first.
    pub fn downloads(&self) -> Vec<RecordedDownload> {
        self.shared.lock().downloads.clone()
    }

    /// Serve the demo customer page at `/` (see [`crate::fakes::demo`]): the customer's
    /// messages become webhooks signed and posted to `config.webhook_url`, and every message
    /// this fake accepts gets Meta's `sent` status there, then `delivered` and `read` as the
    /// page shows them. Must be called in a tokio runtime (status webhooks are posted from it).
    pub fn enable_demo(&self, config: DemoConfig) -> anyhow::Result<()> {
        self.serve_messenger_for(&config.channels.messenger_page_id);
        self.serve_messenger_for(&config.channels.instagram_account_id);
        let demo = Demo::start(config)?;
        let tap = demo.clone();
        self.observe(move |send| tap.on_business_send(send));
        self.shared.lock().demo = Some(demo);
        Ok(())
    }

    /// Delay every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// Stop the server and wait for its thread (also done on drop).
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            // The stop command is sent when `stop` is called; its completion is not awaited.
            drop(server.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn list_requests(shared: web::Data<Shared>) -> HttpResponse {
    let requests: Vec<RecordedSend> = shared.lock().requests.iter().cloned().collect();
    HttpResponse::Ok().json(requests)
}

fn graph_error(http_status: u16, code: i64, message: &str, kind: &str) -> (u16, Value) {
    graph_error_detailed(http_status, code, message, message, kind)
}

fn graph_error_detailed(
    http_status: u16,
    code: i64,
    message: &str,
    details: &str,
    kind: &str,
) -> (u16, Value) {
    let body = json!({
        "error": {
            "message": format!("(#{code}) {message}"),
            "type": kind,
            "code": code,
            "error_data": { "messaging_product": "whatsapp", "details": details },
            "fbtrace_id": "AFakeGraphTrace",
            "is_transient": false,
        }
    });
    (http_status, body)
}

fn error_message(code: i64) -> &'static str {
    match code {
        131050 => "Unable to deliver the message: the user has stopped marketing messages",
        131049 => "This message was not delivered to maintain healthy ecosystem engagement",
        130429 => "Rate limit hit",
        131056 => "(Business Account, Consumer Account) pair rate limit hit",
        131026 => "Message Undeliverable",
        131047 => "Re-engagement message",
        131000 => "Something went wrong",
        131057 => "Account in maintenance mode",
        132000 => "Number of parameters does not match the expected number of params",
        132001 => "Template name does not exist in the translation",
        132015 => {
            "Template is paused due to low quality so it cannot be sent in a template message"
        }
        132016 => {
            "Template has been paused too many times due to low quality and is now permanently disabled"
        }
        190 => "Invalid OAuth access token",
        100 => "Invalid parameter",
        _ => "Scripted error",
    }
}

/// The demo's templates: a utility one in English (two locales) and Spanish, a marketing one in
/// English (named parameters) and Spanish, an authentication one, and a marketing one still
/// pending review.
pub fn demo_templates() -> Vec<Value> {
    let body = |text: &str| json!({"type": "BODY", "text": text});
    vec![
        json!({"id": "1000000000000001", "name": "parcel_update", "language": "en_US",
               "category": "UTILITY", "status": "APPROVED", "parameter_format": "POSITIONAL",
               "components": [body("Your parcel {{1}} is on its way.")]}),
        json!({"id": "1000000000000002", "name": "parcel_update", "language": "en",
               "category": "UTILITY", "status": "APPROVED", "parameter_format": "POSITIONAL",
               "components": [body("Your parcel {{1}} is on its way.")]}),
        json!({"id": "1000000000000003", "name": "parcel_pending", "language": "es",
               "category": "UTILITY", "status": "APPROVED", "parameter_format": "POSITIONAL",
               "components": [body("Tu paquete te espera en la tienda.")]}),
        json!({"id": "1000000000000004", "name": "spring_sale", "language": "en_US",
        "category": "MARKETING", "status": "APPROVED", "parameter_format": "NAMED",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Spring sale"},
            body("Hi {{first_name}}, everything is 20% off this week."),
            {"type": "FOOTER", "text": "Not interested? Tap Stop promotions"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]}
        ]}),
        json!({"id": "1000000000000005", "name": "oferta_primavera", "language": "es",
               "category": "MARKETING", "status": "APPROVED", "parameter_format": "NAMED",
               "components": [body("Hola {{first_name}}, todo con un 20% de descuento esta semana.")]}),
        json!({"id": "1000000000000006", "name": "login_code", "language": "en_US",
               "category": "AUTHENTICATION", "status": "APPROVED", "parameter_format": "POSITIONAL",
               "components": [body("{{1}} is your verification code."),
                              {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}]}),
        json!({"id": "1000000000000007", "name": "winter_sale", "language": "en_US",
               "category": "MARKETING", "status": "PENDING", "parameter_format": "NAMED",
               "components": [body("Hi {{first_name}}, winter is coming.")]}),
    ]
}

/// Meta's checks of a template message (`type: template`), against the templates the fake
/// lists: the name must exist in that language (132001), be approved (paused: 132015,
/// disabled: 132016, anything else: 132001), and get exactly the parameters its header, body
/// and buttons take (132000). None for any other message, or a template that passes.
fn template_refusal(shared: &Shared, body: &Value, marketing_api: bool) -> Option<(u16, Value)> {
    if body.get("type").and_then(Value::as_str) != Some("template") {
        return None;
    }
    let components = body
        .pointer("/template/components")
        .cloned()
        .unwrap_or(Value::Null);
    let template = template_of(shared, body);
    let refuse = |code: i64| {
        Some(graph_error(
            400,
            code,
            error_message(code),
            "OAuthException",
        ))
    };
    let Some(template) = template else {
        return refuse(132001);
    };
    match template.status.as_str() {
        crate::campaigns::templates::APPROVED => {}
        "PAUSED" => return refuse(132015),
        "DISABLED" => return refuse(132016),
        _ => return refuse(132001),
    }
    if marketing_api && template.category != crate::campaigns::templates::Category::Marketing {
        return Some(graph_error(
            400,
            100,
            "(#100) The Marketing Messages API sends marketing templates only",
            "OAuthException",
        ));
    }
    let mismatch = crate::campaigns::compose::sent_mismatch(&template, &components)?;
    Some(graph_error_detailed(
        400,
        132000,
        error_message(132000),
        &format!("number of parameters does not match the template: {mismatch}"),
        "OAuthException",
    ))
}

/// The listed template a template message names (by name and language), when there is one.
fn template_of(shared: &Shared, body: &Value) -> Option<crate::campaigns::templates::Template> {
    if body.get("type").and_then(Value::as_str) != Some("template") {
        return None;
    }
    let sent = body.get("template");
    let name = sent.and_then(|t| t.get("name")).and_then(Value::as_str);
    let language = sent
        .and_then(|t| t.pointer("/language/code"))
        .and_then(Value::as_str);
    let listed = {
        let state = shared.lock();
        state.templates.clone().unwrap_or_else(demo_templates)
    };
    let found = listed.into_iter().find(|t| {
        t.get("name").and_then(Value::as_str) == name
            && t.get("language").and_then(Value::as_str) == language
    })?;
    crate::campaigns::templates::parse_listing("fake", &json!({"data": [found]}), 0)
        .and_then(|page| page.templates.into_iter().next())
}

/// Meta's campaign errors: 131026 to an undeliverable number; for a marketing template,
/// 131049 to a United States number (Meta's pause of marketing there) and 131050 to a customer
/// who stopped marketing from this business.
fn campaign_refusal(shared: &Shared, body: &Value, to: Option<&str>) -> Option<(u16, Value)> {
    let to = to?;
    let refuse = |code: i64| {
        Some(graph_error(
            400,
            code,
            error_message(code),
            "OAuthException",
        ))
    };
    if shared.lock().undeliverable.contains(to) {
        return refuse(131026);
    }
    let template = template_of(shared, body)?;
    if template.category != crate::campaigns::templates::Category::Marketing {
        return None;
    }
    if crate::crm::contact::country_of(to).as_deref() == Some("US") {
        return refuse(131049);
    }
    if shared.lock().stopped_marketing.contains(to) {
        return refuse(131050);
    }
    None
}

/// Templates per page when the request names no `limit`.
const TEMPLATE_PAGE: usize = 3;

/// `GET /{version}/{waba_id}/message_templates?limit=&after=`: the templates, paged like
/// Graph (`paging.cursors`, `paging.next` while more remain).
async fn message_templates(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<HashMap<String, String>>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let (version, waba_id) = path.into_inner();
    if !has_bearer(bearer(&req).as_deref()) {
        let (status, body) = graph_error(401, 190, error_message(190), "OAuthException");
        return answer(status, body);
    }
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(TEMPLATE_PAGE);
    let start = query
        .get("after")
        .and_then(|c| c.strip_prefix("cursor-"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let (templates, total) = {
        let mut state = shared.lock();
        state.template_listings += 1;
        let all = state.templates.clone().unwrap_or_else(demo_templates);
        let total = all.len();
        (
            all.into_iter().skip(start).take(limit).collect::<Vec<_>>(),
            total,
        )
    };
    let end = start + templates.len();
    let mut paging =
        json!({"cursors": {"before": format!("cursor-{start}"), "after": format!("cursor-{end}")}});
    if end < total {
        paging["next"] = json!(format!(
            "{}/{version}/{waba_id}/message_templates?limit={limit}&after=cursor-{end}",
            shared.base_url
        ));
    }
    HttpResponse::Ok().json(json!({"data": templates, "paging": paging}))
}

async fn messages(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let received = Instant::now();
    let received_at = chrono::Utc::now();
    let (version, phone_number_id) = path.into_inner();
    let authorization = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if shared.is_messenger(&phone_number_id) {
        return match serde_json::from_slice::<Value>(&body) {
            Ok(body) => {
                messenger::record_send(&shared.messenger, phone_number_id, authorization, body)
            }
            Err(e) => HttpResponse::BadRequest().json(json!({"error": {
                "message": format!("(#100) invalid JSON: {e}"), "type": "OAuthException", "code": 100,
            }})),
        };
    }
    let marketing_api = req.path().ends_with("/marketing_messages");
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    let to = json_body
        .as_ref()
        .and_then(|b| b.get("to").or_else(|| b.get("recipient")))
        .and_then(Value::as_str)
        .map(str::to_string);

    let latency = shared.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let has_token = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| !t.trim().is_empty());
    let (status, answer) = if !has_token {
        graph_error(401, 190, error_message(190), "OAuthException")
    } else if let Some(scripted) = take_rule(&shared, to.as_deref()) {
        graph_error(
            scripted.http_status,
            scripted.code,
            error_message(scripted.code),
            "OAuthException",
        )
    } else {
        match &json_body {
            Some(b) if b.get("messaging_product").and_then(Value::as_str) == Some("whatsapp") => {
                if b.get("status").and_then(Value::as_str) == Some("read") {
                    if b.get("message_id").and_then(Value::as_str).is_some() {
                        (200, json!({ "success": true }))
                    } else {
                        graph_error(400, 100, "message_id is required", "OAuthException")
                    }
                } else if marketing_api && b.get("type").and_then(Value::as_str) != Some("template")
                {
                    graph_error(
                        400,
                        100,
                        "(#100) The Marketing Messages API sends templates only",
                        "OAuthException",
                    )
                } else if let Some(refused) = template_refusal(&shared, b, marketing_api) {
                    refused
                } else if let Some(refused) = campaign_refusal(&shared, b, to.as_deref()) {
                    refused
                } else if let Some(to) = &to {
                    let n = shared.next_id.fetch_add(1, Ordering::Relaxed);
                    let id = format!("wamid.FAKE{}{n:010}", shared.instance);
                    (
                        200,
                        json!({
                            "messaging_product": "whatsapp",
                            "contacts": [{ "input": to, "wa_id": to }],
                            "messages": [{ "id": id }],
                        }),
                    )
                } else {
                    graph_error(400, 100, "The parameter to is required", "OAuthException")
                }
            }
            _ => graph_error(400, 100, error_message(100), "OAuthException"),
        }
    };

    let recorded_body = json_body.unwrap_or(Value::Null);
    let category =
        template_of(&shared, &recorded_body).map(|t| t.category.as_str().to_ascii_lowercase());
    log_request(&phone_number_id, status, &recorded_body);
    let record = RecordedSend {
        version,
        phone_number_id,
        authorization,
        body: recorded_body,
        endpoint: if marketing_api {
            "marketing_messages".into()
        } else {
            "messages".into()
        },
        category,
        status,
        answer: answer.clone(),
        received_at,
        received,
    };
    let observers = shared.lock().observers.clone();
    for observer in &observers {
        observer(&record);
    }
    {
        let mut state = shared.lock();
        let limit = state.record_limit.unwrap_or(MAX_RECORDED);
        if limit > 0 {
            while state.requests.len() >= limit {
                state.requests.pop_front();
            }
            state.requests.push_back(record);
        }
    }
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(answer)
}

fn new_media(id: String, bytes: &[u8], mime_type: &str, filename: Option<String>) -> FakeMedia {
    use sha2::Digest;
    FakeMedia {
        id,
        bytes: bytes.to_vec(),
        mime_type: mime_type.to_string(),
        sha256: hex::encode(sha2::Sha256::digest(bytes)),
        filename,
        url_expired: false,
        forgotten: false,
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn has_bearer(authorization: Option<&str>) -> bool {
    authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| !t.trim().is_empty())
}

fn answer(status: u16, body: Value) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(body)
}

/// Largest file planted over HTTP (`POST /_fake/media`).
const PLANT_MAX: usize = 16 * 1024 * 1024;

/// `POST /_fake/media` (the file as the body, its type as `Content-Type`): hold a customer's
/// file like [`FakeGraph::plant_media`]; answers `{id, mime_type, sha256}` (`sha256` in base64,
/// as webhooks carry it), for a demo page that sends a customer's image.
async fn media_plant(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let mime_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    if body.is_empty() {
        let (s, b) = graph_error(400, 100, "empty file", "OAuthException");
        return answer(s, b);
    }
    let n = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let media = new_media(format!("{n}{:08}", 4_490_709), &body, &mime_type, None);
    let view =
        json!({ "id": media.id, "mime_type": media.mime_type, "sha256": media.sha256_base64() });
    shared.lock().media.insert(media.id.clone(), media);
    answer(200, view)
}

/// Largest upload the fake reads (Meta's largest media, a document, is 100 MB).
const MAX_UPLOAD: usize = 100 * 1024 * 1024;

/// `POST /{version}/{phone_number_id}/media`: multipart `file`, `type`, `messaging_product`.
async fn media_upload(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    mut payload: actix_multipart::Multipart,
    shared: web::Data<Shared>,
) -> HttpResponse {
    use futures::TryStreamExt;
    let (_version, phone_number_id) = path.into_inner();
    let authorization = bearer(&req);
    let mut file: Option<(Vec<u8>, Option<String>, Option<String>)> = None;
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut malformed = None;
    loop {
        let mut field = match payload.try_next().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                malformed = Some(e.to_string());
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_string);
        let part_type = field.content_type().map(|m| m.essence_str().to_string());
        let mut buf = Vec::new();
        loop {
            match field.try_next().await {
                Ok(Some(chunk)) if buf.len() + chunk.len() <= MAX_UPLOAD => {
                    buf.extend_from_slice(&chunk)
                }
                Ok(Some(_)) => {
                    malformed = Some("file too large".into());
                    break;
                }
                Ok(None) => break,
                Err(e) => {
                    malformed = Some(e.to_string());
                    break;
                }
            }
        }
        if name == "file" {
            file = Some((buf, filename, part_type));
        } else {
            fields.insert(name, String::from_utf8_lossy(&buf).into_owned());
        }
    }
    let declared_type = fields.get("type").cloned();
    let messaging_product = fields.get("messaging_product").cloned();
    let (status, body, id) = if !has_bearer(authorization.as_deref()) {
        let (s, b) = graph_error(401, 190, error_message(190), "OAuthException");
        (s, b, None)
    } else if let Some(scripted) = take_rule(&shared, None) {
        let (s, b) = graph_error(
            scripted.http_status,
            scripted.code,
            error_message(scripted.code),
            "OAuthException",
        );
        (s, b, None)
    } else if let Some(problem) = malformed {
        let (s, b) = graph_error(400, 100, &problem, "OAuthException");
        (s, b, None)
    } else if messaging_product.as_deref() != Some("whatsapp") {
        let (s, b) = graph_error(400, 100, "messaging_product is required", "OAuthException");
        (s, b, None)
    } else {
        match (&file, &declared_type) {
            (Some((bytes, filename, _)), Some(kind)) if !bytes.is_empty() => {
                let n = shared.next_id.fetch_add(1, Ordering::Relaxed);
                let media = new_media(
                    format!("{n}{:08}", 1_180_225),
                    bytes,
                    kind,
                    filename.clone(),
                );
                let id = media.id.clone();
                shared.lock().media.insert(id.clone(), media);
                (200, json!({ "id": id }), Some(id))
            }
            _ => {
                let (s, b) = graph_error(400, 100, "file and type are required", "OAuthException");
                (s, b, None)
            }
        }
    };
    let (size, sha256, filename) = match &file {
        Some((bytes, filename, _)) => {
            use sha2::Digest;
            (
                bytes.len(),
                hex::encode(sha2::Sha256::digest(bytes)),
                filename.clone(),
            )
        }
        None => (0, String::new(), None),
    };
    tracing::info!(phone_number_id, status, size, "fake graph: media upload");
    shared.lock().uploads.push(RecordedUpload {
        phone_number_id,
        authorization,
        messaging_product,
        declared_type,
        filename,
        size,
        sha256,
        status,
        id,
    });
    answer(status, body)
}

/// `GET /{version}/{media_id}`: where the media is (a URL on this fake); with `fields=
/// whatsapp_business_manager_messaging_limit`, a phone number's messaging limit tier.
async fn media_metadata(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let (_version, media_id) = path.into_inner();
    if !has_bearer(bearer(&req).as_deref()) {
        let (s, b) = graph_error(401, 190, error_message(190), "OAuthException");
        return answer(s, b);
    }
    // `GET /{phone-number-id}?fields=whatsapp_business_manager_messaging_limit`: a number's
    // fields (the same path as a media id's).
    if req
        .query_string()
        .contains("whatsapp_business_manager_messaging_limit")
    {
        let tier = shared
            .lock()
            .messaging_limit
            .clone()
            .unwrap_or_else(|| "TIER_UNLIMITED".into());
        return answer(
            200,
            json!({"whatsapp_business_manager_messaging_limit": tier, "id": media_id}),
        );
    }
    let found = shared.lock().media.get(&media_id).cloned();
    match found {
        Some(m) if !m.forgotten => answer(
            200,
            json!({
                "messaging_product": "whatsapp",
                "url": format!("{}/_fake/media/{}?ext=1&hash=fake", shared.base_url, m.id),
                "mime_type": m.mime_type,
                "sha256": m.sha256,
                "file_size": m.bytes.len(),
                "id": m.id,
            }),
        ),
        _ => {
            let (s, b) = graph_error(
                400,
                100,
                &format!("Unsupported get request. Object with ID '{media_id}' does not exist"),
                "GraphMethodException",
            );
            answer(s, b)
        }
    }
}

/// `GET /_fake/media/{media_id}`: the bytes, to a request with a bearer token.
async fn media_download(
    req: HttpRequest,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let media_id = path.into_inner();
    let authorization = bearer(&req);
    let found = shared.lock().media.get(&media_id).cloned();
    let response = match found {
        _ if !has_bearer(authorization.as_deref()) => HttpResponse::Unauthorized().finish(),
        Some(m) if !m.url_expired && !m.forgotten => HttpResponse::Ok()
            .content_type(m.mime_type.clone())
            .body(m.bytes),
        _ => HttpResponse::NotFound().finish(),
    };
    shared.lock().downloads.push(RecordedDownload {
        media_id,
        authorization,
        status: response.status().as_u16(),
    });
    response
}

/// Consume one use of the first rule matching `to`.
fn take_rule(shared: &Shared, to: Option<&str>) -> Option<FailRule> {
    let mut state = shared.lock();
    let index = state.rules.iter().position(|r| {
        r.remaining > 0 && r.recipient.as_deref().is_none_or(|want| Some(want) == to)
    })?;
    let rule = &mut state.rules[index];
    rule.remaining -= 1;
    let taken = rule.clone();
    if rule.remaining == 0 {
        state.rules.remove(index);
    }
    Some(taken)
}

/// One info line per request: what the bot "said", for the README demo.
fn log_request(phone_number_id: &str, status: u16, body: &Value) {
    let to = body.get("to").and_then(Value::as_str).unwrap_or("-");
    if body.get("status").and_then(Value::as_str) == Some("read") {
        let message_id = body
            .get("message_id")
            .and_then(Value::as_str)
            .unwrap_or("-");
        tracing::info!(
            phone_number_id,
            status,
            message_id,
            "fake graph: read receipt"
        );
        return;
    }
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("-");
    let text = summary(body);
    tracing::info!(phone_number_id, to, status, kind, text = %text, "fake graph: message");
}

/// A one-line rendering of a message body.
fn summary(body: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    match body.get("type").and_then(Value::as_str) {
        Some("text") => s(&body["text"]["body"]),
        Some("interactive") => {
            let i = &body["interactive"];
            let mut out = s(&i["body"]["text"]);
            let options: Vec<String> = match i["type"].as_str() {
                Some("button") => i["action"]["buttons"]
                    .as_array()
                    .map(|b| b.iter().map(|b| s(&b["reply"]["title"])).collect())
                    .unwrap_or_default(),
                Some("list") => i["action"]["sections"]
                    .as_array()
                    .map(|sections| {
                        sections
                            .iter()
                            .filter_map(|sec| sec["rows"].as_array())
                            .flatten()
                            .map(|r| s(&r["title"]))
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            if !options.is_empty() {
                out.push_str(" [");
                out.push_str(&options.join(" | "));
                out.push(']');
            }
            out
        }
        Some("template") => format!("template {}", s(&body["template"]["name"])),
        Some(kind) => {
            let media = &body[kind];
            let what = media
                .get("link")
                .or_else(|| media.get("id"))
                .map(s)
                .unwrap_or_default();
            format!("{kind} {what}")
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(
        client: &reqwest::Client,
        url: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut req = client.post(url).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("json"))
    }

    fn text(to: &str, body: &str) -> Value {
        json!({"messaging_product":"whatsapp","recipient_type":"individual","to":to,
               "type":"text","text":{"body":body,"preview_url":false}})
    }

    /// One port serves every provider's API the demo's channels call, each recorded by its
    /// fake; WhatsApp's and Messenger's `/{version}/{id}/messages` are told apart by the id.
    #[actix_web::test]
    async fn serves_the_bot_api_the_send_api_and_the_dm_api_too() {
        let fake = FakeGraph::start();
        let http = reqwest::Client::new();
        let base = fake.base_url();

        let (status, body) = post(
            &http,
            &format!("{base}/bot123456789:secret/sendMessage"),
            None,
            json!({"chat_id": 7001, "text": "hello"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ok"], true);
        assert_eq!(body["result"]["chat"]["id"], 7001);
        assert_eq!(fake.telegram().texts_to(7001), ["hello"]);
        let (_, body) = post(
            &http,
            &format!("{base}/bot123456789:secret/answerCallbackQuery"),
            None,
            json!({"callback_query_id": "1"}),
        )
        .await;
        assert_eq!(body, json!({"ok": true, "result": true}));

        fake.serve_messenger_for("1234567890");
        let (status, body) = post(
            &http,
            &format!("{base}/v23.0/1234567890/messages"),
            Some("page-token"),
            json!({"recipient": {"id": "42"}, "messaging_type": "RESPONSE",
                   "message": {"text": "hi from the page"}}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["recipient_id"], "42");
        assert!(
            body["message_id"]
                .as_str()
                .is_some_and(|m| m.starts_with("m_"))
        );
        assert_eq!(fake.messenger().texts_to("42"), ["hi from the page"]);
        assert_eq!(
            fake.messenger().calls()[0].authorization.as_deref(),
            Some("Bearer page-token")
        );
        // The upload API answers too (multipart).
        let form = reqwest::multipart::Form::new()
            .text(
                "message",
                r#"{"attachment":{"type":"image","payload":{"is_reusable":true}}}"#,
            )
            .part(
                "filedata",
                reqwest::multipart::Part::bytes(vec![1, 2, 3]).file_name("a.png"),
            );
        let upload = http
            .post(format!("{base}/v23.0/1234567890/message_attachments"))
            .multipart(form)
            .send()
            .await
            .expect("request");
        assert_eq!(upload.status().as_u16(), 200);
        assert_eq!(fake.messenger().uploads().len(), 1);

        let (status, body) = post(
            &http,
            &format!("{base}/2/dm_conversations/with/42/messages"),
            Some("x-token"),
            json!({"text": "hi on X"}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert!(body["data"]["dm_event_id"].as_str().is_some());
        assert_eq!(fake.x().texts_to("42"), ["hi on X"]);

        // WhatsApp's numbers are still WhatsApp's; nothing of the others is recorded there.
        let (status, body) = post(
            &http,
            &format!("{base}/v23.0/106540352242922/messages"),
            Some("tok"),
            text("15550001", "hi"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["messaging_product"], "whatsapp");
        assert_eq!(fake.requests().len(), 1);
        assert_eq!(fake.messenger().calls().len(), 1);
    }

    #[actix_web::test]
    async fn answers_like_graph_and_records() {
        let fake = FakeGraph::start();
        let http = reqwest::Client::new();
        let url = format!("{}/v23.0/111/messages", fake.base_url());

        let (status, body) = post(&http, &url, Some("tok"), text("15550001", "hi")).await;
        assert_eq!(status, 200);
        assert_eq!(body["messaging_product"], "whatsapp");
        assert_eq!(body["contacts"][0]["wa_id"], "15550001");
        let id1 = body["messages"][0]["id"].as_str().expect("id").to_string();
        assert!(id1.starts_with("wamid."));

        let (_, body) = post(&http, &url, Some("tok"), text("15550001", "again")).await;
        assert_ne!(body["messages"][0]["id"].as_str(), Some(id1.as_str()));

        let read = json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.X"});
        let (status, body) = post(&http, &url, Some("tok"), read).await;
        assert_eq!((status, body), (200, json!({"success": true})));

        let (status, body) = post(&http, &url, None, text("15550001", "no token")).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], 190);

        assert!(fake.wait_for(4, Duration::from_secs(1)).await);
        let requests = fake.requests();
        assert_eq!(requests.len(), 4);
        assert_eq!(requests[0].phone_number_id, "111");
        assert_eq!(requests[0].version, "v23.0");
        assert_eq!(requests[0].authorization.as_deref(), Some("Bearer tok"));
        let bodies = fake.messages_to("15550001");
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[1]["text"]["body"], "again");

        let listed: Value = http
            .get(format!("{}/_fake/requests", fake.base_url()))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(listed.as_array().map(Vec::len), Some(4));
        assert_eq!(listed[0]["body"]["text"]["body"], "hi");
    }

    fn template(name: &str, language: &str, components: Value) -> Value {
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "A",
               "type": "template",
               "template": {"name": name, "language": {"code": language}, "components": components}})
    }

    /// A template message is checked like Meta checks it: the name in that language, its
    /// status, and as many parameters as its header, body and buttons take.
    #[tokio::test]
    async fn template_sends_are_checked_like_meta() {
        let fake = FakeGraph::start();
        let http = reqwest::Client::new();
        let url = format!("{}/v23.0/111/messages", fake.base_url());
        let send = |name: &str, language: &str, components: Value| {
            post(&http, &url, Some("t"), template(name, language, components))
        };
        let code = |(status, body): (u16, Value)| {
            assert_eq!(status, 400, "{body}");
            body["error"]["code"].as_i64().unwrap_or_default()
        };
        let body =
            |text: &str| json!([{"type": "body", "parameters": [{"type": "text", "text": text}]}]);
        let (status, answer) = send("parcel_update", "en_US", body("PX-1")).await;
        assert_eq!(status, 200, "{answer}");
        let (status, answer) = send("parcel_pending", "es", Value::Null).await;
        assert_eq!(status, 200, "{answer}");
        // The wrong language, an unknown name, one still pending.
        for (name, language) in [
            ("parcel_update", "fr"),
            ("nope", "en_US"),
            ("winter_sale", "en_US"),
        ] {
            assert_eq!(code(send(name, language, json!([])).await), 132001);
        }
        // Too few, too many, a stray button.
        let (_, answer) = send("parcel_update", "en_US", json!([])).await;
        assert_eq!(
            answer["error"]["message"],
            "(#132000) Number of parameters does not match the expected number of params"
        );
        assert!(
            answer["error"]["error_data"]["details"]
                .as_str()
                .is_some_and(|d| d.contains("body: expected 1, got 0")),
            "{answer}"
        );
        let two = json!([{"type": "body", "parameters": [
            {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]);
        let mut stray = body("PX");
        if let Some(components) = stray.as_array_mut() {
            components.push(json!({"type": "button", "sub_type": "url", "index": "0",
                                   "parameters": [{"type": "text", "text": "x"}]}));
        }
        for components in [json!([]), two, stray] {
            assert_eq!(
                code(send("parcel_update", "en_US", components).await),
                132000
            );
        }
        // Paused and disabled templates.
        let mut listed = demo_templates();
        listed[0]["status"] = json!("PAUSED");
        listed[1]["status"] = json!("DISABLED");
        fake.set_templates(listed);
        assert_eq!(
            code(send("parcel_update", "en_US", body("PX")).await),
            132015
        );
        assert_eq!(code(send("parcel_update", "en", body("PX")).await), 132016);
        assert_eq!(fake.messages_to("A").len(), 2, "only the good ones");
    }

    #[tokio::test]
    async fn scripted_failures_match_recipient_and_count() {
        let fake = FakeGraph::start();
        let http = reqwest::Client::new();
        let url = format!("{}/v23.0/111/messages", fake.base_url());
        fake.fail_next(Some("A"), 131056, 400, 2);

        let (status, body) = post(&http, &url, Some("t"), text("B", "b")).await;
        assert_eq!(status, 200, "{body}");
        for _ in 0..2 {
            let (status, body) = post(&http, &url, Some("t"), text("A", "a")).await;
            assert_eq!(status, 400);
            assert_eq!(body["error"]["code"], 131056);
            assert!(body["error"]["fbtrace_id"].is_string());
        }
        let (status, _) = post(&http, &url, Some("t"), text("A", "a")).await;
        assert_eq!(status, 200);
        assert_eq!(fake.messages_to("A").len(), 1);
        assert_eq!(fake.requests().len(), 4);
    }

    #[tokio::test]
    async fn observer_sees_every_request_and_the_record_limit_holds() {
        let fake = FakeGraph::start();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tap = seen.clone();
        fake.observe(move |r| {
            if let Ok(mut seen) = tap.lock() {
                seen.push((r.to().map(str::to_string), r.status));
            }
        });
        fake.set_record_limit(2);
        let http = reqwest::Client::new();
        let url = format!("{}/v23.0/111/messages", fake.base_url());
        for n in 0..3 {
            let (status, _) = post(&http, &url, Some("t"), text(&format!("C{n}"), "x")).await;
            assert_eq!(status, 200);
        }
        let (status, _) = post(&http, &url, None, text("C9", "no token")).await;
        assert_eq!(status, 401);
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let expected: Vec<(Option<String>, u16)> = vec![
            (Some("C0".into()), 200),
            (Some("C1".into()), 200),
            (Some("C2".into()), 200),
            (Some("C9".into()), 401),
        ];
        assert_eq!(seen, expected);
        let kept: Vec<_> = fake
            .requests()
            .iter()
            .map(|r| r.to().map(str::to_string))
            .collect();
        assert_eq!(kept, vec![Some("C2".to_string()), Some("C9".to_string())]);
        fake.set_record_limit(0);
        assert!(fake.requests().is_empty());
    }

    #[tokio::test]
    async fn media_is_uploaded_described_and_downloaded_with_a_token() {
        let fake = FakeGraph::start();
        let http = reqwest::Client::new();
        let base = fake.base_url();
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", "image/png")
            .part(
                "file",
                reqwest::multipart::Part::bytes(b"\x89PNG fake".to_vec()).file_name("a.png"),
            );
        let answer: Value = http
            .post(format!("{base}/v23.0/111/media"))
            .bearer_auth("tok")
            .multipart(form)
            .send()
            .await
            .expect("upload")
            .json()
            .await
            .expect("json");
        let id = answer["id"].as_str().expect("an id").to_string();
        assert_eq!(fake.uploads()[0].filename.as_deref(), Some("a.png"));

        let meta: Value = http
            .get(format!("{base}/v23.0/{id}"))
            .bearer_auth("tok")
            .send()
            .await
            .expect("metadata")
            .json()
            .await
            .expect("json");
        assert_eq!(meta["mime_type"], "image/png");
        assert_eq!(meta["file_size"], 9);
        let url = meta["url"].as_str().expect("a url").to_string();
        let without = http.get(&url).send().await.expect("download");
        assert_eq!(without.status().as_u16(), 401);
        let with = http
            .get(&url)
            .bearer_auth("tok")
            .send()
            .await
            .expect("download");
        assert_eq!(with.status().as_u16(), 200);
        assert_eq!(with.bytes().await.expect("bytes").as_ref(), b"\x89PNG fake");

        // Planted over HTTP, then expired and forgotten.
        let planted: Value = http
            .post(format!("{base}/_fake/media"))
            .header("content-type", "image/jpeg")
            .body(vec![0xFF, 0xD8, 0xFF, 0xE0])
            .send()
            .await
            .expect("plant")
            .json()
            .await
            .expect("json");
        let pid = planted["id"].as_str().expect("an id").to_string();
        assert_eq!(
            fake.media(&pid).map(|m| m.sha256_base64()),
            planted["sha256"].as_str().map(str::to_string)
        );
        fake.expire_media_url(&pid);
        let url = format!("{base}/_fake/media/{pid}");
        let expired = http
            .get(&url)
            .bearer_auth("tok")
            .send()
            .await
            .expect("download");
        assert_eq!(expired.status().as_u16(), 404);
        fake.forget_media(&pid);
        let gone: Value = http
            .get(format!("{base}/v23.0/{pid}"))
            .bearer_auth("tok")
            .send()
            .await
            .expect("metadata")
            .json()
            .await
            .expect("json");
        assert_eq!(gone["error"]["code"], 100);
    }

    #[test]
    fn starts_without_a_runtime_and_stops_on_drop() {
        let fake = FakeGraph::start();
        let addr = fake.addr();
        assert!(std::net::TcpStream::connect(addr).is_ok());
        drop(fake);
        // The port is released once the system stops.
        let mut released = false;
        for _ in 0..100 {
            if TcpListener::bind(addr).is_ok() {
                released = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(released);
    }
}
